/*
 * bench_snapshot.c — the snapshot's pause and file size for a program with
 * HEAP_MIB of live heap and TASKS parked tasks. Prints one line:
 *   snapshot heap_mib=.. tasks=.. pause_ms=.. median_ms=.. worst_ms=.. file_mib=.. ratio=..
 *            write_ms=..
 * (pauses of 5 snapshots: best, median, worst; write_ms: the median of the
 * whole lrt_snapshot call, the forked writer's work included)
 * where ratio = file size / (heap in use + stack bytes in use). Not a test.
 * BENCH_SNAPSHOT_KEEP=1 keeps DIR/bench.snap (for gdb's load time).
 *   usage: bench-snapshot HEAP_MIB TASKS DIR
 */
#include <leakrt.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

static long heap_mib, ntasks;
static const char *dir;

static void parked(void *c) { lrt_chan_recv(c, NULL); }

static void run(void *arg)
{
    (void)arg;
    lrt_chan *c = lrt_chan_make(0, 0);
    for (long i = 0; i < ntasks; i++)
        lrt_go(parked, c);
    size_t blocks = (size_t)heap_mib * 16, block = 65536 - 64;
    void **live = lrt_alloc(blocks * sizeof *live);
    for (size_t i = 0; i < blocks; i++) {
        live[i] = lrt_alloc_noscan(block);
        memset(live[i], 1, block);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/bench.snap", dir);
    /* Five snapshots: the best shows what the runtime costs, the worst what
     * this machine adds (in a VM, host paging can stall one by 50+ ms). */
    double ms[5], wall[5];
    for (int i = 0; i < 5; i++) {
        int64_t start = lrt_now();
        int err = lrt_snapshot(path, "bench");
        wall[i] = (double)(lrt_now() - start) / 1e6;
        for (int j = i; j > 0 && wall[j] < wall[j - 1]; j--) {
            double swap = wall[j];
            wall[j] = wall[j - 1];
            wall[j - 1] = swap;
        }
        if (err) {
            fprintf(stderr, "bench-snapshot: %s\n", strerror(-err));
            exit(1);
        }
        ms[i] = (double)lrt_snapshot_last_pause_ns() / 1e6;
        for (int j = i; j > 0 && ms[j] < ms[j - 1]; j--) {
            double swap = ms[j];
            ms[j] = ms[j - 1];
            ms[j - 1] = swap;
        }
    }
    struct stat st;
    stat(path, &st);
    /* Stack bytes in use: what a parked task has from its stack pointer up
     * is about 400 bytes here; the heap is the blocks and their array. */
    double in_use = (double)blocks * block + (double)blocks * 8 + (double)ntasks * 400;
    printf("snapshot heap_mib=%ld tasks=%ld pause_ms=%.2f median_ms=%.2f worst_ms=%.2f "
           "file_mib=%.1f ratio=%.2f write_ms=%.1f\n", heap_mib, ntasks, ms[0], ms[2], ms[4],
           (double)st.st_size / 1048576, (double)st.st_size / in_use, wall[2]);
    const char *keep = getenv("BENCH_SNAPSHOT_KEEP");
    if (!keep || strcmp(keep, "1") != 0)
        unlink(path);
    fflush(stdout);
    _exit(0);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench-snapshot HEAP_MIB TASKS DIR\n");
        return 2;
    }
    heap_mib = atol(argv[1]);
    ntasks = atol(argv[2]);
    dir = argv[3];
    return lrt_main(run, NULL);
}

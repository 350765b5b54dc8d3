/*
 * bench_snapshot.c — the snapshot's pause and file size for a program with
 * HEAP_MIB of live heap and TASKS parked tasks, as the program feels it.
 * Prints one line:
 *   snapshot heap_mib=.. tasks=.. first_pause_ms=.. first_stall_ms=.. pause_ms=..
 *            median_ms=.. worst_ms=.. stall_ms=.. worst_stall_ms=.. noise_ms=.. file_mib=..
 *            ratio=.. write_ms=..
 * Five snapshots are taken; the first is the first of this process (what
 * a user meets: nothing prepared yet), and is also counted in the rest.
 * pause: the runtime's own figure (lrt_snapshot_last_pause_ns), best,
 * median and worst; stall: the gap a task that keeps running (a yield
 * loop reading lrt_now) sees across the pause, median and worst; noise:
 * the median of its longest other gap during each lrt_snapshot call (the
 * writer at work, and what this machine adds with no snapshot at all); write_ms: the median whole lrt_snapshot call, the forked
 * writer's work included; ratio = file size / (heap in use + stack bytes
 * in use). Run it in several processes for a spread. Not a test.
 * BENCH_SNAPSHOT_KEEP=1 keeps DIR/bench.snap (for gdb's load time).
 *   usage: bench-snapshot HEAP_MIB TASKS DIR
 */
#include <leakrt.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

static long heap_mib, ntasks;
static const char *dir;

static void parked(void *c) { lrt_chan_recv(c, NULL); }

/* The task that keeps running: each gap of more than 0.2 ms between two
 * of its clock readings while `measuring`, kept in a ring. */
enum { GAPS = 4096 };
static _Atomic int measuring, done;
static _Atomic unsigned ngaps;
static int64_t gap_begin[GAPS], gap_end[GAPS];

static void ticker(void *arg)
{
    (void)arg;
    int64_t last = lrt_now();
    while (!atomic_load(&done)) {
        int64_t now = lrt_now();
        if (atomic_load(&measuring) && now - last > 200 * LRT_MICROSECOND) {
            unsigned k = atomic_load(&ngaps) % GAPS;
            gap_begin[k] = last;
            gap_end[k] = now;
            atomic_fetch_add(&ngaps, 1);
        }
        last = now;
        lrt_yield();
    }
}

/* The longest recorded gap that overlaps [from, to) (*other: the longest
 * that does not), in ms. */
static double stall_over(int64_t from, int64_t to, double *other)
{
    double in = 0, out = 0;
    unsigned n = atomic_load(&ngaps);
    for (unsigned i = n > GAPS ? n - GAPS : 0; i < n; i++) {
        double ms = (double)(gap_end[i % GAPS] - gap_begin[i % GAPS]) / 1e6;
        bool overlaps = gap_begin[i % GAPS] < to && gap_end[i % GAPS] > from;
        if (overlaps && ms > in)
            in = ms;
        if (!overlaps && ms > out)
            out = ms;
    }
    *other = out;
    return in;
}

static void sort_up(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double swap = v[j];
            v[j] = v[j - 1];
            v[j - 1] = swap;
        }
}

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
    lrt_go(ticker, NULL);
    lrt_sleep(10 * LRT_MILLISECOND);         /* it runs on a worker of its own */
    /* Five snapshots: the first is what a fresh process pays; the worst
     * says what this machine adds (in a VM, host paging can stall one). */
    double ms[5], wall[5], stall[5], noise[5], first_pause = 0, first_stall = 0;
    for (int i = 0; i < 5; i++) {
        atomic_store(&ngaps, 0);
        atomic_store(&measuring, 1);
        int64_t start = lrt_now();
        int err = lrt_snapshot(path, "bench");
        wall[i] = (double)(lrt_now() - start) / 1e6;
        atomic_store(&measuring, 0);
        if (err) {
            fprintf(stderr, "bench-snapshot: %s\n", strerror(-err));
            exit(1);
        }
        int64_t pause = lrt_snapshot_last_pause_ns(), from = lrt_snapshot_last_pause_start_ns();
        ms[i] = (double)pause / 1e6;
        stall[i] = stall_over(from, from + pause, &noise[i]);
        if (i == 0)
            first_pause = ms[0], first_stall = stall[0];
    }
    atomic_store(&done, 1);
    sort_up(ms, 5);
    sort_up(wall, 5);
    sort_up(stall, 5);
    sort_up(noise, 5);
    struct stat st;
    stat(path, &st);
    /* Stack bytes in use: what a parked task has from its stack pointer up
     * is about 400 bytes here; the heap is the blocks and their array. */
    double in_use = (double)blocks * block + (double)blocks * 8 + (double)ntasks * 400;
    printf("snapshot heap_mib=%ld tasks=%ld first_pause_ms=%.2f first_stall_ms=%.2f pause_ms=%.2f "
           "median_ms=%.2f worst_ms=%.2f stall_ms=%.2f worst_stall_ms=%.2f noise_ms=%.2f file_mib=%.1f "
           "ratio=%.2f write_ms=%.1f\n", heap_mib, ntasks, first_pause, first_stall, ms[0], ms[2], ms[4],
           stall[2], stall[4], noise[2], (double)st.st_size / 1048576, (double)st.st_size / in_use, wall[2]);
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

/*
 * bench_heap.c — writes a snapshot of the big-heap benchmark graph
 * (bench_graph.h): N 64-byte nodes in a random graph, rooted from globals
 * and the locals of TASKS tasks, a quarter of them leaked. bench_boehm.c
 * builds the same graph under Boehm GC and times a full collection; the
 * two are compared by scripts/bench. Prints one line:
 *   heap objects=.. tasks=.. file_mib=..
 * Not a test.   usage: bench-heap N PATH [TASKS]
 */
#include "bench_graph.h"

#include <leakrt.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static size_t n;
static long ntasks = 1000;
static const char *path;

bg_node *bench_globals[BG_GLOBALS];     /* roots: the program's globals */

typedef struct task_arg {
    bg_node  *roots[BG_LOCALS];
    lrt_chan *chan;             /* BG_WOKEN: the channel a node points to */
    int       kind;
} task_arg;

static void task(void *arg)
{
    task_arg *ta = arg;
    bg_node *volatile locals[BG_LOCALS];
    for (int i = 0; i < BG_LOCALS; i++)
        locals[i] = ta->roots[i];
    switch (ta->kind) {
    case BG_LEAKED: {
        lrt_chan *mine = lrt_chan_make(0, 0);   /* only this stack knows it */
        lrt_chan_recv(mine, NULL);
        break;
    }
    case BG_WOKEN:
        lrt_chan_recv(ta->chan, NULL);
        break;
    default:
        lrt_sleep(3600 * LRT_SECOND);
        break;
    }
    __asm__ volatile("" : : "r"(locals) : "memory");
}

static void *alloc(size_t size) { return lrt_alloc(size); }

static void run(void *arg)
{
    (void)arg;
    uint64_t rng = BG_SEED;
    bg_node **nodes = bg_array(n);
    if (!nodes) {
        fprintf(stderr, "bench-heap: out of memory\n");
        _exit(1);
    }
    bg_build(nodes, n, alloc, &rng);
    for (int g = 0; g < BG_GLOBALS; g++)
        bench_globals[g] = bg_pick(nodes, n, &rng);
    for (long t = 0; t < ntasks; t++) {
        task_arg *ta = lrt_alloc(sizeof *ta);
        for (int i = 0; i < BG_LOCALS; i++)
            ta->roots[i] = bg_pick(nodes, n, &rng);
        ta->kind = bg_task_kind(t);
        if (ta->kind == BG_WOKEN) {
            ta->chan = lrt_chan_make(0, 0);
            bg_pick(nodes, n, &rng)->edge[3] = (bg_node *)ta->chan;
        }
        lrt_go(task, ta);
    }
    bg_array_free(nodes, n);
    int err = lrt_snapshot(path, "big heap");
    if (err) {
        fprintf(stderr, "bench-heap: %s\n", strerror(-err));
        _exit(1);
    }
    struct stat st;
    stat(path, &st);
    printf("heap objects=%zu tasks=%ld file_mib=%.1f\n", n, ntasks, (double)st.st_size / 1048576);
    fflush(stdout);
    _exit(0);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench-heap N PATH [TASKS]\n");
        return 2;
    }
    n = (size_t)atol(argv[1]);
    path = argv[2];
    if (argc > 3)
        ntasks = atol(argv[3]);
    return lrt_main(run, NULL);
}

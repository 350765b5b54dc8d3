/*
 * bench_boehm.c — the big-heap benchmark graph (bench_graph.h) built under
 * Boehm GC, one marker thread, and a full GC_gcollect() timed: the
 * reference for leakscan's mark + fixpoint on bench-heap's snapshot of the
 * same graph. Tasks are GC_MALLOC'd blocks holding their locals (and
 * channel), referenced from a global table. Prints one line:
 *   boehm objects=.. gc_ms=BEST median_ms=.. worst_ms=.. heap_mib=..
 * (five full collections). BENCH_GC_MARKERS=N: N marker threads (to
 * compare with leakscan's LEAKSCAN_THREADS=N). BENCH_GC_INTERIOR=0:
 * without interior-pointer recognition (GC_set_all_interior_pointers(0));
 * leakscan recognises them, so the default is the like-for-like figure.
 * Not a test.
 *   usage: bench-boehm N [TASKS]
 */
#include "bench_graph.h"

#define GC_THREADS              /* declares GC_set_markers_count */
#include <gc/gc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUNS 5

bg_node *bench_globals[BG_GLOBALS];
static void **tasks;            /* GC_MALLOC'd table of task blocks */

typedef struct task_block {
    bg_node *roots[BG_LOCALS];
    void    *chan;
} task_block;

static void *alloc(size_t size) { return GC_MALLOC(size); }

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench-boehm N [TASKS]\n");
        return 2;
    }
    size_t n = (size_t)atol(argv[1]);
    long ntasks = argc > 2 ? atol(argv[2]) : 1000;
    const char *interior = getenv("BENCH_GC_INTERIOR");
    if (interior && strcmp(interior, "0") == 0)
        GC_set_all_interior_pointers(0);
    const char *markers_env = getenv("BENCH_GC_MARKERS");
    unsigned markers = markers_env ? (unsigned)atoi(markers_env) : 1;
    GC_set_markers_count(markers ? markers : 1);  /* default: one thread */
    GC_INIT();
    if (markers > 1)
        GC_start_mark_threads();
    GC_disable();                             /* no collection while building */
    uint64_t rng = BG_SEED;
    bg_node **nodes = bg_array(n);
    if (!nodes) {
        fprintf(stderr, "bench-boehm: out of memory\n");
        return 1;
    }
    bg_build(nodes, n, alloc, &rng);
    for (int g = 0; g < BG_GLOBALS; g++)
        bench_globals[g] = bg_pick(nodes, n, &rng);
    tasks = GC_MALLOC((size_t)ntasks * sizeof *tasks);
    for (long t = 0; t < ntasks; t++) {
        task_block *tb = GC_MALLOC(sizeof *tb);
        for (int i = 0; i < BG_LOCALS; i++)
            tb->roots[i] = bg_pick(nodes, n, &rng);
        int kind = bg_task_kind(t);
        tb->chan = GC_MALLOC(64);
        if (kind == BG_WOKEN)
            bg_pick(nodes, n, &rng)->edge[3] = tb->chan;
        tasks[t] = tb;
    }
    bg_array_free(nodes, n);
    nodes = NULL;
    GC_enable();
    double ms[RUNS];
    for (int i = 0; i < RUNS; i++) {
        double start = now_ms();
        GC_gcollect();
        ms[i] = now_ms() - start;
    }
    qsort(ms, RUNS, sizeof *ms, compare_double);
    printf("boehm objects=%zu parallel=%d interior=%d gc_ms=%.1f median_ms=%.1f worst_ms=%.1f heap_mib=%.1f\n",
           n, GC_get_parallel(), GC_get_all_interior_pointers(), ms[0], ms[RUNS / 2], ms[RUNS - 1],
           (double)GC_get_heap_size() / 1048576);
    return 0;
}

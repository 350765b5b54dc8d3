/*
 * bench_graph.h — the object graph of the big-heap benchmark, built the
 * same way by bench_heap.c (libleakrt, written as a snapshot) and
 * bench_boehm.c (Boehm GC, collected in place), so that leakscan's mark
 * and Boehm's full collection do the same work.
 *
 *   N nodes of 64 bytes: four pointers to random nodes, four words of
 *   random payload (odd, so never a pointer by chance);
 *   BG_GLOBALS global pointers to random nodes;
 *   T tasks, by t % 4:
 *     0  leaked: receives on a channel only its own stack knows
 *     1  receives on a channel that edge[3] of a random node points to
 *        (woken by the fixpoint when that node is marked)
 *     2,3  sleeps: a root
 *   each holding BG_LOCALS pointers to random nodes in its locals.
 *
 * Everything is drawn from one seeded PRNG (splitmix64) in one order, so
 * both programs build the identical graph. Not a test.
 */
#ifndef BENCH_GRAPH_H
#define BENCH_GRAPH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#define BG_SEED    UINT64_C(0x6c65616b7363616e)   /* "leakscan" */
#define BG_GLOBALS 16
#define BG_LOCALS  4

typedef struct bg_node {
    struct bg_node *edge[4];    /* random other nodes (edge[3]: maybe a channel) */
    uint64_t        payload[4]; /* random odd numbers */
} bg_node;

_Static_assert(sizeof(bg_node) == 64, "a node is 64 bytes");

enum { BG_LEAKED = 0, BG_WOKEN = 1, BG_SLEEPS = 2 };

static inline int bg_task_kind(long t) { return t % 4 < 2 ? (int)(t % 4) : BG_SLEEPS; }

static inline uint64_t bg_next(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* A temporary array of every node, outside any heap either side scans
 * (mmap'd, unmapped before the snapshot or the collection). */
static inline bg_node **bg_array(size_t n)
{
    void *p = mmap(NULL, n * sizeof(bg_node *), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static inline void bg_array_free(bg_node **nodes, size_t n)
{
    munmap(nodes, n * sizeof(bg_node *));
}

/* Allocates n nodes with alloc (zeroed memory) and draws their edges and
 * payload. */
static inline void bg_build(bg_node **nodes, size_t n, void *(*alloc)(size_t), uint64_t *rng)
{
    for (size_t i = 0; i < n; i++)
        nodes[i] = alloc(sizeof(bg_node));
    for (size_t i = 0; i < n; i++) {
        bg_node *x = nodes[i];
        for (int j = 0; j < 4; j++)
            x->edge[j] = nodes[bg_next(rng) % n];
        for (int j = 0; j < 4; j++)
            x->payload[j] = bg_next(rng) | 1;
    }
}

static inline bg_node *bg_pick(bg_node **nodes, size_t n, uint64_t *rng)
{
    return nodes[bg_next(rng) % n];
}

#endif

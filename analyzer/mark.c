/*
 * mark.c — which tasks can never wake: roots, a conservative mark, and the
 * eventual-runnable fixpoint, in one linear pass.
 *
 * Invariant: an object is marked once, when first reached, and pushed on
 * the gray stack; scanning it reaches its children. Objects are heap
 * objects and task stacks (numbered after the heap's). A candidate — a task
 * parked on a channel, lock or wait group — is indexed by the objects it
 * waits on; when one of them is marked, the candidate wakes: its stack and
 * registers become roots. Marking a task stack through a pointer scans it
 * but does not wake its task. Each object and each task is handled once:
 * O(heap + tasks), where a round-by-round fixpoint is quadratic on a chain.
 *
 * Roots: every snapshot byte that is not heap, runtime-internal or inside a
 * task-stack chunk (globals, malloc memory, other threads' stacks); every
 * thread's registers; every task that is not a candidate; the targets of
 * pending context timers.
 *
 * Speed (tests/bench/RESULTS.md, issue 8): address -> object through a
 * flat index (mark_span; a search of the spans when the loader kept no
 * page table, span_at), free slots pre-marked, object memory and mark
 * bits prefetched ahead of use (drain_depth_first), and the gray objects
 * drained on several threads (drain_parallel) — the result is the same
 * whatever the order or the number of threads.
 */
#include "leakscan.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct waiter_pair {
    uint64_t object;
    uint32_t task;
} waiter_pair;

/* The mark's own view of a span, flat, so that address -> object is a
 * page-table load, a compare and a multiply (no search, no division):
 *
 *   page_spans[(v - arena) >> page_shift] = i + 1  ->  spans[i + 1]
 *   off = v - base;  off < limit;  idx = off * magic >> 40  (= off / size)
 *
 * spans[0] is a dummy with limit 0: pages of no span fall out at the
 * compare. magic is exact when limit * size < 2^40 (checked; else 0 and
 * a division). Free slots are pre-set in the marked bitmap (see
 * premark_free), so one bit test rejects both "marked" and "free". */
typedef struct mark_span {
    uint64_t       base;        /* address of object 0 */
    uint64_t       limit;       /* nelems * elem_size: offsets past it hold no object */
    uint64_t       first;       /* number of object 0 */
    uint64_t       magic;       /* ceil(2^40 / elem_size), or 0: divide */
    const uint8_t *data;        /* the span's bytes in the snapshot; NULL: read piecewise */
    uint32_t       size;        /* elem_size */
    bool           noscan;      /* marked, never scanned */
    bool           waiters;     /* some object of it has waiters */
} mark_span;

typedef struct mark_pool mark_pool;

/* Prefetch distance of the scan: an object is prefetched when it leaves
 * the gray stack and scanned PREFETCH objects later. */
#define PREFETCH 16

typedef struct marker {
    const ls_snapshot *s;
    ls_analysis  *a;
    uint64_t     *parent;        /* per object, when explaining (see ls_parent) */
    uint64_t      src;           /* where what is marked now comes from */
    size_t        gray_head;     /* explaining: breadth first, for short paths */
    uint64_t      nobjects;
    uint64_t     *marked;        /* bit per object; free heap slots pre-set */
    uint64_t     *has_waiters;   /* bit per object */
    waiter_pair  *pairs;         /* sorted by object */
    size_t        npairs;
    uint64_t     *gray;          /* heap object addresses; task stacks as GRAY_STACK | task */
    size_t        ngray, gray_cap;
    bool         *rooted;        /* per task: stack and registers are roots */
    bool         *cluster_scanned;   /* per cluster of overlapping stacks (load.c) */
    bool          out_of_memory;
    const char   *missing;       /* the scan needed memory the file lacks: what
                                    (set once, by any thread; see "Missing memory") */
    /* The flat heap index (above). */
    mark_span    *spans;         /* nspans + 1, spans[0] the dummy */
    size_t        nspans;
    const uint32_t *page_spans;  /* s->page_spans */
    uint64_t      arena;
    uint64_t      heap_bytes;    /* npages << page_shift */
    unsigned      page_shift;
    uint64_t      stacks_lo, stacks_hi;   /* every task stack lies inside */
    uint64_t      marked_objects, scanned_bytes;
    /* Parallel drain (see "Both cores"): mark bits, rooted flags and the
     * pool are shared; everything above them is per thread. */
    bool          shared;        /* other threads mark too: atomic bit sets */
    mark_pool    *pool;          /* where threads give and take gray work */
} marker;

#define GRAY_STACK (UINT64_C(1) << 63)

static inline bool bit_test(const uint64_t *bits, uint64_t i) { return (bits[i >> 6] >> (i & 63)) & 1; }
static inline void bit_set(uint64_t *bits, uint64_t i) { bits[i >> 6] |= UINT64_C(1) << (i & 63); }

/* Sets obj's mark bit; true if this call set it (it was clear). With
 * other threads marking, a plain test first (most objects are found
 * marked), then one atomic or decides who marked it. */
static inline bool set_mark(marker *m, uint64_t obj)
{
    uint64_t *word = &m->marked[obj >> 6], bit = UINT64_C(1) << (obj & 63);
    if (!m->shared) {
        if (*word & bit)
            return false;
        *word |= bit;
        return true;
    }
    if (__atomic_load_n(word, __ATOMIC_RELAXED) & bit)
        return false;
    return !(__atomic_fetch_or(word, bit, __ATOMIC_RELAXED) & bit);
}

static __attribute__((noinline)) void grow_gray(marker *m)
{
    size_t cap = m->gray_cap ? m->gray_cap * 2 : 4096;
    uint64_t *g = realloc(m->gray, cap * sizeof *g);
    if (!g) {
        m->out_of_memory = true;
        return;
    }
    m->gray = g;
    m->gray_cap = cap;
}

static inline void push_gray(marker *m, uint64_t entry)
{
    if (__builtin_expect(m->ngray == m->gray_cap, 0)) {
        grow_gray(m);
        if (m->out_of_memory)
            return;
    }
    m->gray[m->ngray++] = entry;
}

static void make_root_task(marker *m, uint32_t t);

/* Without the flat page index (load.c leaves it out when the arena in
 * use is large beside the file): the last span based at or below the
 * address, which the callers' limit compare rejects if the address is
 * past its objects; the dummy below the first. */
static __attribute__((noinline)) const mark_span *search_span(const marker *m, uint64_t off)
{
    uint64_t v = m->arena + off;
    size_t lo = 1, hi = m->nspans + 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->spans[mid].base <= v) lo = mid + 1; else hi = mid;
    }
    return &m->spans[lo - 1];
}

/* The span of arena offset off (< heap_bytes): spans[0] for none. */
static inline const mark_span *span_at(const marker *m, uint64_t off)
{
    if (__builtin_expect(m->page_spans != NULL, 1))
        return &m->spans[m->page_spans[off >> m->page_shift]];
    return search_span(m, off);
}

/* A newly marked object with waiters: they wake, their stacks and
 * registers become roots. */
static __attribute__((noinline)) void wake_waiters(marker *m, uint64_t obj)
{
    size_t lo = 0, hi = m->npairs;                 /* first pair of obj */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->pairs[mid].object < obj) lo = mid + 1; else hi = mid;
    }
    uint64_t src = m->src;
    m->src = LS_PARENT(LS_FROM_WAKE, obj);
    for (size_t i = lo; i < m->npairs && m->pairs[i].object == obj; i++)
        make_root_task(m, m->pairs[i].task);
    m->src = src;
}

static inline void record_parent(marker *m, uint64_t obj, uint64_t where)
{
    m->parent[obj] = LS_PARENT_KIND(m->src) == LS_FROM_MEMORY ? LS_PARENT(LS_FROM_MEMORY, where) : m->src;
}

/* A value that may point into a task stack (outside the heap): the slow
 * path, a search of the stacks by address. */
static __attribute__((noinline)) void mark_stack_value(marker *m, uint64_t v, uint64_t where)
{
    int kind;
    uint64_t obj = ls_object_of(m->s, v, &kind);
    if (obj == LS_NO_OBJECT || !set_mark(m, obj))
        return;
    if (m->parent)
        record_parent(m, obj, where);
    m->marked_objects++;
    push_gray(m, GRAY_STACK | (obj - m->s->nheap_objects));
    if (bit_test(m->has_waiters, obj))
        wake_waiters(m, obj);
}

/* Marks the object holding v, if any and not yet marked; wakes its
 * waiters. where: the address of the word that held v (root memory). */
static inline void mark_value_at(marker *m, uint64_t v, uint64_t where)
{
    uint64_t off = v - m->arena;
    if (off < m->heap_bytes) {
        const mark_span *sp = span_at(m, off);
        uint64_t o = v - sp->base;
        if (o >= sp->limit)
            return;                            /* no span, or past its last object */
        uint64_t idx = sp->magic ? (o * sp->magic) >> 40 : o / sp->size;
        uint64_t obj = sp->first + idx;
        if (!set_mark(m, obj))
            return;                            /* marked already, or a free slot */
        m->marked_objects++;
        if (m->parent)
            record_parent(m, obj, where);
        if (!sp->noscan)
            push_gray(m, sp->base + idx * sp->size);
        if (sp->waiters && bit_test(m->has_waiters, obj))
            wake_waiters(m, obj);
    } else if (v - m->stacks_lo < m->stacks_hi - m->stacks_lo && off >= m->s->rt->root.arena_used) {
        mark_stack_value(m, v, where);
    }
}

static inline void mark_value(marker *m, uint64_t v) { mark_value_at(m, v, 0); }

static void scan_words(marker *m, const uint8_t *p, size_t n, uint64_t addr)
{
    m->scanned_bytes += n;
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        mark_value_at(m, v, addr + i);
    }
}

/* Missing memory. A scan that needs bytes the file lacks — a stretch of a
 * task stack or a heap object that no segment holds, the part of a segment
 * a core cut short, a stack gdb could not read — cannot say what they
 * pointed to: anything, so any candidate might wake. The mark goes on over
 * what is there and records the first such need; the verdicts then say
 * "unknown" for every candidate it did not wake (ls_analyze_explained).
 * Memory the mark never needed (the stack of a task that stays leaked, an
 * unreachable object) changes no verdict. */
static void note_missing(marker *m, const char *what)
{
    if (!__atomic_load_n(&m->missing, __ATOMIC_RELAXED))
        __atomic_store_n(&m->missing, what, __ATOMIC_RELAXED);
}

/* Scans [start, end) of the program's memory as far as the snapshot has
 * it; needing what it lacks is noted (above). Bytes past a segment's file
 * data that the file was never meant to hold read as zero (untouched
 * pages). */
static void scan_range(marker *m, uint64_t start, uint64_t end)
{
    start = (start + 7) & ~(uint64_t)7;
    while (start < end) {
        const ls_segment *seg = ls_core_segment(m->s->core, start);
        if (!seg) {
            note_missing(m, "memory no segment of the file holds");
            /* Skip to the next segment. */
            size_t lo = 0, hi = m->s->core->nsegments;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (m->s->core->segments[mid].vaddr <= start) lo = mid + 1; else hi = mid;
            }
            if (lo >= m->s->core->nsegments || m->s->core->segments[lo].vaddr >= end)
                return;
            start = m->s->core->segments[lo].vaddr;
            continue;
        }
        uint64_t seg_end = seg->vaddr + seg->filesz;
        uint64_t stop = end < seg_end ? end : seg_end;
        if (start < stop)
            scan_words(m, m->s->core->data + seg->offset + (start - seg->vaddr), stop - start, start);
        if (seg->missing && end > seg_end && (start > seg_end ? start : seg_end) < seg_end + seg->missing)
            note_missing(m, "memory past the end of a core cut short");
        start = seg->vaddr + seg->memsz;       /* the rest of it reads as zero */
    }
}

static void make_root_task(marker *m, uint32_t t)
{
    if (m->shared) {                           /* the exchange decides who roots it */
        if (__atomic_exchange_n(&m->rooted[t], true, __ATOMIC_RELAXED))
            return;
    } else {
        if (m->rooted[t])
            return;
        m->rooted[t] = true;
    }
    const ls_task *task = &m->s->rt->tasks[t];
    if (m->a->verdict[t] == LS_LEAKED)
        m->a->verdict[t] = LS_WOKEN;           /* a candidate, woken */
    uint64_t src = m->src;
    if (LS_PARENT_KIND(src) != LS_FROM_WAKE)
        m->src = LS_PARENT(LS_FROM_TASK, t);     /* a root task */
    /* Its registers: a running task's are its thread's. */
    const ls_thread *th = NULL;
    if (task->state == LS_TASK_RUNNING && task->worker_tid)
        th = ls_thread_of(m->s, task->worker_tid);
    if (th)
        for (uint32_t i = 0; i < th->nregs; i++)
            mark_value(m, th->regs[i]);
    else
        for (uint32_t i = 0; i < m->s->rt->root.reg_count; i++)
            mark_value(m, task->regs[i]);
    /* Its stack: marking it scans it. */
    uint64_t obj = m->s->nheap_objects + t;
    if (set_mark(m, obj)) {
        m->marked_objects++;
        if (m->parent)
            m->parent[obj] = m->src;
        push_gray(m, GRAY_STACK | t);
    }
    m->src = src;
}

/* The span of a heap object (an address from the gray stack). */
static inline const mark_span *span_of(const marker *m, uint64_t addr)
{
    return span_at(m, addr - m->arena);
}

/* Scans a gray entry: a heap object (by address) or a task stack. */
static inline void scan_object(marker *m, uint64_t entry)
{
    const ls_snapshot *s = m->s;
    if (entry & GRAY_STACK) {
        uint64_t t = entry & ~GRAY_STACK, lo, hi;
        m->src = LS_PARENT(LS_FROM_OBJECT, s->nheap_objects + t);
        if (s->stack_missing && s->stack_missing[t])
            note_missing(m, "task stacks the core holds only as zeros");
        if (s->stack_cluster && s->stack_cluster[t]) {
            /* Its stack overlaps others' (load.c): their union is scanned
             * once, by whichever of them comes first. */
            uint32_t c = s->stack_cluster[t] - 1;
            if (m->shared ? __atomic_exchange_n(&m->cluster_scanned[c], true, __ATOMIC_RELAXED)
                          : m->cluster_scanned[c])
                return;
            m->cluster_scanned[c] = true;
            scan_range(m, s->clusters[c].start, s->clusters[c].end);
            return;
        }
        ls_task_stack_range(s, &s->rt->tasks[t], &lo, &hi);
        scan_range(m, lo, hi);
        return;
    }
    const mark_span *sp = span_of(m, entry);
    uint64_t off = entry - sp->base;
    if (m->parent)
        m->src = LS_PARENT(LS_FROM_OBJECT, sp->first + off / sp->size);
    if (sp->data)
        scan_words(m, sp->data + off, sp->size, entry);
    else
        scan_range(m, entry, entry + sp->size);
}

/* Where the scan of a gray entry will read: prefetched ahead of it.
 * (A macro: GCC deems a function whose only effect is a prefetch pure,
 * and drops the call.) */
#define PREFETCH_ENTRY(m, entry)                                          \
    do {                                                                  \
        if (!((entry) & GRAY_STACK)) {                                    \
            const mark_span *pf_sp = span_of((m), (entry));               \
            if (pf_sp->data) {                                            \
                const uint8_t *pf_p = pf_sp->data + ((entry) - pf_sp->base); \
                __builtin_prefetch(pf_p);                                 \
                if (pf_sp->size > 64)                                     \
                    __builtin_prefetch(pf_p + 64);                        \
            }                                                             \
        }                                                                 \
    } while (0)

/* Depth first, with two queues that hide memory latency:
 *
 *   gray stack --pop--> [ FIFO of PREFETCH objects ] --scan--> words
 *        ^               (object memory prefetched)              |
 *        |                                                       v
 *        +--push-- [ ring of PENDING candidates ] <-- heap pointers
 *                  (their mark-bit words prefetched)
 *
 * Objects leave the gray stack in bursts of PREFETCH / 2, each prefetched
 * as it leaves, so that the fetches (and page walks) of a burst overlap;
 * an object's memory arrives while the objects before it are scanned, and
 * a candidate's mark bit while the candidates before it are tested
 * (tested at once, the bit is a cache miss that an unpredictable branch
 * waits for, once per pointer: about 8% slower on the 10M-object bench).
 * Only the order of the mark changes; the marked set is the closure
 * whatever the order. Explaining (parents) does not come here: it marks
 * breadth first, each object as found. */
#define PENDING 32

typedef struct pending {
    const mark_span *sp;
    uint64_t         obj;        /* object number */
    uint64_t         idx;        /* its index in the span */
} pending;

typedef struct drain {
    uint64_t fifo[PREFETCH];
    size_t   fifo_head, fifo_count;
    pending  ring[PENDING];
    size_t   ring_head, ring_count;
} drain;

/* Tests and sets the mark bit of the oldest candidate. */
static inline void test_oldest(marker *m, drain *d)
{
    const pending *c = &d->ring[d->ring_head];
    d->ring_head = (d->ring_head + 1) % PENDING;
    d->ring_count--;
    if (!set_mark(m, c->obj))
        return;                                /* marked already, or a free slot */
    m->marked_objects++;
    const mark_span *sp = c->sp;
    if (!sp->noscan)
        push_gray(m, sp->base + c->idx * sp->size);
    if (sp->waiters && bit_test(m->has_waiters, c->obj))
        wake_waiters(m, c->obj);
}

/* Scans n bytes of a heap object: heap pointers become candidates, task
 * stack pointers are marked at once (rare). */
static inline void scan_heap_words(marker *m, drain *d, const uint8_t *p, size_t n, uint64_t addr)
{
    m->scanned_bytes += n;
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        uint64_t off = v - m->arena;
        if (off < m->heap_bytes) {
            const mark_span *sp = span_at(m, off);
            uint64_t o = v - sp->base;
            if (o >= sp->limit)
                continue;
            uint64_t idx = sp->magic ? (o * sp->magic) >> 40 : o / sp->size;
            uint64_t obj = sp->first + idx;
            __builtin_prefetch(&m->marked[obj >> 6], 1);
            if (d->ring_count == PENDING)
                test_oldest(m, d);
            d->ring[(d->ring_head + d->ring_count++) % PENDING] = (pending){ sp, obj, idx };
        } else if (v - m->stacks_lo < m->stacks_hi - m->stacks_lo && off >= m->s->rt->root.arena_used) {
            mark_stack_value(m, v, addr + i);
        }
    }
}

static void pool_give(marker *m);
static bool pool_hungry(const mark_pool *p);

/* Gray entries a thread keeps before it gives to an idle one. */
#define SHARE_MIN 64

static void drain_depth_first(marker *m)
{
    drain d = { .fifo_count = 0 };
    for (;;) {
        if (d.fifo_count <= PREFETCH / 2) {    /* in bursts: the walks overlap */
            if (m->pool && m->ngray >= 2 * SHARE_MIN && pool_hungry(m->pool))
                pool_give(m);
            while (d.fifo_count < PREFETCH && m->ngray > 0) {
                uint64_t e = m->gray[--m->ngray];
                PREFETCH_ENTRY(m, e);
                d.fifo[(d.fifo_head + d.fifo_count++) % PREFETCH] = e;
            }
        }
        if (m->out_of_memory)
            return;
        if (d.fifo_count == 0) {
            if (d.ring_count == 0)
                return;                        /* gray, FIFO and ring empty */
            test_oldest(m, &d);                /* may push */
            continue;
        }
        uint64_t e = d.fifo[d.fifo_head];
        d.fifo_head = (d.fifo_head + 1) % PREFETCH;
        d.fifo_count--;
        const mark_span *sp;
        if (e & GRAY_STACK || !(sp = span_of(m, e))->data) {
            scan_object(m, e);                 /* a task stack, or an object cut short */
            continue;
        }
        scan_heap_words(m, &d, sp->data + (e - sp->base), sp->size, e);
    }
}

/* ---------------------------------------------------------------------- */
/* Both cores                                                              */
/* ---------------------------------------------------------------------- */

/* The drain on several threads. The roots are marked first, on one thread;
 * the gray objects they leave go to a pool, and each thread drains its
 * own gray stack (above), gives half of it to the pool whenever the pool
 * is empty (so a thread that is descheduled leaves work behind), and
 * takes from the pool when its own runs dry. The mark is done
 * when every thread waits and the pool is empty. Shared: mark bits (an
 * atomic or decides who marks an object, so each is scanned once), the
 * rooted flags (an atomic exchange decides who roots a woken task, and
 * only that thread writes its verdict), the pool (a lock). The result —
 * the marked set, the verdicts, the counts — is the closure, the same for
 * any number of threads and any interleaving: deterministic. Not when
 * explaining: its breadth-first parents depend on the order. */
struct mark_pool {
    pthread_mutex_t lock;
    pthread_cond_t  more;        /* items arrived, or done */
    uint64_t       *items;
    size_t          n, cap;
    int             threads;     /* draining (or about to) */
    int             waiting;     /* threads waiting for items */
    bool            done;
};

/* Whether to give: the pool is empty (a racy read; the lock decides). */
static bool pool_hungry(const mark_pool *p)
{
    return __atomic_load_n(&p->n, __ATOMIC_RELAXED) == 0;
}

/* Moves the top half of m's gray stack into the pool. */
static void pool_give(marker *m)
{
    mark_pool *p = m->pool;
    size_t k = m->ngray / 2;
    pthread_mutex_lock(&p->lock);
    if (p->n + k > p->cap) {
        size_t cap = (p->n + k) * 2;
        uint64_t *items = realloc(p->items, cap * sizeof *items);
        if (!items) {
            pthread_mutex_unlock(&p->lock);
            return;                            /* keep it: correct, only slower */
        }
        p->items = items;
        p->cap = cap;
    }
    memcpy(p->items + p->n, m->gray + m->ngray - k, k * sizeof *m->gray);
    __atomic_store_n(&p->n, p->n + k, __ATOMIC_RELAXED);
    m->ngray -= k;
    pthread_cond_broadcast(&p->more);
    pthread_mutex_unlock(&p->lock);
}

/* Waits for work; false when the mark is done (every thread waiting, the
 * pool empty) or abandoned. */
static bool pool_take(marker *m)
{
    mark_pool *p = m->pool;
    pthread_mutex_lock(&p->lock);
    __atomic_store_n(&p->waiting, p->waiting + 1, __ATOMIC_RELAXED);
    while (p->n == 0 && !p->done) {
        if (p->waiting == p->threads) {
            p->done = true;
            pthread_cond_broadcast(&p->more);
            break;
        }
        pthread_cond_wait(&p->more, &p->lock);
    }
    __atomic_store_n(&p->waiting, p->waiting - 1, __ATOMIC_RELAXED);
    bool got = false;
    if (!p->done && p->n > 0) {
        size_t k = p->n > 2 * SHARE_MIN ? p->n / 2 : p->n;
        while (m->gray_cap < k && !m->out_of_memory)
            grow_gray(m);
        if (m->out_of_memory) {
            p->done = true;                    /* abandoned: the caller fails */
            pthread_cond_broadcast(&p->more);
        } else {
            memcpy(m->gray, p->items + p->n - k, k * sizeof *m->gray);
            m->ngray = k;
            __atomic_store_n(&p->n, p->n - k, __ATOMIC_RELAXED);
            got = true;
        }
    }
    pthread_mutex_unlock(&p->lock);
    return got;
}

static void *drain_shared(void *arg)
{
    marker *m = arg;
    while (pool_take(m)) {
        drain_depth_first(m);
        if (m->out_of_memory) {
            pthread_mutex_lock(&m->pool->lock);
            m->pool->done = true;
            pthread_cond_broadcast(&m->pool->more);
            pthread_mutex_unlock(&m->pool->lock);
            break;
        }
    }
    return NULL;
}

/* Threads for the drain: LEAKSCAN_THREADS if set (1: none), else the
 * online CPUs, at most 8; one when the heap is small (threads would not
 * pay for themselves). */
static int drain_threads(const marker *m)
{
    const char *env = getenv("LEAKSCAN_THREADS");
    long n = env && *env ? strtol(env, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
    if (!(env && *env) && m->nobjects < 100000)
        n = 1;
    return n < 1 ? 1 : n > 8 ? 8 : (int)n;
}

/* Drains m's gray stack on nthreads threads (m's own among them). */
static void drain_parallel(marker *m, int nthreads)
{
    mark_pool p = { .threads = nthreads };
    marker workers[8];
    pthread_t ids[8];
    bool started[8] = { false };
    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.more, NULL);
    p.items = m->gray;                         /* the roots' gray objects */
    p.n = m->ngray;
    p.cap = m->gray_cap;
    m->gray = NULL;
    m->ngray = m->gray_cap = 0;
    m->shared = true;
    m->pool = &p;
    for (int i = 1; i < nthreads; i++) {
        workers[i] = *m;                       /* shares tables, pool; own counts */
        workers[i].marked_objects = workers[i].scanned_bytes = 0;
        if (pthread_create(&ids[i], NULL, drain_shared, &workers[i]) == 0) {
            started[i] = true;
        } else {
            pthread_mutex_lock(&p.lock);       /* one fewer to wait for */
            p.threads--;
            pthread_cond_broadcast(&p.more);
            pthread_mutex_unlock(&p.lock);
        }
    }
    drain_shared(m);
    for (int i = 1; i < nthreads; i++) {
        if (!started[i])
            continue;
        pthread_join(ids[i], NULL);
        m->marked_objects += workers[i].marked_objects;
        m->scanned_bytes += workers[i].scanned_bytes;
        m->out_of_memory |= workers[i].out_of_memory;
        if (!m->missing)
            m->missing = workers[i].missing;
        free(workers[i].gray);
    }
    m->out_of_memory |= p.n != 0;              /* abandoned with work left */
    free(p.items);
    pthread_mutex_destroy(&p.lock);
    pthread_cond_destroy(&p.more);
    m->shared = false;
    m->pool = NULL;
}

/* ---------------------------------------------------------------------- */
/* The flat heap index                                                     */
/* ---------------------------------------------------------------------- */

/* Builds m->spans from the snapshot's spans. 0 or -1 (out of memory). */
static int build_spans(marker *m)
{
    const ls_snapshot *s = m->s;
    const ls_runtime *rt = s->rt;
    m->spans = calloc(rt->nspans + 1, sizeof *m->spans);
    if (!m->spans)
        return -1;
    for (size_t i = 0; i < rt->nspans; i++) {
        const ls_span *sp = &rt->spans[i];
        mark_span *ms = &m->spans[i + 1];
        ms->base = sp->base;
        ms->limit = (uint64_t)sp->nelems * sp->elem_size;
        ms->first = s->first_object[i];
        ms->size = sp->elem_size;
        ms->noscan = sp->noscan;
        ms->magic = 0;
        if (ms->limit < (UINT64_C(1) << 24) && (uint64_t)sp->elem_size < (UINT64_C(1) << 16))
            ms->magic = ((UINT64_C(1) << 40) + sp->elem_size - 1) / sp->elem_size;
        ms->data = ls_core_pointer(s->core, sp->base, ms->limit);
    }
    m->nspans = rt->nspans;
    m->page_spans = s->page_spans;
    m->arena = rt->root.arena;
    m->page_shift = (unsigned)__builtin_ctzll(rt->root.page_size);
    /* (2^62 bytes in use round up to pages that can overflow 64 bits.) */
    m->heap_bytes = (uint64_t)s->npages > UINT64_MAX >> m->page_shift ? UINT64_MAX
                  : (uint64_t)s->npages << m->page_shift;
    m->stacks_lo = UINT64_MAX;
    m->stacks_hi = 0;
    for (size_t i = 0; i < rt->ntasks; i++) {
        if (rt->tasks[i].stack_lo < m->stacks_lo) m->stacks_lo = rt->tasks[i].stack_lo;
        if (rt->tasks[i].stack_hi > m->stacks_hi) m->stacks_hi = rt->tasks[i].stack_hi;
    }
    if (m->stacks_hi < m->stacks_lo)
        m->stacks_lo = m->stacks_hi = 0;
    return 0;
}

/* The free slots of every span, as bits at their object numbers: set
 * (premark) before the mark, so that "free" reads as "marked", and cleared
 * after it, so that the result marks only objects. The allocation bitmaps
 * are in the snapshot (the loader checked they are). */
static void premark_free(marker *m, bool set)
{
    const ls_snapshot *s = m->s;
    const ls_runtime *rt = s->rt;
    for (size_t i = 0; i < rt->nspans; i++) {
        const ls_span *sp = &rt->spans[i];
        uint64_t words = ((uint64_t)sp->nelems + 63) / 64;
        const uint8_t *bits = ls_core_pointer(s->core, sp->alloc_bits, words * 8);
        for (uint64_t w = 0; w < words; w++) {
            uint64_t in_use = 0;
            if (bits)
                memcpy(&in_use, bits + w * 8, 8);
            uint64_t n = sp->nelems - w * 64 < 64 ? sp->nelems - w * 64 : 64;
            uint64_t valid = n == 64 ? UINT64_MAX : (UINT64_C(1) << n) - 1;
            uint64_t free_bits = ~in_use & valid;
            if (!free_bits)
                continue;
            uint64_t at = s->first_object[i] + w * 64;
            uint64_t lo = free_bits << (at & 63);
            uint64_t hi = (at & 63) ? free_bits >> (64 - (at & 63)) : 0;
            if (set) {
                m->marked[at >> 6] |= lo;
                if (hi)
                    m->marked[(at >> 6) + 1] |= hi;
            } else {
                m->marked[at >> 6] &= ~lo;
                if (hi)
                    m->marked[(at >> 6) + 1] &= ~hi;
            }
        }
    }
}

/* ---------------------------------------------------------------------- */
/* Roots                                                                   */
/* ---------------------------------------------------------------------- */

typedef struct excluded { uint64_t start, end; } excluded;

static int compare_excluded(const void *a, const void *b)
{
    const excluded *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static bool is_runtime_thread(const ls_snapshot *s, int32_t tid);

/* Below a thread's stack pointer is dead stack: old frames, whose stale
 * pointers would keep leaked tasks "reachable". Returns the start of the
 * run of contiguous segments holding sp (the thread's stack mapping as far
 * as the snapshot has it). */
static uint64_t stack_run_start(const ls_core *core, uint64_t sp)
{
    const ls_segment *seg = ls_core_segment(core, sp);
    if (!seg)
        return sp;
    size_t i = (size_t)(seg - core->segments);
    while (i > 0 && core->segments[i - 1].vaddr + core->segments[i - 1].memsz == core->segments[i].vaddr)
        i--;
    return core->segments[i].vaddr;
}

/* Scans every segment less the heap, the internal regions, the stack
 * chunks and the dead part of other threads' stacks. */
static int scan_root_memory(marker *m, ls_error *err)
{
    const ls_snapshot *s = m->s;
    const ls_debug_root *r = &s->rt->root;
    size_t n = 1 + r->internal_count + r->stack_chunk_count + s->core->nthreads;
    excluded *ex = calloc(n, sizeof *ex);
    if (!ex)
        return ls_error_set(err, s->path, "out of memory");
    size_t k = 0;
    ex[k++] = (excluded){ r->arena, r->arena + r->arena_size };
    for (uint32_t i = 0; i < r->internal_count; i++)
        ex[k++] = (excluded){ r->internal[i].start, r->internal[i].end };
    for (uint64_t i = 0; i < r->stack_chunk_count; i++) {
        uint64_t c;
        if (ls_core_read_u64(s->core, r->stack_chunks + i * 8, &c))
            ex[k++] = (excluded){ c, c + r->stack_chunk_size };
    }
    for (size_t i = 0; i < s->core->nthreads; i++) {
        const ls_thread *th = &s->core->threads[i];
        if (th->nregs < 20 || is_runtime_thread(s, th->tid))
            continue;
        uint64_t sp = th->regs[19];              /* user_regs_struct.rsp */
        uint64_t live = sp >= 128 ? sp - 128 : 0;  /* the red zone is live */
        uint64_t start = stack_run_start(s->core, sp);
        if (start < live)
            ex[k++] = (excluded){ start, live };
    }
    qsort(ex, k, sizeof *ex, compare_excluded);
    /* Merge overlaps so the walk below can step through them in order. */
    size_t merged = 0;
    for (size_t i = 0; i < k; i++) {
        if (merged && ex[i].start <= ex[merged - 1].end) {
            if (ex[i].end > ex[merged - 1].end)
                ex[merged - 1].end = ex[i].end;
        } else {
            ex[merged++] = ex[i];
        }
    }
    k = merged;
    for (size_t i = 0; i < s->core->nsegments; i++) {
        const ls_segment *seg = &s->core->segments[i];
        /* A cut segment's lost tail is root memory too (scan_range notes it). */
        uint64_t at = seg->vaddr, end = seg->vaddr + seg->filesz + seg->missing;
        /* first exclusion that ends after `at` */
        size_t lo = 0, hi = k;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (ex[mid].end <= at) lo = mid + 1; else hi = mid;
        }
        for (size_t j = lo; j < k && ex[j].start < end && at < end; j++) {
            if (ex[j].start > at)
                scan_range(m, at, ex[j].start);
            if (ex[j].end > at)
                at = ex[j].end;
        }
        if (at < end)
            scan_range(m, at, end);
    }
    free(ex);
    return 0;
}

static bool is_runtime_thread(const ls_snapshot *s, int32_t tid)
{
    const ls_debug_root *r = &s->rt->root;
    if (tid <= 0)
        return false;
    if ((uint32_t)tid == r->poller_tid)
        return true;
    return ls_is_worker_tid(s, (uint32_t)tid);   /* (sorted by the loader: asked per thread) */
}

static int compare_pairs(const void *a, const void *b)
{
    const waiter_pair *x = a, *y = b;
    if (x->object != y->object)
        return x->object < y->object ? -1 : 1;
    return x->task < y->task ? -1 : x->task > y->task;
}

int ls_analyze(const ls_snapshot *s, ls_analysis **out, ls_error *err)
{
    return ls_analyze_explained(s, false, out, err);
}

int ls_analyze_explained(const ls_snapshot *s, bool parents, ls_analysis **out, ls_error *err)
{
    *out = NULL;
    const ls_runtime *rt = s->rt;
    const ls_debug_root *r = &rt->root;
    ls_analysis *a = calloc(1, sizeof *a);
    marker m = { .s = s, .a = a };
    if (!a)
        return ls_error_set(err, s->path, "out of memory");
    a->ntasks = rt->ntasks;
    m.nobjects = s->nheap_objects + rt->ntasks;
    size_t words = (size_t)(m.nobjects / 64 + 1);
    a->verdict = calloc(rt->ntasks ? rt->ntasks : 1, 1);
    m.marked = calloc(words, 8);
    m.has_waiters = calloc(words, 8);
    m.rooted = calloc(rt->ntasks ? rt->ntasks : 1, sizeof *m.rooted);
    m.cluster_scanned = calloc(s->nclusters ? s->nclusters : 1, sizeof *m.cluster_scanned);
    size_t npairs = 0;
    for (size_t i = 0; i < rt->ntasks; i++)
        npairs += rt->tasks[i].wait_count;
    m.pairs = calloc(npairs ? npairs : 1, sizeof *m.pairs);
    if (parents)
        m.parent = a->parent = calloc(m.nobjects ? m.nobjects : 1, sizeof *m.parent);
    if (!a->verdict || !m.marked || !m.has_waiters || !m.rooted || !m.cluster_scanned || !m.pairs ||
        (parents && !m.parent) ||
        build_spans(&m) != 0) {
        ls_error_set(err, s->path, "out of memory for %llu objects", (unsigned long long)m.nobjects);
        goto fail;
    }
    premark_free(&m, true);

    /* Candidates, indexed by what they wait on; everything else is a root. */
    uint32_t *roots = calloc(rt->ntasks ? rt->ntasks : 1, sizeof *roots);
    size_t nroots = 0;
    if (!roots) {
        ls_error_set(err, s->path, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < rt->ntasks; i++) {
        const ls_task *t = &rt->tasks[i];
        bool candidate = t->state == LS_TASK_WAITING && t->wait_reason < 64 &&
                         ((r->candidate_mask >> t->wait_reason) & 1);
        if (!candidate) {
            roots[nroots++] = (uint32_t)i;
            continue;
        }
        a->candidates++;
        a->verdict[i] = LS_LEAKED;             /* until something wakes it */
        if ((r->never_wakes_mask >> t->wait_reason) & 1)
            continue;
        for (uint32_t w = 0; w < t->wait_count; w++) {
            int kind;
            uint64_t obj = ls_object_of(s, t->wait_addrs[w], &kind);
            if (obj == LS_NO_OBJECT) {
                /* Inside the heap arena but in no span the file gave: the
                 * object is in memory the loader could not read, and what
                 * holds it is unknown (the task ends unknown, below). Any
                 * other address is a global's or foreign memory: a root,
                 * reachable, as in Go. */
                uint64_t a0 = t->wait_addrs[w];
                if (rt->skipped_spans && a0 >= r->arena && a0 - r->arena < r->arena_size) {
                    note_missing(&m, "heap spans that failed validation");
                    continue;
                }
                roots[nroots++] = (uint32_t)i;
                break;
            }
            m.pairs[m.npairs++] = (waiter_pair){ obj, (uint32_t)i };
            bit_set(m.has_waiters, obj);
            if (kind == LS_OBJ_HEAP)
                m.spans[ls_span_index(s, t->wait_addrs[w])].waiters = true;
        }
    }
    qsort(m.pairs, m.npairs, sizeof *m.pairs, compare_pairs);

    for (size_t i = 0; i < nroots; i++)
        make_root_task(&m, roots[i]);
    free(roots);
    /* Registers of threads that are not the runtime's: a worker's belong to
     * the task it runs (done above) or to the scheduler (internal), and so
     * do the poller's. */
    for (size_t i = 0; i < s->core->nthreads; i++) {
        const ls_thread *th = &s->core->threads[i];
        if (is_runtime_thread(s, th->tid))
            continue;
        m.src = LS_PARENT(LS_FROM_THREAD, (uint64_t)th->tid);
        for (uint32_t j = 0; j < th->nregs; j++)
            mark_value(&m, th->regs[j]);
    }
    m.src = LS_PARENT(LS_FROM_TIMER, 0);
    for (size_t i = 0; i < rt->ntimer_targets; i++)
        mark_value(&m, rt->timer_targets[i]);
    m.src = LS_PARENT(LS_FROM_PIN, 0);
    for (size_t i = 0; i < rt->npinned; i++)
        mark_value(&m, rt->pinned[i]);
    m.src = LS_PARENT(LS_FROM_MEMORY, 0);
    if (scan_root_memory(&m, err) != 0)
        goto fail;

    if (m.parent) {                            /* breadth first: short paths */
        while (m.gray_head < m.ngray && !m.out_of_memory)
            scan_object(&m, m.gray[m.gray_head++]);
    } else {
        int threads = drain_threads(&m);
        if (threads > 1)
            drain_parallel(&m, threads);
        else
            drain_depth_first(&m);
    }
    if (m.out_of_memory) {
        ls_error_set(err, s->path, "out of memory while marking");
        goto fail;
    }
    premark_free(&m, false);                   /* the result marks objects only */
    a->marked_objects = m.marked_objects;
    a->scanned_bytes = m.scanned_bytes;

    /* Slots or spans the loader skipped are memory it could not read:
     * a task whose stack is never scanned, objects never followed. */
    if (rt->skipped_tasks)
        note_missing(&m, "task slots that failed validation");
    if (rt->skipped_spans)
        note_missing(&m, "heap spans that failed validation");
    a->missing = m.missing;
    for (size_t i = 0; i < rt->ntasks; i++) {
        if (a->verdict[i] != LS_LEAKED)
            continue;
        const ls_task *t = &rt->tasks[i];
        if (t->is_main) {
            a->verdict[i] = LS_MAIN_BLOCKED;
            a->main_blocked = true;
        } else if (m.missing && !((r->never_wakes_mask >> t->wait_reason) & 1)) {
            a->verdict[i] = LS_UNKNOWN;        /* what is missing might wake it */
            a->unknown++;
        } else {
            a->leaked++;
        }
    }
    a->marked = m.marked;                      /* for explanations */
    a->nobjects = m.nobjects;
    ls_timing_sample();                        /* scratch at its largest */
    free(m.spans);
    free(m.has_waiters);
    free(m.rooted);
    free(m.cluster_scanned);
    free(m.pairs);
    free(m.gray);
    *out = a;
    return 0;
fail:
    free(m.spans);
    free(m.marked);
    free(m.has_waiters);
    free(m.rooted);
    free(m.cluster_scanned);
    free(m.pairs);
    free(m.gray);
    ls_analysis_free(a);
    return -1;
}

void ls_analysis_free(ls_analysis *a)
{
    if (!a)
        return;
    free(a->verdict);
    free(a->parent);
    free(a->marked);
    free(a);
}

const char *ls_verdict_name(uint8_t verdict)
{
    switch (verdict) {
    case LS_LEAKED:       return "leaked";
    case LS_UNKNOWN:      return "unknown";
    case LS_WOKEN:        return "woken";
    case LS_MAIN_BLOCKED: return "main";
    case LS_SUPPRESSED:   return "suppressed";
    default:              return "live";
    }
}

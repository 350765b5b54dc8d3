/*
 * retained.c — the memory leaks pin. A leaked task matters because of
 * what it keeps alive: the heap objects that its stack reaches and that no
 * live root does. After the fixpoint those are exactly the unmarked heap
 * objects reachable from leaked stacks, so one more traversal finds them.
 *
 * Groups are walked in report order (largest first), their tasks in order;
 * each object goes to the first task (and so the first group) that reaches
 * it, and a later group that runs into an object an earlier group holds
 * counts it as shared and does not go below it (what is below belongs to
 * that group). Every object is claimed once: linear in the heap.
 */
#include "leakscan.h"

#include <stdlib.h>
#include <string.h>

typedef struct walker {
    const ls_snapshot *s;
    const ls_analysis *a;
    uint32_t *owner;            /* per heap object: owning group + 1, 0: none */
    uint32_t *shared_by;        /* per heap object: last group that counted it shared, + 1 */
    uint64_t *stack;            /* objects to scan: addresses of their first byte */
    size_t    depth, capacity;
    uint64_t *task_bytes;       /* per task: bytes it was the first to reach */
    uint64_t *task_objects;     /* ... and objects */
    size_t    task;             /* the task being walked */
} walker;

/* The heap object holding addr, if it is one the analysis left unmarked:
 * its number, start and size; false otherwise. */
static bool unmarked_object(const walker *w, uint64_t addr, uint64_t *id, uint64_t *base,
                            uint32_t *size, bool *noscan)
{
    uint32_t idx;
    const ls_span *sp = ls_heap_slot(w->s, addr, id, &idx);
    if (!sp || ((w->a->marked[*id >> 6] >> (*id & 63)) & 1))
        return false;                     /* not heap, or reachable from a live root (or free) */
    if (!ls_span_in_use(w->s->core, sp, idx))
        return false;
    *base = sp->base + (uint64_t)idx * sp->elem_size;
    *size = sp->elem_size;
    *noscan = sp->noscan;
    return true;
}

static bool push(walker *w, uint64_t base)
{
    if (w->depth == w->capacity) {
        size_t cap = w->capacity ? 2 * w->capacity : 1024;
        uint64_t *grown = realloc(w->stack, cap * sizeof *grown);
        if (!grown)
            return false;
        w->stack = grown;
        w->capacity = cap;
    }
    w->stack[w->depth++] = base;
    return true;
}

/* Claims for group g what the words at p (n bytes) point to. */
static bool visit_words(walker *w, ls_group *g, uint32_t gi, const uint8_t *p, size_t n)
{
    for (size_t off = 0; off + 8 <= n; off += 8) {
        uint64_t value, id, base;
        uint32_t size;
        bool noscan;
        memcpy(&value, p + off, 8);
        if (!unmarked_object(w, value, &id, &base, &size, &noscan))
            continue;
        if (w->owner[id] == 0) {
            w->owner[id] = gi + 1;
            g->retained_objects++;
            g->retained_bytes += size;
            w->task_bytes[w->task] += size;
            w->task_objects[w->task]++;
            if (!noscan && !push(w, base))
                return false;
        } else if (w->owner[id] != gi + 1 && w->shared_by[id] != gi + 1) {
            w->shared_by[id] = gi + 1;
            g->shared_objects++;
            g->shared_bytes += size;
        }
    }
    return true;
}

int ls_retained(const ls_snapshot *s, const ls_analysis *a, ls_report *r, ls_error *err)
{
    r->retained_bytes = r->retained_objects = 0;
    free(r->task_retained);
    free(r->task_retained_objects);
    size_t n = s->rt->ntasks ? s->rt->ntasks : 1;
    r->task_retained = calloc(n, sizeof *r->task_retained);
    r->task_retained_objects = calloc(n, sizeof *r->task_retained_objects);
    if (!r->task_retained || !r->task_retained_objects)
        return ls_error_set(err, s->path, "out of memory");
    if (a->saved_bytes) {
        /* A saved result: what each task held, summed by the groups as
         * they are now (what a group shares with one above is not kept). */
        for (size_t gi = 0; gi < r->ngroups; gi++) {
            ls_group *g = &r->groups[gi];
            for (size_t k = 0; k < g->count; k++) {
                size_t t = g->tasks[k];
                if (a->verdict[t] != LS_LEAKED)
                    continue;
                r->task_retained[t] = a->saved_bytes[t];
                r->task_retained_objects[t] = a->saved_objects[t];
                g->retained_bytes += a->saved_bytes[t];
                g->retained_objects += a->saved_objects[t];
            }
            r->retained_bytes += g->retained_bytes;
            r->retained_objects += g->retained_objects;
        }
        return 0;
    }
    if (s->from_json || !a->marked)
        return 0;                         /* a saved result of schema 1 keeps no word of it */
    walker w = { .s = s, .a = a, .task_bytes = r->task_retained, .task_objects = r->task_retained_objects };
    w.owner = calloc(s->nheap_objects ? s->nheap_objects : 1, sizeof *w.owner);
    w.shared_by = calloc(s->nheap_objects ? s->nheap_objects : 1, sizeof *w.shared_by);
    bool *visited = calloc(s->nclusters ? s->nclusters : 1, sizeof *visited);   /* per stack cluster */
    int status = 0;
    if (!w.owner || !w.shared_by || !visited)
        status = ls_error_set(err, s->path, "out of memory attributing %llu objects",
                              (unsigned long long)s->nheap_objects);
    for (size_t gi = 0; status == 0 && gi < r->ngroups; gi++) {
        ls_group *g = &r->groups[gi];
        for (size_t k = 0; status == 0 && k < g->count; k++) {
            const ls_task *t = &s->rt->tasks[g->tasks[k]];
            w.task = g->tasks[k];
            if (a->verdict[g->tasks[k]] != LS_LEAKED)
                continue;                 /* --all's live groups pin nothing of their own */
            uint64_t sp = t->regs[0];     /* the root's first register is the SP */
            if (sp < t->stack_lo || sp >= t->stack_hi)
                sp = t->stack_lo;
            uint64_t top = t->stack_hi;
            uint32_t c = s->stack_cluster ? s->stack_cluster[g->tasks[k]] : 0;
            if (c && visited[c - 1]) {
                sp = top;                 /* its stack overlaps others' (load.c): walked once */
            } else if (c) {
                visited[c - 1] = true;
                sp = s->clusters[c - 1].start;
                top = s->clusters[c - 1].end;
            }
            const uint8_t *words = ls_core_pointer(s->core, sp, top - sp);
            if (words && !visit_words(&w, g, (uint32_t)gi, words, top - sp))
                status = -1;
            while (status == 0 && w.depth) {
                uint64_t base = w.stack[--w.depth], id, start;
                uint32_t size;
                bool noscan;
                if (!unmarked_object(&w, base, &id, &start, &size, &noscan))
                    continue;
                const uint8_t *obj = ls_core_pointer(s->core, start, size);
                if (obj && !visit_words(&w, g, (uint32_t)gi, obj, size))
                    status = -1;
            }
        }
        r->retained_bytes += g->retained_bytes;
        r->retained_objects += g->retained_objects;
    }
    if (status == -1)
        status = ls_error_set(err, s->path, "out of memory attributing retained memory");
    free(w.owner);
    free(w.shared_by);
    free(w.stack);
    free(visited);
    return status;
}

/*
 * waiters.c — `leakscan waiters ADDR|SYMBOL FILE`: who is blocked on this
 * channel, lock or wait group. The object is named by address (as `why`
 * prints them) or by a global's name: either the object itself (a global
 * lrt_mutex) or a pointer to it (a global lrt_chan *), whichever tasks
 * wait on. An address inside a heap object names the object: its waiters
 * are those of anything in it (a lock inside a struct, given the struct's
 * address, or an address `why` printed within it). Each waiter is shown
 * as `traces` shows a task.
 */
#include "leakscan.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Whether t waits on something in [lo, hi). */
static bool waits_in(const ls_task *t, uint64_t lo, uint64_t hi)
{
    for (uint32_t k = 0; k < t->wait_count; k++)
        if (t->wait_addrs[k] >= lo && t->wait_addrs[k] < hi)
            return true;
    return false;
}

static size_t count_waiters(const ls_snapshot *s, uint64_t lo, uint64_t hi)
{
    size_t n = 0;
    for (size_t i = 0; i < s->rt->ntasks; i++)
        n += s->rt->tasks[i].state == LS_TASK_WAITING && waits_in(&s->rt->tasks[i], lo, hi);
    return n;
}

int ls_waiters(FILE *out, const ls_snapshot *s, const ls_analysis *a, ls_unwinder *u,
               const char *what, size_t *leaked, ls_error *err)
{
    *leaked = 0;
    if (s->from_json)
        return ls_error_set(err, s->path, "a JSON result keeps no waited-on objects: give the snapshot");
    uint64_t addr, hi;
    char *end;
    unsigned long long number = strtoull(what, &end, 0);
    if (*what && !*end) {
        addr = number;
        hi = addr + 1;
        uint64_t id;
        uint32_t index;
        const ls_span *sp = addr + 1 ? ls_heap_slot(s, addr, &id, &index) : NULL;
        if (!count_waiters(s, addr, hi) && sp && sp->elem_size) {
            uint64_t start = sp->base + (uint64_t)index * sp->elem_size;
            addr = start;
            hi = start + sp->elem_size;
            fprintf(out, "waiters of the heap object 0x%" PRIx64 " (%" PRIu32 " byte%s) holding 0x%llx:\n",
                    start, sp->elem_size, ls_s(sp->elem_size), number);
        } else {
            fprintf(out, "waiters of 0x%" PRIx64 ":\n", addr);
        }
    } else {
        uint64_t symbol;
        if (ls_lookup_symbol(u, what, &symbol) != 0)
            return ls_error_set(err, s->path, "the program has no symbol '%s' (name a global, "
                                "or give the object's address as 0x...)", what);
        /* The global itself, or what it points to: whichever is waited on. */
        uint64_t target = 0;
        addr = symbol;
        if (!count_waiters(s, symbol, symbol + 1) && ls_core_read_u64(s->core, symbol, &target) && target &&
            target + 1 && count_waiters(s, target, target + 1))
            addr = target;
        hi = addr + 1;
        if (addr == symbol)
            fprintf(out, "waiters of %s (0x%" PRIx64 "):\n", what, addr);
        else
            fprintf(out, "waiters of *%s (0x%" PRIx64 ", which %s at 0x%" PRIx64 " points to):\n",
                    what, addr, what, symbol);
    }
    size_t n = 0, unknown = 0;
    for (size_t i = 0; i < s->rt->ntasks; i++) {
        const ls_task *t = &s->rt->tasks[i];
        if (t->state != LS_TASK_WAITING || !waits_in(t, addr, hi))
            continue;
        if (n++ == 0)
            fputc('\n', out);
        *leaked += a->verdict[i] == LS_LEAKED;
        unknown += a->verdict[i] == LS_UNKNOWN;
        if (ls_print_task(out, s, a, u, i, NULL) != 0)
            return ls_error_set(err, s->path, "out of memory");
    }
    if (n == 0)
        fprintf(out, "no task waits on it\n");
    else if (unknown)
        fprintf(out, "%zu %s on it, %zu of them leaked, %zu unknown (the file lacks memory that "
                "could wake them)\n", n, n == 1 ? "task waits" : "tasks wait", *leaked, unknown);
    else
        fprintf(out, "%zu %s on it, %zu of them leaked\n", n, n == 1 ? "task waits" : "tasks wait", *leaked);
    return 0;
}

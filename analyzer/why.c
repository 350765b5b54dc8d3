/*
 * why.c — `leakscan why TASK FILE`: why a task is reported, or why not.
 *
 * For a leaked task: each object it waits on, what it is, and that nothing
 * that can run reaches it — with the places that do point at it (leaked
 * stacks, unreachable objects). For a blocked task that is not leaked: the
 * shortest path from a root (a global, a thread, a live task) through heap
 * objects to the object it waits on, from a breadth-first mark that
 * records what reached each object.
 *
 * Places are named as DWARF names them (dwarf_names.c): a global by its
 * symbol, member and type, a stack slot by its task, frame and variable,
 * a heap object by the type of the pointer on the path that reaches it,
 * and the next hop out of it by its member. Else the bare address.
 */
#include "dwarf_names.h"

#include <elfutils/libdwfl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PATH     64
#define MAX_REFERRERS 10

/* Address and size of object obj (a heap object or a task's stack). */
static uint64_t object_address(const ls_snapshot *s, uint64_t obj, uint64_t *size)
{
    if (obj >= s->nheap_objects) {
        const ls_task *t = &s->rt->tasks[obj - s->nheap_objects];
        *size = t->stack_hi - t->stack_lo;
        return t->stack_lo;
    }
    size_t lo = 0, hi = s->rt->nspans;
    while (lo + 1 < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->first_object[mid] <= obj) lo = mid; else hi = mid;
    }
    const ls_span *sp = &s->rt->spans[lo];
    *size = sp->elem_size;
    return sp->base + (obj - s->first_object[lo]) * sp->elem_size;
}

static const char *verdict_name(uint8_t v)
{
    switch (v) {
    case LS_LEAKED: return "leaked";
    case LS_WOKEN: return "blocked, not leaked";
    case LS_MAIN_BLOCKED: return "the main task, blocked forever";
    case LS_UNKNOWN: return "unknown: nothing the file holds wakes it, but memory it lacks could";
    default: return "live";
    }
}

static void describe_object(FILE *out, const ls_snapshot *s, uint64_t obj)
{
    uint64_t size, addr = object_address(s, obj, &size);
    if (obj >= s->nheap_objects)
        fprintf(out, "the stack of task %" PRIu64, s->rt->tasks[obj - s->nheap_objects].id);
    else
        fprintf(out, "heap object 0x%" PRIx64 " (%" PRIu64 " byte%s)", addr, size, ls_s(size));
}

/* The first frame of task i that is not the runtime's. */
static void task_function(ls_unwinder *u, size_t i, char *buf, size_t size)
{
    ls_stack st;
    snprintf(buf, size, "?");
    if (ls_unwind_task(u, i, &st) != 0)
        return;
    for (size_t f = 0; f < st.nframes; f++) {
        if (st.frames[f].function && strncmp(st.frames[f].function, "lrt_", 4) != 0) {
            char path[4096];
            if (st.frames[f].file)
                snprintf(buf, size, "%s (%s:%d)", st.frames[f].function,
                         ls_frame_path(&st.frames[f], path, sizeof path), st.frames[f].line);
            else
                snprintf(buf, size, "%s", st.frames[f].function);
            break;
        }
    }
    free(st.frames);
}

/* The root; *via: the root word, when DWARF names it (a global). */
static void describe_root(FILE *out, const ls_snapshot *s, ls_unwinder *u, ls_namer *nm, uint64_t parent,
                          ls_place *via)
{
    uint64_t v = LS_PARENT_VALUE(parent);
    char fn[512];
    memset(via, 0, sizeof *via);
    switch (LS_PARENT_KIND(parent)) {
    case LS_FROM_MEMORY: {
        ls_frame f;
        ls_symbolize_data(u, v, &f);
        ls_name_address(nm, v, false, via);
        if (via->kind == LS_PLACE_GLOBAL)
            fprintf(out, "%s at 0x%" PRIx64, via->text, v);
        else if (f.function)
            fprintf(out, "global %s+0x%" PRIx64 " (0x%" PRIx64 ")", f.function, f.offset, v);
        else
            fprintf(out, "root memory at 0x%" PRIx64 " (a global, malloc memory or a thread's stack)", v);
        break;
    }
    case LS_FROM_THREAD:
        fprintf(out, "a register of thread %" PRIu64, v);
        break;
    case LS_FROM_TASK:
        task_function(u, (size_t)v, fn, sizeof fn);
        fprintf(out, "task %" PRIu64 " (%s, in %s), which can run",
                s->rt->tasks[v].id, verdict_name(LS_LIVE), fn);
        break;
    case LS_FROM_TIMER:
        fprintf(out, "a pending timer (it will cancel a context)");
        break;
    case LS_FROM_PIN:
        fprintf(out, "the program's lrt_pin (a pointer kept where no scan sees it)");
        break;
    default:
        fprintf(out, "?");
    }
}

/* The first word of object from (its live part, if a stack) that points
 * into object to: its address and value. false: none (a register). The
 * last hops found are remembered: every path to an object waited on
 * 65,536 times would scan the same stacks again. */
typedef struct hop_memo {
    bool     used, found;
    uint64_t from, to, where, value;
} hop_memo;

static bool find_pointer(const ls_snapshot *s, hop_memo memo[64], uint64_t from, uint64_t to, uint64_t *where,
                         uint64_t *value)
{
    size_t slot = (size_t)(((from * 31 + to) * 0x9e3779b97f4a7c15ull) >> 58);
    if (memo[slot].used && memo[slot].from == from && memo[slot].to == to) {
        *where = memo[slot].where;
        *value = memo[slot].value;
        return memo[slot].found;
    }
    memo[slot].used = true;
    memo[slot].from = from;
    memo[slot].to = to;
    memo[slot].found = false;
    uint64_t lo, hi, tsize, tlo = object_address(s, to, &tsize), size;
    if (from >= s->nheap_objects)
        ls_task_stack_range(s, &s->rt->tasks[from - s->nheap_objects], &lo, &hi);
    else
        hi = (lo = object_address(s, from, &size)) + size;
    /* Only the bytes the file holds: a file may claim a 4 GiB stack. */
    uint64_t best = UINT64_MAX;
    for (size_t i = 0; i < s->core->nsegments; i++) {
        const ls_segment *seg = &s->core->segments[i];
        uint64_t from_at = seg->vaddr > lo ? seg->vaddr : lo, end = seg->vaddr + seg->filesz;
        end = end < hi ? end : hi;
        for (uint64_t at = (from_at + 7) & ~UINT64_C(7); at + 8 <= end && at < best; at += 8) {
            uint64_t v;
            memcpy(&v, s->core->data + seg->offset + (at - seg->vaddr), 8);
            if (v - tlo < tsize) {
                best = at;
                *value = v;
            }
        }
    }
    if (best == UINT64_MAX)
        return false;
    memo[slot].where = *where = best;
    memo[slot].value = *value;
    return memo[slot].found = true;
}

/* Prints how a hop reached an object: the place of the word (a variable,
 * a member), then the object and, if that word's type says, what it is. */
static void print_hop(FILE *out, const ls_snapshot *s, const ls_place *via, uint64_t value, uint64_t o,
                      bool *typed, Dwarf_Die *type)
{
    char what[256];
    uint64_t size, addr = object_address(s, o, &size);
    fprintf(out, "    -> ");
    if (via->kind == LS_PLACE_VARIABLE || via->kind == LS_PLACE_MEMBER)
        fprintf(out, "%s: ", via->text);
    else if (via->kind == LS_PLACE_FRAME)
        fprintf(out, "from %s: ", via->text);
    describe_object(out, s, o);
    *typed = via->typed && value == addr && o < s->nheap_objects &&
             ls_name_object(&via->pointee, what, sizeof what);
    if (*typed) {
        *type = via->pointee;
        fprintf(out, ", %s", what);
    }
}

/* Prints the chain of what reached obj, root first. */
static void print_path(FILE *out, const ls_snapshot *s, const ls_analysis *a, ls_unwinder *u, ls_namer *nm,
                       hop_memo memo[64], uint64_t obj)
{
    uint64_t chain[MAX_PATH];
    size_t n = 0;
    uint64_t at = obj;
    ls_place via;
    uint64_t value = 0;
    chain[n++] = at;
    for (;;) {
        uint64_t p = a->parent[at];
        int kind = LS_PARENT_KIND(p);
        if ((kind == LS_FROM_OBJECT || kind == LS_FROM_WAKE) && n < MAX_PATH) {
            at = LS_PARENT_VALUE(p);
            chain[n++] = at | (kind == LS_FROM_WAKE ? UINT64_C(1) << 63 : 0);
            continue;
        }
        fprintf(out, "    ");
        describe_root(out, s, u, nm, p, &via);
        if (via.kind == LS_PLACE_GLOBAL)
            ls_core_read_u64(s->core, LS_PARENT_VALUE(p), &value);
        via.kind = LS_PLACE_NONE;                /* the root line named it */
        fputc('\n', out);
        break;
    }
    for (size_t i = n; i-- > 0;) {
        uint64_t o = chain[i] & ~(UINT64_C(1) << 63), where;
        bool typed;
        Dwarf_Die type;
        print_hop(out, s, &via, value, o, &typed, &type);
        if (i > 0 && (chain[i] & (UINT64_C(1) << 63)))
            fprintf(out, ", which wakes the task whose stack is next");
        fputc('\n', out);
        memset(&via, 0, sizeof via);
        /* The word in o that reaches the next one: a stack's by its slot,
         * a typed object's by its member. */
        if (i > 0 && !(chain[i] & (UINT64_C(1) << 63)) &&
            find_pointer(s, memo, o, chain[i - 1] & ~(UINT64_C(1) << 63), &where, &value)) {
            uint64_t size, base = object_address(s, o, &size);
            if (o >= s->nheap_objects)
                ls_name_address(nm, where, false, &via);
            else if (typed)
                ls_name_member(nm, &type, where - base, &via);
        }
    }
}

/* The places in the snapshot that point into each waited object nothing
 * reaches: its first MAX_REFERRERS, in the order of the file, with an
 * object holding them. Found in one pass over memory for all the objects
 * (a task may wait on 65,536: a pass per address took 72 s). */
typedef struct wanted {
    uint64_t obj;                       /* sorted by this, for the printing */
    uint64_t lo, hi;                    /* the object's bytes, [lo, hi) */
    uint32_t found;
    uint64_t where[MAX_REFERRERS];
} wanted;

/* The pass looks each word up among the objects by their starts (order:
 * by lo) and a tree of the largest end under each node, so that a word
 * costs O(log n) and only the objects it points into are visited; an
 * object with all its referrers leaves the tree (its end becomes 0). The
 * objects may overlap (task stacks a file made overlap): each one the
 * word points into is found. */
typedef struct referrer_scan {
    const ls_snapshot *s;
    wanted   *w;
    size_t    n, leaves;                /* leaves: a power of two >= n */
    uint32_t *order;                    /* w by lo */
    uint64_t *los;                      /* w[order[i]].lo */
    uint64_t *tree;                     /* 2 * leaves: the largest end below */
} referrer_scan;

static int compare_wanted(const void *a, const void *b)
{
    const wanted *x = a, *y = b;
    return x->obj < y->obj ? -1 : x->obj > y->obj;
}

static const referrer_scan *order_ctx;

static int compare_order(const void *a, const void *b)
{
    uint64_t x = order_ctx->w[*(const uint32_t *)a].lo, y = order_ctx->w[*(const uint32_t *)b].lo;
    return x < y ? -1 : x > y;
}

static void tree_set(referrer_scan *r, size_t leaf, uint64_t end)
{
    size_t at = r->leaves + leaf;
    r->tree[at] = end;
    for (at /= 2; at; at /= 2)
        r->tree[at] = r->tree[2 * at] > r->tree[2 * at + 1] ? r->tree[2 * at] : r->tree[2 * at + 1];
}

/* The largest end among the leaves [0, p). */
static uint64_t prefix_max(const referrer_scan *r, size_t p)
{
    uint64_t best = 0;
    for (size_t lo = r->leaves, hi = r->leaves + p; lo < hi; lo /= 2, hi /= 2) {
        if (lo & 1) { best = r->tree[lo] > best ? r->tree[lo] : best; lo++; }
        if (hi & 1) { hi--; best = r->tree[hi] > best ? r->tree[hi] : best; }
    }
    return best;
}

/* Records `where` for every object of the leaves [0, p) under node (its
 * leaves from first, count of them) whose end is above v. */
static void record(referrer_scan *r, size_t node, size_t first, size_t count, size_t p, uint64_t v,
                   uint64_t where)
{
    if (first >= p || r->tree[node] <= v)
        return;
    if (count == 1) {
        wanted *w = &r->w[r->order[first]];
        w->where[w->found++] = where;
        if (w->found == MAX_REFERRERS)
            tree_set(r, first, 0);              /* has all it shows */
        return;
    }
    record(r, 2 * node, first, count / 2, p, v, where);
    record(r, 2 * node + 1, first + count / 2, count / 2, p, v, where);
}

static int find_referrers(referrer_scan *r)
{
    const ls_snapshot *s = r->s;
    for (r->leaves = 1; r->leaves < r->n; r->leaves *= 2)
        ;
    r->order = malloc(r->n * sizeof *r->order);
    r->los = malloc(r->n * sizeof *r->los);
    r->tree = calloc(2 * r->leaves, sizeof *r->tree);
    if (!r->order || !r->los || !r->tree)
        return -1;
    for (size_t i = 0; i < r->n; i++)
        r->order[i] = (uint32_t)i;
    order_ctx = r;
    qsort(r->order, r->n, sizeof *r->order, compare_order);
    for (size_t i = 0; i < r->n; i++) {
        r->los[i] = r->w[r->order[i]].lo;
        tree_set(r, i, r->w[r->order[i]].hi);
    }
    for (size_t i = 0; i < s->core->nsegments && r->tree[1]; i++) {
        const ls_segment *seg = &s->core->segments[i];
        const uint8_t *p = s->core->data + seg->offset;
        for (uint64_t off = 0; off + 8 <= seg->filesz && r->tree[1]; off += 8) {
            uint64_t v;
            memcpy(&v, p + off, 8);
            size_t lo = 0, hi = r->n;           /* the objects starting at or below v */
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (r->los[mid] <= v) lo = mid + 1; else hi = mid;
            }
            if (!lo || prefix_max(r, lo) <= v)
                continue;                       /* into none of them */
            int kind;
            uint64_t where = seg->vaddr + off;
            if (ls_object_of(s, where, &kind) == LS_NO_OBJECT)
                continue;                       /* internal memory, dead stack */
            record(r, 1, 0, r->leaves, lo, v, where);
        }
    }
    return 0;
}

static void free_referrers(referrer_scan *r)
{
    free(r->w);
    free(r->order);
    free(r->los);
    free(r->tree);
}

static void print_referrers(FILE *out, const ls_snapshot *s, const ls_analysis *a, ls_namer *nm,
                            const wanted *w)
{
    for (uint32_t i = 0; i < w->found; i++) {
        int kind;
        uint64_t where = w->where[i];
        uint64_t holder = ls_object_of(s, where, &kind);
        ls_place place = { .kind = LS_PLACE_NONE };
        if (kind == LS_OBJ_STACK)
            ls_name_address(nm, where, false, &place);
        if (place.kind == LS_PLACE_VARIABLE)
            fprintf(out, "    0x%" PRIx64 ": %s, stack of task %" PRIu64, where, place.text,
                    s->rt->tasks[holder - s->nheap_objects].id);
        else if (place.kind == LS_PLACE_FRAME)
            fprintf(out, "    0x%" PRIx64 " in %s, stack of task %" PRIu64, where, place.text,
                    s->rt->tasks[holder - s->nheap_objects].id);
        else {
            fprintf(out, "    0x%" PRIx64 " in ", where);
            describe_object(out, s, holder);
        }
        if (kind == LS_OBJ_STACK)
            fprintf(out, " (%s)", verdict_name(a->verdict[holder - s->nheap_objects]));
        else
            fprintf(out, " (%s)", (a->marked[holder >> 6] >> (holder & 63)) & 1
                                  ? "reachable" : "itself unreachable");
        fputc('\n', out);
    }
    if (!w->found)
        fprintf(out, "    nothing else\n");
}

int ls_why(FILE *out, const ls_snapshot *s, const ls_analysis *a, ls_unwinder *u, uint64_t id, ls_error *err)
{
    const ls_runtime *rt = s->rt;
    size_t i = 0;
    while (i < rt->ntasks && rt->tasks[i].id != id)
        i++;
    if (i == rt->ntasks)
        return ls_error_set(err, s->path, "no live task %" PRIu64 " in this snapshot", id);
    const ls_task *t = &rt->tasks[i];
    char fn[512];
    task_function(u, i, fn, sizeof fn);
    fprintf(out, "task %" PRIu64 " in %s: %s\n", id, fn, verdict_name(a->verdict[i]));
    bool candidate = a->verdict[i] != LS_LIVE;
    if (!candidate) {
        fprintf(out, "  it is %s, not blocked on anything that could leak%s%s.\n",
                t->state == LS_TASK_RUNNING ? "running" : t->state == LS_TASK_RUNNABLE ? "runnable" : "waiting",
                t->state == LS_TASK_WAITING ? ": " : "",
                t->state == LS_TASK_WAITING ? ls_reason_name(rt, t->wait_reason) : "");
        return 0;
    }
    fprintf(out, "  it waits in %s", ls_reason_name(rt, t->wait_reason));
    if (t->wait_count == 0) {
        fprintf(out, " on nothing: no object can ever wake it (%s).\n",
                t->wait_reason < 64 && ((rt->root.never_wakes_mask >> t->wait_reason) & 1)
                    ? "a nil channel or a select with no cases" : "a select over nil channels only");
        return 0;
    }
    fprintf(out, " on %u object%s:\n", t->wait_count, t->wait_count > 1 ? "s" : "");
    char holder[4096 + 256];
    if (ls_mutex_holder(s, a, u, t, holder, sizeof holder))
        fprintf(out, "  the mutex is %s\n", holder);
    /* The objects nothing reaches, each once, and what points into them. */
    referrer_scan r = { .s = s, .w = calloc(t->wait_count, sizeof *r.w) };
    if (!r.w)
        return ls_error_set(err, s->path, "out of memory");
    for (uint32_t w = 0; w < t->wait_count; w++) {
        int kind;
        uint64_t obj = ls_object_of(s, t->wait_addrs[w], &kind);
        if (obj != LS_NO_OBJECT && !((a->marked[obj >> 6] >> (obj & 63)) & 1)) {
            uint64_t size, addr = object_address(s, obj, &size);
            r.w[r.n++] = (wanted){ .obj = obj, .lo = addr, .hi = addr + size };
        }
    }
    qsort(r.w, r.n, sizeof *r.w, compare_wanted);
    size_t distinct = 0;
    for (size_t k = 0; k < r.n; k++)
        if (!distinct || r.w[k].obj != r.w[distinct - 1].obj)
            r.w[distinct++] = r.w[k];
    r.n = distinct;
    if (r.n && find_referrers(&r) != 0) {
        free_referrers(&r);
        return ls_error_set(err, s->path, "out of memory");
    }
    ls_namer *nm = ls_namer_create(s, u);
    hop_memo memo[64] = { { .used = false } };
    for (uint32_t w = 0; w < t->wait_count; w++) {
        int kind;
        uint64_t obj = ls_object_of(s, t->wait_addrs[w], &kind);
        ls_place place = { .kind = LS_PLACE_NONE };
        if (obj == LS_NO_OBJECT || kind == LS_OBJ_STACK)
            ls_name_address(nm, t->wait_addrs[w], true, &place);
        fprintf(out, "  0x%" PRIx64 ": ", t->wait_addrs[w]);
        if (place.kind == LS_PLACE_VARIABLE || place.kind == LS_PLACE_GLOBAL)
            fprintf(out, "%s, ", place.text);
        if (obj == LS_NO_OBJECT) {
            fprintf(out, "outside the tracked heap and every task stack (a global or malloc\n"
                         "    memory): counted as reachable, as in Go.\n");
            continue;
        }
        describe_object(out, s, obj);
        bool marked = (a->marked[obj >> 6] >> (obj & 63)) & 1;
        if (marked) {
            fprintf(out, ", reachable from a root:\n");
            print_path(out, s, a, u, nm, memo, obj);
        } else {
            fprintf(out, ", which nothing that can run reaches.\n    Pointed to only by:\n");
            const wanted key = { .obj = obj };
            print_referrers(out, s, a, nm, bsearch(&key, r.w, r.n, sizeof *r.w, compare_wanted));
        }
    }
    ls_namer_destroy(nm);
    free_referrers(&r);
    return 0;
}

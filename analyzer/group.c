/*
 * group.c — leaked tasks grouped, ordered by count, like the groups of Go's
 * goroutine profiles. By default a group is the tasks with the same stack
 * (the sequence of PCs) and wait reason; --group-by, like Delve's
 * `goroutines -group`, groups by the top user frame (`top`), by the
 * function that created the task (`creator`) or by the value of one label
 * (`label:KEY`) instead.
 */
#include "leakscan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
    enum { BY_STACK, BY_TOP, BY_CREATOR, BY_LABEL } mode;
    const char *label;
} group_by;

int ls_set_group_by(const char *spec, ls_error *err)
{
    if (strcmp(spec, "stack") == 0)
        group_by.mode = BY_STACK;
    else if (strcmp(spec, "top") == 0)
        group_by.mode = BY_TOP;
    else if (strcmp(spec, "creator") == 0)
        group_by.mode = BY_CREATOR;
    else if (strncmp(spec, "label:", 6) == 0 && spec[6])
        group_by.mode = BY_LABEL, group_by.label = spec + 6;
    else
        return ls_error_set(err, NULL, "--group-by wants stack, top, creator or label:KEY, not '%s'", spec);
    return 0;
}

/* The key of task i's group in the non-stack modes, as shown ("route=/a"),
 * into buf. */
static const char *group_key(const ls_snapshot *s, ls_unwinder *u, size_t i, const ls_stack *st,
                             char *buf, size_t size)
{
    const ls_task *t = &s->rt->tasks[i];
    const char *fn = NULL;
    switch (group_by.mode) {
    case BY_STACK:
        return NULL;
    case BY_TOP:
        if (st->nframes)                                      /* the first user frame */
            fn = st->frames[ls_top_user_frame(st)].function;
        snprintf(buf, size, "top %s", fn ? fn : "?");
        return buf;
    case BY_CREATOR: {
        ls_frame cb;
        ls_symbolize(u, t->create_pc, &cb);
        snprintf(buf, size, "creator %s", cb.function ? cb.function : "?");
        return buf;
    }
    case BY_LABEL: {
        const char *value = NULL;
        if (t->label_set >= 0 && (size_t)t->label_set < s->rt->nlabel_sets) {
            const ls_label_set *set = &s->rt->label_sets[t->label_set];
            for (uint32_t k = 0; k < set->count && !value; k++)
                if (strcmp(set->labels[k].key, group_by.label) == 0)
                    value = set->labels[k].value;
        }
        snprintf(buf, size, "%s=%s", group_by.label, value ? value : "(none)");
        return buf;
    }
    }
    return NULL;
}

/* The keys and stacks are the file's (a saved result's PCs are any
 * numbers): hashed with the keyed hash (hash.c), as an unkeyed one let
 * 100,000 one-frame groups whose PCs differ only above bit 32 all fall
 * into one run of the table. */
static uint64_t string_hash(const char *text, uint32_t reason)
{
    uint64_t v[2] = { ls_hash_string(text), reason };
    return ls_hash_bytes(v, sizeof v);
}

/* By PC, frame by frame: the frames inlined at a PC repeat it, and one PC
 * always expands to the same frames, so this is the PC sequence's test. */
static bool same_stack(const ls_stack *a, const ls_stack *b)
{
    if (a->nframes != b->nframes)
        return false;
    for (size_t i = 0; i < a->nframes; i++)
        if (a->frames[i].pc != b->frames[i].pc)
            return false;
    return true;
}

static uint64_t stack_hash(const ls_stack *st, uint32_t reason)
{
    uint64_t buf[65];                  /* the hash so far, then up to 64 PCs */
    uint64_t h = reason;
    size_t i = 0;
    do {
        size_t n = 0;
        buf[0] = h;
        while (i < st->nframes && n < 64)
            buf[1 + n++] = st->frames[i++].pc;
        h = ls_hash_bytes(buf, (1 + n) * sizeof *buf);
    } while (i < st->nframes);
    return h;
}

static int compare_groups(const void *a, const void *b)
{
    const ls_group *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return x->tasks[0] < y->tasks[0] ? -1 : x->tasks[0] > y->tasks[0];
}

const char *ls_group_reason(const ls_snapshot *s, uint32_t reason)
{
    if (reason == UINT32_MAX - LS_TASK_RUNNING)
        return "running";
    if (reason == UINT32_MAX - LS_TASK_RUNNABLE)
        return "runnable";
    if (reason == LS_REASON_SEVERAL)
        return "several waits";
    return ls_reason_name(s->rt, reason);
}

int64_t ls_wait_ns(const ls_snapshot *s, const ls_task *t)
{
    int64_t now = s->time_monotonic_ns, since = t->wait_since, waited;
    if (!now || !since)
        return -1;
    /* Both clocks come from the file: INT64_MAX - -1 or now - INT64_MIN
     * overflow. A wait that long saturates; one that began after the
     * snapshot was taken is negative, which says the clocks are wrong. */
    if (__builtin_sub_overflow(now, since, &waited))
        return now > since ? INT64_MAX : -1;
    return waited >= 0 ? waited : -1;
}

int ls_group_leaks(const ls_snapshot *s, const ls_analysis *a, ls_unwinder *u,
                   bool all, ls_report *out, ls_error *err)
{
    memset(out, 0, sizeof *out);
    out->main_task = SIZE_MAX;
    const ls_runtime *rt = s->rt;
    size_t want = 0;
    for (size_t i = 0; i < rt->ntasks; i++)
        if (a->verdict[i] == LS_LEAKED || (all && a->verdict[i] != LS_MAIN_BLOCKED))
            want++;
    /* Hash table of groups: index + 1, 0 empty. */
    size_t size = 16;
    while (size < want * 2)
        size *= 2;
    uint32_t *table = calloc(size, sizeof *table);
    /* The groups grow as found: one per task at worst, but a group is 160
     * bytes and a saved result's task 2 bytes of its file (json_load.c). */
    size_t groups_cap = 64;
    uint64_t *hashes = calloc(groups_cap, sizeof *hashes);
    out->groups = calloc(groups_cap, sizeof *out->groups);
    if (!table || !hashes || !out->groups) {
        free(table);
        free(hashes);
        return ls_error_set(err, s->path, "out of memory grouping %zu tasks", want);
    }
    for (size_t i = 0; i < rt->ntasks; i++) {
        const ls_task *t = &rt->tasks[i];
        if (a->verdict[i] == LS_MAIN_BLOCKED) {
            /* The reader keeps one main task; should two ever get here,
             * the first is the one shown (and no stack is overwritten). */
            if (out->main_task == SIZE_MAX) {
                out->main_task = i;
                ls_unwind_task(u, i, &out->main_stack);
            }
            continue;
        }
        if (!(a->verdict[i] == LS_LEAKED || all))
            continue;
        ls_stack st;
        if (ls_unwind_task(u, i, &st) != 0) {
            free(table);
            free(hashes);
            return ls_error_set(err, s->path, "out of memory unwinding");
        }
        uint32_t reason = t->state == LS_TASK_WAITING ? t->wait_reason : UINT32_MAX - t->state;
        char key_buf[512];
        const char *key = group_key(s, u, i, &st, key_buf, sizeof key_buf);
        /* By a label, the label alone: tasks of one request wait on
         * whatever they wait on. */
        bool by_label = key && group_by.mode == BY_LABEL;
        uint64_t h = (key ? string_hash(key, by_label ? 0 : reason) : stack_hash(&st, reason)) ^ a->verdict[i];
        size_t slot = (size_t)h & (size - 1);
        ls_group *g = NULL;
        while (table[slot]) {
            ls_group *c = &out->groups[table[slot] - 1];
            if (hashes[table[slot] - 1] == h && (by_label || c->wait_reason == reason) &&
                a->verdict[c->tasks[0]] == a->verdict[i] &&
                (key ? strcmp(c->key, key) == 0 : same_stack(&c->stack, &st))) {
                g = c;
                break;
            }
            slot = (slot + 1) & (size - 1);
        }
        int64_t w = t->state == LS_TASK_WAITING ? ls_wait_ns(s, t) : -1;
        if (!g && out->ngroups == groups_cap) {
            ls_group *grown = realloc(out->groups, 2 * groups_cap * sizeof *grown);
            if (grown)
                out->groups = grown;
            uint64_t *more = grown ? realloc(hashes, 2 * groups_cap * sizeof *more) : NULL;
            if (!more) {
                free(table);
                free(hashes);
                free(st.frames);
                return ls_error_set(err, s->path, "out of memory grouping %zu tasks", want);
            }
            hashes = more;
            memset(&out->groups[groups_cap], 0, groups_cap * sizeof *out->groups);
            groups_cap *= 2;
        }
        if (!g) {
            g = &out->groups[out->ngroups];
            hashes[out->ngroups] = h;
            table[slot] = (uint32_t)++out->ngroups;
            g->stack = st;
            g->wait_reason = reason;
            g->key = key ? strdup(key) : NULL;
            g->wait_min_ns = g->wait_max_ns = w;
            g->tasks = malloc(sizeof *g->tasks);
            ls_symbolize(u, t->create_pc, &g->created_by);
        } else {
            free(st.frames);
            if (g->wait_reason != reason)
                g->wait_reason = LS_REASON_SEVERAL;
            if (w >= 0 && (g->wait_min_ns < 0 || w < g->wait_min_ns)) g->wait_min_ns = w;
            if (w > g->wait_max_ns) g->wait_max_ns = w;
            if ((g->count & (g->count - 1)) == 0) {          /* grow at powers of two */
                size_t *grown = realloc(g->tasks, 2 * g->count * sizeof *grown);
                if (!grown) {
                    free(table);
                    free(hashes);
                    return ls_error_set(err, s->path, "out of memory");
                }
                g->tasks = grown;
            }
        }
        if (!g->tasks) {
            free(table);
            free(hashes);
            return ls_error_set(err, s->path, "out of memory");
        }
        g->tasks[g->count++] = i;
    }
    free(table);
    free(hashes);
    qsort(out->groups, out->ngroups, sizeof *out->groups, compare_groups);
    out->all = all;
    for (size_t i = 0; i < out->ngroups; i++)
        out->leaked_groups += a->verdict[out->groups[i].tasks[0]] == LS_LEAKED;
    ls_timing("unwind");
    return 0;
}

void ls_report_free(ls_report *r)
{
    for (size_t i = 0; i < r->ngroups; i++) {
        free(r->groups[i].tasks);
        free(r->groups[i].stack.frames);
        free(r->groups[i].key);
    }
    free(r->groups);
    free(r->main_stack.frames);
    free(r->crash.stack.frames);
    free(r->task_retained);
    free(r->task_retained_objects);
    memset(r, 0, sizeof *r);
}

/*
 * diff.c — `leakscan diff BASE NEW`: how the leaked groups changed between
 * two snapshots of the same program, like `pprof -base`. Groups are matched
 * by their symbolised stack (function, file and line of each frame, and the
 * wait reason), not by PCs, which differ from run to run.
 */
#include "leakscan.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

typedef struct loaded {
    ls_input     in;
    ls_snapshot *s;
    ls_report    r;
    char       **keys;          /* per group */
} loaded;

static void unload(loaded *l)
{
    for (size_t i = 0; l->keys && i < l->r.ngroups; i++)
        free(l->keys[i]);
    free(l->keys);
    ls_report_free(&l->r);
    if (l->in.s)
        ls_input_close(&l->in);
}

/* "reason|fn@file:line|fn@file:line..." */
static char *group_key(const ls_snapshot *s, const ls_group *g)
{
    size_t cap = 256, len = 0;
    char *k = malloc(cap);
    if (!k)
        return NULL;
    const char *reason = ls_group_reason(s, g->wait_reason);
    len = (size_t)snprintf(k, cap, "%s", reason);
    for (size_t f = 0; f < g->stack.nframes; f++) {
        const ls_frame *fr = &g->stack.frames[f];
        char part[512];
        int n = snprintf(part, sizeof part, "|%s@%s:%d", fr->function ? fr->function : "?",
                         fr->file ? fr->file : "?", fr->line);
        if (n < 0)
            continue;
        if (len + (size_t)n + 1 > cap) {
            while (len + (size_t)n + 1 > cap)
                cap *= 2;
            char *grown = realloc(k, cap);
            if (!grown) {
                free(k);
                return NULL;
            }
            k = grown;
        }
        memcpy(k + len, part, (size_t)n + 1);
        len += (size_t)n;
    }
    return k;
}

static int load(const char *path, const ls_options *opt, loaded *l, ls_error *err)
{
    memset(l, 0, sizeof *l);
    if (ls_input_open(path, opt, false, &l->in, err) != 0)
        return -1;
    l->s = l->in.s;
    if (ls_group_leaks(l->s, l->in.a, l->in.u, false, &l->r, err) != 0)
        return -1;
    l->keys = calloc(l->r.ngroups ? l->r.ngroups : 1, sizeof *l->keys);
    if (!l->keys)
        return ls_error_set(err, path, "out of memory");
    for (size_t i = 0; i < l->r.ngroups; i++)
        if (!(l->keys[i] = group_key(l->s, &l->r.groups[i])))
            return ls_error_set(err, path, "out of memory");
    return 0;
}

/* Base groups by key, for matching each new group to the first base
 * group of its key not matched yet (a search of all base groups per new
 * group was quadratic: 50,000 groups took 25 s). by_key finds the first
 * base group f of each key; per base group j: next[j], the next of its
 * key (SIZE_MAX: none); for each first f: unmatched[f], the first of its
 * key not matched yet, and last[f], the last of its key. */
typedef struct key_ref { const loaded *l; const char *key; } key_ref;

typedef struct by_key {
    ls_index index;
    size_t  *next, *unmatched, *last;
} by_key;

static bool same_key(const void *ctx, size_t j)
{
    const key_ref *k = ctx;
    return strcmp(k->l->keys[j], k->key) == 0;
}

static size_t first_of_key(const by_key *t, const loaded *base, const char *key)
{
    return ls_index_find(&t->index, ls_hash_string(key), same_key, &(key_ref){ base, key });
}

static int index_keys(const loaded *base, by_key *t)
{
    size_t n = base->r.ngroups ? base->r.ngroups : 1;
    t->next = malloc(n * sizeof *t->next);
    t->unmatched = malloc(n * sizeof *t->unmatched);
    t->last = malloc(n * sizeof *t->last);
    if (!t->next || !t->unmatched || !t->last)
        return -1;
    for (size_t j = 0; j < base->r.ngroups; j++) {
        t->next[j] = SIZE_MAX;
        size_t f = first_of_key(t, base, base->keys[j]);
        if (f == SIZE_MAX) {
            if (ls_index_add(&t->index, ls_hash_string(base->keys[j]), j) != 0)
                return -1;
            t->unmatched[j] = t->last[j] = j;
        } else {
            t->next[t->last[f]] = j;
            t->last[f] = j;
        }
    }
    return 0;
}

static void free_keys(by_key *t)
{
    ls_index_free(&t->index);
    free(t->next);
    free(t->unmatched);
    free(t->last);
}

/* One line about a group: its wait reason and the first frames that are
 * not the runtime's API call. */
static void describe(FILE *out, const ls_snapshot *s, const ls_group *g)
{
    const char *reason = ls_group_reason(s, g->wait_reason);
    fprintf(out, "%-22s", reason);
    int shown = 0;
    /* From the top user frame: the API call (and what the runtime inlined
     * into it), the reason says. */
    for (size_t f = ls_top_user_frame(&g->stack); f < g->stack.nframes && shown < 3; f++) {
        const ls_frame *fr = &g->stack.frames[f];
        fprintf(out, "%s%s", shown ? " < " : "", fr->function ? fr->function : "?");
        if (fr->file) {
            const char *base = strrchr(fr->file, '/');
            fprintf(out, " (%s:%d)", base ? base + 1 : fr->file, fr->line);
        }
        shown++;
    }
    fputc('\n', out);
}

/* The table's header, before its first row. */
static void table_header(bool *printed)
{
    if (!*printed)
        printf("%7s %7s %7s  %-22s%s\n", "delta", "base", "new", "wait reason", "stack");
    *printed = true;
}

int ls_diff_main(const char *base_path, const char *new_path, const ls_options *opt)
{
    ls_error err;
    loaded base = { 0 }, cur = { 0 };
    int status = 2;
    if (load(base_path, opt, &base, &err) != 0 || load(new_path, opt, &cur, &err) != 0) {
        fprintf(stderr, "leakscan: %s\n", err.message);
        goto out;
    }
    printf("leakscan diff: %s -> %s\n", base_path, new_path);
    printf("base: %zu leaked in %zu group%s; new: %zu leaked in %zu group%s\n",
           base.in.a->leaked, base.r.ngroups, ls_s(base.r.ngroups), cur.in.a->leaked, cur.r.ngroups,
           ls_s(cur.r.ngroups));
    for (int k = 0; k < 2; k++) {          /* unknowns may hide growth: say so */
        char unknown[256];
        ls_unknown_note(k ? cur.in.a : base.in.a, unknown, sizeof unknown);
        if (*unknown)
            printf("%s: %s\n", k ? "new" : "base", unknown);
    }
    putchar('\n');
    bool grew = false, changed = false;
    bool *matched = calloc(base.r.ngroups ? base.r.ngroups : 1, sizeof *matched);
    by_key keys = { 0 };
    if (!matched || index_keys(&base, &keys) != 0) {
        fprintf(stderr, "leakscan: out of memory\n");
        free(matched);
        free_keys(&keys);
        goto out;
    }
    for (size_t i = 0; i < cur.r.ngroups; i++) {
        size_t was = 0;
        size_t f = first_of_key(&keys, &base, cur.keys[i]);
        if (f != SIZE_MAX && keys.unmatched[f] != SIZE_MAX) {
            size_t j = keys.unmatched[f];
            matched[j] = true;
            was = base.r.groups[j].count;
            keys.unmatched[f] = keys.next[j];
        }
        size_t now = cur.r.groups[i].count;
        if (now == was)
            continue;
        grew |= now > was;
        table_header(&changed);
        printf("%+7" PRId64 " %7zu %7zu  ", (int64_t)now - (int64_t)was, was, now);
        describe(stdout, cur.s, &cur.r.groups[i]);
    }
    for (size_t j = 0; j < base.r.ngroups; j++) {
        if (matched[j])
            continue;
        size_t was = base.r.groups[j].count;
        table_header(&changed);
        printf("%+7" PRId64 " %7zu %7d  ", -(int64_t)was, was, 0);
        describe(stdout, base.s, &base.r.groups[j]);
    }
    free(matched);
    free_keys(&keys);
    if (!changed)
        printf("No change: the same %zu leaked task%s in the same %zu group%s.\n", cur.in.a->leaked,
               ls_s(cur.in.a->leaked), cur.r.ngroups, ls_s(cur.r.ngroups));
    status = grew ? 1 : 0;
out:
    unload(&base);
    unload(&cur);
    fflush(stdout);
    return status;
}

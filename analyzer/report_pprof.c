/*
 * report_pprof.c — `--pprof OUT`: the leaked groups as a gzip'd pprof
 * profile (profile.proto), sample type goroutineleak/count, one sample per
 * group with a `wait_reason` label, so that `go tool pprof -top`, `-list`
 * and `-http` read it. One Location per PC, with a Line per function
 * inlined there (innermost first, as pprof has them). The protobuf encoding is written here (a dozen
 * varint and length-delimited fields); zlib does the gzip.
 */
#define _GNU_SOURCE
#include "leakscan.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ---------------------------------------------------------------------- */
/* Protobuf encoding                                                       */
/* ---------------------------------------------------------------------- */

typedef struct pb {
    uint8_t *data;
    size_t   len, cap;
    bool     failed;
} pb;

static void pb_bytes(pb *b, const void *p, size_t n)
{
    /* n == 0: nothing to copy, and p may be an empty buffer's NULL (a
     * report with no groups has no locations): memcpy must not see it. */
    if (b->failed || n == 0)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *grown = realloc(b->data, cap);
        if (!grown) {
            b->failed = true;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void pb_varint(pb *b, uint64_t v)
{
    uint8_t out[10];
    size_t n = 0;
    do {
        out[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    pb_bytes(b, out, n);
}

static void pb_uint(pb *b, int field, uint64_t v)      /* wire type 0 */
{
    pb_varint(b, (uint64_t)field << 3);
    pb_varint(b, v);
}

static void pb_message(pb *b, int field, const pb *m)  /* wire type 2 */
{
    pb_varint(b, ((uint64_t)field << 3) | 2);
    pb_varint(b, m->len);
    pb_bytes(b, m->data, m->len);
    b->failed |= m->failed;
}

static void pb_string(pb *b, int field, const char *s)
{
    size_t n = strlen(s);
    pb_varint(b, ((uint64_t)field << 3) | 2);
    pb_varint(b, n);
    pb_bytes(b, s, n);
}

/* ---------------------------------------------------------------------- */
/* Interning: strings, functions, locations                                */
/* ---------------------------------------------------------------------- */

/* Both tables are looked up once per frame and label: through a hash
 * index (hash.c), as a linear search made 100,000 functions take 25 s. */
typedef struct strings {
    const char **items;
    size_t       n, cap;
    ls_index     index;         /* string -> its item (intern only) */
} strings;

typedef struct string_key { const strings *t; const char *s; } string_key;

static bool same_string(const void *ctx, size_t i)
{
    const string_key *k = ctx;
    return strcmp(k->t->items[i], k->s) == 0;
}

static uint64_t intern(strings *t, const char *s)
{
    if (!s)
        s = "";
    uint64_t h = ls_hash_string(s);
    size_t i = ls_index_find(&t->index, h, same_string, &(string_key){ t, s });
    if (i != SIZE_MAX)
        return i;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        const char **grown = realloc(t->items, cap * sizeof *grown);
        if (!grown)
            return 0;
        t->items = grown;
        t->cap = cap;
    }
    if (ls_index_add(&t->index, h, t->n) != 0)
        return 0;
    t->items[t->n] = s;
    return t->n++;
}

typedef struct ids {
    uint64_t *keys;             /* pc, or string index of a function name */
    uint64_t *extra;            /* function: file string */
    size_t    n, cap;
    ls_index  index;            /* (key, extra) -> id - 1 */
} ids;

typedef struct id_key { const ids *t; uint64_t key, extra; } id_key;

static bool same_id(const void *ctx, size_t i)
{
    const id_key *k = ctx;
    return k->t->keys[i] == k->key && k->t->extra[i] == k->extra;
}

static uint64_t id_of(ids *t, uint64_t key, uint64_t extra, bool *fresh)
{
    *fresh = false;
    uint64_t pair[2] = { key, extra };
    uint64_t h = ls_hash_bytes(pair, sizeof pair);
    size_t i = ls_index_find(&t->index, h, same_id, &(id_key){ t, key, extra });
    if (i != SIZE_MAX)
        return i + 1;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        uint64_t *k = realloc(t->keys, cap * sizeof *k);
        if (!k)
            return 0;
        t->keys = k;
        uint64_t *e = realloc(t->extra, cap * sizeof *e);
        if (!e)
            return 0;
        t->extra = e;
        t->cap = cap;
    }
    if (ls_index_add(&t->index, h, t->n) != 0)
        return 0;
    t->keys[t->n] = key;
    t->extra[t->n] = extra;
    *fresh = true;
    return ++t->n;
}

/* ---------------------------------------------------------------------- */

/* Strings made here, freed with the profile. */
static bool keep_string(strings *owned, const char *s)
{
    if (owned->n == owned->cap) {
        size_t cap = owned->cap ? owned->cap * 2 : 16;
        const char **grown = realloc(owned->items, cap * sizeof *grown);
        if (!grown)
            return false;
        owned->items = grown;
        owned->cap = cap;
    }
    owned->items[owned->n++] = s;
    return true;
}

/* What the profile's tables are built in. */
typedef struct tables {
    strings str, owned;
    ids     fns, locs;
    pb      functions, locations;
} tables;

/* The Function id of fr's function (by name and file), added when new. */
static uint64_t function_of(tables *t, const ls_frame *fr)
{
    uint64_t name = intern(&t->str, fr->function ? fr->function : "?");
    /* pprof -list opens the file: give it a path that works. */
    char path[4096], *joined = NULL;
    const char *shown = ls_frame_path(fr, path, sizeof path);
    if (shown && shown != fr->file && (!(joined = strdup(shown)) || !keep_string(&t->owned, joined))) {
        free(joined);
        joined = NULL;
    }
    uint64_t file = intern(&t->str, joined ? joined : fr->file);
    bool fresh;
    uint64_t fn = id_of(&t->fns, name, file, &fresh);
    if (fresh) {
        pb m = { 0 };
        pb_uint(&m, 1, fn);
        pb_uint(&m, 2, name);
        pb_uint(&m, 3, name);
        pb_uint(&m, 4, file);
        pb_message(&t->functions, 5, &m);
        free(m.data);
    }
    return fn;
}

/* The Location id of one PC, whose frames are fr[0 .. n): one Line each,
 * innermost first, as pprof wants inlined functions (its -top, -list and
 * -traces then show them). Added when new. */
static uint64_t location_of(tables *t, const ls_frame *fr, size_t n)
{
    bool fresh;
    uint64_t loc = id_of(&t->locs, fr->pc, 0, &fresh);
    if (!fresh)
        return loc;
    pb m = { 0 };
    pb_uint(&m, 1, loc);
    pb_uint(&m, 2, 1);                      /* the one mapping */
    pb_uint(&m, 3, fr->pc);
    for (size_t i = 0; i < n; i++) {
        pb line = { 0 };
        pb_uint(&line, 1, function_of(t, &fr[i]));
        pb_uint(&line, 2, (uint64_t)(fr[i].line > 0 ? fr[i].line : 0));
        pb_message(&m, 4, &line);
        free(line.data);
    }
    pb_message(&t->locations, 4, &m);
    free(m.data);
    return loc;
}

/* How many frames from f on stand for f's PC: f, the frames inlined
 * there, and the real function after them. */
static size_t frames_of_pc(const ls_stack *st, size_t f)
{
    size_t end = f;
    while (end + 1 < st->nframes && st->frames[end].inlined && st->frames[end + 1].pc == st->frames[f].pc)
        end++;
    return end - f + 1;
}

typedef struct task_set { int32_t set; size_t task; } task_set;

static int compare_task_sets(const void *a, const void *b)
{
    const task_set *x = a, *y = b;
    return x->set < y->set ? -1 : x->set > y->set;
}

/* A Label message (key and str are string-table indexes) into a sample. */
static void add_label(pb *sample, uint64_t key, uint64_t value)
{
    pb label = { 0 };
    pb_uint(&label, 1, key);
    pb_uint(&label, 2, value);
    pb_message(sample, 3, &label);
    if (label.failed)
        sample->failed = true;
    free(label.data);
}

int ls_report_pprof(const char *out_path, const ls_snapshot *s, const ls_report *r, ls_error *err)
{
    pb profile = { 0 };
    tables tab = { 0 };
    strings *str = &tab.str;
    intern(str, "");                                    /* index 0 is "" */

    pb vt = { 0 }, bytes_type = { 0 };
    pb_uint(&vt, 1, intern(str, "goroutineleak"));
    pb_uint(&vt, 2, intern(str, "count"));
    pb_message(&profile, 1, &vt);                       /* sample_type */
    free(vt.data);
    /* The heap each sample's tasks hold (retained.c): -sample_index=retained. */
    pb_uint(&bytes_type, 1, intern(str, "retained"));
    pb_uint(&bytes_type, 2, intern(str, "bytes"));
    pb_message(&profile, 1, &bytes_type);
    free(bytes_type.data);

    uint64_t label_key = intern(str, "wait_reason");
    for (size_t g = 0; g < r->ngroups; g++) {
        const ls_group *grp = &r->groups[g];
        pb stack = { 0 };                               /* the sample's location ids */
        for (size_t f = 0, n; f < grp->stack.nframes; f += n) {
            n = frames_of_pc(&grp->stack, f);
            pb_uint(&stack, 1, location_of(&tab, &grp->stack.frames[f], n));
        }
        const char *reason = ls_group_reason(s, grp->wait_reason);
        /* One sample per label set among the group's tasks (lrt_label_set),
         * its labels beside wait_reason, as pprof's goroutine profiles have. */
        task_set *sets = malloc((grp->count ? grp->count : 1) * sizeof *sets);
        if (!sets) {
            free(stack.data);
            profile.failed = true;
            break;
        }
        for (size_t t = 0; t < grp->count; t++) {
            int32_t set = s->rt->tasks[grp->tasks[t]].label_set;
            sets[t].set = set >= 0 && (size_t)set < s->rt->nlabel_sets ? set : -1;
            sets[t].task = grp->tasks[t];
        }
        qsort(sets, grp->count, sizeof *sets, compare_task_sets);
        for (size_t t = 0; t < grp->count;) {
            size_t run = 0;
            uint64_t held = 0;                          /* bytes they hold (retained.c) */
            for (; t + run < grp->count && sets[t + run].set == sets[t].set; run++)
                held += r->task_retained ? r->task_retained[sets[t + run].task] : 0;
            pb sample = { 0 };
            pb_bytes(&sample, stack.data, stack.len);
            pb_uint(&sample, 2, run);
            pb_uint(&sample, 2, held);
            add_label(&sample, label_key, intern(str, reason));
            const ls_label_set *labels = sets[t].set >= 0 ? &s->rt->label_sets[sets[t].set] : NULL;
            for (uint32_t k = 0; labels && k < labels->count; k++)
                add_label(&sample, intern(str, labels->labels[k].key),
                          intern(str, labels->labels[k].value));
            pb_message(&profile, 2, &sample);
            free(sample.data);
            t += run;
        }
        free(sets);
        free(stack.data);
    }
    /* One mapping that says symbols are already resolved, so pprof does not
     * look for the binaries. */
    pb mapping = { 0 };
    pb_uint(&mapping, 1, 1);
    pb_uint(&mapping, 2, 0);
    pb_uint(&mapping, 3, UINT64_MAX >> 1);
    pb_uint(&mapping, 5, intern(str, s->exe_path));
    pb_uint(&mapping, 7, 1);
    pb_uint(&mapping, 8, 1);
    pb_uint(&mapping, 9, 1);
    pb_message(&profile, 3, &mapping);
    free(mapping.data);
    pb_bytes(&profile, tab.locations.data, tab.locations.len);
    pb_bytes(&profile, tab.functions.data, tab.functions.len);
    pb period = { 0 };                                 /* period_type: the same */
    pb_uint(&period, 1, intern(str, "goroutineleak"));
    pb_uint(&period, 2, intern(str, "count"));
    for (size_t i = 0; i < str->n; i++)                /* every string is in */
        pb_string(&profile, 6, str->items[i]);
    pb_uint(&profile, 9, (uint64_t)s->core->note.time_unix_ns);
    pb_message(&profile, 11, &period);
    free(period.data);
    pb_uint(&profile, 12, 1);
    pb_uint(&profile, 14, intern(str, "goroutineleak"));   /* default_sample_type */

    int status = 0;
    if (profile.failed || tab.locations.failed || tab.functions.failed) {
        status = ls_error_set(err, out_path, "out of memory encoding the profile");
    } else {
        gzFile gz = gzopen(out_path, "wb");
        if (!gz || gzwrite(gz, profile.data, (unsigned)profile.len) != (int)profile.len ||
            gzclose(gz) != Z_OK)
            status = ls_error_set(err, out_path, "cannot write the pprof profile");
    }
    free(profile.data);
    free(tab.locations.data);
    free(tab.functions.data);
    free(str->items);
    ls_index_free(&str->index);
    for (size_t i = 0; i < tab.owned.n; i++)
        free((char *)tab.owned.items[i]);
    free(tab.owned.items);
    free(tab.fns.keys);
    free(tab.fns.extra);
    ls_index_free(&tab.fns.index);
    free(tab.locs.keys);
    free(tab.locs.extra);
    ls_index_free(&tab.locs.index);
    return status;
}

/*
 * merge.c — the results of several files of one program merged into one,
 * as pprof merges profiles (fleet.c runs the analyses and feeds them in
 * here, in the files' order).
 *
 * Each input is a result of schema 2, grouped by stack, with nothing
 * suppressed. Groups merge when their symbolised stacks agree frame by
 * frame (function and offset, file and line, inlined or not; the PC of a
 * frame with no symbol), with the same wait reason and verdict: the PCs of
 * one piece of code differ between processes (ASLR), its function and
 * offset do not. The output is schema 3: schema 2 plus a "files" table,
 * each task naming its file, so that it loads as any saved result does
 * (json_load.c) and every view, --group-by and the suppressions then work
 * on it unchanged.
 *
 * The views group a loaded result again by PC (group.c), so two different
 * stacks must never carry the same PC: a PC whose code differs from the
 * code an earlier file had there (another build, another library at that
 * address) is given a stand-in PC of its own.
 */
#include "leakscan.h"
#include "merge.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Distinct strings, each with its index (owned here). */
typedef struct keyset {
    char   **keys;
    size_t   n, cap;
    ls_index index;
} keyset;

typedef struct key_ctx { const keyset *k; const char *key; } key_ctx;

static bool same_key(const void *ctx, size_t i)
{
    const key_ctx *c = ctx;
    return strcmp(c->k->keys[i], c->key) == 0;
}

/* The index of key (taken over) in k, *added if it is new; SIZE_MAX: out
 * of memory. */
static size_t keyset_put(keyset *k, char *key, bool *added)
{
    *added = false;
    if (!key)
        return SIZE_MAX;
    uint64_t h = ls_hash_string(key);
    size_t i = ls_index_find(&k->index, h, same_key, &(key_ctx){ k, key });
    if (i != SIZE_MAX) {
        free(key);
        return i;
    }
    if (k->n == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 64;
        char **grown = realloc(k->keys, cap * sizeof *grown);
        if (!grown) {
            free(key);
            return SIZE_MAX;
        }
        k->keys = grown;
        k->cap = cap;
    }
    if (ls_index_add(&k->index, h, k->n) != 0) {
        free(key);
        return SIZE_MAX;
    }
    k->keys[k->n] = key;
    *added = true;
    return k->n++;
}

static void keyset_free(keyset *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->keys[i]);
    free(k->keys);
    ls_index_free(&k->index);
}

/* A growing string; NULL data after a failed allocation. */
typedef struct text { char *data; size_t len, cap; bool failed; } text;

static void append(text *t, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        size_t room = t->cap - t->len;
        va_start(ap, fmt);
        int n = t->failed ? -1 : vsnprintf(t->data ? t->data + t->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if ((size_t)n < room) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap + (size_t)n + 1) * 2;
        char *grown = realloc(t->data, cap);
        if (!grown) {
            t->failed = true;
            return;
        }
        t->data = grown;
        t->cap = cap;
    }
}

/* The text's string, handed over (NULL after a failure). */
static char *take(text *t)
{
    if (t->failed || !t->data) {
        free(t->data);
        return NULL;
    }
    return t->data;
}

static const char *string_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double number_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* A frame as the merge compares it. */
static void frame_key(text *t, const cJSON *f)
{
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(f, "function");
    if (cJSON_IsString(fn))
        append(t, "F%s+%.17g\x1f%s:%.17g%s\x1e", fn->valuestring, number_of(f, "offset"),
               string_of(f, "file"), number_of(f, "line"),
               cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(f, "inlined")) ? "\x1fi" : "");
    else
        append(t, "P%s\x1e", string_of(f, "pc"));
}

struct ls_merge {
    cJSON   *root, *files, *label_sets, *sites, *groups;
    keyset   site_keys, group_keys, pc_units;
    cJSON  **group_items;        /* per group key */
    uint64_t *unit_pc;           /* per PC unit key: its PC */
    uint64_t *pcs;               /* PCs in use, and their unit (pc_unit) */
    size_t   *pc_unit, npcs, pcs_cap;
    ls_index  pc_index;
    uint64_t  next_standin;
    char     *program;           /* the first file's exe and build-id */
    const char *program_file;
    bool      warned;
    double    tasks, leaked, suppressed, unknown, bytes, objects;
};

ls_merge *ls_merge_new(void)
{
    ls_merge *m = calloc(1, sizeof *m);
    if (!m || !(m->root = cJSON_CreateObject())) {
        free(m);
        return NULL;
    }
    cJSON_AddNumberToObject(m->root, "schema", 3);
    m->files = cJSON_AddArrayToObject(m->root, "files");
    m->label_sets = cJSON_AddArrayToObject(m->root, "label_sets");
    m->sites = cJSON_AddArrayToObject(m->root, "sites");
    m->groups = cJSON_AddArrayToObject(m->root, "groups");
    m->next_standin = UINT64_C(0xfff0000000000000);
    if (!m->files || !m->label_sets || !m->sites || !m->groups) {
        ls_merge_free(m);
        return NULL;
    }
    return m;
}

void ls_merge_free(ls_merge *m)
{
    if (!m)
        return;
    cJSON_Delete(m->root);
    keyset_free(&m->site_keys);
    keyset_free(&m->group_keys);
    keyset_free(&m->pc_units);
    free(m->group_items);
    free(m->unit_pc);
    free(m->pcs);
    free(m->pc_unit);
    ls_index_free(&m->pc_index);
    free(m->program);
    free(m);
}

typedef struct pc_ctx { const ls_merge *m; uint64_t pc; } pc_ctx;

static bool same_pc(const void *ctx, size_t i)
{
    const pc_ctx *c = ctx;
    return c->m->pcs[i] == c->pc;
}

/* The PC that the code of unit (frames that share one PC: the inlined
 * ones, then the one they are inlined into) goes by in the merged result:
 * its own, unless another unit has it already. 0: out of memory. */
static uint64_t unit_pc(ls_merge *m, char *unit, uint64_t pc)
{
    bool added;
    size_t u = keyset_put(&m->pc_units, unit, &added);
    if (u == SIZE_MAX)
        return 0;
    if (!added)
        return m->unit_pc[u];
    uint64_t *grown = realloc(m->unit_pc, m->pc_units.cap * sizeof *grown);
    if (!grown)
        return 0;
    m->unit_pc = grown;
    uint64_t h = ls_hash_bytes(&pc, sizeof pc);
    if (ls_index_find(&m->pc_index, h, same_pc, &(pc_ctx){ m, pc }) != SIZE_MAX) {
        pc = m->next_standin;                /* taken by other code: a stand-in */
        m->next_standin += 16;
        h = ls_hash_bytes(&pc, sizeof pc);
    }
    if (m->npcs == m->pcs_cap) {
        size_t cap = m->pcs_cap ? 2 * m->pcs_cap : 256;
        uint64_t *p = realloc(m->pcs, cap * sizeof *p);
        if (!p)
            return 0;
        m->pcs = p;
        m->pcs_cap = cap;
    }
    if (ls_index_add(&m->pc_index, h, m->npcs) != 0)
        return 0;
    m->pcs[m->npcs++] = pc;
    m->unit_pc[u] = pc;
    return pc;
}

/* A new group's frames, their PCs made the merged result's. -1: out of
 * memory. */
static int canonical_pcs(ls_merge *m, cJSON *frames)
{
    cJSON *first = frames ? frames->child : NULL;
    while (first) {
        text unit = { 0 };
        cJSON *f = first;
        for (; f; f = f->next) {             /* up to the frame not inlined */
            frame_key(&unit, f);
            if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(f, "inlined")))
                break;
        }
        const char *pc_text = string_of(first, "pc");
        uint64_t pc = unit_pc(m, take(&unit), strtoull(pc_text, NULL, 16));
        if (!pc)
            return -1;
        char hex[32];
        snprintf(hex, sizeof hex, "0x%" PRIx64, pc);
        cJSON *end = f ? f->next : NULL;
        for (cJSON *g = first; g != end; g = g->next)
            if (!cJSON_ReplaceItemInObjectCaseSensitive(g, "pc", cJSON_CreateString(hex)))
                cJSON_AddStringToObject(g, "pc", hex);
        first = end;
    }
    return 0;
}

/* An index into the file's sites, made one into the merged sites. */
static void remap(cJSON *o, const char *key, const size_t *map, size_t n)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v))
        return;
    if (v->valuedouble >= 0 && v->valuedouble < (double)n)
        cJSON_SetNumberValue(v, (double)map[(size_t)v->valuedouble]);
    else
        cJSON_DeleteItemFromObjectCaseSensitive(o, key);    /* no such site: unknown */
}

/* A task's facts, made the merged result's: its file, its label set's
 * and its creators' indexes. */
static void rewrite_task(cJSON *e, size_t file, size_t nown, double label_offset, double nlabels,
                         const size_t *site_map, size_t nsites)
{
    cJSON *l = cJSON_GetObjectItemCaseSensitive(e, "labels");
    if (cJSON_IsNumber(l) && l->valuedouble >= 0 && l->valuedouble < nlabels)
        cJSON_SetNumberValue(l, l->valuedouble + label_offset);
    else if (l)
        cJSON_DeleteItemFromObjectCaseSensitive(e, "labels");
    remap(e, "created_by", site_map, nsites);
    cJSON *an = cJSON_GetObjectItemCaseSensitive(e, "ancestry"), *x;
    if (!cJSON_IsArray(an))
        an = NULL;
    cJSON_ArrayForEach(x, an)
        remap(x, "created_by", site_map, nsites);
    cJSON *f = cJSON_GetObjectItemCaseSensitive(e, "file");
    double own = cJSON_IsNumber(f) && f->valuedouble >= 0 && f->valuedouble < (double)nown ?
                 (double)(size_t)f->valuedouble : 0;
    cJSON_DeleteItemFromObjectCaseSensitive(e, "file");
    cJSON_AddNumberToObject(e, "file", (double)file + own);
}

static void add_number(cJSON *o, const char *key, double v)
{
    cJSON *n = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsNumber(n))
        cJSON_SetNumberValue(n, n->valuedouble + v);
    else
        cJSON_AddNumberToObject(o, key, v);
}

/* Group g (taken over) folded into the merged group o. */
static void fold(cJSON *o, cJSON *g)
{
    add_number(o, "count", number_of(g, "count"));
    cJSON *held = cJSON_GetObjectItemCaseSensitive(o, "retained");
    const cJSON *gh = cJSON_GetObjectItemCaseSensitive(g, "retained");
    if (cJSON_IsObject(held) && cJSON_IsObject(gh)) {
        static const char *const keys[] = { "bytes", "objects", "shared_bytes", "shared_objects" };
        for (size_t k = 0; k < 4; k++)
            add_number(held, keys[k], number_of(gh, keys[k]));
    }
    cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "wait_ns");
    const cJSON *gw = cJSON_GetObjectItemCaseSensitive(g, "wait_ns");
    if (cJSON_IsObject(w) && cJSON_IsObject(gw)) {
        double lo = number_of(gw, "min"), hi = number_of(gw, "max");
        cJSON *min = cJSON_GetObjectItemCaseSensitive(w, "min"), *max = cJSON_GetObjectItemCaseSensitive(w, "max");
        if (cJSON_IsNumber(min) && lo < min->valuedouble)
            cJSON_SetNumberValue(min, lo);
        if (cJSON_IsNumber(max) && hi > max->valuedouble)
            cJSON_SetNumberValue(max, hi);
    }
    static const char *const lists[] = { "tasks", "task_info" };
    for (size_t k = 0; k < 2; k++) {
        cJSON *to = cJSON_GetObjectItemCaseSensitive(o, lists[k]);
        cJSON *from = cJSON_GetObjectItemCaseSensitive(g, lists[k]), *e;
        if (!cJSON_IsArray(to) || !cJSON_IsArray(from))
            continue;
        while ((e = from->child))
            cJSON_AddItemToArray(to, cJSON_DetachItemViaPointer(from, e));
    }
    cJSON_Delete(g);
}

/* The program a result is of, as text ("" if it does not say). */
static char *program_of(const cJSON *doc)
{
    text t = { 0 };
    append(&t, "%s (build-id %s)", string_of(doc, "exe"), *string_of(doc, "build_id") ?
           string_of(doc, "build_id") : "unknown");
    return take(&t);
}

int ls_merge_add(ls_merge *m, const char *path, cJSON *doc, bool quiet, ls_error *err)
{
    cJSON *groups = cJSON_GetObjectItemCaseSensitive(doc, "groups");
    if (!cJSON_IsArray(groups))
        return ls_error_set(err, path, "not a leakscan JSON result (no \"groups\" array)");
    size_t file = (size_t)cJSON_GetArraySize(m->files);

    /* The file's own header, for the views; a merged result brings the
     * files it was made of. */
    cJSON *own = cJSON_GetObjectItemCaseSensitive(doc, "files"), *info;
    size_t nown = cJSON_IsArray(own) ? (size_t)cJSON_GetArraySize(own) : 0;
    if (nown > 1) {
        while ((info = own->child))
            cJSON_AddItemToArray(m->files, cJSON_DetachItemViaPointer(own, info));
    } else {
        nown = 1;
        info = cJSON_CreateObject();
        cJSON_AddItemToArray(m->files, info);
        cJSON_AddStringToObject(info, "file", path);
        static const char *const copied[] = { "pid", "time", "reason", "exe", "build_id", "wait_clock",
                                              "tasks", "leaked", "unknown", "missing" };
        for (size_t k = 0; k < sizeof copied / sizeof *copied; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, copied[k]);
            if (v)
                cJSON_AddItemToObject(info, copied[k], cJSON_Duplicate(v, true));
        }
    }
    char *program = program_of(doc);
    if (!program)
        return ls_error_set(err, path, "out of memory");
    if (!m->program) {
        m->program = program;
        m->program_file = path;
    } else {
        if (strcmp(program, m->program) != 0 && !m->warned && !quiet) {
            fprintf(stderr, "leakscan: warning: %s is of another program than %s (%s, not %s): "
                    "their groups merge only where the symbolised stacks agree\n",
                    path, m->program_file, program, m->program);
            m->warned = true;
        }
        free(program);
    }
    m->tasks += number_of(doc, "tasks");
    m->suppressed += number_of(doc, "suppressed");
    m->unknown += number_of(doc, "unknown");
    m->bytes += number_of(doc, "retained_bytes");
    m->objects += number_of(doc, "retained_objects");
    static const char *const firsts[] = { "missing", "roots_note", "wait_clock", "pid", "time", "reason",
                                          "exe", "build_id" };
    for (size_t k = 0; k < sizeof firsts / sizeof *firsts; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, firsts[k]);
        if (v && !cJSON_GetObjectItemCaseSensitive(m->root, firsts[k]))
            cJSON_AddItemToObject(m->root, firsts[k], cJSON_Duplicate(v, true));
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "main_blocked")) &&
        !cJSON_GetObjectItemCaseSensitive(m->root, "main_blocked"))
        cJSON_AddTrueToObject(m->root, "main_blocked");

    /* Label sets follow the earlier files' (tasks' indexes move up). */
    double label_offset = cJSON_GetArraySize(m->label_sets), nlabels = 0;
    cJSON *sets = cJSON_GetObjectItemCaseSensitive(doc, "label_sets"), *e;
    while (cJSON_IsArray(sets) && (e = sets->child)) {
        cJSON_AddItemToArray(m->label_sets, cJSON_DetachItemViaPointer(sets, e));
        nlabels++;
    }
    /* Sites are shared between the files where the code is the same. */
    cJSON *sites = cJSON_GetObjectItemCaseSensitive(doc, "sites");
    size_t nsites = cJSON_IsArray(sites) ? (size_t)cJSON_GetArraySize(sites) : 0, k = 0;
    size_t *site_map = calloc(nsites ? nsites : 1, sizeof *site_map);
    if (!site_map)
        return ls_error_set(err, path, "out of memory");
    while (nsites && (e = sites->child)) {
        cJSON_DetachItemViaPointer(sites, e);
        text key = { 0 };
        frame_key(&key, e);
        bool added;
        size_t at = keyset_put(&m->site_keys, take(&key), &added);
        if (at == SIZE_MAX) {
            cJSON_Delete(e);
            free(site_map);
            return ls_error_set(err, path, "out of memory");
        }
        if (added)
            cJSON_AddItemToArray(m->sites, e);
        else
            cJSON_Delete(e);
        site_map[k++] = at;
    }

    int status = 0;
    while (status == 0 && (e = groups->child)) {
        cJSON_DetachItemViaPointer(groups, e);
        m->leaked += cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(e, "leaked")) ? 0 : number_of(e, "count");
        cJSON *ti = cJSON_GetObjectItemCaseSensitive(e, "task_info"), *x;
        if (!cJSON_IsArray(ti))
            ti = NULL;
        cJSON_ArrayForEach(x, ti)
            rewrite_task(x, file, nown, label_offset, nlabels, site_map, nsites);
        text key = { 0 };
        append(&key, "%s\x1d%s\x1d", string_of(e, "wait_reason"), string_of(e, "verdict"));
        cJSON *fr = cJSON_GetObjectItemCaseSensitive(e, "frames");
        if (!cJSON_IsArray(fr))
            fr = NULL;
        cJSON_ArrayForEach(x, fr)
            frame_key(&key, x);
        bool added;
        size_t at = keyset_put(&m->group_keys, take(&key), &added);
        cJSON **grown = at == SIZE_MAX ? NULL : realloc(m->group_items, m->group_keys.cap * sizeof *grown);
        if (!grown) {
            cJSON_Delete(e);
            status = ls_error_set(err, path, "out of memory");
            break;
        }
        m->group_items = grown;
        if (!added) {
            fold(m->group_items[at], e);
            continue;
        }
        if (canonical_pcs(m, fr) != 0) {
            cJSON_Delete(e);
            status = ls_error_set(err, path, "out of memory");
            break;
        }
        m->group_items[at] = e;
        cJSON_AddItemToArray(m->groups, e);
    }
    free(site_map);
    return status;
}

cJSON *ls_merge_finish(ls_merge *m)
{
    cJSON *r = m->root;
    cJSON_AddNumberToObject(r, "tasks", m->tasks);
    cJSON_AddNumberToObject(r, "leaked", m->leaked);
    cJSON_AddNumberToObject(r, "suppressed", m->suppressed);
    cJSON_AddNumberToObject(r, "unknown", m->unknown);
    cJSON_AddNumberToObject(r, "retained_bytes", m->bytes);
    cJSON_AddNumberToObject(r, "retained_objects", m->objects);
    m->root = NULL;
    return r;
}

/*
 * merge.c — the results of several files of one program merged into one,
 * as pprof merges profiles (fleet.c runs the analyses and feeds them in
 * here, in the files' order).
 *
 * Each input is a result of schema 2, grouped by stack, with nothing
 * suppressed, whose tasks come as facts (facts.h) beside the JSON of its
 * groups: at 400,000 tasks, a cJSON object per task field made the
 * parent 620 MB and most of the time. Groups merge when their symbolised stacks agree frame by
 * frame (function and offset, file and line, inlined or not; the PC of a
 * frame with no symbol), with the same wait reason and verdict: the PCs of
 * one piece of code differ between processes (ASLR), its function and
 * offset do not. The output is schema 3: schema 2 plus a "files" table,
 * each task naming its file, its tasks' facts group after group, so that
 * it loads as any saved result does (json_load.c) and every view, --group-by and the suppressions then work
 * on it unchanged.
 *
 * The views group a loaded result again by PC (group.c), so two different
 * stacks must never carry the same PC: a PC whose code differs from the
 * code an earlier file had there (another build, another library at that
 * address) is given a stand-in PC of its own.
 */
#include "leakscan.h"
#include "merge.h"
#include "facts.h"

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

/* A group of one file: its tasks, a run of that file's, in a merged group. */
typedef struct piece {
    size_t group, file;          /* merged group; into file_facts */
    size_t first, count, first_ancestor, nancestors;
} piece;

struct ls_merge {
    cJSON   *root, *files, *label_sets, *sites, *groups;
    keyset   site_keys, group_keys, pc_units;
    cJSON  **group_items;        /* per group key */
    uint64_t *unit_pc;           /* per PC unit key: its PC */
    uint64_t *pcs;               /* PCs in use, and their unit (pc_unit) */
    size_t   *pc_unit, npcs, pcs_cap;
    ls_index  pc_index;
    uint64_t  next_standin;
    ls_facts *file_facts;        /* per file added: its tasks, rewritten */
    size_t    nfile_facts;
    piece    *pieces;            /* runs of a file's tasks, each in a merged group */
    size_t    npieces, pieces_cap;
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
    for (size_t i = 0; i < m->nfile_facts; i++)
        ls_facts_free(&m->file_facts[i]);
    free(m->file_facts);
    free(m->pieces);
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

/* A file's task facts, made the merged result's: their file, label sets
 * and creators' indexes (no such site: unknown). */
#define remap(site, map, n) ((site) < (n) ? (map)[site] : LS_FACT_NONE)
static void rewrite_tasks(ls_facts *f, size_t file, size_t nown, uint64_t label_offset, uint64_t nlabels,
                          const size_t *site_map, size_t nsites)
{
    for (size_t i = 0; i < f->ntasks; i++) {
        ls_fact *t = &f->tasks[i];
        t->labels = t->labels < nlabels ? t->labels + label_offset : LS_FACT_NONE;
        t->created_by = remap(t->created_by, site_map, nsites);
        t->file = file + (t->file < nown ? t->file : 0);
    }
    for (size_t i = 0; i < f->nancestors; i++)
        f->ancestors[i].created_by = remap(f->ancestors[i].created_by, site_map, nsites);
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

/* A group's task count, as a size. */
static size_t count_of(const cJSON *g)
{
    double n = number_of(g, "count");
    return n > 0 && n < (double)UINT32_MAX ? (size_t)n : 0;
}

/* facts, taken over, kept with m: 0, or -1 when they do not agree with
 * the groups (each group has its count of them, in order). */
static int keep_facts(ls_merge *m, const cJSON *groups, ls_facts *facts, const char *path, ls_error *err)
{
    ls_facts f = *facts;
    *facts = (ls_facts){ 0 };
    size_t ntasks = 0, nanc = 0;
    const cJSON *g;
    cJSON_ArrayForEach(g, groups)
        ntasks += count_of(g);
    for (size_t i = 0; i < f.ntasks; i++)
        nanc += f.tasks[i].nancestry;
    if (ntasks != f.ntasks || nanc != f.nancestors) {
        ls_facts_free(&f);
        return ls_error_set(err, path, "its worker passed on groups and tasks that do not agree");
    }
    ls_facts *grown = realloc(m->file_facts, (m->nfile_facts + 1) * sizeof *grown);
    if (!grown) {
        ls_facts_free(&f);
        return ls_error_set(err, path, "out of memory");
    }
    m->file_facts = grown;
    m->file_facts[m->nfile_facts++] = f;
    return 0;
}

/* The run of tasks [*first, +count) of the last file kept, in merged
 * group at; *first and *ancestor move past it. */
static int add_piece(ls_merge *m, size_t at, size_t count, size_t *first, size_t *ancestor)
{
    if (m->npieces == m->pieces_cap) {
        size_t cap = m->pieces_cap ? 2 * m->pieces_cap : 256;
        piece *grown = realloc(m->pieces, cap * sizeof *grown);
        if (!grown)
            return -1;
        m->pieces = grown;
        m->pieces_cap = cap;
    }
    const ls_facts *f = &m->file_facts[m->nfile_facts - 1];
    size_t nanc = 0;
    for (size_t i = *first; i < *first + count; i++)
        nanc += f->tasks[i].nancestry;
    m->pieces[m->npieces++] = (piece){ at, m->nfile_facts - 1, *first, count, *ancestor, nanc };
    *first += count;
    *ancestor += nanc;
    return 0;
}

int ls_merge_add(ls_merge *m, const char *path, cJSON *doc, ls_facts *facts, bool quiet, ls_error *err)
{
    cJSON *groups = cJSON_GetObjectItemCaseSensitive(doc, "groups");
    if (!cJSON_IsArray(groups)) {
        ls_facts_free(facts);
        return ls_error_set(err, path, "not a leakscan JSON result (no \"groups\" array)");
    }
    if (keep_facts(m, groups, facts, path, err) != 0)
        return -1;
    ls_facts *tasks = &m->file_facts[m->nfile_facts - 1];
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
    uint64_t label_offset = (uint64_t)cJSON_GetArraySize(m->label_sets), nlabels = 0;
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

    rewrite_tasks(tasks, file, nown, label_offset, nlabels, site_map, nsites);
    free(site_map);

    int status = 0;
    size_t first = 0, ancestor = 0;
    while (status == 0 && (e = groups->child)) {
        cJSON_DetachItemViaPointer(groups, e);
        size_t count = count_of(e);
        m->leaked += cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(e, "leaked")) ? 0 : (double)count;
        cJSON *x;
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
        if (add_piece(m, at, count, &first, &ancestor) != 0) {
            cJSON_Delete(e);
            status = ls_error_set(err, path, "out of memory");
            break;
        }
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
    return status;
}

/* The tasks of the merged groups, group after group, each group's in the
 * files' order. -1: out of memory. */
static int gather_facts(ls_merge *m, ls_facts *out)
{
    size_t ngroups = m->group_keys.n;
    size_t *at = calloc(ngroups + 1, sizeof *at), *anc_at = calloc(ngroups + 1, sizeof *anc_at);
    if (!at || !anc_at) {
        free(at), free(anc_at);
        return -1;
    }
    for (size_t i = 0; i < m->npieces; i++) {       /* sizes, then where each group starts */
        at[m->pieces[i].group + 1] += m->pieces[i].count;
        anc_at[m->pieces[i].group + 1] += m->pieces[i].nancestors;
    }
    for (size_t g = 0; g < ngroups; g++) {
        at[g + 1] += at[g];
        anc_at[g + 1] += anc_at[g];
    }
    size_t ntasks = at[ngroups], nanc = anc_at[ngroups];
    out->tasks = malloc((ntasks ? ntasks : 1) * sizeof *out->tasks);
    out->ancestors = malloc((nanc ? nanc : 1) * sizeof *out->ancestors);
    if (!out->tasks || !out->ancestors) {
        free(at), free(anc_at);
        ls_facts_free(out);
        return -1;
    }
    for (size_t i = 0; i < m->npieces; i++) {
        const piece *p = &m->pieces[i];
        const ls_facts *f = &m->file_facts[p->file];
        memcpy(out->tasks + at[p->group], f->tasks + p->first, p->count * sizeof *out->tasks);
        memcpy(out->ancestors + anc_at[p->group], f->ancestors + p->first_ancestor,
               p->nancestors * sizeof *out->ancestors);
        at[p->group] += p->count;
        anc_at[p->group] += p->nancestors;
    }
    out->ntasks = ntasks;
    out->nancestors = nanc;
    free(at), free(anc_at);
    return 0;
}

cJSON *ls_merge_finish(ls_merge *m, ls_facts *facts)
{
    *facts = (ls_facts){ 0 };
    if (gather_facts(m, facts) != 0)
        return NULL;
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

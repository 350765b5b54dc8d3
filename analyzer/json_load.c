/*
 * json_load.c — a saved `leakscan --json` result as input to the views.
 *
 * The views read a snapshot, its analysis and an unwinder. From a JSON
 * result this file builds the same three: a snapshot that has the header
 * and one task per task id, an analysis with their verdicts, and an
 * unwinder that gives each task its group's stack and creator. A result
 * of schema 3 (several files merged, fleet.c) adds the files and each
 * task's file; one of schema 2 keeps each task's wait, labels, parent and creators too
 * ("task_info", "label_sets", "sites"); an older one gives each task its
 * group's longest wait and creator, no labels, no parents. A merged
 * result (fleet.c) comes parsed, its tasks as facts (facts.h) in place of
 * the groups' "tasks" and "task_info"; both become tasks through
 * task_facts(). The heap is
 * never kept, so `why` needs the snapshot itself.
 */
#define _GNU_SOURCE
#include "leakscan.h"
#include "facts.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ls_saved {
    cJSON       *doc;           /* owns every string the frames point to */
    ls_snapshot  snapshot;
    ls_core      core;
    ls_runtime   runtime;
    ls_analysis  analysis;
    ls_unwinder *unwinder;
    ls_stack    *group_stacks;  /* per group */
    ls_frame    *creators;      /* per group */
    uint32_t    *task_group;    /* per task: its group, for the unwinder */
    size_t       ngroups;
    ls_frame    *sites;         /* creation sites (schema 2), keyed ntasks + index */
    size_t       nsites;
    ls_label_set *label_sets;   /* (schema 2); keys and values point into doc */
    ls_label    *labels;
    ls_ancestor *ancestors;     /* what the tasks' ancestry points into */
    uint64_t    *held_bytes, *held_objects;   /* per task (schema 2): what it holds */
    ls_file_info *files;        /* (schema 3) the files merged into it */
    size_t       nfiles;
    /* A task is an id in the file (2 bytes: "1,"), so what it costs here
     * is kept to what the views need: its ls_task and these 4 bytes, not
     * a copy of its group's stack and creator (4 million ids in 8 MB took
     * 2.3 GB), and no room for registers or ancestry (reader.h). */
};

#define BASE_NS (INT64_C(1) << 62)          /* "now", for wait times */

/* A saved task's registers: none (nothing unwinds or marks it). */
static const uint64_t no_registers[LS_MAX_REGS];

static char *read_all(const char *path, ls_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        ls_error_set(err, path, "cannot open");
        return NULL;
    }
    size_t cap = 65536, len = 0;
    char *text = malloc(cap);
    size_t n;
    while (text && (n = fread(text + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (len + 1 == cap) {
            char *grown = realloc(text, cap *= 2);
            if (!grown) {
                free(text);
                text = NULL;
            }
            text = grown;
        }
    }
    fclose(f);
    if (!text) {
        ls_error_set(err, path, "out of memory");
        return NULL;
    }
    text[len] = '\0';
    return text;
}

static const char *string_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* JSON numbers are doubles, and converting one out of an integer type's
 * range is undefined behaviour (fuzzing found it, and "line": 1e300 went
 * on to overflow what was computed from it): every number this file
 * takes becomes an integer here and only here, clamped to [0, max] (NaN
 * and non-numbers: fallback). max is at most 9e18, below INT64_MAX and
 * exactly a double's, so the conversion is always defined. */
#define MAX_NUMBER UINT64_C(9000000000000000000)

static uint64_t integer_value(const cJSON *v, uint64_t max, uint64_t fallback)
{
    if (!cJSON_IsNumber(v) || v->valuedouble != v->valuedouble)
        return fallback;
    if (max > MAX_NUMBER)
        max = MAX_NUMBER;
    if (!(v->valuedouble > 0))
        return 0;
    return v->valuedouble >= (double)max ? max : (uint64_t)v->valuedouble;
}

static uint64_t integer_of(const cJSON *o, const char *key, uint64_t max, uint64_t fallback)
{
    return integer_value(cJSON_GetObjectItemCaseSensitive(o, key), max, fallback);
}

/* Every string of the document, made safe to print as it loads (reader.h,
 * ls_text_sanitize): the frames, reasons and notes the views print point
 * into it. cJSON's nesting limit bounds the recursion. */
static void sanitize_strings(cJSON *node)
{
    for (; node; node = node->next) {
        if (cJSON_IsString(node))
            ls_text_sanitize(node->valuestring);
        sanitize_strings(node->child);
    }
}

static void frame_of(const cJSON *o, ls_frame *f)
{
    memset(f, 0, sizeof *f);
    const char *pc = string_of(o, "pc");
    f->pc = pc ? strtoull(pc, NULL, 16) : 0;
    f->function = string_of(o, "function");
    f->offset = integer_of(o, "offset", UINT64_MAX, 0);
    f->file = string_of(o, "file");
    f->dir = string_of(o, "dir");
    f->line = (int)integer_of(o, "line", INT_MAX, 0);
    f->inlined = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "inlined"));
}

/* A "time" as ns since 1970; 0 if it is none. Only times an int64 of ns
 * holds (till 2262): a hostile year must not overflow the product
 * (fuzzing found it). */
static int64_t time_of(const char *when)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    time_t secs;
    if (when && strptime(when, "%Y-%m-%dT%H:%M:%SZ", &tm) && (secs = timegm(&tm)) >= 0 &&
        secs < INT64_MAX / 1000000000)
        return (int64_t)secs * 1000000000;
    return 0;
}

/* The code of a reason name, added to the runtime's table if new. */
static uint32_t reason_code(ls_runtime *rt, const char *name)
{
    for (uint32_t i = 0; i < rt->root.reason_count; i++)
        if (strcmp(rt->root.reason_names[i], name) == 0)
            return i;
    if (rt->root.reason_count == LS_MAX_REASONS)
        return 0;
    uint32_t code = rt->root.reason_count++;
    snprintf(rt->root.reason_names[code], LS_REASON_NAME_SIZE, "%s", name);
    rt->root.candidate_mask |= UINT64_C(1) << code;
    return code;
}

int ls_saved_load(const char *path, ls_saved **out, ls_snapshot **s, ls_analysis **a,
                  ls_unwinder **u, ls_error *err)
{
    *out = NULL;
    char *text = read_all(path, err);
    if (!text)
        return -1;
    return ls_saved_load_text(path, text, out, s, a, u, err);
}

/* The top-level tables of schema 2: creation sites and label sets. 0 or
 * -1 (out of memory). */
static int load_tables(ls_saved *sv)
{
    const cJSON *sites = cJSON_GetObjectItemCaseSensitive(sv->doc, "sites"), *e;
    if (cJSON_IsArray(sites)) {
        size_t n = (size_t)cJSON_GetArraySize(sites);
        if (!(sv->sites = calloc(n ? n : 1, sizeof *sv->sites)))
            return -1;
        cJSON_ArrayForEach(e, sites)
            frame_of(e, &sv->sites[sv->nsites++]);
    }
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(sv->doc, "files");
    if (cJSON_IsArray(files) && cJSON_GetArraySize(files) > 0) {
        size_t n = (size_t)cJSON_GetArraySize(files);
        if (!(sv->files = calloc(n, sizeof *sv->files)))
            return -1;
        cJSON_ArrayForEach(e, files) {
            ls_file_info *f = &sv->files[sv->nfiles++];
            const char *path = string_of(e, "file"), *when = string_of(e, "time");
            f->path = path ? path : "?";
            f->pid = integer_of(e, "pid", UINT64_MAX, 0);
            f->time_unix_ns = time_of(when);
            f->tasks = (size_t)integer_of(e, "tasks", SIZE_MAX, 0);
            f->leaked = (size_t)integer_of(e, "leaked", SIZE_MAX, 0);
        }
    }
    const cJSON *sets = cJSON_GetObjectItemCaseSensitive(sv->doc, "label_sets");
    if (!cJSON_IsArray(sets))
        return 0;
    size_t nsets = (size_t)cJSON_GetArraySize(sets), nlabels = 0;
    cJSON_ArrayForEach(e, sets)
        nlabels += cJSON_IsObject(e) ? (size_t)cJSON_GetArraySize(e) : 0;
    sv->label_sets = calloc(nsets ? nsets : 1, sizeof *sv->label_sets);
    sv->labels = calloc(nlabels ? nlabels : 1, sizeof *sv->labels);
    if (!sv->label_sets || !sv->labels)
        return -1;
    size_t k = 0, l = 0;
    cJSON_ArrayForEach(e, sets) {
        ls_label_set *set = &sv->label_sets[k++];
        set->labels = &sv->labels[l];
        const cJSON *kv, *object = cJSON_IsObject(e) ? e : NULL;
        cJSON_ArrayForEach(kv, object) {
            if (!cJSON_IsString(kv) || !kv->string || set->count == UINT32_MAX)
                continue;
            sv->labels[l++] = (ls_label){ kv->string, kv->valuestring };
            set->count++;
        }
    }
    sv->runtime.label_sets = sv->label_sets;
    sv->runtime.nlabel_sets = nsets;
    return 0;
}

/* A group's "task_info" when it has one entry per task id, else NULL. */
static const cJSON *task_info_of(const cJSON *g)
{
    const cJSON *info = cJSON_GetObjectItemCaseSensitive(g, "task_info");
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(g, "tasks");
    return cJSON_IsArray(info) && cJSON_GetArraySize(info) == cJSON_GetArraySize(ids) ? info : NULL;
}

/* A task_info entry's facts (schema 2); its ancestors to anc, which has
 * room for LS_MAX_ANCESTRY. */
static void fact_of(const cJSON *e, ls_fact *f, ls_fact_ancestor *anc)
{
    *f = (ls_fact){ 0 };
    f->retained_bytes = integer_of(e, "retained_bytes", UINT64_MAX, 0);
    f->retained_objects = integer_of(e, "retained_objects", UINT64_MAX, 0);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(e, "wait_ns");
    f->wait_ns = cJSON_IsNumber(w) ? (int64_t)integer_value(w, (uint64_t)BASE_NS - 1, 0) : -1;
    f->labels = integer_of(e, "labels", UINT64_MAX, LS_FACT_NONE);
    f->created_by = integer_of(e, "created_by", UINT64_MAX, LS_FACT_NONE);
    f->parent = integer_of(e, "parent", UINT64_MAX, 0);
    f->file = integer_of(e, "file", UINT64_MAX, 0);
    const cJSON *an = cJSON_GetObjectItemCaseSensitive(e, "ancestry"), *x;
    if (!cJSON_IsArray(an))
        an = NULL;
    cJSON_ArrayForEach(x, an) {
        if (f->nancestry == LS_MAX_ANCESTRY)
            break;
        anc[f->nancestry++] = (ls_fact_ancestor){ integer_of(x, "parent", UINT64_MAX, 0),
                                                  integer_of(x, "created_by", UINT64_MAX, LS_FACT_NONE) };
    }
}

/* Task t (at ti) given its own facts; its ancestry goes to *pool, which
 * has room. Every index is checked against its table: a file's facts
 * are as hostile as the file. */
static void task_facts(ls_saved *sv, const ls_fact *f, const ls_fact_ancestor *anc, ls_task *t, size_t ti,
                       size_t ntasks, ls_ancestor **pool)
{
    sv->held_bytes[ti] = f->retained_bytes;
    sv->held_objects[ti] = f->retained_objects;
    t->wait_since = f->wait_ns >= 0 && f->wait_ns < BASE_NS ? BASE_NS - f->wait_ns : 0;   /* 0: not known */
    if (f->labels < sv->runtime.nlabel_sets)
        t->label_set = (int32_t)f->labels;
    t->create_pc = f->created_by < sv->nsites ? ntasks + f->created_by : UINT64_MAX;   /* past every key: unknown */
    t->parent_id = f->parent;
    t->file = f->file < sv->nfiles ? (uint32_t)f->file : 0;
    t->ancestry = *pool;
    t->nancestry = 0;
    for (uint32_t k = 0; k < f->nancestry && k < LS_MAX_ANCESTRY; k++) {
        uint64_t at = anc[k].created_by;
        (*pool)[t->nancestry++] = (ls_ancestor){ 0, anc[k].parent, at < sv->nsites ? ntasks + at : UINT64_MAX };
    }
    *pool += t->nancestry;
}

int ls_saved_load_text(const char *path, char *text, ls_saved **out, ls_snapshot **s, ls_analysis **a,
                       ls_unwinder **u, ls_error *err)
{
    cJSON *doc = cJSON_Parse(text);
    free(text);
    return ls_saved_load_doc(path, doc, NULL, out, s, a, u, err);
}

/* A group's task count: its "tasks" array's, or with facts its "count";
 * SIZE_MAX: a group that has neither, or no "frames". */
static size_t group_size(const cJSON *g, bool facts)
{
    if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(g, "frames")))
        return SIZE_MAX;
    if (facts)
        return (size_t)integer_of(g, "count", UINT32_MAX, 0);
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(g, "tasks");
    return cJSON_IsArray(ids) ? (size_t)cJSON_GetArraySize(ids) : SIZE_MAX;
}

/* Room for every task's ancestry: at most LS_MAX_ANCESTRY each. */
static size_t count_ancestors(const cJSON *groups, const ls_facts *facts)
{
    size_t n = 0;
    if (facts)
        return facts->nancestors;          /* checked to be their sum: room for the clamped */
    const cJSON *g, *e;
    cJSON_ArrayForEach(g, groups) {
        const cJSON *info = task_info_of(g);
        cJSON_ArrayForEach(e, info) {
            const cJSON *an = cJSON_GetObjectItemCaseSensitive(e, "ancestry");
            size_t k = cJSON_IsArray(an) ? (size_t)cJSON_GetArraySize(an) : 0;
            n += k < LS_MAX_ANCESTRY ? k : LS_MAX_ANCESTRY;
        }
    }
    return n;
}

int ls_saved_load_doc(const char *path, cJSON *doc, ls_facts *facts, ls_saved **out, ls_snapshot **s,
                      ls_analysis **a, ls_unwinder **u, ls_error *err)
{
    *out = NULL;
    ls_facts given = { 0 };
    if (facts) {
        given = *facts;
        *facts = (ls_facts){ 0 };
    }
    ls_saved *sv = calloc(1, sizeof *sv);
    if (!sv) {
        cJSON_Delete(doc);
        ls_facts_free(&given);
        return ls_error_set(err, path, "out of memory");
    }
    sv->doc = doc;
    sanitize_strings(sv->doc);
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(sv->doc, "groups");
    if (!sv->doc || !cJSON_IsArray(groups)) {
        ls_saved_free(sv);
        ls_facts_free(&given);
        return ls_error_set(err, path, "not a leakscan JSON result (no \"groups\" array)");
    }
    size_t ngroups = (size_t)cJSON_GetArraySize(groups), ntasks = 0;
    sv->ngroups = ngroups;
    const cJSON *g;
    cJSON_ArrayForEach(g, groups) {
        size_t n = group_size(g, facts != NULL);
        if (n == SIZE_MAX) {
            ls_saved_free(sv);
            ls_facts_free(&given);
            return ls_error_set(err, path, "a group has no \"tasks\" or \"frames\" array");
        }
        ntasks += n;
    }
    size_t nanc = 0;
    for (size_t i = 0; facts && i < given.ntasks; i++)
        nanc += given.tasks[i].nancestry;
    if (facts && (ntasks != given.ntasks || nanc != given.nancestors)) {
        ls_saved_free(sv);
        ls_facts_free(&given);
        return ls_error_set(err, path, "its groups and its tasks do not agree");
    }
    size_t nancestors = count_ancestors(groups, facts ? &given : NULL);
    sv->ancestors = calloc(nancestors ? nancestors : 1, sizeof *sv->ancestors);
    sv->held_bytes = calloc(ntasks ? ntasks : 1, sizeof *sv->held_bytes);
    sv->held_objects = calloc(ntasks ? ntasks : 1, sizeof *sv->held_objects);
    if (!sv->ancestors || !sv->held_bytes || !sv->held_objects || load_tables(sv) != 0) {
        ls_saved_free(sv);
        ls_facts_free(&given);
        return ls_error_set(err, path, "out of memory");
    }
    ls_ancestor *pool = sv->ancestors;
    sv->group_stacks = calloc(ngroups ? ngroups : 1, sizeof *sv->group_stacks);
    sv->creators = calloc(ngroups ? ngroups : 1, sizeof *sv->creators);
    sv->task_group = calloc(ntasks ? ntasks : 1, sizeof *sv->task_group);
    sv->runtime.tasks = calloc(ntasks ? ntasks : 1, sizeof *sv->runtime.tasks);
    sv->analysis.verdict = calloc(ntasks ? ntasks : 1, 1);
    if (!sv->group_stacks || !sv->creators || !sv->task_group || !sv->runtime.tasks ||
        !sv->analysis.verdict || ngroups >= UINT32_MAX) {
        ls_saved_free(sv);
        ls_facts_free(&given);
        return ls_error_set(err, path, "out of memory");
    }

    size_t gi = 0, ti = 0;
    const ls_fact_ancestor *next_anc = given.ancestors;
    cJSON_ArrayForEach(g, groups) {
        const cJSON *frames = cJSON_GetObjectItemCaseSensitive(g, "frames"), *fr;
        ls_stack *st = &sv->group_stacks[gi++];
        st->frames = calloc((size_t)cJSON_GetArraySize(frames) + 1, sizeof *st->frames);
        if (!st->frames) {
            ls_saved_free(sv);
            ls_facts_free(&given);
            return ls_error_set(err, path, "out of memory");
        }
        cJSON_ArrayForEach(fr, frames)
            frame_of(fr, &st->frames[st->nframes++]);
        const cJSON *cb = cJSON_GetObjectItemCaseSensitive(g, "created_by");
        if (cJSON_IsObject(cb))
            frame_of(cb, &sv->creators[gi - 1]);
        const char *reason = string_of(g, "wait_reason");
        const cJSON *leaked = cJSON_GetObjectItemCaseSensitive(g, "leaked");
        const cJSON *wait = cJSON_GetObjectItemCaseSensitive(g, "wait_ns");
        int64_t waited = (int64_t)integer_of(wait, "max", INT64_MAX, 0);
        /* What the group's tasks share, found for its first (per task, the
         * reason's search and the lookups were millions of times over). */
        bool running = reason && (!strcmp(reason, "running") || !strcmp(reason, "runnable"));
        uint32_t state = running ? (strcmp(reason, "running") ? LS_TASK_RUNNABLE : LS_TASK_RUNNING)
                                 : LS_TASK_WAITING;
        size_t count = group_size(g, facts != NULL);
        uint32_t code = running || !count ? 0 : reason_code(&sv->runtime, reason ? reason : "?");
        const char *verdict = string_of(g, "verdict");
        uint8_t judged = verdict && strcmp(verdict, "unknown") == 0 ? LS_UNKNOWN
                         : cJSON_IsFalse(leaked) ? LS_WOKEN : LS_LEAKED;
        const cJSON *info = facts ? NULL : task_info_of(g);
        const cJSON *entry = info ? info->child : NULL;
        const cJSON *id = facts ? NULL : cJSON_GetObjectItemCaseSensitive(g, "tasks")->child;
        for (size_t k = 0; k < count; k++) {
            ls_task *t = &sv->runtime.tasks[ti];
            t->state = state;
            t->wait_reason = code;
            t->wait_since = waited > 0 ? BASE_NS - waited : 0;
            t->create_pc = ti;                 /* the preset unwinder's key: the group's creator */
            t->label_set = -1;
            if (facts) {
                const ls_fact *f = &given.tasks[ti];
                t->id = f->id;
                task_facts(sv, f, next_anc, t, ti, ntasks, &pool);
                next_anc += f->nancestry;
            } else {
                t->id = integer_value(id, UINT64_MAX, 0);
                id = id->next;
                if (entry) {
                    ls_fact f;
                    ls_fact_ancestor anc[LS_MAX_ANCESTRY];
                    fact_of(entry, &f, anc);
                    task_facts(sv, &f, anc, t, ti, ntasks, &pool);
                    entry = entry->next;
                }
            }
            t->regs = no_registers;
            sv->task_group[ti] = (uint32_t)(gi - 1);
            sv->analysis.verdict[ti] = judged;
            ti++;
        }
    }
    ls_facts_free(&given);
    sv->runtime.ntasks = ti;
    sv->analysis.ntasks = ti;
    /* Counts are the model's, never the file's claim: "leaked": 0 over
     * groups of leaked tasks underflowed when a suppression took one off
     * (suppress.c). A result holds every leaked task in its groups, so
     * leaked is recounted; unknown ones are only listed with --all, so the
     * claim stands for what is not listed, but never below what is. */
    size_t unknown = 0;
    sv->analysis.leaked = 0;
    for (size_t i = 0; i < ti; i++) {
        sv->analysis.leaked += sv->analysis.verdict[i] == LS_LEAKED;
        unknown += sv->analysis.verdict[i] == LS_UNKNOWN;
    }
    sv->analysis.unknown = (size_t)integer_of(sv->doc, "unknown", SIZE_MAX, 0);
    if (sv->analysis.unknown < unknown)
        sv->analysis.unknown = unknown;
    const char *missing = string_of(sv->doc, "missing");
    sv->analysis.missing = missing && sv->analysis.unknown ? missing : NULL;
    if (cJSON_GetObjectItemCaseSensitive(sv->doc, "label_sets")) {   /* schema 2: held memory per task */
        sv->analysis.saved_bytes = sv->held_bytes;
        sv->analysis.saved_objects = sv->held_objects;
    }
    sv->analysis.main_blocked = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(sv->doc, "main_blocked"));
    sv->runtime.roots_note = string_of(sv->doc, "roots_note");

    sv->core.path = (char *)path;
    sv->core.has_note = true;
    sv->core.note.pid = integer_of(sv->doc, "pid", UINT64_MAX, 0);
    const char *reason = string_of(sv->doc, "reason");
    sv->core.reason = reason ? reason : "";
    sv->core.note.time_unix_ns = time_of(string_of(sv->doc, "time"));
    sv->snapshot.path = path;
    sv->snapshot.core = &sv->core;
    sv->snapshot.rt = &sv->runtime;
    sv->snapshot.time_monotonic_ns = BASE_NS;
    sv->snapshot.from_json = true;
    sv->snapshot.exe_path = string_of(sv->doc, "exe");
    sv->snapshot.build_id = string_of(sv->doc, "build_id");
    if (sv->nfiles > 1) {
        sv->snapshot.files = sv->files;
        sv->snapshot.nfiles = sv->nfiles;
    }
    sv->unwinder = ls_unwinder_preset(&sv->snapshot, sv->group_stacks, sv->creators, sv->task_group,
                                      sv->sites, sv->nsites);
    if (!sv->unwinder) {
        ls_saved_free(sv);
        return ls_error_set(err, path, "out of memory");
    }
    *out = sv;
    *s = &sv->snapshot;
    *a = &sv->analysis;
    *u = sv->unwinder;
    return 0;
}

void ls_saved_free(ls_saved *sv)
{
    if (!sv)
        return;
    for (size_t i = 0; sv->group_stacks && i < sv->ngroups; i++)   /* (a count per step was quadratic) */
        free(sv->group_stacks[i].frames);
    free(sv->group_stacks);
    free(sv->creators);
    free(sv->task_group);
    free(sv->sites);
    free(sv->label_sets);
    free(sv->labels);
    free(sv->ancestors);
    free(sv->held_bytes);
    free(sv->held_objects);
    free(sv->files);
    free(sv->runtime.tasks);
    free(sv->analysis.verdict);
    free(sv->unwinder);
    cJSON_Delete(sv->doc);
    free(sv);
}

/*
 * report_json.c — the result as JSON (cJSON), in the shape formats/README
 * documents: summary fields, then groups with their frames, and (schema 2)
 * each task's wait, labels and creators, so that a saved result serves
 * every view as the snapshot does. Creation sites and label sets are
 * shared by many tasks: each is written once, in a table at the top
 * level, and a task names it by index.
 */
#include "leakscan.h"
#include "facts.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static cJSON *frame_json(const ls_frame *f)
{
    cJSON *o = cJSON_CreateObject();
    char pc[32];
    snprintf(pc, sizeof pc, "0x%" PRIx64, f->pc);
    cJSON_AddStringToObject(o, "pc", pc);
    if (f->function) {
        cJSON_AddStringToObject(o, "function", f->function);
        cJSON_AddNumberToObject(o, "offset", (double)f->offset);
    }
    if (f->file) {
        cJSON_AddStringToObject(o, "file", f->file);
        cJSON_AddNumberToObject(o, "line", f->line);
        if (f->dir)
            cJSON_AddStringToObject(o, "dir", f->dir);   /* file is relative to it */
    }
    if (f->inlined)                 /* inlined into the next frame, same pc */
        cJSON_AddTrueToObject(o, "inlined");
    return o;
}

static void add_time(cJSON *o, int64_t unix_ns)
{
    char when[64];
    ls_format_time(unix_ns, when, sizeof when, "");
    cJSON_AddStringToObject(o, "time", when);
}

/* Creation sites by PC, each written once ("sites"). */
typedef struct sites {
    cJSON    *array;
    uint64_t *pcs;
    size_t    n, cap;
    ls_index  index;
} sites;

typedef struct site_key { const sites *t; uint64_t pc; } site_key;

static bool same_site(const void *ctx, size_t i)
{
    const site_key *k = ctx;
    return k->t->pcs[i] == k->pc;
}

/* The index of the site at pc in "sites", added if new; LS_FACT_NONE: out
 * of memory. */
static uint64_t site_of(sites *t, ls_unwinder *u, uint64_t pc)
{
    uint64_t h = ls_hash_bytes(&pc, sizeof pc);
    size_t i = ls_index_find(&t->index, h, same_site, &(site_key){ t, pc });
    if (i != SIZE_MAX)
        return i;
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        uint64_t *grown = realloc(t->pcs, cap * sizeof *grown);
        if (!grown)
            return LS_FACT_NONE;
        t->pcs = grown;
        t->cap = cap;
    }
    if (ls_index_add(&t->index, h, t->n) != 0)
        return LS_FACT_NONE;
    ls_frame f;
    ls_symbolize(u, pc, &f);
    cJSON_AddItemToArray(t->array, frame_json(&f));
    t->pcs[t->n] = pc;
    return t->n++;
}

/* Task i's own facts (schema 2): id, wait, labels, creators, what it
 * holds; its ancestors to anc, which has room for LS_MAX_ANCESTRY. */
static ls_fact task_fact(const ls_snapshot *s, ls_unwinder *u, const ls_report *r, size_t i, sites *st,
                         ls_fact_ancestor *anc)
{
    const ls_task *t = &s->rt->tasks[i];
    ls_fact f = { .id = t->id, .parent = t->parent_id, .labels = LS_FACT_NONE, .created_by = LS_FACT_NONE };
    if (r->task_retained && r->task_retained[i]) {
        f.retained_bytes = r->task_retained[i];
        f.retained_objects = r->task_retained_objects[i];
    }
    f.wait_ns = t->state == LS_TASK_WAITING ? ls_wait_ns(s, t) : -1;
    if (f.wait_ns < 0)
        f.wait_ns = -1;
    if (t->label_set >= 0 && (size_t)t->label_set < s->rt->nlabel_sets)
        f.labels = (uint64_t)t->label_set;
    if (s->nfiles > 1)
        f.file = t->file;
    if (t->parent_id || s->from_json)
        f.created_by = site_of(st, u, t->create_pc);
    for (uint32_t k = 0; k < t->nancestry && k < LS_MAX_ANCESTRY && t->ancestry[k].parent_id; k++)
        anc[f.nancestry++] = (ls_fact_ancestor){ t->ancestry[k].parent_id,
                                                 site_of(st, u, t->ancestry[k].create_pc) };
    return f;
}

static void add_index(cJSON *o, const char *key, uint64_t v)
{
    if (v != LS_FACT_NONE)
        cJSON_AddNumberToObject(o, key, (double)v);
}

static cJSON *task_json(const ls_fact *f, const ls_fact_ancestor *anc, bool files)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)f->id);
    if (f->retained_bytes) {
        cJSON_AddNumberToObject(o, "retained_bytes", (double)f->retained_bytes);
        cJSON_AddNumberToObject(o, "retained_objects", (double)f->retained_objects);
    }
    if (f->wait_ns >= 0)
        cJSON_AddNumberToObject(o, "wait_ns", (double)f->wait_ns);
    add_index(o, "labels", f->labels);
    if (files)
        cJSON_AddNumberToObject(o, "file", (double)f->file);
    add_index(o, "created_by", f->created_by);
    if (f->parent)
        cJSON_AddNumberToObject(o, "parent", (double)f->parent);
    if (f->nancestry) {
        cJSON *an = cJSON_AddArrayToObject(o, "ancestry");
        for (uint32_t k = 0; k < f->nancestry; k++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "parent", (double)anc[k].parent);
            add_index(e, "created_by", anc[k].created_by);
            cJSON_AddItemToArray(an, e);
        }
    }
    return o;
}

/* The facts of a group's tasks appended to out (room made here). -1: out
 * of memory. */
static int append_facts(ls_facts *out, size_t *anc_cap, const ls_fact *f, const ls_fact_ancestor *anc)
{
    if (out->nancestors + f->nancestry > *anc_cap) {
        size_t cap = *anc_cap ? 2 * *anc_cap : 1024;
        while (cap < out->nancestors + f->nancestry)
            cap *= 2;
        ls_fact_ancestor *grown = realloc(out->ancestors, cap * sizeof *grown);
        if (!grown)
            return -1;
        out->ancestors = grown;
        *anc_cap = cap;
    }
    if (f->nancestry)
        memcpy(out->ancestors + out->nancestors, anc, f->nancestry * sizeof *anc);
    out->nancestors += f->nancestry;
    out->tasks[out->ntasks++] = *f;
    return 0;
}

cJSON *ls_result_json(const ls_snapshot *s, const ls_analysis *a, ls_unwinder *u, const ls_report *r,
                      ls_facts *facts)
{
    const ls_core *c = s->core;
    cJSON *root = cJSON_CreateObject();
    ls_fact_ancestor anc[LS_MAX_ANCESTRY];
    size_t anc_cap = 0, ntasks = 0;
    if (facts) {
        *facts = (ls_facts){ 0 };
        for (size_t i = 0; i < r->ngroups; i++)
            ntasks += r->groups[i].count;
        if (!root || !(facts->tasks = malloc((ntasks ? ntasks : 1) * sizeof *facts->tasks))) {
            cJSON_Delete(root);
            return NULL;
        }
    }
    /* 3: several files merged (a "files" table, and each task's file). */
    cJSON_AddNumberToObject(root, "schema", s->nfiles > 1 ? 3 : 2);
    if (s->nfiles > 1)
        cJSON_AddNullToObject(root, "file");
    else if (s->run_temporary)            /* run deletes it after this: no path to a file that is gone */
        cJSON_AddNullToObject(root, "file");
    else
        cJSON_AddStringToObject(root, "file", s->path);
    if (s->run_program) {            /* leakscan run: what ran, and whether "file" stays */
        cJSON_AddStringToObject(root, "program", s->run_program);
        cJSON_AddBoolToObject(root, "kept", !s->run_temporary);
    }
    if (s->nfiles > 1) {
        cJSON *files = cJSON_AddArrayToObject(root, "files");
        for (size_t k = 0; k < s->nfiles; k++) {
            const ls_file_info *f = &s->files[k];
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "file", f->path);
            cJSON_AddNumberToObject(o, "pid", (double)f->pid);
            add_time(o, f->time_unix_ns);
            cJSON_AddNumberToObject(o, "tasks", (double)f->tasks);
            cJSON_AddNumberToObject(o, "leaked", (double)f->leaked);
            cJSON_AddItemToArray(files, o);
        }
    }
    /* What program it is of, for merging several files (merge.c). */
    if (s->exe_path)
        cJSON_AddStringToObject(root, "exe", s->exe_path);
    if (s->build_id)
        cJSON_AddStringToObject(root, "build_id", s->build_id);
    for (size_t k = 0; !s->build_id && c->modules && k < c->nmodules; k++) {
        if (c->modules[k].is_exe && c->modules[k].build_id_size) {
            char hex[2 * LS_MAX_BUILD_ID + 1];
            ls_build_id_hex(c->modules[k].build_id, c->modules[k].build_id_size, hex);
            cJSON_AddStringToObject(root, "build_id", hex);
            break;
        }
    }
    cJSON_AddNumberToObject(root, "pid", (double)c->note.pid);
    add_time(root, c->note.time_unix_ns);
    cJSON_AddStringToObject(root, "reason", c->reason);
    /* What wait_ns are measured to: the snapshot's clock, or (a core) the
     * latest park it holds, which makes them lower bounds. */
    cJSON_AddStringToObject(root, "wait_clock", s->clock_from_parks ? "latest park" :
                            s->time_monotonic_ns ? "snapshot" : "none");
    cJSON_AddNumberToObject(root, "tasks", (double)s->rt->ntasks);
    cJSON_AddNumberToObject(root, "leaked", (double)a->leaked);
    cJSON_AddNumberToObject(root, "suppressed", (double)a->suppressed);
    /* Candidates memory the file lacks could wake: neither leaked nor not. */
    cJSON_AddNumberToObject(root, "unknown", (double)a->unknown);
    if (a->missing)
        cJSON_AddStringToObject(root, "missing", a->missing);
    cJSON_AddNumberToObject(root, "retained_bytes", (double)r->retained_bytes);
    cJSON_AddNumberToObject(root, "retained_objects", (double)r->retained_objects);
    cJSON_AddBoolToObject(root, "main_blocked", a->main_blocked);
    if (s->rt->roots_note)
        cJSON_AddStringToObject(root, "roots_note", s->rt->roots_note);
    if (r->crash.crashed) {
        cJSON *crash = cJSON_AddObjectToObject(root, "crash");
        cJSON_AddNumberToObject(crash, "signal", r->crash.signal);
        cJSON_AddStringToObject(crash, "signal_name", ls_signal_name(r->crash.signal));
        if (r->crash.has_address) {
            char addr[32];
            snprintf(addr, sizeof addr, "0x%" PRIx64, r->crash.fault_address);
            cJSON_AddStringToObject(crash, "address", addr);
        }
        cJSON_AddNumberToObject(crash, "thread", r->crash.tid);
        if (r->crash.task != SIZE_MAX)
            cJSON_AddNumberToObject(crash, "task", (double)s->rt->tasks[r->crash.task].id);
        else
            cJSON_AddNullToObject(crash, "task");
        cJSON *frames = cJSON_AddArrayToObject(crash, "frames");
        for (size_t f = 0; f < r->crash.stack.nframes; f++)
            cJSON_AddItemToArray(frames, frame_json(&r->crash.stack.frames[f]));
        if (r->crash.task != SIZE_MAX)
            cJSON_AddItemToObject(crash, "created_by", frame_json(&r->crash.created_by));
    }
    /* Every label set, by the index tasks name it with. */
    cJSON *label_sets = cJSON_AddArrayToObject(root, "label_sets");
    for (size_t k = 0; k < s->rt->nlabel_sets; k++) {
        cJSON *set = cJSON_CreateObject();
        for (uint32_t l = 0; l < s->rt->label_sets[k].count; l++)
            cJSON_AddStringToObject(set, s->rt->label_sets[k].labels[l].key, s->rt->label_sets[k].labels[l].value);
        cJSON_AddItemToArray(label_sets, set);
    }
    sites st = { .array = cJSON_AddArrayToObject(root, "sites") };
    cJSON *groups = cJSON_AddArrayToObject(root, "groups");
    bool failed = false;
    for (size_t i = 0; i < r->ngroups; i++) {
        const ls_group *g = &r->groups[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "count", (double)g->count);
        cJSON_AddStringToObject(o, "wait_reason", ls_group_reason(s, g->wait_reason));
        cJSON_AddBoolToObject(o, "leaked", a->verdict[g->tasks[0]] == LS_LEAKED);
        cJSON_AddStringToObject(o, "verdict", ls_verdict_name(a->verdict[g->tasks[0]]));
        if (g->key)
            cJSON_AddStringToObject(o, "group_key", g->key);
        cJSON *held = cJSON_AddObjectToObject(o, "retained");
        cJSON_AddNumberToObject(held, "bytes", (double)g->retained_bytes);
        cJSON_AddNumberToObject(held, "objects", (double)g->retained_objects);
        cJSON_AddNumberToObject(held, "shared_bytes", (double)g->shared_bytes);
        cJSON_AddNumberToObject(held, "shared_objects", (double)g->shared_objects);
        cJSON *w = cJSON_AddObjectToObject(o, "wait_ns");
        cJSON_AddNumberToObject(w, "min", (double)(g->wait_min_ns > 0 ? g->wait_min_ns : 0));
        cJSON_AddNumberToObject(w, "max", (double)(g->wait_max_ns > 0 ? g->wait_max_ns : 0));
        cJSON *ids = facts ? NULL : cJSON_AddArrayToObject(o, "tasks");
        for (size_t t = 0; ids && t < g->count; t++)
            cJSON_AddItemToArray(ids, cJSON_CreateNumber((double)s->rt->tasks[g->tasks[t]].id));
        cJSON *frames = cJSON_AddArrayToObject(o, "frames");
        for (size_t f = 0; f < g->stack.nframes; f++)
            cJSON_AddItemToArray(frames, frame_json(&g->stack.frames[f]));
        cJSON *cb = frame_json(&g->created_by);
        cJSON_AddItemToObject(o, "created_by", cb);
        cJSON *info = facts ? NULL : cJSON_AddArrayToObject(o, "task_info");
        for (size_t t = 0; t < g->count; t++) {
            ls_fact f = task_fact(s, u, r, g->tasks[t], &st, anc);
            if (info)
                cJSON_AddItemToArray(info, task_json(&f, anc, s->nfiles > 1));
            else if (append_facts(facts, &anc_cap, &f, anc) != 0)
                failed = true;
        }
        cJSON_AddItemToArray(groups, o);
    }
    free(st.pcs);
    ls_index_free(&st.index);
    if (failed) {
        cJSON_Delete(root);
        if (facts)
            ls_facts_free(facts);
        return NULL;
    }
    return root;
}

int ls_report_json(FILE *out, const ls_snapshot *s, const ls_analysis *a, ls_unwinder *u, const ls_report *r)
{
    cJSON *root = ls_result_json(s, a, u, r, NULL);
    char *text = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text)
        return -1;
    fputs(text, out);
    fputc('\n', out);
    free(text);
    return 0;
}

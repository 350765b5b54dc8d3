/*
 * json_load.c — a saved `leakscan --json` result as input to the views.
 *
 * The views read a snapshot, its analysis and an unwinder. From a JSON
 * result this file builds the same three: a snapshot that has the header
 * and one task per task id, an analysis with their verdicts, and an
 * unwinder that gives each task its group's stack and creator. What JSON
 * does not keep is absent: per-task wait times (the group's longest is
 * used), parents, the heap — so `why` needs the snapshot itself.
 */
#define _GNU_SOURCE
#include "leakscan.h"

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
    ls_stack    *task_stacks;   /* per task: views of group_stacks */
    ls_frame    *creators;      /* per task */
};

#define BASE_NS (INT64_C(1) << 62)          /* "now", for wait times */

bool ls_is_json(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    int c;
    while ((c = fgetc(f)) == ' ' || c == '\n' || c == '\t' || c == '\r')
        ;
    fclose(f);
    return c == '{';
}

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
 * range is undefined behaviour (fuzzing found it): the callers convert
 * only numbers clamped to [0, 9e18] (NaN: the fallback). */
static double number_of(const cJSON *o, const char *key, double fallback)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != v->valuedouble)
        return fallback;
    return v->valuedouble < 0 ? 0 : v->valuedouble > 9e18 ? 9e18 : v->valuedouble;
}

static void frame_of(const cJSON *o, ls_frame *f)
{
    memset(f, 0, sizeof *f);
    const char *pc = string_of(o, "pc");
    f->pc = pc ? strtoull(pc, NULL, 16) : 0;
    f->function = string_of(o, "function");
    f->offset = (uint64_t)number_of(o, "offset", 0);
    f->file = string_of(o, "file");
    f->dir = string_of(o, "dir");
    double line = number_of(o, "line", 0);
    f->line = line > INT_MAX ? INT_MAX : (int)line;
    f->inlined = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "inlined"));
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
    ls_saved *sv = calloc(1, sizeof *sv);
    if (!sv) {
        free(text);
        return ls_error_set(err, path, "out of memory");
    }
    sv->doc = cJSON_Parse(text);
    free(text);
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(sv->doc, "groups");
    if (!sv->doc || !cJSON_IsArray(groups)) {
        ls_saved_free(sv);
        return ls_error_set(err, path, "not a leakscan JSON result (no \"groups\" array)");
    }
    size_t ngroups = (size_t)cJSON_GetArraySize(groups), ntasks = 0;
    const cJSON *g;
    cJSON_ArrayForEach(g, groups) {
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(g, "tasks");
        if (!cJSON_IsArray(ids) || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(g, "frames"))) {
            ls_saved_free(sv);
            return ls_error_set(err, path, "a group has no \"tasks\" or \"frames\" array");
        }
        ntasks += (size_t)cJSON_GetArraySize(ids);
    }
    sv->group_stacks = calloc(ngroups ? ngroups : 1, sizeof *sv->group_stacks);
    sv->task_stacks = calloc(ntasks ? ntasks : 1, sizeof *sv->task_stacks);
    sv->creators = calloc(ntasks ? ntasks : 1, sizeof *sv->creators);
    sv->runtime.tasks = calloc(ntasks ? ntasks : 1, sizeof *sv->runtime.tasks);
    sv->analysis.verdict = calloc(ntasks ? ntasks : 1, 1);
    if (!sv->group_stacks || !sv->task_stacks || !sv->creators || !sv->runtime.tasks ||
        !sv->analysis.verdict) {
        ls_saved_free(sv);
        return ls_error_set(err, path, "out of memory");
    }

    size_t gi = 0, ti = 0;
    cJSON_ArrayForEach(g, groups) {
        const cJSON *frames = cJSON_GetObjectItemCaseSensitive(g, "frames"), *fr;
        ls_stack *st = &sv->group_stacks[gi++];
        st->frames = calloc((size_t)cJSON_GetArraySize(frames) + 1, sizeof *st->frames);
        if (!st->frames) {
            ls_saved_free(sv);
            return ls_error_set(err, path, "out of memory");
        }
        cJSON_ArrayForEach(fr, frames)
            frame_of(fr, &st->frames[st->nframes++]);
        ls_frame creator = { 0 };
        const cJSON *cb = cJSON_GetObjectItemCaseSensitive(g, "created_by");
        if (cJSON_IsObject(cb))
            frame_of(cb, &creator);
        const char *reason = string_of(g, "wait_reason");
        const cJSON *leaked = cJSON_GetObjectItemCaseSensitive(g, "leaked");
        const cJSON *wait = cJSON_GetObjectItemCaseSensitive(g, "wait_ns");
        int64_t waited = (int64_t)number_of(wait, "max", 0);
        const cJSON *id;
        cJSON_ArrayForEach(id, cJSON_GetObjectItemCaseSensitive(g, "tasks")) {
            ls_task *t = &sv->runtime.tasks[ti];
            double idv = cJSON_IsNumber(id) && id->valuedouble > 0 ? id->valuedouble : 0;
            t->id = idv < 9e18 ? (uint64_t)idv : UINT64_C(9000000000000000000);   /* see number_of */
            bool running = reason && (!strcmp(reason, "running") || !strcmp(reason, "runnable"));
            t->state = running ? (strcmp(reason, "running") ? LS_TASK_RUNNABLE : LS_TASK_RUNNING)
                               : LS_TASK_WAITING;
            t->wait_reason = running ? 0 : reason_code(&sv->runtime, reason ? reason : "?");
            t->wait_since = waited > 0 ? BASE_NS - waited : 0;
            t->create_pc = ti;                 /* the preset unwinder's key */
            sv->task_stacks[ti] = *st;
            sv->creators[ti] = creator;
            const char *verdict = string_of(g, "verdict");
            sv->analysis.verdict[ti] = verdict && strcmp(verdict, "unknown") == 0 ? LS_UNKNOWN
                                       : cJSON_IsFalse(leaked) ? LS_WOKEN : LS_LEAKED;
            ti++;
        }
    }
    sv->runtime.ntasks = ti;
    sv->analysis.ntasks = ti;
    sv->analysis.leaked = (size_t)number_of(sv->doc, "leaked", 0);
    sv->analysis.unknown = (size_t)number_of(sv->doc, "unknown", 0);
    const char *missing = string_of(sv->doc, "missing");
    sv->analysis.missing = missing && sv->analysis.unknown ? missing : NULL;
    sv->analysis.main_blocked = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(sv->doc, "main_blocked"));

    sv->core.path = (char *)path;
    sv->core.has_note = true;
    sv->core.note.pid = (uint64_t)number_of(sv->doc, "pid", 0);
    const char *reason = string_of(sv->doc, "reason");
    sv->core.reason = reason ? reason : "";
    const char *when = string_of(sv->doc, "time");
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    /* Only times an int64 of ns holds (till 2262): a hostile year must
     * not overflow the product (fuzzing found it). */
    time_t secs;
    if (when && strptime(when, "%Y-%m-%dT%H:%M:%SZ", &tm) && (secs = timegm(&tm)) >= 0 &&
        secs < INT64_MAX / 1000000000)
        sv->core.note.time_unix_ns = (int64_t)secs * 1000000000;
    sv->snapshot.path = path;
    sv->snapshot.core = &sv->core;
    sv->snapshot.rt = &sv->runtime;
    sv->snapshot.time_monotonic_ns = BASE_NS;
    sv->snapshot.from_json = true;
    sv->unwinder = ls_unwinder_preset(&sv->snapshot, sv->task_stacks, sv->creators);
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
    for (size_t i = 0; sv->group_stacks && sv->doc &&
                       i < (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(sv->doc, "groups")); i++)
        free(sv->group_stacks[i].frames);
    free(sv->group_stacks);
    free(sv->task_stacks);
    free(sv->creators);
    free(sv->runtime.tasks);
    free(sv->analysis.verdict);
    free(sv->unwinder);
    cJSON_Delete(sv->doc);
    free(sv);
}

/*
 * report_traces.c — `leakscan traces`: every leaked task (with --all every
 * task) on its own, in the shape of Go's goroutine dump (debug=2): the
 * task's id, wait reason and time, its frames, and who created it.
 * Inlined functions have frames of their own (without an offset, as in
 * Go's), and the creator is the function inlined deepest where it ran
 * lrt_go.
 */
#include "leakscan.h"

#include <inttypes.h>
#include <stdlib.h>

/* An inlined frame has no offset of its own: Go prints none for it. */
static void print_location(FILE *out, const ls_frame *f, bool offset)
{
    char path[4096];
    if (f->file && offset)
        fprintf(out, "\t%s:%d +0x%" PRIx64 "\n", ls_frame_path(f, path, sizeof path), f->line, f->offset);
    else if (f->file)
        fprintf(out, "\t%s:%d\n", ls_frame_path(f, path, sizeof path), f->line);
    else
        fprintf(out, "\t?:0 pc=0x%" PRIx64 "\n", f->pc);
}

static void print_creator(FILE *out, const ls_frame *f, uint64_t parent_id)
{
    fprintf(out, "created by %s", f->function ? f->function : "?");
    if (parent_id)
        fprintf(out, " in task %" PRIu64, parent_id);
    fputc('\n', out);
    print_location(out, f, true);
}

/* Like pprof's goroutine dump: labels: {"key":"value", ...} */
static void print_labels(FILE *out, const ls_snapshot *s, const ls_task *t)
{
    if (t->label_set < 0 || (size_t)t->label_set >= s->rt->nlabel_sets)
        return;
    const ls_label_set *set = &s->rt->label_sets[t->label_set];
    fprintf(out, "labels: {");
    for (uint32_t i = 0; i < set->count; i++)
        fprintf(out, "%s\"%s\":\"%s\"", i ? ", " : "", set->labels[i].key, set->labels[i].value);
    fprintf(out, "}\n");
}

static const char *state_label(const ls_snapshot *s, const ls_task *t)
{
    if (t->state == LS_TASK_RUNNING)
        return "running";
    if (t->state == LS_TASK_RUNNABLE)
        return "runnable";
    return ls_reason_name(s->rt, t->wait_reason);
}

bool ls_mutex_holder(const ls_snapshot *s, const ls_analysis *a, ls_unwinder *u, const ls_task *t,
                     char *buf, size_t size)
{
    const ls_debug_root *r = &s->rt->root;
    uint64_t owner, site;
    if (!r->off_mutex_owner || s->from_json || t->state != LS_TASK_WAITING ||
        t->wait_reason != r->mutex_reason || t->wait_count == 0 ||
        !ls_core_read_u64(s->core, t->wait_addrs[0] + r->off_mutex_owner, &owner) ||
        !ls_core_read_u64(s->core, t->wait_addrs[0] + r->off_mutex_site, &site))
        return false;
    if (!owner) {
        snprintf(buf, size, "held by no task on record (a thread outside tasks, or being handed over)");
        return true;
    }
    /* Which task that is now, if it still lives. */
    char what[96] = "exited";
    for (size_t k = 0; k < s->rt->ntasks; k++) {
        const ls_task *h = &s->rt->tasks[k];
        if (h->id != owner)
            continue;
        const char *verdict = a->verdict[k] == LS_LEAKED ? ", leaked" : a->verdict[k] == LS_UNKNOWN ? ", unknown" : "";
        if (h->state == LS_TASK_WAITING)
            snprintf(what, sizeof what, "in %s%s", ls_reason_name(s->rt, h->wait_reason), verdict);
        else
            snprintf(what, sizeof what, "%s", h->state == LS_TASK_RUNNING ? "running" : "runnable");
    }
    ls_frame f;
    ls_symbolize(u, site, &f);
    char path[4096];
    if (site && f.file)
        snprintf(buf, size, "held by task %llu (%s) since %s:%d (in %s)", (unsigned long long)owner, what,
                 ls_frame_path(&f, path, sizeof path), f.line, f.function ? f.function : "?");
    else
        snprintf(buf, size, "held by task %llu (%s)", (unsigned long long)owner, what);
    return true;
}

int ls_print_task(FILE *out, const ls_snapshot *s, const ls_analysis *a, ls_unwinder *u, size_t i,
                  const uint64_t *held)
{
    const ls_task *t = &s->rt->tasks[i];
    fprintf(out, "task %" PRIu64, t->id);
    if (s->nfiles > 1)                       /* merged: ids are each file's own */
        fprintf(out, " of %s", s->files[t->file].path);
    fprintf(out, " [%s", state_label(s, t));
    if (a->verdict[i] == LS_LEAKED)
        fprintf(out, " (leaked)");
    else if (a->verdict[i] == LS_MAIN_BLOCKED)
        fprintf(out, " (main, blocked forever)");
    else if (a->verdict[i] == LS_UNKNOWN)
        fprintf(out, " (unknown)");
    int64_t waited = t->state == LS_TASK_WAITING ? ls_wait_ns(s, t) : -1;
    if (waited >= 0) {
        char d[32];
        ls_format_duration(waited, d, sizeof d);
        fprintf(out, ", %s", d);
    }
    fprintf(out, "]:\n");
    print_labels(out, s, t);
    char holder[4096 + 256];
    if (ls_mutex_holder(s, a, u, t, holder, sizeof holder))
        fprintf(out, "mutex %s\n", holder);
    if (held && held[i])
        fprintf(out, "holds: %" PRIu64 " byte%s only leaked tasks reach\n", held[i], ls_s(held[i]));
    ls_stack st;
    if (ls_unwind_task(u, i, &st) != 0)
        return -1;
    for (size_t f = 0; f < st.nframes; f++) {
        fprintf(out, "%s()\n", st.frames[f].function ? st.frames[f].function : "?");
        print_location(out, &st.frames[f], !st.frames[f].inlined);
    }
    free(st.frames);
    if (t->parent_id || s->from_json) {
        ls_frame cb;
        ls_symbolize(u, t->create_pc, &cb);
        print_creator(out, &cb, t->parent_id);
        /* Who created its creators, as far as the runtime kept them. */
        for (uint32_t k = 0; k < t->nancestry; k++) {
            const ls_ancestor *an = &t->ancestry[k];
            if (!an->parent_id)
                break;                             /* the main task: no creator */
            ls_symbolize(u, an->create_pc, &cb);
            print_creator(out, &cb, an->parent_id);
        }
    }
    fputc('\n', out);
    return 0;
}

static const ls_task *sorted_tasks;

static int compare_tasks(const void *x, const void *y)
{
    const ls_task *a = &sorted_tasks[*(const size_t *)x], *b = &sorted_tasks[*(const size_t *)y];
    if (a->file != b->file)
        return a->file < b->file ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

int ls_report_traces(FILE *out, const ls_snapshot *s, const ls_analysis *a, ls_unwinder *u, bool all)
{
    const ls_runtime *rt = s->rt;
    /* What each leaked task holds (retained.c), for its "holds:" line. */
    ls_report held = { 0 };
    ls_error err;
    if (ls_group_leaks(s, a, u, false, &held, &err) != 0 || ls_retained(s, a, &held, &err) != 0) {
        ls_report_free(&held);
        return -1;
    }
    /* In id order, as Go prints goroutines. */
    size_t *order = malloc((rt->ntasks ? rt->ntasks : 1) * sizeof *order);
    if (!order) {
        ls_report_free(&held);
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < rt->ntasks; i++)
        if (all || a->verdict[i] == LS_LEAKED)
            order[n++] = i;
    sorted_tasks = rt->tasks;                 /* by file (of a merged result), then id */
    if (n)
        qsort(order, n, sizeof *order, compare_tasks);
    for (size_t k = 0; k < n; k++) {
        if (ls_print_task(out, s, a, u, order[k], held.task_retained) != 0) {
            free(order);
            ls_report_free(&held);
            return -1;
        }
    }
    free(order);
    ls_report_free(&held);
    return 0;
}

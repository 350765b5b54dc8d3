/*
 * report_text.c — the default view: a header, then each group in the shape
 * of Go's goroutine leak profile (debug=1): count and PCs, then one line
 * per frame, `#\t0xPC\tfunc+0xOFF\tfile:line`, plus what Go's lacks: the
 * wait reason, how long the tasks have waited, and who created them. A
 * PC with inlined code has a line per function, all with that PC and
 * offset (each its own file:line), and is listed once after the count.
 */
#include "leakscan.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void ls_format_duration(int64_t ns, char *buf, size_t size)
{
    int64_t s = ns / 1000000000;
    if (ns < 0)
        snprintf(buf, size, "?");
    else if (s < 1)
        snprintf(buf, size, "%" PRId64 "ms", ns / 1000000);
    else if (s < 120)
        snprintf(buf, size, "%" PRId64 "s", s);
    else if (s < 2 * 3600)
        snprintf(buf, size, "%" PRId64 " minutes", s / 60);
    else if (s < 2 * 86400)
        snprintf(buf, size, "%" PRId64 " hours", s / 3600);
    else
        snprintf(buf, size, "%" PRId64 " days", s / 86400);
}

void ls_format_time(int64_t unix_ns, char *buf, size_t size, const char *unknown)
{
    time_t secs = (time_t)(unix_ns / 1000000000);
    struct tm tm;
    snprintf(buf, size, "%s", unknown);
    if (gmtime_r(&secs, &tm))
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void print_frame(FILE *out, const ls_frame *f)
{
    fprintf(out, "#\t0x%" PRIx64 "\t", f->pc);
    if (f->function)
        fprintf(out, "%s+0x%" PRIx64, f->function, f->offset);
    else
        fprintf(out, "?");
    char path[4096];
    if (f->file)
        fprintf(out, "\t%s:%d", ls_frame_path(f, path, sizeof path), f->line);
    fputc('\n', out);
}

static void print_stack(FILE *out, const ls_stack *st)
{
    for (size_t i = 0; i < st->nframes; i++)
        print_frame(out, &st->frames[i]);
}

static void print_created_by(FILE *out, const ls_frame *f)
{
    if (f->function)
        fprintf(out, "# created by %s", f->function);
    else
        fprintf(out, "# created at 0x%" PRIx64, f->pc);
    char path[4096];
    if (f->file)
        fprintf(out, " at %s:%d", ls_frame_path(f, path, sizeof path), f->line);
    fputc('\n', out);
}

/* A core of a program killed by a signal: the crash first. */
static void print_crash(FILE *out, const ls_snapshot *s, const ls_crash *c)
{
    if (!c->crashed)
        return;
    fprintf(out, "crashed: %s (%s)", ls_signal_name(c->signal), strsignal(c->signal));
    if (c->has_address)
        fprintf(out, " at address 0x%" PRIx64, c->fault_address);
    fprintf(out, ", thread %d", (int)c->tid);
    if (c->task != SIZE_MAX)
        fprintf(out, " running task %" PRIu64, s->rt->tasks[c->task].id);
    else
        fprintf(out, " (not running a task)");
    fputc('\n', out);
    print_stack(out, &c->stack);
    if (c->task != SIZE_MAX)
        print_created_by(out, &c->created_by);
    fputc('\n', out);
}

/* A merged result's first and last time taken, into buf. */
static const char *span_of_times(const ls_snapshot *s, char *buf, size_t size)
{
    int64_t lo = INT64_MAX, hi = 0;
    for (size_t k = 0; k < s->nfiles; k++) {
        int64_t t = s->files[k].time_unix_ns;
        if (t && t < lo) lo = t;
        if (t > hi) hi = t;
    }
    char a[32] = "?", b[32] = "?";
    if (hi) {
        ls_format_time(lo, a, sizeof a, "?");
        ls_format_time(hi, b, sizeof b, "?");
    }
    snprintf(buf, size, strcmp(a, b) ? "%s .. %s" : "%s", a, b);
    return buf;
}

/* Of a merged result: how many of group g's tasks each file has, in the
 * files' order ("# in 2 of 3 files: a.snap 30, b.snap 28"). */
static void print_files(FILE *out, const ls_snapshot *s, const ls_group *g)
{
    size_t *per = calloc(s->nfiles, sizeof *per), in = 0;
    if (!per)
        return;
    for (size_t k = 0; k < g->count; k++)
        per[s->rt->tasks[g->tasks[k]].file]++;
    for (size_t k = 0; k < s->nfiles; k++)
        in += per[k] != 0;
    fprintf(out, "# in %zu of %zu files:", in, s->nfiles);
    for (size_t k = 0, shown = 0; k < s->nfiles; k++) {
        if (!per[k])
            continue;
        if (shown++ == 8) {
            fprintf(out, " and %zu more", in - 8);
            break;
        }
        fprintf(out, "%s %s %zu", shown > 1 ? "," : "", s->files[k].path, per[k]);
    }
    fputc('\n', out);
    free(per);
}

void ls_count_line(const ls_snapshot *s, const ls_analysis *a, const ls_report *r, char *buf, size_t size)
{
    size_t n = s->rt->ntasks, leaked_groups = a->leaked ? r->leaked_groups : 0;
    if (r->all)
        snprintf(buf, size, "%zu task%s in %zu group%s, %zu leaked in %zu group%s", n, ls_s(n),
                 r->ngroups, ls_s(r->ngroups), a->leaked, leaked_groups, ls_s(leaked_groups));
    else
        snprintf(buf, size, "%zu task%s, %zu leaked in %zu group%s", n, ls_s(n), a->leaked,
                 leaked_groups, ls_s(leaked_groups));
}

void ls_report_text(FILE *out, const ls_snapshot *s, const ls_analysis *a, const ls_report *r)
{
    const ls_core *c = s->core;
    char when[64];
    ls_format_time(c->note.time_unix_ns, when, sizeof when, "?");
    if (s->run_temporary)            /* run deletes it after this: never name a file that is gone */
        fprintf(out, "leakscan: %s at exit (snapshot not kept; leakscan run -o FILE keeps it)\n",
                s->run_program);
    else
        fprintf(out, "leakscan: %s\n", s->path);
    char counts[160];
    ls_count_line(s, a, r, counts, sizeof counts);
    if (s->nfiles > 1)
        fprintf(out, "%zu files, taken %s, %s", s->nfiles, span_of_times(s, when, sizeof when), counts);
    else
        fprintf(out, "pid %" PRIu64 ", taken %s (%s), %s", c->note.pid, when, c->reason, counts);
    if (a->suppressed)
        fprintf(out, " (and %zu suppressed)", a->suppressed);
    char unknown[256];
    ls_unknown_note(a, unknown, sizeof unknown);
    if (*unknown)
        fprintf(out, ", %s", unknown);
    if (r->retained_objects)
        fprintf(out, ", holding %" PRIu64 " byte%s in %" PRIu64 " object%s",
                r->retained_bytes, ls_s(r->retained_bytes), r->retained_objects, ls_s(r->retained_objects));
    fprintf(out, "\n");
    if (s->rt->roots_note)
        fprintf(out, "note: %s\n", s->rt->roots_note);
    if (s->clock_from_parks)
        fprintf(out, "note: waits are measured to the latest park the core holds (a core has no clock "
                "reading of its own): each is at least that long\n");
    fprintf(out, "\n");
    print_crash(out, s, &r->crash);
    for (size_t i = 0; i < r->ngroups; i++) {
        const ls_group *g = &r->groups[i];
        fprintf(out, "%zu @", g->count);
        for (size_t f = 0; f < g->stack.nframes; f++)   /* each PC once, as Go's */
            if (!g->stack.frames[f].inlined)
                fprintf(out, " 0x%" PRIx64, g->stack.frames[f].pc);
        fputc('\n', out);
        char lo[32], hi[32];
        ls_format_duration(g->wait_min_ns, lo, sizeof lo);
        ls_format_duration(g->wait_max_ns, hi, sizeof hi);
        uint8_t verdict = a->verdict[g->tasks[0]];
        fprintf(out, "# [%s%s", ls_group_reason(s, g->wait_reason),
                verdict == LS_LEAKED ? " (leaked)" : verdict == LS_UNKNOWN ? " (unknown)" : "");
        if (g->wait_max_ns >= 0)
            fprintf(out, g->wait_min_ns == g->wait_max_ns ? ", %s" : ", %s .. %s", lo, hi);
        fprintf(out, "]\n");
        if (g->key)
            fprintf(out, "# grouped by %s (the stack is the first task's)\n", g->key);
        if (s->nfiles > 1)
            print_files(out, s, g);
        if (g->retained_objects || g->shared_objects) {
            fprintf(out, "# holds %" PRIu64 " byte%s in %" PRIu64 " object%s only leaked tasks reach",
                    g->retained_bytes, ls_s(g->retained_bytes), g->retained_objects, ls_s(g->retained_objects));
            if (g->shared_objects)
                fprintf(out, " (and reaches %" PRIu64 " byte%s in %" PRIu64 " object%s a group above holds)",
                        g->shared_bytes, ls_s(g->shared_bytes), g->shared_objects, ls_s(g->shared_objects));
            fputc('\n', out);
        }
        print_stack(out, &g->stack);
        print_created_by(out, &g->created_by);
        fputc('\n', out);
    }
    if (r->main_task != SIZE_MAX) {
        const ls_task *t = &s->rt->tasks[r->main_task];
        fprintf(out, "The main task is blocked forever (not counted as a leak):\n");
        fprintf(out, "# [%s]\n", ls_reason_name(s->rt, t->wait_reason));
        print_stack(out, &r->main_stack);
        fputc('\n', out);
    }
    if (a->leaked == 0 && a->unknown)
        fprintf(out, "No certain leaks: %zu task%s unknown (--all lists them).\n", a->unknown,
                a->unknown == 1 ? " is" : "s are");
    else if (a->leaked == 0 && a->missing)
        fprintf(out, "No certain leaks, and the file lacks memory the analysis needed (%s).\n", a->missing);
    else if (a->leaked == 0)
        fprintf(out, "No leaked tasks.\n");
}

void ls_unknown_note(const ls_analysis *a, char *buf, size_t size)
{
    if (!a->unknown) {
        *buf = '\0';
        return;
    }
    snprintf(buf, size, "%zu unknown (the file lacks memory that could wake %s: %s)", a->unknown,
             a->unknown == 1 ? "it" : "them", a->missing ? a->missing : "?");
}

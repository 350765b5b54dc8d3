/*
 * report_top.c — `leakscan top`: functions by leaked tasks, with pprof's
 * columns. flat: leaked tasks blocked directly in the function (its frame
 * is the innermost: where code was inlined at the first PC, the function
 * inlined deepest); cum: leaked tasks with the function anywhere on their
 * stack, inlined frames too (once per task). --focus/--ignore keep or drop
 * tasks by a regular expression over their frames' function names; as in
 * pprof, percentages stay of the total before them. --all counts every task.
 * Over several files merged (fleet.c), up to FILE_COLUMNS of them, each
 * file's flat count has a column of its own.
 */
#include "leakscan.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>

#define FILE_COLUMNS 8

typedef struct fn_row {
    const char *name;
    size_t      flat, cum;
    size_t      file_flat[FILE_COLUMNS];   /* a merged result's, per file */
    size_t      last_task;      /* +1: the last task counted in cum */
} fn_row;

typedef struct fn_table {
    fn_row  *rows;
    size_t   n, cap;
    ls_index index;             /* name -> row (hash.c): a row per frame is looked up */
} fn_table;

typedef struct row_key { const fn_table *t; const char *name; } row_key;

static bool same_name(const void *ctx, size_t i)
{
    const row_key *k = ctx;
    return strcmp(k->t->rows[i].name, k->name) == 0;
}

static fn_row *row_of(fn_table *t, const char *name)
{
    uint64_t h = ls_hash_string(name);
    size_t i = ls_index_find(&t->index, h, same_name, &(row_key){ t, name });
    if (i != SIZE_MAX)
        return &t->rows[i];
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        fn_row *grown = realloc(t->rows, cap * sizeof *grown);
        if (!grown)
            return NULL;
        t->rows = grown;
        t->cap = cap;
    }
    if (ls_index_add(&t->index, h, t->n) != 0)
        return NULL;
    t->rows[t->n] = (fn_row){ .name = name };
    return &t->rows[t->n++];
}

static bool by_cum;

static int compare_rows(const void *a, const void *b)
{
    const fn_row *x = a, *y = b;
    size_t kx = by_cum ? x->cum : x->flat, ky = by_cum ? y->cum : y->flat;
    if (kx != ky)
        return kx > ky ? -1 : 1;
    if (x->cum != y->cum)
        return x->cum > y->cum ? -1 : 1;
    return strcmp(x->name, y->name);
}

static bool stack_matches(const ls_stack *st, const regex_t *re)
{
    for (size_t f = 0; f < st->nframes; f++)
        if (st->frames[f].function && regexec(re, st->frames[f].function, 0, NULL, 0) == 0)
            return true;
    return false;
}

int ls_report_top(FILE *out, const ls_snapshot *s, const ls_analysis *a, ls_unwinder *u,
                  const ls_top_options *opt, ls_error *err)
{
    regex_t focus, ignore;
    if (opt->focus && regcomp(&focus, opt->focus, REG_EXTENDED | REG_NOSUB) != 0)
        return ls_error_set(err, NULL, "--focus: not a regular expression: %s", opt->focus);
    if (opt->ignore && regcomp(&ignore, opt->ignore, REG_EXTENDED | REG_NOSUB) != 0) {
        if (opt->focus)
            regfree(&focus);
        return ls_error_set(err, NULL, "--ignore: not a regular expression: %s", opt->ignore);
    }
    if (opt->all && opt->bytes) {
        if (opt->focus)
            regfree(&focus);
        if (opt->ignore)
            regfree(&ignore);
        return ls_error_set(err, NULL, "--bytes weighs leaked tasks by the memory only they reach: "
                            "it does not go with --all");
    }
    fn_table table = { 0 };
    size_t total = 0, kept = 0;    /* weight of every counted task; of those --focus/--ignore keep */
    int status = 0;
    /* --bytes: each task weighs the bytes it holds (retained.c), not 1. */
    ls_report held = { 0 };
    if (opt->bytes && (ls_group_leaks(s, a, u, false, &held, err) != 0 ||
                       ls_retained(s, a, &held, err) != 0))
        status = -1;
    for (size_t i = 0; i < s->rt->ntasks && status == 0; i++) {
        if (opt->all ? a->verdict[i] == LS_MAIN_BLOCKED : a->verdict[i] != LS_LEAKED)
            continue;
        size_t weight = !opt->bytes ? 1 : held.task_retained ? (size_t)held.task_retained[i] : 0;
        ls_stack st;
        if (ls_unwind_task(u, i, &st) != 0) {
            status = ls_error_set(err, s->path, "out of memory unwinding");
            break;
        }
        bool keep = (!opt->focus || stack_matches(&st, &focus)) &&
                    (!opt->ignore || !stack_matches(&st, &ignore));
        if (st.nframes > 0)
            total += weight;
        if (keep && st.nframes > 0) {
            kept += weight;
            for (size_t f = 0; f < st.nframes; f++) {
                fn_row *r = row_of(&table, st.frames[f].function ? st.frames[f].function : "?");
                if (!r) {
                    status = ls_error_set(err, s->path, "out of memory");
                    break;
                }
                if (f == 0)
                    r->flat += weight;
                if (f == 0 && s->nfiles > 1 && s->rt->tasks[i].file < FILE_COLUMNS)
                    r->file_flat[s->rt->tasks[i].file] += weight;
                if (r->last_task != i + 1) {     /* recursion counts once */
                    r->cum += weight;
                    r->last_task = i + 1;
                }
            }
        }
        free(st.frames);
    }
    if (status == 0) {
        by_cum = opt->cum;
        if (table.n)                        /* rows is NULL when empty: qsort's nonnull */
            qsort(table.rows, table.n, sizeof *table.rows, compare_rows);
        size_t shown = opt->nodecount && opt->nodecount < table.n ? opt->nodecount : table.n;
        fprintf(out, "leakscan: %s\n", s->path);
        const char *what = opt->bytes ? "byte" : opt->all ? "task" : "leaked task";
        const char *held_by = opt->bytes ? " held by leaked tasks" : "";
        fprintf(out, "Showing %zu of %zu function%s; ", shown, table.n, ls_s(table.n));
        if (opt->focus || opt->ignore)
            fprintf(out, "%zu of %zu %s%s%s (%.2f%%) after --focus/--ignore", kept, total, what, ls_s(total),
                    held_by, total ? 100.0 * (double)kept / (double)total : 0);
        else
            fprintf(out, "%zu %s%s%s", total, what, ls_s(total), held_by);
        if (a->suppressed)
            fprintf(out, "; %zu suppressed", a->suppressed);
        char unknown[256];
        ls_unknown_note(a, unknown, sizeof unknown);
        if (*unknown)
            fprintf(out, "; %s", unknown);
        fputc('\n', out);
        size_t columns = s->nfiles > 1 && s->nfiles <= FILE_COLUMNS ? s->nfiles : 0;
        if (columns) {
            fprintf(out, "flat per file:");
            for (size_t k = 0; k < columns; k++)
                fprintf(out, "%s [%zu] %s", k ? "," : "", k + 1, s->files[k].path);
            fputc('\n', out);
        } else if (s->nfiles > FILE_COLUMNS) {
            fprintf(out, "(%zu files: a column per file for at most %d; the default view counts each "
                    "group per file)\n", s->nfiles, FILE_COLUMNS);
        }
        fprintf(out, "%8s %7s %7s %8s %7s", "flat", "flat%", "sum%", "cum", "cum%");
        for (size_t k = 0; k < columns; k++) {
            char head[16];
            snprintf(head, sizeof head, "[%zu]", k + 1);
            fprintf(out, " %8s", head);
        }
        fprintf(out, "  %s\n", "function");
        double sum = 0;
        for (size_t k = 0; k < shown; k++) {
            const fn_row *r = &table.rows[k];
            double flat_pct = total ? 100.0 * (double)r->flat / (double)total : 0;
            sum += flat_pct;
            fprintf(out, "%8zu %6.2f%% %6.2f%% %8zu %6.2f%%", r->flat, flat_pct, sum, r->cum,
                    total ? 100.0 * (double)r->cum / (double)total : 0);
            for (size_t c = 0; c < columns; c++)
                fprintf(out, " %8zu", r->file_flat[c]);
            fprintf(out, "  %s\n", r->name);
        }
    }
    free(table.rows);
    ls_index_free(&table.index);
    ls_report_free(&held);
    if (opt->focus)
        regfree(&focus);
    if (opt->ignore)
        regfree(&ignore);
    return status;
}

/*
 * report_list.c — `leakscan list REGEX FILE`: each function whose name
 * matches, whole (its lines from DWARF: declaration to last code line;
 * around the counted lines where DWARF does not say, as for a saved
 * result), with flat (tasks blocked at that line: the innermost frame) and
 * cum (tasks whose stack passes through it) per line and for the function,
 * like `pprof -list`. A function the compiler inlined has frames of its own
 * (unwind.c), so it is listed with its own lines, and the function it was
 * inlined into with the call. --all counts every task, not only leaked.
 */
#include "leakscan.h"

#include <assert.h>
#include <limits.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONTEXT_LINES 4
#define MAX_FUNCTION_LINES 5000       /* longer: shown around its counted lines */

/* One source line of a function, or (line 0) the function's totals. */
typedef struct line_count {
    const char *function, *file, *dir;
    int         line;
    size_t      flat, cum;
    size_t      last_task;      /* +1 */
    ls_frame    frame;          /* the first frame counted here, for its lines */
    bool        activation;     /* that frame's PC is not a return address */
} line_count;

typedef struct counts {
    line_count *items;
    size_t      n, cap;
    ls_index    index;          /* (function, file, line) -> item (hash.c): one lookup per frame */
} counts;

typedef struct count_key { const counts *c; const ls_frame *f; int line; } count_key;

static bool same_line(const void *ctx, size_t i)
{
    const count_key *k = ctx;
    const line_count *lc = &k->c->items[i];
    return lc->line == k->line && strcmp(lc->function, k->f->function) == 0 &&
           strcmp(lc->file, k->f->file) == 0;
}

static line_count *count_of(counts *c, const ls_frame *f, int line)
{
    uint64_t key[3] = { ls_hash_string(f->function), ls_hash_string(f->file), (uint64_t)line };
    uint64_t h = ls_hash_bytes(key, sizeof key);
    size_t i = ls_index_find(&c->index, h, same_line, &(count_key){ c, f, line });
    if (i != SIZE_MAX)
        return &c->items[i];
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        line_count *grown = realloc(c->items, cap * sizeof *grown);
        if (!grown)
            return NULL;
        c->items = grown;
        c->cap = cap;
    }
    if (ls_index_add(&c->index, h, c->n) != 0)
        return NULL;
    c->items[c->n] = (line_count){ f->function, f->file, f->dir, line, 0, 0, 0, *f, false };
    return &c->items[c->n++];
}

static int compare_counts(const void *a, const void *b)
{
    const line_count *x = a, *y = b;
    int c = strcmp(x->function, y->function);
    if (c)
        return c;
    c = strcmp(x->file, y->file);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* Whether name is one a compiler takes as source. A saved result names
 * any path it likes, and list and html copy its lines into what people
 * read and share: a frame "in" ~/.ssh/id_rsa must not put a key in a
 * report. Only files named like source are opened. */
static bool is_source_name(const char *name)
{
    static const char *const kinds[] = {
        "c", "h", "cc", "cp", "cpp", "cxx", "c++", "hh", "hpp", "hxx", "h++", "inc", "inl", "ipp",
        "tcc", "tpp", "m", "mm", "go", "s", "asm", "rs", "y", "l", "def", "x", "cu", "cuh", "f",
        "f90", "d", "zig", "swift", "pyx",
    };
    const char *base = strrchr(name, '/');
    const char *dot = strrchr(base ? base + 1 : name, '.');
    if (!dot || !dot[1])
        return false;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcasecmp(dot + 1, kinds[i]) == 0)
            return true;
    return false;
}

/* Opens the source: as named, under its compilation directory, or under
 * --source-path (the whole name, then its base name). */
static FILE *open_source(const line_count *lc, const char *source_path, char *used, size_t size)
{
    if (!is_source_name(lc->file))
        return NULL;
    const char *base = strrchr(lc->file, '/');
    base = base ? base + 1 : lc->file;
    char candidates[4][PATH_MAX];
    int n = 0;
    if (lc->dir && lc->file[0] != '/')
        snprintf(candidates[n++], PATH_MAX, "%s/%s", lc->dir, lc->file);
    snprintf(candidates[n++], PATH_MAX, "%s", lc->file);
    if (source_path) {
        snprintf(candidates[n++], PATH_MAX, "%s/%s", source_path, lc->file);
        snprintf(candidates[n++], PATH_MAX, "%s/%s", source_path, base);
    }
    for (int i = 0; i < n; i++) {
        /* A path from the file: only a regular file is read (a FIFO would
         * block, /dev/zero is one endless line). */
        int fd = ls_open_regular(candidates[i]);
        FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
        if (fd >= 0 && !f)
            close(fd);
        if (f) {
            char resolved[PATH_MAX];
            const char *name = realpath(candidates[i], resolved) ? resolved : candidates[i];
            snprintf(used, size, "%.*s", (int)size - 1, name);
            return f;
        }
    }
    return NULL;
}

bool ls_source_line(const ls_frame *f, const char *source_path, char *buf, size_t size)
{
    if (!f->file || f->line <= 0)
        return false;
    line_count lc = { f->function ? f->function : "?", f->file, f->dir, f->line, 0, 0, 0, *f, false };
    char path[PATH_MAX];
    FILE *src = open_source(&lc, source_path, path, sizeof path);
    if (!src)
        return false;
    bool found = false;
    for (int line = 1; fgets(buf, (int)size, src); line++) {
        if (line == f->line) {
            buf[strcspn(buf, "\n")] = '\0';
            found = true;
            break;
        }
    }
    fclose(src);
    return found;
}

/* Prints one function: fn (its totals, line 0), then its n counted lines
 * in order. */
static void print_function(FILE *out, const ls_snapshot *s, ls_unwinder *u, const line_count *fn,
                           const line_count *first, size_t n, size_t total, const char *what,
                           const char *source_path)
{
    char path[PATH_MAX];
    FILE *src = open_source(fn, source_path, path, sizeof path);
    fprintf(out, "ROUTINE ======================== %s in %s\n", fn->function, src ? path : fn->file);
    fprintf(out, "%8zu %8zu (flat, cum) %.2f%% of %zu %s%s\n", fn->flat, fn->cum,
            total ? 100.0 * (double)fn->cum / (double)total : 0, total, what, ls_s(total));
    if (n == 0) {
        fprintf(out, "  (no line information)\n\n");
        if (src)
            fclose(src);
        return;
    }
    /* Lines come from the file (a saved result's "line" may be INT_MAX):
     * the context around them is clamped, never overflowed. */
    int lo = first[0].line > 1 + CONTEXT_LINES ? first[0].line - CONTEXT_LINES : 1;
    int hi = first[n - 1].line < INT_MAX - CONTEXT_LINES ? first[n - 1].line + CONTEXT_LINES : INT_MAX;
    int from, to;
    if (ls_function_lines(u, &fn->frame, fn->activation, &from, &to) && to >= from &&
        to - from < MAX_FUNCTION_LINES) {
        lo = from < first[0].line ? from : first[0].line;
        hi = to > first[n - 1].line ? to : first[n - 1].line;
    }
    if (!src) {
        if (is_source_name(fn->file))
            fprintf(out, "  (source not found: %s; try --source-path DIR)\n", fn->file);
        else
            fprintf(out, "  (source not read: %s is not named like a source file)\n", fn->file);
        for (size_t i = 0; i < n; i++)
            fprintf(out, "%8zu %8zu %6d: ?\n", first[i].flat, first[i].cum, first[i].line);
        fputc('\n', out);
        return;
    }
    struct stat ss, bs;
    char exe[PATH_MAX];                /* the note's path: opened as it is, printed safe */
    if (s->exe_path && stat(path, &ss) == 0 && stat(s->exe_path, &bs) == 0 && ss.st_mtime > bs.st_mtime)
        fprintf(out, "  (note: %s is newer than %s: lines may not match)\n", path,
                ls_text_safe(s->exe_path, exe, sizeof exe));
    char text[4096];
    int line = 0;
    size_t k = 0;
    while (line < hi && fgets(text, sizeof text, src)) {     /* line never passes INT_MAX */
        if (!strchr(text, '\n') && !feof(src)) {
            int c;                     /* a very long line: skip the rest */
            while ((c = fgetc(src)) != EOF && c != '\n')
                ;
        }
        line++;
        if (line < lo)
            continue;
        text[strcspn(text, "\n")] = '\0';
        while (k < n && first[k].line < line)
            k++;
        if (k < n && first[k].line == line)
            fprintf(out, "%8zu %8zu %6d: %s\n", first[k].flat, first[k].cum, line, text);
        else
            fprintf(out, "%8s %8s %6d: %s\n", ".", ".", line, text);
    }
    fclose(src);
    fputc('\n', out);
}

/* Counts frame f_at of task i's stack at its line and in its function's
 * totals. false when out of memory. Its function's lines are looked up
 * with the PC taken for a return address (activation false), as a parked
 * task's PCs are. */
static bool count_frame(counts *c, const ls_stack *st, size_t f_at, size_t i)
{
    const ls_frame *fr = &st->frames[f_at];
    for (int pass = fr->line > 0 ? 0 : 1; pass < 2; pass++) {   /* no line: the totals only */
        line_count *lc = count_of(c, fr, pass ? 0 : fr->line);
        if (!lc)
            return false;
        if (f_at == 0)
            lc->flat++;
        if (lc->last_task != i + 1) {
            lc->cum++;
            lc->last_task = i + 1;
        }
    }
    return true;
}

int ls_report_list(FILE *out, const ls_snapshot *s, const ls_analysis *a, ls_unwinder *u,
                   const char *regex, bool all, const char *source_path, ls_error *err)
{
    regex_t re;
    if (regcomp(&re, regex, REG_EXTENDED | REG_NOSUB) != 0)
        return ls_error_set(err, NULL, "list: not a regular expression: %s", regex);
    counts c = { 0 };
    size_t total = 0;
    int status = 0;
    const char *what = all ? "task" : "leaked task";
    for (size_t i = 0; i < s->rt->ntasks && status == 0; i++) {
        if (all ? a->verdict[i] == LS_MAIN_BLOCKED : a->verdict[i] != LS_LEAKED)
            continue;
        ls_stack st;
        if (ls_unwind_task(u, i, &st) != 0) {
            status = ls_error_set(err, s->path, "out of memory unwinding");
            break;
        }
        total++;
        for (size_t f = 0; f < st.nframes; f++) {
            const ls_frame *fr = &st.frames[f];
            if (!fr->function || !fr->file || regexec(&re, fr->function, 0, NULL, 0) != 0)
                continue;
            if (!count_frame(&c, &st, f, i)) {
                status = ls_error_set(err, s->path, "out of memory");
                break;
            }
        }
        free(st.frames);
    }
    regfree(&re);
    if (status == 0 && c.n == 0)
        fprintf(out, "no %s passes through a function matching '%s'\n", what, regex);
    if (status == 0 && c.n) {
        /* Sorted, each function's totals (line 0) come before its lines. */
        qsort(c.items, c.n, sizeof *c.items, compare_counts);
        for (size_t i = 0; i < c.n;) {
            size_t j = i + 1;
            while (j < c.n && strcmp(c.items[j].function, c.items[i].function) == 0 &&
                   strcmp(c.items[j].file, c.items[i].file) == 0)
                j++;
            assert(c.items[i].line == 0);
            print_function(out, s, u, &c.items[i], &c.items[i + 1], j - i - 1, total, what, source_path);
            i = j;
        }
    }
    free(c.items);
    ls_index_free(&c.index);
    return status;
}

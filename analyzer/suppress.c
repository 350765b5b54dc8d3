/*
 * suppress.c — leaks a user has decided not to see: a library's own
 * background tasks, a known leak being fixed elsewhere. Rules match
 * function names of the symbolised stack, not raw text:
 *
 *   ignore-top FUNC       the task's top user frame (its first frame that
 *                         is not libleakrt's own lrt_* API) is FUNC; where
 *                         code was inlined at that PC, any function there
 *                         (the one inlined deepest, as goleak's top
 *                         function, or one it was inlined into)
 *   ignore-any FUNC       any frame of the task is FUNC, inlined ones too
 *   ignore-creator FUNC   the function that spawned the task is FUNC (as
 *                         "created by" names it, inlined deepest, or one
 *                         it was inlined into at the creation site)
 *   under FUNC            the opposite: keep only tasks with FUNC among
 *                         their creators, their creators' creators, ...
 *                         (so a test suite can blame the test that started
 *                         the chain); at each creation site, the functions
 *                         inlined there count too
 *
 * FUNC is a glob (fnmatch: `pool_*`) or, between slashes, an extended
 * regular expression (`/^cache_(refresh|evict)$/`). Rules come from the
 * command line (--ignore-top, --ignore-any, --ignore-creator) and from
 * suppression files (--suppressions FILE: one rule a line, `#` comments,
 * blank lines), so a library can ship a file for its known tasks.
 *
 * A suppressed task is not dropped silently: its verdict becomes
 * LS_SUPPRESSED, which no view counts as leaked, and the reports' headers
 * say how many were suppressed.
 *
 * Cost: rules come from a file, and so do the tasks and their frames.
 * Matching every rule against every frame of every task was the product
 * of the two (a 1 MiB rule file over a large snapshot: hours). A plain
 * name is looked up in a hash index, a function name is judged once per
 * run (its answer for each kind of rule is kept), and a set holds at most
 * MAX_PATTERNS globs and regular expressions, each tried once per distinct
 * name.
 */
#include "leakscan.h"

#include <errno.h>
#include <fnmatch.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum rule_kind { RULE_TOP, RULE_ANY, RULE_CREATOR, RULE_UNDER };

#define KIND(k)      (1u << (k))
#define MAX_PATTERNS 128

/* A glob or regular expression; a plain name is a literal instead. */
typedef struct rule {
    enum rule_kind kind;
    char          *pattern;
    bool           is_regex;
    regex_t        regex;
} rule;

/* A name: a plain-name rule (mask: the kinds naming it) or a function
 * already judged (mask: the kinds of rule it matches). */
typedef struct named {
    char    *name;
    unsigned mask;
} named;

typedef struct name_table {
    named   *entries;
    size_t   n, cap;
    ls_index index;
} name_table;

struct ls_suppressions {
    rule      *rules;            /* the patterns */
    size_t     count, capacity;
    name_table literals;         /* the plain names */
    unsigned   kinds;            /* every kind the set has a rule of */
};

static const char *const kind_names[] = { "ignore-top", "ignore-any", "ignore-creator", "under" };

typedef struct name_key { const name_table *t; const char *name; } name_key;

static bool same_name(const void *ctx, size_t i)
{
    const name_key *k = ctx;
    return strcmp(k->t->entries[i].name, k->name) == 0;
}

static named *name_find(const name_table *t, const char *name, uint64_t hash)
{
    size_t i = ls_index_find(&t->index, hash, same_name, &(name_key){ t, name });
    return i == SIZE_MAX ? NULL : &t->entries[i];
}

static named *name_add(name_table *t, const char *name, uint64_t hash, unsigned mask)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        named *grown = realloc(t->entries, cap * sizeof *grown);
        if (!grown)
            return NULL;
        t->entries = grown;
        t->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy || ls_index_add(&t->index, hash, t->n) != 0) {
        free(copy);
        return NULL;
    }
    t->entries[t->n] = (named){ copy, mask };
    return &t->entries[t->n++];
}

static void name_table_free(name_table *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->entries[i].name);
    free(t->entries);
    ls_index_free(&t->index);
}

static bool is_plain(const char *pattern)
{
    return !strpbrk(pattern, "*?[\\");
}

static int add_rule(ls_suppressions *set, enum rule_kind kind, const char *pattern,
                    const char *where, ls_error *err)
{
    if (!*pattern)
        return ls_error_set(err, where, "%s wants a function name or pattern", kind_names[kind]);
    size_t len = strlen(pattern);
    bool is_regex = len >= 2 && pattern[0] == '/' && pattern[len - 1] == '/';
    if (!is_regex && is_plain(pattern)) {
        uint64_t h = ls_hash_string(pattern);
        named *e = name_find(&set->literals, pattern, h);
        if (!e && !(e = name_add(&set->literals, pattern, h, 0)))
            return ls_error_set(err, where, "out of memory");
        e->mask |= KIND(kind);
        set->kinds |= KIND(kind);
        return 0;
    }
    if (set->count == MAX_PATTERNS)
        return ls_error_set(err, where, "more than %d rules with a wildcard or a regular expression "
                            "(each is tried on every function name); name functions plainly",
                            MAX_PATTERNS);
    if (set->count == set->capacity) {
        size_t cap = set->capacity ? 2 * set->capacity : 16;
        rule *grown = realloc(set->rules, cap * sizeof *grown);
        if (!grown)
            return ls_error_set(err, where, "out of memory");
        set->rules = grown;
        set->capacity = cap;
    }
    rule *r = &set->rules[set->count];
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->is_regex = is_regex;
    r->pattern = r->is_regex ? strndup(pattern + 1, len - 2) : strdup(pattern);
    if (!r->pattern)
        return ls_error_set(err, where, "out of memory");
    if (r->is_regex) {
        int code = regcomp(&r->regex, r->pattern, REG_EXTENDED | REG_NOSUB);
        if (code != 0) {
            char why[128];
            regerror(code, &r->regex, why, sizeof why);
            ls_error_set(err, where, "bad regular expression /%s/: %s", r->pattern, why);
            free(r->pattern);
            return -1;
        }
    }
    set->count++;
    set->kinds |= KIND(kind);
    return 0;
}

ls_suppressions *ls_suppressions_new(void)
{
    return calloc(1, sizeof(ls_suppressions));
}

int ls_suppressions_add(ls_suppressions *set, const char *kind, const char *pattern, ls_error *err)
{
    for (int k = RULE_TOP; k <= RULE_UNDER; k++)
        if (strcmp(kind, kind_names[k]) == 0)
            return add_rule(set, (enum rule_kind)k, pattern, NULL, err);
    return ls_error_set(err, NULL, "unknown suppression '%s'", kind);
}

/* A rule file is a regular file of at most MAX_RULES_FILE bytes in lines
 * of at most MAX_RULE_LINE: /dev/zero is one endless line (getline grew it
 * to gigabytes), a FIFO may never end, and a directory read as no rules
 * at all, silently. Anything else is refused, naming the file. */
#define MAX_RULES_FILE (1 << 20)
#define MAX_RULE_LINE  4096

int ls_suppressions_load(ls_suppressions *set, const char *path, ls_error *err)
{
    int fd = ls_open_regular(path);
    if (fd < 0)
        return ls_error_set(err, path, "cannot read rules: %s", errno == EINVAL
                            ? "not a regular file" : strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size > MAX_RULES_FILE) {
        close(fd);
        return ls_error_set(err, path, "a rule file is at most %d bytes; this one is %lld", MAX_RULES_FILE,
                            (long long)st.st_size);
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        return ls_error_set(err, path, "cannot read rules: %s", strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0, total = 0;
    int number = 0, status = 0;
    ssize_t len;
    while (status == 0 && (len = getline(&line, &cap, f)) >= 0) {
        number++;
        total += (size_t)len;
        if (len > MAX_RULE_LINE || total > MAX_RULES_FILE) {
            /* (A file that grows while it is read ends here too.) */
            status = len > MAX_RULE_LINE
                     ? ls_error_set(err, path, "line %d is longer than %d bytes", number, MAX_RULE_LINE)
                     : ls_error_set(err, path, "line %d is past %d bytes", number, MAX_RULES_FILE);
            break;
        }
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *words[3];
        int n = 0;
        for (char *save = NULL, *w = strtok_r(line, " \t\r\n", &save); w && n < 3;
             w = strtok_r(NULL, " \t\r\n", &save))
            words[n++] = w;
        if (n == 0)
            continue;
        char where[4096 + 32];
        snprintf(where, sizeof where, "%s:%d", path, number);
        int kind = -1;
        for (int k = RULE_TOP; k <= RULE_UNDER; k++)
            if (strcmp(words[0], kind_names[k]) == 0)
                kind = k;
        if (kind < 0 || n != 2)
            status = ls_error_set(err, where, "expected 'ignore-top|ignore-any|ignore-creator|under "
                                  "FUNC', got '%s%s'", words[0], n > 2 ? " ..." : "");
        else
            status = add_rule(set, (enum rule_kind)kind, words[1], where, err);
    }
    free(line);
    fclose(f);
    return status;
}

void ls_suppressions_free(ls_suppressions *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->count; i++) {
        if (set->rules[i].is_regex)
            regfree(&set->rules[i].regex);
        free(set->rules[i].pattern);
    }
    free(set->rules);
    name_table_free(&set->literals);
    free(set);
}

/* One run's judgements: the kinds of rule each function name matches. */
typedef struct judge {
    const ls_suppressions *set;
    name_table             seen;
} judge;

static unsigned kinds_matching(judge *j, const char *function)
{
    if (!function)
        return 0;
    uint64_t h = ls_hash_string(function);
    named *e = name_find(&j->seen, function, h);
    if (e)
        return e->mask;
    const ls_suppressions *set = j->set;
    named *lit = name_find(&set->literals, function, h);
    unsigned mask = lit ? lit->mask : 0;
    for (size_t k = 0; k < set->count; k++) {
        const rule *r = &set->rules[k];
        if (mask & KIND(r->kind))
            continue;
        if (r->is_regex ? regexec(&r->regex, function, 0, NULL, 0) == 0
                        : fnmatch(r->pattern, function, 0) == 0)
            mask |= KIND(r->kind);
    }
    name_add(&j->seen, function, h, mask);   /* out of memory: judged again next time */
    return mask;
}

/* Whether an ignore-top rule names a function at the task's top user PC
 * (the first that is not libleakrt's API, where the user's code blocked):
 * the function inlined deepest there or any it was inlined into, so that
 * a rule naming the real function keeps matching when the compiler
 * inlines a helper. */
static bool top_matches(judge *j, const ls_stack *st)
{
    for (size_t f = st->nframes ? ls_top_user_frame(st) : 0; f < st->nframes; f++) {
        if (kinds_matching(j, st->frames[f].function) & KIND(RULE_TOP))
            return true;
        if (!st->frames[f].inlined)
            break;                       /* the PC's real function: the last */
    }
    return false;
}

/* The kinds of rule a function at creation site pc matches: the one that
 * ran lrt_go or any it was inlined into there (a test's helper that
 * starts the tasks is often inlined into the test). */
static unsigned site_kinds(judge *j, ls_unwinder *u, uint64_t pc)
{
    ls_frame f[16];
    size_t n = ls_symbolize_all(u, pc, f, sizeof f / sizeof f[0]);
    unsigned mask = 0;
    for (size_t k = 0; k < n; k++)
        mask |= kinds_matching(j, f[k].function);
    return mask;
}

/* Whether an under rule names one of the task's creators (its own, its
 * creators' creators, as far as the runtime kept them). */
static bool created_under(judge *j, const ls_snapshot *s, ls_unwinder *u, size_t i)
{
    const ls_task *t = &s->rt->tasks[i];
    if (site_kinds(j, u, s->from_json ? i : t->create_pc) & KIND(RULE_UNDER))
        return true;
    for (uint32_t k = 0; k < t->nancestry && !s->from_json; k++)
        if (t->ancestry[k].parent_id && site_kinds(j, u, t->ancestry[k].create_pc) & KIND(RULE_UNDER))
            return true;
    return false;
}

static bool suppressed(judge *j, const ls_snapshot *s, ls_unwinder *u, size_t i, const ls_stack *st)
{
    unsigned kinds = j->set->kinds;
    /* --under: kept only when created under one of them. */
    if ((kinds & KIND(RULE_UNDER)) && !created_under(j, s, u, i))
        return true;
    if ((kinds & KIND(RULE_TOP)) && top_matches(j, st))
        return true;
    uint64_t site = s->from_json ? i : s->rt->tasks[i].create_pc;
    if ((kinds & KIND(RULE_CREATOR)) && (site_kinds(j, u, site) & KIND(RULE_CREATOR)))
        return true;
    for (size_t f = 0; (kinds & KIND(RULE_ANY)) && f < st->nframes; f++)
        if (kinds_matching(j, st->frames[f].function) & KIND(RULE_ANY))
            return true;
    return false;
}

int ls_apply_suppressions(const ls_snapshot *s, ls_analysis *a, ls_unwinder *u,
                          const ls_suppressions *set)
{
    if (!set || set->kinds == 0)
        return 0;
    judge j = { .set = set };
    int status = 0;
    for (size_t i = 0; i < s->rt->ntasks && status == 0; i++) {
        if (a->verdict[i] != LS_LEAKED)
            continue;
        ls_stack st;
        if (ls_unwind_task(u, i, &st) != 0) {
            status = -1;
            break;
        }
        if (suppressed(&j, s, u, i, &st)) {
            a->verdict[i] = LS_SUPPRESSED;
            a->leaked--;
            a->suppressed++;
        }
        free(st.frames);
    }
    name_table_free(&j.seen);
    return status;
}

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
 * say how many were suppressed. A rule that matches no leaked task (a
 * typo, a leak fixed long ago) gets a warning naming it and its line.
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
    unsigned marked;             /* a run's: kinds whose rules are marked used */
} named;

typedef struct name_table {
    named   *entries;
    size_t   n, cap;
    ls_index index;
} name_table;

/* Every rule as given, for the warning about one that matches nothing. */
typedef struct given {
    enum rule_kind kind;
    char          *text, *where; /* where: FILE:LINE, or NULL (the command line) */
    bool           literal;
    size_t         index;        /* into literals.entries, or rules */
} given;

struct ls_suppressions {
    rule      *rules;            /* the patterns */
    size_t     count, capacity;
    name_table literals;         /* the plain names */
    unsigned   kinds;            /* every kind the set has a rule of */
    given     *given;
    size_t     ngiven, given_cap;
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
    t->entries[t->n] = (named){ copy, mask, 0 };
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

static int remember(ls_suppressions *set, enum rule_kind kind, const char *text, const char *where,
                    bool literal, size_t index, ls_error *err)
{
    if (set->ngiven == set->given_cap) {
        size_t cap = set->given_cap ? 2 * set->given_cap : 16;
        given *grown = realloc(set->given, cap * sizeof *grown);
        if (!grown)
            return ls_error_set(err, where, "out of memory");
        set->given = grown;
        set->given_cap = cap;
    }
    given *g = &set->given[set->ngiven];
    *g = (given){ kind, strdup(text), where ? strdup(where) : NULL, literal, index };
    if (!g->text || (where && !g->where)) {
        free(g->text);
        free(g->where);
        return ls_error_set(err, where, "out of memory");
    }
    set->ngiven++;
    return 0;
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
        return remember(set, kind, pattern, where, true, (size_t)(e - set->literals.entries), err);
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
    return remember(set, kind, pattern, where, false, set->count - 1, err);
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
    for (size_t i = 0; i < set->ngiven; i++) {
        free(set->given[i].text);
        free(set->given[i].where);
    }
    free(set->given);
    free(set);
}

/* One run's judgements: the kinds of rule each function name matches,
 * and which rules matched a leaked task. */
typedef struct judge {
    const ls_suppressions *set;
    name_table             seen;
    unsigned              *literal_used;   /* per literal: kinds used */
    bool                  *rule_used;      /* per pattern */
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

/* Name function, judged, matched a kind-K rule where K looks: every rule
 * of kind K naming it is used (once per name and kind: at most
 * MAX_PATTERNS tries). */
static void mark_used(judge *j, const char *function, enum rule_kind kind)
{
    uint64_t h = ls_hash_string(function);
    named *e = name_find(&j->seen, function, h);
    if (e && (e->marked & KIND(kind)))
        return;
    if (e)
        e->marked |= KIND(kind);
    const ls_suppressions *set = j->set;
    named *lit = name_find(&set->literals, function, h);
    if (lit && (lit->mask & KIND(kind)))
        j->literal_used[lit - set->literals.entries] |= KIND(kind);
    for (size_t k = 0; k < set->count; k++) {
        const rule *r = &set->rules[k];
        if (r->kind == kind && !j->rule_used[k] &&
            (r->is_regex ? regexec(&r->regex, function, 0, NULL, 0) == 0 : fnmatch(r->pattern, function, 0) == 0))
            j->rule_used[k] = true;
    }
}

/* Whether function matches a kind-K rule; if so, those rules are used. */
static bool matches(judge *j, const char *function, enum rule_kind kind)
{
    if (!(kinds_matching(j, function) & KIND(kind)))
        return false;
    mark_used(j, function, kind);
    return true;
}

/* Whether an ignore-top rule names a function at the task's top user PC
 * (the first that is not libleakrt's API, where the user's code blocked):
 * the function inlined deepest there or any it was inlined into, so that
 * a rule naming the real function keeps matching when the compiler
 * inlines a helper. */
static bool top_matches(judge *j, const ls_stack *st)
{
    bool any = false;
    for (size_t f = st->nframes ? ls_top_user_frame(st) : 0; f < st->nframes; f++) {
        any |= matches(j, st->frames[f].function, RULE_TOP);
        if (!st->frames[f].inlined)
            break;                       /* the PC's real function: the last */
    }
    return any;
}

/* The kinds of rule a function at creation site pc matches: the one that
 * ran lrt_go or any it was inlined into there (a test's helper that
 * starts the tasks is often inlined into the test). */
static bool site_matches(judge *j, ls_unwinder *u, uint64_t pc, enum rule_kind kind)
{
    ls_frame f[16];
    size_t n = ls_symbolize_all(u, pc, f, sizeof f / sizeof f[0]);
    bool any = false;
    for (size_t k = 0; k < n; k++)
        any |= matches(j, f[k].function, kind);
    return any;
}

/* Whether an under rule names one of the task's creators (its own, its
 * creators' creators, as far as the runtime kept them). */
static bool created_under(judge *j, const ls_snapshot *s, ls_unwinder *u, size_t i)
{
    const ls_task *t = &s->rt->tasks[i];
    bool under = site_matches(j, u, t->create_pc, RULE_UNDER);
    for (uint32_t k = 0; k < t->nancestry; k++)
        if (t->ancestry[k].parent_id)
            under |= site_matches(j, u, t->ancestry[k].create_pc, RULE_UNDER);
    return under;
}

/* Every kind is judged, none cut short by another's answer: whether a
 * rule matched anything must not depend on the order of the checks. */
static bool suppressed(judge *j, const ls_snapshot *s, ls_unwinder *u, size_t i, const ls_stack *st)
{
    unsigned kinds = j->set->kinds;
    bool hide = false;
    /* --under: kept only when created under one of them. */
    if (kinds & KIND(RULE_UNDER))
        hide |= !created_under(j, s, u, i);
    if (kinds & KIND(RULE_TOP))
        hide |= top_matches(j, st);
    uint64_t site = s->rt->tasks[i].create_pc;
    if (kinds & KIND(RULE_CREATOR))
        hide |= site_matches(j, u, site, RULE_CREATOR);
    for (size_t f = 0; (kinds & KIND(RULE_ANY)) && f < st->nframes; f++)
        hide |= matches(j, st->frames[f].function, RULE_ANY);
    return hide;
}

int ls_apply_suppressions(const ls_snapshot *s, ls_analysis *a, ls_unwinder *u,
                          const ls_suppressions *set, bool warn)
{
    if (!set || set->kinds == 0)
        return 0;
    judge j = { .set = set };
    j.literal_used = calloc(set->literals.n ? set->literals.n : 1, sizeof *j.literal_used);
    j.rule_used = calloc(set->count ? set->count : 1, sizeof *j.rule_used);
    if (!j.literal_used || !j.rule_used) {
        free(j.literal_used);
        free(j.rule_used);
        return -1;
    }
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
    for (size_t g = 0; warn && status == 0 && g < set->ngiven; g++) {
        const given *r = &set->given[g];
        bool used = r->literal ? (j.literal_used[r->index] & KIND(r->kind)) != 0 : j.rule_used[r->index];
        if (!used)
            fprintf(stderr, "leakscan: %s: warning: suppression '%s %s'%s%s%s matches no leaked task\n",
                    s->path, kind_names[r->kind], r->text, r->where ? " (" : "",
                    r->where ? r->where : "", r->where ? ")" : "");
    }
    free(j.literal_used);
    free(j.rule_used);
    name_table_free(&j.seen);
    return status;
}

/*
 * interactive.c — `leakscan -i FILE`: a prompt, like `go tool pprof`'s,
 * over one loaded snapshot. The file is read, marked and unwound once;
 * each command is then one view: groups, top, list, traces, why, waiters.
 * Line editing, history (~/.leakscan_history) and completion of commands
 * and function names come from libedit. When standard input is not a
 * terminal, commands are read one a line with no prompt, so a script can
 * drive it.
 */
#include "leakscan.h"

#include <editline/readline.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char help_text[] =
"commands:\n"
"  groups                 the leaked tasks grouped by stack (as `leakscan FILE`)\n"
"  top [-cum] [-bytes] [-N] [-focus RE] [-ignore RE]\n"
"                         functions by leaked tasks, like pprof's top\n"
"  list REGEX             source lines of matching functions, flat and cum\n"
"  traces [-all]          every leaked task (or every task) with its stack\n"
"  why TASK               why task TASK is (or is not) leaked\n"
"  waiters ADDR|SYMBOL    every task blocked on that object\n"
"  help                   this text\n"
"  quit, exit, ^D         leave\n";

static const char *const commands[] = {
    "groups", "top", "list", "traces", "why", "waiters", "help", "quit", "exit", NULL,
};

/* Completion: a command first, then function names seen in the report. */
static char **function_names;
static size_t nfunction_names;

static char *next_match(const char *text, int state)
{
    static size_t command, function;
    if (state == 0)
        command = function = 0;
    size_t len = strlen(text);
    bool first_word = rl_point == (int)len;    /* nothing before the word */
    while (first_word && commands[command])
        if (strncmp(commands[command++], text, len) == 0)
            return strdup(commands[command - 1]);
    while (!first_word && function < nfunction_names)
        if (strncmp(function_names[function++], text, len) == 0)
            return strdup(function_names[function - 1]);
    return NULL;
}

static char **complete(const char *text, int start, int end)
{
    (void)start, (void)end;
    rl_attempted_completion_over = 1;          /* no file names */
    return rl_completion_matches(text, next_match);
}

static void collect_function_names(const ls_report *r)
{
    size_t cap = 0;
    for (size_t g = 0; g < r->ngroups; g++) {
        for (size_t f = 0; f < r->groups[g].stack.nframes; f++) {
            const char *name = r->groups[g].stack.frames[f].function;
            bool seen = !name;
            for (size_t i = 0; i < nfunction_names && !seen; i++)
                seen = strcmp(function_names[i], name) == 0;
            if (seen)
                continue;
            if (nfunction_names == cap) {
                cap = cap ? 2 * cap : 64;
                char **grown = realloc(function_names, cap * sizeof *grown);
                if (!grown)
                    return;
                function_names = grown;
            }
            function_names[nfunction_names++] = strdup(name);
        }
    }
}

/* Splits line into at most max words (in place). */
static int split(char *line, char **words, int max)
{
    int n = 0;
    for (char *save = NULL, *w = strtok_r(line, " \t", &save); w && n < max;
         w = strtok_r(NULL, " \t", &save))
        words[n++] = w;
    return n;
}

static void run_top(ls_input *in, char **words, int n)
{
    ls_top_options top = { 0 };
    for (int i = 1; i < n; i++) {
        if (strcmp(words[i], "-cum") == 0 || strcmp(words[i], "--cum") == 0)
            top.cum = true;
        else if (strcmp(words[i], "-bytes") == 0 || strcmp(words[i], "--bytes") == 0)
            top.bytes = true;
        else if ((strcmp(words[i], "-focus") == 0 || strcmp(words[i], "--focus") == 0) && i + 1 < n)
            top.focus = words[++i];
        else if ((strcmp(words[i], "-ignore") == 0 || strcmp(words[i], "--ignore") == 0) && i + 1 < n)
            top.ignore = words[++i];
        else if (words[i][0] == '-' && atoi(words[i] + 1) > 0)
            top.nodecount = (size_t)atoi(words[i] + 1);
        else {
            char shown[256];               /* echoed input is printed safe, as the file's text */
            printf("top: unknown option '%s' (try help)\n", ls_text_safe(words[i], shown, sizeof shown));
            return;
        }
    }
    ls_error err;
    if (ls_report_top(stdout, in->s, in->a, in->u, &top, &err) != 0)
        printf("top: %s\n", err.message);
}

/* One command. false: leave. */
static bool run_command(ls_input *in, const ls_report *r, const ls_options *opt, char *line)
{
    char *words[16];
    int n = split(line, words, 16);
    if (n == 0)
        return true;
    const char *cmd = words[0];
    ls_error err;
    if (strcmp(cmd, "quit") == 0 || strcmp(cmd, "exit") == 0)
        return false;
    if (strcmp(cmd, "help") == 0) {
        fputs(help_text, stdout);
    } else if (strcmp(cmd, "groups") == 0) {
        ls_report_text(stdout, in->s, in->a, r);
    } else if (strcmp(cmd, "top") == 0) {
        run_top(in, words, n);
    } else if (strcmp(cmd, "list") == 0) {
        if (n != 2)
            printf("list: give a regular expression: list worker\n");
        else if (ls_report_list(stdout, in->s, in->a, in->u, words[1], false, opt->source_path, &err) != 0)
            printf("list: %s\n", err.message);
    } else if (strcmp(cmd, "traces") == 0) {
        bool all = n > 1 && (strcmp(words[1], "-all") == 0 || strcmp(words[1], "--all") == 0);
        if (ls_report_traces(stdout, in->s, in->a, in->u, all) != 0)
            printf("traces: out of memory\n");
    } else if (strcmp(cmd, "why") == 0) {
        char *end = NULL;
        unsigned long long id = n == 2 ? strtoull(words[1], &end, 10) : 0;
        if (n != 2 || *end || !id)
            printf("why: give a task id: why 7\n");
        else if (in->s->from_json)
            printf(in->s->nfiles > 1 || in->owned_path ? "why: several files merged keep no heap to explain: "
                   "ask one of them (leakscan why %llu FILE)\n" : "why: a JSON result keeps no heap to "
                   "explain: open the snapshot\n", id);
        else if (ls_why(stdout, in->s, in->a, in->u, id, &err) != 0)
            printf("why: %s\n", err.message);
    } else if (strcmp(cmd, "waiters") == 0) {
        size_t leaked;
        if (n != 2)
            printf("waiters: give an object: waiters jobs (a global) or waiters 0x7f...\n");
        else if (ls_waiters(stdout, in->s, in->a, in->u, words[1], &leaked, &err) != 0)
            printf("waiters: %s\n", err.message);
    } else {
        char shown[256];                   /* echoed input is printed safe, as the file's text */
        printf("unknown command '%s' (try help)\n", ls_text_safe(cmd, shown, sizeof shown));
    }
    fflush(stdout);
    return true;
}

/* ~/.leakscan_history is read, and written back, only when it is a
 * regular file of at most MAX_HISTORY_FILE bytes, or absent (then it is
 * made): a link to /dev/zero grew libedit's history to gigabytes, a FIFO
 * would block, and a device must not be written over. The history keeps
 * the last MAX_HISTORY commands. */
#define MAX_HISTORY_FILE (1 << 20)
#define MAX_HISTORY      1000

static bool history_usable(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == ENOENT;
    if (S_ISREG(st.st_mode) && st.st_size <= MAX_HISTORY_FILE)
        return true;
    char shown[512];
    fprintf(stderr, "leakscan: %s: warning: %s, so the history is neither read nor saved\n",
            ls_text_safe(path, shown, sizeof shown),
            S_ISREG(st.st_mode) ? "larger than 1 MiB" : "not a regular file");
    return false;
}

/* A command from a stream that is not a terminal: at most MAX_COMMAND
 * bytes (an endless line, /dev/zero, must not grow without bound); what a
 * longer line holds past that is read and dropped, and the line refused.
 * NULL at the end of the input. */
#define MAX_COMMAND 4096

static char *read_command(FILE *f)
{
    char *line = malloc(MAX_COMMAND + 1);
    if (!line)
        return NULL;
    for (;;) {
        size_t n = 0;
        bool read = false, too_long = false;
        int c;
        while ((c = getc(f)) != EOF && c != '\n') {
            read = true;
            if (n < MAX_COMMAND)
                line[n++] = (char)c;
            else
                too_long = true;
        }
        if (c == EOF && !read) {
            free(line);
            return NULL;
        }
        if (!too_long) {
            line[n] = '\0';
            return line;
        }
        printf("a command is at most %d bytes\n", MAX_COMMAND);
    }
}

int ls_interactive_main(char *const *paths, size_t npaths, const ls_options *opt)
{
    ls_error err;
    ls_input in;
    ls_report r = { 0 };
    size_t failed = 0;
    /* why needs the breadth-first mark's parents: load with them (a JSON
     * result has none: it loads without, and why says so; nor has a merge
     * of several files, fleet.c, whose failures are named as it loads). */
    if (npaths == 1 ? ls_input_open(paths[0], opt, LS_EXPLAIN_IF_CORE, &in, &err) != 0
                    : ls_input_open_many(paths, npaths, opt, &in, &failed, &err) != 0) {
        fprintf(stderr, "leakscan: %s\n", err.message);
        if (in.s)
            ls_input_close(&in);
        return 2;
    }
    if (ls_group_leaks(in.s, in.a, in.u, false, &r, &err) != 0 || ls_retained(in.s, in.a, &r, &err) != 0 ||
        ls_find_crash(in.s, in.u, &r.crash) != 0) {
        fprintf(stderr, "leakscan: %s\n", err.message);
        ls_input_close(&in);
        return 2;
    }
    bool tty = isatty(STDIN_FILENO);
    char history[4096] = "";
    if (tty) {
        const char *home = getenv("HOME");
        if (home)
            snprintf(history, sizeof history, "%s/.leakscan_history", home);
        using_history();
        stifle_history(MAX_HISTORY);
        if (history[0] && !history_usable(history))
            history[0] = '\0';
        if (history[0])
            read_history(history);
        collect_function_names(&r);
        rl_attempted_completion_function = complete;
        char unknown[256];
        ls_unknown_note(in.a, unknown, sizeof unknown);
        char counts[160];
        ls_count_line(in.s, in.a, &r, counts, sizeof counts);
        printf("%s: %s%s%s. Type help for commands.\n", in.s->path, counts, *unknown ? ", " : "", unknown);
    }
    for (;;) {
        char *line = NULL;
        if (tty) {
            line = readline("(leakscan) ");
        } else {
            line = read_command(stdin);
        }
        if (!line)
            break;
        if (tty && line[0])
            add_history(line);
        bool go_on = run_command(&in, &r, opt, line);
        free(line);
        if (!go_on)
            break;
    }
    if (tty && history[0])
        write_history(history);                /* history_usable said it may */
    for (size_t i = 0; i < nfunction_names; i++)
        free(function_names[i]);
    free(function_names);
    size_t leaked = in.a->leaked;
    ls_report_free(&r);
    ls_input_close(&in);
    return failed ? 2 : leaked ? 1 : 0;
}

/*
 * main.c — the leakscan command line.
 */
#include "leakscan.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
"usage: leakscan [OPTIONS] FILE...\n"
"       leakscan top [OPTIONS] FILE...\n"
"       leakscan traces [OPTIONS] FILE...\n"
"       leakscan diff [OPTIONS] BASE NEW\n"
"       leakscan why [OPTIONS] TASK FILE...\n"
"       leakscan list [OPTIONS] REGEX FILE...\n"
"       leakscan waiters [OPTIONS] ADDR|SYMBOL FILE...\n"
"       leakscan html [OPTIONS] FILE... > report.html\n"
"       leakscan run [OPTIONS] -- PROGRAM [ARGS...]\n"
"       leakscan attach [OPTIONS] PID\n"
"       leakscan -i FILE...\n"
"\n"
"Finds the leaked tasks of a libleakrt program: tasks blocked on a channel,\n"
"lock or wait group that nothing still able to run can reach, so they can\n"
"never wake. FILE is a snapshot (lrt_snapshot, LEAKSCAN_SIGNAL or\n"
"LEAKSCAN_AT_EXIT) or a core dump of a libleakrt program (a crash's core\n"
"shows the crashing task first). The leaked tasks are shown grouped by\n"
"stack, largest group first.\n"
"\n"
"Several FILEs (snapshots or results of one program, say one per machine)\n"
"are analysed in parallel worker processes and shown as one result, their\n"
"groups merged by symbolised stack, with each group's count per file, as\n"
"pprof merges profiles; why and waiters answer for each file in turn.\n"
"\n"
"  top                   functions by leaked tasks, like pprof -top: flat (tasks\n"
"                        blocked in it), flat%, sum%, cum (tasks with it on\n"
"                        their stack), cum%\n"
"  traces                every leaked task with its stack and creator, like a\n"
"                        Go goroutine dump (with --all: every task)\n"
"  diff BASE NEW         how the leaked groups changed between two snapshots\n"
"                        of one program, matched by symbolised stack (like\n"
"                        pprof -base): exit 1 if any group appeared or grew\n"
"  list REGEX            the source lines of functions matching REGEX, with the\n"
"                        leaked tasks blocked at (flat) or passing through\n"
"                        (cum) each, like pprof -list\n"
"  waiters ADDR|SYMBOL   every task blocked on the channel, lock or wait group\n"
"                        at ADDR (0x...), or named by a global: the object\n"
"                        itself (lrt_mutex mu) or the one it points to\n"
"                        (lrt_chan *jobs); exit 1 if any of them is leaked\n"
"  html                  one self-contained HTML page: summary, a flame graph\n"
"                        of the leaked stacks, the groups with their frames\n"
"  why TASK              why task TASK (an id, as the reports print) is\n"
"                        leaked: what it waits on and who still points there;\n"
"                        or, for a blocked task that is not, the shortest path\n"
"                        from a root to the object it waits on\n"
"  attach PID            ask running process PID for a snapshot (its\n"
"                        LEAKSCAN_SIGNAL, checked to be caught first), wait for\n"
"                        the file in its LEAKSCAN_DIR, and analyse it\n"
"  attach --core PID     take a core of PID through ptrace instead, as gcore\n"
"                        does (for a snapshot signal that is off, or a program\n"
"                        that cannot answer); the core is removed afterwards\n"
"                        unless --output PATH keeps it\n"
"  run -- PROGRAM ARGS   run PROGRAM with LEAKSCAN_AT_EXIT set to a private\n"
"                        file (removed afterwards; -o PATH, or a\n"
"                        LEAKSCAN_AT_EXIT already set, keeps it there),\n"
"                        analyse the snapshot it writes when lrt_main\n"
"                        returns and report; with --json, PROGRAM's output\n"
"                        goes to stderr. Exit status: PROGRAM's own when it\n"
"                        failed (N, or 128+N if killed by signal N, as is,\n"
"                        even 1 or 2; a line on stderr says so), else 1 if\n"
"                        anything leaked, 0 if not; 2 for leakscan's errors:\n"
"                        PROGRAM cannot be run, or passed but left no\n"
"                        readable snapshot\n"
"\n"
"  -i FILE...            an interactive prompt over FILE (or several merged),\n"
"                        loaded once, like go tool pprof's: groups, top,\n"
"                        list, traces, why, waiters, with history and\n"
"                        completion\n"
"\n"
"options:\n"
"  --json                write the result as JSON (schema: formats/README.md)\n"
"  --pprof OUT           also write the groups as a gzip'd pprof profile\n"
"                        (sample types goroutineleak/count and retained/bytes,\n"
"                        labels as sample labels) for go tool pprof\n"
"  --all                 show every task, not only the leaked ones\n"
"  --cum                 top: sort by cum instead of flat\n"
"  --bytes               top: weigh leaked tasks by the heap they hold (only\n"
"                        leaked tasks reach it), not by count\n"
"  --nodecount N         top: show at most N functions\n"
"  --focus REGEX         top: only tasks with a frame whose function matches\n"
"  --ignore REGEX        top: leave out tasks with a frame that matches\n"
"  --group-by MODE       group leaked tasks by stack (the default), top (their\n"
"                        top user frame), creator (the function that spawned\n"
"                        them) or label:KEY (the value of label KEY)\n"
"  --runtime-frames      show libleakrt's own frames (the lrt_* call a task\n"
"                        blocks in); hidden by default: the wait reason says it\n"
"  --exe PATH            the program's executable, if not where the\n"
"                        snapshot says\n"
"  --source-path DIR     list: look for source files under DIR too\n""  --ignore-top FUNC     hide leaked tasks whose top user frame (the first\n"
"                        that is not an lrt_* call) is FUNC: a glob (pool_*)\n"
"                        or /regex/; repeatable\n"
"  --ignore-any FUNC     hide leaked tasks with FUNC anywhere on their stack\n"
"  --ignore-creator FUNC hide leaked tasks spawned by FUNC\n"
"  --under FUNC          keep only leaked tasks with FUNC among their creators\n"
"                        (the task's, its creator's, ... up to 8 back); the\n"
"                        rest count as suppressed\n"
"  --suppressions FILE   rules from FILE, one a line: ignore-top|ignore-any|\n"
"                        ignore-creator|under FUNC; # comments (at most\n"
"                        1 MiB, 128 of the rules globs or regexes). Hidden\n"
"                        tasks are counted in the header, never dropped\n"
"                        silently\n"
"  --debug-dir DIR       look for separate debug information of stripped\n"
"                        files under DIR too (DIR/.build-id/xx/rest.debug,\n"
"                        or by .gnu_debuglink name), after the file's own\n"
"                        directory and its .debug/, before /usr/lib/debug\n""  --core                attach: take a core with ptrace\n"
"  -o, --output PATH     attach --core: keep the core at PATH; run: write\n"
"                        the snapshot to PATH and keep it\n"
"  --timeout SECONDS     attach: wait this long for the snapshot (default 30)\n"
"  -j, --jobs N          analyse at most N of several FILEs at once (default:\n"
"                        one per CPU); each worker holds one file's analysis\n"
"  -q, --quiet           no warnings\n"
"  -h, --help            this text\n"
"  --version             the version\n"
"\n"
"Options may come before or after FILE; -- ends them.\n"
"\n"
"exit status (2 is always an error: bad input, a file that cannot be read;\n"
"of several FILEs, the others are still reported):\n"
"  FILE, top, traces,    1 if any task is leaked, else 0\n"
"  list, attach, -i\n"
"  html                  0 when it wrote the page, leaks or not\n"
"  diff                  1 if a group appeared or grew, else 0\n"
"  why                   1 if the task is leaked, else 0\n"
"  waiters               1 if any of its waiters is leaked, else 0\n"
"  run                   PROGRAM's own status when it failed, else 1 if\n"
"                        anything leaked, 0 if not\n";

/* What a bare `leakscan`, or one missing its FILE, prints. */
static const char short_usage[] =
"usage: leakscan [OPTIONS] FILE      the leaked tasks in a snapshot or core dump\n"
"       leakscan top|traces|html [OPTIONS] FILE...\n"
"       leakscan list REGEX FILE... | why TASK FILE... | waiters ADDR FILE... | diff BASE NEW\n"
"       leakscan run -- PROGRAM [ARGS...] | attach [--core] PID | -i FILE\n"
"Try 'leakscan --help' for more, or 'man leakscan'.\n";

enum view { VIEW_GROUPS, VIEW_TOP, VIEW_TRACES, VIEW_HTML };

/* After a view over several files: the ones that could not be read (each
 * named above) make the status 2, as grep's. */
static int with_failed(int status, size_t failed, size_t n)
{
    if (!failed || status == 2)
        return failed ? 2 : status;
    fprintf(stderr, "leakscan: %zu of %zu files could not be read (above); the report is of the other %zu\n",
            failed, n, n - failed);
    return 2;
}

static int analyse_view(char *const *paths, size_t n, const ls_options *opt, enum view view)
{
    ls_error err;
    ls_input in;
    ls_report r = { 0 };
    int status = 2;
    size_t failed = 0;
    const char *path = paths[0];
    if (ls_input_open_many(paths, n, opt, &in, &failed, &err) != 0) {
        fprintf(stderr, "leakscan: %s\n", err.message);
        goto out;
    }
    path = in.s->path;
    ls_snapshot *s = in.s;
    ls_analysis *a = in.a;
    ls_unwinder *u = in.u;
    switch (view) {
    case VIEW_TOP: {
        ls_top_options top = opt->top;
        top.all = opt->all;
        if (ls_report_top(stdout, s, a, u, &top, &err) != 0) {
            fprintf(stderr, "leakscan: %s\n", err.message);
            goto out;
        }
        break;
    }
    case VIEW_TRACES:
        if (ls_report_traces(stdout, s, a, u, opt->all) != 0) {
            fprintf(stderr, "leakscan: %s: out of memory\n", path);
            goto out;
        }
        break;
    case VIEW_HTML:
        if (ls_group_leaks(s, a, u, false, &r, &err) != 0 || ls_retained(s, a, &r, &err) != 0 ||
            ls_report_html(stdout, s, a, &r, opt->source_path) != 0) {
            fprintf(stderr, "leakscan: %s: cannot build the page\n", path);
            goto out;
        }
        break;
    case VIEW_GROUPS:
        if (ls_group_leaks(s, a, u, opt->all, &r, &err) != 0) {
            fprintf(stderr, "leakscan: %s\n", err.message);
            goto out;
        }
        if (ls_retained(s, a, &r, &err) != 0) {
            fprintf(stderr, "leakscan: %s\n", err.message);
            goto out;
        }
        if (ls_find_crash(s, u, &r.crash) != 0) {
            fprintf(stderr, "leakscan: %s: out of memory\n", path);
            goto out;
        }
        if (opt->pprof && ls_report_pprof(opt->pprof, s, &r, &err) != 0) {
            fprintf(stderr, "leakscan: %s\n", err.message);
            goto out;
        }
        if (opt->json ? ls_report_json(stdout, s, a, u, &r) != 0 : (ls_report_text(stdout, s, a, &r), 0)) {
            fprintf(stderr, "leakscan: out of memory writing JSON\n");
            goto out;
        }
        break;
    }
    /* A page written is html's success, leaks or not: it is a report to
     * open, not a check to gate on. */
    status = view == VIEW_HTML ? 0 : a->leaked ? 1 : 0;
out:
    ls_report_free(&r);
    if (in.s)
        ls_input_close(&in);
    if (fflush(stdout) != 0 && status != 2) {
        fprintf(stderr, "leakscan: cannot write the report\n");
        status = 2;
    }
    return n > 1 ? with_failed(status, failed, n) : status;
}

static int list_main(const char *regex, char *const *paths, size_t n, const ls_options *opt)
{
    ls_error err;
    ls_input in;
    int status = 2;
    size_t failed = 0;
    if (ls_input_open_many(paths, n, opt, &in, &failed, &err) != 0 ||
        ls_report_list(stdout, in.s, in.a, in.u, regex, opt->all, opt->source_path, &err) != 0) {
        fprintf(stderr, "leakscan: %s\n", err.message);
        goto out;
    }
    status = in.a->leaked ? 1 : 0;
out:
    if (in.s)
        ls_input_close(&in);
    fflush(stdout);
    return n > 1 ? with_failed(status, failed, n) : status;
}

static int waiters_main(const char *what, const char *path, const ls_options *opt)
{
    ls_error err;
    ls_input in;
    int status = 2;
    size_t leaked = 0;
    if (ls_input_open(path, opt, false, &in, &err) != 0 ||
        ls_waiters(stdout, in.s, in.a, in.u, what, &leaked, &err) != 0) {
        fprintf(stderr, "leakscan: %s\n", err.message);
        goto out;
    }
    status = leaked ? 1 : 0;
out:
    if (in.s)
        ls_input_close(&in);
    fflush(stdout);
    return status;
}

static int why_main(uint64_t id, const char *path, const ls_options *opt)
{
    ls_error err;
    ls_input in;
    int status = 2;
    if (ls_input_open(path, opt, true, &in, &err) != 0 ||
        ls_why(stdout, in.s, in.a, in.u, id, &err) != 0) {
        fprintf(stderr, "leakscan: %s\n", err.message);
        goto out;
    }
    size_t i = 0;
    while (in.s->rt->tasks[i].id != id)
        i++;
    status = in.a->verdict[i] == LS_LEAKED ? 1 : 0;
out:
    if (in.s)
        ls_input_close(&in);
    fflush(stdout);
    return status;
}

/* why and waiters ask about one file's own tasks and objects: over several
 * files, each is answered in turn under its name, as grep does; the status
 * is 2 if any failed, else 1 if any said leaked. */
static int each_file(int (*one)(const char *arg, const char *path, const ls_options *opt),
                     const char *arg, char *const *paths, size_t n, const ls_options *opt)
{
    int status = 0;
    for (size_t k = 0; k < n; k++) {
        if (n > 1)
            printf("%s== %s ==\n", k ? "\n" : "", paths[k]);
        int st = one(arg, paths[k], opt);
        if (st > status)
            status = st;
    }
    return status;
}

static int why_one(const char *id, const char *path, const ls_options *opt)
{
    return why_main(strtoull(id, NULL, 10), path, opt);
}

static int analyse(const char *path, const ls_options *opt)
{
    char *paths[] = { (char *)path };
    return analyse_view(paths, 1, opt, VIEW_GROUPS);
}

int ls_analyse_file(const char *path, const ls_options *opt) { return analyse(path, opt); }

/* Whether text is a whole decimal number in [lo, hi] (then *out). */
static bool number_in(const char *text, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || *end || errno || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static ls_suppressions *suppressions;
static void free_suppressions(void) { ls_suppressions_free(suppressions); }

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "json", no_argument, NULL, 'O' },
        { "pprof", required_argument, NULL, 'p' },
        { "source-path", required_argument, NULL, 's' },
        { "all", no_argument, NULL, 'a' },
        { "exe", required_argument, NULL, 'e' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { "cum", no_argument, NULL, 'c' },
        { "nodecount", required_argument, NULL, 'n' },
        { "focus", required_argument, NULL, 'f' },
        { "ignore", required_argument, NULL, 'g' },
        { "core", no_argument, NULL, 'C' },
        { "output", required_argument, NULL, 'o' },
        { "timeout", required_argument, NULL, 't' },
        { "debug-dir", required_argument, NULL, 'D' },
        { "interactive", no_argument, NULL, 'I' },
        { "ignore-top", required_argument, NULL, 'T' },
        { "ignore-any", required_argument, NULL, 'A' },
        { "ignore-creator", required_argument, NULL, 'R' },
        { "suppressions", required_argument, NULL, 'S' },
        { "under", required_argument, NULL, 'U' },
        { "runtime-frames", no_argument, NULL, 'F' },
        { "group-by", required_argument, NULL, 'G' },
        { "bytes", no_argument, NULL, 'B' },
        { "jobs", required_argument, NULL, 'J' },
        { "fleet-worker", required_argument, NULL, 'W' },   /* internal: fleet.c */
        { "fleet-file", required_argument, NULL, 'X' },
        { NULL, 0, NULL, 0 },
    };
    ls_options opt = { .attach_timeout_s = 30, .worker_fd = -1 };
    enum view view = VIEW_GROUPS;
    bool run = false, diff = false, why = false, list = false, attach = false, waiters = false;
    if (argc > 1 && (strcmp(argv[1], "run") == 0 || strcmp(argv[1], "attach") == 0 ||
                     strcmp(argv[1], "waiters") == 0 || strcmp(argv[1], "top") == 0 ||
                     strcmp(argv[1], "traces") == 0 || strcmp(argv[1], "diff") == 0 ||
                     strcmp(argv[1], "why") == 0 || strcmp(argv[1], "list") == 0 ||
                     strcmp(argv[1], "html") == 0)) {
        list = strcmp(argv[1], "list") == 0;
        run = strcmp(argv[1], "run") == 0;
        attach = strcmp(argv[1], "attach") == 0;
        waiters = strcmp(argv[1], "waiters") == 0;
        diff = strcmp(argv[1], "diff") == 0;
        why = strcmp(argv[1], "why") == 0;
        view = strcmp(argv[1], "top") == 0 ? VIEW_TOP
             : strcmp(argv[1], "traces") == 0 ? VIEW_TRACES
             : strcmp(argv[1], "html") == 0 ? VIEW_HTML : VIEW_GROUPS;
        argv++;
        argc--;
    }
    if (argc == 1) {
        fputs(short_usage, stderr);
        return 2;
    }
    /* Options may follow FILE, as GNU tools and pprof allow (getopt
     * permutes; -- ends options). run's own arguments after PROGRAM are
     * PROGRAM's: there the first non-option stops. */
    int c;
    long n;
    while ((c = getopt_long(argc, argv, run ? "+qhio:" : "qhio:j:", longopts, NULL)) != -1) {
        switch (c) {
        case 'O': opt.json = true; break;
        case 'a': opt.all = true; break;
        case 'e': opt.exe = optarg; break;
        case 'q': opt.quiet = true; break;
        case 'h': fputs(usage, stdout); return 0;
        case 'V': printf("leakscan %s\n", LEAKSCAN_VERSION); return 0;
        case 'c': opt.top.cum = true; break;
        case 'p': opt.pprof = optarg; break;
        case 's': opt.source_path = optarg; break;
        case 'f': opt.top.focus = optarg; break;
        case 'g': opt.top.ignore = optarg; break;
        case 'T': case 'A': case 'R': case 'S': case 'U': {
            ls_error err;
            if (!opt.suppressions) {
                if (!(opt.suppressions = suppressions = ls_suppressions_new())) {
                    fprintf(stderr, "leakscan: out of memory\n");
                    return 2;
                }
                atexit(free_suppressions);
            }
            int bad = c == 'S' ? ls_suppressions_load(opt.suppressions, optarg, &err)
                    : ls_suppressions_add(opt.suppressions, c == 'T' ? "ignore-top" :
                                          c == 'A' ? "ignore-any" : c == 'U' ? "under" :
                                          "ignore-creator", optarg, &err);
            if (bad) {
                fprintf(stderr, "leakscan: %s\n", err.message);
                return 2;
            }
            break;
        }
        case 'C': opt.attach_core = true; break;
        case 'F': opt.runtime_frames = true; break;
        case 'B': opt.top.bytes = true; break;
        case 'G': {
            ls_error err;
            if (ls_set_group_by(optarg, &err) != 0) {
                fprintf(stderr, "leakscan: %s\n", err.message);
                return 2;
            }
            break;
        }
        case 'i': case 'I': opt.interactive = true; break;
        case 'D': opt.debug_dir = optarg; ls_set_debug_dir(optarg); break;
        case 'o': opt.attach_output = optarg; break;
        case 't':
            if (!number_in(optarg, 1, 86400, &n)) {
                fprintf(stderr, "leakscan: --timeout wants seconds (1 to 86400), not '%s'\n", optarg);
                return 2;
            }
            opt.attach_timeout_s = (int)n;
            break;
        case 'j': case 'J':
            if (!number_in(optarg, 1, 1024, &n)) {
                fprintf(stderr, "leakscan: -j wants a number of worker processes (1 to 1024), not '%s'\n", optarg);
                return 2;
            }
            opt.jobs = (int)n;
            break;
        case 'W':
            if (!number_in(optarg, 0, INT_MAX, &n) || fcntl((int)n, F_GETFD) < 0) {
                fprintf(stderr, "leakscan: --fleet-worker is internal (a descriptor to pass a result on)\n");
                return 2;
            }
            opt.worker_fd = (int)n;
            break;
        case 'X': opt.worker_file = optarg; break;
        case 'n':
            if (!number_in(optarg, 1, LONG_MAX, &n)) {
                fprintf(stderr, "leakscan: --nodecount wants a positive number, not '%s'\n", optarg);
                return 2;
            }
            opt.top.nodecount = (size_t)n;
            break;
        default:
            fprintf(stderr, "leakscan: try 'leakscan --help'\n");
            return 2;
        }
    }
    if (opt.worker_file && opt.worker_fd < 0) {
        fprintf(stderr, "leakscan: --fleet-file is internal (it goes with --fleet-worker)\n");
        return 2;
    }
    if (opt.worker_file)
        return ls_fleet_worker(opt.worker_file, &opt, opt.worker_fd);
    opt.option_args = argv + 1;            /* getopt has moved the options first */
    opt.noption_args = optind - 1;
    if (run)
        return ls_run_main(argc - optind, argv + optind, &opt);
    if (attach)
        return ls_attach_main(argc - optind, argv + optind, &opt);
    if (list) {
        if (argc - optind < 2) {
            fprintf(stderr, "leakscan list: give a regular expression and a snapshot: leakscan list worker FILE...\n");
            return 2;
        }
        return list_main(argv[optind], argv + optind + 1, (size_t)(argc - optind - 1), &opt);
    }
    if (waiters) {
        if (argc - optind < 2) {
            fprintf(stderr, "leakscan waiters: give an object and a snapshot: leakscan waiters jobs FILE... "
                    "(a global's name, or an address 0x...)\n");
            return 2;
        }
        return each_file(waiters_main, argv[optind], argv + optind + 1, (size_t)(argc - optind - 1), &opt);
    }
    if (why) {
        char *end;
        if (argc - optind < 2 || !*argv[optind] ||
            (strtoull(argv[optind], &end, 10), *end)) {
            fprintf(stderr, "leakscan why: give a task id and a snapshot: leakscan why 7 FILE...\n");
            return 2;
        }
        return each_file(why_one, argv[optind], argv + optind + 1, (size_t)(argc - optind - 1), &opt);
    }
    if (diff) {
        if (argc - optind != 2) {
            fprintf(stderr, "leakscan diff: give two snapshots, BASE and NEW\n");
            return 2;
        }
        return ls_diff_main(argv[optind], argv[optind + 1], &opt);
    }
    if (optind >= argc) {
        fputs(short_usage, stderr);
        return 2;
    }
    if (opt.interactive) {
        if (view != VIEW_GROUPS) {
            fprintf(stderr, "leakscan -i: give snapshots: leakscan -i FILE...\n");
            return 2;
        }
        return ls_interactive_main(argv + optind, (size_t)(argc - optind), &opt);
    }
    if (view != VIEW_GROUPS && opt.json) {
        fprintf(stderr, "leakscan: --json goes with the default view\n");
        return 2;
    }
    return analyse_view(argv + optind, (size_t)(argc - optind), &opt, view);
}

/*
 * main.c — the leakscan command line.
 */
#include "leakscan.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
"usage: leakscan [OPTIONS] FILE\n"
"       leakscan run [OPTIONS] -- PROGRAM [ARGS...]\n"
"\n"
"Finds the leaked tasks of a libleakrt program: tasks blocked on a channel,\n"
"lock or wait group that nothing still able to run can reach, so they can\n"
"never wake. FILE is a snapshot (lrt_snapshot, LEAKSCAN_SIGNAL or\n"
"LEAKSCAN_AT_EXIT). The leaked tasks are shown grouped by stack, largest\n"
"group first.\n"
"\n"
"  run -- PROGRAM ARGS   run PROGRAM with LEAKSCAN_AT_EXIT set to a private\n"
"                        file, analyse the snapshot it writes when lrt_main\n"
"                        returns, report, and exit 1 if anything leaked;\n"
"                        with --json, PROGRAM's output goes to stderr\n"
"\n"
"options:\n"
"  --json                write the result as JSON (schema: formats/README.md)\n"
"  --all                 show every task, not only the leaked ones\n"
"  --exe PATH            the program's executable, if not where the\n"
"                        snapshot says\n"
"  -q, --quiet           no warnings\n"
"  -h, --help            this text\n"
"  --version             the version\n"
"\n"
"exit status: 0 no leak, 1 leaks found, 2 error\n";

static int analyse(const char *path, const ls_options *opt)
{
    ls_error err;
    ls_snapshot *s = NULL;
    ls_analysis *a = NULL;
    ls_unwinder *u = NULL;
    ls_report r = { 0 };
    int status = 2;
    if (ls_snapshot_open(path, opt, &s, &err) != 0 || ls_analyze(s, &a, &err) != 0 ||
        ls_unwinder_create(s, opt, &u, &err) != 0 ||
        ls_group_leaks(s, a, u, opt->all, &r, &err) != 0) {
        fprintf(stderr, "leakscan: %s\n", err.message);
        goto out;
    }
    if (opt->json) {
        if (ls_report_json(stdout, s, a, &r) != 0) {
            fprintf(stderr, "leakscan: out of memory writing JSON\n");
            goto out;
        }
    } else {
        ls_report_text(stdout, s, a, &r);
    }
    status = a->leaked ? 1 : 0;
out:
    ls_report_free(&r);
    ls_unwinder_destroy(u);
    ls_analysis_free(a);
    ls_snapshot_close(s);
    if (fflush(stdout) != 0 && status != 2) {
        fprintf(stderr, "leakscan: cannot write the report\n");
        status = 2;
    }
    return status;
}

int ls_analyse_file(const char *path, const ls_options *opt);
int ls_analyse_file(const char *path, const ls_options *opt) { return analyse(path, opt); }

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "json", no_argument, NULL, 'j' },
        { "all", no_argument, NULL, 'a' },
        { "exe", required_argument, NULL, 'e' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    ls_options opt = { 0 };
    bool run = argc > 1 && strcmp(argv[1], "run") == 0;
    if (run) {
        argv++;
        argc--;
    }
    int c;
    while ((c = getopt_long(argc, argv, "+qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': opt.json = true; break;
        case 'a': opt.all = true; break;
        case 'e': opt.exe = optarg; break;
        case 'q': opt.quiet = true; break;
        case 'h': fputs(usage, stdout); return 0;
        case 'V': printf("leakscan %s\n", LEAKSCAN_VERSION); return 0;
        default:
            fprintf(stderr, "leakscan: try 'leakscan --help'\n");
            return 2;
        }
    }
    if (run)
        return ls_run_main(argc - optind, argv + optind, &opt);
    if (optind >= argc) {
        fputs(usage, stderr);
        return 2;
    }
    static const char *const planned[] = { "top", "list", "traces", "why", "diff", "attach", "html" };
    for (size_t i = 0; i < sizeof planned / sizeof planned[0]; i++) {
        if (strcmp(argv[optind], planned[i]) == 0 && optind + 1 < argc) {
            fprintf(stderr, "leakscan: the '%s' view is not in this version yet; "
                    "'leakscan FILE' shows the leaked tasks\n", planned[i]);
            return 2;
        }
    }
    if (optind + 1 < argc) {
        fprintf(stderr, "leakscan: one FILE at a time (got %d); try 'leakscan --help'\n", argc - optind);
        return 2;
    }
    return analyse(argv[optind], &opt);
}

/*
 * run.c — `leakscan run -- PROGRAM ARGS`: the goleak of this world. Runs
 * the program with LEAKSCAN_AT_EXIT pointing into a private temporary
 * directory, then analyses the snapshot it leaves when lrt_main returns.
 */
#include "leakscan.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int ls_run_main(int argc, char **argv, const ls_options *opt)
{
    if (argc < 1) {
        fprintf(stderr, "leakscan run: no program given; usage: leakscan run [OPTIONS] -- PROGRAM [ARGS...]\n");
        return 2;
    }
    char dir[] = "/tmp/leakscan-run-XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "leakscan run: cannot create a temporary directory: %s\n", strerror(errno));
        return 2;
    }
    char path[sizeof dir + 32];
    snprintf(path, sizeof path, "%s/at-exit.snap", dir);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "leakscan run: fork: %s\n", strerror(errno));
        rmdir(dir);
        return 2;
    }
    if (pid == 0) {
        setenv("LEAKSCAN_AT_EXIT", path, 1);
        if (opt->json)
            dup2(2, 1);              /* keep stdout for the JSON report */
        execvp(argv[0], argv);
        fprintf(stderr, "leakscan run: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    int result;
    struct stat st;
    if (stat(path, &st) != 0) {
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
            result = 2;
        else {
            fprintf(stderr, "leakscan run: %s wrote no snapshot (%s); is it a libleakrt program "
                    "whose lrt_main returned?\n", argv[0],
                    WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "it exited");
            result = 2;
        }
    } else {
        if (WIFSIGNALED(status) && !opt->quiet)
            fprintf(stderr, "leakscan run: %s was killed by %s after its snapshot\n",
                    argv[0], strsignal(WTERMSIG(status)));
        result = ls_analyse_file(path, opt);
    }
    unlink(path);
    rmdir(dir);
    return result;
}

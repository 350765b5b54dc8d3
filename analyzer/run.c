/*
 * run.c — `leakscan run -- PROGRAM ARGS`: the goleak of this world, a gate
 * for test suites. Runs the program with LEAKSCAN_AT_EXIT set — to -o FILE,
 * else to the caller's own LEAKSCAN_AT_EXIT, both kept, else into a private
 * temporary directory removed afterwards — analyses the snapshot it leaves
 * when lrt_main returns, and owns the exit status that results:
 *
 *   the program failed (exit N != 0, or killed by signal N)  N, or 128 + N
 *   it passed and leaked                                     1
 *   it passed and nothing leaked                             0
 *   leakscan's own error (cannot run it, no snapshot, a snapshot it
 *   cannot read) while the program passed                   2
 *
 * A failing program's status wins over everything, even over "no
 * snapshot": a test that failed must fail the suite with its own status,
 * never pass for a leak check or look like leakscan's error. Its 1 and 2
 * are passed through as they are; the line on stderr tells them apart.
 */
#define _GNU_SOURCE                             /* pipe2 */
#include "leakscan.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* What was at the snapshot's path before the run. libleakrt renames a new
 * snapshot into place, so a new one has another inode: a file that is
 * still the same is left from before (an earlier run's, at a kept path)
 * and must not be analysed as this run's. */
typedef struct file_id {
    bool            exists;
    dev_t           dev;
    ino_t           ino;
    struct timespec mtime;
} file_id;

static file_id identify(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return (file_id){ .exists = false };
    return (file_id){ .exists = true, .dev = st.st_dev, .ino = st.st_ino, .mtime = st.st_mtim };
}

static bool same_file(const file_id *a, const file_id *b)
{
    return a->exists && b->exists && a->dev == b->dev && a->ino == b->ino &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* The status a shell gives for a wait status: N, or 128 + the signal. */
static int shell_status(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 2;                                   /* stopped: not asked for (no WUNTRACED) */
}

/* "exited with status 3" / "was killed by SIGSEGV", for the line that says
 * why run's exit status is what it is. */
static void describe_status(int status, char *buf, size_t size)
{
    if (WIFSIGNALED(status)) {
        const char *name = ls_signal_name(WTERMSIG(status));
        if (strcmp(name, "signal") == 0)        /* not one it knows by name */
            snprintf(buf, size, "was killed by signal %d", WTERMSIG(status));
        else
            snprintf(buf, size, "was killed by %s", name);
    } else {
        snprintf(buf, size, "exited with status %d", shell_status(status));
    }
}

/* Starts argv with LEAKSCAN_AT_EXIT=path and waits for it. 0 with *status,
 * or -1 (said on stderr) when it could not be started: a pipe closed on
 * exec carries exec's errno back, so a program that itself exits 127 is
 * not mistaken for one that could not run. */
static int spawn_and_wait(char **argv, const char *path, bool json, int *status)
{
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
        fprintf(stderr, "leakscan run: pipe: %s\n", strerror(errno));
        return -1;
    }
    /* Like system(): a ^C at the terminal reaches the program, and
     * leakscan lives on to report its status and remove the temporary
     * snapshot; the child gets the caller's dispositions back. */
    struct sigaction ignore = { .sa_handler = SIG_IGN }, old_int, old_quit;
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGINT, &ignore, &old_int);
    sigaction(SIGQUIT, &ignore, &old_quit);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGQUIT, &old_quit, NULL);
        close(report[0]);
        setenv("LEAKSCAN_AT_EXIT", path, 1);
        if (json)
            dup2(2, 1);                         /* keep stdout for the JSON report */
        execvp(argv[0], argv);
        int e = errno;
        ssize_t unused = write(report[1], &e, sizeof e);
        (void)unused;
        _exit(127);
    }
    int fork_errno = errno;
    close(report[1]);
    int rc = 0;
    if (pid < 0) {
        fprintf(stderr, "leakscan run: fork: %s\n", strerror(fork_errno));
        rc = -1;
    } else {
        int e;
        ssize_t n;
        while ((n = read(report[0], &e, sizeof e)) < 0 && errno == EINTR)
            ;
        while (waitpid(pid, status, 0) < 0 && errno == EINTR)
            ;
        if (n == (ssize_t)sizeof e) {
            fprintf(stderr, "leakscan run: cannot run %s: %s\n", argv[0], strerror(e));
            rc = -1;
        }
    }
    close(report[0]);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    return rc;
}

/* After the program ran: its report, if it left a snapshot, and the exit
 * status (see the top of the file). */
static int judge(const char *program, int status, const char *path, const file_id *before,
                 bool kept, const ls_options *opt)
{
    int program_status = shell_status(status);
    char how[64];
    describe_status(status, how, sizeof how);
    file_id after = identify(path);
    int result;
    if (after.exists && !same_file(before, &after)) {
        ls_options o = *opt;
        o.run_program = program;
        o.run_temporary = !kept;
        result = ls_analyse_file(path, &o);
        if (program_status != 0)                /* after the report: the last word on the status */
            fprintf(stderr, "leakscan run: %s %s\n", program, how);
    } else {
        fprintf(stderr, "leakscan run: %s %s %s wrote no snapshot", program, how,
                program_status != 0 ? "and" : "but");
        if (after.exists)
            fprintf(stderr, " (%s is left from before, not analysed)", path);
        fprintf(stderr, "%s\n", program_status != 0 ? ""
                : "; is it a libleakrt program whose lrt_main returned?");
        result = 2;
    }
    return program_status != 0 ? program_status : result;
}

int ls_run_main(int argc, char **argv, const ls_options *opt)
{
    if (argc < 1) {
        fprintf(stderr, "leakscan run: no program given; usage: leakscan run [OPTIONS] -- PROGRAM [ARGS...]\n");
        return 2;
    }
    /* A path the user chose is theirs to keep (for why, traces, diff);
     * only the private temporary snapshot is removed. -o wins over an
     * inherited LEAKSCAN_AT_EXIT: it is the more explicit of the two. */
    const char *kept = opt->attach_output;
    if (!kept) {
        const char *env = getenv("LEAKSCAN_AT_EXIT");
        if (env && *env)
            kept = env;
    }
    char dir[] = "/tmp/leakscan-run-XXXXXX";
    char temporary[sizeof dir + 32];
    const char *path = kept;
    if (!kept) {
        if (!mkdtemp(dir)) {
            fprintf(stderr, "leakscan run: cannot create a temporary directory: %s\n", strerror(errno));
            return 2;
        }
        snprintf(temporary, sizeof temporary, "%s/at-exit.snap", dir);
        path = temporary;
    }
    file_id before = identify(path);
    int status, result = 2;
    if (spawn_and_wait(argv, path, opt->json, &status) == 0)
        result = judge(argv[0], status, path, &before, kept != NULL, opt);
    if (!kept) {
        unlink(temporary);
        rmdir(dir);
    }
    return result;
}

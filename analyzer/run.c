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
 *
 * Killing leakscan kills the program: SIGTERM, SIGHUP, and a SIGINT sent
 * to leakscan alone are passed on to it and waited for (a terminal's ^C
 * already reaches it, in leakscan's process group), the temporary
 * directory is removed, and leakscan exits 128 + the signal. SIGKILL
 * cannot be caught: the child asked the kernel for SIGKILL when its
 * parent dies (PR_SET_PDEATHSIG).
 */
#define _GNU_SOURCE                             /* pipe2 */
#include "leakscan.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The signals that end leakscan, and what they did before: a signal the
 * caller ignores (nohup's SIGHUP, a background job's SIGINT) stays
 * ignored, for leakscan and the program. */
static const int ending_signals[] = { SIGTERM, SIGHUP, SIGINT };
#define NENDING (sizeof ending_signals / sizeof ending_signals[0])
static struct sigaction ending_old[NENDING];
static bool ending_handled[NENDING];

static volatile sig_atomic_t program_pid;      /* while the program runs; else 0 */
static volatile sig_atomic_t ending_signal;    /* the first one leakscan got; 0: none */
/* The private temporary snapshot and its directory, while they exist. */
static char cleanup_dir[] = "/tmp/leakscan-run-XXXXXX";
static char cleanup_file[sizeof cleanup_dir + 32];
static volatile sig_atomic_t cleanup_armed;

static void on_ending_signal(int sig, siginfo_t *info, void *uc)
{
    (void)uc;
    int saved = errno;
    pid_t pid = (pid_t)program_pid;
    if (pid <= 0) {
        /* The program is gone (leakscan reads its snapshot): stop here,
         * with what async-signal-safe calls can tidy. */
        if (cleanup_armed) {
            unlink(cleanup_file);
            rmdir(cleanup_dir);
        }
        _exit(128 + sig);
    }
    /* What the kernel sends for a terminal (^C, a hang-up) reaches the
     * whole foreground process group, the program included: sent again it
     * would get two. A terminal's SIGINT is left to the program, as
     * system() leaves it, and leakscan reports what it did. */
    bool from_terminal = info && info->si_code == SI_KERNEL;
    if (!(from_terminal && sig == SIGINT) && !ending_signal)
        ending_signal = sig;
    if (!from_terminal)
        kill(pid, sig);
    errno = saved;
}

/* Blocks the ending signals (old: the mask before). */
static void block_ending_signals(sigset_t *set, sigset_t *old)
{
    sigemptyset(set);
    for (size_t i = 0; i < NENDING; i++)
        sigaddset(set, ending_signals[i]);
    sigprocmask(SIG_BLOCK, set, old);
}

/* Installs on_ending_signal (install) or puts back what was there. */
static void handle_ending_signals(bool install)
{
    for (size_t i = 0; i < NENDING; i++) {
        if (install) {
            struct sigaction sa = { .sa_sigaction = on_ending_signal, .sa_flags = SA_SIGINFO | SA_RESTART };
            sigemptyset(&sa.sa_mask);
            for (size_t j = 0; j < NENDING; j++)
                sigaddset(&sa.sa_mask, ending_signals[j]);
            sigaction(ending_signals[i], NULL, &ending_old[i]);
            ending_handled[i] = ending_old[i].sa_handler != SIG_IGN;
            if (ending_handled[i])
                sigaction(ending_signals[i], &sa, NULL);
        } else if (ending_handled[i]) {
            sigaction(ending_signals[i], &ending_old[i], NULL);
            ending_handled[i] = false;
        }
    }
}

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
     * snapshot (SIGINT: on_ending_signal); the child gets the caller's
     * dispositions back. The ending signals wait while it forks, so the
     * handler always knows the program's pid. */
    struct sigaction ignore = { .sa_handler = SIG_IGN }, old_quit;
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGQUIT, &ignore, &old_quit);
    sigset_t ending, old_mask;
    block_ending_signals(&ending, &old_mask);
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        for (size_t i = 0; i < NENDING; i++)
            if (ending_handled[i])
                sigaction(ending_signals[i], &ending_old[i], NULL);
        sigaction(SIGQUIT, &old_quit, NULL);
        /* Killed with leakscan even by SIGKILL, which no handler sees. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);                         /* leakscan died before the prctl */
        sigprocmask(SIG_SETMASK, &old_mask, NULL);
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
    if (pid > 0)
        program_pid = pid;
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
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
        /* Waited for without reaping it first: until program_pid is 0 the
         * pid is still the program's, never another process's, to signal. */
        siginfo_t info;
        while (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT) < 0 && errno == EINTR)
            ;
        sigprocmask(SIG_BLOCK, &ending, NULL);
        program_pid = 0;
        sigprocmask(SIG_SETMASK, &old_mask, NULL);
        while (waitpid(pid, status, 0) < 0 && errno == EINTR)
            ;
        if (n == (ssize_t)sizeof e) {
            fprintf(stderr, "leakscan run: cannot run %s: %s\n", argv[0], strerror(e));
            rc = -1;
        }
    }
    close(report[0]);
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
    /* The handlers first: from mkdtemp on, every way out removes it. */
    handle_ending_signals(true);
    char *dir = cleanup_dir, *temporary = cleanup_file;
    const char *path = kept;
    if (!kept) {
        if (!mkdtemp(dir)) {
            handle_ending_signals(false);
            fprintf(stderr, "leakscan run: cannot create a temporary directory: %s\n", strerror(errno));
            return 2;
        }
        snprintf(temporary, sizeof cleanup_file, "%s/at-exit.snap", dir);
        cleanup_armed = 1;
        path = temporary;
    }
    file_id before = identify(path);
    int status, result = 2;
    int spawned = spawn_and_wait(argv, path, opt->json, &status);
    if (ending_signal) {
        /* Killed while the program ran: it got the signal too, and has
         * ended; no report, the signal's status. */
        result = 128 + ending_signal;
        char how[64] = "ended";
        if (spawned == 0)
            describe_status(status, how, sizeof how);
        fprintf(stderr, "leakscan run: %s: %s %s; nothing analysed\n", ls_signal_name(ending_signal),
                argv[0], how);
    } else if (spawned == 0) {
        result = judge(argv[0], status, path, &before, kept != NULL, opt);
    }
    sigset_t ending, old_mask;
    block_ending_signals(&ending, &old_mask);
    if (!kept) {
        cleanup_armed = 0;
        unlink(temporary);
        rmdir(dir);
    }
    handle_ending_signals(false);
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    return result;
}

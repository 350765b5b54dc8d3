/*
 * attach.c — `leakscan attach PID`: look at a running program. By default
 * it asks the program for a snapshot (sends its snapshot signal) and waits
 * for the file to appear; with --core it takes a core through ptrace
 * instead (ptrace_core.c). Either file is then analysed like
 * `leakscan FILE`.
 *
 * Before any signal is sent the program must be seen to catch it
 * (/proc/PID/status, SigCgt): SIGUSR2 kills a program that does not, and
 * attaching must never do that.
 */
#include "leakscan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The value of `name` in the process's initial environment, copied into
 * out; false if it is not set. -1 if the environment cannot be read. */
static int environment_value(pid_t pid, const char *name, char *out, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t len = strlen(name);
    char *entry = NULL;
    size_t cap = 0;
    int found = 0;
    while (getdelim(&entry, &cap, '\0', f) > 0) {
        if (strncmp(entry, name, len) == 0 && entry[len] == '=') {
            snprintf(out, size, "%s", entry + len + 1);
            found = 1;
            break;
        }
    }
    free(entry);
    fclose(f);
    return found;
}

/* Whether the process has a handler for sig (SigCgt in its status). */
static bool catches(pid_t pid, int sig)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    bool yes = false;
    while (fgets(line, sizeof line, f)) {
        unsigned long long mask;
        if (sscanf(line, "SigCgt: %llx", &mask) == 1) {
            yes = (mask >> (sig - 1)) & 1;
            break;
        }
    }
    fclose(f);
    return yes;
}

/* The highest N of the process's leakscan-PID-N.snap files in dir, or 0. */
static unsigned long newest_snapshot(const char *dir, pid_t pid, char *name, size_t size)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    char prefix[64];
    int plen = snprintf(prefix, sizeof prefix, "leakscan-%d-", (int)pid);
    unsigned long best = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, prefix, (size_t)plen) != 0)
            continue;
        char *end;
        unsigned long n = strtoul(e->d_name + plen, &end, 10);
        if (strcmp(end, ".snap") == 0 && n > best) {
            best = n;
            snprintf(name, size, "%s", e->d_name);
        }
    }
    closedir(d);
    return best;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int attach_by_signal(pid_t pid, const ls_options *opt)
{
    char value[PATH_MAX];
    int sig = SIGUSR2;
    int have = environment_value(pid, "LEAKSCAN_SIGNAL", value, sizeof value);
    if (have < 0) {
        fprintf(stderr, "leakscan attach: cannot read the environment of process %d: %s "
                "(run as its user or as root)\n", (int)pid, strerror(errno));
        return 2;
    }
    if (have && value[0]) {
        if (strcmp(value, "0") == 0 || strcmp(value, "off") == 0) {
            fprintf(stderr, "leakscan attach: process %d has its snapshot signal off "
                    "(LEAKSCAN_SIGNAL=%s); 'leakscan attach --core %d' takes a core instead\n",
                    (int)pid, value, (int)pid);
            return 2;
        }
        int n = atoi(value);              /* as the runtime reads it */
        if (n > 0 && n < NSIG && n != SIGKILL && n != SIGSTOP && n != SIGSEGV)
            sig = n;
    }
    if (!catches(pid, sig)) {
        fprintf(stderr, "leakscan attach: process %d does not catch signal %d (%s), so it is not "
                "a libleakrt program (or has not started lrt_main); nothing was sent. "
                "'leakscan attach --core %d' reads any process\n",
                (int)pid, sig, strsignal(sig), (int)pid);
        return 2;
    }
    /* Where it writes: LEAKSCAN_DIR, relative to its working directory. */
    char dir[PATH_MAX + 64];
    have = environment_value(pid, "LEAKSCAN_DIR", value, sizeof value);
    if (have > 0 && value[0] == '/')
        snprintf(dir, sizeof dir, "%s", value);
    else
        snprintf(dir, sizeof dir, "/proc/%d/cwd/%s", (int)pid, have > 0 && value[0] ? value : ".");
    char name[NAME_MAX + 1] = "";
    unsigned long before = newest_snapshot(dir, pid, name, sizeof name);
    if (kill(pid, sig) != 0) {
        fprintf(stderr, "leakscan attach: cannot signal process %d: %s\n", (int)pid, strerror(errno));
        return 2;
    }
    int64_t start = now_ms(), deadline = start + (int64_t)opt->attach_timeout_s * 1000;
    bool told = false;
    while (newest_snapshot(dir, pid, name, sizeof name) <= before) {
        if (kill(pid, 0) != 0 && errno == ESRCH) {
            fprintf(stderr, "leakscan attach: process %d exited before its snapshot appeared\n", (int)pid);
            return 2;
        }
        if (now_ms() > deadline) {
            fprintf(stderr, "leakscan attach: no snapshot from process %d appeared in %s within %d s "
                    "(its stderr says why: an unwritable directory, a full disk?)\n",
                    (int)pid, dir, opt->attach_timeout_s);
            return 2;
        }
        if (!told && !opt->quiet && now_ms() - start > 1000) {
            fprintf(stderr, "leakscan attach: waiting for process %d's snapshot in %s ...\n", (int)pid, dir);
            told = true;
        }
        usleep(10000);
    }
    char path[sizeof dir + NAME_MAX + 2];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char real[PATH_MAX];
    const char *shown = realpath(path, real) ? real : path;
    if (!opt->quiet)
        fprintf(stderr, "leakscan attach: process %d wrote %s\n", (int)pid, shown);
    return ls_analyse_file(shown, opt);
}

static int attach_by_core(pid_t pid, const ls_options *opt)
{
    char dir[] = "/tmp/leakscan-attach-XXXXXX";
    char path[PATH_MAX];
    bool keep = opt->attach_output != NULL;
    if (keep) {
        snprintf(path, sizeof path, "%s", opt->attach_output);
    } else {
        if (!mkdtemp(dir)) {
            fprintf(stderr, "leakscan attach: cannot create a temporary directory: %s\n", strerror(errno));
            return 2;
        }
        snprintf(path, sizeof path, "%s/core", dir);
    }
    ls_error err;
    int status;
    if (ls_ptrace_core(pid, path, &err) != 0) {
        fprintf(stderr, "leakscan attach: %s\n", err.message);
        status = 2;
    } else {
        if (keep && !opt->quiet)
            fprintf(stderr, "leakscan attach: core of process %d written to %s\n", (int)pid, path);
        status = ls_analyse_file(path, opt);
    }
    if (!keep) {
        unlink(path);
        rmdir(dir);
    }
    return status;
}

int ls_attach_main(int argc, char **argv, const ls_options *opt)
{
    char *end = NULL;
    long pid = argc == 1 ? strtol(argv[0], &end, 10) : 0;
    if (argc != 1 || !*argv[0] || *end || pid <= 0 || pid > INT_MAX) {
        fprintf(stderr, "leakscan attach: give one process id: leakscan attach [--core] PID\n");
        return 2;
    }
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
        fprintf(stderr, "leakscan attach: no process %ld\n", pid);
        return 2;
    }
    return opt->attach_core ? attach_by_core((pid_t)pid, opt) : attach_by_signal((pid_t)pid, opt);
}

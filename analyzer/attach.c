/*
 * attach.c — `leakscan attach PID`: look at a running program. By default
 * it asks the program for a snapshot (sends its snapshot signal) and waits
 * for the file to appear; with --core it takes a core through ptrace
 * instead (ptrace_core.c). Either file is then analysed like
 * `leakscan FILE`.
 *
 * Before any signal is sent the program must be proved a libleakrt
 * program — an object it maps defines lrt_debug_root — and be seen to
 * catch the signal (/proc/PID/status, SigCgt): SIGUSR2 kills a program
 * that does not, and one that catches it may mean something else by it
 * (nginx, unicorn and php-fpm re-execute themselves). Attaching must never
 * do either. While it waits, a program that exits (or is a zombie) ends
 * the wait at once.
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
#include <sys/wait.h>
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

/* Whether the process maps an ELF object that defines the runtime's debug
 * root, as load.c's find_debug_root finds it in a core: the executable
 * when libleakrt is linked statically, libleakrt.so when linked as
 * pkg-config links it (its symbol tables, or its separate debug file).
 * Each object is read through /proc/PID/map_files, which is the mapped
 * file itself even if the path was replaced or deleted since (root only),
 * else by the path maps names. 1 yes, 0 no, -1 (errno) maps unreadable. */
static int maps_debug_root(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    char *line = NULL, *seen = NULL;        /* seen: the paths tried, '\n'-separated */
    size_t cap = 0, seen_len = 0;
    int found = 0;
    while (!found && getline(&line, &cap, f) > 0) {
        unsigned long long start, end, inode;
        int name_at = 0;
        if (sscanf(line, "%llx-%llx %*s %*s %*s %llu %n", &start, &end, &inode, &name_at) < 3 ||
            !inode || !name_at || line[name_at] != '/')
            continue;
        char *file = line + name_at;
        file[strcspn(file, "\n")] = '\0';
        size_t len = strlen(file);
        bool deleted = len > 10 && strcmp(file + len - 10, " (deleted)") == 0;
        /* Once per object: a library maps several segments. */
        bool tried = false;
        for (char *p = seen; p && p < seen + seen_len && !tried; p += strlen(p) + 1)
            tried = strcmp(p, file) == 0;
        if (tried)
            continue;
        char *grown = realloc(seen, seen_len + len + 1);
        if (!grown)
            break;
        seen = grown;
        memcpy(seen + seen_len, file, len + 1);
        seen_len += len + 1;
        char mapped[96];
        snprintf(mapped, sizeof mapped, "/proc/%d/map_files/%llx-%llx", (int)pid, start, end);
        uint64_t addr;
        found = ls_find_symbol(mapped, 0, LS_ROOT_SYMBOL, &addr) == 0 ||
                (!deleted && ls_find_symbol(file, 0, LS_ROOT_SYMBOL, &addr) == 0);
    }
    int e = errno;
    bool failed = ferror(f);
    free(line);
    free(seen);
    fclose(f);
    errno = e;
    return found ? 1 : failed ? -1 : 0;
}

/* What /proc/PID/stat says of the process: whether it still runs as the
 * process first seen (a pid is reused once its zombie is reaped), and for
 * a zombie its wait status (exit_code, Linux 3.5) when readable. */
enum { PROC_RUNNING, PROC_ZOMBIE, PROC_GONE };

static int process_state(pid_t pid, unsigned long long *start_time, int *status)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return PROC_GONE;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return PROC_GONE;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');           /* the name may hold spaces and ')' */
    if (!p || p[1] != ' ')
        return PROC_RUNNING;
    char state = p[2];
    /* The fields after the state, field 4 on: the start time is field 22,
     * the exit code field 52. */
    unsigned long long started = 0, exit_code = ULLONG_MAX;
    int i = 4;
    for (char *q = p + 3; *q; i++) {
        char *end;
        unsigned long long field = strtoull(q, &end, 10);
        if (end == q)
            break;
        if (i == 22)
            started = field;
        else if (i == 52)
            exit_code = field;
        q = end;
    }
    if (*start_time == 0)
        *start_time = started;
    else if (started && started != *start_time)
        return PROC_GONE;                   /* another process took the pid */
    if (state != 'Z' && state != 'X')
        return PROC_RUNNING;
    *status = exit_code <= INT_MAX ? (int)exit_code : -1;
    return PROC_ZOMBIE;
}

/* " (it exited with status 3)", " (it was killed by SIGTERM)", or "". */
static void describe_exit(int status, char *buf, size_t size)
{
    if (status < 0)
        snprintf(buf, size, "%s", "");
    else if (WIFSIGNALED(status))
        snprintf(buf, size, " (it was killed by %s)", ls_signal_name(WTERMSIG(status)));
    else if (WIFEXITED(status))
        snprintf(buf, size, " (it exited with status %d)", WEXITSTATUS(status));
    else
        snprintf(buf, size, "%s", "");
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

static int attach_by_signal(pid_t pid, unsigned long long start_time, const ls_options *opt)
{
    char value[PATH_MAX];
    int sig = SIGUSR2;
    int have = environment_value(pid, "LEAKSCAN_SIGNAL", value, sizeof value);
    if (have < 0) {
        fprintf(stderr, "leakscan attach: cannot read the environment of process %d: %s "
                "(run as its user or as root)\n", (int)pid, strerror(errno));
        return 2;
    }
    int runtime = maps_debug_root(pid);
    if (runtime < 0) {
        fprintf(stderr, "leakscan attach: cannot read the memory map of process %d: %s "
                "(run as its user or as root)\n", (int)pid, strerror(errno));
        return 2;
    }
    if (runtime == 0) {
        char comm[64] = "", path[64];
        snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
        FILE *f = fopen(path, "re");
        if (f) {
            if (!fgets(comm, sizeof comm, f))
                comm[0] = '\0';
            comm[strcspn(comm, "\n")] = '\0';
            ls_text_sanitize(comm);
            fclose(f);
        }
        fprintf(stderr, "leakscan attach: process %d%s%s%s is not a libleakrt program: no object it "
                "maps defines %s, so nothing was sent (its signal may mean something else to it). "
                "If it is one after all (stripped of its symbols?), 'leakscan attach --core %d' reads "
                "it\n", (int)pid, comm[0] ? " (" : "", comm, comm[0] ? ")" : "", LS_ROOT_SYMBOL, (int)pid);
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
        /* A zombie still answers kill(pid, 0): its state says it is gone. */
        int exit_status = -1;
        if (process_state(pid, &start_time, &exit_status) != PROC_RUNNING) {
            char how[64];
            describe_exit(exit_status, how, sizeof how);
            fprintf(stderr, "leakscan attach: process %d exited before its snapshot appeared%s\n",
                    (int)pid, how);
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
    unsigned long long start_time = 0;
    int exit_status = -1;
    int state = process_state((pid_t)pid, &start_time, &exit_status);
    if (state == PROC_GONE) {
        fprintf(stderr, "leakscan attach: no process %ld\n", pid);
        return 2;
    }
    if (state == PROC_ZOMBIE) {
        char how[64];
        describe_exit(exit_status, how, sizeof how);
        fprintf(stderr, "leakscan attach: process %ld has exited%s: it is a zombie its parent has not "
                "reaped, with no memory left to look at\n", pid, how);
        return 2;
    }
    return opt->attach_core ? attach_by_core((pid_t)pid, opt)
                            : attach_by_signal((pid_t)pid, start_time, opt);
}

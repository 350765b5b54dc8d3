/*
 * snapshot.c — taking a snapshot: the triggers, and stop / fork / resume.
 *
 *   lrt_snapshot(path, reason)      from a task or any thread
 *   LEAKSCAN_SIGNAL (SIGUSR2)       into LEAKSCAN_DIR as leakscan-PID-N.snap
 *   LEAKSCAN_AT_EXIT=path           when lrt_main's task returns
 *
 * The program is paused only for the stop and the fork: every thread parks
 * in a signal handler (stop.c), the process forks with a raw clone — no
 * atfork handlers, which would take malloc's locks a stopped thread may
 * hold — and the threads go on. The child writes the frozen copy
 * (corefile.c) and exits with 0 or an errno. A task calling lrt_snapshot
 * waits for the child on a pidfd without holding its worker; the signal
 * trigger never waits: the poller reaps the child and reports a failure in
 * one line on stderr. One snapshot at a time: a second trigger waits.
 */
#include "stop.h"

#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define STOP_TIMEOUT_NS (1000 * LRT_MILLISECOND)

static struct {
    lrt_lock      lock;                  /* one snapshot at a time */
    char          exe_path[4096];
    unsigned char build_id[64];
    size_t        build_id_size;
    char          dir[4096];             /* LEAKSCAN_DIR */
    int           signo;                 /* LEAKSCAN_SIGNAL, 0: off */
    _Atomic int   requests;              /* signal triggers not yet served */
    _Atomic uint64_t sequence;           /* N in leakscan-PID-N.snap */
    _Atomic int64_t last_pause_ns;
    _Atomic int64_t last_pause_start_ns;
    struct sigaction previous;
    void         *fork_stack;            /* see fork_writer */
    char          path[4096];            /* the snapshot being taken ... */
    char          reason[256];
    lrt_core_info info;
    lrt_stopped_world world;
    lrt_stack_copies stacks;             /* see lrt_stack_copies_take */
} snap;

/* ---------------------------------------------------------------------- */
/* Facts gathered once, while taking locks is still fine                  */
/* ---------------------------------------------------------------------- */

static int find_build_id(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size; (void)data;
    if (info->dlpi_name && info->dlpi_name[0])
        return 0;                         /* the executable comes first, unnamed */
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr);
        const char *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            const char *name = p + sizeof *nh;
            const char *desc = name + ((nh->n_namesz + 3) & ~3u);
            if (desc + nh->n_descsz > end)
                break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
                nh->n_descsz <= sizeof snap.build_id) {
                memcpy(snap.build_id, desc, nh->n_descsz);
                snap.build_id_size = nh->n_descsz;
                return 1;
            }
            p = desc + ((nh->n_descsz + 3) & ~3u);
        }
    }
    return 1;
}

static void on_snapshot_signal(int sig, siginfo_t *info, void *uc);

void lrt_snapshot_init(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    lrt_stop_init();
    ssize_t n = readlink("/proc/self/exe", snap.exe_path, sizeof snap.exe_path - 1);
    snap.exe_path[n > 0 ? n : 0] = '\0';
    dl_iterate_phdr(find_build_id, NULL);

    const char *dir = getenv("LEAKSCAN_DIR");
    if (!dir || !*dir)
        dir = ".";
    strncpy(snap.dir, dir, sizeof snap.dir - 1);

    snap.signo = SIGUSR2;
    const char *env = getenv("LEAKSCAN_SIGNAL");
    if (env && *env) {
        if (strcmp(env, "0") == 0 || strcmp(env, "off") == 0) {
            snap.signo = 0;
        } else {
            int s = atoi(env);
            if (s > 0 && s < NSIG && s != SIGKILL && s != SIGSTOP && s != SIGSEGV)
                snap.signo = s;
            else
                lrt_printerr("LEAKSCAN_SIGNAL=%s is not a usable signal; using SIGUSR2", env);
        }
    }
    if (snap.signo) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_snapshot_signal;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(snap.signo, &sa, &snap.previous);
    }
}

int64_t lrt_snapshot_last_pause_ns(void)
{
    return atomic_load(&snap.last_pause_ns);
}

int64_t lrt_snapshot_last_pause_start_ns(void)
{
    return atomic_load(&snap.last_pause_start_ns);
}

/* ---------------------------------------------------------------------- */
/* Stop, fork, resume                                                     */
/* ---------------------------------------------------------------------- */

/* The forked child writes on a stack of its own: the task that called
 * lrt_snapshot may have little of its own left. */
#define CHILD_STACK_SIZE (1024 * 1024)

typedef struct child_job {
    const lrt_core_info     *info;
    const lrt_stopped_world *sw;
} child_job;

LRT_NO_ASAN static void child_main(void *arg)
{
    const child_job *job = arg;
    _exit(lrt_core_write(job->info, job->sw));
}

LRT_NO_ASAN noreturn static void run_child(const lrt_core_info *info, const lrt_stopped_world *sw)
{
    child_job job = { info, sw };
    void *stack = lrt_core_scratch_init(CHILD_STACK_SIZE);
    if (!stack)
        _exit(ENOMEM);
    lrt_regs from, to;
    lrt_arch_init_regs(&to, (uintptr_t)stack + CHILD_STACK_SIZE, child_main, &job);
    lrt_arch_switch(&from, &to);
    _exit(EINVAL);                      /* not reached */
}

/* The fork happens on a stack of the runtime's own, outside the task stack
 * chunks, which the fork leaves out. */
#define FORK_STACK_SIZE (64 * 1024)

typedef struct fork_job {
    const lrt_core_info     *info;
    const lrt_stopped_world *sw;
    pid_t    pid;
    int      err;
    lrt_regs caller, here;
} fork_job;

LRT_NO_ASAN static void fork_entry(void *arg)
{
    fork_job *job = arg;
    /* exit signal 0: no SIGCHLD to confuse the program's own handler */
    pid_t pid = (pid_t)syscall(SYS_clone, 0, NULL, NULL, NULL, NULL);
    if (pid == 0)
        run_child(job->info, job->sw);
    job->pid = pid;
    job->err = pid < 0 ? errno : 0;
    lrt_arch_switch(&job->here, &job->caller);
}

LRT_NO_ASAN static pid_t fork_writer(const lrt_core_info *info, const lrt_stopped_world *sw)
{
    static fork_job job;                 /* not on the task stack: see take() */
    job = (fork_job){ .info = info, .sw = sw };
    lrt_regs to;
    lrt_arch_init_regs(&to, (uintptr_t)snap.fork_stack + FORK_STACK_SIZE, fork_entry, &job);
    lrt_arch_switch(&job.caller, &to);
    return job.err ? -job.err : job.pid;
}

/* Takes the snapshot into path. Returns the child's pid (> 0) or -errno;
 * the caller collects the child's exit status. `self` holds the caller's
 * registers as of its call into the runtime. */
static pid_t take(const char *path, const char *reason, const lrt_regs *self)
{
    if (strlen(path) >= sizeof snap.path)
        return -ENAMETOOLONG;
    /* Before anything stops: a destination that is not a file is refused
     * without a pause (the writer checks again before its rename). */
    int refused = lrt_core_check_destination(path);
    if (refused)
        return -refused;
    lrt_lock_acquire(&snap.lock);
    /* Internal memory before the world stops: a stopped thread may hold
     * the internal allocator's lock. */
    if (!snap.fork_stack)
        snap.fork_stack = lrt_internal_alloc(FORK_STACK_SIZE);
    /* Everything the child reads lives here, not on the caller's (task)
     * stack, which the fork leaves out. Serialised by snap.lock. */
    strcpy(snap.path, path);
    snprintf(snap.reason, sizeof snap.reason, "%s", reason ? reason : "");
    lrt_core_info *info = &snap.info;
    *info = (lrt_core_info){
        .path = snap.path, .reason = snap.reason,
        .exe_path = snap.exe_path,
        .build_id = snap.build_id, .build_id_size = snap.build_id_size,
        .stacks = &snap.stacks,
    };
    lrt_stack_copies_prepare(&snap.stacks);
    lrt_stopped_world *sw = &snap.world;
    memset(sw, 0, sizeof *sw);
    info->pause_start_ns = lrt_now();
    int err = lrt_world_stop(sw, self, STOP_TIMEOUT_NS);
    pid_t pid = -1;
    if (!err) {
        /* Stacks: copy the used parts and keep the chunks out of the fork;
         * when the copy cannot be made, the child reads them in place. */
        bool copied = lrt_stack_copies_take(&snap.stacks, sw) == 0;
        if (copied)
            lrt_stack_chunks_fork(false);
        pid = fork_writer(info, sw);
        if (copied)
            lrt_stack_chunks_fork(true);
        if (pid < 0)
            err = pid;
    }
    atomic_store(&snap.last_pause_ns, lrt_now() - info->pause_start_ns);
    atomic_store(&snap.last_pause_start_ns, info->pause_start_ns);
    if (sw->threads)
        lrt_world_start(sw);
    lrt_lock_release(&snap.lock);
    return err ? err : pid;
}

static int reap_status(pid_t pid, bool block);

/* The child's verdict for the file at path: 0, or -errno it reported. A
 * writer that failed or was killed may have left its temporary file (see
 * lrt_core_write): it goes. */
static int reap(pid_t pid, const char *path, bool block)
{
    int result = reap_status(pid, block);
    if (result != 0 && result != -EINPROGRESS) {
        char tmp[4200];
        if (lrt_core_temp_path(tmp, sizeof tmp, path, pid) == 0)
            unlink(tmp);
    }
    return result;
}

static int reap_status(pid_t pid, bool block)
{
    int status;
    for (;;) {
        pid_t r = waitpid(pid, &status, __WALL | (block ? 0 : WNOHANG));
        if (r == pid)
            break;
        if (r == 0)
            return -EINPROGRESS;
        if (errno != EINTR)
            return -errno;
    }
    if (WIFEXITED(status))
        return -WEXITSTATUS(status);
    return -ECHILD;                      /* killed: say so, not "success" */
}

/* Why a snapshot to path failed, for the triggers' one line on stderr. A
 * destination refused for what it is is named: "File exists" would not
 * say why an existing path is not replaced. */
static const char *describe(int err, const char *path, char *buf, size_t size)
{
    struct stat st;
    if ((err == -EEXIST || err == -EISDIR) && lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        const char *what = S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO"
                         : S_ISLNK(st.st_mode) ? "a symbolic link"
                         : S_ISCHR(st.st_mode) ? "a character device"
                         : S_ISBLK(st.st_mode) ? "a block device" : S_ISSOCK(st.st_mode) ? "a socket"
                         : "not a file";
        snprintf(buf, size, "it exists and is %s, not a regular file (left alone)", what);
        return buf;
    }
    return err == -ECHILD ? "the writer process was killed" : strerror(-err);
}

int lrt_snapshot(const char *path, const char *reason)
{
    lrt_regs self;
    lrt_arch_save(&self);
    if (!path || !*path)
        return -EINVAL;
    lrt_snapshot_init();
    pid_t pid = take(path, reason, &self);
    if (pid < 0)
        return pid;
    /* On a task: wait on a pidfd, so the worker runs other tasks. */
    if (lrt_task_current()) {
        int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (pidfd >= 0) {
            lrt_fd_wait(pidfd, LRT_READ, -1);
            close(pidfd);
        }
    }
    return reap(pid, path, true);
}

/* ---------------------------------------------------------------------- */
/* The signal trigger, served by the poller thread                        */
/* ---------------------------------------------------------------------- */

static void on_snapshot_signal(int sig, siginfo_t *info, void *uc)
{
    (void)sig; (void)info; (void)uc;
    int saved = errno;
    atomic_fetch_add(&snap.requests, 1);
    lrt_poller_kick();
    errno = saved;
}

/* "leakrt: snapshot /abs/path written": absolute, for whoever sent the
 * signal from another directory. */
static void print_written(const char *path)
{
    char cwd[4096];
    if (path[0] == '/' || !getcwd(cwd, sizeof cwd))
        lrt_printerr("snapshot %s written", path);
    else
        lrt_printerr("snapshot %s/%s written", cwd, path[0] == '.' && path[1] == '/' ? path + 2 : path);
}

/* Called on the poller thread when it is kicked. Pending children are
 * reaped with WNOHANG each time it comes by; it never waits for one. */
void lrt_snapshot_serve(void)
{
    static pid_t pending[16];
    static char pending_path[16][4200];
    for (int i = 0; i < 16; i++) {
        if (pending[i] <= 0)
            continue;
        int r = reap(pending[i], pending_path[i], false);
        if (r == -EINPROGRESS)
            continue;
        char why[128];
        if (r != 0)
            lrt_printerr("snapshot %s failed: %s", pending_path[i],
                         describe(r, pending_path[i], why, sizeof why));
        else                             /* whoever sent the signal learns where it went */
            print_written(pending_path[i]);
        pending[i] = 0;
    }
    while (atomic_load(&snap.requests) > 0) {
        atomic_fetch_sub(&snap.requests, 1);
        int slot = -1;
        for (int i = 0; i < 16 && slot < 0; i++)
            if (pending[i] <= 0)
                slot = i;
        if (slot < 0) {
            lrt_printerr("snapshot skipped: too many snapshots still being written");
            continue;
        }
        char *path = pending_path[slot];
        size_t n = strlen(snap.dir);
        memcpy(path, snap.dir, n);
        const char prefix[] = "/leakscan-";
        memcpy(path + n, prefix, sizeof prefix - 1);
        n += sizeof prefix - 1;
        int m = snprintf(path + n, sizeof pending_path[0] - n, "%d-%llu.snap", (int)getpid(),
                         (unsigned long long)atomic_fetch_add(&snap.sequence, 1) + 1);
        (void)m;
        lrt_regs self;
        lrt_arch_save(&self);
        pid_t pid = take(path, "signal", &self);
        if (pid < 0) {
            char why[128];
            lrt_printerr("snapshot %s failed: %s", path, describe(pid, path, why, sizeof why));
            continue;
        }
        pending[slot] = pid;
        lrt_poller_watch_child(pid);
    }
}

/* LEAKSCAN_AT_EXIT: called by lrt_main once the main task has returned. */
void lrt_snapshot_at_exit(void)
{
    const char *path = getenv("LEAKSCAN_AT_EXIT");
    if (!path || !*path)
        return;
    lrt_regs self;
    lrt_arch_save(&self);
    lrt_snapshot_init();
    pid_t pid = take(path, "at exit", &self);
    int err = pid < 0 ? pid : reap(pid, path, true);
    char why[128];
    if (err)
        lrt_printerr("LEAKSCAN_AT_EXIT: snapshot %s failed: %s", path, describe(err, path, why, sizeof why));
}

/*
 * stop.c — stop the world: every thread of the process parks in a signal
 * handler, its registers saved, until released.
 *
 * A signal reaches a task spinning in `for (;;)` as surely as an idle
 * worker asleep in futex(2) or a user thread in read(2), so the snapshot
 * sees every thread's live registers. The handler takes no lock and calls
 * nothing but atomics and the futex and gettid system calls: the thread it
 * interrupts may hold any lock, malloc's and stdio's included.
 *
 * The signal is SIGURG (as Go's preemption uses: rarely used otherwise);
 * LRT_STOP_SIGNAL=N picks another. A SIGURG that is not ours goes to the
 * handler that was there before.
 */
#include "stop.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static struct {
    int              signo;
    struct sigaction previous;
    _Atomic(lrt_stopped_world *) active;
    _Atomic uint32_t arrived;    /* threads parked in the handler */
    _Atomic uint32_t inside;     /* threads still in the handler */
    _Atomic uint32_t release;    /* 1: leave the handler */
    /* Work lent to the stopped threads (lrt_world_share): they are idle, and
     * each may have a core of its own. `wake` counts posts and the release,
     * the one word they sleep on. */
    _Atomic uint32_t wake;
    void (*_Atomic job)(void *);
    void            *job_arg;
    _Atomic int      job_slots;   /* helpers still wanted */
    _Atomic uint32_t job_inside;  /* helpers in or entering the job */
} stop = { .signo = SIGURG };


static long futex(_Atomic uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
    return syscall(SYS_futex, (uint32_t *)word, op | FUTEX_PRIVATE_FLAG, val, ts, NULL, 0);
}

/* A stopped thread's turn at the posted job, if one is open and wanted.
 * `inside` is raised before the job is looked at, so the poster, which
 * closes the job and then waits for `inside` to fall to zero, never leaves
 * while a helper could still start it. */
static void help_with_job(void)
{
    atomic_fetch_add(&stop.job_inside, 1);
    void (*job)(void *) = atomic_load(&stop.job);
    if (job && atomic_fetch_sub(&stop.job_slots, 1) > 0)
        job(stop.job_arg);
    if (atomic_fetch_sub(&stop.job_inside, 1) == 1)
        futex(&stop.job_inside, FUTEX_WAKE, 1, NULL);
}

static void on_stop_signal(int sig, siginfo_t *info, void *ucontext)
{
    /* Counted inside before looking at `active`: lrt_world_start frees the
     * world only once nobody is inside. */
    atomic_fetch_add(&stop.inside, 1);
    lrt_stopped_world *sw = atomic_load(&stop.active);
    if (!sw || info->si_code != SI_TKILL || info->si_pid != getpid()) {
        atomic_fetch_sub(&stop.inside, 1);
        /* Not ours: pass it on. */
        if ((stop.previous.sa_flags & SA_SIGINFO) && stop.previous.sa_sigaction)
            stop.previous.sa_sigaction(sig, info, ucontext);
        else if (stop.previous.sa_handler != SIG_DFL && stop.previous.sa_handler != SIG_IGN)
            stop.previous.sa_handler(sig);
        return;
    }
    int saved_errno = errno;
    pid_t tid = (pid_t)syscall(SYS_gettid);
    for (size_t i = 0; i < sw->count; i++) {
        lrt_thread_state *th = &sw->threads[i];
        if (th->tid != tid || atomic_load(&th->stopped))
            continue;
        lrt_arch_prstatus_regs(ucontext, &th->regs);
        uint32_t seen = atomic_load(&stop.wake);   /* before arriving: see lrt_world_share */
        atomic_store(&th->stopped, 1);
        atomic_fetch_add(&stop.arrived, 1);
        futex(&stop.arrived, FUTEX_WAKE, 1, NULL);
        while (atomic_load(&stop.release) == 0) {
            uint32_t now = atomic_load(&stop.wake);
            if (now != seen) {
                seen = now;
                help_with_job();
                continue;
            }
            futex(&stop.wake, FUTEX_WAIT, now, NULL);
        }
        break;
    }
    atomic_fetch_sub(&stop.inside, 1);
    errno = saved_errno;
}

void lrt_stop_init(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    const char *env = getenv("LRT_STOP_SIGNAL");
    if (env && *env) {
        int n = atoi(env);
        if (n > 0 && n < NSIG && n != SIGKILL && n != SIGSTOP)
            stop.signo = n;
        else
            lrt_printerr("LRT_STOP_SIGNAL=%s is not a usable signal; using SIGURG", env);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_stop_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigfillset(&sa.sa_mask);             /* nothing else runs on top of us */
    sigaction(stop.signo, &sa, &stop.previous);
}

/* Lists the process's threads with getdents64 (opendir would malloc). */
static int list_threads(lrt_stopped_world *sw, pid_t self)
{
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/task",
                          O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char buf[1024];                      /* on the caller's task stack */
    for (;;) {
        long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (n < 0) {
            int err = -errno;
            close(fd);
            return err;
        }
        if (n == 0)
            break;
        for (long off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(buf + off);
            off += d->d_reclen;
            pid_t tid = (pid_t)atoi(d->d_name);
            if (tid <= 0 || tid == self)
                continue;
            if (sw->count == sw->capacity) {
                size_t cap = sw->capacity * 2;
                lrt_thread_state *grown = lrt_internal_alloc(cap * sizeof *grown);
                memcpy(grown, sw->threads, sw->count * sizeof *grown);
                lrt_internal_free(sw->threads, sw->capacity * sizeof *grown);
                sw->threads = grown;
                sw->capacity = cap;
            }
            sw->threads[sw->count++].tid = tid;
        }
    }
    close(fd);
    return 0;
}

int lrt_world_stop(lrt_stopped_world *sw, const lrt_regs *self, int64_t timeout_ns)
{
    pid_t pid = getpid(), me = (pid_t)syscall(SYS_gettid);
    sw->capacity = 64;
    sw->threads = lrt_internal_alloc(sw->capacity * sizeof *sw->threads);
    sw->count = 1;
    sw->threads[0].tid = me;
    lrt_arch_prstatus_from_saved(self, &sw->threads[0].regs);
    atomic_store(&sw->threads[0].stopped, 1);
    sw->stopped = 1;
    sw->start_ns = lrt_now();
    int err = list_threads(sw, me);
    if (err)
        return err;

    atomic_store(&stop.arrived, 0);
    atomic_store(&stop.release, 0);
    atomic_store(&stop.active, sw);
    size_t expected = 0;
    for (size_t i = 1; i < sw->count; i++) {
        if (syscall(SYS_tgkill, pid, sw->threads[i].tid, stop.signo) == 0)
            expected++;
        else
            sw->threads[i].tid = -sw->threads[i].tid;   /* exited meanwhile */
    }
    int64_t deadline = lrt_now() + timeout_ns;
    uint32_t n;
    while ((n = atomic_load(&stop.arrived)) < expected) {
        int64_t left = deadline - lrt_now();
        if (left <= 0)
            break;                       /* a thread blocks the signal: go on */
        struct timespec ts = { 0, left < 1000000 ? left : 1000000 };
        futex(&stop.arrived, FUTEX_WAIT, n, &ts);
    }
    sw->stopped = 1 + atomic_load(&stop.arrived);
    return 0;
}

void lrt_world_share(const lrt_stopped_world *sw, void (*job)(void *), void *arg, int helpers)
{
    (void)sw;
    if (helpers > 0) {
        stop.job_arg = arg;
        atomic_store(&stop.job_slots, helpers);
        atomic_store(&stop.job, job);
        atomic_fetch_add(&stop.wake, 1);
        futex(&stop.wake, FUTEX_WAKE, INT32_MAX, NULL);
    }
    job(arg);
    if (helpers <= 0)
        return;
    atomic_store(&stop.job, NULL);
    uint32_t n;
    while ((n = atomic_load(&stop.job_inside)) != 0)
        futex(&stop.job_inside, FUTEX_WAIT, n, NULL);
}

void lrt_world_start(lrt_stopped_world *sw)
{
    atomic_store(&stop.release, 1);
    atomic_fetch_add(&stop.wake, 1);
    futex(&stop.wake, FUTEX_WAKE, INT32_MAX, NULL);
    atomic_store(&stop.active, NULL);
    while (atomic_load(&stop.inside) != 0)
        sched_yield();
    lrt_internal_free(sw->threads, sw->capacity * sizeof *sw->threads);
    sw->threads = NULL;
    sw->count = sw->capacity = 0;
}

/*
 * timer.c — the timer heap and the poller thread.
 *
 * One structure serves sleeps, select and fd-wait timeouts (the task's own
 * lrt_timer) and context deadlines (a timer owned by the context): a binary
 * min-heap under one lock, in internal memory. A single poller thread — not
 * a worker, so sleeping and waiting tasks hold no worker — blocks in
 * epoll_wait on the timerfd (armed for the earliest deadline), the fds of
 * lrt_fd_wait and an eventfd that stops it. Expired timers are collected
 * under the lock and fired outside it: firing cancels contexts, which
 * closes channels and stops other timers.
 */

#include "runtime.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#ifdef LRT_TSAN
#define POLLER_STACK_SIZE (4 * 1024 * 1024)   /* TSan keeps ~1 MiB of its own there */
#else
#define POLLER_STACK_SIZE (256 * 1024)
#endif
#define TAG_TIMERFD ((uint64_t)1 << 62)
#define TAG_EVENTFD ((uint64_t)1 << 61)
#define TAG_KICK    ((uint64_t)1 << 60)
#define TAG_CHILD   ((uint64_t)1 << 59)   /* | pidfd of a snapshot writer */

static struct {
    lrt_lock    lock;
    lrt_timer **heap;          /* internal memory */
    size_t      len, cap;
    int64_t     armed_when;    /* what the timerfd is set to */
    int         epfd, timerfd, eventfd;
    int         kickfd;        /* signal handlers wake the poller here */
    pthread_t   thread;
    void       *thread_stack;
    bool        running;
} timers = { .epfd = -1, .timerfd = -1, .eventfd = -1, .kickfd = -1 };

/* ---------------------------------------------------------------------- */
/* The heap                                                               */
/* ---------------------------------------------------------------------- */

/* Keeps the debug root's view of the pending timers current (lock held). */
static void publish(void)
{
    lrt_debug_root.timers = (uintptr_t)timers.heap;
    lrt_debug_root.timer_count = timers.len;
}

static void heap_set(size_t i, lrt_timer *tm)
{
    timers.heap[i] = tm;
    tm->heap_index = (int32_t)i;
}

static void sift_up(size_t i)
{
    lrt_timer *tm = timers.heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (timers.heap[parent]->when <= tm->when)
            break;
        heap_set(i, timers.heap[parent]);
        i = parent;
    }
    heap_set(i, tm);
}

static void sift_down(size_t i)
{
    lrt_timer *tm = timers.heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= timers.len)
            break;
        if (child + 1 < timers.len && timers.heap[child + 1]->when < timers.heap[child]->when)
            child++;
        if (timers.heap[child]->when >= tm->when)
            break;
        heap_set(i, timers.heap[child]);
        i = child;
    }
    heap_set(i, tm);
}

static void heap_remove(lrt_timer *tm)
{
    size_t i = (size_t)tm->heap_index;
    lrt_assert(i < timers.len && timers.heap[i] == tm);
    timers.len--;
    if (i != timers.len) {
        heap_set(i, timers.heap[timers.len]);
        sift_down(i);
        sift_up((size_t)timers.heap[i]->heap_index);
    }
    tm->heap_index = -1;
}

static void heap_grow(void)
{
    size_t cap = timers.cap ? timers.cap * 2 : 256;
    lrt_timer **heap = lrt_internal_alloc(cap * sizeof *heap);
    if (timers.len)
        memcpy(heap, timers.heap, timers.len * sizeof *heap);
    lrt_internal_free(timers.heap, timers.cap * sizeof *heap);
    timers.heap = heap;
    timers.cap = cap;
}

/* Points the timerfd at the earliest deadline (lock held). */
static void rearm_locked(void)
{
    int64_t when = timers.len ? timers.heap[0]->when : INT64_MAX;
    if (when == timers.armed_when || timers.timerfd < 0)
        return;
    timers.armed_when = when;
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    if (when != INT64_MAX) {
        if (when <= 0)
            when = 1;            /* 0 would disarm it */
        its.it_value.tv_sec = when / LRT_SECOND;
        its.it_value.tv_nsec = when % LRT_SECOND;
    }
    timerfd_settime(timers.timerfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void wait_not_firing(lrt_timer *tm)
{
    while (atomic_load_explicit(&tm->state, memory_order_acquire) == LRT_TIMER_FIRING)
        sched_yield();
}

void lrt_timer_arm(lrt_timer *tm, int64_t when)
{
    wait_not_firing(tm);
    lrt_lock_acquire(&timers.lock);
    if (atomic_load(&tm->state) == LRT_TIMER_PENDING)
        heap_remove(tm);
    if (timers.len == timers.cap)
        heap_grow();
    tm->when = when;
    heap_set(timers.len++, tm);
    sift_up(timers.len - 1);
    atomic_store(&tm->state, LRT_TIMER_PENDING);
    if (timers.heap[0] == tm)
        rearm_locked();
    publish();
    lrt_lock_release(&timers.lock);
}

bool lrt_timer_disarm(lrt_timer *tm)
{
    bool was_pending = false;
    lrt_lock_acquire(&timers.lock);
    if (atomic_load(&tm->state) == LRT_TIMER_PENDING) {
        heap_remove(tm);
        atomic_store(&tm->state, LRT_TIMER_IDLE);
        was_pending = true;
        publish();
    }
    lrt_lock_release(&timers.lock);
    return was_pending;
}

bool lrt_timer_stop(lrt_timer *tm)
{
    bool was_pending = lrt_timer_disarm(tm);
    if (!was_pending)
        wait_not_firing(tm);
    return was_pending;
}

void lrt_task_timer_arm(lrt_task *t, int64_t when)
{
    t->timer.claim = lrt_wait_generation(t);
    lrt_timer_arm(&t->timer, when);
}

void lrt_task_timer_stop(lrt_task *t)
{
    lrt_timer_stop(&t->timer);
}

static void fire(lrt_timer *tm)
{
    if (tm->kind == LRT_TIMER_TASK) {
        lrt_task *t = tm->target;
        if (!lrt_task_is_stale(t) && lrt_wait_claim(t, tm->claim)) {
            t->wake_case = -1;
            lrt_ready(t);
        }
    } else {
        lrt_ctx_timer_fire(tm->target);
    }
    atomic_store_explicit(&tm->state, LRT_TIMER_IDLE, memory_order_release);
}

void lrt_timers_run(void)
{
    for (;;) {
        lrt_timer *due[64];
        size_t n = 0;
        lrt_lock_acquire(&timers.lock);
        int64_t now = lrt_now();
        while (n < 64 && timers.len > 0 && timers.heap[0]->when <= now) {
            lrt_timer *tm = timers.heap[0];
            heap_remove(tm);
            atomic_store(&tm->state, LRT_TIMER_FIRING);
            due[n++] = tm;
        }
        rearm_locked();
        publish();
        lrt_lock_release(&timers.lock);
        for (size_t i = 0; i < n; i++)
            fire(due[i]);
        if (n < 64)
            return;
    }
}

/* ---------------------------------------------------------------------- */
/* The poller thread                                                      */
/* ---------------------------------------------------------------------- */

int lrt_poll_fd(void) { return timers.epfd; }

static void *poller_main(void *arg)
{
    (void)arg;
    lrt_debug_root.poller_tid = (uint32_t)syscall(SYS_gettid);
    struct epoll_event events[128];
    for (;;) {
        int n = epoll_wait(timers.epfd, events, 128, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            lrt_printerr("poller: epoll_wait: %s", strerror(errno));
            return NULL;
        }
        for (int i = 0; i < n; i++) {
            uint64_t tag = events[i].data.u64;
            if (tag == TAG_EVENTFD)
                return NULL;             /* lrt_timers_stop */
            if (tag == TAG_KICK || (tag & TAG_CHILD)) {
                uint64_t count;
                if (tag == TAG_KICK && read(timers.kickfd, &count, sizeof count) < 0) {
                    /* EAGAIN: another event consumed it */
                }
                if (tag & TAG_CHILD) {
                    int pidfd = (int)(tag & 0xffffffff);
                    epoll_ctl(timers.epfd, EPOLL_CTL_DEL, pidfd, NULL);
                    close(pidfd);
                }
                lrt_snapshot_serve();
                continue;
            }
            if (tag == TAG_TIMERFD) {
                uint64_t expirations;
                if (read(timers.timerfd, &expirations, sizeof expirations) < 0) {
                    /* EAGAIN: rearmed meanwhile; the heap decides anyway */
                }
                lrt_timers_run();
            } else {
                lrt_poll_ready((int)tag, events[i].events);
            }
        }
    }
}

int lrt_timers_start(void)
{
    int err = 0;
    timers.epfd = epoll_create1(EPOLL_CLOEXEC);
    timers.timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    timers.eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (timers.kickfd < 0)               /* kept across runs: handlers use it */
        timers.kickfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (timers.epfd < 0 || timers.timerfd < 0 || timers.eventfd < 0 || timers.kickfd < 0) {
        err = -errno;
        goto fail;
    }
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG_TIMERFD };
    if (epoll_ctl(timers.epfd, EPOLL_CTL_ADD, timers.timerfd, &ev) != 0)
        goto fail_errno;
    ev.data.u64 = TAG_EVENTFD;
    if (epoll_ctl(timers.epfd, EPOLL_CTL_ADD, timers.eventfd, &ev) != 0)
        goto fail_errno;
    ev.data.u64 = TAG_KICK;
    if (epoll_ctl(timers.epfd, EPOLL_CTL_ADD, timers.kickfd, &ev) != 0)
        goto fail_errno;
    timers.armed_when = INT64_MAX;
    lrt_lock_acquire(&timers.lock);
    timers.armed_when = 0;               /* force: the heap may be non-empty */
    rearm_locked();
    lrt_lock_release(&timers.lock);

    /* Like the workers', the poller's stack is runtime-internal. */
    timers.thread_stack = lrt_internal_alloc(POLLER_STACK_SIZE);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, timers.thread_stack, POLLER_STACK_SIZE);
    err = -pthread_create(&timers.thread, &attr, poller_main, NULL);
    pthread_attr_destroy(&attr);
    if (err)
        goto fail;
    timers.running = true;
    return 0;

fail_errno:
    err = -errno;
fail:
    if (timers.epfd >= 0) close(timers.epfd);
    if (timers.timerfd >= 0) close(timers.timerfd);
    if (timers.eventfd >= 0) close(timers.eventfd);
    timers.epfd = timers.timerfd = timers.eventfd = -1;
    return err;
}

/* Stops the poller and forgets every pending timer and fd wait: the tasks
 * they would wake are discarded with the run. */
void lrt_timers_stop(void)
{
    if (!timers.running)
        return;
    uint64_t one = 1;
    if (write(timers.eventfd, &one, sizeof one) < 0)
        lrt_printerr("poller: cannot stop: %s", strerror(errno));
    pthread_join(timers.thread, NULL);
    timers.running = false;
    lrt_debug_root.poller_tid = 0;
    lrt_internal_free(timers.thread_stack, POLLER_STACK_SIZE);
    timers.thread_stack = NULL;

    lrt_lock_acquire(&timers.lock);
    for (size_t i = 0; i < timers.len; i++) {
        timers.heap[i]->heap_index = -1;
        atomic_store(&timers.heap[i]->state, LRT_TIMER_IDLE);
    }
    timers.len = 0;
    publish();
    lrt_lock_release(&timers.lock);
    close(timers.epfd);
    close(timers.timerfd);
    close(timers.eventfd);
    timers.epfd = timers.timerfd = timers.eventfd = -1;
    lrt_poll_reset();
}

/* Async-signal-safe: wakes the poller to serve snapshot requests. */
void lrt_poller_kick(void)
{
    uint64_t one = 1;
    if (timers.kickfd >= 0 && write(timers.kickfd, &one, sizeof one) < 0) {
        /* the counter is saturated: the poller is awake anyway */
    }
}

/* Wakes the poller when the snapshot writer pid exits. */
void lrt_poller_watch_child(pid_t pid)
{
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0)
        return;                          /* reaped on the next kick instead */
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG_CHILD | (uint64_t)pidfd };
    if (epoll_ctl(timers.epfd, EPOLL_CTL_ADD, pidfd, &ev) != 0)
        close(pidfd);
}

/* ---------------------------------------------------------------------- */
/* Sleep                                                                  */
/* ---------------------------------------------------------------------- */

void lrt_sleep(int64_t ns)
{
    lrt_task *t = lrt_task_require("lrt_sleep");
    if (ns <= 0) {
        lrt_yield();
        return;
    }
    lrt_wait_begin(t);
    t->wait_count = 0;
    lrt_task_timer_arm(t, lrt_now() + ns);
    lrt_park(LRT_WAIT_SLEEP, NULL, NULL);
}

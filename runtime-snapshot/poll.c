/*
 * poll.c — lrt_fd_wait: parking tasks on file descriptors with epoll.
 *
 * Each fd has a descriptor (a lock and the queue of tasks waiting on it) in
 * a two-level table in internal memory that never moves. The fd is armed
 * one-shot, level-triggered, for the union of what its waiters want, so
 * readiness that exists before the wait is seen at once and a closed and
 * reused fd number cannot leave a stale registration behind. The poller
 * thread (timer.c) delivers events here.
 */

#include "runtime.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>

#define CHUNK_FDS  1024
#define MAX_CHUNKS 1024           /* fds below 1,048,576 */

typedef struct lrt_pollfd {
    lrt_lock  lock;
    lrt_waitq waiters;
} lrt_pollfd;

static struct {
    lrt_lock    lock;
    lrt_pollfd *chunks[MAX_CHUNKS];   /* internal memory */
} table;

static lrt_pollfd *lookup(int fd)
{
    size_t c = (size_t)fd / CHUNK_FDS;
    if (c >= MAX_CHUNKS)
        return NULL;
    lrt_pollfd *chunk = atomic_load_explicit((_Atomic(lrt_pollfd *) *)&table.chunks[c],
                                             memory_order_acquire);
    if (!chunk) {
        lrt_lock_acquire(&table.lock);
        chunk = table.chunks[c];
        if (!chunk) {
            chunk = lrt_internal_alloc(CHUNK_FDS * sizeof *chunk);
            atomic_store_explicit((_Atomic(lrt_pollfd *) *)&table.chunks[c], chunk,
                                  memory_order_release);
        }
        lrt_lock_release(&table.lock);
    }
    return &chunk[(size_t)fd % CHUNK_FDS];
}

static uint32_t epoll_interest(uint32_t events)
{
    uint32_t ev = EPOLLONESHOT;
    if (events & LRT_READ)
        ev |= EPOLLIN | EPOLLRDHUP;
    if (events & LRT_WRITE)
        ev |= EPOLLOUT;
    return ev;
}

/* Arms fd for every waiter's events (pd locked). 0 or -errno. */
static int arm(int fd, lrt_pollfd *pd, uint32_t extra)
{
    uint32_t events = extra;
    for (lrt_waiter *w = pd->waiters.head; w; w = w->next)
        events |= w->events;
    if (!events)
        return 0;
    struct epoll_event ev = { .events = epoll_interest(events), .data.u64 = (uint64_t)fd };
    if (epoll_ctl(lrt_poll_fd(), EPOLL_CTL_MOD, fd, &ev) == 0)
        return 0;
    if (errno == ENOENT && epoll_ctl(lrt_poll_fd(), EPOLL_CTL_ADD, fd, &ev) == 0)
        return 0;
    return -errno;
}

static int poll_now(int fd, int events)
{
    struct pollfd p = { .fd = fd, .events = 0 };
    if (events & LRT_READ) p.events |= POLLIN;
    if (events & LRT_WRITE) p.events |= POLLOUT;
    int n = poll(&p, 1, 0);
    if (n < 0)
        return -errno;
    if (p.revents & POLLNVAL)
        return -EBADF;
    int ready = 0;
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) ready |= LRT_READ;
    if (p.revents & (POLLOUT | POLLHUP | POLLERR)) ready |= LRT_WRITE;
    return ready & events;
}

int lrt_fd_wait(int fd, int events, int64_t timeout_ns)
{
    lrt_task *t = lrt_task_require("lrt_fd_wait");
    events &= LRT_READ | LRT_WRITE;
    if (fd < 0)
        return -EBADF;
    if (!events)
        return -EINVAL;
    if (timeout_ns == 0)
        return poll_now(fd, events);
    lrt_pollfd *pd = lookup(fd);
    if (!pd)
        return poll_now(fd, events);   /* beyond the table: no waiting */

    lrt_waiter *w = &t->waiter;
    w->events = (uint32_t)events;
    w->result = 0;
    w->case_index = 0;
    w->contested = timeout_ns > 0;
    lrt_wait_begin(t);
    t->wait_count = 0;

    lrt_lock_acquire(&pd->lock);
    int err = arm(fd, pd, (uint32_t)events);
    if (err) {
        lrt_lock_release(&pd->lock);
        /* epoll refuses regular files (EPERM): they are always ready. */
        return err == -EPERM ? events : err;
    }
    lrt_waitq_push(&pd->waiters, w);
    if (timeout_ns > 0)
        lrt_task_timer_arm(t, lrt_now() + timeout_ns);
    lrt_park(LRT_WAIT_IO, lrt_unlock_cb, &pd->lock);

    if (timeout_ns > 0) {
        lrt_task_timer_stop(t);
        lrt_lock_acquire(&pd->lock);
        lrt_waitq_remove(&pd->waiters, w);    /* still there if timed out */
        lrt_lock_release(&pd->lock);
    }
    return w->result;
}

void lrt_poll_ready(int fd, uint32_t epoll_events)
{
    lrt_pollfd *pd = lookup(fd);
    if (!pd)
        return;
    int ready = 0;
    if (epoll_events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ready |= LRT_READ;
    if (epoll_events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) ready |= LRT_WRITE;

    lrt_lock_acquire(&pd->lock);
    lrt_waiter *w = pd->waiters.head;
    while (w) {
        lrt_waiter *next = w->next;
        if (w->events & (uint32_t)ready) {
            lrt_waitq_remove(&pd->waiters, w);
            if (lrt_claim(w)) {
                w->result = (int)w->events & ready;
                lrt_wake(w);
            }
        }
        w = next;
    }
    if (!lrt_waitq_empty(&pd->waiters))
        arm(fd, pd, 0);                       /* one-shot: arm again */
    lrt_lock_release(&pd->lock);
}

void lrt_poll_reset(void)
{
    lrt_lock_acquire(&table.lock);
    for (size_t c = 0; c < MAX_CHUNKS; c++)
        if (table.chunks[c])
            memset(table.chunks[c], 0, CHUNK_FDS * sizeof(lrt_pollfd));
    lrt_lock_release(&table.lock);
}

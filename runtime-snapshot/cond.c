/*
 * cond.c — lrt_cond: condition variables for lrt_mutex, Go's sync.Cond.
 */
#include "runtime.h"

#define QUEUE(c) ((lrt_waitq *)&(c)->waiters_)

void lrt_cond_wait(lrt_cond *c, lrt_mutex *m)
{
    void *site = __builtin_return_address(0);   /* the mutex's holder again: the caller */
    lrt_task_require("lrt_cond_wait");
    /* Queue first, then unlock: a signal sent right after the unlock
     * finds us. */
    lrt_guard_acquire(&c->guard_);
    lrt_task *t = lrt_task_current();
    lrt_waiter *w = &t->waiter;
    w->case_index = 0;
    w->contested = false;
    lrt_wait_begin(t);
    lrt_wait_on(t, c);
    lrt_waitq_push(QUEUE(c), w);
    lrt_mutex_unlock(m);
    lrt_park(LRT_WAIT_COND, lrt_guard_release_cb, &c->guard_);
    lrt_mutex_lock_at(m, site);
}

void lrt_cond_signal(lrt_cond *c)
{
    lrt_guard_acquire(&c->guard_);
    lrt_waiter *w = lrt_waitq_pop_claimed(QUEUE(c));
    lrt_guard_release(&c->guard_);
    if (w)
        lrt_wake(w);
}

void lrt_cond_broadcast(lrt_cond *c)
{
    lrt_waiter *wake = NULL, *w;
    lrt_guard_acquire(&c->guard_);
    while ((w = lrt_waitq_pop_claimed(QUEUE(c)))) {
        w->next = wake;
        wake = w;
    }
    lrt_guard_release(&c->guard_);
    while (wake) {
        w = wake;
        wake = w->next;
        lrt_wake(w);
    }
}

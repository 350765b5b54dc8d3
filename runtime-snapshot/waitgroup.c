/*
 * waitgroup.c — lrt_wg: wait for a collection of tasks, Go's sync.WaitGroup.
 */
#include "runtime.h"

#define QUEUE(wg) ((lrt_waitq *)&(wg)->waiters_)

static void add(lrt_wg *wg, int64_t n, const char *call)
{
    lrt_waiter *wake = NULL, *w;
    lrt_guard_acquire(&wg->guard_);
    wg->counter_ += n;
    if (wg->counter_ < 0) {
        wg->counter_ -= n;
        lrt_guard_release(&wg->guard_);
        lrt_panic(call, "negative wait group counter");
    }
    if (wg->counter_ == 0) {
        while ((w = lrt_waitq_pop_claimed(QUEUE(wg)))) {
            w->next = wake;
            wake = w;
        }
    }
    lrt_guard_release(&wg->guard_);
    while (wake) {
        w = wake;
        wake = w->next;
        lrt_wake(w);
    }
}

void lrt_wg_add(lrt_wg *wg, int64_t n) { add(wg, n, "lrt_wg_add"); }
void lrt_wg_done(lrt_wg *wg) { add(wg, -1, "lrt_wg_done"); }

void lrt_wg_wait(lrt_wg *wg)
{
    lrt_guard_acquire(&wg->guard_);
    if (wg->counter_ == 0) {
        lrt_guard_release(&wg->guard_);
        return;
    }
    if (!lrt_task_current()) {
        lrt_guard_release(&wg->guard_);
        lrt_task_require("lrt_wg_wait");
    }
    lrt_park_on(QUEUE(wg), &wg->guard_, wg, LRT_WAIT_WAITGROUP);
}

/*
 * rwmutex.c — lrt_rwmutex: many readers or one writer, writer-preferring.
 *
 * Once a writer waits, new readers queue behind it, so a stream of readers
 * cannot starve it; when a writer unlocks, the readers that queued meanwhile
 * all get in before the next writer, so readers do not starve either. All
 * state is under the guard; ownership is handed to the woken tasks.
 */
#include "runtime.h"

#define READQ(rw)  ((lrt_waitq *)&(rw)->read_waiters_)
#define WRITEQ(rw) ((lrt_waitq *)&(rw)->write_waiters_)

/* Hands the lock to the next writer, if one waits (guard held). */
static lrt_waiter *next_writer(lrt_rwmutex *rw)
{
    if (rw->writers_waiting_ == 0)
        return NULL;
    lrt_waiter *w = lrt_waitq_pop_claimed(WRITEQ(rw));
    if (w) {
        rw->writers_waiting_--;
        rw->writer_ = 1;
    } else {
        rw->writers_waiting_ = 0;        /* only stale waiters were left */
    }
    return w;
}

void lrt_rwmutex_rlock(lrt_rwmutex *rw)
{
    lrt_guard_acquire(&rw->guard_);
    if (!rw->writer_ && rw->writers_waiting_ == 0) {
        rw->readers_++;
        lrt_guard_release(&rw->guard_);
        return;
    }
    if (!lrt_task_current()) {
        lrt_guard_release(&rw->guard_);
        lrt_task_require("lrt_rwmutex_rlock");
    }
    lrt_park_on(READQ(rw), &rw->guard_, rw, LRT_WAIT_RWMUTEX_RLOCK);
}

void lrt_rwmutex_runlock(lrt_rwmutex *rw)
{
    lrt_guard_acquire(&rw->guard_);
    if (rw->readers_ <= 0) {
        lrt_guard_release(&rw->guard_);
        lrt_panic("lrt_rwmutex_runlock", "runlock of unlocked rwmutex %p", (void *)rw);
    }
    lrt_waiter *w = NULL;
    if (--rw->readers_ == 0)
        w = next_writer(rw);
    lrt_guard_release(&rw->guard_);
    if (w)
        lrt_wake(w);
}

void lrt_rwmutex_lock(lrt_rwmutex *rw)
{
    lrt_guard_acquire(&rw->guard_);
    if (!rw->writer_ && rw->readers_ == 0) {
        rw->writer_ = 1;
        lrt_guard_release(&rw->guard_);
        return;
    }
    if (!lrt_task_current()) {
        lrt_guard_release(&rw->guard_);
        lrt_task_require("lrt_rwmutex_lock");
    }
    rw->writers_waiting_++;
    lrt_park_on(WRITEQ(rw), &rw->guard_, rw, LRT_WAIT_RWMUTEX_LOCK);
}

void lrt_rwmutex_unlock(lrt_rwmutex *rw)
{
    lrt_guard_acquire(&rw->guard_);
    if (!rw->writer_) {
        lrt_guard_release(&rw->guard_);
        lrt_panic("lrt_rwmutex_unlock", "unlock of unlocked rwmutex %p", (void *)rw);
    }
    rw->writer_ = 0;
    lrt_waiter *wake = NULL, *w;
    while ((w = lrt_waitq_pop_claimed(READQ(rw)))) {
        rw->readers_++;
        w->next = wake;
        wake = w;
    }
    if (!wake && (w = next_writer(rw)))
        wake = w, w->next = NULL;
    lrt_guard_release(&rw->guard_);
    while (wake) {
        w = wake;
        wake = w->next;
        lrt_wake(w);
    }
}

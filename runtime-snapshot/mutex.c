/*
 * mutex.c — lrt_mutex: a task mutex, zero-initialised, usable anywhere.
 *
 * state_: 0 unlocked, 1 locked, 2 locked and tasks may be waiting. The
 * fast paths are one compare-and-swap. Contended unlocks hand the mutex
 * straight to the longest waiter (FIFO), so no task starves; the guard
 * protects the queue only. The holder's task id and the address it locked
 * from are kept in the mutex for leakscan ("held by task 32 (exited)
 * since jobsvc.c:77"): two stores while it is held, read only by a
 * snapshot or a core.
 */
#include "runtime.h"

#define STATE(m) ((_Atomic uint32_t *)&(m)->state_)
#define QUEUE(m) ((lrt_waitq *)&(m)->waiters_)

/* Called by the new holder with the task it is (NULL outside tasks: a
 * plain thread's trylock or uncontended lock; no id then, 0). */
static inline void held_by(lrt_mutex *m, const lrt_task *t, void *site)
{
    m->owner_ = t ? t->id : 0;
    m->site_ = (uintptr_t)site;
}

/* The running task on a path that cannot switch tasks before it is used:
 * without lrt_worker_current's compiler barrier, which cost the
 * uncontended lock a third of its time. Never after a park: the compiler
 * may move this read, and a parked task resumes on another thread. */
static inline lrt_task *current_no_switch(void)
{
    lrt_worker *w;
    __asm__("movq lrt_tls_worker@gottpoff(%%rip), %0\n\t"
            "movq %%fs:(%0), %0" : "=r"(w));
    return w ? w->current : NULL;
}

void lrt_mutex_lock(lrt_mutex *m)
{
    lrt_mutex_lock_at(m, __builtin_return_address(0));
}

void lrt_mutex_lock_at(lrt_mutex *m, void *site)
{
    uint32_t s = 0;
    if (atomic_compare_exchange_strong_explicit(STATE(m), &s, 1,
            memory_order_acquire, memory_order_relaxed)) {
        held_by(m, current_no_switch(), site);
        return;
    }
    lrt_task_require("lrt_mutex_lock");
    lrt_guard_acquire(&m->guard_);
    for (;;) {
        s = atomic_load(STATE(m));
        if (s == 0) {
            if (atomic_compare_exchange_weak(STATE(m), &s, 1)) {
                lrt_guard_release(&m->guard_);
                held_by(m, lrt_task_current(), site);
                return;
            }
        } else if (s == 2 || atomic_compare_exchange_weak(STATE(m), &s, 2)) {
            break;
        }
    }
    lrt_park_on(QUEUE(m), &m->guard_, m, LRT_WAIT_MUTEX);
    /* Handed over by lrt_mutex_unlock: we hold it now (on whichever
     * thread runs us: lrt_task_current's barrier reads it afresh). */
    held_by(m, lrt_task_current(), site);
}

bool lrt_mutex_trylock(lrt_mutex *m)
{
    uint32_t s = 0;
    if (!atomic_compare_exchange_strong_explicit(STATE(m), &s, 1,
            memory_order_acquire, memory_order_relaxed))
        return false;
    held_by(m, current_no_switch(), __builtin_return_address(0));
    return true;
}

void lrt_mutex_unlock(lrt_mutex *m)
{
    /* Before the release: the next holder's stores come after it. (An
     * unlock of an unlocked mutex panics below; clearing is harmless.) */
    m->owner_ = 0;
    m->site_ = 0;
    uint32_t s = 1;
    if (atomic_compare_exchange_strong_explicit(STATE(m), &s, 0,
            memory_order_release, memory_order_relaxed))
        return;
    if (s == 0)
        lrt_panic("lrt_mutex_unlock", "unlock of unlocked mutex %p", (void *)m);
    lrt_guard_acquire(&m->guard_);
    lrt_waiter *w = lrt_waitq_pop_claimed(QUEUE(m));
    if (!w)
        atomic_store(STATE(m), 0);
    else if (lrt_waitq_empty(QUEUE(m)))
        atomic_store(STATE(m), 1);       /* w holds it; nobody else waits */
    lrt_guard_release(&m->guard_);
    if (w)
        lrt_wake(w);
}

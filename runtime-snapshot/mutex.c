/*
 * mutex.c — lrt_mutex: a task mutex, zero-initialised, usable anywhere.
 *
 * state_: 0 unlocked, 1 locked, 2 locked and tasks may be waiting, plus
 * STARVING. The fast paths are one compare-and-swap. As Go's sync.Mutex:
 * a contender first spins briefly while the holder runs on another
 * worker; a contended unlock frees the mutex and wakes the longest waiter,
 * which competes with tasks arriving meanwhile (they keep running: a FIFO
 * handoff made every contended lock a task switch, 2.5x Go with two
 * workers); a waiter that has waited over 1 ms turns the mutex STARVING,
 * and then unlocks hand it straight to the first waiter, until one that
 * waited less, or the last, gets it. The guard protects the queue only.
 * The holder's task id and the address it locked from are kept in the
 * mutex for leakscan ("held by task 32 (exited) since jobsvc.c:77"): two
 * stores while it is held, read only by a snapshot or a core.
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

enum { HELD = 3, STARVING = 4 };          /* state_: (0, 1 or 2) | STARVING */
#define STARVE_NS (1000 * 1000)            /* as Go's starvationThresholdNs */
enum { SPIN_TRIES = 4, SPIN_PAUSES = 30 }; /* as Go's active_spin, procyield */

void lrt_mutex_lock_at(lrt_mutex *m, void *site)
{
    uint32_t s = 0;
    if (atomic_compare_exchange_strong_explicit(STATE(m), &s, 1,
            memory_order_acquire, memory_order_relaxed)) {
        held_by(m, current_no_switch(), site);
        return;
    }
    lrt_task_require("lrt_mutex_lock");
    /* The holder is likely running on another worker, about to unlock. */
    for (int i = 0; i < SPIN_TRIES && lrt_worker_count() > 1 && !(s & STARVING); i++) {
        for (int k = 0; k < SPIN_PAUSES; k++)
            lrt_cpu_relax();
        s = atomic_load_explicit(STATE(m), memory_order_relaxed);
        if (s == 0 && atomic_compare_exchange_strong_explicit(STATE(m), &s, 1,
                memory_order_acquire, memory_order_relaxed)) {
            held_by(m, lrt_task_current(), site);
            return;
        }
    }
    lrt_task *t = lrt_task_current();
    int64_t began = 0;
    bool requeued = false;
    for (;;) {
        lrt_guard_acquire(&m->guard_);
        bool starving = began && lrt_now_coarse() - began > STARVE_NS;
        for (;;) {
            s = atomic_load(STATE(m));
            if ((s & HELD) == 0 && !(s & STARVING)) {
                /* Free: ours, marked contended while others still wait. */
                uint32_t mine = lrt_waitq_empty(QUEUE(m)) ? 1 : 2;
                if (atomic_compare_exchange_weak(STATE(m), &s, mine)) {
                    lrt_guard_release(&m->guard_);
                    held_by(m, t, site);
                    return;
                }
                continue;
            }
            uint32_t marked = (s & STARVING) | (starving ? STARVING : 0) | 2;
            if (s == marked || atomic_compare_exchange_weak(STATE(m), &s, marked))
                break;
        }
        if (!began)
            began = lrt_now_coarse();
        t->waiter.ok = false;
        /* A waiter woken to compete that lost goes back first, as in Go. */
        lrt_park_on_at(QUEUE(m), &m->guard_, m, LRT_WAIT_MUTEX, requeued);
        /* On whichever thread runs us now: lrt_task_current reads afresh. */
        t = lrt_task_current();
        if (t->waiter.ok)                  /* handed over: we hold it */
            break;
        requeued = true;
    }
    held_by(m, t, site);
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
    if ((s & HELD) == 0)
        lrt_panic("lrt_mutex_unlock", "unlock of unlocked mutex %p", (void *)m);
    lrt_guard_acquire(&m->guard_);
    s = atomic_load(STATE(m));
    lrt_waiter *w = lrt_waitq_pop_claimed(QUEUE(m));
    if (w && (s & STARVING)) {
        /* Handed to w, which stays the holder (state stays held). */
        w->ok = true;
        bool last = lrt_waitq_empty(QUEUE(m));
        bool waited_long = lrt_now_coarse() - w->task->wait_since > STARVE_NS;
        atomic_store(STATE(m), last ? 1u : waited_long ? 2u | STARVING : 2u);
    } else {
        atomic_store(STATE(m), 0);       /* free: w competes for it */
    }
    lrt_guard_release(&m->guard_);
    if (w)
        lrt_wake(w);
}

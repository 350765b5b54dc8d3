/*
 * sched.c — tasks and the M:N scheduler: spawning, parking and readying,
 * the workers' run queues, idle workers, and lrt_main.
 *
 * LRT_PROCS workers each run tasks from a local run queue (a ring the owner
 * pushes to and anyone may steal half of) with a `runnext` slot in front of
 * it: the task a running task just woke runs next, so a ping-pong stays on
 * one worker and one cache. A global queue takes what the poller thread
 * wakes, yielded tasks and ring overflow. A worker with nothing to run
 * steals; failing that it sleeps on a futex, and whoever makes work
 * available wakes one sleeper unless someone is already looking.
 *
 * Switches go task to task when the next task is at hand; otherwise to the
 * worker's scheduler loop on its own thread stack. What the departing task
 * needs done once its registers are saved (mark it WAITING, release the
 * lock that guarded its wait queue, free its slot) is done by whoever runs
 * next: see after_switch(). A waker that finds the task still switching
 * away waits for WAITING, which is a few instructions away.
 *
 * Wake-ups that race (the cases of a select, a timeout against a channel)
 * go through the task's claim word: (wait generation << 1) | claimed.
 */

#include "runtime.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifdef LRT_TSAN
#include <sanitizer/tsan_interface.h>
#endif
#ifdef LRT_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#ifdef LRT_TSAN
#define WORKER_STACK_SIZE (4 * 1024 * 1024)   /* TSan keeps ~1 MiB of its own there */
#else
#define WORKER_STACK_SIZE (256 * 1024)
#endif
#define ALTSTACK_SIZE     (64 * 1024)
#define FREE_TASKS_MAX    64
#define GLOBAL_FAIRNESS   61    /* check the global queue every N picks */
#define RUNNEXT_STREAK_MAX 64   /* ... and the ring after N runnext picks */

static struct {
    int          nworkers;
    lrt_worker  *workers;         /* internal memory */
    lrt_lock     lock;            /* global queue, idle list */
    lrt_task    *global_head, *global_tail;
    _Atomic size_t global_len;
    lrt_worker  *idle;
    _Atomic int  nidle;
    _Atomic int  nspinning;
    _Atomic bool shutdown;
    _Atomic uint64_t next_id;
    _Atomic size_t ntasks;
    _Atomic uint32_t main_done;   /* futex lrt_main's thread waits on */
    bool         running;
    bool         initialised;
    bool         abandoned;       /* a worker of a past run still runs a task */
    uint32_t     epoch;           /* lrt_main run; older waiters are stale */
} sched;

const char *const lrt_wait_reason_names[LRT_WAIT_COUNT] = {
    [LRT_WAIT_NONE]            = "",
    [LRT_WAIT_CHAN_RECV]       = "chan receive",
    [LRT_WAIT_CHAN_SEND]       = "chan send",
    [LRT_WAIT_SELECT]          = "select",
    [LRT_WAIT_CHAN_RECV_NIL]   = "chan receive (nil chan)",
    [LRT_WAIT_CHAN_SEND_NIL]   = "chan send (nil chan)",
    [LRT_WAIT_SELECT_NO_CASES] = "select (no cases)",
    [LRT_WAIT_MUTEX]           = "mutex lock",
    [LRT_WAIT_RWMUTEX_RLOCK]   = "rwmutex rlock",
    [LRT_WAIT_RWMUTEX_LOCK]    = "rwmutex lock",
    [LRT_WAIT_COND]            = "cond wait",
    [LRT_WAIT_WAITGROUP]       = "waitgroup wait",
    [LRT_WAIT_SLEEP]           = "sleep",
    [LRT_WAIT_IO]              = "io wait",
    [LRT_WAIT_SELECT_TIMEOUT]  = "select (timeout)",
    [LRT_WAIT_SYSCALL]         = "syscall",
    [LRT_WAIT_RUNNABLE]        = "runnable",
    [LRT_WAIT_RUNNING]         = "running",
};

/* The worker this thread is. Read through lrt_worker_current() only. */
__thread lrt_worker *lrt_tls_worker
    __attribute__((tls_model("initial-exec"), used, visibility("hidden")));
#define tls_worker lrt_tls_worker
static __thread uint32_t    tls_schedtick;
uint32_t lrt_run_epoch;

/* ---------------------------------------------------------------------- */
/* Small helpers                                                          */
/* ---------------------------------------------------------------------- */

static long futex_wait(_Atomic uint32_t *word, uint32_t val)
{
    return syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static long futex_wake(_Atomic uint32_t *word, int n)
{
    return syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

uint64_t lrt_task_id_or_zero(void)
{
    lrt_task *t = lrt_task_current();
    return t ? t->id : 0;
}

lrt_task *lrt_task_require(const char *call)
{
    lrt_task *t = lrt_task_current();
    if (!t)
        lrt_panic(call, "called outside a task (only tasks may block; start them with lrt_main/lrt_go)");
    return t;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;           /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

uint32_t lrt_random(uint32_t n)
{
    lrt_worker *w = lrt_worker_current();
    static _Atomic uint64_t shared = 0x9e3779b97f4a7c15ull;
    uint64_t r;
    if (w) {
        r = rng_next(&w->rng);
    } else {
        uint64_t s = atomic_fetch_add(&shared, 0x9e3779b97f4a7c15ull);
        r = rng_next(&s);
    }
    return n ? (uint32_t)((r >> 32) % n) : 0;
}

int64_t lrt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * LRT_SECOND + ts.tv_nsec;
}

/* Wait start times only need to say "for 5 minutes": the coarse clock
 * costs a few nanoseconds on the park path instead of ~20. */
int64_t lrt_now_coarse(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * LRT_SECOND + ts.tv_nsec;
}

/* ---------------------------------------------------------------------- */
/* Wait queues and claims                                                 */
/* ---------------------------------------------------------------------- */

void lrt_park_on_at(lrt_waitq *q, uint32_t *guard, const void *addr, uint32_t reason, bool front)
{
    lrt_task *t = lrt_task_current();
    lrt_waiter *w = &t->waiter;
    w->case_index = 0;
    w->contested = false;
    lrt_wait_begin(t);
    lrt_wait_on(t, addr);
    if (front)
        lrt_waitq_push_front(q, w);
    else
        lrt_waitq_push(q, w);
    lrt_park(reason, lrt_guard_release_cb, guard);
}

void lrt_park_on(lrt_waitq *q, uint32_t *guard, const void *addr, uint32_t reason)
{
    lrt_park_on_at(q, guard, addr, reason, false);
}

int lrt_worker_count(void) { return sched.nworkers; }

/* ---------------------------------------------------------------------- */
/* Run queues                                                             */
/* ---------------------------------------------------------------------- */

static void global_push_locked(lrt_task *t)
{
    t->link = NULL;
    if (sched.global_tail)
        sched.global_tail->link = t;
    else
        sched.global_head = t;
    sched.global_tail = t;
    atomic_fetch_add_explicit(&sched.global_len, 1, memory_order_relaxed);
}

static void global_push(lrt_task *t)
{
    lrt_lock_acquire(&sched.lock);
    global_push_locked(t);
    lrt_lock_release(&sched.lock);
    atomic_thread_fence(memory_order_seq_cst);
}

static lrt_task *global_pop_locked(void)
{
    lrt_task *t = sched.global_head;
    if (t) {
        sched.global_head = t->link;
        if (!sched.global_head)
            sched.global_tail = NULL;
        t->link = NULL;
        atomic_fetch_sub_explicit(&sched.global_len, 1, memory_order_relaxed);
    }
    return t;
}

static bool runq_push_ring(lrt_worker *w, lrt_task *t)
{
    uint32_t tail = atomic_load_explicit(&w->runq_tail, memory_order_relaxed);
    uint32_t head = atomic_load_explicit(&w->runq_head, memory_order_acquire);
    if (tail - head >= LRT_RUNQ_SIZE)
        return false;
    atomic_store_explicit(&w->runq[tail % LRT_RUNQ_SIZE], t, memory_order_relaxed);
    atomic_store_explicit(&w->runq_tail, tail + 1, memory_order_release);
    return true;
}

/* Owner only. When the ring is full, half of it goes to the global queue. */
static void runq_push(lrt_worker *w, lrt_task *t)
{
    while (!runq_push_ring(w, t)) {
        uint32_t head = atomic_load_explicit(&w->runq_head, memory_order_acquire);
        uint32_t n = LRT_RUNQ_SIZE / 2;
        lrt_task *batch[LRT_RUNQ_SIZE / 2];
        for (uint32_t i = 0; i < n; i++)
            batch[i] = atomic_load_explicit(&w->runq[(head + i) % LRT_RUNQ_SIZE],
                                            memory_order_relaxed);
        if (!atomic_compare_exchange_strong_explicit(&w->runq_head, &head, head + n,
                memory_order_acq_rel, memory_order_relaxed))
            continue;            /* a thief took some; there is room now */
        lrt_lock_acquire(&sched.lock);
        for (uint32_t i = 0; i < n; i++)
            global_push_locked(batch[i]);
        global_push_locked(t);
        lrt_lock_release(&sched.lock);
        return;
    }
}

/* Puts t in w's runnext slot; the task it displaces goes to the ring.
 * With one worker nobody steals, and plain accesses do. */
static void runnext_put(lrt_worker *w, lrt_task *t)
{
    lrt_task *old;
    if (sched.nworkers == 1) {
        old = atomic_load_explicit(&w->runnext, memory_order_relaxed);
        atomic_store_explicit(&w->runnext, t, memory_order_relaxed);
    } else {
        old = atomic_exchange(&w->runnext, t);     /* seq_cst: see wakep() */
    }
    if (old) {
        runq_push(w, old);
        atomic_thread_fence(memory_order_seq_cst);
    }
}

static lrt_task *runnext_take(lrt_worker *w)
{
    lrt_task *t = atomic_load_explicit(&w->runnext, memory_order_relaxed);
    if (!t)
        return NULL;
    if (sched.nworkers == 1) {
        atomic_store_explicit(&w->runnext, NULL, memory_order_relaxed);
        return t;
    }
    return atomic_exchange_explicit(&w->runnext, NULL, memory_order_acq_rel);
}

static lrt_task *runq_pop(lrt_worker *w)
{
    for (;;) {
        uint32_t head = atomic_load_explicit(&w->runq_head, memory_order_acquire);
        uint32_t tail = atomic_load_explicit(&w->runq_tail, memory_order_relaxed);
        if (head == tail)
            return NULL;
        lrt_task *t = atomic_load_explicit(&w->runq[head % LRT_RUNQ_SIZE],
                                           memory_order_relaxed);
        if (atomic_compare_exchange_weak_explicit(&w->runq_head, &head, head + 1,
                memory_order_acq_rel, memory_order_relaxed))
            return t;
    }
}

static bool runq_empty(lrt_worker *w)
{
    return atomic_load_explicit(&w->runq_head, memory_order_acquire) ==
           atomic_load_explicit(&w->runq_tail, memory_order_acquire) &&
           atomic_load_explicit(&w->runnext, memory_order_acquire) == NULL;
}

/* Moves half of victim's ring into w's (empty) ring; returns one task. */
static lrt_task *runq_steal(lrt_worker *w, lrt_worker *victim, bool take_runnext)
{
    for (;;) {
        uint32_t head = atomic_load_explicit(&victim->runq_head, memory_order_acquire);
        uint32_t tail = atomic_load_explicit(&victim->runq_tail, memory_order_acquire);
        uint32_t n = tail - head;
        n -= n / 2;
        if (n == 0) {
            if (!take_runnext ||
                atomic_load_explicit(&victim->runnext, memory_order_relaxed) == NULL)
                return NULL;
            /* Give the victim a moment to run its runnext itself: stealing
             * it at once would split every ping-pong across workers. */
            for (int i = 0; i < 200; i++)
                lrt_cpu_relax();
            return atomic_exchange_explicit(&victim->runnext, NULL, memory_order_acq_rel);
        }
        if (n > LRT_RUNQ_SIZE / 2)
            continue;            /* inconsistent read: retry */
        lrt_task *batch[LRT_RUNQ_SIZE / 2];
        for (uint32_t i = 0; i < n; i++)
            batch[i] = atomic_load_explicit(&victim->runq[(head + i) % LRT_RUNQ_SIZE],
                                            memory_order_relaxed);
        if (!atomic_compare_exchange_weak_explicit(&victim->runq_head, &head, head + n,
                memory_order_acq_rel, memory_order_relaxed))
            continue;
        for (uint32_t i = 1; i < n; i++)
            runq_push(w, batch[i]);
        return batch[0];
    }
}

/* The next task for w from what is already at hand, without stealing. */
/* Nothing preempts a task, so a worker whose task never yields (a
 * spinner) never runs what waits in its queues — the task that spawned
 * the spinner waits in its runnext — and idle workers are the only ones
 * that steal. So a busy worker, at each fairness tick, takes the waiting
 * tasks of any worker that has not switched since its last look. */
static lrt_task *rescue_stuck(lrt_worker *w)
{
    for (int i = 0; i < sched.nworkers; i++) {
        lrt_worker *v = &sched.workers[i];
        if (v == w)
            continue;
        uint64_t now = atomic_load_explicit(&v->switches, memory_order_relaxed);
        bool stuck = now == w->peer_switches[i];
        w->peer_switches[i] = now;
        if (stuck) {                  /* an idle one has nothing to take */
            lrt_task *t = runq_steal(w, v, true);
            if (t)
                return t;
        }
    }
    return NULL;
}

static lrt_task *local_next(lrt_worker *w)
{
    lrt_task *t;
    if (++tls_schedtick % GLOBAL_FAIRNESS == 0) {
        if (atomic_load_explicit(&sched.global_len, memory_order_relaxed) > 0) {
            lrt_lock_acquire(&sched.lock);
            t = global_pop_locked();
            lrt_lock_release(&sched.lock);
            if (t)
                return t;
        }
        if (sched.nworkers > 1 && (t = rescue_stuck(w)))
            return t;
    }
    /* A pair of tasks waking each other would keep runnext busy forever
     * and starve the ring: now and then the ring goes first. */
    if (++w->runnext_streak >= RUNNEXT_STREAK_MAX) {
        w->runnext_streak = 0;
        if ((t = runq_pop(w)))
            return t;
    }
    if ((t = runnext_take(w)))
        return t;
    w->runnext_streak = 0;
    if ((t = runq_pop(w)))
        return t;
    if (atomic_load_explicit(&sched.global_len, memory_order_relaxed) > 0) {
        lrt_lock_acquire(&sched.lock);
        t = global_pop_locked();
        /* Take a fair share of the rest into the ring. */
        size_t share = atomic_load_explicit(&sched.global_len, memory_order_relaxed)
                       / (size_t)sched.nworkers;
        for (size_t i = 0; i < share && i < LRT_RUNQ_SIZE / 2; i++) {
            lrt_task *u = global_pop_locked();
            if (!u || !runq_push_ring(w, u)) {
                if (u) global_push_locked(u);
                break;
            }
        }
        lrt_lock_release(&sched.lock);
    }
    return t;
}

/* ---------------------------------------------------------------------- */
/* Idle workers                                                           */
/* ---------------------------------------------------------------------- */

/* Wakes an idle worker to look for work, unless one is looking already.
 * The caller published the work with a sequentially consistent operation
 * (or fence) first; a worker going idle increments nidle, then looks at
 * every queue, so one of the two sees the other. */
static void wakep(void)
{
    if (atomic_load(&sched.nidle) == 0)
        return;
    int zero = 0;
    if (!atomic_compare_exchange_strong(&sched.nspinning, &zero, 1))
        return;
    lrt_lock_acquire(&sched.lock);
    lrt_worker *w = sched.idle;
    if (w) {
        sched.idle = w->idle_next;
        w->idle_next = NULL;
        atomic_fetch_sub(&sched.nidle, 1);
    }
    lrt_lock_release(&sched.lock);
    if (!w) {
        atomic_fetch_sub(&sched.nspinning, 1);
        return;
    }
    w->spinning = true;              /* it inherits our nspinning count */
    atomic_store_explicit(&w->sleep_word, 1, memory_order_release);
    futex_wake(&w->sleep_word, 1);
}

static bool any_work(void)
{
    if (atomic_load(&sched.global_len) > 0)
        return true;
    for (int i = 0; i < sched.nworkers; i++) {
        lrt_worker *w = &sched.workers[i];
        if (atomic_load(&w->runq_head) != atomic_load(&w->runq_tail) ||
            atomic_load(&w->runnext) != NULL)
            return true;
    }
    return false;
}

static lrt_task *steal_work(lrt_worker *w)
{
    int n = sched.nworkers;
    for (int round = 0; round < 4; round++) {
        int start = (int)lrt_random((uint32_t)n);
        for (int i = 0; i < n; i++) {
            lrt_worker *victim = &sched.workers[(start + i) % n];
            if (victim == w)
                continue;
            lrt_task *t = runq_steal(w, victim, round == 3);
            if (t)
                return t;
        }
    }
    return NULL;
}

/* A spinning worker found t. If it was the last one looking, others may
 * have work too: wake one more. */
static lrt_task *stop_spinning(lrt_worker *w, lrt_task *t)
{
    if (w->spinning) {
        w->spinning = false;
        if (atomic_fetch_sub(&sched.nspinning, 1) == 1)
            wakep();
    }
    return t;
}

/* Blocks until there is a task for w; NULL when the runtime shuts down. */
static lrt_task *find_runnable(lrt_worker *w)
{
    for (;;) {
        if (atomic_load(&sched.shutdown))
            return NULL;
        lrt_task *t = local_next(w);
        if (!t && sched.nworkers > 1) {
            int spinning = atomic_load(&sched.nspinning);
            int busy = sched.nworkers - atomic_load(&sched.nidle);
            if (w->spinning || 2 * spinning < busy) {
                if (!w->spinning) {
                    w->spinning = true;
                    atomic_fetch_add(&sched.nspinning, 1);
                }
                t = steal_work(w);
            }
        }
        if (t)
            return stop_spinning(w, t);

        /* Nothing: go idle. */
        lrt_lock_acquire(&sched.lock);
        if (atomic_load(&sched.shutdown)) {
            lrt_lock_release(&sched.lock);
            return NULL;
        }
        if ((t = global_pop_locked())) {
            lrt_lock_release(&sched.lock);
            return stop_spinning(w, t);
        }
        /* Stop spinning before showing up on the idle list: from then on a
         * waker may set `spinning` for us (ThreadSanitizer found the race
         * when this came after). */
        bool was_spinning = w->spinning;
        if (was_spinning) {
            w->spinning = false;
            atomic_fetch_sub(&sched.nspinning, 1);
        }
        atomic_store(&w->sleep_word, 0);
        w->idle_next = sched.idle;
        sched.idle = w;
        atomic_fetch_add(&sched.nidle, 1);
        lrt_lock_release(&sched.lock);
        /* Work made available while we were deciding may have seen
         * nspinning > 0 and not woken anyone: look once more. */
        atomic_thread_fence(memory_order_seq_cst);
        if (any_work()) {
            lrt_lock_acquire(&sched.lock);
            bool still_idle = false;
            for (lrt_worker **p = &sched.idle; *p; p = &(*p)->idle_next) {
                if (*p == w) {
                    *p = w->idle_next;
                    w->idle_next = NULL;
                    atomic_fetch_sub(&sched.nidle, 1);
                    still_idle = true;
                    break;
                }
            }
            lrt_lock_release(&sched.lock);
            if (still_idle) {
                w->spinning = true;
                atomic_fetch_add(&sched.nspinning, 1);
                continue;
            }
            /* Someone woke us meanwhile and made us spinning. */
        }
        while (atomic_load_explicit(&w->sleep_word, memory_order_acquire) == 0)
            futex_wait(&w->sleep_word, 0);
        atomic_store(&w->sleep_word, 0);
    }
}

/* ---------------------------------------------------------------------- */
/* Switching                                                              */
/* ---------------------------------------------------------------------- */

static void free_task_slot(lrt_worker *w, lrt_task *t)
{
    lrt_labels_release(t);
    atomic_store(&t->state, LRT_TASK_FREE);
    if (w && w->free_count < FREE_TASKS_MAX) {
        t->link = w->free_tasks;
        w->free_tasks = t;
        w->free_count++;
    } else {
        lrt_task_table_free(t);
    }
}

/* Finishes, for the context that just left, what it could not do on its
 * own stack. Runs first thing wherever a switch lands. */
static void after_switch(lrt_worker *w)
{
    /* One writer: a plain increment, no locked instruction. */
    atomic_store_explicit(&w->switches, atomic_load_explicit(&w->switches, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    int what = w->after;
    lrt_task *prev = w->after_task;
    w->after = LRT_AFTER_NOTHING;
    w->after_task = NULL;
    switch (what) {
    case LRT_AFTER_PARK:
        atomic_store_explicit(&prev->state, LRT_TASK_WAITING, memory_order_release);
        if (w->after_unlock)
            w->after_unlock(w->after_arg);
        break;
    case LRT_AFTER_YIELD:
        atomic_store_explicit(&prev->state, LRT_TASK_RUNNABLE, memory_order_release);
        global_push(prev);
        break;
    case LRT_AFTER_SPAWN:
        atomic_store_explicit(&prev->state, LRT_TASK_RUNNABLE, memory_order_release);
        runnext_put(w, prev);
        wakep();
        break;
    case LRT_AFTER_EXIT:
        free_task_slot(w, prev);
        break;
    default:
        break;
    }
}

static void switch_context(lrt_regs *from, void **from_fake_stack,
                           const lrt_regs *to, void *to_bottom, size_t to_size, void *to_fiber)
{
#ifdef LRT_ASAN
    __sanitizer_start_switch_fiber(from_fake_stack, to_bottom, to_size);
#else
    (void)from_fake_stack; (void)to_bottom; (void)to_size;
#endif
#ifdef LRT_TSAN
    /* Flag 0: the switch synchronises, as a hand-over of the worker does. */
    __tsan_switch_to_fiber(to_fiber, 0);
#else
    (void)to_fiber;
#endif
    lrt_arch_switch(from, to);
#ifdef LRT_ASAN
    __sanitizer_finish_switch_fiber(from_fake_stack ? *from_fake_stack : NULL, NULL, NULL);
#endif
}

static void switch_to_task(lrt_worker *w, lrt_regs *from, void **fake, lrt_task *next)
{
    w->current = next;
    next->worker = (uint32_t)w->index;
    atomic_store_explicit(&next->state, LRT_TASK_RUNNING, memory_order_relaxed);
    switch_context(from, fake, &next->regs, (void *)next->stack_lo,
                   next->stack_hi - next->stack_lo, next->tsan_fiber);
}

/* Leaves task cur (w->after says why) for the next task or the scheduler
 * loop. Returns when cur is resumed, possibly on another worker. */
static void switch_away(lrt_worker *w, lrt_task *cur, bool exiting)
{
    void **fake = exiting ? NULL : &cur->asan_fake_stack;
    lrt_task *next = atomic_load_explicit(&sched.shutdown, memory_order_relaxed)
                     ? NULL : local_next(w);
    if (next) {
        switch_to_task(w, &cur->regs, fake, next);
    } else {
        w->current = NULL;
        switch_context(&cur->regs, fake, &w->sched_regs, w->sched_stack_bottom,
                       w->sched_stack_size, w->tsan_fiber);
    }
    after_switch(lrt_worker_current());
}

static void task_main(void *arg)
{
    lrt_task *t = arg;
#ifdef LRT_ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
    after_switch(lrt_worker_current());
    t->fn(t->arg);

    lrt_worker *w = lrt_worker_current();
    atomic_store(&t->state, LRT_TASK_DEAD);
    t->wait_reason = LRT_WAIT_NONE;
    atomic_fetch_sub(&sched.ntasks, 1);
    if (t->is_main) {
        atomic_store(&sched.main_done, 1);
        futex_wake(&sched.main_done, 1);
    }
    lrt_stack_check(t);
    w->after = LRT_AFTER_EXIT;
    w->after_task = t;
    switch_away(w, t, true);
    lrt_assert(!"a dead task was resumed");
}

void lrt_park(uint32_t reason, void (*unlock)(void *), void *arg)
{
    lrt_worker *w = lrt_worker_current();
    lrt_task *t = w->current;
    lrt_assert(t != NULL);
    t->wait_reason = reason;
    t->wait_since = lrt_now_coarse();
    w->after = LRT_AFTER_PARK;
    w->after_task = t;
    w->after_unlock = unlock;
    w->after_arg = arg;
    lrt_stack_check(t);
    switch_away(w, t, false);
    t->wait_reason = LRT_WAIT_NONE;
    t->wait_count = 0;
}

void lrt_park_forever(uint32_t reason)
{
    lrt_task *t = lrt_task_require("lrt_park_forever");
    lrt_wait_begin(t);
    lrt_park(reason, NULL, NULL);
    lrt_assert(!"a task parked forever was woken");
    abort();
}

void lrt_ready(lrt_task *t)
{
    /* The task may still be switching away (its registers not yet saved):
     * wait for after_switch() to mark it WAITING. */
    uint32_t s;
    while ((s = atomic_load_explicit(&t->state, memory_order_acquire)) != LRT_TASK_WAITING) {
        lrt_assert(s == LRT_TASK_RUNNING);
        lrt_cpu_relax();
    }
    atomic_store_explicit(&t->state, LRT_TASK_RUNNABLE, memory_order_relaxed);
    lrt_worker *w = lrt_worker_current();
    if (w && w->current)
        runnext_put(w, t);
    else
        global_push(t);
    wakep();
}

/* ---------------------------------------------------------------------- */
/* The task API                                                           */
/* ---------------------------------------------------------------------- */

static lrt_task *alloc_task(lrt_worker *w)
{
    lrt_task *t;
    if (w && w->free_tasks) {
        t = w->free_tasks;
        w->free_tasks = t->link;
        w->free_count--;
        t->link = NULL;
    } else {
        t = lrt_task_table_alloc();
    }
    if (!t->stack_lo && lrt_stack_attach(t) != 0) {
        lrt_task_table_free(t);
        lrt_panic("lrt_go", "cannot map a task stack: %s", strerror(ENOMEM));
    }
    return t;
}

/*
 * Creates a task. Spawned from a task, the child runs first and the parent
 * waits in runnext (child-first, as in Cilk): a task that is spawned and
 * soon exits returns its slot and stack before the next spawn needs one, so
 * a loop of spawns reuses one warm stack instead of touching a fresh one
 * per task. Go guarantees no order between the two; neither do we.
 */
/* noinline: its locals point into the new task's stack, and lrt_main's own
 * frame — a root for the whole run — must not keep them. */
__attribute__((noinline))
static uint64_t spawn(void (*fn)(void *), void *arg, uintptr_t pc, bool is_main)
{
    lrt_worker *w = lrt_worker_current();
    lrt_task *t = alloc_task(w);
    lrt_task *parent = w ? w->current : NULL;

    t->id = atomic_fetch_add(&sched.next_id, 1);
    t->parent_id = parent ? parent->id : 0;
    t->create_pc = pc;
    t->fn = fn;
    t->arg = arg;
    t->is_main = is_main;
    t->wait_reason = LRT_WAIT_NONE;
    t->wait_count = 0;
    t->wait_addrs = t->wait_addr_inline;
    t->waiter.task = t;
    t->timer.kind = LRT_TIMER_TASK;
    t->timer.target = t;
    t->asan_fake_stack = NULL;
#ifdef LRT_TSAN
    if (!t->tsan_fiber)                   /* kept with the slot, like its stack */
        t->tsan_fiber = __tsan_create_fiber(0);
#endif
    t->epoch = sched.epoch;
    /* Its creators' creators, the parent first; labels shared. */
    t->ancestry_count = 0;
    if (parent) {
        t->ancestry[0] = (lrt_ancestor){ parent->id, parent->parent_id, parent->create_pc };
        uint32_t keep = parent->ancestry_count < LRT_ANCESTRY_MAX - 1 ? parent->ancestry_count
                                                                      : LRT_ANCESTRY_MAX - 1;
        memcpy(&t->ancestry[1], parent->ancestry, keep * sizeof t->ancestry[0]);
        t->ancestry_count = keep + 1;
    }
    lrt_labels_inherit(t, parent);
#ifdef LRT_ASAN
    /* A reused stack still carries the poison of its last task's frames. */
    __asan_unpoison_memory_region((void *)t->stack_lo, t->stack_hi - t->stack_lo);
#endif
    /* fn and arg at the top of the stack: until the task runs they are on
     * no stack, and the analysis scans a runnable task's stack, not its
     * control block. */
    uintptr_t *top = (uintptr_t *)t->stack_hi;
    top[-1] = (uintptr_t)fn;
    top[-2] = (uintptr_t)arg;
    lrt_arch_init_regs(&t->regs, t->stack_hi - 2 * sizeof(uintptr_t), task_main, t);

    uint64_t id = t->id;
    atomic_fetch_add(&sched.ntasks, 1);
    atomic_store(&t->state, LRT_TASK_RUNNABLE);
    if (parent) {
        w->after = LRT_AFTER_SPAWN;
        w->after_task = parent;
        lrt_stack_check(parent);
        switch_to_task(w, &parent->regs, &parent->asan_fake_stack, t);
        after_switch(lrt_worker_current());
    } else {
        global_push(t);
        wakep();
    }
    return id;
}

uint64_t lrt_go(void (*fn)(void *), void *arg)
{
    if (!fn)
        lrt_panic("lrt_go", "fn is NULL");
    if (!sched.running)
        lrt_panic("lrt_go", "the runtime is not running (spawn tasks from the task lrt_main runs)");
    return spawn(fn, arg, (uintptr_t)__builtin_return_address(0), false);
}

uint64_t lrt_self(void) { return lrt_task_id_or_zero(); }

size_t lrt_num_tasks(void) { return atomic_load(&sched.ntasks); }

void lrt_yield(void)
{
    lrt_task *t = lrt_task_require("lrt_yield");
    lrt_worker *w = lrt_worker_current();
    if (runq_empty(w) && atomic_load(&sched.global_len) == 0)
        return;                  /* nobody else to run here */
    w->after = LRT_AFTER_YIELD;
    w->after_task = t;
    lrt_stack_check(t);
    switch_away(w, t, false);
}

/* ---------------------------------------------------------------------- */
/* Stack overflow                                                         */
/* ---------------------------------------------------------------------- */

static struct sigaction previous_segv;

static void on_segv(int sig, siginfo_t *info, void *context)
{
    lrt_worker *w = tls_worker;
    lrt_task *t = w ? w->current : NULL;
    if (t && lrt_stack_overflowed(t, (uintptr_t)info->si_addr)) {
        lrt_printerr("task %llu: stack overflow: used more than its %zu KiB stack "
                     "(fault at %p; set LRT_STACK_SIZE to raise it)",
                     (unsigned long long)t->id, lrt_stack_size() / 1024, info->si_addr);
        signal(SIGABRT, SIG_DFL);
        abort();
    }
    /* Not ours: hand it to whoever was there before, or die as usual. */
    if (previous_segv.sa_flags & SA_SIGINFO && previous_segv.sa_sigaction) {
        previous_segv.sa_sigaction(sig, info, context);
    } else if (previous_segv.sa_handler != SIG_DFL && previous_segv.sa_handler != SIG_IGN) {
        previous_segv.sa_handler(sig);
    } else {
        signal(sig, SIG_DFL);    /* returning re-runs the fault: default action */
    }
}

static void install_segv_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &previous_segv);
}

/* ---------------------------------------------------------------------- */
/* Workers and lrt_main                                                   */
/* ---------------------------------------------------------------------- */

static void *worker_main(void *arg)
{
    lrt_worker *w = arg;
    tls_worker = w;
    w->tid = (pid_t)syscall(SYS_gettid);
#ifdef LRT_TSAN
    w->tsan_fiber = __tsan_get_current_fiber();
#endif
    stack_t ss = { .ss_sp = w->altstack, .ss_size = ALTSTACK_SIZE, .ss_flags = 0 };
    sigaltstack(&ss, NULL);

    for (;;) {
        lrt_task *t = find_runnable(w);
        if (!t)
            break;
        switch_to_task(w, &w->sched_regs, NULL, t);
        after_switch(w);
    }
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, NULL);
    tls_worker = NULL;
    return NULL;
}

static int count_procs(void)
{
    const char *env = getenv("LRT_PROCS");
    if (env && *env) {
        char *end;
        long n = strtol(env, &end, 10);
        if (*end == '\0' && n >= 1 && n <= 1024)
            return (int)n;
        lrt_printerr("LRT_PROCS=%s is not a number from 1 to 1024; using the CPU count", env);
    }
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static int init_once(void)
{
    if (sched.initialised)
        return 0;
    int err;
    if ((err = lrt_arena_init()) || (err = lrt_stack_init()) || (err = lrt_heap_init()))
        return err;
    install_segv_handler();
    lrt_malloc_record();
    lrt_snapshot_init();
    atomic_store(&sched.next_id, 1);
    sched.initialised = true;
    return 0;
}

static int start_worker(lrt_worker *w)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    /* The scheduler loop's stack is runtime-internal memory: it may hold a
     * channel's address while it parks a task, which must not count as a
     * reference (DESIGN.md §1). */
    pthread_attr_setstack(&attr, w->thread_stack, w->thread_stack_size);
    int err = pthread_create(&w->thread, &attr, worker_main, w);
    pthread_attr_destroy(&attr);
    return -err;
}

/* Tasks still alive when lrt_main returns are dropped, as Go drops its
 * goroutines. Parked ones keep their slots for good: a channel or mutex may
 * still list their waiters, and the epoch tells a later run to skip them. */
static void discard_tasks(void)
{
    lrt_task *base = lrt_task_table_base();
    size_t n = lrt_task_table_count();
    for (size_t i = 0; i < n; i++) {
        lrt_task *t = &base[i];
        uint32_t s = atomic_load(&t->state);
        if (s == LRT_TASK_FREE)
            continue;
        lrt_labels_release(t);
        atomic_store(&t->state, LRT_TASK_FREE);
        t->wait_reason = LRT_WAIT_NONE;
        t->wait_count = 0;
        if (s != LRT_TASK_WAITING)
            lrt_task_table_free(t);
    }
    sched.global_head = sched.global_tail = NULL;
    atomic_store(&sched.global_len, 0);
    atomic_store(&sched.ntasks, 0);
}

/* Zeroes the dead stack below the caller. lrt_main's thread is a root for
 * the whole run; the frames of spawning the main task, just returned, hold
 * pointers into its stack that would keep it "reachable" — and with it
 * whatever it waits on — in every snapshot. */
__attribute__((noinline)) static void scrub_stack(void)
{
    volatile char dead[8192];
    memset((char *)dead, 0, sizeof dead);
    __asm__ volatile("" : : "r"(dead) : "memory");
}

int lrt_main(void (*fn)(void *), void *arg)
{
    if (!fn)
        lrt_panic("lrt_main", "fn is NULL");
    if (sched.running || tls_worker)
        lrt_panic("lrt_main", "the runtime is already running");
    if (sched.abandoned) {
        lrt_printerr("lrt_main: a task of the previous run is still running; cannot start again");
        return -EBUSY;
    }
    int err = init_once();
    if (err) {
        lrt_printerr("lrt_main: cannot reserve the runtime's memory: %s", strerror(-err));
        return err;
    }

    int n = count_procs();
    sched.nworkers = n;
    sched.workers = lrt_internal_alloc((size_t)n * sizeof(lrt_worker));
    for (int i = 0; i < n; i++) {
        lrt_worker *w = &sched.workers[i];
        w->index = i;
        w->rng = 0x2545F4914F6CDD1Dull * (uint64_t)(i + 1) ^ (uint64_t)lrt_now();
        w->heap_cache = lrt_heap_cache_create();
        w->altstack = lrt_internal_alloc(ALTSTACK_SIZE);
        w->thread_stack_size = WORKER_STACK_SIZE;
        w->thread_stack = lrt_internal_alloc(WORKER_STACK_SIZE);
        w->sched_stack_bottom = w->thread_stack;
        w->sched_stack_size = WORKER_STACK_SIZE;
        w->peer_switches = lrt_internal_alloc((size_t)n * sizeof *w->peer_switches);
    }
    sched.epoch = ++lrt_run_epoch;
    lrt_debug_root.workers = (uintptr_t)sched.workers;
    lrt_debug_root.worker_count = (uint32_t)n;
    atomic_store(&sched.shutdown, false);
    atomic_store(&sched.main_done, 0);
    atomic_store(&sched.nidle, 0);
    atomic_store(&sched.nspinning, 0);
    sched.idle = NULL;
    sched.running = true;

    if ((err = lrt_timers_start()) != 0) {
        lrt_printerr("lrt_main: cannot start the poller: %s", strerror(-err));
        sched.running = false;
        return err;
    }
    spawn(fn, arg, (uintptr_t)__builtin_return_address(0), true);
    int started = 0;
    for (; started < n; started++)
        if ((err = start_worker(&sched.workers[started])) != 0) {
            lrt_printerr("lrt_main: cannot start worker thread %d: %s", started, strerror(-err));
            break;
        }

    scrub_stack();
    if (started > 0) {
        while (atomic_load(&sched.main_done) == 0)
            futex_wait(&sched.main_done, 0);
        lrt_snapshot_at_exit();
    }

    /* Shut down: wake every idle worker; each leaves at its next pick. */
    lrt_lock_acquire(&sched.lock);
    atomic_store(&sched.shutdown, true);
    lrt_worker *idle = sched.idle;
    sched.idle = NULL;
    lrt_lock_release(&sched.lock);
    for (; idle; idle = idle->idle_next) {
        atomic_store(&idle->sleep_word, 1);
        futex_wake(&idle->sleep_word, 1);
    }
    /* A worker whose task never blocks or yields cannot be stopped: give
     * it a second, then return without it, as Go returns from main. */
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 1;
    bool abandoned = false;
    for (int i = 0; i < started; i++) {
        if (pthread_timedjoin_np(sched.workers[i].thread, NULL, &deadline) != 0) {
            pthread_detach(sched.workers[i].thread);
            abandoned = true;
        }
    }
    lrt_timers_stop();
    if (abandoned) {
        lrt_printerr("lrt_main: a task is still running (it never blocks or yields); "
                     "returning without waiting for it");
        sched.running = false;
        sched.abandoned = true;         /* its worker still uses the runtime */
        return err;
    }

    discard_tasks();
    for (int i = 0; i < n; i++) {
        lrt_worker *w = &sched.workers[i];
        lrt_heap_cache_flush(w->heap_cache);
        /* Free slots cached by this worker go back to the table. */
        while (w->free_tasks) {
            lrt_task *t = w->free_tasks;
            w->free_tasks = t->link;
            lrt_task_table_free(t);
        }
        lrt_internal_free(w->peer_switches, (size_t)n * sizeof *w->peer_switches);
        lrt_internal_free(w->altstack, ALTSTACK_SIZE);
        lrt_internal_free(w->thread_stack, WORKER_STACK_SIZE);
    }
    lrt_debug_root.worker_count = 0;
    lrt_debug_root.workers = 0;
    lrt_internal_free(sched.workers, (size_t)n * sizeof(lrt_worker));
    sched.workers = NULL;
    sched.running = false;
    return err;
}

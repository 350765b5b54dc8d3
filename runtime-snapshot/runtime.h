/*
 * runtime.h — libleakrt's private header: the types every part of the
 * runtime shares (task, worker, waiter, wait queue), the internal lock and
 * the calls between files. Never installed; includes the public leakrt.h.
 *
 * The memory rule (DESIGN.md §1) shapes everything here: the runtime's own
 * bookkeeping — tasks, waiters, timers, run queues, span and poll tables —
 * lives only in runtime-internal memory (see arena.c), never in malloc
 * memory, the tracked heap, or globals that point at user objects. A
 * snapshot's analysis never treats that memory as a root and never traces
 * it, so a wait-queue link cannot make a blocked task look reachable.
 */
#ifndef LRT_RUNTIME_H
#define LRT_RUNTIME_H

#include "leakrt.h"
#include "arch.h"

/* LRT_ASAN: built with AddressSanitizer (gcc or clang). */
#if defined(__SANITIZE_ADDRESS__)
#define LRT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LRT_ASAN 1
#endif
#endif
/* LRT_TSAN: built with ThreadSanitizer; every stack is a TSan fiber. */
#if defined(__SANITIZE_THREAD__)
#define LRT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LRT_TSAN 1
#endif
#endif
#include "leakscan_format.h"

#include <stdatomic.h>
#include <pthread.h>
#include <stdnoreturn.h>
#include <sys/types.h>

/* Functions that switch stacks by hand, where ASan's bookkeeping of the
 * current stack would be wrong. */
#ifdef LRT_ASAN
#define LRT_NO_ASAN __attribute__((no_sanitize_address))
#else
#define LRT_NO_ASAN
#endif

/* ---------------------------------------------------------------------- */
/* Assertions and misuse                                                  */
/* ---------------------------------------------------------------------- */

/* Always-on invariant check: prints file:line and aborts. */
#define lrt_assert(cond) \
    ((cond) ? (void)0 : lrt_assert_fail(#cond, __FILE__, __LINE__))
#define lrt_static_assert(cond, msg) _Static_assert(cond, msg)

noreturn void lrt_assert_fail(const char *expr, const char *file, int line);

/* Misuse of the API (Go's panic): prints
 *   leakrt: CALL: MESSAGE (task N)
 * and aborts. Async-signal-safe formatting, no malloc. */
noreturn void lrt_panic(const char *call, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Writes a formatted line to stderr without malloc or stdio locks. */
void lrt_printerr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---------------------------------------------------------------------- */
/* Internal lock: a test-and-set spinlock that yields the CPU when it     */
/* spins too long. Critical sections in the runtime are a few dozen       */
/* instructions, and the release is a plain store: no locked instruction  */
/* on the unlock path, which a channel operation takes twice.             */
/* ---------------------------------------------------------------------- */

typedef struct lrt_lock { _Atomic uint32_t word; } lrt_lock;

void lrt_lock_slow(lrt_lock *l);

/* A spin-wait hint to the CPU (PAUSE: about 17 ns on the machines measured). */
static inline void lrt_cpu_relax(void)
{
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
}

static inline void lrt_lock_acquire(lrt_lock *l)
{
    if (atomic_exchange_explicit(&l->word, 1, memory_order_acquire) != 0)
        lrt_lock_slow(l);
}

static inline void lrt_lock_release(lrt_lock *l)
{
    atomic_store_explicit(&l->word, 0, memory_order_release);
}

/* The spin guards embedded in the public sync structs (a plain uint32_t
 * there, so that the public header needs no atomics). */
void lrt_guard_acquire(uint32_t *guard);
void lrt_guard_release(uint32_t *guard);

/* ---------------------------------------------------------------------- */
/* Wait reasons: the strings the report prints (DESIGN.md §1). The        */
/* numbering is part of the snapshot contract: append, never renumber.    */
/* ---------------------------------------------------------------------- */

enum lrt_wait_reason {
    LRT_WAIT_NONE = 0,          /* not waiting */
    LRT_WAIT_CHAN_RECV,         /* candidates: may be leaked */
    LRT_WAIT_CHAN_SEND,
    LRT_WAIT_SELECT,
    LRT_WAIT_CHAN_RECV_NIL,
    LRT_WAIT_CHAN_SEND_NIL,
    LRT_WAIT_SELECT_NO_CASES,
    LRT_WAIT_MUTEX,
    LRT_WAIT_RWMUTEX_RLOCK,
    LRT_WAIT_RWMUTEX_LOCK,
    LRT_WAIT_COND,
    LRT_WAIT_WAITGROUP,
    LRT_WAIT_SLEEP,             /* never leaked: they wake by themselves */
    LRT_WAIT_IO,
    LRT_WAIT_SELECT_TIMEOUT,
    LRT_WAIT_SYSCALL,
    LRT_WAIT_RUNNABLE,
    LRT_WAIT_RUNNING,
    LRT_WAIT_COUNT
};

extern const char *const lrt_wait_reason_names[LRT_WAIT_COUNT];

/* ---------------------------------------------------------------------- */
/* Tasks                                                                  */
/* ---------------------------------------------------------------------- */

/* The values are the snapshot format's (leakscan_format.h). */
enum lrt_task_state {
    LRT_TASK_FREE     = LS_TASK_FREE,     /* slot unused (may keep a pooled stack) */
    LRT_TASK_RUNNABLE = LS_TASK_RUNNABLE, /* in a run queue */
    LRT_TASK_RUNNING  = LS_TASK_RUNNING,  /* on a worker (also: switching away) */
    LRT_TASK_WAITING  = LS_TASK_WAITING,  /* parked; registers saved; woken by lrt_ready */
    LRT_TASK_DEAD     = LS_TASK_DEAD,     /* returned; slot about to be freed */
};

typedef struct lrt_task lrt_task;
typedef struct lrt_waiter lrt_waiter;

/* A FIFO of waiters; the public lrt_waitq_ has the same layout. */
typedef struct lrt_waitq { lrt_waiter *head, *tail; } lrt_waitq;
lrt_static_assert(sizeof(lrt_waitq) == sizeof(lrt_waitq_), "waitq layout");

/*
 * One task waiting on one object (Go's sudog). Single waits use the one
 * embedded in the task; a select uses one per case. Lives in internal
 * memory. `elem` may point into the waiting task's stack: the waker copies
 * straight into (or out of) it.
 */
struct lrt_waiter {
    lrt_task   *task;
    lrt_waiter *next, *prev;   /* links in the queue it is on */
    void       *elem;          /* element to send / receive buffer */
    int         case_index;    /* select case, or 0 */
    bool        contested;     /* select or timed wait: wake by claim */
    bool        ok;            /* receive: a value (true) or closed (false);
                                  mutex: handed the mutex by its unlocker */
    bool        closed;        /* send: woken by close (the sender aborts) */
    int         result;        /* lrt_fd_wait: ready events */
    uint32_t    events;        /* lrt_fd_wait: events waited for */
};

/* The task's own timer: sleeps, select and fd-wait timeouts. */
typedef struct lrt_timer lrt_timer;
enum lrt_timer_kind { LRT_TIMER_TASK = LS_TIMER_TASK, LRT_TIMER_CTX = LS_TIMER_CTX };
enum lrt_timer_state { LRT_TIMER_IDLE = 0, LRT_TIMER_PENDING = LS_TIMER_PENDING, LRT_TIMER_FIRING };
struct lrt_timer {
    int64_t          when;       /* monotonic ns */
    int32_t          heap_index; /* position in the timer heap while pending */
    uint8_t          kind;       /* enum lrt_timer_kind */
    _Atomic uint8_t  state;      /* enum lrt_timer_state */
    void            *target;     /* lrt_task*, or the lrt_ctx* to cancel */
    uint64_t         claim;      /* TASK: the wait generation it may claim */
};

#define LRT_INLINE_WAITS 4

/*
 * A task control block. Lives in the task table (internal memory), whose
 * slots are reused with their stacks. The analyzer reads id, parent_id,
 * create_pc, state, wait_reason, wait_addrs/wait_count, wait_since, regs and
 * the stack bounds through the debug root.
 *
 *   stack slot:   guard_lo      stack_lo                      stack_hi
 *                 | guard page  | ...... free ...... | used    |
 *                               ^ lowest legal SP     ^ regs.sp  ^ top
 */
#define LRT_ANCESTRY_MAX 8

typedef struct lrt_ancestor {
    uint64_t  id;
    uint64_t  parent_id;
    uintptr_t create_pc;
} lrt_ancestor;

/* A task's labels (labels.c): never changed once made, shared by the tasks
 * that inherit them, freed with the last. The debug root describes count
 * and pairs; the strings follow the pairs in the same block. */
typedef struct lrt_labels {
    _Atomic uint32_t refs;
    uint32_t         count;
    size_t           size;      /* of the block, for lrt_internal_free */
    const char      *pairs[];   /* key, value, key, value, ... */
} lrt_labels;

void lrt_labels_inherit(lrt_task *child, const lrt_task *parent);
void lrt_labels_release(lrt_task *t);

struct lrt_task {
    /* First cache line: all a snapshot's pass over the table reads (state,
     * stack bounds, saved SP), so that pass costs one miss per task. */
    _Alignas(64) _Atomic uint32_t state; /* enum lrt_task_state */
    uint32_t    wait_reason;    /* enum lrt_wait_reason while WAITING */
    uintptr_t   stack_lo;       /* lowest usable address */
    uintptr_t   stack_hi;       /* top of the stack (exclusive) */
    lrt_regs    regs;           /* saved registers while not running */
    uint64_t    id;             /* 1, 2, ...; never reused */
    uint64_t    parent_id;      /* spawning task, 0 for main */
    uintptr_t   create_pc;      /* return address of the lrt_go call */
    int64_t     wait_since;     /* coarse monotonic ns the wait began */
    uintptr_t  *wait_addrs;     /* objects waited on (channels of a select) */
    uint32_t    wait_count;
    uint32_t    worker;         /* index of the worker running it */
    uintptr_t   guard_lo;       /* start of the guard below stack_lo */
    uint32_t    guard_size;
    uint8_t     guard_hard;     /* 1: PROT_NONE page; 0: checked zero zone */
    uint8_t     is_main;
    uint8_t     pad_[2];
    uint32_t    epoch;          /* lrt_main run that spawned it */
    void      (*fn)(void *);    /* entry */
    void       *arg;
    lrt_task   *link;           /* global run queue / free lists */
    _Atomic uint64_t claim;     /* (wait generation << 1) | claimed */
    int         wake_case;      /* case that woke a select, -1: timeout */
    int         pad2_;
    lrt_waiter  waiter;         /* for single waits */
    lrt_waiter *select_waiters; /* for selects beyond LRT_INLINE_WAITS */
    uintptr_t  *wait_addrs_extra;/* likewise, their channels */
    uint32_t    select_capacity;
    uint32_t    wait_addr_capacity;
    uintptr_t   wait_addr_inline[LRT_INLINE_WAITS];
    lrt_waiter  waiter_inline[LRT_INLINE_WAITS];
    lrt_timer   timer;          /* the task's own timer */
    void       *asan_fake_stack;/* AddressSanitizer fiber bookkeeping */
    /* Who created its creators (the parent first), so a leak can be blamed
     * on the code that started the chain: read through the debug root. */
    uint32_t    ancestry_count;
    lrt_ancestor ancestry[LRT_ANCESTRY_MAX];
    lrt_labels *labels;      /* shared, immutable, refcounted; NULL: none */
    void       *tsan_fiber;     /* ThreadSanitizer's handle of its stack (LRT_TSAN) */
};

/* ---------------------------------------------------------------------- */
/* Workers                                                                */
/* ---------------------------------------------------------------------- */

#define LRT_RUNQ_SIZE 256

enum lrt_after_switch {
    LRT_AFTER_NOTHING = 0,
    LRT_AFTER_PARK,      /* prev is parked: mark WAITING, run unlock */
    LRT_AFTER_YIELD,     /* prev yielded: put it on the global queue */
    LRT_AFTER_EXIT,      /* prev returned: free its slot */
    LRT_AFTER_SPAWN,     /* prev spawned the task now running: runs next */
};

typedef struct lrt_heap_cache lrt_heap_cache;

typedef struct lrt_worker {
    int         index;
    pid_t       tid;                  /* kernel thread id */
    lrt_regs    sched_regs;           /* the scheduler loop's context */
    void       *tsan_fiber;           /* the thread's own, for switches back */
    void       *sched_stack_bottom;   /* the worker thread's own stack */
    size_t      sched_stack_size;
    lrt_task   *current;              /* running task, or NULL */
    /* What the context that runs next must finish for the one that left
     * (Go's gopark unlock function): done after the registers are saved. */
    int         after;                /* enum lrt_after_switch */
    lrt_task   *after_task;
    void      (*after_unlock)(void *);
    void       *after_arg;
    /* Local run queue: the owner pushes at tail, anyone takes at head. */
    _Atomic uint32_t runq_head;
    _Atomic uint32_t runq_tail;
    _Atomic(lrt_task *) runq[LRT_RUNQ_SIZE];
    _Atomic(lrt_task *) runnext;      /* runs next: the task just readied */
    _Atomic uint64_t switches;        /* switches made; only it writes */
    uint64_t   *peer_switches;        /* each worker's count at our last look */
    uint32_t    runnext_streak;       /* picks in a row from runnext */
    _Atomic uint32_t sleep_word;      /* futex the idle worker sleeps on */
    struct lrt_worker *idle_next;
    bool        spinning;             /* looking for work, not sleeping */
    uint64_t    rng;                  /* select order, steal victims */
    lrt_task   *free_tasks;           /* dead task slots with their stacks */
    uint32_t    free_count;
    lrt_heap_cache *heap_cache;
    void       *altstack;             /* signal stack: stack overflows */
    pthread_t   thread;
    void       *thread_stack;         /* internal memory, see arena.c */
    size_t      thread_stack_size;
} lrt_worker;

/* The worker the calling thread is, or NULL on other threads. A task may
 * resume on another thread after a switch, and compilers treat the thread
 * pointer as constant within a function, so this reads the thread-local
 * variable with a volatile asm that cannot be cached or moved. */
static inline lrt_worker *lrt_worker_current(void)
{
    lrt_worker *w;
#if defined(__x86_64__)
    __asm__ volatile("movq lrt_tls_worker@gottpoff(%%rip), %0\n\t"
                     "movq %%fs:(%0), %0" : "=r"(w) :: "memory");
#else
#error "lrt_worker_current: no thread-local access for this architecture"
#endif
    return w;
}
/* The running task, or NULL outside tasks. */
static inline lrt_task *lrt_task_current(void)
{
    lrt_worker *w = lrt_worker_current();
    return w ? w->current : NULL;
}

/* "task N" or "outside any task", for messages. */
uint64_t lrt_task_id_or_zero(void);

/* ---------------------------------------------------------------------- */
/* Scheduling (sched.c)                                                   */
/* ---------------------------------------------------------------------- */

/* A random number below n (per-worker generator). */
uint32_t lrt_random(uint32_t n);
/* True for a task left parked by an earlier lrt_main run. */
extern uint32_t lrt_run_epoch;
static inline bool lrt_task_is_stale(const lrt_task *t) { return t->epoch != lrt_run_epoch; }

/* Aborts with "CALL: called outside a task" unless on a task; returns it. */
lrt_task *lrt_task_require(const char *call);

/*
 * Parks the running task: records the wait reason (wait_addrs/wait_count
 * must already be set), switches away, and — once its registers are saved —
 * calls unlock(arg) on the next context. Returns when lrt_ready() was
 * called for it.
 */
void lrt_park(uint32_t reason, void (*unlock)(void *), void *arg);

/* Makes a parked task runnable. Exactly one lrt_ready per lrt_park. */
void lrt_ready(lrt_task *t);

/* Begins a new wait: a new generation for the claim word. */
static inline void lrt_wait_begin(lrt_task *t)
{
    uint64_t c = atomic_load_explicit(&t->claim, memory_order_relaxed);
    atomic_store_explicit(&t->claim, ((c >> 1) + 1) << 1, memory_order_relaxed);
    t->wake_case = -1;
}

static inline uint64_t lrt_wait_generation(lrt_task *t)
{
    return atomic_load_explicit(&t->claim, memory_order_relaxed) >> 1;
}

/* Claims the wake-up of t's wait of generation gen (timers and select
 * cases race for it); true for the one winner. */
static inline bool lrt_wait_claim(lrt_task *t, uint64_t gen)
{
    uint64_t expected = gen << 1;
    return atomic_compare_exchange_strong_explicit(&t->claim, &expected,
            expected | 1, memory_order_acq_rel, memory_order_relaxed);
}

/* Claims the wake-up of the task behind w (if its wait is contested: a
 * select, a timed wait). False: someone else woke it, or it is left over
 * from an earlier lrt_main run; then leave it alone. After a true claim,
 * hand over data, then lrt_wake(w). */
static inline bool lrt_claim(lrt_waiter *w)
{
    lrt_task *t = w->task;
    if (__builtin_expect(lrt_task_is_stale(t), 0))
        return false;
    return !w->contested || lrt_wait_claim(t, lrt_wait_generation(t));
}

static inline void lrt_wake(lrt_waiter *w)
{
    w->task->wake_case = w->case_index;
    lrt_ready(w->task);
}

/* Records one waited-on object (single waits). */
static inline void lrt_wait_on(lrt_task *t, const void *addr)
{
    t->wait_addr_inline[0] = (uintptr_t)addr;
    t->wait_addrs = t->wait_addr_inline;
    t->wait_count = addr ? 1 : 0;
}

/* Parks the running task on q of the object at addr, whose guard is held
 * (released once the task is off its stack); _at: at q's front if front. */
void lrt_park_on(lrt_waitq *q, uint32_t *guard, const void *addr, uint32_t reason);
void lrt_park_on_at(lrt_waitq *q, uint32_t *guard, const void *addr, uint32_t reason, bool front);

/* How many workers run tasks (LRT_PROCS). */
int lrt_worker_count(void);

/* Parks forever (nil channel, select with no cases). */
noreturn void lrt_park_forever(uint32_t reason);

/* Wait queues: FIFO, doubly linked, guarded by their object's lock. */
static inline void lrt_waitq_push(lrt_waitq *q, lrt_waiter *w)
{
    w->next = NULL;
    w->prev = q->tail;
    if (q->tail)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
}

static inline void lrt_waitq_push_front(lrt_waitq *q, lrt_waiter *w)
{
    w->prev = NULL;
    w->next = q->head;
    if (q->head)
        q->head->prev = w;
    else
        q->tail = w;
    q->head = w;
}

/* Removes w if it is on q (a no-op otherwise). */
static inline void lrt_waitq_remove(lrt_waitq *q, lrt_waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else if (q->head == w)
        q->head = w->next;
    else
        return;
    if (w->next)
        w->next->prev = w->prev;
    else
        q->tail = w->prev;
    w->next = w->prev = NULL;
}

static inline lrt_waiter *lrt_waitq_pop(lrt_waitq *q)
{
    lrt_waiter *w = q->head;
    if (w)
        lrt_waitq_remove(q, w);
    return w;
}

static inline bool lrt_waitq_empty(const lrt_waitq *q) { return q->head == NULL; }

/* Pops waiters until one is claimed; NULL if none is left. */
static inline lrt_waiter *lrt_waitq_pop_claimed(lrt_waitq *q)
{
    lrt_waiter *w;
    while ((w = lrt_waitq_pop(q)))
        if (lrt_claim(w))
            return w;
    return NULL;
}

/* Unlock callbacks for lrt_park. */
void lrt_unlock_cb(void *lock);        /* lrt_lock * */
void lrt_guard_release_cb(void *guard);/* uint32_t * */

/* ---------------------------------------------------------------------- */
/* Internal memory (arena.c), stacks (stack.c), heap (heap.c)             */
/* ---------------------------------------------------------------------- */

/* The debug root (debugroot.c): static facts, and internal regions. */
extern ls_debug_root lrt_debug_root;
void  lrt_debug_root_init(void);
void  lrt_debug_root_add_internal(const void *start, size_t size);
void  lrt_debug_root_move_internal(const void *old_start, const void *start, size_t size);

int   lrt_arena_init(void);
void *lrt_internal_alloc(size_t size);          /* zeroed; aborts when out */
/* Makes a reservation dumpable up to `used` (see arena.c). */
void  lrt_dump_extend(void *base, size_t reserved, size_t *dumpable, size_t used);
/* MADV_HUGEPAGE for a reservation past its first few MiB (arena.c). */
void  lrt_huge_pages_past(void *base, size_t reserved);
void  lrt_internal_free(void *p, size_t size);
void *lrt_arena_base(void);
size_t lrt_arena_used(void);                   /* bytes handed out so far */
lrt_task *lrt_task_table_alloc(void);           /* a FREE slot */
void  lrt_task_table_free(lrt_task *t);
lrt_task *lrt_task_table_base(void);
size_t lrt_task_table_count(void);              /* slots ever used */
size_t lrt_task_table_capacity(void);

int   lrt_stack_init(void);
int   lrt_stack_attach(lrt_task *t);            /* give t a stack slot */
void  lrt_stack_check(lrt_task *t);             /* soft guard zone intact? */
bool  lrt_stack_overflowed(const lrt_task *t, uintptr_t fault_addr);
size_t lrt_stack_size(void);
void  lrt_stack_chunks_fork(bool include);       /* MADV_DOFORK / MADV_DONTFORK */

int   lrt_heap_init(void);
lrt_heap_cache *lrt_heap_cache_create(void);
void  lrt_heap_cache_flush(lrt_heap_cache *cache);
/* For malloc.c: n bytes aligned to align (a power of two), zeroed if
 * asked, from any thread; NULL when out of memory (never a panic). */
void *lrt_heap_alloc(size_t n, size_t align, bool noscan, bool zero);
bool  lrt_heap_owns(const void *p);                 /* in the arena's reservation */
/* The object at p (its start, or a panic naming call): bytes it holds;
 * free it. */
size_t lrt_heap_usable(void *p, const char *call);
void  lrt_heap_free(void *p, const char *call);
void  lrt_heap_fork_prepare(void);                  /* every heap lock taken */
void  lrt_heap_fork_done(void);
/* malloc.c: decides whose allocator serves malloc (if nothing has yet)
 * and writes it into the debug root's flags (at lrt_main). */
void  lrt_malloc_record(void);
size_t lrt_debug_pin_count(void);                  /* pin.c: for tests */
void  lrt_internal_fork_prepare(void);
void  lrt_internal_fork_done(void);

/* ---------------------------------------------------------------------- */
/* Timers and the poller (timer.c, poll.c)                                */
/* ---------------------------------------------------------------------- */

int  lrt_timers_start(void);
void lrt_timers_stop(void);
void lrt_timer_arm(lrt_timer *tm, int64_t when);
/* Removes a pending timer; if it is firing now, waits until it is done.
 * Returns true if it was still pending. */
bool lrt_timer_stop(lrt_timer *tm);
/* Removes a pending timer without waiting for one that is firing now: for
 * callers that hold a lock the firing timer may need. */
bool lrt_timer_disarm(lrt_timer *tm);
/* Arms t's own timer to claim and wake its current wait at `when`. */
void lrt_task_timer_arm(lrt_task *t, int64_t when);
void lrt_task_timer_stop(lrt_task *t);
/* Called by the poller thread when the timerfd or an fd fires. */
void lrt_timers_run(void);
int  lrt_poll_fd(void);               /* the epoll instance */
void lrt_poll_ready(int fd, uint32_t epoll_events);
void lrt_poll_reset(void);
void lrt_ctx_timer_fire(lrt_ctx *ctx); /* context.c */
void lrt_poller_kick(void);
void lrt_poller_watch_child(pid_t pid);

/* Snapshots (snapshot.c). */
void lrt_snapshot_init(void);
void lrt_snapshot_serve(void);         /* on the poller thread */
void lrt_snapshot_at_exit(void);

/* lrt_mutex_lock, recording site as where the holder locked (cond.c
 * relocks for its caller). */
void lrt_mutex_lock_at(lrt_mutex *m, void *site);
int64_t lrt_now_coarse(void);

#endif /* LRT_RUNTIME_H */

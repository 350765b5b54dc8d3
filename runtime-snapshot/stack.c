/*
 * stack.c — task stacks: where they live, how big they are, and how an
 * overflow is caught.
 *
 * Stacks are slots carved from large chunks (one mmap each, MAP_NORESERVE:
 * a parked task pays only for the pages it touched). A slot never goes back
 * to the kernel; it stays with its task-table slot and is reused by the next
 * task (the pool). Layout of a slot, low to high:
 *
 *   guard_lo        stack_lo                                   stack_hi
 *   | guard (4 KiB) | stack (LRT_STACK_SIZE, default 64 KiB)     |
 *
 * The guard is a hardware guard: on Linux 6.13 and later a guard region
 * installed with madvise(MADV_GUARD_INSTALL), which lives in the page
 * tables and does not split the mapping, so a million stacks all have one,
 * and fork (the snapshot's pause) copies one mapping, not two per stack.
 * On older kernels it is a PROT_NONE page while the mapping budget allows
 * (each one splits the chunk: two VMAs per stack against vm.max_map_count,
 * 65530 by default); past that budget — about 24,000 stacks — guards are
 * "soft": an untouched zone checked for zeros every time its task switches
 * away, so an overflow is still reported by name, at the next switch rather
 * than at the faulting instruction. LRT_STACK_GUARD=page|soft picks the
 * older kinds (for gdb's gcore, which cannot read around guard regions).
 *
 * A fresh stack's first page costs the spawner a page fault, half of
 * spawning a task that stays alive (the kernel zeroes the page). A thread
 * of the runtime's own makes the top pages of the next slots ready ahead
 * of the spawner (MADV_POPULATE_WRITE, which leaves a page in use as it
 * is, so it never races a task already on that slot), on a core that is
 * otherwise idle: spawning 100,000 tasks that park went from 3.2 to 2.5 µs
 * each on one worker (medians of 5; 10,000 on two workers: 4.9 to 2.8).
 */

#include "runtime.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifdef LRT_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#endif

#define GUARD_SIZE      4096
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102    /* Linux 6.13 */
#endif
#define CHUNK_SLOTS     256
#define SOFT_CHECK_BYTES 256    /* top of a soft guard zone that must stay 0 */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  /* Linux 5.14 */
#endif
#define READY_AHEAD     64      /* slots whose top page is made ready ahead */
#define READY_STACK     (64 * 1024)

#ifdef LRT_ASAN
#define DEFAULT_STACK   (256 * 1024)   /* instrumented frames are larger */
#else
#define DEFAULT_STACK   (64 * 1024)
#endif

static struct {
    lrt_lock  lock;
    size_t    stack_size;     /* usable bytes per stack */
    size_t    slot_size;      /* guard + stack */
    char     *chunk;          /* current chunk */
    size_t    chunk_next;     /* next free slot in it */
    size_t    hard_budget;    /* guard pages we may still mprotect */
    bool      guard_madvise;  /* MADV_GUARD_INSTALL works here */
    uint64_t *chunks;         /* every chunk, for the debug root */
    size_t    chunk_count, chunk_max;
} stacks;

/* The thread that makes stack pages ready ahead (see the top). Slots are
 * numbered across chunks: chunk i holds i * CHUNK_SLOTS and on. */
static struct {
    _Atomic int      state;    /* 0 not started, 1 running, -1 not available */
    _Atomic size_t   taken;    /* slots handed out */
    _Atomic size_t   mapped;   /* slots in mapped chunks (stacks.chunks published) */
    _Atomic size_t   ready;    /* slots made ready up to */
    _Atomic uint32_t wake;     /* futex: bumped to ask for more */
    _Atomic int      sleeping;
} ahead;

static void *ready_ahead(void *arg)
{
    (void)arg;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    for (;;) {
        uint32_t seen = atomic_load(&ahead.wake);
        size_t taken = atomic_load(&ahead.taken), mapped = atomic_load(&ahead.mapped);
        size_t to = taken + READY_AHEAD < mapped ? taken + READY_AHEAD : mapped;
        size_t from = atomic_load(&ahead.ready);
        if (from < taken)
            from = taken;                 /* the spawner got there first */
        for (size_t g = from; g < to; g++) {
            char *chunk = (char *)(uintptr_t)stacks.chunks[g / CHUNK_SLOTS];
            char *top = chunk + (g % CHUNK_SLOTS + 1) * stacks.slot_size - page;
            if (madvise(top, page, MADV_POPULATE_WRITE) != 0 && errno != EINTR) {
                atomic_store(&ahead.state, -1);     /* an older kernel: stop */
                return NULL;
            }
            atomic_store(&ahead.ready, g + 1);
        }
        if (from < to)
            continue;
        atomic_store(&ahead.sleeping, 1);
        if (atomic_load(&ahead.wake) == seen)
            syscall(SYS_futex, (uint32_t *)&ahead.wake, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
        atomic_store(&ahead.sleeping, 0);
    }
    return NULL;
}

/* Called with stacks.lock held, after a slot was taken. */
static void ask_ahead(void)
{
    int state = atomic_load(&ahead.state);
    if (state == 0) {
        void *stack = lrt_internal_alloc(READY_STACK);   /* runtime-internal, as the workers' */
        pthread_attr_t attr;
        pthread_t thread;
        pthread_attr_init(&attr);
        pthread_attr_setstack(&attr, stack, READY_STACK);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        state = pthread_create(&thread, &attr, ready_ahead, NULL) == 0 ? 1 : -1;
        pthread_attr_destroy(&attr);
        atomic_store(&ahead.state, state);
    }
    if (state == 1 && atomic_load(&ahead.sleeping) &&
        atomic_load(&ahead.ready) < atomic_load(&ahead.taken) + READY_AHEAD / 2) {
        atomic_fetch_add(&ahead.wake, 1);
        syscall(SYS_futex, (uint32_t *)&ahead.wake, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    }
}

static size_t read_max_map_count(void)
{
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    unsigned long n = 65530;
    if (f) {
        if (fscanf(f, "%lu", &n) != 1)
            n = 65530;
        fclose(f);
    }
    return n;
}

int lrt_stack_init(void)
{
    if (stacks.stack_size)
        return 0;
    size_t size = DEFAULT_STACK;
    const char *env = getenv("LRT_STACK_SIZE");
    if (env && *env) {
        char *end;
        unsigned long long v = strtoull(env, &end, 0);
        if (*end == 'k' || *end == 'K') v <<= 10;
        else if (*end == 'm' || *end == 'M') v <<= 20;
        if (v < 16 * 1024 || v > (1ull << 30)) {
            lrt_printerr("LRT_STACK_SIZE=%s is out of range (16K..1G); using %zu",
                         env, size);
        } else {
            size = (size_t)v;
        }
    }
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size = (size + page - 1) & ~(page - 1);
    stacks.stack_size = size;
    stacks.slot_size = size + GUARD_SIZE;
    size_t maps = read_max_map_count();
    stacks.hard_budget = maps / 2 > 8192 ? maps / 2 - 8192 : 0;
    stacks.guard_madvise = true;          /* until the kernel says otherwise */
    /* LRT_STACK_GUARD=page trades the guard regions for PROT_NONE pages
     * (budgeted, as on older kernels), =soft for checked zones only: gdb's
     * gcore cannot read a mapping that holds guard regions and writes
     * zeros for every stack in it, so a program to be gcore'd wants one. */
    env = getenv("LRT_STACK_GUARD");
    if (env && *env) {
        if (strcmp(env, "page") == 0)
            stacks.guard_madvise = false;
        else if (strcmp(env, "soft") == 0)
            stacks.guard_madvise = false, stacks.hard_budget = 0;
        else if (strcmp(env, "region") != 0)
            lrt_printerr("LRT_STACK_GUARD=%s is not region, page or soft; using region", env);
    }
    stacks.chunk_max = lrt_task_table_capacity() / CHUNK_SLOTS + 1;
    stacks.chunks = lrt_internal_alloc(stacks.chunk_max * sizeof *stacks.chunks);
    lrt_debug_root.stack_chunks = (uintptr_t)stacks.chunks;
    lrt_debug_root.stack_chunk_size = CHUNK_SLOTS * stacks.slot_size;
    return 0;
}

size_t lrt_stack_size(void) { return stacks.stack_size; }

int lrt_stack_attach(lrt_task *t)
{
    lrt_lock_acquire(&stacks.lock);
    if (!stacks.chunk || stacks.chunk_next == CHUNK_SLOTS) {
        void *p = mmap(NULL, CHUNK_SLOTS * stacks.slot_size,
                       PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                       -1, 0);
        if (p == MAP_FAILED) {
            lrt_lock_release(&stacks.lock);
            return -errno;
        }
        lrt_assert(stacks.chunk_count < stacks.chunk_max);
        stacks.chunks[stacks.chunk_count++] = (uintptr_t)p;
        lrt_debug_root.stack_chunk_count = stacks.chunk_count;
        stacks.chunk = p;
        stacks.chunk_next = 0;
        atomic_store(&ahead.mapped, stacks.chunk_count * CHUNK_SLOTS);   /* after chunks[] */
    }
    char *slot = stacks.chunk + stacks.chunk_next++ * stacks.slot_size;
    atomic_store(&ahead.taken, (stacks.chunk_count - 1) * CHUNK_SLOTS + stacks.chunk_next);
    ask_ahead();
    bool hard = false;
    if (stacks.guard_madvise) {
        if (madvise(slot, GUARD_SIZE, MADV_GUARD_INSTALL) == 0)
            hard = true;
        else
            stacks.guard_madvise = false; /* older kernel: mprotect, budgeted */
    }
    if (!hard && stacks.hard_budget > 0) {
        stacks.hard_budget--;
        hard = mprotect(slot, GUARD_SIZE, PROT_NONE) == 0;
    }
    lrt_lock_release(&stacks.lock);

    t->guard_lo = (uintptr_t)slot;
    t->guard_size = GUARD_SIZE;
    t->guard_hard = hard;
    t->stack_lo = (uintptr_t)slot + GUARD_SIZE;
    t->stack_hi = t->stack_lo + stacks.stack_size;
#ifdef LRT_HAVE_VALGRIND
    VALGRIND_STACK_REGISTER(t->stack_lo, t->stack_hi);
#endif
    return 0;
}

/* Snapshots copy the used part of each stack before they fork; meanwhile
 * the chunks are left out of the fork, so it need not copy their page
 * tables (stop the world first: nothing may run on a task stack). */
void lrt_stack_chunks_fork(bool include)
{
    for (size_t i = 0; i < stacks.chunk_count; i++)
        madvise((void *)(uintptr_t)stacks.chunks[i], CHUNK_SLOTS * stacks.slot_size,
                include ? MADV_DOFORK : MADV_DONTFORK);
}

noreturn static void overflow(const lrt_task *t)
{
    lrt_panic("task", "stack overflow: task %llu used more than its %zu KiB stack "
              "(set LRT_STACK_SIZE to raise it)",
              (unsigned long long)t->id, stacks.stack_size / 1024);
}

void lrt_stack_check(lrt_task *t)
{
    if (t->guard_hard)
        return;
    const uint64_t *zone = (const uint64_t *)(t->stack_lo - SOFT_CHECK_BYTES);
    uint64_t any = 0;
    for (size_t i = 0; i < SOFT_CHECK_BYTES / sizeof *zone; i += 4)
        any |= zone[i];
    if (any != 0 || t->regs.sp < t->stack_lo)
        overflow(t);
}

bool lrt_stack_overflowed(const lrt_task *t, uintptr_t fault_addr)
{
    /* A fault in the guard, or just below the stack: a frame may be larger
     * than the guard page and skip over it. */
    return fault_addr >= t->guard_lo - 64 * 1024 && fault_addr < t->stack_lo;
}

/*
 * arena.c — runtime-internal memory: the region every piece of the
 * runtime's bookkeeping lives in, and the task table.
 *
 * Two reservations, each one mapping (MAP_NORESERVE, so only touched pages
 * cost memory and one VMA each):
 *   - the internal arena: waiters of big selects, timers, span and page
 *     tables, heap caches, poll table, worker structs. A bump pointer with
 *     free lists by size; nothing is ever returned to the kernel.
 *   - the task table: an array of lrt_task slots, reused with their stacks.
 * A snapshot's analysis never scans either (DESIGN.md §1, the memory rule).
 */
#include "runtime.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifdef LRT_HAVE_VALGRIND
#include <valgrind/memcheck.h>
#endif

#define ARENA_RESERVE   ((size_t)4 << 30)      /* 4 GiB of address space */
#define ARENA_ALIGN     16
#define SMALL_LIMIT     4096                   /* free lists by 16 bytes */
#define NSMALL          (SMALL_LIMIT / ARENA_ALIGN)
#define TASKS_MAX       ((size_t)1 << 22)      /* 4,194,304 task slots ... */
#define TASKS_MIN       ((size_t)1 << 16)      /* ... or as many as fit */

typedef struct free_block { struct free_block *next; size_t size; } free_block;

static struct {
    lrt_lock    lock;
    char       *base;        /* start of the reservation */
    size_t      used;        /* bump offset */
    size_t      dumpable;    /* see lrt_dump_extend */
    free_block *small[NSMALL + 1];
    free_block *large;       /* bigger blocks, first fit by exact size */

    lrt_lock    task_lock;
    lrt_task   *tasks;       /* the task table */
    size_t      task_count;  /* slots handed out at least once */
    size_t      task_max;    /* slots reserved */
    size_t      task_dumpable;
    lrt_task   *task_free;   /* free slots (with their stacks) */
} arena;

/* Every process that links libleakrt has these reservations (malloc comes
 * here), most of them small: in huge pages from the start, each touched
 * table or first span held 2 MiB, and a small program's resident set was
 * three times glibc's. The first SMALL_PART stays in 4 KiB pages (a fork
 * copies 2,048 entries for it, microseconds); the rest asks for huge. */
#define SMALL_PART ((size_t)8 << 20)

void lrt_huge_pages_past(void *base, size_t reserved)
{
    /* Said both ways: where the kernel's THP mode is "always", a mapping
     * nobody advised gets huge pages too. */
    madvise(base, reserved < SMALL_PART ? reserved : SMALL_PART, MADV_NOHUGEPAGE);
    if (reserved > SMALL_PART)
        madvise((char *)base + SMALL_PART, reserved - SMALL_PART, MADV_HUGEPAGE);
}

/* Reservations are MADV_DONTDUMP past the part in use, in steps of
 * DUMP_STEP: a core writer that reads every mapping whole (gdb's gcore)
 * would otherwise write tens of GiB of zeros, and the kernel's cores leave
 * the unused part out too. Called with the reservation's lock held. */
#define DUMP_STEP ((size_t)64 << 20)

void lrt_dump_extend(void *base, size_t reserved, size_t *dumpable, size_t used)
{
    if (used <= *dumpable)
        return;
    size_t to = (used + DUMP_STEP - 1) & ~(DUMP_STEP - 1);
    if (to > reserved)
        to = reserved;
    madvise((char *)base + *dumpable, to - *dumpable, MADV_DODUMP);
    *dumpable = to;
}

static void *reserve(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    madvise(p, size, MADV_DONTDUMP);
    return p;
}

static _Atomic bool arena_ready;
static lrt_lock init_lock;
static int init_locked(void);

/* Once: lrt_main and the first malloc of any thread may race here. */
int lrt_arena_init(void)
{
    if (atomic_load_explicit(&arena_ready, memory_order_acquire))
        return 0;
    lrt_lock_acquire(&init_lock);
    int err = arena.base ? 0 : init_locked();
    if (!err)
        atomic_store_explicit(&arena_ready, true, memory_order_release);
    lrt_lock_release(&init_lock);
    return err;
}

static int init_locked(void)
{
    lrt_debug_root_init();
    arena.base = reserve(ARENA_RESERVE);
    if (!arena.base)
        return -ENOMEM;
    for (arena.task_max = TASKS_MAX; arena.task_max >= TASKS_MIN; arena.task_max /= 2)
        if ((arena.tasks = reserve(arena.task_max * sizeof(lrt_task))))
            break;
    if (!arena.tasks) {
        munmap(arena.base, ARENA_RESERVE);
        arena.base = NULL;
        return -ENOMEM;
    }
    /* Huge pages: a fork (the snapshot's pause) copies one entry per 2 MiB
     * instead of 512. Past the first few MiB only (lrt_huge_pages_past). */
    lrt_huge_pages_past(arena.base, ARENA_RESERVE);
    madvise(arena.tasks, arena.task_max * sizeof(lrt_task), MADV_HUGEPAGE);
    lrt_debug_root_add_internal(arena.base, ARENA_RESERVE);
    lrt_debug_root_add_internal(arena.tasks, arena.task_max * sizeof(lrt_task));
    lrt_debug_root.tasks = (uintptr_t)arena.tasks;
    return 0;
}

static size_t round_size(size_t size)
{
    return (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
}

void *lrt_internal_alloc(size_t size)
{
    size = round_size(size ? size : 1);
    lrt_lock_acquire(&arena.lock);
    void *p = NULL;
    if (size <= SMALL_LIMIT) {
        free_block *b = arena.small[size / ARENA_ALIGN];
        if (b) {
            arena.small[size / ARENA_ALIGN] = b->next;
            p = b;
        }
    } else {
        for (free_block **pp = &arena.large; *pp; pp = &(*pp)->next) {
            if ((*pp)->size == size) {
                p = *pp;
                *pp = (*pp)->next;
                break;
            }
        }
    }
    if (!p) {
        if (arena.used + size > ARENA_RESERVE) {
            lrt_lock_release(&arena.lock);
            lrt_panic("lrt_internal_alloc", "runtime-internal memory exhausted (%zu bytes)",
                      (size_t)ARENA_RESERVE);
        }
        p = arena.base + arena.used;
        arena.used += size;
        lrt_dump_extend(arena.base, ARENA_RESERVE, &arena.dumpable, arena.used);
        lrt_lock_release(&arena.lock);
        return p;                        /* fresh pages are zero */
    }
    lrt_lock_release(&arena.lock);
#ifdef LRT_HAVE_VALGRIND
    /* Reused memory may have been a thread's stack, which valgrind marks
     * inaccessible when the thread exits. It is ours again. */
    VALGRIND_MAKE_MEM_UNDEFINED(p, size);
#endif
    memset(p, 0, size);
    return p;
}

void lrt_internal_free(void *p, size_t size)
{
    if (!p)
        return;
    size = round_size(size ? size : 1);
    free_block *b = p;
    b->size = size;
    lrt_lock_acquire(&arena.lock);
    /* Under the lock: arena.used grows under it (ThreadSanitizer). */
    lrt_assert((char *)p >= arena.base && (char *)p + size <= arena.base + arena.used);
    if (size <= SMALL_LIMIT) {
        b->next = arena.small[size / ARENA_ALIGN];
        arena.small[size / ARENA_ALIGN] = b;
    } else {
        b->next = arena.large;
        arena.large = b;
    }
    lrt_lock_release(&arena.lock);
}

/* Around fork() (heap.c lrt_heap_fork_prepare): the child must not find
 * the lock held by a thread it does not have. */
void lrt_internal_fork_prepare(void) { lrt_lock_acquire(&arena.lock); }
void lrt_internal_fork_done(void) { lrt_lock_release(&arena.lock); }

/* ---------------------------------------------------------------------- */
/* The task table                                                         */
/* ---------------------------------------------------------------------- */

lrt_task *lrt_task_table_alloc(void)
{
    lrt_lock_acquire(&arena.task_lock);
    lrt_task *t = arena.task_free;
    if (t) {
        arena.task_free = t->link;
        t->link = NULL;
    } else if (arena.task_count < arena.task_max) {
        t = &arena.tasks[arena.task_count++];
        lrt_debug_root.task_count = arena.task_count;
        lrt_dump_extend(arena.tasks, arena.task_max * sizeof(lrt_task), &arena.task_dumpable,
                        arena.task_count * sizeof(lrt_task));
    }
    lrt_lock_release(&arena.task_lock);
    if (!t)
        lrt_panic("lrt_go", "too many tasks (the limit is %zu)", arena.task_max);
    lrt_assert(atomic_load(&t->state) == LRT_TASK_FREE);
    return t;
}

void lrt_task_table_free(lrt_task *t)
{
    lrt_assert(atomic_load(&t->state) == LRT_TASK_FREE);
    lrt_lock_acquire(&arena.task_lock);
    t->link = arena.task_free;
    arena.task_free = t;
    lrt_lock_release(&arena.task_lock);
}

size_t lrt_arena_used(void) { return arena.used; }
void *lrt_arena_base(void) { return arena.base; }

lrt_task *lrt_task_table_base(void) { return arena.tasks; }
size_t lrt_task_table_count(void) { return arena.task_count; }
size_t lrt_task_table_capacity(void) { return arena.task_max; }

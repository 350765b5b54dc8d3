/*
 * pages.c — the page heap: the tracked heap's arena, cut into runs of
 * 8 KiB pages, and the two tables a snapshot's reader uses to map any
 * address to its object in O(1): the span table (one descriptor per run)
 * and the page map (arena page -> span index). Layout in heap.h.
 *
 * Runs come first-fit from freed runs, coalesced with free neighbours,
 * else from the arena's untouched end. The arena asks for huge pages past
 * its first few MiB (arena.c), so a snapshot's fork copies few page-table
 * entries. The tables are one reservation of their own in small pages:
 * they are sized for the whole arena and touched in proportion to the
 * heap in use, and inside the internal arena they pushed everything after
 * them into its huge-page part, where a program that mallocs once held a
 * huge page for 30 KiB of caches.
 */

#include "pages.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#define ARENA_MAX       ((size_t)64 << 30)     /* address space we ask for */
#define ARENA_MIN       ((size_t)1 << 30)      /* ... and settle for */

lrt_pages lrt_page_heap;

static struct {
    lrt_lock   lock;          /* runs, descriptors, the tables */
    size_t     dumpable;      /* the arena's: see lrt_dump_extend */
    size_t     map_bytes, spans_bytes;         /* the tables' sizes */
    size_t     map_dumpable, spans_dumpable;
    size_t     span_count;    /* next never-used descriptor */
    lrt_span  *span_free;     /* recycled descriptors */
    lrt_span  *free_runs;     /* FREE runs */
} pages;

static void *reserve(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

int lrt_pages_init(void)
{
    lrt_pages *h = &lrt_page_heap;
    /* Address space only (MAP_NORESERVE); less where RLIMIT_AS or a tool
     * such as valgrind limits it. */
    void *p = NULL;
    size_t size;
    for (size = ARENA_MAX; size >= ARENA_MIN && !p; size /= 2)
        p = reserve(size);
    if (!p)
        return -ENOMEM;
    size *= 2;
    size_t npages = size >> LRT_PAGE_SHIFT;
    pages.map_bytes = (npages * sizeof *h->page_map + 4095) & ~(size_t)4095;
    pages.spans_bytes = (npages * sizeof *h->spans + 4095) & ~(size_t)4095;
    char *tables = reserve(pages.map_bytes + pages.spans_bytes);
    if (!tables) {
        munmap(p, size);
        return -ENOMEM;
    }
    lrt_huge_pages_past(p, size);
    madvise(p, size, MADV_DONTDUMP);          /* until used: lrt_dump_extend */
    madvise(tables, pages.map_bytes + pages.spans_bytes, MADV_NOHUGEPAGE);
    madvise(tables, pages.map_bytes + pages.spans_bytes, MADV_DONTDUMP);
    lrt_debug_root_add_internal(tables, pages.map_bytes + pages.spans_bytes);
    h->arena = p;
    h->reserved = size;
    h->page_map = (uint32_t *)tables;
    h->spans = (lrt_span *)(tables + pages.map_bytes);
    pages.span_count = 1;                     /* index 0: no span */
    lrt_dump_extend(h->spans, pages.spans_bytes, &pages.spans_dumpable, sizeof *h->spans);
    /* The first page is never handed out: runtime globals hold the arena's
     * base address (this struct, the debug root), and a global is a root —
     * it must not look like a pointer to the first object. */
    h->used = LRT_PAGE_SIZE;
    lrt_debug_root.arena_used = h->used;
    lrt_debug_root.arena = (uintptr_t)p;
    lrt_debug_root.arena_size = size;
    lrt_debug_root.page_map = (uintptr_t)h->page_map;
    lrt_debug_root.spans = (uintptr_t)h->spans;
    lrt_debug_root.span_count = pages.span_count;
    return 0;
}

static uint32_t span_index(const lrt_span *s) { return (uint32_t)(s - lrt_page_heap.spans); }

static size_t page_of(uintptr_t addr) { return (addr - (uintptr_t)lrt_page_heap.arena) >> LRT_PAGE_SHIFT; }

static lrt_span *new_descriptor(void)
{
    lrt_span *s = pages.span_free;
    if (s) {
        pages.span_free = s->next;
    } else {
        if (pages.span_count >= lrt_page_heap.reserved >> LRT_PAGE_SHIFT)
            return NULL;
        s = &lrt_page_heap.spans[pages.span_count++];
        lrt_dump_extend(lrt_page_heap.spans, pages.spans_bytes, &pages.spans_dumpable,
                        pages.span_count * sizeof *s);
        lrt_debug_root.span_count = pages.span_count;
    }
    memset(s, 0, sizeof *s);
    return s;
}

static void map_pages(lrt_span *s)
{
    size_t first = page_of(s->base);
    uint32_t idx = span_index(s);
    for (size_t i = 0; i < s->npages; i++)
        lrt_page_heap.page_map[first + i] = idx;
}

/* Shortens run s to npages, its tail a free run of its own (without a
 * descriptor left, the tail stays in s: wasted, never lost). */
static void keep_pages(lrt_span *s, size_t npages)
{
    if (s->npages <= npages)
        return;
    lrt_span *rest = new_descriptor();
    if (!rest)
        return;
    rest->base = s->base + npages * LRT_PAGE_SIZE;
    rest->npages = s->npages - (uint32_t)npages;
    rest->state = LRT_SPAN_FREE;
    map_pages(rest);
    lrt_span_list_push(&pages.free_runs, rest);
    s->npages = (uint32_t)npages;
}

/* A run of npages pages; zero-filled unless *dirty says otherwise. */
static lrt_span *alloc_run(size_t npages, bool *dirty)
{
    lrt_pages *h = &lrt_page_heap;
    for (lrt_span *s = pages.free_runs; s; s = s->next) {
        if (s->npages < npages)
            continue;
        lrt_span_list_remove(&pages.free_runs, s);
        /* A reused descriptor keeps only where and how long: the counts of
         * the object it was (a large one's nowned of 1) must not carry
         * over into a small span made of it. */
        uintptr_t base = s->base;
        uint32_t n = s->npages;
        memset(s, 0, sizeof *s);
        s->base = base;
        s->npages = n;
        /* Claimed, not free: until it is published as a span, a neighbour
         * being freed must not take it for free pages and merge it. */
        s->state = LRT_SPAN_UNUSED;
        keep_pages(s, npages);        /* split: the rest stays free */
        *dirty = true;
        return s;
    }
    size_t bytes = npages * LRT_PAGE_SIZE;
    if (h->used + bytes > h->reserved)
        return NULL;
    lrt_span *s = new_descriptor();
    if (!s)
        return NULL;
    s->base = (uintptr_t)h->arena + h->used;
    s->npages = (uint32_t)npages;
    size_t used = h->used + bytes;
    lrt_dump_extend(h->arena, h->reserved, &pages.dumpable, used);
    lrt_dump_extend(h->page_map, pages.map_bytes, &pages.map_dumpable,
                    (used >> LRT_PAGE_SHIFT) * sizeof *h->page_map);
    __atomic_store_n(&h->used, used, __ATOMIC_RELEASE);
    lrt_debug_root.arena_used = used;
    *dirty = false;
    return s;
}

static void free_run(lrt_span *s)
{
    lrt_pages *h = &lrt_page_heap;
    s->state = LRT_SPAN_FREE;
    s->alloc_bits = NULL;
    s->owned_bits = NULL;
    /* Coalesce with free neighbours. */
    size_t first = page_of(s->base);
    if (first > 0) {
        lrt_span *before = &h->spans[h->page_map[first - 1]];
        if (h->page_map[first - 1] && before->state == LRT_SPAN_FREE) {
            lrt_span_list_remove(&pages.free_runs, before);
            before->npages += s->npages;
            s->next = pages.span_free;
            s->state = LRT_SPAN_UNUSED;
            pages.span_free = s;
            s = before;
        }
    }
    size_t after_page = page_of(s->base) + s->npages;
    if ((after_page << LRT_PAGE_SHIFT) < h->used) {
        lrt_span *after = &h->spans[h->page_map[after_page]];
        if (h->page_map[after_page] && after->state == LRT_SPAN_FREE) {
            lrt_span_list_remove(&pages.free_runs, after);
            s->npages += after->npages;
            after->state = LRT_SPAN_UNUSED;
            after->next = pages.span_free;
            pages.span_free = after;
        }
    }
    map_pages(s);
    lrt_span_list_push(&pages.free_runs, s);
}

/* Splits the first `n` pages off run s as a free run. False when no
 * descriptor is left. */
static bool give_back_front(lrt_span *s, size_t n)
{
    lrt_span *front = new_descriptor();
    if (!front)
        return false;
    front->base = s->base;
    front->npages = (uint32_t)n;
    front->state = LRT_SPAN_FREE;
    map_pages(front);
    lrt_span_list_push(&pages.free_runs, front);
    s->base += n * LRT_PAGE_SIZE;
    s->npages -= (uint32_t)n;
    return true;
}

lrt_span *lrt_run_new(size_t npages, size_t align, bool *dirty)
{
    /* Aligned past a page: a longer run, its ends given back. */
    size_t extra = align > LRT_PAGE_SIZE ? align / LRT_PAGE_SIZE - 1 : 0;
    lrt_lock_acquire(&pages.lock);
    lrt_span *s = alloc_run(npages + extra, dirty);
    if (s && extra) {
        size_t lead = ((align - (s->base & (align - 1))) & (align - 1)) / LRT_PAGE_SIZE;
        if (lead && !give_back_front(s, lead)) {
            free_run(s);
            s = NULL;
        } else {
            keep_pages(s, npages);
        }
    }
    lrt_lock_release(&pages.lock);
    return s;
}

void lrt_run_publish(lrt_span *s, uint8_t state)
{
    lrt_lock_acquire(&pages.lock);
    map_pages(s);
    s->state = state;
    lrt_lock_release(&pages.lock);
}

void lrt_run_free(lrt_span *s)
{
    lrt_lock_acquire(&pages.lock);
    free_run(s);
    lrt_lock_release(&pages.lock);
}

void lrt_pages_fork_prepare(void) { lrt_lock_acquire(&pages.lock); }
void lrt_pages_fork_done(void) { lrt_lock_release(&pages.lock); }

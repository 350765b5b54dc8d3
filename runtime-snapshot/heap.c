/*
 * heap.c — the tracked heap: lrt_alloc, lrt_alloc_noscan, lrt_free.
 *
 * Channels, contexts and everything users lrt_alloc live here, so that a
 * snapshot's analysis can map any address to its object in O(1) and knows
 * which slots are in use. Layout in heap.h. Three levels:
 *   - the page heap (pages.c): runs of 8 KiB pages carved from the arena,
 *     the span table and the page map;
 *   - central lists (per size class and scan kind, own lock): spans with
 *     slots nobody owns;
 *   - caches (no lock): a few free slots per class for each worker, and
 *     for each other thread that allocates (malloc.c puts the C library's
 *     malloc here, called from any thread), so the common alloc/free is a
 *     pop or push and one atomic bit operation.
 * Memory is zeroed when it is handed out and zero is asked for (lrt_alloc,
 * calloc), not when freed: malloc pays nothing for it, as glibc's does. A
 * freed slot's stale bytes are never scanned (its allocation bit is
 * clear); a malloc'd block may show its previous occupant's words until
 * written, which can only keep something alive, never report a leak.
 * All tables (span table, page map, bitmaps, caches) are internal memory.
 * Nothing here calls malloc: this is what malloc calls.
 */

#include "pages.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#define CACHE_MAX       32
#define CACHE_BYTES     8192   /* what one bin holds at most, beyond 4 blocks */

/* Steps of at most an eighth of the size above 128 bytes: a block wastes
 * at most 12.5% of its class (malloc's sizes are whatever programs ask). */
static const uint32_t class_size[LRT_NCLASSES] = {
    0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
    288, 320, 352, 384, 448, 512, 576, 640, 704, 768, 896, 1024,
    1152, 1280, 1408, 1536, 1792, 2048, 2304, 2560, 2816, 3072, 3584, 4096,
    4608, 5120, 5632, 6144, 7168, 8192, 9216, 10240, 11264, 12288, 14336, 16384,
    18432, 20480, 22528, 24576, 28672, 32768,
};

typedef struct central {
    lrt_lock  lock;
    lrt_span *partial;        /* spans with unowned slots */
} central;

struct lrt_heap_cache {
    struct { uint32_t n; void *objs[CACHE_MAX]; } bins[2 * LRT_NCLASSES];
};

static struct {
    uint8_t    small_class[LRT_SMALL_MAX / 16 + 1];  /* by (n + 15) / 16 */
    uint8_t    cache_max[LRT_NCLASSES];              /* blocks a bin holds */
    central    centrals[2 * LRT_NCLASSES];           /* [class * 2 + noscan] */
} heap;

static void thread_cache_done(void *cache);

static _Atomic bool heap_ready;
static lrt_lock init_lock;
static pthread_key_t cache_key;      /* runs thread_cache_done at thread exit */

static int init_locked(void);

/* Once, from whichever thread allocates first (malloc may come before
 * lrt_main, from any thread). */
int lrt_heap_init(void)
{
    if (atomic_load_explicit(&heap_ready, memory_order_acquire))
        return 0;
    lrt_lock_acquire(&init_lock);
    int err = lrt_page_heap.arena ? 0 : init_locked();
    if (!err)
        atomic_store_explicit(&heap_ready, true, memory_order_release);
    lrt_lock_release(&init_lock);
    return err;
}

static int init_locked(void)
{
    int err = lrt_arena_init();
    if (err)
        return err;
    if (pthread_key_create(&cache_key, thread_cache_done) != 0)
        return -EAGAIN;
    if ((err = lrt_pages_init()) != 0)
        return err;
    int c = 1;
    for (size_t i = 0; i <= LRT_SMALL_MAX / 16; i++) {
        while (class_size[c] < i * 16)
            c++;
        heap.small_class[i] = (uint8_t)c;
    }
    /* A bin of big blocks is bounded by bytes: a thread that only frees
     * (a consumer) held 32 of each class, most of a megabyte. */
    for (c = 1; c < LRT_NCLASSES; c++) {
        uint32_t n = CACHE_BYTES / class_size[c];
        heap.cache_max[c] = (uint8_t)(n > CACHE_MAX ? CACHE_MAX : n < 4 ? 4 : n);
    }
    return 0;
}


/* ---------------------------------------------------------------------- */
/* Spans and the central lists                                           */
/* ---------------------------------------------------------------------- */

static size_t span_pages_for(uint32_t size)
{
    size_t bytes = size <= 1024 ? 64 * 1024 : (size_t)size * 8;
    return (bytes + LRT_PAGE_SIZE - 1) >> LRT_PAGE_SHIFT;
}

static lrt_span *new_small_span(int cls, bool noscan)
{
    uint32_t size = class_size[cls];
    size_t npages = span_pages_for(size);
    bool dirty;                          /* slots are zeroed on demand */
    lrt_span *s = lrt_run_new(npages, 0, &dirty);
    if (!s)
        return NULL;
    uint32_t nelems = (uint32_t)(npages * LRT_PAGE_SIZE / size);
    size_t words = (nelems + 63) / 64;
    if (words <= 1) {
        s->alloc_bits = (_Atomic uint64_t *)&s->inline_bits[0];
        s->owned_bits = &s->inline_bits[1];
    } else {
        s->alloc_bits = lrt_internal_alloc(words * sizeof(uint64_t));
        s->owned_bits = lrt_internal_alloc(words * sizeof(uint64_t));
    }
    s->size_class = (uint8_t)cls;
    s->elem_size = size;
    s->nelems = nelems;
    s->noscan = noscan;
    lrt_run_publish(s, LRT_SPAN_SMALL);
    return s;
}

/* Takes up to max unowned slots of the class into out (class lock held). */
static uint32_t central_take(central *ce, int cls, bool noscan, void **out, uint32_t max)
{
    uint32_t got = 0;
    while (got < max) {
        lrt_span *s = ce->partial;
        if (!s) {
            lrt_lock_release(&ce->lock);
            s = new_small_span(cls, noscan);
            lrt_lock_acquire(&ce->lock);
            if (!s)
                break;
            s->in_partial = 1;
            lrt_span_list_push(&ce->partial, s);
        }
        size_t words = (s->nelems + 63) / 64;
        for (size_t wi = s->scan_hint; wi < words && got < max; wi++) {
            uint64_t used = s->owned_bits[wi];
            if (wi == words - 1 && s->nelems % 64)
                used |= ~0ull << (s->nelems % 64);      /* past the end */
            while (~used && got < max) {
                int bit = __builtin_ctzll(~used);
                used |= 1ull << bit;
                s->owned_bits[wi] |= 1ull << bit;
                s->nowned++;
                lrt_assert(s->nowned <= s->nelems);
                out[got++] = (void *)(s->base + ((wi * 64) + (size_t)bit) * s->elem_size);
            }
            if (~used == 0)
                s->scan_hint = (uint32_t)wi + 1;
        }
        if (s->nowned == s->nelems) {
            lrt_span_list_remove(&ce->partial, s);
            s->in_partial = 0;
        }
    }
    return got;
}

static void central_give(central *ce, void *p)
{
    lrt_span *s = lrt_span_at((uintptr_t)p);
    size_t idx = ((uintptr_t)p - s->base) / s->elem_size;
    lrt_assert(s->owned_bits[idx / 64] & (1ull << (idx % 64)));   /* given back once */
    s->owned_bits[idx / 64] &= ~(1ull << (idx % 64));
    s->nowned--;
    if (idx / 64 < s->scan_hint)
        s->scan_hint = (uint32_t)(idx / 64);
    if (!s->in_partial) {
        s->in_partial = 1;
        lrt_span_list_push(&ce->partial, s);
    }
    /* A span with nothing in use goes back to the page heap, for any class,
     * unless it is its class's only one with room: without that, a class's
     * spans never shrank below its peak, and a program whose mix of sizes
     * drifts kept every class's high-water mark resident. */
    if (s->nowned == 0 && (ce->partial != s || s->next)) {
        lrt_span_list_remove(&ce->partial, s);
        s->in_partial = 0;
        size_t words = (s->nelems + 63) / 64;
        if (words > 1) {
            lrt_internal_free((void *)s->alloc_bits, words * sizeof(uint64_t));
            lrt_internal_free(s->owned_bits, words * sizeof(uint64_t));
        }
        lrt_run_free(s);
    }
}

lrt_heap_cache *lrt_heap_cache_create(void)
{
    return lrt_internal_alloc(sizeof(lrt_heap_cache));
}

void lrt_heap_cache_flush(lrt_heap_cache *cache)
{
    if (!cache)
        return;
    for (int b = 0; b < 2 * LRT_NCLASSES; b++) {
        if (!cache->bins[b].n)
            continue;
        central *ce = &heap.centrals[b];
        lrt_lock_acquire(&ce->lock);
        while (cache->bins[b].n)
            central_give(ce, cache->bins[b].objs[--cache->bins[b].n]);
        lrt_lock_release(&ce->lock);
    }
}

/* Marks p in use in its span's alloc bits (what a snapshot sees). */
static void set_in_use(void *p)
{
    lrt_span *s = lrt_span_at((uintptr_t)p);
    size_t idx = ((uintptr_t)p - s->base) / s->elem_size;
    atomic_fetch_or_explicit(&s->alloc_bits[idx / 64], 1ull << (idx % 64),
                             memory_order_release);
}

/* ---------------------------------------------------------------------- */
/* Caches: a worker's, or the calling thread's                            */
/* ---------------------------------------------------------------------- */

/* Threads that are not workers (the main thread before lrt_main and after
 * it, plain pthreads) get a cache of their own once they allocate, given
 * back when they exit. Initial-exec TLS: no call into the dynamic linker
 * (which may allocate) on the way to it. */
enum { CACHE_NONE, CACHE_LIVE, CACHE_GONE };
static __thread lrt_heap_cache *thread_cache __attribute__((tls_model("initial-exec")));
static __thread uint8_t thread_cache_state __attribute__((tls_model("initial-exec")));

static void thread_cache_done(void *cache)
{
    thread_cache = NULL;
    thread_cache_state = CACHE_GONE;     /* its last frees go to the centrals */
    lrt_heap_cache_flush(cache);
    lrt_internal_free(cache, sizeof(lrt_heap_cache));
}

static lrt_heap_cache *current_cache(void)
{
    lrt_worker *w = lrt_worker_current();
    if (w && w->heap_cache)
        return w->heap_cache;
    if (thread_cache_state == CACHE_NONE) {
        thread_cache_state = CACHE_GONE;     /* re-entered below: no cache */
        lrt_heap_cache *c = lrt_internal_alloc(sizeof *c);
        if (c && pthread_setspecific(cache_key, c) == 0) {
            thread_cache = c;
            thread_cache_state = CACHE_LIVE;
        } else if (c) {
            lrt_internal_free(c, sizeof *c);
        }
    }
    return thread_cache;
}

/* ---------------------------------------------------------------------- */
/* Small objects                                                          */
/* ---------------------------------------------------------------------- */

/* The smallest class that holds n bytes at an address aligned to align (a
 * slot's address is its span's page-aligned base plus a multiple of its
 * size), or 0: none, a large object then. */
static int class_for(size_t n, size_t align)
{
    if (n > LRT_SMALL_MAX || align > LRT_PAGE_SIZE)
        return 0;
    int cls = heap.small_class[(n + 15) / 16];
    while (cls < LRT_NCLASSES && class_size[cls] % align)
        cls++;
    return cls < LRT_NCLASSES ? cls : 0;
}

static void *alloc_small(int cls, bool noscan, bool zero)
{
    int bin = cls * 2 + noscan;
    lrt_heap_cache *cache = current_cache();
    void *p = NULL;
    if (cache) {
        if (cache->bins[bin].n == 0) {
            uint32_t want = heap.cache_max[cls];
            central *ce = &heap.centrals[bin];
            lrt_lock_acquire(&ce->lock);
            cache->bins[bin].n = central_take(ce, cls, noscan, cache->bins[bin].objs, want);
            lrt_lock_release(&ce->lock);
        }
        if (cache->bins[bin].n)
            p = cache->bins[bin].objs[--cache->bins[bin].n];
    } else {
        central *ce = &heap.centrals[bin];
        lrt_lock_acquire(&ce->lock);
        central_take(ce, cls, noscan, &p, 1);
        lrt_lock_release(&ce->lock);
    }
    if (p) {
        if (zero)
            memset(p, 0, class_size[cls]);
        set_in_use(p);
    }
    return p;
}

/* ---------------------------------------------------------------------- */
/* Large objects                                                          */
/* ---------------------------------------------------------------------- */

static void *alloc_large(size_t n, size_t align, bool noscan, bool zero)
{
    size_t npages = (n + LRT_PAGE_SIZE - 1) >> LRT_PAGE_SHIFT;
    if (npages > UINT32_MAX / 2)
        return NULL;
    bool dirty;
    lrt_span *s = lrt_run_new(npages, align, &dirty);
    if (!s)
        return NULL;
    if (zero && dirty)                   /* fresh arena pages are zero already */
        memset((void *)s->base, 0, (size_t)s->npages * LRT_PAGE_SIZE);
    s->alloc_bits = (_Atomic uint64_t *)&s->inline_bits[0];
    s->owned_bits = &s->inline_bits[1];
    s->inline_bits[0] = 1;
    s->inline_bits[1] = 1;
    s->size_class = 0;
    /* The object is the whole run: what malloc_usable_size promises is what
     * the analysis scans (up to the field's 4 GiB). */
    size_t bytes = (size_t)s->npages * LRT_PAGE_SIZE;
    s->elem_size = bytes > UINT32_MAX ? UINT32_MAX & ~(uint32_t)15 : (uint32_t)bytes;
    s->nelems = 1;
    s->nowned = 1;
    s->noscan = noscan;
    lrt_run_publish(s, LRT_SPAN_LARGE);
    return (void *)s->base;
}

/* ---------------------------------------------------------------------- */
/* The API                                                                */
/* ---------------------------------------------------------------------- */

void *lrt_heap_alloc(size_t n, size_t align, bool noscan, bool zero)
{
    assert(align && (align & (align - 1)) == 0);
    if (lrt_heap_init() != 0)
        return NULL;
    if (n == 0)
        n = 1;
    if (align < 16)
        align = 16;
    if (n > lrt_page_heap.reserved)
        return NULL;
    int cls = class_for(n, align);
    return cls ? alloc_small(cls, noscan, zero) : alloc_large(n, align, noscan, zero);
}

static void *alloc(size_t n, bool noscan, const char *call)
{
    if (lrt_heap_init() != 0)
        lrt_panic(call, "cannot reserve the heap arena");
    void *p = lrt_heap_alloc(n, 16, noscan, true);
    if (!p)
        lrt_panic(call, "out of memory (%zu bytes requested)", n);
    return p;
}

void *lrt_alloc(size_t n) { return alloc(n, false, "lrt_alloc"); }
void *lrt_alloc_noscan(size_t n) { return alloc(n, true, "lrt_alloc_noscan"); }

bool lrt_heap_owns(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    const lrt_pages *h = &lrt_page_heap;
    return h->arena && a >= (uintptr_t)h->arena && a < (uintptr_t)h->arena + h->reserved;
}

/* The span of the object that starts at p, or a panic naming call. */
static lrt_span *span_of_object(void *p, const char *call)
{
    uintptr_t a = (uintptr_t)p;
    if (!lrt_pages_used(a))
        lrt_panic(call, "%p was not allocated by %s", p,
                  strcmp(call, "lrt_free") == 0 ? "lrt_alloc" : "malloc");
    lrt_span *s = lrt_span_at(a);
    if (s->state != LRT_SPAN_SMALL && s->state != LRT_SPAN_LARGE)
        lrt_panic(call, "%p is not an allocated object (double free?)", p);
    size_t idx = (a - s->base) / s->elem_size;
    if (a != s->base + idx * s->elem_size)
        lrt_panic(call, "%p is inside an object, not at its start", p);
    return s;
}

size_t lrt_heap_usable(void *p, const char *call)
{
    lrt_span *s = span_of_object(p, call);
    return s->state == LRT_SPAN_LARGE ? (size_t)s->npages * LRT_PAGE_SIZE : s->elem_size;
}

void lrt_heap_free(void *p, const char *call)
{
    if (!p)
        return;
    lrt_span *s = span_of_object(p, call);
    uintptr_t a = (uintptr_t)p;
    size_t idx = (a - s->base) / s->elem_size;
    uint64_t bit = 1ull << (idx % 64);
    uint64_t old = atomic_fetch_and_explicit(&s->alloc_bits[idx / 64], ~bit,
                                             memory_order_acq_rel);
    if (!(old & bit))
        lrt_panic(call, "double free of %p", p);

    if (s->state == LRT_SPAN_LARGE) {
        lrt_run_free(s);
        return;
    }
    int bin = s->size_class * 2 + s->noscan;
    lrt_heap_cache *cache = current_cache();
    if (cache) {
        uint32_t max = heap.cache_max[s->size_class];
        if (cache->bins[bin].n >= max) {
            central *ce = &heap.centrals[bin];
            lrt_lock_acquire(&ce->lock);
            while (cache->bins[bin].n > max / 2)
                central_give(ce, cache->bins[bin].objs[--cache->bins[bin].n]);
            lrt_lock_release(&ce->lock);
        }
        cache->bins[bin].objs[cache->bins[bin].n++] = p;
        return;
    }
    central *ce = &heap.centrals[bin];
    lrt_lock_acquire(&ce->lock);
    central_give(ce, p);
    lrt_lock_release(&ce->lock);
}

void lrt_free(void *p) { lrt_heap_free(p, "lrt_free"); }

/* Around fork(): every heap lock taken in one order (centrals, then the
 * page heap, then internal memory), so the child finds none held by a
 * thread it does not have. */
void lrt_heap_fork_prepare(void)
{
    for (int b = 0; b < 2 * LRT_NCLASSES; b++)
        lrt_lock_acquire(&heap.centrals[b].lock);
    lrt_pages_fork_prepare();
    lrt_internal_fork_prepare();
}

void lrt_heap_fork_done(void)
{
    lrt_internal_fork_done();
    lrt_pages_fork_done();
    for (int b = 2 * LRT_NCLASSES - 1; b >= 0; b--)
        lrt_lock_release(&heap.centrals[b].lock);
}

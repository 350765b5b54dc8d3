/*
 * pages.h — the page heap under the tracked heap (pages.c): the arena's
 * 8 KiB pages handed out in runs, the span table describing each run, and
 * the page map from page to span. heap.c builds size classes on top.
 */
#ifndef LRT_PAGES_H
#define LRT_PAGES_H

#include "heap.h"

/* Set once by lrt_pages_init, then read without a lock; `used` only
 * grows. */
typedef struct lrt_pages {
    char      *arena;
    size_t     reserved;      /* arena size */
    size_t     used;          /* arena bytes ever handed out (atomic) */
    uint32_t  *page_map;      /* arena page -> span index (0: none) */
    lrt_span  *spans;
} lrt_pages;

extern lrt_pages lrt_page_heap;

/* Spans on a doubly linked list: the free runs, a class's partial spans. */
static inline void lrt_span_list_remove(lrt_span **head, lrt_span *s)
{
    if (s->prev) s->prev->next = s->next; else *head = s->next;
    if (s->next) s->next->prev = s->prev;
    s->next = s->prev = NULL;
}

static inline void lrt_span_list_push(lrt_span **head, lrt_span *s)
{
    s->prev = NULL;
    s->next = *head;
    if (*head) (*head)->prev = s;
    *head = s;
}

/* Reserves the arena and its tables; 0 or -errno. Once (heap.c). */
int lrt_pages_init(void);

/* The span holding a in-use arena address. */
static inline lrt_span *lrt_span_at(uintptr_t a)
{
    const lrt_pages *h = &lrt_page_heap;
    return &h->spans[h->page_map[(a - (uintptr_t)h->arena) >> LRT_PAGE_SHIFT]];
}

/* Whether a lies in the part of the arena handed out so far. */
static inline bool lrt_pages_used(uintptr_t a)
{
    const lrt_pages *h = &lrt_page_heap;
    return h->arena && a >= (uintptr_t)h->arena &&
           a < (uintptr_t)h->arena + __atomic_load_n(&h->used, __ATOMIC_ACQUIRE);
}

/* A run of npages pages at a multiple of align (a power of two; at most
 * the page size means any page), not yet visible to lookups, or NULL.
 * *dirty: its bytes may not be zero. */
lrt_span *lrt_run_new(size_t npages, size_t align, bool *dirty);
/* Makes a prepared run visible to lookups as a span in state. */
void lrt_run_publish(lrt_span *s, uint8_t state);
/* Gives a span's pages back, coalesced with free neighbours. */
void lrt_run_free(lrt_span *s);

void lrt_pages_fork_prepare(void);
void lrt_pages_fork_done(void);

#endif

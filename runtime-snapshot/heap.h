/*
 * heap.h — the tracked heap's layout, shared with the snapshot writer.
 *
 *   arena (one reservation, 2 MiB huge pages where the kernel allows)
 *   +--------+--------+-----------------+--------+---- ... unused ----+
 *   | span 1 | span 2 |  span 3 (large) | free   |                    |
 *   +--------+--------+-----------------+--------+--------------------+
 *   page map: arena page (8 KiB) -> span index, so address -> object is
 *   two loads and a division. A span holds objects of one size class (or
 *   one large object); alloc_bits say which slots are in use.
 */
#ifndef LRT_HEAP_H
#define LRT_HEAP_H

#include "runtime.h"

#define LRT_PAGE_SHIFT 13
#define LRT_PAGE_SIZE  ((size_t)1 << LRT_PAGE_SHIFT)
#define LRT_NCLASSES   57          /* size classes 1..56; 0 means large */
#define LRT_SMALL_MAX  32768

enum lrt_span_state {              /* the snapshot format's values */
    LRT_SPAN_UNUSED = LS_SPAN_UNUSED, LRT_SPAN_FREE = LS_SPAN_FREE,
    LRT_SPAN_SMALL = LS_SPAN_SMALL, LRT_SPAN_LARGE = LS_SPAN_LARGE,
};

typedef struct lrt_span {
    uintptr_t  base;          /* first byte */
    uint32_t   npages;
    uint8_t    state;         /* enum lrt_span_state */
    uint8_t    noscan;        /* objects hold no pointers */
    uint8_t    size_class;    /* 0 for a large object */
    uint8_t    in_partial;    /* on its class's list of spans with room */
    uint32_t   elem_size;     /* object size (large: the rounded request) */
    uint32_t   nelems;
    uint32_t   nowned;        /* slots in use or in a worker's cache */
    uint32_t   scan_hint;     /* first word of owned_bits that may have room */
    _Atomic uint64_t *alloc_bits;  /* 1 = in use: what the analysis reads */
    uint64_t  *owned_bits;    /* 1 = in use or cached (class lock) */
    struct lrt_span *next, *prev;  /* partial list or free-run list */
    uint64_t   inline_bits[2];/* bitmaps of spans with <= 64 objects */
} lrt_span;


#endif

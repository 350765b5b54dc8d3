/*
 * chan.h — the channel object, shared by chan.c and select.c.
 *
 *   lrt_alloc'd object (tracked heap, scanned):
 *   +------------------------------+---------------------------------+
 *   | struct lrt_chan              | buffer: cap slots of elem_size  |
 *   +------------------------------+---------------------------------+
 *
 * The queues point into internal memory (waiters); the analysis does not
 * follow them. Everything is guarded by `lock`.
 */
#ifndef LRT_CHAN_H
#define LRT_CHAN_H

#include "runtime.h"

struct lrt_chan {
    lrt_lock  lock;
    uint32_t  closed;
    size_t    elem_size;
    size_t    cap;          /* buffer slots; 0: unbuffered */
    size_t    len;          /* buffered elements */
    size_t    head;         /* slot of the oldest buffered element */
    lrt_waitq recvq;        /* tasks blocked receiving */
    lrt_waitq sendq;        /* tasks blocked sending */
    _Alignas(16) unsigned char buf[];
};

/* The outcome of trying one operation with the lock held. */
enum lrt_chan_try {
    LRT_CHAN_BLOCK = 0,     /* would block: nothing done */
    LRT_CHAN_DONE,          /* done; *woken (may be NULL) must be lrt_wake'd after unlock */
    LRT_CHAN_CLOSED,        /* receive: closed and drained; send: closed (misuse) */
};

int lrt_chan_try_send(lrt_chan *c, const void *elem, lrt_waiter **woken);
int lrt_chan_try_recv(lrt_chan *c, void *elem, lrt_waiter **woken);

#endif

/*
 * chan.c — channels: make, send, receive, close, len, cap.
 *
 * Go's semantics and Go's shape: a lock per channel, a ring buffer inline
 * after the header, and queues of blocked senders and receivers. A send to
 * a blocked receiver (or a receive from a blocked sender) copies straight
 * between the two tasks' buffers, then readies the other task; wake-ups go
 * through lrt_claim so a select that several channels race for is woken
 * once.
 */
#include "chan.h"

#include <string.h>

/* Slot i of the ring, for i < 2 * cap: no division on the fast path. */
static inline unsigned char *slot(lrt_chan *c, size_t i)
{
    if (i >= c->cap)
        i -= c->cap;
    return c->buf + i * c->elem_size;
}

static inline size_t next_slot(lrt_chan *c, size_t i)
{
    return i + 1 == c->cap ? 0 : i + 1;
}

static inline void copy_elem(void *dst, const void *src, size_t size)
{
    if (!dst)
        return;
    switch (size) {              /* the common sizes without a call */
    case 0: break;
    case 4: memcpy(dst, src, 4); break;
    case 8: memcpy(dst, src, 8); break;
    case 16: memcpy(dst, src, 16); break;
    default: memcpy(dst, src, size); break;
    }
}

lrt_chan *lrt_chan_make(size_t elem_size, size_t cap)
{
    if (elem_size > (1u << 16))
        lrt_panic("lrt_chan_make", "element size %zu is too large (at most 65536)", elem_size);
    if (cap && elem_size && cap > ((size_t)1 << 40) / elem_size)
        lrt_panic("lrt_chan_make", "buffer of %zu elements is too large", cap);
    lrt_chan *c = lrt_alloc(sizeof *c + cap * elem_size);
    c->elem_size = elem_size;
    c->cap = cap;
    return c;
}

void lrt_chan_free(lrt_chan *c)
{
    if (!c)
        return;
    lrt_lock_acquire(&c->lock);
    bool busy = !lrt_waitq_empty(&c->recvq) || !lrt_waitq_empty(&c->sendq);
    lrt_lock_release(&c->lock);
    if (busy)
        lrt_panic("lrt_chan_free", "channel %p still has tasks waiting on it", (void *)c);
    lrt_free(c);
}

int lrt_chan_try_send(lrt_chan *c, const void *elem, lrt_waiter **woken)
{
    *woken = NULL;
    if (c->closed)
        return LRT_CHAN_CLOSED;
    lrt_waiter *w = c->recvq.head ? lrt_waitq_pop_claimed(&c->recvq) : NULL;
    if (w) {
        copy_elem(w->elem, elem, c->elem_size);
        w->ok = true;
        *woken = w;
        return LRT_CHAN_DONE;
    }
    if (c->len < c->cap) {
        copy_elem(slot(c, c->head + c->len), elem, c->elem_size);
        c->len++;
        return LRT_CHAN_DONE;
    }
    return LRT_CHAN_BLOCK;
}

int lrt_chan_try_recv(lrt_chan *c, void *elem, lrt_waiter **woken)
{
    *woken = NULL;
    lrt_waiter *w = c->sendq.head ? lrt_waitq_pop_claimed(&c->sendq) : NULL;
    if (w) {
        if (c->cap == 0) {
            copy_elem(elem, w->elem, c->elem_size);
        } else {
            /* Full buffer: take the oldest, the sender's goes to the end. */
            copy_elem(elem, slot(c, c->head), c->elem_size);
            copy_elem(slot(c, c->head), w->elem, c->elem_size);
            c->head = next_slot(c, c->head);
        }
        *woken = w;
        return LRT_CHAN_DONE;
    }
    if (c->len > 0) {
        copy_elem(elem, slot(c, c->head), c->elem_size);
        memset(slot(c, c->head), 0, c->elem_size);   /* no stale pointers for the analysis */
        c->head = next_slot(c, c->head);
        c->len--;
        return LRT_CHAN_DONE;
    }
    if (c->closed) {
        if (elem && c->elem_size)
            memset(elem, 0, c->elem_size);
        return LRT_CHAN_CLOSED;
    }
    return LRT_CHAN_BLOCK;
}

void lrt_chan_send(lrt_chan *c, const void *elem)
{
    if (!c) {
        lrt_task_require("lrt_chan_send");
        lrt_park_forever(LRT_WAIT_CHAN_SEND_NIL);
    }
    lrt_waiter *woken;
    lrt_lock_acquire(&c->lock);
    int r = lrt_chan_try_send(c, elem, &woken);
    if (r != LRT_CHAN_BLOCK) {
        lrt_lock_release(&c->lock);
        if (r == LRT_CHAN_CLOSED)
            lrt_panic("lrt_chan_send", "send on closed channel");
        if (woken)
            lrt_wake(woken);
        return;
    }
    lrt_task *t = lrt_task_current();
    if (!t) {
        lrt_lock_release(&c->lock);
        t = lrt_task_require("lrt_chan_send");
    }
    lrt_waiter *w = &t->waiter;
    w->elem = (void *)elem;
    w->case_index = 0;
    w->contested = false;
    w->closed = false;
    lrt_wait_begin(t);
    lrt_wait_on(t, c);
    lrt_waitq_push(&c->sendq, w);
    lrt_park(LRT_WAIT_CHAN_SEND, lrt_unlock_cb, &c->lock);
    if (w->closed)
        lrt_panic("lrt_chan_send", "send on closed channel");
}

bool lrt_chan_recv(lrt_chan *c, void *elem)
{
    if (!c) {
        lrt_task_require("lrt_chan_recv");
        lrt_park_forever(LRT_WAIT_CHAN_RECV_NIL);
    }
    lrt_waiter *woken;
    lrt_lock_acquire(&c->lock);
    int r = lrt_chan_try_recv(c, elem, &woken);
    if (r != LRT_CHAN_BLOCK) {
        lrt_lock_release(&c->lock);
        if (woken)
            lrt_wake(woken);
        return r == LRT_CHAN_DONE;
    }
    lrt_task *t = lrt_task_current();
    if (!t) {
        lrt_lock_release(&c->lock);
        t = lrt_task_require("lrt_chan_recv");
    }
    lrt_waiter *w = &t->waiter;
    w->elem = elem;
    w->case_index = 0;
    w->contested = false;
    w->ok = false;
    lrt_wait_begin(t);
    lrt_wait_on(t, c);
    lrt_waitq_push(&c->recvq, w);
    lrt_park(LRT_WAIT_CHAN_RECV, lrt_unlock_cb, &c->lock);
    return w->ok;
}

void lrt_chan_close(lrt_chan *c)
{
    if (!c)
        lrt_panic("lrt_chan_close", "close of nil channel");
    lrt_waiter *wake = NULL, *w;
    lrt_lock_acquire(&c->lock);
    if (c->closed) {
        lrt_lock_release(&c->lock);
        lrt_panic("lrt_chan_close", "close of closed channel");
    }
    c->closed = 1;
    while ((w = lrt_waitq_pop_claimed(&c->recvq))) {
        if (w->elem && c->elem_size)
            memset(w->elem, 0, c->elem_size);
        w->ok = false;
        w->next = wake;
        wake = w;
    }
    while ((w = lrt_waitq_pop_claimed(&c->sendq))) {
        w->closed = true;        /* the sender panics when it wakes */
        w->next = wake;
        wake = w;
    }
    lrt_lock_release(&c->lock);
    while (wake) {
        w = wake;
        wake = w->next;          /* read before the task can reuse it */
        lrt_wake(w);
    }
}

size_t lrt_chan_len(lrt_chan *c)
{
    if (!c)
        return 0;
    lrt_lock_acquire(&c->lock);
    size_t n = c->len;
    lrt_lock_release(&c->lock);
    return n;
}

size_t lrt_chan_cap(lrt_chan *c)
{
    return c ? c->cap : 0;
}

/*
 * select.c — lrt_select: wait on any number of channel operations.
 *
 * Go's algorithm: lock every channel involved in address order (so two
 * selects never deadlock), try the cases in a random order (fairness), and
 * if none is ready enqueue one waiter per case on every channel and park.
 * The first operation to claim the task wins; when the task runs again it
 * locks everything once more and takes its other waiters off their queues.
 * A timeout is the task's own timer racing for the same claim.
 */
#include "chan.h"

#include <stdlib.h>
#include <string.h>

#define STACK_CASES 64

typedef struct lockset {
    lrt_chan **chans;        /* sorted, without duplicates */
    int        count;
} lockset;

static int compare_chans(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(lrt_chan *const *)a, y = (uintptr_t)*(lrt_chan *const *)b;
    return x < y ? -1 : x > y;
}

static void lock_all(const lockset *ls)
{
    for (int i = 0; i < ls->count; i++)
        lrt_lock_acquire(&ls->chans[i]->lock);
}

static void unlock_all(void *arg)
{
    const lockset *ls = arg;
    for (int i = ls->count - 1; i >= 0; i--)
        lrt_lock_release(&ls->chans[i]->lock);
}

/* Tries the cases in a random order with every channel locked. Returns the
 * case that went through, or -1. */
static int try_cases(lrt_case *cases, int n, int *order, lrt_waiter **woken)
{
    for (int i = n - 1; i > 0; i--) {          /* Fisher-Yates */
        int j = (int)lrt_random((uint32_t)i + 1);
        int tmp = order[i]; order[i] = order[j]; order[j] = tmp;
    }
    for (int k = 0; k < n; k++) {
        lrt_case *cs = &cases[order[k]];
        if (!cs->chan)
            continue;
        int r;
        if (cs->dir == LRT_RECV) {
            r = lrt_chan_try_recv(cs->chan, cs->elem, woken);
            if (r != LRT_CHAN_BLOCK) {
                cs->ok = r == LRT_CHAN_DONE;
                return order[k];
            }
        } else {
            r = lrt_chan_try_send(cs->chan, cs->elem, woken);
            if (r == LRT_CHAN_CLOSED)
                return -2 - order[k];
            if (r == LRT_CHAN_DONE)
                return order[k];
        }
    }
    return -1;
}

/* Grows one of the task's select arrays in internal memory. */
static void *ensure(void *inline_buf, void **buf, uint32_t *capacity, uint32_t n, size_t elem)
{
    if (n <= LRT_INLINE_WAITS)
        return inline_buf;
    if (*capacity < n) {
        lrt_internal_free(*buf, (size_t)*capacity * elem);
        *buf = lrt_internal_alloc((size_t)n * elem);
        *capacity = n;
    }
    return *buf;
}

int lrt_select(lrt_case *cases, int n, int64_t timeout_ns)
{
    if (n < 0 || (n > 0 && !cases))
        lrt_panic("lrt_select", "invalid cases (%p, %d)", (void *)cases, n);
    if (n == 0) {
        if (timeout_ns == 0)
            return -1;
        if (timeout_ns > 0) {
            lrt_sleep(timeout_ns);
            return -1;
        }
        lrt_task_require("lrt_select");
        lrt_park_forever(LRT_WAIT_SELECT_NO_CASES);
    }

    int stack_order[STACK_CASES];
    lrt_chan *stack_chans[STACK_CASES];
    int *order = n <= STACK_CASES ? stack_order : lrt_internal_alloc((size_t)n * sizeof *order);
    lrt_chan **chans = n <= STACK_CASES ? stack_chans : lrt_internal_alloc((size_t)n * sizeof *chans);

    int nonnil = 0;
    for (int i = 0; i < n; i++) {
        if (cases[i].dir != LRT_SEND && cases[i].dir != LRT_RECV)
            lrt_panic("lrt_select", "case %d: dir must be LRT_SEND or LRT_RECV", i);
        order[i] = i;
        if (cases[i].chan)
            chans[nonnil++] = cases[i].chan;
    }
    if (nonnil > 1)
        qsort(chans, (size_t)nonnil, sizeof *chans, compare_chans);
    lockset ls = { chans, 0 };
    for (int i = 0; i < nonnil; i++)
        if (i == 0 || chans[i] != chans[i - 1])
            chans[ls.count++] = chans[i];

    lrt_waiter *woken = NULL;
    lock_all(&ls);
    int fired = try_cases(cases, n, order, &woken);
    if (fired != -1 || timeout_ns == 0) {
        unlock_all(&ls);
        goto done;
    }

    lrt_task *t = lrt_task_current();
    if (!t) {
        unlock_all(&ls);
        t = lrt_task_require("lrt_select");
    }
    lrt_wait_begin(t);
    lrt_waiter *waiters = ensure(t->waiter_inline, (void **)&t->select_waiters,
                                 &t->select_capacity, (uint32_t)nonnil, sizeof(lrt_waiter));
    uintptr_t *addrs = ensure(t->wait_addr_inline, (void **)&t->wait_addrs_extra,
                              &t->wait_addr_capacity, (uint32_t)nonnil, sizeof(uintptr_t));
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (!cases[i].chan)
            continue;
        lrt_waiter *w = &waiters[k];
        memset(w, 0, sizeof *w);
        w->task = t;
        w->elem = cases[i].elem;
        w->case_index = i;
        w->contested = true;
        lrt_waitq_push(cases[i].dir == LRT_RECV ? &cases[i].chan->recvq
                                                : &cases[i].chan->sendq, w);
        addrs[k++] = (uintptr_t)cases[i].chan;
    }
    t->wait_addrs = addrs;
    t->wait_count = (uint32_t)nonnil;
    if (timeout_ns > 0)
        lrt_task_timer_arm(t, lrt_now() + timeout_ns);
    lrt_park(timeout_ns > 0 ? LRT_WAIT_SELECT_TIMEOUT : LRT_WAIT_SELECT, unlock_all, &ls);

    if (timeout_ns > 0)
        lrt_task_timer_stop(t);
    fired = t->wake_case;
    lock_all(&ls);
    k = 0;
    for (int i = 0; i < n; i++) {
        if (!cases[i].chan)
            continue;
        lrt_waiter *w = &waiters[k++];
        lrt_waitq_remove(cases[i].dir == LRT_RECV ? &cases[i].chan->recvq
                                                  : &cases[i].chan->sendq, w);
        if (i == fired) {
            if (cases[i].dir == LRT_RECV)
                cases[i].ok = w->ok;
            else if (w->closed)
                fired = -2 - i;
        }
    }
    unlock_all(&ls);

done:
    if (order != stack_order) {
        lrt_internal_free(order, (size_t)n * sizeof *order);
        lrt_internal_free(chans, (size_t)n * sizeof *chans);
    }
    if (woken)
        lrt_wake(woken);
    if (fired <= -2)
        lrt_panic("lrt_select", "case %d: send on closed channel", -2 - fired);
    return fired;
}

/*
 * test_chaos.c — the channel machinery under random load for a bounded
 * time: producers send with plain sends or selects that a cancellation
 * can win, consumers receive with plain receives or selects over several
 * channels with timeouts, channels close whenever their last sender is
 * done, contexts are cancelled at random. Whatever the interleaving,
 * every message a send completed is received exactly once, and nothing
 * else is received.
 *
 * One epoch: fresh channels (random capacities 0-3), producers assigned
 * to channels at random, consumers over all of them; epochs run until the
 * time is up (1.5 s), each checked on its own.
 */
#include "rttest.h"

#include <stdlib.h>
#include <string.h>

enum { CHANS = 6, PRODUCERS = 12, CONSUMERS = 6, PER_PRODUCER = 400 };

typedef struct epoch {
    lrt_chan *chans[CHANS];
    int       senders[CHANS];          /* producers still sending on each */
    lrt_mutex lock;                    /* guards senders */
    lrt_ctx  *cancel[PRODUCERS];       /* one per producer */
    lrt_wg    done;
    uint8_t   sent[PRODUCERS][PER_PRODUCER];
    int       received[PRODUCERS][PER_PRODUCER];
    int       stray;                   /* received values no send completed */
} epoch;

typedef struct producer_arg { epoch *e; int index; int chan; unsigned seed; } producer_arg;
typedef struct consumer_arg { epoch *e; unsigned seed; } consumer_arg;

static void producer(void *arg)
{
    producer_arg *p = arg;
    epoch *e = p->e;
    lrt_chan *c = e->chans[p->chan];
    for (int seq = 0; seq < PER_PRODUCER; seq++) {
        uint64_t id = (uint64_t)p->index << 32 | (uint64_t)seq;
        if (rand_r(&p->seed) % 2) {
            lrt_chan_send(c, &id);
        } else {
            lrt_case cases[] = {
                { .chan = c, .dir = LRT_SEND, .elem = &id },
                { .chan = lrt_ctx_done(e->cancel[p->index]), .dir = LRT_RECV },
            };
            if (lrt_select(cases, 2, -1) != 0)
                break;                 /* cancelled: this and the rest unsent */
        }
        RT_STORE(&e->sent[p->index][seq], 1);
        if (rand_r(&p->seed) % 16 == 0)
            lrt_yield();
    }
    /* The last sender closes: closes land at random times. */
    lrt_mutex_lock(&e->lock);
    bool last = --e->senders[p->chan] == 0;
    lrt_mutex_unlock(&e->lock);
    if (last)
        lrt_chan_close(c);
    lrt_wg_done(&e->done);
}

static void record(epoch *e, uint64_t id)
{
    uint32_t who = (uint32_t)(id >> 32), seq = (uint32_t)id;
    if (who >= PRODUCERS || seq >= PER_PRODUCER)
        RT_ADD(&e->stray, 1);
    else
        RT_ADD(&e->received[who][seq], 1);
}

static void consumer(void *arg)
{
    consumer_arg *k = arg;
    epoch *e = k->e;
    bool open[CHANS];
    int left = CHANS;
    for (int i = 0; i < CHANS; i++)
        open[i] = true;
    while (left > 0) {
        uint64_t id;
        int pick = (int)(rand_r(&k->seed) % CHANS);
        if (rand_r(&k->seed) % 3 == 0 && open[pick]) {
            if (lrt_chan_recv(e->chans[pick], &id))
                record(e, id);
            else
                open[pick] = false, left--;
            continue;
        }
        /* A select over every open channel, sometimes with a timeout. */
        lrt_case cases[CHANS];
        uint64_t ids[CHANS];
        int map[CHANS], n = 0;
        for (int i = 0; i < CHANS; i++) {
            if (!open[i])
                continue;
            cases[n] = (lrt_case){ .chan = e->chans[i], .dir = LRT_RECV, .elem = &ids[n] };
            map[n++] = i;
        }
        int64_t timeout = rand_r(&k->seed) % 4 == 0 ? (int64_t)(rand_r(&k->seed) % 200) * 1000 : -1;
        int fired = lrt_select(cases, n, timeout);
        if (fired < 0)
            continue;                  /* timed out */
        if (cases[fired].ok)
            record(e, ids[fired]);
        else
            open[map[fired]] = false, left--;
    }
    lrt_wg_done(&e->done);
}

static void canceller(void *arg)
{
    producer_arg *c = arg;             /* e and seed */
    epoch *e = c->e;
    for (int i = 0; i < PRODUCERS / 3; i++) {
        lrt_sleep((int64_t)(rand_r(&c->seed) % 300) * 1000);
        lrt_ctx_cancel(e->cancel[rand_r(&c->seed) % PRODUCERS]);
    }
    lrt_wg_done(&e->done);
}

typedef struct outcome {
    int epochs, failures, strays;
    long delivered, cancelled;
} outcome;

static void chaos(void *arg)
{
    outcome *out = arg;
    unsigned seed = 20261123;
    int64_t end = lrt_now() + 1500 * LRT_MILLISECOND;
    while (lrt_now() < end) {
        epoch *e = calloc(1, sizeof *e);
        for (int i = 0; i < CHANS; i++)
            e->chans[i] = lrt_chan_make(sizeof(uint64_t), rand_r(&seed) % 4);
        producer_arg pa[PRODUCERS + 1];
        consumer_arg ca[CONSUMERS];
        for (int i = 0; i < PRODUCERS; i++) {
            e->cancel[i] = lrt_ctx_with_cancel(lrt_ctx_background());
            pa[i] = (producer_arg){ e, i, i % CHANS, rand_r(&seed) };  /* every channel has senders */
            e->senders[pa[i].chan]++;
        }
        pa[PRODUCERS] = (producer_arg){ e, 0, 0, rand_r(&seed) };
        lrt_wg_add(&e->done, PRODUCERS + CONSUMERS + 1);
        for (int i = 0; i < CONSUMERS; i++) {
            ca[i] = (consumer_arg){ e, rand_r(&seed) };
            lrt_go(consumer, &ca[i]);
        }
        lrt_go(canceller, &pa[PRODUCERS]);
        for (int i = 0; i < PRODUCERS; i++)
            lrt_go(producer, &pa[i]);
        lrt_wg_wait(&e->done);
        for (int p = 0; p < PRODUCERS; p++) {
            for (int s = 0; s < PER_PRODUCER; s++) {
                int got = RT_LOAD(&e->received[p][s]);
                if (got != RT_LOAD(&e->sent[p][s]))
                    out->failures++;   /* lost, duplicated, or received unsent */
                out->delivered += got == 1;
                out->cancelled += !e->sent[p][s];
            }
        }
        out->strays += e->stray;
        for (int i = 0; i < PRODUCERS; i++)
            lrt_ctx_free(e->cancel[i]);
        for (int i = 0; i < CHANS; i++)
            lrt_chan_free(e->chans[i]);
        free(e);
        out->epochs++;
    }
}

static void test_every_message_is_delivered_exactly_once(void **state)
{
    (void)state;
    outcome out = { 0 };
    rt_run(chaos, &out);
    print_message("chaos: %d epochs, %ld messages delivered, %ld cancelled before sending\n",
                  out.epochs, out.delivered, out.cancelled);
    assert_true(out.epochs >= 1);
    assert_int_equal(out.failures, 0);
    assert_int_equal(out.strays, 0);
    assert_true(out.delivered > 0 && out.cancelled > 0);   /* both paths were taken */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_message_is_delivered_exactly_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

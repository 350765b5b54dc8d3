/*
 * test_chan.c — channels: unbuffered hand-off, buffered FIFO, len and cap,
 * blocking when full, close, signal-only channels, NULL elements.
 */
#include "rttest.h"

#include <string.h>

enum { ROUNDS = 10000, RECEIVERS = 8 };

static struct {
    int    values[64];
    bool   ok[16];
    int    zeroes, flag, flag_before, mismatches;
    size_t len[8], cap[8];
    long   rounds;
} r;

/* --- unbuffered -------------------------------------------------------------- */

static void echo(void *c)
{
    int v;
    while (lrt_chan_recv(c, &v)) {
        v = v * 2 + 1;
        lrt_chan_send(c, &v);
    }
}

static void ping_pong_body(void *arg)
{
    (void)arg;
    lrt_chan *c = lrt_chan_make(sizeof(int), 0);
    lrt_go(echo, c);
    for (int i = 0; i < ROUNDS; i++) {
        int v = i;
        lrt_chan_send(c, &v);
        v = -1;
        lrt_chan_recv(c, &v);
        if (v != i * 2 + 1)
            r.mismatches++;
        r.rounds++;
    }
    lrt_chan_close(c);
}

static void test_unbuffered_ping_pong_carries_every_value(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(ping_pong_body, NULL);
    assert_int_equal(r.rounds, ROUNDS);
    assert_int_equal(r.mismatches, 0);
}

static void rendezvous_sender(void *c)
{
    int v = 42;
    lrt_chan_send(c, &v);
    RT_STORE(&r.flag, 1);
}

static void rendezvous_body(void *arg)
{
    (void)arg;
    lrt_chan *c = lrt_chan_make(sizeof(int), 0);
    lrt_go(rendezvous_sender, c);
    lrt_sleep(10 * LRT_MILLISECOND);
    r.flag_before = RT_LOAD(&r.flag);              /* nobody received yet */
    r.len[0] = lrt_chan_len(c);
    lrt_chan_recv(c, &r.values[0]);
    for (int i = 0; i < 1000 && !RT_LOAD(&r.flag); i++)
        lrt_sleep(LRT_MILLISECOND);
}

static void test_unbuffered_send_blocks_until_received(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(rendezvous_body, NULL);
    assert_int_equal(r.flag_before, 0);
    assert_int_equal(r.len[0], 0);                 /* no buffer to count */
    assert_int_equal(r.values[0], 42);
    assert_int_equal(r.flag, 1);
}

/* --- buffered ------------------------------------------------------------------ */

static void fifo_body(void *arg)
{
    (void)arg;
    lrt_chan *c = lrt_chan_make(sizeof(int), 16);
    for (int i = 0; i < 16; i++)
        lrt_chan_send(c, &i);                      /* never blocks: room for 16 */
    for (int i = 0; i < 16; i++)
        lrt_chan_recv(c, &r.values[i]);
    /* Interleaved: the ring wraps around and stays FIFO. */
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 11; i++) {
            int v = round * 100 + i;
            lrt_chan_send(c, &v);
        }
        for (int i = 0; i < 11; i++) {
            int v = -1;
            lrt_chan_recv(c, &v);
            if (v != round * 100 + i)
                r.mismatches++;
        }
    }
}

static void test_buffered_channel_is_fifo(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(fifo_body, NULL);
    for (int i = 0; i < 16; i++)
        assert_int_equal(r.values[i], i);
    assert_int_equal(r.mismatches, 0);
}

static void len_cap_body(void *arg)
{
    (void)arg;
    lrt_chan *u = lrt_chan_make(sizeof(int), 0), *b = lrt_chan_make(sizeof(int), 16);
    r.len[0] = lrt_chan_len(u);
    r.cap[0] = lrt_chan_cap(u);
    r.len[1] = lrt_chan_len(b);
    r.cap[1] = lrt_chan_cap(b);
    for (int i = 0; i < 5; i++)
        lrt_chan_send(b, &i);
    r.len[2] = lrt_chan_len(b);
    for (int i = 5; i < 16; i++)
        lrt_chan_send(b, &i);
    r.len[3] = lrt_chan_len(b);
    r.cap[3] = lrt_chan_cap(b);
    lrt_chan_recv(b, NULL);
    r.len[4] = lrt_chan_len(b);
    lrt_chan_close(b);
    r.len[5] = lrt_chan_len(b);                    /* close keeps the buffer */
    r.cap[5] = lrt_chan_cap(b);
}

static void test_len_counts_buffered_elements_and_cap_is_the_buffer_size(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(len_cap_body, NULL);
    assert_int_equal(r.len[0], 0);
    assert_int_equal(r.cap[0], 0);
    assert_int_equal(r.len[1], 0);
    assert_int_equal(r.cap[1], 16);
    assert_int_equal(r.len[2], 5);
    assert_int_equal(r.len[3], 16);
    assert_int_equal(r.cap[3], 16);
    assert_int_equal(r.len[4], 15);
    assert_int_equal(r.len[5], 15);
    assert_int_equal(r.cap[5], 16);
}

static void overfill(void *c)
{
    for (int i = 0; i < 3; i++)
        lrt_chan_send(c, &i);                      /* the third one blocks */
    RT_STORE(&r.flag, 1);
}

static void full_body(void *arg)
{
    (void)arg;
    lrt_chan *c = lrt_chan_make(sizeof(int), 2);
    lrt_go(overfill, c);
    lrt_sleep(10 * LRT_MILLISECOND);
    r.flag_before = RT_LOAD(&r.flag);
    r.len[0] = lrt_chan_len(c);
    lrt_chan_recv(c, &r.values[0]);                /* makes room */
    for (int i = 0; i < 1000 && !RT_LOAD(&r.flag); i++)
        lrt_sleep(LRT_MILLISECOND);
    r.len[1] = lrt_chan_len(c);
    lrt_chan_recv(c, &r.values[1]);
    lrt_chan_recv(c, &r.values[2]);
}

static void test_send_on_a_full_buffer_blocks_until_a_receive_makes_room(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(full_body, NULL);
    assert_int_equal(r.flag_before, 0);
    assert_int_equal(r.len[0], 2);
    assert_int_equal(r.flag, 1);
    assert_int_equal(r.len[1], 2);
    for (int i = 0; i < 3; i++)
        assert_int_equal(r.values[i], i);
}

/* --- close ---------------------------------------------------------------------- */

typedef struct recv_result { lrt_chan *c; bool ok; int value; lrt_wg *started; } recv_result;

static void blocked_receiver(void *arg)
{
    recv_result *rr = arg;
    rr->value = 77;
    lrt_wg_done(rr->started);
    rr->ok = lrt_chan_recv(rr->c, &rr->value);
    RT_ADD(&r.flag, 1);
}

static void close_body(void *arg)
{
    (void)arg;
    lrt_chan *c = lrt_chan_make(sizeof(int), 0);
    lrt_wg *started = lrt_alloc(sizeof *started);
    recv_result *rr = lrt_alloc(RECEIVERS * sizeof *rr);
    lrt_wg_add(started, RECEIVERS);
    for (int i = 0; i < RECEIVERS; i++) {
        rr[i] = (recv_result){ .c = c, .ok = true, .started = started };
        lrt_go(blocked_receiver, &rr[i]);
    }
    lrt_wg_wait(started);
    lrt_sleep(5 * LRT_MILLISECOND);                /* let them park in recv */
    r.flag_before = RT_LOAD(&r.flag);
    lrt_chan_close(c);
    for (int i = 0; i < 2000 && RT_LOAD(&r.flag) < RECEIVERS; i++)
        lrt_sleep(LRT_MILLISECOND);
    for (int i = 0; i < RECEIVERS; i++) {
        r.ok[i] = rr[i].ok;
        r.zeroes += rr[i].value == 0;
    }
}

static void test_close_wakes_every_blocked_receiver_with_false_and_zero(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(close_body, NULL);
    assert_int_equal(r.flag_before, 0);            /* all were blocked */
    assert_int_equal(r.flag, RECEIVERS);           /* all woke */
    for (int i = 0; i < RECEIVERS; i++)
        assert_false(r.ok[i]);
    assert_int_equal(r.zeroes, RECEIVERS);         /* elem zeroed */
}

static void drain_body(void *arg)
{
    (void)arg;
    lrt_chan *c = lrt_chan_make(sizeof(int), 4);
    for (int i = 1; i <= 3; i++)
        lrt_chan_send(c, &i);
    lrt_chan_close(c);
    int v;
    for (int i = 0; i < 3; i++) {
        v = -1;
        r.ok[i] = lrt_chan_recv(c, &v);
        r.values[i] = v;
    }
    for (int i = 3; i < 5; i++) {                  /* closed and drained, again */
        v = 5;
        r.ok[i] = lrt_chan_recv(c, &v);
        r.values[i] = v;
    }
}

static void test_receive_drains_the_buffer_after_close_then_returns_false(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(drain_body, NULL);
    for (int i = 0; i < 3; i++) {
        assert_true(r.ok[i]);
        assert_int_equal(r.values[i], i + 1);
    }
    for (int i = 3; i < 5; i++) {
        assert_false(r.ok[i]);
        assert_int_equal(r.values[i], 0);
    }
}

/* --- signal-only channels and NULL elements ------------------------------------- */

static void signal_sender(void *c) { lrt_chan_send(c, NULL); }

static void signal_body(void *arg)
{
    (void)arg;
    lrt_chan *c = lrt_chan_make(0, 0);             /* elements of size 0 */
    for (int i = 0; i < 5; i++)
        lrt_go(signal_sender, c);
    for (int i = 0; i < 5; i++)
        r.ok[i] = lrt_chan_recv(c, NULL);
    lrt_chan *b = lrt_chan_make(0, 3);             /* a counting semaphore */
    for (int i = 0; i < 3; i++)
        lrt_chan_send(b, NULL);
    r.len[0] = lrt_chan_len(b);
    r.cap[0] = lrt_chan_cap(b);
    lrt_chan_recv(b, NULL);
    r.len[1] = lrt_chan_len(b);
    lrt_chan_close(b);
    r.ok[5] = lrt_chan_recv(b, NULL);
    r.ok[6] = lrt_chan_recv(b, NULL);
    r.ok[7] = lrt_chan_recv(b, NULL);              /* drained: false */
}

static void test_signal_only_channels_carry_no_bytes(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(signal_body, NULL);
    for (int i = 0; i < 5; i++)
        assert_true(r.ok[i]);
    assert_int_equal(r.len[0], 3);
    assert_int_equal(r.cap[0], 3);
    assert_int_equal(r.len[1], 2);
    assert_true(r.ok[5]);
    assert_true(r.ok[6]);
    assert_false(r.ok[7]);
}

static void int_sender(void *c) { int v = 9; lrt_chan_send(c, &v); }

static void null_elem_body(void *arg)
{
    (void)arg;
    lrt_chan *c = lrt_chan_make(sizeof(int), 0);
    lrt_go(int_sender, c);
    r.ok[0] = lrt_chan_recv(c, NULL);              /* the value is dropped */
    lrt_chan *b = lrt_chan_make(sizeof(int), 2);
    int v = 4;
    lrt_chan_send(b, &v);
    v = 5;
    lrt_chan_send(b, &v);
    r.ok[1] = lrt_chan_recv(b, NULL);
    r.ok[2] = lrt_chan_recv(b, &r.values[0]);      /* the second value follows */
    lrt_chan_close(b);
    r.ok[3] = lrt_chan_recv(b, NULL);
}

static void test_receive_into_null_discards_the_element(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(null_elem_body, NULL);
    assert_true(r.ok[0]);
    assert_true(r.ok[1]);
    assert_true(r.ok[2]);
    assert_int_equal(r.values[0], 5);
    assert_false(r.ok[3]);
}

/* --- many producers and consumers ----------------------------------------------- */

enum { PRODUCERS = 8, CONSUMERS = 8, ITEMS = 10000 };

typedef struct mpmc { lrt_chan *c, *results; int base; } mpmc;

static void producer(void *arg)
{
    mpmc *m = arg;
    for (int i = 0; i < ITEMS; i++) {
        int v = m->base + i;
        lrt_chan_send(m->c, &v);
    }
    lrt_chan_send(m->results, (long[2]){ 0, 0 });
}

static void consumer(void *arg)
{
    mpmc *m = arg;
    long got[2] = { 0, 0 };                        /* sum, count */
    int v;
    while (lrt_chan_recv(m->c, &v)) {
        got[0] += v;
        got[1]++;
    }
    lrt_chan_send(m->results, got);
}

static void mpmc_body(void *arg)
{
    (void)arg;
    lrt_chan *c = lrt_chan_make(sizeof(int), 4);
    lrt_chan *results = lrt_chan_make(2 * sizeof(long), 0);
    mpmc *ms = lrt_alloc(PRODUCERS * sizeof *ms);
    for (int i = 0; i < PRODUCERS; i++)
        ms[i] = (mpmc){ c, results, i * ITEMS };
    for (int i = 0; i < CONSUMERS; i++)
        lrt_go(consumer, &ms[0]);
    for (int i = 0; i < PRODUCERS; i++)
        lrt_go(producer, &ms[i]);
    for (int i = 0; i < PRODUCERS; i++)            /* every producer finished */
        lrt_chan_recv(results, NULL);
    lrt_chan_close(c);
    for (int i = 0; i < CONSUMERS; i++) {
        long got[2];
        lrt_chan_recv(results, got);
        r.rounds += got[0];
        r.mismatches += (int)got[1];
    }
}

static void test_many_producers_and_consumers_lose_and_duplicate_nothing(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(mpmc_body, NULL);
    long n = (long)PRODUCERS * ITEMS;
    assert_int_equal(r.mismatches, n);             /* count received */
    assert_int_equal(r.rounds, n * (n - 1) / 2);   /* 0 .. n-1, each once */
}

/* --- NULL channels ------------------------------------------------------------------- */

static void nil_sender(void *arg)
{
    (void)arg;
    int v = 1;
    lrt_chan_send(NULL, &v);                       /* blocks forever */
    RT_ADD(&r.flag, 1);
}

static void nil_receiver(void *arg)
{
    (void)arg;
    lrt_chan_recv(NULL, NULL);                     /* blocks forever */
    RT_ADD(&r.flag, 1);
}

static void nil_body(void *arg)
{
    (void)arg;
    lrt_go(nil_sender, NULL);
    lrt_go(nil_receiver, NULL);
    lrt_sleep(20 * LRT_MILLISECOND);
    r.len[0] = lrt_num_tasks();                    /* both alive, parked */
}

static void test_send_and_receive_on_a_null_channel_block_forever(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(nil_body, NULL);                        /* returns: they are discarded */
    assert_int_equal(r.flag, 0);
    assert_int_equal(r.len[0], 3);
}

static void large_elements_body(void *arg)
{
    (void)arg;
    struct big { unsigned char bytes[1000]; } in, out;
    for (size_t i = 0; i < sizeof in.bytes; i++)
        in.bytes[i] = (unsigned char)(i * 7);
    lrt_chan *c = lrt_chan_make(sizeof in, 2);
    lrt_chan_send(c, &in);
    memset(&in, 0, sizeof in);                     /* the channel has a copy */
    lrt_chan_recv(c, &out);
    r.ok[0] = true;
    for (size_t i = 0; i < sizeof out.bytes; i++)
        if (out.bytes[i] != (unsigned char)(i * 7))
            r.ok[0] = false;
    lrt_chan_free(c);
}

static void test_elements_are_copied_whole_at_send(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(large_elements_body, NULL);
    assert_true(r.ok[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unbuffered_ping_pong_carries_every_value),
        cmocka_unit_test(test_unbuffered_send_blocks_until_received),
        cmocka_unit_test(test_buffered_channel_is_fifo),
        cmocka_unit_test(test_len_counts_buffered_elements_and_cap_is_the_buffer_size),
        cmocka_unit_test(test_send_on_a_full_buffer_blocks_until_a_receive_makes_room),
        cmocka_unit_test(test_close_wakes_every_blocked_receiver_with_false_and_zero),
        cmocka_unit_test(test_receive_drains_the_buffer_after_close_then_returns_false),
        cmocka_unit_test(test_signal_only_channels_carry_no_bytes),
        cmocka_unit_test(test_receive_into_null_discards_the_element),
        cmocka_unit_test(test_many_producers_and_consumers_lose_and_duplicate_nothing),
        cmocka_unit_test(test_send_and_receive_on_a_null_channel_block_forever),
        cmocka_unit_test(test_elements_are_copied_whole_at_send),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

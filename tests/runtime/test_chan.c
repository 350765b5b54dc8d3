/*
 * test_chan.c — channels: unbuffered hand-off, buffered FIFO, len and cap,
 * close, signal-only channels.
 */
#include "rttest.h"

#include <string.h>

static struct {
    int  values[64];
    int  n;
    bool ok[16];
    int  zeroes;
    size_t len, cap, len_after;
    long rounds;
} r;

static void echo(void *c)
{
    int v;
    while (lrt_chan_recv(c, &v)) {
        v++;
        lrt_chan_send(c, &v);
    }
}

static void ping_pong_body(void *arg)
{
    (void)arg;
    lrt_chan *c = lrt_chan_make(sizeof(int), 0);
    lrt_go(echo, c);
    int v = 0;
    for (int i = 0; i < 10000; i++) {
        lrt_chan_send(c, &v);
        lrt_chan_recv(c, &v);
        v++;
    }
    r.rounds = v;
    lrt_chan_close(c);
}

static void test_unbuffered_ping_pong_carries_values(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(ping_pong_body, NULL);
    assert_int_equal(r.rounds, 20000);      /* +1 each way, 10,000 times */
}

static void fifo_body(void *arg)
{
    (void)arg;
    lrt_chan *c = lrt_chan_make(sizeof(int), 16);
    for (int i = 0; i < 16; i++)
        lrt_chan_send(c, &i);              /* never blocks: room for 16 */
    r.len = lrt_chan_len(c);
    r.cap = lrt_chan_cap(c);
    for (int i = 0; i < 16; i++)
        lrt_chan_recv(c, &r.values[r.n++]);
    r.len_after = lrt_chan_len(c);
}

static void test_buffered_channel_is_fifo_with_len_and_cap(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(fifo_body, NULL);
    assert_int_equal(r.len, 16);
    assert_int_equal(r.cap, 16);
    assert_int_equal(r.len_after, 0);
    for (int i = 0; i < 16; i++)
        assert_int_equal(r.values[i], i);
}

typedef struct recv_result { lrt_chan *c; bool ok; int value; } recv_result;

static void blocked_receiver(void *arg)
{
    recv_result *rr = arg;
    rr->value = 77;
    rr->ok = lrt_chan_recv(rr->c, &rr->value);
}

static void close_body(void *arg)
{
    (void)arg;
    lrt_chan *c = lrt_chan_make(sizeof(int), 0);
    recv_result *rr = lrt_alloc(8 * sizeof *rr);
    for (int i = 0; i < 8; i++) {
        rr[i].c = c;
        rr[i].ok = true;
        lrt_go(blocked_receiver, &rr[i]);
    }
    lrt_sleep(LRT_MILLISECOND);
    lrt_chan_close(c);
    while (lrt_num_tasks() > 1)
        lrt_yield();
    for (int i = 0; i < 8; i++) {
        r.ok[i] = rr[i].ok;
        r.zeroes += rr[i].value == 0;
    }
}

static void test_close_wakes_every_receiver_with_false_and_zero(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(close_body, NULL);
    for (int i = 0; i < 8; i++)
        assert_false(r.ok[i]);
    assert_int_equal(r.zeroes, 8);
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
        r.ok[i] = lrt_chan_recv(c, &v);
        r.values[i] = v;
    }
    v = 5;
    r.ok[3] = lrt_chan_recv(c, &v);
    r.values[3] = v;
}

static void test_receive_drains_the_buffer_after_close(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(drain_body, NULL);
    for (int i = 0; i < 3; i++) {
        assert_true(r.ok[i]);
        assert_int_equal(r.values[i], i + 1);
    }
    assert_false(r.ok[3]);
    assert_int_equal(r.values[3], 0);
}

static void signal_sender(void *c) { lrt_chan_send(c, NULL); }

static void signal_body(void *arg)
{
    (void)arg;
    lrt_chan *c = lrt_chan_make(0, 0);     /* elements of size 0 */
    for (int i = 0; i < 5; i++)
        lrt_go(signal_sender, c);
    for (int i = 0; i < 5; i++)
        r.ok[i] = lrt_chan_recv(c, NULL);  /* elem may be NULL */
}

static void test_signal_only_channels_and_null_elements(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(signal_body, NULL);
    for (int i = 0; i < 5; i++)
        assert_true(r.ok[i]);
}

static void large_elements_body(void *arg)
{
    (void)arg;
    struct big { char bytes[1000]; } in, out;
    memset(&in, 0xab, sizeof in);
    lrt_chan *c = lrt_chan_make(sizeof in, 2);
    lrt_chan_send(c, &in);
    lrt_chan_recv(c, &out);
    r.ok[0] = memcmp(&in, &out, sizeof in) == 0;
    lrt_chan_free(c);
}

static void test_large_elements_are_copied_whole(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(large_elements_body, NULL);
    assert_true(r.ok[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unbuffered_ping_pong_carries_values),
        cmocka_unit_test(test_buffered_channel_is_fifo_with_len_and_cap),
        cmocka_unit_test(test_close_wakes_every_receiver_with_false_and_zero),
        cmocka_unit_test(test_receive_drains_the_buffer_after_close),
        cmocka_unit_test(test_signal_only_channels_and_null_elements),
        cmocka_unit_test(test_large_elements_are_copied_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

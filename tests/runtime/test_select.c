/*
 * test_select.c — select: a ready case, fairness, default, timeout, send
 * cases, closed channels, nil cases, many cases.
 */
#include "rttest.h"

#include <string.h>

static struct {
    int   fired[4];
    int   index;
    bool  ok;
    int64_t elapsed;
    int   value;
} r;

static void ready_body(void *arg)
{
    (void)arg;
    lrt_chan *a = lrt_chan_make(sizeof(int), 1), *b = lrt_chan_make(sizeof(int), 1);
    int v = 9;
    lrt_chan_send(b, &v);
    int got = 0;
    lrt_case cases[] = {
        { .chan = a, .dir = LRT_RECV, .elem = &got },
        { .chan = b, .dir = LRT_RECV, .elem = &got },
    };
    r.index = lrt_select(cases, 2, -1);
    r.value = got;
    r.ok = cases[1].ok;
}

static void test_select_picks_the_ready_case(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(ready_body, NULL);
    assert_int_equal(r.index, 1);
    assert_int_equal(r.value, 9);
    assert_true(r.ok);
}

static void fairness_body(void *arg)
{
    (void)arg;
    lrt_chan *a = lrt_chan_make(0, 1), *b = lrt_chan_make(0, 1);
    for (int i = 0; i < 10000; i++) {
        lrt_chan_send(a, NULL);            /* both always ready */
        lrt_chan_send(b, NULL);
        lrt_case cases[] = { { .chan = a, .dir = LRT_RECV }, { .chan = b, .dir = LRT_RECV } };
        int k = lrt_select(cases, 2, -1);
        r.fired[k]++;
        lrt_chan_recv(k == 0 ? b : a, NULL);   /* empty the other */
    }
}

static void test_select_chooses_fairly_among_ready_cases(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(fairness_body, NULL);
    assert_int_equal(r.fired[0] + r.fired[1], 10000);
    assert_in_range(r.fired[0], 4000, 6000);
}

static void default_body(void *arg)
{
    (void)arg;
    lrt_chan *a = lrt_chan_make(0, 0);
    lrt_case c = { .chan = a, .dir = LRT_RECV };
    int64_t t0 = lrt_now();
    r.index = lrt_select(&c, 1, 0);
    r.elapsed = lrt_now() - t0;
}

static void test_default_returns_at_once_when_nothing_is_ready(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(default_body, NULL);
    assert_int_equal(r.index, -1);
    assert_true(r.elapsed < 100 * LRT_MILLISECOND);
}

static void timeout_body(void *arg)
{
    (void)arg;
    lrt_chan *a = lrt_chan_make(0, 0);
    lrt_case c = { .chan = a, .dir = LRT_RECV };
    int64_t t0 = lrt_now();
    r.index = lrt_select(&c, 1, 30 * LRT_MILLISECOND);
    r.elapsed = lrt_now() - t0;
}

static void test_timeout_gives_up_after_about_that_long(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(timeout_body, NULL);
    assert_int_equal(r.index, -1);
    assert_true(r.elapsed >= 30 * LRT_MILLISECOND);
    assert_true(r.elapsed < 530 * LRT_MILLISECOND);
}

static void late_sender(void *c)
{
    lrt_sleep(5 * LRT_MILLISECOND);
    int v = 5;
    lrt_chan_send(c, &v);
}

static void timeout_beaten_body(void *arg)
{
    (void)arg;
    lrt_chan *a = lrt_chan_make(sizeof(int), 0);
    lrt_go(late_sender, a);
    lrt_case c = { .chan = a, .dir = LRT_RECV, .elem = &r.value };
    r.index = lrt_select(&c, 1, 5 * LRT_SECOND);
}

static void test_a_value_before_the_timeout_wins(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(timeout_beaten_body, NULL);
    assert_int_equal(r.index, 0);
    assert_int_equal(r.value, 5);
}

static void receive_one(void *c) { int v; lrt_chan_recv(c, &v); *(int *)lrt_alloc(4) = v; }

static void send_case_body(void *arg)
{
    (void)arg;
    lrt_chan *full = lrt_chan_make(sizeof(int), 0), *taker = lrt_chan_make(sizeof(int), 0);
    lrt_go(receive_one, taker);
    int v = 3;
    lrt_case cases[] = {
        { .chan = full, .dir = LRT_SEND, .elem = &v },
        { .chan = taker, .dir = LRT_SEND, .elem = &v },
    };
    r.index = lrt_select(cases, 2, -1);
}

static void test_send_cases_fire_when_a_receiver_waits(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(send_case_body, NULL);
    assert_int_equal(r.index, 1);
}

static void closed_body(void *arg)
{
    (void)arg;
    lrt_chan *a = lrt_chan_make(sizeof(int), 0);
    lrt_chan_close(a);
    r.value = 7;
    lrt_case c = { .chan = a, .dir = LRT_RECV, .elem = &r.value, .ok = true };
    r.index = lrt_select(&c, 1, -1);
    r.ok = c.ok;
}

static void test_receive_from_closed_channel_fires_with_ok_false(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(closed_body, NULL);
    assert_int_equal(r.index, 0);
    assert_false(r.ok);
    assert_int_equal(r.value, 0);
}

static void nil_case_body(void *arg)
{
    (void)arg;
    lrt_case c = { .chan = NULL, .dir = LRT_RECV };
    r.index = lrt_select(&c, 1, 10 * LRT_MILLISECOND);
}

static void test_nil_channel_cases_never_fire(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(nil_case_body, NULL);
    assert_int_equal(r.index, -1);
}

static void many_body(void *arg)
{
    (void)arg;
    lrt_case cases[64];
    lrt_chan *chans[64];
    for (int i = 0; i < 64; i++) {
        chans[i] = lrt_chan_make(sizeof(int), 1);
        cases[i] = (lrt_case){ .chan = chans[i], .dir = LRT_RECV, .elem = &r.value };
    }
    int v = 63;
    lrt_chan_send(chans[63], &v);
    r.index = lrt_select(cases, 64, -1);
    r.fired[0] = 0;
    for (int round = 0; round < 64; round++) {   /* a blocked select over 64 */
        lrt_go(late_sender, chans[round]);
        int k = lrt_select(cases, 64, -1);
        r.fired[0] += k == round;
    }
}

static void test_select_over_sixty_four_cases(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(many_body, NULL);
    assert_int_equal(r.index, 63);
    assert_int_equal(r.fired[0], 64);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select_picks_the_ready_case),
        cmocka_unit_test(test_select_chooses_fairly_among_ready_cases),
        cmocka_unit_test(test_default_returns_at_once_when_nothing_is_ready),
        cmocka_unit_test(test_timeout_gives_up_after_about_that_long),
        cmocka_unit_test(test_a_value_before_the_timeout_wins),
        cmocka_unit_test(test_send_cases_fire_when_a_receiver_waits),
        cmocka_unit_test(test_receive_from_closed_channel_fires_with_ok_false),
        cmocka_unit_test(test_nil_channel_cases_never_fire),
        cmocka_unit_test(test_select_over_sixty_four_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_select.c — select: a ready case, fairness, default, timeout, send
 * cases, closed channels, NULL cases, many cases.
 */
#include "rttest.h"

#include <string.h>

enum { SELECTS = 10000 };

static struct {
    int     fired[64];
    int     index, index2, index3;
    bool    ok, ok2;
    int64_t elapsed;
    int     value, value2, flag, mismatches;
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
    r.value2 = (int)lrt_chan_len(b);               /* the case was performed */
}

static void test_select_performs_the_one_ready_case(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(ready_body, NULL);
    assert_int_equal(r.index, 1);
    assert_int_equal(r.value, 9);
    assert_true(r.ok);
    assert_int_equal(r.value2, 0);
}

static void late_sender(void *c)
{
    lrt_sleep(5 * LRT_MILLISECOND);
    int v = 5;
    lrt_chan_send(c, &v);
}

static void blocking_body(void *arg)
{
    (void)arg;
    lrt_chan *a = lrt_chan_make(sizeof(int), 0), *b = lrt_chan_make(sizeof(int), 0);
    lrt_go(late_sender, b);
    lrt_case cases[] = {
        { .chan = a, .dir = LRT_RECV, .elem = &r.value },
        { .chan = b, .dir = LRT_RECV, .elem = &r.value },
    };
    int64_t t0 = lrt_now();
    r.index = lrt_select(cases, 2, -1);
    r.elapsed = lrt_now() - t0;
    r.ok = cases[1].ok;
}

static void test_blocked_select_wakes_when_a_case_becomes_ready(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(blocking_body, NULL);
    assert_int_equal(r.index, 1);
    assert_int_equal(r.value, 5);
    assert_true(r.ok);
    assert_true(r.elapsed >= 4 * LRT_MILLISECOND);   /* it did wait */
}

static void fairness_body(void *arg)
{
    (void)arg;
    lrt_chan *a = lrt_chan_make(0, 1), *b = lrt_chan_make(0, 1);
    lrt_chan_send(a, NULL);
    lrt_chan_send(b, NULL);
    for (int i = 0; i < SELECTS; i++) {
        lrt_case cases[] = { { .chan = a, .dir = LRT_RECV }, { .chan = b, .dir = LRT_RECV } };
        int k = lrt_select(cases, 2, -1);          /* both always ready */
        if (k != 0 && k != 1) {
            r.mismatches++;
            continue;
        }
        r.fired[k]++;
        lrt_chan_send(k == 0 ? a : b, NULL);       /* refill the one taken */
    }
}

static void test_select_chooses_fairly_among_ready_cases(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(fairness_body, NULL);
    assert_int_equal(r.mismatches, 0);
    assert_int_equal(r.fired[0] + r.fired[1], SELECTS);
    assert_in_range(r.fired[0], SELECTS * 40 / 100, SELECTS * 60 / 100);
    assert_in_range(r.fired[1], SELECTS * 40 / 100, SELECTS * 60 / 100);
}

static void default_body(void *arg)
{
    (void)arg;
    lrt_chan *a = lrt_chan_make(0, 0), *b = lrt_chan_make(sizeof(int), 1);
    int v = 1;
    lrt_case cases[] = {
        { .chan = a, .dir = LRT_RECV },
        { .chan = a, .dir = LRT_SEND },            /* nobody receives */
        { .chan = b, .dir = LRT_RECV, .elem = &v },
    };
    int64_t t0 = lrt_now();
    r.index = lrt_select(cases, 3, 0);
    r.elapsed = lrt_now() - t0;
    lrt_chan_send(b, &v);
    r.index2 = lrt_select(cases, 3, 0);            /* now one is ready */
}

static void test_default_returns_minus_one_at_once_when_nothing_is_ready(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(default_body, NULL);
    assert_int_equal(r.index, -1);
    assert_true(r.elapsed < 100 * LRT_MILLISECOND);
    assert_int_equal(r.index2, 2);
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

static void test_timeout_returns_minus_one_after_about_that_long(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(timeout_body, NULL);
    assert_int_equal(r.index, -1);
    assert_true(r.elapsed >= 30 * LRT_MILLISECOND);
    assert_true(r.elapsed < 530 * LRT_MILLISECOND);
}

static void no_cases_body(void *arg)
{
    (void)arg;
    int64_t t0 = lrt_now();
    r.index = lrt_select(NULL, 0, 20 * LRT_MILLISECOND);   /* a sleep */
    r.elapsed = lrt_now() - t0;
    r.index2 = lrt_select(NULL, 0, 0);
}

static void test_select_without_cases_and_a_timeout_just_waits(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(no_cases_body, NULL);
    assert_int_equal(r.index, -1);
    assert_true(r.elapsed >= 20 * LRT_MILLISECOND);
    assert_true(r.elapsed < 520 * LRT_MILLISECOND);
    assert_int_equal(r.index2, -1);
}

static void timeout_beaten_body(void *arg)
{
    (void)arg;
    lrt_chan *a = lrt_chan_make(sizeof(int), 0);
    lrt_go(late_sender, a);
    lrt_case c = { .chan = a, .dir = LRT_RECV, .elem = &r.value };
    int64_t t0 = lrt_now();
    r.index = lrt_select(&c, 1, 5 * LRT_SECOND);
    r.elapsed = lrt_now() - t0;
}

static void test_a_value_before_the_timeout_wins(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(timeout_beaten_body, NULL);
    assert_int_equal(r.index, 0);
    assert_int_equal(r.value, 5);
    assert_true(r.elapsed < 4 * LRT_SECOND);
}

static void receive_one(void *c)
{
    int v = 0;
    lrt_chan_recv(c, &v);
    RT_STORE(&r.value2, v);
    RT_STORE(&r.flag, 1);
}

static void send_case_body(void *arg)
{
    (void)arg;
    lrt_chan *nobody = lrt_chan_make(sizeof(int), 0), *taker = lrt_chan_make(sizeof(int), 0);
    lrt_go(receive_one, taker);
    int v = 3;
    lrt_case cases[] = {
        { .chan = nobody, .dir = LRT_SEND, .elem = &v },
        { .chan = taker, .dir = LRT_SEND, .elem = &v },
    };
    r.index = lrt_select(cases, 2, -1);
    for (int i = 0; i < 1000 && !RT_LOAD(&r.flag); i++)
        lrt_sleep(LRT_MILLISECOND);
    /* A buffered channel with room is ready to send; a full one is not. */
    lrt_chan *room = lrt_chan_make(sizeof(int), 1), *full = lrt_chan_make(sizeof(int), 1);
    int w = 8;
    lrt_chan_send(full, &w);
    w = 4;
    lrt_case cases2[] = {
        { .chan = full, .dir = LRT_SEND, .elem = &w },
        { .chan = room, .dir = LRT_SEND, .elem = &w },
    };
    r.index2 = lrt_select(cases2, 2, 0);
    r.index3 = lrt_select(cases2, 2, 0);           /* both full now */
    lrt_chan_recv(room, &r.value);
}

static void test_send_cases_fire_when_a_receiver_waits_or_the_buffer_has_room(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(send_case_body, NULL);
    assert_int_equal(r.index, 1);
    assert_int_equal(r.value2, 3);                 /* the receiver got the value */
    assert_int_equal(r.index2, 1);
    assert_int_equal(r.value, 4);
    assert_int_equal(r.index3, -1);
}

static void closed_body(void *arg)
{
    (void)arg;
    lrt_chan *a = lrt_chan_make(sizeof(int), 0), *never = lrt_chan_make(sizeof(int), 0);
    lrt_chan_close(a);
    r.value = 7;
    lrt_case cases[] = {
        { .chan = never, .dir = LRT_RECV, .elem = &r.value2, .ok = true },
        { .chan = a, .dir = LRT_RECV, .elem = &r.value, .ok = true },
    };
    r.index = lrt_select(cases, 2, -1);
    r.ok = cases[1].ok;
}

static void test_receive_case_on_a_closed_channel_fires_with_ok_false(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(closed_body, NULL);
    assert_int_equal(r.index, 1);
    assert_false(r.ok);
    assert_int_equal(r.value, 0);                  /* elem zeroed */
}

static void closer(void *c)
{
    lrt_sleep(5 * LRT_MILLISECOND);
    lrt_chan_close(c);
}

static void closed_later_body(void *arg)
{
    (void)arg;
    lrt_chan *a = lrt_chan_make(sizeof(int), 0);
    lrt_go(closer, a);
    r.value = 7;
    lrt_case c = { .chan = a, .dir = LRT_RECV, .elem = &r.value, .ok = true };
    r.index = lrt_select(&c, 1, -1);
    r.ok = c.ok;
}

static void test_close_wakes_a_blocked_select_with_ok_false(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(closed_later_body, NULL);
    assert_int_equal(r.index, 0);
    assert_false(r.ok);
    assert_int_equal(r.value, 0);
}

static void nil_case_body(void *arg)
{
    (void)arg;
    lrt_case c[2] = { { .chan = NULL, .dir = LRT_RECV }, { .chan = NULL, .dir = LRT_SEND } };
    int64_t t0 = lrt_now();
    r.index = lrt_select(c, 2, 10 * LRT_MILLISECOND);
    r.elapsed = lrt_now() - t0;
    r.index3 = lrt_select(c, 2, 0);
    /* Next to a ready case, a NULL case is never chosen. */
    lrt_chan *ready = lrt_chan_make(0, 1);
    for (int i = 0; i < 200; i++) {
        lrt_chan_send(ready, NULL);
        lrt_case mixed[3] = {
            { .chan = NULL, .dir = LRT_RECV },
            { .chan = ready, .dir = LRT_RECV },
            { .chan = NULL, .dir = LRT_SEND },
        };
        if (lrt_select(mixed, 3, -1) != 1)
            r.mismatches++;
    }
}

static void test_null_channel_cases_never_fire(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(nil_case_body, NULL);
    assert_int_equal(r.index, -1);
    assert_true(r.elapsed >= 10 * LRT_MILLISECOND);
    assert_int_equal(r.index3, -1);
    assert_int_equal(r.mismatches, 0);
}

static void select_echo(void *arg)
{
    lrt_chan **c = arg;                            /* c[0]: in, c[1]: out */
    int v = 0;
    for (;;) {
        lrt_case in = { .chan = c[0], .dir = LRT_RECV, .elem = &v };
        if (lrt_select(&in, 1, -1) != 0 || !in.ok)
            return;
        v++;
        lrt_case out = { .chan = c[1], .dir = LRT_SEND, .elem = &v };
        lrt_select(&out, 1, -1);
    }
}

static void select_both_sides_body(void *arg)
{
    (void)arg;
    lrt_chan **c = lrt_alloc(2 * sizeof *c);
    c[0] = lrt_chan_make(sizeof(int), 0);
    c[1] = lrt_chan_make(sizeof(int), 0);
    lrt_go(select_echo, c);
    for (int i = 0; i < 1000; i++) {
        int v = i, back = -1;
        lrt_case out = { .chan = c[0], .dir = LRT_SEND, .elem = &v };
        lrt_case in = { .chan = c[1], .dir = LRT_RECV, .elem = &back };
        if (lrt_select(&out, 1, -1) != 0 || lrt_select(&in, 1, -1) != 0 || back != i + 1)
            r.mismatches++;
    }
    lrt_chan_close(c[0]);
}

static void test_selects_on_both_sides_of_an_unbuffered_channel_meet(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(select_both_sides_body, NULL);
    assert_int_equal(r.mismatches, 0);
}

static void same_chan_body(void *arg)
{
    (void)arg;
    lrt_chan *b = lrt_chan_make(sizeof(int), 1);
    int v = 6, got = 0;
    lrt_case twice[] = {
        { .chan = b, .dir = LRT_RECV, .elem = &got },
        { .chan = b, .dir = LRT_RECV, .elem = &got },
    };
    r.index = lrt_select(twice, 2, 0);             /* empty: default */
    lrt_chan_send(b, &v);
    r.index2 = lrt_select(twice, 2, -1);
    r.value = got;
    /* Send and receive on one channel: with a buffer, the send is ready
     * when empty and the receive when full. */
    lrt_case both[] = {
        { .chan = b, .dir = LRT_SEND, .elem = &v },
        { .chan = b, .dir = LRT_RECV, .elem = &got },
    };
    r.index3 = lrt_select(both, 2, -1);            /* empty: the send */
    int k = lrt_select(both, 2, -1);               /* full: the receive */
    r.fired[0] = k;
    /* An unbuffered channel cannot meet itself: nothing is ready. */
    lrt_chan *u = lrt_chan_make(sizeof(int), 0);
    lrt_case self[] = {
        { .chan = u, .dir = LRT_SEND, .elem = &v },
        { .chan = u, .dir = LRT_RECV, .elem = &got },
    };
    r.fired[1] = lrt_select(self, 2, 5 * LRT_MILLISECOND);
}

static void test_one_channel_may_appear_in_several_cases(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(same_chan_body, NULL);
    assert_int_equal(r.index, -1);
    assert_in_range(r.index2, 0, 1);
    assert_int_equal(r.value, 6);
    assert_int_equal(r.index3, 0);
    assert_int_equal(r.fired[0], 1);
    assert_int_equal(r.fired[1], -1);
}

static void late_value(void *c)
{
    lrt_sleep(250 * LRT_MILLISECOND);
    int v = 11;
    lrt_chan_send(c, &v);
}

static void stale_timer_body(void *arg)
{
    (void)arg;
    lrt_chan *ready = lrt_chan_make(sizeof(int), 1), *later = lrt_chan_make(sizeof(int), 0);
    int v = 1;
    /* Selects whose timeouts lose to a ready case... */
    for (int i = 0; i < 20; i++) {
        lrt_chan_send(ready, &v);
        lrt_case c = { .chan = ready, .dir = LRT_RECV, .elem = &v };
        if (lrt_select(&c, 1, 10 * LRT_MILLISECOND) != 0)
            r.mismatches++;
    }
    /* ...and one that blocks first and then loses: the sender comes after
     * 5 ms, the timeout after 100 (15 ms lost to a loaded sanitizer build
     * in CI: the sender was late, the select timed out). */
    lrt_go(late_sender, ready);
    lrt_case c = { .chan = ready, .dir = LRT_RECV, .elem = &v };
    if (lrt_select(&c, 1, 100 * LRT_MILLISECOND) != 0)
        r.mismatches++;
    /* Their timers must not wake this task's next wait, which outlasts them. */
    lrt_go(late_value, later);
    int64_t t0 = lrt_now();
    r.value = 0;
    r.ok = lrt_chan_recv(later, &r.value);
    r.elapsed = lrt_now() - t0;
}

static void test_a_timeout_that_lost_does_not_wake_the_task_later(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(stale_timer_body, NULL);
    assert_int_equal(r.mismatches, 0);
    assert_true(r.ok);
    assert_int_equal(r.value, 11);
    assert_true(r.elapsed >= 245 * LRT_MILLISECOND);
}

static void select_forever(void *arg)
{
    (void)arg;
    lrt_select(NULL, 0, -1);                       /* no cases: blocks forever */
    RT_STORE(&r.flag, 1);
}

static void only_nil_forever(void *arg)
{
    (void)arg;
    lrt_case c = { .chan = NULL, .dir = LRT_RECV };
    lrt_select(&c, 1, -1);                         /* only NULL: blocks forever */
    RT_STORE(&r.flag, 1);
}

static void forever_body(void *arg)
{
    (void)arg;
    lrt_go(select_forever, NULL);
    lrt_go(only_nil_forever, NULL);
    lrt_sleep(20 * LRT_MILLISECOND);
    r.value = (int)lrt_num_tasks();
}

static void test_select_with_no_cases_or_only_null_ones_blocks_forever(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(forever_body, NULL);
    assert_int_equal(r.flag, 0);
    assert_int_equal(r.value, 3);
}

static void many_body(void *arg)
{
    (void)arg;
    lrt_case cases[64];
    lrt_chan *chans[64];
    int got = -1;
    for (int i = 0; i < 64; i++) {
        chans[i] = lrt_chan_make(sizeof(int), 1);
        cases[i] = (lrt_case){ .chan = chans[i], .dir = LRT_RECV, .elem = &got };
    }
    /* Each channel in turn holds the only value: its case fires. */
    for (int round = 0; round < 64; round++) {
        lrt_chan_send(chans[round], &round);
        got = -1;
        int k = lrt_select(cases, 64, -1);
        if (k != round || got != round)
            r.mismatches++;
    }
    /* All 64 ready: each fires, every one about equally often. */
    for (int i = 0; i < 64; i++)
        lrt_chan_send(chans[i], &i);
    for (int n = 0; n < 64 * 100; n++) {
        int k = lrt_select(cases, 64, -1);
        if (k < 0 || k >= 64 || got != k) {
            r.mismatches++;
            break;
        }
        r.fired[k]++;
        lrt_chan_send(chans[k], &k);
    }
    /* Blocked on all 64; a late sender on the last one wakes it. */
    for (int i = 0; i < 64; i++)
        lrt_chan_recv(chans[i], NULL);
    lrt_go(late_sender, chans[63]);
    r.index = lrt_select(cases, 64, -1);
    r.value = got;
}

static void test_select_over_sixty_four_cases(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(many_body, NULL);
    assert_int_equal(r.mismatches, 0);
    for (int i = 0; i < 64; i++)
        assert_in_range(r.fired[i], 30, 200);     /* expected 100 each */
    assert_int_equal(r.index, 63);
    assert_int_equal(r.value, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select_performs_the_one_ready_case),
        cmocka_unit_test(test_blocked_select_wakes_when_a_case_becomes_ready),
        cmocka_unit_test(test_select_chooses_fairly_among_ready_cases),
        cmocka_unit_test(test_default_returns_minus_one_at_once_when_nothing_is_ready),
        cmocka_unit_test(test_timeout_returns_minus_one_after_about_that_long),
        cmocka_unit_test(test_select_without_cases_and_a_timeout_just_waits),
        cmocka_unit_test(test_a_value_before_the_timeout_wins),
        cmocka_unit_test(test_send_cases_fire_when_a_receiver_waits_or_the_buffer_has_room),
        cmocka_unit_test(test_receive_case_on_a_closed_channel_fires_with_ok_false),
        cmocka_unit_test(test_close_wakes_a_blocked_select_with_ok_false),
        cmocka_unit_test(test_selects_on_both_sides_of_an_unbuffered_channel_meet),
        cmocka_unit_test(test_one_channel_may_appear_in_several_cases),
        cmocka_unit_test(test_a_timeout_that_lost_does_not_wake_the_task_later),
        cmocka_unit_test(test_null_channel_cases_never_fire),
        cmocka_unit_test(test_select_with_no_cases_or_only_null_ones_blocks_forever),
        cmocka_unit_test(test_select_over_sixty_four_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

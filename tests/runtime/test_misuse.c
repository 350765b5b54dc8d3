/*
 * test_misuse.c — what Go turns into a panic aborts, naming the call and
 * the task; a stack overflow is caught and named.
 */
#include "rttest.h"

static void send_on_closed(void *arg)
{
    (void)arg;
    lrt_chan *c = lrt_chan_make(sizeof(int), 1);
    lrt_chan_close(c);
    int v = 1;
    lrt_chan_send(c, &v);
}

static void test_send_on_closed_channel_aborts(void **state)
{
    (void)state;
    rt_expect_abort(send_on_closed, "lrt_chan_send", "send on closed channel", "task", NULL);
}

static void blocked_sender(void *c) { int v = 1; lrt_chan_send(c, &v); }

static void close_under_sender(void *arg)
{
    (void)arg;
    lrt_chan *c = lrt_chan_make(sizeof(int), 0);
    lrt_go(blocked_sender, c);
    lrt_sleep(LRT_MILLISECOND);
    lrt_chan_close(c);                     /* the blocked sender panics */
    lrt_sleep(100 * LRT_MILLISECOND);
}

static void test_closing_under_a_blocked_sender_aborts_the_sender(void **state)
{
    (void)state;
    rt_expect_abort(close_under_sender, "lrt_chan_send", "send on closed channel", "task", NULL);
}

static void double_close(void *arg)
{
    (void)arg;
    lrt_chan *c = lrt_chan_make(0, 0);
    lrt_chan_close(c);
    lrt_chan_close(c);
}

static void test_double_close_aborts(void **state)
{
    (void)state;
    rt_expect_abort(double_close, "lrt_chan_close", "close of closed channel", "task", NULL);
}

static void close_nil(void *arg) { (void)arg; lrt_chan_close(NULL); }

static void test_close_of_nil_aborts(void **state)
{
    (void)state;
    rt_expect_abort(close_nil, "lrt_chan_close", "nil channel", "task", NULL);
}

static void unlock_unlocked(void *arg)
{
    (void)arg;
    lrt_mutex m = { 0 };
    lrt_mutex_unlock(&m);
}

static void test_unlock_of_unlocked_mutex_aborts(void **state)
{
    (void)state;
    rt_expect_abort(unlock_unlocked, "lrt_mutex_unlock", "unlocked", "task", NULL);
}

static void runlock_unlocked(void *arg)
{
    (void)arg;
    lrt_rwmutex rw = { 0 };
    lrt_rwmutex_runlock(&rw);
}

static void unlock_unlocked_rw(void *arg)
{
    (void)arg;
    lrt_rwmutex rw = { 0 };
    lrt_rwmutex_unlock(&rw);
}

static void test_rwmutex_misuse_aborts(void **state)
{
    (void)state;
    rt_expect_abort(runlock_unlocked, "lrt_rwmutex_runlock", "unlocked", "task", NULL);
    rt_expect_abort(unlock_unlocked_rw, "lrt_rwmutex_unlock", "unlocked", "task", NULL);
}

static void negative_wg(void *arg)
{
    (void)arg;
    lrt_wg wg = { 0 };
    lrt_wg_add(&wg, 1);
    lrt_wg_done(&wg);
    lrt_wg_done(&wg);
}

static void test_negative_wait_group_counter_aborts(void **state)
{
    (void)state;
    rt_expect_abort(negative_wg, "lrt_wg_done", "negative", "task", NULL);
}

static int recurse(int depth)
{
    volatile char frame[512];
    frame[0] = (char)depth;
    if (depth > 1000000000)                /* never: far beyond any stack */
        return 0;
    return recurse(depth + 1) + frame[0];
}

static void overflow(void *arg) { (void)arg; recurse(0); }

static void overflow_in_task(void *arg)
{
    (void)arg;
    lrt_go(overflow, NULL);
    lrt_sleep(LRT_SECOND);
}

static void test_stack_overflow_is_caught_and_named(void **state)
{
    (void)state;
    rt_expect_abort(overflow_in_task, "stack overflow", "task 2", NULL);
}

/* A receive that would block, on a thread that is not running a task. */
static void block_outside(void) { lrt_chan_recv(lrt_chan_make(0, 0), NULL); }

static void test_blocking_outside_a_task_aborts(void **state)
{
    (void)state;
    rt_expect_abort_thread(block_outside, "lrt_chan_recv", "outside a task", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_send_on_closed_channel_aborts),
        cmocka_unit_test(test_closing_under_a_blocked_sender_aborts_the_sender),
        cmocka_unit_test(test_double_close_aborts),
        cmocka_unit_test(test_close_of_nil_aborts),
        cmocka_unit_test(test_unlock_of_unlocked_mutex_aborts),
        cmocka_unit_test(test_rwmutex_misuse_aborts),
        cmocka_unit_test(test_negative_wait_group_counter_aborts),
        cmocka_unit_test(test_stack_overflow_is_caught_and_named),
        cmocka_unit_test(test_blocking_outside_a_task_aborts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

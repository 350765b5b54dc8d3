/*
 * test_misuse.c — what Go turns into a panic aborts the program with a
 * message that names the call and the task ("leakrt: CALL: what (task N)");
 * a stack overflow is caught and named. Each case runs in a forked child.
 */
#include "rttest.h"

/* --- channels --------------------------------------------------------------------- */

static void send_on_closed(void *arg)
{
    (void)arg;
    lrt_chan *c = lrt_chan_make(sizeof(int), 1);
    lrt_chan_close(c);
    int v = 1;
    lrt_chan_send(c, &v);
}

static void test_send_on_a_closed_channel_aborts(void **state)
{
    (void)state;
    rt_expect_abort(send_on_closed, "lrt_chan_send", "closed", "task 1", NULL);
}

static void blocked_sender(void *c) { int v = 1; lrt_chan_send(c, &v); }

static void close_under_sender(void *arg)
{
    (void)arg;
    lrt_chan *c = lrt_chan_make(sizeof(int), 0);
    lrt_go(blocked_sender, c);
    lrt_sleep(5 * LRT_MILLISECOND);
    lrt_chan_close(c);                             /* the blocked sender panics */
    lrt_sleep(LRT_SECOND);
}

static void test_closing_under_a_blocked_sender_aborts_in_the_sender(void **state)
{
    (void)state;
    rt_expect_abort(close_under_sender, "lrt_chan_send", "closed", "task 2", NULL);
}

static void select_send_on_closed(void *arg)
{
    (void)arg;
    lrt_chan *c = lrt_chan_make(sizeof(int), 1);
    lrt_chan_close(c);
    int v = 1;
    lrt_case cases[] = { { .chan = c, .dir = LRT_SEND, .elem = &v } };
    lrt_select(cases, 1, 0);
}

static void test_a_select_send_case_on_a_closed_channel_aborts(void **state)
{
    (void)state;
    rt_expect_abort(select_send_on_closed, "lrt_select", "closed", "task", NULL);
}

static void double_close(void *arg)
{
    (void)arg;
    lrt_chan *c = lrt_chan_make(0, 0);
    lrt_chan_close(c);
    lrt_chan_close(c);
}

static void test_closing_a_channel_twice_aborts(void **state)
{
    (void)state;
    rt_expect_abort(double_close, "lrt_chan_close", "closed", "task", NULL);
}

static void close_nil(void *arg) { (void)arg; lrt_chan_close(NULL); }

static void test_closing_a_null_channel_aborts(void **state)
{
    (void)state;
    rt_expect_abort(close_nil, "lrt_chan_close", "nil", "task", NULL);
}

/* --- locks and wait groups ------------------------------------------------------- */

static void unlock_unlocked(void *arg)
{
    (void)arg;
    lrt_mutex m = { 0 };
    lrt_mutex_unlock(&m);
}

static void test_unlocking_an_unlocked_mutex_aborts(void **state)
{
    (void)state;
    rt_expect_abort(unlock_unlocked, "lrt_mutex_unlock", "unlocked", "task", NULL);
}

static void unlock_twice(void *arg)
{
    (void)arg;
    lrt_mutex *m = lrt_alloc(sizeof *m);
    lrt_mutex_lock(m);
    lrt_mutex_unlock(m);
    lrt_mutex_unlock(m);
}

static void test_unlocking_a_mutex_twice_aborts(void **state)
{
    (void)state;
    rt_expect_abort(unlock_twice, "lrt_mutex_unlock", "unlocked", "task", NULL);
}

static void runlock_unlocked(void *arg)
{
    (void)arg;
    lrt_rwmutex rw = { 0 };
    lrt_rwmutex_runlock(&rw);
}

static void test_runlock_of_an_unlocked_rwmutex_aborts(void **state)
{
    (void)state;
    rt_expect_abort(runlock_unlocked, "lrt_rwmutex_runlock", "unlocked", "task", NULL);
}

static void unlock_unlocked_rw(void *arg)
{
    (void)arg;
    lrt_rwmutex rw = { 0 };
    lrt_rwmutex_unlock(&rw);
}

static void test_unlock_of_an_unlocked_rwmutex_aborts(void **state)
{
    (void)state;
    rt_expect_abort(unlock_unlocked_rw, "lrt_rwmutex_unlock", "unlocked", "task", NULL);
}

static void unlock_read_locked_rw(void *arg)
{
    (void)arg;
    lrt_rwmutex *rw = lrt_alloc(sizeof *rw);
    lrt_rwmutex_rlock(rw);
    lrt_rwmutex_unlock(rw);                        /* held for reading only */
}

static void test_write_unlock_of_a_read_locked_rwmutex_aborts(void **state)
{
    (void)state;
    rt_expect_abort(unlock_read_locked_rw, "lrt_rwmutex_unlock", "task", NULL);
}

static void runlock_write_locked_rw(void *arg)
{
    (void)arg;
    lrt_rwmutex *rw = lrt_alloc(sizeof *rw);
    lrt_rwmutex_lock(rw);
    lrt_rwmutex_runlock(rw);                       /* held for writing only */
}

static void test_read_unlock_of_a_write_locked_rwmutex_aborts(void **state)
{
    (void)state;
    rt_expect_abort(runlock_write_locked_rw, "lrt_rwmutex_runlock", "task", NULL);
}

static void negative_wg_done(void *arg)
{
    (void)arg;
    lrt_wg wg = { 0 };
    lrt_wg_add(&wg, 1);
    lrt_wg_done(&wg);
    lrt_wg_done(&wg);
}

static void test_done_below_zero_aborts(void **state)
{
    (void)state;
    rt_expect_abort(negative_wg_done, "lrt_wg_done", "negative", "task", NULL);
}

static void negative_wg_add(void *arg)
{
    (void)arg;
    lrt_wg wg = { 0 };
    lrt_wg_add(&wg, 2);
    lrt_wg_add(&wg, -3);
}

static void test_adding_below_zero_aborts(void **state)
{
    (void)state;
    rt_expect_abort(negative_wg_add, "lrt_wg_add", "negative", "task", NULL);
}

/* --- stack overflow ------------------------------------------------------------------ */

static int recurse(int depth)
{
    volatile char frame[512];                      /* volatile: kept, and written */
    frame[0] = (char)depth;
    frame[511] = (char)depth;
    if (depth < 0)                                 /* never */
        return 0;
    return recurse(depth + 1) + frame[0] + frame[511];
}

static void overflow(void *arg) { (void)arg; recurse(0); }

static void overflow_in_spawned_task(void *arg)
{
    (void)arg;
    lrt_go(overflow, NULL);
    lrt_sleep(5 * LRT_SECOND);
}

static void test_stack_overflow_in_a_task_is_caught_and_named(void **state)
{
    (void)state;
    rt_expect_crash(overflow_in_spawned_task, "stack overflow", "task 2", NULL);
}

static void test_stack_overflow_in_the_main_task_is_caught_and_named(void **state)
{
    (void)state;
    rt_expect_crash(overflow, "stack overflow", "task 1", NULL);
}

/* --- blocking outside a task -------------------------------------------------------- */

static void block_outside(void) { lrt_chan_recv(lrt_chan_make(0, 0), NULL); }

static void test_blocking_outside_a_task_aborts(void **state)
{
    (void)state;
    rt_expect_abort_thread(block_outside, "lrt_chan_recv", "outside a task", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_send_on_a_closed_channel_aborts),
        cmocka_unit_test(test_closing_under_a_blocked_sender_aborts_in_the_sender),
        cmocka_unit_test(test_a_select_send_case_on_a_closed_channel_aborts),
        cmocka_unit_test(test_closing_a_channel_twice_aborts),
        cmocka_unit_test(test_closing_a_null_channel_aborts),
        cmocka_unit_test(test_unlocking_an_unlocked_mutex_aborts),
        cmocka_unit_test(test_unlocking_a_mutex_twice_aborts),
        cmocka_unit_test(test_runlock_of_an_unlocked_rwmutex_aborts),
        cmocka_unit_test(test_unlock_of_an_unlocked_rwmutex_aborts),
        cmocka_unit_test(test_write_unlock_of_a_read_locked_rwmutex_aborts),
        cmocka_unit_test(test_read_unlock_of_a_write_locked_rwmutex_aborts),
        cmocka_unit_test(test_done_below_zero_aborts),
        cmocka_unit_test(test_adding_below_zero_aborts),
        cmocka_unit_test(test_stack_overflow_in_a_task_is_caught_and_named),
        cmocka_unit_test(test_stack_overflow_in_the_main_task_is_caught_and_named),
        cmocka_unit_test(test_blocking_outside_a_task_aborts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

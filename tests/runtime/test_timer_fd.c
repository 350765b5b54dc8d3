/*
 * test_timer_fd.c — sleeping and waiting for file descriptors, neither of
 * which holds a worker.
 */
#include "rttest.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static struct {
    int64_t elapsed;
    int     woke;
    long    progress;
    int     events[4];
} r;

static void sleep_body(void *arg)
{
    (void)arg;
    int64_t t0 = lrt_now();
    lrt_sleep(15 * LRT_MILLISECOND);
    r.elapsed = lrt_now() - t0;
}

static void test_sleep_lasts_at_least_the_duration(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(sleep_body, NULL);
    assert_true(r.elapsed >= 15 * LRT_MILLISECOND);
}

static void short_sleeper(void *arg)
{
    lrt_sleep((int64_t)(uintptr_t)arg * LRT_MICROSECOND);
    __atomic_add_fetch(&r.woke, 1, __ATOMIC_SEQ_CST);
}

static void many_sleepers_body(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++)
        lrt_go(short_sleeper, (void *)(uintptr_t)(i * 10 % 5000));
    while (__atomic_load_n(&r.woke, __ATOMIC_SEQ_CST) < 1000)
        lrt_sleep(LRT_MILLISECOND);
}

static void test_a_thousand_sleepers_all_wake(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(many_sleepers_body, NULL);
    assert_int_equal(r.woke, 1000);
}

static volatile bool sleeper_done;

static void long_sleeper(void *arg)
{
    (void)arg;
    lrt_sleep(200 * LRT_MILLISECOND);
    sleeper_done = true;
}

static void busy(void *arg)
{
    (void)arg;
    while (!sleeper_done) {
        r.progress++;
        lrt_yield();
    }
}

static void no_worker_body(void *arg)
{
    (void)arg;
    sleeper_done = false;
    lrt_go(long_sleeper, NULL);
    lrt_go(busy, NULL);
    while (!sleeper_done)
        lrt_sleep(5 * LRT_MILLISECOND);
}

static void test_a_sleeping_task_does_not_hold_a_worker(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(no_worker_body, NULL);           /* with LRT_PROCS=1 too */
    assert_true(r.progress > 100);
}

static int fds[2];

static void pipe_reader(void *arg)
{
    (void)arg;
    r.events[0] = lrt_fd_wait(fds[0], LRT_READ, -1);
}

static void fd_body(void *arg)
{
    (void)arg;
    if (pipe(fds) != 0)
        return;
    lrt_go(pipe_reader, NULL);
    lrt_sleep(5 * LRT_MILLISECOND);
    r.woke = r.events[0];                  /* still parked: 0 */
    if (write(fds[1], "x", 1) != 1)
        return;
    while (r.events[0] == 0)
        lrt_sleep(LRT_MILLISECOND);
    int64_t t0 = lrt_now();
    char c;
    if (read(fds[0], &c, 1) != 1)
        return;
    r.events[1] = lrt_fd_wait(fds[0], LRT_READ, 10 * LRT_MILLISECOND);   /* empty: times out */
    r.elapsed = lrt_now() - t0;
    r.events[2] = lrt_fd_wait(fds[1], LRT_WRITE, -1);                     /* room: at once */
    r.events[3] = lrt_fd_wait(9999, LRT_READ, 10 * LRT_MILLISECOND);      /* not open */
    close(fds[0]);
    close(fds[1]);
}

static void test_fd_wait_on_a_pipe(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(fd_body, NULL);
    assert_int_equal(r.woke, 0);
    assert_int_equal(r.events[0], LRT_READ);
    assert_int_equal(r.events[1], 0);
    assert_true(r.elapsed >= 10 * LRT_MILLISECOND);
    assert_int_equal(r.events[2], LRT_WRITE);
    assert_int_equal(r.events[3], -EBADF);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sleep_lasts_at_least_the_duration),
        cmocka_unit_test(test_a_thousand_sleepers_all_wake),
        cmocka_unit_test(test_a_sleeping_task_does_not_hold_a_worker),
        cmocka_unit_test(test_fd_wait_on_a_pipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

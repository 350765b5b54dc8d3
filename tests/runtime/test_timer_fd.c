/*
 * test_timer_fd.c — sleeping and waiting for file descriptors, neither of
 * which holds a worker.
 */
#include "rttest.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { SLEEPERS = 1000 };

static struct {
    int64_t elapsed, slept;
    int     woke, late;
    long    progress, progress_before;
    int     events[4], order[4], norder;
    int     flag;
} r;

/* --- sleep ------------------------------------------------------------------------ */

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
    assert_true(r.elapsed < 515 * LRT_MILLISECOND);
}

static void zero_sleep_body(void *arg)
{
    (void)arg;
    int64_t t0 = lrt_now();
    for (int i = 0; i < 100; i++) {
        lrt_sleep(0);
        lrt_sleep(-LRT_SECOND);
    }
    r.elapsed = lrt_now() - t0;
}

static void test_sleep_of_zero_or_less_returns_at_once(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(zero_sleep_body, NULL);
    assert_true(r.elapsed < 200 * LRT_MILLISECOND);
}

static void short_sleeper(void *arg)
{
    int64_t d = (int64_t)(uintptr_t)arg * LRT_MICROSECOND;
    int64_t t0 = lrt_now();
    lrt_sleep(d);
    if (lrt_now() - t0 < d)
        RT_ADD(&r.late, 1);                        /* woke too early */
    RT_ADD(&r.woke, 1);
}

static void many_sleepers_body(void *arg)
{
    (void)arg;
    int64_t t0 = lrt_now();
    for (int i = 0; i < SLEEPERS; i++)             /* 0 to 50 ms, shuffled */
        lrt_go(short_sleeper, (void *)(uintptr_t)((i * 7919) % SLEEPERS * 50));
    for (int i = 0; i < 5000 && RT_LOAD(&r.woke) < SLEEPERS; i++)
        lrt_sleep(LRT_MILLISECOND);
    r.elapsed = lrt_now() - t0;
}

static void test_a_thousand_sleepers_of_different_durations_all_wake(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(many_sleepers_body, NULL);
    assert_int_equal(r.woke, SLEEPERS);
    assert_int_equal(r.late, 0);
    assert_true(r.elapsed >= 50 * LRT_MILLISECOND - LRT_MILLISECOND);
}

static void ordered_sleeper(void *arg)
{
    int n = (int)(uintptr_t)arg;
    lrt_sleep(n * 25 * LRT_MILLISECOND);
    int i = RT_ADD(&r.norder, 1) - 1;
    if (i < 4)
        r.order[i] = n;
}

static void order_body(void *arg)
{
    (void)arg;
    lrt_go(ordered_sleeper, (void *)3);
    lrt_go(ordered_sleeper, (void *)1);
    lrt_go(ordered_sleeper, (void *)2);
    while (RT_LOAD(&r.norder) < 3)
        lrt_sleep(LRT_MILLISECOND);
}

static void test_sleepers_wake_in_the_order_of_their_deadlines(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(order_body, NULL);
    assert_int_equal(r.order[0], 1);
    assert_int_equal(r.order[1], 2);
    assert_int_equal(r.order[2], 3);
}

static void long_sleeper(void *arg)
{
    (void)arg;
    int64_t t0 = lrt_now();
    r.progress_before = RT_LOAD(&r.progress);
    lrt_sleep(200 * LRT_MILLISECOND);
    r.slept = lrt_now() - t0;
    RT_STORE(&r.flag, 1);
}

static void busy(void *arg)
{
    (void)arg;
    while (!RT_LOAD(&r.flag)) {
        RT_ADD(&r.progress, 1);
        lrt_yield();
    }
}

static void no_worker_body(void *arg)
{
    (void)arg;
    lrt_go(long_sleeper, NULL);
    lrt_go(busy, NULL);
    while (!RT_LOAD(&r.flag))
        lrt_sleep(5 * LRT_MILLISECOND);
}

static void test_a_sleeping_task_does_not_hold_a_worker(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(no_worker_body, NULL);                  /* with LRT_PROCS=1 too */
    assert_true(r.slept >= 200 * LRT_MILLISECOND);
    assert_true(r.progress - r.progress_before > 100);
}

/* --- fd wait ---------------------------------------------------------------------- */

typedef struct pipe_arg { int fd; } pipe_arg;

static void pipe_reader(void *arg)
{
    pipe_arg *p = arg;
    int ev = lrt_fd_wait(p->fd, LRT_READ, -1);
    RT_STORE(&r.events[0], ev);
    RT_STORE(&r.flag, 1);
}

static void reader_body(void *arg)
{
    (void)arg;
    int fds[2];
    if (pipe(fds) != 0)
        return;
    pipe_arg *p = lrt_alloc(sizeof *p);
    p->fd = fds[0];
    lrt_go(pipe_reader, p);
    lrt_sleep(10 * LRT_MILLISECOND);
    r.events[1] = RT_LOAD(&r.flag) ? 99 : 0;       /* still parked */
    r.events[2] = (int)write(fds[1], "x", 1);
    for (int i = 0; i < 2000 && !RT_LOAD(&r.flag); i++)
        lrt_sleep(LRT_MILLISECOND);
    close(fds[0]);
    close(fds[1]);
}

static void test_a_reader_parks_until_the_pipe_has_data(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(reader_body, NULL);
    assert_int_equal(r.events[1], 0);
    assert_int_equal(r.events[2], 1);
    assert_int_equal(r.events[0], LRT_READ);
}

static void timeout_fd_body(void *arg)
{
    (void)arg;
    int fds[2];
    if (pipe(fds) != 0)
        return;
    int64_t t0 = lrt_now();
    r.events[0] = lrt_fd_wait(fds[0], LRT_READ, 20 * LRT_MILLISECOND);   /* empty */
    r.elapsed = lrt_now() - t0;
    close(fds[0]);
    close(fds[1]);
}

static void test_fd_wait_returns_zero_at_its_timeout(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    r.events[0] = 99;
    rt_run(timeout_fd_body, NULL);
    assert_int_equal(r.events[0], 0);
    assert_true(r.elapsed >= 20 * LRT_MILLISECOND);
    assert_true(r.elapsed < 520 * LRT_MILLISECOND);
}

static void write_ready_body(void *arg)
{
    (void)arg;
    int fds[2];
    if (pipe(fds) != 0)
        return;
    int64_t t0 = lrt_now();
    r.events[0] = lrt_fd_wait(fds[1], LRT_WRITE, -1);                /* room: at once */
    r.events[1] = lrt_fd_wait(fds[1], LRT_READ | LRT_WRITE, 5 * LRT_SECOND);
    r.elapsed = lrt_now() - t0;
    if (write(fds[1], "y", 1) == 1)                                  /* now both ends */
        r.events[2] = lrt_fd_wait(fds[0], LRT_READ | LRT_WRITE, 5 * LRT_SECOND);
    close(fds[0]);
    close(fds[1]);
}

static void test_write_readiness_on_an_empty_pipe_is_immediate(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(write_ready_body, NULL);
    assert_int_equal(r.events[0], LRT_WRITE);
    assert_true(r.events[1] & LRT_WRITE);          /* only the ready events */
    assert_false(r.events[1] & LRT_READ);
    assert_true(r.events[2] & LRT_READ);
    assert_true(r.elapsed < LRT_SECOND);
}

static void socket_reader(void *arg)
{
    pipe_arg *p = arg;
    RT_STORE(&r.events[0], lrt_fd_wait(p->fd, LRT_READ, -1));
    RT_STORE(&r.flag, 1);
}

static void read_and_write_waits_body(void *arg)
{
    (void)arg;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return;
    pipe_arg *p = lrt_alloc(sizeof *p);
    p->fd = sv[0];
    lrt_go(socket_reader, p);                      /* waits to read sv[0] */
    lrt_sleep(10 * LRT_MILLISECOND);
    r.events[1] = lrt_fd_wait(sv[0], LRT_WRITE, 5 * LRT_SECOND);   /* meanwhile */
    r.events[2] = RT_LOAD(&r.flag);                /* the reader still waits */
    if (write(sv[1], "z", 1) == 1)
        for (int i = 0; i < 2000 && !RT_LOAD(&r.flag); i++)
            lrt_sleep(LRT_MILLISECOND);
    close(sv[0]);
    close(sv[1]);
}

static void test_a_reader_and_a_writer_wait_on_one_fd_independently(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(read_and_write_waits_body, NULL);
    assert_int_equal(r.events[1], LRT_WRITE);
    assert_int_equal(r.events[2], 0);
    assert_int_equal(r.events[0], LRT_READ);
}

static void eof_body(void *arg)
{
    (void)arg;
    int fds[2];
    if (pipe(fds) != 0)
        return;
    pipe_arg *p = lrt_alloc(sizeof *p);
    p->fd = fds[0];
    lrt_go(pipe_reader, p);
    lrt_sleep(10 * LRT_MILLISECOND);
    close(fds[1]);                                 /* EOF: a read would not block */
    for (int i = 0; i < 2000 && !RT_LOAD(&r.flag); i++)
        lrt_sleep(LRT_MILLISECOND);
    r.events[1] = lrt_fd_wait(fds[0], LRT_READ, 5 * LRT_SECOND);
    close(fds[0]);
}

static void test_the_end_of_a_pipe_makes_it_readable(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(eof_body, NULL);
    assert_true(r.events[0] & LRT_READ);
    assert_true(r.events[1] & LRT_READ);
}

static void bad_fd_body(void *arg)
{
    (void)arg;
    int unused = 1000;                             /* find a closed descriptor */
    while (fcntl(unused, F_GETFD) != -1)
        unused++;
    r.events[0] = lrt_fd_wait(unused, LRT_READ, 10 * LRT_MILLISECOND);
    r.events[1] = lrt_fd_wait(-1, LRT_READ, 10 * LRT_MILLISECOND);
    r.events[2] = lrt_fd_wait(1 << 20, LRT_WRITE, -1);
}

static void test_fd_wait_on_a_bad_fd_returns_negative(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(bad_fd_body, NULL);
    assert_int_equal(r.events[0], -EBADF);
    assert_true(r.events[1] < 0);
    assert_true(r.events[2] < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sleep_lasts_at_least_the_duration),
        cmocka_unit_test(test_sleep_of_zero_or_less_returns_at_once),
        cmocka_unit_test(test_a_thousand_sleepers_of_different_durations_all_wake),
        cmocka_unit_test(test_sleepers_wake_in_the_order_of_their_deadlines),
        cmocka_unit_test(test_a_sleeping_task_does_not_hold_a_worker),
        cmocka_unit_test(test_a_reader_parks_until_the_pipe_has_data),
        cmocka_unit_test(test_fd_wait_returns_zero_at_its_timeout),
        cmocka_unit_test(test_write_readiness_on_an_empty_pipe_is_immediate),
        cmocka_unit_test(test_a_reader_and_a_writer_wait_on_one_fd_independently),
        cmocka_unit_test(test_the_end_of_a_pipe_makes_it_readable),
        cmocka_unit_test(test_fd_wait_on_a_bad_fd_returns_negative),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_million.c — a million tasks at once: spawned, all parked on one
 * channel, counted, released by its close, and gone. What a server with a
 * slow leak reaches, and what the snapshot and the analysis must handle.
 * Plain builds only: under AddressSanitizer every stack is four times the
 * size and a million of them do not fit this machine.
 */
#include "rttest.h"

enum { MILLION = 1000000 };

typedef struct outcome { size_t peak, after; long woken; int64_t spawn_ns; } outcome;

static long woken;

static void parked(void *c)
{
    lrt_chan_recv(c, NULL);
    RT_ADD(&woken, 1);
}

static void body(void *arg)
{
    outcome *out = arg;
    lrt_chan *c = lrt_chan_make(0, 0);
    int64_t start = lrt_now();
    for (int i = 0; i < MILLION; i++)
        lrt_go(parked, c);
    out->spawn_ns = lrt_now() - start;
    out->peak = lrt_num_tasks();
    lrt_chan_close(c);
    int64_t deadline = lrt_now() + 60 * LRT_SECOND;
    while (lrt_num_tasks() > 1 && lrt_now() < deadline)
        lrt_sleep(LRT_MILLISECOND);
    out->after = lrt_num_tasks();
    out->woken = RT_LOAD(&woken);
}

static void test_a_million_parked_tasks_come_and_go(void **state)
{
    (void)state;
    outcome out = { 0 };
    rt_run(body, &out);
    print_message("1,000,000 tasks spawned and parked in %.0f ms\n", (double)out.spawn_ns / 1e6);
    assert_int_equal(out.peak, MILLION + 1);
    assert_int_equal(out.woken, MILLION);
    assert_int_equal(out.after, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_million_parked_tasks_come_and_go),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_tasks.c — spawning, identity, counting, yielding, and many tasks.
 */
#include "rttest.h"

#include <string.h>

static struct {
    uint64_t ids[3], self_seen, main_id;
    size_t   counts[4];
    int      order[4], norder;
    long     sum;
    size_t   parked_peak, after_release;
} r;

static void record_self(void *arg) { *(uint64_t *)arg = lrt_self(); }

static void ids_body(void *arg)
{
    (void)arg;
    r.main_id = lrt_self();
    for (int i = 0; i < 3; i++)
        r.ids[i] = lrt_go(record_self, &r.self_seen);
}

static void test_ids_increase_and_self_names_the_running_task(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(ids_body, NULL);
    assert_true(r.main_id >= 1);
    assert_true(r.ids[0] > r.main_id);
    assert_true(r.ids[1] > r.ids[0]);
    assert_true(r.ids[2] > r.ids[1]);
    assert_true(r.self_seen >= r.ids[0] && r.self_seen <= r.ids[2]);
    assert_int_equal(lrt_self(), 0);               /* outside any task */
}

static void wait_on(void *c) { lrt_chan_recv(c, NULL); }

static void count_body(void *arg)
{
    (void)arg;
    lrt_chan *c = lrt_chan_make(0, 0);
    r.counts[0] = lrt_num_tasks();
    for (int i = 0; i < 10; i++)
        lrt_go(wait_on, c);
    r.counts[1] = lrt_num_tasks();
    lrt_chan_close(c);
    while (lrt_num_tasks() > 1)
        lrt_yield();
    r.counts[2] = lrt_num_tasks();
}

static void test_num_tasks_counts_live_tasks(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(count_body, NULL);
    assert_int_equal(r.counts[0], 1);
    assert_int_equal(r.counts[1], 11);
    assert_int_equal(r.counts[2], 1);
}

static volatile int flag;
static void set_flag(void *arg) { (void)arg; flag = 1; }

static void yield_body(void *arg)
{
    (void)arg;
    flag = 0;
    lrt_go(set_flag, NULL);
    for (int i = 0; i < 1000 && !flag; i++)
        lrt_yield();
    r.order[0] = flag;
}

static void test_yield_lets_others_run(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(yield_body, NULL);
    assert_int_equal(r.order[0], 1);
}

/* Fan-in: 10,000 tasks each send one value; fan-out: 10,000 receive jobs. */
static void sender(void *c) { int v = 1; lrt_chan_send(c, &v); }

static void fan_in_body(void *arg)
{
    (void)arg;
    lrt_chan *c = lrt_chan_make(sizeof(int), 0);
    for (int i = 0; i < 10000; i++)
        lrt_go(sender, c);
    for (int i = 0; i < 10000; i++) {
        int v;
        lrt_chan_recv(c, &v);
        r.sum += v;
    }
}

static void test_fan_in_of_ten_thousand_tasks(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(fan_in_body, NULL);
    assert_int_equal(r.sum, 10000);
}

typedef struct fan { lrt_chan *jobs; lrt_chan *done; } fan;

static void fan_worker(void *arg)
{
    fan *f = arg;
    int job, total = 0;
    while (lrt_chan_recv(f->jobs, &job))
        total += job;
    lrt_chan_send(f->done, &total);
}

static void fan_out_body(void *arg)
{
    (void)arg;
    fan *f = lrt_alloc(sizeof *f);
    f->jobs = lrt_chan_make(sizeof(int), 64);
    f->done = lrt_chan_make(sizeof(int), 0);
    for (int i = 0; i < 10000; i++)
        lrt_go(fan_worker, f);
    for (int i = 1; i <= 10000; i++)
        lrt_chan_send(f->jobs, &i);
    lrt_chan_close(f->jobs);
    for (int i = 0; i < 10000; i++) {
        int t;
        lrt_chan_recv(f->done, &t);
        r.sum += t;
    }
}

static void test_fan_out_to_ten_thousand_tasks(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(fan_out_body, NULL);
    assert_int_equal(r.sum, 10000L * 10001 / 2);
}

static void parked_body(void *arg)
{
    (void)arg;
    lrt_chan *c = lrt_chan_make(0, 0);
    for (int i = 0; i < 100000; i++)
        lrt_go(wait_on, c);
    r.parked_peak = lrt_num_tasks();
    lrt_chan_close(c);                     /* wakes all 100,000 */
    while (lrt_num_tasks() > 1)
        lrt_sleep(LRT_MILLISECOND);
    r.after_release = lrt_num_tasks();
}

static void test_hundred_thousand_parked_tasks(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(parked_body, NULL);
    assert_int_equal(r.parked_peak, 100001);
    assert_int_equal(r.after_release, 1);
}

static void test_lrt_main_runs_again_after_returning(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(count_body, NULL);
    rt_run(count_body, NULL);
    assert_int_equal(r.counts[2], 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_increase_and_self_names_the_running_task),
        cmocka_unit_test(test_num_tasks_counts_live_tasks),
        cmocka_unit_test(test_yield_lets_others_run),
        cmocka_unit_test(test_fan_in_of_ten_thousand_tasks),
        cmocka_unit_test(test_fan_out_to_ten_thousand_tasks),
        cmocka_unit_test(test_hundred_thousand_parked_tasks),
        cmocka_unit_test(test_lrt_main_runs_again_after_returning),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

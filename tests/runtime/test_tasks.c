/*
 * test_tasks.c — spawning, identity, counting, yielding, lrt_main's life
 * cycle, and many tasks at once.
 */
#include "rttest.h"

#include <string.h>
#include <time.h>

enum { KIDS = 5 };

static struct {
    uint64_t main_id, ids[KIDS], seen[KIDS];
    size_t   counts[4];
    int      flag, ran_after_sleep;
    long     sum, mismatches;
    int64_t  elapsed;
    size_t   parked_peak, after_release;
} r;

/* --- identity ------------------------------------------------------------ */

typedef struct kid { uint64_t *slot; lrt_wg *wg; } kid;

static void record_self(void *arg)
{
    kid *k = arg;
    *k->slot = lrt_self();
    lrt_wg_done(k->wg);
}

static void ids_body(void *arg)
{
    (void)arg;
    r.main_id = lrt_self();
    lrt_wg *wg = lrt_alloc(sizeof *wg);
    kid *kids = lrt_alloc(KIDS * sizeof *kids);
    lrt_wg_add(wg, KIDS);
    for (int i = 0; i < KIDS; i++) {
        kids[i] = (kid){ &r.seen[i], wg };
        r.ids[i] = lrt_go(record_self, &kids[i]);
    }
    lrt_wg_wait(wg);
}

static void test_go_returns_increasing_ids_that_self_reports_inside(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(ids_body, NULL);
    assert_true(r.main_id >= 1);                   /* ids start at 1 */
    assert_true(r.ids[0] > r.main_id);
    for (int i = 0; i < KIDS; i++) {
        if (i > 0)
            assert_true(r.ids[i] > r.ids[i - 1]);
        assert_int_equal(r.seen[i], r.ids[i]);     /* lrt_self inside task i */
    }
}

static void test_self_is_zero_outside_tasks(void **state)
{
    (void)state;
    assert_int_equal(lrt_self(), 0);
    memset(&r, 0, sizeof r);
    rt_run(ids_body, NULL);
    assert_int_equal(lrt_self(), 0);               /* also after lrt_main */
}

static void test_ids_are_not_reused_by_a_later_lrt_main(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(ids_body, NULL);
    uint64_t last = r.ids[KIDS - 1];
    rt_run(ids_body, NULL);
    assert_true(r.main_id > last);
}

/* --- counting -------------------------------------------------------------- */

static void wait_on(void *c) { lrt_chan_recv(c, NULL); }

static void count_body(void *arg)
{
    (void)arg;
    lrt_chan *c = lrt_chan_make(0, 0);
    r.counts[0] = lrt_num_tasks();
    for (int i = 0; i < 10; i++)
        lrt_go(wait_on, c);
    r.counts[1] = lrt_num_tasks();                 /* runnable or parked: live */
    lrt_chan_close(c);
    for (int64_t t0 = lrt_now(); lrt_num_tasks() > 1 && lrt_now() - t0 < 5 * LRT_SECOND;)
        lrt_yield();
    r.counts[2] = lrt_num_tasks();
}

static void test_num_tasks_counts_live_tasks_and_falls_back_when_they_exit(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(count_body, NULL);
    assert_int_equal(r.counts[0], 1);
    assert_int_equal(r.counts[1], 11);
    assert_int_equal(r.counts[2], 1);
}

/* --- yield ------------------------------------------------------------------- */

static void set_flag(void *arg) { (void)arg; RT_STORE(&r.flag, 1); }

static void yield_body(void *arg)
{
    (void)arg;
    lrt_go(set_flag, NULL);
    /* Never blocks: only lrt_yield can let set_flag run with one worker. */
    for (int64_t t0 = lrt_now(); !RT_LOAD(&r.flag) && lrt_now() - t0 < 5 * LRT_SECOND;)
        lrt_yield();
}

static void test_yield_lets_other_tasks_run(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(yield_body, NULL);
    assert_int_equal(r.flag, 1);
}

static void yield_alone_body(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++)
        lrt_yield();                               /* nobody else: returns */
    r.flag = 1;
}

static void test_yield_with_no_other_task_returns(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(yield_alone_body, NULL);
    assert_int_equal(r.flag, 1);
}

/* --- lrt_main ---------------------------------------------------------------- */

static void slow_body(void *arg)
{
    (void)arg;
    lrt_sleep(20 * LRT_MILLISECOND);
    r.ran_after_sleep = 1;
}

static void test_lrt_main_returns_zero_when_fn_has_completed(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = lrt_main(slow_body, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(rc, 0);
    assert_int_equal(r.ran_after_sleep, 1);
    int64_t ns = (t1.tv_sec - t0.tv_sec) * LRT_SECOND + (t1.tv_nsec - t0.tv_nsec);
    assert_true(ns >= 20 * LRT_MILLISECOND);
}

static void leave_blocked_body(void *arg)
{
    (void)arg;
    lrt_chan *never = lrt_chan_make(0, 0);
    for (int i = 0; i < 3; i++)
        lrt_go(wait_on, never);                    /* blocked forever */
    lrt_sleep(LRT_MILLISECOND);
    r.counts[3] = lrt_num_tasks();
}

static void test_lrt_main_returns_although_tasks_are_still_blocked(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(leave_blocked_body, NULL);              /* discarded, as in Go */
    assert_int_equal(r.counts[3], 4);
    rt_run(count_body, NULL);                      /* and a new run is clean */
    assert_int_equal(r.counts[0], 1);
    assert_int_equal(r.counts[2], 1);
}

static void test_lrt_main_runs_again_after_returning(void **state)
{
    (void)state;
    for (int i = 0; i < 5; i++) {
        memset(&r, 0, sizeof r);
        rt_run(count_body, NULL);
        assert_int_equal(r.counts[1], 11);
        assert_int_equal(r.counts[2], 1);
    }
}

enum { TREE_DEPTH = RT_TSAN ? 10 : 12 };          /* 8,191 tasks; 2,047 under TSan */
typedef struct tree { lrt_wg *wg; int depth; long *count; } tree;

static void spawn_tree(void *arg)
{
    tree *t = arg;
    RT_ADD(t->count, 1);
    if (t->depth > 0) {
        tree *kids = lrt_alloc(2 * sizeof *kids);
        for (int i = 0; i < 2; i++) {
            kids[i] = (tree){ t->wg, t->depth - 1, t->count };
            lrt_go(spawn_tree, &kids[i]);
        }
    }
    lrt_wg_done(t->wg);
}

static void spawn_tree_body(void *arg)
{
    (void)arg;
    tree *root = lrt_alloc(sizeof *root);
    root->wg = lrt_alloc(sizeof *root->wg);
    root->depth = TREE_DEPTH;
    root->count = &r.sum;
    lrt_wg_add(root->wg, (1 << (TREE_DEPTH + 1)) - 1);   /* every task of the tree */
    lrt_go(spawn_tree, root);
    lrt_wg_wait(root->wg);
}

static void test_tasks_spawn_tasks(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(spawn_tree_body, NULL);
    assert_int_equal(r.sum, (1 << (TREE_DEPTH + 1)) - 1);
}

/* --- many tasks ---------------------------------------------------------------- */

enum { FAN = RT_MANY(10000), PARKED = RT_MANY(100000) };

/* Fan-in: FAN tasks each send their own number to one channel. */
typedef struct numbered { lrt_chan *c; int v; } numbered;

static void sender(void *arg)
{
    numbered *n = arg;
    lrt_chan_send(n->c, &n->v);
}

static void fan_in_body(void *arg)
{
    (void)arg;
    lrt_chan *c = lrt_chan_make(sizeof(int), 0);
    numbered *args = lrt_alloc(FAN * sizeof *args);
    for (int i = 0; i < FAN; i++) {
        args[i] = (numbered){ c, i + 1 };
        lrt_go(sender, &args[i]);
    }
    char *seen = lrt_alloc_noscan(FAN + 1);
    for (int i = 0; i < FAN; i++) {
        int v = 0;
        lrt_chan_recv(c, &v);
        if (v < 1 || v > FAN || seen[v]++)
            r.mismatches++;
        r.sum += v;
    }
    for (int i = 0; i < 1000 && lrt_num_tasks() > 1; i++)
        lrt_sleep(LRT_MILLISECOND);
    r.counts[0] = lrt_num_tasks();
}

static void test_fan_in_from_ten_thousand_senders(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(fan_in_body, NULL);
    assert_int_equal(r.mismatches, 0);             /* each value exactly once */
    assert_int_equal(r.sum, (long)FAN * (FAN + 1) / 2);
    assert_int_equal(r.counts[0], 1);              /* every sender exited */
}

/* Fan-out: FAN workers take jobs from one channel until it is closed. */
typedef struct fan { lrt_chan *jobs, *done; } fan;

static void fan_worker(void *arg)
{
    fan *f = arg;
    int job;
    long total[2] = { 0, 0 };                      /* sum, count */
    while (lrt_chan_recv(f->jobs, &job)) {
        total[0] += job;
        total[1]++;
    }
    lrt_chan_send(f->done, total);
}

static void fan_out_body(void *arg)
{
    (void)arg;
    fan *f = lrt_alloc(sizeof *f);
    f->jobs = lrt_chan_make(sizeof(int), 0);
    f->done = lrt_chan_make(2 * sizeof(long), 0);
    for (int i = 0; i < FAN; i++)
        lrt_go(fan_worker, f);
    for (int i = 1; i <= FAN; i++)
        lrt_chan_send(f->jobs, &i);
    lrt_chan_close(f->jobs);
    long jobs = 0;
    for (int i = 0; i < FAN; i++) {
        long t[2];
        lrt_chan_recv(f->done, t);
        r.sum += t[0];
        jobs += t[1];
    }
    r.mismatches = jobs - FAN;
}

static void test_fan_out_of_jobs_to_ten_thousand_workers(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(fan_out_body, NULL);
    assert_int_equal(r.mismatches, 0);             /* every job taken once */
    assert_int_equal(r.sum, (long)FAN * (FAN + 1) / 2);
}

static void parked_body(void *arg)
{
    (void)arg;
    lrt_chan *c = lrt_chan_make(0, 0);
    for (int i = 0; i < PARKED; i++)
        lrt_go(wait_on, c);
    r.parked_peak = lrt_num_tasks();
    lrt_chan_close(c);                             /* wakes every one */
    for (int i = 0; i < 20000 && lrt_num_tasks() > 1; i++)
        lrt_sleep(LRT_MILLISECOND);
    r.after_release = lrt_num_tasks();
}

static void test_hundred_thousand_parked_tasks_released_by_close(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(parked_body, NULL);
    assert_int_equal(r.parked_peak, PARKED + 1);
    assert_int_equal(r.after_release, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_go_returns_increasing_ids_that_self_reports_inside),
        cmocka_unit_test(test_self_is_zero_outside_tasks),
        cmocka_unit_test(test_ids_are_not_reused_by_a_later_lrt_main),
        cmocka_unit_test(test_num_tasks_counts_live_tasks_and_falls_back_when_they_exit),
        cmocka_unit_test(test_yield_lets_other_tasks_run),
        cmocka_unit_test(test_yield_with_no_other_task_returns),
        cmocka_unit_test(test_lrt_main_returns_zero_when_fn_has_completed),
        cmocka_unit_test(test_lrt_main_returns_although_tasks_are_still_blocked),
        cmocka_unit_test(test_lrt_main_runs_again_after_returning),
        cmocka_unit_test(test_tasks_spawn_tasks),
        cmocka_unit_test(test_fan_in_from_ten_thousand_senders),
        cmocka_unit_test(test_fan_out_of_jobs_to_ten_thousand_workers),
        cmocka_unit_test(test_hundred_thousand_parked_tasks_released_by_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_context.c — contexts: background, cancel, trees, deadlines.
 */
#include "rttest.h"

#include <string.h>

static struct {
    int  errs[8];
    bool done_null;
    int64_t elapsed;
    bool woke;
} r;

static void background_body(void *arg)
{
    (void)arg;
    lrt_ctx *bg = lrt_ctx_background();
    r.errs[0] = lrt_ctx_err(bg);
    r.done_null = lrt_ctx_done(bg) == NULL;
    lrt_ctx_cancel(bg);                    /* no effect */
    r.errs[1] = lrt_ctx_err(bg);
}

static void test_background_is_never_cancelled(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(background_body, NULL);
    assert_int_equal(r.errs[0], 0);
    assert_int_equal(r.errs[1], 0);
    assert_true(r.done_null);
}

static void cancel_body(void *arg)
{
    (void)arg;
    lrt_ctx *ctx = lrt_ctx_with_cancel(lrt_ctx_background());
    r.errs[0] = lrt_ctx_err(ctx);
    lrt_ctx_cancel(ctx);
    r.errs[1] = lrt_ctx_err(ctx);
    r.woke = !lrt_chan_recv(lrt_ctx_done(ctx), NULL);   /* closed: false at once */
    lrt_ctx_free(ctx);
}

static void test_cancel_closes_done_and_sets_err(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(cancel_body, NULL);
    assert_int_equal(r.errs[0], 0);
    assert_int_equal(r.errs[1], LRT_CANCELED);
    assert_true(r.woke);
}

static void tree_body(void *arg)
{
    (void)arg;
    lrt_ctx *root = lrt_ctx_with_cancel(lrt_ctx_background());
    lrt_ctx *mid = lrt_ctx_with_cancel(root);
    lrt_ctx *leaf1 = lrt_ctx_with_cancel(mid), *leaf2 = lrt_ctx_with_timeout(mid, LRT_SECOND);
    lrt_ctx *deep = lrt_ctx_with_cancel(leaf1);
    lrt_ctx_cancel(mid);
    r.errs[0] = lrt_ctx_err(root);          /* the parent's parent: untouched */
    r.errs[1] = lrt_ctx_err(mid);
    r.errs[2] = lrt_ctx_err(leaf1);
    r.errs[3] = lrt_ctx_err(leaf2);
    r.errs[4] = lrt_ctx_err(deep);
    lrt_ctx *late = lrt_ctx_with_cancel(mid);   /* born cancelled */
    r.errs[5] = lrt_ctx_err(late);
    lrt_ctx_free(deep);
    lrt_ctx_free(leaf1);
    lrt_ctx_free(leaf2);
    lrt_ctx_free(late);
    lrt_ctx_free(mid);
    lrt_ctx_free(root);
}

static void test_cancelling_a_parent_cancels_the_tree_below_only(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(tree_body, NULL);
    assert_int_equal(r.errs[0], 0);
    for (int i = 1; i <= 5; i++)
        assert_int_equal(r.errs[i], LRT_CANCELED);
}

static void deadline_body(void *arg)
{
    (void)arg;
    int64_t t0 = lrt_now();
    lrt_ctx *ctx = lrt_ctx_with_timeout(lrt_ctx_background(), 20 * LRT_MILLISECOND);
    lrt_chan_recv(lrt_ctx_done(ctx), NULL);
    r.elapsed = lrt_now() - t0;
    r.errs[0] = lrt_ctx_err(ctx);
    lrt_ctx_free(ctx);
}

static void test_timeout_cancels_with_deadline_after_about_that_long(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(deadline_body, NULL);
    assert_int_equal(r.errs[0], LRT_DEADLINE);
    assert_true(r.elapsed >= 20 * LRT_MILLISECOND);
    assert_true(r.elapsed < 520 * LRT_MILLISECOND);
}

static void selecting(void *arg)
{
    lrt_ctx *ctx = arg;
    lrt_chan *never = lrt_chan_make(0, 0);
    lrt_case cases[] = {
        { .chan = never, .dir = LRT_RECV },
        { .chan = lrt_ctx_done(ctx), .dir = LRT_RECV },
    };
    r.errs[6] = lrt_select(cases, 2, -1);
    r.woke = true;
}

static void select_done_body(void *arg)
{
    (void)arg;
    lrt_ctx *ctx = lrt_ctx_with_cancel(lrt_ctx_background());
    lrt_go(selecting, ctx);
    lrt_sleep(2 * LRT_MILLISECOND);
    lrt_ctx_cancel(ctx);
    while (!r.woke)
        lrt_sleep(LRT_MILLISECOND);
}

static void test_a_task_selecting_on_done_wakes_on_cancel(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(select_done_body, NULL);
    assert_true(r.woke);
    assert_int_equal(r.errs[6], 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_background_is_never_cancelled),
        cmocka_unit_test(test_cancel_closes_done_and_sets_err),
        cmocka_unit_test(test_cancelling_a_parent_cancels_the_tree_below_only),
        cmocka_unit_test(test_timeout_cancels_with_deadline_after_about_that_long),
        cmocka_unit_test(test_a_task_selecting_on_done_wakes_on_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_context.c — contexts: background, cancel, trees of descendants,
 * deadlines, waking tasks that select on done().
 */
#include "rttest.h"

#include <string.h>

static struct {
    int     errs[16];
    bool    closed[16];
    bool    done_null, done_open;
    int64_t elapsed;
    int     woke, index;
} r;

/* True when ch is closed: a receive does not block and returns false. */
static bool is_closed(lrt_chan *ch)
{
    if (!ch)
        return false;
    lrt_case c = { .chan = ch, .dir = LRT_RECV };
    return lrt_select(&c, 1, 0) == 0 && !c.ok;
}

static void background_body(void *arg)
{
    (void)arg;
    lrt_ctx *bg = lrt_ctx_background();
    r.errs[0] = lrt_ctx_err(bg);
    r.done_null = lrt_ctx_done(bg) == NULL;
}

static void test_background_has_no_error_and_no_done_channel(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(background_body, NULL);
    assert_int_equal(r.errs[0], 0);
    assert_true(r.done_null);
}

static void cancel_body(void *arg)
{
    (void)arg;
    lrt_ctx *ctx = lrt_ctx_with_cancel(lrt_ctx_background());
    r.errs[0] = lrt_ctx_err(ctx);
    r.done_open = lrt_ctx_done(ctx) != NULL && !is_closed(lrt_ctx_done(ctx));
    lrt_ctx_cancel(ctx);
    r.errs[1] = lrt_ctx_err(ctx);
    r.closed[0] = is_closed(lrt_ctx_done(ctx));
    r.closed[1] = !lrt_chan_recv(lrt_ctx_done(ctx), NULL);   /* false at once */
    lrt_ctx_cancel(ctx);                           /* twice: no effect */
    r.errs[2] = lrt_ctx_err(ctx);
    lrt_ctx_free(ctx);
}

static void test_cancel_closes_done_and_sets_err_canceled(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(cancel_body, NULL);
    assert_int_equal(r.errs[0], 0);
    assert_true(r.done_open);
    assert_int_equal(r.errs[1], LRT_CANCELED);
    assert_true(r.closed[0]);
    assert_true(r.closed[1]);
    assert_int_equal(r.errs[2], LRT_CANCELED);
}

static void tree_body(void *arg)
{
    (void)arg;
    /* grandparent > parent > {child1 > grandchild > great, child2 (timeout)},
     * and an uncle next to the parent. */
    lrt_ctx *grandparent = lrt_ctx_with_cancel(lrt_ctx_background());
    lrt_ctx *parent = lrt_ctx_with_cancel(grandparent);
    lrt_ctx *uncle = lrt_ctx_with_cancel(grandparent);
    lrt_ctx *child1 = lrt_ctx_with_cancel(parent);
    lrt_ctx *child2 = lrt_ctx_with_timeout(parent, 10 * LRT_SECOND);
    lrt_ctx *grandchild = lrt_ctx_with_cancel(child1);
    lrt_ctx *great = lrt_ctx_with_timeout(grandchild, 10 * LRT_SECOND);
    lrt_ctx *all[] = { grandparent, uncle, parent, child1, child2, grandchild, great };
    lrt_ctx_cancel(parent);
    for (int i = 0; i < 7; i++) {
        r.errs[i] = lrt_ctx_err(all[i]);
        r.closed[i] = is_closed(lrt_ctx_done(all[i]));
    }
    lrt_ctx *late = lrt_ctx_with_cancel(child1);   /* born cancelled */
    r.errs[7] = lrt_ctx_err(late);
    r.closed[7] = is_closed(lrt_ctx_done(late));
    lrt_ctx_free(late);
    lrt_ctx_free(great);
    lrt_ctx_free(grandchild);
    lrt_ctx_free(child2);
    lrt_ctx_free(child1);
    lrt_ctx_free(uncle);
    lrt_ctx_free(parent);
    lrt_ctx_free(grandparent);
}

static void test_cancelling_a_parent_cancels_its_descendants_but_not_its_parent(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(tree_body, NULL);
    assert_int_equal(r.errs[0], 0);                /* grandparent: untouched */
    assert_false(r.closed[0]);
    assert_int_equal(r.errs[1], 0);                /* uncle: untouched */
    assert_false(r.closed[1]);
    for (int i = 2; i <= 7; i++) {                 /* parent and three levels below */
        assert_int_equal(r.errs[i], LRT_CANCELED);
        assert_true(r.closed[i]);
    }
}

static void deadline_body(void *arg)
{
    (void)arg;
    int64_t t0 = lrt_now();
    lrt_ctx *ctx = lrt_ctx_with_timeout(lrt_ctx_background(), 20 * LRT_MILLISECOND);
    r.errs[0] = lrt_ctx_err(ctx);
    lrt_chan_recv(lrt_ctx_done(ctx), NULL);
    r.elapsed = lrt_now() - t0;
    r.errs[1] = lrt_ctx_err(ctx);
    lrt_ctx_cancel(ctx);                           /* too late: stays DEADLINE */
    r.errs[2] = lrt_ctx_err(ctx);
    lrt_ctx_free(ctx);
}

static void test_with_timeout_fires_deadline_after_about_that_long(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(deadline_body, NULL);
    assert_int_equal(r.errs[0], 0);
    assert_int_equal(r.errs[1], LRT_DEADLINE);
    assert_true(r.elapsed >= 20 * LRT_MILLISECOND);
    assert_true(r.elapsed < 520 * LRT_MILLISECOND);
    assert_int_equal(r.errs[2], LRT_DEADLINE);
}

static void early_cancel_body(void *arg)
{
    (void)arg;
    lrt_ctx *ctx = lrt_ctx_with_timeout(lrt_ctx_background(), 10 * LRT_MILLISECOND);
    lrt_ctx *child = lrt_ctx_with_cancel(ctx);
    lrt_ctx_cancel(ctx);
    r.errs[0] = lrt_ctx_err(ctx);
    lrt_sleep(30 * LRT_MILLISECOND);               /* past the deadline */
    r.errs[1] = lrt_ctx_err(ctx);                  /* the first cause stays */
    r.errs[2] = lrt_ctx_err(child);
    lrt_ctx_free(child);
    lrt_ctx_free(ctx);
}

static void test_cancel_before_the_deadline_reports_canceled(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(early_cancel_body, NULL);
    assert_int_equal(r.errs[0], LRT_CANCELED);
    assert_int_equal(r.errs[1], LRT_CANCELED);
    assert_int_equal(r.errs[2], LRT_CANCELED);
}

static void inherited_deadline_body(void *arg)
{
    (void)arg;
    lrt_ctx *parent = lrt_ctx_with_timeout(lrt_ctx_background(), 15 * LRT_MILLISECOND);
    lrt_ctx *child = lrt_ctx_with_cancel(parent);
    lrt_ctx *longer = lrt_ctx_with_timeout(parent, 10 * LRT_SECOND);
    int64_t t0 = lrt_now();
    lrt_chan_recv(lrt_ctx_done(longer), NULL);     /* the parent's comes first */
    r.elapsed = lrt_now() - t0;
    r.errs[0] = lrt_ctx_err(parent);
    r.errs[1] = lrt_ctx_err(child);
    r.errs[2] = lrt_ctx_err(longer);
    lrt_ctx_free(longer);
    lrt_ctx_free(child);
    lrt_ctx_free(parent);
}

static void test_a_parents_deadline_reaches_its_children(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(inherited_deadline_body, NULL);
    assert_true(r.elapsed < 5 * LRT_SECOND);
    assert_int_equal(r.errs[0], LRT_DEADLINE);
    assert_int_equal(r.errs[1], LRT_DEADLINE);     /* as in Go: the parent's err */
    assert_int_equal(r.errs[2], LRT_DEADLINE);
}

static void selecting(void *arg)
{
    lrt_ctx *ctx = arg;
    lrt_chan *never = lrt_chan_make(0, 0);
    lrt_case cases[] = {
        { .chan = never, .dir = LRT_RECV },
        { .chan = lrt_ctx_done(ctx), .dir = LRT_RECV, .ok = true },
    };
    int k = lrt_select(cases, 2, -1);
    RT_STORE(&r.index, cases[1].ok ? 100 + k : k);
    RT_STORE(&r.woke, 1);
}

static void select_done_body(void *arg)
{
    (void)arg;
    lrt_ctx *ctx = lrt_ctx_with_cancel(lrt_ctx_background());
    lrt_go(selecting, ctx);
    lrt_sleep(5 * LRT_MILLISECOND);
    r.errs[0] = RT_LOAD(&r.woke);                  /* still waiting */
    lrt_ctx_cancel(ctx);
    for (int i = 0; i < 2000 && !RT_LOAD(&r.woke); i++)
        lrt_sleep(LRT_MILLISECOND);
    lrt_ctx_free(ctx);
}

static void test_a_task_selecting_on_done_wakes_on_cancel(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(select_done_body, NULL);
    assert_int_equal(r.errs[0], 0);
    assert_int_equal(r.woke, 1);
    assert_int_equal(r.index, 1);                  /* done's case, ok false */
}

static void timeout_select_body(void *arg)
{
    (void)arg;
    /* t0 before the context: its deadline is taken from the clock inside
     * lrt_ctx_with_timeout, and a slow machine (valgrind) may spend
     * milliseconds between the two. */
    int64_t t0 = lrt_now();
    lrt_ctx *ctx = lrt_ctx_with_timeout(lrt_ctx_background(), 15 * LRT_MILLISECOND);
    lrt_go(selecting, ctx);
    for (int i = 0; i < 2000 && !RT_LOAD(&r.woke); i++)
        lrt_sleep(LRT_MILLISECOND);
    r.elapsed = lrt_now() - t0;
    r.errs[0] = lrt_ctx_err(ctx);
    lrt_ctx_free(ctx);
}

static void test_a_task_selecting_on_done_wakes_at_the_deadline(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(timeout_select_body, NULL);
    assert_int_equal(r.woke, 1);
    assert_int_equal(r.index, 1);
    assert_true(r.elapsed >= 15 * LRT_MILLISECOND);
    assert_int_equal(r.errs[0], LRT_DEADLINE);
}

/* Each child's owner frees it the moment done closes, while the cancel
 * that closed it (the parent's, or the parent's deadline on the timer
 * thread) is still walking the tree: that cancel must not touch a child
 * after closing its done channel (ThreadSanitizer and the allocator's
 * reuse catch it if it does). */
enum { OWNERS = 32, ROUNDS = 40 };

static void owner(void *arg)
{
    lrt_ctx *parent = arg;
    lrt_ctx *child = RT_LOAD(&r.index) & 1
        ? lrt_ctx_with_timeout(parent, 50 * LRT_MILLISECOND)
        : lrt_ctx_with_cancel(parent);
    lrt_ctx *grandchild = lrt_ctx_with_cancel(child);
    lrt_chan_recv(lrt_ctx_done(child), NULL);
    lrt_ctx_free(child);
    lrt_chan_recv(lrt_ctx_done(grandchild), NULL);
    if (lrt_ctx_err(grandchild) != 0)
        RT_ADD(&r.woke, 1);
    lrt_ctx_free(grandchild);
}

static void free_on_done_body(void *arg)
{
    (void)arg;
    for (int round = 0; round < ROUNDS; round++) {
        RT_STORE(&r.index, round);
        bool by_timer = round & 2;
        lrt_ctx *parent = by_timer
            ? lrt_ctx_with_timeout(lrt_ctx_background(), LRT_MILLISECOND)
            : lrt_ctx_with_cancel(lrt_ctx_background());
        for (int i = 0; i < OWNERS; i++)
            lrt_go(owner, parent);
        lrt_yield();
        if (!by_timer)
            lrt_ctx_cancel(parent);
        while (RT_LOAD(&r.woke) < (round + 1) * OWNERS)
            lrt_sleep(100 * LRT_MICROSECOND);
        lrt_ctx_free(parent);
    }
}

static void test_a_child_freed_when_done_closes_is_safe_from_the_cancel(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(free_on_done_body, NULL);
    assert_int_equal(r.woke, OWNERS * ROUNDS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_background_has_no_error_and_no_done_channel),
        cmocka_unit_test(test_cancel_closes_done_and_sets_err_canceled),
        cmocka_unit_test(test_cancelling_a_parent_cancels_its_descendants_but_not_its_parent),
        cmocka_unit_test(test_with_timeout_fires_deadline_after_about_that_long),
        cmocka_unit_test(test_cancel_before_the_deadline_reports_canceled),
        cmocka_unit_test(test_a_parents_deadline_reaches_its_children),
        cmocka_unit_test(test_a_task_selecting_on_done_wakes_on_cancel),
        cmocka_unit_test(test_a_task_selecting_on_done_wakes_at_the_deadline),
        cmocka_unit_test(test_a_child_freed_when_done_closes_is_safe_from_the_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_labels.c — task labels: set, get, replace and remove on the running
 * task; inherited by tasks spawned afterwards and not by those spawned
 * before; limits; misuse outside a task.
 */
#include "rttest.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

typedef struct seen {
    int  set_result, long_key, long_value, empty_key, too_many;
    char before[32], after[32], replaced[32], removed[32];
    char child_early[32], child_late[32], grandchild[32], child_other[32];
    char parent_after_child[32];
} seen;

static void copy(char *out, const char *value)
{
    strncpy(out, value ? value : "(null)", 31);
}

static lrt_chan *started, *done;

typedef struct child_arg { seen *s; char *out; } child_arg;

static void child(void *arg)
{
    child_arg *c = arg;
    copy(c->out, lrt_label_get("request"));
    lrt_chan_send(started, NULL);
    lrt_chan_recv(done, NULL);
}

static void grandchild(void *arg)
{
    seen *s = arg;
    copy(s->grandchild, lrt_label_get("request"));
    copy(s->child_other, lrt_label_get("stage"));
    lrt_chan_send(started, NULL);
}

static void middle(void *arg)
{
    lrt_label_set("stage", "middle");         /* its own, not its parent's */
    lrt_go(grandchild, arg);
}

static void body(void *arg)
{
    seen *s = arg;
    started = lrt_chan_make(0, 0);
    done = lrt_chan_make(0, 0);
    copy(s->before, lrt_label_get("request"));
    child_arg early = { s, s->child_early }, late = { s, s->child_late };
    lrt_go(child, &early);                    /* spawned before the label */
    lrt_chan_recv(started, NULL);
    s->set_result = lrt_label_set("request", "42");
    copy(s->after, lrt_label_get("request"));
    lrt_go(child, &late);
    lrt_chan_recv(started, NULL);
    lrt_go(middle, s);
    lrt_chan_recv(started, NULL);
    copy(s->parent_after_child, lrt_label_get("stage"));
    lrt_label_set("request", "43");
    copy(s->replaced, lrt_label_get("request"));
    lrt_label_set("request", NULL);
    copy(s->removed, lrt_label_get("request"));

    char key[80];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    s->long_key = lrt_label_set(key, "v");
    char value[300];
    memset(value, 'v', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    s->long_value = lrt_label_set("k", value);
    s->empty_key = lrt_label_set("", "v");
    s->too_many = 0;
    for (int i = 0; i < 17 && !s->too_many; i++) {
        char k[8];
        snprintf(k, sizeof k, "k%d", i);
        s->too_many = lrt_label_set(k, "v");
    }
    lrt_chan_close(done);
}

static void test_labels_are_set_got_and_inherited(void **state)
{
    (void)state;
    seen s;
    memset(&s, 0, sizeof s);
    rt_run(body, &s);
    assert_int_equal(s.set_result, 0);
    assert_string_equal(s.before, "(null)");
    assert_string_equal(s.after, "42");
    assert_string_equal(s.child_early, "(null)");   /* spawned before the label */
    assert_string_equal(s.child_late, "42");        /* spawned after: inherits */
    assert_string_equal(s.grandchild, "42");        /* through two generations */
    assert_string_equal(s.child_other, "middle");   /* and its parent's own */
    assert_string_equal(s.parent_after_child, "(null)");  /* a child's label stays its own */
    assert_string_equal(s.replaced, "43");
    assert_string_equal(s.removed, "(null)");
}

static void test_label_limits_are_errors(void **state)
{
    (void)state;
    seen s;
    memset(&s, 0, sizeof s);
    rt_run(body, &s);
    assert_int_equal(s.long_key, -EINVAL);
    assert_int_equal(s.long_value, -EINVAL);
    assert_int_equal(s.empty_key, -EINVAL);
    assert_int_equal(s.too_many, -EINVAL);
}

static void set_outside(void) { lrt_label_set("k", "v"); }

static void test_labels_outside_a_task_abort(void **state)
{
    (void)state;
    rt_expect_abort_thread(set_outside, "lrt_label_set", "outside a task", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* The death test first: it forks, and a fork from a process whose
         * earlier tests ran threads confuses ThreadSanitizer (-Dtsan). */
        cmocka_unit_test(test_labels_outside_a_task_abort),
        cmocka_unit_test(test_labels_are_set_got_and_inherited),
        cmocka_unit_test(test_label_limits_are_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

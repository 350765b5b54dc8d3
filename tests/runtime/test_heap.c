/*
 * test_heap.c — the tracked heap: zeroed memory, sizes small and large,
 * reuse after free, noscan, and misuse of lrt_free.
 */
#include "rttest.h"

#include <string.h>

/* The debug root's pin count (runtime-internal, for this test). */
size_t lrt_debug_pin_count(void);

static struct {
    bool zeroed, distinct, large_ok, reused;
} r;

static void heap_body(void *arg)
{
    (void)arg;
    r.zeroed = true;
    r.distinct = true;
    void *prev = NULL;
    for (size_t n = 1; n <= 70000; n = n * 3 + 1) {
        unsigned char *p = n % 2 ? lrt_alloc(n) : lrt_alloc_noscan(n);
        for (size_t i = 0; i < n; i++)
            if (p[i]) r.zeroed = false;
        memset(p, 0xee, n);
        if (p == prev) r.distinct = false;
        prev = p;
    }
    unsigned char *big = lrt_alloc(3 << 20);          /* a large object */
    big[0] = 1;
    big[(3 << 20) - 1] = 2;
    r.large_ok = big[0] == 1 && big[(3 << 20) - 1] == 2;
    lrt_free(big);
    unsigned char *again = lrt_alloc(3 << 20);        /* reuses, zeroed */
    r.zeroed = r.zeroed && again[0] == 0 && again[(3 << 20) - 1] == 0;
    lrt_free(again);
    void *a = lrt_alloc(48);
    lrt_free(a);
    void *b = lrt_alloc(48);
    r.reused = a == b;                                 /* the worker cache */
    r.zeroed = r.zeroed && ((char *)b)[0] == 0;
    lrt_free(b);
    lrt_free(NULL);
}

static void test_alloc_is_zeroed_sized_and_reused(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(heap_body, NULL);
    assert_true(r.zeroed);
    assert_true(r.distinct);
    assert_true(r.large_ok);
    assert_true(r.reused);
}

static void many_allocs(void *arg)
{
    (void)arg;
    void *ptrs[1000];
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 1000; i++)
            ptrs[i] = lrt_alloc((size_t)(i % 300) + 1);
        for (int i = 0; i < 1000; i++)
            lrt_free(ptrs[i]);
    }
    lrt_wg_done(arg);
}

static void concurrent_body(void *arg)
{
    (void)arg;
    lrt_wg *wg = lrt_alloc(sizeof *wg);
    lrt_wg_add(wg, 8);
    for (int i = 0; i < 8; i++)
        lrt_go(many_allocs, wg);
    lrt_wg_wait(wg);
}

static void test_concurrent_alloc_and_free(void **state)
{
    (void)state;
    rt_run(concurrent_body, NULL);
}

static void double_free(void *arg)
{
    (void)arg;
    void *p = lrt_alloc(32);
    lrt_free(p);
    lrt_free(p);
}

static void interior_free(void *arg)
{
    (void)arg;
    char *p = lrt_alloc(64);
    lrt_free(p + 8);
}

static void foreign_free(void *arg)
{
    (void)arg;
    static char not_ours[16];
    lrt_free(not_ours);
}

static void unpin_unpinned(void *arg)
{
    (void)arg;
    static char x;
    lrt_unpin(&x);
}

static void test_unpinning_what_is_not_pinned_aborts(void **state)
{
    (void)state;
    rt_expect_abort(unpin_unpinned, "lrt_unpin", "is not pinned", NULL);
}

/* Pins nest and are published in the debug root, whatever their order. */
static size_t pins_seen[4];

static void pin_body(void *arg)
{
    (void)arg;
    void *a = lrt_alloc(32), *b = lrt_alloc(32);
    lrt_pin(a);
    lrt_pin(b);
    lrt_pin(a);
    pins_seen[0] = lrt_debug_pin_count();
    lrt_unpin(a);
    pins_seen[1] = lrt_debug_pin_count();
    lrt_unpin(b);
    lrt_unpin(a);
    pins_seen[2] = lrt_debug_pin_count();
    lrt_pin(NULL);
    lrt_unpin(NULL);
    pins_seen[3] = lrt_debug_pin_count();
    lrt_free(a);
    lrt_free(b);
}

static void test_pins_nest_and_are_counted(void **state)
{
    (void)state;
    rt_run(pin_body, NULL);
    assert_int_equal(pins_seen[0], 3);
    assert_int_equal(pins_seen[1], 2);
    assert_int_equal(pins_seen[2], 0);
    assert_int_equal(pins_seen[3], 0);
}

static void test_bad_frees_abort(void **state)
{
    (void)state;
    rt_expect_abort(double_free, "lrt_free", "double free", NULL);
    rt_expect_abort(interior_free, "lrt_free", "inside an object", NULL);
    rt_expect_abort(foreign_free, "lrt_free", "not allocated by lrt_alloc", NULL);
}

/* The pages of a freed large object become a span of small ones: that
 * span starts empty. It once kept the large object's count of one slot in
 * use; with its bitmaps out of line (more than 64 slots) nothing matched
 * that count, so filling the span never ended: the class's list kept a
 * span with no room and the next allocation spun (malloc made it common). */
static struct { bool distinct, filled, in_run; } reuse;

static void reuse_body(void *arg)
{
    (void)arg;
    enum { N = 300, SIZE = 600 };                  /* the 640-byte class: 102 a span */
    /* Between two live large objects, so that the freed run stays itself
     * (not merged into a neighbour) and is the run the new span takes. */
    void *before = lrt_alloc(64 * 1024), *large = lrt_alloc(64 * 1024), *after = lrt_alloc(64 * 1024);
    lrt_free(large);                               /* 8 pages, a small span's size */
    static unsigned char *objs[N];
    reuse.distinct = reuse.filled = true;
    for (int i = 0; i < N; i++) {
        objs[i] = lrt_alloc(SIZE);
        memset(objs[i], i & 0xff, SIZE);
        if ((char *)objs[i] >= (char *)large && (char *)objs[i] < (char *)large + 64 * 1024)
            reuse.in_run = true;
    }
    for (int i = 0; i < N; i++) {
        if (objs[i][0] != (i & 0xff) || objs[i][SIZE - 1] != (i & 0xff))
            reuse.distinct = false;
        lrt_free(objs[i]);
    }
    lrt_free(before);
    lrt_free(after);
}

static void test_a_large_objects_pages_make_a_fresh_small_span(void **state)
{
    (void)state;
    rt_run(reuse_body, NULL);
    assert_true(reuse.distinct);
    assert_true(reuse.filled);
    assert_true(reuse.in_run);                     /* the case is the one meant */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* The death test first: it forks, and a fork from a process whose
         * earlier tests ran threads confuses ThreadSanitizer (-Dtsan). */
        cmocka_unit_test(test_bad_frees_abort),
        cmocka_unit_test(test_unpinning_what_is_not_pinned_aborts),
        /* In a heap with no free run yet (its pages must be the ones reused). */
        cmocka_unit_test(test_a_large_objects_pages_make_a_fresh_small_span),
        cmocka_unit_test(test_alloc_is_zeroed_sized_and_reused),
        cmocka_unit_test(test_concurrent_alloc_and_free),
        cmocka_unit_test(test_pins_nest_and_are_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

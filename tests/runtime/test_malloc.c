/*
 * test_malloc.c — the C library's malloc on the tracked heap (malloc.c):
 * before and after lrt_main, from plain threads, freed on another thread,
 * realloc across size classes, every aligned variant, calloc's overflow,
 * fork while other threads allocate, LRT_MALLOC=off, and the debug root's
 * record of whose allocator served the process. Under a sanitizer the
 * sanitizer's allocator must serve instead (and the record says so).
 */
#include "rttest.h"

#include "leakscan_format.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern ls_debug_root lrt_debug_root;
bool lrt_heap_owns(const void *p);        /* runtime-internal (heap.c) */

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

/* A tool's allocator serves under a sanitizer or valgrind (memcheck
 * replaces glibc's functions, which malloc.c then passes blocks to). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define OURS_EXPECTED false
#else
#define OURS_EXPECTED (!RUNNING_ON_VALGRIND)
#endif

static char self[4096];                   /* this program, for exec */

static void test_malloc_before_lrt_main_is_on_the_tracked_heap(void **state)
{
    (void)state;
    char *p = malloc(100);
    assert_non_null(p);
    memset(p, 1, 100);
    assert_true(lrt_heap_owns(p) == OURS_EXPECTED);
    assert_true(malloc_usable_size(p) >= 100);
    free(p);
    free(NULL);
}

static struct { bool owned, flags_traced, flags_tool; } seen;

static void record_body(void *arg)
{
    (void)arg;
    void *p = malloc(32);
    memset(p, 0, 32);
    seen.owned = lrt_heap_owns(p);
    free(p);
    seen.flags_traced = lrt_debug_root.flags & LS_ROOT_MALLOC_TRACED;
    seen.flags_tool = lrt_debug_root.flags & LS_ROOT_MALLOC_TOOL;
}

static void test_the_debug_root_records_whose_malloc_served(void **state)
{
    (void)state;
    rt_run(record_body, NULL);
    assert_true(seen.owned == OURS_EXPECTED);
    assert_true(seen.flags_traced == OURS_EXPECTED);
    assert_true(seen.flags_tool == !OURS_EXPECTED);
    void *after = malloc(64);                      /* after lrt_main returned */
    assert_true(lrt_heap_owns(after) == OURS_EXPECTED);
    free(after);
}

/* Plain threads allocate; each block is freed by the next thread along. */
enum { THREADS = 4, BLOCKS = 20000 };
static void *blocks[THREADS][BLOCKS];

static void *allocate_many(void *arg)
{
    intptr_t t = (intptr_t)arg;
    for (int i = 0; i < BLOCKS; i++) {
        size_t n = (size_t)(i * 37 % 3000) + 1;
        unsigned char *p = malloc(n);
        if (!p)
            return (void *)1;
        p[0] = p[n - 1] = (unsigned char)t;
        blocks[t][i] = p;
    }
    return NULL;
}

static void *free_others(void *arg)
{
    intptr_t t = (intptr_t)arg;
    for (int i = 0; i < BLOCKS; i++)
        free(blocks[(t + 1) % THREADS][i]);
    return NULL;
}

static void test_plain_threads_allocate_and_free_each_others_blocks(void **state)
{
    (void)state;
    pthread_t th[THREADS];
    for (intptr_t t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, allocate_many, (void *)t), 0);
    for (int t = 0; t < THREADS; t++) {
        void *ret;
        pthread_join(th[t], &ret);
        assert_null(ret);
    }
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < BLOCKS; i++) {
            size_t n = (size_t)(i * 37 % 3000) + 1;
            unsigned char *p = blocks[t][i];
            assert_true(p[0] == t && p[n - 1] == t);
        }
    for (intptr_t t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, free_others, (void *)t), 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
}

/* Two threads whose blocks come and go in every class and as large
 * objects, so that spans are freed back to the page heap while the other
 * thread claims runs for new ones: every block keeps its own bytes (a run
 * being claimed was once merged into a neighbour being freed, and two
 * spans shared pages). */
enum { CHURN_ROUNDS = 60000, CHURN_LIVE = 64 };

static void *churn_and_check(void *arg)
{
    uint64_t x = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
    unsigned char *live[CHURN_LIVE] = { 0 };
    size_t size[CHURN_LIVE] = { 0 };
    for (int round = 0; round < CHURN_ROUNDS; round++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        int k = (int)(x % CHURN_LIVE);
        if (live[k]) {
            unsigned char tag = (unsigned char)(k + 1);
            if (live[k][0] != tag || live[k][size[k] / 2] != tag || live[k][size[k] - 1] != tag)
                return (void *)1;                /* someone else's bytes */
            free(live[k]);
        }
        size[k] = (x >> 20) % 8 == 0 ? 40000 + (x >> 24) % 100000 : 16 + (x >> 24) % 5000;
        live[k] = malloc(size[k]);
        if (!live[k])
            return (void *)2;
        memset(live[k], k + 1, size[k]);
    }
    for (int k = 0; k < CHURN_LIVE; k++)
        free(live[k]);
    return NULL;
}

static void test_spans_freed_and_claimed_at_once_stay_apart(void **state)
{
    (void)state;
    pthread_t th[2];
    for (intptr_t t = 0; t < 2; t++)
        assert_int_equal(pthread_create(&th[t], NULL, churn_and_check, (void *)(t + 1)), 0);
    for (int t = 0; t < 2; t++) {
        void *ret;
        pthread_join(th[t], &ret);
        assert_null(ret);
    }
}

static void test_realloc_keeps_the_bytes_across_size_classes(void **state)
{
    (void)state;
    unsigned char *p = NULL;
    size_t had = 0;
    for (size_t n = 1; n < (size_t)3 << 20; n = n * 2 + 7) {
        p = realloc(p, n);
        assert_non_null(p);
        for (size_t i = 0; i < had && i < n; i++)
            assert_true(p[i] == (unsigned char)(i * 13));
        for (size_t i = had; i < n; i++)
            p[i] = (unsigned char)(i * 13);
        had = n;
    }
    p = realloc(p, 10);                            /* and down again */
    for (size_t i = 0; i < 10; i++)
        assert_true(p[i] == (unsigned char)(i * 13));
    free(p);
    assert_null(realloc(malloc(8), 0));            /* frees, as glibc's does */
    volatile size_t huge = SIZE_MAX / 2;             /* (the compiler sees the overflow) */
    void *q = reallocarray(NULL, huge, 4);
    assert_null(q);
    assert_int_equal(errno, ENOMEM);
}

static void test_every_aligned_variant_aligns(void **state)
{
    (void)state;
    for (size_t align = 16; align <= (size_t)2 << 20; align *= 2) {
        for (size_t n = 1; n <= 3 * align; n = n * 5 + 1) {
            void *a = aligned_alloc(align, n), *m = memalign(align, n), *pm = NULL;
            assert_int_equal(posix_memalign(&pm, align, n), 0);
            for (int k = 0; k < 3; k++) {
                void *p = k == 0 ? a : k == 1 ? m : pm;
                assert_non_null(p);
                assert_int_equal((uintptr_t)p % align, 0);
                assert_true(malloc_usable_size(p) >= n);
                memset(p, 0x5a, n);
            }
            free(a);
            free(m);
            free(pm);
        }
    }
    void *p = NULL;
    assert_int_equal(posix_memalign(&p, 24, 8), EINVAL);
    assert_int_equal(posix_memalign(&p, 4, 8), EINVAL);
    errno = 0;
    assert_null(aligned_alloc(48, 96));
    long page = sysconf(_SC_PAGESIZE);
    void *v = valloc(10), *pv = pvalloc(10);
    assert_int_equal((uintptr_t)v % (uintptr_t)page, 0);
    assert_int_equal((uintptr_t)pv % (uintptr_t)page, 0);
    assert_true(malloc_usable_size(pv) >= (size_t)page);
    free(v);
    free(pv);
}

static void test_calloc_zeroes_and_refuses_an_overflowing_count(void **state)
{
    (void)state;
    for (int round = 0; round < 2; round++) {
        unsigned char *p = calloc(1000, 3);
        assert_non_null(p);
        for (int i = 0; i < 3000; i++)
            assert_int_equal(p[i], 0);
        memset(p, 0xff, 3000);                     /* freed dirty: the next is zero */
        free(p);
    }
    errno = 0;
    volatile size_t count = SIZE_MAX / 8;
    assert_null(calloc(count, 16));
    assert_int_equal(errno, ENOMEM);
}

/* fork while other threads allocate: the child's malloc must not find a
 * lock held by a thread it does not have. */
static _Atomic bool stop_churn;

static void *churn(void *arg)
{
    (void)arg;
    while (!stop_churn)
        free(malloc(100 + (size_t)(rand() % 5000)));
    return NULL;
}

static void test_fork_while_threads_allocate_leaves_a_child_that_can(void **state)
{
    (void)state;
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, churn, NULL);
    for (int round = 0; round < 50; round++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            for (int i = 0; i < 1000; i++)
                free(malloc((size_t)i * 7 + 1));
            _exit(0);
        }
        int status;
        alarm(20);                                 /* a deadlocked child fails, not hangs */
        assert_int_equal(waitpid(pid, &status, 0), pid);
        alarm(0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    stop_churn = true;
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
}

/* LRT_MALLOC=off: this program again, in a child, where glibc serves. */
static void test_lrt_malloc_off_leaves_malloc_to_glibc(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("LRT_MALLOC", "off", 1);
        execl(self, "test-malloc", "--off-check", (char *)NULL);
        _exit(3);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void off_body(void *arg)
{
    (void)arg;
    seen.flags_traced = lrt_debug_root.flags & LS_ROOT_MALLOC_TRACED;
    seen.flags_tool = lrt_debug_root.flags & LS_ROOT_MALLOC_OFF;
}

static int off_check(void)
{
    void *p = malloc(50);
    memset(p, 0, 50);
    bool owned = lrt_heap_owns(p);
    free(p);
    if (lrt_main(off_body, NULL) != 0)
        return 4;
    bool off = seen.flags_tool;
    /* Under a sanitizer its allocator wins either way; the record is
     * LRT_MALLOC's only when ours would have served. */
    return owned ? 1 : seen.flags_traced ? 2 : (OURS_EXPECTED && !off) ? 5 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--off-check") == 0)
        return off_check();
    /* Not /proc/self/exe: under valgrind that is valgrind's own launcher. */
    if (!realpath(argv[0], self))
        return 2;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malloc_before_lrt_main_is_on_the_tracked_heap),
        cmocka_unit_test(test_lrt_malloc_off_leaves_malloc_to_glibc),
        cmocka_unit_test(test_fork_while_threads_allocate_leaves_a_child_that_can),
        cmocka_unit_test(test_the_debug_root_records_whose_malloc_served),
        cmocka_unit_test(test_plain_threads_allocate_and_free_each_others_blocks),
        cmocka_unit_test(test_spans_freed_and_claimed_at_once_stay_apart),
        cmocka_unit_test(test_realloc_keeps_the_bytes_across_size_classes),
        cmocka_unit_test(test_every_aligned_variant_aligns),
        cmocka_unit_test(test_calloc_zeroes_and_refuses_an_overflowing_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

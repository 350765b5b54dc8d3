/*
 * rttest.h — helpers for the runtime's unit tests.
 *
 * Test bodies run as the main task of lrt_main; they record what they saw
 * in plain variables and the cmocka test asserts after lrt_main returns
 * (cmocka's asserts longjmp, which must never cross task stacks, so no
 * assert_* is ever called from inside a task).
 */
#ifndef RTTEST_H
#define RTTEST_H

#include <leakrt.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* ThreadSanitizer keeps a thread state for every task's fiber and stops
 * at 8,128: under it the many-task tests run with at most 2,000 tasks. */
#if defined(__SANITIZE_THREAD__)
#define RT_TSAN 1
#define RT_MANY(n) ((n) > 2000 ? 2000 : (n))
#else
#define RT_TSAN 0
#define RT_MANY(n) (n)
#endif

/* Runs body(arg) as the main task; fails the test if lrt_main fails. */
static inline void rt_run(void (*body)(void *), void *arg)
{
    assert_int_equal(lrt_main(body, arg), 0);
}

/* Sequentially consistent loads and stores for flags and counters that
 * tasks on different workers share. */
#define RT_LOAD(p)      __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define RT_STORE(p, v)  __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define RT_ADD(p, v)    __atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)

/* Raises *max to v if v is larger (lock-free). */
static inline void rt_max(int *max, int v)
{
    int cur = RT_LOAD(max);
    while (v > cur && !__atomic_compare_exchange_n(max, &cur, v, false,
                                                   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        ;
}

/* Runs lrt_main(body) in a forked child (the fork comes first, so the
 * runtime only ever starts in the child) that must die of SIGABRT within
 * a few seconds, with a message on stderr that contains every one of the
 * given words (NULL-terminated). */
void rt_expect_abort(void (*body)(void *), ...);
/* The same, but SIGSEGV is accepted as well as SIGABRT (stack overflow:
 * what matters there is the message). */
void rt_expect_crash(void (*body)(void *), ...);
/* The same as rt_expect_abort for fn run on the forked child's own thread,
 * outside any task. */
void rt_expect_abort_thread(void (*fn)(void), ...);

#endif

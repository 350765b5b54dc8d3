/*
 * rttest.h — helpers for the runtime's unit tests.
 *
 * Test bodies run as the main task of lrt_main; they record what they saw
 * in plain variables and the cmocka test asserts after lrt_main returns
 * (cmocka's asserts must not longjmp across task stacks).
 */
#ifndef RTTEST_H
#define RTTEST_H

#include <leakrt.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* Runs body(arg) as the main task; fails the test if lrt_main fails. */
static inline void rt_run(void (*body)(void *), void *arg)
{
    assert_int_equal(lrt_main(body, arg), 0);
}

/* Runs body in a forked child that must die of SIGABRT with a message on
 * stderr containing every one of the given words (NULL-terminated). */
void rt_expect_abort(void (*body)(void *), ...);
/* The same for fn run on the forked child's own thread, outside any task. */
void rt_expect_abort_thread(void (*fn)(void), ...);

#endif

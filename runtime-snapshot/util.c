/*
 * util.c — messages, misuse aborts and the internal locks.
 *
 * Everything here is async-signal-safe and allocation-free: lrt_panic may
 * run in a signal handler (stack overflow) or with malloc's locks held by
 * another thread, so it formats into a stack buffer and write(2)s it.
 */

#include "runtime.h"

#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void write_all(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(2, buf, len);
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

static void vprinterr(const char *prefix, const char *fmt, va_list ap,
                      const char *suffix)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%s", prefix);
    if (n < 0) n = 0;
    int m = vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
    if (m > 0) n += m;
    if ((size_t)n >= sizeof buf) n = sizeof buf - 1;
    m = snprintf(buf + n, sizeof buf - (size_t)n, "%s", suffix);
    if (m > 0) n += m;
    if ((size_t)n >= sizeof buf) n = sizeof buf - 1;
    write_all(buf, (size_t)n);
}

void lrt_printerr(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprinterr("leakrt: ", fmt, ap, "\n");
    va_end(ap);
}

void lrt_panic(const char *call, const char *fmt, ...)
{
    char prefix[128], suffix[64];
    snprintf(prefix, sizeof prefix, "leakrt: %s: ", call);
    uint64_t id = lrt_task_id_or_zero();
    if (id)
        snprintf(suffix, sizeof suffix, " (task %llu)\n", (unsigned long long)id);
    else
        snprintf(suffix, sizeof suffix, " (outside any task)\n");
    va_list ap;
    va_start(ap, fmt);
    vprinterr(prefix, fmt, ap, suffix);
    va_end(ap);
    abort();
}

void lrt_assert_fail(const char *expr, const char *file, int line)
{
    lrt_printerr("internal error: %s:%d: assertion `%s' failed", file, line, expr);
    abort();
}

/* ---------------------------------------------------------------------- */
/* Locks                                                                  */
/* ---------------------------------------------------------------------- */

#define BACKOFF_MAX 64   /* pauses: about 1 µs on the machines measured */

void lrt_lock_slow(lrt_lock *l)
{
    /* The holder is on another thread and almost done: spin on a plain
     * load (no cache-line ping-pong), then let the OS run it if it was
     * preempted. Each failed try waits twice as long as the last: two
     * workers hammering one channel then each get a run of operations
     * while its lines stay in their cache, instead of trading them on
     * every operation (a buffered channel between two workers: 151 ns
     * per element with one pause per try, 48 ns with this; Go 68 ns). */
    unsigned backoff = 1;
    for (unsigned spins = 0;; spins++) {
        if (atomic_load_explicit(&l->word, memory_order_relaxed) == 0 &&
            atomic_exchange_explicit(&l->word, 1, memory_order_acquire) == 0)
            return;
        if (spins < 100) {
            for (unsigned k = 0; k < backoff; k++)
                lrt_cpu_relax();
            if (backoff < BACKOFF_MAX)
                backoff *= 2;
        } else {
            sched_yield();
        }
    }
}

void lrt_unlock_cb(void *lock) { lrt_lock_release(lock); }

/* The guards in the public structs are internal locks too; the public header
 * declares them plain uint32_t so it needs no <stdatomic.h>. */
lrt_static_assert(sizeof(lrt_lock) == sizeof(uint32_t), "guard layout");

void lrt_guard_acquire(uint32_t *guard) { lrt_lock_acquire((lrt_lock *)guard); }
void lrt_guard_release(uint32_t *guard) { lrt_lock_release((lrt_lock *)guard); }
void lrt_guard_release_cb(void *guard) { lrt_lock_release((lrt_lock *)guard); }

/*
 * malloc.c — the C library's allocation functions, on the tracked heap.
 *
 * In C nearly everything lives in malloc memory. If malloc's blocks were
 * opaque roots, any channel reachable from one would keep its waiters
 * "alive" and hide their leak. So libleakrt provides malloc and its kin
 * (free, calloc, realloc, reallocarray, aligned_alloc, posix_memalign,
 * memalign, valloc, pvalloc, malloc_usable_size) on the tracked heap's
 * size classes, and the analysis judges each block by reachability, as
 * Boehm GC's leak detector and valgrind do. C++'s new and delete reach
 * them through libstdc++.
 *
 * The definitions are weak: a program or a statically linked sanitizer
 * runtime that defines malloc itself wins the link without a clash. Which
 * allocator serves a process is decided once, at its first allocation:
 *   OURS  the tracked heap;
 *   LIBC  glibc's own (__libc_malloc...): LRT_MALLOC=off, or under
 *         valgrind, whose memcheck replaces exactly those;
 *   NEXT  the next definition in lookup order (dlsym RTLD_NEXT): a
 *         sanitizer runtime (ASan, TSan, MSan, HWASan, LSan) is loaded and
 *         its allocator must win (ours would shadow it, as the program's
 *         executable comes first).
 * lrt_malloc_record() (at lrt_main) writes the outcome into the debug
 * root's flags, and notes when another allocator came first in lookup
 * order (jemalloc preloaded, say) so that ours is never called: the
 * report then says malloc memory was a root.
 *
 * A block that is not ours (glibc's, from before, or the dynamic linker's)
 * is passed on to glibc. Nothing here may allocate with malloc.
 */
#include "runtime.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifdef LRT_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#endif

enum { UNDECIDED, DECIDING, OURS, LIBC, NEXT };

static _Atomic int mode = UNDECIDED;
static _Atomic uint32_t decided_flags;
static __thread bool deciding_here __attribute__((tls_model("initial-exec")));

/* glibc's allocator, under the names it exports for this. */
extern void *__libc_malloc(size_t n);
extern void  __libc_free(void *p);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);

/* Present when a sanitizer runtime is loaded (weak: NULL otherwise). */
extern void __asan_init(void) __attribute__((weak));
extern void __tsan_init(void) __attribute__((weak));
extern void __msan_init(void) __attribute__((weak));
extern void __hwasan_init(void) __attribute__((weak));
extern void __lsan_init(void) __attribute__((weak));

/* The next allocator in lookup order (NEXT). */
static struct {
    void  *(*malloc)(size_t);
    void   (*free)(void *);
    void  *(*calloc)(size_t, size_t);
    void  *(*realloc)(void *, size_t);
    void  *(*memalign)(size_t, size_t);
    size_t (*usable)(void *);
} next;

/* glibc's malloc_usable_size, for blocks that are not ours. */
static size_t (*libc_usable)(void *);

/* ---------------------------------------------------------------------- */
/* Bootstrap: what dlsym allocates while NEXT is being looked up          */
/* ---------------------------------------------------------------------- */

/* A bump region, never freed: dlsym may allocate its error buffer, and
 * the allocator it is looking up is not there yet. */
static _Alignas(64) char boot[64 * 1024];
static _Atomic size_t boot_used;

static void *boot_alloc(size_t n, size_t align)
{
    if (align < 16)
        align = 16;
    size_t header = align > 16 ? align : 16;
    for (;;) {
        size_t at = atomic_load(&boot_used);
        size_t start = (at + header + align - 1) & ~(align - 1);
        if (start + n > sizeof boot || start + n < start)
            return NULL;
        if (atomic_compare_exchange_weak(&boot_used, &at, start + n)) {
            memcpy(boot + start - sizeof n, &n, sizeof n);   /* its size, for realloc */
            return boot + start;
        }
    }
}

static bool is_boot(const void *p)
{
    return (const char *)p >= boot && (const char *)p < boot + sizeof boot;
}

static size_t boot_size(const void *p)
{
    size_t n;
    memcpy(&n, (const char *)p - sizeof n, sizeof n);
    return n;
}

/* ---------------------------------------------------------------------- */
/* Deciding                                                                */
/* ---------------------------------------------------------------------- */

/* Whether LRT_MALLOC turns ours off. Read from /proc/self/environ when the
 * C library has no environment yet (the dynamic linker allocates before
 * libc's own initialisation runs). */
static bool turned_off(const char *value)
{
    return value && (strcmp(value, "off") == 0 || strcmp(value, "0") == 0 || strcmp(value, "no") == 0);
}

static bool off_by_environment(void)
{
    extern char **environ;
    if (environ)
        return turned_off(getenv("LRT_MALLOC"));
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/environ", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    static const char key[] = "LRT_MALLOC=";
    char value[8], buf[512];
    size_t matched = 0, len = 0;
    bool in_value = false, found = false, at_start = true;
    ssize_t got;
    while (!found && (got = syscall(SYS_read, fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < got && !found; i++) {
            char c = buf[i];
            if (in_value) {
                if (c == '\0') {
                    value[len] = '\0';
                    found = true;
                } else if (len < sizeof value - 1) {
                    value[len++] = c;
                } else {
                    in_value = false;       /* too long to be "off" */
                }
            } else if (c == '\0') {
                at_start = true;
                matched = 0;
            } else if (at_start && c == key[matched]) {
                if (++matched == sizeof key - 1) {
                    in_value = true;
                    len = 0;
                }
            } else {
                at_start = false;
            }
        }
    }
    syscall(SYS_close, fd);
    return found && turned_off(value);
}

static bool sanitizer_loaded(void)
{
    return __asan_init || __tsan_init || __msan_init || __hwasan_init || __lsan_init;
}

static int decide(void)
{
    int m = atomic_load_explicit(&mode, memory_order_acquire);
    if (m >= OURS)
        return m;
    int expected = UNDECIDED;
    if (!atomic_compare_exchange_strong(&mode, &expected, DECIDING)) {
        if (deciding_here)
            return DECIDING;            /* dlsym allocating: the boot region */
        while ((m = atomic_load_explicit(&mode, memory_order_acquire)) == DECIDING)
            sched_yield();
        return m;
    }
    deciding_here = true;
    uint32_t flags;
    /* A tool's allocator wins even over LRT_MALLOC: it checks the
     * program's blocks, which is what it was run for. */
    if (sanitizer_loaded()) {
        next.malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
        next.free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
        next.calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
        next.realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
        next.memalign = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "memalign");
        next.usable = (size_t (*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
        bool all = next.malloc && next.free && next.calloc && next.realloc && next.memalign && next.usable;
        m = all ? NEXT : LIBC;
        flags = LS_ROOT_MALLOC_TOOL;
#ifdef LRT_HAVE_VALGRIND
    } else if (RUNNING_ON_VALGRIND) {
        m = LIBC;
        flags = LS_ROOT_MALLOC_TOOL;
#endif
    } else if (off_by_environment()) {
        m = LIBC;
        flags = LS_ROOT_MALLOC_OFF;
    } else {
        m = OURS;
        flags = LS_ROOT_MALLOC_TRACED;
    }
    atomic_store(&decided_flags, flags);
    atomic_store_explicit(&mode, m, memory_order_release);
    deciding_here = false;
    if (m == OURS)
        pthread_atfork(lrt_heap_fork_prepare, lrt_heap_fork_done, lrt_heap_fork_done);
    return m;
}

/* ---------------------------------------------------------------------- */
/* The tracked heap's side                                                 */
/* ---------------------------------------------------------------------- */

static void *ours(size_t n, size_t align, bool zero)
{
    void *p = lrt_heap_alloc(n, align, false, zero);
    if (!p)
        errno = ENOMEM;
    return p;
}

static size_t foreign_usable(void *p)
{
    if (!libc_usable)
        libc_usable = (size_t (*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
    return libc_usable ? libc_usable(p) : 0;
}

/* Whether p is a block of the tracked heap. Asked of heap.c only once
 * ours serves: before, heap.c's code (instrumented in a sanitizer build)
 * must not run while the sanitizer starts. */
static bool is_ours(const void *p)
{
    return atomic_load_explicit(&mode, memory_order_acquire) == OURS && lrt_heap_owns(p);
}

/* Any block, whoever allocated it. */
static void release(void *p)
{
    if (!p || is_boot(p))
        return;
    if (is_ours(p))
        lrt_heap_free(p, "free");
    else if (atomic_load_explicit(&mode, memory_order_relaxed) == NEXT)
        next.free(p);
    else
        __libc_free(p);
}

static void *aligned(size_t align, size_t n)
{
    switch (decide()) {
    case OURS: return ours(n, align, false);
    case NEXT: return next.memalign(align, n);
    case LIBC: return __libc_memalign(align, n);
    default:   return boot_alloc(n, align);
    }
}

/* ---------------------------------------------------------------------- */
/* The C library's functions                                               */
/* ---------------------------------------------------------------------- */

#define LRT_MALLOC_API __attribute__((weak, visibility("default")))

LRT_MALLOC_API void *malloc(size_t n)
{
    switch (decide()) {
    case OURS: return ours(n, 16, false);
    case NEXT: return next.malloc(n);
    case LIBC: return __libc_malloc(n);
    default:   return boot_alloc(n, 16);
    }
}

LRT_MALLOC_API void free(void *p)
{
    release(p);
}

LRT_MALLOC_API void *calloc(size_t count, size_t size)
{
    size_t n;
    if (__builtin_mul_overflow(count, size, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    switch (decide()) {
    case OURS: return ours(n, 16, true);
    case NEXT: return next.calloc(count, size);
    case LIBC: return __libc_calloc(count, size);
    default:   return boot_alloc(n, 16);           /* static: zero, never reused */
    }
}

LRT_MALLOC_API void *realloc(void *p, size_t n)
{
    if (!p)
        return malloc(n);
    if (n == 0) {
        release(p);                                /* as glibc does */
        return NULL;
    }
    size_t old;
    if (is_boot(p)) {
        old = boot_size(p);
    } else if (is_ours(p)) {
        old = lrt_heap_usable(p, "realloc");
        /* In place while it fits and does not waste more than half. */
        if (n <= old && (old <= 32 || n > old / 2))
            return p;
    } else if (atomic_load_explicit(&mode, memory_order_relaxed) == NEXT) {
        return next.realloc(p, n);
    } else {
        return __libc_realloc(p, n);
    }
    void *q = malloc(n);
    if (!q)
        return NULL;                               /* p stays valid */
    memcpy(q, p, old < n ? old : n);
    release(p);
    return q;
}

LRT_MALLOC_API void *reallocarray(void *p, size_t count, size_t size)
{
    size_t n;
    if (__builtin_mul_overflow(count, size, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, n);
}

static bool power_of_two(size_t a)
{
    return a && (a & (a - 1)) == 0;
}

LRT_MALLOC_API void *memalign(size_t align, size_t n)
{
    if (!power_of_two(align)) {
        /* glibc rounds a non-power of two up to one. */
        size_t a = 1;
        while (a < align && a)
            a <<= 1;
        if (!a) {
            errno = EINVAL;
            return NULL;
        }
        align = a;
    }
    return aligned(align, n);
}

LRT_MALLOC_API void *aligned_alloc(size_t align, size_t n)
{
    if (!power_of_two(align)) {
        errno = EINVAL;
        return NULL;
    }
    return aligned(align, n);
}

LRT_MALLOC_API int posix_memalign(void **out, size_t align, size_t n)
{
    if (!power_of_two(align) || align % sizeof(void *))
        return EINVAL;
    int saved = errno;
    void *p = aligned(align, n);
    if (!p)
        return ENOMEM;
    errno = saved;
    *out = p;
    return 0;
}

LRT_MALLOC_API void *valloc(size_t n)
{
    return aligned((size_t)sysconf(_SC_PAGESIZE), n);
}

LRT_MALLOC_API void *pvalloc(size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (n > SIZE_MAX - page) {
        errno = ENOMEM;
        return NULL;
    }
    return aligned(page, n ? (n + page - 1) & ~(page - 1) : page);
}

LRT_MALLOC_API size_t malloc_usable_size(void *p)
{
    if (!p)
        return 0;
    if (is_boot(p))
        return boot_size(p);
    if (is_ours(p))
        return lrt_heap_usable(p, "malloc_usable_size");
    if (atomic_load_explicit(&mode, memory_order_relaxed) == NEXT)
        return next.usable(p);
    return foreign_usable(p);
}

/* Our own malloc's address (the exported name may be interposed). */
extern void *lrt_own_malloc(size_t n) __attribute__((alias("malloc"), visibility("hidden"), copy(malloc)));

void lrt_malloc_record(void)
{
    decide();
    uint32_t flags = atomic_load(&decided_flags);
    if (flags & LS_ROOT_MALLOC_TRACED) {
        void *winner = dlsym(RTLD_DEFAULT, "malloc");
        if (winner && winner != (void *)lrt_own_malloc)
            flags = LS_ROOT_MALLOC_OTHER;
    }
    lrt_debug_root.flags = (lrt_debug_root.flags & ~LS_ROOT_MALLOC_MASK) | flags;
}

/*
 * bench_malloc.c — malloc as a C program meets it, for scripts/bench to
 * run twice in one go: with libleakrt serving malloc (the default) and
 * with glibc's (LRT_MALLOC=off), the same binary, the same work.
 *
 *   bench-malloc mixed THREADS N [LIVE]
 *                                  each thread keeps LIVE blocks (default
 *                                  65,536: about 38 MB) of 8 B to 4 KiB
 *                                  (three in four below 128 B, as
 *                                  programs allocate) and replaces a
 *                                  random one N times
 *   bench-malloc handoff N         a producer thread mallocs N blocks and
 *                                  hands them through a ring to a consumer
 *                                  thread that frees them
 *   bench-malloc once              one malloc: what linking libleakrt
 *                                  costs a small program in resident memory
 *
 * Prints "<workload> ns_per_op=X rss_kib=Y" (peak resident set). Plain
 * pthreads: malloc must be fast outside tasks too.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static size_t window = 65536;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t next(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Sizes skewed small: three in four below 128 bytes. */
static size_t pick_size(uint64_t *rng)
{
    uint64_t r = next(rng);
    return (r & 3) ? 8 + (r >> 8) % 120 : 128 + (r >> 8) % 3968;
}

static long ops;

static void *mixed(void *arg)
{
    uint64_t rng = 0x9e3779b97f4a7c15ull ^ (uintptr_t)arg;
    char **live = calloc(window, sizeof *live);
    for (size_t i = 0; i < window; i++) {
        size_t n = pick_size(&rng);
        live[i] = malloc(n);
        live[i][0] = live[i][n - 1] = 1;
    }
    for (long k = 0; k < ops; k++) {
        size_t slot = next(&rng) % window;
        free(live[slot]);
        size_t n = pick_size(&rng);
        live[slot] = malloc(n);
        live[slot][0] = live[slot][n - 1] = 1;       /* touch it, as users do */
    }
    for (size_t i = 0; i < window; i++)
        free(live[i]);
    free(live);
    return NULL;
}

#define RING 4096
static _Atomic(void *) ring[RING];

static void *producer(void *arg)
{
    (void)arg;
    uint64_t rng = 12345;
    for (long k = 0; k < ops; k++) {
        size_t n = pick_size(&rng);
        char *p = malloc(n);
        p[0] = 1;
        void *expected = NULL;
        while (!atomic_compare_exchange_weak(&ring[k % RING], &expected, p))
            expected = NULL;                         /* the consumer is behind */
    }
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    for (long k = 0; k < ops; k++) {
        void *p;
        while (!(p = atomic_exchange(&ring[k % RING], NULL)))
            ;
        free(p);
    }
    return NULL;
}

static long peak_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

int main(int argc, char **argv)
{
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "mixed") == 0) {
        int threads = atoi(argv[2]);
        ops = atol(argv[3]);
        if (argc == 5)
            window = (size_t)atol(argv[4]);
        if (window < 1)
            return 2;
        if (threads < 1 || threads > 64 || ops < 1)
            return 2;
        pthread_t th[64];
        int64_t t0 = now_ns();
        for (intptr_t i = 0; i < threads; i++)
            pthread_create(&th[i], NULL, mixed, (void *)(i + 1));
        for (int i = 0; i < threads; i++)
            pthread_join(th[i], NULL);
        int64_t dt = now_ns() - t0;
        printf("mixed-%d ns_per_op=%.1f rss_kib=%ld\n", threads, (double)dt / (double)ops, peak_rss_kib());
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "handoff") == 0) {
        ops = atol(argv[2]);
        if (ops < 1)
            return 2;
        pthread_t a, b;
        int64_t t0 = now_ns();
        pthread_create(&a, NULL, producer, NULL);
        pthread_create(&b, NULL, consumer, NULL);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        int64_t dt = now_ns() - t0;
        printf("handoff ns_per_op=%.1f rss_kib=%ld\n", (double)dt / (double)ops, peak_rss_kib());
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "once") == 0) {
        char *volatile p = malloc(64);
        p[0] = 1;
        printf("once ns_per_op=0 rss_kib=%ld\n", peak_rss_kib());
        return 0;
    }
    fprintf(stderr, "usage: bench-malloc mixed THREADS N [LIVE] | handoff N | once\n");
    return 2;
}

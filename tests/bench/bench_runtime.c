/*
 * bench_runtime.c — the runtime workloads, matching go/main.go line for
 * line, for scripts/bench's side-by-side ratios. Each prints one line:
 * "<name> ns_per_op=<float>" (or bytes_per_task). Not a test.
 */
#include <leakrt.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *workload;
static long n;

static void echo(void *c)
{
    int v;
    lrt_chan **ab = c;
    while (lrt_chan_recv(ab[0], &v))
        lrt_chan_send(ab[1], &v);
}

static void pingpong(void)
{
    lrt_chan **ab = lrt_alloc(2 * sizeof *ab);
    ab[0] = lrt_chan_make(sizeof(int), 0);
    ab[1] = lrt_chan_make(sizeof(int), 0);
    lrt_go(echo, ab);
    int64_t t0 = lrt_now();
    for (int i = 0; i < n; i++) {
        int v = i;
        lrt_chan_send(ab[0], &v);
        lrt_chan_recv(ab[1], &v);
    }
    printf("pingpong ns_per_op=%.1f\n", (double)(lrt_now() - t0) / (double)n);
    lrt_chan_close(ab[0]);
}

static void done(void *wg) { lrt_wg_done(wg); }

static void spawn(void)
{
    lrt_wg *wg = lrt_alloc(sizeof *wg);
    int64_t t0 = lrt_now();
    for (long i = 0; i < n; i++) {
        lrt_wg_add(wg, 1);
        lrt_go(done, wg);
    }
    lrt_wg_wait(wg);
    printf("spawn ns_per_op=%.1f\n", (double)(lrt_now() - t0) / (double)n);
}

typedef struct pipeline { lrt_chan *c; lrt_chan *done; } pipeline;

static void consumer(void *arg)
{
    pipeline *p = arg;
    long v, sum = 0;
    while (lrt_chan_recv(p->c, &v))
        sum += v;
    lrt_chan_send(p->done, &sum);
}

static void buffered(void)
{
    pipeline *p = lrt_alloc(sizeof *p);
    p->c = lrt_chan_make(sizeof(long), 1024);
    p->done = lrt_chan_make(sizeof(long), 0);
    lrt_go(consumer, p);
    int64_t t0 = lrt_now();
    for (long i = 0; i < n; i++)
        lrt_chan_send(p->c, &i);
    lrt_chan_close(p->c);
    long sum;
    lrt_chan_recv(p->done, &sum);
    printf("buffered ns_per_op=%.1f\n", (double)(lrt_now() - t0) / (double)n);
}

typedef struct counter { lrt_mutex mu; long value; lrt_wg wg; } counter;

static void incrementer(void *arg)
{
    counter *c = arg;
    for (long i = 0; i < n; i++) {
        lrt_mutex_lock(&c->mu);
        c->value++;
        lrt_mutex_unlock(&c->mu);
    }
    lrt_wg_done(&c->wg);
}

static void mutex(void)
{
    counter *c = lrt_alloc(sizeof *c);
    lrt_wg_add(&c->wg, 8);
    int64_t t0 = lrt_now();
    for (int i = 0; i < 8; i++)
        lrt_go(incrementer, c);
    lrt_wg_wait(&c->wg);
    printf("mutex ns_per_op=%.1f\n", (double)(lrt_now() - t0) / (double)(8 * n));
}

static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb * 1024;
}

static void park(void *c) { lrt_chan_recv(c, NULL); }

static void parked(void)
{
    lrt_chan *c = lrt_chan_make(0, 0);
    long before = rss_bytes();
    for (long i = 0; i < n; i++)
        lrt_go(park, c);
    long after = rss_bytes();
    printf("parked bytes_per_task=%.0f\n", (double)(after - before) / (double)n);
    lrt_chan_close(c);
}

/* Tasks that stay alive: each is spawned and parks, so each needs a stack
 * of its own; timed until every one has started. */
static _Atomic long started;

static void start_and_park(void *c)
{
    atomic_fetch_add(&started, 1);
    lrt_chan_recv(c, NULL);
}

static void spawnpark(void)
{
    lrt_chan *c = lrt_chan_make(0, 0);
    int64_t t0 = lrt_now();
    for (long i = 0; i < n; i++)
        lrt_go(start_and_park, c);
    while (atomic_load(&started) < n)
        lrt_yield();
    printf("spawnpark ns_per_op=%.1f\n", (double)(lrt_now() - t0) / (double)n);
}

/* A daisy chain of n tasks, each passing one value on to the next:
 * spawned, then one pass through it. */
typedef struct chain_link { lrt_chan *left, *right; } chain_link;

static void pass_on(void *arg)
{
    chain_link *l = arg;
    int v;
    lrt_chan_recv(l->left, &v);
    v++;
    lrt_chan_send(l->right, &v);
}

static void chain(void)
{
    int64_t t0 = lrt_now();
    lrt_chan *first = lrt_chan_make(sizeof(int), 0), *left = first;
    for (long i = 0; i < n; i++) {
        chain_link *l = lrt_alloc(sizeof *l);
        l->left = left;
        l->right = lrt_chan_make(sizeof(int), 0);
        lrt_go(pass_on, l);
        left = l->right;
    }
    int v = 0;
    lrt_chan_send(first, &v);
    lrt_chan_recv(left, &v);
    printf("chain ns_per_op=%.1f\n", (double)(lrt_now() - t0) / (double)n);
}

static void run(void *arg)
{
    (void)arg;
    if (strcmp(workload, "pingpong") == 0) pingpong();
    else if (strcmp(workload, "spawn") == 0) spawn();
    else if (strcmp(workload, "buffered") == 0) buffered();
    else if (strcmp(workload, "mutex") == 0) mutex();
    else if (strcmp(workload, "parked") == 0) parked();
    else if (strcmp(workload, "spawnpark") == 0) spawnpark();
    else if (strcmp(workload, "chain") == 0) chain();
    else {
        fprintf(stderr, "unknown workload %s\n", workload);
        exit(2);
    }
    fflush(stdout);
    _exit(0);                        /* leftover tasks need no teardown */
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench-runtime pingpong|spawn|buffered|mutex|parked|spawnpark|chain [N]\n");
        return 2;
    }
    workload = argv[1];
    static const long defaults[] = { 1000000, 1000000, 10000000, 1000000, 1000000, 100000, 10000 };
    const char *names[] = { "pingpong", "spawn", "buffered", "mutex", "parked", "spawnpark", "chain" };
    n = 1000000;
    for (int i = 0; i < 7; i++)
        if (strcmp(workload, names[i]) == 0)
            n = defaults[i];
    if (argc > 2)
        n = atol(argv[2]);
    return lrt_main(run, NULL);
}

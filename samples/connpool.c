/*
 * connpool.c — a connection pool dropped without being closed.
 *
 * The pattern: a pool starts a background opener task that waits for
 * "open a connection" requests on the pool's request channel. The user
 * uses the pool, then drops it (frees nothing, calls no close). The opener
 * waits in `chan receive` on a channel only it still references: leaked,
 * like an *sql.DB nobody closed.
 *
 * The fix (--fixed): pool_close() closes the request channel; the opener's
 * receive returns false and it exits.
 */
#include <leakrt.h>
#include <stdio.h>
#include <string.h>

static bool fixed;

typedef struct pool {
    lrt_chan *requests;                    /* ask the opener for a connection */
    lrt_chan *conns;                       /* where it delivers them */
} pool;

static void opener(void *arg)
{
    pool *p = arg;
    int next_fd = 100;
    while (lrt_chan_recv(p->requests, NULL))   /* LEAK(chan receive, count=1) */
        lrt_chan_send(p->conns, &next_fd), next_fd++;
}

static pool *pool_open(void)
{
    pool *p = lrt_alloc(sizeof *p);
    p->requests = lrt_chan_make(0, 0);
    p->conns = lrt_chan_make(sizeof(int), 0);
    lrt_go(opener, p);
    return p;
}

static int pool_get(pool *p)
{
    int fd;
    lrt_chan_send(p->requests, NULL);
    lrt_chan_recv(p->conns, &fd);
    return fd;
}

static void pool_close(pool *p) { lrt_chan_close(p->requests); }

static void use_database(void)
{
    pool *p = pool_open();
    int a = pool_get(p), b = pool_get(p);
    printf("got connections %d and %d\n", a, b);
    if (fixed)
        pool_close(p);
}

static void run(void *arg)
{
    (void)arg;
    use_database();
    lrt_sleep(20 * LRT_MILLISECOND);
}

int main(int argc, char **argv)
{
    fixed = argc > 1 && strcmp(argv[1], "--fixed") == 0;
    return lrt_main(run, NULL) == 0 ? 0 : 1;
}

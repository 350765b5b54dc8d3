/*
 * pool.c — a worker pool whose job channel is never closed.
 *
 * The pattern: start N workers that range over a job channel, send the jobs,
 * wait for the results, return. Nobody closes `jobs`, so when the function
 * returns every worker is left in `chan receive` on a channel nothing can
 * reach any more: N leaked tasks, each holding its stack.
 *
 * The fix (--fixed): close the job channel once the last job is sent; the
 * workers' receive returns false and they exit.
 */
#include <leakrt.h>
#include <stdio.h>
#include <string.h>

enum { WORKERS = 4, JOBS = 20 };
static bool fixed;

typedef struct pool { lrt_chan *jobs, *results; } pool;

static void worker(void *arg)
{
    pool *p = arg;
    int job;
    while (lrt_chan_recv(p->jobs, &job)) {          /* LEAK(chan receive, count=4) */
        int result = job * job;
        lrt_chan_send(p->results, &result);
    }
}

static int sum_of_squares(void)
{
    pool *p = lrt_alloc(sizeof *p);
    p->jobs = lrt_chan_make(sizeof(int), JOBS);
    p->results = lrt_chan_make(sizeof(int), JOBS);
    for (int i = 0; i < WORKERS; i++)
        lrt_go(worker, p);
    for (int i = 1; i <= JOBS; i++)
        lrt_chan_send(p->jobs, &i);
    if (fixed)
        lrt_chan_close(p->jobs);
    int sum = 0, r;
    for (int i = 0; i < JOBS; i++) {
        lrt_chan_recv(p->results, &r);
        sum += r;
    }
    return sum;
}

static void run(void *arg)
{
    (void)arg;
    printf("sum of squares: %d\n", sum_of_squares());
    lrt_sleep(20 * LRT_MILLISECOND);               /* let the workers park */
}

int main(int argc, char **argv)
{
    fixed = argc > 1 && strcmp(argv[1], "--fixed") == 0;
    return lrt_main(run, NULL) == 0 ? 0 : 1;
}

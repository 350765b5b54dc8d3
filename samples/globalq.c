/*
 * globalq.c — a worker waiting on a channel kept in a global: NOT reported.
 *
 * The pattern: a background worker loops on a global task queue. When the
 * program stops submitting work the worker waits forever — but the queue
 * is a global, so it is reachable from a root and someone *could* still
 * send. leakscan, like Go's leak profile, reports nothing here: a blind
 * spot by design, since a global channel is always reachable. This sample
 * documents it; both modes expect no leak.
 */
#include <leakrt.h>
#include <stdio.h>
#include <string.h>

static lrt_chan *queue;                    /* global: always reachable */

static void background_worker(void *arg)
{
    (void)arg;
    int job;
    while (lrt_chan_recv(queue, &job))     /* waits forever, not reported */
        ;
}

static void run(void *arg)
{
    (void)arg;
    queue = lrt_chan_make(sizeof(int), 8);
    lrt_go(background_worker, NULL);
    for (int i = 0; i < 3; i++)
        lrt_chan_send(queue, &i);
    lrt_sleep(20 * LRT_MILLISECOND);
    printf("submitted 3 jobs to the global queue\n");
}

int main(int argc, char **argv)
{
    (void)argc; (void)argv;
    return lrt_main(run, NULL) == 0 ? 0 : 1;
}

/*
 * jobs.c — a job's argument in malloc memory, as C code keeps it.
 *
 * A dispatcher hands each job to a worker task in a struct it mallocs; the
 * struct holds the channel the worker answers on. The dispatcher waits for
 * the answer with a deadline and, past it, returns an error and forgets the
 * job. Nobody will ever receive: each late worker blocks in `chan send`
 * forever, and the malloc'd struct it was given is the only path to the
 * channel.
 *
 * That struct is why this sample exists: were malloc memory a root, the
 * block pointing at the channel would keep the waiting workers "alive" and
 * the leak would vanish from the report. libleakrt serves malloc from its
 * tracked heap, so the block is judged like any object: reachable only
 * from the leaked worker itself.
 *
 * The fix (--fixed): the answer channel has room for the answer.
 */
#include <leakrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool fixed;

typedef struct job {
    int        id;
    lrt_chan  *answer;                     /* the only path to the channel */
    char       payload[200];
} job;

static void worker(void *arg)
{
    job *j = arg;
    lrt_sleep(20 * LRT_MILLISECOND);       /* slower than the deadline */
    int result = j->id * 2;
    lrt_chan_send(j->answer, &result);     /* LEAK(chan send, count=6) */
    free(j);
}

static void dispatch(int id)
{
    job *j = malloc(sizeof *j);
    if (!j)
        abort();
    memset(j, 0, sizeof *j);
    j->id = id;
    j->answer = lrt_chan_make(sizeof(int), fixed ? 1 : 0);
    snprintf(j->payload, sizeof j->payload, "job %d", id);
    lrt_chan *answer = j->answer;
    lrt_go(worker, j);
    j = NULL;                              /* the worker owns it now */
    int result;
    lrt_case cases[] = { { .chan = answer, .dir = LRT_RECV, .elem = &result } };
    if (lrt_select(cases, 1, 5 * LRT_MILLISECOND) < 0)
        printf("job %d: deadline passed, giving up\n", id);
    else
        printf("job %d: %d\n", id, result);
}

static void run(void *arg)
{
    (void)arg;
    for (int i = 1; i <= 6; i++)
        dispatch(i);
    lrt_sleep(50 * LRT_MILLISECOND);       /* let the workers finish */
}

/* The program keeps malloc'd blocks unfreed on purpose (they are what
 * leakscan judges): LeakSanitizer's own check at exit is off for it in
 * sanitizer builds, so its exit status stays the program's. */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void) { return 1; }

int main(int argc, char **argv)
{
    fixed = argc > 1 && strcmp(argv[1], "--fixed") == 0;
    return lrt_main(run, NULL);
}

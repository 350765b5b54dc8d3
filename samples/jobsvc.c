/*
 * jobsvc.c — a batch handler that waits for results its workers never
 * send: the error path of a worker returns without its answer.
 *
 * handle_batch() makes a batch (a results channel in a struct batch) and
 * one job per input, each with a pointer back to the batch, and starts a
 * worker for each; then it receives one result per job. A worker whose
 * input is even fails and returns without sending: handle_batch blocks
 * on its second receive forever, the results channel reachable only from
 * its own stack (the local `results`) and from the batch, which only its
 * jobs and that stack reach.
 *
 * `leakscan why` names the places (tests/e2e/test_why.py): the local
 * variable results in handle_batch, and with `kept` — the service keeps
 * its last batch in the global svc, so the handler is blocked but not
 * leaked — the path svc.last -> the struct batch -> its .results member.
 * Built at -O0 and -O2 (test_why.py checks both: at -O2 the local lives
 * in a register, and why falls back to the frame).
 *
 * The fix (--fixed): a failing worker sends its (zero) answer too.
 */
#include <leakrt.h>
#include <stdio.h>
#include <string.h>

enum { JOBS = 3 };

struct batch {
    int       id;
    int       njobs;
    lrt_chan *results;                      /* one int per job */
};

struct job {
    struct job   *next;
    struct batch *batch;
    int           input;
};

/* The service's state: how many batches it handled, and the last one. */
struct service {
    int           handled;
    struct batch *last;
} svc;

static bool fixed;                          /* --fixed: a failing worker answers too */
static bool kept;                           /* kept: svc.last holds the batch */

static void worker(void *arg)
{
    struct job *j = arg;
    int answer = 0;
    if (j->input % 2 == 0 && !fixed)
        return;                             /* the error path: no answer */
    if (j->input % 2 != 0)
        answer = j->input * 2;
    lrt_chan_send(j->batch->results, &answer);
}

static void handle_batch(void *arg)
{
    (void)arg;
    struct batch *b = lrt_alloc(sizeof *b);
    lrt_chan *results = lrt_chan_make(sizeof(int), 0);
    b->id = ++svc.handled;
    b->njobs = JOBS;
    b->results = results;
    if (kept)
        svc.last = b;
    struct job *jobs = NULL;
    for (int i = 0; i < JOBS; i++) {
        struct job *j = lrt_alloc(sizeof *j);
        j->next = jobs;
        j->batch = b;
        j->input = i;
        jobs = j;
        lrt_go(worker, j);
    }
    int sum = 0;
    for (int i = 0; i < b->njobs; i++) {
        int answer;
        lrt_chan_recv(results, &answer);    /* LEAK(chan receive, count=1) */
        sum += answer;
    }
    printf("batch %d: %d\n", b->id, sum);
}

static void run(void *arg)
{
    (void)arg;
    lrt_go(handle_batch, NULL);
    lrt_sleep(20 * LRT_MILLISECOND);       /* let the handler block */
}

int main(int argc, char **argv)
{
    fixed = argc > 1 && strcmp(argv[1], "--fixed") == 0;
    kept = argc > 1 && strcmp(argv[1], "kept") == 0;
    return lrt_main(run, NULL) == 0 ? 0 : 1;
}

/*
 * inlined.c — a leak in code the compiler inlined: the "first answer wins"
 * pattern, with the send two static helpers deep.
 *
 * fastest_answer() starts four workers on one job and takes the first
 * result from an unbuffered channel; the other three workers block in
 * `chan send` forever. Each worker's chain is worker -> compute ->
 * send_result -> lrt_chan_send, and at -O2 (how this sample is built, the
 * point of it) gcc inlines the once-called static compute and send_result
 * into worker: one PC in worker stands for three functions. leakscan
 * expands it from DWARF's inline scopes, so the report names send_result
 * and compute with their own lines (tests/e2e/test_inlined.py), and
 * fastest_answer, itself inlined into run, as the creator.
 *
 * The fix (--fixed): the result channel has room for every worker's
 * answer (capacity WORKERS), so the late sends complete and the workers
 * end.
 */
#include <leakrt.h>
#include <stdio.h>
#include <string.h>

enum { WORKERS = 4 };

static bool fixed;                         /* --fixed: room for every answer */

typedef struct job {
    lrt_chan *results;
    int       input;
    int       salt;                         /* which worker: a different answer each */
} job;

static void send_result(lrt_chan *results, int value)
{
    lrt_chan_send(results, &value);        /* LEAK(chan send, count=3) */
}

static void compute(const job *j)
{
    int value = j->input * j->input + j->salt;
    send_result(j->results, value);
}

static void worker(void *arg)
{
    compute(arg);
}

static int fastest_answer(int input)
{
    lrt_chan *results = lrt_chan_make(sizeof(int), fixed ? WORKERS : 0);
    for (int i = 0; i < WORKERS; i++) {
        job *j = lrt_alloc(sizeof *j);
        j->results = results;
        j->input = input;
        j->salt = i;
        lrt_go(worker, j);
    }
    int answer = -1;
    lrt_chan_recv(results, &answer);       /* the first one; the rest wait forever */
    return answer;
}

static void run(void *arg)
{
    (void)arg;
    printf("answer: %d\n", fastest_answer(6));
    lrt_sleep(20 * LRT_MILLISECOND);       /* let the other workers block */
}

int main(int argc, char **argv)
{
    fixed = argc > 1 && strcmp(argv[1], "--fixed") == 0;
    return lrt_main(run, NULL) == 0 ? 0 : 1;
}

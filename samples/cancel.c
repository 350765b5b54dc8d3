/*
 * cancel.c — cancellation that is not propagated.
 *
 * The pattern: a consumer reads from producers under a deadline; when the
 * context times out it returns, but the producers only know how to send.
 * Each is left in `chan send` on a channel nobody will read again.
 *
 * The fix (--fixed): producers select on the send and on ctx's done
 * channel, and give up when the context is cancelled.
 */
#include <leakrt.h>
#include <stdio.h>
#include <string.h>

enum { PRODUCERS = 3 };
static bool fixed;

typedef struct job { lrt_chan *out; lrt_ctx *ctx; int id; } job;

static void producer(void *arg)
{
    job *j = arg;
    for (int n = 0;; n++) {
        lrt_sleep(2 * LRT_MILLISECOND);
        int v = j->id * 1000 + n;
        if (!fixed) {
            lrt_chan_send(j->out, &v);             /* LEAK(chan send, count=3) */
            continue;
        }
        lrt_case cases[] = {
            { .chan = j->out, .dir = LRT_SEND, .elem = &v },
            { .chan = lrt_ctx_done(j->ctx), .dir = LRT_RECV },
        };
        if (lrt_select(cases, 2, -1) == 1)
            return;                                /* cancelled: stop */
    }
}

static void consume(void)
{
    lrt_ctx *ctx = lrt_ctx_with_timeout(lrt_ctx_background(), 10 * LRT_MILLISECOND);
    lrt_chan *out = lrt_chan_make(sizeof(int), 0);
    for (int i = 0; i < PRODUCERS; i++) {
        job *j = lrt_alloc(sizeof *j);
        *j = (job){ out, ctx, i };
        lrt_go(producer, j);
    }
    int got = 0, v;
    for (;;) {
        lrt_case cases[] = {
            { .chan = out, .dir = LRT_RECV, .elem = &v },
            { .chan = lrt_ctx_done(ctx), .dir = LRT_RECV },
        };
        if (lrt_select(cases, 2, -1) == 1)
            break;                                 /* deadline: give up */
        got++;
    }
    printf("consumed %d values before the deadline\n", got);
}

static void run(void *arg)
{
    (void)arg;
    consume();
    lrt_sleep(30 * LRT_MILLISECOND);
}

int main(int argc, char **argv)
{
    fixed = argc > 1 && strcmp(argv[1], "--fixed") == 0;
    return lrt_main(run, NULL) == 0 ? 0 : 1;
}

/*
 * errpath.c — a task left behind on an error path.
 *
 * The pattern: fetch two things in parallel, each fetcher sending its
 * result on an unbuffered channel. One fails; the caller returns the error
 * at once, without receiving the other result. The slow fetcher blocks in
 * `chan send` forever.
 *
 * The fix (--fixed): the caller cancels a context on its way out and the
 * fetchers select on its done channel (buffered channels sized for every
 * sender would do too).
 */
#include <leakrt.h>
#include <stdio.h>
#include <string.h>

static bool fixed;

typedef struct fetch { lrt_chan *result; lrt_ctx *ctx; int id; int64_t delay; } fetch;

static void fetcher(void *arg)
{
    fetch *f = arg;
    lrt_sleep(f->delay);
    int status = f->id == 0 ? -1 : 200;            /* the fast one fails */
    if (!fixed) {
        lrt_chan_send(f->result, &status);         /* LEAK(chan send, count=1) */
        return;
    }
    lrt_case cases[] = {
        { .chan = f->result, .dir = LRT_SEND, .elem = &status },
        { .chan = lrt_ctx_done(f->ctx), .dir = LRT_RECV },
    };
    lrt_select(cases, 2, -1);
}

static int fetch_both(void)
{
    lrt_ctx *ctx = lrt_ctx_with_cancel(lrt_ctx_background());
    lrt_chan *result = lrt_chan_make(sizeof(int), 0);
    for (int i = 0; i < 2; i++) {
        fetch *f = lrt_alloc(sizeof *f);
        *f = (fetch){ result, ctx, i, (i == 0 ? 2 : 30) * LRT_MILLISECOND };   /* fast fails first */
        lrt_go(fetcher, f);
    }
    for (int i = 0; i < 2; i++) {
        int status;
        lrt_chan_recv(result, &status);
        if (status < 0) {
            lrt_ctx_cancel(ctx);                   /* only the fix listens */
            return status;                         /* early return: the other is left */
        }
    }
    lrt_ctx_cancel(ctx);
    return 0;
}

static void run(void *arg)
{
    (void)arg;
    printf("fetch_both: %d\n", fetch_both());
    /* The slow fetcher (30 ms) has blocked by then, even on a loaded
     * machine; and its result came second (at 2 and 4 ms, a loaded run
     * under AddressSanitizer once had the slow one's first: no leak). */
    lrt_sleep(200 * LRT_MILLISECOND);
}

int main(int argc, char **argv)
{
    fixed = argc > 1 && strcmp(argv[1], "--fixed") == 0;
    return lrt_main(run, NULL) == 0 ? 0 : 1;
}

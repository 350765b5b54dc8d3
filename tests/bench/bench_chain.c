/*
 * bench_chain.c — writes a snapshot of a daisy chain of N tasks, each
 * waiting to receive from a channel only the task before it holds. By
 * default nothing holds the first channel: all N are leaked. With
 * "woken", a global holds it: the first task can be woken, so the next
 * can, and so on — none is leaked, and a round-by-round fixpoint (Go's)
 * needs N rounds over the N tasks: quadratic, where leakscan's is linear.
 * Not a test.   usage: bench-chain N PATH [woken]
 */
#include <leakrt.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long n;
static const char *path;
static int woken;
lrt_chan *bench_chain_head;             /* "woken": a root holds the first link */

typedef struct chain_link { lrt_chan *in, *out; } chain_link;

static void relay(void *arg)
{
    chain_link *l = arg;
    int v;
    if (lrt_chan_recv(l->in, &v))
        lrt_chan_send(l->out, &v);
}

static void run(void *arg)
{
    (void)arg;
    lrt_chan *in = lrt_chan_make(sizeof(int), 0);
    if (woken)
        bench_chain_head = in;
    for (long i = 0; i < n; i++) {
        chain_link *l = lrt_alloc(sizeof *l);
        l->in = in;
        l->out = lrt_chan_make(sizeof(int), 0);
        lrt_go(relay, l);
        in = l->out;
    }
    int err = lrt_snapshot(path, "daisy chain");
    if (err)
        fprintf(stderr, "bench-chain: %s\n", strerror(-err));
    fflush(stdout);
    _exit(err ? 1 : 0);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench-chain N PATH [woken]\n");
        return 2;
    }
    n = atol(argv[1]);
    path = argv[2];
    woken = argc > 3 && strcmp(argv[3], "woken") == 0;
    return lrt_main(run, NULL);
}

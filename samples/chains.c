/*
 * chains.c — leaks made of several tasks.
 *
 *   - a double send on an unbuffered channel: the receiver takes one value,
 *     the second send blocks forever;
 *   - N senders to one receiver that takes only the first answer: N-1 stay
 *     blocked (the "first response wins" race without a buffer);
 *   - a cycle: three tasks each waiting to receive from the next;
 *   - a daisy chain of tasks passing a token: one that completes (nothing
 *     leaks) and one whose head never gets the token (the whole chain
 *     leaks, every link waiting on the one before).
 *
 * The fixed twin (--fixed): the second value is not sent, the answer
 * channel has room for every sender, the cycle's channels are closed, and
 * the second chain is started too.
 */
#include <leakrt.h>
#include <stdio.h>
#include <string.h>

enum { RACERS = 5, CYCLE = 3, CHAIN = 50 };
static bool fixed;

static void double_sender(void *c)
{
    int v = 1;
    lrt_chan_send(c, &v);
    if (!fixed)
        lrt_chan_send(c, &v);              /* LEAK(chan send, count=1) */
}

static void racer(void *c)
{
    int v = 42;
    lrt_chan_send(c, &v);                  /* LEAK(chan send, count=4) */
}

typedef struct link { lrt_chan *in, *out; } link;

static void cycle_member(void *arg)
{
    link *l = arg;
    int v;
    if (lrt_chan_recv(l->in, &v))          /* LEAK(chan receive, count=3) */
        lrt_chan_send(l->out, &v);
}

static void relay(void *arg)
{
    link *l = arg;
    int v;
    if (lrt_chan_recv(l->in, &v)) {        /* LEAK(chan receive, count=50) */
        v++;                               /* count the hops */
        lrt_chan_send(l->out, &v);
    }
}

/* A chain of CHAIN relays from head to tail. */
static lrt_chan *daisy_chain(lrt_chan **tail)
{
    lrt_chan *head = lrt_chan_make(sizeof(int), 0), *in = head;
    for (int i = 0; i < CHAIN; i++) {
        link *l = lrt_alloc(sizeof *l);
        l->in = in;
        l->out = lrt_chan_make(sizeof(int), 0);
        lrt_go(relay, l);
        in = l->out;
    }
    *tail = in;
    return head;
}

static void run(void *arg)
{
    (void)arg;
    int v;
    lrt_chan *once = lrt_chan_make(sizeof(int), 0);
    lrt_go(double_sender, once);
    lrt_chan_recv(once, &v);

    lrt_chan *answers = lrt_chan_make(sizeof(int), fixed ? RACERS : 0);
    for (int i = 0; i < RACERS; i++)
        lrt_go(racer, answers);
    lrt_chan_recv(answers, &v);            /* the first answer wins */

    lrt_chan *ring[CYCLE];
    for (int i = 0; i < CYCLE; i++)
        ring[i] = lrt_chan_make(sizeof(int), 0);
    for (int i = 0; i < CYCLE; i++) {
        link *l = lrt_alloc(sizeof *l);
        *l = (link){ ring[i], ring[(i + 1) % CYCLE] };
        lrt_go(cycle_member, l);
    }
    if (fixed)
        for (int i = 0; i < CYCLE; i++)
            lrt_chan_close(ring[i]);       /* breaks the cycle: all exit */

    lrt_chan *tail, *head = daisy_chain(&tail);      /* completes */
    int token = 7;
    lrt_chan_send(head, &token);
    lrt_chan_recv(tail, &token);
    lrt_chan *tail2, *head2 = daisy_chain(&tail2);   /* its head is never fed */
    if (fixed) {
        lrt_chan_send(head2, &token);
        lrt_chan_recv(tail2, &token);
    }
    lrt_sleep(20 * LRT_MILLISECOND);
    printf("chains: token %d went through\n", token);
}

int main(int argc, char **argv)
{
    fixed = argc > 1 && strcmp(argv[1], "--fixed") == 0;
    return lrt_main(run, NULL) == 0 ? 0 : 1;
}

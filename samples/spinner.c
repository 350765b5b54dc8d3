/*
 * spinner.c — a channel held by a task that spins forever: NOT reported.
 *
 * The pattern: a task blocks receiving on a channel whose only other
 * holder is a task busy in an endless loop. The spinner will never send,
 * but it is runnable, so everything it references is reachable and the
 * receiver could in principle be woken. Like Go, leakscan cannot prove a
 * running task will never act: a documented blind spot. Both modes expect
 * no leak. (The snapshot stops the spinner with a signal, so it is still
 * captured.) Run with at least two workers.
 */
#include <leakrt.h>
#include <stdio.h>
#include <string.h>

static volatile unsigned long spins;

static void receiver(void *c) { lrt_chan_recv(c, NULL); }

static void spinner(void *c)
{
    volatile void *held = c;               /* it holds the channel ... */
    (void)held;
    for (;;)                               /* ... and never uses it */
        spins++;
}

static void run(void *arg)
{
    (void)arg;
    lrt_chan *c = lrt_chan_make(0, 0);
    lrt_go(receiver, c);
    lrt_go(spinner, c);
    while (spins == 0)
        lrt_sleep(LRT_MILLISECOND);
    lrt_sleep(10 * LRT_MILLISECOND);
    printf("spinner at %lu iterations\n", spins);
    /* lrt_main returns (the at-exit snapshot is taken first); the spinner
     * keeps its thread until the process exits. */
}

int main(int argc, char **argv)
{
    (void)argc; (void)argv;
    return lrt_main(run, NULL) == 0 ? 0 : 1;
}

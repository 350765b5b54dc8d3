/*
 * bench_groups.c — writes a snapshot of N leaked tasks in GROUPS groups
 * (default 1,000; distinct stacks: three levels of ten functions each)
 * and LIVE more tasks blocked on a channel a global keeps (candidates the
 * fixpoint wakes: not leaked), for timing unwinding and the views on a
 * large result. Not a test.   usage: bench-groups N PATH [GROUPS [LIVE]]
 */
#include <leakrt.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long n, ngroups = 1000, nlive;
static const char *path;
static lrt_chan *never;
lrt_chan *bench_kept;                    /* a root: its waiters are not leaked */

typedef struct job { int digits; } job;

/* Level three blocks; levels two and one pick the next function by a digit. */
#define LEVEL3(i) __attribute__((noinline)) static void l3_##i(int d) { (void)d; lrt_chan_recv(never, NULL); __asm__ volatile(""); }
LEVEL3(0) LEVEL3(1) LEVEL3(2) LEVEL3(3) LEVEL3(4) LEVEL3(5) LEVEL3(6) LEVEL3(7) LEVEL3(8) LEVEL3(9)
static void (*const level3[10])(int) = { l3_0, l3_1, l3_2, l3_3, l3_4, l3_5, l3_6, l3_7, l3_8, l3_9 };

#define LEVEL2(i) __attribute__((noinline)) static void l2_##i(int d) { level3[d % 10](d / 10); __asm__ volatile(""); }
LEVEL2(0) LEVEL2(1) LEVEL2(2) LEVEL2(3) LEVEL2(4) LEVEL2(5) LEVEL2(6) LEVEL2(7) LEVEL2(8) LEVEL2(9)
static void (*const level2[10])(int) = { l2_0, l2_1, l2_2, l2_3, l2_4, l2_5, l2_6, l2_7, l2_8, l2_9 };

#define LEVEL1(i) __attribute__((noinline)) static void l1_##i(int d) { level2[d % 10](d / 10); __asm__ volatile(""); }
LEVEL1(0) LEVEL1(1) LEVEL1(2) LEVEL1(3) LEVEL1(4) LEVEL1(5) LEVEL1(6) LEVEL1(7) LEVEL1(8) LEVEL1(9)
static void (*const level1[10])(int) = { l1_0, l1_1, l1_2, l1_3, l1_4, l1_5, l1_6, l1_7, l1_8, l1_9 };

static void task(void *arg)
{
    int d = (int)(intptr_t)arg;
    level1[d % 10](d / 10);
}

static void live(void *arg)
{
    (void)arg;
    lrt_chan_recv(bench_kept, NULL);
}

/* Spawns the tasks and returns: afterwards only their stacks know the
 * channel (not main's registers or stack, which are roots). */
static void spawner(void *arg)
{
    (void)arg;
    never = lrt_chan_make(0, 0);
    bench_kept = lrt_chan_make(0, 0);
    for (long i = 0; i < n; i++)
        lrt_go(task, (void *)(intptr_t)(i % ngroups));
    for (long i = 0; i < nlive; i++)
        lrt_go(live, NULL);
    never = NULL;                        /* nothing reachable wakes them */
}

static void run(void *arg)
{
    (void)arg;
    lrt_go(spawner, NULL);
    while (lrt_num_tasks() < (size_t)(n + nlive) + 1)
        lrt_sleep(LRT_MILLISECOND);
    int err = lrt_snapshot(path, "groups");
    if (err)
        fprintf(stderr, "bench-groups: %s\n", strerror(-err));
    fflush(stdout);
    _exit(err ? 1 : 0);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench-groups N PATH [GROUPS [LIVE]]\n");
        return 2;
    }
    n = atol(argv[1]);
    path = argv[2];
    if (argc > 3)
        ngroups = atol(argv[3]);
    if (argc > 4)
        nlive = atol(argv[4]);
    if (ngroups < 1 || ngroups > 1000) {
        fprintf(stderr, "bench-groups: GROUPS must be 1..1000\n");
        return 2;
    }
    return lrt_main(run, NULL);
}

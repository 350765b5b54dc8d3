/*
 * primitives.c — every kind of wait that can leak, once each.
 *
 *   - send and receive on a nil channel, select with no cases: nothing can
 *     ever wake them;
 *   - a mutex locked and never unlocked, by a task that went away;
 *   - a wait group whose counter never reaches zero;
 *   - a condition variable nobody signals;
 *   - an rwmutex held by a writer that is itself leaked, and a reader
 *     waiting behind it.
 *
 * The fixed twin (--fixed) does each of these correctly: no nil channels,
 * unlock, done, signal, and a writer that finishes.
 */
#include <leakrt.h>
#include <stdio.h>
#include <string.h>

static bool fixed;

typedef struct shared {
    lrt_mutex   mu;
    lrt_wg      wg;
    lrt_cond    cond;
    lrt_mutex   cond_mu;
    bool        ready;
    lrt_rwmutex rw;
    lrt_chan   *never;                     /* nobody ever sends here */
} shared;

static void nil_sender(void *arg)
{
    (void)arg;
    lrt_chan *c = NULL;
    lrt_chan_send(c, NULL);                /* LEAK(chan send (nil chan), count=1) */
}

static void nil_receiver(void *arg)
{
    (void)arg;
    lrt_chan_recv(NULL, NULL);             /* LEAK(chan receive (nil chan), count=1) */
}

static void empty_select(void *arg)
{
    (void)arg;
    lrt_select(NULL, 0, -1);               /* LEAK(select (no cases), count=1) */
}

static void locker(void *arg)
{
    shared *s = arg;
    lrt_mutex_lock(&s->mu);                /* LEAK(mutex lock, count=1) */
    lrt_mutex_unlock(&s->mu);
}

static void waiter(void *arg)
{
    shared *s = arg;
    lrt_wg_wait(&s->wg);                   /* LEAK(waitgroup wait, count=1) */
}

static void cond_waiter(void *arg)
{
    shared *s = arg;
    lrt_mutex_lock(&s->cond_mu);
    while (!s->ready)
        lrt_cond_wait(&s->cond, &s->cond_mu);  /* LEAK(cond wait, count=1) */
    lrt_mutex_unlock(&s->cond_mu);
}

static void writer(void *arg)
{
    shared *s = arg;
    lrt_rwmutex_lock(&s->rw);
    if (!fixed)
        lrt_chan_recv(s->never, NULL);     /* LEAK(chan receive, count=1) */
    lrt_rwmutex_unlock(&s->rw);
}

static void reader(void *arg)
{
    shared *s = arg;
    lrt_rwmutex_rlock(&s->rw);             /* LEAK(rwmutex rlock, count=1) */
    lrt_rwmutex_runlock(&s->rw);
}

static void run(void *arg)
{
    (void)arg;
    shared *s = lrt_alloc(sizeof *s);
    s->never = lrt_chan_make(0, 0);
    if (!fixed) {
        lrt_go(nil_sender, NULL);
        lrt_go(nil_receiver, NULL);
        lrt_go(empty_select, NULL);
    }
    lrt_mutex_lock(&s->mu);                /* and (unfixed) never unlock it */
    lrt_go(locker, s);
    lrt_wg_add(&s->wg, 1);
    lrt_go(waiter, s);
    lrt_go(cond_waiter, s);
    lrt_go(writer, s);
    lrt_sleep(5 * LRT_MILLISECOND);
    lrt_go(reader, s);
    lrt_sleep(5 * LRT_MILLISECOND);
    if (fixed) {
        lrt_mutex_unlock(&s->mu);
        lrt_wg_done(&s->wg);
        lrt_mutex_lock(&s->cond_mu);
        s->ready = true;
        lrt_cond_signal(&s->cond);
        lrt_mutex_unlock(&s->cond_mu);
    }
    lrt_sleep(20 * LRT_MILLISECOND);
    printf("primitives: %zu tasks still alive\n", lrt_num_tasks() - 1);
}

int main(int argc, char **argv)
{
    fixed = argc > 1 && strcmp(argv[1], "--fixed") == 0;
    return lrt_main(run, NULL) == 0 ? 0 : 1;
}

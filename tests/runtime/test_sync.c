/*
 * test_sync.c — mutex, rwmutex, cond and wait group.
 */
#include "rttest.h"

#include <stdlib.h>
#include <string.h>

enum { INCREMENTERS = 100, INCREMENTS = 1000, WAITERS = 5 };

static struct {
    long counter;
    bool trylock_free, trylock_held, trylock_other, trylock_after;
    int  max_readers, readers_now, writers_now, max_writers;
    int  reader_saw_writer, writer_saw_reader;
    int  order[8], norder;
    int  woken, woken_after_signal, relocked;
    int  flag, flag_before, waiters_woken;
    int64_t waited;
} r;

typedef struct shared {
    lrt_mutex   mu;
    lrt_rwmutex rw;
    lrt_cond    cond;
    lrt_wg      wg;
    int         generation, waiting;
    int         stop;
} shared;

static void record(int who)
{
    int i = RT_ADD(&r.norder, 1) - 1;
    if (i < 8)
        r.order[i] = who;
}

/* --- mutex ------------------------------------------------------------------- */

static void incrementer(void *arg)
{
    shared *s = arg;
    for (int i = 0; i < INCREMENTS; i++) {
        lrt_mutex_lock(&s->mu);
        long v = r.counter;
        lrt_yield();                               /* invite a race inside */
        r.counter = v + 1;
        lrt_mutex_unlock(&s->mu);
    }
    lrt_wg_done(&s->wg);
}

static void mutex_body(void *arg)
{
    (void)arg;
    shared *s = lrt_alloc(sizeof *s);
    lrt_wg_add(&s->wg, INCREMENTERS);
    for (int i = 0; i < INCREMENTERS; i++)
        lrt_go(incrementer, s);
    lrt_wg_wait(&s->wg);
}

static void test_mutex_excludes_under_contention(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(mutex_body, NULL);
    assert_int_equal(r.counter, (long)INCREMENTERS * INCREMENTS);
}

/* A task that holds the mutex for a while and relocks it at once always
 * wins against a waiter that must first be woken and scheduled: after
 * 1 ms of losing, the waiter is handed the mutex instead (starvation
 * mode, as Go's). Without it the waiter would wait until the relocker
 * stops, 3 s later. (On one worker nothing runs beside the relocker, so
 * there it yields after each unlock and the wait is short anyway.) */
static bool one_worker(void)
{
    const char *procs = getenv("LRT_PROCS");
    return procs && atoi(procs) == 1;
}

static void relocker(void *arg)
{
    shared *s = arg;
    int64_t until = lrt_now() + 3 * LRT_SECOND;
    bool yield = one_worker();
    while (!RT_LOAD(&s->stop) && lrt_now() < until) {
        lrt_mutex_lock(&s->mu);
        for (int64_t held = lrt_now(); lrt_now() - held < 50 * LRT_MICROSECOND;)
            ;                                      /* hold it a while */
        lrt_mutex_unlock(&s->mu);
        if (yield)
            lrt_yield();
    }
    lrt_wg_done(&s->wg);
}

static void starving_body(void *arg)
{
    (void)arg;
    shared *s = lrt_alloc(sizeof *s);
    lrt_wg_add(&s->wg, 1);
    lrt_go(relocker, s);
    lrt_sleep(5 * LRT_MILLISECOND);
    int64_t t0 = lrt_now();
    lrt_mutex_lock(&s->mu);
    r.waited = lrt_now() - t0;
    lrt_mutex_unlock(&s->mu);
    RT_STORE(&s->stop, 1);
    lrt_wg_wait(&s->wg);
}

static void test_a_waiter_is_not_starved_by_a_task_that_relocks_at_once(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(starving_body, NULL);
    print_message("waited %lld us\n", (long long)r.waited / 1000);
    assert_true(r.waited < LRT_SECOND);
}

static void try_from_other(void *arg)
{
    shared *s = arg;
    RT_STORE(&r.trylock_other, lrt_mutex_trylock(&s->mu));
    lrt_wg_done(&s->wg);
}

static void trylock_body(void *arg)
{
    (void)arg;
    shared *s = lrt_alloc(sizeof *s);
    r.trylock_free = lrt_mutex_trylock(&s->mu);   /* zeroed: unlocked */
    r.trylock_held = lrt_mutex_trylock(&s->mu);   /* not reentrant */
    lrt_wg_add(&s->wg, 1);
    lrt_go(try_from_other, s);
    lrt_wg_wait(&s->wg);
    lrt_mutex_unlock(&s->mu);
    r.trylock_after = lrt_mutex_trylock(&s->mu);
    lrt_mutex_unlock(&s->mu);
}

static void test_trylock_takes_a_free_mutex_and_fails_on_a_held_one(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(trylock_body, NULL);
    assert_true(r.trylock_free);
    assert_false(r.trylock_held);
    assert_false(r.trylock_other);
    assert_true(r.trylock_after);
}

static void late_locker(void *arg)
{
    shared *s = arg;
    lrt_mutex_lock(&s->mu);                        /* blocks: main holds it */
    RT_STORE(&r.flag, 1);
    lrt_mutex_unlock(&s->mu);
    lrt_wg_done(&s->wg);
}

static void lock_blocks_body(void *arg)
{
    (void)arg;
    static lrt_mutex global_mu;                    /* zeroed global: usable */
    shared *s = lrt_alloc(sizeof *s);
    lrt_mutex_lock(&global_mu);
    lrt_mutex_lock(&s->mu);
    lrt_wg_add(&s->wg, 1);
    lrt_go(late_locker, s);
    lrt_sleep(10 * LRT_MILLISECOND);
    r.flag_before = RT_LOAD(&r.flag);
    lrt_mutex_unlock(&s->mu);
    lrt_wg_wait(&s->wg);
    lrt_mutex_unlock(&global_mu);
}

static void test_lock_blocks_until_the_holder_unlocks(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(lock_blocks_body, NULL);
    assert_int_equal(r.flag_before, 0);
    assert_int_equal(r.flag, 1);
}

/* --- rwmutex --------------------------------------------------------------- */

static void reader(void *arg)
{
    shared *s = arg;
    for (int i = 0; i < 50; i++) {
        lrt_rwmutex_rlock(&s->rw);
        rt_max(&r.max_readers, RT_ADD(&r.readers_now, 1));
        if (RT_LOAD(&r.writers_now))
            RT_ADD(&r.reader_saw_writer, 1);
        lrt_yield();
        lrt_yield();
        RT_ADD(&r.readers_now, -1);
        lrt_rwmutex_runlock(&s->rw);
    }
    lrt_wg_done(&s->wg);
}

static void writer(void *arg)
{
    shared *s = arg;
    for (int i = 0; i < 20; i++) {
        lrt_rwmutex_lock(&s->rw);
        rt_max(&r.max_writers, RT_ADD(&r.writers_now, 1));
        if (RT_LOAD(&r.readers_now))
            RT_ADD(&r.writer_saw_reader, 1);
        lrt_yield();
        RT_ADD(&r.writers_now, -1);
        lrt_rwmutex_unlock(&s->rw);
        lrt_yield();
    }
    lrt_wg_done(&s->wg);
}

static void readers_only_body(void *arg)
{
    (void)arg;
    shared *s = lrt_alloc(sizeof *s);
    lrt_wg_add(&s->wg, 8);
    for (int i = 0; i < 8; i++)
        lrt_go(reader, s);
    lrt_wg_wait(&s->wg);
}

static void test_rwmutex_readers_hold_it_together(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(readers_only_body, NULL);
    assert_true(r.max_readers > 1);
}

static void mixed_body(void *arg)
{
    (void)arg;
    shared *s = lrt_alloc(sizeof *s);
    lrt_wg_add(&s->wg, 11);
    for (int i = 0; i < 8; i++)
        lrt_go(reader, s);
    for (int i = 0; i < 3; i++)
        lrt_go(writer, s);
    lrt_wg_wait(&s->wg);
}

static void test_rwmutex_writers_are_exclusive(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(mixed_body, NULL);
    assert_int_equal(r.max_writers, 1);            /* never two writers */
    assert_int_equal(r.writer_saw_reader, 0);      /* never a writer with readers */
    assert_int_equal(r.reader_saw_writer, 0);
}

static void endless_reader(void *arg)
{
    shared *s = arg;
    while (!RT_LOAD(&s->stop)) {
        lrt_rwmutex_rlock(&s->rw);
        lrt_yield();
        lrt_rwmutex_runlock(&s->rw);
    }
    lrt_wg_done(&s->wg);
}

static void starving_writer(void *arg)
{
    shared *s = arg;
    lrt_rwmutex_lock(&s->rw);                      /* readers keep arriving */
    RT_STORE(&r.flag, RT_LOAD(&s->stop) ? 2 : 1);  /* 1: while they still did */
    lrt_rwmutex_unlock(&s->rw);
    lrt_wg_done(&s->wg);
}

static void starvation_body(void *arg)
{
    (void)arg;
    shared *s = lrt_alloc(sizeof *s);
    lrt_wg_add(&s->wg, 9);
    for (int i = 0; i < 8; i++)
        lrt_go(endless_reader, s);
    lrt_sleep(2 * LRT_MILLISECOND);
    lrt_go(starving_writer, s);
    /* The readers only stop once the writer got in, or after 5 s. */
    for (int i = 0; i < 5000 && !RT_LOAD(&r.flag); i++)
        lrt_sleep(LRT_MILLISECOND);
    RT_STORE(&s->stop, 1);
    lrt_wg_wait(&s->wg);
}

static void test_waiting_writer_is_not_starved_by_a_stream_of_readers(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(starvation_body, NULL);
    assert_int_equal(r.flag, 1);
}

typedef struct rw_step { shared *s; lrt_wg *in; lrt_chan *release; } rw_step;

static void first_reader(void *arg)
{
    rw_step *st = arg;
    lrt_rwmutex_rlock(&st->s->rw);
    lrt_wg_done(st->in);
    lrt_chan_recv(st->release, NULL);              /* the others queue meanwhile */
    record(1);
    lrt_rwmutex_runlock(&st->s->rw);
}

static void queued_writer(void *arg)
{
    rw_step *st = arg;
    lrt_rwmutex_lock(&st->s->rw);
    record(2);
    lrt_rwmutex_unlock(&st->s->rw);
    lrt_wg_done(&st->s->wg);
}

static void late_reader(void *arg)
{
    rw_step *st = arg;
    lrt_rwmutex_rlock(&st->s->rw);                 /* behind the waiting writer */
    record(3);
    lrt_rwmutex_runlock(&st->s->rw);
    lrt_wg_done(&st->s->wg);
}

static void writer_preference_body(void *arg)
{
    (void)arg;
    rw_step *st = lrt_alloc(sizeof *st);
    st->s = lrt_alloc(sizeof *st->s);
    st->in = lrt_alloc(sizeof *st->in);
    st->release = lrt_chan_make(0, 0);
    lrt_wg_add(st->in, 1);
    lrt_wg_add(&st->s->wg, 2);
    lrt_go(first_reader, st);
    lrt_wg_wait(st->in);                           /* a reader holds it */
    lrt_go(queued_writer, st);
    lrt_sleep(20 * LRT_MILLISECOND);               /* the writer waits */
    lrt_go(late_reader, st);
    lrt_sleep(20 * LRT_MILLISECOND);               /* a new reader arrives */
    lrt_chan_send(st->release, NULL);
    lrt_wg_wait(&st->s->wg);
}

static void test_a_waiting_writer_goes_before_readers_that_came_after_it(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(writer_preference_body, NULL);
    assert_int_equal(r.norder, 3);
    assert_int_equal(r.order[0], 1);
    assert_int_equal(r.order[1], 2);
    assert_int_equal(r.order[2], 3);
}

typedef struct rw_seq { lrt_rwmutex rw; lrt_wg wg; lrt_chan *release; } rw_seq;

static void holding_writer(void *arg)
{
    rw_seq *q = arg;
    lrt_rwmutex_lock(&q->rw);
    lrt_wg_done(&q->wg);                           /* it holds the lock */
    lrt_chan_recv(q->release, NULL);
    record(1);
    lrt_rwmutex_unlock(&q->rw);
}

static void reader_in_queue(void *arg)
{
    rw_seq *q = arg;
    lrt_rwmutex_rlock(&q->rw);
    record(2);
    lrt_rwmutex_runlock(&q->rw);
}

static void writer_in_queue(void *arg)
{
    rw_seq *q = arg;
    lrt_rwmutex_lock(&q->rw);
    record(3);
    lrt_rwmutex_unlock(&q->rw);
}

static void readers_first_body(void *arg)
{
    (void)arg;
    rw_seq *q = lrt_alloc(sizeof *q);
    q->release = lrt_chan_make(0, 0);
    lrt_wg_add(&q->wg, 1);
    lrt_go(holding_writer, q);
    lrt_wg_wait(&q->wg);
    lrt_go(reader_in_queue, q);                    /* waits behind the writer */
    lrt_sleep(20 * LRT_MILLISECOND);
    lrt_go(writer_in_queue, q);                    /* a second writer waits too */
    lrt_sleep(20 * LRT_MILLISECOND);
    lrt_chan_send(q->release, NULL);
    for (int i = 0; i < 2000 && RT_LOAD(&r.norder) < 3; i++)
        lrt_sleep(LRT_MILLISECOND);
}

static void test_readers_that_queued_behind_a_writer_go_before_the_next_writer(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(readers_first_body, NULL);
    assert_int_equal(r.norder, 3);
    assert_int_equal(r.order[0], 1);
    assert_int_equal(r.order[1], 2);
    assert_int_equal(r.order[2], 3);
}

/* --- cond --------------------------------------------------------------------- */

static void cond_waiter(void *arg)
{
    shared *s = arg;
    lrt_mutex_lock(&s->mu);
    int seen = s->generation;
    s->waiting++;
    while (s->generation == seen)
        lrt_cond_wait(&s->cond, &s->mu);
    if (!lrt_mutex_trylock(&s->mu))                /* wait locked it again */
        r.relocked++;
    RT_ADD(&r.woken, 1);
    lrt_mutex_unlock(&s->mu);
    lrt_wg_done(&s->wg);
}

/* Locks mu and returns once every waiter is inside lrt_cond_wait: each
 * counted itself under mu, and wait releases mu only once it waits. */
static void lock_when_all_wait(shared *s, int n)
{
    for (;;) {
        lrt_mutex_lock(&s->mu);
        if (s->waiting == n)
            return;
        lrt_mutex_unlock(&s->mu);
        lrt_sleep(LRT_MILLISECOND);
    }
}

static void signal_body(void *arg)
{
    (void)arg;
    shared *s = lrt_alloc(sizeof *s);
    lrt_wg_add(&s->wg, WAITERS);
    for (int i = 0; i < WAITERS; i++)
        lrt_go(cond_waiter, s);
    lock_when_all_wait(s, WAITERS);
    s->generation++;                               /* every waiter may go... */
    lrt_cond_signal(&s->cond);                     /* ...but only one is woken */
    lrt_mutex_unlock(&s->mu);
    for (int i = 0; i < 2000 && RT_LOAD(&r.woken) == 0; i++)
        lrt_sleep(LRT_MILLISECOND);                /* the one wakes... */
    lrt_sleep(20 * LRT_MILLISECOND);               /* ...and no other follows */
    lrt_mutex_lock(&s->mu);
    r.woken_after_signal = r.woken;
    lrt_mutex_unlock(&s->mu);
    for (int i = 1; i < WAITERS; i++)              /* one signal each */
        lrt_cond_signal(&s->cond);
    lrt_wg_wait(&s->wg);
    lrt_cond_signal(&s->cond);                     /* nobody waits: no effect */
}

static void test_cond_signal_wakes_exactly_one_waiter(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(signal_body, NULL);
    assert_int_equal(r.woken_after_signal, 1);
    assert_int_equal(r.woken, WAITERS);
    assert_int_equal(r.relocked, WAITERS);
}

static void broadcast_body(void *arg)
{
    (void)arg;
    shared *s = lrt_alloc(sizeof *s);
    lrt_wg_add(&s->wg, WAITERS);
    for (int i = 0; i < WAITERS; i++)
        lrt_go(cond_waiter, s);
    lock_when_all_wait(s, WAITERS);
    s->generation++;
    lrt_cond_broadcast(&s->cond);
    lrt_mutex_unlock(&s->mu);
    lrt_wg_wait(&s->wg);                           /* all five wake */
}

static void test_cond_broadcast_wakes_every_waiter(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(broadcast_body, NULL);
    assert_int_equal(r.woken, WAITERS);
    assert_int_equal(r.relocked, WAITERS);
}

/* --- wait group ------------------------------------------------------------------ */

static void wg_worker(void *arg)
{
    shared *s = arg;
    lrt_sleep(LRT_MILLISECOND);
    RT_ADD(&r.counter, 1);
    lrt_wg_done(&s->wg);
}

static void wg_body(void *arg)
{
    (void)arg;
    shared *s = lrt_alloc(sizeof *s);
    lrt_wg_wait(&s->wg);                           /* zero: returns at once */
    lrt_wg_add(&s->wg, 50);
    for (int i = 0; i < 50; i++)
        lrt_go(wg_worker, s);
    lrt_wg_wait(&s->wg);
    r.woken = (int)RT_LOAD(&r.counter);
}

static void test_wait_returns_after_every_done(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(wg_body, NULL);
    assert_int_equal(r.woken, 50);
}

static void wg_waiter(void *arg)
{
    shared *s = arg;
    lrt_wg_wait(&s->wg);
    RT_ADD(&r.waiters_woken, 1);
}

static void wg_counts_body(void *arg)
{
    (void)arg;
    shared *s = lrt_alloc(sizeof *s);
    lrt_wg_add(&s->wg, 3);
    lrt_wg_add(&s->wg, 2);                         /* 5 */
    lrt_wg_add(&s->wg, -1);                        /* 4: add may subtract */
    for (int i = 0; i < 3; i++)
        lrt_go(wg_waiter, s);
    lrt_wg_done(&s->wg);
    lrt_wg_done(&s->wg);
    lrt_wg_done(&s->wg);                           /* 1 left */
    lrt_sleep(10 * LRT_MILLISECOND);
    r.flag_before = RT_LOAD(&r.waiters_woken);     /* none may have woken */
    lrt_wg_done(&s->wg);                           /* 0: all waiters go */
    for (int i = 0; i < 1000 && RT_LOAD(&r.waiters_woken) < 3; i++)
        lrt_sleep(LRT_MILLISECOND);
    r.flag = RT_LOAD(&r.waiters_woken);
    lrt_wg_add(&s->wg, 1);                         /* reusable */
    lrt_wg_done(&s->wg);
    lrt_wg_wait(&s->wg);
    r.woken = 1;
}

static void test_wait_group_add_and_done_count_up_and_down(void **state)
{
    (void)state;
    memset(&r, 0, sizeof r);
    rt_run(wg_counts_body, NULL);
    assert_int_equal(r.flag_before, 0);
    assert_int_equal(r.flag, 3);
    assert_int_equal(r.woken, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mutex_excludes_under_contention),
        cmocka_unit_test(test_a_waiter_is_not_starved_by_a_task_that_relocks_at_once),
        cmocka_unit_test(test_trylock_takes_a_free_mutex_and_fails_on_a_held_one),
        cmocka_unit_test(test_lock_blocks_until_the_holder_unlocks),
        cmocka_unit_test(test_rwmutex_readers_hold_it_together),
        cmocka_unit_test(test_rwmutex_writers_are_exclusive),
        cmocka_unit_test(test_waiting_writer_is_not_starved_by_a_stream_of_readers),
        cmocka_unit_test(test_a_waiting_writer_goes_before_readers_that_came_after_it),
        cmocka_unit_test(test_readers_that_queued_behind_a_writer_go_before_the_next_writer),
        cmocka_unit_test(test_cond_signal_wakes_exactly_one_waiter),
        cmocka_unit_test(test_cond_broadcast_wakes_every_waiter),
        cmocka_unit_test(test_wait_returns_after_every_done),
        cmocka_unit_test(test_wait_group_add_and_done_count_up_and_down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

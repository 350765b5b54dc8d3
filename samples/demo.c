/*
 * demo.c — the leak leakscan is built to find, in twenty lines.
 *
 * A request handler asks a backend for an answer with a timeout. The
 * backend answers on an unbuffered channel; when the handler has already
 * given up, nobody will ever receive, and the backend task blocks in
 * `chan send` forever — a leaked task, holding its stack and everything it
 * references. Go programs leak exactly like this.
 *
 * The fix (--fixed) is one character: make the reply channel buffered
 * (capacity 1), so the late answer is dropped into the buffer and the
 * backend exits.
 *
 * For tests/e2e/test_run.py (how `leakscan run` passes a failing program's
 * status on): `--exit N` returns N from main once lrt_main has returned
 * (its at-exit snapshot written), `--crash` then dies by SIGSEGV instead.
 */
#include <leakrt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static bool fixed;                         /* --fixed: the reply channel has room */

static void backend(void *arg)
{
    lrt_chan *reply = arg;
    lrt_sleep(20 * LRT_MILLISECOND);       /* a slow backend */
    int answer = 42;
    lrt_chan_send(reply, &answer);         /* LEAK(chan send, count=5) */
}

static void handle_request(int id)
{
    lrt_chan *reply = lrt_chan_make(sizeof(int), fixed ? 1 : 0);   /* the fix: capacity 1 */
    lrt_go(backend, reply);
    int answer;
    lrt_case cases[] = { { .chan = reply, .dir = LRT_RECV, .elem = &answer } };
    if (lrt_select(cases, 1, 5 * LRT_MILLISECOND) < 0)
        printf("request %d: timed out, returning an error\n", id);
    else
        printf("request %d: answer %d\n", id, answer);
}

static void serve(void *arg)
{
    (void)arg;
    for (int i = 1; i <= 5; i++)
        handle_request(i);
    lrt_sleep(50 * LRT_MILLISECOND);       /* let every backend finish */
    printf("tasks still alive after serving 5 requests: %zu (1 is main)\n",
           lrt_num_tasks());
}

/* --crash: killed by SIGSEGV itself, not by the runtime's handler (which
 * is still installed for stack overflows), and without a core file: the
 * test wants the signal, not a dump in its working directory. */
static void crash(void)
{
    struct rlimit none = { 0, 0 };
    setrlimit(RLIMIT_CORE, &none);
    signal(SIGSEGV, SIG_DFL);
    raise(SIGSEGV);
}

int main(int argc, char **argv)
{
    int status = -1;                       /* --exit N; -1: lrt_main's verdict */
    bool crashes = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--fixed") == 0)
            fixed = true;
        else if (strcmp(argv[i], "--exit") == 0 && i + 1 < argc)
            status = atoi(argv[++i]);
        else if (strcmp(argv[i], "--crash") == 0)
            crashes = true;
    }
    int ok = lrt_main(serve, NULL) == 0;
    if (crashes)
        crash();
    return status >= 0 ? status : ok ? 0 : 1;
}

/*
 * webserver.c — a toy web server whose search requests leave a task
 * behind when the backend is slow: the sample of the README's "triage a
 * leak" walkthrough.
 *
 * The pattern: the acceptor starts one handler task per request; the
 * handler labels itself with the request's route and id (lrt_label_set,
 * inherited by what it starts) and, for /search, starts a backend query
 * that sends its rows on an unbuffered channel. The handler waits at most
 * 100 ms (lrt_select with a timeout) and answers "timeout" when the
 * backend is slower; nobody ever receives the slow backend's rows, so it
 * blocks in `chan send` forever, three creators deep: main -> acceptor ->
 * handler -> backend.
 *
 * The fix (--fixed): the result channel has room for the one result
 * (capacity 1), so the backend's send completes whether or not anybody is
 * still waiting, and the task ends.
 */
#include <leakrt.h>
#include <stdio.h>
#include <string.h>

static bool fixed;

enum { REQUESTS = 12 };

typedef struct query {
    lrt_chan *result;
    int64_t   delay;                    /* how long the backend takes */
} query;

static void query_backend(void *arg)
{
    query *q = arg;
    lrt_sleep(q->delay);
    int rows = 42;
    lrt_chan_send(q->result, &rows);     /* LEAK(chan send, count=3) */
}

typedef struct request {
    int         id;
    const char *route;
} request;

static void handle_request(void *arg)
{
    request *r = arg;
    char id[16];
    snprintf(id, sizeof id, "%d", r->id);
    lrt_label_set("route", r->route);
    lrt_label_set("request", id);
    if (strcmp(r->route, "/search") != 0)
        return;                          /* /health: nothing to wait for */
    query *q = lrt_alloc(sizeof *q);
    q->result = lrt_chan_make(sizeof(int), fixed ? 1 : 0);
    /* Every third search hits a slow backend shard. */
    q->delay = r->id % 3 == 0 ? 300 * LRT_MILLISECOND : 0;
    lrt_go(query_backend, q);
    int rows;
    lrt_case cases[] = { { .chan = q->result, .dir = LRT_RECV, .elem = &rows } };
    if (lrt_select(cases, 1, 100 * LRT_MILLISECOND) < 0)
        return;                          /* timeout: answer 504, forget the query */
}

static void acceptor(void *arg)
{
    (void)arg;
    lrt_label_set("server", "web");
    for (int i = 0; i < REQUESTS; i++) {
        request *r = lrt_alloc(sizeof *r);
        r->id = i;
        r->route = i % 4 == 3 ? "/health" : "/search";
        lrt_go(handle_request, r);
    }
}

static void run(void *arg)
{
    (void)arg;
    lrt_go(acceptor, NULL);
    lrt_sleep(500 * LRT_MILLISECOND);    /* the slow backends are stuck by now */
    printf("served %d requests\n", REQUESTS);
}

int main(int argc, char **argv)
{
    fixed = argc > 1 && strcmp(argv[1], "--fixed") == 0;
    return lrt_main(run, NULL) == 0 ? 0 : 1;
}

/*
 * logger.c — an asynchronous logger whose consumer died.
 *
 * The pattern: requests send log lines to a buffered channel that one
 * consumer task writes out. The consumer hits an error and returns. The
 * buffer fills, and every request task after that blocks in `chan send` on
 * the log channel — a slow pile-up of stuck requests.
 *
 * The fix (--fixed): logging never blocks a request: select with a default
 * case and drop (and count) the line when the buffer is full.
 */
#include <leakrt.h>
#include <stdio.h>
#include <string.h>

enum { REQUESTS = 12, BUFFER = 4 };
static bool fixed;
static int dropped;

static void consumer(void *arg)
{
    lrt_chan *log = arg;
    char line[64];
    for (int written = 0; lrt_chan_recv(log, line); written++)
        if (written == 2)
            return;                                /* "disk error": the consumer dies */
}

static void log_line(lrt_chan *log, const char *text)
{
    char line[64];
    snprintf(line, sizeof line, "%s", text);
    if (!fixed) {
        lrt_chan_send(log, line);                  /* LEAK(chan send, count=5) */
        return;
    }
    lrt_case c = { .chan = log, .dir = LRT_SEND, .elem = line };
    if (lrt_select(&c, 1, 0) < 0)
        dropped++;
}

static void request(void *arg)
{
    log_line(arg, "request served");
}

static void run(void *arg)
{
    (void)arg;
    lrt_chan *log = lrt_chan_make(64, BUFFER);
    lrt_go(consumer, log);
    for (int i = 0; i < REQUESTS; i++) {
        lrt_go(request, log);
        lrt_sleep(LRT_MILLISECOND);
    }
    lrt_sleep(20 * LRT_MILLISECOND);
    printf("served %d requests, dropped %d log lines\n", REQUESTS, dropped);
}

int main(int argc, char **argv)
{
    fixed = argc > 1 && strcmp(argv[1], "--fixed") == 0;
    return lrt_main(run, NULL) == 0 ? 0 : 1;
}

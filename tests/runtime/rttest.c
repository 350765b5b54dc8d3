/*
 * rttest.c — see rttest.h.
 */
#include "rttest.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void expect_abort(void (*body)(void *), void (*thread_fn)(void), va_list words)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        signal(SIGABRT, SIG_DFL);
        if (body)
            lrt_main(body, NULL);
        else
            thread_fn();
        _exit(0);                          /* no abort: the test fails */
    }
    close(fds[1]);
    char out[4096];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof out - 1 && (r = read(fds[0], out + n, sizeof out - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status) || (WTERMSIG(status) != SIGABRT && WTERMSIG(status) != SIGSEGV))
        fail_msg("expected an abort, got status 0x%x; stderr: %s", status, out);
    for (const char *word; (word = va_arg(words, const char *));)
        if (!strstr(out, word))
            fail_msg("abort message lacks \"%s\": %s", word, out);
}

void rt_expect_abort(void (*body)(void *), ...)
{
    va_list ap;
    va_start(ap, body);
    expect_abort(body, NULL, ap);
    va_end(ap);
}

void rt_expect_abort_thread(void (*fn)(void), ...)
{
    va_list ap;
    va_start(ap, fn);
    expect_abort(NULL, fn, ap);
    va_end(ap);
}

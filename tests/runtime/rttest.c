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

/* A child that neither aborts nor exits within this many seconds is killed
 * by SIGALRM, which fails the test instead of hanging the suite. */
enum { CHILD_SECONDS = 20 };

static void expect_death(void (*body)(void *), void (*thread_fn)(void), bool segv_ok,
                         va_list words)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        signal(SIGABRT, SIG_DFL);
        alarm(CHILD_SECONDS);
        if (body)
            lrt_main(body, NULL);
        else
            thread_fn();
        _exit(0);                          /* no abort: the test fails */
    }
    close(fds[1]);
    char out[8192];
    size_t n = 0;
    ssize_t got;
    while (n < sizeof out - 1 && (got = read(fds[0], out + n, sizeof out - 1 - n)) > 0)
        n += (size_t)got;
    out[n] = '\0';
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    bool died = WIFSIGNALED(status) &&
                (WTERMSIG(status) == SIGABRT || (segv_ok && WTERMSIG(status) == SIGSEGV));
    if (!died)
        fail_msg("expected death by SIGABRT%s, got %s %d; stderr: %s",
                 segv_ok ? " or SIGSEGV" : "",
                 WIFSIGNALED(status) ? "signal" : "exit status",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), out);
    for (const char *word; (word = va_arg(words, const char *));)
        if (!strstr(out, word))
            fail_msg("the message lacks \"%s\": %s", word, out);
}

void rt_expect_abort(void (*body)(void *), ...)
{
    va_list ap;
    va_start(ap, body);
    expect_death(body, NULL, false, ap);
    va_end(ap);
}

void rt_expect_crash(void (*body)(void *), ...)
{
    va_list ap;
    va_start(ap, body);
    expect_death(body, NULL, true, ap);
    va_end(ap);
}

void rt_expect_abort_thread(void (*fn)(void), ...)
{
    va_list ap;
    va_start(ap, fn);
    expect_death(NULL, fn, false, ap);
    va_end(ap);
}

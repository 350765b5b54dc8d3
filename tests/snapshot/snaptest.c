/*
 * snaptest.c — see snaptest.h.
 */
#include "snaptest.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

static char dir[256];
static int report_fd = -1;

const char *snaptest_dir(void)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/leakscan-test-XXXXXX");
        if (!mkdtemp(dir))
            fail_msg("mkdtemp: %s", strerror(errno));
    }
    return dir;
}

void snaptest_cleanup(void)
{
    if (dir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", dir);
        dir[0] = '\0';
    }
}

void snaptest_report(const void *report, size_t size)
{
    const char *p = report;
    while (size > 0) {
        ssize_t n = write(report_fd, p, size);
        if (n <= 0)
            _exit(99);
        p += n;
        size -= (size_t)n;
    }
}

int snaptest_run(void (*fn)(void *), void *arg, void *report, size_t report_size)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        report_fd = fds[1];
        int r = lrt_main(fn, arg);
        _exit(r == 0 ? 0 : 98);
    }
    close(fds[1]);
    memset(report, 0, report_size);
    size_t got = 0;
    while (got < report_size) {
        ssize_t n = read(fds[0], (char *)report + got, report_size - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (got != report_size)
        fail_msg("the child sent %zu of %zu report bytes (status 0x%x)", got, report_size, status);
    return status;
}

void snaptest_open(const char *path, ls_core **core, ls_runtime **rt)
{
    ls_error err;
    if (ls_core_open(path, core, &err) != 0)
        fail_msg("%s", err.message);
    assert_true((*core)->has_note);
    if (ls_runtime_read(*core, (*core)->note.debug_root, rt, &err) != 0)
        fail_msg("%s", err.message);
}

const ls_task *snaptest_task(const ls_runtime *rt, uint64_t id)
{
    for (size_t i = 0; i < rt->ntasks; i++)
        if (rt->tasks[i].id == id)
            return &rt->tasks[i];
    return NULL;
}

bool snaptest_waits_on(const ls_task *t, uint64_t addr)
{
    for (uint32_t i = 0; i < t->wait_count; i++)
        if (t->wait_addrs[i] == addr)
            return true;
    return false;
}

const ls_span *snaptest_span(const ls_runtime *rt, uint64_t addr)
{
    for (size_t i = 0; i < rt->nspans; i++)
        if (addr >= rt->spans[i].base && addr < rt->spans[i].base + rt->spans[i].size)
            return &rt->spans[i];
    return NULL;
}

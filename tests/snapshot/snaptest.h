/*
 * snaptest.h — helpers for tests that take a snapshot in a child process and
 * read it back with the formats/ reader.
 */
#ifndef SNAPTEST_H
#define SNAPTEST_H

#include <leakrt.h>
#include "reader.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A scratch directory for the test's files, removed by snaptest_cleanup. */
const char *snaptest_dir(void);
void snaptest_cleanup(void);

/* Runs fn(arg) as the main task of a fresh lrt_main in a forked child, which
 * sends `report_size` bytes of report back through a pipe when fn calls
 * snaptest_report. Returns the child's wait status; *report is filled. */
int snaptest_run(void (*fn)(void *), void *arg, void *report, size_t report_size);
void snaptest_report(const void *report, size_t size);

/* Opens a snapshot and its runtime; aborts the test with the reader's
 * message on failure. */
void snaptest_open(const char *path, ls_core **core, ls_runtime **rt);

/* The decoded task with this id, or NULL. */
const ls_task *snaptest_task(const ls_runtime *rt, uint64_t id);
/* Whether the task waits on addr. */
bool snaptest_waits_on(const ls_task *t, uint64_t addr);
/* The span holding addr, or NULL. */
const ls_span *snaptest_span(const ls_runtime *rt, uint64_t addr);

#endif

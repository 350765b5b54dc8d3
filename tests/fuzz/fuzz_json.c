/*
 * fuzz_json.c — libFuzzer harness over reading a saved `leakscan --json`
 * result (analyzer/json_load.c) and every view over it: the text and JSON
 * reports, top, traces, list. Each input is written to a memfd and read by
 * name, as `leakscan top result.json` reads it. A refused input must give
 * one line that starts with the file's name; anything else aborts.
 */
#define _GNU_SOURCE
#include "leakscan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    devnull = fopen("/dev/null", "w");
    if (!devnull)
        abort();
    return 0;
}

static void check_error(const char *path, const ls_error *err)
{
    if (!err->message[0] || strchr(err->message, '\n') ||
        strncmp(err->message, path, strlen(path)) != 0) {
        fprintf(stderr, "fuzz_json: error message breaks the one-line contract: \"%s\"\n", err->message);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-json", MFD_CLOEXEC);
    if (fd < 0)
        abort();
    for (size_t done = 0; done < size;) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0)
            abort();
        done += (size_t)n;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

    ls_error err = { { 0 } };
    ls_saved *saved = NULL;
    ls_snapshot *s = NULL;
    ls_analysis *a = NULL;
    ls_unwinder *u = NULL;
    if (ls_saved_load(path, &saved, &s, &a, &u, &err) != 0) {
        check_error(path, &err);
    } else {
        ls_report r = { 0 };
        r.main_task = SIZE_MAX;
        if (ls_group_leaks(s, a, u, true, &r, &err) == 0) {
            ls_report_text(devnull, s, a, &r);
            ls_report_json(devnull, s, a, &r);
        } else {
            check_error(path, &err);
        }
        ls_report_free(&r);
        ls_top_options top = { 0 };
        if (ls_report_top(devnull, s, a, u, &top, &err) != 0)
            check_error(path, &err);
        ls_report_traces(devnull, s, a, u, true);
        if (ls_report_list(devnull, s, a, u, ".", "/nonexistent", &err) != 0)
            check_error(path, &err);
    }
    ls_saved_free(saved);
    close(fd);
    return 0;
}

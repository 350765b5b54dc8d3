/*
 * fuzz_load.c — libFuzzer harness over everything `leakscan FILE` does to
 * a file it is given: the ELF container and its notes (formats/reader.c),
 * the LEAKSCAN note, the debug root, the task and span tables and the
 * address index (analyzer/load.c), the mark and the fixpoint (mark.c),
 * unwinding and symbols (unwind.c, group.c, crash.c) and the text and JSON
 * views; for one input in four, `leakscan why` instead (why.c). A saved
 * JSON result takes its own path (json_load.c) when the input starts with
 * '{', as it does in the tool.
 *
 * The loader opens files by name (it maps them, and libdw reopens them),
 * so each input is written to a memfd and opened as /proc/self/fd/N: the
 * same calls as the tool, no temporary files. Besides the sanitizers'
 * findings, the harness checks the tool's error contract: a refused input
 * gives one line that starts with the file's name; anything else aborts.
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

/* The error contract of main.c: "leakscan: " + this message + "\n". */
static void check_error(const char *path, const ls_error *err)
{
    if (!err->message[0] || strchr(err->message, '\n') ||
        strncmp(err->message, path, strlen(path)) != 0) {
        fprintf(stderr, "fuzz_load: error message breaks the one-line contract: \"%s\"\n", err->message);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-input", MFD_CLOEXEC);
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

    ls_options opt = { .quiet = true };
    ls_error err = { { 0 } };
    ls_input in;
    /* One input in four takes `leakscan why`'s path instead: the mark
     * breadth first with parents, and the explanation of the first task.
     * (Chosen by the input's size, so a saved input replays the same way.) */
    bool explain = size % 4 == 0;
    if (ls_input_open(path, &opt, explain, &in, &err) != 0) {
        check_error(path, &err);
    } else if (explain) {
        if (!in.saved && in.s->rt->ntasks &&
            ls_why(devnull, in.s, in.a, in.u, in.s->rt->tasks[0].id, &err) != 0)
            check_error(path, &err);
    } else {
        ls_report r = { 0 };
        r.main_task = SIZE_MAX;
        if (ls_group_leaks(in.s, in.a, in.u, true, &r, &err) != 0) {
            check_error(path, &err);
        } else {
            if (ls_find_crash(in.s, in.u, &r.crash) == 0) {
                ls_report_text(devnull, in.s, in.a, &r);
                ls_report_json(devnull, in.s, in.a, &r);
            }
        }
        ls_report_free(&r);
    }
    if (in.s)
        ls_input_close(&in);
    close(fd);
    return 0;
}

/*
 * fuzz_input.h — what both harnesses do around an input: a /dev/null for
 * the views' output, the input written to a memfd so the tool's own calls
 * open it by name (/proc/self/fd/N), and the tool's error contract (one
 * line that starts with the file's name) checked, aborting otherwise.
 */
#ifndef FUZZ_INPUT_H
#define FUZZ_INPUT_H

#include "leakscan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    devnull = fopen("/dev/null", "w");
    if (!devnull)
        abort();
    return 0;
}

/* The error contract of main.c: "leakscan: " + this message + "\n". */
static void check_error(const char *harness, const char *path, const ls_error *err)
{
    if (!err->message[0] || strchr(err->message, '\n') ||
        strncmp(err->message, path, strlen(path)) != 0) {
        fprintf(stderr, "%s: error message breaks the one-line contract: \"%s\"\n", harness, err->message);
        abort();
    }
}

/* The input in a memfd, its name in path; returns the fd (close it). */
static int input_file(const uint8_t *data, size_t size, char *path, size_t path_size)
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
    snprintf(path, path_size, "/proc/self/fd/%d", fd);
    return fd;
}

#endif

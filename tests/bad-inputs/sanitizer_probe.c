/*
 * sanitizer_probe.c — one deliberate error per sanitizer, for the check
 * that the test suite's environment (the default test setup in the top
 * meson.build) gives sanitizer reports exit codes of their own: 98 for
 * UBSan, 99 for ASan and LeakSanitizer, never the 1 that means "leaks
 * found". Built in the sanitize build only.
 *
 * usage: sanitizer_probe ubsan|asan|lsan
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *volatile kept;          /* volatile: the malloc is not elided */

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    /* volatile: the compiler must not see the errors coming and fold them. */
    volatile int big = INT_MAX, one = argc - 1;
    if (strcmp(argv[1], "ubsan") == 0) {
        printf("%d\n", big + one);                 /* signed overflow */
    } else if (strcmp(argv[1], "asan") == 0) {
        /* Laundered through a volatile pointer, UBSan cannot size the
         * block, so ASan is the one to see; a store to volatile is kept. */
        char *volatile block = malloc(8);
        volatile char *p = block;
        volatile size_t past = 8 + (size_t)one;
        p[past] = 1;                               /* a heap overflow */
        free(block);
    } else if (strcmp(argv[1], "lsan") == 0) {
        kept = malloc(64);
        kept = NULL;                               /* lost: a leak at exit */
    } else {
        return 2;
    }
    return 0;
}

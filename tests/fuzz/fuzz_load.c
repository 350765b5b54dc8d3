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
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = input_file(data, size, path, sizeof path);

    ls_options opt = { .quiet = true };
    ls_error err = { { 0 } };
    ls_input in;
    /* One input in four takes `leakscan why`'s path instead: the mark
     * breadth first with parents, and the explanation of the first task.
     * (Chosen by the input's size, so a saved input replays the same way.) */
    bool explain = size % 4 == 0;
    if (ls_input_open(path, &opt, explain, &in, &err) != 0) {
        check_error("fuzz_load", path, &err);
    } else if (explain) {
        if (!in.saved && in.s->rt->ntasks &&
            ls_why(devnull, in.s, in.a, in.u, in.s->rt->tasks[0].id, &err) != 0)
            check_error("fuzz_load", path, &err);
    } else {
        ls_report r = { 0 };
        r.main_task = SIZE_MAX;
        if (ls_group_leaks(in.s, in.a, in.u, true, &r, &err) != 0) {
            check_error("fuzz_load", path, &err);
        } else {
            if (ls_find_crash(in.s, in.u, &r.crash) == 0) {
                ls_report_text(devnull, in.s, in.a, &r);
                ls_report_json(devnull, in.s, in.a, in.u, &r);
            }
        }
        ls_report_free(&r);
    }
    if (in.s)
        ls_input_close(&in);
    close(fd);
    return 0;
}

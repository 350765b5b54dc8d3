/*
 * fuzz_json.c — libFuzzer harness over reading a saved `leakscan --json`
 * result (analyzer/json_load.c) and every view over it: the text and JSON
 * reports, top, traces, list. Each input is written to a memfd and read by
 * name, as `leakscan top result.json` reads it. A refused input must give
 * one line that starts with the file's name; anything else aborts.
 */
#define _GNU_SOURCE
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = input_file(data, size, path, sizeof path);

    ls_error err = { { 0 } };
    ls_saved *saved = NULL;
    ls_snapshot *s = NULL;
    ls_analysis *a = NULL;
    ls_unwinder *u = NULL;
    if (ls_saved_load(path, &saved, &s, &a, &u, &err) != 0) {
        check_error("fuzz_json", path, &err);
    } else {
        ls_report r = { 0 };
        r.main_task = SIZE_MAX;
        if (ls_group_leaks(s, a, u, true, &r, &err) == 0 && ls_retained(s, a, &r, &err) == 0) {
            ls_report_text(devnull, s, a, &r);
            ls_report_json(devnull, s, a, u, &r);   /* schema 2's tables from a result */
        } else {
            check_error("fuzz_json", path, &err);
        }
        ls_report_free(&r);
        ls_top_options top = { 0 };
        if (ls_report_top(devnull, s, a, u, &top, &err) != 0)
            check_error("fuzz_json", path, &err);
        ls_report_traces(devnull, s, a, u, true);
        if (ls_report_list(devnull, s, a, u, ".", true, "/nonexistent", &err) != 0)
            check_error("fuzz_json", path, &err);
    }
    ls_saved_free(saved);
    close(fd);
    return 0;
}

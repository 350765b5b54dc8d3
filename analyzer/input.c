/*
 * input.c — what a view reads, from a snapshot or core (analysed and
 * unwound here) or from a saved JSON result (json_load.c).
 */
#include "leakscan.h"

#include <string.h>

/* What `leakscan run` knows of the file, for the views' header. */
static void mark_run(ls_snapshot *s, const ls_options *opt)
{
    if (opt) {
        s->run_program = opt->run_program;
        s->run_temporary = opt->run_temporary;
    }
}

int ls_input_open(const char *path, const ls_options *opt, bool explain, ls_input *in, ls_error *err)
{
    memset(in, 0, sizeof *in);
    if (ls_is_json(path)) {
        if (explain)
            return ls_error_set(err, path, "a JSON result keeps no heap to explain: give the snapshot");
        if (ls_saved_load(path, &in->saved, &in->s, &in->a, &in->u, err) != 0)
            return -1;
        mark_run(in->s, opt);
        if (ls_apply_suppressions(in->s, in->a, in->u, opt ? opt->suppressions : NULL) != 0)
            return ls_error_set(err, path, "out of memory");
        return 0;
    }
    ls_timing_start(path);
    if (ls_snapshot_open(path, opt, &in->s, err) != 0)
        return -1;
    mark_run(in->s, opt);
    ls_timing("load");
    if (ls_analyze_explained(in->s, explain, &in->a, err) != 0)
        return -1;
    ls_timing("mark");
    if (ls_unwinder_create(in->s, opt, &in->u, err) != 0)
        return -1;
    if (ls_apply_suppressions(in->s, in->a, in->u, opt ? opt->suppressions : NULL) != 0)
        return ls_error_set(err, path, "out of memory");
    ls_timing("unwind");                    /* with ls_group_leaks' */
    return 0;
}

void ls_input_close(ls_input *in)
{
    if (in->saved) {
        ls_saved_free(in->saved);           /* owns s, a and u */
    } else {
        ls_unwinder_destroy(in->u);
        ls_analysis_free(in->a);
        ls_snapshot_close(in->s);
    }
    memset(in, 0, sizeof *in);
}

/*
 * facts.h — a task's own facts as a result carries them: its id, wait,
 * labels, file, creators and what it holds, with tables (label sets,
 * creation sites, files) named by index. The JSON result spells them out
 * per task ("task_info", report_json.c); a fleet's workers pass them to
 * the parent as these arrays instead (fleet.c), which is exact and costs
 * no printing and parsing of a number per field; json_load.c builds the
 * views' tasks from either. Internal to the analyzer: not a file format.
 */
#ifndef LS_FACTS_H
#define LS_FACTS_H

#include "leakscan.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define LS_FACT_NONE UINT64_MAX      /* an index that names nothing */

typedef struct ls_fact_ancestor {
    uint64_t parent;                 /* its creator's id */
    uint64_t created_by;             /* site index; LS_FACT_NONE: unknown */
} ls_fact_ancestor;

typedef struct ls_fact {
    uint64_t id;
    uint64_t parent;                 /* 0: none */
    uint64_t retained_bytes, retained_objects;
    int64_t  wait_ns;                /* -1: not known */
    uint64_t labels;                 /* label set index; LS_FACT_NONE: none */
    uint64_t created_by;             /* site index; LS_FACT_NONE: unknown */
    uint64_t file;                   /* into the result's "files" (0 for one file) */
    uint32_t nancestry;              /* its ancestors: the next nancestry of the list's */
    uint32_t unused;
} ls_fact;

/* The tasks of a result, group after group in the groups' order (each
 * group its "count" of them), and their ancestors, task after task. */
typedef struct ls_facts {
    ls_fact          *tasks;
    size_t            ntasks;
    ls_fact_ancestor *ancestors;
    size_t            nancestors;
} ls_facts;

/* report_json.c: the result as a JSON document; with facts, the groups
 * carry no "tasks" or "task_info" and the tasks' facts go to *facts
 * (group after group). NULL: out of memory. */
struct cJSON *ls_result_json(const ls_snapshot *s, const ls_analysis *a, ls_unwinder *u,
                             const ls_report *r, ls_facts *facts);

/* json_load.c: the views' input from a parsed result (takes doc); with
 * facts (taken over too), the tasks are those, not the groups' "tasks". */
int ls_saved_load_doc(const char *path, struct cJSON *doc, ls_facts *facts, ls_saved **out,
                      ls_snapshot **s, ls_analysis **a, ls_unwinder **u, ls_error *err);

static inline void ls_facts_free(ls_facts *f)
{
    free(f->tasks);
    free(f->ancestors);
    *f = (ls_facts){ 0 };
}

#endif

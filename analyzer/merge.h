/*
 * merge.h — several results merged into one (merge.c), for fleet.c.
 */
#ifndef LS_MERGE_H
#define LS_MERGE_H

#include "leakscan.h"
#include "facts.h"

#include <cjson/cJSON.h>

typedef struct ls_merge ls_merge;

ls_merge *ls_merge_new(void);                /* NULL: out of memory */
/* The result of path (schema 2, grouped by stack, nothing suppressed; its
 * groups without tasks, whose facts are given: ls_result_json), emptied
 * into the merged one: doc stays the caller's to delete, facts are taken
 * over. A warning when it is of another program than the first (unless
 * quiet). 0 or -1. */
int   ls_merge_add(ls_merge *m, const char *path, cJSON *doc, ls_facts *facts, bool quiet, ls_error *err);
/* The merged result (schema 3, its groups without tasks) and its tasks'
 * facts, handed over: m keeps nothing of them. NULL: out of memory. */
cJSON *ls_merge_finish(ls_merge *m, ls_facts *facts);
void  ls_merge_free(ls_merge *m);

#endif

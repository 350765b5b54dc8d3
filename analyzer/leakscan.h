/*
 * leakscan.h — the analyzer's private header: the loaded snapshot, the
 * analysis result, and the calls between its parts.
 *
 *   load.c    open the file, find the runtime, index memory   -> ls_snapshot
 *   mark.c    roots, mark, eventual-runnable fixpoint        -> ls_analysis
 *   unwind.c  stacks of tasks with libdw, symbols per PC      -> ls_stack
 *   symbolize.c  one PC's frames, inlined functions expanded  -> ls_frame
 *   group.c   leaked tasks grouped by stack, ordered by count -> ls_group
 *   dwarf_names.c  what DWARF calls an address, for why.c      -> ls_place
 *                  (its own header, dwarf_names.h: it needs libdw's types)
 *   report_text.c, report_json.c                               the views
 *   run.c     `leakscan run -- PROG`
 *   main.c    the command line
 */
#ifndef LEAKSCAN_H
#define LEAKSCAN_H

#include "reader.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---------------------------------------------------------------------- */
/* load.c                                                                  */
/* ---------------------------------------------------------------------- */

/* One of the files of a merged result (fleet.c): what its header said. */
typedef struct ls_file_info {
    const char *path;
    uint64_t    pid;
    int64_t     time_unix_ns;   /* 0: not known */
    size_t      tasks, leaked;
} ls_file_info;

typedef struct ls_snapshot {
    const char  *path;
    /* A merged result: its files, which each task's file indexes; else 0. */
    const ls_file_info *files;
    size_t       nfiles;
    ls_core     *core;
    ls_runtime  *rt;
    const char  *exe_path;      /* from the note, or --exe */
    const char  *build_id;      /* a saved result's program's, as hex; else NULL */
    int64_t      time_monotonic_ns;  /* "now" for wait durations; 0: unknown */
    bool         clock_from_parks;   /* a core: "now" is the latest park it holds */
    /* Heap index: arena page -> span + 1 (0: none); NULL when the arena
     * in use is large beside the file (load.c): then ls_span_index
     * searches the spans. */
    uint32_t    *page_spans;
    size_t       npages;
    /* Object numbering: span i's objects are first_object[i] ...; task
     * stacks follow all heap objects. */
    uint64_t    *first_object;
    uint64_t     nheap_objects;
    /* Tasks sorted by stack_lo, for address -> task stack. */
    uint32_t    *tasks_by_stack;
    bool         from_json;     /* a saved result (json_load.c): no memory */
    /* Per task: its stack is missing from the file (gdb's gcore writes
     * zeros where it cannot read); NULL: none is. */
    bool        *stack_missing;
    /* Live task stacks that overlap (a corrupt file, load.c): per task, its
     * cluster + 1 (0: its stack is its own); each cluster is the union of
     * its tasks' live stacks, scanned once for all of them. NULL: none. */
    uint32_t    *stack_cluster;
    ls_range    *clusters;
    size_t       nclusters;
    /* Threads (core->threads) by tid, and the workers' tids, sorted
     * (ls_thread_of, ls_is_worker_tid). */
    uint32_t    *threads_by_tid;
    uint32_t    *worker_tids;
    size_t       nworker_tids;
    /* `leakscan run` (run.c, through ls_options): the program whose at-exit
     * snapshot this is, and whether the file is run's private temporary
     * one, deleted after the report, so the views must not name it. */
    const char  *run_program;   /* NULL: not under run */
    bool         run_temporary;
} ls_snapshot;

/* `leakscan top`: functions by leaked tasks, pprof's columns. */
typedef struct ls_top_options {
    bool        cum;            /* sort by cum instead of flat */
    size_t      nodecount;      /* rows to show; 0: all */
    const char *focus;          /* keep tasks with a frame matching */
    const char *ignore;         /* drop tasks with a frame matching */
    bool        bytes;          /* weigh tasks by the bytes they hold (retained.c) */
    bool        all;            /* every task (but a blocked main), not only the leaked */
} ls_top_options;
/* suppress.c: rules that hide known leaks (not silently: counted). */
typedef struct ls_suppressions ls_suppressions;
ls_suppressions *ls_suppressions_new(void);
/* kind: "ignore-top", "ignore-any" or "ignore-creator". 0 or -1 with err. */
int  ls_suppressions_add(ls_suppressions *set, const char *kind, const char *pattern, ls_error *err);
/* Reads a suppression file. 0 or -1 with err (naming file:line). */
int  ls_suppressions_load(ls_suppressions *set, const char *path, ls_error *err);
void ls_suppressions_free(ls_suppressions *set);

typedef struct ls_options {
    const char *exe;            /* --exe */
    bool        all;            /* --all: include tasks that are not leaked */
    bool        json;
    bool        quiet;
    const char *pprof;          /* --pprof OUT */
    const char *source_path;    /* --source-path DIR: where list finds sources */
    ls_top_options top;         /* leakscan top */
    bool        attach_core;    /* attach --core: ptrace, not the snapshot signal */
    const char *attach_output;  /* -o PATH: attach --core keeps the core, run the snapshot there */
    const char *run_program;    /* run: the program (set by run.c, copied to ls_snapshot) */
    bool        run_temporary;  /* run: the snapshot is deleted after the report */
    int         attach_timeout_s; /* attach: how long to wait for the snapshot */
    const char *debug_dir;      /* --debug-dir: separate debug information */
    bool        interactive;    /* -i */
    bool        runtime_frames; /* --runtime-frames: show libleakrt's API frames */
    ls_suppressions *suppressions; /* --ignore-*, --suppressions; NULL: none */
    int         jobs;           /* -j N: files analysed at once (0: one per CPU) */
    char *const *option_args;   /* the command line's options, which a fleet's workers get too */
    int         noption_args;
    const char *worker_file;    /* (internal) this process is a fleet's worker for it */
    int         worker_fd;      /* where it passes its result on */
} ls_options;

int  ls_snapshot_open(const char *path, const ls_options *opt, ls_snapshot **out, ls_error *err);
/* The same from fd, open on path: the snapshot owns it (ls_core_open_fd). */
int  ls_snapshot_open_fd(const char *path, int fd, const ls_options *opt, ls_snapshot **out, ls_error *err);
void ls_snapshot_close(ls_snapshot *s);

/* The object holding addr: heap object id, task stack id, or LS_NO_OBJECT.
 * *kind says which. */
#define LS_NO_OBJECT UINT64_MAX
enum { LS_OBJ_NONE = 0, LS_OBJ_HEAP, LS_OBJ_STACK };
uint64_t ls_object_of(const ls_snapshot *s, uint64_t addr, int *kind);
/* The thread of tid (the first in the file, if several), or NULL. */
const ls_thread *ls_thread_of(const ls_snapshot *s, int32_t tid);
/* Whether one of the runtime's workers has this tid. */
bool ls_is_worker_tid(const ls_snapshot *s, uint32_t tid);
/* The live part of task t's stack, [lo, hi): from its stack pointer (a
 * running task's is its thread's, and its red zone is live) to the top. */
void ls_task_stack_range(const ls_snapshot *s, const ls_task *t, uint64_t *lo, uint64_t *hi);
/* The span holding addr, + 1 (an index into rt->spans); 0: none. */
size_t ls_span_index(const ls_snapshot *s, uint64_t addr);
/* The heap slot holding addr, in use or not: its span, object number and
 * index in the span; NULL outside every span. */
const ls_span *ls_heap_slot(const ls_snapshot *s, uint64_t addr, uint64_t *id, uint32_t *index);

/* ---------------------------------------------------------------------- */
/* mark.c                                                                  */
/* ---------------------------------------------------------------------- */

enum ls_verdict {
    LS_LIVE = 0,        /* not blocked on something that could leak */
    LS_WOKEN,           /* a candidate that something reachable can wake */
    LS_LEAKED,          /* a candidate nothing can ever wake */
    LS_MAIN_BLOCKED,    /* the main task, parked forever: reported apart */
    LS_SUPPRESSED,      /* leaked, but a suppression rule hides it (suppress.c) */
    LS_UNKNOWN,         /* never woken, but memory the file lacks could wake it */
};

/* Why an object is marked (ls_analysis.parent, when explaining): what
 * reached it, packed as kind << 60 | value. */
enum {
    LS_FROM_NONE = 0,
    LS_FROM_OBJECT,     /* value: the object whose scan found it */
    LS_FROM_MEMORY,     /* value: address of the root word holding it */
    LS_FROM_THREAD,     /* value: tid of the thread whose register held it */
    LS_FROM_TASK,       /* value: index of the root task (its stack, registers) */
    LS_FROM_WAKE,       /* a woken task's stack; value: the object that woke it */
    LS_FROM_TIMER,      /* a pending context timer's target */
    LS_FROM_PIN,        /* pinned by the program (lrt_pin) */
};
#define LS_PARENT(kind, value) (((uint64_t)(kind) << 60) | ((uint64_t)(value) & ((UINT64_C(1) << 60) - 1)))
#define LS_PARENT_KIND(p)      ((int)((p) >> 60))
#define LS_PARENT_VALUE(p)     ((p) & ((UINT64_C(1) << 60) - 1))

typedef struct ls_analysis {
    uint8_t  *verdict;          /* per task (index into rt->tasks) */
    uint64_t *parent;           /* per object, when explaining; else NULL */
    uint64_t *marked;           /* bit per object */
    uint64_t  nobjects;
    size_t    ntasks;
    size_t    leaked;
    size_t    candidates;
    size_t    suppressed;       /* leaked tasks hidden by suppressions */
    size_t    unknown;          /* LS_UNKNOWN: not counted as leaked */
    const char *missing;        /* what memory the file lacks that the mark
                                   needed (why tasks are unknown); NULL: none */
    bool      main_blocked;
    uint64_t  marked_objects;
    uint64_t  scanned_bytes;
    /* A saved result's word for what each task holds (it keeps no heap
     * to walk); NULL for a snapshot, which ls_retained walks. */
    const uint64_t *saved_bytes, *saved_objects;
} ls_analysis;

/* "leaked", "unknown", "woken", "live", "main", "suppressed": the JSON
 * name of a verdict. */
const char *ls_verdict_name(uint8_t verdict);

int  ls_analyze(const ls_snapshot *s, ls_analysis **out, ls_error *err);
/* The same, breadth first, recording what reached each object. */
int  ls_analyze_explained(const ls_snapshot *s, bool parents, ls_analysis **out, ls_error *err);
void ls_analysis_free(ls_analysis *a);

struct ls_unwinder;
/* Marks the leaked tasks a rule matches LS_SUPPRESSED (and counts them);
 * warn: one line on stderr for each rule that matches no leaked task.
 * 0, or -1 when out of memory. */
int  ls_apply_suppressions(const ls_snapshot *s, ls_analysis *a, struct ls_unwinder *u,
                           const ls_suppressions *set, bool warn);

/* ---------------------------------------------------------------------- */
/* unwind.c                                                                */
/* ---------------------------------------------------------------------- */

/* One frame of a stack. Code the compiler inlined is expanded as Go,
 * gdb and pprof do: one PC stands for several frames, innermost first,
 * all with that PC; each but the last is `inlined` into the next. */
typedef struct ls_frame {
    uint64_t    pc;
    const char *function;       /* NULL: unknown; inlined: the DWARF name */
    uint64_t    offset;         /* pc - start of the real (ELF symbol's)
                                 * function, the same for the frames inlined
                                 * at pc, as Go's profiles give it */
    const char *file;           /* NULL: unknown; as the line table has it */
    const char *dir;            /* its compilation directory, if file is relative */
    int         line;           /* an outer frame: where it called the inlined one */
    const char *module;
    bool        inlined;        /* inlined into the next frame (same pc) */
} ls_frame;

typedef struct ls_stack {
    ls_frame *frames;
    size_t    nframes;
} ls_stack;

typedef struct ls_unwinder ls_unwinder;

int  ls_unwinder_create(const ls_snapshot *s, const ls_options *opt, ls_unwinder **out, ls_error *err);
void ls_unwinder_destroy(ls_unwinder *u);
/* Unwinds task i (index into rt->tasks). The stack is owned by u. */
int  ls_unwind_task(ls_unwinder *u, size_t task, ls_stack *out);
/* An unwinder over a saved result: task i's stack is stacks[group[i]],
 * ls_symbolize(u, i) is creators[group[i]], and ls_symbolize(u, ntasks
 * + k) is sites[k] (schema 2's creation sites). Nothing is owned. */
ls_unwinder *ls_unwinder_preset(const ls_snapshot *s, const ls_stack *stacks, const ls_frame *creators,
                                const uint32_t *group, const ls_frame *sites, size_t nsites);
/* A frame of a task's stack as libdw unwinds it, nothing trimmed, no
 * inlined frames expanded: where it is, for naming what its stack holds
 * (dwarf_names.c). Its stack is [the CFA of the frame inside it, cfa). */
#define LS_RAW_REGS 32
struct Dwfl;
typedef struct ls_raw_frame {
    uint64_t pc;
    bool     activation;        /* pc is not a return address */
    bool     has_cfa;           /* the CFI gives cfa here */
    uint64_t cfa;               /* canonical frame address */
    uint64_t known;             /* bit r: regs[r] is known */
    uint64_t regs[LS_RAW_REGS]; /* by DWARF register number */
} ls_raw_frame;
/* Task i's frames, innermost first, up to max; how many (0 for a saved
 * result, or when libdw cannot unwind it). */
size_t ls_unwind_task_raw(ls_unwinder *u, size_t task, ls_raw_frame *out, size_t max);
/* The unwinder's libdw session; NULL for a saved result. */
struct Dwfl *ls_unwinder_dwfl(ls_unwinder *u);
/* --debug-dir DIR: also look for separate debug information there. */
void ls_set_debug_dir(const char *dir);
/* The address of symbol `name` in ELF file `file` loaded with `bias`,
 * from its own symbol table or its separate debug file. 0 or -1. */
int  ls_find_symbol(const char *file, uint64_t bias, const char *name, uint64_t *addr);
/* Symbolises one PC (e.g. a creation site): its innermost frame, the
 * function inlined deepest there, as Go names a goroutine's creator. */
void ls_symbolize(ls_unwinder *u, uint64_t pc, ls_frame *out);
/* Every frame at one PC, innermost first (the real function last), up
 * to max (>= 1); how many. For a saved result: the one creator frame. */
size_t ls_symbolize_all(ls_unwinder *u, uint64_t pc, ls_frame *out, size_t max);
/* symbolize.c: the frames at one PC of dwfl's modules, innermost first:
 * the functions inlined there (DWARF's inline scopes), then the real one.
 * Fills 1 to max (>= 1) frames; how many. activation: pc is not a return
 * address. */
struct Dwfl;
size_t ls_pc_frames(struct Dwfl *dwfl, uint64_t pc, bool activation, ls_frame *out, size_t max);
/* The source lines of the function frame f stands for (an inlined one's
 * own), in f's file: from its declaration to the last line its code has.
 * false when DWARF does not say. */
bool ls_pc_function_lines(struct Dwfl *dwfl, const ls_frame *f, bool activation, int *first, int *last);
/* The same through the unwinder; false for a saved result. */
bool ls_function_lines(ls_unwinder *u, const ls_frame *f, bool activation, int *first, int *last);
/* The path a report shows for f's file: absolute where DWARF's
 * compilation directory makes it so (../samples/demo.c, compiled in
 * /src/build, is /src/samples/demo.c: "." and ".." folded as written, not
 * resolved on this machine), else as the line table has it. buf holds it
 * when built; NULL when f has no file. */
const char *ls_frame_path(const ls_frame *f, char *buf, size_t size);
/* name, or "?" when it holds a control byte (symbols of the program's own
 * files, which cannot be sanitised in place; reader.h's ls_text_sanitize). */
const char *ls_printable_name(const char *name);
/* The task's top user frame: the innermost frame (an inlined function's,
 * if code was inlined there) of the first PC whose real function is not
 * libleakrt's API; 0 when all are (or none: check nframes). */
size_t ls_top_user_frame(const ls_stack *st);
/* The address of global symbol `name` in any module of the program, as
 * loaded in the snapshot. 0 or -1. */
int  ls_lookup_symbol(ls_unwinder *u, const char *name, uint64_t *addr);
/* The symbol (a global variable) holding data address addr; no line. */
void ls_symbolize_data(ls_unwinder *u, uint64_t addr, ls_frame *out);

/* ---------------------------------------------------------------------- */
/* group.c                                                                 */
/* ---------------------------------------------------------------------- */

typedef struct ls_group {
    size_t    count;
    uint32_t  wait_reason;          /* the tasks' (ls_group_reason names it) */
    int64_t   wait_min_ns, wait_max_ns;   /* -1: unknown */
    size_t   *tasks;                       /* indexes into rt->tasks */
    ls_stack  stack;                       /* of the first task */
    ls_frame  created_by;                  /* where the first task was spawned */
    char     *key;                         /* --group-by other than stack: "route=/a" */
    /* retained.c: heap only these tasks reach (first group to reach an
     * object holds it), and objects they reach that an earlier group holds. */
    uint64_t  retained_objects, retained_bytes;
    uint64_t  shared_objects, shared_bytes;
} ls_group;

/* crash.c: the signal a core dump was taken for, and where. */
typedef struct ls_crash {
    bool      crashed;                     /* a core of a program killed by a signal */
    int       signal;
    bool      has_address;                 /* a fault: fault_address is known */
    uint64_t  fault_address;
    int32_t   tid;                         /* the thread that took it */
    size_t    task;                        /* the task it ran (index), or SIZE_MAX */
    ls_stack  stack;                       /* that task's stack, or the thread's PC */
    ls_frame  created_by;                  /* where that task was spawned */
} ls_crash;

typedef struct ls_report {
    ls_group *groups;
    size_t    ngroups;
    size_t    main_task;                   /* index, or SIZE_MAX */
    ls_stack  main_stack;
    ls_crash  crash;                       /* filled by ls_find_crash */
    uint64_t  retained_objects, retained_bytes;   /* over all groups (ls_retained) */
    uint64_t *task_retained;               /* per task: bytes it holds first; or NULL */
    uint64_t *task_retained_objects;       /* per task: objects it holds first; or NULL */
    size_t    leaked_groups;               /* groups of leaked tasks (all groups without --all) */
    bool      all;                         /* groups of every task (--all) */
} ls_report;

int  ls_group_leaks(const ls_snapshot *s, const ls_analysis *a, ls_unwinder *u,
                    bool all, ls_report *out, ls_error *err);
/* A group's wait_reason: the runtime's reason of a waiting task, or one
 * of these for tasks that do not wait, or wait on several reasons (a
 * --group-by label: group). */
#define LS_REASON_SEVERAL  (UINT32_MAX - 16)
/* Its name: the runtime's, "running", "runnable" or "several waits". */
const char *ls_group_reason(const ls_snapshot *s, uint32_t reason);
/* How long waiting task t has waited, in ns: the snapshot's monotonic time
 * less the task's wait_since, saturating at INT64_MAX (both come from the
 * file). -1: unknown (a clock is 0, or the difference is negative). Every
 * wait duration is computed here. */
int64_t ls_wait_ns(const ls_snapshot *s, const ls_task *t);
/* The memory the groups pin: fills their retained and shared figures,
 * the totals and task_retained. Nothing for a saved JSON result. */
int  ls_retained(const ls_snapshot *s, const ls_analysis *a, ls_report *r, ls_error *err);
/* --group-by stack|top|creator|label:KEY, for every later ls_group_leaks.
 * 0 or -1 with err. */
int  ls_set_group_by(const char *spec, ls_error *err);
/* Fills out (zeroed when the file is not a core of a crash). 0 or -1. */
int  ls_find_crash(const ls_snapshot *s, ls_unwinder *u, ls_crash *out);
const char *ls_signal_name(int sig);
void ls_report_free(ls_report *r);

/* ---------------------------------------------------------------------- */
/* Views                                                                   */
/* ---------------------------------------------------------------------- */

void ls_report_text(FILE *out, const ls_snapshot *s, const ls_analysis *a, const ls_report *r);
int  ls_report_json(FILE *out, const ls_snapshot *s, const ls_analysis *a, ls_unwinder *u, const ls_report *r);

/* `leakscan traces`: every leaked task (all: every task), Go debug=2. */
int  ls_report_traces(FILE *out, const ls_snapshot *s, const ls_analysis *a, ls_unwinder *u, bool all);
/* One task in that shape: header line, labels, what it holds (held: per
 * task bytes from ls_retained, or NULL), frames, creators. 0 or -1. */
int  ls_print_task(FILE *out, const ls_snapshot *s, const ls_analysis *a, ls_unwinder *u, size_t i,
                   const uint64_t *held);

/* For a task waiting on a mutex whose holder the runtime records:
 * "held by task 32 (exited) since jobsvc.c:77 (in f)" into buf, true; or
 * false (not such a wait, or not recorded, or unreadable). */
bool ls_mutex_holder(const ls_snapshot *s, const ls_analysis *a, ls_unwinder *u, const ls_task *t,
                     char *buf, size_t size);

/* `leakscan waiters ADDR|SYMBOL FILE`: every task blocked on that object
 * (or on the object a global pointer of that name points to). Sets
 * *leaked to how many of them are leaked. 0 or -1 with err. */
int  ls_waiters(FILE *out, const ls_snapshot *s, const ls_analysis *a, ls_unwinder *u,
                const char *what, size_t *leaked, ls_error *err);

int  ls_report_top(FILE *out, const ls_snapshot *s, const ls_analysis *a, ls_unwinder *u,
                   const ls_top_options *opt, ls_error *err);

/* The source text of f's line, if its file can be found. */
bool ls_source_line(const ls_frame *f, const char *source_path, char *buf, size_t size);

/* `leakscan html FILE`: a self-contained page with a flame graph. */
int  ls_report_html(FILE *out, const ls_snapshot *s, const ls_analysis *a, const ls_report *r,
                    const char *source_path);

/* `--pprof OUT`: the groups as a gzip'd profile.proto for `go tool pprof`. */
int  ls_report_pprof(const char *out_path, const ls_snapshot *s, const ls_report *r, ls_error *err);

/* `leakscan -i FILE...`: the interactive prompt (interactive.c) over one
 * file, or several merged (fleet.c: why and waiters then need one file). */
int  ls_interactive_main(char *const *paths, size_t npaths, const ls_options *opt);

/* `leakscan attach [--core] PID` (attach.c). */
int  ls_attach_main(int argc, char **argv, const ls_options *opt);
/* Writes a core of live process pid to path through ptrace (ptrace_core.c).
 * 0, or -1 with err. */
int  ls_ptrace_core(int pid, const char *path, ls_error *err);
/* `leakscan FILE` on one file: report, exit status (main.c). */
int  ls_analyse_file(const char *path, const ls_options *opt);

/* `leakscan diff BASE NEW`: groups that appeared, grew, shrank, vanished.
 * Exit 1 when any group appeared or grew. */
int  ls_diff_main(const char *base, const char *new_path, const ls_options *opt);

/* `leakscan list REGEX FILE`: source lines of matching functions with
 * the leaked tasks at each (flat: blocked there; cum: passing through). */
int  ls_report_list(FILE *out, const ls_snapshot *s, const ls_analysis *a, ls_unwinder *u,
                    const char *regex, bool all, const char *source_path, ls_error *err);

/* `leakscan why TASK FILE`: why task id is leaked, or what keeps it. The
 * analysis must have been made with parents (ls_analyze_explained). */
int  ls_why(FILE *out, const ls_snapshot *s, const ls_analysis *a, ls_unwinder *u, uint64_t id, ls_error *err);

/* "4 unknown (the file lacks memory that could wake them: WHAT)", or ""
 * when no task is unknown (report_text.c). */
void ls_unknown_note(const ls_analysis *a, char *buf, size_t size);

/* "s" unless n is 1: every count a report prints ("1 group", "2 groups"). */
static inline const char *ls_s(uint64_t n) { return n == 1 ? "" : "s"; }

/* "7 tasks, 2 leaked in 2 groups", and with --all (r holds every task's
 * group) "7 tasks in 5 groups, 2 leaked in 2 groups" (report_text.c). */
void ls_count_line(const ls_snapshot *s, const ls_analysis *a, const ls_report *r, char *buf, size_t size);

/* Human durations: "5 minutes", "12 seconds". */
void ls_format_duration(int64_t ns, char *buf, size_t size);
/* A time in ns since 1970 as RFC 3339 UTC ("2026-11-23T05:06:37Z"), or unknown. */
void ls_format_time(int64_t unix_ns, char *buf, size_t size, const char *unknown);

int  ls_run_main(int argc, char **argv, const ls_options *opt);

/* ---------------------------------------------------------------------- */
/* json_load.c: a saved `--json` result as input to the views              */
/* ---------------------------------------------------------------------- */

typedef struct ls_saved ls_saved;   /* owns what it builds */

/* Builds from a JSON result what the views read: a snapshot (header,
 * tasks), an analysis (verdicts) and an unwinder that replays the stacks. */
int  ls_saved_load(const char *path, ls_saved **out, ls_snapshot **s, ls_analysis **a,
                   ls_unwinder **u, ls_error *err);
/* The same from the text already read from path (input.c reads a FIFO or
 * pipe once, from one descriptor); takes text, freed here. */
int  ls_saved_load_text(const char *path, char *text, ls_saved **out, ls_snapshot **s, ls_analysis **a,
                        ls_unwinder **u, ls_error *err);
void ls_saved_free(ls_saved *saved);

/* input.c: a view's input, from a snapshot, a core or a JSON result. */
typedef struct ls_input {
    ls_saved    *saved;         /* set when it came from JSON */
    char        *owned_path;    /* several files merged: what s->path says */
    ls_snapshot *s;
    ls_analysis *a;
    ls_unwinder *u;
} ls_input;
/* explain: record what reached each object (for why): LS_EXPLAIN refuses
 * a JSON result, which keeps no heap; LS_EXPLAIN_IF_CORE (-i) loads one
 * without. The path is opened once: a FIFO or pipe holding a JSON result
 * is read from that one descriptor (a core must be a regular file). */
enum { LS_EXPLAIN_NO = 0, LS_EXPLAIN = 1, LS_EXPLAIN_IF_CORE = 2 };
int  ls_input_open(const char *path, const ls_options *opt, int explain, ls_input *in, ls_error *err);
void ls_input_close(ls_input *in);
/* fleet.c: the views' input from n files of one program, each analysed in
 * a worker process (at most opt->jobs at once; 0: one per CPU) and merged
 * by symbolised stack into one saved result (merge.c); one file is read
 * as ls_input_open reads it. A file that cannot be read is named on
 * stderr and counted in *failed; the others are the result. 0, or -1 with
 * err when none could be read. */
int  ls_input_open_many(char *const *paths, size_t n, const ls_options *opt, ls_input *in,
                        size_t *failed, ls_error *err);
/* The worker's side: path analysed, its result passed on to fd (the
 * parent started this program again, with --fleet-worker). Exit status. */
int  ls_fleet_worker(const char *path, const ls_options *opt, int fd);

/* hash.c: indexes into a caller's array, found by a keyed hash (the keys
 * come from files: a linear search per lookup was quadratic). find: the
 * index of the entry with this hash that same(ctx, index) says is the
 * one, or SIZE_MAX; add: index is found by hash from now on (0 or -1,
 * out of memory). Zero-initialised is empty. */
typedef struct ls_index_slot { uint64_t hash; size_t index; } ls_index_slot;   /* index + 1; 0: empty */
typedef struct ls_index {
    ls_index_slot *slots;
    size_t         cap, n;
} ls_index;
uint64_t ls_hash_bytes(const void *data, size_t n);
uint64_t ls_hash_string(const char *s);
size_t   ls_index_find(const ls_index *t, uint64_t hash, bool (*same)(const void *ctx, size_t index),
                       const void *ctx);
int      ls_index_add(ls_index *t, uint64_t hash, size_t index);
void     ls_index_free(ls_index *t);

/* timings.c: LEAKSCAN_TIMINGS=1 prints each phase's wall time and the peak
 * anonymous memory to stderr at exit (for scripts/bench). start: a new
 * run on path; ls_timing: the named phase ends now; sample: note the
 * memory in use (before freeing scratch). No-ops when unset. */
void ls_timing_start(const char *path);
void ls_timing(const char *phase);
void ls_timing_sample(void);

#endif

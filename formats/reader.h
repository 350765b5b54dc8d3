/*
 * reader.h — reading snapshots and cores: the decoding half of formats/.
 *
 * Opens an ELF core (a leakscan snapshot or a kernel/gdb core), indexes its
 * segments and notes, and decodes the runtime's tables through the debug
 * root. The file is hostile until proven otherwise: every read is bounds-
 * checked against the file and the segments, every count against what the
 * file can hold, and a failure is an error message naming the file and what
 * is wrong — never a crash, never a read out of bounds.
 *
 * Used by the analyzer (analyzer/) and the tests.
 */
#ifndef LS_READER_H
#define LS_READER_H

#include "leakscan_format.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One error type carries the message up (exit status 2 in the tool). */
typedef struct ls_error {
    char message[512];
} ls_error;

/* Formats the message, prefixed with the file name when file is given. */
int ls_error_set(ls_error *err, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Text from a file is hostile when printed: an ESC sequence retitles or
 * rewrites the terminal, a newline forges a report line. Every string the
 * readers take from a file into what the views print (wait reason names,
 * labels, the note's reason; json_load.c: every string of a saved result)
 * goes through ls_text_sanitize as it loads, so no view has to remember:
 * control bytes (below 0x20, and 0x7f) become '?'. In place; returns s. */
char *ls_text_sanitize(char *s);
/* The same into buf, for strings that must stay as they are (a path that
 * is opened) but are also printed. Returns buf; "" for NULL. */
const char *ls_text_safe(const char *s, char *buf, size_t size);

typedef struct ls_segment {
    uint64_t vaddr;
    uint64_t memsz;
    uint64_t filesz;             /* bytes present in the file; the rest reads as 0 */
    uint64_t missing;            /* bytes after filesz the file should hold but lacks
                                    (a core cut short): unknown, not zero */
    uint64_t offset;             /* in the file */
    uint32_t flags;              /* PF_R | PF_W | PF_X */
} ls_segment;

#define LS_MAX_REGISTERS 32      /* user_regs_struct: 27 on x86-64 */

typedef struct ls_thread {
    int32_t  tid;
    int32_t  signal;             /* pr_cursig: the signal that killed it, if any */
    uint64_t regs[LS_MAX_REGISTERS];  /* NT_PRSTATUS pr_reg, in its order */
    uint32_t nregs;
} ls_thread;

typedef struct ls_file_mapping {
    uint64_t start, end;
    uint64_t offset;             /* in bytes */
    const char *path;            /* points into the core's note data */
    int32_t  module;             /* index into core->modules, -1: none */
} ls_file_mapping;

#define LS_MAX_BUILD_ID LS_NOTE_BUILD_ID_MAX

/* Whether the file of this machine at a module's path is the object the
 * program ran (modules.c). Only MATCH is ever read. */
typedef enum ls_module_state {
    LS_MODULE_UNCHECKED = 0,     /* ls_core_check_modules not called */
    LS_MODULE_MATCH,             /* same build-id (or --exe, vouched for) */
    LS_MODULE_UNVERIFIED,        /* the core holds no build-id for it */
    LS_MODULE_MISMATCH,          /* another build */
    LS_MODULE_MISSING,           /* absent, or not a regular file */
    LS_MODULE_NOT_ELF,           /* not an ELF object of the core's machine */
} ls_module_state;

/* An ELF object the program had mapped: its offset-0 mapping and the
 * mappings of the same file above it. */
typedef struct ls_module {
    const char *path;            /* as the core names it */
    const char *file;            /* the file checked for it: path, or --exe */
    uint64_t    base;            /* where its file offset 0 was mapped */
    uint64_t    end;             /* end of its highest mapping */
    uint64_t    bias;            /* load bias (ET_DYN), from the checked file */
    uint8_t     build_id[LS_MAX_BUILD_ID];       /* what the program ran */
    uint32_t    build_id_size;                   /* 0: the core does not say */
    uint8_t     file_build_id[LS_MAX_BUILD_ID];  /* what the file has */
    uint32_t    file_build_id_size;
    ls_module_state state;
    bool        elf_in_core;     /* the core's copy of its first page is ELF */
    bool        is_exe;          /* the program's executable */
    bool        trusted;         /* --exe: used even with nothing to check */
    int         fd;              /* open while MATCH; else -1 */
} ls_module;

typedef struct ls_core {
    char            *path;
    int              fd;
    const uint8_t   *data;       /* the whole file, mapped read-only */
    size_t           size;
    uint16_t         machine;    /* e_machine */
    ls_segment      *segments;   /* PT_LOAD, sorted by vaddr */
    size_t           nsegments;
    ls_thread       *threads;    /* NT_PRSTATUS of owner CORE, in file order */
    size_t           nthreads;
    size_t           pseudo_threads;  /* NT_PRSTATUS of owner LEAKSCAN: parked
                                   * tasks for debuggers, counted, not read */
    ls_file_mapping *files;      /* NT_FILE */
    size_t           nfiles;
    ls_module       *modules;    /* the files mapped at offset 0 (modules.c) */
    size_t           nmodules;
    const uint8_t   *auxv;       /* NT_AUXV */
    size_t           auxv_size;
    /* The LEAKSCAN note, if any. */
    bool             has_note;
    ls_note_snapshot note;
    const uint8_t   *build_id;
    size_t           build_id_size;
    const char      *exe_path;
    const char      *reason;     /* sanitised (ls_text_sanitize): printed */
    char            *reason_copy;    /* owns it, when from the note */
    /* The modules note, if any: entries of `module_ids_stride` bytes, each
     * starting with an ls_note_module's base and build-id size. */
    const uint8_t   *module_ids;
    size_t           module_ids_count, module_ids_stride;
    /* NT_SIGINFO: the signal that made the kernel dump the core, which the
     * first thread (the one the kernel dumps first) took. */
    bool             has_siginfo;
    int32_t          signal, signal_code;
    uint64_t         fault_address;  /* si_addr, for SIGSEGV, SIGBUS, SIGILL, SIGFPE */
    /* A core cut short (RLIMIT_CORE, a full disk): segments whose data the
     * file does not hold in full, and how many bytes are missing. */
    size_t           truncated_segments;
    uint64_t         truncated_bytes;
} ls_core;

/* Opens path read-only if it is a regular file; -1 (errno set) if not.
 * Paths a core names (NT_FILE, the note's executable) are hostile: a FIFO
 * or a device there would block the open or never end a read. */
int  ls_open_regular(const char *path);
/* Whether path is a regular file (for paths handed to libdw to open). */
bool ls_regular_file(const char *path);

/* Opens and indexes a core. 0, or -1 with err set. */
int  ls_core_open(const char *path, ls_core **out, ls_error *err);
/* The same from fd, already open on path (which names it in messages);
 * the core owns fd from then on, and closes it on failure too. A FIFO,
 * directory or device is refused in one line. */
int  ls_core_open_fd(const char *path, int fd, ls_core **out, ls_error *err);
/* What st_mode says a file is, for messages: "a directory", "a FIFO or
 * pipe", "a character device", ... */
const char *ls_file_type_text(unsigned mode);
void ls_core_close(ls_core *core);

/* Copies n bytes at addr; false unless all of them can be read. The memory
 * model: the core's segments (bytes past a segment's filesz read as zero),
 * then the files NT_FILE says were mapped there (read-only code and data,
 * which snapshots leave out) — only modules checked to be the objects the
 * program ran (ls_core_check_modules). */
bool ls_core_read(const ls_core *core, uint64_t addr, void *dst, size_t n);
bool ls_core_read_u64(const ls_core *core, uint64_t addr, uint64_t *v);
bool ls_core_read_u32(const ls_core *core, uint64_t addr, uint32_t *v);
/* A pointer to n bytes at addr inside the mapped file, or NULL if they are
 * not all in one segment's file data. */
const void *ls_core_pointer(const ls_core *core, uint64_t addr, size_t n);
/* The segment holding addr, or NULL. */
const ls_segment *ls_core_segment(const ls_core *core, uint64_t addr);

/* modules.c: groups NT_FILE into modules and takes each one's build-id
 * from the snapshot's modules note or the core's own copy of its ELF
 * headers. ls_core_open calls it, then ls_core_check_modules(core, NULL,
 * NULL). */
int  ls_core_index_modules(ls_core *core, ls_error *err);
/* Opens each module's file and decides its state. exe: the executable's
 * path as the core names it (NULL: unknown); exe_file: the file to use
 * for it instead (--exe), or NULL. May be called again. */
void ls_core_check_modules(ls_core *core, const char *exe, const char *exe_file);
/* The module mapped at addr, or NULL. */
const ls_module *ls_core_module_at(const ls_core *core, uint64_t addr);
/* Why a module is or is not used, for messages. */
const char *ls_module_state_text(ls_module_state state);
void ls_build_id_hex(const uint8_t *id, size_t n, char out[2 * LS_MAX_BUILD_ID + 1]);

/* ---------------------------------------------------------------------- */
/* The runtime, decoded through the debug root                           */
/* ---------------------------------------------------------------------- */

/* Reads and validates the debug root at addr: magic, version, sizes, and
 * that every offset fits its stride. 0 or -1 with err. */
int ls_root_read(const ls_core *core, uint64_t addr, ls_debug_root *root, ls_error *err);

/* Generations of creators kept per task (the runtime keeps 8): each costs
 * the loader 24 bytes per task that has it, and 100,000 tasks are common. */
#define LS_MAX_ANCESTRY 8

/* One of a task's creators: the parent first. */
typedef struct ls_ancestor {
    uint64_t id, parent_id, create_pc;
} ls_ancestor;

/* Labels (lrt_label_set): a set many tasks may share. */
typedef struct ls_label {
    char *key, *value;
} ls_label;

typedef struct ls_label_set {
    uint64_t  addr;              /* in the program */
    ls_label *labels;
    uint32_t  count;
} ls_label_set;

typedef struct ls_task {
    uint64_t slot;               /* address of its task-table slot */
    uint64_t id, parent_id;
    uint64_t create_pc;
    uint32_t state;              /* LS_TASK_* */
    uint32_t wait_reason;
    int64_t  wait_since;
    uint64_t *wait_addrs;        /* wait_count addresses */
    uint32_t wait_count;
    bool     is_main;
    uint64_t stack_lo, stack_hi;
    /* Registers and ancestry are kept apart (rt->task_regs, rt->ancestors),
     * so that a task costs only what it holds: a saved result's task is an
     * id in the file, and ls_task is made for each (json_load.c). */
    const uint64_t *regs;        /* root->reg_count saved registers, in root->regs order */
    int32_t  worker_tid;         /* running: its thread; else 0 */
    const ls_ancestor *ancestry; /* its creators' creators: nancestry of them */
    uint32_t nancestry;
    uint64_t labels_addr;        /* its label set in the program, 0: none */
    int32_t  label_set;          /* index into rt->label_sets, -1: none */
    uint32_t file;               /* a merged result's: the file it is from */
} ls_task;

typedef struct ls_span {
    uint64_t base;
    uint64_t size;               /* npages * page_size */
    uint32_t state;              /* LS_SPAN_* */
    bool     noscan;
    uint32_t elem_size;
    uint32_t nelems;
    uint64_t alloc_bits;         /* address of the bitmap */
} ls_span;

typedef struct ls_runtime {
    ls_debug_root root;
    uint64_t      root_addr;
    ls_task      *tasks;         /* live tasks (not FREE/DEAD) */
    size_t        ntasks;
    uint64_t     *task_regs;     /* what the tasks' regs point into */
    ls_ancestor  *ancestors;     /* what the tasks' ancestry points into */
    size_t        skipped_tasks; /* slots that failed validation */
    size_t        absent_tasks;  /* of which not in the file at all (a cut core) */
    size_t        main_tasks;    /* slots marked main; only the first keeps is_main */
    const char   *skipped_task_reason;   /* why the first one failed */
    ls_span      *spans;         /* SMALL and LARGE spans, sorted by base */
    size_t        nspans;
    size_t        skipped_spans;
    const char   *skipped_span_reason;   /* why the first one failed */
    ls_label_set  *label_sets;   /* the distinct label sets of the tasks */
    size_t        nlabel_sets;
    char         *label_text;    /* every label's key and value point into it */
    size_t        unread_label_sets;  /* past the labels the file can hold (reader.c) */
    uint64_t     *timer_targets; /* targets of pending context timers: roots */
    size_t        ntimer_targets;
    uint64_t     *pinned;        /* objects the program pinned (lrt_pin): roots */
    size_t        npinned;
    /* Memory scanned as a root that the analysis could not judge by
     * reachability (malloc's blocks, when the runtime did not serve malloc
     * from its heap), for the report's header; NULL when none. Static
     * text, or a saved result's. */
    const char   *roots_note;
} ls_runtime;

/* Reads the runtime of a core whose debug root is at root_addr. Slots and
 * spans that fail validation are skipped and counted; only an unusable
 * root is an error. */
int  ls_runtime_read(const ls_core *core, uint64_t root_addr, ls_runtime **out, ls_error *err);
void ls_runtime_free(ls_runtime *rt);

/* Whether an object's slot i of span s is in use. */
bool ls_span_in_use(const ls_core *core, const ls_span *s, uint32_t i);

/* The name of a wait reason ("chan send"), or "?". */
const char *ls_reason_name(const ls_runtime *rt, uint32_t reason);

#endif

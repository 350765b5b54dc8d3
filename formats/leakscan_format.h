/*
 * leakscan_format.h — the contract between libleakrt and leakscan.
 *
 * Two things cross from a running program to the analyzer, and both are
 * defined here with fixed-width fields only, so that the analyzer can read
 * a snapshot (or core) written by a different build of the runtime:
 *
 *  1. The debug root: one exported object, `lrt_debug_root`, in the
 *     program's writable data. It carries a magic number and a version, and
 *     then the addresses of the runtime's tables and the offsets of every
 *     field the analyzer reads in them. The analyzer never assumes the
 *     runtime's struct layouts; it reads them through these offsets.
 *
 *  2. The LEAKSCAN notes of a snapshot: where the debug root is, which
 *     executable, which process, when, and why; and the build-id of every
 *     object the program had mapped.
 *
 * formats/README.md is the prose specification of both and of the ELF core
 * container around them. Append fields at the end and bump the version;
 * never move or reuse one.
 */
#ifndef LEAKSCAN_FORMAT_H
#define LEAKSCAN_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------------- */
/* The debug root                                                         */
/* ---------------------------------------------------------------------- */

#define LS_ROOT_MAGIC    UINT64_C(0x544f4f524b41454c)   /* "LEAKROOT", little-endian */
#define LS_ROOT_VERSION  1
#define LS_ROOT_SYMBOL   "lrt_debug_root"

#define LS_MAX_REASONS      32
#define LS_REASON_NAME_SIZE 32
#define LS_MAX_REGS         16
#define LS_MAX_INTERNAL     8

/* Task states (the value of a task's `state` field). */
enum {
    LS_TASK_FREE     = 0,   /* unused slot: ignore it */
    LS_TASK_RUNNABLE = 1,   /* in a run queue */
    LS_TASK_RUNNING  = 2,   /* on a worker: its registers are the thread's */
    LS_TASK_WAITING  = 3,   /* parked: registers saved in the slot */
    LS_TASK_DEAD     = 4,   /* returned, slot about to be freed: ignore */
};

/* Span states (the value of a span's `state` field). */
enum {
    LS_SPAN_UNUSED = 0,     /* descriptor not in use */
    LS_SPAN_FREE   = 1,     /* free pages: no objects */
    LS_SPAN_SMALL  = 2,     /* nelems objects of elem_size bytes */
    LS_SPAN_LARGE  = 3,     /* one object of elem_size bytes */
};

/* Timer kinds (a pending timer's `kind`). */
enum {
    LS_TIMER_TASK = 1,      /* wakes a task: its target is a task slot */
    LS_TIMER_CTX  = 2,      /* cancels a context: its target is a heap object, a root */
};
enum { LS_TIMER_PENDING = 1 };

/* Where a register of a parked task is saved: DWARF register number and
 * byte offset within the task slot's register area. */
typedef struct ls_reg_slot {
    uint16_t dwarf_regno;
    uint16_t offset;
} ls_reg_slot;

typedef struct ls_range {
    uint64_t start;          /* first byte */
    uint64_t end;            /* one past the last */
} ls_range;

/* ls_debug_root.flags: whose allocator served malloc. Without TRACED
 * (older runtimes too) malloc's blocks were not heap objects: memory the
 * analysis cannot see into, a root. */
enum {
    LS_ROOT_MALLOC_TRACED = 1u << 0,  /* malloc's blocks are tracked heap objects */
    LS_ROOT_MALLOC_OFF    = 1u << 1,  /* LRT_MALLOC=off */
    LS_ROOT_MALLOC_TOOL   = 1u << 2,  /* a sanitizer's or valgrind's allocator won */
    LS_ROOT_MALLOC_OTHER  = 1u << 3,  /* another malloc came first in lookup order */
    LS_ROOT_MALLOC_MASK   = 0xfu,
};

typedef struct ls_debug_root {
    uint64_t magic;                  /* LS_ROOT_MAGIC */
    uint32_t version;                /* LS_ROOT_VERSION */
    uint32_t size;                   /* sizeof(ls_debug_root) of the writer */
    uint32_t pointer_size;           /* 8 */
    uint32_t elf_machine;            /* EM_X86_64, ... */
    uint32_t runtime_version;        /* (major << 16) | minor */
    uint32_t flags;                  /* LS_ROOT_MALLOC_* */

    /* Tasks: an array of task_count slots of task_stride bytes. Field
     * sizes: id, parent_id, create_pc, wait_since, wait_addrs, stack_lo,
     * stack_hi: 8 bytes; state, wait_reason, wait_count: 4; is_main: 1.
     * wait_addrs points to wait_count addresses (8 bytes each). */
    uint64_t tasks;
    uint64_t task_count;
    uint32_t task_stride;
    uint32_t off_task_id;
    uint32_t off_task_parent_id;
    uint32_t off_task_create_pc;
    uint32_t off_task_state;
    uint32_t off_task_wait_reason;
    uint32_t off_task_wait_since;    /* CLOCK_MONOTONIC ns (coarse) */
    uint32_t off_task_wait_addrs;
    uint32_t off_task_wait_count;
    uint32_t off_task_stack_lo;      /* lowest usable stack address */
    uint32_t off_task_stack_hi;      /* top of the stack (exclusive) */
    uint32_t off_task_is_main;
    uint32_t off_task_regs;          /* start of the saved registers */
    uint32_t reg_count;
    ls_reg_slot regs[LS_MAX_REGS];   /* the first is the SP, the second the PC */

    /* Wait reasons: names by code, and two classes of codes. */
    uint32_t reason_count;
    uint32_t pad0;
    uint64_t candidate_mask;         /* bit r: a task waiting for reason r may be leaked */
    uint64_t never_wakes_mask;       /* bit r: nothing can ever wake it (nil channel, select{}) */
    char     reason_names[LS_MAX_REASONS][LS_REASON_NAME_SIZE];

    /* The tracked heap: spans of page_size pages in [arena, arena +
     * arena_used); page_map[(addr - arena) / page_size] is the index of the
     * span holding addr (0: none). Span fields: base 8 bytes, npages 4,
     * state 1, noscan 1, elem_size 4, nelems 4, alloc_bits 8 (pointer to
     * (nelems + 63) / 64 little-endian 64-bit words, bit i = object i in use). */
    uint64_t arena;
    uint64_t arena_size;             /* reserved: nothing else lives there */
    uint64_t arena_used;
    uint64_t page_size;
    uint64_t page_map;               /* uint32_t per page */
    uint64_t spans;
    uint64_t span_count;             /* descriptors [0, span_count); 0 is unused */
    uint32_t span_stride;
    uint32_t off_span_base;
    uint32_t off_span_npages;
    uint32_t off_span_state;
    uint32_t off_span_noscan;
    uint32_t off_span_elem_size;
    uint32_t off_span_nelems;
    uint32_t off_span_alloc_bits;

    /* Runtime-internal memory: never a root, never scanned. */
    uint32_t internal_count;
    uint32_t pad1;
    ls_range internal[LS_MAX_INTERNAL];

    /* Task stacks live in chunks of stack_chunk_size bytes, whose
     * addresses are in an array of stack_chunk_count 8-byte words. Only
     * the used part of a live task's stack matters; the rest of a chunk is
     * neither root nor object. */
    uint64_t stack_chunks;
    uint64_t stack_chunk_count;
    uint64_t stack_chunk_size;

    /* Worker threads: tid 4 bytes, current 8 (address of the task slot it
     * runs, or 0). */
    uint64_t workers;
    uint32_t worker_count;
    uint32_t worker_stride;
    uint32_t off_worker_tid;
    uint32_t off_worker_current;

    /* Pending timers: timer_count pointers at `timers` to timers with
     * kind 1 byte, state 1 byte, target 8 bytes. */
    uint64_t timers;
    uint64_t timer_count;
    uint32_t off_timer_kind;
    uint32_t off_timer_state;
    uint32_t off_timer_target;

    /* The runtime's poller thread (timers, I/O): like an idle worker, its
     * registers and stack are runtime-internal, never roots. */
    uint32_t poller_tid;

    /* ---- Added after the first release: a reader takes a root whose
     * `size` ends before these as having none of them (all zero). ---- */

    /* Ancestry: per task, ancestry_count (4 bytes) entries of
     * ancestry_stride bytes at off_task_ancestry, the parent first, each
     * {id 8, parent_id 8, create_pc 8}: who created the task's creators. */
    uint32_t off_task_ancestry;
    uint32_t off_task_ancestry_count;
    uint32_t ancestry_max;
    uint32_t ancestry_stride;
    /* Labels: per task a pointer (8 bytes at off_task_labels; 0: none) to
     * a label set: its count (4 bytes at off_labels_count), then at
     * off_labels_pairs count pairs of pointers (key, value) to
     * NUL-terminated strings. Tasks may share one set. */
    uint32_t off_task_labels;
    uint32_t off_labels_count;
    uint32_t off_labels_pairs;
    uint32_t pad2;
    /* Pinned objects (lrt_pin, issue 16): pin_count addresses at `pins`,
     * each a root: the program keeps a pointer to it where no scan sees
     * (the kernel, a file, a disguised pointer). */
    uint64_t pins;
    uint64_t pin_count;
    /* Mutex holders (issue 17): a task waiting for reason mutex_reason
     * waits on an lrt_mutex whose holder's task id is 8 bytes at
     * off_mutex_owner (0: none) and its lock site 8 bytes at
     * off_mutex_site. off_mutex_owner 0: not recorded. */
    uint32_t mutex_reason;
    uint32_t off_mutex_owner;
    uint32_t off_mutex_site;
    uint32_t pad3;
} ls_debug_root;

/* The root's size before the fields added after the first release. */
#define LS_ROOT_BASE_SIZE offsetof(ls_debug_root, off_task_ancestry)

/* ---------------------------------------------------------------------- */
/* The LEAKSCAN note                                                      */
/* ---------------------------------------------------------------------- */

#define LS_NOTE_OWNER    "LEAKSCAN"
/* n_type. Not a small number: gdb reads notes of any owner by type, and
 * would take type 1 (NT_PRSTATUS) for a thread. */
#define LS_NOTE_SNAPSHOT 0x4c534e50u  /* "LSNP" */
#define LS_NOTE_VERSION  1

/* The note's descriptor: this header, then build_id_size bytes of build-id,
 * then exe_path_size bytes of the executable's path (NUL-terminated), then
 * reason_size bytes of the reason (NUL-terminated). */
typedef struct ls_note_snapshot {
    uint32_t version;                 /* LS_NOTE_VERSION */
    uint32_t flags;                   /* none defined yet */
    uint64_t debug_root;              /* address of lrt_debug_root */
    uint64_t pid;
    int64_t  time_unix_ns;            /* CLOCK_REALTIME when taken */
    int64_t  time_monotonic_ns;       /* CLOCK_MONOTONIC then: wait_since's clock */
    int64_t  pause_ns;                /* how long the program was stopped */
    uint32_t threads;                 /* threads in the process */
    uint32_t threads_stopped;         /* of which stopped, with registers (NT_PRSTATUS) */
    uint32_t build_id_size;
    uint32_t exe_path_size;
    uint32_t reason_size;
    uint32_t pad;
} ls_note_snapshot;

/* Pseudo-threads: one note of owner LS_NOTE_OWNER and type NT_PRSTATUS (1)
 * per parked task, after the real threads' "CORE" ones, for debuggers (gdb
 * reads a note of any owner by its type). pr_pid is LS_PSEUDO_TID_BASE +
 * the task id (above any kernel thread id), pr_reg the task's saved
 * registers as of after its context switch returns. Readers take threads
 * from "CORE" notes only and ignore these: the analysis never uses them. */
#define LS_PSEUDO_TID_BASE 1000000000

/* The modules note (same owner, type LS_NOTE_MODULES), next to the
 * snapshot note: the build-id of every ELF object the program had mapped,
 * read at snapshot time from the object's own notes in memory, so that a
 * reader can tell whether a file on its disk is that object. Its
 * descriptor: an ls_note_modules, then `count` ls_note_module entries.
 * Readers ignore notes of types they do not know; a snapshot without this
 * one is checked against its copies of the objects' first pages. */
#define LS_NOTE_MODULES  0x4c534d44u  /* "LSMD" */
#define LS_NOTE_BUILD_ID_MAX 64

typedef struct ls_note_modules {
    uint32_t count;
    uint32_t entry_size;              /* sizeof(ls_note_module) of the writer */
} ls_note_modules;

typedef struct ls_note_module {
    uint64_t base;                    /* where its file offset 0 is mapped (an NT_FILE start) */
    uint32_t build_id_size;           /* 0: it has none */
    uint32_t pad;
    uint8_t  build_id[LS_NOTE_BUILD_ID_MAX];
} ls_note_module;

/* The GNU build-id in an ELF note area of `size` bytes (the runtime reads
 * its modules' notes in memory, the reader a core's copy of them): its
 * size, or 0 if none fits. Every step is checked against size. Shared, so
 * both halves agree on what a build-id is. */
static inline uint32_t ls_gnu_build_id(const uint8_t *notes, uint64_t size,
                                       uint8_t out[LS_NOTE_BUILD_ID_MAX])
{
    for (uint64_t at = 0; at + 12 <= size;) {
        uint32_t namesz, descsz, type;
        __builtin_memcpy(&namesz, notes + at, 4);
        __builtin_memcpy(&descsz, notes + at + 4, 4);
        __builtin_memcpy(&type, notes + at + 8, 4);
        uint64_t name = at + 12, desc = name + ((namesz + 3ull) & ~3ull);
        uint64_t next = desc + ((descsz + 3ull) & ~3ull);
        if (next > size)
            return 0;
        if (type == 3 /* NT_GNU_BUILD_ID */ && namesz == 4 && __builtin_memcmp(notes + name, "GNU", 4) == 0 &&
            descsz > 0 && descsz <= LS_NOTE_BUILD_ID_MAX) {
            __builtin_memcpy(out, notes + desc, descsz);
            return descsz;
        }
        at = next;
    }
    return 0;
}

#endif /* LEAKSCAN_FORMAT_H */

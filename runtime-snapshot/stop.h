/*
 * stop.h — stopping every thread of the process (stop.c), and writing the
 * stopped process as an ELF core (corefile.c). Used by snapshot.c.
 */
#ifndef LRT_STOP_H
#define LRT_STOP_H

#include "runtime.h"

#include <sys/user.h>

/* One thread of the process while the world is stopped. */
typedef struct lrt_thread_state {
    pid_t            tid;
    _Atomic int      stopped;   /* 1 once regs hold its registers */
    struct user_regs_struct regs;
} lrt_thread_state;

typedef struct lrt_stopped_world {
    lrt_thread_state *threads;  /* the caller first; internal memory */
    size_t  count;
    size_t  capacity;
    size_t  stopped;            /* threads that answered, the caller included */
    int64_t start_ns;           /* when the stop began (monotonic) */
} lrt_stopped_world;

/* Installs the stop signal's handler (once). */
void lrt_stop_init(void);

/* Stops every other thread and records its registers; the caller's own
 * registers are `self` (saved by lrt_arch_save). Threads that do not
 * answer within timeout_ns are left out. 0 or -errno. */
int  lrt_world_stop(lrt_stopped_world *sw, const lrt_regs *self, int64_t timeout_ns);
/* Runs job(arg) on the caller and on up to `helpers` of the stopped
 * threads at once, and returns when every run has returned. The job must
 * share its work out itself (an atomic cursor) and be safe in a signal
 * handler: no locks, no allocation. */
void lrt_world_share(const lrt_stopped_world *sw, void (*job)(void *), void *arg, int helpers);
/* Lets them go; returns when none is still in the handler. */
void lrt_world_start(lrt_stopped_world *sw);

/* The used part of every live task's stack, copied while the world is
 * stopped, so that the fork need not copy the stacks' page tables (one
 * entry per task: the bulk of the pause with many tasks). */
typedef struct lrt_stack_copy {
    uint64_t start, end;        /* the range in the program */
    uint64_t offset;            /* where its bytes are in the buffer */
} lrt_stack_copy;

typedef struct lrt_stack_copies {
    uint8_t        *buf;        /* persistent, huge pages: the copied bytes */
    size_t          capacity;
    lrt_stack_copy *index;      /* persistent, huge pages: one per live task */
    size_t          index_capacity;
    size_t          count;
    size_t          last_bytes; /* copied by the last snapshot */
    bool            valid;      /* taken for this snapshot */
} lrt_stack_copies;

void lrt_stack_copies_prepare(lrt_stack_copies *copies);
int lrt_stack_copies_take(lrt_stack_copies *copies, const lrt_stopped_world *sw);
/* The writer's temporary file name for path (corefile.c). 0 or ENAMETOOLONG. */
int lrt_core_temp_path(char *out, size_t size, const char *path, pid_t writer);
/* Whether path may be replaced by a snapshot: 0 when nothing is there, or
 * a regular file or a symlink (replaced itself, never followed); EEXIST
 * for a FIFO, device or socket, EISDIR for a directory — left alone. */
int lrt_core_check_destination(const char *path);

/* What the core writer needs besides the world (snapshot.c). */
typedef struct lrt_core_info {
    const char *path;           /* destination */
    const char *reason;
    const char *exe_path;
    const unsigned char *build_id;
    size_t  build_id_size;
    int64_t pause_start_ns;     /* monotonic: the pause is measured from here */
    const lrt_stack_copies *stacks;   /* the stacks, if copied */
} lrt_core_info;


/* In the forked child (core_tasks.c): one pseudo-thread prstatus per
 * parked task, handed to emit (with its size) to be written as a note of
 * owner LEAKSCAN, type NT_PRSTATUS. 0 or emit's error. */
int lrt_core_task_threads(int (*emit)(void *ctx, const void *prstatus, size_t size), void *ctx);

/* In the forked child, first: reserves the child's own memory (its stack
 * at the bottom, stack_size bytes); NULL on failure. */
void *lrt_core_scratch_init(size_t stack_size);

/* In the forked child: writes the core atomically (temporary file, fsync,
 * rename), with plain system calls only. Returns 0 or an errno value. */
int lrt_core_write(const lrt_core_info *info, const lrt_stopped_world *sw);

#endif

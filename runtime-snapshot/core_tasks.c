/*
 * core_tasks.c — the parked tasks as threads for debuggers: one pseudo-
 * thread NT_PRSTATUS per task that is not running on a worker, so that
 * `gdb PROG SNAPSHOT`, `info threads`, `thread N`, `bt` show where each
 * parked task blocked (lrt_chan_recv, then the user's function, down to
 * lrt_arch_task_start). Written by the forked child (corefile.c), after the
 * real threads' notes: the program's pause does not include it.
 *
 * The scheme (formats/README.md, "Pseudo-threads"):
 *   - owner "LEAKSCAN", type NT_PRSTATUS (1): gdb (BFD) reads a note of any
 *     owner by its type and takes it for a thread; leakscan's reader and
 *     elfutils take threads only from "CORE" notes, so to them these are
 *     unknown notes and the analysis is that of a snapshot without them;
 *   - pr_pid = LS_PSEUDO_TID_BASE (1000000000) + the task id: above any
 *     kernel thread id (pid_max <= 2^22), "LWP 1000000007" is task 7. Tasks
 *     whose id does not fit (id > INT32_MAX - base) get none;
 *   - registers: the task's saved context as the switch left it, i.e. as
 *     after lrt_arch_switch returns: rip = the resume address (in the
 *     runtime's parking function), rsp = the saved SP (the return address
 *     popped), rbp, rbx, r12-r15; the others 0;
 *   - at most LRT_SNAPSHOT_GDB_TASKS of them (default 10000, at most
 *     1000000; 0: none), waiting tasks first, then runnable ones, in table
 *     order: each is 356 bytes of file, and gdb's `info threads` spends
 *     about 2 ms on each. If they do not fit in the child's memory, the
 *     snapshot is written without them (corefile.c).
 */
#include "stop.h"

#include <elf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/procfs.h>
#include <unistd.h>

#define DEFAULT_CAP 10000
#define MAX_CAP     1000000              /* 356 MB of notes */

/* The cap from the environment. getenv takes no lock: safe in the child. */
static uint64_t pseudo_thread_cap(void)
{
    const char *env = getenv("LRT_SNAPSHOT_GDB_TASKS");
    if (!env || !*env)
        return DEFAULT_CAP;
    uint64_t v = 0;
    for (const char *p = env; *p; p++) {
        if (*p < '0' || *p > '9')
            return DEFAULT_CAP;              /* not a number: the default */
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > MAX_CAP)
            return MAX_CAP;
    }
    return v;
}

int lrt_core_task_threads(int (*emit)(void *ctx, const void *prstatus, size_t size), void *ctx)
{
    const lrt_task *tasks = (const lrt_task *)(uintptr_t)lrt_debug_root.tasks;
    uint64_t n = lrt_debug_root.task_count, left = pseudo_thread_cap();
    pid_t ppid = getppid();
    /* Two passes: the waiting tasks (the ones a user asks about) before
     * the runnable ones, so that a cap drops the latter first. */
    static const uint32_t order[2] = { LRT_TASK_WAITING, LRT_TASK_RUNNABLE };
    for (int pass = 0; pass < 2; pass++) {
        for (uint64_t i = 0; i < n && left > 0; i++) {
            const lrt_task *t = &tasks[i];
            if (atomic_load_explicit(&t->state, memory_order_relaxed) != order[pass])
                continue;
            if (t->id == 0 || t->id > (uint64_t)INT32_MAX - LS_PSEUDO_TID_BASE)
                continue;
            struct elf_prstatus st;
            memset(&st, 0, sizeof st);
            st.pr_pid = (pid_t)(LS_PSEUDO_TID_BASE + t->id);
            st.pr_ppid = ppid;
            lrt_arch_prstatus_from_saved(&t->regs, (struct user_regs_struct *)&st.pr_reg);
            int err = emit(ctx, &st, sizeof st);
            if (err)
                return err;
            left--;
        }
    }
    return 0;
}

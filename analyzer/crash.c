/*
 * crash.c — the crash in a core dump: which signal the program died of,
 * on which thread, and which task that thread was running, with its stack.
 * The reports show it first, before the leaks: after a crash the crash is
 * the news, and the leak report is the context.
 *
 * A kernel core names the signal twice: NT_SIGINFO (with the fault
 * address) and pr_cursig of every NT_PRSTATUS. The thread that took it is
 * the one whose notes come first. Snapshots carry neither.
 */
#include "leakscan.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

const char *ls_signal_name(int sig)
{
    static const struct { int sig; const char *name; } names[] = {
        { SIGHUP, "SIGHUP" },   { SIGINT, "SIGINT" },   { SIGQUIT, "SIGQUIT" },
        { SIGILL, "SIGILL" },   { SIGTRAP, "SIGTRAP" }, { SIGABRT, "SIGABRT" },
        { SIGBUS, "SIGBUS" },   { SIGFPE, "SIGFPE" },   { SIGKILL, "SIGKILL" },
        { SIGUSR1, "SIGUSR1" }, { SIGSEGV, "SIGSEGV" }, { SIGUSR2, "SIGUSR2" },
        { SIGPIPE, "SIGPIPE" }, { SIGALRM, "SIGALRM" }, { SIGTERM, "SIGTERM" },
        { SIGSYS, "SIGSYS" },   { SIGXCPU, "SIGXCPU" }, { SIGXFSZ, "SIGXFSZ" },
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].sig == sig)
            return names[i].name;
    return "signal";
}

/* The x86-64 user_regs_struct index of rip. */
enum { PRSTATUS_PC = 16 };

int ls_find_crash(const ls_snapshot *s, ls_unwinder *u, ls_crash *out)
{
    memset(out, 0, sizeof *out);
    out->task = SIZE_MAX;
    const ls_core *c = s->core;
    if (s->from_json || c->has_note || c->nthreads == 0)
        return 0;
    int sig = c->has_siginfo ? c->signal : c->threads[0].signal;
    /* gdb's gcore records the SIGSTOP it stopped the threads with: a stop
     * is not a crash. */
    if (sig <= 0 || sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
        return 0;
    out->crashed = true;
    out->signal = sig;
    out->has_address = c->has_siginfo &&
        (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE);
    out->fault_address = c->fault_address;
    out->tid = c->threads[0].tid;
    for (size_t i = 0; i < s->rt->ntasks; i++) {
        const ls_task *t = &s->rt->tasks[i];
        if (t->state == LS_TASK_RUNNING && t->worker_tid == out->tid)
            out->task = i;
    }
    if (out->task != SIZE_MAX) {
        ls_symbolize(u, s->rt->tasks[out->task].create_pc, &out->created_by);
        return ls_unwind_task(u, out->task, &out->stack);
    }
    /* Not a task (the program's own thread, or the runtime's): where it
     * was, one frame. */
    out->stack.frames = calloc(1, sizeof *out->stack.frames);
    if (!out->stack.frames)
        return -1;
    out->stack.nframes = 1;
    ls_symbolize(u, c->threads[0].regs[PRSTATUS_PC], &out->stack.frames[0]);
    out->stack.frames[0].pc = c->threads[0].regs[PRSTATUS_PC];
    return 0;
}

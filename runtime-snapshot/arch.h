/*
 * arch.h — the architecture layer: the registers a parked task keeps and
 * the two assembly entry points (arch_<cpu>.S). Adding a CPU means one more
 * lrt_regs layout here and one more .S file.
 */
#ifndef LRT_ARCH_H
#define LRT_ARCH_H

#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__)
/* Callee-saved state of the System V AMD64 ABI, plus where to resume. */
typedef struct lrt_regs {
    uint64_t sp;     /* 0:  stack pointer at the resume point */
    uint64_t pc;     /* 8:  resume address */
    uint64_t fp;     /* 16: rbp */
    uint64_t rbx;    /* 24 */
    uint64_t r12;    /* 32: on a new task, the task pointer */
    uint64_t r13;    /* 40: on a new task, the C entry function */
    uint64_t r14;    /* 48 */
    uint64_t r15;    /* 56 */
} lrt_regs;
#else
#error "libleakrt: no context switch for this architecture yet (see arch.h)"
/* The thread's full register set from a signal's ucontext, in the layout
 * of the core file's NT_PRSTATUS (struct user_regs_struct). */
struct user_regs_struct;
void lrt_arch_prstatus_regs(const void *ucontext, struct user_regs_struct *out);

/* Saves the caller's callee-saved registers, stack pointer and return
 * address into *regs, like setjmp: a running task's state as of this call. */
void lrt_arch_save(lrt_regs *regs);

/* The stack pointer and frame pointer in a user_regs_struct. */
uint64_t lrt_arch_prstatus_sp(const struct user_regs_struct *regs);

#endif

/* Saves the caller's context into *from and resumes *to. Returns when
 * something switches back to *from. */
void lrt_arch_switch(lrt_regs *from, const lrt_regs *to);

/* First code of every task: calls entry(task). Its CFI marks it as the
 * outermost frame, so unwinders (libdw, gdb) stop there cleanly. */
void lrt_arch_task_start(void);

/* Prepares *regs so that switching to it runs entry(task) on the stack
 * whose top (exclusive) is stack_top. */
void lrt_arch_init_regs(lrt_regs *regs, uintptr_t stack_top,
                        void (*entry)(void *), void *task);

/* The thread's full register set from a signal's ucontext, in the layout
 * of the core file's NT_PRSTATUS (struct user_regs_struct). */
struct user_regs_struct;
void lrt_arch_prstatus_regs(const void *ucontext, struct user_regs_struct *out);
/* The same from a parked task's saved registers (the others read 0). */
void lrt_arch_prstatus_from_saved(const lrt_regs *saved, struct user_regs_struct *out);
uint64_t lrt_arch_prstatus_sp(const struct user_regs_struct *regs);

/* Saves the caller's callee-saved registers, stack pointer and return
 * address into *regs, like setjmp: the running task's state at this call. */
void lrt_arch_save(lrt_regs *regs);

/* Copies n bytes; never intercepted or instrumented by sanitizers. */
void lrt_arch_copy(void *dst, const void *src, size_t n);

/* Bytes below the stack pointer a leaf function may use (the red zone). */
#define LRT_ARCH_RED_ZONE 128

#endif

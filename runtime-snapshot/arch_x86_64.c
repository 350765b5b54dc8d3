/*
 * arch_x86_64.c — the C half of the x86-64 layer: a new task's first
 * context.
 */
#include "arch.h"

#include <string.h>

void lrt_arch_init_regs(lrt_regs *regs, uintptr_t stack_top,
                        void (*entry)(void *), void *task)
{
    memset(regs, 0, sizeof *regs);
    regs->sp = stack_top & ~(uintptr_t)15;   /* aligned at the call below */
    regs->pc = (uintptr_t)lrt_arch_task_start;
    regs->r12 = (uintptr_t)task;
    regs->r13 = (uintptr_t)entry;
}

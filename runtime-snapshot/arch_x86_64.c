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

#include <asm/prctl.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <sys/user.h>
#include <unistd.h>

void lrt_arch_prstatus_regs(const void *ucontext, struct user_regs_struct *out)
{
    const ucontext_t *uc = ucontext;
    const greg_t *g = uc->uc_mcontext.gregs;
    memset(out, 0, sizeof *out);
    out->r15 = (uint64_t)g[REG_R15];
    out->r14 = (uint64_t)g[REG_R14];
    out->r13 = (uint64_t)g[REG_R13];
    out->r12 = (uint64_t)g[REG_R12];
    out->rbp = (uint64_t)g[REG_RBP];
    out->rbx = (uint64_t)g[REG_RBX];
    out->r11 = (uint64_t)g[REG_R11];
    out->r10 = (uint64_t)g[REG_R10];
    out->r9 = (uint64_t)g[REG_R9];
    out->r8 = (uint64_t)g[REG_R8];
    out->rax = (uint64_t)g[REG_RAX];
    out->rcx = (uint64_t)g[REG_RCX];
    out->rdx = (uint64_t)g[REG_RDX];
    out->rsi = (uint64_t)g[REG_RSI];
    out->rdi = (uint64_t)g[REG_RDI];
    out->orig_rax = (uint64_t)-1;
    out->rip = (uint64_t)g[REG_RIP];
    out->eflags = (uint64_t)g[REG_EFL];
    out->rsp = (uint64_t)g[REG_RSP];
    uint64_t csgsfs = (uint64_t)g[REG_CSGSFS];
    out->cs = csgsfs & 0xffff;
    out->gs = (csgsfs >> 16) & 0xffff;
    out->fs = (csgsfs >> 32) & 0xffff;
    out->ss = 0x2b;                          /* user data segment */
    unsigned long fs_base = 0;
    syscall(SYS_arch_prctl, ARCH_GET_FS, &fs_base);   /* async-signal-safe */
    out->fs_base = fs_base;
}

void lrt_arch_prstatus_from_saved(const lrt_regs *saved, struct user_regs_struct *out)
{
    memset(out, 0, sizeof *out);
    out->rsp = saved->sp;
    out->rip = saved->pc;
    out->rbp = saved->fp;
    out->rbx = saved->rbx;
    out->r12 = saved->r12;
    out->r13 = saved->r13;
    out->r14 = saved->r14;
    out->r15 = saved->r15;
    out->orig_rax = (uint64_t)-1;
    out->cs = 0x33;
    out->ss = 0x2b;
}

uint64_t lrt_arch_prstatus_sp(const struct user_regs_struct *regs)
{
    return regs->rsp;
}

/*
 * arch_x86_64.S — the context switch and the task entry trampoline for
 * x86-64 (System V). Offsets follow lrt_regs in arch.h.
 *
 * Like setjmp/longjmp (and Go), the switch keeps the general callee-saved
 * registers only: the floating-point control words (MXCSR, x87 CW) belong
 * to the worker thread, not the task. Restoring them costs a serialising
 * instruction on every switch, for a setting almost nobody changes.
 */
    .text

/* Stores the caller's context — the stack as after `ret`, the return
 * address, the callee-saved registers — into the lrt_regs at %rdi. */
.macro SAVE_CALLER_CONTEXT
    movq    (%rsp), %rax
    leaq    8(%rsp), %rcx
    movq    %rcx, 0(%rdi)
    movq    %rax, 8(%rdi)
    movq    %rbp, 16(%rdi)
    movq    %rbx, 24(%rdi)
    movq    %r12, 32(%rdi)
    movq    %r13, 40(%rdi)
    movq    %r14, 48(%rdi)
    movq    %r15, 56(%rdi)
.endm

/* void lrt_arch_switch(lrt_regs *from, const lrt_regs *to) */
    .globl  lrt_arch_switch
    .hidden lrt_arch_switch
    .type   lrt_arch_switch, @function
lrt_arch_switch:
    .cfi_startproc
    SAVE_CALLER_CONTEXT         /* resume at our return address */

    movq    16(%rsi), %rbp
    movq    24(%rsi), %rbx
    movq    32(%rsi), %r12
    movq    40(%rsi), %r13
    movq    48(%rsi), %r14
    movq    56(%rsi), %r15
    movq    0(%rsi), %rsp
    jmpq    *8(%rsi)
    .cfi_endproc
    .size   lrt_arch_switch, .-lrt_arch_switch

/* Entered by lrt_arch_switch with %r12 = task, %r13 = entry, %rsp 16-byte
 * aligned. The return address column is undefined: the outermost frame. */
    .globl  lrt_arch_task_start
    .hidden lrt_arch_task_start
    .type   lrt_arch_task_start, @function
lrt_arch_task_start:
    .cfi_startproc
    .cfi_undefined rip
    xorl    %ebp, %ebp
    movq    %r12, %rdi
    callq   *%r13
    ud2                         /* entry never returns */
    .cfi_endproc
    .size   lrt_arch_task_start, .-lrt_arch_task_start

/* void lrt_arch_save(lrt_regs *regs): the caller's state, as a switch
 * would save it, without switching. */
    .globl  lrt_arch_save
    .hidden lrt_arch_save
    .type   lrt_arch_save, @function
lrt_arch_save:
    .cfi_startproc
    SAVE_CALLER_CONTEXT
    ret
    .cfi_endproc
    .size   lrt_arch_save, .-lrt_arch_save

/* void lrt_arch_copy(void *dst, const void *src, size_t n): a plain copy
 * that no sanitizer intercepts, for reading other tasks' stacks (whose
 * redzones ASan would report). */
    .globl  lrt_arch_copy
    .hidden lrt_arch_copy
    .type   lrt_arch_copy, @function
lrt_arch_copy:
    .cfi_startproc
    movq    %rdx, %rcx
    rep movsb
    ret
    .cfi_endproc
    .size   lrt_arch_copy, .-lrt_arch_copy

    .section .note.GNU-stack,"",@progbits

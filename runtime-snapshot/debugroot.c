/*
 * debugroot.c — lrt_debug_root, the runtime described for outside readers.
 *
 * The analyzer reads the runtime only through this object (layout in
 * formats/leakscan_format.h): where the task table, span table, internal
 * regions, stack chunks, workers and timers are, and the offset of every
 * field it needs in them. Static facts are filled in once here; the
 * tables' sizes are kept current by the files that own them, under their
 * own locks, so a stopped world shows a consistent value.
 */
#include "heap.h"

#include <elf.h>
#include <stddef.h>
#include <string.h>

__attribute__((visibility("default"), used))
ls_debug_root lrt_debug_root;

lrt_static_assert(LRT_WAIT_COUNT <= LS_MAX_REASONS, "wait reasons fit the root");
lrt_static_assert(sizeof(((lrt_task *)0)->id) == 8 && sizeof(((lrt_task *)0)->state) == 4 &&
                  sizeof(((lrt_task *)0)->wait_reason) == 4 &&
                  sizeof(((lrt_task *)0)->wait_count) == 4 &&
                  sizeof(((lrt_task *)0)->is_main) == 1, "task field sizes match the format");
lrt_static_assert(sizeof(((lrt_span *)0)->npages) == 4 && sizeof(((lrt_span *)0)->state) == 1 &&
                  sizeof(((lrt_span *)0)->noscan) == 1 &&
                  sizeof(((lrt_span *)0)->elem_size) == 4, "span field sizes match the format");

#define TASK_OFF(f) ((uint32_t)offsetof(lrt_task, f))
#define REG(dwarf, f) { (uint16_t)(dwarf), (uint16_t)offsetof(lrt_regs, f) }

void lrt_debug_root_init(void)
{
    ls_debug_root *r = &lrt_debug_root;
    if (r->magic == LS_ROOT_MAGIC)
        return;
    r->version = LS_ROOT_VERSION;
    r->size = sizeof *r;
    r->pointer_size = sizeof(void *);
    r->runtime_version = (LRT_VERSION_MAJOR << 16) | LRT_VERSION_MINOR;

    r->task_stride = sizeof(lrt_task);
    r->off_task_id = TASK_OFF(id);
    r->off_task_parent_id = TASK_OFF(parent_id);
    r->off_task_create_pc = TASK_OFF(create_pc);
    r->off_task_state = TASK_OFF(state);
    r->off_task_wait_reason = TASK_OFF(wait_reason);
    r->off_task_wait_since = TASK_OFF(wait_since);
    r->off_task_wait_addrs = TASK_OFF(wait_addrs);
    r->off_task_wait_count = TASK_OFF(wait_count);
    r->off_task_stack_lo = TASK_OFF(stack_lo);
    r->off_task_stack_hi = TASK_OFF(stack_hi);
    r->off_task_is_main = TASK_OFF(is_main);
    r->off_task_regs = TASK_OFF(regs);
    r->off_task_ancestry = TASK_OFF(ancestry);
    r->off_task_ancestry_count = TASK_OFF(ancestry_count);
    r->ancestry_max = LRT_ANCESTRY_MAX;
    r->ancestry_stride = sizeof(lrt_ancestor);
    r->off_task_labels = TASK_OFF(labels);
    r->off_labels_count = offsetof(lrt_labels, count);
    r->off_labels_pairs = offsetof(lrt_labels, pairs);
    r->mutex_reason = LRT_WAIT_MUTEX;
    r->off_mutex_owner = offsetof(lrt_mutex, owner_);
    r->off_mutex_site = offsetof(lrt_mutex, site_);
#if defined(__x86_64__)
    r->elf_machine = EM_X86_64;
    /* DWARF numbers of x86-64: rbx 3, rbp 6, rsp 7, r12-r15 12-15, rip 16. */
    static const ls_reg_slot regs[] = {
        REG(7, sp), REG(16, pc), REG(6, fp), REG(3, rbx),
        REG(12, r12), REG(13, r13), REG(14, r14), REG(15, r15),
    };
#endif
    r->reg_count = sizeof regs / sizeof regs[0];
    memcpy(r->regs, regs, sizeof regs);

    r->reason_count = LRT_WAIT_COUNT;
    for (int i = 0; i < LRT_WAIT_COUNT; i++)
        strncpy(r->reason_names[i], lrt_wait_reason_names[i], LS_REASON_NAME_SIZE - 1);
    for (int i = LRT_WAIT_CHAN_RECV; i <= LRT_WAIT_WAITGROUP; i++)
        r->candidate_mask |= UINT64_C(1) << i;
    r->never_wakes_mask = (UINT64_C(1) << LRT_WAIT_CHAN_RECV_NIL) |
                          (UINT64_C(1) << LRT_WAIT_CHAN_SEND_NIL) |
                          (UINT64_C(1) << LRT_WAIT_SELECT_NO_CASES);

    r->page_size = LRT_PAGE_SIZE;
    r->span_stride = sizeof(lrt_span);
    r->off_span_base = offsetof(lrt_span, base);
    r->off_span_npages = offsetof(lrt_span, npages);
    r->off_span_state = offsetof(lrt_span, state);
    r->off_span_noscan = offsetof(lrt_span, noscan);
    r->off_span_elem_size = offsetof(lrt_span, elem_size);
    r->off_span_nelems = offsetof(lrt_span, nelems);
    r->off_span_alloc_bits = offsetof(lrt_span, alloc_bits);

    r->worker_stride = sizeof(lrt_worker);
    r->off_worker_tid = offsetof(lrt_worker, tid);
    r->off_worker_current = offsetof(lrt_worker, current);

    r->off_timer_kind = offsetof(lrt_timer, kind);
    r->off_timer_state = offsetof(lrt_timer, state);
    r->off_timer_target = offsetof(lrt_timer, target);

    /* Last: a reader that sees the magic sees everything above. */
    __atomic_store_n(&r->magic, LS_ROOT_MAGIC, __ATOMIC_RELEASE);
}

/* Replaces an internal region (old start) by a new one, or adds it. */
void lrt_debug_root_move_internal(const void *old_start, const void *start, size_t size)
{
    ls_debug_root *r = &lrt_debug_root;
    for (uint32_t i = 0; old_start && i < r->internal_count; i++) {
        if (r->internal[i].start == (uintptr_t)old_start) {
            r->internal[i].start = (uintptr_t)start;
            r->internal[i].end = (uintptr_t)start + size;
            return;
        }
    }
    lrt_debug_root_add_internal(start, size);
}

void lrt_debug_root_add_internal(const void *start, size_t size)
{
    ls_debug_root *r = &lrt_debug_root;
    lrt_assert(r->internal_count < LS_MAX_INTERNAL);
    r->internal[r->internal_count].start = (uintptr_t)start;
    r->internal[r->internal_count].end = (uintptr_t)start + size;
    r->internal_count++;
}

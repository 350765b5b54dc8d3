/*
 * test_decode.c — a snapshot of a program in known states, read back field
 * by field: every task with its state, wait reason and waited-on objects;
 * heap spans and objects; segments covering heap, stacks and globals; the
 * note. Also: a task spinning without yielding, a task in lrt_fd_wait and a
 * task in the middle of lrt_select are all captured.
 */
#include "snaptest.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

/* A global the snapshot must contain, pointing into the heap. */
static uint64_t *global_pointer;
static volatile uint64_t spin_counter;

typedef struct report {
    int      snapshot_result;
    uint64_t chan_a, chan_b, chan_c, chan_d;
    uint64_t mutex, wg, cond, rw;
    uint64_t recv_ids[3], send_ids[2], select_id, mutex_id, wg_id, cond_id, rw_id;
    uint64_t sleep_id, io_id, spin_id, nil_id, main_id;
    uint64_t global_addr, heap_object, heap_value;
    uint64_t noscan_object;
    uint64_t code_addr, code_bytes;   /* read-only code: not in the file */
    int      pipe_read_fd;
    int64_t  called_ns, returned_ns, pause_start_ns, pause_ns;   /* lrt_now clock */
} report;

static report rep;
static lrt_mutex mutex;        /* a global mutex: outside the heap */
static lrt_rwmutex rw;
static lrt_wg wg;
static lrt_cond cond;
static lrt_mutex cond_mutex;

static void recv_task(void *c) { lrt_chan_recv(c, NULL); }
static void send_task(void *c) { int v = 1; lrt_chan_send(c, &v); }
static void select_task(void *arg)
{
    (void)arg;
    int a, b, c = 3;
    lrt_case cases[] = {
        { .chan = (lrt_chan *)rep.chan_a, .dir = LRT_RECV, .elem = &a },
        { .chan = (lrt_chan *)rep.chan_d, .dir = LRT_RECV, .elem = &b },
        { .chan = NULL, .dir = LRT_RECV },                        /* never fires */
        { .chan = (lrt_chan *)rep.chan_c, .dir = LRT_SEND, .elem = &c },
    };
    lrt_select(cases, 4, -1);
}
static void mutex_task(void *arg) { (void)arg; lrt_mutex_lock(&mutex); }
static void wg_task(void *arg) { (void)arg; lrt_wg_wait(&wg); }
static void cond_task(void *arg)
{
    (void)arg;
    lrt_mutex_lock(&cond_mutex);
    lrt_cond_wait(&cond, &cond_mutex);
}
static void rw_task(void *arg) { (void)arg; lrt_rwmutex_rlock(&rw); }
static void sleep_task(void *arg) { (void)arg; lrt_sleep(60 * LRT_SECOND); }
static void io_task(void *arg) { (void)arg; lrt_fd_wait(rep.pipe_read_fd, LRT_READ, -1); }
static void nil_task(void *arg) { (void)arg; lrt_chan_send(NULL, NULL); }
static void spin_task(void *arg)
{
    (void)arg;
    for (;;)
        spin_counter++;
}

static void known_states(void *path)
{
    lrt_chan *a = lrt_chan_make(sizeof(int), 0);
    lrt_chan *b = lrt_chan_make(sizeof(int), 0);
    lrt_chan *c = lrt_chan_make(sizeof(int), 0);
    rep.chan_a = (uintptr_t)a;
    rep.chan_b = (uintptr_t)b;
    rep.chan_c = (uintptr_t)c;
    rep.chan_d = (uintptr_t)lrt_chan_make(sizeof(int), 0);
    rep.mutex = (uintptr_t)&mutex;
    rep.wg = (uintptr_t)&wg;
    rep.cond = (uintptr_t)&cond;
    rep.rw = (uintptr_t)&rw;
    int fds[2];
    if (pipe(fds) != 0)
        _exit(97);
    rep.pipe_read_fd = fds[0];

    for (int i = 0; i < 3; i++)
        rep.recv_ids[i] = lrt_go(recv_task, a);
    for (int i = 0; i < 2; i++)
        rep.send_ids[i] = lrt_go(send_task, b);
    rep.select_id = lrt_go(select_task, NULL);
    lrt_mutex_lock(&mutex);
    rep.mutex_id = lrt_go(mutex_task, NULL);
    lrt_wg_add(&wg, 1);
    rep.wg_id = lrt_go(wg_task, NULL);
    rep.cond_id = lrt_go(cond_task, NULL);
    lrt_rwmutex_lock(&rw);
    rep.rw_id = lrt_go(rw_task, NULL);
    rep.sleep_id = lrt_go(sleep_task, NULL);
    rep.io_id = lrt_go(io_task, NULL);
    rep.nil_id = lrt_go(nil_task, NULL);
    rep.spin_id = lrt_go(spin_task, NULL);
    rep.main_id = lrt_self();

    global_pointer = lrt_alloc(64);
    global_pointer[0] = 0x1eaf5ca11ull;
    rep.global_addr = (uintptr_t)&global_pointer;
    rep.heap_object = (uintptr_t)global_pointer;
    rep.heap_value = global_pointer[0];
    rep.noscan_object = (uintptr_t)lrt_alloc_noscan(100);
    rep.code_addr = (uintptr_t)&spin_task;
    memcpy(&rep.code_bytes, (const void *)&spin_task, sizeof rep.code_bytes);

    /* Let every task reach its wait (and the spinner its loop). */
    while (spin_counter == 0 || lrt_num_tasks() < 15)
        lrt_sleep(LRT_MILLISECOND);
    lrt_sleep(20 * LRT_MILLISECOND);
    rep.called_ns = lrt_now();
    rep.snapshot_result = lrt_snapshot(path, "known states");
    rep.returned_ns = lrt_now();
    rep.pause_start_ns = lrt_snapshot_last_pause_start_ns();
    rep.pause_ns = lrt_snapshot_last_pause_ns();
    snaptest_report(&rep, sizeof rep);
    _exit(0);                         /* the spinner never ends */
}

/* Runs known_states in a child, which snapshots itself; opens the file. */
static void snapshot_known_states(report *r, ls_core **core, ls_runtime **rt)
{
    char path[512];
    snprintf(path, sizeof path, "%s/known.snap", snaptest_dir());
    int status = snaptest_run(known_states, path, r, sizeof *r);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(r->snapshot_result, 0);
    snaptest_open(path, core, rt);
}

static void check_wait(const ls_runtime *rt, uint64_t id, const char *reason, uint64_t addr)
{
    const ls_task *t = snaptest_task(rt, id);
    if (!t)
        fail_msg("task %llu is missing", (unsigned long long)id);
    assert_int_equal(t->state, LS_TASK_WAITING);
    assert_string_equal(ls_reason_name(rt, t->wait_reason), reason);
    if (addr) {
        assert_int_equal(t->wait_count, 1);
        assert_int_equal(t->wait_addrs[0], addr);
    }
}

static void test_every_task_state_reason_and_waited_object(void **state)
{
    (void)state;
    report r;
    ls_core *core;
    ls_runtime *rt;
    snapshot_known_states(&r, &core, &rt);
    assert_int_equal(rt->skipped_tasks, 0);
    assert_int_equal(rt->ntasks, 15);

    for (int i = 0; i < 3; i++)
        check_wait(rt, r.recv_ids[i], "chan receive", r.chan_a);
    for (int i = 0; i < 2; i++)
        check_wait(rt, r.send_ids[i], "chan send", r.chan_b);
    check_wait(rt, r.mutex_id, "mutex lock", r.mutex);
    check_wait(rt, r.wg_id, "waitgroup wait", r.wg);
    check_wait(rt, r.cond_id, "cond wait", r.cond);
    check_wait(rt, r.rw_id, "rwmutex rlock", r.rw);
    check_wait(rt, r.sleep_id, "sleep", 0);
    check_wait(rt, r.io_id, "io wait", 0);
    check_wait(rt, r.nil_id, "chan send (nil chan)", 0);
    assert_int_equal(snaptest_task(rt, r.nil_id)->wait_count, 0);

    /* The select waits on its three non-nil channels. */
    const ls_task *sel = snaptest_task(rt, r.select_id);
    assert_non_null(sel);
    assert_string_equal(ls_reason_name(rt, sel->wait_reason), "select");
    assert_int_equal(sel->wait_count, 3);
    assert_true(snaptest_waits_on(sel, r.chan_a));
    assert_true(snaptest_waits_on(sel, r.chan_d));
    assert_true(snaptest_waits_on(sel, r.chan_c));

    /* Parent ids and the main task. */
    const ls_task *main_task = snaptest_task(rt, r.main_id);
    assert_non_null(main_task);
    assert_true(main_task->is_main);
    assert_int_equal(main_task->parent_id, 0);
    assert_int_equal(snaptest_task(rt, r.recv_ids[0])->parent_id, r.main_id);
    assert_true(snaptest_task(rt, r.recv_ids[0])->create_pc != 0);

    /* The reasons a leak can be: candidates; sleep and io wait are not. */
    uint64_t mask = rt->root.candidate_mask;
    assert_true(mask & (1ull << snaptest_task(rt, r.recv_ids[0])->wait_reason));
    assert_false(mask & (1ull << snaptest_task(rt, r.sleep_id)->wait_reason));
    assert_false(mask & (1ull << snaptest_task(rt, r.io_id)->wait_reason));
    assert_true(rt->root.never_wakes_mask & (1ull << snaptest_task(rt, r.nil_id)->wait_reason));
    ls_runtime_free(rt);
    ls_core_close(core);
}

static void test_running_tasks_have_their_threads_registers(void **state)
{
    (void)state;
    report r;
    ls_core *core;
    ls_runtime *rt;
    snapshot_known_states(&r, &core, &rt);

    /* The spinner and the main task (which took the snapshot) run. */
    const ls_task *spin = snaptest_task(rt, r.spin_id);
    assert_non_null(spin);
    assert_int_equal(spin->state, LS_TASK_RUNNING);
    assert_true(spin->worker_tid > 0);
    const ls_thread *th = NULL;
    for (size_t i = 0; i < core->nthreads; i++)
        if (core->threads[i].tid == spin->worker_tid)
            th = &core->threads[i];
    assert_non_null(th);                 /* stopped, registers saved */
    uint64_t rsp = th->regs[19];         /* user_regs_struct.rsp */
    assert_true(rsp >= spin->stack_lo && rsp < spin->stack_hi);
    /* Its live stack is in the file. */
    assert_non_null(ls_core_pointer(core, rsp, spin->stack_hi - rsp));
    const ls_task *main_task = snaptest_task(rt, r.main_id);
    assert_int_equal(main_task->state, LS_TASK_RUNNING);
    ls_runtime_free(rt);
    ls_core_close(core);
}

/* Every parked task is a pseudo-thread for gdb (a LEAKSCAN NT_PRSTATUS),
 * which the reader counts but never takes for a thread of the analysis. */
static void test_parked_tasks_are_threads_for_debuggers_only(void **state)
{
    (void)state;
    report r;
    ls_core *core;
    ls_runtime *rt;
    snapshot_known_states(&r, &core, &rt);
    size_t parked = 0;
    for (size_t i = 0; i < rt->ntasks; i++)
        parked += rt->tasks[i].state == LS_TASK_WAITING || rt->tasks[i].state == LS_TASK_RUNNABLE;
    assert_true(parked >= 12);
    assert_int_equal(core->pseudo_threads, parked);
    for (size_t i = 0; i < core->nthreads; i++)
        assert_true(core->threads[i].tid < LS_PSEUDO_TID_BASE);
    assert_int_equal(core->nthreads, core->note.threads_stopped);
    ls_runtime_free(rt);
    ls_core_close(core);
}

static void test_segments_cover_heap_stacks_and_globals(void **state)
{
    (void)state;
    report r;
    ls_core *core;
    ls_runtime *rt;
    snapshot_known_states(&r, &core, &rt);

    /* The global holds the heap object's address; the object its value. */
    uint64_t v;
    assert_true(ls_core_read_u64(core, r.global_addr, &v));
    assert_int_equal(v, r.heap_object);
    assert_true(ls_core_read_u64(core, r.heap_object, &v));
    assert_int_equal(v, r.heap_value);

    /* Heap objects are in spans in use, their alloc bits set. */
    const ls_span *s = snaptest_span(rt, r.heap_object);
    assert_non_null(s);
    uint32_t idx = (uint32_t)((r.heap_object - s->base) / s->elem_size);
    assert_true(ls_span_in_use(core, s, idx));
    assert_false(s->noscan);
    s = snaptest_span(rt, r.chan_a);
    assert_non_null(s);
    assert_true(ls_span_in_use(core, s, (uint32_t)((r.chan_a - s->base) / s->elem_size)));
    s = snaptest_span(rt, r.noscan_object);
    assert_non_null(s);
    assert_true(s->noscan);

    /* Each parked task's stack, from its saved stack pointer up, is in. */
    for (size_t i = 0; i < rt->ntasks; i++) {
        const ls_task *t = &rt->tasks[i];
        if (t->state != LS_TASK_WAITING)
            continue;
        uint64_t sp = t->regs[0];
        assert_true(sp >= t->stack_lo && sp < t->stack_hi);
        if (!ls_core_pointer(core, sp, t->stack_hi - sp))
            fail_msg("task %llu: stack [%#llx, %#llx) is not in the snapshot",
                     (unsigned long long)t->id, (unsigned long long)sp,
                     (unsigned long long)t->stack_hi);
    }
    ls_runtime_free(rt);
    ls_core_close(core);
}

static void test_read_only_code_reads_from_the_mapped_file(void **state)
{
    (void)state;
    report r;
    ls_core *core;
    ls_runtime *rt;
    snapshot_known_states(&r, &core, &rt);
    assert_null(ls_core_segment(core, r.code_addr));      /* not copied ... */
    uint64_t bytes;
    assert_true(ls_core_read_u64(core, r.code_addr, &bytes)); /* ... but readable */
    assert_int_equal(bytes, r.code_bytes);
    ls_runtime_free(rt);
    ls_core_close(core);
}

static void test_note_says_who_when_and_why(void **state)
{
    (void)state;
    report r;
    ls_core *core;
    ls_runtime *rt;
    snapshot_known_states(&r, &core, &rt);
    assert_string_equal(core->reason, "known states");
    assert_non_null(strstr(core->exe_path, "test-decode"));
    assert_int_equal(core->build_id_size, 20);          /* GNU build-id, SHA-1 */
    assert_true(core->note.pid > 1);
    assert_true(core->note.time_unix_ns > 1700000000ll * 1000000000ll);
    assert_true(core->note.pause_ns > 0);
    /* The program learns the pause too: when it began and how long, within the call. */
    assert_true(r.pause_ns > 0);
    assert_true(r.pause_start_ns >= r.called_ns);
    assert_true(r.pause_start_ns + r.pause_ns <= r.returned_ns);
    assert_int_equal(core->note.threads, core->note.threads_stopped);
    assert_true(core->nfiles > 0);
    assert_non_null(core->auxv);
    /* The file is private to its owner. */
    struct stat st;
    char path[512];
    snprintf(path, sizeof path, "%s/known.snap", snaptest_dir());
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    ls_runtime_free(rt);
    ls_core_close(core);
}

/* Every loaded object's build-id is recorded (the modules note, read from
 * the program's memory), the executable's is the note's, and each file of
 * this machine, unchanged since, is found to be the object that ran. */
static void test_every_loaded_object_is_recorded_by_build_id(void **state)
{
    (void)state;
    report r;
    ls_core *core;
    ls_runtime *rt;
    snapshot_known_states(&r, &core, &rt);
    assert_true(core->module_ids_count >= 2);          /* the test, libc, ... */
    size_t exe = 0, libc = 0;
    for (size_t i = 0; i < core->nmodules; i++) {
        const ls_module *m = &core->modules[i];
        if (strstr(m->path, "libc.so"))
            libc++;
        if (strcmp(m->path, core->exe_path) == 0) {
            exe++;
            assert_int_equal(m->build_id_size, core->build_id_size);
            assert_memory_equal(m->build_id, core->build_id, core->build_id_size);
        }
        if (m->elf_in_core) {
            assert_int_equal(m->build_id_size, 20);
            assert_int_equal(m->state, LS_MODULE_MATCH);
        }
    }
    assert_int_equal(exe, 1);
    assert_int_equal(libc, 1);
    ls_runtime_free(rt);
    ls_core_close(core);
}

/* Ancestry and labels: a task three generations down knows its creators
 * (the parent first) and carries the label its grandparent set. */
typedef struct lineage {
    int      result;
    uint64_t main_id, a_id, b_id, c_id;
} lineage;

static lineage line;
static lrt_chan *lineage_park;

static void lineage_c(void *arg) { (void)arg; line.c_id = lrt_self(); lrt_chan_recv(lineage_park, NULL); }
static void lineage_b(void *arg) { line.b_id = lrt_self(); lrt_go(lineage_c, arg); }
static void lineage_a(void *arg)
{
    line.a_id = lrt_self();
    lrt_label_set("request", "7");
    lrt_label_set("user", "ada");
    lrt_go(lineage_b, arg);
}

static void lineage_main(void *path)
{
    line.main_id = lrt_self();
    lineage_park = lrt_chan_make(0, 0);
    lrt_go(lineage_a, NULL);
    while (!__atomic_load_n(&line.c_id, __ATOMIC_SEQ_CST))
        lrt_sleep(LRT_MILLISECOND);
    lrt_sleep(10 * LRT_MILLISECOND);
    line.result = lrt_snapshot(path, "lineage");
    snaptest_report(&line, sizeof line);
    lrt_chan_close(lineage_park);
}

static void test_ancestry_and_labels_are_decoded(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/lineage.snap", snaptest_dir());
    lineage r;
    int status = snaptest_run(lineage_main, path, &r, sizeof r);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(r.result, 0);
    ls_core *core;
    ls_runtime *rt;
    snaptest_open(path, &core, &rt);
    const ls_task *c = snaptest_task(rt, r.c_id);
    assert_non_null(c);
    assert_int_equal(c->parent_id, r.b_id);
    assert_int_equal(c->nancestry, 3);
    assert_int_equal(c->ancestry[0].id, r.b_id);
    assert_int_equal(c->ancestry[0].parent_id, r.a_id);
    assert_int_equal(c->ancestry[1].id, r.a_id);
    assert_int_equal(c->ancestry[1].parent_id, r.main_id);
    assert_int_equal(c->ancestry[2].id, r.main_id);
    assert_int_equal(c->ancestry[2].parent_id, 0);
    assert_true(c->ancestry[0].create_pc != 0 && c->ancestry[1].create_pc != 0);
    assert_true(c->label_set >= 0);
    const ls_label_set *set = &rt->label_sets[c->label_set];
    assert_int_equal(set->count, 2);
    assert_string_equal(set->labels[0].key, "request");
    assert_string_equal(set->labels[0].value, "7");
    assert_string_equal(set->labels[1].key, "user");
    assert_string_equal(set->labels[1].value, "ada");
    const ls_task *main_task = snaptest_task(rt, r.main_id);
    assert_non_null(main_task);
    assert_int_equal(main_task->label_set, -1);
    assert_int_equal(main_task->nancestry, 0);
    ls_runtime_free(rt);
    ls_core_close(core);
}

/* A crash can leave a task slot half-written: such a slot is skipped,
 * counted and explained, and every other task still reads. */
static void test_a_half_written_task_slot_is_skipped_with_a_reason(void **state)
{
    (void)state;
    report r;
    ls_core *core;
    ls_runtime *rt;
    snapshot_known_states(&r, &core, &rt);
    size_t before = rt->ntasks;
    const ls_task *victim = snaptest_task(rt, r.recv_ids[0]);
    assert_non_null(victim);
    uint64_t addr = victim->slot + rt->root.off_task_state;
    const ls_segment *seg = ls_core_segment(core, addr);
    assert_non_null(seg);
    uint64_t offset = seg->offset + (addr - seg->vaddr);
    ls_runtime_free(rt);
    ls_core_close(core);

    char path[512], copy[512];
    snprintf(path, sizeof path, "%s/known.snap", snaptest_dir());
    snprintf(copy, sizeof copy, "%s/half-written.snap", snaptest_dir());
    FILE *in = fopen(path, "rb"), *out = fopen(copy, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    uint32_t bad_state = 77;
    assert_int_equal(fseek(out, (long)offset, SEEK_SET), 0);
    assert_int_equal(fwrite(&bad_state, sizeof bad_state, 1, out), 1);
    fclose(out);

    snaptest_open(copy, &core, &rt);
    assert_int_equal(rt->skipped_tasks, 1);
    assert_string_equal(rt->skipped_task_reason, "state out of range");
    assert_int_equal(rt->ntasks, before - 1);
    assert_null(snaptest_task(rt, r.recv_ids[0]));
    assert_non_null(snaptest_task(rt, r.recv_ids[1]));
    ls_runtime_free(rt);
    ls_core_close(core);
}

/* Many tasks: more than the snapshot copies alone, so the stopped threads
 * help copy the stacks (runtime-snapshot/corefile.c, copy_stacks). Each
 * task keeps a mark of its own on its stack; every mark must come back,
 * inside the stack of one task only. */
enum { MANY_TASKS = 20000 };
#define STACK_MARK(i) (0x5eed000000000000ull | (uint64_t)(i))

static lrt_chan *many_release;
static lrt_wg many_started;

static void marked_task(void *arg)
{
    volatile uint64_t mark = STACK_MARK((uintptr_t)arg);
    lrt_wg_done(&many_started);
    lrt_chan_recv(many_release, NULL);
    (void)mark;
}

static void many_tasks(void *path)
{
    many_release = lrt_chan_make(0, 0);
    lrt_wg_add(&many_started, MANY_TASKS);
    for (uintptr_t i = 0; i < MANY_TASKS; i++)
        lrt_go(marked_task, (void *)i);
    lrt_wg_wait(&many_started);
    int result = lrt_snapshot(path, "many tasks");
    snaptest_report(&result, sizeof result);
    lrt_chan_close(many_release);
}

static void test_every_stack_of_many_tasks_is_copied_whole(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/many.snap", snaptest_dir());
    int result = -1;
    int status = snaptest_run(many_tasks, path, &result, sizeof result);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(result, 0);
    ls_core *core;
    ls_runtime *rt;
    snaptest_open(path, &core, &rt);
    static size_t seen[MANY_TASKS];          /* 1 + the task that holds it */
    memset(seen, 0, sizeof seen);
    size_t found = 0;
    for (size_t t = 0; t < rt->ntasks; t++) {
        const ls_task *task = &rt->tasks[t];
        if (task->state == LS_TASK_FREE)
            continue;
        /* The stack's bytes in the file: from the segment holding its top
         * down to where the copy starts. */
        const ls_segment *seg = ls_core_segment(core, task->stack_hi - 8);
        assert_non_null(seg);
        uint64_t lo = seg->vaddr > task->stack_lo ? seg->vaddr : task->stack_lo;
        const uint64_t *words = ls_core_pointer(core, lo, task->stack_hi - lo);
        assert_non_null(words);
        for (size_t w = 0; w < (task->stack_hi - lo) / 8; w++) {
            if ((words[w] >> 48) != 0x5eed)
                continue;
            uint64_t i = words[w] & 0xffffffffffffull;
            assert_true(i < MANY_TASKS);
            /* In one task's stack only (a frame may hold a second copy). */
            if (seen[i] == 0) {
                seen[i] = t + 1;
                found++;
            }
            assert_int_equal(seen[i], t + 1);
        }
    }
    assert_int_equal(found, MANY_TASKS);
    ls_runtime_free(rt);
    ls_core_close(core);
}

static int teardown(void **state)
{
    (void)state;
    snaptest_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_task_state_reason_and_waited_object),
        cmocka_unit_test(test_running_tasks_have_their_threads_registers),
        cmocka_unit_test(test_parked_tasks_are_threads_for_debuggers_only),
        cmocka_unit_test(test_segments_cover_heap_stacks_and_globals),
        cmocka_unit_test(test_read_only_code_reads_from_the_mapped_file),
        cmocka_unit_test(test_note_says_who_when_and_why),
        cmocka_unit_test(test_every_loaded_object_is_recorded_by_build_id),
        cmocka_unit_test(test_ancestry_and_labels_are_decoded),
        cmocka_unit_test(test_a_half_written_task_slot_is_skipped_with_a_reason),
        cmocka_unit_test(test_every_stack_of_many_tasks_is_copied_whole),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}

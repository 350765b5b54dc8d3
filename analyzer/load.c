/*
 * load.c — opening a snapshot: the core (formats/reader.c), the runtime
 * read through its debug root, and the index from an address to the object
 * holding it (heap object or task stack) that the mark needs in O(1) (a
 * page table), or O(log n) when a page table would be large beside the
 * file; threads by tid; the clusters of task stacks a file made overlap.
 * Every table is sized by what the file holds, not by what it claims.
 */
#include "leakscan.h"

#include <fcntl.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const ls_snapshot *sort_ctx;

static int compare_stack_lo(const void *a, const void *b)
{
    const ls_task *x = &sort_ctx->rt->tasks[*(const uint32_t *)a];
    const ls_task *y = &sort_ctx->rt->tasks[*(const uint32_t *)b];
    return x->stack_lo < y->stack_lo ? -1 : x->stack_lo > y->stack_lo;
}

/* The flat page index costs 4 bytes per page of arena in use, which is
 * what the debug root claims, not what the file holds: a span of 2^30
 * pages in an arena that size took 4.2 GB and 15 s, and 2^62 bytes in use
 * asked for 2^51. It is built only when it is small beside the file (or
 * small outright); otherwise address -> span is a binary search of the
 * spans (sorted by base, disjoint, on page boundaries: the reader checks),
 * O(log n) a lookup, with the same answers. */
#define FLAT_INDEX_MIN_PAGES (UINT64_C(1) << 22)    /* 16 MiB of index */

/* Threads by tid, and the workers' tids, sorted: the mark asks of every
 * thread whether it is a worker, and of every running task which thread
 * runs it — by a search of all of them, 100,000 threads (notes) and 8,192
 * workers took 31 s. */
static int compare_thread_tid(const void *a, const void *b)
{
    const ls_thread *x = &sort_ctx->core->threads[*(const uint32_t *)a];
    const ls_thread *y = &sort_ctx->core->threads[*(const uint32_t *)b];
    if (x->tid != y->tid)
        return x->tid < y->tid ? -1 : 1;
    return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;    /* the first in the file first */
}

static int compare_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int index_threads(ls_snapshot *s, ls_error *err)
{
    const ls_core *core = s->core;
    const ls_debug_root *r = &s->rt->root;
    s->threads_by_tid = malloc((core->nthreads ? core->nthreads : 1) * sizeof *s->threads_by_tid);
    s->worker_tids = malloc((r->worker_count ? r->worker_count : 1) * sizeof *s->worker_tids);
    if (!s->threads_by_tid || !s->worker_tids)
        return ls_error_set(err, s->path, "out of memory indexing %zu threads", core->nthreads);
    for (size_t i = 0; i < core->nthreads; i++)
        s->threads_by_tid[i] = (uint32_t)i;
    sort_ctx = s;
    qsort(s->threads_by_tid, core->nthreads, sizeof *s->threads_by_tid, compare_thread_tid);
    for (uint32_t w = 0; w < r->worker_count; w++)
        if (ls_core_read_u32(core, r->workers + (uint64_t)w * r->worker_stride + r->off_worker_tid,
                             &s->worker_tids[s->nworker_tids]))
            s->nworker_tids++;
    qsort(s->worker_tids, s->nworker_tids, sizeof *s->worker_tids, compare_u32);
    return 0;
}

const ls_thread *ls_thread_of(const ls_snapshot *s, int32_t tid)
{
    size_t lo = 0, hi = s->core->nthreads;     /* the first thread of tid */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->core->threads[s->threads_by_tid[mid]].tid < tid) lo = mid + 1; else hi = mid;
    }
    return lo < s->core->nthreads && s->core->threads[s->threads_by_tid[lo]].tid == tid
           ? &s->core->threads[s->threads_by_tid[lo]] : NULL;
}

bool ls_is_worker_tid(const ls_snapshot *s, uint32_t tid)
{
    return bsearch(&tid, s->worker_tids, s->nworker_tids, sizeof tid, compare_u32) != NULL;
}

static int build_index(ls_snapshot *s, ls_error *err)
{
    const ls_runtime *rt = s->rt;
    const ls_debug_root *r = &rt->root;
    /* Every page that holds used arena, the last one too when arena_used
     * is not a whole number of pages (a lookup may land there). */
    s->npages = r->arena_used / r->page_size + (r->arena_used % r->page_size != 0);
    if (r->arena_used > r->arena_size)
        return ls_error_set(err, s->path, "debug root: heap in use (%llu) exceeds the arena (%llu)",
                            (unsigned long long)r->arena_used, (unsigned long long)r->arena_size);
    bool flat = s->npages <= FLAT_INDEX_MIN_PAGES || s->npages <= s->core->size / sizeof *s->page_spans;
    s->page_spans = flat ? calloc(s->npages ? s->npages : 1, sizeof *s->page_spans) : NULL;
    s->first_object = calloc(rt->nspans + 1, sizeof *s->first_object);
    s->tasks_by_stack = calloc(rt->ntasks ? rt->ntasks : 1, sizeof *s->tasks_by_stack);
    if ((flat && !s->page_spans) || !s->first_object || !s->tasks_by_stack)
        return ls_error_set(err, s->path, "out of memory indexing %zu spans", rt->nspans);
    uint64_t objects = 0;
    for (size_t i = 0; i < rt->nspans; i++) {
        const ls_span *sp = &rt->spans[i];
        s->first_object[i] = objects;
        objects += sp->nelems;
        uint64_t first = (sp->base - r->arena) / r->page_size;
        uint64_t count = sp->size / r->page_size;
        for (uint64_t p = first; flat && p < first + count && p < s->npages; p++)
            s->page_spans[p] = (uint32_t)(i + 1);
    }
    s->first_object[rt->nspans] = objects;
    s->nheap_objects = objects;
    for (size_t i = 0; i < rt->ntasks; i++)
        s->tasks_by_stack[i] = (uint32_t)i;
    sort_ctx = s;
    qsort(s->tasks_by_stack, rt->ntasks, sizeof *s->tasks_by_stack, compare_stack_lo);
    return index_threads(s, err);
}

size_t ls_span_index(const ls_snapshot *s, uint64_t addr)
{
    const ls_debug_root *r = &s->rt->root;
    if (addr - r->arena >= r->arena_used)
        return 0;
    if (s->page_spans)
        return s->page_spans[(addr - r->arena) / r->page_size];
    size_t lo = 0, hi = s->rt->nspans;        /* the last span based at or below addr */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->rt->spans[mid].base <= addr) lo = mid + 1; else hi = mid;
    }
    return lo && addr - s->rt->spans[lo - 1].base < s->rt->spans[lo - 1].size ? lo : 0;
}

void ls_task_stack_range(const ls_snapshot *s, const ls_task *t, uint64_t *lo, uint64_t *hi)
{
    uint64_t sp = t->regs[0], red_zone = 0;
    if (t->state == LS_TASK_RUNNING && t->worker_tid) {
        red_zone = 128;                /* interrupted anywhere: may be in use */
        const ls_thread *th = ls_thread_of(s, t->worker_tid);
        if (th)
            sp = th->regs[19];         /* user_regs_struct.rsp */
    }
    *hi = t->stack_hi;
    *lo = sp >= t->stack_lo + red_zone && sp <= t->stack_hi ? sp - red_zone : t->stack_lo;
}

/* Task stacks never overlap in a runtime; a file can make them (16,384
 * runnable tasks whose stacks all were one 12.6 MB segment: each byte was
 * scanned once per task, 67 s). The live stacks (ls_task_stack_range) that
 * overlap are put in clusters, each the union of its tasks' live stacks:
 * the mark (and retained.c) scans a cluster once, whichever of its tasks
 * comes first, for all of them. That scans more than one task's stack when
 * only it is reached, which can hide a leak, never invent one. *shared:
 * how many tasks are in a cluster. 0, or -1 when out of memory. */
typedef struct live_stack { uint64_t lo, hi; uint32_t task; } live_stack;

static int compare_live(const void *a, const void *b)
{
    const live_stack *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static int find_shared_stacks(ls_snapshot *s, size_t *shared)
{
    const ls_runtime *rt = s->rt;
    *shared = 0;
    live_stack *live = malloc((rt->ntasks ? rt->ntasks : 1) * sizeof *live);
    if (!live)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < rt->ntasks; i++) {
        uint64_t lo, hi;
        ls_task_stack_range(s, &rt->tasks[i], &lo, &hi);
        if (lo < hi)                           /* an empty one scans nothing */
            live[n++] = (live_stack){ lo, hi, (uint32_t)i };
    }
    qsort(live, n, sizeof *live, compare_live);
    int status = 0;
    for (size_t i = 0, end; i < n; i = end) {
        uint64_t hi = live[i].hi;
        for (end = i + 1; end < n && live[end].lo < hi; end++)
            hi = live[end].hi > hi ? live[end].hi : hi;
        if (end - i == 1)
            continue;
        if (!s->stack_cluster && !(s->stack_cluster = calloc(rt->ntasks, sizeof *s->stack_cluster))) {
            status = -1;
            break;
        }
        if ((s->nclusters & (s->nclusters - 1)) == 0) {   /* grow at powers of two */
            ls_range *grown = realloc(s->clusters, (s->nclusters ? 2 * s->nclusters : 1) * sizeof *grown);
            if (!grown) {
                status = -1;
                break;
            }
            s->clusters = grown;
        }
        s->clusters[s->nclusters++] = (ls_range){ live[i].lo, hi };
        for (size_t k = i; k < end; k++)
            s->stack_cluster[live[k].task] = (uint32_t)s->nclusters;
        *shared += end - i;
    }
    free(live);
    return status;
}

const ls_span *ls_heap_slot(const ls_snapshot *s, uint64_t addr, uint64_t *id, uint32_t *index)
{
    size_t si = ls_span_index(s, addr);
    if (!si)
        return NULL;
    const ls_span *sp = &s->rt->spans[si - 1];
    uint64_t idx = (addr - sp->base) / sp->elem_size;
    if (idx >= sp->nelems)
        return NULL;
    *index = (uint32_t)idx;
    *id = s->first_object[si - 1] + idx;
    return sp;
}

uint64_t ls_object_of(const ls_snapshot *s, uint64_t addr, int *kind)
{
    const ls_debug_root *r = &s->rt->root;
    *kind = LS_OBJ_NONE;
    if (addr - r->arena < r->arena_used) {
        uint64_t id;
        uint32_t idx;
        const ls_span *sp = ls_heap_slot(s, addr, &id, &idx);
        if (!sp || !ls_span_in_use(s->core, sp, idx))
            return LS_NO_OBJECT;
        *kind = LS_OBJ_HEAP;
        return id;
    }
    /* A task stack: the last task whose stack starts at or below addr. */
    size_t lo = 0, hi = s->rt->ntasks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->rt->tasks[s->tasks_by_stack[mid]].stack_lo <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return LS_NO_OBJECT;
    uint32_t t = s->tasks_by_stack[lo - 1];
    if (addr >= s->rt->tasks[t].stack_hi)
        return LS_NO_OBJECT;
    *kind = LS_OBJ_STACK;
    return s->nheap_objects + t;
}

/* ---------------------------------------------------------------------- */
/* Modules: which executable, which objects, and where the runtime is      */
/* ---------------------------------------------------------------------- */

#define AT_PHDR_TYPE 3

/* The executable: the module mapped where the auxiliary vector says the
 * program headers are; NULL if the core does not say. */
static ls_module *find_executable(ls_core *core)
{
    uint64_t phdr = 0;
    for (size_t i = 0; core->auxv && i + 16 <= core->auxv_size; i += 16) {
        uint64_t type, value;
        memcpy(&type, core->auxv + i, 8);
        memcpy(&value, core->auxv + i + 8, 8);
        if (type == AT_PHDR_TYPE)
            phdr = value;
    }
    const ls_module *m = phdr ? ls_core_module_at(core, phdr) : NULL;
    return (ls_module *)m;
}

/* The value of symbol LS_ROOT_SYMBOL in module m's file (its symbol
 * table, else its dynamic one), plus its load bias. 0 or -1. */
static int module_root(const ls_module *m, uint64_t *addr)
{
    int fd = ls_open_regular(m->file);
    if (fd < 0)
        return -1;
    elf_version(EV_CURRENT);
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    int status = -1;
    for (Elf_Scn *scn = NULL; elf && status != 0 && (scn = elf_nextscn(elf, scn));) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM))
            continue;
        Elf_Data *data = elf_getdata(scn, NULL);
        size_t n = sh.sh_entsize ? sh.sh_size / sh.sh_entsize : 0;
        for (size_t i = 0; data && i < n; i++) {
            GElf_Sym sym;
            if (!gelf_getsym(data, (int)i, &sym))
                break;
            const char *name = elf_strptr(elf, sh.sh_link, sym.st_name);
            if (name && sym.st_shndx != SHN_UNDEF && sym.st_value && strcmp(name, LS_ROOT_SYMBOL) == 0) {
                *addr = m->bias + sym.st_value;
                status = 0;
                break;
            }
        }
    }
    if (elf)
        elf_end(elf);
    close(fd);
    /* Stripped: the symbol table may be in its separate debug file. */
    if (status != 0 && ls_find_symbol(m->file, m->bias, LS_ROOT_SYMBOL, addr) == 0)
        status = 0;
    return status;
}

/* A kernel or gdb core has no LEAKSCAN note: lrt_debug_root is found in
 * whichever module defines it — the executable when libleakrt is linked
 * statically, libleakrt.so when it is linked as pkg-config links it. */
static int find_debug_root(const ls_snapshot *s, const ls_module *exe, uint64_t *addr, ls_error *err)
{
    const ls_core *core = s->core;
    if (exe && exe->state == LS_MODULE_MATCH && module_root(exe, addr) == 0)
        return 0;
    for (size_t i = 0; i < core->nmodules; i++) {
        const ls_module *m = &core->modules[i];
        if (m != exe && m->state == LS_MODULE_MATCH && module_root(m, addr) == 0)
            return 0;
    }
    /* Say why: a library that could hold it but is not usable, else the
     * executable. */
    for (size_t i = 0; i < core->nmodules; i++) {
        const ls_module *m = &core->modules[i];
        if (m != exe && m->state != LS_MODULE_MATCH && strstr(m->path, "libleakrt"))
            return ls_error_set(err, s->path, "the runtime's %s is in the program's %s, which cannot "
                                "be used: %s%s", LS_ROOT_SYMBOL, m->path, ls_module_state_text(m->state),
                                core->truncated_segments ? " (the core is cut short before its copy "
                                "of the library's headers)" : "");
    }
    if (exe && exe->state != LS_MODULE_MATCH)
        return ls_error_set(err, s->path, "not a leakscan snapshot, and its executable %s cannot be "
                            "used to find %s (%s; use --exe)", exe->file, LS_ROOT_SYMBOL,
                            ls_module_state_text(exe->state));
    return ls_error_set(err, s->path, "not a libleakrt program: neither %s nor the libraries it "
                        "loaded define %s (if it is stripped, --debug-dir DIR says where its "
                        "debug file is)", exe ? exe->file : "its executable", LS_ROOT_SYMBOL);
}

/* Refuses an executable that is not the one the snapshot was taken of:
 * its symbols and line table would describe another program. */
static int check_executable(const ls_snapshot *s, const ls_module *exe, ls_error *err)
{
    if (!exe || exe->state != LS_MODULE_MISMATCH)
        return 0;
    char w[2 * LS_MAX_BUILD_ID + 1], h[2 * LS_MAX_BUILD_ID + 1];
    ls_build_id_hex(exe->build_id, exe->build_id_size, w);
    ls_build_id_hex(exe->file_build_id, exe->file_build_id_size, h);
    return ls_error_set(err, s->path, "was taken of a program with build-id %s, but %s has %s%s "
                        "(rebuilt since? pass the matching executable with --exe)", w, exe->file,
                        exe->file_build_id_size ? "build-id " : "no build-id", h);
}

/* One line per loaded object that will not be used: its frames and
 * symbols show as unknown rather than as another build's. */
static void warn_modules(const ls_snapshot *s, const ls_module *exe)
{
    const ls_core *core = s->core;
    for (size_t i = 0; i < core->nmodules; i++) {
        const ls_module *m = &core->modules[i];
        bool warn = m->state == LS_MODULE_MISMATCH ||
                    (m->elf_in_core && m->state != LS_MODULE_MATCH);
        if (!warn)
            continue;
        char w[2 * LS_MAX_BUILD_ID + 1];
        ls_build_id_hex(m->build_id, m->build_id_size, w);
        char file[512];                        /* NT_FILE's path, printed safe (reader.h) */
        fprintf(stderr, "leakscan: %s: warning: %s is not used (%s%s%s): frames and symbols in it "
                "show as unknown%s\n", s->path, ls_text_safe(m->file, file, sizeof file),
                ls_module_state_text(m->state),
                m->build_id_size ? "; the program ran build-id " : "", w,
                m == exe ? " (--exe PATH names the right executable)" : "");
    }
}

/* gdb's gcore writes zeros for any stretch of a mapping it cannot read
 * whole, and a stack chunk holding guard regions is one: every task's
 * stack then reads as zeros, where return addresses must be. Marks
 * (s->stack_missing) the tasks whose used stack (up to 4 KiB of it, from
 * the stack pointer: the saved one of a parked task, its thread's for a
 * running one) is all zeros, and counts them and the tasks that have a
 * stack. A running task counts too: a task that sleeps in a loop is
 * running now and then, and a core taken then lost the only pointer to a
 * channel without a word (CI's sanitize build: 3 receivers reported
 * leaked). A stack pointer outside the task's stack (a thread between
 * two tasks) says nothing. 0, or -1 when out of memory. */
static int find_zeroed_stacks(ls_snapshot *s, size_t *zeroed, size_t *with_stack)
{
    *zeroed = *with_stack = 0;
    for (size_t i = 0; i < s->rt->ntasks; i++) {
        const ls_task *t = &s->rt->tasks[i];
        if (t->state != LS_TASK_WAITING && t->state != LS_TASK_RUNNABLE && t->state != LS_TASK_RUNNING)
            continue;
        uint64_t lo, hi;
        ls_task_stack_range(s, t, &lo, &hi);
        uint64_t sp = t->regs[0];              /* the root's first register is the SP */
        if (t->state == LS_TASK_RUNNING) {
            const ls_thread *th = t->worker_tid ? ls_thread_of(s, t->worker_tid) : NULL;
            if (!th || th->nregs < 20)
                continue;
            sp = th->regs[19];                 /* user_regs_struct.rsp */
        }
        if (sp < t->stack_lo || sp >= t->stack_hi)
            continue;
        (*with_stack)++;
        uint64_t words[512];
        size_t n = (size_t)(hi - sp) / 8;
        n = n < 512 ? n : 512;
        bool any = !ls_core_read(s->core, sp, words, n * 8);   /* unreadable: not this case */
        for (size_t w = 0; w < n && !any; w++)
            any = words[w] != 0;
        if (any)
            continue;
        if (!s->stack_missing && !(s->stack_missing = calloc(s->rt->ntasks, sizeof *s->stack_missing)))
            return -1;
        s->stack_missing[i] = true;
        (*zeroed)++;
    }
    return 0;
}

int ls_snapshot_open(const char *path, const ls_options *opt, ls_snapshot **out, ls_error *err)
{
    return ls_snapshot_open_fd(path, -1, opt, out, err);
}

int ls_snapshot_open_fd(const char *path, int fd, const ls_options *opt, ls_snapshot **out, ls_error *err)
{
    *out = NULL;
    ls_snapshot *s = calloc(1, sizeof *s);
    if (!s) {
        if (fd >= 0)
            close(fd);
        return ls_error_set(err, path, "out of memory");
    }
    s->path = path;
    if ((fd >= 0 ? ls_core_open_fd(path, fd, &s->core, err) : ls_core_open(path, &s->core, err)) != 0)
        goto fail;
    uint64_t root_addr = 0;
    ls_core *core = s->core;
    ls_module *exe = NULL;
    if (core->has_note) {
        s->time_monotonic_ns = core->note.time_monotonic_ns;
        root_addr = core->note.debug_root;
        for (size_t i = 0; i < core->nmodules && !exe; i++)
            if (strcmp(core->modules[i].path, core->exe_path) == 0)
                exe = &core->modules[i];
        /* The note names the executable's build-id; older snapshots hold
         * no copy of its headers. */
        if (exe && !exe->build_id_size && core->build_id_size <= LS_MAX_BUILD_ID) {
            memcpy(exe->build_id, core->build_id, core->build_id_size);
            exe->build_id_size = (uint32_t)core->build_id_size;
        }
    } else {
        exe = find_executable(core);
        if (!exe) {
            ls_error_set(err, path, "not a leakscan snapshot, and the core does not say which "
                         "executable it is (no NT_FILE/AUXV)");
            goto fail;
        }
    }
    const char *exe_in_core = exe ? exe->path : core->exe_path;
    ls_core_check_modules(core, exe_in_core, opt ? opt->exe : NULL);
    s->exe_path = exe ? exe->file : opt && opt->exe ? opt->exe : core->exe_path;
    if (check_executable(s, exe, err) != 0)
        goto fail;
    if (!core->has_note) {
        if (find_debug_root(s, exe, &root_addr, err) != 0)
            goto fail;
        core->note.pid = core->nthreads ? (uint64_t)core->threads[0].tid : 0;
        core->reason = "core dump";
        struct stat st;                        /* written when it was taken */
        if (fstat(core->fd, &st) == 0)
            core->note.time_unix_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    }
    if (!(opt && opt->quiet))
        warn_modules(s, exe);
    if (ls_runtime_read(s->core, root_addr, &s->rt, err) != 0)
        goto fail;
    if (build_index(s, err) != 0)
        goto fail;
    size_t shared = 0;
    if (find_shared_stacks(s, &shared) != 0) {
        ls_error_set(err, path, "out of memory");
        goto fail;
    }

    if (s->rt->ntasks == 0 && s->rt->absent_tasks) {
        /* Nothing to analyse: "no leaks" would be a guess. */
        ls_error_set(err, path, "the file holds none of the runtime's task slots (%zu are not in it%s): "
                     "nothing to analyse%s", s->rt->absent_tasks,
                     s->core->truncated_segments ? "; the core is cut short" : "",
                     s->core->truncated_segments ? " (raise the core size limit: ulimit -c unlimited)" : "");
        goto fail;
    }
    if (s->core->truncated_segments && !(opt && opt->quiet))
        fprintf(stderr, "leakscan: %s: warning: the core is cut short (RLIMIT_CORE? a full disk?): "
                "%zu segment%s (%.1f MiB of address space) %s not in the file; tasks and objects there "
                "are missing, and a task that memory could wake counts as unknown, not leaked\n", path,
                s->core->truncated_segments, ls_s(s->core->truncated_segments),
                (double)s->core->truncated_bytes / 1048576, s->core->truncated_segments == 1 ? "is" : "are");
    if (!s->time_monotonic_ns) {
        /* A core has no snapshot note, so no clock reading of its own; the
         * runtime's clock is in it still: each waiting task's wait_since
         * is when it parked. The latest is the last the runtime read, a
         * little before the core: waits measured to it are lower bounds
         * (the task that parked last shows none). */
        for (size_t i = 0; i < s->rt->ntasks; i++)
            if (s->rt->tasks[i].state == LS_TASK_WAITING && s->rt->tasks[i].wait_since > s->time_monotonic_ns)
                s->time_monotonic_ns = s->rt->tasks[i].wait_since;
        s->clock_from_parks = s->time_monotonic_ns != 0;
    }
    size_t with_stack = 0, zeroed = 0;
    if (!s->core->has_note && find_zeroed_stacks(s, &zeroed, &with_stack) != 0) {
        ls_error_set(err, path, "out of memory");
        goto fail;
    }
    if (zeroed && zeroed == with_stack) {
        /* Nothing to analyse: every verdict would be unknown. */
        ls_error_set(err, path, "the stack%s of all %zu task%s read%s as zeros (a gcore core? gdb "
                     "cannot read around stack guard regions): take the core with 'leakscan attach "
                     "--core PID' or as a kernel core, or run the program with LRT_STACK_GUARD=page",
                     ls_s(with_stack), with_stack, ls_s(with_stack), with_stack == 1 ? "s" : "");
        goto fail;
    }
    if (zeroed && !(opt && opt->quiet))
        fprintf(stderr, "leakscan: %s: warning: the stacks of %zu of %zu tasks read as zeros, "
                "so their frames and the pointers on them are missing (a gcore core? gdb cannot "
                "read around stack guard regions: use 'leakscan attach --core', a kernel core, or "
                "run the program with LRT_STACK_GUARD=page); tasks they could wake count as unknown\n",
                path, zeroed, with_stack);
    if (s->rt->main_tasks > 1 && !(opt && opt->quiet)) {
        uint64_t main_id = 0;
        for (size_t i = 0; i < s->rt->ntasks && !main_id; i++)
            main_id = s->rt->tasks[i].is_main ? s->rt->tasks[i].id : 0;
        fprintf(stderr, "leakscan: %s: warning: %zu tasks are marked as the main task, which the runtime "
                "has one of: the first (task %llu) is taken as main, the others as ordinary tasks\n",
                path, s->rt->main_tasks, (unsigned long long)main_id);
    }
    if (shared && !(opt && opt->quiet))
        fprintf(stderr, "leakscan: %s: warning: the stacks of %zu tasks overlap each other's, which a "
                "runtime's never do: each such stretch of memory is scanned once, for all of them "
                "(this can hide a leak, not invent one)\n", path, shared);
    if (s->rt->unread_label_sets && !(opt && opt->quiet))
        fprintf(stderr, "leakscan: %s: warning: %zu label sets are not read: their labels would be more "
                "than the file's size can hold (16 bytes each; sets that overlap), so their tasks show "
                "no labels\n", path, s->rt->unread_label_sets);
    if ((s->rt->skipped_tasks || s->rt->skipped_spans) && !(opt && opt->quiet))
        fprintf(stderr, "leakscan: %s: warning: skipped %zu task slots%s%s%s and %zu spans%s%s%s that "
                "failed validation (a crash can leave them half-written); the rest is reported\n",
                path, s->rt->skipped_tasks,
                s->rt->skipped_tasks ? " (first: " : "", s->rt->skipped_tasks ? s->rt->skipped_task_reason : "",
                s->rt->skipped_tasks ? ")" : "", s->rt->skipped_spans,
                s->rt->skipped_spans ? " (first: " : "", s->rt->skipped_spans ? s->rt->skipped_span_reason : "",
                s->rt->skipped_spans ? ")" : "");
    *out = s;
    return 0;
fail:
    ls_snapshot_close(s);
    return -1;
}

void ls_snapshot_close(ls_snapshot *s)
{
    if (!s)
        return;
    ls_runtime_free(s->rt);
    ls_core_close(s->core);
    free(s->page_spans);
    free(s->first_object);
    free(s->tasks_by_stack);
    free(s->stack_missing);
    free(s->stack_cluster);
    free(s->clusters);
    free(s->threads_by_tid);
    free(s->worker_tids);
    free(s);
}

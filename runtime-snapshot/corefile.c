/*
 * corefile.c — the snapshot as an ELF core file, written by the forked
 * child of a stopped program.
 *
 * The child has a frozen copy of the whole address space and one thread.
 * Another thread may have been stopped holding malloc's or stdio's lock, so
 * everything here uses plain system calls and mmap'd scratch memory.
 *
 *   file:  ELF header | program headers | [section header 0: PN_XNUM]
 *          | PT_NOTE data (CORE notes, LEAKSCAN note) | PT_LOAD data ...
 *
 * What is copied (formats/README.md has the full rules):
 *   - tracked heap: only spans in use;
 *   - task stacks: only the used part of each live task's stack;
 *   - runtime-internal memory and every other writable mapping: only pages
 *     that exist (/proc/self/pagemap: present or swapped); untouched
 *     anonymous pages read as zero and cost nothing;
 *   - file-backed writable mappings (.data of each module): whole.
 * Read-only code is not copied: NT_FILE says where it comes from.
 */
#include "stop.h"
#include "heap.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/procfs.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096

/* ---------------------------------------------------------------------- */
/* Scratch memory and small helpers (no malloc, no stdio)                 */
/* ---------------------------------------------------------------------- */

/*
 * All of the child's own memory — its stack and every buffer — comes from
 * one reservation made before it reads /proc/self/maps, so that it can
 * leave itself out of the snapshot: its buffers hold stack addresses that
 * would otherwise read as roots pointing into every task's stack.
 */
static struct {
    char  *base;
    size_t size, used;
} scratch;

#define SCRATCH_SIZE ((size_t)16 << 30)      /* address space only */

void *lrt_core_scratch_init(size_t stack_size)
{
    void *p = mmap(NULL, SCRATCH_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    scratch.base = p;
    scratch.size = SCRATCH_SIZE;
    scratch.used = stack_size;               /* the stack is at the bottom */
    return p;
}

typedef struct buf { char *data; size_t len, cap; } buf;

static int buf_reserve(buf *b, size_t extra)
{
    if (b->len + extra <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 65536;
    while (cap < b->len + extra)
        cap *= 2;
    if (scratch.used + cap > scratch.size)
        return ENOMEM;
    char *p = scratch.base + scratch.used;   /* bump; old buffers are abandoned */
    scratch.used += cap;
    if (b->len)
        memcpy(p, b->data, b->len);
    b->data = p;
    b->cap = cap;
    return 0;
}

static int buf_append(buf *b, const void *p, size_t n)
{
    int err = buf_reserve(b, n);
    if (err)
        return err;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

static int buf_zeros(buf *b, size_t n)
{
    int err = buf_reserve(b, n);
    if (err)
        return err;
    memset(b->data + b->len, 0, n);
    b->len += n;
    return 0;
}

static int read_file(const char *path, buf *b)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    for (;;) {
        int err = buf_reserve(b, 65536);
        if (err) { close(fd); return err; }
        ssize_t n = read(fd, b->data + b->len, b->cap - b->len);
        if (n < 0) {
            if (errno == EINTR) continue;
            err = errno; close(fd); return err;
        }
        if (n == 0)
            break;
        b->len += (size_t)n;
    }
    close(fd);
    return 0;
}

/* Through syscall(2), not write(2): sanitizers intercept write() and would
 * check the program's memory (stack redzones) as if we were reading it. */
static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = syscall(SYS_write, fd, c, n > 0x40000000 ? 0x40000000 : n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static uint64_t parse_hex(const char **p)
{
    uint64_t v = 0;
    for (;; (*p)++) {
        char c = **p;
        if (c >= '0' && c <= '9') v = v * 16 + (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v = v * 16 + (uint64_t)(c - 'a' + 10);
        else return v;
    }
}

static void skip_field(const char **p)
{
    while (**p && **p != ' ' && **p != '\n') (*p)++;
    while (**p == ' ') (*p)++;
}

static size_t append_decimal(char *out, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* ---------------------------------------------------------------------- */
/* Ranges to copy                                                         */
/* ---------------------------------------------------------------------- */

/* [start, end) of the program; its bytes are at src (a copy) or, when src
 * is NULL, at start itself. */
typedef struct range { uint64_t start, end; const uint8_t *src; } range;

static int add_range(buf *ranges, uint64_t start, uint64_t end)
{
    if (end <= start)
        return 0;
    range r = { start, end, NULL };
    return buf_append(ranges, &r, sizeof r);
}

static int add_copy(buf *ranges, uint64_t start, uint64_t end, const uint8_t *src)
{
    range r = { start, end, src };
    return end > start ? buf_append(ranges, &r, sizeof r) : 0;
}

/* PAGEMAP_SCAN (Linux 6.7): the kernel walks the page tables and returns
 * the runs of pages that exist, skipping empty tables wholesale — fast even
 * over terabytes of reserved address space. Declared here for older headers. */
#define LRT_PAGEMAP_SCAN _IOWR('f', 16, struct lrt_pm_scan_arg)
#define LRT_PAGE_IS_PRESENT (1 << 3)
#define LRT_PAGE_IS_SWAPPED (1 << 4)
struct lrt_pm_scan_arg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
    uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
struct lrt_page_region { uint64_t start, end, categories; };

static bool pagemap_scan_works = true;

static int add_present_scan(buf *ranges, int pagemap, uint64_t start, uint64_t end, bool *done)
{
    struct lrt_page_region regions[256];
    *done = false;
    while (start < end) {
        struct lrt_pm_scan_arg arg = {
            .size = sizeof arg, .start = start, .end = end,
            .vec = (uintptr_t)regions, .vec_len = 256,
            .category_anyof_mask = LRT_PAGE_IS_PRESENT | LRT_PAGE_IS_SWAPPED,
            .return_mask = LRT_PAGE_IS_PRESENT | LRT_PAGE_IS_SWAPPED,
        };
        long n = ioctl(pagemap, LRT_PAGEMAP_SCAN, &arg);
        if (n < 0) {
            if (start == arg.start && (errno == ENOTTY || errno == EINVAL)) {
                pagemap_scan_works = false;     /* older kernel: read pagemap */
                return 0;
            }
            return errno;
        }
        for (long i = 0; i < n; i++) {
            int err = add_range(ranges, regions[i].start, regions[i].end);
            if (err)
                return err;
        }
        if (arg.walk_end <= start)
            break;
        start = arg.walk_end;
    }
    *done = true;
    return 0;
}

/* Adds the pages of [start, end) that exist (present or swapped), in runs;
 * pages never touched read as zero and are left out. */
static int add_present(buf *ranges, int pagemap, uint64_t start, uint64_t end)
{
    start &= ~(uint64_t)(PAGE - 1);
    end = (end + PAGE - 1) & ~(uint64_t)(PAGE - 1);
    if (pagemap < 0)
        return add_range(ranges, start, end);
    if (pagemap_scan_works) {
        bool done;
        int err = add_present_scan(ranges, pagemap, start, end, &done);
        if (err || done)
            return err;
    }
    uint64_t entries[512];
    uint64_t run = 0;
    bool in_run = false;
    for (uint64_t page = start; page < end;) {
        size_t n = (size_t)((end - page) / PAGE);
        if (n > 512) n = 512;
        ssize_t got = pread(pagemap, entries, n * 8, (off_t)(page / PAGE * 8));
        if (got <= 0)
            return add_range(ranges, in_run ? run : page, end);  /* cannot tell: copy */
        n = (size_t)got / 8;
        for (size_t i = 0; i < n; i++, page += PAGE) {
            bool exists = entries[i] & (UINT64_C(3) << 62);     /* present | swapped */
            if (exists && !in_run) { run = page; in_run = true; }
            if (!exists && in_run) {
                int err = add_range(ranges, run, page);
                if (err) return err;
                in_run = false;
            }
        }
    }
    return in_run ? add_range(ranges, run, end) : 0;
}

static void sort_ranges(range *r, size_t n)
{
    /* Heapsort: qsort may allocate. */
    for (size_t start = n / 2; start-- > 0;) {
        for (size_t root = start;;) {
            size_t child = 2 * root + 1;
            if (child >= n) break;
            if (child + 1 < n && r[child + 1].start > r[child].start) child++;
            if (r[root].start >= r[child].start) break;
            range t = r[root]; r[root] = r[child]; r[child] = t;
            root = child;
        }
    }
    for (size_t end = n; end-- > 1;) {
        range t = r[0]; r[0] = r[end]; r[end] = t;
        for (size_t root = 0;;) {
            size_t child = 2 * root + 1;
            if (child >= end) break;
            if (child + 1 < end && r[child + 1].start > r[child].start) child++;
            if (r[root].start >= r[child].start) break;
            range u = r[root]; r[root] = r[child]; r[child] = u;
            root = child;
        }
    }
}

/* Merges overlapping and touching ranges read in place; a copied range
 * merges only with one that continues it in the same copy. */
static size_t merge_ranges(range *r, size_t n)
{
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        range *last = out ? &r[out - 1] : NULL;
        if (last && !last->src && !r[i].src && r[i].start <= last->end) {
            if (r[i].end > last->end)
                last->end = r[i].end;
        } else if (last && last->src && r[i].src && r[i].start == last->end &&
                   r[i].src == last->src + (last->end - last->start)) {
            last->end = r[i].end;
        } else if (last && r[i].start < last->end) {
            /* overlap between a copy and memory: keep the first, trim */
            if (r[i].end > last->end) {
                if (r[i].src)
                    r[i].src += last->end - r[i].start;
                r[i].start = last->end;
                r[out++] = r[i];
            }
        } else {
            r[out++] = r[i];
        }
    }
    return out;
}

/* Regions another pass copies precisely: the heap arena, the task stack
 * chunks, the internal arena, the heap's tables and the task table. */
typedef struct exclusions { range *r; size_t n; } exclusions;

static int build_exclusions(buf *b, exclusions *ex, const lrt_stack_copies *copies)
{
    const ls_debug_root *root = &lrt_debug_root;
    int err = add_range(b, root->arena, root->arena + root->arena_size);
    if (!err && copies && copies->buf)
        err = add_range(b, (uintptr_t)copies->buf, (uintptr_t)copies->buf + copies->capacity);
    if (!err && copies && copies->index)
        err = add_range(b, (uintptr_t)copies->index,
                        (uintptr_t)copies->index + copies->index_capacity);
    if (!err && scratch.base)
        err = add_range(b, (uintptr_t)scratch.base, (uintptr_t)scratch.base + scratch.size);
    for (uint64_t i = 0; !err && i < root->stack_chunk_count; i++) {
        uint64_t c = ((const uint64_t *)(uintptr_t)root->stack_chunks)[i];
        err = add_range(b, c, c + root->stack_chunk_size);
    }
    for (uint32_t i = 0; !err && i < root->internal_count; i++)
        err = add_range(b, root->internal[i].start, root->internal[i].end);
#ifdef LRT_ASAN
    /* AddressSanitizer's shadow memory (x86-64 layout): not the program's. */
    if (!err)
        err = add_range(b, UINT64_C(0x00007fff8000), UINT64_C(0x10007fff8000));
#endif
    if (err)
        return err;
    ex->r = (range *)b->data;
    ex->n = b->len / sizeof(range);
    sort_ranges(ex->r, ex->n);
    ex->n = merge_ranges(ex->r, ex->n);
    return 0;
}

/* Adds [start, end) minus the exclusions. */
static int add_mapping(buf *ranges, const exclusions *ex, int pagemap, bool anonymous,
                       uint64_t start, uint64_t end)
{
    size_t lo = 0, hi = ex->n;          /* first exclusion ending after start */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ex->r[mid].end <= start) lo = mid + 1; else hi = mid;
    }
    uint64_t at = start;
    for (size_t i = lo; i < ex->n && ex->r[i].start < end && at < end; i++) {
        if (ex->r[i].start > at) {
            int err = anonymous ? add_present(ranges, pagemap, at, ex->r[i].start)
                                : add_range(ranges, at, ex->r[i].start);
            if (err) return err;
        }
        if (ex->r[i].end > at)
            at = ex->r[i].end;
    }
    if (at < end)
        return anonymous ? add_present(ranges, pagemap, at, end) : add_range(ranges, at, end);
    return 0;
}

/* The used part of task t's stack: from its stack pointer to the top. A
 * running task's stack pointer is its thread's, and the red zone below it
 * may be in use; a parked one left through a call, with nothing below. */
static void task_stack_range(const lrt_task *t, const lrt_stopped_world *sw,
                             uint64_t *lo, uint64_t *hi)
{
    const ls_debug_root *root = &lrt_debug_root;
    const lrt_worker *workers = (const lrt_worker *)(uintptr_t)root->workers;
    uint64_t sp = t->regs.sp;
    uint64_t red_zone = 0;             /* a parked task left by a call */
    if (atomic_load_explicit(&t->state, memory_order_relaxed) == LRT_TASK_RUNNING) {
        red_zone = LRT_ARCH_RED_ZONE;  /* interrupted anywhere: may be in use */
        for (uint32_t w = 0; w < root->worker_count; w++) {
            if (workers[w].current != t)
                continue;
            for (size_t k = 0; k < sw->count; k++)
                if (sw->threads[k].tid == workers[w].tid && atomic_load(&sw->threads[k].stopped))
                    sp = lrt_arch_prstatus_sp(&sw->threads[k].regs);
        }
    }
    uint64_t start = sp - red_zone;
    if (sp < t->stack_lo || sp > t->stack_hi || start < t->stack_lo)
        start = t->stack_lo;                 /* unsure: the whole stack */
    *lo = start & ~(uint64_t)7;
    *hi = t->stack_hi;
}

static bool task_is_live(const lrt_task *t)
{
    uint32_t state = atomic_load_explicit(&t->state, memory_order_relaxed);
    return state == LRT_TASK_RUNNABLE || state == LRT_TASK_RUNNING ||
           state == LRT_TASK_WAITING || state == LRT_TASK_DEAD;
}

/* Makes room for `size` bytes in a persistent buffer of runtime-internal
 * memory on huge pages (grown, never shrunk: the next snapshot reuses it). */
static int copies_reserve(uint8_t **buffer, size_t *capacity, size_t size)
{
    if (size <= *capacity)
        return 0;
    size_t huge = (size_t)2 << 20;
    size_t cap = (size + size / 4 + huge) & ~(huge - 1);
    void *p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return errno;
    madvise(p, cap, MADV_HUGEPAGE);
    /* Copies of stacks are runtime-internal: a kernel core taken later
     * must not read them as roots. */
    lrt_debug_root_move_internal(*buffer, p, cap);
    if (*buffer)
        munmap(*buffer, *capacity);
    *buffer = p;
    *capacity = cap;
    return 0;
}

/* Faults in the first `size` bytes now, so the pause does not: with THP on
 * "madvise" a first touch may compact memory (130 ms measured here). */
static void copies_populate(void *buffer, size_t size)
{
#ifdef MADV_POPULATE_WRITE
    if (buffer && size)
        madvise(buffer, size, MADV_POPULATE_WRITE);
#else
    (void)buffer, (void)size;
#endif
}

/* Called before the world stops: makes room for copies of every task's
 * stack, sized from the task table and the last snapshot, and faults it
 * in. Tasks spawned meanwhile are handled by growing during the pause. */
void lrt_stack_copies_prepare(lrt_stack_copies *c)
{
    enum { SLACK_TASKS = 1024, BYTES_PER_TASK = 256 };
    size_t tasks = (size_t)lrt_debug_root.task_count + SLACK_TASKS;
    size_t index = tasks * sizeof *c->index;
    size_t bytes = c->last_bytes + c->last_bytes / 4;
    if (bytes < tasks * BYTES_PER_TASK)
        bytes = tasks * BYTES_PER_TASK;
    if (copies_reserve((uint8_t **)&c->index, &c->index_capacity, index) == 0)
        copies_populate(c->index, index);
    if (copies_reserve(&c->buf, &c->capacity, bytes) == 0)
        copies_populate(c->buf, bytes);
}

/* Copying the stacks is bound by memory latency (in a VM, by nested page
 * walks: every stack is cold and on a page of its own), so it is shared
 * with the stopped threads, each on its own core, in blocks claimed from
 * a cursor. Within a block, stacks are fetched a few ahead. */
typedef struct copy_job {
    const lrt_stack_copies *copies;
    _Atomic size_t          next;     /* first stack of the next block */
} copy_job;

enum { COPY_BLOCK = 2048, STACKS_AHEAD = 16 };

LRT_NO_ASAN static void copy_stacks(void *arg)
{
    copy_job *job = arg;
    const lrt_stack_copies *c = job->copies;
    for (;;) {
        size_t first = atomic_fetch_add(&job->next, COPY_BLOCK);
        if (first >= c->count)
            return;
        size_t end = first + COPY_BLOCK < c->count ? first + COPY_BLOCK : c->count;
        for (size_t i = first; i < end; i++) {
            if (i + STACKS_AHEAD < end) {
                const lrt_stack_copy *ahead = &c->index[i + STACKS_AHEAD];
                const char *next = (const char *)(uintptr_t)ahead->start;
                for (size_t at = 0; at < ahead->end - ahead->start && at < 1024; at += 64)
                    __builtin_prefetch(next + at);
            }
            const lrt_stack_copy *one = &c->index[i];
            lrt_arch_copy(c->buf + one->offset, (const void *)(uintptr_t)one->start,
                          (size_t)(one->end - one->start));
        }
    }
}

/* Threads that may help copy: one per other online CPU, among those that
 * stopped (the caller is one of sw->stopped). */
static int copy_helpers(const lrt_stopped_world *sw, size_t stacks)
{
    static long cpus;
    if (!cpus)
        cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (stacks < 4 * COPY_BLOCK || cpus < 2 || sw->stopped < 2)
        return 0;                       /* not worth waking anyone */
    long helpers = cpus - 1;
    if ((size_t)helpers > sw->stopped - 1)
        helpers = (long)(sw->stopped - 1);
    return (int)helpers;
}

LRT_NO_ASAN int lrt_stack_copies_take(lrt_stack_copies *c, const lrt_stopped_world *sw)
{
    const lrt_task *tasks = (const lrt_task *)(uintptr_t)lrt_debug_root.tasks;
    uint64_t n = lrt_debug_root.task_count;
    c->valid = false;
    c->count = 0;
    int err = copies_reserve((uint8_t **)&c->index, &c->index_capacity, n * sizeof *c->index);
    if (err)
        return err;
    /* One pass over the table, one cache line per task (see lrt_task),
     * fetched a few tasks ahead: it is memory-bound. */
    enum { TASKS_AHEAD = 8 };
    size_t bytes = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (i + TASKS_AHEAD < n)
            __builtin_prefetch(&tasks[i + TASKS_AHEAD]);
        if (!task_is_live(&tasks[i]))
            continue;
        uint64_t lo, hi;
        task_stack_range(&tasks[i], sw, &lo, &hi);
        c->index[c->count++] = (lrt_stack_copy){ lo, hi, bytes };
        bytes += (size_t)(hi - lo);
    }
    err = copies_reserve(&c->buf, &c->capacity, bytes);
    if (err)
        return err;
    copy_job job = { .copies = c };
    lrt_world_share(sw, copy_stacks, &job, copy_helpers(sw, c->count));
    c->last_bytes = bytes;
    c->valid = true;
    return 0;
}

/* The used part of each live task's stack: from the copies when there are
 * any, else read in place. */
static int add_task_stacks(buf *ranges, const lrt_stopped_world *sw, const lrt_stack_copies *c)
{
    if (c && c->valid) {
        for (size_t i = 0; i < c->count; i++) {
            int err = add_copy(ranges, c->index[i].start, c->index[i].end, c->buf + c->index[i].offset);
            if (err)
                return err;
        }
        return 0;
    }
    const lrt_task *tasks = (const lrt_task *)(uintptr_t)lrt_debug_root.tasks;
    for (uint64_t i = 0; i < lrt_debug_root.task_count; i++) {
        uint64_t lo, hi;
        if (!task_is_live(&tasks[i]))
            continue;
        task_stack_range(&tasks[i], sw, &lo, &hi);
        int err = add_range(ranges, lo, hi);
        if (err)
            return err;
    }
    return 0;
}

static int add_heap_spans(buf *ranges)
{
    const ls_debug_root *root = &lrt_debug_root;
    const lrt_span *spans = (const lrt_span *)(uintptr_t)root->spans;
    for (uint64_t i = 1; i < root->span_count; i++) {
        const lrt_span *s = &spans[i];
        if (s->state != LRT_SPAN_SMALL && s->state != LRT_SPAN_LARGE)
            continue;
        int err = add_range(ranges, s->base, s->base + (uint64_t)s->npages * root->page_size);
        if (err)
            return err;
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Notes                                                                  */
/* ---------------------------------------------------------------------- */

static int add_note(buf *notes, const char *name, uint32_t type, const void *desc, size_t size)
{
    Elf64_Nhdr nh = { (Elf64_Word)(strlen(name) + 1), (Elf64_Word)size, type };
    size_t name_pad = ((nh.n_namesz + 3) & ~3u) - nh.n_namesz;
    size_t desc_pad = ((size + 3) & ~(size_t)3) - size;
    int err = buf_append(notes, &nh, sizeof nh);
    if (!err) err = buf_append(notes, name, nh.n_namesz);
    if (!err) err = buf_zeros(notes, name_pad);
    if (!err) err = buf_append(notes, desc, size);
    if (!err) err = buf_zeros(notes, desc_pad);
    return err;
}

static int add_task_thread(void *notes, const void *prstatus, size_t size)
{
    return add_note(notes, LS_NOTE_OWNER, NT_PRSTATUS, prstatus, size);
}

typedef struct file_map {
    uint64_t start, end, page_offset;
    const char *path;
    size_t path_len;
    bool readable;                  /* its memory may be read (perms r) */
} file_map;

static int add_nt_file(buf *notes, const file_map *maps, size_t n)
{
    buf desc = { 0 };
    uint64_t header[2] = { n, PAGE };
    int err = buf_append(&desc, header, sizeof header);
    for (size_t i = 0; !err && i < n; i++) {
        uint64_t e[3] = { maps[i].start, maps[i].end, maps[i].page_offset };
        err = buf_append(&desc, e, sizeof e);
    }
    for (size_t i = 0; !err && i < n; i++) {
        err = buf_append(&desc, maps[i].path, maps[i].path_len);
        if (!err) err = buf_zeros(&desc, 1);
    }
    if (!err)
        err = add_note(notes, "CORE", NT_FILE, desc.data, desc.len);
    return err;
}

/* The ELF and program headers of the object whose offset 0 is mapped,
 * readable, at [start, end), and its load bias; false when they are not
 * all inside that mapping. */
static bool mapped_headers(uint64_t start, uint64_t end, Elf64_Ehdr *eh, const char **phdrs, uint64_t *bias)
{
    if (end - start < sizeof *eh)
        return false;
    memcpy(eh, (const void *)(uintptr_t)start, sizeof *eh);
    uint64_t size = end - start;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phoff > size ||
        (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > size - eh->e_phoff)
        return false;
    *phdrs = (const char *)(uintptr_t)(start + eh->e_phoff);
    *bias = 0;
    for (int i = 0; i < eh->e_phnum; i++) {        /* the first PT_LOAD maps offset 0 */
        Elf64_Phdr ph;
        memcpy(&ph, *phdrs + i * sizeof ph, sizeof ph);
        if (ph.p_type == PT_LOAD) {
            uint64_t page = ph.p_vaddr & ~(ph.p_align > 1 ? ph.p_align - 1 : 0);
            *bias = eh->e_type == ET_DYN ? start - page : 0;
            break;
        }
    }
    return true;
}

/* The GNU build-id in the notes of the ELF object whose offset 0 is
 * mapped, readable, at [start, end): read from memory, as the program ran
 * it, whatever the file on disk holds now. Only bytes inside that mapping
 * are read (the headers say where the notes are). Its size, or 0. */
static uint32_t mapped_build_id(uint64_t start, uint64_t end, uint8_t *out)
{
    Elf64_Ehdr eh;
    const char *phdrs;
    uint64_t bias;
    if (!mapped_headers(start, end, &eh, &phdrs, &bias))
        return 0;
    for (int i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, phdrs + i * sizeof ph, sizeof ph);
        uint64_t at = bias + ph.p_vaddr;
        if (ph.p_type != PT_NOTE || at < start || at > end || ph.p_filesz > end - at)
            continue;
        uint32_t n = ls_gnu_build_id((const uint8_t *)(uintptr_t)at, ph.p_filesz, out);
        if (n)
            return n;
    }
    return 0;
}

/* The pages of that object's dynamic section, into *lo, *hi: false when
 * it has none. With RELRO they are read-only by now, so the writable
 * mappings leave them out; gdb needs them (DT_DEBUG leads to the dynamic
 * linker's list of loaded objects) to show shared libraries. */
static bool mapped_dynamic(uint64_t start, uint64_t end, uint64_t *lo, uint64_t *hi)
{
    Elf64_Ehdr eh;
    const char *phdrs;
    uint64_t bias;
    if (!mapped_headers(start, end, &eh, &phdrs, &bias))
        return false;
    for (int i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, phdrs + i * sizeof ph, sizeof ph);
        uint64_t at = bias + ph.p_vaddr;
        if (ph.p_type != PT_DYNAMIC || ph.p_memsz == 0 || ph.p_memsz > 1 << 20 || at + ph.p_memsz < at)
            continue;
        *lo = at & ~(uint64_t)(PAGE - 1);
        *hi = (at + ph.p_memsz + PAGE - 1) & ~(uint64_t)(PAGE - 1);
        return true;
    }
    return false;
}

/* Whether [lo, hi) lies inside one readable mapping of maps. */
static bool readable_in_maps(const buf *maps, uint64_t lo, uint64_t hi)
{
    const char *p = maps->data, *end = maps->data + maps->len;
    while (p < end) {
        uint64_t start = parse_hex(&p);
        if (*p == '-') p++;
        uint64_t stop = parse_hex(&p);
        while (*p == ' ') p++;
        bool readable = p < end && *p == 'r';
        while (p < end && *p != '\n') p++;
        if (p < end) p++;
        if (readable && start <= lo && hi <= stop)
            return true;
    }
    return false;
}

/* The modules note: every readable file mapped at offset 0, with the
 * build-id it has in memory (formats/leakscan_format.h). */
static int add_modules_note(buf *notes, const file_map *maps, size_t n)
{
    buf desc = { 0 };
    ls_note_modules h = { 0, sizeof(ls_note_module) };
    for (size_t i = 0; i < n; i++)
        h.count += maps[i].page_offset == 0 && maps[i].readable;
    int err = buf_append(&desc, &h, sizeof h);
    for (size_t i = 0; !err && i < n; i++) {
        if (maps[i].page_offset != 0 || !maps[i].readable)
            continue;
        ls_note_module m;
        memset(&m, 0, sizeof m);
        m.base = maps[i].start;
        m.build_id_size = mapped_build_id(maps[i].start, maps[i].end, m.build_id);
        err = buf_append(&desc, &m, sizeof m);
    }
    if (!err)
        err = add_note(notes, LS_NOTE_OWNER, LS_NOTE_MODULES, desc.data, desc.len);
    return err;
}

static int add_prpsinfo(buf *notes, pid_t pid, const char *exe_path)
{
    struct elf_prpsinfo ps;
    memset(&ps, 0, sizeof ps);
    ps.pr_sname = 'R';
    ps.pr_pid = pid;
    ps.pr_ppid = getppid();        /* the child's parent: the program */
    ps.pr_uid = getuid();
    ps.pr_gid = getgid();
    const char *base = exe_path;
    for (const char *p = exe_path; *p; p++)
        if (*p == '/') base = p + 1;
    strncpy(ps.pr_fname, base, sizeof ps.pr_fname - 1);
    buf cmd = { 0 };
    if (read_file("/proc/self/cmdline", &cmd) == 0) {
        size_t n = cmd.len < sizeof ps.pr_psargs - 1 ? cmd.len : sizeof ps.pr_psargs - 1;
        for (size_t i = 0; i < n; i++)
            ps.pr_psargs[i] = cmd.data[i] ? cmd.data[i] : ' ';
        while (n > 0 && ps.pr_psargs[n - 1] == ' ')
            ps.pr_psargs[--n] = '\0';
    }
    return add_note(notes, "CORE", NT_PRPSINFO, &ps, sizeof ps);
}

static int add_leakscan_note(buf *notes, const lrt_core_info *info, const lrt_stopped_world *sw,
                             pid_t pid, int64_t pause_ns)
{
    struct timespec real, mono;
    clock_gettime(CLOCK_REALTIME, &real);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    ls_note_snapshot h;
    memset(&h, 0, sizeof h);
    h.version = LS_NOTE_VERSION;
    h.debug_root = (uintptr_t)&lrt_debug_root;
    h.pid = (uint64_t)pid;
    h.time_unix_ns = (int64_t)real.tv_sec * LRT_SECOND + real.tv_nsec;
    h.time_monotonic_ns = (int64_t)mono.tv_sec * LRT_SECOND + mono.tv_nsec;
    h.pause_ns = pause_ns;
    h.threads = (uint32_t)sw->count;
    h.threads_stopped = (uint32_t)sw->stopped;
    h.build_id_size = (uint32_t)info->build_id_size;
    h.exe_path_size = (uint32_t)strlen(info->exe_path) + 1;
    h.reason_size = (uint32_t)strlen(info->reason) + 1;
    buf desc = { 0 };
    int err = buf_append(&desc, &h, sizeof h);
    if (!err) err = buf_append(&desc, info->build_id, info->build_id_size);
    if (!err) err = buf_append(&desc, info->exe_path, h.exe_path_size);
    if (!err) err = buf_append(&desc, info->reason, h.reason_size);
    if (!err) err = add_note(notes, LS_NOTE_OWNER, LS_NOTE_SNAPSHOT, desc.data, desc.len);
    return err;
}

/* ---------------------------------------------------------------------- */
/* Gathering and writing                                                  */
/* ---------------------------------------------------------------------- */

/* Walks /proc/self/maps: writable mappings become ranges, file mappings
 * NT_FILE entries. */
static int scan_maps(const buf *maps, const exclusions *ex, int pagemap, buf *ranges, buf *files)
{
    const char *p = maps->data, *end = maps->data + maps->len;
    while (p < end) {
        const char *line = p;
        uint64_t start = parse_hex(&p);
        if (*p == '-') p++;
        uint64_t stop = parse_hex(&p);
        while (*p == ' ') p++;
        const char *perms = p;
        skip_field(&p);
        uint64_t offset = parse_hex(&p);
        while (*p == ' ') p++;
        skip_field(&p);                       /* device */
        bool has_inode = *p != '0' || (p[1] != ' ' && p[1] != '\n');
        skip_field(&p);                       /* inode */
        const char *path = p;
        while (p < end && *p != '\n') p++;
        size_t path_len = (size_t)(p - path);
        if (p < end) p++;
        if (perms - line > 40 || perms + 4 > end)
            continue;

        if (path_len > 0 && path[0] == '/' && has_inode) {
            file_map fm = { start, stop, offset / PAGE, path, path_len, perms[0] == 'r' };
            int err = buf_append(files, &fm, sizeof fm);
            /* The ELF header page of each module, as the kernel's cores
             * have it: debuggers find build-ids and dynamic sections there. */
            if (!err && offset == 0 && perms[0] == 'r')
                err = add_range(ranges, start, start + PAGE);
            uint64_t lo, hi;
            if (!err && offset == 0 && perms[0] == 'r' && mapped_dynamic(start, stop, &lo, &hi) &&
                readable_in_maps(maps, lo, hi))
                err = add_range(ranges, lo, hi);
            if (err) return err;
        }
        /* The vDSO, read-only, as the kernel's cores keep it: the dynamic
         * linker's list names it there, and gdb reads that name. */
        if (perms[0] == 'r' && path_len == 6 && memcmp(path, "[vdso]", 6) == 0) {
            int err = add_range(ranges, start, stop);
            if (err) return err;
            continue;
        }
        if (perms[0] != 'r' || perms[1] != 'w')
            continue;
        if (path_len > 0 && path[0] == '[' &&
            (memcmp(path, "[vvar", 5) == 0 || memcmp(path, "[vsyscall", 9) == 0))
            continue;
        bool anonymous = !has_inode;
        int err = add_mapping(ranges, ex, pagemap, anonymous, start, stop);
        if (err) return err;
    }
    return 0;
}

static int write_core(int fd, const lrt_core_info *info, const lrt_stopped_world *sw,
                      pid_t pid, int64_t pause_ns)
{
    buf maps = { 0 }, exbuf = { 0 }, ranges = { 0 }, files = { 0 }, notes = { 0 }, auxv = { 0 };
    exclusions ex;
    int err = read_file("/proc/self/maps", &maps);
    if (!err) err = build_exclusions(&exbuf, &ex, info->stacks);
    int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (!err) err = scan_maps(&maps, &ex, pagemap, &ranges, &files);
    if (!err) err = add_heap_spans(&ranges);
    if (!err) err = add_task_stacks(&ranges, sw, info->stacks);
    if (!err) {
        /* Runtime-internal memory: what was handed out and touched. */
        uint64_t base = (uintptr_t)lrt_arena_base();
        err = add_present(&ranges, pagemap, base, base + lrt_arena_used());
    }
    if (!err) {
        /* The heap's tables (pages.c): the part the heap in use covers. */
        const ls_debug_root *root = &lrt_debug_root;
        err = add_present(&ranges, pagemap, root->page_map,
                          root->page_map + (root->arena_used >> LRT_PAGE_SHIFT) * sizeof(uint32_t));
        if (!err)
            err = add_present(&ranges, pagemap, root->spans,
                              root->spans + root->span_count * sizeof(lrt_span));
    }
    if (!err) {
        uint64_t tasks = lrt_debug_root.tasks;
        err = add_present(&ranges, pagemap, tasks,
                          tasks + lrt_debug_root.task_count * sizeof(lrt_task));
    }
    if (pagemap >= 0)
        close(pagemap);
    size_t nranges = ranges.len / sizeof(range);
    range *r = (range *)ranges.data;
    if (!err) {
        sort_ranges(r, nranges);
        nranges = merge_ranges(r, nranges);
    }

    /* Notes: a prstatus per stopped thread (the caller first), one per
     * parked task, prpsinfo, auxv, the file table, and ours. */
    for (size_t i = 0; !err && i < sw->count; i++) {
        if (sw->threads[i].tid <= 0 || !atomic_load(&sw->threads[i].stopped))
            continue;
        struct elf_prstatus st;
        memset(&st, 0, sizeof st);
        st.pr_pid = sw->threads[i].tid;
        st.pr_ppid = getppid();
        memcpy(&st.pr_reg, &sw->threads[i].regs, sizeof st.pr_reg);
        err = add_note(&notes, "CORE", NT_PRSTATUS, &st, sizeof st);
    }
    /* Then the parked tasks, as threads only gdb sees (core_tasks.c): a
     * snapshot without them, rather than none, if they do not fit. */
    size_t real_notes = notes.len;
    if (!err && lrt_core_task_threads(add_task_thread, &notes) != 0)
        notes.len = real_notes;
    if (!err) err = add_prpsinfo(&notes, pid, info->exe_path);
    if (!err && read_file("/proc/self/auxv", &auxv) == 0)
        err = add_note(&notes, "CORE", NT_AUXV, auxv.data, auxv.len);
    if (!err) err = add_nt_file(&notes, (const file_map *)files.data, files.len / sizeof(file_map));
    if (!err) err = add_modules_note(&notes, (const file_map *)files.data, files.len / sizeof(file_map));
    if (!err) err = add_leakscan_note(&notes, info, sw, pid, pause_ns);

    if (!err) {
        size_t phnum = nranges + 1;
        bool xnum = phnum >= PN_XNUM;
        Elf64_Ehdr eh;
        memset(&eh, 0, sizeof eh);
        memcpy(eh.e_ident, ELFMAG, SELFMAG);
        eh.e_ident[EI_CLASS] = ELFCLASS64;
        eh.e_ident[EI_DATA] = ELFDATA2LSB;
        eh.e_ident[EI_VERSION] = EV_CURRENT;
        eh.e_ident[EI_OSABI] = ELFOSABI_NONE;
        eh.e_type = ET_CORE;
        eh.e_machine = (Elf64_Half)lrt_debug_root.elf_machine;
        eh.e_version = EV_CURRENT;
        eh.e_phoff = sizeof eh;
        eh.e_ehsize = sizeof eh;
        eh.e_phentsize = sizeof(Elf64_Phdr);
        eh.e_phnum = xnum ? PN_XNUM : (Elf64_Half)phnum;
        uint64_t offset = sizeof eh + phnum * sizeof(Elf64_Phdr);
        Elf64_Shdr sh0;
        memset(&sh0, 0, sizeof sh0);
        if (xnum) {
            eh.e_shoff = offset;
            eh.e_shentsize = sizeof(Elf64_Shdr);
            eh.e_shnum = 1;
            sh0.sh_info = (Elf64_Word)phnum;    /* the real program header count */
            offset += sizeof sh0;
        }
        buf head = { 0 };
        err = buf_append(&head, &eh, sizeof eh);
        Elf64_Phdr ph;
        memset(&ph, 0, sizeof ph);
        ph.p_type = PT_NOTE;
        ph.p_offset = offset;
        ph.p_filesz = notes.len;
        ph.p_align = 4;
        if (!err) err = buf_append(&head, &ph, sizeof ph);
        offset = (offset + notes.len + PAGE - 1) & ~(uint64_t)(PAGE - 1);
        uint64_t notes_pad = offset - ph.p_offset - notes.len;
        for (size_t i = 0; !err && i < nranges; i++) {
            memset(&ph, 0, sizeof ph);
            ph.p_type = PT_LOAD;
            ph.p_flags = PF_R | PF_W;
            ph.p_offset = offset;
            ph.p_vaddr = r[i].start;
            ph.p_filesz = ph.p_memsz = r[i].end - r[i].start;
            ph.p_align = PAGE;
            offset += ph.p_filesz;
            err = buf_append(&head, &ph, sizeof ph);
        }
        if (!err && xnum) err = buf_append(&head, &sh0, sizeof sh0);
        if (!err) err = buf_append(&head, notes.data, notes.len);
        if (!err) err = buf_zeros(&head, notes_pad);
        if (!err) err = write_all(fd, head.data, head.len);
        for (size_t i = 0; !err && i < nranges; i++)
            err = write_all(fd, r[i].src ? (const void *)r[i].src : (const void *)(uintptr_t)r[i].start,
                            r[i].end - r[i].start);

    }
    return err;                              /* buffers go with the child */
}

/* The writer's temporary name beside path: ".NAME.tmp.PID", PID the
 * writer's. snapshot.c computes it too, to remove what a killed writer
 * left. 0, or ENAMETOOLONG. */
int lrt_core_temp_path(char *out, size_t size, const char *path, pid_t writer)
{
    size_t len = strlen(path);
    if (len + 64 > size)
        return ENAMETOOLONG;
    size_t slash = len;
    while (slash > 0 && path[slash - 1] != '/')
        slash--;
    memcpy(out, path, slash);
    size_t n = slash;
    out[n++] = '.';
    memcpy(out + n, path + slash, len - slash);
    n += len - slash;
    memcpy(out + n, ".tmp.", 5);
    n += 5;
    n += append_decimal(out + n, (uint64_t)writer);
    out[n] = '\0';
    return 0;
}

int lrt_core_check_destination(const char *path)
{
    /* rename() replaces whatever is at the name: as root that would make a
     * device node or a FIFO someone reads a regular file, and the symlink
     * /dev/stdout a file in /dev. A symlink is left alone as well, never
     * followed nor replaced. Checked before the world stops (snapshot.c)
     * and again just before the rename. */
    struct stat st;
    if (lstat(path, &st) != 0 || S_ISREG(st.st_mode))
        return 0;
    return S_ISDIR(st.st_mode) ? EISDIR : EEXIST;
}

int lrt_core_write(const lrt_core_info *info, const lrt_stopped_world *sw)
{
    int64_t pause_ns = lrt_now() - info->pause_start_ns;
    pid_t pid = getppid();

    /* The temporary file: same directory, a name nobody else uses. */
    char tmp[4096];
    if (lrt_core_temp_path(tmp, sizeof tmp, info->path, getpid()) != 0)
        return ENAMETOOLONG;
    size_t slash = strlen(info->path);
    while (slash > 0 && info->path[slash - 1] != '/')
        slash--;

    /* A write past RLIMIT_FSIZE must fail with EFBIG, not kill us. */
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction(SIGXFSZ, &ign, NULL);

    /* Unnamed while it is written (O_TMPFILE): killed mid-write, the writer
     * leaves nothing. It gets the temporary name only once whole, for the
     * rename; a kill in that window is cleaned up by the program (reap in
     * snapshot.c). Filesystems without O_TMPFILE get the name at once. */
    char dir[4096];
    if (slash == 0) {
        dir[0] = '.'; dir[1] = '\0';
    } else {
        memcpy(dir, info->path, slash);
        dir[slash] = '\0';
    }
    bool unnamed = true;
    int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) {
        unnamed = false;
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    }
    if (fd < 0)
        return errno;
    int err = write_core(fd, info, sw, pid, pause_ns);
    if (!err && fsync(fd) != 0)
        err = errno;
    if (!err && unnamed) {
        char self[64] = "/proc/self/fd/";
        self[14 + append_decimal(self + 14, (uint64_t)fd)] = '\0';
        if (linkat(AT_FDCWD, self, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) != 0)
            err = errno;
    }
    if (close(fd) != 0 && !err)
        err = errno;
    /* Replace only what is ours: another user's file at the destination
     * (in a shared directory, or when running as root) stays, and so does
     * anything that is not a regular file, a symlink included. */
    struct stat existing;
    if (!err)
        err = lrt_core_check_destination(info->path);
    if (!err && lstat(info->path, &existing) == 0 && existing.st_uid != geteuid())
        err = EPERM;
    if (!err && rename(tmp, info->path) != 0)
        err = errno;
    if (err) {
        unlink(tmp);
        return err;
    }
    /* Make the rename itself durable. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

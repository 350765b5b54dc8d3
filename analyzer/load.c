/*
 * load.c — opening a snapshot: the core (formats/reader.c), the runtime
 * read through its debug root, and the index from an address to the object
 * holding it (heap object or task stack) that the mark needs in O(1).
 */
#include "leakscan.h"

#include <elfutils/libdwelf.h>
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
    s->page_spans = calloc(s->npages ? s->npages : 1, sizeof *s->page_spans);
    s->first_object = calloc(rt->nspans + 1, sizeof *s->first_object);
    s->tasks_by_stack = calloc(rt->ntasks ? rt->ntasks : 1, sizeof *s->tasks_by_stack);
    if (!s->page_spans || !s->first_object || !s->tasks_by_stack)
        return ls_error_set(err, s->path, "out of memory indexing %zu spans", rt->nspans);
    uint64_t objects = 0;
    for (size_t i = 0; i < rt->nspans; i++) {
        const ls_span *sp = &rt->spans[i];
        s->first_object[i] = objects;
        objects += sp->nelems;
        uint64_t first = (sp->base - r->arena) / r->page_size;
        uint64_t count = sp->size / r->page_size;
        for (uint64_t p = first; p < first + count && p < s->npages; p++)
            s->page_spans[p] = (uint32_t)(i + 1);
    }
    s->first_object[rt->nspans] = objects;
    s->nheap_objects = objects;
    for (size_t i = 0; i < rt->ntasks; i++)
        s->tasks_by_stack[i] = (uint32_t)i;
    sort_ctx = s;
    qsort(s->tasks_by_stack, rt->ntasks, sizeof *s->tasks_by_stack, compare_stack_lo);
    return 0;
}

const ls_span *ls_heap_slot(const ls_snapshot *s, uint64_t addr, uint64_t *id, uint32_t *index)
{
    const ls_debug_root *r = &s->rt->root;
    if (addr - r->arena >= r->arena_used)
        return NULL;
    uint32_t si = s->page_spans[(addr - r->arena) / r->page_size];
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
/* Plain core dumps: no LEAKSCAN note                                       */
/* ---------------------------------------------------------------------- */

#define AT_PHDR_TYPE 3

/* The executable: the file mapped where the auxiliary vector says the
 * program headers are. Returns its offset-0 mapping, or NULL. */
static const ls_file_mapping *find_executable(const ls_core *core)
{
    uint64_t phdr = 0;
    for (size_t i = 0; core->auxv && i + 16 <= core->auxv_size; i += 16) {
        uint64_t type, value;
        memcpy(&type, core->auxv + i, 8);
        memcpy(&value, core->auxv + i + 8, 8);
        if (type == AT_PHDR_TYPE)
            phdr = value;
    }
    const ls_file_mapping *hit = NULL;
    for (size_t i = 0; i < core->nfiles && !hit; i++)
        if (phdr >= core->files[i].start && phdr < core->files[i].end)
            hit = &core->files[i];
    if (!hit)
        return NULL;
    for (size_t i = 0; i < core->nfiles; i++)        /* its first mapping */
        if (core->files[i].offset == 0 && strcmp(core->files[i].path, hit->path) == 0)
            return &core->files[i];
    return NULL;
}

/* Finds lrt_debug_root in the executable's symbol table; the address it
 * has in the core is that plus the load bias of the mapping. */
static int find_debug_root(const char *core_path, const char *exe, uint64_t map_start,
                           uint64_t *addr, ls_error *err)
{
    int fd = ls_open_regular(exe);            /* not a FIFO the core names */
    if (fd < 0)
        return ls_error_set(err, core_path, "not a leakscan snapshot, and its executable %s "
                            "cannot be opened to find lrt_debug_root (use --exe)", exe);
    elf_version(EV_CURRENT);
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    GElf_Ehdr eh;
    int status = -1;
    if (!elf || !gelf_getehdr(elf, &eh)) {
        ls_error_set(err, core_path, "%s is not an ELF executable", exe);
        goto out;
    }
    uint64_t first_vaddr = 0;                  /* of the segment at offset 0 */
    size_t phnum = 0;
    elf_getphdrnum(elf, &phnum);
    for (size_t i = 0; i < phnum; i++) {
        GElf_Phdr ph;
        if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD) {
            first_vaddr = ph.p_vaddr & ~(ph.p_align ? ph.p_align - 1 : 0);
            break;
        }
    }
    uint64_t bias = eh.e_type == ET_DYN ? map_start - first_vaddr : 0;
    for (Elf_Scn *scn = NULL; (scn = elf_nextscn(elf, scn));) {
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
            if (name && strcmp(name, LS_ROOT_SYMBOL) == 0 && sym.st_value) {
                *addr = bias + sym.st_value;
                status = 0;
                goto out;
            }
        }
    }
    /* Stripped: the symbol table may be in its separate debug file. */
    if (ls_find_symbol(exe, bias, LS_ROOT_SYMBOL, addr) == 0) {
        status = 0;
        goto out;
    }
    ls_error_set(err, core_path, "not a libleakrt program: %s has no symbol %s (if it is "
                 "stripped, --debug-dir DIR says where its debug file is)", exe, LS_ROOT_SYMBOL);
out:
    if (elf)
        elf_end(elf);
    close(fd);
    return status;
}

/* ---------------------------------------------------------------------- */
/* Is the executable the one the snapshot was taken of?                    */
/* ---------------------------------------------------------------------- */

enum { MAX_BUILD_ID = 64 };

/* The GNU build-id of the ELF file at path: its size, or 0 if it has none
 * or cannot be read. */
static size_t file_build_id(const char *path, uint8_t *out)
{
    int fd = ls_open_regular(path);           /* not a FIFO the note names */
    if (fd < 0)
        return 0;
    elf_version(EV_CURRENT);
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    const void *id = NULL;
    ssize_t n = elf ? dwelf_elf_gnu_build_id(elf, &id) : -1;
    size_t size = n > 0 && n <= MAX_BUILD_ID ? (size_t)n : 0;
    if (size)
        memcpy(out, id, size);
    if (elf)
        elf_end(elf);
    close(fd);
    return size;
}

/* The build-id in the core's copy of the executable's first page (the
 * kernel dumps ELF headers: coredump_filter bit 4, on by default). Only
 * the core's own bytes count, not the file on disk it would fall back to.
 * Its size, or 0. */
static size_t core_build_id(const ls_core *core, uint64_t base, uint8_t *out)
{
    Elf64_Ehdr eh;
    const void *p = ls_core_pointer(core, base, sizeof eh);
    if (!p)
        return 0;
    memcpy(&eh, p, sizeof eh);
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 256)
        return 0;
    for (size_t i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        if (!(p = ls_core_pointer(core, base + eh.e_phoff + i * sizeof ph, sizeof ph)))
            return 0;
        memcpy(&ph, p, sizeof ph);
        if (ph.p_type != PT_NOTE || ph.p_filesz > 4096)
            continue;
        const uint8_t *notes = ls_core_pointer(core, base + ph.p_offset, ph.p_filesz);
        for (uint64_t at = 0; notes && at + 12 <= ph.p_filesz;) {
            uint32_t namesz, descsz, type;
            memcpy(&namesz, notes + at, 4);
            memcpy(&descsz, notes + at + 4, 4);
            memcpy(&type, notes + at + 8, 4);
            uint64_t name = at + 12, desc = name + ((namesz + 3ull) & ~3ull);
            uint64_t next = desc + ((descsz + 3ull) & ~3ull);
            if (next > ph.p_filesz)
                break;
            if (type == NT_GNU_BUILD_ID && namesz == 4 && memcmp(notes + name, "GNU", 4) == 0 &&
                descsz > 0 && descsz <= MAX_BUILD_ID) {
                memcpy(out, notes + desc, descsz);
                return descsz;
            }
            at = next;
        }
    }
    return 0;
}

static void hex(const uint8_t *id, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", id[i]);
    out[2 * n] = '\0';
}

/* Refuses an executable whose build-id is not the one recorded: its
 * symbols and line table would describe another program. Nothing to
 * compare (no build-id on one side) is not an error. */
static int check_build_id(const char *path, const char *exe, const uint8_t *want, size_t want_size,
                          ls_error *err)
{
    uint8_t have[MAX_BUILD_ID];
    size_t have_size = file_build_id(exe, have);
    if (!want_size || !have_size)
        return 0;
    if (want_size == have_size && memcmp(want, have, want_size) == 0)
        return 0;
    char w[2 * MAX_BUILD_ID + 1], h[2 * MAX_BUILD_ID + 1];
    hex(want, want_size, w);
    hex(have, have_size, h);
    return ls_error_set(err, path, "was taken of a program with build-id %s, but %s has build-id %s "
                        "(rebuilt since? pass the matching executable with --exe)", w, exe, h);
}

/* gdb's gcore writes zeros for any stretch of a mapping it cannot read
 * whole, and a stack chunk holding guard regions is one: every parked
 * task's stack then reads as zeros, where return addresses must be. Counts
 * the parked tasks whose used stack (up to 4 KiB of it) is all zeros. */
static size_t zeroed_stacks(const ls_snapshot *s, size_t *parked)
{
    size_t zeroed = 0;
    *parked = 0;
    for (size_t i = 0; i < s->rt->ntasks; i++) {
        const ls_task *t = &s->rt->tasks[i];
        uint64_t sp = t->regs[0];              /* the root's first register is the SP */
        if ((t->state != LS_TASK_WAITING && t->state != LS_TASK_RUNNABLE) ||
            sp < t->stack_lo || sp >= t->stack_hi)
            continue;
        (*parked)++;
        uint64_t words[512];
        size_t n = (size_t)(t->stack_hi - sp) / 8;
        n = n < 512 ? n : 512;
        bool any = !ls_core_read(s->core, sp, words, n * 8);   /* unreadable: not this case */
        for (size_t w = 0; w < n && !any; w++)
            any = words[w] != 0;
        zeroed += !any;
    }
    return zeroed;
}

int ls_snapshot_open(const char *path, const ls_options *opt, ls_snapshot **out, ls_error *err)
{
    *out = NULL;
    ls_snapshot *s = calloc(1, sizeof *s);
    if (!s)
        return ls_error_set(err, path, "out of memory");
    s->path = path;
    if (ls_core_open(path, &s->core, err) != 0)
        goto fail;
    uint64_t root_addr = 0;
    if (s->core->has_note) {
        s->exe_path = opt && opt->exe ? opt->exe : s->core->exe_path;
        s->time_monotonic_ns = s->core->note.time_monotonic_ns;
        root_addr = s->core->note.debug_root;
        if (check_build_id(path, s->exe_path, s->core->build_id,
                           s->core->build_id_size <= MAX_BUILD_ID ? s->core->build_id_size : 0, err) != 0)
            goto fail;
    } else {
        /* A kernel or gcore core: the runtime is found through the
         * executable's symbol table. */
        const ls_file_mapping *exe = find_executable(s->core);
        if (!exe) {
            ls_error_set(err, path, "not a leakscan snapshot, and the core does not say which "
                         "executable it is (no NT_FILE/AUXV)");
            goto fail;
        }
        s->exe_path = opt && opt->exe ? opt->exe : exe->path;
        uint8_t id[MAX_BUILD_ID];
        if (check_build_id(path, s->exe_path, id, core_build_id(s->core, exe->start, id), err) != 0)
            goto fail;
        if (find_debug_root(path, s->exe_path, exe->start, &root_addr, err) != 0)
            goto fail;
        s->core->note.pid = s->core->nthreads ? (uint64_t)s->core->threads[0].tid : 0;
        s->core->reason = "core dump";
        struct stat st;                        /* written when it was taken */
        if (stat(path, &st) == 0)
            s->core->note.time_unix_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    }
    if (ls_runtime_read(s->core, root_addr, &s->rt, err) != 0)
        goto fail;
    if (build_index(s, err) != 0)
        goto fail;
    if (s->core->truncated_segments && !(opt && opt->quiet))
        fprintf(stderr, "leakscan: %s: warning: the core is cut short (RLIMIT_CORE? a full disk?): "
                "%zu segments (%.1f MiB of address space) are not in the file and read as zeros; "
                "tasks and objects there are missing, and a task blocked on something only that "
                "memory referenced shows as leaked\n", path,
                s->core->truncated_segments, (double)s->core->truncated_bytes / 1048576);
    size_t parked, zeroed = s->core->has_note ? 0 : zeroed_stacks(s, &parked);
    if (zeroed && zeroed * 2 >= parked && !(opt && opt->quiet))
        fprintf(stderr, "leakscan: %s: warning: the stacks of %zu of %zu parked tasks read as zeros, "
                "so their frames and the pointers on them are missing (a gcore core? gdb cannot "
                "read around stack guard regions: use 'leakscan attach --core', a kernel core, or "
                "run the program with LRT_STACK_GUARD=page)\n", path, zeroed, parked);
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
    free(s);
}

/*
 * reader.c — see reader.h. Opening a core, memory reads, and decoding the
 * runtime through the debug root, all bounds-checked.
 */
#include "reader.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/procfs.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_TASKS   ((uint64_t)1 << 26)
#define MAX_SPANS   ((uint64_t)1 << 28)
#define MAX_TIMERS  ((uint64_t)1 << 24)
#define MAX_WAITS   ((uint32_t)1 << 16)
#define MAX_STRIDE  (1u << 20)
#define MAX_WORKERS ((uint32_t)1 << 13)   /* Linux's NR_CPUS; the mark looks a tid up in all of them */

int ls_error_set(ls_error *err, const char *file, const char *fmt, ...)
{
    if (!err)
        return -1;
    int n = 0;
    if (file)
        n = snprintf(err->message, sizeof err->message, "%s: ", file);
    if (n < 0 || (size_t)n >= sizeof err->message)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message + n, sizeof err->message - (size_t)n, fmt, ap);
    va_end(ap);
    /* Messages quote strings from the file (NT_FILE paths, the note's exe
     * path); a newline or escape there would break the one-line error
     * contract or reach the terminal. Control bytes print as '?'. */
    ls_text_sanitize(err->message);
    return -1;
}

char *ls_text_sanitize(char *s)
{
    for (char *c = s; c && *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    return s;
}

const char *ls_text_safe(const char *s, char *buf, size_t size)
{
    if (size == 0)
        return "";
    snprintf(buf, size, "%s", s ? s : "");
    return ls_text_sanitize(buf);
}

/* ---------------------------------------------------------------------- */
/* Opening                                                                */
/* ---------------------------------------------------------------------- */

static int compare_segments(const void *a, const void *b)
{
    const ls_segment *x = a, *y = b;
    return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

/* NT_PRSTATUS of x86-64: pr_cursig at 12, pr_pid at 32, pr_reg at 112. */
static void parse_prstatus(ls_core *core, const uint8_t *desc, size_t size)
{
    struct elf_prstatus st;         /* notes are only 4-byte aligned: copy */
    if (size < sizeof st)
        return;
    memcpy(&st, desc, sizeof st);
    ls_thread *t = &core->threads[core->nthreads++];
    memset(t, 0, sizeof *t);
    t->tid = st.pr_pid;
    t->signal = st.pr_cursig;
    t->nregs = sizeof st.pr_reg / sizeof st.pr_reg[0];
    if (t->nregs > LS_MAX_REGISTERS)
        t->nregs = LS_MAX_REGISTERS;
    for (uint32_t i = 0; i < t->nregs; i++)
        t->regs[i] = (uint64_t)st.pr_reg[i];
}

/* NT_SIGINFO is a siginfo_t as the kernel lays it out: si_signo at 0,
 * si_code at 8, and for the faults si_addr at 16. */
static void parse_siginfo(ls_core *core, const uint8_t *desc, size_t size)
{
    if (size < 24 || core->has_siginfo)
        return;
    int32_t signo, code;
    memcpy(&signo, desc, 4);
    memcpy(&code, desc + 8, 4);
    core->has_siginfo = true;
    core->signal = signo;
    core->signal_code = code;
    if (signo == SIGSEGV || signo == SIGBUS || signo == SIGILL || signo == SIGFPE)
        memcpy(&core->fault_address, desc + 16, 8);
}

static int parse_nt_file(ls_core *core, const uint8_t *desc, size_t size, ls_error *err)
{
    if (size < 16)
        return ls_error_set(err, core->path, "NT_FILE note is %zu bytes, too short", size);
    uint64_t count, page_size;
    memcpy(&count, desc, 8);
    memcpy(&page_size, desc + 8, 8);
    if (count > (size - 16) / 24)
        return ls_error_set(err, core->path, "NT_FILE note claims %llu files in %zu bytes",
                            (unsigned long long)count, size);
    core->files = calloc(count ? count : 1, sizeof *core->files);
    if (!core->files)
        return ls_error_set(err, core->path, "out of memory");
    const char *names = (const char *)desc + 16 + count * 24;
    const char *end = (const char *)desc + size;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t e[3];
        memcpy(e, desc + 16 + i * 24, 24);
        const char *nul = memchr(names, '\0', (size_t)(end - names));
        if (!nul)
            return ls_error_set(err, core->path, "NT_FILE note: file name %llu is not terminated",
                                (unsigned long long)i);
        ls_file_mapping *f = &core->files[core->nfiles++];
        f->start = e[0];
        f->end = e[1];
        f->offset = e[2] * page_size;
        f->path = names;
        names = nul + 1;
    }
    return 0;
}

static int parse_leakscan_note(ls_core *core, const uint8_t *desc, size_t size, ls_error *err)
{
    ls_note_snapshot h;
    if (size < sizeof h)
        return ls_error_set(err, core->path, "LEAKSCAN note is %zu bytes, too short", size);
    memcpy(&h, desc, sizeof h);
    if (h.version != LS_NOTE_VERSION)
        return ls_error_set(err, core->path, "LEAKSCAN note version %u is not supported (expected %u)",
                            h.version, LS_NOTE_VERSION);
    uint64_t need = (uint64_t)sizeof h + h.build_id_size + h.exe_path_size + h.reason_size;
    if (need > size || h.exe_path_size == 0 || h.reason_size == 0)
        return ls_error_set(err, core->path, "LEAKSCAN note: field sizes do not fit its %zu bytes", size);
    const uint8_t *p = desc + sizeof h;
    core->build_id = p;
    core->build_id_size = h.build_id_size;
    p += h.build_id_size;
    if (p[h.exe_path_size - 1] != '\0' || p[h.exe_path_size + h.reason_size - 1] != '\0')
        return ls_error_set(err, core->path, "LEAKSCAN note: strings are not terminated");
    core->exe_path = (const char *)p;
    /* The reason is only printed: a copy with its control bytes made safe
     * (the file's own bytes are mapped read-only). */
    free(core->reason_copy);
    core->reason_copy = strdup((const char *)p + h.exe_path_size);
    if (!core->reason_copy)
        return ls_error_set(err, core->path, "out of memory");
    core->reason = ls_text_sanitize(core->reason_copy);
    core->note = h;
    core->has_note = true;
    return 0;
}

static int parse_modules_note(ls_core *core, const uint8_t *desc, size_t size, ls_error *err)
{
    ls_note_modules h;
    if (size < sizeof h)
        return ls_error_set(err, core->path, "LEAKSCAN modules note is %zu bytes, too short", size);
    memcpy(&h, desc, sizeof h);
    if (h.entry_size < sizeof(ls_note_module) || h.entry_size > 4096 ||
        h.count > (size - sizeof h) / h.entry_size)
        return ls_error_set(err, core->path, "LEAKSCAN modules note: %u entries of %u bytes do not "
                            "fit its %zu bytes", h.count, h.entry_size, size);
    core->module_ids = desc + sizeof h;
    core->module_ids_count = h.count;
    core->module_ids_stride = h.entry_size;
    return 0;
}

static int parse_notes(ls_core *core, Elf *elf, const GElf_Phdr *ph, ls_error *err)
{
    Elf_Data *data = elf_getdata_rawchunk(elf, (int64_t)ph->p_offset, ph->p_filesz, ELF_T_NHDR);
    if (!data)
        return ls_error_set(err, core->path, "cannot read the note segment: %s", elf_errmsg(-1));
    /* Room for threads: at most one per NT_PRSTATUS note, which is its
     * header, "CORE" padded to 8 and a whole prstatus (a bound per note
     * header made a note segment cost 22 times its size). */
    size_t max_notes = data->d_size / (sizeof(GElf_Nhdr) + 8 + sizeof(struct elf_prstatus)) + 1;
    size_t room = core->nthreads + max_notes;
    ls_thread *grown = realloc(core->threads, room * sizeof *grown);
    if (!grown)
        return ls_error_set(err, core->path, "out of memory");
    core->threads = grown;
    GElf_Nhdr nh;
    size_t offset = 0, name_off, desc_off, next;
    while (offset < data->d_size &&
           (next = gelf_getnote(data, offset, &nh, &name_off, &desc_off)) > 0) {
        const char *name = (const char *)data->d_buf + name_off;
        const uint8_t *desc = (const uint8_t *)data->d_buf + desc_off;
        if (nh.n_namesz == 5 && memcmp(name, "CORE", 5) == 0) {
            if (nh.n_type == NT_PRSTATUS && core->nthreads < room)
                parse_prstatus(core, desc, nh.n_descsz);
            else if (nh.n_type == NT_SIGINFO)
                parse_siginfo(core, desc, nh.n_descsz);
            else if (nh.n_type == NT_AUXV) {
                core->auxv = desc;
                core->auxv_size = nh.n_descsz;
            } else if (nh.n_type == NT_FILE && !core->files) {
                if (parse_nt_file(core, desc, nh.n_descsz, err) != 0)
                    return -1;
            }
        } else if (nh.n_namesz == sizeof LS_NOTE_OWNER && memcmp(name, LS_NOTE_OWNER, nh.n_namesz) == 0 &&
                   nh.n_type == LS_NOTE_SNAPSHOT) {
            if (parse_leakscan_note(core, desc, nh.n_descsz, err) != 0)
                return -1;
        } else if (nh.n_namesz == sizeof LS_NOTE_OWNER && memcmp(name, LS_NOTE_OWNER, nh.n_namesz) == 0 &&
                   nh.n_type == LS_NOTE_MODULES && !core->module_ids) {
            if (parse_modules_note(core, desc, nh.n_descsz, err) != 0)
                return -1;
        } else if (nh.n_namesz == sizeof LS_NOTE_OWNER && memcmp(name, LS_NOTE_OWNER, nh.n_namesz) == 0 &&
                   nh.n_type == NT_PRSTATUS) {
            /* A parked task as a thread for gdb (pseudo-threads, README
             * §1): never one of the analysis's threads, never read. */
            core->pseudo_threads++;
        }
        offset = next;
    }
    return 0;
}

const char *ls_file_type_text(unsigned mode)
{
    return S_ISDIR(mode) ? "a directory" : S_ISCHR(mode) ? "a character device"
         : S_ISBLK(mode) ? "a block device" : S_ISFIFO(mode) ? "a FIFO or pipe"
         : S_ISSOCK(mode) ? "a socket" : S_ISREG(mode) ? "a regular file" : "not a file";
}

int ls_core_open(const char *path, ls_core **out, ls_error *err)
{
    /* O_NONBLOCK: opening a FIFO would wait for a writer (it is refused). */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        *out = NULL;
        return ls_error_set(err, path, "cannot open: %s", strerror(errno));
    }
    return ls_core_open_fd(path, fd, out, err);
}

int ls_core_open_fd(const char *path, int fd, ls_core **out, ls_error *err)
{
    *out = NULL;
    ls_core *core = calloc(1, sizeof *core);
    if (!core) {
        close(fd);
        return ls_error_set(err, path, "out of memory");
    }
    core->fd = fd;
    core->path = strdup(path);
    if (!core->path) {
        close(fd);
        free(core);
        return ls_error_set(err, path, "out of memory");
    }
    Elf *elf = NULL;
    struct stat st;
    if (fstat(core->fd, &st) != 0) {
        ls_error_set(err, path, "cannot stat: %s", strerror(errno));
        goto fail;
    }
    if (S_ISFIFO(st.st_mode)) {
        /* Only a stream: cores are mapped, read at random. */
        ls_error_set(err, path, "not a regular file (a FIFO or pipe): a snapshot or core is mapped "
                     "into memory, not read as a stream; save it to a file first");
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        ls_error_set(err, path, "not a regular file (%s): give a snapshot, a core or a --json result",
                     ls_file_type_text(st.st_mode));
        goto fail;
    }
    if (st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
        ls_error_set(err, path, "not an ELF core file (%lld bytes is too short)", (long long)st.st_size);
        goto fail;
    }
    core->size = (size_t)st.st_size;
    void *map = mmap(NULL, core->size, PROT_READ, MAP_PRIVATE, core->fd, 0);
    if (map == MAP_FAILED) {
        ls_error_set(err, path, "cannot map: %s", strerror(errno));
        goto fail;
    }
    core->data = map;

    elf_version(EV_CURRENT);
    elf = elf_memory((char *)core->data, core->size);
    if (!elf || elf_kind(elf) != ELF_K_ELF) {
        ls_error_set(err, path, "not an ELF file");
        goto fail;
    }
    GElf_Ehdr eh;
    if (!gelf_getehdr(elf, &eh)) {
        ls_error_set(err, path, "bad ELF header: %s", elf_errmsg(-1));
        goto fail;
    }
    if (eh.e_type != ET_CORE) {
        ls_error_set(err, path, "not a core file (ELF type %u; a snapshot or core dump is ET_CORE)",
                     eh.e_type);
        goto fail;
    }
    if (gelf_getclass(elf) != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB) {
        ls_error_set(err, path, "only 64-bit little-endian cores are supported");
        goto fail;
    }
    core->machine = eh.e_machine;
    size_t phnum;
    if (elf_getphdrnum(elf, &phnum) != 0) {
        ls_error_set(err, path, "bad program header count: %s", elf_errmsg(-1));
        goto fail;
    }
    if (phnum > core->size / sizeof(Elf64_Phdr)) {
        ls_error_set(err, path, "claims %zu program headers, more than the file can hold", phnum);
        goto fail;
    }
    core->segments = calloc(phnum ? phnum : 1, sizeof *core->segments);
    if (!core->segments) {
        ls_error_set(err, path, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < phnum; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(elf, (int)i, &ph)) {
            ls_error_set(err, path, "program header %zu is unreadable: %s", i, elf_errmsg(-1));
            goto fail;
        }
        if (ph.p_type == PT_NOTE) {
            if (ph.p_offset > core->size || ph.p_filesz > core->size - ph.p_offset) {
                ls_error_set(err, path, "note segment %zu lies outside the file", i);
                goto fail;
            }
            if (parse_notes(core, elf, &ph, err) != 0)
                goto fail;
        } else if (ph.p_type == PT_LOAD) {
            if (ph.p_filesz > ph.p_memsz || ph.p_vaddr + ph.p_memsz < ph.p_vaddr) {
                ls_error_set(err, path, "segment %zu has impossible sizes", i);
                goto fail;
            }
            ls_segment *s = &core->segments[core->nsegments++];
            s->vaddr = ph.p_vaddr;
            s->memsz = ph.p_memsz;
            s->offset = ph.p_offset;
            s->flags = ph.p_flags;
            /* A truncated core (RLIMIT_CORE): keep what the file has. */
            uint64_t avail = ph.p_offset < core->size ? core->size - ph.p_offset : 0;
            s->filesz = ph.p_filesz < avail ? ph.p_filesz : avail;
            s->missing = ph.p_filesz - s->filesz;
            if (s->filesz < ph.p_filesz) {
                core->truncated_segments++;
                core->truncated_bytes += ph.p_filesz - s->filesz;
            }
        }
    }
    qsort(core->segments, core->nsegments, sizeof *core->segments, compare_segments);
    for (size_t i = 1; i < core->nsegments; i++) {
        if (core->segments[i].vaddr < core->segments[i - 1].vaddr + core->segments[i - 1].memsz) {
            ls_error_set(err, path, "segments at 0x%llx and 0x%llx overlap",
                         (unsigned long long)core->segments[i - 1].vaddr,
                         (unsigned long long)core->segments[i].vaddr);
            goto fail;
        }
    }
    if (ls_core_index_modules(core, err) != 0)
        goto fail;
    ls_core_check_modules(core, NULL, NULL);   /* the loader checks again, knowing the executable */
    elf_end(elf);
    *out = core;
    return 0;

fail:
    if (elf)
        elf_end(elf);
    ls_core_close(core);
    return -1;
}

void ls_core_close(ls_core *core)
{
    if (!core)
        return;
    if (core->data)
        munmap((void *)core->data, core->size);
    if (core->fd >= 0)
        close(core->fd);
    free(core->segments);
    free(core->threads);
    for (size_t i = 0; core->modules && i < core->nmodules; i++)
        if (core->modules[i].fd >= 0)
            close(core->modules[i].fd);
    free(core->modules);
    free(core->files);
    free(core->path);
    free(core->reason_copy);
    free(core);
}

/* ---------------------------------------------------------------------- */
/* Memory                                                                 */
/* ---------------------------------------------------------------------- */

const ls_segment *ls_core_segment(const ls_core *core, uint64_t addr)
{
    size_t lo = 0, hi = core->nsegments;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const ls_segment *s = &core->segments[mid];
        if (addr < s->vaddr)
            hi = mid;
        else if (addr - s->vaddr >= s->memsz)
            lo = mid + 1;
        else
            return s;
    }
    return NULL;
}

const void *ls_core_pointer(const ls_core *core, uint64_t addr, size_t n)
{
    const ls_segment *s = ls_core_segment(core, addr);
    if (!s)
        return NULL;
    uint64_t off = addr - s->vaddr;
    if (off > s->filesz || n > s->filesz - off)
        return NULL;
    return core->data + s->offset + off;
}

int ls_open_regular(const char *path)
{
    /* O_NONBLOCK: opening a FIFO waits for a writer otherwise. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    return fd;
}

bool ls_regular_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Reads n bytes at addr from the file mapped there, if any, and only if
 * that file is the object the program ran (modules.c): a path from the
 * core is hostile, and a rebuilt library holds other bytes. */
static bool read_mapped_file(const ls_core *core, uint64_t addr, void *dst, size_t n)
{
    for (size_t i = 0; i < core->nfiles; i++) {
        const ls_file_mapping *f = &core->files[i];
        if (addr < f->start || addr >= f->end || n > f->end - addr)
            continue;
        if (f->module < 0 || core->modules[f->module].state != LS_MODULE_MATCH)
            return false;
        ssize_t got = pread(core->modules[f->module].fd, dst, n, (off_t)(f->offset + (addr - f->start)));
        return got == (ssize_t)n;
    }
    return false;
}

/* ls_core_read; with files false, only the core's own segments (what
 * the runtime's tables are read from: they live in anonymous memory). */
static bool core_read(const ls_core *core, uint64_t addr, void *dst, size_t n, bool files)
{
    uint8_t *out = dst;
    while (n > 0) {
        const ls_segment *s = ls_core_segment(core, addr);
        if (!s)
            return files && read_mapped_file(core, addr, out, n);
        uint64_t off = addr - s->vaddr;
        uint64_t chunk = s->memsz - off;
        if (chunk > n)
            chunk = n;
        if (off < s->filesz) {
            uint64_t have = s->filesz - off < chunk ? s->filesz - off : chunk;
            memcpy(out, core->data + s->offset + off, have);
            memset(out + have, 0, chunk - have);
        } else {
            memset(out, 0, chunk);
        }
        out += chunk;
        addr += chunk;
        n -= chunk;
    }
    return true;
}

bool ls_core_read(const ls_core *core, uint64_t addr, void *dst, size_t n)
{
    return core_read(core, addr, dst, n, true);
}

bool ls_core_read_u64(const ls_core *core, uint64_t addr, uint64_t *v)
{
    return ls_core_read(core, addr, v, sizeof *v);
}

bool ls_core_read_u32(const ls_core *core, uint64_t addr, uint32_t *v)
{
    return ls_core_read(core, addr, v, sizeof *v);
}

/* ---------------------------------------------------------------------- */
/* The debug root                                                         */
/* ---------------------------------------------------------------------- */

static bool fits(uint32_t offset, uint64_t size, uint32_t stride)
{
    return (uint64_t)offset + size <= stride;
}

int ls_root_read(const ls_core *core, uint64_t addr, ls_debug_root *r, ls_error *err)
{
    const char *f = core->path;
    memset(r, 0, sizeof *r);
    uint64_t magic;
    if (!ls_core_read_u64(core, addr, &magic))
        return ls_error_set(err, f, "the debug root at 0x%llx is not in the file", (unsigned long long)addr);
    if (magic != LS_ROOT_MAGIC)
        return ls_error_set(err, f, "no libleakrt debug root at 0x%llx (bad magic 0x%016llx)",
                            (unsigned long long)addr, (unsigned long long)magic);
    uint32_t head[2];
    if (!ls_core_read(core, addr + 8, head, sizeof head))
        return ls_error_set(err, f, "the debug root is cut off");
    if (head[0] != LS_ROOT_VERSION)
        return ls_error_set(err, f, "debug root version %u is not supported (this leakscan reads version %u)",
                            head[0], LS_ROOT_VERSION);
    if (head[1] < LS_ROOT_BASE_SIZE)
        return ls_error_set(err, f, "debug root is %u bytes, smaller than version %u's %zu",
                            head[1], LS_ROOT_VERSION, (size_t)LS_ROOT_BASE_SIZE);
    /* A root from an older runtime ends early: what it lacks stays zero. */
    if (!ls_core_read(core, addr, r, head[1] < sizeof *r ? head[1] : sizeof *r))
        return ls_error_set(err, f, "the debug root is cut off");
    if (r->pointer_size != 8)
        return ls_error_set(err, f, "debug root: pointer size %u is not supported", r->pointer_size);
    if (r->elf_machine != core->machine)
        return ls_error_set(err, f, "debug root is for machine %u, the core for %u",
                            r->elf_machine, core->machine);
    if (r->task_stride == 0 || r->task_stride > MAX_STRIDE ||
        !fits(r->off_task_id, 8, r->task_stride) || !fits(r->off_task_parent_id, 8, r->task_stride) ||
        !fits(r->off_task_create_pc, 8, r->task_stride) || !fits(r->off_task_state, 4, r->task_stride) ||
        !fits(r->off_task_wait_reason, 4, r->task_stride) ||
        !fits(r->off_task_wait_since, 8, r->task_stride) ||
        !fits(r->off_task_wait_addrs, 8, r->task_stride) ||
        !fits(r->off_task_wait_count, 4, r->task_stride) ||
        !fits(r->off_task_stack_lo, 8, r->task_stride) || !fits(r->off_task_stack_hi, 8, r->task_stride) ||
        !fits(r->off_task_is_main, 1, r->task_stride) || r->reg_count < 2 || r->reg_count > LS_MAX_REGS)
        return ls_error_set(err, f, "debug root: the task layout is inconsistent");
    for (uint32_t i = 0; i < r->reg_count; i++)
        if (!fits(r->off_task_regs + r->regs[i].offset, 8, r->task_stride))
            return ls_error_set(err, f, "debug root: register %u lies outside the task slot", i);
    if (r->ancestry_max && (r->ancestry_max > 1024 || r->ancestry_stride < 24 ||
                            !fits(r->off_task_ancestry_count, 4, r->task_stride) ||
                            !fits(r->off_task_ancestry, (uint64_t)r->ancestry_max * r->ancestry_stride,
                                  r->task_stride)))
        return ls_error_set(err, f, "debug root: the task ancestry layout is inconsistent");
    if (r->off_task_labels && (!fits(r->off_task_labels, 8, r->task_stride) ||
                               r->off_labels_count > 64 || r->off_labels_pairs > 64))
        return ls_error_set(err, f, "debug root: the label layout is inconsistent");
    if (r->span_stride == 0 || r->span_stride > MAX_STRIDE ||
        !fits(r->off_span_base, 8, r->span_stride) || !fits(r->off_span_npages, 4, r->span_stride) ||
        !fits(r->off_span_state, 1, r->span_stride) || !fits(r->off_span_noscan, 1, r->span_stride) ||
        !fits(r->off_span_elem_size, 4, r->span_stride) || !fits(r->off_span_nelems, 4, r->span_stride) ||
        !fits(r->off_span_alloc_bits, 8, r->span_stride) || r->page_size == 0 ||
        (r->page_size & (r->page_size - 1)))
        return ls_error_set(err, f, "debug root: the span layout is inconsistent");
    if (r->worker_count && (r->worker_stride == 0 || r->worker_stride > MAX_STRIDE ||
                            !fits(r->off_worker_tid, 4, r->worker_stride) ||
                            !fits(r->off_worker_current, 8, r->worker_stride)))
        return ls_error_set(err, f, "debug root: the worker layout is inconsistent");
    /* The worker table is read once per thread and the timer table is
     * pointers the runtime wrote, so in the file: a hostile count must not
     * make those loops run for minutes (fuzzing found 2^24 workers). */
    if (r->reason_count > LS_MAX_REASONS || r->internal_count > LS_MAX_INTERNAL ||
        r->worker_count > MAX_WORKERS || r->timer_count > core->size / 8)
        return ls_error_set(err, f, "debug root: counts out of range");
    if (r->task_count > MAX_TASKS || r->span_count > MAX_SPANS || r->timer_count > MAX_TIMERS)
        return ls_error_set(err, f, "debug root: table sizes are implausible (%llu tasks, %llu spans)",
                            (unsigned long long)r->task_count, (unsigned long long)r->span_count);
    /* Ranges the mark excludes from the roots as [start, start + size):
     * a hostile root must not make one wrap around (fuzzing found it).
     * Each stack chunk holds at least one task's stack, and its address
     * was written into the chunk table, so there are no more chunks than
     * tasks nor more than the file has 8-byte words: the mark allocates
     * one exclusion per chunk. */
    if (r->arena + r->arena_size < r->arena || r->arena_used > r->arena_size)
        return ls_error_set(err, f, "debug root: the heap arena (0x%llx, %llu bytes, %llu used) is impossible",
                            (unsigned long long)r->arena, (unsigned long long)r->arena_size,
                            (unsigned long long)r->arena_used);
    for (uint32_t i = 0; i < r->internal_count; i++)
        if (r->internal[i].end < r->internal[i].start)
            return ls_error_set(err, f, "debug root: internal region %u ends before it starts", i);
    if (r->stack_chunk_count > r->task_count + 1 || r->stack_chunk_count > core->size / 8 ||
        r->stack_chunk_size > ((uint64_t)1 << 40))
        return ls_error_set(err, f, "debug root: %llu stack chunks of %llu bytes are implausible for %llu tasks",
                            (unsigned long long)r->stack_chunk_count, (unsigned long long)r->stack_chunk_size,
                            (unsigned long long)r->task_count);
    for (uint32_t i = 0; i < r->reason_count; i++) {
        r->reason_names[i][LS_REASON_NAME_SIZE - 1] = '\0';
        ls_text_sanitize(r->reason_names[i]);      /* the views print them */
    }
    return 0;
}

const char *ls_reason_name(const ls_runtime *rt, uint32_t reason)
{
    if (reason < rt->root.reason_count && rt->root.reason_names[reason][0])
        return rt->root.reason_names[reason];
    return "?";
}

/* ---------------------------------------------------------------------- */
/* Tasks, spans, timers                                                   */
/* ---------------------------------------------------------------------- */

#define FIELD(T, p, off) ({ T v_; memcpy(&v_, (p) + (off), sizeof v_); v_; })

/* Decodes one task slot, its registers into regs (reg_count) and its
 * creators into ancestry (t->nancestry of them): the caller keeps them
 * apart from the ls_task (reader.h). NULL, or why the slot is not
 * believable (a crash can leave a slot half-written). */
static const char *read_task(const ls_core *core, const ls_debug_root *r, uint64_t slot,
                             const uint8_t *p, ls_task *t, uint64_t regs[LS_MAX_REGS],
                             ls_ancestor ancestry[LS_MAX_ANCESTRY])
{
    memset(t, 0, sizeof *t);
    t->slot = slot;
    t->label_set = -1;
    t->state = FIELD(uint32_t, p, r->off_task_state);
    if (t->state == LS_TASK_FREE || t->state == LS_TASK_DEAD)
        return NULL;
    if (t->state > LS_TASK_DEAD)
        return "state out of range";
    t->id = FIELD(uint64_t, p, r->off_task_id);
    t->parent_id = FIELD(uint64_t, p, r->off_task_parent_id);
    t->create_pc = FIELD(uint64_t, p, r->off_task_create_pc);
    t->wait_reason = FIELD(uint32_t, p, r->off_task_wait_reason);
    t->wait_since = FIELD(int64_t, p, r->off_task_wait_since);
    t->wait_count = FIELD(uint32_t, p, r->off_task_wait_count);
    t->is_main = FIELD(uint8_t, p, r->off_task_is_main) != 0;
    t->stack_lo = FIELD(uint64_t, p, r->off_task_stack_lo);
    t->stack_hi = FIELD(uint64_t, p, r->off_task_stack_hi);
    for (uint32_t i = 0; i < r->reg_count; i++)
        regs[i] = FIELD(uint64_t, p, r->off_task_regs + r->regs[i].offset);
    if (r->ancestry_max) {
        uint32_t n = FIELD(uint32_t, p, r->off_task_ancestry_count);
        if (n > r->ancestry_max)
            return "ancestry count out of range";
        if (n > LS_MAX_ANCESTRY)
            n = LS_MAX_ANCESTRY;          /* a runtime that keeps more: the nearest */
        for (uint32_t i = 0; i < n; i++) {
            const uint8_t *e = p + r->off_task_ancestry + (size_t)i * r->ancestry_stride;
            ancestry[i].id = FIELD(uint64_t, e, 0);
            ancestry[i].parent_id = FIELD(uint64_t, e, 8);
            ancestry[i].create_pc = FIELD(uint64_t, e, 16);
        }
        t->nancestry = n;
    }
    if (r->off_task_labels)
        t->labels_addr = FIELD(uint64_t, p, r->off_task_labels);
    if (t->id == 0)
        return "task id 0";
    if (t->stack_lo >= t->stack_hi || t->stack_hi - t->stack_lo > ((uint64_t)1 << 32))
        return "impossible stack bounds";
    if (t->state == LS_TASK_WAITING && t->wait_reason >= r->reason_count)
        return "wait reason out of range";
    if (t->state != LS_TASK_WAITING)
        t->wait_count = 0;
    if (t->wait_count > MAX_WAITS)
        return "too many waited objects";
    if (t->wait_count) {
        uint64_t addrs = FIELD(uint64_t, p, r->off_task_wait_addrs);
        t->wait_addrs = malloc(t->wait_count * sizeof *t->wait_addrs);
        if (!t->wait_addrs ||
            !ls_core_read(core, addrs, t->wait_addrs, t->wait_count * sizeof *t->wait_addrs)) {
            free(t->wait_addrs);
            t->wait_addrs = NULL;
            return "its waited objects are unreadable";
        }
    }
    return NULL;
}

/* How many slots of `stride` bytes from `at` on hold nothing of the
 * file's: *zero set if they read as zeros (a segment's tail past its file
 * data), clear if they are in no segment at all. 0: the slot at `at` may
 * hold data. A table claiming 2^26 slots over such memory is passed over
 * at once, not slot by slot (fuzzing: 1 MiB slots over a 2^46-byte zero
 * tail never ended). */
static uint64_t slots_without_data(const ls_core *core, uint64_t at, uint32_t stride, bool *zero)
{
    const ls_segment *s = ls_core_segment(core, at);
    if (s) {
        uint64_t off = at - s->vaddr;
        if (off < s->filesz)
            return 0;
        if (off < s->filesz + s->missing) {    /* lost when the core was cut: not free */
            *zero = false;
            return (s->filesz + s->missing - off + stride - 1) / stride;
        }
        *zero = true;                          /* the slots wholly inside the tail */
        return (s->vaddr + s->memsz - at) / stride;
    }
    *zero = false;                             /* the slots starting before the next segment */
    size_t lo = 0, hi = core->nsegments;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (core->segments[mid].vaddr <= at) lo = mid + 1; else hi = mid;
    }
    if (lo == core->nsegments)
        return UINT64_MAX;
    return (core->segments[lo].vaddr - at - 1) / stride + 1;
}

static int compare_spans(const void *a, const void *b)
{
    const ls_span *x = a, *y = b;
    return x->base < y->base ? -1 : x->base > y->base;
}

/* Decodes one span descriptor. NULL, or why it is not believable. */
static const char *read_span(const ls_core *core, const ls_debug_root *r, const uint8_t *p, ls_span *s)
{
    memset(s, 0, sizeof *s);
    s->state = FIELD(uint8_t, p, r->off_span_state);
    if (s->state != LS_SPAN_SMALL && s->state != LS_SPAN_LARGE)
        return NULL;
    s->base = FIELD(uint64_t, p, r->off_span_base);
    uint32_t npages = FIELD(uint32_t, p, r->off_span_npages);
    s->size = (uint64_t)npages * r->page_size;
    s->noscan = FIELD(uint8_t, p, r->off_span_noscan) != 0;
    s->elem_size = FIELD(uint32_t, p, r->off_span_elem_size);
    s->nelems = FIELD(uint32_t, p, r->off_span_nelems);
    s->alloc_bits = FIELD(uint64_t, p, r->off_span_alloc_bits);
    if (npages == 0 || s->base < r->arena || s->base - r->arena >= r->arena_size ||
        s->size > r->arena_size - (s->base - r->arena))
        return "outside the heap arena";
    /* Spans are made of pages: on a boundary, no two share a page (the
     * loader's page index and its search of the spans then agree). */
    if ((s->base - r->arena) % r->page_size)
        return "not on a page boundary";
    if (s->elem_size == 0 || s->nelems == 0 || (uint64_t)s->nelems * s->elem_size > s->size ||
        (s->state == LS_SPAN_LARGE && s->nelems != 1))
        return "objects do not fit it";
    uint64_t words = ((uint64_t)s->nelems + 63) / 64;
    return ls_core_pointer(core, s->alloc_bits, words * 8) ? NULL : "its allocation bitmap is unreadable";
}

bool ls_span_in_use(const ls_core *core, const ls_span *s, uint32_t i)
{
    uint64_t word;
    if (i >= s->nelems || !ls_core_read_u64(core, s->alloc_bits + (uint64_t)(i / 64) * 8, &word))
        return false;
    return (word >> (i % 64)) & 1;
}

/* ---------------------------------------------------------------------- */
/* Labels                                                                  */
/* ---------------------------------------------------------------------- */

#define MAX_LABELS       64
#define MAX_LABEL_STRING 256

/* Label sets are read so that what they cost is bounded by the file, not
 * by what its pointers claim. A file can make every task's set distinct
 * (sets 16 bytes apart share their pairs) and every key and value the same
 * 256-byte string: read a byte at a time and copied per label, 65,536
 * such tasks took 27 s and 2.3 GB. So:
 *
 *  - each string is read once per address, in address order, a chunk at a
 *    time; a string that ends where the one before it ends is a suffix of
 *    it and shares its copy, so the text copied is at most the bytes that
 *    hold it (the strings copied do not overlap);
 *  - every label costs the runtime 16 bytes (its pair), so a file of S
 *    bytes holds at most S / 16 of them: sets past that budget are
 *    overlapping ones, and are not read (counted: the loader warns).
 *
 * What a set decodes to is as before: labels up to its first unreadable
 * pair, and no labels at all if one of their strings is unreadable or not
 * terminated within MAX_LABEL_STRING bytes. */

/* Whether the string at addr is terminated within MAX_LABEL_STRING bytes,
 * all of them readable: its length then, else SIZE_MAX. Read into buf
 * (MAX_LABEL_STRING + 1 bytes) 64-byte block by block, byte by byte only
 * in a block that cannot be read whole (a boundary of the memory). */
static size_t read_label_string(const ls_core *core, uint64_t addr, char *buf)
{
    size_t n = 0;
    while (n <= MAX_LABEL_STRING) {
        size_t chunk = 64 - (size_t)((addr + n) % 64);
        if (chunk > MAX_LABEL_STRING + 1 - n)
            chunk = MAX_LABEL_STRING + 1 - n;
        if (!ls_core_read(core, addr + n, buf + n, chunk)) {
            for (size_t i = 0; i < chunk; i++) {
                if (!ls_core_read(core, addr + n + i, buf + n + i, 1))
                    return SIZE_MAX;
                if (buf[n + i] == '\0')
                    return n + i;
            }
            return SIZE_MAX;                   /* (all read: then a NUL was found) */
        }
        const char *nul = memchr(buf + n, '\0', chunk);
        if (nul)
            return (size_t)(nul - buf);
        n += chunk;
    }
    return SIZE_MAX;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The strings at the sorted, distinct addresses addrs[0 .. n): at[i] is
 * the offset of string i's text in *text, SIZE_MAX if it is unreadable.
 * 0 or -1 (out of memory). */
static int read_label_strings(const ls_core *core, const uint64_t *addrs, size_t n, size_t *at,
                              char **text_out)
{
    size_t len = 0, cap = 4096;
    char *text = malloc(cap), buf[MAX_LABEL_STRING + 1];
    if (!text)
        return -1;
    uint64_t start = 0, end = 0;               /* the last string copied: [start, end] its NUL */
    size_t start_at = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        if (start_at != SIZE_MAX && addrs[i] > start && addrs[i] <= end) {
            at[i] = start_at + (size_t)(addrs[i] - start);   /* a suffix of it */
            continue;
        }
        size_t sl = read_label_string(core, addrs[i], buf);
        if (sl == SIZE_MAX) {
            at[i] = SIZE_MAX;
            continue;
        }
        if (len + sl + 1 > cap) {
            while (len + sl + 1 > cap)
                cap *= 2;
            char *grown = realloc(text, cap);
            if (!grown) {
                free(text);
                return -1;
            }
            text = grown;
        }
        memcpy(text + len, buf, sl + 1);
        ls_text_sanitize(text + len);          /* labels are printed */
        at[i] = start_at = len;
        start = addrs[i];
        end = addrs[i] + sl;
        len += sl + 1;
    }
    *text_out = text;
    return 0;
}

static void free_label_set(ls_label_set *set)
{
    free(set->labels);                         /* the strings are rt->label_text's */
}

typedef struct label_ref { uint64_t addr; size_t task; } label_ref;

static int compare_label_refs(const void *a, const void *b)
{
    const label_ref *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* The pairs of the label set at addr that claims `claimed` labels, as far
 * as they can be read: their string addresses into pairs, two per label.
 * How many were read. */
static uint32_t read_label_pairs(const ls_core *core, const ls_debug_root *r, uint64_t addr,
                                 uint32_t claimed, uint64_t *pairs)
{
    uint32_t count = 0;
    for (uint32_t i = 0; i < claimed; i++) {
        uint64_t at = addr + r->off_labels_pairs + (uint64_t)i * 16;
        if (!ls_core_read_u64(core, at, &pairs[2 * i]) || !ls_core_read_u64(core, at + 8, &pairs[2 * i + 1]))
            break;
        count = i + 1;
    }
    return count;
}

/* Decodes each distinct label set once (tasks share them) and points
 * every task at its set. -1 only when out of memory. */
static int read_label_sets(const ls_core *core, const ls_debug_root *r, ls_runtime *rt)
{
    size_t n = 0;
    label_ref *refs = malloc((rt->ntasks ? rt->ntasks : 1) * sizeof *refs);
    if (!refs)
        return -1;
    for (size_t i = 0; i < rt->ntasks; i++) {
        rt->tasks[i].label_set = -1;
        if (rt->tasks[i].labels_addr)
            refs[n++] = (label_ref){ rt->tasks[i].labels_addr, i };
    }
    qsort(refs, n, sizeof *refs, compare_label_refs);
    rt->label_sets = calloc(n ? n : 1, sizeof *rt->label_sets);
    /* Per distinct set: where its pairs start in `pairs` (SIZE_MAX: not a
     * set), then its count; the pairs' string addresses, two per label. */
    size_t *first = malloc((n ? n : 1) * sizeof *first), npairs = 0, cap = 1024;
    uint32_t *counts = malloc((n ? n : 1) * sizeof *counts);
    uint64_t *pairs = malloc(cap * sizeof *pairs), *addrs = NULL;
    size_t *at = NULL, nsets = 0;
    uint64_t budget = core->size / 16;         /* labels the file can hold */
    int status = -1;
    if (!rt->label_sets || !first || !counts || !pairs)
        goto out;
    for (size_t k = 0; k < n; k++) {
        if (k && refs[k].addr == refs[k - 1].addr)
            continue;
        uint32_t claimed;
        first[nsets] = SIZE_MAX;               /* not a set, until read */
        counts[nsets] = 0;
        if (!ls_core_read_u32(core, refs[k].addr + r->off_labels_count, &claimed) || claimed > MAX_LABELS) {
            nsets++;
            continue;
        }
        if (claimed > budget) {                /* past what the file holds */
            rt->unread_label_sets++;
            nsets++;
            continue;
        }
        if (npairs + 2 * MAX_LABELS > cap) {
            uint64_t *grown = realloc(pairs, 2 * cap * sizeof *grown);
            if (!grown)
                goto out;
            pairs = grown;
            cap *= 2;
        }
        uint32_t count = read_label_pairs(core, r, refs[k].addr, claimed, pairs + npairs);
        first[nsets] = npairs;
        counts[nsets++] = count;
        npairs += 2 * (size_t)count;
        budget -= claimed;
    }
    /* Every string once, in address order. */
    addrs = malloc((npairs ? npairs : 1) * sizeof *addrs);
    if (!addrs)
        goto out;
    memcpy(addrs, pairs, npairs * sizeof *addrs);
    qsort(addrs, npairs, sizeof *addrs, compare_u64);
    size_t naddrs = 0;
    for (size_t i = 0; i < npairs; i++)
        if (!naddrs || addrs[i] != addrs[naddrs - 1])
            addrs[naddrs++] = addrs[i];
    if (!(at = malloc((naddrs ? naddrs : 1) * sizeof *at)))
        goto out;
    if (read_label_strings(core, addrs, naddrs, at, &rt->label_text) != 0)
        goto out;
    /* The sets, each believable one kept, in address order. */
    for (size_t k = 0, set = 0; k < n; k++) {
        if (k && refs[k].addr == refs[k - 1].addr) {
            if (rt->nlabel_sets && rt->label_sets[rt->nlabel_sets - 1].addr == refs[k].addr)
                rt->tasks[refs[k].task].label_set = (int32_t)(rt->nlabel_sets - 1);
            continue;                          /* (else its set did not decode) */
        }
        size_t from = first[set];
        uint32_t count = counts[set++];
        if (from == SIZE_MAX)
            continue;
        ls_label_set *ls = &rt->label_sets[rt->nlabel_sets];
        ls->addr = refs[k].addr;
        ls->labels = calloc(count ? count : 1, sizeof *ls->labels);
        if (!ls->labels)
            goto out;
        bool readable = true;
        for (uint32_t i = 0; i < 2 * count && readable; i++) {
            const uint64_t *hit = bsearch(&pairs[from + i], addrs, naddrs, sizeof *addrs, compare_u64);
            size_t off = at[hit - addrs];
            readable = off != SIZE_MAX;
            char *str = readable ? rt->label_text + off : NULL;
            if (i % 2)
                ls->labels[i / 2].value = str;
            else
                ls->labels[i / 2].key = str;
        }
        if (!readable) {
            free(ls->labels);
            memset(ls, 0, sizeof *ls);
            continue;
        }
        ls->count = count;
        rt->tasks[refs[k].task].label_set = (int32_t)rt->nlabel_sets++;
    }
    status = 0;
out:
    free(refs);
    free(first);
    free(counts);
    free(pairs);
    free(addrs);
    free(at);
    return status;
}

typedef struct slot_ref { uint64_t slot; size_t task; } slot_ref;

static int compare_slot_refs(const void *a, const void *b)
{
    const slot_ref *x = a, *y = b;
    return x->slot < y->slot ? -1 : x->slot > y->slot;
}

/* Room for one more task in rt's tables (tasks, their registers, their
 * ancestry), grown by doubling. false when out of memory. */
static bool room_for_a_task(ls_runtime *rt, uint32_t reg_count, size_t *tasks_cap, size_t nancestors,
                            size_t *ancestors_cap)
{
    if (rt->ntasks == *tasks_cap) {
        ls_task *tasks = realloc(rt->tasks, 2 * *tasks_cap * sizeof *tasks);
        if (!tasks)
            return false;
        rt->tasks = tasks;
        uint64_t *regs = realloc(rt->task_regs, 2 * *tasks_cap * reg_count * sizeof *regs);
        if (!regs)
            return false;
        rt->task_regs = regs;
        *tasks_cap *= 2;
    }
    if (nancestors + LS_MAX_ANCESTRY > *ancestors_cap) {
        ls_ancestor *an = realloc(rt->ancestors, 2 * *ancestors_cap * sizeof *an);
        if (!an)
            return false;
        rt->ancestors = an;
        *ancestors_cap *= 2;
    }
    return true;
}

/* Appends v to *arr (n, cap). 0 or -1 (out of memory). */
static int push_u64(uint64_t **arr, size_t *n, size_t *cap, uint64_t v)
{
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 16;
        uint64_t *grown = realloc(*arr, c * sizeof *grown);
        if (!grown)
            return -1;
        *arr = grown;
        *cap = c;
    }
    (*arr)[(*n)++] = v;
    return 0;
}

static int read_roots(const ls_core *core, const ls_debug_root *r, ls_runtime *rt)
{
    size_t cap = 0;
    for (uint64_t i = 0; i < r->timer_count; i++) {
        uint64_t timer, target;
        uint8_t kind, state;
        if (!ls_core_read_u64(core, r->timers + i * 8, &timer))
            break;                       /* past the array the file holds */
        if (!ls_core_read(core, timer + r->off_timer_kind, &kind, 1) ||
            !ls_core_read(core, timer + r->off_timer_state, &state, 1) ||
            !ls_core_read_u64(core, timer + r->off_timer_target, &target))
            continue;
        if (kind == LS_TIMER_CTX && state == LS_TIMER_PENDING &&
            push_u64(&rt->timer_targets, &rt->ntimer_targets, &cap, target) != 0)
            return -1;
    }
    cap = 0;
    for (uint64_t i = 0; i < r->pin_count; i++) {
        uint64_t addr;
        if (!ls_core_read_u64(core, r->pins + i * 8, &addr))
            break;
        if (push_u64(&rt->pinned, &rt->npinned, &cap, addr) != 0)
            return -1;
    }
    return 0;
}

/* What the report says when malloc's blocks were not heap objects (the
 * analysis then scans them as roots, which can only hide a leak). */
static const char *malloc_note(uint32_t flags)
{
    if (flags & LS_ROOT_MALLOC_TRACED)
        return NULL;
    if (flags & LS_ROOT_MALLOC_OFF)
        return "malloc memory was scanned as a root (LRT_MALLOC=off): a task reachable only "
               "through malloc'd blocks is not reported";
    if (flags & LS_ROOT_MALLOC_TOOL)
        return "malloc memory was scanned as a root (a sanitizer's or valgrind's allocator served "
               "malloc): a task reachable only through malloc'd blocks is not reported";
    if (flags & LS_ROOT_MALLOC_OTHER)
        return "malloc memory was scanned as a root (another malloc came first in lookup order, "
               "e.g. a preloaded allocator): a task reachable only through malloc'd blocks is not reported";
    return "malloc memory was scanned as a root (this libleakrt does not track malloc): a task "
           "reachable only through malloc'd blocks is not reported";
}

int ls_runtime_read(const ls_core *core, uint64_t root_addr, ls_runtime **out, ls_error *err)
{
    *out = NULL;
    ls_runtime *rt = calloc(1, sizeof *rt);
    if (!rt)
        return ls_error_set(err, core->path, "out of memory");
    if (ls_root_read(core, root_addr, &rt->root, err) != 0) {
        free(rt);
        return -1;
    }
    rt->root_addr = root_addr;
    const ls_debug_root *r = &rt->root;
    rt->roots_note = malloc_note(r->flags);

    /* Tasks. The table grows with the live slots found, not with the
     * task_count the root claims: a small hostile file can claim 2^26
     * slots, gigabytes of ls_task (fuzzing found it). */
    size_t tasks_cap = 64, nancestors = 0, ancestors_cap = 64;
    rt->tasks = calloc(tasks_cap, sizeof *rt->tasks);
    rt->task_regs = calloc(tasks_cap * r->reg_count, sizeof *rt->task_regs);
    rt->ancestors = calloc(ancestors_cap, sizeof *rt->ancestors);
    uint8_t *slot_buf = malloc(r->task_stride);
    if (!rt->tasks || !rt->task_regs || !rt->ancestors || !slot_buf) {
        free(slot_buf);
        ls_runtime_free(rt);
        return ls_error_set(err, core->path, "out of memory for %llu tasks",
                            (unsigned long long)r->task_count);
    }
    for (uint64_t i = 0; i < r->task_count; i++) {
        uint64_t slot = r->tasks + i * r->task_stride;
        bool zero;
        uint64_t none = slots_without_data(core, slot, r->task_stride, &zero);
        if (none) {                            /* zeros are free slots: ignored */
            none = none < r->task_count - i ? none : r->task_count - i;
            if (!zero && !rt->skipped_tasks)
                rt->skipped_task_reason = "slot not in the file";
            rt->absent_tasks += zero ? 0 : none;
            rt->skipped_tasks += zero ? 0 : none;
            i += none - 1;
            continue;
        }
        const uint8_t *p = ls_core_pointer(core, slot, r->task_stride);
        if (!p) {
            /* Not from the files NT_FILE maps: the table is anonymous memory. */
            if (!core_read(core, slot, slot_buf, r->task_stride, false)) {
                if (!rt->skipped_tasks++)
                    rt->skipped_task_reason = "slot not in the file";
                continue;
            }
            p = slot_buf;
        }
        if (!room_for_a_task(rt, r->reg_count, &tasks_cap, nancestors, &ancestors_cap)) {
            free(slot_buf);
            ls_runtime_free(rt);
            return ls_error_set(err, core->path, "out of memory for %llu tasks",
                                (unsigned long long)r->task_count);
        }
        ls_task *t = &rt->tasks[rt->ntasks];
        const char *why = read_task(core, r, slot, p, t, rt->task_regs + rt->ntasks * r->reg_count,
                                    rt->ancestors + nancestors);
        if (why) {
            if (!rt->skipped_tasks++)
                rt->skipped_task_reason = why;
            continue;
        }
        if (t->state != LS_TASK_FREE && t->state != LS_TASK_DEAD) {
            /* The runtime has one main task. A file that marks more (every
             * slot, say) keeps the first as main and the others as the
             * ordinary tasks they are; the loader warns (main_tasks). */
            if (t->is_main && rt->main_tasks++)
                t->is_main = false;
            rt->ntasks++;
            nancestors += t->nancestry;
        }
    }
    free(slot_buf);
    /* Registers and ancestry live apart from the tasks, in the order of
     * the tasks (reader.h): pointed to now that neither table moves. */
    for (size_t i = 0, k = 0; i < rt->ntasks; k += rt->tasks[i].nancestry, i++) {
        rt->tasks[i].regs = rt->task_regs + i * r->reg_count;
        rt->tasks[i].ancestry = rt->ancestors + k;
    }

    /* Which thread runs which task: each worker's task found by its slot
     * (a search of all tasks per worker made 8,192 workers over 2^20 tasks
     * billions of steps). The slots are distinct, in table order, which
     * is address order unless the table wraps around: then sorted. */
    bool ascending = true;
    for (size_t i = 1; i < rt->ntasks && ascending; i++)
        ascending = rt->tasks[i - 1].slot < rt->tasks[i].slot;
    slot_ref *by_slot = malloc((rt->ntasks ? rt->ntasks : 1) * sizeof *by_slot);
    if (!by_slot) {
        ls_runtime_free(rt);
        return ls_error_set(err, core->path, "out of memory");
    }
    for (size_t i = 0; i < rt->ntasks; i++)
        by_slot[i] = (slot_ref){ rt->tasks[i].slot, i };
    if (!ascending)
        qsort(by_slot, rt->ntasks, sizeof *by_slot, compare_slot_refs);
    for (uint32_t w = 0; w < r->worker_count; w++) {
        uint64_t base = r->workers + (uint64_t)w * r->worker_stride;
        uint32_t tid;
        uint64_t current;
        if (!ls_core_read_u32(core, base + r->off_worker_tid, &tid) ||
            !ls_core_read_u64(core, base + r->off_worker_current, &current) || !current)
            continue;
        const slot_ref key = { current, 0 };
        const slot_ref *hit = bsearch(&key, by_slot, rt->ntasks, sizeof *by_slot, compare_slot_refs);
        if (hit && rt->tasks[hit->task].state == LS_TASK_RUNNING)
            rt->tasks[hit->task].worker_tid = (int32_t)tid;
    }
    free(by_slot);

    /* Spans, grown as found, like the tasks. */
    size_t spans_cap = 64;
    rt->spans = calloc(spans_cap, sizeof *rt->spans);
    if (!rt->spans) {
        ls_runtime_free(rt);
        return ls_error_set(err, core->path, "out of memory for %llu spans",
                            (unsigned long long)r->span_count);
    }
    for (uint64_t i = 1; i < r->span_count; i++) {
        uint64_t at = r->spans + i * r->span_stride;
        const uint8_t *p = ls_core_pointer(core, at, r->span_stride);
        bool zero;
        uint64_t none = p ? 0 : slots_without_data(core, at, r->span_stride, &zero);
        if (!p) {
            /* A run of descriptors not in the file is skipped at once (2^28
             * of them claimed by a small file took seconds one by one). */
            none = none == 0 ? 1 : none < r->span_count - i ? none : r->span_count - i;
            if (!rt->skipped_spans)
                rt->skipped_span_reason = "descriptor not in the file";
            rt->skipped_spans += none;
            i += none - 1;
            continue;
        }
        if (rt->nspans == spans_cap) {
            ls_span *grown = realloc(rt->spans, 2 * spans_cap * sizeof *grown);
            if (!grown) {
                ls_runtime_free(rt);
                return ls_error_set(err, core->path, "out of memory for %llu spans",
                                    (unsigned long long)r->span_count);
            }
            rt->spans = grown;
            spans_cap *= 2;
        }
        ls_span *s = &rt->spans[rt->nspans];
        const char *why = read_span(core, r, p, s);
        if (why) {
            if (!rt->skipped_spans++)
                rt->skipped_span_reason = why;
            continue;
        }
        if (s->state == LS_SPAN_SMALL || s->state == LS_SPAN_LARGE)
            rt->nspans++;
    }
    qsort(rt->spans, rt->nspans, sizeof *rt->spans, compare_spans);
    size_t kept = 0;
    for (size_t i = 0; i < rt->nspans; i++) {
        if (kept && rt->spans[i].base < rt->spans[kept - 1].base + rt->spans[kept - 1].size) {
            if (!rt->skipped_spans++)
                rt->skipped_span_reason = "overlaps another span";
            continue;
        }
        rt->spans[kept++] = rt->spans[i];
    }
    rt->nspans = kept;

    if (r->off_task_labels && read_label_sets(core, r, rt) != 0) {
        ls_runtime_free(rt);
        return ls_error_set(err, core->path, "out of memory");
    }

    /* Pending context timers' targets and pinned objects: roots. Both
     * arrays grow with what the file holds, not with the counts the root
     * claims (an unreadable entry ends them). */
    if (read_roots(core, r, rt) != 0) {
        ls_runtime_free(rt);
        return ls_error_set(err, core->path, "out of memory");
    }
    *out = rt;
    return 0;
}

void ls_runtime_free(ls_runtime *rt)
{
    if (!rt)
        return;
    for (size_t i = 0; i < rt->ntasks; i++)
        free(rt->tasks[i].wait_addrs);
    free(rt->tasks);
    free(rt->task_regs);
    free(rt->ancestors);
    free(rt->spans);
    free(rt->timer_targets);
    free(rt->pinned);
    for (size_t i = 0; i < rt->nlabel_sets; i++)
        free_label_set(&rt->label_sets[i]);
    free(rt->label_sets);
    free(rt->label_text);
    free(rt);
}

/*
 * modules.c — the ELF objects a core's program had mapped, and whether the
 * files of this machine are those objects.
 *
 * NT_FILE lists mappings; a module is a file mapped at offset 0 plus the
 * mappings of the same file above it. What the program ran is known from
 * the core itself: a snapshot's modules note records each module's
 * build-id as it was in memory; and every core this project reads (kernel
 * cores with the default coredump_filter, gdb's gcore, snapshots and ptrace
 * cores) holds a copy of each module's first page — its ELF header, its
 * program headers and, in practice, its build-id note. A file on disk is
 * used for anything (memory reads, symbols, unwinding) only when it is a
 * regular ELF file of the core's machine whose build-id is that one. So a
 * library rebuilt since the snapshot gives no wrong stacks, and a hostile
 * NT_FILE naming /etc/shadow gets that file opened (to read its header)
 * but never read into a report.
 */
#include "reader.h"

#include <elf.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_MODULE_PHDRS 256

/* The build-id in the core's own copy of the ELF headers mapped at base
 * (never the file on disk, which is what is being checked). 0: none. */
static uint32_t core_build_id(const ls_core *core, uint64_t base, uint8_t *out)
{
    Elf64_Ehdr eh;
    const void *p = ls_core_pointer(core, base, sizeof eh);
    if (!p)
        return 0;
    memcpy(&eh, p, sizeof eh);
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > MAX_MODULE_PHDRS)
        return 0;
    for (size_t i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        if (eh.e_phoff > UINT64_MAX - base - i * sizeof ph ||
            !(p = ls_core_pointer(core, base + eh.e_phoff + i * sizeof ph, sizeof ph)))
            return 0;
        memcpy(&ph, p, sizeof ph);
        if (ph.p_type != PT_NOTE || ph.p_filesz > 4096 || ph.p_offset > UINT64_MAX - base)
            continue;
        const uint8_t *notes = ls_core_pointer(core, base + ph.p_offset, ph.p_filesz);
        uint32_t n = notes ? ls_gnu_build_id(notes, ph.p_filesz, out) : 0;
        if (n)
            return n;
    }
    return 0;
}

/* The build-id a snapshot's modules note recorded for the module at base
 * (read from the program's memory when it was taken). 0: no entry. */
static uint32_t noted_build_id(const ls_core *core, uint64_t base, uint8_t *out)
{
    for (size_t i = 0; i < core->module_ids_count; i++) {
        ls_note_module m;
        memcpy(&m, core->module_ids + i * core->module_ids_stride, sizeof m);
        if (m.base == base && m.build_id_size > 0 && m.build_id_size <= LS_NOTE_BUILD_ID_MAX) {
            memcpy(out, m.build_id, m.build_id_size);
            return m.build_id_size;
        }
    }
    return 0;
}

int ls_core_index_modules(ls_core *core, ls_error *err)
{
    size_t n = 0;
    for (size_t i = 0; i < core->nfiles; i++)
        n += core->files[i].offset == 0;
    core->modules = calloc(n ? n : 1, sizeof *core->modules);
    if (!core->modules)
        return ls_error_set(err, core->path, "out of memory");
    for (size_t i = 0; i < core->nfiles; i++) {
        ls_file_mapping *f = &core->files[i];
        f->module = -1;
        if (f->offset == 0) {
            ls_module *m = &core->modules[core->nmodules];
            m->path = m->file = f->path;
            m->base = f->start;
            m->end = f->end;
            m->fd = -1;
            m->build_id_size = noted_build_id(core, f->start, m->build_id);
            if (!m->build_id_size)
                m->build_id_size = core_build_id(core, f->start, m->build_id);
            const uint8_t *magic = ls_core_pointer(core, f->start, SELFMAG);
            m->elf_in_core = magic && memcmp(magic, ELFMAG, SELFMAG) == 0;
            f->module = (int32_t)core->nmodules++;
            continue;
        }
        /* A later mapping of a module: the nearest one below of that file. */
        for (size_t j = core->nmodules; j-- > 0;) {
            ls_module *m = &core->modules[j];
            if (m->base <= f->start && strcmp(m->path, f->path) == 0) {
                f->module = (int32_t)j;
                if (f->end > m->end)
                    m->end = f->end;
                break;
            }
        }
    }
    return 0;
}

static void hex(const uint8_t *id, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = "0123456789abcdef"[id[i] >> 4];
        out[2 * i + 1] = "0123456789abcdef"[id[i] & 15];
    }
    out[2 * n] = '\0';
}

void ls_build_id_hex(const uint8_t *id, size_t n, char out[2 * LS_MAX_BUILD_ID + 1])
{
    hex(id, n <= LS_MAX_BUILD_ID ? n : LS_MAX_BUILD_ID, out);
}

/* Opens m->file and decides m->state; the descriptor stays open when the
 * file is usable (memory reads come from it). */
static void check_module(const ls_core *core, ls_module *m)
{
    /* Nothing to check it against: not even opened (a hostile NT_FILE
     * names any file of this machine). */
    if (!m->build_id_size && !m->trusted) {
        m->state = LS_MODULE_UNVERIFIED;
        return;
    }
    int fd = ls_open_regular(m->file);
    if (fd < 0) {
        m->state = LS_MODULE_MISSING;
        return;
    }
    m->state = LS_MODULE_NOT_ELF;
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    GElf_Ehdr eh;
    size_t phnum = 0;
    if (!elf || elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh) ||
        (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) || eh.e_machine != core->machine ||
        elf_getphdrnum(elf, &phnum) != 0)
        goto out;
    bool first = true;
    for (size_t i = 0; i < phnum; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(elf, (int)i, &ph))
            continue;
        if (ph.p_type == PT_LOAD && first) {
            uint64_t page = ph.p_vaddr & ~(ph.p_align > 1 ? ph.p_align - 1 : 0);
            m->bias = eh.e_type == ET_DYN ? m->base - page : 0;
            first = false;
        }
        if (ph.p_type == PT_NOTE && !m->file_build_id_size) {
            Elf_Data *d = elf_getdata_rawchunk(elf, (int64_t)ph.p_offset, ph.p_filesz, ELF_T_NHDR);
            if (d && d->d_buf)
                m->file_build_id_size = ls_gnu_build_id(d->d_buf, d->d_size, m->file_build_id);
        }
    }
    if (!m->build_id_size)
        m->state = LS_MODULE_MATCH;            /* trusted: --exe */
    else if (m->file_build_id_size == m->build_id_size &&
             memcmp(m->file_build_id, m->build_id, m->build_id_size) == 0)
        m->state = LS_MODULE_MATCH;
    else
        m->state = LS_MODULE_MISMATCH;
out:
    if (elf)
        elf_end(elf);
    if (m->state == LS_MODULE_MATCH)
        m->fd = fd;
    else
        close(fd);
}

void ls_core_check_modules(ls_core *core, const char *exe, const char *exe_file)
{
    elf_version(EV_CURRENT);
    for (size_t i = 0; i < core->nmodules; i++) {
        ls_module *m = &core->modules[i];
        if (m->fd >= 0)
            close(m->fd);
        m->fd = -1;
        m->file_build_id_size = 0;
        m->bias = 0;
        m->is_exe = exe && strcmp(m->path, exe) == 0;
        m->file = m->is_exe && exe_file ? exe_file : m->path;
        /* --exe names a file the user vouches for: without a build-id in
         * the core to check it against, it is used as given. */
        m->trusted = m->is_exe && exe_file && strcmp(exe_file, exe) != 0;
        check_module(core, m);
    }
}

const ls_module *ls_core_module_at(const ls_core *core, uint64_t addr)
{
    for (size_t i = 0; i < core->nfiles; i++) {
        const ls_file_mapping *f = &core->files[i];
        if (addr >= f->start && addr < f->end)
            return f->module >= 0 ? &core->modules[f->module] : NULL;
    }
    return NULL;
}

const char *ls_module_state_text(ls_module_state state)
{
    switch (state) {
    case LS_MODULE_MATCH:      return "the object the program ran";
    case LS_MODULE_UNVERIFIED: return "the core holds no build-id to check it against";
    case LS_MODULE_MISMATCH:   return "another build than the one the program ran";
    case LS_MODULE_MISSING:    return "not found, or not a regular file";
    case LS_MODULE_NOT_ELF:    return "not an ELF object of this core's machine";
    default:                   return "not checked";
    }
}

/*
 * ptrace_core.c — a core of a live process, taken with ptrace as gcore
 * does, for `leakscan attach --core`: for programs whose snapshot signal is
 * off, or that are stuck too hard to answer it.
 *
 * Why not gcore itself: gdb reads each mapping whole, and a task stack
 * chunk holds guard regions (MADV_GUARD_INSTALL) it cannot read, so gcore
 * writes zeros for every task stack. Here /proc/PID/pagemap says which
 * pages are present, and only those are read; guards never are.
 *
 * The file is a kernel-style ELF core: one PT_LOAD per mapping that may
 * hold data the executable's files do not (writable, or private and not
 * executable), with pages that were never touched left as holes in a
 * sparse file, and nothing marked MADV_DONTDUMP; NT_PRSTATUS per thread, NT_PRPSINFO, NT_AUXV, NT_FILE. It
 * is written like a snapshot: a temporary name, fsync, rename, mode 0600.
 */
#include "leakscan.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/procfs.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

enum { PAGE = 4096 };

typedef struct mapping {
    uint64_t start, end, offset;
    char     perms[5];
    char    *path;              /* NULL: anonymous */
    bool     dump;              /* its bytes go into the core */
} mapping;

typedef struct target {
    pid_t    pid;
    pid_t   *tids;              /* seized threads; the first is the leader */
    size_t   ntids;
    struct user_regs_struct *regs;
    mapping *maps;
    size_t   nmaps;
} target;

/* ---------------------------------------------------------------------- */
/* Stopping the threads                                                    */
/* ---------------------------------------------------------------------- */

static bool seized(const target *t, pid_t tid)
{
    for (size_t i = 0; i < t->ntids; i++)
        if (t->tids[i] == tid)
            return true;
    return false;
}

static int ptrace_refused(pid_t pid, int e, ls_error *err)
{
    char scope = '?';
    int fd = open("/proc/sys/kernel/yama/ptrace_scope", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, &scope, 1) != 1)
            scope = '?';
        close(fd);
    }
    if (e == EPERM && scope != '?' && scope != '0')
        return ls_error_set(err, NULL, "ptrace of process %d is not permitted "
                            "(kernel.yama.ptrace_scope=%c: run as root, or set it to 0; and make "
                            "sure no debugger is attached already)", (int)pid, scope);
    if (e == EPERM)
        return ls_error_set(err, NULL, "ptrace of process %d is not permitted (run as its user "
                            "or as root; a process being debugged cannot be attached to)", (int)pid);
    return ls_error_set(err, NULL, "ptrace of process %d: %s", (int)pid, strerror(e));
}

/* Seizes and stops every thread; repeats the listing until it finds no
 * thread it has not stopped (a thread may start one meanwhile). */
static int stop_threads(target *t, ls_error *err)
{
    char dir_path[64];
    snprintf(dir_path, sizeof dir_path, "/proc/%d/task", (int)t->pid);
    for (bool found_new = true; found_new;) {
        found_new = false;
        DIR *dir = opendir(dir_path);
        if (!dir)
            return ls_error_set(err, NULL, "no process %d", (int)t->pid);
        for (struct dirent *d; (d = readdir(dir));) {
            pid_t tid = (pid_t)atoi(d->d_name);
            if (tid <= 0 || seized(t, tid))
                continue;
            pid_t *grown = realloc(t->tids, (t->ntids + 1) * sizeof *grown);
            if (!grown) {
                closedir(dir);
                return ls_error_set(err, NULL, "out of memory");
            }
            t->tids = grown;
            if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) != 0) {
                int e = errno;
                if (e == ESRCH)
                    continue;                    /* it exited */
                closedir(dir);
                return ptrace_refused(t->pid, e, err);
            }
            t->tids[t->ntids++] = tid;
            found_new = true;
            int status;
            if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) != 0 ||
                waitpid(tid, &status, __WALL) != tid) {
                t->ntids--;                      /* it exited under us */
                continue;
            }
        }
        closedir(dir);
    }
    if (t->ntids == 0)
        return ls_error_set(err, NULL, "process %d has no threads left", (int)t->pid);
    /* The leader first, like the kernel's cores. */
    for (size_t i = 1; i < t->ntids; i++) {
        if (t->tids[i] == t->pid) {
            t->tids[i] = t->tids[0];
            t->tids[0] = t->pid;
        }
    }
    t->regs = calloc(t->ntids, sizeof *t->regs);
    if (!t->regs)
        return ls_error_set(err, NULL, "out of memory");
    for (size_t i = 0; i < t->ntids; i++) {
        struct iovec io = { &t->regs[i], sizeof t->regs[i] };
        if (ptrace(PTRACE_GETREGSET, t->tids[i], (void *)(uintptr_t)NT_PRSTATUS, &io) != 0)
            return ls_error_set(err, NULL, "registers of thread %d: %s",
                                (int)t->tids[i], strerror(errno));
    }
    return 0;
}

static void release_threads(target *t)
{
    for (size_t i = 0; i < t->ntids; i++)
        ptrace(PTRACE_DETACH, t->tids[i], NULL, NULL);
}

/* ---------------------------------------------------------------------- */
/* What to read                                                            */
/* ---------------------------------------------------------------------- */

static int read_maps(target *t, ls_error *err)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/smaps", (int)t->pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return ls_error_set(err, path, "cannot open: %s", strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    int status = 0;
    while (getline(&line, &cap, f) > 0) {
        /* What the program said not to dump (MADV_DONTDUMP: the runtime's
         * unused reservations, AddressSanitizer's shadow) is left out. */
        if (strncmp(line, "VmFlags:", 8) == 0) {
            if (t->nmaps && strstr(line, " dd"))
                t->maps[t->nmaps - 1].dump = false;
            continue;
        }
        mapping m = { 0 };
        unsigned long long start, end, offset;
        int name_at = 0;
        if (sscanf(line, "%llx-%llx %4s %llx %*s %*s %n", &start, &end, m.perms, &offset, &name_at) < 4)
            continue;                           /* a "Field: value" line */
        m.start = start, m.end = end, m.offset = offset;
        char *name = line + name_at;
        name[strcspn(name, "\n")] = '\0';
        if (name[0] == '/' && !(m.path = strdup(name))) {
            status = ls_error_set(err, NULL, "out of memory");
            break;
        }
        bool readable = m.perms[0] == 'r';
        bool special = name[0] == '[' && strcmp(name, "[heap]") != 0 && strncmp(name, "[stack", 6) != 0;
        /* Code and read-only file data read from the files (NT_FILE). */
        /* Code reads from the files (NT_FILE); private read-only data may
         * have been written before it was made read-only (RELRO), and the
         * executable's first page holds the build-id the check reads. */
        m.dump = readable && !special && (m.perms[1] == 'w' || (m.perms[3] == 'p' && m.perms[2] != 'x'));
        mapping *grown = realloc(t->maps, (t->nmaps + 1) * sizeof *grown);
        if (!grown) {
            free(m.path);
            status = ls_error_set(err, NULL, "out of memory");
            break;
        }
        t->maps = grown;
        t->maps[t->nmaps++] = m;
    }
    free(line);
    fclose(f);
    return status;
}

/* ---------------------------------------------------------------------- */
/* Writing                                                                 */
/* ---------------------------------------------------------------------- */

typedef struct notes {
    uint8_t *data;
    size_t   len, cap;
    bool     failed;
} notes;

static void append(notes *n, const void *p, size_t size)
{
    if (n->failed)
        return;
    if (n->len + size + 4 > n->cap) {
        size_t cap = (n->len + size + 4) * 2;
        uint8_t *grown = realloc(n->data, cap);
        if (!grown) {
            n->failed = true;
            return;
        }
        n->data = grown;
        n->cap = cap;
    }
    memcpy(n->data + n->len, p, size);
    n->len += size;
    while (n->len % 4)                          /* notes are 4-byte aligned */
        n->data[n->len++] = 0;
}

static void add_note(notes *n, uint32_t type, const void *desc, size_t size)
{
    uint32_t head[3] = { 5, (uint32_t)size, type };
    append(n, head, sizeof head);
    append(n, "CORE", 5);
    append(n, desc, size);
}

/* The contents of a /proc file, or NULL. */
static uint8_t *slurp(const char *path, size_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, len = 0;
    uint8_t *data = malloc(cap);
    for (ssize_t r; data; len += (size_t)r) {
        if (len == cap) {
            uint8_t *grown = realloc(data, cap *= 2);
            if (!grown) {
                free(data);
                data = NULL;
                break;
            }
            data = grown;
        }
        if ((r = read(fd, data + len, cap - len)) <= 0)
            break;
    }
    close(fd);
    *size = len;
    return data;
}

static void build_notes(const target *t, notes *n)
{
    for (size_t i = 0; i < t->ntids; i++) {
        struct elf_prstatus st;
        memset(&st, 0, sizeof st);
        st.pr_pid = t->tids[i];
        st.pr_ppid = 0;
        memcpy(&st.pr_reg, &t->regs[i], sizeof st.pr_reg);
        add_note(n, NT_PRSTATUS, &st, sizeof st);
    }
    struct elf_prpsinfo ps;
    memset(&ps, 0, sizeof ps);
    ps.pr_pid = t->pid;
    char path[64];
    size_t size = 0;
    snprintf(path, sizeof path, "/proc/%d/comm", (int)t->pid);
    uint8_t *comm = slurp(path, &size);
    if (comm) {
        size = size < sizeof ps.pr_fname ? size : sizeof ps.pr_fname - 1;
        memcpy(ps.pr_fname, comm, size);
        ps.pr_fname[strcspn(ps.pr_fname, "\n")] = '\0';
        free(comm);
    }
    add_note(n, NT_PRPSINFO, &ps, sizeof ps);
    snprintf(path, sizeof path, "/proc/%d/auxv", (int)t->pid);
    uint8_t *auxv = slurp(path, &size);
    if (auxv)
        add_note(n, NT_AUXV, auxv, size);
    free(auxv);
    /* NT_FILE: count, page size, (start, end, page offset) each, names. */
    notes desc = { 0 };
    uint64_t count = 0;
    for (size_t i = 0; i < t->nmaps; i++)
        count += t->maps[i].path != NULL;
    uint64_t head[2] = { count, PAGE };
    append(&desc, head, sizeof head);
    for (size_t i = 0; i < t->nmaps; i++) {
        if (!t->maps[i].path)
            continue;
        uint64_t e[3] = { t->maps[i].start, t->maps[i].end, t->maps[i].offset / PAGE };
        append(&desc, e, sizeof e);
    }
    /* Names are packed, not aligned: append pads, so build them here. */
    for (size_t i = 0; i < t->nmaps && !desc.failed; i++) {
        if (!t->maps[i].path)
            continue;
        size_t len = strlen(t->maps[i].path) + 1;
        if (desc.len + len + 4 > desc.cap) {
            uint8_t *grown = realloc(desc.data, desc.cap = (desc.len + len + 4) * 2);
            if (!grown) {
                desc.failed = true;
                break;
            }
            desc.data = grown;
        }
        memcpy(desc.data + desc.len, t->maps[i].path, len);
        desc.len += len;
    }
    if (desc.failed)
        n->failed = true;
    else
        add_note(n, NT_FILE, desc.data, desc.len);
    free(desc.data);
}

/* Copies the present pages of m into the core at file offset `at`; the
 * rest stays a hole (zeros). */
static int copy_mapping(int mem, int pagemap, int out, const mapping *m, uint64_t at)
{
    enum { BATCH = 512 };
    static uint8_t buf[BATCH * PAGE];
    uint64_t entries[BATCH];
    for (uint64_t page = m->start; page < m->end;) {
        size_t n = (size_t)((m->end - page) / PAGE);
        if (n > BATCH)
            n = BATCH;
        ssize_t got = pread(pagemap, entries, n * 8, (off_t)(page / PAGE * 8));
        if (got <= 0)
            return -1;
        n = (size_t)got / 8;
        for (size_t i = 0; i < n;) {
            /* present (63) or swapped (62): it holds data */
            if (!(entries[i] >> 62)) {
                i++;
                continue;
            }
            size_t run = 1;
            while (i + run < n && (entries[i + run] >> 62))
                run++;
            uint64_t addr = page + i * PAGE;
            ssize_t r = pread(mem, buf, run * PAGE, (off_t)addr);
            if (r > 0 && pwrite(out, buf, (size_t)r, (off_t)(at + (addr - m->start))) != r)
                return -1;
            i += run;
        }
        page += n * PAGE;
    }
    return 0;
}

static int write_core(const target *t, int out, ls_error *err, const char *path)
{
    notes n = { 0 };
    build_notes(t, &n);
    if (n.failed) {
        free(n.data);
        return ls_error_set(err, path, "out of memory");
    }
    size_t nload = 0;
    for (size_t i = 0; i < t->nmaps; i++)
        nload += t->maps[i].dump;
    size_t phnum = nload + 1;
    if (phnum >= PN_XNUM) {
        free(n.data);
        return ls_error_set(err, path, "the process has %zu mappings: too many for one core", nload);
    }
    Elf64_Ehdr eh;
    memset(&eh, 0, sizeof eh);
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_CORE;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_phoff = sizeof eh;
    eh.e_ehsize = sizeof eh;
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = (uint16_t)phnum;
    Elf64_Phdr *ph = calloc(phnum, sizeof *ph);
    if (!ph) {
        free(n.data);
        return ls_error_set(err, path, "out of memory");
    }
    uint64_t notes_at = sizeof eh + phnum * sizeof *ph;
    ph[0] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = notes_at, .p_filesz = n.len, .p_align = 4 };
    uint64_t at = (notes_at + n.len + PAGE - 1) & ~(uint64_t)(PAGE - 1);
    for (size_t i = 0, k = 1; i < t->nmaps; i++) {
        const mapping *m = &t->maps[i];
        if (!m->dump)
            continue;
        uint32_t flags = (m->perms[0] == 'r' ? PF_R : 0) | (m->perms[1] == 'w' ? PF_W : 0) |
                         (m->perms[2] == 'x' ? PF_X : 0);
        ph[k++] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = flags, .p_offset = at,
                                .p_vaddr = m->start, .p_filesz = m->end - m->start,
                                .p_memsz = m->end - m->start, .p_align = PAGE };
        at += m->end - m->start;
    }
    int status = 0;
    if (pwrite(out, &eh, sizeof eh, 0) != (ssize_t)sizeof eh ||
        pwrite(out, ph, phnum * sizeof *ph, sizeof eh) != (ssize_t)(phnum * sizeof *ph) ||
        pwrite(out, n.data, n.len, (off_t)notes_at) != (ssize_t)n.len ||
        ftruncate(out, (off_t)at) != 0)
        status = ls_error_set(err, path, "cannot write: %s", strerror(errno));
    char mem_path[64], pagemap_path[64];
    snprintf(mem_path, sizeof mem_path, "/proc/%d/mem", (int)t->pid);
    snprintf(pagemap_path, sizeof pagemap_path, "/proc/%d/pagemap", (int)t->pid);
    int mem = status ? -1 : open(mem_path, O_RDONLY | O_CLOEXEC);
    int pagemap = mem < 0 ? -1 : open(pagemap_path, O_RDONLY | O_CLOEXEC);
    if (!status && (mem < 0 || pagemap < 0))
        status = ls_error_set(err, NULL, "cannot read the memory of process %d: %s",
                              (int)t->pid, strerror(errno));
    for (size_t i = 0, k = 1; !status && i < t->nmaps; i++) {
        if (!t->maps[i].dump)
            continue;
        if (copy_mapping(mem, pagemap, out, &t->maps[i], ph[k++].p_offset) != 0)
            status = ls_error_set(err, path, "cannot write: %s", strerror(errno));
    }
    if (mem >= 0)
        close(mem);
    if (pagemap >= 0)
        close(pagemap);
    free(ph);
    free(n.data);
    return status;
}

int ls_ptrace_core(int pid, const char *path, ls_error *err)
{
    target t = { .pid = pid };
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= (int)sizeof tmp)
        return ls_error_set(err, path, "path too long");
    int status = stop_threads(&t, err);
    if (!status)
        status = read_maps(&t, err);
    int out = -1;
    if (!status && (out = mkstemp(tmp)) < 0)          /* mode 0600 */
        status = ls_error_set(err, path, "cannot create a temporary file beside it: %s", strerror(errno));
    if (!status)
        status = write_core(&t, out, err, path);
    release_threads(&t);                        /* before the fsync: the program goes on */
    if (out >= 0) {
        if (!status && fsync(out) != 0)
            status = ls_error_set(err, path, "cannot write: %s", strerror(errno));
        close(out);
        if (!status && rename(tmp, path) != 0)
            status = ls_error_set(err, path, "cannot rename the temporary file to it: %s", strerror(errno));
        if (status)
            unlink(tmp);
    }
    for (size_t i = 0; i < t.nmaps; i++)
        free(t.maps[i].path);
    free(t.maps);
    free(t.tids);
    free(t.regs);
    return status;
}

/*
 * unwind.c — the stacks of tasks, unwound with libdw from their saved
 * registers, and symbolised (function+offset, file:line) with a cache per
 * PC. A PC where the compiler inlined code stands for several frames
 * (symbolize.c reads them from DWARF's inline scopes): the cache keeps each
 * PC's list, a stack holds them all, innermost first, and the trimming of
 * the runtime's own frames goes by PC, on the real function of each.
 *
 * libdwfl finds the program's modules from the core (NT_FILE and the
 * dynamic linker's list) and their debug information by build-id; our own
 * thread callbacks present each task as a thread: its registers are the
 * ones saved in its slot (or, for a running task, its thread's), and its
 * memory is the snapshot's. The task entry trampoline's CFI marks the
 * outermost frame, so every unwind ends cleanly.
 */
#include "leakscan.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_FRAMES 64
#define MAX_INLINE 16           /* frames one PC may stand for */
#define FAKE_PID   1

typedef struct cache_entry {
    uint64_t key;               /* pc * 2 + activation + 1; 0: empty */
    uint32_t first, n;          /* its frames: frames[first .. first + n) */
} cache_entry;

typedef struct frame_key {
    uint64_t pc;
    bool     activation;        /* not a return address */
} frame_key;

struct ls_unwinder {
    const ls_snapshot *s;
    /* Preset (a saved JSON result): each task's stack and creator are its
     * group's; nothing is unwound. */
    const ls_stack *preset_stacks;     /* per group of a saved result */
    const ls_frame *preset_creators;   /* per group */
    const uint32_t *preset_group;      /* per task: its group */
    const ls_frame *preset_sites;      /* creation sites (schema 2) */
    size_t          preset_nsites;
    Dwfl     *dwfl;
    Elf      *elf;
    int       fd;
    bool      attached;
    bool      runtime_frames;   /* --runtime-frames: keep libleakrt's API frames */
    size_t    task;             /* the task being unwound */
    size_t    nframes;
    frame_key pcs[MAX_FRAMES];
    /* Each task's frames once unwound (trimmed PCs): the views ask for a
     * task more than once (grouping, then traces, suppressions, --bytes),
     * and dwfl's unwind is the cost, not the symbols. */
    struct { uint32_t at_plus_1, n; } *unwound;   /* per task; 0: not yet */
    frame_key *unwound_keys;
    size_t    unwound_len, unwound_cap;
    cache_entry *cache;         /* open addressing, power-of-two size */
    size_t    cache_size, cache_used;
    ls_frame *frames;           /* every cached PC's frames, one after another */
    size_t    frames_len, frames_cap;
    const ls_segment *last_seg; /* memory_read's last segment: a task's stack */
};

/* ---------------------------------------------------------------------- */
/* Thread callbacks: a task is a thread                                    */
/* ---------------------------------------------------------------------- */

static pid_t next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
    (void)dwfl; (void)arg;
    if (*thread_argp)
        return 0;
    *thread_argp = (void *)1;
    return FAKE_PID;
}

static bool get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
    (void)dwfl; (void)arg;
    *thread_argp = (void *)1;
    return tid == FAKE_PID;
}

static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
    (void)dwfl;
    ls_unwinder *u = arg;
    uint64_t v;
    /* An unwind reads one stack, word after word: the segment that held
     * the last word most likely holds this one (no search). */
    const ls_segment *seg = u->last_seg;
    if (seg && addr - seg->vaddr < seg->filesz && seg->filesz - (addr - seg->vaddr) >= 8) {
        memcpy(&v, u->s->core->data + seg->offset + (addr - seg->vaddr), 8);
        *result = v;
        return true;
    }
    if (!ls_core_read_u64(u->s->core, addr, &v))
        return false;
    u->last_seg = ls_core_segment(u->s->core, addr);
    *result = v;
    return true;
}

/* user_regs_struct index of each x86-64 DWARF register 0..16. */
static const int prstatus_of_dwarf[17] = {
    10, 12, 11, 5, 13, 14, 4, 19, 9, 8, 7, 6, 3, 2, 1, 0, 16,
};

static ls_unwinder *current_unwinder;  /* the one unwinding now */

static bool set_registers(Dwfl_Thread *thread, void *thread_arg)
{
    (void)thread_arg;
    ls_unwinder *u = current_unwinder;
    const ls_snapshot *s = u->s;
    const ls_task *t = &s->rt->tasks[u->task];
    const ls_thread *th = t->state == LS_TASK_RUNNING && t->worker_tid ? ls_thread_of(s, t->worker_tid) : NULL;
    if (th && th->nregs >= 20) {
        Dwarf_Word regs[17];
        for (int r = 0; r < 17; r++)
            regs[r] = th->regs[prstatus_of_dwarf[r]];
        if (!dwfl_thread_state_registers(thread, 0, 16, regs))
            return false;
        dwfl_thread_state_register_pc(thread, regs[16]);
        return true;
    }
    const ls_debug_root *r = &s->rt->root;
    for (uint32_t i = 0; i < r->reg_count; i++) {
        Dwarf_Word v = t->regs[i];
        if (r->regs[i].dwarf_regno == 16 && s->rt->root.elf_machine == 62)
            dwfl_thread_state_register_pc(thread, v);
        else if (!dwfl_thread_state_registers(thread, r->regs[i].dwarf_regno, 1, &v))
            return false;
    }
    return true;
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
    .next_thread = next_thread,
    .get_thread = get_thread,
    .memory_read = memory_read,
    .set_initial_registers = set_registers,
};

/* ---------------------------------------------------------------------- */
/* Setup                                                                   */
/* ---------------------------------------------------------------------- */

/* Where separate debug information is looked for: beside the file, in
 * .debug/ beside it, then under --debug-dir and /usr/lib/debug (by
 * build-id, .build-id/xx/rest.debug, and by .gnu_debuglink name). */
static char *debuginfo_path;
static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .debuginfo_path = &debuginfo_path,
};

void ls_set_debug_dir(const char *dir)
{
    static char path[4096 + 64];
    if (!dir)
        return;
    snprintf(path, sizeof path, ":.debug:%s:/usr/lib/debug", dir);
    debuginfo_path = path;
}

int ls_find_symbol(const char *file, uint64_t bias, const char *name, uint64_t *addr)
{
    if (!ls_regular_file(file))               /* libdw would block on a FIFO */
        return -1;
    Dwfl *dwfl = dwfl_begin(&callbacks);
    if (!dwfl)
        return -1;
    int status = -1;
    dwfl_report_begin(dwfl);
    Dwfl_Module *m = dwfl_report_elf(dwfl, file, file, -1, bias, false);
    dwfl_report_end(dwfl, NULL, NULL);
    int n = m ? dwfl_module_getsymtab(m) : -1;
    for (int i = 0; i < n && status != 0; i++) {
        GElf_Sym sym;
        GElf_Addr value;
        const char *sym_name = dwfl_module_getsym_info(m, i, &sym, &value, NULL, NULL, NULL);
        if (sym_name && strcmp(sym_name, name) == 0 && sym.st_shndx != SHN_UNDEF) {
            *addr = value;
            status = 0;
        }
    }
    dwfl_end(dwfl);
    return status;
}

/* Reports every module of the core whose file is the object the program
 * ran (formats/modules.c checked the build-ids), at the address it was
 * mapped; the others are left out, so their frames show as unknown rather
 * than as another build's. (dwfl_core_file_report does this from the core
 * too, but it walks all segments for every module: quadratic in the number
 * of segments, and a snapshot has one per task stack.) */
static void report_modules(ls_unwinder *u)
{
    const ls_core *core = u->s->core;
    for (size_t i = 0; i < core->nmodules; i++) {
        const ls_module *m = &core->modules[i];
        if (m->state == LS_MODULE_MATCH)
            dwfl_report_elf(u->dwfl, m->path, m->file, -1, m->base, false);
    }
}

int ls_unwinder_create(const ls_snapshot *s, const ls_options *opt, ls_unwinder **out, ls_error *err)
{
    *out = NULL;
    ls_unwinder *u = calloc(1, sizeof *u);
    if (!u)
        return ls_error_set(err, s->path, "out of memory");
    u->s = s;
    u->runtime_frames = opt && opt->runtime_frames;
    /* The loader's own descriptor: the path is not opened again (input.c). */
    u->fd = s->core && s->core->fd >= 0 ? fcntl(s->core->fd, F_DUPFD_CLOEXEC, 0)
                                        : open(s->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (u->fd < 0) {
        free(u);
        return ls_error_set(err, s->path, "cannot open for unwinding");
    }
    elf_version(EV_CURRENT);
    u->elf = elf_begin(u->fd, ELF_C_READ_MMAP, NULL);
    u->dwfl = dwfl_begin(&callbacks);
    if (!u->elf || !u->dwfl) {
        ls_error_set(err, s->path, "libdw cannot read the core: %s", dwfl_errmsg(-1));
        ls_unwinder_destroy(u);
        return -1;
    }
    dwfl_report_begin(u->dwfl);
    report_modules(u);
    dwfl_report_end(u->dwfl, NULL, NULL);
    if (!dwfl_attach_state(u->dwfl, u->elf, FAKE_PID, &thread_callbacks, u)) {
        ls_error_set(err, s->path, "libdw cannot unwind this core: %s", dwfl_errmsg(-1));
        ls_unwinder_destroy(u);
        return -1;
    }
    u->attached = true;
    u->cache_size = 1024;
    u->cache = calloc(u->cache_size, sizeof *u->cache);
    if (!u->cache) {
        ls_unwinder_destroy(u);
        return ls_error_set(err, s->path, "out of memory");
    }
    *out = u;
    return 0;
}

void ls_unwinder_destroy(ls_unwinder *u)
{
    if (!u)
        return;
    if (u->dwfl)
        dwfl_end(u->dwfl);
    if (u->elf)
        elf_end(u->elf);
    if (u->fd >= 0)
        close(u->fd);
    free(u->cache);
    free(u->frames);
    free(u->unwound);
    free(u->unwound_keys);
    free(u);
}

/* ---------------------------------------------------------------------- */
/* Symbols, cached per PC                                                  */
/* ---------------------------------------------------------------------- */

static size_t slot_of(uint64_t key, size_t size)
{
    return (size_t)(key * 0x9e3779b97f4a7c15ull) & (size - 1);
}

/* Doubles the cache. 0, or -1 when out of memory (the old one stays). */
static int grow_cache(ls_unwinder *u)
{
    size_t size = u->cache_size * 2;
    cache_entry *grown = calloc(size, sizeof *grown);
    if (!grown)
        return -1;
    for (size_t i = 0; i < u->cache_size; i++) {
        if (!u->cache[i].key)
            continue;
        size_t h = slot_of(u->cache[i].key, size);
        while (grown[h].key)
            h = (h + 1) & (size - 1);
        grown[h] = u->cache[i];
    }
    free(u->cache);
    u->cache = grown;
    u->cache_size = size;
    return 0;
}

/* The frames of one PC, innermost first, *n of them; NULL when out of
 * memory. They live in u->frames, which moves: valid until the next call. */
static const ls_frame *cached(ls_unwinder *u, uint64_t pc, bool activation, size_t *n)
{
    uint64_t key = pc * 2 + activation + 1;
    if (u->cache_used * 2 >= u->cache_size && grow_cache(u) != 0 &&
        u->cache_used * 4 >= u->cache_size * 3)
        return NULL;                   /* full enough to probe forever */
    size_t h = slot_of(key, u->cache_size);
    while (u->cache[h].key && u->cache[h].key != key)
        h = (h + 1) & (u->cache_size - 1);
    cache_entry *e = &u->cache[h];
    if (!e->key) {
        if (u->frames_len + MAX_INLINE > u->frames_cap) {
            size_t cap = u->frames_cap ? u->frames_cap * 2 : 1024;
            ls_frame *grown = cap <= UINT32_MAX ? realloc(u->frames, cap * sizeof *grown) : NULL;
            if (!grown)
                return NULL;
            u->frames = grown;
            u->frames_cap = cap;
        }
        e->first = (uint32_t)u->frames_len;
        e->n = (uint32_t)ls_pc_frames(u->dwfl, pc, activation, &u->frames[u->frames_len], MAX_INLINE);
        e->key = key;
        u->frames_len += e->n;
        u->cache_used++;
    }
    *n = e->n;
    return &u->frames[e->first];
}

void ls_symbolize_data(ls_unwinder *u, uint64_t addr, ls_frame *out)
{
    memset(out, 0, sizeof *out);
    out->pc = addr;
    if (!u->dwfl)
        return;
    Dwfl_Module *mod = dwfl_addrmodule(u->dwfl, addr);
    if (!mod)
        return;
    GElf_Off off;
    GElf_Sym sym;
    const char *name = dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL, NULL);
    if (name && off < (sym.st_size ? sym.st_size : 1)) {
        out->function = ls_printable_name(name);
        out->offset = off;
    }
}

typedef struct symbol_search {
    const char *name;
    uint64_t    addr;
    bool        found;
} symbol_search;

static int search_module(Dwfl_Module *mod, void **user, const char *module, Dwarf_Addr base, void *arg)
{
    (void)user, (void)module, (void)base;
    symbol_search *search = arg;
    int n = dwfl_module_getsymtab(mod);
    for (int i = 0; i < n; i++) {
        GElf_Sym sym;
        GElf_Addr value;
        const char *name = dwfl_module_getsym_info(mod, i, &sym, &value, NULL, NULL, NULL);
        if (name && sym.st_shndx != SHN_UNDEF && strcmp(name, search->name) == 0) {
            search->addr = value;
            search->found = true;
            return DWARF_CB_ABORT;
        }
    }
    return DWARF_CB_OK;
}

int ls_lookup_symbol(ls_unwinder *u, const char *name, uint64_t *addr)
{
    symbol_search search = { .name = name };
    if (u->dwfl)
        dwfl_getmodules(u->dwfl, search_module, &search, 0);
    if (search.found)
        *addr = search.addr;
    return search.found ? 0 : -1;
}

size_t ls_symbolize_all(ls_unwinder *u, uint64_t pc, ls_frame *out, size_t max)
{
    if (u->preset_creators) {                  /* pc is a task's index, or ntasks + a site's */
        size_t n = u->s->rt->ntasks;
        if (pc < n)
            *out = u->preset_creators[u->preset_group[pc]];
        else if (pc - n < u->preset_nsites)
            *out = u->preset_sites[pc - n];
        else
            memset(out, 0, sizeof *out);
        return 1;
    }
    size_t n;
    const ls_frame *f = cached(u, pc, false, &n);
    if (!f) {                                  /* out of memory: the bare PC */
        memset(out, 0, sizeof *out);
        out->pc = pc;
        return 1;
    }
    n = n < max ? n : max;
    memcpy(out, f, n * sizeof *out);
    return n;
}

/* The innermost frame, as Go's "created by" names the function inlined
 * deepest at the go statement: where the task was really started. */
void ls_symbolize(ls_unwinder *u, uint64_t pc, ls_frame *out)
{
    ls_symbolize_all(u, pc, out, 1);
}

bool ls_function_lines(ls_unwinder *u, const ls_frame *f, bool activation, int *first, int *last)
{
    return u->dwfl && ls_pc_function_lines(u->dwfl, f, activation, first, last);
}

/* ---------------------------------------------------------------------- */
/* Unwinding                                                               */
/* ---------------------------------------------------------------------- */

static int collect(Dwfl_Frame *frame, void *arg)
{
    ls_unwinder *u = arg;
    Dwarf_Addr pc;
    bool activation;
    if (!dwfl_frame_pc(frame, &pc, &activation))
        return DWARF_CB_ABORT;
    if (u->nframes == MAX_FRAMES)
        return DWARF_CB_ABORT;
    u->pcs[u->nframes++] = (frame_key){ pc, activation };
    return DWARF_CB_OK;
}

/* ---------------------------------------------------------------------- */
/* Raw frames: where each frame's stack is (dwarf_names.c)                 */
/* ---------------------------------------------------------------------- */

/* The CFA of frame (at pc) from its CFI: the rule the compiler wrote,
 * a register plus an offset, evaluated on the frame's registers. false
 * when the CFI has none or another rule (an expression). */
static bool frame_cfa(Dwfl *dwfl, Dwfl_Frame *frame, Dwarf_Addr at, uint64_t *cfa)
{
    Dwfl_Module *mod = dwfl_addrmodule(dwfl, at);
    Dwarf_Addr bias;
    Dwarf_Frame *fr = NULL;
    Dwarf_CFI *cfi = mod ? dwfl_module_eh_cfi(mod, &bias) : NULL;
    if (!cfi || dwarf_cfi_addrframe(cfi, at - bias, &fr) != 0) {
        cfi = mod ? dwfl_module_dwarf_cfi(mod, &bias) : NULL;
        if (!cfi || dwarf_cfi_addrframe(cfi, at - bias, &fr) != 0)
            return false;
    }
    Dwarf_Op *ops;
    size_t nops;
    bool ok = false;
    if (dwarf_frame_cfa(fr, &ops, &nops) == 0 && nops == 1) {
        unsigned reg = ops[0].atom == DW_OP_bregx ? (unsigned)ops[0].number
                                                  : (unsigned)(ops[0].atom - DW_OP_breg0);
        Dwarf_Word off = ops[0].atom == DW_OP_bregx ? ops[0].number2 : ops[0].number;
        Dwarf_Word v;
        if ((ops[0].atom == DW_OP_bregx || (ops[0].atom >= DW_OP_breg0 && ops[0].atom <= DW_OP_breg31)) &&
            dwfl_frame_reg(frame, reg, &v) == 0) {
            *cfa = v + off;
            ok = true;
        }
    }
    free(fr);
    return ok;
}

typedef struct raw_walk {
    Dwfl         *dwfl;
    ls_raw_frame *out;
    size_t        n, max;
} raw_walk;

static int collect_raw(Dwfl_Frame *frame, void *arg)
{
    raw_walk *w = arg;
    Dwarf_Addr pc;
    bool activation;
    if (w->n == w->max || !dwfl_frame_pc(frame, &pc, &activation))
        return DWARF_CB_ABORT;
    ls_raw_frame *f = &w->out[w->n++];
    memset(f, 0, sizeof *f);
    f->pc = pc;
    f->activation = activation;
    f->has_cfa = frame_cfa(w->dwfl, frame, activation || !pc ? pc : pc - 1, &f->cfa);
    for (unsigned r = 0; r < LS_RAW_REGS; r++) {
        Dwarf_Word v;
        if (dwfl_frame_reg(frame, r, &v) == 0) {
            f->regs[r] = v;
            f->known |= UINT64_C(1) << r;
        }
    }
    return DWARF_CB_OK;
}

size_t ls_unwind_task_raw(ls_unwinder *u, size_t task, ls_raw_frame *out, size_t max)
{
    if (!u->dwfl || !u->attached || task >= u->s->rt->ntasks)
        return 0;
    raw_walk w = { .dwfl = u->dwfl, .out = out, .max = max };
    u->task = task;
    current_unwinder = u;
    dwfl_getthread_frames(u->dwfl, FAKE_PID, collect_raw, &w);
    current_unwinder = NULL;
    return w.n;
}

struct Dwfl *ls_unwinder_dwfl(ls_unwinder *u)
{
    return u->attached ? u->dwfl : NULL;
}

/* The runtime's own frames above the API call a task blocked in. */
static bool internal_frame(const char *fn)
{
    static const char *const names[] = {
        "lrt_arch_switch", "switch_context", "switch_away", "switch_to_task",
        "lrt_park", "lrt_park_on", "lrt_park_forever", "after_switch",
    };
    if (!fn)
        return false;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(fn, names[i]) == 0)
            return true;
    return false;
}

ls_unwinder *ls_unwinder_preset(const ls_snapshot *s, const ls_stack *stacks, const ls_frame *creators,
                                const uint32_t *group, const ls_frame *sites, size_t nsites)
{
    ls_unwinder *u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    u->s = s;
    u->fd = -1;
    u->preset_stacks = stacks;
    u->preset_creators = creators;
    u->preset_group = group;
    u->preset_sites = sites;
    u->preset_nsites = nsites;
    return u;
}

/* Keeps task's trimmed PCs for the next ls_unwind_task of it (best
 * effort: out of memory only means unwinding again). */
static void remember(ls_unwinder *u, size_t task, size_t first, size_t n)
{
    if (!u->unwound && !(u->unwound = calloc(u->s->rt->ntasks ? u->s->rt->ntasks : 1,
                                             sizeof *u->unwound)))
        return;
    if (u->unwound_len + n >= UINT32_MAX)
        return;
    if (u->unwound_len + n > u->unwound_cap) {
        size_t cap = (u->unwound_len + n) * 2;
        frame_key *grown = realloc(u->unwound_keys, cap * sizeof *grown);
        if (!grown)
            return;
        u->unwound_keys = grown;
        u->unwound_cap = cap;
    }
    if (n)                               /* (no keys yet: unwound_keys is NULL) */
        memcpy(&u->unwound_keys[u->unwound_len], &u->pcs[first], n * sizeof *u->pcs);
    u->unwound[task].at_plus_1 = (uint32_t)u->unwound_len + 1;
    u->unwound[task].n = (uint32_t)n;
    u->unwound_len += n;
}

/* The frames of PCs keys[0 .. n), every inlined one expanded, into out.
 * At the first PC, the runtime's internal functions inlined into the API
 * call the task blocked in are left out, as whole PCs of them are: unless
 * that PC is itself internal (then everything is shown). 0 or -1. */
static int expand(ls_unwinder *u, const frame_key *keys, size_t n, ls_stack *out)
{
    size_t total = 0, skip = 0, count;
    for (size_t i = 0; i < n; i++) {
        const ls_frame *f = cached(u, keys[i].pc, keys[i].activation, &count);
        if (!f)
            return -1;
        if (i == 0 && !internal_frame(f[count - 1].function))
            while (skip + 1 < count && internal_frame(f[skip].function))
                skip++;
        total += count;
    }
    out->nframes = 0;
    out->frames = calloc(total ? total : 1, sizeof *out->frames);
    if (!out->frames)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const ls_frame *f = cached(u, keys[i].pc, keys[i].activation, &count);
        if (!f) {
            free(out->frames);
            out->frames = NULL;
            return -1;
        }
        size_t from = i == 0 ? skip : 0;
        memcpy(&out->frames[out->nframes], f + from, (count - from) * sizeof *f);
        out->nframes += count - from;
    }
    return 0;
}

/* Whether the real function of a PC (the last of its frames) is one that
 * `what` trims; false when out of memory (expand then says so). */
static bool trims(ls_unwinder *u, const frame_key *k, bool (*what)(const ls_frame *))
{
    size_t n;
    const ls_frame *f = cached(u, k->pc, k->activation, &n);
    return f && what(&f[n - 1]);
}

static bool is_internal(const ls_frame *f)
{
    return internal_frame(f->function);
}

/* libleakrt's API (lrt_chan_recv, lrt_mutex_lock, ...). */
static bool is_api(const ls_frame *f)
{
    return f->function && strncmp(f->function, "lrt_", 4) == 0;
}

/* Every task starts in the trampoline and task_main. */
static bool is_task_start(const ls_frame *f)
{
    return f->function && (strcmp(f->function, "lrt_arch_task_start") == 0 ||
                           strcmp(f->function, "task_main") == 0);
}

int ls_unwind_task(ls_unwinder *u, size_t task, ls_stack *out)
{
    if (u->preset_stacks) {
        const ls_stack *st = &u->preset_stacks[u->preset_group[task]];
        out->nframes = st->nframes;
        out->frames = calloc(st->nframes ? st->nframes : 1, sizeof *out->frames);
        if (!out->frames)
            return -1;
        memcpy(out->frames, st->frames, st->nframes * sizeof *out->frames);
        return 0;
    }
    if (u->unwound && u->unwound[task].at_plus_1)
        return expand(u, &u->unwound_keys[u->unwound[task].at_plus_1 - 1], u->unwound[task].n, out);
    u->task = task;
    u->nframes = 0;
    current_unwinder = u;
    dwfl_getthread_frames(u->dwfl, FAKE_PID, collect, u);
    current_unwinder = NULL;
    /* Trimmed by PC, on each one's real function: what the runtime inlined
     * into its own functions goes with them. */
    size_t first = 0;
    while (first < u->nframes && trims(u, &u->pcs[first], is_internal))
        first++;
    if (first == u->nframes)
        first = 0;                     /* all internal: show them all */
    /* libleakrt's API call too, unless --runtime-frames: the wait reason
     * already says what the task waits in, and the user's frame is where
     * the story is. One PC stays. */
    while (!u->runtime_frames && first + 1 < u->nframes &&
           trims(u, &u->pcs[first], is_api))
        first++;
    /* The bottom: the report says who created the task instead. */
    size_t last = u->nframes;
    while (last > first + 1 && trims(u, &u->pcs[last - 1], is_task_start))
        last--;
    size_t n = last - first;
    if (expand(u, &u->pcs[first], n, out) != 0)
        return -1;
    remember(u, task, first, n);
    return 0;
}

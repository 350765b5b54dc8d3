/*
 * dwarf_names.c — names for addresses, from DWARF, for `leakscan why`:
 *
 *   a stack slot   the task's frame holding it (the frames' CFAs, from
 *                  their CFI: frame i's stack is [cfa of frame i-1, its
 *                  cfa)), and the variable or parameter of that frame's
 *                  function, or of a function inlined there, whose
 *                  location at the frame's PC is that slot: a DW_OP_fbreg
 *                  off the function's DW_AT_frame_base (DW_OP_call_frame_cfa
 *                  for gcc, a register for others) or a DW_OP_bregN off a
 *                  register the unwinder knows;
 *   a global       the DW_TAG_variable at a fixed address (DW_OP_addr)
 *                  holding it, read once from every CU;
 *   a member       the member path (.a.b[2]) at an offset of a struct,
 *                  union or array type, down to a scalar, with its type.
 *
 * Nothing is guessed: a slot no location covers at that PC (a register, a
 * dead variable, two candidates), a frame base that is neither, or no
 * DWARF at all leave the frame, or nothing, named. A word whose type is
 * `T *` says the object it points at is a T: why.c carries that to name
 * the next hop's member.
 */
#include "dwarf_names.h"

#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RAW_FRAMES 64
#define MAX_INLINE     16       /* frames one PC may stand for */
#define MAX_DEPTH      8        /* type nesting followed */
#define NAME_CACHE     64       /* places remembered: a task may wait on one
                                 * object 65,536 times, each time named */

/* A global variable: its bytes and its DIE. */
typedef struct global_var {
    uint64_t  addr, size;
    Dwarf_Die die;
} global_var;

struct ls_namer {
    const ls_snapshot *s;
    ls_unwinder  *u;
    Dwfl         *dwfl;                 /* NULL: nothing is named */
    size_t        task_plus_1;          /* the task frames holds; 0: none */
    ls_raw_frame  frames[MAX_RAW_FRAMES];
    size_t        nframes;
    bool          globals_read;
    global_var   *globals;              /* sorted by addr */
    size_t        nglobals, globals_cap;
    struct { uint64_t key; ls_place place; } cache[NAME_CACHE];   /* key: addr * 2 + object + 1 */
    size_t   next_slot;                                          /* round robin */
};

/* libleakrt's public types, by the words the reports use. */
static const struct { const char *type, *word; } runtime_types[] = {
    { "lrt_chan", "channel" }, { "lrt_mutex", "mutex" }, { "lrt_rwmutex", "read-write mutex" },
    { "lrt_cond", "condition variable" }, { "lrt_wg", "wait group" }, { "lrt_ctx", "context" },
};

/* ---------------------------------------------------------------------- */
/* Types                                                                   */
/* ---------------------------------------------------------------------- */

/* die's DW_AT_type (through an abstract origin or a specification);
 * false: void, or none. */
static bool type_of(Dwarf_Die *die, Dwarf_Die *out)
{
    Dwarf_Attribute attr;
    return dwarf_attr_integrate(die, DW_AT_type, &attr) && dwarf_formref_die(&attr, out);
}

static bool is_qualifier(int tag)
{
    return tag == DW_TAG_const_type || tag == DW_TAG_volatile_type || tag == DW_TAG_restrict_type ||
           tag == DW_TAG_atomic_type;
}

/* t without typedefs and qualifiers; false when that is void. */
static bool peel(const Dwarf_Die *t, Dwarf_Die *out)
{
    Dwarf_Die in = *t;
    return dwarf_peel_type(&in, out) == 0 && dwarf_tag(out) != DW_TAG_unspecified_type;
}

/* The word for a libleakrt type t is, by its typedef or struct tag. */
static const char *runtime_word(const Dwarf_Die *type)
{
    Dwarf_Die t = *type;
    for (int d = 0; d < MAX_DEPTH; d++) {
        int tag = dwarf_tag(&t);
        const char *name = dwarf_diename(&t);
        if ((tag == DW_TAG_typedef || tag == DW_TAG_structure_type) && name)
            for (size_t i = 0; i < sizeof runtime_types / sizeof runtime_types[0]; i++)
                if (strcmp(name, runtime_types[i].type) == 0)
                    return runtime_types[i].word;
        if ((tag != DW_TAG_typedef && !is_qualifier(tag)) || !type_of(&t, &t))
            return NULL;
    }
    return NULL;
}

/* A type as C writes it: "lrt_chan *", "struct job **", "const char *",
 * "int [4]". t NULL: void. */
static void type_name(Dwarf_Die *t, char *buf, size_t size, int depth)
{
    char sub[192];
    Dwarf_Die inner;
    if (!t) {
        snprintf(buf, size, "void");
        return;
    }
    const char *name = ls_printable_name(dwarf_diename(t));
    bool has = type_of(t, &inner);
    int tag = dwarf_tag(t);
    if (depth > MAX_DEPTH) {
        snprintf(buf, size, "?");
    } else if (tag == DW_TAG_structure_type || tag == DW_TAG_union_type || tag == DW_TAG_enumeration_type) {
        snprintf(buf, size, "%s %s", tag == DW_TAG_structure_type ? "struct" : tag == DW_TAG_union_type
                                     ? "union" : "enum", name ? name : "{...}");
    } else if (tag == DW_TAG_pointer_type) {
        if (has && dwarf_tag(&inner) == DW_TAG_subroutine_type) {
            snprintf(buf, size, "a function pointer");
            return;
        }
        type_name(has ? &inner : NULL, sub, sizeof sub, depth + 1);
        snprintf(buf, size, "%s%s*", sub, sub[0] && sub[strlen(sub) - 1] == '*' ? "" : " ");
    } else if (is_qualifier(tag)) {
        const char *q = tag == DW_TAG_const_type ? "const" : tag == DW_TAG_volatile_type ? "volatile"
                      : tag == DW_TAG_restrict_type ? "restrict" : "_Atomic";
        type_name(has ? &inner : NULL, sub, sizeof sub, depth + 1);
        if (has && dwarf_tag(&inner) == DW_TAG_pointer_type)
            snprintf(buf, size, "%s%s", sub, q);            /* char *const */
        else
            snprintf(buf, size, "%s %s", q, sub);
    } else if (tag == DW_TAG_array_type) {
        type_name(has ? &inner : NULL, sub, sizeof sub, depth + 1);
        size_t at = (size_t)snprintf(buf, size, "%s ", sub);
        Dwarf_Die dim;
        for (int ok = dwarf_child(t, &dim); ok == 0 && at < size; ok = dwarf_siblingof(&dim, &dim)) {
            Dwarf_Attribute attr;
            Dwarf_Word n;
            if (dwarf_tag(&dim) != DW_TAG_subrange_type)
                continue;
            if (dwarf_formudata(dwarf_attr(&dim, DW_AT_count, &attr), &n) == 0 ||
                (dwarf_formudata(dwarf_attr(&dim, DW_AT_upper_bound, &attr), &n) == 0 && ++n))
                at += (size_t)snprintf(buf + at, size - at, "[%llu]", (unsigned long long)n);
            else
                at += (size_t)snprintf(buf + at, size - at, "[]");
        }
    } else if (tag == DW_TAG_subroutine_type) {
        snprintf(buf, size, "a function");
    } else {
        snprintf(buf, size, "%s", name ? name : "?");
    }
}

/* The array's dimensions; 1 for a vector, more for int [2][3]. */
static int array_dims(Dwarf_Die *array)
{
    Dwarf_Die dim;
    int n = 0;
    for (int ok = dwarf_child(array, &dim); ok == 0; ok = dwarf_siblingof(&dim, &dim))
        n += dwarf_tag(&dim) == DW_TAG_subrange_type;
    return n;
}

/* The member of (struct, union or array) type at offset off, appended
 * to path (".a.b[2]"), down to the innermost one holding off; *leaf is
 * its type. A union stops there (which member holds off, DWARF cannot
 * say); so does padding, and with object (off is where an object the
 * runtime knows starts) a libleakrt type. false when type has no size
 * or off is past it. */
static bool member_at(Dwarf_Die *type, uint64_t off, char *path, size_t size, Dwarf_Die *leaf, int depth,
                      bool object)
{
    Dwarf_Die t, m;
    Dwarf_Word total;
    *leaf = *type;
    if (dwarf_aggregate_size(type, &total) != 0 || off >= total)
        return false;
    if (depth > MAX_DEPTH || !peel(type, &t) || (object && runtime_word(type)))
        return true;
    size_t used = strlen(path);
    if (dwarf_tag(&t) == DW_TAG_structure_type) {
        for (int ok = dwarf_child(&t, &m); ok == 0; ok = dwarf_siblingof(&m, &m)) {
            Dwarf_Attribute attr;
            Dwarf_Word moff, msize;
            Dwarf_Die mt;
            if (dwarf_tag(&m) != DW_TAG_member || dwarf_hasattr(&m, DW_AT_bit_size) ||
                dwarf_formudata(dwarf_attr(&m, DW_AT_data_member_location, &attr), &moff) != 0 ||
                !type_of(&m, &mt) || dwarf_aggregate_size(&mt, &msize) != 0 ||
                off < moff || off - moff >= msize)
                continue;
            const char *name = dwarf_diename(&m);
            if (name)                           /* an anonymous struct adds no name */
                snprintf(path + used, size - used, ".%s", ls_printable_name(name));
            return member_at(&mt, off - moff, path, size, leaf, depth + 1, object);
        }
    } else if (dwarf_tag(&t) == DW_TAG_array_type && array_dims(&t) == 1 && type_of(&t, &m)) {
        Dwarf_Word esize;
        if (dwarf_aggregate_size(&m, &esize) != 0 || !esize)
            return true;
        snprintf(path + used, size - used, "[%llu]", (unsigned long long)(off / esize));
        return member_at(&m, off % esize, path, size, leaf, depth + 1, object);
    }
    return true;
}

/* Fills out's type part from the leaf a word is: "T *" makes it typed.
 * The word must start the leaf (off 0) to be the pointer. */
static void set_pointee(ls_place *out, Dwarf_Die *leaf)
{
    Dwarf_Die p, target;
    out->typed = peel(leaf, &p) && dwarf_tag(&p) == DW_TAG_pointer_type && type_of(&p, &target);
    while (out->typed && is_qualifier(dwarf_tag(&target)))
        out->typed = type_of(&target, &target);
    if (out->typed)
        out->pointee = target;
}

/* What a variable whose part at the address is a leaf is called:
 * "channel" for a pointer to a channel or a channel, else fallback. */
static const char *word_for(ls_place *out, const Dwarf_Die *leaf, const char *fallback)
{
    const char *w = out->typed ? runtime_word(&out->pointee) : runtime_word(leaf);
    return w ? w : fallback;
}

bool ls_name_object(const Dwarf_Die *type, char *buf, size_t size)
{
    Dwarf_Die t;
    if (!type || !peel(type, &t) ||
        (dwarf_tag(&t) != DW_TAG_structure_type && dwarf_tag(&t) != DW_TAG_union_type))
        return false;
    const char *w = runtime_word(type);
    char name[256];
    if (!w) {
        Dwarf_Die named = *type;
        type_name(&named, name, sizeof name, 0);
    }
    const char *what = w ? w : name;
    snprintf(buf, size, "%s %s", strchr("aeiou", what[0]) ? "an" : "a", what);
    return true;
}

void ls_name_member(ls_namer *n, const Dwarf_Die *type, uint64_t off, ls_place *out)
{
    memset(out, 0, sizeof *out);
    Dwarf_Die t = *type, leaf;
    char path[256] = "", tn[256];
    if (!n || !member_at(&t, off, path, sizeof path, &leaf, 0, false) || !path[0])
        return;
    set_pointee(out, &leaf);
    type_name(&leaf, tn, sizeof tn, 0);
    out->kind = LS_PLACE_MEMBER;
    snprintf(out->text, sizeof out->text, "%s (%s)", path, tn);
}

/* ---------------------------------------------------------------------- */
/* Globals                                                                 */
/* ---------------------------------------------------------------------- */

static int add_global(ls_namer *n, uint64_t addr, uint64_t size, const Dwarf_Die *die)
{
    if (n->nglobals == n->globals_cap) {
        size_t cap = n->globals_cap ? n->globals_cap * 2 : 256;
        global_var *grown = realloc(n->globals, cap * sizeof *grown);
        if (!grown)
            return -1;
        n->globals = grown;
        n->globals_cap = cap;
    }
    n->globals[n->nglobals++] = (global_var){ addr, size, *die };
    return 0;
}

/* The variables at fixed addresses of every CU of a module. */
static int module_globals(Dwfl_Module *mod, void **user, const char *name, Dwarf_Addr base, void *arg)
{
    (void)user, (void)name, (void)base;
    ls_namer *n = arg;
    Dwarf_Die *cu = NULL, v, type;
    Dwarf_Addr bias;
    while ((cu = dwfl_module_nextcu(mod, cu, &bias))) {
        for (int ok = dwarf_child(cu, &v); ok == 0; ok = dwarf_siblingof(&v, &v)) {
            Dwarf_Attribute loc;
            Dwarf_Op *expr;
            size_t len;
            Dwarf_Word size;
            if (dwarf_tag(&v) != DW_TAG_variable || !dwarf_attr(&v, DW_AT_location, &loc) ||
                dwarf_getlocation(&loc, &expr, &len) != 0 || len != 1 || expr[0].atom != DW_OP_addr ||
                !type_of(&v, &type) || dwarf_aggregate_size(&type, &size) != 0 || !size)
                continue;
            if (add_global(n, expr[0].number + bias, size, &v) != 0)
                return DWARF_CB_ABORT;
        }
    }
    return DWARF_CB_OK;
}

static int compare_globals(const void *a, const void *b)
{
    const global_var *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static void name_global(ls_namer *n, uint64_t addr, bool object, ls_place *out)
{
    if (!n->globals_read) {
        n->globals_read = true;
        dwfl_getmodules(n->dwfl, module_globals, n, 0);
        if (n->nglobals)                         /* (globals is NULL when none: qsort's nonnull) */
            qsort(n->globals, n->nglobals, sizeof *n->globals, compare_globals);
    }
    size_t lo = 0, hi = n->nglobals;            /* the last one starting at or below addr */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (n->globals[mid].addr <= addr) lo = mid + 1; else hi = mid;
    }
    if (!lo || addr - n->globals[lo - 1].addr >= n->globals[lo - 1].size)
        return;
    global_var *g = &n->globals[lo - 1];
    Dwarf_Attribute attr;
    Dwarf_Die type, leaf;
    const char *name = dwarf_formstring(dwarf_attr_integrate(&g->die, DW_AT_name, &attr));
    char path[256] = "", tn[256];
    if (!name || !type_of(&g->die, &type) ||
        !member_at(&type, addr - g->addr, path, sizeof path, &leaf, 0, object))
        return;
    set_pointee(out, &leaf);
    type_name(&leaf, tn, sizeof tn, 0);
    out->kind = LS_PLACE_GLOBAL;
    snprintf(out->text, sizeof out->text, "global %s%s (%s)", ls_printable_name(name), path, tn);
}

/* ---------------------------------------------------------------------- */
/* Stack slots                                                             */
/* ---------------------------------------------------------------------- */

/* The value of a one-operation location (or frame base) in frame f:
 * DW_OP_bregN/bregx off a known register, DW_OP_fbreg off base, or for a
 * frame base DW_OP_call_frame_cfa and DW_OP_regN. false: anything else. */
static bool eval_simple(const Dwarf_Op *op, size_t len, const ls_raw_frame *f, bool has_base, uint64_t base,
                        bool frame_base, uint64_t *out)
{
    if (len != 1)
        return false;
    unsigned reg = op->atom - DW_OP_breg0;
    if (op->atom == DW_OP_fbreg && has_base) {
        *out = base + op->number;
    } else if (op->atom == DW_OP_call_frame_cfa && frame_base && f->has_cfa) {
        *out = f->cfa;
    } else if (op->atom >= DW_OP_breg0 && op->atom <= DW_OP_breg31 && reg < LS_RAW_REGS &&
               ((f->known >> reg) & 1)) {
        *out = f->regs[reg] + op->number;
    } else if (op->atom == DW_OP_bregx && op->number < LS_RAW_REGS && ((f->known >> op->number) & 1)) {
        *out = f->regs[op->number] + op->number2;
    } else if (frame_base && op->atom >= DW_OP_reg0 && op->atom <= DW_OP_reg31 &&
               op->atom - DW_OP_reg0 < LS_RAW_REGS && ((f->known >> (op->atom - DW_OP_reg0)) & 1)) {
        *out = f->regs[op->atom - DW_OP_reg0];
    } else {
        return false;
    }
    return true;
}

/* The one variable or parameter of scopes [0, sub] whose location at
 * at (a CU address) is a stack slot holding addr (reg < 0), or all of
 * register reg (which a callee saved at addr); false when none, or more
 * than one (then which is not known). */
typedef struct slot_match {
    Dwarf_Die die, type;
    uint64_t  slot;
    int       scope;
} slot_match;

static bool find_slot(Dwarf_Die *scopes, int sub, Dwarf_Addr at, const ls_raw_frame *f, uint64_t addr,
                      int reg, slot_match *found)
{
    Dwarf_Attribute attr;
    Dwarf_Op *expr;
    size_t len;
    uint64_t base = 0;
    bool has_base = dwarf_attr(&scopes[sub], DW_AT_frame_base, &attr) &&
                    dwarf_getlocation_addr(&attr, at, &expr, &len, 1) == 1 &&
                    eval_simple(expr, len, f, false, 0, true, &base);
    int matches = 0;
    for (int j = 0; j <= sub; j++) {
        Dwarf_Die v;
        for (int ok = dwarf_child(&scopes[j], &v); ok == 0; ok = dwarf_siblingof(&v, &v)) {
            int tag = dwarf_tag(&v);
            uint64_t slot;
            Dwarf_Die type;
            Dwarf_Word size;
            if ((tag != DW_TAG_variable && tag != DW_TAG_formal_parameter) ||
                !dwarf_attr(&v, DW_AT_location, &attr) ||
                dwarf_getlocation_addr(&attr, at, &expr, &len, 1) != 1 ||
                !type_of(&v, &type) || dwarf_aggregate_size(&type, &size) != 0)
                continue;
            if (reg >= 0 ? len != 1 || size > 8 ||
                           !(expr[0].atom == DW_OP_reg0 + (unsigned)reg ||
                             (expr[0].atom == DW_OP_regx && expr[0].number == (Dwarf_Word)reg))
                         : !eval_simple(expr, len, f, has_base, base, false, &slot) ||
                           addr < slot || addr - slot >= size)
                continue;
            if (reg >= 0)
                slot = addr;
            if (matches++)
                return false;
            *found = (slot_match){ v, type, slot, j };
        }
    }
    return matches == 1;
}

/* Frame f's variable at addr (reg < 0), or in its register reg, into
 * out (already the frame's); saver: the frame that saved reg at addr. */
static void name_slot(ls_namer *n, const ls_raw_frame *f, uint64_t addr, int reg, const char *saver,
                      bool object, ls_place *out)
{
    ls_frame fr[MAX_INLINE];
    size_t nfr = ls_pc_frames(n->dwfl, f->pc, f->activation, fr, MAX_INLINE);
    Dwarf_Addr at = f->activation || !f->pc ? f->pc : f->pc - 1, bias;
    Dwfl_Module *mod = dwfl_addrmodule(n->dwfl, at);
    Dwarf_Die *cu = mod ? dwfl_module_addrdie(mod, at, &bias) : NULL, *scopes = NULL;
    int nscopes = cu ? ls_physical_scopes(cu, at - bias, &scopes) : 0, sub = 0;
    while (sub < nscopes && dwarf_tag(&scopes[sub]) != DW_TAG_subprogram)
        sub++;
    slot_match m;
    if (sub == nscopes || !find_slot(scopes, sub, at - bias, f, addr, reg, &m)) {
        free(scopes);
        return;
    }
    /* The function whose scope holds it: the frame of its PC's frames
     * that many inline scopes in. */
    size_t inner = 0;
    int k = m.scope;
    while (dwarf_tag(&scopes[k]) != DW_TAG_subprogram && dwarf_tag(&scopes[k]) != DW_TAG_inlined_subroutine)
        k++;
    for (int i = 0; i < k; i++)
        inner += dwarf_tag(&scopes[i]) == DW_TAG_inlined_subroutine;
    free(scopes);
    Dwarf_Attribute attr;
    Dwarf_Die leaf;
    const char *name = dwarf_formstring(dwarf_attr_integrate(&m.die, DW_AT_name, &attr));
    char path[256] = "", tn[256], where[4096 + 64], file[4096];
    if (!name || inner >= nfr || !fr[inner].function ||
        !member_at(&m.type, addr - m.slot, path, sizeof path, &leaf, 0, object))
        return;
    set_pointee(out, &leaf);
    type_name(&leaf, tn, sizeof tn, 0);
    if (fr[inner].file)
        snprintf(where, sizeof where, " (%s:%d)", ls_frame_path(&fr[inner], file, sizeof file), fr[inner].line);
    else
        where[0] = '\0';
    out->kind = LS_PLACE_VARIABLE;
    snprintf(out->text, sizeof out->text, "%s %s%s (%s) in %s%s%s%s", word_for(out, &leaf, "variable"),
             ls_printable_name(name), path, tn, fr[inner].function, where,
             saver ? ", saved in the frame of " : "", saver ? saver : "");
}

/* Frame f's CFI at its PC; NULL when it has none. The caller frees it. */
static Dwarf_Frame *frame_cfi(ls_namer *n, const ls_raw_frame *f)
{
    Dwarf_Addr at = f->activation || !f->pc ? f->pc : f->pc - 1, bias;
    Dwfl_Module *mod = dwfl_addrmodule(n->dwfl, at);
    Dwarf_Frame *fr = NULL;
    Dwarf_CFI *cfi = mod ? dwfl_module_eh_cfi(mod, &bias) : NULL;
    if (cfi && dwarf_cfi_addrframe(cfi, at - bias, &fr) == 0)
        return fr;
    cfi = mod ? dwfl_module_dwarf_cfi(mod, &bias) : NULL;
    return cfi && dwarf_cfi_addrframe(cfi, at - bias, &fr) == 0 ? fr : NULL;
}

/* The register of its caller that frame f's CFI says f saved at addr,
 * at f's PC; -1: none. */
static int saved_register(ls_namer *n, const ls_raw_frame *f, uint64_t addr)
{
    Dwarf_Frame *fr = frame_cfi(n, f);
    int found = -1;
    for (int r = 0; fr && r < LS_RAW_REGS && found < 0; r++) {
        Dwarf_Op mem[3], *ops;
        size_t nops;
        if (dwarf_frame_register(fr, r, mem, &ops, &nops) != 0 || !nops ||
            ops[0].atom != DW_OP_call_frame_cfa || ops[nops - 1].atom == DW_OP_stack_value)
            continue;
        if ((nops == 1 && addr == f->cfa) ||
            (nops == 2 && ops[1].atom == DW_OP_plus_uconst && addr == f->cfa + ops[1].number))
            found = r;                          /* saved at CFA + off: a location, not a value */
    }
    free(fr);
    return found;
}

/* Whether frame f's CFI says f left its caller's register reg as it was
 * (DWARF's same_value): the caller's reg is then f's. */
static bool same_value(ls_namer *n, const ls_raw_frame *f, int reg)
{
    Dwarf_Frame *fr = frame_cfi(n, f);
    Dwarf_Op mem[3], *ops;
    size_t nops;
    bool same = fr && dwarf_frame_register(fr, reg, mem, &ops, &nops) == 0 && !nops && !ops;
    free(fr);
    return same;
}

static void name_stack(ls_namer *n, size_t task, uint64_t addr, bool object, ls_place *out)
{
    if (n->task_plus_1 != task + 1) {
        n->nframes = ls_unwind_task_raw(n->u, task, n->frames, MAX_RAW_FRAMES);
        n->task_plus_1 = task + 1;
    }
    size_t i = 0;                               /* frame i: [cfa of i - 1, cfa of i) */
    while (i < n->nframes && n->frames[i].has_cfa && addr >= n->frames[i].cfa)
        i++;
    if (i == n->nframes || !n->frames[i].has_cfa)
        return;                                 /* past what the CFI tells */
    const ls_raw_frame *f = &n->frames[i];
    ls_frame fr[MAX_INLINE];
    size_t nfr = ls_pc_frames(n->dwfl, f->pc, f->activation, fr, MAX_INLINE);
    if (!fr[nfr - 1].function)
        return;
    out->kind = LS_PLACE_FRAME;
    snprintf(out->text, sizeof out->text, "the frame of %s", fr[nfr - 1].function);
    name_slot(n, f, addr, -1, NULL, object, out);
    /* A callee-saved register the frame spilled: its caller's variable,
     * if one lives in that register at the caller's PC; or, where the
     * caller left the register as it was, its caller's, and so on. */
    int reg = out->kind == LS_PLACE_FRAME ? saved_register(n, f, addr) : -1;
    for (size_t k = i + 1; reg >= 0 && k < n->nframes && out->kind == LS_PLACE_FRAME; k++) {
        name_slot(n, &n->frames[k], addr, reg, fr[nfr - 1].function, object, out);
        if (!same_value(n, &n->frames[k], reg))
            break;
    }
}

/* ---------------------------------------------------------------------- */
/* The namer                                                               */
/* ---------------------------------------------------------------------- */

ls_namer *ls_namer_create(const ls_snapshot *s, ls_unwinder *u)
{
    ls_namer *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->s = s;
    n->u = u;
    n->dwfl = u && !s->from_json ? ls_unwinder_dwfl(u) : NULL;
    return n;
}

void ls_namer_destroy(ls_namer *n)
{
    if (!n)
        return;
    free(n->globals);
    free(n);
}

void ls_name_address(ls_namer *n, uint64_t addr, bool object, ls_place *out)
{
    memset(out, 0, sizeof *out);
    if (!n || !n->dwfl)
        return;
    /* Searched whole: a direct-mapped cache let two of the few words a
     * path repeats fall into one slot, by where ASLR put them, and each
     * then missed every time (65,536 waits on one object took a minute). */
    uint64_t key = addr * 2 + object + 1;
    for (size_t k = 0; k < NAME_CACHE; k++) {
        if (n->cache[k].key == key) {
            *out = n->cache[k].place;
            return;
        }
    }
    size_t slot = n->next_slot++ % NAME_CACHE;      /* the oldest goes */
    int kind;
    uint64_t obj = ls_object_of(n->s, addr, &kind);
    if (kind == LS_OBJ_STACK)
        name_stack(n, (size_t)(obj - n->s->nheap_objects), addr, object, out);
    else if (obj == LS_NO_OBJECT)
        name_global(n, addr, object, out);
    n->cache[slot].key = key;
    n->cache[slot].place = *out;
}

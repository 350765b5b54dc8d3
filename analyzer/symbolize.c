/*
 * symbolize.c — one PC to the frames it stands for, innermost first: the
 * functions the compiler inlined at that PC, then the real function
 * around them, each with its name, offset and file:line (unwind.c caches
 * them per PC).
 *
 * The real function is the ELF symbol holding the PC, as before inlining
 * was looked at; the line table gives the innermost frame's file:line.
 * DWARF's inline scopes give the rest, read as gdb, Delve and pprof read
 * them: each DW_TAG_inlined_subroutine nested in the real function's
 * DW_TAG_subprogram names its function through DW_AT_abstract_origin and
 * says, with DW_AT_call_file and DW_AT_call_line, where it was called
 * in the function around it: the file:line of the next frame out.
 *
 * Also which frame of such a stack is the task's top user frame.
 */
#include "leakscan.h"
#include "dwarf_names.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* The real function's frame: symbol, offset, module; the line table's
 * file:line (the innermost function's, when code was inlined there). */
static void real_frame(Dwfl_Module *mod, uint64_t pc, uint64_t at, ls_frame *f)
{
    f->module = dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
    GElf_Off off;
    GElf_Sym sym;
    const char *name = dwfl_module_addrinfo(mod, at, &off, &sym, NULL, NULL, NULL);
    if (name) {
        f->function = name;
        f->offset = off + (pc - at);
    }
    Dwfl_Line *line = dwfl_module_getsrc(mod, at);
    if (!line)
        return;
    int lineno = 0;
    const char *file = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
    if (file) {
        f->file = file;
        f->line = lineno;
        Dwarf_Die *cu = dwfl_linecu(line);
        Dwarf_Attribute attr;
        if (file[0] != '/' && cu && dwarf_attr(cu, DW_AT_comp_dir, &attr))
            f->dir = dwarf_formstring(&attr);
    }
}

/* The scopes holding address at (in the CU's own addresses), innermost
 * first, as they nest in the code. dwarf_getscopes continues an inlined
 * scope with its abstract definition's scopes (what variable lookup
 * wants); the nesting out to the real function is dwarf_getscopes_die's
 * from the innermost scope. The count, or 0 (*scopes then NULL). */
int ls_physical_scopes(Dwarf_Die *cu, Dwarf_Addr at, Dwarf_Die **scopes)
{
    Dwarf_Die *found = NULL;
    int n = dwarf_getscopes(cu, at, &found);
    *scopes = NULL;
    if (n <= 0) {
        free(found);
        return 0;
    }
    Dwarf_Die innermost = found[0];
    free(found);
    n = dwarf_getscopes_die(&innermost, scopes);
    if (n <= 0) {
        free(*scopes);
        *scopes = NULL;
        return 0;
    }
    return n;
}

/* The name an inlined scope's function goes by: its abstract origin's
 * linkage name if it has one (what symbols show), else its name. */
static const char *inlined_name(Dwarf_Die *scope)
{
    Dwarf_Attribute attr;
    const char *name = dwarf_formstring(dwarf_attr_integrate(scope, DW_AT_linkage_name, &attr));
    return name ? name : dwarf_formstring(dwarf_attr_integrate(scope, DW_AT_name, &attr));
}

/* Where inlined scope was called, in the function around it, into f. */
static void call_site(Dwarf_Die *scope, Dwarf_Files *files, const char *comp_dir, ls_frame *f)
{
    Dwarf_Attribute attr;
    Dwarf_Word file, line;
    f->file = NULL;
    f->dir = NULL;
    f->line = 0;
    if (!files || dwarf_formudata(dwarf_attr(scope, DW_AT_call_file, &attr), &file) != 0)
        return;
    f->file = dwarf_filesrc(files, file, NULL, NULL);
    if (!f->file)
        return;
    if (f->file[0] != '/')
        f->dir = comp_dir;
    if (dwarf_formudata(dwarf_attr(scope, DW_AT_call_line, &attr), &line) == 0)
        f->line = line > INT_MAX ? INT_MAX : (int)line;
}

/* Turns out[0], the real function's frame, into the chain of n inlined
 * scopes (innermost first) then the real function, at most max frames:
 * when the chain is deeper, its innermost scopes are left out, so every
 * frame kept has its true file:line. The frame count. */
static size_t expand(Dwarf_Die *cu, Dwarf_Die *const *chain, size_t n, ls_frame *out, size_t max)
{
    size_t skip = n + 1 > max ? n + 1 - max : 0;
    Dwarf_Files *files = NULL;
    size_t nfiles;
    if (dwarf_getsrcfiles(cu, &files, &nfiles) != 0)
        files = NULL;
    Dwarf_Attribute attr;
    const char *comp_dir = dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &attr));
    ls_frame real = out[0];
    size_t k = 0;
    for (size_t i = skip; i <= n; i++, k++) {
        out[k] = real;
        if (i > 0)                   /* where it called the scope within */
            call_site(chain[i - 1], files, comp_dir, &out[k]);
        if (i < n) {
            out[k].function = inlined_name(chain[i]);
            out[k].inlined = true;
        }
    }
    return k;
}

/* Names from the program's own files (matched by build-id) are printed
 * like those from the snapshot (reader.h, ls_text_sanitize), but live in
 * libdw's read-only memory: one with a control byte is shown as "?". */
const char *ls_printable_name(const char *name)
{
    for (const char *c = name; c && *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return "?";
    return name;
}

static size_t printable_frames(ls_frame *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[i].function = ls_printable_name(out[i].function);
        out[i].file = ls_printable_name(out[i].file);
        out[i].dir = ls_printable_name(out[i].dir);
    }
    return n;
}

size_t ls_pc_frames(Dwfl *dwfl, uint64_t pc, bool activation, ls_frame *out, size_t max)
{
    memset(out, 0, sizeof *out);
    out->pc = pc;
    /* A return address points after the call: look up the call itself. */
    uint64_t at = activation || pc == 0 ? pc : pc - 1;
    Dwfl_Module *mod = dwfl ? dwfl_addrmodule(dwfl, at) : NULL;
    if (!mod)
        return 1;
    real_frame(mod, pc, at, out);
    Dwarf_Addr bias;
    Dwarf_Die *cu = dwfl_module_addrdie(mod, at, &bias);
    Dwarf_Die *scopes = NULL;
    int nscopes = cu && max > 1 ? ls_physical_scopes(cu, at - bias, &scopes) : 0;
    Dwarf_Die *chain[64];
    size_t n = 0;
    for (int i = 0; i < nscopes && n < sizeof chain / sizeof chain[0]; i++) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag == DW_TAG_subprogram)
            break;                   /* the real function: its symbol names it */
        if (tag == DW_TAG_inlined_subroutine)
            chain[n++] = &scopes[i];
    }
    size_t frames = n ? expand(cu, chain, n, out, max) : 1;
    free(scopes);
    return printable_frames(out, frames);
}

/* Widens [*lo, *hi] (*any: set yet) by the lines of file the line table
 * gives to code in [start, end) (CU addresses). */
static void lines_in_range(Dwarf_Lines *lines, size_t nlines, Dwarf_Addr start, Dwarf_Addr end,
                           const char *file, int *lo, int *hi, bool *any)
{
    for (size_t i = 0; i < nlines; i++) {
        Dwarf_Line *l = dwarf_onesrcline(lines, i);
        Dwarf_Addr addr;
        int line;
        const char *src;
        if (!l || dwarf_lineaddr(l, &addr) != 0 || addr < start || addr >= end ||
            dwarf_lineno(l, &line) != 0 || line <= 0 || !(src = dwarf_linesrc(l, NULL, NULL)) ||
            strcmp(src, file) != 0)
            continue;
        *lo = *any && *lo < line ? *lo : line;
        *hi = *any && *hi > line ? *hi : line;
        *any = true;
    }
}

bool ls_pc_function_lines(Dwfl *dwfl, const ls_frame *f, bool activation, int *first, int *last)
{
    uint64_t at = activation || f->pc == 0 ? f->pc : f->pc - 1;
    Dwfl_Module *mod = dwfl && f->file && f->function ? dwfl_addrmodule(dwfl, at) : NULL;
    Dwarf_Addr bias;
    Dwarf_Die *cu = mod ? dwfl_module_addrdie(mod, at, &bias) : NULL;
    Dwarf_Lines *lines;
    size_t nlines;
    if (!cu || dwarf_getsrclines(cu, &lines, &nlines) != 0)
        return false;
    Dwarf_Die *scopes = NULL;
    int nscopes = ls_physical_scopes(cu, at - bias, &scopes);
    int lo = 0, hi = 0, decl = 0;
    bool any = false, scoped = false;
    for (int i = 0; i < nscopes && !scoped; i++) {
        int tag = dwarf_tag(&scopes[i]);
        /* The real function is the first subprogram out; an inlined one
         * the inlined scope named like the frame. */
        if (f->inlined ? tag != DW_TAG_inlined_subroutine ||
                         strcmp(ls_printable_name(inlined_name(&scopes[i])), f->function) != 0
                       : tag != DW_TAG_subprogram)
            continue;
        scoped = true;
        Dwarf_Addr base, start, end;
        ptrdiff_t off = 0;
        while ((off = dwarf_ranges(&scopes[i], off, &base, &start, &end)) > 0)
            lines_in_range(lines, nlines, start, end, f->file, &lo, &hi, &any);
        /* It starts at its declaration; code lines above it are those of
         * functions inlined into it, defined earlier in the file. */
        if (any && dwarf_decl_line(&scopes[i], &decl) == 0 && decl > 0 && decl <= hi)
            lo = decl;
    }
    free(scopes);
    /* No DWARF scope holds the code (gcc gives some functions only an
     * abstract DIE): the real function is its ELF symbol's bytes. */
    GElf_Sym sym;
    GElf_Off off;
    if (!scoped && !f->inlined && dwfl_module_addrinfo(mod, at, &off, &sym, NULL, NULL, NULL) && sym.st_size)
        lines_in_range(lines, nlines, at - off - bias, at - off - bias + sym.st_size, f->file, &lo, &hi, &any);
    if (any) {
        *first = lo;
        *last = hi;
    }
    return any;
}

const char *ls_frame_path(const ls_frame *f, char *buf, size_t size)
{
    if (!f->file || f->file[0] == '/' || !f->dir || f->dir[0] != '/' || size < 2)
        return f->file;
    int n = snprintf(buf, size, "%s/%s", f->dir, f->file);
    if (n < 0 || (size_t)n >= size)
        return f->file;
    /* Fold "." and ".." segments in place: out never passes in. */
    char *out = buf;
    for (const char *in = buf; *in;) {
        while (*in == '/')
            in++;
        const char *end = in + strcspn(in, "/");
        size_t len = (size_t)(end - in);
        if (len == 1 && in[0] == '.') {
            /* nothing */
        } else if (len == 2 && in[0] == '.' && in[1] == '.') {
            while (out > buf && *--out != '/')
                ;
        } else if (len) {
            *out++ = '/';
            memmove(out, in, len);
            out += len;
        }
        in = end;
    }
    if (out == buf)
        *out++ = '/';
    *out = '\0';
    return buf;
}

size_t ls_top_user_frame(const ls_stack *st)
{
    for (size_t f = 0; f < st->nframes;) {
        size_t real = f;                 /* the last frame of f's PC */
        while (real + 1 < st->nframes && st->frames[real].inlined)
            real++;
        const char *fn = st->frames[real].function;
        if (!fn || strncmp(fn, "lrt_", 4) != 0)
            return f;
        f = real + 1;
    }
    return 0;
}

/*
 * dwarf_names.h — what DWARF says an address is: a global and its member,
 * a task's stack slot and the variable (or parameter) that lives there at
 * the frame's PC, a member of a heap object whose type a pointer gave.
 * `leakscan why` (why.c) names its places with it; where DWARF does not
 * say, nothing is named.
 */
#ifndef LS_DWARF_NAMES_H
#define LS_DWARF_NAMES_H

#include "leakscan.h"

#include <elfutils/libdw.h>

/* What an address was found to be. */
enum ls_place_kind {
    LS_PLACE_NONE = 0,          /* DWARF does not say: the bare address */
    LS_PLACE_FRAME,             /* in a task's frame, no variable known there */
    LS_PLACE_VARIABLE,          /* a local variable or parameter's slot */
    LS_PLACE_GLOBAL,            /* a global variable (or a member of one) */
    LS_PLACE_MEMBER,            /* a member of a typed object */
};

typedef struct ls_place {
    int       kind;             /* enum ls_place_kind */
    /* "the frame of handle_batch", "channel results (lrt_chan *) in
     * handle_batch (/src/jobsvc.c:42)", "global svc.last (struct batch
     * *)", ".next (struct job *)"; "" for LS_PLACE_NONE. */
    char      text[768];
    bool      typed;            /* the word is a `T *`: pointee is T */
    Dwarf_Die pointee;          /* T, cv-qualifiers peeled; when typed */
} ls_place;

typedef struct ls_namer ls_namer;

/* A namer over u's modules; NULL when out of memory (then nothing is
 * named: every call below accepts NULL and names nothing). */
ls_namer *ls_namer_create(const ls_snapshot *s, ls_unwinder *u);
void      ls_namer_destroy(ls_namer *n);

/* The word at addr, in a task's stack (its frame, and the variable there
 * at that frame's PC) or in a global, down to the member holding it;
 * object: addr is where a libleakrt object starts (a mutex a task waits
 * on), named whole. *out's kind says what was found. */
void ls_name_address(ls_namer *n, uint64_t addr, bool object, ls_place *out);
/* The word at offset off in an object that is a `type` (a struct or
 * union): the member holding it, LS_PLACE_MEMBER, or LS_PLACE_NONE. */
void ls_name_member(ls_namer *n, const Dwarf_Die *type, uint64_t off, ls_place *out);
/* What an object that is a `type` is called: "a channel" for libleakrt's
 * types, "a struct job" for a struct or union; false for anything else
 * (an int, a void, a pointer: nothing worth saying). */
bool ls_name_object(const Dwarf_Die *type, char *buf, size_t size);

/* symbolize.c: the scopes holding address at (the CU's own), innermost
 * first, as they nest in the code, out to the real function and its CU;
 * the count, or 0 (*scopes then NULL). The caller frees *scopes. */
int ls_physical_scopes(Dwarf_Die *cu, Dwarf_Addr at, Dwarf_Die **scopes);

#endif

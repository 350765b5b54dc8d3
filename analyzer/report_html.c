/*
 * report_html.c — `leakscan html FILE > report.html`: one self-contained
 * page (no network): the summary, a flame graph of the leaked stacks drawn
 * as inline SVG, and each group with its frames, source lines, wait
 * reason, labels, task ids and the memory it holds. A small inline script
 * (report_html_script.c) zooms the graph on a click and highlights the
 * frames a search matches; without it the page still reads whole.
 *
 * Flame graph: the bottom row is the outermost frame, each row above the
 * frame it called; a box's width is the number of leaked tasks through it.
 * Functions the compiler inlined have boxes (and table rows, marked
 * "inlined") of their own, as their frames do.
 */
#include "leakscan.h"
#include "report_html.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define WIDTH   1200.0
#define ROW     18
#define MAXROWS 64
#define MAXROWS_TEXT "63"         /* rows above the root's */

typedef struct node {
    const char  *name;
    size_t       count;
    int          depth;         /* the root's children: 1 */
    size_t       id;            /* the root's: 0; the script finds a parent by it */
    struct node *parent;
    struct node *child, *next;  /* first child, next sibling */
} node;

/* The tree is as deep as a stack and as wide as the distinct functions,
 * which a saved result makes as large as it likes: a child is found by
 * hash (a search of its siblings was quadratic: 100,000 one-frame groups
 * took 40 s), and nothing recurses over the tree (a stack of 300,000
 * frames overflowed the C stack). */
typedef struct tree {
    node     root;
    node   **nodes;             /* every node but the root */
    size_t   n, cap;
    ls_index index;             /* (parent, name) -> nodes[i] */
    int      depth;             /* the deepest node's */
} tree;

typedef struct child_key { const tree *t; const node *parent; const char *name; } child_key;

static bool same_child(const void *ctx, size_t i)
{
    const child_key *k = ctx;
    return k->t->nodes[i]->parent == k->parent && strcmp(k->t->nodes[i]->name, k->name) == 0;
}

static node *child_named(tree *t, node *parent, const char *name)
{
    uint64_t key[2] = { ls_hash_string(name), (uint64_t)(uintptr_t)parent };
    uint64_t h = ls_hash_bytes(key, sizeof key);
    size_t i = ls_index_find(&t->index, h, same_child, &(child_key){ t, parent, name });
    if (i != SIZE_MAX)
        return t->nodes[i];
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        node **grown = realloc(t->nodes, cap * sizeof *grown);
        if (!grown)
            return NULL;
        t->nodes = grown;
        t->cap = cap;
    }
    node *c = calloc(1, sizeof *c);
    if (!c || ls_index_add(&t->index, h, t->n) != 0) {
        free(c);
        return NULL;
    }
    t->nodes[t->n++] = c;
    c->id = t->n;
    c->name = name;
    c->parent = parent;
    c->depth = parent->depth + 1;
    if (c->depth > t->depth)
        t->depth = c->depth;
    c->next = parent->child;
    parent->child = c;
    return c;
}

static void free_tree(tree *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->nodes[i]);
    free(t->nodes);
    ls_index_free(&t->index);
}

/* Every string from the file reaches the page through here, on every
 * path (a name cut short too: the cut is made before escaping, so no
 * entity is split): names, files, reasons, the header. At most n bytes of s. */
static void escape_n(FILE *out, const char *s, size_t n)
{
    for (; s && *s && n; s++, n--) {
        switch (*s) {
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '&': fputs("&amp;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default: fputc(*s, out);
        }
    }
}

static void escape(FILE *out, const char *s)
{
    escape_n(out, s, SIZE_MAX);
}

static void draw_box(FILE *out, const node *n, double x, int level, int height, size_t total)
{
    double w = WIDTH * (double)n->count / (double)total;
    double y = (double)(height - 1 - level) * ROW;
    unsigned hue = 0;
    for (const char *p = n->name; *p; p++)
        hue = hue * 31 + (unsigned char)*p;
    /* What the script needs: where the box is, its parent and count. */
    fprintf(out, "<g class=\"f\" data-i=\"%zu\" data-p=\"%zu\" data-l=\"%d\" data-x=\"%.4f\" data-w=\"%.4f\" "
                 "data-c=\"%zu\" data-n=\"", n->id, n->parent ? n->parent->id : 0, level, x, w, n->count);
    escape(out, n->name);
    fprintf(out, "\"><title>");
    escape(out, n->name);
    fprintf(out, " (%zu task%s)</title><rect x=\"%.2f\" y=\"%.0f\" width=\"%.2f\" height=\"%d\" "
                 "fill=\"hsl(%u,70%%,%u%%)\" stroke=\"white\"/>", n->count, n->count == 1 ? "" : "s",
            x, y, w, ROW - 1, 10 + hue % 40, 55 + hue % 20);
    /* Every box has its text, empty where it is too narrow: a zoom widens it. */
    fprintf(out, "<text x=\"%.2f\" y=\"%.0f\">", x + 3, y + ROW - 5);
    if (w > 40) {
        size_t room = (size_t)(w / 7);
        size_t len = strlen(n->name);
        if (len > room) {
            escape_n(out, n->name, room > 2 ? room - 2 : 0);
            fputs("..", out);
        } else {
            escape(out, n->name);
        }
    }
    fputs("</text></g>\n", out);
}

/* Every box, a node before its children and its children (and theirs)
 * before its next sibling, each child at its parent's x plus the widths
 * of the siblings before it. Without recursion: an entry is a node to
 * draw, then its siblings after it. -1 when out of memory. */
static int draw(FILE *out, const node *root, int height, size_t total)
{
    typedef struct box_at { const node *n; double x; int level; } box_at;   /* a box still to draw */
    size_t len = 0, cap = 64;
    box_at *stack = malloc(cap * sizeof *stack);
    if (!stack)
        return -1;
    draw_box(out, root, 0, 0, height, total);
    if (root->child)
        stack[len++] = (box_at){ root->child, 0, 1 };
    while (len) {
        box_at at = stack[--len];
        draw_box(out, at.n, at.x, at.level, height, total);
        if (len + 2 > cap) {
            box_at *grown = realloc(stack, 2 * cap * sizeof *grown);
            if (!grown) {
                free(stack);
                return -1;
            }
            stack = grown;
            cap *= 2;
        }
        if (at.n->next)
            stack[len++] = (box_at){ at.n->next, at.x + WIDTH * (double)at.n->count / (double)total, at.level };
        if (at.n->child && at.level + 1 < height)   /* deeper rows would be drawn above the graph */
            stack[len++] = (box_at){ at.n->child, at.x, at.level + 1 };
    }
    free(stack);
    return 0;
}

/* The group's distinct label sets (the first few), as the traces print them. */
static void print_labels(FILE *out, const ls_snapshot *s, const ls_group *g)
{
    enum { SHOWN = 5 };
    int32_t seen[SHOWN];
    size_t nseen = 0, more = 0;
    for (size_t k = 0; k < g->count; k++) {
        int32_t set = s->rt->tasks[g->tasks[k]].label_set;
        if (set < 0 || (size_t)set >= s->rt->nlabel_sets)
            continue;
        bool known = false;
        for (size_t j = 0; j < nseen && !known; j++)
            known = seen[j] == set;
        if (known)
            continue;
        if (nseen == SHOWN) {
            more++;                  /* (a set seen past the first few may count twice) */
            continue;
        }
        seen[nseen++] = set;
    }
    if (!nseen)
        return;
    fprintf(out, "<p class=\"labels\">labels: ");
    for (size_t j = 0; j < nseen; j++) {
        const ls_label_set *set = &s->rt->label_sets[seen[j]];
        fputs(j ? "; {" : "{", out);
        for (uint32_t l = 0; l < set->count; l++) {
            fputs(l ? ", " : "", out);
            escape(out, set->labels[l].key);
            fputs("=", out);
            escape(out, set->labels[l].value);
        }
        fputs("}", out);
    }
    if (more)
        fprintf(out, " and more");
    fprintf(out, "</p>\n");
}

/* The first task ids of the group (and, of a merged result, their files). */
static void print_ids(FILE *out, const ls_snapshot *s, const ls_group *g)
{
    enum { SHOWN = 20 };
    fprintf(out, "<p class=\"ids\">task%s ", ls_s(g->count));
    for (size_t k = 0; k < g->count && k < SHOWN; k++) {
        const ls_task *t = &s->rt->tasks[g->tasks[k]];
        fprintf(out, "%s%" PRIu64, k ? ", " : "", t->id);
        if (s->nfiles > 1) {
            fputs(" (", out);
            escape(out, s->files[t->file].path);
            fputs(")", out);
        }
    }
    if (g->count > SHOWN)
        fprintf(out, " and %zu more", g->count - SHOWN);
    fprintf(out, "</p>\n");
}

int ls_report_html(FILE *out, const ls_snapshot *s, const ls_analysis *a, const ls_report *r,
                   const char *source_path)
{
    tree t = { .root = { .name = "all leaked tasks" } };
    node *root = &t.root;
    for (size_t g = 0; g < r->ngroups; g++) {
        const ls_group *grp = &r->groups[g];
        node *at = root;
        root->count += grp->count;
        /* From the outermost frame in. */
        for (size_t f = grp->stack.nframes; f-- > 0;) {
            at = child_named(&t, at, grp->stack.frames[f].function ? grp->stack.frames[f].function : "?");
            if (!at) {
                free_tree(&t);
                return -1;
            }
            at->count += grp->count;
        }
    }
    int height = t.depth + 1;
    if (height > MAXROWS)
        height = MAXROWS;

    fprintf(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>leakscan: ");
    escape(out, s->path);
    fprintf(out, "</title>\n<style>\n"
                 "body { font: 14px/1.4 sans-serif; margin: 2em; color: #222; }\n"
                 "h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; }\n"
                 "svg text { font: 12px monospace; fill: #000; pointer-events: none; }\n"
                 ".group { border: 1px solid #ccc; padding: .5em 1em; margin: 1em 0; }\n"
                 ".reason { font-weight: bold; color: #a22; }\n"
                 "table.frames td { font-family: monospace; padding: 0 1em 0 0; }\n"
                 "td.src { color: #555; white-space: pre; }\n"
                 "g.f { cursor: pointer; } g.f.match rect { fill: #e040fb; }\n"
                 ".tools { margin: .5em 0; } .tools input { width: 20em; } #matched { margin-left: 1em; }\n"
                 ".ids, .labels { font-family: monospace; color: #333; }\n"
                 "</style></head><body>\n");
    fprintf(out, "<h1>leakscan: ");
    escape(out, s->path);
    fprintf(out, "</h1>\n<p>pid %" PRIu64 ", reason &ldquo;", s->core->note.pid);
    escape(out, s->core->reason);
    size_t leaked_groups = a->leaked ? r->leaked_groups : 0;
    fprintf(out, "&rdquo;: <strong>%zu leaked</strong> of %zu task%s, in %zu group%s%s",
            a->leaked, s->rt->ntasks, ls_s(s->rt->ntasks), leaked_groups, ls_s(leaked_groups),
            a->main_blocked ? "; the main task is blocked forever" : "");
    if (r->retained_objects)
        fprintf(out, "; they hold %" PRIu64 " byte%s in %" PRIu64 " object%s", r->retained_bytes,
                ls_s(r->retained_bytes), r->retained_objects, ls_s(r->retained_objects));
    if (a->suppressed)
        fprintf(out, " (%zu more suppressed)", a->suppressed);
    char unknown[256];
    ls_unknown_note(a, unknown, sizeof unknown);
    if (*unknown) {
        fprintf(out, "; ");
        escape(out, unknown);
    }
    fprintf(out, ".</p>\n");
    if (s->rt->roots_note) {
        fprintf(out, "<p class=\"note\">Note: ");
        escape(out, s->rt->roots_note);
        fprintf(out, ".</p>\n");
    }
    if (root->count) {
        fprintf(out, "<h2>Flame graph of the leaked stacks</h2>\n"
                     "<div class=\"tools\"><input id=\"search\" type=\"search\" placeholder=\"search "
                     "functions (a regular expression)\"> <button id=\"reset\" disabled>Reset zoom</button>"
                     "<span id=\"matched\"></span></div>\n"
                     "<p>Click a frame to zoom to it, the bottom one to zoom out.%s</p>\n"
                     "<svg id=\"flamegraph\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%d\">\n",
                t.depth + 1 > MAXROWS ? " Calls deeper than " MAXROWS_TEXT " frames are not drawn (the groups "
                "below list every frame)." : "", WIDTH, height * ROW);
        if (draw(out, root, height, root->count) != 0) {
            free_tree(&t);
            return -1;
        }
        fprintf(out, "</svg>\n");
    } else {
        fprintf(out, "<p>No leaked tasks.</p>\n");
    }
    fprintf(out, "<h2>Groups</h2>\n");
    for (size_t g = 0; g < r->ngroups; g++) {
        const ls_group *grp = &r->groups[g];
        const char *reason = ls_group_reason(s, grp->wait_reason);
        char lo[32], hi[32];
        ls_format_duration(grp->wait_min_ns, lo, sizeof lo);
        ls_format_duration(grp->wait_max_ns, hi, sizeof hi);
        fprintf(out, "<div class=\"group\"><p><strong>%zu task%s</strong> in <span class=\"reason\">",
                grp->count, ls_s(grp->count));
        escape(out, reason);
        fprintf(out, "</span>, waiting %s%s%s", lo, strcmp(lo, hi) ? " .. " : "", strcmp(lo, hi) ? hi : "");
        if (grp->retained_objects)
            fprintf(out, ", holding %" PRIu64 " byte%s in %" PRIu64 " object%s", grp->retained_bytes,
                    ls_s(grp->retained_bytes), grp->retained_objects, ls_s(grp->retained_objects));
        if (grp->shared_objects)
            fprintf(out, " (and reaching %" PRIu64 " byte%s a group above holds)", grp->shared_bytes,
                    ls_s(grp->shared_bytes));
        fprintf(out, "</p>\n<table class=\"frames\">\n");
        for (size_t f = 0; f < grp->stack.nframes; f++) {
            const ls_frame *fr = &grp->stack.frames[f];
            fprintf(out, "<tr><td>0x%" PRIx64 "</td><td>", fr->pc);
            escape(out, fr->function ? fr->function : "?");
            fprintf(out, "+0x%" PRIx64 "%s</td><td>", fr->offset, fr->inlined ? " (inlined)" : "");
            char path[4096];
            if (fr->file) {
                escape(out, ls_frame_path(fr, path, sizeof path));
                fprintf(out, ":%d", fr->line);
            }
            char text[512];
            fprintf(out, "</td><td class=\"src\">");
            if (ls_source_line(fr, source_path, text, sizeof text))
                escape(out, text);
            fprintf(out, "</td></tr>\n");
        }
        fprintf(out, "</table>\n");
        print_labels(out, s, grp);
        print_ids(out, s, grp);
        fprintf(out, "<p>created by ");
        escape(out, grp->created_by.function ? grp->created_by.function : "?");
        if (grp->created_by.file) {
            fprintf(out, " at ");
            escape(out, grp->created_by.file);
            fprintf(out, ":%d", grp->created_by.line);
        }
        fprintf(out, "</p></div>\n");
    }
    fprintf(out, "<script>%s</script>\n</body></html>\n", ls_html_script);
    free_tree(&t);
    return 0;
}

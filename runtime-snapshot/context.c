/*
 * context.c — contexts: cancellation and deadlines that propagate down a
 * tree, Go's context package.
 *
 * A context lives in the tracked heap, its done channel too. Following Go,
 * the background context keeps no list of children (it never cancels), and
 * a cancellable parent keeps its children in an lrt_alloc'd array, so the
 * analysis sees parent -> child edges as Go's GC does. A deadline is a
 * timer in internal memory whose target is the context: the analysis
 * counts pending timers' targets as roots, since the timer will act alone.
 *
 * One lock guards the whole tree, and a cancel does its subtree inside it.
 * Go's per-context locks are safe there because the GC keeps a context
 * alive while anyone holds it; here the task that sees done closed may
 * lrt_ctx_free the context at once, so a cancel must never touch a context
 * after it lets go, and a child must never outlive the parent's walk over
 * its children. With one lock both hold by construction.
 */
#include "chan.h"

#include <string.h>

enum { CTX_BACKGROUND = 0, CTX_CANCEL, CTX_TIMEOUT };

struct lrt_ctx {
    int        err;          /* 0, LRT_CANCELED, LRT_DEADLINE */
    int        kind;
    lrt_ctx   *parent;       /* NULL for background, or once it cancelled us */
    lrt_chan  *done;         /* closed on cancel; NULL for background */
    lrt_ctx  **children;     /* tracked heap; cancellable contexts only */
    size_t     nchildren, capacity;
    lrt_timer *timer;        /* internal memory; timeout contexts only */
};

static lrt_lock tree_lock;
static lrt_ctx background = { .kind = CTX_BACKGROUND };

lrt_ctx *lrt_ctx_background(void) { return &background; }

static void add_child(lrt_ctx *parent, lrt_ctx *child)
{
    if (parent->nchildren == parent->capacity) {
        size_t cap = parent->capacity ? parent->capacity * 2 : 4;
        lrt_ctx **grown = lrt_alloc(cap * sizeof *grown);
        if (parent->nchildren)
            memcpy(grown, parent->children, parent->nchildren * sizeof *grown);
        lrt_free(parent->children);
        parent->children = grown;
        parent->capacity = cap;
    }
    parent->children[parent->nchildren++] = child;
}

static void remove_child(lrt_ctx *parent, lrt_ctx *child)
{
    for (size_t i = 0; i < parent->nchildren; i++) {
        if (parent->children[i] == child) {
            parent->children[i] = parent->children[--parent->nchildren];
            parent->children[parent->nchildren] = NULL;
            return;
        }
    }
}

/* Cancels ctx and its descendants with err; tree_lock is held. Its own
 * timer is only disarmed: if it is firing now, it waits for this lock and
 * then finds ctx cancelled. */
static void cancel_locked(lrt_ctx *ctx, int err)
{
    if (ctx->err)
        return;
    ctx->err = err;
    lrt_chan_close(ctx->done);
    for (size_t i = 0; i < ctx->nchildren; i++) {
        ctx->children[i]->parent = NULL;     /* we no longer list it */
        cancel_locked(ctx->children[i], err);
    }
    lrt_free(ctx->children);
    ctx->children = NULL;
    ctx->nchildren = ctx->capacity = 0;
    if (ctx->timer)
        lrt_timer_disarm(ctx->timer);
    if (ctx->parent && ctx->parent->kind != CTX_BACKGROUND)
        remove_child(ctx->parent, ctx);
    ctx->parent = NULL;
}

static void cancel(lrt_ctx *ctx, int err)
{
    lrt_lock_acquire(&tree_lock);
    cancel_locked(ctx, err);
    lrt_lock_release(&tree_lock);
}

static lrt_ctx *derive(lrt_ctx *parent, int kind, int64_t timeout_ns,
                       const char *call)
{
    if (!parent)
        lrt_panic(call, "parent context is NULL");
    lrt_ctx *ctx = lrt_alloc(sizeof *ctx);
    ctx->kind = kind;
    ctx->done = lrt_chan_make(0, 0);
    if (kind == CTX_TIMEOUT && timeout_ns > 0) {
        ctx->timer = lrt_internal_alloc(sizeof *ctx->timer);
        ctx->timer->kind = LRT_TIMER_CTX;
        ctx->timer->target = ctx;
        ctx->timer->heap_index = -1;
    }
    lrt_lock_acquire(&tree_lock);
    ctx->parent = parent;
    if (parent->err) {
        cancel_locked(ctx, parent->err);
    } else if (kind == CTX_TIMEOUT && timeout_ns <= 0) {
        if (parent->kind != CTX_BACKGROUND)
            add_child(parent, ctx);
        cancel_locked(ctx, LRT_DEADLINE);
    } else {
        if (parent->kind != CTX_BACKGROUND)
            add_child(parent, ctx);
        if (ctx->timer)
            lrt_timer_arm(ctx->timer, lrt_now() + timeout_ns);
    }
    lrt_lock_release(&tree_lock);
    return ctx;
}

lrt_ctx *lrt_ctx_with_cancel(lrt_ctx *parent)
{
    return derive(parent, CTX_CANCEL, 0, "lrt_ctx_with_cancel");
}

lrt_ctx *lrt_ctx_with_timeout(lrt_ctx *parent, int64_t ns)
{
    return derive(parent, CTX_TIMEOUT, ns, "lrt_ctx_with_timeout");
}

void lrt_ctx_timer_fire(lrt_ctx *ctx) { cancel(ctx, LRT_DEADLINE); }

void lrt_ctx_cancel(lrt_ctx *ctx)
{
    if (!ctx)
        lrt_panic("lrt_ctx_cancel", "context is NULL");
    if (ctx->kind != CTX_BACKGROUND)
        cancel(ctx, LRT_CANCELED);
}

lrt_chan *lrt_ctx_done(lrt_ctx *ctx)
{
    return ctx ? ctx->done : NULL;
}

int lrt_ctx_err(lrt_ctx *ctx)
{
    if (!ctx || ctx->kind == CTX_BACKGROUND)
        return 0;
    lrt_lock_acquire(&tree_lock);
    int err = ctx->err;
    lrt_lock_release(&tree_lock);
    return err;
}

void lrt_ctx_free(lrt_ctx *ctx)
{
    if (!ctx || ctx->kind == CTX_BACKGROUND)
        return;
    cancel(ctx, LRT_CANCELED);
    if (ctx->timer) {
        lrt_timer_stop(ctx->timer);      /* waits if it is firing now */
        lrt_internal_free(ctx->timer, sizeof *ctx->timer);
    }
    lrt_chan_free(ctx->done);
    lrt_free(ctx);
}

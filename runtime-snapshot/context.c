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
 */
#include "chan.h"

#include <string.h>

enum { CTX_BACKGROUND = 0, CTX_CANCEL, CTX_TIMEOUT };

struct lrt_ctx {
    lrt_lock   lock;
    int        err;          /* 0, LRT_CANCELED, LRT_DEADLINE */
    int        kind;
    lrt_ctx   *parent;       /* NULL for background, or once it cancelled us */
    lrt_chan  *done;         /* closed on cancel; NULL for background */
    lrt_ctx  **children;     /* tracked heap; cancellable contexts only */
    size_t     nchildren, capacity;
    lrt_timer *timer;        /* internal memory; timeout contexts only */
};

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

/* Cancels ctx and its descendants with err. from_timer: called by ctx's own
 * timer, which must not wait for itself to finish firing. */
static void cancel(lrt_ctx *ctx, int err, bool from_timer)
{
    lrt_lock_acquire(&ctx->lock);
    if (ctx->err) {
        lrt_lock_release(&ctx->lock);
        return;
    }
    ctx->err = err;
    lrt_ctx **children = ctx->children;
    size_t n = ctx->nchildren, cap = ctx->capacity;
    ctx->children = NULL;
    ctx->nchildren = ctx->capacity = 0;
    lrt_ctx *parent = ctx->parent;
    ctx->parent = NULL;
    lrt_lock_release(&ctx->lock);

    lrt_chan_close(ctx->done);
    for (size_t i = 0; i < n; i++) {
        lrt_lock_acquire(&children[i]->lock);
        children[i]->parent = NULL;      /* we no longer list it */
        lrt_lock_release(&children[i]->lock);
        cancel(children[i], err, false);
    }
    (void)cap;
    lrt_free(children);
    if (ctx->timer && !from_timer)
        lrt_timer_stop(ctx->timer);
    if (parent && parent->kind != CTX_BACKGROUND) {
        lrt_lock_acquire(&parent->lock);
        remove_child(parent, ctx);
        lrt_lock_release(&parent->lock);
    }
}

static lrt_ctx *derive(lrt_ctx *parent, int kind, const char *call)
{
    if (!parent)
        lrt_panic(call, "parent context is NULL");
    lrt_ctx *ctx = lrt_alloc(sizeof *ctx);
    ctx->kind = kind;
    ctx->done = lrt_chan_make(0, 0);
    ctx->parent = parent;
    if (parent->kind == CTX_BACKGROUND)
        return ctx;
    lrt_lock_acquire(&parent->lock);
    int err = parent->err;
    if (!err)
        add_child(parent, ctx);
    lrt_lock_release(&parent->lock);
    if (err) {
        ctx->parent = NULL;
        cancel(ctx, err, false);
    }
    return ctx;
}

lrt_ctx *lrt_ctx_with_cancel(lrt_ctx *parent)
{
    return derive(parent, CTX_CANCEL, "lrt_ctx_with_cancel");
}

lrt_ctx *lrt_ctx_with_timeout(lrt_ctx *parent, int64_t ns)
{
    lrt_ctx *ctx = derive(parent, CTX_TIMEOUT, "lrt_ctx_with_timeout");
    if (ns <= 0) {
        cancel(ctx, LRT_DEADLINE, false);
        return ctx;
    }
    lrt_lock_acquire(&ctx->lock);
    bool live = ctx->err == 0;
    if (live) {
        ctx->timer = lrt_internal_alloc(sizeof *ctx->timer);
        ctx->timer->kind = LRT_TIMER_CTX;
        ctx->timer->target = ctx;
        ctx->timer->heap_index = -1;
    }
    lrt_lock_release(&ctx->lock);
    if (live)
        lrt_timer_arm(ctx->timer, lrt_now() + ns);
    return ctx;
}

void lrt_ctx_timer_fire(lrt_ctx *ctx) { cancel(ctx, LRT_DEADLINE, true); }

void lrt_ctx_cancel(lrt_ctx *ctx)
{
    if (!ctx)
        lrt_panic("lrt_ctx_cancel", "context is NULL");
    if (ctx->kind != CTX_BACKGROUND)
        cancel(ctx, LRT_CANCELED, false);
}

lrt_chan *lrt_ctx_done(lrt_ctx *ctx)
{
    return ctx ? ctx->done : NULL;
}

int lrt_ctx_err(lrt_ctx *ctx)
{
    if (!ctx || ctx->kind == CTX_BACKGROUND)
        return 0;
    lrt_lock_acquire(&ctx->lock);
    int err = ctx->err;
    lrt_lock_release(&ctx->lock);
    return err;
}

void lrt_ctx_free(lrt_ctx *ctx)
{
    if (!ctx || ctx->kind == CTX_BACKGROUND)
        return;
    cancel(ctx, LRT_CANCELED, false);
    if (ctx->timer) {
        lrt_timer_stop(ctx->timer);      /* waits if it is firing now */
        lrt_internal_free(ctx->timer, sizeof *ctx->timer);
    }
    lrt_chan_free(ctx->done);
    lrt_free(ctx);
}

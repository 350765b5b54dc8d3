/*
 * pin.c — lrt_pin and lrt_unpin: objects the program keeps a pointer to
 * where no scan sees it (the kernel, a file, a disguised pointer), made
 * roots for the analysis.
 *
 * The pins are a plain array in internal memory, published in the debug
 * root. A grown array is filled before the root points at it, and the old
 * one is freed only after, so a snapshot that stops the world halfway
 * through a pin sees a whole array either way; the count is raised only
 * once its entry is written.
 */
#include "runtime.h"

#include <string.h>

static struct {
    lrt_lock   lock;
    uintptr_t *addrs;
    size_t     count, capacity;
} pins;

static void publish(void)
{
    lrt_debug_root.pins = (uintptr_t)pins.addrs;
    lrt_debug_root.pin_count = pins.count;
}

void lrt_pin(const void *p)
{
    if (!p)
        return;
    lrt_debug_root_init();
    lrt_lock_acquire(&pins.lock);
    if (pins.count == pins.capacity) {
        size_t cap = pins.capacity ? 2 * pins.capacity : 64;
        uintptr_t *grown = lrt_internal_alloc(cap * sizeof *grown);
        if (pins.count)
            memcpy(grown, pins.addrs, pins.count * sizeof *grown);
        uintptr_t *old = pins.addrs;
        size_t old_cap = pins.capacity;
        pins.addrs = grown;
        pins.capacity = cap;
        publish();
        lrt_internal_free(old, old_cap * sizeof *old);
    }
    pins.addrs[pins.count] = (uintptr_t)p;
    pins.count++;
    publish();
    lrt_lock_release(&pins.lock);
}

void lrt_unpin(const void *p)
{
    if (!p)
        return;
    lrt_lock_acquire(&pins.lock);
    for (size_t i = pins.count; i-- > 0;) {
        if (pins.addrs[i] == (uintptr_t)p) {
            /* The last one takes its place, then the count drops: a
             * snapshot between the two sees the last one twice. */
            pins.addrs[i] = pins.addrs[pins.count - 1];
            pins.count--;
            publish();
            lrt_lock_release(&pins.lock);
            return;
        }
    }
    lrt_lock_release(&pins.lock);
    lrt_panic("lrt_unpin", "%p is not pinned", p);
}

size_t lrt_debug_pin_count(void)
{
    return (size_t)lrt_debug_root.pin_count;
}

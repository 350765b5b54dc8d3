/*
 * labels.c — task labels (lrt_label_set / lrt_label_get), like pprof's
 * goroutine labels.
 *
 * A task's labels are one immutable block in internal memory: a count,
 * (key, value) pointer pairs, then the strings. Setting a label builds a
 * new block and drops the old one; a spawned task shares its parent's
 * block (a reference count, no copy), so spawning stays cheap and a
 * thousand workers started under one label cost one block. Snapshots carry
 * the blocks (internal memory is in every snapshot) and the debug root
 * says how to read them.
 */
#include "runtime.h"

#include <errno.h>
#include <string.h>

#define KEY_MAX    63
#define VALUE_MAX  255
#define LABELS_MAX 16

void lrt_labels_inherit(lrt_task *child, const lrt_task *parent)
{
    lrt_labels *set = parent ? parent->labels : NULL;
    if (set)
        atomic_fetch_add_explicit(&set->refs, 1, memory_order_relaxed);
    child->labels = set;
}

void lrt_labels_release(lrt_task *t)
{
    lrt_labels *set = t->labels;
    t->labels = NULL;
    if (set && atomic_fetch_sub_explicit(&set->refs, 1, memory_order_acq_rel) == 1)
        lrt_internal_free(set, set->size);
}

static lrt_task *labelled_task(const char *call)
{
    lrt_task *t = lrt_task_current();
    if (!t)
        lrt_panic(call, "called outside a task (labels belong to the running task)");
    return t;
}

const char *lrt_label_get(const char *key)
{
    const lrt_task *t = labelled_task("lrt_label_get");
    const lrt_labels *set = t->labels;
    for (uint32_t i = 0; key && set && i < set->count; i++)
        if (strcmp(set->pairs[2 * i], key) == 0)
            return set->pairs[2 * i + 1];
    return NULL;
}

int lrt_label_set(const char *key, const char *value)
{
    lrt_task *t = labelled_task("lrt_label_set");
    size_t key_len = key ? strlen(key) : 0;
    if (key_len == 0 || key_len > KEY_MAX || (value && strlen(value) > VALUE_MAX))
        return -EINVAL;
    const lrt_labels *old = t->labels;
    uint32_t old_count = old ? old->count : 0;
    /* The new block: the old pairs but key, then key = value. */
    uint32_t count = 0;
    size_t strings = 0;
    for (uint32_t i = 0; i < old_count; i++) {
        if (strcmp(old->pairs[2 * i], key) == 0)
            continue;
        count++;
        strings += strlen(old->pairs[2 * i]) + strlen(old->pairs[2 * i + 1]) + 2;
    }
    if (value) {
        count++;
        strings += key_len + strlen(value) + 2;
    }
    if (count > LABELS_MAX)
        return -EINVAL;
    if (count == 0) {
        lrt_labels_release(t);
        return 0;
    }
    size_t size = sizeof(lrt_labels) + 2 * count * sizeof(const char *) + strings;
    lrt_labels *set = lrt_internal_alloc(size);
    set->size = size;
    atomic_store_explicit(&set->refs, 1, memory_order_relaxed);
    char *text = (char *)&set->pairs[2 * count];
    uint32_t n = 0;
#define ADD(k, v) do {                                                     \
        size_t kl_ = strlen(k) + 1, vl_ = strlen(v) + 1;                   \
        set->pairs[2 * n] = memcpy(text, (k), kl_), text += kl_;           \
        set->pairs[2 * n + 1] = memcpy(text, (v), vl_), text += vl_;       \
        n++;                                                               \
    } while (0)
    for (uint32_t i = 0; i < old_count; i++)
        if (strcmp(old->pairs[2 * i], key) != 0)
            ADD(old->pairs[2 * i], old->pairs[2 * i + 1]);
    if (value)
        ADD(key, value);
#undef ADD
    lrt_assert(n == count && text == (char *)set + size);
    set->count = count;
    lrt_labels_release(t);
    t->labels = set;
    return 0;
}

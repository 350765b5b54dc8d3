/*
 * hash.c — the hash index the views look things up in: function names
 * (top), a profile's strings, functions and locations (--pprof), group
 * keys (diff). Every such table is filled from a file, so a linear search
 * per lookup made a small file quadratic: 100,000 distinct functions took
 * `top` 19 s. An ls_index maps a hash to indexes into the caller's own
 * array, which keeps the entries and their order (so output never
 * depends on the table), and asks the caller whether an entry is the one.
 *
 * The names are the file's, so the hash is keyed: SipHash-1-3 under a key
 * drawn once per process, and a file cannot be made of names that all
 * fall into one slot (which would make it quadratic again).
 */
#include "leakscan.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static uint64_t key0, key1;
static bool keyed;

static void make_key(void)
{
    uint64_t k[2];
    if (getrandom(k, sizeof k, GRND_NONBLOCK) != (ssize_t)sizeof k) {
        /* No entropy yet (early boot): still unpredictable enough for a
         * file written before this process started. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        k[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
        k[1] = (uint64_t)ts.tv_sec * 0xc2b2ae3d27d4eb4full ^ (uint64_t)(uintptr_t)&ts;
    }
    key0 = k[0];
    key1 = k[1];
    keyed = true;
}

#define ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                            \
    do {                                                                    \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);           \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                              \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                              \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);           \
    } while (0)

uint64_t ls_hash_bytes(const void *data, size_t n)
{
    if (!keyed)
        make_key();
    const uint8_t *p = data;
    uint64_t v0 = key0 ^ 0x736f6d6570736575ull, v1 = key1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = key0 ^ 0x6c7967656e657261ull, v3 = key1 ^ 0x7465646279746573ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t m;
        memcpy(&m, p + i, 8);
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t last = (uint64_t)n << 56;
    for (size_t k = 0; i + k < n; k++)
        last |= (uint64_t)p[i + k] << (8 * k);
    v3 ^= last;
    SIPROUND;
    v0 ^= last;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t ls_hash_string(const char *s)
{
    return ls_hash_bytes(s, strlen(s));
}

size_t ls_index_find(const ls_index *t, uint64_t hash, bool (*same)(const void *ctx, size_t index),
                     const void *ctx)
{
    if (!t->cap)
        return SIZE_MAX;
    for (size_t at = (size_t)hash & (t->cap - 1); t->slots[at].index; at = (at + 1) & (t->cap - 1))
        if (t->slots[at].hash == hash && same(ctx, t->slots[at].index - 1))
            return t->slots[at].index - 1;
    return SIZE_MAX;
}

int ls_index_add(ls_index *t, uint64_t hash, size_t index)
{
    if (2 * (t->n + 1) > t->cap) {             /* at most half full */
        size_t cap = t->cap ? 2 * t->cap : 64;
        ls_index_slot *slots = calloc(cap, sizeof *slots);
        if (!slots)
            return -1;
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->slots[i].index)
                continue;
            size_t at = (size_t)t->slots[i].hash & (cap - 1);
            while (slots[at].index)
                at = (at + 1) & (cap - 1);
            slots[at] = t->slots[i];
        }
        free(t->slots);
        t->slots = slots;
        t->cap = cap;
    }
    size_t at = (size_t)hash & (t->cap - 1);
    while (t->slots[at].index)
        at = (at + 1) & (t->cap - 1);
    t->slots[at] = (ls_index_slot){ hash, index + 1 };
    t->n++;
    return 0;
}

void ls_index_free(ls_index *t)
{
    free(t->slots);
    memset(t, 0, sizeof *t);
}

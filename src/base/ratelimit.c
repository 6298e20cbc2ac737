/*
 * ratelimit.c — see ratelimit.h.
 *
 * A slot holds the key's 64-bit keyed hash, not the key: two keys share a
 * count only if their hashes collide, about once in 2^64 pairs.
 */
#include "base/ratelimit.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/rand.h"

#define S_WAYS 4

_Static_assert(crypto_shorthash_BYTES == sizeof(uint64_t), "SipHash gives 64 bits");

struct S_slot {
    uint64_t tag;       /* the key's hash; 0: empty */
    int64_t started_ms; /* the window's first event */
    int64_t count;      /* events counted in the window */
};

struct ratelimit {
    pthread_mutex_t mutex;
    size_t set_mask; /* sets - 1 */
    int64_t window_ms;
    int64_t max;
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    struct S_slot slots[]; /* (set_mask + 1) * S_WAYS */
};

struct ratelimit *ratelimit_new(size_t slots, int64_t window_ms, int64_t max)
{
    QB_ASSERT(window_ms > 0 && max > 0);
    size_t sets = 1;
    while (sets * S_WAYS < slots && sets < ((size_t)1 << 30))
        sets <<= 1;
    struct ratelimit *limit = calloc(1, sizeof *limit + sets * S_WAYS * sizeof limit->slots[0]);
    if (limit == NULL)
        return NULL;
    if (pthread_mutex_init(&limit->mutex, NULL) != 0) {
        free(limit);
        return NULL;
    }
    limit->set_mask = sets - 1;
    limit->window_ms = window_ms;
    limit->max = max;
    rand_fill(rand_system(), limit->hash_key, sizeof limit->hash_key);
    return limit;
}

void ratelimit_free(struct ratelimit *limit)
{
    if (limit == NULL)
        return;
    pthread_mutex_destroy(&limit->mutex);
    sodium_memzero(limit->hash_key, sizeof limit->hash_key);
    free(limit);
}

static bool S_live(const struct ratelimit *limit, const struct S_slot *slot, int64_t now_ms)
{
    return slot->tag != 0 && now_ms - slot->started_ms < limit->window_ms;
}

/* key's tag: its keyed hash, never 0 (the empty slot's). */
static uint64_t S_tag(const struct ratelimit *limit, const char *key)
{
    uint8_t digest[crypto_shorthash_BYTES];
    crypto_shorthash(digest, (const unsigned char *)key, strlen(key), limit->hash_key);
    uint64_t tag;
    memcpy(&tag, digest, sizeof tag);
    return tag | 1;
}

/* The live slot of tag, or NULL; under the mutex. */
static struct S_slot *S_find(struct ratelimit *limit, uint64_t tag, int64_t now_ms)
{
    struct S_slot *set = &limit->slots[((size_t)(tag >> 32) & limit->set_mask) * S_WAYS];
    for (int i = 0; i < S_WAYS; i++)
        if (set[i].tag == tag && S_live(limit, &set[i], now_ms))
            return &set[i];
    return NULL;
}

bool ratelimit_spent(struct ratelimit *limit, const char *key, int64_t now_ms, int64_t *until_ms)
{
    QB_ASSERT(limit != NULL && key != NULL);
    uint64_t tag = S_tag(limit, key);
    pthread_mutex_lock(&limit->mutex);
    const struct S_slot *slot = S_find(limit, tag, now_ms);
    bool spent = slot != NULL && slot->count >= limit->max;
    if (spent && until_ms != NULL)
        *until_ms = slot->started_ms + limit->window_ms;
    pthread_mutex_unlock(&limit->mutex);
    return spent;
}

bool ratelimit_take(struct ratelimit *limit, const char *key, int64_t now_ms, int64_t *until_ms)
{
    QB_ASSERT(limit != NULL && key != NULL);
    uint64_t tag = S_tag(limit, key);

    pthread_mutex_lock(&limit->mutex);
    struct S_slot *set = &limit->slots[((size_t)(tag >> 32) & limit->set_mask) * S_WAYS];
    struct S_slot *slot = S_find(limit, tag, now_ms);
    if (slot == NULL) {
        /* A slot whose window ended, or else the window that began first. */
        slot = &set[0];
        for (int i = 0; i < S_WAYS && S_live(limit, slot, now_ms); i++)
            if (!S_live(limit, &set[i], now_ms) || set[i].started_ms < slot->started_ms)
                slot = &set[i];
        *slot = (struct S_slot){tag, now_ms, 0};
    }
    bool allowed = slot->count < limit->max;
    if (allowed)
        slot->count++;
    if (until_ms != NULL)
        *until_ms = slot->started_ms + limit->window_ms;
    pthread_mutex_unlock(&limit->mutex);
    return allowed;
}

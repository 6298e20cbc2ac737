/*
 * nonce.c — the nonces of accepted /v3 requests (merchant.h has the rule).
 *
 * A request passes the timestamp check while its timestamp is within
 * MERCHANT_CLOCK_SKEW_MS of now, so a nonce must be remembered until its
 * timestamp is that far in the past: at most 2 * MERCHANT_CLOCK_SKEW_MS after
 * it was first seen. Two generations do it without per-entry expiry: a
 * nonce goes into the current table; a lookup checks both; when the current
 * table has lived S_SPAN_MS it becomes the previous one and the old previous
 * one is dropped whole. An entry therefore lives between S_SPAN_MS and
 * 2 * S_SPAN_MS, never less than the window.
 *
 * Each table is open addressing over 16-byte keys (the first half of
 * SHA-256(mchid || 0x00 || nonce), never all zero), with linear probing and
 * no deletion. A table stops taking entries at 3/4 load: the claim answers
 * QB_E_BUSY, so that a flood can slow merchants down but never make a
 * replay pass.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/bigmem.h"
#include "merchant/merchant.h"

#define S_SPAN_MS (2 * MERCHANT_CLOCK_SKEW_MS)
#define S_KEY_SIZE 16

struct S_table {
    uint8_t (*slots)[S_KEY_SIZE];
    size_t count;
    int64_t started_ms;
};

struct merchant_nonces {
    pthread_mutex_t lock;
    size_t capacity;
    struct S_table current;
    struct S_table previous;
};

static bool S_table_init(struct S_table *t, size_t capacity, int64_t now_ms)
{
    t->slots = bigmem_alloc(capacity, S_KEY_SIZE);
    t->count = 0;
    t->started_ms = now_ms;
    return t->slots != NULL;
}

struct merchant_nonces *merchant_nonces_new(size_t capacity)
{
    if (capacity < 16 || (capacity & (capacity - 1)) != 0)
        return NULL;
    struct merchant_nonces *n = calloc(1, sizeof *n);
    if (n == NULL)
        return NULL;
    n->capacity = capacity;
    if (!S_table_init(&n->current, capacity, 0) || !S_table_init(&n->previous, capacity, 0)) {
        bigmem_free(n->current.slots, capacity, S_KEY_SIZE);
        bigmem_free(n->previous.slots, capacity, S_KEY_SIZE);
        free(n);
        return NULL;
    }
    pthread_mutex_init(&n->lock, NULL);
    return n;
}

void merchant_nonces_free(struct merchant_nonces *nonces)
{
    if (nonces == NULL)
        return;
    pthread_mutex_destroy(&nonces->lock);
    bigmem_free(nonces->current.slots, nonces->capacity, S_KEY_SIZE);
    bigmem_free(nonces->previous.slots, nonces->capacity, S_KEY_SIZE);
    free(nonces);
}

/* The slot of key in t: the one holding it, or the empty one where it
 * would go. */
static size_t S_find(const struct S_table *t, size_t capacity, const uint8_t key[S_KEY_SIZE])
{
    static const uint8_t empty[S_KEY_SIZE];
    uint64_t h;
    memcpy(&h, key, sizeof h);
    size_t mask = capacity - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        if (memcmp(t->slots[i], key, S_KEY_SIZE) == 0 || memcmp(t->slots[i], empty, S_KEY_SIZE) == 0)
            return i;
    }
}

static bool S_has(const struct S_table *t, size_t capacity, const uint8_t key[S_KEY_SIZE])
{
    return memcmp(t->slots[S_find(t, capacity, key)], key, S_KEY_SIZE) == 0;
}

enum qb_error merchant_nonces_claim(struct merchant_nonces *nonces, const char *mchid,
                                    const char *nonce, int64_t now_ms)
{
    QB_ASSERT(nonces != NULL && mchid != NULL && nonce != NULL);
    struct crypto_sha256_state st;
    uint8_t digest[CRYPTO_SHA256_SIZE];
    crypto_sha256_begin(&st);
    crypto_sha256_update(&st, mchid, strlen(mchid) + 1);
    crypto_sha256_update(&st, nonce, strlen(nonce));
    crypto_sha256_end(&st, digest);
    uint8_t key[S_KEY_SIZE];
    memcpy(key, digest, S_KEY_SIZE);
    key[S_KEY_SIZE - 1] |= 1; /* never the empty key */

    pthread_mutex_lock(&nonces->lock);
    if (now_ms - nonces->current.started_ms >= S_SPAN_MS) {
        /* Rotate: the previous generation is older than the window. */
        struct S_table dropped = nonces->previous;
        nonces->previous = nonces->current;
        bigmem_zero(dropped.slots, nonces->capacity, S_KEY_SIZE);
        dropped.count = 0;
        dropped.started_ms = now_ms;
        nonces->current = dropped;
    }
    enum qb_error err = QB_OK;
    if (S_has(&nonces->previous, nonces->capacity, key) ||
        S_has(&nonces->current, nonces->capacity, key)) {
        err = QB_E_CONFLICT;
    } else if (nonces->current.count >= nonces->capacity / 4 * 3) {
        err = QB_E_BUSY;
    } else {
        size_t at = S_find(&nonces->current, nonces->capacity, key);
        memcpy(nonces->current.slots[at], key, S_KEY_SIZE);
        nonces->current.count++;
    }
    pthread_mutex_unlock(&nonces->lock);
    return err;
}

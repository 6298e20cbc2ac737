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
 *
 * The room is shared fairly: a merchant may hold no more of the current
 * table than is still free (QB_E_FREQUENCY_LIMITED past that). One
 * merchant's flood, a retry loop gone wrong, stops at half the room and
 * leaves the other half to everyone else; k merchants flooding together
 * leave 1/(k+1) of it. What a merchant holds is counted as a count-min
 * sketch (two rows of counters, each merchant's two chosen by SipHash under
 * a random key, its count the smaller): a count is never under the truth,
 * and is over it only for a merchant both of whose counters another
 * merchant shares.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "base/bigmem.h"
#include "base/rand.h"
#include "merchant/merchant.h"

#define S_SPAN_MS (2 * MERCHANT_CLOCK_SKEW_MS)
#define S_KEY_SIZE 16
#define S_SHARE_COLUMNS 4096 /* counters in each of the sketch's two rows */

_Static_assert(crypto_shorthash_BYTES == sizeof(uint64_t), "SipHash gives 64 bits");

struct S_table {
    uint8_t (*slots)[S_KEY_SIZE];
    size_t count;
    int64_t started_ms;
    uint32_t held[2][S_SHARE_COLUMNS]; /* the merchants' entries, a count-min sketch */
};

struct merchant_nonces {
    pthread_mutex_t lock;
    size_t capacity;
    uint8_t share_key[crypto_shorthash_KEYBYTES];
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
    rand_fill(rand_system(), n->share_key, sizeof n->share_key);
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
    uint8_t share_digest[crypto_shorthash_BYTES];
    crypto_shorthash(share_digest, (const unsigned char *)mchid, strlen(mchid), nonces->share_key);
    uint64_t share;
    memcpy(&share, share_digest, sizeof share);
    size_t column[2] = {(size_t)(share % S_SHARE_COLUMNS),
                        (size_t)((share >> 32) % S_SHARE_COLUMNS)};

    pthread_mutex_lock(&nonces->lock);
    if (now_ms - nonces->current.started_ms >= S_SPAN_MS) {
        /* Rotate: the previous generation is older than the window. */
        struct S_table dropped = nonces->previous;
        nonces->previous = nonces->current;
        bigmem_zero(dropped.slots, nonces->capacity, S_KEY_SIZE);
        dropped.count = 0;
        dropped.started_ms = now_ms;
        memset(dropped.held, 0, sizeof dropped.held);
        nonces->current = dropped;
    }
    struct S_table *cur = &nonces->current;
    size_t room = nonces->capacity / 4 * 3;
    uint32_t held = cur->held[0][column[0]] < cur->held[1][column[1]] ? cur->held[0][column[0]]
                                                                      : cur->held[1][column[1]];
    enum qb_error err = QB_OK;
    if (S_has(&nonces->previous, nonces->capacity, key) || S_has(cur, nonces->capacity, key)) {
        err = QB_E_CONFLICT;
    } else if (cur->count >= room) {
        err = QB_E_BUSY;
    } else if (held >= room - cur->count) {
        err = QB_E_FREQUENCY_LIMITED;
    } else {
        size_t at = S_find(cur, nonces->capacity, key);
        memcpy(cur->slots[at], key, S_KEY_SIZE);
        cur->count++;
        cur->held[0][column[0]]++;
        cur->held[1][column[1]]++;
    }
    pthread_mutex_unlock(&nonces->lock);
    return err;
}

/*
 * idem.c — the writer's index of idempotency records.
 *
 * Every money-moving request carries a key chosen by its client, so keys
 * arrive in no order. Kept in a B-tree keyed by (principal, key), each new
 * record dirtied a random leaf page, and split one every few inserts: under
 * the HTTP transfer benchmark more than half of the pages a commit wrote
 * were the idempotency table's (docs/performance.md). Records are now
 * appended to idempotency_records in the order they are made (seq, the
 * rowid), which costs a commit a page per few dozen records, and this index
 * finds them: a key's 64-bit fingerprint -> the seq of its record.
 *
 * Open addressing with linear probing; a slot is the fingerprint and the
 * seq (0: empty). The caller compares each candidate record's stored
 * principal and key, so two keys with one fingerprint stay two records.
 * 16 bytes a slot, at most 70 % full: 23 to 46 bytes a record, about
 * 350 MB for ten million records.
 *
 * The index is rebuilt at start (and after a failed commit) from the
 * (seq, fingerprint) pairs, read through a covering index so that a restart
 * does not read the records' answers.
 */
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/crypto.h"
#include "ledger/ledger_int.h"

#define IDEM_CAPACITY_MIN ((size_t)1 << 14)

int64_t ledger_idem_fingerprint(const char *principal, const char *key)
{
    QB_ASSERT(principal != NULL && key != NULL);
    struct crypto_sha256_state state;
    uint8_t digest[CRYPTO_SHA256_SIZE];
    crypto_sha256_begin(&state);
    crypto_sha256_update(&state, principal, strlen(principal) + 1); /* with its NUL */
    crypto_sha256_update(&state, key, strlen(key));
    crypto_sha256_end(&state, digest);
    uint64_t fp = 0;
    for (int i = 0; i < 8; i++)
        fp = fp << 8 | digest[i];
    return (int64_t)fp;
}

static size_t idem_home(const struct ledger_idem_index *ix, int64_t fingerprint)
{
    uint64_t h = (uint64_t)fingerprint * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 20) & (ix->capacity - 1);
}

void ledger_idem_index_put(struct ledger_idem_index *ix, int64_t fingerprint, int64_t seq)
{
    QB_ASSERT(seq > 0);
    if ((ix->count + 1) * 10 > ix->capacity * 7) {
        struct ledger_idem_index bigger = {
            .capacity = ix->capacity ? ix->capacity * 2 : IDEM_CAPACITY_MIN};
        bigger.slots = calloc(bigger.capacity, sizeof *bigger.slots);
        QB_ASSERT(bigger.slots != NULL);
        for (size_t i = 0; i < ix->capacity; i++)
            if (ix->slots[i].seq != 0)
                ledger_idem_index_put(&bigger, ix->slots[i].fingerprint, ix->slots[i].seq);
        free(ix->slots);
        *ix = bigger;
    }
    size_t i = idem_home(ix, fingerprint);
    while (ix->slots[i].seq != 0)
        i = (i + 1) & (ix->capacity - 1);
    ix->slots[i].fingerprint = fingerprint;
    ix->slots[i].seq = seq;
    ix->count++;
}

int64_t ledger_idem_index_next(const struct ledger_idem_index *ix, int64_t fingerprint,
                               size_t *cursor)
{
    if (ix->capacity == 0)
        return 0;
    /* *cursor is 0, or one past the slot answered last. */
    size_t i = *cursor == 0 ? idem_home(ix, fingerprint) : *cursor & (ix->capacity - 1);
    for (; ix->slots[i].seq != 0; i = (i + 1) & (ix->capacity - 1)) {
        if (ix->slots[i].fingerprint == fingerprint) {
            *cursor = i + 1;
            return ix->slots[i].seq;
        }
    }
    return 0;
}

void ledger_idem_index_clear(struct ledger_idem_index *ix)
{
    free(ix->slots);
    *ix = (struct ledger_idem_index){0};
}

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
 * Growth is incremental, as in redis's dict: past 70 % the index allocates
 * a new table (twice the size while nothing expires), puts go there, and
 * each put moves
 * IDEM_MOVE_SLOTS slots of the old table over, in slot order, until none
 * is left; a lookup probes the new table and then the old one, skipping
 * the old slots already moved. Old slots are never emptied, so their probe
 * runs stay whole. Moving every record at once stalled the writer for the
 * whole copy: 53 ms at 1.4 million records under the transfer benchmark,
 * and proportionally more on a larger ledger (docs/performance.md). The
 * move finishes long before the new table needs to grow: it holds 35 %
 * when it starts and 35 % + capacity / 2 / IDEM_MOVE_SLOTS when it ends.
 *
 * Records expire (ledger_options.idempotency_retention_ms): the ledger
 * deletes their rows oldest first and raises the index's floor, below which
 * no lookup answers. Their slots stay, so probe runs stay whole, until the
 * index is next rebuilt: when its table is 70 % full, expired slots
 * included (the old table's slots not moved yet are not its), it
 * moves what is still live into a new table sized for it (35 % full, and
 * no smaller than a sixteenth of the table before, so that the move, at
 * most IDEM_MOVE_SLOTS slots of the old table a put, ends before the new
 * table is 60 % full). Without expiry the new table is twice the size; with
 * it, a steady flow of records keeps the index the same size for good.
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
/* Old slots moved by each put while the index grows. */
#define IDEM_MOVE_SLOTS 64

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

static size_t idem_home(size_t capacity, int64_t fingerprint)
{
    uint64_t h = (uint64_t)fingerprint * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 20) & (capacity - 1);
}

static void idem_insert(struct ledger_idem_slot *slots, size_t capacity, int64_t fingerprint,
                        int64_t seq)
{
    size_t i = idem_home(capacity, fingerprint);
    while (slots[i].seq != 0)
        i = (i + 1) & (capacity - 1);
    slots[i].fingerprint = fingerprint;
    slots[i].seq = seq;
}

/* Moves up to count old slots into the new table, leaving expired records
 * behind; frees the old table when every slot has moved. */
static void idem_move(struct ledger_idem_index *ix, size_t count)
{
    for (size_t n = 0; n < count && ix->moved_to < ix->old_capacity; n++, ix->moved_to++) {
        const struct ledger_idem_slot *s = &ix->old_slots[ix->moved_to];
        if (s->seq == 0)
            continue;
        if (s->seq >= ix->floor) {
            idem_insert(ix->slots, ix->capacity, s->fingerprint, s->seq);
            ix->used++;
            continue;
        }
        QB_ASSERT(ix->expired > 0 && ix->count > 0);
        ix->expired--;
        ix->count--;
    }
    if (ix->old_slots != NULL && ix->moved_to == ix->old_capacity) {
        free(ix->old_slots);
        ix->old_slots = NULL;
        ix->old_capacity = ix->moved_to = 0;
    }
}

void ledger_idem_index_put(struct ledger_idem_index *ix, int64_t fingerprint, int64_t seq)
{
    QB_ASSERT(seq >= ix->floor && seq > 0);
    idem_move(ix, IDEM_MOVE_SLOTS);
    /* The new table's own fill: records not moved yet, many of them
     * expired, are not in it (and a rebuild among many expired records
     * makes a table smaller than they are). */
    if ((ix->used + 1) * 10 > ix->capacity * 7) {
        /* Never reached while moving (see the top of this file); if it
         * were, the move finishes first, all at once. */
        idem_move(ix, SIZE_MAX);
        QB_ASSERT(ix->old_slots == NULL);
        const size_t live = ix->count - ix->expired;
        size_t capacity = IDEM_CAPACITY_MIN;
        while (capacity < ix->capacity / 16 || live * 20 > capacity * 7)
            capacity *= 2;
        struct ledger_idem_slot *slots = calloc(capacity, sizeof *slots);
        QB_ASSERT(slots != NULL);
        ix->old_slots = ix->slots;
        ix->old_capacity = ix->capacity;
        ix->moved_to = 0;
        ix->slots = slots;
        ix->capacity = capacity;
        ix->used = 0;
    }
    idem_insert(ix->slots, ix->capacity, fingerprint, seq);
    ix->used++;
    ix->count++;
}

/* *cursor is 0 to begin; 1 + i after slot i of the new table (at most
 * capacity); capacity + 1 + k with k the next slot of the old table to
 * look at (the index does not change between calls). */
int64_t ledger_idem_index_next(const struct ledger_idem_index *ix, int64_t fingerprint,
                               size_t *cursor)
{
    if (ix->capacity == 0)
        return 0;
    if (*cursor <= ix->capacity) {
        size_t i = *cursor == 0 ? idem_home(ix->capacity, fingerprint)
                                : *cursor & (ix->capacity - 1);
        for (; ix->slots[i].seq != 0; i = (i + 1) & (ix->capacity - 1)) {
            if (ix->slots[i].fingerprint == fingerprint && ix->slots[i].seq >= ix->floor) {
                *cursor = i + 1;
                return ix->slots[i].seq;
            }
        }
        if (ix->old_slots == NULL)
            return 0;
        *cursor = ix->capacity + 1 + idem_home(ix->old_capacity, fingerprint);
    }
    const size_t mask = ix->old_capacity - 1;
    for (size_t j = (*cursor - ix->capacity - 1) & mask; ix->old_slots[j].seq != 0;
         j = (j + 1) & mask) {
        if (j >= ix->moved_to && ix->old_slots[j].fingerprint == fingerprint &&
            ix->old_slots[j].seq >= ix->floor) {
            *cursor = ix->capacity + 1 + (j + 1);
            return ix->old_slots[j].seq;
        }
    }
    return 0;
}

void ledger_idem_index_expire(struct ledger_idem_index *ix, int64_t floor, size_t records)
{
    QB_ASSERT(floor >= ix->floor);
    QB_ASSERT(records <= ix->count - ix->expired);
    ix->floor = floor;
    ix->expired += records;
}

void ledger_idem_index_clear(struct ledger_idem_index *ix)
{
    free(ix->slots);
    free(ix->old_slots);
    *ix = (struct ledger_idem_index){0};
}

/*
 * test_idem.c — the writer's index of idempotency records (src/ledger/idem.c):
 * every record put is found again by its fingerprint, through growth and
 * through fingerprints shared by several records, and nothing else is.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger_int.h"
#include "test.h"

/* Every seq the index answers for fingerprint, into out. */
static size_t seqs_of(const struct ledger_idem_index *ix, int64_t fingerprint, int64_t *out,
                      size_t out_max)
{
    size_t n = 0, cursor = 0;
    for (int64_t seq; (seq = ledger_idem_index_next(ix, fingerprint, &cursor)) != 0;) {
        ASSERT(n < out_max);
        out[n++] = seq;
    }
    return n;
}

TEST(every_record_found_through_growth)
{
    // 200,000 records make the index grow from its smallest size many times; each must still be
    // found by its own fingerprint, with exactly its own seq.
    struct ledger_idem_index ix = {0};
    const int64_t count = 200000;
    for (int64_t seq = 1; seq <= count; seq++) {
        char key[32];
        snprintf(key, sizeof key, "key-%lld", (long long)seq);
        ledger_idem_index_put(&ix, ledger_idem_fingerprint("user:u_a", key), seq);
    }
    ASSERT_EQ_INT((int64_t)ix.count, count);
    ASSERT(ix.count * 10 <= ix.capacity * 7);
    for (int64_t seq = 1; seq <= count; seq++) {
        char key[32];
        snprintf(key, sizeof key, "key-%lld", (long long)seq);
        int64_t found[4];
        ASSERT_EQ_INT((int64_t)seqs_of(&ix, ledger_idem_fingerprint("user:u_a", key), found, 4), 1);
        ASSERT_EQ_INT(found[0], seq);
    }
    /* Keys never put, and the same key under another principal, are not found. */
    int64_t found[4];
    ASSERT_EQ_INT((int64_t)seqs_of(&ix, ledger_idem_fingerprint("user:u_a", "key-0"), found, 4), 0);
    ASSERT_EQ_INT((int64_t)seqs_of(&ix, ledger_idem_fingerprint("user:u_b", "key-1"), found, 4), 0);
    ledger_idem_index_clear(&ix);
    ASSERT_EQ_INT((int64_t)seqs_of(&ix, ledger_idem_fingerprint("user:u_a", "key-1"), found, 4), 0);
}

static int64_t key_fingerprint(int64_t seq)
{
    char key[32];
    snprintf(key, sizeof key, "key-%lld", (long long)seq);
    return ledger_idem_fingerprint("user:u_a", key);
}

TEST(growth_moves_a_few_records_a_put_and_loses_none_meanwhile)
{
    // Moving every record at the growth that crosses 70 % stalled the writer for the whole copy.
    // Each put must move a bounded number of old slots, and while both tables are in use every
    // record must still be found exactly once (neither missed in the old table nor answered from
    // both).
    struct ledger_idem_index ix = {0};
    int64_t seq = 0;
    while (ix.old_slots == NULL || ix.capacity < ((size_t)1 << 16)) {
        seq++;
        ledger_idem_index_put(&ix, key_fingerprint(seq), seq);
    }
    ASSERT(ix.old_slots != NULL && ix.old_capacity * 2 == ix.capacity);
    int checks = 0;
    while (ix.old_slots != NULL) {
        size_t before = ix.moved_to;
        seq++;
        ledger_idem_index_put(&ix, key_fingerprint(seq), seq);
        if (ix.old_slots != NULL)
            ASSERT(ix.moved_to - before <= 64);
        if (seq % 97 == 0) {
            for (int64_t s = 1; s <= seq; s++) {
                int64_t found[4];
                ASSERT_EQ_INT((int64_t)seqs_of(&ix, key_fingerprint(s), found, 4), 1);
                ASSERT_EQ_INT(found[0], s);
            }
            checks++;
        }
    }
    ASSERT(checks >= 5); /* the move took several hundred puts, checked along the way */
    ASSERT_EQ_INT((int64_t)ix.count, seq);
    for (int64_t s = 1; s <= seq; s++) {
        int64_t found[4];
        ASSERT_EQ_INT((int64_t)seqs_of(&ix, key_fingerprint(s), found, 4), 1);
    }
    ledger_idem_index_clear(&ix);
}

TEST(shared_fingerprints_answer_every_record)
{
    // Two keys may share a fingerprint (64 bits of SHA-256): the index must answer every record
    // with it, so that the ledger compares the stored keys, and none of another fingerprint, even
    // when their probe runs interleave.
    struct ledger_idem_index ix = {0};
    const int64_t shared = INT64_C(0x0123456789abcdef);
    int64_t seq = 1;
    for (int round = 0; round < 5; round++) {
        ledger_idem_index_put(&ix, shared, seq++);
        for (int i = 0; i < 3000; i++)
            ledger_idem_index_put(&ix, shared + 1 + i, seq++);
    }
    int64_t found[8];
    size_t n = seqs_of(&ix, shared, found, 8);
    ASSERT_EQ_INT((int64_t)n, 5);
    for (size_t i = 0; i < n; i++) {
        ASSERT((found[i] - 1) % 3001 == 0);
        for (size_t j = 0; j < i; j++)
            ASSERT(found[i] != found[j]);
    }
    ASSERT_EQ_INT((int64_t)seqs_of(&ix, shared + 1, found, 8), 5);
    ASSERT_EQ_INT((int64_t)seqs_of(&ix, shared - 1, found, 8), 0);
    ledger_idem_index_clear(&ix);
}

/* Whether seq is answered for its own key, and only it. */
static bool found_alone(const struct ledger_idem_index *ix, int64_t seq)
{
    int64_t found[4];
    size_t n = seqs_of(ix, key_fingerprint(seq), found, 4);
    ASSERT(n <= 1);
    return n == 1 && found[0] == seq;
}

TEST(expired_records_are_forgotten_and_the_index_stops_growing)
{
    // Records below the floor must never be answered (their rows are gone), every record above
    // it must be, and a steady flow of records that expire as new ones come must keep the index
    // the same size instead of doubling it for good: the rebuild leaves expired slots behind.
    struct ledger_idem_index ix = {0};
    const int64_t live_max = 30000;
    int64_t seq = 0;
    while (seq < 50000) {
        seq++;
        ledger_idem_index_put(&ix, key_fingerprint(seq), seq);
    }
    ledger_idem_index_expire(&ix, 20001, 20000);
    for (int64_t s = 1; s <= seq; s++)
        ASSERT(found_alone(&ix, s) == (s >= 20001));

    size_t capacity_max = 0;
    int rebuilds = 0;
    while (seq < 1500000) {
        seq++;
        bool was_moving = ix.old_slots != NULL;
        ledger_idem_index_put(&ix, key_fingerprint(seq), seq);
        if (!was_moving && ix.old_slots != NULL)
            rebuilds++;
        if (seq % 1000 == 0)
            ledger_idem_index_expire(&ix, seq - live_max + 1, 1000);
        if (ix.capacity > capacity_max)
            capacity_max = ix.capacity;
        if (seq % 100003 == 0) {
            /* Mid-flow, maybe mid-move: the last few thousand expired and
             * the live ones around the floor. */
            for (int64_t s = seq - live_max - 3000; s <= seq; s++)
                ASSERT(found_alone(&ix, s) == (s >= ix.floor));
        }
    }
    /* 30,000 live records fit 35 % of 2^17 slots; with the expired ones
     * they reach 70 % of it, and the index is rebuilt at that size. */
    ASSERT(capacity_max <= ((size_t)1 << 17));
    ASSERT(rebuilds >= 10);
    ASSERT(ix.count - ix.expired <= (size_t)live_max);
    for (int64_t s = seq - live_max - 3000; s <= seq; s++)
        ASSERT(found_alone(&ix, s) == (s >= ix.floor));

    /* When the index is nearly full of expired records, the next rebuild
     * shrinks it, by at most 16 times a step. */
    do {
        seq++;
        ledger_idem_index_put(&ix, key_fingerprint(seq), seq);
    } while (ix.old_slots != NULL || (ix.count + 2) * 10 <= ix.capacity * 7);
    ledger_idem_index_expire(&ix, seq + 1, (size_t)(ix.count - ix.expired));
    size_t before = ix.capacity;
    while (ix.capacity == before || ix.old_slots != NULL) {
        seq++;
        ledger_idem_index_put(&ix, key_fingerprint(seq), seq);
        ASSERT(found_alone(&ix, seq));
    }
    ASSERT(ix.capacity < before && ix.capacity >= before / 16);
    ASSERT(!found_alone(&ix, seq - 1 - (int64_t)ix.count));
    ledger_idem_index_clear(&ix);
}

TEST(a_rebuild_among_expired_records_still_moves_a_few_slots_a_put)
{
    // A steady flow whose records expire as new ones come: each rebuild makes a table sized for
    // the live records, no larger than the one before, while the records not moved yet
    // (expired ones among them) are many. Those must not count towards the new table's fill,
    // or the very next put would move the whole old table at once (the stall the gradual move
    // is for) and rebuild again. Every put moves at most 64 old slots, an old table ends only
    // once moved through, and every live record is found throughout.
    struct ledger_idem_index ix = {0};
    /* A burst grows the table to 2^18 slots; then records expire a week on, at a rate that
     * keeps far fewer live: the rebuilds shrink it. */
    int64_t seq = 0;
    while (seq < 180000) {
        seq++;
        ledger_idem_index_put(&ix, key_fingerprint(seq), seq);
    }
    ASSERT_EQ_INT(ix.capacity, (size_t)1 << 18);
    const int64_t live_max = 25000;
    ledger_idem_index_expire(&ix, seq - live_max + 1, (size_t)(seq - live_max));
    int rebuilds = 0;
    while (seq < 400000) {
        const struct ledger_idem_slot *old = ix.old_slots;
        size_t old_capacity = ix.old_capacity, moved_to = ix.moved_to;
        seq++;
        ledger_idem_index_put(&ix, key_fingerprint(seq), seq);
        if (old == NULL && ix.old_slots != NULL)
            rebuilds++;
        if (old != NULL && ix.old_slots == old && ix.moved_to - moved_to > 64)
            TEST_FAIL_("put %lld moved %zu old slots", (long long)seq, ix.moved_to - moved_to);
        if (old != NULL && ix.old_slots != old && moved_to + 64 < old_capacity)
            TEST_FAIL_("put %lld ended an old table at slot %zu of %zu: moved all at once",
                       (long long)seq, moved_to, old_capacity);
        if (seq % 1000 == 0)
            ledger_idem_index_expire(&ix, seq - live_max + 1, 1000);
    }
    ASSERT(rebuilds >= 2);
    ASSERT(ix.capacity < ((size_t)1 << 18));
    for (int64_t s = seq - live_max + 1; s <= seq; s++)
        ASSERT(found_alone(&ix, s));
    ASSERT(!found_alone(&ix, seq - live_max));
    ledger_idem_index_clear(&ix);
}

TEST(fingerprint_is_the_documented_one)
{
    // The fingerprint is stored: it must stay the first 8 bytes of SHA-256(principal NUL key),
    // big-endian, or a restart would not find older records. The value below was computed with
    // Python's hashlib: hashlib.sha256(b"a\x00b").hexdigest()[:16].
    ASSERT_EQ_INT(ledger_idem_fingerprint("a", "b"), (int64_t)UINT64_C(0x59b271ae1bbcb1d3));
    ASSERT(ledger_idem_fingerprint("a", "b") != ledger_idem_fingerprint("ab", ""));
}

int main(void)
{
    RUN(every_record_found_through_growth);
    RUN(growth_moves_a_few_records_a_put_and_loses_none_meanwhile);
    RUN(shared_fingerprints_answer_every_record);
    RUN(expired_records_are_forgotten_and_the_index_stops_growing);
    RUN(a_rebuild_among_expired_records_still_moves_a_few_slots_a_put);
    RUN(fingerprint_is_the_documented_one);
    return test_summary();
}

/*
 * test_idem.c — the writer's index of idempotency records (src/ledger/idem.c):
 * every record put is found again by its fingerprint, through growth and
 * through fingerprints shared by several records, and nothing else is.
 */
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
    RUN(fingerprint_is_the_documented_one);
    return test_summary();
}

/*
 * test_redpacket_fair.c — the provably fair split (src/wallet/redpacket_fair.h)
 * on its own: the published test vector, the split's properties over many
 * packets, the equal expectation of every position, and a verifier that
 * catches a tampered share or seed, and sums or a status that disagree
 * with the claims.
 *
 * Pure functions: no ledger, no clock. Seeds come from SHA-256 of a
 * counter, so every run checks the same packets.
 */
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "base/rand.h"
#include "test.h"
#include "wallet/redpacket_fair.h"

/* The vector of docs/redpacket.md ("A worked example"). */
#define S_VECTOR_ID "rp_0123456789abcdefghjkmnpqrs"
#define S_VECTOR_COMMITMENT "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd"

static void S_vector_seed(uint8_t seed[REDPACKET_SEED_SIZE])
{
    for (int i = 0; i < REDPACKET_SEED_SIZE; i++)
        seed[i] = (uint8_t)i;
}

/* The k-th seed of a test: SHA-256 of k's eight bytes. */
static void S_seed(uint64_t k, uint8_t seed[REDPACKET_SEED_SIZE])
{
    uint8_t bytes[8];
    for (int i = 0; i < 8; i++)
        bytes[i] = (uint8_t)(k >> (8 * i));
    crypto_sha256(bytes, sizeof bytes, seed);
}

TEST(the_published_vector_is_what_the_code_derives)
{
    // docs/redpacket.md promises these numbers to anyone re-implementing the verifier (they
    // were also computed by an independent implementation written from the text alone); the
    // code must derive exactly them.
    uint8_t seed[REDPACKET_SEED_SIZE];
    S_vector_seed(seed);
    uint8_t commitment[CRYPTO_SHA256_SIZE];
    redpacket_fair_commitment(seed, commitment);
    char hex[2 * CRYPTO_SHA256_SIZE + 1];
    crypto_hex(commitment, sizeof commitment, hex);
    ASSERT_EQ_STR(hex, S_VECTOR_COMMITMENT);

    int64_t shares[10];
    ASSERT(redpacket_fair_split(seed, S_VECTOR_ID, 1000, 5, shares));
    const int64_t want5[] = {149, 376, 120, 296, 59};
    for (int i = 0; i < 5; i++)
        ASSERT_EQ_INT(shares[i], want5[i]);
    ASSERT(redpacket_fair_split(seed, S_VECTOR_ID, 20000, 10, shares));
    const int64_t want10[] = {3749, 173, 2653, 532, 707, 1961, 2730, 2793, 4178, 524};
    for (int i = 0; i < 10; i++)
        ASSERT_EQ_INT(shares[i], want10[i]);
    /* One fen a share leaves no choice at all. */
    ASSERT(redpacket_fair_split(seed, S_VECTOR_ID, 3, 3, shares));
    ASSERT(shares[0] == 1 && shares[1] == 1 && shares[2] == 1);
}

TEST(the_bound_is_the_double_mean_and_leaves_a_fen_for_each_later_share)
{
    // The upper bound min(floor(2R/N), R-(N-1)), with its integer edges: floored, never so
    // large that a later share could get nothing, and the whole rest for the last share.
    ASSERT_EQ_INT(redpacket_fair_share_max(1000, 10), 200);
    ASSERT_EQ_INT(redpacket_fair_share_max(1001, 10), 200); /* 200.2 floored */
    ASSERT_EQ_INT(redpacket_fair_share_max(1009, 10), 201); /* 201.8 floored */
    ASSERT_EQ_INT(redpacket_fair_share_max(10, 10), 1);     /* 2 by the mean, but 9 must stay */
    ASSERT_EQ_INT(redpacket_fair_share_max(11, 10), 2);
    ASSERT_EQ_INT(redpacket_fair_share_max(3, 2), 2);       /* floor(3) vs 3-1 */
    ASSERT_EQ_INT(redpacket_fair_share_max(2, 2), 1);
    ASSERT_EQ_INT(redpacket_fair_share_max(777, 1), 777);
    /* Large remainders: 2R would overflow, the formula must not. */
    int64_t big = INT64_MAX - 1;
    ASSERT_EQ_INT(redpacket_fair_share_max(big, 2), big - 1);
    ASSERT_EQ_INT(redpacket_fair_share_max(big, 3), 2 * (big / 3) + (2 * (big % 3)) / 3);
}

TEST(every_split_sums_exactly_and_keeps_each_share_in_its_range)
{
    // Over thousands of packets of every count and awkward totals: the shares add up to the
    // total to the fen, each is at least 1 fen, each is within the bound of the state it was
    // drawn in, and the derivation is deterministic.
    int64_t shares[REDPACKET_COUNT_MAX], again[REDPACKET_COUNT_MAX];
    char id[REDPACKET_ID_SIZE_MAX];
    struct qb_rand rand;
    rand_seeded_init(&rand, 20261129);
    for (uint64_t k = 0; k < 3000; k++) {
        uint8_t seed[REDPACKET_SEED_SIZE];
        S_seed(k, seed);
        id_new(&rand, "rp", id, sizeof id);
        int64_t count = 1 + (int64_t)(k % REDPACKET_COUNT_MAX);
        int64_t total = k % 3 == 0   ? count                       /* one fen each */
                        : k % 3 == 1 ? count + (int64_t)(k % 7)    /* barely more */
                                     : 20000 - (int64_t)(k % 101); /* near the cap */
        ASSERT(redpacket_fair_split(seed, id, total, count, shares));
        int64_t remaining = total;
        for (int64_t i = 0; i < count; i++) {
            int64_t max = redpacket_fair_share_max(remaining, count - i);
            if (shares[i] < 1 || shares[i] > max)
                TEST_FAIL_("packet %llu share %lld: %lld outside [1, %lld]", (unsigned long long)k,
                           (long long)i, (long long)shares[i], (long long)max);
            remaining -= shares[i];
        }
        ASSERT_EQ_INT(remaining, 0);
        ASSERT(redpacket_fair_split(seed, id, total, count, again));
        ASSERT(memcmp(shares, again, (size_t)count * sizeof shares[0]) == 0);
    }
    /* Not packets: no split. */
    uint8_t seed[REDPACKET_SEED_SIZE];
    S_vector_seed(seed);
    ASSERT(!redpacket_fair_split(seed, S_VECTOR_ID, 9, 10, shares));
    ASSERT(!redpacket_fair_split(seed, S_VECTOR_ID, 100, 0, shares));
    ASSERT(!redpacket_fair_split(seed, S_VECTOR_ID, 1000, REDPACKET_COUNT_MAX + 1, shares));
}

/* Per-position mean and standard deviation of the shares of n packets of
 * (total, count), split by `split` (the real one or a deliberately broken
 * one for the control). */
typedef void (*S_split_fn)(const uint8_t *seed, int64_t total, int64_t count, int64_t *shares);

static void S_split_real(const uint8_t *seed, int64_t total, int64_t count, int64_t *shares)
{
    QB_ASSERT(redpacket_fair_split(seed, S_VECTOR_ID, total, count, shares));
}

/* The naive split the double-mean rule exists to avoid: each share uniform
 * over everything that may be taken, so early claimers take far more. */
static void S_split_naive(const uint8_t *seed, int64_t total, int64_t count, int64_t *shares)
{
    struct qb_rand rand;
    uint64_t k = 0;
    for (int i = 0; i < 8; i++)
        k = k << 8 | seed[i];
    rand_seeded_init(&rand, k);
    int64_t remaining = total;
    for (int64_t i = 0; i < count; i++) {
        int64_t max = remaining - (count - i - 1);
        shares[i] = i == count - 1 ? remaining : 1 + (int64_t)rand_below(&rand, (uint64_t)max);
        remaining -= shares[i];
    }
}

/* Square root by Newton's method: the tests link no libm. */
static double S_sqrt(double x)
{
    if (x <= 0)
        return 0;
    double r = x > 1 ? x : 1;
    for (int i = 0; i < 200; i++)
        r = (r + x / r) / 2;
    return r;
}

static double S_abs(double x) { return x < 0 ? -x : x; }

/* The largest |mean - total/count| / tolerance over the positions, where
 * tolerance = 5 standard errors + count/2 fen (see the test). */
static double S_worst_position(S_split_fn split, int64_t total, int64_t count, int n)
{
    double sum[REDPACKET_COUNT_MAX] = {0}, sq[REDPACKET_COUNT_MAX] = {0};
    int64_t shares[REDPACKET_COUNT_MAX];
    for (int k = 0; k < n; k++) {
        uint8_t seed[REDPACKET_SEED_SIZE];
        S_seed((uint64_t)k + 1000000, seed);
        split(seed, total, count, shares);
        for (int64_t i = 0; i < count; i++) {
            sum[i] += (double)shares[i];
            sq[i] += (double)shares[i] * (double)shares[i];
        }
    }
    double expected = (double)total / (double)count;
    double worst = 0;
    for (int64_t i = 0; i < count; i++) {
        double mean = sum[i] / n;
        double sd = S_sqrt(sq[i] / n - mean * mean);
        double tolerance = 5 * sd / S_sqrt((double)n) + (double)count / 2;
        double ratio = S_abs(mean - expected) / tolerance;
        if (ratio > worst)
            worst = ratio;
    }
    return worst;
}

TEST(every_position_expects_the_same_amount)
{
    // The double-mean rule's promise: claiming first or last pays the same on average. Over
    // 20,000 seeded packets the mean of each position must be total/count within a tolerance
    // of 5 standard errors of that position's mean (a correct split fails this with probability
    // below 1e-6 per position, by the normal approximation; the seeds are fixed, so the test
    // cannot flake) plus count/2 fen: the integer rule draws from [1, floor(2R/N)], whose mean
    // (floor(2R/N) + 1) / 2 is up to half a fen above R/N, and the last share pays for the
    // earlier ones' halves. The naive split, run through the same check, must fail it: the
    // test can tell a fair split from an unfair one.
    ASSERT(S_worst_position(S_split_real, 20000, 10, 20000) <= 1.0);
    ASSERT(S_worst_position(S_split_real, 1000, 5, 20000) <= 1.0);
    ASSERT(S_worst_position(S_split_naive, 20000, 10, 2000) > 10.0);
}

TEST(the_verifier_accepts_the_truth_and_names_the_first_lie)
{
    // What `verify` does for a user: with the revealed seed, every published share must be
    // the derived one. One fen moved between two claims, a different seed, a seed that is not
    // the committed one, or more claims than shares must each be caught.
    uint8_t seed[REDPACKET_SEED_SIZE], commitment[CRYPTO_SHA256_SIZE];
    S_vector_seed(seed);
    redpacket_fair_commitment(seed, commitment);
    int64_t amounts[10];
    ASSERT(redpacket_fair_split(seed, S_VECTOR_ID, 20000, 10, amounts));
    struct redpacket_fair_packet p = {
        .id = S_VECTOR_ID,
        .lucky = true,
        .total_minor = 20000,
        .count = 10,
        .seed = seed,
        .commitment = commitment,
        .amounts = amounts,
        .amount_count = 10,
        .status = REDPACKET_FAIR_FINISHED,
    };
    struct redpacket_fair_finding finding = {99, 0, REDPACKET_FAIR_SUMS_OK};
    ASSERT_EQ_INT(redpacket_fair_verify(&p, &finding), REDPACKET_FAIR_MATCH);
    /* An expired packet: fewer claims than shares, still checked one by one. */
    p.amount_count = 4;
    p.status = REDPACKET_FAIR_EXPIRED;
    p.refunded_minor = 20000 - (3749 + 173 + 2653 + 532);
    p.remaining_count = 6;
    ASSERT_EQ_INT(redpacket_fair_verify(&p, NULL), REDPACKET_FAIR_MATCH);
    p.amount_count = 10;
    p.status = REDPACKET_FAIR_FINISHED;
    p.refunded_minor = 0;
    p.remaining_count = 0;

    /* A tampered share: the sum still adds up, the split does not. */
    amounts[3] += 1;
    amounts[7] -= 1;
    ASSERT_EQ_INT(redpacket_fair_verify(&p, &finding), REDPACKET_FAIR_SHARE_MISMATCH);
    ASSERT_EQ_INT(finding.index, 3);
    ASSERT_EQ_INT(finding.expected_minor, 532);
    amounts[3] -= 1;
    amounts[7] += 1;

    /* Another packet's id derives other shares from the same seed. */
    p.id = "rp_0123456789abcdefghjkmnpqrt";
    ASSERT_EQ_INT(redpacket_fair_verify(&p, NULL), REDPACKET_FAIR_SHARE_MISMATCH);
    p.id = S_VECTOR_ID;

    /* A packet still taking claims whose seed is out: the shares to come are known. */
    p.amount_count = 4;
    p.status = REDPACKET_FAIR_ACTIVE;
    p.remaining_minor = 20000 - (3749 + 173 + 2653 + 532);
    p.remaining_count = 6;
    ASSERT_EQ_INT(redpacket_fair_verify(&p, NULL), REDPACKET_FAIR_SEED_EARLY);
    ASSERT_EQ_STR(redpacket_fair_verdict_name(REDPACKET_FAIR_SEED_EARLY), "seed_revealed_early");
    p.amount_count = 10;
    p.status = REDPACKET_FAIR_FINISHED;
    p.remaining_minor = 0;
    p.remaining_count = 0;

    /* A seed that is not the committed one. */
    uint8_t other[REDPACKET_SEED_SIZE];
    memcpy(other, seed, sizeof other);
    other[31] ^= 1;
    p.seed = other;
    ASSERT_EQ_INT(redpacket_fair_verify(&p, NULL), REDPACKET_FAIR_COMMITMENT_MISMATCH);
    p.seed = seed;

    /* Not a packet. */
    p.amount_count = 11;
    ASSERT_EQ_INT(redpacket_fair_verify(&p, NULL), REDPACKET_FAIR_INVALID);
    p.amount_count = 10;
    p.total_minor = 9;
    ASSERT_EQ_INT(redpacket_fair_verify(&p, NULL), REDPACKET_FAIR_INVALID);
    p.total_minor = 20000;
    p.refunded_minor = -1;
    ASSERT_EQ_INT(redpacket_fair_verify(&p, NULL), REDPACKET_FAIR_INVALID);
    p.refunded_minor = 0;
    p.remaining_count = 11;
    ASSERT_EQ_INT(redpacket_fair_verify(&p, NULL), REDPACKET_FAIR_INVALID);
    p.remaining_count = 0;
    ASSERT_EQ_INT(redpacket_fair_verify(&p, NULL), REDPACKET_FAIR_MATCH);

    /* Equal packets: every share total / count, no seed. */
    int64_t equal[3] = {500, 500, 500};
    struct redpacket_fair_packet e = {
        .id = S_VECTOR_ID,
        .total_minor = 1500,
        .count = 3,
        .amounts = equal,
        .amount_count = 3,
        .status = REDPACKET_FAIR_FINISHED,
    };
    ASSERT_EQ_INT(redpacket_fair_verify(&e, NULL), REDPACKET_FAIR_MATCH);
    equal[2] = 499;
    ASSERT_EQ_INT(redpacket_fair_verify(&e, &finding), REDPACKET_FAIR_SHARE_MISMATCH);
    ASSERT_EQ_INT(finding.index, 2);
    ASSERT_EQ_INT(finding.expected_minor, 500);
    ASSERT_EQ_STR(redpacket_fair_verdict_name(REDPACKET_FAIR_SHARE_MISMATCH), "share_mismatch");
}

/* Verifies the vector's 10.00 CNY in 5 shares with the first claim_count
 * claims, status and the given sums; answers the verdict, *sums the rule. */
static enum redpacket_fair_verdict
S_vector_sums(size_t claim_count, enum redpacket_fair_status status, int64_t remaining_minor,
              int64_t refunded_minor, int64_t remaining_count, enum redpacket_fair_sums *sums)
{
    static const int64_t shares[5] = {149, 376, 120, 296, 59};
    uint8_t seed[REDPACKET_SEED_SIZE], commitment[CRYPTO_SHA256_SIZE];
    S_vector_seed(seed);
    redpacket_fair_commitment(seed, commitment);
    struct redpacket_fair_packet p = {
        .id = S_VECTOR_ID,
        .lucky = true,
        .total_minor = 1000,
        .count = 5,
        .seed = seed,
        .commitment = commitment,
        .amounts = shares,
        .amount_count = claim_count,
        .status = status,
        .remaining_minor = remaining_minor,
        .remaining_count = remaining_count,
        .refunded_minor = refunded_minor,
    };
    struct redpacket_fair_finding finding = {0, 0, REDPACKET_FAIR_SUMS_OK};
    enum redpacket_fair_verdict verdict = redpacket_fair_verify(&p, &finding);
    *sums = finding.sums;
    return verdict;
}

TEST(the_verifier_holds_the_sums_and_the_status_to_the_claims)
{
    // Step 3 of docs/redpacket.md: a packet whose every share is right can still lie about
    // the money around them: a claim dropped from an expired packet and its money gone
    // nowhere, a FINISHED packet without its claims, a refund of an open packet. Each rule
    // must catch its lie and let every true state through, the two of an expired packet
    // (refund still to run, refund made) included.
    enum redpacket_fair_sums sums;
    const enum redpacket_fair_verdict match = REDPACKET_FAIR_MATCH;
    const enum redpacket_fair_verdict mismatch = REDPACKET_FAIR_SUMS_MISMATCH;

    /* The truth, in every state: 1000 = 149 + 376 + 120 + 296 + 59. (An ACTIVE lucky packet
     * never shows its seed; shown one, its sums still hold, and only the seed is wrong.) */
    const enum redpacket_fair_verdict early = REDPACKET_FAIR_SEED_EARLY;
    ASSERT_EQ_INT(S_vector_sums(5, REDPACKET_FAIR_FINISHED, 0, 0, 0, &sums), match);
    ASSERT_EQ_INT(S_vector_sums(2, REDPACKET_FAIR_ACTIVE, 475, 0, 3, &sums), early);
    ASSERT_EQ_INT(sums, REDPACKET_FAIR_SUMS_OK);
    ASSERT_EQ_INT(S_vector_sums(0, REDPACKET_FAIR_ACTIVE, 1000, 0, 5, &sums), early);
    ASSERT_EQ_INT(sums, REDPACKET_FAIR_SUMS_OK);
    ASSERT_EQ_INT(S_vector_sums(4, REDPACKET_FAIR_EXPIRED, 59, 0, 1, &sums), match);
    ASSERT_EQ_INT(S_vector_sums(4, REDPACKET_FAIR_EXPIRED, 0, 59, 1, &sums), match);
    ASSERT_EQ_INT(S_vector_sums(0, REDPACKET_FAIR_EXPIRED, 0, 1000, 5, &sums), match);

    /* The last claim dropped, the packet called EXPIRED, its 59 fen nowhere. */
    ASSERT_EQ_INT(S_vector_sums(4, REDPACKET_FAIR_EXPIRED, 0, 0, 1, &sums), mismatch);
    ASSERT_EQ_INT(sums, REDPACKET_FAIR_SUMS_TOTAL);
    /* Money out of nothing: a refund beside the claims of every share. */
    ASSERT_EQ_INT(S_vector_sums(5, REDPACKET_FAIR_FINISHED, 0, 10, 0, &sums), mismatch);
    ASSERT_EQ_INT(sums, REDPACKET_FAIR_SUMS_TOTAL);
    /* FINISHED with no claims, whether the money is said to remain or not. */
    ASSERT_EQ_INT(S_vector_sums(0, REDPACKET_FAIR_FINISHED, 0, 0, 0, &sums), mismatch);
    ASSERT_EQ_INT(sums, REDPACKET_FAIR_SUMS_TOTAL);
    ASSERT_EQ_INT(S_vector_sums(0, REDPACKET_FAIR_FINISHED, 1000, 0, 5, &sums), mismatch);
    ASSERT_EQ_INT(sums, REDPACKET_FAIR_SUMS_FINISHED_OPEN);
    /* Every share claimed, yet still open or expired. */
    ASSERT_EQ_INT(S_vector_sums(5, REDPACKET_FAIR_ACTIVE, 0, 0, 0, &sums), mismatch);
    ASSERT_EQ_INT(sums, REDPACKET_FAIR_SUMS_OPEN_ALL_TAKEN);
    ASSERT_EQ_INT(S_vector_sums(5, REDPACKET_FAIR_EXPIRED, 0, 0, 0, &sums), mismatch);
    ASSERT_EQ_INT(sums, REDPACKET_FAIR_SUMS_OPEN_ALL_TAKEN);
    /* Refunded while open. */
    ASSERT_EQ_INT(S_vector_sums(2, REDPACKET_FAIR_ACTIVE, 0, 475, 3, &sums), mismatch);
    ASSERT_EQ_INT(sums, REDPACKET_FAIR_SUMS_ACTIVE_REFUND);
    /* Refunded in part: the refund takes the whole rest at once. */
    ASSERT_EQ_INT(S_vector_sums(4, REDPACKET_FAIR_EXPIRED, 30, 29, 1, &sums), mismatch);
    ASSERT_EQ_INT(sums, REDPACKET_FAIR_SUMS_EXPIRED_SPLIT);
    /* The shares left miscounted. */
    ASSERT_EQ_INT(S_vector_sums(2, REDPACKET_FAIR_ACTIVE, 475, 0, 2, &sums), mismatch);
    ASSERT_EQ_INT(sums, REDPACKET_FAIR_SUMS_SHARES_LEFT);
    ASSERT_EQ_INT(S_vector_sums(5, REDPACKET_FAIR_FINISHED, 0, 0, 1, &sums), mismatch);
    ASSERT_EQ_INT(sums, REDPACKET_FAIR_SUMS_SHARES_LEFT);

    ASSERT_EQ_STR(redpacket_fair_verdict_name(mismatch), "sums_mismatch");
    ASSERT_EQ_STR(redpacket_fair_sums_name(REDPACKET_FAIR_SUMS_TOTAL), "total");
    ASSERT_EQ_STR(redpacket_fair_sums_name(REDPACKET_FAIR_SUMS_EXPIRED_SPLIT), "expired_split");
}

int main(void)
{
    RUN(the_published_vector_is_what_the_code_derives);
    RUN(the_bound_is_the_double_mean_and_leaves_a_fen_for_each_later_share);
    RUN(every_split_sums_exactly_and_keeps_each_share_in_its_range);
    RUN(every_position_expects_the_same_amount);
    RUN(the_verifier_accepts_the_truth_and_names_the_first_lie);
    RUN(the_verifier_holds_the_sums_and_the_status_to_the_claims);
    return test_summary();
}

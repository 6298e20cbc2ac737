/*
 * redpacket_fair.c — the provably fair split (redpacket_fair.h has the
 * scheme; docs/redpacket.md the specification and a test vector).
 *
 * Integer arithmetic only. floor(2R / N) is computed as 2 * (R / N) +
 * (2 * (R % N)) / N so that 2R never has to fit: R % N < N keeps the second
 * term small whatever R is.
 */
#include <string.h>

#include "wallet/redpacket_fair.h"

void redpacket_fair_commitment(const uint8_t seed[REDPACKET_SEED_SIZE],
                               uint8_t out[CRYPTO_SHA256_SIZE])
{
    crypto_sha256(seed, REDPACKET_SEED_SIZE, out);
}

int64_t redpacket_fair_share_max(int64_t remaining_minor, int64_t shares_left)
{
    QB_ASSERT(shares_left >= 1 && remaining_minor >= shares_left);
    if (shares_left == 1)
        return remaining_minor;
    int64_t double_mean =
        2 * (remaining_minor / shares_left) + (2 * (remaining_minor % shares_left)) / shares_left;
    int64_t leave_one_each = remaining_minor - (shares_left - 1);
    int64_t max = double_mean < leave_one_each ? double_mean : leave_one_each;
    QB_ASSERT(max >= 1 && max <= remaining_minor - (shares_left - 1));
    return max;
}

static void S_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* The 64-bit draw number `attempt` of share `index`: the first eight bytes,
 * big-endian, of HMAC-SHA-256(seed, scheme 0x00 id 0x00 be32(index)
 * be32(attempt)). */
static uint64_t S_draw(const uint8_t seed[REDPACKET_SEED_SIZE], const char *packet_id,
                       uint32_t index, uint32_t attempt)
{
    static const uint8_t zero = 0;
    uint8_t counters[8];
    S_be32(counters, index);
    S_be32(counters + 4, attempt);
    struct crypto_hmac_sha256_state st;
    crypto_hmac_sha256_begin(&st, seed, REDPACKET_SEED_SIZE);
    crypto_hmac_sha256_update(&st, REDPACKET_FAIR_SCHEME, strlen(REDPACKET_FAIR_SCHEME));
    crypto_hmac_sha256_update(&st, &zero, 1);
    crypto_hmac_sha256_update(&st, packet_id, strlen(packet_id));
    crypto_hmac_sha256_update(&st, &zero, 1);
    crypto_hmac_sha256_update(&st, counters, sizeof counters);
    uint8_t mac[CRYPTO_SHA256_SIZE];
    crypto_hmac_sha256_end(&st, mac);
    uint64_t x = 0;
    for (int k = 0; k < 8; k++)
        x = x << 8 | mac[k];
    crypto_wipe(mac, sizeof mac);
    return x;
}

int64_t redpacket_fair_share(const uint8_t seed[REDPACKET_SEED_SIZE], const char *packet_id,
                             uint32_t index, int64_t remaining_minor, int64_t shares_left)
{
    QB_ASSERT(seed != NULL && packet_id != NULL);
    QB_ASSERT(shares_left >= 1 && remaining_minor >= shares_left &&
              remaining_minor <= REDPACKET_FAIR_TOTAL_MAX_MINOR);
    if (shares_left == 1)
        return remaining_minor;
    uint64_t range = (uint64_t)redpacket_fair_share_max(remaining_minor, shares_left);
    /* 2^64 mod range: draws below it would make the low values likelier. */
    uint64_t reject_below = (0 - range) % range;
    for (uint32_t attempt = 0;; attempt++) {
        uint64_t x = S_draw(seed, packet_id, index, attempt);
        if (x >= reject_below) {
            int64_t share = 1 + (int64_t)(x % range);
            QB_ASSERT(share >= 1 && (uint64_t)share <= range);
            return share;
        }
        /* Each attempt is rejected with probability below range / 2^64. */
        QB_ASSERT(attempt < UINT32_MAX);
    }
}

bool redpacket_fair_split(const uint8_t seed[REDPACKET_SEED_SIZE], const char *packet_id,
                          int64_t total_minor, int64_t count, int64_t *shares)
{
    if (count < 1 || count > REDPACKET_COUNT_MAX || total_minor < count ||
        total_minor > REDPACKET_FAIR_TOTAL_MAX_MINOR)
        return false;
    int64_t remaining = total_minor;
    for (int64_t i = 0; i < count; i++) {
        shares[i] = redpacket_fair_share(seed, packet_id, (uint32_t)i, remaining, count - i);
        remaining -= shares[i];
        QB_ASSERT(remaining >= count - i - 1);
    }
    QB_ASSERT(remaining == 0);
    return true;
}

/* Step 3 of p, whose claims step 2 matched to their shares (so they add up
 * to at most the total): the sums and the status against the claims.
 * docs/redpacket.md states the rules. */
static enum redpacket_fair_sums S_sums(const struct redpacket_fair_packet *p)
{
    int64_t claimed = 0;
    for (size_t i = 0; i < p->amount_count; i++)
        claimed += p->amounts[i];
    QB_ASSERT(claimed >= 0 && claimed <= p->total_minor);
    int64_t rest = p->total_minor - claimed;
    bool all_claimed = p->amount_count == (size_t)p->count;
    if (p->remaining_minor + p->refunded_minor != rest)
        return REDPACKET_FAIR_SUMS_TOTAL;
    switch (p->status) {
    case REDPACKET_FAIR_FINISHED:
        if (!all_claimed)
            return REDPACKET_FAIR_SUMS_FINISHED_OPEN;
        /* Every share claimed is the whole total: nothing is left. */
        QB_ASSERT(rest == 0 && p->remaining_minor == 0 && p->refunded_minor == 0);
        break;
    case REDPACKET_FAIR_ACTIVE:
        if (all_claimed)
            return REDPACKET_FAIR_SUMS_OPEN_ALL_TAKEN;
        if (p->refunded_minor != 0)
            return REDPACKET_FAIR_SUMS_ACTIVE_REFUND;
        break;
    case REDPACKET_FAIR_EXPIRED:
        if (all_claimed)
            return REDPACKET_FAIR_SUMS_OPEN_ALL_TAKEN;
        /* The refund takes the whole rest at once; until it has run (a
         * second or so after expires_at) the rest is still remaining. */
        if (p->refunded_minor != 0 && p->remaining_minor != 0)
            return REDPACKET_FAIR_SUMS_EXPIRED_SPLIT;
        break;
    }
    if (p->remaining_count != p->count - (int64_t)p->amount_count)
        return REDPACKET_FAIR_SUMS_SHARES_LEFT;
    return REDPACKET_FAIR_SUMS_OK;
}

enum redpacket_fair_verdict redpacket_fair_verify(const struct redpacket_fair_packet *p,
                                                  struct redpacket_fair_finding *finding)
{
    QB_ASSERT(p != NULL);
    if (p->id == NULL || p->count < 1 || p->count > REDPACKET_COUNT_MAX ||
        p->total_minor < p->count || p->total_minor > REDPACKET_FAIR_TOTAL_MAX_MINOR ||
        p->amount_count > (size_t)p->count || (p->amount_count > 0 && p->amounts == NULL) ||
        p->status < REDPACKET_FAIR_ACTIVE || p->status > REDPACKET_FAIR_EXPIRED ||
        p->remaining_minor < 0 || p->remaining_minor > p->total_minor || p->refunded_minor < 0 ||
        p->refunded_minor > p->total_minor || p->remaining_count < 0 ||
        p->remaining_count > p->count)
        return REDPACKET_FAIR_INVALID;
    int64_t expected[REDPACKET_COUNT_MAX];
    if (p->lucky) {
        if (p->seed == NULL || p->commitment == NULL)
            return REDPACKET_FAIR_INVALID;
        uint8_t commitment[CRYPTO_SHA256_SIZE];
        redpacket_fair_commitment(p->seed, commitment);
        if (!crypto_equal(commitment, p->commitment, sizeof commitment))
            return REDPACKET_FAIR_COMMITMENT_MISMATCH;
        if (!redpacket_fair_split(p->seed, p->id, p->total_minor, p->count, expected))
            return REDPACKET_FAIR_INVALID;
    } else {
        if (p->total_minor % p->count != 0)
            return REDPACKET_FAIR_INVALID;
        for (int64_t i = 0; i < p->count; i++)
            expected[i] = p->total_minor / p->count;
    }
    for (size_t i = 0; i < p->amount_count; i++) {
        if (p->amounts[i] != expected[i]) {
            if (finding != NULL) {
                finding->index = i;
                finding->expected_minor = expected[i];
            }
            return REDPACKET_FAIR_SHARE_MISMATCH;
        }
    }
    enum redpacket_fair_sums sums = S_sums(p);
    if (finding != NULL)
        finding->sums = sums;
    if (sums != REDPACKET_FAIR_SUMS_OK)
        return REDPACKET_FAIR_SUMS_MISMATCH;
    /* All of it true, but the seed is revealed once the packet is closed,
     * never before: the shares still to come are no secret now. */
    return p->lucky && p->status == REDPACKET_FAIR_ACTIVE ? REDPACKET_FAIR_SEED_EARLY
                                                          : REDPACKET_FAIR_MATCH;
}

const char *redpacket_fair_verdict_name(enum redpacket_fair_verdict verdict)
{
    switch (verdict) {
    case REDPACKET_FAIR_MATCH:
        return "match";
    case REDPACKET_FAIR_COMMITMENT_MISMATCH:
        return "commitment_mismatch";
    case REDPACKET_FAIR_SHARE_MISMATCH:
        return "share_mismatch";
    case REDPACKET_FAIR_SUMS_MISMATCH:
        return "sums_mismatch";
    case REDPACKET_FAIR_SEED_EARLY:
        return "seed_revealed_early";
    case REDPACKET_FAIR_INVALID:
        return "invalid";
    }
    return "invalid";
}

const char *redpacket_fair_sums_name(enum redpacket_fair_sums sums)
{
    switch (sums) {
    case REDPACKET_FAIR_SUMS_OK:
        return "ok";
    case REDPACKET_FAIR_SUMS_TOTAL:
        return "total";
    case REDPACKET_FAIR_SUMS_FINISHED_OPEN:
        return "finished_open";
    case REDPACKET_FAIR_SUMS_OPEN_ALL_TAKEN:
        return "open_all_taken";
    case REDPACKET_FAIR_SUMS_ACTIVE_REFUND:
        return "active_refund";
    case REDPACKET_FAIR_SUMS_EXPIRED_SPLIT:
        return "expired_split";
    case REDPACKET_FAIR_SUMS_SHARES_LEFT:
        return "shares_left";
    }
    return "invalid";
}

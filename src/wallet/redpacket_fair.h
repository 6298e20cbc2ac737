/*
 * redpacket_fair.h — the provably fair split of a lucky red packet.
 *
 * Owns: the one definition of how a lucky packet's shares are derived,
 * used by the claim command (which pays them) and by verifiers (which
 * recompute them), so the two cannot drift; and what a verifier checks of
 * a packet as GET shows it (redpacket_fair_verify). docs/redpacket.md
 * states the scheme precisely enough to re-implement it; this file is that
 * text in C.
 *
 *   seed        32 bytes from the CSPRNG, drawn when the packet is sent,
 *               kept sealed until the packet can take no more claims
 *   commitment  SHA-256(seed), published from the start
 *   share i     (i = 0, 1, ... the claim order) with R fen remaining and
 *               N shares left: the last share (N = 1) is R; otherwise a
 *               uniform integer in [1, min(floor(2R / N), R - (N - 1))]
 *               drawn from HMAC-SHA-256(seed, "qianbao-redpacket-v1" 0x00
 *               packet-id 0x00 be32(i) be32(j)) for j = 0, 1, ... by
 *               rejection sampling (no modulo bias)
 *
 * The upper bound R - (N - 1) leaves every later share at least one fen;
 * floor(2R / N) is the double-mean rule, which gives every position the
 * same expected amount, R / N.
 *
 * Pure: no I/O, no clock, no global state; depends on base and libsodium
 * only, so that the CLI (`qianbao redpacket verify`, src/cli/redpacket.c)
 * compiles it in without the daemon's layers.
 */
#ifndef QB_WALLET_REDPACKET_FAIR_H
#define QB_WALLET_REDPACKET_FAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"
#include "base/crypto.h"

#define REDPACKET_FAIR_SCHEME "qianbao-redpacket-v1"
#define REDPACKET_SEED_SIZE 32
#define REDPACKET_COUNT_MAX 100
/* Totals above this are no packet (the daemon's own cap is far lower):
 * keeps every sum the split makes far from int64's edge. */
#define REDPACKET_FAIR_TOTAL_MAX_MINOR INT64_C(1000000000000000)
#define REDPACKET_ID_SIZE_MAX 48

/* SHA-256(seed). */
void redpacket_fair_commitment(const uint8_t seed[REDPACKET_SEED_SIZE],
                               uint8_t out[CRYPTO_SHA256_SIZE]);

/* The largest share allowed with remaining_minor fen and shares_left shares
 * left (remaining_minor >= shares_left >= 1): remaining_minor itself for the
 * last share, else min(floor(2R / N), R - (N - 1)). */
int64_t redpacket_fair_share_max(int64_t remaining_minor, int64_t shares_left);

/* Share number index (0-based claim order) of the lucky packet packet_id,
 * with remaining_minor fen and shares_left shares left before it. Asserts
 * remaining_minor >= shares_left >= 1 and remaining_minor <=
 * REDPACKET_FAIR_TOTAL_MAX_MINOR: the caller's invariants. */
int64_t redpacket_fair_share(const uint8_t seed[REDPACKET_SEED_SIZE], const char *packet_id,
                             uint32_t index, int64_t remaining_minor, int64_t shares_left);

/* Every share of a lucky packet in claim order, into shares (count
 * entries). False when (total_minor, count) is no packet: count outside
 * 1..REDPACKET_COUNT_MAX, total below count or above the maximum. */
QB_MUST_USE bool redpacket_fair_split(const uint8_t seed[REDPACKET_SEED_SIZE],
                                      const char *packet_id, int64_t total_minor, int64_t count,
                                      int64_t *shares);

/* What a verifier concludes, by the steps of docs/redpacket.md's
 * "Verifying a packet". */
enum redpacket_fair_verdict {
    REDPACKET_FAIR_MATCH = 0,           /* every claim is the derived share, the sums add up */
    REDPACKET_FAIR_COMMITMENT_MISMATCH, /* step 1: SHA-256(seed) is not the commitment */
    REDPACKET_FAIR_SHARE_MISMATCH,      /* step 2: claim finding->index is not finding->expected */
    REDPACKET_FAIR_SUMS_MISMATCH,       /* step 3: finding->sums says what does not add up */
    REDPACKET_FAIR_SEED_EARLY,          /* all else holds, but a lucky packet still ACTIVE
                                           shows its seed: the shares to come are known */
    REDPACKET_FAIR_INVALID,             /* not a packet: count, total, more claims than shares,
                                           a status, remaining or refund out of range */
};

/* A packet's status as the view shows it. */
enum redpacket_fair_status {
    REDPACKET_FAIR_ACTIVE = 0, /* takes claims */
    REDPACKET_FAIR_FINISHED,   /* every share claimed */
    REDPACKET_FAIR_EXPIRED,    /* past expires_at with shares left: refunded, or about to be */
};

/* Step 3's rules, in the order they are checked; the first one broken is
 * the finding. (FINISHED with money left needs no rule of its own: its
 * claims are every share, which add up to the total.) */
enum redpacket_fair_sums {
    REDPACKET_FAIR_SUMS_OK = 0,
    REDPACKET_FAIR_SUMS_TOTAL,          /* the claims + remaining + refunded != the total */
    REDPACKET_FAIR_SUMS_FINISHED_OPEN,  /* FINISHED, but a share is unclaimed */
    REDPACKET_FAIR_SUMS_OPEN_ALL_TAKEN, /* ACTIVE or EXPIRED, but every share is claimed */
    REDPACKET_FAIR_SUMS_ACTIVE_REFUND,  /* ACTIVE, but money went back to the sender */
    REDPACKET_FAIR_SUMS_EXPIRED_SPLIT,  /* EXPIRED, the rest partly refunded and partly not */
    REDPACKET_FAIR_SUMS_SHARES_LEFT,    /* remaining_count is not count - the claims */
};

/* A packet as a verifier sees it (GET /v1/red-packets/{id}). */
struct redpacket_fair_packet {
    const char *id;
    bool lucky;                /* false: equal, every share total / count */
    int64_t total_minor;
    int64_t count;
    const uint8_t *seed;       /* REDPACKET_SEED_SIZE bytes; lucky only */
    const uint8_t *commitment; /* CRYPTO_SHA256_SIZE bytes; lucky only */
    const int64_t *amounts;    /* the claims' amounts in claim order */
    size_t amount_count;       /* <= count; fewer when the packet expired */
    enum redpacket_fair_status status;
    int64_t remaining_minor; /* remaining_amount: in escrow, not claimed nor refunded */
    int64_t remaining_count; /* remaining_count: the shares nobody claimed */
    int64_t refunded_minor;  /* refunded_amount: back to the sender at expiry */
};

/* What the verifier found besides its verdict. */
struct redpacket_fair_finding {
    size_t index;                  /* SHARE_MISMATCH: the first claim that differs */
    int64_t expected_minor;        /* SHARE_MISMATCH: the share it should be */
    enum redpacket_fair_sums sums; /* SUMS_MISMATCH: the first rule broken */
};

/* Checks p by the three steps: the commitment (lucky), every share
 * recomputed and compared, then the packet's sums and status against its
 * claims. finding (may be NULL) says more on SHARE_MISMATCH and
 * SUMS_MISMATCH. */
enum redpacket_fair_verdict redpacket_fair_verify(const struct redpacket_fair_packet *p,
                                                  struct redpacket_fair_finding *finding);

/* "match", "commitment_mismatch", "share_mismatch", "sums_mismatch",
 * "seed_revealed_early", "invalid". */
const char *redpacket_fair_verdict_name(enum redpacket_fair_verdict verdict);

/* The rule's name: "ok", "total", "finished_open", "open_all_taken",
 * "active_refund", "expired_split", "shares_left". */
const char *redpacket_fair_sums_name(enum redpacket_fair_sums sums);

#endif

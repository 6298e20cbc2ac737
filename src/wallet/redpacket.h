/*
 * redpacket.h — red packets (红包): money sent to a group, claimed share by
 * share, the rest returned to the sender when it expires.
 *
 * Owns: the red_packets and red_packet_claims tables, the three commands
 * that move a packet's money, and the expiry worker. The money's path:
 *
 *   send    sender → system:red_packet_escrow, the whole total at once
 *           (WALLET_CODE_RED_PACKET_SEND), with the packet row
 *   claim   escrow → claimer, one share (WALLET_CODE_RED_PACKET_CLAIM),
 *           with a claim row; the last share empties the packet
 *   refund  escrow → sender, whatever is unclaimed once the packet expired
 *           (WALLET_CODE_RED_PACKET_REFUND), exactly once
 * Every entry's ref is the packet id, so the bills (bills.h) find the packet
 * from any of its lines.
 *
 * A packet's claimed sums (claimed_count, claimed_minor) are not stored:
 * they are its claims, kept together under the key (packet_id, position),
 * and every read of a packet counts them there (a packet has at most 100).
 * So a claim writes one row and no other random page, and the sums can
 * never disagree with the claims.
 *
 * Invariants (asserted in the commands, checked on every read of a packet
 * and by redpacket_check over all of them):
 *   - claimed_minor + refunded_minor + what escrow still holds for the
 *     packet = total_minor; escrow's floor is 0, so the ledger refuses to
 *     pay out money no packet put in;
 *   - claimed_count <= count; the packet is FINISHED exactly when
 *     claimed_count == count, and then claimed_minor == total_minor;
 *   - a user claims a packet at most once (checked by the claim command on
 *     the packet's claims, which it reads anyway); claim positions are
 *     0, 1, ... without gaps (the key);
 *   - every share is at least 1 fen;
 *   - a packet is refunded at most once: only an ACTIVE packet past its
 *     expiry is, and the refund makes it EXPIRED in the same command;
 *   - the journal bears the rows out: one claim entry per claim row, one
 *     send entry per packet and one refund entry per packet refunded, each
 *     the entry its row names (redpacket_check counts them), moving the
 *     row's money between the row's user and escrow: the claim's share to
 *     its claimer, the packet's total from its sender, its refunded rest
 *     back to the sender.
 *
 * No locks: the three commands run on the ledger's single writer thread
 * (as WeChat serialises a hot packet on one server), each reading the
 * packet's row and claims as the previous command left them. A claim racing the refund
 * is simply ordered before or after it; the one after sees the new state.
 * A claim is refused from expires_at_ms on, whether or not the worker has
 * refunded yet, so that nothing can be claimed once the refund is due.
 *
 * Lucky packets split by the provably fair double-mean method of
 * redpacket_fair.h, share by share at claim time; equal packets pay
 * total / count each. The seed is sealed in the row (domain_seal) and
 * revealed by redpacket_view_json once no claim can come any more.
 *
 * Must never: move a packet's money outside these commands; reveal a
 * seed while the packet takes claims; put a payment password in a log, an
 * answer or a row.
 */
#ifndef QB_WALLET_REDPACKET_H
#define QB_WALLET_REDPACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "domain/domain.h"
#include "identity/identity.h"
#include "store/pool.h"
#include "wallet/redpacket_fair.h"
#include "wallet/wallet.h"

#define REDPACKET_GREETING_SIZE_MAX 101 /* 100 bytes of UTF-8 + NUL */
#define REDPACKET_GREETING_DEFAULT "恭喜发财，大吉大利"
#define REDPACKET_SEED_SEALED_SIZE (REDPACKET_SEED_SIZE + DOMAIN_SEAL_OVERHEAD)
#define REDPACKET_RETRY_MS (60 * 60 * 1000) /* a refused refund is tried again after */
#define REDPACKET_WORKER_POLL_MS 500

/* red_packets.type; stored. */
enum redpacket_type {
    REDPACKET_LUCKY = 1,
    REDPACKET_EQUAL = 2,
};

/* red_packets.status; stored. */
enum redpacket_status {
    REDPACKET_ACTIVE = 1,   /* takes claims until expires_at_ms */
    REDPACKET_FINISHED = 2, /* every share claimed */
    REDPACKET_EXPIRED = 3,  /* expired with shares left; their money went back */
};

struct redpacket {
    char id[ID_TEXT_SIZE_MAX];        /* "rp_..." */
    char sender_id[ID_TEXT_SIZE_MAX];
    enum redpacket_type type;
    const struct currency *currency;
    int64_t total_minor;
    int64_t count;
    char greeting[REDPACKET_GREETING_SIZE_MAX];
    uint8_t seed_sealed[REDPACKET_SEED_SEALED_SIZE];
    uint8_t commitment[CRYPTO_SHA256_SIZE];
    enum redpacket_status status;
    int64_t claimed_count;
    int64_t claimed_minor;
    int64_t refunded_minor;
    int64_t entry_id;        /* the send entry */
    int64_t refund_entry_id; /* 0 until refunded (and when nothing was left) */
    int64_t created_at_ms;
    int64_t expires_at_ms;   /* claims are refused from here on */
    int64_t refund_after_ms; /* the worker refunds an ACTIVE packet from here on */
    int64_t finished_at_ms;  /* FINISHED or EXPIRED: when; else 0 */
};

struct redpacket_claim {
    char id[ID_TEXT_SIZE_MAX]; /* "rc_..." */
    char packet_id[ID_TEXT_SIZE_MAX];
    char user_id[ID_TEXT_SIZE_MAX];
    int64_t position; /* 0-based claim order: the i of the fair split */
    int64_t amount_minor;
    int64_t entry_id;
    int64_t created_at_ms;
};

const char *redpacket_type_name(enum redpacket_type type);       /* "lucky", "equal" */
const char *redpacket_status_name(enum redpacket_status status); /* "ACTIVE" ... */

/* Reads a packet (anyone's: a packet is read by whoever has its id).
 * QB_E_NOT_FOUND, QB_E_STORAGE, QB_E_INTERNAL for a row no writer made. */
QB_MUST_USE enum qb_error redpacket_get(struct store *reader, const char *id,
                                        struct redpacket *out);
/* The packet's claims in claim order into claims (REDPACKET_COUNT_MAX
 * entries); *count of them. */
QB_MUST_USE enum qb_error redpacket_claims_list(struct store *reader, const char *packet_id,
                                                struct redpacket_claim *claims, size_t *count);

/* Checks every packet against its claims (read-only, for qianbaod
 * --verify): positions dense from 0, no user twice in one packet, every
 * share at least 1 fen, the sums within the packet and as its status says,
 * no claim of a packet that does not exist. QB_OK, QB_E_STORAGE, or
 * QB_E_INTERNAL with what is wrong in problem. *packets the number checked. */
QB_MUST_USE enum qb_error redpacket_check(struct store *reader, int64_t *packets, char *problem,
                                          size_t problem_size);

/* Whether no claim can come any more at now_ms: FINISHED, EXPIRED, or past
 * expires_at_ms. Only then may the seed be shown. */
bool redpacket_is_closed(const struct redpacket *p, int64_t now_ms);

/* The packet as GET /v1/red-packets/{id} shows it to viewer_id (read with
 * reader): its state, the claims with masked names, the luckiest claimer
 * once finished, the commitment, and the seed once closed. QB_E_NOT_FOUND,
 * QB_E_STORAGE, QB_E_INTERNAL (also for a seal that does not open). */
QB_MUST_USE enum qb_error redpacket_view_json(struct store *reader, const struct domain_env *env,
                                              const char *packet_id, const char *viewer_id,
                                              int64_t now_ms, json_t **out);
/* The packet as an operator's GET /admin/red-packets/{id} shows it, for a
 * dispute ("nobody got my red packet"): all its sender sees (the view
 * above, with the sender as viewer), and sender.user_id, each claim's
 * user_id (the luckiest's too), and refund_due_at: while the packet's
 * money is in escrow, when the expiry worker refunds what nobody claimed
 * (an hour later each time the sender's account takes no credit), null
 * once FINISHED or refunded. The same errors. */
QB_MUST_USE enum qb_error redpacket_operator_view_json(struct store *reader,
                                                       const struct domain_env *env,
                                                       const char *packet_id, int64_t now_ms,
                                                       json_t **out);

/* --- sending: one idempotent command ---------------------------------------------- */

/* The order of checks (the first that fails answers; a refusal moves
 * nothing and charges no limit):
 *   1. the shape: type, count 1..REDPACKET_COUNT_MAX (PARAM_ERROR), CNY
 *      (INVALID_CURRENCY), the amount > 0 (INVALID_AMOUNT), at least one
 *      fen per share (INVALID_AMOUNT), the total within
 *      settings.red_packet_total_max_minor (LIMIT_EXCEEDED, limit
 *      "red_packet_max");
 *   2. the sender: not frozen (ACCOUNT_FROZEN);
 *   3. the payment password (counted: PASSWORD_WRONG, PASSWORD_LOCKED,
 *      PAYMENT_PASSWORD_NOT_SET);
 *   4. the spending limits (wallet_txn_limits_check: LIMIT_EXCEEDED),
 *      before the balance, as for a transfer;
 *   5. the balance (INSUFFICIENT_BALANCE);
 *   6. the seed, the entry sender → escrow and the packet row; 201.
 * The answer is stored in cmd->response either way (domain.h). */
struct redpacket_send_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    const struct domain_env *env;

    /* In. */
    char sender_id[ID_TEXT_SIZE_MAX];
    enum redpacket_type type;
    int64_t total_minor;     /* lucky */
    int64_t per_share_minor; /* equal */
    int64_t count;
    const struct currency *currency; /* NULL: CNY */
    char greeting[REDPACKET_GREETING_SIZE_MAX]; /* "": REDPACKET_GREETING_DEFAULT */
    char payment_password[8];

    /* Out, when the ledger result is QB_OK. */
    enum qb_error outcome;
    const char *refused_limit;
    struct identity_password_try password_try;
    struct redpacket packet;
};

void redpacket_send_cmd_init(struct redpacket_send_cmd *c, const struct domain_env *env);

/* --- claiming: one command per attempt --------------------------------------------- */

/* The order of checks:
 *   1. the packet exists (NOT_FOUND);
 *   2. the claimer exists (UNAUTHORIZED);
 *   3. the claimer's own earlier claim: answered again, 200 with the same
 *      body as the first time (outcome QB_OK, already true), whatever
 *      became of the packet or the claimer's wallet since — claiming is
 *      idempotent per user, so a client that lost the answer may retry;
 *      then the claimer's wallet takes money (ACCOUNT_FROZEN);
 *   4. the packet takes claims: not past expires_at_ms and not EXPIRED
 *      (RED_PACKET_EXPIRED), shares left (RED_PACKET_EMPTY);
 *   5. the share, the entry escrow → claimer, the claim row and the
 *      packet's counters; 201.
 * The sender may claim their own packet, as in a WeChat group. */
struct redpacket_claim_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    const struct domain_env *env;

    /* In. */
    char packet_id[ID_TEXT_SIZE_MAX];
    char user_id[ID_TEXT_SIZE_MAX];

    /* Out, when the ledger result is QB_OK; the answer is in cmd->response. */
    enum qb_error outcome;
    bool already; /* the answer is the user's earlier claim */
    struct redpacket_claim claim;
    struct redpacket packet; /* as the command left it */
};

void redpacket_claim_cmd_init(struct redpacket_claim_cmd *c, const struct domain_env *env);

/* --- expiry --------------------------------------------------------------------------- */

/* Refunds one packet if it is ACTIVE and its refund_after_ms has come:
 * escrow → sender for what is unclaimed, status EXPIRED. Outcomes: QB_OK
 * (refunded: packet.refunded_minor says how much), QB_E_CONFLICT (not
 * ACTIVE, or not due: nothing to do), QB_E_NOT_FOUND, QB_E_ACCOUNT_FROZEN
 * (the sender's account takes no credits: refund_after_ms moves on by
 * REDPACKET_RETRY_MS and the money stays in escrow). */
struct redpacket_expire_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    const struct domain_env *env;
    char packet_id[ID_TEXT_SIZE_MAX];
    enum qb_error outcome;
    struct redpacket packet;
};

void redpacket_expire_cmd_init(struct redpacket_expire_cmd *c, const struct domain_env *env,
                               const char *packet_id);

/* The expiry worker: every REDPACKET_WORKER_POLL_MS, the ACTIVE packets
 * whose refund_after_ms has come (partial index red_packets_due), each
 * refunded by one redpacket_expire_cmd; a pass that found a full batch is
 * followed at once, reading on after it, so a backlog does not wait a
 * poll per batch. Nothing but where it has got to is kept in memory
 * between passes, so packets that expired while the daemon was down are
 * refunded after it starts; the command's state check
 * makes a refund happen once. */
struct redpacket_worker;

QB_MUST_USE enum qb_error redpacket_worker_start(const struct domain_env *env,
                                                 struct store_pool *pool,
                                                 struct redpacket_worker **out);
void redpacket_worker_stop(struct redpacket_worker *w);
/* One pass on the calling thread (tests): *refunded packets refunded. */
QB_MUST_USE enum qb_error redpacket_worker_pass(const struct domain_env *env,
                                                struct store_pool *pool, size_t *refunded);

#endif

/*
 * notice.h — a user's notices (通知): what became of money they sent or
 * asked for, when it was decided after their request was answered.
 *
 * Owns: the notices table (one row per notice, in the order written) and
 * notice_reads (how far each user has read).
 *
 * The rule: a user is answered what their own request did; anything that
 * happens to their money later, without them, is written as a notice in
 * the same ledger command that makes it happen (so a notice exists exactly
 * when the outcome committed, and a retried or crashed worker writes it
 * once). Those outcomes:
 *
 *   topup_succeeded, topup_failed,        a top-up or withdrawal answered
 *   withdrawal_succeeded,                 PROCESSING, settled by the wallet's
 *   withdrawal_failed                     worker (topup.h); failure_code
 *   transfer_arrived, transfer_failed     a delayed transfer (延时到账) arrived,
 *                                         or never will: the payee could not
 *                                         take it, or an operator stopped it
 *                                         (not the payer's own cancel)
 *   transfer_returned                     the payee sent a transfer back
 *   order_refunded                        a merchant refunded an order, or
 *                                         reversed a paid payment-code order
 *   red_packet_refunded                   a red packet's unclaimed rest came
 *                                         back at its expiry
 *   payout_waiting                        a merchant's transfer (商家转账)
 *                                         waits for the user to take it
 *   payout_failed                         one they did not take will not
 *                                         come: the merchant cancelled it, its
 *                                         day passed, or an operator stopped it
 *
 * Money received is not a notice: the bills show it, and a transfer's
 * payee writes no row more than its payment (the transfer is the hot path).
 *
 * Reading: newest first, keyset by seq; a notice is read when its seq is at
 * or below the user's read_seq, which only grows (wallet_notices_read_cmd).
 *
 * Must never: write a notice for an outcome that did not commit, or show a
 * notice to anyone but its user.
 */
#ifndef QB_WALLET_NOTICE_H
#define QB_WALLET_NOTICE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/money.h"
#include "domain/domain.h"
#include "ledger/ledger.h"
#include "store/store.h"
#include "wallet/bills.h"
#include "wallet/wallet.h"

/* notices.type; stored. */
enum wallet_notice_type {
    WALLET_NOTICE_TOPUP_SUCCEEDED = 1,
    WALLET_NOTICE_TOPUP_FAILED = 2,
    WALLET_NOTICE_WITHDRAWAL_SUCCEEDED = 3,
    WALLET_NOTICE_WITHDRAWAL_FAILED = 4,
    WALLET_NOTICE_TRANSFER_ARRIVED = 5,
    WALLET_NOTICE_TRANSFER_FAILED = 6,
    WALLET_NOTICE_TRANSFER_RETURNED = 7,
    WALLET_NOTICE_ORDER_REFUNDED = 8,
    WALLET_NOTICE_RED_PACKET_REFUNDED = 9,
    WALLET_NOTICE_PAYOUT_WAITING = 10,
    WALLET_NOTICE_PAYOUT_FAILED = 11,
    WALLET_NOTICE_WITHDRAWAL_RETURNED = 12, /* the bank took a paid withdrawal back (退票) */
};

/* "topup_succeeded" ... as the API shows a type. */
const char *wallet_notice_type_name(enum wallet_notice_type type);

/* How many unread notices are counted at most: a badge shows "99+". */
#define WALLET_NOTICES_UNREAD_MAX 100

struct wallet_notice {
    int64_t seq;               /* its row's key, in the order written */
    char id[ID_TEXT_SIZE_MAX]; /* "n_...", carrying the seq */
    enum wallet_notice_type type;
    /* The payment's id ("p_..."); red_packet_refunded: the packet's. */
    char ref[ID_TEXT_SIZE_MAX];
    const struct currency *currency;
    int64_t amount_minor;                       /* the payment's amount; the red packet's rest */
    char failure_code[WALLET_FAILURE_SIZE_MAX]; /* *_failed, *_returned: the payment's; else "" */
    int64_t created_at_ms;
    bool read; /* filled by wallet_notices */
};

/* Inside the command that makes it happen: a notice of type to user_id
 * about payment p (ref, currency, amount and failure code p's).
 * QB_E_STORAGE, or QB_E_OVERFLOW past the last seq. */
QB_MUST_USE enum qb_error wallet_txn_notice_payment(struct ledger_txn *txn, struct qb_rand *rand,
                                                    const char *user_id,
                                                    enum wallet_notice_type type,
                                                    const struct wallet_payment *p);
/* The same about anything else: ref names it, amount_minor > 0. */
QB_MUST_USE enum qb_error wallet_txn_notice_add(struct ledger_txn *txn, struct qb_rand *rand,
                                                const char *user_id, enum wallet_notice_type type,
                                                const char *ref, const struct currency *currency,
                                                int64_t amount_minor, const char *failure_code);

/* user_id's notices with a seq below before (0: from the newest), newest
 * first, up to cap into out, their number in *count. QB_E_STORAGE. */
QB_MUST_USE enum qb_error wallet_notices(struct store *reader, const char *user_id, int64_t before,
                                         struct wallet_notice *out, size_t cap, size_t *count);
/* What notice n of user_id tells of its payment or red packet: the other
 * side as the bills show it (the card, the other user, the merchant; none
 * for a red packet), its name filled, into *party; the payment's memo or
 * the packet's greeting into memo. QB_E_STORAGE, or QB_E_INTERNAL for a
 * notice whose payment or packet is gone. */
QB_MUST_USE enum qb_error wallet_notice_detail(struct store *reader, const struct wallet_notice *n,
                                               const char *user_id,
                                               struct bills_counterparty *party, char *memo,
                                               size_t memo_size);
/* How many of user_id's notices are unread, counted up to
 * WALLET_NOTICES_UNREAD_MAX. QB_E_STORAGE. */
QB_MUST_USE enum qb_error wallet_notices_unread(struct store *reader, const char *user_id,
                                                int64_t *count);
/* The seq of user_id's newest notice (0: none). QB_E_STORAGE. */
QB_MUST_USE enum qb_error wallet_notices_newest(struct store *reader, const char *user_id,
                                                int64_t *seq);

/* Marks user_id's notices read up to the notice up_to_id: the newest the
 * user has seen, so that one written meanwhile stays unread. Outcome
 * QB_E_NOT_FOUND for an id that is not one of the user's notices; marking
 * read what is read already is QB_OK and changes nothing. */
struct wallet_notices_read_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    char user_id[ID_TEXT_SIZE_MAX];
    char up_to_id[ID_TEXT_SIZE_MAX];
    enum qb_error outcome;
};
void wallet_notices_read_cmd_init(struct wallet_notices_read_cmd *c);

#endif

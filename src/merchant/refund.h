/*
 * refund.h — refunds of paid merchant orders (WeChat Pay's
 * /v3/refund/domestic/refunds).
 *
 * Owns: the refunds table and the create command. A refund is one ledger
 * command that does everything or nothing: the entry (merchant −(refund −
 * fee share), system:fee_income −fee share, payer +refund;
 * WALLET_CODE_ORDER_REFUND, ref the payer's payment id), the payer's
 * payments row (WALLET_ORDER_REFUND, for the bills), the refund row
 * (SUCCESS at once: the money moves inside the command), the order REFUND,
 * and the REFUND.SUCCESS notification's outbox row (notify.h).
 *
 * The checks, in order, each a refusal that changes nothing:
 *   1. out_refund_no seen before for this merchant: the same order (by
 *      either of its numbers), amount.refund and amount.total answer the
 *      stored refund again, whatever the reason or notify_url (WeChat
 *      refunds a number once and compares only those: its
 *      REFUND_FEE_MISMATCH); another order or amount is INVALID_REQUEST.
 *      request_hash keeps the fingerprint of the body that made it.
 *   2. the order, by transaction_id or out_trade_no, of this merchant:
 *      RESOURCE_NOT_EXISTS otherwise (another merchant's alike).
 *   3. paid (SUCCESS or REFUND): INVALID_REQUEST otherwise.
 *   4. amount.total is the order's: PARAM_ERROR otherwise.
 *   5. paid at most MERCHANT_REFUND_WINDOW_MS ago: INVALID_REQUEST.
 *   6. fewer than MERCHANT_REFUNDS_PER_ORDER_MAX refunds so far:
 *      INVALID_REQUEST.
 *   7. refunded so far + refund <= total: INVALID_REQUEST.
 *   8. the merchant's available balance covers refund − fee share:
 *      NOT_ENOUGH.
 *   9. the payer's account takes credit: ACCOUNT_FROZEN otherwise.
 *
 * The fee share (merchant_fee_refund): the fee is refunded in proportion,
 * cumulatively — after refunds totalling R of an order of total T and fee
 * F, F × R / T rounded half up has been returned in all, so each refund's
 * share is that figure minus what earlier refunds returned, and a full
 * refund returns exactly F. Integer arithmetic only (128-bit product).
 *
 * The owner's refund (POST /v1/merchants/me/refunds, from the shop's phone:
 * a till-code shop has no server to call /v3 from) is the same command with
 * owner_user_id set: no out_refund_no is given (a retry is the /v1
 * Idempotency-Key's), so check 1 is skipped and the number is "QB" and
 * the refund id; amount.total is the order's (check 4 is skipped); the
 * owner is not frozen (ACCOUNT_FROZEN), and after the reads, before any
 * write, the owner's payment password (its failure count commits). Every
 * answer, refusals too, is written as the /v1 answer (domain_response_*),
 * in /v1's codes: ORDER_NOT_EXIST for 2, CONFLICT for 3, 5, 6 and 7,
 * INSUFFICIENT_BALANCE for 8.
 */
#ifndef QB_MERCHANT_REFUND_H
#define QB_MERCHANT_REFUND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "merchant/order.h"

#define MERCHANT_OUT_REFUND_NO_SIZE_MAX 65 /* 1..64 of [0-9A-Za-z_-|*@] + NUL */
#define MERCHANT_REFUND_ID_SIZE 30         /* 29 digits + NUL */
#define MERCHANT_REASON_SIZE_MAX 81        /* 80 bytes + NUL, WeChat's limit */
#define MERCHANT_REFUNDS_PER_ORDER_MAX 50
#define MERCHANT_REFUND_WINDOW_MS (INT64_C(365) * 24 * 60 * 60 * 1000)

/* Stored: never renumber. Only SUCCESS is written today. */
enum merchant_refund_status {
    MERCHANT_REFUND_SUCCESS = 1,
    MERCHANT_REFUND_PROCESSING = 2,
    MERCHANT_REFUND_ABNORMAL = 3,
    MERCHANT_REFUND_CLOSED = 4,
};

struct merchant_refund {
    char refund_id[MERCHANT_REFUND_ID_SIZE];
    char mchid[MERCHANT_MCHID_SIZE];
    char out_refund_no[MERCHANT_OUT_REFUND_NO_SIZE_MAX];
    char transaction_id[MERCHANT_TRANSACTION_ID_SIZE];
    char out_trade_no[MERCHANT_OUT_TRADE_NO_SIZE_MAX];
    uint8_t request_hash[CRYPTO_SHA256_SIZE];
    char reason[MERCHANT_REASON_SIZE_MAX];
    char notify_url[MERCHANT_NOTIFY_URL_SIZE_MAX];
    const struct currency *currency;
    int64_t total_minor;
    int64_t refund_minor;
    int64_t fee_refund_minor;
    enum merchant_refund_status status;
    char payment_id[ID_TEXT_SIZE_MAX]; /* the payer's WALLET_ORDER_REFUND payment */
    int64_t entry_id;
    int64_t created_at_ms;
    int64_t success_at_ms;
};

/* True when text is a valid out_refund_no. */
bool merchant_out_refund_no_is_valid(const char *text);
/* The fee share of a refund of refund_minor after refunded_minor (> = 0)
 * of an order of total_minor that paid fee_minor (see above). */
int64_t merchant_fee_refund(int64_t fee_minor, int64_t total_minor, int64_t refunded_minor,
                            int64_t refund_minor);

/* The legs of a refund's entry (WALLET_CODE_ORDER_REFUND): the payer
 * +refund, the merchant −(refund − fee share), fee income −fee share,
 * without a leg of nothing. Into legs; their number. 0 < refund_minor,
 * 0 <= fee_share_minor <= refund_minor. The refund command and the
 * operator's check build them here alike. */
size_t merchant_refund_legs(int64_t payer_account, int64_t merchant_account, int64_t fee_income,
                            int64_t refund_minor, int64_t fee_share_minor,
                            struct ledger_leg legs[3]);

/* The count and the sum of an order's refunds so far (refunds_order). Any
 * store: a reader, or a command's. QB_OK or QB_E_STORAGE. */
QB_MUST_USE enum qb_error merchant_refunded(struct store *store, const char *transaction_id,
                                            int64_t *count, int64_t *refund_minor);

/* The refunds' part of merchant_orders_check (order.h), read in the
 * snapshot the caller holds: each refund against its order, its payer's
 * payment and its entry. *refunds: those checked. QB_OK, QB_E_STORAGE, or
 * QB_E_INTERNAL with what is wrong in problem. */
QB_MUST_USE enum qb_error merchant_refunds_check(struct store *reader, int64_t *refunds,
                                                 char *problem, size_t problem_size);

/* Reads merchant mchid's refund by out_refund_no: RESOURCE_NOT_EXISTS for
 * none (another merchant's alike), QB_E_STORAGE. */
QB_MUST_USE enum qb_error merchant_refund_get(struct store *reader, const char *mchid,
                                              const char *out_refund_no,
                                              struct merchant_refund *out);

/* WeChat's refund object: refund_id, out_refund_no, transaction_id,
 * out_trade_no, channel, user_received_account, success_time, create_time,
 * status, funds_account, amount {total, refund, from, payer_total,
 * payer_refund, settlement_refund, settlement_total, discount_refund,
 * currency, refund_fee}, promotion_detail. NULL when out of memory. */
json_t *merchant_refund_json(const struct merchant_refund *r);

struct merchant_refund_create_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    const struct domain_env *env;
    /* in: mchid, out_refund_no, transaction_id or out_trade_no (one may be
     * ""), request_hash, reason, notify_url, total_minor, refund_minor;
     * out: the refund (new, or the earlier one). */
    struct merchant_refund refund;
    /* The owner's refund (above): the owner, their payment password; ""
     * for the merchant API's. */
    char owner_user_id[ID_TEXT_SIZE_MAX];
    char payment_password[8];
    struct identity_password_try password_try; /* out: a refused password's */
    enum qb_error outcome;
    const char *message; /* a static text for the refusal, or NULL */
};
void merchant_refund_create_cmd_init(struct merchant_refund_create_cmd *c,
                                     const struct domain_env *env);

#endif

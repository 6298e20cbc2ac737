/*
 * order.h — merchant orders (WeChat Pay's "transactions") and their payment
 * by a wallet user.
 *
 * Owns: the orders table and three commands:
 *
 *   create  (POST /v3/pay/transactions/{native,jsapi,app,h5}) — out_trade_no
 *           is unique per merchant. A second create with the same number:
 *           the same body (request_hash: SHA-256 of the body re-serialised
 *           with sorted keys, plus the trade type) answers the first order
 *           again while it is payable, ORDERPAID once paid, ORDER_CLOSED once
 *           closed or expired; a different body is INVALID_REQUEST
 *           "201 商户订单号重复", as WeChat answers. A suspended merchant
           (MERCHANT_SUSPENDED) makes none: NO_AUTH, before anything else.
 *   close   (POST …/out-trade-no/{n}/close) — NOTPAY → CLOSED; closing a
 *           closed or expired order is a success again; a paid one ORDERPAID.
 *   pay     (POST /v1/me/order-payments) — one ledger entry: user −total,
 *           merchant +(total − fee), fee income +fee (WALLET_CODE_ORDER_PAYMENT,
 *           ref the payment id), a payments row (WALLET_ORDER_PAYMENT) for the
 *           user's bills, and the order SUCCESS. The checks, in order: the
 *           order exists (by its pay token; a jsapi order made for another
 *           user's openid does not exist for this one: ORDER_NOT_EXIST),
 *           is not paid (ORDERPAID), not closed or expired (ORDER_CLOSED),
 *           the merchant can be credited (PAYEE_UNAVAILABLE: suspended, or
 *           its account closed to credits), the payer is
 *           not frozen, the payment password (or the password-free amount),
 *           the limits (wallet_txn_limits_check), the balance.
 *
 * Expiry: an unpaid order past expires_at_ms is CLOSED to every reader
 * (merchant_order_state_at, judged as of ledger_settled_ms: a payment that
 * began before then may still be committing) and refused by pay; no
 * worker rewrites it. The
 * stored state stays NOTPAY until something writes the order.
 *
 * The fee is total × fee_ppm / 1,000,000 rounded half up, in fen.
 */
#ifndef QB_MERCHANT_ORDER_H
#define QB_MERCHANT_ORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "identity/identity.h"
#include "merchant/merchant.h"
#include "wallet/wallet.h"

#define MERCHANT_OUT_TRADE_NO_SIZE_MAX 33 /* 6..32 of [0-9A-Za-z_-|*@] + NUL */
#define MERCHANT_TRANSACTION_ID_SIZE 29   /* 28 digits + NUL */
#define MERCHANT_DESCRIPTION_SIZE_MAX 128 /* 127 bytes + NUL, WeChat's limit */
#define MERCHANT_ATTACH_SIZE_MAX 129      /* 128 bytes + NUL */
/* A notify_url: WeChat takes a refund's and a transfer's up to 256 bytes,
 * an order's up to 255; each is held to WeChat's own limit. */
#define MERCHANT_NOTIFY_URL_SIZE_MAX 257       /* 256 bytes + NUL: the longest */
#define MERCHANT_ORDER_NOTIFY_URL_SIZE_MAX 256 /* an order's: 255 bytes + NUL */
#define MERCHANT_PAY_TOKEN_SIZE 33        /* 32 lower-case hex + NUL */
#define MERCHANT_PREPAY_ID_SIZE 35        /* "wx" + token + NUL */
#define MERCHANT_ORDER_TTL_DEFAULT_MS (2 * 60 * 60 * 1000)
#define MERCHANT_ORDER_TTL_MAX_MS (INT64_C(30) * 24 * 60 * 60 * 1000) /* time_expire at most 30 days ahead */
#define MERCHANT_ORDER_TOTAL_MAX_MINOR INT64_C(1000000000000)
#define MERCHANT_CODE_URL_PREFIX "qianbao://pay?pr="
#define MERCHANT_H5_URL_PREFIX "qianbao://pay/h5?prepay_id="

/* Stored: never renumber. */
enum merchant_trade_type {
    MERCHANT_TRADE_NATIVE = 1,
    MERCHANT_TRADE_JSAPI = 2,
    MERCHANT_TRADE_APP = 3,
    MERCHANT_TRADE_H5 = 4, /* WeChat's MWEB */
    MERCHANT_TRADE_MICROPAY = 5, /* a payment code scanned at the till (codepay, paycode.h) */
};

/* Stored: never renumber. Only the first three are written today; the
 * others belong to refunds and payment codes. */
enum merchant_trade_state {
    MERCHANT_NOTPAY = 1,
    MERCHANT_SUCCESS = 2,
    MERCHANT_CLOSED = 3,
    MERCHANT_REFUND = 4,
    MERCHANT_USERPAYING = 5,
    MERCHANT_PAYERROR = 6,
    MERCHANT_REVOKED = 7,
};

struct merchant_order {
    char transaction_id[MERCHANT_TRANSACTION_ID_SIZE];
    char mchid[MERCHANT_MCHID_SIZE];
    char out_trade_no[MERCHANT_OUT_TRADE_NO_SIZE_MAX];
    char appid[MERCHANT_APPID_SIZE];
    enum merchant_trade_type trade_type;
    uint8_t request_hash[CRYPTO_SHA256_SIZE];
    char description[MERCHANT_DESCRIPTION_SIZE_MAX];
    char attach[MERCHANT_ATTACH_SIZE_MAX];
    char notify_url[MERCHANT_NOTIFY_URL_SIZE_MAX];
    const struct currency *currency;
    int64_t total_minor;
    int64_t fee_minor;
    char payer_openid[MERCHANT_OPENID_SIZE]; /* jsapi: given at create; else set when paid */
    char payer_user_id[ID_TEXT_SIZE_MAX];    /* set when paid */
    char payment_id[ID_TEXT_SIZE_MAX];       /* the user's payment, when paid */
    enum merchant_trade_state state;         /* as stored; see merchant_order_state_at */
    char pay_token[MERCHANT_PAY_TOKEN_SIZE];
    int64_t entry_id;
    int64_t created_at_ms;
    int64_t expires_at_ms;
    int64_t success_at_ms;
    int64_t closed_at_ms;
    int64_t updated_at_ms;
};

const char *merchant_trade_type_name(enum merchant_trade_type type);   /* "NATIVE", "MWEB" ... */
const char *merchant_trade_state_name(enum merchant_trade_state state); /* "NOTPAY" ... */
/* The state a reader sees at now_ms: NOTPAY past its expiry is CLOSED;
 * USERPAYING past its expiry (the confirmation deadline) is REVOKED. */
enum merchant_trade_state merchant_order_state_at(const struct merchant_order *o, int64_t now_ms);
/* The fee of total at fee_ppm, rounded half up. */
int64_t merchant_fee(int64_t total_minor, int64_t fee_ppm);
/* True when text is a valid out_trade_no (6..32 of [0-9A-Za-z_-|*@]). */
bool merchant_out_trade_no_is_valid(const char *text);

/* Reads an order of merchant mchid by out_trade_no or by transaction_id;
 * another merchant's is QB_E_ORDER_NOT_EXIST like one that never was. */
QB_MUST_USE enum qb_error merchant_order_get(struct store *reader, const char *mchid,
                                             const char *out_trade_no, const char *transaction_id,
                                             struct merchant_order *out);

/* Whether o was paid: SUCCESS, REFUND, or a payment-code order REVOKED
 * after it was paid (success_at_ms set). */
bool merchant_order_is_paid(const struct merchant_order *o);
/* The order as a merchant's query is answered (merchant_order_get), read in
 * one snapshot with what pays it: a paid order must be its payer's payment
 * and its entry in the journal, as the operator's check has them
 * (merchant_orders_check). *wrong says what is not (NULL: nothing), and the
 * order is then not to be answered: a row altered in the database to say an
 * order was paid is not told, signed, to a merchant who ships goods on it.
 * QB_OK (with *wrong), QB_E_ORDER_NOT_EXIST, QB_E_STORAGE. */
QB_MUST_USE enum qb_error merchant_order_query(struct store *reader, const char *mchid,
                                               const char *out_trade_no, const char *transaction_id,
                                               struct merchant_order *out, const char **wrong);

/* A page of merchant mchid's paid orders, newest payment first: those
 * whose payment entry is newer than after_entry and older than
 * before_entry (0: from the newest), at most room of them
 * (orders_paid_entry: a range of the merchant's own). A paid order keeps
 * its payment's entry when refunded or reversed, so its place in the list
 * never moves. QB_OK or QB_E_STORAGE. */
QB_MUST_USE enum qb_error merchant_orders_paid(struct store *reader, const char *mchid,
                                               int64_t after_entry, int64_t before_entry,
                                               struct merchant_order *rows, size_t room,
                                               size_t *count);
/* The payment entry of merchant mchid's newest paid order; 0 for none. */
QB_MUST_USE enum qb_error merchant_orders_paid_newest(struct store *reader, const char *mchid,
                                                      int64_t *entry_id);
/* An order by its pay token, for a reader (a QR code's resolution):
 * ORDER_NOT_EXIST, STORAGE. */
QB_MUST_USE enum qb_error merchant_order_by_token(struct store *reader, const char *token,
                                                  struct merchant_order *out);

/* Inside a command: an order by its pay token (ORDER_NOT_EXIST), and the
 * write of its mutable fields (state, fee, payer, payment, entry, times). */
QB_MUST_USE enum qb_error merchant_txn_order_by_token(struct ledger_txn *txn, const char *token,
                                                      struct merchant_order *out);
QB_MUST_USE enum qb_error merchant_txn_order_update(struct ledger_txn *txn,
                                                   const struct merchant_order *o);
/* Inside a command: a new order row, every column as o has it. This and
 * the update count a payment-code order that comes to wait for its payer
 * (written USERPAYING) or leaves waiting (updated from a stored USERPAYING)
 * in the payer's paycode_pending_changes (paycode.h); so an order is
 * written once its command knows whether it waits. */
QB_MUST_USE enum qb_error merchant_txn_order_insert(struct ledger_txn *txn,
                                                   const struct merchant_order *o);
/* A new order's transaction_id and pay_token from env's randomness. */
void merchant_order_ids_new(const struct domain_env *env, int64_t now_ms, struct merchant_order *o);

/* Inside a command: the order of mchid numbered out_trade_no
 * (ORDER_NOT_EXIST). */
QB_MUST_USE enum qb_error merchant_txn_order_by_number(struct ledger_txn *txn, const char *mchid,
                                                       const char *out_trade_no,
                                                       struct merchant_order *out);

/* Inside a command: an order by its transaction id (ORDER_NOT_EXIST). */
QB_MUST_USE enum qb_error merchant_txn_order_by_transaction_id(struct ledger_txn *txn,
                                                               const char *transaction_id,
                                                               struct merchant_order *out);

/* Inside a paying command, after every other check: the balance, the
 * limits, the one entry (WALLET_CODE_ORDER_PAYMENT), the payer's payments
 * row and the order SUCCESS (o is updated and written: inserted when
 * insert, as a till code's order is, else updated). *outcome is QB_OK,
 * or INSUFFICIENT_BALANCE / LIMIT_EXCEEDED (*refused_limit names it) /
 * OVERFLOW with nothing written; the return value is the ledger's result. */
QB_MUST_USE enum qb_error merchant_txn_order_settle(struct ledger_txn *txn,
                                                   const struct domain_env *env,
                                                   struct merchant_order *o,
                                                   const struct merchant *m,
                                                   const struct identity_user *payer,
                                                   const char *openid, bool insert,
                                                   enum qb_error *outcome,
                                                   const char **refused_limit);

/* The legs of an order's payment (WALLET_CODE_ORDER_PAYMENT): the payer
 * −total, the merchant +(total − fee), fee income +fee, without a leg of
 * nothing (no fee; or a fee of the whole total). Into legs; their number.
 * 0 <= fee_minor <= total_minor, 0 < total_minor. The reversal of a paid
 * payment-code order (WALLET_CODE_ORDER_REVERSAL, paycode.h) posts the same
 * legs the other way. The commands that post them and the operator's check
 * of the orders build them here alike. */
size_t merchant_order_payment_legs(int64_t payer_account, int64_t merchant_account,
                                   int64_t fee_income, int64_t total_minor, int64_t fee_minor,
                                   struct ledger_leg legs[3]);
size_t merchant_order_reversal_legs(int64_t payer_account, int64_t merchant_account,
                                    int64_t fee_income, int64_t total_minor, int64_t fee_minor,
                                    struct ledger_leg legs[3]);

/* Checks the merchant payments against the journal (read-only, for the
 * operator's check, wallet_verify), in one snapshot:
 *
 *   refunds   each SUCCESS (the only status written), of its order (its
 *             merchant's, by transaction_id, with its out_trade_no, total
 *             and currency, REFUND), and what its payer's payment and the
 *             entry both name say: WALLET_ORDER_REFUND of the refund's
 *             amount to the order's payer, and the entry
 *             (WALLET_CODE_ORDER_REFUND, ref the payment, at its
 *             success_at_ms) the legs of merchant_refund_legs for its
 *             amount and fee share
 *             (merchant_refunds_check, refund.h);
 *   orders    one not paid names no payment, entry or time paid; a paid one
 *             (SUCCESS, REFUND, or a payment-code order REVOKED after it was
 *             paid) its payer's payment (WALLET_ORDER_PAYMENT of its total,
 *             SUCCESS) and the entry both name (WALLET_CODE_ORDER_PAYMENT,
 *             ref the payment, merchant_order_payment_legs of its total and
 *             fee, from its payer, at its success_at_ms: the merchant's
 *             bills count it on that day); refunds name it exactly when it is
 *             REFUND, return no more than its total, and their fee shares
 *             add up to the share of their sum (merchant_fee_refund);
 *   reversals each reversed order has one reversal in the journal
 *             (WALLET_CODE_ORDER_REVERSAL, ref its payment, at its
 *             closed_at_ms: its payment's legs the other way), and each
 *             reversal is one's;
 *   closings  each remainder in the journal (WALLET_CODE_MERCHANT_REMAINDER)
 *             is the one of a closed merchant, from its account to its
 *             owner's (merchant_remainders_check, merchant.h);
 *
 * and the journal holds no entry of these four codes beyond those the rows
 * name. One pass over the orders and one over the refunds, a few point
 * reads each, three scans of the journal; memory does not grow with them.
 * QB_OK, QB_E_STORAGE, or QB_E_INTERNAL with what is wrong in problem,
 * naming the row (out_trade_no or out_refund_no and mchid). *orders: the
 * orders checked. */
QB_MUST_USE enum qb_error merchant_orders_check(struct store *reader, int64_t *orders,
                                                char *problem, size_t problem_size);

/* For the checks of the orders and refunds: the accounts an order's money
 * moves between, its payer's (payer_user_id's), its merchant's (mchid's)
 * and fee income in currency. QB_E_NOT_FOUND when one is not in the books,
 * QB_E_STORAGE. */
struct merchant_order_accounts {
    int64_t payer;
    int64_t merchant;
    int64_t fee_income;
};
QB_MUST_USE enum qb_error merchant_order_accounts_read(struct store *reader,
                                                       const char *payer_user_id, const char *mchid,
                                                       const struct currency *currency,
                                                       struct merchant_order_accounts *out);

/* What a row says its payer's payment and its entry are: an order's
 * payment, or a refund. */
struct merchant_payment_want {
    const char *payment_id; /* the payer's payment, the entry's ref */
    enum wallet_payment_kind kind;
    uint16_t code;
    const char *payer_user_id;
    const char *mchid;
    const struct currency *currency;
    int64_t amount_minor;
    int64_t entry_id;
    int64_t at_ms;             /* when the row says it was paid: the entry's time */
    struct ledger_leg legs[3]; /* what the entry moves */
    size_t leg_count;
    /* The entry entry_id names, when the caller read it with the row
     * (NULL: merchant_payment_check reads it; missing: entry_read false). */
    const struct ledger_entry *entry;
    bool entry_read;
};
/* Whether the payment and the entry are as w says: the payment of w's kind,
 * payer, merchant, amount and currency, SUCCESS, settled by w's entry; the
 * entry a TRANSFER of w's code, its ref the payment, made at w's time,
 * moving w's legs and nothing else. *wrong: what is not (NULL: nothing).
 * QB_OK, QB_E_STORAGE. */
QB_MUST_USE enum qb_error merchant_payment_check(struct store *reader,
                                                 const struct merchant_payment_want *w,
                                                 const char **wrong);

/* The order as the query answers it (WeChat's shape): appid, mchid,
 * out_trade_no, transaction_id, trade_type, trade_state, trade_state_desc,
 * bank_type, attach, success_time, payer {openid}, amount {total,
 * payer_total, currency, payer_currency}. NULL when out of memory. */
json_t *merchant_order_json(const struct merchant_order *o, int64_t now_ms);
/* The answer to a create: {code_url} / {prepay_id} / {h5_url}. */
json_t *merchant_order_create_json(const struct merchant_order *o);

struct merchant_order_create_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    const struct domain_env *env;
    struct merchant_order order; /* in: mchid .. payer_openid, expires_at_ms (0: default);
                                  * out: the order (new or the earlier one) */
    /* The fingerprint of the whole body, the payer's IP in it, when the body named one
     * (scene_info.payer_client_ip, which order.request_hash leaves out): what orders made
     * before that rule stored, so that their retries are still the same request. */
    bool has_legacy_hash;
    uint8_t legacy_request_hash[CRYPTO_SHA256_SIZE];
    enum qb_error outcome; /* QB_OK (created or the same again), INVALID_REQUEST, ORDERPAID,
                            * ORDER_CLOSED, NO_AUTH (the merchant is suspended), PARAM
                            * (a JSAPI order's openid was never given out in the app, or,
                            * expire_past, a new order's expires_at_ms is not after now:
                            * an earlier order's retry is answered as it stands) */
    bool expire_past;
};
void merchant_order_create_cmd_init(struct merchant_order_create_cmd *c,
                                    const struct domain_env *env);

struct merchant_order_close_cmd {
    struct ledger_cmd cmd;
    const struct domain_env *env;
    char mchid[MERCHANT_MCHID_SIZE];
    char out_trade_no[MERCHANT_OUT_TRADE_NO_SIZE_MAX];
    enum qb_error outcome; /* QB_OK (closed, or no order: the number closed to a codepay),
                            * ORDERPAID, INVALID_REQUEST (a payment-code order: reversed,
                            * never closed) */
    enum merchant_trade_state state; /* with INVALID_REQUEST: the payment-code order's */
};
void merchant_order_close_cmd_init(struct merchant_order_close_cmd *c, const struct domain_env *env);

/* The user's payment, idempotent (the caller arms cmd with the
 * Idempotency-Key under "user:<id>"); the answer is stored in cmd->response
 * (domain.h): 201 {id, status, amount, currency, merchant: {mchid, name},
 * out_trade_no, transaction_id, description, created_at}, or the refusal.
 *
 * Two ways in. An existing order by its pay token (code_url, prepay_id);
 * or a merchant's static till code (src/qr/qr.h): till_mchid and
 * till_amount_minor set, pay_token empty. Then the same command makes the
 * order and pays it: the checks run on an order held in memory (the
 * merchant exists, else PAYEE_NOT_FOUND; is active, else PAYEE_UNAVAILABLE;
 * then the payer's checks as above), and only once nothing can refuse any
 * more is the order row inserted, already SUCCESS (NATIVE, out_trade_no
 * "QR" + its transaction id, description MERCHANT_TILL_DESCRIPTION). A
 * refusal therefore leaves no order behind, and a retry with the same
 * Idempotency-Key is answered from the stored bytes without a second one. */
#define MERCHANT_TILL_DESCRIPTION "扫码付款"
struct merchant_order_pay_cmd {
    struct ledger_cmd cmd;
    const struct domain_env *env;
    char payer_id[ID_TEXT_SIZE_MAX];
    char pay_token[MERCHANT_PAY_TOKEN_SIZE];
    char till_mchid[MERCHANT_MCHID_SIZE];
    int64_t till_amount_minor; /* 1..MERCHANT_ORDER_TOTAL_MAX_MINOR with till_mchid */
    bool has_payment_password;
    char payment_password[8];
    enum qb_error outcome;
    struct identity_password_try password_try;
};
void merchant_order_pay_cmd_init(struct merchant_order_pay_cmd *c, const struct domain_env *env);
/* The pay token in a code_url, a prepay_id (bare, or as the JSAPI package
 * "prepay_id=wx…") or an h5_url; false when text is none of them. */
bool merchant_pay_token_parse(const char *text, char out[MERCHANT_PAY_TOKEN_SIZE]);

#endif

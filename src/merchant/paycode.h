/*
 * paycode.h — payment codes (付款码) at the server: devices, online codes,
 * the codepay order, its confirmation and its reversal.
 *
 * Owns: the paycode_devices, paycode_used and paycode_settings tables
 * (migration 6), paycode_guesses (migration 42: the wrong codes of each
 * merchant's owner, over all their merchants, or of a merchant without
 * one) and paycode_pending_changes (migration 43: each payer's count of
 * orders come to wait for them or gone, written by order.c's writes of an
 * order). The code itself — layout, token, check digit — is
 * src/base/paycode.h after docs/paycode.md; this module keeps what only
 * the server knows: which slot is whose device, the sealed seeds, which
 * codes were used, the guess count of each slot and the user's
 * password-free settings for codes.
 *
 * Commands (each one ledger command, on the writer thread):
 *   device add     POST /v1/me/devices: payment password, at most
 *                  settings.paycode_device_adds_max additions in 24 hours
 *                  (counted from the devices' rows, so a restart forgets
 *                  nothing), a random free slot, a fresh seed sealed at
 *                  rest (answered once), security event paycode_device_added
 *   device revoke  DELETE /v1/me/devices/{id}: every code of it refused
 *                  from then on; security event paycode_device_revoked
 *   issue          GET /v1/me/payment-code: a code for now from the
 *                  server-held device (made on first use, an addition like
 *                  any other) or a named one, with a counter the server
 *                  hands out once
 *   settings set   PUT /v1/me/payment-code-settings (payment password)
 *   codepay        POST /v3/pay/transactions/codepay: the order of checks
 *                  is docs/paycode.md §6; the code's use is written in the
 *                  same transaction whatever follows, then the order is
 *                  paid at once (password-free amount and count) or left
 *                  USERPAYING for the payer to confirm (order.h's pay
 *                  command) before expires_at_ms
 *   reverse        POST /v3/pay/transactions/out-trade-no/{n}/reverse
 *
 * Must never: show a seed after the add answered it; keep a seed in clear
 * in the database or the log; add a device past the day's count: slots are
 * one pool for every wallet, and a revoked one stays out of it for a day.
 */
#ifndef QB_MERCHANT_PAYCODE_H
#define QB_MERCHANT_PAYCODE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "base/paycode.h"
#include "merchant/order.h"
#include "store/pool.h"

#define MERCHANT_DEVICE_NAME_SIZE_MAX 65 /* 64 bytes + NUL */
#define MERCHANT_AUTH_CODE_SIZE_MAX 33   /* what a till may send: 32 bytes + NUL */

/* Stored: never renumber. */
enum merchant_device_kind {
    MERCHANT_DEVICE_USER = 1,   /* provisioned to the user's device, which holds the seed */
    MERCHANT_DEVICE_SERVER = 2, /* held by the server for GET /v1/me/payment-code */
};

/* The user's devices, newest first, as GET /v1/me/devices shows them:
 * [{id, name, kind, slot, status, created_at, revoked_at, last_used_at}]
 * (never a seed). */
QB_MUST_USE enum qb_error merchant_devices_list(struct store *reader, const char *user_id,
                                                json_t **out);

struct merchant_device_add_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    const struct domain_env *env;
    char user_id[ID_TEXT_SIZE_MAX];
    char name[MERCHANT_DEVICE_NAME_SIZE_MAX];
    char payment_password[8];
    /* Out: QB_OK, PASSWORD_WRONG (password_try) / LOCKED / NOT_SET,
     * RATE_LIMITED (settings.paycode_device_adds_max devices added in the
     * last 24 hours: locked_until_ms), CONFLICT (too many devices), BUSY
     * (no free slot found). */
    enum qb_error outcome;
    struct identity_password_try password_try;
    int64_t locked_until_ms; /* RATE_LIMITED: when the next device may be added */
    char device_id[ID_TEXT_SIZE_MAX];
    uint32_t slot;
    uint8_t seed[PAYCODE_SEED_SIZE]; /* the caller answers it once, then wipes it */
    int64_t created_at_ms;
};
void merchant_device_add_cmd_init(struct merchant_device_add_cmd *c, const struct domain_env *env);

struct merchant_device_revoke_cmd {
    struct ledger_cmd cmd;
    const struct domain_env *env;
    char user_id[ID_TEXT_SIZE_MAX];
    char device_id[ID_TEXT_SIZE_MAX];
    enum qb_error outcome; /* QB_OK (also for a revoked one), NOT_FOUND */
};
/* domain_env.user_frozen: inside the freeze of user_id's wallet, revokes
 * every active payment-code device of theirs, as DELETE /v1/me/devices/{id}
 * would: the seed on a lost phone makes codes offline, which no ended
 * session stops. After the unfreeze the user adds a device again.
 * QB_E_STORAGE. */
QB_MUST_USE enum qb_error
merchant_txn_user_frozen(struct ledger_txn *txn, const struct domain_env *env, const char *user_id);

void merchant_device_revoke_cmd_init(struct merchant_device_revoke_cmd *c,
                                     const struct domain_env *env);

struct merchant_code_issue_cmd {
    struct ledger_cmd cmd;
    const struct domain_env *env;
    char user_id[ID_TEXT_SIZE_MAX];
    char device_id[ID_TEXT_SIZE_MAX]; /* in: "" for the server-held device; out: the device */
    /* Out: QB_OK, NOT_FOUND (no such active device of the user),
     * PAYMENT_PASSWORD_NOT_SET, ACCOUNT_FROZEN, PASSWORD_LOCKED (the payment
     * password: no code could be paid), PAYMENT_CODE_LOCKED (the device's
     * slot, after wrong codes at tills), RATE_LIMITED (ten codes this
     * minute already; or, device_adds_spent, the server-held device is to
     * be made again but the user added settings.paycode_device_adds_max
     * devices in the last 24 hours). */
    enum qb_error outcome;
    bool device_adds_spent;
    int64_t locked_until_ms; /* the _LOCKED outcomes and device_adds_spent: when it ends */
    char code[PAYCODE_TEXT_SIZE];
    int64_t expires_at_ms;
};
void merchant_code_issue_cmd_init(struct merchant_code_issue_cmd *c, const struct domain_env *env);

/* The user's password-free amount and count for code payments, in force
 * (defaults when the user set none), and how many were used today. */
struct merchant_code_settings {
    int64_t free_limit_minor;
    int64_t free_daily_count;
    int64_t day_start_ms;
    int64_t day_count;
};
QB_MUST_USE enum qb_error merchant_code_settings_get(struct store *store,
                                                     const struct domain_settings *settings,
                                                     const char *user_id,
                                                     struct merchant_code_settings *out);

struct merchant_code_settings_set_cmd {
    struct ledger_cmd cmd;
    const struct domain_env *env;
    char user_id[ID_TEXT_SIZE_MAX];
    char payment_password[8];  /* "": none given; needed only to raise either */
    int64_t free_limit_minor;  /* -1: keep */
    int64_t free_daily_count;  /* -1: keep */
    enum qb_error outcome;     /* QB_OK, PARAM (above the maximum, or a raise without the
                                * password: password_needed), the password's refusals */
    bool password_needed;
    struct identity_password_try password_try;
    struct merchant_code_settings settings; /* after */
};
void merchant_code_settings_set_cmd_init(struct merchant_code_settings_set_cmd *c,
                                         const struct domain_env *env);

/* The merchant's codepay, idempotent under merchant_codepay_principal and
 * out_trade_no (the caller arms it): the answer is stored in cmd->response
 * — 200 and the order (SUCCESS), 202 {"code": "USERPAYING", ...}, or the
 * refusal. A reversal replaces a kept answer with ORDERREVERSED. */
#define MERCHANT_CODEPAY_PRINCIPAL_SIZE (MERCHANT_MCHID_SIZE + 4)
/* "mch:<mchid>": whose codepay requests the idempotency records keep. */
void merchant_codepay_principal(const char *mchid, char out[MERCHANT_CODEPAY_PRINCIPAL_SIZE]);
/* Inside a command: from now on a codepay of mchid under out_trade_no,
 * whatever its body, is answered the refusal answer (a reversal's
 * ORDERREVERSED, a close's ORDER_CLOSED), its first answer too, for the
 * idempotency retention: the number is closed to a codepay still on its
 * way. QB_E_STORAGE, QB_E_INTERNAL. */
QB_MUST_USE enum qb_error merchant_txn_codepay_refuse(struct ledger_txn *txn, const char *mchid,
                                                      const char *out_trade_no,
                                                      enum qb_error answer);
struct merchant_codepay_cmd {
    struct ledger_cmd cmd;
    const struct domain_env *env;
    struct merchant_order order; /* in: mchid, appid, out_trade_no, description, attach,
                                  * currency, total_minor, request_hash */
    char auth_code[MERCHANT_AUTH_CODE_SIZE_MAX];
    enum qb_error outcome; /* QB_OK for SUCCESS and USERPAYING, else the refusal */
    int64_t guesses_until_ms; /* RATE_LIMITED: when the owner's guessing window ends */
};
void merchant_codepay_cmd_init(struct merchant_codepay_cmd *c, const struct domain_env *env);

/* Revokes a payment-code order: USERPAYING or PAYERROR become REVOKED; a
 * SUCCESS one returns the money to the payer in one entry
 * (WALLET_CODE_ORDER_REVERSAL), tells the payer so (notice order_refunded
 * about the order's payment, for its total) and becomes REVOKED; REVOKED again is a
 * success. A retry of the order's codepay is answered ORDERREVERSED from
 * then on, never its first answer: a till that reversed a sale must not
 * take a replayed SUCCESS for a new one. Only an order made within
 * MERCHANT_REVERSE_WINDOW_MS is reversed, as WeChat's 7 days: an older sale
 * is refunded. Outcomes: QB_OK (order: the order after), ORDER_NOT_EXIST,
 * INVALID_REQUEST (not a payment-code order, or refunded, or too_old), NOT_ENOUGH (the
 * merchant's balance cannot return it), ACCOUNT_FROZEN (the merchant's or
 * the payer's account refuses the movement). */
struct merchant_reverse_cmd {
    struct ledger_cmd cmd;
    const struct domain_env *env;
    char mchid[MERCHANT_MCHID_SIZE];
    char out_trade_no[MERCHANT_OUT_TRADE_NO_SIZE_MAX];
    enum qb_error outcome;
    bool too_old; /* INVALID_REQUEST: made more than MERCHANT_REVERSE_WINDOW_MS ago */
    struct merchant_order order;
};
#define MERCHANT_REVERSE_WINDOW_MS (INT64_C(7) * 24 * 60 * 60 * 1000)
void merchant_reverse_cmd_init(struct merchant_reverse_cmd *c, const struct domain_env *env);

/* Writes REVOKED into a USERPAYING order (by transaction_id) whose
 * confirmation time has passed; outcome QB_OK when it did, CONFLICT when the
 * order is not such an order any more (confirmed, reversed, not due). */
struct merchant_userpaying_revoke_cmd {
    struct ledger_cmd cmd;
    const struct domain_env *env;
    char transaction_id[MERCHANT_TRANSACTION_ID_SIZE];
    enum qb_error outcome;
};
void merchant_userpaying_revoke_cmd_init(struct merchant_userpaying_revoke_cmd *c,
                                         const struct domain_env *env, const char *transaction_id);

/* The worker that writes REVOKED into payment-code orders nobody confirmed
 * in time (paycode_worker.c). Readers already see them REVOKED
 * (merchant_order_state_at); the worker makes the stored state agree, for
 * the merchant's bills and anything that reads the table. It keeps nothing
 * in memory: orders that fell due while the daemon was stopped are found by
 * its first pass. */
#define MERCHANT_PAYCODE_WORKER_POLL_MS 1000
struct merchant_paycode_worker;
QB_MUST_USE enum qb_error merchant_paycode_worker_start(const struct domain_env *env,
                                                        struct store_pool *pool,
                                                        struct merchant_paycode_worker **out);
void merchant_paycode_worker_stop(struct merchant_paycode_worker *w);
/* One pass, for tests: *revoked is how many orders it revoked. */
QB_MUST_USE enum qb_error merchant_paycode_worker_pass(const struct domain_env *env,
                                                       struct store_pool *pool, size_t *revoked);

/* The user's orders waiting for confirmation at now_ms, oldest first:
 * [{id, merchant: {mchid, name}, description, amount, currency,
 * out_trade_no, created_at, expires_at}] — id is the order's pay token. */
QB_MUST_USE enum qb_error merchant_pending_list(struct store *reader, const char *user_id,
                                                int64_t now_ms, json_t **out);
/* How many times an order came to wait for the user's confirmation or left
 * waiting (paid, reversed, or revoked once its time passed: by the worker,
 * within a poll of it) into *count (0: never): it changes whenever one
 * comes or goes, and only then. One read of a key. QB_E_STORAGE. */
QB_MUST_USE enum qb_error merchant_pending_changes(struct store *reader, const char *user_id,
                                                   int64_t *count);

#endif

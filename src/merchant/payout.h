/*
 * payout.h — a merchant paying a user (商家转账: WeChat Pay's
 * /v3/fund-app/mch-transfer/transfer-bills): cashback, a reward, a gig
 * worker's pay, a refund made outside an order.
 *
 * Owns: the payouts table and four commands. The money never leaves the
 * merchant's settlement account until its user says yes:
 *
 *   create   (the merchant) a hold on the merchant's balance for the user
 *            (WALLET_CODE_MERCHANT_PAYOUT, ref the payment id), the user's
 *            payments row (WALLET_MERCHANT_PAYOUT, PROCESSING) and the
 *            payout row, WAIT_USER_CONFIRM. Its transfer_bill_no is the
 *            payment's id; package_info, which the merchant's app hands to
 *            the wallet app to open the confirmation, is the same text.
 *   confirm  (the user, POST /v1/payouts/{id}/confirm) the hold captured:
 *            the money is in the user's balance, the payment SUCCESS, the
 *            payout SUCCESS.
 *   cancel   (the merchant, before the user confirms) the hold released:
 *            CANCELLED.
 *   close    (the merchant worker, MERCHANT_PAYOUT_CONFIRM_WINDOW_MS after
 *            the payout was made) the hold released: FAIL with fail_reason
 *            OVERDUE_CLOSE, as WeChat closes one nobody confirmed in 24 h.
 *
 * Each of the last three ends the payout and, in the same command, queues
 * its MCHTRANSFER.BILL.FINISHED notification (notify.h, original_type
 * "mch_payment") when the payout named a notify_url. The user's payment
 * ends with it (SUCCESS, or FAILED with failure_code PAYOUT_CLOSED), and
 * the user's bills show the money when it arrives (the capture), never a
 * payout that did not. The user is told (notice.h) in the command that
 * makes it: payout_waiting at the create, so a transfer nobody opened the
 * merchant's app for is still found; payout_failed at a cancel, a close
 * or an operator's stop, the money never theirs; nothing at their own
 * confirm.
 *
 * The create command's checks, in order, each a refusal that writes
 * nothing:
 *   1. out_bill_no seen before for this merchant: the same body
 *      (request_hash) answers the payout as it is now (merchant_payout_at:
 *      past its window, closed); another body is
 *      INVALID_REQUEST.
 *   2. the merchant: ACTIVE (NO_AUTH: suspended or closed);
 *   3. the appid one of the merchant's (APPID_MCHID_NOT_MATCH);
 *   4. the openid one given out in that app (INVALID_REQUEST): the user;
 *   5. the user's wallet takes money: not closed (USER_ACCOUNT_ABNORMAL),
 *      not frozen (ACCOUNT_FROZEN);
 *   5a. with user_name (the route decrypted it): the merchant has not
 *      named this user wrongly MERCHANT_PAYOUT_NAME_MISSES_MAX times in the
 *      window (FREQUENCY_LIMITED, before any comparison: env's
 *      payout_name_misses); the user's verified real name is that name,
 *      byte for byte (INVALID_REQUEST: the user verified none, or another,
 *      which counts a miss; the name is compared and forgotten, never
 *      kept). The refusal tells a merchant whether a name is a user's, so
 *      it may not guess one name after another;
 *   6. the merchant's available balance covers the amount (NOT_ENOUGH).
 * No fee is taken: a payout moves the amount from the merchant to the user.
 *
 * The confirm command's, in order: the payout is the user's (NOT_FOUND
 * otherwise, another user's alike); SUCCESS already answers it as it is;
 * CANCELLED, FAIL, or past its window while the worker has not closed it
 * yet: PAYOUT_CLOSED; the user's wallet not frozen (ACCOUNT_FROZEN: the
 * payout waits, and the user may confirm once it is unfrozen, within the
 * window); the merchant not suspended (MERCHANT_SUSPENDED: it waits alike,
 * as nothing leaves a suspended merchant's balance but its refunds).
 *
 * The cancel command's: the payout is the merchant's (NOT_FOUND); CANCELLED
 * already answers it as it is; SUCCESS (the user took it) and FAIL are
 * INVALID_REQUEST, as is one past its window that the worker has not
 * closed yet (merchant_payout_at: it is closed to all from then on).
 *
 * An operator's stop, on a report of fraud (a merchant's key stolen to pay
 * mules, a user tricked into taking money to pass on): a payout still
 * waiting ends FAIL with fail_reason TRANSFER_RISK (WeChat's 转账存在风险),
 * the money back to the merchant, the user's payment FAILED with
 * TRANSFER_STOPPED; one stopped already is answered as it is; any other end
 * is CONFLICT (taken, cancelled or closed, or past its window: nothing to
 * stop).
 */
#ifndef QB_MERCHANT_PAYOUT_H
#define QB_MERCHANT_PAYOUT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "identity/identity.h"
#include "merchant/merchant.h"
#include "merchant/order.h"
#include "store/pool.h"
#include "wallet/wallet.h"

#define MERCHANT_OUT_BILL_NO_SIZE_MAX 33    /* 5..32 of [0-9A-Za-z] + NUL, as WeChat's */
#define MERCHANT_SCENE_ID_SIZE_MAX 37       /* transfer_scene_id: up to 36 digits + NUL */
#define MERCHANT_PAYOUT_REMARK_CHARS_MAX 32 /* transfer_remark: characters, not bytes */
#define MERCHANT_PAYOUT_REMARK_SIZE_MAX WALLET_MEMO_SIZE_MAX
#define MERCHANT_PERCEPTION_SIZE_MAX 65 /* user_recv_perception: 64 bytes + NUL */
#define MERCHANT_FAIL_REASON_SIZE_MAX 32
/* The smallest payout, ¥0.10; from ¥2,000 the payee's name (user_name) is
 * required, as WeChat requires it; the largest, ¥200,000, Qianbao's cap on
 * one transfer to a user. */
#define MERCHANT_PAYOUT_MIN_MINOR 10
#define MERCHANT_PAYOUT_NAMED_MIN_MINOR INT64_C(200000)
#define MERCHANT_PAYOUT_MAX_MINOR INT64_C(20000000)
/* A merchant may name one user wrongly this many times in a window, then
 * names no user of its in that window: enough for a typo or two. */
#define MERCHANT_PAYOUT_NAME_MISSES_MAX 5
/* The refusal of a merchant that named the user wrongly too often. */
#define MERCHANT_PAYOUT_NAMES_LIMITED_MESSAGE                                                      \
    "频率超限: this user was named wrongly five times in 24 hours; check the name with them"
/* Whether mchid has named user_id wrongly MERCHANT_PAYOUT_NAME_MISSES_MAX
 * times in the window at now_ms (env->payout_name_misses), so that it may
 * name them no more: the command asks before it compares a name, and the
 * HTTP layer before it opens one (the platform key's RSA is the request's
 * dearest step); *key (MERCHANT_PAYOUT_NAME_KEY_SIZE) the limit's key. */
#define MERCHANT_PAYOUT_NAME_KEY_SIZE (MERCHANT_MCHID_SIZE + 1 + ID_TEXT_SIZE_MAX)
bool merchant_payout_names_limited(const struct domain_env *env, const char *mchid,
                                   const char *user_id, int64_t now_ms,
                                   char key[MERCHANT_PAYOUT_NAME_KEY_SIZE]);
#define MERCHANT_PAYOUT_NAME_WINDOW_MS (INT64_C(24) * 60 * 60 * 1000)
/* How long a user has to confirm: 24 hours. */
#define MERCHANT_PAYOUT_CONFIRM_WINDOW_MS (INT64_C(24) * 60 * 60 * 1000)
#define MERCHANT_PAYOUT_PAGE_MAX 100 /* waiting payouts one page of a user's list holds */

/* Stored: never renumber. The API's names are WeChat's. */
enum merchant_payout_state {
    MERCHANT_PAYOUT_WAIT_USER_CONFIRM = 1,
    MERCHANT_PAYOUT_SUCCESS = 2,
    MERCHANT_PAYOUT_CANCELLED = 3,
    MERCHANT_PAYOUT_FAIL = 4,
};

struct merchant_payout {
    char transfer_bill_no[ID_TEXT_SIZE_MAX]; /* the user's payment id ("p_...") */
    int64_t seq;                             /* the payment's seq: the user's list's key */
    char mchid[MERCHANT_MCHID_SIZE];
    char out_bill_no[MERCHANT_OUT_BILL_NO_SIZE_MAX];
    uint8_t request_hash[CRYPTO_SHA256_SIZE];
    char appid[MERCHANT_APPID_SIZE];
    char openid[MERCHANT_OPENID_SIZE];
    char user_id[ID_TEXT_SIZE_MAX];
    char scene_id[MERCHANT_SCENE_ID_SIZE_MAX];
    char perception[MERCHANT_PERCEPTION_SIZE_MAX]; /* "" for none */
    const struct currency *currency;
    int64_t amount_minor;
    char remark[MERCHANT_PAYOUT_REMARK_SIZE_MAX];
    char notify_url[MERCHANT_NOTIFY_URL_SIZE_MAX]; /* "" for none */
    enum merchant_payout_state state;
    char fail_reason[MERCHANT_FAIL_REASON_SIZE_MAX]; /* FAIL: "OVERDUE_CLOSE"; else "" */
    int64_t hold_id;
    int64_t entry_id; /* the capture or release; 0 while waiting */
    int64_t created_at_ms;
    int64_t updated_at_ms;
    int64_t expires_at_ms;
};

/* "WAIT_USER_CONFIRM", "SUCCESS", "CANCELLED", "FAIL". */
const char *merchant_payout_state_name(enum merchant_payout_state state);
/* True when text is a valid out_bill_no: 5 to 32 ASCII letters and digits. */
bool merchant_out_bill_no_is_valid(const char *text);
/* True when text is a valid transfer_scene_id: 1 to 36 digits. */
bool merchant_scene_id_is_valid(const char *text);

/* Reads a payout: merchant mchid's by out_bill_no, or with out_bill_no
 * NULL by transfer_bill_no (mchid NULL: anyone's, for the user's routes,
 * which check the user themselves). QB_E_NOT_FOUND for none (another
 * merchant's alike), QB_E_STORAGE, QB_E_INTERNAL for a row no writer made. */
QB_MUST_USE enum qb_error merchant_payout_get(struct store *reader, const char *mchid,
                                              const char *out_bill_no, const char *transfer_bill_no,
                                              struct merchant_payout *out);

/* Payout p, read from its row, as a reader tells it at at_ms: one still
 * waiting at or past its expires_at_ms reads as the worker's close will
 * leave it, FAIL with fail_reason OVERDUE_CLOSE, updated at the end of its
 * window, since a confirm would meet PAYOUT_CLOSED and a cancel "failed
 * already" from then on, whatever the worker's pace. Nothing is written.
 * at_ms is ledger_settled_ms read BEFORE the row (ledger.h), so that a
 * confirm that ran in time and is still committing is not told closed. */
void merchant_payout_at(struct merchant_payout *p, int64_t at_ms);

/* Payment p, a user's as wallet_payment_get read it, as a reader tells it
 * at at_ms: the payment of a payout that merchant_payout_at tells ended
 * while the payment still reads PROCESSING reads as that end will leave it
 * (FAILED with failure_code PAYOUT_CLOSED, updated at the end of the
 * payout's window), by the rule the ending command follows. Any other
 * payment is left as it is. Nothing is written; at_ms as for
 * merchant_payout_at. QB_E_STORAGE, QB_E_INTERNAL for a payout's payment
 * without its payout. */
QB_MUST_USE enum qb_error merchant_payout_payment_at(struct store *reader, struct wallet_payment *p,
                                                     int64_t at_ms);

/* user_id's payouts waiting for them (WAIT_USER_CONFIRM) at at_ms (as
 * merchant_payout_at tells them), newest first: those with a seq below
 * before_seq (0: from the newest), at most room into rows, their number in
 * *count. QB_E_STORAGE, QB_E_INTERNAL. */
QB_MUST_USE enum qb_error merchant_payouts_waiting(struct store *reader, const char *user_id,
                                                   int64_t at_ms, int64_t before_seq,
                                                   struct merchant_payout *rows, size_t room,
                                                   size_t *count);
/* The same for mchid's payouts, in every state or (waiting_only) only
 * WAIT_USER_CONFIRM, each as merchant_payout_at tells it at at_ms: what an
 * operator reads of a merchant whose key may be in a thief's hands. */
QB_MUST_USE enum qb_error merchant_payouts_of(struct store *reader, const char *mchid,
                                              bool waiting_only, int64_t at_ms, int64_t before_seq,
                                              struct merchant_payout *rows, size_t room,
                                              size_t *count);

/* What the payouts of mchid held at at_ms: made before it and ended at or
 * after it, or not ended yet (a payout's updated_at moves only when it
 * ends). For the day-end balance, beside what withdrawals held. */
QB_MUST_USE enum qb_error merchant_payouts_held_at(struct store *reader, const char *mchid,
                                                   int64_t at_ms, int64_t *held_minor);

/* The payouts waiting for their users (WAIT_USER_CONFIRM), and the earliest
 * time one of them closes (0: none), for an operator's metrics: one past
 * it says the worker that closes them is behind. QB_E_STORAGE. */
QB_MUST_USE enum qb_error merchant_payouts_backlog(struct store *reader, int64_t *waiting,
                                                   int64_t *next_close_ms);

/* WeChat's transfer bill, as the queries answer it: mch_id, out_bill_no,
 * transfer_bill_no, appid, state, transfer_amount, transfer_remark,
 * fail_reason (FAIL only), openid, create_time, update_time. NULL when out
 * of memory. */
json_t *merchant_payout_json(const struct merchant_payout *p);

/* The merchant's create. in: payout.mchid, out_bill_no, request_hash,
 * appid, openid, scene_id, perception, amount_minor, remark, notify_url,
 * and user_name ("" for none; the command wipes it); out: the payout (new,
 * or the earlier one). */
struct merchant_payout_create_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    const struct domain_env *env;
    struct merchant_payout payout;
    char user_name[IDENTITY_REAL_NAME_SIZE_MAX];
    enum qb_error outcome;
    const char *message; /* a static text for the refusal, or NULL */
};
void merchant_payout_create_cmd_init(struct merchant_payout_create_cmd *c,
                                     const struct domain_env *env);

/* The end of a payout: the user's confirm (user_id), the merchant's cancel
 * (mchid and out_bill_no), or the worker's close (transfer_bill_no, by
 * nobody: it closes only a payout still waiting and past its window, and
 * leaves any other alone with outcome QB_E_CONFLICT). in: as said;
 * out: the payout as it is now. */
enum merchant_payout_end {
    MERCHANT_PAYOUT_CONFIRM = 1,
    MERCHANT_PAYOUT_CANCEL = 2,
    MERCHANT_PAYOUT_CLOSE = 3,
    MERCHANT_PAYOUT_STOP = 4, /* an operator's, by transfer_bill_no */
};
struct merchant_payout_end_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    const struct domain_env *env;
    enum merchant_payout_end end;
    char user_id[ID_TEXT_SIZE_MAX];                  /* CONFIRM */
    char mchid[MERCHANT_MCHID_SIZE];                 /* CANCEL */
    char out_bill_no[MERCHANT_OUT_BILL_NO_SIZE_MAX]; /* CANCEL */
    char transfer_bill_no[ID_TEXT_SIZE_MAX];         /* CONFIRM, CLOSE, STOP */
    enum qb_error outcome;
    const char *message; /* a static text for the refusal, or NULL */
    struct merchant_payout payout;
    char merchant_name[MERCHANT_NAME_SIZE_MAX]; /* the payout's merchant's, as it is now */
    bool changed; /* this command ended it (false: it had ended so already) */
};
void merchant_payout_end_cmd_init(struct merchant_payout_end_cmd *c, const struct domain_env *env,
                                  enum merchant_payout_end end);

/* Checks every payout against the user's payment and the journal
 * (read-only, for the operator's check, wallet_verify): the payment its
 * user's, of kind WALLET_MERCHANT_PAYOUT and its amount; its hold
 * (WALLET_CODE_MERCHANT_PAYOUT, ref the payment, the merchant's account
 * holding the amount for the user's); and by its state the hold still
 * open (WAIT_USER_CONFIRM, the payment PROCESSING), captured whole to the
 * user (SUCCESS) or released (CANCELLED, FAIL; the payment FAILED) by the
 * entry both rows name; and no such hold in the journal beyond those.
 * QB_OK, QB_E_STORAGE, or QB_E_INTERNAL with what is wrong in problem.
 * *payouts: those checked. */
QB_MUST_USE enum qb_error merchant_payouts_check(struct store *reader, int64_t *payouts,
                                                 char *problem, size_t problem_size);

/* The worker's part: closes up to a batch of payouts past their window
 * after *due (domain_due_ids), one command each, *closed of them. *more:
 * the batch came full, so more may be due right after it. QB_E_STORAGE,
 * or the ledger's refusal. (Run by the payment-code worker's thread,
 * paycode_worker.c.) */
QB_MUST_USE enum qb_error merchant_payouts_close_due(const struct domain_env *env,
                                                     struct store_pool *pool,
                                                     const atomic_bool *stopping,
                                                     struct domain_due_cursor *due, size_t *closed,
                                                     bool *more);

#endif

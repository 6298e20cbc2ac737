/*
 * refund.c — the refunds table, the refund command and the refund's JSON
 * (refund.h has the rules and the order of checks).
 *
 * Built like the payment (pay.c): every read first, each refusal answered
 * through `outcome` with QB_OK to the ledger (nothing was written yet), and
 * only then the entry, the rows and the outbox, which can no longer be
 * refused — an error there returns to the ledger and rolls back all.
 */
#include <stdio.h>
#include <string.h>

#include "identity/identity.h"
#include "merchant/notify.h"
#include "merchant/refund.h"
#include "wallet/notice.h"

#define S_COLUMNS                                                                                  \
    "refund_id, mchid, out_refund_no, transaction_id, out_trade_no, request_hash, reason,"       \
    " notify_url, currency, total_minor, refund_minor, fee_refund_minor, status, payment_id,"    \
    " entry_id, created_at_ms, success_at_ms"

bool merchant_out_refund_no_is_valid(const char *text)
{
    if (text == NULL)
        return false;
    size_t size = strlen(text);
    return size >= 1 && size <= MERCHANT_OUT_REFUND_NO_SIZE_MAX - 1 &&
           strspn(text, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-|*@") ==
               size;
}

/* fee × refunded / total, rounded half up, exactly. The product can reach
 * 10^11 × 10^12, past int64, so refunded is split at 2^20 and the division
 * carried like long division: every intermediate stays below 2.2 × 10^18. */
static int64_t S_fee_share(int64_t fee_minor, int64_t total_minor, int64_t refunded_minor)
{
    const int64_t split = INT64_C(1) << 20;
    int64_t high = fee_minor * (refunded_minor / split); /* <= 10^12 × 953675 */
    int64_t low = fee_minor * (refunded_minor % split);  /* <= 10^12 × 2^20 */
    int64_t rest = (high % total_minor) * split + low;   /* < 2.1 × 10^18 */
    int64_t quotient = (high / total_minor) * split + rest / total_minor;
    int64_t remainder = rest % total_minor; /* fee × refunded = quotient × total + remainder */
    int64_t share = quotient + (2 * remainder >= total_minor ? 1 : 0);
    QB_ASSERT(share >= 0 && share <= fee_minor);
    return share;
}

int64_t merchant_fee_refund(int64_t fee_minor, int64_t total_minor, int64_t refunded_minor,
                            int64_t refund_minor)
{
    QB_ASSERT(total_minor > 0 && total_minor <= MERCHANT_ORDER_TOTAL_MAX_MINOR);
    QB_ASSERT(fee_minor >= 0 && fee_minor <= total_minor);
    QB_ASSERT(refunded_minor >= 0 && refund_minor > 0 && refund_minor <= total_minor - refunded_minor);
    int64_t before = S_fee_share(fee_minor, total_minor, refunded_minor);
    int64_t after = S_fee_share(fee_minor, total_minor, refunded_minor + refund_minor);
    QB_ASSERT(after >= before && after - before <= refund_minor);
    return after - before;
}

size_t merchant_refund_legs(int64_t payer_account, int64_t merchant_account, int64_t fee_income,
                            int64_t refund_minor, int64_t fee_share_minor,
                            struct ledger_leg legs[3])
{
    QB_ASSERT(refund_minor > 0 && fee_share_minor >= 0 && fee_share_minor <= refund_minor);
    size_t count = 0;
    legs[count++] = (struct ledger_leg){payer_account, refund_minor};
    if (refund_minor - fee_share_minor > 0)
        legs[count++] = (struct ledger_leg){merchant_account, -(refund_minor - fee_share_minor)};
    if (fee_share_minor > 0)
        legs[count++] = (struct ledger_leg){fee_income, -fee_share_minor};
    QB_ASSERT(count >= 2 && count <= 3);
    return count;
}

static enum qb_error S_row(struct store_stmt *st, struct merchant_refund *r)
{
    memset(r, 0, sizeof *r);
    store_column_text_copy(st, 0, r->refund_id, sizeof r->refund_id);
    store_column_text_copy(st, 1, r->mchid, sizeof r->mchid);
    store_column_text_copy(st, 2, r->out_refund_no, sizeof r->out_refund_no);
    store_column_text_copy(st, 3, r->transaction_id, sizeof r->transaction_id);
    store_column_text_copy(st, 4, r->out_trade_no, sizeof r->out_trade_no);
    if (store_column_size(st, 5) != sizeof r->request_hash)
        return QB_E_INTERNAL;
    memcpy(r->request_hash, store_column_blob(st, 5), sizeof r->request_hash);
    store_column_text_copy(st, 6, r->reason, sizeof r->reason);
    store_column_text_copy(st, 7, r->notify_url, sizeof r->notify_url);
    char currency[8];
    store_column_text_copy(st, 8, currency, sizeof currency);
    r->currency = currency_find(currency);
    r->total_minor = store_column_int64(st, 9);
    r->refund_minor = store_column_int64(st, 10);
    r->fee_refund_minor = store_column_int64(st, 11);
    r->status = (enum merchant_refund_status)store_column_int64(st, 12);
    store_column_text_copy(st, 13, r->payment_id, sizeof r->payment_id);
    r->entry_id = store_column_int64(st, 14);
    r->created_at_ms = store_column_int64(st, 15);
    r->success_at_ms = store_column_int64(st, 16);
    bool ok = r->currency != NULL && r->status >= MERCHANT_REFUND_SUCCESS &&
              r->status <= MERCHANT_REFUND_CLOSED && r->refund_minor > 0 &&
              r->refund_minor <= r->total_minor;
    return ok ? QB_OK : QB_E_INTERNAL;
}

enum qb_error merchant_refund_get(struct store *reader, const char *mchid, const char *out_refund_no,
                                  struct merchant_refund *out)
{
    QB_ASSERT(reader != NULL && mchid != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    if (!merchant_out_refund_no_is_valid(out_refund_no))
        return QB_E_RESOURCE_NOT_EXISTS;
    struct store_stmt *st = NULL;
    if (store_prepare(reader,
                      "SELECT " S_COLUMNS " FROM refunds WHERE out_refund_no = $1 AND mchid = $2",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, out_refund_no, strlen(out_refund_no));
    if (err == QB_OK)
        err = store_bind_text(st, 2, mchid, strlen(mchid));
    if (err == QB_OK) {
        int rc = store_step(st);
        if (rc == STORE_STEP_ROW)
            err = S_row(st, out);
        else
            err = rc == STORE_STEP_DONE ? QB_E_RESOURCE_NOT_EXISTS : QB_E_STORAGE;
    }
    store_finalize(st);
    return err;
}

static const char *S_status_name(enum merchant_refund_status status)
{
    switch (status) {
    case MERCHANT_REFUND_SUCCESS:
        return "SUCCESS";
    case MERCHANT_REFUND_PROCESSING:
        return "PROCESSING";
    case MERCHANT_REFUND_ABNORMAL:
        return "ABNORMAL";
    case MERCHANT_REFUND_CLOSED:
        return "CLOSED";
    }
    return "UNKNOWN";
}

#define S_RECEIVED_ACCOUNT "支付用户零钱"

json_t *merchant_refund_json(const struct merchant_refund *r)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:s,"
                     " s:{s:I, s:I, s:[], s:I, s:I, s:I, s:I, s:I, s:s, s:I}, s:[]}",
                     "refund_id", r->refund_id, "out_refund_no", r->out_refund_no,
                     "transaction_id", r->transaction_id, "out_trade_no", r->out_trade_no,
                     "channel", "ORIGINAL", "user_received_account", S_RECEIVED_ACCOUNT,
                     "success_time", domain_time_json(r->success_at_ms), "create_time",
                     domain_time_json(r->created_at_ms), "status", S_status_name(r->status),
                     "funds_account", "AVAILABLE", "amount", "total", (json_int_t)r->total_minor,
                     "refund", (json_int_t)r->refund_minor, "from", "payer_total",
                     (json_int_t)r->total_minor, "payer_refund", (json_int_t)r->refund_minor,
                     "settlement_refund", (json_int_t)r->refund_minor, "settlement_total",
                     (json_int_t)r->total_minor, "discount_refund", (json_int_t)0, "currency",
                     r->currency->code, "refund_fee", (json_int_t)r->fee_refund_minor,
                     "promotion_detail");
}

/* The resource of a REFUND.SUCCESS notification, as WeChat has it. */
static json_t *S_notify_json(const struct merchant_refund *r)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:{s:I, s:I, s:I, s:I}}", "mchid",
                     r->mchid, "out_trade_no", r->out_trade_no, "transaction_id",
                     r->transaction_id, "out_refund_no", r->out_refund_no, "refund_id",
                     r->refund_id, "refund_status", S_status_name(r->status), "success_time",
                     domain_time_json(r->success_at_ms), "user_received_account",
                     S_RECEIVED_ACCOUNT, "amount", "total", (json_int_t)r->total_minor, "refund",
                     (json_int_t)r->refund_minor, "payer_total", (json_int_t)r->total_minor,
                     "payer_refund", (json_int_t)r->refund_minor);
}

/* --- create --------------------------------------------------------------------------- */

/* A refusal: the outcome for the merchant API's answer; for the owner's,
 * in /v1's code, the stored answer. */
static enum qb_error S_refuse(struct merchant_refund_create_cmd *c, enum qb_error err,
                              const char *message)
{
    if (c->owner_user_id[0] != '\0')
        err = err == QB_E_RESOURCE_NOT_EXISTS ? QB_E_ORDER_NOT_EXIST
              : err == QB_E_INVALID_REQUEST   ? QB_E_CONFLICT
              : err == QB_E_NOT_ENOUGH        ? QB_E_INSUFFICIENT_BALANCE
                                              : err;
    c->outcome = err;
    c->message = message;
    return c->owner_user_id[0] != '\0' ? domain_response_error(&c->cmd, err, message, NULL) : QB_OK;
}

enum qb_error merchant_refunded(struct store *store, const char *transaction_id, int64_t *count,
                                int64_t *refund_minor)
{
    struct store_stmt *st = NULL;
    if (store_prepare(store,
                      "SELECT COUNT(*), COALESCE(SUM(refund_minor), 0) FROM refunds"
                      " WHERE transaction_id = $1",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, transaction_id, strlen(transaction_id));
    if (err == QB_OK) {
        if (store_step(st) == STORE_STEP_ROW) {
            *count = store_column_int64(st, 0);
            *refund_minor = store_column_int64(st, 1);
        } else {
            err = QB_E_STORAGE;
        }
    }
    store_finalize(st);
    return err;
}

static enum qb_error S_create_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct merchant_refund_create_cmd *c = (struct merchant_refund_create_cmd *)cmd;
    struct merchant_refund *r = &c->refund;
    const struct domain_env *env = c->env;
    struct store *store = ledger_txn_store(txn);
    bool owner = c->owner_user_id[0] != '\0';
    QB_ASSERT((owner || merchant_out_refund_no_is_valid(r->out_refund_no)) && r->refund_minor > 0);
    QB_ASSERT(memchr(c->payment_password, '\0', sizeof c->payment_password) != NULL);
    c->outcome = QB_E_INTERNAL;
    c->message = NULL;
    c->password_try = (struct identity_password_try){0, 0};
    int64_t now_ms = ledger_txn_now_ms(txn);

    /* 1. The same number again: the same refund when it names the same
     * order and amounts, as WeChat compares them (a retry may change its
     * reason or notify_url, and name the order by its other number). */
    enum qb_error err;
    if (!owner) {
        struct merchant_refund earlier;
        err = merchant_refund_get(store, r->mchid, r->out_refund_no, &earlier);
        if (err == QB_OK) {
            bool same_order = r->transaction_id[0] != '\0'
                                  ? strcmp(r->transaction_id, earlier.transaction_id) == 0
                                  : strcmp(r->out_trade_no, earlier.out_trade_no) == 0;
            if (!same_order || r->refund_minor != earlier.refund_minor ||
                r->total_minor != earlier.total_minor)
                return S_refuse(c, QB_E_INVALID_REQUEST,
                                "out_refund_no was used for another refund: its order or amounts"
                                " differ (订单金额或退款金额与之前请求不一致)");
            *r = earlier;
            c->outcome = QB_OK;
            return QB_OK;
        }
        if (err != QB_E_RESOURCE_NOT_EXISTS)
            return err;
    }

    /* 2. The order, 3. paid, 4. its total, 5. in time. */
    struct merchant_order o;
    err = merchant_order_get(store, r->mchid, r->transaction_id[0] != '\0' ? NULL : r->out_trade_no,
                             r->transaction_id[0] != '\0' ? r->transaction_id : NULL, &o);
    if (err == QB_E_ORDER_NOT_EXIST)
        return S_refuse(c, QB_E_RESOURCE_NOT_EXISTS, "订单不存在");
    if (err != QB_OK)
        return err;
    enum merchant_trade_state state = merchant_order_state_at(&o, now_ms);
    if (state != MERCHANT_SUCCESS && state != MERCHANT_REFUND)
        return S_refuse(c, QB_E_INVALID_REQUEST, "the order is not paid (订单未支付)");
    if (owner)
        r->total_minor = o.total_minor;
    if (r->total_minor != o.total_minor)
        return S_refuse(c, QB_E_PARAM, "amount.total must be the order's total");
    if (now_ms - o.success_at_ms > MERCHANT_REFUND_WINDOW_MS)
        return S_refuse(c, QB_E_INVALID_REQUEST,
                        "the order was paid more than a year ago (订单已超过退款期限)");

    /* 6. How many, 7. how much. */
    int64_t count = 0, refunded = 0;
    err = merchant_refunded(store, o.transaction_id, &count, &refunded);
    if (err != QB_OK)
        return err;
    QB_ASSERT(refunded >= 0 && refunded <= o.total_minor);
    if (count >= MERCHANT_REFUNDS_PER_ORDER_MAX)
        return S_refuse(c, QB_E_INVALID_REQUEST,
                        "an order may be refunded 50 times at most (退款次数超过限制)");
    if (r->refund_minor > o.total_minor - refunded)
        return S_refuse(c, QB_E_INVALID_REQUEST,
                        "the refund exceeds what is left to refund (申请退款金额超过订单可退金额)");

    /* 8. The merchant pays its part, 9. the payer can take it. */
    struct merchant m;
    err = merchant_get(env, store, o.mchid, &m);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err;
    int64_t fee_share = merchant_fee_refund(o.fee_minor, o.total_minor, refunded, r->refund_minor);
    int64_t merchant_part = r->refund_minor - fee_share;
    struct ledger_account_view merchant_account;
    if (ledger_txn_account_get(txn, m.account_id, &merchant_account) != QB_OK)
        return QB_E_INTERNAL;
    if ((merchant_account.flags & (LEDGER_ACCOUNT_DEBIT_FROZEN | LEDGER_ACCOUNT_CLOSED)) != 0 ||
        merchant_account.available_minor < merchant_part)
        return S_refuse(c, QB_E_NOT_ENOUGH,
                        "商户余额不足 (the merchant's balance cannot return this refund)");
    struct identity_user payer;
    err = identity_txn_user_get(txn, env, o.payer_user_id, &payer);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : QB_E_STORAGE;
    struct ledger_account_view payer_account;
    if (ledger_txn_account_get(txn, payer.account_id, &payer_account) != QB_OK)
        return QB_E_INTERNAL;
    /* WeChat's answer for a payer who closed the wallet: the merchant
     * settles with them some other way. */
    if ((payer_account.flags & LEDGER_ACCOUNT_CLOSED) != 0)
        return S_refuse(c, QB_E_USER_ACCOUNT_ABNORMAL,
                        "退款请求失败, 用户帐号注销 (the payer closed their wallet: settle this "
                        "refund with them directly)");
    if ((payer_account.flags & LEDGER_ACCOUNT_CREDIT_FROZEN) != 0)
        return S_refuse(c, QB_E_ACCOUNT_FROZEN, "the payer's account cannot take the refund");
    if (owner) {
        /* The owner's word moves the shop's money: not while their wallet
         * is frozen, and only with their payment password. */
        struct identity_user holder;
        err = identity_txn_user_get(txn, env, c->owner_user_id, &holder);
        if (err != QB_OK)
            return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : QB_E_STORAGE;
        if (holder.status != IDENTITY_ACTIVE)
            return S_refuse(c, QB_E_ACCOUNT_FROZEN,
                            "your wallet is frozen: unfreeze it to refund from it");
        err = identity_txn_payment_password_verify(txn, env, c->owner_user_id, c->payment_password,
                                                   &c->password_try);
        if (err == QB_E_PASSWORD_WRONG || err == QB_E_PASSWORD_LOCKED) {
            c->outcome = err;
            return identity_password_refusal_response(&c->cmd, err, &c->password_try);
        }
        if (err == QB_E_PASSWORD_NOT_SET)
            return S_refuse(c, err, NULL);
        if (err != QB_OK)
            return err;
    }
    QB_ASSERT(payer_account.currency == o.currency && merchant_account.currency == o.currency);

    /* The entry and the payer's payment row. */
    struct wallet_payment p;
    err = wallet_txn_payment_new(txn, env->rand, &p);
    if (err != QB_OK)
        return err;
    p.kind = WALLET_ORDER_REFUND;
    snprintf(p.user_id, sizeof p.user_id, "%s", payer.id);
    snprintf(p.counterparty_id, sizeof p.counterparty_id, "%s", m.mchid);
    p.currency = o.currency;
    p.amount_minor = r->refund_minor;
    snprintf(p.memo, sizeof p.memo, "%s", r->reason[0] != '\0' ? r->reason : o.description);
    p.status = WALLET_SUCCESS;
    struct ledger_leg legs[3];
    size_t leg_count = merchant_refund_legs(
        payer.account_id, m.account_id, env->accounts.fee_income, r->refund_minor, fee_share, legs);
    err = ledger_txn_post(txn, WALLET_CODE_ORDER_REFUND, p.id, legs, leg_count, &p.entry_id);
    if (err != QB_OK)
        return err;
    QB_ASSERT(p.entry_id > 0);
    err = wallet_txn_payment_insert(txn, &p);
    if (err != QB_OK)
        return QB_E_STORAGE;
    err = wallet_txn_notice_payment(txn, env->rand, payer.id, WALLET_NOTICE_ORDER_REFUNDED, &p);
    if (err != QB_OK)
        return err;

    /* The refund row: "50", the UTC+8 date, 19 random digits. */
    char stamp[40];
    clock_format_rfc3339(now_ms, 8 * 60, stamp, sizeof stamp);
    char *id = r->refund_id;
    memcpy(id, "50", 2);
    memcpy(id + 2, stamp, 4);
    memcpy(id + 6, stamp + 5, 2);
    memcpy(id + 8, stamp + 8, 2);
    for (size_t i = 10; i < MERCHANT_REFUND_ID_SIZE - 1; i++)
        id[i] = (char)('0' + rand_below(env->rand, 10));
    id[MERCHANT_REFUND_ID_SIZE - 1] = '\0';
    if (owner)
        snprintf(r->out_refund_no, sizeof r->out_refund_no, "QB%s", r->refund_id);
    snprintf(r->transaction_id, sizeof r->transaction_id, "%s", o.transaction_id);
    snprintf(r->out_trade_no, sizeof r->out_trade_no, "%s", o.out_trade_no);
    r->currency = o.currency;
    r->fee_refund_minor = fee_share;
    r->status = MERCHANT_REFUND_SUCCESS;
    snprintf(r->payment_id, sizeof r->payment_id, "%s", p.id);
    r->entry_id = p.entry_id;
    r->created_at_ms = r->success_at_ms = now_ms;
    const struct store_param params[] = {
        STORE_TEXT(r->refund_id),
        STORE_TEXT(r->mchid),
        STORE_TEXT(r->out_refund_no),
        STORE_TEXT(r->transaction_id),
        STORE_TEXT(r->out_trade_no),
        STORE_BLOB(r->request_hash, sizeof r->request_hash),
        STORE_TEXT(r->reason),
        STORE_TEXT(r->notify_url),
        STORE_TEXT(r->currency->code),
        STORE_INT(r->total_minor),
        STORE_INT(r->refund_minor),
        STORE_INT(r->fee_refund_minor),
        STORE_INT(r->status),
        STORE_TEXT(r->payment_id),
        STORE_INT(r->entry_id),
        STORE_INT(r->created_at_ms),
        STORE_INT(r->success_at_ms),
    };
    err = store_run(store,
                    "INSERT INTO refunds (" S_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
                    " $9, $10, $11, $12, $13, $14, $15, $16, $17)",
                    params, QB_ARRAY_COUNT(params));
    if (err != QB_OK)
        return QB_E_STORAGE;

    /* The order, and the notification: to the refund's notify_url, else
     * the order's. */
    o.state = MERCHANT_REFUND;
    o.updated_at_ms = now_ms;
    err = merchant_txn_order_update(txn, &o);
    if (err != QB_OK)
        return QB_E_STORAGE;
    json_t *resource = S_notify_json(r);
    if (resource == NULL)
        return QB_E_INTERNAL;
    err = merchant_txn_notify_add(txn, env, r->mchid,
                                  r->notify_url[0] != '\0' ? r->notify_url : o.notify_url,
                                  "REFUND.SUCCESS", "refund", r->refund_id, "退款成功", resource);
    json_decref(resource);
    if (err != QB_OK)
        return err;
    c->outcome = QB_OK;
    if (!owner)
        return QB_OK;
    json_t *answer = merchant_refund_json(r);
    err = answer != NULL ? domain_response_set(&c->cmd, 200, answer) : QB_E_INTERNAL;
    json_decref(answer);
    return err;
}

/* --- the operator's check ------------------------------------------------------------- */

/* What is wrong with refund r, read from its row (NULL: nothing). */
static enum qb_error S_check_one(struct store *reader, const struct merchant_refund *r,
                                 const char **wrong)
{
    *wrong = NULL;
    /* Only SUCCESS is written: the money moves inside the refund's command. */
    if (r->status != MERCHANT_REFUND_SUCCESS) {
        *wrong = "its status is none Qianbao writes";
        return QB_OK;
    }
    if (r->fee_refund_minor < 0 || r->fee_refund_minor > r->refund_minor) {
        *wrong = "its fee share is more than it returns";
        return QB_OK;
    }
    struct merchant_order o;
    enum qb_error err = merchant_order_get(reader, r->mchid, NULL, r->transaction_id, &o);
    if (err == QB_E_ORDER_NOT_EXIST || err == QB_E_INTERNAL) {
        *wrong = "its order is not one of its merchant's";
        return QB_OK;
    }
    if (err != QB_OK)
        return err;
    if (strcmp(o.out_trade_no, r->out_trade_no) != 0 || o.total_minor != r->total_minor ||
        o.currency != r->currency || o.state != MERCHANT_REFUND) {
        *wrong = "its order says otherwise (another number, total or currency, or not refunded)";
        return QB_OK;
    }
    struct merchant_order_accounts a;
    err = merchant_order_accounts_read(reader, o.payer_user_id, o.mchid, o.currency, &a);
    if (err == QB_E_NOT_FOUND) {
        *wrong = "its payer, its merchant or fee income is not in the books";
        return QB_OK;
    }
    if (err != QB_OK)
        return err;
    struct merchant_payment_want w = {
        .payment_id = r->payment_id,
        .kind = WALLET_ORDER_REFUND,
        .code = WALLET_CODE_ORDER_REFUND,
        .payer_user_id = o.payer_user_id,
        .mchid = r->mchid,
        .currency = r->currency,
        .amount_minor = r->refund_minor,
        .entry_id = r->entry_id,
        .at_ms = r->success_at_ms,
    };
    w.leg_count = merchant_refund_legs(a.payer, a.merchant, a.fee_income, r->refund_minor,
                                       r->fee_refund_minor, w.legs);
    return merchant_payment_check(reader, &w, wrong);
}

enum qb_error merchant_refunds_check(struct store *reader, int64_t *refunds, char *problem,
                                     size_t problem_size)
{
    QB_ASSERT(reader != NULL && refunds != NULL && problem != NULL && problem_size > 0);
    struct store_stmt *st = NULL;
    if (store_prepare(reader, "SELECT " S_COLUMNS " FROM refunds ORDER BY seq", &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = QB_OK;
    int rc;
    while (err == QB_OK && (rc = store_step(st)) == STORE_STEP_ROW) {
        struct merchant_refund r;
        const char *wrong = NULL;
        if (S_row(st, &r) != QB_OK)
            wrong = "its row is not one Qianbao writes (a status, currency or amount it does not "
                    "know)";
        else
            err = S_check_one(reader, &r, &wrong);
        if (err == QB_OK && wrong != NULL) {
            snprintf(problem, problem_size, "refund %s of merchant %s (order %s): %s",
                     r.out_refund_no, r.mchid, r.out_trade_no, wrong);
            err = QB_E_INTERNAL;
        }
        if (err == QB_OK)
            (*refunds)++;
    }
    if (err == QB_OK && rc != STORE_STEP_DONE)
        err = QB_E_STORAGE;
    store_finalize(st);
    return err;
}

void merchant_refund_create_cmd_init(struct merchant_refund_create_cmd *c,
                                     const struct domain_env *env)
{
    QB_ASSERT(c != NULL && env != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_create_run, NULL);
    c->env = env;
    c->outcome = QB_E_INTERNAL;
}

/*
 * payout.c — the payouts table, the create command, the end of a payout
 * (confirm, cancel, close) and the worker's pass over the overdue ones
 * (payout.h has the rules and the order of checks).
 *
 * Built like the refund (refund.c): every read first, each refusal
 * answered through `outcome` with QB_OK to the ledger (nothing was written
 * yet), and only then the hold or its end, the rows and the outbox, which
 * can no longer be refused: an error there returns to the ledger and rolls
 * back all.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/log.h"
#include "base/ratelimit.h"
#include "identity/identity.h"
#include "merchant/notify.h"
#include "merchant/payout.h"
#include "wallet/notice.h"

#define S_COLUMNS                                                                                  \
    "payment_id, seq, mchid, out_bill_no, request_hash, appid, openid, user_id, scene_id,"         \
    " perception, currency, amount_minor, remark, notify_url, state, fail_reason, hold_id,"        \
    " entry_id, created_at_ms, updated_at_ms, expires_at_ms"
#define S_OVERDUE_CLOSE "OVERDUE_CLOSE"
#define S_TRANSFER_RISK "TRANSFER_RISK" /* an operator's stop */
#define S_BATCH_MAX 64

const char *merchant_payout_state_name(enum merchant_payout_state state)
{
    switch (state) {
    case MERCHANT_PAYOUT_WAIT_USER_CONFIRM:
        return "WAIT_USER_CONFIRM";
    case MERCHANT_PAYOUT_SUCCESS:
        return "SUCCESS";
    case MERCHANT_PAYOUT_CANCELLED:
        return "CANCELLED";
    case MERCHANT_PAYOUT_FAIL:
        return "FAIL";
    }
    return "UNKNOWN";
}

bool merchant_out_bill_no_is_valid(const char *text)
{
    if (text == NULL)
        return false;
    size_t size = strlen(text);
    return size >= 5 && size <= MERCHANT_OUT_BILL_NO_SIZE_MAX - 1 &&
           strspn(text, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") == size;
}

bool merchant_scene_id_is_valid(const char *text)
{
    if (text == NULL)
        return false;
    size_t size = strlen(text);
    return size >= 1 && size <= MERCHANT_SCENE_ID_SIZE_MAX - 1 &&
           strspn(text, "0123456789") == size;
}

/* --- rows -------------------------------------------------------------------------------- */

static enum qb_error S_row(struct store_stmt *st, struct merchant_payout *p)
{
    memset(p, 0, sizeof *p);
    store_column_text_copy(st, 0, p->transfer_bill_no, sizeof p->transfer_bill_no);
    p->seq = store_column_int64(st, 1);
    store_column_text_copy(st, 2, p->mchid, sizeof p->mchid);
    store_column_text_copy(st, 3, p->out_bill_no, sizeof p->out_bill_no);
    if (store_column_size(st, 4) != sizeof p->request_hash)
        return QB_E_INTERNAL;
    memcpy(p->request_hash, store_column_blob(st, 4), sizeof p->request_hash);
    store_column_text_copy(st, 5, p->appid, sizeof p->appid);
    store_column_text_copy(st, 6, p->openid, sizeof p->openid);
    store_column_text_copy(st, 7, p->user_id, sizeof p->user_id);
    store_column_text_copy(st, 8, p->scene_id, sizeof p->scene_id);
    store_column_text_copy(st, 9, p->perception, sizeof p->perception);
    char currency[8];
    store_column_text_copy(st, 10, currency, sizeof currency);
    p->currency = currency_find(currency);
    p->amount_minor = store_column_int64(st, 11);
    store_column_text_copy(st, 12, p->remark, sizeof p->remark);
    store_column_text_copy(st, 13, p->notify_url, sizeof p->notify_url);
    p->state = (enum merchant_payout_state)store_column_int64(st, 14);
    store_column_text_copy(st, 15, p->fail_reason, sizeof p->fail_reason);
    p->hold_id = store_column_int64(st, 16);
    p->entry_id = store_column_int64(st, 17);
    p->created_at_ms = store_column_int64(st, 18);
    p->updated_at_ms = store_column_int64(st, 19);
    p->expires_at_ms = store_column_int64(st, 20);
    bool ok = p->currency != NULL && p->state >= MERCHANT_PAYOUT_WAIT_USER_CONFIRM &&
              p->state <= MERCHANT_PAYOUT_FAIL && p->amount_minor > 0 && p->hold_id > 0;
    return ok ? QB_OK : QB_E_INTERNAL;
}

enum qb_error merchant_payout_get(struct store *reader, const char *mchid, const char *out_bill_no,
                                  const char *transfer_bill_no, struct merchant_payout *out)
{
    QB_ASSERT(reader != NULL && out != NULL && (out_bill_no == NULL || mchid != NULL));
    memset(out, 0, sizeof *out);
    const char *key = out_bill_no != NULL ? out_bill_no : transfer_bill_no;
    if (key == NULL || strlen(key) >= (out_bill_no != NULL ? MERCHANT_OUT_BILL_NO_SIZE_MAX
                                                           : (size_t)ID_TEXT_SIZE_MAX))
        return QB_E_NOT_FOUND;
    struct store_stmt *st = NULL;
    const char *sql = out_bill_no != NULL ? "SELECT " S_COLUMNS
                                            " FROM payouts WHERE out_bill_no = $1 AND mchid = $2"
                                          : "SELECT " S_COLUMNS
                                            " FROM payouts WHERE payment_id = $1";
    if (store_prepare(reader, sql, &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, key, strlen(key));
    if (err == QB_OK && out_bill_no != NULL)
        err = store_bind_text(st, 2, mchid, strlen(mchid));
    if (err == QB_OK) {
        int rc = store_step(st);
        if (rc == STORE_STEP_ROW)
            err = S_row(st, out);
        else
            err = rc == STORE_STEP_DONE ? QB_E_NOT_FOUND : QB_E_STORAGE;
    }
    store_finalize(st);
    if (err == QB_OK && mchid != NULL && strcmp(out->mchid, mchid) != 0)
        err = QB_E_NOT_FOUND;
    if (err != QB_OK)
        memset(out, 0, sizeof *out);
    return err;
}

void merchant_payout_at(struct merchant_payout *p, int64_t at_ms)
{
    QB_ASSERT(p != NULL);
    if (p->state != MERCHANT_PAYOUT_WAIT_USER_CONFIRM || at_ms < p->expires_at_ms)
        return;
    /* As S_end_run's close will write it, but for the time: the worker
     * writes its own a moment later; the payout ended when its window did. */
    p->state = MERCHANT_PAYOUT_FAIL;
    snprintf(p->fail_reason, sizeof p->fail_reason, "%s", S_OVERDUE_CLOSE);
    p->updated_at_ms = p->expires_at_ms;
}

/* Payment p as payout r's state leaves it: SUCCESS when taken; FAILED when
 * cancelled or failed, with TRANSFER_STOPPED for an operator's stop and
 * PAYOUT_CLOSED for the rest; as it is while the payout waits. The one
 * rule for the command that ends a payout and the readers that tell one
 * ended before the worker's close is written. */
static void S_payment_follow(struct wallet_payment *p, const struct merchant_payout *r)
{
    QB_ASSERT(p->kind == WALLET_MERCHANT_PAYOUT && strcmp(p->id, r->transfer_bill_no) == 0);
    if (r->state == MERCHANT_PAYOUT_WAIT_USER_CONFIRM)
        return;
    if (r->state == MERCHANT_PAYOUT_SUCCESS) {
        p->status = WALLET_SUCCESS;
        p->failure_code[0] = '\0';
    } else {
        p->status = WALLET_FAILED;
        snprintf(p->failure_code, sizeof p->failure_code, "%s",
                 error_api_code(strcmp(r->fail_reason, S_TRANSFER_RISK) == 0 ? QB_E_TRANSFER_STOPPED
                                                                             : QB_E_PAYOUT_CLOSED));
    }
    p->updated_at_ms = r->updated_at_ms;
}

enum qb_error merchant_payout_payment_at(struct store *reader, struct wallet_payment *p,
                                         int64_t at_ms)
{
    QB_ASSERT(reader != NULL && p != NULL);
    if (p->kind != WALLET_MERCHANT_PAYOUT || p->status != WALLET_PROCESSING)
        return QB_OK;
    struct merchant_payout r;
    enum qb_error err = merchant_payout_get(reader, NULL, NULL, p->id, &r);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err; /* each such payment has its payout */
    /* Past its window, or ended by a command that committed after the
     * payment was read: either way what the payment will say. */
    merchant_payout_at(&r, at_ms);
    S_payment_follow(p, &r);
    return QB_OK;
}

/* The rows sql (one of key's, seq below $2, newest first, at most $3, and
 * when waiting_at_ms is not NULL, waiting at $4: merchant_payout_at)
 * selects, as merchant_payouts_waiting. */
static enum qb_error S_list(struct store *reader, const char *sql, const char *key,
                            const int64_t *waiting_at_ms, int64_t before_seq,
                            struct merchant_payout *rows, size_t room, size_t *count)
{
    QB_ASSERT(reader != NULL && key != NULL && count != NULL);
    *count = 0;
    struct store_stmt *st = NULL;
    if (store_prepare(reader, sql, &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, key, strlen(key));
    if (err == QB_OK)
        err = store_bind_int64(st, 2, before_seq > 0 ? before_seq : INT64_MAX);
    if (err == QB_OK)
        err = store_bind_int64(st, 3, (int64_t)room);
    if (err == QB_OK && waiting_at_ms != NULL)
        err = store_bind_int64(st, 4, *waiting_at_ms);
    int rc = STORE_STEP_DONE;
    while (err == QB_OK && *count < room && (rc = store_step(st)) == STORE_STEP_ROW) {
        err = S_row(st, &rows[*count]);
        if (err == QB_OK)
            (*count)++;
    }
    if (err == QB_OK && rc < 0)
        err = QB_E_STORAGE;
    store_finalize(st);
    return err;
}

/* state = 1 as a literal below: the partial indexes'. */

enum qb_error merchant_payouts_waiting(struct store *reader, const char *user_id, int64_t at_ms,
                                       int64_t before_seq, struct merchant_payout *rows,
                                       size_t room, size_t *count)
{
    return S_list(reader,
                  "SELECT " S_COLUMNS " FROM payouts WHERE user_id = $1 AND state = 1"
                  " AND seq < $2 AND expires_at_ms > $4 ORDER BY seq DESC LIMIT $3",
                  user_id, &at_ms, before_seq, rows, room, count);
}

enum qb_error merchant_payouts_of(struct store *reader, const char *mchid, bool waiting_only,
                                  int64_t at_ms, int64_t before_seq, struct merchant_payout *rows,
                                  size_t room, size_t *count)
{
    enum qb_error err =
        S_list(reader,
               waiting_only ? "SELECT " S_COLUMNS " FROM payouts WHERE mchid = $1 AND state = 1"
                              " AND seq < $2 AND expires_at_ms > $4 ORDER BY seq DESC LIMIT $3"
                            : "SELECT " S_COLUMNS " FROM payouts WHERE mchid = $1"
                              " AND seq < $2 ORDER BY seq DESC LIMIT $3",
               mchid, waiting_only ? &at_ms : NULL, before_seq, rows, room, count);
    for (size_t i = 0; err == QB_OK && i < *count; i++)
        merchant_payout_at(&rows[i], at_ms);
    return err;
}

enum qb_error merchant_payouts_held_at(struct store *reader, const char *mchid, int64_t at_ms,
                                       int64_t *held_minor)
{
    const struct store_param params[] = {STORE_TEXT(mchid), STORE_INT(at_ms)};
    return store_int64(reader,
                       "SELECT COALESCE(SUM(amount_minor), 0) FROM payouts WHERE mchid = $1"
                       " AND created_at_ms < $2 AND (state = 1 OR updated_at_ms >= $2)",
                       params, QB_ARRAY_COUNT(params), held_minor);
}

enum qb_error merchant_payouts_backlog(struct store *reader, int64_t *waiting,
                                       int64_t *next_close_ms)
{
    *waiting = *next_close_ms = 0;
    struct store_stmt *st = NULL;
    /* state = 1 as a literal: the partial index payouts_due's. */
    if (store_prepare(reader,
                      "SELECT count(*), COALESCE(min(expires_at_ms), 0) FROM payouts"
                      " WHERE state = 1",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = QB_E_STORAGE;
    if (store_step(st) == STORE_STEP_ROW) {
        *waiting = store_column_int64(st, 0);
        *next_close_ms = store_column_int64(st, 1);
        err = QB_OK;
    }
    store_finalize(st);
    return err;
}

json_t *merchant_payout_json(const struct merchant_payout *p)
{
    json_t *body = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:o, s:o}", "mch_id", p->mchid, "out_bill_no",
        p->out_bill_no, "transfer_bill_no", p->transfer_bill_no, "appid", p->appid, "state",
        merchant_payout_state_name(p->state), "transfer_amount", (json_int_t)p->amount_minor,
        "transfer_remark", p->remark, "openid", p->openid, "create_time",
        domain_time_json(p->created_at_ms), "update_time", domain_time_json(p->updated_at_ms));
    if (body != NULL && p->fail_reason[0] != '\0' &&
        json_object_set_new(body, "fail_reason", json_string(p->fail_reason)) != 0) {
        json_decref(body);
        body = NULL;
    }
    return body;
}

/* The resource of a MCHTRANSFER.BILL.FINISHED notification, as WeChat has it. */
static json_t *S_notify_json(const struct merchant_payout *p)
{
    json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:o, s:o}", "out_bill_no",
                             p->out_bill_no, "transfer_bill_no", p->transfer_bill_no, "state",
                             merchant_payout_state_name(p->state), "mch_id", p->mchid,
                             "transfer_amount", (json_int_t)p->amount_minor, "openid", p->openid,
                             "create_time", domain_time_json(p->created_at_ms), "update_time",
                             domain_time_json(p->updated_at_ms));
    if (body != NULL && p->fail_reason[0] != '\0' &&
        json_object_set_new(body, "fail_reason", json_string(p->fail_reason)) != 0) {
        json_decref(body);
        body = NULL;
    }
    return body;
}

/* --- create --------------------------------------------------------------------------- */

bool merchant_payout_names_limited(const struct domain_env *env, const char *mchid,
                                   const char *user_id, int64_t now_ms,
                                   char key[MERCHANT_PAYOUT_NAME_KEY_SIZE])
{
    snprintf(key, MERCHANT_PAYOUT_NAME_KEY_SIZE, "%s:%s", mchid, user_id);
    return env->payout_name_misses != NULL &&
           ratelimit_spent(env->payout_name_misses, key, now_ms, NULL);
}

static enum qb_error S_create_refuse(struct merchant_payout_create_cmd *c, enum qb_error err,
                                     const char *message)
{
    c->outcome = err;
    c->message = message;
    return QB_OK;
}

static enum qb_error S_insert(struct store *store, const struct merchant_payout *p)
{
    const struct store_param params[] = {
        STORE_TEXT(p->transfer_bill_no),
        STORE_INT(p->seq),
        STORE_TEXT(p->mchid),
        STORE_TEXT(p->out_bill_no),
        STORE_BLOB(p->request_hash, sizeof p->request_hash),
        STORE_TEXT(p->appid),
        STORE_TEXT(p->openid),
        STORE_TEXT(p->user_id),
        STORE_TEXT(p->scene_id),
        STORE_TEXT(p->perception),
        STORE_TEXT(p->currency->code),
        STORE_INT(p->amount_minor),
        STORE_TEXT(p->remark),
        STORE_TEXT(p->notify_url),
        STORE_INT(p->state),
        STORE_TEXT(p->fail_reason),
        STORE_INT(p->hold_id),
        STORE_INT(p->entry_id),
        STORE_INT(p->created_at_ms),
        STORE_INT(p->updated_at_ms),
        STORE_INT(p->expires_at_ms),
    };
    return store_run(store,
                     "INSERT INTO payouts (" S_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
                     " $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)",
                     params, QB_ARRAY_COUNT(params));
}

static enum qb_error S_create_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct merchant_payout_create_cmd *c = (struct merchant_payout_create_cmd *)cmd;
    struct merchant_payout *r = &c->payout;
    const struct domain_env *env = c->env;
    struct store *store = ledger_txn_store(txn);
    QB_ASSERT(merchant_out_bill_no_is_valid(r->out_bill_no));
    QB_ASSERT(r->amount_minor >= MERCHANT_PAYOUT_MIN_MINOR &&
              r->amount_minor <= MERCHANT_PAYOUT_MAX_MINOR);
    c->outcome = QB_E_INTERNAL;
    c->message = NULL;
    int64_t now_ms = ledger_txn_now_ms(txn);

    /* 1. The same number again. */
    struct merchant_payout earlier;
    enum qb_error err = merchant_payout_get(store, r->mchid, r->out_bill_no, NULL, &earlier);
    if (err == QB_OK) {
        if (!crypto_equal(earlier.request_hash, r->request_hash, sizeof r->request_hash))
            return S_create_refuse(c, QB_E_INVALID_REQUEST,
                                   "out_bill_no was used for another transfer (商户单号重复)");
        *r = earlier;
        merchant_payout_at(r, now_ms); /* as a query would answer it now */
        c->outcome = QB_OK;
        return QB_OK;
    }
    if (err != QB_E_NOT_FOUND)
        return err;

    /* 2. The merchant, 3. its app, 4. the user. */
    struct merchant m;
    err = merchant_get(env, store, r->mchid, &m);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err;
    if (m.status != MERCHANT_ACTIVE)
        return S_create_refuse(c, QB_E_NO_AUTH,
                               m.status == MERCHANT_STATUS_CLOSED ? MERCHANT_CLOSED_MESSAGE_V3
                                                                  : MERCHANT_SUSPENDED_MESSAGE_V3);
    bool pays = true;
    err = merchant_txn_owner_pays(txn, c->env, &m, &pays);
    if (err != QB_OK)
        return err;
    if (!pays)
        return S_create_refuse(c, QB_E_NO_AUTH, MERCHANT_OWNER_FROZEN_MESSAGE_V3);
    err = merchant_app_check(store, m.mchid, r->appid);
    if (err == QB_E_NOT_FOUND)
        return S_create_refuse(c, QB_E_APPID_MCHID_NOT_MATCH, NULL);
    if (err != QB_OK)
        return err;
    err = merchant_openid_issued(c->env, store, r->appid, r->openid, r->user_id);
    if (err == QB_E_NOT_FOUND)
        return S_create_refuse(c, QB_E_INVALID_REQUEST,
                               "openid is no user of this appid (OpenID与AppID不匹配)");
    if (err != QB_OK)
        return err;

    /* 5. The user takes money, 6. the merchant has it. */
    struct identity_user user;
    err = identity_txn_user_get(txn, env, r->user_id, &user);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : QB_E_STORAGE;
    struct ledger_account_view user_account, merchant_account;
    if (ledger_txn_account_get(txn, user.account_id, &user_account) != QB_OK ||
        ledger_txn_account_get(txn, m.account_id, &merchant_account) != QB_OK)
        return QB_E_INTERNAL;
    if (user.status == IDENTITY_CLOSED || (user_account.flags & LEDGER_ACCOUNT_CLOSED) != 0)
        return S_create_refuse(c, QB_E_USER_ACCOUNT_ABNORMAL,
                               "用户账户注销 (the user closed their wallet)");
    if (user.status == IDENTITY_FROZEN || (user_account.flags & LEDGER_ACCOUNT_CREDIT_FROZEN) != 0)
        return S_create_refuse(c, QB_E_ACCOUNT_FROZEN,
                               "用户账户冻结 (the user's wallet cannot take money now)");
    if (c->user_name[0] != '\0') {
        char key[MERCHANT_PAYOUT_NAME_KEY_SIZE];
        if (merchant_payout_names_limited(env, m.mchid, user.id, now_ms, key)) {
            sodium_memzero(c->user_name, sizeof c->user_name);
            return S_create_refuse(c, QB_E_FREQUENCY_LIMITED,
                                   MERCHANT_PAYOUT_NAMES_LIMITED_MESSAGE);
        }
        char verified[IDENTITY_REAL_NAME_SIZE_MAX];
        err = identity_txn_real_name(txn, env, user.id, verified);
        bool same = err == QB_OK && strcmp(verified, c->user_name) == 0;
        bool none = err == QB_OK && verified[0] == '\0';
        sodium_memzero(verified, sizeof verified);
        sodium_memzero(c->user_name, sizeof c->user_name);
        if (err != QB_OK)
            return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err;
        if (none)
            return S_create_refuse(c, QB_E_INVALID_REQUEST,
                                   "用户未实名 (the user has verified no real name)");
        if (!same && env->payout_name_misses != NULL) {
            (void)ratelimit_take(env->payout_name_misses, key, now_ms, NULL);
            /* The miss that uses the window up: someone may be guessing. */
            if (ratelimit_spent(env->payout_name_misses, key, now_ms, NULL))
                log_event(LOG_WARN, "merchant.payout_names_limited",
                          "mchid=%s user_id=%s misses=%d", m.mchid, user.id,
                          MERCHANT_PAYOUT_NAME_MISSES_MAX);
        }
        if (!same)
            return S_create_refuse(c, QB_E_INVALID_REQUEST,
                                   "收款用户姓名校验不通过 (user_name is not the user's "
                                   "verified name)");
    }
    if ((merchant_account.flags & (LEDGER_ACCOUNT_DEBIT_FROZEN | LEDGER_ACCOUNT_CLOSED)) != 0 ||
        merchant_account.available_minor < r->amount_minor)
        return S_create_refuse(c, QB_E_NOT_ENOUGH,
                               "商户余额不足 (the merchant's available balance is too low)");
    QB_ASSERT(user_account.currency == merchant_account.currency);

    /* The hold, the user's payment, the payout. */
    struct wallet_payment p;
    err = wallet_txn_payment_new(txn, env->rand, &p);
    if (err != QB_OK)
        return err;
    p.kind = WALLET_MERCHANT_PAYOUT;
    snprintf(p.user_id, sizeof p.user_id, "%s", user.id);
    snprintf(p.counterparty_id, sizeof p.counterparty_id, "%s", m.mchid);
    p.currency = merchant_account.currency;
    p.amount_minor = r->amount_minor;
    snprintf(p.memo, sizeof p.memo, "%s", r->remark);
    p.status = WALLET_PROCESSING;
    err = ledger_txn_hold(txn, WALLET_CODE_MERCHANT_PAYOUT, p.id, m.account_id, user.account_id,
                          r->amount_minor, 0, &p.hold_id);
    if (err != QB_OK)
        return err;
    QB_ASSERT(p.hold_id > 0);
    if (wallet_txn_payment_insert(txn, &p) != QB_OK)
        return QB_E_STORAGE;
    err = wallet_txn_notice_payment(txn, env->rand, user.id, WALLET_NOTICE_PAYOUT_WAITING, &p);
    if (err != QB_OK)
        return err;
    snprintf(r->transfer_bill_no, sizeof r->transfer_bill_no, "%s", p.id);
    r->seq = p.seq;
    r->currency = p.currency;
    r->state = MERCHANT_PAYOUT_WAIT_USER_CONFIRM;
    r->fail_reason[0] = '\0';
    r->hold_id = p.hold_id;
    r->entry_id = 0;
    r->created_at_ms = r->updated_at_ms = now_ms;
    r->expires_at_ms = now_ms + MERCHANT_PAYOUT_CONFIRM_WINDOW_MS;
    if (S_insert(store, r) != QB_OK)
        return QB_E_STORAGE;
    log_event(LOG_INFO, "merchant.payout_created", "mchid=%s transfer_bill_no=%s amount=%lld",
              r->mchid, r->transfer_bill_no, (long long)r->amount_minor);
    c->outcome = QB_OK;
    return QB_OK;
}

void merchant_payout_create_cmd_init(struct merchant_payout_create_cmd *c,
                                     const struct domain_env *env)
{
    QB_ASSERT(c != NULL && env != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_create_run, NULL);
    c->env = env;
    c->outcome = QB_E_INTERNAL;
}

/* --- the end: confirm, cancel, close ------------------------------------------------------- */

static enum qb_error S_end_refuse(struct merchant_payout_end_cmd *c, enum qb_error err,
                                  const char *message)
{
    c->outcome = err;
    c->message = message;
    return QB_OK;
}

#define S_CLOSED_MESSAGE                                                                           \
    "the merchant cancelled this transfer, or it was not confirmed within 24 hours"
#define S_STOPPED_MESSAGE "stopped by Qianbao before it was taken, on a report of fraud"

/* Whether c's caller may act on p, and the answer for a payout it may act
 * on that has ended already; false with the refusal set otherwise.
 * *act: whether the payout is to end now. p is as the caller meets it
 * (merchant_payout_at): past its window, closed to all but the close. */
static bool S_end_allowed(struct merchant_payout_end_cmd *c, const struct merchant_payout *p,
                          int64_t now_ms, bool *act)
{
    *act = false;
    switch (c->end) {
    case MERCHANT_PAYOUT_CONFIRM:
        if (strcmp(p->user_id, c->user_id) != 0) {
            (void)S_end_refuse(c, QB_E_NOT_FOUND, NULL);
            return false;
        }
        if (p->state == MERCHANT_PAYOUT_SUCCESS)
            return true;
        if (p->state != MERCHANT_PAYOUT_WAIT_USER_CONFIRM) {
            (void)S_end_refuse(c, QB_E_PAYOUT_CLOSED,
                               strcmp(p->fail_reason, S_TRANSFER_RISK) == 0 ? S_STOPPED_MESSAGE
                                                                            : S_CLOSED_MESSAGE);
            return false;
        }
        break;
    case MERCHANT_PAYOUT_CANCEL:
        if (p->state == MERCHANT_PAYOUT_CANCELLED)
            return true;
        if (p->state == MERCHANT_PAYOUT_SUCCESS) {
            (void)S_end_refuse(c, QB_E_INVALID_REQUEST,
                               "the user has taken this transfer (转账已成功, 不可撤销)");
            return false;
        }
        if (p->state == MERCHANT_PAYOUT_FAIL) {
            (void)S_end_refuse(c, QB_E_INVALID_REQUEST,
                               "this transfer has failed already (转账已失败)");
            return false;
        }
        break;
    case MERCHANT_PAYOUT_CLOSE:
        if (p->state != MERCHANT_PAYOUT_WAIT_USER_CONFIRM || now_ms < p->expires_at_ms) {
            (void)S_end_refuse(c, QB_E_CONFLICT, NULL);
            return false;
        }
        break;
    case MERCHANT_PAYOUT_STOP:
        if (p->state == MERCHANT_PAYOUT_FAIL && strcmp(p->fail_reason, S_TRANSFER_RISK) == 0)
            return true;
        if (p->state != MERCHANT_PAYOUT_WAIT_USER_CONFIRM) {
            (void)S_end_refuse(c, QB_E_CONFLICT,
                               "this transfer has ended already: taken, cancelled or closed");
            return false;
        }
        break;
    }
    *act = true;
    return true;
}

static enum qb_error S_update(struct store *store, const struct merchant_payout *p)
{
    const struct store_param params[] = {STORE_INT(p->state), STORE_TEXT(p->fail_reason),
                                         STORE_INT(p->entry_id), STORE_INT(p->updated_at_ms),
                                         STORE_TEXT(p->transfer_bill_no)};
    return store_run(store,
                     "UPDATE payouts SET state = $1, fail_reason = $2, entry_id = $3,"
                     " updated_at_ms = $4 WHERE payment_id = $5",
                     params, QB_ARRAY_COUNT(params));
}

static enum qb_error S_end_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct merchant_payout_end_cmd *c = (struct merchant_payout_end_cmd *)cmd;
    struct merchant_payout *r = &c->payout;
    const struct domain_env *env = c->env;
    struct store *store = ledger_txn_store(txn);
    c->outcome = QB_E_INTERNAL;
    c->message = NULL;
    c->changed = false;
    int64_t now_ms = ledger_txn_now_ms(txn);

    enum qb_error err = c->end == MERCHANT_PAYOUT_CANCEL
                            ? merchant_payout_get(store, c->mchid, c->out_bill_no, NULL, r)
                            : merchant_payout_get(store, NULL, NULL, c->transfer_bill_no, r);
    if (err == QB_E_NOT_FOUND)
        return S_end_refuse(c, QB_E_NOT_FOUND, NULL);
    if (err != QB_OK)
        return err;
    struct merchant m;
    err = merchant_get(env, store, r->mchid, &m);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err;
    snprintf(c->merchant_name, sizeof c->merchant_name, "%s", m.name);
    /* Past its window a payout is closed to everyone from that moment, as
     * readers are told (merchant_payout_at), though only the worker's close
     * writes it: a late confirm, cancel or stop is refused, not let win. */
    struct merchant_payout seen = *r;
    if (c->end != MERCHANT_PAYOUT_CLOSE)
        merchant_payout_at(&seen, now_ms);
    bool act;
    if (!S_end_allowed(c, &seen, now_ms, &act))
        return QB_OK;
    if (!act) {
        c->outcome = QB_OK;
        return QB_OK;
    }
    struct wallet_payment p;
    err = wallet_txn_payment_get(txn, r->transfer_bill_no, &p);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err;
    QB_ASSERT(p.kind == WALLET_MERCHANT_PAYOUT && p.status == WALLET_PROCESSING &&
              p.hold_id == r->hold_id && p.amount_minor == r->amount_minor);

    if (c->end == MERCHANT_PAYOUT_CONFIRM) {
        struct identity_user user;
        err = identity_txn_user_get(txn, env, r->user_id, &user);
        if (err != QB_OK)
            return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : QB_E_STORAGE;
        struct ledger_account_view account;
        if (ledger_txn_account_get(txn, user.account_id, &account) != QB_OK)
            return QB_E_INTERNAL;
        /* The payout outlives the freeze: say so, or "frozen" reads as the
         * money lost. */
        bool closed =
            user.status == IDENTITY_CLOSED || (account.flags & LEDGER_ACCOUNT_CLOSED) != 0;
        if (user.status != IDENTITY_ACTIVE ||
            (account.flags & (LEDGER_ACCOUNT_CREDIT_FROZEN | LEDGER_ACCOUNT_CLOSED)) != 0)
            return S_end_refuse(c, QB_E_ACCOUNT_FROZEN,
                                closed ? NULL
                                       : "your wallet is frozen: this transfer waits, and may be "
                                         "taken once it is unfrozen, within its time");
        /* A suspended merchant's balance stays for its refunds: what it
         * promised waits, to be taken once resumed or to close. A closed
         * merchant has no payout waiting (it could not close with one). */
        QB_ASSERT(m.status != MERCHANT_STATUS_CLOSED);
        if (m.status == MERCHANT_SUSPENDED)
            return S_end_refuse(c, QB_E_MERCHANT_SUSPENDED, NULL);
        /* Nor does a merchant whose owner's wallet is frozen pay: the
         * payout waits the same way, for the freeze to be lifted. */
        bool pays = true;
        err = merchant_txn_owner_pays(txn, env, &m, &pays);
        if (err != QB_OK)
            return err;
        if (!pays)
            return S_end_refuse(c, QB_E_MERCHANT_SUSPENDED,
                                "this merchant cannot pay now: the transfer waits, and may be "
                                "taken once it can, within its time");
        err = ledger_txn_capture(txn, r->hold_id, r->amount_minor, WALLET_CODE_MERCHANT_PAYOUT,
                                 p.id, &r->entry_id);
        if (err != QB_OK)
            return err; /* a waiting payout's hold is open: anything else is a bug */
        r->state = MERCHANT_PAYOUT_SUCCESS;
    } else {
        err = ledger_txn_void(txn, r->hold_id, WALLET_CODE_MERCHANT_PAYOUT, p.id, &r->entry_id);
        if (err != QB_OK)
            return err;
        r->state =
            c->end == MERCHANT_PAYOUT_CANCEL ? MERCHANT_PAYOUT_CANCELLED : MERCHANT_PAYOUT_FAIL;
        if (r->state == MERCHANT_PAYOUT_FAIL)
            snprintf(r->fail_reason, sizeof r->fail_reason, "%s",
                     c->end == MERCHANT_PAYOUT_STOP ? S_TRANSFER_RISK : S_OVERDUE_CLOSE);
    }
    QB_ASSERT(r->entry_id > 0);
    /* An overdue close ended when the window did, as every reader told it
     * from then on (merchant_payout_at): written later, its time must not
     * move under a merchant who read it before. */
    r->updated_at_ms = c->end == MERCHANT_PAYOUT_CLOSE ? r->expires_at_ms : now_ms;
    S_payment_follow(&p, r);
    p.entry_id = r->entry_id;
    if (wallet_txn_payment_update(txn, &p) != QB_OK || S_update(store, r) != QB_OK)
        return QB_E_STORAGE;
    if (c->end != MERCHANT_PAYOUT_CONFIRM) {
        err =
            wallet_txn_notice_payment(txn, env->rand, r->user_id, WALLET_NOTICE_PAYOUT_FAILED, &p);
        if (err != QB_OK)
            return err;
    }
    json_t *resource = S_notify_json(r);
    if (resource == NULL)
        return QB_E_INTERNAL;
    err = merchant_txn_notify_add(txn, env, r->mchid, r->notify_url, "MCHTRANSFER.BILL.FINISHED",
                                  "mch_payment", r->transfer_bill_no, "商家转账单据终态通知",
                                  resource);
    json_decref(resource);
    if (err != QB_OK)
        return err;
    log_event(LOG_INFO, "merchant.payout_ended", "mchid=%s transfer_bill_no=%s state=%s", r->mchid,
              r->transfer_bill_no, merchant_payout_state_name(r->state));
    c->changed = true;
    c->outcome = QB_OK;
    return QB_OK;
}

void merchant_payout_end_cmd_init(struct merchant_payout_end_cmd *c, const struct domain_env *env,
                                  enum merchant_payout_end end)
{
    QB_ASSERT(c != NULL && env != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_end_run, NULL);
    c->env = env;
    c->end = end;
    c->outcome = QB_E_INTERNAL;
}

/* --- the operator's check ------------------------------------------------------------- */

/* Whether payout r, its payment p and its entries (end: entry_id's, when
 * it ended) agree, with open whether its hold is open. */
static bool S_payout_matches(const struct merchant_payout *r, const struct wallet_payment *p,
                             const struct ledger_entry *hold, const struct ledger_entry *end,
                             bool open, int64_t merchant_account, int64_t user_account)
{
    const struct ledger_posting *debit = ledger_entry_posting(hold, merchant_account);
    const struct ledger_posting *credit = ledger_entry_posting(hold, user_account);
    if (p->kind != WALLET_MERCHANT_PAYOUT || strcmp(p->user_id, r->user_id) != 0 ||
        strcmp(p->counterparty_id, r->mchid) != 0 || p->amount_minor != r->amount_minor ||
        p->hold_id != r->hold_id || p->entry_id != r->entry_id || hold->kind != LEDGER_ENTRY_HOLD ||
        hold->code != WALLET_CODE_MERCHANT_PAYOUT || strcmp(hold->ref, p->id) != 0 ||
        debit == NULL || credit == NULL || debit->held_delta_minor != r->amount_minor)
        return false;
    if (r->state == MERCHANT_PAYOUT_WAIT_USER_CONFIRM)
        return open && r->entry_id == 0 && p->status == WALLET_PROCESSING;
    if (open || end->ref_entry_id != hold->id || end->code != WALLET_CODE_MERCHANT_PAYOUT ||
        strcmp(end->ref, p->id) != 0)
        return false;
    if (r->state == MERCHANT_PAYOUT_SUCCESS) {
        const struct ledger_posting *paid = ledger_entry_posting(end, user_account);
        return p->status == WALLET_SUCCESS && end->kind == LEDGER_ENTRY_CAPTURE && paid != NULL &&
               paid->amount_minor == r->amount_minor;
    }
    return p->status == WALLET_FAILED && end->kind == LEDGER_ENTRY_VOID;
}

/* Reads what S_payout_matches compares for the payout of row st: *ok false
 * when it does not hold, or something it names is missing. */
static enum qb_error S_check_one(struct store *reader, struct store_stmt *st, bool *ok,
                                 char id[ID_TEXT_SIZE_MAX])
{
    struct merchant_payout r;
    struct wallet_payment p;
    struct merchant m;
    struct identity_user user;
    struct ledger_entry hold, end;
    bool open = false;
    *ok = false;
    enum qb_error err = S_row(st, &r);
    snprintf(id, ID_TEXT_SIZE_MAX, "%s", r.transfer_bill_no);
    if (err == QB_OK)
        err = wallet_payment_get(reader, r.transfer_bill_no, NULL, &p);
    if (err == QB_OK)
        err = merchant_get(NULL, reader, r.mchid, &m);
    if (err == QB_OK)
        err = identity_user_get(reader, r.user_id, &user);
    if (err == QB_OK)
        err = ledger_hold_read(reader, r.hold_id, r.entry_id, &hold, &end, &open);
    *ok =
        err == QB_OK && S_payout_matches(&r, &p, &hold, &end, open, m.account_id, user.account_id);
    return err == QB_E_NOT_FOUND || err == QB_E_INTERNAL ? QB_OK : err;
}

static enum qb_error S_check(struct store *reader, int64_t *payouts, char *problem,
                             size_t problem_size)
{
    struct store_stmt *st = NULL;
    if (store_prepare(reader, "SELECT " S_COLUMNS " FROM payouts", &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = QB_OK;
    int rc;
    while (err == QB_OK && (rc = store_step(st)) == STORE_STEP_ROW) {
        bool ok = false;
        char id[ID_TEXT_SIZE_MAX];
        err = S_check_one(reader, st, &ok, id);
        if (err == QB_OK && !ok) {
            snprintf(problem, problem_size,
                     "merchant transfer %s: its payment, its hold, or the capture or release "
                     "its state says is not as it should be (a row or entry missing, another "
                     "amount, party or entry, or a hold open or closed against its state)",
                     id);
            err = QB_E_INTERNAL;
        }
        if (err == QB_OK)
            (*payouts)++;
    }
    if (err == QB_OK && rc != STORE_STEP_DONE)
        err = QB_E_STORAGE;
    store_finalize(st);
    if (err != QB_OK)
        return err;
    /* Each row named its own hold (its ref the row's payment): a hold
     * beyond them is a transfer nobody made. */
    int64_t held = 0;
    if (ledger_entries_count(reader, WALLET_CODE_MERCHANT_PAYOUT, LEDGER_ENTRY_HOLD, &held) !=
        QB_OK)
        return QB_E_STORAGE;
    if (held != *payouts) {
        snprintf(problem, problem_size,
                 "the journal holds %" PRId64 " merchant transfers' holds, the payouts %" PRId64,
                 held, *payouts);
        return QB_E_INTERNAL;
    }
    return QB_OK;
}

enum qb_error merchant_payouts_check(struct store *reader, int64_t *payouts, char *problem,
                                     size_t problem_size)
{
    return wallet_check_in_snapshot(reader, S_check, payouts, problem, problem_size);
}

/* --- the worker's pass ------------------------------------------------------------------ */

enum qb_error merchant_payouts_close_due(const struct domain_env *env, struct store_pool *pool,
                                         const atomic_bool *stopping, struct domain_due_cursor *due,
                                         size_t *closed, bool *more)
{
    QB_ASSERT(env != NULL && pool != NULL && due != NULL && closed != NULL && more != NULL);
    *closed = 0;
    *more = false;
    char(*ids)[ID_TEXT_SIZE_MAX] = calloc(S_BATCH_MAX, ID_TEXT_SIZE_MAX);
    if (ids == NULL)
        return QB_E_INTERNAL;
    size_t count = 0;
    enum qb_error err = domain_due_ids(pool,
                                       "SELECT payment_id, expires_at_ms, seq FROM payouts"
                                       " WHERE state = 1 AND expires_at_ms <= $1"
                                       " AND (expires_at_ms, seq) > ($3, $4)"
                                       " ORDER BY expires_at_ms, seq LIMIT $2",
                                       clock_now_ms(env->clock), due, ids[0], ID_TEXT_SIZE_MAX,
                                       S_BATCH_MAX, &count);
    bool ended = false;
    for (size_t i = 0; err == QB_OK && !ended && i < count; i++) {
        if (stopping != NULL && atomic_load(stopping)) {
            ended = true;
            break;
        }
        struct merchant_payout_end_cmd c;
        merchant_payout_end_cmd_init(&c, env, MERCHANT_PAYOUT_CLOSE);
        snprintf(c.transfer_bill_no, sizeof c.transfer_bill_no, "%s", ids[i]);
        enum qb_error rc = ledger_execute(env->ledger, &c.cmd);
        if (rc == QB_OK)
            rc = c.cmd.result;
        if (rc == QB_OK && c.outcome == QB_OK)
            (*closed)++;
        ledger_cmd_release(&c.cmd);
        if (rc == QB_OK)
            continue;
        char row[ID_TEXT_SIZE_MAX + 32];
        snprintf(row, sizeof row, "transfer_bill_no=%s", ids[i]);
        if (domain_worker_pass_ends(rc, "merchant.payout.close_failed", row)) {
            err = rc;
            ended = true;
        }
    }
    if (ended) /* the rest of the batch was not tried */
        *due = DOMAIN_DUE_START;
    *more = err == QB_OK && !ended && due->full;
    free(ids);
    return err;
}

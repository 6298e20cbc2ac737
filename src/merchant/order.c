/*
 * order.c — the orders table, the create and close commands, and the
 * order's JSON (order.h has the rules; pay.c the payment).
 *
 * A create runs on the ledger's writer like every write, so that two
 * creates with one out_trade_no can never both insert: the second finds
 * the first and is answered from it. Times shown to merchants are RFC 3339
 * in UTC+8, as WeChat's are.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "merchant/order.h"
#include "merchant/paycode.h"
#include "merchant/refund.h"

#define S_COLUMNS                                                                                  \
    "transaction_id, mchid, out_trade_no, appid, trade_type, request_hash, description, attach,"   \
    " notify_url, currency, total_minor, fee_minor, payer_openid, payer_user_id, payment_id,"    \
    " state, pay_token, entry_id, created_at_ms, expires_at_ms, success_at_ms, closed_at_ms,"    \
    " updated_at_ms"

const char *merchant_trade_type_name(enum merchant_trade_type type)
{
    switch (type) {
    case MERCHANT_TRADE_NATIVE:
        return "NATIVE";
    case MERCHANT_TRADE_JSAPI:
        return "JSAPI";
    case MERCHANT_TRADE_APP:
        return "APP";
    case MERCHANT_TRADE_H5:
        return "MWEB";
    case MERCHANT_TRADE_MICROPAY:
        return "MICROPAY";
    }
    return "UNKNOWN";
}

const char *merchant_trade_state_name(enum merchant_trade_state state)
{
    switch (state) {
    case MERCHANT_NOTPAY:
        return "NOTPAY";
    case MERCHANT_SUCCESS:
        return "SUCCESS";
    case MERCHANT_CLOSED:
        return "CLOSED";
    case MERCHANT_REFUND:
        return "REFUND";
    case MERCHANT_USERPAYING:
        return "USERPAYING";
    case MERCHANT_PAYERROR:
        return "PAYERROR";
    case MERCHANT_REVOKED:
        return "REVOKED";
    }
    return "UNKNOWN";
}

static const char *S_state_desc(enum merchant_trade_state state)
{
    switch (state) {
    case MERCHANT_NOTPAY:
        return "订单未支付";
    case MERCHANT_SUCCESS:
        return "支付成功";
    case MERCHANT_CLOSED:
        return "订单已关闭";
    case MERCHANT_REFUND:
        return "转入退款";
    case MERCHANT_USERPAYING:
        return "用户支付中";
    case MERCHANT_PAYERROR:
        return "支付失败";
    case MERCHANT_REVOKED:
        return "已撤销";
    }
    return "";
}

enum merchant_trade_state merchant_order_state_at(const struct merchant_order *o, int64_t now_ms)
{
    if (o->state == MERCHANT_NOTPAY && now_ms >= o->expires_at_ms)
        return MERCHANT_CLOSED;
    if (o->state == MERCHANT_USERPAYING && now_ms >= o->expires_at_ms)
        return MERCHANT_REVOKED;
    return o->state;
}

int64_t merchant_fee(int64_t total_minor, int64_t fee_ppm)
{
    QB_ASSERT(total_minor >= 0 && total_minor <= MERCHANT_ORDER_TOTAL_MAX_MINOR);
    QB_ASSERT(fee_ppm >= 0 && fee_ppm <= MERCHANT_FEE_PPM_MAX);
    /* At most 10^12 × 10^5: far inside int64. */
    int64_t fee = (total_minor * fee_ppm + 500000) / 1000000;
    QB_ASSERT(fee >= 0 && fee <= total_minor);
    return fee;
}

bool merchant_out_trade_no_is_valid(const char *text)
{
    if (text == NULL)
        return false;
    size_t size = strlen(text);
    return size >= 6 && size <= MERCHANT_OUT_TRADE_NO_SIZE_MAX - 1 &&
           strspn(text, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-|*@") ==
               size;
}

static enum qb_error S_row(struct store_stmt *st, struct merchant_order *o)
{
    memset(o, 0, sizeof *o);
    store_column_text_copy(st, 0, o->transaction_id, sizeof o->transaction_id);
    store_column_text_copy(st, 1, o->mchid, sizeof o->mchid);
    store_column_text_copy(st, 2, o->out_trade_no, sizeof o->out_trade_no);
    store_column_text_copy(st, 3, o->appid, sizeof o->appid);
    o->trade_type = (enum merchant_trade_type)store_column_int64(st, 4);
    if (store_column_size(st, 5) != sizeof o->request_hash)
        return QB_E_INTERNAL;
    memcpy(o->request_hash, store_column_blob(st, 5), sizeof o->request_hash);
    store_column_text_copy(st, 6, o->description, sizeof o->description);
    store_column_text_copy(st, 7, o->attach, sizeof o->attach);
    store_column_text_copy(st, 8, o->notify_url, sizeof o->notify_url);
    char currency[8];
    store_column_text_copy(st, 9, currency, sizeof currency);
    o->currency = currency_find(currency);
    o->total_minor = store_column_int64(st, 10);
    o->fee_minor = store_column_int64(st, 11);
    store_column_text_copy(st, 12, o->payer_openid, sizeof o->payer_openid);
    store_column_text_copy(st, 13, o->payer_user_id, sizeof o->payer_user_id);
    store_column_text_copy(st, 14, o->payment_id, sizeof o->payment_id);
    o->state = (enum merchant_trade_state)store_column_int64(st, 15);
    store_column_text_copy(st, 16, o->pay_token, sizeof o->pay_token);
    o->entry_id = store_column_int64(st, 17);
    o->created_at_ms = store_column_int64(st, 18);
    o->expires_at_ms = store_column_int64(st, 19);
    o->success_at_ms = store_column_int64(st, 20);
    o->closed_at_ms = store_column_int64(st, 21);
    o->updated_at_ms = store_column_int64(st, 22);
    bool ok = o->currency != NULL && o->trade_type >= MERCHANT_TRADE_NATIVE &&
              o->trade_type <= MERCHANT_TRADE_MICROPAY && o->state >= MERCHANT_NOTPAY &&
              o->state <= MERCHANT_REVOKED && o->total_minor > 0;
    return ok ? QB_OK : QB_E_INTERNAL;
}

/* One order by the column `column` (a literal of this file) = value, and
 * mchid when it is not NULL. */
static enum qb_error S_read(struct store *store, const char *sql, const char *value,
                            const char *mchid, struct merchant_order *out)
{
    struct store_stmt *st = NULL;
    if (store_prepare(store, sql, &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, value, strlen(value));
    if (err == QB_OK && mchid != NULL)
        err = store_bind_text(st, 2, mchid, strlen(mchid));
    if (err == QB_OK) {
        int rc = store_step(st);
        if (rc == STORE_STEP_ROW)
            err = S_row(st, out);
        else
            err = rc == STORE_STEP_DONE ? QB_E_ORDER_NOT_EXIST : QB_E_STORAGE;
    }
    store_finalize(st);
    if (err != QB_OK)
        memset(out, 0, sizeof *out);
    return err;
}

enum qb_error merchant_order_get(struct store *reader, const char *mchid, const char *out_trade_no,
                                 const char *transaction_id, struct merchant_order *out)
{
    QB_ASSERT(reader != NULL && mchid != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    if (out_trade_no != NULL) {
        if (!merchant_out_trade_no_is_valid(out_trade_no))
            return QB_E_ORDER_NOT_EXIST;
        return S_read(reader,
                      "SELECT " S_COLUMNS " FROM orders WHERE out_trade_no = $1 AND mchid = $2",
                      out_trade_no, mchid, out);
    }
    if (transaction_id == NULL || strlen(transaction_id) != MERCHANT_TRANSACTION_ID_SIZE - 1 ||
        strspn(transaction_id, "0123456789") != MERCHANT_TRANSACTION_ID_SIZE - 1)
        return QB_E_ORDER_NOT_EXIST;
    return S_read(reader, "SELECT " S_COLUMNS " FROM orders WHERE transaction_id = $1 AND mchid = $2",
                  transaction_id, mchid, out);
}

enum qb_error merchant_orders_paid(struct store *reader, const char *mchid, int64_t after_entry,
                                   int64_t before_entry, struct merchant_order *rows, size_t room,
                                   size_t *count)
{
    QB_ASSERT(reader != NULL && mchid != NULL && rows != NULL && count != NULL && after_entry >= 0);
    *count = 0;
    struct store_stmt *st = NULL;
    /* entry_id > 0 as a literal: the partial index orders_paid_entry's. */
    if (store_prepare(reader,
                      "SELECT " S_COLUMNS " FROM orders WHERE mchid = $1 AND entry_id > 0"
                      " AND entry_id > $2 AND entry_id < $3 ORDER BY entry_id DESC LIMIT $4",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    const struct store_param params[] = {STORE_TEXT(mchid), STORE_INT(after_entry),
                                         STORE_INT(before_entry > 0 ? before_entry : INT64_MAX),
                                         STORE_INT((int64_t)room)};
    enum qb_error err = store_bind_params(st, params, QB_ARRAY_COUNT(params));
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

enum qb_error merchant_orders_paid_newest(struct store *reader, const char *mchid,
                                          int64_t *entry_id)
{
    const struct store_param params[] = {STORE_TEXT(mchid)};
    /* One seek to the end of the merchant's range, where max() would
     * read the whole range. */
    enum qb_error err = store_int64(reader,
                                    "SELECT entry_id FROM orders WHERE mchid = $1 AND entry_id > 0"
                                    " ORDER BY entry_id DESC LIMIT 1",
                                    params, QB_ARRAY_COUNT(params), entry_id);
    return err == QB_E_NOT_FOUND ? QB_OK : err;
}

enum qb_error merchant_order_by_token(struct store *reader, const char *token,
                                      struct merchant_order *out)
{
    return S_read(reader, "SELECT " S_COLUMNS " FROM orders WHERE pay_token = $1", token, NULL,
                  out);
}

enum qb_error merchant_txn_order_by_token(struct ledger_txn *txn, const char *token,
                                          struct merchant_order *out)
{
    return S_read(ledger_txn_store(txn), "SELECT " S_COLUMNS " FROM orders WHERE pay_token = $1",
                  token, NULL, out);
}

/* A payment-code order names its payer once it waits for them: whatever
 * becomes of it changes the payer's waiting payments (GET
 * /v1/me/pending-payments), which a watcher of their wallet is told. */
static void S_payer_changed(struct ledger_txn *txn, const struct merchant_order *o)
{
    if (o->trade_type != MERCHANT_TRADE_MICROPAY || o->payer_user_id[0] == '\0')
        return;
    char owner[LEDGER_OWNER_SIZE_MAX];
    int size = snprintf(owner, sizeof owner, "user:%s", o->payer_user_id);
    QB_ASSERT(size > 0 && (size_t)size < sizeof owner);
    ledger_txn_owner_changed(txn, owner);
}

/* The payer's count of changes to their waiting payments
 * (paycode_pending_changes), which GET /v1/me/changes shows: one more each
 * time a payment-code order comes to wait for them or leaves waiting
 * (paid, reversed, revoked). A count and not a time or an expiry, so that
 * every change shows, one leaving while a later one still waits too. With
 * leaves, the order's stored state is read: only one that waited leaves. */
static enum qb_error S_pending_changed(struct ledger_txn *txn, const struct merchant_order *o,
                                       bool leaves)
{
    if (o->trade_type != MERCHANT_TRADE_MICROPAY || o->payer_user_id[0] == '\0')
        return QB_OK;
    enum qb_error err;
    if (!leaves) {
        const struct store_param p[] = {STORE_TEXT(o->payer_user_id)};
        err =
            store_run(ledger_txn_store(txn),
                      "INSERT INTO paycode_pending_changes (user_id, seq) VALUES ($1, 1)"
                      " ON CONFLICT (user_id) DO UPDATE SET seq = paycode_pending_changes.seq + 1",
                      p, QB_ARRAY_COUNT(p));
    } else {
        const struct store_param p[] = {STORE_TEXT(o->transaction_id),
                                        STORE_INT(MERCHANT_USERPAYING)};
        err =
            store_run(ledger_txn_store(txn),
                      "INSERT INTO paycode_pending_changes (user_id, seq)"
                      " SELECT payer_user_id, 1 FROM orders WHERE transaction_id = $1"
                      " AND state = $2 AND payer_user_id <> ''"
                      " ON CONFLICT (user_id) DO UPDATE SET seq = paycode_pending_changes.seq + 1",
                      p, QB_ARRAY_COUNT(p));
    }
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
}

enum qb_error merchant_txn_order_update(struct ledger_txn *txn, const struct merchant_order *o)
{
    S_payer_changed(txn, o);
    if (o->state != MERCHANT_USERPAYING && S_pending_changed(txn, o, true) != QB_OK)
        return QB_E_STORAGE;
    const struct store_param params[] = {
        STORE_TEXT(o->transaction_id), STORE_INT(o->state),          STORE_INT(o->fee_minor),
        STORE_TEXT(o->payer_openid),   STORE_TEXT(o->payer_user_id), STORE_TEXT(o->payment_id),
        STORE_INT(o->entry_id),        STORE_INT(o->success_at_ms),  STORE_INT(o->closed_at_ms),
        STORE_INT(o->updated_at_ms),
    };
    return store_run(ledger_txn_store(txn),
                     "UPDATE orders SET state = $2, fee_minor = $3, payer_openid = $4,"
                     " payer_user_id = $5, payment_id = $6, entry_id = $7, success_at_ms = $8,"
                     " closed_at_ms = $9, updated_at_ms = $10 WHERE transaction_id = $1",
                     params, QB_ARRAY_COUNT(params));
}

/* --- JSON ----------------------------------------------------------------------------- */

json_t *merchant_order_json(const struct merchant_order *o, int64_t now_ms)
{
    enum merchant_trade_state state = merchant_order_state_at(o, now_ms);
    bool paid = state == MERCHANT_SUCCESS || state == MERCHANT_REFUND;
    json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "appid", o->appid,
                             "mchid", o->mchid, "out_trade_no", o->out_trade_no,
                             "transaction_id", o->transaction_id, "trade_type",
                             merchant_trade_type_name(o->trade_type), "trade_state",
                             merchant_trade_state_name(state), "trade_state_desc",
                             S_state_desc(state), "attach", o->attach);
    if (body == NULL)
        return NULL;
    json_t *amount = json_pack("{s:I, s:s}", "total", (json_int_t)o->total_minor, "currency",
                               o->currency->code);
    bool ok = amount != NULL && json_object_set_new(body, "amount", amount) == 0;
    if (ok && paid) {
        ok = json_object_set_new(amount, "payer_total", json_integer(o->total_minor)) == 0 &&
             json_object_set_new(amount, "payer_currency", json_string(o->currency->code)) == 0 &&
             json_object_set_new(body, "bank_type", json_string("OTHERS")) == 0 &&
             json_object_set_new(body, "success_time", domain_time_json(o->success_at_ms)) == 0;
    }
    if (ok && o->payer_openid[0] != '\0')
        ok = json_object_set_new(body, "payer", json_pack("{s:s}", "openid", o->payer_openid)) == 0;
    if (!ok) {
        json_decref(body);
        return NULL;
    }
    return body;
}

json_t *merchant_order_create_json(const struct merchant_order *o)
{
    char text[128];
    switch (o->trade_type) {
    case MERCHANT_TRADE_NATIVE:
        snprintf(text, sizeof text, MERCHANT_CODE_URL_PREFIX "%s", o->pay_token);
        return json_pack("{s:s}", "code_url", text);
    case MERCHANT_TRADE_H5:
        snprintf(text, sizeof text, MERCHANT_H5_URL_PREFIX "wx%s", o->pay_token);
        return json_pack("{s:s}", "h5_url", text);
    case MERCHANT_TRADE_JSAPI:
    case MERCHANT_TRADE_APP:
        snprintf(text, sizeof text, "wx%s", o->pay_token);
        return json_pack("{s:s}", "prepay_id", text);
    case MERCHANT_TRADE_MICROPAY:
        return merchant_order_json(o, o->updated_at_ms);
    }
    return NULL;
}

bool merchant_pay_token_parse(const char *text, char out[MERCHANT_PAY_TOKEN_SIZE])
{
    if (text == NULL)
        return false;
    const char *token = NULL;
    size_t code_prefix = strlen(MERCHANT_CODE_URL_PREFIX);
    size_t h5_prefix = strlen(MERCHANT_H5_URL_PREFIX);
    if (strncmp(text, MERCHANT_CODE_URL_PREFIX, code_prefix) == 0)
        token = text + code_prefix;
    else if (strncmp(text, MERCHANT_H5_URL_PREFIX "wx", h5_prefix + 2) == 0)
        token = text + h5_prefix + 2;
    else if (strncmp(text, "wx", 2) == 0)
        token = text + 2;
    else if (strncmp(text, "prepay_id=wx", 12) == 0) /* the JSAPI package, as SDKs build it */
        token = text + 12;
    if (token == NULL || strlen(token) != MERCHANT_PAY_TOKEN_SIZE - 1 ||
        strspn(token, "0123456789abcdef") != MERCHANT_PAY_TOKEN_SIZE - 1)
        return false;
    memcpy(out, token, MERCHANT_PAY_TOKEN_SIZE);
    return true;
}

/* --- create ----------------------------------------------------------------------------- */

void merchant_order_ids_new(const struct domain_env *env, int64_t now_ms, struct merchant_order *o)
{
    /* A 28-digit transaction id ("42" + the UTC+8 date + 18 random digits)
     * and a 128-bit pay token. */
    char stamp[40];
    clock_format_rfc3339(now_ms, 8 * 60, stamp, sizeof stamp);
    char *id = o->transaction_id;
    memcpy(id, "42", 2);
    memcpy(id + 2, stamp, 4);     /* YYYY */
    memcpy(id + 6, stamp + 5, 2); /* MM */
    memcpy(id + 8, stamp + 8, 2); /* DD */
    for (size_t i = 10; i < MERCHANT_TRANSACTION_ID_SIZE - 1; i++)
        id[i] = (char)('0' + rand_below(env->rand, 10));
    id[MERCHANT_TRANSACTION_ID_SIZE - 1] = '\0';
    uint8_t token[16];
    rand_fill(env->rand, token, sizeof token);
    crypto_hex(token, sizeof token, o->pay_token);
}

enum qb_error merchant_txn_order_insert(struct ledger_txn *txn, const struct merchant_order *o)
{
    QB_ASSERT(merchant_out_trade_no_is_valid(o->out_trade_no) && o->total_minor > 0);
    QB_ASSERT(o->currency != NULL && o->transaction_id[0] != '\0' && o->pay_token[0] != '\0');
    S_payer_changed(txn, o);
    if (o->state == MERCHANT_USERPAYING && S_pending_changed(txn, o, false) != QB_OK)
        return QB_E_STORAGE;
    const struct store_param params[] = {
        STORE_TEXT(o->transaction_id),
        STORE_TEXT(o->mchid),
        STORE_TEXT(o->out_trade_no),
        STORE_TEXT(o->appid),
        STORE_INT(o->trade_type),
        STORE_BLOB(o->request_hash, sizeof o->request_hash),
        STORE_TEXT(o->description),
        STORE_TEXT(o->attach),
        STORE_TEXT(o->notify_url),
        STORE_TEXT(o->currency->code),
        STORE_INT(o->total_minor),
        STORE_INT(o->fee_minor),
        STORE_TEXT(o->payer_openid),
        STORE_TEXT(o->payer_user_id),
        STORE_TEXT(o->payment_id),
        STORE_INT(o->state),
        STORE_TEXT(o->pay_token),
        STORE_INT(o->entry_id),
        STORE_INT(o->created_at_ms),
        STORE_INT(o->expires_at_ms),
        STORE_INT(o->success_at_ms),
        STORE_INT(o->closed_at_ms),
        STORE_INT(o->updated_at_ms),
    };
    return store_run(ledger_txn_store(txn),
                     "INSERT INTO orders (" S_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
                     " $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)",
                     params, QB_ARRAY_COUNT(params));
}

enum qb_error merchant_txn_order_by_number(struct ledger_txn *txn, const char *mchid,
                                           const char *out_trade_no, struct merchant_order *out)
{
    return S_read(ledger_txn_store(txn),
                  "SELECT " S_COLUMNS " FROM orders WHERE out_trade_no = $1 AND mchid = $2",
                  out_trade_no, mchid, out);
}

enum qb_error merchant_txn_order_by_transaction_id(struct ledger_txn *txn,
                                                   const char *transaction_id,
                                                   struct merchant_order *out)
{
    return S_read(ledger_txn_store(txn),
                  "SELECT " S_COLUMNS " FROM orders WHERE transaction_id = $1", transaction_id,
                  NULL, out);
}

static enum qb_error S_create_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct merchant_order_create_cmd *c = (struct merchant_order_create_cmd *)cmd;
    struct merchant_order *o = &c->order;
    const struct domain_env *env = c->env;
    QB_ASSERT(merchant_out_trade_no_is_valid(o->out_trade_no) && o->total_minor > 0);
    QB_ASSERT(o->currency != NULL);
    c->outcome = QB_E_INTERNAL;
    c->expire_past = false;
    int64_t now_ms = ledger_txn_now_ms(txn);

    /* A suspended or closed merchant makes no order, not even the same one again:
     * read here, in the command, so that none is made after the
     * suspension's answer. */
    struct merchant m;
    enum qb_error err = merchant_get(env, ledger_txn_store(txn), o->mchid, &m);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err;
    if (m.status != MERCHANT_ACTIVE) {
        c->outcome = QB_E_NO_AUTH;
        return QB_OK;
    }

    /* An earlier order with this number: the same again, or a refusal. */
    struct merchant_order earlier;
    err = S_read(ledger_txn_store(txn),
                 "SELECT " S_COLUMNS " FROM orders WHERE out_trade_no = $1 AND mchid = $2",
                 o->out_trade_no, o->mchid, &earlier);
    if (err == QB_OK) {
        enum merchant_trade_state state = merchant_order_state_at(&earlier, now_ms);
        bool same =
            crypto_equal(earlier.request_hash, o->request_hash, sizeof o->request_hash) ||
            (c->has_legacy_hash && crypto_equal(earlier.request_hash, c->legacy_request_hash,
                                                sizeof c->legacy_request_hash));
        if (!same)
            c->outcome = QB_E_INVALID_REQUEST;
        else if (state == MERCHANT_SUCCESS || state == MERCHANT_REFUND) /* paid, refunded or not */
            c->outcome = QB_E_ORDER_PAID;
        else if (state != MERCHANT_NOTPAY)
            c->outcome = QB_E_ORDER_CLOSED;
        else
            c->outcome = QB_OK;
        *o = earlier;
        return QB_OK;
    }
    if (err != QB_E_ORDER_NOT_EXIST)
        return err;

    /* A new order, which must expire after now. */
    if (o->expires_at_ms != 0 && o->expires_at_ms <= now_ms) {
        c->outcome = QB_E_PARAM;
        c->expire_past = true;
        return QB_OK;
    }
    /* A JSAPI order's openid must be one the app was given:
     * a mistyped one, or one from another app, is the merchant's error to
     * hear now, not the payer's at the till. */
    if (o->trade_type == MERCHANT_TRADE_JSAPI) {
        err = merchant_openid_issued(env, ledger_txn_store(txn), o->appid, o->payer_openid, NULL);
        if (err == QB_E_NOT_FOUND) {
            c->outcome = QB_E_PARAM;
            return QB_OK;
        }
        if (err != QB_OK)
            return err;
    }
    merchant_order_ids_new(env, now_ms, o);
    o->fee_minor = o->entry_id = o->success_at_ms = o->closed_at_ms = 0;
    o->payer_user_id[0] = o->payment_id[0] = '\0';
    o->state = MERCHANT_NOTPAY;
    o->created_at_ms = o->updated_at_ms = now_ms;
    if (o->expires_at_ms == 0)
        o->expires_at_ms = now_ms + MERCHANT_ORDER_TTL_DEFAULT_MS;
    err = merchant_txn_order_insert(txn, o);
    if (err != QB_OK)
        return QB_E_STORAGE;
    c->outcome = QB_OK;
    return QB_OK;
}

void merchant_order_create_cmd_init(struct merchant_order_create_cmd *c,
                                    const struct domain_env *env)
{
    QB_ASSERT(c != NULL && env != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_create_run, NULL);
    c->env = env;
    c->outcome = QB_E_INTERNAL;
}

/* --- close --------------------------------------------------------------------------------- */

static enum qb_error S_close_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct merchant_order_close_cmd *c = (struct merchant_order_close_cmd *)cmd;
    c->outcome = QB_E_INTERNAL;
    struct merchant_order o;
    enum qb_error err = S_read(ledger_txn_store(txn),
                               "SELECT " S_COLUMNS
                               " FROM orders WHERE out_trade_no = $1 AND mchid = $2",
                               c->out_trade_no, c->mchid, &o);
    if (err == QB_E_ORDER_NOT_EXIST) {
        /* WeChat closes a number it never saw without a word (204): a
         * merchant whose create timed out closes it to be sure. The number
         * is closed to a codepay still on its way under it, which would
         * take a payer's money for a sale the till took as closed; an
         * order created later is made, as WeChat makes it: its payer can
         * only be one the merchant shows it to. */
        err = merchant_txn_codepay_refuse(txn, c->mchid, c->out_trade_no, QB_E_ORDER_CLOSED);
        if (err != QB_OK)
            return err;
        c->outcome = QB_OK;
        return QB_OK;
    }
    if (err != QB_OK)
        return err;
    if (o.state == MERCHANT_SUCCESS || o.state == MERCHANT_REFUND) {
        c->outcome = QB_E_ORDER_PAID;
        return QB_OK;
    }
    if (o.trade_type == MERCHANT_TRADE_MICROPAY) {
        /* Its payer may still confirm a USERPAYING one: only a reversal
         * stops that, and says so to the till. */
        c->outcome = QB_E_INVALID_REQUEST;
        c->state = o.state;
        return QB_OK;
    }
    if (o.state == MERCHANT_NOTPAY) {
        o.state = MERCHANT_CLOSED;
        o.closed_at_ms = o.updated_at_ms = ledger_txn_now_ms(txn);
        err = merchant_txn_order_update(txn, &o);
        if (err != QB_OK)
            return QB_E_STORAGE;
    }
    c->outcome = QB_OK;
    return QB_OK;
}

void merchant_order_close_cmd_init(struct merchant_order_close_cmd *c, const struct domain_env *env)
{
    QB_ASSERT(c != NULL && env != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_close_run, NULL);
    c->env = env;
    c->outcome = QB_E_INTERNAL;
}

/* --- the operator's check ------------------------------------------------------------- */

enum qb_error merchant_order_accounts_read(struct store *reader, const char *payer_user_id,
                                           const char *mchid, const struct currency *currency,
                                           struct merchant_order_accounts *out)
{
    QB_ASSERT(reader != NULL && payer_user_id != NULL && mchid != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    struct identity_user payer;
    struct merchant m;
    enum qb_error err = identity_user_get(reader, payer_user_id, &payer);
    if (err == QB_OK)
        err = merchant_get(NULL, reader, mchid, &m);
    if (err == QB_OK && currency == NULL)
        err = QB_E_NOT_FOUND;
    if (err == QB_OK)
        err = ledger_account_find(reader, "system:fee_income", currency, LEDGER_ACCOUNT_SYSTEM,
                                  &out->fee_income);
    if (err != QB_OK)
        return err == QB_E_STORAGE ? err : QB_E_NOT_FOUND;
    out->payer = payer.account_id;
    out->merchant = m.account_id;
    return QB_OK;
}

enum qb_error merchant_payment_check(struct store *reader, const struct merchant_payment_want *w,
                                     const char **wrong)
{
    QB_ASSERT(reader != NULL && w != NULL && wrong != NULL && w->leg_count <= 3);
    *wrong = NULL;
    struct wallet_payment p;
    enum qb_error err = w->payment_id[0] != '\0'
                            ? wallet_payment_get(reader, w->payment_id, NULL, &p)
                            : QB_E_NOT_FOUND;
    if (err == QB_E_NOT_FOUND || err == QB_E_INTERNAL) {
        *wrong = "the payer's payment it names is missing";
        return QB_OK;
    }
    if (err != QB_OK)
        return err;
    if (p.kind != w->kind || strcmp(p.user_id, w->payer_user_id) != 0 ||
        strcmp(p.counterparty_id, w->mchid) != 0 || p.currency != w->currency ||
        p.amount_minor != w->amount_minor || p.status != WALLET_SUCCESS ||
        p.entry_id != w->entry_id) {
        *wrong = "the payer's payment it names says otherwise (another kind, party, amount, "
                 "status or entry)";
        return QB_OK;
    }
    struct ledger_entry read;
    const struct ledger_entry *e = w->entry;
    if (e == NULL) {
        err = w->entry_id > 0 ? ledger_entry_read(reader, w->entry_id, &read) : QB_E_NOT_FOUND;
        if (err != QB_OK && err != QB_E_NOT_FOUND)
            return err;
        e = err == QB_OK ? &read : NULL;
    } else if (!w->entry_read || e->id != w->entry_id) {
        e = NULL;
    }
    if (e == NULL) {
        *wrong = "the entry it names is not in the journal";
        return QB_OK;
    }
    if (e->kind != LEDGER_ENTRY_TRANSFER || e->code != w->code || strcmp(e->ref, p.id) != 0 ||
        !ledger_entry_moves(e, w->legs, w->leg_count))
        *wrong = "the entry it names is not its money (another code or ref, or other accounts "
                 "or amounts than its payer, its merchant and fee income of its figures)";
    else if (e->created_at_ms != w->at_ms)
        *wrong = "its time is not its entry's (the row and its command's entry take the "
                 "command's time)";
    return QB_OK;
}

/* Names order o and what is wrong with it in problem: QB_E_INTERNAL. */
static enum qb_error S_order_problem(const struct merchant_order *o, const char *wrong,
                                     char *problem, size_t problem_size)
{
    snprintf(problem, problem_size, "order %s of merchant %s (%s): %s", o->out_trade_no, o->mchid,
             merchant_trade_state_name(o->state), wrong);
    return QB_E_INTERNAL;
}

/* What is wrong with the payment of paid order o (NULL: nothing), between
 * accounts a (NULL: read here) and by entry e as the walk read it (NULL:
 * read here). */
static enum qb_error S_paid_check(struct store *reader, const struct merchant_order *o,
                                  const struct merchant_order_accounts *a,
                                  const struct ledger_entry *e, bool entry_read, const char **wrong)
{
    *wrong = NULL;
    if (o->entry_id <= 0 || o->payment_id[0] == '\0' || o->payer_user_id[0] == '\0' ||
        o->success_at_ms <= 0) {
        *wrong = "it is paid, but names no payment, entry or payer";
        return QB_OK;
    }
    if (o->total_minor > MERCHANT_ORDER_TOTAL_MAX_MINOR || o->fee_minor < 0 ||
        o->fee_minor > o->total_minor) {
        *wrong = "its total or fee cannot be a payment's";
        return QB_OK;
    }
    struct merchant_order_accounts read;
    enum qb_error err = QB_OK;
    if (a == NULL) {
        err = merchant_order_accounts_read(reader, o->payer_user_id, o->mchid, o->currency, &read);
        a = &read;
    }
    if (err == QB_OK && (a->payer <= 0 || a->merchant <= 0 || a->fee_income <= 0))
        err = QB_E_NOT_FOUND;
    if (err == QB_E_NOT_FOUND) {
        *wrong = "its payer, its merchant or fee income is not in the books";
        return QB_OK;
    }
    if (err != QB_OK)
        return err;
    struct merchant_payment_want w = {
        .payment_id = o->payment_id,
        .kind = WALLET_ORDER_PAYMENT,
        .code = WALLET_CODE_ORDER_PAYMENT,
        .payer_user_id = o->payer_user_id,
        .mchid = o->mchid,
        .currency = o->currency,
        .amount_minor = o->total_minor,
        .entry_id = o->entry_id,
        .at_ms = o->success_at_ms,
        .entry = e,
        .entry_read = entry_read,
    };
    w.leg_count = merchant_order_payment_legs(a->payer, a->merchant, a->fee_income, o->total_minor,
                                              o->fee_minor, w.legs);
    return merchant_payment_check(reader, &w, wrong);
}

bool merchant_order_is_paid(const struct merchant_order *o)
{
    return o->state == MERCHANT_SUCCESS || o->state == MERCHANT_REFUND ||
           (o->state == MERCHANT_REVOKED && o->success_at_ms > 0);
}

enum qb_error merchant_order_query(struct store *reader, const char *mchid,
                                   const char *out_trade_no, const char *transaction_id,
                                   struct merchant_order *out, const char **wrong)
{
    QB_ASSERT(wrong != NULL);
    *wrong = NULL;
    if (store_begin(reader) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = merchant_order_get(reader, mchid, out_trade_no, transaction_id, out);
    if (err == QB_OK && merchant_order_is_paid(out))
        err = S_paid_check(reader, out, NULL, NULL, false, wrong);
    if (store_rollback(reader) != QB_OK && err == QB_OK)
        err = QB_E_STORAGE;
    return err;
}

/* What is wrong with paid order o's refunds, as a whole, from their count
 * and sums (read with the order): an order REFUND has some, any other
 * none; they return no more than its total, and the fee shares they
 * returned add up to what the rule returns for their sum
 * (merchant_fee_refund: a cumulative share, so their sum is the share of
 * the refunds' sum). Each refund against its entry is merchant_refunds_check's. */
static const char *S_refunded_wrong(const struct merchant_order *o, int64_t count, int64_t refunded,
                                    int64_t fee_returned)
{
    if ((count > 0) != (o->state == MERCHANT_REFUND))
        return o->state == MERCHANT_REFUND ? "it is refunded, but no refund names it"
                                           : "refunds name it, but it is not refunded";
    if (count > 0 && (refunded <= 0 || refunded > o->total_minor))
        return "its refunds return more than its total";
    if (count > 0 && fee_returned != merchant_fee_refund(o->fee_minor, o->total_minor, 0, refunded))
        return "its refunds' fee shares do not add up to the share of what they returned";
    return NULL;
}

/* The accounts an order's payment moves between, as the walk of every
 * order finds them: its payer's and its merchant's from tables read once,
 * fee income's of the one currency asked last. */
struct S_walk_accounts {
    struct wallet_account_map *users, *merchants;
    const struct currency *currency;
    int64_t fee_income;
};

static enum qb_error S_walk_accounts_of(struct store *reader, struct S_walk_accounts *w,
                                        const struct merchant_order *o,
                                        struct merchant_order_accounts *out)
{
    if (o->currency != w->currency) {
        enum qb_error err = ledger_account_find(reader, "system:fee_income", o->currency,
                                                LEDGER_ACCOUNT_SYSTEM, &w->fee_income);
        if (err == QB_E_NOT_FOUND)
            w->fee_income = 0;
        else if (err != QB_OK)
            return QB_E_STORAGE;
        w->currency = o->currency;
    }
    out->payer = wallet_account_map_get(w->users, o->payer_user_id);
    out->merchant = wallet_account_map_get(w->merchants, o->mchid);
    out->fee_income = w->fee_income;
    return QB_OK;
}

/* Every order with its entry and its refunds' count and sums, in one
 * statement (S_row's columns first). */
#define S_WALK_REFUNDS(what)                                                                       \
    "(SELECT " what " FROM refunds r WHERE r.transaction_id = orders.transaction_id)"
#define S_WALK_SQL                                                                                 \
    "SELECT o.*, " LEDGER_ENTRY_COLUMNS_OF(                                                        \
        "e") " FROM (SELECT " S_COLUMNS                                                            \
             ", seq, " S_WALK_REFUNDS("count(*)") ", " S_WALK_REFUNDS("COALESCE(sum(refund_minor)" \
                                                                      ", 0)") ", " S_WALK_REFUNDS( \
                 "COALESCE(sum(fee_refund_minor), 0)") " FROM orders) o"                           \
                                                       " LEFT JOIN entries e ON e.id = "           \
                                                       "o.entry_id ORDER BY o.seq"
enum { S_WALK_REFUND_COUNT = 24, S_WALK_ENTRY = 27 };

/* Checks every order: one not paid names no payment, entry or payer's
 * payment; a paid one (SUCCESS, REFUND, or a payment-code order REVOKED
 * after it was paid: success_at_ms, as the index orders_reversed has it)
 * is its payment (S_paid_check) and its refunds (S_refunded_wrong). *paid
 * and *reversed count those the journal pays and reverses. */
static enum qb_error S_orders_walk(struct store *reader, int64_t *orders, int64_t *paid,
                                   int64_t *reversed, char *problem, size_t problem_size)
{
    _Static_assert(MERCHANT_REVOKED == 7, "the SQL's constant below and orders_reversed's");
    struct S_walk_accounts accounts = {0};
    enum qb_error err = wallet_account_map_read(reader, WALLET_USERS_ACCOUNTS_SQL, &accounts.users);
    if (err == QB_OK)
        err = wallet_account_map_read(reader, "SELECT mchid, account_id FROM merchants",
                                      &accounts.merchants);
    struct store_stmt *st = NULL;
    if (err == QB_OK && store_prepare(reader, S_WALK_SQL, &st) != QB_OK)
        err = QB_E_STORAGE;
    int rc = STORE_STEP_DONE;
    while (err == QB_OK && (rc = store_step(st)) == STORE_STEP_ROW) {
        struct merchant_order o;
        const char *wrong = NULL;
        bool reversal = false;
        if (S_row(st, &o) != QB_OK) {
            wrong = "its row is not one Qianbao writes (a state, type, currency or total it does "
                    "not know)";
        } else {
            reversal = o.state == MERCHANT_REVOKED && o.success_at_ms > 0;
            if (merchant_order_is_paid(&o)) {
                struct merchant_order_accounts a;
                struct ledger_entry e;
                bool entry_read = ledger_entry_from_columns(st, S_WALK_ENTRY, &e) == QB_OK;
                err = S_walk_accounts_of(reader, &accounts, &o, &a);
                if (err == QB_OK)
                    err = S_paid_check(reader, &o, &a, &e, entry_read, &wrong);
                if (err == QB_OK && wrong == NULL && reversal &&
                    o.trade_type != MERCHANT_TRADE_MICROPAY)
                    wrong = "it is reversed, but only a payment-code order is";
                if (err == QB_OK && wrong == NULL)
                    wrong = S_refunded_wrong(&o, store_column_int64(st, S_WALK_REFUND_COUNT),
                                             store_column_int64(st, S_WALK_REFUND_COUNT + 1),
                                             store_column_int64(st, S_WALK_REFUND_COUNT + 2));
            } else if (o.entry_id != 0 || o.payment_id[0] != '\0' || o.success_at_ms != 0) {
                wrong = "it names a payment, an entry or a time paid, but is not paid";
            }
        }
        if (err == QB_OK && wrong != NULL)
            err = S_order_problem(&o, wrong, problem, problem_size);
        if (err != QB_OK)
            break;
        (*orders)++;
        *paid += o.entry_id != 0;
        *reversed += reversal;
    }
    if (err == QB_OK && rc != STORE_STEP_DONE)
        err = QB_E_STORAGE;
    if (st != NULL)
        store_finalize(st);
    wallet_account_map_free(accounts.users);
    wallet_account_map_free(accounts.merchants);
    return err;
}

/* What is wrong with reversal entry entry_id of reversed order o. */
static enum qb_error S_reversal_check(struct store *reader, const struct merchant_order *o,
                                      int64_t entry_id, const char **wrong)
{
    *wrong = NULL;
    struct merchant_order_accounts a;
    struct ledger_entry e;
    enum qb_error err =
        merchant_order_accounts_read(reader, o->payer_user_id, o->mchid, o->currency, &a);
    if (err == QB_OK)
        err = ledger_entry_read(reader, entry_id, &e);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err; /* read a moment ago */
    struct ledger_leg legs[3];
    size_t leg_count = merchant_order_reversal_legs(a.payer, a.merchant, a.fee_income,
                                                    o->total_minor, o->fee_minor, legs);
    if (e.kind != LEDGER_ENTRY_TRANSFER || e.id <= o->entry_id ||
        !ledger_entry_moves(&e, legs, leg_count))
        *wrong = "its reversal is not its payment given back (other accounts or amounts, or "
                 "before the payment)";
    else if (e.created_at_ms != o->closed_at_ms)
        *wrong = "the time it was reversed is not its reversal's";
    return QB_OK;
}

/* Pairs the reversed orders with the journal's reversals (code
 * WALLET_CODE_ORDER_REVERSAL, ref the order's payment), both in the order
 * of the payment id: no order keeps the reversal's entry, and no index
 * finds an entry by its ref, so the two lists are walked side by side, one
 * scan of the journal and a sort of the few reversals, whatever their
 * number. Each reversed order has exactly one, its payment given back
 * (S_reversal_check), and each is one's. *reversals: those paired. */
static enum qb_error S_reversals_check(struct store *reader, int64_t *reversals, char *problem,
                                       size_t problem_size)
{
    _Static_assert(WALLET_CODE_ORDER_REVERSAL == 32, "the SQL's constant below");
    struct store_stmt *orders = NULL, *entries = NULL;
    if (store_prepare(reader,
                      "SELECT " S_COLUMNS " FROM orders WHERE state = 7 AND success_at_ms > 0"
                      " ORDER BY payment_id",
                      &orders) != QB_OK)
        return QB_E_STORAGE;
    if (store_prepare(reader, "SELECT ref, id FROM entries WHERE code = 32 ORDER BY ref, id",
                      &entries) != QB_OK) {
        store_finalize(orders);
        return QB_E_STORAGE;
    }
    struct merchant_order o;
    memset(&o, 0, sizeof o);
    char ref[LEDGER_REF_SIZE_MAX] = "";
    int64_t entry_id = 0;
    enum qb_error err = QB_OK;
    int orc = store_step(orders), erc = store_step(entries);
    while (err == QB_OK && (orc == STORE_STEP_ROW || erc == STORE_STEP_ROW)) {
        if (orc == STORE_STEP_ROW && S_row(orders, &o) != QB_OK) {
            err = QB_E_INTERNAL; /* the walk of every order named it before */
            break;
        }
        if (erc == STORE_STEP_ROW) {
            store_column_text_copy(entries, 0, ref, sizeof ref);
            entry_id = store_column_int64(entries, 1);
        }
        int order = orc != STORE_STEP_ROW   ? 1
                    : erc != STORE_STEP_ROW ? -1
                                            : strcmp(o.payment_id, ref);
        const char *wrong = NULL;
        if (order < 0) {
            wrong = "it is reversed, but the journal holds no reversal of its payment";
        } else if (order > 0) {
            snprintf(problem, problem_size,
                     "the journal holds a reversal (entry %" PRId64 ") of payment %s, which no "
                     "reversed order names",
                     entry_id, ref);
            err = QB_E_INTERNAL;
            break;
        } else {
            err = S_reversal_check(reader, &o, entry_id, &wrong);
            int64_t first = entry_id;
            if (err == QB_OK && wrong == NULL)
                erc = store_step(entries);
            if (err == QB_OK && wrong == NULL && erc == STORE_STEP_ROW)
                store_column_text_copy(entries, 0, ref, sizeof ref);
            if (err == QB_OK && wrong == NULL && erc == STORE_STEP_ROW &&
                strcmp(ref, o.payment_id) == 0) {
                snprintf(problem, problem_size,
                         "order %s of merchant %s (%s): its payment is reversed twice in the "
                         "journal (entries %" PRId64 " and %" PRId64 ")",
                         o.out_trade_no, o.mchid, merchant_trade_state_name(o.state), first,
                         store_column_int64(entries, 1));
                err = QB_E_INTERNAL;
                break;
            }
        }
        if (err == QB_OK && wrong != NULL)
            err = S_order_problem(&o, wrong, problem, problem_size);
        if (err != QB_OK)
            break;
        (*reversals)++;
        orc = store_step(orders);
    }
    if (err == QB_OK && (orc != STORE_STEP_DONE || erc != STORE_STEP_DONE))
        err = QB_E_STORAGE;
    store_finalize(entries);
    store_finalize(orders);
    return err;
}

static enum qb_error S_check(struct store *reader, int64_t *orders, char *problem,
                             size_t problem_size)
{
    int64_t refunds = 0, paid = 0, reversed = 0, reversals = 0, remainders = 0;
    /* The refunds first: a refund row edited or made up is named by its own
     * number before its order's sums tell that something is amiss. */
    enum qb_error err = merchant_refunds_check(reader, &refunds, problem, problem_size);
    if (err == QB_OK)
        err = S_orders_walk(reader, orders, &paid, &reversed, problem, problem_size);
    if (err == QB_OK)
        err = S_reversals_check(reader, &reversals, problem, problem_size);
    QB_ASSERT(err != QB_OK || reversals == reversed);
    if (err == QB_OK)
        err = merchant_remainders_check(reader, &remainders, problem, problem_size);
    if (err != QB_OK)
        return err;
    /* Each row named its own entry: an entry beyond them is money no
     * order, refund, reversal or closing moved. */
    _Static_assert(WALLET_CODE_ORDER_PAYMENT == 30 && WALLET_CODE_ORDER_REFUND == 31 &&
                       WALLET_CODE_ORDER_REVERSAL == 32 && WALLET_CODE_MERCHANT_REMAINDER == 33,
                   "the codes' range");
    const struct wallet_entries_want want[] = {
        {WALLET_CODE_ORDER_PAYMENT, LEDGER_ENTRY_TRANSFER, "order payments", "the orders", paid},
        {WALLET_CODE_ORDER_REFUND, LEDGER_ENTRY_TRANSFER, "refunds", "the refunds", refunds},
        {WALLET_CODE_ORDER_REVERSAL, LEDGER_ENTRY_TRANSFER, "reversals", "the reversed orders",
         reversed},
        {WALLET_CODE_MERCHANT_REMAINDER, LEDGER_ENTRY_TRANSFER, "closed merchants' remainders",
         "the closed merchants", remainders},
    };
    return wallet_entries_check(
        reader, WALLET_CODE_ORDER_PAYMENT, WALLET_CODE_MERCHANT_REMAINDER, want,
        QB_ARRAY_COUNT(want), "merchant order, refund, reversal or closing", problem, problem_size);
}

enum qb_error merchant_orders_check(struct store *reader, int64_t *orders, char *problem,
                                    size_t problem_size)
{
    return wallet_check_in_snapshot(reader, S_check, orders, problem, problem_size);
}

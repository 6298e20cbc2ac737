/*
 * order.c — the orders table, the create and close commands, and the
 * order's JSON (order.h has the rules; pay.c the payment).
 *
 * A create runs on the ledger's writer like every write, so that two
 * creates with one out_trade_no can never both insert: the second finds
 * the first and is answered from it. Times shown to merchants are RFC 3339
 * in UTC+8, as WeChat's are.
 */
#include <stdio.h>
#include <string.h>

#include "merchant/order.h"

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
    int64_t now_ms = ledger_txn_now_ms(txn);

    /* A suspended or closed merchant makes no order, not even the same one again:
     * read here, in the command, so that none is made after the
     * suspension's answer. */
    struct merchant m;
    enum qb_error err = merchant_get(ledger_txn_store(txn), o->mchid, &m);
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

    /* A new order. A JSAPI order's openid must be one the app was given:
     * a mistyped one, or one from another app, is the merchant's error to
     * hear now, not the payer's at the till. */
    if (o->trade_type == MERCHANT_TRADE_JSAPI) {
        err = merchant_openid_issued(ledger_txn_store(txn), o->appid, o->payer_openid, NULL);
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
        c->outcome = err;
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

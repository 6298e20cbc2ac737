/*
 * pay.c — a wallet user paying a merchant order (order.h has the order of
 * checks), and the TRANSACTION.SUCCESS notification queued with it
 * (notify.h).
 *
 * Built like the transfer command (src/wallet/transfer.c): reads first, the
 * payment password next (its failure count must commit), the balance from
 * the ledger's working state, and only then the limits charge and the one
 * entry, which can no longer be refused. Every refusal is the stored answer
 * with QB_OK to the ledger; an error returned to the ledger rolls back all.
 */
#include <stdio.h>
#include <string.h>

#include "identity/identity.h"
#include "merchant/notify.h"
#include "merchant/order.h"
#include "wallet/limits.h"

static enum qb_error S_refuse(struct merchant_order_pay_cmd *c, enum qb_error err,
                              const char *message)
{
    c->outcome = err;
    return domain_response_error(&c->cmd, err, message, NULL);
}

/* As S_refuse, for the payment password's PASSWORD_WRONG and _LOCKED. */
static enum qb_error S_password_refuse(struct merchant_order_pay_cmd *c, enum qb_error err)
{
    c->outcome = err;
    return identity_password_refusal_response(&c->cmd, err, &c->password_try);
}

size_t merchant_order_payment_legs(int64_t payer_account, int64_t merchant_account,
                                   int64_t fee_income, int64_t total_minor, int64_t fee_minor,
                                   struct ledger_leg legs[3])
{
    QB_ASSERT(total_minor > 0 && fee_minor >= 0 && fee_minor <= total_minor);
    size_t count = 0;
    legs[count++] = (struct ledger_leg){payer_account, -total_minor};
    /* The whole amount may be fee (a tiny order at a high rate): then the
     * merchant has no leg, as a fee of 0 leaves fee income none. */
    if (total_minor - fee_minor > 0)
        legs[count++] = (struct ledger_leg){merchant_account, total_minor - fee_minor};
    if (fee_minor > 0)
        legs[count++] = (struct ledger_leg){fee_income, fee_minor};
    QB_ASSERT(count >= 2 && count <= 3);
    return count;
}

size_t merchant_order_reversal_legs(int64_t payer_account, int64_t merchant_account,
                                    int64_t fee_income, int64_t total_minor, int64_t fee_minor,
                                    struct ledger_leg legs[3])
{
    size_t count = merchant_order_payment_legs(payer_account, merchant_account, fee_income,
                                               total_minor, fee_minor, legs);
    for (size_t i = 0; i < count; i++)
        legs[i].amount_minor = -legs[i].amount_minor;
    return count;
}

/* The money of a payment (order.h): the limits, the balance, the entry, the
 * payer's payments row and the order SUCCESS. Refusals come before any
 * write, so a refused settle leaves the command free to keep its other
 * writes (a payment code's use). */
enum qb_error merchant_txn_order_settle(struct ledger_txn *txn, const struct domain_env *env,
                                       struct merchant_order *o, const struct merchant *m,
                                       const struct identity_user *payer, const char *openid,
                                       bool insert, enum qb_error *outcome,
                                       const char **refused_limit)
{
    QB_ASSERT(txn != NULL && env != NULL && o != NULL && m != NULL && payer != NULL);
    QB_ASSERT(o->total_minor > 0 && outcome != NULL && refused_limit != NULL);
    *outcome = QB_E_INTERNAL;
    *refused_limit = NULL;
    int64_t now_ms = ledger_txn_now_ms(txn);
    struct ledger_account_view payer_account;
    if (ledger_txn_account_get(txn, payer->account_id, &payer_account) != QB_OK)
        return QB_E_INTERNAL;

    /* Step 1: the limits, before the balance, as for a transfer. */
    enum qb_error err =
        wallet_txn_limits_check(txn, env, payer, o->total_minor, refused_limit, NULL);
    if (err == QB_E_LIMIT_EXCEEDED || err == QB_E_OVERFLOW) {
        *outcome = err;
        return QB_OK;
    }
    if (err != QB_OK)
        return err;

    /* Step 2: the balance, before anything is charged. */
    if (payer_account.available_minor < o->total_minor) {
        *outcome = QB_E_INSUFFICIENT_BALANCE;
        return QB_OK;
    }

    /* Step 3: the entry, the payment row and the order. */
    struct wallet_payment p;
    err = wallet_txn_payment_new(txn, env->rand, &p);
    if (err != QB_OK)
        return err;
    p.kind = WALLET_ORDER_PAYMENT;
    snprintf(p.user_id, sizeof p.user_id, "%s", payer->id);
    snprintf(p.counterparty_id, sizeof p.counterparty_id, "%s", m->mchid);
    p.currency = o->currency;
    p.amount_minor = o->total_minor;
    snprintf(p.memo, sizeof p.memo, "%s", o->description);
    p.status = WALLET_SUCCESS;
    int64_t fee = merchant_fee(o->total_minor, m->fee_ppm);
    struct ledger_leg legs[3];
    size_t leg_count = merchant_order_payment_legs(
        payer->account_id, m->account_id, env->accounts.fee_income, o->total_minor, fee, legs);
    err = ledger_txn_post(txn, WALLET_CODE_ORDER_PAYMENT, p.id, legs, leg_count, &p.entry_id);
    if (err != QB_OK)
        return err;
    QB_ASSERT(p.entry_id > 0);
    err = wallet_txn_payment_insert(txn, &p);
    if (err != QB_OK)
        return QB_E_STORAGE;
    o->state = MERCHANT_SUCCESS;
    o->fee_minor = fee;
    snprintf(o->payer_openid, sizeof o->payer_openid, "%s", openid);
    snprintf(o->payer_user_id, sizeof o->payer_user_id, "%s", payer->id);
    snprintf(o->payment_id, sizeof o->payment_id, "%s", p.id);
    o->entry_id = p.entry_id;
    o->success_at_ms = o->updated_at_ms = now_ms;
    err = insert ? merchant_txn_order_insert(txn, o) : merchant_txn_order_update(txn, o);
    if (err != QB_OK)
        return QB_E_STORAGE;
    /* The app has seen the payer's openid now: its JSAPI orders may name it. */
    if (merchant_txn_openid_record(txn, o->appid, openid, payer->id) != QB_OK)
        return QB_E_STORAGE;
    /* The TRANSACTION.SUCCESS notification, in this same transaction, for
     * an order that named where to send it (a till code's and a payment
     * code's name none, as WeChat's payment-code orders do not). */
    if (o->notify_url[0] != '\0') {
        json_t *resource = merchant_order_json(o, now_ms);
        if (resource == NULL)
            return QB_E_INTERNAL;
        err = merchant_txn_notify_add(txn, env, o->mchid, o->notify_url, "TRANSACTION.SUCCESS",
                                      "transaction", o->transaction_id, "支付成功", resource);
        json_decref(resource);
        if (err != QB_OK)
            return err;
    }
    *outcome = QB_OK;
    return QB_OK;
}

static enum qb_error S_pay_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct merchant_order_pay_cmd *c = (struct merchant_order_pay_cmd *)cmd;
    const struct domain_env *env = c->env;
    struct store *store = ledger_txn_store(txn);
    c->outcome = QB_E_INTERNAL;
    c->password_try = (struct identity_password_try){0, 0};
    if (memchr(c->payer_id, '\0', sizeof c->payer_id) == NULL ||
        memchr(c->pay_token, '\0', sizeof c->pay_token) == NULL ||
        memchr(c->till_mchid, '\0', sizeof c->till_mchid) == NULL ||
        memchr(c->payment_password, '\0', sizeof c->payment_password) == NULL)
        return S_refuse(c, QB_E_PARAM, NULL);
    int64_t now_ms = ledger_txn_now_ms(txn);
    bool till = c->till_mchid[0] != '\0';
    struct merchant_order o;
    struct merchant m;
    char openid[MERCHANT_OPENID_SIZE];
    enum qb_error err;

    if (till) {
        /* Steps 1 to 3 for a till code: the merchant, and its new order in
         * memory; nothing is written before every check passed. */
        if (c->pay_token[0] != '\0' || c->till_amount_minor < 1 ||
            c->till_amount_minor > MERCHANT_ORDER_TOTAL_MAX_MINOR)
            return S_refuse(c, QB_E_PARAM, NULL);
        err = merchant_get(env, store, c->till_mchid, &m);
        if (err == QB_E_NOT_FOUND)
            return S_refuse(c, QB_E_PAYEE_NOT_FOUND, "no merchant has this code");
        if (err != QB_OK)
            return err;
        memset(&o, 0, sizeof o);
        merchant_order_ids_new(env, now_ms, &o);
        snprintf(o.mchid, sizeof o.mchid, "%s", m.mchid);
        snprintf(o.out_trade_no, sizeof o.out_trade_no, "QR%s", o.transaction_id);
        snprintf(o.appid, sizeof o.appid, "%s", m.appid);
        o.trade_type = MERCHANT_TRADE_NATIVE;
        uint8_t digest[CRYPTO_SHA256_SIZE];
        crypto_sha256(o.transaction_id, strlen(o.transaction_id), digest);
        domain_request_fingerprint(env, digest, o.request_hash);
        snprintf(o.description, sizeof o.description, "%s", MERCHANT_TILL_DESCRIPTION);
        o.currency = currency_find("CNY");
        o.total_minor = c->till_amount_minor;
        o.state = MERCHANT_NOTPAY;
        o.created_at_ms = o.updated_at_ms = now_ms;
        o.expires_at_ms = now_ms + MERCHANT_ORDER_TTL_DEFAULT_MS;
        merchant_openid(env, o.appid, c->payer_id, openid);
    } else {
        /* Step 1: the order, as this user may see it. */
        err = merchant_txn_order_by_token(txn, c->pay_token, &o);
        if (err == QB_E_ORDER_NOT_EXIST)
            return S_refuse(c, err, NULL);
        if (err != QB_OK)
            return err;
        merchant_openid(env, o.appid, c->payer_id, openid);
        if (o.trade_type == MERCHANT_TRADE_JSAPI && strcmp(o.payer_openid, openid) != 0)
            return S_refuse(c, QB_E_ORDER_NOT_EXIST, NULL);
        /* A payment-code order waiting for its payer (USERPAYING) is that
         * payer's alone, and only with the payment password. */
        bool micropay = o.trade_type == MERCHANT_TRADE_MICROPAY;
        if (micropay && strcmp(o.payer_user_id, c->payer_id) != 0)
            return S_refuse(c, QB_E_ORDER_NOT_EXIST, NULL);

        /* Step 2: its state. */
        enum merchant_trade_state state = merchant_order_state_at(&o, now_ms);
        if (state == MERCHANT_SUCCESS || state == MERCHANT_REFUND)
            return S_refuse(c, QB_E_ORDER_PAID, NULL);
        if (state != (micropay ? MERCHANT_USERPAYING : MERCHANT_NOTPAY))
            return S_refuse(c, QB_E_ORDER_CLOSED, NULL);
        if (micropay && !c->has_payment_password)
            return S_refuse(c, QB_E_PARAM, "payment_password is required to confirm this payment");

        /* Step 3: the merchant takes the money. */
        err = merchant_get(env, store, o.mchid, &m);
        if (err != QB_OK)
            return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err;
    }
    struct ledger_account_view merchant_account;
    if (ledger_txn_account_get(txn, m.account_id, &merchant_account) != QB_OK)
        return QB_E_INTERNAL;
    if (m.status == MERCHANT_SUSPENDED || m.status == MERCHANT_STATUS_CLOSED)
        return S_refuse(c, QB_E_PAYEE_UNAVAILABLE,
                        m.status == MERCHANT_STATUS_CLOSED ? MERCHANT_CLOSED_MESSAGE
                                                           : MERCHANT_SUSPENDED_MESSAGE);
    if (m.status != MERCHANT_ACTIVE ||
        (merchant_account.flags & (LEDGER_ACCOUNT_CREDIT_FROZEN | LEDGER_ACCOUNT_CLOSED)) != 0)
        return S_refuse(c, QB_E_PAYEE_UNAVAILABLE, NULL);

    /* Step 4: the payer. */
    struct identity_user payer;
    err = identity_txn_user_get(txn, env, c->payer_id, &payer);
    if (err == QB_E_NOT_FOUND)
        return S_refuse(c, QB_E_UNAUTHORIZED, NULL);
    if (err != QB_OK)
        return QB_E_STORAGE;
    struct ledger_account_view payer_account;
    if (ledger_txn_account_get(txn, payer.account_id, &payer_account) != QB_OK)
        return QB_E_INTERNAL;
    if (payer.status == IDENTITY_FROZEN ||
        (payer_account.flags & (LEDGER_ACCOUNT_DEBIT_FROZEN | LEDGER_ACCOUNT_CLOSED)) != 0)
        return S_refuse(c, QB_E_ACCOUNT_FROZEN, NULL);
    QB_ASSERT(payer_account.currency == o.currency && merchant_account.currency == o.currency);

    /* Step 5: the payment password, or the password-free amount. */
    if (c->has_payment_password) {
        err = identity_txn_payment_password_verify(txn, env, payer.id, c->payment_password,
                                                   &c->password_try);
        if (err == QB_E_PASSWORD_WRONG || err == QB_E_PASSWORD_LOCKED)
            return S_password_refuse(c, err);
        if (err == QB_E_PASSWORD_NOT_SET)
            return S_refuse(c, err, NULL);
        if (err != QB_OK)
            return err;
    } else {
        const char *why = NULL;
        err = wallet_txn_password_free_check(txn, env, &payer, o.total_minor, &why);
        if (err == QB_E_PASSWORD_LOCKED) {
            c->password_try.locked_until_ms = payer.payment_password_locked_until_ms;
            return S_password_refuse(c, err);
        }
        if (err == QB_E_PASSWORD_NOT_SET || err == QB_E_PARAM)
            return S_refuse(c, err, why);
        if (err != QB_OK)
            return err;
    }

    /* Steps 6 to 8: the limits, the balance, the entry and the order. */
    const char *refused_limit = NULL;
    enum qb_error outcome = QB_E_INTERNAL;
    err = merchant_txn_order_settle(txn, env, &o, &m, &payer, openid, till, &outcome,
                                    &refused_limit);
    if (err != QB_OK)
        return err;
    if (outcome == QB_E_LIMIT_EXCEEDED || outcome == QB_E_OVERFLOW) {
        c->outcome = outcome;
        return wallet_limits_refusal(&c->cmd, outcome, refused_limit);
    }
    if (outcome != QB_OK)
        return S_refuse(c, outcome, NULL);
    if (!c->has_payment_password) {
        err = wallet_txn_password_free_count(txn, payer.id);
        if (err != QB_OK)
            return err;
    }

    json_t *body = json_pack("{s:s, s:s, s:I, s:s, s:{s:s, s:s}, s:s, s:s, s:s, s:o}", "id",
                             o.payment_id, "status", "SUCCESS", "amount",
                             (json_int_t)o.total_minor, "currency", o.currency->code, "merchant", "mchid", m.mchid, "name",
                             m.name, "out_trade_no", o.out_trade_no, "transaction_id",
                             o.transaction_id, "description", o.description, "created_at",
                             domain_time_json(o.success_at_ms));
    if (body == NULL)
        return QB_E_INTERNAL;
    err = domain_response_set(&c->cmd, 201, body);
    json_decref(body);
    if (err != QB_OK)
        return err;
    c->outcome = QB_OK;
    return QB_OK;
}

void merchant_order_pay_cmd_init(struct merchant_order_pay_cmd *c, const struct domain_env *env)
{
    QB_ASSERT(c != NULL && env != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_pay_run, NULL);
    c->env = env;
    c->outcome = QB_E_INTERNAL;
}

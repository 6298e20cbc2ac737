/*
 * test_order.c — merchant orders and their payment (src/merchant/order.c,
 * pay.c) on a real ledger: the out_trade_no rules, closing, expiry at
 * time_expire, and the one entry that moves a payment — the user's balance
 * down by the total, the merchant's up by the total less the fee, fee
 * income up by the fee — with every refusal moving nothing.
 *
 * The ledger, the users and the manual clock come from the wallet's
 * transfer fixture; merchants are written through the onboarding command
 * with keys that the order commands never read.
 */
#include <stdio.h>
#include <string.h>

#include "merchant/order.h"
#include "unit/merchant/merchant_fixture.h"

struct fx {
    struct wx *wx;
    struct merchant m;
    struct identity_user payer;
};

static struct fx S_fx_new(int64_t fee_ppm)
{
    struct fx f;
    memset(&f, 0, sizeof f);
    f.wx = wx_new();
    ASSERT_EQ_INT(wallet_accounts_setup(f.wx->ledger, &f.wx->env), QB_OK);
    f.m = mx_merchant(f.wx, "1900009191", "wx0123456789abcdef", "面馆", fee_ppm);
    f.payer = wx_user(f.wx, "小明", true);
    wx_fund(f.wx, f.payer.account_id, 100000);
    return f;
}

/* Gives user their openid in the merchant's app, as GET
 * /v1/me/openids/{appid} does: answers the outcome, the openid in out. */
static enum qb_error S_openid_issue(struct fx *f, const char *appid,
                                    const struct identity_user *user,
                                    char out[MERCHANT_OPENID_SIZE])
{
    struct merchant_openid_issue_cmd c;
    merchant_openid_issue_cmd_init(&c, &f->wx->env);
    snprintf(c.appid, sizeof c.appid, "%s", appid);
    snprintf(c.user_id, sizeof c.user_id, "%s", user->id);
    ASSERT_EQ_INT(ledger_execute(f->wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    snprintf(out, MERCHANT_OPENID_SIZE, "%s", c.openid);
    enum qb_error outcome = c.outcome;
    ledger_cmd_release(&c.cmd);
    return outcome;
}

/* Creates (or re-creates) an order; answers the outcome and fills *out.
 * A JSAPI order names openid, or the fixture's payer's when NULL. */
static enum qb_error S_create_for(struct fx *f, const char *openid, const char *out_trade_no,
                                  int64_t total, enum merchant_trade_type type, uint8_t hash_byte,
                                  int64_t expires_at_ms, struct merchant_order *out)
{
    struct merchant_order_create_cmd c;
    merchant_order_create_cmd_init(&c, &f->wx->env);
    struct merchant_order *o = &c.order;
    snprintf(o->mchid, sizeof o->mchid, "%s", f->m.mchid);
    snprintf(o->appid, sizeof o->appid, "%s", f->m.appid);
    snprintf(o->out_trade_no, sizeof o->out_trade_no, "%s", out_trade_no);
    o->trade_type = type;
    memset(o->request_hash, hash_byte, sizeof o->request_hash);
    snprintf(o->description, sizeof o->description, "牛肉面");
    snprintf(o->notify_url, sizeof o->notify_url, "https://example.com/notify");
    o->currency = currency_find("CNY");
    o->total_minor = total;
    o->expires_at_ms = expires_at_ms;
    if (type == MERCHANT_TRADE_JSAPI && openid != NULL)
        snprintf(o->payer_openid, sizeof o->payer_openid, "%s", openid);
    else if (type == MERCHANT_TRADE_JSAPI)
        merchant_openid(&f->wx->env, f->m.appid, f->payer.id, o->payer_openid);
    ASSERT_EQ_INT(ledger_execute(f->wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    *out = c.order;
    enum qb_error outcome = c.outcome;
    ledger_cmd_release(&c.cmd);
    return outcome;
}

static enum qb_error S_create(struct fx *f, const char *out_trade_no, int64_t total,
                              enum merchant_trade_type type, uint8_t hash_byte,
                              int64_t expires_at_ms, struct merchant_order *out)
{
    return S_create_for(f, NULL, out_trade_no, total, type, hash_byte, expires_at_ms, out);
}

/* The payer pays the order; answers the outcome. */
static enum qb_error S_pay(struct fx *f, const struct identity_user *payer,
                           const struct merchant_order *o, const char *password)
{
    struct merchant_order_pay_cmd c;
    merchant_order_pay_cmd_init(&c, &f->wx->env);
    snprintf(c.payer_id, sizeof c.payer_id, "%s", payer->id);
    snprintf(c.pay_token, sizeof c.pay_token, "%s", o->pay_token);
    c.has_payment_password = password != NULL;
    snprintf(c.payment_password, sizeof c.payment_password, "%s", password ? password : "");
    ASSERT_EQ_INT(ledger_execute(f->wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    enum qb_error outcome = c.outcome;
    ledger_cmd_release(&c.cmd);
    return outcome;
}

static enum merchant_trade_state S_state(struct fx *f, const char *out_trade_no)
{
    struct merchant_order o;
    ASSERT_EQ_INT(merchant_order_get(f->wx->reader, f->m.mchid, out_trade_no, NULL, &o), QB_OK);
    return merchant_order_state_at(&o, clock_now_ms(&f->wx->clock));
}

TEST(paying_moves_the_total_less_fee_to_the_merchant_and_the_fee_to_income)
{
    // The heart of a merchant payment: one entry, the user down by the total, the merchant up by
    // the total less 0.6 % (rounded half up), fee income up by the fee, and the order SUCCESS.
    struct fx f = S_fx_new(6000);
    int64_t fee_before = wx_balance(f.wx, f.wx->env.accounts.fee_income);
    struct merchant_order o;
    ASSERT_EQ_INT(S_create(&f, "order-0001", 12345, MERCHANT_TRADE_NATIVE, 1, 0, &o), QB_OK);
    ASSERT_EQ_INT(o.state, MERCHANT_NOTPAY);
    ASSERT_EQ_INT(strlen(o.transaction_id), 28);
    ASSERT_EQ_INT(o.expires_at_ms - o.created_at_ms, MERCHANT_ORDER_TTL_DEFAULT_MS);
    ASSERT_EQ_INT(S_pay(&f, &f.payer, &o, WX_PAY_PASSWORD), QB_OK);
    /* 12345 × 0.006 = 74.07 → 74 fen. */
    ASSERT_EQ_INT(merchant_fee(12345, 6000), 74);
    ASSERT_EQ_INT(wx_balance(f.wx, f.payer.account_id), 100000 - 12345);
    ASSERT_EQ_INT(wx_balance(f.wx, f.m.account_id), 12345 - 74);
    ASSERT_EQ_INT(wx_balance(f.wx, f.wx->env.accounts.fee_income) - fee_before, 74);
    ASSERT_EQ_INT(S_state(&f, "order-0001"), MERCHANT_SUCCESS);
    struct merchant_order paid;
    ASSERT_EQ_INT(merchant_order_get(f.wx->reader, f.m.mchid, NULL, o.transaction_id, &paid), QB_OK);
    ASSERT_EQ_INT(paid.fee_minor, 74);
    ASSERT_EQ_STR(paid.payer_user_id, f.payer.id);
    struct wallet_payment p;
    ASSERT_EQ_INT(wallet_payment_get(f.wx->reader, paid.payment_id, f.payer.id, &p), QB_OK);
    ASSERT_EQ_INT(p.kind, WALLET_ORDER_PAYMENT);
    ASSERT_EQ_STR(p.counterparty_id, f.m.mchid);
    ASSERT_EQ_INT(p.amount_minor, 12345);
    /* Half a fen rounds up: 250 × 0.006 = 1.5 → 2. */
    ASSERT_EQ_INT(merchant_fee(250, 6000), 2);
    ASSERT_EQ_INT(merchant_fee(83, 6000), 0);
    wx_free(f.wx);
}

TEST(paid_closed_and_expired_orders_are_refused_and_move_nothing)
{
    // Paying twice, paying a closed order or one past its time_expire must leave every balance
    // as it was; the state a reader sees follows the same clock.
    struct fx f = S_fx_new(6000);
    struct merchant_order o;
    ASSERT_EQ_INT(S_create(&f, "order-0002", 1000, MERCHANT_TRADE_NATIVE, 1, 0, &o), QB_OK);
    ASSERT_EQ_INT(S_pay(&f, &f.payer, &o, WX_PAY_PASSWORD), QB_OK);
    ASSERT_EQ_INT(S_pay(&f, &f.payer, &o, WX_PAY_PASSWORD), QB_E_ORDER_PAID);
    ASSERT_EQ_INT(wx_balance(f.wx, f.payer.account_id), 100000 - 1000);

    struct merchant_order closed;
    ASSERT_EQ_INT(S_create(&f, "order-0003", 1000, MERCHANT_TRADE_NATIVE, 1, 0, &closed), QB_OK);
    struct merchant_order_close_cmd cc;
    merchant_order_close_cmd_init(&cc, &f.wx->env);
    snprintf(cc.mchid, sizeof cc.mchid, "%s", f.m.mchid);
    snprintf(cc.out_trade_no, sizeof cc.out_trade_no, "order-0003");
    ASSERT_EQ_INT(ledger_execute(f.wx->ledger, &cc.cmd), QB_OK);
    ASSERT_EQ_INT(cc.outcome, QB_OK);
    ledger_cmd_release(&cc.cmd);
    ASSERT_EQ_INT(S_state(&f, "order-0003"), MERCHANT_CLOSED);
    ASSERT_EQ_INT(S_pay(&f, &f.payer, &closed, WX_PAY_PASSWORD), QB_E_ORDER_CLOSED);

    int64_t now = clock_now_ms(&f.wx->clock);
    struct merchant_order soon;
    ASSERT_EQ_INT(S_create(&f, "order-0004", 1000, MERCHANT_TRADE_NATIVE, 1, now + 60000, &soon),
                  QB_OK);
    ASSERT_EQ_INT(S_state(&f, "order-0004"), MERCHANT_NOTPAY);
    wx_clock_to(f.wx, now + 60000);
    ASSERT_EQ_INT(S_state(&f, "order-0004"), MERCHANT_CLOSED);
    ASSERT_EQ_INT(S_pay(&f, &f.payer, &soon, WX_PAY_PASSWORD), QB_E_ORDER_CLOSED);
    ASSERT_EQ_INT(wx_balance(f.wx, f.payer.account_id), 100000 - 1000);

    /* Closing a paid order is ORDERPAID; closing an expired one succeeds. */
    merchant_order_close_cmd_init(&cc, &f.wx->env);
    snprintf(cc.mchid, sizeof cc.mchid, "%s", f.m.mchid);
    snprintf(cc.out_trade_no, sizeof cc.out_trade_no, "order-0002");
    ASSERT_EQ_INT(ledger_execute(f.wx->ledger, &cc.cmd), QB_OK);
    ASSERT_EQ_INT(cc.outcome, QB_E_ORDER_PAID);
    ledger_cmd_release(&cc.cmd);
    wx_free(f.wx);
}

TEST(out_trade_no_answers_a_retry_and_refuses_another_body)
{
    // WeChat's rule for a merchant's order number: the same request again gets the same order
    // (same pay token), another request under the number is INVALID_REQUEST, a paid one ORDERPAID.
    struct fx f = S_fx_new(6000);
    struct merchant_order a, b;
    ASSERT_EQ_INT(S_create(&f, "order-0005", 500, MERCHANT_TRADE_APP, 7, 0, &a), QB_OK);
    ASSERT_EQ_INT(S_create(&f, "order-0005", 500, MERCHANT_TRADE_APP, 7, 0, &b), QB_OK);
    ASSERT_EQ_STR(a.pay_token, b.pay_token);
    ASSERT_EQ_STR(a.transaction_id, b.transaction_id);
    ASSERT_EQ_INT(S_create(&f, "order-0005", 501, MERCHANT_TRADE_APP, 8, 0, &b),
                  QB_E_INVALID_REQUEST);
    ASSERT_EQ_INT(S_pay(&f, &f.payer, &a, WX_PAY_PASSWORD), QB_OK);
    ASSERT_EQ_INT(S_create(&f, "order-0005", 500, MERCHANT_TRADE_APP, 7, 0, &b), QB_E_ORDER_PAID);
    wx_free(f.wx);
}

TEST(a_retry_of_an_order_fingerprinted_whole_is_still_the_same_order)
{
    // Orders made before the payer's IP was left out of the fingerprint stored the whole body's.
    // A retry carries both (the route makes the old one when the body names an IP): either
    // matching is the same order, neither is another request under the number.
    struct fx f = S_fx_new(6000);
    struct merchant_order a, b;
    ASSERT_EQ_INT(S_create(&f, "order-0006", 500, MERCHANT_TRADE_H5, 0x11, 0, &a), QB_OK);
    struct merchant_order_create_cmd c;
    for (int legacy = 0x11; legacy <= 0x33; legacy += 0x22) {
        merchant_order_create_cmd_init(&c, &f.wx->env);
        c.order = a;
        memset(c.order.request_hash, 0x22, sizeof c.order.request_hash);
        c.has_legacy_hash = true;
        memset(c.legacy_request_hash, legacy, sizeof c.legacy_request_hash);
        ASSERT_EQ_INT(ledger_execute(f.wx->ledger, &c.cmd), QB_OK);
        ASSERT_EQ_INT(c.outcome, legacy == 0x11 ? QB_OK : QB_E_INVALID_REQUEST);
        ASSERT_EQ_STR(c.order.pay_token, a.pay_token);
        ledger_cmd_release(&c.cmd);
    }
    /* Without the old fingerprint, the new one alone decides. */
    ASSERT_EQ_INT(S_create(&f, "order-0006", 500, MERCHANT_TRADE_H5, 0x22, 0, &b),
                  QB_E_INVALID_REQUEST);
    wx_free(f.wx);
}

TEST(a_jsapi_order_is_payable_by_its_openid_only_and_checks_hold)
{
    // A JSAPI order names its payer by openid; for any other user it does not exist. A wrong
    // password and a short balance refuse without moving money.
    struct fx f = S_fx_new(0);
    struct merchant_order o;
    char openid[MERCHANT_OPENID_SIZE];
    ASSERT_EQ_INT(S_openid_issue(&f, f.m.appid, &f.payer, openid), QB_OK);
    ASSERT_EQ_INT(S_create(&f, "order-0006", 700, MERCHANT_TRADE_JSAPI, 1, 0, &o), QB_OK);
    ASSERT_EQ_STR(o.payer_openid, openid);
    struct identity_user other = wx_user(f.wx, "小红", true);
    wx_fund(f.wx, other.account_id, 5000);
    ASSERT_EQ_INT(S_pay(&f, &other, &o, WX_PAY_PASSWORD), QB_E_ORDER_NOT_EXIST);
    ASSERT_EQ_INT(S_pay(&f, &f.payer, &o, WX_WRONG_PASSWORD), QB_E_PASSWORD_WRONG);
    ASSERT_EQ_INT(wx_balance(f.wx, f.payer.account_id), 100000);
    struct merchant_order big;
    ASSERT_EQ_INT(S_create(&f, "order-0007", 6000, MERCHANT_TRADE_NATIVE, 1, 0, &big), QB_OK);
    ASSERT_EQ_INT(S_pay(&f, &other, &big, WX_PAY_PASSWORD), QB_E_INSUFFICIENT_BALANCE);
    ASSERT_EQ_INT(wx_balance(f.wx, other.account_id), 5000);
    /* At a zero fee rate the merchant gets all of it, in a two-leg entry. */
    ASSERT_EQ_INT(S_pay(&f, &f.payer, &o, WX_PAY_PASSWORD), QB_OK);
    ASSERT_EQ_INT(wx_balance(f.wx, f.m.account_id), 700);
    wx_free(f.wx);
}

/* A till code's payment: the order made and paid by one command. */
static enum qb_error S_till_pay(struct fx *f, const char *mchid, int64_t amount,
                                const char *password, struct merchant_order *paid)
{
    struct merchant_order_pay_cmd c;
    merchant_order_pay_cmd_init(&c, &f->wx->env);
    snprintf(c.payer_id, sizeof c.payer_id, "%s", f->payer.id);
    snprintf(c.till_mchid, sizeof c.till_mchid, "%s", mchid);
    c.till_amount_minor = amount;
    c.has_payment_password = password != NULL;
    snprintf(c.payment_password, sizeof c.payment_password, "%s", password ? password : "");
    ASSERT_EQ_INT(ledger_execute(f->wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    enum qb_error outcome = c.outcome;
    if (outcome == QB_OK) {
        int status;
        const char *body;
        size_t size;
        ASSERT(domain_response_get(&c.cmd, &status, &body, &size));
        ASSERT_EQ_INT(status, 201);
        json_t *j = json_loadb(body, size, 0, NULL);
        ASSERT(j != NULL);
        ASSERT_EQ_INT(merchant_order_get(f->wx->reader, f->m.mchid,
                                         json_string_value(json_object_get(j, "out_trade_no")),
                                         NULL, paid),
                      QB_OK);
        json_decref(j);
    }
    ledger_cmd_release(&c.cmd);
    return outcome;
}

static int64_t S_order_count(struct fx *f)
{
    struct store_stmt *st = NULL;
    ASSERT_EQ_INT(store_prepare(f->wx->reader, "SELECT count(*) FROM orders", &st), QB_OK);
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    int64_t count = store_column_int64(st, 0);
    store_finalize(st);
    return count;
}

TEST(a_jsapi_order_names_only_an_openid_the_app_gave_out)
{
    // An openid is a one-way hash, so only the openids table can tell a real one from a typo or
    // one from another app when the order is made. A user is given theirs by the issue command
    // or by paying in the app; an unknown app gives out none.
    struct fx f = S_fx_new(0);
    struct identity_user other = wx_user(f.wx, "小红", true);
    wx_fund(f.wx, other.account_id, 5000);
    char openid[MERCHANT_OPENID_SIZE], again[MERCHANT_OPENID_SIZE];
    merchant_openid(&f.wx->env, f.m.appid, other.id, openid);
    struct merchant_order o;
    int64_t orders = S_order_count(&f);
    ASSERT_EQ_INT(S_create_for(&f, openid, "order-0101", 300, MERCHANT_TRADE_JSAPI, 1, 0, &o),
                  QB_E_PARAM);
    ASSERT_EQ_INT(S_create_for(&f, "oAAAAAAAAAAAAAAAAAAAAAAAAAAA", "order-0101", 300,
                               MERCHANT_TRADE_JSAPI, 1, 0, &o),
                  QB_E_PARAM);
    ASSERT_EQ_INT(S_order_count(&f), orders);
    ASSERT_EQ_INT(merchant_openid_issued(&f.wx->env, f.wx->reader, f.m.appid, openid, NULL),
                  QB_E_NOT_FOUND);

    /* Paying a native order in the app gives the app the payer's openid. */
    ASSERT_EQ_INT(S_create(&f, "order-0102", 100, MERCHANT_TRADE_NATIVE, 1, 0, &o), QB_OK);
    ASSERT_EQ_INT(S_pay(&f, &other, &o, WX_PAY_PASSWORD), QB_OK);
    ASSERT_EQ_INT(merchant_openid_issued(&f.wx->env, f.wx->reader, f.m.appid, openid, NULL), QB_OK);
    ASSERT_EQ_INT(S_create_for(&f, openid, "order-0101", 300, MERCHANT_TRADE_JSAPI, 1, 0, &o),
                  QB_OK);
    ASSERT_EQ_INT(S_pay(&f, &other, &o, WX_PAY_PASSWORD), QB_OK);

    /* The issue command: the same openid each time, and none in an app nobody has. */
    ASSERT_EQ_INT(S_openid_issue(&f, f.m.appid, &other, again), QB_OK);
    ASSERT_EQ_STR(again, openid);
    ASSERT_EQ_INT(S_openid_issue(&f, "wx00000000000000ff", &other, again), QB_E_NOT_FOUND);
    merchant_openid(&f.wx->env, "wx00000000000000ff", other.id, again);
    ASSERT_EQ_INT(
        merchant_openid_issued(&f.wx->env, f.wx->reader, "wx00000000000000ff", again, NULL),
        QB_E_NOT_FOUND);
    /* The payer's openid in this app is not the other user's. */
    ASSERT_EQ_INT(S_openid_issue(&f, f.m.appid, &f.payer, again), QB_OK);
    ASSERT(strcmp(again, openid) != 0);
    /* A row edited to name another user (whom a merchant's transfer to the openid would then
     * pay) is no openid given out: its user's digest is not the openid. */
    char sql[256], user_id[ID_TEXT_SIZE_MAX];
    snprintf(sql, sizeof sql, "UPDATE openids SET user_id = '%s' WHERE openid = '%s'", f.payer.id,
             openid);
    wx_hand_edit(f.wx, sql);
    ASSERT_EQ_INT(merchant_openid_issued(NULL, f.wx->reader, f.m.appid, openid, user_id), QB_OK);
    ASSERT_EQ_STR(user_id, f.payer.id);
    ASSERT_EQ_INT(merchant_openid_issued(&f.wx->env, f.wx->reader, f.m.appid, openid, user_id),
                  QB_E_NOT_FOUND);
    ASSERT_EQ_INT(S_create_for(&f, openid, "order-0103", 300, MERCHANT_TRADE_JSAPI, 1, 0, &o),
                  QB_E_PARAM);
    wx_free(f.wx);
}

TEST(a_till_code_payment_makes_its_order_paid_or_none_at_all)
{
    // A static till code has no order until someone pays: the command makes it and pays it in
    // one go. Every refusal (an unknown merchant, a wrong password, a short balance) leaves no
    // order row and moves nothing; a success leaves one NATIVE order, SUCCESS, with its fee.
    struct fx f = S_fx_new(6000);
    /* Limits come before the balance: a level 1 payer's lifetime ¥1,000 would refuse the
     * short balance's ¥1,000.01 first. */
    f.wx->env.settings.limit_kyc1_lifetime_minor = 1000000;
    struct merchant_order paid;
    ASSERT_EQ_INT(S_till_pay(&f, "1900000000", 500, WX_PAY_PASSWORD, &paid), QB_E_PAYEE_NOT_FOUND);
    ASSERT_EQ_INT(S_till_pay(&f, f.m.mchid, 500, WX_WRONG_PASSWORD, &paid), QB_E_PASSWORD_WRONG);
    ASSERT_EQ_INT(S_till_pay(&f, f.m.mchid, 100001, WX_PAY_PASSWORD, &paid),
                  QB_E_INSUFFICIENT_BALANCE);
    ASSERT_EQ_INT(S_till_pay(&f, f.m.mchid, 0, WX_PAY_PASSWORD, &paid), QB_E_PARAM);
    ASSERT_EQ_INT(S_order_count(&f), 0);
    ASSERT_EQ_INT(wx_balance(f.wx, f.payer.account_id), 100000);

    ASSERT_EQ_INT(S_till_pay(&f, f.m.mchid, 12345, WX_PAY_PASSWORD, &paid), QB_OK);
    ASSERT_EQ_INT(S_order_count(&f), 1);
    ASSERT_EQ_INT(paid.state, MERCHANT_SUCCESS);
    ASSERT_EQ_INT(paid.trade_type, MERCHANT_TRADE_NATIVE);
    ASSERT_EQ_INT(paid.total_minor, 12345);
    ASSERT_EQ_INT(paid.fee_minor, 74);
    ASSERT_EQ_STR(paid.description, MERCHANT_TILL_DESCRIPTION);
    ASSERT(strncmp(paid.out_trade_no, "QR", 2) == 0 &&
           strcmp(paid.out_trade_no + 2, paid.transaction_id) == 0);
    ASSERT_EQ_STR(paid.payer_user_id, f.payer.id);
    ASSERT(paid.entry_id > 0 && paid.payment_id[0] != '\0');
    ASSERT_EQ_INT(wx_balance(f.wx, f.payer.account_id), 100000 - 12345);
    ASSERT_EQ_INT(wx_balance(f.wx, f.m.account_id), 12345 - 74);
    /* Its pay token names a paid order: paying it again is ORDERPAID. */
    ASSERT_EQ_INT(S_pay(&f, &f.payer, &paid, WX_PAY_PASSWORD), QB_E_ORDER_PAID);
    wx_free(f.wx);
}

TEST(pay_tokens_parse_from_every_form_and_nothing_else)
{
    // The user pays with what the merchant showed: a code_url, a prepay_id or an h5_url; anything
    // else is refused before a command runs.
    char token[MERCHANT_PAY_TOKEN_SIZE];
    const char *t = "0123456789abcdef0123456789abcdef";
    char text[128];
    snprintf(text, sizeof text, "%s%s", MERCHANT_CODE_URL_PREFIX, t);
    ASSERT(merchant_pay_token_parse(text, token));
    ASSERT_EQ_STR(token, t);
    snprintf(text, sizeof text, "wx%s", t);
    ASSERT(merchant_pay_token_parse(text, token));
    snprintf(text, sizeof text, "%swx%s", MERCHANT_H5_URL_PREFIX, t);
    ASSERT(merchant_pay_token_parse(text, token));
    /* The package a WeChat SDK's JSAPI helper builds for the payment sheet. */
    snprintf(text, sizeof text, "prepay_id=wx%s", t);
    ASSERT(merchant_pay_token_parse(text, token));
    ASSERT_EQ_STR(token, t);
    snprintf(text, sizeof text, "prepay_id=%s", t);
    ASSERT(!merchant_pay_token_parse(text, token));
    ASSERT(!merchant_pay_token_parse(t, token));
    ASSERT(!merchant_pay_token_parse("wx0123", token));
    snprintf(text, sizeof text, "wx%sff", t);
    ASSERT(!merchant_pay_token_parse(text, token));
    snprintf(text, sizeof text, "wx%.31sG", t);
    ASSERT(!merchant_pay_token_parse(text, token));
    ASSERT(merchant_out_trade_no_is_valid("1217752501201407033233368018"));
    ASSERT(merchant_out_trade_no_is_valid("a_b-c|d*e@f"));
    ASSERT(!merchant_out_trade_no_is_valid("short"));
    ASSERT(!merchant_out_trade_no_is_valid("has space 123"));
    ASSERT(!merchant_out_trade_no_is_valid("123456789012345678901234567890123"));
}

TEST(order_json_has_wechats_shape)
{
    // SDKs read these names; an unpaid order has no payer_total or success_time, a paid one has.
    struct merchant_order o;
    memset(&o, 0, sizeof o);
    snprintf(o.appid, sizeof o.appid, "wx0123456789abcdef");
    snprintf(o.mchid, sizeof o.mchid, "1900009191");
    snprintf(o.out_trade_no, sizeof o.out_trade_no, "order-0008");
    snprintf(o.transaction_id, sizeof o.transaction_id, "4220261129000000000000000001");
    o.trade_type = MERCHANT_TRADE_H5;
    o.state = MERCHANT_NOTPAY;
    o.currency = currency_find("CNY");
    o.total_minor = 100;
    o.expires_at_ms = 2000;
    json_t *j = merchant_order_json(&o, 1000);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "trade_state")), "NOTPAY");
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "trade_type")), "MWEB");
    ASSERT_EQ_INT(json_integer_value(json_object_get(json_object_get(j, "amount"), "total")), 100);
    ASSERT(json_object_get(json_object_get(j, "amount"), "payer_total") == NULL);
    json_decref(j);
    j = merchant_order_json(&o, 2000);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "trade_state")), "CLOSED");
    json_decref(j);
    o.state = MERCHANT_SUCCESS;
    o.success_at_ms = 1500;
    snprintf(o.payer_openid, sizeof o.payer_openid, "oAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    j = merchant_order_json(&o, 3000);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "trade_state")), "SUCCESS");
    ASSERT_EQ_INT(json_integer_value(json_object_get(json_object_get(j, "amount"), "payer_total")),
                  100);
    ASSERT(json_is_string(json_object_get(j, "success_time")));
    ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(j, "payer"), "openid")),
                  "oAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    json_decref(j);
    j = merchant_order_create_json(&o);
    ASSERT(strncmp(json_string_value(json_object_get(j, "h5_url")), MERCHANT_H5_URL_PREFIX "wx",
                   strlen(MERCHANT_H5_URL_PREFIX) + 2) == 0);
    json_decref(j);
}

int main(void)
{
    RUN(paying_moves_the_total_less_fee_to_the_merchant_and_the_fee_to_income);
    RUN(paid_closed_and_expired_orders_are_refused_and_move_nothing);
    RUN(out_trade_no_answers_a_retry_and_refuses_another_body);
    RUN(a_retry_of_an_order_fingerprinted_whole_is_still_the_same_order);
    RUN(a_jsapi_order_is_payable_by_its_openid_only_and_checks_hold);
    RUN(a_jsapi_order_names_only_an_openid_the_app_gave_out);
    RUN(a_till_code_payment_makes_its_order_paid_or_none_at_all);
    RUN(pay_tokens_parse_from_every_form_and_nothing_else);
    RUN(order_json_has_wechats_shape);
    return test_summary();
}

/*
 * test_merchant_close.c — an owner closes their merchant for good
 * (POST /v1/merchants/me/close, 商户注销), black-box: only an empty one
 * closes (a balance, then money held for a withdrawal the bank has not
 * settled, refuse it before the payment password is asked), the password
 * is checked and counted, and a closed merchant takes no payment again —
 * no new order, no payment of an order made before — while its queries
 * still answer, nothing opens it again, and its owner's wallet may close.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/lib/suite.h"
#include "api/merchant_helpers.h"
#include "api/refund_helpers.h"
#include "api/transfer_helpers.h"

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];

/* A native order of m for total; its code_url into code_url. */
static long S_order(const struct mh_merchant *m, const char *out_trade_no, long long total,
                    char code_url[256], char message[256])
{
    struct client_response res;
    long status = mh_native_order(&S_client, m, out_trade_no, total, &res);
    snprintf(code_url, 256, "%s", api_json_str(&res, "code_url"));
    snprintf(message, 256, "%s", api_json_str(&res, "message"));
    client_response_release(&res);
    return status;
}

/* payer pays the order whose code is code_url; the status, the error code in code. */
static long S_pay(const struct api_user *payer, const char *code_url, const char *key,
                  char code[64])
{
    char body[512];
    snprintf(body, sizeof body, "{\"code_url\":\"%s\",\"payment_password\":\"%s\"}", code_url,
             TH_PAY_PASSWORD);
    struct client_response res;
    long status =
        api_call_idem(&S_client, "POST", "/v1/me/order-payments", payer->token, key, body, &res);
    snprintf(code, 64, "%s", status >= 400 ? api_error_code(&res) : "");
    client_response_release(&res);
    return status;
}

/* POST /v1/merchants/me/close as owner for mchid ("": none named) with password; the
 * status, the error code and reason (or "") into code and reason, the body in *out when
 * out is not NULL (the caller decrefs). */
static long S_close(const struct api_user *owner, const char *mchid, const char *password,
                    char code[64], char reason[32], json_t **out)
{
    char path[] = "/v1/merchants/me/close", body[160], named[48] = "";
    if (mchid[0] != '\0')
        snprintf(named, sizeof named, ",\"mchid\":\"%s\"", mchid);
    snprintf(body, sizeof body, "{\"payment_password\":\"%s\"%s}", password, named);
    struct client_response res;
    long status = api_call(&S_client, "POST", path, owner->token, body, &res);
    json_t *j = api_json(&res);
    snprintf(code, 64, "%s", status >= 400 ? api_error_code(&res) : "");
    const char *r = json_string_value(json_object_get(j, "reason"));
    snprintf(reason, 32, "%s", r != NULL ? r : "");
    client_response_release(&res);
    if (out != NULL)
        *out = j;
    else
        json_decref(j);
    return status;
}

#define EXPECT_CLOSE(owner, mchid, password, status, want_code, want_reason)                       \
    do {                                                                                           \
        char code_[64], reason_[32];                                                               \
        ASSERT_EQ_INT(S_close((owner), (mchid), (password), code_, reason_, NULL), (status));      \
        ASSERT_EQ_STR(code_, (want_code));                                                         \
        ASSERT_EQ_STR(reason_, (want_reason));                                                     \
    } while (0)

/* The owner's view of their merchant (GET /v1/merchants/me), decref'd by the caller. */
static json_t *S_me(const struct api_user *owner)
{
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/merchants/me", owner->token, NULL, &res), 200);
    json_t *j = api_json(&res);
    client_response_release(&res);
    ASSERT(j != NULL);
    return j;
}

/* The merchant's balance figure name ("available" or "pending"), as its owner reads it. */
static long long S_balance(const struct api_user *owner, const char *name)
{
    json_t *j = S_me(owner);
    long long v = json_integer_value(
        json_object_get(json_array_get(json_object_get(j, "balances"), 0), name));
    json_decref(j);
    return v;
}

/* The reasons GET /v1/me/closing gives, joined by commas. */
static void S_closing(const struct api_user *u, char *out, size_t out_size)
{
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/closing", u->token, NULL, &res), 200);
    json_t *j = api_json(&res);
    client_response_release(&res);
    out[0] = '\0';
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(j, "reasons"), i, item)
    {
        size_t used = strlen(out);
        snprintf(out + used, out_size - used, "%s%s", i > 0 ? "," : "", json_string_value(item));
    }
    json_decref(j);
}

TEST(an_empty_merchant_closes_for_good_and_then_its_owners_wallet)
{
    // The whole path of a shop that stops: sales, the balance withdrawn to a card the bank
    // confirms late, the closing refused while anything is there (before the password is even
    // asked), a wrong password counted, then the close; afterwards no order and no payment,
    // queries still answer, nothing reopens it, and the owner's wallet closes.
    struct api_user owner, payer;
    API_MUST(th_user_new(&S_client, S_admin, &owner));
    API_MUST(th_user_new(&S_client, S_admin, &payer));
    API_MUST(th_fund(&S_client, S_admin, &payer, 100000));
    char card_id[API_ID_SIZE_MAX];
    API_MUST(th_card_bind(&S_client, S_admin, &owner, "9999000000000061", card_id));
    struct mh_merchant m;
    API_MUST(mh_owner_onboard(&S_client, &owner, "歇业小店", &m));
    char code_url[256], message[256], code[64], closing[128];
    ASSERT_EQ_INT(S_order(&m, "mc-paid", 50000, code_url, message), 200);
    ASSERT_EQ_INT(S_pay(&payer, code_url, "mc-pay-1", code), 201);
    char open_url[256];
    ASSERT_EQ_INT(S_order(&m, "mc-open", 100, open_url, message), 200); /* left unpaid */
    json_t *me = S_me(&owner);
    ASSERT_EQ_STR(json_string_value(json_object_get(me, "status")), "ACTIVE");
    ASSERT(json_is_null(json_object_get(me, "closed_at")));
    json_decref(me);
    long long available = S_balance(&owner, "available");
    ASSERT_EQ_INT(available, 50000 - 300);
    S_closing(&owner, closing, sizeof closing);
    ASSERT_EQ_STR(closing, "merchant");

    /* A balance: refused before the password, so a wrong one is not even counted. */
    EXPECT_CLOSE(&owner, "", "000000", 409, "ACCOUNT_NOT_EMPTY", "balance");
    EXPECT_CLOSE(&owner, "", TH_PAY_PASSWORD, 409, "ACCOUNT_NOT_EMPTY", "balance");

    /* Nearly all of it withdrawn, the bank confirming late (…0061): held, then settled. Ten
     * fen are left, too little for any withdrawal (a fen and its 10 fen fee). */
    struct client_response res;
    ASSERT_EQ_INT(rh_merchant_withdraw(&S_client, &owner, NULL, card_id, 49640, "mc-w", &res), 201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "PROCESSING");
    ASSERT_EQ_INT(api_json_int(&res, "fee", -1), 50);
    client_response_release(&res);
    ASSERT_EQ_INT(S_balance(&owner, "available"), 10);
    ASSERT_EQ_INT(S_balance(&owner, "pending"), 49690);
    EXPECT_CLOSE(&owner, "", TH_PAY_PASSWORD, 409, "ACCOUNT_NOT_EMPTY", "pending");
    for (int waited = 0; S_balance(&owner, "pending") != 0 && waited < 15000; waited += 100)
        usleep(100 * 1000);
    ASSERT_EQ_INT(S_balance(&owner, "pending"), 0);

    /* The password, checked and counted. */
    EXPECT_CLOSE(&owner, "", "000000", 403, "PASSWORD_WRONG", "");
    me = NULL;
    char reason[32];
    ASSERT_EQ_INT(S_close(&owner, "", TH_PAY_PASSWORD, code, reason, &me), 200);
    ASSERT_EQ_STR(json_string_value(json_object_get(me, "mchid")), m.mchid);
    ASSERT_EQ_STR(json_string_value(json_object_get(me, "status")), "CLOSED");
    ASSERT(json_string_value(json_object_get(me, "closed_at")) != NULL);
    ASSERT_EQ_INT(json_integer_value(json_object_get(
                      json_array_get(json_object_get(me, "balances"), 0), "available")),
                  0);
    json_decref(me);
    /* The ten fen went to the owner's wallet, a bill line from the merchant. */
    ASSERT_EQ_INT(th_balance(&S_client, &owner), 10);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/transactions?type=merchant_remainder",
                           owner.token, NULL, &res),
                  200);
    json_t *bills = api_json(&res);
    client_response_release(&res);
    json_t *line = json_array_get(json_object_get(bills, "items"), 0);
    ASSERT_EQ_INT(json_array_size(json_object_get(bills, "items")), 1);
    ASSERT_EQ_STR(json_string_value(json_object_get(line, "direction")), "in");
    ASSERT_EQ_INT(json_integer_value(json_object_get(line, "amount")), 10);
    ASSERT_EQ_INT(json_integer_value(json_object_get(line, "balance_after")), 10);
    json_t *party = json_object_get(line, "counterparty");
    ASSERT_EQ_STR(json_string_value(json_object_get(party, "type")), "merchant");
    ASSERT_EQ_STR(json_string_value(json_object_get(party, "id")), m.mchid);
    ASSERT_EQ_STR(json_string_value(json_object_get(party, "name")), "歇业小店");
    json_decref(bills);
    me = S_me(&owner);
    ASSERT_EQ_STR(json_string_value(json_object_get(me, "status")), "CLOSED");
    json_decref(me);
    EXPECT_CLOSE(&owner, "", TH_PAY_PASSWORD, 409, "CONFLICT", "");

    /* No new order, no payment of the one made before; its queries still answer. */
    ASSERT_EQ_INT(S_order(&m, "mc-late", 100, code_url, message), 403);
    ASSERT(strstr(message, "商户已注销") != NULL);
    ASSERT_EQ_INT(S_order(&m, "mc-open", 100, code_url, message), 403); /* not even the same */
    long long payer_before = th_balance(&S_client, &payer);
    ASSERT_EQ_INT(S_pay(&payer, open_url, "mc-pay-2", code), 403);
    ASSERT_EQ_STR(code, "PAYEE_UNAVAILABLE");
    char path[160];
    snprintf(path, sizeof path, "/v3/pay/transactions/out-trade-no/mc-paid?mchid=%s", m.mchid);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "GET", path, NULL, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "trade_state"), "SUCCESS");
    client_response_release(&res);
    snprintf(path, sizeof path, "/v3/pay/transactions/out-trade-no/mc-open?mchid=%s", m.mchid);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "GET", path, NULL, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "trade_state"), "NOTPAY");
    client_response_release(&res);

    /* The operator reads it closed and can open it no more. */
    snprintf(path, sizeof path, "/admin/merchants/%s", m.mchid);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, S_admin, NULL, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "CLOSED");
    ASSERT(api_json_str(&res, "closed_at")[0] != '\0');
    client_response_release(&res);
    snprintf(path, sizeof path, "/admin/merchants/%s/resume", m.mchid);
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, S_admin, "{}", &res), 409);
    ASSERT_EQ_STR(api_error_code(&res), "CONFLICT");
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &payer), payer_before);

    /* The owner's wallet is no longer held by the merchant, only by the ten fen; spent, it
     * closes. */
    S_closing(&owner, closing, sizeof closing);
    ASSERT_EQ_STR(closing, "balance");
    char tbody[256];
    snprintf(tbody, sizeof tbody,
             "{\"to\":\"%s\",\"amount\":10,\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             payer.id);
    ASSERT_EQ_INT(
        api_call_idem(&S_client, "POST", "/v1/transfers", owner.token, "mc-t", tbody, &res), 201);
    client_response_release(&res);
    S_closing(&owner, closing, sizeof closing);
    ASSERT_EQ_STR(closing, "");
    char sms[API_SMS_CODE_SIZE];
    API_MUST(api_sms_code_get(&S_client, S_admin, owner.phone, "close_account", sms));
    char body[128];
    snprintf(body, sizeof body, "{\"payment_password\":\"%s\",\"sms_code\":\"%s\"}",
             TH_PAY_PASSWORD, sms);
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/close", owner.token, body, &res), 200);
    client_response_release(&res);
    mh_release(&m);
}

TEST(only_the_owner_closes_a_merchant_and_says_which)
{
    // A stranger finds no merchant; an owner of two must name one; a bad body changes nothing.
    struct api_user owner, stranger;
    API_MUST(th_user_new(&S_client, S_admin, &owner));
    API_MUST(th_user_new(&S_client, S_admin, &stranger));
    struct mh_merchant a, b;
    API_MUST(mh_owner_onboard(&S_client, &owner, "一号店", &a));
    API_MUST(mh_owner_onboard(&S_client, &owner, "二号店", &b));
    EXPECT_CLOSE(&stranger, a.mchid, TH_PAY_PASSWORD, 404, "NOT_FOUND", "");
    EXPECT_CLOSE(&stranger, "", TH_PAY_PASSWORD, 404, "NOT_FOUND", "");
    EXPECT_CLOSE(&owner, "", TH_PAY_PASSWORD, 400, "PARAM_ERROR", "");
    EXPECT_CLOSE(&owner, a.mchid, "12345", 400, "PARAM_ERROR", "");
    EXPECT_CLOSE(&owner, "0000000000", TH_PAY_PASSWORD, 404, "NOT_FOUND", "");
    EXPECT_CLOSE(&owner, "12345", TH_PAY_PASSWORD, 404, "NOT_FOUND", "");
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/merchants/me/close", owner.token, "{}", &res),
                  400);
    client_response_release(&res);

    /* While the owner's wallet is frozen (a lost phone), whoever holds it may not be the
     * owner, and closing is for good: nothing closes until the unfreeze. */
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/freeze", owner.token, NULL, &res), 200);
    client_response_release(&res);
    EXPECT_CLOSE(&owner, a.mchid, TH_PAY_PASSWORD, 403, "ACCOUNT_FROZEN", "");
    char unfreeze[96];
    snprintf(unfreeze, sizeof unfreeze, "/admin/users/%s/unfreeze", owner.id);
    ASSERT_EQ_INT(api_call(&S_client, "POST", unfreeze, S_admin, NULL, &res), 200);
    client_response_release(&res);

    /* The one named closes (empty: nothing was sold); the other stays open and takes orders. */
    EXPECT_CLOSE(&owner, a.mchid, TH_PAY_PASSWORD, 200, "", "");
    char code_url[256], message[256];
    ASSERT_EQ_INT(S_order(&b, "mc-two-1", 100, code_url, message), 200);
    ASSERT_EQ_INT(S_order(&a, "mc-one-1", 100, code_url, message), 403);
    /* With one of the two closed, the owner's routes need no mchid: the open one is meant. */
    json_t *me = S_me(&owner);
    ASSERT_EQ_STR(json_string_value(json_object_get(me, "mchid")), b.mchid);
    json_decref(me);
    char closing[128];
    S_closing(&owner, closing, sizeof closing);
    ASSERT_EQ_STR(closing, "merchant");
    mh_release(&a);
    mh_release(&b);
}

TEST(a_transfer_waiting_for_its_user_is_named_as_what_holds_the_close)
{
    // Money a transfer to a user (商家转账) holds keeps the merchant open, as a withdrawal does,
    // but no bank will settle it: the owner is told it is a transfer, to cancel or to let close
    // within its 24 hours, not sent to wait for a bank that never comes.
    struct api_user owner, payer, payee;
    API_MUST(th_user_new(&S_client, S_admin, &owner));
    API_MUST(th_user_new(&S_client, S_admin, &payer));
    API_MUST(th_user_new(&S_client, S_admin, &payee));
    API_MUST(th_fund(&S_client, S_admin, &payer, 10000));
    struct mh_merchant m;
    API_MUST(mh_owner_onboard(&S_client, &owner, "转账小店", &m));
    char code_url[256], message[256], code[64];
    ASSERT_EQ_INT(S_order(&m, "mc-payout-paid", 1000, code_url, message), 200);
    ASSERT_EQ_INT(S_pay(&payer, code_url, "mc-payout-pay", code), 201);
    long long available = S_balance(&owner, "available");
    ASSERT(available > 0);

    char path[160];
    snprintf(path, sizeof path, "/v1/me/openids/%s", m.appid);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, payee.token, NULL, &res), 200);
    char body[512];
    snprintf(body, sizeof body,
             "{\"appid\":\"%s\",\"out_bill_no\":\"CLOSE00001\",\"transfer_scene_id\":\"1000\","
             "\"openid\":\"%s\",\"transfer_amount\":%lld,\"transfer_remark\":\"返现\"}",
             m.appid, api_json_str(&res, "openid"), available);
    client_response_release(&res);
    ASSERT_EQ_INT(
        mh_call(&S_client, &m, "POST", "/v3/fund-app/mch-transfer/transfer-bills", body, &res),
        200);
    ASSERT_EQ_STR(api_json_str(&res, "state"), "WAIT_USER_CONFIRM");
    client_response_release(&res);
    ASSERT_EQ_INT(S_balance(&owner, "available"), 0);

    char reason[32];
    json_t *answer = NULL;
    ASSERT_EQ_INT(S_close(&owner, "", TH_PAY_PASSWORD, code, reason, &answer), 409);
    ASSERT_EQ_STR(code, "ACCOUNT_NOT_EMPTY");
    ASSERT_EQ_STR(reason, "payout");
    const char *said = json_string_value(json_object_get(answer, "message"));
    ASSERT(said != NULL && strstr(said, "transfer") != NULL && strstr(said, "bank") == NULL);
    json_decref(answer);

    /* Cancelled, the money is the merchant's balance again: a withdrawal's business. */
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST",
                          "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/CLOSE00001/cancel",
                          NULL, &res),
                  200);
    client_response_release(&res);
    EXPECT_CLOSE(&owner, "", TH_PAY_PASSWORD, 409, "ACCOUNT_NOT_EMPTY", "balance");
    mh_release(&m);
}

TEST(an_owner_out_of_kyc_allowance_is_told_to_raise_the_level)
{
    // At KYC level 1 an owner may cash out ¥1,000 in the wallet's life, through their merchant
    // too. One who has is refused the withdrawal that would empty the merchant, so the close's
    // "withdraw it first" would send them round in a circle: the close names the limit that
    // stands in the way (LIMIT_EXCEEDED, kyc_lifetime, before the password) and says to verify.
    // Verified, the owner is sent to withdraw again.
    struct api_user owner, payer;
    API_MUST(th_user_new(&S_client, S_admin, &owner));
    API_MUST(th_user_new(&S_client, S_admin, &payer));
    API_MUST(api_user_verify(&S_client, &payer, "张三")); /* pays more than ¥1,000 */
    API_MUST(th_fund(&S_client, S_admin, &payer, 110000));
    char card_id[API_ID_SIZE_MAX];
    API_MUST(th_card_bind(&S_client, S_admin, &owner, "9999000000000012", card_id));
    struct mh_merchant m;
    API_MUST(mh_owner_onboard(&S_client, &owner, "限额小店", &m));
    char code_url[256], message[256], code[64];
    ASSERT_EQ_INT(S_order(&m, "mc-kyc-paid", 110000, code_url, message), 200);
    ASSERT_EQ_INT(S_pay(&payer, code_url, "mc-kyc-pay", code), 201);
    ASSERT_EQ_INT(S_balance(&owner, "available"), 110000 - 660);

    /* ¥1,000 withdrawn: the allowance used up, ¥92.40 left in the merchant. */
    struct client_response res;
    ASSERT_EQ_INT(rh_merchant_withdraw(&S_client, &owner, NULL, card_id, 100000, "mc-kyc-w1", &res),
                  201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "SUCCESS");
    client_response_release(&res);
    ASSERT_EQ_INT(S_balance(&owner, "available"), 9240);
    ASSERT_EQ_INT(rh_merchant_withdraw(&S_client, &owner, NULL, card_id, 9000, "mc-kyc-w2", &res),
                  403);
    ASSERT_EQ_STR(api_error_code(&res), "LIMIT_EXCEEDED");
    client_response_release(&res);

    for (int i = 0; i < 2; i++) {
        char reason[32];
        json_t *answer = NULL;
        /* Before the password, as a balance is: a wrong one is not even counted. */
        ASSERT_EQ_INT(
            S_close(&owner, "", i == 0 ? "000000" : TH_PAY_PASSWORD, code, reason, &answer), 403);
        ASSERT_EQ_STR(code, "LIMIT_EXCEEDED");
        ASSERT_EQ_STR(json_string_value(json_object_get(answer, "limit")), "kyc_lifetime");
        const char *said = json_string_value(json_object_get(answer, "message"));
        ASSERT(said != NULL && strstr(said, "KYC") != NULL && strstr(said, "/v1/me/kyc") != NULL);
        json_decref(answer);
    }
    ASSERT_EQ_INT(S_balance(&owner, "available"), 9240);

    /* Verified (level 2), the balance is a withdrawal's again. */
    API_MUST(api_user_verify(&S_client, &owner, "张三"));
    EXPECT_CLOSE(&owner, "", TH_PAY_PASSWORD, 409, "ACCOUNT_NOT_EMPTY", "balance");
    mh_release(&m);
}

TEST(a_withdrawal_taken_back_after_the_close_reaches_the_owners_wallet)
{
    // 退票 after 商户注销: the owner withdrew the shop's balance to a card the bank pays at once
    // and takes back 3 s later (…0129), and closed the shop meanwhile. A closed account takes
    // nothing, for good; the money is the owner's, and the operator's query brings it to their
    // wallet, a withdrawal_return line in their bills, as the closing brought the remainder.
    struct api_user owner, payer;
    API_MUST(th_user_new(&S_client, S_admin, &owner));
    API_MUST(th_user_new(&S_client, S_admin, &payer));
    API_MUST(th_fund(&S_client, S_admin, &payer, 100000));
    char card_id[API_ID_SIZE_MAX];
    API_MUST(th_card_bind(&S_client, S_admin, &owner, "9999000000000129", card_id));
    struct mh_merchant m;
    API_MUST(mh_owner_onboard(&S_client, &owner, "退票小店", &m));
    char code_url[256], message[256], code[64], reason[32];
    ASSERT_EQ_INT(S_order(&m, "rt-paid", 50000, code_url, message), 200);
    ASSERT_EQ_INT(S_pay(&payer, code_url, "rt-pay-1", code), 201);
    struct timespec at;
    clock_gettime(CLOCK_MONOTONIC, &at);
    struct client_response res;
    ASSERT_EQ_INT(rh_merchant_withdraw(&S_client, &owner, NULL, card_id, 49640, "rt-w", &res), 201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "SUCCESS");
    char id[API_ID_SIZE_MAX];
    snprintf(id, sizeof id, "%s", api_json_str(&res, "id"));
    client_response_release(&res);
    json_t *me = NULL;
    ASSERT_EQ_INT(S_close(&owner, "", TH_PAY_PASSWORD, code, reason, &me), 200);
    json_decref(me);
    ASSERT_EQ_INT(th_balance(&S_client, &owner), 10);

    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long waited_ms = (now.tv_sec - at.tv_sec) * 1000 + (now.tv_nsec - at.tv_nsec) / 1000000;
    if (waited_ms < 3300)
        usleep((useconds_t)(3300 - waited_ms) * 1000);
    char path[128];
    snprintf(path, sizeof path, "/admin/payments/%s/query", id);
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, S_admin, NULL, &res), 200);
    json_t *answer = api_json(&res);
    client_response_release(&res);
    ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(answer, "payment"), "status")),
                  "RETURNED");
    ASSERT(json_is_true(json_object_get(answer, "changed")));
    json_decref(answer);
    ASSERT_EQ_INT(th_balance(&S_client, &owner), 10 + 49690);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/transactions?type=withdrawal_return",
                           owner.token, NULL, &res),
                  200);
    json_t *bills = api_json(&res);
    client_response_release(&res);
    ASSERT_EQ_INT(json_array_size(json_object_get(bills, "items")), 1);
    json_t *line = json_array_get(json_object_get(bills, "items"), 0);
    ASSERT_EQ_STR(json_string_value(json_object_get(line, "id")), id);
    ASSERT_EQ_STR(json_string_value(json_object_get(line, "direction")), "in");
    ASSERT_EQ_INT(json_integer_value(json_object_get(line, "amount")), 49690);
    ASSERT_EQ_INT(json_integer_value(json_object_get(line, "balance_after")), 10 + 49690);
    json_decref(bills);
    mh_release(&m);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    const char *args[] = {"--sms-cooldown-s", "0", NULL};
    if (!api_suite_daemon(&suite, &S_daemon, "merchant_close", args, S_admin, &S_client))
        return api_suite_end(&suite);
    RUN(an_empty_merchant_closes_for_good_and_then_its_owners_wallet);
    RUN(only_the_owner_closes_a_merchant_and_says_which);
    RUN(a_transfer_waiting_for_its_user_is_named_as_what_holds_the_close);
    RUN(an_owner_out_of_kyc_allowance_is_told_to_raise_the_level);
    RUN(a_withdrawal_taken_back_after_the_close_reaches_the_owners_wallet);
    return api_suite_end(&suite);
}

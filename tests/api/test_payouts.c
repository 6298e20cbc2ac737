/*
 * test_payouts.c — merchants paying users (商家转账) over HTTP, black-box:
 * the merchant's side signed as a WeChat Pay SDK signs it and its answers
 * verified (merchant_helpers.h), the user's side as the wallet app calls
 * it. A payout held until its user confirms, then in their balance and
 * bills once; a retry and another body under one out_bill_no; the
 * merchant's cancel; the refusals, each moving nothing; and who may see
 * and take what. The close after 24 hours is the unit test's
 * (tests/unit/merchant/test_payout.c), on a clock it can move.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "api/lib/suite.h"
#include "api/refund_helpers.h"

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];

#define S_BILLS "/v3/fund-app/mch-transfer/transfer-bills"

/* A merchant with money: u pays it an order of total, less the fee. */
static void S_merchant_funded(struct mh_merchant *m, long long total)
{
    API_MUST(mh_onboard(&S_client, S_admin, 0, m));
    struct api_user payer; /* verified: a level-1 wallet may pay 1,000 yuan in its lifetime */
    API_MUST(th_user_new(&S_client, S_admin, &payer));
    API_MUST(api_user_verify(&S_client, &payer, "张三")); /* th_fund's card's holder */
    API_MUST(th_fund(&S_client, S_admin, &payer, total));
    char transaction_id[32], out_trade_no[32];
    snprintf(out_trade_no, sizeof out_trade_no, "fund-%s", m->mchid);
    rh_order_paid(&S_client, m, &payer, out_trade_no, total, NULL, transaction_id);
}

/* name encrypted as a WeChat SDK encrypts a sensitive field for the
 * platform: RSA-OAEP (SHA-1) under the platform's public key, in base64. */
static void S_seal(const struct mh_merchant *m, const char *name, char out[1024])
{
    unsigned char sealed[512];
    size_t size = sizeof sealed;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(m->platform_key, NULL);
    ASSERT(ctx != NULL && EVP_PKEY_encrypt_init(ctx) == 1 &&
           EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
           EVP_PKEY_encrypt(ctx, sealed, &size, (const unsigned char *)name, strlen(name)) == 1);
    EVP_PKEY_CTX_free(ctx);
    ASSERT(EVP_EncodeBlock((unsigned char *)out, sealed, (int)size) > 0);
}

/* u's openid in m's app. */
static void S_openid(const struct mh_merchant *m, const struct api_user *u, char openid[64])
{
    char path[128];
    snprintf(path, sizeof path, "/v1/me/openids/%s", m->appid);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, u->token, NULL, &res), 200);
    snprintf(openid, 64, "%s", api_json_str(&res, "openid"));
    client_response_release(&res);
}

/* POST transfer-bills of amount to openid under out_bill_no (extra: more
 * members, starting with a comma, or ""); the status, the answer in res. */
static long S_create(const struct mh_merchant *m, const char *out_bill_no, const char *openid,
                     long long amount, const char *extra, struct client_response *res)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"appid\":\"%s\",\"out_bill_no\":\"%s\",\"transfer_scene_id\":\"1000\","
             "\"openid\":\"%s\",\"transfer_amount\":%lld,\"transfer_remark\":\"新会员奖励\","
             "\"user_recv_perception\":\"现金奖励\",\"transfer_scene_report_infos\":"
             "[{\"info_type\":\"活动名称\",\"info_content\":\"新会员有礼\"}]%s}",
             m->appid, out_bill_no, openid, amount, extra);
    return mh_call(&S_client, m, "POST", S_BILLS, body, res);
}

static long long S_available(const struct mh_merchant *m)
{
    struct client_response res;
    ASSERT_EQ_INT(mh_call(&S_client, m, "GET", "/v3/merchant/fund/balance/BASIC", NULL, &res), 200);
    json_t *j = api_json(&res);
    client_response_release(&res);
    long long available = (long long)json_integer_value(json_object_get(j, "available_amount"));
    json_decref(j);
    return available;
}

/* The user's call on payout id: "GET" or "confirm". */
static long S_user(const struct api_user *u, const char *id, bool confirm,
                   struct client_response *res)
{
    char path[128];
    snprintf(path, sizeof path, confirm ? "/v1/payouts/%s/confirm" : "/v1/payouts/%s", id);
    return api_call(&S_client, confirm ? "POST" : "GET", path, u->token, confirm ? "{}" : NULL,
                    res);
}

TEST(a_payout_is_held_until_its_user_takes_it_then_arrives_once)
{
    struct mh_merchant m;
    S_merchant_funded(&m, 50000);
    ASSERT_EQ_INT(S_available(&m), 50000);
    struct api_user u, stranger;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_user_new(&S_client, S_admin, &stranger));
    char openid[64];
    S_openid(&m, &u, openid);

    // Created: WAIT_USER_CONFIRM, the package the app hands on, the amount held, nothing moved.
    // The user's app, waiting for news, hears of it: a notice, and the hold's entry on the
    // wallet's account (the amount held for the user).
    char cursor[TH_CURSOR_SIZE], changed[128];
    th_changes_cursor(&S_client, &u, cursor);
    struct th_wait w;
    th_wait_start(&w, S_daemon.base_url, &u, cursor, 15);
    ASSERT(th_waiting_is(&S_client, 1));
    struct client_response res;
    ASSERT_EQ_INT(S_create(&m, "BONUS00001", openid, 1288,
                           ",\"notify_url\":\"https://www.weixin.qq.com/wxpay/pay.php\"", &res),
                  200);
    th_wait_join(&w, cursor, changed, sizeof changed);
    ASSERT_EQ_STR(changed, "bills,notices");
    if (w.seconds >= 10)
        TEST_FAIL_("the payout waiting was heard of after %.1f s", w.seconds);
    ASSERT(mh_response_verified(&m, &res));
    ASSERT_EQ_STR(api_json_str(&res, "state"), "WAIT_USER_CONFIRM");
    ASSERT_EQ_STR(api_json_str(&res, "out_bill_no"), "BONUS00001");
    char id[64];
    snprintf(id, sizeof id, "%s", api_json_str(&res, "transfer_bill_no"));
    ASSERT_EQ_STR(api_json_str(&res, "package_info"), id);
    client_response_release(&res);
    ASSERT_EQ_INT(S_available(&m), 50000 - 1288);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 0);
    ASSERT(api_metric(&S_client, "qianbao_payouts_waiting") >= 1);
    ASSERT(api_metric(&S_client, "qianbao_payouts_waiting_late_seconds") ==
           0); /* none due for a day */

    // A retry of the same body, its keys in another order, is the same bill; another body under
    // the number is refused.
    char body[1024];
    snprintf(body, sizeof body,
             "{\"transfer_scene_report_infos\":[{\"info_content\":\"新会员有礼\","
             "\"info_type\":\"活动名称\"}],\"user_recv_perception\":\"现金奖励\","
             "\"transfer_remark\":\"新会员奖励\",\"transfer_amount\":1288,\"openid\":\"%s\","
             "\"transfer_scene_id\":\"1000\",\"out_bill_no\":\"BONUS00001\",\"appid\":\"%s\","
             "\"notify_url\":\"https://www.weixin.qq.com/wxpay/pay.php\"}",
             openid, m.appid);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", S_BILLS, body, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "transfer_bill_no"), id);
    client_response_release(&res);
    ASSERT_EQ_INT(S_create(&m, "BONUS00001", openid, 1289, "", &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "INVALID_REQUEST");
    client_response_release(&res);
    ASSERT_EQ_INT(S_available(&m), 50000 - 1288);

    // The user finds it waiting, with the merchant's name; nobody else sees or takes it.
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/payouts", u.token, NULL, &res), 200);
    json_t *j = api_json(&res);
    client_response_release(&res);
    json_t *items = json_object_get(j, "items");
    ASSERT_EQ_INT(json_array_size(items), 1);
    json_t *item = json_array_get(items, 0);
    ASSERT_EQ_STR(json_string_value(json_object_get(item, "id")), id);
    ASSERT_EQ_INT(json_integer_value(json_object_get(item, "amount")), 1288);
    ASSERT_EQ_STR(json_string_value(json_object_get(item, "remark")), "新会员奖励");
    ASSERT_EQ_STR(json_string_value(json_object_get(item, "perception")), "现金奖励");
    ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(item, "merchant"), "mchid")),
                  m.mchid);
    json_decref(j);
    ASSERT_EQ_INT(S_user(&stranger, id, false, &res), 404);
    client_response_release(&res);
    ASSERT_EQ_INT(S_user(&stranger, id, true, &res), 404);
    ASSERT_EQ_STR(api_error_code(&res), "NOT_FOUND");
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/payouts", stranger.token, NULL, &res), 200);
    j = api_json(&res);
    client_response_release(&res);
    ASSERT_EQ_INT(json_array_size(json_object_get(j, "items")), 0);
    json_decref(j);
    // A notice tells the user, though they never opened the merchant's app.
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/notices", u.token, NULL, &res), 200);
    j = api_json(&res);
    client_response_release(&res);
    items = json_object_get(j, "items");
    ASSERT_EQ_INT(json_array_size(items), 1);
    item = json_array_get(items, 0);
    ASSERT_EQ_STR(json_string_value(json_object_get(item, "type")), "payout_waiting");
    ASSERT_EQ_STR(json_string_value(json_object_get(item, "payment_id")), id);
    ASSERT_EQ_INT(json_integer_value(json_object_get(item, "amount")), 1288);
    ASSERT_EQ_STR(json_string_value(json_object_get(item, "memo")), "新会员奖励");
    ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(item, "counterparty"), "id")),
                  m.mchid);
    json_decref(j);

    // Taken: in the balance once, however often confirmed.
    ASSERT_EQ_INT(S_user(&u, id, true, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "state"), "SUCCESS");
    client_response_release(&res);
    ASSERT_EQ_INT(S_user(&u, id, true, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "state"), "SUCCESS");
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 1288);
    ASSERT_EQ_INT(S_available(&m), 50000 - 1288);
    ASSERT_EQ_INT(S_user(&u, id, false, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "state"), "SUCCESS");
    client_response_release(&res);
    // An operator asked about it reads its payment: the user's, from the merchant.
    char path[256];
    snprintf(path, sizeof path, "/admin/payments/%s", id);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, S_admin, NULL, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "type"), "merchant_payout");
    ASSERT_EQ_STR(api_json_str(&res, "status"), "SUCCESS");
    ASSERT_EQ_STR(api_json_str(&res, "user_id"), u.id);
    ASSERT_EQ_STR(api_json_str(&res, "counterparty_id"), m.mchid);
    client_response_release(&res);

    // The merchant reads it by either number, and can no longer cancel it.
    snprintf(path, sizeof path, S_BILLS "/out-bill-no/BONUS00001");
    ASSERT_EQ_INT(mh_call(&S_client, &m, "GET", path, NULL, &res), 200);
    ASSERT(mh_response_verified(&m, &res));
    ASSERT_EQ_STR(api_json_str(&res, "state"), "SUCCESS");
    ASSERT_EQ_STR(api_json_str(&res, "openid"), openid);
    ASSERT_EQ_STR(api_json_str(&res, "mch_id"), m.mchid);
    client_response_release(&res);
    snprintf(path, sizeof path, S_BILLS "/transfer-bill-no/%s", id);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "GET", path, NULL, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "out_bill_no"), "BONUS00001");
    client_response_release(&res);
    ASSERT_EQ_INT(
        mh_call(&S_client, &m, "POST", S_BILLS "/out-bill-no/BONUS00001/cancel", NULL, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "INVALID_REQUEST");
    client_response_release(&res);

    // The user's bill line names the merchant; the merchant is told.
    ASSERT_EQ_INT(
        api_call(&S_client, "GET", "/v1/me/transactions?type=merchant_payout", u.token, NULL, &res),
        200);
    j = api_json(&res);
    client_response_release(&res);
    items = json_object_get(j, "items");
    ASSERT_EQ_INT(json_array_size(items), 1);
    item = json_array_get(items, 0);
    ASSERT_EQ_STR(json_string_value(json_object_get(item, "id")), id);
    ASSERT_EQ_STR(json_string_value(json_object_get(item, "direction")), "in");
    ASSERT_EQ_INT(json_integer_value(json_object_get(item, "amount")), 1288);
    ASSERT_EQ_STR(json_string_value(json_object_get(item, "memo")), "新会员奖励");
    json_t *party = json_object_get(item, "counterparty");
    ASSERT_EQ_STR(json_string_value(json_object_get(party, "type")), "merchant");
    ASSERT_EQ_STR(json_string_value(json_object_get(party, "id")), m.mchid);
    json_decref(j);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "GET", "/v3/qianbao/notifications", NULL, &res), 200);
    j = api_json(&res);
    client_response_release(&res);
    json_t *data = json_object_get(j, "data");
    size_t told = 0;
    for (size_t i = 0; i < json_array_size(data); i++)
        told += strcmp(json_string_value(json_object_get(json_array_get(data, i), "event_type")),
                       "MCHTRANSFER.BILL.FINISHED") == 0;
    ASSERT_EQ_INT(told, 1);
    json_decref(j);
    mh_release(&m);
}

/* Asserts the page GET /admin/merchants/{mchid}/payouts{query} answers is
 * want: its rows as "transfer_bill_no state user_id", joined by "; ". */
static void S_admin_payouts(const struct mh_merchant *m, const char *query, const char *want)
{
    char got[512] = "", path[256];
    snprintf(path, sizeof path, "/admin/merchants/%s/payouts%s", m->mchid, query);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, S_admin, NULL, &res), 200);
    json_t *j = api_json(&res);
    client_response_release(&res);
    json_t *items = json_object_get(j, "items");
    size_t used = 0;
    for (size_t i = 0; i < json_array_size(items) && used < sizeof got; i++) {
        json_t *item = json_array_get(items, i);
        ASSERT_EQ_STR(json_string_value(json_object_get(item, "mch_id")), m->mchid);
        used += (size_t)snprintf(got + used, sizeof got - used, "%s%s %s %s", i > 0 ? "; " : "",
                                 json_string_value(json_object_get(item, "transfer_bill_no")),
                                 json_string_value(json_object_get(item, "state")),
                                 json_string_value(json_object_get(item, "user_id")));
    }
    json_decref(j);
    ASSERT_EQ_STR(got, want);
}

TEST(a_cancelled_payout_gives_the_money_back_and_cannot_be_taken)
{
    struct mh_merchant m;
    S_merchant_funded(&m, 20000);
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    char openid[64];
    S_openid(&m, &u, openid);
    struct client_response res;
    ASSERT_EQ_INT(S_create(&m, "BONUS00002", openid, 5000, "", &res), 200);
    char id[64];
    snprintf(id, sizeof id, "%s", api_json_str(&res, "transfer_bill_no"));
    client_response_release(&res);
    ASSERT_EQ_INT(S_available(&m), 15000);
    for (int i = 0; i < 2; i++) { /* a second cancel answers it as it is */
        ASSERT_EQ_INT(
            mh_call(&S_client, &m, "POST", S_BILLS "/out-bill-no/BONUS00002/cancel", "{}", &res),
            200);
        ASSERT(mh_response_verified(&m, &res));
        ASSERT_EQ_STR(api_json_str(&res, "state"), "CANCELLED");
        ASSERT_EQ_STR(api_json_str(&res, "transfer_bill_no"), id);
        client_response_release(&res);
    }
    ASSERT_EQ_INT(S_available(&m), 20000);
    ASSERT_EQ_INT(S_user(&u, id, true, &res), 409);
    ASSERT_EQ_STR(api_error_code(&res), "PAYOUT_CLOSED");
    client_response_release(&res);

    // An operator stops another on a report of fraud: the merchant reads FAIL, TRANSFER_RISK;
    // the user can no longer take it; a cancelled one has nothing to stop; a reason is required.
    ASSERT_EQ_INT(S_create(&m, "BONUS00003", openid, 3000, "", &res), 200);
    char stopped[64];
    snprintf(stopped, sizeof stopped, "%s", api_json_str(&res, "transfer_bill_no"));
    client_response_release(&res);
    char path[128];
    // The operator finds what the merchant still has waiting: that one, not the cancelled one.
    char want[512];
    snprintf(want, sizeof want, "%s WAIT_USER_CONFIRM %s", stopped, u.id);
    S_admin_payouts(&m, "?state=WAIT_USER_CONFIRM", want);
    snprintf(path, sizeof path, "/admin/payouts/%s/cancel", stopped);
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, S_admin, "{}", &res), 400);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, S_admin,
                           "{\"reason\":\"ticket 7: the merchant reports a stolen key\"}", &res),
                  200);
    ASSERT_EQ_STR(api_json_str(&res, "state"), "FAIL");
    ASSERT_EQ_STR(api_json_str(&res, "fail_reason"), "TRANSFER_RISK");
    ASSERT_EQ_STR(api_json_str(&res, "user_id"), u.id);
    client_response_release(&res);
    // Stopped again (a second operator on the same ticket): answered as it is, and the audit
    // trail says this one changed nothing, so that the stop is not credited to both.
    ASSERT_EQ_INT(
        api_call(&S_client, "POST", path, S_admin, "{\"reason\":\"ticket 7, again\"}", &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "fail_reason"), "TRANSFER_RISK");
    client_response_release(&res);
    {
        static char log[1 << 20];
        ASSERT(test_file_read(S_daemon.log_path, log, sizeof log));
        char line[256];
        snprintf(line, sizeof line,
                 "event=admin.payout_changed action=cancel transfer_bill_no=%s result=ok "
                 "changed=true by=admin",
                 stopped);
        const char *first = strstr(log, line);
        snprintf(line, sizeof line,
                 "event=admin.payout_changed action=cancel transfer_bill_no=%s result=ok "
                 "changed=false by=admin",
                 stopped);
        const char *second = strstr(log, line);
        if (first == NULL || second == NULL || second < first)
            TEST_FAIL_("the two stops of %s are not logged changed=true then changed=false",
                       stopped);
    }
    ASSERT_EQ_INT(S_available(&m), 20000);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "GET", S_BILLS "/out-bill-no/BONUS00003", NULL, &res),
                  200);
    ASSERT_EQ_STR(api_json_str(&res, "fail_reason"), "TRANSFER_RISK");
    client_response_release(&res);
    ASSERT_EQ_INT(S_user(&u, stopped, true, &res), 409);
    ASSERT_EQ_STR(api_error_code(&res), "PAYOUT_CLOSED");
    client_response_release(&res);
    S_admin_payouts(&m, "?state=WAIT_USER_CONFIRM", "");
    snprintf(want, sizeof want, "%s FAIL %s", stopped, u.id);
    S_admin_payouts(&m, "?limit=1", want);
    snprintf(want, sizeof want, "%s FAIL %s; %s CANCELLED %s", stopped, u.id, id, u.id);
    S_admin_payouts(&m, "", want);
    ASSERT_EQ_INT(
        api_call(&S_client, "GET", "/admin/merchants/1999999999/payouts", S_admin, NULL, &res),
        404);
    client_response_release(&res);
    snprintf(path, sizeof path, "/admin/merchants/%s/payouts?state=FAIL", m.mchid);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, S_admin, NULL, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
    client_response_release(&res);
    snprintf(path, sizeof path, "/admin/payouts/%s/cancel", id);
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, S_admin, "{\"reason\":\"ticket 8\"}", &res),
                  409);
    ASSERT_EQ_STR(api_error_code(&res), "CONFLICT");
    client_response_release(&res);
    ASSERT_EQ_INT(S_user(&u, id, false, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "state"), "CANCELLED");
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 0);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/transactions", u.token, NULL, &res), 200);
    json_t *j = api_json(&res);
    client_response_release(&res);
    ASSERT_EQ_INT(json_array_size(json_object_get(j, "items")), 0);
    json_decref(j);
    // No money, but the user is told each will not come, and why: newest first.
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/notices", u.token, NULL, &res), 200);
    j = api_json(&res);
    client_response_release(&res);
    const char *told[][3] = {{"payout_failed", stopped, "TRANSFER_STOPPED"},
                             {"payout_waiting", stopped, NULL},
                             {"payout_failed", id, "PAYOUT_CLOSED"},
                             {"payout_waiting", id, NULL}};
    json_t *items = json_object_get(j, "items");
    ASSERT_EQ_INT(json_array_size(items), QB_ARRAY_COUNT(told));
    for (size_t i = 0; i < QB_ARRAY_COUNT(told); i++) {
        json_t *item = json_array_get(items, i);
        ASSERT_EQ_STR(json_string_value(json_object_get(item, "type")), told[i][0]);
        ASSERT_EQ_STR(json_string_value(json_object_get(item, "payment_id")), told[i][1]);
        json_t *code = json_object_get(item, "failure_code");
        if (told[i][2] == NULL)
            ASSERT(json_is_null(code));
        else
            ASSERT_EQ_STR(json_string_value(code), told[i][2]);
    }
    json_decref(j);
    mh_release(&m);
}

TEST(refused_payouts_hold_nothing)
{
    struct mh_merchant m, other;
    S_merchant_funded(&m, 10000);
    API_MUST(mh_onboard(&S_client, S_admin, 0, &other));
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    char openid[64], other_openid[64];
    S_openid(&m, &u, openid);
    S_openid(&other, &u, other_openid);
    struct client_response res;
    const struct {
        const char *out_bill_no;
        const char *openid;
        long long amount;
        const char *extra;
        long status;
        const char *code;
    } cases[] = {
        {"BAD0000001", openid, 9, "", 400, "PARAM_ERROR"},      /* below 0.10 yuan */
        {"BAD0000002", openid, 200000, "", 400, "PARAM_ERROR"}, /* 2,000 yuan: a name */
        {"BAD0000003", openid, 100, ",\"user_name\":\"x\"", 400, "PARAM_ERROR"}, /* no serial */
        {"BAD-000004", openid, 100, "", 400, "PARAM_ERROR"},           /* not letters and digits */
        {"BAD0000005", other_openid, 100, "", 400, "INVALID_REQUEST"}, /* another app's */
        {"BAD0000006", openid, 10001, "", 403, "NOT_ENOUGH"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ASSERT_EQ_INT(S_create(&m, cases[i].out_bill_no, cases[i].openid, cases[i].amount,
                               cases[i].extra, &res),
                      cases[i].status);
        ASSERT_EQ_STR(api_error_code(&res), cases[i].code);
        client_response_release(&res);
    }
    // A remark of 33 characters; another merchant's appid.
    char body[512];
    snprintf(body, sizeof body,
             "{\"appid\":\"%s\",\"out_bill_no\":\"BAD0000007\",\"transfer_scene_id\":\"1000\","
             "\"openid\":\"%s\",\"transfer_amount\":100,\"transfer_remark\":"
             "\"一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三\"}",
             m.appid, openid);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", S_BILLS, body, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
    client_response_release(&res);
    snprintf(body, sizeof body,
             "{\"appid\":\"%s\",\"out_bill_no\":\"BAD0000008\",\"transfer_scene_id\":\"1000\","
             "\"openid\":\"%s\",\"transfer_amount\":100,\"transfer_remark\":\"奖励\"}",
             other.appid, other_openid);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", S_BILLS, body, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "APPID_MCHID_NOT_MATCH");
    client_response_release(&res);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "GET", S_BILLS "/out-bill-no/BAD0000006", NULL, &res),
                  404);
    ASSERT_EQ_STR(api_error_code(&res), "NOT_FOUND");
    client_response_release(&res);

    // A frozen wallet takes nothing; a suspended merchant pays nothing.
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/freeze", u.token, NULL, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(S_create(&m, "BAD0000009", openid, 100, "", &res), 403);
    ASSERT_EQ_STR(api_error_code(&res), "ACCOUNT_FROZEN");
    client_response_release(&res);
    char path[128];
    snprintf(path, sizeof path, "/admin/merchants/%s/suspend", m.mchid);
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, S_admin, "{\"reason\":\"检查\"}", &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(S_create(&m, "BAD0000010", openid, 100, "", &res), 403);
    ASSERT_EQ_STR(api_error_code(&res), "NO_AUTH");
    client_response_release(&res);
    ASSERT_EQ_INT(S_available(&m), 10000);
    mh_release(&m);
    mh_release(&other);
}

TEST(a_suspended_merchants_payout_waits_for_its_resumption)
{
    // A merchant suspended (a stolen key, a fraud report) keeps its balance for refunds: nothing
    // leaves it, the payouts it made before included. The user's confirm is refused and moves
    // nothing; the payout still waits, and the user takes it once an operator resumes the merchant.
    struct mh_merchant m;
    S_merchant_funded(&m, 10000);
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    char openid[64];
    S_openid(&m, &u, openid);
    struct client_response res;
    ASSERT_EQ_INT(S_create(&m, "WAIT000001", openid, 700, "", &res), 200);
    char id[64];
    snprintf(id, sizeof id, "%s", api_json_str(&res, "transfer_bill_no"));
    client_response_release(&res);
    char path[128];
    snprintf(path, sizeof path, "/admin/merchants/%s/suspend", m.mchid);
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, S_admin, "{\"reason\":\"ticket 9\"}", &res),
                  200);
    client_response_release(&res);
    ASSERT_EQ_INT(S_user(&u, id, true, &res), 403);
    ASSERT_EQ_STR(api_error_code(&res), "MERCHANT_SUSPENDED");
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 0);
    ASSERT_EQ_INT(S_available(&m), 10000 - 700);
    ASSERT_EQ_INT(S_user(&u, id, false, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "state"), "WAIT_USER_CONFIRM");
    client_response_release(&res);
    snprintf(path, sizeof path, "/admin/merchants/%s/resume", m.mchid);
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, S_admin, "{\"reason\":\"cleared\"}", &res),
                  200);
    client_response_release(&res);
    ASSERT_EQ_INT(S_user(&u, id, true, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "state"), "SUCCESS");
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 700);
    mh_release(&m);
}

TEST(a_frozen_payee_is_told_the_payout_waits_for_them)
{
    // A payee whose wallet is frozen (here by themselves, as for a lost phone) cannot take a
    // payout: the confirm is refused, moves nothing, and says the payout waits for them to take
    // it once the wallet is unfrozen, within its time, rather than only "frozen", which reads
    // as money lost. Unfrozen in time, they take it.
    struct mh_merchant m;
    S_merchant_funded(&m, 10000);
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    char openid[64];
    S_openid(&m, &u, openid);
    struct client_response res;
    ASSERT_EQ_INT(S_create(&m, "ICED000001", openid, 600, "", &res), 200);
    char id[64];
    snprintf(id, sizeof id, "%s", api_json_str(&res, "transfer_bill_no"));
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/freeze", u.token, NULL, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(S_user(&u, id, true, &res), 403);
    ASSERT_EQ_STR(api_error_code(&res), "ACCOUNT_FROZEN");
    const char *message = api_json_str(&res, "message");
    if (message == NULL || strstr(message, "waits") == NULL)
        TEST_FAIL_("a frozen payee's refusal does not say the payout waits: \"%s\"",
                   message != NULL ? message : "(none)");
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 0);
    ASSERT_EQ_INT(S_available(&m), 10000 - 600);
    ASSERT_EQ_INT(S_user(&u, id, false, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "state"), "WAIT_USER_CONFIRM");
    client_response_release(&res);
    char path[128];
    snprintf(path, sizeof path, "/admin/users/%s/unfreeze", u.id);
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, S_admin, NULL, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(S_user(&u, id, true, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "state"), "SUCCESS");
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 600);
    mh_release(&m);
}

/* POST a transfer bill of amount fen to openid naming its payee (user_name, sealed or not),
 * out_bill_no bill_no, with serial in Wechatpay-Serial (NULL: none): the status, the answer in
 * res. */
static long S_named_bill(const struct mh_merchant *m, const char *bill_no, const char *openid,
                         long long amount, const char *serial, const char *user_name,
                         struct client_response *res)
{
    struct mh_options opt;
    memset(&opt, 0, sizeof opt);
    opt.wechatpay_serial = serial;
    char body[2048];
    snprintf(body, sizeof body,
             "{\"appid\":\"%s\",\"out_bill_no\":\"%s\",\"transfer_scene_id\":\"1005\","
             "\"openid\":\"%s\",\"transfer_amount\":%lld,\"transfer_remark\":\"劳务报酬\","
             "\"user_name\":\"%s\"}",
             m->appid, bill_no, openid, amount, user_name);
    return mh_call_opt(&S_client, m, "POST", S_BILLS, body, &opt, res);
}

TEST(from_two_thousand_yuan_the_payee_is_named_and_checked)
{
    // From 2,000 yuan the merchant names the payee, encrypted for the platform as WeChat's SDKs
    // do: without a name, with another name, without the platform's serial or with a ciphertext
    // that does not open it is refused; the right name pays, and a retry encrypted anew (its
    // Wechatpay-Serial in lower case) is the same transfer.
    struct mh_merchant m;
    S_merchant_funded(&m, 500000);
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(api_user_verify(&S_client, &u, "李四"));
    char openid[64];
    S_openid(&m, &u, openid);
    struct client_response res;
    ASSERT_EQ_INT(S_create(&m, "NAMED00001", openid, 300000, "", &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
    client_response_release(&res);
    // A name sent as null is no name, as every optional field's null is: refused for its
    // absence (not opened as a ciphertext), with or without the platform's serial.
    struct mh_options opt;
    memset(&opt, 0, sizeof opt);
    opt.wechatpay_serial = m.platform_serial_no;
    char body[1024];
    snprintf(body, sizeof body,
             "{\"appid\":\"%s\",\"out_bill_no\":\"NAMED00001\",\"transfer_scene_id\":\"1005\","
             "\"openid\":\"%s\",\"transfer_amount\":300000,\"transfer_remark\":\"劳务报酬\","
             "\"user_name\":null}",
             m.appid, openid);
    for (int with_serial = 1; with_serial >= 0; with_serial--) {
        ASSERT_EQ_INT(
            mh_call_opt(&S_client, &m, "POST", S_BILLS, body, with_serial ? &opt : NULL, &res),
            400);
        ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
        ASSERT(strstr(api_json_str(&res, "message"), "user_name is required") != NULL);
        client_response_release(&res);
    }

    char sealed[1024];
    const struct {
        const char *name;
        const char *serial;
        long status;
        const char *code;
    } cases[] = {
        {"张三", m.platform_serial_no, 400, "INVALID_REQUEST"}, /* another name */
        {"李四", NULL, 400, "PARAM_ERROR"},                     /* no Wechatpay-Serial */
        {"李四", "0123456789ABCDEF", 400, "PARAM_ERROR"},       /* not the platform's */
        {NULL, m.platform_serial_no, 400, "PARAM_ERROR"},       /* does not open */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].name != NULL)
            S_seal(&m, cases[i].name, sealed);
        else
            snprintf(sealed, sizeof sealed, "bm90IGEgY2lwaGVydGV4dA==");
        ASSERT_EQ_INT(S_named_bill(&m, "NAMED00002", openid, 300000, cases[i].serial, sealed, &res),
                      cases[i].status);
        ASSERT_EQ_STR(api_error_code(&res), cases[i].code);
        client_response_release(&res);
    }
    ASSERT_EQ_INT(S_available(&m), 500000);

    /* The retry names the platform's serial in lower case, as a client that prints the
     * certificate's serial with %x does: a serial is a number, its case no part of it. */
    char serial_lower[sizeof m.platform_serial_no];
    for (size_t i = 0; i < sizeof serial_lower; i++)
        serial_lower[i] = (char)tolower((unsigned char)m.platform_serial_no[i]);
    ASSERT(strcmp(serial_lower, m.platform_serial_no) != 0);
    char id[64] = "";
    for (int attempt = 0; attempt < 2; attempt++) { /* each sealed anew: other bytes */
        S_seal(&m, "李四", sealed);
        ASSERT_EQ_INT(S_named_bill(&m, "NAMED00003", openid, 300000,
                                   attempt == 0 ? m.platform_serial_no : serial_lower, sealed,
                                   &res),
                      200);
        if (attempt == 0)
            snprintf(id, sizeof id, "%s", api_json_str(&res, "transfer_bill_no"));
        ASSERT_EQ_STR(api_json_str(&res, "transfer_bill_no"), id);
        client_response_release(&res);
    }
    ASSERT_EQ_INT(S_available(&m), 500000 - 300000);
    ASSERT_EQ_INT(S_user(&u, id, true, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 300000);
    mh_release(&m);
}

TEST(a_merchant_may_not_guess_a_users_name)
{
    // A refusal says whether a name is a user's verified one, so a merchant could guess one name
    // after another. After five wrong names of one user in a day it names that user no more,
    // not even rightly (the answer would confirm the guess); its other users are not held up.
    struct mh_merchant m;
    S_merchant_funded(&m, 500000);
    struct api_user u, v;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(api_user_verify(&S_client, &u, "李四"));
    API_MUST(th_user_new(&S_client, S_admin, &v));
    API_MUST(api_user_verify(&S_client, &v, "王五"));
    char openid_u[64], openid_v[64];
    S_openid(&m, &u, openid_u);
    S_openid(&m, &v, openid_v);
    static const char *const guesses[] = {"张三", "王二", "赵六", "孙七", "周八", "李四"};
    struct client_response res;
    char sealed[1024], bill_no[32];
    for (size_t i = 0; i <= QB_ARRAY_COUNT(guesses); i++) {
        bool last = i == QB_ARRAY_COUNT(guesses);
        S_seal(&m, last ? "王五" : guesses[i], sealed);
        snprintf(bill_no, sizeof bill_no, "GUESS%05zu", i);
        long status = S_named_bill(&m, bill_no, last ? openid_v : openid_u, 200000,
                                   m.platform_serial_no, sealed, &res);
        if (last) {
            ASSERT_EQ_INT(status, 200);
        } else if (i < 5) {
            ASSERT_EQ_INT(status, 400);
            ASSERT_EQ_STR(api_error_code(&res), "INVALID_REQUEST");
        } else {
            ASSERT_EQ_INT(status, 429);
            ASSERT_EQ_STR(api_error_code(&res), "FREQUENCY_LIMITED");
        }
        client_response_release(&res);
    }
    ASSERT_EQ_INT(S_available(&m), 500000 - 200000);
    // The operator's log names who guessed whose name, once, and never a name.
    static char log[1 << 20];
    ASSERT(test_file_read(S_daemon.log_path, log, sizeof log));
    char line[160];
    snprintf(line, sizeof line, "event=merchant.payout_names_limited mchid=%s user_id=%s misses=5",
             m.mchid, u.id);
    const char *at = strstr(log, line);
    ASSERT(at != NULL && strstr(at + 1, line) == NULL);
    for (size_t i = 0; i < QB_ARRAY_COUNT(guesses); i++)
        ASSERT(strstr(log, guesses[i]) == NULL);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/payouts", u.token, NULL, &res), 200);
    json_t *j = api_json(&res);
    client_response_release(&res);
    ASSERT_EQ_INT(json_array_size(json_object_get(j, "items")), 0);
    json_decref(j);
    mh_release(&m);
}

TEST(a_merchant_limited_from_naming_a_user_is_told_before_the_name_is_opened)
{
    // Opening a name is an RSA decryption with the platform key, the dearest step of a request:
    // a merchant that may name this user no more is refused before it, whatever it sent as the
    // name. A retry of a bill it made before is still answered as that bill was.
    struct mh_merchant m;
    S_merchant_funded(&m, 500000);
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(api_user_verify(&S_client, &u, "周九"));
    char openid[64], sealed[1024], bill_no[32];
    S_openid(&m, &u, openid);
    struct client_response res;
    S_seal(&m, "周九", sealed);
    ASSERT_EQ_INT(S_named_bill(&m, "NAMEDOK01", openid, 200000, m.platform_serial_no, sealed, &res),
                  200);
    char transfer_bill_no[64];
    snprintf(transfer_bill_no, sizeof transfer_bill_no, "%s",
             api_json_str(&res, "transfer_bill_no"));
    client_response_release(&res);
    for (int i = 0; i < 5; i++) { /* five wrong names in a day */
        S_seal(&m, "吴十", sealed);
        snprintf(bill_no, sizeof bill_no, "NAMEDNO%02d", i);
        ASSERT_EQ_INT(S_named_bill(&m, bill_no, openid, 200000, m.platform_serial_no, sealed, &res),
                      400);
        ASSERT_EQ_STR(api_error_code(&res), "INVALID_REQUEST");
        client_response_release(&res);
    }
    /* Not a ciphertext at all: refused for the limit, not for the name. */
    ASSERT_EQ_INT(S_named_bill(&m, "NAMEDNO99", openid, 200000, m.platform_serial_no,
                               "bm90IGEgY2lwaGVydGV4dA==", &res),
                  429);
    ASSERT_EQ_STR(api_error_code(&res), "FREQUENCY_LIMITED");
    client_response_release(&res);
    /* The first bill again, its name sealed anew: the same bill. */
    S_seal(&m, "周九", sealed);
    ASSERT_EQ_INT(S_named_bill(&m, "NAMEDOK01", openid, 200000, m.platform_serial_no, sealed, &res),
                  200);
    ASSERT_EQ_STR(api_json_str(&res, "transfer_bill_no"), transfer_bill_no);
    client_response_release(&res);
    ASSERT_EQ_INT(S_available(&m), 500000 - 200000);
    mh_release(&m);
}

TEST(nothing_leaves_the_merchant_of_a_frozen_owner)
{
    // A merchant a user owns keeps taking payments while its owner's wallet is frozen, but no
    // money leaves it: not a new transfer to a user, not one waiting to be taken (it waits, as
    // for a suspended merchant), and the owner cannot replace its API keys meanwhile, which
    // would let whoever holds the phone pay out through the API. Lifted, all is as before.
    struct api_user owner, payer, payee;
    API_MUST(th_user_new(&S_client, S_admin, &owner));
    API_MUST(th_user_new(&S_client, S_admin, &payer));
    API_MUST(api_user_verify(&S_client, &payer, "张三"));
    API_MUST(th_fund(&S_client, S_admin, &payer, 10100));
    API_MUST(th_user_new(&S_client, S_admin, &payee));
    struct mh_merchant m;
    API_MUST(mh_owner_onboard(&S_client, &owner, "frozen-owner-shop", &m));
    char transaction_id[32];
    rh_order_paid(&S_client, &m, &payer, "frozen-owner-1", 10000, NULL, transaction_id);
    long long available = S_available(&m);
    char openid[64];
    S_openid(&m, &payee, openid);
    struct client_response res;
    ASSERT_EQ_INT(S_create(&m, "FROZEN0001", openid, 500, "", &res), 200);
    char id[64];
    snprintf(id, sizeof id, "%s", api_json_str(&res, "transfer_bill_no"));
    client_response_release(&res);
    available -= 500;

    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/freeze", owner.token, NULL, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(S_create(&m, "FROZEN0002", openid, 500, "", &res), 403);
    ASSERT_EQ_STR(api_error_code(&res), "NO_AUTH");
    client_response_release(&res);
    ASSERT_EQ_INT(S_user(&payee, id, true, &res), 403);
    ASSERT_EQ_STR(api_error_code(&res), "MERCHANT_SUSPENDED");
    client_response_release(&res);
    char body[160];
    snprintf(body, sizeof body, "{\"payment_password\":\"%s\"}", TH_PAY_PASSWORD);
    ASSERT_EQ_INT(
        api_call(&S_client, "POST", "/v1/merchants/me/apiv3-key", owner.token, body, &res), 403);
    ASSERT_EQ_STR(api_error_code(&res), "ACCOUNT_FROZEN");
    client_response_release(&res);
    ASSERT_EQ_INT(S_available(&m), available);
    ASSERT_EQ_INT(th_balance(&S_client, &payee), 0);
    // Payments still come in.
    rh_order_paid(&S_client, &m, &payer, "frozen-owner-2", 100, NULL, transaction_id);

    char path[128];
    snprintf(path, sizeof path, "/admin/users/%s/unfreeze", owner.id);
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, S_admin, NULL, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(S_user(&payee, id, true, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &payee), 500);
    ASSERT_EQ_INT(S_create(&m, "FROZEN0002", openid, 500, "", &res), 200);
    client_response_release(&res);
    mh_release(&m);
}

TEST(a_payout_waiting_for_its_user_does_not_keep_the_wallet_open)
{
    // Money a merchant offers is not the user's until taken, and no route lets them refuse it:
    // a user closing their wallet leaves it, and it goes back to the merchant at its end (here
    // the merchant's cancel). Otherwise any merchant holding the user's openid could keep the
    // wallet from closing for ever by sending ¥0.10 a day.
    struct mh_merchant m;
    S_merchant_funded(&m, 10000);
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    char openid[64];
    S_openid(&m, &u, openid);
    struct client_response res;
    ASSERT_EQ_INT(S_create(&m, "CLOSING001", openid, 500, "", &res), 200);
    client_response_release(&res);
    char code[API_SMS_CODE_SIZE];
    API_MUST(api_sms_code_get(&S_client, S_admin, u.phone, "close_account", code));
    char body[128];
    snprintf(body, sizeof body, "{\"payment_password\":\"%s\",\"sms_code\":\"%s\"}",
             TH_PAY_PASSWORD, code);
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/close", u.token, body, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(S_available(&m), 10000 - 500);
    ASSERT_EQ_INT(
        mh_call(&S_client, &m, "POST", S_BILLS "/out-bill-no/CLOSING001/cancel", NULL, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(S_available(&m), 10000);
    mh_release(&m);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    if (!api_suite_daemon(&suite, &S_daemon, "payouts", NULL, S_admin, &S_client))
        return api_suite_end(&suite);
    RUN(a_payout_is_held_until_its_user_takes_it_then_arrives_once);
    RUN(a_cancelled_payout_gives_the_money_back_and_cannot_be_taken);
    RUN(refused_payouts_hold_nothing);
    RUN(nothing_leaves_the_merchant_of_a_frozen_owner);
    RUN(a_payout_waiting_for_its_user_does_not_keep_the_wallet_open);
    RUN(a_suspended_merchants_payout_waits_for_its_resumption);
    RUN(a_frozen_payee_is_told_the_payout_waits_for_them);
    RUN(from_two_thousand_yuan_the_payee_is_named_and_checked);
    RUN(a_merchant_may_not_guess_a_users_name);
    RUN(a_merchant_limited_from_naming_a_user_is_told_before_the_name_is_opened);
    return api_suite_end(&suite);
}

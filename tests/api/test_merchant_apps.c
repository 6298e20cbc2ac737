/*
 * test_merchant_apps.c — a merchant with several apps, black-box: onboarding
 * with app_count, POST /v1/merchants/{mchid}/apps (its owner only, at most
 * five) and the operator's POST /admin/merchants/{mchid}/apps, orders under
 * any of the merchant's appids (native, h5, jsapi, codepay; never under
 * another merchant's), a jsapi order under the second app paid by the user
 * whose openid in that app it names, and openids that differ per app.
 */
#include <stdio.h>
#include <string.h>

#include "api/lib/suite.h"
#include "api/merchant_helpers.h"
#include "api/transfer_helpers.h"

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];

/* An order body of merchant m under appid (extra: more fields, or ""). */
static void S_order_body(const struct mh_merchant *m, const char *appid, const char *out_trade_no,
                         long long total, const char *extra, char *out, size_t out_size)
{
    snprintf(out, out_size,
             "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"tea\","
             "\"out_trade_no\":\"%s\",\"notify_url\":\"https://www.weixin.qq.com/wxpay/pay.php\","
             "\"amount\":{\"total\":%lld,\"currency\":\"CNY\"}%s}",
             appid, m->mchid, out_trade_no, total, extra);
}

/* The appid at index i of the answer's "appids" ("" when there is none). */
static void S_appid_at(const struct client_response *res, size_t i, char out[32])
{
    json_t *j = api_json(res);
    const char *appid = json_string_value(json_array_get(json_object_get(j, "appids"), i));
    snprintf(out, 32, "%s", appid != NULL ? appid : "");
    json_decref(j);
}

static size_t S_appid_count(const struct client_response *res)
{
    json_t *j = api_json(res);
    size_t n = json_array_size(json_object_get(j, "appids"));
    json_decref(j);
    return n;
}

static bool S_appid_shape(const char *appid)
{
    return strlen(appid) == 18 && strncmp(appid, "wx", 2) == 0 &&
           strspn(appid + 2, "0123456789abcdef") == 16;
}

/* A user's openid in appid. */
static void S_openid(const struct api_user *u, const char *appid, char out[32])
{
    char path[128];
    snprintf(path, sizeof path, "/v1/me/openids/%s", appid);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, u->token, NULL, &res), 200);
    snprintf(out, 32, "%s", api_json_str(&res, "openid"));
    client_response_release(&res);
}

TEST(onboarding_makes_as_many_apps_as_asked_and_no_more_than_five)
{
    // app_count 3: three distinct appids, the first being "appid"; no app_count: one;
    // 0 and 6 are PARAM_ERROR and make no merchant.
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/admin/merchants", S_admin,
                           "{\"name\":\"三个应用\",\"app_count\":3}", &res),
                  201);
    ASSERT_EQ_INT((long long)S_appid_count(&res), 3);
    char a[3][32];
    for (size_t i = 0; i < 3; i++) {
        S_appid_at(&res, i, a[i]);
        ASSERT(S_appid_shape(a[i]));
    }
    ASSERT_EQ_STR(api_json_str(&res, "appid"), a[0]);
    ASSERT(strcmp(a[0], a[1]) != 0 && strcmp(a[1], a[2]) != 0 && strcmp(a[0], a[2]) != 0);
    client_response_release(&res);

    ASSERT_EQ_INT(api_call(&S_client, "POST", "/admin/merchants", S_admin,
                           "{\"name\":\"一个应用\"}", &res),
                  201);
    ASSERT_EQ_INT((long long)S_appid_count(&res), 1);
    S_appid_at(&res, 0, a[0]);
    ASSERT_EQ_STR(api_json_str(&res, "appid"), a[0]);
    client_response_release(&res);

    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    static const char *const bad[] = {"0", "6", "-1", "\"2\"", "2.5", "null"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char body[96];
        snprintf(body, sizeof body, "{\"name\":\"坏\",\"app_count\":%s}", bad[i]);
        long status = api_call(&S_client, "POST", "/v1/merchants", u.token, body, &res);
        if (strcmp(bad[i], "null") == 0) {
            /* null is an absent field: one app. */
            ASSERT_EQ_INT(status, 201);
            ASSERT_EQ_INT((long long)S_appid_count(&res), 1);
        } else {
            ASSERT_EQ_INT(status, 400);
            ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
        }
        client_response_release(&res);
    }
    /* Only the null one made a merchant: GET /v1/merchants/me finds exactly one. */
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/merchants/me", u.token, NULL, &res), 200);
    ASSERT_EQ_INT((long long)S_appid_count(&res), 1);
    client_response_release(&res);
}

TEST(the_owner_adds_apps_up_to_five_and_nobody_else_can)
{
    struct api_user owner, other;
    API_MUST(th_user_new(&S_client, S_admin, &owner));
    API_MUST(th_user_new(&S_client, S_admin, &other));
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/merchants", owner.token,
                           "{\"name\":\"茶馆\",\"app_count\":2}", &res),
                  201);
    char mchid[16], first[32], second[32];
    snprintf(mchid, sizeof mchid, "%s", api_json_str(&res, "mchid"));
    S_appid_at(&res, 0, first);
    S_appid_at(&res, 1, second);
    client_response_release(&res);
    char path[96];
    snprintf(path, sizeof path, "/v1/merchants/%s/apps", mchid);

    /* Another user: no such merchant, and nothing is added. */
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, other.token, "{}", &res), 404);
    ASSERT_EQ_STR(api_error_code(&res), "NOT_FOUND");
    client_response_release(&res);
    /* A body with fields is refused. */
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, owner.token, "{\"appid\":\"wx1\"}", &res),
                  400);
    client_response_release(&res);

    char added[3][32];
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ_INT(api_call(&S_client, "POST", path, owner.token, i == 0 ? NULL : "{}", &res),
                      201);
        snprintf(added[i], sizeof added[i], "%s", api_json_str(&res, "appid"));
        ASSERT(S_appid_shape(added[i]));
        ASSERT_EQ_STR(api_json_str(&res, "mchid"), mchid);
        ASSERT_EQ_INT(api_json_int(&res, "app_count", 0), 3 + i);
        client_response_release(&res);
    }
    /* The sixth: CONFLICT, and still five. */
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, owner.token, "{}", &res), 409);
    ASSERT_EQ_STR(api_error_code(&res), "CONFLICT");
    client_response_release(&res);

    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/merchants/me", owner.token, NULL, &res), 200);
    ASSERT_EQ_INT((long long)S_appid_count(&res), 5);
    char got[32];
    S_appid_at(&res, 0, got);
    ASSERT_EQ_STR(got, first);
    ASSERT_EQ_STR(api_json_str(&res, "appid"), first);
    S_appid_at(&res, 1, got);
    ASSERT_EQ_STR(got, second);
    for (size_t i = 0; i < 3; i++) {
        S_appid_at(&res, 2 + i, got);
        ASSERT_EQ_STR(got, added[i]);
    }
    client_response_release(&res);
    /* A path that is no mchid, and one nobody has: 404. */
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/merchants/me/apps", owner.token, "{}", &res),
                  404);
    client_response_release(&res);
    ASSERT_EQ_INT(
        api_call(&S_client, "POST", "/v1/merchants/1000000000/apps", owner.token, "{}", &res), 404);
    client_response_release(&res);
}

TEST(orders_take_any_of_the_merchants_appids_and_no_other)
{
    // An order under the second appid is that app's: its query says so, the user pays its
    // code_url, and the payer's openid is the one in that app. Another merchant's appid,
    // nobody's and a malformed one are APPID_MCHID_NOT_MATCH; a retry with the same
    // out_trade_no under another appid is a different request. A jsapi order names an openid
    // the app gave out, and no other.
    struct mh_merchant m, other;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    API_MUST(mh_onboard(&S_client, S_admin, -1, &other));
    char path[128];
    struct client_response res;
    struct api_user owner;
    API_MUST(th_user_new(&S_client, S_admin, &owner));
    /* A merchant the test signs for, with a second app added by its owner: onboard through
     * the admin route with owner_user_id, then add. */
    char body[2048];
    snprintf(body, sizeof body, "{\"name\":\"双应用\",\"owner_user_id\":\"%s\"}", owner.id);
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/admin/merchants", S_admin, body, &res), 201);
    struct mh_merchant two;
    memset(&two, 0, sizeof two);
    snprintf(two.mchid, sizeof two.mchid, "%s", api_json_str(&res, "mchid"));
    snprintf(two.appid, sizeof two.appid, "%s", api_json_str(&res, "appid"));
    snprintf(two.serial_no, sizeof two.serial_no, "%s", api_json_str(&res, "serial_no"));
    snprintf(two.apiv3_key, sizeof two.apiv3_key, "%s", api_json_str(&res, "apiv3_key"));
    snprintf(two.platform_serial_no, sizeof two.platform_serial_no, "%s",
             api_json_str(&res, "platform_serial_no"));
    json_t *onboarded = api_json(&res);
    client_response_release(&res);
    ASSERT(onboarded != NULL);
    two.key = mh_pem_key(json_string_value(json_object_get(onboarded, "private_key_pem")), true);
    two.platform_key = mh_pem_key(
        json_string_value(json_object_get(onboarded, "platform_public_key_pem")), false);
    json_decref(onboarded);
    ASSERT(two.key != NULL && two.platform_key != NULL);
    snprintf(path, sizeof path, "/v1/merchants/%s/apps", two.mchid);
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, owner.token, "{}", &res), 201);
    char second[32];
    snprintf(second, sizeof second, "%s", api_json_str(&res, "appid"));
    client_response_release(&res);

    /* A native order under the second app. */
    S_order_body(&two, second, "two-0001", 500, "", body, sizeof body);
    ASSERT_EQ_INT(mh_call(&S_client, &two, "POST", "/v3/pay/transactions/native", body, &res),
                  200);
    ASSERT(mh_response_verified(&two, &res));
    char code_url[128];
    snprintf(code_url, sizeof code_url, "%s", api_json_str(&res, "code_url"));
    client_response_release(&res);
    /* The same out_trade_no under the first app is another request. */
    S_order_body(&two, two.appid, "two-0001", 500, "", body, sizeof body);
    ASSERT_EQ_INT(mh_call(&S_client, &two, "POST", "/v3/pay/transactions/native", body, &res),
                  400);
    client_response_release(&res);
    /* ...while the same body again answers as the first time. */
    S_order_body(&two, second, "two-0001", 500, "", body, sizeof body);
    ASSERT_EQ_INT(mh_call(&S_client, &two, "POST", "/v3/pay/transactions/native", body, &res),
                  200);
    ASSERT_EQ_STR(api_json_str(&res, "code_url"), code_url);
    client_response_release(&res);

    /* Not the merchant's: another merchant's appid, nobody's, a malformed one. */
    const char *const foreign[] = {m.appid, other.appid, "wx0000000000000000", "wx12", "WX"};
    for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++) {
        S_order_body(&two, foreign[i], "two-0002", 500, "", body, sizeof body);
        ASSERT_EQ_INT(mh_call(&S_client, &two, "POST", "/v3/pay/transactions/native", body, &res),
                      400);
        ASSERT_EQ_STR(api_error_code(&res), "APPID_MCHID_NOT_MATCH");
        client_response_release(&res);
    }
    /* ...and the second app is not the other merchants'. */
    S_order_body(&m, second, "m-0001", 500, "", body, sizeof body);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/pay/transactions/native", body, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "APPID_MCHID_NOT_MATCH");
    client_response_release(&res);

    /* The operator adds an app to a merchant that has no owner; orders may name it. */
    snprintf(path, sizeof path, "/admin/merchants/%s/apps", m.mchid);
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, S_admin, "{}", &res), 201);
    ASSERT_EQ_INT(api_json_int(&res, "app_count", 0), 2);
    char m_second[32];
    snprintf(m_second, sizeof m_second, "%s", api_json_str(&res, "appid"));
    client_response_release(&res);
    S_order_body(
        &m, m_second, "m-0002", 300,
        ",\"scene_info\":{\"payer_client_ip\":\"203.0.113.7\",\"h5_info\":{\"type\":\"Wap\"}}",
        body, sizeof body);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/pay/transactions/h5", body, &res), 200);
    client_response_release(&res);
    S_order_body(&two, m_second, "two-0003", 300, "", body, sizeof body);
    ASSERT_EQ_INT(mh_call(&S_client, &two, "POST", "/v3/pay/transactions/native", body, &res),
                  400);
    ASSERT_EQ_STR(api_error_code(&res), "APPID_MCHID_NOT_MATCH");
    client_response_release(&res);
    ASSERT_EQ_INT(
        api_call(&S_client, "POST", "/admin/merchants/1000000000/apps", S_admin, "{}", &res),
        404);
    client_response_release(&res);

    /* codepay checks the appid the same way: another merchant's is refused, the second app's
     * passes on to the payment code (which this made-up one is not). */
    static const char codepay[] =
        "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"tea\","
        "\"out_trade_no\":\"two-code-1\",\"amount\":{\"total\":100,\"currency\":\"CNY\"},"
        "\"payer\":{\"auth_code\":\"130000000000000000\"}}";
    snprintf(body, sizeof body, codepay, other.appid, two.mchid);
    ASSERT_EQ_INT(mh_call(&S_client, &two, "POST", "/v3/pay/transactions/codepay", body, &res),
                  400);
    ASSERT_EQ_STR(api_error_code(&res), "APPID_MCHID_NOT_MATCH");
    client_response_release(&res);
    snprintf(body, sizeof body, codepay, second, two.mchid);
    ASSERT_EQ_INT(mh_call(&S_client, &two, "POST", "/v3/pay/transactions/codepay", body, &res),
                  400);
    ASSERT_EQ_STR(api_error_code(&res), "AUTH_CODE_INVALID");
    client_response_release(&res);

    /* The user pays the second app's order; the payer is their openid in that app. */
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 10000));
    char pay[256];
    snprintf(pay, sizeof pay, "{\"code_url\":\"%s\",\"payment_password\":\"%s\"}", code_url,
             TH_PAY_PASSWORD);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/me/order-payments", u.token, "apps-1",
                                pay, &res),
                  201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "SUCCESS");
    client_response_release(&res);
    char query[128];
    snprintf(query, sizeof query, "/v3/pay/transactions/out-trade-no/two-0001?mchid=%s",
             two.mchid);
    ASSERT_EQ_INT(mh_call(&S_client, &two, "GET", query, NULL, &res), 200);
    json_t *j = api_json(&res);
    client_response_release(&res);
    ASSERT(j != NULL);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "appid")), second);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "trade_state")), "SUCCESS");
    char openid_second[32], openid_first[32];
    S_openid(&u, second, openid_second);
    S_openid(&u, two.appid, openid_first);
    ASSERT(strcmp(openid_first, openid_second) != 0);
    ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(j, "payer"), "openid")),
                  openid_second);
    json_decref(j);

    /* A jsapi order under the second app names the user by their openid there: that user
     * pays it by its prepay_id. */
    char extra[96];
    snprintf(extra, sizeof extra, ",\"payer\":{\"openid\":\"%s\"}", openid_second);
    S_order_body(&two, second, "two-jsapi-1", 700, extra, body, sizeof body);
    ASSERT_EQ_INT(mh_call(&S_client, &two, "POST", "/v3/pay/transactions/jsapi", body, &res),
                  200);
    char prepay_id[128];
    snprintf(prepay_id, sizeof prepay_id, "%s", api_json_str(&res, "prepay_id"));
    client_response_release(&res);
    ASSERT(prepay_id[0] != '\0');
    snprintf(pay, sizeof pay, "{\"prepay_id\":\"%s\",\"payment_password\":\"%s\"}", prepay_id,
             TH_PAY_PASSWORD);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/me/order-payments", u.token, "apps-2",
                                pay, &res),
                  201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "SUCCESS");
    client_response_release(&res);

    /* A jsapi order under the second app naming the user's openid in the FIRST app names
     * nobody there, nor does an openid nobody was given: both are refused when the order is
     * made, so that the merchant hears of its mistake rather than the payer at the till. */
    const char *refused[] = {openid_first, "oAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(extra, sizeof extra, ",\"payer\":{\"openid\":\"%s\"}", refused[i]);
        S_order_body(&two, second, "two-jsapi-2", 700, extra, body, sizeof body);
        ASSERT_EQ_INT(mh_call(&S_client, &two, "POST", "/v3/pay/transactions/jsapi", body, &res),
                      400);
        ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
        ASSERT_EQ_STR(api_json_str(&res, "message"), "payer.openid is not an openid of this app");
        client_response_release(&res);
    }
    snprintf(query, sizeof query, "/v3/pay/transactions/out-trade-no/two-jsapi-2?mchid=%s",
             two.mchid);
    ASSERT_EQ_INT(mh_call(&S_client, &two, "GET", query, NULL, &res), 404);
    client_response_release(&res);

    /* In the first app, which showed the user that openid, the same order is made and paid. */
    snprintf(extra, sizeof extra, ",\"payer\":{\"openid\":\"%s\"}", openid_first);
    S_order_body(&two, two.appid, "two-jsapi-2", 700, extra, body, sizeof body);
    ASSERT_EQ_INT(mh_call(&S_client, &two, "POST", "/v3/pay/transactions/jsapi", body, &res),
                  200);
    snprintf(prepay_id, sizeof prepay_id, "%s", api_json_str(&res, "prepay_id"));
    client_response_release(&res);
    snprintf(pay, sizeof pay, "{\"prepay_id\":\"%s\",\"payment_password\":\"%s\"}", prepay_id,
             TH_PAY_PASSWORD);
    ASSERT_EQ_INT(
        api_call_idem(&S_client, "POST", "/v1/me/order-payments", u.token, "apps-3", pay, &res),
        201);
    client_response_release(&res);

    /* An app nobody has gives out no openid. */
    ASSERT_EQ_INT(
        api_call(&S_client, "GET", "/v1/me/openids/wx00000000000000ff", u.token, NULL, &res), 404);
    ASSERT_EQ_STR(api_error_code(&res), "NOT_FOUND");
    client_response_release(&res);

    mh_release(&two);
    mh_release(&m);
    mh_release(&other);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    if (!api_suite_daemon(&suite, &S_daemon, "merchant_apps", NULL, S_admin, &S_client))
        return api_suite_end(&suite);
    RUN(onboarding_makes_as_many_apps_as_asked_and_no_more_than_five);
    RUN(the_owner_adds_apps_up_to_five_and_nobody_else_can);
    RUN(orders_take_any_of_the_merchants_appids_and_no_other);
    return api_suite_end(&suite);
}

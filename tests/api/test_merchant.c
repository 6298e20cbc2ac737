/*
 * test_merchant.c — merchants over HTTP, black-box: onboarding, the signed
 * merchant API as a WeChat Pay SDK speaks it (requests signed and answers
 * verified with OpenSSL by this test, merchant_helpers.h), every signature
 * refusal, orders created, queried and closed, the platform certificate,
 * and a wallet user paying a native order with its balance. The
 * operator's merchant routes too: listing and reading merchants, and
 * suspending one, which stops every way it takes money (its orders,
 * codepay, a user paying an order made before) and none by which it gives
 * money back, until it is resumed.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api/lib/suite.h"
#include "api/merchant_helpers.h"
#include "api/refund_helpers.h"
#include "api/transfer_helpers.h"

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];

/* A native order body of merchant m. */
static void S_order_body(const struct mh_merchant *m, const char *out_trade_no, long long total,
                         const char *extra, char *out, size_t out_size)
{
    snprintf(out, out_size,
             "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"Image形象店-深圳腾大-QQ公仔\","
             "\"out_trade_no\":\"%s\",\"notify_url\":\"https://www.weixin.qq.com/wxpay/pay.php\","
             "\"amount\":{\"total\":%lld,\"currency\":\"CNY\"}%s}",
             m->appid, m->mchid, out_trade_no, total, extra != NULL ? extra : "");
}

/* A native order of m; its code_url into code_url. */
static void S_native(const struct mh_merchant *m, const char *out_trade_no, long long total,
                     char code_url[128])
{
    char body[1024];
    S_order_body(m, out_trade_no, total, NULL, body, sizeof body);
    struct client_response res;
    ASSERT_EQ_INT(mh_call(&S_client, m, "POST", "/v3/pay/transactions/native", body, &res), 200);
    ASSERT(mh_response_verified(m, &res));
    snprintf(code_url, 128, "%s", api_json_str(&res, "code_url"));
    ASSERT(strncmp(code_url, "qianbao://pay?pr=", 17) == 0);
    client_response_release(&res);
}

/* GET of merchant m's order by path, signed; its status, the answer in *out. */
static long S_query_status(const struct mh_merchant *m, const char *path, json_t **out)
{
    struct client_response res;
    long status = mh_call(&S_client, m, "GET", path, NULL, &res);
    ASSERT(mh_response_verified(m, &res));
    *out = api_json(&res);
    client_response_release(&res);
    return status;
}

static json_t *S_query(const struct mh_merchant *m, const char *out_trade_no)
{
    char path[256];
    snprintf(path, sizeof path, "/v3/pay/transactions/out-trade-no/%s?mchid=%s", out_trade_no,
             m->mchid);
    json_t *j = NULL;
    ASSERT_EQ_INT(S_query_status(m, path, &j), 200);
    ASSERT(j != NULL);
    return j;
}

TEST(onboarding_answers_the_credentials_an_sdk_needs)
{
    // A merchant leaves onboarding with everything an SDK is configured with, in WeChat's
    // shapes; a user may apply too, and bad input is refused.
    struct mh_merchant m;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    ASSERT_EQ_INT(strlen(m.mchid), 10);
    ASSERT(strspn(m.mchid, "0123456789") == 10);
    ASSERT_EQ_INT(strlen(m.appid), 18);
    ASSERT(strncmp(m.appid, "wx", 2) == 0);
    ASSERT_EQ_INT(strlen(m.apiv3_key), 32);
    ASSERT_EQ_INT(strlen(m.serial_no), 40);
    ASSERT_EQ_INT(strlen(m.platform_serial_no), 40);
    mh_release(&m);

    struct api_user u;
    API_MUST(api_user_new(&S_client, S_admin, &u));
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/merchants", u.token, "{\"name\":\"小店\"}", &res),
                  201);
    ASSERT(strstr(res.body.data, "\"private_key_pem\":\"-----BEGIN PRIVATE KEY") != NULL);
    ASSERT_EQ_INT(api_json_int(&res, "fee_rate_ppm", 0), 6000);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/merchants", u.token, "{\"name\":\"\"}", &res),
                  400);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/merchants", u.token,
                           "{\"name\":\"x\",\"public_key\":\"bm90IGEga2V5\"}", &res),
                  400);
    ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
    client_response_release(&res);
    /* An empty key is a key that is none, not the absent one that has a pair made. */
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/merchants", u.token,
                           "{\"name\":\"x\",\"public_key\":\"\"}", &res),
                  400);
    ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/admin/merchants", S_admin,
                           "{\"name\":\"x\",\"fee_rate_ppm\":100001}", &res),
                  400);
    client_response_release(&res);
}

TEST(a_merchant_that_brings_its_own_key_signs_with_it_up_to_4096_bits)
{
    // A merchant may bring its own RSA key of 2048 to 4096 bits instead of the one Qianbao makes:
    // onboarding takes it, and every size it takes must then sign requests that pass. A
    // 4096-bit key's signature is twice a 2048-bit one's.
    struct api_user u;
    API_MUST(api_user_new(&S_client, S_admin, &u));
    const unsigned bits[] = {2048, 4096};
    for (size_t i = 0; i < QB_ARRAY_COUNT(bits); i++) {
        EVP_PKEY *key = EVP_RSA_gen(bits[i]);
        ASSERT(key != NULL);
        unsigned char *der = NULL;
        int der_size = i2d_PUBKEY(key, &der);
        ASSERT(der_size > 0);
        char b64[1400], body[1600];
        ASSERT(EVP_EncodeBlock((unsigned char *)b64, der, der_size) < (int)sizeof b64);
        OPENSSL_free(der);
        snprintf(body, sizeof body, "{\"name\":\"自带密钥 %u\",\"public_key\":\"%s\"}", bits[i],
                 b64);
        struct client_response res;
        ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/merchants", u.token, body, &res), 201);
        json_t *j = api_json(&res);
        client_response_release(&res);
        ASSERT(j != NULL && json_object_get(j, "private_key_pem") == NULL);
        struct mh_merchant m;
        memset(&m, 0, sizeof m);
        snprintf(m.mchid, sizeof m.mchid, "%s", json_string_value(json_object_get(j, "mchid")));
        snprintf(m.appid, sizeof m.appid, "%s", json_string_value(json_object_get(j, "appid")));
        snprintf(m.apiv3_key, sizeof m.apiv3_key, "%s",
                 json_string_value(json_object_get(j, "apiv3_key")));
        snprintf(m.serial_no, sizeof m.serial_no, "%s",
                 json_string_value(json_object_get(j, "serial_no")));
        snprintf(m.platform_serial_no, sizeof m.platform_serial_no, "%s",
                 json_string_value(json_object_get(j, "platform_serial_no")));
        m.platform_key =
            mh_pem_key(json_string_value(json_object_get(j, "platform_public_key_pem")), false);
        json_decref(j);
        m.key = key;
        long status = mh_call(&S_client, &m, "GET", "/v3/certificates", NULL, &res);
        if (status != 200)
            TEST_FAIL_("a %u-bit key: %ld %s", bits[i], status, res.body.data ? res.body.data : "");
        ASSERT(mh_response_verified(&m, &res));
        client_response_release(&res);
        mh_release(&m);
    }
}

TEST(every_bad_signature_is_sign_error_and_the_answer_is_signed)
{
    // The signature is the merchant API's only lock: another key, a stale or future timestamp,
    // a reused nonce, a tampered body, another serial or no header must all be 401 SIGN_ERROR,
    // each answer signed by the platform, and nothing created.
    struct mh_merchant m, other;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    API_MUST(mh_onboard(&S_client, S_admin, -1, &other));
    char body[1024];
    S_order_body(&m, "sig-test-0001", 100, NULL, body, sizeof body);
    struct mh_options opts[6];
    memset(opts, 0, sizeof opts);
    opts[0].sign_key = other.key;
    /* Well past the five minutes: the header's timestamp is whole seconds and
     * the daemon checks to the millisecond, so +301 s signed at x.950 and
     * checked 60 ms later is only 299.99 s ahead, and passes. */
    opts[1].timestamp_offset_s = -330;
    opts[2].timestamp_offset_s = 330;
    opts[3].signed_body = "{}";
    opts[4].serial_no = other.serial_no;
    opts[5].nonce = "reused-nonce-0001";
    struct client_response res;
    for (size_t i = 0; i < 5; i++) {
        ASSERT_EQ_INT(mh_call_opt(&S_client, &m, "POST", "/v3/pay/transactions/native", body,
                                  &opts[i], &res),
                      401);
        ASSERT_EQ_STR(api_error_code(&res), "SIGN_ERROR");
        ASSERT(mh_response_verified(&m, &res));
        client_response_release(&res);
    }
    /* Nothing was created by the refused ones. */
    char path[256];
    snprintf(path, sizeof path, "/v3/pay/transactions/out-trade-no/sig-test-0001?mchid=%s", m.mchid);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "GET", path, NULL, &res), 404);
    ASSERT_EQ_STR(api_error_code(&res), "ORDER_NOT_EXIST");
    client_response_release(&res);
    /* A nonce passes once; the same request again is a replay. */
    ASSERT_EQ_INT(mh_call_opt(&S_client, &m, "GET", path, NULL, &opts[5], &res), 404);
    client_response_release(&res);
    ASSERT_EQ_INT(mh_call_opt(&S_client, &m, "GET", path, NULL, &opts[5], &res), 401);
    ASSERT_EQ_STR(api_error_code(&res), "SIGN_ERROR");
    client_response_release(&res);
    /* Four minutes off is inside the window. */
    struct mh_options near;
    memset(&near, 0, sizeof near);
    near.timestamp_offset_s = -240;
    ASSERT_EQ_INT(mh_call_opt(&S_client, &m, "GET", path, NULL, &near, &res), 404);
    client_response_release(&res);
    /* No header at all, and a bearer token. */
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v3/certificates", NULL, NULL, &res), 401);
    ASSERT_EQ_STR(api_error_code(&res), "SIGN_ERROR");
    ASSERT(mh_response_verified(&m, &res));
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v3/certificates", S_admin, NULL, &res), 401);
    client_response_release(&res);
    /* A signed answer whose body was changed does not verify. */
    ASSERT_EQ_INT(mh_call(&S_client, &m, "GET", "/v3/certificates", NULL, &res), 200);
    ASSERT(mh_response_verified(&m, &res));
    res.body.data[10] ^= 1;
    ASSERT(!mh_response_verified(&m, &res));
    client_response_release(&res);
    mh_release(&m);
    mh_release(&other);
}

TEST(an_answer_to_a_path_longer_than_any_route_is_signed_too)
{
    // An SDK checks the signature of every answer, its errors too, and reports one without it
    // as forged: a /v3 path longer than any route (over 1 KiB, HTTP_PATH_SIZE_MAX) is not
    // found, and that 404 must be signed like any other.
    struct mh_merchant m;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    char path[1400];
    int n = snprintf(path, sizeof path, "/v3/pay/transactions/out-trade-no/");
    memset(path + n, 'a', 1100);
    snprintf(path + n + 1100, sizeof path - (size_t)n - 1100, "?mchid=%s", m.mchid);
    struct client_response res;
    ASSERT_EQ_INT(mh_call(&S_client, &m, "GET", path, NULL, &res), 404);
    ASSERT_EQ_STR(api_error_code(&res), "NOT_FOUND");
    ASSERT(mh_response_verified(&m, &res));
    client_response_release(&res);
    mh_release(&m);
}

TEST(one_merchants_flood_of_signed_requests_does_not_shut_out_the_others)
{
    // A merchant's retry loop gone wrong signs and sends as fast as it can. The daemon's memory
    // of nonces (room here for one signed request a second over ten minutes: 768) is shared:
    // the flood is told 429 FREQUENCY_LIMITED once it holds half, and another merchant is still
    // served, where before the flood filled it and every merchant got 503 SYSTEM_BUSY.
    const char *args[] = {"--v3-signed-per-s", "1", NULL};
    struct test_daemon d;
    char admin[API_TOKEN_SIZE_MAX];
    API_MUST(api_daemon_start(&d, S_root, "nonces", args, admin));
    struct client c;
    client_init(&c, d.base_url);
    struct mh_merchant flood, other;
    API_MUST(mh_onboard(&c, admin, -1, &flood));
    API_MUST(mh_onboard(&c, admin, -1, &other));
    char path[256];
    snprintf(path, sizeof path, "/v3/pay/transactions/out-trade-no/flood-1?mchid=%s", flood.mchid);
    struct client_response res;
    long status = 404;
    int served = 0;
    while (status == 404 && served < 1000) {
        status = mh_call(&c, &flood, "GET", path, NULL, &res);
        if (status != 404)
            break;
        served++;
        client_response_release(&res);
    }
    ASSERT_EQ_INT(status, 429);
    ASSERT_EQ_STR(api_error_code(&res), "FREQUENCY_LIMITED");
    ASSERT(mh_response_verified(&flood, &res));
    client_response_release(&res);
    ASSERT_EQ_INT(served, 384);
    /* The other merchant goes on: an order made and read back. */
    char body[1024];
    S_order_body(&other, "not-flooded-1", 100, NULL, body, sizeof body);
    ASSERT_EQ_INT(mh_call(&c, &other, "POST", "/v3/pay/transactions/native", body, &res), 200);
    client_response_release(&res);
    snprintf(path, sizeof path, "/v3/pay/transactions/out-trade-no/not-flooded-1?mchid=%s",
             other.mchid);
    ASSERT_EQ_INT(mh_call(&c, &other, "GET", path, NULL, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "trade_state"), "NOTPAY");
    client_response_release(&res);
    /* The operator reads why, and whose. */
    static char log[1 << 20];
    char line[128];
    snprintf(line, sizeof line, "mchid=%s reason=\"its share of the nonce memory is spent\"",
             flood.mchid);
    ASSERT(test_file_read(d.log_path, log, sizeof log));
    ASSERT(strstr(log, line) != NULL);
    mh_release(&flood);
    mh_release(&other);
    client_release(&c);
    ASSERT_EQ_INT(test_daemon_stop(&d), 0);
}

TEST(orders_are_created_queried_retried_and_closed_as_wechat_does)
{
    // The order life cycle a merchant drives: create each kind, the same body again answers the
    // same, another body under the number is INVALID_REQUEST 201, query both ways, close.
    struct mh_merchant m, other;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    API_MUST(mh_onboard(&S_client, S_admin, -1, &other));
    char body[1024], code_url[128];
    S_native(&m, "order-life-0001", 100, code_url);
    S_order_body(&m, "order-life-0001", 100, NULL, body, sizeof body);
    struct client_response res;
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/pay/transactions/native", body, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "code_url"), code_url);
    client_response_release(&res);
    S_order_body(&m, "order-life-0001", 101, NULL, body, sizeof body);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/pay/transactions/native", body, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "INVALID_REQUEST");
    client_response_release(&res);

    /* app and h5; jsapi needs payer.openid; codepay needs payer.auth_code (test_paycode.c).
     * An SDK that writes an unset payer as null means no payer. */
    S_order_body(&m, "order-life-0002", 100, ",\"payer\":null", body, sizeof body);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/pay/transactions/app", body, &res), 200);
    ASSERT(strncmp(api_json_str(&res, "prepay_id"), "wx", 2) == 0);
    client_response_release(&res);
    /* h5 needs the scene WeChat requires of one: the payer's IP and the page's kind. */
    const char *h5_scenes[] = {
        "",
        ",\"scene_info\":{\"h5_info\":{\"type\":\"Wap\"}}",
        ",\"scene_info\":{\"payer_client_ip\":\"203.0.113.7\"}",
        ",\"scene_info\":{\"payer_client_ip\":\"203.0.113\",\"h5_info\":{\"type\":\"Wap\"}}",
        ",\"scene_info\":{\"payer_client_ip\":\"203.0.113.7\",\"h5_info\":{\"type\":\"wap\"}}",
        ",\"scene_info\":{\"payer_client_ip\":7,\"h5_info\":{\"type\":\"Wap\"}}",
    };
    for (size_t i = 0; i < QB_ARRAY_COUNT(h5_scenes); i++) {
        S_order_body(&m, "order-life-0003", 100, h5_scenes[i], body, sizeof body);
        ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/pay/transactions/h5", body, &res), 400);
        ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
        client_response_release(&res);
    }
    S_order_body(&m, "order-life-0003", 100,
                 ",\"scene_info\":{\"payer_client_ip\":\"2001:db8::7\","
                 "\"h5_info\":{\"type\":\"iOS\"}}",
                 body, sizeof body);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/pay/transactions/h5", body, &res), 200);
    ASSERT(strncmp(api_json_str(&res, "h5_url"), "qianbao://pay/h5?prepay_id=wx", 29) == 0);
    client_response_release(&res);
    S_order_body(&m, "order-life-0004", 100, NULL, body, sizeof body);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/pay/transactions/jsapi", body, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
    client_response_release(&res);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/pay/transactions/codepay", body, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
    client_response_release(&res);
    /* Another merchant's appid, or mchid, is refused. */
    S_order_body(&other, "order-life-0005", 100, NULL, body, sizeof body);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/pay/transactions/native", body, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
    client_response_release(&res);

    /* Query by out_trade_no and by transaction_id; another merchant sees nothing. */
    json_t *j = S_query(&m, "order-life-0001");
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "trade_state")), "NOTPAY");
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "trade_type")), "NATIVE");
    char path[256];
    snprintf(path, sizeof path, "/v3/pay/transactions/id/%s?mchid=%s",
             json_string_value(json_object_get(j, "transaction_id")), m.mchid);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "GET", path, NULL, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "out_trade_no"), "order-life-0001");
    client_response_release(&res);
    snprintf(path, sizeof path, "/v3/pay/transactions/id/%s?mchid=%s",
             json_string_value(json_object_get(j, "transaction_id")), other.mchid);
    ASSERT_EQ_INT(mh_call(&S_client, &other, "GET", path, NULL, &res), 404);
    client_response_release(&res);
    json_decref(j);
    /* A query without ?mchid= is told it is missing, not that it is someone else's. */
    ASSERT_EQ_INT(mh_call(&S_client, &m, "GET", "/v3/pay/transactions/out-trade-no/order-life-0001",
                          NULL, &res),
                  400);
    ASSERT(strstr(api_json_str(&res, "message"), "required") != NULL);
    client_response_release(&res);

    /* Close: 204, then CLOSED, and closing again is 204 too. */
    char close_body[64];
    snprintf(close_body, sizeof close_body, "{\"mchid\":\"%s\"}", m.mchid);
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ_INT(mh_call(&S_client, &m, "POST",
                              "/v3/pay/transactions/out-trade-no/order-life-0002/close", close_body,
                              &res),
                      204);
        ASSERT(mh_response_verified(&m, &res));
        client_response_release(&res);
    }
    j = S_query(&m, "order-life-0002");
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "trade_state")), "CLOSED");
    json_decref(j);
    /* HEAD: the answer's signature is over what is sent, which is no body. */
    char head_path[256];
    snprintf(head_path, sizeof head_path,
             "/v3/pay/transactions/out-trade-no/order-life-0002?mchid=%s", m.mchid);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "HEAD", head_path, NULL, &res), 200);
    ASSERT_EQ_INT(res.body.size, 0);
    ASSERT(mh_response_verified(&m, &res));
    client_response_release(&res);
    mh_release(&m);
    mh_release(&other);
}

TEST(a_retried_order_from_another_client_ip_is_the_same_order)
{
    // WeChat lets a retried order differ from the first request in the payer's IP alone
    // (scene_info.payer_client_ip): a phone that moved from Wi-Fi to mobile data between two
    // taps on "pay" gets the same h5_url again, not "201 商户订单号重复". Any other member that
    // changes, an optional one too, is still another request under the number.
    struct mh_merchant m;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    char body[1024];
    struct client_response res;
    S_order_body(&m, "retry-ip-0001", 100,
                 ",\"scene_info\":{\"payer_client_ip\":\"203.0.113.7\","
                 "\"h5_info\":{\"type\":\"Wap\"}}",
                 body, sizeof body);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/pay/transactions/h5", body, &res), 200);
    char h5_url[128];
    snprintf(h5_url, sizeof h5_url, "%s", api_json_str(&res, "h5_url"));
    client_response_release(&res);
    S_order_body(&m, "retry-ip-0001", 100,
                 ",\"scene_info\":{\"h5_info\":{\"type\":\"Wap\"},"
                 "\"payer_client_ip\":\"198.51.100.23\"}",
                 body, sizeof body);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/pay/transactions/h5", body, &res), 200);
    ASSERT(mh_response_verified(&m, &res));
    ASSERT_EQ_STR(api_json_str(&res, "h5_url"), h5_url);
    client_response_release(&res);

    S_order_body(&m, "retry-ip-0001", 100,
                 ",\"scene_info\":{\"payer_client_ip\":\"203.0.113.7\","
                 "\"h5_info\":{\"type\":\"iOS\"}}",
                 body, sizeof body);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/pay/transactions/h5", body, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "INVALID_REQUEST");
    client_response_release(&res);
    S_order_body(&m, "retry-ip-0001", 100,
                 ",\"scene_info\":{\"payer_client_ip\":\"203.0.113.7\","
                 "\"h5_info\":{\"type\":\"Wap\"}},\"goods_tag\":\"WXG\"",
                 body, sizeof body);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/pay/transactions/h5", body, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "INVALID_REQUEST");
    client_response_release(&res);
    mh_release(&m);
}

TEST(an_escaped_out_trade_no_is_found_and_signed_as_sent)
{
    // An out_trade_no may hold '|', '*' and '@', which an SDK escapes in the path it signs
    // ("%7C"). The signature covers the path as sent; the order is found under the unescaped
    // number. An escaped slash in it is refused, in a signed answer.
    struct mh_merchant m;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    char body[1024];
    S_order_body(&m, "esc|a*b@c-0001", 100, NULL, body, sizeof body);
    struct client_response res;
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/pay/transactions/native", body, &res), 200);
    client_response_release(&res);
    char path[256];
    snprintf(path, sizeof path,
             "/v3/pay/transactions/out-trade-no/esc%%7Ca%%2Ab%%40c-0001?mchid=%s", m.mchid);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "GET", path, NULL, &res), 200);
    ASSERT(mh_response_verified(&m, &res));
    ASSERT_EQ_STR(api_json_str(&res, "out_trade_no"), "esc|a*b@c-0001");
    client_response_release(&res);
    /* Signed over the unescaped path instead, it is not the request the merchant signed. */
    char unescaped[256];
    snprintf(unescaped, sizeof unescaped,
             "/v3/pay/transactions/out-trade-no/esc|a*b@c-0001?mchid=%s", m.mchid);
    struct mh_options opt;
    memset(&opt, 0, sizeof opt);
    opt.signed_path = unescaped;
    ASSERT_EQ_INT(mh_call_opt(&S_client, &m, "GET", path, NULL, &opt, &res), 401);
    ASSERT_EQ_STR(api_error_code(&res), "SIGN_ERROR");
    client_response_release(&res);

    snprintf(path, sizeof path, "/v3/pay/transactions/out-trade-no/esc%%2Fa-0001?mchid=%s",
             m.mchid);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "GET", path, NULL, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
    ASSERT(mh_response_verified(&m, &res));
    client_response_release(&res);
    snprintf(path, sizeof path,
             "/v3/pay/transactions/out%%2Dtrade-no/esc%%7Ca%%2Ab%%40c-0001?mchid=%s", m.mchid);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "GET", path, NULL, &res), 404);
    ASSERT_EQ_STR(api_error_code(&res), "NOT_FOUND");
    ASSERT(mh_response_verified(&m, &res));
    client_response_release(&res);
    mh_release(&m);
}

TEST(the_platform_certificate_decrypts_with_the_apiv3_key)
{
    // GET /v3/certificates is how an SDK learns the platform key: the certificate inside must
    // decrypt with the merchant's API v3 key and carry the serial every answer is signed under.
    struct mh_merchant m;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    struct client_response res;
    ASSERT_EQ_INT(mh_call(&S_client, &m, "GET", "/v3/certificates", NULL, &res), 200);
    json_t *j = api_json(&res);
    client_response_release(&res);
    json_t *item = json_array_get(json_object_get(j, "data"), 0);
    ASSERT_EQ_INT(json_array_size(json_object_get(j, "data")), 1);
    ASSERT_EQ_STR(json_string_value(json_object_get(item, "serial_no")), m.platform_serial_no);
    char plain[8192];
    ASSERT(mh_certificate_decrypt(&m, item, plain, sizeof plain));
    ASSERT(strncmp(plain, "-----BEGIN CERTIFICATE-----", 27) == 0);
    json_decref(j);
    mh_release(&m);
}

/* The caller's CNY available balance. */
static long long S_balance(const struct api_user *u)
{
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/balances", u->token, NULL, &res), 200);
    json_t *j = api_json(&res);
    client_response_release(&res);
    long long available =
        json_integer_value(json_object_get(json_array_get(json_object_get(j, "balances"), 0),
                                           "available"));
    json_decref(j);
    return available;
}

TEST(an_order_payment_without_a_payment_password_set_says_so)
{
    // A user who never set a payment password is told to set one, with or without a
    // password in the body, and the order stays unpaid.
    struct mh_merchant m;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    struct api_user u;
    API_MUST(api_user_new(&S_client, S_admin, &u));
    char code_url[128];
    S_native(&m, "pay-nopw", 100, code_url);
    char body[256];
    snprintf(body, sizeof body, "{\"code_url\":\"%s\"}", code_url);
    struct client_response res;
    ASSERT_EQ_INT(
        api_call_idem(&S_client, "POST", "/v1/me/order-payments", u.token, "nopw-1", body, &res),
        403);
    ASSERT_EQ_STR(api_error_code(&res), "PAYMENT_PASSWORD_NOT_SET");
    client_response_release(&res);
    snprintf(body, sizeof body, "{\"code_url\":\"%s\",\"payment_password\":\"%s\"}", code_url,
             TH_PAY_PASSWORD);
    ASSERT_EQ_INT(
        api_call_idem(&S_client, "POST", "/v1/me/order-payments", u.token, "nopw-2", body, &res),
        403);
    ASSERT_EQ_STR(api_error_code(&res), "PAYMENT_PASSWORD_NOT_SET");
    client_response_release(&res);
    json_t *j = S_query(&m, "pay-nopw");
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "trade_state")), "NOTPAY");
    json_decref(j);
    mh_release(&m);
}

TEST(a_user_pays_a_native_order_once_and_sees_it_in_bills)
{
    // The whole payment as its two sides see it: the user pays the code_url with the payment
    // password, the balance drops by the total, the merchant's query says SUCCESS with the
    // payer's openid, the bill names the merchant, and paying again, a closed or an expired
    // order are refused without moving money. The app sends its optional amount as null, as
    // many client libraries write an unset field: that is no amount, as on a transfer.
    struct mh_merchant m;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 50000));
    char code_url[128];
    S_native(&m, "pay-0001", 12345, code_url);
    char body[256];
    snprintf(body, sizeof body, "{\"code_url\":\"%s\",\"amount\":null,\"payment_password\":\"%s\"}",
             code_url, TH_PAY_PASSWORD);
    struct client_response res;
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/me/order-payments", u.token, "pay-1", body,
                                &res),
                  201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "SUCCESS");
    ASSERT_EQ_INT(api_json_int(&res, "amount", 0), 12345);
    client_response_release(&res);
    ASSERT_EQ_INT(S_balance(&u), 50000 - 12345);
    /* The same key again: the same answer, nothing more moved. */
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/me/order-payments", u.token, "pay-1", body,
                                &res),
                  201);
    client_response_release(&res);
    ASSERT_EQ_INT(S_balance(&u), 50000 - 12345);
    /* Another key: the order is paid. */
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/me/order-payments", u.token, "pay-2", body,
                                &res),
                  400);
    ASSERT_EQ_STR(api_error_code(&res), "ORDERPAID");
    client_response_release(&res);

    json_t *j = S_query(&m, "pay-0001");
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "trade_state")), "SUCCESS");
    ASSERT_EQ_INT(json_integer_value(json_object_get(json_object_get(j, "amount"), "payer_total")),
                  12345);
    const char *openid = json_string_value(json_object_get(json_object_get(j, "payer"), "openid"));
    char path[128];
    snprintf(path, sizeof path, "/v1/me/openids/%s", m.appid);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, u.token, NULL, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "openid"), openid);
    client_response_release(&res);
    json_decref(j);
    /* Re-creating a paid order is ORDERPAID. */
    char order[1024];
    S_order_body(&m, "pay-0001", 12345, NULL, order, sizeof order);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/pay/transactions/native", order, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "ORDERPAID");
    client_response_release(&res);

    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/transactions?type=order_payment", u.token,
                           NULL, &res),
                  200);
    j = api_json(&res);
    client_response_release(&res);
    json_t *line = json_array_get(json_object_get(j, "items"), 0);
    ASSERT_EQ_STR(json_string_value(json_object_get(line, "type")), "order_payment");
    ASSERT_EQ_STR(json_string_value(json_object_get(line, "direction")), "out");
    json_t *party = json_object_get(line, "counterparty");
    ASSERT_EQ_STR(json_string_value(json_object_get(party, "type")), "merchant");
    ASSERT_EQ_STR(json_string_value(json_object_get(party, "id")), m.mchid);
    ASSERT_EQ_STR(json_string_value(json_object_get(party, "name")), "测试商户");
    json_decref(j);

    /* A closed order, then one past its time_expire, are refused. */
    S_native(&m, "pay-0002", 100, code_url);
    char close_body[64];
    snprintf(close_body, sizeof close_body, "{\"mchid\":\"%s\"}", m.mchid);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/pay/transactions/out-trade-no/pay-0002/close",
                          close_body, &res),
                  204);
    client_response_release(&res);
    snprintf(body, sizeof body, "{\"code_url\":\"%s\",\"payment_password\":\"%s\"}", code_url,
             TH_PAY_PASSWORD);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/me/order-payments", u.token, "pay-3", body,
                                &res),
                  400);
    ASSERT_EQ_STR(api_error_code(&res), "ORDER_CLOSED");
    client_response_release(&res);

    char expire[96];
    /* Far enough ahead that a loaded machine still creates the order in time. */
    time_t soon = time(NULL) + 4;
    struct tm tm;
    gmtime_r(&soon, &tm);
    char stamp[40];
    strftime(stamp, sizeof stamp, "%Y-%m-%dt%H:%M:%Sz", &tm); /* RFC 3339 lets both be lower */
    snprintf(expire, sizeof expire, ",\"time_expire\":\"%s\"", stamp);
    S_order_body(&m, "pay-0003", 100, expire, order, sizeof order);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/pay/transactions/native", order, &res), 200);
    snprintf(body, sizeof body, "{\"code_url\":\"%s\",\"payment_password\":\"%s\"}",
             api_json_str(&res, "code_url"), TH_PAY_PASSWORD);
    client_response_release(&res);
    while (time(NULL) <= soon) /* until time_expire has passed, however long that took */
        sleep(1);
    j = S_query(&m, "pay-0003");
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "trade_state")), "CLOSED");
    json_decref(j);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/me/order-payments", u.token, "pay-4", body,
                                &res),
                  400);
    ASSERT_EQ_STR(api_error_code(&res), "ORDER_CLOSED");
    client_response_release(&res);
    /* The merchant's retry of the same create, its time_expire past now, hears that the order
     * closed, not that the time it sent before is wrong; under a new number that time is. */
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/pay/transactions/native", order, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "ORDER_CLOSED");
    client_response_release(&res);
    S_order_body(&m, "pay-0004", 100, expire, order, sizeof order);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/pay/transactions/native", order, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
    ASSERT(strstr(api_json_str(&res, "message"), "time_expire") != NULL);
    client_response_release(&res);
    ASSERT_EQ_INT(S_balance(&u), 50000 - 12345);
    /* Bad input to the payment route changes nothing. */
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/me/order-payments", u.token, "pay-5",
                                "{\"code_url\":\"weixin://wxpay/bizpayurl?pr=x\"}", &res),
                  400);
    ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
    client_response_release(&res);
    mh_release(&m);
}

/* --- the operator's merchant routes ------------------------------------------------- */

/* GET path as the operator: the status must be status, and code the error's when not NULL;
 * the body (NULL on an error) is the caller's to release. */
static json_t *S_admin_get(const char *path, long status, const char *code)
{
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, S_admin, NULL, &res), status);
    if (code != NULL)
        ASSERT_EQ_STR(api_error_code(&res), code);
    json_t *j = status == 200 ? api_json(&res) : NULL;
    /* Never key material, in any answer of these routes (the certificate's serial is none: every
     * request names it, and an operator reads it to tell a merchant which one is current). */
    const char *secret[] = {"\"apiv3_key\"", "private_key", "public_key", "certificate_pem",
                            "BEGIN"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(secret); i++)
        if (res.body.data != NULL && strstr(res.body.data, secret[i]) != NULL)
            TEST_FAIL_("%s in the answer to %s", secret[i], path);
    client_response_release(&res);
    ASSERT(status != 200 || j != NULL);
    return j;
}

/* POST /admin/merchants/{mchid}/<action> with body (may be NULL): the status, the error code
 * when not 200, else the merchant into *out (released by the caller). */
static void S_merchant_action(const char *mchid, const char *action, const char *body, long status,
                              const char *code, json_t **out)
{
    char path[128];
    snprintf(path, sizeof path, "/admin/merchants/%s/%s", mchid, action);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, S_admin, body, &res), status);
    if (code != NULL)
        ASSERT_EQ_STR(api_error_code(&res), code);
    if (out != NULL)
        *out = api_json(&res);
    client_response_release(&res);
}

static const char *S_str(const json_t *j, const char *name)
{
    const char *s = json_string_value(json_object_get(j, name));
    return s != NULL ? s : "";
}

TEST(an_operator_lists_and_reads_merchants_newest_first_without_keys)
{
    // GET /admin/merchants pages by cursor as GET /admin/users does, filtered by owner; each
    // merchant shows its apps, owner, status and fee rate, never a key; one merchant shows its
    // balance too. Unknown and malformed ids are 404, bad paging and owners 400.
    struct api_user owner, payer;
    API_MUST(th_user_new(&S_client, S_admin, &owner));
    API_MUST(th_user_new(&S_client, S_admin, &payer));
    API_MUST(th_fund(&S_client, S_admin, &payer, 10000));
    struct mh_merchant first, second;
    ASSERT(rh_onboard_owned(&S_client, S_admin, owner.id, &first));
    ASSERT(rh_onboard_owned(&S_client, S_admin, owner.id, &second));
    char transaction_id[32];
    rh_order_paid(&S_client, &second, &payer, "list-0001", 2000, NULL, transaction_id);

    char path[256];
    snprintf(path, sizeof path, "/admin/merchants?owner=%s&limit=1", owner.id);
    json_t *page = S_admin_get(path, 200, NULL);
    json_t *items = json_object_get(page, "items");
    ASSERT_EQ_INT(json_array_size(items), 1);
    json_t *item = json_array_get(items, 0);
    ASSERT_EQ_STR(S_str(item, "mchid"), second.mchid); /* the newest first */
    ASSERT_EQ_STR(S_str(item, "owner_user_id"), owner.id);
    ASSERT_EQ_STR(S_str(item, "status"), "ACTIVE");
    ASSERT_EQ_STR(S_str(item, "name"), "小店");
    ASSERT_EQ_STR(S_str(item, "appid"), second.appid);
    ASSERT_EQ_STR(json_string_value(json_array_get(json_object_get(item, "appids"), 0)),
                  second.appid);
    ASSERT_EQ_INT(json_integer_value(json_object_get(item, "fee_rate_ppm")), 6000);
    ASSERT(json_object_get(item, "balances") == NULL);
    const char *cursor = S_str(page, "next_cursor");
    ASSERT(cursor[0] != '\0');
    snprintf(path, sizeof path, "/admin/merchants?owner=%s&limit=1&cursor=%s", owner.id, cursor);
    json_decref(page);
    page = S_admin_get(path, 200, NULL);
    items = json_object_get(page, "items");
    ASSERT_EQ_INT(json_array_size(items), 1);
    ASSERT_EQ_STR(S_str(json_array_get(items, 0), "mchid"), first.mchid);
    ASSERT(json_is_null(json_object_get(page, "next_cursor"))); /* the last page */
    json_decref(page);
    /* Unfiltered, the newest is first; an operator's merchant for nobody has no owner. */
    struct mh_merchant nobodys;
    ASSERT(mh_onboard(&S_client, S_admin, -1, &nobodys));
    page = S_admin_get("/admin/merchants?limit=100", 200, NULL);
    item = json_array_get(json_object_get(page, "items"), 0);
    ASSERT_EQ_STR(S_str(item, "mchid"), nobodys.mchid);
    ASSERT(json_is_null(json_object_get(item, "owner_user_id")));
    json_decref(page);
    snprintf(path, sizeof path, "/admin/merchants?owner=%s", payer.id); /* owns none */
    page = S_admin_get(path, 200, NULL);
    ASSERT_EQ_INT(json_array_size(json_object_get(page, "items")), 0);
    json_decref(page);

    /* One merchant: its balance in fen (the order less the 0.6 % fee), not suspended. */
    snprintf(path, sizeof path, "/admin/merchants/%s", second.mchid);
    json_t *m = S_admin_get(path, 200, NULL);
    ASSERT_EQ_STR(S_str(m, "status"), "ACTIVE");
    ASSERT_EQ_STR(S_str(m, "owner_user_id"), owner.id);
    json_t *balance = json_array_get(json_object_get(m, "balances"), 0);
    ASSERT_EQ_STR(S_str(balance, "currency"), "CNY");
    ASSERT_EQ_INT(json_integer_value(json_object_get(balance, "available")), 2000 - 12);
    ASSERT_EQ_INT(json_integer_value(json_object_get(balance, "pending")), 0);
    ASSERT(json_is_null(json_object_get(m, "suspended_at")));
    ASSERT(json_is_null(json_object_get(m, "suspend_reason")));
    json_decref(m);

    /* Bad input. */
    S_admin_get("/admin/merchants/1000000000", 404, "NOT_FOUND");
    S_admin_get("/admin/merchants/19000000001", 404, "NOT_FOUND");
    S_admin_get("/admin/merchants/abc", 404, "NOT_FOUND");
    S_admin_get("/admin/merchants?cursor=zzz", 400, "PARAM_ERROR");
    S_admin_get("/admin/merchants?cursor=-5", 400, "PARAM_ERROR");
    S_admin_get("/admin/merchants?limit=0", 400, "PARAM_ERROR");
    S_admin_get("/admin/merchants?limit=101", 400, "PARAM_ERROR");
    S_admin_get("/admin/merchants?owner=1900000001", 400, "PARAM_ERROR");
    S_admin_get("/admin/merchants?mchid=1", 400, "PARAM_ERROR");
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/admin/merchants", owner.token, NULL, &res), 403);
    client_response_release(&res);
    mh_release(&nobodys);
    mh_release(&second);
    mh_release(&first);
}

/* A codepay of the payer's code (the server-held device's, for now) for total fen under
 * out_trade_no: the status, and the error code or trade_state into what. */
static long S_codepay(const struct mh_merchant *m, const struct api_user *payer,
                      const char *out_trade_no, long long total, char what[64])
{
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/payment-code", payer->token, NULL, &res), 200);
    char code[32];
    snprintf(code, sizeof code, "%s", api_json_str(&res, "code"));
    client_response_release(&res);
    char body[1024];
    snprintf(body, sizeof body,
             "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"便利店\","
             "\"out_trade_no\":\"%s\",\"amount\":{\"total\":%lld,\"currency\":\"CNY\"},"
             "\"payer\":{\"auth_code\":\"%s\"}}",
             m->appid, m->mchid, out_trade_no, total, code);
    long status = mh_call(&S_client, m, "POST", "/v3/pay/transactions/codepay", body, &res);
    ASSERT(mh_response_verified(m, &res));
    const char *s = status == 200 ? api_json_str(&res, "trade_state") : api_error_code(&res);
    snprintf(what, 64, "%s", s != NULL ? s : "");
    client_response_release(&res);
    return status;
}

TEST(a_suspended_merchant_takes_no_money_but_gives_it_back)
{
    // While an operator's suspension lasts, the merchant's /v3 orders and codepay are NO_AUTH
    // and a user paying an order made before it is PAYEE_UNAVAILABLE, with nothing moved; its
    // queries, closes and refunds go on. Suspending again changes nothing; resuming lets
    // money in again. Each change is an audit line with the reason.
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 50000));
    struct mh_merchant m;
    ASSERT(mh_onboard(&S_client, S_admin, 0, &m));
    char transaction_id[32];
    rh_order_paid(&S_client, &m, &u, "susp-paid-1", 3000, NULL, transaction_id);
    char code_url[128];
    S_native(&m, "susp-before", 1500, code_url);
    ASSERT_EQ_INT(S_balance(&u), 50000 - 3000);

    /* Bad input changes nothing. */
    S_merchant_action(m.mchid, "suspend", "{\"reason\":5}", 400, "PARAM_ERROR", NULL);
    S_merchant_action(m.mchid, "suspend", "{\"reason\":\"a\\u0007b\"}", 400, "PARAM_ERROR", NULL);
    char long_reason[260];
    snprintf(long_reason, sizeof long_reason, "{\"reason\":\"%0201d\"}", 0);
    S_merchant_action(m.mchid, "suspend", long_reason, 400, "PARAM_ERROR", NULL);
    S_merchant_action(m.mchid, "suspend", "{\"why\":\"x\"}", 400, "PARAM_ERROR", NULL);
    S_merchant_action(m.mchid, "suspend", "{", 400, "INVALID_JSON", NULL);
    S_merchant_action("1000000000", "suspend", NULL, 404, "NOT_FOUND", NULL);
    S_merchant_action("12345", "resume", NULL, 404, "NOT_FOUND", NULL);
    char path[128];
    snprintf(path, sizeof path, "/admin/merchants/%s", m.mchid);
    json_t *j = S_admin_get(path, 200, NULL);
    ASSERT_EQ_STR(S_str(j, "status"), "ACTIVE");
    json_decref(j);

    /* The suspension, and the same again: the first time and reason stay. */
    S_merchant_action(m.mchid, "suspend", "{\"reason\":\"工单 7: \\\"fraud\\\" reports\"}", 200,
                      NULL, &j);
    ASSERT_EQ_STR(S_str(j, "status"), "SUSPENDED");
    ASSERT_EQ_STR(S_str(j, "suspend_reason"), "工单 7: \"fraud\" reports");
    char suspended_at[64];
    snprintf(suspended_at, sizeof suspended_at, "%s", S_str(j, "suspended_at"));
    ASSERT(suspended_at[0] != '\0');
    json_decref(j);
    S_merchant_action(m.mchid, "suspend", "{\"reason\":\"again\"}", 200, NULL, &j);
    ASSERT_EQ_STR(S_str(j, "status"), "SUSPENDED");
    ASSERT_EQ_STR(S_str(j, "suspended_at"), suspended_at);
    ASSERT_EQ_STR(S_str(j, "suspend_reason"), "工单 7: \"fraud\" reports");
    json_decref(j);

    /* No new order of any kind, not even the same one again, and no codepay. */
    char body[1024];
    struct client_response res;
    const char *const kinds[] = {"native", "h5", "app"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(kinds); i++) {
        char kind_path[64];
        snprintf(kind_path, sizeof kind_path, "/v3/pay/transactions/%s", kinds[i]);
        S_order_body(&m, "susp-new-1", 1000,
                     strcmp(kinds[i], "h5") == 0
                         ? ",\"scene_info\":{\"payer_client_ip\":\"203.0.113.7\","
                           "\"h5_info\":{\"type\":\"Wap\"}}"
                         : NULL,
                     body, sizeof body);
        ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", kind_path, body, &res), 403);
        ASSERT(mh_response_verified(&m, &res));
        ASSERT_EQ_STR(api_error_code(&res), "NO_AUTH");
        client_response_release(&res);
    }
    S_order_body(&m, "susp-before", 1500, NULL, body, sizeof body);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/pay/transactions/native", body, &res), 403);
    ASSERT_EQ_STR(api_error_code(&res), "NO_AUTH");
    client_response_release(&res);
    char what[64];
    ASSERT_EQ_INT(S_codepay(&m, &u, "susp-code-1", 800, what), 403);
    ASSERT_EQ_STR(what, "NO_AUTH");

    /* The order made before: the payer cannot pay it, nor the merchant's till code. */
    char pay[256];
    snprintf(pay, sizeof pay, "{\"code_url\":\"%s\",\"payment_password\":\"%s\"}", code_url,
             TH_PAY_PASSWORD);
    ASSERT_EQ_INT(
        api_call_idem(&S_client, "POST", "/v1/me/order-payments", u.token, "susp-pay-1", pay, &res),
        403);
    ASSERT_EQ_STR(api_error_code(&res), "PAYEE_UNAVAILABLE");
    client_response_release(&res);
    ASSERT_EQ_INT(S_balance(&u), 50000 - 3000);
    j = S_query(&m, "susp-before");
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "trade_state")), "NOTPAY");
    json_decref(j);

    /* What gives money back, or only reads, goes on: the paid order is queried and refunded
     * in part, the unpaid one closed. */
    j = S_query(&m, "susp-paid-1");
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "trade_state")), "SUCCESS");
    json_decref(j);
    ASSERT_EQ_INT(rh_refund(&S_client, &m, "susp-paid-1", "susp-refund-1", 1000, 3000, NULL, &res),
                  200);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "SUCCESS");
    client_response_release(&res);
    ASSERT_EQ_INT(S_balance(&u), 50000 - 3000 + 1000);
    snprintf(path, sizeof path, "/v3/pay/transactions/out-trade-no/%s/close", "susp-before");
    snprintf(body, sizeof body, "{\"mchid\":\"%s\"}", m.mchid);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", path, body, &res), 204);
    client_response_release(&res);

    /* The resume, twice; then money comes in again. */
    S_merchant_action(m.mchid, "resume", "{\"reason\":\"cleared\"}", 200, NULL, &j);
    ASSERT_EQ_STR(S_str(j, "status"), "ACTIVE");
    ASSERT(json_is_null(json_object_get(j, "suspended_at")));
    ASSERT(json_is_null(json_object_get(j, "suspend_reason")));
    json_decref(j);
    S_merchant_action(m.mchid, "resume", NULL, 200, NULL, &j);
    ASSERT_EQ_STR(S_str(j, "status"), "ACTIVE");
    json_decref(j);
    S_native(&m, "susp-after", 700, code_url);
    snprintf(pay, sizeof pay, "{\"code_url\":\"%s\",\"payment_password\":\"%s\"}", code_url,
             TH_PAY_PASSWORD);
    ASSERT_EQ_INT(
        api_call_idem(&S_client, "POST", "/v1/me/order-payments", u.token, "susp-pay-2", pay, &res),
        201);
    client_response_release(&res);
    ASSERT_EQ_INT(S_codepay(&m, &u, "susp-code-2", 800, what), 200);
    ASSERT_EQ_STR(what, "SUCCESS");
    ASSERT_EQ_INT(S_balance(&u), 50000 - 3000 + 1000 - 700 - 800);

    /* Every change, and the one that changed nothing, is an audit line with its reason. */
    char audit[3][256];
    snprintf(audit[0], sizeof audit[0],
             "event=admin.merchant_changed action=suspend mchid=%s result=ok changed=true"
             " by=admin reason=\"工单 7: 'fraud' reports\"",
             m.mchid);
    snprintf(audit[1], sizeof audit[1],
             "event=admin.merchant_changed action=suspend mchid=%s result=ok changed=false"
             " by=admin reason=\"again\"",
             m.mchid);
    snprintf(audit[2], sizeof audit[2],
             "event=admin.merchant_changed action=resume mchid=%s result=ok changed=true"
             " by=admin reason=\"cleared\"",
             m.mchid);
    static char log[1 << 20];
    usleep(100 * 1000);
    ASSERT(test_file_read(S_daemon.log_path, log, sizeof log));
    for (size_t i = 0; i < QB_ARRAY_COUNT(audit); i++)
        if (strstr(log, audit[i]) == NULL)
            TEST_FAIL_("no audit line \"%s\" in the log", audit[i]);
    mh_release(&m);
}

TEST(an_order_altered_in_the_database_to_look_paid_is_not_answered_paid)
{
    // Whoever can write the database could mark an unpaid order SUCCESS (with another order's
    // payment and entry), or raise a paid order's total, and a merchant polling the query would
    // read, signed by the platform, that it was paid and ship the goods. The query checks a paid
    // order against its payer's payment and its entry in the journal, as the operator's check
    // does, and answers SYSTEM_ERROR, logged at error, when they disagree.
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 50000));
    struct mh_merchant m;
    ASSERT(mh_onboard(&S_client, S_admin, 0, &m));
    char paid_id[32], raised_id[32], code_url[128];
    rh_order_paid(&S_client, &m, &u, "backed-paid", 1000, NULL, paid_id);
    rh_order_paid(&S_client, &m, &u, "backed-raised", 1000, NULL, raised_id);
    S_native(&m, "backed-unpaid", 90000, code_url);
    json_t *j = S_query(&m, "backed-raised");
    ASSERT_EQ_STR(S_str(j, "trade_state"), "SUCCESS");
    json_decref(j);

    client_release(&S_client);
    ASSERT_EQ_INT(test_daemon_stop(&S_daemon), 0);
    char db[TEST_DAEMON_PATH_SIZE_MAX + 16], sql[1024];
    snprintf(db, sizeof db, "%s/qianbao.db", S_daemon.data_dir);
    snprintf(sql, sizeof sql,
             "UPDATE orders SET total_minor = 100000 WHERE mchid = '%s' AND out_trade_no = "
             "'backed-raised';"
             "UPDATE orders SET (state, payer_user_id, payment_id, entry_id, success_at_ms) ="
             " (SELECT state, payer_user_id, payment_id, entry_id, success_at_ms FROM orders"
             "  WHERE mchid = '%s' AND out_trade_no = 'backed-paid')"
             " WHERE mchid = '%s' AND out_trade_no = 'backed-unpaid';",
             m.mchid, m.mchid, m.mchid);
    ASSERT(test_sqlite(db, true, sql, NULL, NULL));
    API_MUST(api_daemon_start(&S_daemon, S_root, "merchant", NULL, S_admin));
    client_init(&S_client, S_daemon.base_url);

    const char *altered[] = {"out-trade-no/backed-unpaid", "out-trade-no/backed-raised", NULL};
    char path[256];
    for (int i = 0; altered[i] != NULL; i++) {
        snprintf(path, sizeof path, "/v3/pay/transactions/%s?mchid=%s", altered[i], m.mchid);
        ASSERT_EQ_INT(S_query_status(&m, path, &j), 500);
        ASSERT_EQ_STR(S_str(j, "code"), "SYSTEM_ERROR");
        json_decref(j);
    }
    snprintf(path, sizeof path, "/v3/pay/transactions/id/%s?mchid=%s", raised_id, m.mchid);
    ASSERT_EQ_INT(S_query_status(&m, path, &j), 500);
    json_decref(j);
    /* The order nobody touched is answered as before. */
    snprintf(path, sizeof path, "/v3/pay/transactions/id/%s?mchid=%s", paid_id, m.mchid);
    ASSERT_EQ_INT(S_query_status(&m, path, &j), 200);
    ASSERT_EQ_STR(S_str(j, "trade_state"), "SUCCESS");
    ASSERT_EQ_STR(S_str(j, "out_trade_no"), "backed-paid");
    json_decref(j);
    static char log[4 * 1024 * 1024];
    ASSERT(test_file_read(S_daemon.log_path, log, sizeof log));
    ASSERT(strstr(log, "event=merchant.order_unbacked mchid=") != NULL);
    ASSERT(strstr(log, "out_trade_no=backed-unpaid problem=\"the payer's payment it names says "
                       "otherwise") != NULL);
    ASSERT(strstr(log, "out_trade_no=backed-raised problem=\"the payer's payment it names says "
                       "otherwise") != NULL);
    mh_release(&m);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    if (!api_suite_daemon(&suite, &S_daemon, "merchant", NULL, S_admin, &S_client))
        return api_suite_end(&suite);
    RUN(onboarding_answers_the_credentials_an_sdk_needs);
    RUN(a_merchant_that_brings_its_own_key_signs_with_it_up_to_4096_bits);
    RUN(every_bad_signature_is_sign_error_and_the_answer_is_signed);
    RUN(an_answer_to_a_path_longer_than_any_route_is_signed_too);
    RUN(one_merchants_flood_of_signed_requests_does_not_shut_out_the_others);
    RUN(orders_are_created_queried_retried_and_closed_as_wechat_does);
    RUN(a_retried_order_from_another_client_ip_is_the_same_order);
    RUN(an_escaped_out_trade_no_is_found_and_signed_as_sent);
    RUN(the_platform_certificate_decrypts_with_the_apiv3_key);
    RUN(an_order_payment_without_a_payment_password_set_says_so);
    RUN(a_user_pays_a_native_order_once_and_sees_it_in_bills);
    RUN(an_operator_lists_and_reads_merchants_newest_first_without_keys);
    RUN(a_suspended_merchant_takes_no_money_but_gives_it_back);
    RUN(an_order_altered_in_the_database_to_look_paid_is_not_answered_paid);
    return api_suite_end(&suite);
}

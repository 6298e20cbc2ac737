/*
 * test_refunds.c — refunds over HTTP, black-box, as a WeChat Pay SDK asks
 * for them (requests signed and answers verified with OpenSSL,
 * merchant_helpers.h): partial and repeated refunds, a retry and a
 * different body under one out_refund_no, over-refunds, the 51st refund,
 * unknown, unpaid and another merchant's orders, the refund query, the
 * payer's bill line, and notify_urls on private addresses refused by a
 * daemon started without --allow-private-notify.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "api/lib/suite.h"
#include "api/refund_helpers.h"

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];

static long long S_balance(const struct api_user *u) { return th_balance(&S_client, u); }

TEST(partial_repeated_and_over_refunds_as_wechat_answers)
{
    // Two partial refunds reach the payer's balance, the answer is WeChat's refund object
    // (signed), the query answers it again, a retry with the same body in another key order is
    // the same refund, another amount under the same out_refund_no is INVALID_REQUEST, and
    // refunding past what is left is refused without moving money.
    struct mh_merchant m;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 50000));
    char transaction_id[32];
    rh_order_paid(&S_client, &m, &u, "refund-0001", 12345, NULL, transaction_id);
    ASSERT_EQ_INT(S_balance(&u), 50000 - 12345);

    struct client_response res;
    ASSERT_EQ_INT(rh_refund(&S_client, &m, "refund-0001", "R-1", 5000, 12345, NULL, &res), 200);
    ASSERT(mh_response_verified(&m, &res));
    json_t *j = api_json(&res);
    client_response_release(&res);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "status")), "SUCCESS");
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "channel")), "ORIGINAL");
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "out_refund_no")), "R-1");
    {
        /* The till asks again to create the order it sent (the same body): partly refunded,
         * it is still an order that was paid, ORDERPAID as before the refund, never
         * ORDER_CLOSED, which would tell the till the customer never paid. */
        char body[1024];
        snprintf(body, sizeof body,
                 "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"牛肉面\","
                 "\"out_trade_no\":\"refund-0001\","
                 "\"notify_url\":\"https://www.weixin.qq.com/wxpay/pay.php\","
                 "\"amount\":{\"total\":12345,\"currency\":\"CNY\"}}",
                 m.appid, m.mchid);
        struct client_response again;
        ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/pay/transactions/native", body, &again),
                      400);
        ASSERT_EQ_STR(api_error_code(&again), "ORDERPAID");
        client_response_release(&again);
    }
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "out_trade_no")), "refund-0001");
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "transaction_id")), transaction_id);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "funds_account")), "AVAILABLE");
    ASSERT(json_is_string(json_object_get(j, "success_time")));
    json_t *amount = json_object_get(j, "amount");
    ASSERT_EQ_INT(json_integer_value(json_object_get(amount, "refund")), 5000);
    ASSERT_EQ_INT(json_integer_value(json_object_get(amount, "total")), 12345);
    ASSERT_EQ_INT(json_integer_value(json_object_get(amount, "payer_refund")), 5000);
    ASSERT_EQ_INT(json_integer_value(json_object_get(amount, "refund_fee")), 30);
    char refund_id[40];
    snprintf(refund_id, sizeof refund_id, "%s", json_string_value(json_object_get(j, "refund_id")));
    ASSERT_EQ_INT(strlen(refund_id), 29);
    json_decref(j);
    ASSERT_EQ_INT(S_balance(&u), 50000 - 12345 + 5000);

    /* The same body, its keys in another order: the same refund, no second payout. */
    const char *retry = "{\"amount\":{\"currency\":\"CNY\",\"total\":12345,\"refund\":5000},"
                        "\"reason\":\"商品已售完\",\"out_refund_no\":\"R-1\","
                        "\"out_trade_no\":\"refund-0001\"}";
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/refund/domestic/refunds", retry, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "refund_id"), refund_id);
    client_response_release(&res);
    ASSERT_EQ_INT(rh_refund(&S_client, &m, "refund-0001", "R-1", 6000, 12345, NULL, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "INVALID_REQUEST");
    client_response_release(&res);
    ASSERT_EQ_INT(S_balance(&u), 50000 - 12345 + 5000);

    /* The query. */
    ASSERT_EQ_INT(mh_call(&S_client, &m, "GET", "/v3/refund/domestic/refunds/R-1", NULL, &res), 200);
    ASSERT(mh_response_verified(&m, &res));
    ASSERT_EQ_STR(api_json_str(&res, "refund_id"), refund_id);
    client_response_release(&res);

    /* A second partial refund, then one more than is left. */
    ASSERT_EQ_INT(rh_refund(&S_client, &m, "refund-0001", "R-2", 7000, 12345, NULL, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(rh_refund(&S_client, &m, "refund-0001", "R-3", 346, 12345, NULL, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "INVALID_REQUEST");
    client_response_release(&res);
    ASSERT_EQ_INT(S_balance(&u), 50000 - 12345 + 12000);

    /* The order reads REFUND; the payer's bill has an order_refund line from the merchant. */
    char path[256];
    snprintf(path, sizeof path, "/v3/pay/transactions/out-trade-no/refund-0001?mchid=%s", m.mchid);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "GET", path, NULL, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "trade_state"), "REFUND");
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/transactions?type=order_refund", u.token,
                           NULL, &res),
                  200);
    j = api_json(&res);
    client_response_release(&res);
    json_t *items = json_object_get(j, "items");
    ASSERT_EQ_INT(json_array_size(items), 2);
    json_t *line = json_array_get(items, 0);
    ASSERT_EQ_STR(json_string_value(json_object_get(line, "type")), "order_refund");
    ASSERT_EQ_STR(json_string_value(json_object_get(line, "direction")), "in");
    ASSERT_EQ_INT(json_integer_value(json_object_get(line, "amount")), 7000);
    json_t *party = json_object_get(line, "counterparty");
    ASSERT_EQ_STR(json_string_value(json_object_get(party, "type")), "merchant");
    ASSERT_EQ_STR(json_string_value(json_object_get(party, "id")), m.mchid);
    /* GET /v1/me/payments/{id} shows top-ups and withdrawals; the refund's id is not one. */
    snprintf(path, sizeof path, "/v1/me/payments/%s",
             json_string_value(json_object_get(line, "id")));
    json_decref(j);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, u.token, NULL, &res), 404);
    ASSERT_EQ_STR(api_error_code(&res), "NOT_FOUND");
    client_response_release(&res);
    mh_release(&m);
}

TEST(nothing_to_refund_is_refused_and_moves_nothing)
{
    // An unknown order and another merchant's order are the same 404 RESOURCE_NOT_EXISTS, an
    // unpaid order is INVALID_REQUEST, a malformed request PARAM_ERROR, another merchant's refund
    // cannot be read, and the 51st refund of an order is refused.
    struct mh_merchant m, other;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    API_MUST(mh_onboard(&S_client, S_admin, -1, &other));
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 50000));
    char transaction_id[32];
    rh_order_paid(&S_client, &other, &u, "theirs-001", 1000, NULL, transaction_id);
    struct client_response res;
    ASSERT_EQ_INT(rh_refund(&S_client, &m, "theirs-001", "X-1", 10, 1000, NULL, &res), 404);
    ASSERT_EQ_STR(api_error_code(&res), "RESOURCE_NOT_EXISTS");
    ASSERT(mh_response_verified(&m, &res));
    client_response_release(&res);
    char by_id[128];
    snprintf(by_id, sizeof by_id,
             "{\"transaction_id\":\"%s\",\"out_refund_no\":\"X-2\",\"amount\":{\"refund\":10,"
             "\"total\":1000,\"currency\":\"CNY\"}}",
             transaction_id);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/refund/domestic/refunds", by_id, &res), 404);
    ASSERT_EQ_STR(api_error_code(&res), "RESOURCE_NOT_EXISTS");
    client_response_release(&res);
    ASSERT_EQ_INT(rh_refund(&S_client, &m, "nobody-001", "X-3", 10, 1000, NULL, &res), 404);
    ASSERT_EQ_STR(api_error_code(&res), "RESOURCE_NOT_EXISTS");
    client_response_release(&res);

    char body[1024];
    snprintf(body, sizeof body,
             "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"x\",\"out_trade_no\":"
             "\"unpaid-001\",\"notify_url\":\"https://www.weixin.qq.com/n\",\"amount\":"
             "{\"total\":1000}}",
             m.appid, m.mchid);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/pay/transactions/native", body, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(rh_refund(&S_client, &m, "unpaid-001", "X-4", 10, 1000, NULL, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "INVALID_REQUEST");
    client_response_release(&res);

    const char *bad[] = {
        "{}",
        "{\"out_trade_no\":\"theirs-001\",\"out_refund_no\":\"X-5\"}",
        "{\"out_refund_no\":\"X-6\",\"amount\":{\"refund\":1,\"total\":1,\"currency\":\"CNY\"}}",
        "{\"out_trade_no\":\"theirs-001\",\"out_refund_no\":\"bad no\",\"amount\":{\"refund\":1,"
        "\"total\":1000,\"currency\":\"CNY\"}}",
        "{\"out_trade_no\":\"theirs-001\",\"out_refund_no\":\"X-7\",\"amount\":{\"refund\":0,"
        "\"total\":1000,\"currency\":\"CNY\"}}",
        "{\"out_trade_no\":\"theirs-001\",\"out_refund_no\":\"X-8\",\"amount\":{\"refund\":2000,"
        "\"total\":1000,\"currency\":\"CNY\"}}",
        "{\"out_trade_no\":\"theirs-001\",\"out_refund_no\":\"X-9\",\"amount\":{\"refund\":1,"
        "\"total\":1000,\"currency\":\"USD\"}}",
        "{\"out_trade_no\":\"theirs-001\",\"out_refund_no\":\"X-10\",\"notify_url\":\"ftp://x/\","
        "\"amount\":{\"refund\":1,\"total\":1000,\"currency\":\"CNY\"}}",
        "not json",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/refund/domestic/refunds", bad[i], &res),
                      400);
        ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
        client_response_release(&res);
    }

    /* Another merchant's refund is not there for this one. */
    ASSERT_EQ_INT(rh_refund(&S_client, &other, "theirs-001", "T-1", 10, 1000, NULL, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "GET", "/v3/refund/domestic/refunds/T-1", NULL, &res),
                  404);
    ASSERT_EQ_STR(api_error_code(&res), "RESOURCE_NOT_EXISTS");
    client_response_release(&res);

    /* Fifty refunds of an order, then no more. */
    rh_order_paid(&S_client, &m, &u, "many-00001", 1000, NULL, transaction_id);
    char no[16];
    for (int i = 0; i < 50; i++) {
        snprintf(no, sizeof no, "M-%d", i);
        ASSERT_EQ_INT(rh_refund(&S_client, &m, "many-00001", no, 1, 1000, NULL, &res), 200);
        client_response_release(&res);
    }
    ASSERT_EQ_INT(rh_refund(&S_client, &m, "many-00001", "M-50", 1, 1000, NULL, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "INVALID_REQUEST");
    client_response_release(&res);
    mh_release(&m);
    mh_release(&other);
}

TEST(private_notify_urls_are_refused_without_the_flag)
{
    // A notify_url whose host is a loopback, private or link-local address, or a localhost name,
    // is refused when the order or the refund is made (SSRF); a public literal is accepted, and
    // so is any other name, not looked up then (delivery resolves it and checks again).
    struct mh_merchant m;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    const char *refused[] = {"http://127.0.0.1:8080/notify", "http://localhost/notify",
                             "https://10.1.2.3/notify",     "http://192.168.0.1/n",
                             "http://169.254.169.254/latest", "http://[::1]/n",
                             "http://[fe80::1]:80/n",        "http://0.0.0.0/n"};
    struct client_response res;
    char body[1024];
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        snprintf(body, sizeof body,
                 "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"x\",\"out_trade_no\":"
                 "\"private-%zu\",\"notify_url\":\"%s\",\"amount\":{\"total\":100}}",
                 m.appid, m.mchid, i + 100, refused[i]);
        ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/pay/transactions/native", body, &res),
                      400);
        ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
        client_response_release(&res);
    }
    snprintf(body, sizeof body,
             "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"x\",\"out_trade_no\":"
             "\"public-001\",\"notify_url\":\"https://203.0.113.9/notify\",\"amount\":"
             "{\"total\":100}}",
             m.appid, m.mchid);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/pay/transactions/native", body, &res), 200);
    client_response_release(&res);
    /* A name is not looked up when the order is made: a resolver that takes seconds held every
     * connection of the HTTP thread that asked it. Delivery resolves it, and refuses to send to a
     * private address. This machine's own name (here and in CI in /etc/hosts: 127.0.x.x) is
     * accepted, whatever it resolves to. */
    char host[256] = "";
    ASSERT_EQ_INT(gethostname(host, sizeof host - 1), 0);
    snprintf(body, sizeof body,
             "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"x\",\"out_trade_no\":"
             "\"named-001\",\"notify_url\":\"http://%s/notify\",\"amount\":{\"total\":100}}",
             m.appid, m.mchid, host);
    if (mh_call(&S_client, &m, "POST", "/v3/pay/transactions/native", body, &res) != 200)
        TEST_FAIL_("an order naming http://%s/ was refused: %s", host,
                   api_json_str(&res, "message"));
    client_response_release(&res);

    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 10000));
    char transaction_id[32];
    rh_order_paid(&S_client, &m, &u, "private-r1", 1000, NULL, transaction_id);
    ASSERT_EQ_INT(rh_refund(&S_client, &m, "private-r1", "P-1", 10, 1000,
                            ",\"notify_url\":\"http://127.0.0.1:9/refund\"", &res),
                  400);
    ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
    client_response_release(&res);
    ASSERT_EQ_INT(rh_refund(&S_client, &m, "private-r1", "P-1", 10, 1000,
                            ",\"notify_url\":\"https://203.0.113.9/refund\"", &res),
                  200);
    client_response_release(&res);
    mh_release(&m);
}

TEST(a_refund_of_an_order_with_no_address_sends_no_notification)
{
    // A till-code order names no notify_url (nor does a payment-code one), and its refund gave
    // none: there is nowhere to tell, so nothing is queued. A notification with an empty address
    // failed sixteen times over a day, and showed the merchant a failure it could not fix.
    struct api_user owner, payer;
    API_MUST(api_user_new(&S_client, S_admin, &owner));
    API_MUST(th_user_new(&S_client, S_admin, &payer));
    API_MUST(th_fund(&S_client, S_admin, &payer, 5000));
    struct mh_merchant m;
    API_MUST(rh_onboard_owned(&S_client, S_admin, owner.id, &m));
    char path[128];
    snprintf(path, sizeof path, "/v1/merchants/%s/till-code?amount=888", m.mchid);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, owner.token, NULL, &res), 200);
    char body[1024];
    snprintf(body, sizeof body, "{\"payload\":\"%s\",\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             api_json_str(&res, "payload"));
    client_response_release(&res);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/me/order-payments", payer.token,
                                "till-refund-1", body, &res),
                  201);
    char out_trade_no[64];
    snprintf(out_trade_no, sizeof out_trade_no, "%s", api_json_str(&res, "out_trade_no"));
    client_response_release(&res);
    ASSERT_EQ_INT(rh_refund(&S_client, &m, out_trade_no, "till-R-1", 88, 888, NULL, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(S_balance(&payer), 5000 - 888 + 88);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "GET", "/v3/qianbao/notifications", NULL, &res), 200);
    json_t *j = api_json(&res);
    client_response_release(&res);
    ASSERT_EQ_INT(json_array_size(json_object_get(j, "data")), 0);
    json_decref(j);
    mh_release(&m);
}

TEST(a_frozen_payer_still_gets_their_refund)
{
    // A freeze stops money leaving the wallet and others sending to it; money owed back to it
    // still arrives, or a lost phone's owner would find their refund stuck at the merchant.
    struct mh_merchant m;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    struct api_user u, other;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_user_new(&S_client, S_admin, &other));
    API_MUST(th_fund(&S_client, S_admin, &u, 50000));
    API_MUST(th_fund(&S_client, S_admin, &other, 50000));
    char transaction_id[32];
    rh_order_paid(&S_client, &m, &u, "frozen-0001", 12000, NULL, transaction_id);
    struct client_response res; /* "lost phone", from the session the owner still has */
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/freeze", u.token, NULL, &res), 200);
    client_response_release(&res);

    ASSERT_EQ_INT(rh_refund(&S_client, &m, "frozen-0001", "FR-1", 2000, 12000, NULL, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "SUCCESS");
    client_response_release(&res);
    ASSERT_EQ_INT(S_balance(&u), 50000 - 12000 + 2000);

    /* Nothing leaves it, and nobody else may send to it. */
    char body[256];
    snprintf(body, sizeof body,
             "{\"to\":\"%s\",\"amount\":100,\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             other.id);
    ASSERT_EQ_INT(
        api_call_idem(&S_client, "POST", "/v1/transfers", u.token, "frozen-out", body, &res), 403);
    ASSERT_EQ_STR(api_error_code(&res), "ACCOUNT_FROZEN");
    client_response_release(&res);
    snprintf(body, sizeof body,
             "{\"to\":\"%s\",\"amount\":100,\"payment_password\":\"" TH_PAY_PASSWORD "\"}", u.id);
    ASSERT_EQ_INT(
        api_call_idem(&S_client, "POST", "/v1/transfers", other.token, "frozen-in", body, &res),
        403);
    ASSERT_EQ_STR(api_error_code(&res), "PAYEE_UNAVAILABLE");
    client_response_release(&res);
    ASSERT_EQ_INT(S_balance(&u), 50000 - 12000 + 2000);
    mh_release(&m);
}

TEST(an_empty_order_number_is_a_malformed_request)
{
    // WeChat's transaction_id is string[1, 32] and out_trade_no string[6, 32]: an empty one is a
    // malformed field (400 PARAM_ERROR), not an order that does not exist; a merchant whose SDK
    // sends "transaction_id":"" beside a good out_trade_no must be told which field is wrong, and
    // nothing moves.
    struct mh_merchant m;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 50000));
    char transaction_id[32];
    rh_order_paid(&S_client, &m, &u, "empty-0001", 1000, NULL, transaction_id);
    struct client_response res;
    ASSERT_EQ_INT(
        rh_refund(&S_client, &m, "empty-0001", "E-1", 10, 1000, ",\"transaction_id\":\"\"", &res),
        400);
    ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
    ASSERT(strstr(api_json_str(&res, "message"), "transaction_id") != NULL);
    client_response_release(&res);
    char body[256];
    snprintf(body, sizeof body,
             "{\"transaction_id\":\"%s\",\"out_trade_no\":\"\",\"out_refund_no\":\"E-2\","
             "\"amount\":{\"refund\":10,\"total\":1000,\"currency\":\"CNY\"}}",
             transaction_id);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/refund/domestic/refunds", body, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
    client_response_release(&res);
    ASSERT_EQ_INT(S_balance(&u), 50000 - 1000);
    /* Neither number was taken: the refund made right goes through under them. */
    ASSERT_EQ_INT(rh_refund(&S_client, &m, "empty-0001", "E-1", 10, 1000, NULL, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(S_balance(&u), 50000 - 1000 + 10);
    mh_release(&m);
}

TEST(a_retry_is_the_same_refund_whatever_its_reason_or_address)
{
    // WeChat: one out_refund_no refunds once however often it is sent
    // (同一退款单号多次请求只退一笔), and a failed refund is retried under the same number; what a
    // retry must not change is the order and the amounts (REFUND_FEE_MISMATCH,
    // 订单金额或退款金额与之前请求不一致). So a retry with another reason or notify_url answers the
    // first refund and pays nothing more; another amount, total or order under the number is
    // INVALID_REQUEST and moves nothing.
    struct mh_merchant m;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 50000));
    char transaction_id[32], other_id[32];
    rh_order_paid(&S_client, &m, &u, "retry-0001", 10000, NULL, transaction_id);
    rh_order_paid(&S_client, &m, &u, "retry-0002", 10000, NULL, other_id);
    struct client_response res;
    ASSERT_EQ_INT(rh_refund(&S_client, &m, "retry-0001", "RR-1", 3000, 10000, NULL, &res), 200);
    char refund_id[40];
    snprintf(refund_id, sizeof refund_id, "%s", api_json_str(&res, "refund_id"));
    client_response_release(&res);
    ASSERT_EQ_INT(S_balance(&u), 50000 - 20000 + 3000);

    const char *same[] = {
        "{\"out_trade_no\":\"retry-0001\",\"out_refund_no\":\"RR-1\",\"reason\":\"顾客不要了\","
        "\"amount\":{\"refund\":3000,\"total\":10000,\"currency\":\"CNY\"}}",
        "{\"out_trade_no\":\"retry-0001\",\"out_refund_no\":\"RR-1\","
        "\"notify_url\":\"https://www.weixin.qq.com/wxpay/refund\","
        "\"amount\":{\"refund\":3000,\"total\":10000,\"currency\":\"CNY\"}}",
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/refund/domestic/refunds", same[i], &res),
                      200);
        ASSERT_EQ_STR(api_json_str(&res, "refund_id"), refund_id);
        client_response_release(&res);
    }
    char by_id[256];
    snprintf(by_id, sizeof by_id,
             "{\"transaction_id\":\"%s\",\"out_refund_no\":\"RR-1\","
             "\"amount\":{\"refund\":3000,\"total\":10000,\"currency\":\"CNY\"}}",
             transaction_id);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/refund/domestic/refunds", by_id, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "refund_id"), refund_id);
    client_response_release(&res);
    ASSERT_EQ_INT(S_balance(&u), 50000 - 20000 + 3000);

    ASSERT_EQ_INT(rh_refund(&S_client, &m, "retry-0001", "RR-1", 3001, 10000, NULL, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "INVALID_REQUEST");
    client_response_release(&res);
    ASSERT_EQ_INT(rh_refund(&S_client, &m, "retry-0002", "RR-1", 3000, 10000, NULL, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "INVALID_REQUEST");
    client_response_release(&res);
    snprintf(by_id, sizeof by_id,
             "{\"transaction_id\":\"%s\",\"out_refund_no\":\"RR-1\","
             "\"amount\":{\"refund\":3000,\"total\":10000,\"currency\":\"CNY\"}}",
             other_id);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/refund/domestic/refunds", by_id, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "INVALID_REQUEST");
    client_response_release(&res);
    ASSERT_EQ_INT(S_balance(&u), 50000 - 20000 + 3000);

    /* The refund kept what it was made with. */
    ASSERT_EQ_INT(mh_call(&S_client, &m, "GET", "/v3/refund/domestic/refunds/RR-1", NULL, &res),
                  200);
    ASSERT_EQ_STR(api_json_str(&res, "out_trade_no"), "retry-0001");
    client_response_release(&res);
    mh_release(&m);
}

/* One of the merchant's servers asking for a refund at the same moment as the others. */
struct S_refunder {
    pthread_barrier_t *barrier;
    const struct mh_merchant *m;
    char out_refund_no[16];
    long status;
    char code[64];
};

static void *S_refunder_run(void *arg)
{
    struct S_refunder *t = arg;
    struct client c;
    client_init(&c, S_daemon.base_url);
    char body[512];
    snprintf(body, sizeof body,
             "{\"out_trade_no\":\"race-00001\",\"out_refund_no\":\"%s\","
             "\"amount\":{\"refund\":3000,\"total\":10000,\"currency\":\"CNY\"}}",
             t->out_refund_no);
    struct client_response res;
    pthread_barrier_wait(t->barrier);
    t->status = mh_call(&c, t->m, "POST", "/v3/refund/domestic/refunds", body, &res);
    snprintf(t->code, sizeof t->code, "%s", t->status == 200 ? "" : api_error_code(&res));
    client_response_release(&res);
    client_release(&c);
    return NULL;
}

TEST(refunds_sent_at_once_never_pass_the_order_total)
{
    // Eight refunds of ¥30 of one ¥100 order, each under its own number, sent at the same moment
    // (a merchant's servers retrying in parallel): three go through, the others are refused as
    // more than is left, and the payer gets exactly ¥90 back, never more than they paid.
    struct mh_merchant m;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 50000));
    char transaction_id[32];
    rh_order_paid(&S_client, &m, &u, "race-00001", 10000, NULL, transaction_id);
    enum { REFUNDERS = 8 };
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, REFUNDERS);
    struct S_refunder refunders[REFUNDERS];
    pthread_t threads[REFUNDERS];
    for (int i = 0; i < REFUNDERS; i++) {
        memset(&refunders[i], 0, sizeof refunders[i]);
        refunders[i].barrier = &barrier;
        refunders[i].m = &m;
        snprintf(refunders[i].out_refund_no, sizeof refunders[i].out_refund_no, "RACE-%d", i);
        ASSERT_EQ_INT(pthread_create(&threads[i], NULL, S_refunder_run, &refunders[i]), 0);
    }
    int refunded = 0, refused = 0;
    for (int i = 0; i < REFUNDERS; i++) {
        pthread_join(threads[i], NULL);
        if (refunders[i].status == 200)
            refunded++;
        else if (refunders[i].status == 400 && strcmp(refunders[i].code, "INVALID_REQUEST") == 0)
            refused++;
    }
    pthread_barrier_destroy(&barrier);
    ASSERT_EQ_INT(refunded, 3);
    ASSERT_EQ_INT(refused, REFUNDERS - 3);
    ASSERT_EQ_INT(S_balance(&u), 50000 - 10000 + 9000);
    mh_release(&m);
}

/* An https URL on a public literal address of exactly size bytes, into url. */
static void S_url_of_size(size_t size, char *url, size_t url_size)
{
    ASSERT(size < url_size);
    int used = snprintf(url, url_size, "https://203.0.113.9/");
    ASSERT(used > 0 && (size_t)used < size);
    memset(url + used, 'n', size - (size_t)used);
    url[size] = '\0';
}

TEST(notify_urls_as_long_as_wechats_are_taken)
{
    // WeChat takes an order's notify_url up to 255 bytes (string(255)) and a refund's up to
    // 256 (string(256)): an SDK's refund with a 256-byte address must not be refused, and the
    // notification must go to the whole address. One byte more is PARAM_ERROR, each.
    struct mh_merchant m;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 10000));
    char url[300], body[1024];
    struct client_response res;
    for (size_t size = 255; size <= 256; size++) {
        S_url_of_size(size, url, sizeof url);
        snprintf(body, sizeof body,
                 "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"x\",\"out_trade_no\":"
                 "\"long-url-%zu\",\"notify_url\":\"%s\",\"amount\":{\"total\":100}}",
                 m.appid, m.mchid, size, url);
        ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/pay/transactions/native", body, &res),
                      size == 255 ? 200 : 400);
        if (size == 256)
            ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
        client_response_release(&res);
    }

    char transaction_id[32], extra[320];
    rh_order_paid(&S_client, &m, &u, "long-url-r", 1000, NULL, transaction_id);
    S_url_of_size(257, url, sizeof url);
    snprintf(extra, sizeof extra, ",\"notify_url\":\"%s\"", url);
    ASSERT_EQ_INT(rh_refund(&S_client, &m, "long-url-r", "LONG-257", 10, 1000, extra, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
    client_response_release(&res);
    S_url_of_size(256, url, sizeof url);
    snprintf(extra, sizeof extra, ",\"notify_url\":\"%s\"", url);
    ASSERT_EQ_INT(rh_refund(&S_client, &m, "long-url-r", "LONG-256", 10, 1000, extra, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(mh_call(&S_client, &m, "GET", "/v3/qianbao/notifications", NULL, &res), 200);
    json_t *j = api_json(&res);
    client_response_release(&res);
    size_t found = 0;
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(j, "data"), i, n)
    {
        if (strcmp(json_string_value(json_object_get(n, "event_type")), "REFUND.SUCCESS") == 0) {
            ASSERT_EQ_STR(json_string_value(json_object_get(n, "notify_url")), url);
            found++;
        }
    }
    ASSERT_EQ_INT(found, 1);
    json_decref(j);
    mh_release(&m);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    if (!api_suite_daemon(&suite, &S_daemon, "refunds", NULL, S_admin, &S_client))
        return api_suite_end(&suite);
    RUN(partial_repeated_and_over_refunds_as_wechat_answers);
    RUN(nothing_to_refund_is_refused_and_moves_nothing);
    RUN(private_notify_urls_are_refused_without_the_flag);
    RUN(a_refund_of_an_order_with_no_address_sends_no_notification);
    RUN(a_frozen_payer_still_gets_their_refund);
    RUN(an_empty_order_number_is_a_malformed_request);
    RUN(a_retry_is_the_same_refund_whatever_its_reason_or_address);
    RUN(refunds_sent_at_once_never_pass_the_order_total);
    RUN(notify_urls_as_long_as_wechats_are_taken);
    return api_suite_end(&suite);
}

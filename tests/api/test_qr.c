/*
 * test_qr.c — QR codes end to end against a real qianbaod: a receive code
 * is made, resolved and paid as a transfer (its fixed amount taken, another
 * refused; an open one paid with the amount given); a tampered code is
 * refused everywhere with QR_INVALID, and so is whatever else a payer
 * scans (a business card, another wallet's code); a frozen payee is
 * refused; a merchant's static till code is resolved and paid as an order
 * in one idempotent request, and its payment reaches the shop's waiting
 * phone at once; a closed merchant gets no till code, and the payer hears
 * why a suspended or closed shop takes no payment; a native order's
 * code_url is paid as a payload; the PNG is a PNG.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "api/lib/suite.h"
#include "api/merchant_helpers.h"
#include "api/transfer_helpers.h"

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];

/* GET path as token; the payload of a 200 answer into payload. */
static void S_code_get(const char *path, const char *token, char payload[400])
{
    struct client_response res;
    long status = api_call(&S_client, "GET", path, token, NULL, &res);
    if (status != 200)
        TEST_FAIL_("GET %s: %ld %.*s", path, status, (int)res.body.size,
                   res.body.data != NULL ? res.body.data : "");
    snprintf(payload, 400, "%s", api_json_str(&res, "payload"));
    const char *svg = api_json_str(&res, "svg");
    ASSERT(strncmp(svg, "<svg ", 5) == 0);
    client_response_release(&res);
}

/* POST path with {"payload": payload} plus extra members, keyed; checks
 * status and code; the answer into res. */
static long S_post(int line, const char *path, const char *token, const char *key,
                   const char *payload, const char *extra, long status, const char *code,
                   struct client_response *res)
{
    char body[4096];
    snprintf(body, sizeof body, "{\"payload\":\"%s\"%s%s}", payload, extra != NULL ? "," : "",
             extra != NULL ? extra : "");
    long got = key != NULL ? api_call_idem(&S_client, "POST", path, token, key, body, res)
                           : api_call(&S_client, "POST", path, token, body, res);
    const char *got_code = got >= 400 ? api_json_str(res, "code") : "";
    if (got != status || (code != NULL && strcmp(got_code, code) != 0))
        TEST_FAIL_("line %d: POST %s %s: expected %ld %s, got %ld %.*s", line, path, body, status,
                   code != NULL ? code : "", got, (int)res->body.size,
                   res->body.data != NULL ? res->body.data : "");
    return got;
}

#define EXPECT_POST(path, token, key, payload, extra, status, code)                                \
    do {                                                                                           \
        struct client_response r_;                                                                 \
        S_post(__LINE__, path, token, key, payload, extra, status, code, &r_);                     \
        client_response_release(&r_);                                                              \
    } while (0)

TEST(a_receive_code_with_an_amount_is_resolved_and_paid_for_that_amount)
{
    // The payee's code fixes ¥12.34 and a memo; the payer sees the masked payee and pays exactly
    // that amount without typing it; another amount is refused and moves nothing.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(th_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 10000));
    char payload[400];
    S_code_get("/v1/me/receive-code?amount=1234&currency=CNY&memo=%E6%88%BF%E7%A7%9F", b.token,
               payload);
    ASSERT(strncmp(payload, "qianbao://pay?v=1&k=u&id=", 25) == 0);

    struct client_response res;
    S_post(__LINE__, "/v1/qr/resolve", a.token, NULL, payload, NULL, 200, NULL, &res);
    json_t *j = api_json(&res);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "kind")), "transfer");
    ASSERT_EQ_INT(json_integer_value(json_object_get(j, "amount")), 1234);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "memo")), "房租");
    json_t *payee = json_object_get(j, "payee");
    ASSERT_EQ_STR(json_string_value(json_object_get(payee, "user_id")), b.id);
    const char *phone = json_string_value(json_object_get(payee, "phone"));
    ASSERT(phone != NULL && strstr(phone, "****") != NULL && strcmp(phone, b.phone) != 0);
    json_decref(j);
    client_response_release(&res);

    EXPECT_POST("/v1/transfers", a.token, "rc-1", payload,
                "\"amount\":999,\"payment_password\":\"" TH_PAY_PASSWORD "\"", 400,
                "QR_AMOUNT_MISMATCH");
    /* The refusals in the order docs/api.md lists them: the code's amount before the amount's
     * sign, the currency before either. */
    EXPECT_POST("/v1/transfers", a.token, "rc-1", payload,
                "\"amount\":0,\"payment_password\":\"" TH_PAY_PASSWORD "\"", 400,
                "QR_AMOUNT_MISMATCH");
    EXPECT_POST("/v1/transfers", a.token, "rc-1", payload,
                "\"amount\":-1,\"currency\":\"XXX\",\"payment_password\":\"" TH_PAY_PASSWORD "\"",
                400, "INVALID_CURRENCY");
    EXPECT_POST("/v1/transfers", a.token, "rc-2", payload,
                "\"to\":\"13800000000\",\"payment_password\":\"" TH_PAY_PASSWORD "\"", 400,
                "PARAM_ERROR");
    ASSERT_EQ_INT(th_balance(&S_client, &a), 10000);
    S_post(__LINE__, "/v1/transfers", a.token, "rc-3", payload,
           "\"payment_password\":\"" TH_PAY_PASSWORD "\"", 201, NULL, &res);
    ASSERT_EQ_INT(api_json_int(&res, "amount", 0), 1234);
    client_response_release(&res);
    /* The same amount spelled out is fine too. */
    EXPECT_POST("/v1/transfers", a.token, "rc-4", payload,
                "\"amount\":1234,\"payment_password\":\"" TH_PAY_PASSWORD "\"", 201, NULL);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 10000 - 2 * 1234);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 2 * 1234);
}

TEST(an_open_receive_code_needs_the_amount_and_bad_queries_are_refused)
{
    // Without an amount the payer types it; the code's own rules are checked when it is made.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(th_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 5000));
    char payload[400];
    S_code_get("/v1/me/receive-code", b.token, payload);
    struct client_response res;
    S_post(__LINE__, "/v1/qr/resolve", a.token, NULL, payload, NULL, 200, NULL, &res);
    json_t *j = api_json(&res);
    ASSERT(json_is_null(json_object_get(j, "amount")));
    json_decref(j);
    client_response_release(&res);
    EXPECT_POST("/v1/transfers", a.token, "open-1", payload,
                "\"payment_password\":\"" TH_PAY_PASSWORD "\"", 400, "PARAM_ERROR");
    EXPECT_POST("/v1/transfers", a.token, "open-2", payload,
                "\"amount\":700,\"payment_password\":\"" TH_PAY_PASSWORD "\"", 201, NULL);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 700);
    /* Paying one's own code. */
    char mine[400];
    S_code_get("/v1/me/receive-code?amount=1", a.token, mine);
    EXPECT_POST("/v1/transfers", a.token, "open-3", mine,
                "\"payment_password\":\"" TH_PAY_PASSWORD "\"", 400, "SELF_TRANSFER");

    static const char *const bad[] = {
        "/v1/me/receive-code?amount=0",
        "/v1/me/receive-code?amount=012",
        "/v1/me/receive-code?amount=-5",
        "/v1/me/receive-code?amount=1.5",
        "/v1/me/receive-code?amount=10000000000000",
        "/v1/me/receive-code?currency=CNY",
        "/v1/me/receive-code?format=gif",
        "/v1/me/receive-code?memo=%0A",
        /* 65 bytes of memo. */
        ("/v1/me/receive-code?memo="
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (api_call(&S_client, "GET", bad[i], b.token, NULL, &res) != 400 ||
            strcmp(api_error_code(&res), "PARAM_ERROR") != 0)
            TEST_FAIL_("GET %s: %ld %.*s", bad[i], res.status, (int)res.body.size,
                       res.body.data != NULL ? res.body.data : "");
        client_response_release(&res);
    }
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/receive-code?amount=5&currency=USD", b.token,
                           NULL, &res),
                  400);
    ASSERT_EQ_STR(api_error_code(&res), "INVALID_CURRENCY");
    client_response_release(&res);
}

TEST(a_tampered_code_is_refused_everywhere_and_moves_nothing)
{
    // Raising the amount, changing the payee or breaking the signature of a real code gives
    // QR_INVALID on resolve, on transfers and on order payments.
    struct api_user a, b, c;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(th_user_new(&S_client, S_admin, &b));
    API_MUST(api_user_new(&S_client, S_admin, &c));
    API_MUST(th_fund(&S_client, S_admin, &a, 5000));
    char payload[400];
    S_code_get("/v1/me/receive-code?amount=100", b.token, payload);
    char tampered[4][420];
    char *amount = strstr(payload, "&a=100&");
    ASSERT(amount != NULL);
    snprintf(tampered[0], sizeof tampered[0], "%.*s&a=1000&%s", (int)(amount - payload), payload,
             amount + 7);
    char *id = strstr(payload, "&id=");
    snprintf(tampered[1], sizeof tampered[1], "%.*s&id=%s%s", (int)(id - payload), payload, c.id,
             id + 4 + strlen(c.id));
    snprintf(tampered[2], sizeof tampered[2], "%s", payload);
    size_t last = strlen(tampered[2]) - 1;
    tampered[2][last] = tampered[2][last] == 'A' ? 'Q' : 'A';
    snprintf(tampered[3], sizeof tampered[3], "%s&x=1", payload);
    for (int i = 0; i < 4; i++) {
        EXPECT_POST("/v1/qr/resolve", a.token, NULL, tampered[i], NULL, 400, "QR_INVALID");
        char key[32];
        snprintf(key, sizeof key, "tamper-%d", i);
        EXPECT_POST("/v1/transfers", a.token, key, tampered[i],
                    "\"payment_password\":\"" TH_PAY_PASSWORD "\"", 400, "QR_INVALID");
        snprintf(key, sizeof key, "tamper-o-%d", i);
        EXPECT_POST("/v1/me/order-payments", a.token, key, tampered[i],
                    "\"payment_password\":\"" TH_PAY_PASSWORD "\"", 400, "QR_INVALID");
    }
    EXPECT_POST("/v1/qr/resolve", a.token, NULL, "https://example.com/pay?x=1", NULL, 400,
                "QR_INVALID");
    /* A receive code is not an order payment, nor an order code a transfer. */
    EXPECT_POST("/v1/me/order-payments", a.token, "kind-1", payload,
                "\"payment_password\":\"" TH_PAY_PASSWORD "\"", 400, "QR_INVALID");
    ASSERT_EQ_INT(th_balance(&S_client, &a), 5000);
    ASSERT_EQ_INT(th_balance(&S_client, &c), 0);
}

TEST(a_frozen_payee_is_refused_at_resolve_and_at_payment)
{
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(th_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 5000));
    char payload[400];
    S_code_get("/v1/me/receive-code?amount=100", b.token, payload);
    struct client_response res;
    char path[128];
    snprintf(path, sizeof path, "/admin/users/%s/freeze", b.id);
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, S_admin, NULL, &res), 200);
    client_response_release(&res);
    EXPECT_POST("/v1/qr/resolve", a.token, NULL, payload, NULL, 403, "PAYEE_UNAVAILABLE");
    EXPECT_POST("/v1/transfers", a.token, "frozen-1", payload,
                "\"payment_password\":\"" TH_PAY_PASSWORD "\"", 403, "PAYEE_UNAVAILABLE");
    ASSERT_EQ_INT(th_balance(&S_client, &a), 5000);
}

TEST(a_till_code_is_paid_as_one_idempotent_order)
{
    // The owner prints a static till code; a customer resolves it to the shop's name and pays:
    // one request makes the order and pays it; the retry with the same key answers the same
    // bytes and charges nothing more. Another user cannot get the owner's code.
    struct api_user owner, a, other;
    API_MUST(api_user_new(&S_client, S_admin, &owner));
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &other));
    API_MUST(th_fund(&S_client, S_admin, &a, 10000));
    struct client_response res;
    ASSERT_EQ_INT(
        api_call(&S_client, "POST", "/v1/merchants", owner.token, "{\"name\":\"老王面馆\"}", &res),
        201);
    char mchid[16];
    snprintf(mchid, sizeof mchid, "%s", api_json_str(&res, "mchid"));
    client_response_release(&res);

    char path[128], payload[400], open_payload[400];
    snprintf(path, sizeof path, "/v1/merchants/%s/till-code?amount=2500", mchid);
    S_code_get(path, owner.token, payload);
    snprintf(path, sizeof path, "/v1/merchants/%s/till-code", mchid);
    S_code_get(path, owner.token, open_payload);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, other.token, NULL, &res), 404);
    client_response_release(&res);

    S_post(__LINE__, "/v1/qr/resolve", a.token, NULL, payload, NULL, 200, NULL, &res);
    json_t *j = api_json(&res);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "kind")), "merchant");
    ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(j, "payee"), "name")),
                  "老王面馆");
    ASSERT_EQ_INT(json_integer_value(json_object_get(j, "amount")), 2500);
    json_decref(j);
    client_response_release(&res);

    EXPECT_POST("/v1/me/order-payments", a.token, "till-0", payload,
                "\"amount\":100,\"payment_password\":\"" TH_PAY_PASSWORD "\"", 400,
                "QR_AMOUNT_MISMATCH");
    EXPECT_POST("/v1/transfers", a.token, "till-x", payload,
                "\"payment_password\":\"" TH_PAY_PASSWORD "\"", 400, "QR_INVALID");
    struct client_response first, again;
    S_post(__LINE__, "/v1/me/order-payments", a.token, "till-1", payload,
           "\"payment_password\":\"" TH_PAY_PASSWORD "\"", 201, NULL, &first);
    S_post(__LINE__, "/v1/me/order-payments", a.token, "till-1", payload,
           "\"payment_password\":\"" TH_PAY_PASSWORD "\"", 201, NULL, &again);
    ASSERT(first.body.size == again.body.size &&
           memcmp(first.body.data, again.body.data, first.body.size) == 0);
    ASSERT_EQ_INT(api_json_int(&first, "amount", 0), 2500);
    ASSERT(strncmp(api_json_str(&first, "out_trade_no"), "QR42", 4) == 0);
    client_response_release(&first);
    client_response_release(&again);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 10000 - 2500);

    /* An open till code: the amount is the payer's; without it, refused. */
    EXPECT_POST("/v1/me/order-payments", a.token, "till-2", open_payload,
                "\"payment_password\":\"" TH_PAY_PASSWORD "\"", 400, "PARAM_ERROR");
    /* Nothing, or less, is no amount: INVALID_AMOUNT, as for a transfer. */
    EXPECT_POST("/v1/me/order-payments", a.token, "till-2a", open_payload,
                "\"amount\":0,\"payment_password\":\"" TH_PAY_PASSWORD "\"", 400, "INVALID_AMOUNT");
    EXPECT_POST("/v1/me/order-payments", a.token, "till-2b", open_payload,
                "\"amount\":-5,\"payment_password\":\"" TH_PAY_PASSWORD "\"", 400,
                "INVALID_AMOUNT");
    /* Too much is AMOUNT_OVERFLOW, as for a transfer. */
    EXPECT_POST("/v1/me/order-payments", a.token, "till-2c", open_payload,
                "\"amount\":1000000000001,\"payment_password\":\"" TH_PAY_PASSWORD "\"", 400,
                "AMOUNT_OVERFLOW");
    EXPECT_POST("/v1/me/order-payments", a.token, "till-3", open_payload,
                "\"amount\":50000,\"payment_password\":\"" TH_PAY_PASSWORD "\"", 402,
                "INSUFFICIENT_BALANCE");
    EXPECT_POST("/v1/me/order-payments", a.token, "till-4", open_payload,
                "\"amount\":300,\"payment_password\":\"" TH_PAY_PASSWORD "\"", 201, NULL);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 10000 - 2500 - 300);
    /* A refused payment left nothing: the bills show the top-up and the two payments. */
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/transactions", a.token, NULL, &res), 200);
    j = api_json(&res);
    ASSERT_EQ_INT(json_array_size(json_object_get(j, "items")), 3);
    json_decref(j);
    client_response_release(&res);
}

TEST(a_code_url_is_a_payload_too_and_the_png_is_a_png)
{
    struct mh_merchant m;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    struct api_user a;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(th_fund(&S_client, S_admin, &a, 5000));
    char body[1024];
    snprintf(body, sizeof body,
             "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"一碗面\","
             "\"out_trade_no\":\"qr-native-1\",\"notify_url\":\"https://example.com/n\","
             "\"amount\":{\"total\":1800,\"currency\":\"CNY\"}}",
             m.appid, m.mchid);
    struct client_response res;
    ASSERT_EQ_INT(mh_call(&S_client, &m, "POST", "/v3/pay/transactions/native", body, &res), 200);
    char code_url[128];
    snprintf(code_url, sizeof code_url, "%s", api_json_str(&res, "code_url"));
    client_response_release(&res);

    S_post(__LINE__, "/v1/qr/resolve", a.token, NULL, code_url, NULL, 200, NULL, &res);
    json_t *j = api_json(&res);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "kind")), "order");
    ASSERT_EQ_INT(json_integer_value(json_object_get(j, "amount")), 1800);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "description")), "一碗面");
    json_decref(j);
    client_response_release(&res);
    /* An order's code fixes its amount: one given, even the same, is refused, and the
     * refusal says so rather than that the amounts differ. */
    S_post(__LINE__, "/v1/me/order-payments", a.token, "url-0", code_url,
           "\"amount\":1800,\"payment_password\":\"" TH_PAY_PASSWORD "\"", 400,
           "QR_AMOUNT_MISMATCH", &res);
    ASSERT(strstr(api_json_str(&res, "message"), "different") == NULL);
    client_response_release(&res);
    EXPECT_POST("/v1/me/order-payments", a.token, "url-1", code_url,
                "\"payment_password\":\"" TH_PAY_PASSWORD "\"", 201, NULL);
    EXPECT_POST("/v1/qr/resolve", a.token, NULL, code_url, NULL, 400, "ORDERPAID");
    EXPECT_POST("/v1/qr/resolve", a.token, NULL,
                "qianbao://pay?pr=00000000000000000000000000000000", NULL, 404, "ORDER_NOT_EXIST");
    ASSERT_EQ_INT(th_balance(&S_client, &a), 5000 - 1800);
    mh_release(&m);

    ASSERT_EQ_INT(
        api_call(&S_client, "GET", "/v1/me/receive-code?amount=1&format=png", a.token, NULL, &res),
        200);
    ASSERT(res.body.size > 100 && memcmp(res.body.data, "\x89PNG\r\n\x1a\n", 8) == 0);
    const char *type = api_header(&res, "Content-Type");
    ASSERT(type != NULL && strncmp(type, "image/png", 9) == 0);
    client_response_release(&res);
}

TEST(a_till_code_payment_reaches_the_waiting_shop_at_once)
{
    // The shopkeeper's phone waits for the shop's payments; a customer pays the till code: the
    // phone hears of it (收款到账) as the payment is made, with the payment, not when its wait of
    // 15 s runs out. How soon is for bench/, not for a test run under Valgrind: woken at all is
    // what this asks, 10 s before the wait ended.
    struct api_user owner, a;
    API_MUST(api_user_new(&S_client, S_admin, &owner));
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(th_fund(&S_client, S_admin, &a, 10000));
    struct mh_merchant m;
    API_MUST(mh_owner_onboard(&S_client, &owner, "till-wait", &m));
    char path[128], payload[400];
    snprintf(path, sizeof path, "/v1/merchants/%s/till-code?amount=700", m.mchid);
    S_code_get(path, owner.token, payload);
    const char *changes = "/v1/merchants/me/changes";
    char cursor[TH_CURSOR_SIZE], woken[TH_CURSOR_SIZE], changed[128];
    th_changes_cursor_at(&S_client, &owner, changes, cursor);
    for (int round = 0; round < 3; round++) {
        struct th_wait w;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        th_wait_start_at(&w, S_daemon.base_url, &owner, changes, cursor, 15);
        ASSERT(th_waiting_is(&S_client, 1));
        char key[32];
        snprintf(key, sizeof key, "till-wait-%d", round);
        EXPECT_POST("/v1/me/order-payments", a.token, key, payload,
                    "\"payment_password\":\"" TH_PAY_PASSWORD "\"", 201, NULL);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        th_wait_join(&w, woken, changed, sizeof changed);
        double paid_s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        if (w.seconds - paid_s > 5.0)
            TEST_FAIL_("round %d: the shop heard of the payment %.3f s after it was paid", round,
                       w.seconds - paid_s);
        ASSERT_EQ_STR(changed, "balance,payments");
        snprintf(cursor, sizeof cursor, "%s", woken);
    }
    mh_release(&m);
}

TEST(a_closed_merchant_gets_no_till_code)
{
    // A shop its owner closed for good takes no payment again: a till code printed for it now
    // would only be refused at every scan, so the owner is told instead (409 CONFLICT), and a
    // code printed before is refused to the payer.
    struct api_user owner, a;
    API_MUST(th_user_new(&S_client, S_admin, &owner));
    API_MUST(th_user_new(&S_client, S_admin, &a));
    struct mh_merchant m;
    API_MUST(mh_owner_onboard(&S_client, &owner, "closing-shop", &m));
    char path[128], payload[400];
    snprintf(path, sizeof path, "/v1/merchants/%s/till-code", m.mchid);
    S_code_get(path, owner.token, payload);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/merchants/me/close", owner.token,
                           "{\"payment_password\":\"" TH_PAY_PASSWORD "\"}", &res),
                  200);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, owner.token, NULL, &res), 409);
    ASSERT_EQ_STR(api_error_code(&res), "CONFLICT");
    client_response_release(&res);
    snprintf(path, sizeof path, "/v1/merchants/%s/till-code?amount=100&format=png", m.mchid);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, owner.token, NULL, &res), 409);
    client_response_release(&res);
    EXPECT_POST("/v1/qr/resolve", a.token, NULL, payload, NULL, 403, "PAYEE_UNAVAILABLE");
    mh_release(&m);
}

TEST(whatever_else_a_payer_scans_is_not_a_qianbao_code)
{
    // The payer's 扫一扫 reads any QR code and the app sends what it holds: a business card's
    // lines, a Wi-Fi code, another wallet's code, a long web address, a real code with an
    // invisible character slipped in. Each is QR_INVALID ("not a Qianbao code") on every route
    // that takes a scanned payload, never a PARAM_ERROR the app would take for its own mistake;
    // only text longer than any QR code holds is a malformed request.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(th_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 5000));
    char payload[400];
    S_code_get("/v1/me/receive-code?amount=100", b.token, payload);
    static char texts[6][3200];
    snprintf(texts[0], sizeof texts[0], "%s",
             "BEGIN:VCARD\\nVERSION:3.0\\nFN:王小明\\nTEL:13800138000\\nEND:VCARD");
    snprintf(texts[1], sizeof texts[1], "%s", "WIFI:T:WPA;S:teahouse;P:longjing\\t2026;;");
    snprintf(texts[2], sizeof texts[2], "%s", "wxp://f2f0e9ZbYy1Hg2pXr8Zz3Fq8xT0aN5oKcWQm");
    size_t n = (size_t)snprintf(texts[3], sizeof texts[3], "https://shop.example.com/pay?ref=");
    memset(texts[3] + n, 'x', 600);
    texts[3][n + 600] = '\0';
    char *at = strstr(payload, "&s=");
    ASSERT(at != NULL);
    snprintf(texts[4], sizeof texts[4], "%.*s\\u200b%s", (int)(at - payload), payload, at);
    memset(texts[5], 'q', 2953); /* the most a QR code holds (version 40, level L) */
    texts[5][2953] = '\0';
    for (int i = 0; i < 6; i++) {
        EXPECT_POST("/v1/qr/resolve", a.token, NULL, texts[i], NULL, 400, "QR_INVALID");
        char key[32];
        snprintf(key, sizeof key, "scan-t-%d", i);
        EXPECT_POST("/v1/transfers", a.token, key, texts[i],
                    "\"payment_password\":\"" TH_PAY_PASSWORD "\"", 400, "QR_INVALID");
        snprintf(key, sizeof key, "scan-o-%d", i);
        EXPECT_POST("/v1/me/order-payments", a.token, key, texts[i],
                    "\"amount\":100,\"payment_password\":\"" TH_PAY_PASSWORD "\"", 400,
                    "QR_INVALID");
    }
    texts[5][2953] = 'q';
    texts[5][2954] = '\0';
    EXPECT_POST("/v1/qr/resolve", a.token, NULL, texts[5], NULL, 400, "PARAM_ERROR");
    ASSERT_EQ_INT(th_balance(&S_client, &a), 5000);
}

TEST(a_payer_hears_why_a_shop_takes_no_payment)
{
    // The payer scans a till code, or an order's code, of a shop an operator suspended, then of
    // one its owner closed: resolving it says why, as paying it does, not only that the payee
    // cannot receive money.
    struct api_user owner, a;
    API_MUST(th_user_new(&S_client, S_admin, &owner));
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(th_fund(&S_client, S_admin, &a, 5000));
    struct mh_merchant m;
    API_MUST(mh_owner_onboard(&S_client, &owner, "why-shop", &m));
    char path[128], payload[400];
    snprintf(path, sizeof path, "/v1/merchants/%s/till-code?amount=300", m.mchid);
    S_code_get(path, owner.token, payload);
    struct client_response res;
    ASSERT_EQ_INT(mh_native_order(&S_client, &m, "why-order-1", 400, &res), 200);
    char code_url[128];
    snprintf(code_url, sizeof code_url, "%s", api_json_str(&res, "code_url"));
    client_response_release(&res);
    snprintf(path, sizeof path, "/admin/merchants/%s/suspend", m.mchid);
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, S_admin, NULL, &res), 200);
    client_response_release(&res);
    const char *codes[2] = {payload, code_url};
    for (int i = 0; i < 2; i++) {
        S_post(__LINE__, "/v1/qr/resolve", a.token, NULL, codes[i], NULL, 403, "PAYEE_UNAVAILABLE",
               &res);
        ASSERT_EQ_STR(api_json_str(&res, "message"),
                      "this merchant is suspended: it takes no payments");
        client_response_release(&res);
    }
    snprintf(path, sizeof path, "/admin/merchants/%s/resume", m.mchid);
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, S_admin, NULL, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/merchants/me/close", owner.token,
                           "{\"payment_password\":\"" TH_PAY_PASSWORD "\"}", &res),
                  200);
    client_response_release(&res);
    for (int i = 0; i < 2; i++) {
        S_post(__LINE__, "/v1/qr/resolve", a.token, NULL, codes[i], NULL, 403, "PAYEE_UNAVAILABLE",
               &res);
        ASSERT_EQ_STR(api_json_str(&res, "message"),
                      "this merchant is closed: it takes no payments");
        client_response_release(&res);
    }
    S_post(__LINE__, "/v1/me/order-payments", a.token, "why-1", payload,
           "\"payment_password\":\"" TH_PAY_PASSWORD "\"", 403, "PAYEE_UNAVAILABLE", &res);
    ASSERT_EQ_STR(api_json_str(&res, "message"), "this merchant is closed: it takes no payments");
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 5000);
    mh_release(&m);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    if (!api_suite_daemon(&suite, &S_daemon, "main", NULL, S_admin, &S_client))
        return api_suite_end(&suite);

    RUN(a_receive_code_with_an_amount_is_resolved_and_paid_for_that_amount);
    RUN(an_open_receive_code_needs_the_amount_and_bad_queries_are_refused);
    RUN(a_tampered_code_is_refused_everywhere_and_moves_nothing);
    RUN(whatever_else_a_payer_scans_is_not_a_qianbao_code);
    RUN(a_frozen_payee_is_refused_at_resolve_and_at_payment);
    RUN(a_till_code_is_paid_as_one_idempotent_order);
    RUN(a_code_url_is_a_payload_too_and_the_png_is_a_png);
    RUN(a_closed_merchant_gets_no_till_code);
    RUN(a_payer_hears_why_a_shop_takes_no_payment);
    RUN(a_till_code_payment_reaches_the_waiting_shop_at_once);

    return api_suite_end(&suite);
}

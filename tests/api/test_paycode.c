/*
 * test_paycode.c — payment codes over HTTP, black-box: devices and their
 * seeds, codes computed by this test from a seed with the codec of
 * docs/paycode.md and paid through the signed merchant API, single use
 * (replays, two tills at once), the ±1 step window, revoked devices, the
 * guess limit, USERPAYING and its confirmation or revocation, the
 * password-free amount and count, and reversal.
 *
 * The daemon runs on the real clock; the test computes codes for chosen
 * steps around the daemon's and keeps away from step boundaries
 * (S_settle) so that "one step either way" cannot slip. The confirmation
 * time is scaled down to S_CONFIRM_S seconds.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/lib/suite.h"
#include "api/merchant_helpers.h"
#include "api/refund_helpers.h"
#include "api/transfer_helpers.h"
#include "base/crypto.h"
#include "base/luhn.h"
#include "base/paycode.h"

#define S_CONFIRM_S 4

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];
static struct mh_merchant S_m;
static int S_order_seq;
static int64_t S_clock_offset_ms; /* how far the daemon's clock is ahead of the real one */

struct S_device {
    char id[API_ID_SIZE_MAX];
    uint32_t slot;
    uint8_t seed[PAYCODE_SEED_SIZE];
};

static int64_t S_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until the current step has at least 5 s left and began 1 s ago;
 * answers the step. */
static int64_t S_settle(void)
{
    for (;;) {
        int64_t now = S_now_ms();
        int64_t into = now % PAYCODE_STEP_MS;
        if (into >= 1000 && into <= PAYCODE_STEP_MS - 5000)
            return paycode_step(now);
        usleep(250 * 1000);
    }
}

static void S_code(const struct S_device *d, int64_t step, int counter, char out[PAYCODE_TEXT_SIZE])
{
    paycode_format(d->seed, step, d->slot, (uint8_t)counter, out);
}

static bool S_hex(const char *hex, uint8_t *out, size_t size)
{
    if (hex == NULL || strlen(hex) != 2 * size)
        return false;
    for (size_t i = 0; i < size; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return false;
        out[i] = (uint8_t)v;
    }
    return true;
}

static void S_device_add(const struct api_user *u, const char *name, struct S_device *d)
{
    char body[256];
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"payment_password\":\"%s\"}", name,
             TH_PAY_PASSWORD);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/devices", u->token, body, &res), 201);
    snprintf(d->id, sizeof d->id, "%s", api_json_str(&res, "id"));
    const char *slot = api_json_str(&res, "slot");
    ASSERT(slot != NULL && strlen(slot) == 7 && strspn(slot, "0123456789") == 7);
    d->slot = (uint32_t)strtoul(slot, NULL, 10);
    ASSERT(S_hex(api_json_str(&res, "seed"), d->seed, sizeof d->seed));
    client_response_release(&res);
}

/* Submits code for total fen under a fresh out_trade_no (into out_trade_no
 * when not NULL); answers the status, the error code or trade_state into
 * what. */
static long S_codepay_at(struct mh_merchant *m, const char *code, long long total,
                         char *out_trade_no, char what[64], char *message, size_t message_size);

static long S_codepay(const char *code, long long total, char *out_trade_no, char what[64])
{
    return S_codepay_at(&S_m, code, total, out_trade_no, what, NULL, 0);
}

/* As S_codepay, at merchant m; the error's message into message when not
 * NULL. */
static long S_codepay_number(struct mh_merchant *m, const char *code, long long total,
                             const char *number, char what[64], char *message, size_t message_size);
static long long S_last_retry_after; /* the last codepay's Retry-After, 0 for none */

static long S_codepay_at(struct mh_merchant *m, const char *code, long long total,
                         char *out_trade_no, char what[64], char *message, size_t message_size)
{
    char number[33];
    snprintf(number, sizeof number, "pc-%d-%lld", ++S_order_seq, (long long)time(NULL));
    if (out_trade_no != NULL)
        snprintf(out_trade_no, 33, "%s", number);
    return S_codepay_number(m, code, total, number, what, message, message_size);
}

/* As S_codepay_at, under the sale number given. */
static long S_codepay_number(struct mh_merchant *m, const char *code, long long total,
                             const char *number, char what[64], char *message, size_t message_size)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"便利店\","
             "\"out_trade_no\":\"%s\",\"amount\":{\"total\":%lld,\"currency\":\"CNY\"},"
             "\"payer\":{\"auth_code\":\"%s\"},\"scene_info\":{\"device_id\":\"till-1\"}}",
             m->appid, m->mchid, number, total, code);
    struct client_response res;
    long status = mh_call(&S_client, m, "POST", "/v3/pay/transactions/codepay", body, &res);
    /* A till reads trade_state from any 2xx, as WeChat's SDKs do: the 202
     * of a payer who must confirm carries it too (and its code). */
    char answer_code[32];
    snprintf(answer_code, sizeof answer_code, "%s", api_json_str(&res, "code"));
    const char *s = status == 200   ? api_json_str(&res, "trade_state")
                    : status == 202 ? (strcmp(answer_code, "USERPAYING") == 0
                                           ? api_json_str(&res, "trade_state")
                                           : "NO_CODE")
                                    : api_error_code(&res);
    snprintf(what, 64, "%s", s != NULL ? s : "");
    S_last_retry_after = atoll(api_header(&res, "Retry-After"));
    if (message != NULL)
        snprintf(message, message_size, "%s", api_json_str(&res, "message"));
    if (status != 0 && !mh_response_verified(m, &res))
        snprintf(what, 64, "UNSIGNED");
    client_response_release(&res);
    return status;
}

static json_t *S_query(const char *out_trade_no)
{
    char path[256];
    snprintf(path, sizeof path, "/v3/pay/transactions/out-trade-no/%s?mchid=%s", out_trade_no,
             S_m.mchid);
    struct client_response res;
    ASSERT_EQ_INT(mh_call(&S_client, &S_m, "GET", path, NULL, &res), 200);
    json_t *j = api_json(&res);
    client_response_release(&res);
    ASSERT(j != NULL);
    return j;
}

static const char *S_state(json_t *order)
{
    return json_string_value(json_object_get(order, "trade_state"));
}

static long S_reverse(const char *out_trade_no, char what[64])
{
    char path[256], body[64];
    snprintf(path, sizeof path, "/v3/pay/transactions/out-trade-no/%s/reverse", out_trade_no);
    snprintf(body, sizeof body, "{\"mchid\":\"%s\"}", S_m.mchid);
    struct client_response res;
    long status = mh_call(&S_client, &S_m, "POST", path, body, &res);
    const char *s = status == 200 ? api_json_str(&res, "trade_state") : api_error_code(&res);
    snprintf(what, 64, "%s", s != NULL ? s : "");
    client_response_release(&res);
    return status;
}

/* A new user with a payment password, fund fen and a device "phone"; the
 * step to make codes for (S_settle). */
static int64_t S_payer_new(struct api_user *u, long long fund, struct S_device *d)
{
    API_MUST(th_user_new(&S_client, S_admin, u));
    API_MUST(th_fund(&S_client, S_admin, u, fund));
    S_device_add(u, "phone", d);
    return S_settle();
}

TEST(a_code_is_sent_with_one_cache_control)
{
    // A code must not be kept by any cache, and its answer says so once: two Cache-Control
    // fields are a malformed header some proxies refuse.
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/payment-code", u.token, NULL, &res), 200);
    int seen = 0;
    for (const char *p = res.headers.data; p != NULL && (p = strstr(p, "\nCache-Control:")); p++)
        seen++;
    client_response_release(&res);
    ASSERT_EQ_INT(seen, 1);
}

TEST(devices_are_provisioned_with_the_password_and_listed_without_seeds)
{
    // The seed is answered once, only with the payment password; the list never shows it;
    // another user's device is not found.
    struct api_user u, v;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_user_new(&S_client, S_admin, &v));
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/devices", u.token,
                           "{\"name\":\"phone\",\"payment_password\":\"000000\"}", &res),
                  403);
    ASSERT_EQ_STR(api_error_code(&res), "PASSWORD_WRONG");
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/devices", u.token,
                           "{\"name\":\"\",\"payment_password\":\"135790\"}", &res),
                  400);
    client_response_release(&res);
    struct S_device d;
    S_device_add(&u, "phone", &d);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/devices", u.token, NULL, &res), 200);
    ASSERT(strstr(res.body.data, d.id) != NULL);
    ASSERT(strstr(res.body.data, "seed") == NULL);
    ASSERT(strstr(res.body.data, "\"status\":\"active\"") != NULL);
    client_response_release(&res);
    char path[128];
    snprintf(path, sizeof path, "/v1/me/devices/%s", d.id);
    ASSERT_EQ_INT(api_call(&S_client, "DELETE", path, v.token, NULL, &res), 404);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/devices", v.token, NULL, &res), 200);
    ASSERT(strstr(res.body.data, d.id) == NULL);
    client_response_release(&res);
}

TEST(a_code_pays_once_within_one_step_either_way)
{
    // A code of the current step pays at once (under ¥200); the same code again is refused
    // even under a new out_trade_no, while a retry of the same request answers the same; codes
    // of the step before and after pay, two steps away do not.
    struct api_user u;
    struct S_device d;
    int64_t step = S_payer_new(&u, 100000, &d);
    char code[PAYCODE_TEXT_SIZE], what[64], number[33];
    S_code(&d, step, 0, code);
    ASSERT_EQ_INT(S_codepay(code, 1234, number, what), 200);
    ASSERT_EQ_STR(what, "SUCCESS");
    ASSERT_EQ_INT(th_balance(&S_client, &u), 100000 - 1234);
    json_t *o = S_query(number);
    ASSERT_EQ_STR(S_state(o), "SUCCESS");
    ASSERT_EQ_STR(json_string_value(json_object_get(o, "trade_type")), "MICROPAY");
    json_decref(o);
    ASSERT_EQ_INT(S_codepay(code, 1234, NULL, what), 400);
    ASSERT_EQ_STR(what, "AUTH_CODE_INVALID");

    // The window.
    S_code(&d, step - 1, 1, code);
    ASSERT_EQ_INT(S_codepay(code, 100, NULL, what), 200);
    S_code(&d, step + 1, 1, code);
    ASSERT_EQ_INT(S_codepay(code, 100, NULL, what), 200);
    S_code(&d, step - 2, 2, code);
    ASSERT_EQ_INT(S_codepay(code, 100, NULL, what), 400);
    ASSERT_EQ_STR(what, "AUTH_CODE_INVALID");
    S_code(&d, step + 2, 2, code);
    ASSERT_EQ_INT(S_codepay(code, 100, NULL, what), 400);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 100000 - 1434);

    // Not a Qianbao code: WeChat's prefix, a broken check digit, letters.
    ASSERT_EQ_INT(S_codepay("134650328919428540", 100, NULL, what), 400);
    ASSERT_EQ_STR(what, "AUTH_CODE_INVALID");
    S_code(&d, step, 3, code);
    code[17] = code[17] == '0' ? '1' : '0';
    ASSERT_EQ_INT(S_codepay(code, 100, NULL, what), 400);
    ASSERT_EQ_INT(S_codepay("19abc", 100, NULL, what), 400);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 100000 - 1434);
}

/* Lifts u's own freeze: the login password and an unfreeze code from the outbox. */
static void S_unfreeze(const struct api_user *u)
{
    char code[API_SMS_CODE_SIZE], body[256];
    API_MUST(api_sms_code_get_for(&S_client, S_admin, u, "unfreeze", code));
    snprintf(body, sizeof body, "{\"password\":\"%s\",\"sms_code\":\"%s\"}", u->password, code);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/unfreeze", u->token, body, &res), 200);
    client_response_release(&res);
}

TEST(a_freeze_ends_the_payment_codes_of_a_lost_phone)
{
    // The phone is lost with the device's seed on it, which makes codes offline: no ended session
    // stops them. Freezing the wallet revokes every payment-code device of the user, so that after
    // the unfreeze the lost phone's codes pay nothing; the user adds the device again, and the
    // account's history says what was revoked.
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 10000));
    struct S_device d;
    S_device_add(&u, "lost phone", &d);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/freeze", u.token, "{}", &res), 200);
    client_response_release(&res);
    S_unfreeze(&u);

    char paycode[PAYCODE_TEXT_SIZE], what[64];
    S_code(&d, S_settle(), 0, paycode);
    ASSERT_EQ_INT(S_codepay(paycode, 500, NULL, what), 400);
    ASSERT_EQ_STR(what, "AUTH_CODE_INVALID");
    ASSERT_EQ_INT(th_balance(&S_client, &u), 10000);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/devices", u.token, NULL, &res), 200);
    json_t *j = api_json(&res);
    client_response_release(&res);
    json_t *item = json_array_get(json_object_get(j, "items"), 0);
    ASSERT_EQ_STR(json_string_value(json_object_get(item, "id")), d.id);
    ASSERT_EQ_STR(json_string_value(json_object_get(item, "status")), "revoked");
    json_decref(j);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/security-events", u.token, NULL, &res), 200);
    char revoked[96];
    snprintf(revoked, sizeof revoked, "\"device=%s\"", d.id);
    ASSERT(strstr(res.body.data, revoked) != NULL);
    client_response_release(&res);

    struct S_device again;
    S_device_add(&u, "new phone", &again);
    S_code(&again, S_settle(), 0, paycode);
    ASSERT_EQ_INT(S_codepay(paycode, 500, NULL, what), 200);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 10000 - 500);
}

TEST(codes_need_a_payment_password_and_a_wallet_that_is_not_frozen)
{
    // A code pays up to the password-free amount without asking, so a wallet that has no payment
    // password (which pays nothing else) gets no codes. A frozen wallet gets none either, and
    // while frozen may not add a device, raise what codes, transfers or limits let out, open a
    // merchant or verify a real name: whoever holds it may not be its owner. Lowering stays
    // allowed. None of it leaves a device behind that pays after the unfreeze.
    struct api_user bare;
    API_MUST(api_user_new(&S_client, S_admin, &bare));
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/payment-code", bare.token, NULL, &res), 403);
    ASSERT_EQ_STR(api_error_code(&res), "PAYMENT_PASSWORD_NOT_SET");
    client_response_release(&res);

    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 10000));
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/freeze", u.token, "{}", &res), 200);
    client_response_release(&res);
    const struct {
        const char *method, *path, *body;
        long status;
        const char *code;
    } frozen[] = {
        {"GET", "/v1/me/payment-code", NULL, 403, "ACCOUNT_FROZEN"},
        {"POST", "/v1/me/devices",
         "{\"name\":\"phone2\",\"payment_password\":\"" TH_PAY_PASSWORD "\"}", 403,
         "ACCOUNT_FROZEN"},
        {"PUT", "/v1/me/payment-code-settings", "{\"password_free_limit\":0}", 200, NULL},
        {"PUT", "/v1/me/payment-code-settings",
         "{\"password_free_limit\":20000,\"payment_password\":\"" TH_PAY_PASSWORD "\"}", 403,
         "ACCOUNT_FROZEN"},
        {"PUT", "/v1/me/limits",
         "{\"password_free_limit\":20000,\"payment_password\":\"" TH_PAY_PASSWORD "\"}", 403,
         "ACCOUNT_FROZEN"},
        {"POST", "/v1/merchants", "{\"name\":\"frozen shop\"}", 403, "ACCOUNT_FROZEN"},
        {"POST", "/v1/me/kyc", "{\"real_name\":\"张三\",\"id_number\":\"310115198506154568\"}", 403,
         "ACCOUNT_FROZEN"},
        {"PUT", "/v1/me/limits", "{\"daily_limit\":1000}", 200, NULL},
    };
    for (size_t i = 0; i < QB_ARRAY_COUNT(frozen); i++) {
        long status =
            api_call(&S_client, frozen[i].method, frozen[i].path, u.token, frozen[i].body, &res);
        if (status != frozen[i].status ||
            (frozen[i].code != NULL && strcmp(api_error_code(&res), frozen[i].code) != 0))
            TEST_FAIL_("%s %s: %ld %s", frozen[i].method, frozen[i].path, status,
                       res.body.data != NULL ? res.body.data : "");
        client_response_release(&res);
    }
    S_unfreeze(&u);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/devices", u.token, NULL, &res), 200);
    json_t *j = api_json(&res);
    client_response_release(&res);
    ASSERT_EQ_INT(json_array_size(json_object_get(j, "items")), 0);
    json_decref(j);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/payment-code", u.token, NULL, &res), 200);
    client_response_release(&res);
}

TEST(a_locked_payment_password_makes_every_code_wait_for_the_payer)
{
    // Five wrong payment passwords suspend paying without one: a small code that would pay at
    // once waits for the payer instead (USERPAYING, nothing moves), who cannot confirm while
    // the password is locked, and may lower the password-free amount without the password.
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 10000));
    struct S_device d;
    S_device_add(&u, "phone", &d);
    struct client_response res;
    for (int i = 0; i < 5; i++) {
        api_call(&S_client, "POST", "/v1/me/payment-password/verify", u.token,
                 "{\"payment_password\":\"246802\"}", &res);
        client_response_release(&res);
    }
    char code[PAYCODE_TEXT_SIZE], what[64], number[33];
    S_code(&d, S_settle(), 0, code);
    ASSERT_EQ_INT(S_codepay(code, 100, number, what), 202);
    ASSERT_EQ_STR(what, "USERPAYING");
    ASSERT_EQ_INT(th_balance(&S_client, &u), 10000);
    /* The app gets no code to show meanwhile, but when the lock ends. */
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/payment-code", u.token, NULL, &res), 423);
    ASSERT_EQ_STR(api_error_code(&res), "PASSWORD_LOCKED");
    ASSERT(strlen(api_json_str(&res, "locked_until")) == 25);
    client_response_release(&res);
    /* The user may still lower what codes pay alone, without the password; not raise it. */
    ASSERT_EQ_INT(api_call(&S_client, "PUT", "/v1/me/payment-code-settings", u.token,
                           "{\"password_free_limit\":0}", &res),
                  200);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "PUT", "/v1/me/payment-code-settings", u.token,
                           "{\"password_free_limit\":100}", &res),
                  400);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "PUT", "/v1/me/payment-code-settings", u.token,
                           "{\"password_free_limit\":100,\"payment_password\":\"135790\"}", &res),
                  423);
    client_response_release(&res);
}

TEST(a_low_balance_spends_the_code_and_answers_not_enough)
{
    // The code is accepted once even when the payment then fails: 403 NOT_ENOUGH (WeChat's code),
    // the order PAYERROR, nothing moved, and the same code again is refused as used.
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 300));
    struct S_device d;
    S_device_add(&u, "phone", &d);
    char code[PAYCODE_TEXT_SIZE], what[64], number[33];
    S_code(&d, S_settle(), 0, code);
    char message[256];
    ASSERT_EQ_INT(S_codepay_at(&S_m, code, 500, number, what, message, sizeof message), 403);
    ASSERT_EQ_STR(what, "NOT_ENOUGH");
    ASSERT(strstr(message, "payer") != NULL); /* whose balance: the cashier must know */
    json_t *o = S_query(number);
    ASSERT_EQ_STR(S_state(o), "PAYERROR");
    json_decref(o);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 300);
    ASSERT_EQ_INT(S_codepay(code, 200, NULL, what), 400);
    ASSERT_EQ_STR(what, "AUTH_CODE_INVALID");
    ASSERT_EQ_INT(th_balance(&S_client, &u), 300);
}

TEST(a_retry_of_the_same_request_is_answered_the_same)
{
    // The merchant's out_trade_no is its idempotency key: the same body again answers the
    // first answer and pays nothing more.
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 10000));
    struct S_device d;
    S_device_add(&u, "phone", &d);
    char code[PAYCODE_TEXT_SIZE], body[1024];
    S_code(&d, S_settle(), 0, code);
    snprintf(body, sizeof body,
             "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"x\",\"out_trade_no\":"
             "\"retry-%lld\",\"amount\":{\"total\":500},\"payer\":{\"auth_code\":\"%s\"}}",
             S_m.appid, S_m.mchid, (long long)S_now_ms(), code);
    struct client_response a, b;
    ASSERT_EQ_INT(mh_call(&S_client, &S_m, "POST", "/v3/pay/transactions/codepay", body, &a), 200);
    ASSERT_EQ_INT(mh_call(&S_client, &S_m, "POST", "/v3/pay/transactions/codepay", body, &b), 200);
    ASSERT_EQ_STR(a.body.data, b.body.data);
    client_response_release(&a);
    client_response_release(&b);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 9500);
}

TEST(a_retry_after_a_reversal_is_told_the_order_was_reversed)
{
    // A till that timed out reverses the sale, and then its first request arrives again (a
    // client's own retry): it must not read SUCCESS. Paid or waiting, the retry is answered
    // ORDERREVERSED and moves nothing; another body under the number is still a mismatch.
    struct api_user u;
    struct S_device d;
    int64_t step = S_payer_new(&u, 50000, &d);
    const long long totals[] = {800, 30000}; /* within the password-free amount, then above */
    const long statuses[] = {200, 202};
    for (int i = 0; i < 2; i++) {
        char code[PAYCODE_TEXT_SIZE], body[1024], number[40], what[64];
        S_code(&d, step, i, code);
        snprintf(number, sizeof number, "rev-retry-%d-%lld", i, (long long)S_now_ms() % 100000000);
        snprintf(body, sizeof body,
                 "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"x\",\"out_trade_no\":"
                 "\"%s\",\"amount\":{\"total\":%lld},\"payer\":{\"auth_code\":\"%s\"}}",
                 S_m.appid, S_m.mchid, number, totals[i], code);
        struct client_response res;
        ASSERT_EQ_INT(mh_call(&S_client, &S_m, "POST", "/v3/pay/transactions/codepay", body, &res),
                      statuses[i]);
        client_response_release(&res);
        ASSERT_EQ_INT(S_reverse(number, what), 200);
        ASSERT_EQ_STR(what, "REVOKED");
        ASSERT_EQ_INT(th_balance(&S_client, &u), 50000);
        for (int retry = 0; retry < 2; retry++) {
            ASSERT_EQ_INT(
                mh_call(&S_client, &S_m, "POST", "/v3/pay/transactions/codepay", body, &res), 400);
            ASSERT_EQ_STR(api_error_code(&res), "ORDERREVERSED");
            ASSERT(mh_response_verified(&S_m, &res));
            client_response_release(&res);
        }
        ASSERT_EQ_INT(th_balance(&S_client, &u), 50000);
        json_t *order = S_query(number);
        ASSERT_EQ_STR(S_state(order), "REVOKED");
        json_decref(order);
        /* The same number with another amount is still another request, refused in WeChat's
         * words, which a till's WeChat error handling knows. */
        char *other = strstr(body, "\"total\":");
        ASSERT(other != NULL);
        other[8] = '7';
        ASSERT_EQ_INT(mh_call(&S_client, &S_m, "POST", "/v3/pay/transactions/codepay", body, &res),
                      400);
        ASSERT_EQ_STR(api_error_code(&res), "INVALID_REQUEST");
        ASSERT(strstr(api_json_str(&res, "message"), "201 商户订单号重复") != NULL);
        ASSERT(mh_response_verified(&S_m, &res));
        client_response_release(&res);
    }
    ASSERT_EQ_INT(th_balance(&S_client, &u), 50000);
}

TEST(an_expired_code_is_told_apart_and_counts_nowhere)
{
    // A real code some minutes old (a screenshot, a phone that stayed on the old code) is not a
    // guess: the till is told the code expired, not that it is invalid, and however often it is
    // scanned the slot does not lock: the fresh code pays.
    struct api_user u;
    struct S_device d;
    int64_t step = S_payer_new(&u, 5000, &d);
    char old[PAYCODE_TEXT_SIZE], code[PAYCODE_TEXT_SIZE], what[64], message[256];
    S_code(&d, step - 5, 0, old);
    for (int i = 0; i < 6; i++) {
        ASSERT_EQ_INT(S_codepay_at(&S_m, old, 100, NULL, what, message, sizeof message), 400);
        ASSERT_EQ_STR(what, "AUTH_CODE_INVALID");
        if (strstr(message, "expired") == NULL)
            TEST_FAIL_("an old code is not told apart: %s", message);
    }
    S_code(&d, step, 0, code);
    ASSERT_EQ_INT(S_codepay(code, 100, NULL, what), 200);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 4900);
}

TEST(a_code_past_a_limit_is_refused_at_once)
{
    // A sale no limit of the payer's lets through must not keep the till waiting thirty seconds
    // for a password that cannot help: at KYC level 1 the wallet's lifetime limit is ¥1,000, so
    // ¥2,000 is refused at once (LIMIT_EXCEEDED, naming the limit), the order PAYERROR, the code
    // spent and nothing waiting in the payer's app.
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 5000));
    struct S_device d;
    S_device_add(&u, "phone", &d);
    char code[PAYCODE_TEXT_SIZE], what[64], number[33];
    S_code(&d, S_settle(), 0, code);
    char message[256];
    ASSERT_EQ_INT(S_codepay_at(&S_m, code, 200000, number, what, message, sizeof message), 403);
    ASSERT_EQ_STR(what, "LIMIT_EXCEEDED");
    /* The merchant learns that a limit refused, not the payer's KYC level or settings. */
    ASSERT(strstr(message, "kyc") == NULL && strstr(message, "payer") != NULL);
    json_t *o = S_query(number);
    ASSERT_EQ_STR(S_state(o), "PAYERROR");
    json_decref(o);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/pending-payments", u.token, NULL, &res), 200);
    ASSERT(strstr(res.body.data, number) == NULL);
    client_response_release(&res);
    ASSERT_EQ_INT(S_codepay(code, 100, NULL, what), 400); /* spent */
    ASSERT_EQ_INT(th_balance(&S_client, &u), 5000);
}

TEST(a_sale_resent_from_another_till_is_the_same_sale)
{
    // The members codepay ignores are no part of the request: the same sale sent again from
    // another till (scene_info.device_id) is answered as the first, and pays once. A new code
    // under a number a refused code used is told to use a new number, in those words.
    struct api_user u;
    struct S_device d;
    int64_t step = S_payer_new(&u, 5000, &d);
    char code[PAYCODE_TEXT_SIZE], number[40], body[1024];
    S_code(&d, step, 0, code);
    snprintf(number, sizeof number, "till-%lld", (long long)S_now_ms() % 100000000);
    for (int till = 1; till <= 2; till++) {
        snprintf(body, sizeof body,
                 "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"x\",\"out_trade_no\":"
                 "\"%s\",\"amount\":{\"total\":300},\"payer\":{\"auth_code\":\"%s\"},"
                 "\"scene_info\":{\"device_id\":\"till-%d\"}}",
                 S_m.appid, S_m.mchid, number, code, till);
        struct client_response res;
        ASSERT_EQ_INT(mh_call(&S_client, &S_m, "POST", "/v3/pay/transactions/codepay", body, &res),
                      200);
        ASSERT_EQ_STR(api_json_str(&res, "trade_state"), "SUCCESS");
        client_response_release(&res);
    }
    ASSERT_EQ_INT(th_balance(&S_client, &u), 4700);

    char what[64], refused[40];
    ASSERT_EQ_INT(S_codepay("134650328919428540", 300, refused, what), 400); /* not ours */
    ASSERT_EQ_STR(what, "AUTH_CODE_INVALID");
    S_code(&d, step, 1, code);
    snprintf(body, sizeof body,
             "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"便利店\","
             "\"out_trade_no\":\"%s\",\"amount\":{\"total\":300,\"currency\":\"CNY\"},"
             "\"payer\":{\"auth_code\":\"%s\"},\"scene_info\":{\"device_id\":\"till-1\"}}",
             S_m.appid, S_m.mchid, refused, code);
    struct client_response res;
    ASSERT_EQ_INT(mh_call(&S_client, &S_m, "POST", "/v3/pay/transactions/codepay", body, &res),
                  400);
    ASSERT_EQ_STR(api_error_code(&res), "INVALID_REQUEST");
    ASSERT(mh_response_verified(&S_m, &res));
    ASSERT(strstr(api_json_str(&res, "message"), "new out_trade_no") != NULL);
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 4700);
}

TEST(a_codepay_that_arrives_after_its_reversal_takes_nothing)
{
    // A till times out before its codepay has even arrived, and reverses the sale: there is no
    // order yet (404). The codepay then arrives, late: it must not take the money of a sale the
    // cashier took as cancelled. Whatever its body, the number answers ORDERREVERSED; the code
    // it carried is not spent, and the next sale under a new number takes it.
    struct api_user u;
    struct S_device d;
    int64_t step = S_payer_new(&u, 5000, &d);
    char code[PAYCODE_TEXT_SIZE], body[1024], number[40], what[64];
    S_code(&d, step, 0, code);
    snprintf(number, sizeof number, "rev-early-%lld", (long long)S_now_ms() % 100000000);
    ASSERT_EQ_INT(S_reverse(number, what), 404);
    ASSERT_EQ_STR(what, "ORDER_NOT_EXIST");
    for (int i = 0; i < 2; i++) {
        snprintf(body, sizeof body,
                 "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"x\",\"out_trade_no\":"
                 "\"%s\",\"amount\":{\"total\":%d},\"payer\":{\"auth_code\":\"%s\"}}",
                 S_m.appid, S_m.mchid, number, 800 + i, code);
        struct client_response res;
        ASSERT_EQ_INT(mh_call(&S_client, &S_m, "POST", "/v3/pay/transactions/codepay", body, &res),
                      400);
        ASSERT_EQ_STR(api_error_code(&res), "ORDERREVERSED");
        ASSERT(mh_response_verified(&S_m, &res));
        client_response_release(&res);
    }
    ASSERT_EQ_INT(th_balance(&S_client, &u), 5000);
    ASSERT_EQ_INT(S_reverse(number, what), 404);
    ASSERT_EQ_INT(S_codepay(code, 800, NULL, what), 200);
    ASSERT_EQ_STR(what, "SUCCESS");
    ASSERT_EQ_INT(th_balance(&S_client, &u), 4200);
}

TEST(the_owners_phone_lists_a_reversed_sale_as_all_of_it_back)
{
    // GET /v1/merchants/me/payments: a paid payment-code order the till reversed is REVOKED with
    // all of it refunded, so that the shopkeeper's amount - refunded is what the shop kept (0),
    // as for an order refunded in whole.
    struct api_user u, owner;
    struct S_device d;
    int64_t step = S_payer_new(&u, 5000, &d);
    API_MUST(th_user_new(&S_client, S_admin, &owner));
    struct mh_merchant shop;
    API_MUST(mh_owner_onboard(&S_client, &owner, "rev-shop", &shop));
    char code[PAYCODE_TEXT_SIZE], what[64], number[33];
    S_code(&d, step, 0, code);
    ASSERT_EQ_INT(S_codepay_at(&shop, code, 1999, number, what, NULL, 0), 200);
    ASSERT_EQ_STR(what, "SUCCESS");
    char path[256], body[64];
    snprintf(path, sizeof path, "/v3/pay/transactions/out-trade-no/%s/reverse", number);
    snprintf(body, sizeof body, "{\"mchid\":\"%s\"}", shop.mchid);
    struct client_response res;
    ASSERT_EQ_INT(mh_call(&S_client, &shop, "POST", path, body, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 5000);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/merchants/me/payments", owner.token, NULL, &res),
                  200);
    json_t *j = api_json(&res);
    client_response_release(&res);
    json_t *items = json_object_get(j, "items");
    ASSERT_EQ_INT(json_array_size(items), 1);
    json_t *item = json_array_get(items, 0);
    ASSERT_EQ_STR(json_string_value(json_object_get(item, "out_trade_no")), number);
    ASSERT_EQ_STR(json_string_value(json_object_get(item, "trade_state")), "REVOKED");
    ASSERT_EQ_INT(json_integer_value(json_object_get(item, "amount")), 1999);
    ASSERT_EQ_INT(json_integer_value(json_object_get(item, "refunded")), 1999);
    json_decref(j);
    mh_release(&shop);
}

/* POST .../close of number at S_m: the status, the error's code into what ("" for none). */
static long S_close(const char *number, char what[64])
{
    char path[256], body[64];
    snprintf(path, sizeof path, "/v3/pay/transactions/out-trade-no/%s/close", number);
    snprintf(body, sizeof body, "{\"mchid\":\"%s\"}", S_m.mchid);
    struct client_response res;
    long status = mh_call(&S_client, &S_m, "POST", path, body, &res);
    const char *s = status == 204 ? "" : api_error_code(&res);
    snprintf(what, 64, "%s", s != NULL ? s : "");
    if (!mh_response_verified(&S_m, &res))
        snprintf(what, 64, "UNSIGNED");
    client_response_release(&res);
    return status;
}

TEST(a_codepay_that_arrives_after_a_close_of_its_number_takes_nothing)
{
    // WeChat answers a close of a number it never saw 204, and merchants whose create timed out
    // close to be sure. A till that closes (where it should reverse) a sale whose codepay has not
    // arrived must not then see the payer charged: the late codepay is ORDER_CLOSED, its code
    // unspent. A native order created later under a number so closed is made, as WeChat makes
    // it (its payer is only one the merchant shows it to). A malformed number is a PARAM_ERROR.
    struct api_user u;
    struct S_device d;
    int64_t step = S_payer_new(&u, 5000, &d);
    char code[PAYCODE_TEXT_SIZE], body[1024], number[40], what[64];
    S_code(&d, step, 0, code);
    snprintf(number, sizeof number, "close-early-%lld", (long long)S_now_ms() % 100000000);
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ_INT(S_close(number, what), 204);
        ASSERT_EQ_STR(what, "");
    }
    snprintf(body, sizeof body,
             "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"x\",\"out_trade_no\":"
             "\"%s\",\"amount\":{\"total\":800},\"payer\":{\"auth_code\":\"%s\"}}",
             S_m.appid, S_m.mchid, number, code);
    struct client_response res;
    ASSERT_EQ_INT(mh_call(&S_client, &S_m, "POST", "/v3/pay/transactions/codepay", body, &res),
                  400);
    ASSERT_EQ_STR(api_error_code(&res), "ORDER_CLOSED");
    ASSERT(mh_response_verified(&S_m, &res));
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 5000);
    char path[256];
    snprintf(path, sizeof path, "/v3/pay/transactions/out-trade-no/%s?mchid=%s", number, S_m.mchid);
    ASSERT_EQ_INT(mh_call(&S_client, &S_m, "GET", path, NULL, &res), 404);
    ASSERT_EQ_STR(api_error_code(&res), "ORDER_NOT_EXIST");
    client_response_release(&res);
    ASSERT_EQ_INT(S_codepay(code, 800, NULL, what), 200);
    ASSERT_EQ_STR(what, "SUCCESS");
    ASSERT_EQ_INT(th_balance(&S_client, &u), 4200);

    snprintf(number, sizeof number, "close-native-%lld", (long long)S_now_ms() % 100000000);
    ASSERT_EQ_INT(S_close(number, what), 204);
    snprintf(body, sizeof body,
             "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"x\",\"out_trade_no\":"
             "\"%s\",\"notify_url\":\"https://example.com/n\",\"amount\":{\"total\":100}}",
             S_m.appid, S_m.mchid, number);
    ASSERT_EQ_INT(mh_call(&S_client, &S_m, "POST", "/v3/pay/transactions/native", body, &res), 200);
    ASSERT(api_json_str(&res, "code_url") != NULL);
    client_response_release(&res);
    ASSERT_EQ_INT(S_close("abc", what), 400);
    ASSERT_EQ_STR(what, "PARAM_ERROR");
}

struct S_till {
    pthread_barrier_t *barrier;
    const char *code;
    long status;
    char what[64];
};

static void *S_till_run(void *arg)
{
    struct S_till *t = arg;
    struct client c;
    client_init(&c, S_daemon.base_url);
    char number[40], body[1024];
    snprintf(number, sizeof number, "till-%p", (void *)t);
    snprintf(
        body, sizeof body,
        "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"x\",\"out_trade_no\":\"t%lld%d\","
        "\"amount\":{\"total\":700},\"payer\":{\"auth_code\":\"%s\"}}",
        S_m.appid, S_m.mchid, (long long)S_now_ms() % 100000000, (int)(t->what[0]), t->code);
    struct client_response res;
    pthread_barrier_wait(t->barrier);
    t->status = mh_call(&c, &S_m, "POST", "/v3/pay/transactions/codepay", body, &res);
    const char *s = t->status == 200 ? api_json_str(&res, "trade_state") : api_error_code(&res);
    snprintf(t->what, sizeof t->what, "%s", s != NULL ? s : "");
    client_response_release(&res);
    client_release(&c);
    return NULL;
}

TEST(two_tills_submitting_one_code_at_once_pay_once)
{
    // The same code scanned at two tills and submitted together: one payment, one refusal.
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 10000));
    struct S_device d;
    S_device_add(&u, "phone", &d);
    char code[PAYCODE_TEXT_SIZE];
    S_code(&d, S_settle(), 0, code);
    enum { TILLS = 4 };
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, TILLS);
    struct S_till tills[TILLS];
    pthread_t threads[TILLS];
    for (int i = 0; i < TILLS; i++) {
        memset(&tills[i], 0, sizeof tills[i]);
        tills[i].barrier = &barrier;
        tills[i].code = code;
        tills[i].what[0] = (char)('a' + i);
        pthread_create(&threads[i], NULL, S_till_run, &tills[i]);
    }
    int paid = 0, refused = 0;
    for (int i = 0; i < TILLS; i++) {
        pthread_join(threads[i], NULL);
        if (tills[i].status == 200 && strcmp(tills[i].what, "SUCCESS") == 0)
            paid++;
        else if (tills[i].status == 400 && strcmp(tills[i].what, "AUTH_CODE_INVALID") == 0)
            refused++;
    }
    pthread_barrier_destroy(&barrier);
    ASSERT_EQ_INT(paid, 1);
    ASSERT_EQ_INT(refused, TILLS - 1);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 10000 - 700);
}

TEST(a_revoked_devices_codes_are_refused)
{
    // Revoking a device kills its codes at once, including one already shown.
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 10000));
    struct S_device d;
    S_device_add(&u, "old phone", &d);
    char code[PAYCODE_TEXT_SIZE], what[64], path[128];
    S_code(&d, S_settle(), 0, code);
    snprintf(path, sizeof path, "/v1/me/devices/%s", d.id);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "DELETE", path, u.token, NULL, &res), 204);
    client_response_release(&res);
    ASSERT_EQ_INT(S_codepay(code, 100, NULL, what), 400);
    ASSERT_EQ_STR(what, "AUTH_CODE_INVALID");
    ASSERT_EQ_INT(th_balance(&S_client, &u), 10000);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/devices", u.token, NULL, &res), 200);
    ASSERT(strstr(res.body.data, "\"status\":\"revoked\"") != NULL);
    client_response_release(&res);
}

TEST(five_wrong_codes_lock_the_slot)
{
    // Guessing: wrong tokens for a device's slot count; the fifth locks the slot, after which
    // even the right code is refused, and the security centre shows the lockout.
    struct api_user u;
    struct S_device d;
    int64_t step = S_payer_new(&u, 10000, &d);
    char right[PAYCODE_TEXT_SIZE], wrong[PAYCODE_TEXT_SIZE], what[64];
    S_code(&d, step, 0, right);
    for (int i = 0; i < 4; i++) {
        memcpy(wrong, right, sizeof wrong);
        /* Another token with a correct check digit. */
        wrong[10] = (char)('0' + (right[10] - '0' + 1 + i) % 10);
        wrong[17] = (char)('0' + luhn_check_digit(wrong, 17));
        ASSERT_EQ_INT(S_codepay(wrong, 100, NULL, what), 400);
        ASSERT_EQ_STR(what, "AUTH_CODE_INVALID");
    }
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/security", u.token, NULL, &res), 200);
    ASSERT(strstr(res.body.data, "{\"name\":\"no_recent_lockouts\",\"ok\":true") != NULL);
    client_response_release(&res);
    ASSERT_EQ_INT(S_codepay(wrong, 100, NULL, what), 400);
    ASSERT_EQ_INT(S_codepay(right, 100, NULL, what), 400);
    ASSERT_EQ_STR(what, "AUTH_CODE_INVALID");
    ASSERT_EQ_INT(th_balance(&S_client, &u), 10000);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/security", u.token, NULL, &res), 200);
    ASSERT(strstr(res.body.data, "{\"name\":\"no_recent_lockouts\",\"ok\":false") != NULL);
    client_response_release(&res);
    /* The app is told, rather than handed codes every till will refuse. */
    char path[128];
    snprintf(path, sizeof path, "/v1/me/payment-code?device_id=%s", d.id);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, u.token, NULL, &res), 423);
    ASSERT_EQ_STR(api_error_code(&res), "PAYMENT_CODE_LOCKED");
    ASSERT(strlen(api_json_str(&res, "locked_until")) == 25);
    ASSERT(strstr(api_json_str(&res, "message"), "scanning") != NULL);
    client_response_release(&res);
}

TEST(a_merchant_that_guesses_codes_is_stopped)
{
    // One merchant trying codes across users' slots: each wrong code counts against the merchant
    // as well as the slot. Past twenty in ten minutes its codepay stops, for every code, a right
    // one included, until the window ends, while other merchants go on. A locked slot answers
    // exactly as a slot nobody holds, so the answers do not tell a guesser which slots are live.
    struct mh_merchant g;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &g));
    struct api_user u, v;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_user_new(&S_client, S_admin, &v));
    API_MUST(th_fund(&S_client, S_admin, &v, 10000));
    struct S_device d, e;
    S_device_add(&u, "phone", &d);
    S_device_add(&v, "phone", &e);
    int64_t step = S_settle();
    char right[PAYCODE_TEXT_SIZE], wrong[PAYCODE_TEXT_SIZE], what[64];
    char message[256], locked[256] = "", nobodys[256] = "";
    S_code(&d, step, 0, right);
    for (int i = 0; i < 20; i++) {
        memcpy(wrong, right, sizeof wrong);
        /* Another token; after the slot locks, other slots too. */
        wrong[10] = (char)('0' + (right[10] - '0' + 1 + i % 9) % 10);
        if (i >= 10)
            wrong[3] = (char)('0' + (right[3] - '0' + 1 + i % 9) % 10);
        wrong[17] = (char)('0' + luhn_check_digit(wrong, 17));
        ASSERT_EQ_INT(S_codepay_at(&g, wrong, 100, NULL, what, message, sizeof message), 400);
        ASSERT_EQ_STR(what, "AUTH_CODE_INVALID");
        if (i == 6) /* the fifth locked the slot */
            snprintf(locked, sizeof locked, "%s", message);
        if (i == 10) /* a slot nobody holds */
            snprintf(nobodys, sizeof nobodys, "%s", message);
    }
    ASSERT_EQ_STR(locked, nobodys);
    char code[PAYCODE_TEXT_SIZE], sale[33];
    S_code(&e, step, 0, code);
    ASSERT_EQ_INT(S_codepay_at(&g, code, 100, sale, what, message, sizeof message), 429);
    ASSERT_EQ_STR(what, "RATE_LIMITED");
    if (strstr(message, "refused until") == NULL)
        TEST_FAIL_("the refusal does not say when codepay resumes: %s", message);
    /* The refusal holds only for the window: it is not kept under the sale's
     * number, which a till retries with the customer's next code (were it
     * kept, the number would be another sale's: 201 商户订单号重复). */
    char next[PAYCODE_TEXT_SIZE];
    S_code(&e, step, 1, next);
    ASSERT_EQ_INT(S_codepay_number(&g, next, 100, sale, what, message, sizeof message), 429);
    ASSERT_EQ_STR(what, "RATE_LIMITED");
    ASSERT(S_last_retry_after > 0 && S_last_retry_after <= 600); /* the ten-minute window */
    ASSERT_EQ_INT(th_balance(&S_client, &v), 10000);
    ASSERT_EQ_INT(S_codepay(code, 100, NULL, what), 200);
    ASSERT_EQ_STR(what, "SUCCESS");
    ASSERT_EQ_INT(th_balance(&S_client, &v), 9900);
    mh_release(&g);
}

/* POST /v1/merchants/me/close: owner closes their empty merchant mchid for good. */
static void S_merchant_close(const struct api_user *owner, const char *mchid)
{
    char body[160];
    snprintf(body, sizeof body, "{\"payment_password\":\"%s\",\"mchid\":\"%s\"}", TH_PAY_PASSWORD,
             mchid);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/merchants/me/close", owner->token, body, &res),
                  200);
    client_response_release(&res);
}

TEST(a_merchants_owner_has_one_budget_of_wrong_codes)
{
    // Opening a merchant takes a session and no more, so a budget of wrong codes per merchant
    // would be one per shop its owner opens: ten at once, and without end by closing one and
    // opening another. The budget is its owner's: once one shop spent it, every shop of that
    // owner is stopped, an open one and one opened after closing the first, while another
    // owner's shop takes the same payer's right code.
    struct api_user owner, other, u, v;
    API_MUST(th_user_new(&S_client, S_admin, &owner));
    API_MUST(th_user_new(&S_client, S_admin, &other));
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_user_new(&S_client, S_admin, &v));
    API_MUST(th_fund(&S_client, S_admin, &v, 10000));
    struct mh_merchant m1, m2, m3, n;
    API_MUST(mh_owner_onboard(&S_client, &owner, "猜码一店", &m1));
    API_MUST(mh_owner_onboard(&S_client, &owner, "猜码二店", &m2));
    API_MUST(mh_owner_onboard(&S_client, &other, "隔壁小店", &n));
    struct S_device d, e;
    S_device_add(&u, "phone", &d);
    S_device_add(&v, "phone", &e);
    int64_t step = S_settle();
    char right[PAYCODE_TEXT_SIZE], wrong[PAYCODE_TEXT_SIZE], code[PAYCODE_TEXT_SIZE], what[64];
    S_code(&d, step, 0, right);
    for (int i = 0; i < 20; i++) {
        memcpy(wrong, right, sizeof wrong);
        wrong[10] = (char)('0' + (right[10] - '0' + 1 + i % 9) % 10);
        if (i >= 10)
            wrong[3] = (char)('0' + (right[3] - '0' + 1 + i % 9) % 10);
        wrong[17] = (char)('0' + luhn_check_digit(wrong, 17));
        ASSERT_EQ_INT(S_codepay_at(&m1, wrong, 100, NULL, what, NULL, 0), 400);
        ASSERT_EQ_STR(what, "AUTH_CODE_INVALID");
    }
    S_code(&e, step, 0, code);
    ASSERT_EQ_INT(S_codepay_at(&m1, code, 100, NULL, what, NULL, 0), 429);
    ASSERT_EQ_STR(what, "RATE_LIMITED");
    /* The owner's other shop, with no wrong code of its own. */
    ASSERT_EQ_INT(S_codepay_at(&m2, code, 100, NULL, what, NULL, 0), 429);
    ASSERT_EQ_STR(what, "RATE_LIMITED");
    /* A shop opened after closing the first starts with nothing left either. */
    S_merchant_close(&owner, m1.mchid);
    API_MUST(mh_owner_onboard(&S_client, &owner, "猜码三店", &m3));
    ASSERT_EQ_INT(S_codepay_at(&m3, code, 100, NULL, what, NULL, 0), 429);
    ASSERT_EQ_STR(what, "RATE_LIMITED");
    ASSERT_EQ_INT(th_balance(&S_client, &v), 10000);
    /* Another owner's shop is not stopped. */
    ASSERT_EQ_INT(S_codepay_at(&n, code, 100, NULL, what, NULL, 0), 200);
    ASSERT_EQ_STR(what, "SUCCESS");
    ASSERT_EQ_INT(th_balance(&S_client, &v), 9900);
    mh_release(&m1);
    mh_release(&m2);
    mh_release(&m3);
    mh_release(&n);
}

TEST(above_the_password_free_amount_the_payer_confirms)
{
    // ¥300 is above the ¥200 password-free amount: the order is USERPAYING until the payer
    // confirms with the payment password (a wrong one is refused), then SUCCESS; nobody else
    // sees or confirms it.
    struct api_user u, v;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_user_new(&S_client, S_admin, &v));
    API_MUST(th_fund(&S_client, S_admin, &u, 50000));
    struct S_device d;
    S_device_add(&u, "phone", &d);
    char code[PAYCODE_TEXT_SIZE], what[64], number[33];
    S_code(&d, S_settle(), 0, code);
    ASSERT_EQ_INT(S_codepay(code, 30000, number, what), 202);
    ASSERT_EQ_STR(what, "USERPAYING");
    json_t *o = S_query(number);
    ASSERT_EQ_STR(S_state(o), "USERPAYING");
    json_decref(o);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 50000);

    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/pending-payments", v.token, NULL, &res), 200);
    ASSERT(strstr(res.body.data, number) == NULL);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/pending-payments", u.token, NULL, &res), 200);
    json_t *list = api_json(&res);
    client_response_release(&res);
    json_t *item = json_array_get(json_object_get(list, "items"), 0);
    ASSERT(item != NULL);
    ASSERT_EQ_STR(json_string_value(json_object_get(item, "out_trade_no")), number);
    ASSERT_EQ_INT(json_integer_value(json_object_get(item, "amount")), 30000);
    char path[128];
    snprintf(path, sizeof path, "/v1/me/pending-payments/%s/confirm",
             json_string_value(json_object_get(item, "id")));
    json_decref(list);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", path, v.token, "c-v",
                                "{\"payment_password\":\"135790\"}", &res),
                  404);
    ASSERT_EQ_STR(api_error_code(&res), "ORDER_NOT_EXIST");
    client_response_release(&res);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", path, u.token, "c-1",
                                "{\"payment_password\":\"000000\"}", &res),
                  403);
    ASSERT_EQ_STR(api_error_code(&res), "PASSWORD_WRONG");
    client_response_release(&res);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", path, u.token, "c-2",
                                "{\"payment_password\":\"135790\"}", &res),
                  201);
    client_response_release(&res);
    o = S_query(number);
    ASSERT_EQ_STR(S_state(o), "SUCCESS");
    json_decref(o);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 20000);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", path, u.token, "c-3",
                                "{\"payment_password\":\"135790\"}", &res),
                  400);
    ASSERT_EQ_STR(api_error_code(&res), "ORDERPAID");
    client_response_release(&res);
}

TEST(codes_and_transfers_share_five_payments_a_day_without_the_password)
{
    // Whoever holds an unlocked phone pays at most five times a day without the password, by
    // code or by transfer together: after three password-free transfers two codes pay at once
    // and the third waits for the payer; GET /v1/me/limits counts all five.
    struct api_user u, v;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(api_user_new(&S_client, S_admin, &v));
    API_MUST(th_fund(&S_client, S_admin, &u, 50000));
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "PUT", "/v1/me/limits", u.token,
                           "{\"password_free_limit\":1000,\"payment_password\":\"" TH_PAY_PASSWORD
                           "\"}",
                           &res),
                  200);
    client_response_release(&res);
    char body[128], key[16];
    snprintf(body, sizeof body, "{\"to\":\"%s\",\"amount\":100}", v.phone);
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "pf-%d", i);
        ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/transfers", u.token, key, body, &res),
                      201);
        client_response_release(&res);
    }
    struct S_device d;
    S_device_add(&u, "phone", &d);
    int64_t step = S_settle();
    char code[PAYCODE_TEXT_SIZE], what[64];
    for (int i = 0; i < 2; i++) {
        S_code(&d, step, i, code);
        ASSERT_EQ_INT(S_codepay(code, 100, NULL, what), 200);
        ASSERT_EQ_STR(what, "SUCCESS");
    }
    S_code(&d, step, 2, code);
    ASSERT_EQ_INT(S_codepay(code, 100, NULL, what), 202);
    ASSERT_EQ_STR(what, "USERPAYING");
    ASSERT_EQ_INT(th_balance(&S_client, &u), 50000 - 500);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/limits", u.token, NULL, &res), 200);
    ASSERT_EQ_INT(api_json_int(&res, "password_free_used_today", -1), 5);
    client_response_release(&res);
    /* And the other way: with the five used, a password-free transfer asks for the password. */
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/transfers", u.token, "pf-3", body, &res),
                  400);
    ASSERT(strstr(api_json_str(&res, "message"), "used up") != NULL);
    client_response_release(&res);
}

/* u's wallet now (whose cursor is now) differs from the changes cursor since in its waiting
 * payments alone: its bills and notices are as they were. */
static void S_only_pending_changed(const struct api_user *u, const char *since, const char *now)
{
    char path[256], cursor[TH_CURSOR_SIZE], changed[128];
    snprintf(path, sizeof path, "/v1/me/changes?since=%s", since);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, u->token, NULL, &res), 200);
    ASSERT(th_changes_parse(res.body.data, res.body.size, cursor, changed, sizeof changed));
    client_response_release(&res);
    ASSERT_EQ_STR(cursor, now);
    ASSERT_EQ_STR(changed, "pending_payments");
}

TEST(an_unconfirmed_payment_is_revoked_after_the_confirmation_time)
{
    // Nobody confirms: after the confirmation time the order reads REVOKED, leaves the pending
    // list, cannot be confirmed, and no money moved.
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 50000));
    struct S_device d;
    S_device_add(&u, "phone", &d);
    char code[PAYCODE_TEXT_SIZE], what[64], number[33];
    S_code(&d, S_settle(), 0, code);
    // The payer's app, waiting for news of the wallet while the code is shown, hears of the
    // payment to confirm at once (nothing else changed), and later of its revocation.
    char cursor[TH_CURSOR_SIZE], shown[TH_CURSOR_SIZE], revoked[TH_CURSOR_SIZE], changed[128];
    th_changes_cursor(&S_client, &u, cursor);
    struct th_wait w;
    th_wait_start(&w, S_daemon.base_url, &u, cursor, 15);
    ASSERT(th_waiting_is(&S_client, 1));
    ASSERT_EQ_INT(S_codepay(code, 25000, number, what), 202);
    th_wait_join(&w, shown, changed, sizeof changed);
    ASSERT_EQ_STR(changed, "pending_payments");
    if (w.seconds >= 10)
        TEST_FAIL_("the payment to confirm was heard of after %.1f s", w.seconds);
    th_wait_start(&w, S_daemon.base_url, &u, shown, 15);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/pending-payments", u.token, NULL, &res), 200);
    json_t *list = api_json(&res);
    client_response_release(&res);
    char path[128];
    snprintf(path, sizeof path, "/v1/me/pending-payments/%s/confirm",
             json_string_value(
                 json_object_get(json_array_get(json_object_get(list, "items"), 0), "id")));
    json_decref(list);
    th_wait_join(&w, revoked, changed, sizeof changed);
    ASSERT_EQ_STR(changed, "pending_payments");
    /* Nothing moved and nothing was noticed: only the waiting payments' part differs. */
    S_only_pending_changed(&u, cursor, revoked);
    ASSERT(strcmp(revoked, shown) != 0 && strcmp(shown, cursor) != 0);
    if (w.seconds >= S_CONFIRM_S + 5)
        TEST_FAIL_("the revocation was heard of after %.1f s", w.seconds);
    usleep(700 * 1000);
    json_t *o = S_query(number);
    ASSERT_EQ_STR(S_state(o), "REVOKED");
    json_decref(o);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/pending-payments", u.token, NULL, &res), 200);
    ASSERT(strstr(res.body.data, number) == NULL);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", path, u.token, "late",
                                "{\"payment_password\":\"135790\"}", &res),
                  400);
    ASSERT_EQ_STR(api_error_code(&res), "ORDER_CLOSED");
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 50000);
}

TEST(a_waiting_payment_that_leaves_before_a_later_one_is_news)
{
    // Two code payments wait for one payer; the merchant reverses the one that would expire
    // first. It left the payer's list while the other still waits, so the app waiting for news
    // of the wallet is told at once that its payments to confirm changed (else it would go on
    // showing one that can only be refused ORDER_CLOSED), and nothing else: no money moved.
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 90000));
    struct S_device d;
    S_device_add(&u, "phone", &d);
    char code[PAYCODE_TEXT_SIZE], what[64], first[33], second[33];
    int64_t step = S_settle();
    S_code(&d, step, 0, code);
    ASSERT_EQ_INT(S_codepay(code, 30000, first, what), 202);
    S_code(&d, step, 1, code);
    ASSERT_EQ_INT(S_codepay(code, 31000, second, what), 202);
    char cursor[TH_CURSOR_SIZE], after[TH_CURSOR_SIZE], changed[128];
    th_changes_cursor(&S_client, &u, cursor);
    struct th_wait w;
    th_wait_start(&w, S_daemon.base_url, &u, cursor, 2);
    ASSERT(th_waiting_is(&S_client, 1));
    ASSERT_EQ_INT(S_reverse(first, what), 200);
    ASSERT_EQ_STR(what, "REVOKED");
    th_wait_join(&w, after, changed, sizeof changed);
    ASSERT_EQ_STR(changed, "pending_payments");
    if (w.seconds >= 1.5)
        TEST_FAIL_("the reversal was heard of after %.1f s", w.seconds);
    /* The bills' and the notices' parts are as they were. */
    S_only_pending_changed(&u, cursor, after);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/pending-payments", u.token, NULL, &res), 200);
    ASSERT(strstr(res.body.data, first) == NULL && strstr(res.body.data, second) != NULL);
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 90000);
}

TEST(the_password_free_amount_and_count_can_be_lowered)
{
    // Five password-free code payments a day, the sixth waits for the payer; a user who lowers
    // the amount to 0 confirms every code payment; raising above the maximum is refused.
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 50000));
    struct S_device d;
    S_device_add(&u, "phone", &d);
    char code[PAYCODE_TEXT_SIZE], what[64];
    int64_t step = S_settle();
    for (int i = 0; i < 5; i++) {
        S_code(&d, step, i, code);
        ASSERT_EQ_INT(S_codepay(code, 100, NULL, what), 200);
    }
    S_code(&d, step, 5, code);
    ASSERT_EQ_INT(S_codepay(code, 100, NULL, what), 202);
    ASSERT_EQ_STR(what, "USERPAYING");

    struct api_user w;
    API_MUST(th_user_new(&S_client, S_admin, &w));
    API_MUST(th_fund(&S_client, S_admin, &w, 50000));
    struct S_device e;
    S_device_add(&w, "phone", &e);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "PUT", "/v1/me/payment-code-settings", w.token,
                           "{\"password_free_limit\":20001,\"payment_password\":\"135790\"}", &res),
                  400);
    /* Above the maximum, which the message says: not "only lowered", which sent users to lower. */
    ASSERT(strstr(api_json_str(&res, "message"), "password_free_limit must be 0 to 20000") != NULL);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "PUT", "/v1/me/payment-code-settings", w.token,
                           "{\"password_free_limit\":0,\"payment_password\":\"135790\"}", &res),
                  200);
    ASSERT_EQ_INT(api_json_int(&res, "password_free_limit", -1), 0);
    ASSERT_EQ_INT(api_json_int(&res, "password_free_daily_count", -1), 5);
    client_response_release(&res);
    S_code(&e, S_settle(), 0, code);
    ASSERT_EQ_INT(S_codepay(code, 1, NULL, what), 202);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/payment-code-settings", w.token, NULL, &res),
                  200);
    ASSERT_EQ_INT(api_json_int(&res, "password_free_limit", -1), 0);
    client_response_release(&res);
}

TEST(reverse_revokes_and_returns_a_paid_orders_money)
{
    // Reverse: a paid order's money goes back to the payer and the order is REVOKED; again is
    // the same answer; a waiting order is revoked and can no longer be confirmed; a native order
    // cannot be reversed.
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 50000));
    struct S_device d;
    S_device_add(&u, "phone", &d);
    char code[PAYCODE_TEXT_SIZE], what[64], paid[33], waiting[33];
    int64_t step = S_settle();
    S_code(&d, step, 0, code);
    ASSERT_EQ_INT(S_codepay(code, 1999, paid, what), 200);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 50000 - 1999);
    ASSERT_EQ_INT(S_reverse(paid, what), 200);
    ASSERT_EQ_STR(what, "REVOKED");
    ASSERT_EQ_INT(th_balance(&S_client, &u), 50000);
    ASSERT_EQ_INT(S_reverse(paid, what), 200);
    ASSERT_EQ_STR(what, "REVOKED");
    ASSERT_EQ_INT(th_balance(&S_client, &u), 50000);
    /* A till that closes it after is not told to reverse what it reversed. */
    {
        char path[256], body[64];
        snprintf(path, sizeof path, "/v3/pay/transactions/out-trade-no/%s/close", paid);
        snprintf(body, sizeof body, "{\"mchid\":\"%s\"}", S_m.mchid);
        struct client_response res;
        ASSERT_EQ_INT(mh_call(&S_client, &S_m, "POST", path, body, &res), 400);
        ASSERT_EQ_STR(api_error_code(&res), "INVALID_REQUEST");
        ASSERT(strstr(res.body.data, "revoked already") != NULL);
        ASSERT(strstr(res.body.data, "reverse revokes it") == NULL);
        client_response_release(&res);
    }

    /* The money came back without the payer: one order_refunded notice for all of it, as a
     * refund gives, naming the payment it returns and the merchant; the second reversal, which
     * moved nothing, wrote none. */
    struct client_response notices;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/notices", u.token, NULL, &notices), 200);
    json_t *notices_body = api_json(&notices);
    client_response_release(&notices);
    json_t *notice_items = json_object_get(notices_body, "items");
    ASSERT_EQ_INT(json_array_size(notice_items), 1);
    json_t *notice = json_array_get(notice_items, 0);
    ASSERT_EQ_STR(json_string_value(json_object_get(notice, "type")), "order_refunded");
    ASSERT_EQ_INT(json_integer_value(json_object_get(notice, "amount")), 1999);
    ASSERT_EQ_STR(json_string_value(json_object_get(notice, "currency")), "CNY");
    ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(notice, "counterparty"), "id")),
                  S_m.mchid);
    const char *notice_payment = json_string_value(json_object_get(notice, "payment_id"));
    ASSERT(notice_payment != NULL && strncmp(notice_payment, "p_", 2) == 0);

    /* The payer's bills: the money back is a refund from the merchant, named, found by the
     * merchant's filter, and the statement's line for the merchant nets to zero. */
    struct client_response bills;
    char path[160];
    snprintf(path, sizeof path, "/v1/me/transactions?counterparty=%s", S_m.mchid);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, u.token, NULL, &bills), 200);
    json_t *bills_body = api_json(&bills);
    json_t *items = json_object_get(bills_body, "items");
    ASSERT_EQ_INT(json_array_size(items), 2);
    json_t *back = json_array_get(items, 0);
    ASSERT_EQ_STR(json_string_value(json_object_get(back, "type")), "order_refund");
    ASSERT_EQ_STR(json_string_value(json_object_get(back, "direction")), "in");
    ASSERT_EQ_INT(json_integer_value(json_object_get(back, "amount")), 1999);
    ASSERT_EQ_STR(json_string_value(json_object_get(back, "status")), "SUCCESS");
    ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(back, "counterparty"), "id")),
                  S_m.mchid);
    ASSERT_EQ_INT(json_integer_value(json_object_get(back, "balance_after")), 50000);
    ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(items, 1), "type")),
                  "order_payment");
    /* The notice names the payment the bills' line for the money back carries. */
    ASSERT_EQ_STR(json_string_value(json_object_get(back, "id")), notice_payment);
    json_decref(notices_body);
    json_decref(bills_body);
    client_response_release(&bills);
    time_t beijing = time(NULL) + 8 * 3600;
    struct tm tm;
    gmtime_r(&beijing, &tm);
    snprintf(path, sizeof path, "/v1/me/statements/%04d-%02d", tm.tm_year + 1900, tm.tm_mon + 1);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, u.token, NULL, &bills), 200);
    bills_body = api_json(&bills);
    client_response_release(&bills);
    json_t *parties = json_object_get(bills_body, "by_counterparty");
    bool seen = false;
    for (size_t i = 0; i < json_array_size(parties); i++) {
        json_t *party = json_array_get(parties, i);
        const char *id =
            json_string_value(json_object_get(json_object_get(party, "counterparty"), "id"));
        if (id == NULL || strcmp(id, S_m.mchid) != 0)
            continue;
        seen = true;
        ASSERT_EQ_INT(json_integer_value(json_object_get(party, "income")), 1999);
        ASSERT_EQ_INT(json_integer_value(json_object_get(party, "expense")), 1999);
    }
    ASSERT(seen);
    json_decref(bills_body);

    S_code(&d, step, 1, code);
    ASSERT_EQ_INT(S_codepay(code, 30000, waiting, what), 202);
    /* A till that closes a waiting code payment, as it would an unpaid order, has not stopped
     * the payer confirming it: closing is refused, and says to reverse. */
    struct client_response res;
    char close_path[256], close_body[64];
    snprintf(close_path, sizeof close_path, "/v3/pay/transactions/out-trade-no/%s/close", waiting);
    snprintf(close_body, sizeof close_body, "{\"mchid\":\"%s\"}", S_m.mchid);
    ASSERT_EQ_INT(mh_call(&S_client, &S_m, "POST", close_path, close_body, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "INVALID_REQUEST");
    ASSERT(strstr(res.body.data, "reverse") != NULL);
    client_response_release(&res);
    /* WeChat's reverse names the app as well: another merchant's is refused, its own taken. */
    snprintf(close_path, sizeof close_path, "/v3/pay/transactions/out-trade-no/%s/reverse",
             waiting);
    char reverse_body[160];
    snprintf(reverse_body, sizeof reverse_body,
             "{\"appid\":\"wx0000000000000000\",\"mchid\":\"%s\"}", S_m.mchid);
    ASSERT_EQ_INT(mh_call(&S_client, &S_m, "POST", close_path, reverse_body, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "APPID_MCHID_NOT_MATCH");
    client_response_release(&res);
    snprintf(reverse_body, sizeof reverse_body, "{\"appid\":\"%s\",\"mchid\":\"%s\"}", S_m.appid,
             S_m.mchid);
    ASSERT_EQ_INT(mh_call(&S_client, &S_m, "POST", close_path, reverse_body, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "trade_state"), "REVOKED");
    client_response_release(&res);
    ASSERT_EQ_INT(S_reverse(waiting, what), 200);
    ASSERT_EQ_STR(what, "REVOKED");
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/pending-payments", u.token, NULL, &res), 200);
    ASSERT(strstr(res.body.data, waiting) == NULL);
    client_response_release(&res);

    ASSERT_EQ_INT(S_reverse("no-such-order-1", what), 404);
    ASSERT_EQ_STR(what, "ORDER_NOT_EXIST");
    char body[1024], number[40];
    snprintf(number, sizeof number, "native-rev-%lld", (long long)S_now_ms() % 1000000);
    snprintf(body, sizeof body,
             "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"x\",\"out_trade_no\":"
             "\"%s\",\"notify_url\":\"https://example.com/n\",\"amount\":{\"total\":100}}",
             S_m.appid, S_m.mchid, number);
    ASSERT_EQ_INT(mh_call(&S_client, &S_m, "POST", "/v3/pay/transactions/native", body, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(S_reverse(number, what), 400);
    ASSERT_EQ_STR(what, "INVALID_REQUEST");
}

TEST(an_online_code_from_the_server_pays)
{
    // GET /v1/me/payment-code answers a fresh 18-digit code starting 19 that pays once; a
    // device id of another user is not found.
    struct api_user u, v;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_user_new(&S_client, S_admin, &v));
    API_MUST(th_fund(&S_client, S_admin, &u, 10000));
    S_settle();
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/payment-code", u.token, NULL, &res), 200);
    char code[PAYCODE_TEXT_SIZE], second[PAYCODE_TEXT_SIZE], what[64];
    snprintf(code, sizeof code, "%s", api_json_str(&res, "code"));
    ASSERT(api_json_str(&res, "expires_at") != NULL);
    client_response_release(&res);
    struct paycode p;
    ASSERT(paycode_parse(code, strlen(code), &p));
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/payment-code", u.token, NULL, &res), 200);
    snprintf(second, sizeof second, "%s", api_json_str(&res, "code"));
    client_response_release(&res);
    ASSERT(strcmp(code, second) != 0);
    /* The server-held device it made is in the history, as a device added by hand is. */
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/security-events", u.token, NULL, &res), 200);
    ASSERT(strstr(res.body.data, "\"paycode_device_added\"") != NULL);
    ASSERT(strstr(res.body.data, " name=online\"") != NULL);
    client_response_release(&res);
    ASSERT_EQ_INT(S_codepay(code, 300, NULL, what), 200);
    ASSERT_EQ_INT(S_codepay(code, 300, NULL, what), 400);
    ASSERT_EQ_INT(S_codepay(second, 300, NULL, what), 200);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 9400);

    struct S_device d;
    S_device_add(&u, "watch", &d);
    char path[128];
    snprintf(path, sizeof path, "/v1/me/payment-code?device_id=%s", d.id);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, v.token, NULL, &res), 404);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, u.token, NULL, &res), 200);
    snprintf(code, sizeof code, "%s", api_json_str(&res, "code"));
    client_response_release(&res);
    ASSERT(paycode_parse(code, strlen(code), &p));
    ASSERT_EQ_INT(p.slot, d.slot);
    ASSERT_EQ_INT(p.counter, 9);
}

TEST(bad_codepay_bodies_are_refused_and_change_nothing)
{
    // Missing payer, another merchant's appid, a non-CNY currency, an over-long auth_code.
    char body[1024], what[64];
    struct client_response res;
    snprintf(body, sizeof body,
             "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"x\",\"out_trade_no\":"
             "\"bad-body-1\",\"amount\":{\"total\":100}}",
             S_m.appid, S_m.mchid);
    ASSERT_EQ_INT(mh_call(&S_client, &S_m, "POST", "/v3/pay/transactions/codepay", body, &res),
                  400);
    ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
    client_response_release(&res);
    snprintf(body, sizeof body,
             "{\"appid\":\"wx0000000000000000\",\"mchid\":\"%s\",\"description\":\"x\","
             "\"out_trade_no\":\"bad-body-2\",\"amount\":{\"total\":100},"
             "\"payer\":{\"auth_code\":\"190000000010425915\"}}",
             S_m.mchid);
    ASSERT_EQ_INT(mh_call(&S_client, &S_m, "POST", "/v3/pay/transactions/codepay", body, &res),
                  400);
    ASSERT_EQ_STR(api_error_code(&res), "APPID_MCHID_NOT_MATCH");
    client_response_release(&res);
    ASSERT_EQ_INT(S_codepay("1900000000104259151900000000104259", 100, NULL, what), 400);
    ASSERT_EQ_STR(what, "PARAM_ERROR");
}

/* Stops the daemon and starts it again on the same directory, its clock offset_ms ahead of the
 * real one (QIANBAO_TEST_CLOCK_OFFSET_MS); sessions are logged in again by the caller. */
static void S_restart(int64_t offset_ms)
{
    ASSERT_EQ_INT(test_daemon_stop(&S_daemon), 0);
    client_release(&S_client);
    char confirm[8], offset[32];
    snprintf(confirm, sizeof confirm, "%d", S_CONFIRM_S);
    snprintf(offset, sizeof offset, "%lld", (long long)offset_ms);
    const char *args[] = {"--paycode-confirm-s", confirm, NULL};
    setenv("QIANBAO_TEST_CLOCK_OFFSET_MS", offset, 1);
    bool started = api_daemon_start(&S_daemon, S_root, "paycode", args, S_admin);
    unsetenv("QIANBAO_TEST_CLOCK_OFFSET_MS");
    client_init(&S_client, S_daemon.base_url);
    API_MUST(started);
    S_clock_offset_ms = offset_ms;
}

TEST(a_sale_older_than_seven_days_is_refunded_not_reversed)
{
    // WeChat reverses an order within 7 days of its making; an older sale is refunded. A
    // reversal has none of a refund's rules (its window, its notification, its bill line), so
    // it must not reach past them: with the daemon's clock 8 days on, the reversal is refused
    // and moves nothing, and the refund gives the money back.
    struct api_user u;
    struct S_device d;
    int64_t step = S_payer_new(&u, 50000, &d);
    char code[PAYCODE_TEXT_SIZE], what[64], paid[33];
    S_code(&d, step, 0, code);
    ASSERT_EQ_INT(S_codepay(code, 1999, paid, what), 200);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 50000 - 1999);

    S_restart(8LL * 86400 * 1000);
    mh_clock_offset_s = 8LL * 86400;
    th_relogin(&S_client, S_admin, &u);

    ASSERT_EQ_INT(S_reverse(paid, what), 400);
    ASSERT_EQ_STR(what, "INVALID_REQUEST");
    ASSERT_EQ_INT(th_balance(&S_client, &u), 50000 - 1999);
    struct client_response res;
    ASSERT_EQ_INT(rh_refund(&S_client, &S_m, paid, "old-sale-r1", 1999, 1999, NULL, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 50000);
    mh_clock_offset_s = 0;
}

/* GET /v1/me/payment-code of u (device_id NULL: the server-held device): the status, the
 * device's id into device_id when it answered 200, else the error code into what, and the
 * Retry-After header into retry_after_s (0: none) and locked_until into locked_until. */
static long S_issue(const struct api_user *u, const char *device_id, char out_id[API_ID_SIZE_MAX],
                    char what[64], long long *retry_after_s, char locked_until[64])
{
    char path[128];
    if (device_id != NULL)
        snprintf(path, sizeof path, "/v1/me/payment-code?device_id=%s", device_id);
    else
        snprintf(path, sizeof path, "/v1/me/payment-code");
    struct client_response res;
    long status = api_call(&S_client, "GET", path, u->token, NULL, &res);
    const char *s = status == 200 ? api_json_str(&res, "device_id") : api_error_code(&res);
    if (status == 200)
        snprintf(out_id, API_ID_SIZE_MAX, "%s", s != NULL ? s : "");
    snprintf(what, 64, "%s", s != NULL ? s : "");
    *retry_after_s = atoll(api_header(&res, "Retry-After"));
    const char *until = status == 200 ? NULL : api_json_str(&res, "locked_until");
    snprintf(locked_until, 64, "%s", until != NULL ? until : "");
    client_response_release(&res);
    return status;
}

static void S_device_revoke(const struct api_user *u, const char *device_id)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/me/devices/%s", device_id);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "DELETE", path, u->token, NULL, &res), 204);
    client_response_release(&res);
}

TEST(a_wallet_adds_at_most_ten_devices_a_day)
{
    // Every device added takes a slot of the one pool of ten million that all wallets' codes
    // share, and a revoked device's slot stays out of it for 24 hours. Revoking the server-held
    // device and asking for a code made another, without the payment password, as often as one
    // liked: one wallet could take slots until every wallet's new devices were refused
    // (SYSTEM_BUSY). Additions of either kind are counted over the last 24 hours in the
    // database: the eleventh is 429 RATE_LIMITED with when the next may come, a restart does not
    // forget it, a device already there still makes codes, and 24 hours on it is allowed again.
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    struct S_device d;
    S_device_add(&u, "phone", &d);
    char id[API_ID_SIZE_MAX], what[64], until[64];
    long long retry_after_s;
    for (int i = 1; i < 10; i++) {
        ASSERT_EQ_INT(S_issue(&u, NULL, id, what, &retry_after_s, until), 200);
        ASSERT(strcmp(id, d.id) != 0);
        S_device_revoke(&u, id);
    }

    ASSERT_EQ_INT(S_issue(&u, NULL, id, what, &retry_after_s, until), 429);
    ASSERT_EQ_STR(what, "RATE_LIMITED");
    /* The next addition is allowed when the first of the ten is 24 hours old. */
    ASSERT(retry_after_s > 86400 - 120 && retry_after_s <= 86400);
    ASSERT(strlen(until) > 6 && strcmp(until + strlen(until) - 6, "+08:00") == 0);
    char body[256];
    snprintf(body, sizeof body, "{\"name\":\"watch\",\"payment_password\":\"%s\"}",
             TH_PAY_PASSWORD);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/devices", u.token, body, &res), 429);
    ASSERT_EQ_STR(api_error_code(&res), "RATE_LIMITED");
    ASSERT(atoll(api_header(&res, "Retry-After")) > 86400 - 120);
    ASSERT(api_json_str(&res, "locked_until") != NULL);
    client_response_release(&res);
    ASSERT_EQ_INT(S_issue(&u, d.id, id, what, &retry_after_s, until), 200);
    ASSERT_EQ_STR(id, d.id);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/devices", u.token, NULL, &res), 200);
    json_t *j = api_json(&res);
    client_response_release(&res);
    ASSERT_EQ_INT(json_array_size(json_object_get(j, "items")), 10);
    json_decref(j);

    /* Durable: a restart gives no fresh day. */
    int64_t offset_ms = S_clock_offset_ms;
    S_restart(offset_ms);
    th_relogin(&S_client, S_admin, &u);
    ASSERT_EQ_INT(S_issue(&u, NULL, id, what, &retry_after_s, until), 429);
    ASSERT_EQ_STR(what, "RATE_LIMITED");

    S_restart(offset_ms + 86400LL * 1000 + 60 * 1000);
    th_relogin(&S_client, S_admin, &u);
    ASSERT_EQ_INT(S_issue(&u, NULL, id, what, &retry_after_s, until), 200);
    ASSERT_EQ_INT(retry_after_s, 0);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    char confirm[8];
    snprintf(confirm, sizeof confirm, "%d", S_CONFIRM_S);
    const char *args[] = {"--paycode-confirm-s", confirm, NULL};
    if (api_suite_step(crypto_init(), "crypto_init") &&
        api_suite_daemon(&suite, &S_daemon, "paycode", args, S_admin, &S_client) &&
        api_suite_step(mh_onboard(&S_client, S_admin, -1, &S_m), "onboard a merchant")) {
        RUN(devices_are_provisioned_with_the_password_and_listed_without_seeds);
        RUN(a_code_is_sent_with_one_cache_control);
        RUN(a_code_pays_once_within_one_step_either_way);
        RUN(a_freeze_ends_the_payment_codes_of_a_lost_phone);
        RUN(codes_need_a_payment_password_and_a_wallet_that_is_not_frozen);
        RUN(a_locked_payment_password_makes_every_code_wait_for_the_payer);
        RUN(a_low_balance_spends_the_code_and_answers_not_enough);
        RUN(a_retry_of_the_same_request_is_answered_the_same);
        RUN(two_tills_submitting_one_code_at_once_pay_once);
        RUN(a_revoked_devices_codes_are_refused);
        RUN(five_wrong_codes_lock_the_slot);
        RUN(a_merchant_that_guesses_codes_is_stopped);
        RUN(a_merchants_owner_has_one_budget_of_wrong_codes);
        RUN(above_the_password_free_amount_the_payer_confirms);
        RUN(codes_and_transfers_share_five_payments_a_day_without_the_password);
        RUN(an_unconfirmed_payment_is_revoked_after_the_confirmation_time);
        RUN(a_waiting_payment_that_leaves_before_a_later_one_is_news);
        RUN(the_password_free_amount_and_count_can_be_lowered);
        RUN(reverse_revokes_and_returns_a_paid_orders_money);
        RUN(a_retry_after_a_reversal_is_told_the_order_was_reversed);
        RUN(a_codepay_that_arrives_after_its_reversal_takes_nothing);
        RUN(a_codepay_that_arrives_after_a_close_of_its_number_takes_nothing);
        RUN(the_owners_phone_lists_a_reversed_sale_as_all_of_it_back);
        RUN(a_sale_resent_from_another_till_is_the_same_sale);
        RUN(a_code_past_a_limit_is_refused_at_once);
        RUN(an_expired_code_is_told_apart_and_counts_nowhere);
        RUN(an_online_code_from_the_server_pays);
        RUN(bad_codepay_bodies_are_refused_and_change_nothing);
        RUN(a_sale_older_than_seven_days_is_refunded_not_reversed); /* moves the clock */
        RUN(a_wallet_adds_at_most_ten_devices_a_day); /* moves it a day further: last */
    }
    mh_release(&S_m);
    return api_suite_end(&suite);
}

/*
 * test_topup.c — top-ups and withdrawals through the sandbox bank, as a
 * client sees them: balances via GET /v1/me/balances, payments via
 * GET /v1/me/payments/{id}, every sandbox test card, idempotent retries,
 * and a restart with a withdrawal still PROCESSING.
 *
 * One daemon, the SMS cooldown off. Default fees: 0.1 %, at least ¥0.10.
 * The slow cases (a bank that confirms after 3 s, a submission that times
 * out and is resolved by the worker 6 s later) are started together and
 * then awaited together, so the program stays well under a minute.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "api/lib/api.h"
#include "api/lib/client.h"
#include "api/lib/daemon.h"
#include "api/lib/suite.h"
#include "base/rand.h"
#include "test.h"

#define S_PAY "135790"
#define S_LOG_SIZE_MAX (4 * 1024 * 1024)
#define S_WAIT_MS 15000 /* a worker resolution: grace 6 s, then a poll */

/* Sandbox test cards (docs/sandbox.md). */
#define CARD_OK "9999000000000012"
#define CARD_DECLINE "9999000000000020"
#define CARD_NO_FUNDS "9999000000000038"
#define CARD_TIMEOUT_DONE "9999000000000046"
#define CARD_TIMEOUT_LOST "9999000000000053"
#define CARD_LATE_OK "9999000000000061"
#define CARD_LATE_FAIL "9999000000000079"
#define CARD_SLOW "9999000000000087"
#define CARD_ICBC "6222020000000000018"
/* More cards of 中国工商银行: a real bank's card binds with one phone, its own, so each user
 * of these tests binds a number of their own. */
#define CARD_ICBC_2 "6222020000000000026"
#define CARD_ICBC_3 "6222020000000000034"

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];
static char S_log[S_LOG_SIZE_MAX];
static unsigned S_key_counter;

static void S_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* A bind_card code's target: the whole card number (kept only as its keyed hash). */
static void S_target(const char *number, char out[24]) { snprintf(out, 24, "%s", number); }

/* A fresh user with a payment password. */
static void S_user(struct api_user *u)
{
    API_MUST(api_user_new(&S_client, S_admin, u));
    API_MUST(api_payment_password_set(&S_client, S_admin, u, S_PAY));
}

/* Binds number in holder's name to u (code on u's phone); the card id into id. */
static void S_card_named(const struct api_user *u, const char *number, const char *holder,
                         char id[API_ID_SIZE_MAX])
{
    char target[24], code[API_SMS_CODE_SIZE];
    S_target(number, target);
    ASSERT_EQ_INT(api_sms_request_as(&S_client, u->token, u->phone, "bind_card", target), 202);
    API_MUST(api_sms_code_read(&S_client, S_admin, u->phone, "bind_card", code));
    char body[512];
    snprintf(body, sizeof body,
             "{\"card_number\":\"%s\",\"holder_name\":\"%s\",\"phone\":\"%s\",\"sms_code\":\"%s\"}",
             number, holder, u->phone, code);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/cards", u->token, body, &res), 201);
    snprintf(id, API_ID_SIZE_MAX, "%s", api_json_str(&res, "id"));
    client_response_release(&res);
}

static void S_card(const struct api_user *u, const char *number, char id[API_ID_SIZE_MAX])
{
    S_card_named(u, number, "李四", id);
}

/* POST path {card_id, amount, payment_password} with key (a fresh one when
 * NULL). The answer in res. */
static long S_pay(const struct api_user *u, const char *path, const char *card_id, long long amount,
                  const char *password, const char *key, struct client_response *res)
{
    char body[256], fresh[48];
    snprintf(body, sizeof body, "{\"card_id\":\"%s\",\"amount\":%lld,\"payment_password\":\"%s\"}",
             card_id, amount, password);
    if (key == NULL) {
        snprintf(fresh, sizeof fresh, "key-%u-%ld", ++S_key_counter, (long)time(NULL));
        key = fresh;
    }
    return api_call_idem(&S_client, "POST", path, u->token, key, body, res);
}

/* available and pending (held) of u's CNY balance. */
static void S_balance(const struct api_user *u, long long *available, long long *pending)
{
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/balances", u->token, NULL, &res), 200);
    json_t *body = api_json(&res);
    client_response_release(&res);
    json_t *cny = json_array_get(json_object_get(body, "balances"), 0);
    *available = json_integer_value(json_object_get(cny, "available"));
    *pending = json_integer_value(json_object_get(cny, "pending"));
    json_decref(body);
}

static long long S_available(const struct api_user *u)
{
    long long available, pending;
    S_balance(u, &available, &pending);
    return available;
}

/* A successful top-up of amount with card_id. */
static void S_fund(const struct api_user *u, const char *card_id, long long amount)
{
    struct client_response res;
    ASSERT_EQ_INT(S_pay(u, "/v1/me/topups", card_id, amount, S_PAY, NULL, &res), 201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "SUCCESS");
    client_response_release(&res);
}

/* GET /v1/me/payments/{id} until its status is not PROCESSING or wait_ms
 * passed; the last answer's status text and failure_code into out. */
static void S_await(const struct api_user *u, const char *id, long wait_ms, char status[16],
                    char failure[40])
{
    char path[128];
    snprintf(path, sizeof path, "/v1/me/payments/%s", id);
    for (long waited = 0;; waited += 100) {
        struct client_response res;
        ASSERT_EQ_INT(api_call(&S_client, "GET", path, u->token, NULL, &res), 200);
        json_t *body = api_json(&res);
        client_response_release(&res);
        snprintf(status, 16, "%s", json_string_value(json_object_get(body, "status")));
        const char *f = json_string_value(json_object_get(body, "failure_code"));
        snprintf(failure, 40, "%s", f != NULL ? f : "");
        json_decref(body);
        if (strcmp(status, "PROCESSING") != 0 || waited >= wait_ms)
            return;
        S_sleep_ms(100);
    }
}

TEST(topup_moves_money_from_the_card)
{
    // The happy path: the bank debits the card at once, the balance grows by the amount, no fee,
    // and the answer names the card by bank and last four digits only.
    struct api_user u;
    S_user(&u);
    char card[API_ID_SIZE_MAX];
    S_card(&u, CARD_ICBC, card);
    struct client_response res;
    ASSERT_EQ_INT(S_pay(&u, "/v1/me/topups", card, 12345, S_PAY, NULL, &res), 201);
    json_t *p = api_json(&res);
    ASSERT(strstr(res.body.data, CARD_ICBC) == NULL);
    client_response_release(&res);
    ASSERT(strncmp(json_string_value(json_object_get(p, "id")), "p_", 2) == 0);
    ASSERT_EQ_STR(json_string_value(json_object_get(p, "type")), "topup");
    ASSERT_EQ_STR(json_string_value(json_object_get(p, "status")), "SUCCESS");
    ASSERT_EQ_INT(json_integer_value(json_object_get(p, "amount")), 12345);
    ASSERT_EQ_STR(json_string_value(json_object_get(p, "currency")), "CNY");
    ASSERT_EQ_INT(json_integer_value(json_object_get(p, "fee")), 0);
    json_t *c = json_object_get(p, "card");
    ASSERT_EQ_STR(json_string_value(json_object_get(c, "id")), card);
    ASSERT_EQ_STR(json_string_value(json_object_get(c, "bank")), "中国工商银行");
    ASSERT_EQ_STR(json_string_value(json_object_get(c, "last4")), "0018");
    ASSERT(json_is_null(json_object_get(p, "failure_code")));
    ASSERT(json_string_value(json_object_get(p, "created_at")) != NULL);
    json_decref(p);
    long long available, pending;
    S_balance(&u, &available, &pending);
    ASSERT_EQ_INT(available, 12345);
    ASSERT_EQ_INT(pending, 0);
}

TEST(topup_retry_returns_the_same_payment_and_moves_money_once)
{
    // A client that lost the answer retries with the same key: it gets the same payment, marked
    // replayed, and the money moved once. Another body under that key is refused.
    struct api_user u;
    S_user(&u);
    char card[API_ID_SIZE_MAX];
    S_card(&u, CARD_OK, card);
    struct client_response first, again;
    ASSERT_EQ_INT(S_pay(&u, "/v1/me/topups", card, 5000, S_PAY, "retry-1", &first), 201);
    ASSERT_EQ_INT(S_pay(&u, "/v1/me/topups", card, 5000, S_PAY, "retry-1", &again), 201);
    ASSERT_EQ_STR(api_json_str(&first, "id"), api_json_str(&again, "id"));
    ASSERT_EQ_STR(api_json_str(&again, "status"), "SUCCESS");
    ASSERT_EQ_STR(api_header(&again, "Idempotent-Replayed"), "true");
    ASSERT_EQ_STR(api_header(&first, "Idempotent-Replayed"), "");
    /* the same shape: the same members in the same order */
    json_t *a = api_json(&first), *b = api_json(&again);
    ASSERT_EQ_INT(json_object_size(a), json_object_size(b));
    ASSERT(json_equal(a, b));
    json_decref(a);
    json_decref(b);
    client_response_release(&first);
    client_response_release(&again);
    ASSERT_EQ_INT(S_available(&u), 5000);
    ASSERT_EQ_INT(S_pay(&u, "/v1/me/topups", card, 6000, S_PAY, "retry-1", &again), 422);
    ASSERT_EQ_STR(api_error_code(&again), "IDEMPOTENCY_MISMATCH");
    client_response_release(&again);
    ASSERT_EQ_INT(S_pay(&u, "/v1/me/topups", card, 5000, S_PAY, "retry-2", &again), 201);
    client_response_release(&again);
    ASSERT_EQ_INT(S_available(&u), 10000);
    /* a refusal is replayed too, byte for byte */
    ASSERT_EQ_INT(S_pay(&u, "/v1/me/topups", card, 100, "999999", "retry-3", &first), 403);
    ASSERT_EQ_INT(S_pay(&u, "/v1/me/topups", card, 100, "999999", "retry-3", &again), 403);
    ASSERT_EQ_STR(api_error_code(&again), "PASSWORD_WRONG");
    ASSERT(first.body.size == again.body.size &&
           memcmp(first.body.data, again.body.data, first.body.size) == 0);
    client_response_release(&first);
    client_response_release(&again);
}

TEST(bank_refusals_fail_the_topup_and_move_nothing)
{
    // A declined card and a card without funds at its bank: the payment exists, FAILED with the
    // bank's reason, and the balance has not moved.
    struct api_user u;
    S_user(&u);
    char declined[API_ID_SIZE_MAX], poor[API_ID_SIZE_MAX];
    S_card(&u, CARD_DECLINE, declined);
    S_card(&u, CARD_NO_FUNDS, poor);
    struct client_response res;
    ASSERT_EQ_INT(S_pay(&u, "/v1/me/topups", declined, 1000, S_PAY, NULL, &res), 201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "FAILED");
    ASSERT_EQ_STR(api_json_str(&res, "failure_code"), "CARD_DECLINED");
    char id[API_ID_SIZE_MAX], status[16], failure[40];
    snprintf(id, sizeof id, "%s", api_json_str(&res, "id"));
    client_response_release(&res);
    S_await(&u, id, 0, status, failure);
    ASSERT_EQ_STR(status, "FAILED");
    ASSERT_EQ_STR(failure, "CARD_DECLINED");
    ASSERT_EQ_INT(S_pay(&u, "/v1/me/topups", poor, 1000, S_PAY, NULL, &res), 201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "FAILED");
    ASSERT_EQ_STR(api_json_str(&res, "failure_code"), "BANK_INSUFFICIENT_FUNDS");
    client_response_release(&res);
    ASSERT_EQ_INT(S_available(&u), 0);
}

TEST(bad_payments_are_refused_and_change_nothing)
{
    // Zero, negative, over the per-payment cap, a foreign currency, an unknown card, someone
    // else's card, an unbound card, a wrong payment password, no Idempotency-Key: each a clear
    // 4xx, and the balance untouched.
    struct api_user u, v;
    S_user(&u);
    S_user(&v);
    char card[API_ID_SIZE_MAX], other[API_ID_SIZE_MAX], gone[API_ID_SIZE_MAX];
    S_card(&u, CARD_OK, card);
    S_card(&v, CARD_OK, other);
    S_card(&u, CARD_ICBC_2, gone);
    char path[128];
    snprintf(path, sizeof path, "/v1/me/cards/%s", gone);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "DELETE", path, u.token, NULL, &res), 204);
    client_response_release(&res);
    S_fund(&u, card, 1000);

    const char *routes[] = {"/v1/me/topups", "/v1/me/withdrawals"};
    for (size_t r = 0; r < 2; r++) {
        const char *route = routes[r];
        ASSERT_EQ_INT(S_pay(&u, route, card, 0, S_PAY, NULL, &res), 400);
        ASSERT_EQ_STR(api_error_code(&res), "INVALID_AMOUNT");
        client_response_release(&res);
        ASSERT_EQ_INT(S_pay(&u, route, card, -5, S_PAY, NULL, &res), 400);
        ASSERT_EQ_STR(api_error_code(&res), "INVALID_AMOUNT");
        client_response_release(&res);
        ASSERT_EQ_INT(S_pay(&u, route, card, 2000001, S_PAY, NULL, &res), 403);
        ASSERT_EQ_STR(api_json_str(&res, "code"), "LIMIT_EXCEEDED");
        ASSERT_EQ_STR(api_json_str(&res, "limit"),
                      "per_payment"); /* which limit, in the words transfers use */
        ASSERT_EQ_STR(api_json_str(&res, "message"), "the per_payment limit refused this payment");
        client_response_release(&res);
        ASSERT_EQ_INT(S_pay(&u, route, "c_doesnotexist0000000000", 100, S_PAY, NULL, &res), 404);
        client_response_release(&res);
        ASSERT_EQ_INT(S_pay(&u, route, other, 100, S_PAY, NULL, &res), 404);
        ASSERT_EQ_STR(api_error_code(&res), "NOT_FOUND");
        client_response_release(&res);
        ASSERT_EQ_INT(S_pay(&u, route, gone, 100, S_PAY, NULL, &res), 404);
        client_response_release(&res);
        ASSERT_EQ_INT(S_pay(&u, route, card, 100, "24680a", NULL, &res), 400);
        client_response_release(&res);
        ASSERT_EQ_INT(S_pay(&u, route, card, 100, "975310", NULL, &res), 403);
        ASSERT_EQ_STR(api_error_code(&res), "PASSWORD_WRONG");
        client_response_release(&res);
        char body[256];
        snprintf(body, sizeof body,
                 "{\"card_id\":\"%s\",\"amount\":100,\"currency\":\"USD\",\"payment_password\":"
                 "\"%s\"}",
                 card, S_PAY);
        ASSERT_EQ_INT(api_call_idem(&S_client, "POST", route, u.token, "usd", body, &res), 400);
        ASSERT_EQ_STR(api_error_code(&res), "INVALID_CURRENCY");
        client_response_release(&res);
        snprintf(body, sizeof body, "{\"card_id\":\"%s\",\"amount\":100,\"payment_password\":\"%s\"}",
                 card, S_PAY);
        ASSERT_EQ_INT(api_call(&S_client, "POST", route, u.token, body, &res), 400);
        client_response_release(&res);
        snprintf(body, sizeof body,
                 "{\"card_id\":\"%s\",\"amount\":1.5,\"payment_password\":\"%s\"}", card, S_PAY);
        ASSERT_EQ_INT(api_call_idem(&S_client, "POST", route, u.token, "frac", body, &res), 400);
        client_response_release(&res);
    }
    long long available, pending;
    S_balance(&u, &available, &pending);
    ASSERT_EQ_INT(available, 1000);
    ASSERT_EQ_INT(pending, 0);
    ASSERT_EQ_INT(S_available(&v), 0);
}

TEST(withdrawal_pays_the_card_and_charges_the_fee)
{
    // ¥500.00 out at 0.1 %: a fee of ¥0.50; ¥1.00 out: the minimum fee of ¥0.10. The balance
    // falls by amount + fee, nothing stays held.
    struct api_user u;
    S_user(&u);
    char card[API_ID_SIZE_MAX];
    S_card(&u, CARD_OK, card);
    S_fund(&u, card, 100000);
    struct client_response res;
    ASSERT_EQ_INT(S_pay(&u, "/v1/me/withdrawals", card, 50000, S_PAY, NULL, &res), 201);
    ASSERT_EQ_STR(api_json_str(&res, "type"), "withdrawal");
    ASSERT_EQ_STR(api_json_str(&res, "status"), "SUCCESS");
    ASSERT_EQ_INT(api_json_int(&res, "fee", -1), 50);
    client_response_release(&res);
    ASSERT_EQ_INT(S_pay(&u, "/v1/me/withdrawals", card, 100, S_PAY, NULL, &res), 201);
    ASSERT_EQ_INT(api_json_int(&res, "fee", -1), 10);
    client_response_release(&res);
    ASSERT_EQ_INT(S_pay(&u, "/v1/me/withdrawals", card, 10001, S_PAY, NULL, &res), 201);
    ASSERT_EQ_INT(api_json_int(&res, "fee", -1), 11); /* 10.001 rounds up */
    client_response_release(&res);
    long long available, pending;
    S_balance(&u, &available, &pending);
    ASSERT_EQ_INT(available, 100000 - 50050 - 110 - 10012);
    ASSERT_EQ_INT(pending, 0);
}

/* GET /v1/me/withdrawal-quote with query (may be ""); status, body in res. */
static long S_quote(const struct api_user *u, const char *query, struct client_response *res)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/me/withdrawal-quote%s", query);
    return api_call(&S_client, "GET", path, u->token, NULL, res);
}

/* A quote's "payable": 1 true, 0 false, -1 anything else. */
static int S_payable(const struct client_response *res)
{
    json_t *body = api_json(res);
    const json_t *payable = json_object_get(body, "payable");
    int v = json_is_true(payable) ? 1 : json_is_false(payable) ? 0 : -1;
    json_decref(body);
    return v;
}

TEST(withdrawal_quote_says_the_fee_and_the_most_that_can_go)
{
    // Before the password: what ¥50.00 out would cost, and "withdraw all" — the most whose
    // amount + fee the balance covers. With ¥100.10 that is ¥100.00 (fee ¥0.10), and a
    // withdrawal of it leaves nothing available and is not refused.
    struct api_user u;
    S_user(&u);
    char card[API_ID_SIZE_MAX];
    S_card(&u, CARD_OK, card);
    S_fund(&u, card, 10010);
    struct client_response res;
    ASSERT_EQ_INT(S_quote(&u, "", &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "currency"), "CNY");
    ASSERT_EQ_INT(api_json_int(&res, "available", -1), 10010);
    ASSERT_EQ_INT(api_json_int(&res, "fee_rate_ppm", -1), 1000);
    ASSERT_EQ_INT(api_json_int(&res, "fee_min", -1), 10);
    ASSERT_EQ_INT(api_json_int(&res, "per_payment", -1), 2000000);
    ASSERT_EQ_INT(api_json_int(&res, "max_amount", -1), 10000);
    ASSERT_EQ_INT(api_json_int(&res, "max_fee", -1), 10);
    json_t *body = api_json(&res);
    ASSERT(json_is_null(json_object_get(body, "amount")) &&
           json_is_null(json_object_get(body, "fee")) &&
           json_is_null(json_object_get(body, "payable")));
    json_decref(body);
    client_response_release(&res);

    ASSERT_EQ_INT(S_quote(&u, "?amount=5000", &res), 200);
    ASSERT_EQ_INT(api_json_int(&res, "amount", -1), 5000);
    ASSERT_EQ_INT(api_json_int(&res, "fee", -1), 10);
    ASSERT_EQ_INT(api_json_int(&res, "total", -1), 5010);
    ASSERT_EQ_INT(S_payable(&res), 1);
    client_response_release(&res);
    ASSERT_EQ_INT(S_quote(&u, "?amount=10001", &res), 200); /* a fen over: not payable */
    ASSERT_EQ_INT(api_json_int(&res, "fee", -1), 11);
    ASSERT_EQ_INT(S_payable(&res), 0);
    client_response_release(&res);
    ASSERT_EQ_INT(S_quote(&u, "?amount=3000000", &res), 200); /* over the per-payment cap */
    ASSERT_EQ_INT(S_payable(&res), 0);
    client_response_release(&res);
    const char *bad[] = {"?amount=0", "?amount=-1",   "?amount=1.5",           "?amount=abc",
                         "?amount=",  "?amount=0100", "?amount=10000000000000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ASSERT_EQ_INT(S_quote(&u, bad[i], &res), 400);
        ASSERT_EQ_STR(api_json_str(&res, "code"), "PARAM_ERROR");
        client_response_release(&res);
    }

    ASSERT_EQ_INT(S_pay(&u, "/v1/me/withdrawals", card, 10000, S_PAY, NULL, &res), 201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "SUCCESS");
    ASSERT_EQ_INT(api_json_int(&res, "fee", -1), 10);
    client_response_release(&res);
    ASSERT_EQ_INT(S_available(&u), 0);
    ASSERT_EQ_INT(S_quote(&u, "?amount=1", &res), 200); /* nothing left: not even a fen */
    ASSERT_EQ_INT(api_json_int(&res, "max_amount", -1), 0);
    ASSERT_EQ_INT(api_json_int(&res, "max_fee", -1), 0);
    ASSERT_EQ_INT(S_payable(&res), 0);
    client_response_release(&res);
}

TEST(a_frozen_wallets_quote_offers_nothing)
{
    // A frozen wallet's withdrawal is refused whatever its balance (ACCOUNT_FROZEN), so its
    // "withdraw all" must not offer the balance, as a suspended merchant's quote does not.
    struct api_user u;
    S_user(&u);
    char card[API_ID_SIZE_MAX];
    S_card(&u, CARD_OK, card);
    S_fund(&u, card, 10010);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/freeze", u.token, NULL, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(S_quote(&u, "?amount=1000", &res), 200);
    ASSERT_EQ_INT(api_json_int(&res, "available", -1), 10010);
    ASSERT_EQ_INT(api_json_int(&res, "max_amount", -1), 0);
    ASSERT_EQ_INT(api_json_int(&res, "max_fee", -1), 0);
    ASSERT_EQ_INT(S_payable(&res), 0);
    client_response_release(&res);
    ASSERT_EQ_INT(S_pay(&u, "/v1/me/withdrawals", card, 1000, S_PAY, NULL, &res), 403);
    ASSERT_EQ_STR(api_json_str(&res, "code"), "ACCOUNT_FROZEN");
    client_response_release(&res);
}

/* kyc_lifetime's used and remaining from GET /v1/me/limits. */
static void S_kyc_lifetime(const struct api_user *u, long long *used, long long *remaining)
{
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/limits", u->token, NULL, &res), 200);
    json_t *body = api_json(&res);
    client_response_release(&res);
    *used = *remaining = -1;
    size_t i;
    json_t *limit;
    json_array_foreach(json_object_get(body, "limits"), i, limit)
    {
        if (strcmp(json_string_value(json_object_get(limit, "name")), "kyc_lifetime") == 0) {
            *used = json_integer_value(json_object_get(limit, "used"));
            *remaining = json_integer_value(json_object_get(limit, "remaining"));
        }
    }
    json_decref(body);
}

TEST(a_level_1_wallet_cashes_out_within_its_lifetime_limit)
{
    // An unverified wallet (KYC level 1) may move ¥1,000 out in its life, paid or withdrawn to
    // its own cards together: after a ¥300 transfer the quote and the limit leave ¥700, a fen
    // more is refused naming kyc_lifetime, a processing withdrawal counts at once and a failed
    // one gives its amount back; top-ups count nothing.
    struct api_user u, v;
    S_user(&u);
    API_MUST(api_user_new(&S_client, S_admin, &v));
    char card[API_ID_SIZE_MAX], late_fail[API_ID_SIZE_MAX];
    S_card(&u, CARD_OK, card);
    S_card(&u, CARD_LATE_FAIL, late_fail);
    S_fund(&u, card, 150000);
    char body[256];
    snprintf(body, sizeof body, "{\"to\":\"%s\",\"amount\":30000,\"payment_password\":\"%s\"}",
             v.phone, S_PAY);
    struct client_response res;
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/transfers", u.token, "kyc1-t1", body, &res),
                  201);
    client_response_release(&res);
    long long used, remaining;
    S_kyc_lifetime(&u, &used, &remaining);
    ASSERT_EQ_INT(used, 30000);
    ASSERT_EQ_INT(remaining, 70000);
    ASSERT_EQ_INT(S_quote(&u, "?amount=70001", &res), 200);
    ASSERT_EQ_INT(api_json_int(&res, "max_amount", -1), 70000);
    ASSERT_EQ_INT(S_payable(&res), 0);
    client_response_release(&res);

    ASSERT_EQ_INT(S_pay(&u, "/v1/me/withdrawals", card, 70001, S_PAY, NULL, &res), 403);
    ASSERT_EQ_STR(api_json_str(&res, "code"), "LIMIT_EXCEEDED");
    ASSERT_EQ_STR(api_json_str(&res, "limit"), "kyc_lifetime");
    /* Only verifying lifts it: the refusal says so, or the user is left without a way out. */
    const char *said = api_json_str(&res, "message");
    ASSERT(strstr(said, "KYC level 1") != NULL && strstr(said, "POST /v1/me/kyc") != NULL);
    client_response_release(&res);
    ASSERT_EQ_INT(S_available(&u), 120000);

    /* Processing: counted at once, so a second withdrawal cannot slip past it. */
    ASSERT_EQ_INT(S_pay(&u, "/v1/me/withdrawals", late_fail, 70000, S_PAY, NULL, &res), 201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "PROCESSING");
    char id[API_ID_SIZE_MAX];
    snprintf(id, sizeof id, "%s", api_json_str(&res, "id"));
    client_response_release(&res);
    S_kyc_lifetime(&u, &used, &remaining);
    ASSERT_EQ_INT(used, 100000);
    ASSERT_EQ_INT(remaining, 0);
    /* The operator sees it waiting on the bank. */
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/metrics", NULL, NULL, &res), 200);
    const char *gauge =
        strstr(res.body.data, "\nqianbao_payments_processing{type=\"withdrawal\"} ");
    ASSERT(gauge != NULL && atoll(strchr(gauge, '}') + 2) >= 1);
    ASSERT(strstr(res.body.data, "\nqianbao_sms_undelivered{state=\"given_up\"} ") != NULL);
    client_response_release(&res);
    ASSERT_EQ_INT(S_pay(&u, "/v1/me/withdrawals", card, 1, S_PAY, NULL, &res), 403);
    ASSERT_EQ_STR(api_json_str(&res, "limit"), "kyc_lifetime");
    client_response_release(&res);
    ASSERT_EQ_INT(S_quote(&u, "", &res), 200);
    ASSERT_EQ_INT(api_json_int(&res, "max_amount", -1), 0);
    client_response_release(&res);

    /* Failed at the bank: the amount comes back to the balance and to the limit. */
    char status[16], failure[40];
    S_await(&u, id, S_WAIT_MS, status, failure);
    ASSERT_EQ_STR(status, "FAILED");
    S_kyc_lifetime(&u, &used, &remaining);
    ASSERT_EQ_INT(used, 30000);
    ASSERT_EQ_INT(S_pay(&u, "/v1/me/withdrawals", card, 70000, S_PAY, NULL, &res), 201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "SUCCESS");
    client_response_release(&res);
    S_fund(&u, card, 10000); /* a top-up counts nothing */
    S_kyc_lifetime(&u, &used, &remaining);
    ASSERT_EQ_INT(used, 100000);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/transfers", u.token, "kyc1-t2", body, &res),
                  403);
    ASSERT_EQ_STR(api_json_str(&res, "limit"), "kyc_lifetime");
    ASSERT(strstr(api_json_str(&res, "message"), "POST /v1/me/kyc") != NULL);
    client_response_release(&res);
}

TEST(withdrawal_over_the_balance_is_402_and_changes_nothing)
{
    // Amount + fee must fit the available balance: ¥10.00 with ¥10.00 does not (fee ¥0.10), and
    // the refusal names the fee the user did not count; an amount over the balance by itself is
    // refused as any payment is.
    struct api_user u;
    S_user(&u);
    char card[API_ID_SIZE_MAX];
    S_card(&u, CARD_OK, card);
    S_fund(&u, card, 1000);
    struct client_response res;
    ASSERT_EQ_INT(S_pay(&u, "/v1/me/withdrawals", card, 1000, S_PAY, "over", &res), 402);
    ASSERT_EQ_STR(api_error_code(&res), "INSUFFICIENT_BALANCE");
    ASSERT_EQ_INT(api_json_int(&res, "fee", -1), 10);
    ASSERT(strstr(api_json_str(&res, "message"), "10.00 and its fee of 0.10") != NULL);
    ASSERT(strstr(api_json_str(&res, "message"), "withdrawal-quote") != NULL);
    client_response_release(&res);
    ASSERT_EQ_INT(S_pay(&u, "/v1/me/withdrawals", card, 1001, S_PAY, "over2", &res), 402);
    ASSERT_EQ_STR(api_error_code(&res), "INSUFFICIENT_BALANCE");
    ASSERT_EQ_INT(api_json_int(&res, "fee", -1), -1);
    client_response_release(&res);
    long long available, pending;
    S_balance(&u, &available, &pending);
    ASSERT_EQ_INT(available, 1000);
    ASSERT_EQ_INT(pending, 0);
    ASSERT_EQ_INT(S_pay(&u, "/v1/me/withdrawals", card, 990, S_PAY, NULL, &res), 201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "SUCCESS");
    client_response_release(&res);
    ASSERT_EQ_INT(S_available(&u), 0);
}

static int64_t S_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* GET path as u: 200, its body. */
static json_t *S_get(const struct api_user *u, const char *path)
{
    struct client_response res;
    long status = api_call(&S_client, "GET", path, u->token, NULL, &res);
    json_t *body = api_json(&res);
    client_response_release(&res);
    if (status != 200 || body == NULL)
        TEST_FAIL_("GET %s: %ld", path, status);
    return body;
}

/* POST /v1/me/notices/read as u with body: the status, and the unread count of a 200 (else -1). */
static long S_notices_mark(const struct api_user *u, const char *body, long long *unread,
                           char code[40])
{
    struct client_response res;
    long status = api_call(&S_client, "POST", "/v1/me/notices/read", u->token, body, &res);
    *unread = status == 200 ? api_json_int(&res, "unread", -1) : -1;
    snprintf(code, 40, "%s", status == 200 ? "" : api_error_code(&res));
    client_response_release(&res);
    return status;
}

static long long S_unread(const struct api_user *u)
{
    json_t *body = S_get(u, "/v1/me/notices/unread");
    long long unread = json_integer_value(json_object_get(body, "unread"));
    json_decref(body);
    return unread;
}

/* The notices the worker wrote for the payments ids, one each, of the types named, read two at
 * a time; then marked read: up to one of them, and then up to the newest. Nobody else sees
 * them. */
static void S_notices_check(const struct api_user *u, char ids[4][API_ID_SIZE_MAX],
                            const char *const types[4], const long long amounts[4],
                            const char *const failures[4], const char *const cards[4],
                            const char *const numbers[4])
{
    ASSERT_EQ_INT(S_unread(u), 4);
    json_t *first = S_get(u, "/v1/me/notices?limit=2");
    const char *next = json_string_value(json_object_get(first, "next_cursor"));
    ASSERT(next != NULL);
    char path[256];
    snprintf(path, sizeof path, "/v1/me/notices?limit=2&cursor=%s", next);
    json_t *second = S_get(u, path);
    ASSERT(json_is_null(json_object_get(second, "next_cursor")));
    json_t *all = json_array();
    json_array_extend(all, json_object_get(first, "items"));
    json_array_extend(all, json_object_get(second, "items"));
    json_decref(first);
    json_decref(second);
    ASSERT_EQ_INT((long long)json_array_size(all), 4); /* the top-up answered at once: none */
    bool seen[4] = {false, false, false, false};
    size_t i;
    json_t *n;
    json_array_foreach(all, i, n)
    {
        const char *payment = json_string_value(json_object_get(n, "payment_id"));
        ASSERT(payment != NULL);
        size_t k = 0;
        while (k < 4 && strcmp(ids[k], payment) != 0)
            k++;
        ASSERT(k < 4 && !seen[k]);
        seen[k] = true;
        /* Its id's seq is a time, not the platform's count of notices (a test daemon's is
         * small): ids read a day apart tell nobody how many came between. */
        const char *id = json_string_value(json_object_get(n, "id"));
        ASSERT(id != NULL);
        if (id_sequence(id, strlen(id), "n") < (1LL << 40))
            TEST_FAIL_("notice %s counts the platform's notices", id);
        ASSERT_EQ_STR(json_string_value(json_object_get(n, "type")), types[k]);
        ASSERT_EQ_INT(json_integer_value(json_object_get(n, "amount")), amounts[k]);
        ASSERT_EQ_STR(json_string_value(json_object_get(n, "currency")), "CNY");
        const char *failure = json_string_value(json_object_get(n, "failure_code"));
        ASSERT_EQ_STR(failure != NULL ? failure : "", failures[k]);
        json_t *party = json_object_get(n, "counterparty");
        ASSERT_EQ_STR(json_string_value(json_object_get(party, "type")), "card");
        ASSERT_EQ_STR(json_string_value(json_object_get(party, "id")), cards[k]);
        ASSERT_EQ_STR(json_string_value(json_object_get(party, "last4")), numbers[k] + 12);
        ASSERT_EQ_STR(json_string_value(json_object_get(n, "memo")), "");
        ASSERT(json_is_false(json_object_get(n, "read")));
        ASSERT(strncmp(json_string_value(json_object_get(n, "id")), "n_", 2) == 0);
        ASSERT(json_is_string(json_object_get(n, "created_at")));
    }
    /* The operator reads the same list; a user nobody is is 404. */
    char path_admin[128];
    snprintf(path_admin, sizeof path_admin, "/admin/users/%s/notices", u->id);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", path_admin, S_admin, NULL, &res), 200);
    json_t *theirs_admin = api_json(&res);
    client_response_release(&res);
    json_t *operator_items = json_object_get(theirs_admin, "items");
    ASSERT_EQ_INT((long long)json_array_size(operator_items), 4);
    for (size_t k = 0; k < 4; k++)
        ASSERT(json_equal(json_array_get(operator_items, k), json_array_get(all, k)));
    json_decref(theirs_admin);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/admin/users/u_00000000000000000000000000/notices",
                           S_admin, NULL, &res),
                  404);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path_admin, u->token, NULL, &res), 403);
    client_response_release(&res);

    char older[API_ID_SIZE_MAX], newest[API_ID_SIZE_MAX];
    snprintf(newest, sizeof newest, "%s",
             json_string_value(json_object_get(json_array_get(all, 0), "id")));
    snprintf(older, sizeof older, "%s",
             json_string_value(json_object_get(json_array_get(all, 2), "id")));
    json_decref(all);

    /* Someone else's notice, or no notice, is not found, and marks nothing. */
    struct api_user other;
    S_user(&other);
    long long unread;
    char code[40], body[128];
    snprintf(body, sizeof body, "{\"up_to\":\"%s\"}", newest);
    ASSERT_EQ_INT(S_notices_mark(&other, body, &unread, code), 404);
    ASSERT_EQ_STR(code, "NOT_FOUND");
    ASSERT_EQ_INT(S_notices_mark(u, "{\"up_to\":\"n_0\"}", &unread, code), 404);
    ASSERT_EQ_INT(S_notices_mark(u, "{\"up_to\":7}", &unread, code), 400);
    ASSERT_EQ_STR(code, "PARAM_ERROR");
    json_t *theirs = S_get(&other, "/v1/me/notices");
    ASSERT_EQ_INT((long long)json_array_size(json_object_get(theirs, "items")), 0);
    json_decref(theirs);
    ASSERT_EQ_INT(S_unread(&other), 0);
    ASSERT_EQ_INT(S_unread(u), 4);

    /* Read up to the third newest: the two newer stay unread; marking an older one changes
     * nothing; then all. */
    snprintf(body, sizeof body, "{\"up_to\":\"%s\"}", older);
    ASSERT_EQ_INT(S_notices_mark(u, body, &unread, code), 200);
    ASSERT_EQ_INT(unread, 2);
    json_t *page = S_get(u, "/v1/me/notices");
    json_t *items = json_object_get(page, "items");
    for (size_t k = 0; k < 4; k++)
        ASSERT(json_is_boolean(json_object_get(json_array_get(items, k), "read")) &&
               json_is_true(json_object_get(json_array_get(items, k), "read")) == (k >= 2));
    json_decref(page);
    ASSERT_EQ_INT(S_notices_mark(u, "{}", &unread, code), 400);
    ASSERT_EQ_INT(S_unread(u), 2);
    snprintf(body, sizeof body, "{\"up_to\":\"%s\"}", newest);
    ASSERT_EQ_INT(S_notices_mark(u, body, &unread, code), 200);
    ASSERT_EQ_INT(unread, 0);
    snprintf(body, sizeof body, "{\"up_to\":\"%s\"}", older);
    ASSERT_EQ_INT(S_notices_mark(u, body, &unread, code), 200);
    ASSERT_EQ_INT(unread, 0);
    ASSERT_EQ_INT(S_unread(u), 0);
}

TEST(slow_banks_are_resolved_by_the_worker)
{
    // The bank confirms a withdrawal 3 s later, fails another 3 s later, and two top-ups time
    // out (one done at the bank, one never received). All answer PROCESSING at first, with the
    // withdrawals' money held; the worker then finishes each: the held money leaves, comes back,
    // or arrives, exactly once. A bank that answers "still pending" changes nothing the user
    // sees: updated_at stays until the status moves.
    struct api_user u;
    S_user(&u);
    char ok[API_ID_SIZE_MAX], fail[API_ID_SIZE_MAX], done[API_ID_SIZE_MAX], lost[API_ID_SIZE_MAX],
        funds[API_ID_SIZE_MAX];
    S_card(&u, CARD_LATE_OK, ok);
    S_card(&u, CARD_LATE_FAIL, fail);
    S_card(&u, CARD_TIMEOUT_DONE, done);
    S_card(&u, CARD_TIMEOUT_LOST, lost);
    S_card(&u, CARD_OK, funds);
    S_fund(&u, funds, 100000);

    const struct {
        const char *route;
        const char *card;
        long long amount;
        const char *status;
        const char *failure;
    } cases[] = {
        {"/v1/me/withdrawals", ok, 20000, "SUCCESS", ""},
        {"/v1/me/withdrawals", fail, 30000, "FAILED", "CARD_DECLINED"},
        {"/v1/me/topups", done, 7000, "SUCCESS", ""},
        {"/v1/me/topups", lost, 9000, "FAILED", "BANK_UNAVAILABLE"},
    };
    char ids[4][API_ID_SIZE_MAX];
    int64_t started_ms = S_now_ms();
    for (size_t i = 0; i < 4; i++) {
        struct client_response res;
        ASSERT_EQ_INT(S_pay(&u, cases[i].route, cases[i].card, cases[i].amount, S_PAY, NULL, &res),
                      201);
        ASSERT_EQ_STR(api_json_str(&res, "status"), "PROCESSING");
        snprintf(ids[i], sizeof ids[i], "%s", api_json_str(&res, "id"));
        client_response_release(&res);
    }
    long long available, pending;
    S_balance(&u, &available, &pending);
    ASSERT_EQ_INT(pending, 20020 + 30030);
    ASSERT_EQ_INT(available, 100000 - 20020 - 30030);
    /* The bank answered the first withdrawal "pending" at once; the worker asks again 2 s
     * later and hears "pending" again, until 3 s. */
    int64_t left_ms = started_ms + 2600 - S_now_ms();
    if (left_ms > 0)
        usleep((useconds_t)left_ms * 1000);
    char path[64 + API_ID_SIZE_MAX];
    snprintf(path, sizeof path, "/v1/me/payments/%s", ids[0]);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, u.token, NULL, &res), 200);
    /* A card with a payment still PROCESSING stays bound until it finishes. */
    char card_path[64 + API_ID_SIZE_MAX];
    snprintf(card_path, sizeof card_path, "/v1/me/cards/%s", ok);
    struct client_response unbind;
    ASSERT_EQ_INT(api_call(&S_client, "DELETE", card_path, u.token, NULL, &unbind), 409);
    ASSERT_EQ_STR(api_error_code(&unbind), "CONFLICT");
    client_response_release(&unbind);
    char created_at[40];
    snprintf(created_at, sizeof created_at, "%s", api_json_str(&res, "created_at"));
    if (strcmp(api_json_str(&res, "status"), "PROCESSING") == 0)
        ASSERT_EQ_STR(api_json_str(&res, "updated_at"), created_at);
    client_response_release(&res);
    for (size_t i = 0; i < 4; i++) {
        char status[16], failure[40];
        S_await(&u, ids[i], S_WAIT_MS, status, failure);
        ASSERT_EQ_STR(status, cases[i].status);
        ASSERT_EQ_STR(failure, cases[i].failure);
    }
    S_balance(&u, &available, &pending);
    ASSERT_EQ_INT(pending, 0);
    ASSERT_EQ_INT(available, 100000 - 20020 + 7000);
    ASSERT_EQ_INT(api_call(&S_client, "DELETE", card_path, u.token, NULL, &res), 204);
    client_response_release(&res);
    /* Each of them, answered PROCESSING, ended without the user: each is a notice. */
    static const char *const types[4] = {"withdrawal_succeeded", "withdrawal_failed",
                                         "topup_succeeded", "topup_failed"};
    static const char *const failures[4] = {"", "CARD_DECLINED", "", "BANK_UNAVAILABLE"};
    const long long amounts[4] = {20000, 30000, 7000, 9000};
    const char *const cards[4] = {ok, fail, done, lost};
    static const char *const numbers[4] = {CARD_LATE_OK, CARD_LATE_FAIL, CARD_TIMEOUT_DONE,
                                           CARD_TIMEOUT_LOST};
    S_notices_check(&u, ids, types, amounts, failures, cards, numbers);
}

/* The items of every page of GET /admin/payments?query, limit at a time,
 * that user_id made, appended to mine; check (may be NULL) asserts what
 * every item of the list, anyone's, must be. */
static void S_admin_payments_of(const char *query, const char *user_id, int limit, json_t *mine,
                                void (*check)(const json_t *item))
{
    char cursor[128] = "";
    for (int pages = 0; pages < 1000; pages++) {
        char path[256];
        snprintf(path, sizeof path, "/admin/payments?%s&limit=%d&cursor=%s", query, limit, cursor);
        struct client_response res;
        ASSERT_EQ_INT(api_call(&S_client, "GET", path, S_admin, NULL, &res), 200);
        json_t *page = api_json(&res);
        client_response_release(&res);
        json_t *items = json_object_get(page, "items");
        ASSERT((int)json_array_size(items) <= limit);
        size_t i;
        json_t *item;
        json_array_foreach(items, i, item)
        {
            if (check != NULL)
                check(item);
            if (strcmp(json_string_value(json_object_get(item, "user_id")), user_id) == 0)
                json_array_append(mine, item);
        }
        const char *next = json_string_value(json_object_get(page, "next_cursor"));
        snprintf(cursor, sizeof cursor, "%s", next != NULL ? next : "");
        json_decref(page);
        if (cursor[0] == '\0')
            return;
    }
    TEST_FAIL_("GET /admin/payments?%s never ends", query);
}

static void S_processing_check(const json_t *item)
{
    ASSERT_EQ_STR(json_string_value(json_object_get(item, "status")), "PROCESSING");
}

/* What waits on the bank that user_id made, into a new array. */
static json_t *S_processing_of(const char *user_id, int limit)
{
    json_t *mine = json_array();
    S_admin_payments_of("status=PROCESSING", user_id, limit, mine, S_processing_check);
    return mine;
}

TEST(an_operator_sees_what_waits_on_the_bank)
{
    // At 3 a.m. /metrics says two payments have waited on the bank for an hour; the operator must
    // find which, whose, on which card, under which bank reference, and when Qianbao asks the
    // bank again, page by page, and look any payment up by its id, transfers included (with
    // their payee). What the bank settles leaves the list.
    struct api_user u, v;
    S_user(&u);
    S_user(&v);
    char late[API_ID_SIZE_MAX], timeout[API_ID_SIZE_MAX], funds[API_ID_SIZE_MAX];
    S_card(&u, CARD_LATE_OK, late);
    S_card(&u, CARD_TIMEOUT_DONE, timeout);
    S_card(&u, CARD_OK, funds);
    S_fund(&u, funds, 50000);
    char ids[2][API_ID_SIZE_MAX];
    struct client_response res;
    ASSERT_EQ_INT(S_pay(&u, "/v1/me/withdrawals", late, 10000, S_PAY, NULL, &res), 201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "PROCESSING");
    snprintf(ids[0], sizeof ids[0], "%s", api_json_str(&res, "id"));
    client_response_release(&res);
    ASSERT_EQ_INT(S_pay(&u, "/v1/me/topups", timeout, 7000, S_PAY, NULL, &res), 201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "PROCESSING");
    snprintf(ids[1], sizeof ids[1], "%s", api_json_str(&res, "id"));
    client_response_release(&res);

    /* A page of one at a time, oldest first. */
    json_t *mine = S_processing_of(u.id, 1);
    ASSERT_EQ_INT(json_array_size(mine), 2);
    json_t *w = json_array_get(mine, 0);
    ASSERT_EQ_STR(json_string_value(json_object_get(w, "id")), ids[0]);
    ASSERT_EQ_STR(json_string_value(json_object_get(w, "type")), "withdrawal");
    ASSERT_EQ_INT(json_integer_value(json_object_get(w, "amount")), 10000);
    ASSERT_EQ_INT(json_integer_value(json_object_get(w, "fee")), 10);
    ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(w, "card"), "last4")), "0061");
    ASSERT(json_is_string(json_object_get(w, "bank_ref")));
    ASSERT(json_is_string(json_object_get(w, "next_check_at")));
    ASSERT(json_is_null(json_object_get(w, "counterparty_id")));
    ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(mine, 1), "id")), ids[1]);
    json_decref(mine);

    char path[128];
    snprintf(path, sizeof path, "/admin/payments/%s", ids[0]);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, S_admin, NULL, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "PROCESSING");
    ASSERT_EQ_STR(api_json_str(&res, "user_id"), u.id);
    client_response_release(&res);
    /* The operator's routes are the operator's. */
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, u.token, NULL, &res), 403);
    client_response_release(&res);
    const char *refused[] = {"/admin/payments", "/admin/payments?status=SUCCESS",
                             "/admin/payments?status=processing"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        ASSERT_EQ_INT(api_call(&S_client, "GET", refused[i], S_admin, NULL, &res), 400);
        ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
        client_response_release(&res);
    }
    ASSERT_EQ_INT(
        api_call(&S_client, "GET", "/admin/payments/p_nosuchpayment", S_admin, NULL, &res), 404);
    client_response_release(&res);

    /* A transfer, looked up by id: its payee, no card, nothing to chase. */
    char body[256];
    snprintf(body, sizeof body, "{\"to\":\"%s\",\"amount\":100,\"payment_password\":\"%s\"}",
             v.phone, S_PAY);
    ASSERT_EQ_INT(
        api_call_idem(&S_client, "POST", "/v1/transfers", u.token, "operator-transfer", body, &res),
        201);
    snprintf(path, sizeof path, "/admin/payments/%s", api_json_str(&res, "id"));
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, S_admin, NULL, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "type"), "transfer");
    ASSERT_EQ_STR(api_json_str(&res, "counterparty_id"), v.id);
    json_t *t = api_json(&res);
    ASSERT(json_is_null(json_object_get(t, "card")) &&
           json_is_null(json_object_get(t, "bank_ref")) &&
           json_is_null(json_object_get(t, "next_check_at")));
    json_decref(t);
    client_response_release(&res);

    for (size_t i = 0; i < 2; i++) {
        char status[16], failure[40];
        S_await(&u, ids[i], S_WAIT_MS, status, failure);
        ASSERT_EQ_STR(status, "SUCCESS");
    }
    mine = S_processing_of(u.id, 100);
    ASSERT_EQ_INT(json_array_size(mine), 0);
    json_decref(mine);
    snprintf(path, sizeof path, "/admin/payments/%s", ids[0]);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, S_admin, NULL, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "SUCCESS");
    t = api_json(&res);
    ASSERT(json_is_null(json_object_get(t, "next_check_at")));
    json_decref(t);
    client_response_release(&res);
}

/* Today's date in UTC+8 ("2026-12-04"). */
static void S_today(char date[16])
{
    time_t now = time(NULL) + 8 * 60 * 60;
    struct tm day;
    gmtime_r(&now, &day);
    strftime(date, 16, "%Y-%m-%d", &day);
}

static void S_bank_check(const json_t *item)
{
    const char *type = json_string_value(json_object_get(item, "type"));
    ASSERT(strcmp(type, "topup") == 0 || strcmp(type, "withdrawal") == 0);
}

/* A day's top-ups and withdrawals that user_id made, appended to mine. */
static void S_bank_day_of(const char *date, const char *user_id, int limit, json_t *mine)
{
    char query[64];
    snprintf(query, sizeof query, "date=%s", date);
    S_admin_payments_of(query, user_id, limit, mine, S_bank_check);
}

TEST(an_operator_lists_a_days_bank_payments_to_reconcile)
{
    // Each day the operator compares what the bank booked with what Qianbao asked of it: the
    // day's top-ups and withdrawals, every status, oldest first, page by page, with the bank's
    // reference and the card; transfers stay out, and a day without payments is empty.
    struct api_user u, v;
    S_user(&u);
    S_user(&v);
    char ok[API_ID_SIZE_MAX], declined[API_ID_SIZE_MAX];
    S_card(&u, CARD_OK, ok);
    S_card(&u, CARD_DECLINE, declined);
    char first[16], last[16];
    S_today(first);
    const char *paths[] = {"/v1/me/topups", "/v1/me/topups", "/v1/me/withdrawals"};
    const char *cards[] = {ok, declined, ok};
    const long long amounts[] = {50000, 2000, 10000};
    const char *statuses[] = {"SUCCESS", "FAILED", "SUCCESS"};
    char ids[3][API_ID_SIZE_MAX];
    struct client_response res;
    for (size_t i = 0; i < 3; i++) {
        ASSERT_EQ_INT(S_pay(&u, paths[i], cards[i], amounts[i], S_PAY, NULL, &res), 201);
        ASSERT_EQ_STR(api_json_str(&res, "status"), statuses[i]);
        snprintf(ids[i], sizeof ids[i], "%s", api_json_str(&res, "id"));
        client_response_release(&res);
    }
    char body[256];
    snprintf(body, sizeof body, "{\"to\":\"%s\",\"amount\":100,\"payment_password\":\"%s\"}",
             v.phone, S_PAY);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/transfers", u.token, "reconcile-transfer",
                                body, &res),
                  201);
    client_response_release(&res);
    S_today(last);

    json_t *mine = json_array();
    S_bank_day_of(first, u.id, 1, mine);
    if (strcmp(first, last) != 0) /* made across midnight (UTC+8) */
        S_bank_day_of(last, u.id, 1, mine);
    ASSERT_EQ_INT(json_array_size(mine), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *p = json_array_get(mine, i);
        ASSERT_EQ_STR(json_string_value(json_object_get(p, "id")), ids[i]);
        ASSERT_EQ_STR(json_string_value(json_object_get(p, "status")), statuses[i]);
        ASSERT_EQ_INT(json_integer_value(json_object_get(p, "amount")), amounts[i]);
        ASSERT(json_is_string(json_object_get(p, "bank_ref")));
        ASSERT(json_is_object(json_object_get(p, "card")));
    }
    ASSERT_EQ_INT(json_integer_value(json_object_get(json_array_get(mine, 2), "fee")), 10);
    /* Each found by the reference the bank knows it by, whatever its day. */
    for (size_t i = 0; i < 3; i++) {
        const char *ref = json_string_value(json_object_get(json_array_get(mine, i), "bank_ref"));
        char path[160];
        snprintf(path, sizeof path, "/admin/payments?bank_ref=%s", ref);
        ASSERT_EQ_INT(api_call(&S_client, "GET", path, S_admin, NULL, &res), 200);
        json_t *page = api_json(&res);
        client_response_release(&res);
        json_t *items = json_object_get(page, "items");
        ASSERT_EQ_INT(json_array_size(items), 1);
        ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(items, 0), "id")), ids[i]);
        json_decref(page);
    }
    json_decref(mine);
    ASSERT_EQ_INT(
        api_call(&S_client, "GET", "/admin/payments?bank_ref=sbx_c_none", S_admin, NULL, &res),
        200);
    json_t *none = api_json(&res);
    client_response_release(&res);
    ASSERT_EQ_INT(json_array_size(json_object_get(none, "items")), 0);
    json_decref(none);

    mine = json_array();
    S_bank_day_of("2000-01-01", u.id, 100, mine);
    ASSERT_EQ_INT(json_array_size(mine), 0);
    json_decref(mine);
    /* The first day a date may name: in UTC+8 it began eight hours before 1970 (UTC). */
    mine = json_array();
    S_bank_day_of("1970-01-01", u.id, 100, mine);
    ASSERT_EQ_INT(json_array_size(mine), 0);
    json_decref(mine);
    char both[96];
    snprintf(both, sizeof both, "/admin/payments?status=PROCESSING&date=%s", first);
    const char *refused[] = {both,
                             "/admin/payments?date=2026-02-30",
                             "/admin/payments?date=2026-12-04T00:00:00Z",
                             "/admin/payments?date=20261204",
                             "/admin/payments?date=",
                             "/admin/payments?bank_ref=",
                             "/admin/payments?bank_ref=a%20b",
                             "/admin/payments?bank_ref=%E9%93%B6",
                             "/admin/payments?bank_ref=x&status=PROCESSING",
                             "/admin/payments?bank_ref="
                             "0123456789012345678901234567890123456789012345678901234567890123"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        ASSERT_EQ_INT(api_call(&S_client, "GET", refused[i], S_admin, NULL, &res), 400);
        ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
        client_response_release(&res);
    }
    snprintf(both, sizeof both, "/admin/payments?date=%s", first);
    ASSERT_EQ_INT(api_call(&S_client, "GET", both, u.token, NULL, &res), 403);
    client_response_release(&res);
    /* A page's cursor goes on with the list it came from, the same filters, and no other:
     * given with another day or filter it would answer a page of nothing, as if that list
     * ended there. */
    snprintf(both, sizeof both, "/admin/payments?date=%s&limit=1", first);
    ASSERT_EQ_INT(api_call(&S_client, "GET", both, S_admin, NULL, &res), 200);
    const char *next = api_json_str(&res, "next_cursor");
    ASSERT(next != NULL);
    char cursor[64];
    snprintf(cursor, sizeof cursor, "%s", next);
    client_response_release(&res);
    char path[192];
    snprintf(path, sizeof path, "/admin/payments?date=%s&limit=1&cursor=%s", first, cursor);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, S_admin, NULL, &res), 200);
    client_response_release(&res);
    const char *elsewhere[] = {"/admin/payments?date=2000-01-01&limit=1",
                               "/admin/payments?status=PROCESSING",
                               "/admin/payments?bank_ref=sbx_c_none"};
    for (size_t i = 0; i < sizeof elsewhere / sizeof elsewhere[0]; i++) {
        snprintf(path, sizeof path, "%s&cursor=%s", elsewhere[i], cursor);
        ASSERT_EQ_INT(api_call(&S_client, "GET", path, S_admin, NULL, &res), 400);
        ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
        client_response_release(&res);
    }
}

/* One slow top-up on its own connection (a thread each). */
struct S_slow {
    const struct api_user *user;
    char card_id[API_ID_SIZE_MAX];
    char key[48];
    long status;
    char payment_status[16];
    char id[API_ID_SIZE_MAX];
    long long fee; /* S_withdraw's, when it answered 201 */
};

static void *S_slow_topup(void *arg)
{
    struct S_slow *t = arg;
    struct client client;
    client_init(&client, S_daemon.base_url);
    char body[256];
    snprintf(body, sizeof body, "{\"card_id\":\"%s\",\"amount\":1000,\"payment_password\":\"%s\"}",
             t->card_id, S_PAY);
    struct client_response res;
    t->status = api_call_idem(&client, "POST", "/v1/me/topups", t->user->token, t->key, body, &res);
    const char *status = t->status == 201 ? api_json_str(&res, "status") : NULL;
    snprintf(t->payment_status, sizeof t->payment_status, "%s", status != NULL ? status : "");
    snprintf(t->id, sizeof t->id, "%s", t->status == 201 ? api_json_str(&res, "id") : "");
    client_response_release(&res);
    client_release(&client);
    return NULL;
}

/* Starts fn (S_slow_topup or S_withdraw) on a thread of its own for user with card_id, under
 * the key "<prefix>-<i>-<time>": t its state, *thread its thread. */
static void S_start(struct S_slow *t, pthread_t *thread, void *(*fn)(void *),
                    const struct api_user *user, const char *card_id, const char *prefix, int i)
{
    memset(t, 0, sizeof *t);
    t->user = user;
    snprintf(t->card_id, sizeof t->card_id, "%s", card_id);
    snprintf(t->key, sizeof t->key, "%s-%d-%ld", prefix, i, (long)time(NULL));
    ASSERT_EQ_INT(pthread_create(thread, NULL, fn, t), 0);
}

TEST(a_slow_bank_holds_up_no_other_request)
{
    /* Four top-ups whose bank takes 2 s each, at once: every HTTP thread
     * would be waiting on the bank if the call ran there. Other requests
     * are answered at once meanwhile, the four run side by side, and each
     * ends SUCCESS with its money in. */
    enum { SLOW = 4 };
    struct api_user u, other;
    S_user(&u);
    S_user(&other);
    struct S_slow slow[SLOW];
    pthread_t threads[SLOW];
    char card_id[API_ID_SIZE_MAX];
    S_card(&u, CARD_SLOW, card_id);
    long long before = S_available(&u);
    int64_t t0 = S_now_ms();
    for (int i = 0; i < SLOW; i++) {
        S_start(&slow[i], &threads[i], S_slow_topup, &u, card_id, "slow", i);
    }
    S_sleep_ms(300);
    int64_t t1 = S_now_ms();
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/balances", other.token, NULL, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/healthz", NULL, NULL, &res), 200);
    client_response_release(&res);
    int64_t answered_ms = S_now_ms() - t1;
    for (int i = 0; i < SLOW; i++)
        pthread_join(threads[i], NULL);
    int64_t all_ms = S_now_ms() - t0;
    fprintf(stderr, "  other requests answered in %lld ms; %d slow top-ups took %lld ms\n",
            (long long)answered_ms, SLOW, (long long)all_ms);
    ASSERT(answered_ms < 1000);
    ASSERT(all_ms < 2 * 2000);
    for (int i = 0; i < SLOW; i++) {
        ASSERT_EQ_INT(slow[i].status, 201);
        ASSERT_EQ_STR(slow[i].payment_status, "SUCCESS");
    }
    ASSERT_EQ_INT(S_available(&u), before + SLOW * 1000);
}

/* The time of the daemon's first log line holding both event and payment_id,
 * in Unix milliseconds; -1 when there is none. S_log holds the log. */
static int64_t S_log_ms(const char *event, const char *payment_id)
{
    char needle[160];
    snprintf(needle, sizeof needle, "event=%s payment_id=%s ", event, payment_id);
    const char *at = strstr(S_log, needle);
    if (at == NULL)
        return -1;
    while (at > S_log && at[-1] != '\n')
        at--;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int ms = 0;
    if (sscanf(at, "ts=%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

TEST(a_submission_the_queue_held_too_long_is_not_made)
{
    /* The worker first asks the bank about a payment 6 s after its creation
     * (a call's 4 s timeout, and 2 s): a submission must be over by then, or
     * the bank, asked about a payment it has not seen yet, says so, the
     * payment fails, and the submission still on its way pays it. Sixty
     * top-ups at once whose bank takes 2 s each queue behind the sixteen
     * threads that call banks: those that would start too late are not
     * submitted, every submission made ends within the 6 s, and the worker
     * settles the rest (the sandbox answers a query by the card alone). */
    enum { COUNT = 60 };
    struct api_user u;
    S_user(&u);
    static struct S_slow slow[COUNT];
    pthread_t threads[COUNT];
    char card_id[API_ID_SIZE_MAX];
    S_card(&u, CARD_SLOW, card_id);
    long long before = S_available(&u);
    for (int i = 0; i < COUNT; i++) {
        S_start(&slow[i], &threads[i], S_slow_topup, &u, card_id, "queued", i);
    }
    for (int i = 0; i < COUNT; i++)
        pthread_join(threads[i], NULL);
    int submitted = 0;
    for (int i = 0; i < COUNT; i++) {
        ASSERT_EQ_INT(slow[i].status, 201);
        char status[16], failure[40];
        S_await(&u, slow[i].id, S_WAIT_MS, status, failure);
        ASSERT_EQ_STR(status, "SUCCESS");
    }
    ASSERT(test_file_read(S_daemon.log_path, S_log, sizeof S_log));
    for (int i = 0; i < COUNT; i++) {
        int64_t started = S_log_ms("wallet.payment.started", slow[i].id);
        int64_t answered = S_log_ms("wallet.bank.answer", slow[i].id);
        ASSERT(started > 0);
        char submit[160];
        snprintf(submit, sizeof submit, "payment_id=%s call=submit", slow[i].id);
        if (strstr(S_log, submit) == NULL)
            continue;
        submitted++;
        /* Its first answer is the submission's: over before the worker asks. */
        ASSERT(answered > 0 && answered - started < 6000);
    }
    fprintf(stderr, "  %d of %d submitted in time, the rest left to the worker\n", submitted,
            COUNT);
    ASSERT(submitted >= 1 && submitted < COUNT);
    ASSERT_EQ_INT(S_available(&u), before + COUNT * 1000);
}

/* One withdrawal on its own connection (a thread), like S_slow_topup. */
static void *S_withdraw(void *arg)
{
    struct S_slow *t = arg;
    struct client client;
    client_init(&client, S_daemon.base_url);
    char body[256];
    snprintf(body, sizeof body, "{\"card_id\":\"%s\",\"amount\":1000,\"payment_password\":\"%s\"}",
             t->card_id, S_PAY);
    struct client_response res;
    t->status =
        api_call_idem(&client, "POST", "/v1/me/withdrawals", t->user->token, t->key, body, &res);
    snprintf(t->id, sizeof t->id, "%s", t->status == 201 ? api_json_str(&res, "id") : "");
    t->fee = t->status == 201 ? api_json_int(&res, "fee", -1) : -1;
    client_response_release(&res);
    client_release(&client);
    return NULL;
}

/* How many payments the daemon has started (its log's wallet.payment.started
 * lines); S_log then holds the log. */
static int S_started_count(void)
{
    ASSERT(test_file_read(S_daemon.log_path, S_log, sizeof S_log));
    int count = 0;
    for (const char *at = S_log; (at = strstr(at, "event=wallet.payment.started ")) != NULL; at++)
        count++;
    return count;
}

/* Waits until count payments have started, and a moment more for the last
 * one's bank call to take its thread. */
static void S_await_started(int count)
{
    int64_t deadline = S_now_ms() + S_WAIT_MS;
    while (S_started_count() < count) {
        ASSERT(S_now_ms() < deadline);
        S_sleep_ms(20);
    }
    S_sleep_ms(100);
}

TEST(a_withdrawal_frozen_before_it_is_sent_is_not_sent)
{
    /* A withdrawal holds its money at once and is sent to the bank a moment
     * later, by one of the threads that call banks. A wallet frozen in
     * between (a lost phone) must not see the money leave: here every such
     * thread is busy with another user's slow bank when the withdrawal
     * starts, its owner freezes the wallet while it waits, and it ends
     * FAILED, ACCOUNT_FROZEN, its hold released, never sent. One sent
     * before the freeze, which the bank confirms later, cannot be called
     * back: it ends as the bank says. */
    enum { SLOW = 16 }; /* HTTP_OFFLOAD_THREADS */
    struct api_user u, other;
    S_user(&u);
    S_user(&other);
    char card[API_ID_SIZE_MAX], late_card[API_ID_SIZE_MAX], slow_card[API_ID_SIZE_MAX];
    S_card(&u, CARD_OK, card);
    S_card(&u, CARD_LATE_OK, late_card);
    S_card(&other, CARD_SLOW, slow_card);
    S_fund(&u, card, 50000);
    struct client_response res;
    ASSERT_EQ_INT(S_pay(&u, "/v1/me/withdrawals", late_card, 2000, S_PAY, NULL, &res), 201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "PROCESSING");
    char sent_id[API_ID_SIZE_MAX];
    snprintf(sent_id, sizeof sent_id, "%s", api_json_str(&res, "id"));
    client_response_release(&res);
    static struct S_slow slow[SLOW + 1];
    pthread_t threads[SLOW + 1];
    int started = S_started_count();
    for (int i = 0; i <= SLOW; i++) {
        S_start(&slow[i], &threads[i], i < SLOW ? S_slow_topup : S_withdraw, i < SLOW ? &other : &u,
                i < SLOW ? slow_card : card, "frozen", i);
        if (i == SLOW - 1)
            S_await_started(started + SLOW); /* every thread that calls banks taken */
    }
    /* The withdrawal started: its money held, waiting for a thread. */
    S_await_started(started + SLOW + 1);
    long long available, pending;
    S_balance(&u, &available, &pending);
    ASSERT_EQ_INT(pending, 2010 + 1010);
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/freeze", u.token, NULL, &res), 200);
    client_response_release(&res);
    for (int i = 0; i <= SLOW; i++)
        pthread_join(threads[i], NULL);
    ASSERT_EQ_INT(slow[SLOW].status, 201);
    char status[16], failure[40];
    S_await(&u, slow[SLOW].id, S_WAIT_MS, status, failure);
    ASSERT_EQ_STR(status, "FAILED");
    ASSERT_EQ_STR(failure, "ACCOUNT_FROZEN");
    S_await(&u, sent_id, S_WAIT_MS, status, failure);
    ASSERT_EQ_STR(status, "SUCCESS");
    S_balance(&u, &available, &pending);
    ASSERT_EQ_INT(available, 50000 - 2010);
    ASSERT_EQ_INT(pending, 0);
    ASSERT(test_file_read(S_daemon.log_path, S_log, sizeof S_log));
    char submit[160];
    snprintf(submit, sizeof submit, "payment_id=%s call=submit", slow[SLOW].id);
    ASSERT(strstr(S_log, submit) == NULL);
}

TEST(a_topup_frozen_before_it_is_sent_takes_nothing_from_the_card)
{
    /* A frozen wallet starts no top-up, and one it started just before
     * the freeze is held to the same rule when it is sent: its card is not
     * debited (a lost phone's thief cannot drain the owner's card into the
     * wallet the owner froze), and it ends FAILED, ACCOUNT_FROZEN, nothing
     * moved. As above, every thread that calls banks is busy meanwhile. */
    enum { SLOW = 16 }; /* HTTP_OFFLOAD_THREADS */
    struct api_user u, other;
    S_user(&u);
    S_user(&other);
    char card[API_ID_SIZE_MAX], slow_card[API_ID_SIZE_MAX];
    S_card(&u, CARD_OK, card);
    S_card(&other, CARD_SLOW, slow_card);
    S_fund(&u, card, 50000);
    static struct S_slow slow[SLOW + 1];
    pthread_t threads[SLOW + 1];
    int started = S_started_count();
    for (int i = 0; i <= SLOW; i++) {
        S_start(&slow[i], &threads[i], S_slow_topup, i < SLOW ? &other : &u,
                i < SLOW ? slow_card : card, "frozen-topup", i);
        if (i == SLOW - 1)
            S_await_started(started + SLOW); /* every thread that calls banks taken */
    }
    S_await_started(started + SLOW + 1); /* the top-up started, waiting for a thread */
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/freeze", u.token, NULL, &res), 200);
    client_response_release(&res);
    for (int i = 0; i <= SLOW; i++)
        pthread_join(threads[i], NULL);
    ASSERT_EQ_INT(slow[SLOW].status, 201);
    char status[16], failure[40];
    S_await(&u, slow[SLOW].id, S_WAIT_MS, status, failure);
    ASSERT_EQ_STR(status, "FAILED");
    ASSERT_EQ_STR(failure, "ACCOUNT_FROZEN");
    ASSERT_EQ_INT(S_available(&u), 50000);
    ASSERT(test_file_read(S_daemon.log_path, S_log, sizeof S_log));
    char submit[160];
    snprintf(submit, sizeof submit, "payment_id=%s call=submit", slow[SLOW].id);
    ASSERT(strstr(S_log, submit) == NULL);
}

TEST(payments_of_others_are_not_found)
{
    // A payment id is only its maker's: anyone else gets 404, like an id that never existed.
    struct api_user u, v;
    S_user(&u);
    S_user(&v);
    char card[API_ID_SIZE_MAX];
    S_card(&u, CARD_OK, card);
    struct client_response res;
    ASSERT_EQ_INT(S_pay(&u, "/v1/me/topups", card, 100, S_PAY, NULL, &res), 201);
    char path[128];
    snprintf(path, sizeof path, "/v1/me/payments/%s", api_json_str(&res, "id"));
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, v.token, NULL, &res), 404);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, u.token, NULL, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/payments/p_nope", u.token, NULL, &res), 404);
    client_response_release(&res);
}

/* The daemon of this program again, on its data, with the arguments main starts it with and
 * extra (NULL-terminated, may be empty) after them. */
static void S_restart(const char *const *extra)
{
    client_release(&S_client);
    ASSERT_EQ_INT(test_daemon_stop(&S_daemon), 0);
    const char *args[16] = {"--sms-cooldown-s", "0", "--sms-daily-max", "1000",
                            "--http-threads",   "1"};
    size_t n = 6;
    for (size_t i = 0; extra[i] != NULL && n + 1 < QB_ARRAY_COUNT(args); i++)
        args[n++] = extra[i];
    args[n] = NULL;
    API_MUST(api_daemon_start(&S_daemon, S_root, "money", args, S_admin));
    client_init(&S_client, S_daemon.base_url);
}

TEST(pending_withdrawal_is_resolved_after_a_restart)
{
    // A withdrawal the bank has not confirmed survives the daemon: stopped at once, started
    // again, the worker finds it in the payments table and finishes it, fee and all.
    struct api_user u;
    S_user(&u);
    char ok[API_ID_SIZE_MAX], funds[API_ID_SIZE_MAX];
    S_card(&u, CARD_LATE_OK, ok);
    S_card(&u, CARD_OK, funds);
    S_fund(&u, funds, 50000);
    struct client_response res;
    ASSERT_EQ_INT(S_pay(&u, "/v1/me/withdrawals", ok, 10000, S_PAY, NULL, &res), 201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "PROCESSING");
    char id[API_ID_SIZE_MAX];
    snprintf(id, sizeof id, "%s", api_json_str(&res, "id"));
    client_response_release(&res);

    const char *none[] = {NULL};
    S_restart(none);

    long long available, pending;
    S_balance(&u, &available, &pending);
    ASSERT_EQ_INT(available, 50000 - 10010);
    char status[16], failure[40];
    S_await(&u, id, S_WAIT_MS, status, failure);
    ASSERT_EQ_STR(status, "SUCCESS");
    S_balance(&u, &available, &pending);
    ASSERT_EQ_INT(available, 50000 - 10010);
    ASSERT_EQ_INT(pending, 0);
}

/* free_quota and free_quota_left of u's withdrawal quote for query; its fee into *fee (-1 when
 * the quote names none). */
static void S_free_quote(const struct api_user *u, const char *query, long long *quota,
                         long long *left, long long *fee)
{
    struct client_response res;
    ASSERT_EQ_INT(S_quote(u, query, &res), 200);
    *quota = api_json_int(&res, "free_quota", -1);
    *left = api_json_int(&res, "free_quota_left", -1);
    *fee = api_json_int(&res, "fee", -1);
    client_response_release(&res);
}

TEST(a_free_allowance_waives_the_fee_until_it_is_used)
{
    // With --withdrawal-free-quota 100000 the first ¥1,000 a user withdraws carry no fee: the
    // quote says what is left of it, a withdrawal within it pays nothing, one across its end
    // pays the fee on the part over it only, a processing one uses its part at once and a
    // failed one gives it back: its own part, not the part of a later one that paid the fee.
    // Then the daemon goes back to the default, no allowance.
    const char *quota[] = {"--withdrawal-free-quota", "100000", NULL};
    S_restart(quota);
    struct api_user u;
    S_user(&u);
    API_MUST(api_user_verify(&S_client, &u, "李四")); /* level 2: no lifetime limit of ¥1,000 */
    char card[API_ID_SIZE_MAX], late_fail[API_ID_SIZE_MAX];
    S_card(&u, CARD_OK, card);
    S_card(&u, CARD_LATE_FAIL, late_fail);
    S_fund(&u, card, 200000);

    long long q, left, fee;
    S_free_quote(&u, "?amount=60000", &q, &left, &fee);
    ASSERT_EQ_INT(q, 100000);
    ASSERT_EQ_INT(left, 100000);
    ASSERT_EQ_INT(fee, 0);
    struct client_response res;
    ASSERT_EQ_INT(S_quote(&u, "", &res), 200); /* withdraw all: ¥1,000 free, 0.1 % of the rest */
    ASSERT_EQ_INT(api_json_int(&res, "max_amount", -1), 199900);
    ASSERT_EQ_INT(api_json_int(&res, "max_fee", -1), 100);
    client_response_release(&res);
    ASSERT_EQ_INT(S_pay(&u, "/v1/me/withdrawals", card, 60000, S_PAY, NULL, &res), 201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "SUCCESS");
    ASSERT_EQ_INT(api_json_int(&res, "fee", -1), 0);
    client_response_release(&res);

    /* ¥400 left: ¥500 pays 0.1 % of the ¥100 over it, at least ¥0.10. */
    S_free_quote(&u, "?amount=50000", &q, &left, &fee);
    ASSERT_EQ_INT(left, 40000);
    ASSERT_EQ_INT(fee, 10);
    /* ¥300 of it used by one the bank works on; ¥200 more pays the fee on the ¥100 over. */
    ASSERT_EQ_INT(S_pay(&u, "/v1/me/withdrawals", late_fail, 30000, S_PAY, NULL, &res), 201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "PROCESSING");
    ASSERT_EQ_INT(api_json_int(&res, "fee", -1), 0);
    char id[API_ID_SIZE_MAX];
    snprintf(id, sizeof id, "%s", api_json_str(&res, "id"));
    client_response_release(&res);
    S_free_quote(&u, "?amount=20000", &q, &left, &fee); /* used while the bank works on it */
    ASSERT_EQ_INT(left, 10000);
    ASSERT_EQ_INT(fee, 10);
    ASSERT_EQ_INT(S_pay(&u, "/v1/me/withdrawals", card, 20000, S_PAY, NULL, &res), 201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "SUCCESS");
    ASSERT_EQ_INT(api_json_int(&res, "fee", -1), 10);
    client_response_release(&res);
    S_free_quote(&u, "?amount=100", &q, &left, &fee);
    ASSERT_EQ_INT(left, 0);
    ASSERT_EQ_INT(fee, 10);
    char status[16], failure[40];
    S_await(&u, id, S_WAIT_MS, status, failure);
    ASSERT_EQ_STR(status, "FAILED");
    /* failed: its ¥300 is back, beside what the ¥200 did not use */
    S_free_quote(&u, "", &q, &left, &fee);
    ASSERT_EQ_INT(left, 30000);

    ASSERT_EQ_INT(S_pay(&u, "/v1/me/withdrawals", card, 30000, S_PAY, NULL, &res), 201);
    ASSERT_EQ_INT(api_json_int(&res, "fee", -1), 0);
    client_response_release(&res);
    ASSERT_EQ_INT(S_pay(&u, "/v1/me/withdrawals", card, 1000, S_PAY, NULL, &res), 201);
    ASSERT_EQ_INT(api_json_int(&res, "fee", -1), 10); /* all used: the fee as ever */
    client_response_release(&res);
    S_free_quote(&u, "", &q, &left, &fee);
    ASSERT_EQ_INT(left, 0);
    long long available, pending;
    S_balance(&u, &available, &pending);
    ASSERT_EQ_INT(available, 200000 - 60000 - 20010 - 30000 - 1010);
    ASSERT_EQ_INT(pending, 0);

    /* Sixteen withdrawals of ¥10 at once with ¥45 left: the allowance is read and used in each
     * one's transaction, so exactly four are free and the fifth pays the minimum on its ¥5 over
     * it, as do the rest. */
    struct api_user w;
    S_user(&w);
    API_MUST(api_user_verify(&S_client, &w, "李四"));
    char w_card[API_ID_SIZE_MAX];
    S_card(&w, CARD_OK, w_card);
    S_fund(&w, w_card, 200000);
    ASSERT_EQ_INT(S_pay(&w, "/v1/me/withdrawals", w_card, 95500, S_PAY, NULL, &res), 201);
    ASSERT_EQ_INT(api_json_int(&res, "fee", -1), 0);
    client_response_release(&res);
    enum { RACE = 16 };
    struct S_slow race[RACE];
    pthread_t threads[RACE];
    for (int i = 0; i < RACE; i++) {
        S_start(&race[i], &threads[i], S_withdraw, &w, w_card, "free-race", i);
    }
    int free_count = 0;
    long long fees = 0;
    for (int i = 0; i < RACE; i++) {
        ASSERT_EQ_INT(pthread_join(threads[i], NULL), 0);
        ASSERT_EQ_INT(race[i].status, 201);
        ASSERT(race[i].fee == 0 || race[i].fee == 10);
        free_count += race[i].fee == 0;
        fees += race[i].fee;
    }
    ASSERT_EQ_INT(free_count, 4);
    ASSERT_EQ_INT(fees, 12 * 10);
    S_balance(&w, &available, &pending);
    ASSERT_EQ_INT(available + pending, 200000 - 95500 - RACE * 1000 - 120);

    const char *none[] = {NULL};
    S_restart(none);
    S_free_quote(&u, "?amount=100", &q, &left, &fee);
    ASSERT_EQ_INT(q, 0);
    ASSERT_EQ_INT(left, 0);
    ASSERT_EQ_INT(fee, 10);
}

/* How many times text occurs in the daemon's log so far (one line per write). */
static int S_log_count(const char *text)
{
    ASSERT(test_file_read(S_daemon.log_path, S_log, sizeof S_log));
    int count = 0;
    for (const char *at = strstr(S_log, text); at != NULL; at = strstr(at + 1, text))
        count++;
    return count;
}

/* How many bills GET /v1/me/transactions shows u (fewer than 100). */
static size_t S_bill_count(const struct api_user *u)
{
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/transactions?limit=100", u->token, NULL, &res),
                  200);
    json_t *body = api_json(&res);
    client_response_release(&res);
    size_t count = json_array_size(json_object_get(body, "items"));
    ASSERT(count < 100);
    json_decref(body);
    return count;
}

/* The item of GET /v1/me/cards with id card_id (a new reference), NULL when absent. */
static json_t *S_listed_card(const struct api_user *u, const char *card_id)
{
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/cards", u->token, NULL, &res), 200);
    json_t *body = api_json(&res);
    client_response_release(&res);
    json_t *found = NULL, *item;
    size_t i;
    json_array_foreach(json_object_get(body, "items"), i, item) {
        if (strcmp(json_string_value(json_object_get(item, "id")), card_id) == 0)
            found = json_incref(item);
    }
    json_decref(body);
    return found;
}

TEST(cards_in_another_name_stop_moving_money_once_the_wallet_is_verified)
{
    // A card bound in 李四's name before the wallet verified 王五 as its holder must not
    // move money in or out afterwards: 400 CARD_HOLDER_MISMATCH, no payment, no hold, no bank
    // call, neither name in the answer; a card in 王五's name still works, and the card list
    // says which is which.
    struct api_user u;
    S_user(&u);
    char other[API_ID_SIZE_MAX], own[API_ID_SIZE_MAX];
    S_card_named(&u, CARD_OK, "李四", other);
    S_fund(&u, other, 5000); /* before verification any bound card may be used */
    json_t *listed = S_listed_card(&u, other);
    ASSERT(listed != NULL);
    ASSERT(json_is_true(json_object_get(listed, "usable")));
    ASSERT(json_is_null(json_object_get(listed, "unusable_reason")));
    json_decref(listed);

    char id_number[19], body[256];
    api_id_number_complete("11010519900307123", id_number);
    snprintf(body, sizeof body, "{\"real_name\":\"王五\",\"id_number\":\"%s\"}", id_number);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/kyc", u.token, body, &res), 200);
    client_response_release(&res);
    S_card_named(&u, CARD_ICBC_3, "王五", own);

    long long available, pending;
    S_balance(&u, &available, &pending);
    ASSERT_EQ_INT(available, 5000);
    size_t bills = S_bill_count(&u);
    int started = S_log_count("wallet.payment.started");
    int bank_calls = S_log_count("wallet.bank.");
    const char *routes[] = {"/v1/me/topups", "/v1/me/withdrawals"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(routes); i++) {
        char key[48];
        snprintf(key, sizeof key, "mismatch-%zu-%ld", i, (long)time(NULL));
        for (int attempt = 0; attempt < 2; attempt++) { /* the retry gets the same answer */
            ASSERT_EQ_INT(S_pay(&u, routes[i], other, 1000, S_PAY, key, &res), 400);
            ASSERT_EQ_STR(api_json_str(&res, "code"), "CARD_HOLDER_MISMATCH");
            ASSERT(strstr(res.body.data, "李四") == NULL && strstr(res.body.data, "王五") == NULL);
            client_response_release(&res);
        }
    }
    S_balance(&u, &available, &pending);
    ASSERT_EQ_INT(available, 5000);
    ASSERT_EQ_INT(pending, 0);
    ASSERT_EQ_INT((long long)S_bill_count(&u), (long long)bills);
    ASSERT_EQ_INT(S_log_count("wallet.payment.started"), started);
    ASSERT_EQ_INT(S_log_count("wallet.bank."), bank_calls);

    listed = S_listed_card(&u, other);
    ASSERT(listed != NULL);
    ASSERT(json_is_false(json_object_get(listed, "usable")));
    ASSERT_EQ_STR(json_string_value(json_object_get(listed, "unusable_reason")),
                  "CARD_HOLDER_MISMATCH");
    json_decref(listed);
    listed = S_listed_card(&u, own);
    ASSERT(listed != NULL);
    ASSERT(json_is_true(json_object_get(listed, "usable")));
    json_decref(listed);

    /* The card in the verified name moves money both ways. */
    S_fund(&u, own, 2000);
    ASSERT_EQ_INT(S_pay(&u, "/v1/me/withdrawals", own, 1000, S_PAY, NULL, &res), 201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "SUCCESS");
    client_response_release(&res);
    S_balance(&u, &available, &pending);
    ASSERT_EQ_INT(available, 5000 + 2000 - 1000 - 10);
    ASSERT_EQ_INT(pending, 0);
}

TEST(log_holds_no_card_number)
{
    // Every card number this program bound went through the daemon; none may be in its log.
    ASSERT(test_file_read(S_daemon.log_path, S_log, sizeof S_log));
    const char *numbers[] = {CARD_OK,           CARD_DECLINE, CARD_NO_FUNDS,  CARD_TIMEOUT_DONE,
                             CARD_TIMEOUT_LOST, CARD_LATE_OK, CARD_LATE_FAIL, CARD_ICBC,
                             CARD_ICBC_2,       CARD_ICBC_3};
    for (size_t i = 0; i < QB_ARRAY_COUNT(numbers); i++)
        ASSERT(strstr(S_log, numbers[i]) == NULL);
    ASSERT(strstr(S_log, "wallet.payment.finished") != NULL);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    /* One HTTP thread: a request that held it (a bank call) would hold up every other. */
    const char *args[] = {"--sms-cooldown-s", "0", "--sms-daily-max", "1000", "--http-threads", "1",
                          NULL};
    if (!api_suite_daemon(&suite, &S_daemon, "money", args, S_admin, &S_client))
        return api_suite_end(&suite);

    RUN(topup_moves_money_from_the_card);
    RUN(topup_retry_returns_the_same_payment_and_moves_money_once);
    RUN(bank_refusals_fail_the_topup_and_move_nothing);
    RUN(bad_payments_are_refused_and_change_nothing);
    RUN(withdrawal_pays_the_card_and_charges_the_fee);
    RUN(withdrawal_quote_says_the_fee_and_the_most_that_can_go);
    RUN(a_frozen_wallets_quote_offers_nothing);
    RUN(a_level_1_wallet_cashes_out_within_its_lifetime_limit);
    RUN(withdrawal_over_the_balance_is_402_and_changes_nothing);
    RUN(slow_banks_are_resolved_by_the_worker);
    RUN(an_operator_sees_what_waits_on_the_bank);
    RUN(an_operator_lists_a_days_bank_payments_to_reconcile);
    RUN(a_slow_bank_holds_up_no_other_request);
    RUN(a_submission_the_queue_held_too_long_is_not_made);
    RUN(a_withdrawal_frozen_before_it_is_sent_is_not_sent);
    RUN(a_topup_frozen_before_it_is_sent_takes_nothing_from_the_card);
    RUN(payments_of_others_are_not_found);
    RUN(pending_withdrawal_is_resolved_after_a_restart);
    RUN(cards_in_another_name_stop_moving_money_once_the_wallet_is_verified);
    RUN(log_holds_no_card_number);
    /* Last: a failure in it could leave the daemon with its allowance. */
    RUN(a_free_allowance_waives_the_fee_until_it_is_used);

    /* The books balance after all of it: hash chain, sums, floors, holds. */
    api_suite_stop(&suite);
    api_suite_verify_ledger(&suite, &S_daemon);
    return api_suite_end(&suite);
}

/*
 * test_merchant_owner.c — the wallet side of a merchant's owner, black-box:
 * the merchant's balance (GET /v1/merchants/me), its sales analytics
 * (GET /v1/merchants/me/analytics) computed from real paid orders, and the
 * owner withdrawing the merchant's balance to a bound card through the same
 * machinery as a user's withdrawal (POST /v1/merchants/me/withdrawals), the
 * owner's phone hearing of each payment (GET /v1/merchants/me/changes, a
 * long poll) and listing them (GET /v1/merchants/me/payments), and
 * the owner replacing a leaked key: the merchant's API v3 key (POST
 * /v1/merchants/me/apiv3-key) and its API certificate (POST
 * /v1/merchants/me/certificate).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/lib/suite.h"
#include "api/merchant_helpers.h"
#include "api/refund_helpers.h"
#include "api/transfer_helpers.h"

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];

/* Onboards a merchant owned by u through POST /v1/merchants. */
static void S_onboard(const struct api_user *u, const char *name, struct mh_merchant *m)
{
    API_MUST(mh_owner_onboard(&S_client, u, name, m));
}

/* A native order of m for total; paid by payer unless payer is NULL. */
static void S_order(const struct mh_merchant *m, const struct api_user *payer,
                    const char *out_trade_no, long long total)
{
    struct client_response res;
    ASSERT_EQ_INT(mh_native_order(&S_client, m, out_trade_no, total, &res), 200);
    char pay[256];
    snprintf(pay, sizeof pay, "{\"code_url\":\"%s\",\"payment_password\":\"%s\"}",
             api_json_str(&res, "code_url"), TH_PAY_PASSWORD);
    client_response_release(&res);
    if (payer == NULL)
        return;
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/me/order-payments", payer->token,
                                out_trade_no, pay, &res),
                  201);
    client_response_release(&res);
}

/* The merchant's available and pending balance, as its owner reads it. */
static void S_merchant_balance(const struct api_user *owner, const char *query,
                               long long *available, long long *pending)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/merchants/me%s", query);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, owner->token, NULL, &res), 200);
    json_t *j = api_json(&res);
    client_response_release(&res);
    json_t *b = json_array_get(json_object_get(j, "balances"), 0);
    ASSERT(b != NULL);
    ASSERT_EQ_STR(json_string_value(json_object_get(b, "currency")), "CNY");
    *available = json_integer_value(json_object_get(b, "available"));
    *pending = json_integer_value(json_object_get(b, "pending"));
    json_decref(j);
}

/* The merchant API's balance of the settlement account says what the owner's view says. */
static void S_v3_balance_is(const struct mh_merchant *m, long long available, long long pending)
{
    struct client_response res;
    ASSERT_EQ_INT(mh_call(&S_client, m, "GET", "/v3/merchant/fund/balance/BASIC", NULL, &res), 200);
    ASSERT(mh_response_verified(m, &res));
    ASSERT_EQ_INT(api_json_int(&res, "available_amount", -1), available);
    ASSERT_EQ_INT(api_json_int(&res, "pending_amount", -1), pending);
    client_response_release(&res);
}

/* The body of a merchant withdrawal of amount to card_id with the right payment password. */
static void S_withdrawal_body(char body[256], const char *card_id, long long amount)
{
    snprintf(body, 256,
             "{\"card_id\":\"%s\",\"amount\":%lld,\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             card_id, amount);
}

/* POST /v1/merchants/me/withdrawals by owner under key; the status, the answer in res. */
static long S_withdraw(const struct api_user *owner, const char *card_id, long long amount,
                       const char *key, struct client_response *res)
{
    return rh_merchant_withdraw(&S_client, owner, NULL, card_id, amount, key, res);
}

/* The id of the first card owner has bound. */
static void S_first_card(const struct api_user *owner, char card_id[64])
{
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/cards", owner->token, NULL, &res), 200);
    json_t *cards = api_json(&res);
    client_response_release(&res);
    snprintf(card_id, 64, "%s",
             json_string_value(
                 json_object_get(json_array_get(json_object_get(cards, "items"), 0), "id")));
    json_decref(cards);
    ASSERT(card_id[0] != '\0');
}

/* The sum of the integer field over the objects of array. */
static long long S_sum(const json_t *array, const char *field)
{
    long long sum = 0;
    for (size_t i = 0; i < json_array_size(array); i++)
        sum += json_integer_value(json_object_get(json_array_get(array, i), field));
    return sum;
}

/* Today's date in Beijing time, and the hour of the day there. */
static int S_today(char out[16])
{
    time_t t = time(NULL) + 8 * 3600;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
    return tm.tm_hour;
}

static void S_expect(const struct api_user *u, const char *method, const char *path,
                     const char *body, long status, const char *code)
{
    struct client_response res;
    long got = strcmp(method, "POST") == 0
                   ? api_call_idem(&S_client, method, path, u->token, "k-expect", body, &res)
                   : api_call(&S_client, method, path, u->token, body, &res);
    ASSERT_EQ_INT(got, status);
    ASSERT_EQ_STR(api_error_code(&res), code);
    client_response_release(&res);
}

TEST(the_owner_sees_balance_and_analytics_of_real_payments)
{
    // Paid orders credit the merchant (less the 0.6 % fee) and make up the analytics: counts,
    // exact sums, the average ticket rounded half up, payers and repeat payers, by day and hour.
    struct api_user owner, p1, p2, stranger;
    API_MUST(th_user_new(&S_client, S_admin, &owner));
    API_MUST(th_user_new(&S_client, S_admin, &p1));
    API_MUST(th_user_new(&S_client, S_admin, &p2));
    API_MUST(th_user_new(&S_client, S_admin, &stranger));
    API_MUST(th_fund(&S_client, S_admin, &p1, 100000));
    API_MUST(th_fund(&S_client, S_admin, &p2, 100000));
    struct mh_merchant m;
    S_onboard(&owner, "owner-shop", &m);
    long long available = -1, pending = -1;
    S_merchant_balance(&owner, "", &available, &pending);
    ASSERT_EQ_INT(available, 0);
    /* The payments' days and hours: these, or later ones if a clock hour turns meanwhile. */
    char first[16];
    int first_hour = S_today(first);
    S_order(&m, &p1, "an-0001", 10000);
    S_order(&m, &p1, "an-0002", 2000);
    S_order(&m, &p1, "an-0003", 345);
    S_order(&m, &p2, "an-0004", 500);
    S_order(&m, NULL, "an-0005", 999);
    /* Fees: 60 + 12 + 2 (2.07) + 3 = 77. */
    S_merchant_balance(&owner, "", &available, &pending);
    ASSERT_EQ_INT(available, 12845 - 77);
    ASSERT_EQ_INT(pending, 0);
    /* Two refunds: their own figures, not taken off the sales. */
    struct client_response res;
    ASSERT_EQ_INT(rh_refund(&S_client, &m, "an-0001", "an-r1", 1000, 10000, NULL, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(rh_refund(&S_client, &m, "an-0004", "an-r2", 500, 500, NULL, &res), 200);
    client_response_release(&res);

    char today[16], path[256];
    int last_hour = S_today(today);
    snprintf(path, sizeof path, "/v1/merchants/me/analytics?from=%s&to=%s", first, today);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, owner.token, NULL, &res), 200);
    json_t *j = api_json(&res);
    client_response_release(&res);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "mchid")), m.mchid);
    ASSERT_EQ_INT(json_integer_value(json_object_get(j, "order_count")), 5);
    ASSERT_EQ_INT(json_integer_value(json_object_get(j, "paid_count")), 4);
    ASSERT_EQ_INT(json_integer_value(json_object_get(j, "sales")), 12845);
    ASSERT_EQ_INT(json_integer_value(json_object_get(j, "average_ticket")), 3211); /* 3211.25 */
    ASSERT_EQ_INT(json_integer_value(json_object_get(j, "payer_count")), 2);
    ASSERT_EQ_INT(json_integer_value(json_object_get(j, "repeat_payer_count")), 1);
    ASSERT_EQ_INT(json_integer_value(json_object_get(j, "refund_count")), 2);
    ASSERT_EQ_INT(json_integer_value(json_object_get(j, "refunds")), 1500);
    json_t *days = json_object_get(j, "by_day");
    size_t day_count = json_array_size(days);
    ASSERT(day_count == (strcmp(first, today) == 0 ? 1u : 2u)); /* past midnight: two */
    ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(days, 0), "date")), first);
    ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(days, day_count - 1), "date")),
                  today);
    ASSERT_EQ_INT(S_sum(days, "sales"), 12845);
    ASSERT_EQ_INT(S_sum(days, "refunds"), 1500);
    ASSERT_EQ_INT(S_sum(days, "refund_count"), 2);
    json_t *hours = json_object_get(j, "by_hour");
    ASSERT_EQ_INT(json_array_size(hours), 24);
    for (size_t i = 0; i < 24; i++)
        ASSERT_EQ_INT(json_integer_value(json_object_get(json_array_get(hours, i), "hour")),
                      (long long)i);
    ASSERT_EQ_INT(S_sum(hours, "refunds"), 1500);
    ASSERT_EQ_INT(S_sum(hours, "sales"), 12845);
    ASSERT_EQ_INT(S_sum(hours, "paid_count"), 4);
    /* All four in the hours the test ran in (two if a clock hour turned). */
    long long in_hours = 0;
    for (int h = first_hour;; h = (h + 1) % 24) {
        in_hours +=
            json_integer_value(json_object_get(json_array_get(hours, (size_t)h), "paid_count"));
        if (h == last_hour)
            break;
    }
    ASSERT_EQ_INT(in_hours, 4);
    json_decref(j);

    /* A range of days before any payment: zeros, every day listed. */
    ASSERT_EQ_INT(api_call(&S_client, "GET",
                           "/v1/merchants/me/analytics?from=2026-01-01&to=2026-01-03", owner.token,
                           NULL, &res),
                  200);
    j = api_json(&res);
    client_response_release(&res);
    ASSERT_EQ_INT(json_integer_value(json_object_get(j, "paid_count")), 0);
    ASSERT_EQ_INT(json_integer_value(json_object_get(j, "average_ticket")), 0);
    ASSERT_EQ_INT(json_array_size(json_object_get(j, "by_day")), 3);
    ASSERT_EQ_STR(json_string_value(
                      json_object_get(json_array_get(json_object_get(j, "by_day"), 2), "date")),
                  "2026-01-03");
    json_decref(j);

    /* Bad ranges; a user without a merchant; several merchants need ?mchid=. */
    S_expect(&owner, "GET", "/v1/merchants/me/analytics?from=2026-01-01", NULL, 400, "PARAM_ERROR");
    S_expect(&owner, "GET", "/v1/merchants/me/analytics?from=2026-01-02&to=2026-01-01", NULL, 400,
             "PARAM_ERROR");
    S_expect(&owner, "GET", "/v1/merchants/me/analytics?from=2026-01-01&to=2026-04-03", NULL, 400,
             "PARAM_ERROR");
    S_expect(&owner, "GET", "/v1/merchants/me/analytics?from=2026-1-1&to=2026-01-03", NULL, 400,
             "PARAM_ERROR");
    ASSERT_EQ_INT(api_call(&S_client, "GET",
                           "/v1/merchants/me/analytics?from=2026-01-01&to=2026-04-02", owner.token,
                           NULL, &res),
                  200); /* 92 days */
    client_response_release(&res);
    S_expect(&stranger, "GET", "/v1/merchants/me", NULL, 404, "NOT_FOUND");
    snprintf(path, sizeof path, "/v1/merchants/me?mchid=%s", m.mchid);
    S_expect(&stranger, "GET", path, NULL, 404, "NOT_FOUND");
    struct mh_merchant second;
    S_onboard(&owner, "second-shop", &second);
    S_expect(&owner, "GET", "/v1/merchants/me", NULL, 400, "PARAM_ERROR");
    S_merchant_balance(&owner, path + strlen("/v1/merchants/me"), &available, &pending);
    /* The refunds took 1000 − 6 and 500 − 3 (their fee shares come back). */
    ASSERT_EQ_INT(available, 12845 - 77 - 994 - 497);
    mh_release(&second);
    mh_release(&m);
}

TEST(the_owner_withdraws_the_merchants_balance_like_a_user)
{
    // The hold, the bank, the fee and the idempotent retry of a user's withdrawal, taken from the
    // merchant's settlement account; the owner's own balance is untouched; others find nothing.
    struct api_user owner, payer, stranger;
    API_MUST(th_user_new(&S_client, S_admin, &owner));
    API_MUST(th_user_new(&S_client, S_admin, &payer));
    API_MUST(th_user_new(&S_client, S_admin, &stranger));
    API_MUST(th_fund(&S_client, S_admin, &payer, 100000));
    API_MUST(th_fund(&S_client, S_admin, &owner, 100)); /* binds the owner's card */
    struct mh_merchant m;
    S_onboard(&owner, "withdraw-shop", &m);
    S_order(&m, &payer, "wd-0001", 50000);
    long long available = -1, pending = -1;
    S_merchant_balance(&owner, "", &available, &pending);
    ASSERT_EQ_INT(available, 50000 - 300);
    S_v3_balance_is(&m, 50000 - 300, 0);
    /* WeChat's other account types do not exist here. */
    const char *bad_types[] = {"OPERATION", "FEES", "basic", "BASIC%20"};
    for (size_t i = 0; i < 4; i++) {
        char type_path[96];
        snprintf(type_path, sizeof type_path, "/v3/merchant/fund/balance/%s", bad_types[i]);
        struct client_response bad;
        ASSERT_EQ_INT(mh_call(&S_client, &m, "GET", type_path, NULL, &bad), 400);
        ASSERT_EQ_STR(api_error_code(&bad), "PARAM_ERROR");
        client_response_release(&bad);
    }

    struct client_response res;
    char card_id[64];
    S_first_card(&owner, card_id);

    char body[256];
    ASSERT_EQ_INT(S_withdraw(&owner, card_id, 20000, "mw-1", &res), 201);
    ASSERT_EQ_STR(api_json_str(&res, "type"), "withdrawal");
    ASSERT_EQ_STR(api_json_str(&res, "status"), "SUCCESS");
    long long fee = api_json_int(&res, "fee", -1);
    ASSERT(fee >= 0);
    char payment_id[64];
    snprintf(payment_id, sizeof payment_id, "%s", api_json_str(&res, "id"));
    client_response_release(&res);
    S_merchant_balance(&owner, "", &available, &pending);
    ASSERT_EQ_INT(available, 50000 - 300 - 20000 - fee);
    ASSERT_EQ_INT(pending, 0);
    S_v3_balance_is(&m, available, 0);
    ASSERT_EQ_INT(th_balance(&S_client, &owner), 100);

    /* The retry answers the same payment and moves nothing. */
    ASSERT_EQ_INT(S_withdraw(&owner, card_id, 20000, "mw-1", &res), 201);
    ASSERT_EQ_STR(api_json_str(&res, "id"), payment_id);
    client_response_release(&res);
    S_merchant_balance(&owner, "", &available, &pending);
    ASSERT_EQ_INT(available, 50000 - 300 - 20000 - fee);
    char path[128];
    snprintf(path, sizeof path, "/v1/me/payments/%s", payment_id);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, owner.token, NULL, &res), 200);
    client_response_release(&res);

    /* More than the merchant has; a wrong password; bad input; not the owner. */
    S_withdrawal_body(body, card_id, 40000);
    S_expect(&owner, "POST", "/v1/merchants/me/withdrawals", body, 402, "INSUFFICIENT_BALANCE");
    /* All it has, which the fee does not leave room for: the refusal names the fee and the
     * quote of this merchant (its owner may own several). */
    S_withdrawal_body(body, card_id, available);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/merchants/me/withdrawals", owner.token,
                                "mw-all", body, &res),
                  402);
    ASSERT(api_json_int(&res, "fee", -1) > 0);
    char named[64];
    snprintf(named, sizeof named, "withdrawal-quote?mchid=%s", m.mchid);
    ASSERT(strstr(api_json_str(&res, "message"), named) != NULL);
    client_response_release(&res);
    snprintf(body, sizeof body,
             "{\"card_id\":\"%s\",\"amount\":100,\"payment_password\":\"000000\"}", card_id);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/merchants/me/withdrawals", owner.token,
                                "mw-2", body, &res),
                  403);
    ASSERT_EQ_STR(api_error_code(&res), "PASSWORD_WRONG");
    client_response_release(&res);
    ASSERT_EQ_INT(S_withdraw(&owner, card_id, 0, "mw-3", &res), 400);
    client_response_release(&res);
    snprintf(body, sizeof body,
             "{\"card_id\":\"%s\",\"amount\":100,\"payment_password\":\"" TH_PAY_PASSWORD
             "\",\"mchid\":\"%s\"}",
             card_id, m.mchid);
    S_expect(&stranger, "POST", "/v1/merchants/me/withdrawals", body, 404, "NOT_FOUND");
    S_merchant_balance(&owner, "", &available, &pending);
    ASSERT_EQ_INT(available, 50000 - 300 - 20000 - fee);

    /* While an operator has the merchant suspended, its money stays for the refunds: the owner
     * cannot take it out. Resumed, the withdrawal is checked as before (more than there is). */
    char admin_path[96];
    snprintf(admin_path, sizeof admin_path, "/admin/merchants/%s/suspend", m.mchid);
    ASSERT_EQ_INT(api_call(&S_client, "POST", admin_path, S_admin, NULL, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(S_withdraw(&owner, card_id, 100, "mw-suspended", &res), 403);
    ASSERT_EQ_STR(api_error_code(&res), "ACCOUNT_FROZEN");
    /* The owner's own wallet is not frozen: they are told it is the merchant, and why. */
    ASSERT(strstr(api_json_str(&res, "message"), "suspended") != NULL);
    client_response_release(&res);
    /* Nor does the quote offer what the withdrawal would refuse ("withdraw all" of nothing). */
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/merchants/me/withdrawal-quote?amount=100",
                           owner.token, NULL, &res),
                  200);
    ASSERT_EQ_INT(api_json_int(&res, "max_amount", -1), 0);
    json_t *quote = api_json(&res);
    ASSERT(json_is_false(json_object_get(quote, "payable")));
    json_decref(quote);
    client_response_release(&res);
    S_merchant_balance(&owner, "", &available, &pending);
    ASSERT_EQ_INT(available, 50000 - 300 - 20000 - fee);
    ASSERT_EQ_INT(pending, 0);
    snprintf(admin_path, sizeof admin_path, "/admin/merchants/%s/resume", m.mchid);
    ASSERT_EQ_INT(api_call(&S_client, "POST", admin_path, S_admin, NULL, &res), 200);
    client_response_release(&res);
    /* The owner was told of both in the account's history, newest first, naming the merchant;
     * the operator's reason is not theirs. */
    ASSERT_EQ_INT(
        api_call(&S_client, "GET", "/v1/me/security-events?limit=2", owner.token, NULL, &res), 200);
    json_t *page = api_json(&res);
    client_response_release(&res);
    json_t *events = json_object_get(page, "items");
    char mchid_detail[32];
    snprintf(mchid_detail, sizeof mchid_detail, "mchid=%s", m.mchid);
    const char *kinds[] = {"merchant_resumed", "merchant_suspended"};
    for (size_t i = 0; i < 2; i++) {
        json_t *e = json_array_get(events, i);
        ASSERT_EQ_STR(json_string_value(json_object_get(e, "kind")), kinds[i]);
        ASSERT_EQ_STR(json_string_value(json_object_get(e, "detail")), mchid_detail);
    }
    json_decref(page);
    S_withdrawal_body(body, card_id, 40000);
    S_expect(&owner, "POST", "/v1/merchants/me/withdrawals", body, 402, "INSUFFICIENT_BALANCE");

    /* The quote reads the merchant's balance, not the owner's: the most that can go is what the
     * settlement account holds less the fee; a stranger has no merchant to ask about. */
    char quote_path[160];
    snprintf(quote_path, sizeof quote_path, "/v1/merchants/me/withdrawal-quote?mchid=%s&amount=100",
             m.mchid);
    ASSERT_EQ_INT(api_call(&S_client, "GET", quote_path, owner.token, NULL, &res), 200);
    long long left = 50000 - 300 - 20000 - fee;
    ASSERT_EQ_INT(api_json_int(&res, "available", -1), left);
    long long max_amount = api_json_int(&res, "max_amount", -1);
    long long max_fee = api_json_int(&res, "max_fee", -1);
    ASSERT(max_amount > 0 && max_amount + max_fee <= left && max_amount + max_fee >= left - 1);
    ASSERT_EQ_INT(api_json_int(&res, "fee", -1), 10);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", quote_path, stranger.token, NULL, &res), 404);
    client_response_release(&res);
    /* An owner who froze their own wallet withdraws nothing from the merchant either
     * (ACCOUNT_FROZEN): the quote offers nothing; the operator's unfreeze gives it back. */
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/freeze", owner.token, NULL, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", quote_path, owner.token, NULL, &res), 200);
    ASSERT_EQ_INT(api_json_int(&res, "max_amount", -1), 0);
    ASSERT_EQ_INT(api_json_int(&res, "available", -1), left);
    client_response_release(&res);
    ASSERT_EQ_INT(S_withdraw(&owner, card_id, 100, "mw-frozen-owner", &res), 403);
    ASSERT_EQ_STR(api_error_code(&res), "ACCOUNT_FROZEN");
    client_response_release(&res);
    char unfreeze_path[96];
    snprintf(unfreeze_path, sizeof unfreeze_path, "/admin/users/%s/unfreeze", owner.id);
    ASSERT_EQ_INT(api_call(&S_client, "POST", unfreeze_path, S_admin, NULL, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", quote_path, owner.token, NULL, &res), 200);
    ASSERT_EQ_INT(api_json_int(&res, "max_amount", -1), max_amount);
    client_response_release(&res);

    /* The owner verifies a real name that is not the card's holder (张三): the merchant's money
     * no longer goes to that card either. */
    char id_number[19];
    api_id_number_complete("11010519851124301", id_number);
    snprintf(body, sizeof body, "{\"real_name\":\"王五\",\"id_number\":\"%s\"}", id_number);
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/kyc", owner.token, body, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(S_withdraw(&owner, card_id, 100, "mw-4", &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "CARD_HOLDER_MISMATCH");
    client_response_release(&res);
    S_merchant_balance(&owner, "", &available, &pending);
    ASSERT_EQ_INT(available, 50000 - 300 - 20000 - fee);
    ASSERT_EQ_INT(pending, 0);
    mh_release(&m);
}

TEST(an_unverified_owner_cashes_out_within_the_lifetime_limit)
{
    // A wallet without a verified real name pays out at most ¥1,000 in its life. Its merchant's
    // withdrawals reach the same person's card, so they count too: an unverified owner whose
    // shop took ¥3,000 is quoted and paid what is left of the ¥1,000 and refused the rest, and
    // the limit its own wallet shows is used by as much.
    struct api_user owner, payer;
    API_MUST(th_user_new(&S_client, S_admin, &owner));
    API_MUST(th_user_new(&S_client, S_admin, &payer));
    API_MUST(api_user_verify(&S_client, &payer, "张三")); /* pays ¥3,000 */
    API_MUST(th_fund(&S_client, S_admin, &payer, 400000));
    API_MUST(th_fund(&S_client, S_admin, &owner, 100)); /* binds the owner's card */
    struct mh_merchant m;
    S_onboard(&owner, "kyc-shop", &m);
    S_order(&m, &payer, "kyc-0001", 300000);
    struct client_response res;
    char card_id[64];
    S_first_card(&owner, card_id);

    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/merchants/me/withdrawal-quote?amount=250000",
                           owner.token, NULL, &res),
                  200);
    ASSERT_EQ_INT(api_json_int(&res, "max_amount", -1), 100000);
    json_t *quote = api_json(&res);
    ASSERT(json_is_false(json_object_get(quote, "payable")));
    json_decref(quote);
    client_response_release(&res);
    ASSERT_EQ_INT(S_withdraw(&owner, card_id, 250000, "kyc-mw-1", &res), 403);
    ASSERT_EQ_STR(api_json_str(&res, "code"), "LIMIT_EXCEEDED");
    ASSERT_EQ_STR(api_json_str(&res, "limit"), "kyc_lifetime");
    client_response_release(&res);
    ASSERT_EQ_INT(S_withdraw(&owner, card_id, 60000, "kyc-mw-2", &res), 201);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/limits", owner.token, NULL, &res), 200);
    json_t *limits = api_json(&res);
    client_response_release(&res);
    bool seen = false;
    size_t i;
    json_t *limit;
    json_array_foreach(json_object_get(limits, "limits"), i, limit)
    {
        if (strcmp(json_string_value(json_object_get(limit, "name")), "kyc_lifetime") != 0)
            continue;
        seen = true;
        ASSERT_EQ_INT(json_integer_value(json_object_get(limit, "used")), 60000);
        ASSERT_EQ_INT(json_integer_value(json_object_get(limit, "remaining")), 40000);
    }
    json_decref(limits);
    ASSERT(seen);
    mh_release(&m);
}

TEST(a_withdrawal_retried_after_a_second_merchant_opened_answers_as_first)
{
    // A withdrawal that names no merchant takes the owner's only one. Retried under its key
    // with the same body after the owner opened a second merchant, it is the same request:
    // it answers what it answered, not that the owner must now name one.
    struct api_user owner;
    API_MUST(th_user_new(&S_client, S_admin, &owner));
    API_MUST(th_fund(&S_client, S_admin, &owner, 100)); /* binds the owner's card */
    struct mh_merchant first, second;
    S_onboard(&owner, "first-shop", &first);
    char card_id[64];
    S_first_card(&owner, card_id);
    struct client_response res;
    ASSERT_EQ_INT(S_withdraw(&owner, card_id, 100, "mw-second-shop", &res), 402);
    ASSERT_EQ_STR(api_error_code(&res), "INSUFFICIENT_BALANCE");
    client_response_release(&res);
    S_onboard(&owner, "second-shop", &second);
    ASSERT_EQ_INT(S_withdraw(&owner, card_id, 100, "mw-second-shop", &res), 402);
    ASSERT_EQ_STR(api_error_code(&res), "INSUFFICIENT_BALANCE");
    ASSERT_EQ_STR(api_header(&res, "Idempotent-Replayed"), "true");
    client_response_release(&res);
    mh_release(&first);
    mh_release(&second);
}

TEST(the_merchant_api_reads_the_balance_and_what_a_withdrawal_holds)
{
    // GET /v3/merchant/fund/balance/BASIC, as WeChat's balance query: what the merchant may
    // withdraw and what is held, together the balance. A withdrawal the bank confirms late
    // (sandbox card ...0061, SUCCESS from 3 s on) holds its amount and fee until it does.
    struct api_user owner, payer;
    API_MUST(th_user_new(&S_client, S_admin, &owner));
    API_MUST(th_user_new(&S_client, S_admin, &payer));
    API_MUST(th_fund(&S_client, S_admin, &payer, 100000));
    struct mh_merchant m;
    S_onboard(&owner, "balance-shop", &m);
    S_v3_balance_is(&m, 0, 0);
    S_order(&m, &payer, "bal-0001", 30000);
    S_v3_balance_is(&m, 30000 - 180, 0);

    char card_id[API_ID_SIZE_MAX];
    API_MUST(th_card_bind(&S_client, S_admin, &owner, "9999000000000061", card_id));
    struct client_response res;
    ASSERT_EQ_INT(S_withdraw(&owner, card_id, 10000, "bal-w1", &res), 201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "PROCESSING");
    long long fee = api_json_int(&res, "fee", -1);
    ASSERT(fee > 0);
    client_response_release(&res);
    long long available = -1, pending = -1;
    S_merchant_balance(&owner, "", &available, &pending);
    /* Still at the bank (for 3 s at least): held, not gone. */
    ASSERT_EQ_INT(pending, 10000 + fee);
    ASSERT_EQ_INT(available, 30000 - 180 - 10000 - fee);
    S_v3_balance_is(&m, available, pending);
    for (int waited = 0; pending != 0 && waited < 15000; waited += 100) {
        usleep(100 * 1000);
        S_merchant_balance(&owner, "", &available, &pending);
    }
    ASSERT_EQ_INT(pending, 0);
    S_v3_balance_is(&m, 30000 - 180 - 10000 - fee, 0);
    mh_release(&m);
}

/* GET /v3/certificates as m: whether its certificate decrypts with key. */
static bool S_certificate_opens(const struct mh_merchant *m, const char *key)
{
    struct client_response res;
    ASSERT_EQ_INT(mh_call(&S_client, m, "GET", "/v3/certificates", NULL, &res), 200);
    ASSERT(mh_response_verified(m, &res));
    json_t *j = api_json(&res);
    client_response_release(&res);
    struct mh_merchant with = *m;
    snprintf(with.apiv3_key, sizeof with.apiv3_key, "%s", key);
    char pem[8192];
    bool opens = mh_certificate_decrypt(&with, json_array_get(json_object_get(j, "data"), 0), pem,
                                        sizeof pem);
    json_decref(j);
    return opens;
}

/* m's keys as its owner u and an operator read them (GET /v1/merchants/me,
 * GET /admin/merchants/{mchid}): the serial, and whether the API v3 key and
 * the certificate were ever replaced. */
static void S_keys_read(const struct api_user *u, const struct mh_merchant *m, const char *serial,
                        bool apiv3_reset, bool certificate_replaced)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/merchants/me?mchid=%s", m->mchid);
    json_t *views[2];
    views[0] = th_get_json(&S_client, path, u->token);
    snprintf(path, sizeof path, "/admin/merchants/%s", m->mchid);
    views[1] = th_get_json(&S_client, path, S_admin);
    for (size_t i = 0; i < 2; i++) {
        ASSERT_EQ_STR(json_string_value(json_object_get(views[i], "serial_no")), serial);
        ASSERT(apiv3_reset ? json_is_string(json_object_get(views[i], "apiv3_key_reset_at"))
                           : json_is_null(json_object_get(views[i], "apiv3_key_reset_at")));
        ASSERT(certificate_replaced
                   ? json_is_string(json_object_get(views[i], "certificate_replaced_at"))
                   : json_is_null(json_object_get(views[i], "certificate_replaced_at")));
        json_decref(views[i]);
    }
}

/* POST /v1/merchants/me/apiv3-key as u with body: the status and code. */
static long S_key_reset(const struct api_user *u, const char *body, const char *code,
                        struct client_response *res)
{
    long status = api_call(&S_client, "POST", "/v1/merchants/me/apiv3-key", u->token, body, res);
    ASSERT_EQ_STR(api_error_code(res), code);
    return status;
}

TEST(the_owner_resets_a_leaked_apiv3_key)
{
    // The API v3 key decrypts the merchant's certificates and notifications; after a leak the
    // owner asks for a new one with the payment password: 200 with the new key, shown once,
    // and from then on /v3/certificates opens with it and not with the old. A wrong password
    // (counted), a malformed one, another's merchant, or none, change nothing.
    struct api_user owner, other;
    API_MUST(th_user_new(&S_client, S_admin, &owner));
    API_MUST(th_user_new(&S_client, S_admin, &other));
    struct mh_merchant m, m2;
    S_onboard(&owner, "key-shop", &m);
    ASSERT(S_certificate_opens(&m, m.apiv3_key));
    S_keys_read(&owner, &m, m.serial_no, false, false);
    char body[160];
    struct client_response res;
    snprintf(body, sizeof body, "{\"payment_password\":\"000000\",\"mchid\":\"%s\"}", m.mchid);
    ASSERT_EQ_INT(S_key_reset(&owner, body, "PASSWORD_WRONG", &res), 403);
    client_response_release(&res);
    ASSERT_EQ_INT(S_key_reset(&owner, "{\"payment_password\":\"12345\"}", "PARAM_ERROR", &res),
                  400);
    client_response_release(&res);
    ASSERT_EQ_INT(S_key_reset(&owner, "{}", "PARAM_ERROR", &res), 400);
    client_response_release(&res);
    snprintf(body, sizeof body, "{\"payment_password\":\"%s\",\"mchid\":\"%s\"}", TH_PAY_PASSWORD,
             m.mchid);
    ASSERT_EQ_INT(S_key_reset(&other, body, "NOT_FOUND", &res), 404);
    client_response_release(&res);
    snprintf(body, sizeof body, "{\"payment_password\":\"%s\"}", TH_PAY_PASSWORD);
    ASSERT_EQ_INT(S_key_reset(&other, body, "NOT_FOUND", &res), 404);
    client_response_release(&res);
    ASSERT(S_certificate_opens(&m, m.apiv3_key));

    /* The owner's only merchant needs no mchid. */
    ASSERT_EQ_INT(S_key_reset(&owner, body, "", &res), 200);
    json_t *j = api_json(&res);
    client_response_release(&res);
    ASSERT_EQ_INT(json_object_size(j), 2);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "mchid")), m.mchid);
    const char *key = json_string_value(json_object_get(j, "apiv3_key"));
    ASSERT(key != NULL && strlen(key) == 32 &&
           strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklm"
                       "nopqrstuvwxyz0123456789") == 32);
    ASSERT(strcmp(key, m.apiv3_key) != 0);
    ASSERT(S_certificate_opens(&m, key));
    ASSERT(!S_certificate_opens(&m, m.apiv3_key));
    S_keys_read(&owner, &m, m.serial_no, true, false);

    /* With two merchants, the one named; the other keeps its key. */
    S_onboard(&owner, "key-shop-2", &m2);
    ASSERT_EQ_INT(S_key_reset(&owner, body, "PARAM_ERROR", &res), 400);
    client_response_release(&res);
    snprintf(body, sizeof body, "{\"payment_password\":\"%s\",\"mchid\":\"%s\"}", TH_PAY_PASSWORD,
             m2.mchid);
    ASSERT_EQ_INT(S_key_reset(&owner, body, "", &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "mchid"), m2.mchid);
    client_response_release(&res);
    ASSERT(S_certificate_opens(&m, key));
    ASSERT(!S_certificate_opens(&m2, m2.apiv3_key));
    json_decref(j);
    mh_release(&m);
    mh_release(&m2);
}

/* GET /v3/merchant/fund/balance/BASIC signed as m: the status. */
static long S_signed_status(const struct mh_merchant *m)
{
    struct client_response res;
    long status = mh_call(&S_client, m, "GET", "/v3/merchant/fund/balance/BASIC", NULL, &res);
    if (status != 200)
        ASSERT_EQ_STR(api_error_code(&res), "SIGN_ERROR");
    client_response_release(&res);
    return status;
}

/* POST /v1/merchants/me/certificate as u with body: the status; the answer
 * stays in res (release it). */
static long S_certificate_replace(const struct api_user *u, const char *body,
                                  struct client_response *res)
{
    return api_call(&S_client, "POST", "/v1/merchants/me/certificate", u->token, body, res);
}

TEST(the_owner_replaces_a_leaked_api_certificate)
{
    // The merchant's private key signs its /v3 requests, refunds among them. After a leak the
    // owner asks for a new certificate with the payment password: 200 with a new serial, the
    // certificate and a new private key (or none, when the owner brings a public key of their
    // own), and from then on a request signed with the old key is 401 SIGN_ERROR while the new
    // one's pass. A wrong password, a key that is none, another's merchant change nothing.
    struct api_user owner, other;
    API_MUST(th_user_new(&S_client, S_admin, &owner));
    API_MUST(th_user_new(&S_client, S_admin, &other));
    struct mh_merchant m;
    S_onboard(&owner, "cert-shop", &m);
    ASSERT_EQ_INT(S_signed_status(&m), 200);
    S_keys_read(&owner, &m, m.serial_no, false, false);
    char body[2048];
    struct client_response res;
    snprintf(body, sizeof body, "{\"payment_password\":\"000000\"}");
    ASSERT_EQ_INT(S_certificate_replace(&owner, body, &res), 403);
    ASSERT_EQ_STR(api_error_code(&res), "PASSWORD_WRONG");
    client_response_release(&res);
    snprintf(body, sizeof body, "{\"payment_password\":\"%s\",\"public_key\":\"bm90IGEga2V5\"}",
             TH_PAY_PASSWORD);
    ASSERT_EQ_INT(S_certificate_replace(&owner, body, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
    client_response_release(&res);
    /* An empty one too: not taken as none given, which would cut the working key off. */
    snprintf(body, sizeof body, "{\"payment_password\":\"%s\",\"public_key\":\"\"}",
             TH_PAY_PASSWORD);
    ASSERT_EQ_INT(S_certificate_replace(&owner, body, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
    client_response_release(&res);
    ASSERT_EQ_INT(S_signed_status(&m), 200);
    snprintf(body, sizeof body, "{\"payment_password\":\"%s\",\"mchid\":\"%s\"}", TH_PAY_PASSWORD,
             m.mchid);
    ASSERT_EQ_INT(S_certificate_replace(&other, body, &res), 404);
    ASSERT_EQ_STR(api_error_code(&res), "NOT_FOUND");
    client_response_release(&res);
    ASSERT_EQ_INT(S_signed_status(&m), 200);

    /* Replaced: the new key signs, the old one no longer does. */
    ASSERT_EQ_INT(S_certificate_replace(&owner, body, &res), 200);
    json_t *j = api_json(&res);
    client_response_release(&res);
    ASSERT_EQ_INT(json_object_size(j), 4);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "mchid")), m.mchid);
    const char *serial = json_string_value(json_object_get(j, "serial_no"));
    ASSERT(serial != NULL && strlen(serial) == 40 && strcmp(serial, m.serial_no) != 0);
    const char *cert = json_string_value(json_object_get(j, "certificate_pem"));
    ASSERT(cert != NULL && strncmp(cert, "-----BEGIN CERTIFICATE-----", 27) == 0);
    struct mh_merchant renewed = m;
    snprintf(renewed.serial_no, sizeof renewed.serial_no, "%s", serial);
    renewed.key = mh_pem_key(json_string_value(json_object_get(j, "private_key_pem")), true);
    ASSERT(renewed.key != NULL);
    json_decref(j);
    ASSERT_EQ_INT(S_signed_status(&m), 401);
    ASSERT_EQ_INT(S_signed_status(&renewed), 200);
    S_keys_read(&owner, &m, renewed.serial_no, false, true);
    /* The old key under the new serial is no better. */
    struct mh_merchant mixed = renewed;
    mixed.key = m.key;
    ASSERT_EQ_INT(S_signed_status(&mixed), 401);

    /* A key of the owner's own: no private key in the answer, and it signs. */
    EVP_PKEY *own = EVP_RSA_gen(2048);
    ASSERT(own != NULL);
    unsigned char *der = NULL;
    int der_size = i2d_PUBKEY(own, &der);
    ASSERT(der_size > 0);
    char b64[1400];
    ASSERT(EVP_EncodeBlock((unsigned char *)b64, der, der_size) < (int)sizeof b64);
    OPENSSL_free(der);
    snprintf(body, sizeof body, "{\"payment_password\":\"%s\",\"public_key\":\"%s\"}",
             TH_PAY_PASSWORD, b64);
    ASSERT_EQ_INT(S_certificate_replace(&owner, body, &res), 200);
    j = api_json(&res);
    client_response_release(&res);
    ASSERT(json_object_get(j, "private_key_pem") == NULL);
    struct mh_merchant brought = renewed;
    snprintf(brought.serial_no, sizeof brought.serial_no, "%s",
             json_string_value(json_object_get(j, "serial_no")));
    brought.key = own;
    json_decref(j);
    ASSERT_EQ_INT(S_signed_status(&renewed), 401);
    ASSERT_EQ_INT(S_signed_status(&brought), 200);
    EVP_PKEY_free(own);
    EVP_PKEY_free(renewed.key);
    mh_release(&m);
}

/* POST /admin/merchants/{mchid}/what as token with body: the status; the
 * answer stays in res (release it). */
static long S_admin_keys(const char *token, const char *mchid, const char *what, const char *body,
                         struct client_response *res)
{
    char path[128];
    snprintf(path, sizeof path, "/admin/merchants/%s/%s", mchid, what);
    return api_call(&S_client, "POST", path, token, body, res);
}

TEST(an_operator_replaces_the_keys_of_a_merchant_without_an_owner)
{
    // A merchant an operator onboarded without an owner has nobody to call the owner's routes:
    // after a leak its keys could only be changed in the database. An operator replaces them,
    // with a reason the audit trail keeps: the new API v3 key opens the certificates and the old
    // does not; the new private key signs and the old does not. No reason, a bad or unknown
    // mchid, a user's token change nothing.
    struct api_user user;
    API_MUST(th_user_new(&S_client, S_admin, &user));
    struct mh_merchant m;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    struct client_response res;
    ASSERT_EQ_INT(S_admin_keys(S_admin, m.mchid, "apiv3-key", "{}", &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
    client_response_release(&res);
    ASSERT_EQ_INT(S_admin_keys(S_admin, m.mchid, "apiv3-key", "{\"reason\":\"  \"}", &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
    client_response_release(&res);
    ASSERT_EQ_INT(S_admin_keys(S_admin, m.mchid, "certificate", "{\"reason\":\"\\u3000\"}", &res),
                  400);
    ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
    client_response_release(&res);
    ASSERT_EQ_INT(S_admin_keys(S_admin, "1234567890", "apiv3-key", "{\"reason\":\"t-1\"}", &res),
                  404);
    client_response_release(&res);
    ASSERT_EQ_INT(S_admin_keys(S_admin, "12x", "certificate", "{\"reason\":\"t-1\"}", &res), 404);
    client_response_release(&res);
    ASSERT_EQ_INT(S_admin_keys(user.token, m.mchid, "apiv3-key", "{\"reason\":\"t-1\"}", &res),
                  403);
    client_response_release(&res);
    /* No overlap: an operator replaces a key that leaked. */
    ASSERT_EQ_INT(S_admin_keys(S_admin, m.mchid, "certificate",
                               "{\"reason\":\"t-1\",\"keep_old_hours\":24}", &res),
                  400);
    ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
    client_response_release(&res);
    /* A merchant with an owner is the owner's to re-key: an operator taking its keys would hold
     * what signs its payouts, unseen by the owner. */
    struct mh_merchant owned;
    S_onboard(&user, "owned-shop", &owned);
    ASSERT_EQ_INT(S_admin_keys(S_admin, owned.mchid, "certificate", "{\"reason\":\"t-1\"}", &res),
                  409);
    ASSERT_EQ_STR(api_error_code(&res), "CONFLICT");
    client_response_release(&res);
    ASSERT_EQ_INT(S_admin_keys(S_admin, owned.mchid, "apiv3-key", "{\"reason\":\"t-1\"}", &res),
                  409);
    client_response_release(&res);
    ASSERT(S_certificate_opens(&owned, owned.apiv3_key));
    ASSERT_EQ_INT(S_signed_status(&owned), 200);
    mh_release(&owned);
    ASSERT(S_certificate_opens(&m, m.apiv3_key));
    ASSERT_EQ_INT(S_signed_status(&m), 200);

    ASSERT_EQ_INT(S_admin_keys(S_admin, m.mchid, "apiv3-key",
                               "{\"reason\":\"ticket 7001: key seen in a public repository\"}",
                               &res),
                  200);
    char key[40];
    snprintf(key, sizeof key, "%s", api_json_str(&res, "apiv3_key"));
    ASSERT_EQ_STR(api_json_str(&res, "mchid"), m.mchid);
    client_response_release(&res);
    ASSERT(strlen(key) == 32 && strcmp(key, m.apiv3_key) != 0);
    ASSERT(S_certificate_opens(&m, key));
    ASSERT(!S_certificate_opens(&m, m.apiv3_key));

    ASSERT_EQ_INT(
        S_admin_keys(S_admin, m.mchid, "certificate", "{\"reason\":\"ticket 7002\"}", &res), 200);
    json_t *j = api_json(&res);
    client_response_release(&res);
    struct mh_merchant renewed = m;
    snprintf(renewed.serial_no, sizeof renewed.serial_no, "%s",
             json_string_value(json_object_get(j, "serial_no")));
    renewed.key = mh_pem_key(json_string_value(json_object_get(j, "private_key_pem")), true);
    json_decref(j);
    ASSERT(renewed.key != NULL && strcmp(renewed.serial_no, m.serial_no) != 0);
    ASSERT_EQ_INT(S_signed_status(&m), 401);
    ASSERT_EQ_INT(S_signed_status(&renewed), 200);
    EVP_PKEY_free(renewed.key);

    /* The trail says who replaced which, and why. */
    char path[128];
    snprintf(path, sizeof path, "/admin/audit?target=%s", m.mchid);
    json_t *page = th_get_json(&S_client, path, S_admin);
    json_t *items = json_object_get(page, "items");
    ASSERT_EQ_INT(json_array_size(items), 3); /* and the onboarding */
    ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(items, 0), "action")),
                  "merchant_certificate_replace");
    ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(items, 1), "action")),
                  "merchant_apiv3_key_reset");
    ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(items, 1), "reason")),
                  "ticket 7001: key seen in a public repository");
    ASSERT(json_is_true(json_object_get(json_array_get(items, 1), "changed")));
    json_decref(page);
    mh_release(&m);
}

#define S_SERIAL_SIZE 48 /* 40 hex digits, a NUL, slack */

/* m's view by its owner u: its previous_serial_no ("" for null) into
 * serial, and whether previous_valid_until is a time. */
static bool S_previous_read(const struct api_user *u, const struct mh_merchant *m,
                            char serial[S_SERIAL_SIZE])
{
    char path[128];
    snprintf(path, sizeof path, "/v1/merchants/me?mchid=%s", m->mchid);
    json_t *view = th_get_json(&S_client, path, u->token);
    const char *previous = json_string_value(json_object_get(view, "previous_serial_no"));
    snprintf(serial, S_SERIAL_SIZE, "%s", previous != NULL ? previous : "");
    bool until = json_is_string(json_object_get(view, "previous_valid_until"));
    json_decref(view);
    return until;
}

TEST(a_planned_certificate_replacement_keeps_the_old_key_for_its_overlap)
{
    // A merchant's certificate expires, or its owner rotates keys as a rule: its servers cannot
    // all take the new key at the same instant. With keep_old_hours the replaced key still signs
    // requests naming its serial for that long, so nothing is refused while the key rolls out;
    // the new serial with the old key is still refused. A replacement without it (a leak) ends
    // every old key at once, the one kept by an earlier overlap too.
    struct api_user owner;
    API_MUST(th_user_new(&S_client, S_admin, &owner));
    struct mh_merchant m;
    S_onboard(&owner, "rotating-shop", &m);
    char body[256], serial[S_SERIAL_SIZE];
    struct client_response res;
    static const char *const bad[] = {"169", "-1", "1.5", "\"2\"", "true"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(bad); i++) {
        snprintf(body, sizeof body, "{\"payment_password\":\"%s\",\"keep_old_hours\":%s}",
                 TH_PAY_PASSWORD, bad[i]);
        ASSERT_EQ_INT(S_certificate_replace(&owner, body, &res), 400);
        ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
        client_response_release(&res);
    }
    ASSERT(!S_previous_read(&owner, &m, serial));
    ASSERT_EQ_STR(serial, "");

    snprintf(body, sizeof body, "{\"payment_password\":\"%s\",\"keep_old_hours\":24}",
             TH_PAY_PASSWORD);
    ASSERT_EQ_INT(S_certificate_replace(&owner, body, &res), 200);
    json_t *j = api_json(&res);
    client_response_release(&res);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "previous_serial_no")), m.serial_no);
    ASSERT(json_is_string(json_object_get(j, "previous_valid_until")));
    struct mh_merchant renewed = m;
    snprintf(renewed.serial_no, sizeof renewed.serial_no, "%s",
             json_string_value(json_object_get(j, "serial_no")));
    renewed.key = mh_pem_key(json_string_value(json_object_get(j, "private_key_pem")), true);
    ASSERT(renewed.key != NULL);
    json_decref(j);
    ASSERT_EQ_INT(S_signed_status(&m), 200);
    ASSERT_EQ_INT(S_signed_status(&renewed), 200);
    struct mh_merchant mixed = renewed;
    mixed.key = m.key;
    ASSERT_EQ_INT(S_signed_status(&mixed), 401);
    ASSERT(S_previous_read(&owner, &m, serial));
    ASSERT_EQ_STR(serial, m.serial_no);

    /* Replaced again with an overlap: the newest replaced key is the one kept. */
    ASSERT_EQ_INT(S_certificate_replace(&owner, body, &res), 200);
    j = api_json(&res);
    client_response_release(&res);
    struct mh_merchant third = m;
    snprintf(third.serial_no, sizeof third.serial_no, "%s",
             json_string_value(json_object_get(j, "serial_no")));
    third.key = mh_pem_key(json_string_value(json_object_get(j, "private_key_pem")), true);
    json_decref(j);
    ASSERT_EQ_INT(S_signed_status(&m), 401);
    ASSERT_EQ_INT(S_signed_status(&renewed), 200);
    ASSERT_EQ_INT(S_signed_status(&third), 200);

    /* A leak: no overlap, and the key kept from before ends too. */
    snprintf(body, sizeof body, "{\"payment_password\":\"%s\"}", TH_PAY_PASSWORD);
    ASSERT_EQ_INT(S_certificate_replace(&owner, body, &res), 200);
    j = api_json(&res);
    client_response_release(&res);
    ASSERT(json_object_get(j, "previous_serial_no") == NULL);
    struct mh_merchant fourth = m;
    snprintf(fourth.serial_no, sizeof fourth.serial_no, "%s",
             json_string_value(json_object_get(j, "serial_no")));
    fourth.key = mh_pem_key(json_string_value(json_object_get(j, "private_key_pem")), true);
    json_decref(j);
    ASSERT_EQ_INT(S_signed_status(&renewed), 401);
    ASSERT_EQ_INT(S_signed_status(&third), 401);
    ASSERT_EQ_INT(S_signed_status(&fourth), 200);
    ASSERT(!S_previous_read(&owner, &m, serial));
    ASSERT_EQ_STR(serial, "");
    EVP_PKEY_free(renewed.key);
    EVP_PKEY_free(third.key);
    EVP_PKEY_free(fourth.key);
    mh_release(&m);
}

/* The payments the owner's phone lists as GET path (a page of
 * /v1/merchants/me/payments) shows them: "out_trade_no state amount/fee/
 * refunded payer" joined with "; ", and the page's next cursor ("" for
 * none). */
static void S_payments(const struct api_user *owner, const char *path, char *out, size_t out_size,
                       char next[128])
{
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, owner->token, NULL, &res), 200);
    json_t *j = api_json(&res);
    client_response_release(&res);
    out[0] = '\0';
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(j, "items"), i, item)
    {
        ASSERT_EQ_STR(json_string_value(json_object_get(item, "trade_type")), "NATIVE");
        ASSERT_EQ_STR(json_string_value(json_object_get(item, "currency")), "CNY");
        ASSERT(json_string_value(json_object_get(item, "success_time")) != NULL);
        ASSERT_EQ_INT(strlen(json_string_value(json_object_get(item, "transaction_id"))), 28);
        size_t used = strlen(out);
        snprintf(out + used, out_size - used, "%s%s %s %lld/%lld/%lld %s", i > 0 ? "; " : "",
                 json_string_value(json_object_get(item, "out_trade_no")),
                 json_string_value(json_object_get(item, "trade_state")),
                 (long long)json_integer_value(json_object_get(item, "amount")),
                 (long long)json_integer_value(json_object_get(item, "fee")),
                 (long long)json_integer_value(json_object_get(item, "refunded")),
                 json_string_value(json_object_get(item, "payer_name")));
    }
    const char *cursor = json_string_value(json_object_get(j, "next_cursor"));
    snprintf(next, 128, "%s", cursor != NULL ? cursor : "");
    json_decref(j);
}

/* The payments of a merchant's changes answer: "out_trade_no amount
 * payer" joined with "; ". */
static void S_announced(const char *body, size_t size, char *out, size_t out_size)
{
    static const char *const fields[] = {"out_trade_no", "amount", "payer_name"};
    ASSERT(th_json_items(body, size, "payments", fields, QB_ARRAY_COUNT(fields), out, out_size));
}

/* The owner's waiting request w answers want long before its wait would
 * have ended: woken by the payment, which it announces as payments says
 * (S_announced). Its cursor into cursor. */
static void S_expect_woken(struct th_wait *w, const char *want, const char *payments,
                           char cursor[TH_CURSOR_SIZE])
{
    char changed[128], announced[512];
    th_wait_join(w, cursor, changed, sizeof changed);
    ASSERT_EQ_STR(changed, want);
    if (w->seconds >= 10)
        TEST_FAIL_("%s: the news came after %.1f s, not at once", w->path, w->seconds);
    S_announced(w->body, w->body_size, announced, sizeof announced);
    ASSERT_EQ_STR(announced, payments);
}

TEST(the_owners_phone_hears_of_each_payment_and_lists_it)
{
    // 收款到账: the shopkeeper's phone waits for news of the shop and is woken by a payment as
    // soon as it is durable, then lists the shop's payments, newest first, each with its payer's
    // masked name; a refund is news of the balance alone; nobody else sees any of it.
    struct api_user owner, payer, stranger;
    API_MUST(th_user_new(&S_client, S_admin, &owner));
    API_MUST(th_user_new(&S_client, S_admin, &payer));
    API_MUST(th_user_new(&S_client, S_admin, &stranger));
    API_MUST(th_fund(&S_client, S_admin, &payer, 100000));
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "PUT", "/v1/me/display-name", payer.token,
                           "{\"display_name\":\"王小明\"}", &res),
                  200);
    client_response_release(&res);
    struct mh_merchant m;
    S_onboard(&owner, "till-shop", &m);
    char list[1024], next[128];
    S_payments(&owner, "/v1/merchants/me/payments", list, sizeof list, next);
    ASSERT_EQ_STR(list, "");
    ASSERT_EQ_STR(next, "");

    /* Two numbers sealed (the settlement account's newest entry, none paid yet): a wallet's
     * cursor of the same caller is no merchant's. */
    const char *changes = "/v1/merchants/me/changes";
    char cursor[TH_CURSOR_SIZE], woken[TH_CURSOR_SIZE];
    th_changes_cursor_at(&S_client, &owner, changes, cursor);
    ASSERT_EQ_INT((long long)strlen(cursor), 1 + 2 * 16 + 1 + 16);
    char own[TH_CURSOR_SIZE], path_own[256];
    th_changes_cursor(&S_client, &owner, own);
    snprintf(path_own, sizeof path_own, "/v1/merchants/me/changes?since=%s", own);
    S_expect(&owner, "GET", path_own, NULL, 400, "PARAM_ERROR");
    struct th_wait w;
    th_wait_start_at(&w, S_daemon.base_url, &owner, changes, cursor, 15);
    ASSERT(th_waiting_is(&S_client, 1));
    /* Counted with the wallets' waits, and the gauge's help says so: an operator sizing
     * --http-connections-max must count the shops' phones too. */
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/metrics", NULL, NULL, &res), 200);
    const char *help = strstr(res.body.data, "# HELP qianbao_http_requests_waiting ");
    const char *help_end = help != NULL ? strchr(help, '\n') : NULL;
    const char *shop = help != NULL ? strstr(help, "GET /v1/merchants/me/changes") : NULL;
    bool help_names_shops = help_end != NULL && shop != NULL && shop < help_end;
    client_response_release(&res);
    ASSERT(help_names_shops);
    S_order(&m, &payer, "rc-0001", 1234);
    S_expect_woken(&w, "balance,payments", "rc-0001 1234 王*明", woken);
    S_payments(&owner, "/v1/merchants/me/payments", list, sizeof list, next);
    ASSERT_EQ_STR(list, "rc-0001 SUCCESS 1234/7/0 王*明");

    /* An order made and not paid moves no money: the wait ends quiet. */
    th_wait_start_at(&w, S_daemon.base_url, &owner, changes, woken, 1);
    ASSERT(th_waiting_is(&S_client, 1));
    S_order(&m, NULL, "rc-0000", 500);
    char after[TH_CURSOR_SIZE], changed[128];
    th_wait_join(&w, after, changed, sizeof changed);
    ASSERT_EQ_STR(changed, "");
    ASSERT_EQ_STR(after, woken);

    S_order(&m, &payer, "rc-0002", 2000);
    S_order(&m, &payer, "rc-0003", 345);
    /* Payments while the phone was not asking: the next request announces both at once. */
    th_wait_start_at(&w, S_daemon.base_url, &owner, changes, woken, 15);
    S_expect_woken(&w, "balance,payments", "rc-0003 345 王*明; rc-0002 2000 王*明", woken);
    /* Newest first, two to a page; the cursor goes on. */
    S_payments(&owner, "/v1/merchants/me/payments?limit=2", list, sizeof list, next);
    ASSERT_EQ_STR(list, "rc-0003 SUCCESS 345/2/0 王*明; rc-0002 SUCCESS 2000/12/0 王*明");
    ASSERT(next[0] != '\0');
    char path[256];
    snprintf(path, sizeof path, "/v1/merchants/me/payments?limit=2&cursor=%s", next);
    S_payments(&owner, path, list, sizeof list, next);
    ASSERT_EQ_STR(list, "rc-0001 SUCCESS 1234/7/0 王*明");
    ASSERT_EQ_STR(next, "");

    /* A refund is news of the balance; the payment keeps its place and shows it. */
    th_changes_cursor_at(&S_client, &owner, changes, cursor);
    th_wait_start_at(&w, S_daemon.base_url, &owner, changes, cursor, 15);
    ASSERT(th_waiting_is(&S_client, 1));
    ASSERT_EQ_INT(rh_refund(&S_client, &m, "rc-0002", "rc-r1", 500, 2000, NULL, &res), 200);
    client_response_release(&res);
    S_expect_woken(&w, "balance", "", woken);
    snprintf(path, sizeof path, "/v1/merchants/me/payments?mchid=%s", m.mchid);
    S_payments(&owner, path, list, sizeof list, next);
    ASSERT_EQ_STR(list, "rc-0003 SUCCESS 345/2/0 王*明; rc-0002 REFUND 2000/12/500 王*明; "
                        "rc-0001 SUCCESS 1234/7/0 王*明");

    /* The shop is its owner's alone; a cursor is for its list; a cursor has two parts. */
    S_expect(&stranger, "GET", "/v1/merchants/me/payments", NULL, 404, "NOT_FOUND");
    S_expect(&stranger, "GET", path, NULL, 404, "NOT_FOUND");
    S_expect(&stranger, "GET", "/v1/merchants/me/changes", NULL, 404, "NOT_FOUND");
    snprintf(path, sizeof path, "/v1/merchants/me/changes?mchid=%s", m.mchid);
    S_expect(&stranger, "GET", path, NULL, 404, "NOT_FOUND");
    S_expect(&owner, "GET", "/v1/merchants/me/payments?limit=0", NULL, 400, "PARAM_ERROR");
    S_expect(&owner, "GET", "/v1/merchants/me/payments?cursor=k1.0000000000000000", NULL, 400,
             "PARAM_ERROR");
    S_expect(&owner, "GET", "/v1/merchants/me/changes?since=1.2.3", NULL, 400, "PARAM_ERROR");
    S_expect(&owner, "GET", "/v1/merchants/me/changes?since=1", NULL, 400, "PARAM_ERROR");
    S_expect(&owner, "GET", "/v1/merchants/me/changes?since=1.2&wait=31", NULL, 400, "PARAM_ERROR");

    /* Its session logged out (a lost phone's, say), the shop's waiting request answers 401 at
     * once, giving its place among the merchant's eight back. */
    th_changes_cursor_at(&S_client, &owner, changes, cursor);
    th_wait_start_at(&w, S_daemon.base_url, &owner, changes, cursor, 15);
    ASSERT(th_waiting_is(&S_client, 1));
    ASSERT_EQ_INT(api_call(&S_client, "DELETE", "/v1/sessions/current", owner.token, NULL, &res),
                  204);
    client_response_release(&res);
    pthread_join(w.thread, NULL);
    ASSERT_EQ_INT(w.status, 401);
    if (w.seconds >= 10)
        TEST_FAIL_("the logout ended the shop's wait after %.1f s, not at once", w.seconds);
    mh_release(&m);
}

/* The transaction_id of m's order out_trade_no, as the merchant API answers it. */
static void S_transaction_id(const struct mh_merchant *m, const char *out_trade_no, char out[64])
{
    char path[192];
    snprintf(path, sizeof path, "/v3/pay/transactions/out-trade-no/%s?mchid=%s", out_trade_no,
             m->mchid);
    struct client_response res;
    ASSERT_EQ_INT(mh_call(&S_client, m, "GET", path, NULL, &res), 200);
    snprintf(out, 64, "%s", api_json_str(&res, "transaction_id"));
    client_response_release(&res);
}

TEST(a_shops_changes_cursor_is_no_cursor_of_the_owners_other_shop)
{
    // An owner's phone that switches shops and keeps its cursor must be told so: the other
    // shop's payments read against it would be announced as new (收款到账) when they are old.
    struct api_user owner;
    API_MUST(th_user_new(&S_client, S_admin, &owner));
    struct mh_merchant first, second;
    S_onboard(&owner, "shop-one", &first);
    S_onboard(&owner, "shop-two", &second);
    char path[256], cursor_first[TH_CURSOR_SIZE], cursor_second[TH_CURSOR_SIZE];
    snprintf(path, sizeof path, "/v1/merchants/me/changes?mchid=%s", first.mchid);
    th_changes_cursor_at(&S_client, &owner, path, cursor_first);
    snprintf(path, sizeof path, "/v1/merchants/me/changes?mchid=%s", second.mchid);
    th_changes_cursor_at(&S_client, &owner, path, cursor_second);
    snprintf(path, sizeof path, "/v1/merchants/me/changes?mchid=%s&since=%s", second.mchid,
             cursor_first);
    S_expect(&owner, "GET", path, NULL, 400, "PARAM_ERROR");
    snprintf(path, sizeof path, "/v1/merchants/me/changes?mchid=%s&since=%s", first.mchid,
             cursor_second);
    S_expect(&owner, "GET", path, NULL, 400, "PARAM_ERROR");
    snprintf(path, sizeof path, "/v1/merchants/me/changes?mchid=%s&since=%s", first.mchid,
             cursor_first);
    S_expect(&owner, "GET", path, NULL, 200, "");
    mh_release(&first);
    mh_release(&second);
}

/* POST /v1/merchants/me/refunds as owner under key: the status, and the error code unless 200. */
static long S_owner_refund(const struct api_user *owner, const char *key, const char *body,
                           char code[64])
{
    struct client_response res;
    long status =
        api_call_idem(&S_client, "POST", "/v1/merchants/me/refunds", owner->token, key, body, &res);
    snprintf(code, 64, "%s", status != 200 ? api_error_code(&res) : "");
    client_response_release(&res);
    return status;
}

TEST(the_owner_refunds_a_payment_from_the_phone)
{
    // A till-code shop has no server to call the merchant API from: its owner refunds a payment
    // from the phone, with the payment password, once for each Idempotency-Key, within what is
    // left of it; the shop pays its part less the fee's share, the payer gets all of it back.
    struct api_user owner, payer, stranger;
    API_MUST(th_user_new(&S_client, S_admin, &owner));
    API_MUST(th_user_new(&S_client, S_admin, &payer));
    API_MUST(th_user_new(&S_client, S_admin, &stranger));
    API_MUST(th_fund(&S_client, S_admin, &payer, 10000));
    struct mh_merchant m;
    S_onboard(&owner, "refund-shop", &m);
    S_order(&m, &payer, "of-0001", 2000); /* fee 12 */
    S_order(&m, NULL, "of-0002", 300);
    S_order(&m, &payer, "of-0003", 1000); /* fee 6 */
    long long shop = -1, pending = -1;
    S_merchant_balance(&owner, "", &shop, &pending);
    ASSERT_EQ_INT(shop, 2000 - 12 + 1000 - 6);
    ASSERT_EQ_INT(th_balance(&S_client, &payer), 10000 - 3000);
    struct client_response res;
    char tx[64], unpaid_tx[64], other_tx[64];
    S_transaction_id(&m, "of-0001", tx);
    S_transaction_id(&m, "of-0002", unpaid_tx);
    S_transaction_id(&m, "of-0003", other_tx);

    char body[512], code[64];
    snprintf(body, sizeof body,
             "{\"transaction_id\":\"%s\",\"amount\":500,\"reason\":\"少了一碗\","
             "\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             tx);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/merchants/me/refunds", owner.token, "or-1",
                                body, &res),
                  200);
    json_t *first = api_json(&res);
    client_response_release(&res);
    ASSERT_EQ_STR(json_string_value(json_object_get(first, "status")), "SUCCESS");
    ASSERT_EQ_STR(json_string_value(json_object_get(first, "transaction_id")), tx);
    ASSERT_EQ_STR(json_string_value(json_object_get(first, "out_trade_no")), "of-0001");
    ASSERT(strncmp(json_string_value(json_object_get(first, "out_refund_no")), "QB", 2) == 0);
    json_t *amount = json_object_get(first, "amount");
    ASSERT_EQ_INT(json_integer_value(json_object_get(amount, "refund")), 500);
    ASSERT_EQ_INT(json_integer_value(json_object_get(amount, "total")), 2000);
    ASSERT_EQ_INT(json_integer_value(json_object_get(amount, "refund_fee")), 3);
    /* A retry is the same answer, byte for byte, and moves nothing more. */
    char *first_text = json_dumps(first, JSON_COMPACT | JSON_SORT_KEYS);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/merchants/me/refunds", owner.token, "or-1",
                                body, &res),
                  200);
    ASSERT_EQ_STR(api_header(&res, "Idempotent-Replayed"), "true");
    json_t *again = api_json(&res);
    client_response_release(&res);
    char *again_text = json_dumps(again, JSON_COMPACT | JSON_SORT_KEYS);
    ASSERT_EQ_STR(again_text, first_text);
    free(first_text);
    free(again_text);
    json_decref(again);
    /* The merchant API sees it as a refund of its own, by its number. */
    char path[256];
    snprintf(path, sizeof path, "/v3/refund/domestic/refunds/%s",
             json_string_value(json_object_get(first, "out_refund_no")));
    ASSERT_EQ_INT(mh_call(&S_client, &m, "GET", path, NULL, &res), 200);
    ASSERT(mh_response_verified(&m, &res));
    client_response_release(&res);
    json_decref(first);
    ASSERT_EQ_INT(th_balance(&S_client, &payer), 10000 - 3000 + 500);
    S_merchant_balance(&owner, "", &shop, &pending);
    ASSERT_EQ_INT(shop, 2000 - 12 + 994 - 497);

    /* Refusals move nothing: the same key with another amount, a wrong password, more than is
     * left, an unpaid order, no such order, a stranger; a frozen owner. */
    snprintf(body, sizeof body,
             "{\"transaction_id\":\"%s\",\"amount\":600,"
             "\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             tx);
    ASSERT_EQ_INT(S_owner_refund(&owner, "or-1", body, code), 422);
    ASSERT_EQ_STR(code, "IDEMPOTENCY_MISMATCH");
    snprintf(body, sizeof body,
             "{\"transaction_id\":\"%s\",\"amount\":100,\"payment_password\":\"000000\"}", tx);
    ASSERT_EQ_INT(S_owner_refund(&owner, "or-2", body, code), 403);
    ASSERT_EQ_STR(code, "PASSWORD_WRONG");
    snprintf(body, sizeof body,
             "{\"transaction_id\":\"%s\",\"amount\":1501,"
             "\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             tx);
    ASSERT_EQ_INT(S_owner_refund(&owner, "or-3", body, code), 409);
    ASSERT_EQ_STR(code, "CONFLICT");
    snprintf(body, sizeof body,
             "{\"transaction_id\":\"%s\",\"amount\":100,"
             "\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             unpaid_tx);
    ASSERT_EQ_INT(S_owner_refund(&owner, "or-4", body, code), 409);
    ASSERT_EQ_STR(code, "CONFLICT");
    snprintf(body, sizeof body,
             "{\"transaction_id\":\"4200000000000000000000000000\",\"amount\":100,"
             "\"payment_password\":\"" TH_PAY_PASSWORD "\"}");
    ASSERT_EQ_INT(S_owner_refund(&owner, "or-5", body, code), 404);
    ASSERT_EQ_STR(code, "ORDER_NOT_EXIST");
    snprintf(body, sizeof body,
             "{\"transaction_id\":\"%s\",\"amount\":100,"
             "\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             tx);
    ASSERT_EQ_INT(S_owner_refund(&stranger, "or-6", body, code), 404);
    ASSERT_EQ_STR(code, "NOT_FOUND");
    ASSERT_EQ_INT(th_balance(&S_client, &payer), 10000 - 3000 + 500);
    S_merchant_balance(&owner, "", &shop, &pending);
    ASSERT_EQ_INT(shop, 2000 - 12 + 994 - 497);
    ASSERT_EQ_INT(S_owner_refund(&owner, "or-9",
                                 "{\"amount\":100,\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
                                 code),
                  400);
    ASSERT_EQ_STR(code, "PARAM_ERROR");
    snprintf(body, sizeof body,
             "{\"transaction_id\":\"%s\",\"out_trade_no\":\"of-0001\",\"amount\":100,"
             "\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             tx);
    ASSERT_EQ_INT(S_owner_refund(&owner, "or-10", body, code), 400);
    ASSERT_EQ_STR(code, "PARAM_ERROR");
    /* An empty number is a malformed field, not an order that does not exist. */
    ASSERT_EQ_INT(S_owner_refund(&owner, "or-11",
                                 "{\"transaction_id\":\"\",\"amount\":100,"
                                 "\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
                                 code),
                  400);
    ASSERT_EQ_STR(code, "PARAM_ERROR");
    ASSERT_EQ_INT(S_owner_refund(&owner, "or-12",
                                 "{\"out_trade_no\":\"\",\"amount\":100,"
                                 "\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
                                 code),
                  400);
    ASSERT_EQ_STR(code, "PARAM_ERROR");
    /* The rest of it, by the order's number: the whole fee comes back with the last of it. */
    snprintf(body, sizeof body,
             "{\"out_trade_no\":\"of-0001\",\"amount\":1500,"
             "\"payment_password\":\"" TH_PAY_PASSWORD "\"}");
    ASSERT_EQ_INT(S_owner_refund(&owner, "or-7", body, code), 200);
    ASSERT_EQ_INT(th_balance(&S_client, &payer), 10000 - 1000);
    S_merchant_balance(&owner, "", &shop, &pending);
    ASSERT_EQ_INT(shop, 994);
    /* A frozen owner refunds nothing. */
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/freeze", owner.token, NULL, &res), 200);
    client_response_release(&res);
    snprintf(body, sizeof body,
             "{\"transaction_id\":\"%s\",\"amount\":100,"
             "\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             other_tx);
    ASSERT_EQ_INT(S_owner_refund(&owner, "or-8", body, code), 403);
    ASSERT_EQ_STR(code, "ACCOUNT_FROZEN");
    ASSERT_EQ_INT(th_balance(&S_client, &payer), 10000 - 1000);
    S_merchant_balance(&owner, "", &shop, &pending);
    ASSERT_EQ_INT(shop, 994);
    mh_release(&m);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    if (!api_suite_daemon(&suite, &S_daemon, "owner", NULL, S_admin, &S_client))
        return api_suite_end(&suite);
    RUN(the_owner_sees_balance_and_analytics_of_real_payments);
    RUN(the_owner_withdraws_the_merchants_balance_like_a_user);
    RUN(an_unverified_owner_cashes_out_within_the_lifetime_limit);
    RUN(a_withdrawal_retried_after_a_second_merchant_opened_answers_as_first);
    RUN(the_merchant_api_reads_the_balance_and_what_a_withdrawal_holds);
    RUN(the_owner_resets_a_leaked_apiv3_key);
    RUN(the_owner_replaces_a_leaked_api_certificate);
    RUN(an_operator_replaces_the_keys_of_a_merchant_without_an_owner);
    RUN(a_planned_certificate_replacement_keeps_the_old_key_for_its_overlap);
    RUN(the_owners_phone_hears_of_each_payment_and_lists_it);
    RUN(a_shops_changes_cursor_is_no_cursor_of_the_owners_other_shop);
    RUN(the_owner_refunds_a_payment_from_the_phone);
    return api_suite_end(&suite);
}

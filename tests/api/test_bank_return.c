/*
 * test_bank_return.c — a withdrawal the bank pays and then takes back (退票),
 * as the operator and the user see it over HTTP.
 *
 * The sandbox's card 9999000000000129 is paid at once and taken back from
 * 3 s after the withdrawal's creation (docs/sandbox.md). The operator asks
 * the bank with POST /admin/payments/{id}/query, as after the day's
 * statement shows the return; the bank's answer, not the operator, moves
 * the money: amount and fee back to the account it left, once, however
 * many ask at once. Then the books must still verify.
 */
#include <stdatomic.h>
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
#include "api/transfer_helpers.h"
#include "test.h"

#define CARD_RETURNED "9999000000000129"
#define S_RETURN_AFTER_MS 3000 /* the sandbox's delay */

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];
static unsigned S_key_counter;

static void S_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int64_t S_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A user with fund_minor in their balance and CARD_RETURNED bound, who
 * withdrew amount_minor to it (its fee want_fee), SUCCESS at once: the
 * withdrawal's id into id and when it was asked for into *at_ms. */
static void S_withdrawn(struct api_user *u, long long fund_minor, long long amount_minor,
                        long long want_fee, char id[API_ID_SIZE_MAX], int64_t *at_ms)
{
    char card[API_ID_SIZE_MAX];
    API_MUST(th_user_new(&S_client, S_admin, u));
    API_MUST(th_fund(&S_client, S_admin, u, fund_minor));
    API_MUST(th_card_bind(&S_client, S_admin, u, CARD_RETURNED, card));
    char body[256], key[48];
    snprintf(body, sizeof body,
             "{\"card_id\":\"%s\",\"amount\":%lld,\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             card, amount_minor);
    snprintf(key, sizeof key, "return-%u-%ld", ++S_key_counter, (long)getpid());
    *at_ms = S_now_ms();
    struct client_response res;
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/me/withdrawals", u->token, key, body, &res),
                  201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "SUCCESS");
    ASSERT_EQ_INT(api_json_int(&res, "fee", -1), want_fee);
    snprintf(id, API_ID_SIZE_MAX, "%s", api_json_str(&res, "id"));
    client_response_release(&res);
}

/* Until the sandbox takes back what was asked for at at_ms (and a little more). */
static void S_await_return(int64_t at_ms)
{
    int64_t wait = at_ms + S_RETURN_AFTER_MS + 200 - S_now_ms();
    if (wait > 0)
        S_sleep_ms((long)wait);
}

/* POST /admin/payments/{id}/query with body (NULL: none) as token: the
 * status, and the answer parsed into *out (the caller's to free). */
static long S_query_as(const char *token, const char *id, const char *body, json_t **out)
{
    char path[128];
    snprintf(path, sizeof path, "/admin/payments/%s/query", id);
    struct client_response res;
    long status = api_call(&S_client, "POST", path, token, body, &res);
    *out = api_json(&res);
    client_response_release(&res);
    return status;
}

/* The operator's query of id, 200: the bank's status, the payment's status
 * and whether it changed. */
static void S_query(const char *id, const char *want_bank, const char *want_status,
                    bool want_changed)
{
    json_t *answer;
    ASSERT_EQ_INT(S_query_as(S_admin, id, "{\"reason\":\"statement of the day\"}", &answer), 200);
    json_t *bank = json_object_get(answer, "bank");
    json_t *payment = json_object_get(answer, "payment");
    ASSERT_EQ_STR(json_string_value(json_object_get(bank, "status")), want_bank);
    ASSERT_EQ_STR(json_string_value(json_object_get(payment, "status")), want_status);
    ASSERT_EQ_STR(json_string_value(json_object_get(payment, "id")), id);
    ASSERT(json_is_boolean(json_object_get(answer, "changed")));
    ASSERT_EQ_INT(json_is_true(json_object_get(answer, "changed")), want_changed);
    if (strcmp(want_bank, "RETURNED") == 0)
        ASSERT_EQ_STR(json_string_value(json_object_get(bank, "failure_code")), "CARD_DECLINED");
    else
        ASSERT(json_is_null(json_object_get(bank, "failure_code")));
    json_decref(answer);
}

/* The user's notices of type about ref. */
static int S_notices_of(const struct api_user *u, const char *type, const char *ref)
{
    json_t *body = th_get_json(&S_client, "/v1/me/notices", u->token);
    int n = 0;
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(body, "items"), i, item)
    {
        const char *t = json_string_value(json_object_get(item, "type"));
        const char *id = json_string_value(json_object_get(item, "payment_id"));
        n += t != NULL && id != NULL && strcmp(t, type) == 0 && strcmp(id, ref) == 0;
    }
    json_decref(body);
    return n;
}

TEST(a_withdrawal_the_bank_takes_back_comes_back_with_its_fee)
{
    // ¥500 out with a fee of ¥0.50, paid; the bank takes it back: ¥500.50 back in the balance,
    // the withdrawal RETURNED with the bank's reason, a bill line of its own, a notice. Asked
    // before the bank took it back, nothing changes; asked again after, nothing more moves.
    struct api_user u;
    char id[API_ID_SIZE_MAX];
    int64_t at_ms;
    S_withdrawn(&u, 100000, 50000, 50, id, &at_ms);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 100000 - 50050);
    S_query(id, "SUCCEEDED", "SUCCESS", false);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 100000 - 50050);

    S_await_return(at_ms);
    S_query(id, "RETURNED", "RETURNED", true);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 100000);
    ASSERT_EQ_INT(th_balance_of(&S_client, &u, "pending"), 0);
    char path[128];
    snprintf(path, sizeof path, "/v1/me/payments/%s", id);
    json_t *p = th_get_json(&S_client, path, u.token);
    ASSERT_EQ_STR(json_string_value(json_object_get(p, "status")), "RETURNED");
    ASSERT_EQ_STR(json_string_value(json_object_get(p, "failure_code")), "CARD_DECLINED");
    ASSERT_EQ_INT(json_integer_value(json_object_get(p, "amount")), 50000);
    ASSERT_EQ_INT(json_integer_value(json_object_get(p, "fee")), 50);
    json_decref(p);

    // The bill: the return, newest, in with amount + fee; the withdrawal's line says RETURNED.
    json_t *items;
    json_t *page = th_bills(&S_client, &u, "", &items);
    ASSERT_EQ_INT(json_array_size(items), 3);
    json_t *back = json_array_get(items, 0), *out = json_array_get(items, 1);
    ASSERT_EQ_STR(json_string_value(json_object_get(back, "type")), "withdrawal_return");
    ASSERT_EQ_STR(json_string_value(json_object_get(back, "id")), id);
    ASSERT_EQ_STR(json_string_value(json_object_get(back, "direction")), "in");
    ASSERT_EQ_INT(json_integer_value(json_object_get(back, "amount")), 50050);
    ASSERT_EQ_INT(json_integer_value(json_object_get(back, "balance_after")), 100000);
    ASSERT_EQ_STR(json_string_value(json_object_get(out, "type")), "withdrawal");
    ASSERT_EQ_STR(json_string_value(json_object_get(out, "status")), "RETURNED");
    ASSERT_EQ_STR(json_string_value(json_object_get(out, "failure_code")), "CARD_DECLINED");
    json_decref(page);
    page = th_bills(&S_client, &u, "?type=withdrawal_return", &items);
    ASSERT_EQ_INT(json_array_size(items), 1);
    json_decref(page);
    ASSERT_EQ_INT(S_notices_of(&u, "withdrawal_returned", id), 1);

    S_query(id, "RETURNED", "RETURNED", false);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 100000);
    ASSERT_EQ_INT(S_notices_of(&u, "withdrawal_returned", id), 1);
}

TEST(many_operators_asking_at_once_return_it_once)
{
    // Sixteen queries of one returned withdrawal at once: every one answered 200, the money back
    // once (the finish command finds it RETURNED after the first).
    struct api_user u;
    char id[API_ID_SIZE_MAX];
    int64_t at_ms;
    S_withdrawn(&u, 20000, 10000, 10, id, &at_ms);
    S_await_return(at_ms);
    char path[128];
    snprintf(path, sizeof path, "/admin/payments/%s/query", id);
    struct api_parallel_call calls[16];
    for (int i = 0; i < 16; i++)
        calls[i] = (struct api_parallel_call){"POST", path, S_admin, NULL, 0, ""};
    api_call_parallel(S_daemon.base_url, calls, 16);
    for (int i = 0; i < 16; i++)
        ASSERT_EQ_INT(calls[i].status, 200);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 20000);
    ASSERT_EQ_INT(S_notices_of(&u, "withdrawal_returned", id), 1);
    json_t *items;
    json_t *page = th_bills(&S_client, &u, "?type=withdrawal_return", &items);
    ASSERT_EQ_INT(json_array_size(items), 1);
    json_decref(page);
}

TEST(what_was_withdrawn_is_given_back_to_the_level_1_limit)
{
    // A level 1 wallet's withdrawals count against its lifetime ¥1,000; one the bank took back
    // counts no more, as a failed one.
    struct api_user u;
    char id[API_ID_SIZE_MAX];
    int64_t at_ms;
    S_withdrawn(&u, 30000, 20000, 20, id, &at_ms);
    ASSERT_EQ_INT(th_limit_used(&S_client, &u, "kyc_lifetime"), 20000);
    S_await_return(at_ms);
    S_query(id, "RETURNED", "RETURNED", true);
    ASSERT_EQ_INT(th_limit_used(&S_client, &u, "kyc_lifetime"), 0);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 30000);
}

TEST(a_closed_wallet_cannot_take_the_return)
{
    // The owner withdrew everything and closed the wallet before the bank took the withdrawal
    // back: the ledger takes no credit to a closed account, so the query answers 403
    // ACCOUNT_FROZEN and changes nothing (the money waits in bank clearing for the bank's desk).
    struct api_user u;
    char id[API_ID_SIZE_MAX];
    int64_t at_ms;
    S_withdrawn(&u, 10010, 10000, 10, id, &at_ms);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 0);
    char code[API_SMS_CODE_SIZE], body[256];
    API_MUST(api_sms_code_get(&S_client, S_admin, u.phone, "close_account", code));
    snprintf(body, sizeof body,
             "{\"payment_password\":\"" TH_PAY_PASSWORD "\",\"sms_code\":\"%s\"}", code);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/close", u.token, body, &res), 200);
    client_response_release(&res);
    S_await_return(at_ms);
    json_t *answer;
    ASSERT_EQ_INT(S_query_as(S_admin, id, NULL, &answer), 403);
    ASSERT_EQ_STR(json_string_value(json_object_get(answer, "code")), "ACCOUNT_FROZEN");
    json_decref(answer);
    char path[128];
    snprintf(path, sizeof path, "/admin/payments/%s", id);
    json_t *p = th_get_json(&S_client, path, S_admin);
    ASSERT_EQ_STR(json_string_value(json_object_get(p, "status")), "SUCCESS");
    json_decref(p);
}

TEST(only_an_operator_asks_and_only_about_a_bank_payment)
{
    // A user's token is refused, as is no token; an id of no payment, or of no payment's shape, is
    // 404; a transfer is at no bank (409); a body that is not the optional reason is 400; a top-up
    // is asked about and left as it is.
    struct api_user u, v;
    char id[API_ID_SIZE_MAX];
    API_MUST(th_user_new(&S_client, S_admin, &v));
    int64_t at_ms;
    S_withdrawn(&u, 10000, 1000, 10, id, &at_ms);
    json_t *answer;
    ASSERT_EQ_INT(S_query_as(u.token, id, NULL, &answer), 403);
    ASSERT_EQ_STR(json_string_value(json_object_get(answer, "code")), "FORBIDDEN");
    json_decref(answer);
    ASSERT_EQ_INT(S_query_as(NULL, id, NULL, &answer), 401);
    json_decref(answer);
    ASSERT_EQ_INT(S_query_as(S_admin, "p_0000000000000000000000000", NULL, &answer), 404);
    ASSERT_EQ_STR(json_string_value(json_object_get(answer, "code")), "NOT_FOUND");
    json_decref(answer);
    ASSERT_EQ_INT(S_query_as(S_admin, "x", NULL, &answer), 404);
    json_decref(answer);
    ASSERT_EQ_INT(S_query_as(S_admin, id, "{\"reason\":5}", &answer), 400);
    ASSERT_EQ_STR(json_string_value(json_object_get(answer, "code")), "PARAM_ERROR");
    json_decref(answer);
    ASSERT_EQ_INT(S_query_as(S_admin, id, "{\"amount\":1}", &answer), 400);
    json_decref(answer);

    char body[256];
    snprintf(body, sizeof body,
             "{\"to\":\"%s\",\"amount\":100,\"payment_password\":\"" TH_PAY_PASSWORD "\"}", v.id);
    struct client_response res;
    ASSERT_EQ_INT(
        api_call_idem(&S_client, "POST", "/v1/transfers", u.token, "return-transfer-1", body, &res),
        201);
    char transfer[API_ID_SIZE_MAX];
    snprintf(transfer, sizeof transfer, "%s", api_json_str(&res, "id"));
    client_response_release(&res);
    ASSERT_EQ_INT(S_query_as(S_admin, transfer, NULL, &answer), 409);
    ASSERT_EQ_STR(json_string_value(json_object_get(answer, "code")), "CONFLICT");
    json_decref(answer);
    /* Who tried what: each refusal the query gave itself is on the audit trail too, of an id
     * of no payment (well formed) as of a transfer. */
    ASSERT_EQ_INT(S_query_as(S_admin, "p_00000000000000000000000000", NULL, &answer), 404);
    json_decref(answer);
    const char *refused[][2] = {{"p_00000000000000000000000000", "NOT_FOUND"},
                                {transfer, "CONFLICT"}};
    for (size_t i = 0; i < 2; i++) {
        char path[160];
        snprintf(path, sizeof path, "/admin/audit?action=payment_query&target=%s", refused[i][0]);
        json_t *trail = th_get_json(&S_client, path, S_admin);
        json_t *rows = json_object_get(trail, "items");
        ASSERT_EQ_INT(json_array_size(rows), 1);
        ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(rows, 0), "result")),
                      refused[i][1]);
        ASSERT(json_is_false(json_object_get(json_array_get(rows, 0), "changed")));
        json_decref(trail);
    }

    json_t *items;
    json_t *page = th_bills(&S_client, &u, "?type=topup", &items);
    ASSERT_EQ_INT(json_array_size(items), 1);
    char topup[API_ID_SIZE_MAX];
    snprintf(topup, sizeof topup, "%s",
             json_string_value(json_object_get(json_array_get(items, 0), "id")));
    json_decref(page);
    S_query(topup, "SUCCEEDED", "SUCCESS", false);
    ASSERT_EQ_INT(th_balance(&S_client, &u), 10000 - 1010 - 100);
}

TEST(a_payment_still_on_its_way_to_the_bank_is_not_asked_about)
{
    // A withdrawal whose submission got no answer (9999000000000053: it never reached the
    // bank) may still be on its way: a query that overtook it would find nothing and fail a
    // payment the bank then pays. Within 6 s of its creation the operator's query is refused
    // (409) and changes nothing; the worker fails it afterwards, as ever.
    struct api_user u;
    char card[API_ID_SIZE_MAX];
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 5000));
    API_MUST(th_card_bind(&S_client, S_admin, &u, "9999000000000053", card));
    char body[256];
    snprintf(body, sizeof body,
             "{\"card_id\":\"%s\",\"amount\":1000,\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             card);
    struct client_response res;
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/me/withdrawals", u.token, "return-lost-1",
                                body, &res),
                  201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "PROCESSING");
    char id[API_ID_SIZE_MAX];
    snprintf(id, sizeof id, "%s", api_json_str(&res, "id"));
    client_response_release(&res);
    json_t *answer;
    ASSERT_EQ_INT(S_query_as(S_admin, id, NULL, &answer), 409);
    ASSERT_EQ_STR(json_string_value(json_object_get(answer, "code")), "CONFLICT");
    json_decref(answer);
    char path[128];
    snprintf(path, sizeof path, "/v1/me/payments/%s", id);
    json_t *p = th_get_json(&S_client, path, u.token);
    ASSERT_EQ_STR(json_string_value(json_object_get(p, "status")), "PROCESSING");
    json_decref(p);
    ASSERT_EQ_INT(th_balance_of(&S_client, &u, "pending"), 1010);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    const char *args[] = {"--sms-cooldown-s", "0", "--sms-daily-max", "1000", NULL};
    if (!api_suite_daemon(&suite, &S_daemon, "return", args, S_admin, &S_client))
        return api_suite_end(&suite);

    RUN(a_withdrawal_the_bank_takes_back_comes_back_with_its_fee);
    RUN(many_operators_asking_at_once_return_it_once);
    RUN(what_was_withdrawn_is_given_back_to_the_level_1_limit);
    RUN(a_closed_wallet_cannot_take_the_return);
    RUN(only_an_operator_asks_and_only_about_a_bank_payment);
    RUN(a_payment_still_on_its_way_to_the_bank_is_not_asked_about);

    /* The books balance after all of it: the returns are checked against the journal. */
    api_suite_stop(&suite);
    api_suite_verify_ledger(&suite, &S_daemon);
    return api_suite_end(&suite);
}

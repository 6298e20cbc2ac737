/*
 * test_transfer_return.c — POST /v1/transfers/{id}/return as a client sees
 * it: the payee of a transfer sends it back whole, once, to its payer.
 *
 * The happy path is read from every side a client can see it: the 201, both
 * balances, GET /v1/transfers/{id} ("returned"), both parties' bills and
 * statements, and the limits (the return charges the payee's none and gives
 * the payer's nothing back). Each refusal of the documented order is
 * provoked on its own, and some where two would apply, to pin the order;
 * every one is checked to move no money. The race sends one transfer back
 * eight times at once. The thirty-day window is last: the daemon is started
 * again with its clock moved on (QIANBAO_TEST_CLOCK_OFFSET_MS, test builds).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "api/lib/suite.h"
#include "api/transfer_helpers.h"

#define S_DAY_MS (24LL * 60 * 60 * 1000)
#define S_RACERS 8

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];

/* --- requests ------------------------------------------------------------------ */

/* A transfer of amount_minor from `from` to `to` (memo NULL: none), expected
 * to succeed; its id into id. */
static void S_transfer(const struct api_user *from, const struct api_user *to,
                       long long amount_minor, const char *memo, const char *key,
                       char id[API_ID_SIZE_MAX])
{
    char body[512], memo_member[256] = "";
    if (memo != NULL)
        snprintf(memo_member, sizeof memo_member, ",\"memo\":\"%s\"", memo);
    snprintf(body, sizeof body,
             "{\"to\":\"%s\",\"amount\":%lld%s,\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             to->id, amount_minor, memo_member);
    struct client_response res;
    long status = api_call_idem(&S_client, "POST", "/v1/transfers", from->token, key, body, &res);
    if (status != 201)
        TEST_FAIL_("transfer %s: %ld %.*s", key, status, (int)res.body.size,
                   res.body.data != NULL ? res.body.data : "");
    snprintf(id, API_ID_SIZE_MAX, "%s", api_json_str(&res, "id"));
    client_response_release(&res);
    ASSERT(strncmp(id, "p_", 2) == 0);
}

/* POST /v1/transfers/{transfer_id}/return as u under key (NULL: none) with
 * body (NULL: none); checks the status and, when code is not NULL, the error
 * code (an error body of exactly its documented members: api_error_code).
 * The answer stays in res (release it). */
static void S_return_on(int line, const struct api_user *u, const char *transfer_id,
                        const char *key, const char *body, long status, const char *code,
                        struct client_response *res)
{
    th_transfer_action(&S_client, line, u, transfer_id, "return", key, body, status, code, res);
}

#define RETURN(u, transfer_id, key, body, status, code, res)                                       \
    S_return_on(__LINE__, u, transfer_id, key, body, status, code, res)

#define EXPECT_RETURN(u, transfer_id, key, body, status, code)                                     \
    do {                                                                                           \
        struct client_response r_;                                                                 \
        S_return_on(__LINE__, u, transfer_id, key, body, status, code, &r_);                       \
        client_response_release(&r_);                                                              \
    } while (0)

/* The month in progress, UTC+8 ("2026-12"). */
static void S_month_now(char month[8])
{
    time_t now = time(NULL) + 8 * 3600;
    struct tm tm;
    gmtime_r(&now, &tm);
    ASSERT(strftime(month, 8, "%Y-%m", &tm) == 7);
}

/* --- checks ---------------------------------------------------------------------- */

/* GET /v1/transfers/{transfer_id} as u: still SUCCESS, and "returned" null
 * (return_id NULL) or the return's {id, memo, created_at}. */
static void S_expect_returned(const struct api_user *u, const char *transfer_id,
                              const char *return_id, const char *memo, const char *created_at)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/transfers/%s", transfer_id);
    json_t *t = th_get_json(&S_client, path, u->token);
    ASSERT_EQ_STR(json_string_value(json_object_get(t, "id")), transfer_id);
    ASSERT_EQ_STR(json_string_value(json_object_get(t, "status")), "SUCCESS");
    json_t *returned = json_object_get(t, "returned");
    if (return_id == NULL) {
        if (!json_is_null(returned))
            TEST_FAIL_("%s as %s: \"returned\" is not null", transfer_id, u->id);
    } else {
        ASSERT(json_is_object(returned));
        ASSERT_EQ_INT(json_object_size(returned), 3);
        ASSERT_EQ_STR(json_string_value(json_object_get(returned, "id")), return_id);
        if (memo == NULL)
            ASSERT(json_is_null(json_object_get(returned, "memo")) ||
                   strcmp(json_string_value(json_object_get(returned, "memo")), "") == 0);
        else
            ASSERT_EQ_STR(json_string_value(json_object_get(returned, "memo")), memo);
        ASSERT_EQ_STR(json_string_value(json_object_get(returned, "created_at")), created_at);
    }
    json_decref(t);
}

/* One bill line: its id, type, direction, amount, counterparty (a user),
 * memo (NULL: not checked), status and balance_after. */
static void S_expect_line(const json_t *line, const char *id, const char *type,
                          const char *direction, long long amount_minor,
                          const char *counterparty_id, const char *counterparty_name,
                          const char *memo, long long balance_after_minor, const char *return_id)
{
    ASSERT(line != NULL);
    ASSERT_EQ_STR(json_string_value(json_object_get(line, "id")), id);
    ASSERT_EQ_STR(json_string_value(json_object_get(line, "type")), type);
    ASSERT_EQ_STR(json_string_value(json_object_get(line, "direction")), direction);
    ASSERT_EQ_INT(json_integer_value(json_object_get(line, "amount")), amount_minor);
    ASSERT_EQ_INT(json_integer_value(json_object_get(line, "fee")), 0);
    ASSERT_EQ_STR(json_string_value(json_object_get(line, "currency")), "CNY");
    ASSERT_EQ_STR(json_string_value(json_object_get(line, "status")), "SUCCESS");
    json_t *counterparty = json_object_get(line, "counterparty");
    ASSERT_EQ_STR(json_string_value(json_object_get(counterparty, "type")), "user");
    ASSERT_EQ_STR(json_string_value(json_object_get(counterparty, "id")), counterparty_id);
    ASSERT_EQ_STR(json_string_value(json_object_get(counterparty, "name")), counterparty_name);
    if (memo != NULL)
        ASSERT_EQ_STR(json_string_value(json_object_get(line, "memo")), memo);
    ASSERT_EQ_INT(json_integer_value(json_object_get(line, "balance_after")), balance_after_minor);
    /* A transfer line names its return once there is one; every other is null. */
    const json_t *returned = json_object_get(line, "return_id");
    if (return_id == NULL)
        ASSERT(json_is_null(returned));
    else
        ASSERT_EQ_STR(json_string_value(returned), return_id);
}

/* The CNY {income, expense, count} of by_type[type] in u's statement of the
 * month in progress, and its totals. */
static void S_expect_statement(const struct api_user *u, long long return_income_minor,
                               long long return_expense_minor, long long income_minor,
                               long long expense_minor, long long count)
{
    char month[8], path[64];
    S_month_now(month);
    snprintf(path, sizeof path, "/v1/me/statements/%s", month);
    json_t *s = th_get_json(&S_client, path, u->token);
    json_t *cny =
        json_object_get(json_object_get(json_object_get(s, "by_type"), "transfer_return"), "CNY");
    if (cny == NULL)
        TEST_FAIL_("the statement of %s has no by_type.transfer_return.CNY", u->id);
    ASSERT_EQ_INT(json_integer_value(json_object_get(cny, "income")), return_income_minor);
    ASSERT_EQ_INT(json_integer_value(json_object_get(cny, "expense")), return_expense_minor);
    ASSERT_EQ_INT(json_integer_value(json_object_get(cny, "count")), 1);
    ASSERT_EQ_INT(json_integer_value(json_object_get(json_object_get(s, "income"), "CNY")),
                  income_minor);
    ASSERT_EQ_INT(json_integer_value(json_object_get(json_object_get(s, "expense"), "CNY")),
                  expense_minor);
    ASSERT_EQ_INT(json_integer_value(json_object_get(json_object_get(s, "count"), "CNY")), count);
    json_decref(s);
}

/* --- the cases --------------------------------------------------------------------- */

TEST(a_return_sends_the_transfer_back_and_both_sides_read_it)
{
    // The whole path: the payee (with no payment password: none is asked) sends back a transfer
    // of ¥12.34; the 201 names the return, the transfer and its payer (masked); the money is
    // back with the payer; GET /v1/transfers/{id} shows "returned" to both sides (null before);
    // each side's bills have a transfer_return line (out for the payee, in for the payer) with
    // the return's id, memo and a balance_after that follows the line below it, which
    // ?type=transfer_return alone lists; the statements count it under by_type; the payee's
    // limits are not charged, and the payer's spending is not given back.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 10000));
    char transfer_id[API_ID_SIZE_MAX];
    S_transfer(&a, &b, 1234, "午饭", "happy-t", transfer_id);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 10000 - 1234);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 1234);
    S_expect_returned(&a, transfer_id, NULL, NULL, NULL);
    S_expect_returned(&b, transfer_id, NULL, NULL, NULL);
    long long a_used = th_limit_used(&S_client, &a, "daily");
    ASSERT_EQ_INT(a_used, 1234);
    ASSERT_EQ_INT(th_limit_used(&S_client, &b, "daily"), 0);
    ASSERT_EQ_INT(th_limit_used(&S_client, &b, "kyc_lifetime"), 0);

    /* The names each side is shown of the other, as the transfer shows them. */
    char path[128], a_masked[64], b_masked[64];
    snprintf(path, sizeof path, "/v1/transfers/%s", transfer_id);
    json_t *t = th_get_json(&S_client, path, b.token);
    snprintf(a_masked, sizeof a_masked, "%s",
             json_string_value(json_object_get(json_object_get(t, "from"), "display_name")));
    snprintf(b_masked, sizeof b_masked, "%s",
             json_string_value(json_object_get(json_object_get(t, "to"), "display_name")));
    json_decref(t);
    ASSERT(strncmp(a_masked, "T****", 5) == 0 && strlen(a_masked) == 6);

    /* Before the return, the transfer's bill line names none. */
    json_t *items;
    json_t *page = th_bills(&S_client, &b, "", &items);
    ASSERT_EQ_INT(json_array_size(items), 1);
    S_expect_line(json_array_get(items, 0), transfer_id, "transfer", "in", 1234, a.id, a_masked,
                  "午饭", 1234, NULL);
    json_decref(page);

    struct client_response res;
    RETURN(&b, transfer_id, "happy-r", "{\"memo\":\"wrong number\"}", 201, NULL, &res);
    ASSERT_EQ_STR(api_header(&res, "Idempotent-Replayed"), "");
    json_t *r = api_json(&res);
    client_response_release(&res);
    ASSERT(r != NULL);
    ASSERT_EQ_INT(json_object_size(r), 8);
    char return_id[API_ID_SIZE_MAX], created_at[64];
    snprintf(return_id, sizeof return_id, "%s", json_string_value(json_object_get(r, "id")));
    ASSERT(strncmp(return_id, "p_", 2) == 0 && strcmp(return_id, transfer_id) != 0);
    ASSERT_EQ_STR(json_string_value(json_object_get(r, "status")), "SUCCESS");
    ASSERT_EQ_STR(json_string_value(json_object_get(r, "transfer_id")), transfer_id);
    ASSERT_EQ_INT(json_integer_value(json_object_get(r, "amount")), 1234);
    ASSERT_EQ_STR(json_string_value(json_object_get(r, "currency")), "CNY");
    json_t *to = json_object_get(r, "to");
    ASSERT_EQ_INT(json_object_size(to), 2);
    ASSERT_EQ_STR(json_string_value(json_object_get(to, "user_id")), a.id);
    ASSERT_EQ_STR(json_string_value(json_object_get(to, "display_name")), a_masked);
    ASSERT_EQ_STR(json_string_value(json_object_get(r, "memo")), "wrong number");
    snprintf(created_at, sizeof created_at, "%s",
             json_string_value(json_object_get(r, "created_at")));
    ASSERT(strlen(created_at) == 25 && strcmp(created_at + 19, "+08:00") == 0);
    json_decref(r);

    ASSERT_EQ_INT(th_balance(&S_client, &a), 10000);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 0);
    S_expect_returned(&a, transfer_id, return_id, "wrong number", created_at);
    S_expect_returned(&b, transfer_id, return_id, "wrong number", created_at);
    /* The operator reads the return as a payment of its own kind, from the payee to the payer. */
    snprintf(path, sizeof path, "/admin/payments/%s", return_id);
    json_t *seen = th_get_json(&S_client, path, S_admin);
    ASSERT_EQ_STR(json_string_value(json_object_get(seen, "type")), "transfer_return");
    ASSERT_EQ_STR(json_string_value(json_object_get(seen, "user_id")), b.id);
    ASSERT_EQ_STR(json_string_value(json_object_get(seen, "counterparty_id")), a.id);
    ASSERT_EQ_INT(json_integer_value(json_object_get(seen, "amount")), 1234);
    json_decref(seen);

    /* The payee's bills: the return out, over the transfer in. */
    page = th_bills(&S_client, &b, "", &items);
    ASSERT_EQ_INT(json_array_size(items), 2);
    S_expect_line(json_array_get(items, 0), return_id, "transfer_return", "out", 1234, a.id,
                  a_masked, "wrong number", 0, NULL);
    S_expect_line(json_array_get(items, 1), transfer_id, "transfer", "in", 1234, a.id, a_masked,
                  "午饭", 1234, return_id);
    json_decref(page);
    /* The payer's: the return in, over the transfer out and the top-up. */
    page = th_bills(&S_client, &a, "", &items);
    ASSERT_EQ_INT(json_array_size(items), 3);
    S_expect_line(json_array_get(items, 0), return_id, "transfer_return", "in", 1234, b.id,
                  b_masked, "wrong number", 10000, NULL);
    S_expect_line(json_array_get(items, 1), transfer_id, "transfer", "out", 1234, b.id, b_masked,
                  "午饭", 10000 - 1234, return_id);
    ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(items, 2), "type")), "topup");
    json_decref(page);

    /* The filters: the type alone, with a direction, and a transfer is not a return. */
    const struct {
        const struct api_user *u;
        const char *query;
        const char *want_id; /* NULL: no line */
    } filters[] = {
        {&b, "?type=transfer_return", return_id},
        {&b, "?type=transfer_return&direction=out", return_id},
        {&b, "?type=transfer_return&direction=in", NULL},
        {&b, "?type=transfer", transfer_id},
        {&a, "?type=transfer_return", return_id},
        {&a, "?type=transfer_return&direction=in", return_id},
        {&a, "?type=transfer_return&direction=out", NULL},
        {&a, "?type=transfer", transfer_id},
    };
    for (size_t i = 0; i < QB_ARRAY_COUNT(filters); i++) {
        page = th_bills(&S_client, filters[i].u, filters[i].query, &items);
        if (json_array_size(items) != (filters[i].want_id != NULL ? 1u : 0u))
            TEST_FAIL_("%s: %zu lines", filters[i].query, json_array_size(items));
        if (filters[i].want_id != NULL)
            ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(items, 0), "id")),
                          filters[i].want_id);
        json_decref(page);
    }
    /* The counterparty filter takes lines of every kind: both of them. */
    char query[128];
    snprintf(query, sizeof query, "?counterparty=%s", a.id);
    page = th_bills(&S_client, &b, query, &items);
    ASSERT_EQ_INT(json_array_size(items), 2);
    json_decref(page);
    /* And the CSV form names the type. */
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/transactions.csv?type=transfer_return",
                           b.token, NULL, &res),
                  200);
    ASSERT(res.body.data != NULL && strstr(res.body.data, ",transfer_return,out,12.34,") != NULL);
    ASSERT(strstr(res.body.data, return_id) != NULL);
    client_response_release(&res);

    /* The statements: the return by its type; the totals take it in. */
    S_expect_statement(&b, 0, 1234, 1234, 1234, 2);
    S_expect_statement(&a, 1234, 0, 10000 + 1234, 1234, 3);

    /* No limit of the payee's is charged, and the payer's spending stays counted. */
    ASSERT_EQ_INT(th_limit_used(&S_client, &b, "daily"), 0);
    ASSERT_EQ_INT(th_limit_used(&S_client, &b, "kyc_lifetime"), 0);
    ASSERT_EQ_INT(th_limit_used(&S_client, &a, "daily"), a_used);
}

TEST(a_retry_is_answered_the_same_and_a_second_return_is_refused)
{
    // A retry with the same key and body gets the same bytes, marked replayed, and moves
    // nothing; the key with another body or another transfer is a mismatch; a second return
    // under a new key is 409 TRANSFER_RETURNED naming the first, and moves nothing. The payer
    // still may not return it (403 comes before 409), a stranger still finds nothing.
    struct api_user a, b, c;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(api_user_new(&S_client, S_admin, &c));
    API_MUST(th_fund(&S_client, S_admin, &a, 5000));
    char t1[API_ID_SIZE_MAX], t2[API_ID_SIZE_MAX];
    S_transfer(&a, &b, 700, NULL, "again-t1", t1);
    S_transfer(&a, &b, 300, NULL, "again-t2", t2);

    struct client_response first, again;
    RETURN(&b, t1, "again-r", "{}", 201, NULL, &first);
    ASSERT_EQ_STR(api_header(&first, "Idempotent-Replayed"), "");
    /* No memo given: null, as a transfer's. */
    json_t *r = api_json(&first);
    ASSERT(json_is_null(json_object_get(r, "memo")));
    char return_id[API_ID_SIZE_MAX], created_at[64];
    snprintf(return_id, sizeof return_id, "%s", json_string_value(json_object_get(r, "id")));
    snprintf(created_at, sizeof created_at, "%s",
             json_string_value(json_object_get(r, "created_at")));
    json_decref(r);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 5000 - 300);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 300);

    RETURN(&b, t1, "again-r", "{}", 201, NULL, &again);
    ASSERT_EQ_STR(api_header(&again, "Idempotent-Replayed"), "true");
    ASSERT(again.body.size == first.body.size &&
           memcmp(again.body.data, first.body.data, first.body.size) == 0);
    client_response_release(&again);
    client_response_release(&first);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 5000 - 300);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 300);

    /* The key with another body, or for another transfer. */
    EXPECT_RETURN(&b, t1, "again-r", "{\"memo\":\"oops\"}", 422, "IDEMPOTENCY_MISMATCH");
    EXPECT_RETURN(&b, t2, "again-r", "{}", 422, "IDEMPOTENCY_MISMATCH");
    ASSERT_EQ_INT(th_balance(&S_client, &a), 5000 - 300);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 300);

    /* Once only. */
    struct client_response res;
    RETURN(&b, t1, "again-r2", "{}", 409, "TRANSFER_RETURNED", &res);
    ASSERT_EQ_STR(api_json_str(&res, "return_id"), return_id);
    client_response_release(&res);
    RETURN(&b, t1, "again-r3", "{\"memo\":\"once more\"}", 409, "TRANSFER_RETURNED", &res);
    ASSERT_EQ_STR(api_json_str(&res, "return_id"), return_id);
    client_response_release(&res);
    EXPECT_RETURN(&a, t1, "again-payer", "{}", 403, "FORBIDDEN");
    EXPECT_RETURN(&c, t1, "again-stranger", "{}", 404, "NOT_FOUND");
    ASSERT_EQ_INT(th_balance(&S_client, &a), 5000 - 300);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 300);
    ASSERT_EQ_INT(th_balance(&S_client, &c), 0);
    S_expect_returned(&b, t1, return_id, NULL, created_at);
    S_expect_returned(&b, t2, NULL, NULL, NULL);

    /* The other transfer still goes back, and the bills hold one line per return. */
    EXPECT_RETURN(&b, t2, "again-r4", "{}", 201, NULL);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 5000);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 0);
    json_t *items;
    json_t *page = th_bills(&S_client, &b, "?type=transfer_return", &items);
    ASSERT_EQ_INT(json_array_size(items), 2);
    json_decref(page);
}

TEST(only_the_payee_finds_a_transfer_to_return)
{
    // Before anything else of the transfer is told: its payer is 403 FORBIDDEN (they know it),
    // a stranger, a top-up's id, a return's own id, a user id and ids of no payment are all
    // 404 NOT_FOUND, as GET /v1/transfers/{id} answers them. No money moves.
    struct api_user a, b, c;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(api_user_new(&S_client, S_admin, &c));
    API_MUST(th_fund(&S_client, S_admin, &a, 5000));
    char t[API_ID_SIZE_MAX];
    S_transfer(&a, &b, 1000, NULL, "who-t", t);
    json_t *items;
    json_t *page = th_bills(&S_client, &a, "?type=topup", &items);
    char topup_id[API_ID_SIZE_MAX];
    snprintf(topup_id, sizeof topup_id, "%s",
             json_string_value(json_object_get(json_array_get(items, 0), "id")));
    json_decref(page);
    ASSERT(strncmp(topup_id, "p_", 2) == 0);

    EXPECT_RETURN(&a, t, "who-1", "{}", 403, "FORBIDDEN");
    EXPECT_RETURN(&c, t, "who-2", "{}", 404, "NOT_FOUND");
    EXPECT_RETURN(&a, topup_id, "who-3", "{}", 404, "NOT_FOUND");
    EXPECT_RETURN(&b, topup_id, "who-4", "{}", 404, "NOT_FOUND");
    const char *nothing[] = {
        "p_0000000000000000000000000a", "p_nonsense", "zz_nothing9", a.id, "p_",
        "P_0000000000000000000000000A"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(nothing); i++) {
        char key[32];
        snprintf(key, sizeof key, "who-nothing-%zu", i);
        EXPECT_RETURN(&b, nothing[i], key, "{}", 404, "NOT_FOUND");
    }
    ASSERT_EQ_INT(th_balance(&S_client, &a), 4000);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 1000);
    ASSERT_EQ_INT(th_balance(&S_client, &c), 0);
    S_expect_returned(&b, t, NULL, NULL, NULL);

    /* A return is no transfer: its payee (the first payer) cannot send it back again. */
    struct client_response res;
    RETURN(&b, t, "who-5", "{}", 201, NULL, &res);
    char return_id[API_ID_SIZE_MAX];
    snprintf(return_id, sizeof return_id, "%s", api_json_str(&res, "id"));
    client_response_release(&res);
    EXPECT_RETURN(&a, return_id, "who-6", "{}", 404, "NOT_FOUND");
    EXPECT_RETURN(&b, return_id, "who-7", "{}", 404, "NOT_FOUND");
    ASSERT_EQ_INT(th_balance(&S_client, &a), 5000);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 0);
}

TEST(bad_requests_are_refused_before_anything_and_not_kept)
{
    // Without an Idempotency-Key, or with a body of the wrong shape (an unknown member, a memo
    // that is no string, too long or hiding text, not JSON), the answer is 400 and nothing is
    // kept under the key: the same key then returns the transfer, with a memo of exactly 128
    // bytes. An empty body reads as {}.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 2000));
    char t[API_ID_SIZE_MAX], t_empty[API_ID_SIZE_MAX];
    S_transfer(&a, &b, 500, NULL, "bad-t", t);
    S_transfer(&a, &b, 400, NULL, "bad-t-empty", t_empty);

    EXPECT_RETURN(&b, t, NULL, "{}", 400, "PARAM_ERROR");
    EXPECT_RETURN(&b, t, NULL, NULL, 400, "PARAM_ERROR");
    char long_key[300];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    EXPECT_RETURN(&b, t, long_key, "{}", 400, "PARAM_ERROR");
    EXPECT_RETURN(&b, t, "bad-k", "{\"extra\":1}", 400, "PARAM_ERROR");
    EXPECT_RETURN(&b, t, "bad-k", "{\"memo\":5}", 400, "PARAM_ERROR");
    EXPECT_RETURN(&b, t, "bad-k", "{\"memo\":\"x\",\"amount\":500}", 400, "PARAM_ERROR");
    EXPECT_RETURN(&b, t, "bad-k", "{\"memo\":\"refund \\u202e001 yap\"}", 400, "PARAM_ERROR");
    EXPECT_RETURN(&b, t, "bad-k", "{\"memo\":\"a\\nb\"}", 400, "PARAM_ERROR");
    EXPECT_RETURN(&b, t, "bad-k", "{\"memo\":", 400, "INVALID_JSON");
    EXPECT_RETURN(&b, t, "bad-k", "[]", 400, "INVALID_JSON");
    char memo[130], body[200];
    memset(memo, 'm', 129);
    memo[129] = '\0';
    snprintf(body, sizeof body, "{\"memo\":\"%s\"}", memo);
    EXPECT_RETURN(&b, t, "bad-k", body, 400, "PARAM_ERROR");
    ASSERT_EQ_INT(th_balance(&S_client, &a), 2000 - 900);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 900);
    S_expect_returned(&b, t, NULL, NULL, NULL);

    /* "bad-k" was never kept: 128 bytes of memo go with it. */
    memo[128] = '\0';
    snprintf(body, sizeof body, "{\"memo\":\"%s\"}", memo);
    struct client_response res;
    RETURN(&b, t, "bad-k", body, 201, NULL, &res);
    ASSERT_EQ_STR(api_json_str(&res, "memo"), memo);
    ASSERT_EQ_STR(api_header(&res, "Idempotent-Replayed"), "");
    client_response_release(&res);
    /* No body at all is {}. */
    EXPECT_RETURN(&b, t_empty, "bad-empty", NULL, 201, NULL);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 2000);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 0);
}

TEST(a_payee_who_spent_the_money_cannot_return_it)
{
    // The return takes the payee's available balance: spent, it is 402 and nothing moves; that
    // refusal is kept for its key (a retry is the same refusal even once money arrived), and a
    // new key returns it.
    struct api_user a, b, c;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(th_user_new(&S_client, S_admin, &b));
    API_MUST(api_user_new(&S_client, S_admin, &c));
    API_MUST(th_fund(&S_client, S_admin, &a, 3000));
    char t[API_ID_SIZE_MAX], spent[API_ID_SIZE_MAX], more[API_ID_SIZE_MAX];
    S_transfer(&a, &b, 1000, NULL, "poor-t", t);
    S_transfer(&b, &c, 600, NULL, "poor-spend", spent);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 400);

    struct client_response first, again;
    RETURN(&b, t, "poor-r", "{}", 402, "INSUFFICIENT_BALANCE", &first);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 2000);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 400);
    ASSERT_EQ_INT(th_balance(&S_client, &c), 600);
    S_expect_returned(&b, t, NULL, NULL, NULL);

    /* Money arrives: the key still answers its refusal. */
    S_transfer(&a, &b, 600, NULL, "poor-more", more);
    RETURN(&b, t, "poor-r", "{}", 402, "INSUFFICIENT_BALANCE", &again);
    ASSERT_EQ_STR(api_header(&again, "Idempotent-Replayed"), "true");
    ASSERT(again.body.size == first.body.size &&
           memcmp(again.body.data, first.body.data, first.body.size) == 0);
    client_response_release(&again);
    client_response_release(&first);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 1400);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 1000);

    EXPECT_RETURN(&b, t, "poor-r2", "{}", 201, NULL);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 2400);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 0);
    ASSERT_EQ_INT(th_balance(&S_client, &c), 600);
}

TEST(a_return_charges_no_limit_of_the_payee)
{
    // The return is no spending: a payee who used up the whole ¥1,000 a KYC level 1 wallet may
    // pay in its life still sends a transfer back, and GET /v1/me/limits shows nothing more
    // used.
    struct api_user a, b, c;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(th_user_new(&S_client, S_admin, &b));
    API_MUST(api_user_new(&S_client, S_admin, &c));
    API_MUST(th_fund(&S_client, S_admin, &a, 500));
    API_MUST(th_fund(&S_client, S_admin, &b, 100000));
    char spent[API_ID_SIZE_MAX], t[API_ID_SIZE_MAX];
    S_transfer(&b, &c, 100000, NULL, "lim-spend", spent);
    ASSERT_EQ_INT(th_limit_used(&S_client, &b, "kyc_lifetime"), 100000);
    S_transfer(&a, &b, 500, NULL, "lim-t", t);
    EXPECT_RETURN(&b, t, "lim-r", "{}", 201, NULL);
    ASSERT_EQ_INT(th_limit_used(&S_client, &b, "kyc_lifetime"), 100000);
    ASSERT_EQ_INT(th_limit_used(&S_client, &b, "daily"), 100000);
    ASSERT_EQ_INT(th_limit_used(&S_client, &a, "kyc_lifetime"), 500);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 500);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 0);
}

TEST(a_frozen_payee_or_an_unavailable_payer_stops_the_return)
{
    // A payee who froze their wallet sends nothing back (403 ACCOUNT_FROZEN); a payer frozen by
    // an operator, frozen by themselves, or whose wallet is closed takes nothing (403
    // PAYEE_UNAVAILABLE). The caller's freeze is told first. No money moves; once the payer's
    // freeze is lifted, the return goes through under a new key.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 3000));
    char t[API_ID_SIZE_MAX];
    S_transfer(&a, &b, 1000, NULL, "frz-t", t);
    struct client_response res;

    /* The payer frozen by an operator: its sessions end, so its balance is the operator's
     * to read. */
    char path[128];
    snprintf(path, sizeof path, "/admin/users/%s/freeze", a.id);
    ASSERT_EQ_INT(
        api_call(&S_client, "POST", path, S_admin, "{\"reason\":\"ticket 7: return\"}", &res), 200);
    client_response_release(&res);
    EXPECT_RETURN(&b, t, "frz-1", "{}", 403, "PAYEE_UNAVAILABLE");
    ASSERT_EQ_INT(th_admin_available(&S_client, S_admin, a.id), 2000);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 1000);

    /* Both frozen: the caller's freeze answers. */
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/freeze", b.token, NULL, &res), 200);
    client_response_release(&res);
    EXPECT_RETURN(&b, t, "frz-2", "{}", 403, "ACCOUNT_FROZEN");
    snprintf(path, sizeof path, "/admin/users/%s/unfreeze", a.id);
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, S_admin, NULL, &res), 200);
    client_response_release(&res);
    /* The caller alone frozen. */
    EXPECT_RETURN(&b, t, "frz-3", "{}", 403, "ACCOUNT_FROZEN");
    ASSERT_EQ_INT(th_admin_available(&S_client, S_admin, a.id), 2000);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 1000);
    S_expect_returned(&b, t, NULL, NULL, NULL);
    char code[API_SMS_CODE_SIZE], body[160];
    API_MUST(api_sms_code_get_for(&S_client, S_admin, &b, "unfreeze", code));
    snprintf(body, sizeof body, "{\"password\":\"%s\",\"sms_code\":\"%s\"}", b.password, code);
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/unfreeze", b.token, body, &res), 200);
    client_response_release(&res);

    /* The payer froze their own wallet (logged in again on a new device: the operator's
     * freeze ended its keys). */
    API_MUST(api_login_new_device(&S_client, S_admin, &a, "test", a.token));
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/freeze", a.token, NULL, &res), 200);
    client_response_release(&res);
    EXPECT_RETURN(&b, t, "frz-4", "{}", 403, "PAYEE_UNAVAILABLE");
    ASSERT_EQ_INT(th_balance(&S_client, &a), 2000);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 1000);
    /* The refusal stays the key's answer; with the payer's freeze lifted a new key returns it. */
    API_MUST(api_sms_code_get_for(&S_client, S_admin, &a, "unfreeze", code));
    snprintf(body, sizeof body, "{\"password\":\"%s\",\"sms_code\":\"%s\"}", a.password, code);
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/unfreeze", a.token, body, &res), 200);
    client_response_release(&res);
    EXPECT_RETURN(&b, t, "frz-4", "{}", 403, "PAYEE_UNAVAILABLE");
    EXPECT_RETURN(&b, t, "frz-5", "{}", 201, NULL);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 3000);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 0);

    /* A payer whose wallet is closed: it sent everything it had, then closed. */
    struct api_user gone, payee;
    API_MUST(th_user_new(&S_client, S_admin, &gone));
    API_MUST(api_user_new(&S_client, S_admin, &payee));
    API_MUST(th_fund(&S_client, S_admin, &gone, 800));
    char t_gone[API_ID_SIZE_MAX];
    S_transfer(&gone, &payee, 800, NULL, "frz-gone-t", t_gone);
    API_MUST(api_sms_code_get(&S_client, S_admin, gone.phone, "close_account", code));
    char close_body[128];
    snprintf(close_body, sizeof close_body,
             "{\"payment_password\":\"" TH_PAY_PASSWORD "\",\"sms_code\":\"%s\"}", code);
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/close", gone.token, close_body, &res), 200);
    client_response_release(&res);
    EXPECT_RETURN(&payee, t_gone, "frz-gone-r", "{}", 403, "PAYEE_UNAVAILABLE");
    ASSERT_EQ_INT(th_balance(&S_client, &payee), 800);
    ASSERT_EQ_INT(th_admin_available(&S_client, S_admin, gone.id), 0);
}

TEST(eight_returns_of_one_transfer_at_once_move_it_once)
{
    // Eight returns of the same transfer under eight keys, all at once, for a few rounds:
    // exactly one is 201, the seven others 409 TRANSFER_RETURNED naming it, and the money moved
    // once. Then two transfers the payee can afford to return only one of: one goes back, the
    // other's returns are 402, the first's others 409.
    struct api_user a, b, c;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(th_user_new(&S_client, S_admin, &b));
    API_MUST(api_user_new(&S_client, S_admin, &c));
    API_MUST(th_fund(&S_client, S_admin, &a, 10000));
    static struct th_call calls[S_RACERS];
    static char keys[S_RACERS][48], path[2][128];
    for (int round = 0; round < 4; round++) {
        char t[API_ID_SIZE_MAX], key[32];
        snprintf(key, sizeof key, "race-t-%d", round);
        S_transfer(&a, &b, 300, NULL, key, t);
        long long a_before = th_balance(&S_client, &a), b_before = th_balance(&S_client, &b);
        snprintf(path[0], sizeof path[0], "/v1/transfers/%s/return", t);
        memset(calls, 0, sizeof calls);
        for (int i = 0; i < S_RACERS; i++) {
            snprintf(keys[i], sizeof keys[i], "race-%d-%d", round, i);
            calls[i] =
                (struct th_call){.path = path[0], .token = b.token, .key = keys[i], .body = "{}"};
        }
        th_burst_run(S_daemon.base_url, calls, S_RACERS, S_RACERS);
        int won = -1;
        for (int i = 0; i < S_RACERS; i++) {
            if (calls[i].status == 201) {
                ASSERT(won < 0);
                won = i;
            }
        }
        ASSERT(won >= 0);
        json_t *winner = json_loads(calls[won].answer, 0, NULL);
        char return_id[API_ID_SIZE_MAX];
        snprintf(return_id, sizeof return_id, "%s",
                 json_string_value(json_object_get(winner, "id")));
        json_decref(winner);
        ASSERT(strncmp(return_id, "p_", 2) == 0);
        for (int i = 0; i < S_RACERS; i++) {
            if (i == won)
                continue;
            if (calls[i].status != 409 || strcmp(calls[i].code, "TRANSFER_RETURNED") != 0)
                TEST_FAIL_("round %d, call %d: %ld %s", round, i, calls[i].status, calls[i].answer);
            json_t *refusal = json_loads(calls[i].answer, 0, NULL);
            ASSERT_EQ_STR(json_string_value(json_object_get(refusal, "return_id")), return_id);
            json_decref(refusal);
        }
        ASSERT_EQ_INT(th_balance(&S_client, &a), a_before + 300);
        ASSERT_EQ_INT(th_balance(&S_client, &b), b_before - 300);
        char get_path[128];
        snprintf(get_path, sizeof get_path, "/v1/transfers/%s", t);
        json_t *transfer = th_get_json(&S_client, get_path, a.token);
        json_t *returned = json_object_get(transfer, "returned");
        ASSERT_EQ_STR(json_string_value(json_object_get(returned, "id")), return_id);
        json_decref(transfer);
        json_t *items;
        json_t *page = th_bills(&S_client, &b, "?type=transfer_return", &items);
        ASSERT_EQ_INT(json_array_size(items), round + 1);
        ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(items, 0), "id")),
                      return_id);
        json_decref(page);
    }

    /* Two transfers of ¥5, ¥5 of them spent: only one can go back. */
    char t1[API_ID_SIZE_MAX], t2[API_ID_SIZE_MAX], spent[API_ID_SIZE_MAX];
    S_transfer(&a, &b, 500, NULL, "race-two-1", t1);
    S_transfer(&a, &b, 500, NULL, "race-two-2", t2);
    S_transfer(&b, &c, 500, NULL, "race-two-spend", spent);
    long long a_before = th_balance(&S_client, &a), b_before = th_balance(&S_client, &b);
    ASSERT_EQ_INT(b_before, 500);
    snprintf(path[0], sizeof path[0], "/v1/transfers/%s/return", t1);
    snprintf(path[1], sizeof path[1], "/v1/transfers/%s/return", t2);
    memset(calls, 0, sizeof calls);
    for (int i = 0; i < S_RACERS; i++) {
        snprintf(keys[i], sizeof keys[i], "race-two-%d", i);
        calls[i] =
            (struct th_call){.path = path[i % 2], .token = b.token, .key = keys[i], .body = "{}"};
    }
    th_burst_run(S_daemon.base_url, calls, S_RACERS, S_RACERS);
    int won = -1;
    for (int i = 0; i < S_RACERS; i++) {
        if (calls[i].status == 201) {
            ASSERT(won < 0);
            won = i;
        }
    }
    ASSERT(won >= 0);
    for (int i = 0; i < S_RACERS; i++) {
        if (i == won)
            continue;
        bool same = i % 2 == won % 2;
        long want_status = same ? 409 : 402;
        const char *want_code = same ? "TRANSFER_RETURNED" : "INSUFFICIENT_BALANCE";
        if (calls[i].status != want_status || strcmp(calls[i].code, want_code) != 0)
            TEST_FAIL_("call %d (transfer %d, the winner's %d): %ld %s", i, i % 2, won % 2,
                       calls[i].status, calls[i].answer);
    }
    ASSERT_EQ_INT(th_balance(&S_client, &a), a_before + 500);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 0);
    S_expect_returned(&b, won % 2 == 0 ? t2 : t1, NULL, NULL, NULL);
}

/* The user ids of u's recent payees, newest first, joined by commas. */
static void S_recent(const struct api_user *u, char *out, size_t out_size)
{
    json_t *body = th_get_json(&S_client, "/v1/payees/recent", u->token);
    out[0] = '\0';
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(body, "items"), i, item)
    {
        size_t used = strlen(out);
        snprintf(out + used, out_size - used, "%s%s", i > 0 ? "," : "",
                 json_string_value(json_object_get(item, "user_id")));
    }
    json_decref(body);
}

TEST(a_transfer_sent_back_makes_no_recent_payee)
{
    // A transfer its payee sent back most likely went to the wrong person: the payer's recent
    // payees do not offer them again, while one kept still counts.
    struct api_user a, b, c;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(api_user_new(&S_client, S_admin, &c));
    API_MUST(th_fund(&S_client, S_admin, &a, 1000));
    char kept[API_ID_SIZE_MAX], wrong[API_ID_SIZE_MAX], again[API_ID_SIZE_MAX];
    S_transfer(&a, &b, 100, NULL, "recent-kept", kept);
    S_transfer(&a, &c, 200, NULL, "recent-wrong", wrong);
    char recent[256], want[256];
    S_recent(&a, recent, sizeof recent);
    snprintf(want, sizeof want, "%s,%s", c.id, b.id);
    ASSERT_EQ_STR(recent, want);
    EXPECT_RETURN(&c, wrong, "recent-r", "{}", 201, NULL);
    S_recent(&a, recent, sizeof recent);
    ASSERT_EQ_STR(recent, b.id);
    /* Paid again and kept, c is back, first. */
    S_transfer(&a, &c, 50, NULL, "recent-again", again);
    S_recent(&a, recent, sizeof recent);
    ASSERT_EQ_STR(recent, want);
}

TEST(a_transfer_goes_back_only_within_thirty_days)
{
    // Ten minutes short of thirty days a transfer still goes back; two minutes past them it is
    // 409 TRANSFER_RETURN_EXPIRED and nothing moves. The checks before the window still answer
    // first (the payer's 403, a return already made), and the window before the caller's
    // freeze. Last in the list: the daemon is started again with its clock moved on.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 3000));
    char t1[API_ID_SIZE_MAX], t2[API_ID_SIZE_MAX];
    S_transfer(&a, &b, 1000, NULL, "win-t1", t1);
    S_transfer(&a, &b, 1000, NULL, "win-t2", t2);
    struct api_user *users[] = {&a, &b};

    th_restart_at(&S_daemon, &S_client, S_root, S_admin, 30 * S_DAY_MS - 10 * 60 * 1000, users, 2);
    struct client_response first;
    RETURN(&b, t1, "win-r1", "{}", 201, NULL, &first);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 2000);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 1000);

    th_restart_at(&S_daemon, &S_client, S_root, S_admin, 30 * S_DAY_MS + 2 * 60 * 1000, users, 2);
    EXPECT_RETURN(&b, t2, "win-r2", "{}", 409, "TRANSFER_RETURN_EXPIRED");
    EXPECT_RETURN(&b, t2, "win-r2b", "{\"memo\":\"late\"}", 409, "TRANSFER_RETURN_EXPIRED");
    EXPECT_RETURN(&a, t2, "win-payer", "{}", 403, "FORBIDDEN");
    EXPECT_RETURN(&b, t1, "win-r3", "{}", 409, "TRANSFER_RETURNED");
    /* The return made within the window is still its key's answer. */
    struct client_response again;
    RETURN(&b, t1, "win-r1", "{}", 201, NULL, &again);
    ASSERT_EQ_STR(api_header(&again, "Idempotent-Replayed"), "true");
    ASSERT(again.body.size == first.body.size &&
           memcmp(again.body.data, first.body.data, first.body.size) == 0);
    client_response_release(&again);
    client_response_release(&first);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/freeze", b.token, NULL, &res), 200);
    client_response_release(&res);
    EXPECT_RETURN(&b, t2, "win-r4", "{}", 409, "TRANSFER_RETURN_EXPIRED");
    ASSERT_EQ_INT(th_balance(&S_client, &a), 2000);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 1000);
    S_expect_returned(&b, t2, NULL, NULL, NULL);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    if (!api_suite_daemon(&suite, &S_daemon, "main", NULL, S_admin, &S_client))
        return api_suite_end(&suite);

    RUN(a_return_sends_the_transfer_back_and_both_sides_read_it);
    RUN(a_retry_is_answered_the_same_and_a_second_return_is_refused);
    RUN(only_the_payee_finds_a_transfer_to_return);
    RUN(bad_requests_are_refused_before_anything_and_not_kept);
    RUN(a_payee_who_spent_the_money_cannot_return_it);
    RUN(a_return_charges_no_limit_of_the_payee);
    RUN(a_frozen_payee_or_an_unavailable_payer_stops_the_return);
    RUN(eight_returns_of_one_transfer_at_once_move_it_once);
    RUN(a_transfer_sent_back_makes_no_recent_payee);
    RUN(a_transfer_goes_back_only_within_thirty_days);

    /* The books balance after all of it. */
    api_suite_stop(&suite);
    api_suite_verify_ledger(&suite, &S_daemon);
    return api_suite_end(&suite);
}

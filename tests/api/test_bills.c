/*
 * test_bills.c — the bills, statements and CSV downloads as a client sees
 * them: GET /v1/me/transactions(.csv) and GET /v1/me/statements/{month}.
 *
 * An empty history, every refused parameter, the CSV form's headers, and a
 * counterparty's lines of every kind agreeing with the statement's sum for
 * them, and a month of every kind of line whose statement must be what its
 * lines add up to; and a statement made slow on purpose holding up no other
 * request. The arithmetic of lines with money in them (top-ups,
 * withdrawals, transfers, red packets) is covered in detail by the unit
 * tests in tests/unit/wallet/test_bills.c.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "api/lib/api.h"
#include "api/lib/client.h"
#include "api/lib/daemon.h"
#include "api/lib/suite.h"
#include "api/refund_helpers.h"
#include "api/transfer_helpers.h"
#include "test.h"

#define S_CSV_HEADER                                                                               \
    "id,created_at,type,direction,amount,fee,currency,counterparty,counterparty_id,memo,status,"   \
    "balance_after,updated_at,failure_code\r\n"

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];

/* GET path as user with optional extra header lines (NULL-terminated). */
static long S_get(const struct api_user *user, const char *path, const char *extra,
                  struct client_response *res)
{
    char auth[160];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", user->token);
    const char *headers[] = {auth, extra, NULL};
    client_request(&S_client, "GET", path, headers, NULL, 0, res);
    return res->status;
}

TEST(an_empty_history_is_an_empty_page)
{
    // A new user's bill page is empty, not an error: no items, no cursor, and a statement of
    // zeros that says it is complete.
    struct api_user a;
    API_MUST(api_user_new(&S_client, S_admin, &a));
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/transactions", a.token, NULL, &res), 200);
    json_t *body = api_json(&res);
    ASSERT(body != NULL);
    ASSERT(json_is_array(json_object_get(body, "items")));
    ASSERT_EQ_INT(json_array_size(json_object_get(body, "items")), 0);
    ASSERT(json_is_null(json_object_get(body, "next_cursor")));
    ASSERT(json_is_false(json_object_get(body, "partial")));
    json_decref(body);
    client_response_release(&res);

    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/transactions?type=transfer&direction=out"
                                             "&from=2026-11-01&to=2026-11-30T23:59:59%2B08:00"
                                             "&limit=100",
                           a.token, NULL, &res),
                  200);
    client_response_release(&res);

    /* An empty cursor is none, as on the lists: a client that always sends one is answered. */
    ASSERT_EQ_INT(
        api_call(&S_client, "GET", "/v1/me/statements/2026-11?cursor=", a.token, NULL, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/statements/2026-11", a.token, NULL, &res),
                  200);
    body = api_json(&res);
    ASSERT(body != NULL);
    ASSERT_EQ_STR(json_string_value(json_object_get(body, "month")), "2026-11");
    ASSERT_EQ_STR(json_string_value(json_object_get(body, "from")), "2026-11-01T00:00:00+08:00");
    ASSERT_EQ_STR(json_string_value(json_object_get(body, "to")), "2026-12-01T00:00:00+08:00");
    ASSERT_EQ_INT(json_integer_value(json_object_get(json_object_get(body, "income"), "CNY")), 0);
    ASSERT_EQ_INT(json_integer_value(json_object_get(json_object_get(body, "expense"), "CNY")), 0);
    json_t *by_type = json_object_get(body, "by_type");
    ASSERT(json_is_object(json_object_get(by_type, "topup")));
    ASSERT(json_is_object(json_object_get(by_type, "withdrawal")));
    ASSERT(json_is_object(json_object_get(by_type, "transfer")));
    ASSERT_EQ_INT(json_array_size(json_object_get(body, "by_counterparty")), 0);
    ASSERT(json_is_true(json_object_get(body, "complete")));
    json_decref(body);
    client_response_release(&res);
}

TEST(the_first_and_last_days_a_bill_can_name_answer)
{
    // 1970-01-01 is a day bills accept, and in UTC+8 it began eight hours before the epoch: a
    // time before zero. Every bill route that takes a day or a month answers at either end of
    // the range, for a user with money moved (the walk of a real chain) and for the operator.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 500));
    struct client_response res;
    char body[256];
    snprintf(body, sizeof body, "{\"to\":\"%s\",\"amount\":100,\"payment_password\":\"%s\"}", b.id,
             TH_PAY_PASSWORD);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/transfers", a.token, "edge-1", body, &res),
                  201);
    client_response_release(&res);
    const char *paths[] = {
        "/v1/me/transactions?from=1970-01-01",
        "/v1/me/transactions?to=1970-01-01",
        "/v1/me/transactions?from=1970-01-01&to=1970-01-01",
        "/v1/me/transactions?from=1970-01-01T00:00:00%2B08:00&to=1970-01-01T07:59:59%2B08:00",
        "/v1/me/transactions?to=1970-01-01T00:00:00Z",
        "/v1/me/transactions?from=9999-12-31",
        "/v1/me/transactions?from=9999-12-31T23:59:59.999-12:00",
        "/v1/me/transactions.csv?from=1970-01-01&to=1970-01-01",
        "/v1/me/statements/1970-01",
        "/v1/me/statements/1970",
        "/v1/me/statements/1970-01.csv",
        "/v1/me/statements/9999-11",
        "/v1/me/statements/9998",
    };
    char path[256];
    for (size_t i = 0; i < 2 * QB_ARRAY_COUNT(paths); i++) {
        /* The user's own, then an operator's look at the same. */
        const char *p = paths[i % QB_ARRAY_COUNT(paths)];
        if (i < QB_ARRAY_COUNT(paths))
            snprintf(path, sizeof path, "%s", p);
        else if (strncmp(p, "/v1/me/transactions", 19) == 0)
            snprintf(path, sizeof path, "/admin/users/%s/%s", a.id, p + strlen("/v1/me/"));
        else
            continue; /* an operator reads a user's statement through the lines */
        long status = api_call(&S_client, "GET", path,
                               i < QB_ARRAY_COUNT(paths) ? a.token : S_admin, NULL, &res);
        if (status != 200 && !(status == 400 && strcmp(api_error_code(&res), "PARAM_ERROR") == 0))
            TEST_FAIL_("GET %s: %ld %.200s", path, status,
                       res.body.data != NULL ? res.body.data : "");
        client_response_release(&res);
    }
    ASSERT_EQ_INT(
        api_call(&S_client, "GET", "/admin/payments?date=1970-01-01", S_admin, NULL, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/healthz", NULL, NULL, &res), 200);
    client_response_release(&res);
}

TEST(bad_parameters_are_param_errors)
{
    // Every query a client can get wrong answers 400 PARAM_ERROR, never a 5xx and never a page
    // that silently ignored the parameter.
    struct api_user a;
    API_MUST(api_user_new(&S_client, S_admin, &a));
    const char *paths[] = {
        "/v1/me/transactions?type=bogus",
        "/v1/me/transactions?type=",
        "/v1/me/transactions?type=TRANSFER",
        "/v1/me/transactions?direction=sideways",
        "/v1/me/transactions?from=yesterday",
        "/v1/me/transactions?from=2026-13-01",
        "/v1/me/transactions?to=2026-02-30",
        "/v1/me/transactions?from=2026-11-01T00:00:00",
        "/v1/me/transactions?from=2026-11-02&to=2026-11-01",
        "/v1/me/transactions?from=2026-11-01T00:00:00Z&to=2026-11-01T00:00:00Z",
        "/v1/me/transactions?limit=0",
        "/v1/me/transactions?limit=101",
        "/v1/me/transactions?limit=-1",
        "/v1/me/transactions?limit=ten",
        "/v1/me/transactions?cursor=junk",
        "/v1/me/transactions?cursor=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        /* a cursor longer than any the server gives out */
        ("/v1/me/"
         "transactions?cursor=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        "/v1/me/transactions?counterparty=bogus",
        "/v1/me/transactions?counterparty=123456789",
        "/v1/me/transactions?counterparty=p_00000000000000000000000000",
        "/v1/me/transactions?q=",
        "/v1/me/transactions?q=%20%20",
        "/v1/me/transactions?q=%E5%A5",
        "/v1/me/transactions?q=a%0Ab",
        "/v1/me/transactions?q=0123456789012345678901234567890123456789012345678901234567890123x",
        "/v1/me/transactions.csv?q=",
        "/v1/me/transactions.csv?limit=0",
        "/v1/me/transactions.csv?limit=1001",
        "/v1/me/transactions.csv?type=bogus",
        "/v1/me/transactions.csv?cursor=junk",
        "/v1/me/statements/2026-13",
        "/v1/me/statements/2026-00",
        "/v1/me/statements/2026-1",
        "/v1/me/statements/1969-12",
        "/v1/me/statements/november",
        "/v1/me/statements/2026-13.csv",
        "/v1/me/statements/.csv",
        "/v1/me/statements/2026-11.csv?cursor=junk",
        /* the statement is one answer: a cursor there is a mistake, not ignored */
        "/v1/me/statements/2026-11?cursor=junk",
        "/v1/me/statements/2026-11-01",
        "/v1/me/statements/9999-12",
        "/v1/me/statements/1969",
        "/v1/me/statements/9999",
        "/v1/me/statements/202",
        "/v1/me/statements/20266",
        "/v1/me/statements/2026.csv?cursor=junk",
        /* an escaped NUL in a value: not a filter to ignore */
        "/v1/me/transactions?type=topup%00x",
        "/v1/me/transactions?counterparty=u_zzz%00",
        "/v1/me/transactions?from=9999-12-31%00",
        "/v1/me/transactions?cursor=garbage%00",
        "/v1/me/transactions?limit=2%00",
        "/v1/me/transactions.csv?type=topup%00",
        "/v1/me/statements/2026-11?x=%00",
        /* a filter given twice: which one? */
        "/v1/me/transactions?type=transfer&type=topup",
        "/v1/me/transactions?limit=5&LIMIT=6",
        "/v1/me/transactions?%74ype=transfer&type=topup",
        /* an argument the path does not read: a misspelt filter, not an unfiltered list */
        "/v1/me/transactions?tpye=topup",
        "/v1/me/transactions.csv?types=topup",
        "/v1/me/statements/2026-11.csv?limit=3",
        "/v1/me/statements/2026-11?type=topup",
    };
    for (size_t i = 0; i < QB_ARRAY_COUNT(paths); i++) {
        struct client_response res;
        api_call(&S_client, "GET", paths[i], a.token, NULL, &res);
        if (res.status != 400 || strcmp(api_error_code(&res), "PARAM_ERROR") != 0)
            TEST_FAIL_("GET %s: %ld %.200s", paths[i], res.status,
                       res.body.data != NULL ? res.body.data : "");
        client_response_release(&res);
    }
    /* A wrong type is told every type there is. */
    struct client_response res;
    api_call(&S_client, "GET", "/v1/me/transactions?type=bogus", a.token, NULL, &res);
    const char *message = api_json_str(&res, "message");
    ASSERT(message != NULL);
    const char *types[] = {"topup",
                           "withdrawal",
                           "transfer",
                           "order_payment",
                           "order_refund",
                           "red_packet_sent",
                           "red_packet_received",
                           "red_packet_refund",
                           "withdrawal_refund",
                           "other"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(types); i++)
        if (strstr(message, types[i]) == NULL)
            TEST_FAIL_("\"%s\" does not name %s", message, types[i]);
    client_response_release(&res);
    /* A misspelt argument is named back, with what the path takes. */
    api_call(&S_client, "GET", "/v1/me/transactions?tpye=topup", a.token, NULL, &res);
    ASSERT(strstr(api_json_str(&res, "message"), "\"tpye\"") != NULL);
    ASSERT(strstr(api_json_str(&res, "message"), "counterparty") != NULL);
    client_response_release(&res);
    /* A month out of range is told the range, not only the form. */
    api_call(&S_client, "GET", "/v1/me/statements/1969-12", a.token, NULL, &res);
    ASSERT(strstr(api_json_str(&res, "message"), "from 1970-01 to 9999-11") != NULL);
    client_response_release(&res);
    /* A month that has not begun has no statement, in JSON or CSV, rather than one of zeros
     * marked complete; this month's is there (UTC+8). */
    time_t now = time(NULL) + 8 * 3600;
    struct tm today;
    gmtime_r(&now, &today);
    int next_year = today.tm_year + 1900 + (today.tm_mon == 11), next_month = today.tm_mon % 12 + 2;
    if (next_month == 13)
        next_month = 1;
    char path[64];
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "/v1/me/statements/%04d-%02d%s", next_year, next_month,
                 i == 0 ? "" : ".csv");
        ASSERT_EQ_INT(api_call(&S_client, "GET", path, a.token, NULL, &res), 400);
        ASSERT(strstr(api_json_str(&res, "message"), "has not begun") != NULL);
        client_response_release(&res);
    }
    snprintf(path, sizeof path, "/v1/me/statements/%04d-%02d", today.tm_year + 1900,
             today.tm_mon + 1);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, a.token, NULL, &res), 200);
    client_response_release(&res);
    /* An empty cursor is the first page here too, and names are caseless. */
    ASSERT_EQ_INT(
        api_call(&S_client, "GET", "/v1/me/transactions?cursor=&LIMIT=5", a.token, NULL, &res),
        200);
    client_response_release(&res);
}

TEST(a_cursor_is_good_only_with_the_filters_that_made_it)
{
    // A cursor carries the filters of its page: with other filters it is refused, and the
    // message says so rather than calling a real cursor forged.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 1000));
    char body[256];
    snprintf(body, sizeof body,
             "{\"to\":\"%s\",\"amount\":100,\"payment_password\":\"" TH_PAY_PASSWORD "\"}", b.id);
    struct client_response res;
    ASSERT_EQ_INT(
        api_call_idem(&S_client, "POST", "/v1/transfers", a.token, "cursor-filters", body, &res),
        201);
    client_response_release(&res);

    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/transactions?limit=1", a.token, NULL, &res),
                  200);
    char cursor[128], path[256];
    snprintf(cursor, sizeof cursor, "%s", api_json_str(&res, "next_cursor"));
    ASSERT(cursor[0] != '\0');
    client_response_release(&res);
    snprintf(path, sizeof path, "/v1/me/transactions?limit=1&cursor=%s", cursor);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, a.token, NULL, &res), 200);
    client_response_release(&res);
    snprintf(path, sizeof path, "/v1/me/transactions?limit=1&type=topup&cursor=%s", cursor);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, a.token, NULL, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
    ASSERT(strstr(api_json_str(&res, "message"), "filters") != NULL);
    client_response_release(&res);
}

TEST(csv_downloads_carry_their_headers)
{
    // A download must say it is CSV and name its file, through the .csv path and through an
    // Accept header alike, and start with the header row even when there are no lines; the
    // answer chosen by Accept says it varies by it.
    struct api_user a;
    API_MUST(api_user_new(&S_client, S_admin, &a));
    struct {
        const char *path;
        const char *accept;
        const char *filename;
    } cases[] = {
        {"/v1/me/transactions.csv", NULL, "qianbao-transactions.csv"},
        {"/v1/me/transactions", "Accept: text/csv", "qianbao-transactions.csv"},
        {"/v1/me/transactions?type=topup", "Accept: application/json;q=0.5, TEXT/CSV",
         "qianbao-transactions.csv"},
        {"/v1/me/statements/2026-11.csv", NULL, "qianbao-statement-2026-11.csv"},
        {"/v1/me/statements/2026-02", "Accept: text/csv", "qianbao-statement-2026-02.csv"},
        {"/v1/me/transactions", "Accept: application/json;q=0.1, text/csv ; q=0.9",
         "qianbao-transactions.csv"},
        {"/v1/me/transactions", "Accept: text/csv, application/json", "qianbao-transactions.csv"},
        {"/v1/me/transactions", "Accept: text/csv, */*;q=0.8", "qianbao-transactions.csv"},
        {"/v1/me/transactions", "Accept: text/csv;q=1.000, application/json;q=0.999",
         "qianbao-transactions.csv"},
        {"/v1/me/transactions", "Accept: application/json;q=0.001, text/csv;q=0.002;x=y",
         "qianbao-transactions.csv"},
    };
    for (size_t i = 0; i < QB_ARRAY_COUNT(cases); i++) {
        struct client_response res;
        ASSERT_EQ_INT(S_get(&a, cases[i].path, cases[i].accept, &res), 200);
        const char *type = api_header(&res, "Content-Type");
        if (strncmp(type, "text/csv", 8) != 0 || strstr(type, "charset=utf-8") == NULL)
            TEST_FAIL_("%s: Content-Type \"%s\"", cases[i].path, type);
        char expected[128];
        snprintf(expected, sizeof expected, "attachment; filename=\"%s\"", cases[i].filename);
        ASSERT_EQ_STR(api_header(&res, "Content-Disposition"), expected);
        ASSERT_EQ_STR(api_header(&res, "X-Next-Cursor"), "");
        ASSERT_EQ_STR(res.body.data, S_CSV_HEADER);
        client_response_release(&res);
    }
    /* Without text/csv, or with it refused (q=0), the list is JSON. */
    const char *json_accepts[] = {
        "Accept: application/json", "Accept: text/csv;q=0, application/json",
        "Accept: text/csv; q=0.0", "Accept: */*", "Accept: text/csvx",
        "Accept: application/json, text/csv;q=0.1", "Accept: */*, text/csv;q=0.5",
        /* a q that is no qvalue is not acceptable: more than 1, not a number, or not all one */
        "Accept: text/csv;q=1.5, application/json", "Accept: text/csv;q=nan",
        "Accept: text/csv;q=inf, application/json;q=inf", "Accept: text/csv;q=0.5x",
        "Accept: text/csv;q=1e0", "Accept: text/csv;q=0.0001"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(json_accepts); i++) {
        struct client_response res;
        ASSERT_EQ_INT(S_get(&a, "/v1/me/transactions", json_accepts[i], &res), 200);
        if (strncmp(api_header(&res, "Content-Type"), "application/json", 16) != 0)
            TEST_FAIL_("%s: Content-Type %s", json_accepts[i], api_header(&res, "Content-Type"));
        /* The same URL answers either: a cache must key on Accept. */
        ASSERT_EQ_STR(api_header(&res, "Vary"), "Accept");
        client_response_release(&res);
    }
}

TEST(a_counterpartys_lines_are_the_ones_its_statement_entry_sums)
{
    // The statement's by_counterparty says how much went to and came from someone; filtering
    // the bills by that counterparty must list exactly the lines summed there, whatever their
    // kind: a transfer and a red packet share from one user, a top-up from one card.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(th_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 10000));
    struct client_response res;
    char body[256], month[8], path[256];
    snprintf(body, sizeof body, "{\"to\":\"%s\",\"amount\":300,\"payment_password\":\"%s\"}", b.id,
             TH_PAY_PASSWORD);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/transfers", a.token, "cp-1", body, &res),
                  201);
    snprintf(month, sizeof month, "%.7s", api_json_str(&res, "created_at"));
    client_response_release(&res);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/red-packets", a.token, "cp-2",
                                "{\"type\":\"equal\",\"amount_per_share\":100,\"count\":2,"
                                "\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
                                &res),
                  201);
    snprintf(path, sizeof path, "/v1/red-packets/%s/claims", api_json_str(&res, "id"));
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, b.token, NULL, &res), 201);
    client_response_release(&res);

    /* b's lines with a: the transfer and the share, 400 in all; as the statement says. */
    snprintf(path, sizeof path, "/v1/me/transactions?counterparty=%s", a.id);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, b.token, NULL, &res), 200);
    json_t *page = api_json(&res);
    client_response_release(&res);
    json_t *items = json_object_get(page, "items");
    ASSERT_EQ_INT(json_array_size(items), 2);
    long long sum = 0;
    for (size_t i = 0; i < json_array_size(items); i++)
        sum += json_integer_value(json_object_get(json_array_get(items, i), "amount"));
    ASSERT_EQ_INT(sum, 400);
    json_decref(page);
    snprintf(path, sizeof path, "/v1/me/statements/%s", month);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, b.token, NULL, &res), 200);
    json_t *statement = api_json(&res);
    client_response_release(&res);
    json_t *parties = json_object_get(statement, "by_counterparty");
    ASSERT_EQ_INT(json_array_size(parties), 1);
    json_t *party = json_array_get(parties, 0);
    ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(party, "counterparty"), "id")),
                  a.id);
    ASSERT_EQ_INT(json_integer_value(json_object_get(party, "income")), 400);
    ASSERT_EQ_INT(json_integer_value(json_object_get(party, "count")), 2);
    json_decref(statement);

    /* a's top-up, by its card. */
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/transactions?type=topup", a.token, NULL, &res),
                  200);
    page = api_json(&res);
    client_response_release(&res);
    const char *card = json_string_value(json_object_get(
        json_object_get(json_array_get(json_object_get(page, "items"), 0), "counterparty"), "id"));
    ASSERT(card != NULL);
    snprintf(path, sizeof path, "/v1/me/transactions?counterparty=%s", card);
    json_decref(page);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, a.token, NULL, &res), 200);
    page = api_json(&res);
    client_response_release(&res);
    items = json_object_get(page, "items");
    ASSERT_EQ_INT(json_array_size(items), 1);
    ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(items, 0), "type")), "topup");
    json_decref(page);
}

TEST(a_search_finds_lines_by_memo_and_counterparty_name)
{
    // q finds lines by their memo or by the name their counterparty shows, in any kind of line,
    // ASCII letters in either case and Chinese by its characters; its cursor carries it; the
    // CSV form filters alike.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 10000));
    const char *memos[] = {"奶茶 Milk Tea", "午饭", "两杯奶茶"};
    for (size_t i = 0; i < 3; i++) {
        char body[256], key[32];
        snprintf(body, sizeof body,
                 "{\"to\":\"%s\",\"amount\":%zu,\"memo\":\"%s\","
                 "\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
                 b.id, 100 + i, memos[i]);
        snprintf(key, sizeof key, "search-%zu", i);
        struct client_response res;
        ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/transfers", a.token, key, body, &res),
                      201);
        client_response_release(&res);
    }
    struct {
        const char *query;
        const char *amounts; /* of the lines found, newest first */
    } cases[] = {
        {"?q=%E5%A5%B6%E8%8C%B6", "102,100"}, /* 奶茶 */
        {"?q=milk%20TEA", "100"},
        {"?q=%E5%8D%88%E9%A5%AD", "101"}, /* 午饭 */
        {"?q=coffee", ""},
        {"?q=%E6%B2%99%E7%AE%B1", "10000"},       /* 沙箱: the top-up's card's bank */
        {"?q=%E5%A5%B6%E8%8C%B6&type=topup", ""}, /* with the other filters */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *items;
        json_t *page = th_bills(&S_client, &a, cases[i].query, &items);
        char got[128] = "";
        for (size_t j = 0; j < json_array_size(items); j++) {
            size_t used = strlen(got);
            snprintf(
                got + used, sizeof got - used, "%s%lld", j > 0 ? "," : "",
                (long long)json_integer_value(json_object_get(json_array_get(items, j), "amount")));
        }
        if (strcmp(got, cases[i].amounts) != 0)
            TEST_FAIL_("bills%s: amounts %s, expected %s", cases[i].query, got, cases[i].amounts);
        json_decref(page);
    }
    /* The payee finds the same lines by the same memo. */
    json_t *items;
    json_t *page = th_bills(&S_client, &b, "?q=%E5%A5%B6%E8%8C%B6", &items);
    ASSERT_EQ_INT(json_array_size(items), 2);
    json_decref(page);

    /* A cursor made with a search goes on with it and with nothing else. */
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/transactions?q=%E5%A5%B6%E8%8C%B6&limit=1",
                           a.token, NULL, &res),
                  200);
    char cursor[128], path[256];
    snprintf(cursor, sizeof cursor, "%s", api_json_str(&res, "next_cursor"));
    client_response_release(&res);
    ASSERT(cursor[0] != '\0');
    snprintf(path, sizeof path, "/v1/me/transactions?q=%%E5%%A5%%B6%%E8%%8C%%B6&limit=1&cursor=%s",
             cursor);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, a.token, NULL, &res), 200);
    json_t *next = api_json(&res);
    client_response_release(&res);
    ASSERT_EQ_INT(json_array_size(json_object_get(next, "items")), 1);
    ASSERT_EQ_INT(json_integer_value(
                      json_object_get(json_array_get(json_object_get(next, "items"), 0), "amount")),
                  100);
    json_decref(next);
    snprintf(path, sizeof path, "/v1/me/transactions?limit=1&cursor=%s", cursor);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, a.token, NULL, &res), 400);
    client_response_release(&res);

    /* The CSV: a header and the two lines. */
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/transactions.csv?q=%E5%A5%B6%E8%8C%B6",
                           a.token, NULL, &res),
                  200);
    size_t rows = 0;
    for (size_t i = 0; i < res.body.size; i++)
        rows += res.body.data[i] == '\n';
    ASSERT_EQ_INT(rows, 3);
    client_response_release(&res);
}

TEST(a_years_statement_sums_its_months)
{
    // The annual bill (年度账单): GET /v1/me/statements/YYYY is the statement of the whole year,
    // January 1 to January 1 in UTC+8, in the month's shape with "year" for "month"; with all
    // of a user's payments in one month it says what that month's says. Next year has not begun.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 10000));
    struct client_response res;
    char body[256], month[8], year[8], path[64];
    snprintf(body, sizeof body, "{\"to\":\"%s\",\"amount\":300,\"payment_password\":\"%s\"}", b.id,
             TH_PAY_PASSWORD);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/transfers", a.token, "year-1", body, &res),
                  201);
    snprintf(month, sizeof month, "%.7s", api_json_str(&res, "created_at"));
    snprintf(year, sizeof year, "%.4s", month);
    client_response_release(&res);

    snprintf(path, sizeof path, "/v1/me/statements/%s", month);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, a.token, NULL, &res), 200);
    json_t *of_month = api_json(&res);
    client_response_release(&res);
    snprintf(path, sizeof path, "/v1/me/statements/%s", year);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, a.token, NULL, &res), 200);
    json_t *of_year = api_json(&res);
    client_response_release(&res);
    ASSERT_EQ_STR(json_string_value(json_object_get(of_year, "year")), year);
    ASSERT(json_object_get(of_year, "month") == NULL);
    char bound[40];
    snprintf(bound, sizeof bound, "%s-01-01T00:00:00+08:00", year);
    ASSERT_EQ_STR(json_string_value(json_object_get(of_year, "from")), bound);
    snprintf(bound, sizeof bound, "%d-01-01T00:00:00+08:00", atoi(year) + 1);
    ASSERT_EQ_STR(json_string_value(json_object_get(of_year, "to")), bound);
    ASSERT(json_is_true(json_object_get(of_year, "complete")));
    const char *same[] = {"income", "expense", "count", "by_type", "by_counterparty", "others"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(same); i++)
        if (!json_equal(json_object_get(of_month, same[i]), json_object_get(of_year, same[i])))
            TEST_FAIL_("the year's %s is not its only month's", same[i]);
    ASSERT_EQ_INT(json_integer_value(json_object_get(json_object_get(of_year, "expense"), "CNY")),
                  300);
    json_decref(of_month);
    json_decref(of_year);

    /* Its lines as CSV, named for the year. */
    snprintf(path, sizeof path, "/v1/me/statements/%s.csv", year);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, a.token, NULL, &res), 200);
    ASSERT(res.body.data != NULL && strstr(res.body.data, "transfer") != NULL);
    client_response_release(&res);

    snprintf(path, sizeof path, "/v1/me/statements/%d", atoi(year) + 1);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, a.token, NULL, &res), 400);
    ASSERT(strstr(api_json_str(&res, "message"), "has not begun") != NULL);
    client_response_release(&res);
}

TEST(bills_are_the_callers_own)
{
    // There is no way to name another user's bills: the routes take no user, a counterparty
    // naming someone else reads only the caller's own (empty) history, and another user's
    // cursor is refused, by the user's route and by the operator's for anyone but its owner.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(th_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &b, 100));
    API_MUST(th_fund(&S_client, S_admin, &b, 200));
    API_MUST(th_fund(&S_client, S_admin, &a, 300)); /* a history past b's cursor */
    char path[256], cursor[128];
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/transactions?limit=1", b.token, NULL, &res),
                  200);
    snprintf(cursor, sizeof cursor, "%s", api_json_str(&res, "next_cursor"));
    client_response_release(&res);
    ASSERT(cursor[0] != '\0');
    snprintf(path, sizeof path, "/v1/me/transactions?limit=1&cursor=%s", cursor);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, a.token, NULL, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
    client_response_release(&res);
    snprintf(path, sizeof path, "/admin/users/%s/transactions?limit=1&cursor=%s", a.id, cursor);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, S_admin, NULL, &res), 400);
    client_response_release(&res);
    snprintf(path, sizeof path, "/admin/users/%s/transactions?limit=1&cursor=%s", b.id, cursor);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, S_admin, NULL, &res), 200);
    json_t *older = api_json(&res);
    client_response_release(&res);
    ASSERT_EQ_INT(json_integer_value(json_object_get(
                      json_array_get(json_object_get(older, "items"), 0), "amount")),
                  100);
    json_decref(older);

    snprintf(path, sizeof path, "/v1/me/transactions?counterparty=%s", b.id);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, a.token, NULL, &res), 200);
    json_t *body = api_json(&res);
    ASSERT(body != NULL);
    ASSERT_EQ_INT(json_array_size(json_object_get(body, "items")), 0);
    json_decref(body);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/transactions", NULL, NULL, &res), 401);
    client_response_release(&res);
}

TEST(an_operator_reads_a_users_account_and_bill_as_the_user_does)
{
    // "My money is gone" and "I cannot log in" are calls an operator takes with the user's id in
    // hand: the operator reads the user's balances, whether logging in is locked and until when,
    // and the bill line for line as the user reads it, filters and pages included. A user id
    // nobody has, or one of the wrong shape, is 404; a user's token is refused.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 5000));
    char body[256];
    for (int i = 0; i < 3; i++) {
        char key[32];
        snprintf(key, sizeof key, "op-read-%d", i);
        snprintf(body, sizeof body,
                 "{\"to\":\"%s\",\"amount\":%d,\"payment_password\":\"" TH_PAY_PASSWORD "\"}", b.id,
                 100 + i);
        struct client_response res;
        ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/transfers", a.token, key, body, &res),
                      201);
        client_response_release(&res);
    }

    char path[256];
    snprintf(path, sizeof path, "/admin/users/%s", a.id);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, S_admin, NULL, &res), 200);
    json_t *user = api_json(&res);
    client_response_release(&res);
    ASSERT_EQ_STR(json_string_value(json_object_get(user, "id")), a.id);
    ASSERT(json_is_null(json_object_get(user, "login_locked_until")));
    json_t *cny = json_array_get(json_object_get(user, "balances"), 0);
    ASSERT_EQ_INT(json_integer_value(json_object_get(cny, "available")), 5000 - 100 - 101 - 102);
    json_decref(user);

    const char *queries[] = {"?limit=2", "?type=transfer&direction=out&limit=10"};
    for (size_t i = 0; i < 2; i++) {
        char mine[256], theirs[256];
        snprintf(mine, sizeof mine, "/v1/me/transactions%s", queries[i]);
        snprintf(theirs, sizeof theirs, "/admin/users/%s/transactions%s", a.id, queries[i]);
        struct client_response m, t;
        ASSERT_EQ_INT(api_call(&S_client, "GET", mine, a.token, NULL, &m), 200);
        ASSERT_EQ_INT(api_call(&S_client, "GET", theirs, S_admin, NULL, &t), 200);
        json_t *mj = api_json(&m), *tj = api_json(&t);
        ASSERT(json_array_size(json_object_get(mj, "items")) > 0);
        ASSERT(json_equal(json_object_get(mj, "items"), json_object_get(tj, "items")));
        ASSERT_EQ_INT(json_is_null(json_object_get(mj, "next_cursor")),
                      json_is_null(json_object_get(tj, "next_cursor")));
        json_decref(mj);
        json_decref(tj);
        client_response_release(&m);
        client_response_release(&t);
    }

    char csv_path[256];
    snprintf(csv_path, sizeof csv_path, "/admin/users/%s/transactions.csv", a.id);
    struct client_response m, t;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/transactions.csv", a.token, NULL, &m), 200);
    ASSERT_EQ_INT(api_call(&S_client, "GET", csv_path, S_admin, NULL, &t), 200);
    ASSERT(m.body.size > 0 && m.body.size == t.body.size &&
           memcmp(m.body.data, t.body.data, m.body.size) == 0);
    client_response_release(&m);
    client_response_release(&t);

    for (int i = 0; i < 5; i++) {
        snprintf(body, sizeof body, "{\"phone\":\"%s\",\"password\":\"not it %d\"}", a.phone, i);
        ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/sessions", NULL, body, &res),
                      i < 4 ? 401 : 423);
        client_response_release(&res);
    }
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, S_admin, NULL, &res), 200);
    user = api_json(&res);
    client_response_release(&res);
    ASSERT(json_is_string(json_object_get(user, "login_locked_until")));
    json_decref(user);

    const char *missing[] = {"/admin/users/u_00000000000000000000000000",
                             "/admin/users/u_00000000000000000000000000/transactions",
                             "/admin/users/13800138000", "/admin/users/13800138000/transactions"};
    for (size_t i = 0; i < 4; i++) {
        ASSERT_EQ_INT(api_call(&S_client, "GET", missing[i], S_admin, NULL, &res), 404);
        client_response_release(&res);
    }
    snprintf(path, sizeof path, "/admin/users/%s/transactions", a.id);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, a.token, NULL, &res), 403);
    client_response_release(&res);
}

TEST(a_merchant_with_a_long_chinese_name_is_named_whole)
{
    // A company's registered name runs long: thirty characters of Chinese are 90 bytes of UTF-8,
    // within a merchant name's 128. Its customer's bill line, statement and refund notice name
    // it whole; a name cut inside a character is no UTF-8, which no answer can carry.
    struct api_user owner, payer;
    API_MUST(th_user_new(&S_client, S_admin, &owner));
    API_MUST(th_user_new(&S_client, S_admin, &payer));
    API_MUST(th_fund(&S_client, S_admin, &payer, 10000));
    char name[128] = "";
    for (int i = 0; i < 30; i++)
        strcat(name, "面");
    struct mh_merchant m;
    API_MUST(mh_owner_onboard(&S_client, &owner, name, &m));
    char transaction_id[32];
    rh_order_paid(&S_client, &m, &payer, "long-name-1", 1234, NULL, transaction_id);
    struct client_response res;
    ASSERT_EQ_INT(rh_refund(&S_client, &m, "long-name-1", "long-name-r1", 234, 1234, NULL, &res),
                  200);
    client_response_release(&res);

    const char *paths[] = {"/v1/me/transactions", "/v1/me/notices", "/v1/me/transactions.csv"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(paths); i++) {
        ASSERT_EQ_INT(api_call(&S_client, "GET", paths[i], payer.token, NULL, &res), 200);
        ASSERT(strstr(res.body.data, name) != NULL);
        client_response_release(&res);
    }
    char path[64];
    time_t now = time(NULL) + 8 * 3600;
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(path, sizeof path, "/v1/me/statements/%Y-%m", &tm);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, payer.token, NULL, &res), 200);
    ASSERT(strstr(res.body.data, name) != NULL);
    client_response_release(&res);
    mh_release(&m);
}

/* --- a varied month, its statement against its lines ------------------------------- */

static struct test_daemon S_month_daemon;
static struct client S_month_client;
static char S_month_admin[API_TOKEN_SIZE_MAX];

/* POST path as u under key with body; expects status, the answer in res. */
static void S_post(struct client *client, int line, const struct api_user *u, const char *path,
                   const char *key, const char *body, long status, struct client_response *res)
{
    long got = api_call_idem(client, "POST", path, u->token, key, body, res);
    if (got != status)
        TEST_FAIL_("line %d: POST %s: %ld %.300s", line, path, got,
                   res->body.data != NULL ? res->body.data : "");
}

struct S_sum {
    char key[64]; /* a type's name or a counterparty's id */
    long long income, expense, count;
};

static struct S_sum *S_sum_at(struct S_sum *sums, size_t *count, size_t max, const char *key)
{
    for (size_t i = 0; i < *count; i++)
        if (strcmp(sums[i].key, key) == 0)
            return &sums[i];
    if (*count == max)
        TEST_FAIL_("more than %zu sums", max);
    memset(&sums[*count], 0, sizeof sums[*count]);
    snprintf(sums[*count].key, sizeof sums[*count].key, "%s", key);
    return &sums[(*count)++];
}

static void S_sum_add(struct S_sum *s, const char *direction, long long moved)
{
    s->count++;
    if (strcmp(direction, "in") == 0)
        s->income += moved;
    else
        s->expense += moved;
}

static long long S_cny(json_t *o, const char *member)
{
    return json_integer_value(json_object_get(json_object_get(o, member), "CNY"));
}

TEST(a_varied_months_statement_is_the_sum_of_its_lines)
{
    // A month of everything a wallet does — a top-up, transfers out and in, a withdrawal with its
    // fee, one the bank declined, a red packet sent, grabbed and its rest refunded, a share of
    // someone else's, a merchant order paid and partly refunded, a transfer to a wallet since
    // closed — and its statement: every total, every type and every counterparty is what the
    // month's lines add up to (SUCCESS lines only, a withdrawal's fee with it, neither a
    // declined withdrawal nor its refund); each line's balance_after follows from the one
    // below it; and the CSV has the same lines in the same order.
    struct client *c = &S_month_client;
    const char *admin = S_month_admin;
    struct api_user a, b, d, owner;
    API_MUST(th_user_new(c, admin, &a));
    API_MUST(th_user_new(c, admin, &b));
    API_MUST(th_user_new(c, admin, &d));
    API_MUST(th_user_new(c, admin, &owner));
    API_MUST(th_fund(c, admin, &a, 100000));
    API_MUST(th_fund(c, admin, &b, 5000));
    struct client_response res;
    char body[512], path[256];

    /* Transfers out and in, a memo a CSV must quote. */
    snprintf(body, sizeof body,
             "{\"to\":\"%s\",\"amount\":1000,\"memo\":\"饭钱, \\\"AA\\\"\","
             "\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             b.id);
    S_post(c, __LINE__, &a, "/v1/transfers", "m-t1", body, 201, &res);
    client_response_release(&res);
    snprintf(body, sizeof body,
             "{\"to\":\"%s\",\"amount\":300,\"memo\":\"=1+2\","
             "\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             a.id);
    S_post(c, __LINE__, &b, "/v1/transfers", "m-t2", body, 201, &res);
    client_response_release(&res);

    /* A withdrawal that goes through, with its fee, and one the bank declines. */
    json_t *cards = th_get_json(c, "/v1/me/cards", a.token);
    char card[API_ID_SIZE_MAX];
    snprintf(card, sizeof card, "%s",
             json_string_value(json_object_get(
                 json_array_get(json_is_array(cards) ? cards : json_object_get(cards, "items"), 0),
                 "id")));
    json_decref(cards);
    snprintf(body, sizeof body,
             "{\"card_id\":\"%s\",\"amount\":20000,\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             card);
    S_post(c, __LINE__, &a, "/v1/me/withdrawals", "m-w1", body, 201, &res);
    client_response_release(&res);
    char declining[API_ID_SIZE_MAX];
    API_MUST(th_card_bind(c, admin, &a, "9999000000000020", declining));
    snprintf(body, sizeof body,
             "{\"card_id\":\"%s\",\"amount\":7000,\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             declining);
    api_call_idem(c, "POST", "/v1/me/withdrawals", a.token, "m-w2", body, &res);
    client_response_release(&res);

    /* A red packet of a's: b grabs a share, the rest comes back at expiry; and a share of b's. */
    S_post(c, __LINE__, &a, "/v1/red-packets", "m-rp1",
           "{\"type\":\"equal\",\"amount_per_share\":250,\"count\":3,\"greeting\":\"大吉, "
           "\\\"大利\\\"\",\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
           201, &res);
    char packet[API_ID_SIZE_MAX];
    snprintf(packet, sizeof packet, "%s", api_json_str(&res, "id"));
    client_response_release(&res);
    snprintf(path, sizeof path, "/v1/red-packets/%s/claims", packet);
    ASSERT_EQ_INT(api_call(c, "POST", path, b.token, NULL, &res), 201);
    client_response_release(&res);
    S_post(c, __LINE__, &b, "/v1/red-packets", "m-rp2",
           "{\"type\":\"equal\",\"amount_per_share\":88,\"count\":1,"
           "\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
           201, &res);
    snprintf(path, sizeof path, "/v1/red-packets/%s/claims", api_json_str(&res, "id"));
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(c, "POST", path, a.token, NULL, &res), 201);
    client_response_release(&res);

    /* A merchant's order paid, and part of it refunded. */
    struct mh_merchant m;
    API_MUST(rh_onboard_owned(c, admin, owner.id, &m));
    char transaction_id[32];
    rh_order_paid(c, &m, &a, "month-1", 1800, NULL, transaction_id);
    ASSERT_EQ_INT(rh_refund(c, &m, "month-1", "month-r1", 600, 1800, NULL, &res), 200);
    client_response_release(&res);
    mh_release(&m);

    /* A transfer to d, who passes the money on and has an operator close the wallet. */
    snprintf(body, sizeof body,
             "{\"to\":\"%s\",\"amount\":400,\"payment_password\":\"" TH_PAY_PASSWORD "\"}", d.id);
    S_post(c, __LINE__, &a, "/v1/transfers", "m-t3", body, 201, &res);
    client_response_release(&res);
    snprintf(body, sizeof body,
             "{\"to\":\"%s\",\"amount\":400,\"payment_password\":\"" TH_PAY_PASSWORD "\"}", b.id);
    S_post(c, __LINE__, &d, "/v1/transfers", "m-t4", body, 201, &res);
    client_response_release(&res);
    snprintf(path, sizeof path, "/admin/users/%s/close", d.id);
    ASSERT_EQ_INT(api_call(c, "POST", path, admin, "{\"reason\":\"ticket 1\"}", &res), 200);
    client_response_release(&res);

    /* The rest of a's packet back at its expiry (--red-packet-expiry-s 2). */
    json_t *items = NULL, *page = NULL;
    for (int waited = 0; waited < 8000; waited += 100) {
        json_decref(page);
        page = th_bills(c, &a, "?type=red_packet_refund", &items);
        if (json_array_size(items) > 0)
            break;
        usleep(100 * 1000);
    }
    ASSERT_EQ_INT(json_array_size(items), 1);
    json_decref(page);

    /* Every line, page by page, newest first. */
    json_t *lines = json_array();
    char cursor[128] = "";
    do {
        snprintf(path, sizeof path, "/v1/me/transactions?limit=3%s%s", cursor[0] ? "&cursor=" : "",
                 cursor);
        ASSERT_EQ_INT(api_call(c, "GET", path, a.token, NULL, &res), 200);
        page = api_json(&res);
        client_response_release(&res);
        json_array_extend(lines, json_object_get(page, "items"));
        const char *next = json_string_value(json_object_get(page, "next_cursor"));
        snprintf(cursor, sizeof cursor, "%s", next != NULL ? next : "");
        json_decref(page);
    } while (cursor[0] != '\0');
    /* topup, 3 transfers, 2 withdrawals and a refund, packet sent, share, refund, order, refund */
    ASSERT_EQ_INT(json_array_size(lines), 12);
    /* The closed wallet is still named on the line that paid it. */
    size_t to_closed = 0;
    for (size_t i = 0; i < json_array_size(lines); i++) {
        json_t *party = json_object_get(json_array_get(lines, i), "counterparty");
        const char *id = json_string_value(json_object_get(party, "id"));
        if (id == NULL || strcmp(id, d.id) != 0)
            continue;
        to_closed++;
        ASSERT(strlen(json_string_value(json_object_get(party, "name"))) > 0);
    }
    ASSERT_EQ_INT(to_closed, 1);

    /* balance_after: the newest is the balance now, each follows from the one below. */
    for (size_t i = 0; i < json_array_size(lines); i++) {
        json_t *l = json_array_get(lines, i);
        long long moved = json_integer_value(json_object_get(l, "amount")) +
                          json_integer_value(json_object_get(l, "fee"));
        long long after = json_integer_value(json_object_get(l, "balance_after"));
        long long before =
            i + 1 < json_array_size(lines)
                ? json_integer_value(json_object_get(json_array_get(lines, i + 1), "balance_after"))
                : 0;
        const char *dir = json_string_value(json_object_get(l, "direction"));
        if (after != before + (strcmp(dir, "in") == 0 ? moved : -moved))
            TEST_FAIL_("line %zu (%s): balance_after %lld, the line below %lld, moved %s %lld", i,
                       json_string_value(json_object_get(l, "type")), after, before, dir, moved);
    }
    ASSERT_EQ_INT(json_integer_value(json_object_get(json_array_get(lines, 0), "balance_after")),
                  th_balance(c, &a));

    /* The month's sums, from the lines; then each month's statement against them. */
    char months[4][8];
    size_t month_count = 0;
    for (size_t i = 0; i < json_array_size(lines); i++) {
        const char *at = json_string_value(json_object_get(json_array_get(lines, i), "created_at"));
        size_t j = 0;
        while (j < month_count && strncmp(months[j], at, 7) != 0)
            j++;
        if (j == month_count && month_count < 4)
            snprintf(months[month_count++], sizeof months[0], "%.7s", at);
    }
    for (size_t mi = 0; mi < month_count; mi++) {
        struct S_sum total, types[16], parties[16];
        memset(&total, 0, sizeof total);
        size_t type_count = 0, party_count = 0;
        long long processing = 0, loose_income = 0, loose_expense = 0, loose_count = 0;
        for (size_t i = 0; i < json_array_size(lines); i++) {
            json_t *l = json_array_get(lines, i);
            if (strncmp(json_string_value(json_object_get(l, "created_at")), months[mi], 7) != 0)
                continue;
            const char *status = json_string_value(json_object_get(l, "status"));
            const char *type = json_string_value(json_object_get(l, "type"));
            const char *dir = json_string_value(json_object_get(l, "direction"));
            processing += strcmp(status, "PROCESSING") == 0;
            if (strcmp(status, "SUCCESS") != 0 || strcmp(type, "withdrawal_refund") == 0 ||
                strcmp(type, "transfer_refund") == 0)
                continue;
            long long moved = json_integer_value(json_object_get(l, "amount")) +
                              json_integer_value(json_object_get(l, "fee"));
            S_sum_add(&total, dir, moved);
            S_sum_add(S_sum_at(types, &type_count, 16, type), dir, moved);
            json_t *party = json_object_get(l, "counterparty");
            if (json_is_null(party)) {
                loose_count++;
                *(strcmp(dir, "in") == 0 ? &loose_income : &loose_expense) += moved;
                continue;
            }
            S_sum_add(S_sum_at(parties, &party_count, 16,
                               json_string_value(json_object_get(party, "id"))),
                      dir, moved);
        }
        snprintf(path, sizeof path, "/v1/me/statements/%s", months[mi]);
        json_t *s = th_get_json(c, path, a.token);
        ASSERT(json_is_true(json_object_get(s, "complete")));
        ASSERT_EQ_INT(S_cny(s, "income"), total.income);
        ASSERT_EQ_INT(S_cny(s, "expense"), total.expense);
        ASSERT_EQ_INT(S_cny(s, "count"), total.count);
        ASSERT_EQ_INT(json_integer_value(json_object_get(s, "processing_count")), processing);
        const char *key;
        json_t *value;
        json_object_foreach(json_object_get(s, "by_type"), key, value)
        {
            struct S_sum zero, *want = &zero;
            memset(&zero, 0, sizeof zero);
            for (size_t t = 0; t < type_count; t++)
                if (strcmp(types[t].key, key) == 0)
                    want = &types[t];
            json_t *cny = json_object_get(value, "CNY");
            if (json_integer_value(json_object_get(cny, "income")) != want->income ||
                json_integer_value(json_object_get(cny, "expense")) != want->expense ||
                json_integer_value(json_object_get(cny, "count")) != want->count)
                TEST_FAIL_("%s: by_type %s is %s, the lines say %lld in, %lld out, %lld",
                           months[mi], key, json_dumps(cny, JSON_COMPACT), want->income,
                           want->expense, want->count);
        }
        for (size_t t = 0; t < type_count; t++)
            if (json_object_get(json_object_get(s, "by_type"), types[t].key) == NULL)
                TEST_FAIL_("%s: lines of type %s, not in by_type", months[mi], types[t].key);
        json_t *by_party = json_object_get(s, "by_counterparty");
        ASSERT_EQ_INT(json_array_size(by_party), party_count);
        for (size_t p = 0; p < json_array_size(by_party); p++) {
            json_t *e = json_array_get(by_party, p);
            const char *id =
                json_string_value(json_object_get(json_object_get(e, "counterparty"), "id"));
            struct S_sum *want = S_sum_at(parties, &party_count, 16, id);
            if (json_integer_value(json_object_get(e, "income")) != want->income ||
                json_integer_value(json_object_get(e, "expense")) != want->expense ||
                json_integer_value(json_object_get(e, "count")) != want->count)
                TEST_FAIL_("%s: by_counterparty %s is %s, the lines say %lld in, %lld out, %lld",
                           months[mi], id, json_dumps(e, JSON_COMPACT), want->income, want->expense,
                           want->count);
        }
        ASSERT_EQ_INT(json_array_size(by_party), party_count);
        json_t *others = json_object_get(json_object_get(s, "others"), "CNY");
        ASSERT_EQ_INT(json_integer_value(json_object_get(others, "income")), loose_income);
        ASSERT_EQ_INT(json_integer_value(json_object_get(others, "expense")), loose_expense);
        ASSERT_EQ_INT(json_integer_value(json_object_get(others, "count")), loose_count);
        json_decref(s);
    }

    /* The CSV: the same lines in the same order, memos quoted whole. */
    ASSERT_EQ_INT(api_call(c, "GET", "/v1/me/transactions.csv", a.token, NULL, &res), 200);
    const char *row = res.body.data;
    ASSERT(strncmp(row, S_CSV_HEADER, strlen(S_CSV_HEADER)) == 0);
    row += strlen(S_CSV_HEADER);
    for (size_t i = 0; i < json_array_size(lines); i++) {
        const char *id = json_string_value(json_object_get(json_array_get(lines, i), "id"));
        if (strncmp(row, id, strlen(id)) != 0 || row[strlen(id)] != ',')
            TEST_FAIL_("CSV row %zu is not line %s: %.80s", i, id, row);
        const char *end = strstr(row, "\r\n");
        ASSERT(end != NULL);
        row = end + 2;
    }
    ASSERT_EQ_STR(row, "");
    ASSERT(strstr(res.body.data, ",\"饭钱, \"\"AA\"\"\",") != NULL);
    ASSERT(strstr(res.body.data, ",\"大吉, \"\"大利\"\"\",") != NULL);
    ASSERT(strstr(res.body.data, ",'=1+2,") != NULL);
    client_response_release(&res);
    json_decref(lines);
}

/* --- a statement made slow (QIANBAO_TEST_SLOW=statement:MS) -------------------------------- */

static struct test_daemon S_slow_daemon;
static struct client S_slow_client;
static char S_slow_admin[API_TOKEN_SIZE_MAX];

struct S_statement_call {
    const struct api_user *user;
    char path[64];
    long status;
    char code[32];
    char retry_after[16];
    atomic_bool done;
};

static void *S_statement_call(void *arg)
{
    struct S_statement_call *c = arg;
    struct client client;
    client_init(&client, S_slow_daemon.base_url);
    struct client_response res;
    c->status = api_call(&client, "GET", c->path, c->user->token, NULL, &res);
    atomic_store(&c->done, true);
    if (c->status != 200) {
        snprintf(c->code, sizeof c->code, "%s", api_error_code(&res));
        const char *retry =
            client_response_header(&res, "Retry-After", c->retry_after, sizeof c->retry_after);
        if (retry == NULL)
            c->retry_after[0] = '\0';
    }
    client_response_release(&res);
    client_release(&client);
    return NULL;
}

TEST(a_statement_being_made_holds_up_no_other_request)
{
    // A statement reads up to 200,000 entries, a second or so for a long history. It is made on
    // a report thread: the daemon's one HTTP thread (--http-threads 1) goes on answering while
    // it is made slow on purpose (3 s), so the user's balance comes back before it does.
    struct api_user u;
    API_MUST(th_user_new(&S_slow_client, S_slow_admin, &u));
    API_MUST(th_fund(&S_slow_client, S_slow_admin, &u, 5000));
    time_t now = time(NULL) + 8 * 3600;
    struct tm utc8;
    gmtime_r(&now, &utc8);
    struct S_statement_call call = {.user = &u};
    atomic_init(&call.done, false);
    snprintf(call.path, sizeof call.path, "/v1/me/statements/%04d-%02d", utc8.tm_year + 1900,
             utc8.tm_mon + 1);
    pthread_t thread;
    ASSERT_EQ_INT(pthread_create(&thread, NULL, S_statement_call, &call), 0);
    usleep(300 * 1000); /* the statement is on its way */
    long status[3];
    for (int i = 0; i < 3; i++) {
        struct client client;
        client_init(&client, S_slow_daemon.base_url);
        struct client_response res;
        status[i] = api_call(&client, "GET", "/v1/me/balances", u.token, NULL, &res);
        client_response_release(&res);
        client_release(&client);
    }
    bool statement_still_on_its_way = !atomic_load(&call.done);
    ASSERT_EQ_INT(pthread_join(thread, NULL), 0);
    for (int i = 0; i < 3; i++)
        ASSERT_EQ_INT(status[i], 200);
    ASSERT_EQ_INT(call.status, 200);
    ASSERT(statement_still_on_its_way);
}

/* Starts a statement call of the month in progress by u, on thread. */
static void S_statement_start(struct S_statement_call *call, const struct api_user *u,
                              pthread_t *thread)
{
    memset(call, 0, sizeof *call);
    call->user = u;
    atomic_init(&call->done, false);
    time_t now = time(NULL) + 8 * 3600;
    struct tm utc8;
    gmtime_r(&now, &utc8);
    snprintf(call->path, sizeof call->path, "/v1/me/statements/%04d-%02d", utc8.tm_year + 1900,
             utc8.tm_mon + 1);
    ASSERT_EQ_INT(pthread_create(thread, NULL, S_statement_call, call), 0);
    usleep(200 * 1000); /* there, in this order */
}

TEST(statements_are_shared_out_among_wallets)
{
    // Statements wait their turn for the report thread (each made slow, 3 s): a wallet has at
    // most two waiting or being made, a third is 429 RATE_LIMITED at once, so that one wallet
    // asking again and again cannot fill the queue; and one that waited over 5 s for its turn is
    // answered 503 SYSTEM_BUSY unmade (its client has likely given up), both with Retry-After.
    struct api_user a, b;
    API_MUST(th_user_new(&S_slow_client, S_slow_admin, &a));
    API_MUST(th_user_new(&S_slow_client, S_slow_admin, &b));
    struct S_statement_call calls[4];
    pthread_t threads[4];
    S_statement_start(&calls[0], &a, &threads[0]); /* made at once */
    S_statement_start(&calls[1], &a, &threads[1]); /* made after 3 s */
    S_statement_start(&calls[2], &a, &threads[2]); /* a's third */
    S_statement_start(&calls[3], &b, &threads[3]); /* its turn after 6 s */
    for (int i = 0; i < 4; i++)
        ASSERT_EQ_INT(pthread_join(threads[i], NULL), 0);
    ASSERT_EQ_INT(calls[0].status, 200);
    ASSERT_EQ_INT(calls[1].status, 200);
    ASSERT_EQ_INT(calls[2].status, 429);
    ASSERT_EQ_STR(calls[2].code, "RATE_LIMITED");
    ASSERT_EQ_STR(calls[2].retry_after, "1");
    ASSERT_EQ_INT(calls[3].status, 503);
    ASSERT_EQ_STR(calls[3].code, "SYSTEM_BUSY");
    ASSERT_EQ_STR(calls[3].retry_after, "1");
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    if (!api_suite_daemon(&suite, &S_daemon, "bills", NULL, S_admin, &S_client))
        return api_suite_end(&suite);

    RUN(an_empty_history_is_an_empty_page);
    RUN(the_first_and_last_days_a_bill_can_name_answer);
    RUN(bad_parameters_are_param_errors);
    RUN(a_cursor_is_good_only_with_the_filters_that_made_it);
    RUN(csv_downloads_carry_their_headers);
    RUN(a_counterpartys_lines_are_the_ones_its_statement_entry_sums);
    RUN(a_search_finds_lines_by_memo_and_counterparty_name);
    RUN(a_years_statement_sums_its_months);
    RUN(bills_are_the_callers_own);
    RUN(an_operator_reads_a_users_account_and_bill_as_the_user_does);
    RUN(a_merchant_with_a_long_chinese_name_is_named_whole);

    const char *month_args[] = {"--red-packet-expiry-s", "2", NULL};
    if (api_suite_daemon(&suite, &S_month_daemon, "month", month_args, S_month_admin,
                         &S_month_client))
        RUN(a_varied_months_statement_is_the_sum_of_its_lines);

    const char *slow_args[] = {"--http-threads", "1", NULL};
    setenv("QIANBAO_TEST_SLOW", "statement:3000", 1);
    bool slow =
        api_suite_daemon(&suite, &S_slow_daemon, "slow", slow_args, S_slow_admin, &S_slow_client);
    unsetenv("QIANBAO_TEST_SLOW");
    if (slow)
        RUN(a_statement_being_made_holds_up_no_other_request);
    if (slow)
        RUN(statements_are_shared_out_among_wallets);

    return api_suite_end(&suite);
}

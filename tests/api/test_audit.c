/*
 * test_audit.c — the operators' audit trail (GET /admin/audit), over HTTP.
 *
 * Every operator's command the ledger runs leaves a row, written in its own
 * transaction: who (the principal the admin token named), what, to whom,
 * the reason given, how it ended and whether it changed anything, and the
 * request's id, which the answer's X-Request-Id carries. A refusal the
 * command answered is a row that changed nothing; a request refused before
 * it reached the ledger is none. The rows are in the database: a restart
 * keeps them. Only operators read them.
 *
 * An operator's read of a customer's data (a user, their payments, the SMS
 * outbox, a look-up by phone) is a row too, written before the answer: a
 * read whose row cannot be written is not served. Every operator's GET
 * route is classed below, personal data or not, so that a new one cannot
 * be left off the trail unnoticed.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "api/lib/routes.h"
#include "api/lib/suite.h"
#include "test.h"

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];
static char S_alice[API_TOKEN_SIZE_MAX];
static struct api_user S_user;
static char S_freeze_request_id[64];

/* GET /admin/audit?query as the root; the page's items (the caller
 * releases them). */
static json_t *S_audit(const char *query)
{
    char path[512];
    snprintf(path, sizeof path, "/admin/audit%s%s", query[0] != '\0' ? "?" : "", query);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, S_admin, NULL, &res), 200);
    json_t *page = api_json(&res);
    client_response_release(&res);
    ASSERT(page != NULL);
    json_t *items = json_incref(json_object_get(page, "items"));
    json_decref(page);
    ASSERT(json_is_array(items));
    return items;
}

static const char *S_str(json_t *item, const char *name)
{
    json_t *value = json_object_get(item, name);
    return json_is_string(value) ? json_string_value(value) : "(not a string)";
}

TEST(a_freeze_by_a_named_operator_is_on_the_trail_with_its_reason)
{
    /* "Who froze this wallet, and why?": the answer is in the database,
     * under the operator's own name, with the request that did it. */
    char path[256];
    snprintf(path, sizeof path, "/admin/users/%s/freeze", S_user.id);
    struct client_response res;
    ASSERT_EQ_INT(
        api_call(&S_client, "POST", path, S_alice, "{\"reason\":\"ticket 88: fraud\"}", &res), 200);
    snprintf(S_freeze_request_id, sizeof S_freeze_request_id, "%s",
             api_header(&res, "X-Request-Id"));
    client_response_release(&res);
    ASSERT(S_freeze_request_id[0] != '\0');

    char query[256];
    snprintf(query, sizeof query, "target=%s", S_user.id);
    json_t *items = S_audit(query);
    ASSERT_EQ_INT((long long)json_array_size(items), 1);
    json_t *row = json_array_get(items, 0);
    ASSERT_EQ_STR(S_str(row, "by"), "admin:alice");
    ASSERT_EQ_STR(S_str(row, "action"), "user_freeze");
    ASSERT_EQ_STR(S_str(row, "target"), S_user.id);
    ASSERT_EQ_STR(S_str(row, "reason"), "ticket 88: fraud");
    ASSERT_EQ_STR(S_str(row, "result"), "ok");
    ASSERT(json_is_true(json_object_get(row, "changed")));
    ASSERT(json_is_null(json_object_get(row, "detail")));
    ASSERT_EQ_STR(S_str(row, "request_id"), S_freeze_request_id);
    ASSERT_EQ_INT((long long)strlen(S_str(row, "at")), 25);
    json_decref(items);
}

TEST(a_refusal_changes_nothing_and_says_so_a_bad_request_leaves_no_row)
{
    /* The same freeze again is refused by the command (CONFLICT): a row
     * that changed nothing. A body the route refuses never reaches the
     * ledger: no row at all. */
    char path[256];
    snprintf(path, sizeof path, "/admin/users/%s/freeze", S_user.id);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, S_admin, NULL, &res), 409);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, S_alice, "{\"reason\":7}", &res), 400);
    client_response_release(&res);
    snprintf(path, sizeof path, "/admin/users/%s/kyc-level", S_user.id);
    ASSERT_EQ_INT(api_call(&S_client, "PUT", path, S_alice, "{\"kyc_level\":9}", &res), 400);
    client_response_release(&res);
    /* The level it has already: refused, and the trail says which level was asked for. */
    ASSERT_EQ_INT(api_call(&S_client, "PUT", path, S_admin, "{\"kyc_level\":1}", &res), 409);
    client_response_release(&res);

    char query[256];
    snprintf(query, sizeof query, "target=%s", S_user.id);
    json_t *items = S_audit(query);
    ASSERT_EQ_INT((long long)json_array_size(items), 3);
    json_t *row = json_array_get(items, 0);
    ASSERT_EQ_STR(S_str(row, "action"), "user_kyc_level");
    ASSERT_EQ_STR(S_str(row, "detail"), "kyc_level=1");
    ASSERT_EQ_STR(S_str(row, "result"), "CONFLICT");
    ASSERT(json_is_false(json_object_get(row, "changed")));
    row = json_array_get(items, 1);
    ASSERT_EQ_STR(S_str(row, "by"), "admin");
    ASSERT_EQ_STR(S_str(row, "result"), "CONFLICT");
    ASSERT(json_is_false(json_object_get(row, "changed")));
    ASSERT(json_is_null(json_object_get(row, "reason")));
    json_decref(items);

    /* A stop of an id no payment can have names nothing: 404, no row. */
    const char *actions[] = {"transfer_stop", "payout_stop"};
    const char *paths[] = {"/admin/transfers/p_zz/cancel", "/admin/payouts/p_zz/cancel"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(query, sizeof query, "action=%s", actions[i]);
        items = S_audit(query);
        size_t before = json_array_size(items);
        json_decref(items);
        ASSERT_EQ_INT(
            api_call(&S_client, "POST", paths[i], S_admin, "{\"reason\":\"ticket 7\"}", &res), 404);
        ASSERT_EQ_STR(api_error_code(&res), "NOT_FOUND");
        client_response_release(&res);
        items = S_audit(query);
        ASSERT_EQ_INT((long long)json_array_size(items), (long long)before);
        json_decref(items);
    }
}

TEST(the_trail_filters_by_operator_action_and_time)
{
    /* An auditor reads one operator's night, or one kind of action. */
    char path[256];
    snprintf(path, sizeof path, "/admin/users/%s/unfreeze", S_user.id);
    struct client_response res;
    ASSERT_EQ_INT(
        api_call(&S_client, "POST", path, S_alice, "{\"reason\":\"ticket 88 closed\"}", &res), 200);
    client_response_release(&res);

    json_t *items = S_audit("by=admin:alice");
    ASSERT_EQ_INT((long long)json_array_size(items), 2);
    ASSERT_EQ_STR(S_str(json_array_get(items, 0), "action"), "user_unfreeze");
    ASSERT_EQ_STR(S_str(json_array_get(items, 1), "action"), "user_freeze");
    json_decref(items);
    items = S_audit("action=user_unfreeze");
    ASSERT_EQ_INT((long long)json_array_size(items), 1);
    json_decref(items);
    /* The operator's creation is the root's action. */
    items = S_audit("by=admin&action=operator_create");
    ASSERT_EQ_INT((long long)json_array_size(items), 1);
    ASSERT_EQ_STR(S_str(json_array_get(items, 0), "target"), "alice");
    json_decref(items);
    items = S_audit("to=2000-01-01");
    ASSERT_EQ_INT((long long)json_array_size(items), 0);
    json_decref(items);
    items = S_audit("from=2000-01-01&limit=1");
    ASSERT_EQ_INT((long long)json_array_size(items), 1);
    json_decref(items);
    /* An empty filter is none, the times' too. */
    items = S_audit("by=admin:alice&from=&to=&action=");
    ASSERT_EQ_INT((long long)json_array_size(items), 2);
    json_decref(items);

    const char *bad[] = {"by=alice",     "by=admin:Alice", "action=user-freeze",
                         "target=u%20x", "from=yesterday", "from=2030-01-02&to=2030-01-01",
                         "limit=0"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(bad); i++) {
        char bad_path[128];
        snprintf(bad_path, sizeof bad_path, "/admin/audit?%s", bad[i]);
        ASSERT_EQ_INT(api_call(&S_client, "GET", bad_path, S_admin, NULL, &res), 400);
        ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
        client_response_release(&res);
    }
}

TEST(an_operators_onboarding_and_a_new_app_are_on_the_trail)
{
    /* A merchant an operator opened (its fee set by hand) is an operator's
     * action like a freeze; a merchant a user opens for themselves is not. */
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/admin/merchants", S_alice,
                           "{\"name\":\"Teahouse\",\"fee_rate_ppm\":2000}", &res),
                  201);
    char mchid[16];
    snprintf(mchid, sizeof mchid, "%s", api_json_str(&res, "mchid"));
    client_response_release(&res);
    char path[128];
    snprintf(path, sizeof path, "/admin/merchants/%s/apps", mchid);
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, S_alice, NULL, &res), 201);
    char appid[32];
    snprintf(appid, sizeof appid, "appid=%s", api_json_str(&res, "appid"));
    client_response_release(&res);
    struct api_user owner; /* the freeze ended S_user's sessions */
    API_MUST(api_user_new(&S_client, S_admin, &owner));
    ASSERT_EQ_INT(
        api_call(&S_client, "POST", "/v1/merchants", owner.token, "{\"name\":\"Noodles\"}", &res),
        201);
    client_response_release(&res);

    char query[128];
    snprintf(query, sizeof query, "target=%s", mchid);
    json_t *items = S_audit(query);
    ASSERT_EQ_INT((long long)json_array_size(items), 2);
    ASSERT_EQ_STR(S_str(json_array_get(items, 0), "action"), "merchant_app_add");
    ASSERT_EQ_STR(S_str(json_array_get(items, 0), "detail"), appid);
    ASSERT_EQ_STR(S_str(json_array_get(items, 1), "action"), "merchant_create");
    ASSERT_EQ_STR(S_str(json_array_get(items, 1), "by"), "admin:alice");
    ASSERT_EQ_STR(S_str(json_array_get(items, 1), "detail"), "fee_rate_ppm=2000");
    json_decref(items);
    items = S_audit("action=merchant_create");
    ASSERT_EQ_INT((long long)json_array_size(items), 1);
    json_decref(items);

    /* Refused, they made nothing: the rows name no mchid or appid that
     * never was (the owner is frozen; the mchid is nobody's). */
    struct api_user frozen;
    API_MUST(api_user_new(&S_client, S_admin, &frozen));
    char body[160];
    snprintf(path, sizeof path, "/admin/users/%s/freeze", frozen.id);
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, S_admin, "{\"reason\":\"ticket 9\"}", &res),
                  200);
    client_response_release(&res);
    snprintf(body, sizeof body, "{\"name\":\"Frozen\",\"owner_user_id\":\"%s\"}", frozen.id);
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/admin/merchants", S_alice, body, &res), 403);
    client_response_release(&res);
    ASSERT_EQ_INT(
        api_call(&S_client, "POST", "/admin/merchants/0000000001/apps", S_alice, NULL, &res), 404);
    client_response_release(&res);
    items = S_audit("action=merchant_create");
    ASSERT_EQ_INT((long long)json_array_size(items), 2);
    ASSERT_EQ_STR(S_str(json_array_get(items, 0), "result"), "ACCOUNT_FROZEN");
    ASSERT_EQ_STR(S_str(json_array_get(items, 0), "target"), "");
    json_decref(items);
    items = S_audit("action=merchant_app_add");
    ASSERT_EQ_STR(S_str(json_array_get(items, 0), "result"), "NOT_FOUND");
    ASSERT_EQ_STR(S_str(json_array_get(items, 0), "target"), "0000000001");
    ASSERT(json_is_null(json_object_get(json_array_get(items, 0), "detail")));
    json_decref(items);
}

TEST(only_operators_read_the_trail)
{
    /* A user's session opens no admin route: the trail names them. */
    struct api_user other;
    API_MUST(api_user_new(&S_client, S_admin, &other));
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/admin/audit", other.token, NULL, &res), 403);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/admin/audit", NULL, NULL, &res), 401);
    client_response_release(&res);
}

TEST(a_named_operators_read_of_a_user_is_on_the_trail)
{
    /* "Who looked at this customer, and when?": reading a wallet leaves
     * the reader's name, the user and the request, and changes nothing. */
    char path[256];
    snprintf(path, sizeof path, "/admin/users/%s", S_user.id);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, S_alice, NULL, &res), 200);
    char request_id[64];
    snprintf(request_id, sizeof request_id, "%s", api_header(&res, "X-Request-Id"));
    client_response_release(&res);
    ASSERT(request_id[0] != '\0');

    char query[256];
    snprintf(query, sizeof query, "action=read_user&target=%s", S_user.id);
    json_t *items = S_audit(query);
    ASSERT_EQ_INT((long long)json_array_size(items), 1);
    json_t *row = json_array_get(items, 0);
    ASSERT_EQ_STR(S_str(row, "by"), "admin:alice");
    ASSERT_EQ_STR(S_str(row, "target"), S_user.id);
    ASSERT_EQ_STR(S_str(row, "result"), "ok");
    ASSERT(json_is_false(json_object_get(row, "changed")));
    ASSERT_EQ_STR(S_str(row, "request_id"), request_id);
    json_decref(items);

    /* A look-up by phone names the phone it looked for. */
    snprintf(path, sizeof path, "/admin/users?phone=%s", S_user.phone);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, S_alice, NULL, &res), 200);
    client_response_release(&res);
    snprintf(query, sizeof query, "by=admin:alice&action=read_users&target=%s", S_user.phone);
    items = S_audit(query);
    ASSERT_EQ_INT((long long)json_array_size(items), 1);
    json_decref(items);
}

/* Every operator's GET route, and what a read of it records: the action,
 * or NULL for a route that shows no customer's data. A route missing here
 * fails the test below. */
static const struct {
    const char *pattern;
    const char *action;
    const char *target_query; /* the query argument that names the target, or NULL */
} S_reads[] = {
    {"/admin/users", "read_users", "phone"},
    {"/admin/users/{id}", "read_user", NULL},
    {"/admin/users/{id}/transactions", "read_user_transactions", NULL},
    {"/admin/users/{id}/transactions.csv", "read_user_transactions", NULL},
    {"/admin/users/{id}/security-events", "read_user_security_events", NULL},
    {"/admin/users/{id}/notices", "read_user_notices", NULL},
    {"/admin/sms-outbox", "read_sms_outbox", "phone"},
    {"/admin/payments", "read_payments", NULL},
    {"/admin/payments/{id}", "read_payment", NULL},
    {"/admin/collections/{id}", "read_collection", NULL},
    {"/admin/red-packets/{id}", "read_red_packet", NULL},
    {"/admin/merchants", "read_merchants", "owner"},
    {"/admin/merchants/{mchid}", "read_merchant", NULL},
    {"/admin/merchants/{mchid}/payouts", "read_merchant_payouts", NULL},
    /* Staff, not customers (and the root's alone). */
    {"/admin/operators", NULL, NULL},
    /* The trail itself: what operators did; a row per page read would
     * grow what the auditor pages through. */
    {"/admin/audit", NULL, NULL},
    /* Counts and sums of the whole ledger, no one's in particular. */
    {"/admin/ledger/verification", NULL, NULL},
};

/* The newest row of the trail, read by the root (whose reads of the trail
 * leave none); the caller releases it. */
static json_t *S_newest(void)
{
    json_t *items = S_audit("limit=1");
    ASSERT_EQ_INT((long long)json_array_size(items), 1);
    json_t *row = json_incref(json_array_get(items, 0));
    json_decref(items);
    return row;
}

TEST(every_operators_read_of_personal_data_is_on_the_trail)
{
    /* A table over the route table: each operator's GET route is classed,
     * and each read of a personal one, by a named operator, is the newest
     * row with its action and target; a read of any other leaves none. */
    struct api_route routes[API_ROUTES_MAX];
    size_t route_count = 0;
    char err[1200];
    if (!api_routes_read(routes, &route_count, err, sizeof err)) {
        fprintf(stderr, "routes: %s\n", err);
        ASSERT(false);
    }
    bool classed[QB_ARRAY_COUNT(S_reads)] = {false};
    for (size_t r = 0; r < route_count; r++) {
        if (strcmp(routes[r].method, "GET") != 0 || strcmp(routes[r].auth, "HTTP_AUTH_ADMIN") != 0)
            continue;
        size_t i = 0;
        while (i < QB_ARRAY_COUNT(S_reads) && strcmp(S_reads[i].pattern, routes[r].pattern) != 0)
            i++;
        if (i == QB_ARRAY_COUNT(S_reads))
            fprintf(stderr, "GET %s: say whether it shows personal data (S_reads)\n",
                    routes[r].pattern);
        ASSERT(i < QB_ARRAY_COUNT(S_reads));
        classed[i] = true;

        /* The path, its parameter an id of the right shape (a read of an
         * unknown one is a look all the same). */
        const char *target = "";
        char path[256];
        snprintf(path, sizeof path, "%s", routes[r].pattern);
        char *param = strchr(path, '{');
        if (param != NULL) {
            char rest[128];
            snprintf(rest, sizeof rest, "%s", strchr(param, '}') + 1);
            target = strncmp(param, "{mchid}", 7) == 0 ? "1900000109" : S_user.id;
            snprintf(param, sizeof path - (size_t)(param - path), "%s%s", target, rest);
        }
        if (S_reads[i].target_query != NULL) {
            target = strcmp(S_reads[i].target_query, "owner") == 0 ? S_user.id : S_user.phone;
            size_t size = strlen(path);
            snprintf(path + size, sizeof path - size, "?%s=%s", S_reads[i].target_query, target);
        }
        struct client_response res;
        long status = api_call(&S_client, "GET", path, S_alice, NULL, &res);
        char request_id[64];
        snprintf(request_id, sizeof request_id, "%s", api_header(&res, "X-Request-Id"));
        client_response_release(&res);
        if (status >= 500)
            fprintf(stderr, "GET %s: %ld\n", path, status);
        ASSERT(status < 500);
        json_t *row = S_newest();
        if (S_reads[i].action != NULL) {
            if (strcmp(S_str(row, "request_id"), request_id) != 0)
                fprintf(stderr, "GET %s: no row on the trail\n", path);
            ASSERT_EQ_STR(S_str(row, "request_id"), request_id);
            ASSERT_EQ_STR(S_str(row, "by"), "admin:alice");
            ASSERT_EQ_STR(S_str(row, "action"), S_reads[i].action);
            ASSERT_EQ_STR(S_str(row, "target"), target);
            ASSERT(json_is_false(json_object_get(row, "changed")));
        } else {
            ASSERT(strcmp(S_str(row, "request_id"), request_id) != 0);
        }
        json_decref(row);
    }
    for (size_t i = 0; i < QB_ARRAY_COUNT(S_reads); i++) {
        if (!classed[i])
            fprintf(stderr, "%s: no such operator's GET route\n", S_reads[i].pattern);
        ASSERT(classed[i]);
    }
}

/* Runs sql on the running daemon's database. */
static void S_sql(const char *sql)
{
    char path[TEST_DAEMON_PATH_SIZE_MAX + 16];
    snprintf(path, sizeof path, "%s/qianbao.db", S_daemon.data_dir);
    sqlite3 *db = NULL;
    ASSERT_EQ_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    ASSERT_EQ_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

TEST(a_read_that_cannot_be_recorded_is_not_served)
{
    /* As a command whose row fails is rolled back, a read whose row fails
     * shows nothing: 503, and not one byte of the user's data. */
    S_sql("CREATE TRIGGER test_audit_refused BEFORE INSERT ON operator_actions"
          " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END");
    char path[256];
    snprintf(path, sizeof path, "/admin/users/%s", S_user.id);
    struct client_response res;
    long status = api_call(&S_client, "GET", path, S_alice, NULL, &res);
    bool shown = false;
    size_t phone_size = strlen(S_user.phone);
    for (size_t at = 0; !shown && at + phone_size <= res.body.size; at++)
        shown = memcmp((const char *)res.body.data + at, S_user.phone, phone_size) == 0;
    char code[64];
    snprintf(code, sizeof code, "%s", api_error_code(&res));
    client_response_release(&res);
    snprintf(path, sizeof path, "/admin/sms-outbox?phone=%s", S_user.phone);
    long outbox_status = api_call(&S_client, "GET", path, S_admin, NULL, &res);
    client_response_release(&res);
    S_sql("DROP TRIGGER test_audit_refused");
    ASSERT_EQ_INT(status, 503);
    ASSERT_EQ_STR(code, "STORAGE_UNAVAILABLE");
    ASSERT(!shown);
    ASSERT_EQ_INT(outbox_status, 503);

    snprintf(path, sizeof path, "/admin/users/%s", S_user.id);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, S_alice, NULL, &res), 200);
    client_response_release(&res);
}

TEST(the_trail_outlives_a_restart)
{
    /* The log rotates; the trail stays with the books. */
    ASSERT_EQ_INT(test_daemon_stop(&S_daemon), 0);
    client_release(&S_client);
    ASSERT(api_daemon_start(&S_daemon, S_root, "audit", NULL, S_admin));
    client_init(&S_client, S_daemon.base_url);
    char query[256];
    snprintf(query, sizeof query, "target=%s&action=user_freeze&by=admin:alice", S_user.id);
    json_t *items = S_audit(query);
    ASSERT_EQ_INT((long long)json_array_size(items), 1);
    ASSERT_EQ_STR(S_str(json_array_get(items, 0), "request_id"), S_freeze_request_id);
    json_decref(items);
}

TEST(no_operator_is_named_as_the_root_or_the_daemon)
{
    /* "admin" and "qianbaod" are what the trail calls the root and the
     * daemon: an operator of either name would read as them. */
    const char *names[] = {"{\"name\":\"admin\"}", "{\"name\":\"qianbaod\"}"};
    for (size_t i = 0; i < 2; i++) {
        struct client_response res;
        ASSERT_EQ_INT(api_call(&S_client, "POST", "/admin/operators", S_admin, names[i], &res),
                      400);
        ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
        client_response_release(&res);
    }
}

/* Creates the operator alice, with her token in S_alice. */
static bool S_alice_create(void)
{
    struct client_response res;
    long status =
        api_call(&S_client, "POST", "/admin/operators", S_admin, "{\"name\":\"alice\"}", &res);
    if (status == 201)
        snprintf(S_alice, sizeof S_alice, "%s", api_json_str(&res, "token"));
    client_response_release(&res);
    return status == 201;
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    if (!api_suite_daemon(&suite, &S_daemon, "audit", NULL, S_admin, &S_client) ||
        !api_suite_step(S_alice_create(), "operator_alice_created") ||
        !api_suite_step(api_user_new(&S_client, S_admin, &S_user), "user_registered"))
        return api_suite_end(&suite);
    RUN(a_freeze_by_a_named_operator_is_on_the_trail_with_its_reason);
    RUN(a_refusal_changes_nothing_and_says_so_a_bad_request_leaves_no_row);
    RUN(the_trail_filters_by_operator_action_and_time);
    RUN(an_operators_onboarding_and_a_new_app_are_on_the_trail);
    RUN(only_operators_read_the_trail);
    RUN(no_operator_is_named_as_the_root_or_the_daemon);
    RUN(a_named_operators_read_of_a_user_is_on_the_trail);
    RUN(every_operators_read_of_personal_data_is_on_the_trail);
    RUN(a_read_that_cannot_be_recorded_is_not_served);
    RUN(the_trail_outlives_a_restart);
    return api_suite_end(&suite);
}

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
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

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
    RUN(the_trail_outlives_a_restart);
    return api_suite_end(&suite);
}

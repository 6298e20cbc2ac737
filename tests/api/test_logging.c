/*
 * test_logging.c — what the daemon's log tells an operator, over HTTP.
 *
 * The log is an interface: operators grep it to learn who changed what.
 * These cases read the daemon's log file back after real requests and
 * check the exact fields of the audit lines an operator's change leaves.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "api/lib/api.h"
#include "api/lib/client.h"
#include "api/lib/daemon.h"
#include "api/lib/suite.h"
#include "api/merchant_helpers.h"
#include "api/transfer_helpers.h"
#include "test.h"

#define S_LOG_SIZE_MAX (1 << 20)
#define S_LINE_SIZE_MAX 4096

static char S_root[512];
static struct test_daemon S_main;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];
/* --log-level warn: what an operator who quiets the log still gets. */
static struct test_daemon S_quiet;
static struct client S_quiet_client;
static char S_quiet_admin[API_TOKEN_SIZE_MAX];
static char S_log[S_LOG_SIZE_MAX];

/* Copies into line the first line of daemon's log holding every one of
 * needles (NULL-terminated), waiting up to two seconds for it to be
 * written. False when none came. */
static bool S_log_line(const struct test_daemon *daemon, const char *const *needles, char *line,
                       size_t line_size)
{
    for (int attempt = 0; attempt < 200; attempt++) {
        if (test_file_read(daemon->log_path, S_log, sizeof S_log)) {
            for (const char *start = S_log; *start != '\0';) {
                const char *end = strchr(start, '\n');
                size_t size = end != NULL ? (size_t)(end - start) : strlen(start);
                if (size < line_size) {
                    memcpy(line, start, size);
                    line[size] = '\0';
                    bool all = true;
                    for (size_t i = 0; all && needles[i] != NULL; i++)
                        all = strstr(line, needles[i]) != NULL;
                    if (all)
                        return true;
                }
                start += size + (end != NULL);
            }
        }
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    line[0] = '\0';
    return false;
}

/* The audit line of the request that answered res. */
static bool S_audit_line(const struct test_daemon *daemon, const struct client_response *res,
                         const char *event, char *line, size_t line_size)
{
    char req[128];
    char ev[96];
    snprintf(req, sizeof req, "req=%s ", api_header(res, "X-Request-Id"));
    snprintf(ev, sizeof ev, "event=%s ", event);
    const char *needles[] = {req, ev, NULL};
    return S_log_line(daemon, needles, line, line_size);
}

/* An operator's request to path with body; its answer's status must be
 * want, and line receives the audit line event it left. */
static void S_admin_change(const struct test_daemon *daemon, struct client *client,
                           const char *admin, const char *method, const char *path,
                           const char *body, long want, const char *event, char *line)
{
    struct client_response res;
    long status = api_call(client, method, path, admin, body, &res);
    if (status != want)
        TEST_FAIL_("%s %s answered %ld, not %ld", method, path, status, want);
    bool found = S_audit_line(daemon, &res, event, line, S_LINE_SIZE_MAX);
    client_response_release(&res);
    if (!found)
        TEST_FAIL_("%s %s left no %s line", method, path, event);
}

TEST(user_changes_name_a_kyc_level_only_when_setting_one)
{
    // An operator reading the audit trail must not be told a user's KYC level is 0 when it is
    // not: only the kyc_level action names a level (the one asked for); a freeze names none.
    struct api_user u;
    API_MUST(api_user_new(&S_client, S_admin, &u));
    API_MUST(api_user_verify(&S_client, &u, "张三")); /* level 2 */
    char path[128];
    char line[S_LINE_SIZE_MAX];
    char want[256];

    snprintf(path, sizeof path, "/admin/users/%s/kyc-level", u.id);
    S_admin_change(&S_main, &S_client, S_admin, "PUT", path, "{\"kyc_level\":3}", 200,
                   "admin.user_changed", line);
    snprintf(want, sizeof want,
             "event=admin.user_changed action=kyc_level user_id=%s kyc_level=3 result=ok by=admin "
             "reason=\"\"",
             u.id);
    ASSERT(strstr(line, want) != NULL);

    // A level decides what a wallet may spend: whoever reads the trail later must see why it was
    // changed, as for a freeze.
    S_admin_change(&S_main, &S_client, S_admin, "PUT", path,
                   "{\"kyc_level\":2,\"reason\":\"工单 5120: limits back to \\\"verified\\\"\"}",
                   200, "admin.user_changed", line);
    snprintf(want, sizeof want,
             "action=kyc_level user_id=%s kyc_level=2 result=ok by=admin reason=\"工单 5120: "
             "limits back to 'verified'\"",
             u.id);
    if (strstr(line, want) == NULL)
        TEST_FAIL_("no %s in %s", want, line);

    snprintf(path, sizeof path, "/admin/users/%s/freeze", u.id);
    S_admin_change(&S_main, &S_client, S_admin, "POST", path, NULL, 200, "admin.user_changed",
                   line);
    snprintf(want, sizeof want, "event=admin.user_changed action=freeze user_id=%s result=ok",
             u.id);
    ASSERT(strstr(line, want) != NULL);
    ASSERT(strstr(line, "kyc_level") == NULL);

    snprintf(path, sizeof path, "/admin/users/%s/unfreeze", u.id);
    S_admin_change(&S_main, &S_client, S_admin, "POST", path, NULL, 200, "admin.user_changed",
                   line);
    snprintf(want, sizeof want, "event=admin.user_changed action=unfreeze user_id=%s result=ok",
             u.id);
    ASSERT(strstr(line, want) != NULL);
    ASSERT(strstr(line, "kyc_level") == NULL);
}

TEST(operator_changes_are_logged_at_any_level)
{
    // An operator who runs the daemon with --log-level warn must still find every change made
    // through the admin API in the log: the audit trail cannot depend on verbosity.
    struct api_user u;
    API_MUST(api_user_new(&S_quiet_client, S_quiet_admin, &u));
    char path[128];
    char line[S_LINE_SIZE_MAX];
    char want[256];

    snprintf(path, sizeof path, "/admin/users/%s/freeze", u.id);
    S_admin_change(&S_quiet, &S_quiet_client, S_quiet_admin, "POST", path, NULL, 200,
                   "admin.user_changed", line);
    ASSERT(strstr(line, "level=audit ") != NULL);
    snprintf(want, sizeof want,
             "event=admin.user_changed action=freeze user_id=%s result=ok by=admin reason=\"\"",
             u.id);
    ASSERT(strstr(line, want) != NULL);

    // The operator's reason (a ticket, what the caller said) goes with the change, one value
    // however it is written.
    snprintf(path, sizeof path, "/admin/users/%s/unfreeze", u.id);
    S_admin_change(&S_quiet, &S_quiet_client, S_quiet_admin, "POST", path,
                   "{\"reason\":\"工单 4312: owner called, \\\"found\\\" phone result=ok\"}", 200,
                   "admin.user_changed", line);
    ASSERT(strstr(line, "level=audit ") != NULL);
    snprintf(want, sizeof want,
             "action=unfreeze user_id=%s result=ok by=admin reason=\"工单 4312: owner called, "
             "'found' phone result=ok\"",
             u.id);
    if (strstr(line, want) == NULL)
        TEST_FAIL_("no %s in %s", want, line);
    snprintf(path, sizeof path, "/admin/users/%s/freeze", u.id);
    struct client_response res;
    ASSERT_EQ_INT(
        api_call(&S_quiet_client, "POST", path, S_quiet_admin, "{\"reason\":\"a\\u202eb\"}", &res),
        400);
    client_response_release(&res);

    snprintf(path, sizeof path, "/admin/users/%s/kyc-level", u.id);
    S_admin_change(&S_quiet, &S_quiet_client, S_quiet_admin, "PUT", path, "{\"kyc_level\":1}", 409,
                   "admin.user_changed", line);
    ASSERT(strstr(line, "level=audit ") != NULL);
    ASSERT(strstr(line, "action=kyc_level") != NULL && strstr(line, "result=CONFLICT") != NULL);

    S_admin_change(&S_quiet, &S_quiet_client, S_quiet_admin, "POST", "/admin/merchants",
                   "{\"name\":\"Audit Shop\"}", 201, "merchant.created", line);
    ASSERT(strstr(line, "level=audit ") != NULL);
    const char *mchid = strstr(line, "mchid=");
    ASSERT(mchid != NULL);
    char mchid_value[64];
    ASSERT(sscanf(mchid, "mchid=%63s", mchid_value) == 1);
    snprintf(path, sizeof path, "/admin/merchants/%s/apps", mchid_value);
    S_admin_change(&S_quiet, &S_quiet_client, S_quiet_admin, "POST", path, NULL, 201,
                   "merchant.app_added", line);
    ASSERT(strstr(line, "level=audit ") != NULL);

    S_admin_change(&S_quiet, &S_quiet_client, S_quiet_admin, "POST", "/admin/ledger/verification",
                   NULL, 202, "ledger.verify_started", line);
    ASSERT(strstr(line, "level=audit ") != NULL);

    /* The level did filter: no access line, nothing at info. */
    ASSERT(test_file_read(S_quiet.log_path, S_log, sizeof S_log));
    ASSERT(strstr(S_log, "event=http.request") == NULL);
    ASSERT(strstr(S_log, "level=info") == NULL);
}

/* The access line of the request that answered res, on the main daemon. */
static void S_access_line(const struct client_response *res, char *line)
{
    if (!S_audit_line(&S_main, res, "http.request", line, S_LINE_SIZE_MAX))
        TEST_FAIL_("no access line for request %s", api_header(res, "X-Request-Id"));
}

/* The value of key in line (up to the next space) into out; "" when the
 * line has no such field. */
static const char *S_field(const char *line, const char *key, char *out, size_t out_size)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, " %s=", key);
    const char *at = strstr(line, pattern);
    out[0] = '\0';
    if (at != NULL) {
        at += strlen(pattern);
        size_t size = strcspn(at, " ");
        if (size < out_size) {
            memcpy(out, at, size);
            out[size] = '\0';
        }
    }
    return out;
}

/* True when line's peer= is the loopback client: "127.0.0.1:" and a port. */
static bool S_peer_is_loopback(const char *line)
{
    char peer[64];
    S_field(line, "peer", peer, sizeof peer);
    const char *port = peer + strlen("127.0.0.1:");
    size_t digits = strspn(port, "0123456789");
    return strncmp(peer, "127.0.0.1:", strlen("127.0.0.1:")) == 0 && digits >= 1 && digits <= 5 &&
           port[digits] == '\0';
}

/* A transfer from a to b that arrives in two hours; its id into id. */
static void S_transfer_delayed(const struct api_user *a, const struct api_user *b, const char *key,
                               char id[API_ID_SIZE_MAX])
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"to\":\"%s\",\"amount\":100,\"payment_password\":\"%s\",\"arrival\":\"2h\"}",
             b->phone, TH_PAY_PASSWORD);
    struct client_response res;
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/transfers", a->token, key, body, &res),
                  201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "PROCESSING");
    snprintf(id, API_ID_SIZE_MAX, "%s", api_json_str(&res, "id"));
    client_response_release(&res);
}

TEST(an_operators_stop_of_a_transfer_says_whether_it_stopped_it)
{
    // A stop is answered 200 whatever became of the transfer before (its payer cancelled it, an
    // operator stopped it already): the trail must not credit the operator with a stop that
    // moved nothing, or whoever reads it after the fraud blames the wrong person.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 1000));
    char mine[API_ID_SIZE_MAX], stopped[API_ID_SIZE_MAX], path[128], line[S_LINE_SIZE_MAX];
    char want[256];
    S_transfer_delayed(&a, &b, "stop-log-mine", mine);
    S_transfer_delayed(&a, &b, "stop-log-stopped", stopped);

    snprintf(path, sizeof path, "/v1/transfers/%s/cancel", mine);
    struct client_response res;
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", path, a.token, "stop-log-cancel", "{}", &res),
                  200);
    client_response_release(&res);
    snprintf(path, sizeof path, "/admin/transfers/%s/cancel", mine);
    S_admin_change(&S_main, &S_client, S_admin, "POST", path, "{\"reason\":\"ticket 4712\"}", 200,
                   "admin.transfer_changed", line);
    snprintf(want, sizeof want, "action=cancel payment_id=%s result=ok changed=false by=admin",
             mine);
    if (strstr(line, want) == NULL)
        TEST_FAIL_("no %s in %s", want, line);

    snprintf(path, sizeof path, "/admin/transfers/%s/cancel", stopped);
    for (int i = 0; i < 2; i++) {
        S_admin_change(&S_main, &S_client, S_admin, "POST", path, "{\"reason\":\"ticket 4713\"}",
                       200, "admin.transfer_changed", line);
        snprintf(want, sizeof want, "action=cancel payment_id=%s result=ok changed=%s by=admin",
                 stopped, i == 0 ? "true" : "false");
        if (strstr(line, want) == NULL)
            TEST_FAIL_("no %s in %s", want, line);
    }
}

TEST(access_lines_name_the_peer_and_the_principal)
{
    // An operator chasing a request must see where it came from (the TCP peer, not a header a
    // client can forge) and who it was (user id, mchid or admin), and never its credentials.
    char line[S_LINE_SIZE_MAX];
    char value[128];
    struct client_response res;

    /* Anonymous, with a forged X-Forwarded-For that must not be believed. */
    const char *forged[] = {"X-Forwarded-For: 203.0.113.77", NULL};
    ASSERT(client_request(&S_client, "GET", "/healthz", forged, NULL, 0, &res));
    ASSERT_EQ_INT(res.status, 200);
    S_access_line(&res, line);
    client_response_release(&res);
    ASSERT(S_peer_is_loopback(line));
    ASSERT_EQ_STR(S_field(line, "principal", value, sizeof value), "-");
    ASSERT(strstr(line, "203.0.113.77") == NULL);

    /* A user: the user id, never the session token. */
    struct api_user u;
    API_MUST(api_user_new(&S_client, S_admin, &u));
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me", u.token, NULL, &res), 200);
    S_access_line(&res, line);
    client_response_release(&res);
    ASSERT(S_peer_is_loopback(line));
    ASSERT_EQ_STR(S_field(line, "principal", value, sizeof value), u.id);
    ASSERT(strstr(line, u.token) == NULL);
    ASSERT(strstr(line, u.phone) == NULL);

    /* The operator: "admin", never the admin token. */
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/admin/users", S_admin, NULL, &res), 200);
    S_access_line(&res, line);
    client_response_release(&res);
    ASSERT_EQ_STR(S_field(line, "principal", value, sizeof value), "admin");
    ASSERT(strstr(line, S_admin) == NULL);

    /* A merchant's signed request: its mchid. */
    struct mh_merchant m;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    ASSERT_EQ_INT(mh_call(&S_client, &m, "GET", "/v3/certificates", NULL, &res), 200);
    S_access_line(&res, line);
    client_response_release(&res);
    ASSERT_EQ_STR(S_field(line, "principal", value, sizeof value), m.mchid);
    ASSERT(strstr(line, "WECHATPAY2") == NULL);
    mh_release(&m);

    /* A refused token names nobody. */
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/admin/users", u.token, NULL, &res), 403);
    S_access_line(&res, line);
    client_response_release(&res);
    ASSERT_EQ_STR(S_field(line, "principal", value, sizeof value), "-");
    ASSERT(strstr(line, u.token) == NULL);
}

/* The status of method path with token and body, its answer released. */
static long S_status(const char *method, const char *path, const char *token, const char *body)
{
    struct client_response res;
    long status = api_call(&S_client, method, path, token, body, &res);
    client_response_release(&res);
    return status;
}

TEST(each_operator_has_a_token_of_their_own_and_the_trail_names_them)
{
    // An audit must tell which person froze a user, and one operator who leaves must be cut off
    // alone: the root token (the admin-token file) gives each a token of their own, shown once;
    // their requests are logged as admin:NAME; only the root manages operators, so a stolen
    // operator's token cannot make more; a revoked token fails on the very next request; and no
    // list or log ever shows a token.
    char line[S_LINE_SIZE_MAX];
    char value[128];
    char path[160];
    struct client_response res;

    ASSERT_EQ_INT(
        api_call(&S_client, "POST", "/admin/operators", S_admin, "{\"name\":\"li.wei\"}", &res),
        201);
    char token[API_TOKEN_SIZE_MAX];
    snprintf(token, sizeof token, "%s", api_json_str(&res, "token"));
    ASSERT_EQ_STR(api_json_str(&res, "name"), "li.wei");
    ASSERT_EQ_INT((long long)strlen(token), 64);
    ASSERT_EQ_INT((long long)strspn(token, "0123456789abcdef"), 64);
    ASSERT(S_audit_line(&S_main, &res, "admin.operator_created", line, sizeof line));
    client_response_release(&res);
    ASSERT(strstr(line, "level=audit ") != NULL);
    ASSERT(strstr(line, "name=li.wei by=admin") != NULL);

    /* The operator's token opens the admin API under their own name. */
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/admin/users", token, NULL, &res), 200);
    S_access_line(&res, line);
    client_response_release(&res);
    ASSERT_EQ_STR(S_field(line, "principal", value, sizeof value), "admin:li.wei");
    struct api_user u;
    API_MUST(api_user_new(&S_client, S_admin, &u));
    snprintf(path, sizeof path, "/admin/users/%s/freeze", u.id);
    S_admin_change(&S_main, &S_client, token, "POST", path, "{\"reason\":\"ticket 88\"}", 200,
                   "admin.user_changed", line);
    char want[256];
    snprintf(want, sizeof want,
             "action=freeze user_id=%s result=ok by=admin:li.wei reason=\"ticket 88\"", u.id);
    if (strstr(line, want) == NULL)
        TEST_FAIL_("no %s in %s", want, line);
    /* The root is still the root. */
    snprintf(path, sizeof path, "/admin/users/%s/unfreeze", u.id);
    S_admin_change(&S_main, &S_client, S_admin, "POST", path, NULL, 200, "admin.user_changed",
                   line);
    ASSERT(strstr(line, " by=admin reason=") != NULL);

    /* Operators are the root's alone. */
    ASSERT_EQ_INT(S_status("GET", "/admin/operators", token, NULL), 403);
    ASSERT_EQ_INT(S_status("POST", "/admin/operators", token, "{\"name\":\"mallory\"}"), 403);
    ASSERT_EQ_INT(S_status("POST", "/admin/operators/li.wei/revoke", token, NULL), 403);
    struct api_user v; /* the freeze ended u's sessions */
    API_MUST(api_user_new(&S_client, S_admin, &v));
    ASSERT_EQ_INT(S_status("POST", "/admin/operators", v.token, "{\"name\":\"mallory\"}"), 403);

    /* One name, one person, for good; and only names that are safe in a log and a path. */
    ASSERT_EQ_INT(S_status("POST", "/admin/operators", S_admin, "{\"name\":\"li.wei\"}"), 409);
    const char *bad[] = {"{\"name\":\"\"}",
                         "{\"name\":\"Li\"}",
                         "{\"name\":\"1li\"}",
                         "{\"name\":\"li wei\"}",
                         "{\"name\":\"li:wei\"}",
                         "{\"name\":\"abcdefghijklmnopqrstuvwxyz0123456\"}",
                         "{}",
                         "{\"name\":7}"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(bad); i++) {
        ASSERT_EQ_INT(api_call(&S_client, "POST", "/admin/operators", S_admin, bad[i], &res), 400);
        ASSERT_EQ_STR(api_json_str(&res, "code"), "PARAM_ERROR");
        client_response_release(&res);
    }
    ASSERT_EQ_INT(S_status("POST", "/admin/operators/nobody/revoke", S_admin, NULL), 404);
    ASSERT_EQ_INT(S_status("POST", "/admin/operators/No%20One/revoke", S_admin, NULL), 404);

    /* Revoked: the very next request is refused, the list says since when. */
    ASSERT_EQ_INT(
        api_call(&S_client, "POST", "/admin/operators/li.wei/revoke", S_admin, NULL, &res), 200);
    json_t *revoked = api_json(&res);
    ASSERT(revoked != NULL && json_is_string(json_object_get(revoked, "revoked_at")));
    char revoked_at[64];
    snprintf(revoked_at, sizeof revoked_at, "%s",
             json_string_value(json_object_get(revoked, "revoked_at")));
    json_decref(revoked);
    ASSERT(S_audit_line(&S_main, &res, "admin.operator_revoked", line, sizeof line));
    client_response_release(&res);
    ASSERT(strstr(line, "name=li.wei result=ok changed=true by=admin") != NULL);
    ASSERT_EQ_INT(S_status("GET", "/admin/users", token, NULL), 401);
    ASSERT_EQ_INT(
        api_call(&S_client, "POST", "/admin/operators/li.wei/revoke", S_admin, NULL, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "revoked_at"), revoked_at);
    client_response_release(&res);
    ASSERT_EQ_INT(S_status("POST", "/admin/operators", S_admin, "{\"name\":\"li.wei\"}"), 409);

    ASSERT_EQ_INT(api_call(&S_client, "POST", "/admin/operators", S_admin,
                           "{\"name\":\"zhang_san-2\"}", &res),
                  201);
    char token2[API_TOKEN_SIZE_MAX];
    snprintf(token2, sizeof token2, "%s", api_json_str(&res, "token"));
    client_response_release(&res);
    ASSERT(strcmp(token, token2) != 0);
    ASSERT_EQ_INT(S_status("GET", "/admin/users", token2, NULL), 200);

    /* A lost or aging token is rotated by the root: the old one fails on the very next request,
     * the name stays. An operator cannot rotate a token, their own included; a revoked operator
     * stays revoked. */
    ASSERT_EQ_INT(S_status("POST", "/admin/operators/zhang_san-2/token", token2, NULL), 403);
    ASSERT_EQ_INT(
        api_call(&S_client, "POST", "/admin/operators/zhang_san-2/token", S_admin, NULL, &res),
        200);
    char token3[API_TOKEN_SIZE_MAX];
    snprintf(token3, sizeof token3, "%s", api_json_str(&res, "token"));
    ASSERT_EQ_STR(api_json_str(&res, "name"), "zhang_san-2");
    ASSERT_EQ_INT((long long)strspn(token3, "0123456789abcdef"), 64);
    ASSERT(strcmp(token3, token2) != 0);
    ASSERT(strlen(api_json_str(&res, "token_issued_at")) == 25);
    ASSERT(S_audit_line(&S_main, &res, "admin.operator_token_rotated", line, sizeof line));
    client_response_release(&res);
    ASSERT(strstr(line, "name=zhang_san-2 by=admin") != NULL);
    ASSERT_EQ_INT(S_status("GET", "/admin/users", token2, NULL), 401);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/admin/users", token3, NULL, &res), 200);
    S_access_line(&res, line);
    client_response_release(&res);
    ASSERT_EQ_STR(S_field(line, "principal", value, sizeof value), "admin:zhang_san-2");
    ASSERT_EQ_INT(S_status("POST", "/admin/operators/li.wei/token", S_admin, NULL), 409);
    ASSERT_EQ_INT(S_status("GET", "/admin/users", token, NULL), 401);
    ASSERT_EQ_INT(S_status("POST", "/admin/operators/nobody/token", S_admin, NULL), 404);
    ASSERT_EQ_INT(S_status("POST", "/admin/operators/No%20One/token", S_admin, NULL), 404);

    ASSERT_EQ_INT(api_call(&S_client, "GET", "/admin/operators", S_admin, NULL, &res), 200);
    json_t *page = api_json(&res);
    ASSERT(page != NULL);
    json_t *items = json_object_get(page, "items");
    ASSERT_EQ_INT((long long)json_array_size(items), 2);
    json_t *newest = json_array_get(items, 0), *first = json_array_get(items, 1);
    ASSERT_EQ_STR(json_string_value(json_object_get(newest, "name")), "zhang_san-2");
    ASSERT(json_is_null(json_object_get(newest, "revoked_at")));
    ASSERT(strcmp(json_string_value(json_object_get(newest, "token_issued_at")),
                  json_string_value(json_object_get(newest, "created_at"))) >= 0);
    ASSERT_EQ_STR(json_string_value(json_object_get(first, "name")), "li.wei");
    ASSERT_EQ_STR(json_string_value(json_object_get(first, "revoked_at")), revoked_at);
    ASSERT(json_object_get(first, "token") == NULL && json_object_get(first, "token_hash") == NULL);
    json_decref(page);
    ASSERT(strstr(res.body.data, token) == NULL && strstr(res.body.data, token2) == NULL &&
           strstr(res.body.data, token3) == NULL);
    client_response_release(&res);

    /* No token is in the log. */
    ASSERT(test_file_read(S_main.log_path, S_log, sizeof S_log));
    ASSERT(strstr(S_log, token) == NULL);
    ASSERT(strstr(S_log, token2) == NULL);
    ASSERT(strstr(S_log, token3) == NULL);
}

TEST(a_proxys_request_id_is_logged_beside_the_daemons_own)
{
    // Behind a proxy, the operator follows a request from the proxy's log by its id: a clean
    // X-Request-Id is on the access line as upstream_req=, the answer still carries the
    // daemon's own unguessable id, and an id that could break the line or pass for another
    // field is left out.
    char line[S_LINE_SIZE_MAX];
    char value[256];
    struct client_response res;
    const char *clean[] = {"X-Request-Id: 7f3a9c2e-41b0-4d6e-9a51-0c2b8f1e6d44", NULL};
    ASSERT(client_request(&S_client, "GET", "/healthz", clean, NULL, 0, &res));
    ASSERT_EQ_INT(res.status, 200);
    ASSERT(strncmp(api_header(&res, "X-Request-Id"), "req_", 4) == 0);
    S_access_line(&res, line);
    client_response_release(&res);
    ASSERT_EQ_STR(S_field(line, "upstream_req", value, sizeof value),
                  "7f3a9c2e-41b0-4d6e-9a51-0c2b8f1e6d44");

    char long_id[160] = "X-Request-Id: ";
    memset(long_id + strlen(long_id), 'a', 129);
    const char *refused[][2] = {
        {"X-Request-Id: abc status=500", NULL}, {"X-Request-Id: abc\"def", NULL}, {long_id, NULL}};
    for (size_t i = 0; i < QB_ARRAY_COUNT(refused); i++) {
        ASSERT(client_request(&S_client, "GET", "/healthz", refused[i], NULL, 0, &res));
        ASSERT_EQ_INT(res.status, 200);
        S_access_line(&res, line);
        client_response_release(&res);
        if (strstr(line, "upstream_req") != NULL || strstr(line, "status=500") != NULL)
            TEST_FAIL_("%s reached the line: %s", refused[i][0], line);
    }
}

/* The value of qianbao_login_failures_total{locked=...} on the main daemon. */
static unsigned long long S_login_failures(bool locked)
{
    struct client_response res;
    if (!client_request(&S_client, "GET", "/metrics", NULL, NULL, 0, &res) || res.status != 200) {
        client_response_release(&res);
        TEST_FAIL_("GET /metrics failed");
        return 0;
    }
    char needle[64];
    snprintf(needle, sizeof needle, "\nqianbao_login_failures_total{locked=\"%s\"} ",
             locked ? "true" : "false");
    const char *at = strstr(res.body.data, needle);
    unsigned long long value = at != NULL ? strtoull(at + strlen(needle), NULL, 10) : 0;
    client_response_release(&res);
    if (at == NULL)
        TEST_FAIL_("no %s in /metrics", needle + 1);
    return value;
}

/* How many lines of the main daemon's log hold needle. */
static int S_log_count(const char *needle)
{
    if (!test_file_read(S_main.log_path, S_log, sizeof S_log))
        return -1;
    int count = 0;
    for (const char *at = strstr(S_log, needle); at != NULL; at = strstr(at + 1, needle))
        count++;
    return count;
}

/* Five wrong passwords for phone: four 401s, then the 423 of the lock. */
static void S_wrong_passwords(const char *phone)
{
    char body[128];
    snprintf(body, sizeof body, "{\"phone\":\"%s\",\"password\":\"not the password\"}", phone);
    for (int i = 0; i < 5; i++) {
        struct client_response res;
        long status = api_call(&S_client, "POST", "/v1/sessions", NULL, body, &res);
        client_response_release(&res);
        if (status != (i < 4 ? 401 : 423))
            TEST_FAIL_("wrong password %d answered %ld", i + 1, status);
    }
}

TEST(wrong_login_passwords_are_counted_and_each_lock_logged)
{
    // Guessing at a login must show: every wrong password counts in /metrics, and the lock it
    // ends in is one warn line naming the user (or, for a phone nobody has, its last four
    // digits only). Never a line or a security event per guess, which a guesser could flood.
    unsigned long long open_before = S_login_failures(false);
    unsigned long long locked_before = S_login_failures(true);

    struct api_user u;
    API_MUST(api_user_new(&S_client, S_admin, &u));
    S_wrong_passwords(u.phone);
    ASSERT_EQ_INT((long long)(S_login_failures(false) - open_before), 4);
    ASSERT_EQ_INT((long long)(S_login_failures(true) - locked_before), 1);
    char want[128];
    const char *needles[] = {"event=identity.login_locked ", u.id, NULL};
    char line[S_LINE_SIZE_MAX];
    ASSERT(S_log_line(&S_main, needles, line, sizeof line));
    ASSERT(strstr(line, "level=warn ") != NULL);
    ASSERT(strstr(line, u.phone) == NULL);
    snprintf(want, sizeof want, "event=identity.login_locked user_id=%s", u.id);
    ASSERT_EQ_INT(S_log_count(want), 1);

    /* Locked: the right password is refused before any guess is counted. */
    char body[256];
    snprintf(body, sizeof body, "{\"phone\":\"%s\",\"password\":\"%s\"}", u.phone, u.password);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/sessions", NULL, body, &res), 423);
    client_response_release(&res);
    ASSERT_EQ_INT((long long)(S_login_failures(true) - locked_before), 1);
    ASSERT_EQ_INT(S_log_count(want), 1);

    /* The lock is the one security event: none per wrong password. */
    char path[128];
    snprintf(path, sizeof path, "/admin/users/%s/security-events", u.id);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, S_admin, NULL, &res), 200);
    json_t *events = api_json(&res);
    client_response_release(&res);
    json_t *items = json_object_get(events, "items");
    size_t lockouts = 0;
    for (size_t i = 0; i < json_array_size(items); i++) {
        const char *kind = json_string_value(json_object_get(json_array_get(items, i), "kind"));
        lockouts += kind != NULL && strcmp(kind, "lockout") == 0;
    }
    ASSERT(json_array_size(items) < 5);
    ASSERT_EQ_INT((long long)lockouts, 1);
    json_decref(events);

    /* A phone nobody registered: locked alike, logged by its last four digits. */
    char phone[API_PHONE_SIZE];
    api_phone_new(phone);
    S_wrong_passwords(phone);
    ASSERT_EQ_INT((long long)(S_login_failures(false) - open_before), 8);
    ASSERT_EQ_INT((long long)(S_login_failures(true) - locked_before), 2);
    snprintf(want, sizeof want, "event=identity.login_locked phone=****%s", phone + 7);
    const char *masked[] = {want, NULL};
    ASSERT(S_log_line(&S_main, masked, line, sizeof line));
    ASSERT(strstr(line, "level=warn ") != NULL);
    ASSERT_EQ_INT(S_log_count(want), 1);
    ASSERT(strstr(S_log, phone) == NULL);
}

TEST(a_lock_taken_in_a_burst_of_wrong_passwords_is_logged_once)
{
    // Twenty wrong passwords at once: the password threads check them side by side, so several
    // reach the count after the fifth took the lock. Those are refused as locked, but only the
    // one that took it is a lock in /metrics and the log; else a guesser's bursts multiply the
    // warn lines and the counter an operator alerts on.
    unsigned long long open_before = S_login_failures(false);
    unsigned long long locked_before = S_login_failures(true);
    struct api_user u;
    API_MUST(api_user_new(&S_client, S_admin, &u));
    char body[128];
    snprintf(body, sizeof body, "{\"phone\":\"%s\",\"password\":\"not the password\"}", u.phone);
    struct api_parallel_call calls[20];
    for (size_t i = 0; i < QB_ARRAY_COUNT(calls); i++)
        calls[i] = (struct api_parallel_call){"POST", "/v1/sessions", NULL, body, 0, ""};
    api_call_parallel(S_main.base_url, calls, QB_ARRAY_COUNT(calls));
    int refused = 0, locked = 0;
    for (size_t i = 0; i < QB_ARRAY_COUNT(calls); i++) {
        refused += calls[i].status == 401;
        locked += calls[i].status == 423;
    }
    ASSERT_EQ_INT(refused, 4);
    ASSERT_EQ_INT(locked, 16);
    ASSERT_EQ_INT((long long)(S_login_failures(false) - open_before), 4);
    ASSERT_EQ_INT((long long)(S_login_failures(true) - locked_before), 1);
    char want[128];
    snprintf(want, sizeof want, "event=identity.login_locked user_id=%s", u.id);
    ASSERT_EQ_INT(S_log_count(want), 1);
}

TEST(work_done_off_a_requests_thread_carries_its_request_id)
{
    // Binding a card asks the bank on an offload thread and binds it on the ledger's: the lines
    // that work leaves must carry the request's id, or an operator cannot follow a ticket's
    // X-Request-Id to the bank call.
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    API_MUST(th_fund(&S_client, S_admin, &u, 100));
    char user[96], line[S_LINE_SIZE_MAX];
    snprintf(user, sizeof user, "user_id=%s ", u.id);
    const char *bound[] = {"event=wallet.card.bound ", user, NULL};
    ASSERT(S_log_line(&S_main, bound, line, sizeof line));
    const char *req = strstr(line, " req=");
    ASSERT(req != NULL);
    char id[128];
    snprintf(id, sizeof id, "%.*s", (int)strcspn(req + 1, " "), req + 1);
    if (strcmp(id, "req=-") == 0)
        TEST_FAIL_("the card's line carries no request id: %s", line);
    char with_id[160];
    snprintf(with_id, sizeof with_id, "%s ", id);
    const char *access[] = {with_id, "event=http.request ", "path=/v1/me/cards ", NULL};
    if (!S_log_line(&S_main, access, line, sizeof line))
        TEST_FAIL_("no POST /v1/me/cards access line with %s", id);
    /* The bank's check ran on an offload thread, the binding on the ledger's. */
    const char *verified[] = {with_id, "event=wallet.card.verified ", NULL};
    if (!S_log_line(&S_main, verified, line, sizeof line))
        TEST_FAIL_("no wallet.card.verified line with %s", id);
}

TEST(settings_that_loosen_the_server_are_named_at_start)
{
    // A development setting left on in production (devices trusted on a password alone, codes
    // kept in the outbox instead of sent) must be seen in the log, and only the ones that are on.
    const char *trusted[] = {
        "level=warn req=- event=daemon.loose_setting flag=--trust-new-devices ", NULL};
    const char *outbox[] = {"level=warn req=- event=daemon.loose_setting "
                            "flag=--sms-provider-url value=unset ",
                            NULL};
    char line[S_LINE_SIZE_MAX];
    ASSERT(S_log_line(&S_main, trusted, line, sizeof line));
    ASSERT(S_log_line(&S_main, outbox, line, sizeof line));
    ASSERT(test_file_read(S_main.log_path, S_log, sizeof S_log));
    ASSERT(strstr(S_log, "flag=--allow-private-notify") == NULL);
}

TEST(starts_and_stops_are_logged_at_any_level)
{
    // When the daemon started and stopped, and why, is the first thing an operator reads after
    // an incident: a quieted log keeps those lines too.
    ASSERT(test_file_read(S_quiet.log_path, S_log, sizeof S_log));
    ASSERT(strstr(S_log, "level=audit req=- event=daemon.start ") != NULL);
    /* This suite's daemons read the test switches, and say so. */
    ASSERT(strstr(S_log, "event=daemon.start version=") != NULL &&
           strstr(S_log, " build=test listen=") != NULL);
    ASSERT_EQ_INT(test_daemon_stop(&S_quiet), 0);
    ASSERT(test_file_read(S_quiet.log_path, S_log, sizeof S_log));
    ASSERT(strstr(S_log, "level=audit req=- event=daemon.stopping signal=SIGTERM") != NULL);
    ASSERT(strstr(S_log, "level=audit req=- event=daemon.stop status=0") != NULL);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    const char *main_args[] = {"--trust-new-devices", NULL};
    if (!api_suite_daemon(&suite, &S_main, "main", main_args, S_admin, &S_client))
        return api_suite_end(&suite);
    const char *quiet_args[] = {"--log-level", "warn", NULL};
    if (!api_suite_daemon(&suite, &S_quiet, "quiet", quiet_args, S_quiet_admin, &S_quiet_client))
        return api_suite_end(&suite);
    RUN(user_changes_name_a_kyc_level_only_when_setting_one);
    RUN(operator_changes_are_logged_at_any_level);
    RUN(an_operators_stop_of_a_transfer_says_whether_it_stopped_it);
    RUN(access_lines_name_the_peer_and_the_principal);
    RUN(each_operator_has_a_token_of_their_own_and_the_trail_names_them);
    RUN(a_proxys_request_id_is_logged_beside_the_daemons_own);
    RUN(wrong_login_passwords_are_counted_and_each_lock_logged);
    RUN(a_lock_taken_in_a_burst_of_wrong_passwords_is_logged_once);
    RUN(work_done_off_a_requests_thread_carries_its_request_id);
    RUN(settings_that_loosen_the_server_are_named_at_start);
    RUN(starts_and_stops_are_logged_at_any_level); /* stops the quiet daemon */
    return api_suite_end(&suite);
}

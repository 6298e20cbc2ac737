/*
 * test_bad_input.c — the bad-input catalogue: every route, every kind of
 * bad input, one table.
 *
 * Every route the daemon serves (read from src/http/routes.c, as the
 * authorization matrix does) is called by a caller it accepts — a funded
 * user with a payment password, the operator, a merchant's signed request,
 * or nobody — with each body of S_bodies (malformed and truncated JSON,
 * deep nesting, duplicate keys, invalid UTF-8, a NUL byte, wrong types,
 * huge strings, a body over the limit, the wrong media type) and, for GET
 * routes, hostile query strings. Path parameters are given ids of no
 * object. Each answer must be a 4xx with a JSON error body whose code is
 * one Qianbao documents, never a 5xx and never success. The money routes
 * then get each of S_amounts (negative, zero, overflowing, over-precise,
 * of the wrong type) and an unknown currency, a missing and an oversize
 * Idempotency-Key, each answered with its documented code. Before and
 * after, the operator's ledger check counts the journal's entries: bad
 * input must not add one.
 *
 * The catalogue fails when a route has no entry in S_routes (so that a new
 * route cannot ship without saying which caller reaches it), and when an
 * error code of src/base/error.h appears in no API test at all (a code
 * nobody can provoke is either dead or untested).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "api/lib/routes.h"
#include "api/lib/suite.h"
#include "api/merchant_helpers.h"
#include "api/transfer_helpers.h"

#define S_BODY_SIZE_MAX (80 * 1024)
#define S_CODES_MAX 128
#define S_SOURCE_SIZE_MAX (512 * 1024)

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];
static struct api_user S_user;
static struct mh_merchant S_merchant;
static char S_codes[S_CODES_MAX][48]; /* the error codes of error.h */
static size_t S_code_count;
static bool S_code_seen[S_CODES_MAX];
static long S_cases;

/* --- the error codes Qianbao documents ------------------------------------- */

static char S_source[S_SOURCE_SIZE_MAX];

static const char *S_source_dir(void)
{
    const char *dir = getenv("QB_SOURCE_DIR");
    return dir != NULL && dir[0] != '\0' ? dir : ".";
}

/* Reads the API codes of QB_ERROR_TABLE: X(QB_E_..., status, "CODE", ...). */
static bool S_codes_read(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/src/base/error.h", S_source_dir());
    if (!test_file_read(path, S_source, sizeof S_source))
        return false;
    for (const char *p = S_source; (p = strstr(p, "X(QB_E_")) != NULL; p++) {
        const char *quote = strchr(p, '"');
        const char *close = quote != NULL ? strchr(quote + 1, '"') : NULL;
        if (close == NULL || S_code_count == S_CODES_MAX ||
            (size_t)(close - quote - 1) >= sizeof S_codes[0])
            return false;
        snprintf(S_codes[S_code_count++], sizeof S_codes[0], "%.*s", (int)(close - quote - 1),
                 quote + 1);
    }
    return S_code_count >= 10;
}

static int S_code_index(const char *code)
{
    for (size_t i = 0; i < S_code_count; i++)
        if (strcmp(S_codes[i], code) == 0)
            return (int)i;
    return -1;
}

/* --- the routes and who reaches them ---------------------------------------- */

static struct api_route S_served[API_ROUTES_MAX];
static size_t S_served_count;

/* Every route, with the body of a request that would succeed (or NULL
 * when it takes none): the money cases mutate it. amount is the member
 * holding an amount in fen ("" when none); keyed routes take an
 * Idempotency-Key. A route missing here fails the test. */
struct route_entry {
    const char *method;
    const char *pattern;
    const char *amount;
    bool keyed;
    bool no_body; /* takes no body: only bodies that cannot be one are sent */
};

static const struct route_entry S_routes[] = {
    {"GET", "/healthz", "", false, false},
    {"GET", "/metrics", "", false, false},
    {"POST", "/v1/sms-codes", "", false, false},
    {"POST", "/v1/users", "", false, false},
    {"POST", "/v1/sessions", "", false, false},
    {"DELETE", "/v1/sessions/current", "", false, false},
    {"GET", "/v1/me", "", false, false},
    {"PUT", "/v1/me/display-name", "", false, false},
    {"GET", "/v1/me/balances", "", false, false},
    {"POST", "/v1/me/kyc", "", false, false},
    {"PUT", "/v1/me/password", "", false, false},
    {"PUT", "/v1/me/phone", "", false, false},
    {"POST", "/v1/me/close", "", false, false},
    {"GET", "/v1/me/closing", "", false, false},
    {"PUT", "/v1/me/payment-password", "", false, false},
    {"POST", "/v1/me/payment-password/verify", "", false, false},
    {"GET", "/v1/me/sessions", "", false, false},
    {"DELETE", "/v1/me/sessions/{id}", "", false, false},
    {"POST", "/v1/me/freeze", "", false, true},
    {"POST", "/v1/me/unfreeze", "", false, false},
    {"GET", "/v1/me/security", "", false, false},
    {"GET", "/v1/me/security-events", "", false, false},
    {"GET", "/v1/me/transactions", "", false, false},
    {"GET", "/v1/me/transactions.csv", "", false, false},
    {"GET", "/v1/me/statements/{month}", "", false, false},
    {"GET", "/v1/me/notices", "", false, false},
    {"GET", "/v1/me/notices/unread", "", false, false},
    {"POST", "/v1/me/notices/read", "", false, false},
    {"GET", "/v1/me/changes", "", false, false},
    {"POST", "/v1/transfers", "amount", true, false},
    {"GET", "/v1/transfers/{id}", "", false, false},
    {"POST", "/v1/transfers/{id}/return", "", true, false},
    {"POST", "/v1/transfers/{id}/cancel", "", true, false},
    {"GET", "/v1/me/payouts", "", false, false},
    {"GET", "/v1/payouts/{id}", "", false, false},
    {"POST", "/v1/payouts/{id}/confirm", "", false, false},
    {"GET", "/v1/me/limits", "", false, false},
    {"PUT", "/v1/me/limits", "", false, false},
    {"POST", "/v1/me/cards", "", false, false},
    {"GET", "/v1/me/cards", "", false, false},
    {"DELETE", "/v1/me/cards/{id}", "", false, false},
    {"POST", "/v1/me/topups", "amount", true, false},
    {"POST", "/v1/me/withdrawals", "amount", true, false},
    {"GET", "/v1/me/withdrawal-quote", "", false, false},
    {"GET", "/v1/me/payments/{id}", "", false, false},
    {"POST", "/v1/collections", "", false, false},
    {"GET", "/v1/me/collections", "", false, false},
    {"GET", "/v1/collections/{id}", "", false, false},
    {"GET", "/v1/collections/{id}/code", "", false, false},
    {"POST", "/v1/collections/{id}/payments", "", true, false},
    {"POST", "/v1/collections/{id}/close", "", false, false},
    {"POST", "/v1/red-packets", "total_amount", true, false},
    {"POST", "/v1/red-packets/{id}/claims", "", false, false},
    {"GET", "/v1/red-packets/{id}", "", false, false},
    {"POST", "/v1/merchants", "", false, false},
    {"POST", "/admin/merchants", "", false, false},
    {"POST", "/v1/merchants/{mchid}/apps", "", false, true},
    {"POST", "/admin/merchants/{mchid}/apps", "", false, true},
    {"GET", "/v1/me/openids/{appid}", "", false, false},
    {"POST", "/v1/me/order-payments", "", true, false},
    {"GET", "/v1/merchants/me", "", false, false},
    {"GET", "/v1/merchants/me/analytics", "", false, false},
    {"GET", "/v1/merchants/me/payments", "", false, false},
    {"POST", "/v1/merchants/me/refunds", "amount", true, false},
    {"GET", "/v1/merchants/me/changes", "", false, false},
    {"POST", "/v1/merchants/me/close", "", false, false},
    {"POST", "/v1/merchants/me/apiv3-key", "", false, false},
    {"POST", "/v1/merchants/me/certificate", "", false, false},
    {"POST", "/v1/merchants/me/withdrawals", "amount", true, false},
    {"GET", "/v1/merchants/me/withdrawal-quote", "", false, false},
    {"GET", "/v1/me/receive-code", "", false, false},
    {"GET", "/v1/merchants/{mchid}/till-code", "", false, false},
    {"POST", "/v1/qr/resolve", "", false, false},
    {"GET", "/v1/payees", "", false, false},
    {"GET", "/v1/payees/recent", "", false, false},
    {"POST", "/v1/me/devices", "", false, false},
    {"GET", "/v1/me/devices", "", false, false},
    {"DELETE", "/v1/me/devices/{id}", "", false, false},
    {"GET", "/v1/me/payment-code", "", false, false},
    {"GET", "/v1/me/payment-code-settings", "", false, false},
    {"PUT", "/v1/me/payment-code-settings", "", false, false},
    {"GET", "/v1/me/pending-payments", "", false, false},
    {"POST", "/v1/me/pending-payments/{id}/confirm", "", true, false},
    {"POST", "/v3/pay/transactions/native", "", false, false},
    {"POST", "/v3/pay/transactions/jsapi", "", false, false},
    {"POST", "/v3/pay/transactions/app", "", false, false},
    {"POST", "/v3/pay/transactions/h5", "", false, false},
    {"POST", "/v3/pay/transactions/codepay", "", false, false},
    {"GET", "/v3/pay/transactions/out-trade-no/{out_trade_no}", "", false, false},
    {"GET", "/v3/pay/transactions/id/{transaction_id}", "", false, false},
    {"POST", "/v3/pay/transactions/out-trade-no/{out_trade_no}/close", "", false, false},
    {"POST", "/v3/pay/transactions/out-trade-no/{out_trade_no}/reverse", "", false, false},
    {"GET", "/v3/certificates", "", false, false},
    {"GET", "/v3/bill/tradebill", "", false, false},
    {"GET", "/v3/bill/fundflowbill", "", false, false},
    {"GET", "/v3/billdownload/file", "", false, false},
    {"GET", "/v3/merchant/fund/balance/{account_type}", "", false, false},
    {"GET", "/v3/merchant/fund/dayendbalance/{account_type}", "", false, false},
    {"POST", "/v3/refund/domestic/refunds", "", false, false},
    {"GET", "/v3/refund/domestic/refunds/{out_refund_no}", "", false, false},
    {"GET", "/v3/qianbao/notifications", "", false, false},
    {"POST", "/v3/fund-app/mch-transfer/transfer-bills", "", false, false},
    {"POST", "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}/cancel", "", false,
     false},
    {"GET", "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}", "", false, false},
    {"GET", "/v3/fund-app/mch-transfer/transfer-bills/transfer-bill-no/{transfer_bill_no}", "",
     false, false},
    {"POST", "/v3/qianbao/notifications/{id}/resend", "", false, false},
    {"GET", "/v1/merchants/{mchid}/notifications", "", false, false},
    {"POST", "/v1/merchants/{mchid}/notifications/{id}/resend", "", false, false},
    {"GET", "/admin/users", "", false, false},
    {"POST", "/admin/users/{id}/freeze", "", false, false},
    {"POST", "/admin/users/{id}/unfreeze", "", false, false},
    {"POST", "/admin/users/{id}/login-unlock", "", false, false},
    {"POST", "/admin/users/{id}/close", "", false, false},
    {"PUT", "/admin/users/{id}/kyc-level", "", false, false},
    {"GET", "/admin/sms-outbox", "", false, false},
    {"GET", "/admin/payments", "", false, false},
    {"GET", "/admin/users/{id}/security-events", "", false, false},
    {"GET", "/admin/users/{id}/notices", "", false, false},
    {"GET", "/admin/users/{id}", "", false, false},
    {"GET", "/admin/users/{id}/transactions", "", false, false},
    {"GET", "/admin/users/{id}/transactions.csv", "", false, false},
    {"GET", "/admin/payments/{id}", "", false, false},
    {"POST", "/admin/payments/{id}/query", "", false, false},
    {"POST", "/admin/payouts/{id}/cancel", "", false, false},
    {"POST", "/admin/transfers/{id}/cancel", "", false, false},
    {"GET", "/admin/red-packets/{id}", "", false, false},
    {"GET", "/admin/collections/{id}", "", false, false},
    {"GET", "/admin/merchants", "", false, false},
    {"GET", "/admin/merchants/{mchid}", "", false, false},
    {"GET", "/admin/merchants/{mchid}/payouts", "", false, false},
    {"POST", "/admin/merchants/{mchid}/suspend", "", false, false},
    {"POST", "/admin/merchants/{mchid}/resume", "", false, false},
    {"POST", "/admin/merchants/{mchid}/apiv3-key", "", false, false},
    {"POST", "/admin/merchants/{mchid}/certificate", "", false, false},
    {"GET", "/admin/audit", "", false, false},
    {"GET", "/admin/operators", "", false, false},
    {"POST", "/admin/operators", "", false, false},
    {"POST", "/admin/operators/{name}/token", "", false, true},
    {"POST", "/admin/operators/{name}/revoke", "", false, true},
    {"POST", "/admin/ledger/verification", "", false, true},
    {"GET", "/admin/ledger/verification", "", false, false},
};

static const struct route_entry *S_entry(const char *method, const char *pattern)
{
    for (size_t i = 0; i < QB_ARRAY_COUNT(S_routes); i++)
        if (strcmp(S_routes[i].method, method) == 0 && strcmp(S_routes[i].pattern, pattern) == 0)
            return &S_routes[i];
    return NULL;
}

/* The pattern with each {param} replaced by an id of no object. */
static void S_path(const char *pattern, char *out, size_t out_size)
{
    size_t used = 0;
    for (const char *p = pattern; *p != '\0' && used + 40 < out_size;) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            const char *value = strncmp(p, "{month}", 7) == 0 ? "1999-13" : "zz_nothing9";
            used += (size_t)snprintf(out + used, out_size - used, "%s", value);
            p = close != NULL ? close + 1 : p + strlen(p);
        } else {
            out[used++] = *p++;
        }
    }
    out[used] = '\0';
}

/* --- one call ----------------------------------------------------------------- */

struct call {
    const struct api_route *route;
    const char *path;       /* with its query */
    const void *body;       /* may hold NUL bytes */
    size_t body_size;
    const char *media_type; /* NULL: application/json */
    const char *key;        /* Idempotency-Key, NULL: none */
};

static long S_send(const struct call *c, struct client_response *res)
{
    const char *auth = c->route->auth;
    char authorization[API_TOKEN_SIZE_MAX + 32], content_type[96], key[400];
    const char *headers[5] = {0};
    size_t h = 0;
    if (strcmp(auth, "HTTP_AUTH_MERCHANT") == 0) {
        /* Signed over the body as text: bodies with NUL bytes go unsigned
         * and get SIGN_ERROR, which is a 4xx too. */
        char *text = malloc(c->body_size + 1);
        QB_ASSERT(text != NULL);
        memcpy(text, c->body != NULL ? c->body : "", c->body_size);
        text[c->body_size] = '\0';
        long status = mh_call(&S_client, &S_merchant, c->route->method, c->path,
                              c->body != NULL ? text : NULL, res);
        free(text);
        return status;
    }
    if (strcmp(auth, "HTTP_AUTH_USER") == 0)
        snprintf(authorization, sizeof authorization, "Authorization: Bearer %s", S_user.token);
    else if (strcmp(auth, "HTTP_AUTH_ADMIN") == 0)
        snprintf(authorization, sizeof authorization, "Authorization: Bearer %s", S_admin);
    else
        authorization[0] = '\0';
    if (authorization[0] != '\0')
        headers[h++] = authorization;
    if (c->body != NULL) {
        snprintf(content_type, sizeof content_type, "Content-Type: %s",
                 c->media_type != NULL ? c->media_type : "application/json");
        headers[h++] = content_type;
    }
    if (c->key != NULL) {
        snprintf(key, sizeof key, "Idempotency-Key: %s", c->key);
        headers[h++] = key;
    }
    client_request(&S_client, c->route->method, c->path, headers, c->body, c->body_size, res);
    return res->status;
}

/* Sends c and checks the answer is a 4xx with a documented code (one of
 * want, a space-separated list, when want is not NULL). */
static void S_expect_refused(const struct call *c, const char *what, const char *want)
{
    S_cases++;
    struct client_response res;
    long status = S_send(c, &res);
    /* The code member; an error may carry more members (limit). */
    char code[64] = "";
    json_t *error = api_json(&res);
    const char *text = json_string_value(json_object_get(error, "code"));
    if (text != NULL && json_is_string(json_object_get(error, "message")))
        snprintf(code, sizeof code, "%s", text);
    json_decref(error);
    int index = S_code_index(code);
    bool wanted = want == NULL;
    if (want != NULL) {
        size_t size = strlen(code);
        for (const char *w = want; *w != '\0' && !wanted;) {
            size_t n = strcspn(w, " ");
            wanted = n == size && size > 0 && strncmp(w, code, n) == 0;
            w += n + strspn(w + n, " ");
        }
    }
    if (status < 400 || status >= 500 || index < 0 || !wanted)
        TEST_FAIL_("%s %s, %s: %ld %.*s (want a 4xx%s%s)", c->route->method, c->path, what,
                   status, (int)(res.body.size < 300 ? res.body.size : 300),
                   res.body.data != NULL ? res.body.data : "", want != NULL ? " with " : "",
                   want != NULL ? want : " with a documented code");
    if (index >= 0)
        S_code_seen[index] = true;
    client_response_release(&res);
}

/* --- the cases ------------------------------------------------------------------ */

struct body_case {
    const char *what;
    const char *body;
    size_t size; /* 0: strlen(body) */
    const char *media_type;
    bool never_a_body; /* refused even by routes that take none */
};

static char S_huge_string[S_BODY_SIZE_MAX];
static char S_over_limit[S_BODY_SIZE_MAX];
static char S_deep[S_BODY_SIZE_MAX];

static const struct body_case S_bodies[] = {
    {"malformed JSON", "{\"a\":", 0, NULL, true},
    {"truncated JSON", "{\"amount\":100,\"to\":\"1380", 0, NULL, true},
    {"a trailing comma", "{\"amount\":100,}", 0, NULL, true},
    {"duplicate keys", "{\"amount\":1,\"amount\":2}", 0, NULL, true},
    {"invalid UTF-8", "{\"memo\":\"\xff\xfe\xc3\"}", 0, NULL, true},
    {"an overlong UTF-8 NUL", "{\"memo\":\"\xc0\x80\"}", 0, NULL, true},
    {"a NUL byte", "{\"memo\":\"a\0b\"}", 14, NULL, true},
    {"an array, not an object", "[1,2,3]", 0, NULL, true},
    {"a bare string", "\"hello\"", 0, NULL, false},
    {"a bare number", "12", 0, NULL, false},
    {"null", "null", 0, NULL, false},
    {"an empty body", "", 0, NULL, false},
    {"an unknown member only", "{\"no_such_member\":true}", 0, NULL, false},
    {"every member of the wrong type",
     "{\"amount\":\"100\",\"to\":5,\"payment_password\":123456,\"phone\":[],\"card_id\":{},"
     "\"count\":\"3\",\"type\":1,\"name\":false,\"total_amount\":null,\"payload\":7}",
     0, NULL, false},
    {"the wrong media type", "{}", 0, "text/plain", false},
    {"a form instead of JSON", "amount=100", 0, "application/x-www-form-urlencoded", false},
    {"deep nesting", S_deep, 0, NULL, true},
    {"a huge string", S_huge_string, 0, NULL, false},
    {"a body over the limit", S_over_limit, 0, NULL, true},
};

static const char *const S_queries[] = {
    "?limit=-1",
    "?limit=100000000000000000000",
    "?limit=abc",
    "?cursor=%00%ff%fe",
    "?cursor="
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "?from=2026-02-30&to=yesterday",
    "?type=%27%3B%20DROP%20TABLE%20entries%3B--",
    "?target=%27%3B%20DROP%20TABLE%20operator_actions%3B--&by=admin%00",
};

static void S_fill_bodies(void)
{
    /* 60 KiB of string: under the 64 KiB body limit, over every field's. */
    size_t n = (size_t)snprintf(S_huge_string, sizeof S_huge_string, "{\"memo\":\"");
    memset(S_huge_string + n, 'A', 60 * 1024);
    snprintf(S_huge_string + n + 60 * 1024, 8, "\"}");
    /* 70 KiB: over the limit. */
    n = (size_t)snprintf(S_over_limit, sizeof S_over_limit, "{\"memo\":\"");
    memset(S_over_limit + n, 'B', 70 * 1024);
    snprintf(S_over_limit + n + 70 * 1024, 8, "\"}");
    /* 10,000 levels of arrays. */
    memset(S_deep, '[', 10000);
    memset(S_deep + 10000, ']', 10000);
    S_deep[20000] = '\0';
}

/* The journal's length, by the operator's ledger check. */
static long long S_entries(void)
{
    struct client_response res;
    long status = api_call(&S_client, "POST", "/admin/ledger/verification", S_admin, NULL, &res);
    client_response_release(&res);
    if (status != 202)
        return -1;
    for (int waited = 0; waited < 20000; waited += 20) {
        api_call(&S_client, "GET", "/admin/ledger/verification", S_admin, NULL, &res);
        json_t *state = api_json(&res);
        client_response_release(&res);
        const char *s = json_string_value(json_object_get(state, "status"));
        long long entries = json_integer_value(json_object_get(state, "entries_checked"));
        bool done = s != NULL && strcmp(s, "running") != 0;
        bool ok = s != NULL && strcmp(s, "ok") == 0;
        json_decref(state);
        if (done)
            return ok ? entries : -1;
        usleep(20 * 1000);
    }
    return -1;
}

TEST(every_route_has_an_entry)
{
    // A route missing from S_routes would ship without bad-input cases; an entry without a route
    // is stale.
    char err[1200];
    if (!api_routes_read(S_served, &S_served_count, err, sizeof err))
        TEST_FAIL_("%s", err);
    int problems = 0;
    for (size_t i = 0; i < S_served_count; i++)
        if (S_entry(S_served[i].method, S_served[i].pattern) == NULL) {
            fprintf(stderr, "  route %s %s has no entry in the catalogue\n", S_served[i].method,
                    S_served[i].pattern);
            problems++;
        }
    for (size_t i = 0; i < QB_ARRAY_COUNT(S_routes); i++) {
        bool served = false;
        for (size_t j = 0; j < S_served_count && !served; j++)
            served = strcmp(S_routes[i].method, S_served[j].method) == 0 &&
                     strcmp(S_routes[i].pattern, S_served[j].pattern) == 0;
        if (!served) {
            fprintf(stderr, "  catalogue entry %s %s is not served\n", S_routes[i].method,
                    S_routes[i].pattern);
            problems++;
        }
    }
    ASSERT_EQ_INT(problems, 0);
}

TEST(bad_bodies_and_queries_are_refused_on_every_route_and_change_nothing)
{
    long long before = S_entries();
    ASSERT(before > 0);
    for (size_t i = 0; i < S_served_count; i++) {
        const struct api_route *r = &S_served[i];
        char path[512];
        S_path(r->pattern, path, sizeof path);
        bool has_body = strcmp(r->method, "GET") != 0 && strcmp(r->method, "DELETE") != 0;
        if (!has_body) {
            if (strcmp(r->method, "GET") != 0)
                continue;
            for (size_t q = 0; q < QB_ARRAY_COUNT(S_queries); q++) {
                char with_query[1024];
                snprintf(with_query, sizeof with_query, "%s%s", path, S_queries[q]);
                struct call c = {.route = r, .path = with_query};
                struct client_response res;
                long status = S_send(&c, &res);
                S_cases++;
                /* A filter a route does not take is ignored (200); what it
                 * takes and cannot read is a documented 4xx. Never a 5xx. */
                if (status >= 500 || status == 0 ||
                    (status >= 400 && S_code_index(api_error_code(&res)) < 0 &&
                     strcmp(r->pattern, "/metrics") != 0))
                    TEST_FAIL_("GET %s: %ld %.*s", with_query, status,
                               (int)(res.body.size < 200 ? res.body.size : 200),
                               res.body.data != NULL ? res.body.data : "");
                client_response_release(&res);
            }
            continue;
        }
        const struct route_entry *e = S_entry(r->method, r->pattern);
        ASSERT(e != NULL);
        for (size_t b = 0; b < QB_ARRAY_COUNT(S_bodies); b++) {
            const struct body_case *bc = &S_bodies[b];
            if (e->no_body && !bc->never_a_body)
                continue;
            struct call c = {
                .route = r,
                .path = path,
                .body = bc->body,
                .body_size = bc->size != 0 ? bc->size : strlen(bc->body),
                .media_type = bc->media_type,
                .key = e->keyed ? "catalogue-key" : NULL,
            };
            S_expect_refused(&c, bc->what, NULL);
        }
    }
    ASSERT_EQ_INT(S_entries(), before);
}

/* The money routes: each bad amount answered with its code. */
TEST(bad_amounts_currencies_and_keys_are_refused_with_their_codes)
{
    long long before = S_entries();
    ASSERT(before > 0);
    char card_body[256];
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/cards", S_user.token, NULL, &res), 200);
    json_t *cards = api_json(&res);
    client_response_release(&res);
    const char *card_id =
        json_string_value(json_object_get(json_array_get(json_object_get(cards, "items"), 0), "id"));
    ASSERT(card_id != NULL);
    snprintf(card_body, sizeof card_body, "\"card_id\":\"%s\",", card_id);
    json_decref(cards);

    struct api_user payee;
    API_MUST(api_user_new(&S_client, S_admin, &payee));
    char to_body[128];
    snprintf(to_body, sizeof to_body, "\"to\":\"%s\",", payee.id);

    static const struct {
        const char *what;
        const char *value;
        const char *want;
    } amounts[] = {
        {"a negative amount", "-100", "INVALID_AMOUNT PARAM_ERROR"},
        {"a zero amount", "0", "INVALID_AMOUNT PARAM_ERROR"},
        /* Past int64 the JSON parser itself refuses the number. */
        {"an amount past int64", "9223372036854775808", "INVALID_JSON"},
        {"an amount of 2^63 - 1", "9223372036854775807",
         "AMOUNT_OVERFLOW INVALID_AMOUNT LIMIT_EXCEEDED PARAM_ERROR"},
        {"an over-precise amount", "12.5", "INVALID_AMOUNT PARAM_ERROR"},
        {"an amount in exponent form", "1e3", "INVALID_AMOUNT PARAM_ERROR"},
        {"an amount as a string", "\"100\"", "INVALID_AMOUNT PARAM_ERROR"},
        {"an amount of null", "null", "INVALID_AMOUNT PARAM_ERROR"},
    };
    static const struct {
        const char *pattern;
        const char *prefix_kind; /* "card", "to" or "" */
        const char *rest;        /* after the amount */
    } money[] = {
        {"/v1/transfers", "to", ",\"payment_password\":\"" TH_PAY_PASSWORD "\"}"},
        {"/v1/me/topups", "card", ",\"payment_password\":\"" TH_PAY_PASSWORD "\"}"},
        {"/v1/me/withdrawals", "card", ",\"payment_password\":\"" TH_PAY_PASSWORD "\"}"},
        {"/v1/red-packets", "",
         ",\"type\":\"lucky\",\"count\":2,\"payment_password\":\"" TH_PAY_PASSWORD "\"}"},
    };
    for (size_t m = 0; m < QB_ARRAY_COUNT(money); m++) {
        const struct route_entry *e = S_entry("POST", money[m].pattern);
        ASSERT(e != NULL && e->amount[0] != '\0');
        struct api_route route = {.method = "POST", .auth = "HTTP_AUTH_USER"};
        snprintf(route.pattern, sizeof route.pattern, "%s", money[m].pattern);
        const char *prefix = strcmp(money[m].prefix_kind, "card") == 0 ? card_body
                             : strcmp(money[m].prefix_kind, "to") == 0 ? to_body
                                                                       : "";
        char body[512], amount_key[64], currency_key[64];
        /* Keys are the caller's, whatever the route: one per route. */
        snprintf(amount_key, sizeof amount_key, "catalogue-amount-%zu", m);
        snprintf(currency_key, sizeof currency_key, "catalogue-currency-%zu", m);
        for (size_t a = 0; a < QB_ARRAY_COUNT(amounts); a++) {
            snprintf(body, sizeof body, "{%s\"%s\":%s%s", prefix, e->amount, amounts[a].value,
                     money[m].rest);
            struct call c = {.route = &route,
                             .path = route.pattern,
                             .body = body,
                             .body_size = strlen(body),
                             .key = amount_key};
            S_expect_refused(&c, amounts[a].what, amounts[a].want);
        }
        /* An unknown currency, a good amount. */
        snprintf(body, sizeof body, "{%s\"%s\":100,\"currency\":\"XTS\"%s", prefix, e->amount,
                 money[m].rest);
        struct call c = {.route = &route,
                         .path = route.pattern,
                         .body = body,
                         .body_size = strlen(body),
                         .key = currency_key};
        S_expect_refused(&c, "an unknown currency", "INVALID_CURRENCY");
        /* The key: missing, and over 255 characters. */
        snprintf(body, sizeof body, "{%s\"%s\":100%s", prefix, e->amount, money[m].rest);
        c.body_size = strlen(body);
        c.key = NULL;
        S_expect_refused(&c, "no Idempotency-Key", "PARAM_ERROR");
        char long_key[300];
        memset(long_key, 'k', sizeof long_key - 1);
        long_key[sizeof long_key - 1] = '\0';
        c.key = long_key;
        S_expect_refused(&c, "an oversize Idempotency-Key", "PARAM_ERROR");
        c.key = "tab\there";
        S_expect_refused(&c, "an Idempotency-Key with a control character", "PARAM_ERROR");
    }
    /* The merchant API: a native order whose appid is not the signer's,
     * and bad totals. */
    struct api_route native = {.method = "POST", .auth = "HTTP_AUTH_MERCHANT"};
    snprintf(native.pattern, sizeof native.pattern, "/v3/pay/transactions/native");
    static const struct {
        const char *what;
        const char *appid; /* NULL: the merchant's */
        const char *total;
        const char *want;
    } orders[] = {
        {"another appid", "wx0000000000000000", "100", "APPID_MCHID_NOT_MATCH"},
        {"a zero total", NULL, "0", "PARAM_ERROR INVALID_AMOUNT"},
        {"a negative total", NULL, "-1", "PARAM_ERROR INVALID_AMOUNT"},
        {"a fractional total", NULL, "1.5", "PARAM_ERROR INVALID_AMOUNT"},
        {"a total as a string", NULL, "\"100\"", "PARAM_ERROR INVALID_AMOUNT"},
    };
    for (size_t o = 0; o < QB_ARRAY_COUNT(orders); o++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"tea\","
                 "\"out_trade_no\":\"catalogue-%zu\",\"notify_url\":\"https://example.com/n\","
                 "\"amount\":{\"total\":%s,\"currency\":\"CNY\"}}",
                 orders[o].appid != NULL ? orders[o].appid : S_merchant.appid, S_merchant.mchid,
                 o, orders[o].total);
        struct call c = {.route = &native, .path = native.pattern, .body = body,
                         .body_size = strlen(body)};
        S_expect_refused(&c, orders[o].what, orders[o].want);
    }
    ASSERT_EQ_INT(S_entries(), before);
    ASSERT_EQ_INT(th_balance(&S_client, &S_user), 50000);
}

/* Codes no request can be made to provoke on purpose, each with where it
 * is checked instead. Everything else must be asserted by some API test. */
static const char *const S_not_provocable[][2] = {
    {"HOLD_RESOLVED", "a hold captured or voided twice inside the ledger: "
                      "tests/unit/ledger/test_ledger.c"},
    {"RISK_REJECTED", "reserved for the risk engine, which no route consults yet"},
};

static const char *S_exemption(const char *code)
{
    for (size_t i = 0; i < QB_ARRAY_COUNT(S_not_provocable); i++)
        if (strcmp(S_not_provocable[i][0], code) == 0)
            return S_not_provocable[i][1];
    return NULL;
}

TEST(every_error_code_is_provoked_by_some_api_test)
{
    // Each code of error.h must be asserted by name somewhere in tests/api, or be exempt with the
    // place it is checked instead: a code no test provokes is either dead or unchecked.
    char dir_path[1024];
    snprintf(dir_path, sizeof dir_path, "%s/tests/api", S_source_dir());
    static char text[8 * 1024 * 1024];
    static char file[S_SOURCE_SIZE_MAX];
    size_t used = 0;
    DIR *dir = opendir(dir_path);
    ASSERT(dir != NULL);
    struct dirent *d;
    while ((d = readdir(dir)) != NULL) {
        size_t n = strlen(d->d_name);
        /* This file names every exempt code: it proves nothing. */
        if (n < 3 || (strcmp(d->d_name + n - 2, ".c") != 0 && strcmp(d->d_name + n - 2, ".h") != 0) ||
            strcmp(d->d_name, "test_bad_input.c") == 0)
            continue;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir_path, d->d_name);
        ASSERT(test_file_read(path, file, sizeof file));
        size_t size = strlen(file);
        ASSERT(used + size < sizeof text);
        memcpy(text + used, file, size);
        used += size;
    }
    closedir(dir);
    text[used] = '\0';
    ASSERT(used > 100000);
    int missing = 0;
    for (size_t i = 0; i < S_code_count; i++) {
        char quoted[sizeof S_codes[0] + 2];
        snprintf(quoted, sizeof quoted, "\"%.*s\"", (int)sizeof S_codes[0] - 1, S_codes[i]);
        bool tested = strstr(text, quoted) != NULL || S_code_seen[i];
        if (tested && S_exemption(S_codes[i]) != NULL) {
            fprintf(stderr, "  %s: provoked by a test, so drop its exemption\n", S_codes[i]);
            missing++;
        }
        if (!tested && S_exemption(S_codes[i]) == NULL) {
            fprintf(stderr, "  %s: no API test provokes it\n", S_codes[i]);
            missing++;
        }
    }
    ASSERT_EQ_INT(missing, 0);
    fprintf(stderr, "  %ld cases over %zu routes; %zu error codes, each provoked by a test\n",
            S_cases, S_served_count, S_code_count);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    S_fill_bodies();
    if (api_suite_step(S_codes_read(), "read the error codes of src/base/error.h") &&
        api_suite_daemon(&suite, &S_daemon, "main", NULL, S_admin, &S_client) &&
        api_suite_step(th_user_new(&S_client, S_admin, &S_user) &&
                           th_fund(&S_client, S_admin, &S_user, 50000) &&
                           mh_onboard(&S_client, S_admin, -1, &S_merchant),
                       "set up a funded user and a merchant")) {
        RUN(every_route_has_an_entry);
        RUN(bad_bodies_and_queries_are_refused_on_every_route_and_change_nothing);
        RUN(bad_amounts_currencies_and_keys_are_refused_with_their_codes);
        RUN(every_error_code_is_provoked_by_some_api_test);
    }
    mh_release(&S_merchant);
    return api_suite_end(&suite);
}

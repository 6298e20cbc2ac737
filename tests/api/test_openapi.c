/*
 * test_openapi.c — docs/openapi.json against the route table, and the check
 * every API test runs on its answers (api/lib/openapi.h) against known bad
 * answers.
 *
 * The document and the daemon's route table (src/http/routes.c, read as
 * source: the api tests do not link qb_http) must list the same operations,
 * each with the same path parameters, the same query arguments (a /v3
 * route's are the SDKs' and not fixed by the table), and the security
 * scheme of its auth kind. The answer check must refuse a field the
 * document does not name, a missing required field, a wrong type, an enum
 * value not listed, an undocumented status and an undocumented media type,
 * or else the document could drift from the daemon unseen.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/lib/client.h"
#include "api/lib/openapi.h"
#include "api/lib/routes.h"
#include "test.h"

static struct api_route S_routes[API_ROUTES_MAX];
static size_t S_route_count;
static const json_t *S_doc;

static const json_t *S_operation(const char *pattern, const char *method)
{
    char lower[16];
    size_t n = 0;
    for (; method[n] != '\0' && n + 1 < sizeof lower; n++)
        lower[n] = (char)(method[n] - 'A' + 'a');
    lower[n] = '\0';
    return json_object_get(json_object_get(json_object_get(S_doc, "paths"), pattern), lower);
}

/* The names of op's parameters of kind in ("path", "query"), each followed
 * by a space, in the document's order. */
static void S_parameter_names(const json_t *op, const char *in, char *out, size_t out_size)
{
    out[0] = '\0';
    size_t i;
    const json_t *parameter;
    json_array_foreach(json_object_get(op, "parameters"), i, parameter)
    {
        if (strcmp(json_string_value(json_object_get(parameter, "in")), in) != 0)
            continue;
        size_t used = strlen(out);
        snprintf(out + used, out_size - used, "%s ",
                 json_string_value(json_object_get(parameter, "name")));
    }
}

/* Whether the space-separated word lists a and b hold the same words. */
static bool S_same_words(const char *a, const char *b)
{
    size_t count_a = 0, count_b = 0;
    for (const char *p = a; *(p += strspn(p, " ")) != '\0'; p += strcspn(p, " ")) {
        size_t n = strcspn(p, " ");
        bool found = false;
        for (const char *q = b; *(q += strspn(q, " ")) != '\0'; q += strcspn(q, " "))
            found = found || (strcspn(q, " ") == n && strncmp(p, q, n) == 0);
        if (!found)
            return false;
        count_a++;
    }
    for (const char *q = b; *(q += strspn(q, " ")) != '\0'; q += strcspn(q, " "))
        count_b++;
    return count_a == count_b;
}

TEST(every_schema_uses_only_what_the_check_knows)
{
    char err[1024];
    if (!openapi_schemas_supported(err, sizeof err))
        TEST_FAIL_("%s", err);
}

TEST(the_schema_check_refuses_what_it_does_not_know)
{
    // A keyword or a type the check does not know would be a check silently not made.
    char err[1024];
    json_t *doc = (json_t *)openapi_document(err, sizeof err);
    json_t *schemas = json_object_get(json_object_get(doc, "components"), "schemas");
    const char *bad[] = {"{\"type\": \"bogus\"}", "{\"type\": [\"string\", \"date\"]}",
                         "{\"nullable\": true}",
                         "{\"properties\": {\"a\": {\"exclusiveMinimum\": 0}}}",
                         "{\"$ref\": \"#/components/schemas/Nowhere\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *schema = json_loads(bad[i], 0, NULL);
        ASSERT(schema != NULL);
        ASSERT(json_object_set_new(schemas, "ZzCheckedNow", schema) == 0);
        bool passed = openapi_schemas_supported(err, sizeof err);
        ASSERT(json_object_del(schemas, "ZzCheckedNow") == 0);
        if (passed)
            TEST_FAIL_("schema %s passed the check", bad[i]);
    }
    ASSERT(openapi_schemas_supported(err, sizeof err));
}

TEST(every_route_is_documented_as_the_table_says)
{
    for (size_t i = 0; i < S_route_count; i++) {
        const struct api_route *r = &S_routes[i];
        const json_t *op = S_operation(r->pattern, r->method);
        if (op == NULL)
            TEST_FAIL_("%s %s is not in docs/openapi.json", r->method, r->pattern);
        if (!json_is_string(json_object_get(op, "operationId")))
            TEST_FAIL_("%s %s has no operationId", r->method, r->pattern);

        const char *scheme = strcmp(r->auth, "HTTP_AUTH_USER") == 0       ? "user"
                             : strcmp(r->auth, "HTTP_AUTH_ADMIN") == 0    ? "admin"
                             : strcmp(r->auth, "HTTP_AUTH_MERCHANT") == 0 ? "merchant"
                                                                          : NULL;
        const json_t *security = json_object_get(op, "security");
        if (!json_is_array(security))
            TEST_FAIL_("%s %s says no security", r->method, r->pattern);
        if (scheme == NULL ? json_array_size(security) != 0
                           : json_array_size(security) != 1 ||
                                 json_object_get(json_array_get(security, 0), scheme) == NULL)
            TEST_FAIL_("%s %s: the table says %s, the document another security", r->method,
                       r->pattern, r->auth);

        char want[256] = "", have[512];
        for (const char *p = strchr(r->pattern, '{'); p != NULL; p = strchr(p + 1, '{')) {
            size_t used = strlen(want);
            snprintf(want + used, sizeof want - used, "%.*s ", (int)strcspn(p + 1, "}"), p + 1);
        }
        S_parameter_names(op, "path", have, sizeof have);
        if (!S_same_words(want, have))
            TEST_FAIL_("%s %s: path parameters \"%s\" in the document, \"%s\" in the pattern",
                       r->method, r->pattern, have, want);
        S_parameter_names(op, "query", have, sizeof have);
        if (!r->query_any && !S_same_words(r->query, have))
            TEST_FAIL_("%s %s: query arguments \"%s\" in the document, \"%s\" in the table",
                       r->method, r->pattern, have, r->query);

        bool success = false;
        const char *status;
        const json_t *answer;
        json_object_foreach(json_object_get(op, "responses"), status, answer)
        {
            success = success || status[0] == '2';
        }
        if (!success)
            TEST_FAIL_("%s %s documents no success", r->method, r->pattern);
    }
}

TEST(every_documented_operation_is_served)
{
    const char *path;
    const json_t *item;
    json_t *ids = json_object();
    json_object_foreach(json_object_get(S_doc, "paths"), path, item)
    {
        const char *method;
        const json_t *op;
        json_object_foreach((json_t *)item, method, op)
        {
            char upper[16];
            size_t n = 0;
            for (; method[n] != '\0' && n + 1 < sizeof upper; n++)
                upper[n] = (char)(method[n] >= 'a' && method[n] <= 'z' ? method[n] - 'a' + 'A'
                                                                       : method[n]);
            upper[n] = '\0';
            bool served = false;
            for (size_t i = 0; i < S_route_count && !served; i++)
                served = strcmp(S_routes[i].method, upper) == 0 &&
                         strcmp(S_routes[i].pattern, path) == 0;
            if (!served) {
                json_decref(ids);
                TEST_FAIL_("%s %s is documented but not in the route table", upper, path);
            }
            const char *id = json_string_value(json_object_get(op, "operationId"));
            if (id != NULL && json_object_get(ids, id) != NULL) {
                json_decref(ids);
                TEST_FAIL_("operationId %s twice", id);
            }
            if (id != NULL)
                json_object_set_new(ids, id, json_true());
        }
    }
    json_decref(ids);
}

/* A response as client_request fills it. */
static void S_response(struct client_response *res, long status, const char *type, const char *body)
{
    memset(res, 0, sizeof *res);
    buf_init(&res->headers, CLIENT_HEADERS_SIZE_MAX);
    buf_init(&res->body, CLIENT_BODY_SIZE_MAX);
    char headers[256];
    snprintf(headers, sizeof headers, "HTTP/1.1 %ld X\r\nContent-Type: %s\r\n\r\n", status, type);
    ASSERT(buf_append_str(&res->headers, headers) == QB_OK);
    ASSERT(buf_append_str(&res->body, body) == QB_OK);
    res->status = status;
}

static bool S_valid(const char *method, const char *path, long status, const char *type,
                    const char *body, char *err, size_t err_size)
{
    struct client_response res;
    S_response(&res, status, type, body);
    bool ok = openapi_response_valid(method, path, &res, err, err_size);
    client_response_release(&res);
    return ok;
}

#define S_JSON "application/json; charset=utf-8"

TEST(the_check_refuses_answers_the_document_does_not_describe)
{
    char err[1024];
    /* The answers of GET /v1/me/balances the document describes... */
    const char *good =
        "{\"balances\": [{\"currency\": \"CNY\", \"available\": 100, \"pending\": 0}]}";
    if (!S_valid("GET", "/v1/me/balances", 200, S_JSON, good, err, sizeof err))
        TEST_FAIL_("a good answer refused: %s", err);
    ASSERT(S_valid("GET", "/v1/me/balances", 401, S_JSON,
                   "{\"code\": \"UNAUTHORIZED\", \"message\": \"log in\"}", err, sizeof err));
    ASSERT(S_valid("HEAD", "/v1/me/balances", 200, S_JSON, "", err, sizeof err));
    /* ...and what it does not: */
    const char *bad[][3] = {
        {"200", S_JSON, "{\"balances\": [], \"surprise\": 1}"}, /* unnamed */
        {"200", S_JSON, "{}"},                                  /* required */
        {"200", S_JSON, "{\"balances\": {}}"},                  /* type */
        {"200", S_JSON,                                         /* a nested type */
         "{\"balances\": [{\"currency\": \"CNY\", \"available\": \"100\", \"pending\": 0}]}"},
        {"200", S_JSON, "not json"},                                              /* syntax */
        {"200", "text/html", "<p>hi</p>"},                                        /* media */
        {"418", S_JSON, "{\"code\": \"TEAPOT\", \"message\": \"no\"}"},           /* status */
        {"401", S_JSON, "{\"code\": \"unauthorized\", \"message\": \"log in\"}"}, /* pattern */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (S_valid("GET", "/v1/me/balances", atol(bad[i][0]), bad[i][1], bad[i][2], err,
                    sizeof err))
            TEST_FAIL_("answer %zu (%s %s) passed the check", i, bad[i][0], bad[i][2]);
    }
    /* Paths the document does not have, and methods a path does not take,
     * are the daemon's own 404 and 405: not checked. */
    ASSERT(S_valid("GET", "/v1/nowhere", 404, "text/html", "x", err, sizeof err));
    ASSERT(S_valid("PATCH", "/v1/me/balances", 405, "text/html", "x", err, sizeof err));
}

TEST(the_check_matches_a_templated_path_with_its_query)
{
    char err[1024];
    /* A card list answer is not a payment: the template, not the prefix, decides. */
    ASSERT(!S_valid("GET", "/v1/me/payments/pay_123?x=1", 200, S_JSON, "{\"cards\": []}", err,
                    sizeof err));
    ASSERT(strstr(err, "/v1/me/payments/{id}") != NULL);
}

int main(void)
{
    char err[1200];
    if (!api_routes_read(S_routes, &S_route_count, err, sizeof err)) {
        fprintf(stderr, "FAIL reading the route table: %s\n", err);
        return 1;
    }
    S_doc = openapi_document(err, sizeof err);
    if (S_doc == NULL) {
        fprintf(stderr, "FAIL reading docs/openapi.json: %s\n", err);
        return 1;
    }
    RUN(every_schema_uses_only_what_the_check_knows);
    RUN(the_schema_check_refuses_what_it_does_not_know);
    RUN(every_route_is_documented_as_the_table_says);
    RUN(every_documented_operation_is_served);
    RUN(the_check_refuses_answers_the_document_does_not_describe);
    RUN(the_check_matches_a_templated_path_with_its_query);
    return test_summary();
}

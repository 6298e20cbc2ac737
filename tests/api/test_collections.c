/*
 * test_collections.c — group collections (群收款) as clients see them: POST
 * /v1/collections, GET /v1/me/collections, GET /v1/collections/{id}, POST
 * /v1/collections/{id}/payments and /close, over HTTP: each payment a
 * transfer to the asker, one per payer and no more than asked, a retry
 * under its key answered the same, the bills of both, and every refusal
 * moving nothing.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <jansson.h>

#include "api/lib/suite.h"
#include "api/transfer_helpers.h"

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];

#define S_PAY_BODY "{\"payment_password\":\"" TH_PAY_PASSWORD "\"}"

/* u asks for amount each from count payers: the collection's id into id. */
static void S_ask(const struct api_user *u, const char *title, long long amount, int count,
                  char id[API_ID_SIZE_MAX])
{
    char body[256];
    snprintf(body, sizeof body, "{\"title\":\"%s\",\"amount\":%lld,\"count\":%d}", title, amount,
             count);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/collections", u->token, body, &res), 201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "OPEN");
    snprintf(id, API_ID_SIZE_MAX, "%s", api_json_str(&res, "id"));
    client_response_release(&res);
}

/* u pays collection id under key: the status; the answer stays in res. */
static long S_pay(const struct api_user *u, const char *id, const char *key,
                  struct client_response *res)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/collections/%s/payments", id);
    return api_call_idem(&S_client, "POST", path, u->token, key, S_PAY_BODY, res);
}

/* GET /v1/collections/{id} as u: the body as JSON (decref it). */
static json_t *S_get(const struct api_user *u, const char *id)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/collections/%s", id);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, u->token, NULL, &res), 200);
    json_t *j = api_json(&res);
    client_response_release(&res);
    return j;
}

static long long S_int(const json_t *j, const char *name)
{
    return (long long)json_integer_value(json_object_get(j, name));
}

TEST(a_group_pays_its_share_each_once_and_the_last_completes_it)
{
    struct api_user asker, a, b, c;
    API_MUST(th_user_new(&S_client, S_admin, &asker));
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(th_user_new(&S_client, S_admin, &b));
    API_MUST(th_user_new(&S_client, S_admin, &c));
    API_MUST(th_fund(&S_client, S_admin, &a, 10000));
    API_MUST(th_fund(&S_client, S_admin, &b, 10000));
    API_MUST(th_fund(&S_client, S_admin, &c, 10000));
    char id[API_ID_SIZE_MAX];
    S_ask(&asker, "周五火锅 AA", 5000, 2, id);

    // The first payer's transfer to the asker, the title its memo; a retry under the key is
    // the same answer; another key is refused naming the payment.
    struct client_response res;
    ASSERT_EQ_INT(S_pay(&a, id, "aa-0001", &res), 201);
    char payment[API_ID_SIZE_MAX], first[4096];
    snprintf(payment, sizeof payment, "%s", api_json_str(&res, "id"));
    snprintf(first, sizeof first, "%.*s", (int)res.body.size, res.body.data);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "SUCCESS");
    ASSERT_EQ_STR(api_json_str(&res, "memo"), "周五火锅 AA");
    json_t *j = api_json(&res);
    ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(j, "to"), "user_id")),
                  asker.id);
    ASSERT_EQ_INT(S_int(j, "amount"), 5000);
    json_decref(j);
    client_response_release(&res);
    ASSERT_EQ_INT(S_pay(&a, id, "aa-0001", &res), 201);
    ASSERT_EQ_STR(api_header(&res, "Idempotent-Replayed"), "true");
    ASSERT_EQ_INT((long)res.body.size, (long)strlen(first));
    ASSERT(memcmp(res.body.data, first, res.body.size) == 0);
    client_response_release(&res);
    ASSERT_EQ_INT(S_pay(&a, id, "aa-0002", &res), 409);
    ASSERT_EQ_STR(api_json_str(&res, "code"), "COLLECTION_PAID"); /* with payment_id */
    ASSERT_EQ_STR(api_json_str(&res, "payment_id"), payment);
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 5000);
    ASSERT_EQ_INT(th_balance(&S_client, &asker), 5000);

    // Anyone with the id reads it: names masked, the caller's own payment marked.
    j = S_get(&a, id);
    ASSERT_EQ_INT(S_int(j, "paid_count"), 1);
    ASSERT_EQ_INT(S_int(j, "paid_amount"), 5000);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "my_payment_id")), payment);
    json_t *paid = json_object_get(j, "payments");
    ASSERT_EQ_INT(json_array_size(paid), 1);
    ASSERT(json_is_true(json_object_get(json_array_get(paid, 0), "me")));
    ASSERT(json_is_false(json_object_get(json_object_get(j, "creator"), "me")));
    json_decref(j);
    // The transfer names the collection it paid, for its payer and for the asker.
    char path[128];
    snprintf(path, sizeof path, "/v1/transfers/%s", payment);
    j = th_get_json(&S_client, path, a.token);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "collection_id")), id);
    json_decref(j);
    j = th_get_json(&S_client, path, asker.token);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "collection_id")), id);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "direction")), "in");
    json_decref(j);
    j = S_get(&c, id);
    ASSERT(json_is_null(json_object_get(j, "my_payment_id")));
    ASSERT(json_is_false(json_object_get(json_array_get(json_object_get(j, "payments"), 0), "me")));
    json_decref(j);

    // The second completes it; a third is too late and pays nothing.
    ASSERT_EQ_INT(S_pay(&b, id, "aa-0003", &res), 201);
    client_response_release(&res);
    ASSERT_EQ_INT(S_pay(&c, id, "aa-0004", &res), 409);
    ASSERT_EQ_STR(api_error_code(&res), "COLLECTION_CLOSED");
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &c), 10000);
    ASSERT_EQ_INT(th_balance(&S_client, &asker), 10000);
    // An operator asked about it sees who asked and who paid, by id; the users see no ids.
    snprintf(path, sizeof path, "/admin/collections/%s", id);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, S_admin, NULL, &res), 200);
    j = api_json(&res);
    client_response_release(&res);
    ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(j, "creator"), "user_id")),
                  asker.id);
    json_t *first_paid = json_array_get(json_object_get(j, "payments"), 0);
    ASSERT_EQ_STR(json_string_value(json_object_get(first_paid, "user_id")), a.id);
    ASSERT_EQ_STR(json_string_value(json_object_get(first_paid, "payment_id")), payment);
    json_decref(j);
    j = S_get(&asker, id);
    ASSERT(json_object_get(json_object_get(j, "creator"), "user_id") == NULL);
    ASSERT(json_object_get(json_array_get(json_object_get(j, "payments"), 0), "user_id") == NULL);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "status")), "COMPLETED");
    ASSERT(json_is_true(json_object_get(json_object_get(j, "creator"), "me")));
    ASSERT(json_is_string(json_object_get(j, "closed_at")));
    json_decref(j);

    // The asker's list, and their bills: two transfers in, the title as memo.
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/collections", asker.token, NULL, &res), 200);
    j = api_json(&res);
    client_response_release(&res);
    json_t *items = json_object_get(j, "items");
    ASSERT_EQ_INT(json_array_size(items), 1);
    ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(items, 0), "id")), id);
    ASSERT(json_object_get(json_array_get(items, 0), "payments") == NULL);
    json_decref(j);
    ASSERT_EQ_INT(
        api_call(&S_client, "GET", "/v1/me/transactions?type=transfer", asker.token, NULL, &res),
        200);
    j = api_json(&res);
    client_response_release(&res);
    items = json_object_get(j, "items");
    ASSERT_EQ_INT(json_array_size(items), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *line = json_array_get(items, i);
        ASSERT_EQ_STR(json_string_value(json_object_get(line, "direction")), "in");
        ASSERT_EQ_STR(json_string_value(json_object_get(line, "memo")), "周五火锅 AA");
    }
    json_decref(j);
}

TEST(refusals_move_nothing)
{
    struct api_user asker, a, other;
    API_MUST(th_user_new(&S_client, S_admin, &asker));
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(th_user_new(&S_client, S_admin, &other));
    API_MUST(th_fund(&S_client, S_admin, &a, 3000));
    static const struct {
        const char *body;
        long status;
        const char *code;
    } asks[] = {
        {"{\"title\":\"   \",\"amount\":100,\"count\":2}", 400, "PARAM_ERROR"},
        {"{\"title\":\"x\",\"amount\":0,\"count\":2}", 400, "INVALID_AMOUNT"},
        {"{\"title\":\"x\",\"amount\":100,\"count\":0}", 400, "PARAM_ERROR"},
        {"{\"title\":\"x\",\"amount\":100,\"count\":101}", 400, "PARAM_ERROR"},
        {"{\"title\":\"x\",\"amount\":100,\"count\":2,\"currency\":\"USD\"}", 400,
         "INVALID_CURRENCY"},
        {"{\"amount\":100,\"count\":2}", 400, "PARAM_ERROR"},
    };
    struct client_response res;
    for (size_t i = 0; i < QB_ARRAY_COUNT(asks); i++) {
        ASSERT_EQ_INT(
            api_call(&S_client, "POST", "/v1/collections", asker.token, asks[i].body, &res),
            asks[i].status);
        ASSERT_EQ_STR(api_error_code(&res), asks[i].code);
        client_response_release(&res);
    }
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/collections", asker.token, NULL, &res), 200);
    json_t *j = api_json(&res);
    client_response_release(&res);
    ASSERT_EQ_INT(json_array_size(json_object_get(j, "items")), 0);
    json_decref(j);

    char id[API_ID_SIZE_MAX];
    S_ask(&asker, "电影票", 4500, 3, id);
    ASSERT_EQ_INT(S_pay(&a, id, NULL, &res), 400); /* no key */
    client_response_release(&res);
    ASSERT_EQ_INT(S_pay(&asker, id, "own-0001", &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "SELF_TRANSFER");
    client_response_release(&res);
    ASSERT_EQ_INT(S_pay(&a, id, "poor-0001", &res), 402);
    ASSERT_EQ_STR(api_error_code(&res), "INSUFFICIENT_BALANCE");
    client_response_release(&res);
    ASSERT_EQ_INT(S_pay(&a, "gc_00000000000000000000000000", "none-0001", &res), 404);
    client_response_release(&res);
    ASSERT_EQ_INT(S_pay(&a, "rp_00000000000000000000000000", "none-0002", &res), 404);
    client_response_release(&res);

    // Only its asker closes it; then it takes nothing.
    char path[128];
    snprintf(path, sizeof path, "/v1/collections/%s/close", id);
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, other.token, NULL, &res), 404);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "POST", path, asker.token, NULL, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "CLOSED");
    client_response_release(&res);
    API_MUST(th_fund(&S_client, S_admin, &a, 3000));
    ASSERT_EQ_INT(S_pay(&a, id, "late-0001", &res), 409);
    ASSERT_EQ_STR(api_error_code(&res), "COLLECTION_CLOSED");
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 6000);
    ASSERT_EQ_INT(th_balance(&S_client, &asker), 0);
    j = S_get(&other, id);
    ASSERT_EQ_INT(S_int(j, "paid_count"), 0);
    ASSERT_EQ_INT(json_array_size(json_object_get(j, "payments")), 0);
    json_decref(j);

    // A frozen wallet asks for nothing: its friends could not pay it.
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/freeze", other.token, NULL, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/collections", other.token,
                           "{\"title\":\"x\",\"amount\":100,\"count\":2}", &res),
                  403);
    ASSERT_EQ_STR(api_error_code(&res), "ACCOUNT_FROZEN");
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/collections", other.token, NULL, &res), 200);
    j = api_json(&res);
    client_response_release(&res);
    ASSERT_EQ_INT(json_array_size(json_object_get(j, "items")), 0);
    json_decref(j);
}

TEST(a_collections_code_is_scanned_resolved_and_paid_by_its_id)
{
    // The asker shows the collection's QR code at the table; a friend scans it, sees what it is
    // and who asks, and pays the collection it names. Once paid in full its code is refused.
    struct api_user asker, a;
    API_MUST(th_user_new(&S_client, S_admin, &asker));
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(th_fund(&S_client, S_admin, &a, 5000));
    char id[API_ID_SIZE_MAX];
    S_ask(&asker, "KTV 唱歌", 3300, 1, id);
    char path[128];
    snprintf(path, sizeof path, "/v1/collections/%s/code", id);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, asker.token, NULL, &res), 200);
    ASSERT_EQ_STR(api_json_str(&res, "kind"), "collection");
    ASSERT_EQ_STR(api_json_str(&res, "collection_id"), id);
    ASSERT_EQ_STR(api_json_str(&res, "title"), "KTV 唱歌");
    ASSERT(strncmp(api_json_str(&res, "svg"), "<svg", 4) == 0);
    char payload[512];
    snprintf(payload, sizeof payload, "%s", api_json_str(&res, "payload"));
    client_response_release(&res);
    char want[128];
    snprintf(want, sizeof want, "qianbao://pay?v=1&k=g&id=%s&s=", id);
    ASSERT(strncmp(payload, want, strlen(want)) == 0);
    char png_path[160];
    snprintf(png_path, sizeof png_path, "%s?format=png", path);
    ASSERT_EQ_INT(api_call(&S_client, "GET", png_path, a.token, NULL, &res), 200);
    ASSERT(res.body.size > 100 && memcmp(res.body.data, "\x89PNG\r\n\x1a\n", 8) == 0);
    client_response_release(&res);

    char body[768];
    snprintf(body, sizeof body, "{\"payload\":\"%s\"}", payload);
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/qr/resolve", a.token, body, &res), 200);
    json_t *j = api_json(&res);
    client_response_release(&res);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "kind")), "collection");
    ASSERT_EQ_INT(S_int(j, "amount"), 3300);
    ASSERT(json_is_false(json_object_get(j, "self")));
    json_t *collection = json_object_get(j, "collection");
    ASSERT_EQ_STR(json_string_value(json_object_get(collection, "id")), id);
    ASSERT(json_is_null(json_object_get(collection, "my_payment_id")));
    json_decref(j);
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/qr/resolve", asker.token, body, &res), 200);
    j = api_json(&res);
    client_response_release(&res);
    ASSERT(json_is_true(json_object_get(j, "self")));
    json_decref(j);
    /* Sent where a till code or a receive code is paid, it is refused as a code of another
     * kind, with the route that pays it: not taken for a merchant or a person, and nothing is
     * kept under the keys. */
    const char *wrong[][2] = {{"/v1/me/order-payments", ""},
                              {"/v1/me/order-payments", ",\"amount\":3300"},
                              {"/v1/transfers", ",\"amount\":3300"}};
    for (size_t i = 0; i < QB_ARRAY_COUNT(wrong); i++) {
        char key[32], wrong_body[900];
        snprintf(key, sizeof key, "scan-wrong-%zu", i);
        snprintf(wrong_body, sizeof wrong_body,
                 "{\"payload\":\"%s\"%s,\"payment_password\":\"" TH_PAY_PASSWORD "\"}", payload,
                 wrong[i][1]);
        ASSERT_EQ_INT(api_call_idem(&S_client, "POST", wrong[i][0], a.token, key, wrong_body, &res),
                      400);
        ASSERT_EQ_STR(api_error_code(&res), "QR_INVALID");
        ASSERT(strstr(res.body.data, "/v1/collections/") != NULL);
        client_response_release(&res);
    }
    ASSERT_EQ_INT(th_balance(&S_client, &a), 5000);
    ASSERT_EQ_INT(S_pay(&a, id, "scan-0001", &res), 201);
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &asker), 3300);

    // Paid in full: neither the code nor the resolve leads anyone to a refusal at the till.
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/qr/resolve", a.token, body, &res), 409);
    ASSERT_EQ_STR(api_error_code(&res), "COLLECTION_CLOSED");
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, asker.token, NULL, &res), 409);
    ASSERT_EQ_STR(api_error_code(&res), "COLLECTION_CLOSED");
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/collections/gc_00000000000000000000000000/code",
                           a.token, NULL, &res),
                  404);
    client_response_release(&res);
    snprintf(png_path, sizeof png_path, "%s?format=gif", path);
    ASSERT_EQ_INT(api_call(&S_client, "GET", png_path, a.token, NULL, &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
    client_response_release(&res);

    // An asker whose wallet takes no money now: the scan says so, as a receive code's would.
    S_ask(&asker, "奶茶", 1500, 2, id);
    snprintf(path, sizeof path, "/v1/collections/%s/code", id);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, asker.token, NULL, &res), 200);
    snprintf(body, sizeof body, "{\"payload\":\"%s\"}", api_json_str(&res, "payload"));
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/freeze", asker.token, NULL, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/qr/resolve", a.token, body, &res), 403);
    ASSERT_EQ_STR(api_error_code(&res), "PAYEE_UNAVAILABLE");
    client_response_release(&res);
}

TEST(a_payment_sent_back_is_paid_no_more_and_may_be_paid_again)
{
    // The asker sends a payment back (POST /v1/transfers/{id}/return): the collection shows it
    // RETURNED, not paid, its figures drop, the one it completed is OPEN again, and its payer,
    // no longer told COLLECTION_PAID, pays again. Then the asker sends the new payment back while
    // its payer pays again from seven devices at once: whatever order the daemon takes them in,
    // at most one of those payments is taken, and the figures are the payments not sent back.
    struct api_user asker, a, b;
    API_MUST(th_user_new(&S_client, S_admin, &asker));
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(th_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 20000));
    API_MUST(th_fund(&S_client, S_admin, &b, 10000));
    char id[API_ID_SIZE_MAX], payment[API_ID_SIZE_MAX], path[128];
    S_ask(&asker, "周末露营", 5000, 2, id);
    struct client_response res;
    ASSERT_EQ_INT(S_pay(&a, id, "camp-a-1", &res), 201);
    snprintf(payment, sizeof payment, "%s", api_json_str(&res, "id"));
    client_response_release(&res);
    ASSERT_EQ_INT(S_pay(&b, id, "camp-b-1", &res), 201);
    client_response_release(&res);

    snprintf(path, sizeof path, "/v1/transfers/%s/return", payment);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", path, asker.token, "camp-back-1", "{}", &res),
                  201);
    client_response_release(&res);
    json_t *j = S_get(&a, id);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "status")), "OPEN");
    ASSERT_EQ_INT(S_int(j, "paid_count"), 1);
    ASSERT_EQ_INT(S_int(j, "paid_amount"), 5000);
    ASSERT(json_is_null(json_object_get(j, "closed_at")));
    ASSERT(json_is_null(json_object_get(j, "my_payment_id")));
    json_t *rows = json_object_get(j, "payments");
    ASSERT_EQ_INT(json_array_size(rows), 2);
    ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(rows, 0), "status")),
                  "RETURNED");
    ASSERT(json_is_string(json_object_get(json_array_get(rows, 0), "returned_at")));
    ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(rows, 1), "status")), "PAID");
    ASSERT(json_is_null(json_object_get(json_array_get(rows, 1), "returned_at")));
    json_decref(j);
    // The return again under its key: the same answer, the figures as they were.
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", path, asker.token, "camp-back-1", "{}", &res),
                  201);
    client_response_release(&res);
    j = S_get(&a, id);
    ASSERT_EQ_INT(S_int(j, "paid_count"), 1);
    json_decref(j);

    ASSERT_EQ_INT(S_pay(&a, id, "camp-a-2", &res), 201);
    snprintf(payment, sizeof payment, "%s", api_json_str(&res, "id"));
    client_response_release(&res);
    j = S_get(&a, id);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "status")), "COMPLETED");
    ASSERT_EQ_INT(S_int(j, "paid_count"), 2);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "my_payment_id")), payment);
    json_decref(j);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 15000);

    // The return and seven payments at once.
    static struct th_call calls[8];
    static char keys[8][32], back_path[128], pay_path[128];
    snprintf(back_path, sizeof back_path, "/v1/transfers/%s/return", payment);
    snprintf(pay_path, sizeof pay_path, "/v1/collections/%s/payments", id);
    memset(calls, 0, sizeof calls);
    calls[0] = (struct th_call){
        .path = back_path, .token = asker.token, .key = "camp-back-2", .body = "{}"};
    for (int i = 1; i < 8; i++) {
        snprintf(keys[i], sizeof keys[i], "camp-race-%d", i);
        calls[i] = (struct th_call){
            .path = pay_path, .token = a.token, .key = keys[i], .body = S_PAY_BODY};
    }
    th_burst_run(S_daemon.base_url, calls, 8, 8);
    ASSERT_EQ_INT(calls[0].status, 201);
    int taken = 0;
    for (int i = 1; i < 8; i++) {
        if (calls[i].status == 201)
            taken++;
        else if (calls[i].status != 409 || strcmp(calls[i].code, "COLLECTION_PAID") != 0)
            TEST_FAIL_("call %d: %ld %s", i, calls[i].status, calls[i].answer);
    }
    ASSERT(taken <= 1);
    j = S_get(&a, id);
    ASSERT_EQ_INT(S_int(j, "paid_count"), 1 + taken);
    ASSERT_EQ_INT(S_int(j, "paid_amount"), 5000 * (1 + taken));
    ASSERT_EQ_INT(json_array_size(json_object_get(j, "payments")), 3 + (size_t)taken);
    json_decref(j);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 20000 - 5000 * taken);
    ASSERT_EQ_INT(th_balance(&S_client, &asker), 5000 * (1 + taken));
}

TEST(a_retried_ask_under_its_key_makes_one_collection)
{
    // An asker whose answer was lost asks again under the same Idempotency-Key: the first
    // collection comes back, byte for byte, and no second one is made to sit OPEN for 30 days.
    // The key under another body is refused and makes nothing; a malformed key is refused; no key
    // at all still asks, as before.
    struct api_user asker;
    API_MUST(th_user_new(&S_client, S_admin, &asker));
    const char *body = "{\"title\":\"周五火锅 AA\",\"amount\":5000,\"count\":4}";
    struct client_response res;
    ASSERT_EQ_INT(
        api_call_idem(&S_client, "POST", "/v1/collections", asker.token, "ask-0001", body, &res),
        201);
    char id[API_ID_SIZE_MAX], first[4096];
    snprintf(id, sizeof id, "%s", api_json_str(&res, "id"));
    snprintf(first, sizeof first, "%.*s", (int)res.body.size, res.body.data);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "OPEN");
    client_response_release(&res);
    ASSERT_EQ_INT(
        api_call_idem(&S_client, "POST", "/v1/collections", asker.token, "ask-0001", body, &res),
        201);
    ASSERT_EQ_STR(api_header(&res, "Idempotent-Replayed"), "true");
    ASSERT_EQ_INT((long)res.body.size, (long)strlen(first));
    ASSERT(memcmp(res.body.data, first, res.body.size) == 0);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/collections", asker.token, "ask-0001",
                                "{\"title\":\"电影票\",\"amount\":4500,\"count\":2}", &res),
                  422);
    ASSERT_EQ_STR(api_error_code(&res), "IDEMPOTENCY_MISMATCH");
    client_response_release(&res);
    char long_key[300];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    ASSERT_EQ_INT(
        api_call_idem(&S_client, "POST", "/v1/collections", asker.token, long_key, body, &res),
        400);
    ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/collections", asker.token, NULL, &res), 200);
    json_t *j = api_json(&res);
    client_response_release(&res);
    json_t *items = json_object_get(j, "items");
    ASSERT_EQ_INT(json_array_size(items), 1);
    ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(items, 0), "id")), id);
    json_decref(j);

    // Without a key it asks anew each time, and answers as a keyed ask does.
    char other[API_ID_SIZE_MAX];
    S_ask(&asker, "周五火锅 AA", 5000, 4, other);
    ASSERT(strcmp(other, id) != 0);
}

/* The payer and the asker of S_churn: a pays, the asker sends it back,
 * rounds times, on a connection of their own. */
struct S_churn {
    const struct api_user *asker, *payer;
    const char *id;
    int rounds;
    atomic_bool done;
    int failures;
};

static void *S_churn_run(void *arg)
{
    struct S_churn *c = arg;
    struct client client;
    client_init(&client, S_daemon.base_url);
    char pay_path[128], key[48], back_path[128];
    snprintf(pay_path, sizeof pay_path, "/v1/collections/%s/payments", c->id);
    for (int i = 0; i < c->rounds; i++) {
        struct client_response res;
        snprintf(key, sizeof key, "churn-pay-%d", i);
        long status =
            api_call_idem(&client, "POST", pay_path, c->payer->token, key, S_PAY_BODY, &res);
        snprintf(back_path, sizeof back_path, "/v1/transfers/%s/return",
                 status == 201 ? api_json_str(&res, "id") : "none");
        client_response_release(&res);
        snprintf(key, sizeof key, "churn-back-%d", i);
        if (status != 201 ||
            api_call_idem(&client, "POST", back_path, c->asker->token, key, "{}", &res) != 201)
            c->failures++;
        else
            client_response_release(&res);
    }
    client_release(&client);
    atomic_store(&c->done, true);
    return NULL;
}

TEST(a_scanned_collection_is_shown_as_of_one_moment)
{
    // A friend scanning the code while others pay and are paid back sees the collection as it
    // was at one moment: as many rows PAID as paid_count says, whatever lands between the reads
    // of the collection and of its payments (each read was its own snapshot before).
    struct api_user asker, a, viewer;
    API_MUST(th_user_new(&S_client, S_admin, &asker));
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(th_user_new(&S_client, S_admin, &viewer));
    API_MUST(th_fund(&S_client, S_admin, &a, 1000));
    char id[API_ID_SIZE_MAX], path[128];
    S_ask(&asker, "奶茶", 1, 2, id);
    snprintf(path, sizeof path, "/v1/collections/%s/code", id);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, asker.token, NULL, &res), 200);
    char body[768];
    snprintf(body, sizeof body, "{\"payload\":\"%s\"}", api_json_str(&res, "payload"));
    client_response_release(&res);

    struct S_churn churn = {.asker = &asker, .payer = &a, .id = id, .rounds = 90};
    atomic_init(&churn.done, false);
    pthread_t thread;
    ASSERT_EQ_INT(pthread_create(&thread, NULL, S_churn_run, &churn), 0);
    int resolves = 0, torn = 0;
    while (!atomic_load(&churn.done)) {
        ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/qr/resolve", viewer.token, body, &res), 200);
        json_t *j = api_json(&res);
        client_response_release(&res);
        json_t *collection = json_object_get(j, "collection");
        json_t *rows = json_object_get(collection, "payments");
        long long paid = 0;
        for (size_t i = 0; i < json_array_size(rows); i++)
            paid += strcmp(json_string_value(json_object_get(json_array_get(rows, i), "status")),
                           "PAID") == 0;
        if (paid != S_int(collection, "paid_count"))
            torn++;
        json_decref(j);
        resolves++;
    }
    pthread_join(thread, NULL);
    ASSERT_EQ_INT(churn.failures, 0);
    ASSERT(resolves > 0);
    if (torn != 0)
        TEST_FAIL_("%d of %d answers with paid_count other than their PAID rows", torn, resolves);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 1000);
}

TEST(a_collection_past_its_time_reads_closed_while_the_clock_is_behind)
{
    // The clock set back behind the newest entry (a wrong NTP step, a restart on another machine):
    // commands keep the ledger's time, which never goes back, and refuse a collection past its 30
    // days; what the asker and the payers read must say so too, not OPEN with a code to scan.
    struct api_user asker, payer;
    API_MUST(th_user_new(&S_client, S_admin, &asker));
    API_MUST(th_user_new(&S_client, S_admin, &payer));
    API_MUST(th_fund(&S_client, S_admin, &payer, 1000));
    char id[API_ID_SIZE_MAX], path[128];
    S_ask(&asker, "聚餐", 100, 2, id);
    struct api_user *const users[] = {&asker, &payer};
    const long long day_ms = 24LL * 3600 * 1000;
    th_restart_at(&S_daemon, &S_client, S_root, S_admin, 31 * day_ms, users, 2);
    API_MUST(th_fund(&S_client, S_admin, &asker, 1)); /* an entry 31 days on */
    th_restart_at(&S_daemon, &S_client, S_root, S_admin, 0, users, 2);

    json_t *j = S_get(&payer, id);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "status")), "EXPIRED");
    json_decref(j);
    struct client_response res;
    snprintf(path, sizeof path, "/v1/collections/%s/code", id);
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, asker.token, NULL, &res), 409);
    ASSERT_EQ_STR(api_json_str(&res, "code"), "COLLECTION_CLOSED");
    client_response_release(&res);
    ASSERT_EQ_INT(S_pay(&payer, id, "late-1", &res), 409);
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &payer), 1000);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    if (!api_suite_daemon(&suite, &S_daemon, "main", NULL, S_admin, &S_client))
        return api_suite_end(&suite);

    RUN(a_group_pays_its_share_each_once_and_the_last_completes_it);
    RUN(refusals_move_nothing);
    RUN(a_collections_code_is_scanned_resolved_and_paid_by_its_id);
    RUN(a_payment_sent_back_is_paid_no_more_and_may_be_paid_again);
    RUN(a_retried_ask_under_its_key_makes_one_collection);
    RUN(a_scanned_collection_is_shown_as_of_one_moment);
    RUN(a_collection_past_its_time_reads_closed_while_the_clock_is_behind); /* last: the clock */

    api_suite_stop(&suite);
    api_suite_verify_ledger(&suite, &S_daemon);
    return api_suite_end(&suite);
}

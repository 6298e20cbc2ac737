/*
 * transfer_helpers.h — what the transfer, idempotency and limits API tests
 * share: money on a user's balance through the public top-up route, and
 * bursts of keyed requests from many threads.
 *
 * Funding goes the way a client's does (docs/api.md): bind a sandbox card
 * (POST /v1/me/cards with a bind_card code read from the outbox), then
 * POST /v1/me/topups with an Idempotency-Key. Sandbox cards have BIN 999900
 * and succeed unless they are one of the documented failing numbers; each
 * user gets a fresh Luhn-valid number, since a card binds to one wallet.
 */
#ifndef QB_TESTS_API_TRANSFER_HELPERS_H
#define QB_TESTS_API_TRANSFER_HELPERS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/lib/api.h"
#include "api/lib/client.h"
#include "test.h"

#define TH_PAY_PASSWORD "135790"
#define TH_BODY_SIZE_MAX 1024

/* A sandbox card number nobody else in this process got: BIN 999900, a
 * serial from the pid and a counter, the Luhn check digit last. */
static inline void th_card_number_new(char out[17])
{
    static atomic_uint serial;
    unsigned n = atomic_fetch_add(&serial, 1) + 1000u * ((unsigned)getpid() % 100000u);
    snprintf(out, 17, "999900%09u", n % 1000000000u);
    int sum = 0;
    for (int i = 14; i >= 0; i--) {
        int d = out[i] - '0';
        if ((14 - i) % 2 == 0) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    out[15] = (char)('0' + (10 - sum % 10) % 10);
    out[16] = '\0';
}

/* A registered, logged-in user with TH_PAY_PASSWORD as payment password. */
static inline bool th_user_new(struct client *client, const char *admin, struct api_user *u)
{
    return api_user_new(client, admin, u) &&
           api_payment_password_set(client, admin, u, TH_PAY_PASSWORD);
}

/* Binds the sandbox card number to u after its bind_card code, and keeps
 * the card's id in card_id. False (with a
 * message on stderr) when refused. */
static inline bool th_card_bind(struct client *client, const char *admin, const struct api_user *u,
                                const char *number, char card_id[API_ID_SIZE_MAX])
{
    char phone[API_PHONE_SIZE], code[API_SMS_CODE_SIZE];
    api_phone_new(phone);
    if (api_sms_request_as(client, u->token, phone, "bind_card", number) != 202 ||
        !api_sms_code_read(client, admin, phone, "bind_card", code)) {
        fprintf(stderr, "  th_card_bind: no bind_card code: %s\n", api_error());
        return false;
    }
    char body[512];
    snprintf(body, sizeof body,
             "{\"card_number\":\"%s\",\"holder_name\":\"张三\",\"phone\":\"%s\",\"sms_code\":\"%s\"}",
             number, phone, code);
    struct client_response res;
    long status = api_call(client, "POST", "/v1/me/cards", u->token, body, &res);
    snprintf(card_id, API_ID_SIZE_MAX, "%s", api_json_str(&res, "id"));
    if (status != 201) {
        fprintf(stderr, "  th_card_bind: POST /v1/me/cards: %ld %.*s\n", status, (int)res.body.size,
                res.body.data ? res.body.data : "");
        client_response_release(&res);
        return false;
    }
    client_response_release(&res);
    return true;
}

/* Binds a fresh sandbox card to u and tops up amount_minor from it. False
 * (with a message on stderr) when either step is refused. */
static inline bool th_fund(struct client *client, const char *admin, const struct api_user *u,
                           long long amount_minor)
{
    char number[17], card_id[API_ID_SIZE_MAX];
    th_card_number_new(number);
    if (!th_card_bind(client, admin, u, number, card_id))
        return false;
    char body[512];
    snprintf(body, sizeof body,
             "{\"card_id\":\"%s\",\"amount\":%lld,\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             card_id, amount_minor);
    char key[64];
    snprintf(key, sizeof key, "fund-%s", number);
    struct client_response res;
    long status = api_call_idem(client, "POST", "/v1/me/topups", u->token, key, body, &res);
    if (status != 201) {
        fprintf(stderr, "  th_fund: POST /v1/me/topups: %ld %.*s\n", status,
                (int)res.body.size, res.body.data ? res.body.data : "");
        client_response_release(&res);
        return false;
    }
    client_response_release(&res);
    return true;
}

/* The member name ("available", "pending") of u's CNY balance, or -1. */
static inline long long th_balance_of(struct client *client, const struct api_user *u,
                                      const char *name)
{
    struct client_response res;
    long long amount = -1;
    if (api_call(client, "GET", "/v1/me/balances", u->token, NULL, &res) == 200) {
        json_t *body = api_json(&res);
        json_t *first = json_array_get(json_object_get(body, "balances"), 0);
        json_t *value = json_object_get(first, name);
        if (json_is_integer(value))
            amount = json_integer_value(value);
        json_decref(body);
    }
    client_response_release(&res);
    return amount;
}

/* The available CNY balance of u, or -1. */
static inline long long th_balance(struct client *client, const struct api_user *u)
{
    return th_balance_of(client, u, "available");
}

/* The available CNY balance of user_id as an operator (admin's token) reads
 * it, or -1: for a user whose sessions ended (an operator's freeze, a
 * closing). */
static inline long long th_admin_available(struct client *client, const char *admin,
                                           const char *user_id)
{
    char path[96];
    snprintf(path, sizeof path, "/admin/users/%s", user_id);
    struct client_response res;
    long long available = -1;
    if (api_call(client, "GET", path, admin, NULL, &res) == 200) {
        json_t *body = api_json(&res);
        json_t *first = json_array_get(json_object_get(body, "balances"), 0);
        if (json_is_integer(json_object_get(first, "available")))
            available = json_integer_value(json_object_get(first, "available"));
        json_decref(body);
    }
    client_response_release(&res);
    return available;
}

/* --- bursts ------------------------------------------------------------------ */

/* One keyed POST of a burst and, afterwards, its answer. */
struct th_call {
    const char *path;
    const char *token;
    const char *key;
    const char *body;
    long status;                   /* out: 0 when no answer came */
    char code[64];                 /* out: the error code, "" for none */
    char limit[32];                /* out: the "limit" member, "" for none */
    bool replayed;                 /* out: Idempotent-Replayed: true */
    char answer[TH_BODY_SIZE_MAX]; /* out: the body (truncated, NUL-terminated) */
    size_t answer_size;            /* out: its full size */
};

struct th_burst {
    const char *base_url;
    struct th_call *calls;
    size_t count;
    atomic_size_t next;
    pthread_barrier_t start;
};

static inline void *th_burst_worker(void *arg)
{
    struct th_burst *b = arg;
    struct client client;
    client_init(&client, b->base_url);
    pthread_barrier_wait(&b->start);
    for (;;) {
        size_t i = atomic_fetch_add(&b->next, 1);
        if (i >= b->count)
            break;
        struct th_call *c = &b->calls[i];
        struct client_response res;
        c->status = api_call_idem(&client, "POST", c->path, c->token, c->key, c->body, &res);
        json_t *body = api_json(&res);
        /* api_error_code wants exactly {code, message}; LIMIT_EXCEEDED adds "limit". */
        const char *code = json_string_value(json_object_get(body, "code"));
        snprintf(c->code, sizeof c->code, "%s", code != NULL ? code : "");
        const char *limit = json_string_value(json_object_get(body, "limit"));
        snprintf(c->limit, sizeof c->limit, "%s", limit != NULL ? limit : "");
        json_decref(body);
        c->replayed = strcmp(api_header(&res, "Idempotent-Replayed"), "true") == 0;
        c->answer_size = res.body.size;
        size_t copy = res.body.size < TH_BODY_SIZE_MAX - 1 ? res.body.size : TH_BODY_SIZE_MAX - 1;
        if (copy > 0)
            memcpy(c->answer, res.body.data, copy);
        c->answer[copy] = '\0';
        client_response_release(&res);
    }
    client_release(&client);
    return NULL;
}

#define TH_WIDTH_MAX 64

/* Sends every call, width at a time (threads with one kept-alive
 * connection each, released together), and waits for all answers. */
static inline void th_burst_run(const char *base_url, struct th_call *calls, size_t count,
                                size_t width)
{
    QB_ASSERT(width >= 1 && width <= TH_WIDTH_MAX);
    struct th_burst b;
    b.base_url = base_url;
    b.calls = calls;
    b.count = count;
    atomic_init(&b.next, 0);
    QB_ASSERT(pthread_barrier_init(&b.start, NULL, (unsigned)width) == 0);
    pthread_t threads[TH_WIDTH_MAX];
    for (size_t i = 0; i < width; i++)
        QB_ASSERT(pthread_create(&threads[i], NULL, th_burst_worker, &b) == 0);
    for (size_t i = 0; i < width; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&b.start);
}

/* POST /v1/transfers/{transfer_id}/{action} ("return", "cancel") as u
 * under key (NULL: none) with body (NULL: none); checks the status and,
 * when code is not NULL, the error code (an error body of exactly its
 * documented members: api_error_code), failing with the caller's line. The
 * answer stays in res (release it). */
static inline void th_transfer_action(struct client *client, int line, const struct api_user *u,
                                      const char *transfer_id, const char *action, const char *key,
                                      const char *body, long status, const char *code,
                                      struct client_response *res)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/transfers/%s/%s", transfer_id, action);
    api_call_idem(client, "POST", path, u->token, key, body, res);
    const char *got = res->status >= 400 ? api_error_code(res) : "";
    if (res->status != status || (code != NULL && strcmp(got, code) != 0))
        TEST_FAIL_("line %d: %s of %s by %s under %s with %s: expected %ld %s, got %ld %.*s", line,
                   action, transfer_id, u->id, key != NULL ? key : "(no key)",
                   body != NULL ? body : "(no body)", status, code != NULL ? code : "", res->status,
                   (int)res->body.size, res->body.data != NULL ? res->body.data : "");
}

/* GET path as token, expected 200 with a JSON body (the caller decrefs). */
static inline json_t *th_get_json(struct client *client, const char *path, const char *token)
{
    struct client_response res;
    long status = api_call(client, "GET", path, token, NULL, &res);
    json_t *body = api_json(&res);
    if (status != 200 || body == NULL)
        TEST_FAIL_("GET %s: %ld %.*s", path, status, (int)res.body.size,
                   res.body.data != NULL ? res.body.data : "");
    client_response_release(&res);
    return body;
}

/* The items of u's bills with query ("" or "?type=…"), checked to be one
 * whole page (the caller decrefs the page; items are borrowed from it). */
static inline json_t *th_bills(struct client *client, const struct api_user *u, const char *query,
                               json_t **items)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/me/transactions%s", query);
    json_t *page = th_get_json(client, path, u->token);
    ASSERT(json_is_false(json_object_get(page, "partial")));
    ASSERT(json_is_null(json_object_get(page, "next_cursor")));
    *items = json_object_get(page, "items");
    ASSERT(json_is_array(*items));
    return page;
}

/* The "used" of u's limit named name (GET /v1/me/limits), or -1. */
static inline long long th_limit_used(struct client *client, const struct api_user *u,
                                      const char *name)
{
    json_t *body = th_get_json(client, "/v1/me/limits", u->token);
    long long used = -1;
    size_t i;
    json_t *limit;
    json_array_foreach(json_object_get(body, "limits"), i, limit)
    {
        const char *limit_name = json_string_value(json_object_get(limit, "name"));
        if (limit_name != NULL && strcmp(limit_name, name) == 0)
            used = json_integer_value(json_object_get(limit, "used"));
    }
    json_decref(body);
    return used;
}

/* Logs u in again (after a restart whose clock moved past its session). */
static inline void th_relogin(struct client *client, const char *admin, struct api_user *u)
{
    if (!api_login(client, u, "test", u->token))
        API_MUST(api_login_new_device(client, admin, u, "test", u->token));
}

/* Stops daemon and starts it again (named "main", under root) with its
 * clock offset_ms ahead of the real one (QIANBAO_TEST_CLOCK_OFFSET_MS, test
 * builds); client follows it, admin gets the operator's token again, and
 * users log in again. */
static inline void th_restart_at(struct test_daemon *daemon, struct client *client,
                                 const char *root, char admin[API_TOKEN_SIZE_MAX],
                                 long long offset_ms, struct api_user *const users[], size_t count)
{
    ASSERT_EQ_INT(test_daemon_stop(daemon), 0);
    client_release(client);
    char offset[32];
    snprintf(offset, sizeof offset, "%lld", offset_ms);
    setenv("QIANBAO_TEST_CLOCK_OFFSET_MS", offset, 1);
    bool started = api_daemon_start(daemon, root, "main", NULL, admin);
    unsetenv("QIANBAO_TEST_CLOCK_OFFSET_MS");
    client_init(client, daemon->base_url);
    API_MUST(started);
    for (size_t i = 0; i < count; i++)
        th_relogin(client, admin, users[i]);
}

/* --- waiting for news: GET /v1/me/changes ------------------------------------------------- */

#define TH_CURSOR_SIZE 96
#define TH_WAIT_BODY_SIZE_MAX 32768 /* a changes answer carries up to 20 bill lines */

/* An answer of GET /v1/me/changes: its cursor and its "changed" list
 * joined with commas ("" for none). False unless it was a 200 of that
 * shape. */
static inline bool th_changes_parse(const char *body, size_t size, char cursor[TH_CURSOR_SIZE],
                                    char *changed, size_t changed_size)
{
    json_t *j = json_loadb(body, size, 0, NULL);
    const char *c = json_string_value(json_object_get(j, "cursor"));
    json_t *list = json_object_get(j, "changed");
    bool ok = c != NULL && json_is_array(list);
    if (ok) {
        snprintf(cursor, TH_CURSOR_SIZE, "%s", c);
        changed[0] = '\0';
        size_t i;
        json_t *item;
        json_array_foreach(list, i, item)
        {
            size_t used = strlen(changed);
            snprintf(changed + used, changed_size - used, "%s%s", i > 0 ? "," : "",
                     json_string_value(item));
        }
    }
    json_decref(j);
    return ok;
}

/* The items of member (an array) of a JSON answer, summarised: for each
 * the values of fields ("a.b": member b of member a; a string as it is, an
 * integer in decimal) joined with spaces, the items newest first as the
 * answer has them, joined with "; ". False unless member is an array. */
static inline bool th_json_items(const char *body, size_t size, const char *member,
                                 const char *const *fields, size_t field_count, char *out,
                                 size_t out_size)
{
    json_t *j = json_loadb(body, size, 0, NULL);
    json_t *items = json_object_get(j, member);
    bool ok = json_is_array(items);
    out[0] = '\0';
    size_t i;
    json_t *item;
    json_array_foreach(ok ? items : NULL, i, item)
    {
        for (size_t f = 0; f < field_count; f++) {
            char name[64];
            snprintf(name, sizeof name, "%s", fields[f]);
            char *dot = strchr(name, '.');
            if (dot != NULL)
                *dot = '\0';
            json_t *v = json_object_get(item, name);
            if (dot != NULL)
                v = json_object_get(v, dot + 1);
            size_t used = strlen(out);
            const char *sep = f > 0 ? " " : i > 0 ? "; " : "";
            if (json_is_integer(v))
                snprintf(out + used, out_size - used, "%s%lld", sep,
                         (long long)json_integer_value(v));
            else
                snprintf(out + used, out_size - used, "%s%s", sep,
                         json_is_string(v) ? json_string_value(v) : "null");
        }
    }
    json_decref(j);
    return ok;
}

/* u's cursor now at a changes route (GET /v1/me/changes, or a merchant's
 * /v1/merchants/me/changes): asked without since, it answers at once with
 * nothing changed. */
static inline void th_changes_cursor_at(struct client *client, const struct api_user *u,
                                        const char *path, char cursor[TH_CURSOR_SIZE])
{
    struct client_response res;
    ASSERT_EQ_INT(api_call(client, "GET", path, u->token, NULL, &res), 200);
    char changed[128];
    ASSERT(th_changes_parse(res.body.data, res.body.size, cursor, changed, sizeof changed));
    ASSERT_EQ_STR(changed, "");
    client_response_release(&res);
}

static inline void th_changes_cursor(struct client *client, const struct api_user *u,
                                     char cursor[TH_CURSOR_SIZE])
{
    th_changes_cursor_at(client, u, "/v1/me/changes", cursor);
}

/* A request waiting for news on a thread of its own (its own connection). */
struct th_wait {
    char base_url[128];
    char token[API_TOKEN_SIZE_MAX];
    char path[256];
    pthread_t thread;
    long status;
    char body[TH_WAIT_BODY_SIZE_MAX];
    size_t body_size;
    double seconds; /* from sending to the answer */
};

static inline void *th_wait_main(void *arg)
{
    struct th_wait *w = arg;
    struct client client;
    client_init(&client, w->base_url);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct client_response res;
    w->status = api_call(&client, "GET", w->path, w->token, NULL, &res);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    w->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    w->body_size =
        res.body.size < TH_WAIT_BODY_SIZE_MAX - 1 ? res.body.size : TH_WAIT_BODY_SIZE_MAX - 1;
    if (w->body_size > 0)
        memcpy(w->body, res.body.data, w->body_size);
    w->body[w->body_size] = '\0';
    client_response_release(&res);
    client_release(&client);
    return NULL;
}

/* Sends GET path?since=cursor&wait=wait_s as u, on its thread; path a
 * changes route, with a query of its own or none. */
static inline void th_wait_start_at(struct th_wait *w, const char *base_url,
                                    const struct api_user *u, const char *path, const char *cursor,
                                    int wait_s)
{
    memset(w, 0, sizeof *w);
    snprintf(w->base_url, sizeof w->base_url, "%s", base_url);
    snprintf(w->token, sizeof w->token, "%s", u->token);
    snprintf(w->path, sizeof w->path, "%s%ssince=%s&wait=%d", path,
             strchr(path, '?') != NULL ? "&" : "?", cursor, wait_s);
    QB_ASSERT(pthread_create(&w->thread, NULL, th_wait_main, w) == 0);
}

/* Sends GET /v1/me/changes?since=cursor&wait=wait_s as u, on its thread. */
static inline void th_wait_start(struct th_wait *w, const char *base_url, const struct api_user *u,
                                 const char *cursor, int wait_s)
{
    th_wait_start_at(w, base_url, u, "/v1/me/changes", cursor, wait_s);
}

/* Waits for the answer; then its cursor and changed list (th_changes_parse),
 * which must be a 200. */
static inline void th_wait_join(struct th_wait *w, char cursor[TH_CURSOR_SIZE], char *changed,
                                size_t changed_size)
{
    pthread_join(w->thread, NULL);
    if (w->status != 200)
        TEST_FAIL_("%s: %ld %s", w->path, w->status, w->body);
    ASSERT(th_changes_parse(w->body, w->body_size, cursor, changed, changed_size));
}

/* Polls /metrics until qianbao_http_requests_waiting is n, for at most 10 s. */
static inline bool th_waiting_is(struct client *client, double n)
{
    for (int i = 0; i < 1000; i++) {
        if (api_metric(client, "qianbao_http_requests_waiting") == n)
            return true;
        usleep(10000);
    }
    return false;
}

#endif

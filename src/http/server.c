/*
 * server.c — requests: from a parsed head to a reply, and what a handler
 * may do in between.
 *
 * conn.c reads a request's head and calls http_request_start and
 * http_request_route (refuse what is too large, find the route: replies
 * here go out before any body is read), then, with the body in,
 * http_request_dispatch (authenticate, run the handler; for an operator's
 * read of personal data, http_read_audits, first its row on the audit
 * trail through the ledger, the handler running once that is durable). A
 * handler that submitted a ledger command leaves its connection away; the
 * writer's done callback hands the request back (http_conn_resume) and
 * http_request_resumed runs the handler's resume function on the
 * connection's thread. Replies are built into the request; conn.c turns
 * them into bytes, with http_reply_sign for /v3/.
 *
 * Also here: the per-request arena, session touches, merchant signature
 * checks, offload threads, and starting and stopping the server.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/crypto.h"
#include "base/log.h"
#include "base/rand.h"
#include "base/thread.h"
#include "http/internal.h"
#include "http/wire.h"

/* --- the per-request arena ------------------------------------------------ */

#define S_ARENA_BLOCK_SIZE 4096

struct http_arena_block {
    struct http_arena_block *next;
    size_t used;
    size_t capacity;
    _Alignas(max_align_t) unsigned char data[];
};

void *http_request_alloc(struct http_request *req, size_t size)
{
    const size_t align = _Alignof(max_align_t);
    size_t rounded = (size + align - 1) / align * align;
    if (rounded < size || rounded > HTTP_ARENA_SIZE_MAX - req->arena_size)
        return NULL;
    struct http_arena_block *block = req->arena;
    if (block == NULL || block->capacity - block->used < rounded) {
        size_t capacity = rounded > S_ARENA_BLOCK_SIZE ? rounded : S_ARENA_BLOCK_SIZE;
        block = calloc(1, sizeof *block + capacity);
        if (block == NULL)
            return NULL;
        block->capacity = capacity;
        block->next = req->arena;
        req->arena = block;
    }
    void *p = block->data + block->used;
    block->used += rounded;
    req->arena_size += rounded;
    return p;
}

static void S_arena_free(struct http_request *req)
{
    struct http_arena_block *block = req->arena;
    while (block != NULL) {
        struct http_arena_block *next = block->next;
        free(block);
        block = next;
    }
    req->arena = NULL;
    req->arena_size = 0;
}

static char *S_arena_strdup(struct http_request *req, const char *text)
{
    size_t size = strlen(text) + 1;
    char *copy = http_request_alloc(req, size);
    if (copy != NULL)
        memcpy(copy, text, size);
    return copy;
}

/* --- replies ---------------------------------------------------------------- */

void http_reply_raw(struct http_request *req, int status, const char *content_type,
                    const void *body, size_t body_size)
{
    QB_ASSERT(!req->replied);
    QB_ASSERT(status >= 100 && status <= 599);
    req->replied = true;
    req->status = status;
    req->content_type = content_type;
    buf_reset(&req->reply);
    if (body_size > 0 && buf_append(&req->reply, body, body_size) != QB_OK) {
        /* Only a handler can produce this: a bug, not the client's doing. */
        log_event(LOG_ERROR, "http.reply_too_large", "size=%zu", body_size);
        req->replied = false;
        http_reply_error(req, QB_E_INTERNAL);
    }
}

void http_reply_json(struct http_request *req, int status, const json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    if (text == NULL) {
        log_event(LOG_ERROR, "http.json_dump_failed", "status=%d", status);
        http_reply_error(req, QB_E_INTERNAL);
        return;
    }
    size_t size = strlen(text);
    http_reply_raw(req, status, "application/json; charset=utf-8", text, size);
    crypto_wipe(text, size); /* a token, a device key */
    free(text);
}

void http_reply_json_new(struct http_request *req, int status, json_t *body)
{
    if (body == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        return;
    }
    http_reply_json(req, status, body);
    json_decref(body);
}

void http_reply_error_message(struct http_request *req, enum qb_error err, const char *message)
{
    http_reply_error_extra(req, err, message, NULL);
}

void http_reply_error_extra(struct http_request *req, enum qb_error err, const char *message,
                            const json_t *extra)
{
    QB_ASSERT(err != QB_OK);
    json_t *body = extra != NULL ? json_deep_copy(extra) : json_object();
    json_t *message_json = json_string(message);
    if (message_json == NULL) /* not UTF-8: the table's text is */
        message_json = json_string(error_message(err));
    if (body == NULL || message_json == NULL ||
        json_object_set_new(body, "code", json_string(error_api_code(err))) != 0 ||
        json_object_set_new(body, "message", message_json) != 0) {
        json_decref(body);
        /* Out of memory: the table's strings are plain ASCII, safe to print. */
        char text[256];
        int size = snprintf(text, sizeof text, "{\"code\":\"%s\",\"message\":\"%s\"}",
                            error_api_code(err), error_message(err));
        http_reply_raw(req, error_http_status(err), "application/json; charset=utf-8", text,
                       (size_t)size);
        return;
    }
    http_reply_json(req, error_http_status(err), body);
    json_decref(body);
}

void http_reply_error(struct http_request *req, enum qb_error err)
{
    http_reply_error_message(req, err, error_message(err));
}

void http_reply_stream(struct http_request *req, int status, const char *content_type,
                       http_stream_read_fn read, http_stream_free_fn free_fn, void *ctx)
{
    QB_ASSERT(!req->replied && req->stream_ctx == NULL);
    QB_ASSERT(status >= 100 && status <= 599 && read != NULL && free_fn != NULL && ctx != NULL);
    req->replied = true;
    req->status = status;
    req->content_type = content_type;
    buf_reset(&req->reply);
    req->stream_read = read;
    req->stream_free = free_fn;
    req->stream_ctx = ctx;
}

void http_reply_header(struct http_request *req, const char *name, const char *value)
{
    QB_ASSERT(req->header_count < HTTP_REPLY_HEADERS_MAX);
    char *name_copy = S_arena_strdup(req, name);
    char *value_copy = S_arena_strdup(req, value);
    if (name_copy == NULL || value_copy == NULL) {
        log_event(LOG_ERROR, "http.header_dropped", "reason=arena_full");
        return;
    }
    req->headers[req->header_count].name = name_copy;
    req->headers[req->header_count].value = value_copy;
    req->header_count++;
}

/* Signs a /v3 reply with the platform key (server.h): the four Wechatpay-*
 * headers. False when it cannot be signed: the reply is not sent unsigned. */
bool http_reply_sign(struct http_request *req, struct buf *out)
{
    const struct domain_env *env = req->server->env;
    if (env == NULL || env->platform == NULL)
        return false;
    uint8_t raw[16];
    char nonce[2 * sizeof raw + 1];
    rand_fill(rand_system(), raw, sizeof raw);
    crypto_hex(raw, sizeof raw, nonce);
    int64_t timestamp_s = clock_now_ms(env->clock) / 1000;
    char timestamp[24];
    snprintf(timestamp, sizeof timestamp, "%lld", (long long)timestamp_s);
    struct buf message;
    buf_init(&message, HTTP_REPLY_SIZE_MAX + 128);
    char signature[MERCHANT_SIGNATURE_SIZE_MAX + 1];
    /* Over what is sent: a HEAD's answer goes without its body. */
    bool ok = merchant_response_message(&message, timestamp_s, nonce, req->reply.data,
                                        req->head_only ? 0 : req->reply.size) == QB_OK &&
              merchant_rsa_sign(env->platform->key, message.data, message.size, signature,
                                sizeof signature) == QB_OK;
    buf_release(&message);
    ok = ok && http_head_field(out, "Wechatpay-Timestamp", timestamp) &&
         http_head_field(out, "Wechatpay-Nonce", nonce) &&
         http_head_field(out, "Wechatpay-Serial", env->platform->serial_no) &&
         http_head_field(out, "Wechatpay-Signature", signature) &&
         http_head_field(out, "Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048");
    if (!ok)
        log_event(LOG_ERROR, "http.reply_unsigned", "status=%d", req->status);
    return ok;
}

/* --- requests ----------------------------------------------------------------- */

const char *http_request_id(const struct http_request *req) { return req->id; }
const char *http_request_method(const struct http_request *req) { return req->method; }
const char *http_request_path(const struct http_request *req)
{
    return req->path_unescaped != NULL ? req->path_unescaped : req->path;
}
const struct buf *http_request_body(const struct http_request *req) { return &req->body; }
struct store_pool *http_request_pool(const struct http_request *req) { return req->server->pool; }
struct http_server *http_request_server(const struct http_request *req) { return req->server; }
const struct domain_env *http_request_env(const struct http_request *req)
{
    return req->server->env;
}

const struct identity_session *http_request_session(const struct http_request *req)
{
    return req->has_session ? &req->session : NULL;
}

const char *http_request_param(const struct http_request *req, const char *name)
{
    size_t name_size = strlen(name);
    for (int i = 0; i < req->param_count; i++) {
        if (req->params[i].name_size == name_size &&
            memcmp(req->params[i].name, name, name_size) == 0)
            return req->params[i].value;
    }
    return NULL;
}

const char *http_request_query(const struct http_request *req, const char *name)
{
    /* Unescaped into the arena at each call: handlers ask for a few. */
    size_t size = strlen(req->query) + 1;
    char *value = http_request_alloc((struct http_request *)req, size);
    if (value == NULL || !http_wire_query(req->query, name, value, size))
        return NULL;
    return value;
}

const char *http_request_header(const struct http_request *req, const char *name)
{
    return http_conn_header(req->conn, name);
}

struct http_request *http_request_new(struct http_server *server, struct http_conn *conn)
{
    struct http_request *req = calloc(1, sizeof *req);
    if (req == NULL)
        return NULL;
    req->server = server;
    req->conn = conn;
    req->query = "";
    req->started_ns = clock_monotonic_ns();
    req->route_index = server->route_count;
    id_new(rand_system(), "req", req->id, sizeof req->id);
    /* Bodies carry passwords, payment passwords and card numbers, answers
     * tokens and device keys: wiped before their memory goes back. */
    buf_init_secret(&req->body, server->body_size_max);
    buf_init_secret(&req->reply, HTTP_REPLY_SIZE_MAX);
    atomic_fetch_add(&server->requests_in_flight, 1);
    return req;
}

/* With the head parsed: the method, the path as sent (what routes match:
 * only a route's parameters are unescaped, http_route_params), the query
 * string and the target as sent (what a merchant signs). */
void http_request_start(struct http_request *req, const struct http_wire_head *head)
{
    snprintf(req->method, sizeof req->method, "%s", head->method);
    req->head_only = strcmp(head->method, "HEAD") == 0;
    req->uri = head->target;
    req->merchant_api = strncmp(head->target, "/v3/", 4) == 0;
    const char *question = strchr(head->target, '?');
    size_t path_size = question != NULL ? (size_t)(question - head->target) : strlen(head->target);
    if (question != NULL)
        req->query = question + 1;
    /* Too long: no route has such a path. */
    req->path_too_long = path_size >= sizeof req->path;
    if (req->path_too_long)
        path_size = 0;
    memcpy(req->path, head->target, path_size);
    req->path[path_size] = '\0';
}

const char *http_request_uri(const struct http_request *req)
{
    return req->uri != NULL ? req->uri : req->path;
}

const struct merchant *http_request_merchant(const struct http_request *req)
{
    return req->has_merchant ? &req->merchant : NULL;
}

const char *http_request_principal(const struct http_request *req)
{
    if (req->has_session)
        return req->session.user_id;
    if (req->has_merchant)
        return req->merchant.mchid;
    return req->has_admin ? req->admin_principal : NULL;
}

const char *http_request_by(const struct http_request *req)
{
    const char *principal = http_request_principal(req);
    return principal != NULL ? principal : "-";
}

struct domain_audit *http_request_audit(struct http_request *req, struct ledger_cmd *cmd,
                                        const char *action, const char *target,
                                        const enum qb_error *outcome, const bool *changed)
{
    QB_ASSERT(req->has_admin && action != NULL && target != NULL && outcome != NULL);
    struct domain_audit *a = http_request_alloc(req, sizeof *a);
    if (a == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return NULL;
    }
    _Static_assert(sizeof req->admin_principal <= sizeof a->by,
                   "an operator's name fits the trail");
    snprintf(a->by, sizeof a->by, "%s", req->admin_principal);
    snprintf(a->action, sizeof a->action, "%s", action);
    snprintf(a->target, sizeof a->target, "%s", target);
    _Static_assert(sizeof req->id <= sizeof a->request_id, "a request's id fits the trail");
    snprintf(a->request_id, sizeof a->request_id, "%s", req->id);
    a->outcome = outcome;
    a->changed = changed;
    a->target_made = false;
    a->detail_made = false;
    domain_audit_attach(a, cmd);
    return a;
}

bool http_request_server_closing(const struct http_request *req)
{
    return atomic_load(&req->server->closing);
}

bool http_request_is_root(const struct http_request *req)
{
    return req->has_admin && req->operator_name[0] == '\0';
}

void http_request_free(struct http_request *req)
{
    atomic_fetch_sub(&req->server->requests_in_flight, 1);
    buf_release(&req->body);
    json_decref(req->body_json);
    buf_release(&req->reply);
    if (req->stream_ctx != NULL) /* never handed to the connection */
        req->stream_free(req->stream_ctx);
    S_arena_free(req);
    free(req);
}

static enum qb_error S_authenticate(struct http_request *req, enum http_auth auth);
static void S_authenticate_refuse(struct http_request *req, enum qb_error err);

/* The operator's paths: /admin and below, /metrics. */
static bool S_is_admin_path(const char *path)
{
    return strcmp(path, "/metrics") == 0 || strcmp(path, "/admin") == 0 ||
           strncmp(path, "/admin/", 7) == 0;
}

/* Step 1, with the headers in: refuse what is too large, route. Replies
 * here go out before any of the body is read. */
void http_request_route(struct http_request *req)
{
    struct http_server *server = req->server;
    const char *url = req->path;
    uint64_t content_length;
    const char *length_text = http_request_header(req, "Content-Length");
    if (length_text != NULL && http_wire_parse_length(length_text, &content_length) &&
        content_length > server->body_size_max) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    if (req->path_too_long) {
        http_reply_error(req, QB_E_NOT_FOUND);
        return;
    }
    /* A proxy in front may allow or refuse a path by its text as sent; an
     * escaped slash or NUL would let one text name another path here. */
    if (!http_wire_path_is_plain(url)) {
        http_reply_error_message(req, QB_E_PARAM,
                                 "the path must not hold an escaped slash (%2F) or NUL (%00)");
        return;
    }
    /* With an admin listener, each listener serves its own routes: the
     * public one never answers the operator's, nor the admin one anything
     * else, so that neither can be reached from the other's network. */
    if (server->admin_fd >= 0 && strcmp(url, "/healthz") != 0 &&
        S_is_admin_path(url) != http_conn_is_admin(req->conn)) {
        http_reply_error(req, QB_E_NOT_FOUND);
        return;
    }
    char allow[64];
    size_t route_index;
    switch (http_route_find(server->routes, server->route_count, req->method, url, &route_index,
                            allow, sizeof allow)) {
    case HTTP_MATCH_FOUND:
        break;
    case HTTP_MATCH_NO_PATH:
        http_reply_error(req, QB_E_NOT_FOUND);
        return;
    case HTTP_MATCH_NO_METHOD:
        http_reply_header(req, "Allow", allow);
        http_reply_error(req, QB_E_METHOD);
        return;
    }
    req->param_count =
        http_route_params(req, server->routes[route_index].pattern, url, req->params);
    if (req->param_count < 0) {
        req->param_count = 0;
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    req->route_index = route_index;
    /* Handlers key idempotency and list cursors on the path: unescaped, as
     * its parameters are, so that every spelling of one is the same path.
     * Only a parameter can hold a '%': literal segments matched as sent. */
    if (strchr(url, '%') != NULL) {
        size_t size = strlen(url) + 1;
        char *unescaped = http_request_alloc(req, size);
        if (unescaped == NULL) {
            http_reply_error(req, QB_E_TOO_LARGE);
            return;
        }
        bool unescaped_ok = http_wire_unescape(url, size - 1, false, unescaped, size);
        QB_ASSERT(unescaped_ok);
        req->path_unescaped = unescaped;
    }
    /* A query value is unescaped when a handler asks for it; one holding
     * an escaped NUL cannot be, and would read as absent (a filter that
     * silently matched everything), and of a name given twice the handler
     * would read the first where the client may mean the last. */
    if (!http_wire_query_is_plain(req->query)) {
        http_reply_error_message(req, QB_E_PARAM,
                                 "the query string must name each argument once, at most 32, "
                                 "and not hold %00");
        return;
    }
    /* An argument the route does not read would be ignored: a misspelt
     * filter (?tpye=topup) answering an unfiltered list. */
    const char *takes = server->routes[route_index].query;
    char unknown[48];
    if ((takes == NULL || strcmp(takes, HTTP_QUERY_ANY) != 0) &&
        !http_wire_query_names_in(req->query, takes != NULL ? takes : "", unknown,
                                  sizeof unknown)) {
        char message[192];
        bool shown = unknown[0] != '\0';
        for (const char *c = unknown; *c != '\0'; c++)
            shown = shown && *c > 0x20 && *c < 0x7f && *c != '"' && *c != '\\';
        snprintf(message, sizeof message, "%s%s%s is not an argument of this path (it takes %s)",
                 shown ? "\"" : "", shown ? unknown : "a query argument", shown ? "\"" : "",
                 takes != NULL ? takes : "none");
        http_reply_error_message(req, QB_E_PARAM, message);
        return;
    }
    /* A user's or an operator's credentials are in the head: checked
     * before the body, which is buffered whole (up to the body limit), so
     * that no one without them holds that memory by sending one. A
     * request with a body is checked again once it is in: a logout or an
     * operator's revocation meanwhile holds for it too. A merchant's
     * signature covers the body, and waits for it. */
    enum http_auth auth = server->routes[route_index].auth;
    if (auth == HTTP_AUTH_USER || auth == HTTP_AUTH_ADMIN) {
        enum qb_error err = S_authenticate(req, auth);
        if (err != QB_OK) {
            S_authenticate_refuse(req, err);
            return;
        }
        bool body = (length_text != NULL && strcmp(length_text, "0") != 0) ||
                    http_request_header(req, "Transfer-Encoding") != NULL;
        if (body) {
            req->has_session = req->has_admin = false;
            memset(&req->session, 0, sizeof req->session);
        } else {
            req->authenticated = true;
        }
    }
}

#define S_AUTH_POOL_WAIT_MS 1000
#define S_TOKEN_HEX_SIZE 64

/* The token of "Authorization: Bearer <token>", or NULL. */
static const char *S_bearer_token(const struct http_request *req)
{
    const char *value = http_request_header(req, "Authorization");
    if (value == NULL || strncasecmp(value, "Bearer ", 7) != 0)
        return NULL;
    return value + 7;
}

static bool S_token_is_hex(const char *token)
{
    return strlen(token) == S_TOKEN_HEX_SIZE &&
           strspn(token, "0123456789abcdefABCDEF") == S_TOKEN_HEX_SIZE;
}

/* --- session touches -------------------------------------------------------------- */

#define S_TOUCH_FLUSH_MS 1000

/* The writer thread, after a batch of touches committed or failed: nobody
 * waits for it, so it frees itself. */
static void S_on_touches_done(struct ledger_cmd *cmd)
{
    ledger_cmd_release(cmd);
    free(cmd);
}

static int S_touch_order(const void *a, const void *b)
{
    int64_t x = ((const struct identity_touch *)a)->session_seq;
    int64_t y = ((const struct identity_touch *)b)->session_seq;
    return (x > y) - (x < y);
}

/* Hands the pending touches to the ledger; fire and forget. A full queue or
 * a detached ledger drops them: the sessions ask again on their next use.
 * Called without touch_mutex held. */
static void S_touches_submit(struct http_server *server, struct identity_touch_cmd *batch)
{
    if (batch == NULL)
        return;
    if (batch->count == 0) {
        ledger_cmd_release(&batch->cmd);
        free(batch);
        return;
    }
    /* In session_seen's key order, the writer's UPDATEs walk its B-tree
     * from left to right instead of jumping: a command of 4,096 touches
     * ran 4.8 -> 3.6 ms on the writer, every payment behind it waiting. */
    qsort(batch->items, batch->count, sizeof batch->items[0], S_touch_order);
    batch->cmd.done = S_on_touches_done;
    pthread_rwlock_rdlock(&server->ledger_lock);
    enum qb_error err = QB_E_SHUTTING_DOWN;
    if (server->ledger != NULL)
        err = ledger_submit(server->ledger, &batch->cmd);
    pthread_rwlock_unlock(&server->ledger_lock);
    if (err != QB_OK) {
        ledger_cmd_release(&batch->cmd);
        free(batch);
    }
}

/* Takes the pending batch out (touch_mutex held): the caller submits it. */
static struct identity_touch_cmd *S_touches_take(struct http_server *server)
{
    struct identity_touch_cmd *batch = server->touch_pending;
    server->touch_pending = NULL;
    memset(server->touch_slots, 0, sizeof server->touch_slots);
    return batch;
}

static uint64_t S_touch_hash(int64_t seq)
{
    uint64_t x = (uint64_t)seq;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

/* Records that the session was used now. Repeats within a batch are kept
 * once; a full batch goes to the ledger at once. */
static void S_session_touch(struct http_request *req, const char *token)
{
    struct http_server *server = req->server;
    int64_t now_ms = clock_now_ms(server->env->clock);
    struct identity_touch_cmd *full = NULL;
    pthread_mutex_lock(&server->touch_mutex);
    if (server->touch_pending == NULL) {
        server->touch_pending = malloc(sizeof *server->touch_pending);
        if (server->touch_pending != NULL)
            identity_touch_cmd_init(server->touch_pending, server->env);
    }
    struct identity_touch_cmd *batch = server->touch_pending;
    if (batch != NULL) {
        const size_t slot_count = QB_ARRAY_COUNT(server->touch_slots);
        size_t slot = (size_t)(S_touch_hash(req->session.seq) % slot_count);
        bool seen = false;
        while (server->touch_slots[slot] != 0) {
            if (batch->items[server->touch_slots[slot] - 1].session_seq == req->session.seq) {
                seen = true;
                break;
            }
            slot = (slot + 1) % slot_count;
        }
        if (!seen) {
            QB_ASSERT(batch->count < IDENTITY_TOUCH_BATCH_MAX);
            struct identity_touch *t = &batch->items[batch->count++];
            t->session_seq = req->session.seq;
            t->seen_at_ms = now_ms;
            server->touch_slots[slot] = (uint16_t)batch->count;
            if (batch->count == IDENTITY_TOUCH_BATCH_MAX)
                full = S_touches_take(server);
        }
    }
    pthread_mutex_unlock(&server->touch_mutex);
    S_touches_submit(server, full);
    if (batch != NULL)
        identity_session_cache_touched(server->env, token, now_ms);
}

static void *S_touch_flusher(void *arg)
{
    struct http_server *server = arg;
    pthread_mutex_lock(&server->touch_mutex);
    while (!server->touch_stopping) {
        struct timespec until = thread_deadline(S_TOUCH_FLUSH_MS);
        pthread_cond_timedwait(&server->touch_cond, &server->touch_mutex, &until);
        struct identity_touch_cmd *batch = S_touches_take(server);
        pthread_mutex_unlock(&server->touch_mutex);
        S_touches_submit(server, batch);
        pthread_mutex_lock(&server->touch_mutex);
    }
    pthread_mutex_unlock(&server->touch_mutex);
    return NULL;
}

/* Stops the flusher and hands over what is pending: before the ledger is
 * detached, so the last second of touches is not lost. */
static void S_touches_stop(struct http_server *server)
{
    pthread_mutex_lock(&server->touch_mutex);
    server->touch_stopping = true;
    pthread_cond_signal(&server->touch_cond);
    pthread_mutex_unlock(&server->touch_mutex);
    if (server->touch_thread_started) {
        pthread_join(server->touch_thread, NULL);
        server->touch_thread_started = false;
    }
    pthread_mutex_lock(&server->touch_mutex);
    struct identity_touch_cmd *batch = S_touches_take(server);
    pthread_mutex_unlock(&server->touch_mutex);
    S_touches_submit(server, batch);
}

/* Looks the bearer token up as a user session. QB_OK fills *out;
 * QB_E_UNAUTHORIZED for any token that is not a live session (one answer
 * for all); QB_E_BUSY when no read connection is free. */
static enum qb_error S_session_find(struct http_request *req, const char *token,
                                    struct identity_session *out, bool *touch)
{
    struct http_server *server = req->server;
    *touch = false;
    if (server->env == NULL || token == NULL || !S_token_is_hex(token))
        return QB_E_UNAUTHORIZED;
    enum qb_error err = identity_session_authenticate_cached(server->env, token, out, touch);
    if (err != QB_E_NOT_FOUND)
        return err;
    struct store *reader;
    err = store_pool_acquire(server->pool, S_AUTH_POOL_WAIT_MS, &reader);
    if (err != QB_OK)
        return err;
    err = identity_session_authenticate(server->env, reader, token, out, touch);
    store_pool_release(server->pool, reader);
    if (err == QB_OK)
        return QB_OK;
    memset(out, 0, sizeof *out);
    *touch = false;
    return err == QB_E_BUSY || err == QB_E_STORAGE ? err : QB_E_UNAUTHORIZED;
}

bool http_request_session_live(struct http_request *req)
{
    QB_ASSERT(req->has_session);
    struct identity_session now;
    bool touch;
    enum qb_error err = S_session_find(req, S_bearer_token(req), &now, &touch);
    if (err == QB_OK) {
        /* The same token is the same session row. */
        QB_ASSERT(strcmp(now.id, req->session.id) == 0);
        return true;
    }
    if (err == QB_E_UNAUTHORIZED)
        http_reply_header(req, "WWW-Authenticate", "Bearer");
    http_reply_error(req, err);
    return false;
}

/* Looks the bearer token up among the operators not revoked. QB_OK sets
 * the request's admin principal "admin:<name>"; QB_E_UNAUTHORIZED for any
 * other token; QB_E_BUSY or QB_E_STORAGE when the read could not be made. */
static enum qb_error S_operator_find(struct http_request *req, const char *token)
{
    struct http_server *server = req->server;
    if (server->pool == NULL || !S_token_is_hex(token))
        return QB_E_UNAUTHORIZED;
    struct store *reader;
    enum qb_error err = store_pool_acquire(server->pool, S_AUTH_POOL_WAIT_MS, &reader);
    if (err != QB_OK)
        return err;
    struct identity_operator op;
    err = identity_operator_authenticate(reader, token, &op);
    store_pool_release(server->pool, reader);
    if (err != QB_OK)
        return err == QB_E_BUSY || err == QB_E_STORAGE ? err : QB_E_UNAUTHORIZED;
    QB_ASSERT(identity_operator_name_is_valid(op.name));
    req->has_admin = true;
    memcpy(req->operator_name, op.name, sizeof req->operator_name);
    snprintf(req->admin_principal, sizeof req->admin_principal, "admin:%s", op.name);
    return QB_OK;
}

/* The WECHATPAY2-SHA256-RSA2048 check (merchant.h has the rules): the
 * header's shape, the merchant, its serial, the time window, the signature
 * over the request as sent, and last the nonce, so that only a request
 * that proved itself can use a nonce up. Every refusal is the same
 * SIGN_ERROR; the reason goes to the log, never a value of the request. */
static enum qb_error S_merchant_authenticate(struct http_request *req)
{
    struct http_server *server = req->server;
    struct merchant_auth auth;
    if (server->env == NULL || server->nonces == NULL ||
        !merchant_auth_parse(http_request_header(req, "Authorization"), &auth)) {
        log_event(LOG_INFO, "http.merchant_refused", "reason=header");
        return QB_E_SIGN_ERROR;
    }
    struct store *reader;
    enum qb_error err = store_pool_acquire(server->pool, S_AUTH_POOL_WAIT_MS, &reader);
    if (err != QB_OK)
        return err;
    const char *reason = "";
    int64_t now_ms = clock_now_ms(server->env->clock);
    const char *pem = NULL;
    err = merchant_get(http_request_env(req), reader, auth.mchid, &req->merchant);
    if (err == QB_OK)
        err = merchant_request_key(&req->merchant, auth.serial_no, now_ms, &pem, &reason);
    store_pool_release(server->pool, reader);
    if (err == QB_E_NOT_FOUND) {
        log_event(LOG_INFO, "http.merchant_refused", "reason=unknown_mchid");
        return QB_E_SIGN_ERROR;
    }
    if (err != QB_OK && err != QB_E_SIGN_ERROR) {
        memset(&req->merchant, 0, sizeof req->merchant);
        return err == QB_E_BUSY || err == QB_E_STORAGE ? err : QB_E_INTERNAL;
    }
    if (err == QB_OK)
        err =
            merchant_request_verify(&req->merchant, pem, &auth, req->method, http_request_uri(req),
                                    req->body.data, req->body.size, now_ms, &reason);
    if (err == QB_OK) {
        err = merchant_nonces_claim(server->nonces, auth.mchid, auth.nonce, now_ms);
        if (err == QB_E_CONFLICT) {
            reason = "nonce reused";
            err = QB_E_SIGN_ERROR;
        } else if (err == QB_E_FREQUENCY_LIMITED) {
            reason = "its share of the nonce memory is spent";
        } else if (err == QB_E_BUSY) {
            reason = "the nonce memory is full";
        }
    }
    if (err != QB_OK) {
        log_event(LOG_INFO, "http.merchant_refused", "mchid=%s reason=\"%s\"", auth.mchid, reason);
        memset(&req->merchant, 0, sizeof req->merchant);
        return err;
    }
    req->has_merchant = true;
    return QB_OK;
}

/* Checks the caller against the route's auth kind. */
static enum qb_error S_authenticate(struct http_request *req, enum http_auth auth)
{
    switch (auth) {
    case HTTP_AUTH_NONE:
        return QB_OK;
    case HTTP_AUTH_ADMIN: {
        struct http_server *server = req->server;
        const char *token = S_bearer_token(req);
        if (token == NULL)
            return QB_E_UNAUTHORIZED;
        pthread_mutex_lock(&server->admin_token_mutex);
        bool admin = server->admin_token != NULL && strlen(token) == server->admin_token_size &&
                     crypto_equal(token, server->admin_token, server->admin_token_size);
        pthread_mutex_unlock(&server->admin_token_mutex);
        if (admin) {
            req->has_admin = true;
            snprintf(req->admin_principal, sizeof req->admin_principal, "admin");
            return QB_OK;
        }
        /* A named operator's token, read each time: a revocation holds
         * from the next request on. */
        enum qb_error err = S_operator_find(req, token);
        if (err != QB_E_UNAUTHORIZED)
            return err;
        /* A user who is who they say, but no operator: 403, as the API
         * says for every non-admin token. The session is not touched. */
        bool touch;
        if (S_session_find(req, token, &req->session, &touch) == QB_OK) {
            memset(&req->session, 0, sizeof req->session);
            return QB_E_FORBIDDEN;
        }
        return QB_E_UNAUTHORIZED;
    }
    case HTTP_AUTH_MERCHANT:
        return S_merchant_authenticate(req);
    case HTTP_AUTH_USER: {
        bool touch;
        const char *token = S_bearer_token(req);
        enum qb_error err = S_session_find(req, token, &req->session, &touch);
        if (err != QB_OK)
            return err;
        req->has_session = true;
        if (touch)
            S_session_touch(req, token);
        return QB_OK;
    }
    }
    return QB_E_UNAUTHORIZED;
}

bool http_request_user_authenticate(struct http_request *req)
{
    QB_ASSERT(req->server->routes[req->route_index].auth == HTTP_AUTH_NONE);
    enum qb_error err = S_authenticate(req, HTTP_AUTH_USER);
    if (err == QB_OK)
        return true;
    if (err == QB_E_UNAUTHORIZED)
        http_reply_header(req, "WWW-Authenticate", "Bearer");
    http_reply_error(req, err);
    return false;
}

/* The read audit of the route, or NULL: few routes are an operator's
 * GETs, and they see operators' volumes, so a walk of the short table. */
static const struct http_read_audit *S_read_audit(const struct http_route *route)
{
    if (route->auth != HTTP_AUTH_ADMIN || strcmp(route->method, "GET") != 0)
        return NULL;
    for (size_t i = 0; i < http_read_audit_count; i++)
        if (strcmp(http_read_audits[i].pattern, route->pattern) == 0)
            return &http_read_audits[i];
    return NULL;
}

/* An operator's read, its row on the trail: a command that changes nothing
 * and carries the record (domain/audit.h). */
struct S_read_cmd {
    struct ledger_cmd cmd;
    enum qb_error outcome; /* QB_OK: the read was let through */
    bool changed;          /* false: a read */
};

static enum qb_error S_read_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    (void)txn;
    struct S_read_cmd *c = (struct S_read_cmd *)cmd;
    QB_ASSERT(c->outcome == QB_OK && !c->changed);
    return QB_OK;
}

/* The row is durable, or failed: the read is answered by its handler, as
 * if it had just been dispatched, or refused with nothing shown. */
static void S_read_recorded(struct http_request *req, struct ledger_cmd *cmd)
{
    enum qb_error err = cmd->result;
    ledger_cmd_release(cmd);
    if (err == QB_E_STORAGE) {
        http_reply_error_message(req, err,
                                 "storage failed: the read could not be put on the audit "
                                 "trail, and is not shown");
        return;
    }
    if (err != QB_OK) {
        http_reply_error(req, err);
        return;
    }
    req->submitted = false;
    req->resumed = false;
    req->cmd = NULL;
    req->resume = NULL;
    const struct http_route *route = &req->server->routes[req->route_index];
    route->handler(req);
    if (!req->replied && !req->submitted) {
        log_event(LOG_ERROR, "http.handler_no_reply", "route=%s", route->pattern);
        http_reply_error(req, QB_E_INTERNAL);
    }
}

/* Submits the row of an operator's read, whose handler runs once it is
 * durable. A target that the trail cannot take names nothing that exists:
 * a path's is answered 404 as its handler would, a query's 400. */
static void S_read_record(struct http_request *req, const struct http_read_audit *read)
{
    const char *target = NULL;
    bool in_path = false;
    if (read->target != NULL) {
        target = http_request_param(req, read->target);
        in_path = target != NULL;
        if (!in_path)
            target = http_request_query(req, read->target);
    }
    if (target == NULL)
        target = "";
    if (target[0] != '\0' && !domain_audit_target_is_valid(target)) {
        if (in_path) {
            http_reply_error(req, QB_E_NOT_FOUND);
        } else {
            char message[128];
            snprintf(message, sizeof message,
                     "%s must be a phone number or an id (letters, digits, '.', '_', '-')",
                     read->target);
            http_reply_error_message(req, QB_E_PARAM, message);
        }
        return;
    }
    struct S_read_cmd *c = http_request_alloc(req, sizeof *c);
    if (c == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    ledger_cmd_init(&c->cmd, S_read_run, NULL);
    c->outcome = QB_OK;
    c->changed = false;
    if (http_request_audit(req, &c->cmd, read->action, target, &c->outcome, &c->changed) == NULL) {
        ledger_cmd_release(&c->cmd);
        return;
    }
    http_request_submit(req, &c->cmd, S_read_recorded);
}

static void S_authenticate_refuse(struct http_request *req, enum qb_error err)
{
    if (err == QB_E_UNAUTHORIZED)
        http_reply_header(req, "WWW-Authenticate", "Bearer");
    http_reply_error(req, err);
}

/* Step 2, with the body in: authenticate (a merchant) and run the handler. */
void http_request_dispatch(struct http_request *req)
{
    if (req->body_too_large) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    const struct http_route *route = &req->server->routes[req->route_index];
    enum qb_error err = req->authenticated ? QB_OK : S_authenticate(req, route->auth);
    if (err != QB_OK) {
        S_authenticate_refuse(req, err);
        return;
    }
    const struct http_read_audit *read = S_read_audit(route);
    if (read != NULL) {
        S_read_record(req, read);
        return;
    }
    route->handler(req);
    if (!req->replied && !req->submitted) {
        log_event(LOG_ERROR, "http.handler_no_reply", "route=%s", route->pattern);
        http_reply_error(req, QB_E_INTERNAL);
    }
}

/* Step 3, on the connection's thread after the writer thread resumed it. */
void http_request_resumed(struct http_request *req)
{
    QB_ASSERT(!req->resumed);
    req->resumed = true;
    req->resume(req, req->cmd);
    if (!req->replied && req->resumed) { /* not handed to an offload thread */
        log_event(LOG_ERROR, "http.resume_no_reply", "route=%s",
                  req->server->routes[req->route_index].pattern);
        http_reply_error(req, QB_E_INTERNAL);
    }
}

/* --- submitting to the ledger ------------------------------------------------ */

/* The writer thread, after the command's batch committed or failed: resume
 * the connection; everything else happens on the connection's thread. */
static void S_on_cmd_done(struct ledger_cmd *cmd) { http_conn_resume(cmd->ctx); }

void http_request_submit(struct http_request *req, struct ledger_cmd *cmd, http_resume_fn resume)
{
    QB_ASSERT(!req->replied && !req->submitted);
    QB_ASSERT(resume != NULL);
    struct http_server *server = req->server;
    req->submitted = true;
    req->cmd = cmd;
    req->resume = resume;
    cmd->ctx = req;
    cmd->log_request_id = req->id;
    cmd->done = S_on_cmd_done;

    /* Away before submitting, so that the done callback can never post a
     * connection that still reads. The read lock keeps the ledger alive
     * until the command is queued; ledger_close then completes it. */
    http_conn_away(req->conn);
    pthread_rwlock_rdlock(&server->ledger_lock);
    enum qb_error err = QB_E_SHUTTING_DOWN;
    if (server->ledger != NULL)
        err = ledger_submit(server->ledger, cmd);
    pthread_rwlock_unlock(&server->ledger_lock);
    if (err != QB_OK) {
        /* Refused: nobody else will resume it. The resume function answers
         * from cmd->result like for any failed command. */
        cmd->result = err;
        http_conn_resume(req);
    }
}

enum qb_error http_request_execute(struct http_request *req, struct ledger_cmd *cmd)
{
    QB_ASSERT(req->submitted && cmd != req->cmd);
    struct http_server *server = req->server;
    cmd->log_request_id = req->id;
    /* The read lock keeps the ledger from being detached and closed while
     * the command waits; the writer thread takes no HTTP lock, so the wait
     * always ends. */
    pthread_rwlock_rdlock(&server->ledger_lock);
    enum qb_error err = QB_E_SHUTTING_DOWN;
    if (server->ledger != NULL)
        err = ledger_execute(server->ledger, cmd);
    pthread_rwlock_unlock(&server->ledger_lock);
    return err;
}

/* --- offload threads ------------------------------------------------------------ */

static void *S_offload_main(void *arg)
{
    struct http_offload_pool *pool = arg;
    pthread_mutex_lock(&pool->mutex);
    for (;;) {
        while (pool->head == NULL && !pool->stopping)
            pthread_cond_wait(&pool->cond, &pool->mutex);
        struct http_request *req = pool->head;
        if (req == NULL)
            break; /* stopping, and nothing left to do */
        pool->head = req->offload_next;
        if (pool->head == NULL)
            pool->tail = NULL;
        QB_ASSERT(pool->queued_count > 0);
        pool->queued_count--;
        req->offload_next = NULL;
        /* Its owner's, while it is worked on (S_offload_owned). */
        size_t slot = 0;
        while (slot < HTTP_OFFLOAD_THREADS && pool->working[slot] != 0)
            slot++;
        QB_ASSERT(slot < HTTP_OFFLOAD_THREADS); /* one a thread */
        pool->working[slot] = req->offload_owner != 0 ? req->offload_owner : -1;
        pthread_mutex_unlock(&pool->mutex);
        /* What the work logs (a bank's answer, a card bound) carries its
         * request's id, as the request's own lines do. */
        log_set_request_id(req->id);
        req->offload(req, req->cmd);
        log_set_request_id(NULL);
        pthread_mutex_lock(&pool->mutex);
        pool->working[slot] = 0;
        pthread_mutex_unlock(&pool->mutex);
        http_conn_resume(req); /* req may be gone after */
        pthread_mutex_lock(&pool->mutex);
    }
    pthread_mutex_unlock(&pool->mutex);
    return NULL;
}

/* Under the pool's mutex: owner's requests queued or worked on. */
static size_t S_offload_owned(const struct http_offload_pool *pool, int64_t owner)
{
    size_t count = 0;
    for (const struct http_request *r = pool->head; r != NULL; r = r->offload_next)
        count += r->offload_owner == owner;
    for (size_t i = 0; i < HTTP_OFFLOAD_THREADS; i++)
        count += pool->working[i] == owner;
    return count;
}

/* Under the pool's mutex: whether it takes one more request, of owner (0:
 * nobody's). */
static enum qb_error S_offload_room_for(const struct http_offload_pool *pool, int64_t owner)
{
    if (pool->stopping || pool->thread_count == 0)
        return QB_E_SHUTTING_DOWN;
    if (owner > 0 && pool->owner_max > 0 && S_offload_owned(pool, owner) >= pool->owner_max)
        return QB_E_RATE_LIMITED;
    if (pool->queued_count_max > 0 && pool->queued_count >= pool->queued_count_max)
        return QB_E_BUSY;
    return QB_OK;
}

static enum qb_error S_offload_room(const struct http_offload_pool *pool)
{
    return S_offload_room_for(pool, 0);
}

/* Under the pool's mutex, with its room checked: queues req for a thread. */
static void S_offload_append(struct http_offload_pool *pool, struct http_request *req)
{
    QB_ASSERT(S_offload_room(pool) == QB_OK);
    if (pool->tail != NULL)
        pool->tail->offload_next = req;
    else
        pool->head = req;
    pool->tail = req;
    pool->queued_count++;
    pthread_cond_signal(&pool->cond);
}

void http_request_offload(struct http_request *req, http_offload_fn work, http_resume_fn resume)
{
    QB_ASSERT(req->submitted && req->resumed && !req->replied);
    QB_ASSERT(work != NULL && resume != NULL);
    struct http_offload_pool *pool = &req->server->offload;
    req->resumed = false;
    req->resume = resume;
    req->offload = work;
    /* The connection is still away (this runs in a resume function). */
    pthread_mutex_lock(&pool->mutex);
    bool queued = S_offload_room(pool) == QB_OK; /* unbounded: never BUSY */
    if (queued)
        S_offload_append(pool, req);
    pthread_mutex_unlock(&pool->mutex);
    if (!queued) {
        /* Stopping: the work still runs (its command then finds the ledger
         * detached, or not yet), only on this thread. */
        work(req, req->cmd);
        http_conn_resume(req);
    }
}

/* A handler's request becomes one whose first step is offloaded work. */
static void S_offload_first_arm(struct http_request *req, struct ledger_cmd *cmd)
{
    QB_ASSERT(!req->replied && !req->submitted);
    QB_ASSERT(cmd != NULL);
    req->submitted = true;
    req->resumed = true;
    req->cmd = cmd;
    cmd->ctx = req;
    cmd->log_request_id = req->id;
    http_conn_away(req->conn);
}

void http_request_offload_first(struct http_request *req, struct ledger_cmd *cmd,
                                http_offload_fn work, http_resume_fn resume)
{
    S_offload_first_arm(req, cmd);
    http_request_offload(req, work, resume);
}

/* A handler's request, of owner (0: nobody's), into pool, a bounded one:
 * true when queued, false after answering 503 SYSTEM_BUSY (full), 429
 * RATE_LIMITED (the owner's share taken) or 503 SHUTTING_DOWN. */
static bool S_offload_bounded(struct http_request *req, struct http_offload_pool *pool,
                              int64_t owner, struct ledger_cmd *cmd, http_offload_fn work,
                              http_resume_fn resume)
{
    QB_ASSERT(!req->replied && !req->submitted);
    QB_ASSERT(work != NULL && resume != NULL && pool->queued_count_max > 0 && owner >= 0);
    /* Room is checked and taken under one lock: the request goes away only
     * once it is sure to be taken up. */
    pthread_mutex_lock(&pool->mutex);
    enum qb_error room = S_offload_room_for(pool, owner);
    if (room == QB_OK) {
        S_offload_first_arm(req, cmd);
        req->resumed = false;
        req->resume = resume;
        req->offload = work;
        req->offload_owner = owner;
        S_offload_append(pool, req);
    }
    pthread_mutex_unlock(&pool->mutex);
    if (room == QB_E_BUSY || room == QB_E_RATE_LIMITED)
        http_reply_header(req, "Retry-After", "1");
    if (room != QB_OK)
        http_reply_error(req, room);
    return room == QB_OK;
}

bool http_request_offload_password(struct http_request *req, struct ledger_cmd *cmd,
                                   http_offload_fn work, http_resume_fn resume)
{
    return S_offload_bounded(req, &req->server->passwords, 0, cmd, work, resume);
}

bool http_request_offload_report(struct http_request *req, int64_t owner, struct ledger_cmd *cmd,
                                 http_offload_fn work, http_resume_fn resume)
{
    QB_ASSERT(owner > 0);
    return S_offload_bounded(req, &req->server->reports, owner, cmd, work, resume);
}

/* Lets the pool's threads finish what is queued, then joins them. */
static void S_offload_stop(struct http_offload_pool *pool)
{
    pthread_mutex_lock(&pool->mutex);
    pool->stopping = true;
    pthread_cond_broadcast(&pool->cond);
    int count = pool->thread_count;
    pthread_mutex_unlock(&pool->mutex);
    for (int i = 0; i < count; i++)
        pthread_join(pool->threads[i], NULL);
    pthread_mutex_lock(&pool->mutex);
    pool->thread_count = 0;
    pthread_mutex_unlock(&pool->mutex);
}

/* Starts count threads named name-N; false when one cannot start (those
 * that did are stopped by S_offload_stop). */
static bool S_offload_start(struct http_offload_pool *pool, int count, size_t queued_count_max,
                            const char *name)
{
    QB_ASSERT(count >= 1 && count <= HTTP_OFFLOAD_THREADS);
    pool->queued_count_max = queued_count_max;
    for (int i = 0; i < count; i++) {
        if (pthread_create(&pool->threads[i], NULL, S_offload_main, pool) != 0)
            return false;
        thread_name(pool->threads[i], "%s-%d", name, i);
        pool->thread_count++;
    }
    return true;
}

static void S_offload_init(struct http_offload_pool *pool)
{
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->cond, NULL);
}

static void S_offload_release(struct http_offload_pool *pool)
{
    S_offload_stop(pool);
    pthread_mutex_destroy(&pool->mutex);
    pthread_cond_destroy(&pool->cond);
}

bool http_server_ledger_stats(struct http_server *server, struct ledger_stats *out)
{
    pthread_rwlock_rdlock(&server->ledger_lock);
    bool attached = server->ledger != NULL;
    if (attached)
        ledger_stats_get(server->ledger, out);
    pthread_rwlock_unlock(&server->ledger_lock);
    return attached;
}

enum qb_error http_request_account_view(struct http_request *req, int64_t account_id,
                                        struct ledger_account_view *out)
{
    struct http_server *server = req->server;
    pthread_rwlock_rdlock(&server->ledger_lock);
    enum qb_error err = QB_E_SHUTTING_DOWN;
    if (server->ledger != NULL)
        err = ledger_account_view(server->ledger, account_id, out);
    pthread_rwlock_unlock(&server->ledger_lock);
    return err;
}

int64_t http_request_settled_ms(struct http_request *req)
{
    struct http_server *server = req->server;
    pthread_rwlock_rdlock(&server->ledger_lock);
    int64_t settled_ms = server->ledger != NULL ? ledger_settled_ms(server->ledger)
                                                : clock_now_ms(server->env->clock);
    pthread_rwlock_unlock(&server->ledger_lock);
    return settled_ms;
}

int64_t http_request_ledger_now_ms(struct http_request *req)
{
    struct http_server *server = req->server;
    pthread_rwlock_rdlock(&server->ledger_lock);
    int64_t now_ms =
        server->ledger != NULL ? ledger_now_ms(server->ledger) : clock_now_ms(server->env->clock);
    pthread_rwlock_unlock(&server->ledger_lock);
    return now_ms;
}

/* --- the server ---------------------------------------------------------------- */

enum qb_error http_listen_parse(const char *listen, struct sockaddr_storage *addr,
                                socklen_t *addr_size, char *host, size_t host_size, char *err,
                                size_t err_size)
{
    const char *colon = strrchr(listen, ':');
    const char *host_start = listen;
    size_t host_length = colon != NULL ? (size_t)(colon - listen) : 0;
    if (colon != NULL && listen[0] == '[') {
        if (host_length < 2 || colon[-1] != ']') {
            colon = NULL;
        } else {
            host_start = listen + 1;
            host_length -= 2;
        }
    }
    if (colon == NULL || host_length == 0 || host_length >= host_size || colon[1] == '\0' ||
        strlen(colon + 1) > 5 || strspn(colon + 1, "0123456789") != strlen(colon + 1)) {
        snprintf(err, err_size,
                 "listen address \"%s\" is not HOST:PORT (a numeric address and a port: "
                 "127.0.0.1:8080, [::1]:8080)",
                 listen);
        return QB_E_PARAM;
    }
    memcpy(host, host_start, host_length);
    host[host_length] = '\0';
    if (strtol(colon + 1, NULL, 10) > 65535) {
        snprintf(err, err_size, "listen address \"%s\": port %s is out of range 0..65535", listen,
                 colon + 1);
        return QB_E_PARAM;
    }
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    struct addrinfo *found = NULL;
    int rc = getaddrinfo(host, colon + 1, &hints, &found);
    if (rc != 0 || found == NULL || found->ai_addrlen > sizeof *addr) {
        snprintf(err, err_size,
                 "listen address \"%s\": the host \"%s\" is not a numeric IP address (names "
                 "are not looked up: 127.0.0.1, [::1])",
                 listen, host);
        if (found != NULL)
            freeaddrinfo(found);
        return QB_E_PARAM;
    }
    memcpy(addr, found->ai_addr, found->ai_addrlen);
    *addr_size = found->ai_addrlen;
    freeaddrinfo(found);
    return QB_OK;
}

static void S_server_free(struct http_server *server)
{
    http_conns_stop(server);
    pthread_mutex_destroy(&server->reserve_mutex);
    http_verification_stop(&server->verification);
    http_watch_release(&server->watch);
    S_offload_release(&server->offload);
    S_offload_release(&server->passwords);
    S_offload_release(&server->reports);
    S_touches_stop(server); /* no ledger by now: whatever is pending is dropped */
    pthread_mutex_destroy(&server->touch_mutex);
    pthread_cond_destroy(&server->touch_cond);
    http_metrics_release(&server->metrics);
    merchant_nonces_free(server->nonces);
    if (server->admin_token != NULL) {
        crypto_wipe(server->admin_token, server->admin_token_size);
        free(server->admin_token);
    }
    pthread_mutex_destroy(&server->admin_token_mutex);
    pthread_rwlock_destroy(&server->ledger_lock);
    free(server);
}

/* "host:port", "[v6]:port" into out. */
static void S_address_format(const struct sockaddr_storage *addr, const char *host, uint16_t port,
                             char *out, size_t out_size)
{
    snprintf(out, out_size, addr->ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host,
             (unsigned int)port);
}

enum qb_error http_server_start(const struct http_server_options *options, struct http_server **out,
                                char *err, size_t err_size)
{
    *out = NULL;
    if (options->threads < 1 || options->threads > 64 || options->connections_max < 1 ||
        options->body_size_max < 1 || options->pool == NULL || options->password_threads < 0 ||
        options->password_threads > HTTP_OFFLOAD_THREADS ||
        (options->v3_nonce_slots != 0 &&
         (options->v3_nonce_slots < 16 ||
          (options->v3_nonce_slots & (options->v3_nonce_slots - 1)) != 0))) {
        snprintf(err, err_size, "http server options out of range");
        return QB_E_PARAM;
    }
    if (!http_routes_check(options->routes, options->route_count, err, err_size))
        return QB_E_PARAM;
    struct sockaddr_storage addr;
    socklen_t addr_size;
    char host[64];
    enum qb_error result =
        http_listen_parse(options->listen, &addr, &addr_size, host, sizeof host, err, err_size);
    if (result != QB_OK)
        return result;
    bool admin_apart = options->admin_listen != NULL && options->admin_listen[0] != '\0';
    struct sockaddr_storage admin_addr;
    socklen_t admin_addr_size = 0;
    char admin_host[64];
    if (admin_apart) {
        result = http_listen_parse(options->admin_listen, &admin_addr, &admin_addr_size, admin_host,
                                   sizeof admin_host, err, err_size);
        if (result != QB_OK)
            return result;
    }

    struct http_server *server = calloc(1, sizeof *server);
    if (server == NULL)
        return QB_E_INTERNAL;
    server->routes = options->routes;
    server->route_count = options->route_count;
    server->body_size_max = options->body_size_max;
    server->pool = options->pool;
    server->head_check = options->head_check;
    server->head_check_arg = options->head_check_arg;
    server->env = options->env;
    server->ledger = options->ledger;
    server->started_ns = clock_monotonic_ns();
    snprintf(server->version, sizeof server->version, "%s",
             options->version != NULL ? options->version : "");
    atomic_init(&server->requests_in_flight, 0);
    atomic_init(&server->closing, false);
    atomic_init(&server->connections, 0);
    atomic_init(&server->stopping, false);
    server->listen_fd = -1;
    server->admin_fd = -1;
    server->reserve_fd = -1;
    pthread_mutex_init(&server->reserve_mutex, NULL);
    pthread_mutex_init(&server->admin_token_mutex, NULL);
    server->connections_max = options->connections_max;
    server->timeout_s = options->timeout_s > 0 ? options->timeout_s : HTTP_CONNECTION_TIMEOUT_S;
    pthread_rwlock_init(&server->ledger_lock, NULL);
    pthread_mutex_init(&server->touch_mutex, NULL);
    thread_cond_init(&server->touch_cond);
    S_offload_init(&server->offload);
    S_offload_init(&server->passwords);
    S_offload_init(&server->reports);
    server->reports.owner_max = HTTP_REPORTS_PER_OWNER_MAX;
    http_verification_init(&server->verification);
    http_watch_init(&server->watch);
    int password_threads =
        options->password_threads > 0 ? options->password_threads : HTTP_PASSWORD_THREADS_DEFAULT;
    if (!S_offload_start(&server->offload, HTTP_OFFLOAD_THREADS, 0, "qb-offload") ||
        !S_offload_start(&server->passwords, password_threads, HTTP_PASSWORD_QUEUE_MAX,
                         "qb-password") ||
        !S_offload_start(&server->reports, HTTP_REPORT_THREADS, HTTP_REPORT_QUEUE_MAX,
                         "qb-report")) {
        S_server_free(server);
        return QB_E_INTERNAL;
    }
    if (options->env != NULL) {
        if (pthread_create(&server->touch_thread, NULL, S_touch_flusher, server) != 0) {
            S_server_free(server);
            return QB_E_INTERNAL;
        }
        server->touch_thread_started = true;
        thread_name(server->touch_thread, "qb-touch");
    }
    if (options->admin_token != NULL) {
        server->admin_token_size = strlen(options->admin_token);
        server->admin_token = malloc(server->admin_token_size + 1);
        if (server->admin_token != NULL)
            memcpy(server->admin_token, options->admin_token, server->admin_token_size + 1);
    }
    server->nonces =
        merchant_nonces_new(options->v3_nonce_slots != 0 ? options->v3_nonce_slots : 1u << 21);
    if (server->nonces == NULL ||
        (options->admin_token != NULL && server->admin_token == NULL) ||
        http_metrics_init(&server->metrics, options->route_count) != QB_OK) {
        S_server_free(server);
        return QB_E_INTERNAL;
    }

    if (http_conns_start(server, &addr, addr_size, admin_apart ? &admin_addr : NULL,
                         admin_addr_size, options->threads) != QB_OK) {
        snprintf(err, err_size,
                 "cannot listen on \"%s\"%s%s%s (in use, or not an address of this host)",
                 options->listen, admin_apart ? " and \"" : "",
                 admin_apart ? options->admin_listen : "", admin_apart ? "\"" : "");
        S_server_free(server);
        return QB_E_INTERNAL;
    }
    if (server->ledger != NULL)
        ledger_watch_set(server->ledger, http_watch_fire, &server->watch, &server->watch.waiting);
    S_address_format(&addr, host, server->port, server->address, sizeof server->address);
    if (admin_apart)
        S_address_format(&admin_addr, admin_host, server->admin_port, server->admin_address,
                         sizeof server->admin_address);
    *out = server;
    return QB_OK;
}

const char *http_server_address(const struct http_server *server) { return server->address; }
const char *http_server_admin_address(const struct http_server *server)
{
    return server->admin_fd >= 0 ? server->admin_address : NULL;
}
uint16_t http_server_port(const struct http_server *server) { return server->port; }

/* The listening socket stays open until http_server_stop: a connection
 * accepted from now on is closed before any request is read from it. */
bool http_server_admin_token_set(struct http_server *server, const char *token)
{
    size_t size = strlen(token);
    char *copy = malloc(size + 1);
    if (copy == NULL)
        return false;
    memcpy(copy, token, size + 1);
    pthread_mutex_lock(&server->admin_token_mutex);
    char *old = server->admin_token;
    size_t old_size = server->admin_token_size;
    server->admin_token = copy;
    server->admin_token_size = size;
    pthread_mutex_unlock(&server->admin_token_mutex);
    if (old != NULL) {
        crypto_wipe(old, old_size);
        free(old);
    }
    return true;
}

void http_server_quiesce(struct http_server *server)
{
    atomic_store(&server->closing, true);
    /* Requests waiting for news answer now, so that the stop does not wait
     * for them. */
    http_watch_close(&server->watch);
}

struct ledger *http_server_detach_ledger(struct http_server *server)
{
    /* Offloaded work records its outcome through the ledger: it finishes
     * first (a bank call in flight included, and the passwords queued). */
    S_offload_stop(&server->offload);
    S_offload_stop(&server->passwords);
    S_offload_stop(&server->reports);
    S_touches_stop(server);
    pthread_rwlock_wrlock(&server->ledger_lock);
    struct ledger *ledger = server->ledger;
    server->ledger = NULL;
    if (ledger != NULL)
        ledger_watch_set(ledger, NULL, NULL, NULL);
    pthread_rwlock_unlock(&server->ledger_lock);
    return ledger;
}

void http_server_drain(struct http_server *server)
{
    QB_ASSERT(server->ledger == NULL); /* suspended requests would outlive the daemon */
    http_server_quiesce(server);
    /* Let requests in flight (those the ledger just completed, too) send
     * their answers before the connections close. */
    int64_t deadline_ns = clock_monotonic_ns() + (int64_t)HTTP_STOP_WAIT_MS * 1000000;
    while (atomic_load(&server->requests_in_flight) > 0 && clock_monotonic_ns() < deadline_ns)
        usleep(1000);
    int64_t left = atomic_load(&server->requests_in_flight);
    if (left > 0)
        log_event(LOG_WARN, "http.stop_abandoned", "requests=%lld", (long long)left);
    server->drained = true;
}

int64_t http_server_requests_open(struct http_server *server)
{
    return atomic_load(&server->requests_in_flight);
}

void http_server_stop(struct http_server *server)
{
    if (!server->drained)
        http_server_drain(server);
    S_server_free(server);
}

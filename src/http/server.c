#define _GNU_SOURCE /* accept4, pthread_setname_np */
/*
 * server.c — the HTTP server: connections, requests, replies.
 *
 * Each HTTP thread runs an epoll loop over its own connections (edge-
 * triggered, so a connection costs no system call while it waits) and
 * takes new ones from the shared listening socket (EPOLLEXCLUSIVE: one
 * thread is woken per connection, whichever is free). A connection reads
 * one request's head into its buffer (wire.c parses it in place), the
 * request is made and routed at once (so a 404, 405 or 413 goes out before
 * any body is read), the body streams into the request, and the handler
 * runs. A handler that submitted a ledger command leaves the connection
 * away: nothing is read from it and no timeout runs. The ledger's sync
 * thread (or an offload thread) puts the request on its worker's resumed
 * list and wakes the worker once for all that came back together; the
 * worker calls the handler's resume function, which replies. A reply is
 * built into the request and turned into bytes in one place,
 * S_reply_start, which adds X-Request-Id, Date and, under /v3/, the
 * platform's signature; S_request_finish writes the access-log line,
 * counts the request and frees it.
 *
 * A request the server refuses before its handler (malformed, headers too
 * large) gets a JSON error like any other, then the connection is
 * half-closed and drained before it is closed, so that the client reads
 * the answer instead of a reset.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/crypto.h"
#include "base/log.h"
#include "base/rand.h"
#include "http/internal.h"
#include "http/wire.h"

/* --- connections and workers --------------------------------------------------- */

/* A connection's buffer holds the head of its current request, then
 * whatever came after it (body bytes on their way to the request's body,
 * the next pipelined request). A head must end within the first
 * HTTP_CONNECTION_MEMORY_SIZE_MAX bytes; the rest is room for the body to
 * stream through. */
#define S_HEAD_SIZE_MAX HTTP_CONNECTION_MEMORY_SIZE_MAX
#define S_IN_SIZE (S_HEAD_SIZE_MAX + 4096)
#define S_EVENTS_MAX 64
#define S_ACCEPT_BATCH 64
#define S_LINGER_SIZE_MAX (256 * 1024) /* bytes read and dropped after a refusal */
#define S_STREAM_PIECE_SIZE (32 * 1024)
#define S_OUT_SIZE_MAX (S_STREAM_PIECE_SIZE + 64 * 1024) /* a reply's head, or a stream's piece */
#define S_POLL_MS_MAX 1000

enum S_state {
    S_HEAD,   /* reading a request's head */
    S_BODY,   /* reading its body */
    S_AWAY,   /* with the ledger or an offload thread: nothing read, no timeout */
    S_SEND,   /* sending the reply */
    S_LINGER, /* refused and half-closed: reading what the client still sends, then closing */
    S_CLOSED, /* closed; freed at the end of the loop's turn */
};

struct http_conn {
    struct http_worker *worker;
    int fd;
    enum S_state state;
    bool unread;      /* the socket may hold bytes not read yet */
    bool peer_closed; /* the client sent its last byte (or the socket failed) */
    bool keep_alive;  /* another request may follow the current one */
    bool linger;      /* after the reply: half-close and drain, don't close at once */
    char *in;         /* S_IN_SIZE bytes */
    size_t in_size;
    size_t head_size; /* the current request's head, at the start of in */
    size_t scanned;   /* http_wire_head_end's progress on the next head */
    struct http_wire_head head;
    struct http_request *req;
    bool chunked;
    uint64_t body_left; /* Content-Length bytes still to come */
    struct http_wire_chunked chunk;
    /* The reply: out (the head, or a stream's framed piece), then body. */
    struct buf out;
    size_t out_sent;
    const char *body;
    size_t body_size;
    size_t body_sent;
    http_stream_read_fn stream_read;
    http_stream_free_fn stream_free;
    void *stream_ctx;
    char *stream_piece;  /* a piece of the stream, framed */
    bool stream_chunked; /* HTTP/1.1: chunked; HTTP/1.0: the close ends the body */
    size_t linger_size;
    int64_t active_ms;             /* last read or sent: the idle timeout counts from here */
    struct http_conn *prev, *next; /* the worker's idle list (oldest first) or away list */
    struct http_conn *resumed_next;
};

struct http_worker {
    struct http_server *server;
    pthread_t thread;
    bool started;
    int epfd;
    int wake_fd;           /* an eventfd: resumed requests are waiting */
    pthread_mutex_t mutex; /* the resumed list and wake_pending */
    struct http_conn *resumed_head;
    struct http_conn *resumed_tail;
    struct http_conn *incoming; /* accepted by another thread, for this one */
    bool wake_pending;
    struct http_conn idle; /* sentinels of the two lists */
    struct http_conn away;
    struct http_conn *closed; /* to free at the end of the loop's turn */
    int64_t date_s;
    char date[40];
};

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
    http_reply_raw(req, status, "application/json; charset=utf-8", text, strlen(text));
    free(text);
}

void http_reply_error_message(struct http_request *req, enum qb_error err, const char *message)
{
    QB_ASSERT(err != QB_OK);
    json_t *body = json_object();
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
static bool S_out_header(struct buf *out, const char *name, const char *value)
{
    return buf_append(out, name, strlen(name)) == QB_OK && buf_append(out, ": ", 2) == QB_OK &&
           buf_append(out, value, strlen(value)) == QB_OK && buf_append(out, "\r\n", 2) == QB_OK;
}

static bool S_reply_sign(struct http_request *req, struct buf *out)
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
    bool ok = merchant_response_message(&message, timestamp_s, nonce, req->reply.data,
                                        req->reply.size) == QB_OK &&
              merchant_rsa_sign(env->platform->key, message.data, message.size, signature,
                                sizeof signature) == QB_OK;
    buf_release(&message);
    ok = ok && S_out_header(out, "Wechatpay-Timestamp", timestamp) &&
         S_out_header(out, "Wechatpay-Nonce", nonce) &&
         S_out_header(out, "Wechatpay-Serial", env->platform->serial_no) &&
         S_out_header(out, "Wechatpay-Signature", signature) &&
         S_out_header(out, "Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048");
    if (!ok)
        log_event(LOG_ERROR, "http.reply_unsigned", "status=%d", req->status);
    return ok;
}

/* --- requests ----------------------------------------------------------------- */

const char *http_request_id(const struct http_request *req) { return req->id; }
const char *http_request_method(const struct http_request *req) { return req->method; }
const char *http_request_path(const struct http_request *req) { return req->path; }
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
    return http_wire_header(&req->conn->head, name);
}

static struct http_request *S_request_new(struct http_server *server, struct http_conn *conn)
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
    buf_init(&req->body, server->body_size_max);
    buf_init(&req->reply, HTTP_REPLY_SIZE_MAX);
    atomic_fetch_add(&server->requests_in_flight, 1);
    return req;
}

/* With the head parsed: the method, the path (unescaped: what routes
 * match), the query string and the target as sent (what a merchant signs). */
static void S_request_start(struct http_request *req, const struct http_wire_head *head)
{
    snprintf(req->method, sizeof req->method, "%s", head->method);
    req->head_only = strcmp(head->method, "HEAD") == 0;
    req->uri = head->target;
    const char *question = strchr(head->target, '?');
    size_t path_size = question != NULL ? (size_t)(question - head->target) : strlen(head->target);
    if (question != NULL)
        req->query = question + 1;
    /* Too long, or an escaped NUL: no route has such a path. */
    req->path_too_long =
        !http_wire_unescape(head->target, path_size, false, req->path, sizeof req->path);
    if (req->path_too_long)
        req->path[0] = '\0';
}

const char *http_request_uri(const struct http_request *req)
{
    return req->uri != NULL ? req->uri : req->path;
}

const struct merchant *http_request_merchant(const struct http_request *req)
{
    return req->has_merchant ? &req->merchant : NULL;
}

static void S_request_free(struct http_request *req)
{
    atomic_fetch_sub(&req->server->requests_in_flight, 1);
    /* Bodies carry passwords, payment passwords and card numbers: wiped
     * before the memory goes back to the allocator. */
    if (req->body.data != NULL)
        crypto_wipe(req->body.data, req->body.capacity);
    buf_release(&req->body);
    buf_release(&req->reply);
    if (req->stream_ctx != NULL) /* never handed to the connection */
        req->stream_free(req->stream_ctx);
    S_arena_free(req);
    free(req);
}

/* Step 1, with the headers in: refuse what is too large, route. Replies
 * here go out before any of the body is read. */
static void S_on_headers(struct http_request *req)
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
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)S_TOUCH_FLUSH_MS % 1000 * 1000000L;
        until.tv_sec += S_TOUCH_FLUSH_MS / 1000 + until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
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

/* Looks the bearer token up as a user session. QB_OK fills req->session;
 * QB_E_UNAUTHORIZED for any token that is not a live session (one answer
 * for all); QB_E_BUSY when no read connection is free. */
static enum qb_error S_session_find(struct http_request *req, const char *token, bool *touch)
{
    struct http_server *server = req->server;
    *touch = false;
    if (server->env == NULL || token == NULL || !S_token_is_hex(token))
        return QB_E_UNAUTHORIZED;
    enum qb_error err = identity_session_authenticate_cached(server->env, token, &req->session, touch);
    if (err != QB_E_NOT_FOUND)
        return err;
    struct store *reader;
    err = store_pool_acquire(server->pool, S_AUTH_POOL_WAIT_MS, &reader);
    if (err != QB_OK)
        return err;
    err = identity_session_authenticate(server->env, reader, token, &req->session, touch);
    store_pool_release(server->pool, reader);
    if (err == QB_OK)
        return QB_OK;
    memset(&req->session, 0, sizeof req->session);
    *touch = false;
    return err == QB_E_BUSY || err == QB_E_STORAGE ? err : QB_E_UNAUTHORIZED;
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
    err = merchant_get(reader, auth.mchid, &req->merchant);
    store_pool_release(server->pool, reader);
    if (err == QB_E_NOT_FOUND) {
        log_event(LOG_INFO, "http.merchant_refused", "reason=unknown_mchid");
        return QB_E_SIGN_ERROR;
    }
    if (err != QB_OK)
        return err == QB_E_BUSY || err == QB_E_STORAGE ? err : QB_E_INTERNAL;
    const char *reason = "";
    int64_t now_ms = clock_now_ms(server->env->clock);
    err = merchant_request_verify(&req->merchant, &auth, req->method, http_request_uri(req),
                                  req->body.data, req->body.size, now_ms, &reason);
    if (err == QB_OK) {
        err = merchant_nonces_claim(server->nonces, auth.mchid, auth.nonce, now_ms);
        if (err == QB_E_CONFLICT) {
            reason = "nonce reused";
            err = QB_E_SIGN_ERROR;
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
        const struct http_server *server = req->server;
        const char *token = S_bearer_token(req);
        if (token == NULL)
            return QB_E_UNAUTHORIZED;
        if (server->admin_token != NULL && strlen(token) == server->admin_token_size &&
            crypto_equal(token, server->admin_token, server->admin_token_size))
            return QB_OK;
        /* A user who is who they say, but no operator: 403, as the API
         * says for every non-admin token. The session is not touched. */
        bool touch;
        if (S_session_find(req, token, &touch) == QB_OK) {
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
        enum qb_error err = S_session_find(req, token, &touch);
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

/* Step 2, with the body in: authenticate and run the handler. */
static void S_dispatch(struct http_request *req)
{
    if (req->body_too_large) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    const struct http_route *route = &req->server->routes[req->route_index];
    enum qb_error err = S_authenticate(req, route->auth);
    if (err != QB_OK) {
        if (err == QB_E_UNAUTHORIZED)
            http_reply_header(req, "WWW-Authenticate", "Bearer");
        http_reply_error(req, err);
        return;
    }
    route->handler(req);
    if (!req->replied && !req->submitted) {
        log_event(LOG_ERROR, "http.handler_no_reply", "route=%s", route->pattern);
        http_reply_error(req, QB_E_INTERNAL);
    }
}

/* Step 3, on the connection's thread after the writer thread resumed it. */
static void S_on_resumed(struct http_request *req)
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

/* --- connections ------------------------------------------------------------------ */

static void S_list_unlink(struct http_conn *c)
{
    c->prev->next = c->next;
    c->next->prev = c->prev;
    c->prev = c->next = c;
}

static void S_list_append(struct http_conn *list, struct http_conn *c)
{
    c->prev = list->prev;
    c->next = list;
    list->prev->next = c;
    list->prev = c;
}

/* Read or sent something: the idle timeout starts again. */
static void S_conn_active(struct http_conn *c)
{
    c->active_ms = clock_monotonic_ns() / 1000000;
    S_list_unlink(c);
    S_list_append(&c->worker->idle, c);
}

/* Logs, counts and frees the connection's request; ok is false when the
 * connection ended before the reply was sent. */
static void S_request_finish(struct http_conn *c, bool ok)
{
    struct http_request *req = c->req;
    if (req == NULL)
        return;
    c->req = NULL;
    int64_t duration_us = (clock_monotonic_ns() - req->started_ns) / 1000;
    int status = req->queued ? req->status : 0;
    log_set_request_id(req->id);
    if (ok)
        log_event(LOG_INFO, "http.request", "method=%s path=%s status=%d duration_us=%lld",
                  req->method, req->path, status, (long long)duration_us);
    else
        log_event(LOG_INFO, "http.request", "method=%s path=%s status=%d duration_us=%lld closed=1",
                  req->method, req->path, status, (long long)duration_us);
    log_set_request_id(NULL);
    if (req->queued)
        http_metrics_observe(&req->server->metrics, req->route_index, status, duration_us);
    S_request_free(req);
}

static void S_stream_drop(struct http_conn *c)
{
    if (c->stream_ctx != NULL)
        c->stream_free(c->stream_ctx);
    c->stream_ctx = NULL;
    c->stream_read = NULL;
}

/* Closes at once, the request (if any) unanswered. Never while away: the
 * request belongs to the ledger or an offload thread then. */
static void S_conn_close(struct http_conn *c)
{
    QB_ASSERT(c->state != S_AWAY);
    if (c->state == S_CLOSED)
        return;
    S_request_finish(c, false);
    S_stream_drop(c);
    close(c->fd);
    c->fd = -1;
    c->state = S_CLOSED;
    S_list_unlink(c);
    c->resumed_next = c->worker->closed;
    c->worker->closed = c;
    atomic_fetch_sub(&c->worker->server->connections, 1);
}

static void S_conn_free(struct http_conn *c)
{
    crypto_wipe(c->in, S_IN_SIZE); /* bodies carry passwords and card numbers */
    free(c->in);
    buf_release(&c->out);
    free(c->stream_piece);
    free(c);
}

/* One recv into the buffer's free space. */
static void S_conn_read(struct http_conn *c)
{
    size_t space = S_IN_SIZE - c->in_size;
    QB_ASSERT(space > 0);
    ssize_t n = recv(c->fd, c->in + c->in_size, space, 0);
    if (n > 0) {
        c->in_size += (size_t)n;
        /* A short read emptied the socket: the next byte to come brings
         * another edge from epoll. */
        c->unread = (size_t)n == space;
        S_conn_active(c);
    } else if (n == 0) {
        c->unread = false;
        c->peer_closed = true;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        c->unread = false;
    } else if (errno != EINTR) {
        c->unread = false;
        c->peer_closed = true;
    }
}

static const char *S_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 423:
        return "Locked";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return status < 300   ? "OK"
               : status < 400 ? "Redirect"
               : status < 500 ? "Client Error"
                              : "Server Error";
    }
}

/* The Date header's value, formatted once a second per thread. */
static const char *S_date(struct http_worker *w)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (now.tv_sec != w->date_s) {
        struct tm tm;
        time_t t = now.tv_sec;
        gmtime_r(&t, &tm);
        strftime(w->date, sizeof w->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        w->date_s = now.tv_sec;
    }
    return w->date;
}

/* Turns the request's reply into bytes to send: the head into out, the
 * body from the request's reply buffer (or its stream), and moves to S_SEND. */
static void S_reply_start(struct http_conn *c)
{
    struct http_request *req = c->req;
    QB_ASSERT(req != NULL && req->replied && !req->queued);
    struct http_server *server = req->server;
    req->queued = true;
    bool streamed = req->stream_ctx != NULL;
    if (atomic_load(&server->closing))
        c->keep_alive = false;
    if (streamed) {
        c->stream_read = req->stream_read;
        c->stream_free = req->stream_free;
        c->stream_ctx = req->stream_ctx;
        req->stream_ctx = NULL;
        c->stream_chunked = c->head.minor_version == 1;
        if (!c->stream_chunked)
            c->keep_alive = false;
    }
    struct buf *out = &c->out;
    buf_reset(out);
    char line[64];
    bool ok = buf_printf(out, "HTTP/1.1 %d %s\r\n", req->status, S_reason(req->status)) == QB_OK &&
              S_out_header(out, "Date", S_date(c->worker)) &&
              S_out_header(out, "X-Request-Id", req->id) &&
              (req->content_type == NULL || S_out_header(out, "Content-Type", req->content_type)) &&
              S_out_header(out, "Cache-Control", "no-store");
    for (int i = 0; ok && i < req->header_count; i++)
        ok = S_out_header(out, req->headers[i].name, req->headers[i].value);
    /* A /v3/ reply that cannot be signed is not sent unsigned: the client
     * gets no answer rather than one it cannot check. */
    if (ok && !streamed && strncmp(req->path, "/v3/", 4) == 0)
        ok = S_reply_sign(req, out);
    if (ok && !c->keep_alive)
        ok = S_out_header(out, "Connection", "close");
    else if (ok && c->head.minor_version == 0)
        ok = S_out_header(out, "Connection", "keep-alive");
    if (ok && streamed && c->stream_chunked)
        ok = S_out_header(out, "Transfer-Encoding", "chunked");
    if (ok && !streamed && req->status != 204 && req->status != 304) {
        snprintf(line, sizeof line, "%zu", req->reply.size);
        ok = S_out_header(out, "Content-Length", line);
    }
    if (!ok || buf_append(out, "\r\n", 2) != QB_OK) {
        log_event(LOG_ERROR, "http.reply_dropped", "status=%d", req->status);
        c->state = S_SEND;
        S_conn_close(c);
        return;
    }
    c->out_sent = 0;
    c->body = NULL;
    c->body_size = 0;
    c->body_sent = 0;
    if (req->head_only) {
        S_stream_drop(c);
    } else if (!streamed) {
        c->body = req->reply.data;
        c->body_size = req->reply.size;
    }
    c->state = S_SEND;
    S_conn_active(c);
}

/* Fetches the stream's next piece (chunk-framed on HTTP/1.1), or its end,
 * as the body to send. False when the stream failed: the connection is
 * cut, so the client sees a truncated body. */
static bool S_stream_next(struct http_conn *c)
{
    enum { frame_room = 24 };
    if (c->stream_piece == NULL) {
        c->stream_piece = malloc(frame_room + S_STREAM_PIECE_SIZE + 2);
        if (c->stream_piece == NULL)
            return false;
    }
    char *data = c->stream_piece + frame_room;
    size_t written = 0;
    bool end = false;
    enum qb_error err = c->stream_read(c->stream_ctx, data, S_STREAM_PIECE_SIZE, &written, &end);
    if (err != QB_OK) {
        log_event(LOG_ERROR, "http.stream_failed", "error=%s", error_name(err));
        return false;
    }
    QB_ASSERT(written <= S_STREAM_PIECE_SIZE);
    c->body_sent = 0;
    if (end && written == 0) {
        S_stream_drop(c);
        c->body = "0\r\n\r\n";
        c->body_size = c->stream_chunked ? 5 : 0;
        return true;
    }
    QB_ASSERT(written > 0);
    if (!c->stream_chunked) {
        c->body = data;
        c->body_size = written;
        return true;
    }
    char frame[frame_room];
    int n = snprintf(frame, sizeof frame, "%zx\r\n", written);
    memcpy(data - n, frame, (size_t)n);
    memcpy(data + written, "\r\n", 2);
    c->body = data - n;
    c->body_size = (size_t)n + written + 2;
    return true;
}

/* Sends what is pending. True when all of the reply is out; false when the
 * socket is full (EPOLLOUT brings the connection back) or it closed. */
static bool S_conn_send(struct http_conn *c)
{
    for (;;) {
        struct iovec iov[2];
        int count = 0;
        if (c->out_sent < c->out.size)
            iov[count++] = (struct iovec){c->out.data + c->out_sent, c->out.size - c->out_sent};
        if (c->body_sent < c->body_size)
            iov[count++] =
                (struct iovec){(void *)(c->body + c->body_sent), c->body_size - c->body_sent};
        if (count == 0) {
            if (c->stream_ctx == NULL)
                return true;
            if (!S_stream_next(c)) {
                S_conn_close(c);
                return false;
            }
            continue;
        }
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)count};
        ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                S_conn_close(c);
            return false;
        }
        size_t sent = (size_t)n;
        size_t head_part = c->out.size - c->out_sent;
        if (sent <= head_part) {
            c->out_sent += sent;
        } else {
            c->out_sent = c->out.size;
            c->body_sent += sent - head_part;
        }
        S_conn_active(c);
    }
}

/* A refusal of what the connection sent that ends it: the reply, then a
 * half-close and a drain (closing with bytes unread would reset the
 * connection and could destroy the reply before the client reads it). */
static void S_refuse(struct http_conn *c, enum qb_error err, const char *message)
{
    if (c->req == NULL) {
        c->req = S_request_new(c->worker->server, c);
        if (c->req == NULL) {
            S_conn_close(c);
            return;
        }
        c->head.header_count = 0; /* a head that failed to parse: none of it */
        snprintf(c->req->method, sizeof c->req->method, "-");
        snprintf(c->req->path, sizeof c->req->path, "-");
    }
    c->keep_alive = false;
    c->linger = true;
    log_set_request_id(c->req->id);
    if (!c->req->replied) {
        if (message != NULL)
            http_reply_error_message(c->req, err, message);
        else
            http_reply_error(c->req, err);
    }
    log_set_request_id(NULL);
    S_reply_start(c);
}

/* Hands the request to its route. */
static void S_conn_dispatch(struct http_conn *c)
{
    struct http_request *req = c->req;
    log_set_request_id(req->id);
    S_dispatch(req);
    log_set_request_id(NULL);
    if (req->replied && !req->submitted)
        S_reply_start(c);
    /* else: submitted, and S_AWAY until it comes back */
}

/* A complete head at the start of the buffer: parse it, make the request,
 * route it, and find out how its body is framed. */
static void S_conn_head(struct http_conn *c, size_t head_size)
{
    struct http_server *server = c->worker->server;
    c->head_size = head_size;
    enum http_wire_result parsed = http_wire_parse_head(c->in, head_size, &c->head);
    if (parsed == HTTP_WIRE_TOO_MANY) {
        S_refuse(c, QB_E_HEADERS_TOO_LARGE, NULL);
        return;
    }
    if (parsed == HTTP_WIRE_VERSION) {
        S_refuse(c, QB_E_HTTP_MALFORMED, "only HTTP/1.0 and HTTP/1.1 are spoken here");
        return;
    }
    if (parsed != HTTP_WIRE_OK) {
        S_refuse(c, QB_E_HTTP_MALFORMED, NULL);
        return;
    }
    /* The fields that frame the request, each at most once (two equal
     * lengths excepted): repeated, two servers could take different ones. */
    const char *te = NULL;
    const char *length = NULL;
    int te_count = 0;
    int host_count = 0;
    for (int i = 0; i < c->head.header_count; i++) {
        const char *name = c->head.headers[i].name;
        if (strcasecmp(name, "Transfer-Encoding") == 0) {
            te = c->head.headers[i].value;
            te_count++;
        } else if (strcasecmp(name, "Host") == 0) {
            host_count++;
        } else if (strcasecmp(name, "Content-Length") == 0) {
            if (length != NULL && strcmp(length, c->head.headers[i].value) != 0) {
                S_refuse(c, QB_E_HTTP_MALFORMED, "Content-Length is given twice");
                return;
            }
            length = c->head.headers[i].value;
        }
    }
    if (te_count > 1 || host_count > 1) {
        S_refuse(c, QB_E_HTTP_MALFORMED,
                 te_count > 1 ? "Transfer-Encoding is given twice" : "Host is given twice");
        return;
    }
    c->chunked = false;
    c->body_left = 0;
    memset(&c->chunk, 0, sizeof c->chunk);
    if (te != NULL) {
        /* Both, or a coding other than chunked alone, could be read two
         * ways by two servers: refused (RFC 9112 6.1). */
        if (length != NULL || c->head.minor_version == 0 || strcasecmp(te, "chunked") != 0) {
            S_refuse(c, QB_E_HTTP_MALFORMED,
                     "only Transfer-Encoding: chunked is accepted, "
                     "without Content-Length");
            return;
        }
        c->chunked = true;
    } else if (length != NULL && !http_wire_parse_length(length, &c->body_left)) {
        S_refuse(c, QB_E_HTTP_MALFORMED, "Content-Length is not a number");
        return;
    }
    if (c->head.minor_version == 1 && host_count == 0) {
        S_refuse(c, QB_E_HTTP_MALFORMED, "an HTTP/1.1 request needs a Host header");
        return;
    }
    const char *connection = http_wire_header(&c->head, "Connection");
    c->keep_alive = c->head.minor_version == 1
                        ? connection == NULL || !http_wire_list_has(connection, "close")
                        : connection != NULL && http_wire_list_has(connection, "keep-alive");
    c->linger = false;

    struct http_request *req = S_request_new(server, c);
    if (req == NULL) {
        S_conn_close(c);
        return;
    }
    c->req = req;
    log_set_request_id(req->id);
    S_request_start(req, &c->head);
    S_on_headers(req);
    log_set_request_id(NULL);
    bool has_body = c->chunked || c->body_left > 0;
    if (req->replied) {
        /* Answered from the head alone (404, 405, 413): the body, if any,
         * is not read, so the connection cannot serve another request. */
        if (has_body) {
            c->keep_alive = false;
            c->linger = true;
        }
        S_reply_start(c);
        return;
    }
    if (!has_body) {
        S_conn_dispatch(c);
        return;
    }
    const char *expect = http_wire_header(&c->head, "Expect");
    if (expect != NULL && c->head.minor_version == 1 && strcasecmp(expect, "100-continue") == 0 &&
        c->in_size == c->head_size) {
        static const char go_on[] = "HTTP/1.1 100 Continue\r\n\r\n";
        /* The socket is empty now (nothing was sent on it since the last
         * reply went out whole): 25 bytes fit. */
        if (send(c->fd, go_on, sizeof go_on - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof go_on - 1)) {
            S_conn_close(c);
            return;
        }
    }
    c->state = S_BODY;
}

/* Moves the body bytes that arrived into the request, and dispatches it
 * once the body is complete. */
static void S_conn_body(struct http_conn *c)
{
    struct http_request *req = c->req;
    char *start = c->in + c->head_size;
    size_t avail = c->in_size - c->head_size;
    size_t used = 0;
    bool complete = false;
    if (!c->chunked) {
        size_t take = avail < c->body_left ? avail : (size_t)c->body_left;
        if (!req->body_too_large && buf_append(&req->body, start, take) != QB_OK)
            req->body_too_large = true;
        c->body_left -= take;
        used = take;
        complete = c->body_left == 0;
    } else {
        while (used < avail) {
            size_t consumed = 0;
            const char *piece;
            size_t piece_size;
            enum http_wire_result r = http_wire_chunked_step(&c->chunk, start + used, avail - used,
                                                             &consumed, &piece, &piece_size);
            if (r == HTTP_WIRE_BAD) {
                S_refuse(c, QB_E_HTTP_MALFORMED, "the chunked body is malformed");
                return;
            }
            if (piece_size > 0 && !req->body_too_large &&
                buf_append(&req->body, piece, piece_size) != QB_OK)
                req->body_too_large = true; /* past the limit: read on, then 413 */
            used += consumed;
            if (r == HTTP_WIRE_OK) {
                complete = true;
                break;
            }
            if (consumed == 0 && piece_size == 0)
                break;
        }
    }
    /* Keep the head where it is; what follows the body moves up, and the
     * body's bytes (passwords, card numbers) do not stay behind it. */
    memmove(start, start + used, avail - used);
    crypto_wipe(start + avail - used, used);
    c->in_size -= used;
    if (complete)
        S_conn_dispatch(c);
}

/* The reply is out: finish the request, then serve the next one, or close. */
static void S_conn_replied(struct http_conn *c)
{
    S_request_finish(c, true);
    if (!c->keep_alive) {
        if (!c->linger) {
            S_conn_close(c);
            return;
        }
        shutdown(c->fd, SHUT_WR);
        c->state = S_LINGER;
        c->in_size = 0;
        return;
    }
    memmove(c->in, c->in + c->head_size, c->in_size - c->head_size);
    c->in_size -= c->head_size;
    c->head_size = 0;
    c->scanned = 0;
    c->state = S_HEAD;
}

/* Runs the connection as far as the bytes it has (and can read) take it. */
static void S_conn_run(struct http_conn *c)
{
    for (;;) {
        switch (c->state) {
        case S_HEAD: {
            size_t head = c->in_size > 0 ? http_wire_head_end(c->in, c->in_size, &c->scanned) : 0;
            if (head > S_HEAD_SIZE_MAX || (head == 0 && c->in_size >= S_HEAD_SIZE_MAX)) {
                bool line = !http_wire_no_line(
                    c->in, c->in_size < S_HEAD_SIZE_MAX ? c->in_size : S_HEAD_SIZE_MAX);
                S_refuse(c, line ? QB_E_HEADERS_TOO_LARGE : QB_E_URI_TOO_LONG, NULL);
            } else if (head > 0) {
                S_conn_head(c, head);
            } else if (c->unread && !c->peer_closed) {
                S_conn_read(c);
            } else {
                if (c->peer_closed)
                    S_conn_close(c); /* a partial head is dropped unanswered */
                return;
            }
            break;
        }
        case S_BODY:
            if (c->in_size > c->head_size) {
                S_conn_body(c);
                if (c->state != S_BODY)
                    break;
            }
            if (c->unread && !c->peer_closed) {
                S_conn_read(c);
                break;
            }
            if (c->peer_closed)
                S_conn_close(c); /* the body was cut off: never handled */
            return;
        case S_AWAY:
            return;
        case S_SEND:
            if (!S_conn_send(c))
                return;
            S_conn_replied(c);
            break;
        case S_LINGER:
            c->linger_size += c->in_size;
            c->in_size = 0;
            if (c->peer_closed || c->linger_size > S_LINGER_SIZE_MAX) {
                S_conn_close(c);
                return;
            }
            if (!c->unread)
                return;
            S_conn_read(c);
            break;
        case S_CLOSED:
            return;
        }
    }
}

/* --- the worker threads ---------------------------------------------------------- */

/* On the connection's own thread: into its epoll set and its idle list. */
static void S_conn_adopt(struct http_conn *c)
{
    struct http_worker *w = c->worker;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        close(c->fd);
        S_conn_free(c);
        atomic_fetch_sub(&w->server->connections, 1);
        return;
    }
    S_conn_active(c);
}

static void S_worker_wake(struct http_worker *w)
{
    uint64_t one = 1;
    while (write(w->wake_fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
}

/* From any thread: the request is back from the ledger or an offload
 * thread; its connection's worker answers it. One wake-up covers every
 * request that comes back before the worker looks. */
static void S_resume_post(struct http_request *req)
{
    struct http_conn *c = req->conn;
    struct http_worker *w = c->worker;
    pthread_mutex_lock(&w->mutex);
    c->resumed_next = NULL;
    if (w->resumed_tail != NULL)
        w->resumed_tail->resumed_next = c;
    else
        w->resumed_head = c;
    w->resumed_tail = c;
    bool wake = !w->wake_pending;
    w->wake_pending = true;
    pthread_mutex_unlock(&w->mutex);
    if (wake)
        S_worker_wake(w);
}

static void S_worker_resumed(struct http_worker *w)
{
    uint64_t count;
    while (read(w->wake_fd, &count, sizeof count) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&w->mutex);
    struct http_conn *c = w->resumed_head;
    w->resumed_head = w->resumed_tail = NULL;
    struct http_conn *incoming = w->incoming;
    w->incoming = NULL;
    w->wake_pending = false;
    pthread_mutex_unlock(&w->mutex);
    while (incoming != NULL) {
        struct http_conn *next = incoming->resumed_next;
        S_conn_adopt(incoming);
        incoming = next;
    }
    while (c != NULL) {
        struct http_conn *next = c->resumed_next;
        QB_ASSERT(c->state == S_AWAY && c->req != NULL);
        struct http_request *req = c->req;
        log_set_request_id(req->id);
        S_on_resumed(req);
        log_set_request_id(NULL);
        if (req->replied) {
            S_reply_start(c);
            S_conn_run(c);
        }
        c = next;
    }
}

/* The request went to the ledger or an offload thread. */
static void S_conn_away(struct http_conn *c)
{
    c->state = S_AWAY;
    S_list_unlink(c);
    S_list_append(&c->worker->away, c);
}

/* Out of file descriptors: the connection waiting to be accepted would
 * keep the listening socket ready, and every HTTP thread spinning on it.
 * The descriptor kept in reserve for this makes room to accept it and
 * close it at once; the client sees the connection close. */
static void S_accept_shed(struct http_server *server)
{
    pthread_mutex_lock(&server->reserve_mutex);
    if (server->reserve_fd >= 0) {
        close(server->reserve_fd);
        int fd = accept4(server->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0)
            close(fd);
        server->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    bool warn = clock_monotonic_ns() - server->reserve_warned_ns > 1000000000LL;
    if (warn)
        server->reserve_warned_ns = clock_monotonic_ns();
    pthread_mutex_unlock(&server->reserve_mutex);
    if (warn)
        log_event(LOG_WARN, "http.accept_failed", "reason=no_file_descriptors");
}

static void S_worker_accept(struct http_worker *w)
{
    struct http_server *server = w->server;
    for (int i = 0; i < S_ACCEPT_BATCH; i++) {
        int fd = accept4(server->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE)
                S_accept_shed(server);
            return;
        }
        if (atomic_load(&server->closing) ||
            atomic_load(&server->connections) >= (int64_t)server->connections_max) {
            close(fd);
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct http_conn *c = calloc(1, sizeof *c);
        char *in = malloc(S_IN_SIZE);
        if (c == NULL || in == NULL) {
            free(c);
            free(in);
            close(fd);
            continue;
        }
        /* Connections go round the threads in turn: whichever thread
         * accepts them, each thread serves its share. */
        uint64_t turn = atomic_fetch_add(&server->accept_turn, 1);
        struct http_worker *owner = &server->workers[turn % (uint64_t)server->worker_count];
        c->worker = owner;
        c->fd = fd;
        c->in = in;
        c->state = S_HEAD;
        buf_init(&c->out, S_OUT_SIZE_MAX);
        c->prev = c->next = c;
        atomic_fetch_add(&server->connections, 1);
        if (owner == w) {
            S_conn_adopt(c);
            continue;
        }
        pthread_mutex_lock(&owner->mutex);
        c->resumed_next = owner->incoming;
        owner->incoming = c;
        bool wake = !owner->wake_pending;
        owner->wake_pending = true;
        pthread_mutex_unlock(&owner->mutex);
        if (wake)
            S_worker_wake(owner);
    }
}

/* Closes connections silent past the timeout; answers how long until the
 * next one would be, at most S_POLL_MS_MAX. */
static int S_worker_expire(struct http_worker *w)
{
    int64_t now_ms = clock_monotonic_ns() / 1000000;
    int64_t timeout_ms = (int64_t)w->server->timeout_s * 1000;
    while (w->idle.next != &w->idle) {
        struct http_conn *c = w->idle.next;
        int64_t due_ms = c->active_ms + timeout_ms;
        if (due_ms > now_ms) {
            int64_t wait_ms = due_ms - now_ms;
            return wait_ms < S_POLL_MS_MAX ? (int)wait_ms : S_POLL_MS_MAX;
        }
        S_conn_close(c);
    }
    return S_POLL_MS_MAX;
}

static void S_worker_reap(struct http_worker *w)
{
    while (w->closed != NULL) {
        struct http_conn *c = w->closed;
        w->closed = c->resumed_next;
        S_conn_free(c);
    }
}

static void *S_worker_main(void *arg)
{
    struct http_worker *w = arg;
    struct http_server *server = w->server;
    struct epoll_event events[S_EVENTS_MAX];
    while (!atomic_load(&server->stopping)) {
        int timeout_ms = S_worker_expire(w);
        S_worker_reap(w);
        int n = epoll_wait(w->epfd, events, S_EVENTS_MAX, timeout_ms);
        for (int i = 0; i < n; i++) {
            void *ptr = events[i].data.ptr;
            if (ptr == &server->listen_fd) {
                S_worker_accept(w);
            } else if (ptr == w) {
                S_worker_resumed(w);
            } else {
                struct http_conn *c = ptr;
                if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                    c->unread = true;
                S_conn_run(c);
            }
        }
        S_worker_reap(w);
    }
    return NULL;
}

/* --- submitting to the ledger ------------------------------------------------ */

/* The writer thread, after the command's batch committed or failed: resume
 * the connection; everything else happens on the connection's thread. */
static void S_on_cmd_done(struct ledger_cmd *cmd) { S_resume_post(cmd->ctx); }

void http_request_submit(struct http_request *req, struct ledger_cmd *cmd, http_resume_fn resume)
{
    QB_ASSERT(!req->replied && !req->submitted);
    QB_ASSERT(resume != NULL);
    struct http_server *server = req->server;
    req->submitted = true;
    req->cmd = cmd;
    req->resume = resume;
    cmd->ctx = req;
    cmd->done = S_on_cmd_done;

    /* Away before submitting, so that the done callback can never post a
     * connection that still reads. The read lock keeps the ledger alive
     * until the command is queued; ledger_close then completes it. */
    S_conn_away(req->conn);
    pthread_rwlock_rdlock(&server->ledger_lock);
    enum qb_error err = QB_E_SHUTTING_DOWN;
    if (server->ledger != NULL)
        err = ledger_submit(server->ledger, cmd);
    pthread_rwlock_unlock(&server->ledger_lock);
    if (err != QB_OK) {
        /* Refused: nobody else will resume it. The resume function answers
         * from cmd->result like for any failed command. */
        cmd->result = err;
        S_resume_post(req);
    }
}

enum qb_error http_request_execute(struct http_request *req, struct ledger_cmd *cmd)
{
    QB_ASSERT(req->submitted && cmd != req->cmd);
    struct http_server *server = req->server;
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
    struct http_server *server = arg;
    pthread_mutex_lock(&server->offload_mutex);
    for (;;) {
        while (server->offload_head == NULL && !server->offload_stopping)
            pthread_cond_wait(&server->offload_cond, &server->offload_mutex);
        struct http_request *req = server->offload_head;
        if (req == NULL)
            break; /* stopping, and nothing left to do */
        server->offload_head = req->offload_next;
        if (server->offload_head == NULL)
            server->offload_tail = NULL;
        req->offload_next = NULL;
        pthread_mutex_unlock(&server->offload_mutex);
        req->offload(req, req->cmd);
        S_resume_post(req);
        pthread_mutex_lock(&server->offload_mutex);
    }
    pthread_mutex_unlock(&server->offload_mutex);
    return NULL;
}

void http_request_offload(struct http_request *req, http_offload_fn work, http_resume_fn resume)
{
    QB_ASSERT(req->submitted && req->resumed && !req->replied);
    QB_ASSERT(work != NULL && resume != NULL);
    struct http_server *server = req->server;
    req->resumed = false;
    req->resume = resume;
    req->offload = work;
    /* The connection is still away (this runs in a resume function). */
    pthread_mutex_lock(&server->offload_mutex);
    bool queued = !server->offload_stopping && server->offload_thread_count > 0;
    if (queued) {
        if (server->offload_tail != NULL)
            server->offload_tail->offload_next = req;
        else
            server->offload_head = req;
        server->offload_tail = req;
        pthread_cond_signal(&server->offload_cond);
    }
    pthread_mutex_unlock(&server->offload_mutex);
    if (!queued) {
        /* Stopping: the work still runs (its command then finds the ledger
         * detached, or not yet), only on this thread. */
        work(req, req->cmd);
        S_resume_post(req);
    }
}

/* Lets the offload threads finish what is queued, then joins them. */
static void S_offload_stop(struct http_server *server)
{
    pthread_mutex_lock(&server->offload_mutex);
    server->offload_stopping = true;
    pthread_cond_broadcast(&server->offload_cond);
    int count = server->offload_thread_count;
    pthread_mutex_unlock(&server->offload_mutex);
    for (int i = 0; i < count; i++)
        pthread_join(server->offload_threads[i], NULL);
    pthread_mutex_lock(&server->offload_mutex);
    server->offload_thread_count = 0;
    pthread_mutex_unlock(&server->offload_mutex);
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

/* --- the server ---------------------------------------------------------------- */

/* Splits "HOST:PORT" or "[HOST]:PORT" and resolves a numeric host. */
static enum qb_error S_listen_parse(const char *listen, struct sockaddr_storage *addr,
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
        snprintf(err, err_size, "listen address \"%s\" is not HOST:PORT", listen);
        return QB_E_PARAM;
    }
    memcpy(host, host_start, host_length);
    host[host_length] = '\0';
    long port = strtol(colon + 1, NULL, 10);
    if (port > 65535) {
        snprintf(err, err_size, "listen address \"%s\": port out of range", listen);
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
        snprintf(err, err_size, "listen address \"%s\": host is not a numeric IP address", listen);
        if (found != NULL)
            freeaddrinfo(found);
        return QB_E_PARAM;
    }
    memcpy(addr, found->ai_addr, found->ai_addrlen);
    *addr_size = found->ai_addrlen;
    freeaddrinfo(found);
    return QB_OK;
}

/* Binds and listens; the actual port into server->port. */
static enum qb_error S_listen(struct http_server *server, const struct sockaddr_storage *addr,
                              socklen_t addr_size)
{
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return QB_E_INTERNAL;
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (addr->ss_family == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    struct sockaddr_storage bound;
    socklen_t bound_size = sizeof bound;
    if (bind(fd, (const struct sockaddr *)addr, addr_size) != 0 || listen(fd, SOMAXCONN) != 0 ||
        getsockname(fd, (struct sockaddr *)&bound, &bound_size) != 0) {
        close(fd);
        return QB_E_INTERNAL;
    }
    server->listen_fd = fd;
    server->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                     : ((struct sockaddr_in *)&bound)->sin_port);
    return QB_OK;
}

static enum qb_error S_workers_start(struct http_server *server, int count)
{
    server->workers = calloc((size_t)count, sizeof *server->workers);
    if (server->workers == NULL)
        return QB_E_INTERNAL;
    server->worker_count = count;
    for (int i = 0; i < count; i++) {
        struct http_worker *w = &server->workers[i];
        w->server = server;
        w->epfd = -1;
        w->wake_fd = -1;
        w->idle.prev = w->idle.next = &w->idle;
        w->away.prev = w->away.next = &w->away;
        pthread_mutex_init(&w->mutex, NULL);
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (w->epfd < 0 || w->wake_fd < 0)
            return QB_E_INTERNAL;
        struct epoll_event wake = {.events = EPOLLIN, .data.ptr = w};
        /* Level-triggered and exclusive: a new connection wakes one
         * thread, and stays reported until someone accepts it. */
        struct epoll_event listening = {.events = EPOLLIN | EPOLLEXCLUSIVE,
                                        .data.ptr = &server->listen_fd};
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wake_fd, &wake) != 0 ||
            epoll_ctl(w->epfd, EPOLL_CTL_ADD, server->listen_fd, &listening) != 0)
            return QB_E_INTERNAL;
    }
    for (int i = 0; i < count; i++) {
        struct http_worker *w = &server->workers[i];
        if (pthread_create(&w->thread, NULL, S_worker_main, w) != 0)
            return QB_E_INTERNAL;
        w->started = true;
        char name[16];
        snprintf(name, sizeof name, "qb-http-%u", (unsigned int)i % 100u);
        pthread_setname_np(w->thread, name);
    }
    return QB_OK;
}

/* Stops and joins the workers, then closes every connection they had. */
static void S_workers_stop(struct http_server *server)
{
    if (server->workers == NULL)
        return;
    atomic_store(&server->stopping, true);
    for (int i = 0; i < server->worker_count; i++) {
        struct http_worker *w = &server->workers[i];
        if (!w->started)
            continue;
        uint64_t one = 1;
        while (write(w->wake_fd, &one, sizeof one) < 0 && errno == EINTR)
            ;
        pthread_join(w->thread, NULL);
    }
    for (int i = 0; i < server->worker_count; i++) {
        struct http_worker *w = &server->workers[i];
        while (w->idle.next != &w->idle)
            S_conn_close(w->idle.next);
        while (w->away.next != &w->away) {
            /* Its command never came back (the ledger is closed by now,
             * so this is a request left after the stop's wait). */
            struct http_conn *c = w->away.next;
            c->state = S_SEND;
            S_conn_close(c);
        }
        while (w->incoming != NULL) {
            struct http_conn *c = w->incoming;
            w->incoming = c->resumed_next;
            close(c->fd);
            S_conn_free(c);
            atomic_fetch_sub(&server->connections, 1);
        }
        S_worker_reap(w);
        if (w->epfd >= 0)
            close(w->epfd);
        if (w->wake_fd >= 0)
            close(w->wake_fd);
        pthread_mutex_destroy(&w->mutex);
    }
    free(server->workers);
    server->workers = NULL;
}

static void S_server_free(struct http_server *server)
{
    S_workers_stop(server);
    if (server->listen_fd >= 0)
        close(server->listen_fd);
    if (server->reserve_fd >= 0)
        close(server->reserve_fd);
    pthread_mutex_destroy(&server->reserve_mutex);
    http_verification_stop(&server->verification);
    S_offload_stop(server);
    pthread_mutex_destroy(&server->offload_mutex);
    pthread_cond_destroy(&server->offload_cond);
    S_touches_stop(server); /* no ledger by now: whatever is pending is dropped */
    pthread_mutex_destroy(&server->touch_mutex);
    pthread_cond_destroy(&server->touch_cond);
    http_metrics_release(&server->metrics);
    merchant_nonces_free(server->nonces);
    if (server->admin_token != NULL) {
        crypto_wipe(server->admin_token, server->admin_token_size);
        free(server->admin_token);
    }
    pthread_rwlock_destroy(&server->ledger_lock);
    free(server);
}

enum qb_error http_server_start(const struct http_server_options *options, struct http_server **out,
                                char *err, size_t err_size)
{
    *out = NULL;
    if (options->threads < 1 || options->threads > 64 || options->connections_max < 1 ||
        options->body_size_max < 1 || options->pool == NULL) {
        snprintf(err, err_size, "http server options out of range");
        return QB_E_PARAM;
    }
    if (!http_routes_check(options->routes, options->route_count, err, err_size))
        return QB_E_PARAM;
    struct sockaddr_storage addr;
    socklen_t addr_size;
    char host[64];
    enum qb_error result =
        S_listen_parse(options->listen, &addr, &addr_size, host, sizeof host, err, err_size);
    if (result != QB_OK)
        return result;

    struct http_server *server = calloc(1, sizeof *server);
    if (server == NULL)
        return QB_E_INTERNAL;
    server->routes = options->routes;
    server->route_count = options->route_count;
    server->body_size_max = options->body_size_max;
    server->pool = options->pool;
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
    server->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pthread_mutex_init(&server->reserve_mutex, NULL);
    server->connections_max = options->connections_max;
    server->timeout_s = options->timeout_s > 0 ? options->timeout_s : HTTP_CONNECTION_TIMEOUT_S;
    pthread_rwlock_init(&server->ledger_lock, NULL);
    pthread_mutex_init(&server->touch_mutex, NULL);
    pthread_cond_init(&server->touch_cond, NULL);
    pthread_mutex_init(&server->offload_mutex, NULL);
    pthread_cond_init(&server->offload_cond, NULL);
    http_verification_init(&server->verification);
    for (int i = 0; i < HTTP_OFFLOAD_THREADS; i++) {
        if (pthread_create(&server->offload_threads[i], NULL, S_offload_main, server) != 0) {
            S_server_free(server);
            return QB_E_INTERNAL;
        }
        server->offload_thread_count++;
    }
    if (options->env != NULL) {
        if (pthread_create(&server->touch_thread, NULL, S_touch_flusher, server) != 0) {
            S_server_free(server);
            return QB_E_INTERNAL;
        }
        server->touch_thread_started = true;
    }
    if (options->admin_token != NULL) {
        server->admin_token_size = strlen(options->admin_token);
        server->admin_token = malloc(server->admin_token_size + 1);
        if (server->admin_token != NULL)
            memcpy(server->admin_token, options->admin_token, server->admin_token_size + 1);
    }
    server->nonces = merchant_nonces_new(HTTP_NONCE_SLOTS);
    if (server->nonces == NULL ||
        (options->admin_token != NULL && server->admin_token == NULL) ||
        http_metrics_init(&server->metrics, options->route_count) != QB_OK) {
        S_server_free(server);
        return QB_E_INTERNAL;
    }

    if (S_listen(server, &addr, addr_size) != QB_OK ||
        S_workers_start(server, options->threads) != QB_OK) {
        snprintf(err, err_size, "cannot listen on \"%s\" (in use, or not an address of this host)",
                 options->listen);
        S_server_free(server);
        return QB_E_INTERNAL;
    }
    if (addr.ss_family == AF_INET6)
        snprintf(server->address, sizeof server->address, "[%s]:%u", host,
                 (unsigned int)server->port);
    else
        snprintf(server->address, sizeof server->address, "%s:%u", host,
                 (unsigned int)server->port);
    *out = server;
    return QB_OK;
}

const char *http_server_address(const struct http_server *server) { return server->address; }
uint16_t http_server_port(const struct http_server *server) { return server->port; }

/* The listening socket stays open until http_server_stop: a connection
 * accepted from now on is closed before any request is read from it. */
void http_server_quiesce(struct http_server *server)
{
    atomic_store(&server->closing, true);
}

struct ledger *http_server_detach_ledger(struct http_server *server)
{
    /* Offloaded work records its outcome through the ledger: it finishes
     * first (a bank call in flight included). */
    S_offload_stop(server);
    S_touches_stop(server);
    pthread_rwlock_wrlock(&server->ledger_lock);
    struct ledger *ledger = server->ledger;
    server->ledger = NULL;
    pthread_rwlock_unlock(&server->ledger_lock);
    return ledger;
}

void http_server_stop(struct http_server *server)
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
    S_server_free(server);
}

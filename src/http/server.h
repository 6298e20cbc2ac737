/*
 * server.h — the HTTP server: listening, routing, limits, replies, suspension.
 *
 * Owns: the listening socket and the connections (an epoll loop on each of
 * a small pool of threads, HTTP/1.1 parsed by wire.c), the life of one
 * request from its first byte to its access-log line, the route table's
 * dispatch, the request limits (connections, memory per connection, idle
 * timeout, body size) and the one place an enum qb_error becomes an HTTP
 * error body: {"code": error_api_code(e), "message": ...} with status
 * error_http_status(e).
 *
 * Every reply to a path under /v3/ is signed with the platform key
 * (Wechatpay-Timestamp, -Nonce, -Serial, -Signature over "TIMESTAMP\nNONCE\n
 * BODY\n"), errors and refusals included, as WeChat Pay signs its answers;
 * the one exception is a streamed reply (http_reply_stream), whose body is
 * not known when its headers go out.
 *
 * Must never: run SQL (handlers read through the store pool or hand commands
 * to the ledger executor); block an HTTP thread waiting for the ledger; log a
 * header, a query string or a body (the access log names the method, the
 * path, the status, the duration and the request id, nothing else).
 *
 * The life of a request:
 *   1. The server parses the headers and gives the request an id
 *      ("req_..."), refuses a body larger than the limit (413), finds the route
 *      (404 unknown path, 405 known path with another method) and collects
 *      the body into a capped buffer.
 *   2. It checks the route's auth kind (401) and calls the handler.
 *   3. The handler either replies at once (http_reply_json, http_reply_error,
 *      http_reply_raw) or hands a command to the ledger executor with
 *      http_request_submit. Submitting suspends the connection: no HTTP thread
 *      waits. The ledger's writer thread completes the command after its
 *      batch committed and resumes the connection; the handler's resume
 *      function then replies from the command's result on an HTTP thread.
 *   4. The server sends the reply with X-Request-Id, counts it in the metrics
 *      and writes the access-log line once the response is sent.
 *
 * Threads: handlers and resume functions run on HTTP threads, one request at
 * a time per connection; the calling thread's log request id is the
 * request's for the duration of the call, so every line a handler logs
 * carries req=. Nothing slow runs there: a bank call goes to an offload
 * thread, a login password's Argon2id to a password thread (internal.h).
 *
 * Shutdown, in this order (qianbaod does it on SIGTERM):
 *   http_server_quiesce      close new connections at once
 *   http_server_detach_ledger  new submissions answer SHUTTING_DOWN
 *   ledger_close             runs every queued command; each resumes its request
 *   http_server_stop         waits for requests in flight, closes, frees
 */
#ifndef QB_HTTP_SERVER_H
#define QB_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/error.h"
#include "ledger/ledger.h"
#include "store/pool.h"

struct domain_env;
struct identity_session;
struct merchant;

#define HTTP_PATH_SIZE_MAX 1024                     /* longer paths (as sent) match no route: 404 */
#define HTTP_PARAMS_MAX 4                           /* {param} segments in one pattern */
#define HTTP_REPLY_HEADERS_MAX 8                    /* extra headers on one reply */
#define HTTP_REPLY_SIZE_MAX (1024 * 1024)           /* bytes of one response body */
#define HTTP_ARENA_SIZE_MAX (256 * 1024)            /* bytes a request may allocate */
#define HTTP_CONNECTION_TIMEOUT_S 30                /* default: a connection silent this long closes */
#define HTTP_CONNECTION_MEMORY_SIZE_MAX (16 * 1024) /* per connection: headers, buffers */
#define HTTP_OFFLOAD_THREADS 16                     /* outside calls (banks) in flight at once */
/* Connections the admin listener (admin_addr) may open past connections_max:
 * when clients fill the limit, the operator can still read /metrics and act. */
#define HTTP_ADMIN_CONNECTIONS_RESERVE 32
#define HTTP_PASSWORD_THREADS_DEFAULT 1 /* Argon2id threads (http_request_offload_password) */
#define HTTP_PASSWORD_QUEUE_MAX                                                                    \
    32 /* password checks waiting for a thread (about 5 s of                                       \
        * work on one at the default cost); more: 503 SYSTEM_BUSY */
#define HTTP_PASSWORD_WAIT_MAX_MS                                                                  \
    5000 /* a check that waited longer for its thread is answered 503 SYSTEM_BUSY unchecked:       \
          * its client has likely given up, and the next ones should not wait behind it */
#define HTTP_REPORT_THREADS 1 /* threads making statements (http_request_offload_report) */
#define HTTP_REPORTS_PER_OWNER_MAX 2 /* one wallet's statements waiting or being made; more: 429   \
                                      */
#define HTTP_REPORT_WAIT_MAX_MS                                                                    \
    5000 /* a statement that waited longer for its thread is answered 503 SYSTEM_BUSY unmade */
#define HTTP_REPORT_QUEUE_MAX                                                                      \
    16 /* statements waiting for a report thread (each reads up to 200,000 entries, about a        \
        * second); more: 503 SYSTEM_BUSY */
#define HTTP_STOP_WAIT_MS 5000                      /* http_server_stop waits this long */
#define HTTP_REQUEST_ID_SIZE_MAX 48                 /* "req_" + 26 characters + NUL fits */

struct http_server;
struct http_request;

/* How a route authenticates its caller. A kind the server does not check
 * yet must not be added to a route: http_server_start refuses it.
 * To add a kind: 1) a value here; 2) its check in S_authenticate in
 * server.c, answering QB_E_UNAUTHORIZED; 3) what it records about the caller
 * as an accessor below; 4) a test with a good and a bad credential. */
enum http_auth {
    HTTP_AUTH_NONE = 0,  /* anyone */
    HTTP_AUTH_ADMIN = 1, /* Authorization: Bearer <DATA_DIR/admin-token>; a valid
                          * user token is refused with 403 FORBIDDEN */
    HTTP_AUTH_USER = 2,  /* Authorization: Bearer <64 hex>, a live session
                          * (identity_session_authenticate): http_request_session */
    HTTP_AUTH_MERCHANT = 3, /* Authorization: WECHATPAY2-SHA256-RSA2048 ..., a request
                             * signed by a merchant's key within the time window with a
                             * fresh nonce (src/merchant/merchant.h); refusals are 401
                             * SIGN_ERROR: http_request_merchant */
};

/* Handles a request: must either reply (http_reply_*) or submit a command
 * (http_request_submit) before returning. One that does neither is a bug,
 * answered SYSTEM_ERROR and logged. */
typedef void (*http_handler_fn)(struct http_request *req);

/* Runs on an HTTP thread when a submitted command completed: cmd->result is
 * QB_OK (committed) or the error (nothing applied, including QB_E_BUSY and
 * QB_E_SHUTTING_DOWN when the executor refused it); cmd->response holds what
 * the command wrote. Must reply. */
typedef void (*http_resume_fn)(struct http_request *req, struct ledger_cmd *cmd);
/* Work run off the HTTP threads (http_request_offload, internal.h). */
typedef void (*http_offload_fn)(struct http_request *req, struct ledger_cmd *cmd);

struct http_route {
    const char *method;  /* "GET", "POST", "PUT", "DELETE"; GET routes also answer HEAD */
    const char *pattern; /* "/v1/red-packets/{id}/claims": {name} matches one segment */
    http_handler_fn handler;
    enum http_auth auth;
    /* The query arguments the handler reads, space-separated ("limit
     * cursor"); any other is refused before the handler runs, as an unknown
     * body field is. NULL: none; HTTP_QUERY_ANY: not checked. */
    const char *query;
};

/* A route whose query arguments are not checked: the /v3 routes, whose
 * clients are WeChat Pay's SDKs. */
#define HTTP_QUERY_ANY "*"

/* The daemon's routes (routes.c). */
extern const struct http_route http_routes[];
extern const size_t http_route_count;

/* An operator's GET route that shows a customer's data: each read of it is
 * a row on the audit trail (domain/audit.h), written and durable before
 * the handler runs; a read whose row cannot be written is answered 503
 * STORAGE_UNAVAILABLE and shows nothing. */
struct http_read_audit {
    const char *pattern; /* of an HTTP_AUTH_ADMIN GET route: "/admin/users/{id}" */
    const char *action;  /* the row's action: "read_user" */
    /* The path parameter or query argument naming whose data it is ("id",
     * "phone"), recorded as the row's target; NULL, or absent from the
     * request: "" (a list of everyone's). */
    const char *target;
};

/* Which operator's reads are recorded (routes.c), matched to a route by its
 * pattern. */
extern const struct http_read_audit http_read_audits[];
extern const size_t http_read_audit_count;

struct http_server_options {
    const char *listen;              /* "127.0.0.1:8080", "[::1]:0"; port 0 picks a free one */
    const char *admin_listen;        /* as listen: the operator's routes (under /admin, and
                                      * /metrics) are served there alone, and there nothing
                                      * else but /healthz (404 elsewhere, as for no route);
                                      * NULL or "": on listen with the rest */
    int threads;                     /* epoll threads, 1..64 */
    size_t connections_max;          /* open connections; more are refused */
    size_t body_size_max;            /* request body bytes; more is 413 PAYLOAD_TOO_LARGE */
    unsigned int timeout_s;          /* a connection that sends nothing this long (idle, or in
                                      * the middle of its headers or body) is closed without
                                      * an answer; 0: HTTP_CONNECTION_TIMEOUT_S */
    const struct http_route *routes; /* usually http_routes; tests pass their own */
    size_t route_count;
    struct ledger *ledger;        /* NULL: every submission answers SHUTTING_DOWN */
    struct store_pool *pool;      /* read connections for handlers; required */
    const char *admin_token;      /* NULL: HTTP_AUTH_ADMIN routes answer 401 */
    const struct domain_env *env; /* NULL: HTTP_AUTH_USER routes answer 401 */
    const char *version;          /* shown by /healthz */
    int password_threads; /* threads hashing and verifying login passwords, 0..HTTP_OFFLOAD_THREADS;
                           * 0: HTTP_PASSWORD_THREADS_DEFAULT */
    size_t v3_nonce_slots; /* /v3 nonces remembered per generation (a power of two, >= 16):
                            * 3/4 of it per ten minutes, for all merchants; 0: 2^21 (about
                            * 2,600 signed requests a second) */
    /* Optional, for the ledger check (POST /admin/ledger/verification): holds
     * the database, through reader, against what this data directory's
     * daemon made durable, kept outside it (its chain-head: the journal's
     * head, the audit trail's newest seal). False, with why (empty when
     * it could not be read), when the database is not that one: rows cut
     * off, seals removed. NULL: none. */
    bool (*head_check)(const void *arg, struct store *reader, char *why, size_t why_size);
    const void *head_check_arg;
};

/* Binds and starts serving. QB_E_PARAM for a bad listen address or option,
 * QB_E_INTERNAL when the socket cannot be bound (err says why). */
QB_MUST_USE enum qb_error http_server_start(const struct http_server_options *options,
                                            struct http_server **out, char *err, size_t err_size);
/* Has the server start the ledger check of POST /admin/ledger/verification
 * on its own (logged by=schedule) every interval_ms, the first interval_ms
 * from now, the next interval_ms after the last check started, an
 * operator's included; 0: never. Call once, after http_server_start; the
 * schedule ends with http_server_stop. QB_E_INTERNAL when its thread cannot
 * start. */
QB_MUST_USE enum qb_error http_server_verification_schedule(struct http_server *server,
                                                            int64_t interval_ms);
/* The bound address as "HOST:PORT" ("[HOST]:PORT" for IPv6), with the real
 * port when the options asked for port 0. */
const char *http_server_address(const struct http_server *server);
uint16_t http_server_port(const struct http_server *server);
/* The admin listener's bound address; NULL when there is none. */
const char *http_server_admin_address(const struct http_server *server);
/* Replaces the admin token (a rotation, SIGHUP): requests that arrive from
 * now on need the new one; the old one is wiped. Thread-safe. False, with
 * the old token kept, when memory runs out. */
bool http_server_admin_token_set(struct http_server *server, const char *token);
/* From now on new connections are closed as soon as they are accepted;
 * open ones are still served. Idempotent. */
void http_server_quiesce(struct http_server *server);
/* Forgets the ledger: from now on http_request_submit answers SHUTTING_DOWN.
 * Returns the ledger (NULL if none) for the caller to close: closing it
 * completes every submitted command and so resumes every suspended request. */
struct ledger *http_server_detach_ledger(struct http_server *server);
/* The wait of http_server_stop on its own: closes new connections and
 * waits up to HTTP_STOP_WAIT_MS for the requests in flight, logging
 * http.stop_abandoned for those still open then. The ledger must be
 * detached and closed. Called first, http_server_stop does not wait again. */
void http_server_drain(struct http_server *server);
/* Requests received and not answered yet (http.request not logged), now.
 * Thread-safe while the server lives: a stop reports the requests it waits on. */
int64_t http_server_requests_open(struct http_server *server);
/* Waits up to HTTP_STOP_WAIT_MS for requests in flight (unless
 * http_server_drain did), closes every connection and frees the server.
 * The ledger must be detached and closed. */
void http_server_stop(struct http_server *server);

/* --- inside a handler ----------------------------------------------------- */

const char *http_request_id(const struct http_request *req);
const char *http_request_method(const struct http_request *req);
/* The path without the query, its parameters unescaped: the same for every
 * spelling of them (the literal segments were matched as sent). */
const char *http_request_path(const struct http_request *req);
/* The value of {name} in the route's pattern, NUL-terminated; NULL if the
 * pattern has no such parameter. */
const char *http_request_param(const struct http_request *req, const char *name);
/* A query-string argument (?limit=20) or a request header, case-insensitive
 * name; NULL when absent. Never log what these answer. */
const char *http_request_query(const struct http_request *req, const char *name);
const char *http_request_header(const struct http_request *req, const char *name);
/* The request body (NUL-terminated; size 0 when none). */
const struct buf *http_request_body(const struct http_request *req);
/* The server's read-connection pool. */
struct store_pool *http_request_pool(const struct http_request *req);
/* The server's domain environment (NULL when the options gave none). */
const struct domain_env *http_request_env(const struct http_request *req);
/* On an HTTP_AUTH_USER route: the caller's session, as authenticated for
 * this request. NULL on routes of other kinds. */
const struct identity_session *http_request_session(const struct http_request *req);
/* On an HTTP_AUTH_MERCHANT route: the merchant whose signature the request
 * carries. NULL on routes of other kinds. */
const struct merchant *http_request_merchant(const struct http_request *req);
/* The request target as the client sent it, path and query, before any
 * unescaping: what a merchant signs. */
const char *http_request_uri(const struct http_request *req);
/* Zeroed memory that lives until the request is finished (the response
 * sent or the connection lost), freed in one go. NULL when the request's
 * arena would pass HTTP_ARENA_SIZE_MAX: answer QB_E_TOO_LARGE then. */
void *http_request_alloc(struct http_request *req, size_t size);

/* Hands cmd to the ledger executor and suspends the request. The server owns
 * cmd->done and cmd->ctx (ctx points at the request: keep your own state in a
 * struct that has cmd as its first member, allocated with
 * http_request_alloc). cmd must be initialised (ledger_cmd_init) and live
 * until resume ran; the server releases nothing of it. resume is called
 * exactly once, also when the executor refused the command. */
void http_request_submit(struct http_request *req, struct ledger_cmd *cmd, http_resume_fn resume);

/* Reads a listen address as the server does: "HOST:PORT" or "[HOST]:PORT",
 * a numeric host (no name is looked up), a port 0..65535; the address into
 * addr and the host's text into host. QB_E_PARAM with err saying why, for
 * the daemon to refuse a setting before it makes anything. */
QB_MUST_USE enum qb_error http_listen_parse(const char *listen, struct sockaddr_storage *addr,
                                            socklen_t *addr_size, char *host, size_t host_size,
                                            char *err, size_t err_size);

/* --- replies (each request gets exactly one) ------------------------------ */

/* status with body serialised compactly; body is not stolen. */
void http_reply_json(struct http_request *req, int status, const json_t *body);
/* The same, then releases body: the end of a handler that built its
 * answer. A NULL body (it could not be built) is 500 INTERNAL. */
void http_reply_json_new(struct http_request *req, int status, json_t *body);
/* status with a body of any type (copied). */
void http_reply_raw(struct http_request *req, int status, const char *content_type,
                    const void *body, size_t body_size);
/* {"code","message"} with the table's status, code and default message. */
void http_reply_error(struct http_request *req, enum qb_error err);
/* The same with a message that says more (shown to the client as is: it
 * must hold nothing secret). */
void http_reply_error_message(struct http_request *req, enum qb_error err, const char *message);
/* The same with the members of extra (an object, not stolen) beside them,
 * such as LIMIT_EXCEEDED's "limit". */
void http_reply_error_extra(struct http_request *req, enum qb_error err, const char *message,
                            const json_t *extra);
/* A streamed reply, for a body too large to hold in memory (a merchant's
 * bill): the body is whatever read gives, piece by piece, as the connection
 * sends it (chunked, length unknown). read runs on the connection's HTTP
 * thread, after the handler returned and possibly after the request is
 * finished: ctx must own everything it needs. It fills up to size bytes of
 * out and sets *written (> 0) or *end (no more body); an error aborts the
 * connection, so the client sees a truncated body. free_fn(ctx) runs
 * exactly once, when the stream is over or never started. The reply is NOT
 * signed, even under /v3/ (the signature covers the whole body); the
 * caller gives the client another way to check the body. */
typedef enum qb_error (*http_stream_read_fn)(void *ctx, char *out, size_t size, size_t *written,
                                             bool *end);
typedef void (*http_stream_free_fn)(void *ctx);
void http_reply_stream(struct http_request *req, int status, const char *content_type,
                       http_stream_read_fn read, http_stream_free_fn free_fn, void *ctx);
/* An extra response header (name and value are copied). Call before or after
 * the reply, never after resume returned. */
void http_reply_header(struct http_request *req, const char *name, const char *value);

#endif

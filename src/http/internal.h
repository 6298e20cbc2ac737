/*
 * internal.h — what the files of the http module share and nobody else sees.
 *
 * Owns: the layout of struct http_server and struct http_request, the route
 * matcher (route.c) and the metrics counters (metrics.c). Handlers outside
 * server.c use the accessors of server.h, never these fields.
 */
#ifndef QB_HTTP_INTERNAL_H
#define QB_HTTP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "domain/audit.h"
#include "http/json.h"
#include "http/server.h"
#include "identity/identity.h"
#include "identity/operator.h"
#include "merchant/merchant.h"
#include "wallet/wallet.h"

/* --- routing (route.c) ---------------------------------------------------- */

struct http_param {
    const char *name; /* points into the route's pattern, after '{' */
    size_t name_size;
    char *value; /* NUL-terminated, in the request's arena */
};

enum http_match {
    HTTP_MATCH_FOUND,     /* *route_index names the route */
    HTTP_MATCH_NO_PATH,   /* no pattern matches the path: 404 */
    HTTP_MATCH_NO_METHOD, /* a pattern matches, with other methods: 405 */
};

/* Finds the route for (method, path). For HTTP_MATCH_NO_METHOD, allow (when
 * not NULL) receives the methods the path does accept, ", "-separated. */
enum http_match http_route_find(const struct http_route *routes, size_t route_count,
                                const char *method, const char *path, size_t *route_index,
                                char *allow, size_t allow_size);
/* Fills params with the {name} segments of pattern as they appear in path
 * (which must match it), unescaped; path must be http_wire_path_is_plain.
 * Values are allocated with http_request_alloc. Returns the count, or -1
 * when the arena is exhausted. */
int http_route_params(struct http_request *req, const char *pattern, const char *path,
                      struct http_param *params);
/* False (with a message in err) when a route is malformed: no method, a
 * pattern not starting with '/', an unclosed '{', more than HTTP_PARAMS_MAX
 * parameters, an unknown auth kind, or a duplicate (method, pattern). */
bool http_routes_check(const struct http_route *routes, size_t route_count, char *err,
                       size_t err_size);

/* --- metrics (metrics.c) -------------------------------------------------- */

/* Request-duration buckets, upper bounds in microseconds; the last is +Inf. */
/* "admin:" and an operator's name, and a NUL. */
#define HTTP_ADMIN_PRINCIPAL_SIZE_MAX (6 + IDENTITY_OPERATOR_NAME_SIZE_MAX)
#define HTTP_DURATION_BUCKETS 16
/* Response statuses counted under their own label; others count as "other". */
#define HTTP_STATUS_SLOTS 19

struct http_route_metrics {
    _Atomic uint64_t requests[HTTP_STATUS_SLOTS];
    _Atomic uint64_t duration_us_buckets[HTTP_DURATION_BUCKETS]; /* not cumulative */
    _Atomic uint64_t duration_us_sum;
};

struct http_metrics {
    size_t route_count;
    /* route_count + 1 entries: one per route, then the unmatched requests. */
    struct http_route_metrics *routes;
    /* A suspended request's wait from http_conn_resume until its HTTP
     * thread takes it up, in the ledger's latency buckets (not cumulative). */
    _Atomic uint64_t resume_wait_us_buckets[LEDGER_LATENCY_BUCKETS];
    _Atomic uint64_t resume_wait_us_sum;
    /* Wrong login passwords (http_login_failure_record): [0] answered
     * 401, [1] answered 423, the one that took the lock (or, rarely, one
     * that raced it). */
    _Atomic uint64_t login_failures[2];
};

QB_MUST_USE enum qb_error http_metrics_init(struct http_metrics *metrics, size_t route_count);
void http_metrics_release(struct http_metrics *metrics);
/* Counts one finished request; route_index == route_count for unmatched. */
void http_metrics_observe(struct http_metrics *metrics, size_t route_index, int status,
                          int64_t duration_us);
/* Counts one suspended request taken up by its HTTP thread wait_us after
 * it was resumed. */
void http_metrics_resumed(struct http_metrics *metrics, int64_t wait_us);
/* Counts one wrong login password; locked when it was answered with the
 * login lock. */
void http_metrics_login_failed(struct http_metrics *metrics, bool locked);
/* Writes the Prometheus text exposition (format 0.0.4) of the HTTP counters
 * and, when stats is not NULL, of the ledger executor. */
QB_MUST_USE enum qb_error http_metrics_render(const struct http_metrics *metrics,
                                              const struct http_route *routes,
                                              const struct ledger_stats *stats, struct buf *out);
/* The bucket index of a duration, and the upper bound of a bucket. */
int http_duration_bucket(int64_t duration_us);
int64_t http_duration_bucket_us(int index);

/* --- the server and its requests (server.c) -------------------------------- */

/* The operator's ledger check (verify_routes.c): at most one runs, on a
 * thread of its own, started by POST /admin/ledger/verification or by the
 * schedule's thread (http_server_verification_schedule); the fields below
 * the mutex are under it, but for the outcomes at the end. */
enum http_verification_by { HTTP_VERIFICATION_BY_OPERATOR, HTTP_VERIFICATION_BY_SCHEDULE };
/* A finished check's result, as /metrics labels it. */
enum http_verification_result {
    HTTP_VERIFICATION_OK,     /* everything adds up */
    HTTP_VERIFICATION_FAILED, /* the books disagree */
    HTTP_VERIFICATION_ERROR,  /* the check could not finish: it says nothing of the books */
    HTTP_VERIFICATION_RESULTS
};
/* What the books were last found to be: an error leaves it as it was. */
enum http_verification_verdict {
    HTTP_VERIFICATION_VERDICT_NONE,
    HTTP_VERIFICATION_VERDICT_OK,
    HTTP_VERIFICATION_VERDICT_FAILED,
};
struct http_verification {
    pthread_mutex_t mutex;
    pthread_cond_t schedule_cond; /* on CLOCK_MONOTONIC; signalled at stop */
    pthread_t thread;
    bool thread_started; /* joined before the next check and at stop */
    atomic_bool stopping; /* the daemon stops: the check gives up */
    pthread_t schedule_thread;
    bool schedule_started;   /* set and read by the daemon's main thread only */
    int64_t interval_ns;     /* between the schedule's checks; 0: no schedule */
    int64_t last_started_ns; /* monotonic: the last check's start (anyone's), at first the
                              * schedule's; the schedule's next is interval_ns after it */
    bool running;
    enum http_verification_by by; /* who started the last check */
    char by_principal[HTTP_ADMIN_PRINCIPAL_SIZE_MAX]; /* for the log: "schedule" or the
                                                       * operator's principal */
    int64_t number; /* checks since the daemon started; 0: none */
    int64_t started_ms;
    int64_t finished_ms;
    int64_t entries_checked;
    int64_t entries_total;
    struct wallet_verify_counts counts; /* once finished: what the checks went through */
    enum qb_error result; /* once finished */
    struct ledger_verify_report report;
    /* The outcomes, for /metrics and /healthz, which read them without
     * the mutex; written under it when a check finishes. */
    _Atomic uint64_t finished_total[HTTP_VERIFICATION_RESULTS];
    _Atomic int64_t last_ok_finished_ms; /* Unix ms when the last passing check ended; 0: none */
    _Atomic int verdict;                 /* enum http_verification_verdict */
};
void http_verification_init(struct http_verification *v);
/* Stops the schedule and a running check, waits for their threads; then
 * frees. */
void http_verification_stop(struct http_verification *v);

struct http_worker;
struct http_conn;
struct http_request;

/* Requests waiting for news of a wallet or a shop (wait.c): a waiter per request,
 * in shards by key. */
#define HTTP_WATCH_SHARDS 256
#define HTTP_WAITS_PER_KEY_MAX 8 /* a user's requests waiting at once */
struct http_waiter {
    uint64_t key; /* ledger_owner_key of the owner waited for */
    struct http_request *req;
    struct http_waiter *prev, *next;
    bool fired; /* taken out of its list: by news, its deadline, its client's leaving or the stop */
    void *ctx;  /* the waiting route's own state, for its resume function */
};
struct http_watch_shard {
    pthread_mutex_t mutex;
    struct http_waiter head; /* sentinel */
    _Atomic int count;
    bool closed; /* the server stops: nobody waits any more */
};
struct http_watch {
    struct http_watch_shard shards[HTTP_WATCH_SHARDS];
    _Atomic int64_t waiting;
};
void http_watch_init(struct http_watch *watch);
void http_watch_release(struct http_watch *watch);
/* The ledger's watcher (ledger_watch_fn): resumes every request waiting
 * for one of keys. arg is the watch. */
void http_watch_fire(void *arg, const uint64_t *keys, size_t count);
/* The server stops: resumes every waiting request, and no request waits
 * from now on. */
void http_watch_close(struct http_watch *watch);
/* Requests waiting now. */
int64_t http_watch_waiting(struct http_watch *watch);

/* A pool of offload threads (server.c) and the requests waiting for one,
 * first to last, under the mutex. The server has three: the outside
 * world's (a bank call), the passwords' (Argon2id) and the reports' (a
 * statement's long read), so that no kind of work waits behind another
 * and a flood of one costs only its own. */
struct http_offload_pool {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    struct http_request *head;
    struct http_request *tail;
    size_t queued_count;     /* waiting in the queue, not yet taken by a thread */
    size_t queued_count_max; /* more is refused; 0: unbounded (the outside pool's requests are
                              * bounded by the connections) */
    size_t owner_max;        /* requests of one owner queued or worked on; more is refused
                              * (429); 0: no such bound */
    int64_t working[HTTP_OFFLOAD_THREADS]; /* the owners of those worked on; 0: none */
    bool stopping;
    int thread_count;
    pthread_t threads[HTTP_OFFLOAD_THREADS];
};

/* Why a connection was closed as soon as it was accepted, as /metrics
 * labels it. */
enum http_refusal {
    HTTP_REFUSAL_LIMIT,            /* --http-connections-max were open */
    HTTP_REFUSAL_FILE_DESCRIPTORS, /* the process had no descriptor left */
    HTTP_REFUSALS
};

struct http_server {
    int listen_fd;
    int reserve_fd; /* /dev/null, closed to make room when descriptors run out */
    pthread_mutex_t reserve_mutex;
    struct http_worker *workers; /* one epoll loop per HTTP thread (server.c) */
    int worker_count;
    _Atomic uint64_t accept_turn; /* which worker gets the next connection */
    size_t connections_max;
    _Atomic int64_t connections; /* open, over every worker */
    /* Connections closed as soon as accepted, by reason (http_refusal), and
     * when the last warning of it was logged (at most one a second). */
    _Atomic uint64_t refused[HTTP_REFUSALS];
    _Atomic int64_t refused_warned_ns;
    unsigned int timeout_s;
    atomic_bool stopping; /* the workers leave their loops */
    char address[96];
    uint16_t port;
    /* --admin-listen: the operator's routes (/admin, /metrics) are served
     * on this socket alone, and nothing else but /healthz; -1: none, they
     * are on listen_fd with the rest. */
    int admin_fd;
    char admin_address[96];
    uint16_t admin_port;

    const struct http_route *routes;
    size_t route_count;
    size_t body_size_max;
    struct store_pool *pool;
    const struct domain_env *env; /* NULL when none */
    char *admin_token;            /* NULL when none; under admin_token_mutex */
    size_t admin_token_size;
    pthread_mutex_t admin_token_mutex; /* http_server_admin_token_set swaps it */
    char version[32];
    int64_t started_ns;

    /* Readers: submissions and /metrics. The writer: detach at shutdown. */
    pthread_rwlock_t ledger_lock;
    struct ledger *ledger;

    /* Session touches waiting to be written (server.c): gathered under the
     * mutex, deduplicated through slots (index + 1 into pending->items, 0
     * empty), handed to the ledger as one command by the flusher thread
     * about once a second, or at once when the batch is full. */
    pthread_mutex_t touch_mutex;
    pthread_cond_t touch_cond;
    struct identity_touch_cmd *touch_pending;
    uint16_t touch_slots[2 * IDENTITY_TOUCH_BATCH_MAX];
    bool touch_stopping;
    bool touch_thread_started;
    pthread_t touch_thread;
    struct merchant_nonces *nonces; /* of /v3 requests, shared by every thread */
    struct http_verification verification;
    bool (*head_check)(const void *arg, struct store *reader, char *why, size_t why_size);
    const void *head_check_arg;

    /* Offload threads (http_request_offload) and password threads
     * (http_request_offload_password). Stopped before the ledger is
     * detached; after that an offload runs on the caller's thread, and a
     * password's work is refused. */
    struct http_offload_pool offload;
    struct http_offload_pool passwords;
    struct http_offload_pool reports;

    _Atomic int64_t requests_in_flight;
    bool drained;        /* http_server_drain waited already: the stopping thread's only */
    atomic_bool closing; /* quiesced: new connections are closed, replies carry
                          * Connection: close */
    struct http_metrics metrics;
    /* Requests waiting for news (wait.c); last, away from the fields every
     * request touches. */
    struct http_watch watch;
};

struct http_arena_block;

struct http_header_field {
    char *name;
    char *value;
};

struct http_request {
    struct http_server *server;
    struct http_conn *conn;
    char id[HTTP_REQUEST_ID_SIZE_MAX];
    char method[16];
    char path[HTTP_PATH_SIZE_MAX]; /* as sent, without the query */
    bool path_too_long;
    /* The target is under /v3/, however long: its answer is signed
     * (http_reply_sign), a 404 for a path too long for path[] too. */
    bool merchant_api;
    const char *path_unescaped; /* once routed, when path holds a '%': in the arena */
    int64_t started_ns;
    int64_t resumed_ns; /* when http_conn_resume posted it to its thread */

    size_t route_index; /* == server->route_count while unmatched */
    struct http_param params[HTTP_PARAMS_MAX];
    int param_count;

    /* The route's caller was checked (S_authenticate) for the handler: a
     * user's or an operator's with the head, before any body is read, and
     * when a body comes again with it in (a logout may come between); a
     * merchant's, whose signature covers the body, with the body in. */
    bool authenticated;
    /* HTTP_AUTH_USER: the caller, set by S_authenticate before the handler. */
    bool has_session;
    struct identity_session session;
    /* HTTP_AUTH_MERCHANT: the merchant, likewise. */
    bool has_merchant;
    struct merchant merchant;
    /* HTTP_AUTH_ADMIN: the admin token was given (has_admin), the root's
     * from the admin-token file or a named operator's (operator_name not
     * ""); admin_principal is "admin" or "admin:<name>". */
    bool has_admin;
    char operator_name[IDENTITY_OPERATOR_NAME_SIZE_MAX];
    char admin_principal[HTTP_ADMIN_PRINCIPAL_SIZE_MAX];
    /* The request target as sent, and its query string (after '?', NUL
     * when none), both in the connection's buffer for the request's life. */
    const char *uri;
    const char *query;
    bool head_only; /* HEAD: the reply's headers without its body */

    struct buf body;
    bool body_too_large;
    /* The body as http_json_body parsed it (a reference of the request's),
     * which the request's fingerprint reads (http_idempotency_arm). */
    json_t *body_json;

    struct http_arena_block *arena;
    size_t arena_size;

    /* Set by http_request_submit on the HTTP thread. The writer thread only
     * resumes the connection; the resumed call sees submitted and calls
     * resume, so no field is written by both threads. */
    bool submitted;
    bool resumed;
    struct ledger_cmd *cmd;
    http_resume_fn resume;
    /* http_request_offload: the work, and the next request in the queue. */
    http_offload_fn offload;
    struct http_request *offload_next;
    int64_t offload_owner; /* whose work it is (a bounded pool's owner_max); 0: nobody's */

    /* The reply, built by the handler, sent by the server. */
    bool replied; /* an http_reply_* call happened */
    bool queued;  /* handed to the connection to send */
    int status;
    const char *content_type; /* a static string */
    struct buf reply;
    /* A streamed reply (http_reply_stream): its reader and state, until
     * the connection takes them to send. */
    http_stream_read_fn stream_read;
    http_stream_free_fn stream_free;
    void *stream_ctx;
    struct http_header_field headers[HTTP_REPLY_HEADERS_MAX];
    int header_count;
    /* http_request_watch: its place among the waiters. */
    struct http_waiter waiter;
};

/* Between conn.c (connections) and server.c (requests). */
struct http_wire_head;

/* server.c: a new request on conn (NULL when memory ran out), counted in
 * requests_in_flight until http_request_free. */
struct http_request *http_request_new(struct http_server *server, struct http_conn *conn);
void http_request_free(struct http_request *req);
/* Who the request authenticated as, for the access line: the user id of a
 * session, the mchid of a signed merchant request, "admin" for the admin
 * token; NULL when none (an open route, or refused). Never a credential. */
const char *http_request_principal(const struct http_request *req);
/* The caller as an audit line's by= names them: http_request_principal,
 * "-" when there is none. Every operator's audit line carries it, so that
 * the trail says which operator acted. */
const char *http_request_by(const struct http_request *req);
/* An operator's command goes on the audit trail (domain/audit.h): a
 * record in the request's arena, by the caller ("admin" or "admin:NAME") under the
 * request's id, of action on target, attached to cmd before it is
 * submitted, reading outcome and changed (NULL: changed exactly when
 * outcome is QB_OK) as the command leaves them. The caller may add the
 * reason and a detail. NULL after replying TOO_LARGE. */
struct domain_audit *http_request_audit(struct http_request *req, struct ledger_cmd *cmd,
                                        const char *action, const char *target,
                                        const enum qb_error *outcome, const bool *changed);
/* Whether the caller holds the root credential (the admin-token file), not
 * a named operator's token: only the root manages operators. */
bool http_request_is_root(const struct http_request *req);
/* With the head parsed: method, path, query and target, all as sent. */
void http_request_start(struct http_request *req, const struct http_wire_head *head);
/* Refuses what is too large, finds the route; may reply (400, 404, 405,
 * 413). */
void http_request_route(struct http_request *req);
/* With the body in: authenticates and runs the handler. */
void http_request_dispatch(struct http_request *req);
/* Back from the ledger or an offload thread: runs the resume function. */
void http_request_resumed(struct http_request *req);
/* Appends the Wechatpay-* signature headers of a /v3/ reply; false when it
 * cannot be signed (the reply must then not be sent). */
bool http_reply_sign(struct http_request *req, struct buf *out);

/* conn.c: binds, listens and starts the HTTP threads; stops them and
 * closes every connection. */
QB_MUST_USE enum qb_error http_conns_start(struct http_server *server,
                                           const struct sockaddr_storage *addr, socklen_t addr_size,
                                           const struct sockaddr_storage *admin_addr,
                                           socklen_t admin_addr_size, int threads);
/* Whether the connection came in on the admin listener (--admin-listen). */
bool http_conn_is_admin(const struct http_conn *conn);
void http_conns_stop(struct http_server *server);
/* The request's connection goes away (its request to the ledger or an
 * offload thread), and comes back, from any thread, with its request. */
void http_conn_away(struct http_conn *conn);
void http_conn_resume(struct http_request *req);
/* A field of the connection's current request head, or NULL. */
const char *http_conn_header(const struct http_conn *conn, const char *name);
/* Appends "name: value\r\n" to a reply's head; false when it does not fit. */
bool http_head_field(struct buf *out, const char *name, const char *value);

/* The server of a request, and its ledger statistics under the lock (false
 * when the ledger is detached). */
bool http_server_ledger_stats(struct http_server *server, struct ledger_stats *out);
struct http_server *http_request_server(const struct http_request *req);

/* The time as of which a handler judges rows by the clock (ledger.h,
 * ledger_settled_ms), under the ledger lock: read it before the rows. */
int64_t http_request_settled_ms(struct http_request *req);
/* The ledger's time (ledger.h, ledger_now_ms), under the ledger lock: the
 * "today" of what the ledger counts by day (a limit's use); the clock's
 * once the ledger is detached. */
int64_t http_request_ledger_now_ms(struct http_request *req);
/* The committed state of an account, read under the ledger lock so that it
 * never touches a closed ledger: QB_E_SHUTTING_DOWN once detached,
 * QB_E_NOT_FOUND. */
QB_MUST_USE enum qb_error http_request_account_view(struct http_request *req, int64_t account_id,
                                                    struct ledger_account_view *out);

/* Waiting for news (wait.c). From a handler or a resume function, before
 * reading the state the request compares: registers it under key (a
 * ledger_owner_key). QB_OK; QB_E_SHUTTING_DOWN once the server stops;
 * QB_E_RATE_LIMITED when HTTP_WAITS_PER_KEY_MAX wait under key already.
 * Then either http_request_unwatch, when it answers at once, or
 * http_request_park. */
QB_MUST_USE enum qb_error http_request_watch(struct http_request *req, uint64_t key);
/* Takes the registration back. True when it was still registered (the
 * request may answer); false when news took it meanwhile: the request is
 * on its way back to its thread, and must be parked (http_request_park)
 * to wait for it. */
bool http_request_unwatch(struct http_request *req);
/* Parks the registered request's connection until news, due_ms (monotonic)
 * or the server's stop, whichever first: then resume runs on its thread
 * (the waiter out of its list), which answers or waits again. */
void http_request_park(struct http_request *req, int64_t due_ms, http_resume_fn resume);
/* conn.c: the connection waits, away, on its thread's list of parked
 * connections (by due_ms); at due_ms the thread takes it up itself
 * (http_request_unwatch), unless news took it first. */
void http_conn_park(struct http_conn *conn, int64_t due_ms);

/* From a resume function: runs a second command to completion on this
 * thread (ledger_execute) and answers its ledger error, QB_E_SHUTTING_DOWN
 * once the ledger is detached. For a request whose first command's outcome
 * calls for another step after slow outside work (a bank call): the thread
 * waits, so keep it to such routes. */
QB_MUST_USE enum qb_error http_request_execute(struct http_request *req, struct ledger_cmd *cmd);

/* From a resume function: runs work(req, cmd) on one of the server's
 * offload threads and then, on the connection's thread, resume(req, cmd),
 * which answers. For work that waits on the outside world (a bank call and
 * the command that records its answer): it must hold no HTTP thread, or a
 * slow bank would stop every request. work may use http_request_execute
 * and the read pool; it must not reply. */
void http_request_offload(struct http_request *req, http_offload_fn work, http_resume_fn resume);
/* From a handler: the same, for a request whose first step is the outside
 * world (a bank's check of a card before the command that binds it). cmd
 * is what work and resume are given; it is not submitted, so work runs the
 * request's commands with http_request_execute. */
void http_request_offload_first(struct http_request *req, struct ledger_cmd *cmd,
                                http_offload_fn work, http_resume_fn resume);
/* From a handler: the same on a password thread (--password-threads), for
 * a login password's Argon2id (about 64 MiB and 100 ms or more each), which
 * must never run on an HTTP thread: a flood of logins would hold up every
 * other request. True when queued. False after replying 503 SYSTEM_BUSY
 * with Retry-After when HTTP_PASSWORD_QUEUE_MAX requests wait for a thread
 * already (a flood then costs logins only), or 503 SHUTTING_DOWN once the
 * threads stopped; work and resume never run then, so the caller wipes
 * and releases what it prepared for them. */
QB_MUST_USE bool http_request_offload_password(struct http_request *req, struct ledger_cmd *cmd,
                                               http_offload_fn work, http_resume_fn resume);
/* From a handler: the same on a report thread, for a read too long for an
 * HTTP thread (a statement reads up to 200,000 entries): while it runs,
 * the other requests of that thread's connections would wait. Queued up
 * to HTTP_REPORT_QUEUE_MAX, as the passwords are, and at most
 * HTTP_REPORTS_PER_OWNER_MAX of owner's (an account id, > 0) at once: one
 * more is answered 429 RATE_LIMITED with Retry-After, so that one wallet
 * asking again and again cannot fill the queue for everyone. work reads
 * through http_reader_take. */
/* Whether the server is stopping (quiesced): for offloaded work that
 * nobody will wait for then. */
bool http_request_server_closing(const struct http_request *req);
QB_MUST_USE bool http_request_offload_report(struct http_request *req, int64_t owner,
                                             struct ledger_cmd *cmd, http_offload_fn work,
                                             http_resume_fn resume);

/* --- what handlers share (handler.c) ------------------------------------------ */

#define HTTP_LIST_LIMIT_DEFAULT 20
#define HTTP_LIST_LIMIT_MAX 100

/* The request body validated against fields (json.h), or NULL after
 * replying with the refusal. The caller owns the answer: json_decref. */
json_t *http_json_body(struct http_request *req, const struct http_field *fields,
                       size_t field_count);
/* The same for the merchant API: every refusal but a body too large is
 * PARAM_ERROR, as WeChat Pay answers. */
json_t *http_v3_json_body(struct http_request *req, const struct http_field *fields,
                          size_t field_count);
/* A read connection from the pool, or NULL after replying SYSTEM_BUSY. */
struct store *http_reader_acquire(struct http_request *req);
/* The same without answering: NULL with *err (QB_E_BUSY, QB_E_STORAGE),
 * for offloaded work, which must not reply. */
struct store *http_reader_take(struct http_request *req, enum qb_error *err);
void http_reader_release(struct http_request *req, struct store *reader);
/* ?limit=: HTTP_LIST_LIMIT_DEFAULT when absent; false after replying
 * PARAM_ERROR when it is not a decimal in 1..HTTP_LIST_LIMIT_MAX. */
bool http_query_limit(struct http_request *req, size_t *limit);
/* ?amount= in minor units: absent leaves *has false; else 1..max_minor
 * without leading zeros, or false after replying PARAM_ERROR. */
bool http_query_amount(struct http_request *req, int64_t max_minor, bool *has,
                       int64_t *amount_minor);
/* Arms cmd for idempotency from the Idempotency-Key header: principal (the
 * caller, e.g. "user:<id>"; must outlive the command), the key, and the
 * request's fingerprint (domain_request_fingerprint of the SHA-256 of
 * method, path and body; a JSON object body with its members sorted, no
 * spacing and no payment_password, and the body as sent as the legacy
 * fingerprint). False after replying PARAM_ERROR when the header is
 * missing or not 1-255 printable ASCII characters (SYSTEM_ERROR when out
 * of memory). Every money-moving POST calls it. */
bool http_idempotency_arm(struct http_request *req, struct ledger_cmd *cmd, const char *principal);
/* Answers a finished idempotent command: the ledger error when its result
 * is not QB_OK (an IDEMPOTENCY_MISMATCH, BUSY, STORAGE ...), else the
 * stored answer (domain_response_get) byte for byte, with the header
 * Idempotent-Replayed: true when it came from the idempotency record. */
void http_reply_stored(struct http_request *req, const struct ledger_cmd *cmd);
/* Whether a ledger command's failed result is worth a warning of the route's
 * own: not OK, and none of the results said elsewhere (a key's other body,
 * a full queue, shutting down, and a failed commit, which the ledger logs
 * once for its whole batch: under a full disk, a line a request would
 * flood the log). */
bool http_cmd_failure_is_news(enum qb_error result);
/* Replies with what refused cmd, if anything did: the ledger's result (a
 * storage or internal failure), else the command's outcome, with message
 * when it is not NULL. False, having replied nothing, when the command did
 * what was asked. */
bool http_reply_refusal(struct http_request *req, const struct ledger_cmd *cmd,
                        enum qb_error outcome, const char *message);
/* An opaque cursor for values[0..count) (each 0..INT64_MAX, count at most
 * HTTP_CURSOR_VALUES_MAX) into out: the values enciphered and a MAC that
 * binds them to the request's route and caller, to scope (what of the
 * caller's the cursor is of, a merchant's mchid say; NULL: the caller
 * alone) and, when filters, to the query arguments its route reads (but
 * limit and cursor). */
#define HTTP_CURSOR_VALUES_MAX 4
#define HTTP_CURSOR_SIZE_MAX (1 + 16 * HTTP_CURSOR_VALUES_MAX + 1 + 16 + 1)
void http_cursor_seal(const struct http_request *req, bool filters, const char *scope,
                      const int64_t *values, size_t count, char out[HTTP_CURSOR_SIZE_MAX]);
/* The values of a cursor http_cursor_seal gave out for this route, caller,
 * scope (and filters) and count; false for any other text. */
bool http_cursor_open(const struct http_request *req, bool filters, const char *scope,
                      const char *text, int64_t *values, size_t count);
/* Keyset paging. A list asks its domain function for limit + 1 rows below
 * the cursor's key; when limit + 1 came back, next_cursor names the key of
 * the last row shown. ?cursor= absent or empty: *before is 0 (from the newest);
 * false after replying PARAM_ERROR when it is not a cursor this server
 * gives out. */
bool http_query_cursor(struct http_request *req, int64_t *before);
/* {"items": items, "next_cursor": a cursor for before = next, or null when
 * next is 0}; takes items. NULL when out of memory. */
json_t *http_page_json(struct http_request *req, json_t *items, int64_t next);
/* One keyset-paged list, as every GET of a list answers it. */
struct http_list {
    size_t row_size;   /* one row, as read() fills it */
    size_t key_offset; /* where a row keeps its key: HTTP_LIST_KEY */
    /* Reads up to room rows of the list of arg into rows, *count of them,
     * in the list's order from just past the key cursor (0: from its
     * start). */
    enum qb_error (*read)(struct http_request *req, struct store *reader, const void *arg,
                          int64_t cursor, void *rows, size_t room, size_t *count);
    /* A row as the page shows it, with the reader still held; NULL with
     * *err set (or left QB_OK: out of memory) ends the list in that error. */
    json_t *(*item)(struct http_request *req, struct store *reader, const void *arg,
                    const void *row, enum qb_error *err);
};
/* The key_offset of a row type's int64_t member field (anything else does
 * not compile). */
#define HTTP_LIST_KEY(type, field) _Generic(((type *)0)->field, int64_t : offsetof(type, field))
/* Replies with one page of list for arg: ?limit= and ?cursor= read, limit +
 * 1 rows read (one more than a page, to tell whether another follows, when
 * next_cursor names the key of the last row shown), each made an item; or
 * with the first error. */
void http_reply_list(struct http_request *req, const struct http_list *list, const void *arg);
/* Appends item (taken; NULL: out of memory) to *array; on failure releases
 * both and sets *array to NULL, which ends a loop building a list. */
void http_array_add(json_t **array, json_t *item);
/* Replies 200 with http_page_json(items, next), taking items; when items is
 * NULL (a list that could not be built) or the page cannot be made, err, or
 * SYSTEM_ERROR when err is QB_OK. */
void http_reply_page(struct http_request *req, json_t *items, int64_t next, enum qb_error err);
/* at_ms as RFC 3339 in UTC+8, as a JSON string; JSON null for 0. */
json_t *http_time_json(int64_t at_ms);
struct bills_counterparty; /* wallet/bills.h */
/* A bill's counterparty as the API shows it ({type, id, name} or a card's
 * {type, id, bank, last4}; JSON null for none), in bill_routes.c. */
json_t *http_bills_party_json(const struct bills_counterparty *cp);
struct bills_line; /* wallet/bills.h */
/* A bill line as GET /v1/me/transactions shows it; NULL when out of memory. */
json_t *http_bills_line_json(const struct bills_line *l);
/* A user as the API shows it: id, phone, display_name, kyc_level, status,
 * payment_password_set, created_at, and id_number_last4 when asked. */
json_t *http_user_json(const struct identity_user *user, bool with_id_number_last4);
/* [{"currency","available","pending"}] of the user's wallet account, or NULL
 * with *err set. */
json_t *http_balances_json(struct http_request *req, int64_t account_id, enum qb_error *err);
struct wallet_spending; /* wallet/limits.h */
/* The caller (*user, in the request's arena) and their limits as GET
 * /v1/me/limits lists them ([{name, amount, used, remaining}]), with their
 * spending row in *s; NULL after replying with the error. */
json_t *http_me_limits(struct http_request *req, struct identity_user **user,
                       struct wallet_spending *s);
/* Replies for a finished identity command that did not succeed: the ledger
 * result when it is not QB_OK, else the outcome when that is not. True when
 * it replied. Says how many tries are left for PASSWORD_WRONG. */
bool http_identity_refused(struct http_request *req, const struct identity_cmd *c);
/* The payment password's refusal err (PASSWORD_WRONG, PASSWORD_LOCKED) in the
 * words and with the "locked_until" member of a command's refusal
 * (identity_password_refusal_response); any other err as the table has it. */
void http_reply_password_refusal(struct http_request *req, enum qb_error err,
                                 const struct identity_password_try *t);
/* The Retry-After header (whole seconds, at least 1) of an answer about
 * something refused until until_ms. */
void http_reply_retry_after(struct http_request *req, int64_t until_ms);
/* err with message for something refused until locked_until_ms:
 * Retry-After (seconds) and "locked_until". */
void http_reply_locked(struct http_request *req, enum qb_error err, const char *message,
                       int64_t locked_until_ms);
/* 403 PHONE_CHANGE_HELD for a wallet held on its phone until held_until_ms
 * (identity_phone_held_until). */
void http_reply_phone_held(struct http_request *req, int64_t held_until_ms);
/* 423 PASSWORD_LOCKED for a login password locked until locked_until_ms. */
void http_reply_login_locked(struct http_request *req, int64_t locked_until_ms);
/* A zeroed identity command for op in the request's arena, initialised
 * (identity_cmd_init) with the server's env; NULL after replying
 * PAYLOAD_TOO_LARGE when the arena is full. */
struct identity_cmd *http_identity_cmd_new(struct http_request *req, enum identity_op op);
/* A resume function for commands that answer the user: 200 and the user as
 * GET /v1/me shows it, or the refusal. */
void http_resume_user(struct http_request *req, struct ledger_cmd *cmd);
/* A resume function for commands that answer nothing: 204, or the refusal. */
void http_resume_no_content(struct http_request *req, struct ledger_cmd *cmd);
/* An SMS code of the right shape (6 digits), or false after replying
 * PARAM_ERROR. */
bool http_sms_code_check(struct http_request *req, const char *code);
/* A payment password of the right shape (exactly six ASCII digits; NULL is
 * none), or false after replying PARAM_ERROR. */
bool http_payment_password_check(struct http_request *req, const char *text);
/* A new login password that identity_password_check takes, or false after
 * replying (PARAM_ERROR, PASSWORD_TOO_WEAK). */
bool http_new_password_check(struct http_request *req, const char *password);
/* Whether the session the request authenticated with (HTTP_AUTH_USER) is
 * still live, looked up again as authentication does: for a request that
 * answers long after it came (a wait for news), so that a revocation
 * meanwhile (a logout) holds for it as for the token's next request. False
 * after replying 401 UNAUTHORIZED (or 503 when the table could not be
 * read). */
bool http_request_session_live(struct http_request *req);
/* On an HTTP_AUTH_NONE route, for a form of the request that is a user's
 * alone (a bind_card code is the asking wallet's): authenticates the
 * caller's session as an HTTP_AUTH_USER route does, so that
 * http_request_session and http_me_load answer for it. False after
 * replying 401 UNAUTHORIZED (with WWW-Authenticate), or 503. */
bool http_request_user_authenticate(struct http_request *req);
/* The caller's user record (HTTP_AUTH_USER routes), or false after
 * replying. A session whose user is gone is no session: 401. */
bool http_me_load(struct http_request *req, struct identity_user *user);
/* The same, in memory of the request's own; NULL after replying (413 when
 * there is none). */
struct identity_user *http_me_new(struct http_request *req);
/* The {id} of the path when it has the shape of a user id; else NULL after
 * replying 404. */
const char *http_user_id_param(struct http_request *req);
/* User user_id's record (an operator's route), or false after replying
 * (404 NOT_FOUND for no such user); NULL: the caller, as http_me_load. */
bool http_user_load(struct http_request *req, const char *user_id, struct identity_user *user);
/* Wipes the secrets an identity command carried (codes, hashes, tokens) and
 * releases it: the last thing every resume function does. */
void http_identity_cmd_done(struct identity_cmd *c);
/* From the resume function of an IDENTITY_OP_LOGIN_FAILED command (a wrong
 * login password, at login or wherever the password is asked): counts it
 * in /metrics (qianbao_login_failures_total) and, for the one that took the
 * lock, logs identity.login_locked at warn with the user id, or the phone's
 * last four digits when nobody has it. Nothing when the command did not
 * commit, and nothing for one refused by a lock another took while it was
 * checked. One line per lock, never one per wrong password: a guesser
 * must not be able to flood the log, nor a user's history of security
 * events, whose lock row the command writes. */
void http_login_failure_record(struct http_request *req, const struct identity_cmd *c);
/* A login password's Argon2id work, between a route's checks on its HTTP
 * thread and its identity command: on a password thread
 * (http_request_offload_password), which verifies the password given
 * (verify), hashes a new one into next->password_hash (hash_new), and runs
 * next when the password was right or failed (IDENTITY_OP_LOGIN_FAILED)
 * when it was wrong, to completion (http_request_execute). Back on the
 * HTTP thread, the resume function of the command that ran answers, as if
 * the handler had submitted it. The copies of the passwords and the
 * stored hash are wiped as soon as the work is done with them, and on
 * every other way out. */
struct http_password_job {
    struct ledger_cmd hold; /* first: what the offload carries; never submitted */
    bool verify;            /* password against hash */
    bool hash_new;          /* new_password into next->password_hash */
    char password[IDENTITY_PASSWORD_SIZE_MAX + 1];
    char hash[IDENTITY_PASSWORD_HASH_SIZE_MAX]; /* the user's; "": a phone nobody registered,
                                                 * verified against a dummy at the same cost */
    char new_password[IDENTITY_PASSWORD_SIZE_MAX + 1];
    struct identity_cmd *next;   /* run when the password is right (or none is verified) */
    struct identity_cmd *failed; /* with verify: run when it is wrong */
    http_resume_fn next_resume;
    http_resume_fn failed_resume;
    struct identity_cmd *ran; /* the command that ran; NULL when hashing failed */
    enum qb_error hash_err;   /* why hashing failed (QB_E_BUSY: the job waited too long) */
    int64_t queued_ns;        /* when it was handed over (clock_monotonic_ns) */
};
/* A password job in the request's arena with next (op) and, with verify,
 * failed initialised (http_identity_cmd_new); NULL after replying. */
struct http_password_job *http_password_job_new(struct http_request *req, enum identity_op op,
                                                bool verify);
/* Hands the filled job to a password thread; next_resume and failed_resume
 * (NULL without verify) answer once its command ran. When the password
 * threads refuse it (http_request_offload_password), wipes and releases it. */
void http_password_job_start(struct http_request *req, struct http_password_job *job,
                             http_resume_fn next_resume, http_resume_fn failed_resume);

/* The handlers of the daemon's own routes. */
void http_handle_healthz(struct http_request *req);
void http_handle_metrics(struct http_request *req);

/* identity_routes.c: sign-up, sign-in, the caller's profile and money. */
void http_handle_sms_codes_create(struct http_request *req);
void http_handle_users_create(struct http_request *req);
void http_handle_sessions_create(struct http_request *req);
void http_handle_sessions_current_delete(struct http_request *req);
void http_handle_me_get(struct http_request *req);
void http_handle_me_display_name_set(struct http_request *req);
void http_handle_me_balances_get(struct http_request *req);
void http_handle_me_kyc_submit(struct http_request *req);

/* security_routes.c: the security centre. */
void http_handle_me_payment_password_set(struct http_request *req);
void http_handle_me_payment_password_verify(struct http_request *req);
void http_handle_me_sessions_list(struct http_request *req);
void http_handle_me_sessions_delete(struct http_request *req);
void http_handle_me_freeze(struct http_request *req);
void http_handle_me_unfreeze(struct http_request *req);
void http_handle_me_password_set(struct http_request *req);
void http_handle_me_phone_set(struct http_request *req);
void http_handle_me_close(struct http_request *req);
void http_handle_me_closing_get(struct http_request *req);
void http_handle_me_security_get(struct http_request *req);

/* bill_routes.c: the caller's bills, statements and their CSV form. */
void http_handle_me_transactions_list(struct http_request *req);
void http_handle_payees_recent(struct http_request *req);
void http_handle_me_transactions_csv(struct http_request *req);
void http_handle_me_statement_get(struct http_request *req);
/* transfer_routes.c: transfers between users, the spending limits. */
void http_handle_transfers_create(struct http_request *req);
void http_handle_transfers_get(struct http_request *req);
void http_handle_transfers_cancel(struct http_request *req);
void http_handle_transfers_return(struct http_request *req);
void http_handle_me_limits_get(struct http_request *req);
void http_handle_me_limits_set(struct http_request *req);
/* money_routes.c: bank cards, top-ups, withdrawals and their payments. */
void http_handle_me_cards_create(struct http_request *req);
void http_handle_me_cards_list(struct http_request *req);
void http_handle_me_cards_delete(struct http_request *req);
void http_handle_me_topups_create(struct http_request *req);
void http_handle_me_withdrawals_create(struct http_request *req);
void http_handle_me_withdrawal_quote(struct http_request *req);
void http_handle_merchants_me_withdrawal_quote(struct http_request *req);
void http_handle_me_payments_get(struct http_request *req);
/* Replies the refusal of a card binding (or of its code) by
 * wallet_card_bindable's verdict err: CARD_ALREADY_BOUND, or
 * LIMIT_EXCEEDED naming the limit "cards". */
void http_reply_card_unbindable(struct http_request *req, enum qb_error err);
/* collection_routes.c: group collections (群收款): asking, the asker's list,
 * reading one, paying one, closing one. */
void http_handle_collections_create(struct http_request *req);
void http_handle_me_collections_list(struct http_request *req);
void http_handle_collections_get(struct http_request *req);
void http_handle_collections_pay(struct http_request *req);
void http_handle_collections_close(struct http_request *req);
void http_handle_admin_collections_get(struct http_request *req);
/* The {id} of the path when it has the shape of a collection id, else NULL
 * after replying NOT_FOUND. */
const char *http_collection_id(struct http_request *req);
/* r as viewer_id sees it (the Collection of docs/api.md), or (NULL) as an
 * operator does: its asker's view with the asker's and each payer's user_id
 * and each payment's id. With its payments when with_payments. NULL with
 * *err set, or QB_OK when out of memory. */
struct wallet_collection;
json_t *http_collection_json(struct store *reader, const struct wallet_collection *r,
                             const char *viewer_id, int64_t now_ms, bool with_payments,
                             enum qb_error *err);
/* redpacket_routes.c: sending, claiming and reading red packets; an operator's look-up. */
void http_handle_red_packets_create(struct http_request *req);
void http_handle_red_packets_claim(struct http_request *req);
void http_handle_red_packets_get(struct http_request *req);
void http_handle_admin_red_packets_get(struct http_request *req);

/* merchant_routes.c: onboarding, openids, paying an order. */
void http_handle_merchants_create(struct http_request *req);
void http_handle_admin_merchants_create(struct http_request *req);
void http_handle_merchant_apps_create(struct http_request *req);
void http_handle_admin_merchant_apps_create(struct http_request *req);
void http_handle_me_openid_get(struct http_request *req);
void http_handle_me_order_payments_create(struct http_request *req);
/* The caller's merchant named mchid, or with mchid NULL the caller's only
 * one (or only one not closed: merchant_owned_get), into m; false after
 * replying (NOT_FOUND for none of the caller's, PARAM_ERROR when the caller
 * owns several and named none). */
bool http_merchant_owned(struct http_request *req, const char *mchid, struct merchant *m);
/* What http_merchant_owned tells for merchant_owned_get's err: the message
 * of NOT_FOUND or PARAM_ERROR, NULL for any other. */
const char *http_merchant_owned_message(enum qb_error err);
/* The same for the query's mchid, into a merchant of the request's memory;
 * NULL after replying. */
struct merchant *http_merchant_owned_query(struct http_request *req);
struct merchant_order;
/* A paid order as its merchant's owner sees it (GET /v1/merchants/me/payments,
 * the payments of GET /v1/merchants/me/changes): {transaction_id,
 * out_trade_no, trade_type, trade_state (as now), description, amount, fee,
 * refunded, currency, payer_name (masked), success_time}, read with
 * reader. NULL with *err set, or left QB_OK when out of memory. */
json_t *http_merchant_payment_json(struct http_request *req, struct store *reader,
                                   const struct merchant_order *o, enum qb_error *err);
void http_handle_merchants_me_get(struct http_request *req);
void http_handle_merchants_me_close(struct http_request *req);
void http_handle_merchants_me_apiv3_key(struct http_request *req);
void http_handle_merchants_me_certificate(struct http_request *req);
/* Adds to body what a merchant's owner and an operator read of m's keys:
 * serial_no (its certificate's, which /v3 requests must name), and when
 * its owner last replaced the API v3 key and the certificate
 * (apiv3_key_reset_at, certificate_replaced_at; null: never). False when
 * it could not. */
bool http_merchant_keys_json(json_t *body, const struct merchant *m);
void http_handle_merchants_me_analytics(struct http_request *req);
void http_handle_merchants_me_withdrawals_create(struct http_request *req);
/* qr_routes.c */
void http_handle_me_receive_code_get(struct http_request *req);
void http_handle_merchant_till_code_get(struct http_request *req);
void http_handle_collection_code_get(struct http_request *req);
void http_handle_qr_resolve(struct http_request *req);
void http_handle_payees_get(struct http_request *req);
/* {user_id, display_name and phone masked}: a payee as a payer sees them
 * (GET /v1/payees, a receive code, the recent payees); NULL out of memory. */
json_t *http_payee_json(const struct identity_user *payee);
/* A QR payload (src/qr/qr.h) verified under the daemon's key and of one
 * of the kinds the route pays (a mask of HTTP_QR_* bits), or false after
 * replying QR_INVALID: one of another kind with the route that pays it. */
struct qr_payload;
#define HTTP_QR_TRANSFER (1u << 1)   /* QR_KIND_TRANSFER: a person's receive code */
#define HTTP_QR_MERCHANT (3u << 2)   /* QR_KIND_MERCHANT, QR_KIND_ORDER: a till code, a code_url */
#define HTTP_QR_COLLECTION (1u << 4) /* QR_KIND_COLLECTION */
#define HTTP_QR_ANY (HTTP_QR_TRANSFER | HTTP_QR_MERCHANT | HTTP_QR_COLLECTION)
bool http_qr_payload(struct http_request *req, const char *text, unsigned kinds,
                     struct qr_payload *out);
/* v3_routes.c: the merchant API (HTTP_AUTH_MERCHANT). */
void http_handle_v3_native(struct http_request *req);
void http_handle_v3_jsapi(struct http_request *req);
void http_handle_v3_app(struct http_request *req);
void http_handle_v3_h5(struct http_request *req);
void http_handle_v3_codepay(struct http_request *req);
void http_handle_v3_reverse(struct http_request *req);
/* paycode_routes.c: devices, online payment codes, pending codepay orders. */
void http_handle_me_devices_create(struct http_request *req);
void http_handle_me_devices_list(struct http_request *req);
void http_handle_me_devices_delete(struct http_request *req);
void http_handle_me_payment_code_get(struct http_request *req);
void http_handle_me_payment_code_settings_get(struct http_request *req);
void http_handle_me_payment_code_settings_set(struct http_request *req);
void http_handle_me_pending_payments_list(struct http_request *req);
void http_handle_me_pending_payments_confirm(struct http_request *req);
void http_handle_v3_query_out_trade_no(struct http_request *req);
void http_handle_v3_query_id(struct http_request *req);
void http_handle_v3_close(struct http_request *req);
void http_handle_v3_certificates(struct http_request *req);
void http_handle_v3_tradebill(struct http_request *req);
void http_handle_v3_fundflowbill(struct http_request *req);
void http_handle_v3_billdownload(struct http_request *req);
void http_handle_v3_fund_balance(struct http_request *req);
void http_handle_v3_fund_dayendbalance(struct http_request *req);
/* refund_routes.c: refunds and notifications of the merchant API. */
void http_handle_v3_refunds_create(struct http_request *req);
void http_handle_v3_refunds_get(struct http_request *req);
void http_handle_v3_notifications_list(struct http_request *req);
void http_handle_merchant_notifications_list(struct http_request *req);
void http_handle_v3_notifications_resend(struct http_request *req);
void http_handle_merchant_notifications_resend(struct http_request *req);
/* A notify_url's host resolved and checked against private addresses
 * (merchant/notify.h); false after replying PARAM_ERROR. */
bool http_v3_notify_url_allowed(struct http_request *req, const char *url);

/* payout_routes.c: merchants paying users (商家转账), both sides. */
void http_handle_v3_payouts_create(struct http_request *req);
void http_handle_v3_payouts_cancel(struct http_request *req);
void http_handle_v3_payouts_get_by_out_bill_no(struct http_request *req);
void http_handle_v3_payouts_get_by_transfer_bill_no(struct http_request *req);
void http_handle_me_payouts_list(struct http_request *req);
void http_handle_payouts_get(struct http_request *req);
void http_handle_payouts_confirm(struct http_request *req);
/* admin_routes.c: an operator's stop of one, on a report of fraud, and a
 * merchant's list, to find the ones to stop. */
void http_handle_admin_payouts_cancel(struct http_request *req);
void http_handle_admin_merchants_payouts_list(struct http_request *req);

/* operator_routes.c: named operators, for the root token only. */
void http_handle_admin_operators_list(struct http_request *req);
void http_handle_admin_operators_create(struct http_request *req);
void http_handle_admin_operators_revoke(struct http_request *req);
void http_handle_admin_operators_token_rotate(struct http_request *req);
/* admin_routes.c: the operators' views and actions. */
void http_handle_admin_users_list(struct http_request *req);
/* verify_routes.c */
void http_handle_admin_verification_start(struct http_request *req);
void http_handle_admin_verification_get(struct http_request *req);
void http_handle_admin_users_freeze(struct http_request *req);
void http_handle_admin_users_close(struct http_request *req);
void http_handle_admin_users_unfreeze(struct http_request *req);
void http_handle_admin_users_login_unlock(struct http_request *req);
void http_handle_admin_users_kyc_level_set(struct http_request *req);
void http_handle_admin_sms_outbox_list(struct http_request *req);
void http_handle_admin_payments_list(struct http_request *req);
void http_handle_admin_users_security_events_list(struct http_request *req);
void http_handle_admin_users_get(struct http_request *req);
void http_handle_admin_merchants_list(struct http_request *req);
void http_handle_admin_merchants_get(struct http_request *req);
void http_handle_admin_merchants_suspend(struct http_request *req);
void http_handle_admin_merchants_resume(struct http_request *req);
/* An operator's reason as one quoted log value: its text is clean (no
 * controls, no invisible formatting: HTTP_FIELD_STRING), log_event escapes
 * backslashes, and a double quote, which would end the value, is written as
 * a single one. */
void http_reason_for_log(const char *reason, char *out, size_t out_size);
void http_handle_admin_merchants_apiv3_key(struct http_request *req);
void http_handle_admin_merchants_certificate(struct http_request *req);
void http_handle_admin_audit_list(struct http_request *req);
void http_handle_admin_users_transactions_list(struct http_request *req);
void http_handle_admin_users_transactions_csv(struct http_request *req);
void http_handle_me_security_events_list(struct http_request *req);
/* security_routes.c: a page of user_id's security events (?limit=, ?cursor=);
 * 404 when there is no such user. */
void http_reply_security_events(struct http_request *req, const char *user_id);
void http_handle_admin_payments_get(struct http_request *req);
void http_handle_admin_payments_query(struct http_request *req);
void http_handle_admin_transfers_cancel(struct http_request *req);
/* notice_routes.c */
void http_handle_me_notices_list(struct http_request *req);
void http_handle_me_notices_unread(struct http_request *req);
void http_handle_me_changes(struct http_request *req);
void http_handle_merchants_me_changes(struct http_request *req);
void http_handle_merchants_me_payments_list(struct http_request *req);
void http_handle_merchants_me_refunds_create(struct http_request *req);
void http_handle_me_notices_mark_read(struct http_request *req);
void http_handle_admin_users_notices_list(struct http_request *req);

#endif

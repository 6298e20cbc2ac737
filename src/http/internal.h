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
#include <stdint.h>

#include "http/server.h"

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
 * (which must match it). Values are allocated with http_request_alloc.
 * Returns the count, or -1 when the arena is exhausted. */
int http_route_params(struct http_request *req, const char *pattern, const char *path,
                      struct http_param *params);
/* False (with a message in err) when a route is malformed: no method, a
 * pattern not starting with '/', an unclosed '{', more than HTTP_PARAMS_MAX
 * parameters, an unknown auth kind, or a duplicate (method, pattern). */
bool http_routes_check(const struct http_route *routes, size_t route_count, char *err,
                       size_t err_size);

/* --- metrics (metrics.c) -------------------------------------------------- */

/* Request-duration buckets, upper bounds in microseconds; the last is +Inf. */
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
};

QB_MUST_USE enum qb_error http_metrics_init(struct http_metrics *metrics, size_t route_count);
void http_metrics_release(struct http_metrics *metrics);
/* Counts one finished request; route_index == route_count for unmatched. */
void http_metrics_observe(struct http_metrics *metrics, size_t route_index, int status,
                          int64_t duration_us);
/* Writes the Prometheus text exposition (format 0.0.4) of the HTTP counters
 * and, when stats is not NULL, of the ledger executor. */
QB_MUST_USE enum qb_error http_metrics_render(const struct http_metrics *metrics,
                                              const struct http_route *routes,
                                              const struct ledger_stats *stats, struct buf *out);
/* The bucket index of a duration, and the upper bound of a bucket. */
int http_duration_bucket(int64_t duration_us);
int64_t http_duration_bucket_us(int index);

/* --- the server and its requests (server.c) -------------------------------- */

struct http_server {
    struct MHD_Daemon *mhd;
    int listen_fd_quiesced; /* the listening socket once quiesced, else -1 */
    char address[96];
    uint16_t port;

    const struct http_route *routes;
    size_t route_count;
    size_t body_size_max;
    struct store_pool *pool;
    char *admin_token; /* NULL when none */
    size_t admin_token_size;
    char version[32];
    int64_t started_ns;

    /* Readers: submissions and /metrics. The writer: detach at shutdown. */
    pthread_rwlock_t ledger_lock;
    struct ledger *ledger;

    _Atomic int64_t requests_in_flight;
    atomic_bool closing; /* quiesced: replies carry Connection: close */
    struct http_metrics metrics;
};

struct http_arena_block;

struct http_header_field {
    char *name;
    char *value;
};

struct http_request {
    struct http_server *server;
    struct MHD_Connection *connection;
    char id[HTTP_REQUEST_ID_SIZE_MAX];
    char method[16];
    char path[HTTP_PATH_SIZE_MAX];
    bool path_too_long;
    int64_t started_ns;

    size_t route_index; /* == server->route_count while unmatched */
    struct http_param params[HTTP_PARAMS_MAX];
    int param_count;

    struct buf body;
    bool body_too_large;

    struct http_arena_block *arena;
    size_t arena_size;

    /* Set by http_request_submit on the HTTP thread. The writer thread only
     * resumes the connection; the resumed call sees submitted and calls
     * resume, so no field is written by both threads. */
    bool submitted;
    bool resumed;
    struct ledger_cmd *cmd;
    http_resume_fn resume;

    /* The reply, built by the handler, sent by the server. */
    bool replied; /* an http_reply_* call happened */
    bool queued;  /* handed to libmicrohttpd */
    int status;
    const char *content_type; /* a static string */
    struct buf reply;
    struct http_header_field headers[HTTP_REPLY_HEADERS_MAX];
    int header_count;
};

/* The server of a request, and its ledger statistics under the lock (false
 * when the ledger is detached). */
bool http_server_ledger_stats(struct http_server *server, struct ledger_stats *out);
struct http_server *http_request_server(const struct http_request *req);

/* The handlers of the daemon's own routes. */
void http_handle_healthz(struct http_request *req);
void http_handle_metrics(struct http_request *req);

#endif

#define _GNU_SOURCE /* accept4 */
/*
 * conn.c — connections: the listening socket, the HTTP threads' epoll
 * loops, reading requests and sending replies.
 *
 * Each HTTP thread runs an epoll loop over its own connections (edge-
 * triggered, registered once for input and output, so a connection costs
 * no system call while its request waits) and takes new ones from the
 * shared listening socket (EPOLLEXCLUSIVE), dealing them to the threads in
 * turn. A connection reads one request's head into its buffer (wire.c
 * parses it in place); server.c makes the request and routes it at once,
 * so that a 404, 405 or 413 goes out before any body is read; the body
 * streams into the request, and the handler runs. A request handed to the
 * ledger or an offload thread leaves its connection away: nothing is read
 * from it and no timeout runs. Whoever finishes with it puts it on its
 * thread's resumed list and wakes the thread once for all that came back
 * together (http_conn_resume). A request parked to wait for news (wait.c)
 * is away too, but its client may leave meanwhile: when its connection
 * reports the client's close (or a half-close: nothing more will come),
 * the thread takes the waiter back and closes the connection at once, so
 * that neither the wallet's place among its waiters nor the connection
 * stays taken until the wait's end (S_conn_left). A request with the
 * ledger or an offload thread waits for them whatever its client does: it
 * is answered, into the void, then closed. A reply becomes bytes in one
 * place, S_reply_start; S_request_finish writes the access-log line,
 * counts the request and frees it.
 *
 * The access line names the TCP peer as accepted (never a header such as
 * X-Forwarded-For, which anyone can send) and the authenticated principal:
 * the user id, the mchid or "admin" (http_request_principal); never a
 * token or anything else the request carried.
 *
 * A request refused before its handler (malformed, headers too large, a
 * 413 with its body unread) gets a JSON error like any other, then the
 * connection is half-closed and drained before it is closed, so that the
 * client reads the answer instead of a reset.
 *
 * Threads: everything here runs on the connection's own HTTP thread but
 * http_conn_resume (any thread) and the lists under a worker's mutex.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stddef.h>
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
#include "base/luhn.h"
#include "base/thread.h"
#include "http/internal.h"
#include "http/wire.h"

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
#define S_OUT_SIZE_MAX (64 * 1024) /* a reply's head */
#define S_POLL_MS_MAX 1000
/* Requests one connection's turn answers before the others ready on its
 * thread get theirs: a client that pipelines thousands (or hundreds that
 * do) must not hold every other one up until its backlog is done. */
#define S_TURN_REQUESTS 16
/* "[<IPv6>]:<port>": INET6_ADDRSTRLEN (46, with its NUL), brackets, ':' and 5 digits. */
#define S_PEER_SIZE_MAX (INET6_ADDRSTRLEN + 8)

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
    bool hup;         /* epoll told of the client's close, or half-close, or a failure */
    bool peer_closed; /* the client sent its last byte (or the socket failed) */
    bool parked;      /* away on the parked list (http_conn_park), not yet taken up */
    bool keep_alive;  /* another request may follow the current one */
    bool linger;      /* after the reply: half-close and drain, don't close at once */
    char *in;         /* S_IN_SIZE bytes */
    size_t in_size;
    size_t in_touched; /* the most of in ever filled: what the close wipes */
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
    int64_t active_ms;             /* a request's first byte read, or last sent: the timeout
                                    * counts from here */
    int64_t park_due_ms;           /* parked (http_conn_park): when its wait ends */
    char peer[S_PEER_SIZE_MAX];    /* the TCP peer, "ip:port", for the access line */
    bool admin;                    /* accepted on the admin listener */
    struct http_conn *prev, *next; /* the worker's idle list (oldest first), away list or
                                    * parked list (by park_due_ms) */
    struct http_conn *resumed_next;
    /* On the worker's list of connections whose turn ended with requests
     * left (S_TURN_REQUESTS), to run again after the others; linked to
     * itself when not. */
    struct S_turn_link {
        struct S_turn_link *prev, *next;
    } turn;
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
    struct http_conn idle; /* sentinels of the three lists */
    struct http_conn away;
    struct http_conn parked;
    struct http_conn *closed; /* to free at the end of the loop's turn */
    struct S_turn_link more;  /* connections with requests left after their turn */
    int64_t date_s;
    char date[40];
};

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

static void S_turn_unlink(struct S_turn_link *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->prev = l->next = l;
}

static struct http_conn *S_turn_conn(struct S_turn_link *l)
{
    return (struct http_conn *)(void *)((char *)l - offsetof(struct http_conn, turn));
}

/* Its turn ended with requests left: it runs again after the others. */
static void S_turn_later(struct http_conn *c)
{
    if (c->turn.next != &c->turn)
        return;
    struct S_turn_link *list = &c->worker->more;
    c->turn.prev = list->prev;
    c->turn.next = list;
    list->prev->next = &c->turn;
    list->prev = &c->turn;
}

/* Read or sent something: the idle timeout starts again. */
static void S_conn_active(struct http_conn *c)
{
    c->active_ms = clock_monotonic_ns() / 1000000;
    S_list_unlink(c);
    S_list_append(&c->worker->idle, c);
}

/* The byte of the escape %XX at s[*i] (its '%'), *i moved to its last
 * byte; -1 when there is none there. */
static int S_escape_at(const char *s, size_t size, size_t *i)
{
    if (s[*i] != '%' || *i + 2 >= size || !isxdigit((unsigned char)s[*i + 1]) ||
        !isxdigit((unsigned char)s[*i + 2]))
        return -1;
    char pair[3] = {s[*i + 1], s[*i + 2], '\0'};
    *i += 2;
    return (int)strtol(pair, NULL, 16);
}

/* Whether the path segment of size bytes at s is a card number as people
 * write one: 13 to 19 digits passing the Luhn check, anything but letters
 * between them (spaces, a form's '+', dashes, dots, an ideographic space),
 * its escapes decoded (twice, as a proxy may leave them), full-width digits
 * counted as digits; with its last four digits into last4 then. */
static bool S_segment_is_card(const char *s, size_t size, char last4[5])
{
    char digits[19];
    size_t n = 0;
    for (size_t i = 0; i < size; i++) {
        int c = (unsigned char)s[i];
        int escaped = S_escape_at(s, size, &i);
        if (escaped == '%') { /* %25XX */
            size_t j = i + 1;
            char again[3] = {j < size ? s[j] : '\0', j + 1 < size ? s[j + 1] : '\0', '\0'};
            if (isxdigit((unsigned char)again[0]) && isxdigit((unsigned char)again[1])) {
                escaped = (int)strtol(again, NULL, 16);
                i += 2;
            }
        }
        if (escaped >= 0)
            c = escaped;
        /* A full-width digit, U+FF10..U+FF19: EF BC 90..99, each byte as
         * sent or escaped. */
        if (c == 0xEF) {
            size_t j = i + 1;
            int b1 = j < size ? S_escape_at(s, size, &j) : -1;
            if (b1 < 0 && j < size)
                b1 = (unsigned char)s[j];
            size_t k = j + 1;
            int b2 = k < size ? S_escape_at(s, size, &k) : -1;
            if (b2 < 0 && k < size)
                b2 = (unsigned char)s[k];
            if (b1 == 0xBC && b2 >= 0x90 && b2 <= 0x99) {
                c = '0' + (b2 - 0x90);
                i = k;
            }
        }
        if (c >= '0' && c <= '9') {
            if (n == sizeof digits)
                return false;
            digits[n++] = (char)c;
        } else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) {
            return false;
        }
    }
    if (n < 13 || !luhn_is_valid(digits, n))
        return false;
    memcpy(last4, digits + n - 4, 4);
    last4[4] = '\0';
    return true;
}

/* The path as sent, as it is logged: its escapes kept as the client wrote
 * them, and spaces, quotes, control bytes and every byte beyond ASCII
 * escaped (%XX), so that a path stays one value of its line and cannot add
 * a field of its own, nor turn the line around on an operator's terminal
 * (U+202E). Unless cards_kept (a /v3 path, whose out_trade_no a merchant
 * chooses and an operator searches for), a card number a client put in it
 * (a segment that is one, S_segment_is_card, or a run of 13 to 19 digits
 * passing the Luhn check within a segment) is written "****" and its last
 * four, as every other line names a card. */
static void S_path_for_log(const char *path, bool cards_kept, char *out, size_t out_size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)path; *p != '\0' && o + 4 <= out_size;
         p++) {
        bool first = p == (const unsigned char *)path;
        size_t segment = !cards_kept && (first || p[-1] == '/') ? strcspn((const char *)p, "/") : 0;
        size_t digits = !cards_kept && (first || p[-1] < '0' || p[-1] > '9')
                            ? strspn((const char *)p, "0123456789")
                            : 0;
        char last4[5];
        if (segment > 0 && o + 9 <= out_size &&
            S_segment_is_card((const char *)p, segment, last4)) {
            memcpy(out + o, "****", 4);
            memcpy(out + o + 4, last4, 4);
            o += 8;
            p += segment - 1;
        } else if (digits >= 13 && digits <= 19 && luhn_is_valid((const char *)p, digits) &&
                   o + 9 <= out_size) {
            memcpy(out + o, "****", 4);
            memcpy(out + o + 4, p + digits - 4, 4);
            o += 8;
            p += digits - 1;
        } else if (*p <= 0x20 || *p >= 0x7f || *p == '"') {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        } else {
            out[o++] = (char)*p;
        }
    }
    out[o] = '\0';
}

/* "1.2.3.4:5678" or "[::1]:5678" for a peer address (an IPv4 client of an
 * IPv6 socket as IPv4); "-" for one of another family. */
static void S_peer_format(const struct sockaddr_storage *addr, char *out, size_t out_size)
{
    QB_ASSERT(out_size >= S_PEER_SIZE_MAX);
    char ip[INET6_ADDRSTRLEN];
    unsigned int port;
    bool ok;
    bool v6 = false;
    if (addr->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
        ok = inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip) != NULL;
        port = ntohs(in->sin_port);
    } else if (addr->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            ok = inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], ip, sizeof ip) != NULL;
        } else {
            ok = inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip) != NULL;
            v6 = true;
        }
        port = ntohs(in6->sin6_port);
    } else {
        ok = false;
        port = 0;
    }
    if (!ok) {
        snprintf(out, out_size, "-");
        return;
    }
    int n = snprintf(out, out_size, v6 ? "[%s]:%u" : "%s:%u", ip, port);
    QB_ASSERT(n > 0 && (size_t)n < out_size);
}

/* The X-Request-Id a proxy in front (or the client) sent, for the access
 * line beside the daemon's own id, so that an operator can follow a request
 * from the proxy's log into this one: when it is 1..128 of [A-Za-z0-9._:-],
 * which cannot break the line nor pass for another field; NULL otherwise.
 * It never replaces the daemon's id, which a client cannot choose. */
#define S_UPSTREAM_ID_SIZE_MAX 128
static const char *S_upstream_id(const struct http_request *req)
{
    const char *id = http_request_header(req, "X-Request-Id");
    if (id == NULL)
        return NULL;
    size_t size = strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-");
    return size > 0 && size <= S_UPSTREAM_ID_SIZE_MAX && id[size] == '\0' ? id : NULL;
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
    char path[3 * HTTP_PATH_SIZE_MAX];
    S_path_for_log(req->path, req->merchant_api, path, sizeof path);
    const char *principal = http_request_principal(req);
    const char *upstream = S_upstream_id(req);
    log_event(LOG_INFO, "http.request",
              "method=%s path=%s status=%d duration_us=%lld peer=%s principal=%s%s%s%s",
              req->method, path, status, (long long)duration_us, c->peer,
              principal != NULL ? principal : "-", upstream != NULL ? " upstream_req=" : "",
              upstream != NULL ? upstream : "", ok ? "" : " closed=1");
    log_set_request_id(NULL);
    if (req->queued)
        http_metrics_observe(&req->server->metrics, req->route_index, status, duration_us);
    http_request_free(req);
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
    S_turn_unlink(&c->turn);
    c->resumed_next = c->worker->closed;
    c->worker->closed = c;
    atomic_fetch_sub(&c->worker->server->connections, 1);
}

static void S_conn_free(struct http_conn *c)
{
    /* Bodies carry passwords and card numbers; the bytes never filled
     * hold nothing, and wiping them would only bring in pages of a
     * connection that sent little (thousands of them, after a flood). */
    crypto_wipe(c->in, c->in_touched);
    free(c->in);
    buf_release(&c->out);
    free(c->stream_piece);
    free(c);
}

/* Whether nothing of a request is buffered: nothing, or only the blank
 * line a client may send after a body (RFC 9112 2.2), which the head's
 * parser skips; one, so that blank lines alone cannot keep a connection. */
static bool S_conn_between_requests(const struct http_conn *c)
{
    if (c->state != S_HEAD || c->in_size > 2)
        return false;
    for (size_t i = 0; i < c->in_size; i++)
        if (c->in[i] != '\r' && c->in[i] != '\n')
            return false;
    return true;
}

/* One recv into the buffer's free space. */
static void S_conn_read(struct http_conn *c)
{
    size_t space = S_IN_SIZE - c->in_size;
    QB_ASSERT(space > 0);
    ssize_t n = recv(c->fd, c->in + c->in_size, space, 0);
    if (n > 0) {
        /* Only a request's first byte starts the timeout again: a request
         * must arrive whole within it, and what a closing connection
         * drains (S_LINGER) or a busy one buffers counts for nothing, or
         * one byte now and then (slowloris) would hold it for ever. */
        bool starts_request = S_conn_between_requests(c);
        c->in_size += (size_t)n;
        if (c->in_size > c->in_touched)
            c->in_touched = c->in_size;
        /* A short read emptied the socket: the next byte to come brings
         * another edge from epoll. After the client's close (hup) nothing
         * comes and no edge will: its end stays to be read, as a read of 0,
         * so that the connection closes once its last request is answered
         * instead of at the idle timeout. */
        c->unread = (size_t)n == space || c->hup;
        if (starts_request)
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

bool http_head_field(struct buf *out, const char *name, const char *value)
{
    return buf_append(out, name, strlen(name)) == QB_OK && buf_append(out, ": ", 2) == QB_OK &&
           buf_append(out, value, strlen(value)) == QB_OK && buf_append(out, "\r\n", 2) == QB_OK;
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
    /* Nothing is cached unless a route says otherwise, once. */
    bool cache_control = false;
    for (int i = 0; i < req->header_count; i++)
        cache_control = cache_control || strcasecmp(req->headers[i].name, "Cache-Control") == 0;
    bool ok =
        buf_printf(out, "HTTP/1.1 %d %s\r\n", req->status, S_reason(req->status)) == QB_OK &&
        http_head_field(out, "Date", S_date(c->worker)) &&
        http_head_field(out, "X-Request-Id", req->id) &&
        /* WeChat's name for it, which some SDKs' checks of an answer need */
        (!req->merchant_api || http_head_field(out, "Request-ID", req->id)) &&
        (req->content_type == NULL || http_head_field(out, "Content-Type", req->content_type)) &&
        (cache_control || http_head_field(out, "Cache-Control", "no-store"));
    for (int i = 0; ok && i < req->header_count; i++)
        ok = http_head_field(out, req->headers[i].name, req->headers[i].value);
    /* A /v3/ reply that cannot be signed is not sent unsigned: the client
     * gets no answer rather than one it cannot check. */
    if (ok && !streamed && req->merchant_api)
        ok = http_reply_sign(req, out);
    if (ok && !c->keep_alive)
        ok = http_head_field(out, "Connection", "close");
    else if (ok && c->head.minor_version == 0)
        ok = http_head_field(out, "Connection", "keep-alive");
    if (ok && streamed && c->stream_chunked)
        ok = http_head_field(out, "Transfer-Encoding", "chunked");
    if (ok && !streamed && req->status != 204 && req->status != 304) {
        snprintf(line, sizeof line, "%zu", req->reply.size);
        ok = http_head_field(out, "Content-Length", line);
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
 * connection and could destroy the reply before the client reads it). A
 * head that parsed (refused for how it frames or names its request) has
 * the access line name its method and path. */
/* Whether every Content-Encoding line of head lists identity alone: no
 * coding is decoded here (RFC 9110 8.4), so a body in one would be read as
 * the JSON it is not, and a plain one said to be compressed taken as it
 * came. */
static bool S_identity_coded(const struct http_wire_head *head)
{
    for (int i = 0; i < head->header_count; i++) {
        if (strcasecmp(head->headers[i].name, "Content-Encoding") != 0)
            continue;
        const char *p = head->headers[i].value;
        while (*p != '\0') {
            p += strspn(p, " \t,");
            size_t n = strcspn(p, " \t,");
            if (n > 0 && (n != 8 || strncasecmp(p, "identity", 8) != 0))
                return false;
            p += n;
        }
    }
    return true;
}

/* Whether any Connection line of head names token: lines of one name are
 * one list (RFC 9110 5.3), "Connection: keep-alive" then "Connection:
 * close" closing as "Connection: keep-alive, close" does. */
static bool S_connection_has(const struct http_wire_head *head, const char *token)
{
    for (int i = 0; i < head->header_count; i++)
        if (strcasecmp(head->headers[i].name, "Connection") == 0 &&
            http_wire_list_has(head->headers[i].value, token))
            return true;
    return false;
}

static void S_refuse_as(struct http_conn *c, enum qb_error err, const char *message,
                        bool head_parsed)
{
    if (c->req == NULL) {
        c->req = http_request_new(c->worker->server, c);
        if (c->req == NULL) {
            S_conn_close(c);
            return;
        }
        if (head_parsed) {
            http_request_start(c->req, &c->head);
        } else {
            c->head.header_count = 0; /* a head that failed to parse: none of it */
            snprintf(c->req->method, sizeof c->req->method, "-");
            snprintf(c->req->path, sizeof c->req->path, "-");
        }
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

static void S_refuse(struct http_conn *c, enum qb_error err, const char *message)
{
    S_refuse_as(c, err, message, false);
}

static void S_refuse_head(struct http_conn *c, enum qb_error err, const char *message)
{
    S_refuse_as(c, err, message, true);
}

/* A parked request whose client left (c->hup): takes its waiter back and
 * closes the connection, the request unanswered, so that its place among
 * the waiters and the connection are free at once. When news (or the
 * stop) took the waiter first, the request is on its way back to this
 * thread and must come back to it: S_conn_resumed looks again if it parks
 * anew. Nothing for a request that is not parked: one with the ledger or
 * an offload thread is theirs until they hand it back. */
static void S_conn_left(struct http_conn *c)
{
    if (!c->parked || !c->hup)
        return;
    QB_ASSERT(c->state == S_AWAY && c->req != NULL);
    if (!http_request_unwatch(c->req))
        return;
    /* Out of the waiters' list: no other thread can reach the request, so
     * it is no longer away, and the connection may close. */
    c->parked = false;
    c->state = S_HEAD;
    S_conn_close(c);
}

/* Hands the request to its route. */
static void S_conn_dispatch(struct http_conn *c)
{
    struct http_request *req = c->req;
    log_set_request_id(req->id);
    http_request_dispatch(req);
    log_set_request_id(NULL);
    if (req->replied && !req->submitted) {
        S_reply_start(c);
        return;
    }
    /* Away until it comes back; but a wait whose client's close came with
     * the request ends here: its client has left already. */
    S_conn_left(c);
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
    /* The fields that frame the request, or name its caller, its key or
     * its media type, each at most once (two equal lengths excepted):
     * repeated, two servers could take different ones, and a handler that
     * read the first of two keys would charge again under the second. */
    static const char *const single[] = {"Transfer-Encoding", "Host", "Authorization",
                                         "Idempotency-Key", "Content-Type"};
    int counts[QB_ARRAY_COUNT(single)] = {0};
    const char *te = NULL;
    const char *host = NULL;
    const char *length = NULL;
    for (int i = 0; i < c->head.header_count; i++) {
        const char *name = c->head.headers[i].name;
        if (strcasecmp(name, "Content-Length") == 0) {
            if (length != NULL && strcmp(length, c->head.headers[i].value) != 0) {
                S_refuse_head(c, QB_E_HTTP_MALFORMED, "Content-Length is given twice");
                return;
            }
            length = c->head.headers[i].value;
            continue;
        }
        for (size_t k = 0; k < QB_ARRAY_COUNT(single); k++) {
            if (strcasecmp(name, single[k]) != 0)
                continue;
            if (++counts[k] > 1) {
                char message[64];
                snprintf(message, sizeof message, "%s is given twice", single[k]);
                S_refuse_head(c, QB_E_HTTP_MALFORMED, message);
                return;
            }
            if (k == 0)
                te = c->head.headers[i].value;
            else if (k == 1)
                host = c->head.headers[i].value;
        }
    }
    int host_count = counts[1];
    c->chunked = false;
    c->body_left = 0;
    memset(&c->chunk, 0, sizeof c->chunk);
    if (te != NULL) {
        /* Both, or a coding other than chunked alone, could be read two
         * ways by two servers: refused (RFC 9112 6.1). */
        if (length != NULL || c->head.minor_version == 0 || strcasecmp(te, "chunked") != 0) {
            S_refuse_head(c, QB_E_HTTP_MALFORMED,
                          "only Transfer-Encoding: chunked is accepted, "
                          "without Content-Length");
            return;
        }
        c->chunked = true;
    } else if (length != NULL && !http_wire_parse_length(length, &c->body_left)) {
        S_refuse_head(c, QB_E_HTTP_MALFORMED, "Content-Length is not a number");
        return;
    }
    if (c->head.minor_version == 1 && host_count == 0) {
        S_refuse_head(c, QB_E_HTTP_MALFORMED, "an HTTP/1.1 request needs a Host header");
        return;
    }
    /* A Host is a host and maybe a port, or empty (RFC 9112 3.2; RFC 3986
     * 3.2.2: its registered names, addresses and IP literals take no other
     * characters): one that is not is refused, as a proxy before would. */
    if (host != NULL && !http_wire_host_valid(host)) {
        S_refuse_head(c, QB_E_HTTP_MALFORMED, "Host is not a host");
        return;
    }
    if (!S_identity_coded(&c->head)) {
        S_refuse_head(c, QB_E_MEDIA_TYPE,
                      "no Content-Encoding but identity is accepted: send the body as it is");
        return;
    }
    c->keep_alive = c->head.minor_version == 1 ? !S_connection_has(&c->head, "close")
                                               : S_connection_has(&c->head, "keep-alive") &&
                                                     !S_connection_has(&c->head, "close");
    c->linger = false;

    struct http_request *req = http_request_new(server, c);
    if (req == NULL) {
        S_conn_close(c);
        return;
    }
    c->req = req;
    log_set_request_id(req->id);
    http_request_start(req, &c->head);
    http_request_route(req);
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
                req->body_too_large = true;
            /* A chunk whose size line alone takes the body past the limit
             * is refused now, not once its bytes have come (or, when its
             * client sends no more, at the timeout). */
            if (c->chunk.remaining > req->body.size_max - req->body.size)
                req->body_too_large = true;
            used += consumed;
            if (req->body_too_large)
                break;
            if (r == HTTP_WIRE_OK) {
                complete = true;
                break;
            }
            if (consumed == 0 && piece_size == 0)
                break;
        }
    }
    /* Past the limit (a chunked body, whose length the head did not
     * give): 413 now, and what its client still sends is read and dropped
     * as after any refusal, up to S_LINGER_SIZE_MAX, then the connection
     * ends; read on to the body's end, a client streaming without end
     * would hold it for ever. */
    if (req->body_too_large) {
        c->keep_alive = false;
        c->linger = true;
        used = avail;
        complete = true;
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
        /* Bytes the client sent behind this request (pipelined after a
         * close) would make close() reset the connection, and a reset can
         * destroy the reply before the client reads it: then the
         * connection ends as after a refusal. */
        char next;
        if (!c->linger && c->in_size <= c->head_size &&
            recv(c->fd, &next, 1, MSG_PEEK | MSG_DONTWAIT) <= 0) {
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

/* Runs the connection as far as the bytes it has (and can read) take it,
 * for S_TURN_REQUESTS requests at most: with more left it runs again
 * later (S_turn_later). */
static void S_conn_run(struct http_conn *c)
{
    int turn = S_TURN_REQUESTS;
    for (;;) {
        switch (c->state) {
        case S_HEAD: {
            if (turn == 0 && (c->in_size > 0 || (c->unread && !c->peer_closed))) {
                S_turn_later(c);
                return;
            }
            size_t head = c->in_size > 0 ? http_wire_head_end(c->in, c->in_size, &c->scanned) : 0;
            if (head > 0)
                turn--;
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

/* With the worker's mutex held, after putting work on one of its lists:
 * unlocks, and wakes the worker unless a wake-up is already on its way
 * (one covers everything put on its lists before it looks). */
static void S_worker_unlock_and_wake(struct http_worker *w)
{
    bool wake = !w->wake_pending;
    w->wake_pending = true;
    pthread_mutex_unlock(&w->mutex);
    if (wake)
        S_worker_wake(w);
}

/* From any thread: the request is back from the ledger or an offload
 * thread; its connection's worker answers it. One wake-up covers every
 * request that comes back before the worker looks. */
void http_conn_resume(struct http_request *req)
{
    struct http_conn *c = req->conn;
    struct http_worker *w = c->worker;
    req->resumed_ns = clock_monotonic_ns();
    pthread_mutex_lock(&w->mutex);
    c->resumed_next = NULL;
    if (w->resumed_tail != NULL)
        w->resumed_tail->resumed_next = c;
    else
        w->resumed_head = c;
    w->resumed_tail = c;
    S_worker_unlock_and_wake(w);
}

/* A request back from the ledger, an offload thread or its wait: its
 * resume function answers it, or sends it away again. */
static void S_conn_resumed(struct http_conn *c)
{
    QB_ASSERT(c->state == S_AWAY && c->req != NULL);
    /* Off the parked list, if it waited there: a reply that cannot be sent
     * at once must not look like a wait that ended. */
    S_list_unlink(c);
    S_list_append(&c->worker->away, c);
    c->parked = false;
    struct http_request *req = c->req;
    log_set_request_id(req->id);
    http_request_resumed(req);
    log_set_request_id(NULL);
    if (req->replied) {
        S_reply_start(c);
        S_conn_run(c);
    } else {
        S_conn_left(c); /* parked again, by a client that left meanwhile */
    }
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
    int64_t now_ns = c != NULL ? clock_monotonic_ns() : 0;
    while (incoming != NULL) {
        struct http_conn *next = incoming->resumed_next;
        S_conn_adopt(incoming);
        incoming = next;
    }
    while (c != NULL) {
        struct http_conn *next = c->resumed_next;
        http_metrics_resumed(&w->server->metrics, (now_ns - c->req->resumed_ns) / 1000);
        S_conn_resumed(c);
        c = next;
    }
}

/* The request went to the ledger or an offload thread. */
void http_conn_away(struct http_conn *c)
{
    c->state = S_AWAY;
    S_list_unlink(c);
    S_list_append(&c->worker->away, c);
}

void http_conn_park(struct http_conn *c, int64_t due_ms)
{
    struct http_worker *w = c->worker;
    QB_ASSERT(!c->parked && c->req != NULL);
    c->state = S_AWAY;
    c->parked = true;
    c->park_due_ms = due_ms;
    S_list_unlink(c);
    /* Most wait as long as the one parked before them: from the end. */
    struct http_conn *after = w->parked.prev;
    while (after != &w->parked && after->park_due_ms > due_ms)
        after = after->prev;
    c->prev = after;
    c->next = after->next;
    after->next->prev = c;
    after->next = c;
}

/* Counts a connection closed as soon as it was accepted, and warns at most
 * once a second, with the connections open then and the limit, so that an operator
 * whose clients are cut off finds why without a line per refusal. */
static void S_refused(struct http_server *server, enum http_refusal reason, int64_t open)
{
    static const char *const names[HTTP_REFUSALS] = {"connection_limit", "no_file_descriptors"};
    uint64_t count = atomic_fetch_add_explicit(&server->refused[reason], 1, memory_order_relaxed);
    int64_t now = clock_monotonic_ns();
    int64_t last = atomic_load_explicit(&server->refused_warned_ns, memory_order_relaxed);
    if (now - last > 1000000000LL &&
        atomic_compare_exchange_strong(&server->refused_warned_ns, &last, now))
        log_event(LOG_WARN, "http.connection_refused",
                  "reason=%s open=%lld max=%zu refused_total=%" PRIu64, names[reason],
                  (long long)open, server->connections_max, count + 1);
}

/* Out of file descriptors: the connection waiting to be accepted would
 * keep the listening socket ready, and every HTTP thread spinning on it.
 * The descriptor kept in reserve for this makes room to accept it and
 * close it at once; the client sees the connection close. */
static void S_accept_shed(struct http_server *server, int listen_fd)
{
    pthread_mutex_lock(&server->reserve_mutex);
    if (server->reserve_fd >= 0) {
        close(server->reserve_fd);
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0)
            close(fd);
        server->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    pthread_mutex_unlock(&server->reserve_mutex);
    S_refused(server, HTTP_REFUSAL_FILE_DESCRIPTORS, atomic_load(&server->connections));
}

/* Accepts what waits on *listen_fd, server->listen_fd or ->admin_fd. */
static void S_worker_accept(struct http_worker *w, const int *listen_fd)
{
    struct http_server *server = w->server;
    for (int i = 0; i < S_ACCEPT_BATCH; i++) {
        struct sockaddr_storage peer;
        socklen_t peer_size = sizeof peer;
        int fd =
            accept4(*listen_fd, (struct sockaddr *)&peer, &peer_size, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE)
                S_accept_shed(server, *listen_fd);
            return;
        }
        if (atomic_load(&server->closing)) {
            close(fd);
            continue;
        }
        /* The slot is taken before the check, so that two threads
         * accepting at once cannot both take the last one. The operator's
         * listener has a reserve past the limit: a flood of clients that
         * fills it must not also shut out /metrics and the admin API. */
        int64_t open = atomic_fetch_add(&server->connections, 1);
        int64_t limit = (int64_t)server->connections_max +
                        (listen_fd == &server->admin_fd ? HTTP_ADMIN_CONNECTIONS_RESERVE : 0);
        if (open >= limit) {
            atomic_fetch_sub(&server->connections, 1);
            close(fd);
            S_refused(server, HTTP_REFUSAL_LIMIT, open);
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
            atomic_fetch_sub(&server->connections, 1);
            continue;
        }
        /* Connections go round the threads in turn: whichever thread
         * accepts them, each thread serves its share. */
        uint64_t turn = atomic_fetch_add(&server->accept_turn, 1);
        struct http_worker *owner = &server->workers[turn % (uint64_t)server->worker_count];
        c->worker = owner;
        c->fd = fd;
        c->in = in;
        c->admin = listen_fd == &server->admin_fd;
        S_peer_format(&peer, c->peer, sizeof c->peer);
        c->state = S_HEAD;
        buf_init(&c->out, S_OUT_SIZE_MAX);
        c->prev = c->next = c;
        c->turn.prev = c->turn.next = &c->turn;
        if (owner == w) {
            S_conn_adopt(c);
            continue;
        }
        pthread_mutex_lock(&owner->mutex);
        c->resumed_next = owner->incoming;
        owner->incoming = c;
        S_worker_unlock_and_wake(owner);
    }
}

/* Takes up the parked requests whose wait has ended, and closes the
 * connections silent past the timeout; answers how long until the next of
 * either, at most S_POLL_MS_MAX. */
static int S_worker_expire(struct http_worker *w)
{
    int64_t now_ms = clock_monotonic_ns() / 1000000;
    int64_t wait_ms = S_POLL_MS_MAX;
    while (w->parked.next != &w->parked) {
        struct http_conn *c = w->parked.next;
        if (c->park_due_ms > now_ms) {
            wait_ms = c->park_due_ms - now_ms;
            break;
        }
        S_list_unlink(c);
        S_list_append(&w->away, c);
        c->parked = false;
        if (http_request_unwatch(c->req))
            S_conn_resumed(c);
        /* else news took it first: it is on the resumed list */
    }
    int64_t timeout_ms = (int64_t)w->server->timeout_s * 1000;
    while (w->idle.next != &w->idle) {
        struct http_conn *c = w->idle.next;
        int64_t due_ms = c->active_ms + timeout_ms;
        if (due_ms > now_ms) {
            if (due_ms - now_ms < wait_ms)
                wait_ms = due_ms - now_ms;
            break;
        }
        S_conn_close(c);
    }
    return wait_ms < S_POLL_MS_MAX ? (int)wait_ms : S_POLL_MS_MAX;
}

static void S_worker_reap(struct http_worker *w)
{
    while (w->closed != NULL) {
        struct http_conn *c = w->closed;
        w->closed = c->resumed_next;
        S_conn_free(c);
    }
}

/* Moves the connections whose last turn ended with requests left onto
 * now: this pass's, each to run once (an event that runs one first takes
 * it off); those left again are listed for the next pass. */
static void S_worker_turns_take(struct http_worker *w, struct S_turn_link *now)
{
    now->prev = now->next = now;
    if (w->more.next == &w->more)
        return;
    now->next = w->more.next;
    now->prev = w->more.prev;
    now->next->prev = now;
    now->prev->next = now;
    w->more.prev = w->more.next = &w->more;
}

static void S_worker_turns_run(struct S_turn_link *now)
{
    while (now->next != now) {
        struct S_turn_link *l = now->next;
        S_turn_unlink(l);
        S_conn_run(S_turn_conn(l));
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
        if (w->more.next != &w->more)
            timeout_ms = 0; /* turns are owed: only what is ready meanwhile */
        int n = epoll_wait(w->epfd, events, S_EVENTS_MAX, timeout_ms);
        struct S_turn_link now;
        S_worker_turns_take(w, &now);
        for (int i = 0; i < n; i++) {
            void *ptr = events[i].data.ptr;
            if (ptr == &server->listen_fd || ptr == &server->admin_fd) {
                S_worker_accept(w, ptr);
            } else if (ptr == w) {
                S_worker_resumed(w);
            } else {
                struct http_conn *c = ptr;
                uint32_t got = events[i].events;
                if (got & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                    c->unread = true;
                if (got & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                    c->hup = true;
                S_conn_left(c);
                /* This is its turn this pass: left with more, it is
                 * listed for the next. */
                S_turn_unlink(&c->turn);
                S_conn_run(c);
            }
        }
        S_worker_turns_run(&now);
        S_worker_reap(w);
    }
    return NULL;
}

/* --- listening ------------------------------------------------------------------ */

/* Binds and listens: the socket into *out, the actual port into *port. */
static enum qb_error S_listen(const struct sockaddr_storage *addr, socklen_t addr_size, int *out,
                              uint16_t *port)
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
    *out = fd;
    *port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
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
        w->parked.prev = w->parked.next = &w->parked;
        w->more.prev = w->more.next = &w->more;
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
        struct epoll_event admin_listening = {.events = EPOLLIN | EPOLLEXCLUSIVE,
                                              .data.ptr = &server->admin_fd};
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wake_fd, &wake) != 0 ||
            epoll_ctl(w->epfd, EPOLL_CTL_ADD, server->listen_fd, &listening) != 0 ||
            (server->admin_fd >= 0 &&
             epoll_ctl(w->epfd, EPOLL_CTL_ADD, server->admin_fd, &admin_listening) != 0))
            return QB_E_INTERNAL;
    }
    for (int i = 0; i < count; i++) {
        struct http_worker *w = &server->workers[i];
        if (pthread_create(&w->thread, NULL, S_worker_main, w) != 0)
            return QB_E_INTERNAL;
        w->started = true;
        thread_name(w->thread, "qb-http-%d", i);
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
        while (w->parked.next != &w->parked) {
            /* The stop's close resumed every waiter: none is left but
             * one that raced it. */
            struct http_conn *c = w->parked.next;
            (void)http_request_unwatch(c->req);
            S_list_unlink(c);
            S_list_append(&w->away, c);
            c->parked = false;
        }
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

enum qb_error http_conns_start(struct http_server *server, const struct sockaddr_storage *addr,
                               socklen_t addr_size, const struct sockaddr_storage *admin_addr,
                               socklen_t admin_addr_size, int threads)
{
    server->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (server->reserve_fd < 0 ||
        S_listen(addr, addr_size, &server->listen_fd, &server->port) != QB_OK ||
        (admin_addr != NULL &&
         S_listen(admin_addr, admin_addr_size, &server->admin_fd, &server->admin_port) != QB_OK))
        return QB_E_INTERNAL;
    return S_workers_start(server, threads);
}

bool http_conn_is_admin(const struct http_conn *conn) { return conn->admin; }

void http_conns_stop(struct http_server *server)
{
    S_workers_stop(server);
    if (server->listen_fd >= 0)
        close(server->listen_fd);
    server->listen_fd = -1;
    if (server->admin_fd >= 0)
        close(server->admin_fd);
    server->admin_fd = -1;
    if (server->reserve_fd >= 0)
        close(server->reserve_fd);
    server->reserve_fd = -1;
}

const char *http_conn_header(const struct http_conn *c, const char *name)
{
    return http_wire_header(&c->head, name);
}

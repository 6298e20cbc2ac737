/*
 * test_http_protocol.c — the daemon's HTTP/1.1 as a client sees it on the
 * wire: framing, keep-alive, pipelining, 100-continue, HEAD, HTTP/1.0,
 * chunked bodies and escapes.
 *
 * The server parses HTTP itself (src/http/wire.c), so what a library client
 * never sends must be pinned down here: a request that could be read two
 * ways (a header with whitespace before its colon, a folded line, a control
 * byte, Content-Length beside Transfer-Encoding, two lengths, a length that
 * is no number, a coding other than chunked, a bad chunk size line, a
 * framing header repeated on a second line), or that is not HTTP/1.x, is
 * 400 MALFORMED_REQUEST as JSON and ends the connection; on a payment it
 * moves no money and leaves its Idempotency-Key unused.
 * Requests on one connection are answered in order, each exactly once; a
 * client that half-closes after its requests gets them answered, then the
 * close at once.
 *
 * The cases speak raw HTTP on loopback sockets and read the replies byte
 * for byte: a stray body byte after a HEAD, or an answer out of order,
 * shows up as a reply that does not parse.
 */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "api/lib/suite.h"
#include "api/transfer_helpers.h"

#define S_IN_SIZE_MAX (64 * 1024)
#define S_HEAD_SIZE_MAX 4096
#define S_BODY_SIZE_MAX 8192
#define S_REQUEST_SIZE_MAX 4096
#define S_REPLY_WAIT_MS 5000 /* an answer due at once */
#define S_CLOSE_WAIT_MS 2000 /* a close due at once: far below the idle timeout (30 s) */
#define S_QUIET_MS 300       /* nothing may arrive in this long */

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];
static unsigned short S_port;

/* Why the last S_ helper answered false, for the failure message. */
static char S_why[256];

/* A client connection and the bytes read from it but not yet parsed. */
struct S_conn {
    int fd;
    bool eof; /* the daemon closed (or reset) it */
    size_t in_size;
    char in[S_IN_SIZE_MAX];
};

/* One parsed reply. */
struct S_reply {
    int status;
    char head[S_HEAD_SIZE_MAX]; /* status line and fields, NUL-terminated */
    size_t body_size;
    char body[S_BODY_SIZE_MAX]; /* NUL-terminated */
};

static long long S_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void S_sleep_ms(long ms)
{
    struct timespec pause = {ms / 1000, (ms % 1000) * 1000 * 1000};
    nanosleep(&pause, NULL);
}

/* A blocking TCP connection to the daemon, Nagle off so that each send
 * leaves as its own segment. False when it cannot be made. */
static bool S_open(struct S_conn *c)
{
    c->eof = false;
    c->in_size = 0;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return false;
    int one = 1;
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(S_port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(c->fd);
        c->fd = -1;
        return false;
    }
    return true;
}

static void S_close(struct S_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static bool S_send(struct S_conn *c, const void *data, size_t size)
{
    const char *p = data;
    while (size > 0) {
        ssize_t n = send(c->fd, p, size, MSG_NOSIGNAL);
        if (n <= 0)
            return false;
        p += n;
        size -= (size_t)n;
    }
    return true;
}

static bool S_send_text(struct S_conn *c, const char *text)
{
    return S_send(c, text, strlen(text));
}

/* Waits until deadline_ms for bytes and appends what one recv gives. False
 * when nothing came in time, the connection ended (c->eof) or the buffer is
 * full. */
static bool S_fill(struct S_conn *c, long long deadline_ms)
{
    for (;;) {
        long long left_ms = deadline_ms - S_now_ms();
        if (left_ms <= 0 || c->eof || c->in_size == sizeof c->in)
            return false;
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int ready = poll(&pfd, 1, (int)left_ms);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            continue;
        ssize_t n = recv(c->fd, c->in + c->in_size, sizeof c->in - c->in_size, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            c->eof = true;
            return false;
        }
        c->in_size += (size_t)n;
        return true;
    }
}

/* How many of the bytes waiting in c a failure message shows. */
static int S_shown(const struct S_conn *c) { return c->in_size < 80 ? (int)c->in_size : 80; }

/* The value of the reply's field name (caselessly) copied into out, or NULL. */
static const char *S_header(const struct S_reply *r, const char *name, char *out, size_t out_size)
{
    size_t name_size = strlen(name);
    const char *line = strstr(r->head, "\r\n");
    while (line != NULL && line[2] != '\0') {
        line += 2;
        const char *end = strstr(line, "\r\n");
        if (end == NULL)
            end = line + strlen(line);
        if ((size_t)(end - line) > name_size && strncasecmp(line, name, name_size) == 0 &&
            line[name_size] == ':') {
            const char *value = line + name_size + 1;
            while (*value == ' ' || *value == '\t')
                value++;
            snprintf(out, out_size, "%.*s", (int)(end - value), value);
            return out;
        }
        line = *end != '\0' ? end : NULL;
    }
    return NULL;
}

/* Reads the next reply off c: a head, then Content-Length bytes of body
 * (none for a 1xx, 204 or 304, nor when head_only: the answer to HEAD).
 * Bytes after it stay in c for the next reply. False (S_why says why) when
 * no complete reply came within S_REPLY_WAIT_MS, or it is not HTTP/1.x. */
static bool S_reply_read(struct S_conn *c, bool head_only, struct S_reply *r)
{
    long long deadline_ms = S_now_ms() + S_REPLY_WAIT_MS;
    memset(r, 0, sizeof *r);
    size_t head_size = 0;
    for (;;) {
        for (size_t i = 3; i < c->in_size && head_size == 0; i++) {
            if (memcmp(c->in + i - 3, "\r\n\r\n", 4) == 0)
                head_size = i + 1;
        }
        if (head_size > 0)
            break;
        if (!S_fill(c, deadline_ms)) {
            snprintf(S_why, sizeof S_why, "no complete head (%s) after %zu bytes: %.*s",
                     c->eof ? "closed" : "timed out", c->in_size, S_shown(c), c->in);
            return false;
        }
    }
    if (head_size >= sizeof r->head) {
        snprintf(S_why, sizeof S_why, "a head of %zu bytes", head_size);
        return false;
    }
    memcpy(r->head, c->in, head_size - 2);
    r->head[head_size - 2] = '\0';
    if (strncmp(r->head, "HTTP/1.1 ", 9) != 0 && strncmp(r->head, "HTTP/1.0 ", 9) != 0) {
        snprintf(S_why, sizeof S_why, "not an HTTP/1.x status line: %.80s", r->head);
        return false;
    }
    for (const char *p = r->head + 9; p < r->head + 12 && *p >= '0' && *p <= '9'; p++)
        r->status = r->status * 10 + (*p - '0');
    if (r->status < 100 || r->head[12] != ' ') {
        snprintf(S_why, sizeof S_why, "a bad status line: %.80s", r->head);
        return false;
    }

    size_t body_size = 0;
    bool no_body = head_only || r->status < 200 || r->status == 204 || r->status == 304;
    char length[32];
    if (!no_body) {
        char *end = NULL;
        if (S_header(r, "Content-Length", length, sizeof length) == NULL) {
            snprintf(S_why, sizeof S_why, "a %d reply without Content-Length", r->status);
            return false;
        }
        unsigned long long value = strtoull(length, &end, 10);
        if (end == length || *end != '\0' || value >= sizeof r->body) {
            snprintf(S_why, sizeof S_why, "Content-Length \"%s\"", length);
            return false;
        }
        body_size = (size_t)value;
    }
    while (c->in_size < head_size + body_size) {
        if (!S_fill(c, deadline_ms)) {
            snprintf(S_why, sizeof S_why, "%zu of %zu body bytes (%s) after: %.80s",
                     c->in_size - head_size, body_size, c->eof ? "closed" : "timed out", r->head);
            return false;
        }
    }
    memcpy(r->body, c->in + head_size, body_size);
    r->body[body_size] = '\0';
    r->body_size = body_size;
    memmove(c->in, c->in + head_size + body_size, c->in_size - head_size - body_size);
    c->in_size -= head_size + body_size;
    return true;
}

/* True when the daemon ends c within S_CLOSE_WAIT_MS without sending
 * anything more (S_why says what happened otherwise). */
static bool S_closed(struct S_conn *c)
{
    long long deadline_ms = S_now_ms() + S_CLOSE_WAIT_MS;
    while (c->in_size == 0 && S_fill(c, deadline_ms))
        ;
    if (c->in_size > 0) {
        snprintf(S_why, sizeof S_why, "%zu more bytes came: %.*s", c->in_size, S_shown(c), c->in);
        return false;
    }
    if (!c->eof) {
        snprintf(S_why, sizeof S_why, "still open after %d ms", S_CLOSE_WAIT_MS);
        return false;
    }
    return true;
}

/* True when c stays open and silent for S_QUIET_MS. */
static bool S_quiet(struct S_conn *c)
{
    long long deadline_ms = S_now_ms() + S_QUIET_MS;
    while (c->in_size == 0 && S_fill(c, deadline_ms))
        ;
    if (c->in_size > 0) {
        snprintf(S_why, sizeof S_why, "%zu unexpected bytes: %.*s", c->in_size, S_shown(c), c->in);
        return false;
    }
    if (c->eof) {
        snprintf(S_why, sizeof S_why, "the daemon closed the connection");
        return false;
    }
    return true;
}

#define S_MUST_REPLY(c, head_only, r)                                                              \
    do {                                                                                           \
        if (!S_reply_read((c), (head_only), (r)))                                                  \
            TEST_FAIL_("no reply: %s", S_why);                                                     \
    } while (0)

/* The "code" of a JSON error body, copied into out; "" when there is none. */
static const char *S_code(const struct S_reply *r, char *out, size_t out_size)
{
    json_t *body = json_loadb(r->body, r->body_size, 0, NULL);
    const char *code = json_string_value(json_object_get(body, "code"));
    snprintf(out, out_size, "%s", code != NULL ? code : "");
    json_decref(body);
    return out;
}

/* The first balance's "available" of a GET /v1/me/balances body, or -1. */
static long long S_available(const struct S_reply *r)
{
    json_t *body = json_loadb(r->body, r->body_size, 0, NULL);
    json_t *first = json_array_get(json_object_get(body, "balances"), 0);
    json_t *value = json_object_get(first, "available");
    long long available = json_is_integer(value) ? (long long)json_integer_value(value) : -1;
    json_decref(body);
    return available;
}

/* A transfer's JSON body: amount_minor from the payer to phone. */
static void S_transfer_body(char *out, size_t out_size, const char *phone, long long amount_minor)
{
    snprintf(out, out_size, "{\"to\":\"%s\",\"amount\":%lld,\"payment_password\":\"%s\"}", phone,
             amount_minor, TH_PAY_PASSWORD);
}

/* The request line and headers common to the payments below, without the
 * framing headers and the empty line. */
#define S_PAY_LINES(version)                                                                       \
    "POST /v1/transfers " version "\r\n"                                                           \
    "Authorization: Bearer %s\r\nIdempotency-Key: %s\r\nContent-Type: application/json\r\n"

/* Malformed payment number i (a name for it in *name) into out: the
 * request's size, or 0 past the last one. */
static size_t S_malformed(int i, const char **name, char *out, size_t out_size, const char *token,
                          const char *key, const char *body)
{
    size_t n = strlen(body);
    char chunked[S_REQUEST_SIZE_MAX];
    int chunked_size = snprintf(chunked, sizeof chunked, "%zx\r\n%s\r\n0\r\n\r\n", n, body);
    int size = 0;
    switch (i) {
    case 0:
        *name = "whitespace before a header's colon";
        size = snprintf(out, out_size,
                        S_PAY_LINES("HTTP/1.1") "Host: 127.0.0.1\r\nX-Note : 1\r\n"
                                                "Content-Length: %zu\r\n\r\n%s",
                        token, key, n, body);
        break;
    case 1:
        *name = "a folded header line";
        size = snprintf(out, out_size,
                        S_PAY_LINES("HTTP/1.1") "Host: 127.0.0.1\r\nX-Note: a\r\n b\r\n"
                                                "Content-Length: %zu\r\n\r\n%s",
                        token, key, n, body);
        break;
    case 2:
        *name = "a control byte in a header value";
        size = snprintf(out, out_size,
                        S_PAY_LINES("HTTP/1.1") "Host: 127.0.0.1\r\nX-Note: a\x01"
                                                "b\r\nContent-Length: %zu\r\n\r\n%s",
                        token, key, n, body);
        break;
    case 3:
        *name = "Content-Length and Transfer-Encoding: chunked";
        size = snprintf(out, out_size,
                        S_PAY_LINES("HTTP/1.1") "Host: 127.0.0.1\r\nContent-Length: %d\r\n"
                                                "Transfer-Encoding: chunked\r\n\r\n%s",
                        token, key, chunked_size, chunked);
        break;
    case 4:
        *name = "Transfer-Encoding: chunked, then Content-Length";
        size = snprintf(out, out_size,
                        S_PAY_LINES("HTTP/1.1") "Host: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                                                "Content-Length: %d\r\n\r\n%s",
                        token, key, chunked_size, chunked);
        break;
    case 5:
        *name = "two different Content-Length values";
        size = snprintf(out, out_size,
                        S_PAY_LINES("HTTP/1.1") "Host: 127.0.0.1\r\nContent-Length: %zu\r\n"
                                                "Content-Length: %zu\r\n\r\n%s",
                        token, key, n, n + 1, body);
        break;
    case 6:
        *name = "a Content-Length that is not a number";
        size = snprintf(out, out_size,
                        S_PAY_LINES("HTTP/1.1") "Host: 127.0.0.1\r\nContent-Length: %zux\r\n\r\n%s",
                        token, key, n, body);
        break;
    case 7:
        *name = "a signed Content-Length";
        size = snprintf(out, out_size,
                        S_PAY_LINES("HTTP/1.1") "Host: 127.0.0.1\r\nContent-Length: +%zu\r\n\r\n%s",
                        token, key, n, body);
        break;
    case 8:
        *name = "Transfer-Encoding: gzip";
        size = snprintf(out, out_size,
                        S_PAY_LINES("HTTP/1.1") "Host: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n"
                                                "\r\n%s",
                        token, key, body);
        break;
    case 9:
        *name = "an HTTP/1.1 request without Host";
        size = snprintf(out, out_size, S_PAY_LINES("HTTP/1.1") "Content-Length: %zu\r\n\r\n%s",
                        token, key, n, body);
        break;
    case 10:
        *name = "HTTP/2.0";
        size = snprintf(out, out_size,
                        S_PAY_LINES("HTTP/2.0") "Host: 127.0.0.1\r\nContent-Length: %zu\r\n\r\n%s",
                        token, key, n, body);
        break;
    case 11:
        *name = "a chunk size that is not hexadecimal";
        size = snprintf(out, out_size,
                        S_PAY_LINES("HTTP/1.1") "Host: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                                                "\r\n4\r\n%.4s\r\nzz\r\n%s\r\n0\r\n\r\n",
                        token, key, body, body + 4);
        break;
    case 12:
        *name = "a chunk size with a 0x prefix";
        size = snprintf(out, out_size,
                        S_PAY_LINES("HTTP/1.1") "Host: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                                                "\r\n4\r\n%.4s\r\n0x%zx\r\n%s\r\n0\r\n\r\n",
                        token, key, body, n - 4, body + 4);
        break;
    case 13:
        *name = "a negative chunk size";
        size = snprintf(out, out_size,
                        S_PAY_LINES("HTTP/1.1") "Host: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                                                "\r\n-%zx\r\n%s\r\n0\r\n\r\n",
                        token, key, n, body);
        break;
    case 14:
    case 15:
    case 16:
    case 17:
    case 18: {
        /* Hosts that are no host and maybe a port (RFC 9112 3.2, RFC 3986 3.2.2-3). */
        static const char *const hosts[][2] = {
            {"a Host that is no host", "127.0.0.1/x y"},
            {"a Host with a user", "user@127.0.0.1"},
            {"a Host whose port is no number", "127.0.0.1:abc"},
            {"a Host with two ports", "127.0.0.1:80:80"},
            {"a Host whose IP literal is not closed", "[::1"},
        };
        *name = hosts[i - 14][0];
        size = snprintf(out, out_size,
                        S_PAY_LINES("HTTP/1.1") "Host: %s\r\nContent-Length: %zu\r\n\r\n%s", token,
                        key, hosts[i - 14][1], n, body);
        break;
    }
    default:
        return 0;
    }
    QB_ASSERT(size > 0 && (size_t)size < out_size);
    return (size_t)size;
}

/* Sends request on a fresh connection. True when it is answered 400
 * MALFORMED_REQUEST, as JSON, with a request id and "Connection: close",
 * and the connection then ends; otherwise false, and S_why says what came. */
static bool S_refused_malformed(const char *request, size_t size)
{
    struct S_conn c;
    struct S_reply r;
    char value[128];
    if (!S_open(&c)) {
        snprintf(S_why, sizeof S_why, "no connection");
        return false;
    }
    /* The daemon may answer before it read everything: a failed send is fine. */
    (void)S_send(&c, request, size);
    bool replied = S_reply_read(&c, false, &r);
    bool closed = replied && S_closed(&c);
    S_close(&c);
    if (!replied)
        return false;
    if (r.status != 400 || strcmp(S_code(&r, value, sizeof value), "MALFORMED_REQUEST") != 0) {
        snprintf(S_why, sizeof S_why, "%d %.200s", r.status, r.body);
        return false;
    }
    if (S_header(&r, "Content-Type", value, sizeof value) == NULL ||
        strncmp(value, "application/json", 16) != 0) {
        snprintf(S_why, sizeof S_why, "not JSON: %.200s", r.head);
        return false;
    }
    if (S_header(&r, "X-Request-Id", value, sizeof value) == NULL ||
        strncmp(value, "req_", 4) != 0) {
        snprintf(S_why, sizeof S_why, "no request id: %.200s", r.head);
        return false;
    }
    if (S_header(&r, "Connection", value, sizeof value) == NULL ||
        strcasecmp(value, "close") != 0) {
        snprintf(S_why, sizeof S_why, "no \"Connection: close\": %.200s", r.head);
        return false;
    }
    return closed; /* when not, S_closed said why */
}

TEST(malformed_requests_are_400_and_close)
{
    // Each malformed payment is answered 400 MALFORMED_REQUEST as JSON with a request id and
    // "Connection: close", then the connection ends. None moves money, none keeps an answer
    // under its key: the same key then makes the transfer, once.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 4000));
    char body[256];
    S_transfer_body(body, sizeof body, b.phone, 600);

    char request[S_REQUEST_SIZE_MAX];
    const char *name = NULL;
    for (int i = 0;; i++) {
        size_t size = S_malformed(i, &name, request, sizeof request, a.token, "proto-bad", body);
        if (size == 0)
            break;
        if (!S_refused_malformed(request, size))
            TEST_FAIL_("%s: %s", name, S_why);
    }
    ASSERT_EQ_INT(th_balance(&S_client, &a), 4000);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 0);

    struct client_response res;
    ASSERT_EQ_INT(
        api_call_idem(&S_client, "POST", "/v1/transfers", a.token, "proto-bad", body, &res), 201);
    ASSERT(strcmp(api_header(&res, "Idempotent-Replayed"), "true") != 0);
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 4000 - 600);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 600);
}

/* A payment chunked in one chunk whose size line is line (without its
 * CR LF), the rest well formed, into out; answers its size. */
static size_t S_chunk_line_payment(char *out, size_t out_size, const char *line, const char *token,
                                   const char *key, const char *body)
{
    int size = snprintf(out, out_size,
                        S_PAY_LINES("HTTP/1.1") "Host: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                                                "\r\n%s\r\n%s\r\n0\r\n\r\n",
                        token, key, line, body);
    QB_ASSERT(size > 0 && (size_t)size < out_size);
    return (size_t)size;
}

TEST(a_chunk_size_line_follows_the_grammar)
{
    // RFC 9112 7.1.1: after a chunk's size, only whitespace and ";name[=value]" extensions may
    // follow. A size followed by more text, or an extension without a name, is malformed:
    // 400 MALFORMED_REQUEST, no money moved, the key unused. (Whitespace, then ";a=1", is
    // well formed: a_chunked_payment_moves_money_once sends it.)
    static const char *const after_size[] = {" 0", ";", " junk"};
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 4000));
    char body[256], request[S_REQUEST_SIZE_MAX];
    S_transfer_body(body, sizeof body, b.phone, 300);
    char accepted[1024] = "";
    size_t accepted_size = 0;
    for (size_t i = 0; i < sizeof after_size / sizeof after_size[0]; i++) {
        char line[64];
        snprintf(line, sizeof line, "%zx%s", strlen(body), after_size[i]);
        size_t size =
            S_chunk_line_payment(request, sizeof request, line, a.token, "proto-line", body);
        if (!S_refused_malformed(request, size) && accepted_size < sizeof accepted)
            accepted_size +=
                (size_t)snprintf(accepted + accepted_size, sizeof accepted - accepted_size,
                                 " [\"%s\": %.60s]", line, S_why);
    }
    if (accepted_size > 0)
        TEST_FAIL_("malformed chunk size lines were not refused:%s", accepted);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 4000);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 0);
    struct client_response res;
    ASSERT_EQ_INT(
        api_call_idem(&S_client, "POST", "/v1/transfers", a.token, "proto-line", body, &res), 201);
    ASSERT(strcmp(api_header(&res, "Idempotent-Replayed"), "true") != 0);
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 300);
}

/* Repeated-field payment number i (a name for it in *name) into out: the
 * request's size, or 0 past the last one. */
static size_t S_repeated(int i, const char **name, char *out, size_t out_size, const char *token,
                         const char *key, const char *body)
{
    /* A second line of a field that a request may carry once. */
    static const struct {
        const char *name;
        const char *line;
    } seconds[] = {
        {"two Host lines", "Host: 127.0.0.2\r\n"},
        {"a second Idempotency-Key", "Idempotency-Key: other-key\r\n"},
        {"a second Content-Type", "Content-Type: text/plain\r\n"},
        {"a second Authorization",
         "Authorization: Bearer "
         "0000000000000000000000000000000000000000000000000000000000000000\r\n"},
    };
    size_t n = strlen(body);
    int size = 0;
    if ((size_t)i < QB_ARRAY_COUNT(seconds)) {
        *name = seconds[i].name;
        size =
            snprintf(out, out_size,
                     S_PAY_LINES("HTTP/1.1") "Host: 127.0.0.1\r\n%sContent-Length: %zu\r\n\r\n%s",
                     token, key, seconds[i].line, n, body);
    } else if ((size_t)i < QB_ARRAY_COUNT(seconds) + 2) {
        /* Transfer-Encoding on two lines: chunked then gzip, or chunked twice. */
        bool gzip = (size_t)i == QB_ARRAY_COUNT(seconds);
        *name = gzip ? "Transfer-Encoding: chunked, then a line Transfer-Encoding: gzip"
                     : "Transfer-Encoding: chunked on two lines";
        size = snprintf(out, out_size,
                        S_PAY_LINES("HTTP/1.1") "Host: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                                                "Transfer-Encoding: %s\r\n\r\n%zx\r\n%s\r\n"
                                                "0\r\n\r\n",
                        token, key, gzip ? "gzip" : "chunked", n, body);
    } else {
        return 0;
    }
    QB_ASSERT(size > 0 && (size_t)size < out_size);
    return (size_t)size;
}

TEST(framing_headers_repeated_on_two_lines_are_400)
{
    // Two header lines of one field are one list (RFC 9110 5.3), so a request is framed by
    // all its Transfer-Encoding lines, not the first: "chunked" then "gzip" ends in gzip, a
    // request whose length cannot be known, and "chunked" twice chunks twice; both are 400
    // (RFC 9112 6.1, 6.3). Two Host lines are 400 too (RFC 9112 3.2). A server that read only
    // the first line would frame the body otherwise than a proxy that reads them all: request
    // smuggling. So are two lines of a field that names the request's caller, key or media
    // type: a payment charged under the first key would run again when retried with the second.
    // No money moves; the key stays unused.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 4000));
    char body[256], request[S_REQUEST_SIZE_MAX];
    S_transfer_body(body, sizeof body, b.phone, 400);
    char accepted[1024] = "";
    size_t accepted_size = 0;
    const char *name = NULL;
    for (int i = 0;; i++) {
        size_t size = S_repeated(i, &name, request, sizeof request, a.token, "proto-repeat", body);
        if (size == 0)
            break;
        if (!S_refused_malformed(request, size) && accepted_size < sizeof accepted)
            accepted_size +=
                (size_t)snprintf(accepted + accepted_size, sizeof accepted - accepted_size,
                                 " [%s: %.60s]", name, S_why);
    }
    if (accepted_size > 0)
        TEST_FAIL_("repeated framing headers were not refused:%s", accepted);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 4000);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 0);
    struct client_response res;
    ASSERT_EQ_INT(
        api_call_idem(&S_client, "POST", "/v1/transfers", a.token, "proto-repeat", body, &res),
        201);
    ASSERT(strcmp(api_header(&res, "Idempotent-Replayed"), "true") != 0);
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 400);
}

TEST(pipelined_requests_are_answered_in_order)
{
    // Requests written in one send() on one connection get one answer each, in order, on that
    // connection, which then serves the next request: two health checks; then a health check,
    // an unknown path and a health check (200, 404, 200: the order shows).
    static const char health[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    static const char nowhere[] = "GET /no/such/route HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    struct S_conn c;
    struct S_reply r;
    char value[128], first_id[128];
    ASSERT(S_open(&c));
    char both[256];
    snprintf(both, sizeof both, "%s%s", health, health);
    ASSERT(S_send_text(&c, both));
    S_MUST_REPLY(&c, false, &r);
    ASSERT_EQ_INT(r.status, 200);
    ASSERT(strstr(r.body, "\"status\":\"ok\"") != NULL);
    ASSERT(S_header(&r, "Connection", value, sizeof value) == NULL);
    ASSERT(S_header(&r, "X-Request-Id", first_id, sizeof first_id) != NULL);
    S_MUST_REPLY(&c, false, &r);
    ASSERT_EQ_INT(r.status, 200);
    ASSERT(strstr(r.body, "\"status\":\"ok\"") != NULL);
    ASSERT(S_header(&r, "X-Request-Id", value, sizeof value) != NULL);
    ASSERT(strcmp(value, first_id) != 0);
    if (!S_quiet(&c))
        TEST_FAIL_("after two answers: %s", S_why);

    char three[256];
    snprintf(three, sizeof three, "%s%s%s", health, nowhere, health);
    ASSERT(S_send_text(&c, three));
    S_MUST_REPLY(&c, false, &r);
    ASSERT_EQ_INT(r.status, 200);
    S_MUST_REPLY(&c, false, &r);
    ASSERT_EQ_INT(r.status, 404);
    ASSERT_EQ_STR(S_code(&r, value, sizeof value), "NOT_FOUND");
    S_MUST_REPLY(&c, false, &r);
    ASSERT_EQ_INT(r.status, 200);
    ASSERT(strstr(r.body, "\"status\":\"ok\"") != NULL);
    bool quiet = S_quiet(&c);
    S_close(&c);
    if (!quiet)
        TEST_FAIL_("after five answers: %s", S_why);
}

TEST(a_read_pipelined_after_a_payment_sees_it)
{
    // A payment and a balance read written together on one connection: the read is answered
    // after the payment committed, so it shows the balance after it. Twice, to see the second
    // payment on the same connection too.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 5000));
    struct S_conn c;
    struct S_reply r;
    ASSERT(S_open(&c));
    for (int round = 0; round < 2; round++) {
        char body[256], key[32], request[S_REQUEST_SIZE_MAX];
        S_transfer_body(body, sizeof body, b.phone, 1500);
        snprintf(key, sizeof key, "proto-pipe-%d", round);
        snprintf(request, sizeof request,
                 S_PAY_LINES("HTTP/1.1") "Host: 127.0.0.1\r\nContent-Length: %zu\r\n\r\n%s"
                                         "GET /v1/me/balances HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                         "Authorization: Bearer %s\r\n\r\n",
                 a.token, key, strlen(body), body, a.token);
        ASSERT(S_send_text(&c, request));
        S_MUST_REPLY(&c, false, &r);
        if (r.status != 201)
            TEST_FAIL_("the payment (round %d): %d %s", round, r.status, r.body);
        S_MUST_REPLY(&c, false, &r);
        ASSERT_EQ_INT(r.status, 200);
        ASSERT_EQ_INT(S_available(&r), 5000 - 1500 * (round + 1));
    }
    bool quiet = S_quiet(&c);
    S_close(&c);
    if (!quiet)
        TEST_FAIL_("after four answers: %s", S_why);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 3000);
}

TEST(expect_100_continue_is_answered_before_the_body)
{
    // A payment sent with "Expect: 100-continue": after its head alone the daemon says
    // "HTTP/1.1 100 Continue" and nothing else; the body then gets the final 201, the money
    // moves, and the connection serves the next request.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 3000));
    char body[256], head[S_REQUEST_SIZE_MAX];
    S_transfer_body(body, sizeof body, b.phone, 800);
    snprintf(head, sizeof head,
             S_PAY_LINES("HTTP/1.1") "Host: 127.0.0.1\r\nExpect: 100-continue\r\n"
                                     "Content-Length: %zu\r\n\r\n",
             a.token, "proto-continue", strlen(body));
    struct S_conn c;
    struct S_reply r;
    ASSERT(S_open(&c));
    ASSERT(S_send_text(&c, head));
    S_MUST_REPLY(&c, false, &r);
    ASSERT_EQ_INT(r.status, 100);
    ASSERT_EQ_STR(r.head, "HTTP/1.1 100 Continue\r\n");
    if (!S_quiet(&c))
        TEST_FAIL_("after 100 Continue, before the body: %s", S_why);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 0);

    ASSERT(S_send_text(&c, body));
    S_MUST_REPLY(&c, false, &r);
    if (r.status != 201)
        TEST_FAIL_("the payment after 100 Continue: %d %s", r.status, r.body);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 3000 - 800);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 800);
    ASSERT(S_send_text(&c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    S_MUST_REPLY(&c, false, &r);
    S_close(&c);
    ASSERT_EQ_INT(r.status, 200);
}

TEST(head_has_the_length_and_no_body)
{
    // HEAD /healthz answers 200 with the Content-Length a GET's body has and not one body byte:
    // the connection stays silent after the head, and the next GET on it parses.
    static const char get[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    struct S_conn c;
    struct S_reply r;
    char value[128];
    ASSERT(S_open(&c));
    ASSERT(S_send_text(&c, get));
    S_MUST_REPLY(&c, false, &r);
    ASSERT_EQ_INT(r.status, 200);
    size_t get_size_before = r.body_size;
    ASSERT(get_size_before > 0);

    ASSERT(S_send_text(&c, "HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    S_MUST_REPLY(&c, true, &r);
    ASSERT_EQ_INT(r.status, 200);
    ASSERT(S_header(&r, "Content-Length", value, sizeof value) != NULL);
    long long head_length = strtoll(value, NULL, 10);
    ASSERT(S_header(&r, "Content-Type", value, sizeof value) != NULL);
    ASSERT(strncmp(value, "application/json", 16) == 0);
    if (!S_quiet(&c))
        TEST_FAIL_("after the HEAD reply: %s", S_why);

    ASSERT(S_send_text(&c, get));
    S_MUST_REPLY(&c, false, &r);
    S_close(&c);
    ASSERT_EQ_INT(r.status, 200);
    ASSERT(strstr(r.body, "\"status\":\"ok\"") != NULL);
    /* The uptime in the body may gain a digit between the two GETs. */
    if (head_length != (long long)get_size_before && head_length != (long long)r.body_size)
        TEST_FAIL_("HEAD says Content-Length %lld, the GETs' bodies have %zu and %zu", head_length,
                   get_size_before, r.body_size);
}

TEST(http_1_0_closes_unless_kept_alive)
{
    // HTTP/1.0 without a Connection header: answered, then closed. With "Connection:
    // keep-alive": answered with "Connection: keep-alive" and kept for the next request.
    struct S_conn c;
    struct S_reply r;
    char value[128];
    ASSERT(S_open(&c));
    ASSERT(S_send_text(&c, "GET /healthz HTTP/1.0\r\n\r\n"));
    S_MUST_REPLY(&c, false, &r);
    ASSERT_EQ_INT(r.status, 200);
    ASSERT(strstr(r.body, "\"status\":\"ok\"") != NULL);
    bool closed = S_closed(&c);
    S_close(&c);
    if (!closed)
        TEST_FAIL_("HTTP/1.0 without keep-alive: %s", S_why);

    ASSERT(S_open(&c));
    for (int i = 0; i < 2; i++) {
        /* the second time on a Connection line of its own after another */
        ASSERT(S_send_text(&c, i == 0 ? "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                                      : "GET /healthz HTTP/1.0\r\nConnection: TE\r\n"
                                        "Connection: keep-alive\r\n\r\n"));
        S_MUST_REPLY(&c, false, &r);
        ASSERT_EQ_INT(r.status, 200);
        ASSERT(strstr(r.body, "\"status\":\"ok\"") != NULL);
        ASSERT(S_header(&r, "Connection", value, sizeof value) != NULL);
        ASSERT(strcasecmp(value, "keep-alive") == 0);
        if (!S_quiet(&c))
            TEST_FAIL_("HTTP/1.0 keep-alive, request %d: %s", i + 1, S_why);
    }
    /* The third one does not ask to be kept: the connection ends after it. */
    ASSERT(S_send_text(&c, "GET /healthz HTTP/1.0\r\n\r\n"));
    S_MUST_REPLY(&c, false, &r);
    ASSERT_EQ_INT(r.status, 200);
    closed = S_closed(&c);
    S_close(&c);
    if (!closed)
        TEST_FAIL_("HTTP/1.0 after keep-alive: %s", S_why);
}

TEST(connection_close_is_honoured)
{
    // HTTP/1.1 with "Connection: close" (also as one token of a list, or on a second
    // Connection line, which is the same list) is answered with "Connection: close", then the
    // connection ends; so is HTTP/1.0 whose keep-alive a second line takes back.
    static const char two_lines[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                    "Connection: keep-alive\r\nConnection: close\r\n\r\n";
    static const char *const requests[] = {
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: TE, Close\r\n\r\n",
        two_lines,
        "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
        struct S_conn c;
        struct S_reply r;
        char value[128];
        ASSERT(S_open(&c));
        ASSERT(S_send_text(&c, requests[i]));
        S_MUST_REPLY(&c, false, &r);
        ASSERT_EQ_INT(r.status, 200);
        ASSERT(strstr(r.body, "\"status\":\"ok\"") != NULL);
        ASSERT(S_header(&r, "Connection", value, sizeof value) != NULL);
        ASSERT(strcasecmp(value, "close") == 0);
        bool closed = S_closed(&c);
        S_close(&c);
        if (!closed)
            TEST_FAIL_("request %zu after \"Connection: close\": %s", i, S_why);
    }
}

TEST(a_request_pipelined_behind_a_close_does_not_reset_the_connection)
{
    // A client pipelines a second request behind one that says "Connection: close". The second
    // is not answered, but the connection must end in order (FIN): closing with its bytes
    // unread would reset it, and a reset can destroy the first reply before it is read.
    struct S_conn c;
    struct S_reply r;
    ASSERT(S_open(&c));
    static char request[40 * 1024];
    int n = snprintf(request, sizeof request,
                     "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                     "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: ");
    ASSERT(n > 0);
    memset(request + n, 'x', 30 * 1024);
    n += 30 * 1024;
    memcpy(request + n, "\r\n\r\n", 4);
    ASSERT(S_send(&c, request, (size_t)n + 4));
    S_MUST_REPLY(&c, false, &r);
    ASSERT_EQ_INT(r.status, 200);
    struct timeval patience = {5, 0};
    ASSERT_EQ_INT(setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience), 0);
    char byte;
    ssize_t got = recv(c.fd, &byte, 1, 0);
    int why = errno;
    S_close(&c);
    if (got != 0)
        TEST_FAIL_("after the reply: recv %zd (%s), not the end of the stream", got,
                   got < 0 ? strerror(why) : "bytes");
}

TEST(a_half_closed_connection_closes_after_its_replies)
{
    // A client that shuts down its sending side right behind its request (nothing more will
    // come) gets its answer, then the close at once, not at the idle timeout (30 s): the
    // close that came with the request is not forgotten once the request is read. Then two
    // pipelined requests and the shutdown: both answered, in order, then the close. Three
    // times each: the close comes with the requests, or just after the daemon read them.
    static const char health[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    for (int round = 0; round < 6; round++) {
        int requests = 1 + round % 2;
        struct S_conn c;
        struct S_reply r;
        char both[256];
        snprintf(both, sizeof both, "%s%s", health, requests == 2 ? health : "");
        ASSERT(S_open(&c));
        ASSERT(S_send_text(&c, both));
        ASSERT(shutdown(c.fd, SHUT_WR) == 0);
        for (int i = 0; i < requests; i++) {
            S_MUST_REPLY(&c, false, &r);
            ASSERT_EQ_INT(r.status, 200);
            ASSERT(strstr(r.body, "\"status\":\"ok\"") != NULL);
        }
        bool closed = S_closed(&c);
        S_close(&c);
        if (!closed)
            TEST_FAIL_("%d request(s), then a half-close: %s", requests, S_why);
    }
}

TEST(a_chunked_payment_moves_money_once)
{
    // A payment whose body comes chunked — three chunks, one size in upper case, extensions
    // (one quoted), a trailer field — trickled a few bytes per send: 201, the money moves
    // once, and the same body sent plainly with the same key is a replay of it (the decoded
    // body is byte for byte the JSON).
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 6000));
    char body[256], head[S_REQUEST_SIZE_MAX], chunked[S_REQUEST_SIZE_MAX];
    S_transfer_body(body, sizeof body, b.phone, 2100);
    size_t n = strlen(body);
    ASSERT(n > 40);
    snprintf(head, sizeof head,
             S_PAY_LINES("HTTP/1.1") "Host: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                                     "Trailer: X-Checksum\r\n\r\n",
             a.token, "proto-chunked");
    int chunked_size = snprintf(chunked, sizeof chunked,
                                "a;note=first\r\n%.10s\r\n%zX ; name=\"two words\";flag\r\n%.*s\r\n"
                                "%x\r\n%s\r\n0\r\nX-Checksum: none\r\n\r\n",
                                body, n - 10 - 7, (int)(n - 10 - 7), body + 10, 7, body + n - 7);
    ASSERT(chunked_size > 0 && (size_t)chunked_size < sizeof chunked);

    struct S_conn c;
    struct S_reply r;
    ASSERT(S_open(&c));
    ASSERT(S_send_text(&c, head));
    for (size_t sent = 0; sent < (size_t)chunked_size; sent += 7) {
        size_t piece = (size_t)chunked_size - sent < 7 ? (size_t)chunked_size - sent : 7;
        ASSERT(S_send(&c, chunked + sent, piece));
        S_sleep_ms(3);
    }
    S_MUST_REPLY(&c, false, &r);
    char value[128];
    if (r.status != 201)
        TEST_FAIL_("a chunked payment: %d %s", r.status, r.body);
    ASSERT(S_header(&r, "Idempotent-Replayed", value, sizeof value) == NULL ||
           strcmp(value, "true") != 0);
    bool quiet = S_quiet(&c);
    S_close(&c);
    if (!quiet)
        TEST_FAIL_("after the chunked payment: %s", S_why);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 6000 - 2100);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 2100);

    struct client_response res;
    ASSERT_EQ_INT(
        api_call_idem(&S_client, "POST", "/v1/transfers", a.token, "proto-chunked", body, &res),
        201);
    ASSERT_EQ_STR(api_header(&res, "Idempotent-Replayed"), "true");
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 6000 - 2100);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 2100);
}

TEST(a_body_in_a_content_coding_is_refused)
{
    // No content coding is decoded here: a body said to be gzip was taken as it came, so a plain
    // one passed for a compressed one (a payment made) and a compressed one was called JSON with
    // a NUL byte. Any coding but identity is 415 and moves nothing; identity is as none.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 3000));
    char body[256], request[S_REQUEST_SIZE_MAX];
    S_transfer_body(body, sizeof body, b.phone, 300);
    static const char *const codings[] = {"gzip", "deflate, identity", "br"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(codings); i++) {
        snprintf(request, sizeof request,
                 S_PAY_LINES("HTTP/1.1") "Host: 127.0.0.1\r\nContent-Encoding: %s\r\n"
                                         "Content-Length: %zu\r\n\r\n%s",
                 a.token, "proto-coding", codings[i], strlen(body), body);
        struct S_conn c;
        struct S_reply r;
        ASSERT(S_open(&c));
        ASSERT(S_send_text(&c, request));
        S_MUST_REPLY(&c, false, &r);
        S_close(&c);
        if (r.status != 415 || strstr(r.body, "\"UNSUPPORTED_MEDIA_TYPE\"") == NULL)
            TEST_FAIL_("Content-Encoding: %s: %d %s", codings[i], r.status, r.body);
    }
    ASSERT_EQ_INT(th_balance(&S_client, &b), 0);
    snprintf(request, sizeof request,
             S_PAY_LINES("HTTP/1.1") "Host: 127.0.0.1\r\nContent-Encoding: identity\r\n"
                                     "Content-Length: %zu\r\n\r\n%s",
             a.token, "proto-coding", strlen(body), body);
    struct S_conn c;
    struct S_reply r;
    ASSERT(S_open(&c));
    ASSERT(S_send_text(&c, request));
    S_MUST_REPLY(&c, false, &r);
    S_close(&c);
    ASSERT_EQ_INT(r.status, 201);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 300);
}

TEST(a_chunked_body_past_the_limit_is_refused_as_it_passes)
{
    // A chunked body has no length to refuse from the head: it is refused once it passes
    // --http-body-size-max (64 KiB by default), not after however much more its client streams;
    // what follows is read for a while and dropped, then the connection ends. A client cannot
    // hold a connection, and the daemon's reading, by streaming a body without end. (A route
    // that takes no credentials: one that does refuses a request without them at its head.)
    struct S_conn c;
    struct S_reply r;
    ASSERT(S_open(&c));
    struct timeval patience = {5, 0}; /* a send the daemon never reads fails, not hangs */
    ASSERT_EQ_INT(setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &patience, sizeof patience), 0);
    ASSERT(S_send_text(&c, "POST /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"));
    static char chunk[8 + 16384 + 2];
    memcpy(chunk, "4000\r\n", 6);
    memset(chunk + 6, ' ', 16384);
    memcpy(chunk + 6 + 16384, "\r\n", 2);
    size_t chunk_size = 6 + 16384 + 2;
    for (int i = 0; i < 6; i++) /* 96 KiB, and no end */
        ASSERT(S_send(&c, chunk, chunk_size));
    S_MUST_REPLY(&c, false, &r);
    char code[64];
    ASSERT_EQ_INT(r.status, 413);
    ASSERT_EQ_STR(S_code(&r, code, sizeof code), "PAYLOAD_TOO_LARGE");
    bool ended = false;
    for (size_t sent = 0; sent < (size_t)64 * 1024 * 1024 && !ended; sent += chunk_size)
        ended = !S_send(&c, chunk, chunk_size);
    S_close(&c);
    ASSERT(ended);
}

TEST(a_chunk_whose_size_is_past_the_limit_is_refused_at_its_size_line)
{
    // A chunk of 16 MiB announced by its size line is refused as soon as the line is read, with
    // none of its bytes sent yet: not after the client has sent 64 KiB of them, nor at the
    // timeout when it sends nothing more.
    struct S_conn c;
    struct S_reply r;
    ASSERT(S_open(&c));
    ASSERT(S_send_text(&c, "POST /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "1000000\r\n{\"phone\""));
    S_MUST_REPLY(&c, false, &r);
    char code[64];
    ASSERT_EQ_INT(r.status, 413);
    ASSERT_EQ_STR(S_code(&r, code, sizeof code), "PAYLOAD_TOO_LARGE");
    S_close(&c);
}

TEST(a_length_of_any_size_past_the_limit_is_too_large_not_malformed)
{
    // A Content-Length too large for any body is 413, however many digits it has (one of 20
    // was 400 "not a number"); one with leading zeros is the number it spells (RFC 9110 8.6).
    const char *lengths[] = {"4294967296", "9223372036854775807", "10000000000000000000",
                             "99999999999999999999999999"};
    char request[256], code[64];
    for (size_t i = 0; i < QB_ARRAY_COUNT(lengths); i++) {
        struct S_conn c;
        struct S_reply r;
        ASSERT(S_open(&c));
        snprintf(request, sizeof request,
                 "POST /v1/sms-codes HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 "Content-Type: application/json\r\nContent-Length: %s\r\n\r\n{",
                 lengths[i]);
        ASSERT(S_send_text(&c, request));
        S_MUST_REPLY(&c, false, &r);
        if (r.status != 413 || strcmp(S_code(&r, code, sizeof code), "PAYLOAD_TOO_LARGE") != 0)
            TEST_FAIL_("Content-Length: %s answered %d %.200s", lengths[i], r.status, r.body);
        S_close(&c);
    }
    struct S_conn c;
    struct S_reply r;
    ASSERT(S_open(&c));
    ASSERT(S_send_text(&c, "POST /v1/sms-codes HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Content-Type: application/json\r\n"
                           "Content-Length: 0000000000000000002\r\n\r\n{}"));
    S_MUST_REPLY(&c, false, &r);
    ASSERT_EQ_INT(r.status, 400); /* read whole as {}: a phone is missing */
    ASSERT_EQ_STR(S_code(&r, code, sizeof code), "PARAM_ERROR");
    S_close(&c);
}

TEST(escapes_in_path_parameters_and_queries_are_decoded)
{
    // A path parameter is unescaped ("2026%2D11" is the month "2026-11"), and query names
    // and values are: "%2B08:00" is the offset "+08:00", "1%30%30" is 100.
    struct api_user a;
    API_MUST(api_user_new(&S_client, S_admin, &a));
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/statements/2026%2D11", a.token, NULL, &res),
                  200);
    ASSERT_EQ_STR(api_json_str(&res, "month"), "2026-11");
    client_response_release(&res);

    ASSERT_EQ_INT(api_call(&S_client, "GET",
                           "/v1/me/transactions?type=transfer&direction=out&from=2026-11-01"
                           "&to=2026-11-30T23:59:59%2B08:00&limit=100",
                           a.token, NULL, &res),
                  200);
    client_response_release(&res);
    /* limit=100 is the most a page holds; escaped, it must still read as 100. */
    ASSERT_EQ_INT(
        api_call(&S_client, "GET", "/v1/me/transactions?limit=1%30%30", a.token, NULL, &res), 200);
    client_response_release(&res);
    /* An escaped name is the name: limit=0 is refused. */
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/transactions?%6Cimit=0", a.token, NULL, &res),
                  400);
    ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
    client_response_release(&res);
}

TEST(escaped_paths_do_not_reach_the_routes_they_decode_to)
{
    // A proxy in front of the daemon keeps /admin and /metrics off the public side by their
    // path as sent. Routes match that path too: a route's literal segments only as they are
    // written ("/%61dmin/users" is no path), and an escaped slash or NUL is refused anywhere,
    // so that no spelling of a path reaches a route the proxy would have stopped.
    struct api_user a;
    API_MUST(api_user_new(&S_client, S_admin, &a));
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/admin/users", S_admin, NULL, &res), 200);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/metrics", NULL, NULL, &res), 200);
    client_response_release(&res);

    const char *unknown[] = {
        "/%61dmin/users",
        "/admin/%75sers",
        "/metric%73",
        "/%6detrics",
        "/admin%252Fusers",
        "/v1/me/statement%73/2026-11",
        "/admin/users%3Fphone=1",
        "/healthz%20",
    };
    for (size_t i = 0; i < QB_ARRAY_COUNT(unknown); i++) {
        long status = api_call(&S_client, "GET", unknown[i], S_admin, NULL, &res);
        if (status != 404 || strcmp(api_error_code(&res), "NOT_FOUND") != 0)
            TEST_FAIL_("GET %s answered %ld %.200s", unknown[i], status,
                       res.body.data != NULL ? res.body.data : "");
        client_response_release(&res);
    }

    /* An escaped slash would make two segments of one, or one of two; an escaped NUL would end
     * the value early. Neither is read any way at all, in a literal segment or a parameter. */
    const char *refused[] = {
        "/admin%2Fusers",
        "/admin%2fusers",
        "/admin%2Fsms-outbox",
        "/v1/me/payments/p_a%2Fb",
        "/v1/me/payments/p_a%00",
        "/admin/users/%2e%2e%2Fpayments",
        "/%00metrics",
        "/%2Fadmin/users",
    };
    for (size_t i = 0; i < QB_ARRAY_COUNT(refused); i++) {
        long status = api_call(&S_client, "GET", refused[i],
                               strncmp(refused[i], "/v1", 3) == 0 ? a.token : S_admin, NULL, &res);
        if (status != 400 || strcmp(api_error_code(&res), "PARAM_ERROR") != 0)
            TEST_FAIL_("GET %s answered %ld %.200s", refused[i], status,
                       res.body.data != NULL ? res.body.data : "");
        client_response_release(&res);
    }
}

/* Waits up to 5 s for a line holding wanted in the daemon's log; the log
 * into log (log_size bytes). */
static bool S_log_wait(const char *wanted, char *log, size_t log_size)
{
    for (int waited = 0; waited < 5000; waited += 20) {
        if (test_file_read(S_daemon.log_path, log, log_size) && strstr(log, wanted) != NULL)
            return true;
        usleep(20 * 1000);
    }
    return false;
}

TEST(a_path_cannot_forge_fields_of_its_log_line)
{
    // The access log's line of a request names its path; unescaped, "%20status=200%20" would
    // end the path there and add a field that a logfmt reader takes for the status. A path is
    // logged as sent, its escapes kept, so it stays one value.
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/forged%20status=200%20%22x%25", NULL, NULL, &res),
                  404);
    client_response_release(&res);
    static char log[8 * 1024 * 1024];
    const char *wanted = "path=/v1/forged%20status=200%20%22x%25 status=404 ";
    if (!S_log_wait(wanted, log, sizeof log))
        TEST_FAIL_("no line with %s in %s", wanted, S_daemon.log_path);
    ASSERT(strstr(log, "path=/v1/forged status=") == NULL);

    /* Nor can it turn the line around on a terminal: a right-to-left override (U+202E) and any
     * byte beyond ASCII stay escaped. */
    ASSERT_EQ_INT(
        api_call(&S_client, "GET", "/v1/me/payments/p_%E2%80%AEzyx%E5%8D%88", NULL, NULL, &res),
        401);
    client_response_release(&res);
    wanted = "path=/v1/me/payments/p_%E2%80%AEzyx%E5%8D%88 status=401 ";
    if (!S_log_wait(wanted, log, sizeof log))
        TEST_FAIL_("no line with %s in %s", wanted, S_daemon.log_path);
    ASSERT(strstr(log, "\xe2\x80\xae") == NULL);

    /* A head that parsed and is refused for how it frames the request (two Host lines) is
     * logged with its method and path, for the operator who looks for who sent it. */
    struct S_conn c;
    struct S_reply r;
    ASSERT(S_open(&c));
    ASSERT(S_send_text(&c, "GET /v1/me/two-hosts HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"));
    S_MUST_REPLY(&c, false, &r);
    S_close(&c);
    ASSERT_EQ_INT(r.status, 400);
    wanted = "method=GET path=/v1/me/two-hosts status=400 ";
    if (!S_log_wait(wanted, log, sizeof log))
        TEST_FAIL_("no line with %s in %s", wanted, S_daemon.log_path);

    /* A card number a client put in a path (for a card's id, say) is not written in clear: a
     * run of 13 to 19 digits that passes the Luhn check shows its last four. Shorter runs (a
     * mchid), and /v3 paths, whose out_trade_no a merchant chooses and an operator searches
     * for, stay as sent. */
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/payments/9999000000000012", NULL, NULL, &res),
                  401);
    client_response_release(&res);
    ASSERT_EQ_INT(
        api_call(&S_client, "GET", "/v1/merchants/1234567890/till-code", NULL, NULL, &res), 401);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v3/pay/transactions/out-trade-no/4111111111111111",
                           NULL, NULL, &res),
                  401);
    client_response_release(&res);
    /* Nor written as people write one, in groups, or with a digit escaped. */
    ASSERT_EQ_INT(
        api_call(&S_client, "GET", "/v1/transfers/9999%200000%200000%200012", NULL, NULL, &res),
        401);
    client_response_release(&res);
    ASSERT_EQ_INT(
        api_call(&S_client, "DELETE", "/v1/me/cards/4111-1111-1111-1111", NULL, NULL, &res), 401);
    client_response_release(&res);
    ASSERT_EQ_INT(
        api_call(&S_client, "GET", "/v1/red-packets/%34111111111111111", NULL, NULL, &res), 401);
    client_response_release(&res);
    const char *lines[] = {"path=/v1/me/payments/****0012 status=401 ",
                           "path=/v1/merchants/1234567890/till-code status=401 ",
                           "path=/v3/pay/transactions/out-trade-no/4111111111111111 status=401 ",
                           "path=/v1/transfers/****0012 status=401 ",
                           "path=/v1/me/cards/****1111 status=401 ",
                           "path=/v1/red-packets/****1111 status=401 "};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        if (!S_log_wait(lines[i], log, sizeof log))
            TEST_FAIL_("no line with %s in %s", lines[i], S_daemon.log_path);
    /* Nor with a form's '+', dots, an ideographic space (U+3000), full-width digits, or an
     * escape a proxy escaped again; a path of letters and digits stays as sent. */
    const char *spellings[][2] = {
        {"/v1/x1/4111+1111+1111+1111", "path=/v1/x1/****1111 status=404 "},
        {"/v1/x2/4111.1111.1111.1111", "path=/v1/x2/****1111 status=404 "},
        {"/v1/x3/4111%E3%80%801111%E3%80%801111%E3%80%801111", "path=/v1/x3/****1111 status=404 "},
        {"/v1/x4/%EF%BC%94111111111111111", "path=/v1/x4/****1111 status=404 "},
        {"/v1/x5/4111%25201111%25201111%25201111", "path=/v1/x5/****1111 status=404 "},
        {"/v1/x6/order4111111111111111x", "path=/v1/x6/order****1111x status=404 "},
        {"/v1/x7/a5500-0000-0000-0004", "path=/v1/x7/a5500-0000-0000-0004 status=404 "},
    };
    for (size_t i = 0; i < sizeof spellings / sizeof spellings[0]; i++) {
        ASSERT_EQ_INT(api_call(&S_client, "GET", spellings[i][0], NULL, NULL, &res), 404);
        client_response_release(&res);
        if (!S_log_wait(spellings[i][1], log, sizeof log))
            TEST_FAIL_("no line with %s in %s", spellings[i][1], S_daemon.log_path);
    }
    ASSERT(strstr(log, "9999000000000012") == NULL);
    ASSERT(strstr(log, "0000%200012") == NULL);
    ASSERT(strstr(log, "1111-1111") == NULL);
    ASSERT(strstr(log, "%34111") == NULL);
}

TEST(a_body_from_no_one_is_refused_before_it_is_read)
{
    // A body is buffered whole, up to the body limit: thousands of connections each sending one
    // with no credentials would hold that much memory each. A user's or an operator's token is
    // in the head, so a request without a good one is refused before any of its body comes,
    // and its connection closes.
    struct api_user u;
    API_MUST(api_user_new(&S_client, S_admin, &u));
    char heads[3][512];
    snprintf(heads[0], sizeof heads[0],
             "POST /v1/transfers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Idempotency-Key: k1\r\nContent-Length: 60000\r\n\r\n");
    snprintf(heads[1], sizeof heads[1],
             "PUT /v1/me/display-name HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Authorization: Bearer %064d\r\nContent-Length: 60000\r\n\r\n",
             0);
    snprintf(heads[2], sizeof heads[2],
             "POST /admin/users/%s/freeze HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Authorization: Bearer %s\r\nContent-Length: 60000\r\n\r\n",
             u.id, u.token);
    const int wanted[3] = {401, 401, 403};
    for (int i = 0; i < 3; i++) {
        struct S_conn c;
        struct S_reply r;
        ASSERT(S_open(&c));
        ASSERT(S_send_text(&c, heads[i]));
        S_MUST_REPLY(&c, false, &r);
        ASSERT_EQ_INT(r.status, wanted[i]);
        S_close(&c);
    }
    /* With a good token the body is read and the request runs. */
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "PUT", "/v1/me/display-name", u.token,
                           "{\"display_name\":\"新名字\"}", &res),
                  200);
    client_response_release(&res);
    /* And checked again once the body is in: a head sent before the session's logout, its
     * body after, is refused as any request with the token then is. */
    const char *body = "{\"display_name\":\"旧名字\"}";
    char head[512];
    snprintf(head, sizeof head,
             "PUT /v1/me/display-name HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Authorization: Bearer %s\r\nContent-Length: %zu\r\n\r\n",
             u.token, strlen(body));
    struct S_conn c;
    struct S_reply r;
    ASSERT(S_open(&c));
    ASSERT(S_send_text(&c, head));
    S_sleep_ms(200); /* the head is in, the session still good */
    ASSERT_EQ_INT(api_call(&S_client, "DELETE", "/v1/sessions/current", u.token, NULL, &res), 204);
    client_response_release(&res);
    ASSERT(S_send_text(&c, body));
    S_MUST_REPLY(&c, false, &r);
    S_close(&c);
    ASSERT_EQ_INT(r.status, 401);
}

/* A connection's pipelined backlog, and its answers counted as they come. */
struct S_backlog {
    struct S_conn conn;
    int requests;
    _Atomic long answers;
    bool sent;
};

static void *S_backlog_send(void *arg)
{
    struct S_backlog *b = arg;
    static const char one[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t size = sizeof one - 1;
    char *all = malloc(size * (size_t)b->requests);
    if (all != NULL) {
        for (int i = 0; i < b->requests; i++)
            memcpy(all + size * (size_t)i, one, size);
        b->sent = S_send(&b->conn, all, size * (size_t)b->requests);
        free(all);
    }
    return NULL;
}

static void *S_backlog_read(void *arg)
{
    struct S_backlog *b = arg;
    static const char mark[] = "HTTP/1.1 200";
    char chunk[65536 + sizeof mark];
    size_t carry = 0;
    while (atomic_load(&b->answers) < b->requests) {
        ssize_t n = recv(b->conn.fd, chunk + carry, sizeof chunk - carry - 1, 0);
        if (n <= 0)
            break;
        size_t size = carry + (size_t)n;
        chunk[size] = '\0';
        long found = 0;
        for (char *p = chunk;
             (p = memmem(p, size - (size_t)(p - chunk), mark, sizeof mark - 1)) != NULL;
             p += sizeof mark - 1)
            found++;
        atomic_fetch_add(&b->answers, found);
        carry = size < sizeof mark - 1 ? size : sizeof mark - 2;
        memmove(chunk, chunk + size - carry, carry);
    }
    return NULL;
}

TEST(a_pipelined_backlog_does_not_hold_up_other_connections)
{
    // One client pipelines 100,000 requests at once; another, on the same HTTP thread, asks one.
    // Each connection's turn answers a few requests before the others ready get theirs, so the
    // second is answered long before the backlog is done, not after it (as when a connection
    // ran until its bytes ran out).
    client_release(&S_client);
    ASSERT_EQ_INT(test_daemon_stop(&S_daemon), 0);
    const char *const args[] = {"--http-threads", "1", NULL};
    API_MUST(api_daemon_start(&S_daemon, S_root, "main", args, S_admin));
    client_init(&S_client, S_daemon.base_url);
    const char *colon = strrchr(S_daemon.address, ':');
    S_port = colon != NULL ? (unsigned short)strtoul(colon + 1, NULL, 10) : 0;

    static struct S_backlog b;
    memset(&b, 0, sizeof b);
    b.requests = 100000;
    ASSERT(S_open(&b.conn));
    struct S_conn other;
    ASSERT(S_open(&other)); /* connected first: only its request waits for the backlog */
    pthread_t sender, reader;
    ASSERT_EQ_INT(pthread_create(&reader, NULL, S_backlog_read, &b), 0);
    ASSERT_EQ_INT(pthread_create(&sender, NULL, S_backlog_send, &b), 0);
    long long deadline = S_now_ms() + 10000;
    while (atomic_load(&b.answers) == 0 && S_now_ms() < deadline)
        S_sleep_ms(1);
    struct S_reply r;
    ASSERT(S_send_text(&other, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    S_MUST_REPLY(&other, false, &r);
    long before = atomic_load(&b.answers);
    S_close(&other);
    ASSERT_EQ_INT(r.status, 200);
    pthread_join(sender, NULL);
    pthread_join(reader, NULL);
    S_close(&b.conn);
    ASSERT(b.sent);
    ASSERT_EQ_INT(atomic_load(&b.answers), b.requests);
    /* Answered within a few turns of the backlog's connection (5 to 144 of its answers were
     * out before it, here, on an idle machine), not some 11,000 in, when the backlog's socket
     * first filled; the margin is for a loaded machine's slower sending of the request. */
    if (before > 5000)
        TEST_FAIL_("the other connection was answered after %ld of the backlog's %d", before,
                   b.requests);

    client_release(&S_client);
    ASSERT_EQ_INT(test_daemon_stop(&S_daemon), 0);
    API_MUST(api_daemon_start(&S_daemon, S_root, "main", NULL, S_admin));
    client_init(&S_client, S_daemon.base_url);
    colon = strrchr(S_daemon.address, ':');
    S_port = colon != NULL ? (unsigned short)strtoul(colon + 1, NULL, 10) : 0;
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    if (!api_suite_daemon(&suite, &S_daemon, "main", NULL, S_admin, &S_client))
        return api_suite_end(&suite);
    const char *colon = strrchr(S_daemon.address, ':');
    S_port = colon != NULL ? (unsigned short)strtoul(colon + 1, NULL, 10) : 0;

    RUN(malformed_requests_are_400_and_close);
    RUN(a_chunk_size_line_follows_the_grammar);
    RUN(framing_headers_repeated_on_two_lines_are_400);
    RUN(pipelined_requests_are_answered_in_order);
    RUN(a_read_pipelined_after_a_payment_sees_it);
    RUN(expect_100_continue_is_answered_before_the_body);
    RUN(head_has_the_length_and_no_body);
    RUN(http_1_0_closes_unless_kept_alive);
    RUN(connection_close_is_honoured);
    RUN(a_request_pipelined_behind_a_close_does_not_reset_the_connection);
    RUN(a_half_closed_connection_closes_after_its_replies);
    RUN(a_chunked_payment_moves_money_once);
    RUN(a_body_in_a_content_coding_is_refused);
    RUN(a_chunked_body_past_the_limit_is_refused_as_it_passes);
    RUN(a_chunk_whose_size_is_past_the_limit_is_refused_at_its_size_line);
    RUN(a_length_of_any_size_past_the_limit_is_too_large_not_malformed);
    RUN(escapes_in_path_parameters_and_queries_are_decoded);
    RUN(escaped_paths_do_not_reach_the_routes_they_decode_to);
    RUN(a_path_cannot_forge_fields_of_its_log_line);
    RUN(a_body_from_no_one_is_refused_before_it_is_read);
    RUN(a_pipelined_backlog_does_not_hold_up_other_connections);

    return api_suite_end(&suite);
}

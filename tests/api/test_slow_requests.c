/*
 * test_slow_requests.c — slow and oversize requests over real sockets.
 *
 * A client that stops sending — before its headers are complete, or in the
 * middle of its body — must cost the daemon one socket for at most
 * --http-timeout-s seconds, must never hold up other clients, and must change
 * nothing: the cut-off request was never handled, so a money-moving one sent
 * again with the same Idempotency-Key is applied exactly once. Headers past
 * the connection's memory are 431 (a request line alone 414), a body past --http-body-size-max is
 * 413 PAYLOAD_TOO_LARGE, and neither changes anything (docs/api.md).
 *
 * The daemon runs with --http-timeout-s 3 so that no case waits long. The
 * test speaks raw HTTP/1.1 on loopback sockets, since a library client
 * never stalls on purpose.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "api/lib/suite.h"
#include "api/transfer_helpers.h"

#define S_TIMEOUT_S 3
#define S_TIMEOUT_TEXT "3"
#define S_SLOW_COUNT 50
#define S_CLOSE_EARLY_MS (S_TIMEOUT_S * 1000 - 600) /* closed sooner: not the timeout */
#define S_CLOSE_LATE_MS (S_TIMEOUT_S * 1000 + 2500) /* still open later: no timeout */
#define S_REPLY_SIZE_MAX 8192

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];
static unsigned short S_port;

static long long S_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A blocking TCP connection to the daemon, or -1. */
static int S_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(S_port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool S_send_all(int fd, const void *data, size_t size)
{
    const char *p = data;
    while (size > 0) {
        ssize_t n = send(fd, p, size, MSG_NOSIGNAL);
        if (n <= 0)
            return false;
        p += n;
        size -= (size_t)n;
    }
    return true;
}

/* Reads from fd until the peer closes it or wait_ms pass. What arrived goes
 * to reply (NUL-terminated, truncated to reply_size - 1; reply may be NULL).
 * Answers the milliseconds until the close (EOF or reset), or -1 when the
 * connection was still open at the end. */
static long long S_wait_closed(int fd, long long wait_ms, char *reply, size_t reply_size)
{
    long long start_ms = S_now_ms();
    size_t used = 0;
    if (reply != NULL)
        reply[0] = '\0';
    for (;;) {
        long long left_ms = start_ms + wait_ms - S_now_ms();
        if (left_ms <= 0)
            return -1;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int ready = poll(&pfd, 1, (int)left_ms);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            continue;
        char chunk[4096];
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0)
            return S_now_ms() - start_ms;
        if (reply != NULL && used + 1 < reply_size) {
            size_t take = (size_t)n < reply_size - 1 - used ? (size_t)n : reply_size - 1 - used;
            memcpy(reply + used, chunk, take);
            used += take;
            reply[used] = '\0';
        }
    }
}

/* True when fd is still open: no EOF, reset or data waiting on it. */
static bool S_still_open(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    return poll(&pfd, 1, 0) == 0;
}

/* The status of the HTTP reply at the start of text, 0 when there is none. */
static int S_reply_status(const char *text)
{
    if (strncmp(text, "HTTP/1.1 ", 9) != 0 && strncmp(text, "HTTP/1.0 ", 9) != 0)
        return 0;
    int status = 0;
    for (const char *p = text + 9; p < text + 12 && *p >= '0' && *p <= '9'; p++)
        status = status * 10 + (*p - '0');
    return status;
}

/* The number of bill lines of u (GET /v1/me/transactions, limit 100), or -1. */
static long long S_bill_count(const struct api_user *u)
{
    struct client_response res;
    long long count = -1;
    if (api_call(&S_client, "GET", "/v1/me/transactions?limit=100", u->token, NULL, &res) == 200) {
        json_t *body = api_json(&res);
        json_t *items = json_object_get(body, "items");
        if (json_is_array(items))
            count = (long long)json_array_size(items);
        json_decref(body);
    }
    client_response_release(&res);
    return count;
}

/* The headers of a keyed transfer from token with a body of body_size bytes. */
static void S_transfer_head(char *out, size_t out_size, const char *token, const char *key,
                            size_t body_size)
{
    snprintf(out, out_size,
             "POST /v1/transfers HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             "Authorization: Bearer %s\r\nIdempotency-Key: %s\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
             token, key, body_size);
}

TEST(a_silent_connection_is_closed)
{
    // A client that connects and sends nothing holds a socket for the timeout, no longer,
    // and is closed without an answer.
    int fd = S_connect();
    ASSERT(fd >= 0);
    char reply[S_REPLY_SIZE_MAX];
    long long closed_ms = S_wait_closed(fd, S_CLOSE_LATE_MS, reply, sizeof reply);
    close(fd);
    if (closed_ms < 0)
        TEST_FAIL_("a silent connection was still open after %d ms", S_CLOSE_LATE_MS);
    if (closed_ms < S_CLOSE_EARLY_MS)
        TEST_FAIL_("a silent connection was closed after %lld ms, before the timeout", closed_ms);
    ASSERT_EQ_STR(reply, "");
}

TEST(headers_a_byte_at_a_time_are_cut_off)
{
    // Slowloris: the request line and headers arrive a byte at a time, 300 ms apart, well
    // within the timeout of each other, for ever. Its own bytes do not start the timeout
    // again: the connection is closed about the timeout after the request's first byte, with
    // no answer; nothing was routed.
    static const char request[] =
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    int fd = S_connect();
    ASSERT(fd >= 0);
    long long first_ms = S_now_ms();
    bool closed = false;
    for (size_t i = 0; i < sizeof request - 1 && !closed; i++) {
        if (S_now_ms() - first_ms > S_CLOSE_LATE_MS)
            TEST_FAIL_("a request trickling in for %d ms was not cut off", S_CLOSE_LATE_MS);
        closed = !S_send_all(fd, request + i, 1);
        struct timespec pause = {0, 300 * 1000 * 1000};
        nanosleep(&pause, NULL);
        closed = closed || !S_still_open(fd);
    }
    ASSERT(closed);
    long long closed_ms = S_now_ms() - first_ms;
    if (closed_ms < S_CLOSE_EARLY_MS)
        TEST_FAIL_("closed %lld ms after the first byte, before the timeout", closed_ms);
    char reply[S_REPLY_SIZE_MAX];
    ASSERT(S_wait_closed(fd, 1000, reply, sizeof reply) >= 0);
    ASSERT_EQ_STR(reply, "");
    close(fd);
    /* The daemon serves the next client as usual. */
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/healthz", NULL, NULL, &res), 200);
    client_response_release(&res);
}

/* Reads one reply (its head and its Content-Length body) from fd into reply; its status. */
static int S_read_reply(int fd, char *reply, size_t size)
{
    size_t got = 0;
    reply[0] = '\0';
    for (;;) {
        const char *end = strstr(reply, "\r\n\r\n");
        const char *length = strstr(reply, "Content-Length: ");
        if (end != NULL && length != NULL &&
            got >= (size_t)(end + 4 - reply) + (size_t)atol(length + 16))
            return S_reply_status(reply);
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 5000) != 1)
            return 0;
        ssize_t n = recv(fd, reply + got, size - 1 - got, 0);
        if (n <= 0)
            return 0;
        got += (size_t)n;
        reply[got] = '\0';
    }
}

TEST(a_blank_line_after_a_body_does_not_shorten_the_next_request)
{
    // A client may end a body with a blank line (RFC 9112 2.2), which belongs to nothing: the
    // next request, begun a while after the answer and taking a while to arrive, has its whole
    // timeout from its own first byte, as it would without the blank line.
    int fd = S_connect();
    ASSERT(fd >= 0);
    static const char first[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                "Content-Length: 2\r\n\r\n{}\r\n";
    ASSERT(S_send_all(fd, first, sizeof first - 1));
    char reply[S_REPLY_SIZE_MAX];
    ASSERT_EQ_INT(S_read_reply(fd, reply, sizeof reply), 200);
    struct timespec pause = {S_TIMEOUT_S - 1, 0};
    nanosleep(&pause, NULL);
    /* The next request in three pieces 0.75 s apart: the answer was sent more than the
     * timeout before its end, its first byte less. */
    static const char *const pieces[] = {"GET /healthz HT", "TP/1.1\r\nHost: 12",
                                         "7.0.0.1\r\n\r\n"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(pieces); i++) {
        ASSERT(S_send_all(fd, pieces[i], strlen(pieces[i])));
        struct timespec half = {0, 750 * 1000 * 1000};
        if (i + 1 < QB_ARRAY_COUNT(pieces))
            nanosleep(&half, NULL);
    }
    ASSERT_EQ_INT(S_read_reply(fd, reply, sizeof reply), 200);
    close(fd);
}

TEST(a_refused_connection_trickling_bytes_is_cut_off)
{
    // After a refusal (here 400 for a malformed request line) the connection reads and drops
    // what its client still sends before closing. A byte now and then there must not hold it
    // for ever: it closes about the timeout after the refusal was sent.
    int fd = S_connect();
    ASSERT(fd >= 0);
    ASSERT(S_send_all(fd, "GARBAGE\r\n\r\n", 11));
    char reply[S_REPLY_SIZE_MAX];
    size_t got = 0;
    long long refused_ms = S_now_ms();
    while (got == 0 || strstr(reply, "\r\n\r\n") == NULL) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ASSERT(poll(&pfd, 1, 2000) == 1);
        ssize_t n = recv(fd, reply + got, sizeof reply - 1 - got, 0);
        ASSERT(n > 0);
        got += (size_t)n;
        reply[got] = '\0';
    }
    ASSERT_EQ_INT(S_reply_status(reply), 400);
    /* Its sending side is shut at once (the reply's end); what ends the connection is the
     * daemon's close, after which a byte sent meets a reset. */
    bool closed = false;
    while (!closed) {
        if (S_now_ms() - refused_ms > S_CLOSE_LATE_MS)
            TEST_FAIL_("a refused connection trickling bytes was open %d ms on", S_CLOSE_LATE_MS);
        closed = !S_send_all(fd, "x", 1);
        struct timespec pause = {0, 300 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    long long closed_ms = S_now_ms() - refused_ms;
    if (closed_ms < S_CLOSE_EARLY_MS)
        TEST_FAIL_("closed %lld ms after the refusal, before the timeout", closed_ms);
    close(fd);
}

TEST(fifty_slow_clients_do_not_hold_up_others)
{
    // Fifty connections stalled in the middle of their headers, and one more stalled in its
    // body, do not keep an ordinary client waiting: it is served while every one of them is
    // still open, and each of them is closed about the timeout after its last byte.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 5000));

    int fds[S_SLOW_COUNT + 1];
    for (size_t i = 0; i < S_SLOW_COUNT; i++) {
        fds[i] = S_connect();
        ASSERT(fds[i] >= 0);
        char partial[256];
        snprintf(partial, sizeof partial,
                 "POST /v1/transfers HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow-%zu: ", i);
        ASSERT(S_send_all(fds[i], partial, strlen(partial)));
    }
    fds[S_SLOW_COUNT] = S_connect();
    ASSERT(fds[S_SLOW_COUNT] >= 0);
    char head[512];
    S_transfer_head(head, sizeof head, a.token, "slow-body", 100);
    ASSERT(S_send_all(fds[S_SLOW_COUNT], head, strlen(head)));
    ASSERT(S_send_all(fds[S_SLOW_COUNT], "{\"to\":", 6));
    long long stalled_at_ms = S_now_ms();

    /* An ordinary client on a new connection: a read and a payment, answered at once. */
    struct client fresh;
    client_init(&fresh, S_daemon.base_url);
    struct client_response res;
    long health = api_call(&fresh, "GET", "/healthz", NULL, NULL, &res);
    client_response_release(&res);
    char body[256];
    snprintf(body, sizeof body, "{\"to\":\"%s\",\"amount\":1200,\"payment_password\":\"%s\"}",
             b.phone, TH_PAY_PASSWORD);
    long paid = api_call_idem(&fresh, "POST", "/v1/transfers", a.token, "not-slow", body, &res);
    client_response_release(&res);
    client_release(&fresh);
    ASSERT_EQ_INT(health, 200);
    ASSERT_EQ_INT(paid, 201);
    long long served_ms = S_now_ms() - stalled_at_ms;
    ASSERT_EQ_INT(th_balance(&S_client, &b), 1200);
    for (size_t i = 0; i <= S_SLOW_COUNT; i++) {
        if (!S_still_open(fds[i]))
            TEST_FAIL_("slow connection %zu was closed before the ordinary client was served "
                       "(%lld ms)",
                       i, served_ms);
    }

    /* Then every slow one goes, about the timeout after it stalled, without an answer. */
    for (size_t i = 0; i <= S_SLOW_COUNT; i++) {
        char reply[S_REPLY_SIZE_MAX];
        long long left_ms = stalled_at_ms + S_CLOSE_LATE_MS - S_now_ms();
        long long closed_ms = S_wait_closed(fds[i], left_ms > 0 ? left_ms : 1, reply, sizeof reply);
        close(fds[i]);
        if (closed_ms < 0)
            TEST_FAIL_("slow connection %zu was still open %d ms after it stalled", i,
                       S_CLOSE_LATE_MS);
        if (reply[0] != '\0')
            TEST_FAIL_("slow connection %zu was answered: %.60s", i, reply);
    }
    long long all_closed_ms = S_now_ms() - stalled_at_ms;
    if (all_closed_ms < S_CLOSE_EARLY_MS)
        TEST_FAIL_("the slow connections were closed after %lld ms, before the timeout",
                   all_closed_ms);
    fprintf(stderr, "  served in %lld ms beside %d stalled connections; all closed after %lld ms\n",
            served_ms, S_SLOW_COUNT + 1, all_closed_ms);
    /* The stalled transfer did nothing. */
    ASSERT_EQ_INT(th_balance(&S_client, &a), 5000 - 1200);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 1200);
}

TEST(a_stalled_body_applies_nothing)
{
    // A payment whose headers and half its body arrived, then nothing: closed at the timeout
    // without an answer, no money moved, no bill line, no answer kept under the key. The
    // same request sent again with the same key is applied once, then replayed.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 10000));
    long long bills_before = S_bill_count(&a);
    ASSERT(bills_before >= 1);

    char body[256], head[512];
    snprintf(body, sizeof body, "{\"to\":\"%s\",\"amount\":2500,\"payment_password\":\"%s\"}",
             b.phone, TH_PAY_PASSWORD);
    size_t body_size = strlen(body);
    /* Twice: stalled after half the body, and one byte short of it. */
    size_t sent_sizes[] = {body_size / 2, body_size - 1};
    for (size_t i = 0; i < sizeof sent_sizes / sizeof sent_sizes[0]; i++) {
        int fd = S_connect();
        ASSERT(fd >= 0);
        S_transfer_head(head, sizeof head, a.token, "stalled", body_size);
        ASSERT(S_send_all(fd, head, strlen(head)));
        ASSERT(S_send_all(fd, body, sent_sizes[i]));
        char reply[S_REPLY_SIZE_MAX];
        long long closed_ms = S_wait_closed(fd, S_CLOSE_LATE_MS, reply, sizeof reply);
        close(fd);
        if (closed_ms < 0)
            TEST_FAIL_("a body stalled after %zu of %zu bytes was still open after %d ms",
                       sent_sizes[i], body_size, S_CLOSE_LATE_MS);
        if (closed_ms < S_CLOSE_EARLY_MS)
            TEST_FAIL_("a stalled body was closed after %lld ms, before the timeout", closed_ms);
        if (reply[0] != '\0')
            TEST_FAIL_("a stalled body was answered: %.60s", reply);
        ASSERT_EQ_INT(th_balance(&S_client, &a), 10000);
        ASSERT_EQ_INT(th_balance(&S_client, &b), 0);
        ASSERT_EQ_INT(S_bill_count(&a), bills_before);
    }

    /* The retry runs it (not a replay), the next one replays it: one payment. */
    struct client_response res;
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/transfers", a.token, "stalled", body,
                                &res),
                  201);
    ASSERT(strcmp(api_header(&res, "Idempotent-Replayed"), "true") != 0);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/transfers", a.token, "stalled", body,
                                &res),
                  201);
    ASSERT_EQ_STR(api_header(&res, "Idempotent-Replayed"), "true");
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 10000 - 2500);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 2500);
    ASSERT_EQ_INT(S_bill_count(&a), bills_before + 1);
}

/* Sends text on a fresh connection and reads the answer until the daemon
 * closes the connection or 5 s pass; answers its status (0: none). */
static int S_raw_status(const char *text, size_t text_size, char *reply, size_t reply_size)
{
    int fd = S_connect();
    if (fd < 0)
        return 0;
    /* The daemon may answer and close before it read everything: a failed send is fine. */
    (void)S_send_all(fd, text, text_size);
    (void)S_wait_closed(fd, 5000, reply, reply_size);
    close(fd);
    return S_reply_status(reply);
}

TEST(oversize_headers_are_431)
{
    // Headers that do not fit the connection's memory (16 KiB): one huge header, or
    // thousands of small ones, on a payment with its key, are 431 HEADERS_TOO_LARGE; a request
    // line that alone does not fit is 414 URI_TOO_LONG; each as a JSON error body. Nothing is
    // applied; the key stays unused. Headers of 12 KiB, within what docs/api.md promises, are
    // served.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 3000));
    char body[256];
    snprintf(body, sizeof body, "{\"to\":\"%s\",\"amount\":700,\"payment_password\":\"%s\"}",
             b.phone, TH_PAY_PASSWORD);
    size_t body_size = strlen(body);

    size_t request_size_max = 200 * 1024;
    char *request = malloc(request_size_max);
    ASSERT(request != NULL);
    /* One huge header, 4000 small ones: 431; a request line alone past the memory: 414; a
     * head one byte past 16 KiB: 431 (heads of 16,006 to 16,400 bytes once got the connection
     * closed without any answer). */
    static const int statuses[] = {431, 431, 414, 431};
    static const char *const codes[] = {"HEADERS_TOO_LARGE", "HEADERS_TOO_LARGE", "URI_TOO_LONG",
                                        "HEADERS_TOO_LARGE"};
    for (int variant = 0; variant < 4; variant++) {
        size_t used = (size_t)snprintf(request, request_size_max, "POST /v1/transfers");
        if (variant == 2) {
            request[used++] = '?';
            memset(request + used, 'q', 70 * 1024);
            used += 70 * 1024;
        }
        used += (size_t)snprintf(request + used, request_size_max - used,
                                 " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                 "Authorization: Bearer %s\r\nIdempotency-Key: big-head\r\n"
                                 "Content-Type: application/json\r\nContent-Length: %zu\r\n",
                                 a.token, body_size);
        if (variant == 0) {
            memcpy(request + used, "X-Pad: ", 7);
            used += 7;
            memset(request + used, 'a', 100 * 1024);
            used += 100 * 1024;
            memcpy(request + used, "\r\n", 2);
            used += 2;
        } else if (variant == 1) {
            for (int i = 0; i < 4000; i++)
                used += (size_t)snprintf(request + used, request_size_max - used,
                                         "X-Many-%04d: 0123456789\r\n", i);
        } else if (variant == 3) {
            memcpy(request + used, "X-Pad: ", 7);
            used += 7;
            size_t pad = 16 * 1024 + 1 - 2 - 2 - used; /* the head is 16 KiB and a byte */
            memset(request + used, 'a', pad);
            used += pad;
            memcpy(request + used, "\r\n", 2);
            used += 2;
        }
        used += (size_t)snprintf(request + used, request_size_max - used, "\r\n%s", body);
        char reply[S_REPLY_SIZE_MAX];
        int status = S_raw_status(request, used, reply, sizeof reply);
        /* The reply is JSON (not libmicrohttpd's HTML): its body is one object with the code. */
        const char *head_end = strstr(reply, "\r\n\r\n");
        json_t *parsed = head_end != NULL ? json_loads(head_end + 4, 0, NULL) : NULL;
        const char *code = json_string_value(json_object_get(parsed, "code"));
        bool ok = status == statuses[variant] && code != NULL &&
                  strcmp(code, codes[variant]) == 0 &&
                  json_is_string(json_object_get(parsed, "message")) &&
                  strstr(reply, "\r\nContent-Type: application/json") != NULL &&
                  strstr(reply, "\r\nX-Request-Id: req_") != NULL;
        json_decref(parsed);
        if (!ok) {
            free(request);
            TEST_FAIL_("oversize head (variant %d): want %d %s, got: %.300s", variant,
                       statuses[variant], codes[variant], reply);
        }
    }
    /* Within the limit, 12 KiB and exactly 16 KiB of head: served. */
    int served_status = 0;
    char served[S_REPLY_SIZE_MAX];
    static const size_t head_sizes[] = {12 * 1024, 16 * 1024};
    for (size_t k = 0; k < 2 && (k == 0 || served_status == 200); k++) {
        size_t within = (size_t)snprintf(request, request_size_max,
                                         "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ");
        size_t pad = head_sizes[k] - within - 4;
        memset(request + within, 'a', pad);
        within += pad;
        within += (size_t)snprintf(request + within, request_size_max - within, "\r\n\r\n");
        ASSERT_EQ_INT(within, head_sizes[k]);
        served_status = S_raw_status(request, within, served, sizeof served);
    }
    free(request);
    if (served_status != 200)
        TEST_FAIL_("a head within 16 KiB: %d %.80s", served_status, served);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 3000);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 0);

    struct client_response res;
    ASSERT_EQ_INT(
        api_call_idem(&S_client, "POST", "/v1/transfers", a.token, "big-head", body, &res), 201);
    ASSERT(strcmp(api_header(&res, "Idempotent-Replayed"), "true") != 0);
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 700);
}

TEST(oversize_bodies_are_413)
{
    // A payment announcing a body over --http-body-size-max is refused before its body is
    // read, and a chunked one once it has streamed past the limit: 413 PAYLOAD_TOO_LARGE,
    // nothing applied, nothing kept under its key.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 3000));
    char body[256];
    snprintf(body, sizeof body, "{\"to\":\"%s\",\"amount\":900,\"payment_password\":\"%s\"}",
             b.phone, TH_PAY_PASSWORD);

    /* Announced: the headers alone get the answer. */
    char head[512];
    S_transfer_head(head, sizeof head, a.token, "big-body", 70 * 1024);
    int fd = S_connect();
    ASSERT(fd >= 0);
    ASSERT(S_send_all(fd, head, strlen(head)));
    char reply[S_REPLY_SIZE_MAX];
    long long start_ms = S_now_ms();
    /* The answer comes at once; the connection may stay open for the next request. */
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    ASSERT(poll(&pfd, 1, 5000) == 1);
    ssize_t n = recv(fd, reply, sizeof reply - 1, 0);
    close(fd);
    ASSERT(n > 0);
    reply[n] = '\0';
    if (S_reply_status(reply) != 413 || strstr(reply, "\"PAYLOAD_TOO_LARGE\"") == NULL)
        TEST_FAIL_("an announced oversize body: %.200s", reply);
    ASSERT(S_now_ms() - start_ms < S_TIMEOUT_S * 1000);

    /* Chunked: 70 chunks of 1 KiB. */
    size_t request_size_max = 128 * 1024;
    char *request = malloc(request_size_max);
    ASSERT(request != NULL);
    size_t used = (size_t)snprintf(request, request_size_max,
                                   "POST /v1/transfers HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                   "Authorization: Bearer %s\r\nIdempotency-Key: big-body\r\n"
                                   "Content-Type: application/json\r\n"
                                   "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
                                   a.token);
    for (int i = 0; i < 70; i++) {
        used += (size_t)snprintf(request + used, request_size_max - used, "400\r\n");
        memset(request + used, ' ', 1024);
        used += 1024;
        used += (size_t)snprintf(request + used, request_size_max - used, "\r\n");
    }
    used += (size_t)snprintf(request + used, request_size_max - used, "0\r\n\r\n");
    int status = S_raw_status(request, used, reply, sizeof reply);
    free(request);
    if (status != 413 || strstr(reply, "\"PAYLOAD_TOO_LARGE\"") == NULL)
        TEST_FAIL_("a chunked oversize body: %d %.200s", status, reply);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 3000);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 0);

    struct client_response res;
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/transfers", a.token, "big-body", body,
                                &res),
                  201);
    ASSERT(strcmp(api_header(&res, "Idempotent-Replayed"), "true") != 0);
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 900);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    const char *const args[] = {"--http-timeout-s", S_TIMEOUT_TEXT, NULL};
    if (!api_suite_daemon(&suite, &S_daemon, "main", args, S_admin, &S_client))
        return api_suite_end(&suite);
    const char *colon = strrchr(S_daemon.address, ':');
    S_port = colon != NULL ? (unsigned short)strtoul(colon + 1, NULL, 10) : 0;

    RUN(a_silent_connection_is_closed);
    RUN(headers_a_byte_at_a_time_are_cut_off);
    RUN(a_refused_connection_trickling_bytes_is_cut_off);
    RUN(a_blank_line_after_a_body_does_not_shorten_the_next_request);
    RUN(fifty_slow_clients_do_not_hold_up_others);
    RUN(a_stalled_body_applies_nothing);
    RUN(oversize_headers_are_431);
    RUN(oversize_bodies_are_413);

    return api_suite_end(&suite);
}

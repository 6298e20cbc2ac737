/*
 * test_server.c — the HTTP server with test routes over a real ledger.
 *
 * The server runs in-process on 127.0.0.1:0 with one HTTP thread and a route
 * table of its own: routes that answer at once, and routes that hand a
 * command to a real ledger executor (SQLite in a temporary directory) and
 * suspend until its batch committed. The client is a plain socket writing
 * HTTP/1.1 by hand, so that the tests also control chunked bodies and how
 * many requests are in flight at once.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/money.h"
#include "http/internal.h"
#include "test.h"

#define S_BODY_SIZE_MAX 1024
#define S_RESPONSE_SIZE_MAX 65536
#define S_ADMIN_TOKEN "test-admin-token-0123456789abcdef"

static struct store *S_writer;
static struct store_pool *S_pool;
static struct ledger *S_ledger;
static struct http_server *S_server;

/* --- test routes ---------------------------------------------------------- */

struct account_op {
    struct ledger_cmd cmd; /* first: the resume function casts back */
    char owner[LEDGER_OWNER_SIZE_MAX];
    bool fail;
    int64_t account_id;
};

static enum qb_error S_run_account_create(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct account_op *op = (struct account_op *)cmd;
    if (op->fail)
        return QB_E_INSUFFICIENT_BALANCE;
    struct ledger_account_spec spec = {op->owner, currency_find("CNY"), LEDGER_ACCOUNT_USER, 0, 0};
    return ledger_txn_account_create(txn, &spec, &op->account_id);
}

static void S_resume_account_create(struct http_request *req, struct ledger_cmd *cmd)
{
    struct account_op *op = (struct account_op *)cmd;
    enum qb_error result = cmd->result;
    ledger_cmd_release(cmd);
    if (result != QB_OK) {
        http_reply_error(req, result);
        return;
    }
    json_t *body = json_pack("{s:I}", "account_id", (json_int_t)op->account_id);
    http_reply_json(req, 201, body);
    json_decref(body);
}

/* POST /t/accounts/{outcome}: creates an account through the executor, or
 * (outcome "fail") runs a command that fails. */
static void S_handle_account_create(struct http_request *req)
{
    struct account_op *op = http_request_alloc(req, sizeof *op);
    if (op == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    ledger_cmd_init(&op->cmd, S_run_account_create, NULL);
    snprintf(op->owner, sizeof op->owner, "user:%s", http_request_id(req));
    op->fail = strcmp(http_request_param(req, "outcome"), "fail") == 0;
    http_request_submit(req, &op->cmd, S_resume_account_create);
}

static void S_handle_item(struct http_request *req)
{
    json_t *body = json_pack("{s:s}", "id", http_request_param(req, "id"));
    http_reply_json(req, 200, body);
    json_decref(body);
}

static void S_handle_echo(struct http_request *req)
{
    json_t *body = json_pack("{s:I}", "size", (json_int_t)http_request_body(req)->size);
    http_reply_json(req, 200, body);
    json_decref(body);
}

static void S_handle_admin(struct http_request *req)
{
    http_reply_raw(req, 200, "text/plain", "admin\n", 6);
}

static const struct http_route S_routes[] = {
    {"POST", "/t/accounts/{outcome}", S_handle_account_create, HTTP_AUTH_NONE, NULL},
    {"GET", "/t/items/{id}", S_handle_item, HTTP_AUTH_NONE, NULL},
    {"POST", "/t/echo", S_handle_echo, HTTP_AUTH_NONE, NULL},
    {"GET", "/t/admin", S_handle_admin, HTTP_AUTH_ADMIN, NULL},
};

/* --- a hand-written HTTP/1.1 client ---------------------------------------- */

static int S_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(http_server_port(S_server));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static bool S_send_all(int fd, const char *data, size_t size)
{
    while (size > 0) {
        ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
        if (n <= 0)
            return false;
        data += n;
        size -= (size_t)n;
    }
    return true;
}

/* Reads until the server closes; the status code, or -1. */
static int S_receive(int fd, char *response, size_t response_size)
{
    size_t used = 0;
    for (;;) {
        ssize_t n = recv(fd, response + used, response_size - 1 - used, 0);
        if (n <= 0)
            break;
        used += (size_t)n;
        if (used == response_size - 1)
            break;
    }
    response[used] = '\0';
    int status = -1;
    if (strncmp(response, "HTTP/1.1 ", 9) == 0)
        status = (int)strtol(response + 9, NULL, 10);
    return status;
}

/* One request on its own connection ("Connection: close" is added). */
static int S_http(const char *head, const char *body, char *response, size_t response_size)
{
    int fd = S_connect();
    if (fd < 0)
        return -1;
    char request[8192];
    snprintf(request, sizeof request, "%sConnection: close\r\n\r\n%s", head, body);
    int status = -1;
    if (S_send_all(fd, request, strlen(request)))
        status = S_receive(fd, response, response_size);
    close(fd);
    return status;
}

/* The JSON body of a response (after the blank line). */
static json_t *S_body_json(const char *response)
{
    const char *body = strstr(response, "\r\n\r\n");
    return body != NULL ? json_loads(body + 4, 0, NULL) : NULL;
}

static char S_response[S_RESPONSE_SIZE_MAX];

/* --- tests ------------------------------------------------------------------- */

TEST(routes_check_refuses_malformed_tables)
{
    // A malformed route table must stop the daemon at start, not misroute requests later.
    char err[256];
    struct http_route bad[] = {{"GET", "no-slash", S_handle_item, HTTP_AUTH_NONE, NULL}};
    ASSERT(!http_routes_check(bad, 1, err, sizeof err));
    bad[0].pattern = "/a/{id";
    ASSERT(!http_routes_check(bad, 1, err, sizeof err));
    bad[0].pattern = "/a/x{id}";
    ASSERT(!http_routes_check(bad, 1, err, sizeof err));
    bad[0].pattern = "/a/{}";
    ASSERT(!http_routes_check(bad, 1, err, sizeof err));
    bad[0].pattern = "/{a}/{b}/{c}/{d}/{e}";
    ASSERT(!http_routes_check(bad, 1, err, sizeof err));
    struct http_route twice[] = {{"GET", "/a", S_handle_item, HTTP_AUTH_NONE, NULL},
                                 {"GET", "/a", S_handle_item, HTTP_AUTH_NONE, NULL}};
    ASSERT(!http_routes_check(twice, 2, err, sizeof err));
    ASSERT(strstr(err, "twice") != NULL);
    ASSERT(http_routes_check(S_routes, QB_ARRAY_COUNT(S_routes), err, sizeof err));
    ASSERT(http_routes_check(http_routes, http_route_count, err, sizeof err));
}

TEST(route_find_tells_404_from_405)
{
    // 404 and 405 carry different advice to a client, so matching must tell an unknown path from a
    // wrong method.
    size_t index = 99;
    char allow[64];
    size_t count = QB_ARRAY_COUNT(S_routes);
    ASSERT_EQ_INT(http_route_find(S_routes, count, "GET", "/t/items/x", &index, allow, 64),
                  HTTP_MATCH_FOUND);
    ASSERT_EQ_INT(index, 1);
    ASSERT_EQ_INT(http_route_find(S_routes, count, "HEAD", "/t/items/x", &index, allow, 64),
                  HTTP_MATCH_FOUND);
    ASSERT_EQ_INT(http_route_find(S_routes, count, "GET", "/t/items/", &index, allow, 64),
                  HTTP_MATCH_NO_PATH);
    ASSERT_EQ_INT(http_route_find(S_routes, count, "GET", "/t/items/x/y", &index, allow, 64),
                  HTTP_MATCH_NO_PATH);
    ASSERT_EQ_INT(http_route_find(S_routes, count, "DELETE", "/t/items/x", &index, allow, 64),
                  HTTP_MATCH_NO_METHOD);
    ASSERT_EQ_STR(allow, "GET, HEAD"); /* HEAD is answered wherever GET is */
}

TEST(path_params_reach_the_handler)
{
    // Handlers read ids from the path; the value must be the segment, exactly.
    int status = S_http("GET /t/items/tr_abc-123 HTTP/1.1\r\nHost: t\r\n", "", S_response,
                        sizeof S_response);
    ASSERT_EQ_INT(status, 200);
    ASSERT(strstr(S_response, "\r\nX-Request-Id: req_") != NULL);
    json_t *body = S_body_json(S_response);
    ASSERT(body != NULL);
    ASSERT_EQ_STR(json_string_value(json_object_get(body, "id")), "tr_abc-123");
    json_decref(body);
}

TEST(path_params_are_unescaped_and_literals_are_not)
{
    // A parameter reaches the handler unescaped; a literal segment matches only as written, and
    // an escaped slash is no path at all.
    int status = S_http("GET /t/items/tr_a%7Cb%2D1 HTTP/1.1\r\nHost: t\r\n", "", S_response,
                        sizeof S_response);
    ASSERT_EQ_INT(status, 200);
    json_t *body = S_body_json(S_response);
    ASSERT(body != NULL);
    ASSERT_EQ_STR(json_string_value(json_object_get(body, "id")), "tr_a|b-1");
    json_decref(body);
    status = S_http("GET /t/it%65ms/x HTTP/1.1\r\nHost: t\r\n", "", S_response, sizeof S_response);
    ASSERT_EQ_INT(status, 404);
    status = S_http("GET /t/items%2Fx HTTP/1.1\r\nHost: t\r\n", "", S_response, sizeof S_response);
    ASSERT_EQ_INT(status, 400);
}

TEST(submitted_request_answers_after_commit)
{
    // A write is acknowledged only after its batch committed: the account must be readable when the
    // 201 arrives.
    int status = S_http("POST /t/accounts/ok HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n", "",
                        S_response, sizeof S_response);
    ASSERT_EQ_INT(status, 201);
    json_t *body = S_body_json(S_response);
    ASSERT(body != NULL);
    int64_t account_id = json_integer_value(json_object_get(body, "account_id"));
    json_decref(body);
    ASSERT(account_id > 0);
    struct ledger_account_view view;
    ASSERT_EQ_INT(ledger_account_view(S_ledger, account_id, &view), QB_OK);
    ASSERT_EQ_INT(view.balance_minor, 0);
}

TEST(failed_command_answers_its_error)
{
    // A command the ledger refused must reach the client as that error, in the error shape.
    int status = S_http("POST /t/accounts/fail HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n", "",
                        S_response, sizeof S_response);
    ASSERT_EQ_INT(status, 402);
    json_t *body = S_body_json(S_response);
    ASSERT(body != NULL);
    ASSERT_EQ_STR(json_string_value(json_object_get(body, "code")), "INSUFFICIENT_BALANCE");
    json_decref(body);
}

TEST(one_thread_serves_many_suspended_requests)
{
    // Suspension must free the HTTP thread: with one thread, 64 writes in flight at once all
    // complete.
    enum { count = 64 };
    int fds[count];
    const char *request =
        "POST /t/accounts/ok HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    for (int i = 0; i < count; i++) {
        fds[i] = S_connect();
        ASSERT(fds[i] >= 0);
        ASSERT(S_send_all(fds[i], request, strlen(request)));
    }
    int64_t ids[count];
    for (int i = 0; i < count; i++) {
        int status = S_receive(fds[i], S_response, sizeof S_response);
        close(fds[i]);
        ASSERT_EQ_INT(status, 201);
        json_t *body = S_body_json(S_response);
        ASSERT(body != NULL);
        ids[i] = json_integer_value(json_object_get(body, "account_id"));
        json_decref(body);
        for (int j = 0; j < i; j++)
            ASSERT_NE_INT(ids[i], ids[j]);
    }
}

TEST(admin_route_needs_the_token)
{
    // Admin routes freeze accounts and read anyone's data: only the exact admin token may pass.
    int status = S_http("GET /t/admin HTTP/1.1\r\nHost: t\r\n", "", S_response, sizeof S_response);
    ASSERT_EQ_INT(status, 401);
    ASSERT(strstr(S_response, "\"code\":\"UNAUTHORIZED\"") != NULL);
    ASSERT(strstr(S_response, "WWW-Authenticate: Bearer") != NULL);
    status =
        S_http("GET /t/admin HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " S_ADMIN_TOKEN "x\r\n",
               "", S_response, sizeof S_response);
    ASSERT_EQ_INT(status, 401);
    status =
        S_http("GET /t/admin HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " S_ADMIN_TOKEN "\r\n",
               "", S_response, sizeof S_response);
    ASSERT_EQ_INT(status, 200);
}

TEST(chunked_body_past_the_limit_is_413)
{
    // A chunked body has no Content-Length to refuse up front; the limit must still hold while it
    // streams.
    char body[4096];
    snprintf(body, sizeof body, "400\r\n%01024d\r\n1\r\nx\r\n0\r\n\r\n", 0);
    int status = S_http("POST /t/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n", body,
                        S_response, sizeof S_response);
    ASSERT_EQ_INT(status, 413);
    ASSERT(strstr(S_response, "\"code\":\"PAYLOAD_TOO_LARGE\"") != NULL);

    snprintf(body, sizeof body, "400\r\n%01024d\r\n0\r\n\r\n", 0);
    status = S_http("POST /t/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n", body,
                    S_response, sizeof S_response);
    ASSERT_EQ_INT(status, 200);
    ASSERT(strstr(S_response, "{\"size\":1024}") != NULL);
}

TEST(metrics_histogram_is_cumulative)
{
    // Prometheus buckets count everything at or below their bound; per-bucket counts would be read
    // wrongly.
    struct http_metrics metrics;
    ASSERT_EQ_INT(http_metrics_init(&metrics, 1), QB_OK);
    http_metrics_observe(&metrics, 0, 200, 50);
    http_metrics_observe(&metrics, 0, 200, 300);
    http_metrics_observe(&metrics, 0, 299, 20000000);
    struct buf out;
    buf_init(&out, 1 << 20);
    struct http_route route = {"GET", "/x", S_handle_item, HTTP_AUTH_NONE, NULL};
    ASSERT_EQ_INT(http_metrics_render(&metrics, &route, NULL, &out), QB_OK);
    http_metrics_release(&metrics);
    const char *text = out.data;
    bool ok = strstr(text, "{method=\"GET\",route=\"/x\",le=\"0.0001\"} 1\n") != NULL &&
              strstr(text, "{method=\"GET\",route=\"/x\",le=\"0.0005\"} 2\n") != NULL &&
              strstr(text, "{method=\"GET\",route=\"/x\",le=\"10\"} 2\n") != NULL &&
              strstr(text, "{method=\"GET\",route=\"/x\",le=\"+Inf\"} 3\n") != NULL &&
              strstr(text, "_sum{method=\"GET\",route=\"/x\"} 20.00035\n") != NULL &&
              strstr(text, "_count{method=\"GET\",route=\"/x\"} 3\n") != NULL &&
              strstr(text, "route=\"/x\",status=\"200\"} 2\n") != NULL &&
              strstr(text, "route=\"/x\",status=\"other\"} 1\n") != NULL;
    if (!ok)
        fprintf(stderr, "%s", text);
    buf_release(&out);
    ASSERT(ok);
}

/* Reads one keep-alive response (headers, then Content-Length bytes); the
 * status code, or -1. */
static int S_receive_one(int fd, char *response, size_t response_size)
{
    size_t used = 0;
    const char *head_end = NULL;
    size_t total = 0;
    while (total == 0 || used < total) {
        ssize_t n = recv(fd, response + used, response_size - 1 - used, 0);
        if (n <= 0)
            return -1;
        used += (size_t)n;
        response[used] = '\0';
        if (total == 0 && (head_end = strstr(response, "\r\n\r\n")) != NULL) {
            const char *length = strstr(response, "Content-Length: ");
            if (length == NULL)
                return -1;
            total = (size_t)(head_end + 4 - response) + (size_t)strtol(length + 16, NULL, 10);
        }
    }
    return strncmp(response, "HTTP/1.1 ", 9) == 0 ? (int)strtol(response + 9, NULL, 10) : -1;
}

/* Requests answered so far on route index, any status. */
static uint64_t S_route_answered(size_t index)
{
    uint64_t sum = 0;
    for (int i = 0; i < HTTP_STATUS_SLOTS; i++)
        sum += atomic_load(&S_server->metrics.routes[index].requests[i]);
    return sum;
}

TEST(shutdown_answers_every_request_in_flight)
{
    // The shutdown order must answer every accepted write (201, or 503 once refused), never drop
    // one.
    enum { count = 32 };
    int fds[count + 1];
    const char *warm = "GET /t/items/w HTTP/1.1\r\nHost: t\r\n\r\n";
    const char *post =
        "POST /t/accounts/ok HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    /* Connections the server has accepted (a quiesced server accepts no new ones). */
    for (int i = 0; i <= count; i++) {
        fds[i] = S_connect();
        ASSERT(fds[i] >= 0);
        ASSERT(S_send_all(fds[i], warm, strlen(warm)));
        ASSERT_EQ_INT(S_receive_one(fds[i], S_response, sizeof S_response), 200);
    }
    uint64_t answered_before = S_route_answered(0);
    for (int i = 0; i < count; i++)
        ASSERT(S_send_all(fds[i], post, strlen(post)));
    /* Shut down once every write has been received (in flight or answered),
     * so that most of them are with the ledger when it is closed. */
    for (int waited_ms = 0; waited_ms < 5000; waited_ms++) {
        int64_t received = atomic_load(&S_server->requests_in_flight) +
                           (int64_t)(S_route_answered(0) - answered_before);
        if (received >= count)
            break;
        usleep(1000);
    }

    /* qianbaod's order on SIGTERM. */
    http_server_quiesce(S_server);
    struct ledger *ledger = http_server_detach_ledger(S_server);
    ASSERT(ledger == S_ledger);
    ledger_close(ledger);
    S_ledger = NULL;

    int committed = 0;
    int refused = 0;
    for (int i = 0; i < count; i++) {
        int status = S_receive(fds[i], S_response, sizeof S_response);
        close(fds[i]);
        if (status != 201 && status != 503)
            TEST_FAIL_("request %d in flight got %d", i, status);
        committed += status == 201;
        refused += status == 503;
    }
    fprintf(stderr, "  in flight at shutdown: %d committed, %d refused\n", committed, refused);
    ASSERT_EQ_INT(committed + refused, count);

    /* A write that arrives now is refused cleanly, never handed to the closed ledger. */
    ASSERT(S_send_all(fds[count], post, strlen(post)));
    int status = S_receive(fds[count], S_response, sizeof S_response);
    close(fds[count]);
    ASSERT_EQ_INT(status, 503);
    ASSERT(strstr(S_response, "\"code\":\"SHUTTING_DOWN\"") != NULL);
    ASSERT(strstr(S_response, "Connection: close") != NULL);

    http_server_stop(S_server);
    S_server = NULL;
}

/* A connected socket's fate within timeout_ms: 1 answered, 0 closed
 * without an answer, -1 neither (still waiting). */
static int S_fate(int fd, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, timeout_ms) != 1)
        return -1;
    char byte;
    ssize_t n = recv(fd, &byte, 1, MSG_PEEK);
    return n > 0 ? 1 : 0;
}

static void S_connect_to(int fd, uint16_t port)
{
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)connect(fd, (struct sockaddr *)&addr, sizeof addr);
}

static const char S_get_item[] = "GET /t/items/7 HTTP/1.1\r\nHost: t\r\n\r\n";

static double S_cpu_s(void)
{
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (double)usage.ru_utime.tv_sec + (double)usage.ru_utime.tv_usec / 1e6 +
           (double)usage.ru_stime.tv_sec + (double)usage.ru_stime.tv_usec / 1e6;
}

TEST(connections_past_the_limit_are_closed)
{
    // A second server allows 16 connections: the 17th is closed unanswered, and once one of
    // the 16 goes, a new one is served.
    struct http_server_options options = {
        .listen = "127.0.0.1:0",
        .threads = 2,
        .connections_max = 16,
        .body_size_max = S_BODY_SIZE_MAX,
        .routes = S_routes,
        .route_count = QB_ARRAY_COUNT(S_routes),
        .pool = S_pool,
    };
    struct http_server *server;
    char err[256];
    ASSERT(http_server_start(&options, &server, err, sizeof err) == QB_OK);
    int fds[17];
    for (int i = 0; i < 17; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        ASSERT(fds[i] >= 0);
        S_connect_to(fds[i], http_server_port(server));
        ASSERT(S_send_all(fds[i], S_get_item, sizeof S_get_item - 1));
        int fate = S_fate(fds[i], 2000);
        if (i < 16 && fate != 1)
            TEST_FAIL_("connection %d of 16: %s", i + 1, fate == 0 ? "closed" : "no answer");
        if (i == 16 && fate != 0)
            TEST_FAIL_("the 17th connection was %s", fate == 1 ? "served" : "left waiting");
    }
    close(fds[16]);
    close(fds[0]);
    /* The server sees the close on its next turn. */
    int fate = 0;
    for (int attempt = 0; attempt < 50 && fate != 1; attempt++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        ASSERT(fd >= 0);
        S_connect_to(fd, http_server_port(server));
        ASSERT(S_send_all(fd, S_get_item, sizeof S_get_item - 1));
        fate = S_fate(fd, 2000);
        close(fd);
        if (fate != 1) {
            struct timespec pause = {0, 20 * 1000 * 1000};
            nanosleep(&pause, NULL);
        }
    }
    ASSERT_EQ_INT(fate, 1);
    for (int i = 1; i < 16; i++)
        close(fds[i]);
    http_server_quiesce(server);
    (void)http_server_detach_ledger(server);
    http_server_stop(server);
}

/* The highest file descriptor the process has open. */
static int S_fd_max(void)
{
    DIR *dir = opendir("/proc/self/fd");
    if (dir == NULL)
        return -1;
    int max = -1;
    struct dirent *d;
    while ((d = readdir(dir)) != NULL) {
        int fd = atoi(d->d_name);
        if (d->d_name[0] != '.' && fd > max)
            max = fd;
    }
    closedir(dir);
    return max;
}

TEST(out_of_descriptors_a_connection_is_shed_without_spinning)
{
    // With the process out of file descriptors the server cannot accept; a connection left
    // waiting would keep the listening socket ready and the HTTP thread spinning on it, and
    // the client waiting for ever. Each is answered or closed instead, the process stays
    // idle meanwhile, and once descriptors are free again connections are served.
    enum { clients = 24 };
    int fds[clients];
    for (int i = 0; i < clients; i++) { /* made first: only the server's accepts need more */
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        ASSERT(fds[i] >= 0);
    }
    struct rlimit old;
    ASSERT(getrlimit(RLIMIT_NOFILE, &old) == 0);
    int fd_max = S_fd_max();
    ASSERT(fd_max > 0);
    struct rlimit low = old;
    low.rlim_cur = (rlim_t)fd_max + 1;
    if (setrlimit(RLIMIT_NOFILE, &low) != 0) {
        /* valgrind keeps the descriptor limit to itself; every other run
         * (dev, asan, tsan) checks this. */
        fprintf(stderr, "  skipped: the descriptor limit cannot be lowered here\n");
        for (int i = 0; i < clients; i++)
            close(fds[i]);
        return;
    }
    /* Every free number below the limit taken, then four given back: room
     * for four accepted connections. */
    int fillers[4096];
    int filler_count = 0;
    while (filler_count < 4096) {
        int fd = dup(fds[0]);
        if (fd < 0)
            break;
        fillers[filler_count++] = fd;
    }
    for (int i = 0; i < 4 && filler_count > 0; i++)
        close(fillers[--filler_count]);
    int served = 0, shed = 0, waiting = 0;
    for (int i = 0; i < clients; i++) {
        S_connect_to(fds[i], http_server_port(S_server));
        if (!S_send_all(fds[i], S_get_item, sizeof S_get_item - 1))
            continue;
        int fate = S_fate(fds[i], 1000);
        served += fate == 1;
        shed += fate == 0;
        waiting += fate == -1;
    }
    double cpu0 = S_cpu_s();
    struct timespec idle = {0, 400 * 1000 * 1000};
    nanosleep(&idle, NULL);
    double cpu_s = S_cpu_s() - cpu0;
    ASSERT(setrlimit(RLIMIT_NOFILE, &old) == 0);
    for (int i = 0; i < filler_count; i++)
        close(fillers[i]);
    for (int i = 0; i < clients; i++)
        close(fds[i]);
    fprintf(stderr, "  served %d, shed %d, left waiting %d; %.0f ms of CPU in 400 ms idle\n",
            served, shed, waiting, cpu_s * 1000);
    ASSERT(served >= 1);
    ASSERT(shed >= 1);
    ASSERT_EQ_INT(waiting, 0);
    ASSERT(cpu_s < 0.1);
    /* Descriptors again: served. */
    ASSERT_EQ_INT(
        S_http("GET /t/items/8 HTTP/1.1\r\nHost: t\r\n", "", S_response, sizeof S_response), 200);
}

int main(void)
{
    char dir[512];
    char db[600];
    char err[512] = "";
    test_tmpdir(dir, sizeof dir);
    snprintf(db, sizeof db, "%s/qianbao.db", dir);
    if (!crypto_init() || store_open(db, STORE_MODE_WRITE, &S_writer, err, sizeof err) != QB_OK ||
        store_pool_open(db, 2, &S_pool, err, sizeof err) != QB_OK ||
        ledger_open(S_writer, NULL, &S_ledger) != QB_OK) {
        fprintf(stderr, "setup failed: %s\n", err);
        return 1;
    }
    struct http_server_options options = {
        .listen = "127.0.0.1:0",
        .threads = 1,
        .connections_max = 256,
        .body_size_max = S_BODY_SIZE_MAX,
        .routes = S_routes,
        .route_count = QB_ARRAY_COUNT(S_routes),
        .ledger = S_ledger,
        .pool = S_pool,
        .admin_token = S_ADMIN_TOKEN,
        .version = "test",
    };
    if (http_server_start(&options, &S_server, err, sizeof err) != QB_OK) {
        fprintf(stderr, "server start failed: %s\n", err);
        return 1;
    }

    RUN(routes_check_refuses_malformed_tables);
    RUN(route_find_tells_404_from_405);
    RUN(path_params_reach_the_handler);
    RUN(path_params_are_unescaped_and_literals_are_not);
    RUN(submitted_request_answers_after_commit);
    RUN(failed_command_answers_its_error);
    RUN(one_thread_serves_many_suspended_requests);
    RUN(admin_route_needs_the_token);
    RUN(chunked_body_past_the_limit_is_413);
    RUN(metrics_histogram_is_cumulative);
    RUN(connections_past_the_limit_are_closed);
    RUN(out_of_descriptors_a_connection_is_shed_without_spinning);
    RUN(shutdown_answers_every_request_in_flight);

    if (S_server != NULL) {
        http_server_quiesce(S_server);
        struct ledger *ledger = http_server_detach_ledger(S_server);
        if (ledger != NULL)
            ledger_close(ledger);
        http_server_stop(S_server);
    }
    store_pool_close(S_pool);
    store_close(S_writer);
    test_rmtree(dir);
    return test_summary();
}

/*
 * test_verification.c — the operator's ledger check started by several
 * requests at once.
 *
 * POST /admin/ledger/verification joins the last check's thread before it
 * starts the next one. Requests that arrive together after a check ended
 * must not both join that thread (joining a thread twice is undefined: the
 * second join may wait for a thread that reused its descriptor, or fail),
 * nor read the thread's handle while another request writes the next one.
 * Each round here sends the POST on several connections at once, checks
 * that every one is answered 202, and waits until the check has finished;
 * the tsan preset sees any unordered access to the handle.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/log.h"
#include "http/internal.h"
#include "test.h"

#define S_ADMIN_TOKEN "test-admin-token-0123456789abcdef"
#define S_CONNECTIONS 6
#define S_ROUNDS 100

static struct http_server *S_server;

static const struct http_route S_routes[] = {
    {"POST", "/admin/ledger/verification", http_handle_admin_verification_start, HTTP_AUTH_ADMIN,
     NULL},
    {"GET", "/admin/ledger/verification", http_handle_admin_verification_get, HTTP_AUTH_ADMIN,
     NULL},
};

static void S_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

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

/* Sends the whole request; false when the connection refused it. */
static bool S_send(int fd, const char *method)
{
    char request[512];
    int size = snprintf(request, sizeof request,
                        "%s /admin/ledger/verification HTTP/1.1\r\nHost: t\r\n"
                        "Authorization: Bearer " S_ADMIN_TOKEN "\r\n"
                        "Content-Length: 0\r\nConnection: close\r\n\r\n",
                        method);
    return send(fd, request, (size_t)size, MSG_NOSIGNAL) == size;
}

/* The status of the response on fd, its body into body (NUL-terminated). */
static int S_receive(int fd, char *body, size_t body_size)
{
    char response[8192];
    size_t used = 0;
    for (;;) {
        ssize_t n = recv(fd, response + used, sizeof response - 1 - used, 0);
        if (n <= 0)
            break;
        used += (size_t)n;
        if (used == sizeof response - 1)
            break;
    }
    response[used] = '\0';
    const char *start = strstr(response, "\r\n\r\n");
    snprintf(body, body_size, "%s", start != NULL ? start + 4 : "");
    return strncmp(response, "HTTP/1.1 ", 9) == 0 ? (int)strtol(response + 9, NULL, 10) : -1;
}

/* Waits until the last check has finished; false when it did not in time. */
static bool S_wait_finished(void)
{
    for (int waited_ms = 0; waited_ms < 10000; waited_ms += 5) {
        int fd = S_connect();
        char body[4096] = "";
        int status = fd >= 0 && S_send(fd, "GET") ? S_receive(fd, body, sizeof body) : -1;
        if (fd >= 0)
            close(fd);
        if (status == 200 && strstr(body, "\"status\":\"running\"") == NULL)
            return strstr(body, "\"status\":\"ok\"") != NULL;
        S_sleep_ms(5);
    }
    return false;
}

TEST(checks_started_together_are_each_answered_and_joined_once)
{
    for (int round = 0; round < S_ROUNDS; round++) {
        int fds[S_CONNECTIONS];
        for (int i = 0; i < S_CONNECTIONS; i++) {
            fds[i] = S_connect();
            ASSERT(fds[i] >= 0);
        }
        for (int i = 0; i < S_CONNECTIONS; i++)
            ASSERT(S_send(fds[i], "POST"));
        for (int i = 0; i < S_CONNECTIONS; i++) {
            char body[4096];
            int status = S_receive(fds[i], body, sizeof body);
            close(fds[i]);
            if (status != 202)
                TEST_FAIL_("round %d, request %d: %d %s", round, i, status, body);
        }
        ASSERT(S_wait_finished());
    }
}

int main(void)
{
    log_init(stderr, LOG_WARN); /* not a line per request */
    char dir[512], db[600], err[256] = "";
    test_tmpdir(dir, sizeof dir);
    snprintf(db, sizeof db, "%s/qianbao.db", dir);
    struct store *writer = NULL;
    struct store_pool *pool = NULL;
    if (store_open(db, STORE_MODE_WRITE, &writer, err, sizeof err) != QB_OK ||
        store_pool_open(db, 2, &pool, err, sizeof err) != QB_OK) {
        fprintf(stderr, "setup failed: %s\n", err);
        return 1;
    }
    struct http_server_options options = {
        .listen = "127.0.0.1:0",
        .threads = S_CONNECTIONS,
        .connections_max = 64,
        .body_size_max = 1024,
        .routes = S_routes,
        .route_count = QB_ARRAY_COUNT(S_routes),
        .pool = pool,
        .admin_token = S_ADMIN_TOKEN,
        .version = "test",
    };
    if (http_server_start(&options, &S_server, err, sizeof err) != QB_OK) {
        fprintf(stderr, "server start failed: %s\n", err);
        return 1;
    }

    RUN(checks_started_together_are_each_answered_and_joined_once);

    http_server_quiesce(S_server);
    http_server_stop(S_server);
    store_pool_close(pool);
    store_close(writer);
    test_rmtree(dir);
    return test_summary();
}

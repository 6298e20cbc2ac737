/*
 * test_shutdown.c — stopping the server while its HTTP threads are awake.
 *
 * qianbaod stops on SIGTERM with http_server_quiesce and then
 * http_server_stop, usually a moment after a client closed its
 * connections, so HTTP threads are often running just then. An earlier
 * HTTP layer took the listening socket out of each thread's epoll set from
 * the stopping thread while those threads could take it out too, and
 * whichever lost that race aborted the process; the server now never
 * touches another thread's epoll set, and this test keeps it so.
 *
 * The window is a few instructions wide, so this test widens it: it
 * defines epoll_ctl, which the dynamic linker then binds the process's
 * calls to, and whenever the thread stopping the server takes a socket out
 * of an epoll set, that thread first wakes the HTTP threads with a new
 * connection and lets them run for a while. A client thread keeps
 * connecting meanwhile, so the HTTP threads are awake during the whole
 * stop. The process must survive, with one HTTP thread and with a pool of
 * them, and a quiesced server must serve no new connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "http/internal.h"
#include "test.h"

#define S_WIDEN_MS 200
#define S_READ_TIMEOUT_MS 500

static pthread_t S_stopping_thread;
static atomic_bool S_widen;
static atomic_int S_port;
static atomic_bool S_clients_stop;

static void S_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* A connection to the server, made without waiting for it to be accepted. */
static int S_connect_nowait(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)atomic_load(&S_port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)connect(fd, (struct sockaddr *)&addr, sizeof addr);
    return fd;
}

/* Every epoll_ctl of the process. */
int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
    if (op == EPOLL_CTL_DEL && atomic_load(&S_widen) &&
        pthread_equal(pthread_self(), S_stopping_thread)) {
        int wake = S_connect_nowait();
        S_sleep_ms(S_WIDEN_MS);
        if (wake >= 0)
            close(wake);
    }
    return (int)syscall(SYS_epoll_ctl, epfd, op, fd, event);
}

static void S_handle_item(struct http_request *req)
{
    http_reply_raw(req, 200, "text/plain", "item\n", 5);
}

static const struct http_route S_routes[] = {
    {"GET", "/t/items/{id}", S_handle_item, HTTP_AUTH_NONE, NULL},
};

/* Connects, sends a request and closes, over and over, until told to stop. */
static void *S_client(void *arg)
{
    (void)arg;
    const char *request = "GET /t/nothing HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    while (!atomic_load(&S_clients_stop)) {
        int fd = S_connect_nowait();
        if (fd < 0)
            continue;
        S_sleep_ms(1);
        (void)!write(fd, request, strlen(request));
        S_sleep_ms(1);
        close(fd);
    }
    return NULL;
}

/* True when a new connection gets an HTTP answer within the timeout. */
static bool S_new_connection_answered(void)
{
    int fd = S_connect_nowait();
    if (fd < 0)
        return false;
    const char *request = "GET /t/nothing HTTP/1.1\r\nHost: t\r\n\r\n";
    char reply[256];
    size_t got = 0;
    bool sent = false;
    for (int waited_ms = 0; waited_ms < S_READ_TIMEOUT_MS && got == 0; waited_ms += 5) {
        if (!sent)
            sent = write(fd, request, strlen(request)) == (ssize_t)strlen(request);
        ssize_t n = read(fd, reply, sizeof reply);
        if (n > 0)
            got = (size_t)n;
        else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTCONN))
            break; /* closed or refused */
        S_sleep_ms(5);
    }
    close(fd);
    return got >= 5 && memcmp(reply, "HTTP/", 5) == 0;
}

static void S_stop_while_busy(struct store_pool *pool, int threads)
{
    struct http_server_options options = {
        .listen = "127.0.0.1:0",
        .threads = threads,
        .connections_max = 64,
        .body_size_max = 1024,
        .routes = S_routes,
        .route_count = QB_ARRAY_COUNT(S_routes),
        .pool = pool,
        .version = "test",
    };
    struct http_server *server = NULL;
    char err[256] = "";
    ASSERT_EQ_INT(http_server_start(&options, &server, err, sizeof err), QB_OK);
    atomic_store(&S_port, http_server_port(server));
    ASSERT(S_new_connection_answered());

    atomic_store(&S_clients_stop, false);
    pthread_t clients[2];
    for (size_t i = 0; i < QB_ARRAY_COUNT(clients); i++)
        ASSERT(pthread_create(&clients[i], NULL, S_client, NULL) == 0);
    S_sleep_ms(20);

    /* qianbaod's first step on SIGTERM, with the HTTP threads awake. */
    S_stopping_thread = pthread_self();
    atomic_store(&S_widen, true);
    http_server_quiesce(server);
    atomic_store(&S_widen, false);

    atomic_store(&S_clients_stop, true);
    for (size_t i = 0; i < QB_ARRAY_COUNT(clients); i++)
        pthread_join(clients[i], NULL);
    ASSERT(!S_new_connection_answered());

    atomic_store(&S_widen, true);
    http_server_stop(server);
    atomic_store(&S_widen, false);
}

TEST(stopping_one_busy_http_thread_does_not_abort)
{
    char dir[512], db[600], err[256] = "";
    test_tmpdir(dir, sizeof dir);
    snprintf(db, sizeof db, "%s/qianbao.db", dir);
    struct store *writer = NULL;
    struct store_pool *pool = NULL;
    ASSERT_EQ_INT(store_open(db, STORE_MODE_WRITE, &writer, err, sizeof err), QB_OK);
    ASSERT_EQ_INT(store_pool_open(db, 1, &pool, err, sizeof err), QB_OK);
    for (int round = 0; round < 2; round++)
        S_stop_while_busy(pool, 1);
    store_pool_close(pool);
    store_close(writer);
    test_rmtree(dir);
}

TEST(stopping_a_busy_pool_of_http_threads_does_not_abort)
{
    char dir[512], db[600], err[256] = "";
    test_tmpdir(dir, sizeof dir);
    snprintf(db, sizeof db, "%s/qianbao.db", dir);
    struct store *writer = NULL;
    struct store_pool *pool = NULL;
    ASSERT_EQ_INT(store_open(db, STORE_MODE_WRITE, &writer, err, sizeof err), QB_OK);
    ASSERT_EQ_INT(store_pool_open(db, 1, &pool, err, sizeof err), QB_OK);
    for (int round = 0; round < 2; round++)
        S_stop_while_busy(pool, 4);
    store_pool_close(pool);
    store_close(writer);
    test_rmtree(dir);
}

int main(void)
{
    log_init(stderr, LOG_WARN); /* not a line per client request */
    RUN(stopping_one_busy_http_thread_does_not_abort);
    RUN(stopping_a_busy_pool_of_http_threads_does_not_abort);
    return test_summary();
}

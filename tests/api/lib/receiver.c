/*
 * receiver.c — the loopback notify_url behind receiver.h.
 *
 * The request is read into one capped buffer on the thread's heap; the
 * answer is written with MSG_NOSIGNAL, since the daemon may be killed
 * between its request and our answer and a SIGPIPE would end the test.
 */
#define _GNU_SOURCE /* strcasestr */
#include "api/lib/receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* Reads one request from fd into buf and, when it came whole, answers
 * what the handler says. */
static void S_serve_one(struct receiver *r, int fd, char *buf)
{
    size_t size = 0;
    char *end = NULL;
    size_t length = 0;
    bool whole = false;
    while (size < RECEIVER_REQUEST_SIZE_MAX - 1) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, RECEIVER_READ_TIMEOUT_MS) <= 0)
            break;
        ssize_t n = read(fd, buf + size, RECEIVER_REQUEST_SIZE_MAX - 1 - size);
        if (n <= 0)
            break;
        size += (size_t)n;
        buf[size] = '\0';
        if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL) {
            end[2] = '\0'; /* the headers end with their last CRLF */
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            long value = cl != NULL ? strtol(cl + 17, NULL, 10) : 0;
            if (value < 0 || value >= RECEIVER_REQUEST_SIZE_MAX)
                break;
            length = (size_t)value;
        }
        if (end != NULL && size >= (size_t)(end + 4 - buf) + length) {
            whole = true;
            break;
        }
    }
    if (!whole)
        return;
    char *body = end + 4;
    body[length] = '\0';
    struct receiver_request request = {buf, body, length};
    int status = r->handler(r->arg, &request);
    if (status <= 0)
        return;
    char reply[128];
    int n = snprintf(reply, sizeof reply,
                     "HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status);
    (void)send(fd, reply, (size_t)n, MSG_NOSIGNAL);
}

static void *S_main(void *arg)
{
    struct receiver *r = arg;
    char *buf = malloc(RECEIVER_REQUEST_SIZE_MAX);
    if (buf == NULL)
        return NULL;
    while (!atomic_load(&r->stopping)) {
        struct pollfd p = {r->fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int fd = accept(r->fd, NULL, NULL);
        if (fd < 0)
            continue;
        S_serve_one(r, fd, buf);
        close(fd);
    }
    free(buf);
    return NULL;
}

/* A socket bound to 127.0.0.1:port (0: one the kernel picks), not yet
 * listening; its port in *bound_port. -1 when it cannot be bound. */
static int S_bind(int port, int *bound_port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        close(fd);
        return -1;
    }
    *bound_port = ntohs(addr.sin_port);
    return fd;
}

int receiver_reserve(int *port) { return S_bind(0, port); }

bool receiver_start_reserved(struct receiver *r, int fd, receiver_handler_fn handler, void *arg)
{
    memset(r, 0, sizeof *r);
    atomic_init(&r->stopping, false);
    r->handler = handler;
    r->arg = arg;
    r->fd = fd;
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    if (fd < 0 || listen(fd, 16) != 0 || getsockname(fd, (struct sockaddr *)&addr, &len) != 0 ||
        pthread_create(&r->thread, NULL, S_main, r) != 0) {
        if (fd >= 0)
            close(fd);
        r->fd = -1;
        return false;
    }
    r->port = ntohs(addr.sin_port);
    return true;
}

bool receiver_start(struct receiver *r, int port, receiver_handler_fn handler, void *arg)
{
    int bound_port;
    return receiver_start_reserved(r, S_bind(port, &bound_port), handler, arg);
}

void receiver_stop(struct receiver *r)
{
    atomic_store(&r->stopping, true);
    pthread_join(r->thread, NULL);
    close(r->fd);
    r->fd = -1;
}

bool receiver_header(const struct receiver_request *request, const char *name, char *out,
                     size_t out_size)
{
    char needle[64];
    int n = snprintf(needle, sizeof needle, "\r\n%s:", name);
    if (n < 0 || (size_t)n >= sizeof needle)
        return false;
    const char *at = strcasestr(request->headers, needle);
    if (at == NULL)
        return false;
    at += n;
    while (*at == ' ')
        at++;
    size_t size = strcspn(at, "\r\n");
    if (size >= out_size)
        return false;
    memcpy(out, at, size);
    out[size] = '\0';
    return true;
}

/*
 * receiver.h — a merchant's notify_url in the test process: a small HTTP
 * server on the loopback that the daemon's notification worker POSTs to.
 *
 * One thread accepts one connection at a time (the daemon's worker sends
 * one merchant at most two at once: the second waits in the listen queue
 * until the first is answered), reads one request — its header lines and a
 * Content-Length body, RECEIVER_REQUEST_SIZE_MAX bytes in all, waiting
 * RECEIVER_READ_TIMEOUT_MS at most for the next bytes — and hands it to the
 * test's handler, on the receiver's thread. The handler's status is the
 * answer (no body, Connection: close); 0 closes the connection without an
 * answer, as a merchant that crashes does. A request cut short (the daemon
 * killed mid-POST) never reaches the handler.
 *
 * Used by api/test_notify (scripted answers, each request kept) and
 * api/test_crash (each notification opened and logged, some answered 500
 * or not at all, across SIGKILLs of the daemon).
 */
#ifndef QB_TESTS_API_RECEIVER_H
#define QB_TESTS_API_RECEIVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#define RECEIVER_REQUEST_SIZE_MAX 65536
#define RECEIVER_READ_TIMEOUT_MS 5000

struct receiver_request {
    const char *headers; /* the request line and header lines, NUL-terminated */
    const char *body;    /* NUL-terminated */
    size_t body_size;
};

/* The status to answer request with (100..599), or 0: close, no answer. */
typedef int (*receiver_handler_fn)(void *arg, const struct receiver_request *request);

struct receiver {
    int fd;
    int port;
    pthread_t thread;
    atomic_bool stopping;
    receiver_handler_fn handler;
    void *arg;
};

/* Listens on 127.0.0.1:port (0: a free port the kernel picks, then in
 * r->port) and starts the thread. False, with nothing left open, when the
 * port cannot be bound. */
bool receiver_start(struct receiver *r, int port, receiver_handler_fn handler, void *arg);
/* A port of the loopback held for a receiver to come: bound, not listening,
 * so a connection to it is refused and no other process can take it. The
 * socket, or -1 (the port in *port). */
int receiver_reserve(int *port);
/* receiver_start on a socket from receiver_reserve, which it takes over
 * (closed on failure too). */
bool receiver_start_reserved(struct receiver *r, int fd, receiver_handler_fn handler, void *arg);
/* Stops the thread (within about 50 ms of the request it may be serving)
 * and closes the port. */
void receiver_stop(struct receiver *r);

/* The value of header name (case-insensitive) in request, leading blanks
 * removed, into out; false when it is absent or longer than out_size - 1. */
bool receiver_header(const struct receiver_request *request, const char *name, char *out,
                     size_t out_size);

#endif

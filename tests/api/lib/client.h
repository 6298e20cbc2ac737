/*
 * client.h — a small HTTP client for API tests, on libcurl.
 *
 * One call, one request, one fresh connection unless a client is reused:
 *   struct client_response res;
 *   client_request(&c, "GET", "/healthz", NULL, NULL, 0, &res);
 *   ... res.status, res.body.data, client_response_header(&res, "X-Request-Id") ...
 *   client_response_release(&res);
 */
#ifndef QB_TESTS_API_CLIENT_H
#define QB_TESTS_API_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

#define CLIENT_BODY_SIZE_MAX (8 * 1024 * 1024)
#define CLIENT_HEADERS_SIZE_MAX (64 * 1024)
#define CLIENT_TIMEOUT_MS 20000

struct client {
    char base_url[128]; /* "http://127.0.0.1:PORT" */
    void *curl;         /* a CURL handle: keeps connections alive between requests */
    /* Its answers are not checked against docs/openapi.json: a client of
     * the admin listener (--admin-listen), whose 404s the document, written
     * for one listener, does not list. false after client_init. */
    bool openapi_unchecked;
};

struct client_response {
    long status;        /* 0 when the request failed at the transport level */
    struct buf headers; /* the raw header block of the final response */
    struct buf body;
    long connects;   /* new connections this request opened (0: kept alive) */
    char error[256]; /* libcurl's reason when status is 0 */
};

void client_init(struct client *client, const char *base_url);
void client_release(struct client *client);

/* Sends method path (with its query string, if any) with the extra header
 * lines ("Name: value", NULL-terminated, may be NULL) and body (may be
 * NULL). Fills res (always release it). False when no response arrived.
 * Every response is checked against docs/openapi.json (openapi.h), unless
 * client->openapi_unchecked. */
bool client_request(struct client *client, const char *method, const char *path,
                    const char *const *headers, const void *body, size_t body_size,
                    struct client_response *res);

/* The value of a response header (case-insensitive name) copied into buf;
 * NULL when absent. */
const char *client_response_header(const struct client_response *res, const char *name, char *buf,
                                   size_t buf_size);
void client_response_release(struct client_response *res);

#endif

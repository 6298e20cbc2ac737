/*
 * routes.h — the daemon's route table as its source says it is.
 *
 * The API tests link only the test helpers and qb_base, not qb_http, so
 * http_routes[] cannot be iterated; tests that must cover every route
 * (the authorization matrix, the bad-input catalogue) read the entries of
 * http_routes[] from src/http/routes.c ($QB_SOURCE_DIR) instead, so that a
 * new route cannot ship without their entry.
 */
#ifndef QB_TESTS_API_LIB_ROUTES_H
#define QB_TESTS_API_LIB_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#define API_ROUTES_MAX 192

struct api_route {
    char method[16];
    char pattern[256];
    char auth[32]; /* "HTTP_AUTH_USER" */
    bool query_any;  /* HTTP_QUERY_ANY: the route reads what it likes */
    char query[256]; /* else the query arguments it takes, space-separated ("" none) */
};

/* Reads every {"METHOD", "pattern", handler, HTTP_AUTH_KIND, query} entry (an
 * entry may span lines) into routes; false with err saying why. */
bool api_routes_read(struct api_route routes[API_ROUTES_MAX], size_t *count, char *err,
                     size_t err_size);

#endif

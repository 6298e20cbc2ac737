/*
 * routes.c — reading http_routes[] from src/http/routes.c (routes.h).
 */
#include "api/lib/routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/lib/daemon.h"
#include "base/assert.h"

#define S_SOURCE_SIZE_MAX (256 * 1024)

/* Copies the string literal at *p (which points at its opening quote) into
 * out and moves *p past it. False when there is no literal. */
static bool S_literal(const char **p, char *out, size_t out_size)
{
    if (**p != '"')
        return false;
    const char *end = strchr(*p + 1, '"');
    if (end == NULL || (size_t)(end - *p - 1) >= out_size)
        return false;
    memcpy(out, *p + 1, (size_t)(end - *p - 1));
    out[end - *p - 1] = '\0';
    *p = end + 1;
    return true;
}

/* Reads a route's fifth field at *p into r: NULL, HTTP_QUERY_ANY, a string
 * literal, or the name of a string #defined in text. */
static bool S_query(const char *text, const char **p, struct api_route *r)
{
    r->query_any = false;
    r->query[0] = '\0';
    size_t n = strspn(*p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_");
    if (n == 4 && strncmp(*p, "NULL", 4) == 0) {
        *p += n;
        return true;
    }
    if (n == strlen("HTTP_QUERY_ANY") && strncmp(*p, "HTTP_QUERY_ANY", n) == 0) {
        r->query_any = true;
        *p += n;
        return true;
    }
    if (n == 0)
        return S_literal(p, r->query, sizeof r->query);
    char define[96];
    snprintf(define, sizeof define, "#define %.*s ", (int)n, *p);
    const char *at = strstr(text, define);
    if (at == NULL)
        return false;
    at += strlen(define);
    *p += n;
    return S_literal(&at, r->query, sizeof r->query);
}

/* Reads the entries of http_routes[] from src/http/routes.c: each is
 * {"METHOD", "pattern", handler, HTTP_AUTH_KIND, query}, possibly over two lines. */
bool api_routes_read(struct api_route routes[API_ROUTES_MAX], size_t *count, char *err,
                     size_t err_size)
{
    QB_ASSERT(err_size >= 1200);
    *count = 0;
    const char *dir = getenv("QB_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/src/http/routes.c", dir != NULL && dir[0] ? dir : ".");
    static char text[S_SOURCE_SIZE_MAX];
    if (!test_file_read(path, text, sizeof text)) {
        snprintf(err, err_size, "cannot read %s (is QB_SOURCE_DIR set?)", path);
        return false;
    }
    const char *p = strstr(text, "http_routes[] = {");
    const char *end = p != NULL ? strstr(p, "\n};") : NULL;
    if (p == NULL || end == NULL) {
        snprintf(err, err_size, "no \"http_routes[] = {\" ... \"};\" in %s", path);
        return false;
    }
    p += strlen("http_routes[] = {");
    while ((p = strstr(p, "{\"")) != NULL && p < end) {
        if (*count == API_ROUTES_MAX) {
            snprintf(err, err_size, "more than %d routes", API_ROUTES_MAX);
            return false;
        }
        struct api_route *r = &routes[*count];
        p++;
        if (!S_literal(&p, r->method, sizeof r->method)) {
            snprintf(err, err_size, "unreadable method near \"%.40s\"", p);
            return false;
        }
        p += strspn(p, ", \t\n");
        if (!S_literal(&p, r->pattern, sizeof r->pattern)) {
            snprintf(err, err_size, "unreadable pattern near \"%.40s\"", p);
            return false;
        }
        const char *close = strchr(p, '}');
        const char *auth = strstr(p, "HTTP_AUTH_");
        if (close == NULL || auth == NULL || auth > close) {
            snprintf(err, err_size, "no auth kind for %s %s", r->method, r->pattern);
            return false;
        }
        size_t n = strspn(auth, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_");
        snprintf(r->auth, sizeof r->auth, "%.*s", (int)n, auth);
        p = auth + n;
        p += strspn(p, ", \t\n");
        if (!S_query(text, &p, r)) {
            snprintf(err, err_size, "unreadable query arguments for %s %s near \"%.40s\"",
                     r->method, r->pattern, p);
            return false;
        }
        (*count)++;
        p = close + 1;
    }
    return true;
}

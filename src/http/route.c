/*
 * route.c — matching a request's method and path against the route table.
 *
 * Patterns are literal text with whole-segment parameters ("/v1/cards/{id}"),
 * matched against the path as sent: a literal segment only as it is written
 * ("/%61dmin" is not "/admin", so that a proxy that allows or refuses paths
 * by their text sees the path routed), and a parameter's value unescaped.
 * The table is small and fixed (tens of routes), so matching is a linear walk
 * comparing segment by segment, with no allocation: cheaper and easier to
 * reason about than a trie until the table grows by an order of magnitude.
 * The first route in table order wins, so a literal route listed before a
 * parameterised one with the same shape takes precedence.
 */
#include <stdio.h>
#include <string.h>

#include "http/internal.h"
#include "http/wire.h"

/* True when path has the shape of pattern. A {param} matches one non-empty
 * segment; http_routes_check guarantees each one fills a whole segment. */
static bool S_path_matches(const char *pattern, const char *path)
{
    const char *p = pattern;
    const char *s = path;
    while (*p != '\0') {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            QB_ASSERT(close != NULL);
            size_t segment_size = strcspn(s, "/");
            if (segment_size == 0)
                return false;
            s += segment_size;
            p = close + 1;
        } else {
            if (*p != *s)
                return false;
            p++;
            s++;
        }
    }
    return *s == '\0';
}

static bool S_method_matches(const char *route_method, const char *method)
{
    if (strcmp(route_method, method) == 0)
        return true;
    return strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0;
}

/* Appends ", method" to the Allow list when it fits and is not listed yet. */
static void S_allow_add(char *allow, size_t *used, size_t allow_size, const char *method)
{
    if (strstr(allow, method) != NULL)
        return;
    size_t method_size = strlen(method);
    size_t needed = (*used > 0 ? 2 : 0) + method_size;
    if (*used + needed + 1 > allow_size)
        return;
    if (*used > 0) {
        memcpy(allow + *used, ", ", 2);
        *used += 2;
    }
    memcpy(allow + *used, method, method_size);
    *used += method_size;
    allow[*used] = '\0';
}

enum http_match http_route_find(const struct http_route *routes, size_t route_count,
                                const char *method, const char *path, size_t *route_index,
                                char *allow, size_t allow_size)
{
    bool path_known = false;
    size_t allow_used = 0;
    if (allow != NULL && allow_size > 0)
        allow[0] = '\0';

    for (size_t i = 0; i < route_count; i++) {
        if (!S_path_matches(routes[i].pattern, path))
            continue;
        if (S_method_matches(routes[i].method, method)) {
            *route_index = i;
            return HTTP_MATCH_FOUND;
        }
        path_known = true;
        if (allow == NULL)
            continue;
        S_allow_add(allow, &allow_used, allow_size, routes[i].method);
        if (strcmp(routes[i].method, "GET") == 0)
            S_allow_add(allow, &allow_used, allow_size, "HEAD"); /* answered wherever GET is */
    }
    return path_known ? HTTP_MATCH_NO_METHOD : HTTP_MATCH_NO_PATH;
}

int http_route_params(struct http_request *req, const char *pattern, const char *path,
                      struct http_param *params)
{
    QB_ASSERT(S_path_matches(pattern, path));
    int count = 0;
    const char *p = pattern;
    const char *s = path;
    while (*p != '\0') {
        if (*p != '{') {
            p++;
            s++;
            continue;
        }
        const char *close = strchr(p, '}');
        size_t segment_size = strcspn(s, "/");
        QB_ASSERT(count < HTTP_PARAMS_MAX);
        char *value = http_request_alloc(req, segment_size + 1);
        if (value == NULL)
            return -1;
        /* No longer than the segment; no NUL, the path being plain. */
        bool unescaped = http_wire_unescape(s, segment_size, false, value, segment_size + 1);
        QB_ASSERT(unescaped);
        params[count].name = p + 1;
        params[count].name_size = (size_t)(close - (p + 1));
        params[count].value = value;
        count++;
        s += segment_size;
        p = close + 1;
    }
    return count;
}

/* Checks one pattern's shape; writes the complaint into err. */
static bool S_pattern_check(const char *pattern, char *err, size_t err_size)
{
    if (pattern == NULL || pattern[0] != '/') {
        snprintf(err, err_size, "route pattern \"%s\" does not start with '/'",
                 pattern ? pattern : "(null)");
        return false;
    }
    int param_count = 0;
    for (const char *p = pattern; *p != '\0'; p++) {
        if (*p == '}') {
            snprintf(err, err_size, "route pattern \"%s\" has a '}' without '{'", pattern);
            return false;
        }
        if (*p != '{')
            continue;
        const char *close = strchr(p, '}');
        const char *slash = strchr(p, '/');
        bool whole_segment = close != NULL && (slash == NULL || close < slash) && p[-1] == '/' &&
                             (close[1] == '/' || close[1] == '\0') && close > p + 1;
        if (!whole_segment) {
            snprintf(err, err_size,
                     "route pattern \"%s\": a {param} must be a whole, named segment", pattern);
            return false;
        }
        if (++param_count > HTTP_PARAMS_MAX) {
            snprintf(err, err_size, "route pattern \"%s\" has more than %d parameters", pattern,
                     HTTP_PARAMS_MAX);
            return false;
        }
        p = close;
    }
    return true;
}

bool http_routes_check(const struct http_route *routes, size_t route_count, char *err,
                       size_t err_size)
{
    for (size_t i = 0; i < route_count; i++) {
        const struct http_route *route = &routes[i];
        if (!S_pattern_check(route->pattern, err, err_size))
            return false;
        if (route->method == NULL || route->method[0] == '\0' || route->handler == NULL) {
            snprintf(err, err_size, "route \"%s\" has no method or no handler", route->pattern);
            return false;
        }
        if (route->auth != HTTP_AUTH_NONE && route->auth != HTTP_AUTH_ADMIN &&
            route->auth != HTTP_AUTH_USER && route->auth != HTTP_AUTH_MERCHANT) {
            snprintf(err, err_size, "route %s \"%s\" has an unknown auth kind %d", route->method,
                     route->pattern, (int)route->auth);
            return false;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(routes[j].method, route->method) == 0 &&
                strcmp(routes[j].pattern, route->pattern) == 0) {
                snprintf(err, err_size, "route %s \"%s\" is listed twice", route->method,
                         route->pattern);
                return false;
            }
        }
    }
    return true;
}

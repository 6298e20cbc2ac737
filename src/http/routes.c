/*
 * routes.c — the daemon's route table: every path qianbaod answers.
 *
 * To add a route:
 *   1) write the handler, `void http_handle_<name>(struct http_request *req)`,
 *      in the file of its area (src/http/<area>.c); it validates its input,
 *      then either replies (http_reply_json / http_reply_error) or, for a
 *      write, builds a ledger command and calls http_request_submit with a
 *      resume function that replies from cmd->result and cmd->response;
 *   2) declare it in src/http/internal.h;
 *   3) add one line below: method, pattern ({name} for a path segment,
 *      read with http_request_param), handler, auth kind. Order matters only
 *      where a literal path and a {param} pattern overlap: the first wins;
 *   4) document it in docs/api.md with every error code it can answer;
 *   5) add an API test in tests/api/ that talks HTTP to a real qianbaod,
 *      including a bad-input case.
 * The server checks the table at start (malformed patterns, duplicates) and
 * answers 404 and 405 itself; metrics are labelled by the pattern, so no
 * route needs code for counting or logging.
 */
#include "http/internal.h"

const struct http_route http_routes[] = {
    {"GET", "/healthz", http_handle_healthz, HTTP_AUTH_NONE},
    {"GET", "/metrics", http_handle_metrics, HTTP_AUTH_NONE},
};

const size_t http_route_count = QB_ARRAY_COUNT(http_routes);

/*
 * health.c — GET /healthz, the liveness and readiness answer.
 *
 * Healthy means the daemon can do its work: the ledger executor takes
 * commands, its newest commit did not fail (ledger_stats_failing), and a
 * read connection answers. Load balancers poll this, so it
 * must stay cheap (one pool acquire, no query beyond the schema version) and
 * must fail fast during shutdown, so that traffic moves away before the
 * listening socket closes.
 *
 * A ledger check that found the books disagreeing is said in the answer
 * ("ledger_check": "failed"), not with a 503: the daemon can still do its
 * work, there is no other daemon of this database to send traffic to, and
 * a 503 would have an orchestrator restart it, which forgets the result (it
 * lives in memory) and writes to the directory the operator must copy
 * first. Stopping payments is the operator's decision (docs/operations.md,
 * "When the ledger check fails"), woken by /metrics.
 */
#include <jansson.h>

#include "base/clock.h"
#include "base/log.h"
#include "http/internal.h"

#define S_POOL_WAIT_MS 200

void http_handle_healthz(struct http_request *req)
{
    struct http_server *server = http_request_server(req);
    struct ledger_stats stats;
    /* Stopping, from the first moment: the workers may take seconds to
     * stop before the ledger is detached, and a load balancer must move
     * traffic away meanwhile. */
    if (atomic_load(&server->closing) || !http_server_ledger_stats(server, &stats)) {
        http_reply_error(req, QB_E_SHUTTING_DOWN);
        return;
    }
    /* Not ready while commits fail (a full disk): every payment would be a
     * 503; a load balancer should send them elsewhere. */
    if (ledger_stats_failing(&stats, clock_monotonic_ns())) {
        http_reply_error_message(req, QB_E_STORAGE,
                                 "the ledger's commits are failing (see ledger.batch_failed in "
                                 "the log)");
        return;
    }
    struct store *reader;
    enum qb_error err = store_pool_acquire(http_request_pool(req), S_POOL_WAIT_MS, &reader);
    if (err != QB_OK) {
        log_event(LOG_WARN, "http.healthz_pool", "error=%s", error_name(err));
        http_reply_error(req, err);
        return;
    }
    int64_t schema_version = store_schema_version(reader);
    store_pool_release(http_request_pool(req), reader);

    int64_t uptime_s = (clock_monotonic_ns() - server->started_ns) / 1000000000;
    static const char *const verdicts[] = {"none", "ok", "failed"};
    int verdict = atomic_load(&server->verification.verdict);
    QB_ASSERT(verdict >= 0 && verdict < (int)QB_ARRAY_COUNT(verdicts));
    json_t *body = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s}", "status", "ok", "version",
                             server->version, "schema_version", (json_int_t)schema_version,
                             "uptime_s", (json_int_t)uptime_s, "ledger_queue_depth",
                             (json_int_t)stats.queue_depth, "ledger_check", verdicts[verdict]);
    http_reply_json_new(req, 200, body);
}

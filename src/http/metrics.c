/*
 * metrics.c — request counters and the Prometheus text exposition.
 *
 * Counting must cost a request next to nothing and never take a lock, so
 * every counter is a relaxed atomic in a table sized once at start: per
 * route, a counter per response status and a duration histogram (buckets
 * stored non-cumulative, summed when rendered). Statuses come from a fixed
 * list that covers every status of the error table, which keeps the label
 * set bounded whatever a client does.
 *
 * Durations are kept in integer microseconds and printed as decimal seconds
 * by integer arithmetic: Prometheus wants seconds, and nothing here needs
 * floating point.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "http/internal.h"
#include "merchant/notify.h"
#include "merchant/payout.h"
#include "sms/sms.h"
#include "wallet/wallet.h"

static const int S_statuses[] = {200, 201, 202, 204, 400, 401, 402, 403, 404,
                                 405, 409, 413, 415, 422, 423, 429, 500, 503};
_Static_assert(QB_ARRAY_COUNT(S_statuses) + 1 == HTTP_STATUS_SLOTS,
               "one slot per listed status plus \"other\"");

static const int64_t S_duration_bounds_us[HTTP_DURATION_BUCKETS - 1] = {
    100,   250,    500,    1000,   2500,    5000,    10000,    25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 10000000,
};

static int S_status_slot(int status)
{
    for (size_t i = 0; i < QB_ARRAY_COUNT(S_statuses); i++) {
        if (S_statuses[i] == status)
            return (int)i;
    }
    return HTTP_STATUS_SLOTS - 1;
}

int http_duration_bucket(int64_t duration_us)
{
    for (int i = 0; i < HTTP_DURATION_BUCKETS - 1; i++) {
        if (duration_us <= S_duration_bounds_us[i])
            return i;
    }
    return HTTP_DURATION_BUCKETS - 1;
}

int64_t http_duration_bucket_us(int index)
{
    QB_ASSERT(index >= 0 && index < HTTP_DURATION_BUCKETS);
    return index == HTTP_DURATION_BUCKETS - 1 ? INT64_MAX : S_duration_bounds_us[index];
}

enum qb_error http_metrics_init(struct http_metrics *metrics, size_t route_count)
{
    metrics->route_count = route_count;
    metrics->routes = calloc(route_count + 1, sizeof metrics->routes[0]);
    if (metrics->routes == NULL)
        return QB_E_INTERNAL;
    for (size_t r = 0; r <= route_count; r++) {
        struct http_route_metrics *m = &metrics->routes[r];
        for (int i = 0; i < HTTP_STATUS_SLOTS; i++)
            atomic_init(&m->requests[i], 0);
        for (int i = 0; i < HTTP_DURATION_BUCKETS; i++)
            atomic_init(&m->duration_us_buckets[i], 0);
        atomic_init(&m->duration_us_sum, 0);
    }
    for (int i = 0; i < LEDGER_LATENCY_BUCKETS; i++)
        atomic_init(&metrics->resume_wait_us_buckets[i], 0);
    atomic_init(&metrics->resume_wait_us_sum, 0);
    for (size_t i = 0; i < QB_ARRAY_COUNT(metrics->login_failures); i++)
        atomic_init(&metrics->login_failures[i], 0);
    return QB_OK;
}

void http_metrics_release(struct http_metrics *metrics)
{
    free(metrics->routes);
    metrics->routes = NULL;
    metrics->route_count = 0;
}

void http_metrics_observe(struct http_metrics *metrics, size_t route_index, int status,
                          int64_t duration_us)
{
    QB_ASSERT(route_index <= metrics->route_count);
    if (duration_us < 0)
        duration_us = 0;
    struct http_route_metrics *m = &metrics->routes[route_index];
    atomic_fetch_add_explicit(&m->requests[S_status_slot(status)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->duration_us_buckets[http_duration_bucket(duration_us)], 1,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&m->duration_us_sum, (uint64_t)duration_us, memory_order_relaxed);
}

void http_metrics_resumed(struct http_metrics *metrics, int64_t wait_us)
{
    uint64_t us = wait_us > 0 ? (uint64_t)wait_us : 0;
    atomic_fetch_add_explicit(&metrics->resume_wait_us_buckets[ledger_latency_bucket(us)], 1,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&metrics->resume_wait_us_sum, us, memory_order_relaxed);
}

void http_metrics_login_failed(struct http_metrics *metrics, bool locked)
{
    atomic_fetch_add_explicit(&metrics->login_failures[locked ? 1 : 0], 1, memory_order_relaxed);
}

/* Appends microseconds as decimal seconds without trailing zeros:
 * 100 -> "0.0001", 2500000 -> "2.5", 1000000 -> "1". */
static enum qb_error S_append_seconds(struct buf *out, uint64_t us)
{
    uint64_t whole = us / 1000000;
    uint64_t fraction = us % 1000000;
    if (fraction == 0)
        return buf_printf(out, "%" PRIu64, whole);
    char digits[8];
    snprintf(digits, sizeof digits, "%06" PRIu64, fraction);
    size_t digit_count = 6;
    while (digits[digit_count - 1] == '0')
        digit_count--;
    digits[digit_count] = '\0';
    return buf_printf(out, "%" PRIu64 ".%s", whole, digits);
}

/* The labels of one route: method="GET",route="/healthz". Methods and
 * patterns come from the route table (code, not client input) and hold no
 * quote, backslash or newline, so they need no escaping. */
static enum qb_error S_append_route_labels(struct buf *out, const struct http_route *routes,
                                           size_t route_count, size_t route_index)
{
    if (route_index == route_count)
        return buf_append_str(out, "method=\"ANY\",route=\"unmatched\"");
    return buf_printf(out, "method=\"%s\",route=\"%s\"", routes[route_index].method,
                      routes[route_index].pattern);
}

static enum qb_error S_render_http(const struct http_metrics *metrics,
                                   const struct http_route *routes, struct buf *out)
{
    enum qb_error err = buf_append_str(
        out, "# HELP qianbao_http_requests_total HTTP requests answered, by route and status.\n"
             "# TYPE qianbao_http_requests_total counter\n");
    for (size_t r = 0; err == QB_OK && r <= metrics->route_count; r++) {
        const struct http_route_metrics *m = &metrics->routes[r];
        for (int slot = 0; err == QB_OK && slot < HTTP_STATUS_SLOTS; slot++) {
            uint64_t count = atomic_load_explicit(&m->requests[slot], memory_order_relaxed);
            if (count == 0)
                continue;
            err = buf_append_str(out, "qianbao_http_requests_total{");
            if (err == QB_OK)
                err = S_append_route_labels(out, routes, metrics->route_count, r);
            if (err != QB_OK)
                break;
            if (slot == HTTP_STATUS_SLOTS - 1)
                err = buf_printf(out, ",status=\"other\"} %" PRIu64 "\n", count);
            else
                err = buf_printf(out, ",status=\"%d\"} %" PRIu64 "\n", S_statuses[slot], count);
        }
    }
    if (err == QB_OK)
        err = buf_append_str(
            out, "# HELP qianbao_http_request_duration_seconds Time from a request's headers "
                 "to its response sent.\n"
                 "# TYPE qianbao_http_request_duration_seconds histogram\n");
    for (size_t r = 0; err == QB_OK && r <= metrics->route_count; r++) {
        const struct http_route_metrics *m = &metrics->routes[r];
        uint64_t cumulative = 0;
        for (int i = 0; err == QB_OK && i < HTTP_DURATION_BUCKETS; i++) {
            cumulative += atomic_load_explicit(&m->duration_us_buckets[i], memory_order_relaxed);
            err = buf_append_str(out, "qianbao_http_request_duration_seconds_bucket{");
            if (err == QB_OK)
                err = S_append_route_labels(out, routes, metrics->route_count, r);
            if (err == QB_OK)
                err = buf_append_str(out, ",le=\"");
            if (err == QB_OK && i == HTTP_DURATION_BUCKETS - 1)
                err = buf_append_str(out, "+Inf");
            else if (err == QB_OK)
                err = S_append_seconds(out, (uint64_t)S_duration_bounds_us[i]);
            if (err == QB_OK)
                err = buf_printf(out, "\"} %" PRIu64 "\n", cumulative);
        }
        if (err == QB_OK)
            err = buf_append_str(out, "qianbao_http_request_duration_seconds_sum{");
        if (err == QB_OK)
            err = S_append_route_labels(out, routes, metrics->route_count, r);
        if (err == QB_OK)
            err = buf_append_str(out, "} ");
        if (err == QB_OK)
            err = S_append_seconds(out,
                                   atomic_load_explicit(&m->duration_us_sum, memory_order_relaxed));
        if (err == QB_OK)
            err = buf_append_str(out, "\nqianbao_http_request_duration_seconds_count{");
        if (err == QB_OK)
            err = S_append_route_labels(out, routes, metrics->route_count, r);
        if (err == QB_OK)
            err = buf_printf(out, "} %" PRIu64 "\n", cumulative);
    }
    return err;
}

static enum qb_error S_render_scalar(struct buf *out, const char *name, const char *type,
                                     const char *help, uint64_t value)
{
    return buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name, type,
                      name, value);
}

/* A histogram in the ledger's non-cumulative buckets. With bounds_are_us,
 * bucket i's bound is ledger_latency_bucket_us(i) printed as seconds, else
 * it is 2^i. The last bucket is +Inf. */
static enum qb_error S_render_ledger_histogram(struct buf *out, const char *name, const char *help,
                                               const uint64_t *buckets, uint64_t sum,
                                               bool bounds_are_us)
{
    enum qb_error err = buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cumulative = 0;
    for (int i = 0; err == QB_OK && i < LEDGER_LATENCY_BUCKETS; i++) {
        cumulative += buckets[i];
        err = buf_printf(out, "%s_bucket{le=\"", name);
        if (err != QB_OK)
            break;
        if (i == LEDGER_LATENCY_BUCKETS - 1)
            err = buf_append_str(out, "+Inf");
        else if (bounds_are_us)
            err = S_append_seconds(out, (uint64_t)ledger_latency_bucket_us(i));
        else
            err = buf_printf(out, "%" PRIu64, (uint64_t)1 << i);
        if (err == QB_OK)
            err = buf_printf(out, "\"} %" PRIu64 "\n", cumulative);
    }
    if (err == QB_OK)
        err = buf_printf(out, "%s_sum ", name);
    if (err == QB_OK)
        err = bounds_are_us ? S_append_seconds(out, sum) : buf_printf(out, "%" PRIu64, sum);
    if (err == QB_OK)
        err = buf_printf(out, "\n%s_count %" PRIu64 "\n", name, cumulative);
    return err;
}

/* The ledger's database connection: its write-ahead log and the
 * checkpoints that copy it back (zeros from a backend without them). */
static enum qb_error S_render_store(const struct store_stats *stats, struct buf *out)
{
    enum qb_error err = buf_printf(out,
                                   "# HELP qianbao_store_wal_frames Frames (pages) in the "
                                   "write-ahead log after the last commit.\n"
                                   "# TYPE qianbao_store_wal_frames gauge\n"
                                   "qianbao_store_wal_frames %" PRId64 "\n",
                                   stats->wal_frames);
    const struct {
        const char *name, *help;
        uint64_t value;
    } counters[] = {
        {"qianbao_store_wal_restarts_total",
         "Times the write-ahead log started over from its beginning.", stats->wal_restarts_total},
        {"qianbao_store_checkpoint_rounds_total", "Checkpoint rounds run.",
         stats->checkpoint_rounds_total},
        {"qianbao_store_checkpoint_bytes_total",
         "Bytes checkpoints copied into the database file.", stats->checkpoint_bytes_total},
        {"qianbao_store_checkpoint_waits_total",
         "Commits after which the ledger's writer waited for a checkpoint.",
         stats->checkpoint_waits_total},
    };
    for (size_t i = 0; err == QB_OK && i < QB_ARRAY_COUNT(counters); i++)
        err = S_render_scalar(out, counters[i].name, "counter", counters[i].help,
                              counters[i].value);
    if (err == QB_OK)
        err = buf_printf(out,
                         "# HELP qianbao_store_checkpoint_wait_seconds_total Time the ledger's "
                         "writer waited for checkpoints.\n"
                         "# TYPE qianbao_store_checkpoint_wait_seconds_total counter\n"
                         "qianbao_store_checkpoint_wait_seconds_total ");
    if (err == QB_OK)
        err = S_append_seconds(out, stats->checkpoint_wait_us_total);
    if (err == QB_OK)
        err = buf_append_str(out, "\n");
    return err;
}

static enum qb_error S_render_ledger(const struct ledger_stats *stats, struct buf *out)
{
    enum qb_error err =
        S_render_scalar(out, "qianbao_ledger_queue_depth", "gauge",
                        "Commands waiting for the ledger executor.", stats->queue_depth);
    if (err == QB_OK)
        err = S_render_scalar(out, "qianbao_ledger_batches_total", "counter",
                              "Batches the ledger executor committed or failed.",
                              stats->batches_total);
    if (err == QB_OK)
        err = S_render_scalar(out, "qianbao_ledger_commands_total", "counter",
                              "Ledger commands completed, with any result.", stats->commands_total);
    if (err == QB_OK)
        err = S_render_scalar(out, "qianbao_ledger_commands_failed_total", "counter",
                              "Ledger commands completed with an error.",
                              stats->commands_failed_total);
    if (err == QB_OK)
        err = S_render_scalar(out, "qianbao_ledger_entries_total", "counter",
                              "Journal entries committed since the daemon started.",
                              stats->entries_total);
    if (err == QB_OK)
        err = S_render_scalar(out, "qianbao_ledger_commit_failures_total", "counter",
                              "Batch commits that failed.", stats->commit_failures_total);
    if (err == QB_OK)
        err = S_render_ledger_histogram(
            out, "qianbao_ledger_commit_duration_seconds", "Time to commit one batch durably.",
            stats->commit_latency_us_buckets, stats->commit_latency_us_sum, true);
    if (err == QB_OK)
        err = S_render_ledger_histogram(
            out, "qianbao_ledger_sync_duration_seconds",
            "Time the disk took for one sync of the log, which makes every batch committed before "
            "it durable.",
            stats->sync_latency_us_buckets, stats->sync_latency_us_sum, true);
    if (err == QB_OK)
        err = S_render_ledger_histogram(
            out, "qianbao_ledger_command_duration_seconds",
            "Time from a command's submission to its completion: queue, batch and commit.",
            stats->command_latency_us_buckets, stats->command_latency_us_sum, true);
    if (err == QB_OK)
        err = S_render_ledger_histogram(out, "qianbao_ledger_batch_size",
                                        "Commands per committed batch.", stats->batch_size_buckets,
                                        stats->batch_size_sum, false);
    if (err == QB_OK)
        err = S_render_scalar(out, "qianbao_ledger_account_checkpoints_total", "counter",
                              "Accounts' checkpoint rows the ledger wrote (each a page of the "
                              "database).",
                              stats->account_checkpoints_total);
    if (err == QB_OK)
        err = buf_printf(out,
                         "# HELP qianbao_ledger_replay_lag_entries Journal entries a restart "
                         "would replay now.\n"
                         "# TYPE qianbao_ledger_replay_lag_entries gauge\n"
                         "qianbao_ledger_replay_lag_entries %" PRId64 "\n",
                         stats->replay_lag_entries);
    if (err == QB_OK)
        err = buf_printf(out,
                         "# HELP qianbao_ledger_idempotency_records Idempotency records kept now "
                         "(each in the writer's memory).\n"
                         "# TYPE qianbao_ledger_idempotency_records gauge\n"
                         "qianbao_ledger_idempotency_records %" PRId64 "\n",
                         stats->idempotency_records);
    if (err == QB_OK)
        err = S_render_scalar(out, "qianbao_ledger_idempotency_expired_total", "counter",
                              "Idempotency records deleted once past their retention.",
                              stats->idempotency_expired_total);
    if (err == QB_OK)
        err = S_render_store(&stats->store, out);
    return err;
}

enum qb_error http_metrics_render(const struct http_metrics *metrics,
                                  const struct http_route *routes, const struct ledger_stats *stats,
                                  struct buf *out)
{
    enum qb_error err = S_render_http(metrics, routes, out);
    uint64_t resume_wait[LEDGER_LATENCY_BUCKETS];
    for (int i = 0; i < LEDGER_LATENCY_BUCKETS; i++)
        resume_wait[i] =
            atomic_load_explicit(&metrics->resume_wait_us_buckets[i], memory_order_relaxed);
    if (err == QB_OK)
        err = S_render_ledger_histogram(
            out, "qianbao_http_resume_wait_seconds",
            "Time from a suspended request's work ending (its ledger command, or work done off "
            "its thread) until its HTTP thread takes it up to answer: a wake-up and a wait for a "
            "core.",
            resume_wait, atomic_load_explicit(&metrics->resume_wait_us_sum, memory_order_relaxed),
            true);
    if (err == QB_OK)
        err = buf_printf(
            out,
            "# HELP qianbao_login_failures_total Wrong login passwords, by whether one took the "
            "login lock.\n"
            "# TYPE qianbao_login_failures_total counter\n"
            "qianbao_login_failures_total{locked=\"false\"} %" PRIu64 "\n"
            "qianbao_login_failures_total{locked=\"true\"} %" PRIu64 "\n",
            atomic_load_explicit(&metrics->login_failures[0], memory_order_relaxed),
            atomic_load_explicit(&metrics->login_failures[1], memory_order_relaxed));
    if (err == QB_OK && stats != NULL)
        err = S_render_ledger(stats, out);
    return err;
}

/* The ledger checks (verify_routes.c): counts by result, when one last
 * passed, and whether the books were last found to disagree. The
 * timestamp is 0 before any check passed rather than left out, so that an
 * alert on its age fires for a daemon that never passed one instead of
 * matching nothing. */
static enum qb_error S_render_verification(const struct http_verification *v, struct buf *out)
{
    enum qb_error err = buf_printf(
        out,
        "# HELP qianbao_ledger_verifications_total Ledger checks finished since the daemon "
        "started, by result: ok, failed (the books disagree), error (the check could not "
        "finish).\n"
        "# TYPE qianbao_ledger_verifications_total counter\n"
        "qianbao_ledger_verifications_total{result=\"ok\"} %" PRIu64 "\n"
        "qianbao_ledger_verifications_total{result=\"failed\"} %" PRIu64 "\n"
        "qianbao_ledger_verifications_total{result=\"error\"} %" PRIu64 "\n"
        "# HELP qianbao_ledger_verification_last_ok_timestamp_seconds When the last ledger "
        "check that passed ended, in Unix time (0: none since the daemon started).\n"
        "# TYPE qianbao_ledger_verification_last_ok_timestamp_seconds gauge\n"
        "qianbao_ledger_verification_last_ok_timestamp_seconds ",
        atomic_load(&v->finished_total[HTTP_VERIFICATION_OK]),
        atomic_load(&v->finished_total[HTTP_VERIFICATION_FAILED]),
        atomic_load(&v->finished_total[HTTP_VERIFICATION_ERROR]));
    int64_t last_ok_ms = atomic_load(&v->last_ok_finished_ms);
    if (err == QB_OK)
        err = S_append_seconds(out, last_ok_ms > 0 ? (uint64_t)last_ok_ms * 1000 : 0);
    if (err == QB_OK)
        err = buf_printf(out,
                         "\n# HELP qianbao_ledger_verification_failing 1 while the latest ledger "
                         "check to finish with a verdict found the books disagree, else 0.\n"
                         "# TYPE qianbao_ledger_verification_failing gauge\n"
                         "qianbao_ledger_verification_failing %d\n",
                         atomic_load(&v->verdict) == HTTP_VERIFICATION_VERDICT_FAILED ? 1 : 0);
    return err;
}

/* What waits on someone else (a bank, an SMS provider, a merchant's
 * notify_url), read from the database: an operator's backlog. Left out
 * when no read connection is free within 200 ms: the rest of the page
 * still answers. */
static enum qb_error S_render_backlog(struct http_request *req, struct buf *out)
{
    const struct domain_env *env = http_request_env(req);
    struct store_pool *pool = http_request_pool(req);
    struct store *reader;
    if (env == NULL || pool == NULL || store_pool_acquire(pool, 200, &reader) != QB_OK)
        return QB_OK;
    struct wallet_backlog b;
    int64_t retrying = 0, given_up = 0, expired = 0, sms_oldest_ms = 0;
    int64_t notifications = 0, notification_oldest_ms = 0, payouts = 0, payout_close_ms = 0;
    enum qb_error read = wallet_backlog_read(reader, &b);
    if (read == QB_OK)
        read = sms_outbox_undelivered(env, reader, &retrying, &given_up, &expired, &sms_oldest_ms);
    if (read == QB_OK)
        read = merchant_notify_backlog(reader, &notifications, &notification_oldest_ms);
    if (read == QB_OK)
        read = merchant_payouts_backlog(reader, &payouts, &payout_close_ms);
    store_pool_release(pool, reader);
    if (read != QB_OK)
        return QB_OK;
    int64_t now_ms = clock_now_ms(env->clock);
    int64_t topup_age = b.topups > 0 && now_ms > b.topup_oldest_ms ? now_ms - b.topup_oldest_ms : 0;
    int64_t withdrawal_age =
        b.withdrawals > 0 && now_ms > b.withdrawal_oldest_ms ? now_ms - b.withdrawal_oldest_ms : 0;
    int64_t transfer_late = b.transfers_delayed > 0 && now_ms > b.transfer_next_check_ms
                                ? now_ms - b.transfer_next_check_ms
                                : 0;
    int64_t sms_age = retrying > 0 && now_ms > sms_oldest_ms ? now_ms - sms_oldest_ms : 0;
    int64_t payout_late = payouts > 0 && now_ms > payout_close_ms ? now_ms - payout_close_ms : 0;
    int64_t notification_age =
        notifications > 0 && now_ms > notification_oldest_ms ? now_ms - notification_oldest_ms : 0;
    return buf_printf(
        out,
        "# HELP qianbao_payments_processing Top-ups and withdrawals the bank has not settled.\n"
        "# TYPE qianbao_payments_processing gauge\n"
        "qianbao_payments_processing{type=\"topup\"} %lld\n"
        "qianbao_payments_processing{type=\"withdrawal\"} %lld\n"
        "# HELP qianbao_payments_processing_oldest_seconds Age of the oldest unsettled one (0: "
        "none).\n"
        "# TYPE qianbao_payments_processing_oldest_seconds gauge\n"
        "qianbao_payments_processing_oldest_seconds{type=\"topup\"} %.3f\n"
        "qianbao_payments_processing_oldest_seconds{type=\"withdrawal\"} %.3f\n"
        "# HELP qianbao_transfers_delayed Transfers sent to arrive later (2h, 24h) that have not "
        "arrived yet.\n"
        "# TYPE qianbao_transfers_delayed gauge\n"
        "qianbao_transfers_delayed %lld\n"
        "# HELP qianbao_transfers_delayed_late_seconds How long the most overdue of them has "
        "waited for the worker past its time (0: none due).\n"
        "# TYPE qianbao_transfers_delayed_late_seconds gauge\n"
        "qianbao_transfers_delayed_late_seconds %.3f\n"
        "# HELP qianbao_sms_undelivered SMS messages not delivered: still tried, given up, or "
        "not sent because their code expired.\n"
        "# TYPE qianbao_sms_undelivered gauge\n"
        "qianbao_sms_undelivered{state=\"retrying\"} %lld\n"
        "qianbao_sms_undelivered{state=\"given_up\"} %lld\n"
        "qianbao_sms_undelivered{state=\"expired\"} %lld\n"
        "# HELP qianbao_sms_undelivered_oldest_seconds Age of the oldest SMS message "
        "still tried (0: none): codes stuck on the way to their users.\n"
        "# TYPE qianbao_sms_undelivered_oldest_seconds gauge\n"
        "qianbao_sms_undelivered_oldest_seconds %.3f\n"
        "# HELP qianbao_notifications_undelivered Merchants' payment and refund notifications "
        "not delivered yet and still tried.\n"
        "# TYPE qianbao_notifications_undelivered gauge\n"
        "qianbao_notifications_undelivered %lld\n"
        "# HELP qianbao_notifications_undelivered_oldest_seconds Age of the oldest of them (0: "
        "none).\n"
        "# TYPE qianbao_notifications_undelivered_oldest_seconds gauge\n"
        "qianbao_notifications_undelivered_oldest_seconds %.3f\n"
        "# HELP qianbao_payouts_waiting Merchants' transfers to users (商家转账) held until "
        "their users take them.\n"
        "# TYPE qianbao_payouts_waiting gauge\n"
        "qianbao_payouts_waiting %lld\n"
        "# HELP qianbao_payouts_waiting_late_seconds How long the most overdue of them has "
        "waited past its 24 hours for the worker to close it (0: none due).\n"
        "# TYPE qianbao_payouts_waiting_late_seconds gauge\n"
        "qianbao_payouts_waiting_late_seconds %.3f\n",
        (long long)b.topups, (long long)b.withdrawals, (double)topup_age / 1000.0,
        (double)withdrawal_age / 1000.0, (long long)b.transfers_delayed,
        (double)transfer_late / 1000.0, (long long)retrying, (long long)given_up,
        (long long)expired, (double)sms_age / 1000.0, (long long)notifications,
        (double)notification_age / 1000.0, (long long)payouts, (double)payout_late / 1000.0);
}

/* Which daemon this is and since when (a restart shows as a new start
 * time), then the HTTP connections: open now, the limit, and those closed
 * as soon as they were accepted, by why. */
static enum qb_error S_render_connections(struct http_server *server, struct buf *out)
{
    int64_t up_ms = (clock_monotonic_ns() - server->started_ns) / 1000000;
    int64_t started_ms = clock_now_ms(clock_system()) - up_ms;
    return buf_printf(
        out,
        "# HELP qianbao_build_info The daemon's version, always 1.\n"
        "# TYPE qianbao_build_info gauge\n"
        "qianbao_build_info{version=\"%s\"} 1\n"
        "# HELP qianbao_start_time_seconds When the daemon started, in Unix time.\n"
        "# TYPE qianbao_start_time_seconds gauge\n"
        "qianbao_start_time_seconds %lld.%03lld\n"
        "# HELP qianbao_http_connections_open HTTP connections open now.\n"
        "# TYPE qianbao_http_connections_open gauge\n"
        "qianbao_http_connections_open %lld\n"
        "# HELP qianbao_http_connections_max The limit on open HTTP connections "
        "(--http-connections-max).\n"
        "# TYPE qianbao_http_connections_max gauge\n"
        "qianbao_http_connections_max %zu\n"
        "# HELP qianbao_http_requests_waiting Requests waiting for news of a wallet or a shop "
        "now (GET /v1/me/changes, GET /v1/merchants/me/changes with a wait).\n"
        "# TYPE qianbao_http_requests_waiting gauge\n"
        "qianbao_http_requests_waiting %lld\n"
        "# HELP qianbao_http_connections_refused_total Connections closed as soon as they were "
        "accepted: the limit was reached, or the process had no file descriptor left.\n"
        "# TYPE qianbao_http_connections_refused_total counter\n"
        "qianbao_http_connections_refused_total{reason=\"connection_limit\"} %" PRIu64 "\n"
        "qianbao_http_connections_refused_total{reason=\"no_file_descriptors\"} %" PRIu64 "\n",
        server->version, (long long)(started_ms / 1000), (long long)(started_ms % 1000),
        (long long)atomic_load(&server->connections), server->connections_max,
        (long long)http_watch_waiting(&server->watch),
        atomic_load_explicit(&server->refused[HTTP_REFUSAL_LIMIT], memory_order_relaxed),
        atomic_load_explicit(&server->refused[HTTP_REFUSAL_FILE_DESCRIPTORS],
                             memory_order_relaxed));
}

/* When the platform certificate that signs every /v3 answer and
 * notification expires: merchants' SDKs refuse what it signs from then
 * on, so an operator alerts on it well before and rotates the key
 * (docs/operations.md). Nothing without a platform key. */
static enum qb_error S_render_platform(struct http_request *req, struct buf *out)
{
    const struct domain_env *env = http_request_env(req);
    if (env == NULL || env->platform == NULL)
        return QB_OK;
    int64_t expiry_s = env->platform->not_after_ms / 1000;
    return S_render_scalar(out, "qianbao_platform_certificate_expiry_timestamp_seconds", "gauge",
                           "When the platform certificate that signs the merchant API's answers "
                           "and notifications expires, in Unix time.",
                           expiry_s > 0 ? (uint64_t)expiry_s : 0);
}

/* The session cache (identity.h): its size, its lookups by whether they
 * found the session, and the sessions it gave up to keep others. Misses
 * climbing with evictions say it is smaller than the sessions in use
 * (--session-cache). Nothing without a cache. */
static enum qb_error S_render_sessions(struct http_request *req, struct buf *out)
{
    const struct domain_env *env = http_request_env(req);
    if (env == NULL || env->sessions == NULL)
        return QB_OK;
    struct identity_session_cache_stats stats;
    identity_session_cache_stats(env->sessions, &stats);
    return buf_printf(
        out,
        "# HELP qianbao_session_cache_entries Sessions the session cache can hold "
        "(--session-cache, rounded up to whole buckets).\n"
        "# TYPE qianbao_session_cache_entries gauge\n"
        "qianbao_session_cache_entries %" PRIu64 "\n"
        "# HELP qianbao_session_cache_lookups_total Requests' sessions looked for in the session "
        "cache, by whether they were there (a miss reads the database).\n"
        "# TYPE qianbao_session_cache_lookups_total counter\n"
        "qianbao_session_cache_lookups_total{result=\"hit\"} %" PRIu64 "\n"
        "qianbao_session_cache_lookups_total{result=\"miss\"} %" PRIu64 "\n"
        "# HELP qianbao_session_cache_evictions_total Sessions the session cache gave up to keep "
        "others, its bucket full.\n"
        "# TYPE qianbao_session_cache_evictions_total counter\n"
        "qianbao_session_cache_evictions_total %" PRIu64 "\n",
        stats.entries, stats.hits, stats.misses, stats.evictions);
}

/* GET /metrics: Prometheus text format 0.0.4. During shutdown, once the
 * ledger is detached, only the HTTP families are shown. */
void http_handle_metrics(struct http_request *req)
{
    struct http_server *server = http_request_server(req);
    struct ledger_stats stats;
    bool have_stats = http_server_ledger_stats(server, &stats);
    struct buf text;
    buf_init(&text, HTTP_REPLY_SIZE_MAX);
    enum qb_error err =
        http_metrics_render(&server->metrics, server->routes, have_stats ? &stats : NULL, &text);
    if (err == QB_OK)
        err = S_render_connections(server, &text);
    if (err == QB_OK)
        err = S_render_platform(req, &text);
    if (err == QB_OK)
        err = S_render_sessions(req, &text);
    if (err == QB_OK && have_stats)
        err = S_render_verification(&server->verification, &text);
    if (err == QB_OK && have_stats)
        err = S_render_backlog(req, &text);
    if (err != QB_OK) {
        log_event(LOG_ERROR, "http.metrics_failed", "error=%s", error_name(err));
        http_reply_error(req, QB_E_INTERNAL);
    } else {
        http_reply_raw(req, 200, "text/plain; version=0.0.4; charset=utf-8", text.data, text.size);
    }
    buf_release(&text);
}

/*
 * verify_routes.c — the operator's whole-ledger check over HTTP
 * (`qianbao admin verify`):
 *
 *   POST /admin/ledger/verification   start a check: 202 and its state; while one
 *                                     runs, 202 and that one's state (never two)
 *   GET  /admin/ledger/verification   the state of the last check since the
 *                                     daemon started; 404 when none has run
 *
 * The check is wallet_verify (the ledger, then the red packets against
 * their claims) on a thread of its own
 * with a read connection of its own (store_pool_open_extra), so a check of
 * a large ledger neither holds an HTTP thread nor a pooled reader. It reads
 * one snapshot: money moving meanwhile is not in it, and the WAL cannot be
 * checkpointed past that snapshot until the check ends. The state lives in
 * the daemon's memory; stopping the daemon stops a running check
 * (http_verification_stop), which then reports "error" SHUTTING_DOWN to
 * nobody.
 */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/thread.h"
#include "http/internal.h"
#include "wallet/wallet.h"

static bool S_progress(int64_t done, int64_t total, void *arg)
{
    struct http_verification *v = arg;
    pthread_mutex_lock(&v->mutex);
    v->entries_checked = done;
    v->entries_total = total;
    pthread_mutex_unlock(&v->mutex);
    return !atomic_load(&v->stopping);
}

static void *S_run(void *arg)
{
    struct http_server *server = arg;
    struct http_verification *v = &server->verification;
    struct ledger_verify_report report;
    memset(&report, 0, sizeof report);
    char err[256] = "";
    int64_t red_packets = 0;
    struct store *reader = NULL;
    enum qb_error rc = store_pool_open_extra(server->pool, &reader, err, sizeof err);
    if (rc == QB_OK) {
        rc = wallet_verify(reader, &report, &red_packets, S_progress, v);
        store_pool_close_extra(server->pool, reader);
    } else {
        /* The reason cut to what fits after the prefix. */
        snprintf(report.problem, sizeof report.problem, "cannot open the database: %.200s", err);
    }
    int64_t finished_ms = clock_now_ms(clock_system());
    pthread_mutex_lock(&v->mutex);
    v->report = report;
    v->entries_checked = report.entries_checked;
    v->entries_total = report.entries_total;
    v->red_packets_checked = red_packets;
    v->result = rc;
    v->finished_ms = finished_ms;
    v->running = false;
    int64_t number = v->number;
    pthread_mutex_unlock(&v->mutex);
    log_event(rc == QB_OK ? LOG_INFO : LOG_WARN, "ledger.verified",
              "number=%lld result=%s entries=%lld accounts=%lld problem=\"%s\"",
              (long long)number, error_name(rc), (long long)report.entries_checked,
              (long long)report.accounts_checked, report.problem);
    return NULL;
}

void http_verification_init(struct http_verification *v)
{
    memset(v, 0, sizeof *v);
    pthread_mutex_init(&v->mutex, NULL);
    atomic_init(&v->stopping, false);
}

void http_verification_stop(struct http_verification *v)
{
    atomic_store(&v->stopping, true);
    if (v->thread_started)
        pthread_join(v->thread, NULL);
    v->thread_started = false;
    pthread_mutex_destroy(&v->mutex);
}

static const char *S_status(const struct http_verification *v)
{
    if (v->running)
        return "running";
    if (v->result == QB_OK)
        return "ok";
    return v->result == QB_E_INTERNAL ? "failed" : "error";
}

/* The state as JSON; the caller holds v->mutex. */
static json_t *S_state_json(const struct http_verification *v)
{
    json_t *body = json_pack("{s:I, s:s, s:I, s:I, s:o}", "number", (json_int_t)v->number,
                             "status", S_status(v), "entries_checked",
                             (json_int_t)v->entries_checked, "entries_total",
                             (json_int_t)v->entries_total, "started_at",
                             http_time_json(v->started_ms));
    if (body == NULL || v->running)
        return body;
    int rc = json_object_set_new(body, "accounts_checked",
                                 json_integer((json_int_t)v->report.accounts_checked));
    rc |= json_object_set_new(body, "holds_open", json_integer((json_int_t)v->report.holds_open));
    rc |= json_object_set_new(body, "red_packets_checked",
                              json_integer((json_int_t)v->red_packets_checked));
    rc |= json_object_set_new(body, "finished_at", http_time_json(v->finished_ms));
    rc |= json_object_set_new(body, "duration_ms",
                              json_integer((json_int_t)(v->finished_ms - v->started_ms)));
    if (v->result != QB_OK)
        rc |= json_object_set_new(body, "problem", json_string(v->report.problem));
    if (v->result != QB_OK && v->result != QB_E_INTERNAL)
        rc |= json_object_set_new(body, "code", json_string(error_api_code(v->result)));
    if (rc != 0) {
        json_decref(body);
        return NULL;
    }
    return body;
}

static void S_reply_state(struct http_request *req, int status, struct http_verification *v)
{
    json_t *body = S_state_json(v);
    pthread_mutex_unlock(&v->mutex);
    if (body == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        return;
    }
    http_reply_json(req, status, body);
    json_decref(body);
}

void http_handle_admin_verification_start(struct http_request *req)
{
    /* No fields: an empty body or {} only. */
    json_t *body = http_json_body(req, NULL, 0);
    if (body == NULL)
        return;
    json_decref(body);
    struct http_server *server = http_request_server(req);
    struct http_verification *v = &server->verification;
    pthread_mutex_lock(&v->mutex);
    while (!v->running && v->thread_started) {
        /* The last check's thread has ended or is ending. This request
         * joins it, and only this one: another that comes in while the
         * lock is let go must neither join it again nor read the handle
         * of a check it then starts; and that check may end before the
         * lock is back, so look again. */
        pthread_t last = v->thread;
        v->thread_started = false;
        pthread_mutex_unlock(&v->mutex);
        pthread_join(last, NULL);
        pthread_mutex_lock(&v->mutex);
    }
    if (v->running) {
        S_reply_state(req, 202, v);
        return;
    }
    v->number++;
    v->running = true;
    v->result = QB_OK;
    v->entries_checked = 0;
    v->entries_total = 0;
    memset(&v->report, 0, sizeof v->report);
    v->started_ms = clock_now_ms(clock_system());
    v->finished_ms = 0;
    if (pthread_create(&v->thread, NULL, S_run, server) != 0) {
        v->running = false;
        v->result = QB_E_BUSY;
        pthread_mutex_unlock(&v->mutex);
        http_reply_error(req, QB_E_BUSY);
        return;
    }
    thread_name(v->thread, "qb-verify");
    v->thread_started = true;
    log_event(LOG_AUDIT, "ledger.verify_started", "number=%lld", (long long)v->number);
    S_reply_state(req, 202, v);
}

void http_handle_admin_verification_get(struct http_request *req)
{
    struct http_verification *v = &http_request_server(req)->verification;
    pthread_mutex_lock(&v->mutex);
    if (v->number == 0) {
        pthread_mutex_unlock(&v->mutex);
        http_reply_error_message(req, QB_E_NOT_FOUND,
                                 "no ledger check has run since the daemon started");
        return;
    }
    S_reply_state(req, 200, v);
}

/*
 * verify_routes.c — the operator's whole-ledger check over HTTP
 * (`qianbao admin verify`), and the daemon's own on a schedule:
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
 *
 * The schedule (--verify-interval-h) is one more thread that sleeps on a
 * condition variable until a check is due and then starts it exactly as a
 * POST does (S_start), so that GET shows it and it cannot run beside an
 * operator's. The first is due one interval after the daemon started, not
 * at start: a daemon restarting in a loop must not read its whole database
 * each time. An operator's check moves the next one on, as it verified the
 * books as well. Each finished check leaves its outcome where /metrics and
 * /healthz read it without the lock: counts by result, when the last one
 * passed, and the verdict, which a check that could not finish (an
 * "error") leaves as it was, since it found nothing either way.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/text.h"
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

static const char *S_by_name(enum http_verification_by by)
{
    return by == HTTP_VERIFICATION_BY_SCHEDULE ? "schedule" : "operator";
}

/* A check's result as the state and /metrics name it. */
static enum http_verification_result S_result_kind(enum qb_error result)
{
    if (result == QB_OK)
        return HTTP_VERIFICATION_OK;
    /* wallet_verify's answer when it found a problem: the books disagree. */
    return result == QB_E_INTERNAL ? HTTP_VERIFICATION_FAILED : HTTP_VERIFICATION_ERROR;
}

/* A finished check's result as the API, /metrics and the log name it. */
static const char *S_result_name(enum qb_error result)
{
    static const char *const names[HTTP_VERIFICATION_RESULTS] = {"ok", "failed", "error"};
    return names[S_result_kind(result)];
}

/* Counts a finished check and keeps its verdict for /metrics and /healthz;
 * the caller holds v->mutex. */
static void S_outcome_record(struct http_verification *v, enum qb_error result, int64_t finished_ms)
{
    enum http_verification_result kind = S_result_kind(result);
    atomic_fetch_add(&v->finished_total[kind], 1);
    if (kind == HTTP_VERIFICATION_OK) {
        atomic_store(&v->last_ok_finished_ms, finished_ms);
        atomic_store(&v->verdict, HTTP_VERIFICATION_VERDICT_OK);
    } else if (kind == HTTP_VERIFICATION_FAILED) {
        atomic_store(&v->verdict, HTTP_VERIFICATION_VERDICT_FAILED);
    }
}

/* Now by the clock the ledger stamps entries with: the day's close and the
 * check's times must be of the same day as what it reads. */
static int64_t S_now_ms(const struct http_server *server)
{
    return clock_now_ms(server->env != NULL ? server->env->clock : clock_system());
}

static void *S_run(void *arg)
{
    struct http_server *server = arg;
    struct http_verification *v = &server->verification;
    struct ledger_verify_report report;
    memset(&report, 0, sizeof report);
    char err[256] = "";
    struct wallet_verify_counts counts;
    memset(&counts, 0, sizeof counts);
    struct store *reader = NULL;
    enum qb_error rc = store_pool_open_extra(server->pool, &reader, err, sizeof err);
    if (rc == QB_OK) {
        /* First the database against what this daemon made durable, kept
         * outside it: a trail whose seals were all removed passes its own
         * check (an earlier version's, never sealed), not this one. Read
         * before the books, so that the head it names is in what they
         * read. */
        char why[sizeof report.problem] = "";
        if (server->head_check != NULL &&
            !server->head_check(server->head_check_arg, reader, why, sizeof why)) {
            rc = why[0] != '\0' ? QB_E_INTERNAL : QB_E_STORAGE;
            snprintf(report.problem, sizeof report.problem, "%s",
                     why[0] != '\0' ? why : "cannot read the data directory's chain-head");
        }
        /* The books at the last midnight too: the day's close, to
         * reconcile with the bank's statement of the day. */
        if (rc == QB_OK)
            rc = wallet_verify(reader, server->env != NULL ? server->env->chain_key : NULL, false,
                               domain_day_start_ms(S_now_ms(server)), &report, &counts, S_progress,
                               v);
        store_pool_close_extra(server->pool, reader);
    } else {
        /* The reason cut to what fits after the prefix. */
        snprintf(report.problem, sizeof report.problem, "cannot open the database: %.200s", err);
    }
    int64_t finished_ms = S_now_ms(server);
    /* Logged before the result is shown: whoever reads a finished check
     * (GET, /metrics, /healthz) finds its line in the log. The check's
     * number, principal and start do not change while it runs. */
    pthread_mutex_lock(&v->mutex);
    int64_t number = v->number;
    int64_t duration_ms = finished_ms - v->started_ms;
    char by[sizeof v->by_principal];
    memcpy(by, v->by_principal, sizeof by);
    pthread_mutex_unlock(&v->mutex);
    /* Books that disagree are the worst news the daemon can give: error,
     * which --log-level error still shows. */
    log_event(rc == QB_OK ? LOG_INFO : LOG_ERROR, "ledger.verified",
              "number=%lld by=%s result=%s entries=%lld accounts=%lld duration_ms=%lld "
              "problem=\"%s\"",
              (long long)number, by, S_result_name(rc), (long long)report.entries_checked,
              (long long)report.accounts_checked, (long long)duration_ms, report.problem);
    pthread_mutex_lock(&v->mutex);
    v->report = report;
    v->entries_checked = report.entries_checked;
    v->entries_total = report.entries_total;
    v->counts = counts;
    v->result = rc;
    v->finished_ms = finished_ms;
    v->running = false;
    S_outcome_record(v, rc, finished_ms);
    pthread_mutex_unlock(&v->mutex);
    return NULL;
}

void http_verification_init(struct http_verification *v)
{
    memset(v, 0, sizeof *v);
    pthread_mutex_init(&v->mutex, NULL);
    thread_cond_init(&v->schedule_cond);
    atomic_init(&v->stopping, false);
    for (int i = 0; i < HTTP_VERIFICATION_RESULTS; i++)
        atomic_init(&v->finished_total[i], 0);
    atomic_init(&v->last_ok_finished_ms, 0);
    atomic_init(&v->verdict, HTTP_VERIFICATION_VERDICT_NONE);
}

void http_verification_stop(struct http_verification *v)
{
    /* Under the mutex, so that the schedule cannot miss the signal between
     * looking at stopping and waiting. */
    pthread_mutex_lock(&v->mutex);
    atomic_store(&v->stopping, true);
    pthread_cond_broadcast(&v->schedule_cond);
    pthread_mutex_unlock(&v->mutex);
    /* The schedule first: until it has ended it may start a check. */
    if (v->schedule_started)
        pthread_join(v->schedule_thread, NULL);
    v->schedule_started = false;
    if (v->thread_started)
        pthread_join(v->thread, NULL);
    v->thread_started = false;
    pthread_cond_destroy(&v->schedule_cond);
    pthread_mutex_destroy(&v->mutex);
}

/* Starts a check by `by` unless one runs: the one path of POST and the
 * schedule. The caller holds v->mutex, which this lets go of meanwhile to
 * join the last check's thread. *started is false when one was running
 * already. QB_E_BUSY when its thread cannot start (the state then says
 * so, as an "error"). */
static enum qb_error S_start(struct http_server *server, enum http_verification_by by,
                             const char *by_principal, bool *started)
{
    struct http_verification *v = &server->verification;
    *started = false;
    while (!v->running && v->thread_started) {
        /* The last check's thread has ended or is ending. This caller
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
    /* The daemon stops: the schedule starts nothing more. */
    if (v->running || atomic_load(&v->stopping))
        return QB_OK;
    v->number++;
    v->running = true;
    v->by = by;
    snprintf(v->by_principal, sizeof v->by_principal, "%s", by_principal);
    v->result = QB_OK;
    v->entries_checked = 0;
    v->entries_total = 0;
    memset(&v->report, 0, sizeof v->report);
    v->started_ms = S_now_ms(server);
    v->finished_ms = 0;
    v->last_started_ns = clock_monotonic_ns();
    if (pthread_create(&v->thread, NULL, S_run, server) != 0) {
        v->running = false;
        v->result = QB_E_BUSY;
        v->finished_ms = v->started_ms;
        S_outcome_record(v, QB_E_BUSY, v->finished_ms);
        return QB_E_BUSY;
    }
    thread_name(v->thread, "qb-verify");
    v->thread_started = true;
    *started = true;
    log_event(LOG_AUDIT, "ledger.verify_started", "number=%lld by=%s", (long long)v->number,
              v->by_principal);
    return QB_OK;
}

/* The schedule's thread: sleeps until a check is due, starts it, and
 * sleeps again; woken by http_verification_stop. */
static void *S_schedule_main(void *arg)
{
    struct http_server *server = arg;
    struct http_verification *v = &server->verification;
    pthread_mutex_lock(&v->mutex);
    while (!atomic_load(&v->stopping)) {
        int64_t now_ns = clock_monotonic_ns();
        int64_t due_ns = v->last_started_ns + v->interval_ns;
        if (now_ns < due_ns) {
            struct timespec deadline = {.tv_sec = (time_t)(due_ns / 1000000000),
                                        .tv_nsec = (long)(due_ns % 1000000000)};
            (void)pthread_cond_timedwait(&v->schedule_cond, &v->mutex, &deadline);
            continue;
        }
        if (atomic_load(&server->closing)) {
            /* The daemon is stopping: no check now; wait to be stopped. */
            pthread_cond_wait(&v->schedule_cond, &v->mutex);
            continue;
        }
        bool started = false;
        if (S_start(server, HTTP_VERIFICATION_BY_SCHEDULE, "schedule", &started) != QB_OK ||
            !started) {
            /* One was running (it counts), or no thread: an interval on. */
            v->last_started_ns = now_ns;
        }
    }
    pthread_mutex_unlock(&v->mutex);
    return NULL;
}

enum qb_error http_server_verification_schedule(struct http_server *server, int64_t interval_ms)
{
    QB_ASSERT(interval_ms >= 0 && interval_ms <= INT64_MAX / 1000000);
    struct http_verification *v = &server->verification;
    QB_ASSERT(!v->schedule_started);
    if (interval_ms == 0)
        return QB_OK;
    pthread_mutex_lock(&v->mutex);
    v->interval_ns = interval_ms * 1000000;
    v->last_started_ns = clock_monotonic_ns();
    pthread_mutex_unlock(&v->mutex);
    if (pthread_create(&v->schedule_thread, NULL, S_schedule_main, server) != 0)
        return QB_E_INTERNAL;
    thread_name(v->schedule_thread, "qb-verify-sched");
    v->schedule_started = true;
    log_event(LOG_INFO, "ledger.verify_scheduled", "interval_ms=%lld", (long long)interval_ms);
    return QB_OK;
}

static const char *S_status(const struct http_verification *v)
{
    return v->running ? "running" : S_result_name(v->result);
}

/* The trial balance a passing check proved: per currency, its kinds of
 * account and its system accounts (minor units). */
static json_t *S_trial_json(const struct ledger_trial_balance *t)
{
    json_t *currencies = json_array();
    json_t *kinds = NULL; /* the array of the currency being written */
    int rc = currencies == NULL ? -1 : 0;
    for (size_t i = 0; rc == 0 && i < t->line_count; i++) {
        const struct ledger_trial_line *line = &t->lines[i];
        if (i == 0 || t->lines[i - 1].currency != line->currency) {
            json_t *systems = json_array();
            for (size_t k = 0; k < t->system_count; k++)
                if (t->system[k].currency == line->currency)
                    rc |= json_array_append_new(
                        systems, json_pack("{s:s, s:I, s:I}", "owner", t->system[k].owner,
                                           "balance", (json_int_t)t->system[k].balance_minor,
                                           "held", (json_int_t)t->system[k].held_minor));
            kinds = json_array();
            json_t *one = json_object();
            rc |= json_object_set_new(one, "currency", json_string(line->currency->code));
            rc |= json_object_set_new(one, "kinds", kinds);
            rc |= json_object_set_new(one, "system_accounts", systems);
            rc |= json_array_append_new(currencies, one);
            if (rc != 0)
                break; /* kinds may be gone with one */
        }
        rc |= json_array_append_new(kinds, json_pack("{s:s, s:I, s:I, s:I}", "kind",
                                                     ledger_account_kind_name(line->kind),
                                                     "accounts", (json_int_t)line->accounts,
                                                     "balance", (json_int_t)line->balance_minor,
                                                     "held", (json_int_t)line->held_minor));
    }
    if (rc != 0) {
        json_decref(currencies);
        return NULL;
    }
    return currencies;
}

/* The problem as a JSON string: its bytes where they are UTF-8, each byte
 * that is not (a path's, or one cut in the middle of a character) as
 * U+FFFD, so that a problem naming such a path is still shown. */
static json_t *S_problem_json(const char *problem)
{
    json_t *text = json_string(problem);
    if (text != NULL)
        return text;
    char clean[3 * sizeof(((struct ledger_verify_report *)0)->problem)];
    size_t o = 0;
    size_t left = strlen(problem);
    for (const unsigned char *p = (const unsigned char *)problem; left > 0;) {
        uint32_t cp;
        size_t n = text_utf8_decode(p, left, &cp);
        if (o + 4 > sizeof clean)
            break;
        if (n == 0) {
            memcpy(clean + o, "\xef\xbf\xbd", 3);
            o += 3;
            n = 1;
        } else {
            memcpy(clean + o, p, n);
            o += n;
        }
        p += n;
        left -= n;
    }
    return json_stringn(clean, o);
}

/* The state as JSON; the caller holds v->mutex. */
static json_t *S_state_json(const struct http_verification *v)
{
    json_t *body = json_pack(
        "{s:I, s:s, s:s, s:I, s:I, s:o}", "number", (json_int_t)v->number, "status", S_status(v),
        "started_by", S_by_name(v->by), "entries_checked", (json_int_t)v->entries_checked,
        "entries_total", (json_int_t)v->entries_total, "started_at", http_time_json(v->started_ms));
    if (body == NULL || v->running)
        return body;
    int rc = json_object_set_new(body, "accounts_checked",
                                 json_integer((json_int_t)v->report.accounts_checked));
    rc |= json_object_set_new(body, "holds_open", json_integer((json_int_t)v->report.holds_open));
    const struct wallet_verify_counts *n = &v->counts;
    rc |=
        json_object_set_new(body, "red_packets_checked", json_integer((json_int_t)n->red_packets));
    rc |= json_object_set_new(
        body, "checked",
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "transfers",
                  (json_int_t)n->instant_transfers, "delayed_transfers",
                  (json_int_t)n->delayed_transfers, "transfer_returns",
                  (json_int_t)n->transfer_returns, "top_ups_and_withdrawals",
                  (json_int_t)n->bank_payments, "orders", (json_int_t)n->orders,
                  "merchant_transfers", (json_int_t)n->payouts, "collections",
                  (json_int_t)n->collections, "audit_rows", (json_int_t)n->audit_rows, "cards",
                  (json_int_t)n->cards, "merchants", (json_int_t)n->merchants));
    rc |= json_object_set_new(body, "finished_at", http_time_json(v->finished_ms));
    rc |= json_object_set_new(body, "duration_ms",
                              json_integer((json_int_t)(v->finished_ms - v->started_ms)));
    rc |= json_object_set_new(
        body, "last_entry_at",
        v->report.last_entry_at_ms > 0 ? http_time_json(v->report.last_entry_at_ms) : json_null());
    if (v->result == QB_OK) {
        rc |= json_object_set_new(body, "trial_balance", S_trial_json(&v->report.trial));
        rc |= json_object_set_new(body, "day_close",
                                  json_pack("{s:o, s:I, s:o}", "at",
                                            http_time_json(v->report.close_at_ms), "last_entry",
                                            (json_int_t)v->report.close_entry_id, "trial_balance",
                                            S_trial_json(&v->report.close)));
    }
    if (v->result != QB_OK)
        rc |= json_object_set_new(body, "problem", S_problem_json(v->report.problem));
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
    http_reply_json_new(req, status, body);
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
    bool started = false;
    if (S_start(server, HTTP_VERIFICATION_BY_OPERATOR, http_request_by(req), &started) != QB_OK) {
        pthread_mutex_unlock(&v->mutex);
        http_reply_error(req, QB_E_BUSY);
        return;
    }
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

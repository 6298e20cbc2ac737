/*
 * worker.c — a background thread that runs one pass of work at an interval.
 *
 * Every worker that finishes what the request path left open shares this
 * loop: the wallet's (delayed transfers, pending bank operations), the red
 * packets' refunds, the payment-code orders and payouts past their time,
 * the merchant notifications and the SMS outbox. Run a pass, sleep
 * poll_ms on a monotonic clock, repeat until stopped. A pass
 * that filled its batch says it has more, and the next runs at once: the
 * sleep is for an idle worker, never a cap on its rate; a worker's own
 * threads may end it early too (domain_worker_wake). Stopping wakes the
 * sleep at once and waits for the pass in progress; a pass sees the stop
 * flag and may end early. Nothing is kept between passes, so what a pass
 * did not finish is found again by the next one or after a restart.
 *
 * While the ledger cannot run commands (failing storage, a full disk: a
 * pass failed, or one of its rows' commands did, domain_worker_pass_ends),
 * the next pass waits longer each time, from a second up to a minute,
 * whatever the poll or a wake says: each pass would ask the bank again
 * about a payment whose answer it cannot write, and log it, at the poll's
 * pace, for as long as the disk stays full.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/thread.h"
#include "domain/domain.h"
#include "store/pool.h"

#define S_ACQUIRE_WAIT_MS 5000
#define S_DOWN_WAIT_MIN_MS 1000  /* after the first pass the ledger could not serve */
#define S_DOWN_WAIT_MAX_MS 60000 /* doubling up to this */

/* Set by domain_worker_pass_ends on the thread whose pass met a ledger
 * that could not run a command; read and cleared by that thread's loop. */
static _Thread_local bool S_ledger_down;

struct domain_worker {
    char name[32];
    int poll_ms;
    domain_worker_pass_fn pass;
    void *arg;
    pthread_t thread;
    pthread_mutex_t mutex;
    pthread_cond_t cond; /* on CLOCK_MONOTONIC; signalled to stop or wake */
    atomic_bool stopping;
    bool woken; /* under mutex: domain_worker_wake since the last pass began */
};

static void *worker_main(void *arg)
{
    struct domain_worker *w = arg;
    int down_wait_ms = 0; /* 0 while the ledger serves the passes */
    while (!atomic_load(&w->stopping)) {
        pthread_mutex_lock(&w->mutex);
        w->woken = false; /* a wake from now on asks for the pass after this one */
        pthread_mutex_unlock(&w->mutex);
        bool more = false;
        S_ledger_down = false;
        enum qb_error err = w->pass(w->arg, &w->stopping, &more);
        if (err != QB_OK)
            log_event(LOG_WARN, "worker.pass_failed", "worker=%s error=%s", w->name,
                      error_name(err));
        bool down = S_ledger_down || err == QB_E_STORAGE || err == QB_E_BUSY;
        down_wait_ms = !down                                   ? 0
                       : down_wait_ms == 0                     ? S_DOWN_WAIT_MIN_MS
                       : down_wait_ms < S_DOWN_WAIT_MAX_MS / 2 ? down_wait_ms * 2
                                                               : S_DOWN_WAIT_MAX_MS;
        if (err == QB_OK && more && !down)
            continue;
        int wait_ms = down_wait_ms > w->poll_ms ? down_wait_ms : w->poll_ms;
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += wait_ms / 1000;
        deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&w->mutex);
        while (!atomic_load(&w->stopping) && (!w->woken || down)) {
            if (pthread_cond_timedwait(&w->cond, &w->mutex, &deadline) == ETIMEDOUT)
                break;
        }
        pthread_mutex_unlock(&w->mutex);
    }
    return NULL;
}

enum qb_error domain_worker_start(const char *name, int poll_ms, domain_worker_pass_fn pass,
                                  void *arg, struct domain_worker **out)
{
    QB_ASSERT(name != NULL && pass != NULL && out != NULL && poll_ms > 0);
    *out = NULL;
    struct domain_worker *w = calloc(1, sizeof *w);
    if (w == NULL)
        return QB_E_INTERNAL;
    snprintf(w->name, sizeof w->name, "%s", name);
    w->poll_ms = poll_ms;
    w->pass = pass;
    w->arg = arg;
    atomic_init(&w->stopping, false);
    thread_cond_init(&w->cond);
    pthread_mutex_init(&w->mutex, NULL);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->mutex);
        free(w);
        return QB_E_INTERNAL;
    }
    thread_name(w->thread, "qb-%s", w->name);
    log_event(LOG_INFO, "worker.start", "worker=%s poll_ms=%d", w->name, poll_ms);
    *out = w;
    return QB_OK;
}

int domain_worker_poll_ms(const struct domain_env *env, int own_poll_ms)
{
    QB_ASSERT(env != NULL && own_poll_ms > 0);
    int64_t poll_ms = env->settings.worker_poll_ms;
    QB_ASSERT(poll_ms >= 0 && poll_ms <= INT_MAX);
    return poll_ms > 0 ? (int)poll_ms : own_poll_ms;
}

bool domain_worker_pass_ends(enum qb_error err, const char *event, const char *row)
{
    QB_ASSERT(err != QB_OK && event != NULL && row != NULL);
    bool ledger_down = err == QB_E_SHUTTING_DOWN || err == QB_E_BUSY || err == QB_E_STORAGE;
    log_event(ledger_down ? LOG_WARN : LOG_ERROR, event, "%s error=%s", row, error_name(err));
    /* Stopping is no failure to wait out: the loop ends anyway. */
    if (err == QB_E_BUSY || err == QB_E_STORAGE)
        S_ledger_down = true;
    return ledger_down;
}

void domain_worker_wake(struct domain_worker *w)
{
    QB_ASSERT(w != NULL);
    pthread_mutex_lock(&w->mutex);
    w->woken = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mutex);
}

void domain_worker_stop(struct domain_worker *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mutex);
    atomic_store(&w->stopping, true);
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mutex);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mutex);
    free(w);
}

enum qb_error domain_due_ids(struct store_pool *pool, const char *sql, int64_t now_ms,
                             struct domain_due_cursor *cursor, char *ids, size_t id_size,
                             size_t max, size_t *count)
{
    QB_ASSERT(pool != NULL && sql != NULL && cursor != NULL && ids != NULL && id_size > 1);
    QB_ASSERT(max > 0 && count != NULL);
    *count = 0;
    struct store *reader;
    enum qb_error err = store_pool_acquire(pool, S_ACQUIRE_WAIT_MS, &reader);
    if (err != QB_OK)
        return err;
    struct store_stmt *st = NULL;
    err = store_prepare(reader, sql, &st);
    if (err == QB_OK)
        err = store_bind_int64(st, 1, now_ms);
    if (err == QB_OK)
        err = store_bind_int64(st, 2, (int64_t)max);
    if (err == QB_OK)
        err = store_bind_int64(st, 3, cursor->due_ms);
    if (err == QB_OK)
        err = store_bind_int64(st, 4, cursor->seq);
    struct domain_due_cursor last = DOMAIN_DUE_START;
    size_t rows = 0;
    int rc = STORE_STEP_DONE;
    while (err == QB_OK && rows < max && (rc = store_step(st)) == STORE_STEP_ROW) {
        rows++;
        last.due_ms = store_column_int64(st, 1);
        last.seq = store_column_int64(st, 2);
        const char *id = store_column_text(st, 0);
        size_t size = id != NULL ? store_column_size(st, 0) : 0;
        if (size == 0 || size >= id_size)
            continue;
        memcpy(ids + *count * id_size, id, size);
        ids[*count * id_size + size] = '\0';
        (*count)++;
    }
    if (err == QB_OK && rc < 0)
        err = QB_E_STORAGE;
    if (err != QB_OK) /* the pass's failure names the worker */
        log_event(LOG_WARN, "worker.due_read_failed", "error=%s detail=\"%s\"", error_name(err),
                  store_last_error(reader));
    store_finalize(st);
    store_pool_release(pool, reader);
    QB_ASSERT(*count <= rows && rows <= max);
    if (err == QB_OK) {
        /* A row read after the cursor comes after it, unless its due time
         * is no integer (a REAL written by hand: read here cut to one, while
         * the SQL compares it whole). Then the cursor cannot go on past it:
         * start over, as before cursors, and name the row. */
        bool ordered = rows == 0 || last.due_ms > cursor->due_ms ||
                       (last.due_ms == cursor->due_ms && last.seq > cursor->seq);
        if (!ordered)
            log_event(LOG_ERROR, "worker.due_not_integer",
                      "seq=%lld due_ms=%lld advice=a_due_time_written_by_hand_must_be_an_integer",
                      (long long)last.seq, (long long)last.due_ms);
        last.full = ordered && rows == max;
        *cursor = last.full ? last : DOMAIN_DUE_START;
    }
    return err;
}

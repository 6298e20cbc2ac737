/*
 * worker.c — the SMS delivery worker: outbox rows to the gateway, with retries.
 *
 * One thread with its own read connection (taken from the pool for the
 * worker's whole life). Every SMS_WORKER_POLL_MS, or at once when woken, a
 * pass reads up to SMS_WORKER_BATCH_MAX pending rows (not delivered, due,
 * fewer than SMS_ATTEMPTS_MAX attempts) in id order, then for each row:
 * unseals the code, hands it to the gateway (which may block up to its own
 * timeout; the read statement is reset before, so no snapshot is held
 * across the network), and records the result with a small command through
 * the ledger, the only writer:
 *   delivered  delivered_at_ms = now; with a real provider the sealed code
 *              is overwritten with an empty blob, since nobody needs it
 *              again (the outbox gateway keeps it: it is the delivery);
 *   failed     attempts + 1 and the next attempt after 1 s, 2 s, 4 s ...
 *              capped at SMS_BACKOFF_MAX_MS; after SMS_ATTEMPTS_MAX
 *              attempts the row is left undelivered and logged.
 * Delivery is at least once: a crash between the provider's answer and the
 * command sends that message again.
 *
 * Time comes from env->clock, as the ledger's does, so tests drive the
 * backoff with a manual clock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/thread.h"
#include "sms/sms.h"

#define SMS_WORKER_POLL_MS 200
#define SMS_WORKER_BATCH_MAX 64
#define SMS_WORKER_ACQUIRE_WAIT_MS 5000
#define SMS_ATTEMPTS_MAX 10
#define SMS_BACKOFF_FIRST_MS 1000
#define SMS_BACKOFF_MAX_MS (300 * 1000)
#define SMS_SEALED_SIZE (SMS_CODE_DIGITS + DOMAIN_SEAL_OVERHEAD)

struct sms_worker {
    const struct domain_env *env;
    struct store_pool *pool;
    struct sms_gateway *gateway;
    bool keeps_code; /* the outbox gateway: the row is the message */
    pthread_t thread;
    pthread_mutex_t mutex;
    pthread_cond_t cond; /* on CLOCK_MONOTONIC */
    bool woken;          /* under mutex */
    atomic_bool stopping;
};

enum qb_error sms_outbox_undelivered(struct store *reader, int64_t *retrying, int64_t *given_up)
{
    *retrying = *given_up = 0;
    struct store_stmt *st = NULL;
    if (store_prepare(reader,
                      "SELECT attempts >= $1, COUNT(*) FROM sms_outbox WHERE delivered_at_ms = 0"
                      " GROUP BY attempts >= $1",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    int rc = store_bind_int64(st, 1, SMS_ATTEMPTS_MAX) == QB_OK ? STORE_STEP_ROW : -1;
    while (rc == STORE_STEP_ROW && (rc = store_step(st)) == STORE_STEP_ROW)
        *(store_column_int64(st, 0) != 0 ? given_up : retrying) = store_column_int64(st, 1);
    store_finalize(st);
    return rc == STORE_STEP_DONE ? QB_OK : QB_E_STORAGE;
}

/* A pending row as read, copied out of the statement. */
struct sms_pending {
    int64_t id;
    char phone[SMS_PHONE_SIZE_MAX];
    int64_t purpose;
    uint8_t sealed[SMS_SEALED_SIZE];
    size_t sealed_size;
    int64_t attempts;
};

enum sms_mark {
    SMS_MARK_DELIVERED = 1,
    SMS_MARK_FAILED,
    SMS_MARK_ABANDONED, /* cannot ever be sent (the code does not unseal) */
};

struct sms_mark_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    int64_t outbox_id;
    enum sms_mark mark;
    bool drop_code;
    int64_t attempts_before;
};

/* The wait before the attempt after `attempts` failed ones: 1 s doubling,
 * capped. */
static int64_t sms_backoff_ms(int64_t attempts)
{
    QB_ASSERT(attempts >= 1);
    int64_t delay_ms = SMS_BACKOFF_FIRST_MS;
    for (int64_t i = 1; i < attempts && delay_ms < SMS_BACKOFF_MAX_MS; i++)
        delay_ms *= 2;
    return delay_ms < SMS_BACKOFF_MAX_MS ? delay_ms : SMS_BACKOFF_MAX_MS;
}

static enum qb_error sms_mark_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct sms_mark_cmd *c = (struct sms_mark_cmd *)cmd;
    QB_ASSERT(c->outbox_id > 0);
    struct store *store = ledger_txn_store(txn);
    int64_t now_ms = ledger_txn_now_ms(txn);
    struct store_stmt *st = NULL;
    enum qb_error err;
    static const uint8_t empty[1];

    switch (c->mark) {
    case SMS_MARK_DELIVERED:
        if (c->drop_code) {
            err = store_prepare(store,
                                "UPDATE sms_outbox SET delivered_at_ms = $1, code_sealed = $2"
                                " WHERE id = $3 AND delivered_at_ms = 0",
                                &st);
            if (err == QB_OK && (err = store_bind_int64(st, 1, now_ms)) == QB_OK &&
                (err = store_bind_blob(st, 2, empty, 0)) == QB_OK &&
                (err = store_bind_int64(st, 3, c->outbox_id)) == QB_OK)
                err = store_step_done(st);
        } else {
            err = store_prepare(store,
                                "UPDATE sms_outbox SET delivered_at_ms = $1"
                                " WHERE id = $2 AND delivered_at_ms = 0",
                                &st);
            if (err == QB_OK && (err = store_bind_int64(st, 1, now_ms)) == QB_OK &&
                (err = store_bind_int64(st, 2, c->outbox_id)) == QB_OK)
                err = store_step_done(st);
        }
        break;
    case SMS_MARK_FAILED:
        err = store_prepare(store,
                            "UPDATE sms_outbox SET attempts = attempts + 1,"
                            " next_attempt_at_ms = $1 WHERE id = $2 AND delivered_at_ms = 0",
                            &st);
        if (err == QB_OK &&
            (err = store_bind_int64(st, 1, now_ms + sms_backoff_ms(c->attempts_before + 1))) ==
                QB_OK &&
            (err = store_bind_int64(st, 2, c->outbox_id)) == QB_OK)
            err = store_step_done(st);
        break;
    case SMS_MARK_ABANDONED:
        err = store_prepare(store,
                            "UPDATE sms_outbox SET attempts = $1 WHERE id = $2"
                            " AND delivered_at_ms = 0",
                            &st);
        if (err == QB_OK && (err = store_bind_int64(st, 1, SMS_ATTEMPTS_MAX)) == QB_OK &&
            (err = store_bind_int64(st, 2, c->outbox_id)) == QB_OK)
            err = store_step_done(st);
        break;
    default:
        QB_UNREACHABLE();
    }
    store_finalize(st);
    return err;
}

/* Records what happened to one row; false when the ledger did not take it
 * (shutting down, busy, storage), which ends the pass. */
static bool sms_worker_mark(struct sms_worker *w, const struct sms_pending *row, enum sms_mark mark)
{
    struct sms_mark_cmd c;
    memset(&c, 0, sizeof c);
    ledger_cmd_init(&c.cmd, sms_mark_run, w);
    c.outbox_id = row->id;
    c.mark = mark;
    c.drop_code = !w->keeps_code;
    c.attempts_before = row->attempts;
    enum qb_error err = ledger_execute(w->env->ledger, &c.cmd);
    if (err == QB_OK)
        err = c.cmd.result;
    ledger_cmd_release(&c.cmd);
    if (err != QB_OK) {
        log_event(LOG_WARN, "sms.worker.mark_failed", "outbox_id=%lld error=%s", (long long)row->id,
                  error_name(err));
        return false;
    }
    return true;
}

/* Reads up to SMS_WORKER_BATCH_MAX due rows into rows, with a read
 * connection borrowed from the pool for this pass only: the worker must not
 * keep one of the few connections HTTP reads share. */
static enum qb_error sms_worker_read(struct sms_worker *w, int64_t now_ms, struct sms_pending *rows,
                                     size_t *count)
{
    *count = 0;
    struct store *reader;
    enum qb_error err = store_pool_acquire(w->pool, SMS_WORKER_ACQUIRE_WAIT_MS, &reader);
    if (err != QB_OK)
        return err;
    struct store_stmt *st;
    err = store_prepare(reader,
                        "SELECT id, phone, purpose, code_sealed, attempts FROM sms_outbox"
                        " WHERE delivered_at_ms = 0 AND next_attempt_at_ms <= $1"
                        " AND attempts < $2 ORDER BY id LIMIT $3",
                        &st);
    if (err != QB_OK) {
        store_pool_release(w->pool, reader);
        return err;
    }
    err = store_bind_int64(st, 1, now_ms);
    if (err == QB_OK)
        err = store_bind_int64(st, 2, SMS_ATTEMPTS_MAX);
    if (err == QB_OK)
        err = store_bind_int64(st, 3, SMS_WORKER_BATCH_MAX);
    int rc = STORE_STEP_DONE;
    while (err == QB_OK && *count < SMS_WORKER_BATCH_MAX &&
           (rc = store_step(st)) == STORE_STEP_ROW) {
        struct sms_pending *row = &rows[*count];
        memset(row, 0, sizeof *row);
        row->id = store_column_int64(st, 0);
        snprintf(row->phone, sizeof row->phone, "%s", store_column_text(st, 1));
        row->purpose = store_column_int64(st, 2);
        const void *sealed = store_column_blob(st, 3);
        size_t sealed_size = store_column_size(st, 3);
        if (sealed_size == sizeof row->sealed) {
            memcpy(row->sealed, sealed, sealed_size);
            row->sealed_size = sealed_size;
        }
        row->attempts = store_column_int64(st, 4);
        (*count)++;
    }
    if (err == QB_OK && rc < 0)
        err = (enum qb_error)(-rc);
    store_finalize(st);
    store_pool_release(w->pool, reader);
    QB_ASSERT(*count <= SMS_WORKER_BATCH_MAX);
    return err;
}

/* One pass over the due rows. */
static void sms_worker_pass(struct sms_worker *w)
{
    struct sms_pending *rows = calloc(SMS_WORKER_BATCH_MAX, sizeof *rows);
    if (rows == NULL)
        return;
    size_t count = 0;
    enum qb_error err = sms_worker_read(w, clock_now_ms(w->env->clock), rows, &count);
    if (err != QB_OK)
        log_event(LOG_WARN, "sms.worker.read_failed", "error=%s", error_name(err));

    for (size_t i = 0; i < count && !atomic_load(&w->stopping); i++) {
        struct sms_pending *row = &rows[i];
        char masked[16];
        log_mask_pan(row->phone, masked, sizeof masked);
        char code[SMS_CODE_DIGITS + 1] = "";
        bool opened = row->sealed_size == SMS_SEALED_SIZE &&
                      domain_unseal(w->env, row->sealed, row->sealed_size, code);
        code[SMS_CODE_DIGITS] = '\0';
        if (!opened || row->purpose < SMS_PURPOSE_REGISTER || row->purpose > SMS_PURPOSE_LAST) {
            log_event(LOG_ERROR, "sms.outbox.unsendable", "outbox_id=%lld phone=%s",
                      (long long)row->id, masked);
            if (!sms_worker_mark(w, row, SMS_MARK_ABANDONED))
                break;
            continue;
        }
        err = w->gateway->ops->send(w->gateway, row->phone, (enum sms_purpose)row->purpose, code);
        crypto_wipe(code, sizeof code);
        if (err == QB_OK) {
            log_event(LOG_INFO, "sms.delivered", "outbox_id=%lld phone=%s gateway=%s",
                      (long long)row->id, masked, w->gateway->ops->name);
            if (!sms_worker_mark(w, row, SMS_MARK_DELIVERED))
                break;
            continue;
        }
        if (row->attempts + 1 >= SMS_ATTEMPTS_MAX)
            log_event(LOG_ERROR, "sms.outbox.undeliverable",
                      "outbox_id=%lld phone=%s attempts=%lld", (long long)row->id, masked,
                      (long long)(row->attempts + 1));
        if (!sms_worker_mark(w, row, SMS_MARK_FAILED))
            break;
    }
    crypto_wipe(rows, SMS_WORKER_BATCH_MAX * sizeof *rows);
    free(rows);
}

static void *sms_worker_main(void *arg)
{
    struct sms_worker *w = arg;
    pthread_mutex_lock(&w->mutex);
    while (!atomic_load(&w->stopping)) {
        w->woken = false;
        pthread_mutex_unlock(&w->mutex);
        sms_worker_pass(w);
        pthread_mutex_lock(&w->mutex);
        if (w->woken || atomic_load(&w->stopping))
            continue;
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_nsec += (long)SMS_WORKER_POLL_MS * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        while (!w->woken && !atomic_load(&w->stopping)) {
            if (pthread_cond_timedwait(&w->cond, &w->mutex, &deadline) == ETIMEDOUT)
                break;
        }
    }
    pthread_mutex_unlock(&w->mutex);
    return NULL;
}

enum qb_error sms_worker_start(const struct domain_env *env, struct store_pool *pool,
                               struct sms_gateway *gateway, struct sms_worker **out)
{
    QB_ASSERT(out != NULL);
    *out = NULL;
    if (env == NULL || env->ledger == NULL || env->clock == NULL || pool == NULL ||
        gateway == NULL || gateway->ops == NULL)
        return QB_E_PARAM;
    struct sms_worker *w = calloc(1, sizeof *w);
    if (w == NULL)
        return QB_E_INTERNAL;
    w->env = env;
    w->pool = pool;
    w->gateway = gateway;
    w->keeps_code = strcmp(gateway->ops->name, "outbox") == 0;
    atomic_init(&w->stopping, false);

    enum qb_error err;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&w->mutex, NULL);
    if (pthread_create(&w->thread, NULL, sms_worker_main, w) != 0) {
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->mutex);
        err = QB_E_INTERNAL;
        goto fail;
    }
    thread_name(w->thread, "qb-sms");
    log_event(LOG_INFO, "sms.worker.start", "gateway=%s", gateway->ops->name);
    *out = w;
    return QB_OK;
fail:
    free(w);
    return err;
}

void sms_worker_wake(struct sms_worker *worker)
{
    QB_ASSERT(worker != NULL);
    pthread_mutex_lock(&worker->mutex);
    worker->woken = true;
    pthread_cond_signal(&worker->cond);
    pthread_mutex_unlock(&worker->mutex);
}

void sms_worker_stop(struct sms_worker *worker)
{
    if (worker == NULL)
        return;
    pthread_mutex_lock(&worker->mutex);
    atomic_store(&worker->stopping, true);
    pthread_cond_signal(&worker->cond);
    pthread_mutex_unlock(&worker->mutex);
    pthread_join(worker->thread, NULL);
    pthread_cond_destroy(&worker->cond);
    pthread_mutex_destroy(&worker->mutex);
    free(worker);
}

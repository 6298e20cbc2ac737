/*
 * worker.c — the SMS delivery worker: outbox rows to the gateway, with retries.
 *
 * One thread, on the workers' shared loop (domain_worker_start), with a
 * read connection borrowed from the pool for each pass's read. Every
 * SMS_WORKER_POLL_MS, or at once when woken, a pass reads up to
 * SMS_WORKER_BATCH_MAX pending rows (not delivered, due, fewer than
 * SMS_ATTEMPTS_MAX attempts) in id order, then for each row:
 * unseals the code and what it authorises, hands them to the gateway
 * (which may block up to its own timeout; the read statement is reset
 * before, so no snapshot is held across the network), and records the
 * result with a small command through the ledger, the only writer:
 *   delivered  delivered_at_ms = now; with a real provider the sealed code
 *              is overwritten with an empty blob, since nobody needs it
 *              again (the outbox gateway keeps it: it is the delivery);
 *   failed     attempts + 1 and the next attempt after 1 s, 2 s, 4 s ...
 *              capped at SMS_BACKOFF_MAX_MS; after SMS_ATTEMPTS_MAX
 *              attempts the row is left undelivered and logged;
 *   expired    the code's TTL ran out before it was sent, or would before
 *              the next attempt: the row is marked never to be tried again
 *              (sms_int.h), its sealed code dropped as a delivered one's,
 *              and logged once. A code that no longer works only misleads
 *              the user who receives it, and a retry that could only come
 *              after the expiry is no retry at all. The check is made with
 *              the clock just before each send, so a pass that took long
 *              (each send may block for its timeout) cannot send a code
 *              that expired meanwhile; a send that starts before the expiry
 *              goes ahead, whenever the provider answers.
 * A pass that read a full batch and recorded every row of it says it has
 * more, and the loop runs the next at once: a burst of codes goes out at
 * the rate the provider answers, not one batch per SMS_WORKER_POLL_MS,
 * while the codes still work.
 * Delivery is at least once: a crash between the provider's answer and the
 * command sends that message again.
 *
 * Time comes from env->clock, as the ledger's does, so tests drive the
 * backoff with a manual clock.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "sms/sms.h"
#include "sms/sms_int.h"

#define SMS_WORKER_POLL_MS 200
#define SMS_WORKER_BATCH_MAX 64
#define SMS_WORKER_ACQUIRE_WAIT_MS 5000
#define SMS_BACKOFF_FIRST_MS 1000
#define SMS_BACKOFF_MAX_MS (300 * 1000)
#define SMS_SEALED_SIZE (SMS_CODE_DIGITS + DOMAIN_SEAL_OVERHEAD)

#define S_SENT_UNMARKED_MAX 64

struct sms_worker {
    const struct domain_env *env;
    struct store_pool *pool;
    struct sms_gateway *gateway;
    bool keeps_code; /* the outbox gateway: the row is the message */
    struct domain_worker *loop;
    /* The rows the gateway took whose delivery the ledger did not record
     * (it could not write): the next pass records it without sending the
     * code again, which would reach the phone once a pass while the disk
     * stays full. The loop's thread's alone; a restart forgets them, and
     * sends each at most once more. Oldest first; a full list drops it. */
    int64_t sent_unmarked[S_SENT_UNMARKED_MAX];
    size_t sent_unmarked_count;
};

/* Whether row id was sent and its delivery not recorded; forgets it. */
static bool S_sent_unmarked_take(struct sms_worker *w, int64_t id)
{
    for (size_t i = 0; i < w->sent_unmarked_count; i++) {
        if (w->sent_unmarked[i] != id)
            continue;
        memmove(&w->sent_unmarked[i], &w->sent_unmarked[i + 1],
                (w->sent_unmarked_count - i - 1) * sizeof w->sent_unmarked[0]);
        w->sent_unmarked_count--;
        return true;
    }
    return false;
}

static void S_sent_unmarked_keep(struct sms_worker *w, int64_t id)
{
    if (w->sent_unmarked_count == S_SENT_UNMARKED_MAX) {
        memmove(&w->sent_unmarked[0], &w->sent_unmarked[1],
                (S_SENT_UNMARKED_MAX - 1) * sizeof w->sent_unmarked[0]);
        w->sent_unmarked_count--;
    }
    w->sent_unmarked[w->sent_unmarked_count++] = id;
}

/* A pending row as read, copied out of the statement. */
struct sms_pending {
    int64_t id;
    char phone[SMS_PHONE_SIZE_MAX];
    int64_t purpose;
    uint8_t sealed[SMS_SEALED_SIZE];
    size_t sealed_size; /* 0: a notice's, no code; SIZE_MAX: not of its shape */
    uint8_t detail_sealed[SMS_DETAIL_SEALED_SIZE_MAX];
    size_t detail_sealed_size; /* 0: names nothing; SIZE_MAX: not of its shape */
    int64_t attempts;
    int64_t created_at_ms;
    bool live; /* its code still works: the newest of its kind, not used, not locked */
};

enum sms_mark {
    SMS_MARK_DELIVERED = 1,
    SMS_MARK_FAILED,
    SMS_MARK_ABANDONED, /* cannot ever be sent (the code does not unseal) */
    SMS_MARK_EXPIRED,   /* never to be sent: the code expired, or will before a retry, or no
                         * longer works (replaced, used, locked) */
};

struct sms_mark_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    int64_t outbox_id;
    enum sms_mark mark;
    bool drop_code;
    bool attempted;             /* with EXPIRED: after a failed attempt, which counts */
    int64_t next_attempt_at_ms; /* with FAILED: before the code's expiry */
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
                                "UPDATE sms_outbox SET delivered_at_ms = $1, code_sealed = $2,"
                                " detail_sealed = $2 WHERE id = $3 AND delivered_at_ms = 0",
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
    case SMS_MARK_FAILED: {
        /* The last attempt leaves the worker's read (sms_outbox_pending)
         * for good, as an expired row does: given up, it is never read
         * again. */
        QB_ASSERT(c->next_attempt_at_ms > 0 && c->next_attempt_at_ms < SMS_NEXT_ATTEMPT_NEVER_MS);
        const struct store_param params[] = {
            STORE_INT(SMS_ATTEMPTS_MAX), STORE_INT(SMS_NEXT_ATTEMPT_NEVER_MS),
            STORE_INT(c->next_attempt_at_ms), STORE_INT(c->outbox_id)};
        err = store_run(store,
                        "UPDATE sms_outbox SET attempts = attempts + 1,"
                        " next_attempt_at_ms = CASE WHEN attempts + 1 >= $1 THEN $2 ELSE $3 END"
                        " WHERE id = $4 AND delivered_at_ms = 0",
                        params, QB_ARRAY_COUNT(params));
        break;
    }
    case SMS_MARK_EXPIRED: {
        const struct store_param params[] = {
            STORE_INT(c->attempted ? 1 : 0), STORE_INT(SMS_NEXT_ATTEMPT_NEVER_MS),
            STORE_INT(c->drop_code ? 1 : 0), STORE_BLOB(empty, 0), STORE_INT(c->outbox_id)};
        err = store_run(store,
                        "UPDATE sms_outbox SET attempts = attempts + $1, next_attempt_at_ms = $2,"
                        " code_sealed = CASE WHEN $3 = 1 THEN $4 ELSE code_sealed END,"
                        " detail_sealed = CASE WHEN $3 = 1 THEN $4 ELSE detail_sealed END"
                        " WHERE id = $5 AND delivered_at_ms = 0",
                        params, QB_ARRAY_COUNT(params));
        break;
    }
    case SMS_MARK_ABANDONED: {
        const struct store_param params[] = {STORE_INT(SMS_ATTEMPTS_MAX),
                                             STORE_INT(SMS_NEXT_ATTEMPT_NEVER_MS),
                                             STORE_INT(c->outbox_id)};
        err = store_run(store,
                        "UPDATE sms_outbox SET attempts = $1, next_attempt_at_ms = $2"
                        " WHERE id = $3 AND delivered_at_ms = 0",
                        params, QB_ARRAY_COUNT(params));
        break;
    }
    default:
        QB_UNREACHABLE();
    }
    store_finalize(st);
    return err;
}

/* Records what happened to one row; false when the ledger did not take it
 * (shutting down, busy, storage), which ends the pass. attempted: with
 * SMS_MARK_EXPIRED, the row was just tried and failed. next_attempt_at_ms:
 * with SMS_MARK_FAILED, when to try again (the worker's clock decided that
 * it comes before the code's expiry; the writer's may read later). */
static bool sms_worker_mark(struct sms_worker *w, const struct sms_pending *row, enum sms_mark mark,
                            bool attempted, int64_t next_attempt_at_ms)
{
    QB_ASSERT(!attempted || mark == SMS_MARK_EXPIRED);
    struct sms_mark_cmd c;
    memset(&c, 0, sizeof c);
    ledger_cmd_init(&c.cmd, sms_mark_run, w);
    c.outbox_id = row->id;
    c.mark = mark;
    /* A notice has no code, and what it names (a masked phone, a card's
     * last four digits) stays, so that the outbox shows what was sent. */
    c.drop_code = !w->keeps_code && !sms_purpose_is_notice(row->purpose);
    c.attempted = attempted;
    c.next_attempt_at_ms = next_attempt_at_ms;
    enum qb_error err = ledger_execute(w->env->ledger, &c.cmd);
    if (err == QB_OK)
        err = c.cmd.result;
    ledger_cmd_release(&c.cmd);
    if (err != QB_OK) {
        /* Logged, and a ledger that cannot write makes the next pass wait
         * (domain/worker.c): the same code would be sent again at every
         * poll while its delivery cannot be recorded. */
        char what[48];
        snprintf(what, sizeof what, "outbox_id=%lld", (long long)row->id);
        (void)domain_worker_pass_ends(err, "sms.worker.mark_failed", what);
        return false;
    }
    return true;
}

/* The time at which the row's code stops working: nothing is sent then
 * or after. The TTL is the one in force now, which is the code's own
 * unless a restart changed it; an expired row is marked so that a longer
 * one cannot revive it. */
static int64_t sms_worker_expires_at_ms(const struct sms_worker *w, const struct sms_pending *row)
{
    return row->created_at_ms + w->env->settings.sms_code_ttl_ms;
}

/* Reads up to SMS_WORKER_BATCH_MAX rows into rows: those due, and those
 * whose code has expired though their attempt is not due (left by a daemon
 * before this rule), to be marked. With a read connection borrowed from
 * the pool for this pass only: the worker must not keep one of the few
 * connections HTTP reads share. */
static enum qb_error sms_worker_read(struct sms_worker *w, int64_t now_ms, struct sms_pending *rows,
                                     size_t *count)
{
    *count = 0;
    struct store *reader;
    enum qb_error err = store_pool_acquire(w->pool, SMS_WORKER_ACQUIRE_WAIT_MS, &reader);
    if (err != QB_OK)
        return err;
    struct store_stmt *st;
    /* live: the message's code is the newest of its phone, purpose and
     * target (sms_txn_code_check reads that one alone), not used, and not
     * locked by wrong tries; a message from before codes were named (0)
     * counts as live. */
    err = store_prepare(reader,
                        "SELECT o.id, o.phone, o.purpose, o.code_sealed, o.attempts,"
                        " o.created_at_ms, o.code_id = 0 OR EXISTS (SELECT 1 FROM sms_codes c"
                        "  WHERE c.id = o.code_id AND c.used = 0 AND c.failures < $6"
                        "  AND NOT EXISTS (SELECT 1 FROM sms_codes n WHERE n.phone = c.phone"
                        "   AND n.purpose = c.purpose AND n.target = c.target AND n.id > c.id)),"
                        " o.detail_sealed"
                        " FROM sms_outbox o WHERE o.delivered_at_ms = 0 AND o.attempts < $2"
                        " AND o.next_attempt_at_ms < $4"
                        " AND (o.next_attempt_at_ms <= $1 OR o.created_at_ms <= $5)"
                        " ORDER BY o.id LIMIT $3",
                        &st);
    if (err != QB_OK) {
        store_pool_release(w->pool, reader);
        return err;
    }
    const struct store_param params[] = {STORE_INT(now_ms),
                                         STORE_INT(SMS_ATTEMPTS_MAX),
                                         STORE_INT(SMS_WORKER_BATCH_MAX),
                                         STORE_INT(SMS_NEXT_ATTEMPT_NEVER_MS),
                                         STORE_INT(now_ms - w->env->settings.sms_code_ttl_ms),
                                         STORE_INT(w->env->settings.sms_failures_max)};
    err = store_bind_params(st, params, QB_ARRAY_COUNT(params));
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
        row->sealed_size = sealed_size == 0 ? 0 : SIZE_MAX; /* a notice's; not of its shape */
        if (sealed_size == sizeof row->sealed) {
            memcpy(row->sealed, sealed, sealed_size);
            row->sealed_size = sealed_size;
        }
        row->attempts = store_column_int64(st, 4);
        row->created_at_ms = store_column_int64(st, 5);
        row->live = store_column_int64(st, 6) != 0;
        const void *detail = store_column_blob(st, 7);
        size_t detail_size = store_column_size(st, 7);
        row->detail_sealed_size = SIZE_MAX;
        if (detail_size <= sizeof row->detail_sealed) {
            if (detail_size > 0)
                memcpy(row->detail_sealed, detail, detail_size);
            row->detail_sealed_size = detail_size;
        }
        (*count)++;
    }
    if (err == QB_OK && rc < 0)
        err = (enum qb_error)(-rc);
    store_finalize(st);
    store_pool_release(w->pool, reader);
    QB_ASSERT(*count <= SMS_WORKER_BATCH_MAX);
    return err;
}

/* One pass over the due rows (domain_worker_pass_fn). *more: it read a full
 * batch and recorded what became of every row, each of which thereby left
 * the due ones (delivered, never to be tried again, or tried again no
 * sooner than a second on), so more may be due at once. */
static enum qb_error sms_worker_pass(void *arg, const atomic_bool *stopping, bool *more)
{
    struct sms_worker *w = arg;
    struct sms_pending *rows = calloc(SMS_WORKER_BATCH_MAX, sizeof *rows);
    if (rows == NULL)
        return QB_E_INTERNAL;
    size_t count = 0;
    enum qb_error err = sms_worker_read(w, clock_now_ms(w->env->clock), rows, &count);

    size_t i = 0; /* after the loop: the rows recorded */
    for (; i < count && !atomic_load(stopping); i++) {
        struct sms_pending *row = &rows[i];
        char masked[16];
        log_mask_pan(row->phone, masked, sizeof masked);
        const char *purpose = sms_purpose_name((enum sms_purpose)row->purpose);
        int64_t expires_at_ms = sms_worker_expires_at_ms(w, row);
        /* 0. sent already, its delivery not recorded: recorded now (the
         * phone has it, whether its code still works or not) */
        if (S_sent_unmarked_take(w, row->id)) {
            if (!sms_worker_mark(w, row, SMS_MARK_DELIVERED, false, 0)) {
                S_sent_unmarked_keep(w, row->id);
                break;
            }
            continue;
        }
        /* 1. a code that no longer works is not sent, however the row got here */
        if (clock_now_ms(w->env->clock) >= expires_at_ms) {
            log_event(LOG_WARN, "sms.expired_undelivered",
                      "outbox_id=%lld purpose=%s phone=%s attempts=%lld", (long long)row->id,
                      purpose, masked, (long long)row->attempts);
            if (!sms_worker_mark(w, row, SMS_MARK_EXPIRED, false, 0))
                break;
            continue;
        }
        /* nor one a newer code replaced, or that was used: it would come after
         * the live one and be typed in, spending that one's tries. (The
         * outbox gateway, which keeps the code, sends nothing: its row is the
         * message an operator reads, there the moment it is written.) */
        if (!row->live && !w->keeps_code) {
            log_event(LOG_INFO, "sms.superseded_undelivered",
                      "outbox_id=%lld purpose=%s phone=%s attempts=%lld", (long long)row->id,
                      purpose, masked, (long long)row->attempts);
            if (!sms_worker_mark(w, row, SMS_MARK_EXPIRED, false, 0))
                break;
            continue;
        }
        /* nor a notice the provider's template cannot say (the daemon
         * started since with such a template, sms.notices_off): it would
         * go out as a code's message with no code */
        if (sms_purpose_is_notice(row->purpose) && w->env->sms_notices_off) {
            log_event(LOG_WARN, "sms.notice_unsent",
                      "outbox_id=%lld purpose=%s phone=%s reason=notices_off", (long long)row->id,
                      purpose, masked);
            if (!sms_worker_mark(w, row, SMS_MARK_EXPIRED, false, 0))
                break;
            continue;
        }
        /* 2. the send, with what the code authorises: a message that
         * cannot say it (its detail does not open) is not sent bare */
        char code[SMS_CODE_DIGITS + 1] = "";
        struct sms_detail detail;
        memset(&detail, 0, sizeof detail);
        bool notice = sms_purpose_is_notice(row->purpose);
        bool opened =
            (notice ? row->sealed_size == 0
                    : row->sealed_size == SMS_SEALED_SIZE &&
                          domain_unseal(w->env, row->sealed, row->sealed_size, code)) &&
            row->detail_sealed_size != SIZE_MAX &&
            sms_detail_unseal(w->env, row->detail_sealed, row->detail_sealed_size, &detail);
        code[SMS_CODE_DIGITS] = '\0';
        if (!opened || !sms_purpose_is_valid(row->purpose)) {
            log_event(LOG_ERROR, "sms.outbox.unsendable", "outbox_id=%lld phone=%s",
                      (long long)row->id, masked);
            if (!sms_worker_mark(w, row, SMS_MARK_ABANDONED, false, 0))
                break;
            continue;
        }
        /* A refused send is the row's (tried again later), not the pass's. */
        enum qb_error sent = w->gateway->ops->send(w->gateway, row->phone,
                                                   (enum sms_purpose)row->purpose, code, &detail);
        crypto_wipe(code, sizeof code);
        if (sent == QB_OK) {
            log_event(LOG_INFO, "sms.delivered", "outbox_id=%lld phone=%s gateway=%s",
                      (long long)row->id, masked, w->gateway->ops->name);
            if (!sms_worker_mark(w, row, SMS_MARK_DELIVERED, false, 0)) {
                S_sent_unmarked_keep(w, row->id);
                break;
            }
            continue;
        }
        /* 3. a failure: the last attempt, a retry, or none since the code
         * would expire first */
        int64_t attempts = row->attempts + 1;
        int64_t next_attempt_at_ms = clock_now_ms(w->env->clock) + sms_backoff_ms(attempts);
        if (attempts >= SMS_ATTEMPTS_MAX) {
            log_event(LOG_ERROR, "sms.outbox.undeliverable",
                      "outbox_id=%lld phone=%s attempts=%lld", (long long)row->id, masked,
                      (long long)attempts);
        } else if (next_attempt_at_ms >= expires_at_ms) {
            log_event(LOG_WARN, "sms.expired_undelivered",
                      "outbox_id=%lld purpose=%s phone=%s attempts=%lld", (long long)row->id,
                      purpose, masked, (long long)attempts);
            if (!sms_worker_mark(w, row, SMS_MARK_EXPIRED, true, 0))
                break;
            continue;
        }
        if (attempts < SMS_ATTEMPTS_MAX)
            log_event(LOG_WARN, "sms.retry_scheduled",
                      "outbox_id=%lld purpose=%s phone=%s attempts=%lld next_attempt_in_ms=%lld",
                      (long long)row->id, purpose, masked, (long long)attempts,
                      (long long)sms_backoff_ms(attempts));
        if (!sms_worker_mark(w, row, SMS_MARK_FAILED, false, next_attempt_at_ms))
            break;
    }
    QB_ASSERT(i <= count && count <= SMS_WORKER_BATCH_MAX);
    *more = err == QB_OK && count == SMS_WORKER_BATCH_MAX && i == count;
    crypto_wipe(rows, SMS_WORKER_BATCH_MAX * sizeof *rows);
    free(rows);
    return err;
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
    enum qb_error err = domain_worker_start("sms", domain_worker_poll_ms(env, SMS_WORKER_POLL_MS),
                                            sms_worker_pass, w, &w->loop);
    if (err != QB_OK) {
        free(w);
        return err;
    }
    log_event(LOG_INFO, "sms.worker.start", "gateway=%s", gateway->ops->name);
    *out = w;
    return QB_OK;
}

void sms_worker_wake(struct sms_worker *worker)
{
    QB_ASSERT(worker != NULL);
    domain_worker_wake(worker->loop);
}

void sms_worker_stop(struct sms_worker *worker)
{
    if (worker == NULL)
        return;
    domain_worker_stop(worker->loop);
    free(worker);
}

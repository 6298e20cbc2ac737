/*
 * notify_worker.c — delivers the notification outbox (notify.h).
 *
 * A dispatcher on the shared worker loop (qb-notify) and
 * MERCHANT_NOTIFY_THREADS delivery threads (qb-notify-N), each with one
 * slot. A pass reads the due rows (`status = PENDING AND
 * next_attempt_at_ms <= now`, the partial index notifications_due), as
 * many as there are free slots and at most MERCHANT_NOTIFY_BATCH_MAX, with
 * a read connection held for that read alone, leaving out the rows in a
 * slot and the shares that have MERCHANT_NOTIFY_MERCHANT_IN_FLIGHT_MAX in
 * slots (a row's share is its merchant's owner, whose merchants share one,
 * or the merchant when no user owns it: any user may open several); it
 * puts each row in a free slot, skipping a share's beyond that cap. So a
 * merchant whose endpoint never answers holds at most its cap of threads,
 * each MERCHANT_NOTIFY_TIMEOUT_MS, and the others' rows go to the rest;
 * its own wait in the database, on their ladder.
 *
 * A delivery thread, for its row, outside any transaction: reads it again
 * (a record committed after the pass's read but before the slot was free
 * would otherwise be attempted twice), unseals the merchant's API v3 key,
 * encrypts the resource, signs the body with the platform key, resolves
 * and checks the host and POSTs to the pinned address with libcurl (no
 * redirects, http and https only, MERCHANT_NOTIFY_TIMEOUT_MS); then submits
 * a merchant_notify_attempt_cmd with the outcome, waits for it, frees the
 * slot and wakes the loop, so that a free thread takes the next due row at
 * once. A pass that filled its read says it has more, and the loop runs the
 * next at once: a backlog goes out at the rate the merchants answer, not
 * one read per MERCHANT_NOTIFY_POLL_MS. A record the ledger refused (busy,
 * stopping) pauses the hand-out for a poll, so that a ledger that cannot
 * record is not answered by POSTing the same rows again and again; and a
 * delivery the merchant accepted whose record the ledger refused is kept
 * in memory (unrecorded, oldest dropped when full) and recorded as it
 * happened when its row comes round again, not POSTed again: a merchant
 * hears a notification once, not once a pass while the disk stays full.
 * A restart forgets them, and sends each at most once more.
 *
 * No notification is attempted twice at once: only the pass fills slots,
 * and its read leaves out the rows in them. Nothing is kept that the
 * database does not have: a row in a slot is still PENDING and due there,
 * so after a restart the first pass finds it again.
 *
 * Must never: log the body, the key or the resource; hold a read
 * connection or a command across the network; hold the slots' lock across
 * a read or the network.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "base/crash.h"
#include "base/log.h"
#include "base/thread.h"
#include "merchant/notify.h"

/* MERCHANT_NOTIFY_ATTEMPTS_TOTAL_MAX - 1, as SQL text. */
#define S_ATTEMPT_COUNT_LAST "31"
_Static_assert(MERCHANT_NOTIFY_ATTEMPTS_TOTAL_MAX == 32, "S_ATTEMPT_COUNT_LAST follows it");
#define S_ACQUIRE_WAIT_MS 5000

/* What a delivery needs of one row. */
struct S_due {
    char id[MERCHANT_NOTIFY_ID_SIZE];
    char mchid[MERCHANT_MCHID_SIZE];
    /* Whose share of the threads it takes: its merchant's owner, whose
     * merchants share one, or the merchant when it has none. */
    char share[ID_TEXT_SIZE_MAX];
    char event_type[32];
    char original_type[16];
    char summary[64];
    char notify_url[MERCHANT_NOTIFY_URL_SIZE_MAX];
    char *resource; /* malloc'd */
    int attempt_count;
    int64_t created_at_ms;
    bool sealed; /* the row's seal is merchant_notify_mac's of what it holds */
};

static void S_due_release(struct S_due *rows, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(rows[i].resource);
        rows[i].resource = NULL;
    }
}

/* One delivery thread's work: a row handed to it, waiting or on its way. */
struct S_slot {
    bool busy;
    struct S_due row;
};

/* One delivery thread's argument. */
struct S_thread {
    struct merchant_notify_worker *w;
    size_t index;
};

/* A delivery the merchant accepted (2xx) whose record the ledger refused:
 * recorded as it happened, not POSTed again, at the row's next turn. */
struct S_unrecorded {
    char id[MERCHANT_NOTIFY_ID_SIZE];
    int attempt;
    int64_t at_ms;
    int http_status;
    int64_t duration_ms;
};

#define S_UNRECORDED_MAX (4 * MERCHANT_NOTIFY_THREADS)

/* At most this many shares can be at their cap at once. */
#define S_CAPPED_MAX (MERCHANT_NOTIFY_THREADS / MERCHANT_NOTIFY_MERCHANT_IN_FLIGHT_MAX)

struct merchant_notify_worker {
    const struct domain_env *env;
    struct store_pool *pool;
    char due_sql[1024]; /* S_read_due's, made at start */
    pthread_t threads[MERCHANT_NOTIFY_THREADS];
    struct S_thread args[MERCHANT_NOTIFY_THREADS];
    size_t thread_count;  /* started */
    pthread_mutex_t lock; /* guards what follows */
    pthread_cond_t work;  /* a slot was filled, or stopping */
    struct domain_worker *loop;
    bool stopping;
    int64_t paused_until_ms; /* monotonic: no hand-out before (a record refused) */
    struct S_slot slots[MERCHANT_NOTIFY_THREADS];
    struct S_unrecorded unrecorded[S_UNRECORDED_MAX]; /* oldest first */
    size_t unrecorded_count;
};

/* Takes the kept delivery of attempt `attempt` at row id into *out, if
 * there is one. Under w->lock. */
static bool S_unrecorded_take(struct merchant_notify_worker *w, const char *id, int attempt,
                              struct S_unrecorded *out)
{
    for (size_t i = 0; i < w->unrecorded_count; i++) {
        if (w->unrecorded[i].attempt != attempt || strcmp(w->unrecorded[i].id, id) != 0)
            continue;
        *out = w->unrecorded[i];
        memmove(&w->unrecorded[i], &w->unrecorded[i + 1],
                (w->unrecorded_count - i - 1) * sizeof w->unrecorded[0]);
        w->unrecorded_count--;
        return true;
    }
    return false;
}

/* Keeps a delivery whose record was refused; a full list drops its oldest.
 * Under w->lock. */
static void S_unrecorded_keep(struct merchant_notify_worker *w, const struct S_unrecorded *u)
{
    if (w->unrecorded_count == S_UNRECORDED_MAX) {
        memmove(&w->unrecorded[0], &w->unrecorded[1],
                (S_UNRECORDED_MAX - 1) * sizeof w->unrecorded[0]);
        w->unrecorded_count--;
    }
    w->unrecorded[w->unrecorded_count++] = *u;
}

/* A row's share (struct S_due), in SQL. */
#define S_SHARE_SQL " coalesce(nullif(m.owner_user_id, ''), n.mchid)"

/* The due rows SQL: $1 now, $2 the limit, then MERCHANT_NOTIFY_THREADS ids
 * and S_CAPPED_MAX shares left out ('' where there are fewer: no row has
 * it). */
static void S_due_sql(char *out, size_t out_size)
{
    struct buf sql;
    buf_init(&sql, out_size - 1);
    enum qb_error err = buf_append_str(
        &sql, "SELECT n.id, n.mchid, n.event_type, n.original_type, n.summary, n.notify_url,"
              " n.resource, n.attempt_count, n.created_at_ms," S_SHARE_SQL ", n.mac"
              " FROM notifications n LEFT JOIN merchants m ON m.mchid = n.mchid"
              " WHERE n.status = 1 AND n.next_attempt_at_ms <= $1"
              /* A count no attempt can follow (no writer of this module made
               * it) is left alone, not read to take a place under the limit. */
              " AND n.attempt_count BETWEEN 0 AND " S_ATTEMPT_COUNT_LAST " AND n.id NOT IN (");
    int param = 3;
    for (size_t i = 0; err == QB_OK && i < MERCHANT_NOTIFY_THREADS; i++)
        err = buf_printf(&sql, i == 0 ? "$%d" : ", $%d", param++);
    if (err == QB_OK)
        err = buf_append_str(&sql, ") AND" S_SHARE_SQL " NOT IN (");
    for (size_t i = 0; err == QB_OK && i < S_CAPPED_MAX; i++)
        err = buf_printf(&sql, i == 0 ? "$%d" : ", $%d", param++);
    if (err == QB_OK)
        err = buf_append_str(&sql, ") ORDER BY n.next_attempt_at_ms LIMIT $2");
    QB_ASSERT(err == QB_OK && sql.size < out_size);
    memcpy(out, sql.data, sql.size);
    out[sql.size] = '\0';
    buf_release(&sql);
}

/* Up to limit due rows into rows, *count of them, none of whose id is in
 * ids (in_flight_count of them) nor whose share is in shares (capped_count). */
static enum qb_error S_read_due(struct merchant_notify_worker *w, int64_t now_ms, size_t limit,
                                char ids[][MERCHANT_NOTIFY_ID_SIZE], size_t in_flight_count,
                                char shares[][ID_TEXT_SIZE_MAX], size_t capped_count,
                                struct S_due *rows, size_t *count)
{
    QB_ASSERT(limit >= 1 && limit <= MERCHANT_NOTIFY_BATCH_MAX);
    QB_ASSERT(in_flight_count <= MERCHANT_NOTIFY_THREADS && capped_count <= S_CAPPED_MAX);
    *count = 0;
    struct store *reader = NULL;
    enum qb_error err = store_pool_acquire(w->pool, S_ACQUIRE_WAIT_MS, &reader);
    if (err != QB_OK)
        return err;
    struct store_stmt *st = NULL;
    err = store_prepare(reader, w->due_sql, &st);
    if (err == QB_OK)
        err = store_bind_int64(st, 1, now_ms);
    if (err == QB_OK)
        err = store_bind_int64(st, 2, (int64_t)limit);
    int param = 3;
    for (size_t i = 0; err == QB_OK && i < MERCHANT_NOTIFY_THREADS; i++) {
        const char *id = i < in_flight_count ? ids[i] : "";
        err = store_bind_text(st, param++, id, strlen(id));
    }
    for (size_t i = 0; err == QB_OK && i < S_CAPPED_MAX; i++) {
        const char *share = i < capped_count ? shares[i] : "";
        err = store_bind_text(st, param++, share, strlen(share));
    }
    int rc = STORE_STEP_DONE;
    while (err == QB_OK && *count < limit && (rc = store_step(st)) == STORE_STEP_ROW) {
        struct S_due *r = &rows[*count];
        memset(r, 0, sizeof *r);
        store_column_text_copy(st, 0, r->id, sizeof r->id);
        store_column_text_copy(st, 1, r->mchid, sizeof r->mchid);
        store_column_text_copy(st, 2, r->event_type, sizeof r->event_type);
        store_column_text_copy(st, 3, r->original_type, sizeof r->original_type);
        store_column_text_copy(st, 4, r->summary, sizeof r->summary);
        store_column_text_copy(st, 5, r->notify_url, sizeof r->notify_url);
        /* A resource longer than any this module writes is an altered row's:
         * tried as one (not sent, its attempt saying why), so that it takes
         * its place under the limit for something and then leaves. */
        size_t size = store_column_size(st, 6);
        bool oversized = size > MERCHANT_NOTIFY_RESOURCE_SIZE_MAX;
        r->resource = malloc(oversized ? 1 : size + 1);
        if (r->resource == NULL) {
            err = QB_E_INTERNAL;
            break;
        }
        r->resource[0] = '\0';
        if (!oversized)
            store_column_text_copy(st, 6, r->resource, size + 1);
        int64_t attempts = store_column_int64(st, 7);
        r->attempt_count =
            attempts >= 0 && attempts < MERCHANT_NOTIFY_ATTEMPTS_TOTAL_MAX ? (int)attempts : -1;
        r->created_at_ms = store_column_int64(st, 8);
        store_column_text_copy(st, 9, r->share, sizeof r->share);
        /* The seal of what the row holds, texts unabridged: a field too
         * long for the copies above is one no writer of this module made. */
        uint8_t mac[CRYPTO_SHA256_SIZE];
        const char *text[6] = {
            (const char *)store_column_text(st, 0), (const char *)store_column_text(st, 1),
            (const char *)store_column_text(st, 2), (const char *)store_column_text(st, 3),
            (const char *)store_column_text(st, 4), (const char *)store_column_text(st, 5)};
        for (size_t i = 0; i < 6; i++)
            if (text[i] == NULL)
                text[i] = "";
        merchant_notify_mac(w->env, text[0], text[1], text[2], text[3], text[4], text[5],
                            r->resource, r->created_at_ms, mac);
        r->sealed = !oversized && store_column_size(st, 10) == sizeof mac &&
                    crypto_equal(store_column_blob(st, 10), mac, sizeof mac);
        QB_ASSERT(r->attempt_count >= 0); /* the query's range */
        (*count)++;
    }
    if (err == QB_OK && rc < 0)
        err = QB_E_STORAGE;
    if (err != QB_OK)
        log_event(LOG_WARN, "merchant.notify.read_failed", "error=%s detail=\"%s\"",
                  error_name(err), store_last_error(reader));
    store_finalize(st);
    store_pool_release(w->pool, reader);
    QB_ASSERT(*count <= limit);
    return err;
}

static size_t S_discard(char *data, size_t size, size_t count, void *arg)
{
    (void)data;
    (void)arg;
    return size * count;
}

/* POSTs body with headers to url, connecting only to the address in pin.
 * *http_status 0 when no answer came; error says why. */
static void S_post(const char *url, const char *pin, struct curl_slist *headers, const struct buf *body,
                   int *http_status, char error[MERCHANT_NOTIFY_ERROR_SIZE_MAX])
{
    *http_status = 0;
    struct curl_slist *resolve = curl_slist_append(NULL, pin);
    CURL *curl = curl_easy_init();
    if (curl == NULL || resolve == NULL) {
        snprintf(error, MERCHANT_NOTIFY_ERROR_SIZE_MAX, "out of memory");
        goto out;
    }
    CURLcode rc = curl_easy_setopt(curl, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_RESOLVE, resolve);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)MERCHANT_NOTIFY_TIMEOUT_MS);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)MERCHANT_NOTIFY_TIMEOUT_MS);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_POSTFIELDS, (const char *)body->data);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->size);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, S_discard);
    if (rc == CURLE_OK)
        rc = curl_easy_perform(curl);
    long status = 0;
    if (rc == CURLE_OK)
        rc = curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK)
        snprintf(error, MERCHANT_NOTIFY_ERROR_SIZE_MAX, "%s", curl_easy_strerror(rc));
    else if (status < 200 || status > 299)
        snprintf(error, MERCHANT_NOTIFY_ERROR_SIZE_MAX, "HTTP %ld", status);
    *http_status = status > 0 && status < 1000 ? (int)status : 0;
out:
    curl_easy_cleanup(curl);
    curl_slist_free_all(resolve);
}

/* Builds the signed body and its headers. False when it cannot (a key that
 * does not unseal, a merchant gone): error says why. */
static bool S_build(const struct domain_env *env, const struct merchant *m, const struct S_due *r,
                    struct buf *body, struct curl_slist **headers,
                    char error[MERCHANT_NOTIFY_ERROR_SIZE_MAX])
{
    if (!r->sealed) {
        /* Not what the daemon queued: nothing is signed or sent. */
        log_event(LOG_ERROR, "merchant.notify.unsealed",
                  "id=%s mchid=%s note=\"the notification's row does not match its seal: the "
                  "database was altered; not sent\"",
                  r->id, r->mchid);
        snprintf(error, MERCHANT_NOTIFY_ERROR_SIZE_MAX,
                 "not sent: the row does not match its seal (altered in the database)");
        return false;
    }
    char key[MERCHANT_APIV3_KEY_SIZE + 1];
    if (!merchant_apiv3_key(env, m, key)) {
        snprintf(error, MERCHANT_NOTIFY_ERROR_SIZE_MAX, "the API v3 key does not unseal");
        return false;
    }
    static const char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    char nonce[13];
    for (size_t i = 0; i < 12; i++)
        nonce[i] = alphabet[rand_below(env->rand, sizeof alphabet - 1)];
    nonce[12] = '\0';
    enum qb_error err = merchant_notify_envelope((const uint8_t *)key, r->id, r->created_at_ms,
                                                 r->event_type, r->summary, r->original_type,
                                                 r->resource, nonce, body);
    crypto_wipe(key, sizeof key);

    /* The signature: the platform key over "TIMESTAMP\nNONCE\nBODY\n". */
    uint8_t raw[16];
    char sign_nonce[2 * sizeof raw + 1];
    rand_fill(env->rand, raw, sizeof raw);
    crypto_hex(raw, sizeof raw, sign_nonce);
    int64_t timestamp_s = clock_now_ms(env->clock) / 1000;
    char signature[MERCHANT_SIGNATURE_SIZE_MAX + 1];
    struct buf message;
    buf_init(&message, body->size + 128);
    if (err == QB_OK)
        err = merchant_response_message(&message, timestamp_s, sign_nonce, body->data, body->size);
    if (err == QB_OK)
        err = merchant_rsa_sign(env->platform->key, message.data, message.size, signature,
                                sizeof signature);
    buf_release(&message);
    if (err != QB_OK) {
        snprintf(error, MERCHANT_NOTIFY_ERROR_SIZE_MAX, "cannot sign (%s)", error_name(err));
        return false;
    }
    char lines[6][MERCHANT_SIGNATURE_SIZE_MAX + 64];
    snprintf(lines[0], sizeof lines[0], "Content-Type: application/json");
    snprintf(lines[1], sizeof lines[1], "Wechatpay-Timestamp: %lld", (long long)timestamp_s);
    snprintf(lines[2], sizeof lines[2], "Wechatpay-Nonce: %s", sign_nonce);
    snprintf(lines[3], sizeof lines[3], "Wechatpay-Serial: %s", env->platform->serial_no);
    snprintf(lines[4], sizeof lines[4], "Wechatpay-Signature: %s", signature);
    snprintf(lines[5], sizeof lines[5], "Wechatpay-Signature-Type: WECHATPAY2-SHA256-RSA2048");
    struct curl_slist *list = curl_slist_append(NULL, "Expect:");
    for (size_t i = 0; list != NULL && i < 6; i++) {
        struct curl_slist *more = curl_slist_append(list, lines[i]);
        if (more == NULL) {
            curl_slist_free_all(list);
            list = NULL;
        } else {
            list = more;
        }
    }
    if (list == NULL) {
        snprintf(error, MERCHANT_NOTIFY_ERROR_SIZE_MAX, "out of memory");
        return false;
    }
    *headers = list;
    return true;
}

/* Whether row r is still PENDING at the attempt count the pass read: a
 * record committed after the pass's read (the slot of that attempt free
 * again by now) has moved it on. QB_E_STORAGE. */
static enum qb_error S_still_due(struct store *reader, const struct S_due *r, bool *due)
{
    *due = false;
    struct store_stmt *st = NULL;
    if (store_prepare(reader, "SELECT status, attempt_count FROM notifications WHERE id = $1",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, r->id, strlen(r->id));
    int rc = err == QB_OK ? store_step(st) : -1;
    if (rc == STORE_STEP_ROW)
        *due = store_column_int64(st, 0) == MERCHANT_NOTIFY_PENDING &&
               store_column_int64(st, 1) == r->attempt_count;
    store_finalize(st);
    return rc < 0 ? QB_E_STORAGE : QB_OK;
}

enum S_outcome {
    S_RECORDED, /* attempted and recorded (or found recorded by another) */
    S_MOVED_ON, /* not attempted: the row is no longer where the pass read it */
    S_REFUSED,  /* a read or the record failed (busy, stopping): still due */
};

/* Records attempt c at row r (kept: a delivery kept unrecorded until now);
 * a delivery whose record the ledger refuses is kept for the next turn. */
static enum S_outcome S_record(struct merchant_notify_worker *w,
                               struct merchant_notify_attempt_cmd *c, const struct S_due *r,
                               bool kept)
{
    enum qb_error err = ledger_execute(w->env->ledger, &c->cmd);
    if (err == QB_OK)
        err = c->cmd.result;
    ledger_cmd_release(&c->cmd);
    bool ok = c->http_status >= 200 && c->http_status <= 299;
    if (err != QB_OK) {
        log_event(LOG_WARN, "merchant.notify.record_failed",
                  "id=%s attempt=%d delivered=%s error=%s", r->id, c->attempt, ok ? "yes" : "no",
                  error_name(err));
        if (ok) {
            struct S_unrecorded u = {.attempt = c->attempt,
                                     .at_ms = c->at_ms,
                                     .http_status = c->http_status,
                                     .duration_ms = c->duration_ms};
            snprintf(u.id, sizeof u.id, "%s", r->id);
            pthread_mutex_lock(&w->lock);
            S_unrecorded_keep(w, &u);
            pthread_mutex_unlock(&w->lock);
        }
        return S_REFUSED;
    }
    log_event(ok ? LOG_INFO : LOG_WARN, ok ? "merchant.notify.delivered" : "merchant.notify.failed",
              "id=%s mchid=%s attempt=%d status=%d duration_ms=%lld error=\"%s\"%s", r->id,
              r->mchid, c->attempt, c->http_status, (long long)c->duration_ms, c->error,
              kept ? " recorded_late=yes" : "");
    return S_RECORDED;
}

/* One attempt at one row, then its record; or, for a delivery kept
 * unrecorded, its record alone. */
static enum S_outcome S_deliver(struct merchant_notify_worker *w, const struct S_due *r)
{
    const struct domain_env *env = w->env;
    struct merchant_notify_attempt_cmd c;
    merchant_notify_attempt_cmd_init(&c, env);
    snprintf(c.id, sizeof c.id, "%s", r->id);
    c.attempt = r->attempt_count + 1;
    c.at_ms = clock_now_ms(env->clock);
    int64_t started_ns = clock_monotonic_ns();

    struct merchant m;
    struct store *reader = NULL;
    enum qb_error err = store_pool_acquire(w->pool, S_ACQUIRE_WAIT_MS, &reader);
    if (err != QB_OK)
        return S_REFUSED;
    bool due = false;
    err = S_still_due(reader, r, &due);
    if (err == QB_OK && due)
        err = merchant_get(env, reader, r->mchid, &m);
    store_pool_release(w->pool, reader);
    if (err == QB_OK && !due)
        return S_MOVED_ON;
    if (err != QB_OK && err != QB_E_NOT_FOUND)
        return S_REFUSED;

    struct S_unrecorded kept;
    pthread_mutex_lock(&w->lock);
    bool delivered_before = S_unrecorded_take(w, r->id, c.attempt, &kept);
    pthread_mutex_unlock(&w->lock);
    if (delivered_before) {
        c.at_ms = kept.at_ms;
        c.http_status = kept.http_status;
        c.duration_ms = kept.duration_ms;
        return S_record(w, &c, r, true);
    }

    struct buf body;
    buf_init(&body, 8 * MERCHANT_NOTIFY_RESOURCE_SIZE_MAX);
    struct curl_slist *headers = NULL;
    char pin[MERCHANT_NOTIFY_HOST_SIZE_MAX + 80];
    const char *reason = "";
    if (err == QB_E_NOT_FOUND) {
        snprintf(c.error, sizeof c.error, "the merchant is gone");
    } else if (merchant_notify_url_check(r->notify_url, env->settings.notify_private_allowed, true,
                                         pin, sizeof pin, &reason) != QB_OK) {
        snprintf(c.error, sizeof c.error, "%s", reason);
    } else if (S_build(env, &m, r, &body, &headers, c.error)) {
        S_post(r->notify_url, pin, headers, &body, &c.http_status, c.error);
    }
    curl_slist_free_all(headers);
    buf_release(&body);
    c.duration_ms = (clock_monotonic_ns() - started_ns) / 1000000;
    /* Delivered, not yet recorded: a crash here sends it again after the
     * restart (at least once, as WeChat Pay promises). */
    if (c.http_status >= 200 && c.http_status <= 299)
        QB_CRASH_POINT("notify.after_delivery");
    return S_record(w, &c, r, false);
}

/* A delivery thread: the row in its slot, one at a time, until stopping.
 * A row still waiting in the slot at the stop is left to the database. */
static void *S_thread_main(void *arg)
{
    struct S_thread *t = arg;
    struct merchant_notify_worker *w = t->w;
    struct S_slot *slot = &w->slots[t->index];
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->stopping && !slot->busy)
            pthread_cond_wait(&w->work, &w->lock);
        if (w->stopping)
            break;
        struct S_due row = slot->row; /* the slot stays busy: its id is in flight */
        pthread_mutex_unlock(&w->lock);

        enum S_outcome outcome = S_deliver(w, &row);

        pthread_mutex_lock(&w->lock);
        QB_ASSERT(slot->busy && strcmp(slot->row.id, row.id) == 0);
        free(slot->row.resource);
        memset(slot, 0, sizeof *slot);
        if (outcome == S_REFUSED)
            w->paused_until_ms = clock_monotonic_ns() / 1000000 + MERCHANT_NOTIFY_POLL_MS;
        /* A free slot: the loop hands out the next due row at once. */
        domain_worker_wake(w->loop);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* One pass of the dispatcher: due rows into the free slots, each share's
 * up to its cap. More when it read as many rows as it asked for: one it
 * skipped for its share's cap, or another share's beyond them, may
 * be due. */
static enum qb_error S_pass(void *arg, const atomic_bool *stopping, bool *more)
{
    struct merchant_notify_worker *w = arg;
    char(*ids)[MERCHANT_NOTIFY_ID_SIZE] = calloc(MERCHANT_NOTIFY_THREADS, sizeof *ids);
    char(*shares)[ID_TEXT_SIZE_MAX] = calloc(S_CAPPED_MAX, sizeof *shares);
    struct S_due *rows = calloc(MERCHANT_NOTIFY_BATCH_MAX, sizeof *rows);
    enum qb_error err = ids != NULL && shares != NULL && rows != NULL ? QB_OK : QB_E_INTERNAL;

    /* What is in flight, and which merchants are at their cap. */
    size_t free_count = 0, in_flight_count = 0, capped_count = 0;
    pthread_mutex_lock(&w->lock);
    bool paused = w->paused_until_ms > clock_monotonic_ns() / 1000000;
    for (size_t i = 0; err == QB_OK && i < MERCHANT_NOTIFY_THREADS; i++) {
        const struct S_slot *slot = &w->slots[i];
        if (!slot->busy) {
            free_count++;
            continue;
        }
        memcpy(ids[in_flight_count++], slot->row.id, MERCHANT_NOTIFY_ID_SIZE);
        size_t same = 0; /* the share's slots, counted at its first */
        bool first = true;
        for (size_t j = 0; j < MERCHANT_NOTIFY_THREADS; j++) {
            if (!w->slots[j].busy || strcmp(w->slots[j].row.share, slot->row.share) != 0)
                continue;
            first = first && j >= i;
            same++;
        }
        if (first && same >= MERCHANT_NOTIFY_MERCHANT_IN_FLIGHT_MAX) {
            QB_ASSERT(capped_count < S_CAPPED_MAX);
            memcpy(shares[capped_count++], slot->row.share, ID_TEXT_SIZE_MAX);
        }
    }
    bool stopped = w->stopping;
    pthread_mutex_unlock(&w->lock);
    QB_ASSERT(free_count + in_flight_count == MERCHANT_NOTIFY_THREADS || err != QB_OK);
    if (err != QB_OK || stopped || paused || free_count == 0 || atomic_load(stopping))
        goto out; /* a slot coming free wakes the loop; a pause ends at a later poll */

    size_t limit = free_count < MERCHANT_NOTIFY_BATCH_MAX ? free_count : MERCHANT_NOTIFY_BATCH_MAX;
    size_t count = 0;
    err = S_read_due(w, clock_now_ms(w->env->clock), limit, ids, in_flight_count, shares,
                     capped_count, rows, &count);

    /* Each row into a free slot, unless its share reached its cap here. */
    pthread_mutex_lock(&w->lock);
    for (size_t r = 0; err == QB_OK && r < count && !w->stopping; r++) {
        size_t same = 0, free_index = MERCHANT_NOTIFY_THREADS;
        for (size_t i = 0; i < MERCHANT_NOTIFY_THREADS; i++) {
            const struct S_slot *slot = &w->slots[i];
            if (!slot->busy) {
                free_index = free_index < i ? free_index : i;
                continue;
            }
            /* Only this pass fills slots, and its read left out theirs. */
            QB_ASSERT(strcmp(slot->row.id, rows[r].id) != 0);
            same += strcmp(slot->row.share, rows[r].share) == 0;
        }
        if (same >= MERCHANT_NOTIFY_MERCHANT_IN_FLIGHT_MAX)
            continue;                                    /* the next pass leaves its share out */
        QB_ASSERT(free_index < MERCHANT_NOTIFY_THREADS); /* slots only came free since */
        w->slots[free_index].row = rows[r];
        w->slots[free_index].busy = true;
        rows[r].resource = NULL; /* the slot's now */
    }
    pthread_cond_broadcast(&w->work);
    pthread_mutex_unlock(&w->lock);
    *more = err == QB_OK && count == limit;
    S_due_release(rows, count);
out:
    free(rows);
    free(shares);
    free(ids);
    return err;
}

/* Stops and joins the delivery threads, and frees the rows left in slots. */
static void S_threads_stop(struct merchant_notify_worker *w)
{
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_broadcast(&w->work);
    pthread_mutex_unlock(&w->lock);
    for (size_t i = 0; i < w->thread_count; i++)
        pthread_join(w->threads[i], NULL);
    for (size_t i = 0; i < MERCHANT_NOTIFY_THREADS; i++)
        free(w->slots[i].row.resource);
}

static void S_free(struct merchant_notify_worker *w)
{
    pthread_cond_destroy(&w->work);
    pthread_mutex_destroy(&w->lock);
    free(w);
    curl_global_cleanup();
}

enum qb_error merchant_notify_worker_start(const struct domain_env *env, struct store_pool *pool,
                                           struct merchant_notify_worker **out)
{
    QB_ASSERT(out != NULL);
    *out = NULL;
    if (env == NULL || env->ledger == NULL || env->platform == NULL || pool == NULL ||
        env->settings.notify_ladder_divisor < 1)
        return QB_E_PARAM;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return QB_E_INTERNAL;
    struct merchant_notify_worker *w = calloc(1, sizeof *w);
    if (w == NULL) {
        curl_global_cleanup();
        return QB_E_INTERNAL;
    }
    w->env = env;
    w->pool = pool;
    S_due_sql(w->due_sql, sizeof w->due_sql);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->work, NULL);
    /* The loop first, paused by the lock until the threads it wakes exist. */
    pthread_mutex_lock(&w->lock);
    /* A shrunk ladder (tests) is polled more often, so its steps hold. */
    int poll_ms = env->settings.notify_ladder_divisor > 1 ? 50 : MERCHANT_NOTIFY_POLL_MS;
    enum qb_error err = domain_worker_start("notify", poll_ms, S_pass, w, &w->loop);
    for (size_t i = 0; err == QB_OK && i < MERCHANT_NOTIFY_THREADS; i++) {
        w->args[i] = (struct S_thread){w, i};
        if (pthread_create(&w->threads[i], NULL, S_thread_main, &w->args[i]) != 0) {
            err = QB_E_INTERNAL;
            break;
        }
        thread_name(w->threads[i], "qb-notify-%zu", i);
        w->thread_count++;
    }
    pthread_mutex_unlock(&w->lock);
    if (err != QB_OK) {
        S_threads_stop(w);
        if (w->loop != NULL)
            domain_worker_stop(w->loop);
        S_free(w);
        return err;
    }
    *out = w;
    return QB_OK;
}

void merchant_notify_worker_stop(struct merchant_notify_worker *w)
{
    if (w == NULL)
        return;
    /* The threads first: they wake the loop until they end. */
    S_threads_stop(w);
    domain_worker_stop(w->loop);
    S_free(w);
}

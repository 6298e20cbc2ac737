/*
 * notify_worker.c — delivers the notification outbox (notify.h).
 *
 * One thread on the shared worker loop. A pass reads up to
 * MERCHANT_NOTIFY_BATCH_MAX due rows (`status = PENDING AND
 * next_attempt_at_ms <= now`, the partial index notifications_due) with a
 * read connection held for that read alone; then, for each, outside any
 * transaction: unseals the merchant's API v3 key, encrypts the resource,
 * signs the body with the platform key, resolves and checks the host and
 * POSTs to the pinned address with libcurl (no redirects, http and https
 * only, MERCHANT_NOTIFY_TIMEOUT_MS); then submits a
 * merchant_notify_attempt_cmd with the outcome and waits for it. A pass
 * that read a full batch and attempted all of it says it has more, and the
 * loop runs the next at once: a backlog goes out at the rate the merchants
 * answer, not one batch per MERCHANT_NOTIFY_POLL_MS.
 *
 * Must never: log the body, the key or the resource; hold a read
 * connection or a command across the network.
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "base/crash.h"
#include "base/log.h"
#include "merchant/notify.h"

#define S_ACQUIRE_WAIT_MS 5000

struct merchant_notify_worker {
    const struct domain_env *env;
    struct store_pool *pool;
    struct domain_worker *loop;
};

/* What a delivery needs of one row. */
struct S_due {
    char id[MERCHANT_NOTIFY_ID_SIZE];
    char mchid[MERCHANT_MCHID_SIZE];
    char event_type[32];
    char original_type[16];
    char summary[64];
    char notify_url[MERCHANT_NOTIFY_URL_SIZE_MAX];
    char *resource; /* malloc'd */
    int attempt_count;
    int64_t created_at_ms;
};

static void S_due_release(struct S_due *rows, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(rows[i].resource);
}

static enum qb_error S_read_due(struct store_pool *pool, int64_t now_ms, struct S_due *rows,
                                size_t *count)
{
    *count = 0;
    struct store *reader = NULL;
    enum qb_error err = store_pool_acquire(pool, S_ACQUIRE_WAIT_MS, &reader);
    if (err != QB_OK)
        return err;
    struct store_stmt *st = NULL;
    err = store_prepare(reader,
                        "SELECT id, mchid, event_type, original_type, summary, notify_url,"
                        " resource, attempt_count, created_at_ms FROM notifications"
                        " WHERE status = 1 AND next_attempt_at_ms <= $1"
                        " ORDER BY next_attempt_at_ms LIMIT $2",
                        &st);
    if (err == QB_OK)
        err = store_bind_int64(st, 1, now_ms);
    if (err == QB_OK)
        err = store_bind_int64(st, 2, MERCHANT_NOTIFY_BATCH_MAX);
    int rc = STORE_STEP_DONE;
    while (err == QB_OK && *count < MERCHANT_NOTIFY_BATCH_MAX &&
           (rc = store_step(st)) == STORE_STEP_ROW) {
        struct S_due *r = &rows[*count];
        memset(r, 0, sizeof *r);
        store_column_text_copy(st, 0, r->id, sizeof r->id);
        store_column_text_copy(st, 1, r->mchid, sizeof r->mchid);
        store_column_text_copy(st, 2, r->event_type, sizeof r->event_type);
        store_column_text_copy(st, 3, r->original_type, sizeof r->original_type);
        store_column_text_copy(st, 4, r->summary, sizeof r->summary);
        store_column_text_copy(st, 5, r->notify_url, sizeof r->notify_url);
        size_t size = store_column_size(st, 6);
        if (size > MERCHANT_NOTIFY_RESOURCE_SIZE_MAX)
            continue; /* no writer of this module made it */
        r->resource = malloc(size + 1);
        if (r->resource == NULL) {
            err = QB_E_INTERNAL;
            break;
        }
        store_column_text_copy(st, 6, r->resource, size + 1);
        int64_t attempts = store_column_int64(st, 7);
        r->attempt_count =
            attempts >= 0 && attempts < MERCHANT_NOTIFY_ATTEMPTS_TOTAL_MAX ? (int)attempts : -1;
        r->created_at_ms = store_column_int64(st, 8);
        if (r->attempt_count < 0) {
            free(r->resource);
            continue;
        }
        (*count)++;
    }
    if (err == QB_OK && rc < 0)
        err = QB_E_STORAGE;
    if (err != QB_OK)
        log_event(LOG_WARN, "merchant.notify.read_failed", "error=%s detail=\"%s\"",
                  error_name(err), store_last_error(reader));
    store_finalize(st);
    store_pool_release(pool, reader);
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

/* One attempt at one row, then its record. False when the ledger refused
 * the record (shutting down, busy): the pass ends. */
static bool S_deliver(const struct domain_env *env, struct store_pool *pool, const struct S_due *r,
                      size_t *delivered)
{
    struct merchant_notify_attempt_cmd c;
    merchant_notify_attempt_cmd_init(&c, env);
    snprintf(c.id, sizeof c.id, "%s", r->id);
    c.attempt = r->attempt_count + 1;
    c.at_ms = clock_now_ms(env->clock);
    int64_t started_ns = clock_monotonic_ns();

    struct merchant m;
    struct store *reader = NULL;
    enum qb_error err = store_pool_acquire(pool, S_ACQUIRE_WAIT_MS, &reader);
    if (err != QB_OK)
        return false;
    err = merchant_get(reader, r->mchid, &m);
    store_pool_release(pool, reader);
    if (err != QB_OK && err != QB_E_NOT_FOUND)
        return false;

    struct buf body;
    buf_init(&body, 8 * MERCHANT_NOTIFY_RESOURCE_SIZE_MAX);
    struct curl_slist *headers = NULL;
    char pin[MERCHANT_NOTIFY_HOST_SIZE_MAX + 80];
    const char *reason = "";
    if (err == QB_E_NOT_FOUND) {
        snprintf(c.error, sizeof c.error, "the merchant is gone");
    } else if (merchant_notify_url_check(r->notify_url, env->settings.notify_private_allowed, pin,
                                         sizeof pin, &reason) != QB_OK) {
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

    err = ledger_execute(env->ledger, &c.cmd);
    if (err == QB_OK)
        err = c.cmd.result;
    ledger_cmd_release(&c.cmd);
    if (err != QB_OK) {
        log_event(LOG_WARN, "merchant.notify.record_failed", "id=%s error=%s", r->id,
                  error_name(err));
        return false;
    }
    bool ok = c.http_status >= 200 && c.http_status <= 299;
    if (ok)
        (*delivered)++;
    log_event(ok ? LOG_INFO : LOG_WARN, ok ? "merchant.notify.delivered" : "merchant.notify.failed",
              "id=%s mchid=%s attempt=%d status=%d duration_ms=%lld error=\"%s\"", r->id, r->mchid,
              c.attempt, c.http_status, (long long)c.duration_ms, c.error);
    return true;
}

/* A full batch, every row of it attempted: there may be more due at once. */
static enum qb_error S_pass(void *arg, const atomic_bool *stopping, bool *more)
{
    struct merchant_notify_worker *w = arg;
    struct S_due *rows = calloc(MERCHANT_NOTIFY_BATCH_MAX, sizeof *rows);
    if (rows == NULL)
        return QB_E_INTERNAL;
    size_t count = 0;
    size_t delivered = 0;
    size_t attempted = 0;
    enum qb_error err = S_read_due(w->pool, clock_now_ms(w->env->clock), rows, &count);
    for (size_t i = 0; err == QB_OK && i < count; i++) {
        if (atomic_load(stopping))
            break;
        if (!S_deliver(w->env, w->pool, &rows[i], &delivered))
            break;
        attempted++;
    }
    *more = err == QB_OK && count == MERCHANT_NOTIFY_BATCH_MAX && attempted == count;
    S_due_release(rows, count);
    free(rows);
    return err;
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
    /* A shrunk ladder (tests) is polled more often, so its steps hold. */
    int poll_ms = env->settings.notify_ladder_divisor > 1 ? 50 : MERCHANT_NOTIFY_POLL_MS;
    enum qb_error err = domain_worker_start("notify", poll_ms, S_pass, w, &w->loop);
    if (err != QB_OK) {
        free(w);
        curl_global_cleanup();
        return err;
    }
    *out = w;
    return QB_OK;
}

void merchant_notify_worker_stop(struct merchant_notify_worker *w)
{
    if (w == NULL)
        return;
    domain_worker_stop(w->loop);
    free(w);
    curl_global_cleanup();
}

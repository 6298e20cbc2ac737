/*
 * handler.c — what the route handlers share: reading a body, a read
 * connection, ?limit=, and the JSON shapes several areas answer with (a
 * time, a user, balances), plus the one reply for a refused identity command.
 *
 * Keeping these here means the shape of a user or a time is written once:
 * GET /v1/me, the freeze routes and the admin list cannot drift apart.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/crypto.h"
#include "base/log.h"
#include "http/internal.h"

#define S_POOL_WAIT_MS 1000

/* The body against fields; a refusal answered with its own code, or for
 * the merchant API (v3) as WeChat Pay answers it: PARAM_ERROR, unless the
 * body is too large. */
static json_t *S_json_body(struct http_request *req, const struct http_field *fields,
                           size_t field_count, bool v3)
{
    const struct buf *body = http_request_body(req);
    char message[HTTP_JSON_MESSAGE_SIZE_MAX];
    json_t *out = NULL;
    enum qb_error err =
        http_json_parse(http_request_header(req, "Content-Type"), (const char *)body->data,
                        body->size, fields, field_count, &out, message);
    if (err != QB_OK) {
        http_reply_error_message(req, v3 && err != QB_E_TOO_LARGE ? QB_E_PARAM : err,
                                 message[0] != '\0' ? message : error_message(err));
        return NULL;
    }
    /* Kept for the request's fingerprint (http_idempotency_arm). */
    json_decref(req->body_json);
    req->body_json = json_incref(out);
    return out;
}

json_t *http_json_body(struct http_request *req, const struct http_field *fields,
                       size_t field_count)
{
    return S_json_body(req, fields, field_count, false);
}

json_t *http_v3_json_body(struct http_request *req, const struct http_field *fields,
                          size_t field_count)
{
    return S_json_body(req, fields, field_count, true);
}

struct store *http_reader_take(struct http_request *req, enum qb_error *err)
{
    struct store *reader = NULL;
    *err = store_pool_acquire(http_request_pool(req), S_POOL_WAIT_MS, &reader);
    if (*err != QB_OK) {
        log_event(LOG_WARN, "http.pool_acquire", "error=%s", error_name(*err));
        *err = *err == QB_E_BUSY ? QB_E_BUSY : QB_E_STORAGE;
        return NULL;
    }
    return reader;
}

struct store *http_reader_acquire(struct http_request *req)
{
    enum qb_error err;
    struct store *reader = http_reader_take(req, &err);
    if (reader == NULL)
        http_reply_error(req, err);
    return reader;
}

void http_reader_release(struct http_request *req, struct store *reader)
{
    store_pool_release(http_request_pool(req), reader);
}

bool http_query_limit(struct http_request *req, size_t *limit)
{
    const char *text = http_request_query(req, "limit");
    *limit = HTTP_LIST_LIMIT_DEFAULT;
    if (text == NULL)
        return true;
    size_t size = strlen(text);
    size_t value = 0;
    bool ok = size > 0 && size <= 3 && strspn(text, "0123456789") == size;
    for (size_t i = 0; ok && i < size; i++)
        value = value * 10 + (size_t)(text[i] - '0');
    if (!ok || value < 1 || value > HTTP_LIST_LIMIT_MAX) {
        http_reply_error_message(req, QB_E_PARAM, "limit must be an integer from 1 to 100");
        return false;
    }
    *limit = value;
    return true;
}

bool http_query_amount(struct http_request *req, int64_t max_minor, bool *has,
                       int64_t *amount_minor)
{
    const char *text = http_request_query(req, "amount");
    *has = false;
    *amount_minor = 0;
    if (text == NULL)
        return true;
    size_t size = strlen(text);
    int64_t v = 0;
    bool ok = size >= 1 && size <= 13 && strspn(text, "0123456789") == size && text[0] != '0';
    for (size_t i = 0; ok && i < size; i++)
        v = v * 10 + (text[i] - '0');
    if (!ok || v > max_minor) {
        char message[96];
        snprintf(message, sizeof message, "amount must be an integer in minor units from 1 to %lld",
                 (long long)max_minor);
        http_reply_error_message(req, QB_E_PARAM, message);
        return false;
    }
    *has = true;
    *amount_minor = v;
    return true;
}

json_t *http_time_json(int64_t at_ms) { return domain_time_json(at_ms); }

/* A cursor (http_cursor_seal): "k", its values enciphered (16 hex each), a
 * dot, and the tag, 16 hex of HMAC(cursor key, the request's path, the
 * caller, its list's filters when bound to them, its scope, the values). Opaque to
 * clients and bound to the route, the caller and the filters: values made
 * up, taken from another user's cursor, or given with other filters (where
 * a list would answer a page of nothing, as if it ended) are refused. The
 * values are row numbers of the whole platform (its count of notices,
 * security events or journal entries, read a day apart, would be its
 * business), so they are enciphered with a keystream the tag picks, as a
 * bills cursor's are (a synthetic IV: equal cursors stay equal, no nonce
 * is kept). */
#define S_CURSOR_TAG_HEX 16
#define S_CURSOR_VALUE_HEX 16
_Static_assert(HTTP_CURSOR_SIZE_MAX ==
                   1 + S_CURSOR_VALUE_HEX * HTTP_CURSOR_VALUES_MAX + 1 + S_CURSOR_TAG_HEX + 1,
               "the longest cursor fits");
_Static_assert(HTTP_CURSOR_VALUES_MAX * 8 <= CRYPTO_SHA256_SIZE, "one digest of keystream");

/* The filters of the request's list into mac: each query argument its
 * route reads, but limit and cursor, as name, then 0 when absent or empty
 * (an empty filter is none) or 1 and the value as sent. None on a route
 * that checks no arguments. */
static void S_cursor_filters(const struct http_request *req, struct crypto_hmac_sha256_state *mac)
{
    if (req->server == NULL || req->route_index >= req->server->route_count)
        return;
    const char *names = req->server->routes[req->route_index].query;
    if (names == NULL || strcmp(names, HTTP_QUERY_ANY) == 0)
        return;
    while (*names != '\0') {
        size_t size = strcspn(names, " ");
        char name[32];
        QB_ASSERT(size < sizeof name); /* the routes' own names */
        if (size > 0) {
            memcpy(name, names, size);
            name[size] = '\0';
            if (strcmp(name, "limit") != 0 && strcmp(name, "cursor") != 0) {
                const char *value = http_request_query(req, name);
                if (value != NULL && value[0] == '\0')
                    value = NULL;
                crypto_hmac_sha256_update(mac, name, size + 1);
                crypto_hmac_sha256_update(mac, value != NULL ? "\1" : "\0", 1);
                if (value != NULL)
                    crypto_hmac_sha256_update(mac, value, strlen(value) + 1);
            }
        }
        names += size;
        names += strspn(names, " ");
    }
}

static void S_cursor_tag(const struct http_request *req, bool filters, const char *scope,
                         const uint64_t *values, size_t count, char out[S_CURSOR_TAG_HEX + 1])
{
    const struct domain_env *env = http_request_env(req);
    const struct identity_session *session = http_request_session(req);
    const struct merchant *merchant = http_request_merchant(req);
    const char *path = http_request_path(req);
    const char *caller = session != NULL    ? session->user_id
                         : merchant != NULL ? merchant->mchid
                                            : "operator";
    struct crypto_hmac_sha256_state mac;
    crypto_hmac_sha256_begin(&mac, env->cursor_key, sizeof env->cursor_key);
    crypto_hmac_sha256_update(&mac, "qianbao.cursor.2", 17);
    crypto_hmac_sha256_update(&mac, path, strlen(path) + 1);
    crypto_hmac_sha256_update(&mac, caller, strlen(caller) + 1);
    if (filters)
        S_cursor_filters(req, &mac);
    crypto_hmac_sha256_update(&mac, scope != NULL ? scope : "",
                              scope != NULL ? strlen(scope) + 1 : 1);
    for (size_t v = 0; v < count; v++) {
        uint8_t bytes[8];
        for (int i = 0; i < 8; i++)
            bytes[i] = (uint8_t)(values[v] >> (8 * (7 - i)));
        crypto_hmac_sha256_update(&mac, bytes, sizeof bytes);
    }
    uint8_t digest[CRYPTO_SHA256_SIZE];
    crypto_hmac_sha256_end(&mac, digest);
    crypto_hex(digest, S_CURSOR_TAG_HEX / 2, out);
}

/* The keystream that enciphers the values of the cursor whose tag is tag. */
static void S_cursor_stream(const struct http_request *req, const char *tag,
                            uint64_t stream[HTTP_CURSOR_VALUES_MAX])
{
    const struct domain_env *env = http_request_env(req);
    struct crypto_hmac_sha256_state mac;
    crypto_hmac_sha256_begin(&mac, env->cursor_key, sizeof env->cursor_key);
    crypto_hmac_sha256_update(&mac, "qianbao.cursor.keystream.2", 27);
    crypto_hmac_sha256_update(&mac, tag, S_CURSOR_TAG_HEX);
    uint8_t digest[CRYPTO_SHA256_SIZE];
    crypto_hmac_sha256_end(&mac, digest);
    for (size_t v = 0; v < HTTP_CURSOR_VALUES_MAX; v++) {
        stream[v] = 0;
        for (size_t i = 0; i < 8; i++)
            stream[v] = stream[v] << 8 | digest[8 * v + i];
    }
}

void http_cursor_seal(const struct http_request *req, bool filters, const char *scope,
                      const int64_t *values, size_t count, char out[HTTP_CURSOR_SIZE_MAX])
{
    QB_ASSERT(count >= 1 && count <= HTTP_CURSOR_VALUES_MAX && http_request_env(req) != NULL);
    uint64_t plain[HTTP_CURSOR_VALUES_MAX], stream[HTTP_CURSOR_VALUES_MAX];
    for (size_t v = 0; v < count; v++) {
        QB_ASSERT(values[v] >= 0);
        plain[v] = (uint64_t)values[v];
    }
    char tag[S_CURSOR_TAG_HEX + 1];
    S_cursor_tag(req, filters, scope, plain, count, tag);
    S_cursor_stream(req, tag, stream);
    size_t used = 0;
    out[used++] = 'k';
    for (size_t v = 0; v < count; v++) {
        snprintf(out + used, HTTP_CURSOR_SIZE_MAX - used, "%016llx",
                 (unsigned long long)(plain[v] ^ stream[v]));
        used += S_CURSOR_VALUE_HEX;
    }
    snprintf(out + used, HTTP_CURSOR_SIZE_MAX - used, ".%s", tag);
}

bool http_cursor_open(const struct http_request *req, bool filters, const char *scope,
                      const char *text, int64_t *values, size_t count)
{
    QB_ASSERT(count >= 1 && count <= HTTP_CURSOR_VALUES_MAX);
    const size_t hex = S_CURSOR_VALUE_HEX * count;
    /* Exactly as http_cursor_seal writes it: lower-case hex of fixed widths. */
    if (http_request_env(req) == NULL || strlen(text) != 1 + hex + 1 + S_CURSOR_TAG_HEX ||
        text[0] != 'k' || text[1 + hex] != '.' || strspn(text + 1, "0123456789abcdef") != hex ||
        strspn(text + 1 + hex + 1, "0123456789abcdef") != S_CURSOR_TAG_HEX)
        return false;
    const char *tag = text + 1 + hex + 1;
    uint64_t plain[HTTP_CURSOR_VALUES_MAX], stream[HTTP_CURSOR_VALUES_MAX];
    S_cursor_stream(req, tag, stream);
    for (size_t v = 0; v < count; v++) {
        uint64_t value = 0;
        for (size_t i = 0; i < S_CURSOR_VALUE_HEX; i++) {
            char c = text[1 + S_CURSOR_VALUE_HEX * v + i];
            value = value << 4 | (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
        }
        plain[v] = value ^ stream[v];
        if (plain[v] > (uint64_t)INT64_MAX)
            return false;
    }
    char want[S_CURSOR_TAG_HEX + 1];
    S_cursor_tag(req, filters, scope, plain, count, want);
    if (!crypto_equal(want, tag, S_CURSOR_TAG_HEX))
        return false;
    for (size_t v = 0; v < count; v++)
        values[v] = (int64_t)plain[v];
    return true;
}

bool http_query_cursor(struct http_request *req, int64_t *before)
{
    *before = 0;
    const char *text = http_request_query(req, "cursor");
    if (text == NULL || text[0] == '\0')
        return true;
    if (!http_cursor_open(req, true, NULL, text, before, 1) || *before == 0) {
        *before = 0;
        http_reply_error_message(req, QB_E_PARAM,
                                 "cursor is not one this server gave out for this list and these "
                                 "filters (keep the filters of the page it came with)");
        return false;
    }
    return true;
}

json_t *http_page_json(struct http_request *req, json_t *items, int64_t next)
{
    if (items == NULL)
        return NULL;
    json_t *cursor = json_null();
    if (next > 0) {
        char text[HTTP_CURSOR_SIZE_MAX];
        http_cursor_seal(req, true, NULL, &next, 1, text);
        cursor = json_string(text);
    }
    return json_pack("{s:o, s:o}", "items", items, "next_cursor", cursor);
}

void http_reply_list(struct http_request *req, const struct http_list *list, const void *arg)
{
    size_t limit;
    int64_t cursor;
    if (!http_query_limit(req, &limit) || !http_query_cursor(req, &cursor))
        return;
    char *rows = http_request_alloc(req, (limit + 1) * list->row_size);
    if (rows == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return;
    size_t count = 0;
    enum qb_error err = list->read(req, reader, arg, cursor, rows, limit + 1, &count);
    QB_ASSERT(count <= limit + 1);
    int64_t next = 0;
    if (err == QB_OK && count > limit) {
        count = limit;
        memcpy(&next, rows + (limit - 1) * list->row_size + list->key_offset, sizeof next);
    }
    json_t *array = err == QB_OK ? json_array() : NULL;
    for (size_t i = 0; array != NULL && i < count; i++)
        http_array_add(&array, list->item(req, reader, arg, rows + i * list->row_size, &err));
    http_reader_release(req, reader);
    http_reply_page(req, array, next, err);
}

void http_array_add(json_t **array, json_t *item)
{
    if (*array == NULL) {
        json_decref(item);
        return;
    }
    /* json_array_append_new takes item whether it succeeds or not. */
    if (item != NULL && json_array_append_new(*array, item) == 0)
        return;
    json_decref(*array);
    *array = NULL;
}

void http_reply_page(struct http_request *req, json_t *items, int64_t next, enum qb_error err)
{
    json_t *body = items != NULL ? http_page_json(req, items, next) : NULL;
    if (body != NULL)
        http_reply_json(req, 200, body);
    else
        http_reply_error(req, err != QB_OK ? err : QB_E_INTERNAL);
    json_decref(body);
}

/* SHA-256 of method, NUL, path, NUL and body: what names a request beside
 * its key, before it is keyed (domain_request_fingerprint). */
static void S_request_digest(const char *method, const char *path, const void *body,
                             size_t body_size, uint8_t digest[CRYPTO_SHA256_SIZE])
{
    struct crypto_sha256_state state;
    crypto_sha256_begin(&state);
    crypto_sha256_update(&state, method, strlen(method) + 1);
    crypto_sha256_update(&state, path, strlen(path) + 1);
    if (body_size > 0)
        crypto_sha256_update(&state, body, body_size);
    crypto_sha256_end(&state, digest);
}

/* Streams what json_dump_callback writes into a SHA-256. */
static int S_digest_chunk(const char *buffer, size_t size, void *data)
{
    crypto_sha256_update((struct crypto_sha256_state *)data, buffer, size);
    return 0;
}

/* The digest of a request with a JSON object body as its fingerprint reads
 * it: method, NUL, path, NUL, then the object with its members sorted, no
 * spacing, and no payment_password (what json_dumps writes with
 * JSON_COMPACT | JSON_SORT_KEYS, streamed). The password proves who sends
 * the request and is no part of it: were it fingerprinted, a retry under a
 * key its user paid under would answer the payment for the right password
 * and 422 for any other, telling it to whoever holds the session without
 * one guess counted towards the lock. Sorted and spaced as it may be, a
 * retry rebuilt by its client is the same request. The object is the one
 * the handler parsed (http_json_body), read through a shallow copy so that
 * what the handler holds stays as it was. False when out of memory. */
static bool S_object_digest(const char *method, const char *path, const json_t *object,
                            uint8_t digest[CRYPTO_SHA256_SIZE])
{
    json_t *copy = json_copy((json_t *)object);
    if (copy == NULL)
        return false;
    (void)json_object_del(copy, "payment_password");
    struct crypto_sha256_state state;
    crypto_sha256_begin(&state);
    crypto_sha256_update(&state, method, strlen(method) + 1);
    crypto_sha256_update(&state, path, strlen(path) + 1);
    int rc = json_dump_callback(copy, S_digest_chunk, &state, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(copy);
    crypto_sha256_end(&state, digest);
    return rc == 0;
}

bool http_idempotency_arm(struct http_request *req, struct ledger_cmd *cmd, const char *principal)
{
    const char *key = http_request_header(req, "Idempotency-Key");
    size_t size = key != NULL ? strlen(key) : 0;
    bool ok = size >= 1 && size < LEDGER_IDEM_KEY_SIZE_MAX;
    for (size_t i = 0; ok && i < size; i++)
        ok = key[i] >= 0x20 && key[i] <= 0x7e;
    if (!ok) {
        http_reply_error_message(req, QB_E_PARAM,
                                 key == NULL ? "the Idempotency-Key header is required"
                                             : "Idempotency-Key must be 1-255 printable ASCII "
                                               "characters");
        return false;
    }
    const char *method = http_request_method(req);
    const char *path = http_request_path(req);
    const struct buf *body = http_request_body(req);
    const struct domain_env *env = http_request_env(req);
    QB_ASSERT(env != NULL);
    const void *raw = body != NULL ? body->data : NULL;
    size_t raw_size = body != NULL ? body->size : 0;
    const json_t *object = req->body_json;
    uint8_t digest[CRYPTO_SHA256_SIZE];
    if (json_is_object(object)) {
        if (!S_object_digest(method, path, object, digest)) {
            http_reply_error(req, QB_E_INTERNAL);
            return false;
        }
    } else {
        S_request_digest(method, path, raw, raw_size, digest);
    }
    domain_request_fingerprint(env, digest, cmd->request_hash);
    /* Records kept before 2026-12-05 fingerprint the body as it was sent,
     * password and all: a retry of one still finds its answer. */
    cmd->has_legacy_hash = json_is_object(object);
    if (cmd->has_legacy_hash) {
        S_request_digest(method, path, raw, raw_size, digest);
        domain_request_fingerprint(env, digest, cmd->legacy_request_hash);
    }
    cmd->idem_principal = principal;
    cmd->idem_key = key;
    return true;
}

void http_reply_stored(struct http_request *req, const struct ledger_cmd *cmd)
{
    if (cmd->result != QB_OK) {
        http_reply_error(req, cmd->result);
        return;
    }
    int status;
    const char *body;
    size_t body_size;
    if (!domain_response_get(cmd, &status, &body, &body_size)) {
        http_reply_error(req, QB_E_INTERNAL);
        return;
    }
    if (cmd->replayed)
        http_reply_header(req, "Idempotent-Replayed", "true");
    http_reply_raw(req, status, "application/json; charset=utf-8", body, body_size);
}

json_t *http_user_json(const struct identity_user *user, bool with_id_number_last4)
{
    /* Who froze it says who can lift it: the user (POST /v1/me/unfreeze)
     * or only an operator. */
    const char *frozen_by = user->status != IDENTITY_FROZEN               ? NULL
                            : user->frozen_by == IDENTITY_FROZEN_BY_ADMIN ? "operator"
                                                                          : "self";
    const char *status = user->status == IDENTITY_FROZEN   ? "frozen"
                         : user->status == IDENTITY_CLOSED ? "closed"
                                                           : "active";
    json_t *body =
        json_pack("{s:s, s:s, s:s, s:i, s:s, s:o, s:b, s:o}", "id", user->id, "phone", user->phone,
                  "display_name", user->display_name, "kyc_level", user->kyc_level, "status",
                  status, "frozen_by", frozen_by != NULL ? json_string(frozen_by) : json_null(),
                  "payment_password_set", (int)user->payment_password_set, "created_at",
                  http_time_json(user->created_at_ms));
    if (body != NULL && user->status == IDENTITY_CLOSED &&
        json_object_set_new(body, "closed_at", http_time_json(user->closed_at_ms)) != 0) {
        json_decref(body);
        return NULL;
    }
    if (body != NULL && with_id_number_last4) {
        json_t *last4 =
            user->id_number_last4[0] != '\0' ? json_string(user->id_number_last4) : json_null();
        if (json_object_set_new(body, "id_number_last4", last4) != 0) {
            json_decref(body);
            return NULL;
        }
    }
    return body;
}

json_t *http_balances_json(struct http_request *req, int64_t account_id, enum qb_error *err)
{
    struct ledger_account_view view;
    *err = http_request_account_view(req, account_id, &view);
    if (*err != QB_OK)
        return NULL;
    json_t *balances =
        json_pack("[{s:s, s:I, s:I}]", "currency", view.currency->code, "available",
                  (json_int_t)view.available_minor, "pending", (json_int_t)view.held_minor);
    if (balances == NULL)
        *err = QB_E_INTERNAL;
    return balances;
}

bool http_reply_refusal(struct http_request *req, const struct ledger_cmd *cmd,
                        enum qb_error outcome, const char *message)
{
    if (cmd->result != QB_OK)
        http_reply_error(req, cmd->result);
    else if (outcome != QB_OK && message != NULL)
        http_reply_error_message(req, outcome, message);
    else if (outcome != QB_OK)
        http_reply_error(req, outcome);
    return cmd->result != QB_OK || outcome != QB_OK;
}

bool http_cmd_failure_is_news(enum qb_error result)
{
    return result != QB_OK && result != QB_E_IDEMPOTENCY_MISMATCH && result != QB_E_BUSY &&
           result != QB_E_SHUTTING_DOWN && result != QB_E_STORAGE;
}

bool http_identity_refused(struct http_request *req, const struct identity_cmd *c)
{
    if (c->cmd.result != QB_OK) {
        if (http_cmd_failure_is_news(c->cmd.result))
            log_event(LOG_WARN, "http.identity_cmd_failed", "op=%d error=%s", (int)c->op,
                      error_name(c->cmd.result));
        http_reply_error(req, c->cmd.result);
        return true;
    }
    switch (c->outcome) {
    case QB_OK:
        return false;
    case QB_E_PASSWORD_WRONG:
    case QB_E_PASSWORD_LOCKED:
        /* The login password's lock (taken while the right password was
         * being checked), or the payment password's refusal. */
        if (c->outcome == QB_E_PASSWORD_LOCKED &&
            (c->op == IDENTITY_OP_UNFREEZE || c->op == IDENTITY_OP_PASSWORD_SET))
            http_reply_login_locked(req, c->password_try.locked_until_ms);
        else
            http_reply_password_refusal(req, c->outcome, &c->password_try);
        return true;
    case QB_E_PHONE_CHANGE_HELD:
        http_reply_phone_held(req, c->held_until_ms);
        return true;
    case QB_E_PASSWORD_WEAK:
        /* Only a payment password is judged in a command: against the
         * birth date in the user's verified id number. */
        http_reply_error_message(req, QB_E_PASSWORD_WEAK,
                                 c->op == IDENTITY_OP_PAYMENT_PASSWORD_SET
                                     ? "the payment password is too easy to guess: it is your "
                                       "birth date"
                                     : "the password is too easy to guess");
        return true;
    case QB_E_CONFLICT: {
        /* Which state stood in the way, in words: "not in a state that
         * allows this" sends a user guessing. */
        const char *message =
            c->user.status == IDENTITY_CLOSED   ? "the wallet is closed"
            : c->op == IDENTITY_OP_KYC_SUBMIT   ? "the real name is verified already"
            : c->op == IDENTITY_OP_FREEZE       ? "the wallet is frozen already"
            : c->op == IDENTITY_OP_ADMIN_FREEZE ? "an operator froze this wallet already"
            : c->op == IDENTITY_OP_UNFREEZE || c->op == IDENTITY_OP_ADMIN_UNFREEZE
                ? "the wallet is not frozen"
            : c->op == IDENTITY_OP_ADMIN_LOGIN_UNLOCK
                ? "logging in is not locked: wrong passwords have not locked it, or the lock "
                  "ended"
            : c->op != IDENTITY_OP_ADMIN_SET_KYC_LEVEL ? NULL
            : c->user.kyc_level == c->kyc_level        ? "the user is at that KYC level already"
                                                       : "the user has not verified a real name "
                                                         "(POST /v1/me/kyc): levels 2 and 3 "
                                                         "stand on it";
        if (message != NULL)
            http_reply_error_message(req, QB_E_CONFLICT, message);
        else
            http_reply_error(req, c->outcome);
        return true;
    }
    case QB_E_ACCOUNT_NOT_EMPTY: {
        QB_ASSERT(c->blocker != NULL);
        static const struct {
            const char *reason, *message;
        } blockers[] = {
            {"balance", "the wallet still has a balance: withdraw it to a card, or spend it"},
            {"pending", "money is on its way: a top-up or withdrawal the bank has not settled "
                        "yet, or a transfer that has not arrived: wait for it, or cancel the "
                        "transfer"},
            {"red_packet", "a red packet you sent still takes claims: what is left comes back to "
                           "the wallet when it expires"},
            {"merchant", "you own a merchant that is not closed: withdraw its balance, then close "
                         "it (POST /v1/merchants/me/close)"},
        };
        const char *message = error_message(c->outcome);
        for (size_t i = 0; i < QB_ARRAY_COUNT(blockers); i++)
            if (strcmp(blockers[i].reason, c->blocker) == 0)
                message = blockers[i].message;
        json_t *extra = json_pack("{s:s}", "reason", c->blocker);
        http_reply_error_extra(req, c->outcome, message, extra);
        json_decref(extra);
        return true;
    }
    case QB_E_LIMIT_EXCEEDED: {
        /* The closing: the balance must leave by a withdrawal or a payment,
         * which the limit refuses: what lifts it, not "withdraw it first". */
        QB_ASSERT(c->blocker != NULL);
        json_t *extra = json_pack("{s:s}", "limit", c->blocker);
        http_reply_error_extra(req, c->outcome,
                               "the wallet's balance must be withdrawn or spent before it closes, "
                               "and its KYC level 1 lifetime limit on paying and cashing out "
                               "(kyc_lifetime) leaves too little for it: verify your identity "
                               "(POST /v1/me/kyc) to raise your level, then withdraw it",
                               extra);
        json_decref(extra);
        return true;
    }
    case QB_E_ACCOUNT_FROZEN:
        /* A code proves only the phone, which a frozen wallet's owner may
         * have lost: say what still works. */
        if (c->op == IDENTITY_OP_PASSWORD_SET) {
            http_reply_error_message(req, QB_E_ACCOUNT_FROZEN,
                                     "the wallet is frozen: its login password is changed only "
                                     "with the current one (current_password), not with an SMS "
                                     "code; if you forgot it, ask the wallet's operator (support) "
                                     "to lift the freeze");
            return true;
        }
        if (c->op == IDENTITY_OP_PAYMENT_PASSWORD_SET) {
            http_reply_error_message(req, QB_E_ACCOUNT_FROZEN,
                                     "the wallet is frozen: its payment password is set once the "
                                     "freeze is lifted (POST /v1/me/unfreeze with the login "
                                     "password, or by the wallet's operator)");
            return true;
        }
        http_reply_error(req, c->outcome);
        return true;
    case QB_E_FORBIDDEN:
        if (c->op == IDENTITY_OP_UNFREEZE) {
            http_reply_error_message(req, QB_E_FORBIDDEN,
                                     "the wallet's operator froze this wallet: only the operator "
                                     "can lift the freeze");
            return true;
        }
        http_reply_error(req, c->outcome);
        return true;
    default:
        http_reply_error(req, c->outcome);
        return true;
    }
}

void http_identity_cmd_done(struct identity_cmd *c)
{
    crypto_wipe(c->sms_code, sizeof c->sms_code);
    crypto_wipe(c->password_hash, sizeof c->password_hash);
    crypto_wipe(c->password_hash_checked, sizeof c->password_hash_checked);
    crypto_wipe(c->payment_password, sizeof c->payment_password);
    crypto_wipe(c->token, sizeof c->token);
    crypto_wipe(c->device_key, sizeof c->device_key);
    crypto_wipe(c->id_number, sizeof c->id_number);
    ledger_cmd_release(&c->cmd);
}

/* {"locked_until": RFC 3339} for a lock that ends at locked_until_ms; NULL
 * when it cannot be made (the refusal then goes without it). */
static json_t *S_locked_until_json(int64_t locked_until_ms)
{
    return locked_until_ms > 0 ? json_pack("{s:o}", "locked_until", http_time_json(locked_until_ms))
                               : NULL;
}

void http_reply_password_refusal(struct http_request *req, enum qb_error err,
                                 const struct identity_password_try *t)
{
    char message[192];
    const char *text = identity_password_refusal_text(err, t, message, sizeof message);
    json_t *extra = err == QB_E_PASSWORD_LOCKED ? S_locked_until_json(t->locked_until_ms) : NULL;
    if (extra != NULL)
        http_reply_error_extra(req, err, text, extra);
    else if (text != NULL)
        http_reply_error_message(req, err, text);
    else
        http_reply_error(req, err);
    json_decref(extra);
}

void http_reply_retry_after(struct http_request *req, int64_t until_ms)
{
    const struct domain_env *env = http_request_env(req);
    int64_t left_ms = env != NULL ? until_ms - clock_now_ms(env->clock) : 0;
    int64_t retry_after_s = left_ms > 0 ? (left_ms + 999) / 1000 : 1;
    char value[24];
    snprintf(value, sizeof value, "%lld", (long long)retry_after_s);
    http_reply_header(req, "Retry-After", value);
}

void http_reply_locked(struct http_request *req, enum qb_error err, const char *message,
                       int64_t locked_until_ms)
{
    http_reply_retry_after(req, locked_until_ms);
    json_t *extra = S_locked_until_json(locked_until_ms);
    if (extra != NULL)
        http_reply_error_extra(req, err, message, extra);
    else
        http_reply_error_message(req, err, message);
    json_decref(extra);
}

void http_reply_login_locked(struct http_request *req, int64_t locked_until_ms)
{
    char until[48], message[160];
    snprintf(message, sizeof message,
             "too many wrong passwords; logging in with the password is locked%s, a login with "
             "an SMS code is not",
             identity_lock_end_text(locked_until_ms, until, sizeof until));
    http_reply_locked(req, QB_E_PASSWORD_LOCKED, message, locked_until_ms);
}

void http_reply_phone_held(struct http_request *req, int64_t held_until_ms)
{
    char until[48], message[224];
    snprintf(message, sizeof message,
             "the wallet stays on its phone%s: it was logged in to with an SMS code alone, or a "
             "password was reset with one, in the 24 hours before",
             identity_lock_end_text(held_until_ms, until, sizeof until));
    http_reply_locked(req, QB_E_PHONE_CHANGE_HELD, message, held_until_ms);
}

void http_login_failure_record(struct http_request *req, const struct identity_cmd *c)
{
    QB_ASSERT(c->op == IDENTITY_OP_LOGIN_FAILED);
    if (c->cmd.result != QB_OK)
        return; /* not counted: the next wrong password will be */
    /* Refused as locked by a lock another took while this one was checked:
     * not counted, as one refused before its check is not. */
    if (c->outcome == QB_E_PASSWORD_LOCKED && !c->lock_taken)
        return;
    http_metrics_login_failed(&req->server->metrics, c->lock_taken);
    if (!c->lock_taken)
        return;
    if (c->user_id[0] != '\0') {
        log_event(LOG_WARN, "identity.login_locked", "user_id=%s", c->user_id);
    } else {
        char masked[16];
        log_mask_pan(c->phone, masked, sizeof masked);
        log_event(LOG_WARN, "identity.login_locked", "phone=%s", masked);
    }
}

struct identity_cmd *http_identity_cmd_new(struct http_request *req, enum identity_op op)
{
    if (http_request_env(req) == NULL) {
        log_event(LOG_ERROR, "http.no_domain_env", "op=%d", (int)op);
        http_reply_error(req, QB_E_INTERNAL);
        return NULL;
    }
    struct identity_cmd *c = http_request_alloc(req, sizeof *c);
    if (c == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return NULL;
    }
    identity_cmd_init(c, http_request_env(req), op);
    return c;
}

/* --- password jobs ---------------------------------------------------------------- */

/* An Argon2id string made with the server's parameters, to verify against
 * when the phone is unknown: the refusal then costs what a wrong password
 * costs, so timing does not tell which phones are registered. Made once. */
static pthread_mutex_t S_dummy_lock = PTHREAD_MUTEX_INITIALIZER;
static char S_dummy_hash[IDENTITY_PASSWORD_HASH_SIZE_MAX];

static void S_dummy_verify(const struct domain_env *env, const char *password)
{
    char hash[IDENTITY_PASSWORD_HASH_SIZE_MAX] = "";
    pthread_mutex_lock(&S_dummy_lock);
    if (S_dummy_hash[0] == '\0' &&
        identity_password_hash(env, "qianbao dummy password", S_dummy_hash) != QB_OK)
        S_dummy_hash[0] = '\0';
    memcpy(hash, S_dummy_hash, sizeof hash);
    pthread_mutex_unlock(&S_dummy_lock);
    if (hash[0] != '\0')
        (void)identity_password_verify(env, hash, password);
}

static void S_password_job_wipe(struct http_password_job *job)
{
    crypto_wipe(job->password, sizeof job->password);
    crypto_wipe(job->hash, sizeof job->hash);
    crypto_wipe(job->new_password, sizeof job->new_password);
}

/* Wipes the job and releases the commands that will not answer (all but
 * keep, which may be NULL). */
static void S_password_job_release(struct http_password_job *job, const struct identity_cmd *keep)
{
    S_password_job_wipe(job);
    if (job->next != keep)
        http_identity_cmd_done(job->next);
    if (job->failed != NULL && job->failed != keep)
        http_identity_cmd_done(job->failed);
}

/* On a password thread: the password, the new one's hash, the command. */
static void S_password_job_run(struct http_request *req, struct ledger_cmd *cmd)
{
    struct http_password_job *job = (struct http_password_job *)cmd;
    const struct domain_env *env = http_request_env(req);
    if (clock_monotonic_ns() - job->queued_ns > HTTP_PASSWORD_WAIT_MAX_MS * INT64_C(1000000)) {
        /* Nothing checked or counted: the client is told to come back. */
        job->hash_err = QB_E_BUSY;
        return;
    }
    bool right = true;
    if (job->verify && job->hash[0] == '\0') {
        S_dummy_verify(env, job->password);
        right = false;
    } else if (job->verify) {
        right = identity_password_verify(env, job->hash, job->password);
        /* The command goes ahead only while this hash is still the user's;
         * a login stores the password hashed at today's settings in place
         * of one made at others (best effort: the next login tries again). */
        memcpy(job->next->password_hash_checked, job->hash, sizeof job->hash);
        if (right && job->next->op == IDENTITY_OP_SESSION_CREATE &&
            identity_password_needs_rehash(env, job->hash) &&
            identity_password_hash(env, job->password, job->next->password_hash) != QB_OK)
            job->next->password_hash[0] = '\0';
    }
    crypto_wipe(job->password, sizeof job->password);
    crypto_wipe(job->hash, sizeof job->hash);
    if (right && job->hash_new) {
        /* Slow on purpose (Argon2id): here, never on the writer. */
        job->hash_err = identity_password_hash(env, job->new_password, job->next->password_hash);
        crypto_wipe(job->new_password, sizeof job->new_password);
        if (job->hash_err != QB_OK) {
            log_event(LOG_ERROR, "http.password_hash_failed", "error=%s",
                      error_name(job->hash_err));
            return;
        }
    }
    struct identity_cmd *c = right ? job->next : job->failed;
    enum qb_error err = http_request_execute(req, &c->cmd);
    if (err != QB_OK)
        c->cmd.result = err; /* refused, as a submission would have been */
    job->ran = c;
}

/* Back on the HTTP thread: the resume function of the command that ran. */
static void S_password_job_answer(struct http_request *req, struct ledger_cmd *cmd)
{
    struct http_password_job *job = (struct http_password_job *)cmd;
    struct identity_cmd *ran = job->ran;
    S_password_job_release(job, ran);
    if (ran == NULL && job->hash_err == QB_E_BUSY)
        http_reply_header(req, "Retry-After", "1");
    if (ran == NULL)
        http_reply_error(req, job->hash_err);
    else if (ran == job->next)
        job->next_resume(req, &ran->cmd);
    else
        job->failed_resume(req, &ran->cmd);
}

struct http_password_job *http_password_job_new(struct http_request *req, enum identity_op op,
                                                bool verify)
{
    struct http_password_job *job = http_request_alloc(req, sizeof *job);
    if (job == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return NULL;
    }
    job->verify = verify;
    job->hash_err = QB_E_INTERNAL;
    job->next = http_identity_cmd_new(req, op);
    if (job->next == NULL)
        return NULL;
    if (verify) {
        job->failed = http_identity_cmd_new(req, IDENTITY_OP_LOGIN_FAILED);
        if (job->failed == NULL) {
            http_identity_cmd_done(job->next);
            return NULL;
        }
    }
    return job;
}

void http_password_job_start(struct http_request *req, struct http_password_job *job,
                             http_resume_fn next_resume, http_resume_fn failed_resume)
{
    QB_ASSERT(job->verify || job->hash_new);
    QB_ASSERT(next_resume != NULL && (failed_resume != NULL) == job->verify);
    job->next_resume = next_resume;
    job->failed_resume = failed_resume;
    job->queued_ns = clock_monotonic_ns();
    if (!http_request_offload_password(req, &job->hold, S_password_job_run, S_password_job_answer))
        S_password_job_release(job, NULL);
}

void http_resume_user(struct http_request *req, struct ledger_cmd *cmd)
{
    struct identity_cmd *c = (struct identity_cmd *)cmd;
    if (!http_identity_refused(req, c)) {
        http_reply_json_new(req, 200, http_user_json(&c->user, false));
    }
    http_identity_cmd_done(c);
}

bool http_sms_code_check(struct http_request *req, const char *code)
{
    if (strlen(code) == SMS_CODE_DIGITS && strspn(code, "0123456789") == SMS_CODE_DIGITS)
        return true;
    http_reply_error_message(req, QB_E_PARAM, "sms_code must be 6 digits");
    return false;
}

bool http_payment_password_check(struct http_request *req, const char *text)
{
    if (text != NULL && strlen(text) == 6 && strspn(text, "0123456789") == 6)
        return true;
    http_reply_error_message(req, QB_E_PARAM, "payment_password must be six digits");
    return false;
}

bool http_new_password_check(struct http_request *req, const char *password)
{
    enum qb_error err = identity_password_check(password);
    if (err == QB_OK)
        return true;
    http_reply_error_message(req, err,
                             err == QB_E_PASSWORD_WEAK
                                 ? "the password is too easy to guess"
                                 : "password must be 8 to 128 bytes without control characters");
    return false;
}

void http_resume_no_content(struct http_request *req, struct ledger_cmd *cmd)
{
    struct identity_cmd *c = (struct identity_cmd *)cmd;
    if (!http_identity_refused(req, c))
        http_reply_raw(req, 204, NULL, NULL, 0);
    http_identity_cmd_done(c);
}

bool http_user_load(struct http_request *req, const char *user_id, struct identity_user *user)
{
    const struct identity_session *session = http_request_session(req);
    QB_ASSERT(user_id != NULL || session != NULL);
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return false;
    enum qb_error err =
        identity_user_get(reader, user_id != NULL ? user_id : session->user_id, user);
    http_reader_release(req, reader);
    if (err != QB_OK) {
        http_reply_error(req, err == QB_E_NOT_FOUND && user_id == NULL ? QB_E_UNAUTHORIZED : err);
        return false;
    }
    return true;
}

const char *http_user_id_param(struct http_request *req)
{
    const char *id = http_request_param(req, "id");
    if (id == NULL || !id_is_valid(id, strlen(id), "u")) {
        http_reply_error(req, QB_E_NOT_FOUND);
        return NULL;
    }
    return id;
}

bool http_me_load(struct http_request *req, struct identity_user *user)
{
    return http_user_load(req, NULL, user);
}

struct identity_user *http_me_new(struct http_request *req)
{
    struct identity_user *user = http_request_alloc(req, sizeof *user);
    if (user == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return NULL;
    }
    return http_me_load(req, user) ? user : NULL;
}

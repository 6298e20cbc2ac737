/*
 * domain.c — the domain environment: settings, derived keys, sealing.
 *
 * Each use of a secret gets its own subkey (libsodium's crypto_kdf with a
 * distinct context), so that a key disclosed for one purpose — say the
 * keyed hash of SMS codes — says nothing about another.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/crash.h"
#include "base/log.h"
#include "domain/domain.h"

void domain_settings_default(struct domain_settings *settings)
{
    settings->session_idle_ms = 30 * 60 * 1000;
    settings->session_absolute_ms = 7LL * 24 * 60 * 60 * 1000;
    settings->session_recent_ms = 15 * 60 * 1000;
    settings->session_touch_ms = 60 * 1000;
    settings->sms_code_ttl_ms = 300 * 1000;
    settings->sms_cooldown_ms = 60 * 1000;
    settings->sms_daily_max = 10;
    settings->sms_failures_max = 5;
    settings->payment_password_failures_max = 5;
    settings->payment_password_lock_ms = 3LL * 60 * 60 * 1000;
    settings->login_failures_max = 5;
    settings->login_lock_ms = 15LL * 60 * 1000;
    settings->new_device_code = true;
    settings->login_failures_window_ms = 24LL * 60 * 60 * 1000;
    settings->kyc_wallets_per_person = 3;
    settings->argon2_ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
    settings->argon2_memory_size = crypto_pwhash_MEMLIMIT_INTERACTIVE;
    settings->withdrawal_fee_ppm = 1000;
    settings->withdrawal_fee_min_minor = 10;
    settings->withdrawal_free_quota_minor = 0;
    settings->withdrawal_check_ms = 2000;
    settings->limit_per_payment_minor = 2000000;
    settings->limit_daily_minor = 5000000;
    settings->limit_kyc1_lifetime_minor = 100000;
    settings->limit_kyc2_yearly_minor = 10000000;
    settings->limit_kyc3_yearly_minor = 20000000;
    settings->password_free_max_minor = 20000;
    settings->password_free_daily_max = 5;
    settings->payee_lookups_max = 50;
    settings->payee_lookup_window_ms = 60LL * 60 * 1000;
    settings->payee_lookups_daily_max = 200;
    settings->payee_lookup_day_ms = 24LL * 60 * 60 * 1000;
    settings->red_packet_total_max_minor = 20000;
    settings->red_packet_expiry_ms = 24LL * 60 * 60 * 1000;
    settings->notify_private_allowed = false;
    settings->notify_ladder_divisor = 1;
    settings->paycode_free_max_minor = 20000;
    settings->paycode_free_daily_max = 5;
    settings->paycode_confirm_ms = 30 * 1000;
    settings->paycode_wrong_max = 5;
    settings->paycode_lock_ms = 15LL * 60 * 1000;
    settings->paycode_merchant_wrong_max = 20;
    settings->paycode_merchant_window_ms = 10LL * 60 * 1000;
    settings->paycode_devices_max = 5;
    settings->paycode_device_adds_max = 10;
    settings->worker_poll_ms = 0;
}

/* Contexts are exactly crypto_kdf_CONTEXTBYTES (8) characters. */
static void derive(uint8_t out[DOMAIN_KEY_SIZE], const uint8_t master[DOMAIN_KEY_SIZE],
                   uint64_t id, const char context[crypto_kdf_CONTEXTBYTES + 1])
{
    _Static_assert(DOMAIN_KEY_SIZE == crypto_kdf_KEYBYTES, "kdf key size");
    int rc = crypto_kdf_derive_from_key(out, DOMAIN_KEY_SIZE, id, context, master);
    QB_ASSERT(rc == 0);
}

void domain_env_init(struct domain_env *env, struct qb_clock *clock, struct qb_rand *rand,
                     struct ledger *ledger, const struct domain_settings *settings,
                     const uint8_t pepper[DOMAIN_KEY_SIZE], const uint8_t data_key[DOMAIN_KEY_SIZE])
{
    memset(env, 0, sizeof *env);
    env->clock = clock;
    env->rand = rand;
    env->ledger = ledger;
    env->settings = *settings;
    /* A session stays valid for idle + touch after last_seen, so the touch
     * interval must be small beside a short idle timeout (60 s idle: 6 s). */
    if (env->settings.session_touch_ms > env->settings.session_idle_ms / 10)
        env->settings.session_touch_ms = env->settings.session_idle_ms / 10;
    derive(env->pepper_key, pepper, 1, "qbloginp");
    derive(env->payment_password_key, pepper, 2, "qbpaypwd");
    derive(env->sms_code_key, pepper, 3, "qbsmscod");
    derive(env->login_guess_key, pepper, 5, "qblogges");
    derive(env->seal_key, data_key, 1, "qbsealdt");
    derive(env->id_number_key, data_key, 2, "qbidnumh");
    derive(env->cursor_key, data_key, 3, "qbcursor");
    derive(env->card_hash_key, data_key, 4, "qbcardhs");
    derive(env->openid_key, data_key, 5, "qbopenid");
    derive(env->qr_key, data_key, 6, "qbqrsign");
    derive(env->notify_key, data_key, 7, "qbnotify");
    uint8_t request_key[DOMAIN_KEY_SIZE];
    derive(request_key, pepper, 4, "qbreqfpr");
    crypto_hmac_sha256_begin(&env->request_mac, request_key, sizeof request_key);
    crypto_wipe(request_key, sizeof request_key);
}

void domain_env_release(struct domain_env *env)
{
    crypto_wipe(env->pepper_key, sizeof env->pepper_key);
    crypto_wipe(env->payment_password_key, sizeof env->payment_password_key);
    crypto_wipe(env->sms_code_key, sizeof env->sms_code_key);
    crypto_wipe(env->login_guess_key, sizeof env->login_guess_key);
    crypto_wipe(env->seal_key, sizeof env->seal_key);
    crypto_wipe(env->id_number_key, sizeof env->id_number_key);
    crypto_wipe(env->cursor_key, sizeof env->cursor_key);
    crypto_wipe(env->card_hash_key, sizeof env->card_hash_key);
    crypto_wipe(env->openid_key, sizeof env->openid_key);
    crypto_wipe(env->qr_key, sizeof env->qr_key);
    crypto_wipe(env->notify_key, sizeof env->notify_key);
    crypto_wipe(env->chain_key, sizeof env->chain_key);
    crypto_wipe(&env->request_mac, sizeof env->request_mac);
}

void domain_seal(const struct domain_env *env, const void *data, size_t size, uint8_t *out)
{
    _Static_assert(DOMAIN_SEAL_OVERHEAD == crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES,
                   "seal overhead");
    uint8_t *nonce = out;
    rand_fill(env->rand, nonce, crypto_secretbox_NONCEBYTES);
    int rc = crypto_secretbox_easy(out + crypto_secretbox_NONCEBYTES, data, size, nonce,
                                   env->seal_key);
    QB_ASSERT(rc == 0);
}

bool domain_unseal(const struct domain_env *env, const uint8_t *sealed, size_t sealed_size, void *out)
{
    if (sealed == NULL || sealed_size < DOMAIN_SEAL_OVERHEAD)
        return false;
    return crypto_secretbox_open_easy(out, sealed + crypto_secretbox_NONCEBYTES,
                                      sealed_size - crypto_secretbox_NONCEBYTES, sealed,
                                      env->seal_key) == 0;
}

void domain_keyed_hash(const uint8_t key[DOMAIN_KEY_SIZE], const void *data, size_t size,
                       uint8_t out[CRYPTO_SHA256_SIZE])
{
    crypto_hmac_sha256(key, DOMAIN_KEY_SIZE, data, size, out);
}

void domain_request_fingerprint(const struct domain_env *env,
                                const uint8_t digest[CRYPTO_SHA256_SIZE],
                                uint8_t out[CRYPTO_SHA256_SIZE])
{
    struct crypto_hmac_sha256_state mac = env->request_mac;
    crypto_hmac_sha256_update(&mac, digest, CRYPTO_SHA256_SIZE);
    crypto_hmac_sha256_end(&mac, out);
}

/* --- keying the fingerprints stored before they were keyed ----------------- */

#define REKEY_ROWS_MAX 2048

/* The tables whose request_hash is a request's fingerprint, each with the
 * meta key of how far it is keyed (its seq). */
static const struct {
    const char *select;
    const char *update;
    const char *progress;
} rekey_tables[] = {
    {"SELECT seq, request_hash FROM idempotency_records WHERE seq > $1 ORDER BY seq LIMIT $2",
     "UPDATE idempotency_records SET request_hash = $2 WHERE seq = $1",
     "request_fingerprints_keyed_through.idempotency_records"},
    {"SELECT seq, request_hash FROM orders WHERE seq > $1 ORDER BY seq LIMIT $2",
     "UPDATE orders SET request_hash = $2 WHERE seq = $1",
     "request_fingerprints_keyed_through.orders"},
    {"SELECT seq, request_hash FROM refunds WHERE seq > $1 ORDER BY seq LIMIT $2",
     "UPDATE refunds SET request_hash = $2 WHERE seq = $1",
     "request_fingerprints_keyed_through.refunds"},
};

static const char rekey_done_key[] = "request_fingerprints_keyed";

struct rekey_cmd {
    struct ledger_cmd cmd;
    const struct domain_env *env;
    int64_t rekeyed; /* rows keyed by this command */
    bool done;
    struct {
        int64_t seq;
        uint8_t hash[CRYPTO_SHA256_SIZE];
    } rows[REKEY_ROWS_MAX];
};

enum qb_error domain_meta_get(struct store *store, const char *key, int64_t *value, bool *found)
{
    *value = 0;
    *found = false;
    struct store_stmt *st = NULL;
    enum qb_error err = store_prepare(store, "SELECT value FROM meta WHERE key = $1", &st);
    if (err == QB_OK)
        err = store_bind_text(st, 1, key, strlen(key));
    int step = err == QB_OK ? store_step(st) : -(int)err;
    if (step == STORE_STEP_ROW) {
        *value = store_column_int64(st, 0);
        *found = true;
    } else if (step != STORE_STEP_DONE) {
        err = QB_E_STORAGE;
    }
    store_finalize(st);
    return err;
}

enum qb_error domain_meta_put(struct store *store, const char *key, int64_t value)
{
    const struct store_param params[] = {STORE_TEXT(key), STORE_INT(value)};
    return store_run(store,
                     "INSERT INTO meta (key, value) VALUES ($1, $2)"
                     " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                     params, QB_ARRAY_COUNT(params));
}

/* --- the secrets belong to the database ------------------------------------------ */

struct keys_check_cmd {
    struct ledger_cmd cmd; /* first */
    const struct domain_env *env;
    int64_t platform_key; /* 0: not checked */
    const char *mismatch; /* out: the secret that does not belong, or NULL */
};

static int64_t key_check_value(const uint8_t key[DOMAIN_KEY_SIZE])
{
    static const char text[] = "qianbao: the key of this database";
    uint8_t mac[CRYPTO_SHA256_SIZE];
    domain_keyed_hash(key, text, sizeof text - 1, mac);
    uint64_t value;
    memcpy(&value, mac, sizeof value);
    return (int64_t)(value >> 1);
}

/* domain_keys_check's rule for the platform key: QB_OK with *moves when
 * meta is to name signing now, QB_E_CONFLICT when it does not belong, or
 * QB_E_STORAGE. */
static enum qb_error platform_check(struct store *store, int64_t signing, bool *moves)
{
    int64_t named = 0, merchants = 0;
    bool found = false;
    if (domain_meta_get(store, "key_check_platform", &named, &found) != QB_OK)
        return QB_E_STORAGE;
    *moves = !found || named != signing;
    if (!*moves || !found)
        return QB_OK;
    if (store_int64(store, "SELECT count(*) FROM merchants", NULL, 0, &merchants) != QB_OK)
        return QB_E_STORAGE;
    if (merchants > 0)
        return QB_E_CONFLICT;
    log_event(LOG_WARN, "daemon.platform_key_replaced", "reason=no_merchant_yet");
    return QB_OK;
}

int64_t domain_platform_value(const char *public_key_pem, size_t size)
{
    uint8_t hash[CRYPTO_SHA256_SIZE];
    crypto_sha256(public_key_pem, size, hash);
    uint64_t value;
    memcpy(&value, hash, sizeof value);
    return (int64_t)(value >> 1);
}

/* The secrets a database keeps check values of, in meta. */
#define KEYS_CHECKED 2
struct key_checked {
    const char *meta_key;
    const char *secret;
    const uint8_t *key;
};

static void keys_checked(const struct domain_env *env, struct key_checked keys[KEYS_CHECKED])
{
    keys[0] = (struct key_checked){"key_check_pepper", "pepper", env->pepper_key};
    keys[1] = (struct key_checked){"key_check_card_key", "card-key", env->seal_key};
}

/* Compares env's secrets with the check values store keeps: *mismatch the
 * first that does not belong (NULL: none), found[i] whether the database
 * has key i's value yet. */
static enum qb_error keys_compare(const struct domain_env *env, struct store *store,
                                  bool found[KEYS_CHECKED], const char **mismatch)
{
    struct key_checked keys[KEYS_CHECKED];
    keys_checked(env, keys);
    *mismatch = NULL;
    for (size_t i = 0; i < KEYS_CHECKED; i++) {
        int64_t stored = 0;
        if (domain_meta_get(store, keys[i].meta_key, &stored, &found[i]) != QB_OK)
            return QB_E_STORAGE;
        if (found[i] && stored != key_check_value(keys[i].key) && *mismatch == NULL)
            *mismatch = keys[i].secret;
    }
    return QB_OK;
}

enum qb_error domain_keys_belong(const struct domain_env *env, struct store *reader,
                                 const char **which)
{
    QB_ASSERT(env != NULL && reader != NULL && which != NULL);
    bool found[KEYS_CHECKED];
    enum qb_error err = keys_compare(env, reader, found, which);
    return err == QB_OK && *which != NULL ? QB_E_CONFLICT : err;
}

static enum qb_error keys_check_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct keys_check_cmd *c = (struct keys_check_cmd *)cmd;
    struct key_checked keys[KEYS_CHECKED];
    keys_checked(c->env, keys);
    struct store *store = ledger_txn_store(txn);
    bool found[KEYS_CHECKED];
    if (keys_compare(c->env, store, found, &c->mismatch) != QB_OK)
        return QB_E_STORAGE;
    bool platform_moves = false;
    if (c->mismatch == NULL && c->platform_key != 0) {
        enum qb_error err = platform_check(store, c->platform_key, &platform_moves);
        if (err == QB_E_CONFLICT)
            c->mismatch = "platform-key";
        else if (err != QB_OK)
            return err;
    }
    /* A mismatch writes nothing: no check value is ever taken from a
     * secret that does not belong. */
    if (c->mismatch != NULL)
        return QB_OK;
    for (size_t i = 0; i < KEYS_CHECKED; i++)
        if (!found[i] &&
            domain_meta_put(store, keys[i].meta_key, key_check_value(keys[i].key)) != QB_OK)
            return QB_E_STORAGE;
    if (platform_moves && domain_meta_put(store, "key_check_platform", c->platform_key) != QB_OK)
        return QB_E_STORAGE;
    return QB_OK;
}

enum qb_error domain_keys_check(const struct domain_env *env, int64_t platform_key,
                                const char **which)
{
    QB_ASSERT(env != NULL && env->ledger != NULL && which != NULL);
    struct keys_check_cmd c;
    memset(&c, 0, sizeof c);
    c.env = env;
    c.platform_key = platform_key;
    ledger_cmd_init(&c.cmd, keys_check_run, NULL);
    enum qb_error err = ledger_execute(env->ledger, &c.cmd);
    if (err == QB_OK)
        err = c.cmd.result;
    ledger_cmd_release(&c.cmd);
    *which = c.mismatch;
    return err == QB_OK && c.mismatch != NULL ? QB_E_CONFLICT : err;
}

/* Up to REKEY_ROWS_MAX rows of table t after *through, keyed; *through
 * moves to the last; *more: whether rows may follow. */
static enum qb_error rekey_chunk(struct rekey_cmd *c, struct store *store, size_t t,
                                 int64_t *through, bool *more)
{
    struct store_stmt *st = NULL;
    size_t count = 0;
    enum qb_error err = store_prepare(store, rekey_tables[t].select, &st);
    if (err == QB_OK)
        err = store_bind_int64(st, 1, *through);
    if (err == QB_OK)
        err = store_bind_int64(st, 2, REKEY_ROWS_MAX);
    int step;
    while (err == QB_OK && (step = store_step(st)) == STORE_STEP_ROW) {
        QB_ASSERT(count < REKEY_ROWS_MAX);
        if (store_column_size(st, 1) != CRYPTO_SHA256_SIZE) {
            err = QB_E_STORAGE;
            break;
        }
        c->rows[count].seq = store_column_int64(st, 0);
        memcpy(c->rows[count].hash, store_column_blob(st, 1), CRYPTO_SHA256_SIZE);
        count++;
    }
    if (err == QB_OK && step != STORE_STEP_DONE)
        err = QB_E_STORAGE;
    store_finalize(st);
    st = NULL;
    if (err == QB_OK && count > 0)
        err = store_prepare(store, rekey_tables[t].update, &st);
    for (size_t i = 0; err == QB_OK && i < count; i++) {
        uint8_t keyed[CRYPTO_SHA256_SIZE];
        domain_request_fingerprint(c->env, c->rows[i].hash, keyed);
        err = store_bind_int64(st, 1, c->rows[i].seq);
        if (err == QB_OK)
            err = store_bind_blob(st, 2, keyed, sizeof keyed);
        if (err == QB_OK)
            err = store_step_done(st);
    }
    store_finalize(st);
    if (err != QB_OK)
        return QB_E_STORAGE;
    if (count > 0)
        *through = c->rows[count - 1].seq;
    c->rekeyed += (int64_t)count;
    *more = count == REKEY_ROWS_MAX;
    return QB_OK;
}

static enum qb_error rekey_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct rekey_cmd *c = (struct rekey_cmd *)cmd;
    struct store *store = ledger_txn_store(txn);
    c->rekeyed = 0;
    c->done = false;
    int64_t value;
    bool found;
    enum qb_error err = domain_meta_get(store, rekey_done_key, &value, &found);
    if (err != QB_OK || found) {
        c->done = found;
        return err;
    }
    for (size_t t = 0; t < QB_ARRAY_COUNT(rekey_tables); t++) {
        int64_t through;
        err = domain_meta_get(store, rekey_tables[t].progress, &through, &found);
        if (err != QB_OK)
            return err;
        bool more = through >= 0;
        while (more && c->rekeyed < REKEY_ROWS_MAX) {
            err = rekey_chunk(c, store, t, &through, &more);
            if (err != QB_OK)
                return err;
        }
        /* -1: this table is done. */
        err = domain_meta_put(store, rekey_tables[t].progress, more ? through : -1);
        if (err != QB_OK || more)
            return err;
    }
    err = domain_meta_put(store, rekey_done_key, 1);
    for (size_t t = 0; err == QB_OK && t < QB_ARRAY_COUNT(rekey_tables); t++) {
        const struct store_param params[] = {STORE_TEXT(rekey_tables[t].progress)};
        err = store_run(store, "DELETE FROM meta WHERE key = $1", params, 1);
    }
    c->done = err == QB_OK;
    return err;
}

enum qb_error domain_request_fingerprints_rekey(const struct domain_env *env, int64_t *rekeyed)
{
    QB_ASSERT(env != NULL && env->ledger != NULL && rekeyed != NULL);
    *rekeyed = 0;
    struct rekey_cmd *c = calloc(1, sizeof *c);
    if (c == NULL)
        return QB_E_INTERNAL;
    c->env = env;
    enum qb_error err = QB_OK;
    while (err == QB_OK && !c->done) {
        ledger_cmd_init(&c->cmd, rekey_run, NULL);
        err = ledger_execute(env->ledger, &c->cmd);
        if (err == QB_OK)
            err = c->cmd.result;
        ledger_cmd_release(&c->cmd);
        if (err == QB_OK)
            *rekeyed += c->rekeyed;
        if (err == QB_OK && !c->done)
            QB_CRASH_POINT("fingerprints.between_batches");
    }
    crypto_wipe(c, sizeof *c);
    free(c);
    return err;
}

int64_t domain_day_start_ms(int64_t at_ms)
{
    const int64_t day_ms = 24LL * 60 * 60 * 1000;
    const int64_t offset_ms = 8LL * 60 * 60 * 1000;
    int64_t local = at_ms + offset_ms;
    int64_t day = local / day_ms - (local % day_ms < 0 ? 1 : 0);
    return day * day_ms - offset_ms;
}

/* --- stored answers of idempotent commands --------------------------------- */

/* json_dump_callback's sink: the command's response buffer. */
static int response_append(const char *data, size_t size, void *arg)
{
    return buf_append(arg, data, size) == QB_OK ? 0 : -1;
}

/* An answer as domain_response_set keeps it, into out (reset first). */
static enum qb_error S_answer_write(struct buf *out, int status, const json_t *body)
{
    QB_ASSERT(status >= 100 && status <= 599);
    buf_reset(out);
    char head[8];
    int head_size = snprintf(head, sizeof head, "%03d\n", status);
    enum qb_error err = buf_append(out, head, (size_t)head_size);
    /* Written straight into the buffer: no string of its own to copy. */
    if (err == QB_OK &&
        json_dump_callback(body, response_append, out, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0)
        err = QB_E_INTERNAL;
    if (err != QB_OK) {
        buf_reset(out);
        return QB_E_INTERNAL;
    }
    return QB_OK;
}

enum qb_error domain_response_set(struct ledger_cmd *cmd, int status, const json_t *body)
{
    return S_answer_write(&cmd->response, status, body);
}

void domain_response_open(struct ledger_cmd *cmd, int status, struct json_out *out)
{
    QB_ASSERT(status >= 100 && status <= 599);
    buf_reset(&cmd->response);
    char head[8];
    int head_size = snprintf(head, sizeof head, "%03d\n", status);
    bool head_written = buf_append(&cmd->response, head, (size_t)head_size) == QB_OK;
    json_out_begin(out, &cmd->response); /* appends the body's "{" */
    if (!head_written)
        out->failed = true;
}

enum qb_error domain_response_close(struct ledger_cmd *cmd, struct json_out *out)
{
    json_out_end(out);
    if (json_out_done(out) != QB_OK) {
        buf_reset(&cmd->response);
        return QB_E_INTERNAL;
    }
    return QB_OK;
}

/* The refusal err as an answer, into out. */
static enum qb_error S_error_write(struct buf *out, enum qb_error err, const char *message,
                                   const json_t *extra)
{
    QB_ASSERT(err != QB_OK);
    json_t *body = json_pack("{s:s, s:s}", "code", error_api_code(err), "message",
                             message != NULL ? message : error_message(err));
    if (body == NULL)
        return QB_E_INTERNAL;
    if (extra != NULL && json_object_update(body, (json_t *)extra) != 0) {
        json_decref(body);
        return QB_E_INTERNAL;
    }
    enum qb_error rc = S_answer_write(out, error_http_status(err), body);
    json_decref(body);
    return rc;
}

enum qb_error domain_response_error(struct ledger_cmd *cmd, enum qb_error err, const char *message,
                                    const json_t *extra)
{
    return S_error_write(&cmd->response, err, message, extra);
}

enum qb_error domain_txn_answer_set_error(struct ledger_txn *txn, const char *principal,
                                          const char *key, enum qb_error err, const char *message,
                                          bool *found)
{
    struct buf answer;
    buf_init(&answer, LEDGER_RESPONSE_SIZE_MAX);
    enum qb_error rc = S_error_write(&answer, err, message, NULL);
    if (rc == QB_OK)
        rc = ledger_txn_idem_answer_set(txn, principal, key, answer.data, answer.size, found);
    buf_release(&answer);
    return rc;
}

bool domain_response_get(const struct ledger_cmd *cmd, int *status, const char **body,
                         size_t *body_size)
{
    const char *data = (const char *)cmd->response.data;
    size_t size = cmd->response.size;
    if (data == NULL || size < 4 || data[3] != '\n')
        return false;
    int value = 0;
    for (int i = 0; i < 3; i++) {
        if (data[i] < '0' || data[i] > '9')
            return false;
        value = value * 10 + (data[i] - '0');
    }
    if (value < 100 || value > 599)
        return false;
    *status = value;
    *body = data + 4;
    *body_size = size - 4;
    return true;
}

void domain_time_out(struct json_out *out, const char *key, int64_t at_ms)
{
    char text[40];
    if (at_ms != 0)
        clock_format_rfc3339(at_ms, 8 * 60, text, (int)sizeof text);
    json_out_string(out, key, at_ms != 0 ? text : NULL);
}

json_t *domain_time_json(int64_t at_ms)
{
    if (at_ms == 0)
        return json_null();
    char text[40];
    clock_format_rfc3339(at_ms, 8 * 60, text, (int)sizeof text);
    return json_string(text);
}

const char *domain_close_blocker_name(uint32_t blocker)
{
    static const char *const names[DOMAIN_CLOSE_BLOCKER_COUNT] = {
        "balance",  "kyc_lifetime", "pending",          "red_packet",
        "merchant", "frozen",       "payment_password",
    };
    for (size_t i = 0; i < DOMAIN_CLOSE_BLOCKER_COUNT; i++)
        if (blocker == (uint32_t)1 << i)
            return names[i];
    return NULL;
}

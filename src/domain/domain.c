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

#include "domain/domain.h"

void domain_settings_default(struct domain_settings *settings)
{
    settings->session_idle_ms = 30 * 60 * 1000;
    settings->session_absolute_ms = 7LL * 24 * 60 * 60 * 1000;
    settings->session_touch_ms = 60 * 1000;
    settings->sms_code_ttl_ms = 300 * 1000;
    settings->sms_cooldown_ms = 60 * 1000;
    settings->sms_daily_max = 10;
    settings->sms_failures_max = 5;
    settings->payment_password_failures_max = 5;
    settings->payment_password_lock_ms = 3LL * 60 * 60 * 1000;
    settings->login_failures_max = 5;
    settings->login_lock_ms = 15LL * 60 * 1000;
    settings->kyc_wallets_per_person = 3;
    settings->argon2_ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
    settings->argon2_memory_size = crypto_pwhash_MEMLIMIT_INTERACTIVE;
    settings->withdrawal_fee_ppm = 1000;
    settings->withdrawal_fee_min_minor = 10;
    settings->withdrawal_check_ms = 2000;
    settings->limit_per_payment_minor = 2000000;
    settings->limit_daily_minor = 5000000;
    settings->limit_kyc1_lifetime_minor = 100000;
    settings->limit_kyc2_yearly_minor = 10000000;
    settings->limit_kyc3_yearly_minor = 20000000;
    settings->password_free_max_minor = 20000;
    settings->red_packet_total_max_minor = 20000;
    settings->red_packet_expiry_ms = 24LL * 60 * 60 * 1000;
    settings->notify_private_allowed = false;
    settings->notify_ladder_divisor = 1;
    settings->paycode_free_max_minor = 20000;
    settings->paycode_free_daily_max = 5;
    settings->paycode_confirm_ms = 30 * 1000;
    settings->paycode_wrong_max = 5;
    settings->paycode_lock_ms = 15LL * 60 * 1000;
    settings->paycode_devices_max = 5;
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
    derive(env->seal_key, data_key, 1, "qbsealdt");
    derive(env->id_number_key, data_key, 2, "qbidnumh");
    derive(env->cursor_key, data_key, 3, "qbcursor");
    derive(env->card_hash_key, data_key, 4, "qbcardhs");
    derive(env->openid_key, data_key, 5, "qbopenid");
    derive(env->qr_key, data_key, 6, "qbqrsign");
}

void domain_env_release(struct domain_env *env)
{
    crypto_wipe(env->pepper_key, sizeof env->pepper_key);
    crypto_wipe(env->payment_password_key, sizeof env->payment_password_key);
    crypto_wipe(env->sms_code_key, sizeof env->sms_code_key);
    crypto_wipe(env->seal_key, sizeof env->seal_key);
    crypto_wipe(env->id_number_key, sizeof env->id_number_key);
    crypto_wipe(env->cursor_key, sizeof env->cursor_key);
    crypto_wipe(env->card_hash_key, sizeof env->card_hash_key);
    crypto_wipe(env->openid_key, sizeof env->openid_key);
    crypto_wipe(env->qr_key, sizeof env->qr_key);
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

enum qb_error domain_response_set(struct ledger_cmd *cmd, int status, const json_t *body)
{
    QB_ASSERT(status >= 100 && status <= 599);
    buf_reset(&cmd->response);
    char head[8];
    int head_size = snprintf(head, sizeof head, "%03d\n", status);
    enum qb_error err = buf_append(&cmd->response, head, (size_t)head_size);
    /* Written straight into the buffer: no string of its own to copy. */
    if (err == QB_OK && json_dump_callback(body, response_append, &cmd->response,
                                           JSON_COMPACT | JSON_PRESERVE_ORDER) != 0)
        err = QB_E_INTERNAL;
    if (err != QB_OK) {
        buf_reset(&cmd->response);
        return QB_E_INTERNAL;
    }
    return QB_OK;
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

enum qb_error domain_response_error(struct ledger_cmd *cmd, enum qb_error err, const char *message,
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
    enum qb_error rc = domain_response_set(cmd, error_http_status(err), body);
    json_decref(body);
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

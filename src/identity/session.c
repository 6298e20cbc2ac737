/*
 * session.c — who is calling: bearer tokens and the sessions behind them.
 *
 * A token is 32 random bytes shown once as 64 lower-case hex characters;
 * the sessions table keeps only SHA-256 of the bytes, so a copy of the
 * database opens no session. The token has 256 bits of entropy, so an
 * unkeyed hash is enough here (unlike six-digit secrets, which need a key).
 *
 * last_seen is written by a SESSION_TOUCH command at most every
 * settings.session_touch_ms, not on every request: reads stay reads, and the
 * writer sees one touch per minute per active session. So last_seen may lag
 * the last real use by up to one touch interval, and a session is refused
 * once idle for session_idle_ms + session_touch_ms since last_seen: never
 * less than the idle timeout after its last use, at most one touch interval
 * more. It is refused too once revoked or at expires_at. Every refusal is
 * the same QB_E_UNAUTHORIZED, so a caller learns nothing about which tokens
 * once existed.
 */
#include <string.h>

#include "identity/identity.h"

#define SESSION_COLUMNS                                                                            \
    "id, user_id, device_name, created_at_ms, last_seen_at_ms, expires_at_ms, revoked_at_ms, seq"

static bool text_copy(char *dst, size_t dst_size, const char *src)
{
    size_t size = strlen(src);
    if (size >= dst_size)
        return false;
    memcpy(dst, src, size + 1);
    return true;
}

static enum qb_error session_row(struct store_stmt *st, struct identity_session *out)
{
    memset(out, 0, sizeof *out);
    if (!text_copy(out->id, sizeof out->id, store_column_text(st, 0)) ||
        !text_copy(out->user_id, sizeof out->user_id, store_column_text(st, 1)) ||
        !text_copy(out->device_name, sizeof out->device_name, store_column_text(st, 2)))
        return QB_E_STORAGE;
    out->created_at_ms = store_column_int64(st, 3);
    out->last_seen_at_ms = store_column_int64(st, 4);
    out->expires_at_ms = store_column_int64(st, 5);
    out->revoked_at_ms = store_column_int64(st, 6);
    out->seq = store_column_int64(st, 7);
    return QB_OK;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The 32 bytes of a well-formed token; false for anything else. */
static bool token_decode(const char *token, uint8_t out[32])
{
    if (token == NULL || strnlen(token, IDENTITY_TOKEN_TEXT_SIZE) != IDENTITY_TOKEN_TEXT_SIZE - 1)
        return false;
    for (size_t i = 0; i < 32; i++) {
        int hi = hex_value(token[2 * i]), lo = hex_value(token[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

enum qb_error identity_session_authenticate(const struct domain_env *env, struct store *reader,
                                            const char *token, struct identity_session *out,
                                            bool *touch)
{
    QB_ASSERT(env != NULL && reader != NULL && out != NULL && touch != NULL);
    memset(out, 0, sizeof *out);
    *touch = false;
    uint8_t raw[32], hash[CRYPTO_SHA256_SIZE];
    if (!token_decode(token, raw))
        return QB_E_UNAUTHORIZED;
    crypto_sha256(raw, sizeof raw, hash);
    crypto_wipe(raw, sizeof raw);

    struct store_stmt *st = NULL;
    if (store_prepare(reader, "SELECT " SESSION_COLUMNS " FROM sessions WHERE token_hash = $1",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_blob(st, 1, hash, sizeof hash);
    if (err == QB_OK) {
        int rc = store_step(st);
        if (rc == STORE_STEP_ROW)
            err = session_row(st, out);
        else
            err = rc == STORE_STEP_DONE ? QB_E_UNAUTHORIZED : QB_E_STORAGE;
    }
    store_finalize(st);
    if (err != QB_OK) {
        memset(out, 0, sizeof *out);
        return err;
    }

    int64_t now_ms = clock_now_ms(env->clock);
    if (!identity_session_is_live(&env->settings, out, now_ms)) {
        memset(out, 0, sizeof *out);
        return QB_E_UNAUTHORIZED;
    }
    *touch = now_ms - out->last_seen_at_ms >= env->settings.session_touch_ms;
    return QB_OK;
}

bool identity_session_is_live(const struct domain_settings *settings,
                              const struct identity_session *s, int64_t now_ms)
{
    return s->revoked_at_ms == 0 && now_ms < s->expires_at_ms &&
           now_ms - s->last_seen_at_ms < settings->session_idle_ms + settings->session_touch_ms;
}

enum qb_error identity_sessions_list(struct store *reader, const char *user_id,
                                     int64_t before_seq, struct identity_session *items, size_t count_max,
                                     size_t *count)
{
    QB_ASSERT(reader != NULL && count != NULL && (items != NULL || count_max == 0));
    *count = 0;
    if (user_id == NULL || user_id[0] == '\0' || count_max == 0)
        return QB_OK;
    struct store_stmt *st = NULL;
    if (store_prepare(reader,
                      "SELECT " SESSION_COLUMNS " FROM sessions WHERE user_id = $1"
                      " AND seq < $3 ORDER BY seq DESC LIMIT $2",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, user_id, strlen(user_id));
    if (err == QB_OK)
        err = store_bind_int64(st, 2, (int64_t)count_max);
    if (err == QB_OK)
        err = store_bind_int64(st, 3, before_seq > 0 ? before_seq : INT64_MAX);
    while (err == QB_OK && *count < count_max) {
        int rc = store_step(st);
        if (rc == STORE_STEP_DONE)
            break;
        if (rc != STORE_STEP_ROW) {
            err = QB_E_STORAGE;
            break;
        }
        err = session_row(st, &items[*count]);
        if (err == QB_OK)
            (*count)++;
    }
    store_finalize(st);
    if (err != QB_OK)
        *count = 0;
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
}

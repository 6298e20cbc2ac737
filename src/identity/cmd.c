/*
 * cmd.c — the identity command: every write to users, sessions and
 * security_events, run on the ledger's writer thread.
 *
 * One struct identity_cmd, one run function switching on op. Each
 * operation reads what it needs through ledger_txn_store(txn) (so it sees
 * the rows of earlier commands in the same batch), decides, and writes; the
 * ledger wraps it in a savepoint, so a non-OK ledger result undoes all of
 * it. Refusals the user is told about are outcomes with a ledger result of
 * QB_OK (domain.h): some of them must keep a write — the count of a wrong
 * SMS code or payment password — and the others simply wrote nothing.
 *
 * Order matters where a refusal counts:
 *   REGISTER          the SMS code first (a wrong one is counted even for a
 *                     taken phone), then the phone, then the user and wallet.
 *   PAYMENT_PASSWORD_SET  a frozen wallet refused first (writes nothing);
 *                     the shape and birth-date checks next, then the
 *                     code: a weak choice must not burn a valid code the user
 *                     could retry with; a wrong code is still counted.
 *   UNFREEZE          the login lock first (a lock taken while the password
 *                     was checked wins, as at a login), then the state
 *                     (CONFLICT, FORBIDDEN write nothing), then the code.
 *   PHONE_CHANGE      the state and the phone first (write nothing), then
 *                     the payment password (a wrong one counted, the code
 *                     left live: the user retries with it), then the code
 *                     (a wrong one counted), then whether the phone is free.
 *   CLOSE             the state and what blocks it first (write nothing),
 *                     then the payment password and the code as PHONE_CHANGE.
 *   PAYMENT_PASSWORD_VERIFY  locked → refused before any evaluation; the
 *                     count and the lock are rows, so they survive restarts
 *                     and parallel guesses are evaluated one at a time.
 *
 * Nothing here is slow: the login password arrives already hashed (the
 * caller ran identity_password_hash), payment passwords are one HMAC.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "base/money.h"
#include "identity/identity.h"

#define EVENT_NEW_DEVICE "new_device"
#define EVENT_LOCKOUT "lockout"

/* --- statements ------------------------------------------------------------- */

enum qb_error identity_txn_security_event(struct ledger_txn *txn, const char *user_id,
                                          const char *kind, const char *detail)
{
    const struct store_param p[] = {STORE_TEXT(user_id), STORE_TEXT(kind), STORE_TEXT(detail),
                                    STORE_INT(ledger_txn_now_ms(txn))};
    enum qb_error err = store_run(ledger_txn_store(txn),
                                  "INSERT INTO security_events (user_id, kind, detail,"
                                  " created_at_ms) VALUES ($1, $2, $3, $4)",
                                  p, QB_ARRAY_COUNT(p));
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
}

static bool text_copy(char *dst, size_t dst_size, const char *src)
{
    size_t size = strlen(src);
    if (size >= dst_size)
        return false;
    memcpy(dst, src, size + 1);
    return true;
}

/* The user as this batch sees it: QB_OK, QB_E_NOT_FOUND or QB_E_STORAGE. */
static enum qb_error user_load(struct ledger_txn *txn, const char *user_id,
                               struct identity_user *out)
{
    enum qb_error err = identity_user_get(ledger_txn_store(txn), user_id, out);
    return err == QB_OK || err == QB_E_NOT_FOUND ? err : QB_E_STORAGE;
}

/* Changes c's user row (sql with p, $1 the user's id), records event with
 * detail on the user's security events and reloads c->user: the steps of
 * every change to a user's settings. QB_E_STORAGE when one fails. */
static enum qb_error user_change(struct ledger_txn *txn, struct identity_cmd *c, const char *sql,
                                 const struct store_param *p, size_t p_count, const char *event,
                                 const char *detail)
{
    identity_user_written(txn, c->env, c->user_id);
    enum qb_error err = store_run(ledger_txn_store(txn), sql, p, p_count);
    if (err == QB_OK)
        err = identity_txn_security_event(txn, c->user_id, event, detail);
    if (err == QB_OK)
        err = user_load(txn, c->user_id, &c->user);
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
}

/* Loads c's user for a change only its owner may make: c->outcome
 * NOT_FOUND, ACCOUNT_FROZEN (whoever holds a frozen account may not be
 * its owner), CONFLICT (closed), else QB_OK. The command's result: QB_OK, or QB_E_STORAGE. */
static enum qb_error user_load_unfrozen(struct ledger_txn *txn, struct identity_cmd *c)
{
    enum qb_error err = user_load(txn, c->user_id, &c->user);
    c->outcome = err != QB_OK                        ? err
                 : c->user.status == IDENTITY_FROZEN ? QB_E_ACCOUNT_FROZEN
                 : c->user.status == IDENTITY_CLOSED ? QB_E_CONFLICT
                                                     : QB_OK;
    return err == QB_OK || err == QB_E_NOT_FOUND ? QB_OK : err;
}

/* Consumes an SMS code. QB_OK when it was valid; QB_E_SMS_CODE_INVALID for
 * every refusal (its count kept when the command commits); QB_E_STORAGE or
 * QB_E_INTERNAL for failures that must roll back. */
static enum qb_error sms_consume(struct ledger_txn *txn, const struct domain_env *env,
                                 const char *phone, enum sms_purpose purpose, const char *target,
                                 const char *code)
{
    enum qb_error err = sms_txn_code_consume(txn, env, phone, purpose, target, code);
    if (err == QB_OK || err == QB_E_STORAGE || err == QB_E_INTERNAL)
        return err;
    return QB_E_SMS_CODE_INVALID;
}

/* Spends c->sms_code of purpose for phone: c->outcome QB_OK when it was
 * valid, SMS_CODE_INVALID for every refusal (its count kept when the
 * command commits), the answer QB_OK; QB_E_STORAGE or QB_E_INTERNAL for
 * failures that must roll back. */
static enum qb_error code_spend(struct ledger_txn *txn, struct identity_cmd *c, const char *phone,
                                enum sms_purpose purpose)
{
    char target[IDENTITY_PHONE_TARGET_SIZE_MAX] = "";
    if (purpose == SMS_PURPOSE_CHANGE_PHONE)
        identity_phone_change_target(c->user_id, target);
    enum qb_error err = sms_consume(txn, c->env, phone, purpose, target, c->sms_code);
    if (err != QB_OK && err != QB_E_SMS_CODE_INVALID)
        return err;
    c->outcome = err;
    return QB_OK;
}

/* Checks c->payment_password as a payment checks it (identity.h): its
 * refusal, counted, in c->outcome, the answer QB_OK; QB_E_STORAGE or
 * QB_E_INTERNAL for failures that must roll back. */
static enum qb_error password_check(struct ledger_txn *txn, struct identity_cmd *c)
{
    enum qb_error err = identity_txn_payment_password_verify(txn, c->env, c->user_id,
                                                             c->payment_password, &c->password_try);
    if (err == QB_E_STORAGE || err == QB_E_INTERNAL)
        return err;
    c->outcome = err;
    return QB_OK;
}

/* --- payment passwords ---------------------------------------------------------- */

/* HMAC(payment_password_key, user id || ':' || digits). The user id binds
 * the fingerprint to its user: equal passwords of two users look unrelated. */
static void payment_password_mac(const struct domain_env *env, const char *user_id,
                                 const char *payment_password, uint8_t out[CRYPTO_SHA256_SIZE])
{
    char text[ID_TEXT_SIZE_MAX + 1 + sizeof((struct identity_cmd *)0)->payment_password];
    int size = snprintf(text, sizeof text, "%s:%.7s", user_id, payment_password);
    QB_ASSERT(size > 0 && (size_t)size < sizeof text);
    domain_keyed_hash(env->payment_password_key, text, (size_t)size, out);
    crypto_wipe(text, sizeof text);
}

enum qb_error identity_txn_payment_password_verify(struct ledger_txn *txn,
                                                   const struct domain_env *env,
                                                   const char *user_id,
                                                   const char *payment_password,
                                                   struct identity_password_try *t)
{
    QB_ASSERT(txn != NULL && env != NULL && t != NULL);
    const int failures_max = (int)env->settings.payment_password_failures_max;
    QB_ASSERT(failures_max > 0);
    *t = (struct identity_password_try){0, 0};
    if (user_id == NULL || user_id[0] == '\0')
        return QB_E_NOT_FOUND;
    if (payment_password == NULL)
        payment_password = "";

    /* Step 1: the stored fingerprint, count and lock. */
    struct store *store = ledger_txn_store(txn);
    struct identity_user user;
    uint8_t stored[CRYPTO_SHA256_SIZE];
    enum qb_error err = identity_txn_user_read(txn, env, user_id, &user, stored);
    if (err != QB_OK)
        return err;
    if (!user.payment_password_set)
        return QB_E_PASSWORD_NOT_SET;
    int64_t failures = user.payment_password_failures;
    int64_t locked_until_ms = user.payment_password_locked_until_ms;

    /* Step 2: a live lock refuses without evaluating the guess. */
    int64_t now_ms = ledger_txn_now_ms(txn);
    if (locked_until_ms > now_ms) {
        t->locked_until_ms = locked_until_ms;
        return QB_E_PASSWORD_LOCKED;
    }
    if (locked_until_ms != 0)
        failures = 0; /* the lock has run out: a fresh set of tries */

    /* Step 3: evaluate, and count. */
    uint8_t mac[CRYPTO_SHA256_SIZE];
    payment_password_mac(env, user_id, payment_password, mac);
    bool right = crypto_equal(mac, stored, sizeof mac);
    crypto_wipe(mac, sizeof mac);
    if (right) {
        t->tries_left = failures_max;
        if (failures == 0 && locked_until_ms == 0)
            return QB_OK;
        const struct store_param p[] = {STORE_TEXT(user_id)};
        identity_user_written(txn, env, user_id);
        return store_run(store,
                        "UPDATE users SET payment_password_failures = 0,"
                        " payment_password_locked_until_ms = 0 WHERE id = $1",
                        p, QB_ARRAY_COUNT(p));
    }
    failures++;
    bool locks = failures >= failures_max;
    int64_t new_locked_until_ms = locks ? now_ms + env->settings.payment_password_lock_ms : 0;
    const struct store_param p[] = {STORE_TEXT(user_id), STORE_INT(failures), STORE_INT(new_locked_until_ms)};
    identity_user_written(txn, env, user_id);
    err = store_run(store,
                   "UPDATE users SET payment_password_failures = $2,"
                   " payment_password_locked_until_ms = $3 WHERE id = $1",
                   p, QB_ARRAY_COUNT(p));
    if (err == QB_OK && locks)
        err = identity_txn_security_event(txn, user_id, EVENT_LOCKOUT, "payment_password");
    if (err != QB_OK)
        return err;
    if (locks) {
        t->locked_until_ms = new_locked_until_ms;
        return QB_E_PASSWORD_LOCKED;
    }
    t->tries_left = (int)(failures_max - failures);
    QB_ASSERT(t->tries_left > 0 && t->tries_left < failures_max);
    return QB_E_PASSWORD_WRONG;
}

const char *identity_password_refusal_text(enum qb_error err, const struct identity_password_try *t,
                                           char *out, size_t out_size)
{
    QB_ASSERT(t != NULL && out != NULL && out_size > 0);
    if (err == QB_E_PASSWORD_WRONG) {
        snprintf(out, out_size, "the payment password is wrong; %d %s left", t->tries_left,
                 t->tries_left == 1 ? "try" : "tries");
        return out;
    }
    if (err != QB_E_PASSWORD_LOCKED)
        return NULL;
    char until[48];
    snprintf(out, out_size,
             "too many wrong payment passwords; it is locked%s, or until a new one is set with "
             "an SMS code",
             identity_lock_end_text(t->locked_until_ms, until, sizeof until));
    return out;
}

const char *identity_lock_end_text(int64_t locked_until_ms, char *out, size_t out_size)
{
    QB_ASSERT(out != NULL && out_size >= 48);
    /* A time, not a wait: an answer kept under an Idempotency-Key and
     * replayed later stays true. */
    char at[40];
    out[0] = '\0';
    if (locked_until_ms > 0 &&
        clock_format_rfc3339(locked_until_ms, 8 * 60, at, (int)sizeof at) >= 19) {
        at[10] = ' ';
        at[19] = '\0'; /* YYYY-MM-DD HH:MM:SS */
        snprintf(out, out_size, " until %s (UTC+8)", at);
    }
    return out;
}

enum qb_error identity_password_refusal_response(struct ledger_cmd *cmd, enum qb_error err,
                                                 const struct identity_password_try *t)
{
    char message[192];
    const char *text = identity_password_refusal_text(err, t, message, sizeof message);
    json_t *extra = NULL;
    if (err == QB_E_PASSWORD_LOCKED && t->locked_until_ms > 0) {
        char until[40];
        if (clock_format_rfc3339(t->locked_until_ms, 8 * 60, until, (int)sizeof until) <= 0)
            return QB_E_INTERNAL;
        extra = json_pack("{s:s}", "locked_until", until);
        if (extra == NULL)
            return QB_E_INTERNAL;
    }
    enum qb_error result = domain_response_error(cmd, err, text, extra);
    json_decref(extra);
    return result;
}

/* The id number of a KYC'd user, unsealed, for the birth-date check; ""
 * when there is none. */
static enum qb_error id_number_load(struct ledger_txn *txn, const struct domain_env *env,
                                    const char *user_id, char out[IDENTITY_ID_NUMBER_SIZE])
{
    out[0] = '\0';
    struct store_stmt *st = NULL;
    if (store_prepare(ledger_txn_store(txn), "SELECT id_number_sealed FROM users WHERE id = $1",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, user_id, strlen(user_id));
    if (err == QB_OK && store_step(st) == STORE_STEP_ROW) {
        if (!store_column_is_null(st, 0)) {
            const uint8_t *sealed = store_column_blob(st, 0);
            size_t size = store_column_size(st, 0);
            if (size != IDENTITY_ID_NUMBER_SIZE - 1 + DOMAIN_SEAL_OVERHEAD ||
                !domain_unseal(env, sealed, size, out))
                err = QB_E_INTERNAL; /* sealed under another key, or damaged */
            else
                out[IDENTITY_ID_NUMBER_SIZE - 1] = '\0';
        }
    } else {
        err = QB_E_STORAGE;
    }
    store_finalize(st);
    return err;
}

enum qb_error identity_txn_real_name(struct ledger_txn *txn, const struct domain_env *env,
                                    const char *user_id, char out[IDENTITY_REAL_NAME_SIZE_MAX])
{
    QB_ASSERT(txn != NULL);
    return identity_real_name_get(ledger_txn_store(txn), env, user_id, out);
}

enum qb_error identity_real_name_get(struct store *store, const struct domain_env *env,
                                     const char *user_id, char out[IDENTITY_REAL_NAME_SIZE_MAX])
{
    QB_ASSERT(store != NULL && env != NULL && user_id != NULL && out != NULL);
    out[0] = '\0';
    struct store_stmt *st = NULL;
    if (store_prepare(store, "SELECT real_name_sealed FROM users WHERE id = $1", &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, user_id, strlen(user_id));
    int rc = err == QB_OK ? store_step(st) : -QB_E_STORAGE;
    if (rc == STORE_STEP_ROW) {
        if (!store_column_is_null(st, 0)) {
            const uint8_t *sealed = store_column_blob(st, 0);
            size_t size = store_column_size(st, 0);
            if (size <= DOMAIN_SEAL_OVERHEAD ||
                size - DOMAIN_SEAL_OVERHEAD >= IDENTITY_REAL_NAME_SIZE_MAX ||
                !domain_unseal(env, sealed, size, out)) {
                out[0] = '\0';
                err = QB_E_INTERNAL; /* sealed under another key, or damaged */
            } else {
                out[size - DOMAIN_SEAL_OVERHEAD] = '\0';
            }
        }
    } else {
        err = rc == STORE_STEP_DONE ? QB_E_NOT_FOUND : QB_E_STORAGE;
    }
    store_finalize(st);
    return err;
}

/* Spends c->sms_code, of purpose, for c->phone, and checks that nobody has
 * the phone. c->outcome QB_OK when it is c's to take; SMS_CODE_INVALID or
 * PHONE_REGISTERED when not, and the command answers QB_OK then; any other
 * error is the ledger's. */
static enum qb_error phone_claim(struct ledger_txn *txn, struct identity_cmd *c,
                                 enum sms_purpose purpose)
{
    enum qb_error err = code_spend(txn, c, c->phone, purpose);
    if (err != QB_OK || c->outcome != QB_OK)
        return err;
    struct identity_user holder;
    err = identity_user_find_by_phone(ledger_txn_store(txn), c->phone, &holder);
    if (err == QB_OK) {
        c->outcome = QB_E_PHONE_REGISTERED;
        return QB_OK;
    }
    if (err != QB_E_NOT_FOUND)
        return QB_E_STORAGE;
    c->outcome = QB_OK;
    return QB_OK;
}

/* --- the operations ------------------------------------------------------------ */

static enum qb_error op_register(struct ledger_txn *txn, struct identity_cmd *c)
{
    const struct domain_env *env = c->env;
    if (!phone_is_valid(c->phone) || !identity_display_name_is_valid(c->display_name) ||
        strncmp(c->password_hash, "$argon2id$", 10) != 0) {
        c->outcome = QB_E_PARAM;
        return QB_OK;
    }
    enum qb_error err = phone_claim(txn, c, SMS_PURPOSE_REGISTER);
    if (err != QB_OK || c->outcome != QB_OK)
        return err;

    char id[ID_TEXT_SIZE_MAX], owner[LEDGER_OWNER_SIZE_MAX];
    id_new(env->rand, "u", id, sizeof id);
    int size = snprintf(owner, sizeof owner, "user:%s", id);
    QB_ASSERT(size > 0 && (size_t)size < sizeof owner);
    const struct ledger_account_spec spec = {owner, currency_find("CNY"), LEDGER_ACCOUNT_USER, 0,
                                             0};
    QB_ASSERT(spec.currency != NULL);
    int64_t account_id = 0;
    err = ledger_txn_account_create(txn, &spec, &account_id);
    if (err != QB_OK)
        return err == QB_E_CONFLICT ? QB_E_INTERNAL : err; /* a fresh id cannot collide */

    const struct store_param p[] = {STORE_TEXT(id),
                              STORE_TEXT(c->phone),
                              STORE_TEXT(c->display_name),
                              STORE_TEXT(c->password_hash),
                              STORE_INT(account_id),
                              STORE_INT(ledger_txn_now_ms(txn))};
    identity_user_written(txn, c->env, id);
    err = store_run(ledger_txn_store(txn),
                   "INSERT INTO users (id, phone, display_name, password_hash, account_id,"
                   " created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
                   p, QB_ARRAY_COUNT(p));
    if (err != QB_OK)
        return err;
    err = user_load(txn, id, &c->user);
    if (err != QB_OK)
        return QB_E_STORAGE;
    QB_ASSERT(c->user.account_id == account_id && c->user.kyc_level == 1);
    c->outcome = QB_OK;
    return QB_OK;
}

/* Reads one session by its public id. */
static enum qb_error session_load(struct ledger_txn *txn, const char *session_id,
                                  struct identity_session *out)
{
    memset(out, 0, sizeof *out);
    if (session_id[0] == '\0')
        return QB_E_NOT_FOUND;
    struct store_stmt *st = NULL;
    if (store_prepare(ledger_txn_store(txn),
                      "SELECT id, user_id, device_name, created_at_ms, last_seen_at_ms,"
                      " expires_at_ms, revoked_at_ms FROM sessions JOIN session_seen USING (seq)"
                      " WHERE id = $1",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, session_id, strlen(session_id));
    if (err == QB_OK) {
        int rc = store_step(st);
        if (rc == STORE_STEP_ROW) {
            if (!text_copy(out->id, sizeof out->id, store_column_text(st, 0)) ||
                !text_copy(out->user_id, sizeof out->user_id, store_column_text(st, 1)) ||
                !text_copy(out->device_name, sizeof out->device_name, store_column_text(st, 2)))
                err = QB_E_STORAGE;
            out->created_at_ms = store_column_int64(st, 3);
            out->last_seen_at_ms = store_column_int64(st, 4);
            out->expires_at_ms = store_column_int64(st, 5);
            out->revoked_at_ms = store_column_int64(st, 6);
        } else {
            err = rc == STORE_STEP_DONE ? QB_E_NOT_FOUND : QB_E_STORAGE;
        }
    }
    store_finalize(st);
    return err == QB_OK || err == QB_E_NOT_FOUND ? err : QB_E_STORAGE;
}

/* The device a login comes from: *device_seq the seq of the user's live
 * device whose key is key_hex (0: none: no key given, a key of nobody, of
 * another user, or of a device whose trust ended), and whether the user
 * ever had a session (*any). */
static enum qb_error device_find(struct store *store, const char *user_id, const char *key_hex,
                                 int64_t *device_seq, bool *any)
{
    *device_seq = 0;
    uint8_t hash[CRYPTO_SHA256_SIZE];
    struct store_stmt *st = NULL;
    enum qb_error err = QB_OK;
    if (key_hex[0] != '\0' && identity_secret_hash(key_hex, hash)) {
        const struct store_param p[] = {STORE_BLOB(hash, sizeof hash), STORE_TEXT(user_id)};
        err = store_prepare(store,
                            "SELECT seq FROM login_devices WHERE key_hash = $1 AND user_id = $2"
                            " AND revoked_at_ms = 0",
                            &st);
        if (err == QB_OK)
            err = store_bind_params(st, p, QB_ARRAY_COUNT(p));
        int rc = err == QB_OK ? store_step(st) : STORE_STEP_DONE;
        if (rc == STORE_STEP_ROW)
            *device_seq = store_column_int64(st, 0);
        else if (rc != STORE_STEP_DONE)
            err = QB_E_STORAGE;
        store_finalize(st);
        st = NULL;
    }
    if (err == QB_OK)
        err = store_prepare(store, "SELECT EXISTS (SELECT 1 FROM session_users WHERE user_id = $1)",
                            &st);
    if (err == QB_OK)
        err = store_bind_text(st, 1, user_id, strlen(user_id));
    if (err == QB_OK && store_step(st) != STORE_STEP_ROW)
        err = QB_E_STORAGE;
    if (err == QB_OK)
        *any = store_column_int64(st, 0) != 0;
    store_finalize(st);
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
}

/* Deletes up to eight of the oldest sessions once IDENTITY_SESSION_KEPT_MS
 * past their absolute expiry (revoked or idle ones end sooner): a login
 * row each, kept for ever, would grow the table and every start's reading
 * of it without end. Sessions are made in seq order with the same
 * lifetime, so the oldest are the first to go; session_users remembers
 * who had one. A device whose last session goes stops being trusted
 * first: its owner ends a device's trust through one of its sessions
 * (DELETE /v1/me/sessions/{id}), so one with none left, unused for that
 * long, must prove the phone again, as a new device does. */
static enum qb_error sessions_prune(struct store *store, int64_t now_ms)
{
#define S_PRUNED                                                                                   \
    "SELECT seq FROM sessions WHERE seq IN (SELECT seq FROM sessions ORDER BY seq LIMIT 8)"        \
    " AND expires_at_ms < $1"
    static const char *const steps[] = {
        "UPDATE login_devices SET revoked_at_ms = $2 WHERE revoked_at_ms = 0 AND seq IN"
        " (SELECT s.device_seq FROM sessions s WHERE s.seq IN (" S_PRUNED ") AND s.device_seq <> 0"
        " AND NOT EXISTS (SELECT 1 FROM sessions n WHERE n.device_seq = s.device_seq"
        " AND n.device_seq <> 0 AND n.seq > s.seq))", /* <> 0: sessions_device's rows */
        "DELETE FROM session_seen WHERE seq IN (" S_PRUNED ")",
        "DELETE FROM sessions WHERE seq IN (" S_PRUNED ")",
    };
#undef S_PRUNED
    const struct store_param p[] = {STORE_INT(now_ms - IDENTITY_SESSION_KEPT_MS),
                                    STORE_INT(now_ms)};
    enum qb_error err = QB_OK;
    for (size_t i = 0; err == QB_OK && i < QB_ARRAY_COUNT(steps); i++)
        err = store_run(store, steps[i], p, i == 0 ? 2 : 1);
    return err;
}

/* A new device of the user, trusted from now on: its key into key_hex
 * (shown once; only its SHA-256 is kept), its seq into *device_seq. */
static enum qb_error device_add(struct ledger_txn *txn, const struct identity_cmd *c,
                                char key_hex[IDENTITY_TOKEN_TEXT_SIZE], int64_t *device_seq)
{
    uint8_t raw[32], hash[CRYPTO_SHA256_SIZE];
    rand_fill(c->env->rand, raw, sizeof raw);
    crypto_hex(raw, sizeof raw, key_hex);
    crypto_sha256(raw, sizeof raw, hash);
    crypto_wipe(raw, sizeof raw);
    const struct store_param p[] = {STORE_TEXT(c->user_id), STORE_BLOB(hash, sizeof hash),
                                    STORE_TEXT(c->device_name), STORE_INT(ledger_txn_now_ms(txn))};
    struct store_stmt *st = NULL;
    enum qb_error err = store_prepare(ledger_txn_store(txn),
                                      "INSERT INTO login_devices (user_id, key_hash, name,"
                                      " created_at_ms) VALUES ($1, $2, $3, $4) RETURNING seq",
                                      &st);
    if (err == QB_OK)
        err = store_bind_params(st, p, QB_ARRAY_COUNT(p));
    if (err == QB_OK && store_step(st) != STORE_STEP_ROW)
        err = QB_E_STORAGE;
    if (err == QB_OK)
        *device_seq = store_column_int64(st, 0);
    store_finalize(st);
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
}

/* Opens a session after its proof: the login password (checked by the
 * caller on its thread; SESSION_CREATE) or an SMS code of purpose login
 * (SESSION_CREATE_BY_CODE). */
/* A count of wrong login passwords: a user's columns (the passwords from
 * anywhere but a device the user trusts), a login_devices row (from that
 * device), or a login_guesses row for a phone nobody registered. */
struct login_count {
    int64_t failures;
    int64_t locked_until_ms;
    int64_t failed_at_ms;
};

/* The longest a login lock lasts, however many came before it. */
#define LOGIN_LOCK_MS_MAX (24LL * 60 * 60 * 1000)

/* One more wrong password at now_ms: whether it takes the lock. Every
 * login_failures_max-th wrong password in a row takes one, and each lasts
 * twice the one before (login_lock_ms, then twice that, up to a day), so
 * that a guesser gets tens of tries a day rather than hundreds. A last
 * wrong password a window ago starts a fresh count; so does a login that
 * proved the phone (the callers zero the count). Registered or not, a
 * phone counts the same. */
static bool login_count_add(const struct domain_settings *settings, struct login_count *n,
                            int64_t now_ms)
{
    if (n->failed_at_ms < now_ms - settings->login_failures_window_ms)
        n->failures = 0;
    n->failures++;
    n->failed_at_ms = now_ms;
    bool locks = n->failures % settings->login_failures_max == 0;
    int64_t lock_ms = settings->login_lock_ms;
    for (int64_t i = n->failures / settings->login_failures_max;
         i > 1 && lock_ms < LOGIN_LOCK_MS_MAX; i--)
        lock_ms *= 2;
    n->locked_until_ms =
        locks ? now_ms + (lock_ms < LOGIN_LOCK_MS_MAX ? lock_ms : LOGIN_LOCK_MS_MAX) : 0;
    return locks;
}

/* The key of a login_guesses row: HMAC of the phone under a pepper subkey. */
static void login_guess_key(const struct domain_env *env, const char *phone,
                            uint8_t out[CRYPTO_SHA256_SIZE])
{
    domain_keyed_hash(env->login_guess_key, phone, strlen(phone), out);
}

/* Where a count lives: a user's columns (keyed by the user id), or a
 * login_guesses row (keyed by login_guess_key). */
static const struct {
    const char *select;
    const char *write; /* $1 the key, $2 failures, $3 locked_until_ms, $4 failed_at_ms */
} login_counts[] = {
    {"SELECT login_failures, login_locked_until_ms, login_failed_at_ms FROM users WHERE id = $1",
     "UPDATE users SET login_failures = $2, login_locked_until_ms = $3, login_failed_at_ms = $4"
     " WHERE id = $1"},
    {"SELECT failures, locked_until_ms, failed_at_ms FROM login_guesses WHERE phone_key = $1",
     "INSERT INTO login_guesses (phone_key, failures, locked_until_ms, failed_at_ms)"
     " VALUES ($1, $2, $3, $4) ON CONFLICT (phone_key) DO UPDATE SET"
     " failures = excluded.failures, locked_until_ms = excluded.locked_until_ms,"
     " failed_at_ms = excluded.failed_at_ms"},
    {"SELECT login_failures, login_locked_until_ms, login_failed_at_ms FROM login_devices"
     " WHERE seq = $1 AND revoked_at_ms = 0",
     "UPDATE login_devices SET login_failures = $2, login_locked_until_ms = $3,"
     " login_failed_at_ms = $4 WHERE seq = $1"},
};
enum { LOGIN_COUNT_USER, LOGIN_COUNT_PHONE, LOGIN_COUNT_DEVICE };

/* The count of key from login_counts[which]; *found false (and n zero)
 * when it has none. */
static enum qb_error login_count_load(struct store *store, size_t which,
                                      const struct store_param *key, struct login_count *n,
                                      bool *found)
{
    memset(n, 0, sizeof *n);
    *found = false;
    struct store_stmt *st = NULL;
    if (store_prepare(store, login_counts[which].select, &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_params(st, key, 1);
    int rc = err == QB_OK ? store_step(st) : -(int)err;
    if (rc == STORE_STEP_ROW) {
        n->failures = store_column_int64(st, 0);
        n->locked_until_ms = store_column_int64(st, 1);
        n->failed_at_ms = store_column_int64(st, 2);
        *found = true;
    } else if (rc != STORE_STEP_DONE) {
        err = QB_E_STORAGE;
    }
    store_finalize(st);
    return err;
}

/* For a command that follows a login password the caller checked (a login,
 * an unfreeze, a change with the current password): true, with c->outcome
 * PASSWORD_LOCKED and when the lock ends, when the lock that counts that
 * password's wrong tries (locked_until_ms) holds now. The caller looked at
 * it before the check, but a lock taken meanwhile wins: the guesses queued
 * for the password threads behind the one that took it were let in
 * unlocked, and none of them may be evaluated as right. */
static bool login_lock_holds(struct ledger_txn *txn, struct identity_cmd *c,
                             int64_t locked_until_ms)
{
    if (locked_until_ms <= ledger_txn_now_ms(txn))
        return false;
    c->outcome = QB_E_PASSWORD_LOCKED;
    c->password_try.locked_until_ms = locked_until_ms;
    return true;
}

/* For the same commands: *changed, with c->outcome UNAUTHORIZED, when the
 * password was checked against a hash (c->password_hash_checked) that is
 * no longer the user's, changed since by the owner. */
static enum qb_error password_changed_since_check(struct ledger_txn *txn, struct identity_cmd *c,
                                                  bool *changed)
{
    *changed = false;
    if (c->password_hash_checked[0] == '\0')
        return QB_OK;
    char hash[IDENTITY_PASSWORD_HASH_SIZE_MAX];
    enum qb_error err = identity_user_password_hash(ledger_txn_store(txn), c->user_id, hash);
    if (err == QB_OK && strcmp(hash, c->password_hash_checked) != 0) {
        c->outcome = QB_E_UNAUTHORIZED;
        *changed = true;
    }
    crypto_wipe(hash, sizeof hash);
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
}

static enum qb_error op_session_create(struct ledger_txn *txn, struct identity_cmd *c)
{
    const struct domain_env *env = c->env;
    const bool by_code = c->op == IDENTITY_OP_SESSION_CREATE_BY_CODE;
    if (c->device_name[0] != '\0' && !identity_display_name_is_valid(c->device_name)) {
        c->outcome = QB_E_PARAM;
        return QB_OK;
    }
    struct store *store = ledger_txn_store(txn);
    enum qb_error err;
    if (by_code) {
        /* Step 0: the code proves the phone. A code of purpose login is
         * sent to a registered phone only, so a phone nobody has is
         * refused like a wrong code. */
        err = sms_consume(txn, env, c->phone, SMS_PURPOSE_LOGIN, "", c->sms_code);
        if (err == QB_OK) {
            err = identity_user_find_by_phone(store, c->phone, &c->user);
            if (err == QB_E_NOT_FOUND)
                err = QB_E_SMS_CODE_INVALID;
            else if (err != QB_OK)
                err = QB_E_STORAGE;
        }
        if (err == QB_E_SMS_CODE_INVALID) {
            c->outcome = err; /* its count of wrong tries kept */
            return QB_OK;
        }
        if (err != QB_OK)
            return err;
        snprintf(c->user_id, sizeof c->user_id, "%s", c->user.id);
        /* A frozen wallet's phone may be the thief's: a code alone would
         * give them a session recent enough to end the owner's, and a new
         * device trusted with a lock of its own, five more guesses at the
         * password that lifts the freeze for every code. The password
         * logs in (a new device with its code as well). */
        if (c->user.status == IDENTITY_FROZEN) {
            c->outcome = QB_E_ACCOUNT_FROZEN; /* the code spent */
            return QB_OK;
        }
    } else {
        err = user_load(txn, c->user_id, &c->user);
        if (err != QB_OK) {
            c->outcome = err;
            return err == QB_E_NOT_FOUND ? QB_OK : err;
        }
        /* The caller found the user by phone before the password was
         * checked; a wallet closed meanwhile ended every session and freed
         * the phone, and opens none now: answered as a wrong password, as
         * for the phone nobody has any more. */
        if (c->user.status == IDENTITY_CLOSED) {
            c->outcome = QB_E_UNAUTHORIZED;
            return QB_OK;
        }
    }

    /* Step 1: does the device hold a live key of the user's? A password
     * alone does not open a session on a device new to an account that has
     * had one before: the phone must prove it too (its first device came
     * with the code that registered it). A device's name is the client's to
     * choose, so it proves nothing: only its key does. */
    int64_t device_seq = 0, device_locked_until_ms = 0;
    bool any = false;
    err = device_find(store, c->user_id, c->device_key, &device_seq, &any);
    if (err == QB_OK && device_seq != 0) {
        const struct store_param device = STORE_INT(device_seq);
        struct login_count n;
        bool found;
        err = login_count_load(store, LOGIN_COUNT_DEVICE, &device, &n, &found);
        device_locked_until_ms = n.locked_until_ms;
    }
    if (err != QB_OK)
        return err;
    const bool known = device_seq != 0;
    /* The password's lock: the device's own when the account trusts it,
     * else the account's. */
    if (!by_code &&
        login_lock_holds(txn, c, known ? device_locked_until_ms : c->user.login_locked_until_ms))
        return QB_OK;
    bool changed = false;
    if (!by_code && ((err = password_changed_since_check(txn, c, &changed)) != QB_OK || changed))
        return err;
    if (!by_code && c->sms_code[0] == '\0' && !known && any && env->settings.new_device_code) {
        /* The right password from a device the account does not know:
         * the owner should learn that someone has it. */
        c->outcome = QB_E_SMS_CODE_REQUIRED;
        return identity_txn_security_event(txn, c->user_id, "new_device_refused", c->device_name);
    }
    if (!by_code && c->sms_code[0] != '\0') {
        err = code_spend(txn, c, c->user.phone, SMS_PURPOSE_NEW_DEVICE);
        if (err != QB_OK || c->outcome != QB_OK)
            return err;
    }

    /* A session clears the count of wrong passwords before it: the
     * device's own, or, for a login that proved the phone (a code, or a
     * device new to the account), the account's too. A trusted device's
     * login leaves the account's alone, or its owner logging in would
     * hand whoever guesses from elsewhere a fresh set of tries; so does
     * any login to a frozen wallet, whose phone may be the thief's: each
     * login code would give them fresh guesses at the password that lifts
     * the freeze. */
    err = QB_OK;
    if ((by_code || !known) && c->user.status == IDENTITY_ACTIVE) {
        const struct store_param reset[] = {STORE_TEXT(c->user_id)};
        identity_user_written(txn, c->env, c->user_id);
        err = store_run(store,
                        "UPDATE users SET login_failures = 0, login_locked_until_ms = 0"
                        " WHERE id = $1 AND (login_failures != 0 OR login_locked_until_ms != 0)",
                        reset, QB_ARRAY_COUNT(reset));
    }
    if (err == QB_OK && known) {
        const struct store_param device[] = {STORE_INT(device_seq)};
        err = store_run(store,
                        "UPDATE login_devices SET login_failures = 0, login_locked_until_ms = 0"
                        " WHERE seq = $1 AND (login_failures != 0 OR login_locked_until_ms != 0)",
                        device, QB_ARRAY_COUNT(device));
    }
    if (err != QB_OK)
        return err;
    struct store_stmt *st = NULL;

    /* Step 2: the device trusted from now on (a new one gets its key),
     * and the token, shown once; only their hashes are kept. */
    if (!known) {
        err = device_add(txn, c, c->device_key, &device_seq);
        if (err != QB_OK)
            return err;
    }
    uint8_t raw[32], hash[CRYPTO_SHA256_SIZE];
    rand_fill(env->rand, raw, sizeof raw);
    crypto_hex(raw, sizeof raw, c->token);
    crypto_sha256(raw, sizeof raw, hash);
    crypto_wipe(raw, sizeof raw);

    int64_t now_ms = ledger_txn_now_ms(txn);
    struct identity_session *s = &c->session;
    memset(s, 0, sizeof *s);
    id_new(env->rand, "s", s->id, sizeof s->id);
    _Static_assert(sizeof s->user_id == sizeof c->user_id, "user id fits");
    _Static_assert(sizeof s->device_name == sizeof c->device_name, "device name fits");
    memcpy(s->user_id, c->user_id, sizeof s->user_id);
    memcpy(s->device_name, c->device_name, sizeof s->device_name);
    s->created_at_ms = now_ms;
    s->last_seen_at_ms = now_ms;
    s->expires_at_ms = now_ms + env->settings.session_absolute_ms;

    const struct store_param p[] = {STORE_TEXT(s->id),           STORE_BLOB(hash, sizeof hash),
                                    STORE_TEXT(s->user_id),      STORE_TEXT(s->device_name),
                                    STORE_INT(s->created_at_ms), STORE_INT(s->expires_at_ms),
                                    STORE_INT(device_seq)};
    st = NULL;
    err = store_prepare(store,
                        "INSERT INTO sessions (id, token_hash, user_id, device_name, created_at_ms,"
                        " expires_at_ms, device_seq) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                        " RETURNING seq",
                        &st);
    if (err == QB_OK)
        err = store_bind_params(st, p, QB_ARRAY_COUNT(p));
    if (err == QB_OK)
        err = store_step(st) == STORE_STEP_ROW ? QB_OK : QB_E_STORAGE;
    if (err == QB_OK)
        s->seq = store_column_int64(st, 0);
    store_finalize(st);
    if (err == QB_OK) {
        const struct store_param seen_at[] = {STORE_INT(s->seq), STORE_INT(s->last_seen_at_ms)};
        err = store_run(store, "INSERT INTO session_seen (seq, last_seen_at_ms) VALUES ($1, $2)",
                        seen_at, QB_ARRAY_COUNT(seen_at));
    }
    if (err == QB_OK) {
        const struct store_param user[] = {STORE_TEXT(s->user_id)};
        err = store_run(store,
                        "INSERT INTO session_users (user_id) VALUES ($1) ON CONFLICT DO NOTHING",
                        user, QB_ARRAY_COUNT(user));
    }
    if (err == QB_OK)
        err = sessions_prune(store, now_ms);
    if (err == QB_OK && !known)
        err = identity_txn_security_event(txn, c->user_id, EVENT_NEW_DEVICE, c->device_name);
    /* The way in of whoever holds the phone alone: it holds the phone
     * change a day (op_phone_change). */
    if (err == QB_OK && by_code)
        err = identity_txn_security_event(txn, c->user_id, "sms_login", c->device_name);
    if (err == QB_OK && !by_code && c->password_hash[0] != '\0') {
        /* The password hashed again at today's settings replaces the one it
         * was checked against: raising the cost reaches every user who logs
         * in, and their hashes then cost what the dummy does. */
        const struct store_param h[] = {STORE_TEXT(c->user_id), STORE_TEXT(c->password_hash)};
        identity_user_written(txn, c->env, c->user_id);
        err = store_run(store, "UPDATE users SET password_hash = $2 WHERE id = $1", h,
                        QB_ARRAY_COUNT(h));
    }
    if (err != QB_OK) {
        crypto_wipe(c->token, sizeof c->token);
        crypto_wipe(c->device_key, sizeof c->device_key);
        return err;
    }
    c->outcome = QB_OK;
    return QB_OK;
}

enum qb_error identity_login_guess_locked_until(struct store *reader, const struct domain_env *env,
                                                const char *phone, int64_t *locked_until_ms)
{
    uint8_t key[CRYPTO_SHA256_SIZE];
    login_guess_key(env, phone, key);
    const struct store_param param = STORE_BLOB(key, sizeof key);
    struct login_count n;
    bool found;
    enum qb_error err = login_count_load(reader, LOGIN_COUNT_PHONE, &param, &n, &found);
    *locked_until_ms = n.locked_until_ms;
    return err;
}

enum qb_error identity_login_device_lock(struct store *reader, const char *user_id,
                                         const char *key_hex, int64_t *device_seq,
                                         int64_t *locked_until_ms)
{
    *device_seq = *locked_until_ms = 0;
    bool any;
    enum qb_error err = device_find(reader, user_id, key_hex, device_seq, &any);
    if (err != QB_OK || *device_seq == 0)
        return err;
    const struct store_param param = STORE_INT(*device_seq);
    struct login_count n;
    bool found;
    err = login_count_load(reader, LOGIN_COUNT_DEVICE, &param, &n, &found);
    *locked_until_ms = n.locked_until_ms;
    return err;
}

enum qb_error identity_session_password_lock(struct store *reader, const char *user_id,
                                             const char *session_id, int64_t *device_seq,
                                             int64_t *locked_until_ms)
{
    *device_seq = *locked_until_ms = 0;
    const struct store_param p[] = {STORE_TEXT(session_id), STORE_TEXT(user_id)};
    struct store_stmt *st = NULL;
    if (store_prepare(reader,
                      "SELECT d.seq, d.login_locked_until_ms FROM sessions s"
                      " JOIN login_devices d ON d.seq = s.device_seq"
                      " WHERE s.id = $1 AND s.user_id = $2 AND d.user_id = $2"
                      " AND d.revoked_at_ms = 0"
                      " UNION ALL SELECT 0, login_locked_until_ms FROM users WHERE id = $2",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_params(st, p, QB_ARRAY_COUNT(p));
    int rc = err == QB_OK ? store_step(st) : -(int)err;
    if (rc == STORE_STEP_ROW) {
        *device_seq = store_column_int64(st, 0);
        *locked_until_ms = store_column_int64(st, 1);
    } else {
        err = rc == STORE_STEP_DONE ? QB_E_NOT_FOUND : QB_E_STORAGE;
    }
    store_finalize(st);
    return err;
}

/* Counts a wrong login password, of a user or (user_id "") of a phone
 * nobody registered; the one that reaches login_failures_max locks
 * logging in. A phone's rows a window old are deleted a few at a time. */
static enum qb_error op_login_failed(struct ledger_txn *txn, struct identity_cmd *c)
{
    const struct domain_env *env = c->env;
    struct store *store = ledger_txn_store(txn);
    bool user = c->user_id[0] != '\0';
    uint8_t phone_key[CRYPTO_SHA256_SIZE];
    if (!user)
        login_guess_key(env, c->phone, phone_key);
    size_t which = user ? LOGIN_COUNT_USER : LOGIN_COUNT_PHONE;
    struct store_param key =
        user ? STORE_TEXT(c->user_id) : STORE_BLOB(phone_key, sizeof phone_key);
    struct login_count n;
    bool found = false;
    enum qb_error err = QB_OK;
    if (user && c->device_seq != 0) {
        /* From a device the account trusts (the caller found it by its
         * key): its own count, unless it was revoked since. */
        const struct store_param device = STORE_INT(c->device_seq);
        err = login_count_load(store, LOGIN_COUNT_DEVICE, &device, &n, &found);
        if (found)
            which = LOGIN_COUNT_DEVICE, key = device;
    }
    if (err == QB_OK && !found)
        err = login_count_load(store, which, &key, &n, &found);
    if (err != QB_OK)
        return err;
    if (user && !found) {
        c->outcome = QB_E_UNAUTHORIZED;
        return QB_OK;
    }
    int64_t now_ms = ledger_txn_now_ms(txn);
    if (n.locked_until_ms > now_ms) {
        c->outcome = QB_E_PASSWORD_LOCKED;
        c->password_try.locked_until_ms = n.locked_until_ms;
        return QB_OK;
    }
    bool locks = login_count_add(&env->settings, &n, now_ms);
    c->password_try.locked_until_ms = n.locked_until_ms;
    const struct store_param p[] = {key, STORE_INT(n.failures), STORE_INT(n.locked_until_ms),
                                    STORE_INT(n.failed_at_ms)};
    if (user)
        identity_user_written(txn, env, c->user_id);
    err = store_run(store, login_counts[which].write, p, QB_ARRAY_COUNT(p));
    const struct store_param old[] = {STORE_INT(now_ms - env->settings.login_failures_window_ms)};
    if (err == QB_OK && !user)
        err = store_run(store,
                        "DELETE FROM login_guesses WHERE phone_key IN (SELECT phone_key FROM"
                        " login_guesses WHERE failed_at_ms < $1 ORDER BY failed_at_ms LIMIT 8)",
                        old, QB_ARRAY_COUNT(old));
    if (err == QB_OK && user && locks)
        err = identity_txn_security_event(txn, c->user_id, EVENT_LOCKOUT,
                                          which == LOGIN_COUNT_DEVICE ? "login_password device"
                                                                      : "login_password");
    if (err == QB_OK && which == LOGIN_COUNT_DEVICE && c->account_too) {
        const struct store_param account = STORE_TEXT(c->user_id);
        struct login_count a;
        bool account_found = false;
        err = login_count_load(store, LOGIN_COUNT_USER, &account, &a, &account_found);
        if (err == QB_OK && account_found && a.locked_until_ms <= now_ms) {
            bool account_locks = login_count_add(&env->settings, &a, now_ms);
            const struct store_param q[] = {account, STORE_INT(a.failures),
                                            STORE_INT(a.locked_until_ms),
                                            STORE_INT(a.failed_at_ms)};
            err = store_run(store, login_counts[LOGIN_COUNT_USER].write, q, QB_ARRAY_COUNT(q));
            if (err == QB_OK && account_locks)
                err = identity_txn_security_event(txn, c->user_id, EVENT_LOCKOUT, "login_password");
        }
    }
    if (err != QB_OK)
        return err;
    c->outcome = locks ? QB_E_PASSWORD_LOCKED : QB_E_UNAUTHORIZED;
    c->lock_taken = locks;
    return QB_OK;
}

static enum qb_error op_session_revoke(struct ledger_txn *txn, struct identity_cmd *c)
{
    enum qb_error err = session_load(txn, c->session_id, &c->session);
    if (err == QB_E_NOT_FOUND || (err == QB_OK && strcmp(c->session.user_id, c->user_id) != 0)) {
        memset(&c->session, 0, sizeof c->session);
        c->outcome = QB_E_NOT_FOUND;
        return QB_OK;
    }
    if (err != QB_OK)
        return err;
    if (c->session.revoked_at_ms == 0) {
        c->session.revoked_at_ms = ledger_txn_now_ms(txn);
        const struct store_param p[] = {STORE_TEXT(c->session.id), STORE_INT(c->session.revoked_at_ms)};
        err = identity_txn_sessions_revoke(
            txn, c->env,
            "UPDATE sessions SET revoked_at_ms = $2 WHERE id = $1 RETURNING token_hash, user_id", p,
            QB_ARRAY_COUNT(p));
        if (err != QB_OK)
            return err;
    }
    /* Ending another device's session ends its trust too: its next login
     * with the password needs an SMS code. Logging out keeps it. The
     * device is logged out whole: a device that logged in twice holds a
     * session for each login, and a lost phone must keep none of them.
     * (Sessions from before device keys have device 0, no device.) */
    if (c->forget_device) {
        const struct store_param p[] = {STORE_TEXT(c->session.id),
                                        STORE_INT(ledger_txn_now_ms(txn)), STORE_TEXT(c->user_id)};
        err = identity_txn_sessions_revoke(
            txn, c->env,
            "UPDATE sessions SET revoked_at_ms = $2 WHERE revoked_at_ms = 0 AND user_id = $3"
            " AND device_seq != 0 AND device_seq = (SELECT device_seq FROM sessions WHERE id = $1)"
            " RETURNING token_hash, user_id",
            p, QB_ARRAY_COUNT(p));
        if (err == QB_OK)
            err = store_run(ledger_txn_store(txn),
                            "UPDATE login_devices SET revoked_at_ms = $2 WHERE revoked_at_ms = 0"
                            " AND seq = (SELECT device_seq FROM sessions WHERE id = $1)",
                            p, 2);
        if (err != QB_OK)
            return err;
    }
    c->outcome = QB_OK;
    return QB_OK;
}

/* A touch never revives a session that ran out between the caller's
 * authentication and this command: that one answers UNAUTHORIZED. */
static enum qb_error op_session_touch(struct ledger_txn *txn, struct identity_cmd *c)
{
    enum qb_error err = session_load(txn, c->session_id, &c->session);
    if (err == QB_E_NOT_FOUND) {
        c->outcome = err;
        return QB_OK;
    }
    if (err != QB_OK)
        return err;
    int64_t now_ms = ledger_txn_now_ms(txn);
    struct identity_session *s = &c->session;
    if (!identity_session_is_live(&c->env->settings, s, now_ms)) {
        c->outcome = QB_E_UNAUTHORIZED;
        return QB_OK;
    }
    if (now_ms > s->last_seen_at_ms) {
        s->last_seen_at_ms = now_ms;
        const struct store_param p[] = {STORE_TEXT(s->id), STORE_INT(now_ms)};
        err = store_run(ledger_txn_store(txn),
                       "UPDATE session_seen SET last_seen_at_ms = $2"
                       " WHERE seq = (SELECT seq FROM sessions WHERE id = $1)",
                       p, QB_ARRAY_COUNT(p));
        if (err != QB_OK)
            return err;
    }
    c->outcome = QB_OK;
    return QB_OK;
}

static enum qb_error touch_many_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct identity_touch_cmd *c = (struct identity_touch_cmd *)cmd;
    QB_ASSERT(c->env != NULL && c->count <= IDENTITY_TOUCH_BATCH_MAX);
    const struct domain_settings *set = &c->env->settings;
    struct store_stmt *st = NULL;
    if (store_prepare(ledger_txn_store(txn),
                      "UPDATE session_seen SET last_seen_at_ms = $2"
                      " WHERE seq = $1 AND last_seen_at_ms < $2 AND $2 - last_seen_at_ms < $3",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = QB_OK;
    for (size_t i = 0; i < c->count && err == QB_OK; i++) {
        const struct identity_touch *t = &c->items[i];
        const struct store_param p[] = {
            STORE_INT(t->session_seq), STORE_INT(t->seen_at_ms),
            STORE_INT(set->session_idle_ms + set->session_touch_ms)};
        err = store_bind_params(st, p, QB_ARRAY_COUNT(p));
        if (err == QB_OK)
            err = store_step_done(st);
    }
    store_finalize(st);
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
}

void identity_touch_cmd_init(struct identity_touch_cmd *c, const struct domain_env *env)
{
    memset(c, 0, offsetof(struct identity_touch_cmd, items));
    c->env = env;
    ledger_cmd_init(&c->cmd, touch_many_run, NULL);
}

enum qb_error identity_txn_payment_password_gate(struct ledger_txn *txn,
                                                 const struct domain_env *env, const char *user_id,
                                                 const char *payment_password, bool needed,
                                                 enum qb_error *outcome, bool *password_missing,
                                                 struct identity_password_try *t)
{
    *t = (struct identity_password_try){0, 0};
    *outcome = QB_OK;
    *password_missing = false;
    if (!needed)
        return QB_OK;
    /* A frozen wallet lets nothing more out: not even its owner's settings
     * (whoever froze it may have done so because someone else holds it). */
    struct identity_user user;
    enum qb_error err = identity_txn_user_get(txn, env, user_id, &user);
    if (err == QB_E_NOT_FOUND || (err == QB_OK && user.status == IDENTITY_FROZEN)) {
        *outcome = err == QB_OK ? QB_E_ACCOUNT_FROZEN : err;
        return QB_OK;
    }
    if (err != QB_OK)
        return err;
    if (payment_password[0] == '\0') {
        *outcome = QB_E_PARAM;
        *password_missing = true;
        return QB_OK;
    }
    err = identity_txn_payment_password_verify(txn, env, user_id, payment_password, t);
    if (err == QB_E_PASSWORD_WRONG || err == QB_E_PASSWORD_LOCKED || err == QB_E_PASSWORD_NOT_SET ||
        err == QB_E_NOT_FOUND) {
        *outcome = err;
        return QB_OK;
    }
    return err;
}

static enum qb_error op_payment_password_set(struct ledger_txn *txn, struct identity_cmd *c)
{
    const struct domain_env *env = c->env;
    struct identity_user user;
    enum qb_error err = user_load(txn, c->user_id, &user);
    if (err != QB_OK) {
        c->outcome = err;
        return err == QB_E_NOT_FOUND ? QB_OK : err;
    }
    /* The code proves the phone only, which a frozen wallet's owner may
     * have lost: its payment password waits for the unfreeze. */
    if (user.status == IDENTITY_FROZEN) {
        c->outcome = QB_E_ACCOUNT_FROZEN;
        return QB_OK;
    }
    /* Verified, whatever its level now (an operator may have lowered it):
     * the id number it was verified with. */
    char id_number[IDENTITY_ID_NUMBER_SIZE] = "";
    if (user.id_number_last4[0] != '\0') {
        err = id_number_load(txn, env, c->user_id, id_number);
        if (err != QB_OK)
            return err;
    }
    /* Resetting a verified wallet's payment password takes the id number
     * too: the phone alone (a swapped SIM) must not open the money. */
    const bool id_needed = user.payment_password_set && id_number[0] != '\0';
    c->outcome = id_needed && c->id_number[0] == '\0'
                     ? QB_E_PARAM
                     : identity_payment_password_check(c->payment_password, NULL);
    /* The code before the birth date: refusing the password as the
     * verified birth date tells that date, a piece of the id number a
     * reset asks for, so only the phone hears it, and each time at the
     * cost of one of the code's tries (the code stays live otherwise, so
     * that the owner may pick another password with it). */
    if (c->outcome == QB_OK) {
        err = sms_txn_code_check(txn, env, user.phone, SMS_PURPOSE_RESET_PAYMENT_PASSWORD, "",
                                 c->sms_code, false);
        if (err == QB_OK && id_number[0] != '\0' &&
            identity_payment_password_check(c->payment_password, id_number) != QB_OK) {
            c->outcome = QB_E_PASSWORD_WEAK;
            err = sms_txn_code_try_spend(txn, user.phone, SMS_PURPOSE_RESET_PAYMENT_PASSWORD, "");
        } else if (err == QB_OK) {
            err = sms_consume(txn, env, user.phone, SMS_PURPOSE_RESET_PAYMENT_PASSWORD, "",
                              c->sms_code);
        }
        if (err == QB_E_SMS_CODE_INVALID)
            c->outcome = err; /* its count kept */
        else if (err != QB_OK)
            c->outcome = QB_E_INTERNAL;
    }
    /* After the code is spent: each guess of the number costs a new code.
     * The check character X may come in either case. */
    if (c->outcome == QB_OK && id_needed) {
        char given[IDENTITY_ID_NUMBER_SIZE] = "";
        snprintf(given, sizeof given, "%s", c->id_number);
        if (given[17] == 'x')
            given[17] = 'X';
        if (!crypto_equal(given, id_number, sizeof given))
            c->outcome = QB_E_IDENTITY_MISMATCH;
        crypto_wipe(given, sizeof given);
    }
    crypto_wipe(id_number, sizeof id_number);
    if (c->outcome == QB_E_INTERNAL)
        return err;
    if (c->outcome != QB_OK)
        return QB_OK;

    uint8_t mac[CRYPTO_SHA256_SIZE];
    payment_password_mac(env, c->user_id, c->payment_password, mac);
    const struct store_param p[] = {STORE_TEXT(c->user_id), STORE_BLOB(mac, sizeof mac)};
    err = user_change(txn, c,
                      "UPDATE users SET payment_password_hash = $2, payment_password_failures = 0,"
                      " payment_password_locked_until_ms = 0 WHERE id = $1",
                      p, QB_ARRAY_COUNT(p), "payment_password_set",
                      user.payment_password_set ? "reset" : "");
    crypto_wipe(mac, sizeof mac);
    if (err == QB_OK && user.payment_password_set)
        err = sms_txn_notice(txn, env, user.phone, SMS_PURPOSE_NOTICE_PAYMENT_PASSWORD_RESET, NULL);
    if (err != QB_OK)
        return err;
    c->outcome = QB_OK;
    return QB_OK;
}

static enum qb_error op_payment_password_verify(struct ledger_txn *txn, struct identity_cmd *c)
{
    enum qb_error err = password_check(txn, c);
    if (err != QB_OK || c->outcome == QB_E_NOT_FOUND)
        return err;
    err = user_load(txn, c->user_id, &c->user);
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
}

static enum qb_error op_kyc_submit(struct ledger_txn *txn, struct identity_cmd *c)
{
    const struct domain_env *env = c->env;
    enum qb_error err = user_load_unfrozen(txn, c);
    if (err != QB_OK || c->outcome != QB_OK)
        return err;
    if (c->user.kyc_level != 1) {
        c->outcome = QB_E_CONFLICT;
        return QB_OK;
    }
    if (!identity_id_number_is_valid(c->id_number, ledger_txn_now_ms(txn)) ||
        !identity_display_name_is_valid(c->real_name)) {
        c->outcome = QB_E_PARAM;
        return QB_OK;
    }
    c->outcome = identity_verify_real_name(c->real_name, c->id_number);
    if (c->outcome != QB_OK)
        return QB_OK;

    /* One person may verify only so many wallets: counted by a keyed hash
     * of the id number, so the count needs no decryption and the column
     * says nothing without the key. */
    uint8_t number_hash[CRYPTO_SHA256_SIZE];
    domain_keyed_hash(env->id_number_key, c->id_number, strlen(c->id_number), number_hash);
    struct store_stmt *st = NULL;
    /* A wallet verified before (an operator lowered it to level 1 since)
     * stays that person's: its money and history are theirs. Then it
     * counts among the person's wallets already. */
    if (store_prepare(ledger_txn_store(txn),
                      "SELECT COUNT(*), (SELECT id_number_hash FROM users WHERE id = $2)"
                      " FROM users WHERE id_number_hash = $1 AND status <> 3",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    int64_t wallets = 0;
    bool verified_before = false, same_person = false;
    err = store_bind_blob(st, 1, number_hash, sizeof number_hash);
    if (err == QB_OK)
        err = store_bind_text(st, 2, c->user_id, strlen(c->user_id));
    if (err == QB_OK)
        err = store_step(st) == STORE_STEP_ROW ? QB_OK : QB_E_STORAGE;
    if (err == QB_OK) {
        wallets = store_column_int64(st, 0);
        size_t before_size = store_column_size(st, 1);
        verified_before = before_size > 0;
        same_person = before_size == sizeof number_hash &&
                      crypto_equal(store_column_blob(st, 1), number_hash, sizeof number_hash);
    }
    store_finalize(st);
    if (err != QB_OK)
        return QB_E_STORAGE;
    if (verified_before && !same_person) {
        c->outcome = QB_E_IDENTITY_MISMATCH;
        return QB_OK;
    }
    /* The same person under the name verified then: the name decides whose
     * cards the wallet binds, so a wallet lowered to level 1 is not
     * renamed by verifying again with its number and another name. */
    if (verified_before) {
        char verified_name[IDENTITY_REAL_NAME_SIZE_MAX];
        err = identity_real_name_get(ledger_txn_store(txn), env, c->user_id, verified_name);
        bool same_name = err == QB_OK && strcmp(verified_name, c->real_name) == 0;
        crypto_wipe(verified_name, sizeof verified_name);
        if (err != QB_OK)
            return err == QB_E_NOT_FOUND ? QB_E_STORAGE : err;
        if (!same_name) {
            c->outcome = QB_E_IDENTITY_MISMATCH;
            return QB_OK;
        }
    }
    if (!same_person && wallets >= env->settings.kyc_wallets_per_person) {
        c->outcome = QB_E_ID_NUMBER_IN_USE;
        return QB_OK;
    }

    size_t name_size = strlen(c->real_name), number_size = strlen(c->id_number);
    QB_ASSERT(name_size < IDENTITY_REAL_NAME_SIZE_MAX &&
              number_size == IDENTITY_ID_NUMBER_SIZE - 1);
    uint8_t name_sealed[IDENTITY_REAL_NAME_SIZE_MAX + DOMAIN_SEAL_OVERHEAD];
    uint8_t number_sealed[IDENTITY_ID_NUMBER_SIZE + DOMAIN_SEAL_OVERHEAD];
    domain_seal(env, c->real_name, name_size, name_sealed);
    domain_seal(env, c->id_number, number_size, number_sealed);
    const struct store_param p[] = {STORE_TEXT(c->user_id),
                              STORE_BLOB(name_sealed, name_size + DOMAIN_SEAL_OVERHEAD),
                              STORE_BLOB(number_sealed, number_size + DOMAIN_SEAL_OVERHEAD),
                              STORE_TEXT(c->id_number + number_size - 4),
                              STORE_BLOB(number_hash, sizeof number_hash)};
    err =
        user_change(txn, c,
                    "UPDATE users SET kyc_level = 2, real_name_sealed = $2, id_number_sealed = $3,"
                    " id_number_last4 = $4, id_number_hash = $5 WHERE id = $1",
                    p, QB_ARRAY_COUNT(p), "kyc_level_2", "");
    if (err != QB_OK)
        return err;
    c->outcome = QB_OK;
    return QB_OK;
}

/* Ends every live session of c->user_id but c->session_id ("": all of
 * them), as part of the command. */
static enum qb_error sessions_end_but(struct ledger_txn *txn, const struct identity_cmd *c)
{
    const struct store_param p[] = {STORE_TEXT(c->user_id), STORE_TEXT(c->session_id),
                                    STORE_INT(ledger_txn_now_ms(txn))};
    return identity_txn_sessions_revoke(txn, c->env,
                                        "UPDATE sessions SET revoked_at_ms = $3"
                                        " WHERE user_id = $1 AND id != $2 AND revoked_at_ms = 0"
                                        " RETURNING token_hash, user_id",
                                        p, QB_ARRAY_COUNT(p));
}

/* Sets the user's status and marks the wallet account debit-frozen or not,
 * keeping its other flags; records the change as a security event. A
 * freeze, and the user's own unfreeze, also end every session but the one
 * that asked for it (c->session_id, "" for an operator's) and forget every
 * other device: the lost phone is logged out; a freeze also ends what the
 * layers above keep for the phone (env->user_frozen). */
static enum qb_error freeze_apply(struct ledger_txn *txn, struct identity_cmd *c,
                                  enum identity_frozen_by frozen_by)
{
    struct ledger_account_view view;
    enum qb_error err = ledger_txn_account_get(txn, c->user.account_id, &view);
    if (err != QB_OK)
        return QB_E_INTERNAL; /* a user without its wallet account */
    uint32_t flags = frozen_by == IDENTITY_FROZEN_BY_NONE
                         ? view.flags & ~(uint32_t)LEDGER_ACCOUNT_DEBIT_FROZEN
                         : view.flags | (uint32_t)LEDGER_ACCOUNT_DEBIT_FROZEN;
    if (flags != view.flags) {
        err = ledger_txn_account_set_flags(txn, c->user.account_id, flags);
        if (err != QB_OK)
            return err;
    }
    enum identity_status status =
        frozen_by == IDENTITY_FROZEN_BY_NONE ? IDENTITY_ACTIVE : IDENTITY_FROZEN;
    const struct store_param p[] = {STORE_TEXT(c->user_id), STORE_INT(status), STORE_INT(frozen_by)};
    identity_user_written(txn, c->env, c->user_id);
    err = store_run(ledger_txn_store(txn),
                   "UPDATE users SET status = $2, frozen_by = $3 WHERE id = $1", p,
                   QB_ARRAY_COUNT(p));
    if (err == QB_OK && status == IDENTITY_FROZEN && c->env->user_frozen != NULL)
        err = c->env->user_frozen(txn, c->env, c->user_id);
    /* The user's own unfreeze does the same from the other side: a thief
     * who froze from the stolen phone must not be back in the wallet once
     * its owner lifts the freeze from another device. */
    if (err == QB_OK && (status == IDENTITY_FROZEN || c->op == IDENTITY_OP_UNFREEZE)) {
        err = sessions_end_but(txn, c);
        /* A lost phone's devices are trusted no more: every one but the
         * device of the session that acted (none for an operator's). */
        const struct store_param q[] = {STORE_TEXT(c->user_id), STORE_TEXT(c->session_id),
                                        STORE_INT(ledger_txn_now_ms(txn))};
        if (err == QB_OK)
            err = store_run(ledger_txn_store(txn),
                            "UPDATE login_devices SET revoked_at_ms = $3"
                            " WHERE user_id = $1 AND revoked_at_ms = 0 AND seq !="
                            " coalesce((SELECT device_seq FROM sessions WHERE id = $2), 0)",
                            q, QB_ARRAY_COUNT(q));
    }
    if (err == QB_OK)
        err = identity_txn_security_event(
            txn, c->user_id, status == IDENTITY_FROZEN ? "freeze" : "unfreeze",
            c->op == IDENTITY_OP_ADMIN_FREEZE || c->op == IDENTITY_OP_ADMIN_UNFREEZE
                ? "operator"
                : "user"); /* who acted */
    if (err == QB_OK)
        err = user_load(txn, c->user_id, &c->user);
    if (err != QB_OK)
        return QB_E_STORAGE;
    c->outcome = QB_OK;
    return QB_OK;
}

/* FREEZE, UNFREEZE and the operators' three: the state checks, then the change. */
static enum qb_error op_status(struct ledger_txn *txn, struct identity_cmd *c)
{
    enum qb_error err = user_load(txn, c->user_id, &c->user);
    if (err != QB_OK) {
        c->outcome = err;
        return err == QB_E_NOT_FOUND ? QB_OK : err;
    }
    if (c->user.status == IDENTITY_CLOSED) {
        c->outcome = QB_E_CONFLICT; /* for good */
        return QB_OK;
    }
    bool frozen = c->user.status == IDENTITY_FROZEN;
    switch (c->op) {
    case IDENTITY_OP_FREEZE:
        if (frozen) {
            c->outcome = QB_E_CONFLICT;
            return QB_OK;
        }
        return freeze_apply(txn, c, IDENTITY_FROZEN_BY_USER);
    case IDENTITY_OP_UNFREEZE: {
        /* The login password was checked against the session's device's
         * lock, or the account's (identity_session_password_lock). */
        int64_t device_seq, locked_until_ms;
        err = identity_session_password_lock(ledger_txn_store(txn), c->user_id, c->session_id,
                                             &device_seq, &locked_until_ms);
        if (err != QB_OK)
            return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err;
        if (login_lock_holds(txn, c, locked_until_ms))
            return QB_OK;
        bool changed;
        if ((err = password_changed_since_check(txn, c, &changed)) != QB_OK || changed)
            return err;
        if (!frozen) {
            c->outcome = QB_E_CONFLICT;
            return QB_OK;
        }
        if (c->user.frozen_by != IDENTITY_FROZEN_BY_USER) {
            c->outcome = QB_E_FORBIDDEN;
            return QB_OK;
        }
        err = code_spend(txn, c, c->user.phone, SMS_PURPOSE_UNFREEZE);
        if (err != QB_OK || c->outcome != QB_OK)
            return err;
        return freeze_apply(txn, c, IDENTITY_FROZEN_BY_NONE);
    }
    case IDENTITY_OP_ADMIN_FREEZE:
        /* An operator may take over a user's own freeze, so that the user
         * can no longer lift it. */
        if (frozen && c->user.frozen_by == IDENTITY_FROZEN_BY_ADMIN) {
            c->outcome = QB_E_CONFLICT;
            return QB_OK;
        }
        return freeze_apply(txn, c, IDENTITY_FROZEN_BY_ADMIN);
    case IDENTITY_OP_ADMIN_UNFREEZE:
        if (!frozen) {
            c->outcome = QB_E_CONFLICT;
            return QB_OK;
        }
        return freeze_apply(txn, c, IDENTITY_FROZEN_BY_NONE);
    default:
        QB_UNREACHABLE();
    }
}

/* A new login password: with an SMS code of purpose reset_password, or
 * with the current password checked by the caller (sms_code ""); while the
 * wallet is frozen (by anyone), with the current password only. The
 * count of wrong passwords and its lock start over, and every session but
 * the caller's ends: whoever knew the old password is logged out. The
 * devices keep their trust: the next login still needs the new password. */
static enum qb_error op_password_set(struct ledger_txn *txn, struct identity_cmd *c)
{
    enum qb_error err = user_load(txn, c->user_id, &c->user);
    if (err != QB_OK) {
        c->outcome = err;
        return err == QB_E_NOT_FOUND ? QB_OK : err;
    }
    bool by_code = c->sms_code[0] != '\0';
    /* The current password was checked against the session's device's
     * lock, or the account's (identity_session_password_lock); a code
     * lifts the account's. */
    int64_t device_seq = 0, locked_until_ms = 0;
    if (!by_code) {
        err = identity_session_password_lock(ledger_txn_store(txn), c->user_id, c->session_id,
                                             &device_seq, &locked_until_ms);
        if (err != QB_OK)
            return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err;
    }
    if (!by_code && login_lock_holds(txn, c, locked_until_ms))
        return QB_OK;
    bool changed = false;
    if (!by_code && ((err = password_changed_since_check(txn, c, &changed)) != QB_OK || changed))
        return err;
    if (by_code && c->user.status == IDENTITY_FROZEN) {
        /* Whoever holds a frozen wallet's phone gets its codes: a password
         * they set with one would lift the freeze. The code stays live. */
        c->outcome = QB_E_ACCOUNT_FROZEN;
        return QB_OK;
    }
    if (by_code) {
        err = code_spend(txn, c, c->user.phone, SMS_PURPOSE_RESET_PASSWORD);
        if (err != QB_OK || c->outcome != QB_OK)
            return err;
    }
    const struct store_param p[] = {STORE_TEXT(c->user_id), STORE_TEXT(c->password_hash)};
    identity_user_written(txn, c->env, c->user_id);
    err = store_run(ledger_txn_store(txn),
                    "UPDATE users SET password_hash = $2, login_failures = 0,"
                    " login_locked_until_ms = 0 WHERE id = $1",
                    p, QB_ARRAY_COUNT(p));
    if (err == QB_OK)
        err = sessions_end_but(txn, c);
    if (err == QB_OK)
        err = identity_txn_security_event(txn, c->user_id, "password_changed",
                                          by_code ? "sms_code" : "password");
    /* The phone is told: a change with the current password may be
     * someone else's who had it and a session. */
    if (err == QB_OK)
        err = sms_txn_notice(txn, c->env, c->user.phone, SMS_PURPOSE_NOTICE_PASSWORD_CHANGED, NULL);
    if (err != QB_OK)
        return QB_E_STORAGE;
    c->outcome = QB_OK;
    return QB_OK;
}

/* An operator lifts the account's login lock for a user support has
 * verified (the phone an SMS code would go to is lost): the count of wrong
 * passwords starts over too, so the next lock is the first again, as
 * after a login that proved the phone. A trusted device's own lock stays
 * (identity.h). With no lock holding now nothing is written: CONFLICT,
 * as for an unfreeze of a wallet that is not frozen. */
static enum qb_error op_admin_login_unlock(struct ledger_txn *txn, struct identity_cmd *c)
{
    enum qb_error err = user_load(txn, c->user_id, &c->user);
    if (err != QB_OK) {
        c->outcome = err;
        return err == QB_E_NOT_FOUND ? QB_OK : err;
    }
    if (c->user.login_locked_until_ms <= ledger_txn_now_ms(txn)) {
        c->outcome = QB_E_CONFLICT;
        return QB_OK;
    }
    const struct store_param p[] = {STORE_TEXT(c->user_id)};
    err = user_change(
        txn, c, "UPDATE users SET login_failures = 0, login_locked_until_ms = 0 WHERE id = $1", p,
        QB_ARRAY_COUNT(p), "login_unlocked", "operator");
    if (err != QB_OK)
        return err;
    QB_ASSERT(c->user.login_locked_until_ms == 0);
    c->outcome = QB_OK;
    return QB_OK;
}

enum qb_error identity_phone_held_until(struct store *store, const char *user_id, int64_t now_ms,
                                        int64_t *held_until_ms)
{
    QB_ASSERT(store != NULL && user_id != NULL && held_until_ms != NULL);
    *held_until_ms = 0;
    int64_t newest = 0;
    const struct store_param p[] = {STORE_TEXT(user_id),
                                    STORE_INT(now_ms - IDENTITY_PHONE_HOLD_MS)};
    if (store_int64(store,
                    "SELECT COALESCE(MAX(created_at_ms), 0) FROM security_events WHERE user_id = $1"
                    " AND created_at_ms > $2 AND (kind = 'sms_login' OR"
                    " (kind = 'password_changed' AND detail = 'sms_code') OR"
                    " (kind = 'payment_password_set' AND detail = 'reset'))",
                    p, QB_ARRAY_COUNT(p), &newest) != QB_OK)
        return QB_E_STORAGE;
    if (newest > 0)
        *held_until_ms = newest + IDENTITY_PHONE_HOLD_MS;
    return QB_OK;
}

/* The user moves the wallet to a new phone: the login, where codes go and
 * how payers find them. Whoever holds the account's phone can reset the
 * payment password, so the change asks for both what the owner knows (the
 * payment password, counted as a payment counts it) and the new phone (a
 * code sent to it). Sessions and trusted devices stay: the owner moved, the
 * devices did not. */
static enum qb_error op_phone_change(struct ledger_txn *txn, struct identity_cmd *c)
{
    c->phone_before[0] = '\0';
    if (!phone_is_valid(c->phone)) {
        c->outcome = QB_E_PARAM;
        return QB_OK;
    }
    enum qb_error err = user_load_unfrozen(txn, c);
    if (err != QB_OK || c->outcome != QB_OK)
        return err;
    if (strcmp(c->user.phone, c->phone) == 0) {
        c->outcome = QB_E_PARAM;
        return QB_OK;
    }
    /* Whoever holds the phone alone (a swapped SIM) logs in with a code
     * and can set or reset an unverified wallet's payment password and
     * reset its login password with codes: moving the phone then would
     * keep the wallet from its owner for good. So the phone stays a day
     * after a login with a code alone or such a reset, while the owner
     * gets their phone back and the wallet with it. */
    err = identity_phone_held_until(ledger_txn_store(txn), c->user_id, ledger_txn_now_ms(txn),
                                    &c->held_until_ms);
    if (err != QB_OK)
        return err;
    if (c->held_until_ms > 0) {
        c->outcome = QB_E_PHONE_CHANGE_HELD;
        return QB_OK;
    }

    /* The password before the code: a wrong one leaves the code live, and
     * its count commits with the refusal. */
    err = password_check(txn, c);
    if (err != QB_OK || c->outcome != QB_OK)
        return err;
    /* A code goes to a free phone only, so a taken one is refused here only
     * when it was registered after its code was sent. */
    err = phone_claim(txn, c, SMS_PURPOSE_CHANGE_PHONE);
    if (err != QB_OK || c->outcome != QB_OK)
        return err;

    if (!phone_is_valid(c->user.phone))
        return QB_E_STORAGE; /* the database was changed by hand */
    _Static_assert(sizeof c->phone_before == sizeof c->user.phone, "a phone fits");
    memcpy(c->phone_before, c->user.phone, sizeof c->phone_before);
    char detail[IDENTITY_DEVICE_NAME_SIZE_MAX];
    /* Both valid: 11 digits, the last four from 7 on. */
    QB_ASSERT(strlen(c->phone_before) == 11 && strlen(c->phone) == 11);
    int size =
        snprintf(detail, sizeof detail, "old=****%s new=****%s", c->phone_before + 7, c->phone + 7);
    QB_ASSERT(size > 0 && (size_t)size < sizeof detail);
    const struct store_param p[] = {STORE_TEXT(c->user_id), STORE_TEXT(c->phone)};
    /* A code the old phone still holds opens nothing, should the phone
     * be registered by someone else while it lives; and the old phone is
     * told where the wallet went, so that an owner whose wallet was moved
     * by someone else hears of it on the phone they still hold. */
    struct sms_detail moved;
    memset(&moved, 0, sizeof moved);
    sms_phone_mask(c->phone, moved.wallet_phone);
    err = sms_txn_codes_void(txn, c->phone_before);
    if (err == QB_OK)
        err =
            sms_txn_notice(txn, c->env, c->phone_before, SMS_PURPOSE_NOTICE_PHONE_CHANGED, &moved);
    if (err == QB_OK)
        err = user_change(txn, c, "UPDATE users SET phone = $2 WHERE id = $1", p, QB_ARRAY_COUNT(p),
                          "phone_changed", detail);
    if (err != QB_OK) {
        c->phone_before[0] = '\0';
        return QB_E_STORAGE;
    }
    QB_ASSERT(strcmp(c->user.phone, c->phone) == 0);
    c->outcome = QB_OK;
    return QB_OK;
}

/* The user's name, as payers see it masked at a transfer, a red packet or a
 * payee look-up (each reads it when it shows it). A frozen account keeps
 * its name: whoever holds a lost phone must not make it look like someone
 * else's. */
static enum qb_error op_display_name_set(struct ledger_txn *txn, struct identity_cmd *c)
{
    if (!identity_display_name_is_valid(c->display_name)) {
        c->outcome = QB_E_PARAM;
        return QB_OK;
    }
    enum qb_error err = user_load_unfrozen(txn, c);
    if (err != QB_OK || c->outcome != QB_OK)
        return err;
    c->outcome = QB_OK;
    if (strcmp(c->user.display_name, c->display_name) == 0)
        return QB_OK;
    const struct store_param p[] = {STORE_TEXT(c->user_id), STORE_TEXT(c->display_name)};
    err = user_change(txn, c, "UPDATE users SET display_name = $2 WHERE id = $1", p,
                      QB_ARRAY_COUNT(p), "display_name_changed", "");
    if (err != QB_OK)
        return err;
    QB_ASSERT(strcmp(c->user.display_name, c->display_name) == 0);
    return QB_OK;
}

enum qb_error identity_close_blockers(const struct domain_env *env, struct store *store,
                                      const struct identity_user *user,
                                      const struct ledger_account_view *view, uint32_t *blockers)
{
    QB_ASSERT(env != NULL && store != NULL && user != NULL && view != NULL && blockers != NULL);
    *blockers = 0;
    if (view->available_minor != 0)
        *blockers |= DOMAIN_CLOSE_BALANCE;
    if (view->held_minor != 0)
        *blockers |= DOMAIN_CLOSE_PENDING;
    if (user->status == IDENTITY_FROZEN)
        *blockers |= DOMAIN_CLOSE_FROZEN;
    if (!user->payment_password_set)
        *blockers |= DOMAIN_CLOSE_PAYMENT_PASSWORD;
    if (env->user_close_blockers != NULL)
        return env->user_close_blockers(env, store, user, view, blockers);
    return QB_OK;
}

/* What stands in the way of closing c's user that the refusal
 * ACCOUNT_NOT_EMPTY names, looked at without writing: the first into
 * c->blocker, with c->outcome ACCOUNT_NOT_EMPTY; c->blocker NULL when
 * nothing does. A balance the KYC level 1 lifetime limit keeps in the
 * wallet is the owner's LIMIT_EXCEEDED instead, c->blocker "kyc_lifetime":
 * "withdraw it or spend it" would send them round in a circle, and
 * verifying their identity lifts it; an operator, who cannot, is told of
 * the balance. The ledger account's working state is read in the command,
 * so no payment of the same batch slips past it. A frozen wallet is the
 * caller's to judge (the owner's closing refuses it before, an operator's
 * takes it), and a missing payment password is the password check's to
 * tell. */
static enum qb_error close_blocker(struct ledger_txn *txn, struct identity_cmd *c)
{
    c->blocker = NULL;
    struct ledger_account_view view;
    if (ledger_txn_account_get(txn, c->user.account_id, &view) != QB_OK)
        return QB_E_INTERNAL; /* a user without its wallet account */
    uint32_t blockers;
    enum qb_error err =
        identity_close_blockers(c->env, ledger_txn_store(txn), &c->user, &view, &blockers);
    if (err != QB_OK)
        return err;
    blockers &= ~(uint32_t)(DOMAIN_CLOSE_FROZEN | DOMAIN_CLOSE_PAYMENT_PASSWORD);
    if (c->op == IDENTITY_OP_ADMIN_CLOSE && (blockers & DOMAIN_CLOSE_KYC_LIFETIME) != 0)
        blockers = (blockers & ~(uint32_t)DOMAIN_CLOSE_KYC_LIFETIME) | DOMAIN_CLOSE_BALANCE;
    if (blockers != 0) {
        uint32_t first = blockers & -blockers;
        c->blocker = domain_close_blocker_name(first);
        c->outcome =
            first == DOMAIN_CLOSE_KYC_LIFETIME ? QB_E_LIMIT_EXCEEDED : QB_E_ACCOUNT_NOT_EMPTY;
    }
    return QB_OK;
}

/* The closing itself, for c's user, who may be closed (close_blocker found
 * nothing): the ledger account closed, the layers above told, the phone's
 * codes voided, every session and trusted device ended, the phone freed;
 * event account_closed with detail. */
static enum qb_error close_apply(struct ledger_txn *txn, struct identity_cmd *c, const char *detail)
{
    struct ledger_account_view view;
    enum qb_error err = ledger_txn_account_get(txn, c->user.account_id, &view);
    if (err == QB_OK)
        err = ledger_txn_account_set_flags(txn, c->user.account_id,
                                           view.flags | (uint32_t)LEDGER_ACCOUNT_CLOSED);
    if (err == QB_OK && c->env->user_closed != NULL)
        err = c->env->user_closed(txn, c->env, c->user_id);
    if (err != QB_OK)
        return err;
    err = sms_txn_codes_void(txn, c->user.phone);
    if (err == QB_OK)
        err = sessions_end_but(txn, c); /* c->session_id is "": every one */
    const struct store_param p[] = {STORE_TEXT(c->user_id), STORE_INT(ledger_txn_now_ms(txn)),
                                    STORE_INT(IDENTITY_CLOSED)};
    if (err == QB_OK)
        err = store_run(ledger_txn_store(txn),
                        "UPDATE login_devices SET revoked_at_ms = $2"
                        " WHERE user_id = $1 AND revoked_at_ms = 0",
                        p, 2);
    if (err == QB_OK)
        err = user_change(txn, c,
                          "UPDATE users SET status = $3, frozen_by = 0, closed_at_ms = $2,"
                          " closed_phone = phone, phone = 'closed:' || id WHERE id = $1",
                          p, QB_ARRAY_COUNT(p), "account_closed", detail);
    if (err != QB_OK)
        return QB_E_STORAGE;
    QB_ASSERT(c->user.status == IDENTITY_CLOSED);
    c->outcome = QB_OK;
    return QB_OK;
}

/* The owner closes an empty wallet for good. What blocks it is told before
 * any proof is asked for (nothing written); then the payment password
 * (counted, the code left live), then an SMS code to the wallet's phone
 * (counted). The account is closed in the ledger, the layers above end
 * what they keep for the user, every session and trusted device ends, the
 * phone's live codes are voided and the phone is freed (identity.h). */
static enum qb_error op_close(struct ledger_txn *txn, struct identity_cmd *c)
{
    c->blocker = NULL;
    enum qb_error err = user_load_unfrozen(txn, c);
    if (err == QB_OK && c->outcome == QB_OK)
        err = close_blocker(txn, c);
    if (err != QB_OK || c->outcome != QB_OK)
        return err;
    err = password_check(txn, c);
    if (err == QB_OK && c->outcome == QB_OK)
        err = code_spend(txn, c, c->user.phone, SMS_PURPOSE_CLOSE_ACCOUNT);
    if (err != QB_OK || c->outcome != QB_OK)
        return err;
    return close_apply(txn, c, "");
}

/* An operator closes an empty wallet for its owner, frozen or not: the
 * same blockers refuse it, and the same closing follows; no proof is
 * asked here (the owner gave it to support: the operator's reason says
 * how). */
static enum qb_error op_admin_close(struct ledger_txn *txn, struct identity_cmd *c)
{
    c->blocker = NULL;
    enum qb_error err = user_load(txn, c->user_id, &c->user);
    if (err != QB_OK) {
        c->outcome = err;
        return err == QB_E_NOT_FOUND ? QB_OK : err;
    }
    if (c->user.status == IDENTITY_CLOSED) {
        c->outcome = QB_E_CONFLICT;
        return QB_OK;
    }
    c->outcome = QB_OK;
    err = close_blocker(txn, c);
    if (err != QB_OK || c->outcome != QB_OK)
        return err;
    return close_apply(txn, c, "operator");
}

static enum qb_error op_admin_set_kyc_level(struct ledger_txn *txn, struct identity_cmd *c)
{
    if (c->kyc_level < 1 || c->kyc_level > 3) {
        c->outcome = QB_E_PARAM;
        return QB_OK;
    }
    enum qb_error err = user_load(txn, c->user_id, &c->user);
    if (err != QB_OK) {
        c->outcome = err;
        return err == QB_E_NOT_FOUND ? QB_OK : err;
    }
    /* Level 2 and 3 stand on a verified real name (POST /v1/me/kyc): an
     * operator may raise a verified wallet's limits, never skip the
     * verification. */
    if (c->user.kyc_level == c->kyc_level || c->user.status == IDENTITY_CLOSED ||
        (c->kyc_level >= 2 && c->user.id_number_last4[0] == '\0')) {
        c->outcome = QB_E_CONFLICT;
        return QB_OK;
    }
    char detail[16];
    int size = snprintf(detail, sizeof detail, "%d", c->kyc_level);
    QB_ASSERT(size > 0 && (size_t)size < sizeof detail);
    const struct store_param p[] = {STORE_TEXT(c->user_id), STORE_INT(c->kyc_level)};
    err = user_change(txn, c, "UPDATE users SET kyc_level = $2 WHERE id = $1", p, QB_ARRAY_COUNT(p),
                      "kyc_level_set", detail);
    if (err != QB_OK)
        return err;
    c->outcome = QB_OK;
    return QB_OK;
}

/* --- the command ------------------------------------------------------------- */

#define TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)

/* Every text input is a fixed array; one without its NUL is refused before
 * any string function reads past it. */
static bool inputs_are_terminated(const struct identity_cmd *c)
{
    return TERMINATED(c->user_id) && TERMINATED(c->session_id) && TERMINATED(c->phone) &&
           TERMINATED(c->sms_code) && TERMINATED(c->display_name) && TERMINATED(c->password_hash) &&
           TERMINATED(c->password_hash_checked) && TERMINATED(c->device_name) &&
           TERMINATED(c->device_key) && TERMINATED(c->payment_password) &&
           TERMINATED(c->real_name) && TERMINATED(c->id_number);
}

static enum qb_error identity_cmd_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct identity_cmd *c = (struct identity_cmd *)cmd;
    QB_ASSERT(c->env != NULL);
    c->outcome = QB_E_INTERNAL; /* until an operation decides */
    c->password_try = (struct identity_password_try){0, 0};
    if (!inputs_are_terminated(c)) {
        c->outcome = QB_E_PARAM;
        return QB_OK;
    }
    enum qb_error err = QB_E_INTERNAL;
    switch (c->op) {
    case IDENTITY_OP_REGISTER:
        err = op_register(txn, c);
        break;
    case IDENTITY_OP_SESSION_CREATE:
    case IDENTITY_OP_SESSION_CREATE_BY_CODE:
        err = op_session_create(txn, c);
        break;
    case IDENTITY_OP_LOGIN_FAILED:
        err = op_login_failed(txn, c);
        break;
    case IDENTITY_OP_SESSION_REVOKE:
        err = op_session_revoke(txn, c);
        break;
    case IDENTITY_OP_SESSION_TOUCH:
        err = op_session_touch(txn, c);
        break;
    case IDENTITY_OP_PAYMENT_PASSWORD_SET:
        err = op_payment_password_set(txn, c);
        break;
    case IDENTITY_OP_PAYMENT_PASSWORD_VERIFY:
        err = op_payment_password_verify(txn, c);
        break;
    case IDENTITY_OP_KYC_SUBMIT:
        err = op_kyc_submit(txn, c);
        break;
    case IDENTITY_OP_FREEZE:
    case IDENTITY_OP_UNFREEZE:
    case IDENTITY_OP_ADMIN_FREEZE:
    case IDENTITY_OP_ADMIN_UNFREEZE:
        err = op_status(txn, c);
        break;
    case IDENTITY_OP_ADMIN_SET_KYC_LEVEL:
        err = op_admin_set_kyc_level(txn, c);
        break;
    case IDENTITY_OP_PASSWORD_SET:
        err = op_password_set(txn, c);
        break;
    case IDENTITY_OP_ADMIN_LOGIN_UNLOCK:
        err = op_admin_login_unlock(txn, c);
        break;
    case IDENTITY_OP_PHONE_CHANGE:
        err = op_phone_change(txn, c);
        break;
    case IDENTITY_OP_DISPLAY_NAME_SET:
        err = op_display_name_set(txn, c);
        break;
    case IDENTITY_OP_CLOSE:
        err = op_close(txn, c);
        break;
    case IDENTITY_OP_ADMIN_CLOSE:
        err = op_admin_close(txn, c);
        break;
    }
    if (err != QB_OK) {
        /* Rolled back: nothing the operation produced may be shown. */
        crypto_wipe(c->token, sizeof c->token);
        crypto_wipe(c->device_key, sizeof c->device_key);
        c->outcome = err;
    }
    return err;
}

void identity_cmd_init(struct identity_cmd *c, const struct domain_env *env, enum identity_op op)
{
    QB_ASSERT(c != NULL && env != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, identity_cmd_run, NULL);
    c->env = env;
    c->op = op;
    c->outcome = QB_E_INTERNAL;
}

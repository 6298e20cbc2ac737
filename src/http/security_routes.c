/*
 * security_routes.c — the security centre: the payment password, the
 * caller's sessions, freezing a lost phone and lifting it, and the security
 * score. Every route here is HTTP_AUTH_USER and acts on the caller only:
 * another user's session id answers 404, the same as one that never existed.
 *
 * Payment passwords are checked for shape on the HTTP thread and counted in
 * the writer (identity.h), so parallel guesses are evaluated one at a time.
 * Unfreezing and changing the login password need the login password,
 * verified with Argon2id on a password thread before the command runs (a
 * new one is hashed there too: http_password_job_start); a forgotten one
 * is replaced with an SMS code, except while the wallet is frozen (the
 * code may reach whoever holds the lost phone: identity.h). Moving to a new phone needs the payment
 * password and a code sent to the new phone, both checked in one command.
 */
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/crypto.h"
#include "base/log.h"
#include "http/internal.h"

#define S_PAYMENT_PASSWORD_SIZE_MAX 16 /* six digits; longer is refused by shape */

_Static_assert(sizeof(((struct identity_cmd *)0)->payment_password) == 8,
               "six digits and a NUL fit the command");

/* --- PUT /v1/me/payment-password ------------------------------------------------- */

static const struct http_field S_payment_password_set_fields[] = {
    {"payment_password", HTTP_FIELD_STRING, true, S_PAYMENT_PASSWORD_SIZE_MAX, 0, 0},
    {"sms_code", HTTP_FIELD_STRING, true, SMS_CODE_DIGITS + 1, 0, 0},
    {"id_number", HTTP_FIELD_SECRET, false, IDENTITY_ID_NUMBER_SIZE, 0, 0},
};

/* PARAM: a verified wallet's payment password is reset with its id number. */
static void S_payment_password_set_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct identity_cmd *c = (struct identity_cmd *)cmd;
    if (cmd->result == QB_OK && c->outcome == QB_E_PARAM) {
        http_reply_error_message(req, QB_E_PARAM,
                                 "id_number is required: a verified wallet's payment password is "
                                 "reset with the id number it was verified with");
        http_identity_cmd_done(c);
        return;
    }
    if (cmd->result == QB_OK && c->outcome == QB_E_IDENTITY_MISMATCH) {
        http_reply_error_message(req, QB_E_IDENTITY_MISMATCH,
                                 "the id number is not the one this wallet was verified with (the "
                                 "SMS code is spent: ask for a new one)");
        http_identity_cmd_done(c);
        return;
    }
    http_resume_no_content(req, cmd);
}

void http_handle_me_payment_password_set(struct http_request *req)
{
    json_t *body = http_json_body(req, S_payment_password_set_fields,
                                  QB_ARRAY_COUNT(S_payment_password_set_fields));
    if (body == NULL)
        return;
    const struct identity_session *session = http_request_session(req);
    const char *payment_password = http_json_string(body, "payment_password");
    const char *sms_code = http_json_string(body, "sms_code");
    const char *id_number = http_json_string(body, "id_number");
    if (!http_payment_password_check(req, payment_password) || !http_sms_code_check(req, sms_code))
        goto out;
    if (id_number != NULL && strlen(id_number) != IDENTITY_ID_NUMBER_SIZE - 1) {
        http_reply_error_message(req, QB_E_PARAM, "id_number must be 18 characters");
        goto out;
    }
    enum qb_error err = identity_payment_password_check(payment_password, NULL);
    if (err != QB_OK) {
        http_reply_error_message(req, err,
                                 err == QB_E_PASSWORD_WEAK
                                     ? "the payment password is too easy to guess"
                                     : "payment_password must be six digits");
        goto out;
    }
    struct identity_cmd *c = http_identity_cmd_new(req, IDENTITY_OP_PAYMENT_PASSWORD_SET);
    if (c == NULL)
        goto out;
    snprintf(c->user_id, sizeof c->user_id, "%s", session->user_id);
    snprintf(c->payment_password, sizeof c->payment_password, "%s", payment_password);
    snprintf(c->sms_code, sizeof c->sms_code, "%s", sms_code);
    snprintf(c->id_number, sizeof c->id_number, "%s", id_number != NULL ? id_number : "");
    http_request_submit(req, &c->cmd, S_payment_password_set_resume);
out:
    json_decref(body);
}

/* --- POST /v1/me/payment-password/verify ----------------------------------------- */

static const struct http_field S_payment_password_verify_fields[] = {
    {"payment_password", HTTP_FIELD_STRING, true, S_PAYMENT_PASSWORD_SIZE_MAX, 0, 0},
};

void http_handle_me_payment_password_verify(struct http_request *req)
{
    json_t *body = http_json_body(req, S_payment_password_verify_fields,
                                  QB_ARRAY_COUNT(S_payment_password_verify_fields));
    if (body == NULL)
        return;
    const struct identity_session *session = http_request_session(req);
    const char *payment_password = http_json_string(body, "payment_password");
    if (!http_payment_password_check(req, payment_password))
        goto out;
    struct identity_cmd *c = http_identity_cmd_new(req, IDENTITY_OP_PAYMENT_PASSWORD_VERIFY);
    if (c == NULL)
        goto out;
    snprintf(c->user_id, sizeof c->user_id, "%s", session->user_id);
    snprintf(c->payment_password, sizeof c->payment_password, "%s", payment_password);
    http_request_submit(req, &c->cmd, http_resume_no_content);
out:
    json_decref(body);
}

/* --- GET /v1/me/sessions, DELETE /v1/me/sessions/{id} ------------------------------ */

static enum qb_error S_sessions_read(struct http_request *req, struct store *reader,
                                     const void *current, int64_t cursor, void *rows, size_t room,
                                     size_t *count)
{
    (void)req;
    const struct identity_session *session = current;
    return identity_sessions_list(reader, session->user_id, cursor, rows, room, count);
}

static json_t *S_sessions_item(struct http_request *req, struct store *reader, const void *current,
                               const void *row, enum qb_error *err)
{
    (void)req, (void)reader, (void)err;
    const struct identity_session *session = current;
    const struct identity_session *s = row;
    return json_pack("{s:s, s:s, s:o, s:o, s:o, s:b, s:b}", "id", s->id, "device_name",
                     s->device_name, "created_at", http_time_json(s->created_at_ms), "last_seen_at",
                     http_time_json(s->last_seen_at_ms), "expires_at",
                     http_time_json(s->expires_at_ms), "current", strcmp(s->id, session->id) == 0,
                     "revoked", s->revoked_at_ms != 0);
}

static const struct http_list S_sessions = {sizeof(struct identity_session),
                                            HTTP_LIST_KEY(struct identity_session, seq),
                                            S_sessions_read, S_sessions_item};

void http_handle_me_sessions_list(struct http_request *req)
{
    http_reply_list(req, &S_sessions, http_request_session(req));
}

void http_handle_me_sessions_delete(struct http_request *req)
{
    const struct identity_session *session = http_request_session(req);
    const char *id = http_request_param(req, "id");
    if (id == NULL || !id_is_valid(id, strlen(id), "s")) {
        http_reply_error(req, QB_E_NOT_FOUND);
        return;
    }
    /* Ending another session forgets its device (below), which then needs
     * the phone to log in again: a thief holding a phone that stays logged
     * in could so shut its owner out of every other device, and out of the
     * freeze. Only a recent login, which needed the password, may. */
    const struct domain_env *env = http_request_env(req);
    if (env == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        return;
    }
    if (strcmp(id, session->id) != 0 &&
        clock_now_ms(env->clock) - session->created_at_ms > env->settings.session_recent_ms) {
        int64_t recent_s = env->settings.session_recent_ms / 1000;
        bool minutes = recent_s % 60 == 0;
        long long count = minutes ? recent_s / 60 : recent_s;
        char message[192];
        snprintf(message, sizeof message,
                 "another session may be ended only within %lld %s%s of logging in: log in "
                 "again on this device, then end it (a freeze needs no new login)",
                 count, minutes ? "minute" : "second", count == 1 ? "" : "s");
        http_reply_error_message(req, QB_E_RECENT_LOGIN_REQUIRED, message);
        return;
    }
    struct identity_cmd *c = http_identity_cmd_new(req, IDENTITY_OP_SESSION_REVOKE);
    if (c == NULL)
        return;
    snprintf(c->user_id, sizeof c->user_id, "%s", session->user_id);
    snprintf(c->session_id, sizeof c->session_id, "%s", id);
    /* "Log that device out": a stolen laptop must not log in again with the
     * password alone. The caller's own session ends as a logout does. */
    c->forget_device = strcmp(id, session->id) != 0;
    http_request_submit(req, &c->cmd, http_resume_no_content);
}

/* --- POST /v1/me/freeze, POST /v1/me/unfreeze -------------------------------------- */

void http_handle_me_freeze(struct http_request *req)
{
    /* No fields: an empty body or {} only. */
    json_t *body = http_json_body(req, NULL, 0);
    if (body == NULL)
        return;
    json_decref(body);
    const struct identity_session *session = http_request_session(req);
    struct identity_cmd *c = http_identity_cmd_new(req, IDENTITY_OP_FREEZE);
    if (c == NULL)
        return;
    snprintf(c->user_id, sizeof c->user_id, "%s", session->user_id);
    snprintf(c->session_id, sizeof c->session_id, "%s", session->id);
    http_request_submit(req, &c->cmd, http_resume_user);
}

static const struct http_field S_unfreeze_fields[] = {
    {"password", HTTP_FIELD_SECRET, true, IDENTITY_PASSWORD_SIZE_MAX, 0, 0},
    {"sms_code", HTTP_FIELD_STRING, true, SMS_CODE_DIGITS + 1, 0, 0},
};

/* A wrong login password given to a route that asks for it again: counted
 * against the login lock, as at login. */
static void S_password_refused_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct identity_cmd *c = (struct identity_cmd *)cmd;
    http_login_failure_record(req, c);
    if (cmd->result != QB_OK)
        http_reply_error(req, cmd->result);
    else if (c->outcome == QB_E_PASSWORD_LOCKED)
        http_reply_login_locked(req, c->password_try.locked_until_ms);
    else
        http_reply_error_message(req, QB_E_UNAUTHORIZED, "the password is wrong");
    http_identity_cmd_done(c);
}

/* A password job (op next) for the caller's login password: the lock
 * looked at here (423 when logging in is locked), the password verified on
 * a password thread. NULL after replying. */
static struct http_password_job *S_login_password_job(struct http_request *req,
                                                      const char *password, enum identity_op op)
{
    const struct identity_session *session = http_request_session(req);
    const struct domain_env *env = http_request_env(req);
    char hash[IDENTITY_PASSWORD_HASH_SIZE_MAX] = "";
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return NULL;
    struct identity_user user;
    int64_t device_seq = 0, locked_until_ms = 0;
    enum qb_error err = identity_user_get(reader, session->user_id, &user);
    if (err == QB_OK)
        err = identity_user_password_hash(reader, session->user_id, hash);
    /* The lock of the session's device when the account trusts it: a
     * stranger's guesses at the login lock the account's password, not
     * its owner's on their own device (their freeze, lifted with it). */
    if (err == QB_OK)
        err = identity_session_password_lock(reader, session->user_id, session->id, &device_seq,
                                             &locked_until_ms);
    http_reader_release(req, reader);
    struct http_password_job *job = NULL;
    if (err != QB_OK) {
        http_reply_error(req, err == QB_E_NOT_FOUND ? QB_E_UNAUTHORIZED : err);
    } else if (env == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
    } else if (locked_until_ms > clock_now_ms(env->clock)) {
        http_reply_login_locked(req, locked_until_ms);
    } else if ((job = http_password_job_new(req, op, true)) != NULL) {
        snprintf(job->password, sizeof job->password, "%s", password);
        memcpy(job->hash, hash, sizeof job->hash);
        snprintf(job->failed->user_id, sizeof job->failed->user_id, "%s", session->user_id);
        job->failed->device_seq = device_seq;       /* a wrong one counts there, */
        job->failed->account_too = device_seq != 0; /* and on the account's */
    }
    crypto_wipe(hash, sizeof hash);
    return job;
}

void http_handle_me_unfreeze(struct http_request *req)
{
    json_t *body = http_json_body(req, S_unfreeze_fields, QB_ARRAY_COUNT(S_unfreeze_fields));
    if (body == NULL)
        return;
    const struct identity_session *session = http_request_session(req);
    const char *sms_code = http_json_string(body, "sms_code");
    /* Step 1: the login password, on a password thread; step 2: the SMS
     * code and the state change, in the writer. */
    struct http_password_job *job = NULL;
    if (http_sms_code_check(req, sms_code))
        job = S_login_password_job(req, http_json_string(body, "password"), IDENTITY_OP_UNFREEZE);
    if (job != NULL) {
        struct identity_cmd *c = job->next;
        snprintf(c->user_id, sizeof c->user_id, "%s", session->user_id);
        snprintf(c->session_id, sizeof c->session_id, "%s", session->id);
        snprintf(c->sms_code, sizeof c->sms_code, "%s", sms_code);
        http_password_job_start(req, job, http_resume_user, S_password_refused_resume);
    }
    json_decref(body);
}

/* --- PUT /v1/me/password ----------------------------------------------------------- */

static const struct http_field S_password_set_fields[] = {
    {"password", HTTP_FIELD_SECRET, true, IDENTITY_PASSWORD_SIZE_MAX, 0, 0},
    {"current_password", HTTP_FIELD_SECRET, false, IDENTITY_PASSWORD_SIZE_MAX, 0, 0},
    {"sms_code", HTTP_FIELD_STRING, false, SMS_CODE_DIGITS + 1, 0, 0},
};

/* A new login password, proved by the current one or by an SMS code of
 * purpose reset_password (the one who forgot it, logged in by an SMS
 * code). Every other session of the user ends. */
void http_handle_me_password_set(struct http_request *req)
{
    json_t *body =
        http_json_body(req, S_password_set_fields, QB_ARRAY_COUNT(S_password_set_fields));
    if (body == NULL)
        return;
    const struct identity_session *session = http_request_session(req);
    const char *password = http_json_string(body, "password");
    const char *current = http_json_string(body, "current_password");
    const char *sms_code = http_json_string(body, "sms_code");
    if ((current == NULL) == (sms_code == NULL)) {
        http_reply_error_message(req, QB_E_PARAM,
                                 "give current_password, or sms_code (a code of purpose "
                                 "reset_password), and not both");
        goto out;
    }
    if (!http_new_password_check(req, password) ||
        (sms_code != NULL && !http_sms_code_check(req, sms_code)))
        goto out;
    /* On a password thread: the current password verified (when given),
     * the new one hashed, then the command. */
    struct http_password_job *job =
        current != NULL ? S_login_password_job(req, current, IDENTITY_OP_PASSWORD_SET)
                        : http_password_job_new(req, IDENTITY_OP_PASSWORD_SET, false);
    if (job == NULL)
        goto out;
    struct identity_cmd *c = job->next;
    snprintf(c->user_id, sizeof c->user_id, "%s", session->user_id);
    snprintf(c->session_id, sizeof c->session_id, "%s", session->id);
    snprintf(c->sms_code, sizeof c->sms_code, "%s", sms_code != NULL ? sms_code : "");
    job->hash_new = true;
    snprintf(job->new_password, sizeof job->new_password, "%s", password);
    http_password_job_start(req, job, http_resume_no_content,
                            current != NULL ? S_password_refused_resume : NULL);
out:
    json_decref(body);
}

/* --- PUT /v1/me/phone -------------------------------------------------------------- */

/* Room for a number as people write it ("+86 139-0000-0002"): normalised here. */
#define S_PHONE_TEXT_SIZE_MAX 32

static const struct http_field S_phone_set_fields[] = {
    {"phone", HTTP_FIELD_STRING, true, S_PHONE_TEXT_SIZE_MAX, 0, 0},
    {"sms_code", HTTP_FIELD_STRING, true, SMS_CODE_DIGITS + 1, 0, 0},
    {"payment_password", HTTP_FIELD_STRING, true, S_PAYMENT_PASSWORD_SIZE_MAX, 0, 0},
};

static void S_phone_set_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct identity_cmd *c = (struct identity_cmd *)cmd;
    if (cmd->result == QB_OK && c->outcome == QB_E_PARAM) {
        http_reply_error_message(req, QB_E_PARAM, "phone is the wallet's phone already");
        http_identity_cmd_done(c);
        return;
    }
    if (cmd->result == QB_OK && c->outcome == QB_OK) {
        /* The last four digits only: a log travels further than the table. */
        size_t before = strlen(c->phone_before), after = strlen(c->user.phone);
        QB_ASSERT(before >= 4 && after >= 4);
        log_event(LOG_INFO, "identity.phone_changed", "user_id=%s old=****%s new=****%s",
                  c->user.id, c->phone_before + before - 4, c->user.phone + after - 4);
    }
    http_resume_user(req, cmd);
}

/* The wallet moves to a new phone: proved by the payment password and a
 * code of purpose change_phone sent to the new phone. */
void http_handle_me_phone_set(struct http_request *req)
{
    json_t *body = http_json_body(req, S_phone_set_fields, QB_ARRAY_COUNT(S_phone_set_fields));
    if (body == NULL)
        return;
    const struct identity_session *session = http_request_session(req);
    const char *sms_code = http_json_string(body, "sms_code");
    const char *payment_password = http_json_string(body, "payment_password");
    char phone[SMS_PHONE_SIZE_MAX];
    if (!phone_normalize(http_json_string(body, "phone"), phone)) {
        http_reply_error_message(req, QB_E_PARAM,
                                 "phone must be a mainland China mobile number (11 digits)");
        goto out;
    }
    if (!http_sms_code_check(req, sms_code) || !http_payment_password_check(req, payment_password))
        goto out;
    struct identity_cmd *c = http_identity_cmd_new(req, IDENTITY_OP_PHONE_CHANGE);
    if (c == NULL)
        goto out;
    snprintf(c->user_id, sizeof c->user_id, "%s", session->user_id);
    snprintf(c->phone, sizeof c->phone, "%s", phone);
    snprintf(c->sms_code, sizeof c->sms_code, "%s", sms_code);
    snprintf(c->payment_password, sizeof c->payment_password, "%s", payment_password);
    http_request_submit(req, &c->cmd, S_phone_set_resume);
out:
    json_decref(body);
}

/* --- POST /v1/me/close -------------------------------------------------------------- */

static const struct http_field S_close_fields[] = {
    {"payment_password", HTTP_FIELD_STRING, true, S_PAYMENT_PASSWORD_SIZE_MAX, 0, 0},
    {"sms_code", HTTP_FIELD_STRING, true, SMS_CODE_DIGITS + 1, 0, 0},
};

static void S_close_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct identity_cmd *c = (struct identity_cmd *)cmd;
    if (cmd->result == QB_OK && c->outcome == QB_OK)
        log_event(LOG_INFO, "identity.account_closed", "user_id=%s", c->user.id);
    http_resume_user(req, cmd);
}

/* The owner closes an empty wallet for good: proved by the payment password
 * and a code of purpose close_account sent to the wallet's phone. Every
 * session ends, this one too. */
void http_handle_me_close(struct http_request *req)
{
    json_t *body = http_json_body(req, S_close_fields, QB_ARRAY_COUNT(S_close_fields));
    if (body == NULL)
        return;
    const char *sms_code = http_json_string(body, "sms_code");
    const char *payment_password = http_json_string(body, "payment_password");
    if (!http_payment_password_check(req, payment_password) || !http_sms_code_check(req, sms_code))
        goto out;
    struct identity_cmd *c = http_identity_cmd_new(req, IDENTITY_OP_CLOSE);
    if (c == NULL)
        goto out;
    snprintf(c->user_id, sizeof c->user_id, "%s", http_request_session(req)->user_id);
    snprintf(c->sms_code, sizeof c->sms_code, "%s", sms_code);
    snprintf(c->payment_password, sizeof c->payment_password, "%s", payment_password);
    http_request_submit(req, &c->cmd, S_close_resume);
out:
    json_decref(body);
}

/* --- GET /v1/me/closing ------------------------------------------------------------- */

/* Whether the caller's wallet could close now, and what stands in the way:
 * all of it, so that a client shows one checklist before asking for a
 * code. Read from committed state; the closing itself checks again. */
void http_handle_me_closing_get(struct http_request *req)
{
    struct identity_user *user = http_me_new(req);
    if (user == NULL)
        return;
    struct ledger_account_view view;
    uint32_t blockers = 0;
    enum qb_error err = http_request_account_view(req, user->account_id, &view);
    if (err == QB_OK) {
        struct store *reader = http_reader_acquire(req);
        if (reader == NULL)
            return;
        err = identity_close_blockers(http_request_env(req), reader, user, &view, &blockers);
        http_reader_release(req, reader);
    }
    if (err != QB_OK) {
        http_reply_error(req, err);
        return;
    }
    json_t *reasons = json_array();
    for (size_t i = 0; reasons != NULL && i < DOMAIN_CLOSE_BLOCKER_COUNT; i++)
        if ((blockers & (uint32_t)1 << i) != 0 &&
            json_array_append_new(reasons,
                                  json_string(domain_close_blocker_name((uint32_t)1 << i))) != 0) {
            json_decref(reasons);
            reasons = NULL;
        }
    http_reply_json_new(
        req, 200,
        reasons == NULL ? NULL
                        : json_pack("{s:b, s:o}", "closable", blockers == 0, "reasons", reasons));
}

/* --- GET /v1/me/security ------------------------------------------------------------- */

void http_handle_me_security_get(struct http_request *req)
{
    const struct identity_session *session = http_request_session(req);
    const struct domain_env *env = http_request_env(req);
    if (env == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        return;
    }
    struct identity_security_item items[IDENTITY_SECURITY_ITEMS];
    int score = 0;
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return;
    enum qb_error err = identity_security_status(env, reader, session->user_id, items, &score);
    http_reader_release(req, reader);
    if (err != QB_OK) {
        http_reply_error(req, err == QB_E_NOT_FOUND ? QB_E_UNAUTHORIZED : err);
        return;
    }
    json_t *array = json_array();
    for (size_t i = 0; array != NULL && i < IDENTITY_SECURITY_ITEMS; i++)
        http_array_add(&array, json_pack("{s:s, s:b, s:i}", "name", items[i].name, "ok",
                                         (int)items[i].ok, "weight", items[i].weight));
    json_t *body = array != NULL ? json_pack("{s:i, s:o}", "score", score, "items", array) : NULL;
    if (body != NULL)
        http_reply_json(req, 200, body);
    else
        http_reply_error(req, QB_E_INTERNAL);
    json_decref(body);
}

/* --- GET /v1/me/security-events, GET /admin/users/{id}/security-events -------------------- */

static enum qb_error S_security_events_read(struct http_request *req, struct store *reader,
                                            const void *user_id, int64_t cursor, void *rows,
                                            size_t room, size_t *count)
{
    (void)req;
    struct identity_user user;
    enum qb_error err = identity_user_get(reader, user_id, &user);
    if (err == QB_OK)
        err = identity_security_events(reader, user_id, cursor, rows, room, count);
    return err;
}

static json_t *S_security_events_item(struct http_request *req, struct store *reader,
                                      const void *arg, const void *row, enum qb_error *err)
{
    (void)req, (void)reader, (void)arg, (void)err;
    const struct identity_security_event *event = row;
    return json_pack("{s:s, s:s, s:o}", "kind", event->kind, "detail", event->detail, "created_at",
                     http_time_json(event->created_at_ms));
}

static const struct http_list S_security_events = {
    sizeof(struct identity_security_event), HTTP_LIST_KEY(struct identity_security_event, id),
    S_security_events_read, S_security_events_item};

void http_reply_security_events(struct http_request *req, const char *user_id)
{
    http_reply_list(req, &S_security_events, user_id);
}

void http_handle_me_security_events_list(struct http_request *req)
{
    http_reply_security_events(req, http_request_session(req)->user_id);
}

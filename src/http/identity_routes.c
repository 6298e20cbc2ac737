/*
 * identity_routes.c — signing up, signing in and out, and what a user reads
 * about themselves: /v1/sms-codes, /v1/users, /v1/sessions, /v1/me,
 * /v1/me/balances, /v1/me/kyc.
 *
 * Each write validates its body against a field table, does the pure
 * checks on the HTTP thread and hands one identity or SMS command to the
 * ledger. A login password's Argon2id (about 100 ms and 64 MiB, for
 * registration and login) runs on a password thread, never on an HTTP
 * thread nor on the ledger's writer: the handler hands a password job
 * (http_password_job_start) that runs the command once the password is
 * done. The resume function answers from the ledger result first, then
 * from the command's outcome (domain.h).
 *
 * Never in a response: a password, its hash, an SMS code, a payment
 * password or an id number. The session token appears exactly once, in the
 * answer to POST /v1/sessions.
 */
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/crypto.h"
#include "base/log.h"
#include "http/internal.h"
#include "wallet/cards.h"
#include "wallet/limits.h"

/* Field sizes in bytes, as the tables check them. */
#define S_PHONE_SIZE_MAX (SMS_PHONE_SIZE_MAX - 1)
#define S_SMS_CODE_SIZE_MAX (SMS_CODE_DIGITS + 1)
#define S_PASSWORD_SIZE_MAX IDENTITY_PASSWORD_SIZE_MAX
#define S_NAME_SIZE_MAX (IDENTITY_DISPLAY_NAME_SIZE_MAX - 1)
#define S_DEVICE_NAME_SIZE_MAX (IDENTITY_DEVICE_NAME_SIZE_MAX - 1)
#define S_REAL_NAME_SIZE_MAX (IDENTITY_REAL_NAME_SIZE_MAX - 1)
#define S_ID_NUMBER_SIZE_MAX (IDENTITY_ID_NUMBER_SIZE - 1)
#define S_TARGET_SIZE_MAX 95 /* a card number, with room */

_Static_assert(S_SMS_CODE_SIZE_MAX < sizeof(((struct identity_cmd *)0)->sms_code),
               "sms_code field fits the command");

/* A phone, or false after replying PARAM_ERROR. */
static bool S_phone_check(struct http_request *req, const char *phone)
{
    if (phone_is_valid(phone))
        return true;
    http_reply_error_message(req, QB_E_PARAM,
                             "phone must be a mainland China mobile number (11 digits)");
    return false;
}

/* --- POST /v1/sms-codes -------------------------------------------------------- */

static const struct http_field S_sms_code_fields[] = {
    {"phone", HTTP_FIELD_STRING, true, S_PHONE_SIZE_MAX, 0, 0},
    {"purpose", HTTP_FIELD_STRING, true, 32, 0, 0},
    {"target", HTTP_FIELD_STRING, false, S_TARGET_SIZE_MAX, 0, 0},
};

static void S_sms_codes_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct sms_send_cmd *c = (struct sms_send_cmd *)cmd;
    if (cmd->result != QB_OK) {
        http_reply_error(req, cmd->result);
    } else if (c->outcome == QB_E_RATE_LIMITED) {
        int64_t retry_after_s = (c->retry_after_ms + 999) / 1000;
        if (retry_after_s < 1)
            retry_after_s = 1;
        char value[24];
        snprintf(value, sizeof value, "%lld", (long long)retry_after_s);
        http_reply_header(req, "Retry-After", value);
        char message[96], wait[32];
        clock_format_wait(retry_after_s, wait, sizeof wait);
        snprintf(message, sizeof message, "too many codes for this phone; retry in %s", wait);
        http_reply_error_message(req, QB_E_RATE_LIMITED, message);
    } else if (c->outcome != QB_OK) {
        http_reply_error(req, c->outcome);
    } else {
        /* Once a phone a day, at most: a stranger who spends a phone's
         * codes blocks its owner's until midnight (docs/sms.md), and this
         * line, with the access lines of its request id and peers, is
         * how an operator sees it. */
        if (c->daily_cap_reached)
            log_event(LOG_WARN, "sms.daily_cap_reached", "phone=****%s purpose=%s",
                      c->phone + strlen(c->phone) - 4, sms_purpose_name(c->purpose));
        int64_t ttl_s = (c->env->settings.sms_code_ttl_ms + 999) / 1000;
        json_t *body = json_pack("{s:I}", "expires_in", (json_int_t)ttl_s);
        http_reply_json_new(req, 202, body);
    }
    ledger_cmd_release(cmd);
}

void http_handle_sms_codes_create(struct http_request *req)
{
    json_t *body = http_json_body(req, S_sms_code_fields, QB_ARRAY_COUNT(S_sms_code_fields));
    if (body == NULL)
        return;
    const char *phone = http_json_string(body, "phone");
    const char *purpose_text = http_json_string(body, "purpose");
    const char *target = http_json_string(body, "target");
    enum sms_purpose purpose;
    struct sms_send_cmd *c = NULL;
    if (!S_phone_check(req, phone))
        goto out;
    if (!sms_purpose_parse(purpose_text, &purpose)) {
        http_reply_error_message(req, QB_E_PARAM,
                                 "purpose must be one of register, login, bind_card, "
                                 "reset_payment_password, new_device, unfreeze, "
                                 "reset_password, change_phone, close_account");
        goto out;
    }
    /* A bind_card code is for the whole card number, which is kept with
     * the code only as its keyed hash, and for the wallet that asked
     * (wallet_card_sms_target), so it asks in its own session: a code the
     * card's holder reads out to someone binds the card in the holder's
     * wallet alone. The purposes bound to the phone alone take no target. */
    const struct domain_env *env = http_request_env(req);
    char code_target[SMS_TARGET_SIZE_MAX] = "";
    struct sms_detail detail;
    memset(&detail, 0, sizeof detail);
    if (env == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        goto out;
    }
    if (purpose == SMS_PURPOSE_BIND_CARD) {
        size_t size = target != NULL ? strlen(target) : 0;
        if (size < BANK_CARD_DIGITS_MIN || size > BANK_CARD_DIGITS_MAX ||
            strspn(target, "0123456789") != size) {
            http_reply_error_message(req, QB_E_PARAM,
                                     "target must be the card number to bind: 16 to 19 digits");
            goto out;
        }
        if (!http_request_user_authenticate(req))
            goto out;
        /* A number the binding would refuse after the code (no card's, or
         * no debit card of a bank the wallet takes) is refused before a
         * message is paid for and one of the phone's codes of the day used. */
        struct bank_card_info info;
        if (!bank_card_lookup(target, &info)) {
            http_reply_error_message(req, QB_E_CARD_INVALID,
                                     "target must be the number of a debit card of a supported "
                                     "bank");
            goto out;
        }
        /* The message names the card by its last four digits and the
         * wallet it would be bound to by that wallet's masked phone, so
         * that a holder talked into reading the code out hears where the
         * card would go (docs/sms.md). */
        struct identity_user *me = http_me_new(req);
        if (me == NULL)
            goto out;
        /* A frozen wallet binds no card: no code is paid for either. */
        if (me->status != IDENTITY_ACTIVE) {
            http_reply_error(req, QB_E_ACCOUNT_FROZEN);
            goto out;
        }
        /* Nor for a card the wallet has bound already, or a wallet full. */
        struct store *reader = http_reader_acquire(req);
        if (reader == NULL)
            goto out;
        enum qb_error bindable = wallet_card_bindable(env, reader, me->id, target);
        http_reader_release(req, reader);
        if (bindable != QB_OK) {
            http_reply_card_unbindable(req, bindable);
            goto out;
        }
        if (!wallet_card_sms_target(env, me->id, target, code_target) ||
            !phone_is_valid(me->phone)) {
            http_reply_error(req, QB_E_INTERNAL);
            goto out;
        }
        memcpy(detail.card_last4, target + size - 4, 4);
        sms_phone_mask(me->phone, detail.wallet_phone);
    }
    if (purpose != SMS_PURPOSE_BIND_CARD && target != NULL && target[0] != '\0') {
        http_reply_error_message(req, QB_E_PARAM, "target is only for purpose bind_card");
        goto out;
    }
    /* A change_phone code, likewise, is asked for in the session of the
     * wallet to move, moves that wallet alone, and its message names it by
     * its masked phone: a new phone's holder talked into reading a code out
     * hears which wallet would take their number. */
    if (purpose == SMS_PURPOSE_CHANGE_PHONE) {
        if (!http_request_user_authenticate(req))
            goto out;
        struct identity_user *me = http_me_new(req);
        if (me == NULL)
            goto out;
        if (me->status != IDENTITY_ACTIVE) { /* a frozen wallet does not move */
            http_reply_error(req, QB_E_ACCOUNT_FROZEN);
            goto out;
        }
        /* Nor one without a payment password, which the move asks first. */
        if (!me->payment_password_set) {
            http_reply_error(req, QB_E_PASSWORD_NOT_SET);
            goto out;
        }
        if (!phone_is_valid(me->phone)) {
            http_reply_error(req, QB_E_INTERNAL);
            goto out;
        }
        /* Nor one held on its phone: the code could open nothing. */
        struct store *reader = http_reader_acquire(req);
        if (reader == NULL)
            goto out;
        int64_t held_until_ms;
        enum qb_error held =
            identity_phone_held_until(reader, me->id, clock_now_ms(env->clock), &held_until_ms);
        http_reader_release(req, reader);
        if (held != QB_OK) {
            http_reply_error(req, held);
            goto out;
        }
        if (held_until_ms > 0) {
            http_reply_phone_held(req, held_until_ms);
            goto out;
        }
        identity_phone_change_target(me->id, code_target);
        sms_phone_mask(me->phone, detail.wallet_phone);
    }
    c = http_request_alloc(req, sizeof *c);
    if (c == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        goto out;
    }
    sms_send_cmd_init(c, env);
    snprintf(c->phone, sizeof c->phone, "%s", phone);
    c->purpose = purpose;
    _Static_assert(sizeof code_target <= sizeof c->target, "a target fits a code's");
    snprintf(c->target, sizeof c->target, "%s", code_target);
    c->detail = detail;
    http_request_submit(req, &c->cmd, S_sms_codes_resume);
out:
    json_decref(body);
}

/* --- POST /v1/users -------------------------------------------------------------- */

static const struct http_field S_register_fields[] = {
    {"phone", HTTP_FIELD_STRING, true, S_PHONE_SIZE_MAX, 0, 0},
    {"sms_code", HTTP_FIELD_STRING, true, S_SMS_CODE_SIZE_MAX, 0, 0},
    {"password", HTTP_FIELD_SECRET, true, S_PASSWORD_SIZE_MAX, 0, 0},
    {"display_name", HTTP_FIELD_STRING, true, S_NAME_SIZE_MAX, 0, 0},
};

static void S_register_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct identity_cmd *c = (struct identity_cmd *)cmd;
    if (!http_identity_refused(req, c)) {
        json_t *body =
            json_pack("{s:s, s:s, s:s, s:i, s:o}", "id", c->user.id, "phone", c->user.phone,
                      "display_name", c->user.display_name, "kyc_level", c->user.kyc_level,
                      "created_at", http_time_json(c->user.created_at_ms));
        if (body != NULL)
            http_reply_json(req, 201, body);
        else
            http_reply_error(req, QB_E_INTERNAL);
        json_decref(body);
    }
    http_identity_cmd_done(c);
}

void http_handle_users_create(struct http_request *req)
{
    json_t *body = http_json_body(req, S_register_fields, QB_ARRAY_COUNT(S_register_fields));
    if (body == NULL)
        return;
    const char *phone = http_json_string(body, "phone");
    const char *sms_code = http_json_string(body, "sms_code");
    const char *password = http_json_string(body, "password");
    const char *display_name = http_json_string(body, "display_name");
    if (!S_phone_check(req, phone) || !http_sms_code_check(req, sms_code) ||
        !http_new_password_check(req, password))
        goto out;
    if (!identity_display_name_is_valid(display_name)) {
        http_reply_error_message(req, QB_E_PARAM,
                                 "display_name must be 1 to 64 bytes with a visible character");
        goto out;
    }
    /* The password is hashed on a password thread, then the command runs. */
    struct http_password_job *job = http_password_job_new(req, IDENTITY_OP_REGISTER, false);
    if (job == NULL)
        goto out;
    struct identity_cmd *c = job->next;
    snprintf(c->phone, sizeof c->phone, "%s", phone);
    snprintf(c->sms_code, sizeof c->sms_code, "%s", sms_code);
    snprintf(c->display_name, sizeof c->display_name, "%s", display_name);
    job->hash_new = true;
    snprintf(job->new_password, sizeof job->new_password, "%s", password);
    http_password_job_start(req, job, S_register_resume, NULL);
out:
    json_decref(body);
}

/* --- POST /v1/sessions ------------------------------------------------------------- */

static const struct http_field S_login_fields[] = {
    {"phone", HTTP_FIELD_STRING, true, S_PHONE_SIZE_MAX, 0, 0},
    {"password", HTTP_FIELD_SECRET, false, S_PASSWORD_SIZE_MAX, 0, 0},
    {"sms_code", HTTP_FIELD_STRING, false, S_SMS_CODE_SIZE_MAX, 0, 0},
    {"device_name", HTTP_FIELD_STRING, false, S_DEVICE_NAME_SIZE_MAX, 0, 0},
    {"device_key", HTTP_FIELD_SECRET, false, IDENTITY_TOKEN_TEXT_SIZE, 0, 0},
};

static const char S_login_refused[] = "phone or password is wrong";

static void S_login_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct identity_cmd *c = (struct identity_cmd *)cmd;
    if (cmd->result == QB_OK && c->outcome == QB_E_PASSWORD_LOCKED) {
        http_reply_login_locked(req, c->password_try.locked_until_ms);
    } else if (cmd->result == QB_OK && c->outcome == QB_E_UNAUTHORIZED) {
        /* The wallet closed while its password was being checked. */
        http_reply_header(req, "WWW-Authenticate", "Bearer");
        http_reply_error_message(req, QB_E_UNAUTHORIZED, S_login_refused);
    } else if (cmd->result == QB_OK && c->outcome == QB_E_SMS_CODE_REQUIRED) {
        http_reply_error_message(req, QB_E_SMS_CODE_REQUIRED,
                                 "this device is new to the account: ask for an SMS code of "
                                 "purpose new_device and log in again with it as sms_code");
    } else if (cmd->result == QB_OK && c->outcome == QB_E_ACCOUNT_FROZEN) {
        http_reply_error_message(req, QB_E_ACCOUNT_FROZEN,
                                 "the wallet is frozen, and its phone may be a lost one: log in "
                                 "with the password; an owner who forgot it asks support");
    } else if (!http_identity_refused(req, c)) {
        json_t *body = json_pack(
            "{s:s, s:s, s:o, s:s}", "token", c->token, "user_id", c->session.user_id, "expires_at",
            http_time_json(c->session.expires_at_ms), "device_key", c->device_key);
        if (body != NULL)
            http_reply_json(req, 201, body);
        else
            http_reply_error(req, QB_E_INTERNAL);
        json_decref(body);
    }
    http_identity_cmd_done(c);
}

/* Answers a wrong login password once it has been counted. */
static void S_login_failed_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct identity_cmd *c = (struct identity_cmd *)cmd;
    http_login_failure_record(req, c);
    if (cmd->result != QB_OK) {
        http_reply_error(req, cmd->result);
    } else if (c->outcome == QB_E_PASSWORD_LOCKED) {
        http_reply_login_locked(req, c->password_try.locked_until_ms);
    } else {
        http_reply_header(req, "WWW-Authenticate", "Bearer");
        http_reply_error_message(req, QB_E_UNAUTHORIZED, S_login_refused);
    }
    http_identity_cmd_done(c);
}

void http_handle_sessions_create(struct http_request *req)
{
    json_t *body = http_json_body(req, S_login_fields, QB_ARRAY_COUNT(S_login_fields));
    if (body == NULL)
        return;
    const struct domain_env *env = http_request_env(req);
    const char *phone = http_json_string(body, "phone");
    const char *password = http_json_string(body, "password");
    const char *sms_code = http_json_string(body, "sms_code");
    const char *device_name = http_json_string(body, "device_name");
    const char *device_key = http_json_string(body, "device_key");
    char hash[IDENTITY_PASSWORD_HASH_SIZE_MAX] = "";
    struct identity_user *user = http_request_alloc(req, sizeof *user);
    if (user == NULL || env == NULL) {
        http_reply_error(req, user == NULL ? QB_E_TOO_LARGE : QB_E_INTERNAL);
        goto out;
    }
    if (!S_phone_check(req, phone) || (sms_code != NULL && !http_sms_code_check(req, sms_code)))
        goto out;
    uint8_t key_hash[CRYPTO_SHA256_SIZE];
    if (device_key != NULL && !identity_secret_hash(device_key, key_hash)) {
        http_reply_error_message(req, QB_E_PARAM,
                                 "device_key must be the 64 hex characters a login gave out");
        goto out;
    }
    if (device_name != NULL && device_name[0] != '\0' &&
        !identity_display_name_is_valid(device_name)) {
        http_reply_error_message(req, QB_E_PARAM,
                                 "device_name must be 1 to 64 bytes of shown text with a visible "
                                 "character");
        goto out;
    }
    /* An empty password is none: a client that sends one with a code
     * means the code. */
    if (password != NULL && password[0] == '\0' && sms_code != NULL)
        password = NULL;
    if (password == NULL && sms_code == NULL) {
        http_reply_error_message(req, QB_E_PARAM, "password or sms_code is required");
        goto out;
    }
    if (password == NULL) {
        /* Logging in with a code of purpose login: no password to guess,
         * so no lock to look at; the command checks the code. */
        struct identity_cmd *c = http_identity_cmd_new(req, IDENTITY_OP_SESSION_CREATE_BY_CODE);
        if (c == NULL)
            goto out;
        snprintf(c->phone, sizeof c->phone, "%s", phone);
        snprintf(c->sms_code, sizeof c->sms_code, "%s", sms_code);
        snprintf(c->device_name, sizeof c->device_name, "%s",
                 device_name != NULL ? device_name : "");
        snprintf(c->device_key, sizeof c->device_key, "%s", device_key != NULL ? device_key : "");
        http_request_submit(req, &c->cmd, S_login_resume);
        goto out;
    }

    /* Step 1: the user and their stored hash; the read connection goes back
     * to the pool before the slow verify. */
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        goto out;
    enum qb_error err = identity_user_find_by_phone(reader, phone, user);
    int64_t locked_until_ms = 0, device_seq = 0;
    if (err == QB_OK) {
        err = identity_user_password_hash(reader, user->id, hash);
        /* A device that holds a live key of the account has a lock of its
         * own: strangers' guesses do not lock its owner out. */
        if (err == QB_OK)
            err = identity_login_device_lock(reader, user->id, device_key != NULL ? device_key : "",
                                             &device_seq, &locked_until_ms);
        if (device_seq == 0)
            locked_until_ms = user->login_locked_until_ms;
    } else if (err == QB_E_NOT_FOUND &&
               identity_login_guess_locked_until(reader, env, phone, &locked_until_ms) != QB_OK) {
        err = QB_E_STORAGE;
    }
    http_reader_release(req, reader);
    if (err != QB_OK && err != QB_E_NOT_FOUND) {
        http_reply_error(req, err);
        goto out;
    }
    /* A locked login evaluates no guess at all, registered phone or not. */
    if (locked_until_ms > clock_now_ms(env->clock)) {
        http_reply_login_locked(req, locked_until_ms);
        goto out;
    }

    /* Step 2, on a password thread: the password, with the same cost for
     * an unknown phone (no hash: the dummy's); then the session, or the
     * wrong password counted, alike for a phone nobody registered
     * (user_id ""). */
    struct http_password_job *job = http_password_job_new(req, IDENTITY_OP_SESSION_CREATE, true);
    if (job == NULL)
        goto out;
    snprintf(job->password, sizeof job->password, "%s", password);
    memcpy(job->hash, hash, sizeof job->hash);
    struct identity_cmd *failed = job->failed;
    snprintf(failed->user_id, sizeof failed->user_id, "%s", err == QB_E_NOT_FOUND ? "" : user->id);
    snprintf(failed->phone, sizeof failed->phone, "%s", phone);
    failed->device_seq = device_seq;
    struct identity_cmd *c = job->next;
    snprintf(c->user_id, sizeof c->user_id, "%s", user->id);
    snprintf(c->sms_code, sizeof c->sms_code, "%s", sms_code != NULL ? sms_code : "");
    snprintf(c->device_name, sizeof c->device_name, "%s", device_name != NULL ? device_name : "");
    snprintf(c->device_key, sizeof c->device_key, "%s", device_key != NULL ? device_key : "");
    http_password_job_start(req, job, S_login_resume, S_login_failed_resume);
out:
    crypto_wipe(hash, sizeof hash);
    json_decref(body);
}

/* --- DELETE /v1/sessions/current ------------------------------------------------- */

void http_handle_sessions_current_delete(struct http_request *req)
{
    const struct identity_session *session = http_request_session(req);
    QB_ASSERT(session != NULL);
    struct identity_cmd *c = http_identity_cmd_new(req, IDENTITY_OP_SESSION_REVOKE);
    if (c == NULL)
        return;
    snprintf(c->user_id, sizeof c->user_id, "%s", session->user_id);
    snprintf(c->session_id, sizeof c->session_id, "%s", session->id);
    http_request_submit(req, &c->cmd, http_resume_no_content);
}

/* --- GET /v1/me, GET /v1/me/balances ----------------------------------------------- */

void http_handle_me_get(struct http_request *req)
{
    /* The user with the limits that apply to their payments. */
    struct identity_user *user;
    struct wallet_spending s;
    json_t *limits = http_me_limits(req, &user, &s);
    if (limits == NULL)
        return;
    json_t *body = http_user_json(user, false);
    if (body != NULL && json_object_set_new(body, "limits", limits) != 0) {
        json_decref(body);
        body = NULL;
    } else if (body == NULL) {
        json_decref(limits);
    }
    if (body != NULL)
        http_reply_json(req, 200, body);
    else
        http_reply_error(req, QB_E_INTERNAL);
    json_decref(body);
}

/* --- PUT /v1/me/display-name ------------------------------------------------------ */

static const struct http_field S_display_name_fields[] = {
    {"display_name", HTTP_FIELD_STRING, true, S_NAME_SIZE_MAX, 0, 0},
};

/* The caller's name as others see it (masked): 200 and the user. */
void http_handle_me_display_name_set(struct http_request *req)
{
    json_t *body =
        http_json_body(req, S_display_name_fields, QB_ARRAY_COUNT(S_display_name_fields));
    if (body == NULL)
        return;
    const char *display_name = http_json_string(body, "display_name");
    if (!identity_display_name_is_valid(display_name)) {
        http_reply_error_message(req, QB_E_PARAM,
                                 "display_name must be 1 to 64 bytes with a visible character");
        goto out;
    }
    struct identity_cmd *c = http_identity_cmd_new(req, IDENTITY_OP_DISPLAY_NAME_SET);
    if (c == NULL)
        goto out;
    snprintf(c->user_id, sizeof c->user_id, "%s", http_request_session(req)->user_id);
    snprintf(c->display_name, sizeof c->display_name, "%s", display_name);
    http_request_submit(req, &c->cmd, http_resume_user);
out:
    json_decref(body);
}

void http_handle_me_balances_get(struct http_request *req)
{
    struct identity_user *user = http_me_new(req);
    if (user == NULL)
        return;
    enum qb_error err;
    json_t *balances = http_balances_json(req, user->account_id, &err);
    if (balances == NULL) {
        http_reply_error(req, err);
        return;
    }
    json_t *body = json_pack("{s:o}", "balances", balances);
    if (body != NULL)
        http_reply_json(req, 200, body);
    else
        http_reply_error(req, QB_E_INTERNAL);
    json_decref(body);
}

/* --- POST /v1/me/kyc ------------------------------------------------------------------ */

static const struct http_field S_kyc_fields[] = {
    {"real_name", HTTP_FIELD_STRING, true, S_REAL_NAME_SIZE_MAX, 0, 0},
    {"id_number", HTTP_FIELD_STRING, true, S_ID_NUMBER_SIZE_MAX, 0, 0},
};

static void S_kyc_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct identity_cmd *c = (struct identity_cmd *)cmd;
    if (cmd->result == QB_OK && c->outcome == QB_E_IDENTITY_MISMATCH &&
        c->user.id_number_last4[0] != '\0') {
        char message[160];
        snprintf(message, sizeof message,
                 "this wallet was verified for the person of the id number ending %s: it is "
                 "verified again with that number and the real name verified then only",
                 c->user.id_number_last4);
        http_reply_error_message(req, QB_E_IDENTITY_MISMATCH, message);
    } else if (!http_identity_refused(req, c)) {
        json_t *body = http_user_json(&c->user, true);
        if (body != NULL)
            http_reply_json(req, 200, body);
        else
            http_reply_error(req, QB_E_INTERNAL);
        json_decref(body);
    }
    crypto_wipe(c->real_name, sizeof c->real_name);
    http_identity_cmd_done(c);
}

void http_handle_me_kyc_submit(struct http_request *req)
{
    json_t *body = http_json_body(req, S_kyc_fields, QB_ARRAY_COUNT(S_kyc_fields));
    if (body == NULL)
        return;
    const struct identity_session *session = http_request_session(req);
    const char *real_name = http_json_string(body, "real_name");
    const char *id_number = http_json_string(body, "id_number");
    const struct domain_env *env = http_request_env(req);
    if (!identity_display_name_is_valid(real_name)) {
        /* The command's own rule for a real name: the answer names it. */
        http_reply_error_message(req, QB_E_PARAM,
                                 "real_name must be 1 to 64 bytes with a visible character");
        goto out;
    }
    if (!identity_id_number_is_valid(id_number, clock_now_ms(env->clock))) {
        http_reply_error_message(req, QB_E_PARAM,
                                 "id_number is not a valid resident identity number");
        goto out;
    }
    struct identity_cmd *c = http_identity_cmd_new(req, IDENTITY_OP_KYC_SUBMIT);
    if (c == NULL)
        goto out;
    snprintf(c->user_id, sizeof c->user_id, "%s", session->user_id);
    snprintf(c->real_name, sizeof c->real_name, "%s", real_name);
    snprintf(c->id_number, sizeof c->id_number, "%s", id_number);
    http_request_submit(req, &c->cmd, S_kyc_resume);
out:
    json_decref(body);
}

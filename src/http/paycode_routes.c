/*
 * paycode_routes.c — the wallet side of payment codes (src/merchant/paycode.h,
 * docs/paycode.md):
 *
 *   POST   /v1/me/devices                        provision a device: its seed, once
 *   GET    /v1/me/devices                        the caller's devices (never a seed)
 *   DELETE /v1/me/devices/{id}                   revoke: its codes are refused from now
 *   GET    /v1/me/payment-code?device_id=        a code for online use
 *   GET    /v1/me/payment-code-settings          the password-free amount and count
 *   PUT    /v1/me/payment-code-settings          lower (or restore) them, payment password
 *   GET    /v1/me/pending-payments               codepay orders waiting for the caller
 *   POST   /v1/me/pending-payments/{id}/confirm  pay one with the payment password
 *
 * Another user's device or pending payment is NOT_FOUND, like one that
 * never was.
 */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/text.h"
#include "http/internal.h"
#include "merchant/paycode.h"

static void S_password_refusal(struct http_request *req, enum qb_error outcome,
                               const struct identity_password_try *t)
{
    if (outcome == QB_E_NOT_FOUND)
        http_reply_error(req, QB_E_UNAUTHORIZED); /* a session whose user is gone */
    else
        http_reply_password_refusal(req, outcome, t);
}

/* --- devices ---------------------------------------------------------------------- */

/* 429 RATE_LIMITED for a device that would be added past the day's count
 * (docs/paycode.md §5), until until_ms; what the caller can do meanwhile
 * follows in after. */
static void S_device_adds_refusal(struct http_request *req, int64_t until_ms, const char *after)
{
    const struct domain_env *env = http_request_env(req);
    char until[48], message[320];
    snprintf(message, sizeof message,
             "%lld payment-code devices were added in the last 24 hours, the most a day allows: "
             "no more may be added%s; %s",
             (long long)(env != NULL ? env->settings.paycode_device_adds_max : 0),
             identity_lock_end_text(until_ms, until, sizeof until), after);
    http_reply_locked(req, QB_E_RATE_LIMITED, message, until_ms);
}

static const struct http_field S_device_fields[] = {
    {"name", HTTP_FIELD_STRING, true, MERCHANT_DEVICE_NAME_SIZE_MAX - 1, 0, 0},
    {"payment_password", HTTP_FIELD_STRING, true, 16, 0, 0},
};

static void S_device_add_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct merchant_device_add_cmd *c = (struct merchant_device_add_cmd *)cmd;
    if (cmd->result != QB_OK) {
        http_reply_error(req, cmd->result);
    } else if (c->outcome == QB_E_CONFLICT) {
        http_reply_error_message(req, c->outcome, "revoke a device before adding another");
    } else if (c->outcome == QB_E_RATE_LIMITED) {
        S_device_adds_refusal(req, c->locked_until_ms, "the devices already added keep working");
    } else if (c->outcome != QB_OK) {
        S_password_refusal(req, c->outcome, &c->password_try);
    } else {
        char seed[2 * PAYCODE_SEED_SIZE + 1];
        char slot[8];
        crypto_hex(c->seed, sizeof c->seed, seed);
        snprintf(slot, sizeof slot, "%07u", (unsigned)c->slot);
        json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "id", c->device_id, "name",
                                 c->name, "kind", "device", "slot", slot, "status", "active",
                                 "seed", seed, "created_at", http_time_json(c->created_at_ms));
        crypto_wipe(seed, sizeof seed);
        http_reply_json_new(req, 201, body);
    }
    crypto_wipe(c->seed, sizeof c->seed);
    crypto_wipe(c->payment_password, sizeof c->payment_password);
    ledger_cmd_release(cmd);
}

void http_handle_me_devices_create(struct http_request *req)
{
    json_t *body = http_json_body(req, S_device_fields, QB_ARRAY_COUNT(S_device_fields));
    if (body == NULL)
        return;
    const struct domain_env *env = http_request_env(req);
    const char *name = http_json_string(body, "name");
    const char *password = http_json_string(body, "payment_password");
    if (!http_payment_password_check(req, password))
        goto out;
    if (name[0] == '\0' || text_is_blank(name, strlen(name))) {
        http_reply_error_message(req, QB_E_PARAM,
                                 "name must be 1 to 64 bytes with a visible character");
        goto out;
    }
    struct merchant_device_add_cmd *c = http_request_alloc(req, sizeof *c);
    if (c == NULL || env == NULL) {
        http_reply_error(req, c == NULL ? QB_E_TOO_LARGE : QB_E_INTERNAL);
        goto out;
    }
    merchant_device_add_cmd_init(c, env);
    snprintf(c->user_id, sizeof c->user_id, "%s", http_request_session(req)->user_id);
    snprintf(c->name, sizeof c->name, "%s", name);
    snprintf(c->payment_password, sizeof c->payment_password, "%s", password);
    http_request_submit(req, &c->cmd, S_device_add_resume);
out:
    json_decref(body);
}

void http_handle_me_devices_list(struct http_request *req)
{
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return;
    json_t *items = NULL;
    enum qb_error err =
        merchant_devices_list(reader, http_request_session(req)->user_id, &items);
    http_reader_release(req, reader);
    if (err != QB_OK) {
        http_reply_error(req, err);
        return;
    }
    json_t *body = json_pack("{s:o}", "items", items);
    http_reply_json_new(req, 200, body);
}

static void S_device_revoke_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct merchant_device_revoke_cmd *c = (struct merchant_device_revoke_cmd *)cmd;
    if (cmd->result != QB_OK)
        http_reply_error(req, cmd->result);
    else if (c->outcome != QB_OK)
        http_reply_error(req, c->outcome);
    else
        http_reply_raw(req, 204, NULL, NULL, 0);
    ledger_cmd_release(cmd);
}

void http_handle_me_devices_delete(struct http_request *req)
{
    const struct domain_env *env = http_request_env(req);
    const char *id = http_request_param(req, "id");
    if (id == NULL || strlen(id) >= ID_TEXT_SIZE_MAX) {
        http_reply_error(req, QB_E_NOT_FOUND);
        return;
    }
    struct merchant_device_revoke_cmd *c = http_request_alloc(req, sizeof *c);
    if (c == NULL || env == NULL) {
        http_reply_error(req, c == NULL ? QB_E_TOO_LARGE : QB_E_INTERNAL);
        return;
    }
    merchant_device_revoke_cmd_init(c, env);
    snprintf(c->user_id, sizeof c->user_id, "%s", http_request_session(req)->user_id);
    snprintf(c->device_id, sizeof c->device_id, "%s", id);
    http_request_submit(req, &c->cmd, S_device_revoke_resume);
}

/* --- online codes ------------------------------------------------------------------ */

static void S_issue_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct merchant_code_issue_cmd *c = (struct merchant_code_issue_cmd *)cmd;
    if (cmd->result != QB_OK) {
        http_reply_error(req, cmd->result);
    } else if (c->outcome == QB_E_RATE_LIMITED && c->device_adds_spent) {
        S_device_adds_refusal(req, c->locked_until_ms,
                              "the server-held device for online codes is made again then, and a "
                              "device already added gives codes meanwhile (?device_id=)");
    } else if (c->outcome == QB_E_RATE_LIMITED) {
        http_reply_error_message(req, c->outcome,
                                 "ten codes this minute already; wait for the next minute");
    } else if (c->outcome == QB_E_PASSWORD_LOCKED) {
        const struct identity_password_try t = {0, c->locked_until_ms};
        http_reply_password_refusal(req, c->outcome, &t);
    } else if (c->outcome == QB_E_PAYMENT_CODE_LOCKED) {
        char until[48], message[256];
        snprintf(message, sizeof message,
                 "too many wrong codes at tills: this device's payment codes are locked%s; pay by "
                 "scanning the shop's code meanwhile, or revoke the device and add another",
                 identity_lock_end_text(c->locked_until_ms, until, sizeof until));
        json_t *extra = json_pack("{s:o}", "locked_until", http_time_json(c->locked_until_ms));
        if (extra != NULL)
            http_reply_error_extra(req, c->outcome, message, extra);
        else
            http_reply_error_message(req, c->outcome, message);
        json_decref(extra);
    } else if (c->outcome != QB_OK) {
        http_reply_error(req, c->outcome);
    } else {
        json_t *body = json_pack("{s:s, s:s, s:o}", "code", c->code, "device_id", c->device_id,
                                 "expires_at", http_time_json(c->expires_at_ms));
        http_reply_header(req, "Cache-Control", "no-store");
        http_reply_json_new(req, 200, body);
    }
    crypto_wipe(c->code, sizeof c->code);
    ledger_cmd_release(cmd);
}

void http_handle_me_payment_code_get(struct http_request *req)
{
    const struct domain_env *env = http_request_env(req);
    const char *device_id = http_request_query(req, "device_id");
    if (device_id != NULL && (device_id[0] == '\0' || strlen(device_id) >= ID_TEXT_SIZE_MAX)) {
        http_reply_error(req, QB_E_NOT_FOUND);
        return;
    }
    struct merchant_code_issue_cmd *c = http_request_alloc(req, sizeof *c);
    if (c == NULL || env == NULL) {
        http_reply_error(req, c == NULL ? QB_E_TOO_LARGE : QB_E_INTERNAL);
        return;
    }
    merchant_code_issue_cmd_init(c, env);
    snprintf(c->user_id, sizeof c->user_id, "%s", http_request_session(req)->user_id);
    snprintf(c->device_id, sizeof c->device_id, "%s", device_id != NULL ? device_id : "");
    http_request_submit(req, &c->cmd, S_issue_resume);
}

/* --- settings ----------------------------------------------------------------------- */

static void S_settings_reply(struct http_request *req, const struct merchant_code_settings *s)
{
    const struct domain_env *env = http_request_env(req);
    int64_t today = domain_day_start_ms(http_request_ledger_now_ms(req));
    int64_t used = s->day_start_ms == today ? s->day_count : 0;
    json_t *body = json_pack("{s:I, s:I, s:I, s:I, s:I}", "password_free_limit",
                             (json_int_t)s->free_limit_minor, "password_free_daily_count",
                             (json_int_t)s->free_daily_count, "password_free_used_today",
                             (json_int_t)used, "password_free_limit_max",
                             (json_int_t)env->settings.paycode_free_max_minor,
                             "password_free_daily_count_max",
                             (json_int_t)env->settings.paycode_free_daily_max);
    http_reply_json_new(req, 200, body);
}

void http_handle_me_payment_code_settings_get(struct http_request *req)
{
    const struct domain_env *env = http_request_env(req);
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return;
    struct merchant_code_settings s;
    enum qb_error err = merchant_code_settings_get(reader, &env->settings,
                                                   http_request_session(req)->user_id, &s);
    http_reader_release(req, reader);
    if (err != QB_OK) {
        http_reply_error(req, err);
        return;
    }
    S_settings_reply(req, &s);
}

static const struct http_field S_settings_fields[] = {
    {"password_free_limit", HTTP_FIELD_INTEGER_OR_NULL, false, 0, 0, INT64_C(1000000000000)},
    {"password_free_daily_count", HTTP_FIELD_INTEGER_OR_NULL, false, 0, 0, 1000},
    {"payment_password", HTTP_FIELD_STRING, false, 16, 0, 0},
};

static void S_settings_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct merchant_code_settings_set_cmd *c = (struct merchant_code_settings_set_cmd *)cmd;
    if (cmd->result != QB_OK)
        http_reply_error(req, cmd->result);
    else if (c->outcome == QB_E_PARAM && c->password_needed)
        http_reply_error_message(req, c->outcome,
                                 "payment_password is required to raise the password-free "
                                 "amount or count");
    else if (c->outcome == QB_E_PARAM) {
        /* Out of range: the command refuses nothing else as PARAM. */
        char message[160];
        snprintf(message, sizeof message,
                 "password_free_limit must be 0 to %lld and password_free_daily_count 0 to %lld",
                 (long long)c->env->settings.paycode_free_max_minor,
                 (long long)c->env->settings.paycode_free_daily_max);
        http_reply_error_message(req, c->outcome, message);
    } else if (c->outcome != QB_OK)
        S_password_refusal(req, c->outcome, &c->password_try);
    else
        S_settings_reply(req, &c->settings);
    crypto_wipe(c->payment_password, sizeof c->payment_password);
    ledger_cmd_release(cmd);
}

void http_handle_me_payment_code_settings_set(struct http_request *req)
{
    json_t *body = http_json_body(req, S_settings_fields, QB_ARRAY_COUNT(S_settings_fields));
    if (body == NULL)
        return;
    const struct domain_env *env = http_request_env(req);
    const char *password = http_json_string(body, "payment_password");
    const json_t *limit = json_object_get(body, "password_free_limit");
    const json_t *count = json_object_get(body, "password_free_daily_count");
    if (password != NULL && !http_payment_password_check(req, password))
        goto out;
    if (limit == NULL && count == NULL) {
        http_reply_error_message(req, QB_E_PARAM,
                                 "give password_free_limit, password_free_daily_count or both");
        goto out;
    }
    struct merchant_code_settings_set_cmd *c = http_request_alloc(req, sizeof *c);
    if (c == NULL || env == NULL) {
        http_reply_error(req, c == NULL ? QB_E_TOO_LARGE : QB_E_INTERNAL);
        goto out;
    }
    merchant_code_settings_set_cmd_init(c, env);
    snprintf(c->user_id, sizeof c->user_id, "%s", http_request_session(req)->user_id);
    snprintf(c->payment_password, sizeof c->payment_password, "%s",
             password != NULL ? password : "");
    if (limit != NULL)
        c->free_limit_minor = (int64_t)json_integer_value(limit);
    if (count != NULL)
        c->free_daily_count = (int64_t)json_integer_value(count);
    http_request_submit(req, &c->cmd, S_settings_resume);
out:
    json_decref(body);
}

/* --- pending payments ----------------------------------------------------------------- */

void http_handle_me_pending_payments_list(struct http_request *req)
{
    const struct domain_env *env = http_request_env(req);
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return;
    json_t *items = NULL;
    enum qb_error err = merchant_pending_list(reader, http_request_session(req)->user_id,
                                              clock_now_ms(env->clock), &items);
    http_reader_release(req, reader);
    if (err != QB_OK) {
        http_reply_error(req, err);
        return;
    }
    json_t *body = json_pack("{s:o}", "items", items);
    http_reply_json_new(req, 200, body);
}

static const struct http_field S_confirm_fields[] = {
    {"payment_password", HTTP_FIELD_STRING, true, 16, 0, 0},
};

struct S_confirm {
    struct merchant_order_pay_cmd c; /* first */
    char principal[ID_TEXT_SIZE_MAX + 8];
};

static void S_confirm_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct S_confirm *p = (struct S_confirm *)cmd;
    http_reply_stored(req, cmd);
    crypto_wipe(p->c.payment_password, sizeof p->c.payment_password);
    ledger_cmd_release(cmd);
}

void http_handle_me_pending_payments_confirm(struct http_request *req)
{
    json_t *body = http_json_body(req, S_confirm_fields, QB_ARRAY_COUNT(S_confirm_fields));
    if (body == NULL)
        return;
    const struct domain_env *env = http_request_env(req);
    const char *id = http_request_param(req, "id");
    const char *password = http_json_string(body, "payment_password");
    if (!http_payment_password_check(req, password))
        goto out;
    if (id == NULL || strlen(id) != MERCHANT_PAY_TOKEN_SIZE - 1 ||
        strspn(id, "0123456789abcdef") != MERCHANT_PAY_TOKEN_SIZE - 1) {
        http_reply_error(req, QB_E_NOT_FOUND);
        goto out;
    }
    struct S_confirm *p = http_request_alloc(req, sizeof *p);
    if (p == NULL || env == NULL) {
        http_reply_error(req, p == NULL ? QB_E_TOO_LARGE : QB_E_INTERNAL);
        goto out;
    }
    merchant_order_pay_cmd_init(&p->c, env);
    const struct identity_session *session = http_request_session(req);
    snprintf(p->principal, sizeof p->principal, "user:%s", session->user_id);
    if (!http_idempotency_arm(req, &p->c.cmd, p->principal)) {
        ledger_cmd_release(&p->c.cmd);
        goto out;
    }
    snprintf(p->c.payer_id, sizeof p->c.payer_id, "%s", session->user_id);
    snprintf(p->c.pay_token, sizeof p->c.pay_token, "%s", id);
    p->c.has_payment_password = true;
    snprintf(p->c.payment_password, sizeof p->c.payment_password, "%s", password);
    http_request_submit(req, &p->c.cmd, S_confirm_resume);
out:
    json_decref(body);
}

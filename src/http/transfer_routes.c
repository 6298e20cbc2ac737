/*
 * transfer_routes.c — sending money to another user and the spending
 * limits: POST /v1/transfers, GET /v1/transfers/{id}, POST
 * /v1/transfers/{id}/return (its payee sends it back), GET and PUT
 * /v1/me/limits. Every route is HTTP_AUTH_USER.
 *
 * POST /v1/transfers takes the payee as `to` (a phone or a user id) or as
 * `payload`, a scanned receive code (docs/qr.md), whose amount, when it
 * carries one, is the transfer's (another amount: QR_AMOUNT_MISMATCH).
 * It checks the body's shape here and hands everything
 * else — the payee, the password, the balance, the limits, the movement —
 * to one wallet_transfer_cmd (src/wallet/transfer.h), armed with the
 * Idempotency-Key under the principal "user:<id>". The command stores its
 * answer, refusals included, so the resume function replies with the
 * stored bytes (http_reply_stored): a retry gets exactly what the first
 * try got.
 *
 * A transfer is readable by its payer and its payee; for anyone else it
 * does not exist (404), like an id that never did.
 *
 * Never in a response or a log: the payment password. The other party's
 * display name is shown masked.
 */
#include <stdio.h>
#include <string.h>

#include "base/crash.h"
#include "base/crypto.h"
#include "base/log.h"
#include "http/internal.h"
#include "qr/qr.h"
#include "wallet/limits.h"
#include "wallet/transfer.h"

#define S_PAYMENT_PASSWORD_SIZE_MAX 16 /* six digits; longer is refused by shape */
#define S_PRINCIPAL_SIZE_MAX (5 + ID_TEXT_SIZE_MAX)

_Static_assert(sizeof(((struct wallet_transfer_cmd *)0)->payment_password) == 8,
               "six digits and a NUL fit the transfer command");
_Static_assert(sizeof(((struct wallet_limits_set_cmd *)0)->payment_password) == 8,
               "six digits and a NUL fit the limits command");

/* --- POST /v1/transfers ----------------------------------------------------------- */

struct S_transfer {
    struct wallet_transfer_cmd c; /* first: the server hands back &c.cmd */
    char principal[S_PRINCIPAL_SIZE_MAX];
};

static const struct http_field S_transfer_fields[] = {
    {"to", HTTP_FIELD_STRING, false, WALLET_TRANSFER_TO_SIZE_MAX - 1, 0, 0},
    {"payload", HTTP_FIELD_OPAQUE, false, QR_SCANNED_SIZE_MAX, 0, 0},
    {"amount", HTTP_FIELD_INTEGER, false, 0, 0, 0},
    {"currency", HTTP_FIELD_STRING, false, 8, 0, 0},
    {"memo", HTTP_FIELD_STRING, false, WALLET_MEMO_SIZE_MAX - 1, 0, 0},
    {"payment_password", HTTP_FIELD_STRING, false, S_PAYMENT_PASSWORD_SIZE_MAX, 0, 0},
    {"arrival", HTTP_FIELD_STRING, false, 8, 0, 0},
};

static void S_transfer_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct S_transfer *t = (struct S_transfer *)cmd;
    if (cmd->result == QB_OK)
        QB_CRASH_POINT("transfer.before_reply");
    if (http_cmd_failure_is_news(cmd->result))
        log_event(LOG_WARN, "http.transfer_failed", "error=%s", error_name(cmd->result));
    /* A refusal for look-ups says when to come back, as GET /v1/payees
     * does; kept under no key, it is never replayed without it. */
    if (cmd->result == QB_OK && t->c.outcome == QB_E_RATE_LIMITED && t->c.lookups_until_ms > 0)
        http_reply_retry_after(req, t->c.lookups_until_ms);
    http_reply_stored(req, cmd);
    crypto_wipe(t->c.payment_password, sizeof t->c.payment_password);
    ledger_cmd_release(cmd);
}

void http_handle_transfers_create(struct http_request *req)
{
    json_t *body = http_json_body(req, S_transfer_fields, QB_ARRAY_COUNT(S_transfer_fields));
    if (body == NULL)
        return;
    const struct identity_session *session = http_request_session(req);
    const struct domain_env *env = http_request_env(req);
    const char *to = http_json_string(body, "to");
    const char *payload = http_json_string(body, "payload");
    const char *currency_code = http_json_string(body, "currency");
    const char *memo = http_json_string(body, "memo");
    const char *payment_password = http_json_string(body, "payment_password");
    const char *arrival_name = http_json_string(body, "arrival");
    const json_t *amount_member = json_object_get(body, "amount");
    json_int_t amount = json_integer_value(amount_member);
    struct qr_payload code;
    enum wallet_arrival arrival = WALLET_ARRIVAL_INSTANT;

    /* The body's shape first, then the currency, the code, the amount: the
     * order docs/api.md gives, none of it kept under the key. */
    if ((to == NULL) == (payload == NULL)) {
        http_reply_error_message(req, QB_E_PARAM, "give one of to and payload");
        goto out;
    }
    /* Shapes only: whether the payee exists is the command's to say. A
     * number may come as people write it: "+86 139-0000-0002". */
    char phone[SMS_PHONE_SIZE_MAX];
    if (to != NULL && phone_normalize(to, phone)) {
        to = phone;
    } else if (to != NULL && !id_is_valid(to, strlen(to), "u")) {
        http_reply_error_message(req, QB_E_PARAM,
                                 "to must be a mobile number or a user id (u_...)");
        goto out;
    }
    if (payment_password != NULL && !http_payment_password_check(req, payment_password))
        goto out;
    if (arrival_name != NULL && !wallet_arrival_parse(arrival_name, &arrival)) {
        http_reply_error_message(req, QB_E_PARAM, "arrival must be \"instant\", \"2h\" or \"24h\"");
        goto out;
    }
    if (amount_member == NULL && payload == NULL) {
        http_reply_error_message(req, QB_E_PARAM, "field \"amount\" is required");
        goto out;
    }
    const struct currency *currency = NULL;
    /* Any other than CNY, known or not, before the code and the amount. */
    if (currency_code != NULL &&
        (currency = currency_find(currency_code)) != currency_find("CNY")) {
        http_reply_error_message(req, QB_E_BAD_CURRENCY, "transfers are in CNY only");
        goto out;
    }
    if (payload != NULL) {
        /* A receive code (docs/qr.md): the payee from it, and its amount
         * when it fixes one; a different amount or currency is refused. */
        if (!http_qr_payload(req, payload, HTTP_QR_TRANSFER, &code))
            goto out;
        if (code.has_amount) {
            if ((amount_member != NULL && amount != code.amount_minor) ||
                (currency != NULL && currency != code.currency)) {
                http_reply_error(req, QB_E_QR_AMOUNT_MISMATCH);
                goto out;
            }
            amount = (json_int_t)code.amount_minor;
            currency = code.currency;
        } else if (amount_member == NULL) {
            http_reply_error_message(req, QB_E_PARAM, "field \"amount\" is required");
            goto out;
        }
        if (memo == NULL && code.memo[0] != '\0')
            memo = code.memo;
        to = code.payee;
    }
    /* After the code's own refusals: a code that fixes 12.34 answers a 0
     * with QR_AMOUNT_MISMATCH. */
    if (amount <= 0) {
        http_reply_error_message(req, QB_E_BAD_AMOUNT,
                                 "amount must be a positive integer of minor units (fen)");
        goto out;
    }
    if (env == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        goto out;
    }
    struct S_transfer *t = http_request_alloc(req, sizeof *t);
    if (t == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        goto out;
    }
    wallet_transfer_cmd_init(&t->c, env);
    snprintf(t->principal, sizeof t->principal, "user:%s", session->user_id);
    if (!http_idempotency_arm(req, &t->c.cmd, t->principal)) {
        ledger_cmd_release(&t->c.cmd);
        goto out;
    }
    snprintf(t->c.payer_id, sizeof t->c.payer_id, "%s", session->user_id);
    snprintf(t->c.to, sizeof t->c.to, "%s", to);
    t->c.currency = currency;
    t->c.amount_minor = (int64_t)amount;
    snprintf(t->c.memo, sizeof t->c.memo, "%s", memo != NULL ? memo : "");
    t->c.has_arrival = arrival_name != NULL;
    t->c.arrival = arrival;
    if (payment_password != NULL) {
        t->c.has_payment_password = true;
        snprintf(t->c.payment_password, sizeof t->c.payment_password, "%s", payment_password);
    }
    http_request_submit(req, &t->c.cmd, S_transfer_resume);
out:
    json_decref(body);
}

/* --- POST /v1/transfers/{id}/return ------------------------------------------------ */

struct S_return {
    struct wallet_transfer_return_cmd c; /* first: the server hands back &c.cmd */
    char principal[S_PRINCIPAL_SIZE_MAX];
};

static const struct http_field S_return_fields[] = {
    {"memo", HTTP_FIELD_STRING, false, WALLET_MEMO_SIZE_MAX - 1, 0, 0},
};

/* The answer of a command on one transfer (a return, a cancel): kept. */
static void S_stored_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    if (http_cmd_failure_is_news(cmd->result))
        log_event(LOG_WARN, "http.transfer_command_failed", "error=%s", error_name(cmd->result));
    http_reply_stored(req, cmd);
    ledger_cmd_release(cmd);
}

/* Arms cmd, a command of the caller on the transfer of the path's {id},
 * with the caller's Idempotency-Key under principal, and fills in the
 * caller's and the transfer's ids. An id of no payment's shape is no
 * transfer: the command says so, and the answer is kept like any other.
 * False after replying. */
static bool S_transfer_cmd_arm(struct http_request *req, struct ledger_cmd *cmd,
                               char principal[S_PRINCIPAL_SIZE_MAX], char user_id[ID_TEXT_SIZE_MAX],
                               char transfer_id[ID_TEXT_SIZE_MAX])
{
    const struct identity_session *session = http_request_session(req);
    const char *id = http_request_param(req, "id");
    snprintf(principal, S_PRINCIPAL_SIZE_MAX, "user:%s", session->user_id);
    if (!http_idempotency_arm(req, cmd, principal)) {
        ledger_cmd_release(cmd);
        return false;
    }
    snprintf(user_id, ID_TEXT_SIZE_MAX, "%s", session->user_id);
    snprintf(transfer_id, ID_TEXT_SIZE_MAX, "%s",
             id != NULL && id_is_valid(id, strlen(id), "p") ? id : "");
    return true;
}

void http_handle_transfers_return(struct http_request *req)
{
    const struct domain_env *env = http_request_env(req);
    json_t *body = http_json_body(req, S_return_fields, QB_ARRAY_COUNT(S_return_fields));
    if (body == NULL)
        return;
    const char *memo = http_json_string(body, "memo");
    struct S_return *r = http_request_alloc(req, sizeof *r);
    if (env == NULL || r == NULL) {
        http_reply_error(req, env == NULL ? QB_E_INTERNAL : QB_E_TOO_LARGE);
        goto out;
    }
    wallet_transfer_return_cmd_init(&r->c, env);
    if (!S_transfer_cmd_arm(req, &r->c.cmd, r->principal, r->c.user_id, r->c.transfer_id))
        goto out;
    snprintf(r->c.memo, sizeof r->c.memo, "%s", memo != NULL ? memo : "");
    http_request_submit(req, &r->c.cmd, S_stored_resume);
out:
    json_decref(body);
}

/* --- POST /v1/transfers/{id}/cancel ------------------------------------------------ */

struct S_cancel {
    struct wallet_transfer_cancel_cmd c; /* first: the server hands back &c.cmd */
    char principal[S_PRINCIPAL_SIZE_MAX];
};

void http_handle_transfers_cancel(struct http_request *req)
{
    const struct domain_env *env = http_request_env(req);
    json_t *body = http_json_body(req, NULL, 0);
    if (body == NULL)
        return;
    struct S_cancel *k = http_request_alloc(req, sizeof *k);
    if (env == NULL || k == NULL) {
        http_reply_error(req, env == NULL ? QB_E_INTERNAL : QB_E_TOO_LARGE);
        goto out;
    }
    wallet_transfer_cancel_cmd_init(&k->c, env);
    if (S_transfer_cmd_arm(req, &k->c.cmd, k->principal, k->c.user_id, k->c.transfer_id))
        http_request_submit(req, &k->c.cmd, S_stored_resume);
out:
    json_decref(body);
}

/* --- GET /v1/transfers/{id} ------------------------------------------------------- */

void http_handle_transfers_get(struct http_request *req)
{
    const struct identity_session *session = http_request_session(req);
    const char *id = http_request_param(req, "id");
    if (id == NULL || !id_is_valid(id, strlen(id), "p")) {
        http_reply_error(req, QB_E_NOT_FOUND);
        return;
    }
    struct wallet_payment *p = http_request_alloc(req, sizeof *p);
    struct identity_user *payer = http_request_alloc(req, sizeof *payer);
    struct identity_user *payee = http_request_alloc(req, sizeof *payee);
    struct wallet_payment *returned = http_request_alloc(req, sizeof *returned);
    if (p == NULL || payer == NULL || payee == NULL || returned == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return;
    enum qb_error err = wallet_payment_get(reader, id, session->user_id, p);
    bool is_return = err == QB_OK && p->kind == WALLET_TRANSFER_RETURN;
    if (err == QB_OK && p->kind != WALLET_TRANSFER && !is_return)
        err = QB_E_NOT_FOUND;
    if (err == QB_OK)
        err = identity_user_get(reader, p->user_id, payer);
    if (err == QB_OK)
        err = identity_user_get(reader, p->counterparty_id, payee);
    char transfer_id[ID_TEXT_SIZE_MAX], collection_id[ID_TEXT_SIZE_MAX] = "";
    if (err == QB_OK && is_return) {
        err = wallet_transfer_return_origin(reader, p->id, transfer_id);
    } else if (err == QB_OK) {
        err = wallet_transfer_return_find(reader, p->id, returned);
        if (err == QB_E_NOT_FOUND) {
            returned->id[0] = '\0';
            err = QB_OK;
        }
        if (err == QB_OK)
            err = wallet_transfer_collection_id(reader, p->id, collection_id);
        if (err == QB_E_NOT_FOUND) {
            collection_id[0] = '\0';
            err = QB_OK;
        }
    }
    http_reader_release(req, reader);
    if (err != QB_OK) {
        http_reply_error(req, err == QB_E_NOT_FOUND || err == QB_E_STORAGE ? err : QB_E_INTERNAL);
        return;
    }
    /* The POST's answer (wallet_transfer_json, or for a return the
     * return's), with the payer and the caller's side, and a transfer's
     * return. */
    char masked[IDENTITY_DISPLAY_NAME_SIZE_MAX * 2];
    wallet_name_mask(payer->display_name, masked, sizeof masked);
    struct buf body;
    buf_init(&body, HTTP_REPLY_SIZE_MAX);
    struct json_out out;
    json_out_begin(&out, &body);
    if (is_return)
        wallet_transfer_return_json(&out, p, transfer_id, payee->display_name);
    else
        wallet_transfer_json(&out, p, payee->display_name);
    json_out_object(&out, "from");
    json_out_string(&out, "user_id", payer->id);
    json_out_string(&out, "display_name", masked);
    json_out_end(&out);
    json_out_string(&out, "direction", strcmp(p->user_id, session->user_id) == 0 ? "out" : "in");
    if (!is_return)
        json_out_string(&out, "collection_id", collection_id[0] != '\0' ? collection_id : NULL);
    if (!is_return && returned->id[0] == '\0') {
        json_out_null(&out, "returned");
    } else if (!is_return) {
        json_out_object(&out, "returned");
        json_out_string(&out, "id", returned->id);
        json_out_string(&out, "memo", returned->memo[0] != '\0' ? returned->memo : NULL);
        domain_time_out(&out, "created_at", returned->created_at_ms);
        json_out_end(&out);
    }
    json_out_end(&out);
    if (json_out_done(&out) != QB_OK)
        http_reply_error(req, QB_E_INTERNAL);
    else
        http_reply_raw(req, 200, "application/json; charset=utf-8", body.data, body.size);
    buf_release(&body);
}

/* --- GET and PUT /v1/me/limits ------------------------------------------------------ */

/* Replies 200 with the caller's limits as they stand now. */
json_t *http_me_limits(struct http_request *req, struct identity_user **user,
                       struct wallet_spending *s)
{
    const struct domain_env *env = http_request_env(req);
    *user = http_request_alloc(req, sizeof **user);
    if (*user == NULL || env == NULL) {
        http_reply_error(req, *user == NULL ? QB_E_TOO_LARGE : QB_E_INTERNAL);
        return NULL;
    }
    if (!http_me_load(req, *user))
        return NULL;
    struct ledger_account_view account;
    enum qb_error err = http_request_account_view(req, (*user)->account_id, &account);
    if (err != QB_OK) {
        http_reply_error(req, err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err);
        return NULL;
    }
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return NULL;
    err = wallet_spending_get(reader, &account, *user, s);
    http_reader_release(req, reader);
    if (err != QB_OK) {
        http_reply_error(req, err);
        return NULL;
    }
    struct wallet_limit limits[WALLET_LIMITS_MAX];
    size_t count = wallet_limits_list(&env->settings, s, (*user)->kyc_level,
                                      http_request_ledger_now_ms(req), limits);
    json_t *array = json_array();
    for (size_t i = 0; array != NULL && i < count; i++) {
        json_t *item = json_pack("{s:s, s:I, s:I, s:I}", "name", limits[i].name, "amount",
                                 (json_int_t)limits[i].amount_minor, "used",
                                 (json_int_t)limits[i].used_minor, "remaining",
                                 (json_int_t)limits[i].remaining_minor);
        http_array_add(&array, item);
    }
    if (array == NULL)
        http_reply_error(req, QB_E_INTERNAL);
    return array;
}

static void S_limits_reply(struct http_request *req)
{
    const struct domain_env *env = http_request_env(req);
    struct identity_user *user;
    struct wallet_spending s;
    json_t *array = http_me_limits(req, &user, &s);
    if (array == NULL)
        return;
    json_t *daily = s.user_daily_limit_minor > 0 ? json_integer(s.user_daily_limit_minor)
                                                 : json_null();
    json_t *body =
        json_pack("{s:s, s:o, s:o, s:I, s:I, s:I, s:I, s:s}", "currency", "CNY", "limits", array,
                  "daily_limit", daily, "password_free_limit",
                  (json_int_t)wallet_password_free_limit(&env->settings, &s), "password_free_max",
                  (json_int_t)env->settings.password_free_max_minor, "password_free_daily_max",
                  (json_int_t)env->settings.password_free_daily_max, "password_free_used_today",
                  (json_int_t)wallet_password_free_used_today(&s, http_request_ledger_now_ms(req)),
                  "transfer_arrival", wallet_arrival_name(s.transfer_arrival));
    if (body != NULL)
        http_reply_json(req, 200, body);
    else
        http_reply_error(req, QB_E_INTERNAL);
    json_decref(body);
}

void http_handle_me_limits_get(struct http_request *req) { S_limits_reply(req); }

static const struct http_field S_limits_set_fields[] = {
    {"daily_limit", HTTP_FIELD_INTEGER_OR_NULL, false, 0, 0, 0},
    {"password_free_limit", HTTP_FIELD_INTEGER_OR_NULL, false, 0, 0, 0},
    {"transfer_arrival", HTTP_FIELD_STRING, false, 8, 0, 0},
    {"payment_password", HTTP_FIELD_STRING, false, S_PAYMENT_PASSWORD_SIZE_MAX, 0, 0},
};

static void S_limits_set_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct wallet_limits_set_cmd *c = (struct wallet_limits_set_cmd *)cmd;
    if (cmd->result != QB_OK) {
        http_reply_error(req, cmd->result);
    } else if (c->outcome == QB_E_PASSWORD_WRONG || c->outcome == QB_E_PASSWORD_LOCKED) {
        http_reply_password_refusal(req, c->outcome, &c->password_try);
    } else if (c->outcome == QB_E_NOT_FOUND) {
        http_reply_error(req, QB_E_UNAUTHORIZED); /* a session whose user is gone */
    } else if (c->outcome == QB_E_PARAM && c->password_needed) {
        http_reply_error_message(req, QB_E_PARAM,
                                 "payment_password is required to raise or remove a limit, or "
                                 "to make transfers arrive sooner");
    } else if (c->outcome != QB_OK) {
        http_reply_error(req, c->outcome);
    } else {
        S_limits_reply(req);
    }
    crypto_wipe(c->payment_password, sizeof c->payment_password);
    ledger_cmd_release(cmd);
}

/* Reads an optional amount member: absent leaves *set false; null is 0
 * (remove); else 0..max. False after replying PARAM_ERROR. */
static bool S_limit_member(struct http_request *req, const json_t *body, const char *name,
                           int64_t max_minor, bool *set, int64_t *value_minor)
{
    const json_t *member = json_object_get(body, name);
    *set = member != NULL;
    *value_minor = 0;
    if (member == NULL || json_is_null(member))
        return true;
    json_int_t value = json_integer_value(member);
    if (value < 0 || value > max_minor) {
        char message[160], yuan[MONEY_TEXT_SIZE_MAX];
        money_format(max_minor, currency_find("CNY"), yuan, sizeof yuan);
        snprintf(message, sizeof message, "%s must be from 0 to %lld fen (%s CNY)", name,
                 (long long)max_minor, yuan);
        http_reply_error_message(req, QB_E_PARAM, message);
        return false;
    }
    *value_minor = (int64_t)value;
    return true;
}

void http_handle_me_limits_set(struct http_request *req)
{
    json_t *body = http_json_body(req, S_limits_set_fields, QB_ARRAY_COUNT(S_limits_set_fields));
    if (body == NULL)
        return;
    const struct identity_session *session = http_request_session(req);
    const struct domain_env *env = http_request_env(req);
    const char *payment_password = http_json_string(body, "payment_password");
    if (payment_password != NULL && !http_payment_password_check(req, payment_password))
        goto out;
    if (env == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        goto out;
    }
    bool set_daily, set_free;
    int64_t daily_minor, free_minor;
    if (!S_limit_member(req, body, "daily_limit", env->settings.limit_daily_minor, &set_daily,
                        &daily_minor) ||
        !S_limit_member(req, body, "password_free_limit", env->settings.password_free_max_minor,
                        &set_free, &free_minor))
        goto out;
    const char *arrival_name = http_json_string(body, "transfer_arrival");
    enum wallet_arrival arrival = WALLET_ARRIVAL_INSTANT;
    if (arrival_name != NULL && !wallet_arrival_parse(arrival_name, &arrival)) {
        http_reply_error_message(req, QB_E_PARAM,
                                 "transfer_arrival must be \"instant\", \"2h\" or \"24h\"");
        goto out;
    }
    if (!set_daily && !set_free && arrival_name == NULL) {
        http_reply_error_message(req, QB_E_PARAM,
                                 "give daily_limit, password_free_limit, transfer_arrival or "
                                 "several");
        goto out;
    }
    struct wallet_limits_set_cmd *c = http_request_alloc(req, sizeof *c);
    if (c == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        goto out;
    }
    wallet_limits_set_cmd_init(c, env);
    snprintf(c->user_id, sizeof c->user_id, "%s", session->user_id);
    snprintf(c->payment_password, sizeof c->payment_password, "%s",
             payment_password != NULL ? payment_password : "");
    c->set_daily_limit = set_daily;
    c->daily_limit_minor = daily_minor;
    c->set_password_free_limit = set_free;
    c->password_free_limit_minor = free_minor;
    c->set_transfer_arrival = arrival_name != NULL;
    c->transfer_arrival = arrival;
    http_request_submit(req, &c->cmd, S_limits_set_resume);
out:
    json_decref(body);
}

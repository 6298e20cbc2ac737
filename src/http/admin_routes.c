/*
 * admin_routes.c — the operators' routes under /admin (HTTP_AUTH_ADMIN: the
 * token in DATA_DIR/admin-token; a user's token is refused with 403).
 *
 * Searching users (with their balances), freezing and unfreezing them,
 * lifting their login lock, setting a KYC level, looking up payments (and listing those the bank
 * has not settled), stopping a delayed transfer or a merchant's transfer to a user on a report
 * of fraud (and listing a merchant's transfers, to find the ones to stop), listing, reading,
 * suspending and resuming merchants, reading the operators' audit trail, and reading the
 * development SMS outbox — the only place an SMS code is ever shown, for environments without an
 * SMS provider. User ids and mchids in paths that are not well formed answer 404, as unknown ones
 * do.
 *
 * Every change here is an operator's command that carries its audit record
 * (http_request_audit, domain/audit.h): the row is written in the
 * command's transaction, beside the log's audit line, which stays for
 * those who follow the log. A read of a customer's data has its row
 * written before its handler here runs (http_read_audits in routes.c).
 */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/text.h"
#include "http/internal.h"
#include "merchant/payout.h"
#include "wallet/bills.h"
#include "wallet/cards.h"
#include "wallet/topup.h"
#include "wallet/transfer.h"
#include "wallet/wallet.h"

#define S_PHONE_PREFIX_SIZE_MAX 11

/* --- GET /admin/users ---------------------------------------------------------------- */

static enum qb_error S_users_read(struct http_request *req, struct store *reader,
                                  const void *prefix, int64_t cursor, void *rows, size_t room,
                                  size_t *count)
{
    (void)req;
    return identity_users_search(reader, prefix, cursor, rows, room, count);
}

static json_t *S_users_item(struct http_request *req, struct store *reader, const void *arg,
                            const void *row, enum qb_error *err)
{
    (void)reader, (void)arg;
    const struct identity_user *user = row;
    json_t *item = http_user_json(user, true);
    json_t *balances = http_balances_json(req, user->account_id, err);
    if (item == NULL || balances == NULL) {
        json_decref(balances);
        json_decref(item);
        return NULL;
    }
    if (json_object_set_new(item, "balances", balances) != 0) { /* took balances */
        json_decref(item);
        return NULL;
    }
    return item;
}

static const struct http_list S_users = {sizeof(struct identity_user),
                                         HTTP_LIST_KEY(struct identity_user, seq), S_users_read,
                                         S_users_item};

void http_handle_admin_users_list(struct http_request *req)
{
    const char *prefix = http_request_query(req, "phone");
    if (prefix == NULL)
        prefix = "";
    size_t prefix_size = strlen(prefix);
    if (prefix_size > S_PHONE_PREFIX_SIZE_MAX || strspn(prefix, "0123456789") != prefix_size) {
        http_reply_error_message(req, QB_E_PARAM, "phone must be up to 11 digits");
        return;
    }
    http_reply_list(req, &S_users, prefix);
}

/* --- GET /admin/users/{id} ------------------------------------------------------------ */

/* The user as the list shows it, and whether wrong passwords lock logging
 * in: "I cannot log in" is a call operators take. Replies 200, or the
 * error. */
static void S_admin_user_reply(struct http_request *req, const struct identity_user *user)
{
    const struct domain_env *env = http_request_env(req);
    enum qb_error err = QB_OK;
    json_t *body = http_user_json(user, true);
    json_t *balances = http_balances_json(req, user->account_id, &err);
    bool locked = env != NULL && user->login_locked_until_ms > clock_now_ms(env->clock);
    if (body == NULL || balances == NULL || json_object_set_new(body, "balances", balances) != 0 ||
        json_object_set_new(body, "login_locked_until",
                            locked ? http_time_json(user->login_locked_until_ms) : json_null()) !=
            0) {
        /* set_new took balances whether or not it failed */
        if (body == NULL)
            json_decref(balances);
        json_decref(body);
        http_reply_error(req, err != QB_OK ? err : QB_E_INTERNAL);
        return;
    }
    http_reply_json_new(req, 200, body);
}

void http_handle_admin_users_get(struct http_request *req)
{
    const char *id = http_user_id_param(req);
    struct identity_user user;
    if (id != NULL && http_user_load(req, id, &user))
        S_admin_user_reply(req, &user);
}

/* --- POST /admin/users/{id}/freeze, /unfreeze ------------------------------------------- */

/* An operator's change to a user (a freeze, an unfreeze, a login unlock,
 * a closing, a KYC level), with the operator's reason for the audit
 * trail. */
#define S_REASON_SIZE_MAX 201 /* 200 bytes of text and a NUL */
_Static_assert(DOMAIN_AUDIT_REASON_SIZE_MAX == S_REASON_SIZE_MAX,
               "the audit trail keeps the whole of an operator's reason");
struct S_admin_reasoned {
    struct identity_cmd c; /* first: the server hands back &c.cmd */
    char reason[S_REASON_SIZE_MAX];
    struct domain_audit *audit; /* the command's record on the audit trail */
};

void http_reason_for_log(const char *reason, char *out, size_t out_size)
{
    size_t o = 0;
    for (const char *p = reason; *p != '\0' && o + 1 < out_size; p++)
        out[o++] = *p == '"' ? '\'' : *p;
    out[o] = '\0';
}

static void S_admin_freeze_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    const struct S_admin_reasoned *f = (const struct S_admin_reasoned *)cmd;
    enum qb_error outcome = cmd->result != QB_OK ? cmd->result : f->c.outcome;
    char reason[S_REASON_SIZE_MAX];
    http_reason_for_log(f->reason, reason, sizeof reason);
    log_event(LOG_AUDIT, "admin.user_changed", "action=%s user_id=%s result=%s by=%s reason=\"%s\"",
              f->c.op == IDENTITY_OP_ADMIN_FREEZE ? "freeze" : "unfreeze", f->c.user_id,
              outcome == QB_OK ? "ok" : error_api_code(outcome), http_request_by(req), reason);
    http_resume_user(req, cmd);
}

/* The bodies of an operator's change: none, {}, or {"reason": "..."};
 * and one that must say why. */
static const struct http_field S_reason_fields[] = {
    {"reason", HTTP_FIELD_STRING, false, S_REASON_SIZE_MAX - 1, 0, 0},
};
static const struct http_field S_reason_required_fields[] = {
    {"reason", HTTP_FIELD_STRING, true, S_REASON_SIZE_MAX - 1, 0, 0},
};

/* The operator's reason from the body into reason ("" when none was
 * given); false after replying PARAM_ERROR or INVALID_JSON. When required,
 * a reason of nothing but spaces is none. */
static bool S_reason_read(struct http_request *req, bool required, char reason[S_REASON_SIZE_MAX])
{
    json_t *body = required ? http_json_body(req, S_reason_required_fields,
                                             QB_ARRAY_COUNT(S_reason_required_fields))
                            : http_json_body(req, S_reason_fields, QB_ARRAY_COUNT(S_reason_fields));
    if (body == NULL)
        return false;
    const char *text = http_json_string(body, "reason");
    snprintf(reason, S_REASON_SIZE_MAX, "%s", text != NULL ? text : "");
    json_decref(body);
    if (required && text_is_blank(reason, strlen(reason))) {
        http_reply_error_message(
            req, QB_E_PARAM, "reason must say why: a ticket number, how the caller was verified");
        return false;
    }
    return true;
}

/* The audit trail's name of an operator's change to a user. */
static const char *S_user_action(enum identity_op op)
{
    switch (op) {
    case IDENTITY_OP_ADMIN_FREEZE:
        return "user_freeze";
    case IDENTITY_OP_ADMIN_UNFREEZE:
        return "user_unfreeze";
    case IDENTITY_OP_ADMIN_CLOSE:
        return "user_close";
    case IDENTITY_OP_ADMIN_LOGIN_UNLOCK:
        return "user_login_unlock";
    case IDENTITY_OP_ADMIN_SET_KYC_LEVEL:
        return "user_kyc_level";
    default:
        QB_UNREACHABLE();
    }
}

/* An identity command of an operator's on user id with reason, in the
 * request's arena and on the audit trail; NULL after replying. */
static struct S_admin_reasoned *S_admin_reasoned_new(struct http_request *req, enum identity_op op,
                                                     const char *id, const char *reason)
{
    struct S_admin_reasoned *f = http_request_alloc(req, sizeof *f);
    if (f == NULL || http_request_env(req) == NULL) {
        http_reply_error(req, f == NULL ? QB_E_TOO_LARGE : QB_E_INTERNAL);
        return NULL;
    }
    identity_cmd_init(&f->c, http_request_env(req), op);
    snprintf(f->c.user_id, sizeof f->c.user_id, "%s", id);
    snprintf(f->reason, sizeof f->reason, "%s", reason);
    f->audit =
        http_request_audit(req, &f->c.cmd, S_user_action(op), f->c.user_id, &f->c.outcome, NULL);
    if (f->audit == NULL)
        return NULL;
    memcpy(f->audit->reason, f->reason, sizeof f->audit->reason);
    return f;
}

/* An identity command of an operator's, with the reason read from the
 * body, in the request's arena; NULL after replying. */
static struct S_admin_reasoned *S_admin_reasoned_cmd(struct http_request *req, enum identity_op op,
                                                     bool reason_required)
{
    const char *id = http_user_id_param(req);
    if (id == NULL)
        return NULL;
    char reason[S_REASON_SIZE_MAX];
    if (!S_reason_read(req, reason_required, reason))
        return NULL;
    return S_admin_reasoned_new(req, op, id, reason);
}

static void S_admin_user_op(struct http_request *req, enum identity_op op)
{
    struct S_admin_reasoned *f = S_admin_reasoned_cmd(req, op, false);
    if (f != NULL)
        http_request_submit(req, &f->c.cmd, S_admin_freeze_resume);
}

void http_handle_admin_users_freeze(struct http_request *req)
{
    S_admin_user_op(req, IDENTITY_OP_ADMIN_FREEZE);
}

void http_handle_admin_users_unfreeze(struct http_request *req)
{
    S_admin_user_op(req, IDENTITY_OP_ADMIN_UNFREEZE);
}

/* --- POST /admin/users/{id}/close, POST /admin/users/{id}/login-unlock ------------------- */

/* Answered with the user as GET /admin/users/{id} shows it (closed, or the
 * lock gone), after the audit line: who closed whose wallet or lifted
 * whose lock, how it ended and why (the operator's reason, which says how
 * the owner or caller proved who they are). */
static void S_admin_reasoned_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct S_admin_reasoned *f = (struct S_admin_reasoned *)cmd;
    enum qb_error outcome = cmd->result != QB_OK ? cmd->result : f->c.outcome;
    const char *result = outcome == QB_OK ? "ok" : error_api_code(outcome);
    char reason[S_REASON_SIZE_MAX];
    http_reason_for_log(f->reason, reason, sizeof reason);
    if (f->c.op == IDENTITY_OP_ADMIN_CLOSE)
        log_event(LOG_AUDIT, "admin.user_changed",
                  "action=close user_id=%s result=%s by=%s reason=\"%s\"", f->c.user_id, result,
                  http_request_by(req), reason);
    else
        log_event(LOG_AUDIT, "identity.login_unlocked", "user_id=%s result=%s by=%s reason=\"%s\"",
                  f->c.user_id, result, http_request_by(req), reason);
    if (!http_identity_refused(req, &f->c))
        S_admin_user_reply(req, &f->c.user);
    http_identity_cmd_done(&f->c);
}

/* An operator's change to a user that must say why. */
static void S_admin_reasoned_op(struct http_request *req, enum identity_op op)
{
    struct S_admin_reasoned *f = S_admin_reasoned_cmd(req, op, true);
    if (f != NULL)
        http_request_submit(req, &f->c.cmd, S_admin_reasoned_resume);
}

void http_handle_admin_users_close(struct http_request *req)
{
    S_admin_reasoned_op(req, IDENTITY_OP_ADMIN_CLOSE);
}

void http_handle_admin_users_login_unlock(struct http_request *req)
{
    S_admin_reasoned_op(req, IDENTITY_OP_ADMIN_LOGIN_UNLOCK);
}

/* --- GET /admin/merchants, GET /admin/merchants/{mchid} ---------------------------------- */

_Static_assert(MERCHANT_SUSPEND_REASON_SIZE_MAX == S_REASON_SIZE_MAX,
               "a merchant's suspension takes the reason a freeze does");

/* A merchant as operators see it, never its keys: mchid, name,
 * owner_user_id (null for none), status, fee_rate_ppm, created_at, appid
 * (the default) and appids (the default first, read with reader); NULL with
 * *err set (or QB_OK: out of memory). */
static json_t *S_merchant_json(struct store *reader, const char *mchid, const char *appid,
                               const char *name, const char *owner_user_id,
                               enum merchant_status status, int64_t fee_ppm, int64_t created_at_ms,
                               enum qb_error *err)
{
    char apps[MERCHANT_APPS_MAX][MERCHANT_APPID_SIZE];
    size_t app_count = 0;
    *err = merchant_apps_list(reader, mchid, apps, &app_count);
    if (*err != QB_OK)
        return NULL;
    json_t *appids = json_array();
    if (appids != NULL && json_array_append_new(appids, json_string(appid)) != 0) {
        json_decref(appids);
        appids = NULL;
    }
    for (size_t i = 0; appids != NULL && i < app_count; i++)
        if (strcmp(apps[i], appid) != 0 &&
            json_array_append_new(appids, json_string(apps[i])) != 0) {
            json_decref(appids);
            appids = NULL;
        }
    if (appids == NULL)
        return NULL;
    return json_pack("{s:s, s:s, s:o, s:s, s:o, s:s, s:I, s:o}", "mchid", mchid, "appid", appid,
                     "appids", appids, "name", name, "owner_user_id",
                     owner_user_id[0] != '\0' ? json_string(owner_user_id) : json_null(), "status",
                     merchant_status_name(status), "fee_rate_ppm", (json_int_t)fee_ppm,
                     "created_at", http_time_json(created_at_ms));
}

static enum qb_error S_merchants_read(struct http_request *req, struct store *reader,
                                      const void *owner, int64_t cursor, void *rows, size_t room,
                                      size_t *count)
{
    (void)req;
    return merchant_list(reader, owner, cursor, rows, room, count);
}

static json_t *S_merchants_item(struct http_request *req, struct store *reader, const void *arg,
                                const void *row, enum qb_error *err)
{
    (void)req, (void)arg;
    const struct merchant_summary *m = row;
    return S_merchant_json(reader, m->mchid, m->appid, m->name, m->owner_user_id, m->status,
                           m->fee_ppm, m->created_at_ms, err);
}

static const struct http_list S_merchants = {sizeof(struct merchant_summary),
                                             HTTP_LIST_KEY(struct merchant_summary, seq),
                                             S_merchants_read, S_merchants_item};

void http_handle_admin_merchants_list(struct http_request *req)
{
    const char *owner = http_request_query(req, "owner");
    if (owner != NULL && owner[0] == '\0')
        owner = NULL;
    if (owner != NULL && !id_is_valid(owner, strlen(owner), "u")) {
        http_reply_error_message(req, QB_E_PARAM, "owner must be a user id (u_...)");
        return;
    }
    http_reply_list(req, &S_merchants, owner);
}

/* m as the list shows it, with its settlement account's balances
 * ([{currency, available, pending}]: pending is what withdrawals in
 * flight hold) and, while suspended, since when and the operator's reason
 * (suspended_at and suspend_reason, else null), and when its owner closed
 * it (closed_at, else null). Replies. */
static void S_merchant_reply(struct http_request *req, const struct merchant *m)
{
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return;
    enum qb_error err;
    json_t *body = S_merchant_json(reader, m->mchid, m->appid, m->name, m->owner_user_id, m->status,
                                   m->fee_ppm, m->created_at_ms, &err);
    http_reader_release(req, reader);
    bool suspended = m->status == MERCHANT_SUSPENDED;
    json_t *balances = body != NULL ? http_balances_json(req, m->account_id, &err) : NULL;
    /* set_new takes its value whether or not it fails. */
    if (balances == NULL || json_object_set_new(body, "balances", balances) != 0 ||
        json_object_set_new(body, "suspended_at",
                            suspended ? http_time_json(m->suspended_at_ms) : json_null()) != 0 ||
        json_object_set_new(body, "suspend_reason",
                            suspended ? json_string(m->suspend_reason) : json_null()) != 0 ||
        json_object_set_new(
            body, "closed_at",
            http_time_json(m->status == MERCHANT_STATUS_CLOSED ? m->closed_at_ms : 0)) != 0 ||
        !http_merchant_keys_json(body, m)) {
        json_decref(body);
        http_reply_error(req, err != QB_OK ? err : QB_E_INTERNAL);
        return;
    }
    http_reply_json_new(req, 200, body);
}

/* The path's mchid, or NULL after replying 404 for one of the wrong shape. */
static const char *S_mchid_param(struct http_request *req)
{
    const char *mchid = http_request_param(req, "mchid");
    if (mchid == NULL || !merchant_mchid_is_valid(mchid)) {
        http_reply_error_message(req, QB_E_NOT_FOUND, "no such merchant");
        return NULL;
    }
    return mchid;
}

void http_handle_admin_merchants_get(struct http_request *req)
{
    const char *mchid = S_mchid_param(req);
    struct merchant *m = http_request_alloc(req, sizeof *m);
    if (mchid == NULL)
        return;
    if (m == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return;
    enum qb_error err = merchant_get(NULL, reader, mchid, m);
    http_reader_release(req, reader);
    if (err == QB_E_NOT_FOUND)
        http_reply_error_message(req, err, "no such merchant");
    else if (err != QB_OK)
        http_reply_error(req, err);
    else
        S_merchant_reply(req, m);
}

/* --- POST /admin/merchants/{mchid}/suspend, /resume ------------------------------------- */

/* As a freeze: the merchant is the answer, and the audit line says what
 * was done to which merchant, how it ended, whether it changed anything
 * (the same again does not) and the operator's reason. */
static void S_merchant_status_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    const struct merchant_status_cmd *c = (const struct merchant_status_cmd *)cmd;
    enum qb_error outcome = cmd->result != QB_OK ? cmd->result : c->outcome;
    char reason[S_REASON_SIZE_MAX];
    http_reason_for_log(c->reason, reason, sizeof reason);
    log_event(LOG_AUDIT, "admin.merchant_changed",
              "action=%s mchid=%s result=%s changed=%s by=%s reason=\"%s\"",
              c->status == MERCHANT_SUSPENDED ? "suspend" : "resume", c->mchid,
              outcome == QB_OK ? "ok" : error_api_code(outcome), c->changed ? "true" : "false",
              http_request_by(req), reason);
    if (outcome == QB_E_NOT_FOUND)
        http_reply_error_message(req, outcome, "no such merchant");
    else if (outcome == QB_E_CONFLICT)
        http_reply_error_message(req, outcome,
                                 "the merchant is closed: its owner closed it for good");
    else if (outcome != QB_OK)
        http_reply_error(req, outcome);
    else
        S_merchant_reply(req, &c->merchant);
    ledger_cmd_release(cmd);
}

static void S_admin_merchant_op(struct http_request *req, enum merchant_status status)
{
    const char *mchid = S_mchid_param(req);
    if (mchid == NULL)
        return;
    char reason[S_REASON_SIZE_MAX];
    if (!S_reason_read(req, false, reason))
        return;
    struct merchant_status_cmd *c = http_request_alloc(req, sizeof *c);
    if (c == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    merchant_status_cmd_init(c, http_request_env(req), status);
    snprintf(c->mchid, sizeof c->mchid, "%s", mchid);
    memcpy(c->reason, reason, sizeof c->reason);
    struct domain_audit *audit = http_request_audit(
        req, &c->cmd, status == MERCHANT_SUSPENDED ? "merchant_suspend" : "merchant_resume",
        c->mchid, &c->outcome, &c->changed);
    if (audit == NULL)
        return;
    memcpy(audit->reason, reason, sizeof audit->reason);
    http_request_submit(req, &c->cmd, S_merchant_status_resume);
}

void http_handle_admin_merchants_suspend(struct http_request *req)
{
    S_admin_merchant_op(req, MERCHANT_SUSPENDED);
}

void http_handle_admin_merchants_resume(struct http_request *req)
{
    S_admin_merchant_op(req, MERCHANT_ACTIVE);
}

/* --- PUT /admin/users/{id}/kyc-level ------------------------------------------------------ */

/* The level, and the operator's reason, optional as a freeze's: a level
 * decides what the wallet may spend, and whoever reads the trail later
 * asks why it changed. */
static const struct http_field S_kyc_level_fields[] = {
    {"kyc_level", HTTP_FIELD_INTEGER, true, 0, 1, 3},
    {"reason", HTTP_FIELD_STRING, false, S_REASON_SIZE_MAX - 1, 0, 0},
};

/* An operator's change to a user is answered as the user, and leaves an
 * audit line in the log: what was done to whom, how it ended, who did it
 * and why (the access line has only the path; the security_events row is
 * in the database), at LOG_AUDIT: written whatever the log level. Only the
 * kyc_level action names a level, the one asked for: a freeze knows none,
 * and a made-up one would mislead whoever reads the trail. */
static void S_admin_kyc_level_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    const struct S_admin_reasoned *f = (const struct S_admin_reasoned *)cmd;
    enum qb_error outcome = cmd->result != QB_OK ? cmd->result : f->c.outcome;
    char reason[S_REASON_SIZE_MAX];
    http_reason_for_log(f->reason, reason, sizeof reason);
    log_event(LOG_AUDIT, "admin.user_changed",
              "action=kyc_level user_id=%s kyc_level=%d result=%s by=%s reason=\"%s\"",
              f->c.user_id, f->c.kyc_level, outcome == QB_OK ? "ok" : error_api_code(outcome),
              http_request_by(req), reason);
    http_resume_user(req, cmd);
}

void http_handle_admin_users_kyc_level_set(struct http_request *req)
{
    const char *id = http_user_id_param(req);
    if (id == NULL)
        return;
    json_t *body = http_json_body(req, S_kyc_level_fields, QB_ARRAY_COUNT(S_kyc_level_fields));
    if (body == NULL)
        return;
    int kyc_level = (int)json_integer_value(json_object_get(body, "kyc_level"));
    const char *reason = http_json_string(body, "reason");
    struct S_admin_reasoned *f = S_admin_reasoned_new(req, IDENTITY_OP_ADMIN_SET_KYC_LEVEL, id,
                                                      reason != NULL ? reason : "");
    json_decref(body);
    if (f == NULL)
        return;
    f->c.kyc_level = kyc_level;
    /* The trail says which level was asked for, as the log line does. */
    snprintf(f->audit->detail, sizeof f->audit->detail, "kyc_level=%d", kyc_level);
    http_request_submit(req, &f->c.cmd, S_admin_kyc_level_resume);
}

/* --- GET /admin/users/{id}/security-events ---------------------------------------------- */

void http_handle_admin_users_security_events_list(struct http_request *req)
{
    const char *id = http_user_id_param(req);
    if (id != NULL)
        http_reply_security_events(req, id);
}

/* --- GET /admin/sms-outbox -------------------------------------------------------------- */

static enum qb_error S_sms_outbox_read(struct http_request *req, struct store *reader,
                                       const void *phone, int64_t cursor, void *rows, size_t room,
                                       size_t *count)
{
    const struct domain_env *env = http_request_env(req);
    if (env == NULL)
        return QB_E_INTERNAL;
    return sms_outbox_list(env, reader, phone, cursor, rows, room, count);
}

static json_t *S_sms_outbox_item(struct http_request *req, struct store *reader, const void *arg,
                                 const void *row, enum qb_error *err)
{
    (void)req, (void)reader, (void)arg, (void)err;
    const struct sms_outbox_item *sms = row;
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "phone", sms->phone, "purpose",
                     sms_purpose_name(sms->purpose), "code", sms->code, "text", sms->text,
                     "delivery", sms_delivery_name(sms->delivery), "created_at",
                     http_time_json(sms->created_at_ms));
}

static const struct http_list S_sms_outbox = {sizeof(struct sms_outbox_item),
                                              HTTP_LIST_KEY(struct sms_outbox_item, id),
                                              S_sms_outbox_read, S_sms_outbox_item};

void http_handle_admin_sms_outbox_list(struct http_request *req)
{
    const char *phone = http_request_query(req, "phone");
    if (phone != NULL && phone[0] == '\0')
        phone = NULL;
    if (phone != NULL && !phone_is_valid(phone)) {
        http_reply_error_message(req, QB_E_PARAM,
                                 "phone must be a mainland China mobile number (11 digits)");
        return;
    }
    http_reply_list(req, &S_sms_outbox, phone);
}

/* --- GET /admin/payments?status=PROCESSING, GET /admin/payments/{id} ----------------------- */

/* A payment as a user sees it (wallet_payment_json), and what an operator
 * chasing it needs besides: whose it is, to whom, the bank's reference and
 * when the worker asks the bank next. The memo stays the users'. */
static json_t *S_admin_payment_json(struct http_request *req, struct store *reader, const void *arg,
                                    const void *row, enum qb_error *err)
{
    (void)req, (void)arg;
    const struct wallet_payment *p = row;
    struct wallet_card card;
    memset(&card, 0, sizeof card);
    *err = QB_OK;
    if (p->card_id[0] != '\0') {
        *err = wallet_card_get(reader, p->card_id, p->user_id, true, &card);
        if (*err == QB_E_NOT_FOUND)
            *err = QB_E_INTERNAL; /* a payment names a card of its user, always */
        if (*err != QB_OK)
            return NULL;
    }
    json_t *item = wallet_payment_json(p, &card);
    bool processing = p->status == WALLET_PROCESSING;
    if (item == NULL || json_object_set_new(item, "user_id", json_string(p->user_id)) != 0 ||
        json_object_set_new(item, "counterparty_id",
                            p->counterparty_id[0] != '\0' ? json_string(p->counterparty_id)
                                                          : json_null()) != 0 ||
        json_object_set_new(item, "bank_ref",
                            p->bank_ref[0] != '\0' ? json_string(p->bank_ref) : json_null()) != 0 ||
        json_object_set_new(item, "next_check_at",
                            http_time_json(processing ? p->next_check_at_ms : 0)) != 0 ||
        json_object_set_new(item, "arrives_at", http_time_json(p->arrives_at_ms)) != 0) {
        json_decref(item);
        *err = QB_E_INTERNAL;
        return NULL;
    }
    return item;
}

static enum qb_error S_payments_processing_read(struct http_request *req, struct store *reader,
                                                const void *arg, int64_t cursor, void *rows,
                                                size_t room, size_t *count)
{
    (void)req, (void)arg;
    return wallet_payments_processing(reader, cursor, rows, room, count);
}

static const struct http_list S_payments_processing = {
    sizeof(struct wallet_payment), HTTP_LIST_KEY(struct wallet_payment, seq),
    S_payments_processing_read, S_admin_payment_json};

/* The day's bounds [0] to [1], UTC+8 midnights. */
static enum qb_error S_bank_payments_read(struct http_request *req, struct store *reader,
                                          const void *arg, int64_t cursor, void *rows, size_t room,
                                          size_t *count)
{
    (void)req;
    const int64_t *day = arg;
    return wallet_bank_payments(reader, day[0], day[1], cursor, rows, room, count);
}

static const struct http_list S_bank_payments = {sizeof(struct wallet_payment),
                                                 HTTP_LIST_KEY(struct wallet_payment, seq),
                                                 S_bank_payments_read, S_admin_payment_json};

static enum qb_error S_bank_ref_read(struct http_request *req, struct store *reader,
                                     const void *arg, int64_t cursor, void *rows, size_t room,
                                     size_t *count)
{
    (void)req;
    return wallet_payments_by_bank_ref(reader, arg, cursor, rows, room, count);
}

static const struct http_list S_bank_ref_payments = {sizeof(struct wallet_payment),
                                                     HTTP_LIST_KEY(struct wallet_payment, seq),
                                                     S_bank_ref_read, S_admin_payment_json};

/* Whether text is a bank's reference as a query may give it: 1 to 63
 * printable ASCII characters, no space. */
static bool S_bank_ref_is_valid(const char *text)
{
    size_t n = strlen(text);
    if (n == 0 || n >= BANK_REF_SIZE_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (text[i] <= ' ' || text[i] > '~')
            return false;
    return true;
}

void http_handle_admin_payments_list(struct http_request *req)
{
    const char *status = http_request_query(req, "status");
    const char *date = http_request_query(req, "date");
    const char *bank_ref = http_request_query(req, "bank_ref");
    if ((status != NULL) + (date != NULL) + (bank_ref != NULL) != 1) {
        http_reply_error_message(req, QB_E_PARAM,
                                 "give status=PROCESSING (the payments the bank has not settled), "
                                 "date=YYYY-MM-DD (the top-ups and withdrawals made that day) or "
                                 "bank_ref (those the bank knows by that reference), one of them");
        return;
    }
    if (bank_ref != NULL) {
        if (!S_bank_ref_is_valid(bank_ref))
            http_reply_error_message(req, QB_E_PARAM,
                                     "bank_ref must be 1 to 63 printable ASCII characters, no "
                                     "space");
        else
            http_reply_list(req, &S_bank_ref_payments, bank_ref);
        return;
    }
    if (status != NULL && strcmp(status, "PROCESSING") != 0) {
        http_reply_error_message(req, QB_E_PARAM,
                                 "status must be PROCESSING (the payments the bank has not "
                                 "settled); look any other payment up by its id");
        return;
    }
    if (status != NULL) {
        http_reply_list(req, &S_payments_processing, NULL);
        return;
    }
    int64_t *day = http_request_alloc(req, 2 * sizeof *day);
    if (day == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    if (strlen(date) != 10 || !bills_time_parse(date, false, &day[0]) ||
        !bills_time_parse(date, true, &day[1])) {
        http_reply_error_message(req, QB_E_PARAM, "date must be a date as YYYY-MM-DD (UTC+8)");
        return;
    }
    /* 1970-01-01 began in UTC+8 eight hours before the epoch, where no
     * payment was made and no payment id's time can point. */
    if (day[0] < 0)
        day[0] = 0;
    http_reply_list(req, &S_bank_payments, day);
}

void http_handle_admin_payments_get(struct http_request *req)
{
    const char *id = http_request_param(req, "id");
    if (id == NULL || !id_is_valid(id, strlen(id), "p")) {
        http_reply_error(req, QB_E_NOT_FOUND);
        return;
    }
    /* A merchant's transfer to the user past its 24 hours reads closed, as
     * the merchant's query and the user's page tell it (settled before the
     * row: S_v3_get in payout_routes.c). */
    int64_t settled_ms = http_request_settled_ms(req);
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return;
    struct wallet_payment p;
    enum qb_error err = wallet_payment_get(reader, id, NULL, &p);
    if (err == QB_OK)
        err = merchant_payout_payment_at(reader, &p, settled_ms);
    json_t *body = err == QB_OK ? S_admin_payment_json(req, reader, NULL, &p, &err) : NULL;
    http_reader_release(req, reader);
    if (body != NULL)
        http_reply_json(req, 200, body);
    else
        http_reply_error(req, err != QB_OK ? err : QB_E_INTERNAL);
    json_decref(body);
}

/* --- POST /admin/payments/{id}/query ---------------------------------------------------- */

/* An operator asks the bank now what became of a top-up or withdrawal, and
 * its answer is applied as the worker's would be (wallet_finish_cmd): one
 * still PROCESSING settles; a SUCCESS withdrawal the bank took back (退票,
 * seen on the day's statement) is returned to the account it left. The
 * money moves on the bank's word only: the operator chooses when to ask,
 * never what the answer is. Anything else is left as it is, and the
 * answer says what the bank said. The bank may take seconds: the read, the
 * query and the command run on an offload thread. */
struct S_admin_query {
    struct ledger_cmd hold;          /* first: what the offload carries; never submitted */
    struct wallet_finish_cmd finish; /* with the bank's answer, when it gave one */
    enum qb_error err;               /* before the command: the read's, the bank's */
    const char *refused;             /* err's message, or NULL */
    char reason[S_REASON_SIZE_MAX];
    struct domain_audit *audit; /* the finish command's record */
    struct ledger_cmd refusal;  /* the record alone of a refusal before the command */
};

static enum qb_error S_nothing_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    (void)txn;
    (void)cmd;
    return QB_OK;
}

/* A refusal of q before its command ran, on the trail as the command's
 * own would be (who tried what): no such payment, one of another kind or
 * not at the bank yet, a bank that did not answer. Not written when it
 * cannot be; the refusal is answered all the same. */
static void S_admin_query_refusal_record(struct http_request *req, struct S_admin_query *q)
{
    ledger_cmd_init(&q->refusal, S_nothing_run, NULL);
    q->finish.outcome = q->err;
    q->finish.changed = false;
    domain_audit_attach(q->audit, &q->refusal);
    enum qb_error err = http_request_execute(req, &q->refusal);
    if (err == QB_OK)
        err = q->refusal.result;
    if (err != QB_OK)
        log_event(LOG_ERROR, "admin.payment_query_unrecorded", "payment_id=%s error=%s",
                  q->finish.payment_id, error_name(err));
    ledger_cmd_release(&q->refusal);
}

static void S_admin_query_run(struct http_request *req, struct ledger_cmd *cmd)
{
    struct S_admin_query *q = (struct S_admin_query *)cmd;
    const struct domain_env *env = http_request_env(req);
    struct store_pool *pool = http_request_pool(req);
    struct wallet_payment p;
    struct store *reader;
    q->err = store_pool_acquire(pool, WALLET_BANK_READER_WAIT_MS, &reader);
    if (q->err != QB_OK) {
        q->err = QB_E_BUSY;
        return;
    }
    q->err = wallet_payment_get(reader, q->finish.payment_id, NULL, &p);
    store_pool_release(pool, reader);
    if (q->err == QB_E_NOT_FOUND)
        S_admin_query_refusal_record(req, q);
    if (q->err != QB_OK)
        return;
    if (p.kind != WALLET_TOPUP && p.kind != WALLET_WITHDRAWAL) {
        q->err = QB_E_CONFLICT;
        q->refused = "only a top-up or a withdrawal is at a bank";
        S_admin_query_refusal_record(req, q);
        return;
    }
    /* As the worker's first query (topup.h): a payment the bank has not
     * answered about may still be on its way to it, and a query that
     * overtook it would find nothing and fail a payment the bank then
     * makes. */
    if (p.status == WALLET_PROCESSING && p.bank_ref[0] == '\0' &&
        clock_now_ms(env->clock) < p.created_at_ms + WALLET_BANK_GRACE_MS) {
        q->err = QB_E_CONFLICT;
        q->refused = "the payment may still be on its way to the bank: ask from 6 s after it "
                     "was made (the worker asks then too)";
        S_admin_query_refusal_record(req, q);
        return;
    }
    struct wallet_bank_answer answer;
    wallet_bank_call(env, pool, &p, true, &answer);
    if (!answer.answered) {
        q->err = QB_E_BANK_UNAVAILABLE;
        q->refused = "the bank did not answer: nothing changed, ask again";
        S_admin_query_refusal_record(req, q);
        return;
    }
    q->finish.answer = answer;
    q->err = http_request_execute(req, &q->finish.cmd);
    if (q->err == QB_OK)
        q->err = q->finish.cmd.result;
}

static void S_admin_query_answer(struct http_request *req, struct ledger_cmd *cmd)
{
    struct S_admin_query *q = (struct S_admin_query *)cmd;
    const struct wallet_finish_cmd *f = &q->finish;
    enum qb_error outcome = q->err != QB_OK ? q->err : f->outcome;
    char reason[S_REASON_SIZE_MAX];
    http_reason_for_log(q->reason, reason, sizeof reason);
    const struct bank_result *r = &f->answer.result;
    log_event(LOG_AUDIT, "admin.payment_queried",
              "payment_id=%s result=%s bank=%s changed=%s by=%s reason=\"%s\"", f->payment_id,
              outcome == QB_OK ? "ok" : error_api_code(outcome),
              f->answer.answered ? bank_status_name(r->status) : "-",
              q->err == QB_OK && f->changed ? "true" : "false", http_request_by(req), reason);
    if (outcome == QB_E_ACCOUNT_FROZEN) {
        http_reply_error_message(req, outcome,
                                 "the bank took the withdrawal back, but its account takes no "
                                 "credit now (frozen, or closed): the return waits in bank "
                                 "clearing; ask again once the account can take it");
    } else if (outcome != QB_OK && q->refused != NULL) {
        http_reply_error_message(req, outcome, q->refused);
    } else if (outcome != QB_OK) {
        http_reply_error(req, outcome);
    } else {
        enum qb_error err = QB_E_INTERNAL;
        struct store *reader = http_reader_acquire(req); /* the card's bank and last4 */
        json_t *payment =
            reader != NULL ? S_admin_payment_json(req, reader, NULL, &f->payment, &err) : NULL;
        if (reader != NULL)
            http_reader_release(req, reader);
        json_t *body =
            payment == NULL
                ? NULL
                : json_pack(
                      "{s:o, s:{s:s, s:s?, s:s?}, s:b}", "payment", payment, "bank", "status",
                      bank_status_name(r->status), "failure_code",
                      r->status == BANK_FAILED || r->status == BANK_RETURNED
                          ? error_api_code(r->failure != QB_OK ? r->failure : QB_E_CARD_DECLINED)
                          : NULL,
                      "bank_ref", r->bank_ref[0] != '\0' ? r->bank_ref : NULL, "changed",
                      f->changed);
        if (body != NULL)
            http_reply_json(req, 200, body);
        else if (reader != NULL)
            http_reply_error(req, err != QB_OK ? err : QB_E_INTERNAL);
        json_decref(body);
    }
    ledger_cmd_release(&q->finish.cmd);
}

void http_handle_admin_payments_query(struct http_request *req)
{
    const char *id = http_request_param(req, "id");
    char reason[S_REASON_SIZE_MAX];
    if (!S_reason_read(req, false, reason))
        return;
    if (id == NULL || !id_is_valid(id, strlen(id), "p")) {
        http_reply_error(req, QB_E_NOT_FOUND);
        return;
    }
    const struct domain_env *env = http_request_env(req);
    struct S_admin_query *q = env != NULL ? http_request_alloc(req, sizeof *q) : NULL;
    if (q == NULL) {
        http_reply_error(req, env == NULL ? QB_E_INTERNAL : QB_E_TOO_LARGE);
        return;
    }
    struct wallet_bank_answer none;
    memset(&none, 0, sizeof none);
    wallet_finish_cmd_init(&q->finish, env, id, &none);
    /* Its user was answered PROCESSING, as the worker's are: told by a notice. */
    q->finish.by_worker = true;
    memset(&q->hold, 0, sizeof q->hold);
    q->err = QB_E_INTERNAL;
    q->refused = NULL;
    memcpy(q->reason, reason, sizeof q->reason);
    struct domain_audit *audit =
        http_request_audit(req, &q->finish.cmd, "payment_query", q->finish.payment_id,
                           &q->finish.outcome, &q->finish.changed);
    if (audit == NULL)
        return;
    memcpy(audit->reason, reason, sizeof audit->reason);
    q->audit = audit;
    http_request_offload_first(req, &q->hold, S_admin_query_run, S_admin_query_answer);
}

/* --- POST /admin/transfers/{id}/cancel -------------------------------------------------- */

/* An operator stops a delayed transfer before it arrives, on a report of
 * fraud (the payer's, or the police's): the money goes back to the payer
 * at once, FAILED with failure_code TRANSFER_STOPPED, and the payee is
 * never told of it. The reason is required, and the audit line keeps it. */
struct S_admin_transfer_stop {
    struct wallet_transfer_cancel_cmd c; /* first: the server hands back &c.cmd */
    char reason[S_REASON_SIZE_MAX];
};

/* Answered with the transfer as GET /admin/payments/{id} shows it; a
 * refusal as the command wrote it. The audit line says whether this stop
 * moved the money back (changed=true) or found the transfer failed
 * already (its payer's cancel, another stop): both answer 200. */
static void S_admin_transfer_stop_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct S_admin_transfer_stop *s = (struct S_admin_transfer_stop *)cmd;
    enum qb_error outcome = cmd->result != QB_OK ? cmd->result : s->c.outcome;
    char reason[S_REASON_SIZE_MAX];
    http_reason_for_log(s->reason, reason, sizeof reason);
    log_event(LOG_AUDIT, "admin.transfer_changed",
              "action=cancel payment_id=%s result=%s changed=%s by=%s reason=\"%s\"",
              s->c.transfer_id, outcome == QB_OK ? "ok" : error_api_code(outcome),
              outcome == QB_OK && s->c.changed ? "true" : "false", http_request_by(req), reason);
    if (outcome != QB_OK) {
        http_reply_stored(req, cmd);
    } else {
        enum qb_error err;
        json_t *body = S_admin_payment_json(req, NULL, NULL, &s->c.payment, &err);
        if (body != NULL)
            http_reply_json(req, 200, body);
        else
            http_reply_error(req, err != QB_OK ? err : QB_E_INTERNAL);
        json_decref(body);
    }
    ledger_cmd_release(cmd);
}

void http_handle_admin_transfers_cancel(struct http_request *req)
{
    const char *id = http_request_param(req, "id");
    char reason[S_REASON_SIZE_MAX];
    /* An id of no payment's shape is no transfer, and no request of the
     * trail's: it names nothing to find it by. */
    if (id == NULL || !id_is_valid(id, strlen(id), "p")) {
        http_reply_error_message(req, QB_E_NOT_FOUND, "no such transfer");
        return;
    }
    if (!S_reason_read(req, true, reason))
        return;
    struct S_admin_transfer_stop *s = http_request_alloc(req, sizeof *s);
    if (s == NULL || http_request_env(req) == NULL) {
        http_reply_error(req, s == NULL ? QB_E_TOO_LARGE : QB_E_INTERNAL);
        return;
    }
    wallet_transfer_cancel_cmd_init(&s->c, http_request_env(req));
    s->c.by_operator = true;
    snprintf(s->c.transfer_id, sizeof s->c.transfer_id, "%s", id);
    memcpy(s->reason, reason, sizeof s->reason);
    struct domain_audit *audit = http_request_audit(req, &s->c.cmd, "transfer_stop",
                                                    s->c.transfer_id, &s->c.outcome, &s->c.changed);
    if (audit == NULL)
        return;
    memcpy(audit->reason, reason, sizeof audit->reason);
    http_request_submit(req, &s->c.cmd, S_admin_transfer_stop_resume);
}

/* --- POST /admin/payouts/{id}/cancel (merchant/payout.h: MERCHANT_PAYOUT_STOP) ------------ */

struct S_admin_payout_stop {
    struct merchant_payout_end_cmd c; /* first: the server hands back &c.cmd */
    char reason[S_REASON_SIZE_MAX];
};

/* A payout as the merchant's query shows it, and its user: NULL when out
 * of memory. */
static json_t *S_admin_payout_json(const struct merchant_payout *p)
{
    json_t *body = merchant_payout_json(p);
    if (body != NULL && json_object_set_new(body, "user_id", json_string(p->user_id)) != 0) {
        json_decref(body);
        body = NULL;
    }
    return body;
}

/* Answered with the payout as an operator sees it (S_admin_payout_json);
 * the audit line says whether this stop ended it (changed=true) or found
 * it stopped already (both answer 200). */
static void S_admin_payout_stop_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct S_admin_payout_stop *s = (struct S_admin_payout_stop *)cmd;
    enum qb_error outcome = cmd->result != QB_OK ? cmd->result : s->c.outcome;
    char reason[S_REASON_SIZE_MAX];
    http_reason_for_log(s->reason, reason, sizeof reason);
    log_event(LOG_AUDIT, "admin.payout_changed",
              "action=cancel transfer_bill_no=%s result=%s changed=%s by=%s reason=\"%s\"",
              s->c.transfer_bill_no, outcome == QB_OK ? "ok" : error_api_code(outcome),
              outcome == QB_OK && s->c.changed ? "true" : "false", http_request_by(req), reason);
    if (!http_reply_refusal(req, cmd, s->c.outcome, s->c.message))
        http_reply_json_new(req, 200, S_admin_payout_json(&s->c.payout));
    ledger_cmd_release(cmd);
}

void http_handle_admin_payouts_cancel(struct http_request *req)
{
    const char *id = http_request_param(req, "id");
    char reason[S_REASON_SIZE_MAX];
    if (id == NULL || !id_is_valid(id, strlen(id), "p")) { /* as a transfer's stop */
        http_reply_error(req, QB_E_NOT_FOUND);
        return;
    }
    if (!S_reason_read(req, true, reason))
        return;
    struct S_admin_payout_stop *s = http_request_alloc(req, sizeof *s);
    if (s == NULL || http_request_env(req) == NULL) {
        http_reply_error(req, s == NULL ? QB_E_TOO_LARGE : QB_E_INTERNAL);
        return;
    }
    merchant_payout_end_cmd_init(&s->c, http_request_env(req), MERCHANT_PAYOUT_STOP);
    snprintf(s->c.transfer_bill_no, sizeof s->c.transfer_bill_no, "%s", id);
    memcpy(s->reason, reason, sizeof s->reason);
    struct domain_audit *audit = http_request_audit(
        req, &s->c.cmd, "payout_stop", s->c.transfer_bill_no, &s->c.outcome, &s->c.changed);
    if (audit == NULL)
        return;
    memcpy(audit->reason, reason, sizeof audit->reason);
    http_request_submit(req, &s->c.cmd, S_admin_payout_stop_resume);
}

/* --- GET /admin/merchants/{mchid}/payouts?state=WAIT_USER_CONFIRM ------------------------ */

/* Which of a merchant's payouts a page lists. */
struct S_payouts_of {
    const char *mchid;
    bool waiting_only;
    int64_t settled_ms; /* read before the rows: payout_routes.c's S_v3_get */
};

static enum qb_error S_payouts_of_read(struct http_request *req, struct store *reader,
                                       const void *arg, int64_t cursor, void *rows, size_t room,
                                       size_t *count)
{
    (void)req;
    const struct S_payouts_of *of = arg;
    struct merchant m; /* no such merchant is 404, not an empty list */
    enum qb_error err = merchant_get(NULL, reader, of->mchid, &m);
    if (err == QB_OK)
        err = merchant_payouts_of(reader, of->mchid, of->waiting_only, of->settled_ms, cursor, rows,
                                  room, count);
    return err;
}

static json_t *S_payouts_of_item(struct http_request *req, struct store *reader, const void *arg,
                                 const void *row, enum qb_error *err)
{
    (void)req, (void)reader, (void)arg, (void)err;
    return S_admin_payout_json(row);
}

static const struct http_list S_payouts_of = {sizeof(struct merchant_payout),
                                              HTTP_LIST_KEY(struct merchant_payout, seq),
                                              S_payouts_of_read, S_payouts_of_item};

void http_handle_admin_merchants_payouts_list(struct http_request *req)
{
    struct S_payouts_of of = {S_mchid_param(req), false, 0};
    if (of.mchid == NULL)
        return;
    const char *state = http_request_query(req, "state");
    if (state != NULL && strcmp(state, "WAIT_USER_CONFIRM") != 0) {
        http_reply_error_message(req, QB_E_PARAM,
                                 "state must be WAIT_USER_CONFIRM (the ones a stop can still "
                                 "reach), or absent for all");
        return;
    }
    of.waiting_only = state != NULL;
    of.settled_ms = http_request_settled_ms(req);
    http_reply_list(req, &S_payouts_of, &of);
}

/* --- GET /admin/audit (domain/audit.h) --------------------------------------------------- */

static enum qb_error S_audit_read(struct http_request *req, struct store *reader, const void *arg,
                                  int64_t cursor, void *rows, size_t room, size_t *count)
{
    (void)req;
    return domain_audit_list(reader, arg, cursor, rows, room, count);
}

static json_t *S_audit_item(struct http_request *req, struct store *reader, const void *arg,
                            const void *row, enum qb_error *err)
{
    (void)req, (void)reader, (void)arg, (void)err;
    const struct domain_audit_row *a = row;
    return json_pack("{s:o, s:s, s:s, s:s, s:o, s:o, s:s, s:b, s:s}", "at",
                     http_time_json(a->at_ms), "by", a->by, "action", a->action, "target",
                     a->target, "detail",
                     a->detail[0] != '\0' ? json_string(a->detail) : json_null(), "reason",
                     a->reason[0] != '\0' ? json_string(a->reason) : json_null(), "result",
                     a->result, "changed", a->changed, "request_id", a->request_id);
}

static const struct http_list S_audit = {sizeof(struct domain_audit_row),
                                         HTTP_LIST_KEY(struct domain_audit_row, seq), S_audit_read,
                                         S_audit_item};

/* Whether text is 1 to size_max - 1 of the characters in set. */
static bool S_token_is(const char *text, size_t size_max, const char *set)
{
    size_t size = strnlen(text, size_max);
    return size > 0 && size < size_max && strspn(text, set) == size;
}

void http_handle_admin_audit_list(struct http_request *req)
{
    struct domain_audit_filter *f = http_request_alloc(req, sizeof *f);
    if (f == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    const char *by = http_request_query(req, "by");
    const char *action = http_request_query(req, "action");
    const char *target = http_request_query(req, "target");
    const char *from = http_request_query(req, "from");
    const char *to = http_request_query(req, "to");
    /* An empty filter is no filter, as the other lists take it. */
    if (from != NULL && from[0] == '\0')
        from = NULL;
    if (to != NULL && to[0] == '\0')
        to = NULL;
    f->by = by != NULL && by[0] != '\0' ? by : NULL;
    f->action = action != NULL && action[0] != '\0' ? action : NULL;
    f->target = target != NULL && target[0] != '\0' ? target : NULL;
    if (f->by != NULL && strcmp(f->by, "admin") != 0 &&
        strcmp(f->by, DOMAIN_AUDIT_BY_DAEMON) != 0 &&
        !(strncmp(f->by, "admin:", 6) == 0 && identity_operator_name_is_valid(f->by + 6))) {
        http_reply_error_message(req, QB_E_PARAM,
                                 "by must be admin, admin:NAME or " DOMAIN_AUDIT_BY_DAEMON);
        return;
    }
    if (f->action != NULL &&
        !S_token_is(f->action, DOMAIN_AUDIT_ACTION_SIZE_MAX, "abcdefghijklmnopqrstuvwxyz_")) {
        http_reply_error_message(req, QB_E_PARAM,
                                 "action must be an action's name, as user_freeze");
        return;
    }
    if (f->target != NULL && !domain_audit_target_is_valid(f->target)) {
        http_reply_error_message(req, QB_E_PARAM,
                                 "target must be a user or payment id, an mchid or an operator's "
                                 "name");
        return;
    }
    if ((from != NULL && !bills_time_parse(from, false, &f->from_ms)) ||
        (to != NULL && !bills_time_parse(to, true, &f->to_ms))) {
        http_reply_error_message(req, QB_E_PARAM,
                                 "from and to must be RFC 3339 times or YYYY-MM-DD dates");
        return;
    }
    if (f->from_ms < 0)
        f->from_ms = 0; /* a date of 1970 in UTC+8 began before any row */
    if ((to != NULL && f->to_ms <= 0) || (f->to_ms != 0 && f->from_ms >= f->to_ms)) {
        http_reply_error_message(req, QB_E_PARAM, "from must be before to");
        return;
    }
    http_reply_list(req, &S_audit, f);
}

/*
 * refund_routes.c — refunds and notifications of the merchant API
 * (docs/merchant.md, "Refunds" and "Notifications").
 *
 *   POST /v3/refund/domestic/refunds                  merchant/refund.h
 *   POST /v1/merchants/me/refunds     the same refund by the merchant's
 *        owner from the shop's phone, with the payment password and an
 *        Idempotency-Key (a /v1 money-moving POST: its answer is kept)
 *   GET  /v3/refund/domestic/refunds/{out_refund_no}
 *   GET  /v3/qianbao/notifications?limit=&cursor=     Qianbao's own: the
 *        merchant's notifications and every delivery attempt, newest first
 *   GET  /v1/merchants/{mchid}/notifications?limit=&cursor=   the same list
 *        for the merchant's owner, a wallet user (another's merchant: 404)
 *   POST /v3/qianbao/notifications/{id}/resend     Qianbao's own: send it
 *        again now (merchant/notify.h)
 *   POST /v1/merchants/{mchid}/notifications/{id}/resend   the same for the
 *        owner
 *
 * Every refusal before the command is PARAM_ERROR, as WeChat answers; a
 * refund's fingerprint, kept with it, is its body re-serialised with
 * sorted keys, while a retry is told from another refund by its order and
 * amounts (merchant/refund.h, check 1). A notify_url is checked here,
 * without a lookup (http_v3_notify_url_allowed), never inside the command.
 */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "http/internal.h"
#include "merchant/notify.h"
#include "merchant/refund.h"

bool http_v3_notify_url_allowed(struct http_request *req, const char *url)
{
    const struct domain_env *env = http_request_env(req);
    const char *reason = "";
    /* Not looked up here: a resolver that takes seconds would hold every
     * connection of this HTTP thread. An address, or a localhost name, is
     * judged at once; any other name when a notification goes to it, where
     * the host is resolved and the connection pinned to what was checked. */
    enum qb_error err = merchant_notify_url_check(
        url, env != NULL && env->settings.notify_private_allowed, false, NULL, 0, &reason);
    if (err == QB_OK || err == QB_E_NOT_FOUND)
        return true;
    http_reply_error_message(req, QB_E_PARAM, reason);
    return false;
}

/* --- create -------------------------------------------------------------------------- */

static const struct http_field S_refund_fields[] = {
    {"transaction_id", HTTP_FIELD_STRING, false, 32, 0, 0},
    {"out_trade_no", HTTP_FIELD_STRING, false, 32, 0, 0},
    {"out_refund_no", HTTP_FIELD_STRING, true, MERCHANT_OUT_REFUND_NO_SIZE_MAX - 1, 0, 0},
    {"reason", HTTP_FIELD_STRING, false, MERCHANT_REASON_SIZE_MAX - 1, 0, 0},
    {"notify_url", HTTP_FIELD_STRING, false, MERCHANT_NOTIFY_URL_SIZE_MAX - 1, 0, 0},
    {"funds_account", HTTP_FIELD_STRING, false, 16, 0, 0},
    {"amount", HTTP_FIELD_OBJECT, true, 0, 0, 0},
    {"goods_detail", HTTP_FIELD_ARRAY, false, 0, 0, 0},
};

static const struct http_field S_amount_fields[] = {
    {"refund", HTTP_FIELD_INTEGER, true, 0, 1, MERCHANT_ORDER_TOTAL_MAX_MINOR},
    {"total", HTTP_FIELD_INTEGER, true, 0, 1, MERCHANT_ORDER_TOTAL_MAX_MINOR},
    {"currency", HTTP_FIELD_STRING, true, 8, 0, 0},
    {"from", HTTP_FIELD_ARRAY, false, 0, 0, 0},
};

static void S_reply_refund(struct http_request *req, const struct merchant_refund *r)
{
    json_t *body = merchant_refund_json(r);
    http_reply_json_new(req, 200, body);
}

static void S_create_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct merchant_refund_create_cmd *c = (struct merchant_refund_create_cmd *)cmd;
    if (!http_reply_refusal(req, cmd, c->outcome, c->message))
        S_reply_refund(req, &c->refund);
    ledger_cmd_release(cmd);
}

void http_handle_v3_refunds_create(struct http_request *req)
{
    json_t *body = http_v3_json_body(req, S_refund_fields, QB_ARRAY_COUNT(S_refund_fields));
    if (body == NULL)
        return;
    const struct domain_env *env = http_request_env(req);
    const struct merchant *m = http_request_merchant(req);
    json_t *amount = json_object_get(body, "amount");
    const char *transaction_id = http_json_string(body, "transaction_id");
    const char *out_trade_no = http_json_string(body, "out_trade_no");
    const char *notify_url = http_json_string(body, "notify_url");
    const char *funds_account = http_json_string(body, "funds_account");
    char message[HTTP_JSON_MESSAGE_SIZE_MAX];
    char host[MERCHANT_NOTIFY_HOST_SIZE_MAX];
    int port = 0;
    const char *fail = NULL;
    if (env == NULL || m == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        goto out;
    }
    if (http_json_object(amount, S_amount_fields, QB_ARRAY_COUNT(S_amount_fields), message) !=
        QB_OK) {
        http_reply_error_message(req, QB_E_PARAM, message);
        goto out;
    }
    if (transaction_id == NULL && out_trade_no == NULL)
        fail = "transaction_id or out_trade_no is required";
    /* WeChat's fields are string[1, 32]: an empty one is malformed, not
     * an order that does not exist, even beside a good other one. */
    else if (transaction_id != NULL && transaction_id[0] == '\0')
        fail = "transaction_id must not be empty";
    else if (out_trade_no != NULL && out_trade_no[0] == '\0')
        fail = "out_trade_no must not be empty";
    else if (!merchant_out_refund_no_is_valid(http_json_string(body, "out_refund_no")))
        fail = "out_refund_no must be 1 to 64 of 0-9 A-Z a-z _ - | * @";
    else if (strcmp(http_json_string(amount, "currency"), "CNY") != 0)
        fail = "amount.currency must be CNY";
    else if (json_integer_value(json_object_get(amount, "refund")) >
             json_integer_value(json_object_get(amount, "total")))
        fail = "amount.refund must not exceed amount.total";
    else if (funds_account != NULL && strcmp(funds_account, "AVAILABLE") != 0)
        fail = "funds_account must be AVAILABLE";
    else if (notify_url != NULL && !merchant_notify_url_parse(notify_url, host, &port))
        fail = "notify_url must be an http or https URL";
    if (fail != NULL) {
        http_reply_error_message(req, QB_E_PARAM, fail);
        goto out;
    }
    if (notify_url != NULL && !http_v3_notify_url_allowed(req, notify_url))
        goto out;

    struct merchant_refund_create_cmd *c = http_request_alloc(req, sizeof *c);
    char *canonical = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    if (c == NULL || canonical == NULL) {
        free(canonical);
        http_reply_error(req, c == NULL ? QB_E_TOO_LARGE : QB_E_INTERNAL);
        goto out;
    }
    merchant_refund_create_cmd_init(c, env);
    struct merchant_refund *r = &c->refund;
    uint8_t digest[CRYPTO_SHA256_SIZE];
    crypto_sha256(canonical, strlen(canonical), digest);
    domain_request_fingerprint(env, digest, r->request_hash);
    free(canonical);
    snprintf(r->mchid, sizeof r->mchid, "%s", m->mchid);
    snprintf(r->out_refund_no, sizeof r->out_refund_no, "%s",
             http_json_string(body, "out_refund_no"));
    /* Both given: the transaction_id wins, as WeChat has it. An id of the
     * wrong shape finds no order (RESOURCE_NOT_EXISTS). */
    if (transaction_id != NULL)
        snprintf(r->transaction_id, sizeof r->transaction_id, "%s",
                 strlen(transaction_id) < sizeof r->transaction_id ? transaction_id : "0");
    else
        snprintf(r->out_trade_no, sizeof r->out_trade_no, "%s", out_trade_no);
    const char *reason = http_json_string(body, "reason");
    snprintf(r->reason, sizeof r->reason, "%s", reason != NULL ? reason : "");
    snprintf(r->notify_url, sizeof r->notify_url, "%s", notify_url != NULL ? notify_url : "");
    r->refund_minor = (int64_t)json_integer_value(json_object_get(amount, "refund"));
    r->total_minor = (int64_t)json_integer_value(json_object_get(amount, "total"));
    http_request_submit(req, &c->cmd, S_create_resume);
out:
    json_decref(body);
}

/* --- the owner's refund ------------------------------------------------------------------ */

static const struct http_field S_owner_refund_fields[] = {
    {"mchid", HTTP_FIELD_STRING, false, 32, 0, 0},
    {"transaction_id", HTTP_FIELD_STRING, false, 32, 0, 0},
    {"out_trade_no", HTTP_FIELD_STRING, false, 32, 0, 0},
    {"amount", HTTP_FIELD_INTEGER, true, 0, 1, MERCHANT_ORDER_TOTAL_MAX_MINOR},
    {"reason", HTTP_FIELD_STRING, false, MERCHANT_REASON_SIZE_MAX - 1, 0, 0},
    {"payment_password", HTTP_FIELD_STRING, true, 16, 0, 0},
};

struct S_owner_refund {
    struct merchant_refund_create_cmd c; /* first: the server hands back &c.cmd */
    char principal[ID_TEXT_SIZE_MAX + 8];
};

static void S_owner_refund_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct S_owner_refund *o = (struct S_owner_refund *)cmd;
    if (http_cmd_failure_is_news(cmd->result))
        log_event(LOG_WARN, "http.owner_refund_failed", "error=%s", error_name(cmd->result));
    if (cmd->result == QB_OK && o->c.outcome == QB_OK)
        log_event(LOG_INFO, "merchant.owner_refund", "mchid=%s by=%s refund=%s amount=%lld",
                  o->c.refund.mchid, o->c.owner_user_id, o->c.refund.refund_id,
                  (long long)o->c.refund.refund_minor);
    http_reply_stored(req, cmd);
    crypto_wipe(o->c.payment_password, sizeof o->c.payment_password);
    ledger_cmd_release(cmd);
}

void http_handle_merchants_me_refunds_create(struct http_request *req)
{
    json_t *body =
        http_json_body(req, S_owner_refund_fields, QB_ARRAY_COUNT(S_owner_refund_fields));
    if (body == NULL)
        return;
    const struct domain_env *env = http_request_env(req);
    const char *password = http_json_string(body, "payment_password");
    const char *transaction_id = http_json_string(body, "transaction_id");
    const char *out_trade_no = http_json_string(body, "out_trade_no");
    const char *reason = http_json_string(body, "reason");
    int64_t amount = (int64_t)json_integer_value(json_object_get(body, "amount"));
    struct merchant *m = http_request_alloc(req, sizeof *m);
    struct S_owner_refund *o = http_request_alloc(req, sizeof *o);
    if (env == NULL || m == NULL || o == NULL) {
        http_reply_error(req, env == NULL ? QB_E_INTERNAL : QB_E_TOO_LARGE);
        goto out;
    }
    if ((transaction_id != NULL) == (out_trade_no != NULL)) {
        http_reply_error_message(req, QB_E_PARAM, "give one of transaction_id and out_trade_no");
        goto out;
    }
    if ((transaction_id != NULL ? transaction_id : out_trade_no)[0] == '\0') {
        http_reply_error_message(req, QB_E_PARAM,
                                 transaction_id != NULL ? "transaction_id must not be empty"
                                                        : "out_trade_no must not be empty");
        goto out;
    }
    if (!http_payment_password_check(req, password) ||
        !http_merchant_owned(req, http_json_string(body, "mchid"), m))
        goto out;
    merchant_refund_create_cmd_init(&o->c, env);
    const char *user_id = http_request_session(req)->user_id;
    snprintf(o->principal, sizeof o->principal, "user:%s", user_id);
    if (!http_idempotency_arm(req, &o->c.cmd, o->principal)) {
        ledger_cmd_release(&o->c.cmd);
        goto out;
    }
    struct merchant_refund *r = &o->c.refund;
    snprintf(o->c.owner_user_id, sizeof o->c.owner_user_id, "%s", user_id);
    snprintf(o->c.payment_password, sizeof o->c.payment_password, "%s", password);
    snprintf(r->mchid, sizeof r->mchid, "%s", m->mchid);
    /* An id of the wrong shape finds no order (ORDER_NOT_EXIST). */
    if (transaction_id != NULL)
        snprintf(r->transaction_id, sizeof r->transaction_id, "%s",
                 strlen(transaction_id) < sizeof r->transaction_id ? transaction_id : "0");
    else
        snprintf(r->out_trade_no, sizeof r->out_trade_no, "%s", out_trade_no);
    snprintf(r->reason, sizeof r->reason, "%s", reason != NULL ? reason : "");
    r->refund_minor = amount;
    /* The row's fingerprint: what was asked, never the password; a retry
     * is the Idempotency-Key's. */
    char asked[128];
    snprintf(asked, sizeof asked, "owner-refund %s %s %lld", r->transaction_id, r->out_trade_no,
             (long long)amount);
    uint8_t digest[CRYPTO_SHA256_SIZE];
    crypto_sha256(asked, strlen(asked), digest);
    domain_request_fingerprint(env, digest, r->request_hash);
    http_request_submit(req, &o->c.cmd, S_owner_refund_resume);
out:
    json_decref(body);
}

/* --- query ----------------------------------------------------------------------------- */

void http_handle_v3_refunds_get(struct http_request *req)
{
    const struct merchant *m = http_request_merchant(req);
    struct merchant_refund *r = http_request_alloc(req, sizeof *r);
    if (r == NULL || m == NULL) {
        http_reply_error(req, r == NULL ? QB_E_TOO_LARGE : QB_E_INTERNAL);
        return;
    }
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return;
    enum qb_error err =
        merchant_refund_get(reader, m->mchid, http_request_param(req, "out_refund_no"), r);
    http_reader_release(req, reader);
    if (err != QB_OK) {
        http_reply_error(req, err);
        return;
    }
    S_reply_refund(req, r);
}

/* --- notifications ----------------------------------------------------------------------- */

/* Replies with a page of mchid's notifications (the ?limit= and ?cursor=
 * of every list), its array under key; releases reader. */
static void S_notifications_reply(struct http_request *req, struct store *reader, const char *mchid,
                                  const char *key)
{
    size_t limit;
    int64_t before_seq, next_seq = 0;
    if (!http_query_limit(req, &limit) || !http_query_cursor(req, &before_seq)) {
        http_reader_release(req, reader);
        return;
    }
    json_t *items = NULL;
    enum qb_error err =
        merchant_notifications_list(reader, mchid, before_seq, limit, &items, &next_seq);
    http_reader_release(req, reader);
    json_t *body = err == QB_OK ? http_page_json(req, items, next_seq) : NULL;
    if (body != NULL && strcmp(key, "items") != 0) {
        json_t *data = json_incref(json_object_get(body, "items"));
        if (json_object_del(body, "items") != 0 || json_object_set_new(body, key, data) != 0) {
            json_decref(body);
            body = NULL;
        }
    }
    if (body != NULL)
        http_reply_json(req, 200, body);
    else
        http_reply_error(req, err != QB_OK ? err : QB_E_INTERNAL);
    json_decref(body);
}

void http_handle_v3_notifications_list(struct http_request *req)
{
    const struct merchant *m = http_request_merchant(req);
    if (m == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        return;
    }
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return;
    S_notifications_reply(req, reader, m->mchid, "data");
}

void http_handle_merchant_notifications_list(struct http_request *req)
{
    const struct identity_session *session = http_request_session(req);
    const char *mchid = http_request_param(req, "mchid");
    struct merchant *m = http_request_alloc(req, sizeof *m);
    if (m == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return;
    /* Another user's merchant is not there, like one that never was. */
    enum qb_error err =
        merchant_owned_get(http_request_env(req), reader, session->user_id, mchid, m);
    if (err != QB_OK) {
        http_reader_release(req, reader);
        http_reply_error(req, err);
        return;
    }
    S_notifications_reply(req, reader, m->mchid, "items");
}

/* --- sending a notification again -------------------------------------------------------- */

struct S_resend {
    struct merchant_notify_resend_cmd c; /* first */
    bool v3;                             /* the merchant's own route: WeChat's codes */
};

static void S_resend_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct S_resend *t = (struct S_resend *)cmd;
    const struct merchant_notify_resend_cmd *c = &t->c;
    const char *before = c->status_before == MERCHANT_NOTIFY_FAILED ? "FAILED" : "PENDING";
    if (cmd->result != QB_OK) {
        http_reply_error(req, cmd->result);
    } else if (c->outcome == QB_E_NOT_FOUND) {
        http_reply_error_message(req, t->v3 ? QB_E_RESOURCE_NOT_EXISTS : QB_E_NOT_FOUND,
                                 "no such notification");
    } else if (c->outcome == QB_E_CONFLICT) {
        http_reply_error_message(req, t->v3 ? QB_E_INVALID_REQUEST : QB_E_CONFLICT,
                                 c->status_before == MERCHANT_NOTIFY_DELIVERED
                                     ? "the notification was delivered"
                                     : "the notification has had every attempt it may have");
    } else if (c->outcome != QB_OK) {
        http_reply_error(req, c->outcome);
    } else {
        json_t *body =
            json_pack("{s:s, s:s, s:s, s:I, s:o}", "id", c->id, "status", "PENDING",
                      "previous_status", before, "attempt_count", (json_int_t)c->attempt_count,
                      "next_attempt_time", http_time_json(c->next_attempt_at_ms));
        http_reply_json_new(req, 200, body);
        log_event(LOG_INFO, "merchant.notify.resend", "mchid=%s id=%s was=%s attempts=%lld by=%s",
                  c->mchid, c->id, before, (long long)c->attempt_count, http_request_by(req));
    }
    ledger_cmd_release(cmd);
}

/* Submits the resend of the {id} notification of mchid. */
static void S_resend(struct http_request *req, const char *mchid, bool v3)
{
    struct S_resend *t = http_request_alloc(req, sizeof *t);
    if (t == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    merchant_notify_resend_cmd_init(&t->c);
    t->v3 = v3;
    snprintf(t->c.mchid, sizeof t->c.mchid, "%s", mchid);
    /* An id too long for any notification finds none, as a wrong one does. */
    const char *id = http_request_param(req, "id");
    if (strlen(id) >= sizeof t->c.id) {
        http_reply_error_message(req, v3 ? QB_E_RESOURCE_NOT_EXISTS : QB_E_NOT_FOUND,
                                 "no such notification");
        return;
    }
    snprintf(t->c.id, sizeof t->c.id, "%s", id);
    http_request_submit(req, &t->c.cmd, S_resend_resume);
}

void http_handle_v3_notifications_resend(struct http_request *req)
{
    /* No fields: an empty body or {} only. */
    json_t *body = http_v3_json_body(req, NULL, 0);
    if (body == NULL)
        return;
    json_decref(body);
    const struct merchant *m = http_request_merchant(req);
    if (m == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        return;
    }
    S_resend(req, m->mchid, true);
}

void http_handle_merchant_notifications_resend(struct http_request *req)
{
    json_t *body = http_json_body(req, NULL, 0);
    if (body == NULL)
        return;
    json_decref(body);
    const struct identity_session *session = http_request_session(req);
    struct merchant *m = http_request_alloc(req, sizeof *m);
    if (m == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return;
    /* Another user's merchant is not there, like one that never was. */
    enum qb_error err = merchant_owned_get(http_request_env(req), reader, session->user_id,
                                           http_request_param(req, "mchid"), m);
    http_reader_release(req, reader);
    if (err != QB_OK) {
        http_reply_error(req, err);
        return;
    }
    S_resend(req, m->mchid, false);
}

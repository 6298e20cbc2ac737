/*
 * redpacket_routes.c — red packets: POST /v1/red-packets, POST
 * /v1/red-packets/{id}/claims, GET /v1/red-packets/{id}, all
 * HTTP_AUTH_USER; and the operator's GET /admin/red-packets/{id}
 * (HTTP_AUTH_ADMIN), the same view as the sender's with the user ids, for
 * a dispute.
 *
 * Sending checks the body's shape here and hands everything else to one
 * redpacket_send_cmd (src/wallet/redpacket.h), armed with the
 * Idempotency-Key under the principal "user:<id>", and replies with the
 * stored answer. Claiming needs no key: one claim per user is its
 * idempotency, and a second claim answers the first (200). The claim
 * command writes its answer the same way, so both resume through
 * http_reply_stored.
 *
 * Who may read a packet: any logged-in user who has its id. A packet is
 * shared in a chat as its id, as WeChat shares it in a group; the ids are
 * unguessable (80 random bits after the time it was sent), and the view
 * masks every name and shows no user's id or phone (only the operator's
 * shows ids). An id that does not exist is 404.
 *
 * Never in a response or a log: the payment password; the seed before the
 * packet closed.
 */
#include <stdio.h>
#include <string.h>

#include "base/crypto.h"
#include "base/log.h"
#include "http/internal.h"
#include "wallet/redpacket.h"

#define S_PAYMENT_PASSWORD_SIZE_MAX 16 /* six digits; longer is refused by shape */
#define S_PRINCIPAL_SIZE_MAX (5 + ID_TEXT_SIZE_MAX)

_Static_assert(sizeof(((struct redpacket_send_cmd *)0)->payment_password) == 8,
               "six digits and a NUL fit the send command");

/* The {id} of the path when it has the shape of a packet id, else NULL
 * after replying NOT_FOUND: a malformed id names no packet. */
static const char *S_packet_id(struct http_request *req)
{
    const char *id = http_request_param(req, "id");
    if (id != NULL && id_is_valid(id, strlen(id), "rp"))
        return id;
    http_reply_error(req, QB_E_NOT_FOUND);
    return NULL;
}

static void S_log_failure(const struct ledger_cmd *cmd)
{
    if (http_cmd_failure_is_news(cmd->result))
        log_event(LOG_WARN, "http.red_packet_failed", "error=%s", error_name(cmd->result));
}

/* --- POST /v1/red-packets ------------------------------------------------------------ */

struct S_send {
    struct redpacket_send_cmd c; /* first: the server hands back &c.cmd */
    char principal[S_PRINCIPAL_SIZE_MAX];
};

static const struct http_field S_send_fields[] = {
    {"type", HTTP_FIELD_STRING, true, 8, 0, 0},
    {"total_amount", HTTP_FIELD_INTEGER, false, 0, 0, 0},
    {"amount_per_share", HTTP_FIELD_INTEGER, false, 0, 0, 0},
    {"count", HTTP_FIELD_INTEGER, true, 0, 1, REDPACKET_COUNT_MAX},
    {"greeting", HTTP_FIELD_STRING, false, REDPACKET_GREETING_SIZE_MAX - 1, 0, 0},
    {"currency", HTTP_FIELD_STRING, false, 8, 0, 0},
    {"payment_password", HTTP_FIELD_STRING, true, S_PAYMENT_PASSWORD_SIZE_MAX, 0, 0},
};

static void S_send_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct S_send *s = (struct S_send *)cmd;
    S_log_failure(cmd);
    http_reply_stored(req, cmd);
    crypto_wipe(s->c.payment_password, sizeof s->c.payment_password);
    ledger_cmd_release(cmd);
}

void http_handle_red_packets_create(struct http_request *req)
{
    json_t *body = http_json_body(req, S_send_fields, QB_ARRAY_COUNT(S_send_fields));
    if (body == NULL)
        return;
    const struct identity_session *session = http_request_session(req);
    const struct domain_env *env = http_request_env(req);
    const char *type = http_json_string(body, "type");
    const json_t *total = json_object_get(body, "total_amount");
    const json_t *per_share = json_object_get(body, "amount_per_share");
    const char *greeting = http_json_string(body, "greeting");
    const char *currency_code = http_json_string(body, "currency");
    const char *payment_password = http_json_string(body, "payment_password");
    json_int_t count = json_integer_value(json_object_get(body, "count"));

    /* Shapes only: balance and limits are the command's to judge. */
    enum redpacket_type packet_type;
    if (strcmp(type, "lucky") == 0) {
        packet_type = REDPACKET_LUCKY;
        if (total == NULL || per_share != NULL) {
            http_reply_error_message(
                req, QB_E_PARAM,
                total == NULL ? "a lucky packet needs total_amount"
                              : "a lucky packet takes total_amount, not amount_per_share");
            goto out;
        }
    } else if (strcmp(type, "equal") == 0) {
        packet_type = REDPACKET_EQUAL;
        if (per_share == NULL && total == NULL) {
            http_reply_error_message(req, QB_E_PARAM,
                                     "an equal packet needs amount_per_share or total_amount");
            goto out;
        }
    } else {
        http_reply_error_message(req, QB_E_PARAM, "type must be lucky or equal");
        goto out;
    }
    if (!http_payment_password_check(req, payment_password))
        goto out;
    const struct currency *currency = NULL;
    if (currency_code != NULL &&
        (currency = currency_find(currency_code)) != currency_find("CNY")) {
        http_reply_error_message(req, QB_E_BAD_CURRENCY, "red packets are in CNY only");
        goto out;
    }
    /* A positive amount is a shape, refused before the key keeps anything;
     * whether it splits into count shares of at least a fen is the
     * command's to judge. */
    if ((total != NULL && json_integer_value(total) <= 0) ||
        (per_share != NULL && json_integer_value(per_share) <= 0)) {
        http_reply_error_message(req, QB_E_BAD_AMOUNT,
                                 "the amount must be a positive integer of minor units (fen)");
        goto out;
    }
    /* An equal packet named by its total (as the contract names every
     * packet) is count shares of total / count: one that does not split
     * evenly, or that disagrees with amount_per_share, is the client's
     * mistake to hear, not a rounding to guess. */
    int64_t per_share_minor = per_share != NULL ? (int64_t)json_integer_value(per_share) : 0;
    if (packet_type == REDPACKET_EQUAL && total != NULL) {
        int64_t total_minor = (int64_t)json_integer_value(total);
        if (total_minor % count != 0 ||
            (per_share != NULL && per_share_minor != total_minor / count)) {
            http_reply_error_message(req, QB_E_PARAM,
                                     per_share == NULL
                                         ? "an equal packet's total_amount must split into count "
                                           "equal shares of whole fen"
                                         : "total_amount must be amount_per_share × count");
            goto out;
        }
        per_share_minor = total_minor / count;
    }
    if (env == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        goto out;
    }
    struct S_send *s = http_request_alloc(req, sizeof *s);
    if (s == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        goto out;
    }
    redpacket_send_cmd_init(&s->c, env);
    snprintf(s->principal, sizeof s->principal, "user:%s", session->user_id);
    if (!http_idempotency_arm(req, &s->c.cmd, s->principal)) {
        ledger_cmd_release(&s->c.cmd);
        goto out;
    }
    snprintf(s->c.sender_id, sizeof s->c.sender_id, "%s", session->user_id);
    s->c.type = packet_type;
    s->c.total_minor = packet_type == REDPACKET_LUCKY ? (int64_t)json_integer_value(total) : 0;
    s->c.per_share_minor = packet_type == REDPACKET_EQUAL ? per_share_minor : 0;
    s->c.count = (int64_t)count;
    s->c.currency = currency;
    snprintf(s->c.greeting, sizeof s->c.greeting, "%s", greeting != NULL ? greeting : "");
    snprintf(s->c.payment_password, sizeof s->c.payment_password, "%s", payment_password);
    http_request_submit(req, &s->c.cmd, S_send_resume);
out:
    json_decref(body);
}

/* --- POST /v1/red-packets/{id}/claims ------------------------------------------------ */

static void S_claim_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    S_log_failure(cmd);
    http_reply_stored(req, cmd);
    ledger_cmd_release(cmd);
}

void http_handle_red_packets_claim(struct http_request *req)
{
    /* No body is needed; one that is sent must be an empty object. */
    json_t *body = http_json_body(req, NULL, 0);
    if (body == NULL)
        return;
    json_decref(body);
    const struct identity_session *session = http_request_session(req);
    const struct domain_env *env = http_request_env(req);
    const char *id = S_packet_id(req);
    if (id == NULL)
        return;
    if (env == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        return;
    }
    struct redpacket_claim_cmd *c = http_request_alloc(req, sizeof *c);
    if (c == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    redpacket_claim_cmd_init(c, env);
    snprintf(c->packet_id, sizeof c->packet_id, "%s", id);
    snprintf(c->user_id, sizeof c->user_id, "%s", session->user_id);
    http_request_submit(req, &c->cmd, S_claim_resume);
}

/* --- GET /v1/red-packets/{id}, GET /admin/red-packets/{id} ------------------------------ */

/* One view for both: the packet as viewer_id sees it, or (NULL) as an
 * operator does, which is the sender's view with the user ids. */
static void S_view_reply(struct http_request *req, const char *viewer_id)
{
    const struct domain_env *env = http_request_env(req);
    const char *id = S_packet_id(req);
    if (id == NULL)
        return;
    if (env == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        return;
    }
    int64_t now_ms = http_request_settled_ms(req); /* before the rows: ledger.h */
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return;
    json_t *body = NULL;
    enum qb_error err = viewer_id != NULL
                            ? redpacket_view_json(reader, env, id, viewer_id, now_ms, &body)
                            : redpacket_operator_view_json(reader, env, id, now_ms, &body);
    http_reader_release(req, reader);
    if (err != QB_OK) {
        http_reply_error(req, err == QB_E_NOT_FOUND || err == QB_E_STORAGE ? err : QB_E_INTERNAL);
        return;
    }
    http_reply_json_new(req, 200, body);
}

void http_handle_red_packets_get(struct http_request *req)
{
    S_view_reply(req, http_request_session(req)->user_id);
}

void http_handle_admin_red_packets_get(struct http_request *req) { S_view_reply(req, NULL); }

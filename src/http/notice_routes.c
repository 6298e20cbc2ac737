/*
 * notice_routes.c — the caller's notices (src/wallet/notice.h): the list,
 * how many are unread, and marking them read.
 *
 * The user's routes reach only the caller's own notices; another user's
 * notice id is answered as one that never existed. The operator reads any
 * user's list as the user does (GET /admin/users/{id}/notices).
 */
#include <stdio.h>
#include <string.h>

#include "http/internal.h"
#include "wallet/notice.h"

/* --- GET /v1/me/notices ------------------------------------------------------------------- */

static enum qb_error S_notices_read(struct http_request *req, struct store *reader,
                                    const void *user_id, int64_t cursor, void *rows, size_t room,
                                    size_t *count)
{
    (void)req;
    struct identity_user user; /* the operator's: no such user is 404 */
    enum qb_error err = identity_user_get(reader, user_id, &user);
    if (err == QB_OK)
        err = wallet_notices(reader, user_id, cursor, rows, room, count);
    return err;
}

static json_t *S_notice_item(struct http_request *req, struct store *reader, const void *user_id,
                             const void *row, enum qb_error *err)
{
    (void)req;
    const struct wallet_notice *n = row;
    struct bills_counterparty party;
    char memo[WALLET_MEMO_SIZE_MAX];
    *err = wallet_notice_detail(reader, n, user_id, &party, memo, sizeof memo);
    if (*err != QB_OK)
        return NULL;
    const char *ref_name =
        n->type == WALLET_NOTICE_RED_PACKET_REFUNDED ? "red_packet_id" : "payment_id";
    return json_pack("{s:s, s:s, s:s, s:I, s:s, s:o, s:o, s:s, s:o, s:b}", "id", n->id, "type",
                     wallet_notice_type_name(n->type), ref_name, n->ref, "amount",
                     (json_int_t)n->amount_minor, "currency", n->currency->code, "failure_code",
                     n->failure_code[0] != '\0' ? json_string(n->failure_code) : json_null(),
                     "counterparty", http_bills_party_json(&party), "memo", memo, "created_at",
                     http_time_json(n->created_at_ms), "read", (int)n->read);
}

static const struct http_list S_notices = {sizeof(struct wallet_notice),
                                           HTTP_LIST_KEY(struct wallet_notice, seq), S_notices_read,
                                           S_notice_item};

void http_handle_me_notices_list(struct http_request *req)
{
    http_reply_list(req, &S_notices, http_request_session(req)->user_id);
}

void http_handle_admin_users_notices_list(struct http_request *req)
{
    const char *id = http_user_id_param(req);
    if (id != NULL)
        http_reply_list(req, &S_notices, id);
}

/* --- GET /v1/me/notices/unread, POST /v1/me/notices/read ------------------------------------- */

/* Replies 200 {"unread": n} for the caller. */
static void S_unread_reply(struct http_request *req)
{
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return;
    int64_t unread = 0;
    enum qb_error err = wallet_notices_unread(reader, http_request_session(req)->user_id, &unread);
    http_reader_release(req, reader);
    json_t *body = err == QB_OK ? json_pack("{s:I}", "unread", (json_int_t)unread) : NULL;
    if (body != NULL)
        http_reply_json(req, 200, body);
    else
        http_reply_error(req, err != QB_OK ? err : QB_E_INTERNAL);
    json_decref(body);
}

void http_handle_me_notices_unread(struct http_request *req) { S_unread_reply(req); }

static const struct http_field S_read_fields[] = {
    {"up_to", HTTP_FIELD_STRING, true, ID_TEXT_SIZE_MAX - 1, 0, 0},
};

static void S_read_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct wallet_notices_read_cmd *c = (struct wallet_notices_read_cmd *)cmd;
    if (cmd->result != QB_OK)
        http_reply_error(req, cmd->result);
    else if (c->outcome == QB_E_NOT_FOUND)
        http_reply_error_message(req, QB_E_NOT_FOUND, "no such notice");
    else if (c->outcome != QB_OK)
        http_reply_error(req, c->outcome);
    else
        S_unread_reply(req);
    ledger_cmd_release(cmd);
}

void http_handle_me_notices_mark_read(struct http_request *req)
{
    json_t *body = http_json_body(req, S_read_fields, QB_ARRAY_COUNT(S_read_fields));
    if (body == NULL)
        return;
    const char *up_to = http_json_string(body, "up_to");
    if (!id_is_valid(up_to, strlen(up_to), "n")) {
        http_reply_error_message(req, QB_E_NOT_FOUND, "no such notice");
        goto out;
    }
    struct wallet_notices_read_cmd *c = http_request_alloc(req, sizeof *c);
    if (c == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        goto out;
    }
    wallet_notices_read_cmd_init(c);
    snprintf(c->user_id, sizeof c->user_id, "%s", http_request_session(req)->user_id);
    snprintf(c->up_to_id, sizeof c->up_to_id, "%s", up_to);
    http_request_submit(req, &c->cmd, S_read_resume);
out:
    json_decref(body);
}

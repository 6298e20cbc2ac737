/*
 * operator_routes.c — named operators under /admin/operators, for the root
 * credential alone (the admin-token file): a named operator is refused
 * with 403 FORBIDDEN, so that a stolen operator's token cannot make more.
 *
 * An operator's token appears once, in the answer that gave it out (its
 * creation's, or a rotation's), and is wiped from the request's memory
 * once that answer is written; lists and revocations show names and times
 * only. Each change is an audit line (admin.operator_created,
 * admin.operator_token_rotated, admin.operator_revoked) naming the
 * operator, never the token. Names in paths that are not well formed
 * answer 404, as unknown ones do.
 */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "http/internal.h"

/* Only the root manages operators: false after replying 403. */
static bool S_root_only(struct http_request *req)
{
    if (http_request_is_root(req))
        return true;
    http_reply_error_message(req, QB_E_FORBIDDEN,
                             "operators are managed with the admin-token file's token only");
    return false;
}

static json_t *S_operator_json(const struct identity_operator *op)
{
    return json_pack("{s:s, s:o, s:o, s:o}", "name", op->name, "created_at",
                     http_time_json(op->created_at_ms), "token_issued_at",
                     http_time_json(op->token_issued_at_ms), "revoked_at",
                     op->revoked_at_ms != 0 ? http_time_json(op->revoked_at_ms) : json_null());
}

/* --- GET /admin/operators ---------------------------------------------------------- */

static enum qb_error S_operators_read(struct http_request *req, struct store *reader,
                                      const void *arg, int64_t cursor, void *rows, size_t room,
                                      size_t *count)
{
    (void)req, (void)arg;
    return identity_operators_list(reader, cursor, rows, room, count);
}

static json_t *S_operators_item(struct http_request *req, struct store *reader, const void *arg,
                                const void *row, enum qb_error *err)
{
    (void)req, (void)reader, (void)arg, (void)err;
    return S_operator_json(row);
}

static const struct http_list S_operators = {sizeof(struct identity_operator),
                                             HTTP_LIST_KEY(struct identity_operator, seq),
                                             S_operators_read, S_operators_item};

void http_handle_admin_operators_list(struct http_request *req)
{
    if (!S_root_only(req))
        return;
    http_reply_list(req, &S_operators, NULL);
}

/* --- POST /admin/operators --------------------------------------------------------- */

/* The answer of a command that gave out a token (CREATE: 201, ROTATE:
 * 200): the operator as listed, with the token, shown this once. */
static void S_token_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct identity_operator_cmd *c = (struct identity_operator_cmd *)cmd;
    bool create = c->op == IDENTITY_OPERATOR_CREATE;
    enum qb_error outcome = cmd->result != QB_OK ? cmd->result : c->outcome;
    if (outcome == QB_E_CONFLICT) {
        http_reply_error_message(req, outcome,
                                 create ? "an operator of that name exists or existed"
                                        : "that operator was revoked, and stays revoked: "
                                          "add the person under a new name");
    } else if (outcome == QB_E_NOT_FOUND) {
        http_reply_error_message(req, outcome, "no such operator");
    } else if (outcome != QB_OK) {
        http_reply_error(req, outcome);
    } else {
        json_t *body = S_operator_json(&c->operator);
        if (body == NULL || json_object_set_new(body, "token", json_string(c->token)) != 0) {
            json_decref(body);
            http_reply_error(req, QB_E_INTERNAL);
        } else {
            http_reply_json(req, create ? 201 : 200, body);
            /* The answer held the token: wipe the JSON's copy too. */
            json_t *token = json_object_get(body, "token");
            crypto_wipe((char *)json_string_value(token), json_string_length(token));
            json_decref(body);
        }
        log_event(LOG_AUDIT, create ? "admin.operator_created" : "admin.operator_token_rotated",
                  "name=%s by=%s", c->operator.name, http_request_by(req));
    }
    crypto_wipe(c->token, sizeof c->token);
    ledger_cmd_release(cmd);
}

static const struct http_field S_create_fields[] = {
    {"name", HTTP_FIELD_STRING, true, IDENTITY_OPERATOR_NAME_SIZE_MAX - 1, 0, 0},
};

void http_handle_admin_operators_create(struct http_request *req)
{
    if (!S_root_only(req))
        return;
    json_t *body = http_json_body(req, S_create_fields, QB_ARRAY_COUNT(S_create_fields));
    if (body == NULL)
        return;
    const char *name = http_json_string(body, "name");
    if (!identity_operator_name_is_valid(name)) {
        json_decref(body);
        http_reply_error_message(req, QB_E_PARAM,
                                 "name must be 1 to 32 of a-z 0-9 . _ -, starting with a letter");
        return;
    }
    /* The names the trail and the CLI give the root and the daemon: an
     * operator of either name would read as them (qianbao admin audit --by). */
    if (strcmp(name, "admin") == 0 || strcmp(name, "qianbaod") == 0) {
        json_decref(body);
        http_reply_error_message(req, QB_E_PARAM,
                                 "admin and qianbaod name the root and the daemon on the trail");
        return;
    }
    struct identity_operator_cmd *c = http_request_alloc(req, sizeof *c);
    if (c == NULL) {
        json_decref(body);
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    identity_operator_cmd_init(c, http_request_env(req), IDENTITY_OPERATOR_CREATE);
    snprintf(c->name, sizeof c->name, "%s", name);
    json_decref(body);
    if (http_request_audit(req, &c->cmd, "operator_create", c->name, &c->outcome, &c->changed) !=
        NULL)
        http_request_submit(req, &c->cmd, S_token_resume);
}

/* --- POST /admin/operators/{name}/revoke ------------------------------------------- */

static void S_revoked_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    const struct identity_operator_cmd *c = (const struct identity_operator_cmd *)cmd;
    enum qb_error outcome = cmd->result != QB_OK ? cmd->result : c->outcome;
    log_event(LOG_AUDIT, "admin.operator_revoked", "name=%s result=%s changed=%s by=%s", c->name,
              outcome == QB_OK ? "ok" : error_api_code(outcome), c->changed ? "true" : "false",
              http_request_by(req));
    if (outcome == QB_E_NOT_FOUND) {
        http_reply_error_message(req, outcome, "no such operator");
    } else if (outcome != QB_OK) {
        http_reply_error(req, outcome);
    } else {
        http_reply_json_new(req, 200, S_operator_json(&c->operator));
    }
    ledger_cmd_release(cmd);
}

/* A command on the operator the path names, which takes no body (empty or
 * {} only): replies 404 for a name of the wrong shape. */
static void S_operator_op(struct http_request *req, enum identity_operator_op op,
                          http_resume_fn resume)
{
    if (!S_root_only(req))
        return;
    const char *name = http_request_param(req, "name");
    if (!identity_operator_name_is_valid(name)) {
        http_reply_error_message(req, QB_E_NOT_FOUND, "no such operator");
        return;
    }
    json_t *body = http_json_body(req, NULL, 0);
    if (body == NULL)
        return;
    json_decref(body);
    struct identity_operator_cmd *c = http_request_alloc(req, sizeof *c);
    if (c == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    identity_operator_cmd_init(c, http_request_env(req), op);
    snprintf(c->name, sizeof c->name, "%s", name);
    const char *action =
        op == IDENTITY_OPERATOR_REVOKE ? "operator_revoke" : "operator_token_rotate";
    if (http_request_audit(req, &c->cmd, action, c->name, &c->outcome, &c->changed) != NULL)
        http_request_submit(req, &c->cmd, resume);
}

void http_handle_admin_operators_revoke(struct http_request *req)
{
    S_operator_op(req, IDENTITY_OPERATOR_REVOKE, S_revoked_resume);
}

/* --- POST /admin/operators/{name}/token -------------------------------------------- */

void http_handle_admin_operators_token_rotate(struct http_request *req)
{
    S_operator_op(req, IDENTITY_OPERATOR_ROTATE, S_token_resume);
}

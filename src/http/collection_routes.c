/*
 * collection_routes.c — group collections (群收款, src/wallet/collection.h),
 * every route HTTP_AUTH_USER but the operator's:
 *
 *   POST /v1/collections                  ask: title, amount each, count
 *                                         (Idempotency-Key optional)
 *   GET  /v1/me/collections               the caller's, newest first
 *   GET  /v1/collections/{id}             one, with who paid
 *   POST /v1/collections/{id}/payments    pay it (Idempotency-Key)
 *   POST /v1/collections/{id}/close       its asker ends it
 *   GET  /admin/collections/{id}          an operator's look-up (HTTP_AUTH_ADMIN):
 *                                         the asker's view with user and payment ids
 *
 * Who may read one: any logged-in user who has its id, as a red packet: it
 * is shared in a chat as its id (65 random bits after its sequence
 * number), and the view masks every name and shows no user's id or phone.
 * Paying hands the transfer's checks to one wallet_collection_pay_cmd
 * armed with the key under the principal "user:<id>", and replies with
 * the stored answer, as a transfer does.
 *
 * Never in a response or a log: the payment password.
 */
#include <stdio.h>
#include <string.h>

#include "base/crypto.h"
#include "base/log.h"
#include "http/internal.h"
#include "wallet/collection.h"

#define S_PRINCIPAL_SIZE_MAX (5 + ID_TEXT_SIZE_MAX)

const char *http_collection_id(struct http_request *req)
{
    const char *id = http_request_param(req, "id");
    if (id != NULL && id_is_valid(id, strlen(id), "gc"))
        return id;
    http_reply_error(req, QB_E_NOT_FOUND);
    return NULL;
}

/* user_id's display name, masked, into masked (IDENTITY_DISPLAY_NAME_SIZE_MAX * 2). */
static enum qb_error S_masked_name(struct store *reader, const char *user_id, char *masked,
                                   size_t size)
{
    struct identity_user user;
    enum qb_error err = identity_user_get(reader, user_id, &user);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err;
    wallet_name_mask(user.display_name, masked, size);
    return QB_OK;
}

/* id, with its value, into object when ids (an operator's view); true when
 * not asked or set. */
static bool S_id_add(json_t *object, bool ids, const char *key, const char *id)
{
    return object != NULL && (!ids || json_object_set_new(object, key, json_string(id)) == 0);
}

json_t *http_collection_json(struct store *reader, const struct wallet_collection *r,
                             const char *viewer_id, int64_t now_ms, bool with_payments,
                             enum qb_error *err)
{
    bool ids = viewer_id == NULL;
    if (ids)
        viewer_id = r->creator_id;
    char creator[IDENTITY_DISPLAY_NAME_SIZE_MAX * 2];
    *err = S_masked_name(reader, r->creator_id, creator, sizeof creator);
    if (*err != QB_OK)
        return NULL;
    json_t *body =
        wallet_collection_json(r, creator, strcmp(r->creator_id, viewer_id) == 0, now_ms);
    if (!S_id_add(json_object_get(body, "creator"), ids, "user_id", r->creator_id)) {
        json_decref(body);
        return NULL;
    }
    if (!with_payments)
        return body;
    struct wallet_collection_payment rows[WALLET_COLLECTION_PAYMENTS_MAX];
    size_t count = 0;
    *err = wallet_collection_payments(reader, r->id, rows, QB_ARRAY_COUNT(rows), &count);
    json_t *payments = *err == QB_OK ? json_array() : NULL;
    const char *mine = NULL;
    for (size_t i = 0; i < count && payments != NULL; i++) {
        char name[IDENTITY_DISPLAY_NAME_SIZE_MAX * 2];
        *err = S_masked_name(reader, rows[i].payer_id, name, sizeof name);
        if (*err != QB_OK) {
            json_decref(payments);
            payments = NULL;
            break;
        }
        bool me = strcmp(rows[i].payer_id, viewer_id) == 0;
        bool returned = rows[i].returned_at_ms != 0;
        if (me && !returned)
            mine = rows[i].payment_id; /* one sent back is theirs to pay again */
        json_t *item =
            json_pack("{s:s, s:I, s:s, s:o, s:o, s:b}", "display_name", name, "amount",
                      (json_int_t)rows[i].amount_minor, "status", returned ? "RETURNED" : "PAID",
                      "paid_at", http_time_json(rows[i].paid_at_ms), "returned_at",
                      http_time_json(rows[i].returned_at_ms), "me", me);
        if (!S_id_add(item, ids, "user_id", rows[i].payer_id) ||
            !S_id_add(item, ids, "payment_id", rows[i].payment_id)) {
            json_decref(item);
            item = NULL;
        }
        http_array_add(&payments, item);
    }
    if (payments == NULL ||
        json_object_set_new(body, "my_payment_id",
                            mine != NULL ? json_string(mine) : json_null()) != 0 ||
        json_object_set_new(body, "payments", payments) != 0) {
        json_decref(body);
        return NULL; /* *err says why, or QB_OK: out of memory */
    }
    return body;
}

/* Replies status with collection id (known: as the command left it) as
 * viewer_id sees it now (NULL: an operator). */
static void S_reply(struct http_request *req, int status, const struct wallet_collection *known,
                    const char *id, const char *viewer_id)
{
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return;
    struct wallet_collection r;
    int64_t now_ms = http_request_settled_ms(req); /* before the rows: ledger.h */
    /* One read transaction: the collection's count and its payments as
     * of one moment, though payers pay meanwhile. */
    enum qb_error err = store_begin(reader) == QB_OK ? QB_OK : QB_E_STORAGE;
    if (err == QB_OK && known != NULL)
        r = *known;
    else if (err == QB_OK)
        err = wallet_collection_get(reader, id, &r);
    json_t *body = NULL;
    if (err == QB_OK)
        body = http_collection_json(reader, &r, viewer_id, now_ms, true, &err);
    if (store_rollback(reader) != QB_OK && body != NULL) {
        json_decref(body);
        body = NULL;
        err = QB_E_STORAGE;
    }
    http_reader_release(req, reader);
    if (body == NULL) {
        http_reply_error(req, err == QB_OK ? QB_E_INTERNAL : err);
        return;
    }
    http_reply_json_new(req, status, body);
}

/* --- POST /v1/collections --------------------------------------------------------------- */

static const struct http_field S_create_fields[] = {
    {"title", HTTP_FIELD_STRING, true, WALLET_COLLECTION_TITLE_SIZE_MAX - 1, 0, 0},
    {"amount", HTTP_FIELD_INTEGER, true, 0, 0, 0},
    {"count", HTTP_FIELD_INTEGER, true, 0, 1, WALLET_COLLECTION_COUNT_MAX},
    {"currency", HTTP_FIELD_STRING, false, 8, 0, 0},
};

struct S_create {
    struct wallet_collection_create_cmd c; /* first: the server hands back &c.cmd */
    char principal[S_PRINCIPAL_SIZE_MAX];
};

/* The command's answer, kept under the Idempotency-Key when one came: a
 * retry gets the first collection, as it was made. */
static void S_create_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    http_reply_stored(req, cmd);
    ledger_cmd_release(cmd);
}

void http_handle_collections_create(struct http_request *req)
{
    json_t *body = http_json_body(req, S_create_fields, QB_ARRAY_COUNT(S_create_fields));
    if (body == NULL)
        return;
    const struct domain_env *env = http_request_env(req);
    const char *title = http_json_string(body, "title");
    const char *currency = http_json_string(body, "currency");
    json_int_t amount = json_integer_value(json_object_get(body, "amount"));
    json_int_t count = json_integer_value(json_object_get(body, "count"));
    if (!wallet_collection_title_is_valid(title)) {
        http_reply_error_message(req, QB_E_PARAM,
                                 "title must be text of 1 to 64 bytes, not only spaces");
    } else if (amount <= 0) {
        http_reply_error_message(req, QB_E_BAD_AMOUNT,
                                 "amount must be a positive integer of minor units (fen)");
    } else if (amount > WALLET_TRANSFER_AMOUNT_MAX_MINOR) {
        http_reply_error(req, QB_E_OVERFLOW);
    } else if (currency != NULL && strcmp(currency, "CNY") != 0) {
        http_reply_error_message(req, QB_E_BAD_CURRENCY, "collections are in CNY only");
    } else if (env == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
    } else {
        struct S_create *p = http_request_alloc(req, sizeof *p);
        if (p == NULL) {
            http_reply_error(req, QB_E_TOO_LARGE);
            goto out;
        }
        struct wallet_collection_create_cmd *c = &p->c;
        wallet_collection_create_cmd_init(c, env);
        const char *user_id = http_request_session(req)->user_id;
        snprintf(p->principal, sizeof p->principal, "user:%s", user_id);
        /* The key is optional: nothing moves, but a retry without one
         * leaves a second collection OPEN for 30 days. */
        if (http_request_header(req, "Idempotency-Key") != NULL &&
            !http_idempotency_arm(req, &c->cmd, p->principal)) {
            ledger_cmd_release(&c->cmd);
            goto out;
        }
        snprintf(c->creator_id, sizeof c->creator_id, "%s", user_id);
        snprintf(c->title, sizeof c->title, "%s", title);
        c->amount_minor = (int64_t)amount;
        c->count = (int64_t)count;
        http_request_submit(req, &c->cmd, S_create_resume);
    }
out:
    json_decref(body);
}

/* --- GET /v1/me/collections -------------------------------------------------------------- */

static enum qb_error S_mine_read(struct http_request *req, struct store *reader,
                                 const void *user_id, int64_t cursor, void *rows, size_t room,
                                 size_t *count)
{
    (void)req;
    return wallet_collections_of(reader, user_id, cursor, rows, room, count);
}

static json_t *S_mine_item(struct http_request *req, struct store *reader, const void *user_id,
                           const void *row, enum qb_error *err)
{
    return http_collection_json(reader, row, user_id, http_request_ledger_now_ms(req), false, err);
}

static const struct http_list S_mine = {sizeof(struct wallet_collection),
                                        HTTP_LIST_KEY(struct wallet_collection, seq), S_mine_read,
                                        S_mine_item};

void http_handle_me_collections_list(struct http_request *req)
{
    if (http_request_env(req) == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        return;
    }
    http_reply_list(req, &S_mine, http_request_session(req)->user_id);
}

/* --- GET /v1/collections/{id}, GET /admin/collections/{id} ------------------------------ */

static void S_view(struct http_request *req, const char *viewer_id)
{
    const char *id = http_collection_id(req);
    if (id == NULL)
        return;
    if (http_request_env(req) == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        return;
    }
    S_reply(req, 200, NULL, id, viewer_id);
}

void http_handle_collections_get(struct http_request *req)
{
    S_view(req, http_request_session(req)->user_id);
}

void http_handle_admin_collections_get(struct http_request *req) { S_view(req, NULL); }

/* --- POST /v1/collections/{id}/payments -------------------------------------------------- */

struct S_pay {
    struct wallet_collection_pay_cmd c; /* first: the server hands back &c.transfer.cmd */
    char principal[S_PRINCIPAL_SIZE_MAX];
};

static const struct http_field S_pay_fields[] = {
    {"payment_password", HTTP_FIELD_STRING, false, 16, 0, 0},
};

static void S_pay_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct S_pay *p = (struct S_pay *)cmd;
    if (http_cmd_failure_is_news(cmd->result))
        log_event(LOG_WARN, "http.collection_payment_failed", "error=%s", error_name(cmd->result));
    http_reply_stored(req, cmd);
    crypto_wipe(p->c.transfer.payment_password, sizeof p->c.transfer.payment_password);
    ledger_cmd_release(cmd);
}

void http_handle_collections_pay(struct http_request *req)
{
    json_t *body = http_json_body(req, S_pay_fields, QB_ARRAY_COUNT(S_pay_fields));
    if (body == NULL)
        return;
    const struct domain_env *env = http_request_env(req);
    const char *password = http_json_string(body, "payment_password");
    const char *id = http_collection_id(req);
    if (id == NULL)
        goto out;
    if (password != NULL && !http_payment_password_check(req, password))
        goto out;
    if (env == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        goto out;
    }
    struct S_pay *p = http_request_alloc(req, sizeof *p);
    if (p == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        goto out;
    }
    wallet_collection_pay_cmd_init(&p->c, env);
    const char *user_id = http_request_session(req)->user_id;
    snprintf(p->principal, sizeof p->principal, "user:%s", user_id);
    if (!http_idempotency_arm(req, &p->c.transfer.cmd, p->principal)) {
        ledger_cmd_release(&p->c.transfer.cmd);
        goto out;
    }
    snprintf(p->c.collection_id, sizeof p->c.collection_id, "%s", id);
    snprintf(p->c.transfer.payer_id, sizeof p->c.transfer.payer_id, "%s", user_id);
    if (password != NULL) {
        p->c.transfer.has_payment_password = true;
        snprintf(p->c.transfer.payment_password, sizeof p->c.transfer.payment_password, "%s",
                 password);
    }
    http_request_submit(req, &p->c.transfer.cmd, S_pay_resume);
out:
    json_decref(body);
}

/* --- POST /v1/collections/{id}/close ----------------------------------------------------- */

static void S_close_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct wallet_collection_close_cmd *c = (struct wallet_collection_close_cmd *)cmd;
    if (cmd->result != QB_OK)
        http_reply_error(req, cmd->result);
    else if (c->outcome != QB_OK)
        http_reply_error(req, c->outcome);
    else
        S_reply(req, 200, &c->collection, NULL, c->creator_id);
    ledger_cmd_release(cmd);
}

void http_handle_collections_close(struct http_request *req)
{
    json_t *body = http_json_body(req, NULL, 0);
    if (body == NULL)
        return;
    json_decref(body);
    const struct domain_env *env = http_request_env(req);
    const char *id = http_collection_id(req);
    if (id == NULL)
        return;
    struct wallet_collection_close_cmd *c = env != NULL ? http_request_alloc(req, sizeof *c) : NULL;
    if (c == NULL) {
        http_reply_error(req, env == NULL ? QB_E_INTERNAL : QB_E_TOO_LARGE);
        return;
    }
    wallet_collection_close_cmd_init(c, env);
    snprintf(c->creator_id, sizeof c->creator_id, "%s", http_request_session(req)->user_id);
    snprintf(c->id, sizeof c->id, "%s", id);
    http_request_submit(req, &c->cmd, S_close_resume);
}

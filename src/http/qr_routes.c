/*
 * qr_routes.c — QR codes: a user's receive code (GET /v1/me/receive-code),
 * a merchant's static till code (GET /v1/merchants/{mchid}/till-code, for
 * its owner), a group collection's (GET /v1/collections/{id}/code, for
 * anyone with its id) and what a scanned payload is (POST /v1/qr/resolve).
 * Every route is HTTP_AUTH_USER. Paying a code is not here: a receive code
 * is a transfer (transfer_routes.c), a till code or code_url an order
 * payment (merchant_routes.c), both reading the payload with
 * http_qr_payload; a collection's is paid by its id
 * (collection_routes.c), which the resolve answers.
 *
 * The payloads are made and checked by src/qr/qr.h under the daemon's QR
 * key; docs/qr.md has the format. A code is not stored anywhere: it is
 * made again on each request and says nothing the payee did not ask for.
 *
 * Resolving answers the payee as the payer will see it before paying: a
 * user's display name and phone masked, a merchant's name, an order's
 * amount and description. An unknown payee is PAYEE_NOT_FOUND, a frozen or
 * closed one PAYEE_UNAVAILABLE, an order that cannot be paid ORDER_CLOSED,
 * ORDERPAID or ORDER_NOT_EXIST, a collection that takes no more payments
 * COLLECTION_CLOSED, a payload that does not verify QR_INVALID.
 */
#include <stdio.h>
#include <string.h>

#include "http/internal.h"
#include "merchant/order.h"
#include "qr/qr.h"
#include "wallet/collection.h"
#include "wallet/transfer.h"

#define S_SVG_MODULE_PX 8
#define S_PNG_MODULE_PX 8
#define S_PHONE_MASKED_SIZE_MAX 32

_Static_assert(HTTP_QR_TRANSFER == 1u << QR_KIND_TRANSFER &&
                   HTTP_QR_MERCHANT == ((1u << QR_KIND_MERCHANT) | (1u << QR_KIND_ORDER)) &&
                   HTTP_QR_COLLECTION == 1u << QR_KIND_COLLECTION,
               "a kind's bit is 1 << its value");

bool http_qr_payload(struct http_request *req, const char *text, unsigned kinds,
                     struct qr_payload *out)
{
    const struct domain_env *env = http_request_env(req);
    if (env == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        return false;
    }
    if (qr_payload_parse(env->qr_key, text, text != NULL ? strlen(text) : 0, out) != QB_OK) {
        http_reply_error(req, QB_E_QR_INVALID);
        return false;
    }
    if ((kinds & (1u << out->kind)) != 0)
        return true;
    http_reply_error_message(
        req, QB_E_QR_INVALID,
        out->kind == QR_KIND_TRANSFER
            ? "this is a person's receive code: pay it with POST /v1/transfers"
        : out->kind == QR_KIND_COLLECTION
            ? "this is a group collection's code: pay a share with "
              "POST /v1/collections/{id}/payments (POST /v1/qr/resolve names the collection)"
            : "this is a merchant's code: pay it with POST /v1/me/order-payments");
    return false;
}

/* ?format=: svg (the default: JSON with the SVG inside) or png; false
 * after replying PARAM_ERROR. */
static bool S_query_png(struct http_request *req, bool *png)
{
    const char *format = http_request_query(req, "format");
    *png = false;
    if (format == NULL || strcmp(format, "svg") == 0)
        return true;
    if (strcmp(format, "png") == 0) {
        *png = true;
        return true;
    }
    http_reply_error_message(req, QB_E_PARAM, "format must be svg or png");
    return false;
}

/* Replies with the payload p: image/png, or 200 {payload, svg} plus the
 * members of extra (stolen). */
static void S_code_reply(struct http_request *req, const struct qr_payload *p, bool png,
                         json_t *extra)
{
    const struct domain_env *env = http_request_env(req);
    char text[QR_PAYLOAD_SIZE_MAX];
    struct buf image;
    buf_init(&image, QR_IMAGE_SIZE_MAX);
    enum qb_error err = qr_payload_encode(env->qr_key, p, text, sizeof text);
    if (err == QB_OK)
        err = png ? qr_render_png(text, S_PNG_MODULE_PX, &image)
                  : qr_render_svg(text, S_SVG_MODULE_PX, &image);
    if (err != QB_OK) {
        http_reply_error(req, err == QB_E_PARAM ? QB_E_PARAM : QB_E_INTERNAL);
        goto out;
    }
    if (png) {
        http_reply_header(req, "Cache-Control", "no-store");
        http_reply_raw(req, 200, "image/png", image.data, image.size);
        goto out;
    }
    json_t *body = json_pack("{s:s, s:s, s:s}", "kind", qr_kind_name(p->kind), "payload", text,
                             "svg", image.data);
    if (body == NULL || (extra != NULL && json_object_update(body, extra) != 0)) {
        json_decref(body);
        http_reply_error(req, QB_E_INTERNAL);
        goto out;
    }
    http_reply_header(req, "Cache-Control", "no-store");
    http_reply_json_new(req, 200, body);
out:
    json_decref(extra);
    buf_release(&image);
}

/* {amount, currency} of a payload (nulls for an open amount). */
static json_t *S_amount_json(const struct qr_payload *p)
{
    if (!p->has_amount)
        return json_pack("{s:n, s:s}", "amount", "currency", "CNY");
    return json_pack("{s:I, s:s}", "amount", (json_int_t)p->amount_minor, "currency",
                     p->currency->code);
}

/* --- GET /v1/me/receive-code ----------------------------------------------------------- */

void http_handle_me_receive_code_get(struct http_request *req)
{
    const struct domain_env *env = http_request_env(req);
    const char *currency_code = http_request_query(req, "currency");
    const char *memo = http_request_query(req, "memo");
    struct qr_payload p;
    memset(&p, 0, sizeof p);
    p.kind = QR_KIND_TRANSFER;
    bool png;
    if (!S_query_png(req, &png) ||
        !http_query_amount(req, WALLET_TRANSFER_AMOUNT_MAX_MINOR, &p.has_amount, &p.amount_minor))
        return;
    if (currency_code != NULL && !p.has_amount) {
        http_reply_error_message(req, QB_E_PARAM, "currency goes with an amount");
        return;
    }
    /* Transfers move CNY only today: a code for anything else could not be paid. */
    if (currency_code != NULL && strcmp(currency_code, "CNY") != 0) {
        http_reply_error(req, QB_E_BAD_CURRENCY);
        return;
    }
    p.currency = p.has_amount ? currency_find("CNY") : NULL;
    if (memo != NULL) {
        if (strlen(memo) >= sizeof p.memo) {
            http_reply_error_message(req, QB_E_PARAM, "memo must be at most 64 bytes");
            return;
        }
        snprintf(p.memo, sizeof p.memo, "%s", memo);
    }
    if (env == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        return;
    }
    struct identity_user *me = http_request_alloc(req, sizeof *me);
    if (me == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    if (!http_me_load(req, me))
        return;
    size_t id_size = strnlen(me->id, sizeof me->id);
    QB_ASSERT(id_size < sizeof p.payee);
    memcpy(p.payee, me->id, id_size + 1);
    char text[QR_PAYLOAD_SIZE_MAX];
    if (qr_payload_encode(env->qr_key, &p, text, sizeof text) != QB_OK) {
        /* The only rule left to break is the memo's. */
        http_reply_error_message(
            req, QB_E_PARAM,
            "memo must be UTF-8 text without control or invisible formatting characters");
        return;
    }
    json_t *extra = S_amount_json(&p);
    if (extra != NULL)
        json_object_set_new(extra, "memo", json_string(p.memo));
    S_code_reply(req, &p, png, extra);
}

/* --- GET /v1/merchants/{mchid}/till-code ------------------------------------------------ */

void http_handle_merchant_till_code_get(struct http_request *req)
{
    const char *mchid = http_request_param(req, "mchid");
    struct qr_payload p;
    memset(&p, 0, sizeof p);
    p.kind = QR_KIND_MERCHANT;
    bool png;
    struct merchant *m = http_request_alloc(req, sizeof *m);
    if (m == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return;
    /* Another user's merchant does not exist for this one. */
    enum qb_error err =
        merchant_owned_get(http_request_env(req), reader, http_request_session(req)->user_id,
                           mchid != NULL ? mchid : "", m);
    http_reader_release(req, reader);
    if (err != QB_OK) {
        http_reply_error(req, err == QB_E_NOT_FOUND || err == QB_E_STORAGE ? err : QB_E_INTERNAL);
        return;
    }
    /* Closed is for good: a code printed now would only be refused at
     * every scan. A suspended one may be resumed, and its code with it. */
    if (m->status == MERCHANT_STATUS_CLOSED) {
        http_reply_error_message(req, QB_E_CONFLICT, MERCHANT_CLOSED_MESSAGE);
        return;
    }
    if (!S_query_png(req, &png) ||
        !http_query_amount(req, MERCHANT_ORDER_TOTAL_MAX_MINOR, &p.has_amount, &p.amount_minor))
        return;
    p.currency = p.has_amount ? currency_find("CNY") : NULL;
    snprintf(p.payee, sizeof p.payee, "%s", m->mchid);
    json_t *extra = S_amount_json(&p);
    if (extra != NULL)
        json_object_set_new(extra, "merchant",
                            json_pack("{s:s, s:s}", "mchid", m->mchid, "name", m->name));
    S_code_reply(req, &p, png, extra);
}

/* --- GET /v1/collections/{id}/code ----------------------------------------------------- */

/* The collection id names, into c, when it still takes payments: NOT_FOUND,
 * COLLECTION_CLOSED (closed, completed or past its time), QB_E_STORAGE. */
static enum qb_error S_collection_open(struct http_request *req, struct store *reader,
                                       const char *id, struct wallet_collection *c)
{
    int64_t now_ms = http_request_settled_ms(req); /* before the row: ledger.h */
    enum qb_error err = wallet_collection_get(reader, id, c);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND || err == QB_E_STORAGE ? err : QB_E_INTERNAL;
    return wallet_collection_state(c, now_ms) == WALLET_COLLECTION_OPEN ? QB_OK
                                                                        : QB_E_COLLECTION_CLOSED;
}

/* Anyone with the id may show its code, as anyone with it may pay: the
 * asker at the table, or a friend passing it on. A code for one that takes
 * no more payments would only lead to a refusal. */
void http_handle_collection_code_get(struct http_request *req)
{
    const char *id = http_collection_id(req);
    bool png;
    if (id == NULL || !S_query_png(req, &png))
        return;
    if (http_request_env(req) == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        return;
    }
    struct wallet_collection *c = http_request_alloc(req, sizeof *c);
    if (c == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return;
    enum qb_error err = S_collection_open(req, reader, id, c);
    http_reader_release(req, reader);
    if (err != QB_OK) {
        http_reply_error(req, err);
        return;
    }
    struct qr_payload p;
    memset(&p, 0, sizeof p);
    p.kind = QR_KIND_COLLECTION;
    size_t id_size = strnlen(c->id, sizeof c->id);
    QB_ASSERT(id_size < sizeof p.payee); /* found by an id of the shape: 29 bytes */
    memcpy(p.payee, c->id, id_size + 1);
    S_code_reply(req, &p, png,
                 json_pack("{s:s, s:s, s:I, s:s}", "collection_id", c->id, "title", c->title,
                           "amount", (json_int_t)c->amount_minor, "currency", c->currency->code));
}

/* --- POST /v1/qr/resolve ------------------------------------------------------------------ */

static const struct http_field S_resolve_fields[] = {
    {"payload", HTTP_FIELD_OPAQUE, true, QR_SCANNED_SIZE_MAX, 0, 0},
};

/* "13800138000" → "138****8000"; shorter numbers keep only their last two. */
static void S_phone_mask(const char *phone, char out[S_PHONE_MASKED_SIZE_MAX])
{
    size_t size = strnlen(phone, S_PHONE_MASKED_SIZE_MAX - 1);
    if (size >= 11)
        snprintf(out, S_PHONE_MASKED_SIZE_MAX, "%.3s****%s", phone, phone + size - 4);
    else if (size > 2)
        snprintf(out, S_PHONE_MASKED_SIZE_MAX, "****%s", phone + size - 2);
    else
        snprintf(out, S_PHONE_MASKED_SIZE_MAX, "****");
}

json_t *http_payee_json(const struct identity_user *payee)
{
    char name[IDENTITY_DISPLAY_NAME_SIZE_MAX * 2];
    char phone[S_PHONE_MASKED_SIZE_MAX];
    wallet_name_mask(payee->display_name, name, sizeof name);
    S_phone_mask(payee->phone, phone);
    return json_pack("{s:s, s:s, s:s}", "user_id", payee->id, "display_name", name, "phone", phone);
}

/* The user `to` (a user id, or a normalised phone when by_phone) when a
 * transfer could reach them now, into *out (the request's memory):
 * PAYEE_NOT_FOUND, PAYEE_UNAVAILABLE (frozen, or closed to credits). */
static enum qb_error S_payee_payable(struct http_request *req, struct store *reader, const char *to,
                                     bool by_phone, struct identity_user **out)
{
    struct identity_user *payee = http_request_alloc(req, sizeof *payee);
    if (payee == NULL)
        return QB_E_TOO_LARGE;
    enum qb_error err = by_phone ? identity_user_find_by_phone(reader, to, payee)
                                 : identity_user_get(reader, to, payee);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_PAYEE_NOT_FOUND : err;
    struct ledger_account_view view;
    err = http_request_account_view(req, payee->account_id, &view);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err;
    if (payee->status == IDENTITY_FROZEN ||
        (view.flags & (LEDGER_ACCOUNT_CREDIT_FROZEN | LEDGER_ACCOUNT_CLOSED)) != 0)
        return QB_E_PAYEE_UNAVAILABLE;
    *out = payee;
    return QB_OK;
}

/* The user a transfer to `to` would pay (S_payee_payable), as the payer
 * sees them before paying, into body: "payee": {user_id, display_name and
 * phone masked}; *self: the caller. */
static enum qb_error S_payee_put(struct http_request *req, struct store *reader, const char *to,
                                 bool by_phone, json_t *body, bool *self)
{
    struct identity_user *payee;
    enum qb_error err = S_payee_payable(req, reader, to, by_phone, &payee);
    if (err != QB_OK)
        return err;
    *self = strcmp(payee->id, http_request_session(req)->user_id) == 0;
    if (json_object_set_new(body, "payee", http_payee_json(payee)) != 0)
        return QB_E_INTERNAL;
    return QB_OK;
}

/* What a receive code pays: the payee and the amount; NULL with *err the
 * refusal. */
static json_t *S_resolve_transfer(struct http_request *req, const struct qr_payload *p,
                                  struct store *reader, enum qb_error *err)
{
    json_t *body = S_amount_json(p);
    bool self = false;
    *err = body != NULL ? S_payee_put(req, reader, p->payee, false, body, &self) : QB_E_INTERNAL;
    if (*err == QB_OK && (json_object_set_new(body, "memo", json_string(p->memo)) != 0 ||
                          json_object_set_new(body, "self", json_boolean(self)) != 0))
        *err = QB_E_INTERNAL;
    if (*err != QB_OK) {
        json_decref(body);
        return NULL;
    }
    return body;
}

/* --- GET /v1/payees?to= ------------------------------------------------------------- */

/* Who a transfer to a phone or user id would reach, before the payer types
 * the amount and the password: the same payee a receive code resolves to,
 * refused the same way the transfer would refuse it. */
void http_handle_payees_get(struct http_request *req)
{
    const char *to = http_request_query(req, "to");
    char phone[SMS_PHONE_SIZE_MAX];
    bool by_phone = to != NULL && phone_normalize(to, phone);
    if (to == NULL || (!by_phone && !id_is_valid(to, strlen(to), "u"))) {
        http_reply_error_message(req, QB_E_PARAM,
                                 "to must be a mobile number or a user id (u_...)");
        return;
    }
    const struct domain_env *env = http_request_env(req);
    int64_t until_ms;
    if (by_phone && env != NULL &&
        wallet_payee_lookup_take(env, http_request_session(req)->user_id, phone, &until_ms) ==
            QB_E_RATE_LIMITED) {
        char message[WALLET_PAYEE_LOOKUP_MESSAGE_SIZE];
        http_reply_locked(req, QB_E_RATE_LIMITED,
                          wallet_payee_lookup_refusal(until_ms, message, sizeof message), until_ms);
        return;
    }
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return;
    json_t *body = json_object();
    bool self = false;
    enum qb_error err = body != NULL
                            ? S_payee_put(req, reader, by_phone ? phone : to, by_phone, body, &self)
                            : QB_E_INTERNAL;
    http_reader_release(req, reader);
    if (err == QB_OK && json_object_set_new(body, "self", json_boolean(self)) != 0)
        err = QB_E_INTERNAL;
    if (err == QB_OK)
        http_reply_json(req, 200, body);
    else
        http_reply_error(req, err);
    json_decref(body);
}

/* The merchant of a till code or of an order: PAYEE_NOT_FOUND,
 * PAYEE_UNAVAILABLE, with *why the payment's own message when the merchant
 * is suspended or closed (the payer hears why before paying, not after). */
static enum qb_error S_merchant_payable(struct http_request *req, struct store *reader,
                                        const char *mchid, struct merchant *m, const char **why)
{
    enum qb_error err = merchant_get(http_request_env(req), reader, mchid, m);
    if (err == QB_E_NOT_FOUND)
        return QB_E_PAYEE_NOT_FOUND;
    if (err != QB_OK)
        return err;
    struct ledger_account_view view;
    err = http_request_account_view(req, m->account_id, &view);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err;
    if (m->status == MERCHANT_SUSPENDED || m->status == MERCHANT_STATUS_CLOSED)
        *why = m->status == MERCHANT_STATUS_CLOSED ? MERCHANT_CLOSED_MESSAGE
                                                   : MERCHANT_SUSPENDED_MESSAGE;
    if (m->status != MERCHANT_ACTIVE ||
        (view.flags & (LEDGER_ACCOUNT_CREDIT_FROZEN | LEDGER_ACCOUNT_CLOSED)) != 0)
        return QB_E_PAYEE_UNAVAILABLE;
    return QB_OK;
}

static json_t *S_resolve_merchant(struct http_request *req, const struct qr_payload *p,
                                  struct store *reader, enum qb_error *err, const char **why)
{
    struct merchant *m = http_request_alloc(req, sizeof *m);
    if (m == NULL) {
        *err = QB_E_TOO_LARGE;
        return NULL;
    }
    *err = S_merchant_payable(req, reader, p->payee, m, why);
    if (*err != QB_OK)
        return NULL;
    json_t *body = S_amount_json(p);
    if (body == NULL ||
        json_object_set_new(body, "payee",
                            json_pack("{s:s, s:s}", "mchid", m->mchid, "name", m->name)) != 0) {
        json_decref(body);
        *err = QB_E_INTERNAL;
        return NULL;
    }
    return body;
}

static json_t *S_resolve_order(struct http_request *req, const struct qr_payload *p,
                               struct store *reader, enum qb_error *err, const char **why)
{
    const struct domain_env *env = http_request_env(req);
    struct merchant_order *o = http_request_alloc(req, sizeof *o);
    struct merchant *m = http_request_alloc(req, sizeof *m);
    if (o == NULL || m == NULL) {
        *err = QB_E_TOO_LARGE;
        return NULL;
    }
    int64_t settled_ms = http_request_settled_ms(req); /* before the row: ledger.h */
    *err = merchant_order_by_token(reader, p->payee, o);
    if (*err != QB_OK)
        return NULL;
    /* A jsapi order made for another user's openid is not this user's. */
    char openid[MERCHANT_OPENID_SIZE];
    merchant_openid(env, o->appid, http_request_session(req)->user_id, openid);
    if (o->trade_type == MERCHANT_TRADE_JSAPI && strcmp(o->payer_openid, openid) != 0) {
        *err = QB_E_ORDER_NOT_EXIST;
        return NULL;
    }
    enum merchant_trade_state state = merchant_order_state_at(o, settled_ms);
    if (state == MERCHANT_SUCCESS || state == MERCHANT_REFUND)
        *err = QB_E_ORDER_PAID;
    else if (state != MERCHANT_NOTPAY)
        *err = QB_E_ORDER_CLOSED;
    else
        *err = S_merchant_payable(req, reader, o->mchid, m, why);
    if (*err != QB_OK)
        return NULL;
    json_t *body =
        json_pack("{s:I, s:s, s:{s:s, s:s}, s:s, s:s, s:o}", "amount", (json_int_t)o->total_minor,
                  "currency", o->currency->code, "payee", "mchid", m->mchid, "name", m->name,
                  "description", o->description, "out_trade_no", o->out_trade_no, "expires_at",
                  http_time_json(o->expires_at_ms));
    if (body == NULL)
        *err = QB_E_INTERNAL;
    return body;
}

/* What a collection's code pays: its amount to its asker, and the
 * collection as the caller sees it (who paid, the caller's own payment). */
static json_t *S_resolve_collection(struct http_request *req, const struct qr_payload *p,
                                    struct store *reader, enum qb_error *err)
{
    struct wallet_collection *c = http_request_alloc(req, sizeof *c);
    if (c == NULL) {
        *err = QB_E_TOO_LARGE;
        return NULL;
    }
    *err = S_collection_open(req, reader, p->payee, c);
    /* Its payments go to its asker: one who cannot take money now is
     * refused here as a receive code's payee is. */
    struct identity_user *asker;
    if (*err == QB_OK)
        *err = S_payee_payable(req, reader, c->creator_id, false, &asker);
    if (*err == QB_E_PAYEE_NOT_FOUND)
        *err = QB_E_INTERNAL; /* a collection's asker is a user */
    if (*err != QB_OK)
        return NULL;
    const char *me = http_request_session(req)->user_id;
    json_t *view = http_collection_json(reader, c, me, http_request_ledger_now_ms(req), true, err);
    json_t *body = view != NULL
                       ? json_pack("{s:I, s:s, s:b, s:o}", "amount", (json_int_t)c->amount_minor,
                                   "currency", c->currency->code, "self",
                                   strcmp(c->creator_id, me) == 0, "collection", view)
                       : NULL;
    if (body == NULL && *err == QB_OK)
        *err = QB_E_INTERNAL;
    return body;
}

void http_handle_qr_resolve(struct http_request *req)
{
    json_t *in = http_json_body(req, S_resolve_fields, QB_ARRAY_COUNT(S_resolve_fields));
    if (in == NULL)
        return;
    struct qr_payload p;
    if (!http_qr_payload(req, http_json_string(in, "payload"), HTTP_QR_ANY, &p))
        goto out;
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        goto out;
    enum qb_error err = QB_E_INTERNAL;
    const char *why = NULL; /* the refusal's own message, if it has one */
    json_t *body = NULL;
    /* One read transaction: what a code names as of one moment (a
     * collection's count and its payments), though others pay meanwhile. */
    if (store_begin(reader) != QB_OK)
        err = QB_E_STORAGE;
    else
        body = p.kind == QR_KIND_TRANSFER     ? S_resolve_transfer(req, &p, reader, &err)
               : p.kind == QR_KIND_MERCHANT   ? S_resolve_merchant(req, &p, reader, &err, &why)
               : p.kind == QR_KIND_COLLECTION ? S_resolve_collection(req, &p, reader, &err)
                                              : S_resolve_order(req, &p, reader, &err, &why);
    if (store_rollback(reader) != QB_OK && body != NULL) {
        json_decref(body);
        body = NULL;
        err = QB_E_STORAGE;
    }
    http_reader_release(req, reader);
    if (body == NULL) {
        if (err == QB_E_PAYEE_UNAVAILABLE && why != NULL)
            http_reply_error_message(req, err, why);
        else
            http_reply_error(req, err);
        goto out;
    }
    json_t *answer = json_pack("{s:s, s:s}", "kind", qr_kind_name(p.kind), "payload",
                               http_json_string(in, "payload"));
    if (answer == NULL || json_object_update(answer, body) != 0) {
        json_decref(answer);
        json_decref(body);
        http_reply_error(req, QB_E_INTERNAL);
        goto out;
    }
    json_decref(body);
    http_reply_json_new(req, 200, answer);
out:
    json_decref(in);
}

/*
 * v3_routes.c — the merchant API's orders and certificates, in the WeChat
 * Pay API v3 dialect. Every route is HTTP_AUTH_MERCHANT: the server checked
 * the request's signature, time and nonce before the handler runs, and
 * signs every answer (server.h).
 *
 *   POST /v3/pay/transactions/{native,jsapi,app,h5}   create (order.h)
 *   POST /v3/pay/transactions/codepay                 a scanned payment code (paycode.h)
 *   POST /v3/pay/transactions/out-trade-no/{n}/reverse revoke a payment-code order
 *   GET  /v3/pay/transactions/out-trade-no/{n}?mchid= query
 *   GET  /v3/pay/transactions/id/{id}?mchid=          query
 *   POST /v3/pay/transactions/out-trade-no/{n}/close  close: 204
 *   GET  /v3/certificates                             the platform certificate, encrypted
 *   GET  /v3/bill/tradebill?bill_date=                the day's bill: link and SHA-1 (bill.h)
 *   GET  /v3/bill/fundflowbill?bill_date=             the day's fund flow: the same way
 *   GET  /v3/billdownload/file?token=                 the bill itself (CSV, or gzip)
 *   GET  /v3/merchant/fund/balance/BASIC              the settlement account's balance
 *   GET  /v3/merchant/fund/dayendbalance/BASIC?date=  the same at a day's end (bill.h)
 *
 * Bodies: WeChat's fields, strictly validated; a malformed body is
 * PARAM_ERROR (WeChat has no INVALID_JSON). Fields WeChat defines that
 * Qianbao does not use yet (goods_tag, detail, scene_info, settle_info,
 * support_fapiao) are accepted and ignored, so that an SDK's request
 * passes unchanged; but an H5 order must carry the scene_info WeChat
 * requires of one, so that a request made here passes there too. The mchid of a body or query must
 * be the signer's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <openssl/evp.h>

#include "base/crypto.h"
#include "base/log.h"
#include "http/internal.h"
#include "merchant/bill.h"
#include "merchant/order.h"
#include "merchant/paycode.h"
#include "wallet/bills.h"

/* --- create ---------------------------------------------------------------------------- */

static const struct http_field S_order_fields[] = {
    {"appid", HTTP_FIELD_STRING, true, 32, 0, 0},
    {"mchid", HTTP_FIELD_STRING, true, 32, 0, 0},
    {"description", HTTP_FIELD_STRING, true, MERCHANT_DESCRIPTION_SIZE_MAX - 1, 0, 0},
    {"out_trade_no", HTTP_FIELD_STRING, true, MERCHANT_OUT_TRADE_NO_SIZE_MAX - 1, 0, 0},
    {"time_expire", HTTP_FIELD_STRING, false, 64, 0, 0},
    {"attach", HTTP_FIELD_STRING, false, MERCHANT_ATTACH_SIZE_MAX - 1, 0, 0},
    {"notify_url", HTTP_FIELD_STRING, true, MERCHANT_ORDER_NOTIFY_URL_SIZE_MAX - 1, 0, 0},
    {"goods_tag", HTTP_FIELD_STRING, false, 32, 0, 0},
    {"support_fapiao", HTTP_FIELD_BOOLEAN, false, 0, 0, 0},
    {"amount", HTTP_FIELD_OBJECT, true, 0, 0, 0},
    {"payer", HTTP_FIELD_OBJECT, false, 0, 0, 0},
    {"detail", HTTP_FIELD_OBJECT, false, 0, 0, 0},
    {"scene_info", HTTP_FIELD_OBJECT, false, 0, 0, 0},
    {"settle_info", HTTP_FIELD_OBJECT, false, 0, 0, 0},
};

static const struct http_field S_amount_fields[] = {
    {"total", HTTP_FIELD_INTEGER, true, 0, 1, MERCHANT_ORDER_TOTAL_MAX_MINOR},
    {"currency", HTTP_FIELD_STRING, false, 8, 0, 0},
};

static const struct http_field S_payer_fields[] = {
    {"openid", HTTP_FIELD_STRING, true, 128, 0, 0},
};

/* Whether an H5 order's scene_info says what WeChat requires of one: the
 * payer's IP address (v4 or v6) and h5_info.type, the page's kind. */
static bool S_h5_scene_is_valid(const json_t *body)
{
    const json_t *scene = json_object_get(body, "scene_info");
    const char *ip = json_string_value(json_object_get(scene, "payer_client_ip"));
    const char *kind =
        json_string_value(json_object_get(json_object_get(scene, "h5_info"), "type"));
    unsigned char address[16];
    return ip != NULL && strlen(ip) < 46 &&
           (inet_pton(AF_INET, ip, address) == 1 || inet_pton(AF_INET6, ip, address) == 1) &&
           kind != NULL &&
           (strcmp(kind, "iOS") == 0 || strcmp(kind, "Android") == 0 || strcmp(kind, "Wap") == 0);
}

struct S_create {
    struct merchant_order_create_cmd c; /* first */
};

/* A JSAPI order's openid the app never gave out. */
#define S_OPENID_UNKNOWN "payer.openid is not an openid of this app"
#define S_TIME_EXPIRE_RULE "time_expire must be an RFC 3339 time in the next 30 days"

static void S_create_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct S_create *t = (struct S_create *)cmd;
    if (cmd->result != QB_OK) {
        http_reply_error(req, cmd->result);
    } else if (t->c.outcome == QB_E_INVALID_REQUEST) {
        http_reply_error_message(req, QB_E_INVALID_REQUEST, "201 商户订单号重复");
    } else if (t->c.outcome == QB_E_NO_AUTH) {
        /* The merchant as it authenticated: closed is for good, so a
         * merchant read closed then is closed now. */
        const struct merchant *m = http_request_merchant(req);
        http_reply_error_message(req, QB_E_NO_AUTH,
                                 m != NULL && m->status == MERCHANT_STATUS_CLOSED
                                     ? MERCHANT_CLOSED_MESSAGE_V3
                                     : MERCHANT_SUSPENDED_MESSAGE_V3);
    } else if (t->c.outcome == QB_E_PARAM) {
        http_reply_error_message(req, QB_E_PARAM,
                                 t->c.expire_past ? S_TIME_EXPIRE_RULE : S_OPENID_UNKNOWN);
    } else if (t->c.outcome != QB_OK) {
        http_reply_error(req, t->c.outcome);
    } else {
        json_t *body = merchant_order_create_json(&t->c.order);
        http_reply_json_new(req, 200, body);
    }
    ledger_cmd_release(cmd);
}

static bool S_notify_url_is_valid(const char *url)
{
    const char *rest = NULL;
    if (strncmp(url, "https://", 8) == 0)
        rest = url + 8;
    else if (strncmp(url, "http://", 7) == 0)
        rest = url + 7;
    if (rest == NULL || rest[0] == '\0' || rest[0] == '/')
        return false;
    for (const char *p = url; *p != '\0'; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return false;
    return true;
}

/* Whether appid is one of m's apps (merchant_apps; the default one needs
 * no read): QB_OK, QB_E_APPID_MCHID_NOT_MATCH, QB_E_STORAGE; *replied when
 * no reader was free and SYSTEM_BUSY was answered. */
static enum qb_error S_appid_check(struct http_request *req, const struct merchant *m,
                                   const char *appid, bool *replied)
{
    *replied = false;
    if (strcmp(appid, m->appid) == 0)
        return QB_OK;
    if (!merchant_appid_is_valid(appid))
        return QB_E_APPID_MCHID_NOT_MATCH;
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL) {
        *replied = true;
        return QB_E_BUSY;
    }
    enum qb_error err = merchant_app_check(reader, m->mchid, appid);
    http_reader_release(req, reader);
    return err == QB_E_NOT_FOUND ? QB_E_APPID_MCHID_NOT_MATCH : err;
}

/* The fingerprint of an order request: the trade type and the body with
 * sorted keys, so that a retry serialised in another key order is still
 * the same; false when out of memory. */
static bool S_order_fingerprint(const struct domain_env *env, enum merchant_trade_type type,
                                const json_t *body, uint8_t out[CRYPTO_SHA256_SIZE])
{
    char *canonical = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    if (canonical == NULL)
        return false;
    struct crypto_sha256_state st;
    unsigned char type_byte = (unsigned char)type;
    crypto_sha256_begin(&st);
    crypto_sha256_update(&st, &type_byte, 1);
    crypto_sha256_update(&st, canonical, strlen(canonical));
    uint8_t digest[CRYPTO_SHA256_SIZE];
    crypto_sha256_end(&st, digest);
    domain_request_fingerprint(env, digest, out);
    free(canonical);
    return true;
}

static void S_create(struct http_request *req, enum merchant_trade_type type)
{
    json_t *body = http_v3_json_body(req, S_order_fields, QB_ARRAY_COUNT(S_order_fields));
    if (body == NULL)
        return;
    const struct domain_env *env = http_request_env(req);
    const struct merchant *m = http_request_merchant(req);
    json_t *amount = json_object_get(body, "amount");
    json_t *payer = json_object_get(body, "payer"); /* a null one is dropped */
    char message[HTTP_JSON_MESSAGE_SIZE_MAX];
    const char *fail = NULL;
    enum qb_error fail_err = QB_E_PARAM;
    const char *time_expire = http_json_string(body, "time_expire");
    int64_t expires_at_ms = 0;
    int64_t now_ms = env != NULL ? clock_now_ms(env->clock) : 0;

    /* The shape of every field, then what they must agree with. */
    if (http_json_object(amount, S_amount_fields, QB_ARRAY_COUNT(S_amount_fields), message) !=
        QB_OK) {
        http_reply_error_message(req, QB_E_PARAM, message);
        goto out;
    }
    if (payer != NULL &&
        http_json_object(payer, S_payer_fields, QB_ARRAY_COUNT(S_payer_fields), message) != QB_OK) {
        http_reply_error_message(req, QB_E_PARAM, message);
        goto out;
    }
    const char *currency_code = http_json_string(amount, "currency");
    const char *openid = payer != NULL ? http_json_string(payer, "openid") : NULL;
    enum qb_error app_err = QB_OK;
    bool replied = false;
    if (env == NULL || m == NULL)
        fail = "", fail_err = QB_E_INTERNAL;
    else if (strcmp(http_json_string(body, "mchid"), m->mchid) != 0)
        fail = "mchid must be the signing merchant's";
    else if ((app_err = S_appid_check(req, m, http_json_string(body, "appid"), &replied)) !=
             QB_OK) {
        if (replied)
            goto out;
        fail = "", fail_err = app_err;
    } else if (!merchant_out_trade_no_is_valid(http_json_string(body, "out_trade_no")))
        fail = "out_trade_no must be 6 to 32 of 0-9 A-Z a-z _ - | * @";
    else if (http_json_string(body, "description")[0] == '\0')
        fail = "description must not be empty";
    else if (!S_notify_url_is_valid(http_json_string(body, "notify_url")))
        fail = "notify_url must be an http or https URL";
    else if (!http_v3_notify_url_allowed(req, http_json_string(body, "notify_url")))
        goto out;
    else if (currency_code != NULL && strcmp(currency_code, "CNY") != 0)
        fail = "amount.currency must be CNY";
    else if (type == MERCHANT_TRADE_JSAPI && openid == NULL)
        fail = "payer.openid is required for a JSAPI order";
    else if (type == MERCHANT_TRADE_H5 && !S_h5_scene_is_valid(body))
        fail = "an H5 order needs scene_info.payer_client_ip (an IP address) and "
               "scene_info.h5_info.type (iOS, Android or Wap)";
    else if (openid != NULL && (type != MERCHANT_TRADE_JSAPI ||
                                strlen(openid) != MERCHANT_OPENID_SIZE - 1))
        fail = type != MERCHANT_TRADE_JSAPI ? "payer is for JSAPI orders" : S_OPENID_UNKNOWN;
    /* Past now is the command's to refuse, for a new order only: a retry
     * of a create after its time_expire hears the order closed. */
    else if (time_expire != NULL && (!bills_time_parse(time_expire, false, &expires_at_ms) ||
                                     strpbrk(time_expire, "Tt") == NULL ||
                                     expires_at_ms > now_ms + MERCHANT_ORDER_TTL_MAX_MS))
        fail = S_TIME_EXPIRE_RULE;
    if (fail != NULL) {
        if (fail[0] == '\0')
            http_reply_error(req, fail_err);
        else
            http_reply_error_message(req, fail_err, fail);
        goto out;
    }

    struct S_create *t = http_request_alloc(req, sizeof *t);
    if (t == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        goto out;
    }
    merchant_order_create_cmd_init(&t->c, env);
    struct merchant_order *o = &t->c.order;
    /* The fingerprint leaves out the payer's IP, the one member WeChat lets
     * a retry change (a phone between Wi-Fi and mobile data): a retry is the
     * same order. Orders made before this rule stored the whole body's. */
    json_t *scene = json_object_get(body, "scene_info");
    bool has_ip = json_object_get(scene, "payer_client_ip") != NULL;
    if (has_ip && !S_order_fingerprint(env, type, body, t->c.legacy_request_hash)) {
        http_reply_error(req, QB_E_INTERNAL);
        ledger_cmd_release(&t->c.cmd);
        goto out;
    }
    t->c.has_legacy_hash = has_ip;
    json_t *without_ip = has_ip ? json_deep_copy(body) : json_incref(body);
    if (has_ip && without_ip != NULL)
        (void)json_object_del(json_object_get(without_ip, "scene_info"), "payer_client_ip");
    bool fingerprinted =
        without_ip != NULL && S_order_fingerprint(env, type, without_ip, o->request_hash);
    json_decref(without_ip);
    if (!fingerprinted) {
        http_reply_error(req, QB_E_INTERNAL);
        ledger_cmd_release(&t->c.cmd);
        goto out;
    }
    snprintf(o->mchid, sizeof o->mchid, "%s", m->mchid);
    snprintf(o->appid, sizeof o->appid, "%s", http_json_string(body, "appid"));
    snprintf(o->out_trade_no, sizeof o->out_trade_no, "%s", http_json_string(body, "out_trade_no"));
    o->trade_type = type;
    snprintf(o->description, sizeof o->description, "%s", http_json_string(body, "description"));
    const char *attach = http_json_string(body, "attach");
    snprintf(o->attach, sizeof o->attach, "%s", attach != NULL ? attach : "");
    snprintf(o->notify_url, sizeof o->notify_url, "%s", http_json_string(body, "notify_url"));
    o->currency = currency_find("CNY");
    o->total_minor = (int64_t)json_integer_value(json_object_get(amount, "total"));
    snprintf(o->payer_openid, sizeof o->payer_openid, "%s", openid != NULL ? openid : "");
    o->expires_at_ms = expires_at_ms;
    http_request_submit(req, &t->c.cmd, S_create_resume);
out:
    json_decref(body);
}

void http_handle_v3_native(struct http_request *req) { S_create(req, MERCHANT_TRADE_NATIVE); }
void http_handle_v3_jsapi(struct http_request *req) { S_create(req, MERCHANT_TRADE_JSAPI); }
void http_handle_v3_app(struct http_request *req) { S_create(req, MERCHANT_TRADE_APP); }
void http_handle_v3_h5(struct http_request *req) { S_create(req, MERCHANT_TRADE_H5); }

static const struct http_field S_close_fields[] = {
    {"mchid", HTTP_FIELD_STRING, true, 32, 0, 0},
};

/* WeChat's reverse names the app too; a till written to its documents sends it. */
static const struct http_field S_reverse_fields[] = {
    {"appid", HTTP_FIELD_STRING, false, 32, 0, 0},
    {"mchid", HTTP_FIELD_STRING, true, 32, 0, 0},
};

/* --- codepay and reverse (src/merchant/paycode.h) ------------------------------------ */

static const struct http_field S_codepay_fields[] = {
    {"appid", HTTP_FIELD_STRING, true, 32, 0, 0},
    {"mchid", HTTP_FIELD_STRING, true, 32, 0, 0},
    {"description", HTTP_FIELD_STRING, true, MERCHANT_DESCRIPTION_SIZE_MAX - 1, 0, 0},
    {"out_trade_no", HTTP_FIELD_STRING, true, MERCHANT_OUT_TRADE_NO_SIZE_MAX - 1, 0, 0},
    {"attach", HTTP_FIELD_STRING, false, MERCHANT_ATTACH_SIZE_MAX - 1, 0, 0},
    {"goods_tag", HTTP_FIELD_STRING, false, 32, 0, 0},
    {"support_fapiao", HTTP_FIELD_BOOLEAN, false, 0, 0, 0},
    {"amount", HTTP_FIELD_OBJECT, true, 0, 0, 0},
    {"payer", HTTP_FIELD_OBJECT, true, 0, 0, 0},
    {"detail", HTTP_FIELD_OBJECT, false, 0, 0, 0},
    {"scene_info", HTTP_FIELD_OBJECT, false, 0, 0, 0},
    {"settle_info", HTTP_FIELD_OBJECT, false, 0, 0, 0},
};

static const struct http_field S_auth_code_fields[] = {
    {"auth_code", HTTP_FIELD_STRING, true, MERCHANT_AUTH_CODE_SIZE_MAX - 1, 0, 0},
};

struct S_codepay {
    struct merchant_codepay_cmd c; /* first */
    char principal[MERCHANT_CODEPAY_PRINCIPAL_SIZE];
    char key[MERCHANT_OUT_TRADE_NO_SIZE_MAX];
};

static void S_codepay_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    if (cmd->result == QB_E_IDEMPOTENCY_MISMATCH)
        /* A till meets this after a refused code, which keeps its number
         * too: it sent no Idempotency-Key, its out_trade_no is one. Told in
         * WeChat's words, as an order create is, which a till knows. */
        http_reply_error_message(req, QB_E_INVALID_REQUEST,
                                 "201 商户订单号重复: this out_trade_no was used with another "
                                 "request (a refused code keeps its number too): send the sale "
                                 "under a new out_trade_no");
    else {
        const struct merchant_codepay_cmd *c = (const struct merchant_codepay_cmd *)cmd;
        if (cmd->result == QB_OK && c->outcome == QB_E_RATE_LIMITED && c->guesses_until_ms > 0)
            http_reply_retry_after(req, c->guesses_until_ms); /* kept under no number */
        http_reply_stored(req, cmd);
    }
    ledger_cmd_release(cmd);
}

/* The merchant submits a scanned payment code. Idempotent under the
 * merchant and its out_trade_no: the same body again (any key order) is
 * answered from the first answer, byte for byte; another body under a
 * used number is INVALID_REQUEST "201 商户订单号重复", as is the number of
 * an order of another trade type. */
void http_handle_v3_codepay(struct http_request *req)
{
    json_t *body = http_v3_json_body(req, S_codepay_fields, QB_ARRAY_COUNT(S_codepay_fields));
    if (body == NULL)
        return;
    const struct domain_env *env = http_request_env(req);
    const struct merchant *m = http_request_merchant(req);
    json_t *amount = json_object_get(body, "amount");
    json_t *payer = json_object_get(body, "payer");
    char message[HTTP_JSON_MESSAGE_SIZE_MAX];
    if (http_json_object(amount, S_amount_fields, QB_ARRAY_COUNT(S_amount_fields), message) !=
            QB_OK ||
        http_json_object(payer, S_auth_code_fields, QB_ARRAY_COUNT(S_auth_code_fields), message) !=
            QB_OK) {
        http_reply_error_message(req, QB_E_PARAM, message);
        goto out;
    }
    const char *currency_code = http_json_string(amount, "currency");
    const char *fail = NULL;
    enum qb_error app_err = QB_OK;
    bool replied = false;
    if (env == NULL || m == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        goto out;
    }
    if (strcmp(http_json_string(body, "mchid"), m->mchid) != 0)
        fail = "mchid must be the signing merchant's";
    else if ((app_err = S_appid_check(req, m, http_json_string(body, "appid"), &replied)) !=
             QB_OK) {
        if (!replied)
            http_reply_error(req, app_err);
        goto out;
    } else if (!merchant_out_trade_no_is_valid(http_json_string(body, "out_trade_no")))
        fail = "out_trade_no must be 6 to 32 of 0-9 A-Z a-z _ - | * @";
    else if (http_json_string(body, "description")[0] == '\0')
        fail = "description must not be empty";
    else if (currency_code != NULL && strcmp(currency_code, "CNY") != 0)
        fail = "amount.currency must be CNY";
    if (fail != NULL) {
        http_reply_error_message(req, QB_E_PARAM, fail);
        goto out;
    }

    struct S_codepay *t = http_request_alloc(req, sizeof *t);
    /* The members it ignores are no part of the request: a till's retry
     * from another device_id is the same sale. */
    const char *ignored[] = {"goods_tag", "support_fapiao", "detail", "scene_info", "settle_info"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(ignored); i++)
        (void)json_object_del(body, ignored[i]);
    if (t == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        goto out;
    }
    merchant_codepay_cmd_init(&t->c, env);
    struct merchant_order *o = &t->c.order;
    if (!S_order_fingerprint(env, MERCHANT_TRADE_MICROPAY, body, o->request_hash)) {
        http_reply_error(req, QB_E_INTERNAL);
        ledger_cmd_release(&t->c.cmd);
        goto out;
    }
    memcpy(t->c.cmd.request_hash, o->request_hash, sizeof o->request_hash);
    snprintf(o->mchid, sizeof o->mchid, "%s", m->mchid);
    snprintf(o->appid, sizeof o->appid, "%s", http_json_string(body, "appid"));
    snprintf(o->out_trade_no, sizeof o->out_trade_no, "%s", http_json_string(body, "out_trade_no"));
    snprintf(o->description, sizeof o->description, "%s", http_json_string(body, "description"));
    const char *attach = http_json_string(body, "attach");
    snprintf(o->attach, sizeof o->attach, "%s", attach != NULL ? attach : "");
    o->currency = currency_find("CNY");
    o->total_minor = (int64_t)json_integer_value(json_object_get(amount, "total"));
    snprintf(t->c.auth_code, sizeof t->c.auth_code, "%s", http_json_string(payer, "auth_code"));
    merchant_codepay_principal(m->mchid, t->principal);
    snprintf(t->key, sizeof t->key, "%s", o->out_trade_no);
    t->c.cmd.idem_principal = t->principal;
    t->c.cmd.idem_key = t->key;
    http_request_submit(req, &t->c.cmd, S_codepay_resume);
out:
    json_decref(body);
}

static void S_reverse_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct merchant_reverse_cmd *c = (struct merchant_reverse_cmd *)cmd;
    const struct domain_env *env = http_request_env(req);
    if (cmd->result != QB_OK) {
        http_reply_error(req, cmd->result);
    } else if (c->outcome == QB_E_INVALID_REQUEST && c->too_old) {
        http_reply_error_message(req, c->outcome,
                                 "订单已超过撤销期限 (an order made more than 7 "
                                 "days ago is refunded, not reversed)");
    } else if (c->outcome == QB_E_INVALID_REQUEST) {
        http_reply_error_message(req, c->outcome, "订单的支付场景不支持该请求 (only a payment-code"
                                                  " order that is not refunded can be reversed)");
    } else if (c->outcome == QB_E_NOT_ENOUGH) {
        http_reply_error_message(req, c->outcome,
                                 "商户余额不足 (the merchant's balance cannot return the payment)");
    } else if (c->outcome != QB_OK) {
        http_reply_error(req, c->outcome);
    } else {
        json_t *body = merchant_order_json(&c->order, clock_now_ms(env->clock));
        http_reply_json_new(req, 200, body);
    }
    ledger_cmd_release(cmd);
}

void http_handle_v3_reverse(struct http_request *req)
{
    json_t *body = http_v3_json_body(req, S_reverse_fields, QB_ARRAY_COUNT(S_reverse_fields));
    if (body == NULL)
        return;
    const struct domain_env *env = http_request_env(req);
    const struct merchant *m = http_request_merchant(req);
    const char *out_trade_no = http_request_param(req, "out_trade_no");
    const char *appid = http_json_string(body, "appid");
    if (env == NULL || m == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        goto out;
    }
    if (strcmp(http_json_string(body, "mchid"), m->mchid) != 0) {
        http_reply_error_message(req, QB_E_PARAM, "mchid must be the signing merchant's");
        goto out;
    }
    if (appid != NULL) {
        bool replied;
        enum qb_error err = S_appid_check(req, m, appid, &replied);
        if (err != QB_OK) {
            if (!replied)
                http_reply_error(req, err);
            goto out;
        }
    }
    if (!merchant_out_trade_no_is_valid(out_trade_no)) {
        http_reply_error(req, QB_E_ORDER_NOT_EXIST);
        goto out;
    }
    struct merchant_reverse_cmd *c = http_request_alloc(req, sizeof *c);
    if (c == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        goto out;
    }
    merchant_reverse_cmd_init(c, env);
    snprintf(c->mchid, sizeof c->mchid, "%s", m->mchid);
    snprintf(c->out_trade_no, sizeof c->out_trade_no, "%s", out_trade_no);
    http_request_submit(req, &c->cmd, S_reverse_resume);
out:
    json_decref(body);
}

/* --- query ----------------------------------------------------------------------------- */

/* ?mchid= must be the signer's; false after replying. */
static bool S_query_mchid(struct http_request *req)
{
    const char *mchid = http_request_query(req, "mchid");
    const struct merchant *m = http_request_merchant(req);
    if (mchid == NULL || m == NULL || strcmp(mchid, m->mchid) != 0) {
        http_reply_error_message(req, QB_E_PARAM,
                                 mchid == NULL ? "?mchid= is required: the signing merchant's"
                                               : "mchid must be the signing merchant's");
        return false;
    }
    return true;
}

static void S_query(struct http_request *req, const char *out_trade_no, const char *transaction_id)
{
    if (!S_query_mchid(req))
        return;
    const struct domain_env *env = http_request_env(req);
    struct merchant_order *o = http_request_alloc(req, sizeof *o);
    if (o == NULL || env == NULL) {
        http_reply_error(req, o == NULL ? QB_E_TOO_LARGE : QB_E_INTERNAL);
        return;
    }
    /* Judged as of a time every command before which has committed: a
     * payment confirmed just before the deadline, still committing, must
     * not read REVOKED (a till takes that as final) and then be SUCCESS. */
    int64_t settled_ms = http_request_settled_ms(req);
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return;
    const char *wrong = NULL;
    enum qb_error err = merchant_order_query(reader, http_request_merchant(req)->mchid,
                                             out_trade_no, transaction_id, o, &wrong);
    http_reader_release(req, reader);
    if (err == QB_OK && wrong != NULL) {
        /* Told as a system error, as WeChat tells one: the merchant asks
         * again later, and ships nothing on it meanwhile. */
        log_event(LOG_ERROR, "merchant.order_unbacked", "mchid=%s out_trade_no=%s problem=\"%s\"",
                  o->mchid, o->out_trade_no, wrong);
        err = QB_E_INTERNAL;
    }
    if (err != QB_OK) {
        http_reply_error(req, err);
        return;
    }
    json_t *body = merchant_order_json(o, settled_ms);
    http_reply_json_new(req, 200, body);
}

void http_handle_v3_query_out_trade_no(struct http_request *req)
{
    S_query(req, http_request_param(req, "out_trade_no"), NULL);
}

void http_handle_v3_query_id(struct http_request *req)
{
    S_query(req, NULL, http_request_param(req, "transaction_id"));
}

/* --- close ------------------------------------------------------------------------------ */

static void S_close_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct merchant_order_close_cmd *c = (struct merchant_order_close_cmd *)cmd;
    if (cmd->result != QB_OK)
        http_reply_error(req, cmd->result);
    else if (c->outcome == QB_E_INVALID_REQUEST)
        http_reply_error_message(
            req, c->outcome,
            c->state == MERCHANT_REVOKED
                ? "订单已撤销 (a payment-code order is not closed, and this one was revoked "
                  "already: nothing is left to stop)"
            : c->state == MERCHANT_PAYERROR
                ? "订单支付失败 (a payment-code order is not closed, and this one's payment "
                  "failed: nothing is left to stop)"
                : "订单的支付场景不支持该请求 (a payment-code order is not closed: POST "
                  ".../reverse revokes it)");
    else if (c->outcome != QB_OK)
        http_reply_error(req, c->outcome);
    else
        http_reply_raw(req, 204, NULL, NULL, 0);
    ledger_cmd_release(cmd);
}

void http_handle_v3_close(struct http_request *req)
{
    json_t *body = http_v3_json_body(req, S_close_fields, QB_ARRAY_COUNT(S_close_fields));
    if (body == NULL)
        return;
    const struct domain_env *env = http_request_env(req);
    const struct merchant *m = http_request_merchant(req);
    const char *out_trade_no = http_request_param(req, "out_trade_no");
    if (env == NULL || m == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        goto out;
    }
    if (strcmp(http_json_string(body, "mchid"), m->mchid) != 0) {
        http_reply_error_message(req, QB_E_PARAM, "mchid must be the signing merchant's");
        goto out;
    }
    if (!merchant_out_trade_no_is_valid(out_trade_no)) {
        http_reply_error_message(req, QB_E_PARAM,
                                 "out_trade_no must be 6 to 32 of 0-9 A-Z a-z _ - | * @");
        goto out;
    }
    struct merchant_order_close_cmd *c = http_request_alloc(req, sizeof *c);
    if (c == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        goto out;
    }
    merchant_order_close_cmd_init(c, env);
    snprintf(c->mchid, sizeof c->mchid, "%s", m->mchid);
    snprintf(c->out_trade_no, sizeof c->out_trade_no, "%s", out_trade_no);
    http_request_submit(req, &c->cmd, S_close_resume);
out:
    json_decref(body);
}

/* --- certificates ------------------------------------------------------------------------- */

/* One platform certificate as WeChat lists it: {serial_no, effective_time,
 * expire_time, encrypt_certificate: {algorithm, nonce, associated_data,
 * ciphertext}}, its PEM encrypted under the merchant's API v3 key; NULL
 * when it cannot be. */
static json_t *S_certificate_json(const struct domain_env *env, const char *key,
                                  const struct merchant_platform *platform)
{
    static const char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    char nonce[13];
    for (size_t i = 0; i < 12; i++)
        nonce[i] = alphabet[rand_below(env->rand, sizeof alphabet - 1)];
    nonce[12] = '\0';
    struct buf ciphertext;
    buf_init(&ciphertext, 64 * 1024);
    enum qb_error err = crypto_aead_gcm_encrypt((const uint8_t *)key, nonce, "certificate",
                                                platform->certificate_pem.data,
                                                platform->certificate_pem.size, &ciphertext);
    json_t *item = NULL;
    if (err == QB_OK)
        item =
            json_pack("{s:s, s:o, s:o, s:{s:s, s:s, s:s, s:s}}", "serial_no", platform->serial_no,
                      "effective_time", http_time_json(platform->not_before_ms), "expire_time",
                      http_time_json(platform->not_after_ms), "encrypt_certificate", "algorithm",
                      "AEAD_AES_256_GCM", "nonce", nonce, "associated_data", "certificate",
                      "ciphertext", ciphertext.data);
    buf_release(&ciphertext);
    return item;
}

/* WeChat's answer: {"data": [certificate]}: the one that signs and, during
 * a rotation (qianbaod --platform-key-rotate), the next one after it, so
 * that an SDK has it before it signs. */
void http_handle_v3_certificates(struct http_request *req)
{
    const struct domain_env *env = http_request_env(req);
    const struct merchant *m = http_request_merchant(req);
    if (env == NULL || env->platform == NULL || m == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        return;
    }
    char key[MERCHANT_APIV3_KEY_SIZE + 1];
    if (!merchant_apiv3_key(env, m, key)) {
        log_event(LOG_ERROR, "merchant.apiv3_key_unsealed", "mchid=%s", m->mchid);
        http_reply_error(req, QB_E_INTERNAL);
        return;
    }
    json_t *data = json_array();
    const struct merchant_platform *platforms[] = {env->platform, env->platform_next};
    bool ok = data != NULL;
    for (size_t i = 0; ok && i < QB_ARRAY_COUNT(platforms); i++)
        if (platforms[i] != NULL)
            ok = json_array_append_new(data, S_certificate_json(env, key, platforms[i])) == 0;
    crypto_wipe(key, sizeof key);
    json_t *body = ok ? json_pack("{s:o}", "data", data) : NULL;
    if (!ok)
        json_decref(data);
    http_reply_json_new(req, 200, body);
}

/* --- trade bills -------------------------------------------------------------------------- */

#define S_BILL_POOL_WAIT_MS 1000 /* a streamed bill waits this long for a read connection */

/* Checks bill_date for the signer and gives the day's bounds; false after
 * replying the refusal. */
static bool S_bill_day(struct http_request *req, const char *bill_date, int64_t *start_ms,
                       int64_t *end_ms)
{
    const struct domain_env *env = http_request_env(req);
    if (env == NULL || http_request_merchant(req) == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        return false;
    }
    const char *message = NULL;
    /* A day is over once every command that ran in it has committed. */
    enum qb_error err = merchant_bill_date_check(bill_date, http_request_settled_ms(req), start_ms,
                                                 end_ms, &message);
    if (err != QB_OK) {
        http_reply_error_message(req, err, message);
        return false;
    }
    return true;
}

/* Where a bill of type starts (merchant_bill_cursor_init's head_entry_id):
 * for the fund flow, the merchant account's newest committed entry, read
 * now (after the day ended, so every entry of the day is at or before it);
 * 0 for the trade bills. False after replying the refusal. */
static bool S_bill_head(struct http_request *req, enum merchant_bill_type type, int64_t *head)
{
    *head = 0;
    if (type != MERCHANT_BILL_FUNDFLOW)
        return true;
    struct ledger_account_view view;
    enum qb_error err =
        http_request_account_view(req, http_request_merchant(req)->account_id, &view);
    if (err != QB_OK) {
        http_reply_error(req, err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err);
        return false;
    }
    *head = view.last_entry_id;
    return true;
}

/* SHA-1 of the day's bill into hash (hex), made a page at a time and
 * never held whole: each page on a read connection of its own. False
 * after replying the refusal. */
static bool S_bill_sha1(struct http_request *req, enum merchant_bill_type type, int64_t start_ms,
                        int64_t end_ms, int64_t head, char hash[2 * EVP_MAX_MD_SIZE + 1])
{
    struct merchant_bill_cursor *cursor = http_request_alloc(req, sizeof *cursor);
    if (cursor == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        return false;
    }
    merchant_bill_cursor_init(cursor, http_request_merchant(req), type, start_ms, end_ms, head);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        http_reply_error(req, QB_E_INTERNAL);
        return false;
    }
    struct buf piece;
    buf_init(&piece, MERCHANT_BILL_PIECE_SIZE_MAX);
    enum qb_error err = QB_OK;
    bool replied = false;
    while (err == QB_OK && !cursor->done) {
        struct store *reader = http_reader_acquire(req);
        if (reader == NULL) {
            replied = true;
            break;
        }
        buf_reset(&piece);
        err = merchant_bill_next(cursor, reader, &piece);
        http_reader_release(req, reader);
        if (err == QB_OK && piece.size > 0 && EVP_DigestUpdate(ctx, piece.data, piece.size) != 1)
            err = QB_E_INTERNAL;
    }
    buf_release(&piece);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_size = 0;
    if (err == QB_OK && !replied && EVP_DigestFinal_ex(ctx, digest, &digest_size) != 1)
        err = QB_E_INTERNAL;
    EVP_MD_CTX_free(ctx);
    if (replied)
        return false;
    if (err == QB_E_NO_STATEMENT_EXIST && type == MERCHANT_BILL_FUNDFLOW) {
        http_reply_error_message(req, err, "no bill: the merchant's account did not move that day");
        return false;
    }
    if (err != QB_OK) {
        http_reply_error(req, err);
        return false;
    }
    crypto_hex(digest, digest_size, hash);
    return true;
}

/* A bill streamed to the client (http_reply_stream): made a page at a
 * time on a read connection borrowed for that page alone, gzipped as it
 * goes when asked; at most a page of CSV and its compressed form in
 * memory. */
struct S_bill_stream {
    struct merchant_bill_cursor cursor;
    struct store_pool *pool;
    bool gzip;
    struct merchant_gzip_stream z;
    struct buf csv;     /* the current page's CSV, when gzipping */
    struct buf pending; /* bytes to send */
    size_t offset;      /* of pending, sent */
};

static enum qb_error S_bill_stream_read(void *ctx, char *out, size_t size, size_t *written,
                                        bool *end)
{
    struct S_bill_stream *s = ctx;
    *written = 0;
    *end = false;
    while (s->offset == s->pending.size) {
        if (s->cursor.done) {
            *end = true;
            return QB_OK;
        }
        buf_reset(&s->pending);
        buf_reset(&s->csv);
        s->offset = 0;
        struct store *reader = NULL;
        enum qb_error err = store_pool_acquire(s->pool, S_BILL_POOL_WAIT_MS, &reader);
        if (err != QB_OK)
            return err;
        err = merchant_bill_next(&s->cursor, reader, s->gzip ? &s->csv : &s->pending);
        store_pool_release(s->pool, reader);
        if (err == QB_OK && s->gzip)
            err = merchant_gzip_push(&s->z, s->csv.data, s->csv.size, s->cursor.done,
                                     &s->pending);
        if (err != QB_OK)
            return err;
    }
    size_t n = s->pending.size - s->offset;
    if (n > size)
        n = size;
    memcpy(out, s->pending.data + s->offset, n);
    s->offset += n;
    *written = n;
    return QB_OK;
}

static void S_bill_stream_free(void *ctx)
{
    struct S_bill_stream *s = ctx;
    if (s->gzip)
        merchant_gzip_close(&s->z);
    buf_release(&s->csv);
    buf_release(&s->pending);
    free(s);
}

/* Streams the day's bill, unsigned (http_reply_stream): the client checks
 * it against the hash_value of /v3/bill/tradebill. */
static void S_bill_stream(struct http_request *req, enum merchant_bill_type type, bool gzip,
                          int64_t start_ms, int64_t end_ms, int64_t head)
{
    struct S_bill_stream *s = calloc(1, sizeof *s);
    if (s == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        return;
    }
    merchant_bill_cursor_init(&s->cursor, http_request_merchant(req), type, start_ms, end_ms,
                              head);
    s->pool = http_request_pool(req);
    s->gzip = gzip;
    buf_init(&s->csv, MERCHANT_BILL_PIECE_SIZE_MAX);
    /* A page's gzip is smaller than the page, but for a few bytes of
     * framing when it does not compress at all. */
    buf_init(&s->pending, MERCHANT_BILL_PIECE_SIZE_MAX + 64 * 1024);
    if (gzip && merchant_gzip_open(&s->z) != QB_OK) {
        s->gzip = false;
        S_bill_stream_free(s);
        http_reply_error(req, QB_E_INTERNAL);
        return;
    }
    http_reply_stream(req, 200, gzip ? "application/gzip" : "text/csv; charset=utf-8",
                      S_bill_stream_read, S_bill_stream_free, s);
}

/* The host a client reached us by, for the download link: the Host
 * header when it is a plain host[:port]; else the link is a path. */
static const char *S_host(struct http_request *req)
{
    const char *host = http_request_header(req, "Host");
    if (host == NULL || host[0] == '\0' || strlen(host) > 255 ||
        strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") !=
            strlen(host))
        return NULL;
    return host;
}

/* The answer of a bill request, for both bills: {download_url, hash_type:
 * "SHA1", hash_value}, the SHA-1 of the CSV as it is before any
 * compression (WeChat's rule). The file is made here, a page at a time,
 * to hash it, and again at the download; the day has ended, so both are
 * the same bytes. bill_date is not NULL; gzip: tar_type was GZIP. */
static void S_bill_answer(struct http_request *req, enum merchant_bill_type type,
                          const char *bill_date, bool gzip)
{
    const struct domain_env *env = http_request_env(req);
    const struct merchant *m = http_request_merchant(req);
    int64_t start_ms, end_ms, head;
    char hash[2 * EVP_MAX_MD_SIZE + 1];
    if (!S_bill_day(req, bill_date, &start_ms, &end_ms) || !S_bill_head(req, type, &head) ||
        !S_bill_sha1(req, type, start_ms, end_ms, head, hash))
        return;
    char token[MERCHANT_BILL_TOKEN_SIZE];
    merchant_bill_token_make(env->cursor_key, m->mchid, bill_date, type, gzip,
                             clock_now_ms(env->clock) + MERCHANT_BILL_TOKEN_TTL_MS, token);
    const char *host = S_host(req);
    const char *proto = http_request_header(req, "X-Forwarded-Proto");
    char url[512];
    const char *scheme = host == NULL                                       ? ""
                         : proto != NULL && strcasecmp(proto, "https") == 0 ? "https://"
                                                                            : "http://";
    snprintf(url, sizeof url, "%s%s/v3/billdownload/file?token=%s", scheme,
             host != NULL ? host : "", token);
    json_t *body = json_pack("{s:s, s:s, s:s}", "download_url", url, "hash_type", "SHA1",
                             "hash_value", hash);
    http_reply_json_new(req, 200, body);
}

/* GET /v3/bill/tradebill?bill_date=&bill_type=&tar_type= */
void http_handle_v3_tradebill(struct http_request *req)
{
    const char *bill_date = http_request_query(req, "bill_date");
    const char *bill_type = http_request_query(req, "bill_type");
    const char *tar_type = http_request_query(req, "tar_type");
    enum merchant_bill_type type = MERCHANT_BILL_ALL;
    if (bill_date == NULL) {
        http_reply_error_message(req, QB_E_PARAM, "bill_date is required");
        return;
    }
    if (bill_type != NULL && !merchant_bill_type_parse(bill_type, &type)) {
        http_reply_error_message(req, QB_E_PARAM, "bill_type must be ALL, SUCCESS or REFUND");
        return;
    }
    if (tar_type != NULL && strcmp(tar_type, "GZIP") != 0) {
        http_reply_error_message(req, QB_E_PARAM, "tar_type must be GZIP");
        return;
    }
    S_bill_answer(req, type, bill_date, tar_type != NULL);
}

/* GET /v3/bill/fundflowbill?bill_date=&account_type=&tar_type= — the
 * fund flow of the merchant's settlement account, WeChat's BASIC account
 * (the default); OPERATION and FEES accounts do not exist in Qianbao. */
void http_handle_v3_fundflowbill(struct http_request *req)
{
    const char *bill_date = http_request_query(req, "bill_date");
    const char *account_type = http_request_query(req, "account_type");
    const char *tar_type = http_request_query(req, "tar_type");
    if (bill_date == NULL) {
        http_reply_error_message(req, QB_E_PARAM, "bill_date is required");
        return;
    }
    if (account_type != NULL && !merchant_fundflow_account_is_valid(account_type)) {
        http_reply_error_message(req, QB_E_PARAM, "account_type must be BASIC");
        return;
    }
    if (tar_type != NULL && strcmp(tar_type, "GZIP") != 0) {
        http_reply_error_message(req, QB_E_PARAM, "tar_type must be GZIP");
        return;
    }
    S_bill_answer(req, MERCHANT_BILL_FUNDFLOW, bill_date, tar_type != NULL);
}

/* WeChat's answer of a balance: {available_amount, pending_amount}. */
static void S_fund_balance_reply(struct http_request *req, int64_t available_minor,
                                 int64_t pending_minor)
{
    json_t *body = json_pack("{s:I, s:I}", "available_amount", (json_int_t)available_minor,
                             "pending_amount", (json_int_t)pending_minor);
    http_reply_json_new(req, 200, body);
}

/* The caller's settlement account for both balance queries: the merchant,
 * with its account's view now, or NULL after replying (an account_type
 * other than BASIC is PARAM_ERROR). */
static const struct merchant *S_fund_account(struct http_request *req,
                                             struct ledger_account_view *view)
{
    const struct merchant *m = http_request_merchant(req);
    if (m == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        return NULL;
    }
    if (!merchant_fundflow_account_is_valid(http_request_param(req, "account_type"))) {
        http_reply_error_message(req, QB_E_PARAM, "account_type must be BASIC");
        return NULL;
    }
    enum qb_error err = http_request_account_view(req, m->account_id, view);
    if (err != QB_OK) {
        /* The settlement account is made with the merchant. */
        http_reply_error(req, err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err);
        return NULL;
    }
    return m;
}

/* GET /v3/merchant/fund/balance/{account_type} — the settlement account
 * now, WeChat's BASIC account: {available_amount, pending_amount}, the
 * second held by the owner's withdrawals in flight and by transfers to
 * users not taken yet, the two adding up to the balance. The same figures as the owner's GET
 * /v1/merchants/me. */
void http_handle_v3_fund_balance(struct http_request *req)
{
    struct ledger_account_view view;
    if (S_fund_account(req, &view) != NULL)
        S_fund_balance_reply(req, view.available_minor, view.held_minor);
}

/* GET /v3/merchant/fund/dayendbalance/{account_type}?date= — the
 * settlement account at the end (24:00 UTC+8) of an ended day within the
 * bills' three months: {available_amount, pending_amount}, as the balance
 * query answers them now. WeChat makes a day's figure the next day: today
 * (and a day before the merchant was made) has none, INVALID_REQUEST. */
void http_handle_v3_fund_dayendbalance(struct http_request *req)
{
    struct ledger_account_view view;
    const struct merchant *m = S_fund_account(req, &view);
    if (m == NULL)
        return;
    const char *date = http_request_query(req, "date");
    if (date == NULL) {
        http_reply_error_message(req, QB_E_PARAM, "date is required");
        return;
    }
    int64_t start_ms, end_ms;
    const char *message = NULL;
    enum qb_error err =
        merchant_bill_date_check(date, http_request_settled_ms(req), &start_ms, &end_ms, &message);
    /* The check speaks of the bills' parameter; this one is date. */
    char renamed[96];
    if (message != NULL && strncmp(message, "bill_date ", 10) == 0) {
        snprintf(renamed, sizeof renamed, "date %s", message + 10);
        message = renamed;
    }
    if (err == QB_E_STATEMENT_CREATING) {
        err = QB_E_INVALID_REQUEST;
        message = "the day has not ended: its day-end balance is there from the next day";
    } else if (err == QB_OK && m->created_at_ms >= end_ms) {
        err = QB_E_INVALID_REQUEST;
        message = "the merchant did not exist at that day's end";
    }
    if (err != QB_OK) {
        http_reply_error_message(req, err, message);
        return;
    }
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return;
    int64_t available = 0, pending = 0;
    err = merchant_dayend_balance(reader, m, view.last_entry_id, end_ms, &available, &pending);
    http_reader_release(req, reader);
    if (err != QB_OK) {
        http_reply_error(req, err);
        return;
    }
    S_fund_balance_reply(req, available, pending);
}

/* GET /v3/billdownload/file?token= — the file. A bill whose CSV (and
 * its gzip, when asked) fits in one reply (HTTP_REPLY_SIZE_MAX) is
 * answered whole and signed like every /v3 answer; a larger one is
 * streamed, unsigned, gzipped or not, as WeChat Pay serves its downloads: the client
 * checks the file against the hash_value the signed tradebill answer gave.
 * A token that is malformed, forged, another merchant's or past its five
 * minutes is NOT_FOUND. */
void http_handle_v3_billdownload(struct http_request *req)
{
    const struct domain_env *env = http_request_env(req);
    const struct merchant *m = http_request_merchant(req);
    if (env == NULL || m == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        return;
    }
    char bill_date[MERCHANT_BILL_DATE_SIZE];
    enum merchant_bill_type type;
    bool gzip = false;
    if (!merchant_bill_token_open(env->cursor_key, http_request_query(req, "token"), m->mchid,
                                  clock_now_ms(env->clock), bill_date, &type, &gzip)) {
        http_reply_error_message(req, QB_E_NOT_FOUND, "the download link is unknown or expired");
        return;
    }
    int64_t start_ms, end_ms, head;
    if (!S_bill_day(req, bill_date, &start_ms, &end_ms) || !S_bill_head(req, type, &head))
        return;
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return;
    struct buf csv;
    buf_init(&csv, HTTP_REPLY_SIZE_MAX);
    enum qb_error err = merchant_bill_write(reader, m, type, start_ms, end_ms, head, &csv);
    http_reader_release(req, reader);
    if (err == QB_OK && !gzip) {
        http_reply_raw(req, 200, "text/csv; charset=utf-8", csv.data, csv.size);
        buf_release(&csv);
        return;
    }
    struct buf packed;
    buf_init(&packed, HTTP_REPLY_SIZE_MAX);
    if (err == QB_OK)
        err = merchant_gzip(csv.data, csv.size, &packed);
    buf_release(&csv);
    if (err == QB_OK)
        http_reply_raw(req, 200, "application/gzip", packed.data, packed.size);
    else if (err == QB_E_TOO_LARGE)
        S_bill_stream(req, type, gzip, start_ms, end_ms, head);
    else
        http_reply_error(req, err);
    buf_release(&packed);
}

/*
 * payout_routes.c — a merchant paying a user (商家转账, merchant/payout.h):
 * the merchant's side in WeChat Pay's dialect, the user's in Qianbao's.
 *
 *   POST /v3/fund-app/mch-transfer/transfer-bills                     create
 *   POST /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{n}/cancel
 *   GET  /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{n}
 *   GET  /v3/fund-app/mch-transfer/transfer-bills/transfer-bill-no/{n}
 *   GET  /v1/me/payouts?limit=&cursor=   the caller's payouts waiting for them
 *   GET  /v1/payouts/{id}                one of the caller's, in any state
 *   POST /v1/payouts/{id}/confirm        the caller takes it (确认收款)
 *
 * Every refusal of the merchant's before the command is PARAM_ERROR, as
 * WeChat answers; a payout's fingerprint is its body re-serialised with
 * sorted keys, so a retry in another key order is the same payout. The
 * user's confirm needs no Idempotency-Key: a payout taken already is
 * answered as it is.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "base/log.h"
#include "base/text.h"
#include "http/internal.h"
#include "merchant/notify.h"
#include "merchant/payout.h"

/* --- the merchant's create ----------------------------------------------------------- */

static const struct http_field S_create_fields[] = {
    {"appid", HTTP_FIELD_STRING, true, 32, 0, 0},
    {"out_bill_no", HTTP_FIELD_STRING, true, 32, 0, 0},
    {"transfer_scene_id", HTTP_FIELD_STRING, true, 36, 0, 0},
    {"openid", HTTP_FIELD_STRING, true, 64, 0, 0},
    {"user_name", HTTP_FIELD_STRING, false, MERCHANT_SEALED_FIELD_SIZE_MAX, 0, 0},
    {"transfer_amount", HTTP_FIELD_INTEGER, true, 0, 1, INT64_C(1000000000000)},
    {"transfer_remark", HTTP_FIELD_STRING, true, MERCHANT_PAYOUT_REMARK_SIZE_MAX - 1, 0, 0},
    {"notify_url", HTTP_FIELD_STRING, false, MERCHANT_NOTIFY_URL_SIZE_MAX - 1, 0, 0},
    {"user_recv_perception", HTTP_FIELD_STRING, false, MERCHANT_PERCEPTION_SIZE_MAX - 1, 0, 0},
    {"transfer_scene_report_infos", HTTP_FIELD_ARRAY, false, 16, 0, 0},
};

static const struct http_field S_report_info_fields[] = {
    {"info_type", HTTP_FIELD_STRING, true, 64, 0, 0},
    {"info_content", HTTP_FIELD_STRING, true, 256, 0, 0},
};

/* The characters of UTF-8 text (which the body's check made valid). */
static size_t S_chars(const char *text)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++)
        n += (*p & 0xC0) != 0x80;
    return n;
}

/* What is wrong with body's values, or NULL. */
static const char *S_create_refusal(const json_t *body, char message[HTTP_JSON_MESSAGE_SIZE_MAX])
{
    const char *notify_url = http_json_string(body, "notify_url");
    const char *remark = http_json_string(body, "transfer_remark");
    int64_t amount = (int64_t)json_integer_value(json_object_get(body, "transfer_amount"));
    char host[MERCHANT_NOTIFY_HOST_SIZE_MAX];
    int port = 0;
    if (!merchant_out_bill_no_is_valid(http_json_string(body, "out_bill_no")))
        return "out_bill_no must be 5 to 32 of 0-9 A-Z a-z";
    if (!merchant_appid_is_valid(http_json_string(body, "appid")))
        return "appid is not an appid";
    if (!merchant_scene_id_is_valid(http_json_string(body, "transfer_scene_id")))
        return "transfer_scene_id must be digits";
    if (amount < MERCHANT_PAYOUT_MIN_MINOR)
        return "transfer_amount must be at least 10 (0.10 yuan)";
    if (amount > MERCHANT_PAYOUT_MAX_MINOR)
        return "transfer_amount must be at most 20000000 (200,000 yuan)";
    if (amount >= MERCHANT_PAYOUT_NAMED_MIN_MINOR && json_object_get(body, "user_name") == NULL)
        return "user_name is required from 200000 (2,000 yuan): the payee's real name, "
               "encrypted under the platform certificate";
    if (remark[0] == '\0' || S_chars(remark) > MERCHANT_PAYOUT_REMARK_CHARS_MAX)
        return "transfer_remark must be 1 to 32 characters";
    if (notify_url != NULL && !merchant_notify_url_parse(notify_url, host, &port))
        return "notify_url must be an http or https URL";
    json_t *infos = json_object_get(body, "transfer_scene_report_infos");
    size_t i;
    json_t *info;
    json_array_foreach(infos, i, info)
    {
        if (!json_is_object(info) ||
            http_json_object(info, S_report_info_fields, QB_ARRAY_COUNT(S_report_info_fields),
                             message) != QB_OK)
            return "transfer_scene_report_infos holds objects of info_type and info_content";
    }
    return NULL;
}

/* Opens user_name (b64) into name with the platform key the request's
 * Wechatpay-Serial names (the current one, or the next during a rotation;
 * in either case, as the Authorization's serial_no is read): NULL, or why
 * not. */
static const char *S_user_name_open(struct http_request *req, const struct domain_env *env,
                                    const char *b64, char name[IDENTITY_REAL_NAME_SIZE_MAX])
{
    const char *serial = http_request_header(req, "Wechatpay-Serial");
    const struct merchant_platform *platform = NULL;
    if (serial != NULL && env->platform != NULL &&
        strcasecmp(serial, env->platform->serial_no) == 0)
        platform = env->platform;
    else if (serial != NULL && env->platform_next != NULL &&
             strcasecmp(serial, env->platform_next->serial_no) == 0)
        platform = env->platform_next;
    if (platform == NULL)
        return "Wechatpay-Serial must name the platform certificate user_name is encrypted for";
    if (merchant_platform_decrypt(platform, b64, name, IDENTITY_REAL_NAME_SIZE_MAX) != QB_OK)
        return "user_name does not open with the platform key: RSA-OAEP (SHA-1) of the name, "
               "in base64";
    if (name[0] == '\0' || !text_is_clean(name, strlen(name))) {
        sodium_memzero(name, IDENTITY_REAL_NAME_SIZE_MAX);
        return "user_name is not a name";
    }
    return NULL;
}

/* Whether m may name the user of body's openid no more (it named them
 * wrongly too often), replied to if so: asked before the name is opened,
 * as the platform key's RSA is the request's dearest step. A retry of a
 * bill made before is the command's to answer as it was; the command asks
 * the limit again, at its own time. */
static bool S_names_limited(struct http_request *req, const struct domain_env *env,
                            const struct merchant *m, const json_t *body)
{
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return true;
    char user_id[ID_TEXT_SIZE_MAX], key[MERCHANT_PAYOUT_NAME_KEY_SIZE];
    struct merchant_payout *earlier = http_request_alloc(req, sizeof *earlier);
    enum qb_error err =
        earlier == NULL ? QB_E_TOO_LARGE
                        : merchant_payout_get(reader, m->mchid,
                                              http_json_string(body, "out_bill_no"), NULL, earlier);
    if (err == QB_E_NOT_FOUND)
        /* Unchecked against the digest (NULL): the command checks, and
         * logs, a damaged row; here it only counts names. */
        err = merchant_openid_issued(NULL, reader, http_json_string(body, "appid"),
                                     http_json_string(body, "openid"), user_id);
    else
        err = QB_E_CONFLICT; /* made before, or not known: the command answers */
    http_reader_release(req, reader);
    if (err != QB_OK ||
        !merchant_payout_names_limited(env, m->mchid, user_id, clock_now_ms(env->clock), key))
        return false; /* no such user, or a storage fault: the command answers it */
    http_reply_error_message(req, QB_E_FREQUENCY_LIMITED, MERCHANT_PAYOUT_NAMES_LIMITED_MESSAGE);
    return true;
}

static void S_create_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct merchant_payout_create_cmd *c = (struct merchant_payout_create_cmd *)cmd;
    const struct merchant_payout *p = &c->payout;
    sodium_memzero(c->user_name, sizeof c->user_name); /* a refusal before its check kept it */
    if (!http_reply_refusal(req, cmd, c->outcome, c->message)) {
        json_t *body =
            json_pack("{s:s, s:s, s:o, s:s}", "out_bill_no", p->out_bill_no, "transfer_bill_no",
                      p->transfer_bill_no, "create_time", http_time_json(p->created_at_ms), "state",
                      merchant_payout_state_name(p->state));
        /* package_info opens the confirmation in the wallet app while the
         * payout waits for it. */
        if (body != NULL && p->state == MERCHANT_PAYOUT_WAIT_USER_CONFIRM &&
            json_object_set_new(body, "package_info", json_string(p->transfer_bill_no)) != 0) {
            json_decref(body);
            body = NULL;
        }
        if (body != NULL && p->fail_reason[0] != '\0' &&
            json_object_set_new(body, "fail_reason", json_string(p->fail_reason)) != 0) {
            json_decref(body);
            body = NULL;
        }
        http_reply_json_new(req, 200, body);
    }
    ledger_cmd_release(cmd);
}

void http_handle_v3_payouts_create(struct http_request *req)
{
    json_t *body = http_v3_json_body(req, S_create_fields, QB_ARRAY_COUNT(S_create_fields));
    if (body == NULL)
        return;
    const struct domain_env *env = http_request_env(req);
    const struct merchant *m = http_request_merchant(req);
    const char *notify_url = http_json_string(body, "notify_url");
    const char *perception = http_json_string(body, "user_recv_perception");
    char message[HTTP_JSON_MESSAGE_SIZE_MAX];
    json_t *name = NULL; /* the payee's name in clear, for the fingerprint: wiped at out */
    if (env == NULL || m == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        goto out;
    }
    const char *fail = S_create_refusal(body, message);
    if (fail != NULL) {
        http_reply_error_message(req, QB_E_PARAM, fail);
        goto out;
    }
    if (notify_url != NULL && !http_v3_notify_url_allowed(req, notify_url))
        goto out;

    struct merchant_payout_create_cmd *c = http_request_alloc(req, sizeof *c);
    if (c == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        goto out;
    }
    merchant_payout_create_cmd_init(c, env);
    /* The payee's name, opened here, off the writer; the body's fingerprint
     * takes the name, not its ciphertext, which a retry encrypts anew. */
    if (json_object_get(body, "user_name") != NULL) {
        if (S_names_limited(req, env, m, body))
            goto out;
        fail = S_user_name_open(req, env, http_json_string(body, "user_name"), c->user_name);
        if (fail == NULL)
            name = json_string(c->user_name);
        if (fail != NULL || name == NULL || json_object_set(body, "user_name", name) != 0) {
            sodium_memzero(c->user_name, sizeof c->user_name);
            http_reply_error_message(req, QB_E_PARAM,
                                     fail != NULL ? fail : "user_name is not UTF-8 text");
            goto out;
        }
    }
    char *canonical = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    if (canonical == NULL) {
        sodium_memzero(c->user_name, sizeof c->user_name);
        http_reply_error(req, QB_E_INTERNAL);
        goto out;
    }
    struct merchant_payout *p = &c->payout;
    uint8_t digest[CRYPTO_SHA256_SIZE];
    crypto_sha256(canonical, strlen(canonical), digest);
    domain_request_fingerprint(env, digest, p->request_hash);
    /* Both hold the name (the hash to whoever guesses one): wiped as
     * c->user_name is. */
    crypto_wipe(canonical, strlen(canonical));
    crypto_wipe(digest, sizeof digest);
    free(canonical);
    snprintf(p->mchid, sizeof p->mchid, "%s", m->mchid);
    snprintf(p->out_bill_no, sizeof p->out_bill_no, "%s", http_json_string(body, "out_bill_no"));
    snprintf(p->appid, sizeof p->appid, "%s", http_json_string(body, "appid"));
    /* An openid of another shape is nobody's: the command says so. */
    const char *openid = http_json_string(body, "openid");
    snprintf(p->openid, sizeof p->openid, "%s",
             strlen(openid) == MERCHANT_OPENID_SIZE - 1 ? openid : "");
    snprintf(p->scene_id, sizeof p->scene_id, "%s", http_json_string(body, "transfer_scene_id"));
    snprintf(p->perception, sizeof p->perception, "%s", perception != NULL ? perception : "");
    snprintf(p->remark, sizeof p->remark, "%s", http_json_string(body, "transfer_remark"));
    snprintf(p->notify_url, sizeof p->notify_url, "%s", notify_url != NULL ? notify_url : "");
    p->amount_minor = (int64_t)json_integer_value(json_object_get(body, "transfer_amount"));
    http_request_submit(req, &c->cmd, S_create_resume);
out:
    /* The body's copy of the name, held by name as well as by the body, is
     * wiped before either lets it go, as c->user_name is. */
    if (name != NULL) {
        crypto_wipe((char *)json_string_value(name), json_string_length(name));
        json_decref(name);
    }
    json_decref(body);
}

/* --- the merchant's cancel and queries ------------------------------------------------- */

static void S_cancel_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct merchant_payout_end_cmd *c = (struct merchant_payout_end_cmd *)cmd;
    const struct merchant_payout *p = &c->payout;
    if (!http_reply_refusal(req, cmd, c->outcome, c->message))
        http_reply_json_new(req, 200,
                            json_pack("{s:s, s:s, s:s, s:o}", "out_bill_no", p->out_bill_no,
                                      "transfer_bill_no", p->transfer_bill_no, "state",
                                      merchant_payout_state_name(p->state), "update_time",
                                      http_time_json(p->updated_at_ms)));
    ledger_cmd_release(cmd);
}

void http_handle_v3_payouts_cancel(struct http_request *req)
{
    /* No fields: an empty body or {} only. */
    json_t *body = http_v3_json_body(req, NULL, 0);
    if (body == NULL)
        return;
    json_decref(body);
    const struct domain_env *env = http_request_env(req);
    const struct merchant *m = http_request_merchant(req);
    const char *out_bill_no = http_request_param(req, "out_bill_no");
    struct merchant_payout_end_cmd *c = http_request_alloc(req, sizeof *c);
    if (env == NULL || m == NULL || c == NULL) {
        http_reply_error(req, c == NULL ? QB_E_TOO_LARGE : QB_E_INTERNAL);
        return;
    }
    if (!merchant_out_bill_no_is_valid(out_bill_no)) {
        http_reply_error(req, QB_E_NOT_FOUND);
        return;
    }
    merchant_payout_end_cmd_init(c, env, MERCHANT_PAYOUT_CANCEL);
    snprintf(c->mchid, sizeof c->mchid, "%s", m->mchid);
    snprintf(c->out_bill_no, sizeof c->out_bill_no, "%s", out_bill_no);
    http_request_submit(req, &c->cmd, S_cancel_resume);
}

static void S_v3_get(struct http_request *req, bool by_out_bill_no)
{
    const struct merchant *m = http_request_merchant(req);
    struct merchant_payout *p = http_request_alloc(req, sizeof *p);
    if (p == NULL || m == NULL) {
        http_reply_error(req, p == NULL ? QB_E_TOO_LARGE : QB_E_INTERNAL);
        return;
    }
    /* Judged as of a time every command before which has committed, read
     * before the row: one past its 24 hours reads closed, as a confirm
     * would find it, while one confirmed in time is never told so. */
    int64_t settled_ms = http_request_settled_ms(req);
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return;
    enum qb_error err =
        by_out_bill_no
            ? merchant_payout_get(reader, m->mchid, http_request_param(req, "out_bill_no"), NULL, p)
            : merchant_payout_get(reader, m->mchid, NULL,
                                  http_request_param(req, "transfer_bill_no"), p);
    http_reader_release(req, reader);
    if (err != QB_OK) {
        http_reply_error(req, err);
        return;
    }
    merchant_payout_at(p, settled_ms);
    http_reply_json_new(req, 200, merchant_payout_json(p));
}

void http_handle_v3_payouts_get_by_out_bill_no(struct http_request *req) { S_v3_get(req, true); }

void http_handle_v3_payouts_get_by_transfer_bill_no(struct http_request *req)
{
    S_v3_get(req, false);
}

/* --- the user's side --------------------------------------------------------------------- */

/* A payout as its user sees it: id, state, amount, currency, merchant
 * {mchid, name}, remark, perception, fail_reason, created_at, expires_at,
 * updated_at. */
static json_t *S_user_json(const struct merchant_payout *p, const char *merchant_name)
{
    return json_pack(
        "{s:s, s:s, s:I, s:s, s:{s:s, s:s}, s:s, s:o, s:o, s:o, s:o, s:o}", "id",
        p->transfer_bill_no, "state", merchant_payout_state_name(p->state), "amount",
        (json_int_t)p->amount_minor, "currency", p->currency->code, "merchant", "mchid", p->mchid,
        "name", merchant_name, "remark", p->remark, "perception",
        p->perception[0] != '\0' ? json_string(p->perception) : json_null(), "fail_reason",
        p->fail_reason[0] != '\0' ? json_string(p->fail_reason) : json_null(), "created_at",
        http_time_json(p->created_at_ms), "expires_at", http_time_json(p->expires_at_ms),
        "updated_at", http_time_json(p->updated_at_ms));
}

/* p's merchant's name into name, "" when it cannot be read (the answer is
 * then that error). */
static enum qb_error S_merchant_name(struct store *reader, const struct merchant_payout *p,
                                     char name[MERCHANT_NAME_SIZE_MAX])
{
    struct merchant m;
    enum qb_error err = merchant_get(NULL, reader, p->mchid, &m);
    snprintf(name, MERCHANT_NAME_SIZE_MAX, "%s", err == QB_OK ? m.name : "");
    return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err;
}

/* Whose list, and the time its payouts are judged at (settled before the
 * rows are read: S_v3_get). */
struct S_waiting_of {
    const char *user_id;
    int64_t settled_ms;
};

static enum qb_error S_waiting_read(struct http_request *req, struct store *reader, const void *arg,
                                    int64_t cursor, void *rows, size_t room, size_t *count)
{
    (void)req;
    const struct S_waiting_of *of = arg;
    return merchant_payouts_waiting(reader, of->user_id, of->settled_ms, cursor, rows, room, count);
}

static json_t *S_waiting_item(struct http_request *req, struct store *reader, const void *arg,
                              const void *row, enum qb_error *err)
{
    (void)req;
    (void)arg;
    char name[MERCHANT_NAME_SIZE_MAX];
    *err = S_merchant_name(reader, row, name);
    return *err == QB_OK ? S_user_json(row, name) : NULL;
}

static const struct http_list S_waiting = {sizeof(struct merchant_payout),
                                           HTTP_LIST_KEY(struct merchant_payout, seq),
                                           S_waiting_read, S_waiting_item};

void http_handle_me_payouts_list(struct http_request *req)
{
    struct S_waiting_of of = {http_request_session(req)->user_id, http_request_settled_ms(req)};
    http_reply_list(req, &S_waiting, &of);
}

void http_handle_payouts_get(struct http_request *req)
{
    const struct identity_session *session = http_request_session(req);
    struct merchant_payout *p = http_request_alloc(req, sizeof *p);
    char *name = http_request_alloc(req, MERCHANT_NAME_SIZE_MAX);
    if (p == NULL || name == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    int64_t settled_ms = http_request_settled_ms(req); /* before the row: S_v3_get */
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return;
    enum qb_error err = merchant_payout_get(reader, NULL, NULL, http_request_param(req, "id"), p);
    /* Another user's payout is not there, like one that never was. */
    if (err == QB_OK && strcmp(p->user_id, session->user_id) != 0)
        err = QB_E_NOT_FOUND;
    if (err == QB_OK)
        err = S_merchant_name(reader, p, name);
    http_reader_release(req, reader);
    if (err != QB_OK) {
        http_reply_error(req, err);
        return;
    }
    merchant_payout_at(p, settled_ms);
    http_reply_json_new(req, 200, S_user_json(p, name));
}

static void S_confirm_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct merchant_payout_end_cmd *c = (struct merchant_payout_end_cmd *)cmd;
    if (http_cmd_failure_is_news(cmd->result))
        log_event(LOG_WARN, "http.payout_command_failed", "error=%s", error_name(cmd->result));
    if (!http_reply_refusal(req, cmd, c->outcome, c->message))
        http_reply_json_new(req, 200, S_user_json(&c->payout, c->merchant_name));
    ledger_cmd_release(cmd);
}

void http_handle_payouts_confirm(struct http_request *req)
{
    json_t *body = http_json_body(req, NULL, 0);
    if (body == NULL)
        return;
    json_decref(body);
    const struct domain_env *env = http_request_env(req);
    const char *id = http_request_param(req, "id");
    struct merchant_payout_end_cmd *c = http_request_alloc(req, sizeof *c);
    if (env == NULL || c == NULL) {
        http_reply_error(req, env == NULL ? QB_E_INTERNAL : QB_E_TOO_LARGE);
        return;
    }
    if (id == NULL || !id_is_valid(id, strlen(id), "p")) {
        http_reply_error(req, QB_E_NOT_FOUND);
        return;
    }
    merchant_payout_end_cmd_init(c, env, MERCHANT_PAYOUT_CONFIRM);
    snprintf(c->user_id, sizeof c->user_id, "%s", http_request_session(req)->user_id);
    snprintf(c->transfer_bill_no, sizeof c->transfer_bill_no, "%s", id);
    http_request_submit(req, &c->cmd, S_confirm_resume);
}

/*
 * merchant_routes.c — the wallet side of merchants: applying for one
 * (POST /v1/merchants, a user; POST /admin/merchants, an operator), a
 * user's openid under an app (GET /v1/me/openids/{appid}), another app
 * for a merchant (POST /v1/merchants/{mchid}/apps, its owner;
 * POST /admin/merchants/{mchid}/apps, an operator) and a user
 * paying an order (POST /v1/me/order-payments), and the owner's view of
 * a merchant: GET /v1/merchants/me (its balance),
 * GET /v1/merchants/me/payments (the payments it took, newest first) and
 * GET /v1/merchants/me/analytics (analytics.h). Waiting for the next
 * payment is changes_routes.c's. The owner's withdrawal of
 * a merchant's balance is in money_routes.c, beside the user's own.
 *
 * Onboarding makes the merchant's keys on this HTTP thread before the
 * command runs (an RSA-2048 key pair takes tens of milliseconds, never the
 * ledger writer's to spend); the private key and the API v3 key are in the
 * answer once and wiped after it. The answer is not stored anywhere, so an
 * onboarding request is not idempotent: a retry makes a second merchant.
 *
 * Paying takes an order's code_url or prepay_id, or a scanned `payload`
 * (docs/qr.md): a code_url again, or a merchant's static till code, paid
 * with `amount` when the code fixes none. Paying is one
 * merchant_order_pay_cmd (src/merchant/order.h), armed with
 * the Idempotency-Key under "user:<id>" like a transfer, answered with the
 * stored bytes (http_reply_stored).
 *
 * Never in a response or a log: the payment password; the keys outside the
 * onboarding answer.
 */
#include <stdio.h>
#include <string.h>

#include "base/crypto.h"
#include "base/log.h"
#include "base/text.h"
#include "http/internal.h"
#include "merchant/analytics.h"
#include "merchant/order.h"
#include "merchant/refund.h"
#include "qr/qr.h"
#include "wallet/transfer.h"

#define S_PRINCIPAL_SIZE_MAX (5 + ID_TEXT_SIZE_MAX)
#define S_PUBLIC_KEY_B64_SIZE_MAX 1024 /* base64 DER of an RSA-4096 public key: about 736 */

/* --- key pairs, made off the HTTP threads -------------------------------------------------- */

/* An RSA-2048 key pair takes tens to hundreds of milliseconds of a core
 * (the search for its primes). Made on an HTTP thread, a user repeating a
 * request that makes one (onboarding; a certificate's replacement, whatever
 * the payment password, which its command checks after) would hold up
 * every other request of that thread. So the keys are made on a password
 * thread, the bounded pool for such work (full: 503 SYSTEM_BUSY, and a
 * flood costs only itself), which then runs the command. */
struct S_keygen {
    struct ledger_cmd hold;                      /* first: what the pool carries; never submitted */
    struct ledger_cmd *cmd;                      /* run once the keys are made */
    enum qb_error (*make)(struct S_keygen *job); /* makes them into cmd's; QB_OK or why not */
    void (*drop)(struct ledger_cmd *cmd);        /* releases cmd and what make made, unanswered */
    http_resume_fn resume;                       /* answers cmd once it ran */
    const struct domain_env *env;
    char public_key[S_PUBLIC_KEY_B64_SIZE_MAX + 1]; /* the owner's own, or "": Qianbao makes one */
    int64_t queued_ns;                              /* when it was handed over */
    enum qb_error made;
};

static void S_keygen_run(struct http_request *req, struct ledger_cmd *hold)
{
    struct S_keygen *job = (struct S_keygen *)hold;
    if (clock_monotonic_ns() - job->queued_ns > HTTP_PASSWORD_WAIT_MAX_MS * INT64_C(1000000)) {
        job->made = QB_E_BUSY; /* as a password waiting that long: nothing made or run */
        return;
    }
    job->made = job->make(job);
    if (job->made != QB_OK)
        return;
    enum qb_error err = http_request_execute(req, job->cmd);
    if (err != QB_OK)
        job->cmd->result = err; /* refused, as a submission would have been */
}

/* Why the keys of a merchant could not be made: a public_key given that is
 * none (PARAM_ERROR), or err. */
static void S_key_refusal(struct http_request *req, enum qb_error err)
{
    if (err == QB_E_PARAM)
        http_reply_error_message(req, QB_E_PARAM,
                                 "public_key must be base64 DER of an RSA public key of "
                                 "2048 to 4096 bits");
    else
        http_reply_error(req, err);
}

static void S_keygen_answer(struct http_request *req, struct ledger_cmd *hold)
{
    struct S_keygen *job = (struct S_keygen *)hold;
    if (job->made != QB_OK) {
        job->drop(job->cmd);
        if (job->made == QB_E_BUSY)
            http_reply_header(req, "Retry-After", "1");
        S_key_refusal(req, job->made);
        return;
    }
    job->resume(req, job->cmd);
}

/* Queues job, its cmd, make, drop and resume set, on a password thread;
 * when the pool is full (answered 503) cmd is dropped. public_key NULL:
 * none given, Qianbao makes the pair; "" is a key that is none, refused as
 * a bad one is (a client whose key came out empty must not have a pair
 * made for it, nor, replacing a certificate, its working key cut off). */
static void S_keygen_start(struct http_request *req, struct S_keygen *job,
                           const struct domain_env *env, const char *public_key)
{
    if (public_key != NULL && public_key[0] == '\0') {
        job->drop(job->cmd);
        S_key_refusal(req, QB_E_PARAM);
        return;
    }
    memset(&job->hold, 0, sizeof job->hold);
    job->env = env;
    snprintf(job->public_key, sizeof job->public_key, "%s", public_key != NULL ? public_key : "");
    job->made = QB_E_INTERNAL;
    job->queued_ns = clock_monotonic_ns();
    if (!http_request_offload_password(req, &job->hold, S_keygen_run, S_keygen_answer))
        job->drop(job->cmd);
}

/* --- onboarding ------------------------------------------------------------------------ */

struct S_onboard {
    struct merchant_create_cmd c; /* first: the server hands back &c.cmd */
    struct merchant_credentials cred;
    struct domain_audit *audit; /* an operator's onboarding: its row, to name the mchid */
};

static enum qb_error S_onboard_make(struct S_keygen *job)
{
    struct S_onboard *o = (struct S_onboard *)job->cmd;
    enum qb_error err = merchant_credentials_make(
        job->env, job->public_key[0] != '\0' ? job->public_key : NULL, &o->c.merchant, &o->cred);
    if (o->audit != NULL)
        snprintf(o->audit->target, sizeof o->audit->target, "%s", o->c.merchant.mchid);
    return err;
}

static void S_onboard_drop(struct ledger_cmd *cmd)
{
    struct S_onboard *o = (struct S_onboard *)cmd;
    merchant_credentials_release(&o->cred);
    ledger_cmd_release(cmd);
}

static const struct http_field S_user_fields[] = {
    {"name", HTTP_FIELD_STRING, true, MERCHANT_NAME_SIZE_MAX - 1, 0, 0},
    {"public_key", HTTP_FIELD_STRING, false, S_PUBLIC_KEY_B64_SIZE_MAX, 0, 0},
    {"app_count", HTTP_FIELD_INTEGER, false, 0, 1, MERCHANT_APPS_MAX},
};

static const struct http_field S_admin_fields[] = {
    {"name", HTTP_FIELD_STRING, true, MERCHANT_NAME_SIZE_MAX - 1, 0, 0},
    {"public_key", HTTP_FIELD_STRING, false, S_PUBLIC_KEY_B64_SIZE_MAX, 0, 0},
    {"owner_user_id", HTTP_FIELD_STRING, false, ID_TEXT_SIZE_MAX - 1, 0, 0},
    {"fee_rate_ppm", HTTP_FIELD_INTEGER, false, 0, 0, MERCHANT_FEE_PPM_MAX},
    {"app_count", HTTP_FIELD_INTEGER, false, 0, 1, MERCHANT_APPS_MAX},
};

/* ["wx…", …]: first, then the others. NULL when out of memory. */
static json_t *S_appids_json(const char *first, char (*others)[MERCHANT_APPID_SIZE],
                             size_t other_count)
{
    json_t *array = json_array();
    if (array == NULL || json_array_append_new(array, json_string(first)) != 0) {
        json_decref(array);
        return NULL;
    }
    for (size_t i = 0; i < other_count; i++)
        if (json_array_append_new(array, json_string(others[i])) != 0) {
            json_decref(array);
            return NULL;
        }
    return array;
}

static void S_onboard_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct S_onboard *o = (struct S_onboard *)cmd;
    const struct domain_env *env = http_request_env(req);
    const struct merchant *m = &o->c.merchant;
    if (cmd->result != QB_OK) {
        http_reply_error(req, cmd->result);
    } else if (o->c.outcome == QB_E_CONFLICT) {
        http_reply_error_message(req, QB_E_CONFLICT,
                                 m->owner_user_id[0] != '\0'
                                     ? "this user has as many merchants as one may; or retry"
                                     : "the new merchant's ids were taken; retry");
    } else if (o->c.outcome != QB_OK) {
        http_reply_error(req, o->c.outcome);
    } else {
        const struct merchant_platform *platform = env->platform;
        json_t *appids = S_appids_json(m->appid, o->c.extra_appids, o->c.extra_count);
        json_t *body = appids == NULL ? NULL : json_pack(
            "{s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:o}", "mchid", m->mchid,
            "appid", m->appid, "appids", appids, "name", m->name, "apiv3_key", o->cred.apiv3_key,
            "serial_no", m->serial_no, "certificate_pem",
            o->cred.certificate_pem.data != NULL ? o->cred.certificate_pem.data : "",
            "fee_rate_ppm", (json_int_t)m->fee_ppm, "platform_serial_no", platform->serial_no,
            "platform_public_key_pem", platform->public_key_pem.data, "platform_certificate_pem",
            platform->certificate_pem.data, "created_at", http_time_json(m->created_at_ms));
        if (body != NULL && o->cred.private_key_pem.size > 0 &&
            json_object_set_new(body, "private_key_pem",
                                json_string(o->cred.private_key_pem.data)) != 0) {
            json_decref(body);
            body = NULL;
        }
        if (body == NULL) {
            http_reply_error(req, QB_E_INTERNAL);
        } else {
            http_reply_json(req, 201, body);
            /* The answer held the private key: wipe the JSON's copy too. */
            json_t *private_key = json_object_get(body, "private_key_pem");
            if (private_key != NULL)
                crypto_wipe((char *)json_string_value(private_key), json_string_length(private_key));
            json_decref(body);
        }
        /* An operator's onboarding (no session: the admin token) is audit. */
        log_event(http_request_session(req) == NULL ? LOG_AUDIT : LOG_INFO, "merchant.created",
                  "mchid=%s by=%s", m->mchid, http_request_by(req));
    }
    merchant_credentials_release(&o->cred);
    ledger_cmd_release(cmd);
}

/* Both onboarding routes: the body's checks, the keys, the command. */
static void S_onboard(struct http_request *req, json_t *body, const char *owner_user_id,
                      int64_t fee_ppm)
{
    const struct domain_env *env = http_request_env(req);
    const char *name = http_json_string(body, "name");
    const char *public_key = http_json_string(body, "public_key");
    json_t *app_count = json_object_get(body, "app_count");
    /* 1..MERCHANT_APPS_MAX, checked with the body's fields. */
    size_t apps = json_is_integer(app_count) ? (size_t)json_integer_value(app_count) : 1;
    QB_ASSERT(apps >= 1 && apps <= MERCHANT_APPS_MAX);
    /* Payers read it at the till and in their bills: never blank. */
    if (name[0] == '\0' || text_is_blank(name, strlen(name))) {
        http_reply_error_message(req, QB_E_PARAM, "name must have a visible character");
        return;
    }
    if (env == NULL || env->platform == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        return;
    }
    struct S_onboard *o = http_request_alloc(req, sizeof *o);
    struct S_keygen *job = http_request_alloc(req, sizeof *job);
    if (o == NULL || job == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    merchant_create_cmd_init(&o->c, env);
    merchant_credentials_init(&o->cred);
    o->audit = NULL;
    struct merchant *m = &o->c.merchant;
    snprintf(m->name, sizeof m->name, "%s", name);
    snprintf(m->owner_user_id, sizeof m->owner_user_id, "%s", owner_user_id);
    m->fee_ppm = fee_ppm;
    o->c.extra_count = apps - 1;
    for (size_t i = 0; i < o->c.extra_count; i++)
        merchant_appid_new(env, o->c.extra_appids[i]);
    /* An operator's onboarding (no session: the admin token) is on the
     * audit trail, under the mchid the keys are made for (S_onboard_make). */
    if (http_request_session(req) == NULL) {
        o->audit = http_request_audit(req, &o->c.cmd, "merchant_create", "", &o->c.outcome, NULL);
        if (o->audit == NULL) {
            merchant_credentials_release(&o->cred);
            ledger_cmd_release(&o->c.cmd);
            return;
        }
        snprintf(o->audit->detail, sizeof o->audit->detail, "fee_rate_ppm=%d",
                 (int)fee_ppm); /* <= 100000 */
        o->audit->target_made = true;
    }
    job->cmd = &o->c.cmd;
    job->make = S_onboard_make;
    job->drop = S_onboard_drop;
    job->resume = S_onboard_resume;
    S_keygen_start(req, job, env, public_key);
}

void http_handle_merchants_create(struct http_request *req)
{
    json_t *body = http_json_body(req, S_user_fields, QB_ARRAY_COUNT(S_user_fields));
    if (body == NULL)
        return;
    S_onboard(req, body, http_request_session(req)->user_id, MERCHANT_FEE_PPM_DEFAULT);
    json_decref(body);
}

void http_handle_admin_merchants_create(struct http_request *req)
{
    json_t *body = http_json_body(req, S_admin_fields, QB_ARRAY_COUNT(S_admin_fields));
    if (body == NULL)
        return;
    const char *owner = http_json_string(body, "owner_user_id");
    json_t *fee = json_object_get(body, "fee_rate_ppm");
    int64_t fee_ppm = fee != NULL ? (int64_t)json_integer_value(fee) : MERCHANT_FEE_PPM_DEFAULT;
    if (fee_ppm < 0) {
        http_reply_error_message(req, QB_E_PARAM, "fee_rate_ppm must be 0 to 100000");
        goto out;
    }
    if (owner != NULL) {
        struct identity_user *user = http_request_alloc(req, sizeof *user);
        if (user == NULL) {
            http_reply_error(req, QB_E_TOO_LARGE);
            goto out;
        }
        struct store *reader = http_reader_acquire(req);
        if (reader == NULL)
            goto out;
        enum qb_error err = id_is_valid(owner, strlen(owner), "u")
                                ? identity_user_get(reader, owner, user)
                                : QB_E_NOT_FOUND;
        http_reader_release(req, reader);
        if (err == QB_OK && user->status == IDENTITY_CLOSED)
            err = QB_E_NOT_FOUND; /* its business ended with it */
        if (err != QB_OK) {
            http_reply_error_message(req, err == QB_E_NOT_FOUND ? QB_E_PARAM : err,
                                     err == QB_E_NOT_FOUND ? "owner_user_id is no open wallet"
                                                           : error_message(err));
            goto out;
        }
    }
    S_onboard(req, body, owner != NULL ? owner : "", fee_ppm);
out:
    json_decref(body);
}

/* --- POST /v1/merchants/{mchid}/apps ------------------------------------------------- */

static void S_app_add_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct merchant_app_add_cmd *c = (struct merchant_app_add_cmd *)cmd;
    if (cmd->result != QB_OK) {
        http_reply_error(req, cmd->result);
    } else if (c->outcome == QB_E_NOT_FOUND) {
        http_reply_error_message(req, QB_E_NOT_FOUND, c->owner_user_id[0] != '\0'
                                                          ? "no such merchant of yours"
                                                          : "no such merchant");
    } else if (c->outcome == QB_E_CONFLICT) {
        http_reply_error_message(req, QB_E_CONFLICT,
                                 c->closed ? "the merchant is closed for good: it takes no new app"
                                 : c->app_count >= MERCHANT_APPS_MAX
                                     ? "this merchant has as many apps as one may (5)"
                                     : "the new appid was taken; retry");
    } else if (c->outcome != QB_OK) {
        http_reply_error(req, c->outcome);
    } else {
        json_t *body = json_pack("{s:s, s:s, s:I, s:o}", "mchid", c->mchid, "appid", c->appid,
                                 "app_count", (json_int_t)c->app_count, "created_at",
                                 http_time_json(c->created_at_ms));
        http_reply_json_new(req, 201, body);
        log_event(http_request_session(req) == NULL ? LOG_AUDIT : LOG_INFO, "merchant.app_added",
                  "mchid=%s appid=%s by=%s", c->mchid, c->appid, http_request_by(req));
    }
    ledger_cmd_release(cmd);
}

/* Both routes: owner_user_id "" for the operator (any merchant). */
static void S_app_add(struct http_request *req, const char *owner_user_id)
{
    /* No fields: an empty body or {} only. */
    json_t *body = http_json_body(req, NULL, 0);
    if (body == NULL)
        return;
    json_decref(body);
    const struct domain_env *env = http_request_env(req);
    const char *mchid = http_request_param(req, "mchid");
    if (mchid == NULL || strlen(mchid) != MERCHANT_MCHID_SIZE - 1 ||
        strspn(mchid, "0123456789") != MERCHANT_MCHID_SIZE - 1) {
        http_reply_error_message(req, QB_E_NOT_FOUND, "no such merchant of yours");
        return;
    }
    if (env == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        return;
    }
    struct merchant_app_add_cmd *c = http_request_alloc(req, sizeof *c);
    if (c == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    merchant_app_add_cmd_init(c, http_request_env(req));
    snprintf(c->owner_user_id, sizeof c->owner_user_id, "%s", owner_user_id);
    snprintf(c->mchid, sizeof c->mchid, "%s", mchid);
    merchant_appid_new(env, c->appid);
    if (owner_user_id[0] == '\0') {
        struct domain_audit *audit =
            http_request_audit(req, &c->cmd, "merchant_app_add", c->mchid, &c->outcome, NULL);
        if (audit == NULL)
            return;
        snprintf(audit->detail, sizeof audit->detail, "appid=%s", c->appid);
        audit->detail_made = true;
    }
    http_request_submit(req, &c->cmd, S_app_add_resume);
}

void http_handle_merchant_apps_create(struct http_request *req)
{
    S_app_add(req, http_request_session(req)->user_id);
}

void http_handle_admin_merchant_apps_create(struct http_request *req)
{
    S_app_add(req, "");
}

/* --- GET /v1/me/openids/{appid} ------------------------------------------------------ */

static void S_openid_reply(struct http_request *req, const char *appid, const char *openid)
{
    json_t *body = json_pack("{s:s, s:s}", "appid", appid, "openid", openid);
    http_reply_json_new(req, 200, body);
}

static void S_openid_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct merchant_openid_issue_cmd *c = (struct merchant_openid_issue_cmd *)cmd;
    if (cmd->result != QB_OK)
        http_reply_error(req, cmd->result);
    else if (c->outcome != QB_OK)
        http_reply_error_message(req, c->outcome, "no such app");
    else
        S_openid_reply(req, c->appid, c->openid);
    ledger_cmd_release(cmd);
}

/* An openid already given out is answered from a reader; the first time,
 * a command checks that the app exists and records it, so that the app's
 * JSAPI orders may name it (merchant.h). */
void http_handle_me_openid_get(struct http_request *req)
{
    const struct domain_env *env = http_request_env(req);
    const char *appid = http_request_param(req, "appid");
    if (!merchant_appid_is_valid(appid)) {
        http_reply_error_message(req, QB_E_NOT_FOUND, "no such app");
        return;
    }
    if (env == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        return;
    }
    const char *user_id = http_request_session(req)->user_id;
    char openid[MERCHANT_OPENID_SIZE];
    merchant_openid(env, appid, user_id, openid);
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return;
    enum qb_error err = merchant_openid_issued(env, reader, appid, openid, NULL);
    http_reader_release(req, reader);
    if (err == QB_OK) {
        S_openid_reply(req, appid, openid);
        return;
    }
    if (err != QB_E_NOT_FOUND) {
        http_reply_error(req, err);
        return;
    }
    struct merchant_openid_issue_cmd *c = http_request_alloc(req, sizeof *c);
    if (c == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    merchant_openid_issue_cmd_init(c, env);
    snprintf(c->appid, sizeof c->appid, "%s", appid);
    snprintf(c->user_id, sizeof c->user_id, "%s", user_id);
    http_request_submit(req, &c->cmd, S_openid_resume);
}

/* --- POST /v1/me/order-payments -------------------------------------------------------- */

struct S_pay {
    struct merchant_order_pay_cmd c; /* first */
    char principal[S_PRINCIPAL_SIZE_MAX];
};

static const struct http_field S_pay_fields[] = {
    {"code_url", HTTP_FIELD_STRING, false, 128, 0, 0},
    {"prepay_id", HTTP_FIELD_STRING, false, 64, 0, 0},
    {"payload", HTTP_FIELD_OPAQUE, false, QR_SCANNED_SIZE_MAX, 0, 0},
    {"amount", HTTP_FIELD_INTEGER, false, 0, 0, 0},
    {"payment_password", HTTP_FIELD_STRING, false, 16, 0, 0},
};

static void S_pay_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct S_pay *p = (struct S_pay *)cmd;
    if (http_cmd_failure_is_news(cmd->result))
        log_event(LOG_WARN, "http.order_payment_failed", "error=%s", error_name(cmd->result));
    http_reply_stored(req, cmd);
    crypto_wipe(p->c.payment_password, sizeof p->c.payment_password);
    ledger_cmd_release(cmd);
}

void http_handle_me_order_payments_create(struct http_request *req)
{
    json_t *body = http_json_body(req, S_pay_fields, QB_ARRAY_COUNT(S_pay_fields));
    if (body == NULL)
        return;
    const struct domain_env *env = http_request_env(req);
    const char *code_url = http_json_string(body, "code_url");
    const char *prepay_id = http_json_string(body, "prepay_id");
    const char *payload = http_json_string(body, "payload");
    const char *payment_password = http_json_string(body, "payment_password");
    const json_t *amount_member = json_object_get(body, "amount");
    json_int_t amount = json_integer_value(amount_member);
    char token[MERCHANT_PAY_TOKEN_SIZE] = "";
    char till_mchid[MERCHANT_MCHID_SIZE] = "";
    int64_t till_amount_minor = 0;
    if ((code_url != NULL) + (prepay_id != NULL) + (payload != NULL) != 1) {
        http_reply_error_message(req, QB_E_PARAM, "give one of code_url, prepay_id and payload");
        goto out;
    }
    if (payload != NULL) {
        /* A scanned code (docs/qr.md): an order's code_url, or a merchant's
         * static till code, whose order is made and paid in one command. */
        struct qr_payload code;
        if (!http_qr_payload(req, payload, HTTP_QR_MERCHANT, &code))
            goto out;
        if (code.kind == QR_KIND_ORDER) {
            if (amount_member != NULL) {
                http_reply_error_message(req, QB_E_QR_AMOUNT_MISMATCH,
                                         "an order's code fixes its amount: send no amount");
                goto out;
            }
            code_url = payload;
        } else { /* QR_KIND_MERCHANT: a till code */
            if (code.has_amount && amount_member != NULL && amount != code.amount_minor) {
                http_reply_error(req, QB_E_QR_AMOUNT_MISMATCH);
                goto out;
            }
            if (!code.has_amount && amount_member != NULL && amount < 1) {
                /* As a transfer of nothing is. */
                http_reply_error_message(req, QB_E_BAD_AMOUNT,
                                         "amount must be a positive number of fen");
                goto out;
            }
            if (!code.has_amount && amount_member == NULL) {
                http_reply_error_message(req, QB_E_PARAM,
                                         "amount (1 to 1000000000000 fen) is required for "
                                         "a till code without one");
                goto out;
            }
            if (!code.has_amount && amount > MERCHANT_ORDER_TOTAL_MAX_MINOR) {
                /* As a transfer of too much is. */
                http_reply_error_message(req, QB_E_OVERFLOW, "amount is above 1000000000000 fen");
                goto out;
            }
            till_amount_minor = code.has_amount ? code.amount_minor : (int64_t)amount;
            memcpy(till_mchid, code.payee, sizeof till_mchid - 1);
            till_mchid[sizeof till_mchid - 1] = '\0';
        }
    } else if (amount_member != NULL) {
        http_reply_error_message(req, QB_E_PARAM, "amount goes with a till code's payload only");
        goto out;
    }
    if (till_mchid[0] == '\0' &&
        !merchant_pay_token_parse(code_url != NULL ? code_url : prepay_id, token)) {
        http_reply_error_message(req, QB_E_PARAM,
                                 code_url != NULL ? "code_url is not a Qianbao order code"
                                                  : "prepay_id is not a Qianbao prepay id");
        goto out;
    }
    if (payment_password != NULL && !http_payment_password_check(req, payment_password))
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
    merchant_order_pay_cmd_init(&p->c, env);
    const struct identity_session *session = http_request_session(req);
    snprintf(p->principal, sizeof p->principal, "user:%s", session->user_id);
    if (!http_idempotency_arm(req, &p->c.cmd, p->principal)) {
        ledger_cmd_release(&p->c.cmd);
        goto out;
    }
    snprintf(p->c.payer_id, sizeof p->c.payer_id, "%s", session->user_id);
    memcpy(p->c.pay_token, token, sizeof token);
    memcpy(p->c.till_mchid, till_mchid, sizeof till_mchid);
    p->c.till_amount_minor = till_amount_minor;
    if (payment_password != NULL) {
        p->c.has_payment_password = true;
        snprintf(p->c.payment_password, sizeof p->c.payment_password, "%s", payment_password);
    }
    http_request_submit(req, &p->c.cmd, S_pay_resume);
out:
    json_decref(body);
}

/* --- GET /v1/merchants/me, GET /v1/merchants/me/analytics ----------------------------------- */

const char *http_merchant_owned_message(enum qb_error err)
{
    return err == QB_E_PARAM       ? "you own several merchants: name one with mchid"
           : err == QB_E_NOT_FOUND ? "no such merchant of yours"
                                   : NULL;
}

bool http_merchant_owned(struct http_request *req, const char *mchid, struct merchant *m)
{
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return false;
    enum qb_error err = merchant_owned_get(http_request_env(req), reader,
                                           http_request_session(req)->user_id, mchid, m);
    http_reader_release(req, reader);
    if (err != QB_OK)
        http_reply_error_message(req, err, http_merchant_owned_message(err));
    return err == QB_OK;
}

struct merchant *http_merchant_owned_query(struct http_request *req)
{
    struct merchant *m = http_request_alloc(req, sizeof *m);
    if (m == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return NULL;
    }
    return http_merchant_owned(req, http_request_query(req, "mchid"), m) ? m : NULL;
}

/* Replies 200 with m as its owner sees it: {mchid, appid, appids, name,
 * status, fee_rate_ppm, created_at, closed_at (null unless CLOSED),
 * balances: [{currency, available, pending}]}: the settlement account as
 * the ledger has it now (pending: held by withdrawals in flight and by
 * transfers to users not taken yet). */
static void S_me_reply(struct http_request *req, const struct merchant *m)
{
    char(*apps)[MERCHANT_APPID_SIZE] = http_request_alloc(req, MERCHANT_APPS_MAX * sizeof *apps);
    if (apps == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    size_t app_count = 0;
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return;
    enum qb_error err = merchant_apps_list(reader, m->mchid, apps, &app_count);
    http_reader_release(req, reader);
    if (err != QB_OK) {
        http_reply_error(req, err);
        return;
    }
    /* The default app first, then the others. */
    json_t *appids = S_appids_json(m->appid, NULL, 0);
    for (size_t i = 0; appids != NULL && i < app_count; i++)
        if (strcmp(apps[i], m->appid) != 0 &&
            json_array_append_new(appids, json_string(apps[i])) != 0) {
            json_decref(appids);
            appids = NULL;
        }
    json_t *balances = appids != NULL ? http_balances_json(req, m->account_id, &err) : NULL;
    if (balances == NULL) {
        json_decref(appids);
        http_reply_error(req, appids == NULL ? QB_E_INTERNAL : err);
        return;
    }
    json_t *body = json_pack(
        "{s:s, s:s, s:o, s:s, s:s, s:I, s:o, s:o, s:o}", "mchid", m->mchid, "appid", m->appid,
        "appids", appids, "name", m->name, "status", merchant_status_name(m->status),
        "fee_rate_ppm", (json_int_t)m->fee_ppm, "created_at", http_time_json(m->created_at_ms),
        "closed_at", http_time_json(m->status == MERCHANT_STATUS_CLOSED ? m->closed_at_ms : 0),
        "balances", balances);
    if (body != NULL && !http_merchant_keys_json(body, m)) {
        json_decref(body);
        body = NULL;
    }
    http_reply_json_new(req, 200, body);
}

void http_handle_merchants_me_get(struct http_request *req)
{
    struct merchant *m = http_merchant_owned_query(req);
    if (m != NULL)
        S_me_reply(req, m);
}

/* --- POST /v1/merchants/me/close ------------------------------------------------------- */

/* The body of an owner's action on a merchant: the owner's payment
 * password, and which of their merchants (http_merchant_owned). */
static const struct http_field S_owner_action_fields[] = {
    {"payment_password", HTTP_FIELD_STRING, true, 16, 0, 0},
    {"mchid", HTTP_FIELD_STRING, false, MERCHANT_MCHID_SIZE - 1, 0, 0},
};

/* A new certificate takes the owner's own public key too, as onboarding. */
static const struct http_field S_certificate_fields[] = {
    {"payment_password", HTTP_FIELD_STRING, true, 16, 0, 0},
    {"mchid", HTTP_FIELD_STRING, false, MERCHANT_MCHID_SIZE - 1, 0, 0},
    {"public_key", HTTP_FIELD_STRING, false, S_PUBLIC_KEY_B64_SIZE_MAX, 0, 0},
    {"keep_old_hours", HTTP_FIELD_INTEGER, false, 0, 0, MERCHANT_CERT_OVERLAP_HOURS_MAX},
};

/* Reads such a body (fields, count: the two above and maybe more): the
 * merchant into m, the password (six digits) into password. NULL after
 * replying; else the body (the caller decrefs). */
static json_t *S_owner_action_read(struct http_request *req, const struct http_field *fields,
                                   size_t count, struct merchant *m, char password[8])
{
    json_t *body = http_json_body(req, fields, count);
    if (body == NULL)
        return NULL;
    const char *given = http_json_string(body, "payment_password");
    if (http_payment_password_check(req, given) &&
        http_merchant_owned(req, http_json_string(body, "mchid"), m)) {
        snprintf(password, 8, "%s", given);
        return body;
    }
    json_decref(body);
    return NULL;
}

static void S_close_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct merchant_status_cmd *c = (struct merchant_status_cmd *)cmd;
    enum qb_error outcome = cmd->result != QB_OK ? cmd->result : c->outcome;
    crypto_wipe(c->payment_password, sizeof c->payment_password);
    if (outcome == QB_OK) {
        log_event(LOG_INFO, "merchant.closed", "mchid=%s by=%s", c->mchid, c->owner_user_id);
        S_me_reply(req, &c->merchant);
    } else if (outcome == QB_E_NOT_FOUND) {
        http_reply_error_message(req, outcome, "no such merchant of yours");
    } else if (outcome == QB_E_CONFLICT) {
        http_reply_error_message(req, outcome, "the merchant is closed already");
    } else if (outcome == QB_E_ACCOUNT_FROZEN) {
        http_reply_error_message(req, outcome,
                                 "your wallet is frozen: a merchant closes for good, so not until "
                                 "the wallet is unfrozen");
    } else if (outcome == QB_E_ACCOUNT_NOT_EMPTY) {
        const char *message =
            strcmp(c->not_empty, "payout") == 0
                ? "money is held for a transfer to a user who has not taken it yet: cancel it "
                  "(POST /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}/"
                  "cancel) or let its 24 hours end"
            : strcmp(c->not_empty, "pending") == 0
                ? "money is held for a withdrawal the bank has not settled yet: wait for it"
                : "the merchant still has a balance: withdraw it to your card "
                  "(POST /v1/merchants/me/withdrawals) first";
        json_t *extra = json_pack("{s:s}", "reason", c->not_empty);
        http_reply_error_extra(req, outcome, message, extra);
        json_decref(extra);
    } else if (outcome == QB_E_LIMIT_EXCEEDED) {
        /* The balance must leave by a withdrawal, which the limit refuses:
         * what lifts it, not "withdraw it first". */
        json_t *extra = json_pack("{s:s}", "limit", c->refused_limit);
        http_reply_error_extra(req, outcome,
                               "the merchant's balance must be withdrawn before it closes, and "
                               "your wallet's KYC level 1 lifetime limit on cashing out "
                               "(kyc_lifetime) leaves too little for it: verify your identity "
                               "(POST /v1/me/kyc) to raise your level, then withdraw it",
                               extra);
        json_decref(extra);
    } else if (outcome == QB_E_PASSWORD_WRONG || outcome == QB_E_PASSWORD_LOCKED) {
        http_reply_password_refusal(req, outcome, &c->password_try);
    } else {
        http_reply_error(req, outcome);
    }
    ledger_cmd_release(cmd);
}

/* The owner closes an empty merchant for good (商户注销): it takes no
 * payment again, and its owner's wallet may then close. */
void http_handle_merchants_me_close(struct http_request *req)
{
    struct merchant *m = http_request_alloc(req, sizeof *m);
    struct merchant_status_cmd *c = http_request_alloc(req, sizeof *c);
    const struct domain_env *env = http_request_env(req);
    if (m == NULL || c == NULL || env == NULL) {
        http_reply_error(req, env == NULL ? QB_E_INTERNAL : QB_E_TOO_LARGE);
        return;
    }
    merchant_status_cmd_init(c, http_request_env(req), MERCHANT_STATUS_CLOSED);
    json_t *body = S_owner_action_read(
        req, S_owner_action_fields, QB_ARRAY_COUNT(S_owner_action_fields), m, c->payment_password);
    if (body == NULL)
        return;
    json_decref(body);
    c->env = env;
    snprintf(c->mchid, sizeof c->mchid, "%s", m->mchid);
    snprintf(c->owner_user_id, sizeof c->owner_user_id, "%s", http_request_session(req)->user_id);
    http_request_submit(req, &c->cmd, S_close_resume);
}

/* --- POST /v1/merchants/me/apiv3-key, POST /v1/merchants/me/certificate ------------ */

bool http_merchant_keys_json(json_t *body, const struct merchant *m)
{
    const bool kept = m->previous_serial_no[0] != '\0';
    return json_object_set_new(body, "serial_no", json_string(m->serial_no)) == 0 &&
           json_object_set_new(body, "apiv3_key_reset_at",
                               http_time_json(m->apiv3_key_reset_at_ms)) == 0 &&
           json_object_set_new(body, "certificate_replaced_at",
                               http_time_json(m->certificate_replaced_at_ms)) == 0 &&
           json_object_set_new(body, "previous_serial_no",
                               kept ? json_string(m->previous_serial_no) : json_null()) == 0 &&
           json_object_set_new(body, "previous_valid_until",
                               http_time_json(kept ? m->previous_valid_until_ms : 0)) == 0;
}

/* An owner's replacement of a merchant's keys, and what it made to answer
 * once. */
struct S_keys {
    struct merchant_keys_cmd c;                  /* first: the server hands back &c.cmd */
    char apiv3_key[MERCHANT_APIV3_KEY_SIZE + 1]; /* apiv3 */
    struct merchant_credentials cred;            /* certificate: the certificate, the private key */
    struct merchant *m;                          /* certificate: the merchant, its new keys */
    char reason[DOMAIN_AUDIT_REASON_SIZE_MAX];   /* an operator's, for the log line */
};

static enum qb_error S_certificate_make(struct S_keygen *job)
{
    struct S_keys *k = (struct S_keys *)job->cmd;
    struct merchant_keys_cmd *c = &k->c;
    enum qb_error err = merchant_certificate_make(
        job->env, job->public_key[0] != '\0' ? job->public_key : NULL, k->m, &k->cred);
    snprintf(c->public_key_pem, sizeof c->public_key_pem, "%s", k->m->public_key_pem);
    snprintf(c->serial_no, sizeof c->serial_no, "%s", k->m->serial_no);
    return err;
}

static void S_keys_drop(struct ledger_cmd *cmd)
{
    struct S_keys *k = (struct S_keys *)cmd;
    crypto_wipe(k->c.payment_password, sizeof k->c.payment_password);
    crypto_wipe(k->apiv3_key, sizeof k->apiv3_key);
    merchant_credentials_release(&k->cred);
    ledger_cmd_release(cmd);
}

/* Answers what was made, once, and wipes it; the audit line says whose
 * keys were replaced, which, by whom. */
static void S_keys_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct S_keys *k = (struct S_keys *)cmd;
    struct merchant_keys_cmd *c = &k->c;
    enum qb_error outcome = cmd->result != QB_OK ? cmd->result : c->outcome;
    crypto_wipe(c->payment_password, sizeof c->payment_password);
    /* An operator's line says why; an owner's is as it was. */
    char reason[sizeof k->reason + 16] = "";
    if (c->by_operator) {
        char text[sizeof k->reason];
        http_reason_for_log(k->reason, text, sizeof text);
        snprintf(reason, sizeof reason, " reason=\"%s\"", text);
    }
    log_event(LOG_AUDIT, c->apiv3 ? "merchant.apiv3_key_reset" : "merchant.certificate_replaced",
              "mchid=%s by=%s result=%s keep_old_hours=%lld%s", c->mchid,
              c->by_operator ? http_request_by(req) : c->owner_user_id,
              outcome == QB_OK ? "ok" : error_api_code(outcome),
              (long long)(c->keep_old_ms / (3600 * 1000)), reason);
    if (outcome == QB_OK) {
        json_t *body =
            c->apiv3 ? json_pack("{s:s, s:s}", "mchid", c->mchid, "apiv3_key", k->apiv3_key)
                     : json_pack("{s:s, s:s, s:s}", "mchid", c->mchid, "serial_no", c->serial_no,
                                 "certificate_pem", k->cred.certificate_pem.data);
        /* A planned replacement says until when the replaced key signs. */
        if (body != NULL && c->keep_old_ms > 0 &&
            (json_object_set_new(body, "previous_serial_no",
                                 json_string(c->merchant.previous_serial_no)) != 0 ||
             json_object_set_new(body, "previous_valid_until",
                                 http_time_json(c->merchant.previous_valid_until_ms)) != 0)) {
            json_decref(body);
            body = NULL;
        }
        if (body != NULL && k->cred.private_key_pem.size > 0 &&
            json_object_set_new(body, "private_key_pem",
                                json_string(k->cred.private_key_pem.data)) != 0) {
            json_decref(body);
            body = NULL;
        }
        if (body != NULL) {
            http_reply_json(req, 200, body);
            /* The answer held a secret: wipe the JSON's copy too. */
            const char *secrets[] = {"apiv3_key", "private_key_pem"};
            for (size_t i = 0; i < QB_ARRAY_COUNT(secrets); i++) {
                json_t *secret = json_object_get(body, secrets[i]);
                if (secret != NULL)
                    crypto_wipe((char *)json_string_value(secret), json_string_length(secret));
            }
            json_decref(body);
        } else {
            http_reply_error(req, QB_E_INTERNAL);
        }
    } else if (outcome == QB_E_NOT_FOUND) {
        http_reply_error_message(req, outcome,
                                 c->by_operator ? "no such merchant" : "no such merchant of yours");
    } else if (outcome == QB_E_CONFLICT && c->by_operator) {
        http_reply_error_message(req, outcome,
                                 "the merchant has an owner, who replaces its keys "
                                 "(POST /v1/merchants/me/apiv3-key, /certificate)");
    } else if (outcome == QB_E_PASSWORD_WRONG || outcome == QB_E_PASSWORD_LOCKED) {
        http_reply_password_refusal(req, outcome, &c->password_try);
    } else {
        http_reply_error(req, outcome);
    }
    crypto_wipe(k->apiv3_key, sizeof k->apiv3_key);
    merchant_credentials_release(&k->cred);
    ledger_cmd_release(cmd);
}

/* An operator's: {reason, public_key}, the merchant named by the path. The
 * reason is required: the answer hands the operator a merchant's secrets.
 * No overlap: an operator replaces a key because it leaked. */
static const struct http_field S_operator_keys_fields[] = {
    {"reason", HTTP_FIELD_STRING, true, DOMAIN_AUDIT_REASON_SIZE_MAX - 1, 0, 0},
    {"public_key", HTTP_FIELD_STRING, false, S_PUBLIC_KEY_B64_SIZE_MAX, 0, 0},
};

/* Reads an operator's body and the merchant the path names into m, its
 * reason into reason; NULL after replying; else the body (the caller
 * decrefs). An API v3 key's reset takes the reason alone. */
static json_t *S_operator_action_read(struct http_request *req, bool apiv3, struct merchant *m,
                                      char reason[DOMAIN_AUDIT_REASON_SIZE_MAX])
{
    const char *mchid = http_request_param(req, "mchid");
    if (mchid == NULL || !merchant_mchid_is_valid(mchid)) {
        http_reply_error_message(req, QB_E_NOT_FOUND, "no such merchant");
        return NULL;
    }
    json_t *body = http_json_body(req, S_operator_keys_fields,
                                  apiv3 ? 1 : QB_ARRAY_COUNT(S_operator_keys_fields));
    if (body == NULL)
        return NULL;
    snprintf(reason, DOMAIN_AUDIT_REASON_SIZE_MAX, "%s", http_json_string(body, "reason"));
    if (text_is_blank(reason, strlen(reason))) {
        http_reply_error_message(
            req, QB_E_PARAM, "reason must say why: a ticket number, how the merchant was verified");
        json_decref(body);
        return NULL;
    }
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL) {
        json_decref(body);
        return NULL;
    }
    enum qb_error err = merchant_get(http_request_env(req), reader, mchid, m);
    http_reader_release(req, reader);
    if (err != QB_OK) {
        if (err == QB_E_NOT_FOUND)
            http_reply_error_message(req, err, "no such merchant");
        else
            http_reply_error(req, err);
        json_decref(body);
        return NULL;
    }
    return body;
}

/* Every route: the owner's or the operator's body, then what replaces the
 * merchant's, made here (a key pair takes tens of milliseconds), then the
 * command. */
static void S_keys_replace(struct http_request *req, bool apiv3, bool by_operator)
{
    struct merchant *m = http_request_alloc(req, sizeof *m);
    struct S_keys *k = http_request_alloc(req, sizeof *k);
    struct S_keygen *job = apiv3 ? NULL : http_request_alloc(req, sizeof *job);
    const struct domain_env *env = http_request_env(req);
    if (m == NULL || k == NULL || (!apiv3 && job == NULL) || env == NULL) {
        http_reply_error(req, env == NULL ? QB_E_INTERNAL : QB_E_TOO_LARGE);
        return;
    }
    struct merchant_keys_cmd *c = &k->c;
    merchant_keys_cmd_init(c, env);
    merchant_credentials_init(&k->cred);
    char reason[DOMAIN_AUDIT_REASON_SIZE_MAX] = "";
    k->reason[0] = '\0';
    json_t *body =
        by_operator ? S_operator_action_read(req, apiv3, m, reason)
        : apiv3     ? S_owner_action_read(req, S_owner_action_fields,
                                          QB_ARRAY_COUNT(S_owner_action_fields), m, c->payment_password)
                    : S_owner_action_read(req, S_certificate_fields,
                                          QB_ARRAY_COUNT(S_certificate_fields), m, c->payment_password);
    snprintf(c->mchid, sizeof c->mchid, "%s", body != NULL ? m->mchid : "");
    /* The operator's answers for it in the trail, whatever comes of it. */
    struct domain_audit *audit = body != NULL && by_operator
                                     ? http_request_audit(req, &c->cmd,
                                                          apiv3 ? "merchant_apiv3_key_reset"
                                                                : "merchant_certificate_replace",
                                                          c->mchid, &c->outcome, &c->changed)
                                     : NULL;
    if (body == NULL || (by_operator && audit == NULL)) {
        json_decref(body);
        merchant_credentials_release(&k->cred);
        ledger_cmd_release(&c->cmd);
        return;
    }
    if (by_operator) {
        c->by_operator = true;
        memcpy(audit->reason, reason, sizeof audit->reason);
        memcpy(k->reason, reason, sizeof k->reason);
    } else {
        snprintf(c->owner_user_id, sizeof c->owner_user_id, "%s",
                 http_request_session(req)->user_id);
    }
    if (apiv3) {
        json_decref(body);
        c->apiv3 = true;
        merchant_apiv3_key_new(env, k->apiv3_key, c->apiv3_key_sealed);
        http_request_submit(req, &c->cmd, S_keys_resume);
        return;
    }
    c->certificate = true;
    json_t *hours = json_object_get(body, "keep_old_hours");
    c->keep_old_ms = hours != NULL ? (int64_t)json_integer_value(hours) * 3600 * 1000 : 0;
    k->m = m;
    job->cmd = &c->cmd;
    job->make = S_certificate_make;
    job->drop = S_keys_drop;
    job->resume = S_keys_resume;
    S_keygen_start(req, job, env, http_json_string(body, "public_key"));
    json_decref(body);
}

/* The owner resets a merchant's API v3 key (重置APIv3密钥), which decrypts
 * its certificates and notifications, after it leaked: a new one, shown
 * once, replaces it at once. */
void http_handle_merchants_me_apiv3_key(struct http_request *req)
{
    S_keys_replace(req, true, false);
}

/* The owner replaces a merchant's API certificate (商户API证书), whose
 * private key signs its /v3 requests, after it leaked: the old key signs
 * nothing from then on. */
void http_handle_merchants_me_certificate(struct http_request *req)
{
    S_keys_replace(req, false, false);
}

/* The same by an operator, for a merchant no owner can act for (one made
 * by POST /admin/merchants without one): the new secrets go to the
 * operator, to hand to the merchant, and the audit trail keeps who and
 * why. */
void http_handle_admin_merchants_apiv3_key(struct http_request *req)
{
    S_keys_replace(req, true, true);
}

void http_handle_admin_merchants_certificate(struct http_request *req)
{
    S_keys_replace(req, false, true);
}

static json_t *S_bucket_json(const char *key, json_t *value,
                             const struct merchant_analytics_bucket *b)
{
    return json_pack("{s:o, s:I, s:I, s:I, s:I}", key, value, "paid_count",
                     (json_int_t)b->paid_count, "sales", (json_int_t)b->sales_minor,
                     "refund_count", (json_int_t)b->refund_count, "refunds",
                     (json_int_t)b->refunds_minor);
}

/* ?from=YYYY-MM-DD&to=YYYY-MM-DD[&mchid=] → the figures of analytics.h:
 * {mchid, from, to, currency, order_count, paid_count, sales,
 * average_ticket, payer_count, repeat_payer_count, refund_count, refunds,
 * by_day: [{date, paid_count, sales, refund_count, refunds}] (every day
 * of the range), by_hour: [{hour, paid_count, sales, refund_count,
 * refunds}] (0..23, UTC+8)}. */
void http_handle_merchants_me_analytics(struct http_request *req)
{
    const char *from = http_request_query(req, "from");
    const char *to = http_request_query(req, "to");
    struct merchant_analytics *a = http_request_alloc(req, sizeof *a);
    if (a == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    if (from == NULL || to == NULL) {
        http_reply_error_message(req, QB_E_PARAM, "from and to are required (YYYY-MM-DD)");
        return;
    }
    const struct merchant *m = http_merchant_owned_query(req);
    if (m == NULL)
        return;
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return;
    const char *message = NULL;
    enum qb_error err = merchant_analytics_read(reader, m->mchid, from, to, a, &message);
    http_reader_release(req, reader);
    if (err != QB_OK) {
        if (message != NULL)
            http_reply_error_message(req, err, message);
        else
            http_reply_error(req, err);
        return;
    }
    json_t *days = json_array();
    json_t *hours = json_array();
    bool ok = days != NULL && hours != NULL;
    for (size_t i = 0; ok && i < a->day_count; i++) {
        char stamp[40];
        /* The UTC+8 date of the day's midnight. */
        clock_format_rfc3339(a->start_ms + (int64_t)i * 24 * 60 * 60 * 1000, 8 * 60, stamp,
                             sizeof stamp);
        stamp[10] = '\0';
        ok = json_array_append_new(days, S_bucket_json("date", json_string(stamp), &a->days[i])) ==
             0;
    }
    for (size_t i = 0; ok && i < 24; i++)
        ok = json_array_append_new(
                 hours, S_bucket_json("hour", json_integer((json_int_t)i), &a->hours[i])) == 0;
    json_t *body = NULL;
    if (ok)
        body = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:O, s:O}",
                         "mchid", m->mchid, "from", from, "to", to, "currency", "CNY",
                         "order_count", (json_int_t)a->order_count, "paid_count",
                         (json_int_t)a->paid_count, "sales", (json_int_t)a->sales_minor,
                         "average_ticket", (json_int_t)a->average_ticket_minor, "payer_count",
                         (json_int_t)a->payer_count, "repeat_payer_count",
                         (json_int_t)a->repeat_payer_count, "refund_count",
                         (json_int_t)a->refund_count, "refunds", (json_int_t)a->refunds_minor,
                         "by_day", days, "by_hour", hours);
    json_decref(days);
    json_decref(hours);
    http_reply_json_new(req, 200, body);
}

/* --- GET /v1/merchants/me/payments ----------------------------------------------------- */

static enum qb_error S_payments_read(struct http_request *req, struct store *reader,
                                     const void *arg, int64_t cursor, void *rows, size_t room,
                                     size_t *count)
{
    (void)req;
    const struct merchant *m = arg;
    return merchant_orders_paid(reader, m->mchid, 0, cursor, rows, room, count);
}

json_t *http_merchant_payment_json(struct http_request *req, struct store *reader,
                                   const struct merchant_order *o, enum qb_error *err)
{
    int64_t refund_count = 0, refunded = 0;
    *err = merchant_refunded(reader, o->transaction_id, &refund_count, &refunded);
    if (*err != QB_OK)
        return NULL;
    struct identity_user payer;
    char masked[WALLET_MASKED_NAME_SIZE] = "";
    *err = identity_user_get(reader, o->payer_user_id, &payer);
    if (*err == QB_OK)
        wallet_name_mask(payer.display_name, masked, sizeof masked);
    else if (*err != QB_E_NOT_FOUND)
        return NULL;
    *err = QB_OK;
    int64_t now_ms = clock_now_ms(http_request_env(req)->clock);
    enum merchant_trade_state state = merchant_order_state_at(o, now_ms);
    /* A paid sale reversed went back whole, with no refund of its own. */
    if (state == MERCHANT_REVOKED && o->success_at_ms > 0)
        refunded = o->total_minor;
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:o}", "transaction_id",
                     o->transaction_id, "out_trade_no", o->out_trade_no, "trade_type",
                     merchant_trade_type_name(o->trade_type), "trade_state",
                     merchant_trade_state_name(state), "description", o->description, "amount",
                     (json_int_t)o->total_minor, "fee", (json_int_t)o->fee_minor, "refunded",
                     (json_int_t)refunded, "currency", o->currency->code, "payer_name", masked,
                     "success_time", http_time_json(o->success_at_ms));
}

static json_t *S_payment_item(struct http_request *req, struct store *reader, const void *arg,
                              const void *row, enum qb_error *err)
{
    (void)arg;
    return http_merchant_payment_json(req, reader, row, err);
}

void http_handle_merchants_me_payments_list(struct http_request *req)
{
    static const struct http_list list = {sizeof(struct merchant_order),
                                          HTTP_LIST_KEY(struct merchant_order, entry_id),
                                          S_payments_read, S_payment_item};
    const struct merchant *m = http_merchant_owned_query(req);
    if (m != NULL)
        http_reply_list(req, &list, m);
}

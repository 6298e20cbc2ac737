/*
 * money_routes.c — money in and out through bank cards: /v1/me/cards,
 * /v1/me/topups, /v1/me/withdrawals, /v1/me/payments/{id}, and a
 * merchant's withdrawal by its owner, /v1/merchants/me/withdrawals (the
 * same three steps, the hold on the merchant's settlement account).
 *
 * Cards: the number is checked here (length, Luhn, a known debit BIN) and
 * again in the command, which seals it; it never reaches a log line or a
 * response — a card is shown as its bank, type and last four digits. A
 * body with any field beyond the table (a "cvv", say) is refused before
 * anything else happens: a CVV is never taken, so never stored. Binding
 * asks the card's bank whether the phone and holder are its records, on an
 * offload thread between a check and the binding (S_bind).
 *
 * Top-ups and withdrawals (src/wallet/topup.h has the three steps). The
 * handler validates the body and submits the start command, armed with the
 * Idempotency-Key. Its resume function then:
 *   - refusal (stored answer not 201), fresh or replayed: answered byte for
 *     byte from the idempotency record (http_reply_stored);
 *   - replayed 201: the payment named in the stored answer, read as it is
 *     NOW, in the same shape and status — the record belongs to the start
 *     command, and the final state is known only later, so a retry tells
 *     the current truth and never calls the bank again (a payment left
 *     PROCESSING belongs to the worker);
 *   - fresh 201: first the last word before it is sent (wallet_send_cmd:
 *     a wallet frozen meanwhile fails it there, and nothing is sent); calls the bank on an offload
 * thread (it blocks up to BANK_CALL_TIMEOUT_MS), runs the finish command to completion
 *     (http_request_execute) and answers the payment as it then is:
 *     SUCCESS, FAILED with failure_code, or PROCESSING when the bank has
 *     not confirmed yet. If the finish command cannot run (shutting down),
 *     the answer is PROCESSING and the worker finishes it after a restart.
 * Every 201 therefore has one shape, wallet_payment_json, whatever the
 * path that produced it.
 */
#include <stdio.h>
#include <string.h>

#include "base/crypto.h"
#include "base/log.h"
#include "http/internal.h"
#include "merchant/merchant.h"
#include "wallet/cards.h"
#include "wallet/limits.h"
#include "wallet/topup.h"
#include "wallet/transfer.h"

#define S_CARD_NUMBER_FIELD_SIZE_MAX 64 /* longer is PARAM_ERROR; 20..64 is CARD_INVALID */
#define S_PRINCIPAL_SIZE_MAX (ID_TEXT_SIZE_MAX + 8)

/* A card as the API shows it. unusable NULL: usable; else what top-ups
 * and withdrawals with it answer: CARD_HOLDER_MISMATCH (the wallet's real
 * name is verified and the card is in another name: wallet_cards_usable),
 * or SYSTEM_ERROR (its row is not as written, for the operator to repair). */
static json_t *S_card_json(const struct wallet_card *card, const char *unusable)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:b, s:o}", "id", card->id, "bank", card->bank,
                     "last4", card->last4, "card_type", card->card_type, "created_at",
                     http_time_json(card->created_at_ms), "usable", unusable == NULL,
                     "unusable_reason", unusable != NULL ? json_string(unusable) : json_null());
}

/* --- POST /v1/me/cards --------------------------------------------------------------- */

static const struct http_field S_card_fields[] = {
    {"card_number", HTTP_FIELD_STRING, true, S_CARD_NUMBER_FIELD_SIZE_MAX, 0, 0},
    {"holder_name", HTTP_FIELD_STRING, true, WALLET_HOLDER_NAME_SIZE_MAX - 1, 0, 0},
    {"phone", HTTP_FIELD_STRING, true, SMS_PHONE_SIZE_MAX - 1, 0, 0},
    {"sms_code", HTTP_FIELD_STRING, true, SMS_CODE_DIGITS + 1, 0, 0},
};

void http_reply_card_unbindable(struct http_request *req, enum qb_error err)
{
    if (err != QB_E_LIMIT_EXCEEDED) {
        http_reply_error(req, err);
        return;
    }
    char message[80];
    snprintf(message, sizeof message, "at most %d cards may be bound", WALLET_CARDS_PER_USER_MAX);
    json_t *extra = json_pack("{s:s}", "limit", "cards");
    http_reply_error_extra(req, err, message, extra);
    json_decref(extra);
}

static void S_card_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct wallet_card_cmd *c = (struct wallet_card_cmd *)cmd;
    if (cmd->result != QB_OK) {
        http_reply_error(req, cmd->result);
    } else if (c->outcome == QB_E_LIMIT_EXCEEDED || c->outcome == QB_E_CARD_BOUND) {
        http_reply_card_unbindable(req, c->outcome);
    } else if (c->outcome == QB_E_CONFLICT && c->op == WALLET_CARD_REMOVE) {
        http_reply_error_message(req, c->outcome,
                                 "a top-up or withdrawal with this card is still processing; "
                                 "unbind it once it has finished");
    } else if (c->outcome == QB_E_CARD_HOLDER_MISMATCH && c->bank_verdict == c->outcome) {
        http_reply_error_message(req, c->outcome,
                                 "the holder name is not the one the bank has for this card");
    } else if (c->outcome == QB_E_NOT_FOUND && c->op == WALLET_CARD_BIND) {
        http_reply_error(req, QB_E_UNAUTHORIZED); /* the session's user is gone */
    } else if (c->outcome != QB_OK) {
        http_reply_error(req, c->outcome);
    } else if (c->op == WALLET_CARD_REMOVE) {
        http_reply_raw(req, 204, NULL, NULL, 0);
    } else {
        json_t *body = S_card_json(&c->card, NULL); /* binding refuses another's card */
        if (body != NULL)
            http_reply_json(req, 201, body);
        else
            http_reply_error(req, QB_E_INTERNAL);
        json_decref(body);
    }
    wallet_card_cmd_release(c);
}

static struct wallet_card_cmd *S_card_cmd_new(struct http_request *req, enum wallet_card_op op)
{
    const struct domain_env *env = http_request_env(req);
    if (env == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        return NULL;
    }
    struct wallet_card_cmd *c = http_request_alloc(req, sizeof *c);
    if (c == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return NULL;
    }
    wallet_card_cmd_init(c, env, op);
    snprintf(c->user_id, sizeof c->user_id, "%s", http_request_session(req)->user_id);
    return c;
}

/* A binding: a command that checks what Qianbao can check itself (the code
 * too, left live), the bank's check of the card, then the command that
 * binds it (src/wallet/cards.h). The bank may take seconds, so all three
 * run on an offload thread. */
struct S_bind {
    struct ledger_cmd hold; /* first: what the offload carries; never submitted */
    struct wallet_card_cmd check; /* check_only: before the bank is asked */
    struct wallet_card_cmd card;  /* the binding, with the bank's word */
    enum qb_error err; /* the bank's (BANK_UNAVAILABLE) or the ledger's */
    bool checked;      /* the check passed: card holds the answer */
};

/* On an offload thread: the check (a refusal ends it, the bank unasked),
 * the bank, the binding. */
static void S_bind_run(struct http_request *req, struct ledger_cmd *cmd)
{
    struct S_bind *b = (struct S_bind *)cmd;
    b->err = http_request_execute(req, &b->check.cmd);
    if (b->err != QB_OK || b->check.cmd.result != QB_OK || b->check.outcome != QB_OK)
        return;
    b->checked = true;
    b->err = wallet_card_verify(&b->card);
    if (b->err == QB_OK)
        b->err = http_request_execute(req, &b->card.cmd);
}

static void S_bind_answer(struct http_request *req, struct ledger_cmd *cmd)
{
    struct S_bind *b = (struct S_bind *)cmd;
    if (b->err != QB_OK) {
        /* The bank did not answer (the code stays usable), or the ledger. */
        http_reply_error(req, b->err);
        wallet_card_cmd_release(&b->check);
        wallet_card_cmd_release(&b->card);
        return;
    }
    if (b->checked) {
        wallet_card_cmd_release(&b->check);
        S_card_resume(req, &b->card.cmd);
    } else {
        wallet_card_cmd_release(&b->card);
        S_card_resume(req, &b->check.cmd);
    }
}

/* c's inputs from the request. */
static void S_bind_fill(struct http_request *req, struct wallet_card_cmd *c, const char *number,
                        const char *holder_name, const char *phone, const char *sms_code)
{
    wallet_card_cmd_init(c, http_request_env(req), WALLET_CARD_BIND);
    snprintf(c->user_id, sizeof c->user_id, "%s", http_request_session(req)->user_id);
    snprintf(c->card_number, sizeof c->card_number, "%s", number);
    snprintf(c->holder_name, sizeof c->holder_name, "%s", holder_name);
    snprintf(c->phone, sizeof c->phone, "%s", phone);
    snprintf(c->sms_code, sizeof c->sms_code, "%s", sms_code);
}

void http_handle_me_cards_create(struct http_request *req)
{
    json_t *body = http_json_body(req, S_card_fields, QB_ARRAY_COUNT(S_card_fields));
    if (body == NULL)
        return;
    const char *number = http_json_string(body, "card_number");
    const char *holder_name = http_json_string(body, "holder_name");
    const char *phone = http_json_string(body, "phone");
    const char *sms_code = http_json_string(body, "sms_code");
    struct bank_card_info info;
    if (!bank_card_lookup(number, &info)) {
        http_reply_error_message(req, QB_E_CARD_INVALID,
                                 "card_number must be the 16-19 digits of a debit card of a "
                                 "supported bank");
        goto out;
    }
    if (!identity_display_name_is_valid(holder_name)) {
        http_reply_error_message(req, QB_E_PARAM, "holder_name must be 1-64 bytes of text");
        goto out;
    }
    if (!phone_is_valid(phone)) {
        http_reply_error_message(req, QB_E_PARAM,
                                 "phone must be a mainland China mobile number (11 digits)");
        goto out;
    }
    if (!http_sms_code_check(req, sms_code))
        goto out;
    const struct domain_env *env = http_request_env(req);
    struct S_bind *b = env != NULL ? http_request_alloc(req, sizeof *b) : NULL;
    if (b == NULL) {
        http_reply_error(req, env == NULL ? QB_E_INTERNAL : QB_E_TOO_LARGE);
        goto out;
    }
    memset(&b->hold, 0, sizeof b->hold);
    b->err = QB_E_INTERNAL;
    b->checked = false;
    S_bind_fill(req, &b->check, number, holder_name, phone, sms_code);
    b->check.check_only = true;
    S_bind_fill(req, &b->card, number, holder_name, phone, sms_code);
    http_request_offload_first(req, &b->hold, S_bind_run, S_bind_answer);
out:
    json_decref(body);
}

/* --- GET /v1/me/cards, DELETE /v1/me/cards/{id} ----------------------------------------- */

void http_handle_me_cards_list(struct http_request *req)
{
    const struct identity_session *session = http_request_session(req);
    size_t limit;
    int64_t cursor;
    if (!http_query_limit(req, &limit) || !http_query_cursor(req, &cursor))
        return;
    struct wallet_card *items = http_request_alloc(req, limit * sizeof *items);
    bool *usable = http_request_alloc(req, limit * sizeof *usable);
    bool *damaged = http_request_alloc(req, limit * sizeof *damaged);
    if (items == NULL || usable == NULL || damaged == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return;
    size_t count = 0;
    int64_t next_cursor = 0;
    enum qb_error err =
        wallet_cards_list(reader, session->user_id, cursor, items, limit, &count, &next_cursor);
    struct identity_user user;
    if (err == QB_OK)
        err = identity_user_get(reader, session->user_id, &user);
    /* Card by card: one whose row is not as written (logged where it was
     * read) is listed as not usable, and the others as they are, rather
     * than the list failing for it. */
    for (size_t i = 0; err == QB_OK && i < count; i++) {
        err = wallet_cards_usable(http_request_env(req), reader, session->user_id,
                                  user.id_number_last4[0] != '\0', &items[i], 1, &usable[i]);
        damaged[i] = err == QB_E_INTERNAL;
        if (damaged[i])
            err = QB_OK;
    }
    http_reader_release(req, reader);
    if (err != QB_OK) {
        http_reply_error(req, err == QB_E_NOT_FOUND ? QB_E_UNAUTHORIZED : err);
        return;
    }
    json_t *array = json_array();
    for (size_t i = 0; array != NULL && i < count; i++)
        http_array_add(&array, S_card_json(&items[i], damaged[i]  ? "SYSTEM_ERROR"
                                                      : usable[i] ? NULL
                                                                  : "CARD_HOLDER_MISMATCH"));
    http_reply_page(req, array, next_cursor, QB_OK);
}

void http_handle_me_cards_delete(struct http_request *req)
{
    const char *id = http_request_param(req, "id");
    if (id == NULL || !id_is_valid(id, strlen(id), "c")) {
        http_reply_error(req, QB_E_NOT_FOUND);
        return;
    }
    struct wallet_card_cmd *c = S_card_cmd_new(req, WALLET_CARD_REMOVE);
    if (c == NULL)
        return;
    snprintf(c->card_id, sizeof c->card_id, "%s", id);
    http_request_submit(req, &c->cmd, S_card_resume);
}

/* --- payments as the API shows them ----------------------------------------------------- */

/* Reads payment id of the caller (a top-up or withdrawal) and its card, and
 * replies status with it; 404 for anything else. replayed: the answer to a
 * retry, which says Idempotent-Replayed: true when it is the payment; a
 * failed read (503) is no replayed answer. */
static void S_reply_payment_read(struct http_request *req, const char *id, int status,
                                 bool replayed)
{
    const struct identity_session *session = http_request_session(req);
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return;
    struct wallet_payment p;
    struct wallet_card card;
    memset(&card, 0, sizeof card);
    enum qb_error err = wallet_payment_get(reader, id, session->user_id, &p);
    if (err == QB_OK && ((p.kind != WALLET_TOPUP && p.kind != WALLET_WITHDRAWAL) ||
                         strcmp(p.user_id, session->user_id) != 0))
        err = QB_E_NOT_FOUND; /* a transfer has its own route; orders, refunds the bills */
    if (err == QB_OK) {
        err = wallet_card_get(reader, p.card_id, session->user_id, true, &card);
        if (err == QB_E_NOT_FOUND)
            err = QB_E_INTERNAL; /* a payment names a card of its user, always */
    }
    http_reader_release(req, reader);
    if (err != QB_OK) {
        http_reply_error(req, err);
        return;
    }
    json_t *body = wallet_payment_json(&p, &card);
    if (body != NULL && replayed)
        http_reply_header(req, "Idempotent-Replayed", "true");
    if (body != NULL)
        http_reply_json(req, status, body);
    else
        http_reply_error(req, QB_E_INTERNAL);
    json_decref(body);
}

void http_handle_me_payments_get(struct http_request *req)
{
    const char *id = http_request_param(req, "id");
    if (id == NULL || !id_is_valid(id, strlen(id), "p")) {
        http_reply_error(req, QB_E_NOT_FOUND);
        return;
    }
    S_reply_payment_read(req, id, 200, false);
}

/* --- POST /v1/me/topups, POST /v1/me/withdrawals ----------------------------------------- */

struct S_pay {
    struct wallet_pay_cmd pay; /* first: the submitted command */
    struct wallet_send_cmd send;
    struct wallet_finish_cmd finish;
    enum qb_error finish_err; /* the finish command's ledger answer */
    char principal[S_PRINCIPAL_SIZE_MAX];
};

static const struct http_field S_pay_fields[] = {
    {"card_id", HTTP_FIELD_STRING, true, ID_TEXT_SIZE_MAX - 1, 0, 0},
    {"amount", HTTP_FIELD_INTEGER, true, 0, 0, 0},
    {"currency", HTTP_FIELD_STRING, false, 8, 0, 0},
    {"payment_password", HTTP_FIELD_STRING, true, 16, 0, 0},
};

/* A merchant's withdrawal: the same, and which of the owner's merchants. */
static const struct http_field S_merchant_pay_fields[] = {
    {"card_id", HTTP_FIELD_STRING, true, ID_TEXT_SIZE_MAX - 1, 0, 0},
    {"amount", HTTP_FIELD_INTEGER, true, 0, 0, 0},
    {"currency", HTTP_FIELD_STRING, false, 8, 0, 0},
    {"payment_password", HTTP_FIELD_STRING, true, 16, 0, 0},
    {"mchid", HTTP_FIELD_STRING, false, MERCHANT_MCHID_SIZE - 1, 0, 0},
};

/* The payment id in a stored 201 answer, into id; false when there is none. */
static bool S_stored_payment_id(const char *body, size_t body_size, char id[ID_TEXT_SIZE_MAX])
{
    json_t *json = json_loadb(body, body_size, 0, NULL);
    const char *text = json_string_value(json_object_get(json, "id"));
    bool ok = text != NULL && strlen(text) < ID_TEXT_SIZE_MAX;
    if (ok)
        snprintf(id, ID_TEXT_SIZE_MAX, "%s", text);
    json_decref(json);
    return ok;
}

/* On an offload thread: the last word before the payment is sent, the bank
 * call, and the command that records its answer. */
static void S_pay_bank(struct http_request *req, struct ledger_cmd *cmd)
{
    struct S_pay *c = (struct S_pay *)cmd;
    const struct domain_env *env = http_request_env(req);
    const struct wallet_payment *p = &c->pay.payment;
    struct wallet_bank_answer answer;
    memset(&answer, 0, sizeof answer);
    wallet_finish_cmd_init(&c->finish, env, p->id, &answer);

    /* The wallet may have been frozen while this waited for a thread
     * (wallet_send_cmd). A payment failed there, or resolved already, is
     * answered as it is; one whose command cannot run is not sent, and the
     * worker's query settles it, as a submission made too late. */
    wallet_send_cmd_init(&c->send, env, p->id);
    enum qb_error err = http_request_execute(req, &c->send.cmd);
    if (err == QB_OK)
        err = c->send.cmd.result;
    if (err == QB_OK && !c->send.send) {
        c->finish.payment = c->send.payment;
        c->finish_err = QB_OK;
        return;
    }
    if (err == QB_OK)
        wallet_bank_call(env, http_request_pool(req), p, false, &answer);
    else
        log_event(LOG_WARN, "wallet.bank.not_called", "payment_id=%s reason=%s", p->id,
                  error_name(err));
    wallet_finish_cmd_init(&c->finish, env, p->id, &answer);
    err = http_request_execute(req, &c->finish.cmd);
    if (err == QB_OK)
        err = c->finish.cmd.result;
    c->finish_err = err;
}

/* Back on the connection's thread: the payment as it stands. */
static void S_pay_answer(struct http_request *req, struct ledger_cmd *cmd)
{
    struct S_pay *c = (struct S_pay *)cmd;
    const struct wallet_payment *p = &c->pay.payment;
    if (c->finish_err == QB_OK)
        p = &c->finish.payment;
    else
        log_event(LOG_WARN, "wallet.payment.finish_deferred", "payment_id=%s error=%s", p->id,
                  error_name(c->finish_err));
    json_t *reply = wallet_payment_json(p, &c->pay.card);
    if (reply != NULL)
        http_reply_json(req, 201, reply);
    else
        http_reply_error(req, QB_E_INTERNAL);
    json_decref(reply);
    ledger_cmd_release(&c->send.cmd);
    ledger_cmd_release(&c->finish.cmd);
    wallet_pay_cmd_release(&c->pay);
}

static void S_pay_resume(struct http_request *req, struct ledger_cmd *cmd)
{
    struct S_pay *c = (struct S_pay *)cmd;
    int status = 0;
    const char *body = NULL;
    size_t body_size = 0;
    char id[ID_TEXT_SIZE_MAX];
    if (cmd->result != QB_OK || !domain_response_get(cmd, &status, &body, &body_size) ||
        status != 201) {
        http_reply_stored(req, cmd);
        goto out;
    }
    if (cmd->replayed) {
        if (!S_stored_payment_id(body, body_size, id)) {
            http_reply_error(req, QB_E_INTERNAL);
            goto out;
        }
        S_reply_payment_read(req, id, 201, true);
        goto out;
    }

    /* A fresh payment: the bank, then the finish command, on an offload
     * thread (a bank may take seconds); then the answer, back here. */
    QB_ASSERT(c->pay.outcome == QB_OK && c->pay.payment.status == WALLET_PROCESSING);
    http_request_offload(req, S_pay_bank, S_pay_answer);
    return;
out:
    wallet_pay_cmd_release(&c->pay);
}

/* A top-up or withdrawal of the caller's balance, or with merchant a
 * withdrawal of the balance of a merchant the caller owns (the body's
 * mchid, or the caller's only merchant). */
static void S_pay_create(struct http_request *req, enum wallet_payment_kind kind, bool merchant)
{
    json_t *body = merchant ? http_json_body(req, S_merchant_pay_fields,
                                             QB_ARRAY_COUNT(S_merchant_pay_fields))
                            : http_json_body(req, S_pay_fields, QB_ARRAY_COUNT(S_pay_fields));
    if (body == NULL)
        return;
    const struct identity_session *session = http_request_session(req);
    const struct domain_env *env = http_request_env(req);
    const char *card_id = http_json_string(body, "card_id");
    json_int_t amount = json_integer_value(json_object_get(body, "amount"));
    const char *currency_code = http_json_string(body, "currency");
    const char *payment_password = http_json_string(body, "payment_password");
    if (env == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        goto out;
    }
    if (amount <= 0) {
        http_reply_error_message(req, QB_E_BAD_AMOUNT,
                                 "amount must be a positive integer of minor units (fen)");
        goto out;
    }
    const struct currency *currency = currency_find(currency_code != NULL ? currency_code : "CNY");
    if (currency == NULL || strcmp(currency->code, "CNY") != 0) {
        http_reply_error_message(req, QB_E_BAD_CURRENCY, "only CNY moves through bank cards");
        goto out;
    }
    if (!http_payment_password_check(req, payment_password))
        goto out;
    struct S_pay *c = http_request_alloc(req, sizeof *c);
    if (c == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        goto out;
    }
    wallet_pay_cmd_init(&c->pay, env, kind);
    snprintf(c->principal, sizeof c->principal, "user:%s", session->user_id);
    if (!http_idempotency_arm(req, &c->pay.cmd, c->principal)) {
        wallet_pay_cmd_release(&c->pay);
        goto out;
    }
    if (merchant) {
        /* The caller's merchant: its settlement account is the one emptied.
         * None to be had is the command's refusal, not one given here: a
         * retry under the key must find the first request's answer, even
         * once the owner's merchants changed (topup.h). */
        struct merchant *m = http_request_alloc(req, sizeof *m);
        struct store *reader = m != NULL ? http_reader_acquire(req) : NULL;
        if (reader == NULL) {
            if (m == NULL)
                http_reply_error(req, QB_E_TOO_LARGE);
            wallet_pay_cmd_release(&c->pay);
            goto out;
        }
        enum qb_error owned = merchant_owned_get(http_request_env(req), reader, session->user_id,
                                                 http_json_string(body, "mchid"), m);
        http_reader_release(req, reader);
        if (owned == QB_E_NOT_FOUND || owned == QB_E_PARAM) {
            c->pay.account_refused = owned;
            c->pay.account_refused_message = http_merchant_owned_message(owned);
        } else if (owned != QB_OK) {
            http_reply_error(req, owned);
            wallet_pay_cmd_release(&c->pay);
            goto out;
        } else {
            c->pay.account_id = m->account_id;
            merchant_account_owner(m->mchid, c->pay.account_label, sizeof c->pay.account_label);
        }
    }
    snprintf(c->pay.user_id, sizeof c->pay.user_id, "%s", session->user_id);
    snprintf(c->pay.card_id, sizeof c->pay.card_id, "%s", card_id);
    snprintf(c->pay.payment_password, sizeof c->pay.payment_password, "%s", payment_password);
    c->pay.currency = currency;
    c->pay.amount_minor = (int64_t)amount;
    http_request_submit(req, &c->pay.cmd, S_pay_resume);
out:
    json_decref(body);
}

void http_handle_me_topups_create(struct http_request *req)
{
    S_pay_create(req, WALLET_TOPUP, false);
}

void http_handle_me_withdrawals_create(struct http_request *req)
{
    S_pay_create(req, WALLET_WITHDRAWAL, false);
}

void http_handle_merchants_me_withdrawals_create(struct http_request *req)
{
    S_pay_create(req, WALLET_WITHDRAWAL, true);
}

/* --- GET /v1/me/withdrawal-quote, GET /v1/merchants/me/withdrawal-quote ------------ */

/* What a withdrawal would cost and the most one may take, from the balance
 * as it is now (the caller's, or with merchant the settlement account of the
 * caller's merchant ?mchid=). Read-only: the withdrawal itself checks
 * everything again in its command, so a quote promises nothing. */
static void S_withdrawal_quote(struct http_request *req, bool merchant)
{
    const struct domain_env *env = http_request_env(req);
    if (env == NULL) {
        http_reply_error(req, QB_E_INTERNAL);
        return;
    }
    bool has_amount;
    int64_t amount;
    if (!http_query_amount(req, WALLET_TRANSFER_AMOUNT_MAX_MINOR, &has_amount, &amount))
        return;
    const struct domain_settings *settings = &env->settings;
    int64_t account_id = 0;
    bool pays_out = true;
    if (merchant) {
        const struct merchant *m = http_merchant_owned_query(req);
        if (m == NULL)
            return;
        account_id = m->account_id;
        /* A suspended or closed merchant's withdrawal is refused whatever
         * its balance (merchant_txn_payout_check): a "withdraw all" must
         * not offer it. */
        pays_out = m->status == MERCHANT_ACTIVE;
    }
    /* The caller's limits, whichever balance pays: a merchant's withdrawal
     * reaches its owner's card and counts as the owner's own. */
    struct identity_user *user = http_request_alloc(req, sizeof *user);
    struct wallet_spending *spending = http_request_alloc(req, sizeof *spending);
    if (user == NULL || spending == NULL) {
        http_reply_error(req, QB_E_TOO_LARGE);
        return;
    }
    if (!http_me_load(req, user))
        return;
    struct ledger_account_view user_account;
    enum qb_error err = http_request_account_view(req, user->account_id, &user_account);
    if (err != QB_OK) {
        http_reply_error(req, err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err);
        return;
    }
    struct store *reader = http_reader_acquire(req);
    if (reader == NULL)
        return;
    err = wallet_spending_get(reader, &user_account, user, spending);
    http_reader_release(req, reader);
    if (err != QB_OK) {
        http_reply_error(req, err);
        return;
    }
    const char *limit;
    int64_t cap = wallet_withdrawal_cap(settings, spending, user->kyc_level, &limit);
    if (!merchant)
        account_id = user->account_id;
    struct ledger_account_view view;
    err = http_request_account_view(req, account_id, &view);
    if (err != QB_OK) {
        http_reply_error(req, err);
        return;
    }
    /* Nor a frozen or closed balance's, nor anything of a frozen owner's,
     * refused as ACCOUNT_FROZEN (wallet/topup.c: S_account_open). */
    const uint32_t blocking = LEDGER_ACCOUNT_DEBIT_FROZEN | LEDGER_ACCOUNT_CLOSED;
    if ((view.flags & blocking) != 0 || (user_account.flags & blocking) != 0 ||
        user->status != IDENTITY_ACTIVE)
        pays_out = false;
    int64_t free_left = wallet_withdrawal_free_left(settings, spending);
    int64_t max_amount;
    int64_t max_fee;
    wallet_withdrawal_max(settings, view.available_minor, pays_out ? cap : 0, free_left,
                          &max_amount, &max_fee);
    int64_t fee = 0;
    int64_t total = 0;
    if (has_amount && (!wallet_withdrawal_fee(settings, amount, free_left, &fee) ||
                       !money_add(amount, fee, &total))) {
        http_reply_error(req, QB_E_OVERFLOW);
        return;
    }
    json_t *body = json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o}", "currency",
        view.currency->code, "available", (json_int_t)view.available_minor, "fee_rate_ppm",
        (json_int_t)settings->withdrawal_fee_ppm, "fee_min",
        (json_int_t)settings->withdrawal_fee_min_minor, "free_quota",
        (json_int_t)settings->withdrawal_free_quota_minor, "free_quota_left", (json_int_t)free_left,
        "per_payment", (json_int_t)settings->limit_per_payment_minor, "max_amount",
        (json_int_t)max_amount, "max_fee", (json_int_t)max_fee, "amount",
        has_amount ? json_integer(amount) : json_null(), "fee",
        has_amount ? json_integer(fee) : json_null(), "total",
        has_amount ? json_integer(total) : json_null(), "payable",
        has_amount ? json_boolean(amount <= max_amount) : json_null());
    if (body != NULL)
        http_reply_json(req, 200, body);
    else
        http_reply_error(req, QB_E_INTERNAL);
    json_decref(body);
}

void http_handle_me_withdrawal_quote(struct http_request *req) { S_withdrawal_quote(req, false); }

void http_handle_merchants_me_withdrawal_quote(struct http_request *req)
{
    S_withdrawal_quote(req, true);
}

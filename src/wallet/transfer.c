/*
 * transfer.c — the transfer command (transfer.h has the order of checks).
 *
 * The order is chosen so that a refusal writes nothing but what must
 * survive it: the checks that only read come first, the payment password
 * (whose failure count must commit) next, then the balance — read from the
 * ledger's working state, so it sees every earlier command of the batch —
 * and only then the limits charge and the posting, which can no longer be
 * refused. The run function therefore returns QB_OK for every refusal, with
 * the refusal stored as the answer, and an error only for a failure that
 * must roll everything back.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/crash.h"
#include "base/log.h"
#include "base/money.h"
#include "base/ratelimit.h"
#include "wallet/collection.h"
#include "wallet/limits.h"
#include "wallet/notice.h"
#include "wallet/topup.h"
#include "wallet/transfer.h"

/* Bytes of the UTF-8 character that starts with lead (1 for a stray byte). */
static size_t S_utf8_size(unsigned char lead)
{
    return lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
}

void wallet_name_mask(const char *name, char *out, size_t out_size)
{
    QB_ASSERT(name != NULL && out != NULL && out_size >= WALLET_MASKED_NAME_SIZE);
    size_t size = strnlen(name, WALLET_NAME_SIZE_MAX);
    size_t count = 0, second = size, last = 0;
    for (size_t i = 0; i < size; i += S_utf8_size((unsigned char)name[i])) {
        if (count == 1)
            second = i;
        last = i;
        count++;
    }
    size_t o = 0;
    if (count <= 1) {
        out[o++] = '*';
    } else {
        if (count > 2) {
            memcpy(out + o, name, second);
            o += second;
        }
        size_t stars = count <= 2 ? 1 : count - 2 > 4 ? 4 : count - 2;
        for (size_t i = 0; i < stars; i++)
            out[o++] = '*';
        size_t last_size = size - last < 4 ? size - last : 4;
        memcpy(out + o, name + last, last_size);
        o += last_size;
    }
    QB_ASSERT(o < out_size);
    out[o] = '\0';
}

/* A transfer or, with transfer_id not NULL, its return: the money's way
 * from p's user to p's counterparty, named display_name. */
static void S_payment_json(struct json_out *out, const struct wallet_payment *p,
                           const char *transfer_id, const char *display_name)
{
    QB_ASSERT(p != NULL && p->currency != NULL && display_name != NULL);
    char masked[IDENTITY_DISPLAY_NAME_SIZE_MAX * 2];
    wallet_name_mask(display_name, masked, sizeof masked);
    json_out_string(out, "id", p->id);
    json_out_string(out, "status", wallet_payment_status_name(p->status));
    if (transfer_id != NULL)
        json_out_string(out, "transfer_id", transfer_id);
    json_out_int(out, "amount", p->amount_minor);
    json_out_string(out, "currency", p->currency->code);
    json_out_object(out, "to");
    json_out_string(out, "user_id", p->counterparty_id);
    json_out_string(out, "display_name", masked);
    json_out_end(out);
    json_out_string(out, "memo", p->memo[0] != '\0' ? p->memo : NULL);
    if (transfer_id == NULL) {
        domain_time_out(out, "arrives_at", p->arrives_at_ms);
        json_out_string(out, "failure_code", p->failure_code[0] != '\0' ? p->failure_code : NULL);
    }
    domain_time_out(out, "created_at", p->created_at_ms);
}

/* Answers status with p (with transfer_id, the return of that transfer) as
 * its payer sees it, and records QB_OK as the command's outcome. */
static enum qb_error S_answer(struct ledger_cmd *cmd, enum qb_error *outcome, int status,
                              const struct wallet_payment *p, const char *transfer_id,
                              const char *display_name)
{
    struct json_out out;
    domain_response_open(cmd, status, &out);
    S_payment_json(&out, p, transfer_id, display_name);
    enum qb_error err = domain_response_close(cmd, &out);
    if (err == QB_OK)
        *outcome = QB_OK;
    return err;
}

void wallet_transfer_json(struct json_out *out, const struct wallet_payment *p,
                          const char *payee_display_name)
{
    S_payment_json(out, p, NULL, payee_display_name);
}

void wallet_transfer_return_json(struct json_out *out, const struct wallet_payment *p,
                                 const char *transfer_id, const char *payer_display_name)
{
    QB_ASSERT(transfer_id != NULL);
    S_payment_json(out, p, transfer_id, payer_display_name);
}

/* Stores the refusal err as the answer and records it as the outcome. The
 * ledger result stays QB_OK unless the answer cannot be written. */
static enum qb_error S_refuse(struct wallet_transfer_cmd *c, enum qb_error err,
                              const char *message, const json_t *extra)
{
    c->outcome = err;
    return domain_response_error(&c->cmd, err, message, extra);
}

/* As S_refuse, for the payment password's PASSWORD_WRONG and _LOCKED. */
static enum qb_error S_password_refuse(struct wallet_transfer_cmd *c, enum qb_error err)
{
    c->outcome = err;
    return identity_password_refusal_response(&c->cmd, err, &c->password_try);
}

static const char *const S_arrival_names[] = {"instant", "2h", "24h"};

bool wallet_arrival_parse(const char *name, enum wallet_arrival *out)
{
    for (size_t i = 0; i < QB_ARRAY_COUNT(S_arrival_names); i++)
        if (strcmp(name, S_arrival_names[i]) == 0) {
            *out = (enum wallet_arrival)i;
            return true;
        }
    return false;
}

const char *wallet_arrival_name(enum wallet_arrival arrival)
{
    return (size_t)arrival < QB_ARRAY_COUNT(S_arrival_names) ? S_arrival_names[arrival] : "instant";
}

int64_t wallet_arrival_delay_ms(enum wallet_arrival arrival)
{
    return arrival == WALLET_ARRIVAL_2H    ? 2 * INT64_C(3600000)
           : arrival == WALLET_ARRIVAL_24H ? 24 * INT64_C(3600000)
                                           : 0;
}

enum qb_error wallet_payee_lookup_take(const struct domain_env *env, const char *user_id,
                                       const char *phone, int64_t *until_ms)
{
    *until_ms = 0;
    int64_t now_ms = clock_now_ms(env->clock);
    /* A phone this user looked up in the window was counted then. */
    char pair[ID_TEXT_SIZE_MAX + WALLET_TRANSFER_TO_SIZE_MAX];
    snprintf(pair, sizeof pair, "%s %s", user_id, phone);
    if (env->payee_lookups_seen != NULL &&
        ratelimit_spent(env->payee_lookups_seen, pair, now_ms, NULL))
        return QB_OK;
    /* The day's count first, counting nothing: a look-up it refuses must
     * not use up the hour's too. */
    if (env->payee_lookups_daily != NULL &&
        ratelimit_spent(env->payee_lookups_daily, user_id, now_ms, until_ms))
        return QB_E_RATE_LIMITED;
    if (env->payee_lookups != NULL &&
        !ratelimit_take(env->payee_lookups, user_id, now_ms, until_ms))
        return QB_E_RATE_LIMITED;
    if (env->payee_lookups_daily != NULL &&
        !ratelimit_take(env->payee_lookups_daily, user_id, now_ms, until_ms))
        return QB_E_RATE_LIMITED; /* another request took the day's last meanwhile */
    if (env->payee_lookups_seen != NULL)
        (void)ratelimit_take(env->payee_lookups_seen, pair, now_ms, NULL);
    return QB_OK;
}

const char *wallet_payee_lookup_refusal(int64_t until_ms, char *out, size_t out_size)
{
    QB_ASSERT(out_size >= WALLET_PAYEE_LOOKUP_MESSAGE_SIZE);
    char until[48];
    snprintf(out, out_size,
             "too many phone numbers looked up lately; look-ups by phone are refused%s. Meanwhile, "
             "pay by scanning the payee's receive code or to their user id",
             identity_lock_end_text(until_ms, until, sizeof until));
    return out;
}

static enum qb_error S_payee_load(struct ledger_txn *txn, const struct domain_env *env,
                                  const char *to, struct identity_user *out)
{
    struct store *store = ledger_txn_store(txn);
    size_t size = strlen(to);
    enum qb_error err = QB_E_NOT_FOUND;
    if (id_is_valid(to, size, "u"))
        err = identity_txn_user_get(txn, env, to, out);
    else if (phone_is_valid(to))
        err = identity_user_find_by_phone(store, to, out);
    return err == QB_OK || err == QB_E_NOT_FOUND ? err : QB_E_STORAGE;
}

static bool S_inputs_are_terminated(const struct wallet_transfer_cmd *c)
{
    return memchr(c->payer_id, '\0', sizeof c->payer_id) != NULL &&
           memchr(c->to, '\0', sizeof c->to) != NULL &&
           memchr(c->memo, '\0', sizeof c->memo) != NULL &&
           memchr(c->payment_password, '\0', sizeof c->payment_password) != NULL;
}

enum qb_error wallet_transfer_txn(struct ledger_txn *txn, struct wallet_transfer_cmd *c)
{
    QB_CRASH_POINT("transfer.in_command");
    const struct domain_env *env = c->env;
    QB_ASSERT(env != NULL);
    c->outcome = QB_E_INTERNAL;
    c->refused_limit = NULL;
    c->password_try = (struct identity_password_try){0, 0};
    memset(&c->payment, 0, sizeof c->payment);
    if (!S_inputs_are_terminated(c))
        return S_refuse(c, QB_E_PARAM, NULL, NULL);

    /* Step 1: the amount. */
    const struct currency *cny = currency_find("CNY");
    QB_ASSERT(cny != NULL);
    if (c->currency != NULL && c->currency != cny)
        return S_refuse(c, QB_E_BAD_CURRENCY, "transfers are in CNY only", NULL);
    if (c->amount_minor <= 0)
        return S_refuse(c, QB_E_BAD_AMOUNT, "amount must be a positive number of fen", NULL);
    if (c->amount_minor > WALLET_TRANSFER_AMOUNT_MAX_MINOR)
        return S_refuse(c, QB_E_OVERFLOW, NULL, NULL);

    /* Step 2: the payer. */
    struct identity_user payer;
    enum qb_error err = identity_txn_user_get(txn, env, c->payer_id, &payer);
    if (err == QB_E_NOT_FOUND)
        return S_refuse(c, QB_E_UNAUTHORIZED, NULL, NULL);
    if (err != QB_OK)
        return QB_E_STORAGE;
    struct ledger_account_view payer_account;
    err = ledger_txn_account_get(txn, payer.account_id, &payer_account);
    if (err != QB_OK)
        return QB_E_INTERNAL; /* a user without its wallet account */
    if (payer.status == IDENTITY_FROZEN ||
        (payer_account.flags & (LEDGER_ACCOUNT_DEBIT_FROZEN | LEDGER_ACCOUNT_CLOSED)) != 0)
        return S_refuse(c, QB_E_ACCOUNT_FROZEN, NULL, NULL);

    /* Step 3: the payee, and one more phone number looked up. */
    if (!id_is_valid(c->to, strlen(c->to), "u")) {
        int64_t until_ms;
        if (wallet_payee_lookup_take(env, payer.id, c->to, &until_ms) == QB_E_RATE_LIMITED) {
            /* It holds until look-ups resume: a retry then is made. */
            ledger_txn_answer_passes(txn);
            c->lookups_until_ms = until_ms;
            char message[WALLET_PAYEE_LOOKUP_MESSAGE_SIZE];
            json_t *extra = json_pack("{s:o}", "locked_until", domain_time_json(until_ms));
            err = S_refuse(c, QB_E_RATE_LIMITED,
                           wallet_payee_lookup_refusal(until_ms, message, sizeof message), extra);
            json_decref(extra);
            return err;
        }
    }
    struct identity_user payee;
    err = S_payee_load(txn, env, c->to, &payee);
    if (err == QB_E_NOT_FOUND)
        return S_refuse(c, QB_E_PAYEE_NOT_FOUND, NULL, NULL);
    if (err != QB_OK)
        return err;
    if (strcmp(payee.id, payer.id) == 0)
        return S_refuse(c, QB_E_SELF_TRANSFER, NULL, NULL);
    struct ledger_account_view payee_account;
    err = ledger_txn_account_get(txn, payee.account_id, &payee_account);
    if (err != QB_OK)
        return QB_E_INTERNAL;
    if (payee.status == IDENTITY_FROZEN ||
        (payee_account.flags & (LEDGER_ACCOUNT_CREDIT_FROZEN | LEDGER_ACCOUNT_CLOSED)) != 0)
        return S_refuse(c, QB_E_PAYEE_UNAVAILABLE, NULL, NULL);
    QB_ASSERT(payer_account.currency == cny && payee_account.currency == cny);

    /* Step 4: the payment password, or the password-free amount. */
    if (c->has_payment_password) {
        err = identity_txn_payment_password_verify(txn, env, payer.id, c->payment_password,
                                                   &c->password_try);
        if (err == QB_E_PASSWORD_WRONG || err == QB_E_PASSWORD_LOCKED)
            return S_password_refuse(c, err);
        if (err == QB_E_PASSWORD_NOT_SET)
            return S_refuse(c, err, NULL, NULL);
        if (err != QB_OK)
            return err;
    } else {
        const char *why = NULL;
        err = wallet_txn_password_free_check(txn, env, &payer, c->amount_minor, &why);
        if (err == QB_E_PASSWORD_LOCKED) {
            c->password_try.locked_until_ms = payer.payment_password_locked_until_ms;
            return S_password_refuse(c, err);
        }
        if (err == QB_E_PASSWORD_NOT_SET || err == QB_E_PARAM)
            return S_refuse(c, err, why, NULL);
        if (err != QB_OK)
            return err;
    }

    /* Step 5: the limits, before the balance: no top-up gets a payment
     * past a limit, so the refusal says what would. */
    struct wallet_spending spending;
    err = wallet_txn_limits_check(txn, env, &payer, c->amount_minor, &c->refused_limit, &spending);
    if (err == QB_E_LIMIT_EXCEEDED || err == QB_E_OVERFLOW) {
        c->outcome = err;
        return wallet_limits_refusal(&c->cmd, err, c->refused_limit);
    }
    if (err != QB_OK)
        return err;
    /* A payer's default arrival is a day (or two hours) to think again,
     * which a password-free transfer must not undo: whoever holds the phone
     * would name "instant", or pay a collection, which always is. */
    if (!c->has_payment_password && c->has_arrival &&
        wallet_arrival_delay_ms(c->arrival) < wallet_arrival_delay_ms(spending.transfer_arrival))
        return S_refuse(c, QB_E_PARAM,
                        "a transfer that arrives sooner than your default arrival needs the "
                        "payment password",
                        NULL);

    /* Step 6: the balance, before anything is charged. */
    if (payer_account.available_minor < c->amount_minor)
        return S_refuse(c, QB_E_INSUFFICIENT_BALANCE, NULL, NULL);

    /* Step 7: the movement and its payment row. Nothing above allowed a
     * refusal here: any error rolls the charge back with it. */
    struct wallet_payment *p = &c->payment;
    err = wallet_txn_payment_new(txn, env->rand, p);
    if (err != QB_OK)
        return err;
    p->kind = WALLET_TRANSFER;
    snprintf(p->user_id, sizeof p->user_id, "%s", payer.id);
    snprintf(p->counterparty_id, sizeof p->counterparty_id, "%s", payee.id);
    p->currency = cny;
    p->amount_minor = c->amount_minor;
    snprintf(p->memo, sizeof p->memo, "%s", c->memo);
    if (!c->has_arrival)
        c->arrival = spending.transfer_arrival;
    int64_t delay_ms = wallet_arrival_delay_ms(c->arrival);
    if (delay_ms == 0) {
        p->status = WALLET_SUCCESS;
        const struct ledger_leg legs[2] = {{payer.account_id, -c->amount_minor},
                                           {payee.account_id, c->amount_minor}};
        err = ledger_txn_post(txn, WALLET_CODE_TRANSFER, p->id, legs, 2, &p->entry_id);
        if (err != QB_OK)
            return err;
        QB_ASSERT(p->entry_id > 0);
    } else {
        p->status = WALLET_PROCESSING;
        p->arrives_at_ms = p->next_check_at_ms = p->created_at_ms + delay_ms;
        err = ledger_txn_hold(txn, WALLET_CODE_TRANSFER, p->id, payer.account_id, payee.account_id,
                              c->amount_minor, 0, &p->hold_id);
        if (err != QB_OK)
            return err;
        QB_ASSERT(p->hold_id > 0);
    }
    if (!c->has_payment_password) {
        err = wallet_txn_password_free_count(txn, payer.id);
        if (err != QB_OK)
            return err;
    }
    err = wallet_txn_payment_insert(txn, p);
    if (err != QB_OK)
        return QB_E_STORAGE;
    return S_answer(&c->cmd, &c->outcome, 201, p, NULL, payee.display_name);
}

static enum qb_error S_transfer_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    return wallet_transfer_txn(txn, (struct wallet_transfer_cmd *)cmd);
}

void wallet_transfer_cmd_init(struct wallet_transfer_cmd *c, const struct domain_env *env)
{
    QB_ASSERT(c != NULL && env != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_transfer_run, NULL);
    c->env = env;
    c->outcome = QB_E_INTERNAL;
}

/* --- a delayed transfer's end ------------------------------------------------------- */

/* Releases the hold of PROCESSING transfer p back to its payer: FAILED
 * with failure, at now_ms. */
static enum qb_error S_release(struct ledger_txn *txn, struct wallet_payment *p,
                               enum qb_error failure)
{
    QB_ASSERT(p->kind == WALLET_TRANSFER && p->status == WALLET_PROCESSING && p->hold_id > 0);
    /* Money that never left spends no allowance: the release gives the
     * hold's spending back to the payer's limits. */
    enum qb_error err =
        ledger_txn_void(txn, p->hold_id, WALLET_CODE_TRANSFER_RELEASE, p->id, &p->entry_id);
    if (err != QB_OK)
        return err; /* a PROCESSING transfer's hold is open: anything else is a bug */
    p->status = WALLET_FAILED;
    snprintf(p->failure_code, sizeof p->failure_code, "%s", error_api_code(failure));
    return QB_OK;
}

/* Writes p's new state, at now_ms, logs it and tells the payer by a
 * notice, unless they cancelled it themselves. */
static enum qb_error S_transfer_settle(struct ledger_txn *txn, const struct domain_env *env,
                                       struct wallet_payment *p)
{
    p->updated_at_ms = ledger_txn_now_ms(txn);
    p->next_check_at_ms = 0;
    enum qb_error err = wallet_txn_payment_update(txn, p);
    if (err != QB_OK)
        return err;
    log_event(LOG_INFO, "wallet.transfer.settled", "payment_id=%s status=%s failure=%s", p->id,
              wallet_payment_status_name(p->status), p->failure_code);
    if (p->status == WALLET_SUCCESS)
        return wallet_txn_notice_payment(txn, env->rand, p->user_id, WALLET_NOTICE_TRANSFER_ARRIVED,
                                         p);
    if (strcmp(p->failure_code, error_api_code(QB_E_TRANSFER_CANCELLED)) == 0)
        return QB_OK;
    return wallet_txn_notice_payment(txn, env->rand, p->user_id, WALLET_NOTICE_TRANSFER_FAILED, p);
}

static enum qb_error S_cancel_refuse(struct wallet_transfer_cancel_cmd *c, enum qb_error err,
                                     const char *message)
{
    c->outcome = err;
    return domain_response_error(&c->cmd, err, message, NULL);
}

static enum qb_error S_cancel_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct wallet_transfer_cancel_cmd *c = (struct wallet_transfer_cancel_cmd *)cmd;
    const struct domain_env *env = c->env;
    QB_ASSERT(env != NULL);
    c->outcome = QB_E_INTERNAL;
    c->changed = false;
    memset(&c->payment, 0, sizeof c->payment);
    if (memchr(c->user_id, '\0', sizeof c->user_id) == NULL ||
        memchr(c->transfer_id, '\0', sizeof c->transfer_id) == NULL ||
        (c->by_operator && c->user_id[0] != '\0'))
        return S_cancel_refuse(c, QB_E_PARAM, NULL);

    /* Step 1: the transfer, as the caller may see it. */
    struct wallet_payment *p = &c->payment;
    enum qb_error err = wallet_txn_payment_get(txn, c->transfer_id, p);
    if (err != QB_OK && err != QB_E_NOT_FOUND)
        return err;
    bool payer = err == QB_OK && (c->by_operator || strcmp(p->user_id, c->user_id) == 0);
    bool reached =
        err == QB_OK && strcmp(p->counterparty_id, c->user_id) == 0 && p->status == WALLET_SUCCESS;
    if (err == QB_E_NOT_FOUND || p->kind != WALLET_TRANSFER || (!payer && !reached))
        return S_cancel_refuse(c, QB_E_NOT_FOUND, "no such transfer");
    if (!payer)
        return S_cancel_refuse(c, QB_E_FORBIDDEN,
                               "this transfer was sent to you: only its payer may cancel it");

    /* Steps 2 and 3: its state. */
    if (p->status == WALLET_SUCCESS)
        return S_cancel_refuse(c, QB_E_TRANSFER_ARRIVED, NULL);
    if (p->status == WALLET_PROCESSING) {
        err = S_release(txn, p, c->by_operator ? QB_E_TRANSFER_STOPPED : QB_E_TRANSFER_CANCELLED);
        if (err == QB_OK)
            err = S_transfer_settle(txn, env, p);
        if (err != QB_OK)
            return err;
        c->changed = true;
    }
    struct identity_user payee;
    err = identity_txn_user_get(txn, env, p->counterparty_id, &payee);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : QB_E_STORAGE;
    return S_answer(&c->cmd, &c->outcome, 200, p, NULL, payee.display_name);
}

void wallet_transfer_cancel_cmd_init(struct wallet_transfer_cancel_cmd *c,
                                     const struct domain_env *env)
{
    QB_ASSERT(c != NULL && env != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_cancel_run, NULL);
    c->env = env;
    c->outcome = QB_E_INTERNAL;
}

/* Whether user_id's wallet is frozen (for paying: its account closed to
 * debits, or the user frozen), or, with credit, closed to credits. */
static enum qb_error S_user_blocked(struct ledger_txn *txn, const struct domain_env *env,
                                    const char *user_id, bool credit, bool *blocked)
{
    struct identity_user user;
    enum qb_error err = identity_txn_user_get(txn, env, user_id, &user);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : QB_E_STORAGE;
    struct ledger_account_view account;
    if (ledger_txn_account_get(txn, user.account_id, &account) != QB_OK)
        return QB_E_INTERNAL; /* a user without its wallet account */
    uint32_t flags = credit ? LEDGER_ACCOUNT_CREDIT_FROZEN | LEDGER_ACCOUNT_CLOSED
                            : LEDGER_ACCOUNT_DEBIT_FROZEN | LEDGER_ACCOUNT_CLOSED;
    *blocked = user.status != IDENTITY_ACTIVE || (account.flags & flags) != 0;
    return QB_OK;
}

static enum qb_error S_arrive_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct wallet_transfer_arrive_cmd *c = (struct wallet_transfer_arrive_cmd *)cmd;
    struct wallet_payment *p = &c->payment;
    enum qb_error err = wallet_txn_payment_get(txn, c->payment_id, p);
    if (err != QB_OK)
        return err;
    int64_t now_ms = ledger_txn_now_ms(txn);
    if (p->kind != WALLET_TRANSFER || p->status != WALLET_PROCESSING || now_ms < p->arrives_at_ms)
        return QB_OK; /* cancelled or arrived meanwhile, or not due */
    bool payer_blocked, payee_blocked;
    err = S_user_blocked(txn, c->env, p->user_id, false, &payer_blocked);
    if (err == QB_OK)
        err = S_user_blocked(txn, c->env, p->counterparty_id, true, &payee_blocked);
    if (err != QB_OK)
        return err;
    if (payer_blocked) {
        p->next_check_at_ms = now_ms + WALLET_UNPOSTABLE_RETRY_MS;
        return wallet_txn_payment_update(txn, p);
    }
    if (payee_blocked) {
        err = S_release(txn, p, QB_E_PAYEE_UNAVAILABLE);
    } else {
        err = ledger_txn_capture(txn, p->hold_id, p->amount_minor, WALLET_CODE_TRANSFER, p->id,
                                 &p->entry_id);
        p->status = WALLET_SUCCESS;
    }
    if (err != QB_OK)
        return err;
    return S_transfer_settle(txn, c->env, p);
}

void wallet_transfer_arrive_cmd_init(struct wallet_transfer_arrive_cmd *c,
                                     const struct domain_env *env, const char *payment_id)
{
    QB_ASSERT(c != NULL && env != NULL && payment_id != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_arrive_run, NULL);
    c->env = env;
    snprintf(c->payment_id, sizeof c->payment_id, "%s", payment_id);
}

/* --- returning a transfer ----------------------------------------------------------- */

/* The other end of a transfer_returns row found by sql from id, into other
 * (size ID_TEXT_SIZE_MAX), QB_E_NOT_FOUND when none, QB_E_STORAGE. */
static enum qb_error S_link(struct store *store, const char *sql, const char *id, char *other)
{
    struct store_stmt *st = NULL;
    if (store_prepare(store, sql, &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, id, strlen(id));
    if (err == QB_OK) {
        int rc = store_step(st);
        if (rc == STORE_STEP_ROW)
            store_column_text_copy(st, 0, other, ID_TEXT_SIZE_MAX);
        else
            err = rc == STORE_STEP_DONE ? QB_E_NOT_FOUND : QB_E_STORAGE;
    }
    store_finalize(st);
    return err;
}

enum qb_error wallet_transfer_return_id(struct store *store, const char *transfer_id,
                                        char *return_id)
{
    return S_link(store, "SELECT return_id FROM transfer_returns WHERE transfer_id = $1",
                  transfer_id, return_id);
}

enum qb_error wallet_transfer_collection_id(struct store *store, const char *transfer_id,
                                            char *collection_id)
{
    return S_link(store, "SELECT collection_id FROM collection_payments WHERE payment_id = $1",
                  transfer_id, collection_id);
}

enum qb_error wallet_transfer_return_origin(struct store *store, const char *return_id,
                                            char *transfer_id)
{
    enum qb_error err =
        S_link(store, "SELECT transfer_id FROM transfer_returns WHERE return_id = $1", return_id,
               transfer_id);
    return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err; /* every return has its row */
}

enum qb_error wallet_transfer_return_find(struct store *store, const char *transfer_id,
                                          struct wallet_payment *out)
{
    memset(out, 0, sizeof *out);
    char return_id[ID_TEXT_SIZE_MAX];
    enum qb_error err = wallet_transfer_return_id(store, transfer_id, return_id);
    if (err == QB_OK) {
        err = wallet_payment_get(store, return_id, NULL, out);
        /* The link names a payment that must exist, of its kind. */
        if (err == QB_E_NOT_FOUND || (err == QB_OK && out->kind != WALLET_TRANSFER_RETURN))
            err = QB_E_INTERNAL;
    }
    return err;
}

static enum qb_error S_return_refuse(struct wallet_transfer_return_cmd *c, enum qb_error err,
                                     const char *message, const json_t *extra)
{
    c->outcome = err;
    return domain_response_error(&c->cmd, err, message, extra);
}

static enum qb_error S_return_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct wallet_transfer_return_cmd *c = (struct wallet_transfer_return_cmd *)cmd;
    const struct domain_env *env = c->env;
    QB_ASSERT(env != NULL);
    c->outcome = QB_E_INTERNAL;
    memset(&c->payment, 0, sizeof c->payment);
    if (memchr(c->user_id, '\0', sizeof c->user_id) == NULL ||
        memchr(c->transfer_id, '\0', sizeof c->transfer_id) == NULL ||
        memchr(c->memo, '\0', sizeof c->memo) == NULL)
        return S_return_refuse(c, QB_E_PARAM, NULL, NULL);
    struct store *store = ledger_txn_store(txn);

    /* Step 1: the transfer, as its payee sees it. */
    struct wallet_payment t;
    enum qb_error err = wallet_txn_payment_get(txn, c->transfer_id, &t);
    if (err != QB_OK && err != QB_E_NOT_FOUND)
        return err;
    if (err == QB_E_NOT_FOUND || t.kind != WALLET_TRANSFER ||
        (strcmp(t.user_id, c->user_id) != 0 &&
         (strcmp(t.counterparty_id, c->user_id) != 0 || t.status != WALLET_SUCCESS)))
        return S_return_refuse(c, QB_E_NOT_FOUND, "no such transfer", NULL);
    if (strcmp(t.user_id, c->user_id) == 0)
        return S_return_refuse(c, QB_E_FORBIDDEN,
                               "you sent this transfer: only its payee may return it", NULL);
    QB_ASSERT(t.status == WALLET_SUCCESS && t.amount_minor > 0);
    char return_id[ID_TEXT_SIZE_MAX];
    err = wallet_transfer_return_id(store, t.id, return_id);
    if (err == QB_OK) {
        json_t *extra = json_pack("{s:s}", "return_id", return_id);
        err = S_return_refuse(c, QB_E_TRANSFER_RETURNED, NULL, extra);
        json_decref(extra);
        return err;
    }
    if (err != QB_E_NOT_FOUND)
        return err;
    /* From when it reached the payee: a settled transfer's row last
     * changed then (at once for an instant one; for a delayed one, at its
     * arrival, or later when its payer's freeze held it back). */
    int64_t reached_ms = t.updated_at_ms;
    if (ledger_txn_now_ms(txn) - reached_ms > WALLET_TRANSFER_RETURN_WINDOW_MS)
        return S_return_refuse(c, QB_E_TRANSFER_RETURN_EXPIRED,
                               "a transfer may be returned within 30 days: send the money as a "
                               "new transfer",
                               NULL);

    /* Step 2: the caller. */
    struct identity_user payee;
    err = identity_txn_user_get(txn, env, c->user_id, &payee);
    if (err == QB_E_NOT_FOUND)
        return S_return_refuse(c, QB_E_UNAUTHORIZED, NULL, NULL);
    if (err != QB_OK)
        return QB_E_STORAGE;
    struct ledger_account_view payee_account;
    if (ledger_txn_account_get(txn, payee.account_id, &payee_account) != QB_OK)
        return QB_E_INTERNAL; /* a user without its wallet account */
    if (payee.status != IDENTITY_ACTIVE ||
        (payee_account.flags & (LEDGER_ACCOUNT_DEBIT_FROZEN | LEDGER_ACCOUNT_CLOSED)) != 0)
        return S_return_refuse(c, QB_E_ACCOUNT_FROZEN, NULL, NULL);

    /* Step 3: the payer, who gets the money back. */
    struct identity_user payer;
    err = identity_txn_user_get(txn, env, t.user_id, &payer);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : QB_E_STORAGE;
    struct ledger_account_view payer_account;
    if (ledger_txn_account_get(txn, payer.account_id, &payer_account) != QB_OK)
        return QB_E_INTERNAL;
    if (payer.status != IDENTITY_ACTIVE ||
        (payer_account.flags & (LEDGER_ACCOUNT_CREDIT_FROZEN | LEDGER_ACCOUNT_CLOSED)) != 0)
        return S_return_refuse(c, QB_E_PAYEE_UNAVAILABLE,
                               "the sender's wallet cannot take money now", NULL);
    QB_ASSERT(payee_account.currency == t.currency && payer_account.currency == t.currency);

    /* Step 4: the balance. */
    if (payee_account.available_minor < t.amount_minor)
        return S_return_refuse(c, QB_E_INSUFFICIENT_BALANCE, NULL, NULL);

    /* Step 5: the movement, its payment and the link. */
    struct wallet_payment *p = &c->payment;
    err = wallet_txn_payment_new(txn, env->rand, p);
    if (err != QB_OK)
        return err;
    p->kind = WALLET_TRANSFER_RETURN;
    snprintf(p->user_id, sizeof p->user_id, "%s", payee.id);
    snprintf(p->counterparty_id, sizeof p->counterparty_id, "%s", payer.id);
    p->currency = t.currency;
    p->amount_minor = t.amount_minor;
    snprintf(p->memo, sizeof p->memo, "%s", c->memo);
    p->status = WALLET_SUCCESS;
    const struct ledger_leg legs[2] = {{payee.account_id, -t.amount_minor},
                                       {payer.account_id, t.amount_minor}};
    err = ledger_txn_post(txn, WALLET_CODE_TRANSFER_RETURN, p->id, legs, 2, &p->entry_id);
    if (err != QB_OK)
        return err;
    QB_ASSERT(p->entry_id > 0);
    if (wallet_txn_payment_insert(txn, p) != QB_OK)
        return QB_E_STORAGE;
    const struct store_param link[3] = {STORE_TEXT(t.id), STORE_TEXT(p->id),
                                        STORE_INT(p->created_at_ms)};
    if (store_run(store,
                  "INSERT INTO transfer_returns (transfer_id, return_id, created_at_ms)"
                  " VALUES ($1, $2, $3)",
                  link, 3) != QB_OK)
        return QB_E_STORAGE;
    /* A group collection's payment sent back is paid no more. */
    err = wallet_txn_collection_payment_returned(txn, t.id, p->created_at_ms);
    if (err != QB_OK)
        return err;
    err = wallet_txn_notice_payment(txn, env->rand, payer.id, WALLET_NOTICE_TRANSFER_RETURNED, p);
    if (err != QB_OK)
        return err;
    return S_answer(&c->cmd, &c->outcome, 201, p, t.id, payer.display_name);
}

void wallet_transfer_return_cmd_init(struct wallet_transfer_return_cmd *c,
                                     const struct domain_env *env)
{
    QB_ASSERT(c != NULL && env != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_return_run, NULL);
    c->env = env;
    c->outcome = QB_E_INTERNAL;
}

/* Whether the return r rightly sends back the transfer t, posted as its
 * entry e. */
static bool S_return_matches(const struct wallet_payment *t, const struct wallet_payment *r,
                             const struct ledger_entry *e)
{
    return t->kind == WALLET_TRANSFER && r->kind == WALLET_TRANSFER_RETURN &&
           r->status == WALLET_SUCCESS && r->amount_minor == t->amount_minor &&
           r->currency == t->currency && strcmp(r->user_id, t->counterparty_id) == 0 &&
           strcmp(r->counterparty_id, t->user_id) == 0 && r->created_at_ms >= t->created_at_ms &&
           e->code == WALLET_CODE_TRANSFER_RETURN && strcmp(e->ref, r->id) == 0;
}

static enum qb_error S_returns_check(struct store *reader, int64_t *returns, char *problem,
                                     size_t problem_size)
{
    struct store_stmt *st = NULL;
    if (store_prepare(reader, "SELECT transfer_id, return_id FROM transfer_returns", &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = QB_OK;
    int rc;
    while (err == QB_OK && (rc = store_step(st)) == STORE_STEP_ROW) {
        char transfer_id[ID_TEXT_SIZE_MAX], return_id[ID_TEXT_SIZE_MAX];
        store_column_text_copy(st, 0, transfer_id, sizeof transfer_id);
        store_column_text_copy(st, 1, return_id, sizeof return_id);
        struct wallet_payment t, r;
        struct ledger_entry e;
        err = wallet_payment_get(reader, transfer_id, NULL, &t);
        if (err == QB_OK)
            err = wallet_payment_get(reader, return_id, NULL, &r);
        if (err == QB_OK)
            err = ledger_entry_read(reader, r.entry_id, &e);
        if (err == QB_E_NOT_FOUND || err == QB_E_INTERNAL ||
            (err == QB_OK && !S_return_matches(&t, &r, &e))) {
            snprintf(problem, problem_size,
                     "transfer %s: its return %s does not send it back (a payment or entry "
                     "missing, or another amount, party, time or entry)",
                     transfer_id, return_id);
            err = QB_E_INTERNAL;
        }
        if (err == QB_OK)
            (*returns)++;
    }
    if (err == QB_OK && rc != STORE_STEP_DONE)
        err = QB_E_STORAGE;
    store_finalize(st);
    if (err != QB_OK)
        return err;
    /* Each row named its own entry (its ref the row's return): an entry
     * beyond them is a return nobody made. */
    int64_t posted = 0;
    const struct store_param code[1] = {STORE_INT(WALLET_CODE_TRANSFER_RETURN)};
    if (store_int64(reader, "SELECT count(*) FROM entries WHERE code = $1", code, 1, &posted) !=
        QB_OK)
        return QB_E_STORAGE;
    if (posted != *returns) {
        snprintf(problem, problem_size,
                 "the journal holds %" PRId64 " transfer returns, the transfers %" PRId64, posted,
                 *returns);
        return QB_E_INTERNAL;
    }
    return QB_OK;
}

/* Whether delayed transfer p is held by hold (payer → payee, its amount,
 * its code and ref) and, by its status, still open (open), captured whole
 * to its payee, or released, by end (its entry_id's). */
static bool S_delayed_matches(const struct wallet_payment *p, const struct ledger_entry *hold,
                              const struct ledger_entry *end, bool open, int64_t payer_account,
                              int64_t payee_account)
{
    const struct ledger_posting *debit = ledger_entry_posting(hold, payer_account);
    const struct ledger_posting *credit = ledger_entry_posting(hold, payee_account);
    if (hold->kind != LEDGER_ENTRY_HOLD || hold->code != WALLET_CODE_TRANSFER ||
        strcmp(hold->ref, p->id) != 0 || debit == NULL || credit == NULL ||
        debit->held_delta_minor != p->amount_minor || p->arrives_at_ms <= p->created_at_ms)
        return false;
    if (p->status == WALLET_PROCESSING)
        return open && p->entry_id == 0;
    /* A release is WALLET_CODE_TRANSFER_RELEASE, or, written before that
     * code, WALLET_CODE_TRANSFER. */
    if (open || end->ref_entry_id != hold->id ||
        (end->code != WALLET_CODE_TRANSFER &&
         (end->code != WALLET_CODE_TRANSFER_RELEASE || end->kind != LEDGER_ENTRY_VOID)) ||
        strcmp(end->ref, p->id) != 0)
        return false;
    const struct ledger_posting *paid = ledger_entry_posting(end, payee_account);
    if (p->status == WALLET_SUCCESS)
        return end->kind == LEDGER_ENTRY_CAPTURE && paid != NULL &&
               paid->amount_minor == p->amount_minor;
    return end->kind == LEDGER_ENTRY_VOID && p->failure_code[0] != '\0';
}

/* Reads what S_delayed_matches compares for delayed transfer row: *ok
 * false when it does not hold, or something it names is missing. */
static enum qb_error S_delayed_one(struct store *reader, const struct wallet_payment_parties *row,
                                   bool *ok)
{
    const struct wallet_payment *p = &row->payment;
    struct ledger_entry hold, end;
    bool open = false;
    enum qb_error err = ledger_hold_read(reader, p->hold_id, p->entry_id, &hold, &end, &open);
    *ok = err == QB_OK &&
          S_delayed_matches(p, &hold, &end, open, row->user_account, row->counterparty_account);
    return err == QB_E_NOT_FOUND || err == QB_E_INTERNAL ? QB_OK : err;
}

/* A kind of transfer the check walks: its payments, each checked against
 * the journal by one, and the entries of the kind each row names, one
 * each: an entry beyond them is a transfer nobody made. */
struct S_transfer_kind {
    const char *where; /* its payments (wallet_payments_each) */
    bool with_entry;   /* read with the entry each names (one reads its own) */
    enum qb_error (*one)(struct store *reader, const struct wallet_payment_parties *row, bool *ok);
    const char *name;  /* "transfer ID: wrong" */
    const char *wrong; /* what is wrong with a payment one refused */
    enum ledger_entry_kind entry;
    const char *entries; /* "the journal holds N entries, the payments M" */
};

struct S_transfers_walk {
    struct store *reader;
    const struct S_transfer_kind *kind;
    int64_t *transfers;
    char *problem;
    size_t problem_size;
};

static enum qb_error S_transfer_each(const struct wallet_payment_parties *row, void *arg)
{
    struct S_transfers_walk *w = arg;
    bool ok = false;
    enum qb_error err = QB_OK;
    /* A payer or payee who is no user (0) is missing: no posting is its. */
    if (row->well_formed && row->user_account > 0 && row->counterparty_account > 0)
        err = w->kind->one(w->reader, row, &ok);
    if (err == QB_OK && !ok) {
        snprintf(w->problem, w->problem_size, "%s %s: %s", w->kind->name, row->payment.id,
                 w->kind->wrong);
        err = QB_E_INTERNAL;
    }
    if (err == QB_OK)
        (*w->transfers)++;
    return err;
}

static enum qb_error S_transfers_check(struct store *reader, const struct S_transfer_kind *k,
                                       int64_t *transfers, char *problem, size_t problem_size)
{
    struct S_transfers_walk w = {reader, k, transfers, problem, problem_size};
    enum qb_error err = wallet_payments_each(reader, k->where, k->with_entry, S_transfer_each, &w);
    if (err != QB_OK)
        return err;
    int64_t posted = 0;
    if (ledger_entries_count(reader, WALLET_CODE_TRANSFER, k->entry, &posted) != QB_OK)
        return QB_E_STORAGE;
    if (posted != *transfers) {
        snprintf(problem, problem_size, "the journal holds %" PRId64 " %s, the payments %" PRId64,
                 posted, k->entries, *transfers);
        return QB_E_INTERNAL;
    }
    return QB_OK;
}

_Static_assert(WALLET_TRANSFER == 3, "the SQL's constants below");

static enum qb_error S_delayed_check(struct store *reader, int64_t *transfers, char *problem,
                                     size_t problem_size)
{
    static const struct S_transfer_kind delayed = {
        /* The terms of the partial index payments_delayed. */
        "kind = 3 AND hold_id <> 0",
        false,
        S_delayed_one,
        "delayed transfer",
        "its hold, or the capture or release its status says, is not in the journal as it "
        "should be (a payment, user or entry missing, another amount, party or entry, or a hold "
        "open or closed against its status)",
        LEDGER_ENTRY_HOLD,
        "delayed transfers' holds",
    };
    return S_transfers_check(reader, &delayed, transfers, problem, problem_size);
}

/* Whether instant transfer row is posted as its payment says: SUCCESS, by
 * the TRANSFER entry it names (WALLET_CODE_TRANSFER, ref the payment),
 * which moves its amount from the payer's account to the payee's and
 * nothing else (read with it: S_instant_check's walk). *ok false when it
 * does not, or its entry is missing. */
static enum qb_error S_instant_one(struct store *reader, const struct wallet_payment_parties *row,
                                   bool *ok)
{
    (void)reader; /* the walk read its entry */
    const struct wallet_payment *p = &row->payment;
    const struct ledger_entry *e = &row->entry;
    *ok = false;
    if (row->entry_read && e->id == p->entry_id && p->status == WALLET_SUCCESS &&
        e->kind == LEDGER_ENTRY_TRANSFER && e->code == WALLET_CODE_TRANSFER &&
        strcmp(e->ref, p->id) == 0 && e->posting_count == 2) {
        const struct ledger_posting *debit = ledger_entry_posting(e, row->user_account);
        const struct ledger_posting *credit = ledger_entry_posting(e, row->counterparty_account);
        *ok = debit != NULL && credit != NULL && debit->amount_minor == -p->amount_minor &&
              credit->amount_minor == p->amount_minor;
    }
    return QB_OK;
}

static enum qb_error S_instant_check(struct store *reader, int64_t *transfers, char *problem,
                                     size_t problem_size)
{
    static const struct S_transfer_kind instant = {
        "kind = 3 AND hold_id = 0",
        true,
        S_instant_one,
        "transfer",
        "its entry is not in the journal as its payment says (a payment, user or entry missing, "
        "another amount, party, status or entry)",
        LEDGER_ENTRY_TRANSFER,
        "transfers",
    };
    return S_transfers_check(reader, &instant, transfers, problem, problem_size);
}

enum qb_error wallet_transfer_returns_check(struct store *reader, int64_t *returns, char *problem,
                                            size_t problem_size)
{
    return wallet_check_in_snapshot(reader, S_returns_check, returns, problem, problem_size);
}

enum qb_error wallet_delayed_transfers_check(struct store *reader, int64_t *transfers,
                                             char *problem, size_t problem_size)
{
    return wallet_check_in_snapshot(reader, S_delayed_check, transfers, problem, problem_size);
}

enum qb_error wallet_instant_transfers_check(struct store *reader, int64_t *transfers,
                                             char *problem, size_t problem_size)
{
    return wallet_check_in_snapshot(reader, S_instant_check, transfers, problem, problem_size);
}

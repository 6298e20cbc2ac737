/*
 * topup.c — top-ups and withdrawals: start, bank, finish (topup.h).
 *
 * The idempotency record belongs to step 1, the only step a request runs
 * through the ledger's idempotency: its stored answer is the refusal
 * (byte for byte on a retry) or 201 with the payment as it was created,
 * PROCESSING. The final state is known only after the bank and step 3, so
 * the HTTP layer answers a retry whose stored answer is a 201 from the
 * payments row as it is now — same shape (wallet_payment_json), same
 * status, current state — and never runs the bank call again: the payment
 * left PROCESSING is the worker's. A retry therefore never moves money a
 * second time, and tells the client the truth about the first attempt.
 *
 * Ledger entries: a top-up is one entry bank clearing → user
 * (WALLET_CODE_TOPUP); a withdrawal is a HOLD user → clearing of amount +
 * fee (or, for a merchant's withdrawal by its owner, merchant account →
 * clearing: wallet_pay_cmd.account_id) and then either its CAPTURE plus one fee entry clearing → fee income
 * (WALLET_CODE_WITHDRAWAL_FEE) in the same command, or its VOID. Every
 * entry's ref is the payment id.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "identity/identity.h"
#include "wallet/limits.h"
#include "wallet/notice.h"
#include "wallet/topup.h"

bool wallet_withdrawal_fee(const struct domain_settings *settings, int64_t amount_minor,
                           int64_t free_minor, int64_t *fee_minor)
{
    QB_ASSERT(settings != NULL && fee_minor != NULL);
    QB_ASSERT(settings->withdrawal_fee_ppm >= 0 && settings->withdrawal_fee_min_minor >= 0);
    QB_ASSERT(free_minor >= 0);
    if (amount_minor <= 0)
        return false;
    if (amount_minor <= free_minor) {
        *fee_minor = 0;
        return true;
    }
    int64_t product;
    if (!money_mul(amount_minor - free_minor, settings->withdrawal_fee_ppm, &product))
        return false;
    /* ceil(product / 10^6) for product >= 0, in integers */
    int64_t fee = product / 1000000 + (product % 1000000 != 0 ? 1 : 0);
    if (fee < settings->withdrawal_fee_min_minor)
        fee = settings->withdrawal_fee_min_minor;
    QB_ASSERT(fee >= 0);
    *fee_minor = fee;
    return true;
}

int64_t wallet_withdrawal_free_left(const struct domain_settings *settings,
                                    const struct wallet_spending *s)
{
    QB_ASSERT(settings != NULL && s != NULL && settings->withdrawal_free_quota_minor >= 0);
    /* what the allowance covered, or counted before it was set (counts
     * edited by hand, which the operator's check names, cover all of it) */
    int64_t used;
    if (!money_sub(s->withdrawn_minor, s->withdrawn_over_minor, &used) || used < 0)
        used = INT64_MAX;
    return settings->withdrawal_free_quota_minor > used
               ? settings->withdrawal_free_quota_minor - used
               : 0;
}

void wallet_withdrawal_max(const struct domain_settings *settings, int64_t available_minor,
                           int64_t cap_minor, int64_t free_minor, int64_t *amount_minor,
                           int64_t *fee_minor)
{
    QB_ASSERT(settings != NULL && amount_minor != NULL && fee_minor != NULL);
    QB_ASSERT(cap_minor >= 0 && cap_minor <= settings->limit_per_payment_minor);
    QB_ASSERT(free_minor >= 0);
    /* amount + fee(amount) grows with amount: the largest amount that fits
     * is found by bisection, between lo (fits) and hi (does not). */
    int64_t lo = 0;
    int64_t hi = available_minor < cap_minor ? available_minor : cap_minor;
    hi = hi > 0 ? hi + 1 : 1;
    int64_t lo_fee = 0;
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        int64_t fee;
        int64_t total;
        if (wallet_withdrawal_fee(settings, mid, free_minor, &fee) && money_add(mid, fee, &total) &&
            total <= available_minor) {
            lo = mid;
            lo_fee = fee;
        } else {
            hi = mid;
        }
    }
    QB_ASSERT(lo >= 0 && lo <= cap_minor && (lo == 0 || lo + lo_fee <= available_minor));
    *amount_minor = lo;
    *fee_minor = lo_fee;
}

int64_t wallet_bank_next_check_ms(int64_t created_at_ms, int64_t now_ms, int64_t floor_ms)
{
    QB_ASSERT(floor_ms > 0);
    int64_t step = now_ms > created_at_ms ? (now_ms - created_at_ms) / 8 : 0;
    if (step > WALLET_BANK_CHECK_MAX_MS)
        step = WALLET_BANK_CHECK_MAX_MS;
    if (step < floor_ms)
        step = floor_ms;
    return now_ms + step;
}

bool wallet_kyc_lifetime_keeps(const struct domain_settings *settings,
                               const struct wallet_spending *s, int kyc_level, int64_t amount_minor)
{
    QB_ASSERT(settings != NULL && s != NULL && amount_minor > 0);
    if (kyc_level > 1)
        return false;
    const char *limit = NULL;
    int64_t cap = wallet_withdrawal_cap(settings, s, kyc_level, &limit);
    QB_ASSERT(limit != NULL && cap >= 0);
    return cap < amount_minor && strcmp(limit, "kyc_lifetime") == 0;
}

json_t *wallet_payment_json(const struct wallet_payment *p, const struct wallet_card *card)
{
    QB_ASSERT(p != NULL && p->currency != NULL);
    json_t *card_json = card != NULL && card->id[0] != '\0'
                            ? json_pack("{s:s, s:s, s:s}", "id", card->id, "bank", card->bank,
                                        "last4", card->last4)
                            : json_null();
    json_t *failure =
        (p->status == WALLET_FAILED || p->status == WALLET_RETURNED) && p->failure_code[0] != '\0'
            ? json_string(p->failure_code)
            : json_null();
    if (card_json == NULL || failure == NULL) {
        json_decref(card_json);
        json_decref(failure);
        return NULL;
    }
    return json_pack("{s:s, s:s, s:s, s:I, s:s, s:I, s:o, s:o, s:o, s:o}", "id", p->id, "type",
                     wallet_payment_kind_name(p->kind), "status",
                     wallet_payment_status_name(p->status), "amount", (json_int_t)p->amount_minor,
                     "currency", p->currency->code, "fee", (json_int_t)p->fee_minor, "card",
                     card_json, "failure_code", failure, "created_at",
                     domain_time_json(p->created_at_ms), "updated_at",
                     domain_time_json(p->updated_at_ms));
}

/* --- step 1: start ----------------------------------------------------------------- */

/* Records a refusal as the command's answer; the command still commits
 * (a wrong payment password stays counted). */
static enum qb_error pay_refuse(struct wallet_pay_cmd *c, enum qb_error outcome)
{
    c->outcome = outcome;
    enum qb_error err;
    if (outcome == QB_E_PASSWORD_WRONG || outcome == QB_E_PASSWORD_LOCKED) {
        err = identity_password_refusal_response(&c->cmd, outcome, &c->password_try);
    } else if (outcome == QB_E_LIMIT_EXCEEDED) {
        /* as a transfer's */
        err = wallet_limits_refusal(&c->cmd, outcome,
                                    c->refused_limit != NULL ? c->refused_limit : "per_payment");
    } else if (outcome == QB_E_NOT_FOUND) {
        err = domain_response_error(&c->cmd, outcome, "no such card", NULL);
    } else if (outcome == QB_E_CARD_HOLDER_MISMATCH) {
        err = domain_response_error(&c->cmd, outcome,
                                    "the card is not in the wallet's verified real name", NULL);
    } else {
        err = domain_response_error(&c->cmd, outcome, NULL, NULL);
    }
    return err;
}

/* A withdrawal the balance covers without its fee (the whole balance,
 * say) is refused naming the fee, which a user who asked for the balance
 * shown did not count; the extra field fee is in minor units. */
static enum qb_error S_refuse_fee(struct wallet_pay_cmd *c, int64_t fee)
{
    c->outcome = QB_E_INSUFFICIENT_BALANCE;
    char amount[MONEY_TEXT_SIZE_MAX], fee_text[MONEY_TEXT_SIZE_MAX], message[256];
    money_format(c->amount_minor, c->currency, amount, sizeof amount);
    money_format(fee, c->currency, fee_text, sizeof fee_text);
    /* The merchant's quote names it: its owner may own several. */
    const char *mchid = strncmp(c->account_label, "merchant:", 9) == 0 ? c->account_label + 9 : "";
    snprintf(message, sizeof message,
             "the balance is too low for %s and its fee of %s; GET %s/withdrawal-quote%s%s gives "
             "the most that can be withdrawn",
             amount, fee_text, c->account_id != 0 ? "/v1/merchants/me" : "/v1/me",
             c->account_id != 0 ? "?mchid=" : "", c->account_id != 0 ? mchid : "");
    json_t *extra = json_pack("{s:I}", "fee", (json_int_t)fee);
    enum qb_error err =
        extra != NULL ? domain_response_error(&c->cmd, c->outcome, message, extra) : QB_E_INTERNAL;
    json_decref(extra);
    return err;
}

/* Whether money of a payment of kind may move through account (user's
 * balance, or with label the merchant's account its owner user withdraws
 * from) now: QB_OK, or QB_E_ACCOUNT_FROZEN when the user is frozen or
 * closed, the account is frozen that way or closed, or the merchant may not
 * pay out (env->payout_check); else a storage error. Step 1 asks it, and
 * again right before the payment is sent (wallet_send_cmd). */
static enum qb_error S_account_open(struct ledger_txn *txn, const struct domain_env *env,
                                    const struct identity_user *user,
                                    const struct ledger_account_view *account,
                                    enum wallet_payment_kind kind, const char *label)
{
    uint32_t blocking =
        LEDGER_ACCOUNT_CLOSED |
        (kind == WALLET_TOPUP ? LEDGER_ACCOUNT_CREDIT_FROZEN : LEDGER_ACCOUNT_DEBIT_FROZEN);
    if (user->status == IDENTITY_FROZEN || user->status == IDENTITY_CLOSED ||
        (account->flags & blocking) != 0)
        return QB_E_ACCOUNT_FROZEN;
    if (label != NULL && env->payout_check != NULL)
        return env->payout_check(txn, env, label);
    return QB_OK;
}

static enum qb_error pay_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct wallet_pay_cmd *c = (struct wallet_pay_cmd *)cmd;
    const struct domain_env *env = c->env;
    QB_ASSERT(c->kind == WALLET_TOPUP || c->kind == WALLET_WITHDRAWAL);
    QB_ASSERT(c->amount_minor > 0);
    struct store *store = ledger_txn_store(txn);
    c->outcome = QB_E_INTERNAL;

    /* 0. the merchant the caller could not name (topup.h) */
    if (c->account_refused != QB_OK) {
        c->outcome = c->account_refused;
        return domain_response_error(cmd, c->account_refused, c->account_refused_message, NULL);
    }

    /* 1. the user, the card, the amount: refusals that cost no try */
    struct identity_user user;
    enum qb_error err = identity_user_get(store, c->user_id, &user);
    if (err == QB_E_NOT_FOUND)
        return pay_refuse(c, QB_E_UNAUTHORIZED);
    if (err != QB_OK)
        return err;
    err = wallet_card_get(store, c->card_id, c->user_id, false, &c->card);
    if (err == QB_E_NOT_FOUND)
        return pay_refuse(c, QB_E_NOT_FOUND);
    if (err != QB_OK)
        return err;
    /* A verified wallet moves money only to and from cards in its own
     * name. Binding checks that once a name is verified (cards.c); a card
     * bound before is checked here, in the command, because here the
     * check is atomic with the KYC it depends on: a KYC committed by the
     * writer just before this command is seen, and none can slip in
     * between the check and the hold. Unsealing two short names is a
     * secretbox open each — microseconds, no I/O — as binding does on the
     * writer too. A payment started before the verification finishes as
     * it began: the money was committed then. */
    bool usable = false;
    err = wallet_cards_usable(env, store, c->user_id, user.id_number_last4[0] != '\0', &c->card, 1,
                              &usable);
    if (err != QB_OK)
        return err;
    if (!usable)
        return pay_refuse(c, QB_E_CARD_HOLDER_MISMATCH);
    if (c->currency == NULL || strcmp(c->currency->code, "CNY") != 0)
        return pay_refuse(c, QB_E_BAD_CURRENCY);
    if (c->amount_minor > env->settings.limit_per_payment_minor)
        return pay_refuse(c, QB_E_LIMIT_EXCEEDED);
    QB_ASSERT(c->account_id == 0 || c->kind == WALLET_WITHDRAWAL);
    int64_t account_id = c->account_id != 0 ? c->account_id : user.account_id;
    struct ledger_account_view account;
    err = ledger_txn_account_get(txn, account_id, &account);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err;
    err = S_account_open(txn, env, &user, &account, c->kind,
                         c->account_id != 0 ? c->account_label : NULL);
    if (err == QB_E_ACCOUNT_FROZEN && c->account_id != 0 && user.status == IDENTITY_ACTIVE) {
        /* The owner's own wallet is open: what refuses is their merchant,
         * and "the account is frozen" would send them looking at the
         * wrong one. */
        c->outcome = err;
        return domain_response_error(
            cmd, err,
            (account.flags & LEDGER_ACCOUNT_CLOSED) != 0
                ? "this merchant is closed for good: its balance was emptied when it closed"
                : "this merchant is suspended by Qianbao: its balance stays for its refunds "
                  "until it is resumed",
            NULL);
    }
    if (err == QB_E_ACCOUNT_FROZEN)
        return pay_refuse(c, err);
    if (err != QB_OK)
        return err;

    /* 2. the payment password, counted */
    err = identity_txn_payment_password_verify(txn, env, c->user_id, c->payment_password,
                                               &c->password_try);
    if (err == QB_E_STORAGE || err == QB_E_INTERNAL)
        return err;
    if (err != QB_OK)
        return pay_refuse(c, err == QB_E_NOT_FOUND ? QB_E_UNAUTHORIZED : err);

    /* 3. a withdrawal at KYC level 1, from the user's own balance or their
     * merchant's (it reaches their card all the same): within what is left
     * of the lifetime limit (limits.h), checked and counted in this
     * command, so that parallel withdrawals cannot pass it together; and
     * its fee, on the part of it over what is left of the user's free
     * allowance, which the same count measures */
    bool counts_withdrawn = c->kind == WALLET_WITHDRAWAL;
    int64_t free_left = 0;
    if (counts_withdrawn &&
        (user.kyc_level <= 1 || env->settings.withdrawal_free_quota_minor > 0)) {
        struct wallet_spending spending;
        err = wallet_txn_spending_get(txn, &user, &spending);
        if (err != QB_OK)
            return err;
        /* Above level 1 the cap is the per-payment one, checked in step 1. */
        if (user.kyc_level <= 1 &&
            c->amount_minor >
                wallet_withdrawal_cap(&env->settings, &spending, user.kyc_level, &c->refused_limit))
            return pay_refuse(c, QB_E_LIMIT_EXCEEDED);
        c->refused_limit = NULL;
        free_left = wallet_withdrawal_free_left(&env->settings, &spending);
    }
    int64_t fee = 0;
    if (c->kind == WALLET_WITHDRAWAL &&
        !wallet_withdrawal_fee(&env->settings, c->amount_minor, free_left, &fee))
        return pay_refuse(c, QB_E_OVERFLOW);
    int64_t total;
    if (!money_add(c->amount_minor, fee, &total))
        return pay_refuse(c, QB_E_OVERFLOW);

    /* 4. the payment row, and for a withdrawal the hold */
    struct wallet_payment *p = &c->payment;
    err = wallet_txn_payment_new(txn, env->rand, p);
    if (err != QB_OK)
        return err;
    p->kind = c->kind;
    snprintf(p->user_id, sizeof p->user_id, "%s", c->user_id);
    snprintf(p->card_id, sizeof p->card_id, "%s", c->card.id);
    if (c->account_id != 0)
        snprintf(p->counterparty_id, sizeof p->counterparty_id, "%s", c->account_label);
    p->currency = c->currency;
    p->amount_minor = c->amount_minor;
    p->fee_minor = fee;
    p->status = WALLET_PROCESSING;
    p->next_check_at_ms = p->created_at_ms + WALLET_BANK_GRACE_MS;
    if (c->kind == WALLET_WITHDRAWAL) {
        err = ledger_txn_hold(txn, WALLET_CODE_WITHDRAWAL, p->id, account_id,
                              env->accounts.bank_clearing, total, 0, &p->hold_id);
        if (err == QB_E_INSUFFICIENT_BALANCE && fee > 0) {
            struct ledger_account_view view;
            int64_t spendable;
            err = ledger_txn_account_get(txn, account_id, &view);
            if (err != QB_OK)
                return err;
            if (money_sub(view.available_minor, view.floor_minor, &spendable) &&
                spendable >= c->amount_minor)
                return S_refuse_fee(c, fee);
            return pay_refuse(c, QB_E_INSUFFICIENT_BALANCE);
        }
        if (err == QB_E_INSUFFICIENT_BALANCE || err == QB_E_ACCOUNT_FROZEN)
            return pay_refuse(c, err);
        if (err != QB_OK)
            return err;
        QB_ASSERT(p->hold_id > 0);
    }
    if (counts_withdrawn) {
        /* With an allowance set, the part over what was left of it paid the
         * fee and uses none of it: a failure of an earlier withdrawal gives
         * that one's part back whole. Without one, all of it counts, as
         * withdrawals before an allowance is set do (decision 0014). */
        int64_t over = env->settings.withdrawal_free_quota_minor > 0 && p->amount_minor > free_left
                           ? p->amount_minor - free_left
                           : 0;
        err = wallet_txn_withdrawal_count(txn, user.id, p->seq, p->amount_minor, over);
        if (err != QB_OK)
            return err;
    }
    err = wallet_txn_payment_insert(txn, p);
    if (err != QB_OK)
        return err;
    c->outcome = QB_OK;
    json_t *body = wallet_payment_json(p, &c->card);
    err = body != NULL ? domain_response_set(cmd, 201, body) : QB_E_INTERNAL;
    json_decref(body);
    if (err == QB_OK)
        log_event(LOG_INFO, "wallet.payment.started", "payment_id=%s type=%s amount=%lld fee=%lld",
                  p->id, wallet_payment_kind_name(p->kind), (long long)p->amount_minor,
                  (long long)p->fee_minor);
    return err;
}

void wallet_pay_cmd_init(struct wallet_pay_cmd *c, const struct domain_env *env,
                         enum wallet_payment_kind kind)
{
    QB_ASSERT(c != NULL && env != NULL);
    QB_ASSERT(kind == WALLET_TOPUP || kind == WALLET_WITHDRAWAL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, pay_run, NULL);
    c->env = env;
    c->kind = kind;
    c->outcome = QB_E_INTERNAL;
}

void wallet_pay_cmd_release(struct wallet_pay_cmd *c)
{
    crypto_wipe(c->payment_password, sizeof c->payment_password);
    ledger_cmd_release(&c->cmd);
}

/* --- step 2: the bank -------------------------------------------------------------- */

void wallet_bank_call(const struct domain_env *env, struct store_pool *pool,
                      const struct wallet_payment *p, bool query, struct wallet_bank_answer *out)
{
    QB_ASSERT(env != NULL && pool != NULL && p != NULL && out != NULL);
    QB_ASSERT(p->kind == WALLET_TOPUP || p->kind == WALLET_WITHDRAWAL);
    memset(out, 0, sizeof *out);
    if (env->bank == NULL || env->bank->ops == NULL) {
        log_event(LOG_ERROR, "wallet.bank.none", "payment_id=%s", p->id);
        return;
    }
    /* The sealed number is read and opened with a read connection that
     * goes back before the bank is called: a slow bank must not hold the
     * connections every other request reads with. */
    struct store *reader;
    if (store_pool_acquire(pool, WALLET_BANK_READER_WAIT_MS, &reader) != QB_OK) {
        /* Not called: unanswered, so the worker asks the bank later (a
         * query that finds nothing fails the payment). */
        log_event(LOG_WARN, "wallet.bank.not_called", "payment_id=%s reason=no_reader", p->id);
        return;
    }
    char number[BANK_CARD_NUMBER_SIZE_MAX];
    enum qb_error read = wallet_card_number(env, reader, p->card_id, number);
    store_pool_release(pool, reader);
    if (read != QB_OK)
        return;
    int64_t now_ms = clock_now_ms(env->clock);
    if (!query && now_ms - p->created_at_ms > WALLET_BANK_SUBMIT_WINDOW_MS) {
        /* Too late to be over before the worker's first query (topup.h). */
        crypto_wipe(number, sizeof number);
        log_event(LOG_WARN, "wallet.bank.not_called", "payment_id=%s reason=late waited_ms=%lld",
                  p->id, (long long)(now_ms - p->created_at_ms));
        return;
    }
    struct bank_request req = {
        .op = p->kind == WALLET_TOPUP ? BANK_OP_DEBIT : BANK_OP_CREDIT,
        .ref = p->id,
        .card_number = number,
        .currency = p->currency,
        .amount_minor = p->amount_minor, /* the card gets the amount; Qianbao keeps the fee */
        .created_at_ms = p->created_at_ms,
        .now_ms = now_ms,
    };
    enum qb_error err = query ? env->bank->ops->query(env->bank, &req, &out->result)
                              : env->bank->ops->submit(env->bank, &req, &out->result);
    crypto_wipe(number, sizeof number);
    out->answered = err == QB_OK;
    if (err == QB_OK)
        log_event(LOG_INFO, "wallet.bank.answer", "payment_id=%s call=%s status=%s failure=%s",
                  p->id, query ? "query" : "submit", bank_status_name(out->result.status),
                  out->result.status == BANK_FAILED || out->result.status == BANK_RETURNED
                      ? error_api_code(out->result.failure)
                      : "");
    else
        log_event(LOG_WARN, "wallet.bank.no_answer", "payment_id=%s call=%s error=%s", p->id,
                  query ? "query" : "submit", error_name(err));
}

/* --- between steps 1 and 2: the last word before a payment is sent ----------------- */

/* Payment p's user into *user and the account its money comes from or goes
 * to as step 1 found it: the user's balance, or the merchant's its
 * counterparty_id names (a merchant's withdrawal). */
static enum qb_error S_payment_account(struct ledger_txn *txn, const struct wallet_payment *p,
                                       struct identity_user *user, int64_t *account_id)
{
    struct store *store = ledger_txn_store(txn);
    enum qb_error err = identity_user_get(store, p->user_id, user);
    *account_id = user->account_id;
    if (err == QB_OK && p->counterparty_id[0] != '\0')
        err = ledger_account_find(store, p->counterparty_id, p->currency, LEDGER_ACCOUNT_MERCHANT,
                                  account_id);
    return err;
}

static enum qb_error finish_failed(struct ledger_txn *txn, struct wallet_payment *p,
                                   enum qb_error failure);

static enum qb_error send_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct wallet_send_cmd *c = (struct wallet_send_cmd *)cmd;
    const struct domain_env *env = c->env;
    struct wallet_payment *p = &c->payment;
    c->send = false;
    enum qb_error err = wallet_txn_payment_get(txn, c->payment_id, p);
    if (err != QB_OK)
        return err;
    QB_ASSERT(p->kind == WALLET_TOPUP || p->kind == WALLET_WITHDRAWAL);
    if (p->status != WALLET_PROCESSING)
        return QB_OK; /* resolved already (the worker, after a long wait): nothing to send */

    struct identity_user user;
    int64_t account_id;
    err = S_payment_account(txn, p, &user, &account_id);
    struct ledger_account_view account;
    if (err == QB_OK)
        err = ledger_txn_account_get(txn, account_id, &account);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err; /* step 1 read them all */
    err = S_account_open(txn, env, &user, &account, p->kind,
                         p->counterparty_id[0] != '\0' ? p->counterparty_id : NULL);
    if (err == QB_OK) {
        c->send = true;
        return QB_OK; /* nothing written */
    }
    if (err != QB_E_ACCOUNT_FROZEN)
        return err;
    err = finish_failed(txn, p, QB_E_ACCOUNT_FROZEN);
    if (err != QB_OK)
        return err;
    p->updated_at_ms = ledger_txn_now_ms(txn);
    err = wallet_txn_payment_update(txn, p);
    if (err == QB_OK)
        log_event(LOG_INFO, "wallet.payment.finished",
                  "payment_id=%s type=%s status=%s failure=%s reason=frozen_before_sent", p->id,
                  wallet_payment_kind_name(p->kind), wallet_payment_status_name(p->status),
                  p->failure_code);
    return err;
}

void wallet_send_cmd_init(struct wallet_send_cmd *c, const struct domain_env *env,
                          const char *payment_id)
{
    QB_ASSERT(c != NULL && env != NULL && payment_id != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, send_run, NULL);
    c->env = env;
    snprintf(c->payment_id, sizeof c->payment_id, "%s", payment_id);
}

/* --- step 3: finish ---------------------------------------------------------------- */

static enum qb_error finish_succeeded(struct ledger_txn *txn, const struct domain_env *env,
                                      struct wallet_payment *p, int64_t now_ms)
{
    enum qb_error err;
    if (p->kind == WALLET_TOPUP) {
        struct identity_user user;
        err = identity_user_get(ledger_txn_store(txn), p->user_id, &user);
        if (err != QB_OK)
            return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err;
        const struct ledger_leg legs[] = {
            {env->accounts.bank_clearing, -p->amount_minor},
            {user.account_id, p->amount_minor},
        };
        err = ledger_txn_post(txn, WALLET_CODE_TOPUP, p->id, legs, QB_ARRAY_COUNT(legs),
                              &p->entry_id);
        if (err == QB_E_ACCOUNT_FROZEN || err == QB_E_OVERFLOW) {
            /* Nothing was posted; the bank has the money. Try again later. */
            log_event(LOG_ERROR, "wallet.topup.unpostable", "payment_id=%s error=%s", p->id,
                      error_name(err));
            p->next_check_at_ms = now_ms + WALLET_UNPOSTABLE_RETRY_MS;
            return QB_OK;
        }
        if (err != QB_OK)
            return err;
    } else {
        int64_t total;
        bool ok = money_add(p->amount_minor, p->fee_minor, &total);
        QB_ASSERT(ok);
        err = ledger_txn_capture(txn, p->hold_id, total, WALLET_CODE_WITHDRAWAL, p->id,
                                 &p->entry_id);
        if (err != QB_OK)
            return err; /* a PROCESSING withdrawal's hold is open: anything else is a bug */
        if (p->fee_minor > 0) {
            const struct ledger_leg legs[] = {
                {env->accounts.bank_clearing, -p->fee_minor},
                {env->accounts.fee_income, p->fee_minor},
            };
            int64_t fee_entry_id;
            err = ledger_txn_post(txn, WALLET_CODE_WITHDRAWAL_FEE, p->id, legs,
                                  QB_ARRAY_COUNT(legs), &fee_entry_id);
            if (err != QB_OK)
                return err;
        }
    }
    QB_ASSERT(p->entry_id > 0);
    p->status = WALLET_SUCCESS;
    p->next_check_at_ms = 0;
    return QB_OK;
}

/* Records payment c->payment, changed by finish_run at now_ms from what
 * its user last saw (updated_at is when that view changed), and tells its
 * user by a notice when they were answered PROCESSING or it was paid. */
static enum qb_error S_finish_record(struct ledger_txn *txn, struct wallet_finish_cmd *c,
                                     int64_t now_ms)
{
    struct wallet_payment *p = &c->payment;
    p->updated_at_ms = now_ms;
    c->changed = true;
    enum qb_error err = wallet_txn_payment_update(txn, p);
    bool topup = p->kind == WALLET_TOPUP, ok = p->status == WALLET_SUCCESS;
    /* (Not of one paid and taken back whose return waits for its account:
     * its user is told when the return is applied.) */
    if (err == QB_OK && c->outcome == QB_OK && (c->by_worker || p->status == WALLET_RETURNED)) {
        enum wallet_notice_type type =
            p->status == WALLET_RETURNED ? WALLET_NOTICE_WITHDRAWAL_RETURNED
            : topup ? (ok ? WALLET_NOTICE_TOPUP_SUCCEEDED : WALLET_NOTICE_TOPUP_FAILED)
                    : (ok ? WALLET_NOTICE_WITHDRAWAL_SUCCEEDED : WALLET_NOTICE_WITHDRAWAL_FAILED);
        err = wallet_txn_notice_payment(txn, c->env->rand, p->user_id, type, p);
    }
    if (err == QB_OK)
        log_event(LOG_INFO, "wallet.payment.finished", "payment_id=%s type=%s status=%s failure=%s",
                  p->id, wallet_payment_kind_name(p->kind), wallet_payment_status_name(p->status),
                  p->failure_code);
    return err;
}

static enum qb_error finish_failed(struct ledger_txn *txn, struct wallet_payment *p,
                                   enum qb_error failure)
{
    if (p->kind == WALLET_WITHDRAWAL) {
        enum qb_error err = ledger_txn_void(txn, p->hold_id, WALLET_CODE_WITHDRAWAL, p->id,
                                            &p->entry_id);
        /* taken back off what the user (a merchant's owner) withdrew */
        if (err == QB_OK)
            err = wallet_txn_withdrawal_uncount(txn, p->user_id, p->seq, p->amount_minor);
        if (err != QB_OK)
            return err;
    }
    p->status = WALLET_FAILED;
    snprintf(p->failure_code, sizeof p->failure_code, "%s", error_api_code(failure));
    p->next_check_at_ms = 0;
    return QB_OK;
}

/* Withdrawal p, paid (SUCCESS, its hold captured by p->entry_id), taken
 * back by the bank (退票) for failure: its amount from bank clearing and its
 * fee from fee income back to the account it left (a merchant's closed
 * since: its owner's wallet), in one entry that names the capture; what
 * the user withdrew and their free allowance given back as for a failure.
 * p becomes RETURNED, its entry_id the return's. Nothing written, and
 * c->outcome the ledger's refusal, when the account takes no credit now
 * (ACCOUNT_FROZEN: frozen that way, or a wallet closed): the money waits in
 * bank clearing for a later query. */
static enum qb_error finish_returned(struct ledger_txn *txn, struct wallet_finish_cmd *c,
                                     struct wallet_payment *p, enum qb_error failure)
{
    const struct domain_env *env = c->env;
    QB_ASSERT(p->kind == WALLET_WITHDRAWAL && p->status == WALLET_SUCCESS && p->entry_id > 0);
    struct identity_user user;
    int64_t account_id;
    enum qb_error err = S_payment_account(txn, p, &user, &account_id);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err; /* it was paid from them */
    /* A merchant closed since takes nothing, for good: the money is its
     * owner's, and goes to their wallet, as what was left of the
     * merchant at its closing did. */
    struct ledger_account_view from;
    if (account_id != user.account_id) {
        err = ledger_txn_account_get(txn, account_id, &from);
        if (err != QB_OK)
            return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err;
        if (from.flags & LEDGER_ACCOUNT_CLOSED)
            account_id = user.account_id;
    }
    int64_t total;
    bool ok = money_add(p->amount_minor, p->fee_minor, &total);
    QB_ASSERT(ok);
    struct ledger_leg legs[3] = {
        {env->accounts.bank_clearing, -p->amount_minor},
        {account_id, total},
        {env->accounts.fee_income, -p->fee_minor},
    };
    int64_t entry_id;
    err = ledger_txn_post_back(txn, WALLET_CODE_WITHDRAWAL_RETURN, p->id, legs,
                               p->fee_minor > 0 ? 3 : 2, p->entry_id, &entry_id);
    if (err == QB_E_ACCOUNT_FROZEN || err == QB_E_OVERFLOW) {
        log_event(LOG_ERROR, "wallet.withdrawal.return_unpostable", "payment_id=%s error=%s", p->id,
                  error_name(err));
        c->outcome = err;
        return QB_OK;
    }
    if (err == QB_OK)
        err = wallet_txn_withdrawal_uncount(txn, p->user_id, p->seq, p->amount_minor);
    if (err != QB_OK)
        return err;
    p->entry_id = entry_id;
    p->status = WALLET_RETURNED;
    snprintf(p->failure_code, sizeof p->failure_code, "%s", error_api_code(failure));
    return QB_OK;
}

/* Logs a bank's answer that contradicts what Qianbao settled p as (the
 * bank now says a paid one failed, or a failed one paid): nothing is
 * changed by it, but the operator's reconciliation will find it. */
static void S_answer_disagrees(const struct wallet_payment *p, const struct wallet_bank_answer *a)
{
    enum bank_status s = a->result.status;
    bool paid = p->status == WALLET_SUCCESS || p->status == WALLET_RETURNED;
    bool bank_paid = s == BANK_SUCCEEDED || s == BANK_RETURNED;
    if (!a->answered || s == BANK_PENDING || paid == bank_paid)
        return;
    log_event(LOG_WARN, "wallet.bank.disagrees", "payment_id=%s status=%s bank=%s", p->id,
              wallet_payment_status_name(p->status), bank_status_name(s));
}

static enum qb_error finish_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct wallet_finish_cmd *c = (struct wallet_finish_cmd *)cmd;
    const struct domain_env *env = c->env;
    struct wallet_payment *p = &c->payment;
    c->outcome = QB_OK;
    c->changed = false;
    enum qb_error err = wallet_txn_payment_get(txn, c->payment_id, p);
    if (err != QB_OK)
        return err;
    const struct bank_result *r = &c->answer.result;
    bool returned = c->answer.answered && r->status == BANK_RETURNED;
    enum qb_error reason = r->failure != QB_OK ? r->failure : QB_E_CARD_DECLINED;
    int64_t now_ms = ledger_txn_now_ms(txn);
    /* A withdrawal about to be given back (failed, or taken back) whose part
     * over the free allowance was edited by hand beyond it: nothing is
     * settled, as its counts could not be given back right, until an
     * operator mends the row (the check names it); asked about again after
     * WALLET_UNPOSTABLE_RETRY_MS, not at every pass of the worker. */
    bool gives_back = p->kind == WALLET_WITHDRAWAL && c->answer.answered &&
                      ((p->status == WALLET_SUCCESS && returned) ||
                       (p->status == WALLET_PROCESSING &&
                        (r->status == BANK_FAILED || returned || r->status == BANK_UNKNOWN)));
    int64_t over = 0;
    if (gives_back) {
        err = wallet_txn_withdrawal_over(txn, p->seq, p->amount_minor, &over);
        if (err == QB_E_INTERNAL) {
            c->outcome = QB_E_INTERNAL;
            if (p->status != WALLET_PROCESSING)
                return QB_OK;
            p->next_check_at_ms = now_ms + WALLET_UNPOSTABLE_RETRY_MS;
            return wallet_txn_payment_update(txn, p);
        }
        if (err != QB_OK)
            return err;
    }
    if (returned && p->kind == WALLET_WITHDRAWAL && p->status == WALLET_SUCCESS) {
        err = finish_returned(txn, c, p, reason);
        if (err != QB_OK || c->outcome != QB_OK)
            return err;
        return S_finish_record(txn, c, now_ms);
    }
    if (p->status != WALLET_PROCESSING) {
        S_answer_disagrees(p, &c->answer);
        return QB_OK; /* resolved already: by the request thread or the worker */
    }
    QB_ASSERT(p->kind == WALLET_TOPUP || p->kind == WALLET_WITHDRAWAL);
    if (c->answer.answered && r->bank_ref[0] != '\0')
        snprintf(p->bank_ref, sizeof p->bank_ref, "%s", r->bank_ref);
    if (!c->answer.answered) {
        /* A call that timed out may still be on its way to the bank: wait
         * out the grace again before asking, or the query could overtake it. */
        p->next_check_at_ms =
            wallet_bank_next_check_ms(p->created_at_ms, now_ms, WALLET_BANK_GRACE_MS);
    } else if (r->status == BANK_PENDING) {
        p->next_check_at_ms =
            wallet_bank_next_check_ms(p->created_at_ms, now_ms, env->settings.withdrawal_check_ms);
    } else if (r->status == BANK_SUCCEEDED) {
        err = finish_succeeded(txn, env, p, now_ms);
    } else if (returned && p->kind == WALLET_WITHDRAWAL) {
        /* Paid and taken back before Qianbao heard of either: both. A
         * return it cannot post yet leaves the withdrawal SUCCESS, for a
         * later query to take back. */
        err = finish_succeeded(txn, env, p, now_ms);
        if (err == QB_OK)
            err = finish_returned(txn, c, p, reason);
    } else if (r->status == BANK_FAILED || returned) {
        /* (A debit taken back: the card has the money, the balance never did.) */
        err = finish_failed(txn, p, reason);
    } else {
        QB_ASSERT(r->status == BANK_UNKNOWN);
        err = finish_failed(txn, p, QB_E_BANK_UNAVAILABLE); /* the bank never got it */
    }
    if (err != QB_OK)
        return err;
    /* A bank still pending moves only the next check. */
    if (p->status == WALLET_PROCESSING)
        return wallet_txn_payment_update(txn, p);
    return S_finish_record(txn, c, now_ms);
}

void wallet_finish_cmd_init(struct wallet_finish_cmd *c, const struct domain_env *env,
                            const char *payment_id, const struct wallet_bank_answer *answer)
{
    QB_ASSERT(c != NULL && env != NULL && payment_id != NULL && answer != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, finish_run, NULL);
    c->env = env;
    snprintf(c->payment_id, sizeof c->payment_id, "%s", payment_id);
    c->answer = *answer;
}

/* --- the operator's check ---------------------------------------------------------- */

/* The accounts a bank payment moves money between, as the check reads them. */
struct S_check_accounts {
    int64_t bank_clearing; /* 0: none (then no payment can match) */
    int64_t fee_income;
};

/* Whether e is an entry of kind, code and ref (the payment) whose posting
 * on account_id is amount_minor (with held_delta_minor) and whose other
 * posting is on other_id, in the payment's currency. */
static bool S_entry_is(const struct ledger_entry *e, enum ledger_entry_kind kind, uint16_t code,
                       const struct wallet_payment *p, int64_t account_id, int64_t amount_minor,
                       int64_t held_delta_minor, int64_t other_id)
{
    const struct ledger_posting *mine = ledger_entry_posting(e, account_id);
    const struct ledger_posting *other = ledger_entry_posting(e, other_id);
    return e->kind == kind && e->code == code && strcmp(e->ref, p->id) == 0 &&
           e->posting_count == 2 && account_id != other_id && mine != NULL && other != NULL &&
           mine->amount_minor == amount_minor && mine->held_delta_minor == held_delta_minor &&
           other->amount_minor == -amount_minor && mine->currency_numeric == p->currency->numeric;
}

/* What is wrong with top-up p, whose user's account is account_id: NULL
 * when nothing. */
static enum qb_error S_topup_check(const struct S_check_accounts *accounts,
                                   const struct wallet_payment_parties *row, int64_t account_id,
                                   const char **wrong)
{
    const struct wallet_payment *p = &row->payment;
    *wrong = NULL;
    if (p->hold_id != 0 || p->fee_minor != 0) {
        *wrong = "it names a hold or a fee, which no top-up has";
        return QB_OK;
    }
    if (p->status != WALLET_SUCCESS) {
        if (p->entry_id != 0)
            *wrong = "it names an entry, though it was never credited";
        else if (p->status == WALLET_FAILED && p->failure_code[0] == '\0')
            *wrong = "it failed without a failure code";
        return QB_OK;
    }
    if (!row->entry_read || row->entry.id != p->entry_id ||
        !S_entry_is(&row->entry, LEDGER_ENTRY_TRANSFER, WALLET_CODE_TOPUP, p, account_id,
                    p->amount_minor, 0, accounts->bank_clearing))
        *wrong = "its credit is not in the journal as it should be (an entry of its code and ref, "
                 "bank clearing to its account, of its amount)";
    return QB_OK;
}

/* Whether e is returned withdrawal p's return: an entry of its code and
 * ref naming an earlier one, with p's failure code, bank clearing -amount
 * and fee income -fee (when one was paid) to account_id +total, and no
 * other posting. */
static bool S_return_is(const struct S_check_accounts *accounts, const struct wallet_payment *p,
                        int64_t account_id, int64_t owner_account_id, int64_t total,
                        const struct ledger_entry *e)
{
    /* To the account it left, or a closed merchant's owner's wallet. */
    const struct ledger_posting *mine = ledger_entry_posting(e, account_id);
    if (mine == NULL && owner_account_id > 0 && owner_account_id != account_id)
        mine = ledger_entry_posting(e, account_id = owner_account_id);
    const struct ledger_posting *clearing = ledger_entry_posting(e, accounts->bank_clearing);
    const struct ledger_posting *fee = ledger_entry_posting(e, accounts->fee_income);
    size_t legs = p->fee_minor > 0 ? 3 : 2;
    return e->kind == LEDGER_ENTRY_TRANSFER && e->code == WALLET_CODE_WITHDRAWAL_RETURN &&
           strcmp(e->ref, p->id) == 0 && e->ref_entry_id > 0 && e->ref_entry_id < e->id &&
           p->failure_code[0] != '\0' && e->posting_count == legs && mine != NULL &&
           clearing != NULL && account_id != accounts->bank_clearing &&
           account_id != accounts->fee_income && mine->amount_minor == total &&
           mine->held_delta_minor == 0 && mine->currency_numeric == p->currency->numeric &&
           clearing->amount_minor == -p->amount_minor &&
           (p->fee_minor == 0 || (fee != NULL && fee->amount_minor == -p->fee_minor));
}

/* What is wrong with withdrawal p, from account_id: NULL when nothing. */
static enum qb_error S_withdrawal_check(struct store *reader,
                                        const struct S_check_accounts *accounts,
                                        const struct wallet_payment *p, int64_t account_id,
                                        int64_t owner_account_id, const char **wrong)
{
    *wrong = NULL;
    int64_t total;
    if (p->hold_id <= 0 || p->amount_minor <= 0 || p->fee_minor < 0 ||
        !money_add(p->amount_minor, p->fee_minor, &total)) {
        *wrong = "it names no hold, or holds no amount";
        return QB_OK;
    }
    /* A returned one names its return, which names the capture. */
    struct ledger_entry back;
    int64_t end_id = p->entry_id;
    if (p->status == WALLET_RETURNED) {
        enum qb_error err = ledger_entry_read(reader, p->entry_id, &back);
        if (err == QB_E_NOT_FOUND ||
            (err == QB_OK &&
             !S_return_is(accounts, p, account_id, owner_account_id, total, &back))) {
            *wrong = "its return is not in the journal as it should be (an entry of its code and "
                     "ref naming its capture, bank clearing and fee income to its account or a "
                     "closed merchant's owner's wallet, of amount + fee), or it has no failure "
                     "code";
            return QB_OK;
        }
        if (err != QB_OK)
            return err;
        end_id = back.ref_entry_id;
    }
    struct ledger_entry hold, end;
    bool open = false;
    enum qb_error err = ledger_hold_read(reader, p->hold_id, end_id, &hold, &end, &open);
    if (err == QB_E_NOT_FOUND) {
        *wrong = "an entry it names is not in the journal";
        return QB_OK;
    }
    if (err != QB_OK)
        return err;
    if (!S_entry_is(&hold, LEDGER_ENTRY_HOLD, WALLET_CODE_WITHDRAWAL, p, account_id, 0, total,
                    accounts->bank_clearing)) {
        *wrong = "its hold is not in the journal as it should be (a hold of its code and ref, of "
                 "amount + fee, from its account for bank clearing)";
        return QB_OK;
    }
    if (p->status == WALLET_PROCESSING) {
        if (!open || p->entry_id != 0)
            *wrong = "its hold is not open, or an entry ends it, while it waits on the bank";
        return QB_OK;
    }
    bool ends_hold = !open && end.ref_entry_id == hold.id;
    if (p->status == WALLET_FAILED) {
        if (!ends_hold ||
            !S_entry_is(&end, LEDGER_ENTRY_VOID, WALLET_CODE_WITHDRAWAL, p, account_id, 0, -total,
                        accounts->bank_clearing) ||
            p->failure_code[0] == '\0')
            *wrong = "its hold is not released as it should be (open, captured, or released by "
                     "another entry than it names, or no failure code)";
        return QB_OK;
    }
    if (!ends_hold || end.id != end_id ||
        !S_entry_is(&end, LEDGER_ENTRY_CAPTURE, WALLET_CODE_WITHDRAWAL, p, account_id, -total,
                    -total, accounts->bank_clearing)) {
        *wrong = "its hold is not captured as it should be (open, released, or captured for "
                 "another amount than amount + fee, or by another entry than it names)";
        return QB_OK;
    }
    if (p->fee_minor == 0)
        return QB_OK;
    /* Step 3 posts the fee in the command that captures, right after the
     * capture: the ledger numbers a command's entries one after another. */
    struct ledger_entry fee;
    err = ledger_entry_read(reader, end.id + 1, &fee);
    if (err == QB_E_NOT_FOUND ||
        (err == QB_OK &&
         !S_entry_is(&fee, LEDGER_ENTRY_TRANSFER, WALLET_CODE_WITHDRAWAL_FEE, p,
                     accounts->fee_income, p->fee_minor, 0, accounts->bank_clearing))) {
        *wrong = "its fee is not in the journal as it should be (the entry after its capture, of "
                 "its code and ref, bank clearing to fee income, of its fee)";
        return QB_OK;
    }
    return err;
}

/* What the journal should hold of the bank payments' codes, counted from
 * the payments, and what it does. */
struct S_check_counts {
    int64_t topups_credited;
    int64_t withdrawals;
    int64_t withdrawals_captured;
    int64_t withdrawals_released;
    int64_t fees;
    int64_t returns;
};

/* Checks bank payment row, counting it into want. */
static enum qb_error S_bank_payment_check(struct store *reader,
                                          const struct S_check_accounts *accounts,
                                          const struct wallet_payment_parties *row,
                                          struct S_check_counts *want, char *problem,
                                          size_t problem_size)
{
    const struct wallet_payment *p = &row->payment;
    if (!row->well_formed) {
        snprintf(problem, problem_size,
                 "bank payment %s: its row is not one Qianbao writes (a status, currency or "
                 "kind it does not know)",
                 p->id);
        return QB_E_INTERNAL;
    }
    enum qb_error err = QB_OK;
    QB_ASSERT(p->kind == WALLET_TOPUP || p->kind == WALLET_WITHDRAWAL);
    bool topup = p->kind == WALLET_TOPUP;
    /* Whose money: the user's balance, or the merchant's account the
     * payment's counterparty_id names (wallet_pay_cmd.account_label, also
     * the owner of its account in the ledger). */
    int64_t account_id = 0;
    if (!topup && p->counterparty_id[0] != '\0') {
        err = ledger_account_find(reader, p->counterparty_id, p->currency, LEDGER_ACCOUNT_MERCHANT,
                                  &account_id);
    } else {
        account_id = row->user_account;
        err = account_id > 0 ? QB_OK : QB_E_NOT_FOUND;
    }
    const char *wrong = NULL;
    if (err == QB_OK && p->status != WALLET_PROCESSING && p->status != WALLET_SUCCESS &&
        p->status != WALLET_FAILED && (topup || p->status != WALLET_RETURNED))
        wrong = "its status is none Qianbao writes";
    else if (err == QB_OK)
        err = topup
                  ? S_topup_check(accounts, row, account_id, &wrong)
                  : S_withdrawal_check(reader, accounts, p, account_id, row->user_account, &wrong);
    if (err == QB_E_STORAGE)
        return err;
    if (err != QB_OK && wrong == NULL)
        wrong = "its account, or an entry it names, cannot be read";
    if (wrong != NULL) {
        snprintf(problem, problem_size, "%s %s (%s): %s", topup ? "top-up" : "withdrawal", p->id,
                 wallet_payment_status_name(p->status), wrong);
        return QB_E_INTERNAL;
    }
    if (topup) {
        want->topups_credited += p->status == WALLET_SUCCESS;
    } else {
        want->withdrawals++;
        bool paid = p->status == WALLET_SUCCESS || p->status == WALLET_RETURNED;
        want->withdrawals_captured += paid;
        want->withdrawals_released += p->status == WALLET_FAILED;
        want->fees += paid && p->fee_minor > 0;
        want->returns += p->status == WALLET_RETURNED;
    }
    return QB_OK;
}

/* Compares the journal's entries of the bank payments' codes with want:
 * each payment named its own (their ref the payment), so one beyond them
 * is money nobody's payment moved. One scan of the journal for all of
 * them, not one per code and kind. */
static enum qb_error S_bank_entries_check(struct store *reader, const struct S_check_counts *want,
                                          char *problem, size_t problem_size)
{
    _Static_assert(WALLET_CODE_TOPUP == 10 && WALLET_CODE_WITHDRAWAL == 11 &&
                       WALLET_CODE_WITHDRAWAL_FEE == 12 && WALLET_CODE_WITHDRAWAL_RETURN == 13,
                   "the codes' range");
    const char *rows = "the top-ups and withdrawals";
    const struct wallet_entries_want counts[] = {
        {WALLET_CODE_TOPUP, LEDGER_ENTRY_TRANSFER, "top-ups' credits", rows, want->topups_credited},
        {WALLET_CODE_WITHDRAWAL, LEDGER_ENTRY_HOLD, "withdrawals' holds", rows, want->withdrawals},
        {WALLET_CODE_WITHDRAWAL, LEDGER_ENTRY_CAPTURE, "withdrawals' captures", rows,
         want->withdrawals_captured},
        {WALLET_CODE_WITHDRAWAL, LEDGER_ENTRY_VOID, "withdrawals' releases", rows,
         want->withdrawals_released},
        {WALLET_CODE_WITHDRAWAL_FEE, LEDGER_ENTRY_TRANSFER, "withdrawals' fees", rows, want->fees},
        {WALLET_CODE_WITHDRAWAL_RETURN, LEDGER_ENTRY_TRANSFER, "withdrawals' returns", rows,
         want->returns},
    };
    return wallet_entries_check(reader, WALLET_CODE_TOPUP, WALLET_CODE_WITHDRAWAL_RETURN, counts,
                                QB_ARRAY_COUNT(counts), "top-up or withdrawal", problem,
                                problem_size);
}

struct S_bank_walk {
    struct store *reader;
    const struct S_check_accounts *accounts;
    struct S_check_counts want;
    int64_t *payments;
    char *problem;
    size_t problem_size;
};

static enum qb_error S_bank_each(const struct wallet_payment_parties *row, void *arg)
{
    struct S_bank_walk *w = arg;
    enum qb_error err =
        S_bank_payment_check(w->reader, w->accounts, row, &w->want, w->problem, w->problem_size);
    if (err == QB_OK)
        (*w->payments)++;
    return err;
}

static enum qb_error S_bank_payments_check(struct store *reader, int64_t *payments, char *problem,
                                           size_t problem_size)
{
    struct S_check_accounts accounts = {0};
    const struct currency *cny = currency_find("CNY");
    QB_ASSERT(cny != NULL);
    enum qb_error err = ledger_account_find(reader, "system:bank_clearing", cny,
                                            LEDGER_ACCOUNT_SYSTEM, &accounts.bank_clearing);
    if (err == QB_OK || err == QB_E_NOT_FOUND)
        err = ledger_account_find(reader, "system:fee_income", cny, LEDGER_ACCOUNT_SYSTEM,
                                  &accounts.fee_income);
    if (err != QB_OK && err != QB_E_NOT_FOUND)
        return QB_E_STORAGE;
    _Static_assert(WALLET_TOPUP == 1 && WALLET_WITHDRAWAL == 2, "the SQL's constants");
    struct S_bank_walk w = {reader, &accounts, {0}, payments, problem, problem_size};
    /* The terms of the partial index payments_bank: the bank's payments
     * found among the transfers that outnumber them. */
    err = wallet_payments_each(reader, "kind IN (1, 2)", true, S_bank_each, &w);
    if (err != QB_OK)
        return err;
    struct S_check_counts want = w.want;
    return S_bank_entries_check(reader, &want, problem, problem_size);
}

enum qb_error wallet_bank_payments_check(struct store *reader, int64_t *payments, char *problem,
                                         size_t problem_size)
{
    return wallet_check_in_snapshot(reader, S_bank_payments_check, payments, problem, problem_size);
}

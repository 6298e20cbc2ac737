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
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "identity/identity.h"
#include "wallet/limits.h"
#include "wallet/notice.h"
#include "wallet/topup.h"

bool wallet_withdrawal_fee(const struct domain_settings *settings, int64_t amount_minor,
                           int64_t *fee_minor)
{
    QB_ASSERT(settings != NULL && fee_minor != NULL);
    QB_ASSERT(settings->withdrawal_fee_ppm >= 0 && settings->withdrawal_fee_min_minor >= 0);
    if (amount_minor <= 0)
        return false;
    int64_t product;
    if (!money_mul(amount_minor, settings->withdrawal_fee_ppm, &product))
        return false;
    /* ceil(product / 10^6) for product >= 0, in integers */
    int64_t fee = product / 1000000 + (product % 1000000 != 0 ? 1 : 0);
    if (fee < settings->withdrawal_fee_min_minor)
        fee = settings->withdrawal_fee_min_minor;
    QB_ASSERT(fee >= 0);
    *fee_minor = fee;
    return true;
}

void wallet_withdrawal_max(const struct domain_settings *settings, int64_t available_minor,
                           int64_t cap_minor, int64_t *amount_minor, int64_t *fee_minor)
{
    QB_ASSERT(settings != NULL && amount_minor != NULL && fee_minor != NULL);
    QB_ASSERT(cap_minor >= 0 && cap_minor <= settings->limit_per_payment_minor);
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
        if (wallet_withdrawal_fee(settings, mid, &fee) && money_add(mid, fee, &total) &&
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

json_t *wallet_payment_json(const struct wallet_payment *p, const struct wallet_card *card)
{
    QB_ASSERT(p != NULL && p->currency != NULL);
    json_t *card_json = card != NULL && card->id[0] != '\0'
                            ? json_pack("{s:s, s:s, s:s}", "id", card->id, "bank", card->bank,
                                        "last4", card->last4)
                            : json_null();
    json_t *failure = p->status == WALLET_FAILED && p->failure_code[0] != '\0'
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
    err = wallet_cards_usable(env, store, c->user_id, user.kyc_level, &c->card, 1, &usable);
    if (err != QB_OK)
        return err;
    if (!usable)
        return pay_refuse(c, QB_E_CARD_HOLDER_MISMATCH);
    if (c->currency == NULL || strcmp(c->currency->code, "CNY") != 0)
        return pay_refuse(c, QB_E_BAD_CURRENCY);
    if (c->amount_minor > env->settings.limit_per_payment_minor)
        return pay_refuse(c, QB_E_LIMIT_EXCEEDED);
    int64_t fee = 0;
    if (c->kind == WALLET_WITHDRAWAL && !wallet_withdrawal_fee(&env->settings, c->amount_minor, &fee))
        return pay_refuse(c, QB_E_OVERFLOW);
    int64_t total;
    if (!money_add(c->amount_minor, fee, &total))
        return pay_refuse(c, QB_E_OVERFLOW);
    QB_ASSERT(c->account_id == 0 || c->kind == WALLET_WITHDRAWAL);
    int64_t account_id = c->account_id != 0 ? c->account_id : user.account_id;
    struct ledger_account_view account;
    err = ledger_txn_account_get(txn, account_id, &account);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err;
    uint32_t blocking = LEDGER_ACCOUNT_CLOSED | (c->kind == WALLET_TOPUP
                                                     ? LEDGER_ACCOUNT_CREDIT_FROZEN
                                                     : LEDGER_ACCOUNT_DEBIT_FROZEN);
    if (user.status == IDENTITY_FROZEN || (account.flags & blocking) != 0)
        return pay_refuse(c, QB_E_ACCOUNT_FROZEN);
    if (c->account_id != 0 && env->payout_check != NULL) {
        err = env->payout_check(txn, env, c->account_label);
        if (err == QB_E_ACCOUNT_FROZEN)
            return pay_refuse(c, err);
        if (err != QB_OK)
            return err;
    }

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
     * command, so that parallel withdrawals cannot pass it together */
    bool counts_withdrawn = c->kind == WALLET_WITHDRAWAL;
    /* Above level 1 the cap is the per-payment one, checked in step 1. */
    if (counts_withdrawn && user.kyc_level <= 1) {
        struct wallet_spending spending;
        err = wallet_txn_spending_get(txn, &user, &spending);
        if (err != QB_OK)
            return err;
        if (c->amount_minor >
            wallet_withdrawal_cap(&env->settings, &spending, user.kyc_level, &c->refused_limit))
            return pay_refuse(c, QB_E_LIMIT_EXCEEDED);
        c->refused_limit = NULL;
    }

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
        if (err == QB_E_INSUFFICIENT_BALANCE || err == QB_E_ACCOUNT_FROZEN)
            return pay_refuse(c, err);
        if (err != QB_OK)
            return err;
        QB_ASSERT(p->hold_id > 0);
    }
    if (counts_withdrawn) {
        err = wallet_txn_withdrawn_add(txn, user.id, p->amount_minor);
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
                  out->result.status == BANK_FAILED ? error_api_code(out->result.failure) : "");
    else
        log_event(LOG_WARN, "wallet.bank.no_answer", "payment_id=%s call=%s error=%s", p->id,
                  query ? "query" : "submit", error_name(err));
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

static enum qb_error finish_failed(struct ledger_txn *txn, struct wallet_payment *p,
                                   enum qb_error failure)
{
    if (p->kind == WALLET_WITHDRAWAL) {
        enum qb_error err = ledger_txn_void(txn, p->hold_id, WALLET_CODE_WITHDRAWAL, p->id,
                                            &p->entry_id);
        /* taken back off what the user (a merchant's owner) withdrew */
        if (err == QB_OK)
            err = wallet_txn_withdrawn_add(txn, p->user_id, -p->amount_minor);
        if (err != QB_OK)
            return err;
    }
    p->status = WALLET_FAILED;
    snprintf(p->failure_code, sizeof p->failure_code, "%s", error_api_code(failure));
    p->next_check_at_ms = 0;
    return QB_OK;
}

static enum qb_error finish_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct wallet_finish_cmd *c = (struct wallet_finish_cmd *)cmd;
    const struct domain_env *env = c->env;
    struct wallet_payment *p = &c->payment;
    enum qb_error err = wallet_txn_payment_get(txn, c->payment_id, p);
    if (err != QB_OK)
        return err;
    if (p->status != WALLET_PROCESSING)
        return QB_OK; /* resolved already: by the request thread or the worker */
    QB_ASSERT(p->kind == WALLET_TOPUP || p->kind == WALLET_WITHDRAWAL);
    int64_t now_ms = ledger_txn_now_ms(txn);
    const struct bank_result *r = &c->answer.result;
    if (c->answer.answered && r->bank_ref[0] != '\0')
        snprintf(p->bank_ref, sizeof p->bank_ref, "%s", r->bank_ref);
    if (!c->answer.answered) {
        /* A call that timed out may still be on its way to the bank: wait
         * out the grace again before asking, or the query could overtake it. */
        p->next_check_at_ms = now_ms + WALLET_BANK_GRACE_MS;
    } else if (r->status == BANK_PENDING) {
        p->next_check_at_ms = now_ms + env->settings.withdrawal_check_ms;
    } else if (r->status == BANK_SUCCEEDED) {
        err = finish_succeeded(txn, env, p, now_ms);
    } else if (r->status == BANK_FAILED) {
        err = finish_failed(txn, p, r->failure != QB_OK ? r->failure : QB_E_CARD_DECLINED);
    } else {
        QB_ASSERT(r->status == BANK_UNKNOWN);
        err = finish_failed(txn, p, QB_E_BANK_UNAVAILABLE); /* the bank never got it */
    }
    if (err != QB_OK)
        return err;
    /* updated_at is when the user's view changed: a bank still pending
     * moves only the next check. */
    if (p->status != WALLET_PROCESSING)
        p->updated_at_ms = now_ms;
    err = wallet_txn_payment_update(txn, p);
    if (err == QB_OK && c->by_worker && p->status != WALLET_PROCESSING) {
        bool topup = p->kind == WALLET_TOPUP, ok = p->status == WALLET_SUCCESS;
        enum wallet_notice_type type =
            topup ? (ok ? WALLET_NOTICE_TOPUP_SUCCEEDED : WALLET_NOTICE_TOPUP_FAILED)
                  : (ok ? WALLET_NOTICE_WITHDRAWAL_SUCCEEDED : WALLET_NOTICE_WITHDRAWAL_FAILED);
        err = wallet_txn_notice_payment(txn, env->rand, p->user_id, type, p);
    }
    if (err == QB_OK && p->status != WALLET_PROCESSING)
        log_event(LOG_INFO, "wallet.payment.finished", "payment_id=%s type=%s status=%s failure=%s",
                  p->id, wallet_payment_kind_name(p->kind), wallet_payment_status_name(p->status),
                  p->failure_code);
    return err;
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

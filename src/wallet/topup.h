/*
 * topup.h — top-ups and withdrawals through the bank connector, and the
 * worker that resolves the ones the bank has not answered yet.
 *
 * A payment with a bank crosses two systems that cannot share a
 * transaction, so it is three steps, each safe to repeat:
 *
 *   1. start (wallet_pay_cmd, a ledger command): checks the card, the
 *      amount, the account and the payment password, then writes the
 *      payments row PROCESSING — for a withdrawal together with a hold of
 *      amount + fee on the balance, so the money is spoken for at once.
 *      It is the idempotent command of the request.
 *   2. the bank (wallet_bank_call, on an offload thread of the HTTP server
 *      or the worker's, never the writer's nor an HTTP thread), once
 *      wallet_send_cmd found the account still as step 1 did: debit (top-up) or credit
 * (withdrawal) the card, named by the payment id, which is the bank's idempotency key; the number
 * is opened for this call alone.
 *   3. finish (wallet_finish_cmd): applies the bank's answer if the payment
 *      is still PROCESSING — SUCCEEDED posts bank clearing → user (top-up)
 *      or captures the hold and posts the fee to fee income (withdrawal);
 *      FAILED (or UNKNOWN: the bank never got it) marks it FAILED and voids
 *      the hold; PENDING or no answer leaves it PROCESSING with
 *      next_check_at_ms. A payment resolved already is left alone, so the
 *      HTTP thread and the worker may race to finish one payment and money
 *      still moves once.
 *   4. the bank takes a withdrawal back (退票: the receiving account was
 *      closed or frozen), days after paying it. It says so to a query
 *      (BANK_RETURNED), which an operator makes when the day's statement
 *      shows the return (POST /admin/payments/{id}/query): the finish
 *      command, given that answer for a SUCCESS withdrawal, posts the
 *      amount from bank clearing and the fee from fee income back to the
 *      account (WALLET_CODE_WITHDRAWAL_RETURN), gives back what it counted
 *      as withdrawn, and makes it RETURNED, once: a RETURNED one is left
 *      alone. (Given it for one still PROCESSING, it does both steps.)
 *
 * A new payment's first check is WALLET_BANK_GRACE_MS after its creation,
 * and again after a call that got no answer: longer than any connector call
 * (BANK_CALL_TIMEOUT_MS), so the worker's query never overtakes a
 * submission still on its way. That holds for a submission that starts
 * within WALLET_BANK_SUBMIT_WINDOW_MS of the creation; one that would start
 * later (every thread that calls banks busy with a slow one, no read
 * connection) is not made at all: the worker's query then finds nothing at
 * the bank and fails the payment, rather than fail one the bank then pays. While the bank says
 * PENDING, or does not answer, the worker asks again after an eighth of the payment's age
 * (wallet_bank_next_check_ms): at first every settings.withdrawal_check_ms, and never more
 * than WALLET_BANK_CHECK_MAX_MS apart, so a withdrawal the bank books on the next working day
 * costs it a few hundred queries over a weekend, not one every two seconds.
 *
 * A top-up the bank confirmed but the balance cannot take (the account was
 * credit-frozen in between) stays PROCESSING and is retried every
 * WALLET_UNPOSTABLE_RETRY_MS: the money is at the bank clearing account, and
 * lands once the account can receive it.
 */
#ifndef QB_WALLET_TOPUP_H
#define QB_WALLET_TOPUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "bank/bank.h"
#include "identity/identity.h"
#include "store/pool.h"
#include "wallet/cards.h"
#include "wallet/wallet.h"

#define WALLET_BANK_SUBMIT_WINDOW_MS 2000
#define WALLET_BANK_GRACE_MS (BANK_CALL_TIMEOUT_MS + WALLET_BANK_SUBMIT_WINDOW_MS)
#define WALLET_UNPOSTABLE_RETRY_MS (60 * 1000)
#define WALLET_BANK_CHECK_MAX_MS (10 * 60 * 1000)

/* When the worker is next to ask the bank about a payment created at
 * created_at_ms that the bank, asked at now_ms, left open: after an eighth
 * of the payment's age, at least floor_ms (settings.withdrawal_check_ms
 * after a PENDING answer; WALLET_BANK_GRACE_MS after none, so that the
 * query cannot overtake a request still on its way) and at most
 * WALLET_BANK_CHECK_MAX_MS (or floor_ms, if more). A payment the bank
 * settles at once is asked about as soon as before; one it keeps for days
 * is asked about ever more rarely. Pure. */
int64_t wallet_bank_next_check_ms(int64_t created_at_ms, int64_t now_ms, int64_t floor_ms);

/* The fee of a withdrawal of amount_minor (> 0) by a user with free_minor
 * (>= 0) left of their free allowance (wallet_withdrawal_free_left): 0 when
 * amount <= free, else on the part over it, over = amount - free:
 * max(withdrawal_fee_min_minor, ceil(over * withdrawal_fee_ppm / 10^6)).
 * False on overflow. */
QB_MUST_USE bool wallet_withdrawal_fee(const struct domain_settings *settings, int64_t amount_minor,
                                       int64_t free_minor, int64_t *fee_minor);

struct wallet_spending; /* limits.h */

/* What is left of the user's free withdrawal allowance
 * (settings->withdrawal_free_quota_minor, for the wallet's lifetime):
 * the allowance less what it covered: s->withdrawn_minor, what the user
 * has withdrawn to their cards, processing or done, less
 * s->withdrawn_over_minor, the parts of those made over what was left of
 * it, which paid the fee (a failed withdrawal gives its part back as it
 * is taken off both counts); never below 0. The withdrawal command
 * reads it in its transaction, with the count it adds to, so that parallel
 * withdrawals cannot both be free. Pure. */
int64_t wallet_withdrawal_free_left(const struct domain_settings *settings,
                                    const struct wallet_spending *s);

/* The most one withdrawal may take from available_minor: the largest amount
 * of at most cap_minor (what the limits let go: wallet_withdrawal_cap, or
 * settings->limit_per_payment_minor for a merchant's account) whose amount
 * + fee (with free_minor left of the allowance) is at most available_minor,
 * into *amount_minor and its fee into *fee_minor; both 0 when not even a
 * fen can go. (What a "withdraw all" button asks.) */
void wallet_withdrawal_max(const struct domain_settings *settings, int64_t available_minor,
                           int64_t cap_minor, int64_t free_minor, int64_t *amount_minor,
                           int64_t *fee_minor);

/* Whether the KYC level 1 lifetime limit (kyc_lifetime, limits.h) keeps
 * amount_minor (> 0: what must leave a balance for it to close, a
 * withdrawal's or a payment's) in it: the user at level 1, and what is left
 * of their allowance, s, less than amount_minor. Then "withdraw it first"
 * would send the owner round in a circle, and the limit is what to name:
 * verifying the identity (POST /v1/me/kyc) lifts it. Pure. */
bool wallet_kyc_lifetime_keeps(const struct domain_settings *settings,
                               const struct wallet_spending *s, int kyc_level,
                               int64_t amount_minor);

/* A payment as the API shows it: {id, type, status, amount, currency, fee,
 * card: {id, bank, last4} | null, failure_code | null, created_at,
 * updated_at}. card may be NULL. NULL when out of memory. */
json_t *wallet_payment_json(const struct wallet_payment *p, const struct wallet_card *card);

/* --- step 1: start ------------------------------------------------------------- */

struct wallet_pay_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    const struct domain_env *env;
    enum wallet_payment_kind kind; /* WALLET_TOPUP or WALLET_WITHDRAWAL */
    /* In. */
    char user_id[ID_TEXT_SIZE_MAX];
    char card_id[ID_TEXT_SIZE_MAX];
    char payment_password[8];
    const struct currency *currency;
    int64_t amount_minor; /* > 0 */
    /* A withdrawal from an account other than the user's own balance: 0
     * for the user's balance; else an account the caller has checked the
     * user may empty (a merchant's settlement account, withdrawn by its
     * owner), which the hold is taken from and whose flags are checked,
     * with account_label ("merchant:<mchid>") kept as the payment's
     * counterparty_id so the row says whose money it was. The user's
     * payment password, status and limit of one payment apply as ever. */
    int64_t account_id;
    char account_label[ID_TEXT_SIZE_MAX];
    /* A merchant's withdrawal whose merchant the caller could not be given
     * (NOT_FOUND: none of theirs by that mchid; PARAM: they own several and
     * named none), with account_refused_message: the command refuses with
     * it, kept under the key like its other refusals. Refused here rather
     * than before the command, so that a retry is answered from the key
     * as its first request was, also once the owner's merchants changed
     * (a second one opened since). QB_OK otherwise. */
    enum qb_error account_refused;
    const char *account_refused_message;
    /* Out, when the ledger result is QB_OK and the command ran (not
     * replayed). Outcomes besides QB_OK: account_refused when set, first;
     * NOT_FOUND (no such card of the user, or removed), CARD_HOLDER_MISMATCH (the wallet's real
     * name is verified and the card, bound before, is in another name: wallet_cards_usable),
     * INVALID_CURRENCY (not CNY), LIMIT_EXCEEDED (over settings.limit_per_payment_minor, or at KYC
     * level 1 over what is left of kyc_lifetime: refused_limit), ACCOUNT_FROZEN,
     * PAYMENT_PASSWORD_NOT_SET, PASSWORD_WRONG (password_try), PASSWORD_LOCKED,
     * INSUFFICIENT_BALANCE (withdrawal: amount + fee over the available balance). cmd->response
     * holds the answer: 201 and the payment (PROCESSING), or the refusal. */
    enum qb_error outcome;
    const char *refused_limit; /* LIMIT_EXCEEDED: its name; NULL: per_payment */
    struct identity_password_try password_try;
    struct wallet_payment payment;
    struct wallet_card card;
};

void wallet_pay_cmd_init(struct wallet_pay_cmd *c, const struct domain_env *env,
                         enum wallet_payment_kind kind);
/* Wipes the payment password and releases the command. */
void wallet_pay_cmd_release(struct wallet_pay_cmd *c);

/* --- step 2: the bank --------------------------------------------------------------- */

struct wallet_bank_answer {
    bool answered;              /* false: no answer (timeout, no connector, unopenable card) */
    struct bank_result result;  /* when answered */
};

/* Submits payment p to env->bank (query false) or asks what became of it
 * (query true), with the card number read through a connection of pool
 * (given back before the call) and opened for this call alone.
 * Unanswered (out->answered false) when no connection came within
 * WALLET_BANK_READER_WAIT_MS. Network I/O: never on the writer thread, nor
 * on an HTTP thread. */
#define WALLET_BANK_READER_WAIT_MS 2000
void wallet_bank_call(const struct domain_env *env, struct store_pool *pool,
                      const struct wallet_payment *p, bool query, struct wallet_bank_answer *out);

/* --- between steps 1 and 2: the last word before a payment is sent ------------------ */

/* A payment is sent a moment after it starts (when an offload thread is
 * free: up to WALLET_BANK_SUBMIT_WINDOW_MS). A wallet frozen in between —
 * its owner's lost phone, an operator — must not see money leave, nor its
 * owner's card be debited for it: this command, run right before the
 * submission, lets the payment go only if it is still PROCESSING and its
 * account is still as step 1 required (the user not frozen nor closed, the
 * account not frozen that way nor closed, a merchant's account allowed to
 * pay out: env->payout_check). Otherwise it fails the payment there,
 * ACCOUNT_FROZEN, releasing a withdrawal's hold, as a bank's refusal would.
 * The freeze and this command are ordered by the writer, so a freeze either
 * comes first and stops the payment, or comes after it was let go: then it
 * is at the bank, cannot be recalled, and resolves as the bank says (step
 * 3). A payment never let go is never submitted. */
struct wallet_send_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    const struct domain_env *env;
    char payment_id[ID_TEXT_SIZE_MAX];
    /* Out, when the ledger result is QB_OK: whether to submit it, and the
     * payment as it is now (FAILED when refused here; resolved already by
     * another thread when neither). */
    bool send;
    struct wallet_payment payment;
};

void wallet_send_cmd_init(struct wallet_send_cmd *c, const struct domain_env *env,
                          const char *payment_id);

/* --- step 3: finish ------------------------------------------------------------------ */

struct wallet_finish_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    const struct domain_env *env;
    char payment_id[ID_TEXT_SIZE_MAX];
    struct wallet_bank_answer answer;
    /* Set by the worker: the payment's user was answered PROCESSING, and
     * is told how it ended by a notice (notice.h). (A return is always
     * told.) */
    bool by_worker;
    /* Out, when the ledger result is QB_OK: the payment as it is now,
     * whether this command changed it, and QB_OK or ACCOUNT_FROZEN: a
     * return the account could not take (frozen that way, or closed),
     * nothing of it written (a PROCESSING withdrawal is paid all the
     * same: changed, SUCCESS, for a later query to take back); or
     * INTERNAL: a failure or return of a withdrawal whose part over the
     * free allowance was edited beyond it, nothing settled (a PROCESSING
     * one asked about again after WALLET_UNPOSTABLE_RETRY_MS). */
    struct wallet_payment payment;
    bool changed;
    enum qb_error outcome;
};

void wallet_finish_cmd_init(struct wallet_finish_cmd *c, const struct domain_env *env,
                            const char *payment_id, const struct wallet_bank_answer *answer);

/* --- the operator's check ------------------------------------------------------------ */

/* Checks every top-up and withdrawal, a user's or a merchant's, against the
 * journal (read-only, for the operator's check, wallet_verify), by what
 * step 3 writes for its status:
 *
 *   top-up      SUCCESS: the one entry it names, WALLET_CODE_TOPUP with the
 *               payment as ref, bank clearing → the user's account of its
 *               amount; PROCESSING, FAILED (with its failure code): none.
 *   withdrawal  its HOLD (WALLET_CODE_WITHDRAWAL, ref the payment) of amount
 *               + fee from the user's account, or the merchant's its
 *               counterparty_id names, for bank clearing; PROCESSING: the
 *               hold open and no entry named; SUCCESS: the hold captured
 *               whole by the entry it names, and when it paid a fee the fee
 *               entry next to it (WALLET_CODE_WITHDRAWAL_FEE, bank clearing
 *               → fee income); FAILED (with its failure code): the hold
 *               released by the entry it names; RETURNED (with its failure
 *               code): as SUCCESS, and the entry it names is its return
 *               (WALLET_CODE_WITHDRAWAL_RETURN), naming the capture, bank
 *               clearing -amount and fee income -fee to its account.
 *
 * and that the journal holds no entry of these codes beyond those. One
 * pass over the payments (the payments_bank index), a few point reads each,
 * and one count of the journal's entries by code and kind; memory does not
 * grow with them. QB_OK, QB_E_STORAGE, or QB_E_INTERNAL with what is wrong
 * in problem, naming the payment. *payments: those checked. */
QB_MUST_USE enum qb_error wallet_bank_payments_check(struct store *reader, int64_t *payments,
                                                     char *problem, size_t problem_size);

/* --- the worker -------------------------------------------------------------------- */

/* One thread that, every WALLET_WORKER_POLL_MS, makes the delayed transfers
 * that are due arrive, then reads PROCESSING top-ups and withdrawals whose
 * next_check_at_ms has come (the payments_pending partial index), asks the
 * bank about each and submits its wallet_finish_cmd through env->ledger.
 * It resolves what a restart or a timeout left open; a pass that found a
 * full batch is followed at once, not after the poll. A payment whose own
 * command fails (a damaged row, a bug: logged at error) is passed over and
 * stays due; only the ledger's refusal (stopping, busy, storage) ends a
 * pass. */
#define WALLET_WORKER_POLL_MS 200
struct wallet_worker;
QB_MUST_USE enum qb_error wallet_worker_start(const struct domain_env *env, struct store_pool *pool,
                                              struct wallet_worker **out);
/* Stops and joins the thread; call before closing the ledger. */
void wallet_worker_stop(struct wallet_worker *worker);
/* One pass, on the calling thread (for tests): resolves what is due at
 * now. *resolved counts the payments taken up: arrived, finished, put off
 * to their next check, or found finished already. */
QB_MUST_USE enum qb_error wallet_worker_pass(const struct domain_env *env, struct store_pool *pool,
                                             size_t *resolved);

#endif

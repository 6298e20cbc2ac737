/*
 * transfer.h — sending money from one user's balance to another's.
 *
 * Owns: the transfer command. One ledger command does all of a transfer
 * inside the writer's transaction, so nothing can change between a check
 * and the movement it allows:
 *
 *   1. the amount: > 0 (INVALID_AMOUNT), <= WALLET_TRANSFER_AMOUNT_MAX_MINOR
 *      (AMOUNT_OVERFLOW), CNY (INVALID_CURRENCY);
 *   2. the payer: not frozen (ACCOUNT_FROZEN);
 *   3. the payee, by phone or user id: exists (PAYEE_NOT_FOUND), is not the
 *      payer (SELF_TRANSFER), is not frozen and its account takes credits
 *      (PAYEE_UNAVAILABLE);
 *   4. the payment password (identity_txn_payment_password_verify), unless
 *      it was omitted and the amount is within the payer's password-free
 *      amount (limits.h). A wrong one is refused with its count committed;
 *   5. the limits (wallet_txn_limits_check: LIMIT_EXCEEDED naming the
 *      limit), before the balance: no top-up gets a payment past a limit,
 *      so the refusal says what would;
 *   6. the balance (INSUFFICIENT_BALANCE), checked before anything is
 *      charged so that a refusal writes nothing;
 *   7. the entry payer → payee (WALLET_CODE_TRANSFER, ref = the payment id)
 *      and the payments row (kind WALLET_TRANSFER, status SUCCESS); for a
 *      delayed transfer (wallet_arrival) a hold instead of the entry, and
 *      the row PROCESSING.
 *
 * The answer, success or refusal, is written into cmd->response
 * (domain_response_set / _error) and kept with the idempotency record, so a
 * retry with the same Idempotency-Key gets the same bytes. Every refusal
 * returns QB_OK to the ledger (keeping only a payment password's count);
 * an error returned to the ledger is a storage or internal failure, and
 * rolls everything back.
 */
#ifndef QB_WALLET_TRANSFER_H
#define QB_WALLET_TRANSFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "domain/domain.h"
#include "identity/identity.h"
#include "wallet/wallet.h"

/* Larger amounts are refused with AMOUNT_OVERFLOW: ¥10,000,000,000. Keeps
 * every sum a limit adds far from int64's edge. */
#define WALLET_TRANSFER_AMOUNT_MAX_MINOR INT64_C(1000000000000)
#define WALLET_TRANSFER_TO_SIZE_MAX ID_TEXT_SIZE_MAX /* a phone or "u_..." + NUL */

/* When a transfer arrives (延时到账): at once, or, as its payer chose, 2 or
 * 24 hours later, a time in which the payer may still cancel it (a payer
 * talked into paying a fraudster has the time to think again). A delayed
 * transfer runs every check of an instant one and charges the limits when
 * it is sent; then, instead of the entry, its money is held on the payer's
 * balance (WALLET_CODE_TRANSFER, crediting the payee) and the payment is
 * PROCESSING with arrives_at_ms, until:
 *
 *   arrival   (wallet_transfer_arrive_cmd, by the wallet's worker at
 *             arrives_at_ms) the hold is captured: SUCCESS. A payee who
 *             cannot take money then (frozen, closed, closed to credits)
 *             gets none: the hold is released, FAILED with failure_code
 *             PAYEE_UNAVAILABLE. A payer whose wallet is frozen then
 *             (freezing stops every payment leaving it) waits: it is
 *             tried again every WALLET_UNPOSTABLE_RETRY_MS.
 *   cancel    (wallet_transfer_cancel_cmd, by the payer, before arrival)
 *             the hold is released: FAILED, failure_code
 *             TRANSFER_CANCELLED; by an operator, on a report of fraud,
 *             the same with failure_code TRANSFER_STOPPED.
 *
 * A transfer that names no arrival takes the payer's own default (their
 * spending row's, PUT /v1/me/limits: limits.h). A release gives its limits
 * back, as limits.h says (decision 0012). Until it arrives, a transfer is the payer's
 * alone: its payee is not told of it (wallet_payment_get answers NOT_FOUND to them). */
/* (enum wallet_arrival: wallet.h.) "instant", "2h", "24h" into *out; false
 * for any other name. */
QB_MUST_USE bool wallet_arrival_parse(const char *name, enum wallet_arrival *out);
const char *wallet_arrival_name(enum wallet_arrival arrival);
/* How long after its sending a transfer of arrival arrives: 0, 2 or 24 hours. */
int64_t wallet_arrival_delay_ms(enum wallet_arrival arrival);

struct wallet_transfer_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    const struct domain_env *env;

    /* In. */
    char payer_id[ID_TEXT_SIZE_MAX];
    char to[WALLET_TRANSFER_TO_SIZE_MAX];      /* the payee's phone or user id */
    const struct currency *currency;           /* CNY; NULL is CNY */
    int64_t amount_minor;
    char memo[WALLET_MEMO_SIZE_MAX];           /* "" for none */
    bool has_payment_password;
    char payment_password[8];
    bool has_arrival; /* false: the payer's default */
    enum wallet_arrival arrival;

    /* Out, when the ledger result is QB_OK: the outcome and, on success, the
     * payment; the answer itself is in cmd->response either way. */
    enum qb_error outcome;
    const char *refused_limit; /* LIMIT_EXCEEDED: the limit's name */
    struct identity_password_try password_try; /* PASSWORD_WRONG, _LOCKED */
    int64_t lookups_until_ms;                  /* RATE_LIMITED: when look-ups by phone resume */
    struct wallet_payment payment;
};

/* A delayed transfer's cancel by its payer (撤销), in this order:
 *
 *   1. the transfer: one user_id sent (NOT_FOUND: none, another kind, or
 *      one that was not sent to nor reached user_id); its payee may not
 *      cancel it (FORBIDDEN, once it reached them);
 *   2. arrived already, instant ones included (TRANSFER_ARRIVED);
 *   3. PROCESSING: the hold is released, the payment FAILED with
 *      failure_code TRANSFER_CANCELLED; FAILED already (cancelled, or its
 *      payee could not take it): left as it is.
 *
 * The answer is 200 and the transfer as it is then. No payment password is
 * asked, and a frozen wallet may cancel: the money goes back only to the
 * payer. Kept under the Idempotency-Key as a transfer's answer is. */
struct wallet_transfer_cancel_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    const struct domain_env *env;
    /* In: the payer's cancel (user_id), or an operator's (by_operator,
     * user_id ""), which needs no party and is refused NOT_FOUND only for
     * an id of no transfer. A transfer cancelled or stopped already, or
     * failed at arrival, is answered as it is, either way. */
    char user_id[ID_TEXT_SIZE_MAX];
    char transfer_id[ID_TEXT_SIZE_MAX];
    bool by_operator;
    /* Out, when the ledger result is QB_OK: the outcome and, on QB_OK, the
     * transfer as it is now (the payer's view of it is the answer), and
     * whether this command stopped it (false: it had failed already). */
    enum qb_error outcome;
    struct wallet_payment payment;
    bool changed;
};
void wallet_transfer_cancel_cmd_init(struct wallet_transfer_cancel_cmd *c,
                                     const struct domain_env *env);

/* A delayed transfer's arrival (wallet_arrival, above), submitted by the
 * wallet's worker for a PROCESSING transfer whose next_check_at_ms came.
 * Leaves alone one resolved already, or not due yet. The ledger result is
 * QB_OK, or a storage or internal failure. */
struct wallet_transfer_arrive_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    const struct domain_env *env;
    char payment_id[ID_TEXT_SIZE_MAX];
    /* Out: the transfer as it is now. */
    struct wallet_payment payment;
};
void wallet_transfer_arrive_cmd_init(struct wallet_transfer_arrive_cmd *c,
                                     const struct domain_env *env, const char *payment_id);

/* A transfer its payee sends back (退还): the whole amount, once, to the
 * wallet it came from, within WALLET_TRANSFER_RETURN_WINDOW_MS of it. One
 * ledger command, in this order:
 *
 *   1. the transfer: one that reached user_id (NOT_FOUND: none, another
 *      kind, another user's, a delayed one not arrived); its payer may not
 *      return it (FORBIDDEN);
 *      returned already (TRANSFER_RETURNED, the answer naming the return);
 *      too old (TRANSFER_RETURN_EXPIRED);
 *   2. the caller: not frozen (ACCOUNT_FROZEN);
 *   3. the payer: not frozen, not closed, takes credits (PAYEE_UNAVAILABLE);
 *   4. the balance (INSUFFICIENT_BALANCE);
 *   5. the entry caller → payer (WALLET_CODE_TRANSFER_RETURN, ref the
 *      return's payment id), the payments row (kind WALLET_TRANSFER_RETURN,
 *      SUCCESS) and the transfer_returns row linking the two.
 *
 * No payment password is asked: the money goes back only where it came
 * from. It is no spending (no limit is charged), and the payer's spending
 * is not given back, as a merchant's refund gives none back. The answer
 * and the refusals are kept as a transfer's are. */
#define WALLET_TRANSFER_RETURN_WINDOW_MS (30 * INT64_C(86400000))

struct wallet_transfer_return_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    const struct domain_env *env;

    /* In. */
    char user_id[ID_TEXT_SIZE_MAX]; /* the caller: the transfer's payee */
    char transfer_id[ID_TEXT_SIZE_MAX];
    char memo[WALLET_MEMO_SIZE_MAX]; /* "" for none */

    /* Out, when the ledger result is QB_OK: the outcome and, on success,
     * the return's payment. */
    enum qb_error outcome;
    struct wallet_payment payment;
};

/* As wallet_transfer_cmd_init. */
void wallet_transfer_return_cmd_init(struct wallet_transfer_return_cmd *c,
                                     const struct domain_env *env);

/* The return of the transfer transfer_id into out, QB_E_NOT_FOUND when it
 * was not returned, QB_E_STORAGE. */
QB_MUST_USE enum qb_error wallet_transfer_return_find(struct store *store, const char *transfer_id,
                                                      struct wallet_payment *out);

/* The id of transfer_id's return into return_id (size ID_TEXT_SIZE_MAX):
 * QB_OK, QB_E_NOT_FOUND when it was not returned, QB_E_STORAGE. */
QB_MUST_USE enum qb_error wallet_transfer_return_id(struct store *store, const char *transfer_id,
                                                    char *return_id);

/* The group collection (群收款) transfer_id paid, its id into collection_id
 * (size ID_TEXT_SIZE_MAX): QB_OK, QB_E_NOT_FOUND for a transfer that paid
 * none, QB_E_STORAGE. */
QB_MUST_USE enum qb_error
wallet_transfer_collection_id(struct store *store, const char *transfer_id, char *collection_id);

/* The transfer the return return_id sent back, into transfer_id (size
 * ID_TEXT_SIZE_MAX). QB_E_STORAGE, or QB_E_INTERNAL when there is no link. */
QB_MUST_USE enum qb_error wallet_transfer_return_origin(struct store *store, const char *return_id,
                                                        char *transfer_id);

/* Checks every return against its transfer and the journal (read-only, for
 * the operator's check, wallet_verify): the transfer a transfer, the return
 * a return of the same amount and currency from its payee to its payer, no
 * earlier than it, and posted as the entry its payment names (code
 * WALLET_CODE_TRANSFER_RETURN, ref the return); and the journal holds no
 * return entry beyond those. QB_OK, QB_E_STORAGE, or QB_E_INTERNAL with
 * what is wrong in problem. *returns the number checked. */
QB_MUST_USE enum qb_error wallet_transfer_returns_check(struct store *reader, int64_t *returns,
                                                        char *problem, size_t problem_size);

/* Checks every delayed transfer against the journal (read-only, for the
 * operator's check, wallet_verify): its hold (WALLET_CODE_TRANSFER, ref the
 * payment, the payer's account holding its amount for the payee's), and by
 * its status the hold still open (PROCESSING), captured whole to the payee
 * (SUCCESS) or released (FAILED) by the entry the payment names; and the
 * journal holds no such hold beyond those. QB_OK, QB_E_STORAGE, or
 * QB_E_INTERNAL with what is wrong in problem. *transfers: those checked. */
QB_MUST_USE enum qb_error wallet_delayed_transfers_check(struct store *reader, int64_t *transfers,
                                                         char *problem, size_t problem_size);

/* Checks every instant transfer against the journal (read-only, for the
 * operator's check, wallet_verify): SUCCESS, posted as the TRANSFER entry
 * its payment names (WALLET_CODE_TRANSFER, ref the payment), its amount
 * from the payer's account to the payee's; and the journal holds no such
 * entry beyond those. QB_OK, QB_E_STORAGE, or QB_E_INTERNAL with what is
 * wrong in problem. *transfers: those checked. */
QB_MUST_USE enum qb_error wallet_instant_transfers_check(struct store *reader, int64_t *transfers,
                                                         char *problem, size_t problem_size);

/* A return as the API shows it, as members of the object open in out: id,
 * status, transfer_id, amount, currency, to: {user_id, display_name
 * (masked)}, memo, created_at. */
void wallet_transfer_return_json(struct json_out *out, const struct wallet_payment *p,
                                 const char *transfer_id, const char *payer_display_name);

/* Counts one look-up of a payee by phone number (normalized) by user_id: GET
 * /v1/payees with a phone, or a transfer to one as it runs (a retry answered
 * from its Idempotency-Key does not run). Looking a phone up tells whether
 * it has a wallet and whose (masked), so one account may not test phone
 * numbers in bulk. QB_OK, or QB_E_RATE_LIMITED past settings.payee_lookups_max
 * in the user's hour or settings.payee_lookups_daily_max in the user's day,
 * with *until_ms the end of the window that refused, when the user may look
 * up again. A look-up the day refuses does not count towards the hour. A
 * phone the user looked up within the hour (settings.payee_lookup_window_ms)
 * is QB_OK and counts nothing: the payer who reads whom a phone reaches and
 * then pays it spends one look-up, and learns nothing new from the second.
 * Look-ups by user id or receive code, which name a payee already known, are
 * not counted. */
QB_MUST_USE enum qb_error wallet_payee_lookup_take(const struct domain_env *env,
                                                   const char *user_id, const char *phone,
                                                   int64_t *until_ms);
/* The message of that refusal, naming until_ms and what to do meanwhile; into
 * out (out_size >= WALLET_PAYEE_LOOKUP_MESSAGE_SIZE). */
#define WALLET_PAYEE_LOOKUP_MESSAGE_SIZE 256
const char *wallet_payee_lookup_refusal(int64_t until_ms, char *out, size_t out_size);

/* Zeroes c and prepares its ledger command. The caller fills the inputs,
 * arms idempotency on &c->cmd and submits it; ledger_cmd_release afterwards. */
void wallet_transfer_cmd_init(struct wallet_transfer_cmd *c, const struct domain_env *env);
/* The transfer command's steps for c, inside another command that makes a
 * transfer part of its own (a collection's payment: collection.h): the
 * answer in c->cmd.response, the outcome and the payment in c, the ledger
 * result returned. */
QB_MUST_USE enum qb_error wallet_transfer_txn(struct ledger_txn *txn,
                                              struct wallet_transfer_cmd *c);

/* A display name as the other party or a stranger sees it, in a transfer's
 * answer, a scanned code, bills and red packets alike: one character "*",
 * two "*四", more the first and the last with a star for each one between,
 * at most four ("张*丰", "A****r"). Counts UTF-8 characters, never cutting
 * one; reads at most WALLET_NAME_SIZE_MAX bytes of name; out has out_size
 * >= WALLET_MASKED_NAME_SIZE bytes. */
#define WALLET_NAME_SIZE_MAX 256
#define WALLET_MASKED_NAME_SIZE 16 /* a character, four stars, a character, NUL */
void wallet_name_mask(const char *name, char *out, size_t out_size);

/* A transfer as the API shows it, as members of the object open in out:
 * id, status, amount, currency, to: {user_id, display_name (masked)}, memo,
 * arrives_at (null for an instant one), failure_code (null unless FAILED),
 * created_at. */
void wallet_transfer_json(struct json_out *out, const struct wallet_payment *p,
                          const char *payee_display_name);

#endif

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
 *   5. the balance (INSUFFICIENT_BALANCE), checked before anything is
 *      charged so that a refusal writes nothing;
 *   6. the limits (wallet_txn_limits_check: LIMIT_EXCEEDED naming the limit);
 *   7. the entry payer → payee (WALLET_CODE_TRANSFER, ref = the payment id)
 *      and the payments row (kind WALLET_TRANSFER, status SUCCESS).
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

    /* Out, when the ledger result is QB_OK: the outcome and, on success, the
     * payment; the answer itself is in cmd->response either way. */
    enum qb_error outcome;
    const char *refused_limit; /* LIMIT_EXCEEDED: the limit's name */
    struct identity_password_try password_try; /* PASSWORD_WRONG, _LOCKED */
    struct wallet_payment payment;
};

/* A transfer its payee sends back (退还): the whole amount, once, to the
 * wallet it came from, within WALLET_TRANSFER_RETURN_WINDOW_MS of it. One
 * ledger command, in this order:
 *
 *   1. the transfer: one that reached user_id (NOT_FOUND: none, another
 *      kind, another user's); its payer may not return it (FORBIDDEN);
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

/* A return as the API shows it, as members of the object open in out: id,
 * status, transfer_id, amount, currency, to: {user_id, display_name
 * (masked)}, memo, created_at. */
void wallet_transfer_return_json(struct json_out *out, const struct wallet_payment *p,
                                 const char *transfer_id, const char *payer_display_name);

/* Counts one look-up of a payee by phone number by user_id: GET /v1/payees
 * with a phone, or a transfer to one as it runs (a retry answered from its
 * Idempotency-Key does not run). Looking a phone up tells whether it has a
 * wallet and whose (masked), so one account may not test phone numbers in
 * bulk. QB_OK, or QB_E_RATE_LIMITED past settings.payee_lookups_max in the
 * user's window, with *until_ms its end, when the user may look up again.
 * Look-ups by user id or receive code, which name a payee already known, are
 * not counted. */
QB_MUST_USE enum qb_error wallet_payee_lookup_take(const struct domain_env *env,
                                                   const char *user_id, int64_t *until_ms);
/* The message of that refusal, naming until_ms and what to do meanwhile; into
 * out (out_size >= WALLET_PAYEE_LOOKUP_MESSAGE_SIZE). */
#define WALLET_PAYEE_LOOKUP_MESSAGE_SIZE 256
const char *wallet_payee_lookup_refusal(int64_t until_ms, char *out, size_t out_size);

/* Zeroes c and prepares its ledger command. The caller fills the inputs,
 * arms idempotency on &c->cmd and submits it; ledger_cmd_release afterwards. */
void wallet_transfer_cmd_init(struct wallet_transfer_cmd *c, const struct domain_env *env);

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
 * created_at. */
void wallet_transfer_json(struct json_out *out, const struct wallet_payment *p,
                          const char *payee_display_name);

#endif

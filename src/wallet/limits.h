/*
 * limits.h — the spending limits every payment from the balance is charged
 * against.
 *
 * Owns: which ledger codes count as spending (wallet_code_is_spending),
 * which give spending back (wallet_code_gives_back) and the days and years
 * they are counted in (wallet_spending_period): the ledger keeps each user
 * account's sums (struct ledger_spent) from them, so the daemon opens its
 * ledger with wallet_ledger_options. Also the spending
 * table (one row per user: their own daily limit and password-free amount)
 * and the rules that read both. The limits, all in CNY minor units (fen):
 *
 *   per_payment   settings.limit_per_payment_minor: one payment at most
 *   user_daily    the user's own daily limit, when set (at most the daily cap)
 *   daily         settings.limit_daily_minor per calendar day (UTC+8)
 *   kyc_lifetime  KYC level 1: settings.limit_kyc1_lifetime_minor over the
 *                 account's whole life, payments and withdrawals to the
 *                 user's own cards together (a class I payment account's
 *                 rule: at level 1 a balance cannot be cashed out past it)
 *   kyc_yearly    KYC level 2 and 3: settings.limit_kyc2_yearly_minor /
 *                 limit_kyc3_yearly_minor per calendar year (UTC+8)
 *
 * Days and years roll over by the ledger's clock (ledger_txn_now_ms): a row
 * whose day or year is not the current one counts as zero used.
 *
 * Money that comes back unspent gives its allowance back: a delayed
 * transfer released to its payer (cancelled, stopped, or the payee unable:
 * WALLET_CODE_TRANSFER_RELEASE, its hold named by the release) and a red
 * packet's unclaimed rest refunded to its sender (WALLET_CODE_RED_PACKET_REFUND,
 * naming the send entry). The ledger takes it off the sums by the journal
 * alone, so a restart derives the same: off kyc_lifetime always, off the
 * day's and the year's only if the money was spent that same day or year
 * (a later day never counted it, and must not pay more than its cap). A
 * merchant's refund or a reversed code payment is not given back: the
 * payment was made, and what the merchant returns is its own decision
 * (docs/decisions/0012-limits-given-back.md).
 *
 * Who calls it: every payment command from the balance (transfers, merchant
 * order payments, red packets) calls wallet_txn_limits_check INSIDE its own
 * ledger command, after every other refusal, and then posts its entry with
 * a code that counts as spending: posting is what counts the payment. The
 * ledger runs commands one at a time on its writer thread and the check
 * reads the working sums, so the check and the count are one step: parallel
 * payments can never pass a limit together. A command that fails after
 * posting is rolled back by the ledger, its count with it.
 *
 * A withdrawal to the user's own card, from their balance or from their
 * merchant's, is no payment and the ledger does not count it; at KYC level
 * 1 it still counts against kyc_lifetime (else an unverified owner would
 * cash out through a merchant of their own without limit): the
 * spending row's withdrawn_minor, added to by the withdrawal command with
 * its hold (wallet_withdrawal_cap checks it first, in the same command) and
 * taken back off when the withdrawal fails (wallet_txn_withdrawn_add).
 *
 * Must never: count top-ups, withdrawals, refunds or reversals as spending
 * (they are not payments); change the answer of wallet_code_is_spending,
 * wallet_code_gives_back or wallet_spending_period for an entry already
 * written (a restart replays the journal through them): a code only starts
 * giving back for entries that name what they give back, so one whose
 * entries already name another entry never becomes one.
 */
#ifndef QB_WALLET_LIMITS_H
#define QB_WALLET_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "domain/domain.h"
#include "identity/identity.h"
#include "store/store.h"
#include "wallet/wallet.h"

/* The limits a user has: per_payment, daily, user_daily (when set) and one
 * KYC limit. */
#define WALLET_LIMITS_MAX 4

/* What a user has spent (the ledger's sums) and their own settings (the
 * spending table; zero for a user without a row). */
struct wallet_spending {
    int64_t day_start_ms;              /* the UTC+8 midnight day_used counts from */
    int64_t day_used_minor;
    int64_t year;                      /* the UTC+8 calendar year year_used counts in */
    int64_t year_used_minor;
    int64_t lifetime_used_minor;
    int64_t user_daily_limit_minor;    /* 0: none set */
    int64_t password_free_limit_minor; /* 0: off */
    int64_t free_day_start_ms;         /* the UTC+8 day of the last password-free payment */
    int64_t free_day_count;            /* password-free payments that day */
    int64_t withdrawn_minor;           /* withdrawn to the user's own cards in the account's
                                        * lifetime, processing or done (a failed one is taken
                                        * back off) */
    int64_t withdrawn_over_minor;      /* of which the parts over the free allowance, which
                                        * paid a fee (withdrawals_over) */
    enum wallet_arrival transfer_arrival; /* when the user's transfers arrive unless a transfer
                                           * says (transfer.h); instant by default */
};

/* One limit as the user sees it at a moment. */
struct wallet_limit {
    const char *name;       /* "per_payment", "daily", "user_daily", "kyc_lifetime", "kyc_yearly" */
    int64_t amount_minor;   /* the cap */
    int64_t used_minor;     /* counted against it now (0 for per_payment) */
    int64_t remaining_minor;/* amount - used, never below 0 */
};

/* The UTC+8 calendar year of at_ms (2026 ...). */
int64_t wallet_year_of_ms(int64_t at_ms);

/* Whether entries of this ledger code count as spending of the user
 * accounts they debit: transfers, order payments, red packets sent. */
bool wallet_code_is_spending(uint16_t code);
/* Whether entries of this ledger code that name the spending they undo
 * give it back to the user account they credit: a delayed transfer's
 * release, a red packet's refund. */
bool wallet_code_gives_back(uint16_t code);
/* The UTC+8 day and calendar year at_ms is counted in. */
void wallet_spending_period(int64_t at_ms, int64_t *day_start_ms, int64_t *year);
/* Sets options->spending_code, spending_giveback_code and spending_period
 * to the three above. */
void wallet_ledger_options(struct ledger_options *options);

/* A user's spending: the committed sums of their account, from account
 * (the ledger's view of user->account_id, which the caller read: on an HTTP
 * thread through http_request_account_view, which never touches a ledger
 * closed by a stop), and their settings read with a read connection.
 * QB_E_STORAGE on read errors. */
QB_MUST_USE enum qb_error wallet_spending_get(struct store *reader,
                                              const struct ledger_account_view *account,
                                              const struct identity_user *user,
                                              struct wallet_spending *out);
/* The same inside a command: the working sums, from the write connection. */
QB_MUST_USE enum qb_error wallet_txn_spending_get(struct ledger_txn *txn,
                                                  const struct identity_user *user,
                                                  struct wallet_spending *out);

/* Fills limits (WALLET_LIMITS_MAX entries) with the user's limits at now_ms,
 * in the order they are checked; answers how many. Pure. */
size_t wallet_limits_list(const struct domain_settings *settings, const struct wallet_spending *s,
                          int kyc_level, int64_t now_ms, struct wallet_limit *limits);

/* The most one withdrawal to the user's own card may take by the limits: the
 * per-payment cap and, at KYC level 1, what is left of kyc_lifetime. *limit
 * names the one that binds (for the refusal). Pure. */
int64_t wallet_withdrawal_cap(const struct domain_settings *settings,
                              const struct wallet_spending *s, int kyc_level, const char **limit);
/* The schema with the withdrawals' parts over the free allowance
 * (withdrawals_over, spending.withdrawn_over_minor): the operator's check
 * of a database an earlier version left, before the first start with this
 * one, takes them as 0, as the migration makes them. */
#define WALLET_OVER_ALLOWANCE_SCHEMA 56

/* Inside the withdrawal command, with its hold: counts the withdrawal
 * (payment seq, amount_minor, over_minor of it over what was left of the
 * free allowance, 0..amount_minor) as the user's: withdrawn_minor,
 * withdrawn_over_minor, and its row of withdrawals_over when over_minor >
 * 0. QB_E_STORAGE on write errors. */
QB_MUST_USE enum qb_error wallet_txn_withdrawal_count(struct ledger_txn *txn, const char *user_id,
                                                      int64_t seq, int64_t amount_minor,
                                                      int64_t over_minor);
/* Inside a command: the part over the allowance of withdrawal seq (of
 * amount_minor) as its row says, 0 without one. QB_E_INTERNAL, logged, for
 * a row no version writes (below 1 or above amount_minor: edited by hand,
 * which the operator's check names), QB_E_STORAGE. */
QB_MUST_USE enum qb_error wallet_txn_withdrawal_over(struct ledger_txn *txn, int64_t seq,
                                                     int64_t amount_minor, int64_t *over_minor);
/* Inside its failure or return: takes it back off both counts, its part
 * over the allowance as wallet_txn_withdrawal_over reads it (and fails). */
QB_MUST_USE enum qb_error wallet_txn_withdrawal_uncount(struct ledger_txn *txn, const char *user_id,
                                                        int64_t seq, int64_t amount_minor);
/* The operator's check of those counts: each user's withdrawn_minor and
 * withdrawn_over_minor are the sums of the amounts and parts over the
 * allowance of their withdrawals processing or done (the payments rows,
 * which wallet_bank_payments_check holds to the journal), and each part
 * over the allowance fits its withdrawal, since a count lowered (or, for
 * the second, raised) by hand would lift a KYC level 1 wallet's lifetime
 * limit and its free allowance. One grouped pass over the bank payments; QB_OK,
 * QB_E_STORAGE, or QB_E_INTERNAL with the first user whose count is wrong in problem. */
QB_MUST_USE enum qb_error wallet_withdrawn_check(struct store *reader, char *problem,
                                                 size_t problem_size);

/* The password-free amount in force: the user's setting, capped by
 * settings.password_free_max_minor (which an operator may have lowered
 * since). 0: every payment needs the payment password. */
int64_t wallet_password_free_limit(const struct domain_settings *settings,
                                   const struct wallet_spending *s);

/* Password-free payments made today (at now_ms, UTC+8). */
int64_t wallet_password_free_used_today(const struct wallet_spending *s, int64_t now_ms);
/* Whether a payment of amount_minor may go without the payment password at
 * now_ms: at most the password-free amount, and fewer than
 * settings.password_free_daily_max such payments today. Else *why says
 * which (for the refusal's message). Pure. */
bool wallet_password_free_allows(const struct domain_settings *settings,
                                 const struct wallet_spending *s, int64_t amount_minor,
                                 int64_t now_ms, const char **why);
/* Inside a payment command that was given no payment password: QB_OK when
 * the payment may go without it; QB_E_PASSWORD_NOT_SET when the payer has
 * none (the password-free amount is raised only with it, so nothing goes
 * without one then); QB_E_PASSWORD_LOCKED while it is locked; QB_E_PARAM
 * with *why when wallet_password_free_allows refuses; else a storage error. */
QB_MUST_USE enum qb_error wallet_txn_password_free_check(struct ledger_txn *txn,
                                                         const struct domain_env *env,
                                                         const struct identity_user *payer,
                                                         int64_t amount_minor, const char **why);
/* Inside the payment command, once nothing can refuse it any more: counts a
 * payment made without the password against today's (the command's
 * rollback takes the count with it). */
QB_MUST_USE enum qb_error wallet_txn_password_free_count(struct ledger_txn *txn,
                                                         const char *user_id);

/* Inside a payment command: checks amount_minor (> 0, CNY) against every
 * limit of user. Answers QB_OK (the command may post it: its entry counts
 * it), QB_E_LIMIT_EXCEEDED with *refused_limit naming the first limit that
 * refused (in the order of wallet_limits_list), QB_E_OVERFLOW when a sum
 * would not fit, or QB_E_STORAGE. Writes nothing. spending, when not NULL,
 * gets what was read (the user's settings: a paying command needs no second
 * read for them). */
/* Stores the refusal of a charge that answered LIMIT_EXCEEDED (403 with
 * "limit": the refused limit's name) or OVERFLOW as cmd's answer
 * (domain_response_error), for the paying command to keep. */
QB_MUST_USE enum qb_error wallet_limits_refusal(struct ledger_cmd *cmd, enum qb_error err,
                                                const char *refused_limit);
QB_MUST_USE enum qb_error wallet_txn_limits_check(struct ledger_txn *txn,
                                                  const struct domain_env *env,
                                                  const struct identity_user *user,
                                                  int64_t amount_minor, const char **refused_limit,
                                                  struct wallet_spending *spending);

/* --- the user's own settings: one command ------------------------------------ */

/* Sets the user's daily limit, password-free amount and default transfer
 * arrival (PUT /v1/me/limits), checking the payment password when the
 * change lets more money out (a daily limit raised or removed, a
 * password-free amount raised, transfers made to arrive sooner); one that
 * only tightens needs none, and a password given with it is not checked.
 * Outcomes besides QB_OK: PARAM (a daily limit above
 * settings.limit_daily_minor or negative, a password-free amount above
 * settings.password_free_max_minor or negative, no password for a change
 * that needs it), NOT_FOUND (no such user), and those of
 * identity_txn_payment_password_verify (PASSWORD_WRONG with password_try,
 * PASSWORD_LOCKED, PASSWORD_NOT_SET), whose counts commit. */
struct wallet_limits_set_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    const struct domain_env *env;

    /* In. */
    char user_id[ID_TEXT_SIZE_MAX];
    char payment_password[8];        /* "" when none was given */
    bool set_daily_limit;            /* false: keep the user's daily limit */
    int64_t daily_limit_minor;       /* 0: remove it */
    bool set_password_free_limit;    /* false: keep the password-free amount */
    int64_t password_free_limit_minor; /* 0: off */
    bool set_transfer_arrival;         /* false: keep the default arrival */
    enum wallet_arrival transfer_arrival;

    /* Out, when the ledger result is QB_OK. */
    enum qb_error outcome;
    bool password_needed; /* PARAM: the change needs the payment password */
    struct identity_password_try password_try;
    struct wallet_spending spending; /* the row after the change */
};

/* Zeroes c and prepares its ledger command. The caller fills the inputs and
 * submits &c->cmd; ledger_cmd_release(&c->cmd) afterwards. */
void wallet_limits_set_cmd_init(struct wallet_limits_set_cmd *c, const struct domain_env *env);

#endif

/*
 * wallet.h — money in, money out: what the wallet's areas share.
 *
 * Owns: the payments table (one row per top-up, withdrawal or transfer),
 * the system accounts money enters and leaves through, and the codes the
 * wallet writes on ledger entries. The areas, each with its own header:
 *
 *   cards.h      binding, listing and unbinding bank cards (the number
 *                sealed, fingerprinted with a keyed hash, shown as last4)
 *   topup.h      top-ups and withdrawals through the bank connector
 *                (src/bank), and the worker that resolves pending ones
 *   transfer.h   transfers between users, and the spending limits every
 *                payment from the balance is charged against, inside the
 *                same ledger command (limits.h)
 *   bills.h      the user's bills, monthly statements and their CSV form
 *   redpacket.h  red packets through the escrow account, their provably
 *                fair split (redpacket_fair.h) and the expiry worker
 *
 * A payment's ledger entries carry its id as their ref and one of the
 * WALLET_CODE_* codes, so the ledger's per-account history walk is the
 * bill: no second copy of history is kept.
 *
 * Money moves:
 *   top-up       card → bank clearing (outside) ; clearing → user (entry)
 *   withdrawal   hold user → clearing for amount + fee; capture on the
 *                bank's confirmation, then clearing → fee income for the
 *                fee; void on failure; clearing and fee income → user for
 *                amount + fee when the bank takes it back (退票)
 *   transfer     payer → payee, one entry; its return (退还) payee →
 *                payer, one entry, once. A delayed one (延时到账): hold
 *                payer → payee; capture at arrival, void on a cancel
 *                (WALLET_CODE_TRANSFER_RELEASE: its limits given back)
 *   red packet   sender → escrow; escrow → each claimer; escrow → sender
 *                for what is unclaimed at expiry (redpacket.h)
 *   payout       a merchant paying a user (merchant/payout.h): hold
 *                merchant → user; capture when the user confirms, void
 *                on the merchant's cancel or after 24 hours
 */
#ifndef QB_WALLET_WALLET_H
#define QB_WALLET_WALLET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/rand.h"
#include "domain/domain.h"
#include "store/store.h"

/* Ledger entry codes written by the wallet (struct ledger_entry.code).
 * Stored: never renumber. Later modules take other ranges (orders 30-39,
 * red packets 40-49). */
enum wallet_code {
    WALLET_CODE_TOPUP = 10,
    WALLET_CODE_WITHDRAWAL = 11,     /* the hold, its capture or void */
    WALLET_CODE_WITHDRAWAL_FEE = 12, /* clearing → fee income, after capture */
    /* A withdrawal the bank took back after paying it (退票, topup.h):
     * bank clearing and fee income → the account it left, amount + fee;
     * names the capture (ledger_txn_post_back; no spending); ref the
     * payment id. */
    WALLET_CODE_WITHDRAWAL_RETURN = 13,
    WALLET_CODE_TRANSFER = 20,
    /* A transfer sent back by its payee (transfer.h): payee → payer, ref
     * the return's payment id. No spending. */
    WALLET_CODE_TRANSFER_RETURN = 21,
    /* A delayed transfer's hold released to its payer (cancelled, stopped
     * by an operator, or the payee unable to take it): ref the payment id.
     * Gives its spending back (limits.h). Releases before it were written
     * under WALLET_CODE_TRANSFER and give nothing back. */
    WALLET_CODE_TRANSFER_RELEASE = 22,
    /* Merchant orders (src/merchant): one entry user → merchant (amount
     * less the fee) and fee income (the fee). */
    WALLET_CODE_ORDER_PAYMENT = 30,
    /* A refund of a paid order (merchant/refund.h): merchant −(refund −
     * fee share), fee income −fee share, payer +refund; ref the payer's
     * payment id. */
    WALLET_CODE_ORDER_REFUND = 31,
    WALLET_CODE_ORDER_REVERSAL = 32, /* a reversed payment-code order: merchant and fee back to the
                                        payer; ref the payment id */
    /* A closing merchant's remainder too small for any withdrawal (less
     * than a fen and its fee), merchant → its owner's wallet; ref the mchid. */
    WALLET_CODE_MERCHANT_REMAINDER = 33,
    /* A merchant paying a user (merchant/payout.h): the hold merchant →
     * user, its capture when the user confirms, its release when the
     * merchant cancels or nobody confirmed in time; ref the user's payment
     * id. No fee, no spending. */
    WALLET_CODE_MERCHANT_PAYOUT = 34,
    WALLET_CODE_RED_PACKET_SEND = 40,  /* sender → escrow; ref the packet id */
    WALLET_CODE_RED_PACKET_CLAIM = 41, /* escrow → claimer; ref the packet id */
    /* escrow → sender, at expiry; ref the packet id. Names the send entry
     * (ledger_txn_post_back) and gives its spending back (limits.h); refunds
     * written before name none and give nothing back. */
    WALLET_CODE_RED_PACKET_REFUND = 42,
};

/* payments.kind; stored. */
enum wallet_payment_kind {
    WALLET_TOPUP = 1,
    WALLET_WITHDRAWAL = 2,
    WALLET_TRANSFER = 3,
    WALLET_ORDER_PAYMENT = 5,   /* a user paying a merchant order; counterparty_id is the mchid */
    WALLET_ORDER_REFUND = 6,    /* a merchant refunding the user; counterparty_id is the mchid */
    WALLET_TRANSFER_RETURN = 7, /* a payee sending a transfer back: user_id the payee,
                                 * counterparty_id the transfer's payer */
    WALLET_MERCHANT_PAYOUT = 8, /* a merchant paying the user (merchant/payout.h);
                                 * counterparty_id is the mchid */
};

/* When a transfer arrives (延时到账, transfer.h); stored (a user's default,
 * spending.transfer_arrival), in this order: a larger one is later. */
enum wallet_arrival {
    WALLET_ARRIVAL_INSTANT = 0,
    WALLET_ARRIVAL_2H = 1,
    WALLET_ARRIVAL_24H = 2,
};

/* payments.status; stored. The API shows them as the names below. */
enum wallet_payment_status {
    WALLET_PROCESSING = 1,
    WALLET_SUCCESS = 2,
    WALLET_FAILED = 3,
    /* A withdrawal the bank paid and then took back (退票): the amount and
     * the fee are back in the account; failure_code says why. */
    WALLET_RETURNED = 4,
};

#define WALLET_MEMO_SIZE_MAX 129 /* 128 bytes of UTF-8 + NUL */
#define WALLET_FAILURE_SIZE_MAX 40

struct wallet_payment {
    int64_t seq;                             /* its row's key (wallet_txn_payment_new) */
    char id[ID_TEXT_SIZE_MAX];               /* "p_..." */
    enum wallet_payment_kind kind;
    char user_id[ID_TEXT_SIZE_MAX];          /* who made it */
    char counterparty_id[ID_TEXT_SIZE_MAX];  /* transfer: the payee; else "" */
    char card_id[ID_TEXT_SIZE_MAX];          /* top-up, withdrawal; else "" */
    const struct currency *currency;
    int64_t amount_minor;
    int64_t fee_minor;
    char memo[WALLET_MEMO_SIZE_MAX];
    enum wallet_payment_status status;
    char failure_code[WALLET_FAILURE_SIZE_MAX]; /* API code of the failure; "" */
    int64_t hold_id;                         /* withdrawal: the HOLD entry */
    int64_t entry_id;                        /* the entry that settled it; 0 */
    char bank_ref[64];
    int64_t created_at_ms;
    int64_t updated_at_ms;
    int64_t next_check_at_ms;                /* PROCESSING: when the worker asks again */
    int64_t arrives_at_ms;                   /* a delayed transfer: when it arrives; else 0 */
};

const char *wallet_payment_kind_name(enum wallet_payment_kind kind);     /* "topup" ... */
const char *wallet_payment_status_name(enum wallet_payment_status status); /* "PROCESSING" ... */

/* Top-ups and withdrawals the bank has not settled (PROCESSING): how many
 * of each kind and when the oldest was made (0 when none); and the delayed
 * transfers not arrived, with the earliest time the worker is to take one
 * up (a late one says the worker is behind), for an operator's metrics.
 * QB_E_STORAGE on read errors. */
struct wallet_backlog {
    int64_t topups;
    int64_t topup_oldest_ms;
    int64_t withdrawals;
    int64_t withdrawal_oldest_ms;
    int64_t transfers_delayed;      /* delayed transfers not arrived (PROCESSING) */
    int64_t transfer_next_check_ms; /* the earliest time the worker is to take one up */
};
QB_MUST_USE enum qb_error wallet_backlog_read(struct store *reader, struct wallet_backlog *out);
/* Accounts by a text id, read in one query for a check that walks millions
 * of rows naming them (their users, their merchants) and would otherwise
 * look each up by its text key: sql selects (id, account id), such as
 * WALLET_USERS_ACCOUNTS_SQL. An open-addressing table kept at most half
 * full, its memory growing with the rows as the ledger's check's does with
 * the accounts. QB_OK or QB_E_STORAGE. */
struct wallet_account_map;
#define WALLET_USERS_ACCOUNTS_SQL "SELECT id, account_id FROM users"
QB_MUST_USE enum qb_error wallet_account_map_read(struct store *reader, const char *sql,
                                                  struct wallet_account_map **out);
/* The account of id; 0: none. */
int64_t wallet_account_map_get(const struct wallet_account_map *m, const char *id);
void wallet_account_map_free(struct wallet_account_map *m);

/* A payment as the operator's check walks it: with the accounts of its
 * user and of its counterparty as users, read with it. */
struct wallet_payment_parties {
    struct wallet_payment payment;
    bool well_formed;             /* false: a row no version writes (its kind, status, currency) */
    int64_t user_account;         /* users.account_id of its user_id; 0: no such user */
    int64_t counterparty_account; /* of its counterparty_id as a user; 0: not a user */
    bool entry_read;              /* with_entry: its entry_id's entry is in entry */
    struct ledger_entry entry;
};
typedef enum qb_error (*wallet_payment_each_fn)(const struct wallet_payment_parties *row,
                                                void *arg);
/* Walks, in one statement and in seq order, the payments where (SQL over
 * the payments' own columns, constants only: "kind = 3 AND hold_id = 0")
 * holds, each with its parties and, with_entry, the entry its entry_id
 * names, calling each until it answers other than QB_OK, which is then the
 * answer. One read for a payment, its users and its entry instead of four:
 * the check of a journal of millions of transfers. */
QB_MUST_USE enum qb_error wallet_payments_each(struct store *reader, const char *where,
                                               bool with_entry, wallet_payment_each_fn each,
                                               void *arg);
/* The same payments themselves (delayed transfers are not the bank's), for
 * an operator chasing the bank: those
 * with a seq above after (0: from the first), oldest first, up to cap into
 * out, their number in *count. QB_E_STORAGE, or QB_E_INTERNAL for a row
 * that is not a payment. */
QB_MUST_USE enum qb_error wallet_payments_processing(struct store *reader, int64_t after,
                                                     struct wallet_payment *out, size_t cap,
                                                     size_t *count);

/* The bank's payments (top-ups and withdrawals, a user's or a merchant's)
 * made from from_ms to before to_ms by the time their id carries, every
 * status, for an operator reconciling a day with the bank's statement:
 * those with a seq above after (0: from the first), oldest first, up to cap
 * into out, their number in *count. QB_E_STORAGE, or QB_E_INTERNAL for a
 * row that is not a payment. */
QB_MUST_USE enum qb_error wallet_bank_payments(struct store *reader, int64_t from_ms, int64_t to_ms,
                                               int64_t after, struct wallet_payment *out,
                                               size_t cap, size_t *count);
/* The payments the bank knows by bank_ref (non-empty: the reference a line
 * of its statement names), of any day, as wallet_bank_payments lists them:
 * those with a seq above after, oldest first, up to cap. Usually one. */
QB_MUST_USE enum qb_error wallet_payments_by_bank_ref(struct store *reader, const char *bank_ref,
                                                      int64_t after, struct wallet_payment *out,
                                                      size_t cap, size_t *count);

/* What the withdrawals from the account labelled account_label (a
 * wallet_pay_cmd's account_label, "merchant:<mchid>") held at at_ms: the
 * amount and fee of each one made before at_ms and resolved at or after
 * it, or not resolved yet: when its hold was captured or released, which
 * for one the bank took back (RETURNED) is its capture's entry, not the
 * return that moved its updated_at since. QB_E_STORAGE. */
QB_MUST_USE enum qb_error wallet_withdrawals_held_at(struct store *reader,
                                                     const char *account_label, int64_t at_ms,
                                                     int64_t *held_minor);

/* Reads a payment. With user_id not NULL, only one that user made or
 * received; another user's is QB_E_NOT_FOUND, like one that never existed. */
QB_MUST_USE enum qb_error wallet_payment_get(struct store *reader, const char *id,
                                             const char *user_id, struct wallet_payment *out);
/* Inside a command: the same, from the write connection. */
QB_MUST_USE enum qb_error wallet_txn_payment_get(struct ledger_txn *txn, const char *id,
                                                 struct wallet_payment *out);
/* Inside a command: clears p for a new payment and gives it its seq, its
 * id (which carries the seq: id_new_sequenced) and now as its times. The
 * seq is now in milliseconds shifted left by 15, or one more than the last
 * payment's when that is larger, so that each payment's row goes at the
 * end of the table. QB_E_STORAGE, or QB_E_OVERFLOW past the last seq. */
QB_MUST_USE enum qb_error wallet_txn_payment_new(struct ledger_txn *txn, struct qb_rand *rand,
                                                 struct wallet_payment *p);
/* Inside a command: the seq of a new row made now, as a payment's is made:
 * now in milliseconds shifted left by 15, or one more than the last when
 * that is larger, so that rows go at the end and an id carrying the seq
 * tells nothing of how many came before. last_sql reads the table's last
 * ("SELECT max(seq) FROM payments": a literal, so its statement is found
 * by its address). QB_E_STORAGE, or QB_E_OVERFLOW past the last seq. */
QB_MUST_USE enum qb_error wallet_txn_seq_new(struct ledger_txn *txn, const char *last_sql,
                                             int64_t *seq);
/* Inside a command: inserts p (id, times and all) / writes its mutable
 * fields (status, failure_code, hold_id, entry_id, bank_ref, updated_at,
 * next_check_at). */
QB_MUST_USE enum qb_error wallet_txn_payment_insert(struct ledger_txn *txn,
                                                    const struct wallet_payment *p);
QB_MUST_USE enum qb_error wallet_txn_payment_update(struct ledger_txn *txn,
                                                    const struct wallet_payment *p);

/* The wallet's part of what stands in the way of closing user's wallet,
 * whose ledger account is view (domain_env.user_close_blockers): a red
 * packet of theirs still taking claims, whose rest would be refunded to the
 * closed wallet (DOMAIN_CLOSE_RED_PACKET, added to *blockers), a payment
 * still at the bank (DOMAIN_CLOSE_PENDING), and a balance
 * (DOMAIN_CLOSE_BALANCE) that the KYC level 1 lifetime limit lets no
 * withdrawal or payment take (wallet_kyc_lifetime_keeps), named
 * DOMAIN_CLOSE_KYC_LIFETIME in its place. QB_E_STORAGE. */
QB_MUST_USE enum qb_error wallet_user_close_blockers(const struct domain_env *env,
                                                     struct store *store,
                                                     const struct identity_user *user,
                                                     const struct ledger_account_view *view,
                                                     uint32_t *blockers);
/* Inside the command that closes user_id's wallet, the wallet's part:
 * every card still bound is unbound, and every group collection of theirs
 * still open is closed (nobody can pay a closed wallet). QB_E_STORAGE. */
QB_MUST_USE enum qb_error wallet_txn_user_closed(struct ledger_txn *txn, const char *user_id);

/* Creates or finds the system accounts (CNY) through one ledger command,
 * and records their ids in env->accounts. Called once at start, before any
 * wallet command runs. */
QB_MUST_USE enum qb_error wallet_accounts_setup(struct ledger *ledger, struct domain_env *env);

/* --- what the checks of the books share ---------------------------------- */

/* Runs check (a domain's check of its rows against the journal) in one read
 * transaction: one snapshot, even beside a running daemon, so that the rows
 * it walks and the entries it counts after are of the same moment (else a
 * payment committed between them would read as one nobody made). *count
 * and problem start empty. check's answer, or QB_E_STORAGE. */
QB_MUST_USE enum qb_error
wallet_check_in_snapshot(struct store *reader,
                         enum qb_error (*check)(struct store *, int64_t *, char *, size_t),
                         int64_t *count, char *problem, size_t problem_size);

/* How many entries of code and kind a domain's rows name, each its own
 * (its ref the row's), for wallet_entries_check. */
struct wallet_entries_want {
    uint16_t code;
    enum ledger_entry_kind kind;
    const char *what; /* "top-ups' credits": "the journal holds N top-ups' credits" */
    const char *rows; /* "the top-ups and withdrawals": ", the top-ups and withdrawals M" */
    int64_t count;
};

/* Compares the journal's entries of the codes code_min..code_max with
 * want's counts (want_count of them): an entry beyond those the rows name
 * is money nobody's row moved, and one of a code and kind want lacks is
 * one no such row makes (maker: "top-up or withdrawal", "which no top-up
 * or withdrawal makes"). One scan of the journal for all of them. QB_OK,
 * QB_E_STORAGE, or QB_E_INTERNAL with what disagrees in problem. */
QB_MUST_USE enum qb_error wallet_entries_check(struct store *reader, uint16_t code_min,
                                               uint16_t code_max,
                                               const struct wallet_entries_want *want,
                                               size_t want_count, const char *maker, char *problem,
                                               size_t problem_size);

/* The operator's whole check of the books with a read connection: the
 * ledger (ledger_verify, with the spending sums as the daemon counts them),
 * then every user's and merchant's account its own (the account
 * users.account_id or merchants.account_id names is owned by it), then
 * each red packet against its claims and the journal
 * (redpacket_check), then each returned transfer against its return and
 * the journal (wallet_transfer_returns_check), then each delayed transfer
 * against its hold (wallet_delayed_transfers_check), then each merchant's
 * transfer to a user against its payment and hold (merchant_payouts_check),
 * then each merchant order, refund, reversal and closed merchant's
 * remainder against its payer's payment and entries
 * (merchant_orders_check, merchant/order.h), then each group collection
 * against its payments and their transfers
 * (wallet_collections_check), then each top-up and withdrawal against its
 * entries and hold (wallet_bank_payments_check, topup.h), then each
 * instant transfer against its entry (wallet_instant_transfers_check,
 * transfer.h), then the operators' audit trail's seals
 * (domain_audit_check). report as ledger_verify's, with the day's
 * closing books as of close_at_ms (0: none; the daemon and --verify ask for
 * the last midnight, UTC+8, before the check), *counts how many of each
 * the checks went through (a check's 0 when one before it failed).
 * chain_key and chain_key_new as struct ledger_options has them. */
struct wallet_verify_counts {
    int64_t red_packets;
    int64_t transfer_returns;
    int64_t delayed_transfers;
    int64_t payouts; /* merchants' transfers to users */
    int64_t orders;
    int64_t collections;
    int64_t bank_payments; /* top-ups and withdrawals */
    int64_t instant_transfers;
    int64_t audit_rows; /* 0 too for a trail not sealed yet */
    int64_t cards;      /* rows tied to the chain key (domain/rowtag.h) */
    int64_t merchants;
};
QB_MUST_USE enum qb_error wallet_verify(struct store *reader, const uint8_t *chain_key,
                                        bool chain_key_new, int64_t close_at_ms,
                                        struct ledger_verify_report *report,
                                        struct wallet_verify_counts *counts,
                                        ledger_verify_progress_fn progress, void *progress_arg);
/* The operator's repair of the checkpoints a start trusts instead of the
 * journal (qianbaod --rebuild-checkpoints): ledger_rebuild_checkpoints,
 * with the spending sums as the daemon counts them. */
QB_MUST_USE enum qb_error wallet_rebuild_checkpoints(struct store *writer, const uint8_t *chain_key,
                                                     bool chain_key_new,
                                                     struct ledger_rebuild_report *out,
                                                     ledger_verify_progress_fn progress,
                                                     void *progress_arg);

#endif

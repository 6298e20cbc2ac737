/*
 * collection.h — a group collection (群收款, AA收款): a user asks a number of
 * friends for the same amount each (the bill of a dinner split), shares the
 * collection's id, and each friend pays it from their balance.
 *
 * Owns: the collections table (one row per collection) and
 * collection_payments (one row per payer of one), and three commands:
 *
 *   create  (the asker) a title, the amount each, how many are to pay
 *           (count): OPEN until WALLET_COLLECTION_OPEN_MS pass.
 *   pay     (a friend) a transfer of the amount to the asker, the title its
 *           memo, arriving at once: every check of a transfer (transfer.h:
 *           the payer and the asker able to move money, the payment
 *           password or the password-free amount, the limits, the balance)
 *           and its stored answer under the Idempotency-Key; then, in the
 *           same command, the payer's row and the counts. The count-th
 *           payment completes it (COMPLETED).
 *   close   (the asker) no more payments: CLOSED. One closed, completed or
 *           past its time is answered as it is.
 *
 * No money is held: each payment is a transfer, one bill line for each of
 * the two (type transfer, memo the title), and a collection's figures are
 * the sum of its payments, kept in the same command.
 *
 * A payment its asker sends back (transfer.h, the return) counts no more:
 * the return's command marks its row (returned_at_ms) and takes it out of
 * the figures (wallet_txn_collection_payment_returned), and its payer may
 * pay again, a row of their own.
 *
 * The pay command's refusals, before the transfer's own, each writing
 * nothing: NOT_FOUND (no such collection); COLLECTION_PAID (this payer
 * paid it already and it was not sent back, whatever its state now: the
 * answer names their payment, payment_id); COLLECTION_CLOSED (closed,
 * completed or past its time, or WALLET_COLLECTION_PAYMENTS_MAX payments
 * made, sent back or not); SELF_TRANSFER (the asker's own).
 *
 * Must never: count a payment sent back, take a second payment from one
 * payer while their first counts, or count more than count.
 */
#ifndef QB_WALLET_COLLECTION_H
#define QB_WALLET_COLLECTION_H

#include <stdbool.h>
#include <stdint.h>

#include "base/money.h"
#include "base/rand.h"
#include "domain/domain.h"
#include "store/store.h"
#include "wallet/transfer.h"

/* How long a collection takes payments: 30 days. */
#define WALLET_COLLECTION_OPEN_MS (30 * INT64_C(86400000))
/* How many may be asked to pay one: a group chat's worth. */
#define WALLET_COLLECTION_COUNT_MAX 100
/* How many payments one collection keeps, those sent back included: a
 * payer may pay again after each return, and its page stays bounded. */
#define WALLET_COLLECTION_PAYMENTS_MAX (2 * WALLET_COLLECTION_COUNT_MAX)
/* The title: 1 to 64 bytes of UTF-8 (21 characters of Chinese), not blank. */
#define WALLET_COLLECTION_TITLE_SIZE_MAX 65
_Static_assert(WALLET_COLLECTION_TITLE_SIZE_MAX <= WALLET_MEMO_SIZE_MAX,
               "a collection's title is its payments' memo");

/* collections.state; stored. EXPIRED is never stored: an OPEN one past its
 * expires_at_ms is shown so (wallet_collection_state). */
enum wallet_collection_state {
    WALLET_COLLECTION_OPEN = 1,
    WALLET_COLLECTION_COMPLETED = 2,
    WALLET_COLLECTION_CLOSED = 3,
    WALLET_COLLECTION_EXPIRED = 4,
};

struct wallet_collection {
    int64_t seq;               /* its row's key, carried by its id */
    char id[ID_TEXT_SIZE_MAX]; /* "gc_..." */
    char creator_id[ID_TEXT_SIZE_MAX];
    char title[WALLET_COLLECTION_TITLE_SIZE_MAX];
    const struct currency *currency;
    int64_t amount_minor; /* each payer's */
    int64_t count;        /* how many are to pay */
    int64_t paid_count;
    int64_t paid_minor;
    enum wallet_collection_state state; /* as stored */
    int64_t created_at_ms;
    int64_t expires_at_ms;
    int64_t closed_at_ms; /* CLOSED or COMPLETED: when; else 0 */
};

/* One payment of a collection. */
struct wallet_collection_payment {
    char payer_id[ID_TEXT_SIZE_MAX];
    char payment_id[ID_TEXT_SIZE_MAX];
    int64_t amount_minor;
    int64_t paid_at_ms;
    int64_t returned_at_ms; /* when its asker sent it back; 0: not */
};

/* c's state as of now_ms: EXPIRED for an OPEN one past its time. */
enum wallet_collection_state wallet_collection_state(const struct wallet_collection *c,
                                                     int64_t now_ms);
/* "OPEN", "COMPLETED", "CLOSED", "EXPIRED". */
const char *wallet_collection_state_name(enum wallet_collection_state state);
/* Whether title may be a collection's: 1..64 bytes of clean UTF-8 text, not
 * only spaces. */
bool wallet_collection_title_is_valid(const char *title);

/* c as the API shows it (GET /v1/collections/{id}) without payments and
 * my_payment_id: its asker's name masked as creator_masked, creator_me
 * whether the reader asked for it, its status as of now_ms. NULL when out
 * of memory. */
json_t *wallet_collection_json(const struct wallet_collection *c, const char *creator_masked,
                               bool creator_me, int64_t now_ms);

/* The collection id into *out: QB_E_NOT_FOUND for none (a malformed id
 * too), QB_E_STORAGE, QB_E_INTERNAL for a row no writer made. */
QB_MUST_USE enum qb_error wallet_collection_get(struct store *reader, const char *id,
                                                struct wallet_collection *out);
/* creator_id's collections with a seq below before_seq (0: from the
 * newest), newest first, at most room into rows, their number in *count. */
QB_MUST_USE enum qb_error wallet_collections_of(struct store *reader, const char *creator_id,
                                                int64_t before_seq, struct wallet_collection *rows,
                                                size_t room, size_t *count);
/* The payments of collection id in the order made, those sent back too, at
 * most room into rows. */
QB_MUST_USE enum qb_error wallet_collection_payments(struct store *reader, const char *id,
                                                     struct wallet_collection_payment *rows,
                                                     size_t room, size_t *count);

/* The operator's check (run by wallet_verify): every collection's figures
 * are the count and sum of its payments' rows not sent back, each row names
 * a transfer SUCCESS of the collection's amount from its payer to the
 * collection's asker, the title its memo, and a row is marked sent back,
 * at its return's time, exactly when that transfer was returned. QB_OK, QB_E_STORAGE, or
 * QB_E_INTERNAL with what is wrong in problem. *collections the number
 * checked. */
QB_MUST_USE enum qb_error wallet_collections_check(struct store *reader, int64_t *collections,
                                                   char *problem, size_t problem_size);

/* Inside the command that returns the transfer payment_id (transfer.h), its
 * return made at returned_at_ms: when the transfer paid a collection, its
 * payer's row is marked sent back and counts no more: the collection's
 * figures drop by it, one it completed is OPEN again (EXPIRED past its
 * time), one closed stays closed, and its payer may pay it again. QB_OK
 * (for a transfer that paid none too), QB_E_STORAGE, QB_E_INTERNAL. */
QB_MUST_USE enum qb_error wallet_txn_collection_payment_returned(struct ledger_txn *txn,
                                                                 const char *payment_id,
                                                                 int64_t returned_at_ms);

/* Inside the command that closes creator_id's wallet: every collection of
 * theirs still open is CLOSED, at now. QB_E_STORAGE. */
QB_MUST_USE enum qb_error wallet_txn_collections_close_all(struct ledger_txn *txn,
                                                           const char *creator_id);

/* Creates a collection; outcome PARAM (a bad title, count or amount: the
 * route checks them first), ACCOUNT_FROZEN (the asker's wallet is frozen
 * or takes no money: its payments could not reach it), UNAUTHORIZED (no
 * such user) or QB_OK with the collection. The answer, success or refusal,
 * is stored in cmd.response (201 and the collection as its asker reads it),
 * and kept under an Idempotency-Key when the caller sets one: a retry of
 * an ask whose answer was lost gets the first collection, not a second. */
struct wallet_collection_create_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    const struct domain_env *env;
    char creator_id[ID_TEXT_SIZE_MAX];
    char title[WALLET_COLLECTION_TITLE_SIZE_MAX];
    int64_t amount_minor;
    int64_t count;
    /* Out. */
    enum qb_error outcome;
    struct wallet_collection collection;
};
void wallet_collection_create_cmd_init(struct wallet_collection_create_cmd *c,
                                       const struct domain_env *env);

/* Closes creator_id's collection id; outcome NOT_FOUND (none of theirs),
 * or QB_OK with the collection as it is now. */
struct wallet_collection_close_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    const struct domain_env *env;
    char creator_id[ID_TEXT_SIZE_MAX];
    char id[ID_TEXT_SIZE_MAX];
    /* Out. */
    enum qb_error outcome;
    struct wallet_collection collection;
};
void wallet_collection_close_cmd_init(struct wallet_collection_close_cmd *c,
                                      const struct domain_env *env);

/* A payment of collection_id by transfer.payer_id: set the payer, the
 * payment password (or none) and the Idempotency-Key on the transfer as for
 * a transfer; its payee, amount, memo and arrival are the collection's. The
 * answer, the outcome and the payment are the transfer's (transfer.h), the
 * refusals above included. */
struct wallet_collection_pay_cmd {
    struct wallet_transfer_cmd transfer; /* first: its cmd is the ledger's */
    char collection_id[ID_TEXT_SIZE_MAX];
};
void wallet_collection_pay_cmd_init(struct wallet_collection_pay_cmd *c,
                                    const struct domain_env *env);

#endif

/*
 * ledger.h — accounts, journal entries, holds, idempotency, the executor.
 *
 * Owns: every balance in Qianbao. This is the only code that changes one.
 * Domain modules (transfers, orders, red packets ...) describe a movement of
 * money as a command; the ledger runs it on its single writer thread inside
 * one database transaction, and answers only after that transaction is
 * durably committed.
 *
 * The model (docs/decisions/0002-ledger-design.md has the reasons):
 *
 *   account   owner text, one currency, a kind, flags (debit/credit frozen)
 *             and a floor: the lowest balance - held it may reach (0 for a
 *             user or merchant balance; -limit for a credit line;
 *             LEDGER_FLOOR_NONE for system accounts such as bank clearing,
 *             or 0 for one such as escrow: ledger_account_floor_allowed).
 *   entry     one journal row: id (dense, increasing), kind, a domain code and
 *             reference, and 2..LEDGER_POSTINGS_MAX postings whose amounts
 *             sum to zero per currency. Append-only. Each entry stores
 *             HMAC-SHA-256 under the chain key (DATA_DIR/chain-key) of the
 *             previous entry's hash and its canonical encoding, so any change
 *             to history breaks the chain, and only the key's holder can
 *             write one that does not (docs/ledger.md, "The hash chain").
 *   posting   (account, currency, amount, held delta, balance after, the
 *             previous entry of that account). The last field chains every
 *             account's history, so a page of history is a walk back along
 *             the chain, no secondary index needed.
 *   hold      a two-phase movement from a debit to a credit account: reserve
 *             (LEDGER_ENTRY_HOLD: the debit account's held amount grows, its
 *             available balance shrinks at once), then exactly one of capture
 *             (in full or in part, the rest released), void, or expiry at its
 *             deadline. Each step is an entry in the chain.
 *
 * Balances live in memory, owned by the writer thread, and are rebuilt at
 * start from a checkpoint (the balance columns of the accounts table, flushed
 * a few at a time inside ordinary batches) plus the journal after it. Readers
 * on other threads see committed balances through per-account sequence locks,
 * never the writer's uncommitted working state.
 *
 * The executor: submitters (HTTP threads, workers) hand a struct ledger_cmd
 * to a bounded queue; the writer drains up to batch_max commands, runs each
 * in turn (a failing command is rolled back alone, in memory and in the
 * database), commits the batch once (group commit: one fsync for many
 * payments) and then calls every command's done callback. A full queue
 * answers QB_E_BUSY at once.
 *
 * Must never: acknowledge before the commit is durable; let a user balance
 * go below its floor; change a journal row; let a hold resolve twice.
 * Invariants are asserted where money moves, in every build.
 */
#ifndef QB_LEDGER_LEDGER_H
#define QB_LEDGER_LEDGER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/crypto.h"
#include "base/error.h"
#include "base/money.h"
#include "store/store.h"

struct ledger;
struct ledger_txn;

#define LEDGER_POSTINGS_MAX 8
#define LEDGER_REF_SIZE_MAX 64   /* bytes of an entry's domain reference, incl. NUL */
#define LEDGER_OWNER_SIZE_MAX 96 /* bytes of an account's owner text, incl. NUL */
#define LEDGER_FLOOR_NONE INT64_MIN
#define LEDGER_IDEM_KEY_SIZE_MAX 256
#define LEDGER_RESPONSE_SIZE_MAX (64 * 1024)
/* The room ledger_submit makes for a command's answer: most fit in it. */
#define LEDGER_RESPONSE_RESERVE 1024

enum ledger_account_kind {
    LEDGER_ACCOUNT_USER = 1,     /* a wallet holder's stored balance */
    LEDGER_ACCOUNT_MERCHANT = 2, /* a merchant's settlement balance */
    LEDGER_ACCOUNT_SYSTEM = 3,   /* bank clearing, fee income, escrow, ... */
    LEDGER_ACCOUNT_CREDIT = 4,   /* a credit line: may go below zero to its floor */
};

enum ledger_account_flags {
    LEDGER_ACCOUNT_DEBIT_FROZEN = 1 << 0,  /* no money may leave */
    LEDGER_ACCOUNT_CREDIT_FROZEN = 1 << 1, /* no money may arrive */
    LEDGER_ACCOUNT_CLOSED = 1 << 2,        /* neither; empty, for good */
};

enum ledger_entry_kind {
    LEDGER_ENTRY_TRANSFER = 1, /* an ordinary posted movement */
    LEDGER_ENTRY_HOLD = 2,     /* reserve: the debit account's held grows */
    LEDGER_ENTRY_CAPTURE = 3,  /* a hold captured (ref_entry_id is the hold) */
    LEDGER_ENTRY_VOID = 4,     /* a hold released by request */
    LEDGER_ENTRY_EXPIRE = 5,   /* a hold released at its deadline */
};

struct ledger_account_spec {
    const char *owner; /* "user:u_...", "system:bank_clearing"; unique with currency+kind */
    const struct currency *currency;
    enum ledger_account_kind kind;
    uint32_t flags;       /* enum ledger_account_flags */
    int64_t floor_minor;  /* lowest allowed balance - held; LEDGER_FLOOR_NONE for none */
};

/* What a user account has spent: the sums of its debits, and of what its
 * holds reserve (counted when held: their capture counts nothing), by
 * entries whose code counts as spending (ledger_options.spending_code), by
 * the day and the year they fell in (ledger_options.spending_period), less
 * what came back unspent: an entry whose code gives back
 * (ledger_options.spending_giveback_code) and that names the spending it
 * undoes (ref_entry_id: a release names its hold) takes what it credits
 * the account, or releases on it, off the lifetime's sum, and off the day's
 * and the year's while they are still those of the spending's day and year
 * (a sum of an earlier day or year no longer counts). The ledger keeps them
 * like balances (in memory, checkpointed with the account, rebuilt from the
 * journal), so that checking a spending limit writes nothing but the entry.
 * A sum of another day or year than the one it is read in counts as zero:
 * the reader compares day_start_ms and year with its own. */
struct ledger_spent {
    int64_t day_start_ms; /* the day day_minor counts in */
    int64_t day_minor;
    int64_t year;         /* the year year_minor counts in */
    int64_t year_minor;
    int64_t lifetime_minor;
};

/* A committed account as readers see it. */
struct ledger_account_view {
    int64_t id;
    const struct currency *currency;
    enum ledger_account_kind kind;
    uint32_t flags;
    int64_t floor_minor;
    int64_t balance_minor;   /* posted balance */
    int64_t held_minor;      /* reserved by open holds on this account */
    int64_t available_minor; /* balance - held */
    int64_t last_entry_id;   /* newest entry touching it; 0 when none */
    struct ledger_spent spent; /* user accounts; all zero for others */
};

struct ledger_posting {
    int64_t account_id;
    uint16_t currency_numeric; /* ISO 4217 numeric of the account */
    int64_t amount_minor;      /* + credit, - debit */
    int64_t held_delta_minor;  /* change of the account's held amount */
    int64_t balance_after_minor;
    int64_t prev_entry_id;     /* previous entry of the same account; 0 for none */
};

struct ledger_entry {
    int64_t id;
    int64_t created_at_ms;
    enum ledger_entry_kind kind;
    uint16_t code;          /* the domain's type of movement (transfer, top-up ...) */
    int64_t ref_entry_id;   /* the hold, for CAPTURE/VOID/EXPIRE; else 0 */
    int64_t expires_at_ms;  /* for HOLD; else 0 */
    char ref[LEDGER_REF_SIZE_MAX]; /* the domain's id of the movement, may be "" */
    uint8_t posting_count;
    struct ledger_posting postings[LEDGER_POSTINGS_MAX];
    uint8_t hash[CRYPTO_SHA256_SIZE];
};

/* What a domain command asks to post. Amounts: + credit, - debit. */
struct ledger_leg {
    int64_t account_id;
    int64_t amount_minor;
};

/* --- the command ------------------------------------------------------- */

struct ledger_cmd;
/* Runs on the writer thread inside the batch transaction. Returns QB_OK to
 * keep what it did, or an error to have all of it rolled back (in memory and
 * in the database). May write cmd->response (kept with the idempotency
 * record and returned byte for byte on a replay). Must not block, sleep or
 * do network I/O. */
typedef enum qb_error (*ledger_cmd_run_fn)(struct ledger_txn *txn, struct ledger_cmd *cmd);
/* Called on the writer thread after the batch committed (or failed). Must be
 * quick: set a flag, resume a connection, signal a waiter. */
typedef void (*ledger_cmd_done_fn)(struct ledger_cmd *cmd);

struct ledger_cmd {
    /* Set by the submitter: */
    ledger_cmd_run_fn run;
    ledger_cmd_done_fn done; /* NULL when submitted through ledger_execute */
    void *ctx;               /* the submitter's, untouched by the ledger */
    /* Printed as req= on the lines run logs (log_set_request_id), or NULL;
     * must outlive the command. */
    const char *log_request_id;
    /* Optional idempotency: when idem_key is non-NULL, (idem_principal,
     * idem_key) names the request and request_hash fingerprints its body.
     * With has_legacy_hash, a record kept with legacy_request_hash, the
     * request's fingerprint as an earlier version took it, is the
     * request's too. */
    const char *idem_principal;
    const char *idem_key;
    uint8_t request_hash[CRYPTO_SHA256_SIZE];
    bool has_legacy_hash;
    uint8_t legacy_request_hash[CRYPTO_SHA256_SIZE];
    /* Optional, for an operator's command (domain/audit.h): run after run
     * kept its work (QB_OK), in the same savepoint, to write the record of
     * what the command did, which it reads through record_arg. Its error
     * rolls the whole command back, so that no action stands without its
     * record and no record outlives an action rolled back. NULL for every
     * other command, which pays one test for it. */
    ledger_cmd_run_fn record;
    void *record_arg;

    /* Set by the ledger before done: */
    enum qb_error result;
    bool replayed;           /* the answer came from the idempotency record */
    struct buf response;     /* init by ledger_cmd_init, released by ledger_cmd_release */

    /* Internal. */
    struct ledger_cmd *next;
    int64_t submitted_ns;
    int64_t idem_fingerprint; /* of (idem_principal, idem_key), by the submitter's thread */
    void *waiter;
};

void ledger_cmd_init(struct ledger_cmd *cmd, ledger_cmd_run_fn run, void *ctx);
void ledger_cmd_release(struct ledger_cmd *cmd);

/* --- lifetime ---------------------------------------------------------- */

struct ledger_options {
    struct qb_clock *clock;      /* NULL: the system clock */
    size_t queue_max;            /* commands waiting; 0: 65536 */
    size_t batch_max;            /* commands per transaction; 0: 8192 */
    size_t flush_per_batch;      /* checkpointed accounts per batch while the replay
                                  * lag is under replay_lag_max (beyond it, twice the
                                  * batch's entries more); 0: as many as keep the
                                  * replay near replay_lag_max / 2 */
    int64_t replay_lag_max;      /* entries behind before flushing harder; 0: 2,000,000 */
    /* How long an idempotency record is kept at least, from the batch that
     * made it; the writer deletes older ones, oldest first, a few with each
     * batch. 0: kept forever. */
    int64_t idempotency_retention_ms;
    /* Spending (struct ledger_spent): whether an entry's code counts as
     * spending for the user accounts it debits, and the day and year a
     * moment falls in. Both or neither; NULL: nothing is counted. They
     * must never change their answer for a code or a moment already in the
     * journal, since a restart replays it. */
    bool (*spending_code)(uint16_t code);
    void (*spending_period)(int64_t at_ms, int64_t *day_start_ms, int64_t *year);
    /* Whether an entry of this code that names an earlier entry gives back
     * (struct ledger_spent) what that entry spent, as far as it returns it
     * to the same user account: a hold released (VOID, EXPIRE) or a
     * transfer posted with ledger_txn_post_back. NULL: nothing is given
     * back. The same rule as above: never a new answer for a code that
     * entries naming another already carry. */
    bool (*spending_giveback_code)(uint16_t code);
    /* Where the ledger says how far its commits are durable, for the read
     * pool to wait on (store_pool_horizon_set); it must outlive every reader.
     * NULL: a horizon of the ledger's own. */
    struct store_horizon *horizon;
    /* pin_writer: the writer thread runs on writer_cpu only, one of the
     * CPUs the process may use (thread_cpu_allowed). Otherwise the
     * scheduler places it. */
    bool pin_writer;
    int writer_cpu;
    /* The hash chain's key: 32 bytes (DATA_DIR/chain-key), which entries
     * from meta.chain_keyed_from on are hashed under; meta.chain_key_check
     * ties that entry to the key (docs/ledger.md). NULL: 32 zero bytes,
     * which may begin a chain (tests and tools without a data directory). */
    const uint8_t *chain_key;
    /* Whether this key may begin the chain of a journal not keyed yet (a
     * new database, or one kept by a version without the key): ledger_open
     * keys it from its next entry, and ledger_verify checks it unkeyed.
     * Otherwise a journal not keyed is refused as one altered to pass for
     * an older: a key that exists was made with its keyed chain. */
    bool chain_key_new;
};

/* Loads the ledger from `writer` (a STORE_MODE_WRITE connection it takes
 * over: nobody else may use it until ledger_close) and starts the writer
 * thread. Fails with QB_E_STORAGE on I/O errors, QB_E_CONFLICT when the
 * chain key is not the one the journal was keyed with, or the journal is
 * not keyed and options do not let the key begin its chain, and QB_E_INTERNAL (the
 * daemon must not start then) when what it reads is inconsistent: the
 * journal it replays (from the checkpoint on) or the newest entry before it
 * fails the hash chain, an account's floor is not one its kind allows
 * (ledger_account_floor_allowed), an account's checkpoint names an entry
 * that does not post to it or disagrees with that entry's balance, an open
 * hold's row disagrees with its HOLD entry (accounts, amount, deadline), an
 * account's chain does not continue, or the open holds disagree with the
 * held amounts. Beyond the entries the checkpoints and open holds name it
 * does not re-read older history: that would make every restart grow with
 * the journal. The whole chain and every checkpoint's running state are
 * ledger_verify's to check (qianbaod --verify). */
QB_MUST_USE enum qb_error ledger_open(struct store *writer, const struct ledger_options *options,
                                      struct ledger **out);
/* Stops taking commands (new submissions answer QB_E_SHUTTING_DOWN), runs
 * every queued command, flushes every account checkpoint so the next start
 * replays nothing, stops the thread and frees the ledger. The store stays
 * open and goes back to the caller. */
void ledger_close(struct ledger *ledger);
/* All of ledger_close but the free: afterwards the ledger takes no command
 * and ledger_stats_get still answers, so that another thread can report
 * the queue while the stop drains it; ledger_close then only frees.
 * Idempotent; the caller of ledger_close's only. */
void ledger_stop(struct ledger *ledger);

/* --- the executor -------------------------------------------------------- */

/* Queues cmd. QB_OK: cmd->done will be called exactly once, later, once the
 * command's batch is durable or has failed: from the ledger's syncing
 * thread or its writer thread, never from the submitter's. QB_E_BUSY (queue
 * full, or no memory for the answer's room) or QB_E_SHUTTING_DOWN: it will
 * not, and nothing was done. cmd must stay alive until done runs. */
QB_MUST_USE enum qb_error ledger_submit(struct ledger *ledger, struct ledger_cmd *cmd);
/* Submits cmd and waits for it: the answer is cmd->result (or the submit
 * error). For tests, tools and background workers; HTTP threads use
 * ledger_submit with a done callback so that no thread waits. */
QB_MUST_USE enum qb_error ledger_execute(struct ledger *ledger, struct ledger_cmd *cmd);
/* Submits every one of cmds at once, so that they share batches and their
 * durable commits, and waits for all: each one's answer is its result.
 * Answers QB_OK when all were taken; else the first submit error (BUSY,
 * SHUTTING_DOWN), which the commands from the refused one on also hold as
 * their result, never submitted (the ones before it were, and ran). */
QB_MUST_USE enum qb_error ledger_execute_all(struct ledger *ledger, struct ledger_cmd *const *cmds,
                                             size_t count);

/* --- inside a command (writer thread only) ------------------------------ */

/* The time the running command runs at (wall clock, ms): read as each
 * command starts, never earlier than the command before it in the batch.
 * Its entries are stamped with it and its deadlines judged by it. */
int64_t ledger_txn_now_ms(struct ledger_txn *txn);
/* The write connection, for the command's own domain tables: the writes are
 * part of the batch transaction and rolled back with the command. */
struct store *ledger_txn_store(struct ledger_txn *txn);
/* Runs fn(arg) on the writer once the batch that runs this command has
 * ended (committed, or failed), before the writer runs the next batch and
 * before any of its commands is completed (which waits for the commit's
 * sync): for a cache outside the ledger that must forget what the command
 * changed, so that a reader who sees the effect of fn reads the committed
 * state. It runs even if the command is rolled back (forgetting
 * too much is harmless). The same (fn, arg) asked for several times in one
 * batch runs once; at most LEDGER_AFTER_BATCH_MAX distinct ones a batch. */
#define LEDGER_AFTER_BATCH_MAX 8
void ledger_txn_after_batch(struct ledger_txn *txn, void (*fn)(void *arg), void *arg);

/* --- watching owners -------------------------------------------------------------- */

/* A 64-bit key of an owner's text ("user:u_…"), as a watcher is told it.
 * Two owners may share one (rarely): a watcher woken for the other finds
 * nothing new and waits on. */
uint64_t ledger_owner_key(const char *owner);
/* Told, once a batch is durable and its commands completed, the owner keys
 * of every account the batch changed and of every owner its commands named
 * (ledger_txn_owner_changed); a key may come more than once. Runs on the
 * thread that publishes batches (the syncer, or the writer): it must be
 * quick and never wait on the ledger. */
typedef void (*ledger_watch_fn)(void *arg, const uint64_t *keys, size_t count);
/* Sets the watcher (NULL: none), from any thread; arg and waiting must
 * outlive the ledger's threads (ledger_close). The watcher is told only
 * while *waiting is not 0: a watcher raises it before it reads the state it
 * waits on, then issues a sequentially consistent fence; the ledger issues
 * one after it publishes a batch and before it reads *waiting, so that
 * either the watcher's read sees the batch or the ledger sees the watcher. */
void ledger_watch_set(struct ledger *ledger, ledger_watch_fn fn, void *arg,
                      const _Atomic int64_t *waiting);
/* Inside a command: owner changed in a way none of its accounts shows (a
 * notice written for them, a payment waiting for their confirmation), to
 * be told to the watcher with the batch; forgotten when the command rolls
 * back. */
void ledger_txn_owner_changed(struct ledger_txn *txn, const char *owner);

/* The current command's answer is not kept under its idempotency key: a
 * refusal that holds only for a while (a rate limit's window), so that the
 * same request retried under its key once it has passed is made. The
 * command must have written nothing that its retry would write again. */
void ledger_txn_answer_passes(struct ledger_txn *txn);

/* Replaces the answer kept for the request (principal, key), when a record
 * of it is kept, with response (its ledger result and request hash stay):
 * a retry of that request from now on is answered with it. When none is
 * kept, keeps response as the answer to any request under the key from now
 * on, whatever its body, for the retention. For a command that makes an
 * earlier request's answer untrue, or closes the key to a request still on
 * its way, such as a payment-code order reversed after its codepay answered
 * SUCCESS, or before the codepay arrived. Part of the command's
 * transaction, rolled back with it. *found: whether a record was kept.
 * QB_E_STORAGE. */
QB_MUST_USE enum qb_error ledger_txn_idem_answer_set(struct ledger_txn *txn, const char *principal,
                                                     const char *key, const void *response,
                                                     size_t response_size, bool *found);

/* Creates an account. QB_E_CONFLICT when (owner, currency, kind) exists,
 * QB_E_PARAM for a bad spec. */
QB_MUST_USE enum qb_error ledger_txn_account_create(struct ledger_txn *txn,
                                                    const struct ledger_account_spec *spec,
                                                    int64_t *account_id);
/* Sets an account's flags. LEDGER_ACCOUNT_CLOSED is for good and only for
 * an empty account: QB_E_CONFLICT when it would be cleared, or set on an
 * account with a balance or money held (ledger_verify checks that every
 * closed account ends the journal empty). QB_E_NOT_FOUND, QB_E_PARAM. */
QB_MUST_USE enum qb_error ledger_txn_account_set_flags(struct ledger_txn *txn, int64_t account_id,
                                                       uint32_t flags);
/* Whether this ledger counts spending (ledger_options.spending_code). */
bool ledger_txn_counts_spending(const struct ledger_txn *txn);
/* The working (uncommitted, this batch included) state of an account. */
QB_MUST_USE enum qb_error ledger_txn_account_get(struct ledger_txn *txn, int64_t account_id,
                                                 struct ledger_account_view *out);

/* Posts one entry moving money between 2..LEDGER_POSTINGS_MAX accounts
 * (each at most once, amounts non-zero, summing to zero per currency).
 * code and ref are the domain's (ref may be NULL). Errors: QB_E_PARAM (bad
 * legs), QB_E_NOT_FOUND (no such account), QB_E_ACCOUNT_FROZEN,
 * QB_E_INSUFFICIENT_BALANCE (a debit would cross the floor), QB_E_OVERFLOW. */
QB_MUST_USE enum qb_error ledger_txn_post(struct ledger_txn *txn, uint16_t code, const char *ref,
                                          const struct ledger_leg *legs, size_t leg_count,
                                          int64_t *entry_id);
/* ledger_txn_post of money that comes back unspent: the entry names
 * spent_entry_id (> 0, earlier: its ref_entry_id), the entry whose spending
 * it undoes, so that, when code gives back (spending_giveback_code), what
 * it credits a user account is taken off that account's spending sums.
 * QB_E_PARAM besides ledger_txn_post's errors when it would give back more
 * than the named entry spent from an account it credits, or more than the
 * sums still hold. */
QB_MUST_USE enum qb_error ledger_txn_post_back(struct ledger_txn *txn, uint16_t code,
                                               const char *ref, const struct ledger_leg *legs,
                                               size_t leg_count, int64_t spent_entry_id,
                                               int64_t *entry_id);
/* Reserves amount_minor (> 0) on debit_account for credit_account until
 * expires_at_ms (0: never). *hold_id is the id of the HOLD entry. Same
 * errors as ledger_txn_post. */
QB_MUST_USE enum qb_error ledger_txn_hold(struct ledger_txn *txn, uint16_t code, const char *ref,
                                          int64_t debit_account_id, int64_t credit_account_id,
                                          int64_t amount_minor, int64_t expires_at_ms,
                                          int64_t *hold_id);
/* Captures amount_minor (1..held) of an open hold; the rest is released.
 * QB_E_NOT_FOUND (no such hold), QB_E_HOLD_RESOLVED (captured, voided or
 * expired already, or past its deadline), QB_E_PARAM (amount out of range),
 * QB_E_ACCOUNT_FROZEN (credit side frozen). */
QB_MUST_USE enum qb_error ledger_txn_capture(struct ledger_txn *txn, int64_t hold_id,
                                             int64_t amount_minor, uint16_t code, const char *ref,
                                             int64_t *entry_id);
/* Releases an open hold whole. Under a code that gives back
 * (spending_giveback_code), the release gives the hold's spending back
 * (QB_E_PARAM when the sums no longer hold it). Errors as ledger_txn_capture's. */
QB_MUST_USE enum qb_error ledger_txn_void(struct ledger_txn *txn, int64_t hold_id, uint16_t code,
                                          const char *ref, int64_t *entry_id);

/* --- reading (any thread) ------------------------------------------------ */

/* The ledger's time now: the clock's, or while the clock is behind the
 * newest entry (set back, or a restart with another clock), the time the
 * ledger keeps stamping entries with, which never goes back. A reader
 * that counts what the ledger has done "today" or "this year" (a limit's
 * use) asks this, so that its day is the day commands are judged in. */
int64_t ledger_now_ms(struct ledger *ledger);

/* A time before which every command has run and either committed or
 * failed: now, when no batch runs; else when the last finished batch
 * stopped taking commands (a command runs at the time it reads,
 * ledger_txn_now_ms). A reader that judges rows by the clock (an order
 * past its deadline reads CLOSED or REVOKED; a day's bill is complete once
 * the day has ended) asks this BEFORE it reads the rows, and judges them
 * as of it: a command that ran before the deadline may still be
 * committing, and its row would say otherwise a moment later. */
int64_t ledger_settled_ms(struct ledger *ledger);

/* The newest entry whose commit is durable, and its hash (0 and zeros for
 * an empty journal): what the daemon records outside the database
 * (DATA_DIR/chain-head), so that an older copy of the database put in its
 * place is found at the next start (ledger_head_check). */
void ledger_durable_head(struct ledger *ledger, int64_t *entry_id,
                         uint8_t hash[CRYPTO_SHA256_SIZE]);
/* Whether the journal read through s holds entry_id with this hash: QB_OK;
 * QB_E_NOT_FOUND when it ends before (*last_entry_id: its last entry, 0
 * for none), an older copy of the database; QB_E_CONFLICT when entry_id
 * has another hash; QB_E_STORAGE. */
QB_MUST_USE enum qb_error ledger_head_check(struct store *s, int64_t entry_id,
                                            const uint8_t hash[CRYPTO_SHA256_SIZE],
                                            int64_t *last_entry_id);

/* --- records sealed outside the journal ---------------------------------- */

/* A domain may keep records outside the journal in a chain of their own
 * under the chain key (the operators' audit trail, domain/audit.h): record
 * seq's seal is HMAC-SHA-256(chain key, "QBS1" || seq (int64 LE) || the
 * seal of record seq - 1 (32 zero bytes for record 1) || the record's
 * encoding), so that a record changed, removed or put between two others
 * breaks the chain, and only the key's holder can write one that does not;
 * the newest seal the daemon keeps outside the database (ledger_durable_seal)
 * finds records cut off its end. One such chain per ledger. */

/* Inside a command: seals record seq (> 0) whose predecessor's seal is
 * prev, into mac; the newest seal of a batch is published once the batch
 * is durable (ledger_durable_seal), and forgotten when the command rolls
 * back, as its record is. */
void ledger_txn_seal(struct ledger_txn *txn, int64_t seq, const uint8_t prev[CRYPTO_SHA256_SIZE],
                     const void *record, size_t size, uint8_t mac[CRYPTO_SHA256_SIZE]);
/* The same seal under chain_key (32 bytes; NULL: 32 zero bytes, as struct
 * ledger_options has it), for a check without a ledger. Pure. */
void ledger_seal(const uint8_t *chain_key, int64_t seq, const uint8_t prev[CRYPTO_SHA256_SIZE],
                 const void *record, size_t size, uint8_t mac[CRYPTO_SHA256_SIZE]);
/* The newest record a durable batch sealed since the ledger opened: 0 and
 * zeros when none has (the one before is the caller's to know). */
void ledger_durable_seal(struct ledger *ledger, int64_t *seq, uint8_t mac[CRYPTO_SHA256_SIZE]);

/* The committed state of an account, without locks. QB_E_NOT_FOUND. */
QB_MUST_USE enum qb_error ledger_account_view(struct ledger *ledger, int64_t account_id,
                                              struct ledger_account_view *out);
/* Finds an account by (owner, currency, kind) with a read connection. */
QB_MUST_USE enum qb_error ledger_account_find(struct store *reader, const char *owner,
                                              const struct currency *currency,
                                              enum ledger_account_kind kind, int64_t *account_id);
/* An entry read by another module's query, which joins the entries table
 * as alias t and selects these columns, in this order; then decoded from
 * the column first on by ledger_entry_from_columns: QB_E_INTERNAL for a
 * row no writer makes, and for none at all (NULL columns: no such entry in
 * a LEFT JOIN). */
#define LEDGER_ENTRY_COLUMNS_OF(t)                                                                 \
    t ".id, " t ".created_at_ms, " t ".kind, " t ".code, " t ".ref_entry_id, " t                   \
      ".expires_at_ms, " t ".ref, " t ".postings, " t ".hash"
QB_MUST_USE enum qb_error ledger_entry_from_columns(struct store_stmt *stmt, int first,
                                                    struct ledger_entry *out);
/* Reads one committed entry. QB_E_NOT_FOUND. */
QB_MUST_USE enum qb_error ledger_entry_read(struct store *reader, int64_t entry_id,
                                            struct ledger_entry *out);
/* A hold as a domain's check of its own rows reads it: its HOLD entry
 * hold_id, the entry that ended it (end_id; 0: none, *end zeroed) and
 * whether it is still open (in the holds table). QB_E_NOT_FOUND when an
 * entry is missing, QB_E_STORAGE. */
QB_MUST_USE enum qb_error ledger_hold_read(struct store *reader, int64_t hold_id, int64_t end_id,
                                           struct ledger_entry *hold, struct ledger_entry *end,
                                           bool *open);
/* How many entries of code and kind the journal holds, for a domain's
 * check that each is one of its rows. QB_E_STORAGE. */
QB_MUST_USE enum qb_error ledger_entries_count(struct store *reader, uint16_t code,
                                               enum ledger_entry_kind kind, int64_t *count);
/* A page of an account's history, newest first: up to limit entries starting
 * at entry `cursor` (0: the newest). *next_cursor is the entry to ask for
 * next, 0 when the history is exhausted. A walk back along the account's
 * chain: limit point reads, no scan. */
QB_MUST_USE enum qb_error ledger_history(struct ledger *ledger, struct store *reader,
                                         int64_t account_id, int64_t cursor, size_t limit,
                                         struct ledger_entry *entries, size_t *count,
                                         int64_t *next_cursor);

/* The walk of ledger_history without the ledger: up to limit entries of
 * the account's chain starting at entry `cursor` (> 0), newest first, with
 * a read connection alone. For readers that took the starting point from a
 * ledger_account_view of their own (its last_entry_id, read together with
 * the balances they show) and carry it across pages. QB_E_PARAM when cursor
 * is not an entry of the account; QB_E_INTERNAL when the chain breaks past
 * it. The caller vouches that cursor is committed. */
QB_MUST_USE enum qb_error ledger_history_read(struct store *reader, int64_t account_id,
                                              int64_t cursor, size_t limit,
                                              struct ledger_entry *entries, size_t *count,
                                              int64_t *next_cursor);

/* The posting of `account_id` in entry, or NULL. */
const struct ledger_posting *ledger_entry_posting(const struct ledger_entry *entry,
                                                  int64_t account_id);
/* Whether entry's postings are legs exactly: one per leg, on its account,
 * of its amount, holding or releasing nothing; legs name distinct
 * accounts. For a domain's check that an entry moved what its row says,
 * with the legs its command posted. */
bool ledger_entry_moves(const struct ledger_entry *entry, const struct ledger_leg *legs,
                        size_t leg_count);

/* --- operations ------------------------------------------------------------ */

#define LEDGER_LATENCY_BUCKETS 16
struct ledger_stats {
    uint64_t commands_total;         /* completed, any result */
    uint64_t commands_failed_total;  /* completed with an error */
    uint64_t batches_total;
    uint64_t entries_total;          /* committed since open */
    uint64_t queue_depth;            /* now */
    uint64_t commit_failures_total;
    int64_t commit_failed_at_ns; /* monotonic time of the newest failed commit; 0: none */
    int64_t commit_ok_at_ns;     /* and of the newest that succeeded; 0: none */
    /* commit latency histogram: bucket i counts commits taking at most
     * ledger_latency_bucket_us(i) microseconds (the last is +Inf). */
    uint64_t commit_latency_us_buckets[LEDGER_LATENCY_BUCKETS];
    uint64_t commit_latency_us_sum;
    uint64_t commit_latency_us_max;  /* the slowest commit since open */
    /* command latency histogram, same buckets: from ledger_submit to the
     * done callback (the queue, the batch, its commit) */
    uint64_t command_latency_us_buckets[LEDGER_LATENCY_BUCKETS];
    uint64_t command_latency_us_sum;
    /* sync latency histogram, same buckets: each sync of the log that
     * makes batches durable (one covers every batch committed before it
     * began), the disk's part of a commit's latency */
    uint64_t sync_latency_us_buckets[LEDGER_LATENCY_BUCKETS];
    uint64_t sync_latency_us_sum;
    /* batch size histogram: bucket i counts batches of at most 2^i commands */
    uint64_t batch_size_buckets[LEDGER_LATENCY_BUCKETS];
    uint64_t batch_size_sum;
    int64_t replay_lag_entries;      /* entries a restart would replay now */
    uint64_t account_checkpoints_total; /* accounts' checkpoint rows written */
    int64_t idempotency_records;        /* kept now (as of the last batch) */
    uint64_t idempotency_expired_total; /* deleted past their retention since open */
    struct store_stats store;           /* the writer's connection's log and checkpoints */
};
void ledger_stats_get(struct ledger *ledger, struct ledger_stats *out);
/* How long after a failed commit with none succeeding since the ledger
 * counts as failing (ledger_stats_failing). */
#define LEDGER_FAILING_NS (INT64_C(10) * 1000000000)
/* Whether commits are failing at now_ns: the newest commit failed, less than
 * LEDGER_FAILING_NS ago (a full disk, a lost volume). Later, with no commit
 * tried since, it is unknown again, and counts as not failing, so that a
 * health check lets traffic back to find out. Pure. */
bool ledger_stats_failing(const struct ledger_stats *stats, int64_t now_ns);
/* Upper bound of commit latency bucket i in microseconds; INT64_MAX for the last. */
int64_t ledger_latency_bucket_us(int i);
/* The latency bucket that counts us microseconds: the first whose bound is
 * at least us. The HTTP layer keeps its own waits in the same buckets. */
int ledger_latency_bucket(uint64_t us);

/* "user", "merchant", "system", "credit"; NULL for anything else. */
const char *ledger_account_kind_name(enum ledger_account_kind kind);
/* Whether an account of this kind may have this floor: 0 for a user or a
 * merchant account, 0 or below for a system account (LEDGER_FLOOR_NONE
 * included), below or at 0 but not LEDGER_FLOOR_NONE for a credit line.
 * ledger_txn_account_create refuses any other, and the start and
 * ledger_verify refuse a stored one. */
bool ledger_account_floor_allowed(enum ledger_account_kind kind, int64_t floor_minor);

/* The trial balance (试算表) a passing check proves, as of its last entry:
 * for each currency and kind of account that has accounts, how many and
 * the sums of their balances and held amounts (the kinds of a currency sum
 * to zero, as every balance does), and each system account on its own, the
 * books' named lines (the money at the banks, fees earned, escrow), the
 * first LEDGER_TRIAL_SYSTEM_MAX by id. */
#define LEDGER_TRIAL_LINES_MAX (CURRENCY_COUNT_MAX * 4)
#define LEDGER_TRIAL_SYSTEM_MAX 32
struct ledger_trial_line {
    const struct currency *currency;
    enum ledger_account_kind kind;
    int64_t accounts;
    int64_t balance_minor;
    int64_t held_minor;
};
struct ledger_trial_account {
    char owner[LEDGER_OWNER_SIZE_MAX]; /* "system:bank_clearing" */
    const struct currency *currency;
    int64_t balance_minor;
    int64_t held_minor;
};
struct ledger_trial_balance {
    size_t line_count; /* by currency (the table's order), then kind */
    struct ledger_trial_line lines[LEDGER_TRIAL_LINES_MAX];
    size_t system_count;
    struct ledger_trial_account system[LEDGER_TRIAL_SYSTEM_MAX];
};

struct ledger_verify_report {
    int64_t entries_total; /* entries in the journal's snapshot */
    int64_t entries_checked;  /* entries 1 to this one, in order */
    int64_t last_entry_at_ms; /* the last one checked: when it was written (0: none) */
    int64_t accounts_checked;
    int64_t holds_open;
    int64_t chain_keyed_from; /* the first entry hashed under the chain key; 0: not keyed */
    /* The first problem found, "" when none: room for one that names the
     * data directory's files (up to three paths of 1 KiB) and what to do
     * about it. Bytes, as the paths are: not always UTF-8. */
    char problem[4608];
    struct ledger_trial_balance trial; /* as of the last entry; when the check passes */
    /* The books at a moment asked for (a day's end), when the check passes:
     * as of close_entry_id, the last entry written before close_at_ms (0:
     * none, the books were empty). */
    int64_t close_at_ms;
    int64_t close_entry_id;
    struct ledger_trial_balance close;
};
/* Where the journal's chain is keyed from (meta.chain_keyed_from), read
 * through s without the key: 0 when it is not keyed. QB_E_STORAGE. */
QB_MUST_USE enum qb_error ledger_chain_keyed_from(struct store *s, int64_t *out);

/* Checks a stored ledger from the start of the journal with a read
 * connection: every account's floor one its kind allows, the chain key
 * against meta.chain_key_check (a journal not keyed passes only when
 * options->chain_key_new, or without a key), the hash chain,
 * each entry summing to zero per currency, each posting's balance_after and
 * prev_entry_id, no balance below its floor at any point, each hold
 * resolved at most once and never over-captured, every account's
 * checkpoint naming an entry that posts to it (or none, 0, when it is
 * empty) and equal to its running state there (with the spending sums,
 * counted by options' rule, when options has one; NULL: not checked), open
 * holds equal to the holds table (deadlines included), every closed account
 * empty at the journal's end, and the sum of all balances per currency
 * zero; then sums the trial balance into report->trial, and with
 * close_at_ms > 0 the one of the last entry written before then into
 * report->close (a day's closing books).
 * QB_OK when all hold; QB_E_INTERNAL with report->problem naming the first
 * failure; QB_E_STORAGE on read errors. progress (may be NULL) is called
 * every 65536 entries and once at the end of the journal; when it answers
 * false the check stops there with QB_E_SHUTTING_DOWN (a daemon stopping). */
typedef bool (*ledger_verify_progress_fn)(int64_t done, int64_t total, void *arg);
QB_MUST_USE enum qb_error ledger_verify(struct store *reader, const struct ledger_options *options,
                                        int64_t close_at_ms, struct ledger_verify_report *report,
                                        ledger_verify_progress_fn progress, void *progress_arg);

struct ledger_rebuild_report {
    struct ledger_verify_report journal; /* the journal's checks, as ledger_verify's */
    int64_t accounts_rewritten;          /* checkpoints that disagreed with the journal */
    int64_t first_accounts[8];           /* the first of them, by id */
    bool holds_rewritten;                /* the holds table was not the open holds */
    int64_t replay_from_before;
    int64_t replay_from; /* as written: the entry after the last */
};
/* The repair of what a start reads instead of the journal, offline, with
 * the write connection of a database no ledger has open: replays the whole
 * journal as ledger_verify does, with the checks of the journal itself
 * only (the hash chain, every entry, every posting's balance_after and
 * prev_entry_id, floors, holds, balances summing to zero per currency),
 * and when they pass writes what they derived in one transaction: every
 * account checkpoint that disagrees (balance, held, last entry, spending
 * sums counted by options' rule), the holds table when it is not the open
 * holds, and replay_from past the last entry. QB_OK with out telling what
 * changed; QB_E_INTERNAL with out->journal.problem when the journal fails
 * a check (nothing written: the journal is the record, and a broken one is
 * for a restore, not a repair); QB_E_STORAGE; QB_E_SHUTTING_DOWN when
 * progress stops it. */
QB_MUST_USE enum qb_error ledger_rebuild_checkpoints(struct store *writer,
                                                     const struct ledger_options *options,
                                                     struct ledger_rebuild_report *out,
                                                     ledger_verify_progress_fn progress,
                                                     void *progress_arg);

#endif

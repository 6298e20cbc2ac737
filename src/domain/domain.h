/*
 * domain.h — what every domain module shares: the environment and the
 * convention for commands.
 *
 * Owns: struct domain_env (the clock, the randomness source, the keys
 * derived from the secrets in the data directory, and the domain settings),
 * the sealing of data at rest (secretbox under a key kept outside the
 * database), and keyed hashing of short secrets.
 *
 * The command convention. A domain write is a struct whose FIRST member is
 * a struct ledger_cmd; its run function casts the ledger_cmd pointer back to
 * the struct (cmd->ctx belongs to the submitter: the HTTP layer uses it).
 * Two results matter and must not be confused:
 *   - the ledger result (what run returns): QB_OK keeps every write of the
 *     command, anything else rolls all of them back;
 *   - the domain outcome (the struct's `outcome` field): what the user is
 *     told. Some refusals must still leave a trace — a wrong SMS code or
 *     payment password counts against its tries — so such a command returns
 *     QB_OK to the ledger (keeping the counter) with outcome set to the
 *     refusal. Callers answer from `outcome` when the ledger result is QB_OK.
 *
 * Idempotent commands (money-moving POSTs carry an Idempotency-Key): run
 * writes the complete answer into cmd->response with domain_response_set —
 * the HTTP status, then the JSON body — success and refusal alike. The
 * ledger stores those bytes with the idempotency record in the same
 * transaction, so a retry with the same key and body is answered from them
 * byte for byte (domain_response_get), without running again.
 *
 * Must never: do network I/O or slow hashing (Argon2id) inside run: it runs
 * on the ledger's single writer thread. Slow work happens on the calling
 * thread before submitting.
 */
#ifndef QB_DOMAIN_DOMAIN_H
#define QB_DOMAIN_DOMAIN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/clock.h"
#include "base/crypto.h"
#include "base/error.h"
#include "base/json_out.h"
#include "base/rand.h"
#include "ledger/ledger.h"

#define DOMAIN_KEY_SIZE 32
/* Sealed data: 24-byte nonce, then ciphertext and a 16-byte tag. */
#define DOMAIN_SEAL_OVERHEAD (24 + 16)

struct domain_settings {
    int64_t session_idle_ms;          /* 30 min */
    int64_t session_absolute_ms;      /* 7 days */
    int64_t session_recent_ms;        /* 15 min: a login this recent may end the account's
                                       * other sessions */
    int64_t session_touch_ms;         /* last_seen is written at most this often: 60 s,
                                       * never more than idle / 10 (domain_env_init) */
    int64_t sms_code_ttl_ms;          /* 300 s */
    int64_t sms_cooldown_ms;          /* 60 s per phone and purpose */
    int64_t sms_daily_max;            /* 10 per phone per day (UTC+8 calendar day) */
    int64_t sms_failures_max;         /* 5 wrong tries void a code */
    int64_t payment_password_failures_max; /* 5 */
    int64_t payment_password_lock_ms; /* 3 hours */
    int64_t login_failures_max;       /* 5 wrong login passwords in a row lock logging in */
    int64_t login_lock_ms; /* for 15 minutes, each lock again twice as long (a day at most) */
    int64_t login_failures_window_ms; /* a wrong one counts for a day after the last */
    bool new_device_code;             /* a password login from a device new to an account
                                       * also needs an SMS code: yes (--trust-new-devices: no) */
    int64_t kyc_wallets_per_person;   /* wallets one id number may verify (KYC level 2): 3 */
    uint64_t argon2_ops;              /* crypto_pwhash opslimit */
    size_t argon2_memory_size;        /* crypto_pwhash memlimit in bytes */

    /* Money in and out (src/wallet). Amounts in CNY minor units (fen). */
    int64_t withdrawal_fee_ppm;       /* 1000: 0.1 % of the amount */
    int64_t withdrawal_fee_min_minor; /* 10: at least ¥0.10 */
    int64_t withdrawal_free_quota_minor; /* withdrawn without a fee in a wallet's lifetime: 0 */
    int64_t withdrawal_check_ms;         /* a pending payment is asked about no sooner: 2 s
                                          * (wallet_bank_next_check_ms) */
    int64_t limit_per_payment_minor;  /* one payment from the balance: ¥20,000 */
    int64_t limit_daily_minor;        /* payments from the balance per day (UTC+8): ¥50,000 */
    int64_t limit_kyc1_lifetime_minor;/* KYC level 1, the account's lifetime: ¥1,000 */
    int64_t limit_kyc2_yearly_minor;  /* KYC level 2, per calendar year: ¥100,000 */
    int64_t limit_kyc3_yearly_minor;  /* KYC level 3, per calendar year: ¥200,000 */
    int64_t password_free_max_minor;  /* the highest password-free amount a user may set: ¥200 */
    int64_t password_free_daily_max;  /* payments without the password per day (UTC+8) at most: 5 */
    int64_t payee_lookups_max;        /* phone numbers one user may look up in a window: 50 */
    int64_t payee_lookup_window_ms;   /* the window: 1 hour */
    int64_t payee_lookups_daily_max;  /* and in a day, so the hour's is not the only bound: 200 */
    int64_t payee_lookup_day_ms;      /* that day: 24 hours from the first */

    /* Red packets (src/wallet/redpacket.h). */
    int64_t red_packet_total_max_minor; /* one packet at most: ¥200 */
    int64_t red_packet_expiry_ms;       /* unclaimed money returns after: 24 h */

    /* Merchant notifications (src/merchant/notify.h). */
    bool notify_private_allowed;   /* --allow-private-notify: loopback and private notify_urls */
    int64_t notify_ladder_divisor; /* the retry ladder's delays divided by this: 1 (tests: more) */
    /* Payment codes (src/merchant/paycode.h, docs/paycode.md). */
    int64_t paycode_free_max_minor;     /* the highest password-free amount of one code payment: ¥200 */
    int64_t paycode_free_daily_max;     /* password-free code payments per day at most: 5 */
    int64_t paycode_confirm_ms;         /* a USERPAYING order waits for its payer: 30 s */
    int64_t paycode_wrong_max;          /* wrong codes in a row that lock a slot: 5 */
    int64_t paycode_lock_ms;            /* for: 15 min */
    int64_t paycode_merchant_wrong_max; /* wrong codes a merchant's owner (all their
                                         * merchants), or a merchant without one, may
                                         * submit in a window: 20 */
    int64_t paycode_merchant_window_ms; /* the window: 10 min */
    int64_t paycode_devices_max;        /* active devices per user: 5 */
    int64_t paycode_device_adds_max;    /* devices a user may add, by hand or the server-held
                                         * one, in 24 hours (a revoked slot's quarantine): 10 */
    /* The background workers (domain_worker_poll_ms). */
    int64_t worker_poll_ms; /* how long an idle worker sleeps: 0, each its own (tests: an
                             * hour, so that a sleep with work left cannot pass unseen) */
};

/* The system accounts money enters and leaves through (CNY), created on
 * first start by wallet_accounts_setup (src/wallet). */
struct domain_system_accounts {
    int64_t bank_clearing; /* "system:bank_clearing": money held at the banks */
    int64_t fee_income;    /* "system:fee_income" */
    int64_t red_packet_escrow; /* "system:red_packet_escrow": sent, not yet claimed or
                                * refunded; floor 0, so it can never pay out more */
};

/* What stands in the way of closing a wallet (IDENTITY_OP_CLOSE,
 * GET /v1/me/closing), as bits of a set; a refusal names the lowest. */
enum domain_close_blocker {
    DOMAIN_CLOSE_BALANCE = 1 << 0, /* "balance": money available */
    /* "kyc_lifetime", instead of "balance": money available that no
     * withdrawal or payment can take, for the KYC level 1 lifetime limit
     * (wallet_user_close_blockers); the owner's closing names the limit
     * (LIMIT_EXCEEDED), an operator's the balance */
    DOMAIN_CLOSE_KYC_LIFETIME = 1 << 1,
    DOMAIN_CLOSE_PENDING = 1 << 2,          /* "pending": held, or a payment at the bank */
    DOMAIN_CLOSE_RED_PACKET = 1 << 3,       /* "red_packet": one sent still takes claims */
    DOMAIN_CLOSE_MERCHANT = 1 << 4,         /* "merchant": a merchant owned */
    DOMAIN_CLOSE_FROZEN = 1 << 5,           /* "frozen": the wallet is frozen */
    DOMAIN_CLOSE_PAYMENT_PASSWORD = 1 << 6, /* "payment_password": none set, to prove it */
};
#define DOMAIN_CLOSE_BLOCKER_COUNT 7
/* The name of one bit ("balance"...), NULL for anything else. */
const char *domain_close_blocker_name(uint32_t blocker);

struct bank_connector; /* src/bank/bank.h */
struct store;          /* src/store/store.h */
struct ledger_txn;     /* src/ledger/ledger.h */
struct merchant_platform; /* src/merchant/merchant.h */
struct identity_session_cache; /* src/identity/identity.h */
struct identity_user_cache; /* src/identity/identity.h */
struct identity_user;       /* src/identity/identity.h */
struct ratelimit;           /* src/base/ratelimit.h */

struct domain_env {
    struct qb_clock *clock;
    struct qb_rand *rand;
    /* For the start and the workers, all done before the ledger closes.
     * Never used on an HTTP thread: a stop closes the ledger while those
     * still answer, so they submit and read through the server
     * (http_request_execute, http_request_account_view), which detaches
     * it first. */
    struct ledger *ledger;
    struct domain_settings settings;
    struct domain_system_accounts accounts;
    struct bank_connector *bank;      /* top-ups and withdrawals; set by the daemon */
    /* Codes go to an SMS provider (--sms-provider-url): GET /admin/sms-outbox
     * then never shows one, delivered or not; set by the daemon. */
    bool sms_provider;
    /* Notices (sms_txn_notice) are not written: the provider's template
     * cannot say one (it holds neither {text} nor {purpose}, so a notice
     * would go out as a code's template with no code); set by the daemon. */
    bool sms_notices_off;
    /* The platform's signing key and certificate (the merchant API signs
     * its responses with it); set by the daemon, NULL when absent. */
    const struct merchant_platform *platform;
    /* The next one during a rotation (qianbaod --platform-key-rotate):
     * published at /v3/certificates beside it, signing nothing yet; NULL
     * when none is under way. */
    const struct merchant_platform *platform_next;
    /* Called by identity inside the command that freezes a user, in its
     * transaction, for what a layer above keeps that a lost phone could
     * still use (merchant_txn_user_frozen: payment-code devices, whose
     * seeds are on the phone); set by the daemon, NULL: nothing. Its error
     * fails the freeze. */
    enum qb_error (*user_frozen)(struct ledger_txn *txn, const struct domain_env *env,
                                 const char *user_id);
    /* What a layer above keeps for a user that stands in the way of
     * closing their wallet, whose ledger account is view
     * (merchant_user_close_blockers: merchants owned, red packets still
     * taking claims, and a balance the wallet's limits keep in it, named
     * DOMAIN_CLOSE_KYC_LIFETIME in place of DOMAIN_CLOSE_BALANCE):
     * DOMAIN_CLOSE_* bits changed in *blockers. Reads with store, a
     * command's (ledger_txn_store, view its working state) or a read
     * connection; writes nothing. Set by the daemon, NULL: nothing. */
    enum qb_error (*user_close_blockers)(const struct domain_env *env, struct store *store,
                                         const struct identity_user *user,
                                         const struct ledger_account_view *view,
                                         uint32_t *blockers);
    /* Called by identity inside the command that closes a user's wallet,
     * once nothing blocks it, for what a layer above keeps that the closed
     * wallet no longer needs (merchant_txn_user_closed: cards, payment-code
     * devices). Set by the daemon, NULL: nothing. Its error fails the
     * command. */
    enum qb_error (*user_closed)(struct ledger_txn *txn, const struct domain_env *env,
                                 const char *user_id);
    /* Called by identity inside a command, after each of its statements
     * that revoked sessions of user_id, for the owners a layer above
     * watches for that user (merchant_txn_sessions_revoked: the merchants
     * it owns, whose waiting requests then wake and answer 401), as
     * ledger_txn_owner_changed names them.
     * Set by the daemon, NULL: nothing. Its error fails the command. */
    enum qb_error (*sessions_revoked)(struct ledger_txn *txn, const struct domain_env *env,
                                      const char *user_id);
    /* Called by the wallet inside a withdrawal from a balance that is not
     * the user's own, in its command, with that balance's label
     * ("merchant:<mchid>"): QB_OK when money may leave it for a card,
     * QB_E_ACCOUNT_FROZEN when it may not (merchant_txn_payout_check: a
     * suspended merchant's money stays for its refunds), QB_E_STORAGE. Set
     * by the daemon, NULL: always QB_OK. */
    enum qb_error (*payout_check)(struct ledger_txn *txn, const struct domain_env *env,
                                  const char *account_label);
    /* Sessions of recent requests (identity_session_cache_new); set and
     * freed by the daemon, NULL: none. */
    struct identity_session_cache *sessions;
    /* Users as commands read them (identity_user_cache_new); the writer's
     * only; set and freed by the daemon, NULL: none. */
    struct identity_user_cache *users;
    /* Each user's look-ups of payees by phone number (GET /v1/payees, a
     * transfer to a phone), settings.payee_lookups_max a window
     * (wallet_payee_lookup_take); set and freed by the daemon, NULL: no
     * limit. */
    struct ratelimit *payee_lookups;
    /* The same look-ups, settings.payee_lookups_daily_max a day
     * (settings.payee_lookup_day_ms): fifty an hour alone would let one
     * account test some 1,200 phone numbers a day. Set and freed by the
     * daemon, NULL: no daily limit. */
    struct ratelimit *payee_lookups_daily;
    /* Which phone each user looked up in the window (max 1, keyed "user
     * id phone"): a phone looked up again in it tells nothing new, so it
     * counts once (the look-up a payer reads before paying, then the
     * transfer's own). Set and freed by the daemon, NULL: every look-up
     * counts. */
    struct ratelimit *payee_lookups_seen;
    /* Each merchant's wrong names of each user in its transfers
     * (merchant_payout_create_cmd: MERCHANT_PAYOUT_NAME_MISSES_MAX a
     * window, keyed "mchid:user id"); set and freed by the daemon, NULL:
     * no limit. */
    struct ratelimit *payout_name_misses;
    /* Keys derived from DATA_DIR/pepper and DATA_DIR/card-key; never
     * logged, never stored in the database. */
    uint8_t pepper_key[DOMAIN_KEY_SIZE];          /* pre-hash of login passwords */
    uint8_t payment_password_key[DOMAIN_KEY_SIZE];/* keyed hash of payment passwords */
    uint8_t sms_code_key[DOMAIN_KEY_SIZE];        /* keyed hash of SMS codes */
    uint8_t login_guess_key[DOMAIN_KEY_SIZE];     /* keyed hash of unregistered phones */
    uint8_t seal_key[DOMAIN_KEY_SIZE];            /* data at rest: id numbers, outbox, cards */
    uint8_t id_number_key[DOMAIN_KEY_SIZE];       /* keyed hash of id numbers, to count wallets */
    uint8_t cursor_key[DOMAIN_KEY_SIZE];          /* tags of list cursors that carry state */
    uint8_t card_hash_key[DOMAIN_KEY_SIZE];       /* keyed hash of card numbers (duplicates) */
    uint8_t openid_key[DOMAIN_KEY_SIZE];          /* a user's per-app pseudonym (openid) */
    uint8_t qr_key[DOMAIN_KEY_SIZE];              /* MACs of QR payloads (src/qr/qr.h) */
    uint8_t notify_key[DOMAIN_KEY_SIZE];          /* seals of merchant notifications' rows */
    /* DATA_DIR/chain-key as it is, for the operator's check of the chain
     * (struct ledger_options); set by the daemon, zero elsewhere. */
    uint8_t chain_key[DOMAIN_KEY_SIZE];
    /* Keyed once under the pepper's request subkey, copied for each
     * request's fingerprint (domain_request_fingerprint). */
    struct crypto_hmac_sha256_state request_mac;
};

/* The production defaults of struct domain_settings. */
void domain_settings_default(struct domain_settings *settings);

/* Fills env's keys from the two 32-byte secrets (subkeys through
 * crypto_kdf, one context per use) and wipes nothing of the inputs. */
void domain_env_init(struct domain_env *env, struct qb_clock *clock, struct qb_rand *rand,
                     struct ledger *ledger, const struct domain_settings *settings,
                     const uint8_t pepper[DOMAIN_KEY_SIZE], const uint8_t data_key[DOMAIN_KEY_SIZE]);
/* Wipes the keys. */
void domain_env_release(struct domain_env *env);

/* Seals size bytes into out (size + DOMAIN_SEAL_OVERHEAD bytes) with the
 * seal key and a fresh random nonce. */
void domain_seal(const struct domain_env *env, const void *data, size_t size, uint8_t *out);
/* Opens what domain_seal made; false when it was tampered with or is not
 * sealed data. out has room for sealed_size - DOMAIN_SEAL_OVERHEAD bytes. */
QB_MUST_USE bool domain_unseal(const struct domain_env *env, const uint8_t *sealed,
                               size_t sealed_size, void *out);

/* HMAC-SHA-256 of data under key: fingerprints for short secrets (codes,
 * payment passwords) that an attacker without the key cannot brute-force. */
void domain_keyed_hash(const uint8_t key[DOMAIN_KEY_SIZE], const void *data, size_t size,
                       uint8_t out[CRYPTO_SHA256_SIZE]);

/* A request's fingerprint as it is stored beside its idempotency key (or
 * its order or refund number): HMAC-SHA-256, under a subkey of the pepper,
 * of digest, the SHA-256 of what identifies the request (method, path and
 * body; or a merchant body with sorted keys). The plain digest of a body
 * that holds a six-digit payment password would give the password up to
 * anyone holding a copy of the database in a second. */
void domain_request_fingerprint(const struct domain_env *env,
                                const uint8_t digest[CRYPTO_SHA256_SIZE],
                                uint8_t out[CRYPTO_SHA256_SIZE]);
/* meta's value for key, or 0 (and *found false) when it has none. */
QB_MUST_USE enum qb_error domain_meta_get(struct store *store, const char *key, int64_t *value,
                                          bool *found);
/* Sets meta's value for key. */
QB_MUST_USE enum qb_error domain_meta_put(struct store *store, const char *key, int64_t value);
/* Checks that the secrets the daemon read (DATA_DIR/pepper and card-key)
 * are the ones this database was made with: each key's check value (the
 * first 63 bits of its keyed hash of a fixed text; it tells nothing of the
 * key) is kept in meta on the first start that has none, and compared on
 * every start after. Secrets of another installation would fail every
 * login and leave every card and id number unreadable, while new users
 * would be written under the wrong keys. QB_OK; QB_E_CONFLICT with *which
 * naming the secret ("pepper", "card-key") that does not belong; or the
 * ledger's failure. Call before the first request is served. */
/* The platform key's part: platform_key is the signing key's value (the
 * first 63 bits of the SHA-256 of its public key's PEM: domain_platform_value).
 * meta.key_check_platform names the database's: learned on the first start
 * that has none, moved on by qianbaod --platform-key-rotate finish (which
 * holds the data directory's lock), and otherwise the only key taken while
 * the database has a merchant, since merchants' SDKs trust what it signs;
 * without one, a new key is taken (logged). Else *which is "platform-key".
 * The values are written only when every secret belongs: nothing is learned
 * from a start that is refused. */
QB_MUST_USE enum qb_error domain_keys_check(const struct domain_env *env, int64_t platform_key,
                                            const char **which);
/* The same check of pepper and card-key, read through reader, writing
 * nothing (qianbaod --verify): QB_OK when each belongs or the database has
 * no check value of it yet; QB_E_CONFLICT with *which; QB_E_STORAGE. */
QB_MUST_USE enum qb_error domain_keys_belong(const struct domain_env *env, struct store *reader,
                                             const char **which);
/* A platform key's value for meta.key_check_platform, from its public key's
 * PEM. */
int64_t domain_platform_value(const char *public_key_pem, size_t size);

/* Keys, once, the fingerprints that earlier versions stored as the plain
 * digest (idempotency records, merchant orders, refunds): each becomes
 * domain_request_fingerprint of itself, so that a retry of a request made
 * before the upgrade still matches. Runs through the ledger in batches of a
 * few thousand rows, each with its progress in meta, so that a stop part
 * way resumes without keying a row twice; meta.request_fingerprints_keyed
 * marks it done. Call before the first request is served. *rekeyed: rows
 * keyed by this call. */
QB_MUST_USE enum qb_error domain_request_fingerprints_rekey(const struct domain_env *env,
                                                            int64_t *rekeyed);

/* Writes an idempotent command's answer into cmd->response: the status as
 * three digits, a newline, then body as compact JSON (keys in insertion
 * order). QB_E_INTERNAL when body cannot be rendered. */
QB_MUST_USE enum qb_error domain_response_set(struct ledger_cmd *cmd, int status,
                                              const json_t *body);
/* The same, written with json_out (base/json_out.h) instead of built with
 * jansson: for the answers of the writer's hot paths. open resets
 * cmd->response to the status and opens the body's object in *out; the
 * caller writes the members; close ends the object. close answers
 * QB_E_INTERNAL (and leaves no answer) when the body could not be written. */
void domain_response_open(struct ledger_cmd *cmd, int status, struct json_out *out);
QB_MUST_USE enum qb_error domain_response_close(struct ledger_cmd *cmd, struct json_out *out);
/* The refusal err as an answer: its status from the error table and
 * {"code", "message"} (message NULL: the table's), plus the members of extra
 * when not NULL (e.g. {"limit": "daily"}). */
QB_MUST_USE enum qb_error domain_response_error(struct ledger_cmd *cmd, enum qb_error err,
                                                const char *message, const json_t *extra);
/* Inside a command: from now on a retry of the earlier request (principal,
 * key) is answered with the refusal err (message NULL: the table's), not
 * with what it was answered then; with no answer kept, any request under the
 * key is (ledger_txn_idem_answer_set). *found: whether that request's answer
 * was kept. QB_E_STORAGE, QB_E_INTERNAL. */
QB_MUST_USE enum qb_error domain_txn_answer_set_error(struct ledger_txn *txn, const char *principal,
                                                      const char *key, enum qb_error err,
                                                      const char *message, bool *found);
/* Reads back what domain_response_set wrote (fresh or replayed): false when
 * the response is not in that form. *body points into cmd->response. */
QB_MUST_USE bool domain_response_get(const struct ledger_cmd *cmd, int *status,
                                     const char **body, size_t *body_size);
/* A time as the API shows it: RFC 3339 in UTC+8 ("2026-11-22T10:00:00+08:00"),
 * null for 0. */
json_t *domain_time_json(int64_t at_ms);
/* The same as a member written with json_out. */
void domain_time_out(struct json_out *out, const char *key, int64_t at_ms);

/* A background thread running pass(arg, stopping, more) every poll_ms
 * until stopped (worker.c). A pass should end early once *stopping is true;
 * an error is logged and the next pass runs as usual. A pass that stopped
 * at its batch's limit with work left sets *more (false on entry): the next
 * pass then runs at once instead of after poll_ms, so that a backlog drains
 * at the rate the work allows, not one batch per poll (ignored after an
 * error, so that a failing pass cannot spin).
 *
 * To add a worker: 1) read what is due with domain_due_ids, at most a
 * batch, after a cursor the worker keeps between its passes; 2) set *more
 * when that read came full (cursor.full): the next pass reads on after
 * it at once, and a row that stays due (failing, or not taken up) is read
 * again only once a read comes short and the cursor starts over, so that
 * it can neither have the loop spin nor, with a batch's worth of its
 * kind, hold back the rows due after it; 3) start with
 * domain_worker_poll_ms(env, its own poll), so that a test can set the
 * poll to an hour; 4) test that a backlog of a few batches drains under
 * that hour's poll; 5) when a row's command fails, end the pass only if
 * domain_worker_pass_ends says so (and start the cursor over: the rest of
 * the batch was not tried), else log it and go on to the next row (it is
 * not taken up). */
struct domain_worker;
typedef enum qb_error (*domain_worker_pass_fn)(void *arg, const atomic_bool *stopping, bool *more);
QB_MUST_USE enum qb_error domain_worker_start(const char *name, int poll_ms,
                                              domain_worker_pass_fn pass, void *arg,
                                              struct domain_worker **out);
/* The poll_ms a worker whose own interval is own_poll_ms starts with: the
 * settings' worker_poll_ms when set, else its own. */
int domain_worker_poll_ms(const struct domain_env *env, int own_poll_ms);
/* Whether err, the ledger's answer to the command of one row of a worker's
 * pass, ends the pass: the ledger could not run it (stopping, busy,
 * failing storage), and the next pass tries again. A command that failed
 * on its own (a damaged row, a bug) does not: its row stays due, and the
 * rows after it are taken up, so that one failing every time holds up no
 * other. Logs it (event, at warn, or error when the row failed on its own,
 * with what names the row). A busy ledger or failing storage also makes
 * the worker's next pass wait, longer each time (domain/worker.c). */
bool domain_worker_pass_ends(enum qb_error err, const char *event, const char *row);
/* Ends the worker's sleep: the next pass runs at once, or right after the
 * one in progress. For a worker whose pass hands work to threads of its
 * own, which call this when they take more (a thread free again). Safe
 * from any thread until domain_worker_stop. */
void domain_worker_wake(struct domain_worker *worker);
/* Wakes the worker, waits for the pass in progress and frees it. */
void domain_worker_stop(struct domain_worker *worker);
/* Where a worker has got to in its due rows: after the row due at due_ms
 * with number seq (the row's unique integer, which orders rows due at the
 * same time). full: the last read came full, so more may be due right
 * after it. DOMAIN_DUE_START: before the first row. */
struct domain_due_cursor {
    int64_t due_ms;
    int64_t seq;
    bool full;
};
#define DOMAIN_DUE_START ((struct domain_due_cursor){INT64_MIN, INT64_MIN, false})
/* What a worker's pass takes up: the first column of sql's rows, after
 * *cursor. sql selects the id, the due time and the seq of a row, binding $1
 * to now_ms, $2 to max and ($3, $4) to the cursor (`SELECT id, due, seq
 * ... WHERE due <= $1 AND (due, seq) > ($3, $4) ORDER BY due, seq LIMIT
 * $2`, over an index on due whose entries end in seq: a rowid table's
 * own, seq being its rowid), read with a connection borrowed from pool for
 * this read alone. Each id of 1 .. id_size - 1 bytes goes
 * NUL-ended into the next of ids' max slots of id_size bytes; another (no
 * id a command wrote) is skipped. *count of them. Then *cursor is after
 * the last row read when max rows came (full), else DOMAIN_DUE_START (and
 * so when the rows came out of order, a due time no integer: logged). A
 * row that comes due before the cursor (a clock stepped back, a time set
 * by hand) waits until a read comes short, and then for the next pass.
 * QB_E_STORAGE (logged), or the pool's refusal: *cursor as it was. */
struct store_pool;
QB_MUST_USE enum qb_error domain_due_ids(struct store_pool *pool, const char *sql, int64_t now_ms,
                                         struct domain_due_cursor *cursor, char *ids,
                                         size_t id_size, size_t max, size_t *count);

/* Midnight (UTC+8, the calendar day of Qianbao's users) at or before at_ms. */
int64_t domain_day_start_ms(int64_t at_ms);

#endif

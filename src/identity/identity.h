/*
 * identity.h — users, sessions, passwords, KYC and the security centre.
 *
 * Owns: the users, sessions and security_events tables, and each user's
 * CNY wallet account in the ledger (created with the user, owner
 * "user:<id>"). Who a caller is (sessions), what they may do (status,
 * KYC level), and how they prove it (login password, payment password,
 * SMS codes through src/sms).
 *
 * Secrets:
 *   login password    Argon2id (crypto_pwhash_str) over HMAC(pepper_key,
 *                     password): hashed and verified on the calling thread
 *                     (identity_password_hash / _verify: the HTTP server's
 *                     password threads), never on the writer; the stored
 *                     string is useless without the pepper.
 *   payment password  six digits; HMAC(payment_password_key, user id ||
 *                     digits) — cheap to verify inside a payment command,
 *                     useless offline without the key. Weak ones refused.
 *                     settings.payment_password_failures_max wrong tries lock
 *                     it for settings.payment_password_lock_ms; counted in the
 *                     writer, so parallel guesses are evaluated one at a time.
 *   session token     32 random bytes, given out once as 64 hex characters;
 *                     stored as SHA-256. Idle and absolute timeouts.
 *   device key        the same, given to the device a session is opened on
 *                     and presented at its next logins: a login with the
 *                     password from a device without a live key also needs
 *                     an SMS code (settings.new_device_code).
 *   id number         sealed (domain_seal); only its last four digits shown.
 *
 * KYC levels, after the People's Bank of China's account classes: 1 on
 * registration; 2 after a real name and a resident id number (GB 11643
 * check digit valid, verified by the identity-verification interface, whose
 * sandbox is documented in docs/sandbox.md); 3 only by an operator.
 *
 * Freezing ("lost phone") marks the user frozen and sets
 * LEDGER_ACCOUNT_DEBIT_FROZEN on their accounts in the same command, so no
 * money leaves; unfreezing by the user needs the login password and an SMS
 * code; an operator's freeze can be lifted only by an operator. Whoever
 * holds a lost phone receives its codes, so while the wallet is frozen
 * neither password is reset with a code: the login password is changed
 * only with the current one, the payment password waits for the unfreeze,
 * and an owner who forgot the login password goes to an operator.
 *
 * Closing (IDENTITY_OP_CLOSE) is the owner's, proved by the payment password
 * and an SMS code, and only of an empty wallet: no balance, nothing held,
 * and nothing a layer above still owes or is owed
 * (domain_env.user_close_blockers: red packets not yet finished, merchants
 * owned, and a balance the wallet's KYC level 1 lifetime limit keeps in it,
 * which the owner is told to lift by verifying; identity_close_blockers
 * tells them all beforehand). It sets
 * LEDGER_ACCOUNT_CLOSED in the same command, so no money moves either way
 * again, ends every session, and frees the phone for a new registration.
 * It is for good: no operation opens a closed wallet again. An operator
 * may close an empty wallet for an owner who proved who they are to
 * support but can no longer prove it here (IDENTITY_OP_ADMIN_CLOSE: the
 * phone lost with its number), a frozen one too; the same blockers refuse
 * it, and the same closing follows.
 *
 * A login lock (wrong login passwords) ends by itself, at a login with an
 * SMS code, at a new password set with one, or by an operator's unlock
 * (IDENTITY_OP_ADMIN_LOGIN_UNLOCK: the user proved who they are to support,
 * having lost the phone the code goes to). The operator lifts the account's
 * lock alone: a trusted device's own lock counts the guesses made on that
 * device, which may be the lost phone in a stranger's hands.
 */
#ifndef QB_IDENTITY_IDENTITY_H
#define QB_IDENTITY_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/rand.h"
#include "domain/domain.h"
#include "sms/sms.h"
#include "store/store.h"

#define IDENTITY_DISPLAY_NAME_SIZE_MAX 65   /* 64 bytes of UTF-8 + NUL */
#define IDENTITY_PASSWORD_SIZE_MIN 8
#define IDENTITY_PASSWORD_SIZE_MAX 128
#define IDENTITY_PASSWORD_HASH_SIZE_MAX 128 /* crypto_pwhash_STRBYTES */
#define IDENTITY_TOKEN_TEXT_SIZE 65         /* 64 hex + NUL */
#define IDENTITY_DEVICE_NAME_SIZE_MAX 65
#define IDENTITY_REAL_NAME_SIZE_MAX 65
#define IDENTITY_ID_NUMBER_SIZE 19          /* 18 characters + NUL */

enum identity_status {
    IDENTITY_ACTIVE = 1,
    IDENTITY_FROZEN = 2,
    IDENTITY_CLOSED = 3, /* by its owner (IDENTITY_OP_CLOSE); for good */
};

enum identity_frozen_by {
    IDENTITY_FROZEN_BY_NONE = 0,
    IDENTITY_FROZEN_BY_USER = 1,
    IDENTITY_FROZEN_BY_ADMIN = 2,
};

struct identity_user {
    char id[ID_TEXT_SIZE_MAX];                 /* "u_..." */
    char phone[SMS_PHONE_SIZE_MAX];
    char display_name[IDENTITY_DISPLAY_NAME_SIZE_MAX];
    int kyc_level;                             /* 1, 2, 3 */
    enum identity_status status;
    enum identity_frozen_by frozen_by;
    bool payment_password_set;
    int payment_password_failures;
    int64_t payment_password_locked_until_ms;  /* 0 when not locked */
    char id_number_last4[5];                   /* "" before KYC level 2 */
    int64_t account_id;                        /* the CNY wallet account */
    int64_t created_at_ms;
    int64_t login_locked_until_ms;             /* 0 when logging in is not locked */
    int64_t closed_at_ms;                      /* 0 unless IDENTITY_CLOSED */
    int64_t seq;                               /* insertion order: the paging key */
};

struct identity_session {
    char id[ID_TEXT_SIZE_MAX];                 /* "s_...": public, for listing and revoking */
    char user_id[ID_TEXT_SIZE_MAX];
    char device_name[IDENTITY_DEVICE_NAME_SIZE_MAX];
    int64_t created_at_ms;
    int64_t last_seen_at_ms;
    int64_t expires_at_ms;                     /* the absolute limit */
    int64_t revoked_at_ms;                     /* 0 when live */
    int64_t seq;                               /* insertion order: the paging key */
};

/* --- checks (pure) ---------------------------------------------------------- */

/* Login passwords: 8..128 bytes of valid UTF-8 without control characters,
 * not all digits, not all one character. QB_E_PASSWORD_WEAK or QB_E_PARAM. */
QB_MUST_USE enum qb_error identity_password_check(const char *password);
/* Payment passwords: exactly six ASCII digits (QB_E_PARAM otherwise), not
 * one digit repeated, not a run up or down ("123456", "654321"), not three
 * pairs or two triples ("112233", "121212", "123123"), and not the birth date
 * in id_number (YYMMDD or MMDD-based, when id_number is not NULL):
 * QB_E_PASSWORD_WEAK. */
QB_MUST_USE enum qb_error identity_payment_password_check(const char *payment_password,
                                                          const char *id_number);
/* A resident identity number by GB 11643-1999: 17 digits and a check
 * character (0-9 or X), a plausible birth date (1900-01-01 up to today). */
bool identity_id_number_is_valid(const char *id_number, int64_t now_ms);
/* A display name: 1..64 bytes of clean text (base/text.h) with something
 * to see, not only white space, blanks, joiners and variation selectors. */
bool identity_display_name_is_valid(const char *name);
/* The SMS target of a change_phone code asked for by the wallet user_id:
 * "wallet:" and the id. The code moves that wallet alone onto the phone it
 * went to, so a code its phone's holder is talked into reading out moves
 * nobody else's wallet there (docs/sms.md). */
#define IDENTITY_PHONE_TARGET_SIZE_MAX (7 + ID_TEXT_SIZE_MAX)
_Static_assert(IDENTITY_PHONE_TARGET_SIZE_MAX <= SMS_TARGET_SIZE_MAX, "a wallet's target fits");
void identity_phone_change_target(const char *user_id, char out[IDENTITY_PHONE_TARGET_SIZE_MAX]);
/* How long a wallet stays on its phone after a login with an SMS code alone
 * or a reset of either password with one: whoever holds the phone alone (a
 * swapped SIM) could do those, and moving the phone then would keep the
 * wallet from its owner for good. */
#define IDENTITY_PHONE_HOLD_MS (24LL * 60 * 60 * 1000)

/* --- slow work, on the calling thread ------------------------------------------ */

/* Argon2id string of the peppered password into out. QB_E_INTERNAL when
 * memory for Argon2id cannot be had. */
QB_MUST_USE enum qb_error identity_password_hash(const struct domain_env *env, const char *password,
                                                 char out[IDENTITY_PASSWORD_HASH_SIZE_MAX]);
bool identity_password_verify(const struct domain_env *env, const char *stored_hash,
                              const char *password);
/* Whether a stored hash was made with other Argon2id settings than the
 * server's now (an operator raised the cost): a login that checked the
 * password against it stores the password hashed again. False for text
 * that is no Argon2id string. Quick: it reads the string only. */
bool identity_password_needs_rehash(const struct domain_env *env, const char *stored_hash);

/* --- reads, with a read connection ------------------------------------------- */

QB_MUST_USE enum qb_error identity_user_get(struct store *reader, const char *user_id,
                                            struct identity_user *out);
QB_MUST_USE enum qb_error identity_user_find_by_phone(struct store *reader, const char *phone,
                                                      struct identity_user *out);
/* The stored Argon2id string of a user, for identity_password_verify. */
/* When logging in with a phone nobody registered is locked (0: it is not;
 * IDENTITY_OP_LOGIN_FAILED counts its wrong passwords), read as a user's
 * lock is read before a password is checked. */
/* Until when user_id's wallet stays on its phone (IDENTITY_PHONE_HOLD_MS
 * after the newest login with a code alone or reset with one), as of now_ms;
 * 0 when nothing holds it. Read by IDENTITY_OP_PHONE_CHANGE in its
 * transaction, and before a change_phone code is sent, which could open
 * nothing. QB_E_STORAGE on read errors. */
QB_MUST_USE enum qb_error identity_phone_held_until(struct store *store, const char *user_id,
                                                    int64_t now_ms, int64_t *held_until_ms);
QB_MUST_USE enum qb_error identity_login_guess_locked_until(struct store *reader,
                                                            const struct domain_env *env,
                                                            const char *phone,
                                                            int64_t *locked_until_ms);
/* The device of user_id that holds the live key key_hex (*device_seq 0: no
 * such device, or key_hex ""), and when its own login lock ends. A device
 * the account trusts counts its wrong passwords apart from every other
 * (IDENTITY_OP_LOGIN_FAILED with device_seq): a stranger's guesses lock the
 * account's password login, but not its owner's on their own device. */
QB_MUST_USE enum qb_error identity_login_device_lock(struct store *reader, const char *user_id,
                                                     const char *key_hex, int64_t *device_seq,
                                                     int64_t *locked_until_ms);
/* The same for a login password checked from a session (an unfreeze, a
 * change with the current password): the device of session_id when the
 * account still trusts it, and its lock; *device_seq 0, and the account's
 * lock, for a session on no such device. So a stranger's guesses at the
 * login, which lock the account's password, do not keep its owner from
 * lifting their own freeze on the device they trust. */
QB_MUST_USE enum qb_error identity_session_password_lock(struct store *reader, const char *user_id,
                                                         const char *session_id,
                                                         int64_t *device_seq,
                                                         int64_t *locked_until_ms);
QB_MUST_USE enum qb_error identity_user_password_hash(struct store *reader, const char *user_id,
                                                      char out[IDENTITY_PASSWORD_HASH_SIZE_MAX]);

/* SHA-256 of the 32 bytes a session token or device key of 64 lower-case
 * hex characters spells, as they are stored; false for any other text. */
QB_MUST_USE bool identity_secret_hash(const char *token, uint8_t hash[CRYPTO_SHA256_SIZE]);

/* Who is calling: looks up the session of a bearer token. QB_OK and the
 * session (and *touch true when last_seen is older than
 * settings.session_touch_ms, so the caller should submit a touch);
 * QB_E_UNAUTHORIZED for an unknown, malformed, revoked, idle or expired
 * token — one answer for all. */
QB_MUST_USE enum qb_error identity_session_authenticate(const struct domain_env *env,
                                                        struct store *reader, const char *token,
                                                        struct identity_session *out, bool *touch);
/* The writer's user cache: users as commands read them, kept in memory so
 * that a payment does not search the users table for its payer and payee.
 * Only the ledger's writer thread uses it (no locks). It holds committed
 * rows only: every write to a user's row (identity_user_written, at each
 * UPDATE or INSERT of users in this module) forgets the user and stops
 * filling until the batch has ended, so nothing a rollback undoes can stay.
 * Bounded (entries, rounded up to a multiple of 8; a full bucket of eight
 * forgets its oldest fill). env->users NULL: every read searches. */
QB_MUST_USE enum qb_error identity_user_cache_new(size_t entries,
                                                  struct identity_user_cache **out);
void identity_user_cache_free(struct identity_user_cache *cache);
/* Fills the cache at start, through a command on ledger's writer, with the
 * users of the sessions that open now, the most recently seen first,
 * without evicting. *loaded: how many. */
QB_MUST_USE enum qb_error identity_user_cache_load(struct ledger *ledger,
                                                   const struct domain_env *env, size_t *loaded);
/* A command's read of a user (its batch's uncommitted writes included):
 * QB_OK, QB_E_NOT_FOUND or QB_E_STORAGE. The _read form also gives the
 * payment password's stored fingerprint (zeros when none is set). */
/* True while user's payment password is locked (too many wrong tries): no
 * payment goes through then, a password-free one included, since whoever
 * guessed at the password may hold the session. */
static inline bool identity_payment_password_locked(const struct identity_user *user,
                                                    int64_t now_ms)
{
    return user->payment_password_locked_until_ms > now_ms;
}

/* What a refused payment password tells its payer besides the refusal. */
struct identity_password_try {
    int tries_left;          /* PASSWORD_WRONG: tries before it locks */
    int64_t locked_until_ms; /* PASSWORD_LOCKED: when it opens again (0: not known) */
};

/* The message of a payment password's refusal err into out, and a pointer
 * to it: PASSWORD_WRONG says how many tries are left, PASSWORD_LOCKED until
 * when (UTC+8) and that a new one set with an SMS code lifts the lock. NULL
 * for any other err (the error table's words serve). */
const char *identity_password_refusal_text(enum qb_error err, const struct identity_password_try *t,
                                           char *out, size_t out_size);
/* " until YYYY-MM-DD HH:MM:SS (UTC+8)" for a lock that ends at
 * locked_until_ms, "" when it is 0; into out (out_size >= 48). */
const char *identity_lock_end_text(int64_t locked_until_ms, char *out, size_t out_size);
/* The refusal err of a payment password as a command's answer
 * (domain_response_error): its message as above and, when locked, a
 * "locked_until" member (RFC 3339, UTC+8). Answers the ledger result. */
QB_MUST_USE enum qb_error identity_password_refusal_response(struct ledger_cmd *cmd,
                                                             enum qb_error err,
                                                             const struct identity_password_try *t);
QB_MUST_USE enum qb_error identity_txn_user_get(struct ledger_txn *txn,
                                                const struct domain_env *env,
                                                const char *user_id, struct identity_user *out);
QB_MUST_USE enum qb_error identity_txn_user_read(struct ledger_txn *txn,
                                                 const struct domain_env *env,
                                                 const char *user_id, struct identity_user *out,
                                                 uint8_t payment_password_hash[CRYPTO_SHA256_SIZE]);
/* Called before every write to a user's row. */
void identity_user_written(struct ledger_txn *txn, const struct domain_env *env,
                           const char *user_id);

/* The session cache: the sessions of recent requests, in memory, so that
 * authenticating a request usually reads no table. Keyed by the token's
 * SHA-256 (the token itself is never kept), bounded (entries, rounded up
 * to a multiple of IDENTITY_SESSION_CACHE_WAYS; a full bucket forgets its
 * oldest fill), shared by every HTTP thread. A revoked session (logout, a
 * freeze) leaves it once the revoking batch has ended, before the revoking
 * request is answered (ledger_txn_after_batch), and a read of the table
 * that began before then is not kept; the other sessions stay. Negative
 * answers are not cached. env->sessions NULL: no cache, every request
 * reads the table. */
#define IDENTITY_SESSION_CACHE_WAYS 8
QB_MUST_USE enum qb_error identity_session_cache_new(size_t entries,
                                                     struct identity_session_cache **out);
void identity_session_cache_free(struct identity_session_cache *cache);
/* What the cache holds and has done since it was made, for /metrics: a
 * lookup that found the token (hits) or not (misses: the request then reads
 * the table, on its HTTP thread), and the sessions a full bucket gave up to
 * keep another (evictions: misses climbing with them say the cache is
 * smaller than the sessions in use). */
struct identity_session_cache_stats {
    uint64_t entries; /* its size: entries rounded up to whole buckets */
    uint64_t hits;
    uint64_t misses;
    uint64_t evictions;
};
void identity_session_cache_stats(struct identity_session_cache *cache,
                                  struct identity_session_cache_stats *out);
/* Binds $1, $2 and $3 of a statement over the sessions that open at now_ms
 * (identity_session_is_live's filter, as "revoked_at_ms = 0 AND
 * expires_at_ms > $1 AND last_seen_at_ms > $2") and its LIMIT $3. */
QB_MUST_USE enum qb_error identity_sessions_live_bind(struct store_stmt *st,
                                                      const struct domain_settings *settings,
                                                      int64_t now_ms, size_t limit);
/* Fills the cache at start with the sessions that open now, the most
 * recently seen first, without evicting: a restart under load does not
 * send every user's next request to the table. *loaded: how many. */
QB_MUST_USE enum qb_error identity_session_cache_load(const struct domain_env *env,
                                                      struct store *reader, size_t *loaded);
/* Runs sql, an UPDATE of sessions that revokes those it selects and
 * returns their token_hash and user_id ("... RETURNING token_hash,
 * user_id"), as part of txn; each leaves the cache once the batch has
 * ended, and its user's requests waiting for news wake (and answer 401). */
QB_MUST_USE enum qb_error identity_txn_sessions_revoke(struct ledger_txn *txn,
                                                       const struct domain_env *env,
                                                       const char *sql,
                                                       const struct store_param *params,
                                                       size_t param_count);
/* Looks the token up in env->sessions only: QB_OK as
 * identity_session_authenticate answers; QB_E_UNAUTHORIZED for a malformed
 * token or a cached session that no longer opens; QB_E_NOT_FOUND when it is
 * not cached (read it with identity_session_authenticate, which caches it). */
QB_MUST_USE enum qb_error identity_session_authenticate_cached(const struct domain_env *env,
                                                               const char *token,
                                                               struct identity_session *out,
                                                               bool *touch);
/* The caller submitted the touch authenticate asked for: the cached
 * session's last_seen becomes seen_at_ms, so the next request does not ask
 * again. */
void identity_session_cache_touched(const struct domain_env *env, const char *token,
                                    int64_t seen_at_ms);
/* Whether a session still opens at now_ms: not revoked, before its absolute
 * expiry, and used within session_idle_ms + session_touch_ms of last_seen
 * (last_seen lags real use by up to one touch interval). */
bool identity_session_is_live(const struct domain_settings *settings,
                              const struct identity_session *s, int64_t now_ms);
/* How long a session is kept once past its absolute expiry: then a later
 * login deletes it (a few at a time, the oldest first). */
#define IDENTITY_SESSION_KEPT_MS (30LL * 24 * 60 * 60 * 1000)
/* A user's sessions, newest first (revoked and expired ones included, with
 * their times, until IDENTITY_SESSION_KEPT_MS past their expiry), at most
 * count_max, those with seq below before_seq (0: from the newest). */
QB_MUST_USE enum qb_error identity_sessions_list(struct store *reader, const char *user_id,
                                                 int64_t before_seq, struct identity_session *items, size_t count_max,
                                                 size_t *count);

/* The security status: a score out of 100 and the checklist behind it. */
struct identity_security_item {
    const char *name;  /* "payment_password_set", "kyc_level_2", "no_recent_new_devices",
                          "no_recent_lockouts", "not_frozen" */
    bool ok;
    int weight;        /* points when ok; the weights sum to 100 */
};
#define IDENTITY_SECURITY_ITEMS 5
QB_MUST_USE enum qb_error identity_security_status(const struct domain_env *env, struct store *reader,
                                                   const char *user_id,
                                                   struct identity_security_item items[IDENTITY_SECURITY_ITEMS],
                                                   int *score);

/* What happened to the account, as the security centre's history shows
 * it: kind is "new_device" (a login from a device name never seen; detail
 * the name), "lockout" (detail "payment_password" or "login_password"),
 * "payment_password_set", "kyc_level_2", "freeze" and "unfreeze" (detail
 * who: "user" or "operator"), "kyc_level_set" (by an operator; detail the
 * level), "login_unlocked" (an operator lifted the login lock; detail
 * "operator"), "phone_changed" (detail "old=****1234 new=****5678": the
 * last four digits only); and the merchant module's (src/merchant/paycode.c):
 * "paycode_device_added", "paycode_device_revoked" (detail "device=ID"),
 * "lockout" (detail "paycode device=ID"), and "merchant_suspended",
 * "merchant_resumed" (an operator stopped a merchant the user owns taking
 * money, or let it again; detail "mchid=N", src/merchant/merchant.c). */
#define IDENTITY_EVENT_KIND_SIZE_MAX 24
struct identity_security_event {
    int64_t id;
    char kind[IDENTITY_EVENT_KIND_SIZE_MAX];
    char detail[IDENTITY_DEVICE_NAME_SIZE_MAX];
    int64_t created_at_ms;
};
/* Inside a command: records an event of kind with detail in user_id's
 * history, at the command's time. QB_E_STORAGE. */
QB_MUST_USE enum qb_error identity_txn_security_event(struct ledger_txn *txn, const char *user_id,
                                                      const char *kind, const char *detail);
/* user_id's events, newest first, at most count_max, those with id below
 * before_id (0: from the newest). */
QB_MUST_USE enum qb_error identity_security_events(struct store *reader, const char *user_id,
                                                   int64_t before_id,
                                                   struct identity_security_event *items,
                                                   size_t count_max, size_t *count);

/* Operators: users whose phone starts with phone_prefix (all when ""; a
 * closed wallet's is the phone it had, through its own partial index),
 * newest first, at most count_max, those with seq below before_seq (0: from
 * the newest). */
QB_MUST_USE enum qb_error identity_users_search(struct store *reader, const char *phone_prefix,
                                                int64_t before_seq, struct identity_user *items, size_t count_max,
                                                size_t *count);

/* What stands in the way of closing user's wallet now, whose ledger
 * account is view: DOMAIN_CLOSE_* bits into *blockers, 0 when the owner may
 * close it (with the payment password and a code). Reads with store (a
 * command's, or a read connection) through env->user_close_blockers too.
 * QB_E_STORAGE. */
QB_MUST_USE enum qb_error identity_close_blockers(const struct domain_env *env, struct store *store,
                                                  const struct identity_user *user,
                                                  const struct ledger_account_view *view,
                                                  uint32_t *blockers);

/* --- writes: one command type, one operation each -------------------------------- */

enum identity_op {
    IDENTITY_OP_REGISTER,       /* in: phone, sms_code, password_hash, display_name → user */
    IDENTITY_OP_SESSION_CREATE, /* in: user_id (its password checked), device_name,
                                 * device_key, sms_code (purpose new_device; "" when none
                                 * was given) → session, token, device_key */
    IDENTITY_OP_SESSION_CREATE_BY_CODE, /* in: phone, sms_code (purpose login), device_name,
                                         * device_key → session, token, device_key */
    IDENTITY_OP_LOGIN_FAILED,           /* in: user_id, or "" and phone (nobody has it),
                                         * device_seq (the user's trusted device it came
                                         * from, or 0); a wrong login password was given */
    IDENTITY_OP_SESSION_REVOKE,         /* in: user_id, session_id, forget_device → (NOT_FOUND if
                                         * not the user's) */
    IDENTITY_OP_SESSION_TOUCH,          /* in: session_id (last_seen = now) */
    IDENTITY_OP_PAYMENT_PASSWORD_SET,   /* in: user_id, sms_code, payment_password */
    IDENTITY_OP_PAYMENT_PASSWORD_VERIFY, /* in: user_id, payment_password → outcome, password_try */
    IDENTITY_OP_KYC_SUBMIT,              /* in: user_id, real_name, id_number → user (level 2) */
    IDENTITY_OP_FREEZE,                  /* in: user_id, session_id (kept; the user's other
                                          * sessions and devices end); by the user (lost
                                          * phone) → user */
    IDENTITY_OP_UNFREEZE,                /* in: user_id, session_id (kept; the user's other
                                          * sessions and devices end), sms_code (password
                                          * checked before) → user */
    IDENTITY_OP_ADMIN_FREEZE,            /* in: user_id → user; every session ends */
    IDENTITY_OP_ADMIN_UNFREEZE,          /* in: user_id → user */
    IDENTITY_OP_ADMIN_SET_KYC_LEVEL,     /* in: user_id, kyc_level (1..3) → user */
    IDENTITY_OP_PASSWORD_SET,       /* in: user_id, session_id (kept), password_hash (the new one),
                                     * sms_code (purpose reset_password; "" when the caller checked
                                     * the current password) → ACCOUNT_FROZEN (a code while frozen),
                                     * SMS_CODE_INVALID; the login lock
                                     * lifted, every other session ended, event password_changed */
    IDENTITY_OP_ADMIN_LOGIN_UNLOCK, /* in: user_id → user; the account's login lock lifted and its
                                     * count of wrong passwords cleared, event login_unlocked */
    IDENTITY_OP_PHONE_CHANGE,       /* in: user_id, phone (the new one), payment_password,
                                     * sms_code (purpose change_phone, sent to the new phone)
                                     * → user, phone_before; event phone_changed */
    IDENTITY_OP_DISPLAY_NAME_SET,   /* in: user_id, display_name → user; event
                                     * display_name_changed (none when it is the same) */
    IDENTITY_OP_CLOSE,              /* in: user_id, payment_password, sms_code (purpose
                                     * close_account) → user (closed), or blocker; event
                                     * account_closed */
    IDENTITY_OP_ADMIN_CLOSE,        /* in: user_id → user (closed), or blocker; event
                                     * account_closed, detail "operator" */
};

struct identity_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    const struct domain_env *env;
    enum identity_op op;

    /* In (which ones depends on op). */
    char user_id[ID_TEXT_SIZE_MAX];
    char session_id[ID_TEXT_SIZE_MAX];
    char phone[SMS_PHONE_SIZE_MAX];
    char sms_code[SMS_CODE_DIGITS + 2];
    char display_name[IDENTITY_DISPLAY_NAME_SIZE_MAX];
    /* REGISTER, PASSWORD_SET: the new password's hash. SESSION_CREATE: the
     * password hashed again at the server's settings, stored in place of
     * the one it was checked against ("": that one is up to date). */
    char password_hash[IDENTITY_PASSWORD_HASH_SIZE_MAX];
    /* SESSION_CREATE, UNFREEZE, PASSWORD_SET with the current password: the
     * stored hash the caller checked the password against ("": none was).
     * The password is checked before the command, off the writer; one
     * changed in between refuses it, UNAUTHORIZED and nothing written, so
     * that the old password no longer opens anything once the new is set. */
    char password_hash_checked[IDENTITY_PASSWORD_HASH_SIZE_MAX];
    char device_name[IDENTITY_DEVICE_NAME_SIZE_MAX];
    char payment_password[8];
    char real_name[IDENTITY_REAL_NAME_SIZE_MAX];
    char id_number[IDENTITY_ID_NUMBER_SIZE];
    int kyc_level;

    /* Out, when the ledger result is QB_OK: the outcome the caller answers
     * with, and what it produced. */
    enum qb_error outcome;
    struct identity_user user;
    struct identity_session session;
    char token[IDENTITY_TOKEN_TEXT_SIZE];  /* SESSION_CREATE only: shown once */
    /* SESSION_CREATE*: in, the key the device presented ("": none, or
     * checked for shape by the caller); out, the device's key: the same
     * when it was live, else a new one, shown once. */
    char device_key[IDENTITY_TOKEN_TEXT_SIZE];
    bool forget_device; /* SESSION_REVOKE: the session's device loses its trust, and its
                         * other sessions end too */
    int64_t device_seq; /* LOGIN_FAILED: identity_login_device_lock's, or 0 */
    /* LOGIN_FAILED with device_seq from a session's own check (an unfreeze,
     * a change with the current password), which shows no device key: the
     * account's count too, so that a session's token alone adds no guesses
     * to those at the login. Its lock is the device's alone. */
    bool account_too;
    /* LOGIN_FAILED: this wrong password took the lock (outcome PASSWORD_LOCKED).
     * False for one checked beside it and counted after: also refused as
     * locked, but the lock is the other's. */
    bool lock_taken;
    /* PAYMENT_PASSWORD_VERIFY's and PHONE_CHANGE's refusals; LOGIN_FAILED's and
     * SESSION_CREATE's PASSWORD_LOCKED: when the lock it found or took ends. */
    struct identity_password_try password_try;
    char phone_before[SMS_PHONE_SIZE_MAX]; /* PHONE_CHANGE: the phone it replaced */
    int64_t held_until_ms;                 /* PHONE_CHANGE_HELD: until when */
    /* CLOSE's ACCOUNT_NOT_EMPTY: what stands in the way, the name of its
     * first DOMAIN_CLOSE_* bit (domain_close_blocker_name); CLOSE's
     * LIMIT_EXCEEDED: "kyc_lifetime", the limit that keeps the balance. */
    const char *blocker;
};

/* Zeroes c and prepares its ledger command for op. The caller fills the
 * inputs (already validated for shape with the checks above) and submits
 * &c->cmd. Outcomes besides QB_OK, by op:
 *   REGISTER          SMS_CODE_INVALID, PHONE_REGISTERED
 *   SESSION_CREATE    PASSWORD_LOCKED (logging in is locked: the password was
 *                     checked by the caller, but a lock taken meanwhile wins);
 *                     SMS_CODE_REQUIRED (settings.new_device_code: the device
 *                     presented no live key of the user's, the user has had a
 *                     session before, and no code was given; nothing is
 *                     written), SMS_CODE_INVALID
 *                     (a code was given, and it is not a live new_device code
 *                     of the user's phone; whatever the device), UNAUTHORIZED
 *                     (the wallet closed after the caller found it by phone;
 *                     nothing is written)
 *   SESSION_CREATE_BY_CODE  SMS_CODE_INVALID (also for a phone nobody has);
 *                     a password lock does not stop it: the code proves the
 *                     phone, and no password is guessed
 *   LOGIN_FAILED      always a refusal: UNAUTHORIZED, or PASSWORD_LOCKED for
 *                     the wrong password that takes the lock (lock_taken) and
 *                     for one counted while a lock holds (not lock_taken)
 *                     (settings.login_failures_max in a row lock logging in
 *                     for settings.login_lock_ms, each lock again twice as
 *                     long, up to a day; a success resets the count,
 *                     and a wrong one counts for login_failures_window_ms
 *                     after the last). A phone nobody registered is counted
 *                     and locked the same way (table login_guesses), so that
 *                     the lock does not tell which phones are registered.
 *   SESSION_REVOKE    NOT_FOUND
 *   PAYMENT_PASSWORD_SET   ACCOUNT_FROZEN (nothing is written, the code stays
 *                     live), SMS_CODE_INVALID, PASSWORD_WEAK (birth date: judged
 *                     after a right code, and spends one of its tries), NOT_FOUND
 *   PASSWORD_SET      PASSWORD_LOCKED (without a code: as SESSION_CREATE's, the
 *                     account's lock), ACCOUNT_FROZEN (with a code, while frozen by
 *                     anyone: nothing is written, the code stays live), SMS_CODE_INVALID
 *   PAYMENT_PASSWORD_VERIFY PASSWORD_NOT_SET, PASSWORD_WRONG (password_try),
 *                     PASSWORD_LOCKED (also for the guess that locks it)
 *   KYC_SUBMIT        PARAM (id number), IDENTITY_MISMATCH (sandbox; or the wallet was
 *                     verified before for another id number: it stays that person's),
 *                     CONFLICT (level >= 2),
 *                     ID_NUMBER_IN_USE (settings.kyc_wallets_per_person have it already)
 *   UNFREEZE          PASSWORD_LOCKED (as SESSION_CREATE's, the account's lock),
 *                     SMS_CODE_INVALID, CONFLICT (not frozen), FORBIDDEN (frozen by an operator)
 *   PHONE_CHANGE      PARAM (not a mobile number, or the user's phone already),
 *                     ACCOUNT_FROZEN, then the payment password's refusals as
 *                     PAYMENT_PASSWORD_VERIFY's (counted; the code is left
 *                     as it was), then SMS_CODE_INVALID (counted), then
 *                     PHONE_REGISTERED (someone registered it since the code
 *                     was sent: no code goes to a registered phone). Every
 *                     session stays; the old phone's live codes are voided.
 *   CLOSE             ACCOUNT_FROZEN, ACCOUNT_NOT_EMPTY (blocker: a balance,
 *                     money held for a withdrawal, or what domain_env.user_close_blockers
 *                     names; nothing is written), or instead of a balance
 *                     LIMIT_EXCEEDED (blocker "kyc_lifetime": at KYC level 1
 *                     the lifetime limit lets no withdrawal or payment take
 *                     it; nothing is written), then the payment password's
 *                     refusals (counted), then SMS_CODE_INVALID (counted). A
 *                     closed wallet's ledger account is LEDGER_ACCOUNT_CLOSED,
 *                     every session and trusted device ends, and its phone is
 *                     free to register again: the user row keeps it apart
 *                     (closed_phone) and no look-up by phone finds it.
 *   ADMIN_*           NOT_FOUND, CONFLICT (already in that state, or the
 *                     wallet is closed), PARAM (level);
 *                     (ADMIN_LOGIN_UNLOCK: logging in is not locked now; nothing is
 *                     written, as for an unfreeze of a wallet that is not frozen)
 * Clean up with ledger_cmd_release(&c->cmd). */
void identity_cmd_init(struct identity_cmd *c, const struct domain_env *env, enum identity_op op);

/* Sessions seen, written together. Authentication asks for a touch at most
 * once per touch interval per session; the HTTP layer gathers those and
 * hands them over in one command about once a second, or as soon as
 * IDENTITY_TOUCH_BATCH_MAX are gathered, so that a burst of first requests
 * never costs the writer one command each, and no command holds the writer
 * long: the payments behind it wait for it. With 4,096 a command, 100,000
 * sessions at 12,000 transfers/s made one of about 1,700 touches each
 * second, 5 ms on the writer and 2 ms of commit, and the 70 payments
 * queued behind it took 9-13 ms each second (most of the half-load p99);
 * with 256, no batch of them over 8 ms, but each still held the writer
 * 1.6-2.6 ms while sessions fell due (100,000 of them after a start or a
 * quiet minute), and half load's p99 was 4.7-5.3 ms; with 64, 3.2-3.4 ms;
 * with 16, 2.5 ms, each command under 1.2 ms (docs/performance.md). Each
 * touch then shares its page with fewer others: the cost is a few more
 * pages a second, and only while many sessions fall due. Each item's time
 * is when the session was used; a touch never moves last_seen backwards and
 * never revives a session that ended (revoked, expired or idle). A touch
 * writes session_seen alone, found by the session's seq: a revoked or
 * expired session stays so whatever its last_seen, and an idle one is left
 * as it is. */
#define IDENTITY_TOUCH_BATCH_MAX 16
struct identity_touch {
    int64_t session_seq; /* struct identity_session.seq */
    int64_t seen_at_ms;
};
struct identity_touch_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    const struct domain_env *env;
    size_t count;
    struct identity_touch items[IDENTITY_TOUCH_BATCH_MAX];
};
void identity_touch_cmd_init(struct identity_touch_cmd *c, const struct domain_env *env);

/* Inside another command: the real name a KYC'd user verified (level 2 and
 * up), unsealed into out; "" for a user who verified none. QB_E_NOT_FOUND
 * for no such user, QB_E_INTERNAL when the sealed name cannot be opened. */
QB_MUST_USE enum qb_error identity_txn_real_name(struct ledger_txn *txn,
                                                 const struct domain_env *env,
                                                 const char *user_id,
                                                 char out[IDENTITY_REAL_NAME_SIZE_MAX]);
/* The same through any connection (a reader, for a list that shows what
 * the name allows); the caller wipes out when done. */
QB_MUST_USE enum qb_error identity_real_name_get(struct store *store,
                                                 const struct domain_env *env,
                                                 const char *user_id,
                                                 char out[IDENTITY_REAL_NAME_SIZE_MAX]);

/* Inside another command (a payment in a later module): checks the payment
 * password with the same counting and lock, writing the failure count. On a
 * refusal the caller must still commit (return QB_OK with its own outcome)
 * or the count is lost — see domain.h. */
QB_MUST_USE enum qb_error identity_txn_payment_password_verify(struct ledger_txn *txn,
                                                               const struct domain_env *env,
                                                               const char *user_id,
                                                               const char *payment_password,
                                                               struct identity_password_try *t);
/* For a settings change that lets more money out (needed) the payment
 * password, as identity_txn_payment_password_verify checks it: *outcome
 * QB_OK when the change may go on (always when !needed: the password is
 * not checked), ACCOUNT_FROZEN while the wallet is frozen (by anyone),
 * PARAM with *password_missing when needed and none was given (""), or
 * the refusal (PASSWORD_WRONG, _LOCKED, with *t,
 * PAYMENT_PASSWORD_NOT_SET, NOT_FOUND), whose count the caller commits.
 * Answers the ledger result. */
QB_MUST_USE enum qb_error
identity_txn_payment_password_gate(struct ledger_txn *txn, const struct domain_env *env,
                                   const char *user_id, const char *payment_password, bool needed,
                                   enum qb_error *outcome, bool *password_missing,
                                   struct identity_password_try *t);

/* The identity-verification interface (KYC level 2). The sandbox accepts
 * every valid number except the test identities in docs/sandbox.md. */
QB_MUST_USE enum qb_error identity_verify_real_name(const char *real_name, const char *id_number);

#endif

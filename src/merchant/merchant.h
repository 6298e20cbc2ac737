/*
 * merchant.h — merchants, the platform key, and the signatures of the
 * merchant API (the WeChat Pay API v3 dialect).
 *
 * Owns: the merchants table (one row per merchant: mchid, its first appid,
 * name, the merchant's public key and its certificate serial, its API v3
 * key sealed, its fee rate and its settlement account in the ledger), the
 * merchant_apps table (every appid of a merchant, the first included), the
 * openids table (the openids given out in each app), the platform
 * signing key and certificate (struct merchant_platform, loaded by the
 * daemon from the data directory), the signature rules of /v3 and the
 * memory of nonces seen. Orders and their payment are in order.h.
 *
 * The signature rules, as WeChat Pay v3 has them (docs/merchant.md):
 *   request   Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",
 *             nonce_str="…",timestamp="…",serial_no="…",signature="…";
 *             signature = base64(RSA-PKCS1v1.5-SHA256(merchant key,
 *             "METHOD\nPATH_WITH_QUERY\nTIMESTAMP\nNONCE\nBODY\n"));
 *             a timestamp more than MERCHANT_CLOCK_SKEW_MS off, a nonce
 *             seen before within that window, a serial that is not the
 *             merchant's, a bad signature: 401 SIGN_ERROR.
 *   response  Wechatpay-Timestamp, -Nonce, -Serial (the platform
 *             certificate's), -Signature over "TIMESTAMP\nNONCE\nBODY\n"
 *             with the platform key.
 *   resources AEAD_AES_256_GCM under the merchant's API v3 key (32 ASCII
 *             characters used as the key bytes), a 12-character nonce,
 *             associated data; base64(ciphertext || 16-byte tag).
 *
 * Must never: keep a merchant's private key (it is made on the calling
 * thread, shown once, and wiped); show the API v3 key after onboarding;
 * log a signature, a key or a nonce.
 *
 * Who calls it: the HTTP layer's HTTP_AUTH_MERCHANT check and its /v3 and
 * onboarding handlers; the daemon (the platform key); bills (a merchant's
 * name for a user's bill line).
 */
#ifndef QB_MERCHANT_MERCHANT_H
#define QB_MERCHANT_MERCHANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "base/buf.h"
#include "domain/domain.h"
#include "domain/rowtag.h"
#include "identity/identity.h"
#include "ledger/ledger.h"
#include "store/store.h"

#define MERCHANT_MCHID_SIZE 11        /* ten digits + NUL */
#define MERCHANT_APPID_SIZE 19        /* "wx" + 16 hex + NUL */
#define MERCHANT_NAME_SIZE_MAX 129    /* 128 bytes of UTF-8 + NUL */
#define MERCHANT_SERIAL_SIZE 41       /* 40 upper-case hex digits + NUL */
#define MERCHANT_APIV3_KEY_SIZE 32    /* 32 printable ASCII characters */
#define MERCHANT_PEM_SIZE_MAX 2048    /* a public key in PEM (RSA-2048: about 450 bytes) */
#define MERCHANT_KEY_BITS 2048        /* the keys Qianbao makes, and the smallest it takes */
#define MERCHANT_FEE_PPM_DEFAULT 6000 /* 0.6 % */
#define MERCHANT_FEE_PPM_MAX 100000   /* 10 %: the highest rate an operator may set */
#define MERCHANT_PER_OWNER_MAX 10     /* merchants one user may have open (not closed) */
#define MERCHANT_APPS_MAX 5           /* appids one merchant may have */
#define MERCHANT_CLOCK_SKEW_MS (5 * 60 * 1000)
#define MERCHANT_NONCE_SIZE_MAX 64    /* bytes of a request's nonce_str */
#define MERCHANT_KEY_BITS_MAX 4096    /* the largest key a merchant may bring */
/* Base64 of the signature of the largest key: RSA-4096 signs 512 bytes,
 * 684 characters (RSA-2048: 344). */
#define MERCHANT_SIGNATURE_SIZE_MAX (4 * ((MERCHANT_KEY_BITS_MAX / 8 + 2) / 3))
#define MERCHANT_CERT_VALID_DAYS (5 * 365)
/* The longest a replaced certificate may still sign: a week, to roll the
 * new key out to every server of the merchant's. */
#define MERCHANT_CERT_OVERLAP_HOURS_MAX 168
#define MERCHANT_CERT_OVERLAP_MS_MAX ((int64_t)MERCHANT_CERT_OVERLAP_HOURS_MAX * 3600 * 1000)
#define MERCHANT_SEALED_KEY_SIZE (MERCHANT_APIV3_KEY_SIZE + DOMAIN_SEAL_OVERHEAD)

/* Stored: never renumber. */
enum merchant_status {
    MERCHANT_ACTIVE = 1,
    /* An operator's stop (merchant_status_cmd): every command that would
     * take money for the merchant refuses it (its /v3 order creation and
     * codepay NO_AUTH, a user's payment of its orders or till code
     * PAYEE_UNAVAILABLE); its queries, closes, reversals, refunds and bills
     * go on, so that it can still give back what it took. */
    MERCHANT_SUSPENDED = 2,
    /* Closed by its owner (merchant_status_cmd), empty, for good: it takes
     * no payment, as a suspended one, and nothing can open it again; its
     * settlement account is closed in the ledger. Queries and bills go on. */
    MERCHANT_STATUS_CLOSED = 3,
};

#define MERCHANT_SUSPEND_REASON_SIZE_MAX 201 /* 200 bytes of text and a NUL */
/* The message of a suspended merchant's refusals: /v3 (NO_AUTH, in
 * WeChat's manner, Chinese first) and /v1 (PAYEE_UNAVAILABLE). */
#define MERCHANT_SUSPENDED_MESSAGE_V3                                                              \
    "商户收款已暂停 (this merchant is suspended: it takes no payments)"
#define MERCHANT_SUSPENDED_MESSAGE "this merchant is suspended: it takes no payments"
#define MERCHANT_CLOSED_MESSAGE_V3 "商户已注销 (this merchant is closed: it takes no payments)"
#define MERCHANT_CLOSED_MESSAGE "this merchant is closed: it takes no payments"

struct merchant {
    char mchid[MERCHANT_MCHID_SIZE];
    char appid[MERCHANT_APPID_SIZE]; /* the first (default) of its apps */
    char name[MERCHANT_NAME_SIZE_MAX];
    char owner_user_id[ID_TEXT_SIZE_MAX]; /* "" when an operator created it for nobody */
    enum merchant_status status;
    char public_key_pem[MERCHANT_PEM_SIZE_MAX];
    char serial_no[MERCHANT_SERIAL_SIZE];
    uint8_t apiv3_key_sealed[MERCHANT_SEALED_KEY_SIZE];
    int64_t fee_ppm;
    int64_t account_id; /* LEDGER_ACCOUNT_MERCHANT, CNY */
    int64_t created_at_ms;
    int64_t seq;                                           /* its row's: newest is highest */
    int64_t suspended_at_ms;                               /* 0 unless MERCHANT_SUSPENDED */
    char suspend_reason[MERCHANT_SUSPEND_REASON_SIZE_MAX]; /* the operator's; "" when none */
    int64_t closed_at_ms;                                  /* 0 unless MERCHANT_STATUS_CLOSED */
    int64_t apiv3_key_reset_at_ms;      /* when its owner last reset it; 0: never */
    int64_t certificate_replaced_at_ms; /* likewise the key pair and certificate */
    /* The certificate that one replaced, while it still signs
     * (merchant_request_key): "" and 0 when none. */
    char previous_serial_no[MERCHANT_SERIAL_SIZE];
    int64_t previous_valid_until_ms;
    char previous_public_key_pem[MERCHANT_PEM_SIZE_MAX];
};

/* The merchants table's tagged columns (domain/rowtag.h): its owner, its
 * settlement account, its request-signing keys, its status and fee. */
extern const struct domain_tagged merchant_tagged;

/* Reads a merchant by mchid. QB_E_NOT_FOUND (also for text that is no
 * mchid), QB_E_STORAGE, QB_E_INTERNAL for a row no writer made, or (env
 * not NULL) one not as written: its tag does not hold (logged). Every
 * read that authenticates a merchant, lets someone act for it or moves its
 * money passes env; NULL only for a read that shows a name or a row to an
 * operator, or a check of --verify's, which checks each tag itself. */
QB_MUST_USE enum qb_error merchant_get(const struct domain_env *env, struct store *reader,
                                       const char *mchid, struct merchant *out);
/* The merchant of owner_user_id named mchid, or with mchid NULL the
 * owner's only merchant, or the only one not closed. QB_E_NOT_FOUND when
 * the user owns no such merchant (another owner's is not found, like one
 * that never was); QB_E_PARAM when mchid is NULL and that does not tell
 * one; QB_E_STORAGE. */
QB_MUST_USE enum qb_error merchant_owned_get(const struct domain_env *env, struct store *reader,
                                             const char *owner_user_id, const char *mchid,
                                             struct merchant *out);
/* Whether money may leave m as its owner's wallet stands: *pays false
 * while the user who owns it is frozen (a merchant is not its owner's
 * wallet, so it keeps taking payments and giving refunds, but whoever holds
 * a frozen owner's phone must not pay its balance out, nor replace the
 * keys that would). A merchant without an owner pays. In a ledger command;
 * QB_E_STORAGE, QB_E_INTERNAL for an owner that is not there. */
struct ledger_txn;
QB_MUST_USE enum qb_error merchant_txn_owner_pays(struct ledger_txn *txn,
                                                  const struct domain_env *env,
                                                  const struct merchant *m, bool *pays);
#define MERCHANT_OWNER_FROZEN_MESSAGE_V3                                                             \
    "商户资金已冻结 (the owner's wallet is frozen: nothing leaves this merchant until it is " \
    "unfrozen)"

/* A merchant as an operator's list shows it: no key, no certificate. */
struct merchant_summary {
    char mchid[MERCHANT_MCHID_SIZE];
    char appid[MERCHANT_APPID_SIZE];
    char name[MERCHANT_NAME_SIZE_MAX];
    char owner_user_id[ID_TEXT_SIZE_MAX];
    enum merchant_status status;
    int64_t fee_ppm;
    int64_t account_id;
    int64_t created_at_ms;
    int64_t seq;
};
/* Merchants newest first: those with seq below before_seq (0: from the
 * newest), of owner_user_id only unless it is NULL, at most count_max into
 * items, their number in *count. QB_E_STORAGE, QB_E_INTERNAL for a row no
 * writer made. */
QB_MUST_USE enum qb_error merchant_list(struct store *reader, const char *owner_user_id,
                                        int64_t before_seq, struct merchant_summary *items,
                                        size_t count_max, size_t *count);
/* "ACTIVE", "SUSPENDED". */
const char *merchant_status_name(enum merchant_status status);
/* Whether text has the shape of an mchid (ten digits). */
bool merchant_mchid_is_valid(const char *text);
/* Whether appid is one of mchid's apps (merchant_apps): QB_OK when it is,
 * QB_E_NOT_FOUND when it is not (another merchant's, nobody's, or text
 * that is no appid), QB_E_STORAGE. */
QB_MUST_USE enum qb_error merchant_app_check(struct store *reader, const char *mchid,
                                             const char *appid);
/* mchid's appids, the first (merchant.appid) first, then in the order
 * they were added: at most MERCHANT_APPS_MAX into out, their number in
 * *count. QB_E_STORAGE. */
QB_MUST_USE enum qb_error merchant_apps_list(struct store *reader, const char *mchid,
                                             char out[MERCHANT_APPS_MAX][MERCHANT_APPID_SIZE],
                                             size_t *count);
/* A fresh appid: "wx" and 16 random lower-case hex digits. */
void merchant_appid_new(const struct domain_env *env, char out[MERCHANT_APPID_SIZE]);
/* Whether text has the shape of an appid. */
bool merchant_appid_is_valid(const char *text);

/* Its API v3 key (32 characters and a NUL), unsealed. False when the seal
 * does not open (a different data key). Wipe it after use. */
QB_MUST_USE bool merchant_apiv3_key(const struct domain_env *env, const struct merchant *m,
                                    char out[MERCHANT_APIV3_KEY_SIZE + 1]);

/* --- onboarding ------------------------------------------------------------ */

/* The command that records a merchant whose keys were made on the calling
 * thread (merchant_credentials_make): checks the owner's count
 * (MERCHANT_PER_OWNER_MAX, CONFLICT), that mchid and every appid are free
 * and distinct (CONFLICT: the caller may try again with new ones), creates
 * the settlement account "merchant:<mchid>" (LEDGER_ACCOUNT_MERCHANT, CNY,
 * floor 0) and inserts the row and its apps (merchant.appid first, then
 * extra_appids). outcome says what the caller is told. */
struct merchant_create_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    const struct domain_env *env;
    struct merchant merchant; /* in: everything but account_id and created_at_ms; out: all */
    char extra_appids[MERCHANT_APPS_MAX - 1][MERCHANT_APPID_SIZE]; /* in: made by the caller */
    size_t extra_count;                                             /* in: 0..MERCHANT_APPS_MAX-1 */
    enum qb_error outcome;
};
void merchant_create_cmd_init(struct merchant_create_cmd *c, const struct domain_env *env);

/* The command that adds an app to a merchant: appid (made by the caller,
 * merchant_appid_new) becomes one of mchid's. outcome: QB_OK;
 * QB_E_NOT_FOUND when mchid is no merchant of owner_user_id (an operator
 * passes owner_user_id ""; then any merchant); QB_E_CONFLICT when the
 * merchant is closed for good (closed says so), has MERCHANT_APPS_MAX apps
 * (app_count says so) or appid is taken (app_count below the limit: the
 * caller may retry with another). app_count: the merchant's apps after
 * the command. */
struct merchant_app_add_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    const struct domain_env *env;
    char owner_user_id[ID_TEXT_SIZE_MAX];
    char mchid[MERCHANT_MCHID_SIZE];
    char appid[MERCHANT_APPID_SIZE];
    enum qb_error outcome;
    bool closed;
    size_t app_count;
    int64_t created_at_ms;
};
void merchant_app_add_cmd_init(struct merchant_app_add_cmd *c, const struct domain_env *env);

/* An operator's suspension of a merchant, or its end: status
 * MERCHANT_SUSPENDED or MERCHANT_ACTIVE. A suspension keeps when and
 * reason (clean text of at most MERCHANT_SUSPEND_REASON_SIZE_MAX - 1
 * bytes, "" for none) on the row; a resume clears both. Asking for the
 * status the merchant has changes nothing (changed false: the first
 * suspension's time and reason stay). Payments are refused inside their
 * own commands on the merchant row this writes, so none runs after the
 * suspension's answer. outcome: QB_OK (merchant: the row after) or
 * QB_E_NOT_FOUND; QB_E_CONFLICT for a closed merchant, which nothing
 * changes.
 *
 * MERCHANT_STATUS_CLOSED is its owner's, and needs env, owner_user_id and the
 * owner's payment_password: NOT_FOUND unless owner_user_id owns mchid;
 * CONFLICT when closed already; ACCOUNT_NOT_EMPTY with *not_empty
 * "payout" (held for a transfer to a user not taken yet, payout.h),
 * "pending" (held for a withdrawal the bank has not settled) or "balance"
 * (money a withdrawal could take, or any when the owner's wallet takes no
 * credit), or instead of "balance" LIMIT_EXCEEDED with *refused_limit
 * "kyc_lifetime" (the owner at KYC level 1, what is left of their lifetime
 * allowance less than a withdrawal must take: wallet_withdrawal_cap), before
 * the password is asked;
 * then the password as a payment checks it (PASSWORD_WRONG, _LOCKED,
 * PAYMENT_PASSWORD_NOT_SET; counted). Then, in the same transaction, the
 * row's status and closed_at, a remainder too small for any withdrawal
 * (wallet_withdrawal_max: less than a fen and its fee, without the owner's
 * free allowance) moved to the
 * owner's wallet (WALLET_CODE_MERCHANT_REMAINDER, ref the mchid,
 * remainder_minor), and the settlement account closed in the ledger
 * (CLOSED), which takes no credit ever again. */
struct merchant_status_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    char mchid[MERCHANT_MCHID_SIZE];
    enum merchant_status status;
    char reason[MERCHANT_SUSPEND_REASON_SIZE_MAX];
    const struct domain_env *env; /* the row is read under its tag, and tagged again */
    /* MERCHANT_STATUS_CLOSED only. */
    char owner_user_id[ID_TEXT_SIZE_MAX];
    char payment_password[8];
    enum qb_error outcome;
    bool changed;
    const char *not_empty; /* ACCOUNT_NOT_EMPTY: "balance", "pending" or "payout" */
    const char *refused_limit; /* LIMIT_EXCEEDED: "kyc_lifetime" */
    int64_t remainder_minor;   /* closed: what went to the owner's wallet */
    int64_t owner_account_id;
    struct identity_password_try password_try; /* PASSWORD_WRONG, _LOCKED */
    struct merchant merchant;
};
void merchant_status_cmd_init(struct merchant_status_cmd *c, const struct domain_env *env,
                              enum merchant_status status);
/* The closings' part of merchant_orders_check (order.h), read in the
 * snapshot the caller holds: each remainder the journal holds
 * (WALLET_CODE_MERCHANT_REMAINDER, ref the mchid) is the one of a closed
 * merchant, from its account to its owner's wallet, and nothing else. A
 * closed merchant's row keeps neither the remainder nor its entry, so a
 * closing that moved none has nothing to compare: what its account holds
 * after is the ledger's to check (a closed account holds no money).
 * *remainders: those checked. QB_OK, QB_E_STORAGE, or QB_E_INTERNAL with
 * what is wrong in problem. */
QB_MUST_USE enum qb_error merchant_remainders_check(struct store *reader, int64_t *remainders,
                                                    char *problem, size_t problem_size);
/* The owner's replacement of a merchant's keys, one having leaked:
 * NOT_FOUND unless owner_user_id owns mchid (any status: a closed
 * merchant's queries and bills still answer under them); then the owner's
 * payment password as a payment checks it (PASSWORD_WRONG, _LOCKED,
 * PAYMENT_PASSWORD_NOT_SET; counted). Then what the caller made replaces
 * the merchant's, from the commit on:
 *   apiv3        the API v3 key (重置APIv3密钥; merchant_apiv3_key_new):
 *                the certificates and every notification (each attempt
 *                encrypts anew, those waiting too) are encrypted under it;
 *   certificate  the public key and certificate serial its /v3 requests
 *                are checked against (商户API证书; merchant_certificate_make):
 *                a request signed with the old key is SIGN_ERROR, unless
 *                keep_old_ms asks for an overlap (a planned replacement,
 *                not a leak): then the replaced key still signs requests
 *                naming its serial for that long, and one replaced before
 *                it no longer does. Without one, neither does.
 * Each keeps when (apiv3_key_reset_at_ms, certificate_replaced_at_ms).
 * outcome; merchant: the row after. */
struct merchant_keys_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    const struct domain_env *env;
    char mchid[MERCHANT_MCHID_SIZE];
    /* The owner's, with their payment password; or an operator's
     * (by_operator: no password, the operator answering for it in the
     * audit trail), for a merchant without an owner only: one with an owner
     * is QB_E_CONFLICT. */
    bool by_operator;
    char owner_user_id[ID_TEXT_SIZE_MAX];
    char payment_password[8];
    bool apiv3;
    uint8_t apiv3_key_sealed[MERCHANT_SEALED_KEY_SIZE];
    bool certificate;
    char public_key_pem[MERCHANT_PEM_SIZE_MAX];
    char serial_no[MERCHANT_SERIAL_SIZE];
    int64_t keep_old_ms; /* 0..MERCHANT_CERT_OVERLAP_MS_MAX */
    enum qb_error outcome;
    bool changed;                              /* the keys were replaced (outcome QB_OK) */
    struct identity_password_try password_try; /* PASSWORD_WRONG, _LOCKED */
    struct merchant merchant;
};
void merchant_keys_cmd_init(struct merchant_keys_cmd *c, const struct domain_env *env);
/* A fresh API v3 key (32 letters and digits, as WeChat's, and a NUL) into
 * key, sealed (domain_seal) into sealed. Wipe key after use. */
void merchant_apiv3_key_new(const struct domain_env *env, char key[MERCHANT_APIV3_KEY_SIZE + 1],
                            uint8_t sealed[MERCHANT_SEALED_KEY_SIZE]);

/* The owner text of mchid's settlement account in the ledger, which is
 * also the account_label of the owner's withdrawals from it (topup.h):
 * "merchant:<mchid>". out_size must hold it. */
void merchant_account_owner(const char *mchid, char *out, size_t out_size);
/* domain_env.user_close_blockers: a merchant the user owns
 * (DOMAIN_CLOSE_MERCHANT: its withdrawals go to the owner's cards, its
 * refunds are the owner's business), and the wallet's part
 * (wallet_user_close_blockers). QB_E_STORAGE. */
QB_MUST_USE enum qb_error merchant_user_close_blockers(const struct domain_env *env,
                                                       struct store *store,
                                                       const struct identity_user *user,
                                                       const struct ledger_account_view *view,
                                                       uint32_t *blockers);
/* domain_env.user_closed: the closed wallet's cards unbound and its open
 * collections closed (wallet_txn_user_closed), its payment-code devices revoked
 * (merchant_txn_user_frozen). */
QB_MUST_USE enum qb_error
merchant_txn_user_closed(struct ledger_txn *txn, const struct domain_env *env, const char *user_id);
/* domain_env.sessions_revoked: each merchant user_id owns named changed
 * (ledger_txn_owner_changed), so that the shop's requests waiting for news
 * under a revoked session wake and answer 401. QB_E_STORAGE. */
QB_MUST_USE enum qb_error merchant_txn_sessions_revoked(struct ledger_txn *txn,
                                                        const struct domain_env *env,
                                                        const char *user_id);
/* domain_env.payout_check: a withdrawal from "merchant:<mchid>"'s balance
 * to its owner's card is QB_E_ACCOUNT_FROZEN while the merchant is
 * suspended, so that what it took stays for the refunds; QB_OK otherwise
 * (another label too); merchant_get's errors. */
QB_MUST_USE enum qb_error merchant_txn_payout_check(struct ledger_txn *txn,
                                                    const struct domain_env *env,
                                                    const char *account_label);

/* What onboarding makes before the command runs, on the calling thread:
 * a fresh mchid and appid, the API v3 key, and — unless public_key is
 * given (base64 of a DER SubjectPublicKeyInfo, the body of a "PUBLIC KEY"
 * PEM without its lines: an RSA key of 2048 to 4096 bits, else
 * QB_E_PARAM) — a new
 * RSA-2048 key pair whose private half goes to private_key_pem only; then a
 * certificate for the public key issued by the platform (its serial is the
 * merchant's serial_no). m receives mchid, appid, public_key_pem,
 * serial_no, the sealed API v3 key; the rest of m is the caller's. */
struct merchant_credentials {
    char apiv3_key[MERCHANT_APIV3_KEY_SIZE + 1];
    struct buf private_key_pem; /* empty when the merchant brought its own key */
    struct buf certificate_pem;
};
void merchant_credentials_init(struct merchant_credentials *cred);
/* Wipes and frees. */
void merchant_credentials_release(struct merchant_credentials *cred);
QB_MUST_USE enum qb_error merchant_credentials_make(const struct domain_env *env,
                                                    const char *public_key,
                                                    struct merchant *m,
                                                    struct merchant_credentials *cred);
/* The key pair and certificate part of it alone, for m (its mchid set):
 * m's public_key_pem and serial_no, cred's private_key_pem (unless
 * public_key was given) and certificate_pem. */
QB_MUST_USE enum qb_error merchant_certificate_make(const struct domain_env *env,
                                                    const char *public_key, struct merchant *m,
                                                    struct merchant_credentials *cred);

/* --- the platform key --------------------------------------------------------- */

struct merchant_platform {
    EVP_PKEY *key;
    char serial_no[MERCHANT_SERIAL_SIZE];
    struct buf certificate_pem;
    struct buf public_key_pem;
    int64_t not_before_ms;
    int64_t not_after_ms;
};

/* A self-signed certificate (CN "Qianbao Platform", a random 160-bit
 * serial, valid MERCHANT_CERT_VALID_DAYS from now_ms) for the RSA private
 * key in key_pem, appended to cert_pem. QB_E_PARAM for a key that is not
 * RSA in PEM. */
QB_MUST_USE enum qb_error merchant_platform_certificate_make(const char *key_pem,
                                                             size_t key_pem_size,
                                                             struct qb_rand *rand, int64_t now_ms,
                                                             struct buf *cert_pem);
/* Loads the platform from its key and certificate (which must be for that
 * key). QB_E_PARAM when either does not parse or they do not match. */
QB_MUST_USE enum qb_error merchant_platform_open(const char *key_pem, size_t key_pem_size,
                                                 const char *cert_pem, size_t cert_pem_size,
                                                 struct merchant_platform **out);
void merchant_platform_free(struct merchant_platform *platform);
/* Opens a field a merchant encrypted under the platform certificate's
 * public key, as WeChat's sensitive fields are (a payee's user_name):
 * base64 of RSA-OAEP with SHA-1 and MGF1-SHA-1, at most
 * MERCHANT_SEALED_FIELD_SIZE_MAX characters. The plaintext, NUL-ended, into
 * out; QB_E_PARAM when b64 is no such ciphertext under this key, or the
 * plaintext holds a NUL or does not fit in out_size. The caller wipes out. */
#define MERCHANT_SEALED_FIELD_SIZE_MAX 1024
QB_MUST_USE enum qb_error merchant_platform_decrypt(const struct merchant_platform *platform,
                                                    const char *b64, char *out, size_t out_size);

/* --- signatures (pure; sign.c) ---------------------------------------------------- */

/* The parts of a WECHATPAY2-SHA256-RSA2048 Authorization header. */
struct merchant_auth {
    char mchid[MERCHANT_MCHID_SIZE];
    char nonce[MERCHANT_NONCE_SIZE_MAX + 1];
    char serial_no[MERCHANT_SERIAL_SIZE];
    char signature[MERCHANT_SIGNATURE_SIZE_MAX + 1];
    int64_t timestamp_s;
};
/* Parses the header: the scheme, then key="value" pairs separated by
 * commas (spaces after commas allowed), each of the five exactly once, in
 * any order; mchid ten digits, nonce 1..64 printable ASCII without quotes,
 * timestamp 1..10 digits, serial_no 1..40 hex digits, signature base64.
 * False for anything else. */
QB_MUST_USE bool merchant_auth_parse(const char *header, struct merchant_auth *out);

/* "METHOD\nURI\nTIMESTAMP\nNONCE\nBODY\n" and "TIMESTAMP\nNONCE\nBODY\n"
 * appended to out. */
QB_MUST_USE enum qb_error merchant_request_message(struct buf *out, const char *method,
                                                   const char *uri, int64_t timestamp_s,
                                                   const char *nonce, const void *body,
                                                   size_t body_size);
QB_MUST_USE enum qb_error merchant_response_message(struct buf *out, int64_t timestamp_s,
                                                    const char *nonce, const void *body,
                                                    size_t body_size);

/* base64 of the RSA-PKCS1v1.5 SHA-256 signature of message with key (a
 * private key), into out (out_size >= MERCHANT_SIGNATURE_SIZE_MAX + 1). */
QB_MUST_USE enum qb_error merchant_rsa_sign(EVP_PKEY *key, const void *message, size_t size,
                                            char *out, size_t out_size);
/* True when signature_b64 is key's signature of message. */
QB_MUST_USE bool merchant_rsa_verify(EVP_PKEY *key, const void *message, size_t size,
                                     const char *signature_b64);
/* A public key from PEM ("PUBLIC KEY"), NULL when it is none; the caller
 * frees it (EVP_PKEY_free). */
EVP_PKEY *merchant_public_key_parse(const char *pem, size_t pem_size);

/* The public key a request of m's naming serial_no is checked against at
 * now_ms: m's certificate's, or the one that certificate replaced while
 * the overlap its owner asked for lasts (*pem points into m: both were read
 * with m, under its tag). Serials compare without regard to case.
 * QB_E_SIGN_ERROR for any other serial, with *reason a short static text. */
QB_MUST_USE enum qb_error merchant_request_key(const struct merchant *m, const char *serial_no,
                                               int64_t now_ms, const char **pem,
                                               const char **reason);

/* Checks a request's signature, of merchant m, against public_key_pem (its
 * serial's: merchant_request_key) at now_ms: the mchid, the timestamp
 * window, then the signature over the request message. QB_OK or
 * QB_E_SIGN_ERROR with *reason a short static text (never a value from the
 * request). The nonce's novelty is the caller's to check (struct
 * merchant_nonces) once this passed. */
QB_MUST_USE enum qb_error
merchant_request_verify(const struct merchant *m, const char *public_key_pem,
                        const struct merchant_auth *auth, const char *method, const char *uri,
                        const void *body, size_t body_size, int64_t now_ms, const char **reason);

/* A user's openid under an appid: the per-app pseudonym the merchant API
 * shows instead of the user's id. "o" and the first 27 characters of
 * base64url(HMAC-SHA-256(env->openid_key, appid || 0x00 || user_id)): 28
 * characters like WeChat's, stable, different in every app, and not
 * linkable across apps without the key. out has 29 bytes. */
#define MERCHANT_OPENID_SIZE 29
void merchant_openid(const struct domain_env *env, const char *appid, const char *user_id,
                     char out[MERCHANT_OPENID_SIZE]);

/* The openids given out (the openids table), so that a JSAPI order's
 * payer.openid is checked when the order is made, not first when someone
 * tries to pay it: an openid is recorded when its user is shown it
 * (merchant_openid_issue_cmd, GET /v1/me/openids/{appid}) and when they
 * pay in the app (merchant_txn_order_settle). Rows are never removed. */

/* Whether openid was given out in appid: QB_OK, with the user it was
 * given to in user_id (ID_TEXT_SIZE_MAX bytes; NULL: not wanted),
 * QB_E_NOT_FOUND, QB_E_STORAGE. With env, the row is checked against the
 * openid its user's digest is (merchant_openid): a row edited to name
 * another user, which would send a merchant's transfer to them, is logged
 * at error and answered QB_E_NOT_FOUND; NULL only where no key is known
 * (a migration's test). */
QB_MUST_USE enum qb_error merchant_openid_issued(const struct domain_env *env, struct store *store,
                                                 const char *appid, const char *openid,
                                                 char *user_id);
/* Inside a command: records user_id's openid in appid, once. QB_E_STORAGE. */
QB_MUST_USE enum qb_error merchant_txn_openid_record(struct ledger_txn *txn, const char *appid,
                                                     const char *openid, const char *user_id);

/* The command behind GET /v1/me/openids/{appid}: user_id's openid in
 * appid, recorded. outcome: QB_OK (openid filled), QB_E_NOT_FOUND (appid
 * is no merchant's app; nothing recorded). */
struct merchant_openid_issue_cmd {
    struct ledger_cmd cmd; /* first: see domain.h */
    const struct domain_env *env;
    char appid[MERCHANT_APPID_SIZE];
    char user_id[ID_TEXT_SIZE_MAX];
    char openid[MERCHANT_OPENID_SIZE]; /* out */
    enum qb_error outcome;
};
void merchant_openid_issue_cmd_init(struct merchant_openid_issue_cmd *c,
                                    const struct domain_env *env);

/* --- nonces (nonce.c) --------------------------------------------------------------- */

/* The nonces of accepted requests, remembered in memory for at least
 * 2 * MERCHANT_CLOCK_SKEW_MS — as long as a request with that nonce could
 * still pass the timestamp check — in two generations of fixed-size hash
 * tables (the older one is dropped whole when the newer one has lived its
 * span). Shared by every HTTP thread (a mutex). A full table refuses
 * (QB_E_BUSY) rather than forget: a replay must never pass. One daemon's
 * memory: nodes sharing a database do not share it (docs/merchant.md). */
struct merchant_nonces;
/* capacity: slots of each generation (a power of two, >= 16). NULL when
 * out of memory. */
struct merchant_nonces *merchant_nonces_new(size_t capacity);
void merchant_nonces_free(struct merchant_nonces *nonces);
/* Records (mchid, nonce) as seen at now_ms: QB_OK the first time,
 * QB_E_CONFLICT when it was seen within the window, QB_E_BUSY when the
 * table is full, QB_E_FREQUENCY_LIMITED when this merchant already holds
 * as much of the current generation as is left free (one merchant's flood
 * leaves the rest of the room to the others; nonce.c). */
QB_MUST_USE enum qb_error merchant_nonces_claim(struct merchant_nonces *nonces, const char *mchid,
                                                const char *nonce, int64_t now_ms);

#endif

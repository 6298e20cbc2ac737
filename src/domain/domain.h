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
 * Must never: do network I/O or slow hashing (Argon2id) inside run: it runs
 * on the ledger's single writer thread. Slow work happens on the calling
 * thread before submitting.
 */
#ifndef QB_DOMAIN_DOMAIN_H
#define QB_DOMAIN_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/clock.h"
#include "base/crypto.h"
#include "base/error.h"
#include "base/rand.h"
#include "ledger/ledger.h"

#define DOMAIN_KEY_SIZE 32
/* Sealed data: 24-byte nonce, then ciphertext and a 16-byte tag. */
#define DOMAIN_SEAL_OVERHEAD (24 + 16)

struct domain_settings {
    int64_t session_idle_ms;          /* 30 min */
    int64_t session_absolute_ms;      /* 7 days */
    int64_t session_touch_ms;         /* last_seen is written at most this often: 60 s,
                                       * never more than idle / 10 (domain_env_init) */
    int64_t sms_code_ttl_ms;          /* 300 s */
    int64_t sms_cooldown_ms;          /* 60 s per phone and purpose */
    int64_t sms_daily_max;            /* 10 per phone per day (UTC+8 calendar day) */
    int64_t sms_failures_max;         /* 5 wrong tries void a code */
    int64_t payment_password_failures_max; /* 5 */
    int64_t payment_password_lock_ms; /* 3 hours */
    uint64_t argon2_ops;              /* crypto_pwhash opslimit */
    size_t argon2_memory_size;        /* crypto_pwhash memlimit in bytes */
};

struct domain_env {
    struct qb_clock *clock;
    struct qb_rand *rand;
    struct ledger *ledger;            /* for submitting commands */
    struct domain_settings settings;
    /* Keys derived from DATA_DIR/pepper and DATA_DIR/card-key; never
     * logged, never stored in the database. */
    uint8_t pepper_key[DOMAIN_KEY_SIZE];          /* pre-hash of login passwords */
    uint8_t payment_password_key[DOMAIN_KEY_SIZE];/* keyed hash of payment passwords */
    uint8_t sms_code_key[DOMAIN_KEY_SIZE];        /* keyed hash of SMS codes */
    uint8_t seal_key[DOMAIN_KEY_SIZE];            /* data at rest: id numbers, outbox */
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

/* Midnight (UTC+8, the calendar day of Qianbao's users) at or before at_ms. */
int64_t domain_day_start_ms(int64_t at_ms);

#endif

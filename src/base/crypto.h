/*
 * crypto.h — hashing, MACs, comparison and secrets on disk.
 *
 * Owns: the few primitives the lower layers need (SHA-256 for the ledger's
 * hash chain and request fingerprints, HMAC-SHA-256 for every keyed hash,
 * constant-time comparison, hex) and
 * the handling of secret files: created once with mode 0600, read back,
 * never logged. Password hashing and signatures live in the modules that use
 * them; this header stays small.
 */
#ifndef QB_BASE_CRYPTO_H
#define QB_BASE_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/error.h"

#define CRYPTO_SHA256_SIZE 32

/* Must be called once before threads start; false if libsodium fails. */
QB_MUST_USE bool crypto_init(void);

void crypto_sha256(const void *data, size_t size, uint8_t out[CRYPTO_SHA256_SIZE]);

/* Incremental SHA-256 (opaque storage large enough for the library's state,
 * which needs no allocation, so a state may be copied to fork a hash).
 * crypto_sha256_end wipes the state: what it hashed may be a secret. */
struct crypto_sha256_state {
    _Alignas(64) unsigned char opaque[128];
};
void crypto_sha256_begin(struct crypto_sha256_state *state);
void crypto_sha256_update(struct crypto_sha256_state *state, const void *data, size_t size);
void crypto_sha256_end(struct crypto_sha256_state *state, uint8_t out[CRYPTO_SHA256_SIZE]);

/* HMAC-SHA-256 (RFC 2104), one-shot and incremental. A key longer than
 * SHA-256's block is hashed first, as the RFC says. crypto_hmac_sha256_end
 * wipes the state. A begun state may be copied: keying costs two of the
 * hash's blocks, so a caller that MACs many messages under one key can key
 * once and copy. */
struct crypto_hmac_sha256_state {
    struct crypto_sha256_state inner, outer;
};
void crypto_hmac_sha256_begin(struct crypto_hmac_sha256_state *state, const void *key,
                              size_t key_size);
void crypto_hmac_sha256_update(struct crypto_hmac_sha256_state *state, const void *data,
                               size_t size);
void crypto_hmac_sha256_end(struct crypto_hmac_sha256_state *state,
                            uint8_t out[CRYPTO_SHA256_SIZE]);
void crypto_hmac_sha256(const void *key, size_t key_size, const void *data, size_t size,
                        uint8_t out[CRYPTO_SHA256_SIZE]);

/* Constant-time equality of two equal-length byte strings. */
bool crypto_equal(const void *a, const void *b, size_t size);

/* Lower-case hex of size bytes into out (2*size+1 bytes with NUL). */
void crypto_hex(const void *data, size_t size, char *out);

/* Reads the secret file at path into out (exactly size bytes) or, when it
 * does not exist, creates it with mode 0600 holding size fresh random bytes.
 * Refuses (QB_E_FORBIDDEN) a file that is readable by group or others, and
 * QB_E_INTERNAL on I/O errors or a file of the wrong size. Only for a secret
 * whose data does not exist yet (the daemon's first start on a new
 * database): a fresh key makes whatever an earlier one protected unusable. */
QB_MUST_USE enum qb_error crypto_secret_load(const char *path, uint8_t *out, size_t size);

/* As crypto_secret_load, but never creates: QB_E_NOT_FOUND when the file
 * does not exist. For a secret that data already depends on. */
QB_MUST_USE enum qb_error crypto_secret_read(const char *path, uint8_t *out, size_t size);

/* Wipes a secret from memory (not optimised away). */
void crypto_wipe(void *data, size_t size);

/* AEAD_AES_256_GCM: encrypts plaintext under key (32 bytes) with nonce (its
 * bytes as given, 12 characters in WeChat's use) and associated data, and
 * appends base64(ciphertext || tag) to out: how the merchant API hands a
 * merchant the platform's certificates and its notifications' resources.
 * The decryption, for the CLI, tests and tools: appends the plaintext to
 * out; QB_E_PARAM when it does not open. */
QB_MUST_USE enum qb_error crypto_aead_gcm_encrypt(const uint8_t key[32], const char *nonce,
                                                  const char *associated_data,
                                                  const void *plaintext, size_t size,
                                                  struct buf *out);
QB_MUST_USE enum qb_error crypto_aead_gcm_decrypt(const uint8_t key[32], const char *nonce,
                                                  const char *associated_data,
                                                  const char *ciphertext_b64, struct buf *out);

#endif

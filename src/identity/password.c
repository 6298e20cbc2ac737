/*
 * password.c — login passwords: Argon2id over a peppered pre-hash.
 *
 * The password is first keyed with the pepper (HMAC-SHA-256 under
 * env->pepper_key, written as 64 hex characters), then hashed with
 * crypto_pwhash_str (Argon2id, settings.argon2_ops / argon2_memory_size).
 * A stolen database alone is therefore useless for guessing: every guess
 * needs the pepper, which lives in the data directory, not in the database.
 * The hex step also bounds Argon2id's input to 64 bytes whatever the
 * password's length, and keeps NUL-free text for crypto_pwhash_str.
 *
 * Both functions are slow on purpose and run on the calling thread, never
 * on the ledger's writer. Nothing here logs; intermediate keys are wiped.
 */
#include <string.h>

#include <sodium.h>

#include "identity/identity.h"

_Static_assert(IDENTITY_PASSWORD_HASH_SIZE_MAX == crypto_pwhash_STRBYTES,
               "the stored hash must fit crypto_pwhash_str");

#define PEPPERED_TEXT_SIZE (2 * CRYPTO_SHA256_SIZE + 1)

static void password_pepper(const struct domain_env *env, const char *password,
                            char out[PEPPERED_TEXT_SIZE])
{
    uint8_t mac[CRYPTO_SHA256_SIZE];
    domain_keyed_hash(env->pepper_key, password, strlen(password), mac);
    crypto_hex(mac, sizeof mac, out);
    crypto_wipe(mac, sizeof mac);
}

enum qb_error identity_password_hash(const struct domain_env *env, const char *password,
                                     char out[IDENTITY_PASSWORD_HASH_SIZE_MAX])
{
    QB_ASSERT(env != NULL && password != NULL && out != NULL);
    char peppered[PEPPERED_TEXT_SIZE];
    password_pepper(env, password, peppered);
    int rc = crypto_pwhash_str(out, peppered, PEPPERED_TEXT_SIZE - 1, env->settings.argon2_ops,
                               env->settings.argon2_memory_size);
    crypto_wipe(peppered, sizeof peppered);
    if (rc != 0) {
        out[0] = '\0';
        return QB_E_INTERNAL;
    }
    QB_ASSERT(memchr(out, '\0', IDENTITY_PASSWORD_HASH_SIZE_MAX) != NULL);
    return QB_OK;
}

bool identity_password_verify(const struct domain_env *env, const char *stored_hash,
                              const char *password)
{
    QB_ASSERT(env != NULL);
    if (stored_hash == NULL || password == NULL ||
        memchr(stored_hash, '\0', IDENTITY_PASSWORD_HASH_SIZE_MAX) == NULL)
        return false;
    char peppered[PEPPERED_TEXT_SIZE];
    password_pepper(env, password, peppered);
    int rc = crypto_pwhash_str_verify(stored_hash, peppered, PEPPERED_TEXT_SIZE - 1);
    crypto_wipe(peppered, sizeof peppered);
    return rc == 0;
}

bool identity_password_needs_rehash(const struct domain_env *env, const char *stored_hash)
{
    QB_ASSERT(env != NULL);
    if (stored_hash == NULL || memchr(stored_hash, '\0', IDENTITY_PASSWORD_HASH_SIZE_MAX) == NULL)
        return false;
    return crypto_pwhash_str_needs_rehash(stored_hash, env->settings.argon2_ops,
                                          env->settings.argon2_memory_size) == 1;
}

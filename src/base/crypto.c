/*
 * crypto.c — SHA-256 and HMAC-SHA-256 over OpenSSL, the rest over libsodium,
 * and secret files.
 *
 * SHA-256 is libcrypto's: it uses the CPU's SHA extensions where there are
 * any (a request hashes its token and body, a transfer MACs its payment
 * password and chains its entry; measured in docs/performance.md, about four
 * times libsodium's portable code for these sizes). It is the low-level
 * SHA256_CTX interface, deprecated in OpenSSL 3 but kept there, because it
 * needs no allocation: the state lives in the caller's opaque storage, so
 * headers above base need not include OpenSSL's, and the static assertions
 * below keep that storage honest. Should a later OpenSSL drop it, EVP with
 * a context kept per thread is the replacement; these functions are the
 * only callers. HMAC is built on it here (RFC 2104), so a key's two padded
 * blocks can be hashed once and the state copied.
 *
 * Secret files: crypto_secret_load creates a missing file with
 * O_CREAT|O_EXCL (two daemons starting at once cannot both write one),
 * filled from the system CSPRNG, and fsynced together with its directory
 * before the secret is used, so a crash cannot leave the daemon running on a
 * key the disk does not have. crypto_secret_read never creates one: a key
 * that stored data depends on must be restored, not replaced by a new key
 * that fits none of it. An existing file is refused when anyone but its
 * owner may read or write it: a key others can read is already leaked, one
 * they can write can be replaced.
 */
#include "base/crypto.h"

/* Before any OpenSSL header: SHA256_Init and friends (see above). */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"

#define CRYPTO_SECRET_PATH_SIZE_MAX 4096

_Static_assert(sizeof(SHA256_CTX) <= sizeof(struct crypto_sha256_state),
               "struct crypto_sha256_state is too small for OpenSSL's SHA256_CTX");
_Static_assert(_Alignof(SHA256_CTX) <= _Alignof(struct crypto_sha256_state),
               "struct crypto_sha256_state is under-aligned for OpenSSL's SHA256_CTX");
_Static_assert(CRYPTO_SHA256_SIZE == SHA256_DIGEST_LENGTH, "SHA-256 is 32 bytes");

#define CRYPTO_SHA256_BLOCK_SIZE 64

bool crypto_init(void) { return sodium_init() >= 0; }

static SHA256_CTX *crypto_sha256_inner(struct crypto_sha256_state *state)
{
    QB_ASSERT(state != NULL);
    return (SHA256_CTX *)(void *)state->opaque;
}

void crypto_sha256(const void *data, size_t size, uint8_t out[CRYPTO_SHA256_SIZE])
{
    struct crypto_sha256_state state;
    crypto_sha256_begin(&state);
    crypto_sha256_update(&state, data, size);
    crypto_sha256_end(&state, out);
}

/* The SHA256_* calls return 0 only for a NULL argument, which the
 * assertions rule out. */
void crypto_sha256_begin(struct crypto_sha256_state *state)
{
    int ok = SHA256_Init(crypto_sha256_inner(state));
    QB_ASSERT(ok == 1);
}

void crypto_sha256_update(struct crypto_sha256_state *state, const void *data, size_t size)
{
    QB_ASSERT(data != NULL || size == 0);
    if (size == 0)
        return;
    int ok = SHA256_Update(crypto_sha256_inner(state), data, size);
    QB_ASSERT(ok == 1);
}

void crypto_sha256_end(struct crypto_sha256_state *state, uint8_t out[CRYPTO_SHA256_SIZE])
{
    QB_ASSERT(out != NULL);
    int ok = SHA256_Final(out, crypto_sha256_inner(state));
    QB_ASSERT(ok == 1);
    crypto_wipe(state, sizeof *state);
}

void crypto_hmac_sha256_begin(struct crypto_hmac_sha256_state *state, const void *key,
                              size_t key_size)
{
    QB_ASSERT(state != NULL && (key != NULL || key_size == 0));
    uint8_t pad[CRYPTO_SHA256_BLOCK_SIZE] = {0};
    if (key_size > sizeof pad)
        crypto_sha256(key, key_size, pad);
    else if (key_size > 0)
        memcpy(pad, key, key_size);
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] ^= 0x36;
    crypto_sha256_begin(&state->inner);
    crypto_sha256_update(&state->inner, pad, sizeof pad);
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] ^= 0x36 ^ 0x5c;
    crypto_sha256_begin(&state->outer);
    crypto_sha256_update(&state->outer, pad, sizeof pad);
    crypto_wipe(pad, sizeof pad);
}

void crypto_hmac_sha256_update(struct crypto_hmac_sha256_state *state, const void *data,
                               size_t size)
{
    QB_ASSERT(state != NULL);
    crypto_sha256_update(&state->inner, data, size);
}

void crypto_hmac_sha256_end(struct crypto_hmac_sha256_state *state, uint8_t out[CRYPTO_SHA256_SIZE])
{
    QB_ASSERT(state != NULL && out != NULL);
    uint8_t inner[CRYPTO_SHA256_SIZE];
    crypto_sha256_end(&state->inner, inner);
    crypto_sha256_update(&state->outer, inner, sizeof inner);
    crypto_sha256_end(&state->outer, out);
    crypto_wipe(inner, sizeof inner);
    crypto_wipe(state, sizeof *state);
}

void crypto_hmac_sha256(const void *key, size_t key_size, const void *data, size_t size,
                        uint8_t out[CRYPTO_SHA256_SIZE])
{
    struct crypto_hmac_sha256_state state;
    crypto_hmac_sha256_begin(&state, key, key_size);
    crypto_hmac_sha256_update(&state, data, size);
    crypto_hmac_sha256_end(&state, out);
}

bool crypto_equal(const void *a, const void *b, size_t size)
{
    QB_ASSERT((a != NULL && b != NULL) || size == 0);
    if (size == 0)
        return true;
    return sodium_memcmp(a, b, size) == 0;
}

void crypto_hex(const void *data, size_t size, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *in = data;
    QB_ASSERT(out != NULL && (in != NULL || size == 0));
    for (size_t i = 0; i < size; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * size] = '\0';
}

void crypto_wipe(void *data, size_t size)
{
    if (size > 0)
        sodium_memzero(data, size);
}

/* fsyncs the directory holding path, so that a new name in it is durable. */
static enum qb_error crypto_sync_parent(const char *path)
{
    char dir[CRYPTO_SECRET_PATH_SIZE_MAX];
    size_t len = strnlen(path, sizeof dir);
    if (len >= sizeof dir)
        return QB_E_INTERNAL;
    const char *slash = NULL;
    for (size_t i = 0; i < len; i++) {
        if (path[i] == '/')
            slash = path + i;
    }
    if (slash == NULL) {
        memcpy(dir, ".", 2);
    } else if (slash == path) {
        memcpy(dir, "/", 2);
    } else {
        size_t dir_len = (size_t)(slash - path);
        memcpy(dir, path, dir_len);
        dir[dir_len] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return QB_E_INTERNAL;
    int rc = fsync(fd);
    close(fd);
    return rc == 0 ? QB_OK : QB_E_INTERNAL;
}

/* Reads exactly size bytes of an existing, private, regular file. */
static enum qb_error crypto_secret_read_fd(int fd, const char *path, uint8_t *out, size_t size)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        log_event(LOG_ERROR, "crypto.secret.stat_failed", "path=\"%s\" errno=%d", path, errno);
        return QB_E_INTERNAL;
    }
    if (!S_ISREG(st.st_mode)) {
        log_event(LOG_ERROR, "crypto.secret.not_a_file", "path=\"%s\"", path);
        return QB_E_INTERNAL;
    }
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        log_event(LOG_ERROR, "crypto.secret.too_open", "path=\"%s\" mode=%04o", path,
                  (unsigned int)(st.st_mode & 07777));
        return QB_E_FORBIDDEN;
    }
    if (st.st_size < 0 || (uint64_t)st.st_size != (uint64_t)size) {
        log_event(LOG_ERROR, "crypto.secret.wrong_size", "path=\"%s\" size=%lld expected=%zu", path,
                  (long long)st.st_size, size);
        return QB_E_INTERNAL;
    }
    size_t done = 0;
    while (done < size) {
        ssize_t n = read(fd, out + done, size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            crypto_wipe(out, size);
            log_event(LOG_ERROR, "crypto.secret.read_failed", "path=\"%s\" errno=%d", path,
                      n < 0 ? errno : 0);
            return QB_E_INTERNAL;
        }
        done += (size_t)n;
    }
    return QB_OK;
}

/* Creates the file with fresh random bytes. QB_E_CONFLICT when it appeared
 * meanwhile (another process won the race; the caller reads it instead). */
static enum qb_error crypto_secret_create(const char *path, uint8_t *out, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return QB_E_CONFLICT;
        log_event(LOG_ERROR, "crypto.secret.create_failed", "path=\"%s\" errno=%d", path, errno);
        return QB_E_INTERNAL;
    }
    randombytes_buf(out, size);
    enum qb_error err = QB_OK;
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, out + done, size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = QB_E_INTERNAL;
            break;
        }
        done += (size_t)n;
    }
    if (err == QB_OK && fsync(fd) != 0)
        err = QB_E_INTERNAL;
    if (close(fd) != 0 && err == QB_OK)
        err = QB_E_INTERNAL;
    if (err == QB_OK)
        err = crypto_sync_parent(path);
    if (err != QB_OK) {
        /* A half-written key must not be found and used at the next start. */
        log_event(LOG_ERROR, "crypto.secret.write_failed", "path=\"%s\" errno=%d", path, errno);
        unlink(path);
        crypto_wipe(out, size);
        return err;
    }
    log_event(LOG_INFO, "crypto.secret.created", "path=\"%s\" size=%zu", path, size);
    return QB_OK;
}

enum qb_error crypto_secret_load(const char *path, uint8_t *out, size_t size)
{
    QB_ASSERT(path != NULL && out != NULL && size > 0);
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
            enum qb_error err = crypto_secret_read_fd(fd, path, out, size);
            close(fd);
            return err;
        }
        if (errno != ENOENT) {
            log_event(LOG_ERROR, "crypto.secret.open_failed", "path=\"%s\" errno=%d", path, errno);
            return QB_E_INTERNAL;
        }
        enum qb_error err = crypto_secret_create(path, out, size);
        if (err != QB_E_CONFLICT)
            return err;
    }
    return QB_E_INTERNAL;
}

enum qb_error crypto_secret_read(const char *path, uint8_t *out, size_t size)
{
    QB_ASSERT(path != NULL && out != NULL && size > 0);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return QB_E_NOT_FOUND;
        log_event(LOG_ERROR, "crypto.secret.open_failed", "path=\"%s\" errno=%d", path, errno);
        return QB_E_INTERNAL;
    }
    enum qb_error err = crypto_secret_read_fd(fd, path, out, size);
    close(fd);
    return err;
}

#define S_GCM_TAG_SIZE 16

enum qb_error crypto_aead_gcm_encrypt(const uint8_t key[32], const char *nonce,
                                      const char *associated_data, const void *plaintext,
                                      size_t size, struct buf *out)
{
    QB_ASSERT(key != NULL && nonce != NULL && associated_data != NULL);
    if (size > (size_t)INT32_MAX / 2)
        return QB_E_TOO_LARGE;
    unsigned char *cipher = malloc(size + S_GCM_TAG_SIZE);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0;
    int final = 0;
    size_t aad_size = strlen(associated_data);
    bool ok =
        cipher != NULL && ctx != NULL &&
        EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, (int)strlen(nonce), NULL) == 1 &&
        EVP_EncryptInit_ex(ctx, NULL, NULL, key, (const unsigned char *)nonce) == 1 &&
        (aad_size == 0 || EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)associated_data,
                                            (int)aad_size) == 1) &&
        EVP_EncryptUpdate(ctx, cipher, &n, plaintext, (int)size) == 1 &&
        EVP_EncryptFinal_ex(ctx, cipher + n, &final) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, S_GCM_TAG_SIZE, cipher + size) == 1;
    EVP_CIPHER_CTX_free(ctx);
    enum qb_error err = ok ? QB_OK : QB_E_INTERNAL;
    if (ok) {
        size_t total = size + S_GCM_TAG_SIZE;
        size_t b64_size = sodium_base64_ENCODED_LEN(total, sodium_base64_VARIANT_ORIGINAL);
        char *b64 = malloc(b64_size);
        if (b64 == NULL) {
            err = QB_E_INTERNAL;
        } else {
            sodium_bin2base64(b64, b64_size, cipher, total, sodium_base64_VARIANT_ORIGINAL);
            err = buf_append_str(out, b64);
            free(b64);
        }
    }
    free(cipher);
    return err;
}

enum qb_error crypto_aead_gcm_decrypt(const uint8_t key[32], const char *nonce,
                                      const char *associated_data, const char *ciphertext_b64,
                                      struct buf *out)
{
    size_t b64_size = strlen(ciphertext_b64);
    unsigned char *raw = malloc(b64_size + 1);
    size_t raw_size = 0;
    if (raw == NULL)
        return QB_E_INTERNAL;
    enum qb_error err = QB_E_PARAM;
    if (sodium_base642bin(raw, b64_size + 1, ciphertext_b64, b64_size, NULL, &raw_size, NULL,
                          sodium_base64_VARIANT_ORIGINAL) == 0 &&
        raw_size >= S_GCM_TAG_SIZE && raw_size < (size_t)INT32_MAX) {
        size_t size = raw_size - S_GCM_TAG_SIZE;
        unsigned char *plain = malloc(size + 1);
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        int n = 0;
        int final = 0;
        size_t aad_size = strlen(associated_data);
        bool ok = plain != NULL && ctx != NULL &&
                  EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
                  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, (int)strlen(nonce), NULL) == 1 &&
                  EVP_DecryptInit_ex(ctx, NULL, NULL, key, (const unsigned char *)nonce) == 1 &&
                  (aad_size == 0 ||
                   EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)associated_data,
                                     (int)aad_size) == 1) &&
                  EVP_DecryptUpdate(ctx, plain, &n, raw, (int)size) == 1 &&
                  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, S_GCM_TAG_SIZE, raw + size) == 1 &&
                  EVP_DecryptFinal_ex(ctx, plain + n, &final) == 1;
        EVP_CIPHER_CTX_free(ctx);
        if (ok)
            err = buf_append(out, plain, size);
        free(plain);
    }
    free(raw);
    return err;
}

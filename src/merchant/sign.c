/*
 * sign.c — the signature rules of the merchant API (merchant.h has them):
 * the Authorization header's parser, the signed messages, RSA signing and
 * verification, AEAD_AES_256_GCM, and the openid pseudonym.
 *
 * Everything here is a pure function of its arguments, so that the unit
 * tests can check it against known answers without a daemon. The parser is
 * strict on purpose: a header that is almost right is refused, never
 * guessed at, and no part of it is ever echoed back or logged.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <sodium.h>

#include "merchant/merchant.h"

#define S_SCHEME "WECHATPAY2-SHA256-RSA2048"
/* Room for the method, the URI, the timestamp and the nonce of a message. */
#define S_MESSAGE_SLACK 4096

/* --- the Authorization header -------------------------------------------------------- */

static bool S_all_of(const char *text, size_t size, const char *set)
{
    for (size_t i = 0; i < size; i++)
        if (text[i] == '\0' || strchr(set, text[i]) == NULL)
            return false;
    return true;
}

static bool S_printable(const char *text, size_t size)
{
    for (size_t i = 0; i < size; i++)
        if (text[i] < 0x21 || text[i] > 0x7e || text[i] == '"' || text[i] == '\\')
            return false;
    return true;
}

/* Stores one key="value" pair; false for an unknown key, a repeat or a
 * value of the wrong shape. seen is a bit per key. */
static bool S_auth_field(struct merchant_auth *out, const char *key, size_t key_size,
                         const char *value, size_t value_size, unsigned *seen)
{
#define S_KEY_IS(k) (key_size == sizeof(k) - 1 && memcmp(key, k, key_size) == 0)
    static const char digits[] = "0123456789";
    static const char hex[] = "0123456789abcdefABCDEF";
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
    unsigned bit;
    if (S_KEY_IS("mchid")) {
        bit = 1;
        if (value_size != MERCHANT_MCHID_SIZE - 1 || !S_all_of(value, value_size, digits))
            return false;
        memcpy(out->mchid, value, value_size);
        out->mchid[value_size] = '\0';
    } else if (S_KEY_IS("nonce_str")) {
        bit = 2;
        if (value_size < 1 || value_size > MERCHANT_NONCE_SIZE_MAX || !S_printable(value, value_size))
            return false;
        memcpy(out->nonce, value, value_size);
        out->nonce[value_size] = '\0';
    } else if (S_KEY_IS("timestamp")) {
        bit = 4;
        if (value_size < 1 || value_size > 10 || !S_all_of(value, value_size, digits))
            return false;
        int64_t t = 0;
        for (size_t i = 0; i < value_size; i++)
            t = t * 10 + (value[i] - '0');
        out->timestamp_s = t;
    } else if (S_KEY_IS("serial_no")) {
        bit = 8;
        if (value_size < 1 || value_size > MERCHANT_SERIAL_SIZE - 1 || !S_all_of(value, value_size, hex))
            return false;
        memcpy(out->serial_no, value, value_size);
        out->serial_no[value_size] = '\0';
    } else if (S_KEY_IS("signature")) {
        bit = 16;
        if (value_size < 4 || value_size > MERCHANT_SIGNATURE_SIZE_MAX ||
            !S_all_of(value, value_size, b64))
            return false;
        memcpy(out->signature, value, value_size);
        out->signature[value_size] = '\0';
    } else {
        return false;
    }
#undef S_KEY_IS
    if ((*seen & bit) != 0)
        return false;
    *seen |= bit;
    return true;
}

bool merchant_auth_parse(const char *header, struct merchant_auth *out)
{
    QB_ASSERT(out != NULL);
    memset(out, 0, sizeof *out);
    if (header == NULL || strncmp(header, S_SCHEME " ", sizeof S_SCHEME) != 0)
        return false;
    const char *p = header + sizeof S_SCHEME;
    while (*p == ' ')
        p++;
    unsigned seen = 0;
    for (;;) {
        const char *key = p;
        size_t key_size = strspn(p, "abcdefghijklmnopqrstuvwxyz_");
        p += key_size;
        if (key_size == 0 || p[0] != '=' || p[1] != '"')
            break;
        p += 2;
        const char *value = p;
        const char *close = strchr(p, '"');
        if (close == NULL)
            break;
        if (!S_auth_field(out, key, key_size, value, (size_t)(close - value), &seen))
            break;
        p = close + 1;
        if (*p == '\0') {
            if (seen == 31)
                return true;
            break;
        }
        if (*p != ',')
            break;
        p++;
        while (*p == ' ')
            p++;
    }
    memset(out, 0, sizeof *out);
    return false;
}

/* --- messages ------------------------------------------------------------------------ */

enum qb_error merchant_request_message(struct buf *out, const char *method, const char *uri,
                                       int64_t timestamp_s, const char *nonce, const void *body,
                                       size_t body_size)
{
    enum qb_error err = buf_printf(out, "%s\n%s\n%lld\n%s\n", method, uri,
                                   (long long)timestamp_s, nonce);
    if (err == QB_OK && body_size > 0)
        err = buf_append(out, body, body_size);
    return err == QB_OK ? buf_append_str(out, "\n") : err;
}

enum qb_error merchant_response_message(struct buf *out, int64_t timestamp_s, const char *nonce,
                                        const void *body, size_t body_size)
{
    enum qb_error err = buf_printf(out, "%lld\n%s\n", (long long)timestamp_s, nonce);
    if (err == QB_OK && body_size > 0)
        err = buf_append(out, body, body_size);
    return err == QB_OK ? buf_append_str(out, "\n") : err;
}

/* --- RSA --------------------------------------------------------------------------------- */

enum qb_error merchant_rsa_sign(EVP_PKEY *key, const void *message, size_t size, char *out,
                                size_t out_size)
{
    QB_ASSERT(key != NULL && out != NULL && out_size >= MERCHANT_SIGNATURE_SIZE_MAX + 1);
    unsigned char sig[MERCHANT_KEY_BITS_MAX / 8];
    size_t sig_size = sizeof sig;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx != NULL && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
              EVP_DigestSign(ctx, sig, &sig_size, message, size) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok || sodium_base64_ENCODED_LEN(sig_size, sodium_base64_VARIANT_ORIGINAL) > out_size)
        return QB_E_INTERNAL;
    sodium_bin2base64(out, out_size, sig, sig_size, sodium_base64_VARIANT_ORIGINAL);
    return QB_OK;
}

bool merchant_rsa_verify(EVP_PKEY *key, const void *message, size_t size, const char *signature_b64)
{
    if (key == NULL || signature_b64 == NULL)
        return false;
    unsigned char sig[MERCHANT_KEY_BITS_MAX / 8];
    size_t sig_size = 0;
    if (sodium_base642bin(sig, sizeof sig, signature_b64, strlen(signature_b64), NULL, &sig_size,
                          NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
        return false;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
              EVP_DigestVerify(ctx, sig, sig_size, message, size) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

EVP_PKEY *merchant_public_key_parse(const char *pem, size_t pem_size)
{
    if (pem == NULL || pem_size == 0 || pem_size > MERCHANT_PEM_SIZE_MAX)
        return NULL;
    BIO *bio = BIO_new_mem_buf(pem, (int)pem_size);
    EVP_PKEY *key = bio != NULL ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (key != NULL &&
        (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA || EVP_PKEY_get_bits(key) < MERCHANT_KEY_BITS ||
         EVP_PKEY_get_bits(key) > MERCHANT_KEY_BITS_MAX)) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    return key;
}

enum qb_error merchant_request_verify(const struct merchant *m, const char *public_key_pem,
                                      const struct merchant_auth *auth, const char *method,
                                      const char *uri, const void *body, size_t body_size,
                                      int64_t now_ms, const char **reason)
{
    QB_ASSERT(m != NULL && public_key_pem != NULL && auth != NULL && reason != NULL);
    *reason = "";
    if (strcmp(auth->mchid, m->mchid) != 0) {
        *reason = "mchid";
        return QB_E_SIGN_ERROR;
    }
    int64_t skew_ms = auth->timestamp_s * 1000 - now_ms;
    if (skew_ms > MERCHANT_CLOCK_SKEW_MS || skew_ms < -MERCHANT_CLOCK_SKEW_MS) {
        *reason = "timestamp is more than five minutes off";
        return QB_E_SIGN_ERROR;
    }
    EVP_PKEY *key = merchant_public_key_parse(public_key_pem, strlen(public_key_pem));
    if (key == NULL) {
        *reason = "no key";
        return QB_E_INTERNAL;
    }
    struct buf message;
    buf_init(&message, body_size + S_MESSAGE_SLACK);
    enum qb_error err = merchant_request_message(&message, method, uri, auth->timestamp_s,
                                                 auth->nonce, body, body_size);
    bool ok = err == QB_OK && merchant_rsa_verify(key, message.data, message.size, auth->signature);
    buf_release(&message);
    EVP_PKEY_free(key);
    if (err != QB_OK)
        return err;
    if (!ok) {
        *reason = "signature does not verify";
        return QB_E_SIGN_ERROR;
    }
    return QB_OK;
}

/* --- openid ------------------------------------------------------------------------------------ */

void merchant_openid(const struct domain_env *env, const char *appid, const char *user_id,
                     char out[MERCHANT_OPENID_SIZE])
{
    QB_ASSERT(env != NULL && appid != NULL && user_id != NULL);
    size_t appid_size = strlen(appid);
    size_t user_size = strlen(user_id);
    unsigned char message[MERCHANT_APPID_SIZE + 1 + ID_TEXT_SIZE_MAX];
    QB_ASSERT(appid_size < MERCHANT_APPID_SIZE && user_size < ID_TEXT_SIZE_MAX);
    memcpy(message, appid, appid_size);
    message[appid_size] = 0;
    memcpy(message + appid_size + 1, user_id, user_size);
    uint8_t mac[CRYPTO_SHA256_SIZE];
    domain_keyed_hash(env->openid_key, message, appid_size + 1 + user_size, mac);
    char b64[sodium_base64_ENCODED_LEN(CRYPTO_SHA256_SIZE,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    sodium_bin2base64(b64, sizeof b64, mac, sizeof mac, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    out[0] = 'o';
    memcpy(out + 1, b64, MERCHANT_OPENID_SIZE - 2);
    out[MERCHANT_OPENID_SIZE - 1] = '\0';
}

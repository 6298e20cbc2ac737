/*
 * platform.c — the platform's key and certificate, and the certificates
 * Qianbao issues for merchants' keys.
 *
 * WeChat Pay hands every merchant a certificate for its API key and signs
 * its own answers with a "platform certificate" whose serial travels in
 * Wechatpay-Serial. Qianbao does the same with one key pair the daemon makes
 * on first start (DATA_DIR/platform-key.pem) and a self-signed certificate
 * for it (DATA_DIR/platform-cert.pem); merchant certificates are issued by
 * that key. A serial is 160 random bits with the top bit clear (a positive
 * ASN.1 integer of 20 bytes), shown as 40 upper-case hex digits.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/buffer.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "merchant/merchant.h"

#define S_SERIAL_BYTES 20

/* Appends what a memory BIO holds to out. */
static enum qb_error S_bio_drain(BIO *bio, struct buf *out)
{
    BUF_MEM *mem = NULL;
    if (BIO_get_mem_ptr(bio, &mem) != 1 || mem == NULL)
        return QB_E_INTERNAL;
    return buf_append(out, mem->data, mem->length);
}

/* The serial of cert as 40 upper-case hex digits. */
static bool S_serial_text(const X509 *cert, char out[MERCHANT_SERIAL_SIZE])
{
    const ASN1_INTEGER *serial = X509_get0_serialNumber(cert);
    BIGNUM *bn = serial != NULL ? ASN1_INTEGER_to_BN(serial, NULL) : NULL;
    char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
    bool ok = hex != NULL && strlen(hex) < MERCHANT_SERIAL_SIZE;
    if (ok) {
        /* Left-pad to 40 digits so every serial has one length. */
        size_t size = strlen(hex);
        memset(out, '0', MERCHANT_SERIAL_SIZE - 1 - size);
        memcpy(out + MERCHANT_SERIAL_SIZE - 1 - size, hex, size);
        out[MERCHANT_SERIAL_SIZE - 1] = '\0';
    }
    OPENSSL_free(hex);
    BN_free(bn);
    return ok;
}

/* A certificate for subject_key with common name cn, signed by issuer_key
 * under issuer_name (NULL: self-signed), appended to out in PEM. */
static enum qb_error S_certificate_make(EVP_PKEY *subject_key, const char *cn,
                                        EVP_PKEY *issuer_key, const X509_NAME *issuer_name,
                                        struct qb_rand *rand, int64_t now_ms, struct buf *out,
                                        char serial_out[MERCHANT_SERIAL_SIZE])
{
    unsigned char serial_bytes[S_SERIAL_BYTES];
    rand_fill(rand, serial_bytes, sizeof serial_bytes);
    serial_bytes[0] = (unsigned char)(0x40 | (serial_bytes[0] & 0x3f)); /* positive, 20 bytes */
    X509 *cert = X509_new();
    BIGNUM *bn = BN_bin2bn(serial_bytes, sizeof serial_bytes, NULL);
    X509_NAME *name = X509_NAME_new();
    BIO *bio = BIO_new(BIO_s_mem());
    time_t now_s = (time_t)(now_ms / 1000);
    bool ok = cert != NULL && bn != NULL && name != NULL && bio != NULL &&
              X509_set_version(cert, 2) == 1 &&
              BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL &&
              X509_time_adj_ex(X509_getm_notBefore(cert), 0, 0, &now_s) != NULL &&
              X509_time_adj_ex(X509_getm_notAfter(cert), MERCHANT_CERT_VALID_DAYS, 0, &now_s) !=
                  NULL &&
              X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                         (const unsigned char *)"Qianbao", -1, -1, 0) == 1 &&
              X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1,
                                         -1, 0) == 1 &&
              X509_set_subject_name(cert, name) == 1 &&
              X509_set_issuer_name(cert, issuer_name != NULL ? issuer_name : name) == 1 &&
              X509_set_pubkey(cert, subject_key) == 1 &&
              X509_sign(cert, issuer_key, EVP_sha256()) > 0 && PEM_write_bio_X509(bio, cert) == 1 &&
              S_serial_text(cert, serial_out);
    enum qb_error err = ok ? S_bio_drain(bio, out) : QB_E_INTERNAL;
    BIO_free(bio);
    X509_NAME_free(name);
    BN_free(bn);
    X509_free(cert);
    return err;
}

static EVP_PKEY *S_private_key_parse(const char *pem, size_t pem_size)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)pem_size);
    EVP_PKEY *key = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (key != NULL && EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    return key;
}

enum qb_error merchant_platform_certificate_make(const char *key_pem, size_t key_pem_size,
                                                 struct qb_rand *rand, int64_t now_ms,
                                                 struct buf *cert_pem)
{
    EVP_PKEY *key = S_private_key_parse(key_pem, key_pem_size);
    if (key == NULL)
        return QB_E_PARAM;
    char serial[MERCHANT_SERIAL_SIZE];
    enum qb_error err =
        S_certificate_make(key, "Qianbao Platform", key, NULL, rand, now_ms, cert_pem, serial);
    EVP_PKEY_free(key);
    return err;
}

void merchant_platform_free(struct merchant_platform *platform)
{
    if (platform == NULL)
        return;
    EVP_PKEY_free(platform->key);
    buf_release(&platform->certificate_pem);
    buf_release(&platform->public_key_pem);
    free(platform);
}

static int64_t S_asn1_time_ms(const ASN1_TIME *t)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm) * 1000;
}

enum qb_error merchant_platform_open(const char *key_pem, size_t key_pem_size, const char *cert_pem,
                                     size_t cert_pem_size, struct merchant_platform **out)
{
    *out = NULL;
    struct merchant_platform *p = calloc(1, sizeof *p);
    if (p == NULL)
        return QB_E_INTERNAL;
    buf_init(&p->certificate_pem, 16 * 1024);
    buf_init(&p->public_key_pem, MERCHANT_PEM_SIZE_MAX);
    p->key = S_private_key_parse(key_pem, key_pem_size);
    BIO *bio = BIO_new_mem_buf(cert_pem, (int)cert_pem_size);
    X509 *cert = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    BIO *pub = BIO_new(BIO_s_mem());
    enum qb_error err = QB_E_PARAM;
    if (p->key != NULL && cert != NULL && X509_check_private_key(cert, p->key) == 1 &&
        S_serial_text(cert, p->serial_no) && pub != NULL &&
        PEM_write_bio_PUBKEY(pub, p->key) == 1) {
        err = S_bio_drain(pub, &p->public_key_pem);
        if (err == QB_OK)
            err = buf_append(&p->certificate_pem, cert_pem, cert_pem_size);
        p->not_before_ms = S_asn1_time_ms(X509_get0_notBefore(cert));
        p->not_after_ms = S_asn1_time_ms(X509_get0_notAfter(cert));
    }
    BIO_free(pub);
    X509_free(cert);
    if (err != QB_OK) {
        merchant_platform_free(p);
        return err;
    }
    *out = p;
    return QB_OK;
}

/* --- merchant credentials -------------------------------------------------------------- */

void merchant_credentials_init(struct merchant_credentials *cred)
{
    memset(cred, 0, sizeof *cred);
    buf_init(&cred->private_key_pem, 8 * 1024);
    buf_init(&cred->certificate_pem, 8 * 1024);
}

void merchant_credentials_release(struct merchant_credentials *cred)
{
    crypto_wipe(cred->apiv3_key, sizeof cred->apiv3_key);
    if (cred->private_key_pem.data != NULL)
        crypto_wipe(cred->private_key_pem.data, cred->private_key_pem.capacity);
    buf_release(&cred->private_key_pem);
    buf_release(&cred->certificate_pem);
}

/* size random characters of alphabet into out (NUL-terminated). */
static void S_random_text(struct qb_rand *rand, const char *alphabet, size_t size, char *out)
{
    size_t n = strlen(alphabet);
    for (size_t i = 0; i < size; i++)
        out[i] = alphabet[rand_below(rand, n)];
    out[size] = '\0';
}

void merchant_apiv3_key_new(const struct domain_env *env, char key[MERCHANT_APIV3_KEY_SIZE + 1],
                            uint8_t sealed[MERCHANT_SEALED_KEY_SIZE])
{
    QB_ASSERT(env != NULL && key != NULL && sealed != NULL);
    S_random_text(env->rand, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                  MERCHANT_APIV3_KEY_SIZE, key);
    domain_seal(env, key, MERCHANT_APIV3_KEY_SIZE, sealed);
}

void merchant_appid_new(const struct domain_env *env, char out[MERCHANT_APPID_SIZE])
{
    QB_ASSERT(env != NULL && out != NULL);
    memcpy(out, "wx", 2);
    S_random_text(env->rand, "0123456789abcdef", MERCHANT_APPID_SIZE - 3, out + 2);
}

/* An RSA public key of 2048..4096 bits from base64 DER, or NULL. */
static EVP_PKEY *S_public_key_from_b64(const char *b64)
{
    unsigned char der[MERCHANT_PEM_SIZE_MAX];
    size_t der_size = 0;
    if (sodium_base642bin(der, sizeof der, b64, strlen(b64), NULL, &der_size, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return NULL;
    const unsigned char *p = der;
    EVP_PKEY *key = d2i_PUBKEY(NULL, &p, (long)der_size);
    if (key != NULL && (p != der + der_size || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA ||
                        EVP_PKEY_get_bits(key) < MERCHANT_KEY_BITS ||
                        EVP_PKEY_get_bits(key) > MERCHANT_KEY_BITS_MAX)) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    return key;
}

enum qb_error merchant_credentials_make(const struct domain_env *env, const char *public_key,
                                        struct merchant *m, struct merchant_credentials *cred)
{
    QB_ASSERT(env != NULL && m != NULL && cred != NULL);
    if (env->platform == NULL)
        return QB_E_INTERNAL;
    /* Ids: a ten-digit mchid not starting with 0, an appid "wx" + 16 hex. */
    S_random_text(env->rand, "123456789", 1, m->mchid);
    S_random_text(env->rand, "0123456789", MERCHANT_MCHID_SIZE - 2, m->mchid + 1);
    merchant_appid_new(env, m->appid);
    merchant_apiv3_key_new(env, cred->apiv3_key, m->apiv3_key_sealed);
    return merchant_certificate_make(env, public_key, m, cred);
}

enum qb_error merchant_certificate_make(const struct domain_env *env, const char *public_key,
                                        struct merchant *m, struct merchant_credentials *cred)
{
    QB_ASSERT(env != NULL && m != NULL && cred != NULL && merchant_mchid_is_valid(m->mchid));
    if (env->platform == NULL)
        return QB_E_INTERNAL;
    EVP_PKEY *key = NULL;
    enum qb_error err = QB_OK;
    if (public_key != NULL) {
        key = S_public_key_from_b64(public_key);
        if (key == NULL)
            return QB_E_PARAM;
    } else {
        key = EVP_RSA_gen(MERCHANT_KEY_BITS);
        BIO *bio = BIO_new(BIO_s_mem());
        if (key == NULL || bio == NULL ||
            PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1)
            err = QB_E_INTERNAL;
        else
            err = S_bio_drain(bio, &cred->private_key_pem);
        if (bio != NULL) {
            BUF_MEM *mem = NULL;
            if (BIO_get_mem_ptr(bio, &mem) == 1 && mem != NULL)
                OPENSSL_cleanse(mem->data, mem->length);
        }
        BIO_free(bio);
    }
    /* Keep the public half only, in PEM. */
    BIO *pub = BIO_new(BIO_s_mem());
    BUF_MEM *mem = NULL;
    if (err == QB_OK && (pub == NULL || PEM_write_bio_PUBKEY(pub, key) != 1 ||
                         BIO_get_mem_ptr(pub, &mem) != 1 || mem == NULL ||
                         mem->length >= sizeof m->public_key_pem))
        err = QB_E_INTERNAL;
    if (err == QB_OK) {
        memcpy(m->public_key_pem, mem->data, mem->length);
        m->public_key_pem[mem->length] = '\0';
    }
    BIO_free(pub);
    /* The certificate, issued by the platform, names the mchid. */
    if (err == QB_OK) {
        X509_NAME *issuer = X509_NAME_new();
        if (issuer == NULL ||
            X509_NAME_add_entry_by_txt(issuer, "O", MBSTRING_ASC,
                                       (const unsigned char *)"Qianbao", -1, -1, 0) != 1 ||
            X509_NAME_add_entry_by_txt(issuer, "CN", MBSTRING_ASC,
                                       (const unsigned char *)"Qianbao Platform", -1, -1, 0) != 1)
            err = QB_E_INTERNAL;
        else
            err = S_certificate_make(key, m->mchid, env->platform->key, issuer, env->rand,
                                     clock_now_ms(env->clock), &cred->certificate_pem,
                                     m->serial_no);
        X509_NAME_free(issuer);
    }
    EVP_PKEY_free(key);
    return err;
}

enum qb_error merchant_platform_decrypt(const struct merchant_platform *platform, const char *b64,
                                        char *out, size_t out_size)
{
    QB_ASSERT(platform != NULL && b64 != NULL && out != NULL && out_size > 0);
    out[0] = '\0';
    size_t size = strlen(b64);
    if (size == 0 || size > MERCHANT_SEALED_FIELD_SIZE_MAX || size % 4 != 0)
        return QB_E_PARAM;
    unsigned char raw[MERCHANT_SEALED_FIELD_SIZE_MAX / 4 * 3];
    int n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)size);
    for (size_t i = size; n > 0 && i > 0 && b64[i - 1] == '='; i--)
        n--; /* EVP_DecodeBlock counts the padding as bytes */
    if (n <= 0)
        return QB_E_PARAM;
    unsigned char plain[MERCHANT_SEALED_FIELD_SIZE_MAX / 4 * 3];
    size_t plain_size = sizeof plain;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(platform->key, NULL);
    bool ok = ctx != NULL && EVP_PKEY_decrypt_init(ctx) == 1 &&
              EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
              EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha1()) == 1 &&
              EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha1()) == 1 &&
              EVP_PKEY_decrypt(ctx, plain, &plain_size, raw, (size_t)n) == 1;
    EVP_PKEY_CTX_free(ctx);
    ok = ok && plain_size < out_size && memchr(plain, '\0', plain_size) == NULL;
    if (ok) {
        memcpy(out, plain, plain_size);
        out[plain_size] = '\0';
    }
    sodium_memzero(plain, sizeof plain);
    return ok ? QB_OK : QB_E_PARAM;
}

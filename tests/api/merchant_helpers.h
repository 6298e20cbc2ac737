/*
 * merchant_helpers.h — what the merchant API tests share: onboarding a
 * merchant through the admin route, and calling /v3 exactly as a WeChat Pay
 * SDK does, with OpenSSL and nothing of Qianbao's own code: the
 * Authorization header signed with the merchant's private key over
 * "METHOD\nPATH_WITH_QUERY\nTIMESTAMP\nNONCE\nBODY\n", and every answer's
 * Wechatpay-Signature checked against the platform public key the
 * onboarding answer gave.
 */
#ifndef QB_TESTS_API_MERCHANT_HELPERS_H
#define QB_TESTS_API_MERCHANT_HELPERS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "api/lib/api.h"
#include "api/lib/client.h"
#include "test.h"

#define MH_SIGNATURE_SIZE 700 /* base64 of an RSA-4096 signature (684) and a NUL */

struct mh_merchant {
    char mchid[16];
    char appid[32];
    char apiv3_key[40];
    char serial_no[48];
    char platform_serial_no[48];
    EVP_PKEY *key;          /* the merchant's private key */
    EVP_PKEY *platform_key; /* the platform's public key */
};

/* Seconds every signed call's timestamp runs ahead of this machine's clock:
 * a test that runs its daemon on a clock of its own
 * (QIANBAO_TEST_CLOCK_OFFSET_MS) sets the same here. */
static long long mh_clock_offset_s;

/* How a signed call deviates from a correct one, to test each refusal. */
struct mh_options {
    EVP_PKEY *sign_key;           /* NULL: the merchant's own */
    long long timestamp_offset_s; /* added to now */
    const char *nonce;            /* NULL: a fresh random one */
    const char *signed_body;      /* NULL: the body sent */
    const char *signed_path;      /* NULL: the path (and query) sent */
    const char *serial_no;        /* NULL: the merchant's */
    const char *wechatpay_serial; /* a Wechatpay-Serial header (the platform's, for a body
                                   * with encrypted fields); NULL: none */
};

static inline EVP_PKEY *mh_pem_key(const char *pem, bool private_key)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key = private_key ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)
                                : PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    return key;
}

/* base64 of key's SHA256-with-RSA signature of message. */
static inline bool mh_sign(EVP_PKEY *key, const char *message, size_t size,
                           char out[MH_SIGNATURE_SIZE])
{
    unsigned char sig[512];
    size_t sig_size = sizeof sig;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
              EVP_DigestSign(ctx, sig, &sig_size, (const unsigned char *)message, size) == 1;
    EVP_MD_CTX_free(ctx);
    if (ok)
        EVP_EncodeBlock((unsigned char *)out, sig, (int)sig_size);
    return ok;
}

static inline bool mh_verify(EVP_PKEY *key, const char *message, size_t size, const char *sig_b64)
{
    unsigned char sig[600];
    int n = EVP_DecodeBlock(sig, (const unsigned char *)sig_b64, (int)strlen(sig_b64));
    if (n <= 0)
        return false;
    size_t sig_size = (size_t)n;
    size_t b64_size = strlen(sig_b64);
    while (b64_size > 0 && sig_b64[b64_size - 1] == '=') { /* DecodeBlock counts padding */
        sig_size--;
        b64_size--;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
              EVP_DigestVerify(ctx, sig, sig_size, (const unsigned char *)message, size) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* Fills m from an onboarding's answer j (POST /admin/merchants or
 * /v1/merchants: the latter gives no API v3 key). False when the keys in it
 * do not load. */
static inline bool mh_from_answer(const json_t *j, struct mh_merchant *m)
{
    snprintf(m->mchid, sizeof m->mchid, "%s", json_string_value(json_object_get(j, "mchid")));
    snprintf(m->appid, sizeof m->appid, "%s", json_string_value(json_object_get(j, "appid")));
    const char *apiv3_key = json_string_value(json_object_get(j, "apiv3_key"));
    snprintf(m->apiv3_key, sizeof m->apiv3_key, "%s", apiv3_key != NULL ? apiv3_key : "");
    snprintf(m->serial_no, sizeof m->serial_no, "%s",
             json_string_value(json_object_get(j, "serial_no")));
    snprintf(m->platform_serial_no, sizeof m->platform_serial_no, "%s",
             json_string_value(json_object_get(j, "platform_serial_no")));
    m->key = mh_pem_key(json_string_value(json_object_get(j, "private_key_pem")), true);
    m->platform_key =
        mh_pem_key(json_string_value(json_object_get(j, "platform_public_key_pem")), false);
    return m->key != NULL && m->platform_key != NULL;
}

/* Onboards a merchant through POST /admin/merchants (fee_ppm < 0: the
 * default rate). False with a message on stderr when refused. */
static inline bool mh_onboard(struct client *client, const char *admin, long long fee_ppm,
                              struct mh_merchant *m)
{
    memset(m, 0, sizeof *m);
    char body[128];
    if (fee_ppm >= 0)
        snprintf(body, sizeof body, "{\"name\":\"测试商户\",\"fee_rate_ppm\":%lld}", fee_ppm);
    else
        snprintf(body, sizeof body, "{\"name\":\"测试商户\"}");
    struct client_response res;
    long status = api_call(client, "POST", "/admin/merchants", admin, body, &res);
    json_t *j = api_json(&res);
    bool ok = status == 201 && j != NULL;
    ok = ok && mh_from_answer(j, m);
    if (!ok)
        fprintf(stderr, "  mh_onboard: %ld %.*s\n", status, (int)res.body.size,
                res.body.data != NULL ? res.body.data : "");
    json_decref(j);
    client_response_release(&res);
    return ok;
}

/* Onboards a merchant named name owned by u through POST /v1/merchants,
 * as its owner applies. False with a message on stderr when refused. */
static inline bool mh_owner_onboard(struct client *client, const struct api_user *u,
                                    const char *name, struct mh_merchant *m)
{
    memset(m, 0, sizeof *m);
    char body[128];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", name);
    struct client_response res;
    long status = api_call(client, "POST", "/v1/merchants", u->token, body, &res);
    json_t *j = api_json(&res);
    bool ok = status == 201 && j != NULL;
    ok = ok && mh_from_answer(j, m);
    if (!ok)
        fprintf(stderr, "  mh_owner_onboard: %ld %.*s\n", status, (int)res.body.size,
                res.body.data != NULL ? res.body.data : "");
    json_decref(j);
    client_response_release(&res);
    return ok;
}

static inline void mh_release(struct mh_merchant *m)
{
    EVP_PKEY_free(m->key);
    EVP_PKEY_free(m->platform_key);
    memset(m, 0, sizeof *m);
}

/* A signed /v3 call (path with its query), deviating as opt says (NULL:
 * not at all). Answers the status. */
static inline long mh_call_opt(struct client *client, const struct mh_merchant *m,
                               const char *method, const char *path, const char *body,
                               const struct mh_options *opt, struct client_response *res)
{
    struct mh_options none;
    memset(&none, 0, sizeof none);
    if (opt == NULL)
        opt = &none;
    char nonce[40];
    if (opt->nonce != NULL) {
        snprintf(nonce, sizeof nonce, "%s", opt->nonce);
    } else {
        unsigned char raw[16];
        RAND_bytes(raw, sizeof raw);
        for (size_t i = 0; i < sizeof raw; i++)
            snprintf(nonce + 2 * i, 3, "%02X", raw[i]);
    }
    long long ts = (long long)time(NULL) + mh_clock_offset_s + opt->timestamp_offset_s;
    const char *signed_body = opt->signed_body != NULL ? opt->signed_body : (body ? body : "");
    const char *signed_path = opt->signed_path != NULL ? opt->signed_path : path;
    size_t message_size = strlen(method) + strlen(signed_path) + strlen(signed_body) + 128;
    char *message = malloc(message_size);
    int n = snprintf(message, message_size, "%s\n%s\n%lld\n%s\n%s\n", method, signed_path, ts,
                     nonce, signed_body);
    char sig[MH_SIGNATURE_SIZE];
    if (!mh_sign(opt->sign_key != NULL ? opt->sign_key : m->key, message, (size_t)n, sig))
        TEST_FAIL_("signing failed");
    free(message);
    char auth[1024];
    snprintf(auth, sizeof auth,
             "Authorization: WECHATPAY2-SHA256-RSA2048 mchid=\"%s\",nonce_str=\"%s\","
             "timestamp=\"%lld\",serial_no=\"%s\",signature=\"%s\"",
             m->mchid, nonce, ts, opt->serial_no != NULL ? opt->serial_no : m->serial_no, sig);
    char serial[128] = "";
    if (opt->wechatpay_serial != NULL)
        snprintf(serial, sizeof serial, "Wechatpay-Serial: %s", opt->wechatpay_serial);
    const char *headers[5];
    size_t count = 0;
    headers[count++] = auth;
    headers[count++] = "Accept: application/json";
    if (body != NULL)
        headers[count++] = "Content-Type: application/json";
    if (serial[0] != '\0')
        headers[count++] = serial;
    headers[count] = NULL;
    client_request(client, method, path, headers, body, body != NULL ? strlen(body) : 0, res);
    return res->status;
}

static inline long mh_call(struct client *client, const struct mh_merchant *m, const char *method,
                           const char *path, const char *body, struct client_response *res)
{
    return mh_call_opt(client, m, method, path, body, NULL, res);
}

/* POST /v3/pay/transactions/native for m: an order out_trade_no of total fen
 * (description "d", a public notify_url); the status, the answer in res. */
static inline long mh_native_order(struct client *client, const struct mh_merchant *m,
                                   const char *out_trade_no, long long total,
                                   struct client_response *res)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"d\",\"out_trade_no\":\"%s\","
             "\"notify_url\":\"https://example.com/n\",\"amount\":{\"total\":%lld}}",
             m->appid, m->mchid, out_trade_no, total);
    return mh_call(client, m, "POST", "/v3/pay/transactions/native", body, res);
}

/* True when res carries a valid platform signature, as an SDK checks it:
 * with a Request-ID beside it, which WeChat sends with every answer and
 * some SDKs' validators refuse an answer without. */
static inline bool mh_response_verified(const struct mh_merchant *m,
                                        const struct client_response *res)
{
    char ts[32], nonce[80], serial[64], sig[MH_SIGNATURE_SIZE], request_id[64];
    if (client_response_header(res, "Request-ID", request_id, sizeof request_id) == NULL ||
        request_id[0] == '\0' ||
        client_response_header(res, "Wechatpay-Timestamp", ts, sizeof ts) == NULL ||
        client_response_header(res, "Wechatpay-Nonce", nonce, sizeof nonce) == NULL ||
        client_response_header(res, "Wechatpay-Serial", serial, sizeof serial) == NULL ||
        client_response_header(res, "Wechatpay-Signature", sig, sizeof sig) == NULL)
        return false;
    if (strcmp(serial, m->platform_serial_no) != 0)
        return false;
    size_t size = strlen(ts) + strlen(nonce) + res->body.size + 8;
    char *message = malloc(size);
    int n = snprintf(message, size, "%s\n%s\n%.*s\n", ts, nonce, (int)res->body.size,
                     res->body.data != NULL ? res->body.data : "");
    bool ok = mh_verify(m->platform_key, message, (size_t)n, sig);
    free(message);
    return ok;
}

/* --- bills --------------------------------------------------------------------- */

/* The UTC+8 date days_ago days before now (clock_offset_s ahead of this
 * machine's clock), "YYYY-MM-DD". */
static inline void mh_bill_date(long long clock_offset_s, int days_ago, char out[16])
{
    time_t t = time(NULL) + (time_t)clock_offset_s + 8 * 3600 - (time_t)days_ago * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
}

/* SHA-1 of data in lower-case hex, as a bill's hash_value. */
static inline void mh_sha1_hex(const void *data, size_t size, char out[41])
{
    unsigned char digest[20];
    unsigned int n = 0;
    EVP_Digest(data, size, digest, &n, EVP_sha1(), NULL);
    for (unsigned int i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

/* GET path signed by m at its clock plus clock_offset_s: the status must be
 * status, the answer signed by the platform and its code code. */
static inline void mh_expect_get(struct client *client, const struct mh_merchant *m,
                                 long long clock_offset_s, const char *path, long status,
                                 const char *code)
{
    struct mh_options opt;
    memset(&opt, 0, sizeof opt);
    opt.timestamp_offset_s = clock_offset_s;
    struct client_response res;
    ASSERT_EQ_INT(mh_call_opt(client, m, "GET", path, NULL, &opt, &res), status);
    ASSERT(mh_response_verified(m, &res));
    ASSERT_EQ_STR(api_error_code(&res), code);
    client_response_release(&res);
}

/* The PEM of one certificate of GET /v3/certificates (an item of its
 * "data"), decrypted with m's API v3 key as an SDK does (AES-256-GCM, the
 * item's nonce and associated data), into pem (NUL-terminated); false
 * when it does not decrypt. */
static inline bool mh_certificate_decrypt(const struct mh_merchant *m, const json_t *item,
                                          char *pem, size_t pem_size)
{
    json_t *enc = json_object_get(item, "encrypt_certificate");
    const char *algorithm = json_string_value(json_object_get(enc, "algorithm"));
    const char *nonce = json_string_value(json_object_get(enc, "nonce"));
    const char *aad = json_string_value(json_object_get(enc, "associated_data"));
    const char *b64 = json_string_value(json_object_get(enc, "ciphertext"));
    if (algorithm == NULL || strcmp(algorithm, "AEAD_AES_256_GCM") != 0 || nonce == NULL ||
        aad == NULL || b64 == NULL || strlen(b64) > 10000)
        return false;
    unsigned char raw[8192];
    int n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)strlen(b64));
    if (n <= 16)
        return false;
    size_t size = (size_t)n;
    for (const char *p = b64 + strlen(b64); p > b64 && p[-1] == '='; p--)
        size--;
    size -= 16;
    if (size + 1 > pem_size)
        return false;
    int len = 0, fin = 0;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    bool ok =
        ctx != NULL && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, (int)strlen(nonce), NULL) == 1 &&
        EVP_DecryptInit_ex(ctx, NULL, NULL, (const unsigned char *)m->apiv3_key,
                           (const unsigned char *)nonce) == 1 &&
        EVP_DecryptUpdate(ctx, NULL, &len, (const unsigned char *)aad, (int)strlen(aad)) == 1 &&
        EVP_DecryptUpdate(ctx, (unsigned char *)pem, &len, raw, (int)size) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, raw + size) == 1 &&
        EVP_DecryptFinal_ex(ctx, (unsigned char *)pem + len, &fin) == 1;
    EVP_CIPHER_CTX_free(ctx);
    pem[ok ? len + fin : 0] = '\0';
    return ok;
}

#endif

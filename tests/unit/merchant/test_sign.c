/*
 * test_sign.c — the signature rules of the merchant API (src/merchant/sign.c,
 * nonce.c): the Authorization header's parser, the signed message, RSA
 * signatures against a known answer, the time window, nonce replay,
 * AEAD_AES_256_GCM against a known answer, and the openid pseudonym.
 *
 * The known answers were made once with other tools (openssl dgst -sha256
 * -sign over the message below; Python's cryptography AESGCM) from the key
 * and inputs written here, so that a change in how Qianbao builds or signs
 * a message fails here, not at a merchant's SDK.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>

#include "merchant/merchant.h"
#include "test.h"

static const char S_kat_key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQDczP7CLjbhXiX+\n"
    "hbsLgR9pRjUI9ouIlXsxnzFoWgGesG1JEVAyTZUjgN5ct/R/12qqCEQ335FkwKAM\n"
    "jxqO0GVVpfpM7hlSZZtQfxEeTtDEu/nXhQekb1balmKStPd6TqfL2vAG0pOGnW0D\n"
    "GfcQx1YTeKubDrhyviAJNt8RemLMEPGLTGGbNRs+TT7xsAhITYjfQztpgeLxkGNb\n"
    "XQn/XYAC4oUwTO5MAvHZ65h+rUmlqrzbPjQjCm/DIWmL+h1E2hn6U1GsXwOg6eEL\n"
    "Y0l4MImH5hwTenWkE/QazWS05QriV/wtQVR7VjDHMQqMrpoPDiqTCI3gdeb9CBIi\n"
    "2x704cG7AgMBAAECggEAFEDbh31MvGxx6MBkkWAVPQdbGwjecLdhdwJGum8zIdbG\n"
    "F4M2i36xVPHfs7qN+2ILnzAl7cgcopTGuZAw2/PCr9ILPR5EBVpbnk0hiVmqbble\n"
    "aAYEVvF9koxj21gtMTNg0eKxzLZpINp04ulxT8ExJJUXjKATjDbjYmT9njFPOa+S\n"
    "el9V8dKiF2V39e5hSkVXI6bEM+CIL9lwraIRcwMwJzBBoc7zsVrt8rS7DGFL4IUK\n"
    "+xVcRETL2hGDyx1/XvjR2TgTVmfKBrmbjErLQ48OhFfZGK/c1LIRNMDt4XEIPaqk\n"
    "KTPCqRriLb2fd8zBNcxQMics8PsymE+IM05BkhYtTQKBgQD97j0o1nh1YDITiVYt\n"
    "BZ92K4NcDbLF4YBX/ME4Rhn73RCD2BeWlh12+MtwphZGarLL5XoMImmJYJZ/KcDi\n"
    "ljGTlaW6HHeWJMWWCN92GoJaPdbR7gpG2STSnloUc3d75ihgokSobmZrXT597ZRa\n"
    "L8Gx/VD00EzOqCszjp/z7xDmPQKBgQDemaOo41+f4hXUyz2BuA9iOuWsRZHUtz8D\n"
    "uPE9x6Fd2QWlsuO/5y7ylIde97nmbezIsMORAv1DA17o6LHaGcXaOGST26hMWmih\n"
    "YGaA4o2q9eVo6ZYwbgSTmbNbDm+jLujnCBV71CXHN+shcC+FMs6XA2aDD6+pGVhC\n"
    "V2Z2BYy/VwKBgE/aGE98SjsW+ghcusXDq+acPl23TQ2fIR4KNLS+jrM+TFA5pwlK\n"
    "wY9FI6yT/hM8wGcQDbY9KBT0U78/YRGgC40OlSQWiaCkhaHtvl/EbFN2eNRhV8f5\n"
    "xvOYqlkeCmfi87WXsaGJvhlrJBizmmBV/kI7l7a0vkKKbbNz2Wb7OcQ9AoGADLTe\n"
    "d7yK79h7AIuddjMohaXxCFVsTqUrLq427xzfJDlILj446/JpZqV92LjxXqr1sjsM\n"
    "3tE53cJqf4cQ5+9CsQM5EoueXsVmZZfYIhFMnu6sasGytg8Bqd9DMrZvPvRljRKU\n"
    "D157zZRukpkRzVuqGUqzZlXV5CQzOo48pg4JC78CgYBelJqOruvvchZ+9BK/UFJk\n"
    "BhwlBYl8QoMxb+p0awkTgLmw1+ervpLto1WNqBnMk9vpSdFCY4j+zGhzJAJ/+Fwg\n"
    "UOTg+D437mE9LdNdxspvYVR/zBSD7eNVr/AToTMj3I/xeq3oIQT4ku0soOnKyUxD\n"
    "Lh4h9H7xwbaOacBvTyb9og==\n"
    "-----END PRIVATE KEY-----\n"
;

/* openssl dgst -sha256 -sign of S_KAT_MESSAGE with S_kat_key_pem, base64. */
static const char S_kat_signature[] =
    "SL/9ELUyy3FXlGChwa8wysrhUDpS/k5aBFH1dnOl4DONzsw6OxGU5XGGL7qG4svUHk/v1i6rt9odjOZHjW5ScBFVfF3cKfjmuZQbtAh3YO5vcjYMQXSTnQ+NBUdPxMLVpwBkvx5yV8kpYJQkHmy+06dOgcHaZ1aLG020ExanAS46uZlUKRm/CRep6lN4quvs1Y0Wo7DHDzTm714J0MXar+3ztlbETJa3dM30YeKtIYHiYGAmh4bCCVTpxM2i+L60Q/8LGVQ5f8Ag3Mhrg7cBKOT0WC7Meb4RvbbmZ7Kp3iYg/DTG9SF45/hgdNZTI2D4F0ePvXMW5KZN30Bzo1uLfw==";

#define S_KAT_MESSAGE                                                                              \
    "POST\n/v3/pay/transactions/native\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n"          \
    "{\"appid\":\"wxd678efh567hg6787\"}\n"

static EVP_PKEY *S_kat_key(void)
{
    BIO *bio = BIO_new_mem_buf(S_kat_key_pem, -1);
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    ASSERT(key != NULL);
    return key;
}

/* The public half in PEM, into out. */
static void S_public_pem(EVP_PKEY *key, char *out, size_t out_size)
{
    BIO *bio = BIO_new(BIO_s_mem());
    ASSERT(PEM_write_bio_PUBKEY(bio, key) == 1);
    char *data = NULL;
    long size = BIO_get_mem_data(bio, &data);
    ASSERT(size > 0 && (size_t)size < out_size);
    memcpy(out, data, (size_t)size);
    out[size] = '\0';
    BIO_free(bio);
}

#define S_HEADER_GOOD                                                                              \
    "WECHATPAY2-SHA256-RSA2048 mchid=\"1900009191\",nonce_str=\"593BEC0C930BF1AFEB40B4A08C8FB242\"," \
    "timestamp=\"1554208460\",serial_no=\"1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C\","           \
    "signature=\"uOVRnA4qG/MNnYzdQxJanN+zU+lTgIcnU9BxGw5dKjK+VdEUz2FeIoC+D5sB/LN+nGzX3hfZg6r5wT1pl2ZobmIc6p0ldN7J6yDgUzbX8Uk3sD4a4eZVPTBvqNDoUqcYMlZ9uuDdCvNv4TM3c1WzsXUrExwVkI1XO5jCNbgDJ25nkT/c1gIFvqoogl7MdSFGc4W4xZsqCItnqbypR3RuGIlR9h9vlRsy7zJR9PBI83X8alLDIfR1ukt1P7tMnmogZ0cuDY8cZsd8ZlCgLadmvej58SLsIkVxFJ8XyUgx9FmutKSYTmYtWBZ0+tNvfGmbXU7cob8H/4nLBiCwIUFluw==\""

TEST(auth_header_parses_in_any_order_and_nothing_less)
{
    // An SDK writes the five pairs in its own order; Qianbao must read every order, and refuse
    // anything missing, repeated, unknown or mis-shaped rather than guess.
    struct merchant_auth a;
    ASSERT(merchant_auth_parse(S_HEADER_GOOD, &a));
    ASSERT_EQ_STR(a.mchid, "1900009191");
    ASSERT_EQ_STR(a.nonce, "593BEC0C930BF1AFEB40B4A08C8FB242");
    ASSERT_EQ_INT(a.timestamp_s, 1554208460);
    ASSERT_EQ_STR(a.serial_no, "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C");
    ASSERT(strlen(a.signature) == 344);
    ASSERT(merchant_auth_parse("WECHATPAY2-SHA256-RSA2048 signature=\"YWJj\", serial_no=\"AB\", "
                               "timestamp=\"1\", nonce_str=\"n\", mchid=\"1234567890\"",
                               &a));
    const char *bad[] = {
        "",
        "Bearer abc",
        "WECHATPAY2-SHA256-RSA2048",
        /* one missing */
        "WECHATPAY2-SHA256-RSA2048 mchid=\"1234567890\",nonce_str=\"n\",timestamp=\"1\",serial_no=\"AB\"",
        /* repeated */
        "WECHATPAY2-SHA256-RSA2048 mchid=\"1234567890\",mchid=\"1234567890\",nonce_str=\"n\","
        "timestamp=\"1\",serial_no=\"AB\",signature=\"YWJj\"",
        /* unknown key */
        "WECHATPAY2-SHA256-RSA2048 mchid=\"1234567890\",nonce_str=\"n\",timestamp=\"1\","
        "serial_no=\"AB\",signature=\"YWJj\",x=\"y\"",
        /* mchid of nine digits, timestamp not digits, serial not hex */
        "WECHATPAY2-SHA256-RSA2048 mchid=\"123456789\",nonce_str=\"n\",timestamp=\"1\","
        "serial_no=\"AB\",signature=\"YWJj\"",
        "WECHATPAY2-SHA256-RSA2048 mchid=\"1234567890\",nonce_str=\"n\",timestamp=\"1a\","
        "serial_no=\"AB\",signature=\"YWJj\"",
        "WECHATPAY2-SHA256-RSA2048 mchid=\"1234567890\",nonce_str=\"n\",timestamp=\"1\","
        "serial_no=\"XY\",signature=\"YWJj\"",
        /* an unquoted value, a trailing comma, an empty nonce */
        "WECHATPAY2-SHA256-RSA2048 mchid=1234567890,nonce_str=\"n\",timestamp=\"1\","
        "serial_no=\"AB\",signature=\"YWJj\"",
        "WECHATPAY2-SHA256-RSA2048 mchid=\"1234567890\",nonce_str=\"n\",timestamp=\"1\","
        "serial_no=\"AB\",signature=\"YWJj\",",
        "WECHATPAY2-SHA256-RSA2048 mchid=\"1234567890\",nonce_str=\"\",timestamp=\"1\","
        "serial_no=\"AB\",signature=\"YWJj\"",
    };
    for (size_t i = 0; i < QB_ARRAY_COUNT(bad); i++) {
        if (merchant_auth_parse(bad[i], &a))
            TEST_FAIL_("accepted bad header %zu", i);
        ASSERT_EQ_STR(a.mchid, "");
    }
    ASSERT(!merchant_auth_parse(NULL, &a));
}

TEST(request_message_and_signature_match_the_known_answer)
{
    // The message layout and the RSA signature must be bit-exact with what an SDK computes, or
    // no SDK can talk to Qianbao: both are checked against answers made by openssl itself.
    struct buf message;
    buf_init(&message, 4096);
    const char *body = "{\"appid\":\"wxd678efh567hg6787\"}";
    ASSERT_EQ_INT(merchant_request_message(&message, "POST", "/v3/pay/transactions/native",
                                           1554208460, "593BEC0C930BF1AFEB40B4A08C8FB242", body,
                                           strlen(body)),
                  QB_OK);
    ASSERT_EQ_STR(message.data, S_KAT_MESSAGE);
    EVP_PKEY *key = S_kat_key();
    char sig[MERCHANT_SIGNATURE_SIZE_MAX + 1];
    ASSERT_EQ_INT(merchant_rsa_sign(key, message.data, message.size, sig, sizeof sig), QB_OK);
    ASSERT_EQ_STR(sig, S_kat_signature);
    ASSERT(merchant_rsa_verify(key, message.data, message.size, S_kat_signature));
    /* One byte changed anywhere, or a broken signature, fails. */
    message.data[3] = 'X';
    ASSERT(!merchant_rsa_verify(key, message.data, message.size, S_kat_signature));
    message.data[3] = '\n';
    ASSERT(!merchant_rsa_verify(key, message.data, message.size, "YWJj"));
    ASSERT(!merchant_rsa_verify(key, message.data, message.size, "not base64!"));
    buf_reset(&message);
    ASSERT_EQ_INT(merchant_response_message(&message, 1554208460, "n", "", 0), QB_OK);
    ASSERT_EQ_STR(message.data, "1554208460\nn\n\n");
    buf_release(&message);
    EVP_PKEY_free(key);
}

TEST(request_verify_checks_serial_window_and_signature)
{
    // The order of the checks is the rule: the serial must be the merchant's, the timestamp
    // within five minutes either way, and the signature over exactly this method, URI and body.
    EVP_PKEY *key = S_kat_key();
    struct merchant m;
    memset(&m, 0, sizeof m);
    snprintf(m.mchid, sizeof m.mchid, "1900009191");
    snprintf(m.serial_no, sizeof m.serial_no, "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C");
    S_public_pem(key, m.public_key_pem, sizeof m.public_key_pem);
    struct merchant_auth a;
    memset(&a, 0, sizeof a);
    snprintf(a.mchid, sizeof a.mchid, "1900009191");
    snprintf(a.nonce, sizeof a.nonce, "593BEC0C930BF1AFEB40B4A08C8FB242");
    snprintf(a.serial_no, sizeof a.serial_no, "1dde55ad98ed71d6edd4a4a16996de7b47773a8c");
    snprintf(a.signature, sizeof a.signature, "%s", S_kat_signature);
    a.timestamp_s = 1554208460;
    const char *body = "{\"appid\":\"wxd678efh567hg6787\"}";
    const char *uri = "/v3/pay/transactions/native";
    const char *reason;
    int64_t at_ms = a.timestamp_s * 1000;
    ASSERT_EQ_INT(merchant_request_verify(&m, m.public_key_pem, &a, "POST", uri, body, strlen(body),
                                          at_ms, &reason),
                  QB_OK);
    /* Five minutes either way pass; a millisecond more does not. */
    int64_t skew = MERCHANT_CLOCK_SKEW_MS;
    ASSERT_EQ_INT(merchant_request_verify(&m, m.public_key_pem, &a, "POST", uri, body, strlen(body),
                                          at_ms + skew, &reason),
                  QB_OK);
    ASSERT_EQ_INT(merchant_request_verify(&m, m.public_key_pem, &a, "POST", uri, body, strlen(body),
                                          at_ms - skew, &reason),
                  QB_OK);
    ASSERT_EQ_INT(merchant_request_verify(&m, m.public_key_pem, &a, "POST", uri, body, strlen(body),
                                          at_ms + skew + 1, &reason),
                  QB_E_SIGN_ERROR);
    ASSERT_EQ_INT(merchant_request_verify(&m, m.public_key_pem, &a, "POST", uri, body, strlen(body),
                                          at_ms - skew - 1, &reason),
                  QB_E_SIGN_ERROR);
    /* Another method, URI or body (a serial: merchant_request_key). */
    ASSERT_EQ_INT(merchant_request_verify(&m, m.public_key_pem, &a, "PUT", uri, body, strlen(body),
                                          at_ms, &reason),
                  QB_E_SIGN_ERROR);
    ASSERT_EQ_INT(merchant_request_verify(&m, m.public_key_pem, &a, "POST",
                                          "/v3/pay/transactions/app", body, strlen(body), at_ms,
                                          &reason),
                  QB_E_SIGN_ERROR);
    ASSERT_EQ_INT(
        merchant_request_verify(&m, m.public_key_pem, &a, "POST", uri, "{}", 2, at_ms, &reason),
        QB_E_SIGN_ERROR);
    EVP_PKEY_free(key);
}

TEST(a_nonce_is_refused_again_within_the_window_and_per_merchant)
{
    // A replayed request must never pass while its timestamp could: the same nonce of the same
    // merchant is refused for at least ten minutes, another merchant's same nonce is its own.
    struct merchant_nonces *n = merchant_nonces_new(64);
    ASSERT(n != NULL);
    int64_t t = INT64_C(1790000000000);
    ASSERT_EQ_INT(merchant_nonces_claim(n, "1900009191", "abc", t), QB_OK);
    ASSERT_EQ_INT(merchant_nonces_claim(n, "1900009191", "abc", t + 1), QB_E_CONFLICT);
    ASSERT_EQ_INT(merchant_nonces_claim(n, "1900009192", "abc", t + 1), QB_OK);
    ASSERT_EQ_INT(merchant_nonces_claim(n, "1900009191", "abd", t + 1), QB_OK);
    /* Across a generation turn, and until twice the skew has passed. */
    int64_t window = 2 * MERCHANT_CLOCK_SKEW_MS;
    ASSERT_EQ_INT(merchant_nonces_claim(n, "1900009191", "x", t + window), QB_OK);
    ASSERT_EQ_INT(merchant_nonces_claim(n, "1900009191", "abc", t + window), QB_E_CONFLICT);
    ASSERT_EQ_INT(merchant_nonces_claim(n, "1900009191", "abc", t + window + window / 2),
                  QB_E_CONFLICT);
    /* Long after, the nonce's own timestamp check refuses it; the memory may forget. */
    ASSERT_EQ_INT(merchant_nonces_claim(n, "1900009191", "abc", t + 3 * window), QB_OK);
    /* A full generation refuses instead of forgetting. Near the full mark a merchant whose two
     * counters another merchant shares (a chance of about one in 8,000 here, as the sketch's key
     * is random) is told FREQUENCY_LIMITED a claim early: an over-count, never an under-count. */
    int busy = 0;
    for (int i = 0; i < 100; i++) {
        char mchid[16], nonce[16];
        snprintf(mchid, sizeof mchid, "19%08d", i);
        snprintf(nonce, sizeof nonce, "n%d", i);
        enum qb_error err = merchant_nonces_claim(n, mchid, nonce, t + 3 * window);
        ASSERT(err == QB_OK || err == QB_E_BUSY || (err == QB_E_FREQUENCY_LIMITED && i >= 40));
        busy += err == QB_E_BUSY;
    }
    ASSERT(busy > 0);
    ASSERT_EQ_INT(merchant_nonces_claim(n, "1900009191", "abc", t + 3 * window), QB_E_CONFLICT);
    ASSERT_EQ_INT(merchant_nonces_claim(n, "1900000000", "n0", t + 3 * window), QB_E_CONFLICT);
    merchant_nonces_free(n);
    ASSERT(merchant_nonces_new(100) == NULL); /* not a power of two */
}

TEST(one_merchants_flood_of_signed_requests_leaves_room_for_the_others)
{
    // A merchant's retry loop gone wrong sends validly signed requests as fast as it can: it is
    // told to slow down (FREQUENCY_LIMITED) once it holds half the memory of nonces, and every
    // other merchant goes on being served, each also up to what is still free.
    struct merchant_nonces *n = merchant_nonces_new(1024); /* room for 768 */
    ASSERT(n != NULL);
    int64_t t = INT64_C(1790000000000);
    char nonce[16];
    int taken = 0;
    enum qb_error err = QB_OK;
    while (err == QB_OK) {
        snprintf(nonce, sizeof nonce, "a%d", taken);
        err = merchant_nonces_claim(n, "1900009191", nonce, t);
        taken += err == QB_OK;
    }
    ASSERT_EQ_INT(err, QB_E_FREQUENCY_LIMITED);
    ASSERT_EQ_INT(taken, 384);
    /* Refused, the nonce was not used up; a replay is still a replay. */
    ASSERT_EQ_INT(merchant_nonces_claim(n, "1900009191", "a0", t), QB_E_CONFLICT);
    /* The others are served: 100 merchants, 3 requests each. */
    for (int m = 0; m < 100; m++) {
        char mchid[16];
        snprintf(mchid, sizeof mchid, "18%08d", m);
        for (int i = 0; i < 3; i++) {
            snprintf(nonce, sizeof nonce, "b%d", i);
            ASSERT_EQ_INT(merchant_nonces_claim(n, mchid, nonce, t + 1), QB_OK);
        }
    }
    /* A second flooder stops where it holds what is left: (768 - 684) / 2. */
    taken = 0;
    err = QB_OK;
    while (err == QB_OK) {
        snprintf(nonce, sizeof nonce, "c%d", taken);
        err = merchant_nonces_claim(n, "1700000001", nonce, t + 2);
        taken += err == QB_OK;
    }
    ASSERT_EQ_INT(err, QB_E_FREQUENCY_LIMITED);
    ASSERT(taken <= 42 && taken >= 42 - 3); /* less only if both its counters are shared */
    ASSERT_EQ_INT(merchant_nonces_claim(n, "1600000001", "d", t + 3), QB_OK);
    /* The next generation gives the first one room again. */
    ASSERT_EQ_INT(merchant_nonces_claim(n, "1900009191", "e", t + 2 * MERCHANT_CLOCK_SKEW_MS),
                  QB_OK);
    merchant_nonces_free(n);
}

TEST(aead_matches_the_known_answer_and_refuses_tampering)
{
    // Certificates and notifications are decrypted by the merchant's own AES-GCM code: the
    // bytes must be what any AEAD_AES_256_GCM implementation makes from the same inputs.
    const uint8_t *key = (const uint8_t *)"0123456789abcdefghijABCDEFGHIJ01";
    struct buf out;
    buf_init(&out, 4096);
    ASSERT_EQ_INT(
        crypto_aead_gcm_encrypt(key, "fixednonce12", "certificate", "hello qianbao", 13, &out),
        QB_OK);
    ASSERT_EQ_STR(out.data, "cCGllQ0QttsgH8mPSbWDBCBriedQgpa/N9W3cUs=");
    struct buf plain;
    buf_init(&plain, 4096);
    ASSERT_EQ_INT(crypto_aead_gcm_decrypt(key, "fixednonce12", "certificate", out.data, &plain),
                  QB_OK);
    ASSERT_EQ_STR(plain.data, "hello qianbao");
    ASSERT_EQ_INT(crypto_aead_gcm_decrypt(key, "fixednonce12", "transaction", out.data, &plain),
                  QB_E_PARAM);
    ASSERT_EQ_INT(crypto_aead_gcm_decrypt(key, "fixednonce13", "certificate", out.data, &plain),
                  QB_E_PARAM);
    out.data[0] = 'd';
    ASSERT_EQ_INT(crypto_aead_gcm_decrypt(key, "fixednonce12", "certificate", out.data, &plain),
                  QB_E_PARAM);
    buf_release(&out);
    buf_release(&plain);
}

TEST(openid_is_stable_per_app_and_differs_between_apps)
{
    // The openid is how a merchant knows a payer: the same in one app every time, different in
    // another app (so two merchants cannot join their customers), shaped like WeChat's.
    struct domain_env env;
    struct domain_settings settings;
    domain_settings_default(&settings);
    uint8_t pepper[DOMAIN_KEY_SIZE], data_key[DOMAIN_KEY_SIZE];
    memset(pepper, 1, sizeof pepper);
    memset(data_key, 2, sizeof data_key);
    domain_env_init(&env, clock_system(), rand_system(), NULL, &settings, pepper, data_key);
    char a1[MERCHANT_OPENID_SIZE], a2[MERCHANT_OPENID_SIZE], b[MERCHANT_OPENID_SIZE],
        c[MERCHANT_OPENID_SIZE];
    merchant_openid(&env, "wx0123456789abcdef", "u_aaaaaaaaaaaaaaaaaaaaaaaaaa", a1);
    merchant_openid(&env, "wx0123456789abcdef", "u_aaaaaaaaaaaaaaaaaaaaaaaaaa", a2);
    merchant_openid(&env, "wx0123456789abcdee", "u_aaaaaaaaaaaaaaaaaaaaaaaaaa", b);
    merchant_openid(&env, "wx0123456789abcdef", "u_aaaaaaaaaaaaaaaaaaaaaaaaab", c);
    ASSERT_EQ_STR(a1, a2);
    ASSERT(strcmp(a1, b) != 0 && strcmp(a1, c) != 0);
    ASSERT_EQ_INT(strlen(a1), 28);
    ASSERT(a1[0] == 'o');
    ASSERT(strspn(a1 + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == 27);
    domain_env_release(&env);
}

int main(void)
{
    RUN(auth_header_parses_in_any_order_and_nothing_less);
    RUN(request_message_and_signature_match_the_known_answer);
    RUN(request_verify_checks_serial_window_and_signature);
    RUN(a_nonce_is_refused_again_within_the_window_and_per_merchant);
    RUN(one_merchants_flood_of_signed_requests_leaves_room_for_the_others);
    RUN(aead_matches_the_known_answer_and_refuses_tampering);
    RUN(openid_is_stable_per_app_and_differs_between_apps);
    return test_summary();
}

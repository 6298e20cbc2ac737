/*
 * fuzz_v3_auth.c — the merchant API's Authorization header
 * (WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",timestamp="…",
 * serial_no="…",signature="…"): parsing never crashes, whatever it accepts
 * has the shapes merchant_auth_parse promises, and a signature the fuzzer
 * made up never verifies under a real key.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "base/buf.h"
#include "merchant/merchant.h"

#define S_INPUT_SIZE_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool S_all_of(const char *text, const char *set)
{
    return strspn(text, set) == strlen(text);
}

/* One RSA-2048 key for the whole run: making one per input would be all
 * the fuzzer ever did. */
static EVP_PKEY *S_key(void)
{
    static EVP_PKEY *key;
    if (key == NULL) {
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, NULL);
        if (ctx == NULL || EVP_PKEY_keygen_init(ctx) <= 0 ||
            EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048) <= 0 || EVP_PKEY_keygen(ctx, &key) <= 0)
            abort();
        EVP_PKEY_CTX_free(ctx);
    }
    return key;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > S_INPUT_SIZE_MAX)
        return 0;
    char header[S_INPUT_SIZE_MAX + 1];
    memcpy(header, data, size);
    header[size] = '\0';
    struct merchant_auth auth;
    if (!merchant_auth_parse(header, &auth))
        return 0;
    /* What was accepted has the promised shapes. */
    if (strlen(auth.mchid) != MERCHANT_MCHID_SIZE - 1 || !S_all_of(auth.mchid, "0123456789") ||
        strlen(auth.nonce) < 1 || strlen(auth.nonce) > MERCHANT_NONCE_SIZE_MAX ||
        strlen(auth.serial_no) < 1 || !S_all_of(auth.serial_no, "0123456789abcdefABCDEF") ||
        strlen(auth.signature) < 4 || auth.timestamp_s < 0 || auth.timestamp_s > 9999999999LL)
        abort();
    /* Its signature over the message it names never verifies. */
    struct buf message;
    buf_init(&message, 1 << 16);
    if (merchant_request_message(&message, "POST", "/v3/pay/transactions/native",
                                 auth.timestamp_s, auth.nonce, "{}", 2) != QB_OK)
        abort();
    if (merchant_rsa_verify(S_key(), message.data, message.size, auth.signature))
        abort();
    buf_release(&message);
    return 0;
}

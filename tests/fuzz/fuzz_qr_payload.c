/*
 * fuzz_qr_payload.c — the QR payload parser (src/qr/qr.h): never crashes,
 * never reads past the input, and whatever it accepts re-encodes to the
 * same bytes (one canonical spelling per payload).
 *
 * The first byte picks a mode. Even: the rest is parsed as it is, so the
 * fuzzer explores the framing and the MAC check. Odd: the rest is taken as
 * the signed part and the harness appends "&s=" and its correct MAC, so
 * the fuzzer reaches the value rules behind the signature, which random
 * bytes would never pass.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "qr/qr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t S_key[QR_KEY_SIZE] = "qianbao-fuzz-key-32-bytes-long!";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 2 * QR_PAYLOAD_SIZE_MAX)
        return 0;
    bool sign = (data[0] & 1) != 0;
    size_t body_size = size - 1;
    size_t text_size = body_size + (sign ? 3 + QR_MAC_TEXT_SIZE : 0);
    /* Exactly the input's bytes, so that a read past them is caught by ASan. */
    char *text = malloc(text_size > 0 ? text_size : 1);
    if (text == NULL)
        abort();
    memcpy(text, data + 1, body_size);
    if (sign) {
        uint8_t mac[crypto_auth_hmacsha256_BYTES];
        crypto_auth_hmacsha256(mac, (const unsigned char *)text, body_size, S_key);
        char b64[QR_MAC_TEXT_SIZE + 1];
        sodium_bin2base64(b64, sizeof b64, mac, QR_MAC_SIZE,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        memcpy(text + body_size, "&s=", 3);
        memcpy(text + body_size + 3, b64, QR_MAC_TEXT_SIZE);
    }
    struct qr_payload p;
    enum qb_error err = qr_payload_parse(S_key, text, text_size, &p);
    if (err != QB_OK) {
        if (err != QB_E_QR_INVALID)
            abort();
        free(text);
        return 0;
    }
    char again[QR_PAYLOAD_SIZE_MAX];
    if (qr_payload_encode(S_key, &p, again, sizeof again) != QB_OK || strlen(again) != text_size ||
        memcmp(again, text, text_size) != 0) {
        fprintf(stderr, "round trip: %.*s -> %s\n", (int)text_size, text, again);
        abort();
    }
    free(text);
    return 0;
}

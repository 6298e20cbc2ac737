/*
 * fuzz_paycode.c — the payment-code parser (src/base/paycode.h): never
 * crashes or reads past its input, and whatever it accepts is exactly a
 * code of docs/paycode.md that its own fields format back to.
 *
 * Input: the text a till would submit. When it parses, the fields are
 * written back with a Luhn digit and must give the same 18 bytes, and the
 * code is verified against a seed made of the input, which must agree
 * with the token recomputed for the matched step.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "base/luhn.h"
#include "base/paycode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (!crypto_init())
            abort();
        ready = 1;
    }
    struct paycode code;
    if (!paycode_parse((const char *)data, size, &code))
        return 0;
    if (size != PAYCODE_DIGITS || code.slot > PAYCODE_SLOT_MAX ||
        code.counter > PAYCODE_COUNTER_MAX || code.token >= PAYCODE_TOKEN_MODULUS)
        abort();
    char text[32];
    snprintf(text, sizeof text, "19%07u%u%07u", (unsigned)code.slot, (unsigned)code.counter,
             (unsigned)code.token);
    text[17] = (char)('0' + luhn_check_digit(text, 17));
    text[18] = '\0';
    if (memcmp(text, data, PAYCODE_DIGITS) != 0) {
        fprintf(stderr, "round trip: %.18s -> %s\n", (const char *)data, text);
        abort();
    }
    uint8_t seed[PAYCODE_SEED_SIZE];
    crypto_sha256(data, size, seed);
    int64_t now_step = 29406666 + code.slot % 1000;
    int64_t matched = -1;
    if (paycode_verify(seed, &code, now_step, &matched)) {
        if (matched < now_step - 1 || matched > now_step + 1 ||
            paycode_token(seed, matched, code.slot, code.counter) != code.token)
            abort();
    }
    return 0;
}

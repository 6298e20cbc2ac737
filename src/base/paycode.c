/*
 * paycode.c — the payment code's codec (paycode.h, docs/paycode.md).
 *
 * Pure functions over HMAC-SHA-256 (base/crypto.h). The token is HOTP's
 * dynamic truncation (RFC 4226 §5.3) over a SHA-256 MAC whose input binds
 * the time step, the slot and the counter, so that a token never carries
 * over to another slot, step or counter.
 */
#include "base/paycode.h"

#include <string.h>

#include "base/assert.h"
#include "base/crypto.h"
#include "base/luhn.h"

int64_t paycode_step(int64_t at_ms)
{
    QB_ASSERT(at_ms >= 0);
    return at_ms / PAYCODE_STEP_MS;
}

void paycode_message(int64_t step, uint32_t slot, uint8_t counter,
                     uint8_t out[PAYCODE_MESSAGE_SIZE])
{
    QB_ASSERT(step >= 0 && slot <= PAYCODE_SLOT_MAX && counter <= PAYCODE_COUNTER_MAX);
    memcpy(out, "QBPC", 4);
    out[4] = 0x01;
    uint64_t s = (uint64_t)step;
    for (int i = 0; i < 8; i++)
        out[5 + i] = (uint8_t)(s >> (56 - 8 * i));
    for (int i = 0; i < 4; i++)
        out[13 + i] = (uint8_t)(slot >> (24 - 8 * i));
    out[17] = counter;
}

uint32_t paycode_token(const uint8_t seed[PAYCODE_SEED_SIZE], int64_t step, uint32_t slot,
                       uint8_t counter)
{
    uint8_t message[PAYCODE_MESSAGE_SIZE];
    paycode_message(step, slot, counter, message);
    uint8_t mac[CRYPTO_SHA256_SIZE];
    crypto_hmac_sha256(seed, PAYCODE_SEED_SIZE, message, sizeof message, mac);
    size_t offset = mac[sizeof mac - 1] & 0x0f;
    uint32_t bin = ((uint32_t)(mac[offset] & 0x7f) << 24) | ((uint32_t)mac[offset + 1] << 16) |
                   ((uint32_t)mac[offset + 2] << 8) | (uint32_t)mac[offset + 3];
    crypto_wipe(mac, sizeof mac);
    return bin % PAYCODE_TOKEN_MODULUS;
}

/* Writes value as width decimal digits, zero-padded. */
static void S_digits(uint32_t value, char *out, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (char)('0' + value % 10);
        value /= 10;
    }
    QB_ASSERT(value == 0);
}

void paycode_format(const uint8_t seed[PAYCODE_SEED_SIZE], int64_t step, uint32_t slot,
                    uint8_t counter, char out[PAYCODE_TEXT_SIZE])
{
    uint32_t token = paycode_token(seed, step, slot, counter);
    memcpy(out, PAYCODE_PREFIX, 2);
    S_digits(slot, out + 2, 7);
    out[9] = (char)('0' + counter);
    S_digits(token, out + 10, 7);
    int check = luhn_check_digit(out, 17);
    QB_ASSERT(check >= 0);
    out[17] = (char)('0' + check);
    out[18] = '\0';
    QB_ASSERT(out[0] == '1' && out[1] == '9');
}

static uint32_t S_value(const char *digits, int width)
{
    uint32_t value = 0;
    for (int i = 0; i < width; i++)
        value = value * 10 + (uint32_t)(digits[i] - '0');
    return value;
}

bool paycode_parse(const char *text, size_t size, struct paycode *out)
{
    if (text == NULL || size != PAYCODE_DIGITS || memcmp(text, PAYCODE_PREFIX, 2) != 0)
        return false;
    for (size_t i = 0; i < size; i++)
        if (text[i] < '0' || text[i] > '9')
            return false;
    if (!luhn_is_valid(text, PAYCODE_DIGITS))
        return false;
    out->slot = S_value(text + 2, 7);
    out->counter = (uint8_t)(text[9] - '0');
    out->token = S_value(text + 10, 7);
    QB_ASSERT(out->slot <= PAYCODE_SLOT_MAX && out->token < PAYCODE_TOKEN_MODULUS);
    return true;
}

bool paycode_verify(const uint8_t seed[PAYCODE_SEED_SIZE], const struct paycode *code,
                    int64_t now_step, int64_t *step)
{
    QB_ASSERT(code->slot <= PAYCODE_SLOT_MAX && code->counter <= PAYCODE_COUNTER_MAX);
    QB_ASSERT(now_step >= 1);
    uint32_t matched = 0;
    int64_t found = 0;
    for (int64_t s = now_step - 1; s <= now_step + 1; s++) {
        uint32_t diff = paycode_token(seed, s, code->slot, code->counter) ^ code->token;
        /* 1 when diff is 0, without a branch on the secret. */
        uint32_t hit = (uint32_t)(((uint64_t)diff - 1) >> 63);
        found = hit ? s : found;
        matched |= hit;
    }
    if (step != NULL)
        *step = found;
    return matched != 0;
}

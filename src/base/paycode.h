/*
 * paycode.h — Qianbao's 18-digit payment code (付款码): the pure codec.
 *
 * Owns: the layout of a code, the token function and the check digit, as
 * docs/paycode.md specifies them (that page is normative; this header
 * follows it). Nothing here touches storage or the clock: the daemon
 * (src/merchant/paycode.h) and the CLI (qianbao paycode) both build on it,
 * and a third party implementing the page must get the same digits.
 *
 *   digits  1-2   "19"                       the prefix
 *   digits  3-9   the device's slot          7 digits, 0000000..9999999
 *   digit  10     the counter                0..9, the code's index in its time step
 *   digits 11-17  the token                  7 digits
 *   digit  18     Luhn check digit over digits 1-17
 *
 * token = DT(HMAC-SHA-256(seed, "QBPC" 0x01 ‖ step u64be ‖ slot u32be ‖ counter u8)) mod 10^7,
 * step = floor(unix_ms / 60000), DT the dynamic truncation of RFC 4226
 * applied to the 32-byte MAC (offset = mac[31] & 0x0f).
 */
#ifndef QB_BASE_PAYCODE_H
#define QB_BASE_PAYCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PAYCODE_DIGITS 18
#define PAYCODE_TEXT_SIZE (PAYCODE_DIGITS + 1)
#define PAYCODE_PREFIX "19"
#define PAYCODE_SEED_SIZE 32
#define PAYCODE_STEP_MS INT64_C(60000)
#define PAYCODE_SLOT_MAX UINT32_C(9999999)
#define PAYCODE_COUNTER_MAX 9
#define PAYCODE_TOKEN_MODULUS UINT32_C(10000000)
#define PAYCODE_MESSAGE_SIZE 18 /* "QBPC" + version + step + slot + counter */

/* A code taken apart (after its prefix and check digit were verified). */
struct paycode {
    uint32_t slot;    /* 0..PAYCODE_SLOT_MAX */
    uint8_t counter;  /* 0..PAYCODE_COUNTER_MAX */
    uint32_t token;   /* 0..PAYCODE_TOKEN_MODULUS - 1 */
};

/* The time step of at_ms (>= 0): floor(at_ms / 60000). */
int64_t paycode_step(int64_t at_ms);

/* The HMAC input of (step, slot, counter), exactly PAYCODE_MESSAGE_SIZE bytes. */
void paycode_message(int64_t step, uint32_t slot, uint8_t counter,
                     uint8_t out[PAYCODE_MESSAGE_SIZE]);

/* The 7-digit token of seed at (step, slot, counter). */
uint32_t paycode_token(const uint8_t seed[PAYCODE_SEED_SIZE], int64_t step, uint32_t slot,
                       uint8_t counter);

/* Writes the code of seed for (step, slot, counter) into out, 18 digits and
 * a NUL. */
void paycode_format(const uint8_t seed[PAYCODE_SEED_SIZE], int64_t step, uint32_t slot,
                    uint8_t counter, char out[PAYCODE_TEXT_SIZE]);

/* Takes text (size bytes, not necessarily NUL-terminated) apart: true when
 * it is 18 ASCII digits beginning "19" whose last digit is the Luhn digit of
 * the others. Never reads past size. */
bool paycode_parse(const char *text, size_t size, struct paycode *out);

/* True when code's token is seed's for code's slot and counter in one of
 * the steps now_step - 1, now_step, now_step + 1; *step (not NULL) is the
 * step that matched. Every candidate is computed and compared in constant
 * time, so the answer's timing does not say which step matched. */
bool paycode_verify(const uint8_t seed[PAYCODE_SEED_SIZE], const struct paycode *code,
                    int64_t now_step, int64_t *step);

#endif

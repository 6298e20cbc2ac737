/*
 * money.h — amounts as integer minor units, currencies from one table.
 *
 * Owns: the ISO 4217 currency table (code, numeric code, exponent) and exact
 * conversion between decimal text and int64_t minor units ("12.34" CNY is
 * 1234 fen; JPY has no minor unit so "1234" is 1234 yen). No floating point
 * is used anywhere on this path, and all arithmetic is overflow-checked.
 *
 * Must never: round silently, accept an exponent ("1e3"), NaN or infinity,
 * more fraction digits than the currency has, or a value outside int64_t.
 */
#ifndef QB_BASE_MONEY_H
#define QB_BASE_MONEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"
#include "base/error.h"

struct currency {
    char code[4];      /* "CNY", NUL-terminated */
    uint16_t numeric;  /* ISO 4217 numeric code, 156 for CNY */
    uint8_t exponent;  /* digits after the decimal point: CNY 2, JPY 0 */
    uint8_t index;     /* position in the table; stable for the program's life */
};

#define CURRENCY_COUNT_MAX 64
/* Longest text money_format writes, with its NUL: "-9223372036854775808" plus
 * a decimal point. */
#define MONEY_TEXT_SIZE_MAX 32

/* The currency with this upper-case ISO code, or NULL when it is unknown. */
const struct currency *currency_find(const char *code);
/* The currency at this table index, or NULL past the end. */
const struct currency *currency_at(size_t index);
size_t currency_count(void);

/* Parses decimal text such as "12.34", "-0.05", "100" or "100." into minor
 * units of `cur`. Accepts an optional leading '-', digits, and at most one '.'
 * followed by at most cur->exponent digits. Refuses empty text, a '+' sign,
 * spaces, leading zeros other than a single "0" before the point,
 * exponents, "NaN"/"Inf", and values that do not fit int64_t.
 * Returns QB_OK, QB_E_BAD_AMOUNT (malformed or too precise) or QB_E_OVERFLOW. */
QB_MUST_USE enum qb_error money_parse(const char *text, size_t text_size,
                                      const struct currency *cur, int64_t *amount_minor);

/* Writes amount_minor as decimal text with exactly cur->exponent fraction
 * digits ("12.30", "-0.05", "1234" for JPY) into buf. Returns the length
 * written (excluding NUL); buf_size must be at least MONEY_TEXT_SIZE_MAX. */
size_t money_format(int64_t amount_minor, const struct currency *cur, char *buf, size_t buf_size);

/* Checked arithmetic: false (and *out untouched) on overflow. */
QB_MUST_USE bool money_add(int64_t a, int64_t b, int64_t *out);
QB_MUST_USE bool money_sub(int64_t a, int64_t b, int64_t *out);
QB_MUST_USE bool money_mul(int64_t a, int64_t b, int64_t *out);

/* amount * numerator / denominator rounded half up (away from zero for
 * negatives), for fees and rates: money_mul_ratio(1000, 6, 1000) is 6.
 * denominator must be positive. False on overflow. */
QB_MUST_USE bool money_mul_ratio(int64_t amount_minor, int64_t numerator, int64_t denominator,
                                 int64_t *out);

#endif

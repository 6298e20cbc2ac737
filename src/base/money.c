/*
 * money.c — the currency table and exact decimal <-> minor-unit conversion.
 *
 * Design: an amount is an int64_t count of the currency's minor unit; text is
 * only an interface format. Parsing validates the whole shape first and only
 * then computes the value, so malformed text is always QB_E_BAD_AMOUNT and
 * QB_E_OVERFLOW means "well formed but out of range". The value is
 * accumulated as an unsigned magnitude checked against the limit of its sign
 * (2^63 for negatives, 2^63 - 1 otherwise), which is how INT64_MIN parses
 * without ever forming -INT64_MIN. Formatting works on the same unsigned
 * magnitude. No floating point is used in this file.
 *
 * To add a currency: 1) append one X line to CURRENCY_TABLE (appending keeps
 * every existing index stable); 2) the exponent must be at most
 * CURRENCY_EXPONENT_MAX; 3) test_money.c checks the table's shape.
 */
#include "base/money.h"

#include <string.h>

/* code, ISO 4217 numeric, exponent */
#define CURRENCY_TABLE(X) \
    X(CNY, 156, 2)        \
    X(USD, 840, 2)        \
    X(HKD, 344, 2)        \
    X(EUR, 978, 2)        \
    X(GBP, 826, 2)        \
    X(JPY, 392, 0)        \
    X(KRW, 410, 0)        \
    X(SGD, 702, 2)        \
    X(TWD, 901, 2)        \
    X(MOP, 446, 2)        \
    X(AUD, 36, 2)         \
    X(CAD, 124, 2)        \
    X(CHF, 756, 2)        \
    X(THB, 764, 2)

/* Four fraction digits is more than any ISO 4217 currency has; the bound
 * keeps money_format's output within MONEY_TEXT_SIZE_MAX. */
#define CURRENCY_EXPONENT_MAX 4

enum currency_index {
#define X(code, numeric, exponent) CURRENCY_INDEX_##code,
    CURRENCY_TABLE(X)
#undef X
        CURRENCY_INDEX_COUNT
};

static const struct currency currencies[] = {
#define X(code, numeric, exponent) {#code, numeric, exponent, CURRENCY_INDEX_##code},
    CURRENCY_TABLE(X)
#undef X
};

_Static_assert(CURRENCY_INDEX_COUNT <= CURRENCY_COUNT_MAX, "currency table is too long");
_Static_assert(QB_ARRAY_COUNT(currencies) == CURRENCY_INDEX_COUNT, "one row per currency");
#define X(code, numeric, exponent)                                                    \
    _Static_assert((exponent) <= CURRENCY_EXPONENT_MAX, #code " exponent too large"); \
    _Static_assert(sizeof #code == 4, #code " is not a three-letter code");
CURRENCY_TABLE(X)
#undef X

/* "-9223372036854775808" is 20 characters; a point and the NUL make 22. */
_Static_assert(MONEY_TEXT_SIZE_MAX >= 22, "MONEY_TEXT_SIZE_MAX too small");

const struct currency *currency_find(const char *code)
{
    if (code == NULL)
        return NULL;
    for (size_t i = 0; i < QB_ARRAY_COUNT(currencies); i++) {
        if (strcmp(currencies[i].code, code) == 0)
            return &currencies[i];
    }
    return NULL;
}

const struct currency *currency_at(size_t index)
{
    if (index >= QB_ARRAY_COUNT(currencies))
        return NULL;
    QB_ASSERT(currencies[index].index == index);
    return &currencies[index];
}

size_t currency_count(void) { return QB_ARRAY_COUNT(currencies); }

static bool money_is_digit(char c) { return c >= '0' && c <= '9'; }

/* Appends one decimal digit to *magnitude; false when the result would pass
 * limit. */
static bool money_push_digit(uint64_t *magnitude, unsigned int digit, uint64_t limit)
{
    QB_ASSERT(digit <= 9);
    if (*magnitude > (limit - digit) / 10)
        return false;
    *magnitude = *magnitude * 10 + digit;
    return true;
}

enum qb_error money_parse(const char *text, size_t text_size, const struct currency *cur,
                          int64_t *amount_minor)
{
    QB_ASSERT(cur != NULL && cur->exponent <= CURRENCY_EXPONENT_MAX);
    QB_ASSERT(amount_minor != NULL);
    QB_ASSERT(text != NULL || text_size == 0);

    /* Step 1: the shape. [-] integer-digits [ . fraction-digits ] */
    size_t pos = 0;
    bool negative = false;
    if (pos < text_size && text[pos] == '-') {
        negative = true;
        pos++;
    }
    size_t int_begin = pos;
    while (pos < text_size && money_is_digit(text[pos]))
        pos++;
    size_t int_end = pos;
    if (int_end == int_begin)
        return QB_E_BAD_AMOUNT; /* "", "-", ".5", "+1", " 1", "NaN" */
    if (text[int_begin] == '0' && int_end - int_begin > 1)
        return QB_E_BAD_AMOUNT; /* "007", "00.5" */
    size_t frac_begin = pos;
    size_t frac_end = pos;
    if (pos < text_size && text[pos] == '.') {
        pos++;
        frac_begin = pos;
        while (pos < text_size && money_is_digit(text[pos]))
            pos++;
        frac_end = pos;
    }
    if (pos != text_size)
        return QB_E_BAD_AMOUNT; /* "1e3", "1 ", "1.2.3", an embedded NUL */
    if (frac_end - frac_begin > cur->exponent)
        return QB_E_BAD_AMOUNT; /* "1.234" CNY: never rounded silently */

    /* Step 2: the value, as a magnitude bounded by the sign's limit. */
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t magnitude = 0;
    for (size_t i = int_begin; i < int_end; i++) {
        if (!money_push_digit(&magnitude, (unsigned int)(text[i] - '0'), limit))
            return QB_E_OVERFLOW;
    }
    for (size_t i = 0; i < cur->exponent; i++) {
        size_t at = frac_begin + i;
        unsigned int digit = at < frac_end ? (unsigned int)(text[at] - '0') : 0;
        if (!money_push_digit(&magnitude, digit, limit))
            return QB_E_OVERFLOW;
    }

    QB_ASSERT(magnitude <= limit);
    if (negative)
        *amount_minor = magnitude == 0 ? 0 : -(int64_t)(magnitude - 1) - 1;
    else
        *amount_minor = (int64_t)magnitude;
    return QB_OK;
}

size_t money_format(int64_t amount_minor, const struct currency *cur, char *buf, size_t buf_size)
{
    QB_ASSERT(cur != NULL && cur->exponent <= CURRENCY_EXPONENT_MAX);
    QB_ASSERT(buf != NULL && buf_size >= MONEY_TEXT_SIZE_MAX);

    /* Digits are produced least significant first into the end of digits[]. */
    uint64_t magnitude =
        amount_minor < 0 ? (uint64_t)0 - (uint64_t)amount_minor : (uint64_t)amount_minor;
    char digits[24];
    size_t digit_count = 0;
    do {
        digits[sizeof digits - 1 - digit_count] = (char)('0' + magnitude % 10);
        magnitude /= 10;
        digit_count++;
    } while (magnitude != 0);
    /* At least one integer digit: 5 fen is "0.05", not ".05". */
    while (digit_count < (size_t)cur->exponent + 1) {
        digits[sizeof digits - 1 - digit_count] = '0';
        digit_count++;
    }
    const char *first = &digits[sizeof digits - digit_count];
    size_t int_count = digit_count - cur->exponent;

    size_t len = 0;
    if (amount_minor < 0)
        buf[len++] = '-';
    memcpy(buf + len, first, int_count);
    len += int_count;
    if (cur->exponent > 0) {
        buf[len++] = '.';
        memcpy(buf + len, first + int_count, cur->exponent);
        len += cur->exponent;
    }
    QB_ASSERT(len < buf_size);
    buf[len] = '\0';
    return len;
}

bool money_add(int64_t a, int64_t b, int64_t *out)
{
    int64_t result;
    if (__builtin_add_overflow(a, b, &result))
        return false;
    *out = result;
    return true;
}

bool money_sub(int64_t a, int64_t b, int64_t *out)
{
    int64_t result;
    if (__builtin_sub_overflow(a, b, &result))
        return false;
    *out = result;
    return true;
}

bool money_mul(int64_t a, int64_t b, int64_t *out)
{
    int64_t result;
    if (__builtin_mul_overflow(a, b, &result))
        return false;
    *out = result;
    return true;
}

/* The product of two int64_t always fits 128 bits, so the only overflow left
 * to check is the final quotient's. __extension__ keeps -Wpedantic quiet about
 * a type every compiler we support has on 64-bit targets. */
__extension__ typedef __int128 money_wide;

bool money_mul_ratio(int64_t amount_minor, int64_t numerator, int64_t denominator, int64_t *out)
{
    QB_ASSERT(denominator > 0);
    QB_ASSERT(out != NULL);

    money_wide product = (money_wide)amount_minor * numerator;
    money_wide quotient = product / denominator; /* truncates toward zero */
    money_wide remainder = product % denominator; /* same sign as product */
    money_wide remainder_abs = remainder < 0 ? -remainder : remainder;
    /* Half or more of the denominator rounds away from zero. */
    if (remainder_abs * 2 >= denominator)
        quotient += product < 0 ? -1 : 1;
    if (quotient > INT64_MAX || quotient < INT64_MIN)
        return false;
    *out = (int64_t)quotient;
    return true;
}

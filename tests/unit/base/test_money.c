/*
 * test_money.c — the currency table and exact decimal conversion.
 *
 * Money text is where a wallet meets the outside world, so the parser is
 * tested edge by edge (every exponent, both int64_t limits and one past
 * them, every malformed shape we know of) and then by a seeded round trip
 * over hundreds of thousands of values.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/money.h"
#include "test.h"

static uint64_t seed;

static const struct currency *cur(const char *code)
{
    const struct currency *c = currency_find(code);
    if (c == NULL) {
        fprintf(stderr, "no currency %s\n", code);
        abort();
    }
    return c;
}

static enum qb_error parse(const char *text, const char *code, int64_t *out)
{
    return money_parse(text, strlen(text), cur(code), out);
}

static const char *format(int64_t v, const char *code, char *buf)
{
    size_t len = money_format(v, cur(code), buf, MONEY_TEXT_SIZE_MAX);
    if (len != strlen(buf)) {
        fprintf(stderr, "money_format returned %zu for \"%s\"\n", len, buf);
        abort();
    }
    return buf;
}

/* splitmix64: an independent generator, so the sample does not depend on
 * the rand module under test elsewhere. */
static uint64_t next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

TEST(table_has_every_required_currency)
{
    // The brief's currencies with their ISO numeric codes and exponents: a
    // wrong exponent would misplace the decimal point of every amount.
    static const struct {
        const char *code;
        int numeric;
        int exponent;
    } want[] = {{"CNY", 156, 2}, {"USD", 840, 2}, {"HKD", 344, 2}, {"EUR", 978, 2},
                {"GBP", 826, 2}, {"JPY", 392, 0}, {"KRW", 410, 0}, {"SGD", 702, 2},
                {"TWD", 901, 2}, {"MOP", 446, 2}, {"AUD", 36, 2},  {"CAD", 124, 2},
                {"CHF", 756, 2}, {"THB", 764, 2}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const struct currency *c = currency_find(want[i].code);
        ASSERT(c != NULL);
        ASSERT_EQ_STR(c->code, want[i].code);
        ASSERT_EQ_INT(c->numeric, want[i].numeric);
        ASSERT_EQ_INT(c->exponent, want[i].exponent);
    }
}

TEST(table_is_well_formed)
{
    // Indexes match positions and codes and numerics are unique, because
    // other modules key arrays by index and store codes.
    size_t count = currency_count();
    ASSERT(count >= 14 && count <= CURRENCY_COUNT_MAX);
    for (size_t i = 0; i < count; i++) {
        const struct currency *c = currency_at(i);
        ASSERT(c != NULL);
        ASSERT_EQ_INT(c->index, i);
        ASSERT_EQ_INT(strlen(c->code), 3);
        for (int k = 0; k < 3; k++)
            ASSERT(c->code[k] >= 'A' && c->code[k] <= 'Z');
        ASSERT(c->exponent <= 4);
        ASSERT(currency_find(c->code) == c);
        for (size_t j = 0; j < i; j++) {
            ASSERT(strcmp(currency_at(j)->code, c->code) != 0);
            ASSERT_NE_INT(currency_at(j)->numeric, c->numeric);
        }
    }
    ASSERT(currency_at(count) == NULL);
    ASSERT(currency_at((size_t)-1) == NULL);
}

TEST(find_refuses_unknown_and_miscased_codes)
{
    // Currency codes are matched exactly; "cny" or "CNY " from a client must
    // not quietly select a currency.
    ASSERT(currency_find(NULL) == NULL);
    ASSERT(currency_find("") == NULL);
    ASSERT(currency_find("cny") == NULL);
    ASSERT(currency_find("Cny") == NULL);
    ASSERT(currency_find("CN") == NULL);
    ASSERT(currency_find("CNYX") == NULL);
    ASSERT(currency_find("CNY ") == NULL);
    ASSERT(currency_find("XXX") == NULL);
    ASSERT(currency_find("BTC") == NULL);
}

TEST(parse_every_exponent)
{
    // For each currency: whole units scale by 10^exponent, exactly exponent
    // fraction digits parse, one more digit is refused (never rounded).
    for (size_t i = 0; i < currency_count(); i++) {
        const struct currency *c = currency_at(i);
        int64_t unit = 1;
        for (int k = 0; k < c->exponent; k++)
            unit *= 10;
        int64_t v = -1;
        ASSERT_EQ_INT(money_parse("0", 1, c, &v), QB_OK);
        ASSERT_EQ_INT(v, 0);
        ASSERT_EQ_INT(money_parse("7", 1, c, &v), QB_OK);
        ASSERT_EQ_INT(v, 7 * unit);
        ASSERT_EQ_INT(money_parse("-7", 2, c, &v), QB_OK);
        ASSERT_EQ_INT(v, -7 * unit);
        ASSERT_EQ_INT(money_parse("7.", 2, c, &v), QB_OK);
        ASSERT_EQ_INT(v, 7 * unit);

        /* "3." followed by exponent nines, then one digit too many. */
        char text[16] = "3.";
        for (int k = 0; k < c->exponent; k++)
            text[2 + k] = '9';
        size_t len = 2 + (size_t)c->exponent;
        ASSERT_EQ_INT(money_parse(text, len, c, &v), QB_OK);
        ASSERT_EQ_INT(v, 4 * unit - 1);
        text[len] = '0';
        ASSERT_EQ_INT(money_parse(text, len + 1, c, &v), QB_E_BAD_AMOUNT);
        ASSERT_EQ_INT(v, 4 * unit - 1); /* untouched on failure */
    }
}

TEST(parse_common_amounts)
{
    // The shapes clients actually send, with their exact minor units.
    static const struct {
        const char *text;
        const char *code;
        int64_t want;
    } cases[] = {
        {"12.34", "CNY", 1234}, {"12.3", "CNY", 1230},   {"12", "CNY", 1200},
        {"100.", "CNY", 10000}, {"0.05", "CNY", 5},      {"-0.05", "CNY", -5},
        {"0.5", "USD", 50},     {"1234", "JPY", 1234},   {"1234.", "JPY", 1234},
        {"-1", "KRW", -1},      {"0", "JPY", 0},         {"-0", "CNY", 0},
        {"-0.00", "CNY", 0},    {"-0.", "EUR", 0},       {"10", "GBP", 1000},
        {"999999.99", "HKD", 99999999},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t v = 424242;
        enum qb_error err = parse(cases[i].text, cases[i].code, &v);
        if (err != QB_OK || v != cases[i].want)
            TEST_FAIL_("\"%s\" %s: err %d value %" PRId64 ", want %" PRId64, cases[i].text,
                       cases[i].code, (int)err, v, cases[i].want);
    }
}

TEST(parse_refuses_malformed_text)
{
    // Everything that is not [-]digits[.digits] is QB_E_BAD_AMOUNT, including
    // the spellings strtod would accept (exponents, NaN, Inf, '+', spaces).
    static const char *const bad[] = {
        "",      "-",     ".",      ".5",    "-.5",    "+1",    "+0",    " 1",   "1 ",
        "\t1",   "1\n",   "1e3",    "1E3",   "1e-2",   "1.5e1", "NaN",   "nan",  "-NaN",
        "Inf",   "-Inf",  "inf",    "infinity", "00",  "01",    "007",   "00.5", "-00",
        "-01.5", "1.2.3", "1..2",   "1,000", "1_000",  "0x10",  "--1",   "-+1",  "1-",
        "1.-2",  "1. 5",  "１",     "1.2 ",  "$1",     "1¥",    "- 1",   "0.0.", "abc",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = 424242;
        enum qb_error err = parse(bad[i], "CNY", &v);
        if (err != QB_E_BAD_AMOUNT || v != 424242)
            TEST_FAIL_("\"%s\": err %d value %" PRId64 ", want QB_E_BAD_AMOUNT and untouched",
                       bad[i], (int)err, v);
    }
}

TEST(parse_refuses_too_many_fraction_digits)
{
    // A fee of "1.234" CNY cannot be represented in fen; refusing it is the
    // only answer that does not invent or lose money.
    int64_t v = 0;
    ASSERT_EQ_INT(parse("1.234", "CNY", &v), QB_E_BAD_AMOUNT);
    ASSERT_EQ_INT(parse("1.230", "CNY", &v), QB_E_BAD_AMOUNT);
    ASSERT_EQ_INT(parse("0.001", "USD", &v), QB_E_BAD_AMOUNT);
    ASSERT_EQ_INT(parse("1.0", "JPY", &v), QB_E_BAD_AMOUNT);
    ASSERT_EQ_INT(parse("1.5", "KRW", &v), QB_E_BAD_AMOUNT);
    ASSERT_EQ_INT(parse("-0.000", "EUR", &v), QB_E_BAD_AMOUNT);
    ASSERT_EQ_INT(v, 0);
}

TEST(parse_respects_text_size)
{
    // The text is a (pointer, size) pair, not a C string: bytes past the size
    // are not read, and an embedded NUL is malformed.
    const struct currency *cny = cur("CNY");
    int64_t v = 0;
    ASSERT_EQ_INT(money_parse("12.345", 4, cny, &v), QB_OK);
    ASSERT_EQ_INT(v, 1230);
    ASSERT_EQ_INT(money_parse("1\0", 2, cny, &v), QB_E_BAD_AMOUNT);
    ASSERT_EQ_INT(money_parse("1.\0", 3, cny, &v), QB_E_BAD_AMOUNT);
    ASSERT_EQ_INT(money_parse(NULL, 0, cny, &v), QB_E_BAD_AMOUNT);
    ASSERT_EQ_INT(v, 1230);
}

TEST(parse_int64_limits_exponent_2)
{
    // Both limits parse exactly and one minor unit past either overflows;
    // INT64_MIN is the case that breaks parsers negating at the end.
    int64_t v = 0;
    ASSERT_EQ_INT(parse("92233720368547758.07", "CNY", &v), QB_OK);
    ASSERT_EQ_INT(v, INT64_MAX);
    ASSERT_EQ_INT(parse("-92233720368547758.08", "CNY", &v), QB_OK);
    ASSERT_EQ_INT(v, INT64_MIN);
    ASSERT_EQ_INT(parse("-92233720368547758.07", "CNY", &v), QB_OK);
    ASSERT_EQ_INT(v, INT64_MIN + 1);
    v = 7;
    ASSERT_EQ_INT(parse("92233720368547758.08", "CNY", &v), QB_E_OVERFLOW);
    ASSERT_EQ_INT(parse("-92233720368547758.09", "CNY", &v), QB_E_OVERFLOW);
    ASSERT_EQ_INT(parse("92233720368547759", "CNY", &v), QB_E_OVERFLOW);
    ASSERT_EQ_INT(parse("92233720368547758.1", "CNY", &v), QB_E_OVERFLOW);
    ASSERT_EQ_INT(parse("100000000000000000", "CNY", &v), QB_E_OVERFLOW);
    ASSERT_EQ_INT(parse("99999999999999999999999999999999999999", "CNY", &v), QB_E_OVERFLOW);
    ASSERT_EQ_INT(parse("-99999999999999999999999999999999999999", "CNY", &v), QB_E_OVERFLOW);
    ASSERT_EQ_INT(v, 7);
    /* Shape is checked before range: a malformed huge number is malformed. */
    ASSERT_EQ_INT(parse("99999999999999999999999x", "CNY", &v), QB_E_BAD_AMOUNT);
    ASSERT_EQ_INT(parse("99999999999999999999.999", "CNY", &v), QB_E_BAD_AMOUNT);
}

TEST(parse_int64_limits_exponent_0)
{
    // The same limits for a currency without minor units, where the text is
    // the raw int64_t.
    int64_t v = 0;
    ASSERT_EQ_INT(parse("9223372036854775807", "JPY", &v), QB_OK);
    ASSERT_EQ_INT(v, INT64_MAX);
    ASSERT_EQ_INT(parse("-9223372036854775808", "JPY", &v), QB_OK);
    ASSERT_EQ_INT(v, INT64_MIN);
    ASSERT_EQ_INT(parse("9223372036854775808", "JPY", &v), QB_E_OVERFLOW);
    ASSERT_EQ_INT(parse("-9223372036854775809", "KRW", &v), QB_E_OVERFLOW);
    ASSERT_EQ_INT(parse("18446744073709551616", "KRW", &v), QB_E_OVERFLOW);
    ASSERT_EQ_INT(parse("18446744073709551615", "KRW", &v), QB_E_OVERFLOW);
    ASSERT_EQ_INT(v, INT64_MIN);
}

TEST(format_known_values)
{
    // Exactly exponent fraction digits, a leading "0" below one unit, and the
    // sign on the whole amount, including both int64_t limits.
    char buf[MONEY_TEXT_SIZE_MAX];
    ASSERT_EQ_STR(format(0, "CNY", buf), "0.00");
    ASSERT_EQ_STR(format(5, "CNY", buf), "0.05");
    ASSERT_EQ_STR(format(-5, "CNY", buf), "-0.05");
    ASSERT_EQ_STR(format(50, "CNY", buf), "0.50");
    ASSERT_EQ_STR(format(-100, "CNY", buf), "-1.00");
    ASSERT_EQ_STR(format(1230, "CNY", buf), "12.30");
    ASSERT_EQ_STR(format(1234, "USD", buf), "12.34");
    ASSERT_EQ_STR(format(1234, "JPY", buf), "1234");
    ASSERT_EQ_STR(format(0, "JPY", buf), "0");
    ASSERT_EQ_STR(format(-1, "KRW", buf), "-1");
    ASSERT_EQ_STR(format(INT64_MAX, "CNY", buf), "92233720368547758.07");
    ASSERT_EQ_STR(format(INT64_MIN, "CNY", buf), "-92233720368547758.08");
    ASSERT_EQ_STR(format(INT64_MIN + 1, "CNY", buf), "-92233720368547758.07");
    ASSERT_EQ_STR(format(INT64_MAX, "JPY", buf), "9223372036854775807");
    ASSERT_EQ_STR(format(INT64_MIN, "JPY", buf), "-9223372036854775808");
}

/* Formats v, parses it back, and checks the value and that formatting the
 * parsed value gives the same text. */
static void round_trip(int64_t v, const struct currency *c)
{
    char text[MONEY_TEXT_SIZE_MAX];
    char again[MONEY_TEXT_SIZE_MAX];
    size_t len = money_format(v, c, text, sizeof text);
    if (len != strlen(text))
        TEST_FAIL_("%s %" PRId64 ": length %zu for \"%s\"", c->code, v, len, text);
    int64_t back = 0;
    enum qb_error err = money_parse(text, len, c, &back);
    if (err != QB_OK || back != v)
        TEST_FAIL_("%s %" PRId64 " -> \"%s\" -> err %d value %" PRId64, c->code, v, text,
                   (int)err, back);
    money_format(back, c, again, sizeof again);
    if (strcmp(text, again) != 0)
        TEST_FAIL_("%s \"%s\" formats again as \"%s\"", c->code, text, again);
}

TEST(round_trip_boundaries)
{
    // The limits, their neighbours, zero, and every power of ten and its
    // neighbours, in every currency: where digit and sign handling breaks.
    int64_t values[256];
    size_t count = 0;
    values[count++] = 0;
    values[count++] = INT64_MAX;
    values[count++] = INT64_MAX - 1;
    values[count++] = INT64_MIN;
    values[count++] = INT64_MIN + 1;
    for (int64_t p = 1; count + 6 <= sizeof values / sizeof values[0]; p *= 10) {
        values[count++] = p;
        values[count++] = p - 1;
        values[count++] = p + 1;
        values[count++] = -p;
        values[count++] = -p + 1;
        values[count++] = -p - 1;
        if (p > INT64_MAX / 10)
            break;
    }
    for (size_t i = 0; i < currency_count(); i++) {
        for (size_t k = 0; k < count; k++)
            round_trip(values[k], currency_at(i));
    }
}

TEST(round_trip_seeded_sample)
{
    // 300,000 seeded values spread over every magnitude (random bits shifted
    // right by a random amount) survive format then parse in every exponent.
    uint64_t state = seed;
    for (int i = 0; i < 300000; i++) {
        uint64_t bits = next(&state);
        unsigned int shift = (unsigned int)(next(&state) % 64);
        int64_t v = (int64_t)((bits >> shift) & (uint64_t)INT64_MAX);
        if ((next(&state) & 1) != 0)
            v = -v - (int64_t)(bits & 1); /* reaches INT64_MIN too */
        round_trip(v, currency_at((size_t)i % currency_count()));
    }
}

TEST(parse_canonical_text_round_trips)
{
    // Text built digit by digit from the sample parses to the value it spells,
    // checked against arithmetic done independently here.
    uint64_t state = seed ^ 0x5555;
    const struct currency *cny = cur("CNY");
    for (int i = 0; i < 100000; i++) {
        int64_t units = (int64_t)(next(&state) % 1000000000000ull);
        int64_t fen = (int64_t)(next(&state) % 100);
        bool negative = (next(&state) & 1) != 0;
        char text[64];
        int n = snprintf(text, sizeof text, "%s%" PRId64 ".%02" PRId64, negative ? "-" : "",
                         units, fen);
        int64_t want = (units * 100 + fen) * (negative ? -1 : 1);
        int64_t got = 0;
        ASSERT_EQ_INT(money_parse(text, (size_t)n, cny, &got), QB_OK);
        ASSERT_EQ_INT(got, want);
    }
}

TEST(add_sub_mul_check_overflow)
{
    // Checked arithmetic answers false at exactly the int64_t limits and
    // leaves *out untouched, so a caller cannot use a wrapped amount.
    int64_t out = 0;
    ASSERT(money_add(2, 3, &out));
    ASSERT_EQ_INT(out, 5);
    ASSERT(money_add(INT64_MAX - 1, 1, &out));
    ASSERT_EQ_INT(out, INT64_MAX);
    out = 99;
    ASSERT(!money_add(INT64_MAX, 1, &out));
    ASSERT(!money_add(INT64_MIN, -1, &out));
    ASSERT_EQ_INT(out, 99);
    ASSERT(money_add(INT64_MIN, INT64_MAX, &out));
    ASSERT_EQ_INT(out, -1);

    ASSERT(money_sub(5, 3, &out));
    ASSERT_EQ_INT(out, 2);
    ASSERT(money_sub(INT64_MIN + 1, 1, &out));
    ASSERT_EQ_INT(out, INT64_MIN);
    out = 99;
    ASSERT(!money_sub(INT64_MIN, 1, &out));
    ASSERT(!money_sub(0, INT64_MIN, &out));
    ASSERT(!money_sub(INT64_MAX, -1, &out));
    ASSERT_EQ_INT(out, 99);
    ASSERT(money_sub(-1, INT64_MIN, &out));
    ASSERT_EQ_INT(out, INT64_MAX);

    ASSERT(money_mul(-4, 5, &out));
    ASSERT_EQ_INT(out, -20);
    ASSERT(money_mul(INT64_MIN, 1, &out));
    ASSERT_EQ_INT(out, INT64_MIN);
    out = 99;
    ASSERT(!money_mul(INT64_MIN, -1, &out));
    ASSERT(!money_mul(INT64_MAX, 2, &out));
    ASSERT(!money_mul(3037000500, 3037000500, &out));
    ASSERT_EQ_INT(out, 99);
    ASSERT(money_mul(3037000499, 3037000499, &out));
    ASSERT_EQ_INT(out, 9223372030926249001);
}

TEST(mul_ratio_rounds_half_away_from_zero)
{
    // Fees round half up in magnitude, symmetric for refunds (negative
    // amounts): 0.5 fen becomes 1 fen, -0.5 fen becomes -1 fen.
    static const struct {
        int64_t amount, numerator, denominator, want;
    } cases[] = {
        {1000, 6, 1000, 6}, {5, 1, 10, 1},     {-5, 1, 10, -1},   {4, 1, 10, 0},
        {-4, 1, 10, 0},     {15, 1, 10, 2},    {-15, 1, 10, -2},  {25, 1, 10, 3},
        {14, 1, 10, 1},     {-14, 1, 10, -1},  {1, 1, 2, 1},      {-1, 1, 2, -1},
        {1, 1, 3, 0},       {2, 1, 3, 1},      {-2, 1, 3, -1},    {5, -1, 10, -1},
        {0, 7, 3, 0},       {12345, 0, 7, 0},  {999, 6, 1000, 6}, {1, 6, 1000, 0},
        {84, 6, 1000, 1},   {83, 6, 1000, 0},  {7, 3, 1, 21},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t out = 424242;
        bool ok = money_mul_ratio(cases[i].amount, cases[i].numerator, cases[i].denominator,
                                  &out);
        if (!ok || out != cases[i].want)
            TEST_FAIL_("%" PRId64 " * %" PRId64 " / %" PRId64 ": ok %d out %" PRId64
                       ", want %" PRId64,
                       cases[i].amount, cases[i].numerator, cases[i].denominator, (int)ok, out,
                       cases[i].want);
    }
}

TEST(mul_ratio_uses_wide_intermediate)
{
    // The product may exceed int64_t while the quotient fits; only a quotient
    // out of range is an overflow, and then *out is untouched.
    int64_t out = 0;
    ASSERT(money_mul_ratio(INT64_MAX, INT64_MAX, INT64_MAX, &out));
    ASSERT_EQ_INT(out, INT64_MAX);
    ASSERT(money_mul_ratio(INT64_MIN, INT64_MAX, INT64_MAX, &out));
    ASSERT_EQ_INT(out, INT64_MIN);
    ASSERT(money_mul_ratio(INT64_MAX, 3, 4, &out));
    ASSERT_EQ_INT(out, 6917529027641081855); /* 6917529027641081855.25 */
    ASSERT(money_mul_ratio(INT64_MIN, 1, 1, &out));
    ASSERT_EQ_INT(out, INT64_MIN);
    out = 99;
    ASSERT(!money_mul_ratio(INT64_MIN, -1, 1, &out));
    ASSERT(!money_mul_ratio(INT64_MAX, 2, 1, &out));
    ASSERT(!money_mul_ratio(INT64_MAX, INT64_MAX, 2, &out));
    ASSERT_EQ_INT(out, 99);
}

TEST(mul_ratio_property_on_seeded_sample)
{
    // For 200,000 seeded triples the result r is the nearest integer to
    // a*n/d (2|a*n - r*d| <= d) and ties go away from zero, checked with
    // int64_t arithmetic that cannot overflow at these magnitudes.
    uint64_t state = seed ^ 0xabcdef;
    for (int i = 0; i < 200000; i++) {
        int64_t a = (int64_t)(next(&state) % 2000001) - 1000000;
        int64_t n = (int64_t)(next(&state) % 2001) - 1000;
        int64_t d = (int64_t)(next(&state) % 1000) + 1;
        if (i % 4 == 0)
            d = 2 * ((d + 1) / 2); /* even denominators produce exact ties */
        int64_t r = 0;
        ASSERT(money_mul_ratio(a, n, d, &r));
        int64_t product = a * n;
        int64_t error = product - r * d;
        int64_t error_abs = error < 0 ? -error : error;
        if (2 * error_abs > d)
            TEST_FAIL_("%" PRId64 "*%" PRId64 "/%" PRId64 " = %" PRId64 " is not nearest", a,
                       n, d, r);
        if (2 * error_abs == d && (r * d < 0 ? -(r * d) : r * d) <= (product < 0 ? -product
                                                                                 : product))
            TEST_FAIL_("%" PRId64 "*%" PRId64 "/%" PRId64 " = %" PRId64
                       " tie not away from zero",
                       a, n, d, r);
    }
}

TEST(mul_ratio_asserts_positive_denominator)
{
    // A zero or negative denominator is a programmer error and must stop the
    // program loudly, not return a made-up fee.
    for (int64_t d = -1; d <= 0; d++) {
        pid_t pid = fork();
        ASSERT(pid >= 0);
        if (pid == 0) {
            int64_t out;
            close(STDERR_FILENO); /* the expected assertion report is noise */
            if (money_mul_ratio(10, 1, d, &out))
                _exit(0);
            _exit(1);
        }
        int status = 0;
        ASSERT_EQ_INT(waitpid(pid, &status, 0), pid);
        ASSERT(WIFSIGNALED(status));
    }
}

TEST(money_source_has_no_floating_point)
{
    // "No floating point near money" is a house rule; this reads money.c and
    // fails on any float or double identifier, float conversion or <math.h>.
    char path[4096];
    const char *root = getenv("QB_SOURCE_DIR");
    if (root != NULL && root[0] != '\0') {
        snprintf(path, sizeof path, "%s/src/base/money.c", root);
    } else {
        const char *slash = strrchr(__FILE__, '/');
        int dir_len = slash == NULL ? 1 : (int)(slash - __FILE__);
        snprintf(path, sizeof path, "%.*s/../../../src/base/money.c", dir_len,
                 slash == NULL ? "." : __FILE__);
    }
    FILE *f = fopen(path, "r");
    if (f == NULL)
        TEST_FAIL_("cannot open %s", path);
    static char text[65536];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    ASSERT(n > 1000);
    static const char *const banned_words[] = {"float",  "double", "strtod", "strtof",
                                               "strtold", "atof",  "fabs",   "round",
                                               "lround", "llround"};
    for (char *p = text; *p != '\0';) {
        bool word_char = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_';
        if (!word_char) {
            p++;
            continue;
        }
        char *begin = p;
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
               (*p >= '0' && *p <= '9'))
            p++;
        size_t len = (size_t)(p - begin);
        for (size_t i = 0; i < sizeof banned_words / sizeof banned_words[0]; i++) {
            if (strlen(banned_words[i]) == len && memcmp(begin, banned_words[i], len) == 0)
                TEST_FAIL_("money.c uses \"%s\"", banned_words[i]);
        }
    }
    ASSERT(strstr(text, "<math.h>") == NULL);
    ASSERT(strstr(text, "%f") == NULL && strstr(text, "%g") == NULL);
}

int main(void)
{
    seed = test_seed();
    RUN(table_has_every_required_currency);
    RUN(table_is_well_formed);
    RUN(find_refuses_unknown_and_miscased_codes);
    RUN(parse_every_exponent);
    RUN(parse_common_amounts);
    RUN(parse_refuses_malformed_text);
    RUN(parse_refuses_too_many_fraction_digits);
    RUN(parse_respects_text_size);
    RUN(parse_int64_limits_exponent_2);
    RUN(parse_int64_limits_exponent_0);
    RUN(format_known_values);
    RUN(round_trip_boundaries);
    RUN(round_trip_seeded_sample);
    RUN(parse_canonical_text_round_trips);
    RUN(add_sub_mul_check_overflow);
    RUN(mul_ratio_rounds_half_away_from_zero);
    RUN(mul_ratio_uses_wide_intermediate);
    RUN(mul_ratio_property_on_seeded_sample);
    RUN(mul_ratio_asserts_positive_denominator);
    RUN(money_source_has_no_floating_point);
    return test_summary();
}

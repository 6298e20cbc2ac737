/*
 * test_luhn.c — the one Luhn check digit (base/luhn.h) that card numbers and
 * payment codes end in.
 */
#include <string.h>

#include "base/assert.h"
#include "base/luhn.h"
#include "test.h"

TEST(luhn_accepts_valid_numbers_and_refuses_one_digit_off)
{
    // The Luhn check catches every single-digit typo; a wrong digit anywhere must fail it.
    const char *valid[] = {"79927398713", "4111111111111111", "6222020000000000018",
                           "9999000000000012"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(valid); i++) {
        ASSERT(luhn_is_valid(valid[i], strlen(valid[i])));
        char copy[32];
        size_t size = strlen(valid[i]);
        for (size_t pos = 0; pos < size; pos++) {
            memcpy(copy, valid[i], size + 1);
            copy[pos] = (char)('0' + (copy[pos] - '0' + 1) % 10);
            ASSERT(!luhn_is_valid(copy, size));
        }
    }
    ASSERT(!luhn_is_valid("", 0));
    ASSERT(!luhn_is_valid("0", 1));
    ASSERT(!luhn_is_valid("4111-1111", 9));
    ASSERT(!luhn_is_valid("79927398713 ", 12));
}

TEST(luhn_check_digit_completes_a_body)
{
    // Tests and tools build card numbers from a BIN; the digit computed must make them valid.
    ASSERT_EQ_INT(luhn_check_digit("7992739871", 10), 3);
    ASSERT_EQ_INT(luhn_check_digit("999900000000001", 15), 2);
    ASSERT_EQ_INT(luhn_check_digit("622202000000000001", 18), 8);
    ASSERT_EQ_INT(luhn_check_digit("12a", 3), -1);
    ASSERT_EQ_INT(luhn_check_digit("", 0), -1);
    char number[20] = "622848123456789012";
    number[18] = (char)('0' + luhn_check_digit(number, 18));
    number[19] = '\0';
    ASSERT(luhn_is_valid(number, 19));
}

TEST(a_payment_codes_last_digit_is_its_check_digit)
{
    // docs/paycode.md's example code: its 18th digit completes the first 17.
    const char *code = "191234567071185667";
    ASSERT(luhn_is_valid(code, 18));
    ASSERT_EQ_INT(luhn_check_digit(code, 17), code[17] - '0');
}

int main(void)
{
    RUN(luhn_accepts_valid_numbers_and_refuses_one_digit_off);
    RUN(luhn_check_digit_completes_a_body);
    RUN(a_payment_codes_last_digit_is_its_check_digit);
    return test_summary();
}

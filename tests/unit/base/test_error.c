/*
 * test_error.c — the error catalogue.
 *
 * The HTTP layer maps every error through this table and clients branch on
 * the API codes, so the table's shape is a contract: unique names and codes,
 * sane statuses, and a safe answer for values outside the enum.
 */
#include <ctype.h>

#include "base/error.h"
#include "test.h"

TEST(ok_is_zero_and_200)
{
    // QB_OK must be 0 so `if (err)` means failure, and answer 200 "OK".
    ASSERT_EQ_INT(QB_OK, 0);
    ASSERT_EQ_INT(error_http_status(QB_OK), 200);
    ASSERT_EQ_STR(error_api_code(QB_OK), "OK");
    ASSERT_EQ_STR(error_name(QB_OK), "QB_OK");
}

TEST(known_entries)
{
    // Spot checks of entries clients rely on: the accessors read the right
    // column of the right row.
    ASSERT_EQ_INT(error_http_status(QB_E_INSUFFICIENT_BALANCE), 402);
    ASSERT_EQ_STR(error_api_code(QB_E_INSUFFICIENT_BALANCE), "INSUFFICIENT_BALANCE");
    ASSERT_EQ_STR(error_name(QB_E_INSUFFICIENT_BALANCE), "QB_E_INSUFFICIENT_BALANCE");
    ASSERT_EQ_STR(error_message(QB_E_INSUFFICIENT_BALANCE), "the balance is too low");
    ASSERT_EQ_INT(error_http_status(QB_E_PARAM), 400);
    ASSERT_EQ_STR(error_api_code(QB_E_PARAM), "PARAM_ERROR");
    ASSERT_EQ_INT(error_http_status(QB_E_IDEMPOTENCY_MISMATCH), 422);
    ASSERT_EQ_INT(error_http_status(QB_E_TOO_LARGE), 413);
    ASSERT_EQ_STR(error_api_code(QB_E_INTERNAL), "SYSTEM_ERROR");
    ASSERT_EQ_INT(error_http_status(QB_E_SHUTTING_DOWN), 503);
    ASSERT_EQ_STR(error_name(QB_E_SHUTTING_DOWN), "QB_E_SHUTTING_DOWN");
}

TEST(names_and_codes_are_unique)
{
    // Two errors sharing an API code would be indistinguishable to clients;
    // two sharing a name would mean a broken table expansion.
    for (int i = 0; i < QB_ERROR_COUNT; i++) {
        for (int j = 0; j < i; j++) {
            if (strcmp(error_api_code((enum qb_error)i), error_api_code((enum qb_error)j)) == 0)
                TEST_FAIL_("api code %s used twice", error_api_code((enum qb_error)i));
            if (strcmp(error_name((enum qb_error)i), error_name((enum qb_error)j)) == 0)
                TEST_FAIL_("name %s used twice", error_name((enum qb_error)i));
        }
    }
}

TEST(entries_are_well_formed)
{
    // Names start QB_E_ (QB_OK aside), API codes are SCREAMING_SNAKE, errors
    // map to 4xx/5xx, and messages follow the house message style.
    for (int i = 0; i < QB_ERROR_COUNT; i++) {
        enum qb_error err = (enum qb_error)i;
        const char *name = error_name(err);
        const char *code = error_api_code(err);
        const char *message = error_message(err);
        int status = error_http_status(err);
        if (i > 0 && strncmp(name, "QB_E_", 5) != 0)
            TEST_FAIL_("%s does not start with QB_E_", name);
        if (code[0] == '\0')
            TEST_FAIL_("%s has an empty API code", name);
        for (const char *p = code; *p != '\0'; p++) {
            if (!((*p >= 'A' && *p <= 'Z') || *p == '_'))
                TEST_FAIL_("%s API code \"%s\" is not upper snake case", name, code);
        }
        if (i > 0 && (status < 400 || status > 599))
            TEST_FAIL_("%s maps to HTTP %d", name, status);
        size_t len = strlen(message);
        if (len == 0 || !islower((unsigned char)message[0]) || message[len - 1] == '.')
            TEST_FAIL_("%s message \"%s\" breaks the message style", name, message);
    }
}

TEST(out_of_range_values_answer_internal)
{
    // A corrupted value must still produce a response, the SYSTEM_ERROR one,
    // rather than an out-of-bounds read.
    enum qb_error bad[] = {QB_ERROR_COUNT, (enum qb_error)(QB_ERROR_COUNT + 100),
                           (enum qb_error)-1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ASSERT_EQ_INT(error_http_status(bad[i]), 500);
        ASSERT_EQ_STR(error_api_code(bad[i]), "SYSTEM_ERROR");
        ASSERT_EQ_STR(error_name(bad[i]), "QB_E_INTERNAL");
        ASSERT_EQ_STR(error_message(bad[i]), error_message(QB_E_INTERNAL));
    }
}

int main(void)
{
    RUN(ok_is_zero_and_200);
    RUN(known_entries);
    RUN(names_and_codes_are_unique);
    RUN(entries_are_well_formed);
    RUN(out_of_range_values_answer_internal);
    return test_summary();
}

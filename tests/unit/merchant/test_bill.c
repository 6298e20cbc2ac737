/*
 * test_bill.c — the pure parts of the trade bill (src/merchant/bill.c): the
 * date rules in UTC+8 with WeChat's three calendar months, the download
 * token (round trip, another merchant, expiry, tampering, another key), and
 * gzip that unpacks to the same bytes. The rows and the CSV are checked
 * end to end in tests/api/test_merchant_bill.c.
 */
#include <string.h>

#include <zlib.h>

#include "merchant/bill.h"
#include "test.h"

/* 2026-05-31T12:00:00+08:00 */
#define S_NOW_MS (INT64_C(1780200000) * 1000)

static enum qb_error S_check(const char *date, int64_t now_ms)
{
    int64_t start_ms = 0, end_ms = 0;
    const char *message = NULL;
    enum qb_error err = merchant_bill_date_check(date, now_ms, &start_ms, &end_ms, &message);
    if (err == QB_OK) {
        ASSERT_EQ_INT(end_ms - start_ms, INT64_C(86400000));
        ASSERT(message == NULL);
    } else {
        ASSERT(message != NULL);
    }
    return err;
}

TEST(dates_are_days_of_utc8_within_three_calendar_months)
{
    // Today (UTC+8) is not made yet, a future day is refused, and three months back clamps the
    // day to the month's length (31 May -> 28 February).
    ASSERT_EQ_INT(S_check("2026-05-31", S_NOW_MS), QB_E_STATEMENT_CREATING);
    ASSERT_EQ_INT(S_check("2026-06-01", S_NOW_MS), QB_E_INVALID_REQUEST);
    ASSERT_EQ_INT(S_check("2026-05-30", S_NOW_MS), QB_OK);
    ASSERT_EQ_INT(S_check("2026-02-28", S_NOW_MS), QB_OK);
    ASSERT_EQ_INT(S_check("2026-02-27", S_NOW_MS), QB_E_INVALID_REQUEST);
    ASSERT_EQ_INT(S_check("2026-02-29", S_NOW_MS), QB_E_PARAM); /* not a leap year */
    ASSERT_EQ_INT(S_check("2026-13-01", S_NOW_MS), QB_E_PARAM);
    ASSERT_EQ_INT(S_check("2026-5-30", S_NOW_MS), QB_E_PARAM);
    ASSERT_EQ_INT(S_check("2026-05-30 ", S_NOW_MS), QB_E_PARAM);
    ASSERT_EQ_INT(S_check(NULL, S_NOW_MS), QB_E_PARAM);
    // A January today reaches back into the previous year.
    int64_t january_ms = S_NOW_MS - INT64_C(140) * 86400000; /* 2026-01-11 */
    ASSERT_EQ_INT(S_check("2025-10-11", january_ms), QB_OK);
    ASSERT_EQ_INT(S_check("2025-10-10", january_ms), QB_E_INVALID_REQUEST);
    // 23:59 UTC on the 30th is already the 31st in UTC+8.
    int64_t start_ms, end_ms;
    const char *message;
    ASSERT_EQ_INT(merchant_bill_date_check("2026-05-30", S_NOW_MS, &start_ms, &end_ms, &message),
                  QB_OK);
    ASSERT_EQ_INT(start_ms, INT64_C(1780070400000)); /* 2026-05-29T16:00:00Z */
}

TEST(tokens_open_for_their_merchant_until_they_expire)
{
    // A token names its merchant, day, type and compression under a MAC: only that merchant
    // opens it, only before its expiry, and no changed character or other key passes.
    uint8_t key[DOMAIN_KEY_SIZE], other_key[DOMAIN_KEY_SIZE];
    memset(key, 7, sizeof key);
    memset(other_key, 8, sizeof other_key);
    char token[MERCHANT_BILL_TOKEN_SIZE];
    merchant_bill_token_make(key, "1900009191", "2026-05-30", MERCHANT_BILL_REFUND, true,
                             S_NOW_MS + MERCHANT_BILL_TOKEN_TTL_MS, token);
    ASSERT_EQ_INT(strlen(token), MERCHANT_BILL_TOKEN_SIZE - 1);
    char date[MERCHANT_BILL_DATE_SIZE];
    enum merchant_bill_type type;
    bool gzip = false;
    ASSERT(merchant_bill_token_open(key, token, "1900009191", S_NOW_MS, date, &type, &gzip));
    ASSERT_EQ_STR(date, "2026-05-30");
    ASSERT_EQ_INT(type, MERCHANT_BILL_REFUND);
    ASSERT(gzip);
    ASSERT(!merchant_bill_token_open(key, token, "1900009192", S_NOW_MS, date, &type, &gzip));
    ASSERT(!merchant_bill_token_open(key, token, "1900009191",
                                     S_NOW_MS + MERCHANT_BILL_TOKEN_TTL_MS, date, &type, &gzip));
    ASSERT(!merchant_bill_token_open(other_key, token, "1900009191", S_NOW_MS, date, &type,
                                     &gzip));
    for (size_t i = 0; i < strlen(token); i++) {
        char changed[MERCHANT_BILL_TOKEN_SIZE];
        memcpy(changed, token, sizeof changed);
        changed[i] = changed[i] == '1' ? '2' : '1';
        ASSERT(!merchant_bill_token_open(key, changed, "1900009191", S_NOW_MS, date, &type,
                                         &gzip));
    }
    ASSERT(!merchant_bill_token_open(key, "", "1900009191", S_NOW_MS, date, &type, &gzip));
    ASSERT(!merchant_bill_token_open(key, NULL, "1900009191", S_NOW_MS, date, &type, &gzip));

    /* The fund-flow bill's link is the same kind of token. */
    merchant_bill_token_make(key, "1900009191", "2026-05-29", MERCHANT_BILL_FUNDFLOW, false,
                             S_NOW_MS + MERCHANT_BILL_TOKEN_TTL_MS, token);
    ASSERT(merchant_bill_token_open(key, token, "1900009191", S_NOW_MS, date, &type, &gzip));
    ASSERT_EQ_STR(date, "2026-05-29");
    ASSERT_EQ_INT(type, MERCHANT_BILL_FUNDFLOW);
    ASSERT(!gzip);
    ASSERT(merchant_fundflow_account_is_valid("BASIC"));
    ASSERT(!merchant_fundflow_account_is_valid("OPERATION"));
    ASSERT(!merchant_fundflow_account_is_valid("basic"));
    ASSERT(!merchant_fundflow_account_is_valid(NULL));
}

TEST(gzip_unpacks_to_the_same_bytes)
{
    // The compressed bill is a gzip stream (RFC 1952) of exactly the CSV.
    const char text[] = "交易时间,公众账号ID\r\n`2026-05-30 10:00:00,`wx0123456789abcdef\r\n";
    struct buf packed;
    buf_init(&packed, 1 << 20);
    ASSERT_EQ_INT(merchant_gzip(text, sizeof text - 1, &packed), QB_OK);
    ASSERT(packed.size > 18 && (unsigned char)packed.data[0] == 0x1f &&
           (unsigned char)packed.data[1] == 0x8b);
    unsigned char plain[256];
    uLongf plain_size = sizeof plain;
    z_stream z;
    memset(&z, 0, sizeof z);
    ASSERT_EQ_INT(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (unsigned char *)packed.data;
    z.avail_in = (uInt)packed.size;
    z.next_out = plain;
    z.avail_out = (uInt)plain_size;
    ASSERT_EQ_INT(inflate(&z, Z_FINISH), Z_STREAM_END);
    plain_size = sizeof plain - z.avail_out;
    inflateEnd(&z);
    ASSERT_EQ_INT(plain_size, sizeof text - 1);
    ASSERT(memcmp(plain, text, plain_size) == 0);
    buf_release(&packed);
}

int main(void)
{
    RUN(dates_are_days_of_utc8_within_three_calendar_months);
    RUN(tokens_open_for_their_merchant_until_they_expire);
    RUN(gzip_unpacks_to_the_same_bytes);
    return test_summary();
}

/*
 * fuzz_params.c — the small parsers of what clients send beside a JSON
 * body: query arguments, times and periods of bills, phone numbers, ids,
 * card numbers, identity numbers, names, merchants' fields, notify URLs
 * and bill download tokens. None may crash, and each answer keeps its
 * header's promise: what a parser accepts has the shape it says, and what
 * it writes fits.
 *
 * The first byte picks the parser; the rest, up to its first NUL, is the
 * text (for the query: the query string, a newline, the name).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bank/bank.h"
#include "base/luhn.h"
#include "base/rand.h"
#include "base/text.h"
#include "http/wire.h"
#include "identity/identity.h"
#include "merchant/bill.h"
#include "merchant/notify.h"
#include "merchant/order.h"
#include "sms/sms.h"
#include "wallet/bills.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define S_DAY_MS INT64_C(86400000)
/* 2026-12-06 12:00 UTC: what the date checks take as now. */
#define S_NOW_MS INT64_C(1796558400000)
/* 1970-01-01 and 10000-01-01 in UTC, a day of offsets either side. */
#define S_TIME_MIN_MS (-S_DAY_MS)
#define S_TIME_MAX_MS (INT64_C(253402300800000) + S_DAY_MS)

static void S_fail(const char *what, const char *text)
{
    fprintf(stderr, "fuzz_params: %s: \"%s\"\n", what, text);
    abort();
}

static bool S_all_digits(const char *text, size_t size)
{
    for (size_t i = 0; i < size; i++)
        if (text[i] < '0' || text[i] > '9')
            return false;
    return true;
}

static void S_times(const char *text)
{
    int64_t start = 0, end = 0;
    bool has_start = bills_time_parse(text, false, &start);
    bool has_end = bills_time_parse(text, true, &end);
    if (has_start != has_end)
        S_fail("a time parses as a start but not as an end, or back", text);
    if (!has_start)
        return;
    if (start < S_TIME_MIN_MS || start > S_TIME_MAX_MS || end < start)
        S_fail("a time out of 1970..9999, or ending before it starts", text);
    /* A calendar date is its day, from midnight to midnight; a time is itself. */
    int64_t span = strlen(text) == 10 ? S_DAY_MS : 0;
    if (end - start != span)
        S_fail("a date is not a day long, or a time not an instant", text);
}

static void S_periods(const char *text)
{
    struct bills_month m;
    memset(&m, 0xa5, sizeof m);
    if (bills_month_parse(text, &m)) {
        int64_t days = (m.end_ms - m.start_ms) / S_DAY_MS;
        if (strlen(text) != 7 || m.year < 1970 || m.year > 9999 || m.month < 1 || m.month > 12 ||
            days < 28 || days > 31 || (m.end_ms - m.start_ms) % S_DAY_MS != 0)
            S_fail("a month out of its bounds", text);
    }
    memset(&m, 0xa5, sizeof m);
    if (bills_year_parse(text, &m)) {
        int64_t days = (m.end_ms - m.start_ms) / S_DAY_MS;
        if (strlen(text) != 4 || m.year < 1970 || m.year > 9998 || m.month != 0 ||
            (days != 365 && days != 366) || (m.end_ms - m.start_ms) % S_DAY_MS != 0)
            S_fail("a year out of its bounds", text);
    }
    int64_t start = 0, end = 0;
    const char *message = NULL;
    enum qb_error err = merchant_bill_date_check(text, S_NOW_MS, &start, &end, &message);
    if (err == QB_OK) {
        if (end - start != S_DAY_MS || end > S_NOW_MS)
            S_fail("a bill date not a whole day before now", text);
    } else if (err != QB_E_PARAM && err != QB_E_STATEMENT_CREATING && err != QB_E_INVALID_REQUEST) {
        S_fail("a bill date refused with an undocumented error", text);
    } else if (message == NULL || message[0] == '\0') {
        S_fail("a bill date refused without saying why", text);
    }
}

static void S_phones(const char *text)
{
    bool valid = phone_is_valid(text);
    if (valid && (strlen(text) != 11 || !S_all_digits(text, 11) || text[0] != '1' ||
                  text[1] < '3' || text[1] > '9'))
        S_fail("a phone accepted that is not 11 digits from 13..19", text);
    char out[SMS_PHONE_SIZE_MAX];
    memset(out, 'x', sizeof out);
    if (!phone_normalize(text, out)) {
        if (out[0] != '\0')
            S_fail("a refused phone left text behind", text);
        if (valid)
            S_fail("a valid phone does not normalize", text);
        return;
    }
    if (!phone_is_valid(out))
        S_fail("a phone normalized to an invalid one", text);
    if (valid && strcmp(out, text) != 0)
        S_fail("a valid phone normalized to another", text);
    char again[SMS_PHONE_SIZE_MAX];
    if (!phone_normalize(out, again) || strcmp(again, out) != 0)
        S_fail("a normalized phone does not normalize to itself", text);
}

static void S_ids(const char *text)
{
    static const char *const prefixes[] = {"u", "p", "req", "rp", "c", "dev", "s", "rc"};
    size_t size = strlen(text);
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        int valid = id_is_valid(text, size, prefixes[i]);
        int64_t seq = id_sequence(text, size, prefixes[i]);
        if ((valid != 0) != (seq >= 0))
            S_fail("id_is_valid and id_sequence disagree", text);
        if (valid && strncmp(text, prefixes[i], strlen(prefixes[i])) != 0)
            S_fail("an id accepted without its prefix", text);
    }
}

static void S_cards(const char *text)
{
    size_t size = strlen(text);
    if (luhn_is_valid(text, size)) {
        if (size < 2 || !S_all_digits(text, size))
            S_fail("a Luhn check passed by what is not digits", text);
        if (luhn_check_digit(text, size - 1) != text[size - 1] - '0')
            S_fail("a valid number's check digit is not its last", text);
    }
    int digit = luhn_check_digit(text, size);
    if (digit < -1 || digit > 9 || (digit == -1) != (size == 0 || !S_all_digits(text, size)))
        S_fail("a check digit out of 0..9, or -1 for digits", text);
    struct bank_card_info info;
    memset(&info, 'x', sizeof info);
    if (bank_card_lookup(text, &info)) {
        if (memchr(info.bank, '\0', sizeof info.bank) == NULL || info.bank[0] == '\0' ||
            memchr(info.card_type, '\0', sizeof info.card_type) == NULL)
            S_fail("a card's bank or type not a string", text);
        if (size < 16 || size > 19 || !luhn_is_valid(text, size))
            S_fail("a card known by number that is not 16..19 digits passing Luhn", text);
    }
}

static void S_people(const char *text)
{
    size_t size = strlen(text);
    if (identity_id_number_is_valid(text, S_NOW_MS) &&
        (size != 18 || !S_all_digits(text, 17) ||
         !((text[17] >= '0' && text[17] <= '9') || text[17] == 'X')))
        S_fail("an identity number accepted not of 17 digits and a check", text);
    if (identity_display_name_is_valid(text) &&
        (size < 1 || size > 64 || !text_is_clean(text, size) || text_is_blank(text, size)))
        S_fail("a display name accepted that is long, unclean or blank", text);
    /* Every code point decoded lies in the bytes given, and only strict
     * UTF-8 decodes. */
    for (size_t at = 0; at < size;) {
        uint32_t cp = 0;
        size_t n = text_utf8_decode((const unsigned char *)text + at, size - at, &cp);
        if (n > 4 || n > size - at || (n > 0 && (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))))
            S_fail("a code point decoded past its bytes or outside Unicode", text);
        at += n > 0 ? n : 1;
    }
}

static void S_merchants(const char *text)
{
    size_t size = strlen(text);
    if (merchant_out_trade_no_is_valid(text)) {
        if (size < 6 || size > 32)
            S_fail("an out_trade_no accepted outside 6..32", text);
        for (size_t i = 0; i < size; i++)
            if (strchr("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-|*@",
                       text[i]) == NULL)
                S_fail("an out_trade_no accepted with a byte not allowed", text);
    }
    char token[MERCHANT_PAY_TOKEN_SIZE];
    memset(token, 'x', sizeof token);
    if (merchant_pay_token_parse(text, token)) {
        if (strlen(token) != MERCHANT_PAY_TOKEN_SIZE - 1)
            S_fail("a pay token not 32 characters", text);
        for (size_t i = 0; token[i] != '\0'; i++)
            if (strchr("0123456789abcdef", token[i]) == NULL)
                S_fail("a pay token not lower-case hex", text);
    }
    char host[MERCHANT_NOTIFY_HOST_SIZE_MAX];
    memset(host, 'x', sizeof host);
    int port = -1;
    if (merchant_notify_url_parse(text, host, &port)) {
        size_t host_size = strnlen(host, sizeof host);
        if (host_size == 0 || host_size == sizeof host || port < 1 || port > 65535)
            S_fail("a notify URL's host empty or unterminated, or its port out of range", text);
        for (size_t i = 0; i < host_size; i++)
            if (host[i] <= 0x20 || host[i] >= 0x7f || host[i] == '/' || host[i] == '@')
                S_fail("a notify URL's host holds a byte a host may not", text);
    }
}

/* A bill download token (GET /v3/billdownload/file?token=): only one made
 * under the key opens, for its merchant, before it expires, and any other
 * text is refused. */
static void S_tokens(const char *text)
{
    static const uint8_t key[DOMAIN_KEY_SIZE] = {7, 1, 2, 3};
    char date[MERCHANT_BILL_DATE_SIZE];
    enum merchant_bill_type type;
    bool gzip = false;
    /* The text as a token: it opens only as the token its fields make. */
    char mchid[MERCHANT_MCHID_SIZE];
    snprintf(mchid, sizeof mchid, "%s", text);
    if (merchant_bill_token_open(key, text, mchid, S_NOW_MS, date, &type, &gzip)) {
        int64_t expires_s = 0;
        for (int i = 20; i < 30; i++)
            expires_s = expires_s * 10 + (text[i] - '0');
        char again[MERCHANT_BILL_TOKEN_SIZE];
        merchant_bill_token_make(key, mchid, date, type, gzip, expires_s * 1000, again);
        if (strcmp(again, text) != 0)
            S_fail("a token opened that is not the one its fields make", text);
    }
    /* A token made from the text's bytes: opens to its fields, and not
     * for another merchant, once expired, or with any character changed. */
    uint64_t bits = 1469598103934665603u;
    for (const char *p = text; *p != '\0'; p++)
        bits = (bits ^ (uint8_t)*p) * 1099511628211u;
    snprintf(mchid, sizeof mchid, "19%08u", (unsigned)(bits % 100000000));
    char bill_date[MERCHANT_BILL_DATE_SIZE];
    snprintf(bill_date, sizeof bill_date, "20%02u-%02u-%02u", (unsigned)(bits >> 8) % 100,
             (unsigned)(bits >> 16) % 12 + 1, (unsigned)(bits >> 24) % 28 + 1);
    enum merchant_bill_type made_type =
        (enum merchant_bill_type)((bits >> 32) % MERCHANT_BILL_FUNDFLOW + MERCHANT_BILL_ALL);
    bool made_gzip = (bits >> 40) & 1;
    /* A token keeps its expiry to the second, cut down: one made to expire
     * within the second after now has already expired. */
    int64_t expires_ms = S_NOW_MS + 1000 + (int64_t)((bits >> 41) % 86400000);
    char token[MERCHANT_BILL_TOKEN_SIZE];
    merchant_bill_token_make(key, mchid, bill_date, made_type, made_gzip, expires_ms, token);
    if (!merchant_bill_token_open(key, token, mchid, S_NOW_MS, date, &type, &gzip) ||
        strcmp(date, bill_date) != 0 || type != made_type || gzip != made_gzip)
        S_fail("a token made does not open to its fields", token);
    char other[MERCHANT_MCHID_SIZE];
    snprintf(other, sizeof other, "%s", mchid);
    other[9] = other[9] == '9' ? '0' : (char)(other[9] + 1);
    if (merchant_bill_token_open(key, token, other, S_NOW_MS, date, &type, &gzip))
        S_fail("a token opens for another merchant", token);
    if (merchant_bill_token_open(key, token, mchid, expires_ms / 1000 * 1000, date, &type, &gzip))
        S_fail("a token opens once expired", token);
    size_t at = (size_t)((bits >> 48) % (MERCHANT_BILL_TOKEN_SIZE - 1));
    token[at] = token[at] == '0' ? '1' : '0';
    if (merchant_bill_token_open(key, token, mchid, S_NOW_MS, date, &type, &gzip))
        S_fail("a token opens with a character changed", token);
}

static void S_query(const char *text)
{
    const char *newline = strchr(text, '\n');
    size_t query_size = newline != NULL ? (size_t)(newline - text) : strlen(text);
    char query[512];
    if (query_size >= sizeof query)
        return;
    memcpy(query, text, query_size);
    query[query_size] = '\0';
    const char *name = newline != NULL ? newline + 1 : "cursor";
    (void)http_wire_query_is_plain(query);
    /* Each size from none at all up, so that a value that just fits and one
     * that just does not are both tried. */
    for (size_t out_size = 1; out_size <= 24; out_size++) {
        char out[24 + 8];
        memset(out, 'x', sizeof out);
        if (http_wire_query(query, name, out, out_size)) {
            if (memchr(out, '\0', out_size) == NULL)
                S_fail("a query value unterminated in its room", text);
        }
        for (size_t i = out_size; i < sizeof out; i++)
            if (out[i] != 'x')
                S_fail("a query value written past its room", text);
        memset(out, 'x', sizeof out);
        if (http_wire_unescape(query, query_size, true, out, out_size) &&
            memchr(out, '\0', out_size) == NULL)
            S_fail("an unescaped text unterminated in its room", text);
        for (size_t i = out_size; i < sizeof out; i++)
            if (out[i] != 'x')
                S_fail("an unescaped text written past its room", text);
    }
    (void)http_wire_path_is_plain(query);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 1024)
        return 0;
    char text[1024];
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    switch (data[0] % 9) {
    case 0:
        S_times(text);
        break;
    case 1:
        S_periods(text);
        break;
    case 2:
        S_phones(text);
        break;
    case 3:
        S_ids(text);
        break;
    case 4:
        S_cards(text);
        break;
    case 5:
        S_people(text);
        break;
    case 6:
        S_merchants(text);
        break;
    case 7:
        S_query(text);
        break;
    default:
        S_tokens(text);
        break;
    }
    return 0;
}

/*
 * checks.c — the pure checks of identity: passwords, payment passwords,
 * resident id numbers, display names.
 *
 * These run on HTTP threads before anything is submitted, and again inside
 * commands where the answer depends on stored data (a payment password
 * against the birth date of a KYC'd user). They touch no state: the only
 * input besides the text is "now", for the plausibility of a birth date.
 *
 * Text is UTF-8 and validated strictly (no overlong forms, no surrogates,
 * nothing past U+10FFFF): a name or password that two decoders read
 * differently is refused, not guessed at.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/assert.h"
#include "base/text.h"
#include "domain/domain.h"
#include "identity/identity.h"

/* --- UTF-8 ----------------------------------------------------------------- */

/* True when text[0..size) is clean text (base/text.h). When
 * single_char is not NULL it tells whether every code point is the same. */
static bool utf8_text_is_clean(const char *text, size_t size, bool *single_char)
{
    const unsigned char *s = (const unsigned char *)text;
    uint32_t first = 0;
    bool same = true;
    size_t at = 0;
    while (at < size) {
        uint32_t cp;
        size_t step = text_utf8_decode(s + at, size - at, &cp);
        if (step == 0 || text_codepoint_is_hidden(cp))
            return false;
        if (at == 0)
            first = cp;
        else if (cp != first)
            same = false;
        at += step;
    }
    if (single_char != NULL)
        *single_char = same;
    return true;
}

/* --- login passwords --------------------------------------------------------- */

/* Passwords of eight characters or more that top every published list of
 * those people choose, here and abroad (pinyin, love numbers, keyboard
 * walks): whoever guesses tries these first, so with five tries to a lock
 * they are the ones that fall. Compared without regard to case. */
static const char *const S_common_passwords[] = {
    "password",    "password1", "password12", "password123", "passw0rd",   "p@ssw0rd",
    "p@ssword",    "iloveyou",  "iloveyou1",  "iloveyou520", "woaini1314", "woaini520",
    "woaini123",   "woaini521", "aini1314",   "aini5201314", "5201314a",   "a5201314",
    "wo5201314",   "qq123456",  "qq12345678", "qwertyui",    "qwertyuiop", "qwerty123",
    "qwerty12",    "qwe12345",  "qwe123456",  "qweasdzxc",   "qazwsxedc",  "1qaz2wsx",
    "1qazxsw2",    "1q2w3e4r",  "1q2w3e4r5t", "q1w2e3r4",    "q1w2e3r4t5", "zaq12wsx",
    "asdfghjk",    "asdfghjkl", "asdf1234",   "zxcvbnm1",    "zxcv1234",   "qwer1234",
    "abcdefgh",    "abcdefg1",  "abc12345",   "abc123456",   "abcd1234",   "abcd12345",
    "a1234567",    "a12345678", "a123456789", "aa123456",    "aa12345678", "aaa12345",
    "1234abcd",    "12345abc",  "123456aa",   "123456abc",   "123456qq",   "admin123",
    "admin1234",   "welcome1",  "sunshine",   "princess",    "football",   "baseball",
    "superman",    "starwars",  "trustno1",   "letmein1",    "qianbao1",   "qianbao123",
    "qianbao1234", "wang1234",  "wang123456", "zhang123",    "li123456",   "88888888a",
    "a88888888",   "woshishui", "woaiwojia",  "nihao123",    "nihao1234",
};

static bool S_password_is_common(const char *password, size_t size)
{
    for (size_t i = 0; i < sizeof S_common_passwords / sizeof S_common_passwords[0]; i++)
        if (strlen(S_common_passwords[i]) == size &&
            strncasecmp(S_common_passwords[i], password, size) == 0)
            return true;
    return false;
}

enum qb_error identity_password_check(const char *password)
{
    if (password == NULL)
        return QB_E_PARAM;
    size_t size = strnlen(password, IDENTITY_PASSWORD_SIZE_MAX + 1);
    if (size > IDENTITY_PASSWORD_SIZE_MAX)
        return QB_E_PARAM;
    bool single_char = false;
    if (!utf8_text_is_clean(password, size, &single_char))
        return QB_E_PARAM;
    if (size < IDENTITY_PASSWORD_SIZE_MIN || single_char)
        return QB_E_PASSWORD_WEAK;
    bool all_digits = true;
    for (size_t i = 0; i < size; i++)
        if (password[i] < '0' || password[i] > '9')
            all_digits = false;
    return all_digits || S_password_is_common(password, size) ? QB_E_PASSWORD_WEAK : QB_OK;
}

bool identity_display_name_is_valid(const char *name)
{
    if (name == NULL)
        return false;
    size_t size = strnlen(name, IDENTITY_DISPLAY_NAME_SIZE_MAX);
    if (size == 0 || size >= IDENTITY_DISPLAY_NAME_SIZE_MAX)
        return false;
    /* text_is_clean, not utf8_text_is_clean: a subdivision's flag is a name. A name of blanks
     * passes as clean text, yet the payer who reads it sees nothing. */
    return text_is_clean(name, size) && !text_is_blank(name, size);
}

void identity_phone_change_target(const char *user_id, char out[IDENTITY_PHONE_TARGET_SIZE_MAX])
{
    QB_ASSERT(user_id != NULL && out != NULL);
    int n = snprintf(out, IDENTITY_PHONE_TARGET_SIZE_MAX, "wallet:%s", user_id);
    QB_ASSERT(n > 7 && n < IDENTITY_PHONE_TARGET_SIZE_MAX);
}

/* --- dates -------------------------------------------------------------------- */

static bool year_is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int month_days(int64_t y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && year_is_leap(y) ? 29 : days[m - 1];
}

/* The civil date (proleptic Gregorian) of a count of days since 1970-01-01,
 * as YYYYMMDD. From Howard Hinnant's days_from_civil inverse. */
static int64_t yyyymmdd_from_days(int64_t z)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2)
        y++;
    return y * 10000 + m * 100 + d;
}

/* Today in China (UTC+8) as YYYYMMDD. */
static int64_t today_yyyymmdd(int64_t now_ms)
{
    const int64_t day_ms = 24LL * 60 * 60 * 1000;
    int64_t local_midnight_ms = domain_day_start_ms(now_ms) + 8LL * 60 * 60 * 1000;
    return yyyymmdd_from_days(local_midnight_ms / day_ms);
}

static int64_t digits_value(const char *s, size_t count)
{
    int64_t v = 0;
    for (size_t i = 0; i < count; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/* --- resident id numbers -------------------------------------------------------- */

bool identity_id_number_is_valid(const char *id_number, int64_t now_ms)
{
    static const int weights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    static const char check_chars[11] = {'1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'};
    if (id_number == NULL || strnlen(id_number, IDENTITY_ID_NUMBER_SIZE) != 18)
        return false;
    int sum = 0;
    for (int i = 0; i < 17; i++) {
        if (id_number[i] < '0' || id_number[i] > '9')
            return false;
        sum += (id_number[i] - '0') * weights[i];
    }
    if (id_number[17] != check_chars[sum % 11])
        return false;

    /* Positions 7-14: the birth date, YYYYMMDD. */
    int64_t y = digits_value(id_number + 6, 4);
    int m = (int)digits_value(id_number + 10, 2);
    int d = (int)digits_value(id_number + 12, 2);
    if (y < 1900 || m < 1 || m > 12 || d < 1 || d > month_days(y, m))
        return false;
    return y * 10000 + m * 100 + d <= today_yyyymmdd(now_ms);
}

/* --- payment passwords ------------------------------------------------------------ */

/* The six-digit shapes of a birth date a guesser tries first. */
static bool is_birth_date(const char *p, const char *id_number)
{
    if (id_number == NULL || strnlen(id_number, IDENTITY_ID_NUMBER_SIZE) != 18)
        return false;
    for (int i = 6; i < 14; i++)
        if (id_number[i] < '0' || id_number[i] > '9')
            return false;
    const char *yy = id_number + 8, *mm = id_number + 10, *dd = id_number + 12;
    const char *orders[3][3] = {{yy, mm, dd}, {mm, dd, yy}, {dd, mm, yy}};
    for (size_t k = 0; k < 3; k++) {
        bool same = true;
        for (size_t part = 0; part < 3 && same; part++)
            same = memcmp(p + 2 * part, orders[k][part], 2) == 0;
        if (same)
            return true;
    }
    return false;
}

enum qb_error identity_payment_password_check(const char *payment_password, const char *id_number)
{
    const char *p = payment_password;
    if (p == NULL || strnlen(p, 7) != 6)
        return QB_E_PARAM;
    for (int i = 0; i < 6; i++)
        if (p[i] < '0' || p[i] > '9')
            return QB_E_PARAM;

    bool up = true, down = true;
    for (int i = 1; i < 6; i++) {
        up = up && p[i] == p[i - 1] + 1;
        down = down && p[i] == p[i - 1] - 1;
    }
    bool repeated = memcmp(p, p + 1, 5) == 0;                                        /* 111111 */
    bool pairs = p[0] == p[1] && p[2] == p[3] && p[4] == p[5];                       /* 112233 */
    bool pair_thrice = memcmp(p, p + 2, 2) == 0 && memcmp(p, p + 4, 2) == 0;         /* 121212 */
    bool triple_twice = memcmp(p, p + 3, 3) == 0;                                    /* 123123 */
    bool two_triples = p[0] == p[1] && p[1] == p[2] && p[3] == p[4] && p[4] == p[5]; /* 111222 */
    if (up || down || repeated || pairs || pair_thrice || triple_twice || two_triples)
        return QB_E_PASSWORD_WEAK;
    if (is_birth_date(p, id_number))
        return QB_E_PASSWORD_WEAK;
    return QB_OK;
}

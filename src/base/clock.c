/*
 * clock.c — the system clock, the manual test clock and RFC 3339 text.
 *
 * Dates are computed from the day count with integer arithmetic only (the
 * civil-from-days algorithm), not with gmtime/localtime/strftime: those
 * consult the process's time zone and locale, and the output of this file
 * must depend on nothing but its arguments.
 */
#include "base/clock.h"

#include <stdio.h>
#include <time.h>

#include "base/assert.h"

static int64_t clock_system_now_ms(struct qb_clock *clock)
{
    (void)clock;
    struct timespec ts;
    int rc = clock_gettime(CLOCK_REALTIME, &ts);
    QB_ASSERT(rc == 0);
    return (int64_t)ts.tv_sec * 1000 + (int64_t)(ts.tv_nsec / 1000000);
}

static struct qb_clock clock_system_instance = {clock_system_now_ms, 0};

struct qb_clock *clock_system(void) { return &clock_system_instance; }

static int64_t clock_manual_now_ms(struct qb_clock *clock)
{
    return atomic_load_explicit(&clock->fixed_ms, memory_order_relaxed);
}

void clock_manual_init(struct qb_clock *clock, int64_t start_ms)
{
    QB_ASSERT(clock != NULL);
    clock->now_ms = clock_manual_now_ms;
    atomic_store_explicit(&clock->fixed_ms, start_ms, memory_order_relaxed);
}

void clock_manual_advance(struct qb_clock *clock, int64_t delta_ms)
{
    QB_ASSERT(clock != NULL && clock->now_ms == clock_manual_now_ms);
    int64_t now = atomic_load_explicit(&clock->fixed_ms, memory_order_relaxed);
    int64_t moved;
    QB_ASSERT(!__builtin_add_overflow(now, delta_ms, &moved));
    atomic_store_explicit(&clock->fixed_ms, moved, memory_order_relaxed);
}

int64_t clock_monotonic_ns(void)
{
    struct timespec ts;
    int rc = clock_gettime(CLOCK_MONOTONIC, &ts);
    QB_ASSERT(rc == 0);
    return (int64_t)ts.tv_sec * 1000000000 + (int64_t)ts.tv_nsec;
}

/* Floor division: the second -1 ms before the epoch is 1969-12-31T23:59:59. */
static int64_t clock_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Year, month (1..12) and day (1..31) of a day count since 1970-01-01 in the
 * proleptic Gregorian calendar (H. Hinnant's civil_from_days). */
static void clock_civil_from_days(int64_t days, int64_t *year, int *month, int *day)
{
    days += 719468;
    int64_t era = clock_floor_div(days, 146097);
    int64_t day_of_era = days - era * 146097;                                   /* [0, 146096] */
    int64_t year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    int64_t mp = (5 * day_of_year + 2) / 153;                                   /* [0, 11] */
    *day = (int)(day_of_year - (153 * mp + 2) / 5 + 1);
    *month = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = year_of_era + era * 400 + (*month <= 2 ? 1 : 0);
}

/* The offset is limited to what RFC 3339's "+HH:MM" can say; years to the
 * four digits it allows. A time outside 0000..9999 (only a corrupted value
 * can be) answers -1 with an empty buf rather than malformed text. */
/* Writes value (0..99) as two digits at p; the position after them. */
static char *clock_digits(char *p, int value)
{
    QB_ASSERT(value >= 0 && value <= 99);
    p[0] = (char)('0' + value / 10);
    p[1] = (char)('0' + value % 10);
    return p + 2;
}

int clock_format_rfc3339(int64_t at_ms, int offset_minutes, char *buf, int buf_size)
{
    QB_ASSERT(buf != NULL && buf_size >= 32);
    QB_ASSERT(offset_minutes > -24 * 60 && offset_minutes < 24 * 60);
    buf[0] = '\0';

    /* Years 0000 to 9999 in seconds, with a day of margin for the offset. */
    const int64_t seconds_min = -62167219200 + 86400;
    const int64_t seconds_max = 253402300799 - 86400;
    int64_t seconds = clock_floor_div(at_ms, 1000);
    if (seconds < seconds_min || seconds > seconds_max)
        return -1;
    seconds += (int64_t)offset_minutes * 60;

    int64_t days = clock_floor_div(seconds, 86400);
    int64_t second_of_day = seconds - days * 86400;
    int64_t year;
    int month, day;
    clock_civil_from_days(days, &year, &month, &day);

    /* "YYYY-MM-DDTHH:MM:SS+HH:MM" digit by digit: every answer that names a
     * time formats one, many on the ledger's writer. */
    int offset_abs = offset_minutes < 0 ? -offset_minutes : offset_minutes;
    QB_ASSERT(year >= 0 && year <= 9999);
    char *p = buf;
    p = clock_digits(p, (int)year / 100);
    p = clock_digits(p, (int)year % 100);
    *p++ = '-';
    p = clock_digits(p, month);
    *p++ = '-';
    p = clock_digits(p, day);
    *p++ = 'T';
    p = clock_digits(p, (int)(second_of_day / 3600));
    *p++ = ':';
    p = clock_digits(p, (int)(second_of_day / 60 % 60));
    *p++ = ':';
    p = clock_digits(p, (int)(second_of_day % 60));
    *p++ = offset_minutes < 0 ? '-' : '+';
    p = clock_digits(p, offset_abs / 60);
    *p++ = ':';
    p = clock_digits(p, offset_abs % 60);
    *p = '\0';
    QB_ASSERT(p - buf == 25);
    return 25;
}

void clock_format_wait(int64_t seconds, char *buf, size_t buf_size)
{
    QB_ASSERT(buf != NULL && buf_size >= 32);
    if (seconds < 0)
        seconds = 0;
    if (seconds < 120) {
        snprintf(buf, buf_size, "%lld s", (long long)seconds);
        return;
    }
    int64_t minutes = (seconds + 59) / 60;
    if (minutes < 120)
        snprintf(buf, buf_size, "%lld min", (long long)minutes);
    else if (minutes % 60 == 0)
        snprintf(buf, buf_size, "%lld h", (long long)(minutes / 60));
    else
        snprintf(buf, buf_size, "%lld h %lld min", (long long)(minutes / 60),
                 (long long)(minutes % 60));
}

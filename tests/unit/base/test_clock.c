/*
 * test_clock.c — system, manual and monotonic clocks; RFC 3339 text.
 *
 * Timestamps go into signed notifications and bills, so the formatter is
 * checked against known dates (leap days, centuries, offsets, before the
 * epoch) and against the C library's gmtime_r over a seeded sample.
 */
#include <stdlib.h>
#include <stdbool.h>
#include <time.h>

#include "base/clock.h"
#include "test.h"

static uint64_t seed;

static const char *rfc3339(int64_t at_ms, int offset_minutes)
{
    static char buf[64];
    int n = clock_format_rfc3339(at_ms, offset_minutes, buf, 32);
    if (n >= 0 && (size_t)n != strlen(buf))
        TEST_FAIL_("returned %d for \"%s\"", n, buf);
    return buf;
}

TEST(manual_clock_moves_only_when_told)
{
    // Tests expire holds and SMS codes by advancing a manual clock; it must
    // answer exactly its time and move by exactly the delta.
    struct qb_clock clock;
    clock_manual_init(&clock, 1795312800000);
    ASSERT_EQ_INT(clock_now_ms(&clock), 1795312800000);
    ASSERT_EQ_INT(clock_now_ms(&clock), 1795312800000);
    clock_manual_advance(&clock, 1500);
    ASSERT_EQ_INT(clock_now_ms(&clock), 1795312801500);
    clock_manual_advance(&clock, -2500);
    ASSERT_EQ_INT(clock_now_ms(&clock), 1795312799000);
    ASSERT_EQ_INT(clock.fixed_ms, 1795312799000);
}

TEST(system_clock_is_wall_time)
{
    // The system clock agrees with time() to within a second or two and is
    // shared.
    // The machine's clock may be stepped between two readings (NTP, a
    // virtual machine's host): a reading that lands outside the window is
    // taken again, a few times and 20 ms apart, before it counts as a
    // failure. time() reads the kernel's coarse clock, which may still
    // show the last second a tick after the precise one has moved on: the
    // window's end allows one second more for it.
    struct qb_clock *clock = clock_system();
    ASSERT(clock == clock_system());
    bool agrees = false;
    for (int attempt = 0; attempt < 5 && !agrees; attempt++) {
        if (attempt > 0)
            nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
        int64_t before = (int64_t)time(NULL) * 1000;
        int64_t now = clock_now_ms(clock);
        int64_t after = (int64_t)time(NULL) * 1000 + 2000;
        agrees = now >= before && now <= after;
    }
    ASSERT(agrees);
}

TEST(monotonic_never_goes_back)
{
    // Durations are measured with the monotonic clock: successive readings
    // never decrease and a 10 ms sleep shows as at least 10 ms.
    int64_t last = clock_monotonic_ns();
    for (int i = 0; i < 100000; i++) {
        int64_t now = clock_monotonic_ns();
        ASSERT(now >= last);
        last = now;
    }
    struct timespec pause = {0, 10 * 1000 * 1000};
    int64_t start = clock_monotonic_ns();
    nanosleep(&pause, NULL);
    ASSERT(clock_monotonic_ns() - start >= 10 * 1000 * 1000);
}

TEST(rfc3339_known_dates)
{
    // Known instants, including the header's own example, leap days, a
    // century that is not a leap year, and the epoch.
    ASSERT_EQ_STR(rfc3339(0, 0), "1970-01-01T00:00:00+00:00");
    ASSERT_EQ_STR(rfc3339(1795312800000, 480), "2026-11-22T10:00:00+08:00");
    ASSERT_EQ_STR(rfc3339(1795312800000, 0), "2026-11-22T02:00:00+00:00");
    ASSERT_EQ_STR(rfc3339(1709210096000, 0), "2024-02-29T12:34:56+00:00");
    ASSERT_EQ_STR(rfc3339(951782400000, 0), "2000-02-29T00:00:00+00:00");
    ASSERT_EQ_STR(rfc3339(4107542400000 - 1000, 0), "2100-02-28T23:59:59+00:00");
    ASSERT_EQ_STR(rfc3339(4107542400000, 0), "2100-03-01T00:00:00+00:00");
}

TEST(rfc3339_drops_milliseconds_downwards)
{
    // Milliseconds are dropped by flooring, also before the epoch: -1 ms is
    // the last second of 1969, not 1970-01-01T00:00:00.
    ASSERT_EQ_STR(rfc3339(999, 0), "1970-01-01T00:00:00+00:00");
    ASSERT_EQ_STR(rfc3339(1000, 0), "1970-01-01T00:00:01+00:00");
    ASSERT_EQ_STR(rfc3339(-1, 0), "1969-12-31T23:59:59+00:00");
    ASSERT_EQ_STR(rfc3339(-1000, 0), "1969-12-31T23:59:59+00:00");
    ASSERT_EQ_STR(rfc3339(-1001, 0), "1969-12-31T23:59:58+00:00");
}

TEST(rfc3339_offsets)
{
    // The local time shifts by the offset, across day, month and year
    // boundaries, and the offset prints as +HH:MM or -HH:MM.
    ASSERT_EQ_STR(rfc3339(0, -330), "1969-12-31T18:30:00-05:30");
    ASSERT_EQ_STR(rfc3339(0, 345), "1970-01-01T05:45:00+05:45");
    ASSERT_EQ_STR(rfc3339(1795312800000, -600), "2026-11-21T16:00:00-10:00");
    ASSERT_EQ_STR(rfc3339(1795312800000, 24 * 60 - 1), "2026-11-23T01:59:00+23:59");
    ASSERT_EQ_STR(rfc3339(1795312800000, -(24 * 60 - 1)), "2026-11-21T02:01:00-23:59");
    ASSERT_EQ_STR(rfc3339(1704067199000, 480), "2024-01-01T07:59:59+08:00");
}

TEST(rfc3339_range)
{
    // Four-digit years only: the ends of 0001..9999 format, times past them
    // answer -1 and an empty string rather than malformed text.
    ASSERT_EQ_STR(rfc3339(253402214399000, 0), "9999-12-30T23:59:59+00:00");
    ASSERT_EQ_STR(rfc3339(-62135510400000, 0), "0001-01-02T00:00:00+00:00");
    char buf[32] = "junk";
    ASSERT_EQ_INT(clock_format_rfc3339(INT64_MAX, 0, buf, 32), -1);
    ASSERT_EQ_STR(buf, "");
    ASSERT_EQ_INT(clock_format_rfc3339(INT64_MIN, 0, buf, 32), -1);
    ASSERT_EQ_INT(clock_format_rfc3339(253402300799000 + 1000, 0, buf, 32), -1);
}

TEST(rfc3339_matches_gmtime_on_seeded_sample)
{
    // 200,000 seeded instants between 1900 and 2330 format exactly as
    // gmtime_r (an independent implementation) breaks them down.
    uint64_t state = seed;
    const int64_t low = -2208988800; /* 1900-01-01 */
    const int64_t span = 13569465600; /* to 2330 */
    for (int i = 0; i < 200000; i++) {
        state = state * 6364136223846793005u + 1442695040888963407u;
        int64_t seconds = low + (int64_t)((state >> 11) % (uint64_t)span);
        int offset = (int)((state >> 3) % (2 * 24 * 60 - 1)) - (24 * 60 - 1);
        time_t local = (time_t)(seconds + offset * 60);
        struct tm tm;
        ASSERT(gmtime_r(&local, &tm) != NULL);
        char want[64];
        int offset_abs = offset < 0 ? -offset : offset;
        snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 offset < 0 ? '-' : '+', offset_abs / 60, offset_abs % 60);
        int64_t ms = seconds * 1000 + (int64_t)(state % 1000);
        const char *got = rfc3339(ms, offset);
        if (strcmp(got, want) != 0)
            TEST_FAIL_("%" PRId64 " ms offset %d: \"%s\", gmtime says \"%s\"", ms, offset, got,
                       want);
    }
}

TEST(waits_read_as_people_say_them)
{
    // A rate-limited user is told how long to wait: "61709 s" is a riddle, "17 h 9 min" is not;
    // a part minute counts as a minute, so that nobody retries too early.
    const struct {
        int64_t seconds;
        const char *text;
    } cases[] = {{-5, "0 s"},    {0, "0 s"},          {45, "45 s"},          {119, "119 s"},
                 {120, "2 min"}, {121, "3 min"},      {7140, "119 min"},     {7141, "2 h"},
                 {7200, "2 h"},  {7201, "2 h 1 min"}, {61709, "17 h 9 min"}, {86400, "24 h"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[32];
        clock_format_wait(cases[i].seconds, text, sizeof text);
        ASSERT_EQ_STR(text, cases[i].text);
    }
}

int main(void)
{
    seed = test_seed();
    RUN(manual_clock_moves_only_when_told);
    RUN(system_clock_is_wall_time);
    RUN(monotonic_never_goes_back);
    RUN(rfc3339_known_dates);
    RUN(rfc3339_drops_milliseconds_downwards);
    RUN(rfc3339_offsets);
    RUN(rfc3339_range);
    RUN(rfc3339_matches_gmtime_on_seeded_sample);
    RUN(waits_read_as_people_say_them);
    return test_summary();
}

/*
 * clock.h — the injectable clock.
 *
 * Owns: the notion of "now". Every piece of code that needs wall time asks a
 * struct qb_clock, never time() or clock_gettime() directly, so tests and the
 * ledger's model test can drive time deterministically (expire a hold, age an
 * SMS code) without sleeping.
 */
#ifndef QB_BASE_CLOCK_H
#define QB_BASE_CLOCK_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct qb_clock {
    /* Milliseconds since the Unix epoch (UTC). */
    int64_t (*now_ms)(struct qb_clock *clock);
    /* Test clocks keep their time here; the system clock ignores it. Atomic:
     * a test moves it while the daemon's threads read it. */
    _Atomic int64_t fixed_ms;
};

/* The real clock (CLOCK_REALTIME). Shared, stateless, thread-safe. */
struct qb_clock *clock_system(void);

/* A manual clock for tests: now_ms answers fixed_ms, which the test moves
 * with clock_manual_advance. Reads may race with an advance (they see the
 * time before or after it); two concurrent advances are not supported. */
void clock_manual_init(struct qb_clock *clock, int64_t start_ms);
void clock_manual_advance(struct qb_clock *clock, int64_t delta_ms);

static inline int64_t clock_now_ms(struct qb_clock *clock) { return clock->now_ms(clock); }

/* Monotonic nanoseconds for measuring durations (latency, timeouts); never
 * stored, never compared across processes. */
int64_t clock_monotonic_ns(void);

/* Formats epoch milliseconds as RFC 3339 with the given UTC offset in
 * minutes ("2026-11-22T10:00:00+08:00"). buf_size >= 32. Returns length. */
int clock_format_rfc3339(int64_t at_ms, int offset_minutes, char *buf, int buf_size);

/* A wait of seconds as a person reads it, rounded up: "45 s", "12 min",
 * "17 h 9 min" (a minute is never shown shorter than it is). buf_size >= 32. */
void clock_format_wait(int64_t seconds, char *buf, size_t buf_size);

#endif

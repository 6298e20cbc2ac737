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
    /* Milliseconds at the pace of real time since some start, never set
     * back and never stepped (CLOCK_BOOTTIME for the system clock): what
     * a steady clock runs on while its source is behind. */
    int64_t (*elapsed_ms)(struct qb_clock *clock);
    /* Test clocks keep their time here; the system clock ignores it. Atomic:
     * a test moves it while the daemon's threads read it. */
    _Atomic int64_t fixed_ms;
    /* A manual clock's moves forward (its elapsed time); a steady clock's
     * lead: the most its source's time was ever ahead of its elapsed. */
    _Atomic int64_t moved_ms;
    struct qb_clock *source; /* a steady clock's; NULL for the others */
};

/* The real clock (CLOCK_REALTIME). Shared, stateless, thread-safe. */
struct qb_clock *clock_system(void);

/* A manual clock for tests: now_ms answers fixed_ms, which the test moves
 * with clock_manual_advance; its elapsed time is the sum of its moves
 * forward (a move back is a clock set back, in which no time passed). Reads may race with an
 * advance (they see the time before or after it); two concurrent advances are not supported. */
void clock_manual_init(struct qb_clock *clock, int64_t start_ms);
void clock_manual_advance(struct qb_clock *clock, int64_t delta_ms);
/* Sets a manual clock's time as a person or NTP sets a clock: no time
 * passes. */
void clock_manual_set(struct qb_clock *clock, int64_t at_ms);

static inline int64_t clock_now_ms(struct qb_clock *clock) { return clock->now_ms(clock); }

/* A clock that never goes back and never stops (the daemon's): source's
 * time, or, while source is behind the latest time steady has told (set
 * back by a wrong NTP step, or behind a floor), that time run on by the
 * time elapsed since. Once source has passed it, source's time again.
 * What a person waits for (an SMS code's five minutes, a lock, a session,
 * a bank query due) runs out after that long whatever the system clock
 * did. Thread-safe: every thread may read it. */
void clock_steady_init(struct qb_clock *steady, struct qb_clock *source);
/* Makes steady tell no less than floor_ms from now on, run on from it as
 * time passes (the newest time the ledger wrote before a restart, when the
 * system clock is behind it). */
void clock_steady_floor(struct qb_clock *steady, int64_t floor_ms);
/* The time as the system keeps it (a steady clock's source's): for the
 * timestamps other systems check against their own clocks (a /v3
 * signature's, a certificate's validity), never for what Qianbao judges
 * itself. */
int64_t clock_wall_ms(struct qb_clock *clock);

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

/*
 * ratelimit.h — counting a caller's events in fixed windows, in memory.
 *
 * Owns: struct ratelimit, a bounded table of who did something how often
 * lately, for limits that protect others rather than money (how many phone
 * numbers one user may look up in an hour). Money's limits are in the
 * ledger, inside the payment's transaction; these are not durable: a
 * restart forgets them, which only gives a caller a fresh window.
 *
 * Each key (a user id, say) has a window that starts at its first event
 * and lasts window_ms; up to max events in it are allowed, more are
 * refused until it ends. The table has a fixed number of slots, in sets of
 * four chosen by a keyed hash (SipHash under a random key, so no caller can
 * pick keys that share a set). A key whose window ended frees its slot; when
 * a set holds four live windows, a new key takes the one that started
 * first, so the table never grows and a flood of keys only shortens
 * memory, never refuses anyone wrongly. Size it for the keys active in one
 * window.
 *
 * Thread-safe: one mutex, held for a few loads and stores.
 */
#ifndef QB_BASE_RATELIMIT_H
#define QB_BASE_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ratelimit;

/* A table of slots (rounded up to a power of two, at least 4) for windows
 * of window_ms allowing max events each; NULL when memory runs out. */
struct ratelimit *ratelimit_new(size_t slots, int64_t window_ms, int64_t max);
void ratelimit_free(struct ratelimit *limit);

/* Counts one event of key at now_ms. True when it is within the limit;
 * false when it is not (it is not counted then), with *until_ms, when
 * given, the time its window ends and the key may act again. */
bool ratelimit_take(struct ratelimit *limit, const char *key, int64_t now_ms, int64_t *until_ms);

/* Whether key has used up its window at now_ms, counting nothing: true
 * when its next ratelimit_take would be refused, with *until_ms (when
 * given) the window's end. For limits on failures: the caller asks before
 * it tries, and takes only when the try fails. */
bool ratelimit_spent(struct ratelimit *limit, const char *key, int64_t now_ms, int64_t *until_ms);

#endif

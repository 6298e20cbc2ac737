/*
 * rand.h — the injectable randomness source and unguessable ids.
 *
 * Owns: every random byte Qianbao uses. Production code draws from the
 * system CSPRNG (libsodium's randombytes); tests may install a seeded
 * deterministic source so that a failing run can be replayed from its seed.
 * Secrets (tokens, SMS codes, seeds, keys) must come from qb_rand_system or
 * a source passed in by the caller, never from rand() or the clock.
 */
#ifndef QB_BASE_RAND_H
#define QB_BASE_RAND_H

#include <stddef.h>
#include <stdint.h>

struct qb_rand {
    void (*fill)(struct qb_rand *rand, void *buf, size_t size);
    /* State of the deterministic source (a ChaCha20 keystream position). */
    uint8_t key[32];
    uint64_t counter;
};

/* The system CSPRNG. Shared and thread-safe; small draws come from a
 * per-thread buffer of its bytes (rand.c), fork-safe. */
struct qb_rand *rand_system(void);

/* A deterministic source: the same seed gives the same bytes, on every
 * machine. For tests and simulations only. Not thread-safe. */
void rand_seeded_init(struct qb_rand *rand, uint64_t seed);

static inline void rand_fill(struct qb_rand *rand, void *buf, size_t size)
{
    rand->fill(rand, buf, size);
}

uint64_t rand_u64(struct qb_rand *rand);
/* Uniform in [0, bound) without modulo bias; bound must be > 0. */
uint64_t rand_below(struct qb_rand *rand, uint64_t bound);

/* Unguessable public ids: a short type prefix, '_', then 128 random bits in
 * lower-case Crockford base32 (26 characters): "tr_5x0kq...". */
#define ID_TEXT_SIZE_MAX 48
/* Writes prefix + '_' + 26 chars + NUL into buf; prefix is at most 8 chars of
 * [a-z0-9]. Returns the length written. */
size_t id_new(struct qb_rand *rand, const char *prefix, char *buf, size_t buf_size);
/* The same shape, for rows written at a high rate: the first 48 of the 128
 * bits are now_ms, the other 80 random, so ids made later sort later and a
 * unique index on them grows at its end instead of at a random page.
 * 80 random bits still make an id unguessable. */
size_t id_new_ordered(struct qb_rand *rand, int64_t now_ms, const char *prefix, char *buf,
                      size_t buf_size);
/* The same shape, for rows keyed by an integer: the first 63 of the 128
 * bits are seq (0 <= seq < 2^63), the other 65 random, so that the row is
 * found by the seq read back from its id (id_sequence). A seq that starts
 * with a time in milliseconds shifted left keeps id_new_ordered's order. */
size_t id_new_sequenced(struct qb_rand *rand, int64_t seq, const char *prefix, char *buf,
                        size_t buf_size);
/* The first 63 bits of an id with this prefix: the seq of an id made by
 * id_new_sequenced, a number of no meaning for other ids. -1 when text
 * does not have the shape of an id with this prefix (id_is_valid). */
int64_t id_sequence(const char *text, size_t text_size, const char *prefix);
/* True when text has the shape of an id with this prefix (not whether it
 * exists). */
int id_is_valid(const char *text, size_t text_size, const char *prefix);

#endif

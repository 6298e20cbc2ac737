/*
 * buf.h — a growable byte buffer with a hard cap.
 *
 * Owns: struct buf, the one dynamic buffer of Qianbao (request bodies,
 * responses, encodings). Every buffer has a size_max fixed at init; growing
 * past it is an error (QB_E_TOO_LARGE), never unbounded growth. The contents
 * are always NUL-terminated (the NUL is not counted in size) so text can be
 * handed to C string functions.
 *
 * Lifetime: buf_init, then any appends, then buf_release (which frees and
 * re-initialises it, so a released buf can be reused).
 */
#ifndef QB_BASE_BUF_H
#define QB_BASE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"
#include "base/error.h"

struct buf {
    char *data;      /* NULL until the first append */
    size_t size;     /* bytes used, excluding the trailing NUL */
    size_t capacity; /* bytes allocated */
    size_t size_max; /* the cap: size never exceeds it */
    bool secret;     /* buf_init_secret: its memory wiped before it is given back */
};

void buf_init(struct buf *buf, size_t size_max);
/* The same for a buffer that may hold secrets (a request's body, an answer
 * with a token): every block it gives back, as it grows and at release,
 * is wiped first, so that no copy is left behind in freed memory. */
void buf_init_secret(struct buf *buf, size_t size_max);
void buf_release(struct buf *buf);
/* Forgets the contents but keeps the memory. */
void buf_reset(struct buf *buf);

/* Makes room for extra more bytes (and the NUL), so that appends of that
 * much allocate nothing. QB_E_TOO_LARGE past the cap, QB_E_INTERNAL when
 * memory runs out; the buffer is unchanged either way. */
QB_MUST_USE enum qb_error buf_reserve(struct buf *buf, size_t extra);
QB_MUST_USE enum qb_error buf_append(struct buf *buf, const void *data, size_t size);
QB_MUST_USE enum qb_error buf_append_str(struct buf *buf, const char *text);
QB_MUST_USE enum qb_error buf_printf(struct buf *buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Little-endian fixed-width integers, for canonical binary encodings. */
QB_MUST_USE enum qb_error buf_append_u64le(struct buf *buf, uint64_t value);
QB_MUST_USE enum qb_error buf_append_u32le(struct buf *buf, uint32_t value);

static inline uint64_t buf_read_u64le(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
}
static inline void buf_write_u64le(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

#endif

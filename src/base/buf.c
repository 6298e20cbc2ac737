/*
 * buf.c — the capped growable buffer.
 *
 * Capacity doubles (amortised O(1) appends) but is clamped to size_max + 1,
 * so a buffer never holds more memory than its cap allows. Every failing call
 * leaves the buffer exactly as it was: the size check comes before any
 * allocation, and realloc keeps the old block on failure. A secret one's
 * blocks are wiped before they are freed.
 */
#include "base/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_CAPACITY_MIN 64

void buf_init(struct buf *buf, size_t size_max)
{
    QB_ASSERT(buf != NULL);
    QB_ASSERT(size_max < SIZE_MAX); /* room for the NUL */
    buf->data = NULL;
    buf->size = 0;
    buf->capacity = 0;
    buf->size_max = size_max;
    buf->secret = false;
}

void buf_init_secret(struct buf *buf, size_t size_max)
{
    buf_init(buf, size_max);
    buf->secret = true;
}

void buf_release(struct buf *buf)
{
    QB_ASSERT(buf != NULL);
    bool secret = buf->secret;
    if (secret && buf->data != NULL)
        explicit_bzero(buf->data, buf->capacity);
    free(buf->data);
    buf_init(buf, buf->size_max);
    buf->secret = secret;
}

void buf_reset(struct buf *buf)
{
    QB_ASSERT(buf != NULL);
    buf->size = 0;
    if (buf->data != NULL)
        buf->data[0] = '\0';
}

enum qb_error buf_reserve(struct buf *buf, size_t extra)
{
    QB_ASSERT(buf->size <= buf->size_max);
    if (extra > buf->size_max - buf->size)
        return QB_E_TOO_LARGE;
    size_t needed = buf->size + extra + 1;
    if (needed <= buf->capacity)
        return QB_OK;
    size_t capacity = buf->capacity < BUF_CAPACITY_MIN ? BUF_CAPACITY_MIN : buf->capacity;
    while (capacity < needed && capacity <= SIZE_MAX / 2)
        capacity *= 2;
    if (capacity > buf->size_max + 1)
        capacity = buf->size_max + 1; /* needed <= size_max + 1, checked above */
    if (capacity < needed)
        capacity = needed;
    char *data;
    if (buf->secret && buf->data != NULL) {
        /* Not realloc, which may leave the old block's bytes behind. */
        data = malloc(capacity);
        if (data == NULL)
            return QB_E_INTERNAL;
        memcpy(data, buf->data, buf->size + 1);
        explicit_bzero(buf->data, buf->capacity);
        free(buf->data);
    } else {
        data = realloc(buf->data, capacity);
        if (data == NULL)
            return QB_E_INTERNAL;
    }
    if (buf->data == NULL)
        data[0] = '\0';
    buf->data = data;
    buf->capacity = capacity;
    return QB_OK;
}

enum qb_error buf_append(struct buf *buf, const void *data, size_t size)
{
    QB_ASSERT(buf != NULL);
    QB_ASSERT(data != NULL || size == 0);
    /* Room for size and the NUL also keeps size under the cap, which the
     * capacity never passes by more than the NUL. */
    if (buf->data == NULL || size >= buf->capacity - buf->size) {
        enum qb_error err = buf_reserve(buf, size);
        if (err != QB_OK)
            return err;
    }
    if (size > 0)
        memcpy(buf->data + buf->size, data, size);
    buf->size += size;
    buf->data[buf->size] = '\0';
    QB_ASSERT(buf->size <= buf->size_max && buf->size < buf->capacity);
    return QB_OK;
}

enum qb_error buf_append_str(struct buf *buf, const char *text)
{
    QB_ASSERT(text != NULL);
    return buf_append(buf, text, strlen(text));
}

/* Formats into the spare capacity first; when that is too small, grows to
 * the exact size vsnprintf reported and formats again. */
enum qb_error buf_printf(struct buf *buf, const char *fmt, ...)
{
    QB_ASSERT(buf != NULL && fmt != NULL);
    va_list ap;
    va_start(ap, fmt);
    size_t spare = buf->data == NULL ? 0 : buf->capacity - buf->size;
    int n = vsnprintf(spare > 0 ? buf->data + buf->size : NULL, spare, fmt, ap);
    va_end(ap);
    if (n < 0) {
        if (buf->data != NULL)
            buf->data[buf->size] = '\0';
        return QB_E_INTERNAL;
    }
    size_t len = (size_t)n;
    if (len < spare) {
        buf->size += len;
        return QB_OK;
    }
    if (buf->data != NULL)
        buf->data[buf->size] = '\0'; /* undo the partial write */
    enum qb_error err = buf_reserve(buf, len);
    if (err != QB_OK)
        return err;
    va_start(ap, fmt);
    int again = vsnprintf(buf->data + buf->size, buf->capacity - buf->size, fmt, ap);
    va_end(ap);
    QB_ASSERT(again == n);
    buf->size += len;
    QB_ASSERT(buf->size <= buf->size_max && buf->data[buf->size] == '\0');
    return QB_OK;
}

enum qb_error buf_append_u64le(struct buf *buf, uint64_t value)
{
    unsigned char bytes[8];
    buf_write_u64le(bytes, value);
    return buf_append(buf, bytes, sizeof bytes);
}

enum qb_error buf_append_u32le(struct buf *buf, uint32_t value)
{
    unsigned char bytes[4];
    for (int i = 0; i < 4; i++)
        bytes[i] = (unsigned char)(value >> (8 * i));
    return buf_append(buf, bytes, sizeof bytes);
}

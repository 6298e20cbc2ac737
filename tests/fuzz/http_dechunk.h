/*
 * http_dechunk.h — a chunked body fed to http_wire_chunked_step the way a
 * server feeds it, for the wire tests (tests/unit/http/test_wire.c) and the
 * fuzz target (fuzz_http_wire.c): piece_size bytes arrive at a time, what
 * is not consumed stays buffered, every call sees an exact copy of what is
 * buffered (so an over-read is caught), and the decoder is called again
 * while it answers PARTIAL and made progress.
 */
#ifndef QB_TESTS_HTTP_DECHUNK_H
#define QB_TESTS_HTTP_DECHUNK_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/wire.h"

struct http_dechunk {
    enum http_wire_result result;
    size_t used;      /* bytes consumed in all */
    size_t body_size; /* bytes of body decoded */
    char *body;       /* the caller's, body_capacity bytes */
    size_t body_capacity;
};

/* Decodes in[0..size). NULL when every invariant held, else what broke: an
 * answer outside the enum, more consumed than given, data outside the
 * bytes consumed, more body than body_capacity, or no end (progress is a
 * byte a call, plus one idle call an arrival: more calls is a loop). */
static inline const char *http_dechunk(const char *in, size_t size, size_t piece_size,
                                       struct http_dechunk *out)
{
    struct http_wire_chunked c;
    memset(&c, 0, sizeof c);
    out->result = HTTP_WIRE_PARTIAL;
    out->used = 0;
    out->body_size = 0;
    size_t arrived = 0;
    size_t call_count = 0;
    while (arrived < size) {
        arrived = arrived + piece_size < size ? arrived + piece_size : size;
        size_t buffered = arrived - out->used;
        char *copy = malloc(buffered > 0 ? buffered : 1);
        if (copy == NULL)
            abort();
        memcpy(copy, in + out->used, buffered);
        size_t at = 0;
        const char *broken = NULL;
        for (;;) {
            if (++call_count > 2 * size + 2) {
                broken = "http_wire_chunked_step called more often than the bytes allow";
                break;
            }
            size_t consumed = SIZE_MAX, data_size = SIZE_MAX;
            const char *data = NULL;
            out->result =
                http_wire_chunked_step(&c, copy + at, buffered - at, &consumed, &data, &data_size);
            if (out->result == HTTP_WIRE_BAD)
                break;
            if (out->result != HTTP_WIRE_OK && out->result != HTTP_WIRE_PARTIAL) {
                broken = "http_wire_chunked_step answered outside its enum";
                break;
            }
            if (consumed > buffered - at) {
                broken = "consumed more bytes than it was given";
                break;
            }
            if (data_size > 0) {
                if (data < copy + at || data_size > consumed ||
                    data > copy + at + consumed - data_size) {
                    broken = "data outside the bytes consumed";
                    break;
                }
                if (out->body_size + data_size > out->body_capacity) {
                    broken = "more body than the caller made room for";
                    break;
                }
                memcpy(out->body + out->body_size, data, data_size);
                out->body_size += data_size;
            }
            at += consumed;
            if (out->result == HTTP_WIRE_OK || (consumed == 0 && data_size == 0))
                break;
        }
        free(copy);
        out->used += at;
        if (broken != NULL)
            return broken;
        if (out->result != HTTP_WIRE_PARTIAL)
            return NULL;
    }
    return NULL;
}

#endif

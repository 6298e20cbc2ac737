/*
 * fuzz_json_out.c — the answers the ledger's writer builds with json_out
 * (base/json_out.h) against jansson's: for any sequence of members, nested
 * objects and texts, json_out writes the bytes json_dumps(JSON_COMPACT)
 * writes for the same object built in the same order, or fails exactly
 * where jansson refuses (a text or key that is not UTF-8, nesting too deep).
 * A memo or a name in an answer is the user's text: it must not be able to
 * end its string early or make the answer something else.
 *
 * The input is a list of operations, each a byte (its value modulo 5: a
 * string member, an integer member, a null member, a nested object, the
 * end of the innermost object) followed by its key and, for a string, its
 * value, each ended by a NUL byte; an integer takes the 8 bytes after its
 * key. Keys already in the object are skipped: no caller repeats one, and
 * jansson would keep one of them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/json_out.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next NUL-ended text of the input, or NULL once it is used up. */
static const char *S_text(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *nul = memchr(*p, '\0', (size_t)(end - *p));
    if (nul == NULL)
        return NULL;
    const char *text = (const char *)*p;
    *p = nul + 1;
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf buf;
    buf_init(&buf, 1024 * 1024);
    struct json_out out;
    json_out_begin(&out, &buf);
    json_t *stack[JSON_OUT_DEPTH_MAX + 1];
    int depth = 1;
    stack[0] = json_object();
    if (stack[0] == NULL)
        abort();
    json_t *root = stack[0];
    bool refused = false; /* jansson refused, or the nesting went too deep */
    const uint8_t *p = data, *end = data + size;
    while (p < end && !refused) {
        uint8_t op = *p++ % 5;
        if (op == 4) {
            if (depth == 1)
                continue; /* the top level closes last, below */
            json_out_end(&out);
            depth--;
            continue;
        }
        const char *key = S_text(&p, end);
        if (key == NULL)
            break;
        json_t *object = stack[depth - 1];
        if (json_object_get(object, key) != NULL)
            continue;
        json_t *value = NULL;
        switch (op) {
        case 0: {
            const char *text = S_text(&p, end);
            if (text == NULL)
                goto done;
            json_out_string(&out, key, text);
            value = json_string(text);
            break;
        }
        case 1: {
            if (end - p < 8)
                goto done;
            uint64_t bits = 0;
            for (int i = 0; i < 8; i++)
                bits = bits << 8 | *p++;
            json_out_int(&out, key, (int64_t)bits);
            value = json_integer((json_int_t)(int64_t)bits);
            break;
        }
        case 2:
            json_out_null(&out, key);
            value = json_null();
            break;
        default:
            json_out_object(&out, key);
            value = json_object();
            break;
        }
        if (value == NULL || json_object_set_new(object, key, value) != 0) {
            refused = true; /* not UTF-8 */
            break;
        }
        if (op == 3) {
            if (depth == JSON_OUT_DEPTH_MAX) {
                refused = true;
                break;
            }
            stack[depth++] = value;
        }
    }
done:
    for (; depth > 0 && !refused; depth--)
        json_out_end(&out);
    enum qb_error err = json_out_done(&out);
    if (refused) {
        if (err == QB_OK) {
            fprintf(stderr, "fuzz_json_out: jansson refused what json_out wrote: %.*s\n",
                    (int)buf.size, (const char *)buf.data);
            abort();
        }
    } else {
        char *want = json_dumps(root, JSON_COMPACT);
        if (want == NULL)
            abort();
        if (err != QB_OK || buf.size != strlen(want) || memcmp(buf.data, want, buf.size) != 0) {
            fprintf(stderr, "fuzz_json_out: json_out %s: %.*s\njansson: %s\n",
                    err == QB_OK ? "wrote" : "failed", (int)buf.size, (const char *)buf.data, want);
            abort();
        }
        free(want);
    }
    json_decref(root);
    buf_release(&buf);
    return 0;
}

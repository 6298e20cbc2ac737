/*
 * json_out.h — a JSON object written straight into a buf.
 *
 * For the answers the ledger's writer makes on its hot paths (a transfer's
 * 201): the writer is the thread every payment waits for, and building a
 * jansson object, dumping it and freeing it was a tenth of its time. The
 * bytes are those jansson's json_dumps(JSON_COMPACT) writes for the same
 * object built in the same order (tests/unit/base/test_json_out.c checks
 * them against jansson), so an answer does not change with the way it was
 * made, and a stored answer replays byte for byte either way.
 *
 * Usage: json_out_begin, then keys with values in order (a nested object
 * between json_out_object and json_out_end), json_out_end, json_out_done.
 * Errors are sticky: a string that is not valid UTF-8, a buf at its cap,
 * nesting past JSON_OUT_DEPTH_MAX or unbalanced ends make json_out_done
 * answer QB_E_INTERNAL, as a failed jansson call does for the callers.
 */
#ifndef QB_BASE_JSON_OUT_H
#define QB_BASE_JSON_OUT_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/error.h"

#define JSON_OUT_DEPTH_MAX 8

struct json_out {
    struct buf *buf;
    int depth;                          /* objects open */
    bool has_member[JSON_OUT_DEPTH_MAX]; /* whether the open object has a member yet */
    bool failed;
};

/* Opens the top-level object, appended to buf. */
void json_out_begin(struct json_out *out, struct buf *buf);
/* A member whose value is an object: members follow until json_out_end. */
void json_out_object(struct json_out *out, const char *key);
/* Closes the innermost open object. */
void json_out_end(struct json_out *out);
/* A string member; value NULL writes null. */
void json_out_string(struct json_out *out, const char *key, const char *value);
void json_out_int(struct json_out *out, const char *key, int64_t value);
void json_out_null(struct json_out *out, const char *key);
/* QB_OK when every object was closed and nothing failed. */
QB_MUST_USE enum qb_error json_out_done(const struct json_out *out);

#endif

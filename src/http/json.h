/*
 * json.h — strict parsing and validation of JSON request bodies.
 *
 * Owns: the one way a handler reads a JSON body. A body is refused before
 * any handler logic runs when it is not what the route's field table says:
 *
 *   UNSUPPORTED_MEDIA_TYPE (415) Content-Type is not application/json
 *   INVALID_JSON (400)    not JSON, not an object at the top, a duplicate key,
 *                         invalid UTF-8, nesting deeper than HTTP_JSON_DEPTH_MAX
 *   PARAM_ERROR (400)     an unknown field, a missing required field, a wrong
 *                         type, a string longer than its size_max or holding
 *                         a NUL or control character, an integer outside
 *                         [min, max], an array longer than its count_max
 *
 * The message names the field ("unknown field \"phnoe\""), never its value.
 *
 * To validate a new body: write a const table of struct http_field, one
 * line per field, and call http_json_body; read the fields with
 * json_object_get on the answer (types are already checked).
 */
#ifndef QB_HTTP_JSON_H
#define QB_HTTP_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/assert.h"
#include "base/error.h"

#define HTTP_JSON_DEPTH_MAX 16
#define HTTP_JSON_MESSAGE_SIZE_MAX 160

enum http_field_type {
    HTTP_FIELD_STRING,  /* text that may be shown: base/text.h's rule (text_is_clean) */
    HTTP_FIELD_SECRET,  /* a string compared, never shown (a login password): controls refused,
                           invisible formatting characters kept, as a password set before the
                           rule for shown text may hold one */
    HTTP_FIELD_OPAQUE,  /* a string its route reads strictly itself, never shown as sent (a
                           scanned QR code's text): any character but NUL, since telling what
                           is not the route's (a business card's lines) is the route's to do */
    HTTP_FIELD_INTEGER, /* a JSON integer (no fraction, no exponent) */
    HTTP_FIELD_INTEGER_OR_NULL, /* the same, or null, which the route gives a meaning (a limit
                                   removed): the one type whose null is kept */
    HTTP_FIELD_BOOLEAN,
    HTTP_FIELD_OBJECT, /* checked for type only; validate its members with http_json_object */
    HTTP_FIELD_ARRAY,
};

struct http_field {
    const char *name;
    enum http_field_type type;
    bool required;
    size_t size_max;   /* STRING, SECRET, OPAQUE: bytes (UTF-8); ARRAY: elements; 0 means the
                          default (256) */
    int64_t min;       /* INTEGER: inclusive bounds; both 0 means any int64 */
    int64_t max;
};

/* Validates the request body of `content_type` against fields and answers
 * the parsed object (the caller owns one reference: json_decref). On error
 * *out is NULL and message (HTTP_JSON_MESSAGE_SIZE_MAX bytes) says what is
 * wrong without quoting the client's values. An empty body is "{}". */
QB_MUST_USE enum qb_error http_json_parse(const char *content_type, const char *body,
                                          size_t body_size, const struct http_field *fields,
                                          size_t field_count, json_t **out, char *message);

/* Validates an object already parsed (a nested member) the same way. Both
 * drop the members given as null but for the fields that keep it: an
 * optional field's null is its absence, as client libraries write an
 * unset one, so no route can take a null for a value. */
QB_MUST_USE enum qb_error http_json_object(json_t *object, const struct http_field *fields,
                                           size_t field_count, char *message);

/* The string member `name` of object, or NULL when absent or null. */
const char *http_json_string(const json_t *object, const char *name);

#endif

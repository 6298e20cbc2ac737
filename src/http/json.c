/*
 * json.c — strict parsing and validation of JSON request bodies.
 *
 * The checks run cheapest and most general first: the media type, then a
 * pre-scan of the nesting depth (jansson recurses while it parses, so a body
 * of a million '[' must be refused before it gets there), then jansson with
 * duplicate keys refused, then the route's field table. jansson already
 * refuses invalid UTF-8, raw control characters inside strings, a "\u0000"
 * escape (no JSON_ALLOW_NUL) and integers beyond int64; the table check adds
 * what is ours to decide: which fields exist, their types, sizes and bounds,
 * and escaped control characters ("\n", "\u001b") that no field of ours
 * accepts.
 *
 * Messages name the field, never its value: they go back to the client and
 * may end up in logs.
 */
#include "http/json.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/assert.h"
#include "base/text.h"

#define S_SIZE_MAX_DEFAULT 256

/* True for "application/json", optionally followed by "; charset=utf-8"
 * (any case, optional spaces around the ';' and '='). */
static bool S_content_type_ok(const char *content_type)
{
    static const char media[] = "application/json";
    if (content_type == NULL || strncasecmp(content_type, media, sizeof media - 1) != 0)
        return false;
    const char *p = content_type + sizeof media - 1;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0')
        return true;
    if (*p != ';')
        return false;
    p++;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncasecmp(p, "charset", 7) != 0)
        return false;
    p += 7;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != '=')
        return false;
    p++;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '"') {
        if (strncasecmp(p, "\"utf-8\"", 7) != 0)
            return false;
        p += 7;
    } else {
        if (strncasecmp(p, "utf-8", 5) != 0)
            return false;
        p += 5;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    return *p == '\0';
}

/* The deepest nesting of arrays and objects in text, counting only brackets
 * outside strings; stops counting once past depth_max. */
static int S_depth(const char *text, size_t size, int depth_max)
{
    int depth = 0;
    int deepest = 0;
    bool in_string = false;
    for (size_t i = 0; i < size; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++; /* the escaped character cannot end the string */
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            depth++;
            if (depth > deepest)
                deepest = depth;
            if (deepest > depth_max)
                return deepest;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return deepest;
}

/* True when the UTF-8 text holds a C0 control character, DEL or a C1
 * control character (U+0080..U+009F, encoded 0xC2 0x80..0x9F). */
static bool S_has_control(const char *text, size_t size)
{
    const unsigned char *p = (const unsigned char *)text;
    for (size_t i = 0; i < size; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f)
            return true;
        if (p[i] == 0xc2 && i + 1 < size && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)
            return true;
    }
    return false;
}

static const char *S_type_name(enum http_field_type type)
{
    switch (type) {
    case HTTP_FIELD_STRING:
    case HTTP_FIELD_SECRET:
    case HTTP_FIELD_OPAQUE:
        return "a string";
    case HTTP_FIELD_INTEGER:
    case HTTP_FIELD_INTEGER_OR_NULL:
        return "an integer";
    case HTTP_FIELD_BOOLEAN:
        return "true or false";
    case HTTP_FIELD_OBJECT:
        return "an object";
    case HTTP_FIELD_ARRAY:
        return "an array";
    }
    return "of another type";
}

/* Checks one present, non-null value against its field. */
static enum qb_error S_field_check(const struct http_field *field, const json_t *value,
                                   char *message)
{
    size_t size_max = field->size_max != 0 ? field->size_max : S_SIZE_MAX_DEFAULT;
    switch (field->type) {
    case HTTP_FIELD_STRING:
    case HTTP_FIELD_SECRET:
    case HTTP_FIELD_OPAQUE: {
        if (!json_is_string(value))
            break;
        size_t size = json_string_length(value);
        const char *text = json_string_value(value);
        bool clean = field->type == HTTP_FIELD_OPAQUE   ? true
                     : field->type == HTTP_FIELD_SECRET ? !S_has_control(text, size)
                                                        : text_is_clean(text, size);
        if (strlen(text) != size || !clean) {
            snprintf(message, HTTP_JSON_MESSAGE_SIZE_MAX,
                     "field \"%s\" holds a control or invisible formatting character", field->name);
            return QB_E_PARAM;
        }
        if (size > size_max) {
            snprintf(message, HTTP_JSON_MESSAGE_SIZE_MAX, "field \"%s\" is longer than %zu bytes",
                     field->name, size_max);
            return QB_E_PARAM;
        }
        return QB_OK;
    }
    case HTTP_FIELD_INTEGER:
    case HTTP_FIELD_INTEGER_OR_NULL: {
        if (!json_is_integer(value))
            break;
        json_int_t number = json_integer_value(value);
        if ((field->min != 0 || field->max != 0) && (number < field->min || number > field->max)) {
            snprintf(message, HTTP_JSON_MESSAGE_SIZE_MAX,
                     "field \"%s\" must be between %lld and %lld", field->name,
                     (long long)field->min, (long long)field->max);
            return QB_E_PARAM;
        }
        return QB_OK;
    }
    case HTTP_FIELD_BOOLEAN:
        if (!json_is_boolean(value))
            break;
        return QB_OK;
    case HTTP_FIELD_OBJECT:
        if (!json_is_object(value))
            break;
        return QB_OK;
    case HTTP_FIELD_ARRAY:
        if (!json_is_array(value))
            break;
        if (json_array_size(value) > size_max) {
            snprintf(message, HTTP_JSON_MESSAGE_SIZE_MAX, "field \"%s\" has more than %zu elements",
                     field->name, size_max);
            return QB_E_PARAM;
        }
        return QB_OK;
    }
    snprintf(message, HTTP_JSON_MESSAGE_SIZE_MAX, "field \"%s\" must be %s", field->name,
             S_type_name(field->type));
    return QB_E_PARAM;
}

enum qb_error http_json_object(json_t *object, const struct http_field *fields, size_t field_count,
                               char *message)
{
    QB_ASSERT(message != NULL);
    QB_ASSERT(fields != NULL || field_count == 0);
    message[0] = '\0';
    if (!json_is_object(object)) {
        snprintf(message, HTTP_JSON_MESSAGE_SIZE_MAX, "the body must be a JSON object");
        return QB_E_PARAM;
    }

    /* Step 1: every member must be a field of the table. */
    const char *key;
    json_t *value;
    json_object_foreach(object, key, value)
    {
        bool known = false;
        for (size_t i = 0; i < field_count && !known; i++)
            known = strcmp(fields[i].name, key) == 0;
        if (!known) {
            /* The key is the client's text: print it only when it is short
             * and plain, so the message cannot carry anything odd. */
            size_t key_size = strlen(key);
            bool plain = key_size > 0 && key_size <= 32 &&
                         strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789_-.") == key_size;
            if (plain)
                snprintf(message, HTTP_JSON_MESSAGE_SIZE_MAX, "unknown field \"%s\"", key);
            else
                snprintf(message, HTTP_JSON_MESSAGE_SIZE_MAX, "unknown field");
            return QB_E_PARAM;
        }
    }

    /* Step 2: each field, in table order, so the first complaint is stable. */
    for (size_t i = 0; i < field_count; i++) {
        const json_t *member = json_object_get(object, fields[i].name);
        if (member == NULL || json_is_null(member)) {
            if (fields[i].required) {
                snprintf(message, HTTP_JSON_MESSAGE_SIZE_MAX, "field \"%s\" is required",
                         fields[i].name);
                return QB_E_PARAM;
            }
            continue;
        }
        enum qb_error err = S_field_check(&fields[i], member, message);
        if (err != QB_OK)
            return err;
    }

    /* Step 3: an optional field given as null is not given: drop it, so
     * that no route can take a null for a value (json_object_get answers
     * it, not NULL) and a body's fingerprint is the same either way. */
    for (size_t i = 0; i < field_count; i++)
        if (fields[i].type != HTTP_FIELD_INTEGER_OR_NULL &&
            json_is_null(json_object_get(object, fields[i].name)))
            json_object_del(object, fields[i].name);
    return QB_OK;
}

enum qb_error http_json_parse(const char *content_type, const char *body, size_t body_size,
                              const struct http_field *fields, size_t field_count, json_t **out,
                              char *message)
{
    QB_ASSERT(out != NULL && message != NULL);
    QB_ASSERT(body != NULL || body_size == 0);
    *out = NULL;
    message[0] = '\0';

    /* Step 1: an empty body is an empty object, whatever its type says. */
    if (body_size == 0) {
        json_t *empty = json_object();
        if (empty == NULL)
            return QB_E_INTERNAL;
        enum qb_error err = http_json_object(empty, fields, field_count, message);
        if (err != QB_OK) {
            json_decref(empty);
            return err;
        }
        *out = empty;
        return QB_OK;
    }

    /* Step 2: the media type. */
    if (!S_content_type_ok(content_type)) {
        snprintf(message, HTTP_JSON_MESSAGE_SIZE_MAX, "the body must be application/json (UTF-8)");
        return QB_E_MEDIA_TYPE;
    }

    /* Step 3: the shape of the text, before jansson recurses into it. */
    if (memchr(body, '\0', body_size) != NULL) {
        snprintf(message, HTTP_JSON_MESSAGE_SIZE_MAX, "the body holds a NUL byte");
        return QB_E_BAD_JSON;
    }
    if (S_depth(body, body_size, HTTP_JSON_DEPTH_MAX) > HTTP_JSON_DEPTH_MAX) {
        snprintf(message, HTTP_JSON_MESSAGE_SIZE_MAX, "the body nests deeper than %d levels",
                 HTTP_JSON_DEPTH_MAX);
        return QB_E_BAD_JSON;
    }

    /* Step 4: parse. jansson's error text may quote the input; ours does not. */
    json_error_t error;
    /* Any value, so that null or "x" is told it is no object, as [] is. */
    json_t *root = json_loadb(body, body_size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &error);
    if (root == NULL) {
        if (json_error_code(&error) == json_error_duplicate_key)
            snprintf(message, HTTP_JSON_MESSAGE_SIZE_MAX, "the body has a duplicate key");
        else if (json_error_code(&error) == json_error_numeric_overflow)
            snprintf(message, HTTP_JSON_MESSAGE_SIZE_MAX,
                     "the body holds a number out of range (line %d, column %d)", error.line,
                     error.column);
        else
            snprintf(message, HTTP_JSON_MESSAGE_SIZE_MAX,
                     "the body is not valid JSON (line %d, column %d)", error.line, error.column);
        return QB_E_BAD_JSON;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        snprintf(message, HTTP_JSON_MESSAGE_SIZE_MAX, "the body must be a JSON object");
        return QB_E_BAD_JSON;
    }

    /* Step 5: the route's table. */
    enum qb_error err = http_json_object(root, fields, field_count, message);
    if (err != QB_OK) {
        json_decref(root);
        return err;
    }
    *out = root;
    return QB_OK;
}

const char *http_json_string(const json_t *object, const char *name)
{
    const json_t *value = json_object_get(object, name);
    return json_is_string(value) ? json_string_value(value) : NULL;
}

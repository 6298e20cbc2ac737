/*
 * json_out.c — see json_out.h.
 */
#include <string.h>

#include "base/json_out.h"

static void put(struct json_out *out, const char *data, size_t size)
{
    if (!out->failed && buf_append(out->buf, data, size) != QB_OK)
        out->failed = true;
}

/* The length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF), or 0. */
static size_t utf8_sequence(const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        return (p[1] & 0xc0) == 0x80 ? 2 : 0;
    if (p[0] >= 0xe0 && p[0] <= 0xef) {
        unsigned char low = p[0] == 0xe0 ? 0xa0 : 0x80, high = p[0] == 0xed ? 0x9f : 0xbf;
        return p[1] >= low && p[1] <= high && (p[2] & 0xc0) == 0x80 ? 3 : 0;
    }
    if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        unsigned char low = p[0] == 0xf0 ? 0x90 : 0x80, high = p[0] == 0xf4 ? 0x8f : 0xbf;
        return p[1] >= low && p[1] <= high && (p[2] & 0xc0) == 0x80 && (p[3] & 0xc0) == 0x80
                   ? 4
                   : 0;
    }
    return 0;
}

/* text as a JSON string: '"' and '\' escaped, control characters as \b \f
 * \n \r \t or \u00XX, everything else as it is (jansson's compact form). */
static void put_string(struct json_out *out, const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    put(out, "\"", 1);
    const unsigned char *p = (const unsigned char *)text;
    const unsigned char *run = p; /* bytes copied as they are */
    while (*p != '\0' && !out->failed) {
        size_t size = utf8_sequence(p);
        if (size == 0) {
            out->failed = true;
            return;
        }
        if (size > 1 || (*p >= 0x20 && *p != '"' && *p != '\\')) {
            p += size;
            continue;
        }
        put(out, (const char *)run, (size_t)(p - run));
        char escape[6] = {'\\', 0, 0, 0, 0, 0};
        size_t escape_size = 2;
        switch (*p) {
        case '"': escape[1] = '"'; break;
        case '\\': escape[1] = '\\'; break;
        case '\b': escape[1] = 'b'; break;
        case '\f': escape[1] = 'f'; break;
        case '\n': escape[1] = 'n'; break;
        case '\r': escape[1] = 'r'; break;
        case '\t': escape[1] = 't'; break;
        default:
            memcpy(escape + 1, "u00", 3);
            escape[4] = hex[*p >> 4];
            escape[5] = hex[*p & 0xf];
            escape_size = 6;
        }
        put(out, escape, escape_size);
        run = ++p;
    }
    put(out, (const char *)run, (size_t)(p - run));
    put(out, "\"", 1);
}

/* The comma before a member after the first, and the key. */
static void put_key(struct json_out *out, const char *key)
{
    if (out->depth < 1) {
        out->failed = true;
        return;
    }
    if (out->has_member[out->depth - 1])
        put(out, ",", 1);
    out->has_member[out->depth - 1] = true;
    put_string(out, key);
    put(out, ":", 1);
}

static void open_object(struct json_out *out)
{
    if (out->depth >= JSON_OUT_DEPTH_MAX) {
        out->failed = true;
        return;
    }
    out->has_member[out->depth++] = false;
    put(out, "{", 1);
}

void json_out_begin(struct json_out *out, struct buf *buf)
{
    memset(out, 0, sizeof *out);
    out->buf = buf;
    open_object(out);
}

void json_out_object(struct json_out *out, const char *key)
{
    put_key(out, key);
    open_object(out);
}

void json_out_end(struct json_out *out)
{
    if (out->depth < 1) {
        out->failed = true;
        return;
    }
    out->depth--;
    put(out, "}", 1);
}

void json_out_string(struct json_out *out, const char *key, const char *value)
{
    put_key(out, key);
    if (value != NULL)
        put_string(out, value);
    else
        put(out, "null", 4);
}

void json_out_int(struct json_out *out, const char *key, int64_t value)
{
    put_key(out, key);
    char digits[24];
    size_t at = sizeof digits;
    /* Negated as unsigned, so that INT64_MIN has its digits too. */
    uint64_t magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
    do {
        digits[--at] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude != 0);
    if (value < 0)
        digits[--at] = '-';
    put(out, digits + at, sizeof digits - at);
}

void json_out_null(struct json_out *out, const char *key)
{
    put_key(out, key);
    put(out, "null", 4);
}

enum qb_error json_out_done(const struct json_out *out)
{
    return out->failed || out->depth != 0 ? QB_E_INTERNAL : QB_OK;
}

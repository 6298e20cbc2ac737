/*
 * fuzz_http_wire.c — raw request bytes: the wire.c grammar never reads or
 * writes outside the buffers it is given, answers the same however the
 * bytes arrive, and whatever it accepts is what wire.h promises.
 *
 * The input is one request as it might arrive on a socket: a head, then a
 * chunked body. Every buffer handed to wire.c is a malloc'd copy of exactly
 * the size passed, so AddressSanitizer catches a read past size, and any
 * broken invariant aborts:
 *  - http_wire_head_end: the same answer on the whole input as on prefixes
 *    grown a byte at a time with *scanned carried, found at that size and
 *    not before; http_wire_no_line exactly when no LF has arrived after
 *    the empty lines before the request line;
 *  - http_wire_parse_head: only its documented answers; on OK, every
 *    pointer inside the head and NUL-terminated there, tokens of token
 *    characters, values without control characters or outer whitespace,
 *    http_wire_header finding each field's first occurrence;
 *  - http_wire_list_has and http_wire_parse_length on every field value,
 *    against reference implementations;
 *  - http_wire_chunked_step: progress on every call that answers PARTIAL
 *    and is called again, consumed within the input, data inside the bytes
 *    consumed, and the same answer, body and size fed whole or in pieces;
 *  - http_wire_unescape against a reference decoder, http_wire_query with
 *    small outputs, never writing past them.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/wire.h"
#include "http_dechunk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Beyond this, growing prefixes a byte at a time (quadratic) is skipped. */
#define S_GROW_SIZE_MAX 4096
#define S_OUT_SIZE_SMALL 8
#define S_GUARD_SIZE 16

static char *S_copy(const char *data, size_t size)
{
    char *copy = malloc(size > 0 ? size : 1);
    if (copy == NULL)
        abort();
    memcpy(copy, data, size);
    return copy;
}

static bool S_is_tchar(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static bool S_is_token(const char *s, size_t size_max)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++)
        if (!S_is_tchar((unsigned char)s[n]))
            return false;
    return n > 0 && n <= size_max;
}

static bool S_equal_caseless(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return *a == *b;
}

/* True when s lies inside [base, base + size) with its NUL there too. */
static bool S_inside(const char *s, const char *base, size_t size)
{
    return s != NULL && s >= base && s < base + size &&
           memchr(s, '\0', (size_t)(base + size - s)) != NULL;
}

/* --- head ---------------------------------------------------------------- */

static size_t S_check_head_end(const char *data, size_t size)
{
    char *whole = S_copy(data, size);
    size_t scanned = 0;
    size_t end = http_wire_head_end(whole, size, &scanned);
    if (end > size || scanned > size)
        abort();
    /* No line past the empty ones before the request line: an LF among
     * those does not make the request line complete (414, not 431). */
    size_t start = 0;
    while (start < size && (whole[start] == '\r' || whole[start] == '\n'))
        start++;
    if (http_wire_no_line(whole, size) != (memchr(whole + start, '\n', size - start) == NULL))
        abort();
    if (end > 0 && http_wire_no_line(whole, size))
        abort();
    free(whole);

    /* The same head, arriving a byte at a time into a buffer that is
     * reallocated to exactly what has arrived. */
    if (size > S_GROW_SIZE_MAX)
        return end;
    scanned = 0;
    for (size_t arrived = 0; arrived <= size; arrived++) {
        char *prefix = S_copy(data, arrived);
        size_t found = http_wire_head_end(prefix, arrived, &scanned);
        free(prefix);
        if (scanned > arrived)
            abort();
        if (found != 0) {
            if (found != end || arrived != end)
                abort(); /* found too early, or not the same head */
            return end;
        }
    }
    if (end != 0)
        abort(); /* the whole found a head the prefixes never did */
    return end;
}

/* The reference of http_wire_list_has: elements split at commas, trimmed
 * of spaces and tabs, compared caselessly. */
static bool S_list_has_reference(const char *value, const char *token)
{
    size_t token_size = strlen(token);
    for (const char *p = value;;) {
        size_t element_size = strcspn(p, ",");
        const char *start = p, *stop = p + element_size;
        while (start < stop && (*start == ' ' || *start == '\t'))
            start++;
        while (stop > start && (stop[-1] == ' ' || stop[-1] == '\t'))
            stop--;
        if ((size_t)(stop - start) == token_size) {
            size_t k = 0;
            while (k < token_size && (start[k] | 0x20) == (token[k] | 0x20))
                k++;
            if (k == token_size)
                return true;
        }
        if (p[element_size] == '\0')
            return false;
        p += element_size + 1;
    }
}

/* Checks the value helpers the server runs over field values. */
static void S_check_value(const char *value)
{
    static const char *const tokens[] = {"close", "chunked", "keep-alive"};
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++)
        if (http_wire_list_has(value, tokens[i]) != S_list_has_reference(value, tokens[i]))
            abort();
    size_t size = strlen(value);
    bool digits = size > 0 && strspn(value, "0123456789") == size;
    uint64_t length = 0;
    if (http_wire_parse_length(value, &length) != digits)
        abort();
    if (digits) {
        /* The value, or UINT64_MAX once it would pass it. */
        uint64_t expected = 0;
        for (size_t i = 0; i < size; i++) {
            unsigned digit = (unsigned)(value[i] - '0');
            if (expected > UINT64_MAX / 10 || expected * 10 > UINT64_MAX - digit)
                expected = UINT64_MAX;
            else
                expected = expected * 10 + digit;
        }
        if (length != expected)
            abort();
    }
}

static void S_check_parsed(const struct http_wire_head *head, const char *base, size_t size)
{
    if (!S_inside(head->method, base, size) || !S_inside(head->target, base, size))
        abort();
    if (!S_is_token(head->method, HTTP_WIRE_METHOD_SIZE_MAX))
        abort();
    if (head->target[0] == '\0')
        abort();
    for (const char *p = head->target; *p != '\0'; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            abort();
    if (head->minor_version != 0 && head->minor_version != 1)
        abort();
    if (head->header_count < 0 || head->header_count > HTTP_WIRE_HEADERS_MAX)
        abort();
    for (int i = 0; i < head->header_count; i++) {
        const struct http_wire_header *h = &head->headers[i];
        if (!S_inside(h->name, base, size) || !S_inside(h->value, base, size))
            abort();
        if (!S_is_token(h->name, size))
            abort();
        size_t n = strlen(h->value);
        for (size_t k = 0; k < n; k++) {
            unsigned char ch = (unsigned char)h->value[k];
            if ((ch < ' ' && ch != '\t') || ch == 0x7f)
                abort(); /* CR, LF and every control but HTAB */
        }
        if (n > 0 && (h->value[0] == ' ' || h->value[0] == '\t' || h->value[n - 1] == ' ' ||
                      h->value[n - 1] == '\t'))
            abort();
        /* http_wire_header answers the first field of this name. */
        int first = 0;
        while (!S_equal_caseless(head->headers[first].name, h->name))
            first++;
        if (http_wire_header(head, h->name) != head->headers[first].value)
            abort();
        S_check_value(h->value);
    }
}

/* --- chunked body -------------------------------------------------------- */

/* Decodes in[0..size) arriving piece_size bytes at a time (http_dechunk.h). */
static void S_dechunk(const char *in, size_t size, size_t piece_size, struct http_dechunk *out)
{
    out->body_capacity = size;
    if (http_dechunk(in, size, piece_size, out) != NULL)
        abort();
}

/* Decodes in whole, a byte at a time and piece_size bytes at a time. */
static void S_check_chunked(const char *in, size_t size, size_t piece_size)
{
    struct http_dechunk whole, pieces;
    whole.body = malloc(size > 0 ? size : 1);
    pieces.body = malloc(size > 0 ? size : 1);
    if (whole.body == NULL || pieces.body == NULL)
        abort();
    S_dechunk(in, size, size > 0 ? size : 1, &whole);
    if (whole.used > size)
        abort();
    size_t piece_sizes[] = {1, piece_size};
    for (size_t i = size <= S_GROW_SIZE_MAX ? 0 : 1; i < 2; i++) {
        /* The answer does not depend on how the bytes arrive. */
        S_dechunk(in, size, piece_sizes[i], &pieces);
        if (pieces.result != whole.result)
            abort();
        if (whole.result != HTTP_WIRE_BAD &&
            (pieces.body_size != whole.body_size ||
             memcmp(pieces.body, whole.body, whole.body_size) != 0))
            abort();
        if (whole.result == HTTP_WIRE_OK && pieces.used != whole.used)
            abort();
    }
    free(whole.body);
    free(pieces.body);
}

/* --- query --------------------------------------------------------------- */

/* The reference decoder, wire.h's words for http_wire_unescape written
 * apart from wire.c: everything decoded into scratch first (strtol for the
 * escapes), the verdict after. */
static bool S_unescape_reference(const char *text, size_t size, bool plus_is_space, char *out,
                                 size_t out_size)
{
    char *scratch = malloc(size + 1);
    if (scratch == NULL)
        abort();
    size_t n = 0;
    const char *p = text;
    const char *end = text + size;
    while (p < end) {
        if (p[0] == '%' && end - p >= 3 && isxdigit((unsigned char)p[1]) &&
            isxdigit((unsigned char)p[2])) {
            char hex[3] = {p[1], p[2], '\0'};
            scratch[n++] = (char)strtol(hex, NULL, 16);
            p += 3;
        } else {
            scratch[n++] = *p == '+' && plus_is_space ? ' ' : *p;
            p++;
        }
    }
    bool ok = memchr(scratch, '\0', n) == NULL && n < out_size;
    if (ok) {
        memcpy(out, scratch, n);
        out[n] = '\0';
    }
    free(scratch);
    return ok;
}

/* Runs http_wire_unescape into out_size bytes followed by a guard, and
 * compares it with the reference. */
static void S_check_unescape(const char *text, size_t size, bool plus_is_space, size_t out_size)
{
    char *in = S_copy(text, size);
    char *out = malloc(out_size + S_GUARD_SIZE);
    char *expected = malloc(out_size + 1);
    if (out == NULL || expected == NULL)
        abort();
    memset(out, 'Z', out_size + S_GUARD_SIZE);
    bool ok = http_wire_unescape(in, size, plus_is_space, out, out_size);
    bool expected_ok = S_unescape_reference(in, size, plus_is_space, expected, out_size);
    if (ok != expected_ok)
        abort();
    if (ok && strcmp(out, expected) != 0)
        abort();
    for (size_t i = out_size; i < out_size + S_GUARD_SIZE; i++)
        if (out[i] != 'Z')
            abort();
    free(in);
    free(out);
    free(expected);
}

/* Runs http_wire_query into out_size bytes followed by a guard; answers
 * what it answered. */
static bool S_query(const char *query, const char *name, char *out, size_t out_size)
{
    memset(out, 'Z', out_size + S_GUARD_SIZE);
    bool ok = http_wire_query(query, name, out, out_size);
    for (size_t i = out_size; i < out_size + S_GUARD_SIZE; i++)
        if (out[i] != 'Z')
            abort();
    if (ok && memchr(out, '\0', out_size) == NULL)
        abort();
    return ok;
}

static void S_check_query(const char *target)
{
    const char *mark = strchr(target, '?');
    if (mark == NULL)
        return;
    size_t query_size = strlen(mark + 1);
    char *query = S_copy(mark + 1, query_size + 1);
    S_check_unescape(query, query_size, true, S_OUT_SIZE_SMALL);
    S_check_unescape(query, query_size, false, query_size + 1);

    size_t big_size = query_size + 1;
    char small[S_OUT_SIZE_SMALL + S_GUARD_SIZE];
    char *big = malloc(big_size + S_GUARD_SIZE);
    if (big == NULL)
        abort();
    static const char *const names[] = {"a", "id", "amount", "A"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        bool small_ok = S_query(query, names[i], small, S_OUT_SIZE_SMALL);
        bool big_ok = S_query(query, names[i], big, big_size);
        /* A value never unescapes longer than it was sent: what fits in a
         * small output fits in one as long as the query. */
        if (small_ok && (!big_ok || strcmp(small, big) != 0))
            abort();
    }
    /* A query taken as plain names no argument twice: no two of its names
     * are the same bytes (decoded, they would be the same name). */
    if (http_wire_query_is_plain(query)) {
        const char *keys[HTTP_WIRE_QUERY_ARGS_MAX];
        size_t sizes[HTTP_WIRE_QUERY_ARGS_MAX];
        size_t count = 0;
        for (const char *p = query; *p != '\0';) {
            size_t arg = strcspn(p, "&");
            size_t key = strcspn(p, "=&");
            if (key > 0) {
                if (count == HTTP_WIRE_QUERY_ARGS_MAX)
                    abort(); /* more arguments than a plain query has */
                for (size_t i = 0; i < count; i++)
                    if (sizes[i] == key && memcmp(keys[i], p, key) == 0)
                        abort();
                keys[count] = p;
                sizes[count++] = key;
            }
            p += arg + (p[arg] == '&');
        }
    }

    /* The first named argument is found, its value being the reference
     * unescape of what follows its '=', unless it holds %00. */
    const char *arg = query;
    while (*arg == '&')
        arg++;
    size_t arg_size = strcspn(arg, "&");
    size_t name_size = strcspn(arg, "=&");
    char name[64];
    if (name_size > 0 && name_size < sizeof name &&
        S_unescape_reference(arg, name_size, true, name, sizeof name)) {
        const char *value = name_size < arg_size ? arg + name_size + 1 : arg + arg_size;
        size_t value_size = (size_t)(arg + arg_size - value);
        char *expected = malloc(big_size);
        if (expected == NULL)
            abort();
        bool expected_ok = S_unescape_reference(value, value_size, true, expected, big_size);
        bool ok = S_query(query, name, big, big_size);
        if (ok != expected_ok || (ok && strcmp(big, expected) != 0))
            abort();
        free(expected);
    }
    free(big);
    free(query);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    size_t end = S_check_head_end(text, size);
    if (end == 0)
        return 0;

    char *head_buf = S_copy(text, end);
    struct http_wire_head head;
    enum http_wire_result r = http_wire_parse_head(head_buf, end, &head);
    if (r != HTTP_WIRE_OK && r != HTTP_WIRE_BAD && r != HTTP_WIRE_VERSION &&
        r != HTTP_WIRE_TOO_MANY)
        abort();
    if (r == HTTP_WIRE_OK) {
        S_check_parsed(&head, head_buf, end);
        S_check_query(head.target);
    }
    free(head_buf);

    S_check_chunked(text + end, size - end, size % 7 + 2);
    return 0;
}

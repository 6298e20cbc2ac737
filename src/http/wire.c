/*
 * wire.c — HTTP/1.1 request heads, chunked bodies and escapes (wire.h).
 */
#include "http/wire.h"

#include <string.h>
#include <strings.h>

/* tchar of RFC 9110: the characters of a token (method, field name). */
static bool S_is_token(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return true;
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A field value may hold visible characters, spaces, tabs and obs-text. */
static bool S_is_value_char(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

static int S_hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t http_wire_head_end(const char *data, size_t size, size_t *scanned)
{
    /* Empty lines before the request line belong to the head (RFC 9112
     * 2.2), so the head's end is the first empty line after a non-empty one. */
    size_t i = *scanned;
    size_t start = 0;
    while (start < size && (data[start] == '\r' || data[start] == '\n'))
        start++;
    if (i < start)
        i = start;
    for (; i < size; i++) {
        if (data[i] != '\n')
            continue;
        /* An empty line: LF right after the previous LF, or after CR LF. */
        size_t j = i;
        if (j > start && data[j - 1] == '\r')
            j--;
        if (j > start && data[j - 1] == '\n')
            return i + 1;
    }
    /* Rescan the last two bytes next time: a line end may straddle calls. */
    *scanned = size > start + 2 ? size - 2 : start;
    return 0;
}

bool http_wire_no_line(const char *data, size_t size)
{
    size_t start = 0;
    while (start < size && (data[start] == '\r' || data[start] == '\n'))
        start++;
    return memchr(data + start, '\n', size - start) == NULL;
}

/* The end of the line starting at p (before CR LF or LF), or NULL when a
 * CR stands alone. *next is where the next line starts. */
static char *S_line_end(char *p, char *end, char **next)
{
    char *lf = memchr(p, '\n', (size_t)(end - p));
    if (lf == NULL)
        return NULL;
    *next = lf + 1;
    char *e = lf > p && lf[-1] == '\r' ? lf - 1 : lf;
    if (memchr(p, '\r', (size_t)(e - p)) != NULL)
        return NULL;
    return e;
}

static enum http_wire_result S_request_line(char *p, char *e, struct http_wire_head *out)
{
    char *sp1 = memchr(p, ' ', (size_t)(e - p));
    if (sp1 == NULL || sp1 == p || sp1 - p > HTTP_WIRE_METHOD_SIZE_MAX)
        return HTTP_WIRE_BAD;
    for (char *c = p; c < sp1; c++) {
        if (!S_is_token((unsigned char)*c))
            return HTTP_WIRE_BAD;
    }
    char *target = sp1 + 1;
    char *sp2 = memchr(target, ' ', (size_t)(e - target));
    if (sp2 == NULL || sp2 == target)
        return HTTP_WIRE_BAD;
    for (char *c = target; c < sp2; c++) {
        unsigned char ch = (unsigned char)*c;
        if (ch <= 0x20 || ch == 0x7f)
            return HTTP_WIRE_BAD;
    }
    char *version = sp2 + 1;
    size_t version_size = (size_t)(e - version);
    if (version_size < 5 || memcmp(version, "HTTP/", 5) != 0)
        return HTTP_WIRE_BAD;
    if (version_size == 8 && memcmp(version, "HTTP/1.", 7) == 0 &&
        (version[7] == '0' || version[7] == '1'))
        out->minor_version = version[7] - '0';
    else
        return memchr(version, ' ', version_size) != NULL ? HTTP_WIRE_BAD : HTTP_WIRE_VERSION;
    *sp1 = '\0';
    *sp2 = '\0';
    out->method = p;
    out->target = target;
    return HTTP_WIRE_OK;
}

enum http_wire_result http_wire_parse_head(char *data, size_t head_size, struct http_wire_head *out)
{
    char *p = data;
    char *end = data + head_size;
    out->header_count = 0;
    while (p < end && (*p == '\r' || *p == '\n')) {
        if (*p == '\r' && (p + 1 == end || p[1] != '\n'))
            return HTTP_WIRE_BAD;
        p++;
    }
    char *next;
    char *e = S_line_end(p, end, &next);
    if (e == NULL || e == p)
        return HTTP_WIRE_BAD;
    enum http_wire_result result = S_request_line(p, e, out);
    if (result != HTTP_WIRE_OK)
        return result;
    *e = '\0';
    for (p = next;; p = next) {
        e = S_line_end(p, end, &next);
        if (e == NULL)
            return HTTP_WIRE_BAD;
        if (e == p)
            return HTTP_WIRE_OK; /* the empty line: the head's end */
        if (*p == ' ' || *p == '\t')
            return HTTP_WIRE_BAD; /* obs-fold */
        char *colon = p;
        while (colon < e && S_is_token((unsigned char)*colon))
            colon++;
        if (colon == p || colon == e || *colon != ':')
            return HTTP_WIRE_BAD;
        char *value = colon + 1;
        while (value < e && (*value == ' ' || *value == '\t'))
            value++;
        char *value_end = e;
        while (value_end > value && (value_end[-1] == ' ' || value_end[-1] == '\t'))
            value_end--;
        for (char *c = value; c < value_end; c++) {
            if (!S_is_value_char((unsigned char)*c))
                return HTTP_WIRE_BAD;
        }
        if (out->header_count == HTTP_WIRE_HEADERS_MAX)
            return HTTP_WIRE_TOO_MANY;
        *colon = '\0';
        *value_end = '\0';
        out->headers[out->header_count].name = p;
        out->headers[out->header_count].value = value;
        out->header_count++;
    }
}

const char *http_wire_header(const struct http_wire_head *head, const char *name)
{
    for (int i = 0; i < head->header_count; i++) {
        if (strcasecmp(head->headers[i].name, name) == 0)
            return head->headers[i].value;
    }
    return NULL;
}

bool http_wire_list_has(const char *value, const char *token)
{
    size_t token_size = strlen(token);
    const char *p = value;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *start = p;
        while (*p != '\0' && *p != ',')
            p++;
        const char *stop = p;
        while (stop > start && (stop[-1] == ' ' || stop[-1] == '\t'))
            stop--;
        if ((size_t)(stop - start) == token_size && strncasecmp(start, token, token_size) == 0)
            return true;
    }
    return false;
}

bool http_wire_host_valid(const char *host)
{
    static const char name_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789-._~!$&'()*+,;=%";
    size_t size;
    if (host[0] == '[') {
        /* IPv6address or IPvFuture ("v" hex "." then unreserved,
         * sub-delims and ':'): checked for their characters, not parsed. */
        size = 1 + strspn(host + 1, host[1] == 'v' || host[1] == 'V'
                                        ? "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          "0123456789-._~!$&'()*+,;=:"
                                        : "0123456789abcdefABCDEF:.");
        if (size == 1 || host[size] != ']')
            return false;
        size++;
    } else {
        size = strspn(host, name_chars);
    }
    if (host[size] == '\0')
        return true;
    if (host[size] != ':')
        return false;
    const char *port = host + size + 1;
    return strspn(port, "0123456789") == strlen(port);
}

bool http_wire_parse_length(const char *text, uint64_t *out)
{
    size_t size = strlen(text);
    if (size == 0 || strspn(text, "0123456789") != size)
        return false;
    uint64_t value = 0;
    for (size_t i = 0; i < size; i++) {
        uint64_t digit = (uint64_t)(text[i] - '0');
        value = value > (UINT64_MAX - digit) / 10 ? UINT64_MAX : value * 10 + digit;
    }
    *out = value;
    return true;
}

/* Chunked framing, RFC 9112 7.1, with CR LF line ends only: the body's
 * length is decided here, so nothing two readers could take two ways. */
enum {
    S_CHUNK_SIZE = 0, /* hex digits of the size */
    S_CHUNK_BWS,      /* whitespace after the size, before ';' or the line's end */
    S_CHUNK_EXT_NAME, /* after ';': whitespace, then a token starts the extension */
    S_CHUNK_EXT,      /* the rest of an extension, up to the line's end */
    S_CHUNK_LINE_LF,  /* the LF after the size line's CR */
    S_CHUNK_DATA,
    S_CHUNK_DATA_CR, /* the CR LF after a chunk's data */
    S_CHUNK_DATA_LF,
    S_CHUNK_TRAILER,    /* a trailer line, or the empty line ending the body */
    S_CHUNK_TRAILER_LF, /* the LF after a trailer line's CR */
    S_CHUNK_DONE,
};

enum http_wire_result http_wire_chunked_step(struct http_wire_chunked *c, const char *in,
                                             size_t in_size, size_t *consumed, const char **data,
                                             size_t *data_size)
{
    size_t i = 0;
    *data = NULL;
    *data_size = 0;
    while (i < in_size && c->state != S_CHUNK_DONE) {
        unsigned char ch = (unsigned char)in[i];
        if (c->state == S_CHUNK_DATA) {
            size_t n = in_size - i;
            if (n > c->remaining)
                n = (size_t)c->remaining;
            *data = in + i;
            *data_size = n;
            c->remaining -= n;
            if (c->remaining == 0)
                c->state = S_CHUNK_DATA_CR;
            *consumed = i + n;
            return HTTP_WIRE_PARTIAL;
        }
        i++;
        if (c->state <= S_CHUNK_LINE_LF && ++c->line_size > HTTP_WIRE_CHUNK_LINE_MAX)
            return HTTP_WIRE_BAD;
        if (c->state >= S_CHUNK_TRAILER && ++c->trailer_size > HTTP_WIRE_TRAILER_SIZE_MAX)
            return HTTP_WIRE_BAD;
        switch (c->state) {
        case S_CHUNK_SIZE: {
            int digit = S_hex(ch);
            if (digit >= 0) {
                if (c->remaining > (INT64_MAX - (uint64_t)digit) / 16)
                    return HTTP_WIRE_BAD; /* past 2^63 - 1: no body is that long */
                c->remaining = c->remaining * 16 + (uint64_t)digit;
                break;
            }
            if (c->line_size == 1) /* no digit before it */
                return HTTP_WIRE_BAD;
            __attribute__((fallthrough)); /* the first byte after the digits */
        }
        case S_CHUNK_BWS:
            if (ch == ' ' || ch == '\t')
                c->state = S_CHUNK_BWS;
            else if (ch == ';')
                c->state = S_CHUNK_EXT_NAME;
            else if (ch == '\r')
                c->state = S_CHUNK_LINE_LF;
            else
                return HTTP_WIRE_BAD;
            break;
        case S_CHUNK_EXT_NAME:
            if (S_is_token(ch))
                c->state = S_CHUNK_EXT;
            else if (ch != ' ' && ch != '\t')
                return HTTP_WIRE_BAD;
            break;
        case S_CHUNK_EXT:
            if (ch == '\r')
                c->state = S_CHUNK_LINE_LF;
            else if (!S_is_value_char(ch))
                return HTTP_WIRE_BAD;
            break;
        case S_CHUNK_LINE_LF:
            if (ch != '\n')
                return HTTP_WIRE_BAD;
            c->line_size = 0;
            c->state = c->remaining > 0 ? S_CHUNK_DATA : S_CHUNK_TRAILER;
            break;
        case S_CHUNK_DATA_CR:
            if (ch != '\r')
                return HTTP_WIRE_BAD;
            c->state = S_CHUNK_DATA_LF;
            break;
        case S_CHUNK_DATA_LF:
            if (ch != '\n')
                return HTTP_WIRE_BAD;
            c->state = S_CHUNK_SIZE;
            break;
        case S_CHUNK_TRAILER:
            if (ch == '\r')
                c->state = S_CHUNK_TRAILER_LF;
            else if (S_is_value_char(ch))
                c->line_size++;
            else
                return HTTP_WIRE_BAD;
            break;
        case S_CHUNK_TRAILER_LF:
            if (ch != '\n')
                return HTTP_WIRE_BAD;
            if (c->line_size == 0)
                c->state = S_CHUNK_DONE;
            c->line_size = 0;
            if (c->state != S_CHUNK_DONE)
                c->state = S_CHUNK_TRAILER;
            break;
        default:
            return HTTP_WIRE_BAD;
        }
    }
    *consumed = i;
    return c->state == S_CHUNK_DONE ? HTTP_WIRE_OK : HTTP_WIRE_PARTIAL;
}

bool http_wire_unescape(const char *text, size_t size, bool plus_is_space, char *out,
                        size_t out_size)
{
    size_t o = 0;
    for (size_t i = 0; i < size; i++) {
        char ch = text[i];
        if (ch == '%' && i + 2 < size && S_hex((unsigned char)text[i + 1]) >= 0 &&
            S_hex((unsigned char)text[i + 2]) >= 0) {
            ch = (char)(S_hex((unsigned char)text[i + 1]) * 16 + S_hex((unsigned char)text[i + 2]));
            i += 2;
        } else if (ch == '+' && plus_is_space) {
            ch = ' ';
        }
        if (ch == '\0' || o + 1 >= out_size)
            return false;
        out[o++] = ch;
    }
    if (o >= out_size)
        return false;
    out[o] = '\0';
    return true;
}

/* One argument of a query string: its name's bytes (escaped; empty for
 * "&&" or "=1") and its value's (NULL without '='). */
struct S_query_arg {
    const char *name;
    size_t name_size;
    const char *value;
    size_t value_size;
};

/* The argument at *p into *a, and *p past it; false at the end. */
static bool S_query_arg_next(const char **p, struct S_query_arg *a)
{
    if (**p == '\0')
        return false;
    const char *amp = strchr(*p, '&');
    const char *stop = amp != NULL ? amp : *p + strlen(*p);
    const char *eq = memchr(*p, '=', (size_t)(stop - *p));
    a->name = *p;
    a->name_size = (size_t)((eq != NULL ? eq : stop) - *p);
    a->value = eq != NULL ? eq + 1 : NULL;
    a->value_size = eq != NULL ? (size_t)(stop - eq - 1) : 0;
    *p = amp != NULL ? amp + 1 : stop;
    return true;
}

bool http_wire_path_is_plain(const char *path)
{
    for (const char *p = strchr(path, '%'); p != NULL; p = strchr(p + 1, '%')) {
        if (p[1] == '0' && p[2] == '0')
            return false;
        if (p[1] == '2' && (p[2] == 'F' || p[2] == 'f'))
            return false;
    }
    return true;
}

bool http_wire_query_is_plain(const char *query)
{
    if (strstr(query, "%00") != NULL)
        return false;
    char names[HTTP_WIRE_QUERY_ARGS_MAX][256];
    int count = 0;
    struct S_query_arg a;
    for (const char *p = query; S_query_arg_next(&p, &a);) {
        if (a.name_size == 0)
            continue;
        if (count == HTTP_WIRE_QUERY_ARGS_MAX ||
            !http_wire_unescape(a.name, a.name_size, true, names[count], sizeof names[count]))
            return false;
        for (int i = 0; i < count; i++)
            if (strcasecmp(names[i], names[count]) == 0)
                return false;
        count++;
    }
    return true;
}

/* Whether name (NUL-terminated) is one of the space-separated names of list. */
static bool S_name_listed(const char *list, const char *name)
{
    size_t size = strlen(name);
    for (const char *p = list; *p != '\0';) {
        const char *space = strchr(p, ' ');
        size_t item = space != NULL ? (size_t)(space - p) : strlen(p);
        if (item == size && size > 0 && strncasecmp(p, name, size) == 0)
            return true;
        p += item + (space != NULL ? 1 : 0);
    }
    return false;
}

bool http_wire_query_names_in(const char *query, const char *allowed, char *unknown,
                              size_t unknown_size)
{
    char key[256];
    struct S_query_arg a;
    for (const char *p = query; S_query_arg_next(&p, &a);) {
        if (a.name_size == 0)
            continue;
        /* A name that does not unescape (too long) is no route's. */
        if (!http_wire_unescape(a.name, a.name_size, true, key, sizeof key))
            key[0] = '\0';
        if (key[0] != '\0' && S_name_listed(allowed, key))
            continue;
        if (unknown_size > 0) {
            size_t size = strlen(key) < unknown_size ? strlen(key) : unknown_size - 1;
            memcpy(unknown, key, size);
            unknown[size] = '\0';
        }
        return false;
    }
    return true;
}

bool http_wire_query(const char *query, const char *name, char *out, size_t out_size)
{
    size_t name_size = strlen(name);
    char key[256];
    struct S_query_arg a;
    for (const char *p = query; S_query_arg_next(&p, &a);) {
        if (!http_wire_unescape(a.name, a.name_size, true, key, sizeof key) ||
            strlen(key) != name_size || strcasecmp(key, name) != 0)
            continue;
        if (a.value == NULL) {
            if (out_size == 0)
                return false;
            out[0] = '\0';
            return true;
        }
        return http_wire_unescape(a.value, a.value_size, true, out, out_size);
    }
    return false;
}

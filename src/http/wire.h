/*
 * wire.h — HTTP/1.1 as it arrives on a socket: request heads, chunked
 * bodies, percent-escapes and query strings (RFC 9112, RFC 3986).
 *
 * Owns: the grammar, nothing else. Pure functions over caller's buffers:
 * no allocation, no I/O, no global state, safe from any thread. The server
 * (server.c) decides what a parsed request means (framing, keep-alive,
 * limits); this file only says whether the bytes are well formed.
 *
 * Strict where laxness lets one request be read two ways (request
 * smuggling): a header name with whitespace before its colon, a folded
 * header line, a control character other than a tab in a value, a chunk-size line that is
 * not hex digits and extensions, a chunked body's line ending without its
 * CR, are refused. Lenient where RFC 9112 allows it: a line of the head may
 * end in a bare LF, and empty lines before the request line are skipped.
 *
 * Must never: read past size, write outside the head it parses (and only
 * once the head is complete), or accept a value holding a NUL.
 */
#ifndef QB_HTTP_WIRE_H
#define QB_HTTP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_WIRE_HEADERS_MAX 100       /* header fields in one request; more is 431 */
#define HTTP_WIRE_METHOD_SIZE_MAX 15    /* bytes of a method name */
#define HTTP_WIRE_CHUNK_LINE_MAX 1024   /* bytes of a chunk-size line, extensions included */
#define HTTP_WIRE_TRAILER_SIZE_MAX 4096 /* bytes of a chunked body's trailer section */

enum http_wire_result {
    HTTP_WIRE_OK,       /* complete and well formed */
    HTTP_WIRE_PARTIAL,  /* well formed so far: more bytes are needed */
    HTTP_WIRE_BAD,      /* malformed: 400, and the connection closes */
    HTTP_WIRE_VERSION,  /* not HTTP/1.0 or HTTP/1.1: 400 (no client gets a 5xx), and it closes */
    HTTP_WIRE_TOO_MANY, /* more than HTTP_WIRE_HEADERS_MAX fields: 431 */
};

struct http_wire_header {
    const char *name;  /* NUL-terminated, as sent (compare caselessly) */
    const char *value; /* NUL-terminated, without the whitespace around it */
};

struct http_wire_head {
    const char *method; /* NUL-terminated token */
    const char *target; /* NUL-terminated request target, as sent */
    int minor_version;  /* 0 for HTTP/1.0, 1 for HTTP/1.1 */
    int header_count;
    struct http_wire_header headers[HTTP_WIRE_HEADERS_MAX];
};

/* The size of the head (request line, fields and the empty line ending
 * them, any empty lines before it included) at the start of data, or 0
 * when its end has not arrived. *scanned carries the search across calls
 * for the same head (start it at 0): bytes already looked at are not
 * looked at again. */
size_t http_wire_head_end(const char *data, size_t size, size_t *scanned);

/* True when data holds no complete line after the empty lines before the
 * request line: a head that outgrew its buffer in the request line (414)
 * rather than in its fields (431). */
bool http_wire_no_line(const char *data, size_t size);

/* Parses a complete head of head_size bytes (http_wire_head_end), in place:
 * terminators are written over the separators, so out points into data.
 * HTTP_WIRE_OK, HTTP_WIRE_BAD, HTTP_WIRE_VERSION or HTTP_WIRE_TOO_MANY. */
enum http_wire_result http_wire_parse_head(char *data, size_t head_size,
                                           struct http_wire_head *out);

/* The value of the first field named name (caselessly), or NULL. */
const char *http_wire_header(const struct http_wire_head *head, const char *name);

/* True when the comma-separated list value holds token (caselessly), as
 * "close" in "Connection: keep-alive, close". */
bool http_wire_list_has(const char *value, const char *token);

/* True when a Host value is a host and maybe a port, or empty (RFC 9112
 * 3.2, RFC 3986 3.2.2-3): a registered name or IPv4 address of unreserved
 * characters, sub-delims and percent-escapes, or an IP literal in
 * brackets of hex digits, ':' and '.' (or an IPvFuture), then ':' and
 * digits or nothing. */
bool http_wire_host_valid(const char *host);

/* Parses a Content-Length value: plain decimal digits, no sign, no
 * whitespace, leading zeros allowed (RFC 9110 8.6). A value past 2^64 - 1
 * reads as UINT64_MAX: a length too large for any body, refused as that
 * (413), not as a malformed request. */
bool http_wire_parse_length(const char *text, uint64_t *out);

/* A chunked body, decoded as it arrives. Zero it to start. */
struct http_wire_chunked {
    int state;
    uint64_t remaining; /* bytes left in the current chunk's data */
    size_t line_size;   /* bytes of the current size or trailer line so far */
    size_t trailer_size;
};

/* Decodes from in: consumes up to in_size bytes (*consumed), and points
 * *data at the next piece of body (*data_size bytes, inside in; 0 when the
 * bytes consumed held only framing). Call again with what is left while it
 * answers HTTP_WIRE_PARTIAL and consumed something or yielded data;
 * HTTP_WIRE_OK once the last chunk and the trailer have ended (the trailer's
 * lines are read and dropped, not parsed: nothing of them is used), HTTP_WIRE_BAD for malformed
 * framing. */
enum http_wire_result http_wire_chunked_step(struct http_wire_chunked *c, const char *in,
                                             size_t in_size, size_t *consumed, const char **data,
                                             size_t *data_size);

/* Decodes percent-escapes of text[0..size) into out (NUL-terminated), and
 * '+' into a space when plus_is_space (query strings). A '%' not followed
 * by two hex digits is kept as is. False when the result would not fit in
 * out_size bytes or would hold a NUL (%00). */
bool http_wire_unescape(const char *text, size_t size, bool plus_is_space, char *out,
                        size_t out_size);

/* Finds the first argument named name (caselessly, after unescaping; names
 * of up to 255 bytes) in a query string ("a=1&b=x%20y", without the '?'),
 * and unescapes its value into out. An argument without '=' has the empty
 * value. False when there is none, or its value does not unescape into
 * out_size bytes. */
bool http_wire_query(const char *query, const char *name, char *out, size_t out_size);

/* True when a path can be read one way only: no escaped slash (%2F,
 * %2f), which would make one segment of two or two of one, and no escaped
 * NUL (%00), which would end a segment early. */
bool http_wire_path_is_plain(const char *path);

#define HTTP_WIRE_QUERY_ARGS_MAX 32

/* True when a query string can be read one way only: no escaped NUL
 * (%00), at most HTTP_WIRE_QUERY_ARGS_MAX arguments, and no name given
 * twice (caselessly, after unescaping), since http_wire_query would read
 * the first and a proxy or a client library might mean the last. */
bool http_wire_query_is_plain(const char *query);

/* True when every argument of query is named in allowed (names separated
 * by one space, lower case; compared caselessly after unescaping, whole
 * names only). Else false with the first other name, unescaped, in
 * unknown (cut to unknown_size - 1 bytes). */
bool http_wire_query_names_in(const char *query, const char *allowed, char *unknown,
                              size_t unknown_size);

#endif

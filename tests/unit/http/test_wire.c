/*
 * test_wire.c — http_wire_*: the bytes of a request, case by case.
 *
 * Every request the daemon answers was first read by wire.c, and a parser
 * that reads one request two ways is a smuggling hole, so each refusal in
 * wire.h gets a case that must trip it and a neighbour that must pass.
 * Heads are parsed in writable copies of exactly the size given (the parser
 * writes its terminators in place), and sizes come from http_wire_head_end
 * as the server would pass them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/http_dechunk.h"
#include "http/wire.h"
#include "test.h"

/* Bytes in a string literal, without its NUL (the literals hold NULs). */
#define S_LEN(literal) (sizeof(literal) - 1)

#define S_HEAD_SIZE_MAX 8192
#define S_BODY_SIZE_MAX 8192

static char S_buf[S_HEAD_SIZE_MAX];
static struct http_wire_head S_head;

/* The head end of text found the way a server finds it: the bytes arrive
 * step at a time into a buffer of exactly what has arrived, *scanned is
 * carried, and the answer must stay 0 until the whole text has arrived. */
static size_t S_head_end_grown(const char *text, size_t size, size_t step)
{
    size_t scanned = 0;
    size_t arrived = 0;
    for (;;) {
        arrived = arrived + step < size ? arrived + step : size;
        char *copy = malloc(arrived > 0 ? arrived : 1);
        if (copy == NULL)
            abort();
        memcpy(copy, text, arrived);
        size_t end = http_wire_head_end(copy, arrived, &scanned);
        free(copy);
        if (arrived == size)
            return end;
        if (end != 0)
            TEST_FAIL_("head end %zu found with %zu of %zu bytes (step %zu)", end, arrived, size,
                       step);
        if (scanned > arrived)
            TEST_FAIL_("scanned %zu of %zu bytes (step %zu)", scanned, arrived, step);
    }
}

/* Parses text as a head: copies it to S_buf, finds its end, and parses the
 * head. The bytes after the head must come back untouched. */
static enum http_wire_result S_parse_size(const char *text, size_t size)
{
    if (size > sizeof S_buf)
        abort();
    memcpy(S_buf, text, size);
    size_t scanned = 0;
    size_t end = http_wire_head_end(S_buf, size, &scanned);
    if (end == 0)
        return HTTP_WIRE_PARTIAL; /* no head at all: a broken test */
    memset(&S_head, 0xa5, sizeof S_head);
    enum http_wire_result r = http_wire_parse_head(S_buf, end, &S_head);
    if (memcmp(S_buf + end, text + end, size - end) != 0)
        TEST_FAIL_("http_wire_parse_head wrote past the head of %zu bytes", end);
    return r;
}

#define S_PARSE(literal) S_parse_size(literal, S_LEN(literal))

/* True when p points into the head buffer, its string ending within it. */
static bool S_inside(const char *p, size_t size)
{
    return p >= S_buf && p < S_buf + size && memchr(p, '\0', (size_t)(S_buf + size - p)) != NULL;
}

/* Appends text to buf (of buf_size bytes) at *at; aborts when it overflows. */
static void S_append(char *buf, size_t buf_size, size_t *at, const char *text, size_t size)
{
    if (*at + size > buf_size)
        abort();
    memcpy(buf + *at, text, size);
    *at += size;
}

/* --- http_wire_head_end ------------------------------------------------ */

TEST(head_end_finds_a_crlf_head)
{
    /* The common case: the size is every byte up to the blank line. */
    static const char head[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    size_t scanned = 0;
    ASSERT_EQ_INT(http_wire_head_end(head, S_LEN(head), &scanned), S_LEN(head));
    scanned = 0;
    ASSERT_EQ_INT(http_wire_head_end("GET / HTTP/1.1\r\n\r\n", 18, &scanned), 18);
}

TEST(head_end_finds_a_bare_lf_head)
{
    /* RFC 9112 lets a line end in a bare LF; mixed endings too. */
    size_t scanned = 0;
    ASSERT_EQ_INT(http_wire_head_end("GET / HTTP/1.1\nHost: a\n\n", 24, &scanned), 24);
    scanned = 0;
    ASSERT_EQ_INT(http_wire_head_end("GET / HTTP/1.1\nHost: a\r\n\n", 25, &scanned), 25);
    scanned = 0;
    ASSERT_EQ_INT(http_wire_head_end("GET / HTTP/1.1\r\nHost: a\n\r\n", 26, &scanned), 26);
}

TEST(head_end_waits_for_the_blank_line)
{
    /* Anything short of the blank line is 0, a lone CR included. */
    static const char *const partial[] = {
        "",
        "G",
        "GET / HTTP/1.1",
        "GET / HTTP/1.1\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\n\r",
        "GET / HTTP/1.1\r\nHost: a\r\r",
        "GET / HTTP/1.1\nHost: a\n",
    };
    for (size_t i = 0; i < sizeof partial / sizeof partial[0]; i++) {
        size_t scanned = 0;
        ASSERT_EQ_INT(http_wire_head_end(partial[i], strlen(partial[i]), &scanned), 0);
        ASSERT(scanned <= strlen(partial[i]));
    }
}

TEST(head_end_carries_scanned_across_calls)
{
    /* The buffer grows a byte at a time (and a few at a time): 0 until the
     * last byte of the head arrives, then its exact size, wherever a CR and
     * its LF were split. */
    static const char crlf[] = "GET /x HTTP/1.1\r\nHost: a\r\nX-B: c\r\n\r\n";
    static const char lf[] = "GET /x HTTP/1.1\nHost: a\n\n";
    static const char mixed[] = "\r\n\nGET / HTTP/1.0\r\nA: b\n\r\n";
    for (size_t step = 1; step <= 4; step++) {
        ASSERT_EQ_INT(S_head_end_grown(crlf, S_LEN(crlf), step), S_LEN(crlf));
        ASSERT_EQ_INT(S_head_end_grown(lf, S_LEN(lf), step), S_LEN(lf));
        ASSERT_EQ_INT(S_head_end_grown(mixed, S_LEN(mixed), step), S_LEN(mixed));
    }
}

TEST(head_end_counts_leading_empty_lines)
{
    /* Empty lines before the request line are part of the head, and are
     * not themselves the blank line that ends it. */
    static const char head[] = "\r\n\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    size_t scanned = 0;
    ASSERT_EQ_INT(http_wire_head_end(head, S_LEN(head), &scanned), S_LEN(head));
    scanned = 0;
    ASSERT_EQ_INT(http_wire_head_end("\r\n\r\n", 4, &scanned), 0);
    scanned = 0;
    ASSERT_EQ_INT(http_wire_head_end("\n\n\n", 3, &scanned), 0);
    scanned = 0;
    ASSERT_EQ_INT(http_wire_head_end("\r\nGET / HTTP/1.1\n\n", 18, &scanned), 18);
}

TEST(head_end_stops_before_the_body)
{
    /* The body, even one holding a blank line of its own, is not the head. */
    static const char request[] = "POST /p HTTP/1.1\r\nContent-Length: 8\r\n\r\nab\r\n\r\ncd";
    size_t scanned = 0;
    ASSERT_EQ_INT(http_wire_head_end(request, S_LEN(request), &scanned), S_LEN(request) - 8);
    static const char pipelined[] = "GET /a HTTP/1.1\n\nGET /b HTTP/1.1\n\n";
    scanned = 0;
    ASSERT_EQ_INT(http_wire_head_end(pipelined, S_LEN(pipelined), &scanned), 17);
}

TEST(head_end_reads_only_size_bytes)
{
    /* A blank line just past size does not count. */
    static const char head[] = "GET / HTTP/1.1\r\n\r\n";
    size_t scanned = 0;
    ASSERT_EQ_INT(http_wire_head_end(head, S_LEN(head) - 1, &scanned), 0);
    ASSERT_EQ_INT(http_wire_head_end(head, S_LEN(head), &scanned), S_LEN(head));
}

/* --- http_wire_no_line ------------------------------------------------- */

TEST(no_line_until_the_first_lf)
{
    /* 414 against 431: only an LF completes a line; a CR alone does not. */
    ASSERT(http_wire_no_line("", 0));
    ASSERT(http_wire_no_line("GET /very/long/target", 21));
    ASSERT(http_wire_no_line("GET / HTTP/1.1\r", 15));
    ASSERT(http_wire_no_line("GET / HTTP/1.1\r\n", 15)); /* the LF is past size */
    ASSERT(!http_wire_no_line("GET / HTTP/1.1\r\n", 16));
    ASSERT(!http_wire_no_line("GET / HTTP/1.1\n", 15));
    ASSERT(!http_wire_no_line("GET / HTTP/1.1\r\nX-Long: aaaaaaaaaaaa", 36));
    /* Empty lines before the request line do not complete it. */
    ASSERT(http_wire_no_line("\r\n\nGET /very/long/target", 24));
    ASSERT(http_wire_no_line("\r\n", 2));
    ASSERT(!http_wire_no_line("\r\nGET / HTTP/1.1\r\n", 18));
}

/* --- http_wire_parse_head ---------------------------------------------- */

TEST(parse_head_splits_a_request)
{
    /* Method, target and fields as sent; values lose the spaces and tabs
     * around them but keep those inside; an empty value is a value. */
    static const char request[] = "POST /v1/pay?a=1&b=%20 HTTP/1.1\r\n"
                                  "Host: example.com\r\n"
                                  "X-Empty:\r\n"
                                  "X-Blank: \t \r\n"
                                  "X-Pad: \t v a l \t\r\n"
                                  "content-length:3\r\n"
                                  "\r\n"
                                  "abc";
    ASSERT_EQ_INT(S_PARSE(request), HTTP_WIRE_OK);
    size_t size = S_LEN(request) - 3;
    ASSERT_EQ_STR(S_head.method, "POST");
    ASSERT_EQ_STR(S_head.target, "/v1/pay?a=1&b=%20");
    ASSERT_EQ_INT(S_head.minor_version, 1);
    ASSERT_EQ_INT(S_head.header_count, 5);
    ASSERT_EQ_STR(S_head.headers[0].name, "Host");
    ASSERT_EQ_STR(S_head.headers[0].value, "example.com");
    ASSERT_EQ_STR(S_head.headers[1].name, "X-Empty");
    ASSERT_EQ_STR(S_head.headers[1].value, "");
    ASSERT_EQ_STR(S_head.headers[2].name, "X-Blank");
    ASSERT_EQ_STR(S_head.headers[2].value, "");
    ASSERT_EQ_STR(S_head.headers[3].name, "X-Pad");
    ASSERT_EQ_STR(S_head.headers[3].value, "v a l");
    ASSERT_EQ_STR(S_head.headers[4].name, "content-length");
    ASSERT_EQ_STR(S_head.headers[4].value, "3");
    /* Everything points into the buffer: parsed in place. */
    ASSERT(S_inside(S_head.method, size));
    ASSERT(S_inside(S_head.target, size));
    for (int i = 0; i < S_head.header_count; i++) {
        ASSERT(S_inside(S_head.headers[i].name, size));
        ASSERT(S_inside(S_head.headers[i].value, size));
    }
}

TEST(parse_head_reads_both_versions)
{
    /* HTTP/1.0 and HTTP/1.1, no fields, CRLF or bare LF. */
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.0\r\n\r\n"), HTTP_WIRE_OK);
    ASSERT_EQ_STR(S_head.method, "GET");
    ASSERT_EQ_STR(S_head.target, "/");
    ASSERT_EQ_INT(S_head.minor_version, 0);
    ASSERT_EQ_INT(S_head.header_count, 0);
    ASSERT_EQ_INT(S_PARSE("OPTIONS * HTTP/1.1\n\n"), HTTP_WIRE_OK);
    ASSERT_EQ_STR(S_head.method, "OPTIONS");
    ASSERT_EQ_STR(S_head.target, "*");
    ASSERT_EQ_INT(S_head.minor_version, 1);
    ASSERT_EQ_INT(S_head.header_count, 0);
}

TEST(parse_head_reads_bare_lf_lines)
{
    ASSERT_EQ_INT(S_PARSE("PUT /x HTTP/1.1\nHost: h\nA:b \n\n"), HTTP_WIRE_OK);
    ASSERT_EQ_STR(S_head.method, "PUT");
    ASSERT_EQ_STR(S_head.target, "/x");
    ASSERT_EQ_INT(S_head.header_count, 2);
    ASSERT_EQ_STR(S_head.headers[0].name, "Host");
    ASSERT_EQ_STR(S_head.headers[0].value, "h");
    ASSERT_EQ_STR(S_head.headers[1].name, "A");
    ASSERT_EQ_STR(S_head.headers[1].value, "b");
}

TEST(parse_head_skips_leading_empty_lines)
{
    /* The size http_wire_head_end counted them in; the parser skips them. */
    ASSERT_EQ_INT(S_PARSE("\r\n\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n"), HTTP_WIRE_OK);
    ASSERT_EQ_STR(S_head.method, "GET");
    ASSERT_EQ_STR(S_head.target, "/a");
    ASSERT_EQ_INT(S_head.header_count, 1);
    ASSERT_EQ_STR(S_head.headers[0].value, "h");
}

TEST(parse_head_accepts_token_methods_and_text_values)
{
    /* Any token is a method up to 15 bytes; bytes above 0x7f (UTF-8) are
     * text, not control characters. */
    ASSERT_EQ_INT(S_PARSE("M-SEARCH.x!#$%&'*+^_`|~9 / HTTP/1.1\r\n\r\n"), HTTP_WIRE_BAD); /* 24 */
    ASSERT_EQ_INT(S_PARSE("A!#$%&'*+-.^_`| / HTTP/1.1\r\n\r\n"), HTTP_WIRE_OK);
    ASSERT_EQ_STR(S_head.method, "A!#$%&'*+-.^_`|");
    ASSERT_EQ_INT(S_PARSE("ABCDEFGHIJKLMNO / HTTP/1.1\r\n\r\n"), HTTP_WIRE_OK); /* 15 */
    ASSERT_EQ_STR(S_head.method, "ABCDEFGHIJKLMNO");
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.1\r\nX-Name: caf\xc3\xa9\r\n\r\n"), HTTP_WIRE_OK);
    ASSERT_EQ_STR(S_head.headers[0].value, "caf\xc3\xa9");
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.1\r\nX~!#$%&'*+-.^_`|: 1\r\n\r\n"), HTTP_WIRE_OK);
    ASSERT_EQ_STR(S_head.headers[0].name, "X~!#$%&'*+-.^_`|");
}

TEST(parse_head_refuses_other_versions)
{
    /* A well-formed other version is told apart from a malformed one (both are answered 400:
     * no client gets a 5xx, 505 included). */
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/2.0\r\n\r\n"), HTTP_WIRE_VERSION);
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.2\r\n\r\n"), HTTP_WIRE_VERSION);
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/0.9\r\n\r\n"), HTTP_WIRE_VERSION);
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1\r\n\r\n"), HTTP_WIRE_VERSION);
    ASSERT_EQ_INT(S_PARSE("GET / HTXP/1.1\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET / http/1.1\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET / \r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.1 \r\n\r\n"), HTTP_WIRE_BAD);
}

TEST(parse_head_refuses_a_malformed_request_line)
{
    /* Exactly three parts split by single spaces. */
    ASSERT_EQ_INT(S_PARSE("GET /a b HTTP/1.1\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET  / HTTP/1.1\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET /  HTTP/1.1\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET HTTP/1.1\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET  HTTP/1.1\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE(" GET / HTTP/1.1\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET\t/ HTTP/1.1\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET /\t HTTP/1.1\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("/ HTTP/1.1\r\n\r\n"), HTTP_WIRE_BAD);
}

TEST(parse_head_refuses_bad_methods)
{
    /* 16 bytes is one too many; a separator is not a token character. */
    ASSERT_EQ_INT(S_PARSE("ABCDEFGHIJKLMNOP / HTTP/1.1\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GE@T / HTTP/1.1\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GE(T / HTTP/1.1\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GE:T / HTTP/1.1\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("G\x01T / HTTP/1.1\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("G\xc3\xa9T / HTTP/1.1\r\n\r\n"), HTTP_WIRE_BAD);
}

TEST(parse_head_refuses_control_characters_in_the_target)
{
    ASSERT_EQ_INT(S_PARSE("GET /a\x01z HTTP/1.1\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET /a\x7fz HTTP/1.1\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET /a\x1bz HTTP/1.1\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET /a\0z HTTP/1.1\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET /az HTTP/1.1\r\n\r\n"), HTTP_WIRE_OK);
}

TEST(parse_head_refuses_bad_field_names)
{
    /* Whitespace before the colon is the classic smuggling split. */
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.1\r\n: a\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.1\r\nHo(st: a\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.1\r\nHo st: a\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.1\r\nHo\"st: a\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.1\r\nHo\x01st: a\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.1\r\nHost a\r\n\r\n"), HTTP_WIRE_BAD); /* no colon */
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.1\r\nHost\r\n\r\n"), HTTP_WIRE_BAD);
}

TEST(parse_head_refuses_folded_lines)
{
    /* obs-fold: a line starting with a space or tab after a field. */
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.1\r\nX-A: 1\r\n 2\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.1\r\nX-A: 1\r\n\t2\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.1\nX-A: 1\n 2\n\n"), HTTP_WIRE_BAD);
    /* Right after the request line too. */
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), HTTP_WIRE_BAD);
}

TEST(parse_head_refuses_control_characters_in_values)
{
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.1\r\nX-A: a\x01z\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.1\r\nX-A: a\x7fz\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.1\r\nX-A: a\x1fz\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.1\r\nX-A: \x01\r\n\r\n"), HTTP_WIRE_BAD);
    /* A NUL would cut the value short where the server reads it. */
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.1\r\nX-A: a\0z\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.1\r\nX-A: \0\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.1\r\nX-A: az\r\n\r\n"), HTTP_WIRE_OK);
}

TEST(parse_head_refuses_a_bare_cr)
{
    /* A CR not followed by LF ends no line: some read it as one. */
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.1\r\nX-A: a\r\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.1\rX-A: a\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.1\r\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET /\r HTTP/1.1\r\n\r\n"), HTTP_WIRE_BAD);
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.1\r\nX-A\r: a\r\n\r\n"), HTTP_WIRE_BAD);
}

/* A head with field_count fields "X-<i>: <i>". */
static size_t S_head_with_fields(char *buf, size_t buf_size, int field_count)
{
    size_t at = 0;
    S_append(buf, buf_size, &at, "GET / HTTP/1.1\r\n", 16);
    for (int i = 0; i < field_count; i++) {
        char line[32];
        int n = snprintf(line, sizeof line, "X-%d: %d\r\n", i, i);
        S_append(buf, buf_size, &at, line, (size_t)n);
    }
    S_append(buf, buf_size, &at, "\r\n", 2);
    return at;
}

TEST(parse_head_counts_fields)
{
    /* HTTP_WIRE_HEADERS_MAX fields fit, one more is 431. */
    char text[S_HEAD_SIZE_MAX];
    size_t size = S_head_with_fields(text, sizeof text, HTTP_WIRE_HEADERS_MAX);
    ASSERT_EQ_INT(S_parse_size(text, size), HTTP_WIRE_OK);
    ASSERT_EQ_INT(S_head.header_count, HTTP_WIRE_HEADERS_MAX);
    ASSERT_EQ_STR(S_head.headers[0].name, "X-0");
    ASSERT_EQ_STR(S_head.headers[HTTP_WIRE_HEADERS_MAX - 1].value, "99");
    size = S_head_with_fields(text, sizeof text, HTTP_WIRE_HEADERS_MAX + 1);
    ASSERT_EQ_INT(S_parse_size(text, size), HTTP_WIRE_TOO_MANY);
    size = S_head_with_fields(text, sizeof text, 2 * HTTP_WIRE_HEADERS_MAX);
    ASSERT_EQ_INT(S_parse_size(text, size), HTTP_WIRE_TOO_MANY);
}

/* --- http_wire_header -------------------------------------------------- */

TEST(header_finds_the_first_field_caselessly)
{
    ASSERT_EQ_INT(S_PARSE("GET / HTTP/1.1\r\n"
                          "Host: a\r\n"
                          "X-Dup: first\r\n"
                          "x-dup: second\r\n"
                          "Empty:\r\n"
                          "\r\n"),
                  HTTP_WIRE_OK);
    ASSERT_EQ_STR(http_wire_header(&S_head, "Host"), "a");
    ASSERT_EQ_STR(http_wire_header(&S_head, "host"), "a");
    ASSERT_EQ_STR(http_wire_header(&S_head, "HOST"), "a");
    ASSERT_EQ_STR(http_wire_header(&S_head, "X-DUP"), "first");
    ASSERT_EQ_STR(http_wire_header(&S_head, "x-dup"), "first");
    ASSERT_EQ_STR(http_wire_header(&S_head, "empty"), "");
    ASSERT(http_wire_header(&S_head, "Hos") == NULL);
    ASSERT(http_wire_header(&S_head, "Hostx") == NULL);
    ASSERT(http_wire_header(&S_head, "Content-Length") == NULL);
    ASSERT(http_wire_header(&S_head, "") == NULL);
}

/* --- http_wire_list_has ------------------------------------------------ */

TEST(list_has_finds_whole_elements)
{
    ASSERT(http_wire_list_has("keep-alive, close", "close"));
    ASSERT(http_wire_list_has("close", "close"));
    ASSERT(http_wire_list_has("Close", "close"));
    ASSERT(http_wire_list_has("close", "CLOSE"));
    ASSERT(http_wire_list_has("close, Keep-Alive", "keep-alive"));
    ASSERT(http_wire_list_has("keep-alive,close", "close"));
    ASSERT(http_wire_list_has(" \tclose\t ", "close"));
    ASSERT(http_wire_list_has("a ,\tCLOSE\t, b", "close"));
    ASSERT(http_wire_list_has(",,close,,", "close"));
    ASSERT(http_wire_list_has(", ,close", "close"));
    /* Neighbours that must not match. */
    ASSERT(!http_wire_list_has("closed", "close"));
    ASSERT(!http_wire_list_has("xclose", "close"));
    ASSERT(!http_wire_list_has("keep-alive, closed", "close"));
    ASSERT(!http_wire_list_has("clo", "close"));
    ASSERT(!http_wire_list_has("clo se", "close"));
    ASSERT(!http_wire_list_has("keep-alive", "close"));
    ASSERT(!http_wire_list_has("", "close"));
    ASSERT(!http_wire_list_has(",", "close"));
    ASSERT(!http_wire_list_has(" , ,", "close"));
}

/* --- http_wire_host_valid --------------------------------------------- */

TEST(host_is_a_name_or_address_and_maybe_a_port)
{
    const char *good[] = {"",
                          "127.0.0.1",
                          "127.0.0.1:8080",
                          "pay.example.com",
                          "pay.example.com:",
                          "xn--fiqs8s.example:443",
                          "a%20b",
                          "[::1]",
                          "[::1]:8080",
                          "[2001:db8::ffff:192.0.2.1]",
                          "[v1.fe80::a+en1]"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!http_wire_host_valid(good[i]))
            TEST_FAIL_("refused \"%s\"", good[i]);
    const char *bad[] = {"x:abc", "x:80:80", "[::1",   "[::1]x", "[::1]:x", "[]",   "[::g]",
                         "::1",   "a b",     "x/y",    "u@x",    "x:8080/", "x:-1", "x]",
                         "[x]",   "x:+80",   "[::1]]", "x?y",    "x#y",     "\"x\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (http_wire_host_valid(bad[i]))
            TEST_FAIL_("took \"%s\"", bad[i]);
}

/* --- http_wire_parse_length -------------------------------------------- */

TEST(parse_length_reads_plain_decimal)
{
    uint64_t n = 7;
    ASSERT(http_wire_parse_length("0", &n));
    ASSERT_EQ_INT(n, 0);
    ASSERT(http_wire_parse_length("123", &n));
    ASSERT_EQ_INT(n, 123);
    ASSERT(http_wire_parse_length("999999999999999999", &n)); /* 18 digits */
    ASSERT_EQ_INT(n, 999999999999999999);
    ASSERT(http_wire_parse_length("100000000000000000", &n));
    ASSERT_EQ_INT(n, 100000000000000000);
    ASSERT(http_wire_parse_length("0000000000000000002", &n)); /* leading zeros: RFC 9110 */
    ASSERT_EQ_INT(n, 2);
    ASSERT(http_wire_parse_length("18446744073709551615", &n)); /* 2^64 - 1 */
    ASSERT(n == UINT64_MAX);
}

TEST(parse_length_reads_a_length_past_any_body_as_the_largest)
{
    // Any length too large for a body is refused as too large (413), however many digits it
    // has: past 2^64 - 1 it reads as UINT64_MAX, not as a malformed value (400).
    uint64_t n = 0;
    ASSERT(http_wire_parse_length("18446744073709551616", &n)); /* 2^64 */
    ASSERT(n == UINT64_MAX);
    ASSERT(http_wire_parse_length("99999999999999999999999999", &n));
    ASSERT(n == UINT64_MAX);
    n = 0;
    ASSERT(http_wire_parse_length("1000000000000000000", &n)); /* 19 digits */
    ASSERT(n == 1000000000000000000ULL);
}

TEST(parse_length_refuses_anything_else)
{
    uint64_t n = 0;
    ASSERT(!http_wire_parse_length("", &n));
    ASSERT(!http_wire_parse_length("-1", &n));
    ASSERT(!http_wire_parse_length("+1", &n));
    ASSERT(!http_wire_parse_length(" 1", &n));
    ASSERT(!http_wire_parse_length("1 ", &n));
    ASSERT(!http_wire_parse_length("\t1", &n));
    ASSERT(!http_wire_parse_length("1a", &n));
    ASSERT(!http_wire_parse_length("0x10", &n));
    ASSERT(!http_wire_parse_length("1,1", &n));
    ASSERT(!http_wire_parse_length("1.0", &n));
    ASSERT(!http_wire_parse_length("99999999999999999999999999x", &n));
}

/* --- http_wire_chunked_step -------------------------------------------- */

struct S_dechunk {
    enum http_wire_result result;
    size_t used;      /* bytes consumed in all */
    size_t body_size; /* bytes of body decoded */
    char body[S_BODY_SIZE_MAX];
};

/* Decodes in[0..size) arriving piece_size bytes at a time, as a server
 * would (fuzz/http_dechunk.h), failing the test on a broken invariant. */
static void S_dechunk(const char *in, size_t size, size_t piece_size, struct S_dechunk *out)
{
    struct http_dechunk d = {.body = out->body, .body_capacity = sizeof out->body};
    const char *broken = http_dechunk(in, size, piece_size, &d);
    out->result = d.result;
    out->used = d.used;
    out->body_size = d.body_size;
    if (broken != NULL)
        TEST_FAIL_("%s (%zu bytes, %zu at a time)", broken, size, piece_size);
}

/* Decodes text whole, then a byte at a time, then 3 bytes at a time: all
 * three must agree on the answer and the body (and, once complete, on the
 * bytes consumed); the whole one is left in *out. */
static bool S_dechunk_all_ways(const char *text, size_t size, struct S_dechunk *out)
{
    static struct S_dechunk other;
    S_dechunk(text, size, size > 0 ? size : 1, out);
    size_t pieces[] = {1, 3};
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        S_dechunk(text, size, pieces[i], &other);
        if (other.result != out->result)
            TEST_FAIL_("%zu-byte pieces answered %d, the whole %d", pieces[i], (int)other.result,
                       (int)out->result);
        if (out->result == HTTP_WIRE_BAD)
            continue;
        if (other.body_size != out->body_size || memcmp(other.body, out->body, out->body_size) != 0)
            TEST_FAIL_("%zu-byte pieces decoded %zu bytes, the whole %zu", pieces[i],
                       other.body_size, out->body_size);
        if (out->result == HTTP_WIRE_OK && other.used != out->used)
            TEST_FAIL_("%zu-byte pieces consumed %zu bytes, the whole %zu", pieces[i], other.used,
                       out->used);
    }
    return true;
}

#define S_DECHUNK(literal, out) S_dechunk_all_ways(literal, S_LEN(literal), out)

static struct S_dechunk S_out;

TEST(chunked_decodes_a_body)
{
    /* One chunk and the last chunk: "hello", every byte consumed, however
     * the bytes arrive. */
    ASSERT(S_DECHUNK("5\r\nhello\r\n0\r\n\r\n", &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_OK);
    ASSERT_EQ_INT(S_out.used, 15);
    ASSERT_EQ_INT(S_out.body_size, 5);
    ASSERT(memcmp(S_out.body, "hello", 5) == 0);
}

TEST(chunked_decodes_several_chunks)
{
    ASSERT(S_DECHUNK("3\r\nhel\r\n1\r\nl\r\n1\r\no\r\n0\r\n\r\n", &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_OK);
    ASSERT_EQ_INT(S_out.body_size, 5);
    ASSERT(memcmp(S_out.body, "hello", 5) == 0);
    /* The data is bytes, CRLF and NUL included. */
    ASSERT(S_DECHUNK("6\r\na\r\n\0\nb\r\n0\r\n\r\n", &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_OK);
    ASSERT_EQ_INT(S_out.body_size, 6);
    ASSERT(memcmp(S_out.body, "a\r\n\0\nb", 6) == 0);
}

TEST(chunked_decodes_an_empty_body)
{
    ASSERT(S_DECHUNK("0\r\n\r\n", &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_OK);
    ASSERT_EQ_INT(S_out.used, 5);
    ASSERT_EQ_INT(S_out.body_size, 0);
}

TEST(chunked_skips_extensions)
{
    ASSERT(S_DECHUNK("5;ext=1\r\nhello\r\n0;last\r\n\r\n", &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_OK);
    ASSERT_EQ_INT(S_out.body_size, 5);
    ASSERT(memcmp(S_out.body, "hello", 5) == 0);
    ASSERT(S_DECHUNK("5;a=\"q;x\";b\r\nhello\r\n0\r\n\r\n", &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_OK);
    ASSERT_EQ_INT(S_out.body_size, 5);
}

TEST(chunked_reads_hex_in_either_case)
{
    /* 0xA and 0xa are ten bytes each; 0x1F and 0x1f thirty-one. */
    ASSERT(S_DECHUNK("A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n", &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_OK);
    ASSERT_EQ_INT(S_out.body_size, 20);
    ASSERT(memcmp(S_out.body, "0123456789abcdefghij", 20) == 0);
    ASSERT(S_DECHUNK("1F\r\n0123456789012345678901234567890\r\n"
                     "1f\r\n0123456789012345678901234567890\r\n0\r\n\r\n",
                     &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_OK);
    ASSERT_EQ_INT(S_out.body_size, 62);
    ASSERT(S_DECHUNK("005\r\nhello\r\n000\r\n\r\n", &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_OK);
    ASSERT_EQ_INT(S_out.body_size, 5);
}

TEST(chunked_drops_the_trailer)
{
    static const char body[] = "5\r\nhello\r\n0\r\nX-Sum: 1\r\nX-Other: two\r\n\r\n";
    ASSERT(S_DECHUNK(body, &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_OK);
    ASSERT_EQ_INT(S_out.used, S_LEN(body));
    ASSERT_EQ_INT(S_out.body_size, 5);
    ASSERT(memcmp(S_out.body, "hello", 5) == 0);
}

TEST(chunked_refuses_bare_lf)
{
    /* RFC 9112 allows a bare LF in the head only: in a chunked body's
     * framing a reader that took it and one that did not would disagree
     * about where the body ends. */
    static const char *const bodies[] = {
        "5\nhello\r\n0\r\n\r\n",           /* the size line */
        "5\r\nhello\n0\r\n\r\n",           /* after the data */
        "5\r\nhello\r\n0\n\r\n",           /* the last chunk's line */
        "5\r\nhello\r\n0\r\nX-T: 1\n\r\n", /* a trailer line */
        "5\r\nhello\r\n0\r\n\n",           /* the empty line ending it */
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        ASSERT(S_dechunk_all_ways(bodies[i], strlen(bodies[i]), &S_out));
        ASSERT_EQ_INT(S_out.result, HTTP_WIRE_BAD);
    }
}

TEST(chunked_refuses_a_size_line_outside_the_grammar)
{
    /* After the digits: whitespace, then ';' and an extension, or the end. */
    static const char *const bodies[] = {
        "5 0\r\nhello\r\n0\r\n\r\n", "5 junk\r\nhello\r\n0\r\n\r\n", "5;\r\nhello\r\n0\r\n\r\n",
        "5x\r\nhello\r\n0\r\n\r\n",  ";5\r\nhello\r\n0\r\n\r\n",     "5\rhello\r\n0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        ASSERT(S_dechunk_all_ways(bodies[i], strlen(bodies[i]), &S_out));
        ASSERT_EQ_INT(S_out.result, HTTP_WIRE_BAD);
    }
    ASSERT(S_DECHUNK("5 \t;  name=\"v 1\" ;x\r\nhello\r\n0\r\n\r\n", &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_OK);
    ASSERT_EQ_INT(S_out.body_size, 5);
}

TEST(chunked_waits_for_more)
{
    /* Well formed so far: PARTIAL, with the data seen so far yielded. */
    ASSERT(S_DECHUNK("5\r\nhel", &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_PARTIAL);
    ASSERT_EQ_INT(S_out.body_size, 3);
    ASSERT(memcmp(S_out.body, "hel", 3) == 0);
    ASSERT(S_DECHUNK("5\r\nhello\r\n0\r\n", &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_PARTIAL);
    ASSERT(S_DECHUNK("5\r\nhello\r\n0\r\nX: 1\r\n", &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_PARTIAL);
    ASSERT(S_DECHUNK("5\r\nhello\r", &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_PARTIAL);
    ASSERT(S_DECHUNK("5", &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_PARTIAL);
}

TEST(chunked_stops_at_the_end_of_the_body)
{
    /* A pipelined request after the body is not the body's to consume. */
    static const char body[] = "5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n";
    ASSERT(S_DECHUNK(body, &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_OK);
    ASSERT_EQ_INT(S_out.used, 15);
    ASSERT_EQ_INT(S_out.body_size, 5);
    static const char trailer[] = "0\r\nX: 1\r\n\r\n0\r\n\r\n";
    ASSERT(S_DECHUNK(trailer, &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_OK);
    ASSERT_EQ_INT(S_out.used, 11);
}

TEST(chunked_refuses_bad_sizes)
{
    /* Only plain hexadecimal: no sign, no 0x, no space before it. */
    static const char *const bad[] = {
        "x\r\n",
        "5x\r\nhello\r\n0\r\n\r\n",
        "-5\r\nhello\r\n0\r\n\r\n",
        "+5\r\nhello\r\n",
        "0x5\r\nhello\r\n",
        " 5\r\nhello\r\n",
        "\r\nhello\r\n",
        ";x\r\n",
        "g\r\n",
        "5\rhello\r\n",
        "5;a\rb\r\nhello\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ASSERT(S_dechunk_all_ways(bad[i], strlen(bad[i]), &S_out));
        if (S_out.result != HTTP_WIRE_BAD)
            TEST_FAIL_("\"%s\" answered %d, not BAD", bad[i], (int)S_out.result);
    }
}

TEST(chunked_refuses_a_size_that_overflows)
{
    /* 17 hex digits is at least 2^64: refused, not wrapped around. */
    ASSERT(S_DECHUNK("10000000000000005\r\nhello\r\n0\r\n\r\n", &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_BAD);
    ASSERT(S_DECHUNK("FFFFFFFFFFFFFFFFF\r\n", &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_BAD);
    ASSERT(S_DECHUNK("fffffffffffffffffffffffffffffff\r\n", &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_BAD);
}

TEST(chunked_refuses_a_size_past_63_bits)
{
    /* 16 hex digits can hold 2^63 and more, which no body size reaches. */
    ASSERT(S_DECHUNK("8000000000000000\r\n", &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_BAD);
    ASSERT(S_DECHUNK("FFFFFFFFFFFFFFFF\r\n", &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_BAD);
}

TEST(chunked_accepts_any_size_within_63_bits)
{
    /* A size is refused for its value, not its digits: 2^63 - 1 is well
     * formed (waiting for its data), and so is 5 padded with zeros. */
    ASSERT(S_DECHUNK("7fffffffffffffff\r\nabc", &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_PARTIAL);
    ASSERT_EQ_INT(S_out.body_size, 3);
    ASSERT(S_DECHUNK("0000000000000005\r\nhello\r\n0\r\n\r\n", &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_OK);
    ASSERT_EQ_INT(S_out.body_size, 5);
    ASSERT(S_DECHUNK("00000000000000000000005\r\nhello\r\n0\r\n\r\n", &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_OK);
    ASSERT_EQ_INT(S_out.body_size, 5);
}

TEST(chunked_refuses_missing_crlf_after_data)
{
    ASSERT(S_DECHUNK("5\r\nhelloX\r\n0\r\n\r\n", &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_BAD);
    ASSERT(S_DECHUNK("5\r\nhello0\r\n\r\n", &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_BAD);
    ASSERT(S_DECHUNK("5\r\nhello\rX\n0\r\n\r\n", &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_BAD);
    /* A stray byte where the CRLF belongs must not be skipped over. */
    ASSERT(S_DECHUNK("5\r\nhelloX1\r\nz\r\n0\r\n\r\n", &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_BAD);
    ASSERT(S_DECHUNK("5\r\nhello\rX1\r\nz\r\n0\r\n\r\n", &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_BAD);
    ASSERT(S_DECHUNK("3\r\nhello\r\n0\r\n\r\n", &S_out)); /* size too small */
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_BAD);
}

TEST(chunked_refuses_a_long_size_line)
{
    /* A size line longer than HTTP_WIRE_CHUNK_LINE_MAX, by its extensions
     * or by its digits (leading zeros), is refused, not buffered forever. */
    static char text[4 * HTTP_WIRE_CHUNK_LINE_MAX];
    size_t at = 0;
    S_append(text, sizeof text, &at, "5;x=", 4);
    while (at < 2 * HTTP_WIRE_CHUNK_LINE_MAX)
        S_append(text, sizeof text, &at, "a", 1);
    S_append(text, sizeof text, &at, "\r\nhello\r\n0\r\n\r\n", 14);
    ASSERT(S_dechunk_all_ways(text, at, &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_BAD);
    /* Cut before its end the line is already too long. */
    ASSERT(S_dechunk_all_ways(text, 2 * HTTP_WIRE_CHUNK_LINE_MAX, &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_BAD);
    at = 0;
    while (at < 2 * HTTP_WIRE_CHUNK_LINE_MAX)
        S_append(text, sizeof text, &at, "0", 1);
    S_append(text, sizeof text, &at, "5\r\nhello\r\n0\r\n\r\n", 15);
    ASSERT(S_dechunk_all_ways(text, at, &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_BAD);
    /* A modest one is fine. */
    at = 0;
    S_append(text, sizeof text, &at, "5;x=", 4);
    while (at < 100)
        S_append(text, sizeof text, &at, "a", 1);
    S_append(text, sizeof text, &at, "\r\nhello\r\n0\r\n\r\n", 14);
    ASSERT(S_dechunk_all_ways(text, at, &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_OK);
    ASSERT_EQ_INT(S_out.body_size, 5);
}

TEST(chunked_refuses_a_long_trailer)
{
    /* More than HTTP_WIRE_TRAILER_SIZE_MAX bytes of trailer, in one field
     * or in many short ones. */
    static char text[4 * HTTP_WIRE_TRAILER_SIZE_MAX];
    size_t at = 0;
    S_append(text, sizeof text, &at, "0\r\nX: ", 6);
    while (at < 2 * HTTP_WIRE_TRAILER_SIZE_MAX)
        S_append(text, sizeof text, &at, "v", 1);
    S_append(text, sizeof text, &at, "\r\n\r\n", 4);
    ASSERT(S_dechunk_all_ways(text, at, &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_BAD);
    at = 0;
    S_append(text, sizeof text, &at, "0\r\n", 3);
    while (at < 2 * HTTP_WIRE_TRAILER_SIZE_MAX)
        S_append(text, sizeof text, &at, "X-Field: 0123456789\r\n", 21);
    S_append(text, sizeof text, &at, "\r\n", 2);
    ASSERT(S_dechunk_all_ways(text, at, &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_BAD);
    /* A trailer well under the limit is read and dropped. */
    at = 0;
    S_append(text, sizeof text, &at, "0\r\n", 3);
    for (int i = 0; i < 10; i++)
        S_append(text, sizeof text, &at, "X-Field: 0123456789\r\n", 21);
    S_append(text, sizeof text, &at, "\r\n", 2);
    ASSERT(S_dechunk_all_ways(text, at, &S_out));
    ASSERT_EQ_INT(S_out.result, HTTP_WIRE_OK);
    ASSERT_EQ_INT(S_out.used, at);
}

/* --- http_wire_unescape ------------------------------------------------ */

static char S_out_text[64];

/* Unescapes a literal into S_out_text of out_size bytes. */
static bool S_unescape(const char *text, bool plus_is_space, size_t out_size)
{
    if (out_size > sizeof S_out_text)
        abort();
    memset(S_out_text, 'Z', sizeof S_out_text);
    bool ok = http_wire_unescape(text, strlen(text), plus_is_space, S_out_text, out_size);
    for (size_t i = out_size; i < sizeof S_out_text; i++)
        if (S_out_text[i] != 'Z')
            TEST_FAIL_("wrote past out_size %zu", out_size);
    return ok;
}

TEST(unescape_decodes_escapes)
{
    ASSERT(S_unescape("%41", false, 64));
    ASSERT_EQ_STR(S_out_text, "A");
    ASSERT(S_unescape("%2b%2B%7e", false, 64));
    ASSERT_EQ_STR(S_out_text, "++~");
    ASSERT(S_unescape("x%20y%e5%bc%a0", false, 64));
    ASSERT_EQ_STR(S_out_text, "x y\xe5\xbc\xa0");
    ASSERT(S_unescape("", false, 64));
    ASSERT_EQ_STR(S_out_text, "");
}

TEST(unescape_plus_is_space_only_when_asked)
{
    ASSERT(S_unescape("a+b", true, 64));
    ASSERT_EQ_STR(S_out_text, "a b");
    ASSERT(S_unescape("a+b", false, 64));
    ASSERT_EQ_STR(S_out_text, "a+b");
    ASSERT(S_unescape("%2B+", true, 64));
    ASSERT_EQ_STR(S_out_text, "+ ");
}

TEST(unescape_keeps_a_broken_escape)
{
    /* A '%' without two hex digits after it is kept as is. */
    ASSERT(S_unescape("%4", false, 64));
    ASSERT_EQ_STR(S_out_text, "%4");
    ASSERT(S_unescape("%zz", false, 64));
    ASSERT_EQ_STR(S_out_text, "%zz");
    ASSERT(S_unescape("%4g", false, 64));
    ASSERT_EQ_STR(S_out_text, "%4g");
    ASSERT(S_unescape("%", false, 64));
    ASSERT_EQ_STR(S_out_text, "%");
    ASSERT(S_unescape("100%", false, 64));
    ASSERT_EQ_STR(S_out_text, "100%");
    ASSERT(S_unescape("%%41", false, 64));
    ASSERT_EQ_STR(S_out_text, "%A");
    ASSERT(S_unescape("%+1", true, 64));
    ASSERT_EQ_STR(S_out_text, "% 1");
}

TEST(unescape_reads_only_size_bytes)
{
    /* "%41" cut to 2 bytes is a broken escape, not "A". */
    char out[8];
    ASSERT(http_wire_unescape("%41", 2, false, out, sizeof out));
    ASSERT_EQ_STR(out, "%4");
    ASSERT(http_wire_unescape("abcdef", 3, false, out, sizeof out));
    ASSERT_EQ_STR(out, "abc");
}

TEST(unescape_refuses_nul)
{
    ASSERT(!S_unescape("%00", false, 64));
    ASSERT(!S_unescape("a%00b", true, 64));
    ASSERT(S_unescape("%01", false, 64));
    ASSERT_EQ_STR(S_out_text, "\x01");
}

TEST(unescape_refuses_what_does_not_fit)
{
    /* The NUL needs its byte: "abc" fits in 4, not 3. */
    ASSERT(!S_unescape("abc", false, 3));
    ASSERT(S_unescape("abc", false, 4));
    ASSERT_EQ_STR(S_out_text, "abc");
    ASSERT(!S_unescape("%41%42%43", false, 3));
    ASSERT(S_unescape("%41%42%43", false, 4));
    ASSERT_EQ_STR(S_out_text, "ABC");
    ASSERT(!S_unescape("", false, 0));
    ASSERT(S_unescape("", false, 1));
    ASSERT_EQ_STR(S_out_text, "");
    ASSERT(!S_unescape("a", false, 1));
}

/* --- http_wire_query --------------------------------------------------- */

/* Looks name up in query into S_out_text of out_size bytes. */
static bool S_query(const char *query, const char *name, size_t out_size)
{
    if (out_size > sizeof S_out_text)
        abort();
    memset(S_out_text, 'Z', sizeof S_out_text);
    bool ok = http_wire_query(query, name, S_out_text, out_size);
    for (size_t i = out_size; i < sizeof S_out_text; i++)
        if (S_out_text[i] != 'Z')
            TEST_FAIL_("wrote past out_size %zu", out_size);
    return ok;
}

TEST(query_finds_the_first_argument)
{
    ASSERT(S_query("a=1&b=x%20y", "a", 64));
    ASSERT_EQ_STR(S_out_text, "1");
    ASSERT(S_query("a=1&b=x%20y", "b", 64));
    ASSERT_EQ_STR(S_out_text, "x y");
    ASSERT(S_query("a=1&b=2&a=3", "a", 64));
    ASSERT_EQ_STR(S_out_text, "1");
    ASSERT(S_query("b=2&a=3&a=1", "a", 64));
    ASSERT_EQ_STR(S_out_text, "3");
    ASSERT(S_query("&&a=1&", "a", 64));
    ASSERT_EQ_STR(S_out_text, "1");
    ASSERT(S_query("a=b=c", "a", 64));
    ASSERT_EQ_STR(S_out_text, "b=c");
}

TEST(query_matches_whole_names)
{
    ASSERT(S_query("ab=1&a=2", "a", 64));
    ASSERT_EQ_STR(S_out_text, "2");
    ASSERT(S_query("a=1&ab=2", "ab", 64));
    ASSERT_EQ_STR(S_out_text, "2");
    ASSERT(!S_query("ab=1", "a", 64));
    ASSERT(!S_query("a=1", "ab", 64));
    ASSERT(!S_query("xa=1", "a", 64));
}

TEST(query_compares_unescaped_names_caselessly)
{
    ASSERT(S_query("A=1", "a", 64));
    ASSERT_EQ_STR(S_out_text, "1");
    ASSERT(S_query("name=x", "NAME", 64));
    ASSERT_EQ_STR(S_out_text, "x");
    ASSERT(S_query("a%62=1", "ab", 64));
    ASSERT_EQ_STR(S_out_text, "1");
    ASSERT(S_query("%61%62=2", "AB", 64));
    ASSERT_EQ_STR(S_out_text, "2");
    ASSERT(S_query("a+b=3", "a b", 64));
    ASSERT_EQ_STR(S_out_text, "3");
}

TEST(query_unescapes_values)
{
    ASSERT(S_query("v=%2B", "v", 64));
    ASSERT_EQ_STR(S_out_text, "+");
    ASSERT(S_query("v=a+b", "v", 64));
    ASSERT_EQ_STR(S_out_text, "a b");
    ASSERT(S_query("v=%zz", "v", 64));
    ASSERT_EQ_STR(S_out_text, "%zz");
    ASSERT(S_query("v=%26&w=1", "v", 64));
    ASSERT_EQ_STR(S_out_text, "&");
    ASSERT(!S_query("v=a%00b", "v", 64));
}

TEST(path_is_plain_without_an_escaped_slash_or_nul)
{
    // An escaped slash or NUL would let one path text name another path: refused, in any case.
    ASSERT(http_wire_path_is_plain("/"));
    ASSERT(http_wire_path_is_plain("/v1/me/statements/2026%2D11"));
    ASSERT(http_wire_path_is_plain("/v3/x/esc%7Ca%2Ab%40c%20%2"));
    ASSERT(http_wire_path_is_plain("/a%2/b%0"));
    ASSERT(http_wire_path_is_plain("/a%252Fb%2500"));
    ASSERT(!http_wire_path_is_plain("/admin%2Fusers"));
    ASSERT(!http_wire_path_is_plain("/admin%2fusers"));
    ASSERT(!http_wire_path_is_plain("%2F"));
    ASSERT(!http_wire_path_is_plain("/v1/me/payments/p_a%00"));
    ASSERT(!http_wire_path_is_plain("/%%00"));
}

TEST(query_is_plain_when_each_name_comes_once)
{
    ASSERT(http_wire_query_is_plain(""));
    ASSERT(http_wire_query_is_plain("a=1&b=2&ab=3&flag&&"));
    ASSERT(http_wire_query_is_plain("v=%2B&w=a+b"));
    ASSERT(!http_wire_query_is_plain("a=1&a=2"));
    ASSERT(!http_wire_query_is_plain("a=1&A=2"));         /* names are caseless */
    ASSERT(!http_wire_query_is_plain("type=1&%74ype=2")); /* and compared unescaped */
    ASSERT(!http_wire_query_is_plain("flag&flag=1"));
    ASSERT(!http_wire_query_is_plain("v=a%00b"));
    ASSERT(!http_wire_query_is_plain("%00=1"));
    char many[8 * (HTTP_WIRE_QUERY_ARGS_MAX + 1)];
    size_t at = 0;
    for (int i = 0; i < HTTP_WIRE_QUERY_ARGS_MAX; i++)
        at += (size_t)snprintf(many + at, sizeof many - at, "%sa%d=1", i == 0 ? "" : "&", i);
    ASSERT(http_wire_query_is_plain(many));
    snprintf(many + at, sizeof many - at, "&z=1");
    ASSERT(!http_wire_query_is_plain(many));
}

TEST(query_names_are_the_routes_own)
{
    // A route reads the arguments it names; any other, however spelled, is named back so that a
    // typo (?tpye=topup) is refused instead of answering an unfiltered list.
    char unknown[64];
    ASSERT(http_wire_query_names_in("", "", unknown, sizeof unknown));
    ASSERT(http_wire_query_names_in("&&", "", unknown, sizeof unknown));
    ASSERT(http_wire_query_names_in("limit=2&cursor=", "limit cursor", unknown, sizeof unknown));
    ASSERT(http_wire_query_names_in("LIMIT=2&%63ursor=k1", "limit cursor", unknown,
                                    sizeof unknown)); /* caseless, unescaped */
    ASSERT(!http_wire_query_names_in("limit=2&tpye=topup", "type limit", unknown, sizeof unknown));
    ASSERT_EQ_STR(unknown, "tpye");
    ASSERT(!http_wire_query_names_in("x", "", unknown, sizeof unknown));
    ASSERT_EQ_STR(unknown, "x");
    ASSERT(!http_wire_query_names_in("lim=1", "limit", unknown, sizeof unknown)); /* no prefix */
    ASSERT(!http_wire_query_names_in("limits=1", "limit", unknown, sizeof unknown));
    ASSERT(!http_wire_query_names_in("limit cursor=1", "limit cursor", unknown, sizeof unknown));
    ASSERT(!http_wire_query_names_in("a+b=1", "a b", unknown, sizeof unknown));
}

TEST(query_argument_without_equals_is_empty)
{
    ASSERT(S_query("flag", "flag", 64));
    ASSERT_EQ_STR(S_out_text, "");
    ASSERT(S_query("a=1&flag&b=2", "flag", 64));
    ASSERT_EQ_STR(S_out_text, "");
    ASSERT(S_query("flag=", "flag", 64));
    ASSERT_EQ_STR(S_out_text, "");
}

TEST(query_answers_false_when_absent)
{
    ASSERT(!S_query("a=1&b=2", "c", 64));
    ASSERT(!S_query("", "a", 64));
    ASSERT(!S_query("&", "a", 64));
    ASSERT(!S_query("=a", "a", 64));
}

TEST(query_refuses_a_value_that_does_not_fit)
{
    /* "hello" needs 6 bytes with its NUL. */
    ASSERT(!S_query("a=hello", "a", 5));
    ASSERT(S_query("a=hello", "a", 6));
    ASSERT_EQ_STR(S_out_text, "hello");
    ASSERT(!S_query("a=%41%42%43", "a", 3));
    ASSERT(S_query("a=%41%42%43", "a", 4));
    ASSERT_EQ_STR(S_out_text, "ABC");
}

int main(void)
{
    RUN(head_end_finds_a_crlf_head);
    RUN(head_end_finds_a_bare_lf_head);
    RUN(head_end_waits_for_the_blank_line);
    RUN(head_end_carries_scanned_across_calls);
    RUN(head_end_counts_leading_empty_lines);
    RUN(head_end_stops_before_the_body);
    RUN(head_end_reads_only_size_bytes);
    RUN(no_line_until_the_first_lf);
    RUN(parse_head_splits_a_request);
    RUN(parse_head_reads_both_versions);
    RUN(parse_head_reads_bare_lf_lines);
    RUN(parse_head_skips_leading_empty_lines);
    RUN(parse_head_accepts_token_methods_and_text_values);
    RUN(parse_head_refuses_other_versions);
    RUN(parse_head_refuses_a_malformed_request_line);
    RUN(parse_head_refuses_bad_methods);
    RUN(parse_head_refuses_control_characters_in_the_target);
    RUN(parse_head_refuses_bad_field_names);
    RUN(parse_head_refuses_folded_lines);
    RUN(parse_head_refuses_control_characters_in_values);
    RUN(parse_head_refuses_a_bare_cr);
    RUN(parse_head_counts_fields);
    RUN(header_finds_the_first_field_caselessly);
    RUN(list_has_finds_whole_elements);
    RUN(host_is_a_name_or_address_and_maybe_a_port);
    RUN(parse_length_reads_plain_decimal);
    RUN(parse_length_refuses_anything_else);
    RUN(parse_length_reads_a_length_past_any_body_as_the_largest);
    RUN(chunked_decodes_a_body);
    RUN(chunked_decodes_several_chunks);
    RUN(chunked_decodes_an_empty_body);
    RUN(chunked_skips_extensions);
    RUN(chunked_reads_hex_in_either_case);
    RUN(chunked_drops_the_trailer);
    RUN(chunked_refuses_bare_lf);
    RUN(chunked_refuses_a_size_line_outside_the_grammar);
    RUN(chunked_waits_for_more);
    RUN(chunked_stops_at_the_end_of_the_body);
    RUN(chunked_refuses_bad_sizes);
    RUN(chunked_refuses_a_size_that_overflows);
    RUN(chunked_refuses_a_size_past_63_bits);
    RUN(chunked_accepts_any_size_within_63_bits);
    RUN(chunked_refuses_missing_crlf_after_data);
    RUN(chunked_refuses_a_long_size_line);
    RUN(chunked_refuses_a_long_trailer);
    RUN(unescape_decodes_escapes);
    RUN(unescape_plus_is_space_only_when_asked);
    RUN(unescape_keeps_a_broken_escape);
    RUN(unescape_reads_only_size_bytes);
    RUN(unescape_refuses_nul);
    RUN(unescape_refuses_what_does_not_fit);
    RUN(query_finds_the_first_argument);
    RUN(query_matches_whole_names);
    RUN(query_compares_unescaped_names_caselessly);
    RUN(query_unescapes_values);
    RUN(path_is_plain_without_an_escaped_slash_or_nul);
    RUN(query_is_plain_when_each_name_comes_once);
    RUN(query_names_are_the_routes_own);
    RUN(query_argument_without_equals_is_empty);
    RUN(query_answers_false_when_absent);
    RUN(query_refuses_a_value_that_does_not_fit);
    return test_summary();
}

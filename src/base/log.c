/*
 * log.c — one event per line, one line per write(2).
 *
 * A line is assembled in a stack buffer of LOG_LINE_SIZE_MAX bytes and handed
 * to the kernel with a single write, so lines from concurrent threads never
 * interleave (4096 bytes is also PIPE_BUF on Linux, so this holds for pipes).
 * No lock is taken and nothing is allocated: logging must work when memory is
 * short and must never become the contention point of the daemon.
 *
 * Escaping: the caller's key=value text is printf-formatted, then every byte
 * that could break the one-line-one-event rule or be mistaken for an escape
 * is rewritten: \n \r \t as such, backslash as \\, other control bytes and
 * DEL as \xHH. The request id and event name are single values, so there a
 * space or quote is escaped too. A UTF-8 sequence is copied whole, and a cut
 * never splits one, so a truncated line is still valid text.
 */
#include "base/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/clock.h"

#define LOG_LINE_SIZE_MAX 4096
#define LOG_REQUEST_ID_SIZE_MAX 64
#define LOG_TRUNCATED_MARK " truncated=1"

static int log_fd = STDERR_FILENO;
static enum log_level log_level_min = LOG_INFO;
static _Thread_local char log_request_id[LOG_REQUEST_ID_SIZE_MAX];

static const char *const log_level_names[] = {"debug", "info", "warn", "error", "audit"};
_Static_assert(sizeof log_level_names / sizeof log_level_names[0] == LOG_AUDIT + 1,
               "one name per level");

void log_init(FILE *out, enum log_level level_min)
{
    QB_ASSERT(out != NULL);
    QB_ASSERT((unsigned int)level_min <= LOG_ERROR); /* audit lines are never filtered */
    fflush(out); /* what stdio buffered so far goes first */
    log_fd = fileno(out);
    QB_ASSERT(log_fd >= 0);
    log_level_min = level_min;
}

int log_level_parse(const char *text)
{
    if (text == NULL)
        return -1;
    for (size_t i = 0; i <= LOG_ERROR; i++) {
        if (strcmp(text, log_level_names[i]) == 0)
            return (int)i;
    }
    return -1;
}

void log_set_request_id(const char *request_id)
{
    if (request_id == NULL) {
        log_request_id[0] = '\0';
        return;
    }
    size_t len = strnlen(request_id, sizeof log_request_id - 1);
    memcpy(log_request_id, request_id, len);
    log_request_id[len] = '\0';
}

/* A line under construction: bytes [0, size) of a fixed buffer, never more
 * than size_max of them. */
struct log_line {
    char *data;
    size_t size;
    size_t size_max;
};

static bool log_put(struct log_line *line, const char *bytes, size_t size)
{
    if (size > line->size_max - line->size)
        return false;
    memcpy(line->data + line->size, bytes, size);
    line->size += size;
    return true;
}

/* Length of the UTF-8 sequence whose lead byte is c, if the following bytes
 * are its continuation bytes; 1 otherwise (the byte is escaped alone). */
static size_t log_utf8_size(const unsigned char *p, size_t available)
{
    size_t want;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        want = 2;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        want = 3;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        want = 4;
    else
        return 1;
    if (want > available)
        return 1;
    for (size_t i = 1; i < want; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 1;
    }
    return want;
}

/* Appends the escaped form of text[0, size) to line, unit by unit, until a
 * unit does not fit. Returns how many input bytes were consumed. */
static size_t log_put_escaped(struct log_line *line, const char *text, size_t size,
                              bool single_value)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *in = (const unsigned char *)text;
    size_t pos = 0;
    while (pos < size) {
        unsigned char c = in[pos];
        char unit[4];
        const char *out = unit;
        size_t out_size = 2;
        size_t in_size = 1;
        unit[0] = '\\';
        if (c == '\n')
            unit[1] = 'n';
        else if (c == '\r')
            unit[1] = 'r';
        else if (c == '\t')
            unit[1] = 't';
        else if (c == '\\')
            unit[1] = '\\';
        else if (c < 0x20 || c == 0x7f || c >= 0x80 ||
                 (single_value && (c == ' ' || c == '"' || c == '='))) {
            in_size = c >= 0x80 ? log_utf8_size(in + pos, size - pos) : 1;
            if (in_size > 1) {
                out = text + pos;
                out_size = in_size;
            } else {
                unit[1] = 'x';
                unit[2] = hex[c >> 4];
                unit[3] = hex[c & 15];
                out_size = 4;
            }
        } else {
            out = text + pos;
            out_size = 1;
        }
        if (!log_put(line, out, out_size))
            break;
        pos += in_size;
    }
    return pos;
}

/* "2026-11-22T02:00:00.123Z" for the current time. */
static void log_timestamp(char *buf, size_t buf_size)
{
    QB_ASSERT(buf_size >= 32);
    int64_t now_ms = clock_now_ms(clock_system());
    char text[32];
    int n = clock_format_rfc3339(now_ms, 0, text, (int)sizeof text);
    if (n < 19) {
        memcpy(buf, "0000-00-00T00:00:00.000Z", 25);
        return;
    }
    int ms = (int)(now_ms % 1000);
    memcpy(buf, text, 19);
    buf[19] = '.';
    buf[20] = (char)('0' + ms / 100);
    buf[21] = (char)('0' + ms / 10 % 10);
    buf[22] = (char)('0' + ms % 10);
    buf[23] = 'Z';
    buf[24] = '\0';
}

static void log_write(const char *data, size_t size)
{
    while (size > 0) {
        ssize_t n = write(log_fd, data, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* nowhere to report a failing log */
        data += n;
        size -= (size_t)n;
    }
}

void log_event(enum log_level level, const char *event, const char *fmt, ...)
{
    QB_ASSERT((unsigned int)level < QB_ARRAY_COUNT(log_level_names));
    QB_ASSERT(event != NULL && fmt != NULL);
    if (level < log_level_min)
        return;

    int saved_errno = errno; /* callers log errno-bearing failures, then read errno */
    char pairs[LOG_LINE_SIZE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int pairs_n = vsnprintf(pairs, sizeof pairs, fmt, ap);
    va_end(ap);
    if (pairs_n < 0)
        pairs_n = 0;
    bool pairs_cut = (size_t)pairs_n >= sizeof pairs;
    size_t pairs_size = pairs_cut ? sizeof pairs - 1 : (size_t)pairs_n;

    /* Step 1: the fixed fields; a request id and event are short, so these
     * always fit. */
    char data[LOG_LINE_SIZE_MAX];
    struct log_line line = {data, 0, sizeof data - 1}; /* room for the newline */
    char ts[32];
    log_timestamp(ts, sizeof ts);
    log_put(&line, "ts=", 3);
    log_put(&line, ts, strlen(ts));
    log_put(&line, " level=", 7);
    log_put(&line, log_level_names[level], strlen(log_level_names[level]));
    log_put(&line, " req=", 5);
    if (log_request_id[0] == '\0')
        log_put(&line, "-", 1);
    else
        log_put_escaped(&line, log_request_id, strlen(log_request_id), true);
    log_put(&line, " event=", 7);
    size_t event_size = strnlen(event, 128);
    log_put_escaped(&line, event, event_size, true);

    /* Step 2: the pairs, cut to leave room for the mark when they overflow. */
    if (pairs_size > 0) {
        size_t fixed_size = line.size;
        bool complete = log_put(&line, " ", 1) &&
                        log_put_escaped(&line, pairs, pairs_size, false) == pairs_size;
        if (!complete || pairs_cut) {
            line.size = fixed_size;
            line.size_max = sizeof data - 1 - (sizeof LOG_TRUNCATED_MARK - 1);
            if (log_put(&line, " ", 1))
                log_put_escaped(&line, pairs, pairs_size, false);
            line.size_max = sizeof data - 1;
            log_put(&line, LOG_TRUNCATED_MARK, sizeof LOG_TRUNCATED_MARK - 1);
        }
    }
    QB_ASSERT(line.size < sizeof data);
    data[line.size++] = '\n';
    log_write(data, line.size);
    errno = saved_errno;
}

void log_mask_pan(const char *pan, char *buf, size_t buf_size)
{
    QB_ASSERT(buf != NULL && buf_size >= 9);
    char last[4];
    size_t digit_count = 0;
    for (const char *p = pan; p != NULL && *p != '\0'; p++) {
        if (*p >= '0' && *p <= '9') {
            last[digit_count % 4] = *p;
            digit_count++;
        }
    }
    memcpy(buf, "****", 4);
    if (digit_count < 4) {
        /* Too short to be a card number: show nothing of it. */
        buf[4] = '\0';
        return;
    }
    for (size_t i = 0; i < 4; i++)
        buf[4 + i] = last[(digit_count + i) % 4];
    buf[8] = '\0';
}

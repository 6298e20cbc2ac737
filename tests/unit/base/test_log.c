/*
 * test_log.c — the log line format, levels (audit lines never filtered),
 * escaping, the cap, thread safety, PAN masking.
 *
 * Each test logs into a fresh file and reads it back: log lines are an
 * interface (operators grep them, the secret scan reads them), so the tests
 * check the exact bytes.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "test.h"

static char tmpdir[1024];
static char path[1100];
static FILE *out;
static char text[1 << 24]; /* the concurrency test writes about 10 MB */

/* Starts a fresh log file at the given level. */
static void capture(enum log_level level_min)
{
    if (out != NULL)
        fclose(out);
    out = fopen(path, "w");
    if (out == NULL)
        abort();
    log_init(out, level_min);
}

/* The whole log file so far, NUL-terminated; returns its size. */
static size_t captured(void)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        abort();
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    return n;
}

/* The line without its "ts=... " prefix, checking the timestamp's shape. */
static const char *after_ts(const char *line)
{
    if (strncmp(line, "ts=", 3) != 0)
        return NULL;
    const char *ts = line + 3;
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ ";
    for (size_t i = 0; i < sizeof shape - 1; i++) {
        if (shape[i] == 'd' ? !(ts[i] >= '0' && ts[i] <= '9') : ts[i] != shape[i])
            return NULL;
    }
    return ts + sizeof shape - 1;
}

static size_t count_char(const char *s, char c)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += *s == c;
    return n;
}

TEST(line_format)
{
    // One event is "ts=<UTC ms> level= req= event= <pairs>\n", with "req=-"
    // when no request is being served.
    capture(LOG_INFO);
    log_set_request_id(NULL);
    log_event(LOG_INFO, "daemon.start", "listen=%s pid=%d", "127.0.0.1:8080", 42);
    log_event(LOG_WARN, "queue.full", "%s", "");
    captured();
    const char *rest = after_ts(text);
    ASSERT(rest != NULL);
    const char *want = "level=info req=- event=daemon.start listen=127.0.0.1:8080 pid=42\n";
    ASSERT_EQ_INT(strncmp(rest, want, strlen(want)), 0);
    rest = after_ts(rest + strlen(want));
    ASSERT(rest != NULL);
    ASSERT_EQ_STR(rest, "level=warn req=- event=queue.full\n");
}

TEST(timestamp_is_now)
{
    // The timestamp is the current UTC time, to the second, so lines from
    // different hosts can be merged. Read from the clock the log reads:
    // time() answers the second of the kernel's last tick, a few
    // milliseconds behind clock_gettime after each second begins (0.4 % of
    // reads here), and the line's second was then past "after".
    capture(LOG_INFO);
    time_t before = (time_t)(clock_now_ms(clock_system()) / 1000);
    log_event(LOG_INFO, "t", "x=1");
    time_t after = (time_t)(clock_now_ms(clock_system()) / 1000);
    captured();
    struct tm tm;
    char low[32], high[32];
    gmtime_r(&before, &tm);
    strftime(low, sizeof low, "%Y-%m-%dT%H:%M:%S", &tm);
    gmtime_r(&after, &tm);
    strftime(high, sizeof high, "%Y-%m-%dT%H:%M:%S", &tm);
    ASSERT(strncmp(text + 3, low, 19) >= 0 && strncmp(text + 3, high, 19) <= 0);
}

TEST(level_filter)
{
    // Lines below the minimum level are not written; at or above, they are.
    capture(LOG_WARN);
    log_event(LOG_DEBUG, "a", "n=1");
    log_event(LOG_INFO, "b", "n=2");
    log_event(LOG_WARN, "c", "n=3");
    log_event(LOG_ERROR, "d", "n=4");
    captured();
    ASSERT_EQ_INT(count_char(text, '\n'), 2);
    ASSERT(strstr(text, "event=a") == NULL && strstr(text, "event=b") == NULL);
    ASSERT(strstr(text, "level=warn req=- event=c n=3\n") != NULL);
    ASSERT(strstr(text, "level=error req=- event=d n=4\n") != NULL);
    capture(LOG_DEBUG);
    log_event(LOG_DEBUG, "a", "n=1");
    captured();
    ASSERT(strstr(text, "level=debug req=- event=a n=1\n") != NULL);
}

TEST(audit_lines_pass_every_level)
{
    // The audit trail (operators' changes, the daemon's start and stop) must not vanish when
    // an operator quiets the log: an audit line is written at the highest minimum level too.
    capture(LOG_ERROR);
    log_event(LOG_WARN, "a", "n=1");
    log_event(LOG_AUDIT, "admin.user_changed", "action=freeze user_id=%s", "u_1");
    captured();
    ASSERT_EQ_INT(count_char(text, '\n'), 1);
    ASSERT(strstr(text, "level=audit req=- event=admin.user_changed action=freeze user_id=u_1\n") !=
           NULL);
}

TEST(level_parse)
{
    // The four level names parse to their enum values; anything else is -1.
    ASSERT_EQ_INT(log_level_parse("debug"), LOG_DEBUG);
    ASSERT_EQ_INT(log_level_parse("info"), LOG_INFO);
    ASSERT_EQ_INT(log_level_parse("warn"), LOG_WARN);
    ASSERT_EQ_INT(log_level_parse("error"), LOG_ERROR);
    ASSERT_EQ_INT(log_level_parse("INFO"), -1);
    ASSERT_EQ_INT(log_level_parse("warning"), -1);
    ASSERT_EQ_INT(log_level_parse("audit"), -1); /* an operator cannot filter audit lines */
    ASSERT_EQ_INT(log_level_parse(""), -1);
    ASSERT_EQ_INT(log_level_parse(NULL), -1);
}

TEST(escapes_control_characters)
{
    // A value with a newline cannot forge a second event: newlines, CR, tab,
    // backslash and other control bytes are escaped; UTF-8 passes through.
    capture(LOG_INFO);
    log_event(LOG_INFO, "user.name", "name=%s", "a\nts=x level=error event=forged\r\t\\\x01\x7f 钱包");
    captured();
    ASSERT_EQ_INT(count_char(text, '\n'), 1);
    ASSERT(strstr(text, "name=a\\nts=x level=error event=forged\\r\\t\\\\\\x01\\x7f 钱包\n") !=
           NULL);
}

TEST(request_id_is_per_thread)
{
    // The request id set on one thread shows on its lines only, and an id
    // with spaces or newlines is escaped into one token.
    capture(LOG_INFO);
    log_set_request_id("r_abc");
    log_event(LOG_INFO, "one", "n=1");
    log_set_request_id("bad id\n=x");
    log_event(LOG_INFO, "two", "n=2");
    log_set_request_id(NULL);
    log_event(LOG_INFO, "three", "n=3");
    captured();
    ASSERT(strstr(text, "req=r_abc event=one n=1\n") != NULL);
    ASSERT(strstr(text, "req=bad\\x20id\\n\\x3dx event=two n=2\n") != NULL);
    ASSERT(strstr(text, "req=- event=three n=3\n") != NULL);
}

static void *log_from_other_thread(void *arg)
{
    (void)arg;
    log_event(LOG_INFO, "other", "n=1");
    log_set_request_id("r_other");
    log_event(LOG_INFO, "other", "n=2");
    return NULL;
}

TEST(request_id_does_not_leak_across_threads)
{
    // A thread that never set a request id logs "req=-" even while another
    // thread serves a request, and its own id does not reach the main thread.
    capture(LOG_INFO);
    log_set_request_id("r_main");
    pthread_t thread;
    ASSERT_EQ_INT(pthread_create(&thread, NULL, log_from_other_thread, NULL), 0);
    ASSERT_EQ_INT(pthread_join(thread, NULL), 0);
    log_event(LOG_INFO, "main", "n=3");
    log_set_request_id(NULL);
    captured();
    ASSERT(strstr(text, "req=- event=other n=1\n") != NULL);
    ASSERT(strstr(text, "req=r_other event=other n=2\n") != NULL);
    ASSERT(strstr(text, "req=r_main event=main n=3\n") != NULL);
}

TEST(long_lines_are_cut_at_4_kib)
{
    // A 10,000-byte value yields one line of at most 4096 bytes, ending in
    // " truncated=1", so one huge value cannot flood or split the log.
    static char value[10001];
    memset(value, 'v', sizeof value - 1);
    capture(LOG_INFO);
    log_event(LOG_INFO, "big", "v=%s", value);
    size_t n = captured();
    ASSERT(n <= 4096 && n > 4000);
    ASSERT_EQ_INT(count_char(text, '\n'), 1);
    ASSERT(strcmp(text + n - 13, " truncated=1\n") == 0);
    ASSERT(strstr(text, " v=vvvv") != NULL);
}

TEST(line_that_fits_is_not_marked)
{
    // A line of exactly 4096 bytes fits and is not marked; one byte more is.
    capture(LOG_INFO);
    log_set_request_id(NULL);
    log_event(LOG_INFO, "fit", "%s", "x=1");
    size_t base = captured() - 3; /* the line without its pairs' "x=1" */
    static char value[5000];
    size_t room = 4096 - base - 2; /* "v=" */
    memset(value, 'v', room);
    value[room] = '\0';
    capture(LOG_INFO);
    log_event(LOG_INFO, "fit", "v=%s", value);
    size_t n = captured();
    ASSERT_EQ_INT(n, 4096);
    ASSERT(strstr(text, "truncated=1") == NULL);
    value[room] = 'v';
    value[room + 1] = '\0';
    capture(LOG_INFO);
    log_event(LOG_INFO, "fit", "v=%s", value);
    n = captured();
    ASSERT(n <= 4096);
    ASSERT(strcmp(text + n - 13, " truncated=1\n") == 0);
}

TEST(cut_never_splits_escapes_or_utf8)
{
    // At the cut, an escape sequence or a multi-byte character is kept whole
    // or dropped whole, so the truncated line still decodes.
    static char value[9000];
    for (int shift = 0; shift < 4; shift++) {
        size_t len = 0;
        for (int i = 0; i < shift; i++)
            value[len++] = 'a';
        while (len + 3 < sizeof value - 1) {
            memcpy(value + len, "钱", 3); /* three bytes */
            len += 3;
            value[len++] = '\n';
        }
        value[len] = '\0';
        capture(LOG_INFO);
        log_event(LOG_INFO, "cut", "v=%s", value);
        size_t n = captured();
        ASSERT(n <= 4096);
        ASSERT(strcmp(text + n - 13, " truncated=1\n") == 0);
        /* Just before the mark: a whole character or a whole "\n". */
        const char *end = text + n - 13;
        bool whole_char = memcmp(end - 3, "钱", 3) == 0;
        bool whole_escape = end[-2] == '\\' && end[-1] == 'n';
        bool prefix_only = end[-1] == 'a' || end[-1] == '=';
        ASSERT(whole_char || whole_escape || prefix_only);
    }
}

enum { THREAD_COUNT = 8, LINES_PER_THREAD = 400 };

static void *log_many(void *arg)
{
    int id = (int)(intptr_t)arg;
    static char value[THREAD_COUNT][3000];
    memset(value[id], 'a' + id, sizeof value[id] - 1);
    for (int i = 0; i < LINES_PER_THREAD; i++)
        log_event(LOG_INFO, "stress", "thread=%d i=%d v=%s end=1", id, i, value[id]);
    return NULL;
}

TEST(concurrent_lines_never_interleave)
{
    // 8 threads writing 3 KB lines at once: every line comes out whole, each
    // made of one thread's bytes only, none lost (one write(2) per line).
    if (out != NULL)
        fclose(out);
    out = fopen(path, "a"); /* O_APPEND: each write lands at the end */
    ASSERT(out != NULL);
    ASSERT_EQ_INT(ftruncate(fileno(out), 0), 0);
    log_init(out, LOG_INFO);
    pthread_t threads[THREAD_COUNT];
    for (int i = 0; i < THREAD_COUNT; i++)
        ASSERT_EQ_INT(pthread_create(&threads[i], NULL, log_many, (void *)(intptr_t)i), 0);
    for (int i = 0; i < THREAD_COUNT; i++)
        ASSERT_EQ_INT(pthread_join(threads[i], NULL), 0);
    captured();
    int seen[THREAD_COUNT] = {0};
    int lines = 0;
    for (char *line = text; *line != '\0';) {
        char *nl = strchr(line, '\n');
        ASSERT(nl != NULL);
        *nl = '\0';
        int thread = -1, index = -1;
        const char *pairs = strstr(line, "event=stress thread=");
        ASSERT(pairs != NULL);
        ASSERT_EQ_INT(sscanf(pairs, "event=stress thread=%d i=%d", &thread, &index), 2);
        ASSERT(thread >= 0 && thread < THREAD_COUNT);
        const char *v = strstr(pairs, " v=");
        ASSERT(v != NULL);
        for (int k = 0; k < 2999; k++)
            ASSERT_EQ_INT(v[3 + k], 'a' + thread);
        ASSERT_EQ_STR(v + 3 + 2999, " end=1");
        seen[thread]++;
        lines++;
        line = nl + 1;
    }
    ASSERT_EQ_INT(lines, THREAD_COUNT * LINES_PER_THREAD);
    for (int i = 0; i < THREAD_COUNT; i++)
        ASSERT_EQ_INT(seen[i], LINES_PER_THREAD);
}

TEST(errno_is_preserved)
{
    // Logging a failure must not clobber the errno the caller is about to
    // inspect or return.
    capture(LOG_INFO);
    errno = ENOSPC;
    log_event(LOG_ERROR, "disk.full", "errno=%d", errno);
    ASSERT_EQ_INT(errno, ENOSPC);
}

TEST(mask_pan_keeps_last_four)
{
    // Only the last four digits of a card number survive, whatever the
    // spacing; too short a number shows nothing.
    char buf[16];
    log_mask_pan("6222 **** **** 1234", buf, sizeof buf);
    ASSERT_EQ_STR(buf, "****1234");
    log_mask_pan("6222021234567890123", buf, sizeof buf);
    ASSERT_EQ_STR(buf, "****0123");
    log_mask_pan("4111-1111-1111-1111", buf, sizeof buf);
    ASSERT_EQ_STR(buf, "****1111");
    log_mask_pan("6222 0212 3456 7895 ", buf, sizeof buf);
    ASSERT_EQ_STR(buf, "****7895");
    log_mask_pan("12345", buf, 9);
    ASSERT_EQ_STR(buf, "****2345");
    log_mask_pan("123", buf, sizeof buf);
    ASSERT_EQ_STR(buf, "****");
    log_mask_pan("", buf, sizeof buf);
    ASSERT_EQ_STR(buf, "****");
    log_mask_pan(NULL, buf, sizeof buf);
    ASSERT_EQ_STR(buf, "****");
}

TEST(mask_pan_output_holds_no_other_digit)
{
    // For 2,000 random 16-19 digit numbers the masked text is "****" and the
    // last four digits, nothing else of the number.
    uint64_t state = test_seed();
    for (int n = 0; n < 2000; n++) {
        char pan[32], buf[16];
        state = state * 6364136223846793005u + 1442695040888963407u;
        size_t len = 16 + (size_t)(state >> 60) % 4;
        for (size_t i = 0; i < len; i++) {
            state = state * 6364136223846793005u + 1442695040888963407u;
            pan[i] = (char)('0' + (state >> 33) % 10);
        }
        pan[len] = '\0';
        log_mask_pan(pan, buf, sizeof buf);
        ASSERT_EQ_INT(strlen(buf), 8);
        ASSERT_EQ_INT(strncmp(buf, "****", 4), 0);
        ASSERT_EQ_STR(buf + 4, pan + len - 4);
    }
}

/* The root of the source tree: $QB_SOURCE_DIR, or found from this file's path. */
static void S_source_root(char *root, size_t root_size)
{
    const char *env = getenv("QB_SOURCE_DIR");
    if (env != NULL && env[0] != '\0') {
        snprintf(root, root_size, "%s", env);
        return;
    }
    const char *slash = strrchr(__FILE__, '/');
    int dir_len = slash == NULL ? 1 : (int)(slash - __FILE__);
    snprintf(root, root_size, "%.*s/../../..", dir_len, slash == NULL ? "." : __FILE__);
}

/* Reads the file at path into text (NUL-terminated); false when it cannot. */
static bool S_text_read(const char *file, char *buf, size_t buf_size)
{
    FILE *f = fopen(file, "r");
    if (f == NULL)
        return false;
    size_t n = fread(buf, 1, buf_size - 1, f);
    bool whole = feof(f) != 0;
    fclose(f);
    buf[n] = '\0';
    return whole;
}

#define S_EVENTS_MAX 256
#define S_EVENT_SIZE_MAX 64

/* Marks found[i] for every events[i] that dir's .c files (and those below it) hold as a string
 * literal's start: "daemon.stop" or "daemon.stop", ... */
static void S_events_find(const char *dir, char events[][S_EVENT_SIZE_MAX], size_t count,
                          bool *found)
{
    static char source[1 << 20];
    DIR *d = opendir(dir);
    if (d == NULL)
        TEST_FAIL_("cannot open %s", dir);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char sub[1536];
        snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(sub, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            S_events_find(sub, events, count, found);
            continue;
        }
        size_t name_size = strlen(e->d_name);
        if (name_size < 3 || strcmp(e->d_name + name_size - 2, ".c") != 0)
            continue;
        if (!S_text_read(sub, source, sizeof source))
            TEST_FAIL_("cannot read %s whole", sub);
        for (size_t i = 0; i < count; i++) {
            char quoted[S_EVENT_SIZE_MAX + 2];
            snprintf(quoted, sizeof quoted, "\"%.*s\"", S_EVENT_SIZE_MAX - 1, events[i]);
            found[i] = found[i] || strstr(source, quoted) != NULL;
        }
    }
    closedir(d);
}

TEST(every_event_the_operations_doc_names_is_logged)
{
    // docs/operations.md tells an operator which log lines to look for (`event=ledger.verified`,
    // `daemon.wal_left`, ...). A name the code no longer logs, or never did, is a grep that finds
    // nothing while the thing it watches for happens: each must be the name of a log_event call
    // in src/, a string literal of its own.
    static const char *const modules[] = {"admin.",  "daemon.",   "http.",  "identity.",
                                          "ledger.", "merchant.", "sms.",   "store.",
                                          "test.",   "worker.",   "crypto."};
    static char doc[262144];
    static char events[S_EVENTS_MAX][S_EVENT_SIZE_MAX];
    static bool found[S_EVENTS_MAX];
    char root[1024], file[1100];
    S_source_root(root, sizeof root);
    snprintf(file, sizeof file, "%s/docs/operations.md", root);
    if (!S_text_read(file, doc, sizeof doc))
        TEST_FAIL_("cannot read %s whole", file);

    /* The names in code spans: `event=daemon.stop ...` or `daemon.stop`. */
    size_t count = 0;
    bool span = false;
    for (const char *p = doc; *p != '\0'; p++) {
        if (*p != '`') {
            continue;
        }
        span = !span;
        if (!span)
            continue;
        const char *name = p + 1;
        if (strncmp(name, "event=", 6) == 0)
            name += 6;
        size_t name_size = strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_.");
        bool module = false;
        for (size_t m = 0; m < sizeof modules / sizeof modules[0]; m++)
            module = module || strncmp(name, modules[m], strlen(modules[m])) == 0;
        if (!module || name_size >= S_EVENT_SIZE_MAX || name[name_size - 1] == '.')
            continue;
        bool seen = false;
        for (size_t i = 0; i < count; i++)
            seen =
                seen || (strlen(events[i]) == name_size && memcmp(events[i], name, name_size) == 0);
        if (seen)
            continue;
        ASSERT(count < S_EVENTS_MAX);
        memcpy(events[count], name, name_size);
        events[count][name_size] = '\0';
        count++;
    }
    ASSERT(count > 30);

    snprintf(file, sizeof file, "%s/src", root);
    S_events_find(file, events, count, found);
    for (size_t i = 0; i < count; i++) {
        if (!found[i])
            TEST_FAIL_("docs/operations.md names the log event \"%s\"; nothing in src/ logs it",
                       events[i]);
    }
}

int main(void)
{
    test_tmpdir(tmpdir, sizeof tmpdir);
    snprintf(path, sizeof path, "%s/log.txt", tmpdir);
    RUN(line_format);
    RUN(timestamp_is_now);
    RUN(level_filter);
    RUN(audit_lines_pass_every_level);
    RUN(level_parse);
    RUN(escapes_control_characters);
    RUN(request_id_is_per_thread);
    RUN(request_id_does_not_leak_across_threads);
    RUN(long_lines_are_cut_at_4_kib);
    RUN(line_that_fits_is_not_marked);
    RUN(cut_never_splits_escapes_or_utf8);
    RUN(concurrent_lines_never_interleave);
    RUN(errno_is_preserved);
    RUN(mask_pan_keeps_last_four);
    RUN(mask_pan_output_holds_no_other_digit);
    RUN(every_event_the_operations_doc_names_is_logged);
    log_init(stderr, LOG_INFO);
    if (out != NULL)
        fclose(out);
    test_rmtree(tmpdir);
    return test_summary();
}

/*
 * test_config.c — flags, environment, defaults, bounds, usage.
 *
 * A daemon that starts with a silently wrong setting (a clamped queue size,
 * an ignored typo'd flag) is harder to operate than one that refuses to
 * start, so most of these tests check refusals and their one-line messages.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "test.h"

static const char *const env_names[] = {
    "QIANBAO_DATA_DIR",
    "QIANBAO_LISTEN",
    "QIANBAO_DB",
    "QIANBAO_LOG_LEVEL",
    "QIANBAO_HTTP_THREADS",
    "QIANBAO_HTTP_CONNECTIONS_MAX",
    "QIANBAO_HTTP_BODY_SIZE_MAX",
    "QIANBAO_EXECUTOR_QUEUE_MAX",
    "QIANBAO_EXECUTOR_BATCH_MAX",
    "QIANBAO_READ_CONNECTIONS",
    "QIANBAO_HTTP_TIMEOUT_S",
    "QIANBAO_IDEMPOTENCY_RETENTION_DAYS",
    "QIANBAO_VERIFY_INTERVAL_H",
    "QIANBAO_SESSION_CACHE",
    "QIANBAO_WITHDRAWAL_FREE_QUOTA",
};

static struct config cfg;
static char err[256];

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof env_names / sizeof env_names[0]; i++)
        unsetenv(env_names[i]);
}

/* config_load on a NULL-terminated list of arguments after "qianbaod". */
static enum qb_error load(const char *first, ...)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)"qianbaod";
    va_list ap;
    va_start(ap, first);
    for (const char *arg = first; arg != NULL; arg = va_arg(ap, const char *)) {
        if (argc == 31)
            abort();
        argv[argc++] = (char *)arg;
    }
    va_end(ap);
    argv[argc] = NULL;
    memset(err, 'x', sizeof err);
    return config_load(&cfg, argc, argv, err, sizeof err);
}

/* The refusal is QB_E_PARAM with one line naming `needle`. */
static void expect_refused(enum qb_error e, const char *needle)
{
    if (e != QB_E_PARAM)
        TEST_FAIL_("err %d, want QB_E_PARAM (message \"%s\")", (int)e, err);
    if (strstr(err, needle) == NULL)
        TEST_FAIL_("message \"%s\" does not name \"%s\"", err, needle);
    if (strchr(err, '\n') != NULL || strlen(err) == 0)
        TEST_FAIL_("message \"%s\" is not one line", err);
}

TEST(defaults)
{
    // With no flags and no environment every setting has its documented
    // default.
    clear_env();
    ASSERT_EQ_INT(load(NULL), QB_OK);
    ASSERT_EQ_STR(err, "");
    ASSERT_EQ_STR(cfg.data_dir, "./data");
    ASSERT_EQ_STR(cfg.listen, "127.0.0.1:8080");
    ASSERT_EQ_STR(cfg.db_url, "");
    ASSERT_EQ_STR(cfg.log_level, "info");
    ASSERT_EQ_INT(cfg.http_threads, 2);
    ASSERT_EQ_INT(cfg.http_connections_max, 10000);
    ASSERT_EQ_INT(cfg.http_body_size_max, 65536);
    ASSERT_EQ_INT(cfg.http_timeout_s, 30);
    ASSERT_EQ_INT(cfg.executor_queue_max, 65536);
    ASSERT_EQ_INT(cfg.executor_batch_max, 8192);
    ASSERT_EQ_INT(cfg.read_connections, 4);
    ASSERT_EQ_INT(cfg.verify_interval_h, 24);
    ASSERT_EQ_INT(cfg.v3_signed_per_s, 2600);
    ASSERT_EQ_INT(cfg.session_cache, 262144);
    ASSERT_EQ_INT(cfg.withdrawal_free_quota, 0);
    ASSERT(!cfg.verify);
    ASSERT(!cfg.help);
}

TEST(flags_in_both_forms)
{
    // "--flag value" and "--flag=value" both set a setting, for text and
    // numbers, and boolean flags take no value.
    clear_env();
    ASSERT_EQ_INT(load("--data-dir", "/var/lib/qianbao", "--listen=0.0.0.0:9000", "--db=",
                       "--log-level", "debug", "--http-threads=8", "--http-connections-max",
                       "16", "--http-body-size-max=1048576", "--executor-queue-max", "16",
                       "--executor-batch-max=65536", "--read-connections", "64", "--verify",
                       "--help", NULL),
                  QB_OK);
    ASSERT_EQ_STR(cfg.data_dir, "/var/lib/qianbao");
    ASSERT_EQ_STR(cfg.listen, "0.0.0.0:9000");
    ASSERT_EQ_STR(cfg.db_url, "");
    ASSERT_EQ_STR(cfg.log_level, "debug");
    ASSERT_EQ_INT(cfg.http_threads, 8);
    ASSERT_EQ_INT(cfg.http_connections_max, 16);
    ASSERT_EQ_INT(cfg.http_body_size_max, 1048576);
    ASSERT_EQ_INT(cfg.executor_queue_max, 16);
    ASSERT_EQ_INT(cfg.executor_batch_max, 65536);
    ASSERT_EQ_INT(cfg.read_connections, 64);
    ASSERT(cfg.verify);
    ASSERT(cfg.help);
}

TEST(value_may_contain_equals_and_start_with_dashes)
{
    // Only the first '=' splits; in the two-word form the next argument is
    // the value even when it looks like a flag.
    clear_env();
    ASSERT_EQ_INT(load("--db=postgres://u@h/db?sslmode=require", NULL), QB_OK);
    ASSERT_EQ_STR(cfg.db_url, "postgres://u@h/db?sslmode=require");
    ASSERT_EQ_INT(load("--data-dir", "--odd-dir", NULL), QB_OK);
    ASSERT_EQ_STR(cfg.data_dir, "--odd-dir");
}

TEST(precedence_flag_then_env_then_default)
{
    // The environment overrides defaults and a flag overrides the
    // environment; the last of repeated flags wins.
    clear_env();
    setenv("QIANBAO_HTTP_THREADS", "5", 1);
    setenv("QIANBAO_DATA_DIR", "/env/dir", 1);
    setenv("QIANBAO_DB", "", 1); /* empty is allowed: the default */
    ASSERT_EQ_INT(load(NULL), QB_OK);
    ASSERT_EQ_INT(cfg.http_threads, 5);
    ASSERT_EQ_STR(cfg.data_dir, "/env/dir");
    ASSERT_EQ_STR(cfg.listen, "127.0.0.1:8080");
    ASSERT_EQ_INT(load("--http-threads", "7", "--http-threads=9", NULL), QB_OK);
    ASSERT_EQ_INT(cfg.http_threads, 9);
    ASSERT_EQ_STR(cfg.data_dir, "/env/dir");
    clear_env();
}

TEST(an_empty_variable_is_refused_where_a_value_is_needed)
{
    // QIANBAO_DATA_DIR= from a broken unit file counted as unset and started a new, empty
    // wallet in ./data. Blank, a variable is refused as the empty flag is, naming it.
    const char *names[] = {"QIANBAO_DATA_DIR", "QIANBAO_LISTEN", "QIANBAO_HTTP_THREADS"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(names); i++) {
        clear_env();
        setenv(names[i], "", 1);
        ASSERT_EQ_INT(load(NULL), QB_E_PARAM);
        ASSERT(strstr(err, names[i]) != NULL);
    }
    clear_env();
    setenv("QIANBAO_ADMIN_LISTEN", "", 1);
    ASSERT_EQ_INT(load(NULL), QB_OK);
    ASSERT_EQ_STR(cfg.admin_listen, "");
    clear_env();
}

TEST(every_env_variable_is_read)
{
    // Each documented QIANBAO_* variable reaches its field.
    clear_env();
    setenv("QIANBAO_DB", "postgres://x", 1);
    setenv("QIANBAO_LOG_LEVEL", "warn", 1);
    setenv("QIANBAO_HTTP_CONNECTIONS_MAX", "100000", 1);
    setenv("QIANBAO_HTTP_BODY_SIZE_MAX", "1024", 1);
    setenv("QIANBAO_EXECUTOR_QUEUE_MAX", "1048576", 1);
    setenv("QIANBAO_EXECUTOR_BATCH_MAX", "1", 1);
    setenv("QIANBAO_READ_CONNECTIONS", "1", 1);
    setenv("QIANBAO_LISTEN", "[::1]:1", 1);
    setenv("QIANBAO_VERIFY_INTERVAL_H", "0", 1);
    setenv("QIANBAO_WITHDRAWAL_FREE_QUOTA", "100000", 1);
    ASSERT_EQ_INT(load(NULL), QB_OK);
    ASSERT_EQ_STR(cfg.db_url, "postgres://x");
    ASSERT_EQ_STR(cfg.log_level, "warn");
    ASSERT_EQ_STR(cfg.listen, "[::1]:1");
    ASSERT_EQ_INT(cfg.http_connections_max, 100000);
    ASSERT_EQ_INT(cfg.http_body_size_max, 1024);
    ASSERT_EQ_INT(cfg.executor_queue_max, 1048576);
    ASSERT_EQ_INT(cfg.executor_batch_max, 1);
    ASSERT_EQ_INT(cfg.read_connections, 1);
    ASSERT_EQ_INT(cfg.verify_interval_h, 0);
    ASSERT_EQ_INT(cfg.withdrawal_free_quota, 100000);
    clear_env();
}

TEST(bounds_are_inclusive_and_enforced)
{
    // Each bound itself is accepted and one past it refused, with a message
    // naming the flag and the range: never clamped.
    static const struct {
        const char *flag;
        int64_t min, max;
    } bounds[] = {
        {"http-threads", 1, 64},
        {"http-connections-max", 16, 100000},
        {"http-body-size-max", 1024, 1048576},
        {"executor-queue-max", 16, 1048576},
        {"executor-batch-max", 1, 65536},
        {"read-connections", 1, 64},
        {"http-timeout-s", 1, 3600},
        {"idempotency-retention-days", 1, 3650},
        {"verify-interval-h", 0, 168},
    };
    clear_env();
    for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++) {
        char arg[128], flag[64];
        snprintf(flag, sizeof flag, "--%s", bounds[i].flag);
        snprintf(arg, sizeof arg, "%s=%" PRId64, flag, bounds[i].min);
        ASSERT_EQ_INT(load(arg, NULL), QB_OK);
        snprintf(arg, sizeof arg, "%s=%" PRId64, flag, bounds[i].max);
        ASSERT_EQ_INT(load(arg, NULL), QB_OK);
        snprintf(arg, sizeof arg, "%s=%" PRId64, flag, bounds[i].min - 1);
        expect_refused(load(arg, NULL), flag);
        char range[64];
        snprintf(range, sizeof range, "%" PRId64 "..%" PRId64, bounds[i].min, bounds[i].max);
        expect_refused(load(arg, NULL), range);
        snprintf(arg, sizeof arg, "%s=%" PRId64, flag, bounds[i].max + 1);
        expect_refused(load(arg, NULL), flag);
    }
}

TEST(integers_are_strict)
{
    // Only plain decimal integers: no spaces, signs, hex, suffixes, leading
    // zeros or values outside int64_t, which strtoll would partly accept.
    static const char *const bad[] = {"",
                                      "abc",
                                      "8x",
                                      " 8",
                                      "8 ",
                                      "+8",
                                      "0x8",
                                      "08",
                                      "8.0",
                                      "1e1",
                                      "--8",
                                      "8k",
                                      "99999999999999999999",
                                      "-",
                                      "٨",
                                      "-0"};
    clear_env();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char arg[64];
        snprintf(arg, sizeof arg, "--http-threads=%s", bad[i]);
        expect_refused(load(arg, NULL), "--http-threads");
    }
    expect_refused(load("--http-threads=-1", NULL), "out of range");
    expect_refused(load("--http-threads=-9223372036854775808", NULL), "out of range");
    /* Digits past int64_t are a number out of range, not "not an integer". */
    expect_refused(load("--limit-daily=9223372036854775808", NULL), "is out of range");
    expect_refused(load("--http-threads=-99999999999999999999", NULL), "is out of range");
}

TEST(session_cache_size)
{
    // The session cache's size: from the flag or its variable, within
    // 8..16777216 (below, not even a bucket; above, 4 GiB of entries).
    clear_env();
    ASSERT_EQ_INT(load("--session-cache", "1000000", NULL), QB_OK);
    ASSERT_EQ_INT(cfg.session_cache, 1000000);
    setenv("QIANBAO_SESSION_CACHE", "8", 1);
    ASSERT_EQ_INT(load(NULL), QB_OK);
    ASSERT_EQ_INT(cfg.session_cache, 8);
    unsetenv("QIANBAO_SESSION_CACHE");
    expect_refused(load("--session-cache=7", NULL), "out of range");
    expect_refused(load("--session-cache=16777217", NULL), "out of range");
}

TEST(unknown_flag_and_stray_arguments)
{
    // A typo'd or unknown flag, a single-dash flag or a positional argument is
    // refused with a message naming it, not ignored; but -h, which every
    // operator tries first, is --help.
    clear_env();
    expect_refused(load("--http-thread=4", NULL), "--http-thread");
    expect_refused(load("--listen", "x", "--nope", NULL), "--nope");
    expect_refused(load("-v", NULL), "-v");
    expect_refused(load("-help", NULL), "-help");
    ASSERT_EQ_INT(load("-h", NULL), QB_OK);
    ASSERT(cfg.help && !cfg.version);
    ASSERT_EQ_INT(load("--version", NULL), QB_OK);
    ASSERT(cfg.version && !cfg.help);
    expect_refused(load("data", NULL), "data");
    expect_refused(load("--", NULL), "--");
    expect_refused(load("--data-dir", "/d", "extra", NULL), "extra");
}

TEST(missing_and_unwanted_values)
{
    // A flag needing a value at the end of argv, or a boolean flag given one,
    // is refused.
    clear_env();
    expect_refused(load("--listen", NULL), "--listen");
    expect_refused(load("--verify=yes", NULL), "--verify");
    expect_refused(load("--help=1", NULL), "--help");
}

TEST(text_values_are_validated)
{
    // Text must fit its field, a required path must not be empty, and the
    // log level must be one the logger knows.
    clear_env();
    static char long_path[CONFIG_PATH_SIZE_MAX + 16];
    memset(long_path, 'p', CONFIG_PATH_SIZE_MAX);
    long_path[CONFIG_PATH_SIZE_MAX] = '\0';
    expect_refused(load("--data-dir", long_path, NULL), "too long");
    long_path[CONFIG_PATH_SIZE_MAX - 1] = '\0';
    ASSERT_EQ_INT(load("--data-dir", long_path, NULL), QB_OK);
    ASSERT_EQ_INT(strlen(cfg.data_dir), CONFIG_PATH_SIZE_MAX - 1);
    expect_refused(load("--data-dir=", NULL), "--data-dir");
    expect_refused(load("--listen=", NULL), "--listen");
    expect_refused(load("--log-level=loud", NULL), "loud");
    expect_refused(load("--log-level=INFO", NULL), "--log-level");
    /* The refusal names the levels there are. */
    expect_refused(load("--log-level=DEBUG", NULL), "debug, info, warn or error");
    /* A control character, most often a line's end an env file saved with
     * CRLF copied along: a data directory of that name was a new, empty
     * wallet. JSON (the SMS body template) may hold its whitespace. */
    setenv("QIANBAO_DATA_DIR", "/var/lib/qianbao\r", 1);
    expect_refused(load(NULL), "QIANBAO_DATA_DIR: the value holds a control character (byte 17");
    clear_env();
    expect_refused(load("--db=/var/lib/qianbao/qianbao.db\t", NULL), "control character");
    expect_refused(load("--sms-provider-url=http://sms.example.com/\x7f", NULL),
                   "control character");
    expect_refused(load("--sms-body-template={\"p\":\"{phone}\x01\"}", NULL), "control character");
    ASSERT_EQ_INT(load("--sms-body-template={\r\n\t\"p\": \"{phone}\", \"c\": \"{code}\"\n}", NULL),
                  QB_OK);
}

TEST(bad_environment_names_the_variable)
{
    // A bad environment value is refused like a flag, naming the variable so
    // the operator knows where to look.
    clear_env();
    setenv("QIANBAO_READ_CONNECTIONS", "0", 1);
    expect_refused(load(NULL), "QIANBAO_READ_CONNECTIONS");
    clear_env();
    setenv("QIANBAO_LOG_LEVEL", "verbose", 1);
    expect_refused(load(NULL), "QIANBAO_LOG_LEVEL");
    /* A good flag does not rescue a bad environment value. */
    expect_refused(load("--log-level=info", NULL), "QIANBAO_LOG_LEVEL");
    clear_env();
}

TEST(message_is_one_line_and_bounded)
{
    // A value carrying a newline cannot split the error line, and a small
    // err buffer is still NUL-terminated.
    clear_env();
    expect_refused(load("--http-threads=1\n2", NULL), "--http-threads");
    char *argv[] = {(char *)"qianbaod", (char *)"--nope", NULL};
    char small[8];
    memset(small, 'x', sizeof small);
    ASSERT_EQ_INT(config_load(&cfg, 2, argv, small, sizeof small), QB_E_PARAM);
    ASSERT(memchr(small, '\0', sizeof small) != NULL);
}

TEST(usage_lists_every_setting)
{
    // The help text is generated from the table: every flag, its
    // environment variable and its range appear.
    char path[1100], dir[1024];
    test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/usage.txt", dir);
    FILE *f = fopen(path, "w+");
    ASSERT(f != NULL);
    config_usage(f);
    rewind(f);
    static char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    test_rmtree(dir);
    static const char *const needles[] = {
        "--data-dir",         "--listen",           "--db",           "--log-level",
        "--http-threads",     "--http-connections-max", "--http-body-size-max",
        "--executor-queue-max", "--executor-batch-max", "--read-connections", "--verify",
        "--help",             "1..64",              "16..100000",     "1024..1048576",
        "16..1048576",        "1..65536",           "\"./data\"",     "\"127.0.0.1:8080\"",
    };
    for (size_t i = 0; i < sizeof needles / sizeof needles[0]; i++) {
        if (strstr(text, needles[i]) == NULL)
            TEST_FAIL_("usage lacks \"%s\"", needles[i]);
    }
    for (size_t i = 0; i < sizeof env_names / sizeof env_names[0]; i++) {
        if (strstr(text, env_names[i]) == NULL)
            TEST_FAIL_("usage lacks \"%s\"", env_names[i]);
    }
}

/* Reads the file at path, relative to the source tree ($QB_SOURCE_DIR, or
 * found from this file's own path), into text (NUL-terminated). */
static void S_source_read(const char *path, char *text, size_t text_size)
{
    char full[4096];
    const char *root = getenv("QB_SOURCE_DIR");
    if (root != NULL && root[0] != '\0') {
        snprintf(full, sizeof full, "%s/%s", root, path);
    } else {
        const char *slash = strrchr(__FILE__, '/');
        int dir_len = slash == NULL ? 1 : (int)(slash - __FILE__);
        snprintf(full, sizeof full, "%.*s/../../../%s", dir_len, slash == NULL ? "." : __FILE__,
                 path);
    }
    FILE *f = fopen(full, "r");
    if (f == NULL)
        TEST_FAIL_("cannot open %s", full);
    size_t n = fread(text, 1, text_size - 1, f);
    bool whole = feof(f) != 0;
    fclose(f);
    if (!whole)
        TEST_FAIL_("%s is larger than %zu bytes", full, text_size - 1);
    text[n] = '\0';
}

/* Splits one row of a Markdown table ("| a | `b|c` | |") into its cells,
 * trimmed, at the '|' outside code spans. Returns the number of cells. */
static size_t S_row_cells(const char *row, size_t row_size, char cells[][512], size_t cells_max)
{
    size_t count = 0, len = 0;
    bool code = false;
    for (size_t i = 1; i < row_size && count < cells_max; i++) {
        char c = row[i];
        if (c == '`')
            code = !code;
        if (c == '|' && !code) {
            while (len > 0 && cells[count][len - 1] == ' ')
                len--;
            cells[count][len] = '\0';
            count++;
            len = 0;
            continue;
        }
        if ((len == 0 && c == ' ') || count >= cells_max || len + 1 >= sizeof cells[0])
            continue;
        cells[count][len++] = c;
    }
    return count;
}

TEST(operations_doc_lists_every_setting_as_the_table_has_it)
{
    // docs/operations.md is what an operator reads at 3 a.m.: its table of settings must have a
    // row for every setting the daemon reads, and none it does not, each with the flag, the
    // environment variable, the default and the range of `qianbaod --help`, which is generated
    // from the table in config.c. A default changed in one place only fails here.
    static char usage[32768], doc[262144];
    char path[1100], dir[1024];
    test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/usage.txt", dir);
    FILE *f = fopen(path, "w+");
    ASSERT(f != NULL);
    config_usage(f);
    rewind(f);
    size_t n = fread(usage, 1, sizeof usage - 1, f);
    usage[n] = '\0';
    fclose(f);
    test_rmtree(dir);
    ASSERT(n > 0 && n < sizeof usage - 1);
    S_source_read("docs/operations.md", doc, sizeof doc);

    /* Every setting of the usage text: "  --flag VALUE   help", then, unless it is a switch,
     * "      MIN..MAX, default N, env NAME" or "      default "TEXT", env NAME". */
    size_t settings = 0;
    for (const char *line = usage; *line != '\0';) {
        const char *end = strchr(line, '\n');
        ASSERT(end != NULL);
        if (strncmp(line, "  --", 4) != 0) {
            line = end + 1;
            continue;
        }
        settings++;
        char left[128] = "", range[1200] = "", def[1200] = "", env[1200] = "";
        /* The flag, and its value's name (upper case: N, DIR, ADDR:PORT) when it takes one;
         * a long one leaves a single space before the help. */
        size_t left_size = strcspn(line + 2, " \n");
        if (line[2 + left_size] == ' ') {
            size_t value_size = strspn(line + 3 + left_size, "ABCDEFGHIJKLMNOPQRSTUVWXYZ:");
            if (value_size > 0 && (line[3 + left_size + value_size] == ' ' ||
                                   line[3 + left_size + value_size] == '\n'))
                left_size += 1 + value_size;
        }
        ASSERT(left_size < sizeof left);
        memcpy(left, line + 2, left_size);
        const char *next = end + 1;
        const char *next_end = strchr(next, '\n');
        bool has_values =
            next_end != NULL && strncmp(next, "                               ", 31) == 0;
        if (has_values) {
            char values[1200];
            size_t values_size = (size_t)(next_end - (next + 31));
            ASSERT(values_size < sizeof values);
            memcpy(values, next + 31, values_size);
            values[values_size] = '\0';
            char *env_at = strstr(values, ", env ");
            if (env_at != NULL) {
                snprintf(env, sizeof env, "%s", env_at + 6);
                *env_at = '\0';
            }
            char *def_at = strstr(values, "default ");
            ASSERT(def_at != NULL);
            if (def_at != values) {
                ASSERT(def_at - values >= 3 && def_at[-2] == ',');
                def_at[-2] = '\0';
                snprintf(range, sizeof range, "%s", values);
            }
            const char *value = def_at + 8;
            size_t value_size = strlen(value);
            if (value[0] == '"') { /* text: the default quoted, "" for none */
                ASSERT(value_size >= 2 && value[value_size - 1] == '"');
                snprintf(def, sizeof def, "%.*s", (int)(value_size - 2), value + 1);
            } else {
                snprintf(def, sizeof def, "%s", value);
            }
        }

        /* Its row in the doc: | `--flag VALUE` | `ENV` | default | range | what | */
        char needle[160];
        snprintf(needle, sizeof needle, "\n| `%s` |", left);
        const char *row = strstr(doc, needle);
        if (row == NULL) {
            TEST_FAIL_("docs/operations.md has no row \"| `%s` |\" in its table of settings", left);
        }
        row++;
        const char *row_end = strchr(row, '\n');
        static char cells[5][512];
        size_t cell_count = S_row_cells(row, (size_t)(row_end - row), cells, 5);
        if (cell_count < 5)
            TEST_FAIL_("the row of %s has %zu cells, not 5", left, cell_count);
        char want[1300];
        if (env[0] != '\0')
            snprintf(want, sizeof want, "`%s`", env);
        else
            want[0] = '\0';
        if (strcmp(cells[1], want) != 0)
            TEST_FAIL_("%s: the doc's environment \"%s\", the code's \"%s\"", left, cells[1], want);
        if (has_values && range[0] != '\0') {
            if (strcmp(cells[2], def) != 0 || strcmp(cells[3], range) != 0)
                TEST_FAIL_("%s: the doc says default %s, range %s; the code %s, %s", left, cells[2],
                           cells[3], def, range);
        } else if (has_values && def[0] == '\0') {
            /* "empty: none"; a step given only as a flag (--platform-key-rotate) says nothing */
            if (strncmp(cells[2], "empty", 5) != 0 && !(env[0] == '\0' && cells[2][0] == '\0'))
                TEST_FAIL_("%s: the doc's default \"%s\"; the code has none (empty)", left,
                           cells[2]);
        } else if (has_values) {
            snprintf(want, sizeof want, "`%s`", def);
            if (strcmp(cells[2], want) != 0)
                TEST_FAIL_("%s: the doc's default %s, the code's %s", left, cells[2], want);
        }
        line = has_values ? next_end + 1 : next;
    }
    ASSERT(settings > 30);

    /* And no row for a setting the daemon does not have. */
    size_t rows = 0;
    for (const char *row = strstr(doc, "\n| `--"); row != NULL; row = strstr(row + 1, "\n| `--")) {
        rows++;
        const char *flag = row + 4;
        size_t flag_size = strcspn(flag, " `");
        char needle[128];
        snprintf(needle, sizeof needle, "\n  %.*s", (int)flag_size, flag);
        char with_space[130], alone[130];
        snprintf(with_space, sizeof with_space, "%s ", needle);
        snprintf(alone, sizeof alone, "%s\n", needle);
        if (strstr(usage, with_space) == NULL && strstr(usage, alone) == NULL)
            TEST_FAIL_("docs/operations.md documents %.*s, which qianbaod does not have",
                       (int)flag_size, flag);
    }
    ASSERT_EQ_INT(rows, settings);
}

int main(void)
{
    RUN(defaults);
    RUN(flags_in_both_forms);
    RUN(value_may_contain_equals_and_start_with_dashes);
    RUN(precedence_flag_then_env_then_default);
    RUN(an_empty_variable_is_refused_where_a_value_is_needed);
    RUN(every_env_variable_is_read);
    RUN(bounds_are_inclusive_and_enforced);
    RUN(integers_are_strict);
    RUN(session_cache_size);
    RUN(unknown_flag_and_stray_arguments);
    RUN(missing_and_unwanted_values);
    RUN(text_values_are_validated);
    RUN(bad_environment_names_the_variable);
    RUN(message_is_one_line_and_bounded);
    RUN(usage_lists_every_setting);
    RUN(operations_doc_lists_every_setting_as_the_table_has_it);
    return test_summary();
}

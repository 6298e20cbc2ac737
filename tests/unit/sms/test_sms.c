/*
 * test_sms.c — SMS codes, their limits, the outbox, the gateways and the worker.
 *
 * Each test runs on a fresh database with a real ledger (commands run on its
 * writer thread, as in the daemon), a manual clock that the test moves to
 * age codes and step through backoff, and a seeded randomness source. The
 * users table belongs to src/identity; the rows these tests need are written
 * by raw SQL inside a command.
 *
 * The HTTP gateway is tested against a receiver on 127.0.0.1 started by the
 * test: a thread that answers one scripted status per request and keeps
 * what it was sent.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "sms/sms.h"
#include "sms/sms_int.h"
#include "store/pool.h"
#include "test.h"
#include "unit/schema_at.h"

static uint64_t seed;

/* --- the fixture ------------------------------------------------------------- */

struct sx {
    char dir[512];
    char db_path[640];
    struct qb_clock clock;
    struct qb_rand rand;
    struct store *writer;
    struct store *reader;
    struct store_pool *pool;
    struct ledger *ledger;
    struct domain_env env;
};

#define SX_DAY_MS (24LL * 60 * 60 * 1000)

/* A fresh database and ledger; the clock starts at noon (UTC+8) of a day
 * in 2026, so that a test may send many codes before midnight. Leaked on
 * purpose when a test fails half-way: the writer thread reads the clock. */
static struct sx *sx_new(void)
{
    struct sx *sx = calloc(1, sizeof *sx);
    if (sx == NULL)
        TEST_FAIL_("out of memory");
    test_tmpdir(sx->dir, sizeof sx->dir);
    snprintf(sx->db_path, sizeof sx->db_path, "%s/qianbao.db", sx->dir);
    clock_manual_init(&sx->clock, domain_day_start_ms(INT64_C(1790000000000)) + SX_DAY_MS / 2);
    rand_seeded_init(&sx->rand, seed);
    char err[256];
    enum qb_error rc = store_open(sx->db_path, STORE_MODE_WRITE, &sx->writer, err, sizeof err);
    if (rc != QB_OK)
        TEST_FAIL_("store_open(write): %s: %s", error_name(rc), err);
    struct ledger_options options = {.clock = &sx->clock};
    rc = ledger_open(sx->writer, &options, &sx->ledger);
    if (rc != QB_OK)
        TEST_FAIL_("ledger_open: %s", error_name(rc));
    rc = store_open(sx->db_path, STORE_MODE_READ, &sx->reader, err, sizeof err);
    if (rc != QB_OK)
        TEST_FAIL_("store_open(read): %s: %s", error_name(rc), err);
    rc = store_pool_open(sx->db_path, 2, &sx->pool, err, sizeof err);
    if (rc != QB_OK)
        TEST_FAIL_("store_pool_open: %s: %s", error_name(rc), err);
    struct domain_settings settings;
    domain_settings_default(&settings);
    uint8_t pepper[DOMAIN_KEY_SIZE], data_key[DOMAIN_KEY_SIZE];
    memset(pepper, 0x5a, sizeof pepper);
    memset(data_key, 0xa5, sizeof data_key);
    domain_env_init(&sx->env, &sx->clock, &sx->rand, sx->ledger, &settings, pepper, data_key);
    return sx;
}

static void sx_free(struct sx *sx)
{
    ledger_close(sx->ledger);
    store_close(sx->writer);
    store_close(sx->reader);
    store_pool_close(sx->pool);
    domain_env_release(&sx->env);
    test_rmtree(sx->dir);
    free(sx);
}

static int64_t sx_now(struct sx *sx) { return clock_now_ms(&sx->clock); }

/* A command that runs one SQL statement with up to three text parameters. */
struct sx_sql_cmd {
    struct ledger_cmd cmd;
    const char *sql;
    const char *params[3];
};

static enum qb_error sx_sql_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct sx_sql_cmd *c = (struct sx_sql_cmd *)cmd;
    struct store_stmt *st = NULL;
    enum qb_error err = store_prepare(ledger_txn_store(txn), c->sql, &st);
    for (int i = 0; err == QB_OK && i < 3 && c->params[i] != NULL; i++)
        err = store_bind_text(st, i + 1, c->params[i], strlen(c->params[i]));
    if (err == QB_OK)
        err = store_step_done(st);
    store_finalize(st);
    return err;
}

static void sx_sql(struct sx *sx, const char *sql, const char *p1, const char *p2)
{
    struct sx_sql_cmd c = {.sql = sql, .params = {p1, p2, NULL}};
    ledger_cmd_init(&c.cmd, sx_sql_run, NULL);
    enum qb_error rc = ledger_execute(sx->ledger, &c.cmd);
    if (rc == QB_OK)
        rc = c.cmd.result;
    ledger_cmd_release(&c.cmd);
    if (rc != QB_OK)
        TEST_FAIL_("sql \"%s\": %s", sql, error_name(rc));
}

/* A user with this phone, as src/identity would register one. */
static void sx_user_add(struct sx *sx, const char *id, const char *phone)
{
    sx_sql(sx,
           "INSERT INTO users (id, phone, display_name, password_hash, account_id,"
           " created_at_ms) VALUES ($1, $2, 'test', 'x', 0, 0)",
           id, phone);
}

/* Sends a code: the command's outcome, and its retry_after_ms. */
static enum qb_error sx_send(struct sx *sx, const char *phone, enum sms_purpose purpose,
                             const char *target, int64_t *retry_after_ms)
{
    struct sms_send_cmd c;
    sms_send_cmd_init(&c, &sx->env);
    snprintf(c.phone, sizeof c.phone, "%s", phone);
    c.purpose = purpose;
    snprintf(c.target, sizeof c.target, "%s", target);
    enum qb_error rc = ledger_execute(sx->ledger, &c.cmd);
    if (rc == QB_OK)
        rc = c.cmd.result;
    ledger_cmd_release(&c.cmd);
    if (rc != QB_OK)
        TEST_FAIL_("sms_send_cmd for \"%s\": ledger result %s", phone, error_name(rc));
    if (retry_after_ms != NULL)
        *retry_after_ms = c.retry_after_ms;
    return c.outcome;
}

/* Consumes a code inside a command that keeps its writes, as identity's
 * commands do: the answer is sms_txn_code_consume's. */
struct sx_consume_cmd {
    struct ledger_cmd cmd;
    const struct domain_env *env;
    const char *phone;
    enum sms_purpose purpose;
    const char *target;
    const char *code;
    enum qb_error outcome;
};

static enum qb_error sx_consume_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct sx_consume_cmd *c = (struct sx_consume_cmd *)cmd;
    c->outcome = sms_txn_code_consume(txn, c->env, c->phone, c->purpose, c->target, c->code);
    return c->outcome == QB_E_SMS_CODE_INVALID ? QB_OK : c->outcome;
}

static enum qb_error sx_consume(struct sx *sx, const char *phone, enum sms_purpose purpose,
                                const char *target, const char *code)
{
    struct sx_consume_cmd c = {
        .env = &sx->env, .phone = phone, .purpose = purpose, .target = target, .code = code};
    ledger_cmd_init(&c.cmd, sx_consume_run, NULL);
    enum qb_error rc = ledger_execute(sx->ledger, &c.cmd);
    if (rc == QB_OK)
        rc = c.cmd.result;
    ledger_cmd_release(&c.cmd);
    if (rc != QB_OK)
        TEST_FAIL_("consume for \"%s\": ledger result %s", phone, error_name(rc));
    return c.outcome;
}

/* The newest code sent to phone, read back from the outbox. */
static void sx_code_of(struct sx *sx, const char *phone, char code[SMS_CODE_DIGITS + 1])
{
    struct sms_outbox_item item;
    size_t count = 0;
    enum qb_error rc = sms_outbox_list(&sx->env, sx->reader, phone, 0, &item, 1, &count);
    if (rc != QB_OK || count != 1)
        TEST_FAIL_("no outbox message for \"%s\": %s, count %zu", phone, error_name(rc), count);
    if (strlen(item.code) != SMS_CODE_DIGITS)
        TEST_FAIL_("outbox code for \"%s\" is \"%s\"", phone, item.code);
    memcpy(code, item.code, SMS_CODE_DIGITS + 1);
}

/* One integer from a query with up to one integer and one text parameter
 * ($1 integer when int_param >= 0, then the text). */
static int64_t sx_int(struct sx *sx, const char *sql, int64_t int_param, const char *text_param)
{
    struct store_stmt *st = NULL;
    enum qb_error rc = store_prepare(sx->reader, sql, &st);
    if (rc != QB_OK)
        TEST_FAIL_("prepare \"%s\": %s", sql, error_name(rc));
    int index = 1;
    if (int_param >= 0)
        rc = store_bind_int64(st, index++, int_param);
    if (rc == QB_OK && text_param != NULL)
        rc = store_bind_text(st, index, text_param, strlen(text_param));
    int step = rc == QB_OK ? store_step(st) : -(int)rc;
    int64_t value = step == STORE_STEP_ROW ? store_column_int64(st, 0) : INT64_MIN;
    store_finalize(st);
    if (step != STORE_STEP_ROW)
        TEST_FAIL_("query \"%s\": no row (%d)", sql, step);
    return value;
}

static void sx_sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits (at most 10 s) until the query answers want. */
static void sx_wait_int(struct sx *sx, const char *sql, int64_t id, int64_t want)
{
    int64_t got = INT64_MIN;
    for (int i = 0; i < 1000; i++) {
        got = sx_int(sx, sql, id, NULL);
        if (got == want)
            return;
        sx_sleep_ms(10);
    }
    TEST_FAIL_("waiting for \"%s\" (id %" PRId64 ") to be %" PRId64 ": still %" PRId64, sql, id,
               want, got);
}

/* --- the HTTP receiver ------------------------------------------------------- */

#define RX_REQUESTS_MAX 80

struct rx {
    int listen_fd;
    int port;
    pthread_t thread;
    int statuses[RX_REQUESTS_MAX];
    int status_count;
    atomic_bool stopping;
    pthread_mutex_t mutex;
    int served_count;                  /* under mutex */
    char heads[RX_REQUESTS_MAX][2048]; /* request line and headers */
    char bodies[RX_REQUESTS_MAX][1024];
};

/* Reads one request (headers, then Content-Length bytes of body). */
static bool rx_read_request(int fd, char *head, size_t head_size, char *body, size_t body_size)
{
    char data[4096];
    size_t size = 0;
    char *end = NULL;
    while (end == NULL) {
        if (size + 1 >= sizeof data)
            return false;
        ssize_t n = read(fd, data + size, sizeof data - 1 - size);
        if (n <= 0)
            return false;
        size += (size_t)n;
        data[size] = '\0';
        end = strstr(data, "\r\n\r\n");
    }
    size_t head_len = (size_t)(end - data);
    snprintf(head, head_size, "%.*s", (int)head_len, data);
    size_t content_length = 0;
    for (char *line = data; line < end;) {
        char *next = strstr(line, "\r\n");
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            content_length = (size_t)strtoul(line + 15, NULL, 10);
        line = next + 2;
    }
    size_t have = size - head_len - 4;
    while (have < content_length) {
        if (size + 1 >= sizeof data)
            return false;
        ssize_t n = read(fd, data + size, sizeof data - 1 - size);
        if (n <= 0)
            return false;
        size += (size_t)n;
        have += (size_t)n;
    }
    data[size] = '\0';
    snprintf(body, body_size, "%.*s", (int)content_length, end + 4);
    return true;
}

static void *rx_main(void *arg)
{
    struct rx *rx = arg;
    for (int i = 0; i < rx->status_count && !atomic_load(&rx->stopping);) {
        struct pollfd pfd = {.fd = rx->listen_fd, .events = POLLIN};
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        int fd = accept(rx->listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        char head[2048], body[1024];
        if (rx_read_request(fd, head, sizeof head, body, sizeof body)) {
            char reply[128];
            int n = snprintf(reply, sizeof reply,
                             "HTTP/1.1 %d Scripted\r\nContent-Length: 2\r\nConnection: close\r\n"
                             "\r\nok",
                             rx->statuses[i]);
            pthread_mutex_lock(&rx->mutex);
            snprintf(rx->heads[i], sizeof rx->heads[i], "%s", head);
            snprintf(rx->bodies[i], sizeof rx->bodies[i], "%s", body);
            rx->served_count++;
            pthread_mutex_unlock(&rx->mutex);
            if (write(fd, reply, (size_t)n) != n)
                fprintf(stderr, "rx: short write\n");
            i++;
        }
        close(fd);
    }
    return NULL;
}

/* Starts a receiver that answers the given statuses, one per request. */
static struct rx *rx_start(const int *statuses, int status_count)
{
    struct rx *rx = calloc(1, sizeof *rx);
    if (rx == NULL || status_count > RX_REQUESTS_MAX)
        TEST_FAIL_("rx_start: bad arguments");
    memcpy(rx->statuses, statuses, (size_t)status_count * sizeof *statuses);
    rx->status_count = status_count;
    pthread_mutex_init(&rx->mutex, NULL);
    rx->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t addr_size = sizeof addr;
    if (rx->listen_fd < 0 || bind(rx->listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(rx->listen_fd, 8) != 0 ||
        getsockname(rx->listen_fd, (struct sockaddr *)&addr, &addr_size) != 0)
        TEST_FAIL_("rx_start: socket: %s", strerror(errno));
    rx->port = ntohs(addr.sin_port);
    if (pthread_create(&rx->thread, NULL, rx_main, rx) != 0)
        TEST_FAIL_("rx_start: pthread_create");
    return rx;
}

static int rx_served(struct rx *rx)
{
    pthread_mutex_lock(&rx->mutex);
    int n = rx->served_count;
    pthread_mutex_unlock(&rx->mutex);
    return n;
}

static void rx_stop(struct rx *rx)
{
    atomic_store(&rx->stopping, true);
    pthread_join(rx->thread, NULL);
    close(rx->listen_fd);
    pthread_mutex_destroy(&rx->mutex);
    free(rx);
}

/* --- names and numbers --------------------------------------------------------- */

TEST(purpose_names_round_trip)
{
    /* The HTTP layer parses purposes from JSON by these names; every enum
     * value must parse back to itself and nothing else may parse. */
    for (int p = SMS_PURPOSE_REGISTER; p <= SMS_PURPOSE_LAST; p++) {
        enum sms_purpose parsed = 0;
        ASSERT(sms_purpose_parse(sms_purpose_name((enum sms_purpose)p), &parsed));
        ASSERT_EQ_INT(parsed, p);
    }
    enum sms_purpose parsed = 0;
    ASSERT_EQ_STR(sms_purpose_name(SMS_PURPOSE_BIND_CARD), "bind_card");
    ASSERT_EQ_STR(sms_purpose_name(SMS_PURPOSE_CHANGE_PHONE), "change_phone");
    ASSERT(!sms_purpose_parse("Login", &parsed));
    ASSERT(!sms_purpose_parse("", &parsed));
    ASSERT(!sms_purpose_parse(NULL, &parsed));
    ASSERT_EQ_STR(sms_purpose_name((enum sms_purpose)99), "unknown");
    /* Notices are named, and nobody asks for one. */
    for (int p = SMS_NOTICE_FIRST; p <= SMS_NOTICE_LAST; p++) {
        const char *name = sms_purpose_name((enum sms_purpose)p);
        ASSERT(strncmp(name, "notice_", 7) == 0);
        ASSERT(!sms_purpose_parse(name, &parsed));
    }
}

TEST(phone_numbers_are_mainland_mobiles)
{
    /* Only 11-digit numbers starting 13..19 can receive a code; anything
     * else is refused before it can cost a message. */
    ASSERT(phone_is_valid("13800138000"));
    ASSERT(phone_is_valid("19912345678"));
    ASSERT(!phone_is_valid("12800138000"));
    ASSERT(!phone_is_valid("23800138000"));
    ASSERT(!phone_is_valid("1380013800"));
    ASSERT(!phone_is_valid("138001380001"));
    ASSERT(!phone_is_valid("1380013800a"));
    ASSERT(!phone_is_valid("+8613800138"));
    ASSERT(!phone_is_valid(""));
    ASSERT(!phone_is_valid(NULL));
}

TEST(phone_numbers_are_read_as_people_write_them)
{
    /* Spaces, dashes and the country code go; what is left must be a
     * mainland mobile number. */
    const char *const same[] = {"13900000002",       "+8613900000002", "8613900000002",
                                "008613900000002",   "139 0000 0002",  "139-0000-0002",
                                "+86 139-0000-0002", " 13900000002 "};
    for (size_t i = 0; i < QB_ARRAY_COUNT(same); i++) {
        char out[SMS_PHONE_SIZE_MAX] = "x";
        if (!phone_normalize(same[i], out) || strcmp(out, "13900000002") != 0)
            TEST_FAIL_("\"%s\" read as \"%s\"", same[i], out);
    }
    const char *const refused[] = {"",
                                   "+",
                                   "+86",
                                   "+1 13900000002",
                                   "86139000",
                                   "+8612900000002",
                                   "1390000000a",
                                   "139_0000_0002",
                                   "+86+8613900000002",
                                   "8613900000002000000000",
                                   NULL};
    for (size_t i = 0; i < QB_ARRAY_COUNT(refused); i++) {
        char out[SMS_PHONE_SIZE_MAX] = "x";
        if (phone_normalize(refused[i], out) || out[0] != '\0')
            TEST_FAIL_("\"%s\" read as \"%s\"", refused[i] != NULL ? refused[i] : "NULL", out);
    }
}

/* --- codes ------------------------------------------------------------------ */

TEST(code_is_issued_and_consumed_once)
{
    /* A code proves possession of the phone once: the first use succeeds,
     * a replay of the same code must not. */
    struct sx *sx = sx_new();
    sx_user_add(sx, "u_1", "13800138000");
    int64_t retry_after_ms = -1;
    ASSERT_EQ_INT(sx_send(sx, "13800138000", SMS_PURPOSE_LOGIN, "", &retry_after_ms), QB_OK);
    ASSERT_EQ_INT(retry_after_ms, 0);
    char code[SMS_CODE_DIGITS + 1];
    sx_code_of(sx, "13800138000", code);
    ASSERT_EQ_INT(sx_consume(sx, "13800138000", SMS_PURPOSE_LOGIN, "", code), QB_OK);
    ASSERT_EQ_INT(sx_consume(sx, "13800138000", SMS_PURPOSE_LOGIN, "", code),
                  QB_E_SMS_CODE_INVALID);
    ASSERT_EQ_INT(sx_int(sx, "SELECT used FROM sms_codes WHERE phone = $1", -1, "13800138000"), 1);
    sx_free(sx);
}

TEST(wrong_codes_count_and_five_void_the_code)
{
    /* Six digits fall to guessing unless tries are limited: four wrong
     * guesses leave the code usable, the fifth voids it for good, and
     * malformed input is refused without spending a try. */
    struct sx *sx = sx_new();
    sx_user_add(sx, "u_1", "13800138000");
    ASSERT_EQ_INT(sx_send(sx, "13800138000", SMS_PURPOSE_LOGIN, "", NULL), QB_OK);
    char code[SMS_CODE_DIGITS + 1], wrong[SMS_CODE_DIGITS + 1];
    sx_code_of(sx, "13800138000", code);
    memcpy(wrong, code, sizeof wrong);
    wrong[0] = code[0] == '9' ? '0' : (char)(code[0] + 1);

    const char *malformed[] = {"12345", "1234567", "12345a", " 12345", ""};
    for (size_t i = 0; i < QB_ARRAY_COUNT(malformed); i++)
        ASSERT_EQ_INT(sx_consume(sx, "13800138000", SMS_PURPOSE_LOGIN, "", malformed[i]),
                      QB_E_SMS_CODE_INVALID);
    ASSERT_EQ_INT(sx_consume(sx, "13800138000", SMS_PURPOSE_LOGIN, "", NULL),
                  QB_E_SMS_CODE_INVALID);
    ASSERT_EQ_INT(sx_int(sx, "SELECT failures FROM sms_codes WHERE phone = $1", -1, "13800138000"),
                  0);
    for (int i = 0; i < 4; i++)
        ASSERT_EQ_INT(sx_consume(sx, "13800138000", SMS_PURPOSE_LOGIN, "", wrong),
                      QB_E_SMS_CODE_INVALID);
    ASSERT_EQ_INT(sx_int(sx, "SELECT failures FROM sms_codes WHERE phone = $1", -1, "13800138000"),
                  4);
    ASSERT_EQ_INT(sx_consume(sx, "13800138000", SMS_PURPOSE_LOGIN, "", code), QB_OK);

    /* A second code, five wrong tries: the right one no longer works. */
    clock_manual_advance(&sx->clock, 60 * 1000);
    ASSERT_EQ_INT(sx_send(sx, "13800138000", SMS_PURPOSE_LOGIN, "", NULL), QB_OK);
    sx_code_of(sx, "13800138000", code);
    memcpy(wrong, code, sizeof wrong);
    wrong[5] = code[5] == '9' ? '0' : (char)(code[5] + 1);
    for (int i = 0; i < 5; i++)
        ASSERT_EQ_INT(sx_consume(sx, "13800138000", SMS_PURPOSE_LOGIN, "", wrong),
                      QB_E_SMS_CODE_INVALID);
    ASSERT_EQ_INT(sx_consume(sx, "13800138000", SMS_PURPOSE_LOGIN, "", code),
                  QB_E_SMS_CODE_INVALID);
    ASSERT_EQ_INT(
        sx_int(sx, "SELECT MAX(failures) FROM sms_codes WHERE phone = $1", -1, "13800138000"), 5);
    sx_free(sx);
}

TEST(code_expires_after_five_minutes)
{
    /* A code is valid for 300 s: one millisecond before, it works; at 300 s
     * exactly, it does not. */
    struct sx *sx = sx_new();
    sx_user_add(sx, "u_1", "13800138000");
    char code[SMS_CODE_DIGITS + 1];
    ASSERT_EQ_INT(sx_send(sx, "13800138000", SMS_PURPOSE_LOGIN, "", NULL), QB_OK);
    sx_code_of(sx, "13800138000", code);
    clock_manual_advance(&sx->clock, 300 * 1000);
    ASSERT_EQ_INT(sx_consume(sx, "13800138000", SMS_PURPOSE_LOGIN, "", code),
                  QB_E_SMS_CODE_INVALID);

    ASSERT_EQ_INT(sx_send(sx, "13800138000", SMS_PURPOSE_LOGIN, "", NULL), QB_OK);
    sx_code_of(sx, "13800138000", code);
    clock_manual_advance(&sx->clock, 300 * 1000 - 1);
    ASSERT_EQ_INT(sx_consume(sx, "13800138000", SMS_PURPOSE_LOGIN, "", code), QB_OK);
    sx_free(sx);
}

TEST(code_is_bound_to_purpose_and_target)
{
    /* A code sent to bind card A must not log in, bind card B, or serve
     * another phone: each (phone, purpose, target) has its own code. */
    struct sx *sx = sx_new();
    sx_user_add(sx, "u_1", "13800138000");
    sx_user_add(sx, "u_2", "13900139000");
    ASSERT_EQ_INT(sx_send(sx, "13800138000", SMS_PURPOSE_BIND_CARD, "card_a", NULL), QB_OK);
    char code[SMS_CODE_DIGITS + 1];
    sx_code_of(sx, "13800138000", code);
    ASSERT_EQ_INT(sx_consume(sx, "13800138000", SMS_PURPOSE_LOGIN, "card_a", code),
                  QB_E_SMS_CODE_INVALID);
    ASSERT_EQ_INT(sx_consume(sx, "13800138000", SMS_PURPOSE_BIND_CARD, "card_b", code),
                  QB_E_SMS_CODE_INVALID);
    ASSERT_EQ_INT(sx_consume(sx, "13800138000", SMS_PURPOSE_BIND_CARD, "", code),
                  QB_E_SMS_CODE_INVALID);
    ASSERT_EQ_INT(sx_consume(sx, "13900139000", SMS_PURPOSE_BIND_CARD, "card_a", code),
                  QB_E_SMS_CODE_INVALID);
    ASSERT_EQ_INT(sx_consume(sx, "13800138000", SMS_PURPOSE_BIND_CARD, "card_a", code), QB_OK);
    sx_free(sx);
}

TEST(newest_code_supersedes_older_ones)
{
    /* As in WeChat and Alipay, asking again replaces the code: the older
     * one stops working, so only the last message received is valid. */
    struct sx *sx = sx_new();
    sx_user_add(sx, "u_1", "13800138000");
    char first[SMS_CODE_DIGITS + 1], second[SMS_CODE_DIGITS + 1];
    ASSERT_EQ_INT(sx_send(sx, "13800138000", SMS_PURPOSE_LOGIN, "", NULL), QB_OK);
    sx_code_of(sx, "13800138000", first);
    clock_manual_advance(&sx->clock, 60 * 1000);
    ASSERT_EQ_INT(sx_send(sx, "13800138000", SMS_PURPOSE_LOGIN, "", NULL), QB_OK);
    sx_code_of(sx, "13800138000", second);
    if (strcmp(first, second) == 0)
        TEST_FAIL_("two codes drew the same digits; rerun with another QB_TEST_SEED");
    ASSERT_EQ_INT(sx_consume(sx, "13800138000", SMS_PURPOSE_LOGIN, "", first),
                  QB_E_SMS_CODE_INVALID);
    ASSERT_EQ_INT(sx_consume(sx, "13800138000", SMS_PURPOSE_LOGIN, "", second), QB_OK);
    ASSERT_EQ_INT(sx_consume(sx, "13800138000", SMS_PURPOSE_LOGIN, "", first),
                  QB_E_SMS_CODE_INVALID);
    sx_free(sx);
}

/* --- limits ----------------------------------------------------------------- */

TEST(cooldown_answers_rate_limited_with_retry_after)
{
    /* One code per phone and purpose per 60 s: a second request 20 s later
     * is refused with the 40 s left; another purpose is not held up; at
     * 60 s the phone may ask again. */
    struct sx *sx = sx_new();
    sx_user_add(sx, "u_1", "13800138000");
    int64_t retry_after_ms = 0;
    ASSERT_EQ_INT(sx_send(sx, "13800138000", SMS_PURPOSE_LOGIN, "", NULL), QB_OK);
    clock_manual_advance(&sx->clock, 20 * 1000);
    ASSERT_EQ_INT(sx_send(sx, "13800138000", SMS_PURPOSE_LOGIN, "", &retry_after_ms),
                  QB_E_RATE_LIMITED);
    ASSERT_EQ_INT(retry_after_ms, 40 * 1000);
    /* the cooldown is per purpose, not per target */
    ASSERT_EQ_INT(sx_send(sx, "13800138000", SMS_PURPOSE_LOGIN, "other", &retry_after_ms),
                  QB_E_RATE_LIMITED);
    ASSERT_EQ_INT(sx_send(sx, "13800138000", SMS_PURPOSE_BIND_CARD, "card_a", &retry_after_ms),
                  QB_OK);
    ASSERT_EQ_INT(retry_after_ms, 0);
    ASSERT_EQ_INT(sx_int(sx, "SELECT COUNT(*) FROM sms_outbox WHERE phone = $1", -1, "13800138000"),
                  2);
    clock_manual_advance(&sx->clock, 40 * 1000 - 1);
    ASSERT_EQ_INT(sx_send(sx, "13800138000", SMS_PURPOSE_LOGIN, "", &retry_after_ms),
                  QB_E_RATE_LIMITED);
    ASSERT_EQ_INT(retry_after_ms, 1);
    clock_manual_advance(&sx->clock, 1);
    ASSERT_EQ_INT(sx_send(sx, "13800138000", SMS_PURPOSE_LOGIN, "", &retry_after_ms), QB_OK);
    sx_free(sx);
}

TEST(daily_cap_is_ten_and_resets_at_midnight_in_china)
{
    /* Ten codes per phone per calendar day (UTC+8) over all purposes; the
     * eleventh waits until midnight there, and at midnight sending works
     * again. */
    struct sx *sx = sx_new();
    sx_user_add(sx, "u_1", "13800138000");
    int64_t retry_after_ms = 0;
    for (int i = 0; i < 10; i++) {
        enum sms_purpose purpose = i % 2 == 0 ? SMS_PURPOSE_LOGIN : SMS_PURPOSE_NEW_DEVICE;
        ASSERT_EQ_INT(sx_send(sx, "13800138000", purpose, "", &retry_after_ms), QB_OK);
        clock_manual_advance(&sx->clock, 60 * 1000);
    }
    int64_t midnight_ms = domain_day_start_ms(sx_now(sx)) + SX_DAY_MS;
    ASSERT_EQ_INT(sx_send(sx, "13800138000", SMS_PURPOSE_UNFREEZE, "", &retry_after_ms),
                  QB_E_RATE_LIMITED);
    ASSERT_EQ_INT(retry_after_ms, midnight_ms - sx_now(sx));
    /* another phone is not affected */
    ASSERT_EQ_INT(sx_send(sx, "13900139000", SMS_PURPOSE_REGISTER, "", &retry_after_ms), QB_OK);
    clock_manual_advance(&sx->clock, midnight_ms - 1 - sx_now(sx));
    ASSERT_EQ_INT(sx_send(sx, "13800138000", SMS_PURPOSE_LOGIN, "", &retry_after_ms),
                  QB_E_RATE_LIMITED);
    ASSERT_EQ_INT(retry_after_ms, 1);
    clock_manual_advance(&sx->clock, 1);
    ASSERT_EQ_INT(sx_send(sx, "13800138000", SMS_PURPOSE_LOGIN, "", &retry_after_ms), QB_OK);
    ASSERT_EQ_INT(sx_int(sx, "SELECT COUNT(*) FROM sms_outbox WHERE phone = $1", -1, "13800138000"),
                  11);
    sx_free(sx);
}

TEST(rows_past_two_days_are_deleted_as_new_ones_come)
{
    /* Every request to send leaves a row, decoys for phones nobody has
     * included: without an end, anyone could fill the disk with requests
     * for random phones. A row counts for a day at most (the daily cap),
     * so each send deletes a few rows over two days old, and a table that
     * stops growing then stays as large as two days of sends. So with the
     * outbox's delivered messages, of which it kept every one, each phone
     * in clear (registrations for random phones are real messages, not
     * decoys); those never delivered stay, which /metrics counts. */
    struct sx *sx = sx_new();
    char phone[24]; /* room for any int the format could print */
    for (int i = 0; i < 20; i++) {
        snprintf(phone, sizeof phone, "1390000%04d", i);
        ASSERT_EQ_INT(sx_send(sx, phone, SMS_PURPOSE_REGISTER, "", NULL), QB_OK);
    }
    ASSERT_EQ_INT(sx_int(sx, "SELECT COUNT(*) FROM sms_codes", -1, NULL), 20);
    ASSERT_EQ_INT(sx_int(sx, "SELECT COUNT(*) FROM sms_outbox", -1, NULL), 20);
    /* Two of them never delivered (the provider failed), the rest at once. */
    sx_sql(sx, "UPDATE sms_outbox SET delivered_at_ms = created_at_ms WHERE id > 2", NULL, NULL);
    clock_manual_advance(&sx->clock, 2 * SX_DAY_MS);
    ASSERT_EQ_INT(sx_send(sx, "13700000000", SMS_PURPOSE_REGISTER, "", NULL), QB_OK);
    ASSERT_EQ_INT(sx_int(sx, "SELECT COUNT(*) FROM sms_codes", -1, NULL), 21);
    clock_manual_advance(&sx->clock, 1);
    ASSERT_EQ_INT(sx_send(sx, "13700000001", SMS_PURPOSE_REGISTER, "", NULL), QB_OK);
    ASSERT_EQ_INT(sx_int(sx, "SELECT COUNT(*) FROM sms_codes", -1, NULL), 22 - 8);
    for (int i = 2; i < 4; i++) {
        snprintf(phone, sizeof phone, "1370000%04d", i);
        ASSERT_EQ_INT(sx_send(sx, phone, SMS_PURPOSE_REGISTER, "", NULL), QB_OK);
    }
    /* The twenty old ones gone, the four of today kept. */
    ASSERT_EQ_INT(sx_int(sx, "SELECT COUNT(*) FROM sms_codes", -1, NULL), 4);
    ASSERT_EQ_INT(sx_int(sx, "SELECT COUNT(*) FROM sms_outbox", -1, NULL), 2 + 4);
    ASSERT_EQ_INT(sx_int(sx, "SELECT COUNT(*) FROM sms_outbox WHERE id <= 2", -1, NULL), 2);
    sx_free(sx);
}

TEST(unknown_phone_answers_like_a_known_one)
{
    /* The send answer must not reveal whether a phone is registered: an
     * unknown phone asking for a login code (and a known one asking for a
     * register code) gets the same answers and the same limits as a phone
     * that does receive a code, but no message and no usable code. */
    struct sx *sx = sx_new();
    const char *known = "13800138000", *unknown = "13700137000";
    sx_user_add(sx, "u_1", known);
    int64_t known_retry_ms = -1, unknown_retry_ms = -1;
    ASSERT_EQ_INT(sx_send(sx, known, SMS_PURPOSE_LOGIN, "", &known_retry_ms), QB_OK);
    ASSERT_EQ_INT(sx_send(sx, unknown, SMS_PURPOSE_LOGIN, "", &unknown_retry_ms), QB_OK);
    ASSERT_EQ_INT(known_retry_ms, unknown_retry_ms);
    clock_manual_advance(&sx->clock, 25 * 1000);
    ASSERT_EQ_INT(sx_send(sx, known, SMS_PURPOSE_LOGIN, "", &known_retry_ms), QB_E_RATE_LIMITED);
    ASSERT_EQ_INT(sx_send(sx, unknown, SMS_PURPOSE_LOGIN, "", &unknown_retry_ms),
                  QB_E_RATE_LIMITED);
    ASSERT_EQ_INT(known_retry_ms, 35 * 1000);
    ASSERT_EQ_INT(unknown_retry_ms, known_retry_ms);
    /* register: the other way round */
    ASSERT_EQ_INT(sx_send(sx, known, SMS_PURPOSE_REGISTER, "", &known_retry_ms), QB_OK);
    ASSERT_EQ_INT(sx_send(sx, unknown, SMS_PURPOSE_REGISTER, "", &unknown_retry_ms), QB_OK);
    ASSERT_EQ_INT(known_retry_ms, unknown_retry_ms);

    /* Messages went only where they apply... */
    ASSERT_EQ_INT(
        sx_int(sx, "SELECT COUNT(*) FROM sms_outbox WHERE phone = $1 AND purpose = 2", -1, unknown),
        0);
    ASSERT_EQ_INT(
        sx_int(sx, "SELECT COUNT(*) FROM sms_outbox WHERE phone = $1 AND purpose = 1", -1, known),
        0);
    ASSERT_EQ_INT(sx_int(sx, "SELECT COUNT(*) FROM sms_outbox", -1, NULL), 2);
    /* ...both kinds of row count alike, and the decoys are unusable. */
    ASSERT_EQ_INT(sx_int(sx, "SELECT COUNT(*) FROM sms_codes WHERE phone = $1", -1, unknown), 2);
    ASSERT_EQ_INT(sx_int(sx, "SELECT COUNT(*) FROM sms_codes WHERE phone = $1", -1, known), 2);
    ASSERT_EQ_INT(
        sx_int(sx, "SELECT MIN(used) FROM sms_codes WHERE phone = $1 AND purpose = 2", -1, unknown),
        1);
    ASSERT_EQ_INT(
        sx_int(sx, "SELECT MIN(used) FROM sms_codes WHERE phone = $1 AND purpose = 1", -1, known),
        1);

    /* No six digits hash to the decoy's hash: there is no code to find. */
    uint8_t decoy[CRYPTO_SHA256_SIZE];
    struct store_stmt *st = NULL;
    ASSERT_EQ_INT(store_prepare(sx->reader,
                                "SELECT code_hash FROM sms_codes WHERE phone = $1 AND purpose = 2",
                                &st),
                  QB_OK);
    ASSERT_EQ_INT(store_bind_text(st, 1, unknown, strlen(unknown)), QB_OK);
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    ASSERT_EQ_INT(store_column_size(st, 0), sizeof decoy);
    memcpy(decoy, store_column_blob(st, 0), sizeof decoy);
    store_finalize(st);
    for (unsigned c = 0; c < 1000000; c++) {
        char input[64];
        int n = snprintf(input, sizeof input, "%s|%d||%06u", unknown, SMS_PURPOSE_LOGIN, c);
        uint8_t hash[CRYPTO_SHA256_SIZE];
        domain_keyed_hash(sx->env.sms_code_key, input, (size_t)n, hash);
        if (memcmp(hash, decoy, sizeof hash) == 0)
            TEST_FAIL_("the decoy for an unknown phone is the hash of code %06u", c);
    }
    ASSERT_EQ_INT(sx_consume(sx, unknown, SMS_PURPOSE_LOGIN, "", "000000"), QB_E_SMS_CODE_INVALID);
    sx_free(sx);
}

/* --- storage ---------------------------------------------------------------- */

/* True when needle occurs in the size bytes at data. */
static bool bytes_contain(const void *data, size_t size, const char *needle)
{
    size_t needle_size = strlen(needle);
    const char *p = data;
    for (size_t i = 0; i + needle_size <= size; i++)
        if (memcmp(p + i, needle, needle_size) == 0)
            return true;
    return false;
}

static bool file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return false;
    static char data[16 << 20];
    size_t size = fread(data, 1, sizeof data, f);
    fclose(f);
    return bytes_contain(data, size, needle);
}

TEST(code_is_never_stored_in_clear)
{
    /* Whoever reads the database (a backup, a stolen disk) must not find
     * the codes: every column of sms_codes and sms_outbox, and the database
     * and WAL files, are searched for each issued code's digits. */
    struct sx *sx = sx_new();
    const char *phones[] = {"13811112222", "13933334444", "15055556666", "18677778888"};
    char codes[QB_ARRAY_COUNT(phones)][SMS_CODE_DIGITS + 1];
    for (size_t i = 0; i < QB_ARRAY_COUNT(phones); i++) {
        char id[16];
        snprintf(id, sizeof id, "u_%zu", i);
        sx_user_add(sx, id, phones[i]);
        ASSERT_EQ_INT(sx_send(sx, phones[i], SMS_PURPOSE_BIND_CARD, "card_x", NULL), QB_OK);
        sx_code_of(sx, phones[i], codes[i]);
    }
    const char *tables[] = {"SELECT * FROM sms_codes", "SELECT * FROM sms_outbox"};
    const int column_counts[] = {9, 8};
    for (size_t t = 0; t < QB_ARRAY_COUNT(tables); t++) {
        struct store_stmt *st = NULL;
        ASSERT_EQ_INT(store_prepare(sx->reader, tables[t], &st), QB_OK);
        int rows = 0;
        while (store_step(st) == STORE_STEP_ROW) {
            rows++;
            for (int col = 0; col < column_counts[t]; col++) {
                const void *blob = store_column_blob(st, col);
                size_t size = store_column_size(st, col);
                for (size_t i = 0; i < QB_ARRAY_COUNT(codes); i++)
                    if (bytes_contain(blob, size, codes[i]))
                        TEST_FAIL_("code %zu is in clear in \"%s\" column %d", i, tables[t], col);
            }
        }
        store_finalize(st);
        ASSERT_EQ_INT(rows, QB_ARRAY_COUNT(phones));
    }
    /* The whole files too, for codes that are not part of a phone number. */
    char wal_path[700];
    snprintf(wal_path, sizeof wal_path, "%s-wal", sx->db_path);
    int checked = 0;
    for (size_t i = 0; i < QB_ARRAY_COUNT(codes); i++) {
        bool in_phone = false;
        for (size_t p = 0; p < QB_ARRAY_COUNT(phones); p++)
            in_phone = in_phone || strstr(phones[p], codes[i]) != NULL;
        if (in_phone)
            continue;
        checked++;
        ASSERT(!file_contains(sx->db_path, codes[i]));
        ASSERT(!file_contains(wal_path, codes[i]));
    }
    ASSERT(checked > 0);
    /* The search does see what was written: the phones are there in clear. */
    ASSERT(file_contains(sx->db_path, phones[3]) || file_contains(wal_path, phones[3]));
    sx_free(sx);
}

/* --- the outbox --------------------------------------------------------------- */

TEST(outbox_list_unseals_newest_first)
{
    /* The operator reads development codes from the outbox: newest first,
     * filtered by phone, the code unsealed; a row that does not unseal
     * shows an empty code instead of failing the whole list. */
    struct sx *sx = sx_new();
    sx_user_add(sx, "u_1", "13800138000");
    ASSERT_EQ_INT(sx_send(sx, "13800138000", SMS_PURPOSE_LOGIN, "", NULL), QB_OK);
    clock_manual_advance(&sx->clock, 1000);
    ASSERT_EQ_INT(sx_send(sx, "13900139000", SMS_PURPOSE_REGISTER, "", NULL), QB_OK);
    clock_manual_advance(&sx->clock, 1000);
    ASSERT_EQ_INT(sx_send(sx, "13800138000", SMS_PURPOSE_BIND_CARD, "card_a", NULL), QB_OK);

    struct sms_outbox_item items[4];
    size_t count = 0;
    ASSERT_EQ_INT(sms_outbox_list(&sx->env, sx->reader, NULL, 0, items, 4, &count), QB_OK);
    ASSERT_EQ_INT(count, 3);
    ASSERT_EQ_STR(items[0].phone, "13800138000");
    ASSERT_EQ_INT(items[0].purpose, SMS_PURPOSE_BIND_CARD);
    ASSERT_EQ_STR(items[1].phone, "13900139000");
    ASSERT_EQ_INT(items[1].purpose, SMS_PURPOSE_REGISTER);
    ASSERT_EQ_INT(items[2].purpose, SMS_PURPOSE_LOGIN);
    ASSERT(items[0].created_at_ms > items[1].created_at_ms);
    ASSERT(items[1].created_at_ms > items[2].created_at_ms);
    for (size_t i = 0; i < count; i++) {
        ASSERT_EQ_INT(strlen(items[i].code), SMS_CODE_DIGITS);
        ASSERT_EQ_INT(items[i].delivered_at_ms, 0);
        ASSERT_EQ_INT(items[i].delivery, SMS_DELIVERY_RETRYING);
    }
    /* the listed codes are the real ones */
    ASSERT_EQ_INT(sx_consume(sx, "13800138000", SMS_PURPOSE_BIND_CARD, "card_a", items[0].code),
                  QB_OK);
    ASSERT_EQ_INT(sx_consume(sx, "13900139000", SMS_PURPOSE_REGISTER, "", items[1].code), QB_OK);

    ASSERT_EQ_INT(sms_outbox_list(&sx->env, sx->reader, "13800138000", 0, items, 4, &count), QB_OK);
    ASSERT_EQ_INT(count, 2);
    ASSERT_EQ_INT(items[0].purpose, SMS_PURPOSE_BIND_CARD);
    ASSERT_EQ_INT(sms_outbox_list(&sx->env, sx->reader, NULL, 0, items, 1, &count), QB_OK);
    ASSERT_EQ_INT(count, 1);
    ASSERT_EQ_INT(sms_outbox_list(&sx->env, sx->reader, "12345", 0, items, 4, &count), QB_E_PARAM);

    /* a damaged row */
    sx_sql(sx, "UPDATE sms_outbox SET code_sealed = $1 WHERE purpose = 2",
           "not a sealed code at all, but long enough to try", NULL);
    ASSERT_EQ_INT(sms_outbox_list(&sx->env, sx->reader, NULL, 0, items, 4, &count), QB_OK);
    ASSERT_EQ_INT(count, 3);
    ASSERT_EQ_STR(items[2].code, "");
    ASSERT_EQ_INT(strlen(items[0].code), SMS_CODE_DIGITS);
    sx_free(sx);
}

TEST(every_message_says_what_its_code_authorises)
{
    /* A bare code is what a fraudster asks its holder to read out: every
     * message says what the code does and warns never to tell it, and a
     * bind_card message names the card by its last four digits and the
     * asking wallet by its masked phone, which the outbox shows and keeps
     * sealed, never the whole number. */
    for (int p = SMS_PURPOSE_REGISTER; p <= SMS_PURPOSE_LAST; p++) {
        char text[SMS_TEXT_SIZE_MAX], deed[SMS_DETAIL_TEXT_SIZE_MAX];
        sms_message_text((enum sms_purpose)p, "042917", NULL, text);
        sms_message_detail((enum sms_purpose)p, NULL, deed);
        ASSERT(strncmp(deed, "您正在", strlen("您正在")) == 0);
        char expected[SMS_TEXT_SIZE_MAX];
        snprintf(expected, sizeof expected, "验证码 042917：%s，切勿告诉任何人。", deed);
        ASSERT_EQ_STR(text, expected);
    }
    char phone[SMS_PHONE_MASKED_SIZE];
    sms_phone_mask("13800138000", phone);
    ASSERT_EQ_STR(phone, "138****8000");
    struct sms_detail detail = {"1234", ""};
    memcpy(detail.wallet_phone, phone, sizeof phone);
    ASSERT(sms_detail_is_valid(&detail));
    char text[SMS_TEXT_SIZE_MAX];
    sms_message_text(SMS_PURPOSE_BIND_CARD, "123456", &detail, text);
    ASSERT_EQ_STR(text, "验证码 123456：您正在将尾号 1234 的银行卡绑定到钱包账号 138****8000，"
                        "切勿告诉任何人。");
    const struct sms_detail bad[] = {
        {"123", ""}, {"12a4", ""}, {"", "13800138000"}, {"", "138*****000"}, {"", "1380013****"}};
    for (size_t i = 0; i < QB_ARRAY_COUNT(bad); i++)
        ASSERT(!sms_detail_is_valid(&bad[i]));

    struct sx *sx = sx_new();
    struct sms_send_cmd c;
    sms_send_cmd_init(&c, &sx->env);
    snprintf(c.phone, sizeof c.phone, "%s", "13900139000");
    c.purpose = SMS_PURPOSE_BIND_CARD;
    snprintf(c.target, sizeof c.target, "%s", "card_a");
    c.detail = detail;
    ASSERT_EQ_INT(ledger_execute(sx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    ledger_cmd_release(&c.cmd);
    struct sms_outbox_item item;
    size_t count = 0;
    ASSERT_EQ_INT(sms_outbox_list(&sx->env, sx->reader, "13900139000", 0, &item, 1, &count), QB_OK);
    ASSERT_EQ_INT(count, 1);
    sms_message_text(SMS_PURPOSE_BIND_CARD, item.code, &detail, text);
    ASSERT_EQ_STR(item.text, text);
    /* A detail of the wrong shape is refused before anything is written. */
    sms_send_cmd_init(&c, &sx->env);
    snprintf(c.phone, sizeof c.phone, "%s", "13900139001");
    c.purpose = SMS_PURPOSE_BIND_CARD;
    c.detail = bad[0];
    ASSERT_EQ_INT(ledger_execute(sx->ledger, &c.cmd), QB_E_PARAM);
    ASSERT_EQ_INT(c.outcome, QB_E_PARAM);
    ASSERT_EQ_INT(sms_outbox_list(&sx->env, sx->reader, "13900139001", 0, &item, 1, &count), QB_OK);
    ASSERT_EQ_INT(count, 0);
    ledger_cmd_release(&c.cmd);
    sx_free(sx);
}

/* --- the HTTP gateway ----------------------------------------------------------- */

#define SX_TEMPLATE                                                                                \
    "{\"mobile\":\"{phone}\",\"text\":\"Code {code} for {purpose}\",\"x\":\"{other}\"}"

/* The daemon's HTTP gateway (5 s a call) to the provider rx plays. */
/* An HTTP gateway to rx's provider with body_template. */
static struct sms_gateway *rx_gateway_with(const struct rx *rx, const char *body_template)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/send", rx->port);
    struct sms_gateway *gw = sms_gateway_http_new(url, body_template, 5000);
    ASSERT(gw != NULL);
    return gw;
}

static struct sms_gateway *rx_gateway(const struct rx *rx)
{
    return rx_gateway_with(rx, SX_TEMPLATE);
}

TEST(http_gateway_posts_the_template)
{
    /* A provider receives one JSON POST per message with the phone, code
     * and purpose filled in (JSON-escaped, other braces left alone); a 2xx
     * answer is delivery, a 500 is a failure to retry. */
    const int statuses[] = {200, 500, 204};
    struct rx *rx = rx_start(statuses, 3);
    struct sms_gateway *gw = rx_gateway(rx);
    const struct sms_detail no_detail = {"", ""};
    ASSERT_EQ_STR(gw->ops->name, "http");
    ASSERT_EQ_INT(gw->ops->send(gw, "13800138000", SMS_PURPOSE_LOGIN, "493027", &no_detail), QB_OK);
    ASSERT_NE_INT(gw->ops->send(gw, "13800138000", SMS_PURPOSE_LOGIN, "493027", &no_detail), QB_OK);
    ASSERT_EQ_INT(gw->ops->send(gw, "1\"38\\\n", SMS_PURPOSE_BIND_CARD, "000111", &no_detail),
                  QB_OK);
    ASSERT_EQ_INT(rx_served(rx), 3);
    ASSERT_EQ_STR(rx->bodies[0], "{\"mobile\":\"13800138000\",\"text\":\"Code 493027 for login\","
                                 "\"x\":\"{other}\"}");
    ASSERT(strncmp(rx->heads[0], "POST /send HTTP/1.1\r\n", 21) == 0);
    ASSERT(strstr(rx->heads[0], "\r\nContent-Type: application/json") != NULL);
    ASSERT_EQ_STR(rx->bodies[2], "{\"mobile\":\"1\\\"38\\\\\\u000a\",\"text\":\"Code 000111 for "
                                 "bind_card\",\"x\":\"{other}\"}");
    sms_gateway_free(gw);
    rx_stop(rx);
}

TEST(http_gateway_refuses_bad_settings)
{
    /* A misconfigured provider must fail at start-up, not at the first
     * message: only http(s) URLs, templates that carry phone and code, and
     * a bounded timeout are accepted. */
    ASSERT(sms_gateway_http_new("ftp://127.0.0.1/", SX_TEMPLATE, 1000) == NULL);
    ASSERT(sms_gateway_http_new("127.0.0.1:80/", SX_TEMPLATE, 1000) == NULL);
    ASSERT(sms_gateway_http_new("http://127.0.0.1/", "{\"text\":\"{code}\"}", 1000) == NULL);
    ASSERT(sms_gateway_http_new("http://127.0.0.1/", "{\"to\":\"{phone}\"}", 1000) == NULL);
    ASSERT(sms_gateway_http_new("http://127.0.0.1/", SX_TEMPLATE, 0) == NULL);
    ASSERT(sms_gateway_http_new("http://127.0.0.1/", NULL, 1000) == NULL);
    /* A url libcurl cannot send to, and a template that is no JSON once
     * filled in for some message: those messages would fail for good. */
    ASSERT(sms_gateway_http_new("http://", SX_TEMPLATE, 1000) == NULL);
    ASSERT(sms_gateway_http_new("http://sms.example.com/v1\r", SX_TEMPLATE, 1000) == NULL);
    ASSERT(sms_gateway_http_new("http://sms example.com/", SX_TEMPLATE, 1000) == NULL);
    ASSERT(sms_gateway_http_new("http://127.0.0.1/", "to={phone}&text={code}", 1000) == NULL);
    ASSERT(sms_gateway_http_new("http://127.0.0.1:0/", SX_TEMPLATE, 1000) == NULL);
    /* A code outside quotes is no JSON when it begins with 0 (one in ten);
     * a card's digits outside them, for every message but bind_card. */
    ASSERT(sms_gateway_http_new("http://127.0.0.1/", "{\"to\":{phone},\"c\":{code}}", 1000) ==
           NULL);
    ASSERT(sms_gateway_http_new("http://127.0.0.1/",
                                "{\"to\":\"{phone}\",\"t\":\"{text}\",\"l4\":{card_last4}}",
                                1000) == NULL);
    /* Any JSON, and a phone (always 11 digits) as a number, as before. */
    struct sms_gateway *any =
        sms_gateway_http_new("http://127.0.0.1/", "[{\"to\":{phone},\"c\":\"{code}\"}]", 1000);
    ASSERT(any != NULL);
    sms_gateway_free(any);
    char why[256];
    ASSERT(
        !sms_gateway_http_check(NULL, "{\"to\":\"{phone}\",\"text\":\"{code}\"", why, sizeof why));
    ASSERT(strstr(why, "the template") == why);
    ASSERT(!sms_gateway_http_check("https://sms.example.com/send?key=s3cr3t ", SX_TEMPLATE, why,
                                   sizeof why));
    ASSERT(strstr(why, "the url") == why && strstr(why, "s3cr3t") == NULL);
    ASSERT(sms_gateway_http_check(NULL, SX_TEMPLATE, why, sizeof why));
    ASSERT(sms_gateway_http_check("https://sms.example.com/send?key=s3cr3t", SX_TEMPLATE, why,
                                  sizeof why));
    struct sms_gateway *gw = sms_gateway_http_new("https://sms.example.com/v1", SX_TEMPLATE, 1000);
    ASSERT(gw != NULL);
    sms_gateway_free(gw);
    /* The whole message carries the code. */
    gw = sms_gateway_http_new("https://sms.example.com/v1",
                              "{\"to\":\"{phone}\",\"content\":\"{text}\"}", 1000);
    ASSERT(gw != NULL);
    sms_gateway_free(gw);
    sms_gateway_free(NULL);
}

/* --- the worker ---------------------------------------------------------------- */

#define SX_ROW_SQL(column) "SELECT " column " FROM sms_outbox WHERE id = $1"

/* Checks the counts an operator's metrics show of the messages not delivered. */
static void sx_undelivered_expect(struct sx *sx, int64_t retrying, int64_t given_up,
                                  int64_t expired)
{
    int64_t got[3] = {-1, -1, -1}, oldest_ms = -1;
    ASSERT_EQ_INT(
        sms_outbox_undelivered(&sx->env, sx->reader, &got[0], &got[1], &got[2], &oldest_ms), QB_OK);
    /* The oldest still tried is known exactly when one is. */
    ASSERT_EQ_INT(oldest_ms > 0, got[0] > 0);
    if (got[0] != retrying || got[1] != given_up || got[2] != expired)
        TEST_FAIL_("undelivered: retrying %" PRId64 ", given up %" PRId64 ", expired %" PRId64
                   "; want %" PRId64 ", %" PRId64 ", %" PRId64,
                   got[0], got[1], got[2], retrying, given_up, expired);
}

/* Where the outbox message with this id stands, as the operator's list says. */
static enum sms_delivery sx_delivery_of(struct sx *sx, int64_t id)
{
    struct sms_outbox_item item;
    size_t count = 0;
    enum qb_error rc = sms_outbox_list(&sx->env, sx->reader, NULL, id + 1, &item, 1, &count);
    if (rc != QB_OK || count != 1 || item.id != id)
        TEST_FAIL_("outbox message %" PRId64 " not listed: %s, count %zu", id, error_name(rc),
                   count);
    return item.delivery;
}

TEST(worker_marks_outbox_rows_delivered)
{
    /* With the development gateway the row is the message: the worker
     * marks each pending row delivered and keeps its code readable for the
     * operator. */
    struct sx *sx = sx_new();
    sx_user_add(sx, "u_1", "13800138000");
    ASSERT_EQ_INT(sx_send(sx, "13800138000", SMS_PURPOSE_LOGIN, "", NULL), QB_OK);
    ASSERT_EQ_INT(sx_send(sx, "13900139000", SMS_PURPOSE_REGISTER, "", NULL), QB_OK);
    struct sms_gateway *gw = sms_gateway_outbox_new();
    ASSERT(gw != NULL);
    struct sms_worker *worker = NULL;
    ASSERT_EQ_INT(sms_worker_start(&sx->env, sx->pool, gw, &worker), QB_OK);
    sms_worker_wake(worker);
    sx_wait_int(sx, SX_ROW_SQL("delivered_at_ms"), 1, sx_now(sx));
    sx_wait_int(sx, SX_ROW_SQL("delivered_at_ms"), 2, sx_now(sx));

    /* a row written while the worker runs is picked up too */
    clock_manual_advance(&sx->clock, 60 * 1000);
    ASSERT_EQ_INT(sx_send(sx, "13800138000", SMS_PURPOSE_LOGIN, "", NULL), QB_OK);
    sms_worker_wake(worker);
    sx_wait_int(sx, SX_ROW_SQL("delivered_at_ms"), 3, sx_now(sx));
    sms_worker_stop(worker);
    sms_gateway_free(gw);

    struct sms_outbox_item items[3];
    size_t count = 0;
    ASSERT_EQ_INT(sms_outbox_list(&sx->env, sx->reader, NULL, 0, items, 3, &count), QB_OK);
    ASSERT_EQ_INT(count, 3);
    for (size_t i = 0; i < count; i++) {
        ASSERT_EQ_INT(strlen(items[i].code), SMS_CODE_DIGITS);
        ASSERT(items[i].delivered_at_ms > 0);
        ASSERT_EQ_INT(items[i].delivery, SMS_DELIVERY_DELIVERED);
    }
    ASSERT_EQ_INT(sx_int(sx, "SELECT SUM(attempts) FROM sms_outbox", -1, NULL), 0);
    sx_free(sx);
}

TEST(worker_sends_what_a_bind_card_code_authorises_or_nothing)
{
    /* The provider gets a bind_card message with the card's last four
     * digits and the asking wallet's masked phone; a row whose detail does
     * not open (a damaged row, another key) is given up rather than sent
     * bare, which would be the very message a fraudster wants read out. */
    const int statuses[] = {200, 200};
    struct rx *rx = rx_start(statuses, 2);
    struct sms_gateway *gw = rx_gateway_with(
        rx, "{\"to\":\"{phone}\",\"content\":\"{text}\",\"card\":\"{card_last4}\"}");
    struct sx *sx = sx_new();
    const struct sms_detail detail = {"1234", "138****8000"};
    const char *phones[] = {"13900139000", "13900139001"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(phones); i++) {
        struct sms_send_cmd c;
        sms_send_cmd_init(&c, &sx->env);
        snprintf(c.phone, sizeof c.phone, "%s", phones[i]);
        c.purpose = SMS_PURPOSE_BIND_CARD;
        snprintf(c.target, sizeof c.target, "%s", "card_a");
        c.detail = detail;
        ASSERT_EQ_INT(ledger_execute(sx->ledger, &c.cmd), QB_OK);
        ASSERT_EQ_INT(c.outcome, QB_OK);
        ledger_cmd_release(&c.cmd);
    }
    sx_sql(sx, "UPDATE sms_outbox SET detail_sealed = $1 WHERE id = 2",
           "not sealed at all, but long enough to try", NULL);
    struct sms_worker *worker = NULL;
    ASSERT_EQ_INT(sms_worker_start(&sx->env, sx->pool, gw, &worker), QB_OK);
    sms_worker_wake(worker);
    sx_wait_int(sx, SX_ROW_SQL("delivered_at_ms"), 1, sx_now(sx));
    sx_wait_int(sx, SX_ROW_SQL("attempts"), 2, SMS_ATTEMPTS_MAX);
    sms_worker_stop(worker);
    ASSERT_EQ_INT(rx_served(rx), 1);
    ASSERT(strstr(rx->bodies[0], "\"to\":\"13900139000\"") != NULL);
    ASSERT(strstr(rx->bodies[0], "您正在将尾号 1234 的银行卡绑定到钱包账号 138****8000，"
                                 "切勿告诉任何人。") != NULL);
    ASSERT(strstr(rx->bodies[0], "\"card\":\"1234\"") != NULL);
    ASSERT_EQ_INT(sx_delivery_of(sx, 2), SMS_DELIVERY_GIVEN_UP);
    /* given up, it is out of the worker's read for good */
    ASSERT_EQ_INT(sx_int(sx, SX_ROW_SQL("next_attempt_at_ms"), 2, NULL), SMS_NEXT_ATTEMPT_NEVER_MS);
    /* Delivered through a provider, the row keeps neither code nor detail. */
    ASSERT_EQ_INT(sx_int(sx, "SELECT length(detail_sealed) FROM sms_outbox WHERE id = $1", 1, NULL),
                  0);
    sms_gateway_free(gw);
    rx_stop(rx);
    sx_free(sx);
}

/* Writes a notice inside a command, as identity's commands do. */
struct sx_notice_cmd {
    struct ledger_cmd cmd;
    const struct domain_env *env;
    const char *phone;
    enum sms_purpose purpose;
    const struct sms_detail *detail;
};

static enum qb_error sx_notice_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct sx_notice_cmd *c = (struct sx_notice_cmd *)cmd;
    return sms_txn_notice(txn, c->env, c->phone, c->purpose, c->detail);
}

static enum qb_error sx_void_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct sx_notice_cmd *c = (struct sx_notice_cmd *)cmd;
    return sms_txn_codes_void(txn, c->phone);
}

/* Voids phone's codes, as a wallet moving away from it does. */
/* Runs c (its run function run) as a command; the test fails with what when it does not. */
static void sx_notice_execute(struct sx *sx, struct sx_notice_cmd *c, ledger_cmd_run_fn run,
                              const char *what)
{
    ledger_cmd_init(&c->cmd, run, NULL);
    enum qb_error rc = ledger_execute(sx->ledger, &c->cmd);
    if (rc == QB_OK)
        rc = c->cmd.result;
    ledger_cmd_release(&c->cmd);
    if (rc != QB_OK)
        TEST_FAIL_("%s for \"%s\": %s", what, c->phone, error_name(rc));
}

static void sx_void(struct sx *sx, const char *phone)
{
    struct sx_notice_cmd c = {.env = &sx->env, .phone = phone};
    sx_notice_execute(sx, &c, sx_void_run, "sms_txn_codes_void");
}

static void sx_notice(struct sx *sx, const char *phone, enum sms_purpose purpose,
                      const struct sms_detail *detail)
{
    struct sx_notice_cmd c = {
        .env = &sx->env, .phone = phone, .purpose = purpose, .detail = detail};
    sx_notice_execute(sx, &c, sx_notice_run, "sms_txn_notice");
}

TEST(worker_sends_a_notice_with_no_code)
{
    /* A notice tells the phone's holder of a change to the wallet: sent as
     * a code's message is, with {code} "" and the notice's purpose, which a
     * provider's template may map; it takes no cooldown from the codes the
     * phone asks for, and outlives a void of the phone's codes (the wallet
     * moving away). A row with a code where a notice has none is damaged:
     * given up, not sent. */
    const int statuses[] = {200, 200};
    struct rx *rx = rx_start(statuses, 2);
    struct sms_gateway *gw = rx_gateway_with(
        rx, "{\"to\":\"{phone}\",\"content\":\"{text}\",\"code\":\"{code}\",\"t\":\"{purpose}\"}");
    struct sx *sx = sx_new();
    const struct sms_detail moved = {"", "139****9000"};
    sx_notice(sx, "13900139001", SMS_PURPOSE_NOTICE_PHONE_CHANGED, &moved);
    sx_notice(sx, "13900139002", SMS_PURPOSE_NOTICE_PASSWORD_CHANGED, NULL);
    sx_sql(sx, "UPDATE sms_outbox SET code_sealed = $1 WHERE id = 2", "a code where none is", NULL);
    sx_void(sx, "13900139001");
    ASSERT_EQ_INT(sx_send(sx, "13900139001", SMS_PURPOSE_LOGIN, "", NULL), QB_OK);
    struct sms_worker *worker = NULL;
    ASSERT_EQ_INT(sms_worker_start(&sx->env, sx->pool, gw, &worker), QB_OK);
    sms_worker_wake(worker);
    sx_wait_int(sx, SX_ROW_SQL("delivered_at_ms"), 1, sx_now(sx));
    sx_wait_int(sx, SX_ROW_SQL("attempts"), 2, SMS_ATTEMPTS_MAX);
    sms_worker_stop(worker);
    ASSERT_EQ_INT(rx_served(rx), 1); /* the notice: the login code was a decoy (no user) */
    ASSERT_EQ_STR(rx->bodies[0],
                  "{\"to\":\"13900139001\",\"content\":\"您的钱包账号已换绑到手机号 139****9000，"
                  "本手机号不再能登录。如非本人操作，请立即冻结钱包并联系客服。\",\"code\":\"\","
                  "\"t\":\"notice_phone_changed\"}");
    ASSERT_EQ_INT(sx_delivery_of(sx, 2), SMS_DELIVERY_GIVEN_UP);
    /* Delivered through the provider, it still lists as sent: it had no code to drop. */
    struct sms_outbox_item item;
    size_t listed = 0;
    ASSERT_EQ_INT(sms_outbox_list(&sx->env, sx->reader, NULL, 2, &item, 1, &listed), QB_OK);
    ASSERT_EQ_INT(listed, 1);
    ASSERT(strstr(item.text, "139****9000") != NULL);
    /* One written before the daemon started with a template that cannot say it (below) is
     * not sent either. */
    sx_notice(sx, "13900139004", SMS_PURPOSE_NOTICE_PASSWORD_CHANGED, NULL);
    int64_t waiting = sx_int(sx, "SELECT MAX(id) FROM sms_outbox WHERE id > $1", 0, NULL);
    /* A provider's template that names neither the text nor the purpose would send a notice
     * as a code's message with no code: the daemon then writes none. */
    ASSERT(
        sms_gateway_http_says_notices("{\"m\":\"{phone}\",\"t\":\"{purpose}\",\"c\":\"{code}\"}"));
    ASSERT(sms_gateway_http_says_notices("{\"m\":\"{phone}\",\"text\":\"{text}\"}"));
    ASSERT(!sms_gateway_http_says_notices("{\"m\":\"{phone}\",\"t\":\"SMS_1\",\"c\":\"{code}\"}"));
    int64_t rows = sx_int(sx, "SELECT COUNT(*) FROM sms_outbox WHERE id > $1", 0, NULL);
    sx->env.sms_notices_off = true;
    sx_notice(sx, "13900139003", SMS_PURPOSE_NOTICE_PASSWORD_CHANGED, NULL);
    ASSERT_EQ_INT(sx_int(sx, "SELECT COUNT(*) FROM sms_outbox WHERE id > $1", 0, NULL), rows);
    ASSERT_EQ_INT(sms_worker_start(&sx->env, sx->pool, gw, &worker), QB_OK);
    sms_worker_wake(worker);
    sx_wait_int(sx, SX_ROW_SQL("next_attempt_at_ms"), waiting, SMS_NEXT_ATTEMPT_NEVER_MS);
    sms_worker_stop(worker);
    ASSERT_EQ_INT(rx_served(rx), 1);
    ASSERT_EQ_INT(sx_delivery_of(sx, waiting), SMS_DELIVERY_EXPIRED);
    sms_gateway_free(gw);
    rx_stop(rx);
    sx_free(sx);
}

TEST(worker_retries_http_failures_with_backoff)
{
    /* A provider that answers 500 is tried again after 1 s, then 2 s; the
     * delivered message carries the right phone and code, and afterwards
     * the sealed code is dropped since nobody needs it again. */
    const int statuses[] = {500, 500, 200};
    struct rx *rx = rx_start(statuses, 3);
    struct sms_gateway *gw = rx_gateway(rx);
    struct sx *sx = sx_new();
    sx_user_add(sx, "u_1", "13800138000");
    ASSERT_EQ_INT(sx_send(sx, "13800138000", SMS_PURPOSE_LOGIN, "", NULL), QB_OK);
    char code[SMS_CODE_DIGITS + 1];
    sx_code_of(sx, "13800138000", code);
    struct sms_worker *worker = NULL;
    ASSERT_EQ_INT(sms_worker_start(&sx->env, sx->pool, gw, &worker), QB_OK);

    sx_wait_int(sx, SX_ROW_SQL("attempts"), 1, 1);
    ASSERT_EQ_INT(sx_int(sx, SX_ROW_SQL("next_attempt_at_ms"), 1, NULL), sx_now(sx) + 1000);
    ASSERT_EQ_INT(sx_int(sx, SX_ROW_SQL("delivered_at_ms"), 1, NULL), 0);
    /* nothing happens before the time comes */
    sx_sleep_ms(450);
    ASSERT_EQ_INT(rx_served(rx), 1);
    clock_manual_advance(&sx->clock, 1000);
    sms_worker_wake(worker);
    sx_wait_int(sx, SX_ROW_SQL("attempts"), 1, 2);
    ASSERT_EQ_INT(sx_int(sx, SX_ROW_SQL("next_attempt_at_ms"), 1, NULL), sx_now(sx) + 2000);
    clock_manual_advance(&sx->clock, 2000);
    sms_worker_wake(worker);
    sx_wait_int(sx, SX_ROW_SQL("delivered_at_ms"), 1, sx_now(sx));
    sms_worker_stop(worker);

    ASSERT_EQ_INT(rx_served(rx), 3);
    char want[256];
    snprintf(want, sizeof want,
             "{\"mobile\":\"13800138000\",\"text\":\"Code %s for login\",\"x\":\"{other}\"}", code);
    for (int i = 0; i < 3; i++)
        ASSERT_EQ_STR(rx->bodies[i], want);
    ASSERT_EQ_INT(sx_int(sx, SX_ROW_SQL("length(code_sealed)"), 1, NULL), 0);
    ASSERT_EQ_INT(sx_int(sx, SX_ROW_SQL("attempts"), 1, NULL), 2);
    struct sms_outbox_item item;
    size_t count = 0;
    ASSERT_EQ_INT(sms_outbox_list(&sx->env, sx->reader, NULL, 0, &item, 1, &count), QB_OK);
    ASSERT_EQ_INT(count, 1);
    ASSERT_EQ_STR(item.code, "");
    /* the code still works: delivery does not touch sms_codes */
    ASSERT_EQ_INT(sx_consume(sx, "13800138000", SMS_PURPOSE_LOGIN, "", code), QB_OK);
    sms_gateway_free(gw);
    rx_stop(rx);
    sx_free(sx);
}

TEST(a_code_sent_whose_delivery_was_not_recorded_is_not_sent_again)
{
    /* The provider took the message but the ledger could not record it (a
     * full disk): the next passes record it without sending the code to
     * the phone again, once a pass, for as long as the disk stays full;
     * delivered, also once its code has expired. */
    const int statuses[] = {200, 200, 200};
    struct rx *rx = rx_start(statuses, 3);
    struct sms_gateway *gw = rx_gateway(rx);
    struct sx *sx = sx_new();
    sx_user_add(sx, "u_1", "13800138000");
    ASSERT_EQ_INT(sx_send(sx, "13800138000", SMS_PURPOSE_LOGIN, "", NULL), QB_OK);
    sqlite3 *db = NULL;
    ASSERT_EQ_INT(sqlite3_open(sx->db_path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    ASSERT_EQ_INT(sqlite3_exec(db,
                               "CREATE TRIGGER test_full BEFORE UPDATE ON sms_outbox"
                               " BEGIN SELECT RAISE(ABORT, 'the disk is full'); END",
                               NULL, NULL, NULL),
                  SQLITE_OK);
    struct sms_worker *worker = NULL;
    ASSERT_EQ_INT(sms_worker_start(&sx->env, sx->pool, gw, &worker), QB_OK);
    for (int waited = 0; rx_served(rx) < 1 && waited < 5000; waited += 10)
        sx_sleep_ms(10);
    ASSERT_EQ_INT(rx_served(rx), 1);
    for (int i = 0; i < 3; i++) { /* passes that cannot record it */
        sms_worker_wake(worker);
        sx_sleep_ms(1200);
    }
    ASSERT_EQ_INT(rx_served(rx), 1);
    ASSERT_EQ_INT(sx_int(sx, SX_ROW_SQL("delivered_at_ms"), 1, NULL), 0);
    /* The disk full past the code's five minutes: the phone has it all the same. */
    clock_manual_advance(&sx->clock, 6 * 60 * 1000);
    ASSERT_EQ_INT(sqlite3_exec(db, "DROP TRIGGER test_full", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    sms_worker_wake(worker);
    sx_wait_int(sx, SX_ROW_SQL("delivered_at_ms"), 1, sx_now(sx));
    sms_worker_stop(worker);
    ASSERT_EQ_INT(rx_served(rx), 1);
    sms_gateway_free(gw);
    rx_stop(rx);
    sx_free(sx);
}

TEST(worker_backoff_is_capped_and_attempts_are_bounded)
{
    /* A provider down for good must not be hammered forever: the wait
     * doubles up to 300 s, and after the tenth failed attempt the row is
     * left alone. */
    const int statuses[] = {500, 500, 500};
    struct rx *rx = rx_start(statuses, 3);
    struct sms_gateway *gw = rx_gateway(rx);
    struct sx *sx = sx_new();
    ASSERT_EQ_INT(sx_send(sx, "13900139000", SMS_PURPOSE_REGISTER, "", NULL), QB_OK);
    sx_sql(sx, "UPDATE sms_outbox SET attempts = 8", NULL, NULL);
    struct sms_worker *worker = NULL;
    ASSERT_EQ_INT(sms_worker_start(&sx->env, sx->pool, gw, &worker), QB_OK);
    sx_wait_int(sx, SX_ROW_SQL("attempts"), 1, 9);
    ASSERT_EQ_INT(sx_int(sx, SX_ROW_SQL("next_attempt_at_ms"), 1, NULL), sx_now(sx) + 256 * 1000);
    clock_manual_advance(&sx->clock, 256 * 1000);
    sms_worker_wake(worker);
    sx_wait_int(sx, SX_ROW_SQL("attempts"), 1, 10);
    /* the tenth failure takes the row out of the worker's read for good
     * (sms_int.h), rather than leaving it where every pass walks it */
    ASSERT_EQ_INT(sx_int(sx, SX_ROW_SQL("next_attempt_at_ms"), 1, NULL), SMS_NEXT_ATTEMPT_NEVER_MS);
    clock_manual_advance(&sx->clock, 3600 * 1000);
    sms_worker_wake(worker);
    sx_sleep_ms(450);
    sms_worker_stop(worker);
    ASSERT_EQ_INT(rx_served(rx), 2);
    ASSERT_EQ_INT(sx_int(sx, SX_ROW_SQL("attempts"), 1, NULL), 10);
    ASSERT_EQ_INT(sx_int(sx, SX_ROW_SQL("delivered_at_ms"), 1, NULL), 0);
    /* given up, though its code has expired since: the provider's failures are the news */
    sx_undelivered_expect(sx, 0, 1, 0);
    ASSERT_EQ_INT(sx_delivery_of(sx, 1), SMS_DELIVERY_GIVEN_UP);
    sms_gateway_free(gw);
    rx_stop(rx);
    sx_free(sx);
}

/* The migration that takes messages given up out of the worker's read
 * (0-based). */
#define S_GIVEN_UP_MIGRATION 53

TEST(messages_an_earlier_version_gave_up_leave_the_workers_read)
{
    /* Rows an earlier version gave up (ten attempts) kept their last
     * attempt's time, and every pass of the worker walked past them again;
     * one still being tried and one delivered keep theirs. */
    struct test_old_db old;
    test_old_db_open(&old, S_GIVEN_UP_MIGRATION, "attempts >= 10",
                     "INSERT INTO sms_outbox (id, phone, purpose, code_sealed, created_at_ms,"
                     " attempts, next_attempt_at_ms, delivered_at_ms) VALUES"
                     " (1, '13900139000', 1, x'', 1000, 10, 512000, 0),"
                     " (2, '13900139001', 1, x'', 1000, 9, 257000, 0),"
                     " (3, '13900139002', 1, x'', 1000, 10, 512000, 600000);");
    const int64_t want[] = {SMS_NEXT_ATTEMPT_NEVER_MS, 257000, 512000};
    for (int64_t id = 1; id <= 3; id++) {
        int64_t next = -1;
        const struct store_param param = STORE_INT(id);
        ASSERT_EQ_INT(store_int64(old.store,
                                  "SELECT next_attempt_at_ms FROM sms_outbox WHERE id = $1", &param,
                                  1, &next),
                      QB_OK);
        ASSERT_EQ_INT(next, want[id - 1]);
    }
    test_old_db_close(&old);
}

TEST(worker_never_sends_an_expired_code)
{
    /* A code past its TTL no longer works, so a message carrying it only
     * misleads its user: a row left by a daemon that stopped (tried once,
     * due long ago) is given up unsent once its code expired, one 1 ms
     * from expiry still goes out, and a longer TTL set later (a restart
     * with another --sms-code-ttl-s) does not bring the expired one back. */
    const int statuses[] = {200, 200};
    struct rx *rx = rx_start(statuses, 2);
    struct sms_gateway *gw = rx_gateway(rx);
    struct sx *sx = sx_new();
    ASSERT_EQ_INT(sx_send(sx, "13900139000", SMS_PURPOSE_REGISTER, "", NULL), QB_OK);
    sx_sql(sx,
           "UPDATE sms_outbox SET attempts = 1, next_attempt_at_ms = created_at_ms + 1000"
           " WHERE phone = $1",
           "13900139000", NULL);
    clock_manual_advance(&sx->clock, 1);
    ASSERT_EQ_INT(sx_send(sx, "13700137000", SMS_PURPOSE_REGISTER, "", NULL), QB_OK);
    clock_manual_advance(&sx->clock, sx->env.settings.sms_code_ttl_ms - 1);
    sx_undelivered_expect(sx, 1, 0, 1);

    struct sms_worker *worker = NULL;
    ASSERT_EQ_INT(sms_worker_start(&sx->env, sx->pool, gw, &worker), QB_OK);
    sx_wait_int(sx, SX_ROW_SQL("delivered_at_ms"), 2, sx_now(sx));
    ASSERT_EQ_INT(rx_served(rx), 1);
    ASSERT(strstr(rx->bodies[0], "13700137000") != NULL);
    ASSERT_EQ_INT(sx_delivery_of(sx, 1), SMS_DELIVERY_EXPIRED);
    ASSERT_EQ_INT(sx_delivery_of(sx, 2), SMS_DELIVERY_DELIVERED);
    sx_undelivered_expect(sx, 0, 0, 1);
    /* nobody needs the code again: it goes as a delivered one's does */
    ASSERT_EQ_INT(sx_int(sx, SX_ROW_SQL("length(code_sealed)"), 1, NULL), 0);

    sms_worker_stop(worker);
    sx->env.settings.sms_code_ttl_ms = 3600 * 1000;
    ASSERT_EQ_INT(sms_worker_start(&sx->env, sx->pool, gw, &worker), QB_OK);
    sms_worker_wake(worker);
    sx_sleep_ms(450);
    sms_worker_stop(worker);
    ASSERT_EQ_INT(rx_served(rx), 1);
    ASSERT_EQ_INT(sx_int(sx, SX_ROW_SQL("delivered_at_ms"), 1, NULL), 0);
    sx_undelivered_expect(sx, 0, 0, 1);
    sms_gateway_free(gw);
    rx_stop(rx);
    sx_free(sx);
}

TEST(worker_retries_only_while_the_code_works)
{
    /* A retry scheduled past the code's expiry would send a dead code, or
     * wait for nothing: with the code valid 300 s, a failure at 200 s is
     * retried 64 s later, but the one at 264 s, whose next wait would be
     * 128 s, ends the tries at once and the message counts as expired,
     * not as still being tried. */
    const int statuses[] = {500, 500, 500};
    struct rx *rx = rx_start(statuses, 3);
    struct sms_gateway *gw = rx_gateway(rx);
    struct sx *sx = sx_new();
    int64_t created_at_ms = sx_now(sx);
    ASSERT_EQ_INT(sx_send(sx, "13900139000", SMS_PURPOSE_REGISTER, "", NULL), QB_OK);
    sx_sql(sx, "UPDATE sms_outbox SET attempts = 6", NULL, NULL);
    clock_manual_advance(&sx->clock, 200 * 1000);
    struct sms_worker *worker = NULL;
    ASSERT_EQ_INT(sms_worker_start(&sx->env, sx->pool, gw, &worker), QB_OK);
    sx_wait_int(sx, SX_ROW_SQL("attempts"), 1, 7);
    ASSERT_EQ_INT(sx_int(sx, SX_ROW_SQL("next_attempt_at_ms"), 1, NULL), sx_now(sx) + 64 * 1000);
    ASSERT_EQ_INT(sx_delivery_of(sx, 1), SMS_DELIVERY_RETRYING);
    sx_undelivered_expect(sx, 1, 0, 0);

    clock_manual_advance(&sx->clock, 64 * 1000);
    sms_worker_wake(worker);
    sx_wait_int(sx, SX_ROW_SQL("attempts"), 1, 8);
    ASSERT(sx_now(sx) < created_at_ms + sx->env.settings.sms_code_ttl_ms);
    ASSERT_EQ_INT(sx_delivery_of(sx, 1), SMS_DELIVERY_EXPIRED);
    sx_undelivered_expect(sx, 0, 0, 1);
    clock_manual_advance(&sx->clock, 3600 * 1000);
    sms_worker_wake(worker);
    sx_sleep_ms(450);
    sms_worker_stop(worker);
    ASSERT_EQ_INT(rx_served(rx), 2);
    ASSERT_EQ_INT(sx_int(sx, SX_ROW_SQL("attempts"), 1, NULL), 8);
    sx_undelivered_expect(sx, 0, 0, 1);
    sms_gateway_free(gw);
    rx_stop(rx);
    sx_free(sx);
}

TEST(worker_sends_only_a_code_that_still_works)
{
    /* A message is worth sending while its code works: one whose code a
     * newer one replaced (asked again while the provider failed) would
     * arrive after the newer and be typed in, failing and spending a try of
     * the live one; one whose code was used already misleads. Both are given
     * up unsent, counted as expired; the live one goes out. */
    const int statuses[] = {200, 200, 200};
    struct rx *rx = rx_start(statuses, 3);
    struct sms_gateway *gw = rx_gateway(rx);
    struct sx *sx = sx_new();
    ASSERT_EQ_INT(sx_send(sx, "13900139000", SMS_PURPOSE_REGISTER, "", NULL), QB_OK);
    /* Tried once and failed, due again a second after. */
    sx_sql(sx,
           "UPDATE sms_outbox SET attempts = 1, next_attempt_at_ms = created_at_ms + 1000"
           " WHERE phone = $1",
           "13900139000", NULL);
    clock_manual_advance(&sx->clock, 60 * 1000);
    ASSERT_EQ_INT(sx_send(sx, "13900139000", SMS_PURPOSE_REGISTER, "", NULL), QB_OK);
    char live[SMS_CODE_DIGITS + 1], used[SMS_CODE_DIGITS + 1];
    sx_code_of(sx, "13900139000", live);
    sx_user_add(sx, "u_1", "13800138000");
    ASSERT_EQ_INT(sx_send(sx, "13800138000", SMS_PURPOSE_LOGIN, "", NULL), QB_OK);
    sx_code_of(sx, "13800138000", used);
    ASSERT_EQ_INT(sx_consume(sx, "13800138000", SMS_PURPOSE_LOGIN, "", used), QB_OK);
    sx_undelivered_expect(sx, 3, 0, 0);

    struct sms_worker *worker = NULL;
    ASSERT_EQ_INT(sms_worker_start(&sx->env, sx->pool, gw, &worker), QB_OK);
    sx_wait_int(sx, SX_ROW_SQL("delivered_at_ms"), 2, sx_now(sx));
    for (int waited = 0; sx_delivery_of(sx, 3) != SMS_DELIVERY_EXPIRED && waited < 5000;
         waited += 10)
        sx_sleep_ms(10);
    sms_worker_stop(worker);
    ASSERT_EQ_INT(rx_served(rx), 1);
    ASSERT(strstr(rx->bodies[0], live) != NULL);
    ASSERT_EQ_INT(sx_delivery_of(sx, 1), SMS_DELIVERY_EXPIRED);
    ASSERT_EQ_INT(sx_delivery_of(sx, 3), SMS_DELIVERY_EXPIRED);
    sx_undelivered_expect(sx, 0, 0, 2);
    /* The live code still works. */
    ASSERT_EQ_INT(sx_consume(sx, "13900139000", SMS_PURPOSE_REGISTER, "", live), QB_OK);
    sms_gateway_free(gw);
    rx_stop(rx);
    sx_free(sx);
}

TEST(worker_sends_a_backlog_without_waiting_between_passes)
{
    /* 150 codes wait in the outbox at once (a burst of registrations, or
     * a daemon that was stopped): more than two of the worker's batches
     * (64). The worker polls once an hour here, so every code goes out
     * only if each full pass is followed at once; one batch per poll
     * would keep 86 users waiting for a code that expires in minutes. The
     * wait ends at the last delivery; a sleep with work left would outlast
     * it by far. */
    struct sx *sx = sx_new();
    for (int i = 0; i < 150; i++) {
        char phone[16];
        snprintf(phone, sizeof phone, "1370000%04d", i);
        ASSERT_EQ_INT(sx_send(sx, phone, SMS_PURPOSE_REGISTER, "", NULL), QB_OK);
    }
    ASSERT_EQ_INT(sx_int(sx, "SELECT count(*) FROM sms_outbox", -1, NULL), 150);
    struct sms_gateway *gw = sms_gateway_outbox_new();
    ASSERT(gw != NULL);
    sx->env.settings.worker_poll_ms = 3600 * 1000;
    struct sms_worker *worker = NULL;
    ASSERT_EQ_INT(sms_worker_start(&sx->env, sx->pool, gw, &worker), QB_OK);
    const char *sql = "SELECT count(*) FROM sms_outbox WHERE delivered_at_ms = 0";
    int64_t waiting = sx_int(sx, sql, -1, NULL);
    for (int waited_ms = 0; waiting > 0 && waited_ms < 30 * 1000; waited_ms += 10) {
        sx_sleep_ms(10);
        waiting = sx_int(sx, sql, -1, NULL);
    }
    sms_worker_stop(worker);
    sms_gateway_free(gw);
    if (waiting != 0)
        TEST_FAIL_("%" PRId64 " of 150 codes still wait in the outbox after 30 s", waiting);
    sx_free(sx);
}

TEST(a_failed_send_at_the_end_of_a_full_batch_does_not_hold_up_the_next)
{
    /* 70 codes wait; the provider refuses the 64th, the last of the first
     * batch, and takes every other. That one failure is the row's (tried
     * again a second on), not the pass's: the six after the batch go out
     * at once, not after the worker's poll (an hour here). Before, the
     * pass answered the failed send as its own error: logged as a failed
     * pass, and nothing more taken until the poll. */
    struct sx *sx = sx_new();
    for (int i = 0; i < 70; i++) {
        char phone[16];
        snprintf(phone, sizeof phone, "1370001%04d", i);
        ASSERT_EQ_INT(sx_send(sx, phone, SMS_PURPOSE_REGISTER, "", NULL), QB_OK);
    }
    int statuses[71];
    for (int i = 0; i < 71; i++)
        statuses[i] = i == 63 ? 500 : 200;
    struct rx *rx = rx_start(statuses, 71);
    struct sms_gateway *gw = rx_gateway(rx);
    sx->env.settings.worker_poll_ms = 3600 * 1000;
    struct sms_worker *worker = NULL;
    ASSERT_EQ_INT(sms_worker_start(&sx->env, sx->pool, gw, &worker), QB_OK);
    const char *sql = "SELECT count(*) FROM sms_outbox WHERE delivered_at_ms <> 0";
    int64_t delivered = sx_int(sx, sql, -1, NULL);
    for (int waited_ms = 0; delivered < 69 && waited_ms < 30 * 1000; waited_ms += 10) {
        sx_sleep_ms(10);
        delivered = sx_int(sx, sql, -1, NULL);
    }
    sms_worker_stop(worker);
    sms_gateway_free(gw);
    rx_stop(rx);
    if (delivered < 69)
        TEST_FAIL_("%" PRId64 " of the 69 codes the provider took were sent within 30 s",
                   delivered);
    sx_free(sx);
}

int main(void)
{
    if (!crypto_init())
        return 1;
    seed = test_seed();
    RUN(purpose_names_round_trip);
    RUN(phone_numbers_are_mainland_mobiles);
    RUN(phone_numbers_are_read_as_people_write_them);
    RUN(code_is_issued_and_consumed_once);
    RUN(wrong_codes_count_and_five_void_the_code);
    RUN(code_expires_after_five_minutes);
    RUN(code_is_bound_to_purpose_and_target);
    RUN(newest_code_supersedes_older_ones);
    RUN(cooldown_answers_rate_limited_with_retry_after);
    RUN(daily_cap_is_ten_and_resets_at_midnight_in_china);
    RUN(rows_past_two_days_are_deleted_as_new_ones_come);
    RUN(unknown_phone_answers_like_a_known_one);
    RUN(code_is_never_stored_in_clear);
    RUN(outbox_list_unseals_newest_first);
    RUN(every_message_says_what_its_code_authorises);
    RUN(http_gateway_posts_the_template);
    RUN(http_gateway_refuses_bad_settings);
    RUN(worker_marks_outbox_rows_delivered);
    RUN(worker_sends_what_a_bind_card_code_authorises_or_nothing);
    RUN(worker_sends_a_notice_with_no_code);
    RUN(worker_retries_http_failures_with_backoff);
    RUN(a_code_sent_whose_delivery_was_not_recorded_is_not_sent_again);
    RUN(worker_backoff_is_capped_and_attempts_are_bounded);
    RUN(messages_an_earlier_version_gave_up_leave_the_workers_read);
    RUN(worker_never_sends_an_expired_code);
    RUN(worker_retries_only_while_the_code_works);
    RUN(worker_sends_only_a_code_that_still_works);
    RUN(worker_sends_a_backlog_without_waiting_between_passes);
    RUN(a_failed_send_at_the_end_of_a_full_batch_does_not_hold_up_the_next);
    return test_summary();
}

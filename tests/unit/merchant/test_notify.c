/*
 * test_notify.c — the notification rules that need no network
 * (src/merchant/notify.c): the envelope opened with OpenSSL's EVP directly
 * (not Qianbao's own decryption), the retry ladder and its divisor,
 * notify_url parsing and the private-address rule, and the command that
 * records an attempt: delivered on a 2xx, rescheduled on the ladder
 * otherwise, FAILED after the sixteenth, and refused when stale.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "merchant/notify.h"
#include "unit/wallet/transfer_fixture.h"

static const uint8_t S_key[32] = "0123456789abcdefghijABCDEFGHIJ01";

/* Opens base64(ciphertext || tag) with EVP AES-256-GCM; the plaintext
 * into out (NUL-terminated). False when the tag does not match. */
static bool S_open(const char *b64, const char *nonce, const char *aad, char *out, size_t out_size)
{
    unsigned char raw[4096];
    int n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)strlen(b64));
    size_t len = strlen(b64);
    while (len > 0 && b64[len - 1] == '=') {
        n--;
        len--;
    }
    if (n < 16 || (size_t)n - 16 >= out_size)
        return false;
    int size = n - 16;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int got = 0, final = 0;
    bool ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, (int)strlen(nonce), NULL) == 1 &&
              EVP_DecryptInit_ex(ctx, NULL, NULL, S_key, (const unsigned char *)nonce) == 1 &&
              EVP_DecryptUpdate(ctx, NULL, &got, (const unsigned char *)aad, (int)strlen(aad)) == 1 &&
              EVP_DecryptUpdate(ctx, (unsigned char *)out, &got, raw, size) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, raw + size) == 1 &&
              EVP_DecryptFinal_ex(ctx, (unsigned char *)out + got, &final) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (ok)
        out[got + final] = '\0';
    return ok;
}

TEST(the_envelope_is_wechats_and_opens_with_plain_openssl)
{
    // A merchant's SDK opens the resource with the API v3 key, the nonce and associated_data
    // from the envelope; the envelope carries WeChat's fields, and a changed associated_data
    // does not open.
    const char *resource = "{\"out_trade_no\":\"order-0001\",\"trade_state\":\"SUCCESS\"}";
    struct buf out;
    buf_init(&out, 65536);
    ASSERT_EQ_INT(merchant_notify_envelope(S_key, "9c1b6a0e-0000-4000-8000-000000000001",
                                           INT64_C(1790000000000), "TRANSACTION.SUCCESS",
                                           "支付成功", "transaction", resource, "abcdefghijkl",
                                           &out),
                  QB_OK);
    json_error_t error;
    json_t *j = json_loadb((const char *)out.data, out.size, 0, &error);
    ASSERT(j != NULL);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "event_type")), "TRANSACTION.SUCCESS");
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "resource_type")), "encrypt-resource");
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "summary")), "支付成功");
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "create_time")), "2026-09-21T22:13:20+08:00");
    json_t *res = json_object_get(j, "resource");
    ASSERT_EQ_STR(json_string_value(json_object_get(res, "algorithm")), "AEAD_AES_256_GCM");
    ASSERT_EQ_STR(json_string_value(json_object_get(res, "original_type")), "transaction");
    ASSERT_EQ_STR(json_string_value(json_object_get(res, "associated_data")), "transaction");
    ASSERT_EQ_STR(json_string_value(json_object_get(res, "nonce")), "abcdefghijkl");
    /* The known answer, computed apart from this code base with Python's cryptography
     * package: AESGCM(key).encrypt(b"abcdefghijkl", resource, b"transaction"). */
    const char *ciphertext = json_string_value(json_object_get(res, "ciphertext"));
    ASSERT_EQ_STR(ciphertext, "r1Hl1DifAiM3JHDCEJ2PkZWY5iRVTwWCH6XsIv7TinFH2jTV//xgYgalWBGS+YTvs2s"
                              "WqdEcnECuqkMBzyu1L6Od3L/V");
    char plain[1024];
    ASSERT(S_open(ciphertext, "abcdefghijkl", "transaction", plain, sizeof plain));
    ASSERT_EQ_STR(plain, resource);
    ASSERT(!S_open(ciphertext, "abcdefghijkl", "refund", plain, sizeof plain));
    json_decref(j);
    buf_release(&out);
}

TEST(the_ladder_is_wechats_and_shrinks_for_tests)
{
    // Fifteen steps after the first attempt, 24 h 4 m in all; the sixteenth failure ends it.
    int64_t sum = 0;
    for (int i = 0; i < MERCHANT_NOTIFY_ATTEMPTS_MAX - 1; i++)
        sum += merchant_notify_ladder_s[i];
    ASSERT_EQ_INT(sum, 24 * 3600 + 4 * 60);
    ASSERT_EQ_INT(merchant_notify_next_at_ms(1, 1000, 1), 16000);
    ASSERT_EQ_INT(merchant_notify_next_at_ms(4, 0, 1), 180000);
    ASSERT_EQ_INT(merchant_notify_next_at_ms(15, 0, 1), 6 * 3600 * 1000);
    ASSERT_EQ_INT(merchant_notify_next_at_ms(16, 0, 1), 0);
    ASSERT_EQ_INT(merchant_notify_next_at_ms(1, 0, 150), 100);
    ASSERT_EQ_INT(merchant_notify_next_at_ms(1, 0, 100000), 1);
}

static bool S_private_v4(const char *text)
{
    struct sockaddr_in in;
    memset(&in, 0, sizeof in);
    in.sin_family = AF_INET;
    ASSERT_EQ_INT(inet_pton(AF_INET, text, &in.sin_addr), 1);
    return merchant_address_is_private(&in);
}

static bool S_private_v6(const char *text)
{
    struct sockaddr_in6 in6;
    memset(&in6, 0, sizeof in6);
    in6.sin6_family = AF_INET6;
    ASSERT_EQ_INT(inet_pton(AF_INET6, text, &in6.sin6_addr), 1);
    return merchant_address_is_private(&in6);
}

TEST(notify_urls_parse_and_private_addresses_are_told_apart)
{
    // Only http(s) with a host; loopback, RFC 1918, link-local, CGNAT, multicast, unique-local
    // and mapped private addresses are refused, public ones are not; literal hosts are checked
    // without DNS.
    char host[MERCHANT_NOTIFY_HOST_SIZE_MAX];
    int port = 0;
    ASSERT(merchant_notify_url_parse("https://pay.example.com/notify?x=1", host, &port));
    ASSERT_EQ_STR(host, "pay.example.com");
    ASSERT_EQ_INT(port, 443);
    ASSERT(merchant_notify_url_parse("http://[::1]:8080/n", host, &port));
    ASSERT_EQ_STR(host, "::1");
    ASSERT_EQ_INT(port, 8080);
    ASSERT(!merchant_notify_url_parse("ftp://example.com/", host, &port));
    ASSERT(!merchant_notify_url_parse("https://user@example.com/", host, &port));
    ASSERT(!merchant_notify_url_parse("https://example.com:0/", host, &port));
    ASSERT(!merchant_notify_url_parse("https://example.com:99999/", host, &port));
    ASSERT(!merchant_notify_url_parse("https:///path", host, &port));
    ASSERT(!merchant_notify_url_parse("https://exa mple.com/", host, &port));
    ASSERT(!merchant_notify_url_parse("http://[fe80::1%25eth0]/", host, &port)); /* a zone */
    ASSERT(!merchant_notify_url_parse("http://[pay.example.com]/", host, &port));
    ASSERT(!merchant_notify_url_parse("http://[bad.cafe]/", host, &port)); /* hex letters */
    ASSERT(!merchant_notify_url_parse("http://[8.8.8.8]/", host, &port));
    ASSERT(!merchant_notify_url_parse("http://[1:2:3]/", host, &port));
    ASSERT(!merchant_notify_url_parse("http://[]/", host, &port));
    ASSERT(merchant_notify_url_parse("http://[2001:DB8::1]:8443/n", host, &port));
    ASSERT_EQ_STR(host, "2001:DB8::1");

    const char *private4[] = {"127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255",
                              "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
                              "224.0.0.1", "255.255.255.255"};
    for (size_t i = 0; i < sizeof private4 / sizeof private4[0]; i++)
        ASSERT(S_private_v4(private4[i]));
    ASSERT(!S_private_v4("8.8.8.8"));
    ASSERT(!S_private_v4("172.32.0.1"));
    ASSERT(!S_private_v4("100.128.0.1"));
    ASSERT(S_private_v6("::1"));
    ASSERT(S_private_v6("::"));
    ASSERT(S_private_v6("fe80::1"));
    ASSERT(S_private_v6("fd00::1"));
    ASSERT(S_private_v6("::ffff:10.0.0.1"));
    ASSERT(!S_private_v6("2400:3200::1"));
    ASSERT(!S_private_v6("::ffff:8.8.8.8"));

    const char *reason = NULL;
    ASSERT_EQ_INT(merchant_notify_url_check("http://127.0.0.1:9/n", false, false, NULL, 0, &reason),
                  QB_E_PARAM);
    ASSERT_EQ_INT(merchant_notify_url_check("http://[fe80::1]/n", false, false, NULL, 0, &reason),
                  QB_E_PARAM);
    char pin[300];
    ASSERT_EQ_INT(
        merchant_notify_url_check("http://127.0.0.1:9/n", true, true, pin, sizeof pin, &reason),
        QB_OK);
    ASSERT_EQ_STR(pin, "127.0.0.1:9:127.0.0.1");
    ASSERT_EQ_INT(
        merchant_notify_url_check("https://8.8.8.8/n", false, true, pin, sizeof pin, &reason),
        QB_OK);
    ASSERT_EQ_STR(pin, "8.8.8.8:443:8.8.8.8");

    /* Without a lookup (an order's or refund's check on the HTTP thread): an address in any form
     * the resolver reads as one, and a localhost name, are judged; another name is left to the
     * delivery, which resolves it. */
    const char *refused[] = {"http://2130706433/n", "http://0x7f.1/n",        "http://localhost/n",
                             "http://LocalHost./n", "http://api.localhost/n", "http://10.1/n"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        ASSERT_EQ_STR(merchant_notify_url_check(refused[i], false, false, NULL, 0, &reason) ==
                              QB_E_PARAM
                          ? "refused"
                          : refused[i],
                      "refused");
    ASSERT_EQ_INT(merchant_notify_url_check("http://localhost/n", true, false, NULL, 0, &reason),
                  QB_E_NOT_FOUND);
    ASSERT_EQ_INT(
        merchant_notify_url_check("https://notlocalhost/n", false, false, NULL, 0, &reason),
        QB_E_NOT_FOUND);
    ASSERT_EQ_INT(
        merchant_notify_url_check("https://pay.example.com/n", false, false, NULL, 0, &reason),
        QB_E_NOT_FOUND);
    ASSERT_EQ_INT(merchant_notify_url_check("https://8.8.8.8/n", false, false, NULL, 0, &reason),
                  QB_OK);
}

/* Records attempt number attempt of id, begun at at_ms, with status; answers the outcome. */
static enum qb_error S_attempt_at(struct wx *wx, const char *id, int attempt, int status,
                                  int64_t at_ms)
{
    struct merchant_notify_attempt_cmd c;
    merchant_notify_attempt_cmd_init(&c, &wx->env);
    snprintf(c.id, sizeof c.id, "%s", id);
    c.attempt = attempt;
    c.at_ms = at_ms;
    c.http_status = status;
    snprintf(c.error, sizeof c.error, "%s", status == 0 ? "timeout" : "");
    c.duration_ms = 3;
    ASSERT_EQ_INT(ledger_execute(wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    enum qb_error outcome = c.outcome;
    ledger_cmd_release(&c.cmd);
    return outcome;
}

/* The same, begun as the worker begins one: once it is due (these tests record attempts
 * without waiting for the ladder), or now. */
static enum qb_error S_attempt(struct wx *wx, const char *id, int attempt, int status)
{
    struct store_stmt *st = NULL;
    ASSERT_EQ_INT(store_prepare(wx->reader,
                                "SELECT next_attempt_at_ms FROM notifications WHERE id = $1", &st),
                  QB_OK);
    ASSERT_EQ_INT(store_bind_text(st, 1, id, strlen(id)), QB_OK);
    int64_t due_ms = store_step(st) == STORE_STEP_ROW ? store_column_int64(st, 0) : 0;
    store_finalize(st);
    int64_t now_ms = clock_now_ms(&wx->clock);
    return S_attempt_at(wx, id, attempt, status, due_ms > now_ms ? due_ms : now_ms);
}

struct S_add {
    struct ledger_cmd cmd;
    const struct domain_env *env;
};

static enum qb_error S_add_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct S_add *a = (struct S_add *)cmd;
    json_t *resource = json_pack("{s:s}", "out_trade_no", "order-0001");
    enum qb_error err = merchant_txn_notify_add(txn, a->env, "1900009191", "https://e.com/n",
                                                "TRANSACTION.SUCCESS", "transaction",
                                                "4200000000000000000000000001", "支付成功",
                                                resource);
    json_decref(resource);
    return err;
}

static void S_row(struct wx *wx, char id[MERCHANT_NOTIFY_ID_SIZE], int64_t *status,
                  int64_t *attempts, int64_t *next_ms)
{
    struct store_stmt *st = NULL;
    ASSERT_EQ_INT(store_prepare(wx->reader,
                                "SELECT id, status, attempt_count, next_attempt_at_ms"
                                " FROM notifications ORDER BY seq DESC LIMIT 1",
                                &st),
                  QB_OK);
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    store_column_text_copy(st, 0, id, MERCHANT_NOTIFY_ID_SIZE);
    *status = store_column_int64(st, 1);
    *attempts = store_column_int64(st, 2);
    *next_ms = store_column_int64(st, 3);
    store_finalize(st);
}

TEST(attempts_follow_the_ladder_until_delivered_or_failed)
{
    // The record of each attempt decides what comes next: a failure waits the ladder's step, a
    // 2xx delivers, a stale record (the attempt already counted) changes nothing, and the
    // sixteenth failure ends it as FAILED — the schedule lives in the row, not in memory.
    struct wx *wx = wx_new();
    for (int round = 0; round < 2; round++) {
        struct S_add add = {.env = &wx->env};
        ledger_cmd_init(&add.cmd, S_add_run, NULL);
        ASSERT_EQ_INT(ledger_execute(wx->ledger, &add.cmd), QB_OK);
        ASSERT_EQ_INT(add.cmd.result, QB_OK);
        ledger_cmd_release(&add.cmd);
        char id[MERCHANT_NOTIFY_ID_SIZE];
        int64_t status, attempts, next_ms;
        S_row(wx, id, &status, &attempts, &next_ms);
        ASSERT_EQ_INT(strlen(id), 36);
        ASSERT_EQ_INT(status, MERCHANT_NOTIFY_PENDING);
        ASSERT_EQ_INT(next_ms, clock_now_ms(&wx->clock));
        int64_t now = clock_now_ms(&wx->clock);
        ASSERT_EQ_INT(S_attempt(wx, id, 1, 500), QB_OK);
        S_row(wx, id, &status, &attempts, &next_ms);
        ASSERT_EQ_INT(attempts, 1);
        ASSERT_EQ_INT(next_ms, now + 15000);
        ASSERT_EQ_INT(S_attempt(wx, id, 1, 200), QB_E_CONFLICT);
        if (round == 0) {
            ASSERT_EQ_INT(S_attempt(wx, id, 2, 204), QB_OK);
            S_row(wx, id, &status, &attempts, &next_ms);
            ASSERT_EQ_INT(status, MERCHANT_NOTIFY_DELIVERED);
            ASSERT_EQ_INT(S_attempt(wx, id, 3, 500), QB_E_CONFLICT);
            continue;
        }
        for (int a = 2; a <= MERCHANT_NOTIFY_ATTEMPTS_MAX; a++)
            ASSERT_EQ_INT(S_attempt(wx, id, a, 0), QB_OK);
        S_row(wx, id, &status, &attempts, &next_ms);
        ASSERT_EQ_INT(status, MERCHANT_NOTIFY_FAILED);
        ASSERT_EQ_INT(attempts, MERCHANT_NOTIFY_ATTEMPTS_MAX);
    }
    json_t *page = NULL;
    int64_t next = 0;
    ASSERT_EQ_INT(merchant_notifications_list(wx->reader, "1900009191", 0, 1, &page, &next), QB_OK);
    json_t *first = json_array_get(page, 0);
    ASSERT_EQ_STR(json_string_value(json_object_get(first, "status")), "FAILED");
    ASSERT_EQ_INT(json_array_size(json_object_get(first, "attempts")), 16);
    ASSERT(next > 0);
    json_decref(page);
    ASSERT_EQ_INT(merchant_notifications_list(wx->reader, "1900009191", next, 10, &page, &next),
                  QB_OK);
    first = json_array_get(page, 0);
    ASSERT_EQ_STR(json_string_value(json_object_get(first, "status")), "DELIVERED");
    ASSERT_EQ_INT(next, 0);
    json_decref(page);
    ASSERT_EQ_INT(merchant_notifications_list(wx->reader, "1900009192", 0, 10, &page, &next),
                  QB_OK);
    ASSERT_EQ_INT(json_array_size(page), 0);
    json_decref(page);
    wx_free(wx);
}

/* Queues one notification as a paying command does. */
static void S_add_one(struct wx *wx)
{
    struct S_add add = {.env = &wx->env};
    ledger_cmd_init(&add.cmd, S_add_run, NULL);
    ASSERT_EQ_INT(ledger_execute(wx->ledger, &add.cmd), QB_OK);
    ASSERT_EQ_INT(add.cmd.result, QB_OK);
    ledger_cmd_release(&add.cmd);
}

/* The text of one answer of sql (a group_concat) on the reader into out. */
static const char *S_text(struct wx *wx, const char *sql, char *out, size_t size)
{
    struct store_stmt *st = NULL;
    ASSERT_EQ_INT(store_prepare(wx->reader, sql, &st), QB_OK);
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    store_column_text_copy(st, 0, out, size);
    store_finalize(st);
    return out;
}

TEST(notifications_done_are_deleted_after_their_window_oldest_first)
{
    // Each notification kept for ever grew the outbox by every payment: a new one deletes up to
    // eight of the oldest delivered or given up over MERCHANT_NOTIFY_KEPT_MS ago, with their
    // attempts; one still pending stays, whatever its age.
    struct wx *wx = wx_new();
    int64_t t0 = clock_now_ms(&wx->clock);
    for (int i = 1; i <= 10; i++) {
        S_add_one(wx);
        char id[MERCHANT_NOTIFY_ID_SIZE];
        int64_t status, attempts, next_ms;
        S_row(wx, id, &status, &attempts, &next_ms);
        ASSERT_EQ_INT(S_attempt(wx, id, 1, 500), QB_OK);
        ASSERT_EQ_INT(S_attempt(wx, id, 2, 200), QB_OK);
    }
    wx_hand_edit(wx, "UPDATE notifications SET status = 3 WHERE seq = 2;"
                     "UPDATE notifications SET status = 1 WHERE seq = 5;");
    char text[256];
    wx_clock_to(wx, t0 + MERCHANT_NOTIFY_KEPT_MS);
    S_add_one(wx); /* 11: nothing is past the window yet */
    ASSERT_EQ_STR(S_text(wx, "SELECT group_concat(seq) FROM notifications", text, sizeof text),
                  "1,2,3,4,5,6,7,8,9,10,11");
    wx_clock_to(wx, t0 + MERCHANT_NOTIFY_KEPT_MS + 1);
    S_add_one(wx); /* 12: the first eight but the pending one */
    ASSERT_EQ_STR(S_text(wx, "SELECT group_concat(seq) FROM notifications", text, sizeof text),
                  "5,9,10,11,12");
    S_add_one(wx); /* 13: the rest past the window */
    ASSERT_EQ_STR(S_text(wx, "SELECT group_concat(seq) FROM notifications", text, sizeof text),
                  "5,11,12,13");
    ASSERT_EQ_STR(S_text(wx,
                         "SELECT count(*) || ' ' || sum(notification_id NOT IN"
                         " (SELECT id FROM notifications)) FROM notification_attempts",
                         text, sizeof text),
                  "2 0");
    wx_free(wx);
}

/* The attempts S_churn_run records, each failing, on every notification
 * in ids, until each has had them all. */
struct S_churn {
    struct wx *wx;
    char (*ids)[MERCHANT_NOTIFY_ID_SIZE];
    int count;
    atomic_bool done;
};

static void *S_churn_run(void *arg)
{
    struct S_churn *c = arg;
    /* begun late enough that no row is due after it; S_attempt would share
     * the reader the list reads with */
    for (int a = 1; a <= MERCHANT_NOTIFY_ATTEMPTS_MAX; a++)
        for (int i = 0; i < c->count; i++)
            ASSERT_EQ_INT(S_attempt_at(c->wx, c->ids[i], a, 500, INT64_C(1) << 60), QB_OK);
    atomic_store(&c->done, true);
    return NULL;
}

TEST(a_page_of_notifications_is_read_as_of_one_moment)
{
    // The list reads a page of notifications, then each one's attempts: attempts recorded (or
    // pruned) in between must not show attempt_count 3 beside four attempts.
    struct wx *wx = wx_new();
    enum { S_COUNT = 20 };
    static char ids[S_COUNT][MERCHANT_NOTIFY_ID_SIZE];
    for (int i = 0; i < S_COUNT; i++) {
        S_add_one(wx);
        int64_t status, attempts, next_ms;
        S_row(wx, ids[i], &status, &attempts, &next_ms);
    }
    struct S_churn churn = {.wx = wx, .ids = ids, .count = S_COUNT};
    atomic_init(&churn.done, false);
    pthread_t thread;
    ASSERT_EQ_INT(pthread_create(&thread, NULL, S_churn_run, &churn), 0);
    int pages = 0, torn = 0;
    while (!atomic_load(&churn.done)) {
        json_t *page = NULL;
        int64_t next = 0;
        ASSERT_EQ_INT(
            merchant_notifications_list(wx->reader, "1900009191", 0, S_COUNT, &page, &next), QB_OK);
        for (size_t i = 0; i < json_array_size(page); i++) {
            json_t *n = json_array_get(page, i);
            if (json_integer_value(json_object_get(n, "attempt_count")) !=
                (json_int_t)json_array_size(json_object_get(n, "attempts")))
                torn++;
        }
        json_decref(page);
        pages++;
    }
    pthread_join(thread, NULL);
    ASSERT(pages > 0);
    if (torn != 0)
        TEST_FAIL_("%d notifications of %d pages with attempt_count other than their attempts",
                   torn, pages);
    wx_free(wx);
}

/* Asks for notification id of mchid to be sent again; answers the outcome. */
static enum qb_error S_resend(struct wx *wx, const char *mchid, const char *id,
                              struct merchant_notify_resend_cmd *out)
{
    struct merchant_notify_resend_cmd c;
    merchant_notify_resend_cmd_init(&c);
    snprintf(c.mchid, sizeof c.mchid, "%s", mchid);
    snprintf(c.id, sizeof c.id, "%s", id);
    ASSERT_EQ_INT(ledger_execute(wx->ledger, &c.cmd), QB_OK);
    ASSERT_EQ_INT(c.cmd.result, QB_OK);
    ledger_cmd_release(&c.cmd);
    if (out != NULL)
        *out = c;
    return c.outcome;
}

TEST(a_resend_makes_a_notification_due_now_within_its_bound)
{
    // A merchant mends its endpoint and asks again: a PENDING notification far along the ladder
    // is due at once and keeps its count; a FAILED one gets one attempt more, then FAILED again,
    // up to MERCHANT_NOTIFY_RESENDS_MAX of them; a DELIVERED one, another merchant's and an
    // unknown id are refused and change nothing.
    struct wx *wx = wx_new();
    struct S_add add = {.env = &wx->env};
    ledger_cmd_init(&add.cmd, S_add_run, NULL);
    ASSERT_EQ_INT(ledger_execute(wx->ledger, &add.cmd), QB_OK);
    ASSERT_EQ_INT(add.cmd.result, QB_OK);
    ledger_cmd_release(&add.cmd);
    char id[MERCHANT_NOTIFY_ID_SIZE];
    int64_t status, attempts, next_ms;
    S_row(wx, id, &status, &attempts, &next_ms);
    for (int a = 1; a <= 10; a++)
        ASSERT_EQ_INT(S_attempt(wx, id, a, 500), QB_OK);
    S_row(wx, id, &status, &attempts, &next_ms);
    ASSERT_EQ_INT(next_ms - clock_now_ms(&wx->clock), 3600 * 1000); /* the 11th: in an hour */

    struct merchant_notify_resend_cmd c;
    ASSERT_EQ_INT(S_resend(wx, "1900009192", id, NULL), QB_E_NOT_FOUND);
    ASSERT_EQ_INT(S_resend(wx, "1900009191", "00000000-0000-4000-8000-000000000000", NULL),
                  QB_E_NOT_FOUND);
    S_row(wx, id, &status, &attempts, &next_ms);
    ASSERT_EQ_INT(next_ms - clock_now_ms(&wx->clock), 3600 * 1000);
    clock_manual_advance(&wx->clock, 60 * 1000);
    ASSERT_EQ_INT(S_resend(wx, "1900009191", id, &c), QB_OK);
    ASSERT_EQ_INT(c.status_before, MERCHANT_NOTIFY_PENDING);
    ASSERT_EQ_INT(c.attempt_count, 10);
    ASSERT_EQ_INT(c.next_attempt_at_ms, clock_now_ms(&wx->clock));
    S_row(wx, id, &status, &attempts, &next_ms);
    ASSERT_EQ_INT(status, MERCHANT_NOTIFY_PENDING);
    ASSERT_EQ_INT(attempts, 10);
    ASSERT_EQ_INT(next_ms, clock_now_ms(&wx->clock));

    /* A resend asked for while an attempt was on its way (begun before it, failed after it,
     * as the merchant's endpoint was being mended) is not undone by that attempt's record: the
     * next attempt is still due at once, not an hour and a half up the ladder; an attempt
     * begun after the resend was the one it asked for, and climbs the ladder as usual. */
    int64_t begun_ms = clock_now_ms(&wx->clock);
    clock_manual_advance(&wx->clock, 2000);
    ASSERT_EQ_INT(S_resend(wx, "1900009191", id, &c), QB_OK);
    int64_t resent_ms = clock_now_ms(&wx->clock);
    clock_manual_advance(&wx->clock, 3000);
    ASSERT_EQ_INT(S_attempt_at(wx, id, 11, 0, begun_ms), QB_OK);
    S_row(wx, id, &status, &attempts, &next_ms);
    ASSERT_EQ_INT(status, MERCHANT_NOTIFY_PENDING);
    ASSERT_EQ_INT(attempts, 11);
    ASSERT_EQ_INT(next_ms, resent_ms);
    ASSERT_EQ_INT(S_attempt(wx, id, 12, 0), QB_OK);
    S_row(wx, id, &status, &attempts, &next_ms);
    ASSERT(next_ms > clock_now_ms(&wx->clock));

    /* Failed to the end of the ladder; each resend buys one attempt. */
    for (int a = 13; a <= MERCHANT_NOTIFY_ATTEMPTS_MAX; a++)
        ASSERT_EQ_INT(S_attempt(wx, id, a, 0), QB_OK);
    for (int a = MERCHANT_NOTIFY_ATTEMPTS_MAX + 1; a <= MERCHANT_NOTIFY_ATTEMPTS_TOTAL_MAX; a++) {
        S_row(wx, id, &status, &attempts, &next_ms);
        ASSERT_EQ_INT(status, MERCHANT_NOTIFY_FAILED);
        ASSERT_EQ_INT(attempts, a - 1);
        ASSERT_EQ_INT(S_attempt(wx, id, a, 0), QB_E_CONFLICT); /* not due while FAILED */
        ASSERT_EQ_INT(S_resend(wx, "1900009191", id, &c), QB_OK);
        ASSERT_EQ_INT(c.status_before, MERCHANT_NOTIFY_FAILED);
        S_row(wx, id, &status, &attempts, &next_ms);
        ASSERT_EQ_INT(status, MERCHANT_NOTIFY_PENDING);
        ASSERT_EQ_INT(next_ms, clock_now_ms(&wx->clock));
        ASSERT_EQ_INT(S_attempt(wx, id, a, 503), QB_OK);
    }
    S_row(wx, id, &status, &attempts, &next_ms);
    ASSERT_EQ_INT(status, MERCHANT_NOTIFY_FAILED);
    ASSERT_EQ_INT(attempts, MERCHANT_NOTIFY_ATTEMPTS_TOTAL_MAX);
    ASSERT_EQ_INT(S_resend(wx, "1900009191", id, &c), QB_E_CONFLICT);
    ASSERT_EQ_INT(c.status_before, MERCHANT_NOTIFY_FAILED);
    S_row(wx, id, &status, &attempts, &next_ms);
    ASSERT_EQ_INT(status, MERCHANT_NOTIFY_FAILED);

    /* A delivered one is not sent again. */
    add = (struct S_add){.env = &wx->env};
    ledger_cmd_init(&add.cmd, S_add_run, NULL);
    ASSERT_EQ_INT(ledger_execute(wx->ledger, &add.cmd), QB_OK);
    ledger_cmd_release(&add.cmd);
    S_row(wx, id, &status, &attempts, &next_ms);
    ASSERT_EQ_INT(S_attempt(wx, id, 1, 200), QB_OK);
    ASSERT_EQ_INT(S_resend(wx, "1900009191", id, &c), QB_E_CONFLICT);
    ASSERT_EQ_INT(c.status_before, MERCHANT_NOTIFY_DELIVERED);
    S_row(wx, id, &status, &attempts, &next_ms);
    ASSERT_EQ_INT(status, MERCHANT_NOTIFY_DELIVERED);

    /* A status no version writes (a row edited by hand) is refused as one
     * that cannot be sent again, not trusted. */
    char sql[160];
    snprintf(sql, sizeof sql, "UPDATE notifications SET status = 9 WHERE id = '%s'", id);
    wx_hand_edit(wx, sql);
    ASSERT_EQ_INT(S_resend(wx, "1900009191", id, &c), QB_E_CONFLICT);
    S_row(wx, id, &status, &attempts, &next_ms);
    ASSERT_EQ_INT(status, 9);
    wx_free(wx);
}

TEST(ipv6_addresses_that_carry_an_ipv4_one_are_judged_by_it)
{
    // An IPv6 form that reaches an IPv4 host (compatible, mapped, translated, NAT64, 6to4) is
    // private when its IPv4 address is: else a notify_url of [64:ff9b::a00:1] would reach
    // 10.0.0.1 through a NAT64 gateway. The local-use NAT64 prefix and Teredo reach hosts the
    // address does not tell, so they are private whatever they hold.
    const char *private6[] = {
        "::127.0.0.1",        "::10.0.0.1",          "::ffff:127.0.0.1",
        "::ffff:0:127.0.0.1", "::ffff:0:10.0.0.1",   "::ffff:0:169.254.169.254",
        "64:ff9b::127.0.0.1", "64:ff9b::10.0.0.1",   "64:ff9b::192.168.0.1",
        "64:ff9b:1::8.8.8.8", "64:ff9b:1:ffff::1",   "2002:7f00:1::",
        "2002:a00:1::1",      "2002:a9fe:a9fe:1::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        "2001:0:808:808::1",
    };
    for (size_t i = 0; i < sizeof private6 / sizeof private6[0]; i++)
        ASSERT_EQ_STR(S_private_v6(private6[i]) ? "private" : private6[i], "private");
    const char *public6[] = {"::8.8.8.8",        "::ffff:0:8.8.8.8", "64:ff9b::8.8.8.8",
                             "64:ff9b::1.1.1.1", "2002:808:808::1",  "2002:101:101:1::1",
                             "2001:4860::8888",  "2001:da8::1"};
    for (size_t i = 0; i < sizeof public6 / sizeof public6[0]; i++)
        ASSERT_EQ_STR(S_private_v6(public6[i]) ? public6[i] : "public", "public");
    const char *reason = NULL;
    ASSERT_EQ_INT(
        merchant_notify_url_check("http://[64:ff9b::a00:1]/n", false, false, NULL, 0, &reason),
        QB_E_PARAM);
    ASSERT_EQ_INT(
        merchant_notify_url_check("http://[2002:a00:1::1]/n", false, false, NULL, 0, &reason),
        QB_E_PARAM);
}

int main(void)
{
    RUN(the_envelope_is_wechats_and_opens_with_plain_openssl);
    RUN(the_ladder_is_wechats_and_shrinks_for_tests);
    RUN(notify_urls_parse_and_private_addresses_are_told_apart);
    RUN(ipv6_addresses_that_carry_an_ipv4_one_are_judged_by_it);
    RUN(attempts_follow_the_ladder_until_delivered_or_failed);
    RUN(a_resend_makes_a_notification_due_now_within_its_bound);
    RUN(notifications_done_are_deleted_after_their_window_oldest_first);
    RUN(a_page_of_notifications_is_read_as_of_one_moment);
    return test_summary();
}

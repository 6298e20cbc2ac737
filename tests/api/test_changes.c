/*
 * test_changes.c — GET /v1/me/changes as an app uses it: it waits for news
 * of its wallet instead of asking every few seconds.
 *
 * Each waiting request runs on a thread and connection of its own; the
 * test knows it is parked from /metrics (qianbao_http_requests_waiting)
 * before it makes the news. A request woken by news answers long before its
 * wait would have ended; one with nothing new answers at its end, with its
 * cursor unchanged. Money sent and received, a notice, news that came
 * before the request, another user's news, the limit on one wallet's
 * waiting requests, bad parameters, clients that leave while their requests
 * wait (on raw sockets: a library client cannot close mid-request), a
 * session logged out while its request waits, and a daemon that stops while
 * requests wait. (The payment waiting for
 * confirmation at a till is in test_paycode.)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "api/lib/suite.h"
#include "api/transfer_helpers.h"

#define S_WAIT_S 15      /* a wait that news must cut short (the client gives up at 20 s) */
#define S_WOKEN_S_MAX 10 /* answered well before it: woken, not timed out */
#define S_CLOSE_WAIT_MS 2000 /* a close due at once: far below any wait */

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];

/* A transfer of amount_minor from `from` to `to`, expected to succeed; its
 * id into id (may be NULL). */
static void S_transfer(const struct api_user *from, const struct api_user *to,
                       long long amount_minor, char *id)
{
    static int serial;
    char body[256], key[32];
    snprintf(body, sizeof body,
             "{\"to\":\"%s\",\"amount\":%lld,\"payment_password\":\"" TH_PAY_PASSWORD "\"}", to->id,
             amount_minor);
    snprintf(key, sizeof key, "changes-%d", ++serial);
    struct client_response res;
    long status = api_call_idem(&S_client, "POST", "/v1/transfers", from->token, key, body, &res);
    if (status != 201)
        TEST_FAIL_("transfer: %ld %.*s", status, (int)res.body.size,
                   res.body.data != NULL ? res.body.data : "");
    if (id != NULL)
        snprintf(id, API_ID_SIZE_MAX, "%s", api_json_str(&res, "id"));
    client_response_release(&res);
}

/* GET path as u: the status, and the error code when it is not 200. */
static long S_get(const struct api_user *u, const char *path, char code[64])
{
    struct client_response res;
    long status = api_call(&S_client, "GET", path, u->token, NULL, &res);
    snprintf(code, 64, "%s", status != 200 ? api_error_code(&res) : "");
    client_response_release(&res);
    return status;
}

/* Two users, the first with ¥100. */
static void S_pair(struct api_user *a, struct api_user *b)
{
    API_MUST(th_user_new(&S_client, S_admin, a));
    API_MUST(th_user_new(&S_client, S_admin, b));
    API_MUST(th_fund(&S_client, S_admin, a, 10000));
}

/* The bill lines a changes answer carries: "type direction amount
 * counterparty-id" joined with "; ", newest first. */
static void S_bills_of(const struct th_wait *w, char *out, size_t out_size)
{
    static const char *const fields[] = {"type", "direction", "amount", "counterparty.id"};
    ASSERT(th_json_items(w->body, w->body_size, "bills", fields, QB_ARRAY_COUNT(fields), out,
                         out_size));
}

/* S_bills_of(w) is want. */
static void S_bills_are(const struct th_wait *w, const char *want)
{
    char got[1024];
    S_bills_of(w, got, sizeof got);
    ASSERT_EQ_STR(got, want);
}

/* The waiting request w answers want (th_wait_join's list) long before
 * its wait would have ended: woken by the news. Its cursor into cursor. */
static void S_expect_news(struct th_wait *w, const char *want, char cursor[TH_CURSOR_SIZE])
{
    char changed[128];
    th_wait_join(w, cursor, changed, sizeof changed);
    ASSERT_EQ_STR(changed, want);
    if (w->seconds >= S_WOKEN_S_MAX)
        TEST_FAIL_("%s: the news came after %.1f s, not at once", w->path, w->seconds);
}

/* The waiting request w answers nothing new, its cursor unchanged, after
 * at_least_s seconds: its wait ended. */
static void S_expect_quiet(struct th_wait *w, const char *cursor, double at_least_s)
{
    char after[TH_CURSOR_SIZE], changed[128];
    th_wait_join(w, after, changed, sizeof changed);
    ASSERT_EQ_STR(after, cursor);
    ASSERT_EQ_STR(changed, "");
    S_bills_are(w, "");
    if (w->seconds < at_least_s)
        TEST_FAIL_("%s: nothing new answered after %.3f s", w->path, w->seconds);
}

TEST(without_since_the_cursor_comes_at_once)
{
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    char cursor[TH_CURSOR_SIZE];
    th_changes_cursor(&S_client, &u, cursor);
    /* Three numbers sealed: the wallet account's newest entry (its opening one, the platform's
     * count of entries so far), no notice, no payment waiting, enciphered and tagged. Not one of
     * them shows: a test daemon's counts are small, the enciphered ones below 2^32 once in 2^32
     * each. */
    ASSERT_EQ_INT((long long)strlen(cursor), 1 + 3 * 16 + 1 + 16);
    ASSERT(cursor[0] == 'k' && cursor[49] == '.');
    ASSERT_EQ_INT((long long)strspn(cursor + 1, "0123456789abcdef"), 48);
    for (int i = 0; i < 3; i++) {
        char part[17];
        memcpy(part, cursor + 1 + 16 * i, 16);
        part[16] = '\0';
        if (strtoull(part, NULL, 16) < (1ULL << 32))
            TEST_FAIL_("part %d of %s shows a number", i, cursor);
    }
    /* Asked again with it and no wait: nothing changed, at once. */
    char path[128];
    snprintf(path, sizeof path, "/v1/me/changes?since=%s", cursor);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, u.token, NULL, &res), 200);
    char again[TH_CURSOR_SIZE], changed[128];
    ASSERT(th_changes_parse(res.body.data, res.body.size, again, changed, sizeof changed));
    client_response_release(&res);
    ASSERT_EQ_STR(again, cursor);
    ASSERT_EQ_STR(changed, "");
}

TEST(money_sent_and_received_wakes_both_wallets)
{
    struct api_user a, b;
    S_pair(&a, &b);
    char a_cursor[TH_CURSOR_SIZE], b_cursor[TH_CURSOR_SIZE], cursor[TH_CURSOR_SIZE];
    th_changes_cursor(&S_client, &a, a_cursor);
    th_changes_cursor(&S_client, &b, b_cursor);
    struct th_wait wa, wb;
    th_wait_start(&wa, S_daemon.base_url, &a, a_cursor, S_WAIT_S);
    th_wait_start(&wb, S_daemon.base_url, &b, b_cursor, S_WAIT_S);
    ASSERT(th_waiting_is(&S_client, 2));
    S_transfer(&a, &b, 250, NULL);
    S_expect_news(&wa, "bills", cursor);
    ASSERT(strcmp(cursor, a_cursor) != 0);
    char want[512];
    snprintf(want, sizeof want, "transfer out 250 %s", b.id);
    S_bills_are(&wa, want); /* the answer carries the line */
    S_expect_news(&wb, "bills", cursor);
    snprintf(want, sizeof want, "transfer in 250 %s", a.id);
    S_bills_are(&wb, want);
    /* The cursor it answered is the wallet's now: the bills show the transfer. */
    char now[TH_CURSOR_SIZE];
    th_changes_cursor(&S_client, &b, now);
    ASSERT_EQ_STR(cursor, now);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 250);
    ASSERT(th_waiting_is(&S_client, 0));
}

TEST(a_wait_with_nothing_new_ends_with_the_same_cursor)
{
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    char cursor[TH_CURSOR_SIZE];
    th_changes_cursor(&S_client, &u, cursor);
    struct th_wait w;
    th_wait_start(&w, S_daemon.base_url, &u, cursor, 1);
    S_expect_quiet(&w, cursor, 0.9);
}

TEST(news_from_before_the_request_answers_at_once)
{
    struct api_user a, b;
    S_pair(&a, &b);
    char old[TH_CURSOR_SIZE], cursor[TH_CURSOR_SIZE];
    th_changes_cursor(&S_client, &b, old);
    S_transfer(&a, &b, 100, NULL); /* while b's app was not asking */
    S_transfer(&a, &b, 120, NULL);
    struct th_wait w;
    th_wait_start(&w, S_daemon.base_url, &b, old, S_WAIT_S);
    S_expect_news(&w, "bills", cursor);
    char want[512];
    snprintf(want, sizeof want, "transfer in 120 %s; transfer in 100 %s", a.id, a.id);
    S_bills_are(&w, want); /* both, and only they */
}

TEST(an_answer_carries_the_newest_twenty_lines)
{
    // More came than an answer carries: the newest 20 lines, the rest for the bills to show.
    struct api_user a, b;
    S_pair(&a, &b);
    char old[TH_CURSOR_SIZE], cursor[TH_CURSOR_SIZE];
    th_changes_cursor(&S_client, &b, old);
    for (int i = 1; i <= 21; i++)
        S_transfer(&a, &b, i, NULL);
    struct th_wait w;
    th_wait_start(&w, S_daemon.base_url, &b, old, S_WAIT_S);
    S_expect_news(&w, "bills", cursor);
    static const char *const amounts[] = {"amount"};
    char got[512];
    ASSERT(th_json_items(w.body, w.body_size, "bills", amounts, 1, got, sizeof got));
    ASSERT_EQ_STR(got, "21; 20; 19; 18; 17; 16; 15; 14; 13; 12; 11; 10; 9; 8; 7; 6; 5; 4; 3; 2");
}

TEST(another_wallets_news_leaves_a_wait_alone)
{
    struct api_user a, b, c;
    S_pair(&a, &b);
    API_MUST(th_user_new(&S_client, S_admin, &c));
    char c_cursor[TH_CURSOR_SIZE];
    th_changes_cursor(&S_client, &c, c_cursor);
    struct th_wait w;
    th_wait_start(&w, S_daemon.base_url, &c, c_cursor, 2);
    ASSERT(th_waiting_is(&S_client, 1));
    S_transfer(&a, &b, 100, NULL);
    S_expect_quiet(&w, c_cursor, 1.9);
}

TEST(a_notice_is_news)
{
    // The payee sends a transfer back: the payer gets the money and a notice
    // (transfer_returned), and the payer's waiting app hears of both.
    struct api_user a, b;
    S_pair(&a, &b);
    char id[API_ID_SIZE_MAX];
    S_transfer(&a, &b, 300, id);
    char a_cursor[TH_CURSOR_SIZE], cursor[TH_CURSOR_SIZE];
    th_changes_cursor(&S_client, &a, a_cursor);
    struct th_wait w;
    th_wait_start(&w, S_daemon.base_url, &a, a_cursor, S_WAIT_S);
    ASSERT(th_waiting_is(&S_client, 1));
    struct client_response res;
    th_transfer_action(&S_client, __LINE__, &b, id, "return", "changes-return", "{}", 201, NULL,
                       &res);
    client_response_release(&res);
    S_expect_news(&w, "bills,notices", cursor);
    char want[512];
    snprintf(want, sizeof want, "transfer_return in 300 %s", b.id);
    S_bills_are(&w, want);
}

TEST(one_wallet_has_eight_requests_waiting_at_most)
{
    struct api_user a, b;
    S_pair(&a, &b);
    char b_cursor[TH_CURSOR_SIZE], cursor[TH_CURSOR_SIZE], code[64];
    th_changes_cursor(&S_client, &b, b_cursor);
    struct th_wait waits[8];
    for (int i = 0; i < 8; i++)
        th_wait_start(&waits[i], S_daemon.base_url, &b, b_cursor, S_WAIT_S);
    ASSERT(th_waiting_is(&S_client, 8));
    char path[128];
    snprintf(path, sizeof path, "/v1/me/changes?since=%s&wait=5", b_cursor);
    ASSERT_EQ_INT(S_get(&b, path, code), 429);
    ASSERT_EQ_STR(code, "RATE_LIMITED");
    /* Without a wait it is answered as ever. */
    snprintf(path, sizeof path, "/v1/me/changes?since=%s", b_cursor);
    ASSERT_EQ_INT(S_get(&b, path, code), 200);
    S_transfer(&a, &b, 100, NULL);
    for (int i = 0; i < 8; i++)
        S_expect_news(&waits[i], "bills", cursor);
    ASSERT(th_waiting_is(&S_client, 0));
    snprintf(path, sizeof path, "/v1/me/changes?since=%s&wait=1", cursor);
    ASSERT_EQ_INT(S_get(&b, path, code), 200);
}

/* A raw loopback connection that sent GET /v1/me/changes?since=cursor&wait=wait_s as u and
 * reads nothing yet: a client that can leave while its request waits. -1 when it cannot be
 * made. */
static int S_raw_wait(const struct api_user *u, const char *cursor, int wait_s)
{
    const char *colon = strrchr(S_daemon.address, ':');
    QB_ASSERT(colon != NULL);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)strtoul(colon + 1, NULL, 10));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char request[512];
    int size = snprintf(request, sizeof request,
                        "GET /v1/me/changes?since=%s&wait=%d HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Authorization: Bearer %s\r\n\r\n",
                        cursor, wait_s, u->token);
    QB_ASSERT(size > 0 && (size_t)size < sizeof request);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        send(fd, request, (size_t)size, MSG_NOSIGNAL) != size) {
        close(fd);
        return -1;
    }
    return fd;
}

/* True when the daemon closes fd within S_CLOSE_WAIT_MS without answering. */
static bool S_raw_closed(int fd)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long long left_ms = S_CLOSE_WAIT_MS - ((long long)(t1.tv_sec - t0.tv_sec) * 1000 +
                                               (t1.tv_nsec - t0.tv_nsec) / 1000000);
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (left_ms <= 0 || poll(&pfd, 1, (int)left_ms) <= 0)
            return false;
        char byte;
        ssize_t n = recv(fd, &byte, 1, 0);
        if (n == 0 || (n < 0 && errno != EINTR))
            return true;
        if (n > 0)
            return false; /* an answer: it was not dropped */
    }
}

TEST(a_client_that_leaves_frees_its_place_at_once)
{
    // Eight requests wait for one wallet, each on its raw connection. Six clients close their
    // connections, two shut down only their sending side: every wait ends at once, unanswered
    // (the daemon closes the two), and the places and connections are free well before the
    // waits' end (30 s), so the wallet's next wait is taken, not refused 429. A request sent
    // with its client's shutdown right behind it is closed unanswered too.
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    char cursor[TH_CURSOR_SIZE], code[64];
    th_changes_cursor(&S_client, &u, cursor);
    double open = api_metric(&S_client, "qianbao_http_connections_open");
    int fds[8];
    for (int i = 0; i < 8; i++) {
        fds[i] = S_raw_wait(&u, cursor, 30);
        ASSERT(fds[i] >= 0);
    }
    ASSERT(th_waiting_is(&S_client, 8));
    for (int i = 0; i < 6; i++)
        close(fds[i]);
    for (int i = 6; i < 8; i++)
        ASSERT(shutdown(fds[i], SHUT_WR) == 0);
    bool closed = S_raw_closed(fds[6]) && S_raw_closed(fds[7]);
    close(fds[6]);
    close(fds[7]);
    if (!closed)
        TEST_FAIL_("a wait whose client shut down its side was not closed within %d ms",
                   S_CLOSE_WAIT_MS);
    ASSERT(th_waiting_is(&S_client, 0));
    /* Connections of the tests before may still be closing: at most as many as before. */
    bool freed = false;
    for (int i = 0; i < 200 && !freed; i++) {
        freed = api_metric(&S_client, "qianbao_http_connections_open") <= open;
        if (!freed)
            usleep(10000);
    }
    ASSERT(freed);
    char path[128];
    snprintf(path, sizeof path, "/v1/me/changes?since=%s&wait=1", cursor);
    ASSERT_EQ_INT(S_get(&u, path, code), 200);
    /* A client that shuts down its side with its request has left before the wait begins. */
    int fd = S_raw_wait(&u, cursor, 30);
    ASSERT(fd >= 0);
    ASSERT(shutdown(fd, SHUT_WR) == 0);
    closed = S_raw_closed(fd);
    close(fd);
    ASSERT(closed);
    ASSERT(th_waiting_is(&S_client, 0));
}

/* The waiting request w, answered (joined), was 401 UNAUTHORIZED and nothing of the wallet. */
static void S_expect_unauthorized(const struct th_wait *w)
{
    json_t *body = json_loadb(w->body, w->body_size, 0, NULL);
    const char *code = json_string_value(json_object_get(body, "code"));
    bool ok = w->status == 401 && code != NULL && strcmp(code, "UNAUTHORIZED") == 0 &&
              json_object_get(body, "cursor") == NULL && json_object_get(body, "bills") == NULL;
    json_decref(body);
    if (!ok)
        TEST_FAIL_("%s: %ld %s, not 401 UNAUTHORIZED", w->path, w->status, w->body);
}

TEST(a_wait_ends_401_once_its_session_is_logged_out)
{
    // A request waits; its session is logged out from another connection, then money comes:
    // the wait answers 401 UNAUTHORIZED, as any request with that token would, not the news
    // (the money's bill line) it would have shown whoever held the token. A wait with nothing
    // new is woken by its session's logout and answers 401 at once, giving its place among the
    // wallet's waiting requests back (a thief's token held them to the end of their waits).
    struct api_user a, b, c;
    S_pair(&a, &b);
    API_MUST(th_user_new(&S_client, S_admin, &c));
    char b_cursor[TH_CURSOR_SIZE], c_cursor[TH_CURSOR_SIZE];
    th_changes_cursor(&S_client, &b, b_cursor);
    th_changes_cursor(&S_client, &c, c_cursor);
    struct th_wait wb, wc;
    th_wait_start(&wb, S_daemon.base_url, &b, b_cursor, S_WAIT_S);
    th_wait_start(&wc, S_daemon.base_url, &c, c_cursor, S_WAIT_S);
    ASSERT(th_waiting_is(&S_client, 2));
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "DELETE", "/v1/sessions/current", b.token, NULL, &res), 204);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call(&S_client, "DELETE", "/v1/sessions/current", c.token, NULL, &res), 204);
    client_response_release(&res);
    S_transfer(&a, &b, 100, NULL);
    pthread_join(wb.thread, NULL);
    pthread_join(wc.thread, NULL);
    S_expect_unauthorized(&wb);
    if (wb.seconds >= S_WOKEN_S_MAX)
        TEST_FAIL_("the news came after %.1f s, not at once", wb.seconds);
    S_expect_unauthorized(&wc);
    if (wc.seconds >= S_WOKEN_S_MAX)
        TEST_FAIL_("the logout ended the wait after %.1f s, not at once", wc.seconds);
}

TEST(bad_cursors_and_waits_are_refused)
{
    struct api_user u;
    API_MUST(th_user_new(&S_client, S_admin, &u));
    struct api_user other;
    API_MUST(th_user_new(&S_client, S_admin, &other));
    char mine[TH_CURSOR_SIZE], theirs[TH_CURSOR_SIZE], changed[TH_CURSOR_SIZE];
    th_changes_cursor(&S_client, &u, mine);
    th_changes_cursor(&S_client, &other, theirs);
    /* One part changed, a letter of the tag changed, the end cut off. */
    snprintf(changed, sizeof changed, "%s", mine);
    changed[5] = changed[5] == '0' ? '1' : '0';
    char tag_changed[TH_CURSOR_SIZE], cut[TH_CURSOR_SIZE];
    snprintf(tag_changed, sizeof tag_changed, "%s", mine);
    size_t end = strlen(tag_changed) - 1;
    tag_changed[end] = tag_changed[end] == '0' ? '1' : '0';
    snprintf(cut, sizeof cut, "%.*s", (int)strlen(mine) - 1, mine);
    char upper[TH_CURSOR_SIZE + 8];
    snprintf(upper, sizeof upper, "since=K%s", mine + 1);
    const char *const queries[] = {
        "since=",
        "since=abc",
        "since=1.2",
        "since=1.2.3.4",
        "since=0.0.0", /* the numbers in clear, as cursors were before they were sealed */
        "since=9223372036854775807.0.0",
        upper,
        "wait=31",
    };
    const char *sinces[] = {theirs, changed, tag_changed, cut};
    char path[256], code[64];
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        snprintf(path, sizeof path, "/v1/me/changes?%s", queries[i]);
        long status = S_get(&u, path, code);
        if (status != 400 || strcmp(code, "PARAM_ERROR") != 0)
            TEST_FAIL_("%s: %ld %s, not 400 PARAM_ERROR", path, status, code);
    }
    /* Another wallet's cursor, or one changed anywhere, is no cursor of this wallet's. */
    for (size_t i = 0; i < sizeof sinces / sizeof sinces[0]; i++) {
        snprintf(path, sizeof path, "/v1/me/changes?since=%s", sinces[i]);
        long status = S_get(&u, path, code);
        if (status != 400 || strcmp(code, "PARAM_ERROR") != 0)
            TEST_FAIL_("%s: %ld %s, not 400 PARAM_ERROR", path, status, code);
    }
    static const char *const waits[] = {"31", "-1", "x", "01", "", "100"};
    for (size_t i = 0; i < sizeof waits / sizeof waits[0]; i++) {
        snprintf(path, sizeof path, "/v1/me/changes?since=%s&wait=%s", mine, waits[i]);
        long status = S_get(&u, path, code);
        if (status != 400 || strcmp(code, "PARAM_ERROR") != 0)
            TEST_FAIL_("%s: %ld %s, not 400 PARAM_ERROR", path, status, code);
    }
    /* A wait of 0 and of 30 are waits. */
    snprintf(path, sizeof path, "/v1/me/changes?since=%s&wait=0", mine);
    ASSERT_EQ_INT(S_get(&u, path, code), 200);
    ASSERT_EQ_INT(S_get(&u, "/v1/me/changes?wait=30", code), 200);
}

TEST(a_stopping_daemon_answers_its_waiting_requests_at_once)
{
    // Every request waiting when the daemon stops is answered at once, as if its wait had
    // ended: 200 with its own cursor and nothing changed, never 503 (the waiters resumed after
    // the ledger was let go once read it, and were told the daemon was going).
    enum { S_USERS = 40, S_EACH = 8 };
    struct test_daemon d;
    struct client client;
    char admin[API_TOKEN_SIZE_MAX];
    API_MUST(api_daemon_start(&d, S_root, "stop", NULL, admin));
    client_init(&client, d.base_url);
    static struct api_user users[S_USERS];
    static char cursors[S_USERS][TH_CURSOR_SIZE];
    static struct th_wait waits[S_USERS * S_EACH];
    for (int i = 0; i < S_USERS; i++) {
        API_MUST(th_user_new(&client, admin, &users[i]));
        th_changes_cursor(&client, &users[i], cursors[i]);
    }
    for (int i = 0; i < S_USERS * S_EACH; i++)
        th_wait_start(&waits[i], d.base_url, &users[i / S_EACH], cursors[i / S_EACH], S_WAIT_S);
    ASSERT(th_waiting_is(&client, S_USERS * S_EACH));
    client_release(&client);
    ASSERT_EQ_INT(test_daemon_stop(&d), 0);
    int refused = 0;
    double slowest = 0;
    for (int i = 0; i < S_USERS * S_EACH; i++) {
        pthread_join(waits[i].thread, NULL);
        refused += waits[i].status != 200;
        slowest = waits[i].seconds > slowest ? waits[i].seconds : slowest;
    }
    if (refused != 0)
        TEST_FAIL_("%d of %d waiting requests were not answered 200 at the stop (%ld %s)", refused,
                   S_USERS * S_EACH, waits[0].status, waits[0].body);
    for (int i = 0; i < S_USERS * S_EACH; i++) {
        char after[TH_CURSOR_SIZE], changed[128];
        ASSERT(th_changes_parse(waits[i].body, waits[i].body_size, after, changed, sizeof changed));
        ASSERT_EQ_STR(after, cursors[i / S_EACH]);
        ASSERT_EQ_STR(changed, "");
    }
    if (slowest >= S_WOKEN_S_MAX)
        TEST_FAIL_("the stop kept a waiting request for %.1f s", slowest);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    if (!api_suite_daemon(&suite, &S_daemon, "main", NULL, S_admin, &S_client))
        return api_suite_end(&suite);

    RUN(without_since_the_cursor_comes_at_once);
    RUN(money_sent_and_received_wakes_both_wallets);
    RUN(a_wait_with_nothing_new_ends_with_the_same_cursor);
    RUN(news_from_before_the_request_answers_at_once);
    RUN(an_answer_carries_the_newest_twenty_lines);
    RUN(another_wallets_news_leaves_a_wait_alone);
    RUN(a_notice_is_news);
    RUN(one_wallet_has_eight_requests_waiting_at_most);
    RUN(a_client_that_leaves_frees_its_place_at_once);
    RUN(a_wait_ends_401_once_its_session_is_logged_out);
    RUN(bad_cursors_and_waits_are_refused);
    RUN(a_stopping_daemon_answers_its_waiting_requests_at_once);

    api_suite_stop(&suite);
    api_suite_verify_ledger(&suite, &S_daemon);
    return api_suite_end(&suite);
}

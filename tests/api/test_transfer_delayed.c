/*
 * test_transfer_delayed.c — delayed-arrival transfers (延时到账) as a client
 * sees them: POST /v1/transfers with "arrival": "2h" or "24h", the payer's
 * cancel (POST /v1/transfers/{id}/cancel) before arrival, and the arrival
 * itself, made by the daemon's worker once its clock passes arrives_at.
 *
 * The cases that need no clock come first: an instant transfer as it now
 * reads (arrives_at and failure_code null, nothing to cancel), a delayed one
 * held on the payer's balance and hidden from its payee, a cancel, and every
 * refusal, each checked to move no money. Then the cases whose end comes
 * later set their transfers up, and the daemon is started again, twice, with
 * its clock moved on (QIANBAO_TEST_CLOCK_OFFSET_MS, test builds): two hours
 * and a minute, when the 2h transfers arrive (or fail, or wait for a frozen
 * payer), then a day and a minute, when the 24h one arrives and so does the
 * one whose payer unfroze. Restarts are slow: all the clock's cases share
 * them, so those cases hand their state on in S_* structs below.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "api/lib/suite.h"
#include "api/transfer_helpers.h"

#define S_MINUTE_MS (60LL * 1000)
#define S_HOUR_MS (60 * S_MINUTE_MS)
#define S_DAY_MS (24 * S_HOUR_MS)
#define S_SETTLE_WAIT_MS 10000 /* the worker acts within about a second of arrives_at */
#define S_POLL_MS 100
#define S_TIME_SIZE_MAX 64
#define S_USERS_MAX 16

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];

/* The users logged in again at each restart (the ones still able to). */
static struct api_user *S_users[S_USERS_MAX];
static size_t S_user_count;

/* A transfer as its 201 told it. */
struct s_sent {
    char id[API_ID_SIZE_MAX];
    char created_at[S_TIME_SIZE_MAX];
    char arrives_at[S_TIME_SIZE_MAX];
    char to_name[API_ID_SIZE_MAX]; /* the payee's masked display name */
};

/* --- time ------------------------------------------------------------------------ */

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static long long S_days_from_civil(long long y, long long m, long long d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Seconds since the epoch of an RFC 3339 time in UTC+8 to the second
 * ("2026-11-22T10:00:00+08:00"), or -1 when text is not one. */
static long long S_time_s(const char *text)
{
    int y, mo, d, h, mi, s, used = 0;
    if (text == NULL || strlen(text) != 25 || strcmp(text + 19, "+08:00") != 0)
        return -1;
    if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &used) != 6 ||
        used != 19)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
        return -1;
    return S_days_from_civil(y, mo, d) * 86400 + h * 3600LL + mi * 60LL + s - 8 * 3600LL;
}

/* --- requests ------------------------------------------------------------------ */

/* Has every restart log u in again. */
static void S_remember(struct api_user *u)
{
    ASSERT(S_user_count < S_USERS_MAX);
    S_users[S_user_count++] = u;
}

/* POST /v1/transfers of amount_minor from `from` to `to` under key (NULL:
 * none), with arrival_json as the "arrival" member's raw JSON (NULL: no
 * member) and the payment password password (NULL: none); checks the
 * status and, when code is not NULL, the error code. The answer stays in
 * res (release it). */
static void S_send_on(int line, const struct api_user *from, const struct api_user *to,
                      long long amount_minor, const char *arrival_json, const char *password,
                      const char *key, long status, const char *code, struct client_response *res)
{
    char body[512], arrival_member[128] = "", password_member[64] = "";
    if (arrival_json != NULL)
        snprintf(arrival_member, sizeof arrival_member, ",\"arrival\":%s", arrival_json);
    if (password != NULL)
        snprintf(password_member, sizeof password_member, ",\"payment_password\":\"%s\"", password);
    snprintf(body, sizeof body, "{\"to\":\"%s\",\"amount\":%lld%s%s}", to->id, amount_minor,
             arrival_member, password_member);
    api_call_idem(&S_client, "POST", "/v1/transfers", from->token, key, body, res);
    const char *got = res->status >= 400 ? api_error_code(res) : "";
    if (res->status != status || (code != NULL && strcmp(got, code) != 0))
        TEST_FAIL_("line %d: transfer under %s with %s: expected %ld %s, got %ld %.*s", line,
                   key != NULL ? key : "(no key)", body, status, code != NULL ? code : "",
                   res->status, (int)res->body.size, res->body.data != NULL ? res->body.data : "");
}

#define EXPECT_SEND(from, to, amount, arrival_json, key, status, code)                             \
    do {                                                                                           \
        struct client_response r_;                                                                 \
        S_send_on(__LINE__, from, to, amount, arrival_json, TH_PAY_PASSWORD, key, status, code,    \
                  &r_);                                                                            \
        client_response_release(&r_);                                                              \
    } while (0)

/* A transfer's 201 body: its members, as the contract lists them, with
 * status, amount, payee and arrives_at (created_at + delay_ms; NULL and 0
 * for an instant one, which is SUCCESS). Fills sent. */
static void S_expect_sent(const json_t *t, const struct api_user *to, long long amount_minor,
                          long long delay_ms, struct s_sent *sent)
{
    ASSERT(t != NULL);
    ASSERT_EQ_INT(json_object_size(t), 9);
    const char *id = json_string_value(json_object_get(t, "id"));
    ASSERT(id != NULL && strncmp(id, "p_", 2) == 0);
    snprintf(sent->id, sizeof sent->id, "%s", id);
    ASSERT_EQ_STR(json_string_value(json_object_get(t, "status")),
                  delay_ms > 0 ? "PROCESSING" : "SUCCESS");
    ASSERT_EQ_INT(json_integer_value(json_object_get(t, "amount")), amount_minor);
    ASSERT_EQ_STR(json_string_value(json_object_get(t, "currency")), "CNY");
    json_t *payee = json_object_get(t, "to");
    ASSERT_EQ_STR(json_string_value(json_object_get(payee, "user_id")), to->id);
    const char *name = json_string_value(json_object_get(payee, "display_name"));
    ASSERT(name != NULL);
    snprintf(sent->to_name, sizeof sent->to_name, "%s", name);
    ASSERT(json_object_get(t, "memo") != NULL);
    if (!json_is_null(json_object_get(t, "failure_code")))
        TEST_FAIL_("transfer %s: failure_code is not null", id);
    const char *created_at = json_string_value(json_object_get(t, "created_at"));
    long long created_s = S_time_s(created_at);
    if (created_s < 0)
        TEST_FAIL_("transfer %s: created_at \"%s\"", id, created_at ? created_at : "(none)");
    snprintf(sent->created_at, sizeof sent->created_at, "%s", created_at);
    json_t *arrives = json_object_get(t, "arrives_at");
    if (delay_ms == 0) {
        if (!json_is_null(arrives))
            TEST_FAIL_("instant transfer %s: arrives_at is not null", id);
        sent->arrives_at[0] = '\0';
        return;
    }
    const char *arrives_at = json_string_value(arrives);
    long long arrives_s = S_time_s(arrives_at);
    if (arrives_s != created_s + delay_ms / 1000)
        TEST_FAIL_("transfer %s: created_at %s, arrives_at %s: not %lld s later", id, created_at,
                   arrives_at != NULL ? arrives_at : "(none)", delay_ms / 1000);
    snprintf(sent->arrives_at, sizeof sent->arrives_at, "%s", arrives_at);
}

/* A delayed transfer (arrival "2h" or "24h", delay_ms to match) expected to
 * be taken: 201 PROCESSING, as S_expect_sent checks it. */
static void S_send_delayed(const struct api_user *from, const struct api_user *to,
                           long long amount_minor, const char *arrival, long long delay_ms,
                           const char *key, struct s_sent *sent)
{
    char arrival_json[16];
    snprintf(arrival_json, sizeof arrival_json, "\"%s\"", arrival);
    struct client_response res;
    S_send_on(__LINE__, from, to, amount_minor, arrival_json, TH_PAY_PASSWORD, key, 201, NULL,
              &res);
    json_t *t = api_json(&res);
    client_response_release(&res);
    S_expect_sent(t, to, amount_minor, delay_ms, sent);
    json_decref(t);
}

/* POST /v1/transfers/{transfer_id}/cancel as u under key (NULL: none) with
 * body (NULL: none); checks the status and, when code is not NULL, the
 * error code. The answer stays in res (release it). */
static void S_cancel_on(int line, const struct api_user *u, const char *transfer_id,
                        const char *key, const char *body, long status, const char *code,
                        struct client_response *res)
{
    th_transfer_action(&S_client, line, u, transfer_id, "cancel", key, body, status, code, res);
}

#define CANCEL(u, transfer_id, key, status, code, res)                                             \
    S_cancel_on(__LINE__, u, transfer_id, key, "{}", status, code, res)

#define EXPECT_CANCEL(u, transfer_id, key, status, code)                                           \
    do {                                                                                           \
        struct client_response r_;                                                                 \
        S_cancel_on(__LINE__, u, transfer_id, key, "{}", status, code, &r_);                       \
        client_response_release(&r_);                                                              \
    } while (0)

/* A 200 cancel's body: the transfer, FAILED with failure_code. */
static void S_expect_failed_answer(const struct client_response *res, const char *transfer_id,
                                   long long amount_minor, const char *failure_code)
{
    json_t *t = api_json(res);
    ASSERT(t != NULL);
    ASSERT_EQ_STR(json_string_value(json_object_get(t, "id")), transfer_id);
    ASSERT_EQ_STR(json_string_value(json_object_get(t, "status")), "FAILED");
    ASSERT_EQ_STR(json_string_value(json_object_get(t, "failure_code")), failure_code);
    ASSERT_EQ_INT(json_integer_value(json_object_get(t, "amount")), amount_minor);
    ASSERT(json_is_string(json_object_get(t, "arrives_at")));
    json_decref(t);
}

/* POST /v1/transfers/{transfer_id}/return as u with {}, expecting status
 * and code (NULL: not checked). */
static void S_return_on(int line, const struct api_user *u, const char *transfer_id,
                        const char *key, long status, const char *code)
{
    struct client_response res;
    th_transfer_action(&S_client, line, u, transfer_id, "return", key, "{}", status, code, &res);
    client_response_release(&res);
}

#define EXPECT_RETURN(u, transfer_id, key, status, code)                                           \
    S_return_on(__LINE__, u, transfer_id, key, status, code)

/* GET /v1/transfers/{transfer_id} as u, expected 200 (the caller decrefs). */
static json_t *S_transfer_get(const struct api_user *u, const char *transfer_id)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/transfers/%s", transfer_id);
    return th_get_json(&S_client, path, u->token);
}

/* GET /v1/transfers/{transfer_id} as u is 404 NOT_FOUND. */
static void S_expect_hidden_on(int line, const struct api_user *u, const char *transfer_id)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/transfers/%s", transfer_id);
    struct client_response res;
    api_call(&S_client, "GET", path, u->token, NULL, &res);
    if (res.status != 404 || strcmp(api_error_code(&res), "NOT_FOUND") != 0)
        TEST_FAIL_("line %d: GET %s as %s: expected 404 NOT_FOUND, got %ld %.*s", line, path, u->id,
                   res.status, (int)res.body.size, res.body.data != NULL ? res.body.data : "");
    client_response_release(&res);
}

#define EXPECT_HIDDEN(u, transfer_id) S_expect_hidden_on(__LINE__, u, transfer_id)

/* GET /v1/transfers/{transfer_id} as u: its status and failure_code (NULL:
 * null), and arrives_at (NULL: null). */
static void S_expect_state_on(int line, const struct api_user *u, const char *transfer_id,
                              const char *status, const char *failure_code, const char *arrives_at)
{
    json_t *t = S_transfer_get(u, transfer_id);
    const char *got_status = json_string_value(json_object_get(t, "status"));
    const json_t *got_failure = json_object_get(t, "failure_code");
    const json_t *got_arrives = json_object_get(t, "arrives_at");
    bool failure_ok = failure_code == NULL
                          ? json_is_null(got_failure)
                          : json_is_string(got_failure) &&
                                strcmp(json_string_value(got_failure), failure_code) == 0;
    bool arrives_ok = arrives_at == NULL
                          ? json_is_null(got_arrives)
                          : json_is_string(got_arrives) &&
                                strcmp(json_string_value(got_arrives), arrives_at) == 0;
    if (got_status == NULL || strcmp(got_status, status) != 0 || !failure_ok || !arrives_ok) {
        char *text = json_dumps(t, JSON_COMPACT);
        json_decref(t);
        TEST_FAIL_("line %d: %s as %s: expected %s/%s arriving %s, got %s", line, transfer_id,
                   u->id, status, failure_code != NULL ? failure_code : "null",
                   arrives_at != NULL ? arrives_at : "null", text != NULL ? text : "?");
    }
    json_decref(t);
}

#define EXPECT_STATE(u, transfer_id, status, failure_code, arrives_at)                             \
    S_expect_state_on(__LINE__, u, transfer_id, status, failure_code, arrives_at)

/* Polls GET /v1/transfers/{transfer_id} as u until it is no longer
 * PROCESSING or S_SETTLE_WAIT_MS passed; its status then into status. */
static void S_wait_settled(const struct api_user *u, const char *transfer_id, char status[32])
{
    for (int waited_ms = 0;; waited_ms += S_POLL_MS) {
        json_t *t = S_transfer_get(u, transfer_id);
        const char *got = json_string_value(json_object_get(t, "status"));
        snprintf(status, 32, "%s", got != NULL ? got : "");
        json_decref(t);
        if (strcmp(status, "PROCESSING") != 0 || waited_ms >= S_SETTLE_WAIT_MS)
            return;
        usleep(S_POLL_MS * 1000);
    }
}

/* One bill line of a transfer: its id, type, direction, amount, the user
 * counterparty (its name too unless NULL), status, failure_code (NULL:
 * null) and balance_after. */
static void S_expect_line_on(int line_no, const json_t *line, const char *id, const char *type,
                             const char *direction, long long amount_minor,
                             const char *counterparty_id, const char *counterparty_name,
                             const char *status, const char *failure_code,
                             long long balance_after_minor)
{
    if (line == NULL)
        TEST_FAIL_("line %d: no bill line where a %s line of %s was expected", line_no, type, id);
    const char *got_failure = json_string_value(json_object_get(line, "failure_code"));
    bool failure_ok = failure_code == NULL
                          ? json_is_null(json_object_get(line, "failure_code"))
                          : got_failure != NULL && strcmp(got_failure, failure_code) == 0;
    const json_t *counterparty = json_object_get(line, "counterparty");
    const char *got_name = json_string_value(json_object_get(counterparty, "name"));
    bool ok =
        json_string_value(json_object_get(line, "id")) != NULL &&
        strcmp(json_string_value(json_object_get(line, "id")), id) == 0 &&
        json_string_value(json_object_get(line, "type")) != NULL &&
        strcmp(json_string_value(json_object_get(line, "type")), type) == 0 &&
        json_string_value(json_object_get(line, "direction")) != NULL &&
        strcmp(json_string_value(json_object_get(line, "direction")), direction) == 0 &&
        json_integer_value(json_object_get(line, "amount")) == amount_minor &&
        json_integer_value(json_object_get(line, "fee")) == 0 &&
        json_string_value(json_object_get(line, "status")) != NULL &&
        strcmp(json_string_value(json_object_get(line, "status")), status) == 0 && failure_ok &&
        json_string_value(json_object_get(counterparty, "type")) != NULL &&
        strcmp(json_string_value(json_object_get(counterparty, "type")), "user") == 0 &&
        json_string_value(json_object_get(counterparty, "id")) != NULL &&
        strcmp(json_string_value(json_object_get(counterparty, "id")), counterparty_id) == 0 &&
        (counterparty_name == NULL ||
         (got_name != NULL && strcmp(got_name, counterparty_name) == 0)) &&
        json_is_integer(json_object_get(line, "balance_after")) &&
        json_integer_value(json_object_get(line, "balance_after")) == balance_after_minor;
    if (!ok) {
        char *text = json_dumps(line, JSON_COMPACT);
        TEST_FAIL_("line %d: expected a %s %s line of %s, %lld fen, with %s, %s/%s, balance_after "
                   "%lld; got %s",
                   line_no, type, direction, id, amount_minor, counterparty_id, status,
                   failure_code != NULL ? failure_code : "null", balance_after_minor,
                   text != NULL ? text : "?");
    }
}

#define EXPECT_LINE(line, id, type, direction, amount, cp_id, cp_name, status, failure_code,       \
                    balance_after)                                                                 \
    S_expect_line_on(__LINE__, line, id, type, direction, amount, cp_id, cp_name, status,          \
                     failure_code, balance_after)

/* POST /v1/me/close as u with a fresh close_account code: the status, and
 * the error code and reason (or "" and "") into code and reason. */
static long S_close(const struct api_user *u, char code[32], char reason[32])
{
    char sms[API_SMS_CODE_SIZE], body[128];
    API_MUST(api_sms_code_get(&S_client, S_admin, u->phone, "close_account", sms));
    snprintf(body, sizeof body,
             "{\"payment_password\":\"" TH_PAY_PASSWORD "\",\"sms_code\":\"%s\"}", sms);
    struct client_response res;
    long status = api_call(&S_client, "POST", "/v1/me/close", u->token, body, &res);
    snprintf(code, 32, "%s", status >= 400 ? api_error_code(&res) : "");
    snprintf(reason, 32, "%s", status >= 400 ? api_json_str(&res, "reason") : "");
    client_response_release(&res);
    return status;
}

/* POST /v1/me/freeze as u (a freeze of one's own). */
static void S_freeze_self(const struct api_user *u)
{
    struct client_response res;
    long status = api_call(&S_client, "POST", "/v1/me/freeze", u->token, "{}", &res);
    client_response_release(&res);
    ASSERT_EQ_INT(status, 200);
}

/* POST /v1/me/unfreeze as u, with its password and an unfreeze code. */
static void S_unfreeze_self(const struct api_user *u)
{
    char code[API_SMS_CODE_SIZE], body[160];
    API_MUST(api_sms_code_get_for(&S_client, S_admin, u, "unfreeze", code));
    snprintf(body, sizeof body, "{\"password\":\"%s\",\"sms_code\":\"%s\"}", u->password, code);
    struct client_response res;
    long status = api_call(&S_client, "POST", "/v1/me/unfreeze", u->token, body, &res);
    client_response_release(&res);
    ASSERT_EQ_INT(status, 200);
}

/* --- the state the clock's cases hand on ------------------------------------------ */

/* a_delayed_transfer_is_held_and_hidden_from_its_payee: a sent b ¥12.34 in
 * 2 h and ¥20 in 24 h from ¥100. */
static struct {
    bool ready;
    struct api_user a, b;
    struct s_sent t2h, t24h;
    long long a_before_day_minor, b_before_day_minor; /* balances before the day's restart */
} S_held;

/* a_cancel_gives_the_money_and_the_limits_back: a's ¥15 to b,
 * cancelled; a has ¥50 again. */
static struct {
    bool ready;
    struct api_user a, b;
    struct s_sent t;
} S_cancelled;

/* a_payee_frozen_or_closed_by_arrival_set_up: a (¥30) sent ¥10 to b, whom
 * an operator froze, and ¥7 to c, who closed their wallet. */
static struct {
    bool ready;
    struct api_user a, b, c;
    struct s_sent to_frozen, to_closed;
} S_unavailable;

/* a_payer_frozen_by_arrival_set_up: a (¥20) sent ¥8 to b, then froze their
 * own wallet. */
static struct {
    bool ready;
    struct api_user a, b;
    struct s_sent t;
    bool unfrozen; /* a_transfer_of_a_frozen_payer_waits lifted the freeze */
} S_payer_frozen;

/* an_operator_stops_a_transfer_on_a_report_of_fraud: a's ¥10 to b,
 * stopped; a has ¥30 again (and ¥5 to b cancelled by a). */
static struct {
    bool ready;
    struct api_user a, b;
    struct s_sent t;
} S_stopped;

/* the_payer_cannot_close_while_a_transfer_is_pending: a sent all of their
 * ¥5 to b in 2 h. */
static struct {
    bool ready;
    struct api_user a, b;
    struct s_sent t;
} S_closer;

/* Whether the daemon's clock passed two hours, then a day. */
static bool S_two_hours_on, S_a_day_on;

#define REQUIRE(state)                                                                             \
    do {                                                                                           \
        if (!(state))                                                                              \
            TEST_FAIL_("skipped: %s is not there (an earlier case failed)", #state);               \
    } while (0)

/* --- the cases with no clock ------------------------------------------------------- */

/* u's wallet shows nothing new since cursor: GET /v1/me/changes answers at
 * once with the same cursor and nothing changed. */
static void S_expect_no_news(const struct api_user *u, const char *cursor)
{
    char path[160], now[TH_CURSOR_SIZE], changed[128];
    snprintf(path, sizeof path, "/v1/me/changes?since=%s", cursor);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", path, u->token, NULL, &res), 200);
    ASSERT(th_changes_parse(res.body.data, res.body.size, now, changed, sizeof changed));
    client_response_release(&res);
    ASSERT_EQ_STR(changed, "");
    ASSERT_EQ_STR(now, cursor);
}

TEST(an_instant_transfer_says_it_arrived_and_cannot_be_cancelled)
{
    // Every transfer now carries arrives_at and failure_code: null for an instant one, with no
    // "arrival", with "instant" or with null (as every optional member, null is left out), in
    // the 201 and in GET for both sides. It arrived at once, so
    // its payer's cancel is 409 TRANSFER_ARRIVED and its payee's 403 FORBIDDEN; nothing moves.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 5000));
    struct s_sent plain, named;
    struct client_response res;
    S_send_on(__LINE__, &a, &b, 1000, NULL, TH_PAY_PASSWORD, "inst-1", 201, NULL, &res);
    json_t *t = api_json(&res);
    client_response_release(&res);
    S_expect_sent(t, &b, 1000, 0, &plain);
    json_decref(t);
    S_send_on(__LINE__, &a, &b, 500, "\"instant\"", TH_PAY_PASSWORD, "inst-2", 201, NULL, &res);
    t = api_json(&res);
    client_response_release(&res);
    S_expect_sent(t, &b, 500, 0, &named);
    json_decref(t);
    /* null, as for every optional member of a body, is the member left out: instant. */
    struct s_sent nulled;
    S_send_on(__LINE__, &a, &b, 250, "null", TH_PAY_PASSWORD, "inst-3", 201, NULL, &res);
    t = api_json(&res);
    client_response_release(&res);
    S_expect_sent(t, &b, 250, 0, &nulled);
    json_decref(t);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 3250);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 1750);
    EXPECT_STATE(&a, plain.id, "SUCCESS", NULL, NULL);
    EXPECT_STATE(&b, plain.id, "SUCCESS", NULL, NULL);
    EXPECT_STATE(&a, named.id, "SUCCESS", NULL, NULL);
    EXPECT_STATE(&b, named.id, "SUCCESS", NULL, NULL);

    EXPECT_CANCEL(&a, plain.id, "inst-c1", 409, "TRANSFER_ARRIVED");
    EXPECT_CANCEL(&a, named.id, "inst-c2", 409, "TRANSFER_ARRIVED");
    EXPECT_CANCEL(&b, plain.id, "inst-c3", 403, "FORBIDDEN");
    ASSERT_EQ_INT(th_balance(&S_client, &a), 3250);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 1750);
    EXPECT_STATE(&a, plain.id, "SUCCESS", NULL, NULL);
}

TEST(a_delayed_transfer_is_held_and_hidden_from_its_payee)
{
    // A 2 h transfer answers 201 PROCESSING, arriving two hours after its created_at, with no
    // failure_code; the payer's available balance drops at once and the payee's does not. The
    // payee cannot see it (GET 404), return it (404) nor cancel it (404); the payer's bills have
    // an `out` transfer line PROCESSING whose balance_after is the balance after the hold, the
    // payee's none, nor does the payee's app hear of anything; the limits count it as used. A retry
    // of the sending replays it and holds nothing more. A 24 h one arrives a day after its
    // created_at. The arrival is checked after the clock moves
    // (a_delayed_transfer_arrives_two_hours_later and the day's case).
    struct api_user *a = &S_held.a, *b = &S_held.b;
    API_MUST(th_user_new(&S_client, S_admin, a));
    API_MUST(th_user_new(&S_client, S_admin, b));
    API_MUST(th_fund(&S_client, S_admin, a, 10000));
    ASSERT_EQ_INT(th_limit_used(&S_client, a, "daily"), 0);
    char b_first[TH_CURSOR_SIZE];
    th_changes_cursor(&S_client, b, b_first);

    struct client_response first, again;
    S_send_on(__LINE__, a, b, 1234, "\"2h\"", TH_PAY_PASSWORD, "held-2h", 201, NULL, &first);
    ASSERT_EQ_STR(api_header(&first, "Idempotent-Replayed"), "");
    json_t *t = api_json(&first);
    S_expect_sent(t, b, 1234, 2 * S_HOUR_MS, &S_held.t2h);
    json_decref(t);
    ASSERT_EQ_INT(th_balance(&S_client, a), 10000 - 1234);
    ASSERT_EQ_INT(th_balance(&S_client, b), 0);
    S_send_on(__LINE__, a, b, 1234, "\"2h\"", TH_PAY_PASSWORD, "held-2h", 201, NULL, &again);
    ASSERT_EQ_STR(api_header(&again, "Idempotent-Replayed"), "true");
    ASSERT(again.body.size == first.body.size &&
           memcmp(again.body.data, first.body.data, first.body.size) == 0);
    client_response_release(&again);
    client_response_release(&first);
    ASSERT_EQ_INT(th_balance(&S_client, a), 10000 - 1234);

    /* The payer sees it, PROCESSING; the payee finds nothing to see, return or cancel. */
    json_t *got = S_transfer_get(a, S_held.t2h.id);
    ASSERT_EQ_STR(json_string_value(json_object_get(got, "status")), "PROCESSING");
    ASSERT_EQ_STR(json_string_value(json_object_get(got, "direction")), "out");
    ASSERT_EQ_STR(json_string_value(json_object_get(got, "arrives_at")), S_held.t2h.arrives_at);
    ASSERT_EQ_STR(json_string_value(json_object_get(got, "created_at")), S_held.t2h.created_at);
    ASSERT(json_is_null(json_object_get(got, "failure_code")));
    json_decref(got);
    EXPECT_HIDDEN(b, S_held.t2h.id);
    EXPECT_RETURN(b, S_held.t2h.id, "held-r", 404, "NOT_FOUND");
    EXPECT_CANCEL(b, S_held.t2h.id, "held-c", 404, "NOT_FOUND");

    /* The bills: the payer's transfer line at once, the payee's nothing. */
    json_t *items;
    json_t *page = th_bills(&S_client, a, "", &items);
    ASSERT_EQ_INT(json_array_size(items), 2);
    EXPECT_LINE(json_array_get(items, 0), S_held.t2h.id, "transfer", "out", 1234, b->id,
                S_held.t2h.to_name, "PROCESSING", NULL, 10000 - 1234);
    ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(items, 1), "type")), "topup");
    json_decref(page);
    page = th_bills(&S_client, b, "", &items);
    ASSERT_EQ_INT(json_array_size(items), 0);
    json_decref(page);
    ASSERT_EQ_INT(th_limit_used(&S_client, a, "daily"), 1234);
    ASSERT_EQ_INT(th_limit_used(&S_client, a, "kyc_lifetime"), 1234);

    /* A day's, while the payee's app waits for news: it hears of nothing, at once or when
     * its wait ends, as it heard of nothing when the first was sent. */
    char b_cursor[TH_CURSOR_SIZE], after[TH_CURSOR_SIZE], changed[128];
    th_changes_cursor(&S_client, b, b_cursor);
    struct th_wait w;
    th_wait_start(&w, S_daemon.base_url, b, b_cursor, 2);
    ASSERT(th_waiting_is(&S_client, 1));
    S_send_delayed(a, b, 2000, "24h", S_DAY_MS, "held-24h", &S_held.t24h);
    th_wait_join(&w, after, changed, sizeof changed);
    ASSERT_EQ_STR(changed, "");
    ASSERT_EQ_STR(after, b_cursor);
    ASSERT(w.seconds > 1.5);
    S_expect_no_news(b, b_first);
    ASSERT_EQ_INT(th_balance(&S_client, a), 10000 - 1234 - 2000);
    ASSERT_EQ_INT(th_balance(&S_client, b), 0);
    EXPECT_STATE(a, S_held.t24h.id, "PROCESSING", NULL, S_held.t24h.arrives_at);
    EXPECT_HIDDEN(b, S_held.t24h.id);
    page = th_bills(&S_client, a, "", &items);
    ASSERT_EQ_INT(json_array_size(items), 3);
    EXPECT_LINE(json_array_get(items, 0), S_held.t24h.id, "transfer", "out", 2000, b->id, NULL,
                "PROCESSING", NULL, 10000 - 1234 - 2000);
    json_decref(page);
    ASSERT_EQ_INT(th_limit_used(&S_client, a, "daily"), 1234 + 2000);
    S_remember(a);
    S_remember(b);
    S_held.ready = true;
}

TEST(a_cancel_gives_the_money_and_the_limits_back)
{
    // The payer cancels a 2 h transfer: 200 FAILED TRANSFER_CANCELLED, the money back in their
    // available balance, a transfer_refund line (in, SUCCESS, the transfer's id, the payee as
    // counterparty) above the transfer's line (now FAILED), each with its balance_after; the
    // payee sees and hears of nothing. The same key replays the same bytes; the same key on another
    // transfer is 422; a new key answers 200 with it as it is and moves nothing; the limits count
    // it no more: money that never left spends no allowance. A frozen payer may cancel too. That it
    // never arrives is checked after the clock moves (a_cancelled_transfer_never_arrives).
    struct api_user *a = &S_cancelled.a, *b = &S_cancelled.b;
    API_MUST(th_user_new(&S_client, S_admin, a));
    API_MUST(api_user_new(&S_client, S_admin, b));
    API_MUST(th_fund(&S_client, S_admin, a, 5000));
    struct s_sent *t = &S_cancelled.t, other;
    char b_cursor[TH_CURSOR_SIZE];
    th_changes_cursor(&S_client, b, b_cursor);
    S_send_delayed(a, b, 1500, "2h", 2 * S_HOUR_MS, "cxl-t", t);
    S_send_delayed(a, b, 500, "2h", 2 * S_HOUR_MS, "cxl-other", &other);
    ASSERT_EQ_INT(th_balance(&S_client, a), 3000);
    long long used = th_limit_used(&S_client, a, "daily");
    ASSERT_EQ_INT(used, 2000);

    struct client_response first, again;
    CANCEL(a, t->id, "cxl-1", 200, NULL, &first);
    ASSERT_EQ_STR(api_header(&first, "Idempotent-Replayed"), "");
    S_expect_failed_answer(&first, t->id, 1500, "TRANSFER_CANCELLED");
    ASSERT_EQ_INT(th_balance(&S_client, a), 4500);
    ASSERT_EQ_INT(th_balance(&S_client, b), 0);
    EXPECT_STATE(a, t->id, "FAILED", "TRANSFER_CANCELLED", t->arrives_at);
    EXPECT_HIDDEN(b, t->id);
    S_expect_no_news(b, b_cursor); /* sent, or thought better of: nothing to the payee */

    /* The bills: the refund line above the transfer's. */
    json_t *items;
    json_t *page = th_bills(&S_client, a, "", &items);
    ASSERT_EQ_INT(json_array_size(items), 4);
    EXPECT_LINE(json_array_get(items, 0), t->id, "transfer_refund", "in", 1500, b->id, t->to_name,
                "SUCCESS", NULL, 4500);
    EXPECT_LINE(json_array_get(items, 1), other.id, "transfer", "out", 500, b->id, t->to_name,
                "PROCESSING", NULL, 3000);
    EXPECT_LINE(json_array_get(items, 2), t->id, "transfer", "out", 1500, b->id, t->to_name,
                "FAILED", "TRANSFER_CANCELLED", 3500);
    json_decref(page);
    page = th_bills(&S_client, a, "?type=transfer_refund", &items);
    ASSERT_EQ_INT(json_array_size(items), 1);
    json_decref(page);
    page = th_bills(&S_client, b, "", &items);
    ASSERT_EQ_INT(json_array_size(items), 0);
    json_decref(page);

    /* The same key: the same bytes, replayed; on another transfer, a mismatch. */
    CANCEL(a, t->id, "cxl-1", 200, NULL, &again);
    ASSERT_EQ_STR(api_header(&again, "Idempotent-Replayed"), "true");
    ASSERT(again.body.size == first.body.size &&
           memcmp(again.body.data, first.body.data, first.body.size) == 0);
    client_response_release(&again);
    client_response_release(&first);
    EXPECT_CANCEL(a, other.id, "cxl-1", 422, "IDEMPOTENCY_MISMATCH");
    EXPECT_STATE(a, other.id, "PROCESSING", NULL, other.arrives_at);

    /* A new key: the transfer as it is, and nothing moves. */
    struct client_response res;
    CANCEL(a, t->id, "cxl-2", 200, NULL, &res);
    ASSERT_EQ_STR(api_header(&res, "Idempotent-Replayed"), "");
    S_expect_failed_answer(&res, t->id, 1500, "TRANSFER_CANCELLED");
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, a), 4500);
    ASSERT_EQ_INT(th_balance(&S_client, b), 0);
    page = th_bills(&S_client, a, "", &items);
    ASSERT_EQ_INT(json_array_size(items), 4);
    json_decref(page);

    /* The limits gave the cancelled amount back, once. */
    ASSERT_EQ_INT(th_limit_used(&S_client, a, "daily"), used - 1500);
    ASSERT_EQ_INT(th_limit_used(&S_client, a, "kyc_lifetime"), used - 1500);

    /* A frozen payer cancels the other: no password asked, the money back to them. */
    S_freeze_self(a);
    CANCEL(a, other.id, "cxl-3", 200, NULL, &res);
    S_expect_failed_answer(&res, other.id, 500, "TRANSFER_CANCELLED");
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, a), 5000);
    ASSERT_EQ_INT(th_limit_used(&S_client, a, "daily"), 0);
    S_unfreeze_self(a);
    page = th_bills(&S_client, a, "", &items);
    ASSERT_EQ_INT(json_array_size(items), 5);
    EXPECT_LINE(json_array_get(items, 0), other.id, "transfer_refund", "in", 500, b->id, NULL,
                "SUCCESS", NULL, 5000);
    json_decref(page);
    S_remember(a);
    S_remember(b);
    S_cancelled.ready = true;
}

TEST(a_kyc1_payer_spends_again_what_a_cancel_gave_back)
{
    // At KYC level 1 a wallet may pay ¥1,000 in its whole life. A ¥1,000 transfer in 24 h uses it
    // all (a cent more is 403 LIMIT_EXCEEDED kyc_lifetime); once the payer cancels it, that money
    // never left, and they can pay the ¥1,000 to someone after all.
    struct api_user a, b, c;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(api_user_new(&S_client, S_admin, &c));
    API_MUST(th_fund(&S_client, S_admin, &a, 100000));
    struct s_sent t;
    S_send_delayed(&a, &b, 100000, "24h", S_DAY_MS, "kyc1-t", &t);
    ASSERT_EQ_INT(th_limit_used(&S_client, &a, "kyc_lifetime"), 100000);
    EXPECT_SEND(&a, &c, 1, NULL, "kyc1-more", 403, "LIMIT_EXCEEDED");
    EXPECT_CANCEL(&a, t.id, "kyc1-cxl", 200, NULL);
    ASSERT_EQ_INT(th_limit_used(&S_client, &a, "kyc_lifetime"), 0);
    ASSERT_EQ_INT(th_limit_used(&S_client, &a, "daily"), 0);
    EXPECT_SEND(&a, &c, 100000, NULL, "kyc1-again", 201, NULL);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 0);
    ASSERT_EQ_INT(th_balance(&S_client, &c), 100000);
    ASSERT_EQ_INT(th_limit_used(&S_client, &a, "kyc_lifetime"), 100000);
}

TEST(refusals_move_nothing)
{
    // Before arrival, a cancel by the payee, by a stranger, of an id of no transfer or of
    // another kind of payment (a top-up) is 404 NOT_FOUND; without an Idempotency-Key 400.
    // An "arrival" of another name or no string is 400 PARAM_ERROR; a delayed transfer runs an
    // instant one's checks (the payment password, the balance). None of them moves money or
    // charges a limit, and the transfer stays PROCESSING.
    struct api_user a, b, c;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(api_user_new(&S_client, S_admin, &c));
    API_MUST(th_fund(&S_client, S_admin, &a, 3000));
    struct s_sent t;
    S_send_delayed(&a, &b, 1000, "2h", 2 * S_HOUR_MS, "ref-t", &t);
    json_t *items;
    json_t *page = th_bills(&S_client, &a, "?type=topup", &items);
    char topup_id[API_ID_SIZE_MAX];
    snprintf(topup_id, sizeof topup_id, "%s",
             json_string_value(json_object_get(json_array_get(items, 0), "id")));
    json_decref(page);
    ASSERT(strncmp(topup_id, "p_", 2) == 0);

    EXPECT_CANCEL(&b, t.id, "ref-1", 404, "NOT_FOUND");
    EXPECT_CANCEL(&c, t.id, "ref-2", 404, "NOT_FOUND");
    EXPECT_CANCEL(&a, topup_id, "ref-3", 404, "NOT_FOUND");
    const char *nothing[] = {"p_0000000000000000000000000a", "p_nonsense", a.id, "p_"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(nothing); i++) {
        char key[32];
        snprintf(key, sizeof key, "ref-nothing-%zu", i);
        EXPECT_CANCEL(&a, nothing[i], key, 404, "NOT_FOUND");
    }
    struct client_response res;
    S_cancel_on(__LINE__, &a, t.id, NULL, "{}", 400, "PARAM_ERROR", &res);
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 2000);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 0);
    ASSERT_EQ_INT(th_balance(&S_client, &c), 0);
    EXPECT_STATE(&a, t.id, "PROCESSING", NULL, t.arrives_at);

    /* Arrivals of no known name, or no string. */
    const char *bad[] = {"\"1h\"", "\"2H\"", "\"24 h\"", "\"\"", "\"later\"",
                         "2",      "24",     "true",     "{}",   "[\"2h\"]"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(bad); i++) {
        char key[32];
        snprintf(key, sizeof key, "ref-bad-%zu", i);
        EXPECT_SEND(&a, &b, 100, bad[i], key, 400, "PARAM_ERROR");
    }
    /* No key, a wrong payment password, more than the balance. */
    S_send_on(__LINE__, &a, &b, 100, "\"2h\"", TH_PAY_PASSWORD, NULL, 400, "PARAM_ERROR", &res);
    client_response_release(&res);
    S_send_on(__LINE__, &a, &b, 100, "\"2h\"", "000000", "ref-pw", 403, "PASSWORD_WRONG", &res);
    client_response_release(&res);
    EXPECT_SEND(&a, &b, 2001, "\"24h\"", "ref-poor", 402, "INSUFFICIENT_BALANCE");
    ASSERT_EQ_INT(th_balance(&S_client, &a), 2000);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 0);
    ASSERT_EQ_INT(th_limit_used(&S_client, &a, "daily"), 1000);
    page = th_bills(&S_client, &a, "", &items);
    ASSERT_EQ_INT(json_array_size(items), 2);
    json_decref(page);
    EXPECT_STATE(&a, t.id, "PROCESSING", NULL, t.arrives_at);
}

/* POST /admin/transfers/{transfer_id}/cancel with body (NULL: none) as the
 * operator: checks the status and, when code is not NULL, the error code.
 * The answer stays in res (release it). */
static void S_stop_on(int line, const char *transfer_id, const char *body, long status,
                      const char *code, struct client_response *res)
{
    char path[256];
    snprintf(path, sizeof path, "/admin/transfers/%s/cancel", transfer_id);
    api_call(&S_client, "POST", path, S_admin, body, res);
    const char *got = res->status >= 400 ? api_error_code(res) : "";
    if (res->status != status || (code != NULL && strcmp(got, code) != 0))
        TEST_FAIL_("line %d: operator's cancel of %s with %s: expected %ld %s, got %ld %.*s", line,
                   transfer_id, body != NULL ? body : "(no body)", status, code != NULL ? code : "",
                   res->status, (int)res->body.size, res->body.data != NULL ? res->body.data : "");
}

#define EXPECT_STOP(transfer_id, body, status, code)                                               \
    do {                                                                                           \
        struct client_response r_;                                                                 \
        S_stop_on(__LINE__, transfer_id, body, status, code, &r_);                                 \
        client_response_release(&r_);                                                              \
    } while (0)

/* An operator's 200: the transfer as GET /admin/payments/{id} shows it,
 * FAILED with failure_code, from a to b, due at sent's arrives_at. */
static void S_expect_stopped_answer(const struct client_response *res, const struct s_sent *sent,
                                    const struct api_user *a, const struct api_user *b,
                                    long long amount_minor, const char *failure_code)
{
    json_t *t = api_json(res);
    ASSERT(t != NULL);
    ASSERT_EQ_STR(json_string_value(json_object_get(t, "id")), sent->id);
    ASSERT_EQ_STR(json_string_value(json_object_get(t, "type")), "transfer");
    ASSERT_EQ_STR(json_string_value(json_object_get(t, "status")), "FAILED");
    ASSERT_EQ_STR(json_string_value(json_object_get(t, "failure_code")), failure_code);
    ASSERT_EQ_INT(json_integer_value(json_object_get(t, "amount")), amount_minor);
    ASSERT_EQ_STR(json_string_value(json_object_get(t, "user_id")), a->id);
    ASSERT_EQ_STR(json_string_value(json_object_get(t, "counterparty_id")), b->id);
    ASSERT_EQ_STR(json_string_value(json_object_get(t, "arrives_at")), sent->arrives_at);
    ASSERT(json_is_null(json_object_get(t, "next_check_at")));
    json_decref(t);
}

TEST(an_operator_stops_a_transfer_on_a_report_of_fraud)
{
    // A payer talked into paying a stranger calls support: the operator stops the 2 h transfer
    // (a reason required): 200 FAILED TRANSFER_STOPPED as GET /admin/payments/{id} shows it,
    // the money back in the payer's balance with a transfer_refund line, the payee told of
    // nothing, the limits given back. Stopping again, or the payer's cancel after, answers it
    // as it is; one the payer cancelled stays TRANSFER_CANCELLED. One that arrived is 409
    // TRANSFER_ARRIVED; an id of no transfer 404; none of them moves money. That it never
    // arrives is checked after the clock moves (a_stopped_transfer_never_arrives).
    struct api_user *a = &S_stopped.a, *b = &S_stopped.b;
    API_MUST(th_user_new(&S_client, S_admin, a));
    API_MUST(api_user_new(&S_client, S_admin, b));
    API_MUST(th_fund(&S_client, S_admin, a, 3000));
    struct s_sent *t = &S_stopped.t, mine;
    S_send_delayed(a, b, 1000, "2h", 2 * S_HOUR_MS, "stop-t", t);
    S_send_delayed(a, b, 500, "2h", 2 * S_HOUR_MS, "stop-mine", &mine);
    EXPECT_SEND(a, b, 200, NULL, "stop-now", 201, NULL);
    ASSERT_EQ_INT(th_balance(&S_client, a), 1300);
    ASSERT_EQ_INT(th_balance(&S_client, b), 200);
    json_t *items;
    json_t *page = th_bills(&S_client, b, "", &items);
    char arrived[API_ID_SIZE_MAX];
    snprintf(arrived, sizeof arrived, "%s",
             json_string_value(json_object_get(json_array_get(items, 0), "id")));
    json_decref(page);
    long long used = th_limit_used(&S_client, a, "daily");
    ASSERT_EQ_INT(used, 1700);

    /* The operator reads it: when it arrives. */
    char path[128];
    snprintf(path, sizeof path, "/admin/payments/%s", t->id);
    json_t *before = th_get_json(&S_client, path, S_admin);
    ASSERT_EQ_STR(json_string_value(json_object_get(before, "status")), "PROCESSING");
    ASSERT_EQ_STR(json_string_value(json_object_get(before, "arrives_at")), t->arrives_at);
    json_decref(before);

    /* No reason, a reason of spaces, no JSON: 400, and nothing moves. */
    EXPECT_STOP(t->id, NULL, 400, NULL);
    EXPECT_STOP(t->id, "{}", 400, "PARAM_ERROR");
    EXPECT_STOP(t->id, "{\"reason\":\"   \"}", 400, "PARAM_ERROR");
    EXPECT_STOP(t->id, "{\"reason\":7}", 400, "PARAM_ERROR");
    EXPECT_STATE(a, t->id, "PROCESSING", NULL, t->arrives_at);

    /* Stopped. */
    const char *reason = "{\"reason\":\"ticket 5200: the payer reported fraud\"}";
    struct client_response res;
    S_stop_on(__LINE__, t->id, reason, 200, NULL, &res);
    S_expect_stopped_answer(&res, t, a, b, 1000, "TRANSFER_STOPPED");
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, a), 2300);
    ASSERT_EQ_INT(th_balance(&S_client, b), 200);
    EXPECT_STATE(a, t->id, "FAILED", "TRANSFER_STOPPED", t->arrives_at);
    EXPECT_HIDDEN(b, t->id);
    page = th_bills(&S_client, a, "", &items);
    EXPECT_LINE(json_array_get(items, 0), t->id, "transfer_refund", "in", 1000, b->id, t->to_name,
                "SUCCESS", NULL, 2300);
    EXPECT_LINE(json_array_get(items, 3), t->id, "transfer", "out", 1000, b->id, t->to_name,
                "FAILED", "TRANSFER_STOPPED", 2000);
    json_decref(page);
    page = th_bills(&S_client, b, "", &items);
    ASSERT_EQ_INT(json_array_size(items), 1);
    json_decref(page);
    ASSERT_EQ_INT(th_limit_used(&S_client, a, "daily"), used - 1000);
    ASSERT_EQ_INT(th_limit_used(&S_client, a, "kyc_lifetime"), used - 1000);

    /* Again, by the operator or by the payer: as it is. */
    S_stop_on(__LINE__, t->id, reason, 200, NULL, &res);
    S_expect_stopped_answer(&res, t, a, b, 1000, "TRANSFER_STOPPED");
    client_response_release(&res);
    CANCEL(a, t->id, "stop-cxl", 200, NULL, &res);
    S_expect_failed_answer(&res, t->id, 1000, "TRANSFER_STOPPED");
    client_response_release(&res);

    /* One its payer cancelled stays theirs. */
    EXPECT_CANCEL(a, mine.id, "stop-cxl-mine", 200, NULL);
    S_stop_on(__LINE__, mine.id, reason, 200, NULL, &res);
    S_expect_stopped_answer(&res, &mine, a, b, 500, "TRANSFER_CANCELLED");
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, a), 2800);
    ASSERT_EQ_INT(th_limit_used(&S_client, a, "daily"), 200); /* each given back once */

    /* One that arrived; ids of no transfer: a top-up, none at all, another kind of id. */
    EXPECT_STOP(arrived, reason, 409, "TRANSFER_ARRIVED");
    page = th_bills(&S_client, a, "?type=topup", &items);
    char topup_id[API_ID_SIZE_MAX];
    snprintf(topup_id, sizeof topup_id, "%s",
             json_string_value(json_object_get(json_array_get(items, 0), "id")));
    json_decref(page);
    EXPECT_STOP(topup_id, reason, 404, "NOT_FOUND");
    const char *nothing[] = {"p_0000000000000000000000000a", "p_nonsense", a->id, "p_"};
    for (size_t i = 0; i < QB_ARRAY_COUNT(nothing); i++)
        EXPECT_STOP(nothing[i], reason, 404, "NOT_FOUND");
    ASSERT_EQ_INT(th_balance(&S_client, a), 2800);
    ASSERT_EQ_INT(th_balance(&S_client, b), 200);
    page = th_bills(&S_client, a, "", &items);
    ASSERT_EQ_INT(json_array_size(items), 6);
    json_decref(page);
    S_remember(a);
    S_remember(b);
    S_stopped.ready = true;
}

/* PUT /v1/me/limits {"transfer_arrival": arrival} as u, with the payment
 * password when password: the status, and the error code or the default in
 * force after it into out. */
static long S_default_set(const struct api_user *u, const char *arrival, bool password,
                          char out[32])
{
    char body[128];
    snprintf(body, sizeof body, "{\"transfer_arrival\":\"%s\"%s}", arrival,
             password ? ",\"payment_password\":\"" TH_PAY_PASSWORD "\"" : "");
    struct client_response res;
    long status = api_call(&S_client, "PUT", "/v1/me/limits", u->token, body, &res);
    json_t *answer = api_json(&res);
    const char *text = status == 200
                           ? json_string_value(json_object_get(answer, "transfer_arrival"))
                           : api_error_code(&res);
    snprintf(out, 32, "%s", text != NULL ? text : "");
    json_decref(answer);
    client_response_release(&res);
    return status;
}

TEST(the_payers_default_arrival_holds_a_transfer_that_names_none)
{
    // A payer who set 24h (no password: it only makes money leave later) has a transfer that
    // names no arrival held for a day; one that says instant arrives at once. Back to instant
    // needs the payment password; a value not among the three is 400 and changes nothing.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 5000));
    char got[32];
    json_t *limits = th_get_json(&S_client, "/v1/me/limits", a.token);
    ASSERT_EQ_STR(json_string_value(json_object_get(limits, "transfer_arrival")), "instant");
    json_decref(limits);
    ASSERT_EQ_INT(S_default_set(&a, "24h", false, got), 200);
    ASSERT_EQ_STR(got, "24h");

    struct s_sent held, now;
    struct client_response res;
    S_send_on(__LINE__, &a, &b, 700, NULL, TH_PAY_PASSWORD, "default-1", 201, NULL, &res);
    json_t *t = api_json(&res);
    client_response_release(&res);
    S_expect_sent(t, &b, 700, S_DAY_MS, &held);
    json_decref(t);
    S_send_on(__LINE__, &a, &b, 300, "\"instant\"", TH_PAY_PASSWORD, "default-2", 201, NULL, &res);
    t = api_json(&res);
    client_response_release(&res);
    S_expect_sent(t, &b, 300, 0, &now);
    json_decref(t);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 300);
    EXPECT_HIDDEN(&b, held.id);

    // Without the password (a password-free amount), a transfer arrives no sooner than the
    // default: whoever holds the phone must not undo the payer's day to think again by naming
    // "instant", nor by paying a collection (which always arrives at once).
    ASSERT_EQ_INT(api_call(&S_client, "PUT", "/v1/me/limits", a.token,
                           "{\"password_free_limit\":200,\"payment_password\":\"" TH_PAY_PASSWORD
                           "\"}",
                           &res),
                  200);
    client_response_release(&res);
    S_send_on(__LINE__, &a, &b, 100, "\"instant\"", NULL, "default-free-1", 400, "PARAM_ERROR",
              &res);
    ASSERT(strstr(api_json_str(&res, "message"), "payment password") != NULL);
    client_response_release(&res);
    S_send_on(__LINE__, &a, &b, 100, "\"2h\"", NULL, "default-free-2", 400, "PARAM_ERROR", &res);
    client_response_release(&res);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/collections", b.token, "default-coll",
                                "{\"amount\":100,\"count\":1,\"title\":\"AA\"}", &res),
                  201);
    char pay_path[128];
    snprintf(pay_path, sizeof pay_path, "/v1/collections/%s/payments", api_json_str(&res, "id"));
    client_response_release(&res);
    ASSERT_EQ_INT(
        api_call_idem(&S_client, "POST", pay_path, a.token, "default-coll-pay", "{}", &res), 400);
    ASSERT_EQ_STR(api_error_code(&res), "PARAM_ERROR");
    client_response_release(&res);
    S_send_on(__LINE__, &a, &b, 100, "\"24h\"", NULL, "default-free-3", 201, NULL, &res);
    client_response_release(&res);
    S_send_on(__LINE__, &a, &b, 100, NULL, NULL, "default-free-4", 201, NULL, &res);
    t = api_json(&res);
    client_response_release(&res);
    struct s_sent free_held;
    S_expect_sent(t, &b, 100, S_DAY_MS, &free_held);
    json_decref(t);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 300);

    ASSERT_EQ_INT(S_default_set(&a, "1h", true, got), 400);
    ASSERT_EQ_STR(got, "PARAM_ERROR");
    ASSERT_EQ_INT(S_default_set(&a, "instant", false, got), 400);
    ASSERT_EQ_STR(got, "PARAM_ERROR");
    limits = th_get_json(&S_client, "/v1/me/limits", a.token);
    ASSERT_EQ_STR(json_string_value(json_object_get(limits, "transfer_arrival")), "24h");
    json_decref(limits);
    ASSERT_EQ_INT(S_default_set(&a, "instant", true, got), 200);
    ASSERT_EQ_STR(got, "instant");
    S_send_on(__LINE__, &a, &b, 100, NULL, TH_PAY_PASSWORD, "default-3", 201, NULL, &res);
    t = api_json(&res);
    client_response_release(&res);
    struct s_sent after;
    S_expect_sent(t, &b, 100, 0, &after);
    json_decref(t);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 400);
    // Instant by default, a password-free transfer arrives at once as before.
    S_send_on(__LINE__, &a, &b, 100, NULL, NULL, "default-free-5", 201, NULL, &res);
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 500);
}

TEST(the_payer_cannot_close_while_a_transfer_is_pending)
{
    // A payer who sent all they had in 2 h holds nothing available, but the transfer still
    // ties the wallet: closing it is 409 ACCOUNT_NOT_EMPTY with reason "pending". Once it
    // arrived, it closes (the_payer_closes_once_it_arrived).
    struct api_user *a = &S_closer.a, *b = &S_closer.b;
    API_MUST(th_user_new(&S_client, S_admin, a));
    API_MUST(api_user_new(&S_client, S_admin, b));
    API_MUST(th_fund(&S_client, S_admin, a, 500));
    S_send_delayed(a, b, 500, "2h", 2 * S_HOUR_MS, "close-t", &S_closer.t);
    ASSERT_EQ_INT(th_balance(&S_client, a), 0);
    char code[32], reason[32];
    ASSERT_EQ_INT(S_close(a, code, reason), 409);
    ASSERT_EQ_STR(code, "ACCOUNT_NOT_EMPTY");
    ASSERT_EQ_STR(reason, "pending");
    EXPECT_STATE(a, S_closer.t.id, "PROCESSING", NULL, S_closer.t.arrives_at);
    ASSERT_EQ_INT(th_balance(&S_client, a), 0);
    S_remember(a);
    S_remember(b);
    S_closer.ready = true;
}

TEST(a_payee_frozen_or_closed_by_arrival_set_up)
{
    // Two 2 h transfers whose payees become unable to take money before arrival: an operator
    // freezes one, the other closes their (empty) wallet, which a transfer still pending to
    // them does not stop. Their end: a_payee_frozen_or_closed_at_arrival_gets_nothing.
    struct api_user *a = &S_unavailable.a, *b = &S_unavailable.b, *c = &S_unavailable.c;
    API_MUST(th_user_new(&S_client, S_admin, a));
    API_MUST(api_user_new(&S_client, S_admin, b));
    API_MUST(th_user_new(&S_client, S_admin, c));
    API_MUST(th_fund(&S_client, S_admin, a, 3000));
    S_send_delayed(a, b, 1000, "2h", 2 * S_HOUR_MS, "unav-b", &S_unavailable.to_frozen);
    S_send_delayed(a, c, 700, "2h", 2 * S_HOUR_MS, "unav-c", &S_unavailable.to_closed);
    ASSERT_EQ_INT(th_balance(&S_client, a), 1300);

    char path[128];
    snprintf(path, sizeof path, "/admin/users/%s/freeze", b->id);
    struct client_response res;
    long status =
        api_call(&S_client, "POST", path, S_admin, "{\"reason\":\"ticket 9: delayed\"}", &res);
    client_response_release(&res);
    ASSERT_EQ_INT(status, 200);
    char code[32], reason[32];
    ASSERT_EQ_INT(S_close(c, code, reason), 200);
    ASSERT_EQ_INT(th_balance(&S_client, a), 1300);
    EXPECT_STATE(a, S_unavailable.to_frozen.id, "PROCESSING", NULL,
                 S_unavailable.to_frozen.arrives_at);
    EXPECT_STATE(a, S_unavailable.to_closed.id, "PROCESSING", NULL,
                 S_unavailable.to_closed.arrives_at);
    S_remember(a);
    S_unavailable.ready = true;
}

TEST(a_payer_frozen_by_arrival_set_up)
{
    // A 2 h transfer whose payer then freezes their own wallet. Its end:
    // a_transfer_of_a_frozen_payer_waits and the day's case.
    struct api_user *a = &S_payer_frozen.a, *b = &S_payer_frozen.b;
    API_MUST(th_user_new(&S_client, S_admin, a));
    API_MUST(api_user_new(&S_client, S_admin, b));
    API_MUST(th_fund(&S_client, S_admin, a, 2000));
    S_send_delayed(a, b, 800, "2h", 2 * S_HOUR_MS, "pfrz-t", &S_payer_frozen.t);
    S_freeze_self(a);
    ASSERT_EQ_INT(th_balance(&S_client, a), 1200);
    EXPECT_STATE(a, S_payer_frozen.t.id, "PROCESSING", NULL, S_payer_frozen.t.arrives_at);
    S_remember(a);
    S_remember(b);
    S_payer_frozen.ready = true;
}

/* --- two hours and a minute later ---------------------------------------------------- */

TEST(the_clock_moves_two_hours_on)
{
    // The daemon starts again two hours and a minute ahead: every 2 h transfer is due, the 24 h
    // one is not. The worker settles the due ones within seconds (each is polled here, so
    // that the cases after read a settled state); then a moment more, for the one whose payer
    // is frozen to have been tried.
    th_restart_at(&S_daemon, &S_client, S_root, S_admin, 2 * S_HOUR_MS + S_MINUTE_MS, S_users,
                  S_user_count);
    S_two_hours_on = true;
    char status[32];
    if (S_held.ready)
        S_wait_settled(&S_held.a, S_held.t2h.id, status);
    if (S_closer.ready)
        S_wait_settled(&S_closer.a, S_closer.t.id, status);
    if (S_unavailable.ready) {
        S_wait_settled(&S_unavailable.a, S_unavailable.to_frozen.id, status);
        S_wait_settled(&S_unavailable.a, S_unavailable.to_closed.id, status);
    }
    sleep(2);
}

TEST(a_delayed_transfer_arrives_two_hours_later)
{
    // The 2 h transfer is SUCCESS: the held money is the payee's, the payer's available balance
    // is what it was after the hold; the payee now sees it (direction in) and has one transfer
    // line, in, SUCCESS, dated at arrival; the payer's line says SUCCESS and keeps its
    // balance_after. Now arrived, the payee's cancel is 403 FORBIDDEN and the payer's 409
    // TRANSFER_ARRIVED, and the payee may send it back. The 24 h one is still PROCESSING and
    // hidden from the payee.
    REQUIRE(S_held.ready && S_two_hours_on);
    struct api_user *a = &S_held.a, *b = &S_held.b;
    char status[32];
    S_wait_settled(a, S_held.t2h.id, status);
    ASSERT_EQ_STR(status, "SUCCESS");
    EXPECT_STATE(a, S_held.t2h.id, "SUCCESS", NULL, S_held.t2h.arrives_at);
    EXPECT_STATE(b, S_held.t2h.id, "SUCCESS", NULL, S_held.t2h.arrives_at);
    json_t *t = S_transfer_get(b, S_held.t2h.id);
    ASSERT_EQ_STR(json_string_value(json_object_get(t, "direction")), "in");
    char a_name[API_ID_SIZE_MAX];
    snprintf(a_name, sizeof a_name, "%s",
             json_string_value(json_object_get(json_object_get(t, "from"), "display_name")));
    json_decref(t);
    ASSERT_EQ_INT(th_balance(&S_client, a), 10000 - 1234 - 2000);
    ASSERT_EQ_INT(th_balance(&S_client, b), 1234);
    EXPECT_STATE(a, S_held.t24h.id, "PROCESSING", NULL, S_held.t24h.arrives_at);
    EXPECT_HIDDEN(b, S_held.t24h.id);

    /* The bills of both. */
    json_t *items;
    json_t *page = th_bills(&S_client, b, "", &items);
    ASSERT_EQ_INT(json_array_size(items), 1);
    EXPECT_LINE(json_array_get(items, 0), S_held.t2h.id, "transfer", "in", 1234, a->id, a_name,
                "SUCCESS", NULL, 1234);
    const char *dated = json_string_value(json_object_get(json_array_get(items, 0), "created_at"));
    if (S_time_s(dated) < S_time_s(S_held.t2h.arrives_at))
        TEST_FAIL_("the payee's line is dated %s, before the arrival %s", dated ? dated : "(none)",
                   S_held.t2h.arrives_at);
    json_decref(page);
    page = th_bills(&S_client, a, "", &items);
    ASSERT_EQ_INT(json_array_size(items), 3);
    EXPECT_LINE(json_array_get(items, 0), S_held.t24h.id, "transfer", "out", 2000, b->id, NULL,
                "PROCESSING", NULL, 10000 - 1234 - 2000);
    EXPECT_LINE(json_array_get(items, 1), S_held.t2h.id, "transfer", "out", 1234, b->id,
                S_held.t2h.to_name, "SUCCESS", NULL, 10000 - 1234);
    json_decref(page);

    /* Arrived: nobody cancels it; the payee may send it back. */
    EXPECT_CANCEL(b, S_held.t2h.id, "held-late-1", 403, "FORBIDDEN");
    EXPECT_CANCEL(a, S_held.t2h.id, "held-late-2", 409, "TRANSFER_ARRIVED");
    ASSERT_EQ_INT(th_balance(&S_client, a), 10000 - 1234 - 2000);
    ASSERT_EQ_INT(th_balance(&S_client, b), 1234);
    EXPECT_RETURN(b, S_held.t2h.id, "held-late-r", 201, NULL);
    ASSERT_EQ_INT(th_balance(&S_client, a), 10000 - 2000);
    ASSERT_EQ_INT(th_balance(&S_client, b), 0);
    EXPECT_CANCEL(a, S_held.t2h.id, "held-late-3", 409, "TRANSFER_ARRIVED");

    /* The operator's gauges: the 24 h transfer still waits, and nothing due is late. */
    ASSERT(api_metric(&S_client, "qianbao_transfers_delayed") >= 1);
    double late = api_metric(&S_client, "qianbao_transfers_delayed_late_seconds");
    if (late < 0 || late > 5)
        TEST_FAIL_("qianbao_transfers_delayed_late_seconds %.3f", late);
}

TEST(a_cancelled_transfer_never_arrives)
{
    // Past its arrives_at, a cancelled transfer is still FAILED TRANSFER_CANCELLED: the payer
    // keeps the money, the payee got nothing and sees nothing, and another cancel moves nothing.
    REQUIRE(S_cancelled.ready && S_two_hours_on);
    struct api_user *a = &S_cancelled.a, *b = &S_cancelled.b;
    EXPECT_STATE(a, S_cancelled.t.id, "FAILED", "TRANSFER_CANCELLED", S_cancelled.t.arrives_at);
    EXPECT_HIDDEN(b, S_cancelled.t.id);
    ASSERT_EQ_INT(th_balance(&S_client, a), 5000);
    ASSERT_EQ_INT(th_balance(&S_client, b), 0);
    json_t *items;
    json_t *page = th_bills(&S_client, b, "", &items);
    ASSERT_EQ_INT(json_array_size(items), 0);
    json_decref(page);
    page = th_bills(&S_client, a, "", &items);
    ASSERT_EQ_INT(json_array_size(items), 5);
    json_decref(page);
    EXPECT_CANCEL(a, S_cancelled.t.id, "cxl-late", 200, NULL);
    EXPECT_CANCEL(b, S_cancelled.t.id, "cxl-late-b", 404, "NOT_FOUND");
    EXPECT_RETURN(b, S_cancelled.t.id, "cxl-late-r", 404, "NOT_FOUND");
    ASSERT_EQ_INT(th_balance(&S_client, a), 5000);
    ASSERT_EQ_INT(th_balance(&S_client, b), 0);
}

TEST(a_stopped_transfer_never_arrives)
{
    // Past its arrives_at, the transfer an operator stopped is still FAILED TRANSFER_STOPPED:
    // the payer keeps the money, the payee got nothing of it and sees nothing of it.
    REQUIRE(S_stopped.ready && S_two_hours_on);
    struct api_user *a = &S_stopped.a, *b = &S_stopped.b;
    EXPECT_STATE(a, S_stopped.t.id, "FAILED", "TRANSFER_STOPPED", S_stopped.t.arrives_at);
    EXPECT_HIDDEN(b, S_stopped.t.id);
    ASSERT_EQ_INT(th_balance(&S_client, a), 2800);
    ASSERT_EQ_INT(th_balance(&S_client, b), 200);
}

TEST(a_payee_frozen_or_closed_at_arrival_gets_nothing)
{
    // Both transfers are FAILED PAYEE_UNAVAILABLE: the money is back with the payer, each as a
    // transfer_refund line (newest first, balance_after following the line below), the
    // transfer lines FAILED with that code; neither payee got anything. A cancel under a new
    // key answers 200 with the transfer as it is and moves nothing.
    REQUIRE(S_unavailable.ready && S_two_hours_on);
    struct api_user *a = &S_unavailable.a;
    struct s_sent *frozen = &S_unavailable.to_frozen, *closed = &S_unavailable.to_closed;
    char status[32];
    S_wait_settled(a, frozen->id, status);
    S_wait_settled(a, closed->id, status);
    EXPECT_STATE(a, frozen->id, "FAILED", "PAYEE_UNAVAILABLE", frozen->arrives_at);
    EXPECT_STATE(a, closed->id, "FAILED", "PAYEE_UNAVAILABLE", closed->arrives_at);
    ASSERT_EQ_INT(th_balance(&S_client, a), 3000);
    ASSERT_EQ_INT(th_limit_used(&S_client, a, "kyc_lifetime"), 0); /* none of it left */
    ASSERT_EQ_INT(th_admin_available(&S_client, S_admin, S_unavailable.b.id), 0);
    ASSERT_EQ_INT(th_admin_available(&S_client, S_admin, S_unavailable.c.id), 0);

    /* The payer's bills: two refunds above the two transfers (sent b's first). */
    json_t *items;
    json_t *page = th_bills(&S_client, a, "", &items);
    ASSERT_EQ_INT(json_array_size(items), 5);
    const json_t *newer = json_array_get(items, 0);
    bool frozen_newer = strcmp(json_string_value(json_object_get(newer, "id")), frozen->id) == 0;
    const struct s_sent *first_back = frozen_newer ? frozen : closed;
    const struct s_sent *second_back = frozen_newer ? closed : frozen;
    const struct api_user *first_payee = frozen_newer ? &S_unavailable.b : &S_unavailable.c;
    const struct api_user *second_payee = frozen_newer ? &S_unavailable.c : &S_unavailable.b;
    long long first_amount = frozen_newer ? 1000 : 700, second_amount = frozen_newer ? 700 : 1000;
    EXPECT_LINE(newer, first_back->id, "transfer_refund", "in", first_amount, first_payee->id,
                first_back->to_name, "SUCCESS", NULL, 3000);
    EXPECT_LINE(json_array_get(items, 1), second_back->id, "transfer_refund", "in", second_amount,
                second_payee->id, second_back->to_name, "SUCCESS", NULL, 3000 - first_amount);
    EXPECT_LINE(json_array_get(items, 2), closed->id, "transfer", "out", 700, S_unavailable.c.id,
                closed->to_name, "FAILED", "PAYEE_UNAVAILABLE", 1300);
    EXPECT_LINE(json_array_get(items, 3), frozen->id, "transfer", "out", 1000, S_unavailable.b.id,
                frozen->to_name, "FAILED", "PAYEE_UNAVAILABLE", 2000);
    json_decref(page);

    /* Failed at arrival: a cancel finds it as it is. */
    struct client_response res;
    CANCEL(a, frozen->id, "unav-cxl", 200, NULL, &res);
    S_expect_failed_answer(&res, frozen->id, 1000, "PAYEE_UNAVAILABLE");
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, a), 3000);
    page = th_bills(&S_client, a, "", &items);
    ASSERT_EQ_INT(json_array_size(items), 5);
    json_decref(page);
}

TEST(a_transfer_of_a_frozen_payer_waits)
{
    // Past its arrives_at, the transfer of a payer who froze their wallet has not arrived: still
    // PROCESSING, the money held, the payee without it and not told. The payer unfreezes; the
    // day's case finds it arrived (the worker tries it again every minute).
    REQUIRE(S_payer_frozen.ready && S_two_hours_on);
    struct api_user *a = &S_payer_frozen.a, *b = &S_payer_frozen.b;
    EXPECT_STATE(a, S_payer_frozen.t.id, "PROCESSING", NULL, S_payer_frozen.t.arrives_at);
    EXPECT_HIDDEN(b, S_payer_frozen.t.id);
    ASSERT_EQ_INT(th_balance(&S_client, a), 1200);
    ASSERT_EQ_INT(th_balance(&S_client, b), 0);
    json_t *items;
    json_t *page = th_bills(&S_client, b, "", &items);
    ASSERT_EQ_INT(json_array_size(items), 0);
    json_decref(page);
    S_unfreeze_self(a);
    S_payer_frozen.unfrozen = true;
}

TEST(the_payer_closes_once_it_arrived)
{
    // The payer's whole balance arrived with the payee: nothing ties the wallet any more.
    REQUIRE(S_closer.ready && S_two_hours_on);
    struct api_user *a = &S_closer.a, *b = &S_closer.b;
    EXPECT_STATE(a, S_closer.t.id, "SUCCESS", NULL, S_closer.t.arrives_at);
    ASSERT_EQ_INT(th_balance(&S_client, b), 500);
    char code[32], reason[32];
    long status = S_close(a, code, reason);
    if (status != 200)
        TEST_FAIL_("closing after the arrival: %ld %s %s", status, code, reason);
    /* Closed: its sessions ended, it is not logged in again. */
    for (size_t i = 0; i < S_user_count; i++)
        if (S_users[i] == a)
            S_users[i] = S_users[--S_user_count];
}

/* --- a day and a minute later --------------------------------------------------------- */

TEST(the_clock_moves_a_day_on)
{
    // The daemon starts again a day and a minute ahead of the real clock: the 24 h transfer is
    // due, and the frozen payer's next try long past.
    REQUIRE(S_two_hours_on);
    if (S_held.ready) {
        S_held.a_before_day_minor = th_balance(&S_client, &S_held.a);
        S_held.b_before_day_minor = th_balance(&S_client, &S_held.b);
    }
    th_restart_at(&S_daemon, &S_client, S_root, S_admin, S_DAY_MS + S_MINUTE_MS, S_users,
                  S_user_count);
    S_a_day_on = true;
}

TEST(a_24h_transfer_arrives_a_day_later)
{
    // Still PROCESSING two hours on, the 24 h transfer has arrived a day on: the payee has it
    // (its line dated at arrival), the payer's balance does not move again, and it can no longer
    // be cancelled.
    REQUIRE(S_held.ready && S_a_day_on);
    struct api_user *a = &S_held.a, *b = &S_held.b;
    char status[32];
    S_wait_settled(a, S_held.t24h.id, status);
    ASSERT_EQ_STR(status, "SUCCESS");
    EXPECT_STATE(a, S_held.t24h.id, "SUCCESS", NULL, S_held.t24h.arrives_at);
    EXPECT_STATE(b, S_held.t24h.id, "SUCCESS", NULL, S_held.t24h.arrives_at);
    ASSERT_EQ_INT(th_balance(&S_client, a), S_held.a_before_day_minor);
    ASSERT_EQ_INT(th_balance(&S_client, b), S_held.b_before_day_minor + 2000);
    json_t *items;
    json_t *page = th_bills(&S_client, b, "?type=transfer", &items);
    EXPECT_LINE(json_array_get(items, 0), S_held.t24h.id, "transfer", "in", 2000, a->id, NULL,
                "SUCCESS", NULL, S_held.b_before_day_minor + 2000);
    const char *dated = json_string_value(json_object_get(json_array_get(items, 0), "created_at"));
    if (S_time_s(dated) < S_time_s(S_held.t24h.arrives_at))
        TEST_FAIL_("the payee's line is dated %s, before the arrival %s", dated ? dated : "(none)",
                   S_held.t24h.arrives_at);
    json_decref(page);
    page = th_bills(&S_client, a, "?type=transfer", &items);
    EXPECT_LINE(json_array_get(items, 0), S_held.t24h.id, "transfer", "out", 2000, b->id,
                S_held.t24h.to_name, "SUCCESS", NULL, 10000 - 1234 - 2000);
    json_decref(page);
    EXPECT_CANCEL(a, S_held.t24h.id, "held-day-1", 409, "TRANSFER_ARRIVED");
    EXPECT_CANCEL(b, S_held.t24h.id, "held-day-2", 403, "FORBIDDEN");
    ASSERT_EQ_INT(th_balance(&S_client, a), S_held.a_before_day_minor);
    ASSERT_EQ_INT(th_balance(&S_client, b), S_held.b_before_day_minor + 2000);
}

TEST(a_frozen_payer_s_transfer_arrives_after_the_unfreeze)
{
    // The transfer that waited for its payer's freeze to be lifted has arrived: SUCCESS, the
    // payee has it and one line of it; the payer's balance is what it was after the hold.
    REQUIRE(S_payer_frozen.ready && S_payer_frozen.unfrozen && S_a_day_on);
    struct api_user *a = &S_payer_frozen.a, *b = &S_payer_frozen.b;
    char status[32];
    S_wait_settled(a, S_payer_frozen.t.id, status);
    ASSERT_EQ_STR(status, "SUCCESS");
    EXPECT_STATE(b, S_payer_frozen.t.id, "SUCCESS", NULL, S_payer_frozen.t.arrives_at);
    ASSERT_EQ_INT(th_balance(&S_client, a), 1200);
    ASSERT_EQ_INT(th_balance(&S_client, b), 800);
    json_t *items;
    json_t *page = th_bills(&S_client, b, "", &items);
    ASSERT_EQ_INT(json_array_size(items), 1);
    EXPECT_LINE(json_array_get(items, 0), S_payer_frozen.t.id, "transfer", "in", 800, a->id, NULL,
                "SUCCESS", NULL, 800);
    json_decref(page);
    page = th_bills(&S_client, a, "", &items);
    ASSERT_EQ_INT(json_array_size(items), 2);
    EXPECT_LINE(json_array_get(items, 0), S_payer_frozen.t.id, "transfer", "out", 800, b->id,
                S_payer_frozen.t.to_name, "SUCCESS", NULL, 1200);
    json_decref(page);
}

TEST(a_cancelled_transfer_still_has_not_arrived_a_day_on)
{
    // A day on, the cancelled transfer is still FAILED TRANSFER_CANCELLED and its payee has
    // nothing.
    REQUIRE(S_cancelled.ready && S_a_day_on);
    EXPECT_STATE(&S_cancelled.a, S_cancelled.t.id, "FAILED", "TRANSFER_CANCELLED",
                 S_cancelled.t.arrives_at);
    EXPECT_HIDDEN(&S_cancelled.b, S_cancelled.t.id);
    ASSERT_EQ_INT(th_balance(&S_client, &S_cancelled.a), 5000);
    ASSERT_EQ_INT(th_balance(&S_client, &S_cancelled.b), 0);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    if (!api_suite_daemon(&suite, &S_daemon, "main", NULL, S_admin, &S_client))
        return api_suite_end(&suite);

    RUN(an_instant_transfer_says_it_arrived_and_cannot_be_cancelled);
    RUN(a_delayed_transfer_is_held_and_hidden_from_its_payee);
    RUN(a_cancel_gives_the_money_and_the_limits_back);
    RUN(a_kyc1_payer_spends_again_what_a_cancel_gave_back);
    RUN(refusals_move_nothing);
    RUN(an_operator_stops_a_transfer_on_a_report_of_fraud);
    RUN(the_payers_default_arrival_holds_a_transfer_that_names_none);
    RUN(the_payer_cannot_close_while_a_transfer_is_pending);
    RUN(a_payee_frozen_or_closed_by_arrival_set_up);
    RUN(a_payer_frozen_by_arrival_set_up);

    RUN(the_clock_moves_two_hours_on);
    RUN(a_delayed_transfer_arrives_two_hours_later);
    RUN(a_cancelled_transfer_never_arrives);
    RUN(a_stopped_transfer_never_arrives);
    RUN(a_payee_frozen_or_closed_at_arrival_gets_nothing);
    RUN(a_transfer_of_a_frozen_payer_waits);
    RUN(the_payer_closes_once_it_arrived);

    RUN(the_clock_moves_a_day_on);
    RUN(a_24h_transfer_arrives_a_day_later);
    RUN(a_frozen_payer_s_transfer_arrives_after_the_unfreeze);
    RUN(a_cancelled_transfer_still_has_not_arrived_a_day_on);

    /* The books balance after all of it. */
    api_suite_stop(&suite);
    api_suite_verify_ledger(&suite, &S_daemon);
    return api_suite_end(&suite);
}

/*
 * test_verify_schedule.c — the daemon's own ledger checks
 * (--verify-interval-h): they run without an operator asking, through the
 * same path as POST /admin/ledger/verification (GET shows them, started_by
 * "schedule", logged at audit level with by=schedule), again each
 * interval, and one that finds the books altered behind the daemon's back
 * turns /metrics' failing gauge and /healthz' ledger_check without anyone
 * asking. An interval of 0 schedules nothing. The intervals are hours; the
 * test builds' QIANBAO_TEST_VERIFY_INTERVAL_MS makes them milliseconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "api/lib/suite.h"
#include "api/transfer_helpers.h"

#define S_WAIT_MS 20000
#define S_INTERVAL_MS "200"

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];

static long long S_int(const json_t *body, const char *name)
{
    const json_t *value = json_object_get(body, name);
    return json_is_integer(value) ? json_integer_value(value) : -1;
}

static const char *S_text(const json_t *body, const char *name)
{
    const char *text = json_string_value(json_object_get(body, name));
    return text != NULL ? text : "";
}

/* Waits, without asking for a check, until GET /admin/ledger/verification
 * shows a finished one numbered number_min or later whose status is
 * status; its state into *out. */
static bool S_wait_for(long long number_min, const char *status, json_t **out)
{
    for (int waited = 0; waited < S_WAIT_MS; waited += 20) {
        struct client_response res;
        long code = api_call(&S_client, "GET", "/admin/ledger/verification", S_admin, NULL, &res);
        json_t *body = code == 200 ? api_json(&res) : NULL;
        client_response_release(&res);
        if (body != NULL && S_int(body, "number") >= number_min &&
            strcmp(S_text(body, "status"), status) == 0) {
            *out = body;
            return true;
        }
        json_decref(body);
        usleep(20 * 1000);
    }
    return false;
}

/* The value of the sample `name` (labels included, as printed) in
 * /metrics, into *value; false when the page or the sample is missing. */
static bool S_metric(const char *name, double *value)
{
    struct client_response res;
    if (api_call(&S_client, "GET", "/metrics", NULL, NULL, &res) != 200) {
        client_response_release(&res);
        return false;
    }
    char needle[256];
    snprintf(needle, sizeof needle, "\n%s ", name);
    const char *at = strstr(res.body.data, needle);
    bool found = at != NULL;
    if (found) {
        char *end = NULL;
        *value = strtod(at + strlen(needle), &end);
        found = end != at + strlen(needle) && *end == '\n';
    }
    client_response_release(&res);
    return found;
}

static bool S_log_has(const struct test_daemon *d, const char *text)
{
    static char log[1024 * 1024];
    return test_file_read(d->log_path, log, sizeof log) && strstr(log, text) != NULL;
}

static void S_line_copy(char *line, void *arg) { snprintf(arg, 32, "%s", line); }

TEST(the_daemon_checks_the_books_on_its_own)
{
    // Nobody asks: the schedule's check shows in GET as any check would, started by the
    // schedule, passing, and leaves the audit line an operator's would, saying who started it.
    json_t *state = NULL;
    ASSERT(S_wait_for(1, "ok", &state));
    ASSERT_EQ_STR(S_text(state, "started_by"), "schedule");
    ASSERT_EQ_INT(S_int(state, "entries_checked"), S_int(state, "entries_total"));
    json_decref(state);
    ASSERT(S_log_has(&S_daemon, "event=ledger.verify_scheduled interval_ms=" S_INTERVAL_MS "\n"));
    ASSERT(S_log_has(&S_daemon,
                     "level=audit req=- event=ledger.verify_started number=1 by=schedule\n"));
    /* The outcome in the words /metrics and the API use, numbered as its start line. */
    ASSERT(S_log_has(&S_daemon, "event=ledger.verified number=1 by=schedule result=ok "));
    /* How long it took, for an operator planning the schedule. */
    static char log[1024 * 1024];
    ASSERT(test_file_read(S_daemon.log_path, log, sizeof log));
    const char *verified = strstr(log, "event=ledger.verified number=1 ");
    ASSERT(verified != NULL);
    const char *end = strchr(verified, '\n');
    const char *took = strstr(verified, " duration_ms=");
    ASSERT(took != NULL && (end == NULL || took < end));
    double value = -1;
    ASSERT(S_metric("qianbao_ledger_verifications_total{result=\"ok\"}", &value));
    ASSERT(value >= 1);
    ASSERT(S_metric("qianbao_ledger_verification_last_ok_timestamp_seconds", &value));
    ASSERT(value > 0);
}

TEST(and_again_each_interval)
{
    // One check is not a schedule: the next ones follow.
    json_t *state = NULL;
    ASSERT(S_wait_for(3, "ok", &state));
    ASSERT_EQ_STR(S_text(state, "started_by"), "schedule");
    json_decref(state);
}

TEST(an_altered_ledger_is_found_without_an_operator)
{
    // The point of the schedule: an entry altered behind the daemon's back (the sqlite3 CLI, as an
    // attacker or a bad disk would) is found by the next scheduled check, and what operators alert
    // on says so with nobody having asked: the failing gauge, the failed count, /healthz.
    struct api_user a;
    ASSERT(th_user_new(&S_client, S_admin, &a));
    ASSERT(th_fund(&S_client, S_admin, &a, 5000));
    char db[TEST_DAEMON_PATH_SIZE_MAX + 16];
    snprintf(db, sizeof db, "%s/qianbao.db", S_daemon.data_dir);
    char last[32] = "";
    ASSERT(test_sqlite(db, false, "SELECT max(id) FROM entries", S_line_copy, last));
    ASSERT(last[0] != '\0');
    ASSERT(test_sqlite(
        db, true, "UPDATE entries SET ref = ref || 'x' WHERE id = (SELECT max(id) FROM entries)",
        NULL, NULL));

    /* A check already under way may have read the journal before the
     * edit and the payments after it, and names a payment instead: the
     * one that starts next reads the chain broken first. */
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/admin/ledger/verification", S_admin, NULL, &res),
                  200);
    json_t *now = api_json(&res);
    client_response_release(&res);
    long long under_way = S_int(now, "number");
    json_decref(now);
    json_t *state = NULL;
    ASSERT(S_wait_for(under_way + 1, "failed", &state));
    ASSERT_EQ_STR(S_text(state, "started_by"), "schedule");
    char want[64];
    snprintf(want, sizeof want, "hash chain broken at entry %s", last);
    ASSERT_EQ_STR(S_text(state, "problem"), want);
    json_decref(state);

    double value = -1;
    ASSERT(S_metric("qianbao_ledger_verification_failing", &value));
    ASSERT(value == 1);
    ASSERT(S_metric("qianbao_ledger_verifications_total{result=\"failed\"}", &value));
    ASSERT(value >= 1);
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/healthz", NULL, NULL, &res), 200);
    json_t *health = api_json(&res);
    client_response_release(&res);
    ASSERT(health != NULL);
    ASSERT_EQ_STR(S_text(health, "ledger_check"), "failed");
    json_decref(health);
}

TEST(an_interval_of_0_schedules_nothing)
{
    // --verify-interval-h 0 turns the schedule off, the test builds' shorter interval
    // notwithstanding: no schedule is logged (it would be before the daemon listens), and no
    // check has run.
    struct test_daemon d;
    char admin[API_TOKEN_SIZE_MAX];
    static const char *const args[] = {"--verify-interval-h", "0", NULL};
    API_MUST(api_daemon_start(&d, S_root, "off", args, admin));
    struct client c;
    client_init(&c, d.base_url);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&c, "GET", "/admin/ledger/verification", admin, NULL, &res), 404);
    client_response_release(&res);
    client_release(&c);
    ASSERT_EQ_INT(test_daemon_stop(&d), 0);
    ASSERT(S_log_has(&d, "event=daemon.start "));
    ASSERT(!S_log_has(&d, "ledger.verify_scheduled"));
    ASSERT(!S_log_has(&d, "ledger.verify_started"));
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    setenv("QIANBAO_TEST_VERIFY_INTERVAL_MS", S_INTERVAL_MS, 1);
    if (!api_suite_daemon(&suite, &S_daemon, "main", NULL, S_admin, &S_client))
        return api_suite_end(&suite);

    RUN(the_daemon_checks_the_books_on_its_own);
    RUN(and_again_each_interval);
    RUN(an_altered_ledger_is_found_without_an_operator);
    RUN(an_interval_of_0_schedules_nothing);

    unsetenv("QIANBAO_TEST_VERIFY_INTERVAL_MS");
    return api_suite_end(&suite);
}

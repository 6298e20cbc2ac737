/*
 * test_verify.c — the operator's ledger check over HTTP
 * (POST/GET /admin/ledger/verification): it answers 404 before any check,
 * passes on a sound ledger with every entry counted, and fails, naming the
 * entry, once one stored entry is altered behind the daemon's back (with
 * the sqlite3 CLI, as an attacker or a bad disk would); and qianbaod
 * --verify on the stopped directory then fails, saying so in words. The
 * offline check also checks the file's structure: a damaged index fails it
 * though the books add up. What operators alert on follows each check:
 * /metrics counts checks by result, says when one last passed and whether
 * the books were last found to disagree, and /healthz says so too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "api/lib/suite.h"
#include "api/transfer_helpers.h"

#define S_WAIT_MS 20000

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];

/* Starts a check on client's daemon and waits until it ends; its final state into *out. */
static bool S_check_on(struct client *client, const char *admin, json_t **out)
{
    struct client_response res;
    long status = api_call(client, "POST", "/admin/ledger/verification", admin, NULL, &res);
    client_response_release(&res);
    if (status != 202)
        return false;
    for (int waited = 0; waited < S_WAIT_MS; waited += 20) {
        status = api_call(client, "GET", "/admin/ledger/verification", admin, NULL, &res);
        json_t *body = status == 200 ? api_json(&res) : NULL;
        client_response_release(&res);
        if (body == NULL)
            return false;
        if (strcmp(json_string_value(json_object_get(body, "status")), "running") != 0) {
            *out = body;
            return true;
        }
        json_decref(body);
        usleep(20 * 1000);
    }
    return false;
}

/* The same on the suite's daemon. */
static bool S_check(json_t **out) { return S_check_on(&S_client, S_admin, out); }

static void S_line_copy(char *line, void *arg)
{
    snprintf(arg, 32, "%s", line);
}

static long long S_int(const json_t *body, const char *name)
{
    const json_t *value = json_object_get(body, name);
    return json_is_integer(value) ? json_integer_value(value) : -1;
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

/* The ledger_check of a 200 /healthz, into verdict. */
static bool S_health_verdict(char *verdict, size_t verdict_size)
{
    struct client_response res;
    long status = api_call(&S_client, "GET", "/healthz", NULL, NULL, &res);
    json_t *body = status == 200 ? api_json(&res) : NULL;
    client_response_release(&res);
    const char *text = json_string_value(json_object_get(body, "ledger_check"));
    if (text != NULL)
        snprintf(verdict, verdict_size, "%s", text);
    json_decref(body);
    return text != NULL;
}

/* Whether the daemon's log holds text. */
static bool S_log_has(const char *text)
{
    static char log[1024 * 1024];
    return test_file_read(S_daemon.log_path, log, sizeof log) && strstr(log, text) != NULL;
}

TEST(before_any_check_there_is_nothing_to_read)
{
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/admin/ledger/verification", S_admin, NULL, &res),
                  404);
    ASSERT_EQ_STR(api_error_code(&res), "NOT_FOUND");
    client_response_release(&res);
    /* The default schedule is on, its first check a day away, not at start
     * (a daemon restarting in a loop must not read its whole database
     * each time). */
    ASSERT(S_log_has("event=ledger.verify_scheduled interval_ms=86400000\n"));
    /* Nothing to alert on yet, but every series there, so that an alert on
     * the last pass's age fires for a daemon that never passed one rather
     * than matching nothing. */
    double value = -1;
    ASSERT(S_metric("qianbao_ledger_verifications_total{result=\"ok\"}", &value));
    ASSERT(value == 0);
    ASSERT(S_metric("qianbao_ledger_verifications_total{result=\"failed\"}", &value));
    ASSERT(value == 0);
    ASSERT(S_metric("qianbao_ledger_verifications_total{result=\"error\"}", &value));
    ASSERT(value == 0);
    ASSERT(S_metric("qianbao_ledger_verification_last_ok_timestamp_seconds", &value));
    ASSERT(value == 0);
    ASSERT(S_metric("qianbao_ledger_verification_failing", &value));
    ASSERT(value == 0);
    char verdict[16] = "";
    ASSERT(S_health_verdict(verdict, sizeof verdict));
    ASSERT_EQ_STR(verdict, "none");
    /* A user may neither start nor read one. */
    struct api_user a;
    ASSERT(api_user_new(&S_client, S_admin, &a));
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/admin/ledger/verification", a.token, NULL, &res),
                  403);
    client_response_release(&res);
}

/* The last midnight in UTC+8 as the API writes a time: "2026-12-04T00:00:00+08:00". */
static void S_midnight(char out[40])
{
    time_t now = time(NULL) + 8 * 60 * 60;
    struct tm day;
    gmtime_r(&now, &day);
    strftime(out, 40, "%Y-%m-%dT00:00:00+08:00", &day);
}

TEST(a_sound_ledger_passes_with_every_entry_counted)
{
    struct api_user a, b;
    ASSERT(th_user_new(&S_client, S_admin, &a));
    ASSERT(th_user_new(&S_client, S_admin, &b));
    ASSERT(th_fund(&S_client, S_admin, &a, 5000));
    char body[256];
    snprintf(body, sizeof body,
             "{\"to\":\"%s\",\"amount\":1234,\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             b.id);
    struct client_response res;
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/transfers", a.token, "verify-t1", body,
                                &res),
                  201);
    client_response_release(&res);
    /* 10.00 out to a card, and its fee of 0.10. */
    char number[17], card_id[API_ID_SIZE_MAX];
    th_card_number_new(number);
    ASSERT(th_card_bind(&S_client, S_admin, &a, number, card_id));
    snprintf(body, sizeof body,
             "{\"card_id\":\"%s\",\"amount\":1000,\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             card_id);
    ASSERT_EQ_INT(
        api_call_idem(&S_client, "POST", "/v1/me/withdrawals", a.token, "verify-w1", body, &res),
        201);
    ASSERT_EQ_STR(api_json_str(&res, "status"), "SUCCESS");
    client_response_release(&res);

    int64_t before_s = (int64_t)time(NULL);
    json_t *state = NULL;
    ASSERT(S_check(&state));
    ASSERT_EQ_STR(json_string_value(json_object_get(state, "status")), "ok");
    ASSERT_EQ_STR(json_string_value(json_object_get(state, "started_by")), "operator");
    ASSERT_EQ_INT(S_int(state, "number"), 1);
    /* The top-up and the transfer at least; every entry of the journal. */
    ASSERT(S_int(state, "entries_checked") >= 2);
    ASSERT_EQ_INT(S_int(state, "entries_checked"), S_int(state, "entries_total"));
    ASSERT(S_int(state, "accounts_checked") >= 4);
    ASSERT(S_int(state, "duration_ms") >= 0);
    ASSERT(json_object_get(state, "problem") == NULL);
    ASSERT(json_is_string(json_object_get(state, "finished_at")));
    ASSERT(json_is_string(json_object_get(state, "last_entry_at")));
    /* What it compared with the journal: the transfer, the top-up and the
     * withdrawal; and the trail's rows, the funding's at least. */
    json_t *checked = json_object_get(state, "checked");
    ASSERT_EQ_INT(S_int(checked, "transfers"), 1);
    ASSERT(S_int(checked, "top_ups_and_withdrawals") >= 2);
    ASSERT(S_int(checked, "audit_rows") >= 1);
    /* The books it proved: the two wallets hold what came in from the
     * banks less what went out and the fee, which the fee income holds. */
    json_t *trial = json_object_get(state, "trial_balance");
    ASSERT_EQ_INT(json_array_size(trial), 1);
    json_t *cny = json_array_get(trial, 0);
    ASSERT_EQ_STR(json_string_value(json_object_get(cny, "currency")), "CNY");
    json_t *kinds = json_object_get(cny, "kinds");
    ASSERT_EQ_INT(json_array_size(kinds), 2);
    json_t *users = json_array_get(kinds, 0), *system = json_array_get(kinds, 1);
    ASSERT_EQ_STR(json_string_value(json_object_get(users, "kind")), "user");
    ASSERT_EQ_INT(S_int(users, "accounts"), 3); /* with the first test's, who has nothing */
    ASSERT_EQ_INT(S_int(users, "balance"), 5000 - 1000 - 10);
    ASSERT_EQ_INT(S_int(users, "held"), 0);
    ASSERT_EQ_STR(json_string_value(json_object_get(system, "kind")), "system");
    ASSERT_EQ_INT(S_int(system, "balance"), -(5000 - 1000 - 10));
    json_t *named = json_object_get(cny, "system_accounts");
    ASSERT_EQ_INT(json_array_size(named), (size_t)S_int(system, "accounts"));
    long long clearing = -1, fees = -1, escrow = -1;
    for (size_t i = 0; i < json_array_size(named); i++) {
        json_t *line = json_array_get(named, i);
        const char *owner = json_string_value(json_object_get(line, "owner"));
        if (strcmp(owner, "system:bank_clearing") == 0)
            clearing = S_int(line, "balance");
        else if (strcmp(owner, "system:fee_income") == 0)
            fees = S_int(line, "balance");
        else if (strcmp(owner, "system:red_packet_escrow") == 0)
            escrow = S_int(line, "balance");
    }
    ASSERT_EQ_INT(clearing, -(5000 - 1000));
    ASSERT_EQ_INT(fees, 10);
    ASSERT_EQ_INT(escrow, 0);
    /* And the books at the day's close, the last midnight (UTC+8): this daemon's journal
     * begins after it, so they are empty. */
    json_t *close = json_object_get(state, "day_close");
    char midnight[40];
    S_midnight(midnight);
    ASSERT_EQ_STR(json_string_value(json_object_get(close, "at")), midnight);
    ASSERT_EQ_INT(S_int(close, "last_entry"), 0);
    ASSERT_EQ_INT(json_array_size(json_object_get(close, "trial_balance")), 0);
    json_decref(state);
    ASSERT(S_log_has("event=ledger.verify_started number=1 by=admin\n"));

    // What an operator's alerts read: one check passed, just now, and the books agree.
    double value = -1;
    ASSERT(S_metric("qianbao_ledger_verifications_total{result=\"ok\"}", &value));
    ASSERT(value == 1);
    ASSERT(S_metric("qianbao_ledger_verifications_total{result=\"failed\"}", &value));
    ASSERT(value == 0);
    ASSERT(S_metric("qianbao_ledger_verification_last_ok_timestamp_seconds", &value));
    ASSERT(value >= (double)before_s && value <= (double)time(NULL) + 1);
    ASSERT(S_metric("qianbao_ledger_verification_failing", &value));
    ASSERT(value == 0);
    char verdict[16] = "";
    ASSERT(S_health_verdict(verdict, sizeof verdict));
    ASSERT_EQ_STR(verdict, "ok");
}

TEST(an_altered_entry_fails_the_check_and_names_it)
{
    char db[TEST_DAEMON_PATH_SIZE_MAX + 16];
    snprintf(db, sizeof db, "%s/qianbao.db", S_daemon.data_dir);
    char last[32] = "";
    ASSERT(test_sqlite(db, false, "SELECT max(id) FROM entries", S_line_copy, last));
    ASSERT(last[0] != '\0');
    ASSERT(test_sqlite(db, true,
                       "UPDATE entries SET ref = ref || 'x' WHERE id = (SELECT max(id) FROM entries)",
                       NULL, NULL));
    json_t *state = NULL;
    ASSERT(S_check(&state));
    ASSERT_EQ_STR(json_string_value(json_object_get(state, "status")), "failed");
    ASSERT_EQ_INT(S_int(state, "number"), 2);
    const char *problem = json_string_value(json_object_get(state, "problem"));
    char want[64];
    snprintf(want, sizeof want, "hash chain broken at entry %s", last);
    ASSERT(problem != NULL && strcmp(problem, want) == 0);
    json_decref(state);
    // At level error, which --log-level error still shows.
    ASSERT(S_log_has("level=error req=- event=ledger.verified number=2 by=admin result=failed "));

    // The alerts fire: the books disagree, and the last pass stays the first check's, so that its
    // age keeps growing. /healthz says so but stays 200: there is no other daemon of this database
    // to send payments to, and stopping them is the operator's call (docs/operations.md).
    double ok_s = -1, value = -1;
    ASSERT(S_metric("qianbao_ledger_verification_last_ok_timestamp_seconds", &ok_s));
    ASSERT(ok_s > 0);
    ASSERT(S_metric("qianbao_ledger_verifications_total{result=\"failed\"}", &value));
    ASSERT(value == 1);
    ASSERT(S_metric("qianbao_ledger_verifications_total{result=\"ok\"}", &value));
    ASSERT(value == 1);
    ASSERT(S_metric("qianbao_ledger_verification_failing", &value));
    ASSERT(value == 1);
    char verdict[16] = "";
    ASSERT(S_health_verdict(verdict, sizeof verdict));
    ASSERT_EQ_STR(verdict, "failed");
}

TEST(the_offline_check_says_the_books_disagree_and_where)
{
    // The operator's other way to the same check, qianbaod --verify on a stopped data directory,
    // must fail too, exit 1, and say in words that the books disagree and at which entry: "the
    // check found a fault" and "the check could not run" must read differently at 3 a.m.
    char last[32] = "";
    char db[TEST_DAEMON_PATH_SIZE_MAX + 16];
    snprintf(db, sizeof db, "%s/qianbao.db", S_daemon.data_dir);
    ASSERT(test_sqlite(db, false, "SELECT max(id) FROM entries", S_line_copy, last));
    ASSERT_EQ_INT(test_daemon_stop(&S_daemon), 0);
    char output[TEST_DAEMON_PATH_SIZE_MAX + 32];
    snprintf(output, sizeof output, "%s/verify-offline.log", S_root);
    const char *args[] = {"--data-dir", S_daemon.data_dir, "--verify", NULL};
    ASSERT_EQ_INT(test_daemon_run(args, output, 60000), 1);
    static char text[64 * 1024];
    ASSERT(test_file_read(output, text, sizeof text));
    char want[128];
    snprintf(want, sizeof want, "verify: FAILED (the books disagree): hash chain broken at entry %s\n",
             last);
    if (strstr(text, want) == NULL)
        TEST_FAIL_("no \"%s\" in:\n%s", want, text);
    // How far the copy goes is still its last entry, not the last one before the fault.
    snprintf(want, sizeof want, "last_entry=%s written_at=unchecked\n", last);
    if (strstr(text, want) == NULL)
        TEST_FAIL_("no \"%s\" in:\n%s", want, text);
}

/* Runs the daemon's repair `option` offline on data_dir: its exit status,
 * its output in text. */
static int S_repair(const char *option, const char *data_dir, const char *name, char *text,
                    size_t text_size)
{
    char output[TEST_DAEMON_PATH_SIZE_MAX + 32];
    snprintf(output, sizeof output, "%s/%s.log", S_root, name);
    const char *args[] = {"--data-dir", data_dir, option, NULL};
    int status = test_daemon_run(args, output, 60000);
    if (!test_file_read(output, text, text_size))
        text[0] = '\0';
    return status;
}

/* Runs qianbaod --verify on data_dir: its exit status, its output in text. */
static int S_verify_offline(const char *data_dir, const char *name, char *text, size_t text_size)
{
    char output[TEST_DAEMON_PATH_SIZE_MAX + 32];
    snprintf(output, sizeof output, "%s/%s.log", S_root, name);
    const char *args[] = {"--data-dir", data_dir, "--verify", NULL};
    int status = test_daemon_run(args, output, 60000);
    if (!test_file_read(output, text, text_size))
        text[0] = '\0';
    return status;
}

/* A daemon of its own on data directory name, with one user funded with
 * ¥50.00 from a card, then stopped cleanly: a ledger for an offline check. */
static bool S_funded_and_stopped(const char *name, struct test_daemon *d)
{
    char admin[API_TOKEN_SIZE_MAX];
    if (!api_daemon_start(d, S_root, name, NULL, admin))
        return false;
    struct client c;
    client_init(&c, d->base_url);
    struct api_user a;
    bool funded = th_user_new(&c, admin, &a) && th_fund(&c, admin, &a, 5000);
    client_release(&c);
    return test_daemon_stop(d) == 0 && funded;
}

/* The damaged file's verdict in text is its last line and holds SQLite's findings, one after
 * another, without the header naming the schema: what a job reading the last line acts on. */
static void S_verdict_one_line(const char *text)
{
    static const char verdict[] = "verify: FAILED (the database file is damaged): ";
    const char *found = strstr(text, verdict);
    ASSERT(found != NULL);
    found += strlen(verdict);
    const char *end = strchr(found, '\n');
    if (end == NULL || end == found || strncmp(found, "***", 3) == 0 || end[1] != '\0')
        TEST_FAIL_("the findings are not the verdict's one last line in:\n%s", text);
}

TEST(a_damaged_file_fails_the_offline_check_though_the_books_add_up)
{
    // A bad disk may damage a page the ledger check never reads (an index, a payment's row): the
    // books still add up, but the file is not sound, and "--verify: ok" would be false comfort
    // before a restore. The check says how far the books go (the last entry and when it was
    // written), so that an operator sees what a restored copy holds.
    struct test_daemon d;
    ASSERT(S_funded_and_stopped("damaged", &d));

    char db[TEST_DAEMON_PATH_SIZE_MAX + 16], last[32] = "", root[32] = "", page_size[32] = "";
    snprintf(db, sizeof db, "%s/qianbao.db", d.data_dir);
    ASSERT(test_sqlite(db, false, "SELECT max(id) FROM entries", S_line_copy, last));
    static char text[64 * 1024];
    ASSERT_EQ_INT(S_verify_offline(d.data_dir, "verify-sound", text, sizeof text), 0);
    char want[160];
    snprintf(want, sizeof want, "last_entry=%s written_at=20", last);
    if (strstr(text, "verify: ok\n") == NULL || strstr(text, want) == NULL)
        TEST_FAIL_("no \"verify: ok\" and \"%s\" in:\n%s", want, text);
    // A sound check warns of nothing: a warning at each check (SQLite's of an index it made on
    // the fly) trips an operator's alerting for nothing.
    if (strstr(text, "level=warn") != NULL)
        TEST_FAIL_("a sound check logged a warning:\n%s", text);
    // And the trial balance it proved: the one wallet's 50.00, in from the bank.
    if (strstr(text, "trial currency=CNY kind=user accounts=1 balance=50.00 held=0.00\n") == NULL ||
        strstr(text,
               "trial currency=CNY account=system:bank_clearing balance=-50.00 held=0.00\n") ==
            NULL)
        TEST_FAIL_("no trial balance of the one wallet's 50.00 in:\n%s", text);
    char midnight[40], close[80];
    S_midnight(midnight);
    snprintf(close, sizeof close, "close at=%s last_entry=0\n", midnight);
    if (strstr(text, close) == NULL)
        TEST_FAIL_("no \"%s\" in:\n%s", close, text);

    ASSERT(test_sqlite(db, false, "SELECT rootpage FROM sqlite_schema WHERE name = 'sessions_user'",
                       S_line_copy, root));
    ASSERT(test_sqlite(db, false, "PRAGMA page_size", S_line_copy, page_size));
    long page = atol(root), size = atol(page_size);
    ASSERT(page > 1 && size >= 512);
    FILE *f = fopen(db, "r+b");
    ASSERT(f != NULL);
    unsigned char junk[48];
    memset(junk, 0xa5, sizeof junk);
    /* The end of a leaf page holds its cells: the index's keys. */
    ASSERT_EQ_INT(fseek(f, page * size - (long)sizeof junk, SEEK_SET), 0);
    ASSERT_EQ_INT(fwrite(junk, 1, sizeof junk, f), sizeof junk);
    ASSERT_EQ_INT(fclose(f), 0);

    ASSERT_EQ_INT(S_verify_offline(d.data_dir, "verify-damaged", text, sizeof text), 1);
    if (strstr(text, "verify: FAILED (the database file is damaged): ") == NULL ||
        strstr(text, "books disagree") != NULL || strstr(text, "verify: ok") != NULL)
        TEST_FAIL_("the damaged index is not reported alone in:\n%s", text);
    S_verdict_one_line(text);
    // A repair of the books or the trail would write into the damage: both refuse, writing
    // nothing.
    ASSERT_EQ_INT(S_repair("--reseal-audit-trail", d.data_dir, "reseal-damaged", text, sizeof text),
                  1);
    if (strstr(text, "reseal: REFUSED (the database file is damaged") == NULL)
        TEST_FAIL_("the reseal went on with a damaged file:\n%s", text);
    ASSERT_EQ_INT(
        S_repair("--rebuild-checkpoints", d.data_dir, "rebuild-damaged", text, sizeof text), 1);
    ASSERT(strstr(text, "rebuild: REFUSED (the database file is damaged") != NULL);

    // A table's page damaged: SQLite reports its findings as lines under a header, the verdict
    // one line of them all the same.
    struct test_daemon t;
    ASSERT(S_funded_and_stopped("damaged-table", &t));
    char table_db[TEST_DAEMON_PATH_SIZE_MAX + 16], table_root[32] = "";
    snprintf(table_db, sizeof table_db, "%s/qianbao.db", t.data_dir);
    ASSERT(test_sqlite(table_db, false,
                       "SELECT rootpage FROM sqlite_schema WHERE name = 'security_events'",
                       S_line_copy, table_root));
    f = fopen(table_db, "r+b");
    ASSERT(f != NULL);
    /* The first cell's pointer, past the page's end. */
    ASSERT_EQ_INT(fseek(f, (atol(table_root) - 1) * size + 8, SEEK_SET), 0);
    ASSERT_EQ_INT(fwrite("\x7f\x7f", 1, 2, f), 2);
    ASSERT_EQ_INT(fclose(f), 0);
    ASSERT_EQ_INT(S_verify_offline(t.data_dir, "verify-damaged-table", text, sizeof text), 1);
    if (strstr(text, "On tree page ") == NULL)
        TEST_FAIL_("no finding of the table's page in:\n%s", text);
    S_verdict_one_line(text);

    // Damaged and not the newest either: one verdict, the damage (a restore is the way on from
    // both), the rest said before it, so that a job reading the verdict reads one.
    char head[TEST_DAEMON_PATH_SIZE_MAX + 16];
    snprintf(head, sizeof head, "%s/chain-head", d.data_dir);
    f = fopen(head, "w");
    ASSERT(f != NULL);
    fprintf(f, "entry=%ld hash=%064d\n", atol(last) + 5, 0);
    ASSERT_EQ_INT(fclose(f), 0);
    ASSERT_EQ_INT(S_verify_offline(d.data_dir, "verify-damaged-older", text, sizeof text), 1);
    const char *verdict = strstr(text, "verify: FAILED ");
    if (verdict == NULL || strstr(verdict + 1, "verify: FAILED ") != NULL ||
        strncmp(verdict, "verify: FAILED (the database file is damaged): ", 47) != 0 ||
        strstr(text, "verify: also (not the data directory's newest database): ") == NULL)
        TEST_FAIL_("not one verdict, the damage's, in:\n%s", text);
}

/* The account whose checkpoint the test below leaves behind. */
static char S_stale_account[32];

TEST(a_checkpoint_a_start_would_not_catch_up_fails_the_offline_check)
{
    // Two daemons on one database once left an account's checkpoint behind entries a start no
    // longer replays: the start refused the books ("balances do not sum to zero") while
    // --verify, which recomputes every balance from the journal, said ok, and the operator was
    // stuck. --verify must refuse what a start would, and say which account and entry.
    struct test_daemon d;
    ASSERT(S_funded_and_stopped("stale-checkpoint", &d));
    static char text[64 * 1024];
    ASSERT_EQ_INT(S_verify_offline(d.data_dir, "verify-before-stale", text, sizeof text), 0);

    /* The funded account's checkpoint as if it had never been written. */
    char db[TEST_DAEMON_PATH_SIZE_MAX + 16];
    char *account = S_stale_account;
    snprintf(db, sizeof db, "%s/qianbao.db", d.data_dir);
    ASSERT(test_sqlite(db, false, "SELECT max(id) FROM accounts WHERE balance_minor = 5000",
                       S_line_copy, account));
    ASSERT(account[0] != '\0');
    char sql[512];
    snprintf(sql, sizeof sql,
             "UPDATE accounts SET balance_minor = 0, held_minor = 0, last_entry_id = 0,"
             " spent_day_start_ms = 0, spent_day_minor = 0, spent_year = 0, spent_year_minor = 0,"
             " spent_lifetime_minor = 0 WHERE id = %s",
             account);
    ASSERT(test_sqlite(db, true, sql, NULL, NULL));

    ASSERT_EQ_INT(S_verify_offline(d.data_dir, "verify-stale", text, sizeof text), 1);
    char want[128];
    snprintf(want, sizeof want, "verify: FAILED (the books disagree): account %s: entry ", account);
    if (strstr(text, want) == NULL || strstr(text, "before where a start replays from") == NULL)
        TEST_FAIL_("no \"%s… before where a start replays from\" in:\n%s", want, text);
    /* And the start refuses the same books. */
    char dir[TEST_DAEMON_PATH_SIZE_MAX], log_path[TEST_DAEMON_PATH_SIZE_MAX];
    snprintf(dir, sizeof dir, "%s", d.data_dir);
    snprintf(log_path, sizeof log_path, "%s", d.log_path);
    ASSERT(!test_daemon_start(&d, dir, log_path, NULL));
}

/* What a start trusts instead of the journal, as one line per row. */
static void S_derived_state(const char *db, char *out, size_t out_size)
{
    out[0] = '\0';
    char line[4096] = "";
    if (test_sqlite(db, false,
                    "SELECT group_concat(id || ':' || balance_minor || ':' || held_minor || ':' ||"
                    " last_entry_id || ':' || spent_lifetime_minor, ' ') FROM accounts",
                    S_line_copy, line))
        snprintf(out, out_size, "%s", line);
    if (test_sqlite(db, false,
                    "SELECT (SELECT value FROM meta WHERE key = 'replay_from') || ' holds ' ||"
                    " (SELECT count(*) FROM holds)",
                    S_line_copy, line)) {
        size_t used = strlen(out);
        snprintf(out + used, out_size - used, " | %s", line);
    }
}

TEST(the_repair_rebuilds_what_a_start_trusts_from_the_journal)
{
    // The ledger of the test above: a start refuses it, and --verify names the account. The
    // operator's way back without a restore is --rebuild-checkpoints: the journal verifies, so
    // every checkpoint, the holds table and replay_from are written from it, and the daemon
    // starts with the balances the journal says. A balance raised by hand in the accounts table
    // (the journal does not say so) is put back the same way.
    struct test_daemon d;
    char dir[TEST_DAEMON_PATH_SIZE_MAX], log_path[TEST_DAEMON_PATH_SIZE_MAX];
    snprintf(dir, sizeof dir, "%s/stale-checkpoint", S_root);
    snprintf(log_path, sizeof log_path, "%s/stale-checkpoint.log", S_root);
    char db[TEST_DAEMON_PATH_SIZE_MAX + 16], raised[32] = "";
    const char *funded = S_stale_account;
    snprintf(db, sizeof db, "%s/qianbao.db", dir);
    ASSERT(test_sqlite(db, false, "SELECT min(id) FROM accounts WHERE last_entry_id > 0",
                       S_line_copy, raised));
    ASSERT(funded[0] != '\0' && raised[0] != '\0');
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE accounts SET balance_minor = balance_minor + 100000 WHERE id = %s", raised);
    ASSERT(test_sqlite(db, true, sql, NULL, NULL));

    static char text[64 * 1024];
    ASSERT_EQ_INT(S_repair("--rebuild-checkpoints", dir, "rebuild-stale", text, sizeof text), 0);
    char want[160];
    snprintf(want, sizeof want, "rebuild: entries_replayed=");
    if (strstr(text, want) == NULL || strstr(text, " accounts_rewritten=2 accounts=") == NULL ||
        strstr(text, "verify: ok\n") == NULL)
        TEST_FAIL_("no rebuild of 2 accounts and \"verify: ok\" in:\n%s", text);
    if (strstr(text, "level=audit req=- event=ledger.checkpoints_rebuilt ") == NULL)
        TEST_FAIL_("no audit line in:\n%s", text);

    /* The journal's balances, and a start that takes them. */
    char balance[32] = "";
    snprintf(sql, sizeof sql, "SELECT balance_minor FROM accounts WHERE id = %s", funded);
    ASSERT(test_sqlite(db, false, sql, S_line_copy, balance));
    ASSERT_EQ_STR(balance, "5000");
    ASSERT(test_daemon_start(&d, dir, log_path, NULL));

    /* Beside that daemon the repair is refused: it holds the directory. The refusal says what
     * is not done (it starts nothing) and which daemon runs. */
    ASSERT_EQ_INT(S_repair("--rebuild-checkpoints", dir, "rebuild-running", text, sizeof text), 1);
    snprintf(want, sizeof want, "will not rebuild the checkpoints while qianbaod (pid %d) runs",
             (int)d.pid);
    if (strstr(text, want) == NULL || strstr(text, "refusing to start") != NULL)
        TEST_FAIL_("no \"%s\" in:\n%s", want, text);
    ASSERT_EQ_INT(test_daemon_stop(&d), 0);

    /* It runs the check itself: asked for both, it says so, exit 2. */
    char output[TEST_DAEMON_PATH_SIZE_MAX + 32];
    snprintf(output, sizeof output, "%s/rebuild-and-verify.log", S_root);
    const char *both[] = {"--data-dir", dir, "--rebuild-checkpoints", "--verify", NULL};
    ASSERT_EQ_INT(test_daemon_run(both, output, 60000), 2);

    /* A second repair of sound books changes nothing. */
    ASSERT_EQ_INT(S_repair("--rebuild-checkpoints", dir, "rebuild-again", text, sizeof text), 0);
    if (strstr(text, " accounts_rewritten=0 holds_table=unchanged ") == NULL ||
        strstr(text, "verify: ok\n") == NULL)
        TEST_FAIL_("the second repair rewrote something:\n%s", text);
}

/* Copies the file from to to (mode 0600). */
static bool S_copy(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = in != NULL ? fopen(to, "wb") : NULL;
    bool ok = in != NULL && out != NULL;
    char buf[64 * 1024];
    for (size_t n; ok && (n = fread(buf, 1, sizeof buf, in)) > 0;)
        ok = fwrite(buf, 1, n, out) == n;
    ok = ok && !ferror(in);
    if (in != NULL)
        fclose(in);
    if (out != NULL)
        ok = fclose(out) == 0 && ok;
    return ok && chmod(to, 0600) == 0;
}

TEST(an_older_copy_of_the_database_is_refused_until_it_is_meant)
{
    // An older copy put in place of the live database (the wrong file restored, a disk snapshot
    // rolled back, a file replaced by whoever can write it) is a sound ledger of its own: the
    // check passed it and the daemon started on it, forgetting every payment acknowledged after
    // it. The data directory's chain-head names the newest entry its daemon made durable: a start
    // on a database without that entry is refused, saying what would be lost and how to go on
    // on purpose, and --verify fails; with the chain-head backed up with the copy it starts.
    struct test_daemon d;
    ASSERT(S_funded_and_stopped("rollback", &d));
    static char text[64 * 1024];
    ASSERT(test_file_read(d.log_path, text, sizeof text));
    ASSERT(strstr(text, "daemon.chain_head_missing") == NULL); /* a new data directory */
    char dir[TEST_DAEMON_PATH_SIZE_MAX], log_path[TEST_DAEMON_PATH_SIZE_MAX];
    snprintf(dir, sizeof dir, "%s", d.data_dir);
    snprintf(log_path, sizeof log_path, "%s/rollback-again.log", S_root);
    char db[TEST_DAEMON_PATH_SIZE_MAX + 32], older[TEST_DAEMON_PATH_SIZE_MAX + 32];
    char head[TEST_DAEMON_PATH_SIZE_MAX + 32], older_head[TEST_DAEMON_PATH_SIZE_MAX + 32];
    snprintf(db, sizeof db, "%s/qianbao.db", dir);
    snprintf(older, sizeof older, "%s/older.db", S_root);
    snprintf(head, sizeof head, "%s/chain-head", dir);
    snprintf(older_head, sizeof older_head, "%s/older-chain-head", S_root);
    char older_last[32] = "";
    ASSERT(test_sqlite(db, false, "SELECT max(id) FROM entries", S_line_copy, older_last));
    ASSERT(S_copy(db, older) && S_copy(head, older_head));

    /* More money in, acknowledged. */
    ASSERT(test_daemon_start(&d, dir, log_path, NULL));
    char admin[API_TOKEN_SIZE_MAX];
    ASSERT(test_daemon_admin_token(&d, admin, sizeof admin));
    struct client c;
    client_init(&c, d.base_url);
    struct api_user a;
    bool funded = th_user_new(&c, admin, &a) && th_fund(&c, admin, &a, 7000);
    client_release(&c);
    ASSERT_EQ_INT(test_daemon_stop(&d), 0);
    ASSERT(funded);
    char newest[32] = "";
    ASSERT(test_sqlite(db, false, "SELECT max(id) FROM entries", S_line_copy, newest));
    ASSERT(atol(newest) > atol(older_last));

    /* The older copy put back. */
    ASSERT(S_copy(older, db));
    char side[TEST_DAEMON_PATH_SIZE_MAX + 48];
    snprintf(side, sizeof side, "%s-wal", db);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", db);
    unlink(side);
    char output[TEST_DAEMON_PATH_SIZE_MAX + 32], want[TEST_DAEMON_PATH_SIZE_MAX + 256];
    snprintf(output, sizeof output, "%s/rollback-refused.log", S_root);
    const char *serve[] = {"--data-dir", dir, "--listen", "127.0.0.1:0", NULL};
    ASSERT_EQ_INT(test_daemon_run(serve, output, 30000), 1);
    ASSERT(test_file_read(output, text, sizeof text));
    snprintf(want, sizeof want,
             "refusing to start: the journal of \"%s\" ends at entry %s, but this data "
             "directory's daemon made entry %s durable",
             db, older_last, newest);
    if (strstr(text, want) == NULL)
        TEST_FAIL_("no \"%s\" in:\n%s", want, text);
    /* A -wal removed as a stale file looks the same from here: the message names it first. */
    snprintf(want, sizeof want, "its \"%s-wal\", which holds the commits not yet in the database",
             db);
    if (strstr(text, want) == NULL)
        TEST_FAIL_("no \"%s\" in:\n%s", want, text);
    ASSERT_EQ_INT(S_verify_offline(dir, "rollback-verify", text, sizeof text), 1);
    if (strstr(text, "verify: FAILED (not the data directory's newest database): ") == NULL ||
        strstr(text, "verify: ok") != NULL)
        TEST_FAIL_("the older copy passed --verify:\n%s", text);

    /* Meant: the chain-head backed up with the copy goes back with it. */
    ASSERT(S_copy(older_head, head));
    ASSERT_EQ_INT(S_verify_offline(dir, "rollback-meant", text, sizeof text), 0);
    ASSERT(test_daemon_start(&d, dir, log_path, NULL));
    ASSERT_EQ_INT(test_daemon_stop(&d), 0);
    ASSERT(test_file_read(log_path, text, sizeof text));
    ASSERT(strstr(text, "daemon.chain_head_missing") == NULL);

    /* Or the chain-head removed, as the refusal offers: the start says from where it goes on,
     * since nothing now says what came after. */
    ASSERT_EQ_INT(unlink(head), 0);
    snprintf(log_path, sizeof log_path, "%s/rollback-headless.log", S_root);
    ASSERT(test_daemon_start(&d, dir, log_path, NULL));
    ASSERT_EQ_INT(test_daemon_stop(&d), 0);
    ASSERT(test_file_read(log_path, text, sizeof text));
    snprintf(want, sizeof want, "event=daemon.chain_head_missing path=\"%s\" last_entry=%s ", head,
             older_last);
    if (strstr(text, want) == NULL)
        TEST_FAIL_("no \"%s\" in:\n%s", want, text);
}

TEST(a_database_lost_beside_its_wal_is_named_so)
{
    // The database file gone while its -wal, with commits, is still there (a file moved aside by
    // hand, a copy that took one without the other) is no mistyped directory: the start and
    // --verify both say to put the database back beside its -wal, and --verify's last word on
    // stdout is its verdict.
    struct test_daemon d;
    ASSERT(S_funded_and_stopped("lost-db", &d));
    char db[TEST_DAEMON_PATH_SIZE_MAX + 32], wal[TEST_DAEMON_PATH_SIZE_MAX + 32];
    char aside[TEST_DAEMON_PATH_SIZE_MAX + 32];
    snprintf(db, sizeof db, "%s/qianbao.db", d.data_dir);
    snprintf(wal, sizeof wal, "%s/qianbao.db-wal", d.data_dir);
    snprintf(aside, sizeof aside, "%s/lost-db-aside.db", S_root);
    ASSERT_EQ_INT(rename(db, aside), 0);
    FILE *f = fopen(wal, "w");
    ASSERT(f != NULL);
    fputs("commits the database file does not hold yet", f);
    ASSERT_EQ_INT(fclose(f), 0);
    static char text[64 * 1024];
    char want[TEST_DAEMON_PATH_SIZE_MAX * 2 + 128];
    snprintf(want, sizeof want, "the database \"%s\" is missing, but \"%s\" beside it holds", db,
             wal);
    char output[TEST_DAEMON_PATH_SIZE_MAX + 32];
    snprintf(output, sizeof output, "%s/lost-db-start.log", S_root);
    const char *serve[] = {"--data-dir", d.data_dir, "--listen", "127.0.0.1:0", NULL};
    ASSERT_EQ_INT(test_daemon_run(serve, output, 30000), 1);
    ASSERT(test_file_read(output, text, sizeof text));
    if (strstr(text, want) == NULL)
        TEST_FAIL_("the start did not say \"%s\":\n%s", want, text);
    ASSERT_EQ_INT(S_verify_offline(d.data_dir, "lost-db-verify", text, sizeof text), 1);
    char verdict[sizeof want + 64];
    snprintf(verdict, sizeof verdict, "verify: FAILED (no database to check): %s", want);
    if (strstr(text, verdict) == NULL)
        TEST_FAIL_("--verify did not say \"%s\":\n%s", verdict, text);
    ASSERT_EQ_INT(unlink(wal), 0);
    ASSERT_EQ_INT(rename(aside, db), 0);
    ASSERT_EQ_INT(S_verify_offline(d.data_dir, "lost-db-back", text, sizeof text), 0);

    /* A chain-head that is no chain-head is named once. */
    char head[TEST_DAEMON_PATH_SIZE_MAX + 32], head_kept[TEST_DAEMON_PATH_SIZE_MAX + 32];
    snprintf(head, sizeof head, "%s/chain-head", d.data_dir);
    snprintf(head_kept, sizeof head_kept, "%s/lost-db-chain-head", S_root);
    ASSERT(S_copy(head, head_kept));
    f = fopen(head, "w");
    ASSERT(f != NULL);
    fputs("not a head\n", f);
    ASSERT_EQ_INT(fclose(f), 0);
    snprintf(output, sizeof output, "%s/lost-db-garbled.log", S_root);
    ASSERT_EQ_INT(test_daemon_run(serve, output, 30000), 1);
    ASSERT(test_file_read(output, text, sizeof text));
    const char *named = strstr(text, "is not a chain head this daemon wrote");
    if (named == NULL || strstr(named + 1, "is not a chain head this daemon wrote") != NULL)
        TEST_FAIL_("the garbled chain-head is not named once:\n%s", text);
    ASSERT(S_copy(head_kept, head));

    /* Cut short to a page, the file SQLite will not open says so in a verdict too. */
    ASSERT_EQ_INT(truncate(db, 512), 0);
    ASSERT_EQ_INT(S_verify_offline(d.data_dir, "lost-db-cut", text, sizeof text), 1);
    if (strstr(text, "verify: FAILED (the database file could not be opened): ") == NULL)
        TEST_FAIL_("no verdict for a file cut short in:\n%s", text);

    /* A file without tables and no -wal beside it: under load the file may hold none yet, all
     * its commits in the -wal, which is what was lost; both say so before a restore. */
    ASSERT_EQ_INT(unlink(db), 0);
    ASSERT(test_sqlite(db, true, "CREATE TABLE t (x); DROP TABLE t", NULL, NULL));
    snprintf(output, sizeof output, "%s/lost-db-tableless.log", S_root);
    ASSERT_EQ_INT(test_daemon_run(serve, output, 30000), 1);
    ASSERT(test_file_read(output, text, sizeof text));
    if (strstr(text, "its commits are in its -wal, which was removed or cut short") == NULL)
        TEST_FAIL_("the start did not name the -wal:\n%s", text);
    ASSERT_EQ_INT(S_verify_offline(d.data_dir, "lost-db-tableless", text, sizeof text), 1);
    snprintf(want, sizeof want,
             "verify: FAILED (not the data directory's newest database): the "
             "database \"%s\" has no tables",
             db);
    if (strstr(text, want) == NULL ||
        strstr(text, "-wal\", which was removed or cut short") == NULL)
        TEST_FAIL_("--verify did not name the -wal:\n%s", text);
}

TEST(secrets_of_another_installation_fail_the_check)
{
    // A backup directory whose pepper or card-key is another installation's passes its sums, the
    // file's check and the books', and a start on it is refused only in the middle of a
    // restore: --verify checks them against the database as the start does, writing nothing.
    struct test_daemon d;
    ASSERT(S_funded_and_stopped("foreign-secret", &d));
    const char *secrets[] = {"pepper", "card-key"};
    static char text[64 * 1024];
    for (size_t i = 0; i < QB_ARRAY_COUNT(secrets); i++) {
        char path[TEST_DAEMON_PATH_SIZE_MAX + 32], kept[TEST_DAEMON_PATH_SIZE_MAX + 32];
        snprintf(path, sizeof path, "%s/%s", d.data_dir, secrets[i]);
        snprintf(kept, sizeof kept, "%s/foreign-%s", S_root, secrets[i]);
        ASSERT(S_copy(path, kept));
        FILE *f = fopen(path, "wb");
        ASSERT(f != NULL);
        for (int b = 0; b < 32; b++)
            fputc(0x5a ^ b, f);
        ASSERT_EQ_INT(fclose(f), 0);
        ASSERT_EQ_INT(chmod(path, 0600), 0);
        ASSERT_EQ_INT(S_verify_offline(d.data_dir, "foreign-secret-verify", text, sizeof text), 1);
        char want[2 * TEST_DAEMON_PATH_SIZE_MAX + 256];
        snprintf(want, sizeof want,
                 "verify: FAILED (a secret file is not this database's): the secret file \"%s\"",
                 path);
        if (strstr(text, want) == NULL)
            TEST_FAIL_("no \"%s\" in:\n%s", want, text);
        ASSERT_EQ_INT(unlink(path), 0);
        ASSERT_EQ_INT(S_verify_offline(d.data_dir, "foreign-secret-gone", text, sizeof text), 1);
        snprintf(want, sizeof want,
                 "verify: FAILED (a secret file is missing): the secret file \"%s\" is missing",
                 path);
        if (strstr(text, want) == NULL)
            TEST_FAIL_("no \"%s\" in:\n%s", want, text);
        /* Put back as a backup unpacked carelessly leaves it: readable by others. */
        ASSERT(S_copy(kept, path));
        ASSERT_EQ_INT(chmod(path, 0644), 0);
        ASSERT_EQ_INT(S_verify_offline(d.data_dir, "foreign-secret-open", text, sizeof text), 1);
        snprintf(want, sizeof want,
                 "verify: FAILED (a secret file cannot be read): secret file \"%s\" is readable by "
                 "others or not a file; fix with: chmod 600 %s",
                 path, path);
        if (strstr(text, want) == NULL)
            TEST_FAIL_("no \"%s\" in:\n%s", want, text);
        ASSERT_EQ_INT(chmod(path, 0600), 0);
        ASSERT_EQ_INT(S_verify_offline(d.data_dir, "foreign-secret-back", text, sizeof text), 0);
    }
}

TEST(the_operators_audit_trail_cut_or_altered_is_found)
{
    // Whoever can write the database could delete the row saying an operator read a customer's
    // wallet, or edit what a freeze's reason said. Each row is sealed after the one before under
    // the chain key, and the chain-head names the newest seal: rows cut off the end stop the
    // start and --verify, a row edited fails --verify naming it. The way on that loses no
    // payment (a backup would lose every one since) seals the trail again as it stands and
    // records that it did, and why, on the trail itself.
    struct test_daemon d;
    ASSERT(S_funded_and_stopped("audit-trail", &d));
    char dir[TEST_DAEMON_PATH_SIZE_MAX], log_path[TEST_DAEMON_PATH_SIZE_MAX];
    snprintf(dir, sizeof dir, "%s", d.data_dir);
    snprintf(log_path, sizeof log_path, "%s/audit-trail-again.log", S_root);
    ASSERT(test_daemon_start(&d, dir, log_path, NULL));
    char admin[API_TOKEN_SIZE_MAX];
    ASSERT(test_daemon_admin_token(&d, admin, sizeof admin));
    struct client c;
    client_init(&c, d.base_url);
    struct api_user a;
    bool made = th_user_new(&c, admin, &a);
    char path[256];
    snprintf(path, sizeof path, "/admin/users/%s", a.id);
    struct client_response res;
    long read = made ? api_call(&c, "GET", path, admin, NULL, &res) : 0;
    if (made)
        client_response_release(&res);
    client_release(&c);
    ASSERT_EQ_INT(test_daemon_stop(&d), 0);
    ASSERT_EQ_INT(read, 200);

    char db[TEST_DAEMON_PATH_SIZE_MAX + 32], saved[TEST_DAEMON_PATH_SIZE_MAX + 32];
    char head[TEST_DAEMON_PATH_SIZE_MAX + 32];
    snprintf(db, sizeof db, "%s/qianbao.db", dir);
    snprintf(saved, sizeof saved, "%s/audit-trail-saved.db", S_root);
    snprintf(head, sizeof head, "%s/chain-head", dir);
    char rows[32] = "";
    ASSERT(test_sqlite(db, false, "SELECT max(seq) FROM operator_actions", S_line_copy, rows));
    ASSERT(atol(rows) >= 2);
    static char text[64 * 1024];
    ASSERT(test_file_read(head, text, sizeof text));
    char want[TEST_DAEMON_PATH_SIZE_MAX + 256];
    snprintf(want, sizeof want, " audit=%s seal=", rows);
    if (strstr(text, want) == NULL)
        TEST_FAIL_("no \"%s\" in the chain-head: %s", want, text);
    ASSERT(S_copy(db, saved));
    ASSERT_EQ_INT(S_verify_offline(dir, "audit-trail-sound", text, sizeof text), 0);
    snprintf(want, sizeof want, " audit_rows=%s cards=", rows);
    if (strstr(text, want) == NULL)
        TEST_FAIL_("no \"%s\" in:\n%s", want, text);

    /* The newest row, the read, deleted. */
    ASSERT(test_sqlite(db, true,
                       "DELETE FROM operator_actions WHERE seq = (SELECT max(seq) FROM "
                       "operator_actions)",
                       NULL, NULL));
    char output[TEST_DAEMON_PATH_SIZE_MAX + 32];
    snprintf(output, sizeof output, "%s/audit-trail-refused.log", S_root);
    const char *serve[] = {"--data-dir", dir, "--listen", "127.0.0.1:0", NULL};
    ASSERT_EQ_INT(test_daemon_run(serve, output, 30000), 1);
    ASSERT(test_file_read(output, text, sizeof text));
    snprintf(want, sizeof want,
             "refusing to start: the operators' audit trail of \"%s\" ends at row %ld, but "
             "this data directory's daemon made row %s durable",
             db, atol(rows) - 1, rows);
    if (strstr(text, want) == NULL)
        TEST_FAIL_("no \"%s\" in:\n%s", want, text);
    ASSERT_EQ_INT(S_verify_offline(dir, "audit-trail-cut", text, sizeof text), 1);
    if (strstr(text, "verify: FAILED (not the data directory's newest database): the operators' "
                     "audit trail") == NULL)
        TEST_FAIL_("the cut trail passed --verify:\n%s", text);

    /* Gone on from, as it stands: the repair says what it found and is a row of its own. */
    ASSERT_EQ_INT(S_repair("--reseal-audit-trail", dir, "audit-trail-reseal", text, sizeof text),
                  0);
    snprintf(want, sizeof want,
             "reseal: found: the trail ended at row %ld, but the chain-head named row %s\n",
             atol(rows) - 1, rows);
    char recorded[64];
    snprintf(recorded, sizeof recorded, "recorded_as_row=%s\n", rows);
    if (strstr(text, want) == NULL || strstr(text, recorded) == NULL ||
        strstr(text, "verify: ok\n") == NULL)
        TEST_FAIL_("no \"%s\", \"%s\" and \"verify: ok\" in:\n%s", want, recorded, text);
    ASSERT_EQ_INT(S_repair("--reseal-audit-trail", dir, "audit-trail-again", text, sizeof text), 0);
    ASSERT(strstr(text, "nothing to do") != NULL);

    /* Who did the first row's action, edited. */
    ASSERT(test_sqlite(db, true, "UPDATE operator_actions SET actor = 'admin:nobody' WHERE seq = 1",
                       NULL, NULL));
    ASSERT_EQ_INT(S_verify_offline(dir, "audit-trail-edited", text, sizeof text), 1);
    if (strstr(text, "verify: FAILED (the books disagree): operator_actions row 1 does not match "
                     "its seal") == NULL)
        TEST_FAIL_("the edited row passed --verify:\n%s", text);
    ASSERT_EQ_INT(
        S_repair("--reseal-audit-trail", dir, "audit-trail-reseal-edited", text, sizeof text), 0);
    ASSERT(strstr(text, "first_changed=1 ") != NULL);

    /* Both repairs are on the trail an auditor reads, the newest first. */
    ASSERT(test_daemon_start(&d, dir, log_path, NULL));
    client_init(&c, d.base_url);
    json_t *body = NULL;
    long listed = api_call(&c, "GET", "/admin/audit?by=qianbaod", admin, NULL, &res);
    if (listed == 200)
        body = api_json(&res);
    client_response_release(&res);
    client_release(&c);
    ASSERT_EQ_INT(test_daemon_stop(&d), 0);
    ASSERT_EQ_INT(listed, 200);
    json_t *items = json_object_get(body, "items");
    ASSERT_EQ_INT((long long)json_array_size(items), 2);
    json_t *newest = json_array_get(items, 0);
    ASSERT_EQ_STR(json_string_value(json_object_get(newest, "by")), "qianbaod");
    ASSERT_EQ_STR(json_string_value(json_object_get(newest, "detail")), "from_row=1");
    ASSERT(strstr(json_string_value(json_object_get(newest, "reason")),
                  "operator_actions row 1 does not match its seal") != NULL);
    json_decref(body);
}

TEST(the_running_check_finds_a_trail_whose_seals_were_all_removed)
{
    // A trail none of whose rows is sealed passes the trail's own check, as one an earlier
    // version kept before its first start with this one. Whoever can write the database could
    // make a sealed one look so (remove every seal, then edit or delete rows at will): the
    // running daemon's check also holds the database against the chain-head, whose newest seal
    // the trail no longer has, and fails, naming the trail. The data directory's name is not
    // UTF-8 (a path is bytes): the problem naming it is still shown, the byte as U+FFFD.
    struct test_daemon d;
    ASSERT(S_funded_and_stopped("audit-unsealed-\xff", &d));
    char dir[TEST_DAEMON_PATH_SIZE_MAX], log_path[TEST_DAEMON_PATH_SIZE_MAX];
    snprintf(dir, sizeof dir, "%s", d.data_dir);
    snprintf(log_path, sizeof log_path, "%s/audit-unsealed-again.log", S_root);
    ASSERT(test_daemon_start(&d, dir, log_path, NULL));
    char admin[API_TOKEN_SIZE_MAX];
    ASSERT(test_daemon_admin_token(&d, admin, sizeof admin));
    struct client c;
    client_init(&c, d.base_url);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&c, "GET", "/admin/users?limit=1", admin, NULL, &res), 200);
    client_response_release(&res);
    char db[TEST_DAEMON_PATH_SIZE_MAX + 32], head[TEST_DAEMON_PATH_SIZE_MAX + 32];
    snprintf(db, sizeof db, "%s/qianbao.db", dir);
    snprintf(head, sizeof head, "%s/chain-head", dir);
    char rows[32] = "", want[64];
    ASSERT(test_sqlite(db, false, "SELECT max(seq) FROM operator_actions", S_line_copy, rows));
    snprintf(want, sizeof want, " audit=%s seal=", rows);
    static char text[64 * 1024];
    bool named = false;
    for (int waited = 0; !named && waited < 5000; waited += 50) {
        named = test_file_read(head, text, sizeof text) && strstr(text, want) != NULL;
        if (!named)
            usleep(50 * 1000);
    }
    ASSERT(named);
    json_t *state = NULL;
    ASSERT(S_check_on(&c, admin, &state));
    ASSERT_EQ_STR(json_string_value(json_object_get(state, "status")), "ok");
    json_decref(state);

    ASSERT(test_sqlite(db, true, "UPDATE operator_actions SET mac = x''", NULL, NULL));
    state = NULL;
    bool checked = S_check_on(&c, admin, &state);
    client_release(&c);
    test_daemon_stop(&d);
    ASSERT(checked);
    ASSERT_EQ_STR(json_string_value(json_object_get(state, "status")), "failed");
    const char *problem = json_string_value(json_object_get(state, "problem"));
    if (problem == NULL || strstr(problem, "operators' audit trail") == NULL)
        TEST_FAIL_("the check's problem does not name the audit trail: %s",
                   problem != NULL ? problem : "(none)");
    /* Whole, to what the operator runs next, as the start and --verify print it. */
    if (strstr(problem, "run qianbaod --reseal-audit-trail") == NULL)
        TEST_FAIL_("the check's problem is cut before what to do: %s", problem);
    if (strstr(problem, "audit-unsealed-\xef\xbf\xbd/qianbao.db") == NULL)
        TEST_FAIL_("the check's problem does not name the directory: %s", problem);
    json_decref(state);
}

TEST(the_repair_refuses_a_journal_that_fails_its_own_checks)
{
    // The main daemon's journal had an entry altered (above): the journal is the record, and the
    // repair must not write checkpoints from a broken one. It refuses, says to restore, and
    // leaves everything as it was.
    char db[TEST_DAEMON_PATH_SIZE_MAX + 16];
    snprintf(db, sizeof db, "%s/qianbao.db", S_daemon.data_dir);
    char before[8192], after[8192];
    S_derived_state(db, before, sizeof before);
    ASSERT(before[0] != '\0');
    static char text[64 * 1024];
    ASSERT_EQ_INT(
        S_repair("--rebuild-checkpoints", S_daemon.data_dir, "rebuild-broken", text, sizeof text),
        1);
    if (strstr(text,
               "rebuild: REFUSED (the journal itself fails its checks: restore the last "
               "backup that verifies; nothing was written): hash chain broken at entry ") == NULL)
        TEST_FAIL_("no refusal naming the broken chain in:\n%s", text);
    S_derived_state(db, after, sizeof after);
    ASSERT_EQ_STR(after, before);
}

/* The date (UTC+8) offset_ms after now, as "YYYY-MM-DD". */
static void S_date_after(long long offset_ms, char date[16])
{
    time_t at = (time_t)((long long)time(NULL) + offset_ms / 1000 + 8 * 3600);
    struct tm tm;
    gmtime_r(&at, &tm);
    strftime(date, 16, "%Y-%m-%d", &tm);
}

TEST(the_check_reads_the_day_by_the_ledgers_clock)
{
    // The day's close and the check's times came from the system clock while every entry was
    // stamped by the ledger's: under a clock that is not the system's (a test's, here three
    // days on), the close was of another day than the entries and empty, and the check
    // "started" days before its own last entry.
    const long long offset_ms = 3LL * 24 * 3600 * 1000;
    struct test_daemon d;
    struct client c;
    char admin[API_TOKEN_SIZE_MAX], before[16], after[16];
    setenv("QIANBAO_TEST_CLOCK_OFFSET_MS", "259200000", 1);
    bool started = api_daemon_start(&d, S_root, "clock", NULL, admin);
    unsetenv("QIANBAO_TEST_CLOCK_OFFSET_MS");
    ASSERT(started);
    client_init(&c, d.base_url);
    struct api_user u;
    ASSERT(th_user_new(&c, admin, &u));
    ASSERT(th_fund(&c, admin, &u, 5000));
    S_date_after(offset_ms, before);
    json_t *state = NULL;
    ASSERT(S_check_on(&c, admin, &state));
    S_date_after(offset_ms, after);
    ASSERT_EQ_STR(json_string_value(json_object_get(state, "status")), "ok");
    const char *day_close =
        json_string_value(json_object_get(json_object_get(state, "day_close"), "at"));
    const char *started_at = json_string_value(json_object_get(state, "started_at"));
    const char *last_entry_at = json_string_value(json_object_get(state, "last_entry_at"));
    ASSERT(day_close != NULL && started_at != NULL && last_entry_at != NULL);
    if ((strncmp(started_at, before, 10) != 0 && strncmp(started_at, after, 10) != 0) ||
        strncmp(day_close, started_at, 10) != 0 || strcmp(day_close + 10, "T00:00:00+08:00") != 0 ||
        strcmp(started_at, last_entry_at) < 0)
        TEST_FAIL_("three days on: started_at %s, day_close %s, last entry %s", started_at,
                   day_close, last_entry_at);
    json_decref(state);
    client_release(&c);
    ASSERT_EQ_INT(test_daemon_stop(&d), 0);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    if (!api_suite_daemon(&suite, &S_daemon, "main", NULL, S_admin, &S_client))
        return api_suite_end(&suite);

    RUN(before_any_check_there_is_nothing_to_read);
    RUN(a_sound_ledger_passes_with_every_entry_counted);
    RUN(an_altered_entry_fails_the_check_and_names_it);
    RUN(the_offline_check_says_the_books_disagree_and_where); /* stops the daemon */
    RUN(a_damaged_file_fails_the_offline_check_though_the_books_add_up);
    RUN(a_checkpoint_a_start_would_not_catch_up_fails_the_offline_check);
    RUN(the_repair_rebuilds_what_a_start_trusts_from_the_journal);
    RUN(the_running_check_finds_a_trail_whose_seals_were_all_removed);
    RUN(the_repair_refuses_a_journal_that_fails_its_own_checks);
    RUN(an_older_copy_of_the_database_is_refused_until_it_is_meant);
    RUN(a_database_lost_beside_its_wal_is_named_so);
    RUN(secrets_of_another_installation_fail_the_check);
    RUN(the_operators_audit_trail_cut_or_altered_is_found);
    RUN(the_check_reads_the_day_by_the_ledgers_clock);

    return api_suite_end(&suite);
}

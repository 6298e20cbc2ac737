/*
 * test_audit.c — the operators' audit trail: a row written in the
 * command's own transaction, as the command ended, and read back newest
 * first with its filters; each row sealed after the one before, so that
 * whoever can write the database without the chain key cannot change,
 * remove or make up one unseen.
 */
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "domain/audit.h"
#include "test.h"

#define START_MS INT64_C(1795276800000) /* 2026-11-22T00:00:00+08:00 */

static char dir[512];
static struct qb_clock clock_;
static struct ledger_options options;
static struct store *writer;
static struct store *reader;
static struct ledger *ledger;

static void start(void)
{
    char db_path[640], err[256];
    snprintf(db_path, sizeof db_path, "%s/qianbao.db", dir);
    if (store_open(db_path, STORE_MODE_WRITE, &writer, err, sizeof err) != QB_OK)
        TEST_FAIL_("store_open(write): %s", err);
    if (ledger_open(writer, &options, &ledger) != QB_OK)
        TEST_FAIL_("ledger_open");
    if (store_open(db_path, STORE_MODE_READ, &reader, err, sizeof err) != QB_OK)
        TEST_FAIL_("store_open(read): %s", err);
}

static void stop(void)
{
    ledger_close(ledger);
    store_close(writer);
    store_close(reader);
}

/* An operator's command as the domain writes them: it writes a row of its
 * own (a meta key), then keeps it (QB_OK) with an outcome, or fails. */
struct op_cmd {
    struct ledger_cmd cmd;
    const char *key;
    enum qb_error run_result;
    enum qb_error outcome;
    bool changed;
    struct domain_audit audit;
};

static enum qb_error op_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct op_cmd *c = (struct op_cmd *)cmd;
    const struct store_param p[] = {STORE_TEXT(c->key)};
    if (store_run(ledger_txn_store(txn), "INSERT INTO meta (key, value) VALUES ($1, 1)", p, 1) !=
        QB_OK)
        return QB_E_STORAGE;
    return c->run_result;
}

/* Runs an op_cmd with (audited) or without an audit by `by` of a freeze
 * of target; answers the ledger result. */
static enum qb_error op_exec(const char *key, enum qb_error run_result, enum qb_error outcome,
                             bool changed, bool audited, const char *by, const char *target)
{
    struct op_cmd c;
    memset(&c, 0, sizeof c);
    ledger_cmd_init(&c.cmd, op_run, NULL);
    c.key = key;
    c.run_result = run_result;
    c.outcome = outcome;
    c.changed = changed;
    if (audited) {
        snprintf(c.audit.by, sizeof c.audit.by, "%s", by);
        snprintf(c.audit.action, sizeof c.audit.action, "freeze");
        snprintf(c.audit.target, sizeof c.audit.target, "%s", target);
        snprintf(c.audit.reason, sizeof c.audit.reason, "ticket 42");
        snprintf(c.audit.request_id, sizeof c.audit.request_id, "req_%s", key);
        c.audit.outcome = &c.outcome;
        c.audit.changed = &c.changed;
        domain_audit_attach(&c.audit, &c.cmd);
    }
    enum qb_error rc = ledger_execute(ledger, &c.cmd); /* the command's result */
    ledger_cmd_release(&c.cmd);
    ASSERT_EQ_INT(rc, c.cmd.result);
    return rc;
}

static size_t list(const struct domain_audit_filter *filter, int64_t before,
                   struct domain_audit_row *rows, size_t max)
{
    size_t count = 0;
    ASSERT_EQ_INT(domain_audit_list(reader, filter, before, rows, max, &count), QB_OK);
    return count;
}

static bool meta_has(const char *key)
{
    struct store_stmt *st = NULL;
    ASSERT_EQ_INT(store_prepare(reader, "SELECT 1 FROM meta WHERE key = $1", &st), QB_OK);
    ASSERT_EQ_INT(store_bind_text(st, 1, key, strlen(key)), QB_OK);
    bool found = store_step(st) == STORE_STEP_ROW;
    store_finalize(st);
    return found;
}

TEST(an_operators_command_leaves_its_row_as_it_ended)
{
    /* The record is the command's: what it did (changed), and a refusal it
     * answered itself too (who tried what), each with who, why and the
     * request, in the same transaction as the action. */
    ASSERT_EQ_INT(op_exec("a1", QB_OK, QB_OK, true, true, "admin:alice", "u_1"), QB_OK);
    ASSERT_EQ_INT(op_exec("a2", QB_OK, QB_E_CONFLICT, false, true, "admin", "u_2"), QB_OK);
    struct domain_audit_filter all = {0};
    struct domain_audit_row rows[4];
    ASSERT_EQ_INT(list(&all, 0, rows, 4), 2);
    ASSERT_EQ_STR(rows[0].by, "admin");
    ASSERT_EQ_STR(rows[0].target, "u_2");
    ASSERT_EQ_STR(rows[0].result, "CONFLICT");
    ASSERT(!rows[0].changed);
    ASSERT_EQ_STR(rows[1].by, "admin:alice");
    ASSERT_EQ_STR(rows[1].action, "freeze");
    ASSERT_EQ_STR(rows[1].target, "u_1");
    ASSERT_EQ_STR(rows[1].reason, "ticket 42");
    ASSERT_EQ_STR(rows[1].result, "ok");
    ASSERT_EQ_STR(rows[1].request_id, "req_a1");
    ASSERT(rows[1].changed);
    ASSERT_EQ_INT(rows[1].at_ms, START_MS);
    ASSERT(rows[0].seq > rows[1].seq);
}

TEST(a_command_that_fails_leaves_no_row)
{
    /* A command rolled back did nothing: a row saying it acted would lie
     * to the auditor, so the row goes with the command's own writes. */
    struct domain_audit_filter all = {0};
    struct domain_audit_row rows[8];
    size_t before = list(&all, 0, rows, 8);
    ASSERT_EQ_INT(op_exec("f1", QB_E_CONFLICT, QB_OK, true, true, "admin:alice", "u_3"),
                  QB_E_CONFLICT);
    ASSERT(!meta_has("f1"));
    ASSERT_EQ_INT(list(&all, 0, rows, 8), before);
    struct domain_audit_filter of_u3 = {.target = "u_3"};
    ASSERT_EQ_INT(list(&of_u3, 0, rows, 8), 0);
}

/* Runs sql on the database through a connection of its own, beside the
 * ledger's (WAL: between the ledger's batches). */
static void sql_side(const char *sql)
{
    char db_path[640];
    snprintf(db_path, sizeof db_path, "%s/qianbao.db", dir);
    sqlite3 *db = NULL;
    ASSERT_EQ_INT(sqlite3_open(db_path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char *message = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &message) != SQLITE_OK)
        TEST_FAIL_("%s: %s", sql, message != NULL ? message : "?");
    sqlite3_free(message);
    sqlite3_close(db);
}

TEST(an_action_whose_row_cannot_be_written_does_not_happen)
{
    /* The other half of "in the same transaction": a row that fails takes
     * its action with it, so that no action stands without its record. */
    sql_side("CREATE TRIGGER audit_refused BEFORE INSERT ON operator_actions"
             " BEGIN SELECT RAISE(ABORT, 'refused'); END;");
    ASSERT_EQ_INT(op_exec("r1", QB_OK, QB_OK, true, true, "admin:alice", "u_4"), QB_E_STORAGE);
    ASSERT(!meta_has("r1"));
    /* A command without an audit is not held up by the trail. */
    ASSERT_EQ_INT(op_exec("r2", QB_OK, QB_OK, true, false, "", ""), QB_OK);
    ASSERT(meta_has("r2"));
    sql_side("DROP TRIGGER audit_refused;");
    ASSERT_EQ_INT(op_exec("r3", QB_OK, QB_OK, true, true, "admin:alice", "u_4"), QB_OK);
    ASSERT(meta_has("r3"));
}

TEST(commands_without_an_audit_write_none)
{
    /* A user's transfer is no operator's action: it writes its own rows
     * and nothing in the trail. */
    struct domain_audit_filter all = {0};
    struct domain_audit_row rows[8];
    size_t before = list(&all, 0, rows, 8);
    ASSERT_EQ_INT(op_exec("n1", QB_OK, QB_OK, true, false, "", ""), QB_OK);
    ASSERT(meta_has("n1"));
    ASSERT_EQ_INT(list(&all, 0, rows, 8), before);
}

TEST(the_list_filters_and_pages)
{
    /* An auditor reads one operator's actions, or one user's history, or
     * a night's, a page at a time. */
    clock_manual_advance(&clock_, 3600 * 1000);
    for (int i = 0; i < 5; i++) {
        char key[16];
        snprintf(key, sizeof key, "p%d", i);
        ASSERT_EQ_INT(
            op_exec(key, QB_OK, QB_OK, true, true, i % 2 ? "admin:bob" : "admin:carol", "u_9"),
            QB_OK);
    }
    struct domain_audit_row rows[8];
    struct domain_audit_filter bob = {.by = "admin:bob"};
    ASSERT_EQ_INT(list(&bob, 0, rows, 8), 2);
    struct domain_audit_filter u9 = {.target = "u_9", .action = "freeze"};
    ASSERT_EQ_INT(list(&u9, 0, rows, 2), 2);
    int64_t next = rows[1].seq;
    ASSERT_EQ_INT(list(&u9, next, rows, 8), 3);
    ASSERT(rows[0].seq < next);
    struct domain_audit_filter later = {.from_ms = START_MS + 1};
    ASSERT_EQ_INT(list(&later, 0, rows, 8), 5);
    struct domain_audit_filter earlier = {.to_ms = START_MS + 1};
    ASSERT_EQ_INT(list(&earlier, 0, rows, 8), 3); /* a1, a2, r3 */
    struct domain_audit_filter none = {.action = "unfreeze"};
    ASSERT_EQ_INT(list(&none, 0, rows, 8), 0);
}

TEST(a_target_is_an_id_a_name_or_a_phone_and_nothing_else)
{
    /* Targets come from paths and queries an operator typed: what the
     * trail keeps is one token an auditor can filter by and a terminal
     * shows as it is, never a control character, a space or a quote. */
    ASSERT(domain_audit_target_is_valid("u_1xfgw94m7frxdsx00r965qqd0s"));
    ASSERT(domain_audit_target_is_valid("13800138000"));
    ASSERT(domain_audit_target_is_valid("li.wei-2"));
    ASSERT(!domain_audit_target_is_valid(""));
    ASSERT(!domain_audit_target_is_valid("u x"));
    ASSERT(!domain_audit_target_is_valid("u\x1b[2J"));
    ASSERT(!domain_audit_target_is_valid("'; DROP TABLE operator_actions;--"));
    char longest[DOMAIN_AUDIT_TARGET_SIZE_MAX];
    memset(longest, 'a', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    ASSERT(domain_audit_target_is_valid(longest));
    char too_long[DOMAIN_AUDIT_TARGET_SIZE_MAX + 1];
    memset(too_long, 'a', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    ASSERT(!domain_audit_target_is_valid(too_long));
}

TEST(the_rows_outlive_a_restart)
{
    /* The trail is in the database, not the log: a restart keeps it. */
    stop();
    start();
    struct domain_audit_filter alice = {.by = "admin:alice", .target = "u_1"};
    struct domain_audit_row rows[4];
    ASSERT_EQ_INT(list(&alice, 0, rows, 4), 1);
    ASSERT_EQ_STR(rows[0].request_id, "req_a1");
}

/* --- the seals ------------------------------------------------------------ */

static const uint8_t key[32] = {7,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                                16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

static int64_t sql_int(const char *sql)
{
    struct store_stmt *st = NULL;
    ASSERT_EQ_INT(store_prepare(reader, sql, &st), QB_OK);
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    int64_t v = store_column_int64(st, 0);
    store_finalize(st);
    return v;
}

/* The newest row's seq and seal as stored. */
static int64_t newest(uint8_t mac[CRYPTO_SHA256_SIZE])
{
    struct store_stmt *st = NULL;
    ASSERT_EQ_INT(store_prepare(reader,
                                "SELECT seq, mac FROM operator_actions ORDER BY seq DESC LIMIT 1",
                                &st),
                  QB_OK);
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    int64_t seq = store_column_int64(st, 0);
    ASSERT_EQ_INT((long long)store_column_size(st, 1), CRYPTO_SHA256_SIZE);
    memcpy(mac, store_column_blob(st, 1), CRYPTO_SHA256_SIZE);
    store_finalize(st);
    return seq;
}

/* The check of the whole trail: its result, the rows it passed, what it
 * named. */
static enum qb_error check(const uint8_t *with_key, int64_t *rows, char *problem, size_t size)
{
    problem[0] = '\0';
    return domain_audit_check(reader, with_key, rows, problem, size);
}

TEST(every_row_is_sealed_after_the_one_before)
{
    int64_t rows = 0;
    char problem[256];
    ASSERT_EQ_INT(check(key, &rows, problem, sizeof problem), QB_OK);
    ASSERT_EQ_INT(rows, sql_int("SELECT count(*) FROM operator_actions"));
    ASSERT(rows >= 8);
    /* Only the key's holder writes seals that pass. */
    ASSERT_EQ_INT(check(NULL, &rows, problem, sizeof problem), QB_E_INTERNAL);
    ASSERT(strstr(problem, "operator_actions row 1 does not match its seal") != NULL);
    /* The newest durable seal is the newest row's: what the daemon keeps
     * outside the database. A command rolled back seals nothing. */
    uint8_t mac[CRYPTO_SHA256_SIZE], durable[CRYPTO_SHA256_SIZE];
    int64_t seq = newest(mac), durable_seq = 0;
    ledger_durable_seal(ledger, &durable_seq, durable);
    ASSERT_EQ_INT(op_exec("s1", QB_E_CONFLICT, QB_OK, true, true, "admin:alice", "u_5"),
                  QB_E_CONFLICT);
    ASSERT_EQ_INT(op_exec("s2", QB_OK, QB_OK, true, true, "admin:alice", "u_5"), QB_OK);
    ledger_durable_seal(ledger, &durable_seq, durable);
    ASSERT_EQ_INT(durable_seq, seq + 1);
    ASSERT_EQ_INT(newest(mac), seq + 1);
    ASSERT(memcmp(mac, durable, sizeof mac) == 0);
    ASSERT_EQ_INT(domain_audit_head_check(reader, durable_seq, durable, &seq), QB_OK);
    ASSERT_EQ_INT(seq, durable_seq);
}

TEST(a_row_changed_removed_or_put_in_breaks_the_seals)
{
    /* Whoever can write the database, without the key: a reason edited,
     * a row deleted, a row made up with a seal copied from another. */
    int64_t rows = 0;
    char problem[256];
    sql_side("UPDATE operator_actions SET reason = 'nothing to see' WHERE seq = 2");
    ASSERT_EQ_INT(check(key, &rows, problem, sizeof problem), QB_E_INTERNAL);
    ASSERT(strstr(problem, "operator_actions row 2 does not match its seal") != NULL);
    sql_side("UPDATE operator_actions SET reason = 'ticket 42' WHERE seq = 2");
    ASSERT_EQ_INT(check(key, &rows, problem, sizeof problem), QB_OK);

    sql_side("CREATE TABLE saved AS SELECT * FROM operator_actions WHERE seq = 3;"
             "DELETE FROM operator_actions WHERE seq = 3;");
    ASSERT_EQ_INT(check(key, &rows, problem, sizeof problem), QB_E_INTERNAL);
    ASSERT(strstr(problem, "operator_actions row 4 does not match its seal") != NULL);
    sql_side("INSERT INTO operator_actions SELECT * FROM saved; DROP TABLE saved;");
    ASSERT_EQ_INT(check(key, &rows, problem, sizeof problem), QB_OK);

    uint8_t mac[CRYPTO_SHA256_SIZE];
    int64_t seq = newest(mac), last = 0;
    sql_side("INSERT INTO operator_actions SELECT seq + 1, at_ms, actor, 'unfreeze', target,"
             " detail, reason, result, changed, request_id, mac FROM operator_actions"
             " WHERE seq = (SELECT max(seq) FROM operator_actions)");
    ASSERT_EQ_INT(check(key, &rows, problem, sizeof problem), QB_E_INTERNAL);
    char want[64];
    snprintf(want, sizeof want, "row %lld does not match its seal", (long long)(seq + 1));
    ASSERT(strstr(problem, want) != NULL);
    sql_side("DELETE FROM operator_actions WHERE seq = (SELECT max(seq) FROM operator_actions)");

    /* A row numbered as the daemon never numbers one is named, not
     * trusted (nor a reason to stop the check). */
    sql_side("INSERT INTO operator_actions SELECT -1, at_ms, actor, action, target, detail,"
             " reason, result, changed, request_id, mac FROM operator_actions WHERE seq = 1");
    ASSERT_EQ_INT(check(key, &rows, problem, sizeof problem), QB_E_INTERNAL);
    ASSERT(strstr(problem, "operator_actions row -1 is not one the daemon writes") != NULL);
    sql_side("DELETE FROM operator_actions WHERE seq = -1");

    /* Rows cut off the end leave a shorter trail whose seals all hold:
     * the seal kept outside the database finds them. */
    sql_side("CREATE TABLE saved AS SELECT * FROM operator_actions WHERE seq ="
             " (SELECT max(seq) FROM operator_actions);"
             "DELETE FROM operator_actions WHERE seq = (SELECT max(seq) FROM operator_actions);");
    ASSERT_EQ_INT(check(key, &rows, problem, sizeof problem), QB_OK);
    ASSERT_EQ_INT(domain_audit_head_check(reader, seq, mac, &last), QB_E_NOT_FOUND);
    ASSERT_EQ_INT(last, seq - 1);
    sql_side("INSERT INTO operator_actions SELECT * FROM saved; DROP TABLE saved;");
    ASSERT_EQ_INT(domain_audit_head_check(reader, seq, mac, &last), QB_OK);
    uint8_t other[CRYPTO_SHA256_SIZE];
    memcpy(other, mac, sizeof other);
    other[0] ^= 1;
    ASSERT_EQ_INT(domain_audit_head_check(reader, seq, other, &last), QB_E_CONFLICT);

    /* A newest row stripped of its seal: nothing goes after it, and the
     * check says so. */
    sql_side("CREATE TABLE saved AS SELECT seq, mac FROM operator_actions WHERE seq ="
             " (SELECT max(seq) FROM operator_actions);"
             "UPDATE operator_actions SET mac = x'' WHERE seq = (SELECT seq FROM saved);");
    ASSERT_EQ_INT(op_exec("s3", QB_OK, QB_OK, true, true, "admin:alice", "u_6"), QB_E_STORAGE);
    ASSERT(!meta_has("s3"));
    ASSERT_EQ_INT(check(key, &rows, problem, sizeof problem), QB_E_INTERNAL);
    snprintf(want, sizeof want, "row %lld has no seal", (long long)seq);
    ASSERT(strstr(problem, want) != NULL);
    sql_side("UPDATE operator_actions SET mac = (SELECT mac FROM saved) WHERE seq ="
             " (SELECT seq FROM saved); DROP TABLE saved;");
    ASSERT_EQ_INT(check(key, &rows, problem, sizeof problem), QB_OK);
}

TEST(a_trail_an_earlier_version_kept_is_sealed_at_its_first_start)
{
    /* Rows written before the seals: the first start seals them as they
     * stand, to the same seals as rows written sealed (the seal is the
     * row's and the one before it's), and a trail half sealed is one
     * altered, refused. */
    uint8_t mac[CRYPTO_SHA256_SIZE], opened[CRYPTO_SHA256_SIZE];
    int64_t seq = newest(mac), rows = -1, opened_seq = 0;
    char problem[256];
    stop();
    sql_side("UPDATE operator_actions SET mac = x''");
    start();
    ASSERT_EQ_INT(check(key, &rows, problem, sizeof problem), QB_OK);
    ASSERT_EQ_INT(rows, 0);
    ASSERT_EQ_INT(domain_audit_open(ledger, &opened_seq, opened), QB_OK);
    ASSERT_EQ_INT(opened_seq, seq);
    ASSERT(memcmp(opened, mac, sizeof mac) == 0);
    ASSERT_EQ_INT(check(key, &rows, problem, sizeof problem), QB_OK);
    ASSERT_EQ_INT(rows, sql_int("SELECT count(*) FROM operator_actions"));
    /* Opened again: nothing to seal, the newest seal as it is. */
    ASSERT_EQ_INT(domain_audit_open(ledger, &opened_seq, opened), QB_OK);
    ASSERT_EQ_INT(opened_seq, seq);

    sql_side("UPDATE operator_actions SET mac = x'' WHERE seq = 1");
    ASSERT_EQ_INT(check(key, &rows, problem, sizeof problem), QB_E_INTERNAL);
    ASSERT(strstr(problem, "operator_actions row 2 is sealed, but the rows before it are not") !=
           NULL);
    sql_side("UPDATE operator_actions SET mac = x'' WHERE seq > 1");
    sql_side("UPDATE operator_actions SET mac = x'00' WHERE seq = 1");
    ASSERT_EQ_INT(domain_audit_open(ledger, &opened_seq, opened), QB_E_INTERNAL);
    sql_side("UPDATE operator_actions SET mac = x''");
    ASSERT_EQ_INT(domain_audit_open(ledger, &opened_seq, opened), QB_OK);
    ASSERT(memcmp(opened, mac, sizeof mac) == 0);
}

TEST(a_reseal_seals_the_trail_as_it_stands_and_says_so)
{
    /* The repair offline: a sound trail's seals stay as they were; an
     * edited row's and every one after it change, and the repair is a row
     * sealed after them. */
    stop();
    char db_path[640], err[256];
    snprintf(db_path, sizeof db_path, "%s/qianbao.db", dir);
    struct store *w = NULL;
    if (store_open(db_path, STORE_MODE_WRITE, &w, err, sizeof err) != QB_OK)
        TEST_FAIL_("store_open(write): %s", err);
    struct domain_audit_reseal_report report;
    ASSERT_EQ_INT(domain_audit_reseal(w, key, START_MS, "a drill", &report), QB_OK);
    ASSERT_EQ_INT(report.first_changed, 0);
    int64_t sound = report.seq;
    ASSERT_EQ_INT(store_run(w, "UPDATE operator_actions SET target = 'u_0' WHERE seq = 3", NULL, 0),
                  QB_OK);
    ASSERT_EQ_INT(domain_audit_reseal(w, key, START_MS, "row 3 does not match its seal", &report),
                  QB_OK);
    ASSERT_EQ_INT(report.first_changed, 3);
    ASSERT_EQ_INT(report.seq, sound + 1);
    ASSERT_EQ_INT(report.rows, sound);
    store_close(w);
    start();
    int64_t rows = 0;
    char problem[256];
    ASSERT_EQ_INT(check(key, &rows, problem, sizeof problem), QB_OK);
    ASSERT_EQ_INT(rows, sound + 1);
    uint8_t mac[CRYPTO_SHA256_SIZE];
    ASSERT_EQ_INT(newest(mac), report.seq);
    ASSERT(memcmp(mac, report.mac, sizeof mac) == 0);
    struct domain_audit_filter repairs = {.by = DOMAIN_AUDIT_BY_DAEMON};
    struct domain_audit_row found[4];
    ASSERT_EQ_INT(list(&repairs, 0, found, 4), 2);
    ASSERT_EQ_STR(found[0].action, "audit_resealed");
    ASSERT_EQ_STR(found[0].detail, "from_row=3");
    ASSERT_EQ_STR(found[0].reason, "row 3 does not match its seal");
    ASSERT_EQ_STR(found[1].detail, "from_row=0");
    /* The ledger goes on from the repair's seal. */
    ASSERT_EQ_INT(op_exec("s4", QB_OK, QB_OK, true, true, "admin:alice", "u_7"), QB_OK);
    ASSERT_EQ_INT(check(key, &rows, problem, sizeof problem), QB_OK);
}

TEST(a_refusal_after_part_of_it_was_done_says_it_changed)
{
    /* An operator's query that records a payment paid, though the return the bank also
     * reported could not be posted, is refused ACCOUNT_FROZEN and changed all the same. */
    ASSERT_EQ_INT(op_exec("z1", QB_OK, QB_E_ACCOUNT_FROZEN, true, true, "admin", "p_z1"), QB_OK);
    ASSERT_EQ_INT(op_exec("z2", QB_OK, QB_E_ACCOUNT_FROZEN, false, true, "admin", "p_z2"), QB_OK);
    struct domain_audit_filter all = {0};
    struct domain_audit_row rows[2];
    ASSERT_EQ_INT(list(&all, 0, rows, 2), 2);
    ASSERT_EQ_STR(rows[0].target, "p_z2");
    ASSERT(!rows[0].changed);
    ASSERT_EQ_STR(rows[1].target, "p_z1");
    ASSERT_EQ_STR(rows[1].result, "ACCOUNT_FROZEN");
    ASSERT(rows[1].changed);
}

int main(void)
{
    if (!crypto_init())
        return 1;
    test_tmpdir(dir, sizeof dir);
    clock_manual_init(&clock_, START_MS);
    options.clock = &clock_;
    options.chain_key = key;
    options.chain_key_new = true;
    start();
    RUN(an_operators_command_leaves_its_row_as_it_ended);
    RUN(a_command_that_fails_leaves_no_row);
    RUN(an_action_whose_row_cannot_be_written_does_not_happen);
    RUN(commands_without_an_audit_write_none);
    RUN(the_list_filters_and_pages);
    RUN(a_target_is_an_id_a_name_or_a_phone_and_nothing_else);
    RUN(the_rows_outlive_a_restart);
    RUN(every_row_is_sealed_after_the_one_before);
    RUN(a_row_changed_removed_or_put_in_breaks_the_seals);
    RUN(a_trail_an_earlier_version_kept_is_sealed_at_its_first_start);
    RUN(a_reseal_seals_the_trail_as_it_stands_and_says_so);
    RUN(a_refusal_after_part_of_it_was_done_says_it_changed);
    stop();
    test_rmtree(dir);
    return test_summary();
}

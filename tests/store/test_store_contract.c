/*
 * test_store_contract.c — the storage contract, run against every backend.
 *
 * Every module above src/store relies on these promises and nothing else,
 * so a backend that passes this suite can replace another. Each case below
 * runs once per entry of contract_backends; the cases use only store.h and
 * the portable SQL subset, except for table definitions, which come from
 * the backend entry (BLOB is BYTEA in PostgreSQL).
 *
 * To add a backend: 1) add an entry to contract_backends with a setup that
 * answers its URL (PostgreSQL: a fresh schema on the server named by an
 * environment variable, skipped when unset) and a teardown; 2) give it the
 * DDL of the contract table; 3) run this program.
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/schema.h"
#include "store/store.h"
#include "test.h"

#define CONTRACT_URL_SIZE_MAX 4200
#define SQL_INSERT_KI "INSERT INTO contract_values (k, i) VALUES ($1, $2)"
#define SQL_INSERT_IK "INSERT INTO contract_values (i, k) VALUES ($2, $1)"

struct contract_backend {
    const char *name;
    /* Answers the URL of a fresh, empty database in url, keeping whatever
     * teardown needs in dir; false when the backend is not configured here
     * (e.g. no PostgreSQL server given), which skips it. */
    bool (*setup)(char *url, size_t url_size, char *dir, size_t dir_size);
    void (*teardown)(const char *dir);
    /* The contract table: k is the key, i/t/b hold one value of each type. */
    const char *ddl_values;
    size_t migration_count;
    /* dir is the database's directory, and STORE_MODE_READ_OFFLINE on a
     * closed database makes no file in it (SQLite without a WAL to read). */
    bool offline_makes_no_file;
};

static bool sqlite_setup(char *url, size_t url_size, char *dir, size_t dir_size)
{
    test_tmpdir(dir, dir_size);
    int n = snprintf(url, url_size, "file:%s/contract.db", dir);
    return n > 0 && (size_t)n < url_size;
}

static void sqlite_teardown(const char *dir) { test_rmtree(dir); }

static struct contract_backend contract_backends[] = {
    {
        .name = "sqlite",
        .setup = sqlite_setup,
        .teardown = sqlite_teardown,
        .ddl_values =
            "CREATE TABLE contract_values (k BIGINT PRIMARY KEY, i BIGINT, t TEXT, b BLOB)",
        .migration_count = 0, /* set in main from store_sqlite_migration_count */
        .offline_makes_no_file = true,
    },
    /* PostgreSQL, once store_postgres.c exists:
     * { .name = "postgres", .setup = postgres_setup (url from
     *   $QB_TEST_POSTGRES_URL, a fresh schema per case; false when unset),
     *   .teardown = postgres_teardown (DROP SCHEMA ... CASCADE),
     *   .ddl_values = "... b BYTEA)", .migration_count = store_postgres_migration_count }, */
};

/* The backend the cases below run against, and the database of the case. */
static const struct contract_backend *backend;
static char case_url[CONTRACT_URL_SIZE_MAX];
static char case_dir[CONTRACT_URL_SIZE_MAX];

/* A fresh database with the contract table, through a write connection. */
static struct store *case_open(void)
{
    if (!backend->setup(case_url, sizeof case_url, case_dir, sizeof case_dir))
        TEST_FAIL_("backend %s: setup failed", backend->name);
    char err[256];
    struct store *store = NULL;
    enum qb_error rc = store_open(case_url, STORE_MODE_WRITE, &store, err, sizeof err);
    if (rc != QB_OK)
        TEST_FAIL_("store_open(%s): %d: %s", case_url, (int)rc, err);
    rc = store_exec(store, backend->ddl_values);
    if (rc != QB_OK)
        TEST_FAIL_("create contract_values: %s", store_last_error(store));
    return store;
}

static void case_close(struct store *store)
{
    store_close(store);
    backend->teardown(case_dir);
}

static void insert_int(struct store *store, int64_t k, int64_t i, enum qb_error expected)
{
    struct store_stmt *st = NULL;
    ASSERT_EQ_INT(store_prepare(store, SQL_INSERT_KI, &st),
                  QB_OK);
    ASSERT_EQ_INT(store_bind_int64(st, 1, k), QB_OK);
    ASSERT_EQ_INT(store_bind_int64(st, 2, i), QB_OK);
    enum qb_error rc = store_step_done(st);
    store_finalize(st);
    ASSERT_EQ_INT(rc, expected);
}

/* The keys in the table in ascending order, written as "1,2,4" into buf. */
static void keys_of(struct store *store, char *buf, size_t buf_size)
{
    struct store_stmt *st = NULL;
    ASSERT_EQ_INT(store_prepare(store, "SELECT k FROM contract_values ORDER BY k", &st), QB_OK);
    size_t used = 0;
    buf[0] = '\0';
    int rc;
    while ((rc = store_step(st)) == STORE_STEP_ROW) {
        int n = snprintf(buf + used, buf_size - used, "%s%" PRId64, used ? "," : "",
                         store_column_int64(st, 0));
        ASSERT(n > 0 && (size_t)n < buf_size - used);
        used += (size_t)n;
    }
    store_finalize(st);
    ASSERT_EQ_INT(rc, STORE_STEP_DONE);
}

static int64_t count_rows(struct store *store)
{
    struct store_stmt *st = NULL;
    if (store_prepare(store, "SELECT COUNT(*) FROM contract_values", &st) != QB_OK)
        TEST_FAIL_("prepare count: %s", store_last_error(store));
    int rc = store_step(st);
    int64_t n = rc == STORE_STEP_ROW ? store_column_int64(st, 0) : -1;
    store_finalize(st);
    ASSERT_EQ_INT(rc, STORE_STEP_ROW);
    return n;
}

TEST(int64_round_trips)
{
    // Amounts are int64 minor units: the extremes and signs must come back bit-exact.
    struct store *store = case_open();
    const int64_t values[] = {INT64_MIN, INT64_MIN + 1, -1, 0, 1, 1234, INT64_MAX - 1, INT64_MAX};
    for (size_t n = 0; n < QB_ARRAY_COUNT(values); n++)
        insert_int(store, (int64_t)n, values[n], QB_OK);

    struct store_stmt *st = NULL;
    ASSERT_EQ_INT(store_prepare(store, "SELECT i FROM contract_values WHERE k = $1", &st), QB_OK);
    for (size_t n = 0; n < QB_ARRAY_COUNT(values); n++) {
        ASSERT_EQ_INT(store_bind_int64(st, 1, (int64_t)n), QB_OK);
        ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
        ASSERT(!store_column_is_null(st, 0));
        ASSERT_EQ_INT(store_column_int64(st, 0), values[n]);
        ASSERT_EQ_INT(store_step(st), STORE_STEP_DONE);
        store_reset(st);
    }
    store_finalize(st);
    case_close(store);
}

TEST(text_blob_null_round_trip)
{
    // Names are UTF-8, hashes and postings are binary with NUL bytes, and NULL must stay NULL.
    struct store *store = case_open();
    static const char text[] = "钱包 Qianbao — ünïcødé 🧧";
    static const unsigned char blob[] = {0x00, 0x01, 0x00, 0xff, 0x00, 0x7f, 0x00};

    struct store_stmt *st = NULL;
    ASSERT_EQ_INT(store_prepare(store,
                                "INSERT INTO contract_values (k, i, t, b) VALUES ($1, $2, $3, $4)",
                                &st),
                  QB_OK);
    /* 1: values; 2: NULLs; 3: empty text and blob, which are not NULL. */
    ASSERT_EQ_INT(store_bind_int64(st, 1, 1), QB_OK);
    ASSERT_EQ_INT(store_bind_int64(st, 2, 7), QB_OK);
    ASSERT_EQ_INT(store_bind_text(st, 3, text, strlen(text)), QB_OK);
    ASSERT_EQ_INT(store_bind_blob(st, 4, blob, sizeof blob), QB_OK);
    ASSERT_EQ_INT(store_step_done(st), QB_OK);
    ASSERT_EQ_INT(store_bind_int64(st, 1, 2), QB_OK);
    ASSERT_EQ_INT(store_bind_null(st, 2), QB_OK);
    ASSERT_EQ_INT(store_bind_null(st, 3), QB_OK);
    ASSERT_EQ_INT(store_bind_null(st, 4), QB_OK);
    ASSERT_EQ_INT(store_step_done(st), QB_OK);
    ASSERT_EQ_INT(store_bind_int64(st, 1, 3), QB_OK);
    ASSERT_EQ_INT(store_bind_int64(st, 2, 0), QB_OK);
    ASSERT_EQ_INT(store_bind_text(st, 3, "", 0), QB_OK);
    ASSERT_EQ_INT(store_bind_blob(st, 4, NULL, 0), QB_OK);
    ASSERT_EQ_INT(store_step_done(st), QB_OK);
    store_finalize(st);

    ASSERT_EQ_INT(store_prepare(store, "SELECT i, t, b FROM contract_values ORDER BY k", &st),
                  QB_OK);
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    ASSERT_EQ_INT(store_column_int64(st, 0), 7);
    ASSERT_EQ_STR(store_column_text(st, 1), text);
    ASSERT_EQ_INT(store_column_size(st, 1), strlen(text));
    const void *got = store_column_blob(st, 2);
    ASSERT_EQ_INT(store_column_size(st, 2), sizeof blob);
    ASSERT(memcmp(got, blob, sizeof blob) == 0);

    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    ASSERT(store_column_is_null(st, 0));
    ASSERT(store_column_is_null(st, 1));
    ASSERT(store_column_is_null(st, 2));
    ASSERT_EQ_STR(store_column_text(st, 1), "");
    ASSERT_EQ_INT(store_column_size(st, 2), 0);

    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    ASSERT(!store_column_is_null(st, 1));
    ASSERT(!store_column_is_null(st, 2));
    ASSERT_EQ_STR(store_column_text(st, 1), "");
    ASSERT(store_column_blob(st, 2) != NULL);
    ASSERT_EQ_INT(store_column_size(st, 2), 0);
    ASSERT_EQ_INT(store_step(st), STORE_STEP_DONE);
    store_finalize(st);
    case_close(store);
}

TEST(params_bind_by_number)
{
    // $N binds index N whether the SQL mentions $1 before $2 or after it; a repeated $N is one.
    struct store *store = case_open();
    struct store_stmt *st = NULL;
    /* In order of appearance. */
    ASSERT_EQ_INT(store_prepare(store, SQL_INSERT_KI, &st), QB_OK);
    ASSERT_EQ_INT(store_bind_int64(st, 1, 10), QB_OK);
    ASSERT_EQ_INT(store_bind_int64(st, 2, 100), QB_OK);
    ASSERT_EQ_INT(store_step_done(st), QB_OK);
    store_finalize(st);
    /* Out of order: $2 appears first; PostgreSQL still binds 1 to $1. */
    ASSERT_EQ_INT(store_prepare(store, SQL_INSERT_IK, &st), QB_OK);
    ASSERT_EQ_INT(store_bind_int64(st, 1, 20), QB_OK);
    ASSERT_EQ_INT(store_bind_int64(st, 2, 200), QB_OK);
    ASSERT_EQ_INT(store_step_done(st), QB_OK);
    store_finalize(st);
    /* Repeated: $1 twice is one parameter. */
    ASSERT_EQ_INT(store_prepare(store, SQL_INSERT_KI, &st), QB_OK);
    ASSERT_EQ_INT(store_bind_int64(st, 1, 30), QB_OK);
    ASSERT_EQ_INT(store_bind_int64(st, 2, 10), QB_OK);
    ASSERT_EQ_INT(store_step_done(st), QB_OK);
    store_finalize(st);
    ASSERT_EQ_INT(store_prepare(store,
                                "SELECT k FROM contract_values "
                                "WHERE (k = $1 OR i = $1) AND k >= $2 "
                                "ORDER BY k",
                                &st),
                  QB_OK);
    ASSERT_EQ_INT(store_bind_int64(st, 1, 10), QB_OK);
    ASSERT_EQ_INT(store_bind_int64(st, 2, 0), QB_OK);
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    ASSERT_EQ_INT(store_column_int64(st, 0), 10); /* k = 10 */
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    ASSERT_EQ_INT(store_column_int64(st, 0), 30); /* i = 10 */
    ASSERT_EQ_INT(store_step(st), STORE_STEP_DONE);
    store_finalize(st);

    /* Out of order in a query: $2 is the lower bound of i, $1 of k. */
    ASSERT_EQ_INT(store_prepare(store,
                                "SELECT k, i FROM contract_values WHERE i > $2 AND k >= $1 "
                                "ORDER BY k",
                                &st),
                  QB_OK);
    ASSERT_EQ_INT(store_bind_int64(st, 1, 15), QB_OK);
    ASSERT_EQ_INT(store_bind_int64(st, 2, 5), QB_OK);
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    ASSERT_EQ_INT(store_column_int64(st, 0), 20);
    ASSERT_EQ_INT(store_column_int64(st, 1), 200);
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    ASSERT_EQ_INT(store_column_int64(st, 0), 30);
    ASSERT_EQ_INT(store_column_int64(st, 1), 10);
    ASSERT_EQ_INT(store_step(st), STORE_STEP_DONE);
    store_finalize(st);

    /* And the first insert bound in order. */
    ASSERT_EQ_INT(store_prepare(store, "SELECT i FROM contract_values WHERE k = $1", &st), QB_OK);
    ASSERT_EQ_INT(store_bind_int64(st, 1, 10), QB_OK);
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    ASSERT_EQ_INT(store_column_int64(st, 0), 100);
    store_finalize(st);
    case_close(store);
}

TEST(unique_violation_is_conflict)
{
    // A duplicate key (idempotency replays race on it) is QB_E_CONFLICT, and rolling back to the
    // command's savepoint leaves the batch's transaction usable on every backend.
    struct store *store = case_open();
    ASSERT_EQ_INT(store_begin(store), QB_OK);
    insert_int(store, 1, 1, QB_OK);
    ASSERT_EQ_INT(store_savepoint(store), QB_OK);
    insert_int(store, 1, 2, QB_E_CONFLICT);
    ASSERT(store_last_error(store)[0] != '\0');
    ASSERT_EQ_INT(store_rollback_to(store), QB_OK);
    insert_int(store, 2, 2, QB_OK);
    ASSERT_EQ_INT(store_commit(store), QB_OK);

    char keys[64];
    keys_of(store, keys, sizeof keys);
    ASSERT_EQ_STR(keys, "1,2");
    case_close(store);
}

TEST(savepoints_undo_exactly_inner_work)
{
    // The executor runs each command of a batch in a savepoint: rolling one back must undo that
    // command alone, at any depth, and keep everything released into the outer levels.
    struct store *store = case_open();
    ASSERT_EQ_INT(store_begin(store), QB_OK);
    insert_int(store, 1, 0, QB_OK);
    ASSERT_EQ_INT(store_savepoint(store), QB_OK);     /* A */
    insert_int(store, 2, 0, QB_OK);
    ASSERT_EQ_INT(store_savepoint(store), QB_OK);     /* B inside A */
    insert_int(store, 3, 0, QB_OK);
    ASSERT_EQ_INT(store_rollback_to(store), QB_OK);   /* undoes 3, removes B */
    insert_int(store, 4, 0, QB_OK);                   /* now part of A */
    ASSERT_EQ_INT(store_savepoint(store), QB_OK);     /* C inside A */
    insert_int(store, 5, 0, QB_OK);
    ASSERT_EQ_INT(store_release(store), QB_OK);       /* keeps 5 in A */
    ASSERT_EQ_INT(store_release(store), QB_OK);       /* keeps 2, 4, 5 */
    ASSERT_EQ_INT(store_savepoint(store), QB_OK);     /* D */
    insert_int(store, 6, 0, QB_OK);
    ASSERT_EQ_INT(store_savepoint(store), QB_OK);     /* E inside D */
    insert_int(store, 7, 0, QB_OK);
    ASSERT_EQ_INT(store_release(store), QB_OK);       /* 7 joins D */
    ASSERT_EQ_INT(store_rollback_to(store), QB_OK);   /* undoes 6 and 7 */
    char keys[64];
    keys_of(store, keys, sizeof keys);
    ASSERT_EQ_STR(keys, "1,2,4,5");
    ASSERT_EQ_INT(store_commit(store), QB_OK);
    keys_of(store, keys, sizeof keys);
    ASSERT_EQ_STR(keys, "1,2,4,5");
    case_close(store);
}

TEST(rollback_undoes_the_transaction)
{
    // A failed batch rolls back whole, savepoints included; rollback with none open is harmless.
    struct store *store = case_open();
    insert_int(store, 1, 0, QB_OK);
    ASSERT_EQ_INT(store_begin(store), QB_OK);
    insert_int(store, 2, 0, QB_OK);
    ASSERT_EQ_INT(store_savepoint(store), QB_OK);
    insert_int(store, 3, 0, QB_OK);
    ASSERT_EQ_INT(store_rollback(store), QB_OK);
    char keys[64];
    keys_of(store, keys, sizeof keys);
    ASSERT_EQ_STR(keys, "1");
    ASSERT_EQ_INT(store_rollback(store), QB_OK);
    /* The savepoint died with the transaction: a new one starts clean. */
    ASSERT_EQ_INT(store_begin(store), QB_OK);
    ASSERT_EQ_INT(store_savepoint(store), QB_OK);
    insert_int(store, 4, 0, QB_OK);
    ASSERT_EQ_INT(store_release(store), QB_OK);
    ASSERT_EQ_INT(store_commit(store), QB_OK);
    keys_of(store, keys, sizeof keys);
    ASSERT_EQ_STR(keys, "1,4");
    case_close(store);
}

TEST(reader_sees_only_committed)
{
    // Balances shown to users come from read connections: never an uncommitted (maybe rolled back)
    // payment, always a committed one.
    struct store *store = case_open();
    char err[256];
    struct store *reader = NULL;
    ASSERT_EQ_INT(store_open(case_url, STORE_MODE_READ, &reader, err, sizeof err), QB_OK);

    ASSERT_EQ_INT(store_begin(store), QB_OK);
    insert_int(store, 1, 0, QB_OK);
    ASSERT_EQ_INT(count_rows(store), 1);
    ASSERT_EQ_INT(count_rows(reader), 0);
    ASSERT_EQ_INT(store_commit(store), QB_OK);
    ASSERT_EQ_INT(count_rows(reader), 1);

    ASSERT_EQ_INT(store_begin(store), QB_OK);
    insert_int(store, 2, 0, QB_OK);
    ASSERT_EQ_INT(store_rollback(store), QB_OK);
    ASSERT_EQ_INT(count_rows(reader), 1);

    /* A read connection refuses writes. */
    struct store_stmt *st = NULL;
    enum qb_error rc = store_prepare(reader, "INSERT INTO contract_values (k) VALUES (9)", &st);
    if (rc == QB_OK) {
        rc = store_step_done(st);
        store_finalize(st);
    }
    ASSERT_NE_INT(rc, QB_OK);
    ASSERT_EQ_INT(count_rows(store), 1);
    store_close(reader);
    case_close(store);
}

/* The names in dir, sorted, joined by '/' into buf. */
static void dir_names(const char *dir, char *buf, size_t buf_size)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort);
    ASSERT(n >= 0);
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        int w = snprintf(buf + used, buf_size - used, "%s/", names[i]->d_name);
        if (w > 0 && (size_t)w < buf_size - used)
            used += (size_t)w;
        free(names[i]);
    }
    free(names);
}

TEST(offline_reader_reads_a_closed_database_and_writes_nothing)
{
    // qianbaod --verify checks a backup, often on read-only media, through a STORE_MODE_READ_OFFLINE
    // connection: it must see what was committed before the writer closed, refuse writes, and,
    // where the backend can, leave the database's directory as it found it.
    struct store *store = case_open();
    insert_int(store, 1, 10, QB_OK);
    insert_int(store, 2, 20, QB_OK);
    int64_t version = store_schema_version(store);
    store_close(store);

    char before[4096], after[4096];
    if (backend->offline_makes_no_file)
        dir_names(case_dir, before, sizeof before);
    char err[256];
    struct store *reader = NULL;
    enum qb_error rc = store_open(case_url, STORE_MODE_READ_OFFLINE, &reader, err, sizeof err);
    if (rc != QB_OK)
        TEST_FAIL_("offline open: %d: %s", (int)rc, err);
    ASSERT_EQ_INT(store_schema_version(reader), version);
    char keys[64];
    keys_of(reader, keys, sizeof keys);
    ASSERT_EQ_STR(keys, "1,2");
    struct store_stmt *st = NULL;
    rc = store_prepare(reader, "INSERT INTO contract_values (k) VALUES (9)", &st);
    if (rc == QB_OK) {
        rc = store_step_done(st);
        store_finalize(st);
    }
    ASSERT_NE_INT(rc, QB_OK);
    keys_of(reader, keys, sizeof keys);
    ASSERT_EQ_STR(keys, "1,2");
    store_close(reader);
    if (backend->offline_makes_no_file) {
        dir_names(case_dir, after, sizeof after);
        if (strcmp(before, after) != 0)
            TEST_FAIL_("the directory held %s before, %s after", before, after);
    }
    backend->teardown(case_dir);
}

TEST(migrations_applied)
{
    // A fresh database is at the newest schema version and holds the ledger's tables.
    struct store *store = case_open();
    ASSERT_EQ_INT(store_schema_version(store), (int64_t)backend->migration_count);
    static const char *const queries[] = {
        "SELECT COUNT(*) FROM meta WHERE key = 'replay_from'",
        "SELECT COUNT(*) FROM accounts",
        "SELECT COUNT(*) FROM entries",
        "SELECT COUNT(*) FROM holds",
        "SELECT COUNT(*) FROM idempotency_records",
    };
    static const int64_t counts[] = {1, 0, 0, 0, 0};
    for (size_t n = 0; n < QB_ARRAY_COUNT(queries); n++) {
        struct store_stmt *st = NULL;
        if (store_prepare(store, queries[n], &st) != QB_OK)
            TEST_FAIL_("%s: %s", queries[n], store_last_error(store));
        ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
        ASSERT_EQ_INT(store_column_int64(st, 0), counts[n]);
        store_finalize(st);
    }
    case_close(store);
}

TEST(reopen_keeps_data_and_schema)
{
    // A restarted daemon opens its existing database: data survives and no migration runs twice.
    struct store *store = case_open();
    insert_int(store, 42, -42, QB_OK);
    ASSERT_EQ_INT(store_exec(store, "UPDATE meta SET value = 777 WHERE key = 'replay_from'"),
                  QB_OK);
    int64_t version = store_schema_version(store);
    store_close(store);

    char err[256];
    store = NULL;
    enum qb_error rc = store_open(case_url, STORE_MODE_WRITE, &store, err, sizeof err);
    if (rc != QB_OK)
        TEST_FAIL_("reopen: %d: %s", (int)rc, err);
    ASSERT_EQ_INT(store_schema_version(store), version);
    ASSERT_EQ_INT(count_rows(store), 1);
    struct store_stmt *st = NULL;
    /* replay_from and spent_counted_to, each once. */
    ASSERT_EQ_INT(store_prepare(store,
                                "SELECT COUNT(*), COUNT(DISTINCT key),"
                                " (SELECT value FROM meta WHERE key = 'replay_from') FROM meta",
                                &st),
                  QB_OK);
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    ASSERT_EQ_INT(store_column_int64(st, 0), 2);
    ASSERT_EQ_INT(store_column_int64(st, 1), 2);
    ASSERT_EQ_INT(store_column_int64(st, 2), 777);
    store_finalize(st);
    case_close(store);
}

static void run_backend(const struct contract_backend *b)
{
    backend = b;
    char url[CONTRACT_URL_SIZE_MAX], dir[CONTRACT_URL_SIZE_MAX];
    if (!backend->setup(url, sizeof url, dir, sizeof dir)) {
        fprintf(stderr, "skip backend %s: not configured\n", backend->name);
        return;
    }
    backend->teardown(dir);
    fprintf(stderr, "backend %s\n", backend->name);
    RUN(int64_round_trips);
    RUN(text_blob_null_round_trip);
    RUN(params_bind_by_number);
    RUN(unique_violation_is_conflict);
    RUN(savepoints_undo_exactly_inner_work);
    RUN(rollback_undoes_the_transaction);
    RUN(reader_sees_only_committed);
    RUN(offline_reader_reads_a_closed_database_and_writes_nothing);
    RUN(migrations_applied);
    RUN(reopen_keeps_data_and_schema);
}

int main(void)
{
    contract_backends[0].migration_count = store_sqlite_migration_count;
    for (size_t n = 0; n < QB_ARRAY_COUNT(contract_backends); n++)
        run_backend(&contract_backends[n]);
    return test_summary();
}

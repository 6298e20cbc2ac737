/*
 * test_store_sqlite.c — what the SQLite backend promises beyond the contract:
 * it refuses unsafe or too-new databases, it keeps the WAL bounded on its
 * own, and the read pool answers QB_E_BUSY instead of queueing without end.
 */
#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "base/buf.h"
#include "store/fault_vfs.h"
#include "store/pool.h"
#include "store/schema.h"
#include "store/store.h"
#include "test.h"

#define DIR_SIZE_MAX 1024
#define PATH_SIZE_MAX (DIR_SIZE_MAX + 64)

static char dir[DIR_SIZE_MAX];
static char db_path[PATH_SIZE_MAX];

static void fresh_dir(void)
{
    test_tmpdir(dir, sizeof dir);
    snprintf(db_path, sizeof db_path, "%s/wallet.db", dir);
}

static struct store *open_or_fail(const char *url, enum store_mode mode)
{
    char err[256];
    struct store *store = NULL;
    enum qb_error rc = store_open(url, mode, &store, err, sizeof err);
    if (rc != QB_OK)
        TEST_FAIL_("store_open(%s): %d: %s", url, (int)rc, err);
    return store;
}

/* Runs raw SQL on the file with SQLite itself, outside the store. */
static void raw_exec(const char *sql)
{
    sqlite3 *db = NULL;
    ASSERT_EQ_INT(sqlite3_open(db_path, &db), SQLITE_OK);
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    ASSERT_EQ_INT(rc, SQLITE_OK);
}

/* A new file of 1 KiB pages (the page-based thresholds reached with little
 * data) holding tables (SQL) beside the wallet's schema, at its version. */
static void raw_small_pages(const char *tables)
{
    sqlite3 *db = NULL;
    ASSERT_EQ_INT(sqlite3_open(db_path, &db), SQLITE_OK);
    int rc = sqlite3_exec(db, "PRAGMA page_size=1024", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, tables, NULL, NULL, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < store_sqlite_fresh_statement_count; i++)
        rc = sqlite3_exec(db, store_sqlite_fresh_schema[i], NULL, NULL, NULL);
    char version[64];
    snprintf(version, sizeof version, "PRAGMA user_version=%zu", store_sqlite_fresh_version);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, version, NULL, NULL, NULL);
    sqlite3_close(db);
    ASSERT_EQ_INT(rc, SQLITE_OK);
}

static void pragma_text(struct store *store, const char *sql, char *out, size_t out_size)
{
    struct store_stmt *st = NULL;
    ASSERT_EQ_INT(store_prepare(store, sql, &st), QB_OK);
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    snprintf(out, out_size, "%s", store_column_text(st, 0));
    store_finalize(st);
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

#ifdef QB_TEST_HOOKS /* the failing file system is compiled only into test builds */
TEST(a_commit_that_failed_once_in_the_wal_stops_the_process)
{
    /* A COMMIT can fail after its frames, the last one too, are in the
     * WAL: growing the WAL index for them (a new region of the -shm every
     * 4,096 frames or so) fails with the disk full. The commit is not
     * visible, but a restart's recovery finds its frames whole and applies
     * them: its outcome is unknown, and answering "failed" (a payment that
     * moved nothing, to be made again) would be a lie after a crash. So the
     * store stops the process, as the ledger does when a sync fails; the
     * restart has whatever the disk kept. Run first: the child must set up
     * the failing file system before this process opens any database. */
    fresh_dir();
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        if (!store_fault_install(STORE_FAULT_SHM))
            _exit(10);
        char err[256];
        struct store *store = NULL;
        if (store_open(db_path, STORE_MODE_WRITE, &store, err, sizeof err) != QB_OK ||
            store_exec(store, "CREATE TABLE big (b BLOB)") != QB_OK || store_begin(store) != QB_OK)
            _exit(11);
        /* About 5,000 pages in one commit: its frames need the index's second region. */
        if (store_exec(store,
                       "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
                       " WHERE i < 5000) INSERT INTO big SELECT zeroblob(3000) FROM n") != QB_OK)
            _exit(12);
        store_fault_arm(1);
        enum qb_error rc = store_commit(store);
        _exit(rc == QB_OK ? 13 : store_fault_injected() == 1 ? 14 : 15);
    }
    int status = 0;
    ASSERT_EQ_INT(waitpid(pid, &status, 0), pid);
    ASSERT(WIFEXITED(status));
    ASSERT_EQ_INT(WEXITSTATUS(status), 1);
    /* And the commit was indeed in the WAL: recovery applies it. */
    sqlite3 *db = NULL;
    ASSERT_EQ_INT(sqlite3_open(db_path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    ASSERT_EQ_INT(sqlite3_prepare_v2(db, "SELECT count(*) FROM big", -1, &st, NULL), SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_step(st), SQLITE_ROW);
    ASSERT_EQ_INT(sqlite3_column_int(st, 0), 5000);
    sqlite3_finalize(st);
    sqlite3_close(db);
    test_rmtree(dir);
}
#endif

TEST(refuses_newer_schema)
{
    // A database written by a newer qianbaod may hold tables this program would misread: refuse it.
    fresh_dir();
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA user_version=%zu", store_sqlite_migration_count + 1);
    raw_exec(pragma);

    char err[256] = "";
    struct store *store = NULL;
    ASSERT_EQ_INT(store_open(db_path, STORE_MODE_WRITE, &store, err, sizeof err), QB_E_STORAGE);
    ASSERT(store == NULL);
    ASSERT(strstr(err, "newer") != NULL);
    err[0] = '\0';
    raw_exec("PRAGMA journal_mode=WAL");
    ASSERT_EQ_INT(store_open(db_path, STORE_MODE_READ, &store, err, sizeof err), QB_E_STORAGE);
    ASSERT(strstr(err, "newer") != NULL);

    /* The newest known version itself opens. */
    snprintf(pragma, sizeof pragma, "PRAGMA user_version=%zu", store_sqlite_migration_count);
    raw_exec(pragma);
    raw_exec(store_sqlite_migrations[0]);
    store = open_or_fail(db_path, STORE_MODE_WRITE);
    ASSERT_EQ_INT(store_schema_version(store), (int64_t)store_sqlite_migration_count);
    store_close(store);
    test_rmtree(dir);
}

/* One integer from the file, read with SQLite itself. */
static int64_t raw_int(const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t value = -1;
    if (sqlite3_open(db_path, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        value = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return value;
}

/* Everything a database holds, as text: each object's type, name, table and
 * statement (sorted by name), then every row of every table in SQLite's
 * literal form, then the schema version. */
static void S_describe(sqlite3 *db, struct buf *out)
{
    sqlite3_stmt *st = NULL;
    ASSERT_EQ_INT(sqlite3_prepare_v2(db,
                                     "SELECT type, name, tbl_name, coalesce(sql, '') FROM "
                                     "sqlite_schema ORDER BY name",
                                     -1, &st, NULL),
                  SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW)
        for (int i = 0; i < 4; i++)
            ASSERT_EQ_INT(buf_printf(out, "%s%c", (const char *)sqlite3_column_text(st, i),
                                     i == 3 ? '\n' : '|'),
                          QB_OK);
    sqlite3_finalize(st);
    ASSERT_EQ_INT(sqlite3_prepare_v2(db,
                                     "SELECT name FROM sqlite_schema WHERE type = 'table' "
                                     "ORDER BY name",
                                     -1, &st, NULL),
                  SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        char sql[256];
        /* Every table here has two columns or more but session_users. */
        const char *table = (const char *)sqlite3_column_text(st, 0);
        snprintf(sql, sizeof sql, "SELECT * FROM \"%s\" ORDER BY 1%s", table,
                 strcmp(table, "session_users") == 0 ? "" : ", 2");
        sqlite3_stmt *rows = NULL;
        ASSERT_EQ_INT(sqlite3_prepare_v2(db, sql, -1, &rows, NULL), SQLITE_OK);
        while (sqlite3_step(rows) == SQLITE_ROW) {
            ASSERT_EQ_INT(buf_printf(out, "%s:", (const char *)sqlite3_column_text(st, 0)), QB_OK);
            for (int i = 0; i < sqlite3_column_count(rows); i++) {
                const char *v = (const char *)sqlite3_column_text(rows, i);
                ASSERT_EQ_INT(
                    buf_printf(out, " %d:%s", sqlite3_column_type(rows, i), v != NULL ? v : "NULL"),
                    QB_OK);
            }
            ASSERT_EQ_INT(buf_append_str(out, "\n"), QB_OK);
        }
        sqlite3_finalize(rows);
    }
    sqlite3_finalize(st);
    ASSERT_EQ_INT(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_step(st), SQLITE_ROW);
    ASSERT_EQ_INT(buf_printf(out, "version %lld\n", (long long)sqlite3_column_int64(st, 0)), QB_OK);
    sqlite3_finalize(st);
}

TEST(another_programs_database_is_refused)
{
    // --db pointed at another program's SQLite file: it has tables but no schema version of
    // Qianbao's, and running every migration over it made it a wallet (WAL mode, 40 tables of
    // ours among its own). It is refused, named as not Qianbao's, and left as it was.
    fresh_dir();
    raw_exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT); INSERT INTO notes (text) "
             "VALUES ('mine')");
    char err[256] = "";
    struct store *store = NULL;
    ASSERT_EQ_INT(store_open(db_path, STORE_MODE_WRITE, &store, err, sizeof err), QB_E_STORAGE);
    ASSERT(store == NULL);
    if (strstr(err, "not a Qianbao database") == NULL)
        TEST_FAIL_("the refusal does not say whose the file is not: %s", err);
    ASSERT_EQ_INT(raw_int("PRAGMA user_version"), 0);
    ASSERT_EQ_INT(raw_int("SELECT count(*) FROM sqlite_schema"), 1);
    test_rmtree(dir);
}

TEST(a_trigger_or_view_put_in_by_hand_is_refused)
{
    // No migration makes a trigger or a view. A trigger runs inside the daemon's own writes and
    // can change what a command writes as it writes it (a card's sealed number as it is bound):
    // the writer's open and the operator's check refuse the file, naming what it holds; a
    // pool's reader, opened beside a running writer, does not.
    fresh_dir();
    struct store *store = open_or_fail(db_path, STORE_MODE_WRITE);
    store_close(store);
    raw_exec("CREATE TRIGGER redirect AFTER INSERT ON cards BEGIN SELECT 1; END");
    char err[256] = "";
    store = NULL;
    ASSERT_EQ_INT(store_open(db_path, STORE_MODE_WRITE, &store, err, sizeof err), QB_E_STORAGE);
    ASSERT(store == NULL);
    if (strstr(err, "trigger \"redirect\"") == NULL)
        TEST_FAIL_("the refusal does not name the trigger: %s", err);
    err[0] = '\0';
    ASSERT_EQ_INT(store_open(db_path, STORE_MODE_READ_OFFLINE, &store, err, sizeof err),
                  QB_E_STORAGE);
    ASSERT(strstr(err, "trigger \"redirect\"") != NULL);
    store = open_or_fail(db_path, STORE_MODE_READ);
    store_close(store);
    raw_exec("DROP TRIGGER redirect; CREATE VIEW cards_again AS SELECT * FROM cards");
    ASSERT_EQ_INT(store_open(db_path, STORE_MODE_WRITE, &store, err, sizeof err), QB_E_STORAGE);
    ASSERT(strstr(err, "view \"cards_again\"") != NULL);
    raw_exec("DROP VIEW cards_again");
    store = open_or_fail(db_path, STORE_MODE_WRITE);
    store_close(store);
    test_rmtree(dir);
}

TEST(a_fresh_database_is_what_the_migrations_make)
{
    // store_open makes an empty file with the fresh schema, written at build time from the
    // migrations; every other database is migrated. Both must give the same tables, indexes,
    // rows and version, or a new installation would differ from an upgraded one.
    fresh_dir();
    struct store *store = open_or_fail(db_path, STORE_MODE_WRITE);
    store_close(store);
    sqlite3 *fresh = NULL, *migrated = NULL;
    ASSERT_EQ_INT(sqlite3_open(db_path, &fresh), SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_open(":memory:", &migrated), SQLITE_OK);
    for (size_t i = 0; i < store_sqlite_migration_count; i++)
        ASSERT_EQ_INT(sqlite3_exec(migrated, store_sqlite_migrations[i], NULL, NULL, NULL),
                      SQLITE_OK);
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA user_version=%zu", store_sqlite_migration_count);
    ASSERT_EQ_INT(sqlite3_exec(migrated, pragma, NULL, NULL, NULL), SQLITE_OK);
    struct buf a, b;
    buf_init(&a, 1 << 20);
    buf_init(&b, 1 << 20);
    S_describe(fresh, &a);
    S_describe(migrated, &b);
    sqlite3_close(fresh);
    sqlite3_close(migrated);
    ASSERT(a.size > 1000);
    ASSERT(strstr(a.data, "collection_payments") != NULL);
    ASSERT(strstr(a.data, "meta: 3:replay_from 1:1") != NULL);
    if (a.size != b.size || memcmp(a.data, b.data, a.size) != 0)
        TEST_FAIL_("the fresh schema differs from the migrations'\nfresh:\n%s\nmigrated:\n%s",
                   a.data, b.data);
    buf_release(&a);
    buf_release(&b);
    test_rmtree(dir);
}

TEST(a_failed_migration_leaves_the_old_version_whole)
{
    // The missing migrations run in one transaction: when one fails, the database stays at the
    // version it had, with none of the earlier ones half kept, so the next start (or an older
    // qianbaod) finds it as it was. A database of version 35 is three behind the one that makes
    // group collections (38), which fails here on a table in its way.
    fresh_dir();
    for (size_t v = 0; v < 35; v++)
        raw_exec(store_sqlite_migrations[v]);
    raw_exec("PRAGMA user_version=35");
    raw_exec("CREATE TABLE collection_payments (x INTEGER)");
    int64_t objects = raw_int("SELECT count(*) FROM sqlite_schema");
    char err[256] = "";
    struct store *store = NULL;
    ASSERT_EQ_INT(store_open(db_path, STORE_MODE_WRITE, &store, err, sizeof err), QB_E_STORAGE);
    ASSERT(store == NULL);
    ASSERT_EQ_INT(raw_int("PRAGMA user_version"), 35);
    ASSERT_EQ_INT(raw_int("SELECT count(*) FROM sqlite_schema"), objects);
    // Out of the way, the same file migrates to the newest version.
    raw_exec("DROP TABLE collection_payments");
    store = open_or_fail(db_path, STORE_MODE_WRITE);
    ASSERT_EQ_INT(store_schema_version(store), (int64_t)store_sqlite_migration_count);
    store_close(store);
    test_rmtree(dir);
}

TEST(durability_pragmas_read_back)
{
    // A payment is acknowledged after commit, so the writer must really run WAL with an fsync per
    // commit; the settings are read back through the connection itself.
    fresh_dir();
    struct store *store = open_or_fail(db_path, STORE_MODE_WRITE);
    char value[32];
    pragma_text(store, "PRAGMA journal_mode", value, sizeof value);
    ASSERT_EQ_STR(value, "wal");
    pragma_text(store, "PRAGMA synchronous", value, sizeof value);
    ASSERT_EQ_STR(value, "2");
    pragma_text(store, "PRAGMA foreign_keys", value, sizeof value);
    ASSERT_EQ_STR(value, "1");
    pragma_text(store, "PRAGMA wal_autocheckpoint", value, sizeof value);
    ASSERT_EQ_STR(value, "0");

    struct store *reader = open_or_fail(db_path, STORE_MODE_READ);
    pragma_text(reader, "PRAGMA query_only", value, sizeof value);
    ASSERT_EQ_STR(value, "1");
    store_close(reader);
    store_close(store);
    test_rmtree(dir);
}

TEST(refuses_a_database_without_wal)
{
    // The read-back must be able to say no: an in-memory database cannot use WAL, so it is refused.
    char err[256] = "";
    struct store *store = NULL;
    ASSERT_EQ_INT(store_open(":memory:", STORE_MODE_WRITE, &store, err, sizeof err), QB_E_STORAGE);
    ASSERT(store == NULL);
    ASSERT(strstr(err, "journal_mode") != NULL);
}

TEST(urls)
{
    // "file:PATH" and a plain path name one file; other schemes and URI parameters are not ours.
    fresh_dir();
    ASSERT(store_sqlite_ops.accepts(db_path));
    ASSERT(store_sqlite_ops.accepts("file:wallet.db"));
    ASSERT(!store_sqlite_ops.accepts("postgres://db.example/qianbao"));
    ASSERT(!store_sqlite_ops.accepts("postgresql://db.example/qianbao"));

    struct store *store = open_or_fail(db_path, STORE_MODE_WRITE);
    ASSERT_EQ_INT(store_exec(store, "CREATE TABLE marker (x INTEGER)"), QB_OK);
    store_close(store);
    char url[PATH_SIZE_MAX + 64];
    snprintf(url, sizeof url, "file:%s", db_path);
    store = open_or_fail(url, STORE_MODE_WRITE);
    struct store_stmt *st = NULL;
    ASSERT_EQ_INT(store_prepare(store, "SELECT COUNT(*) FROM marker", &st), QB_OK);
    store_finalize(st);
    store_close(store);

    char err[256] = "";
    snprintf(url, sizeof url, "file:%s?nolock=1", db_path);
    ASSERT_EQ_INT(store_open(url, STORE_MODE_WRITE, &store, err, sizeof err), QB_E_PARAM);
    ASSERT_EQ_INT(store_open("postgres://x/y", STORE_MODE_WRITE, &store, err, sizeof err),
                  QB_E_PARAM);
    test_rmtree(dir);
}

TEST(conflict_without_savepoint_keeps_transaction)
{
    // On SQLite a failed statement undoes only itself and the transaction goes on (the contract
    // does not promise this: PostgreSQL aborts the transaction); reset also drops old bindings.
    fresh_dir();
    struct store *store = open_or_fail(db_path, STORE_MODE_WRITE);
    ASSERT_EQ_INT(store_exec(store, "CREATE TABLE t (k INTEGER PRIMARY KEY)"), QB_OK);
    struct store_stmt *st = NULL;
    ASSERT_EQ_INT(store_prepare(store, "INSERT INTO t (k) VALUES ($1)", &st), QB_OK);
    ASSERT_EQ_INT(store_begin(store), QB_OK);
    ASSERT_EQ_INT(store_bind_int64(st, 1, 1), QB_OK);
    ASSERT_EQ_INT(store_step_done(st), QB_OK);
    ASSERT_EQ_INT(store_bind_int64(st, 1, 1), QB_OK);
    ASSERT_EQ_INT(store_step_done(st), QB_E_CONFLICT);
    ASSERT(strstr(store_last_error(store), "UNIQUE") != NULL ||
           strstr(store_last_error(store), "PRIMARY") != NULL);
    ASSERT_EQ_INT(store_bind_int64(st, 1, 2), QB_OK);
    ASSERT_EQ_INT(store_step_done(st), QB_OK);
    ASSERT_EQ_INT(store_commit(store), QB_OK);
    store_finalize(st);

    /* Reset clears bindings: a forgotten bind is NULL, never the previous value. */
    ASSERT_EQ_INT(store_prepare(store, "SELECT $1", &st), QB_OK);
    ASSERT_EQ_INT(store_bind_int64(st, 1, 5), QB_OK);
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    ASSERT_EQ_INT(store_column_int64(st, 0), 5);
    store_reset(st);
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    ASSERT(store_column_is_null(st, 0));
    store_finalize(st);

    /* Savepoints need a transaction; rollback without one is harmless. */
    ASSERT_EQ_INT(store_savepoint(store), QB_E_STORAGE);
    ASSERT_EQ_INT(store_rollback(store), QB_OK);
    store_close(store);
    test_rmtree(dir);
}

TEST(store_run_reads_values_in_place_and_later_uses_copy)
{
    // store_run's bindings point at the caller's bytes for its one run (no copy); the same
    // statement, cached and prepared again, copies once more: bytes changed after the bind
    // and before the step do not reach the row.
    fresh_dir();
    struct store *store = open_or_fail(db_path, STORE_MODE_WRITE);
    ASSERT_EQ_INT(store_exec(store, "CREATE TABLE t (a TEXT, b BLOB)"), QB_OK);
    const char *sql = "INSERT INTO t (a, b) VALUES ($1, $2)";
    const struct store_param p[] = {STORE_TEXT("first"), STORE_BLOB("\x01\x02", 2)};
    ASSERT_EQ_INT(store_run(store, sql, p, QB_ARRAY_COUNT(p)), QB_OK);

    char text[] = "second";
    unsigned char blob[] = {3, 4};
    struct store_stmt *st = NULL;
    ASSERT_EQ_INT(store_prepare(store, sql, &st), QB_OK);
    ASSERT(!st->borrowed);
    ASSERT_EQ_INT(store_bind_text(st, 1, text, strlen(text)), QB_OK);
    ASSERT_EQ_INT(store_bind_blob(st, 2, blob, sizeof blob), QB_OK);
    memset(text, 'X', strlen(text));
    memset(blob, 9, sizeof blob);
    ASSERT_EQ_INT(store_step_done(st), QB_OK);
    store_finalize(st);

    ASSERT_EQ_INT(store_prepare(store, "SELECT a, hex(b) FROM t ORDER BY rowid", &st), QB_OK);
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    ASSERT_EQ_STR(store_column_text(st, 0), "first");
    ASSERT_EQ_STR(store_column_text(st, 1), "0102");
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    ASSERT_EQ_STR(store_column_text(st, 0), "second");
    ASSERT_EQ_STR(store_column_text(st, 1), "0304");
    ASSERT_EQ_INT(store_step(st), STORE_STEP_DONE);
    store_finalize(st);
    store_close(store);
    test_rmtree(dir);
}

TEST(prepare_rejects_unportable_sql)
{
    // Only $1..$N bind the same way on PostgreSQL; "?" or a gap ($1, $3) would break there.
    fresh_dir();
    struct store *store = open_or_fail(db_path, STORE_MODE_WRITE);
    struct store_stmt *st = NULL;
    ASSERT_EQ_INT(store_prepare(store, "SELECT ?", &st), QB_E_INTERNAL);
    ASSERT(st == NULL);
    ASSERT_EQ_INT(store_prepare(store, "SELECT $1, $3", &st), QB_E_INTERNAL);
    ASSERT_EQ_INT(store_prepare(store, "SELECT :name", &st), QB_E_INTERNAL);
    ASSERT_EQ_INT(store_prepare(store, "SELECT 1; SELECT 2", &st), QB_E_INTERNAL);
    ASSERT_EQ_INT(store_prepare(store, "SELEKT 1", &st), QB_E_STORAGE);
    ASSERT(strstr(store_last_error(store), "syntax") != NULL);
    ASSERT_EQ_INT(store_prepare(store, "SELECT $2, $1;", &st), QB_OK);
    store_finalize(st);
    store_close(store);
    test_rmtree(dir);
}

/* Read system calls made by the calling thread so far (the checkpointer is
 * another thread and reads the WAL all the time). */
static int64_t thread_read_calls(void)
{
    FILE *f = fopen("/proc/thread-self/io", "r");
    ASSERT(f != NULL);
    char line[128];
    long long calls = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "syscr: %lld", &calls) == 1)
            break;
    fclose(f);
    ASSERT(calls >= 0);
    return calls;
}

static int64_t sum_of_hot(struct store_stmt *st)
{
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    int64_t sum = store_column_int64(st, 0);
    store_reset(st);
    return sum;
}

/* Limits the tests' 60 MB of 1 KiB pages pass several times (the daemon's
 * are four times these, for 4 KiB pages). */
#define S_WAL_WAKE_PAGES 8000
#define S_WAL_WAIT_PAGES 16000

TEST(checkpoints_keep_the_writer_cache)
{
    // The ledger's writer reads the same hot pages (accounts, users, indexes) in every batch and
    // keeps them in its page cache. A WAL reset made by another connection makes SQLite discard that
    // whole cache; the checkpointer must let the writer restart the WAL itself, so that pages once
    // read are never read from the file again, however many checkpoints run meanwhile.
    fresh_dir();
    store_sqlite_wal_pages_set(S_WAL_WAKE_PAGES, S_WAL_WAIT_PAGES);
    raw_small_pages("CREATE TABLE bulk (k INTEGER PRIMARY KEY, b BLOB NOT NULL);"
                    "CREATE TABLE hot (k INTEGER PRIMARY KEY, b BLOB NOT NULL);"
                    "WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 2000)"
                    " INSERT INTO hot SELECT k, zeroblob(300) FROM n;");
    struct store *store = open_or_fail(db_path, STORE_MODE_WRITE);
    struct store_stmt *put = NULL, *hot = NULL;
    ASSERT_EQ_INT(store_prepare(store, "INSERT INTO bulk (k, b) VALUES ($1, $2)", &put), QB_OK);
    ASSERT_EQ_INT(store_prepare(store, "SELECT SUM(length(b)) FROM hot", &hot), QB_OK);
    ASSERT_EQ_INT(store_begin(store), QB_OK);
    ASSERT_EQ_INT(sum_of_hot(hot), 2000 * 300); /* now cached: about 700 pages */
    ASSERT_EQ_INT(store_commit(store), QB_OK);

    static unsigned char payload[300];
    const int64_t calls_before = thread_read_calls();
    /* About 60 MB of frames: the WAL passes its limit several times. */
    for (int64_t k = 0; k < 200000;) {
        ASSERT_EQ_INT(store_begin(store), QB_OK);
        ASSERT_EQ_INT(sum_of_hot(hot), 2000 * 300);
        for (int n = 0; n < 1000; n++, k++) {
            ASSERT_EQ_INT(store_bind_int64(put, 1, k), QB_OK);
            ASSERT_EQ_INT(store_bind_blob(put, 2, payload, sizeof payload), QB_OK);
            ASSERT_EQ_INT(store_step_done(put), QB_OK);
        }
        ASSERT_EQ_INT(store_commit(store), QB_OK);
    }
    const int64_t calls = thread_read_calls() - calls_before;
    fprintf(stderr, "  writer read calls over 200 commits: %lld\n", (long long)calls);
    /* Fewer than one re-read of the hot table (about 700 pages). */
    ASSERT(calls < 500);
    store_finalize(put);
    store_finalize(hot);
    store_close(store);
    test_rmtree(dir);
}

TEST(checkpointer_bounds_the_wal)
{
    // With auto-checkpoint off on the writer, only the checkpointer keeps the WAL from growing with
    // every page ever written: after ~65 MB of commits it must stay well below the database size.
    fresh_dir();
    store_sqlite_wal_pages_set(S_WAL_WAKE_PAGES, S_WAL_WAIT_PAGES);
    /* Small pages make the page-based thresholds reachable with a modest amount of data. */
    raw_small_pages("CREATE TABLE bulk (k INTEGER PRIMARY KEY, b BLOB NOT NULL)");
    struct store *store = open_or_fail(db_path, STORE_MODE_WRITE);
    char wal_path[PATH_SIZE_MAX + 8];
    snprintf(wal_path, sizeof wal_path, "%s-wal", db_path);

    static unsigned char payload[300];
    for (size_t n = 0; n < sizeof payload; n++)
        payload[n] = (unsigned char)(n * 131u + 7u);
    struct store_stmt *st = NULL;
    ASSERT_EQ_INT(store_prepare(store, "INSERT INTO bulk (k, b) VALUES ($1, $2)", &st), QB_OK);

    const int64_t row_count = 200000;
    const int64_t batch_size = 1000;
    int64_t wal_size_max = 0;
    for (int64_t k = 0; k < row_count;) {
        ASSERT_EQ_INT(store_begin(store), QB_OK);
        for (int64_t n = 0; n < batch_size; n++, k++) {
            payload[0] = (unsigned char)k;
            ASSERT_EQ_INT(store_bind_int64(st, 1, k), QB_OK);
            ASSERT_EQ_INT(store_bind_blob(st, 2, payload, sizeof payload), QB_OK);
            ASSERT_EQ_INT(store_step_done(st), QB_OK);
        }
        ASSERT_EQ_INT(store_commit(store), QB_OK);
        int64_t size = file_size(wal_path);
        if (size > wal_size_max)
            wal_size_max = size;
    }
    store_finalize(st);
    int64_t db_size = file_size(db_path);
    fprintf(stderr, "  wal max %lld bytes, database %lld bytes\n", (long long)wal_size_max,
            (long long)db_size);
    /* The checkpoints reached the database file, and the WAL stayed small. */
    ASSERT(db_size > 50 * 1000 * 1000);
    /* Their copies went to the disk in pieces as they were made. */
    ASSERT(store_sqlite_writebacks() > 0);
    ASSERT(wal_size_max > 0);
    ASSERT(wal_size_max < db_size / 2);

    /* Everything is there after a reopen. */
    store_close(store);
    store = open_or_fail(db_path, STORE_MODE_READ);
    ASSERT_EQ_INT(store_prepare(store, "SELECT COUNT(*) FROM bulk", &st), QB_OK);
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    ASSERT_EQ_INT(store_column_int64(st, 0), row_count);
    store_finalize(st);
    store_close(store);
    test_rmtree(dir);
}

/* Commits about bytes of 300-byte rows into bulk, rows_per_commit a
 * commit, keys from *next_key on, pausing pause_us after each commit. */
static void bulk_fill_paced(struct store *store, int64_t *next_key, int64_t bytes,
                            int rows_per_commit, long pause_us)
{
    static unsigned char payload[300];
    struct store_stmt *st = NULL;
    ASSERT_EQ_INT(store_prepare(store, "INSERT INTO bulk (k, b) VALUES ($1, $2)", &st), QB_OK);
    for (int64_t written = 0; written < bytes;) {
        ASSERT_EQ_INT(store_begin(store), QB_OK);
        for (int n = 0; n < rows_per_commit; n++, written += (int64_t)sizeof payload) {
            ASSERT_EQ_INT(store_bind_int64(st, 1, (*next_key)++), QB_OK);
            ASSERT_EQ_INT(store_bind_blob(st, 2, payload, sizeof payload), QB_OK);
            ASSERT_EQ_INT(store_step_done(st), QB_OK);
        }
        ASSERT_EQ_INT(store_commit(store), QB_OK);
        if (pause_us > 0) {
            struct timespec pause = {0, pause_us * 1000L};
            nanosleep(&pause, NULL);
        }
    }
    store_finalize(st);
}

/* The same, as fast as the writer goes. */
static void bulk_fill(struct store *store, int64_t *next_key, int64_t bytes, int rows_per_commit)
{
    bulk_fill_paced(store, next_key, bytes, rows_per_commit, 0);
}

TEST(checkpoints_pace_their_copy_while_the_wal_has_room)
{
    // A checkpoint copying as fast as it can fills the disk's queue, and the writer's WAL syncs wait
    // behind it. While the WAL is below halfway from the checkpointer's threshold to the writer's, the
    // copy keeps a pace (pausing when ahead of it) and starts its write-back as it goes; past halfway it
    // must not pause at all, or the writer would end up waiting for a copy that sleeps.
    fresh_dir();
    raw_small_pages("CREATE TABLE bulk (k INTEGER PRIMARY KEY, b BLOB NOT NULL)");
    int64_t key = 0;
    /* 2 MiB/s: a copy of a few MiB is ahead of it after its first pages. */
    store_sqlite_checkpoint_pace_set(2 * 1024 * 1024);

    /* Halfway at 11,000 pages, far above where the checkpointer wakes. */
    store_sqlite_wal_pages_set(2000, 20000);
    struct store *store = open_or_fail(db_path, STORE_MODE_WRITE);
    long pauses = store_sqlite_checkpoint_pauses();
    long writebacks = store_sqlite_writebacks();
    bulk_fill(store, &key, 3 * 1000 * 1000, 1000);
    for (int64_t until = monotonic_ms() + 10000;
         store_sqlite_checkpoint_pauses() == pauses && monotonic_ms() < until;)
        usleep(10000);
    ASSERT(store_sqlite_checkpoint_pauses() > pauses);
    for (int64_t until = monotonic_ms() + 10000;
         store_sqlite_writebacks() == writebacks && monotonic_ms() < until;)
        usleep(10000);
    ASSERT(store_sqlite_writebacks() > writebacks);
    store_close(store);

    /* Halfway at 5,000 pages, and commits of about 6,000 (18,000 rows
     * of 300 bytes in 1 KiB pages): whenever the checkpointer wakes, the
     * WAL is past halfway, and below where the writer would wait. */
    store_sqlite_wal_pages_set(1000, 9000);
    store = open_or_fail(db_path, STORE_MODE_WRITE);
    pauses = store_sqlite_checkpoint_pauses();
    writebacks = store_sqlite_writebacks();
    bulk_fill(store, &key, 4 * 18000 * 300, 18000);
    store_close(store);
    /* Copies ran (their write-back was started), and none paused. */
    ASSERT(store_sqlite_writebacks() > writebacks);
    ASSERT_EQ_INT(store_sqlite_checkpoint_pauses(), pauses);

    store_sqlite_checkpoint_pace_set(0);
    store_sqlite_wal_pages_set(S_WAL_WAKE_PAGES, S_WAL_WAIT_PAGES);
    test_rmtree(dir);
}

TEST(checkpointer_hands_over_to_restart_the_wal)
{
    // The WAL restarts only when a transaction of the writer begins with every frame copied back. A
    // checkpointer that only chases the writer's commits seldom finds that moment: it runs round
    // after round of a few pages each, each syncing both files, and the WAL grows until the writer
    // has to wait for all of it. Once a round has left only a few frames, the checkpointer has the
    // writer wait for those, and the WAL restarts after a few rounds each time it passes the
    // threshold, far below where the writer would wait. That needs a checkpointer faster than the
    // writer. A writer committing as fast as it can outran the checkpointer's pace (80 MiB/s) on a
    // fast machine, and a busy one (the other tests) starved the checkpointer at its nice value:
    // each round then left more behind than the one before, as a daemon's writer past the pace
    // would (it waits at the WAL's limit instead: checkpointer_bounds_the_wal). So this writer
    // pauses a millisecond after each commit of about 32 KiB, as the ledger's commits are spaced by
    // the disk's syncs: under 32 MiB/s.
    fresh_dir();
    raw_small_pages("CREATE TABLE bulk (k INTEGER PRIMARY KEY, b BLOB NOT NULL)");
    store_sqlite_wal_pages_set(1000, 1000000);
    struct store *store = open_or_fail(db_path, STORE_MODE_WRITE);
    struct store_stats stats;
    store_stats_get(store, &stats);
    ASSERT_EQ_INT(stats.wal_restarts_total, 0);
    ASSERT_EQ_INT(stats.checkpoint_rounds_total, 0);
    int64_t key = 0;
    bulk_fill_paced(store, &key, 20 * 1000 * 1000, 100, 1000);
    store_stats_get(store, &stats);
    store_close(store);
    fprintf(stderr,
            "  %" PRIu64 " checkpoint rounds, %" PRIu64 " WAL restarts, %" PRIu64
            " waits of the writer (%" PRIu64 " us), %" PRIu64 " bytes copied\n",
            stats.checkpoint_rounds_total, stats.wal_restarts_total, stats.checkpoint_waits_total,
            stats.checkpoint_wait_us_total, stats.checkpoint_bytes_total);
    /* About 22,000 frames, a restart every 1,000 and some. */
    ASSERT(stats.wal_restarts_total >= 5);
    ASSERT(stats.checkpoint_rounds_total <= 8 * stats.wal_restarts_total);
    /* The handovers were waits of the writer; the copies reached the file. */
    ASSERT(stats.checkpoint_waits_total >= 1);
    ASSERT(stats.checkpoint_wait_us_total >= 1);
    ASSERT(stats.checkpoint_bytes_total >= 1000 * 1024);
    ASSERT(stats.wal_frames > 0 && stats.wal_frames < 1000000);

    /* A read connection keeps no such figures. */
    store = open_or_fail(db_path, STORE_MODE_READ);
    store_stats_get(store, &stats);
    store_close(store);
    ASSERT_EQ_INT(stats.checkpoint_rounds_total + stats.wal_restarts_total, 0);

    store_sqlite_wal_pages_set(S_WAL_WAKE_PAGES, S_WAL_WAIT_PAGES);
    test_rmtree(dir);
}

TEST(a_reader_s_snapshot_does_not_hold_up_every_commit)
{
    // A long read (an operator's ledger check on a live daemon) keeps the WAL from being copied
    // past its snapshot. Past the size where the writer waits for a checkpoint, waiting cannot help
    // until the read ends: the writer must wait once, not at every commit, and the WAL grows
    // meanwhile; once the read ends, the WAL is copied back and restarts as before.
    fresh_dir();
    raw_small_pages("CREATE TABLE bulk (k INTEGER PRIMARY KEY, b BLOB NOT NULL)");
    store_sqlite_wal_pages_set(500, 2000);
    struct store *store = open_or_fail(db_path, STORE_MODE_WRITE);
    int64_t key = 0;
    bulk_fill(store, &key, 100 * 1000, 100);

    struct store *reader = open_or_fail(db_path, STORE_MODE_READ);
    struct store_stmt *st = NULL;
    ASSERT_EQ_INT(store_begin(reader), QB_OK);
    ASSERT_EQ_INT(store_prepare(reader, "SELECT COUNT(*) FROM bulk", &st), QB_OK);
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    int64_t seen = store_column_int64(st, 0);
    store_finalize(st);

    /* About 4,000 frames past the reader's snapshot, in 120 commits. */
    struct store_stats before, after;
    store_stats_get(store, &before);
    int64_t started = monotonic_ms();
    bulk_fill(store, &key, 4000 * 1000, 100);
    int64_t took_ms = monotonic_ms() - started;
    store_stats_get(store, &after);
    fprintf(stderr,
            "  with a reader: %" PRIu64 " waits of the writer, %" PRId64 " ms, WAL %" PRId64
            " frames\n",
            after.checkpoint_waits_total - before.checkpoint_waits_total, took_ms,
            after.wal_frames);
    ASSERT(after.wal_frames > 4000);
    ASSERT(after.checkpoint_waits_total - before.checkpoint_waits_total <= 2);

    /* The reader still sees its snapshot; once it ends, the WAL restarts. */
    ASSERT_EQ_INT(store_prepare(reader, "SELECT COUNT(*) FROM bulk", &st), QB_OK);
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    ASSERT_EQ_INT(store_column_int64(st, 0), seen);
    store_finalize(st);
    ASSERT_EQ_INT(store_commit(reader), QB_OK);
    store_close(reader);
    /* The checkpointer runs below the writer, and slowly in sanitizer
     * builds: commits go on until its copy has caught up and the WAL has
     * restarted, for at most ten seconds. */
    for (int64_t until = monotonic_ms() + 10000;
         after.wal_restarts_total == before.wal_restarts_total && monotonic_ms() < until;) {
        bulk_fill(store, &key, 100 * 1000, 100);
        store_stats_get(store, &after);
    }
    ASSERT(after.wal_restarts_total > before.wal_restarts_total);
    store_close(store);

    store_sqlite_wal_pages_set(S_WAL_WAKE_PAGES, S_WAL_WAIT_PAGES);
    test_rmtree(dir);
}

/* The nice value of this process's thread named name (field 19 of
 * /proc/self/task/<tid>/stat); -100 when no thread has the name. */
static int thread_nice(const char *name)
{
    char path[300], text[1024];
    for (int attempt = 0; attempt < 100; attempt++) {
        DIR *tasks = opendir("/proc/self/task");
        if (tasks == NULL)
            return -100;
        int nice = -100;
        for (struct dirent *d; nice == -100 && (d = readdir(tasks)) != NULL;) {
            snprintf(path, sizeof path, "/proc/self/task/%s/stat", d->d_name);
            FILE *f = fopen(path, "r");
            if (f == NULL)
                continue;
            size_t size = fread(text, 1, sizeof text - 1, f);
            fclose(f);
            text[size] = '\0';
            /* "tid (comm) state ...": nice is field 19. */
            const char *open = strchr(text, '('), *close = strrchr(text, ')');
            if (open == NULL || close == NULL || (size_t)(close - open - 1) != strlen(name) ||
                strncmp(open + 1, name, strlen(name)) != 0)
                continue;
            const char *p = close + 1;
            for (int field = 3; p != NULL && field < 19; field++) /* p: the space before it */
                p = strchr(p + 1, ' ');
            if (p != NULL)
                nice = atoi(p + 1);
        }
        closedir(tasks);
        if (nice != -100)
            return nice;
        usleep(10000); /* the thread names itself once it runs */
    }
    return -100;
}

TEST(checkpointer_runs_below_the_writer)
{
    // The checkpointer's copies take CPU in bursts; it runs at a lower priority than the ledger's
    // writer (nice 10) so that the writer's commits do not wait for a core behind it.
    fresh_dir();
    struct store *store = open_or_fail(db_path, STORE_MODE_WRITE);
    ASSERT_EQ_INT(thread_nice("qb-checkpointer"), 10);
    store_close(store);
    test_rmtree(dir);
}

struct release_later {
    struct store_pool *pool;
    struct store *store;
    int64_t delay_ms;
};

static void *release_later_main(void *arg)
{
    struct release_later *rl = arg;
    usleep((useconds_t)(rl->delay_ms * 1000));
    store_pool_release(rl->pool, rl->store);
    return NULL;
}

TEST(pool_acquire_times_out_busy)
{
    // A burst of reads must not queue without end: with every connection lent, acquire waits
    // wait_ms and answers QB_E_BUSY; a connection coming back wakes a waiter at once.
    fresh_dir();
    struct store *writer = open_or_fail(db_path, STORE_MODE_WRITE);
    char err[256];
    struct store_pool *pool = NULL;
    ASSERT_EQ_INT(store_pool_open(db_path, 2, &pool, err, sizeof err), QB_OK);

    struct store *a = NULL, *b = NULL, *c = NULL;
    ASSERT_EQ_INT(store_pool_acquire(pool, 0, &a), QB_OK);
    ASSERT_EQ_INT(store_pool_acquire(pool, 0, &b), QB_OK);
    ASSERT(a != NULL && b != NULL && a != b);

    int64_t start_ms = monotonic_ms();
    ASSERT_EQ_INT(store_pool_acquire(pool, 100, &c), QB_E_BUSY);
    int64_t waited_ms = monotonic_ms() - start_ms;
    ASSERT(c == NULL);
    ASSERT(waited_ms >= 95);
    ASSERT(waited_ms < 2000);
    ASSERT_EQ_INT(store_pool_acquire(pool, 0, &c), QB_E_BUSY);

    /* A connection released by another thread ends the wait early. */
    struct release_later rl = {.pool = pool, .store = b, .delay_ms = 50};
    pthread_t thread;
    ASSERT_EQ_INT(pthread_create(&thread, NULL, release_later_main, &rl), 0);
    start_ms = monotonic_ms();
    ASSERT_EQ_INT(store_pool_acquire(pool, 5000, &c), QB_OK);
    waited_ms = monotonic_ms() - start_ms;
    pthread_join(thread, NULL);
    ASSERT(c == b);
    ASSERT(waited_ms < 4000);

    /* A pooled connection reads, and a transaction left open is closed on release. */
    ASSERT_EQ_INT(store_begin(c), QB_OK);
    char value[16];
    pragma_text(c, "PRAGMA user_version", value, sizeof value);
    store_pool_release(pool, c);
    ASSERT_EQ_INT(store_pool_acquire(pool, 0, &c), QB_OK);
    ASSERT_EQ_INT(store_begin(c), QB_OK);
    ASSERT_EQ_INT(store_rollback(c), QB_OK);

    store_pool_release(pool, a);
    store_pool_release(pool, c);
    store_pool_close(pool);
    store_close(writer);
    test_rmtree(dir);
}

int main(void)
{
#ifdef QB_TEST_HOOKS
    RUN(a_commit_that_failed_once_in_the_wal_stops_the_process);
    RUN(a_trigger_or_view_put_in_by_hand_is_refused);
#endif
    RUN(refuses_newer_schema);
    RUN(a_failed_migration_leaves_the_old_version_whole);
    RUN(another_programs_database_is_refused);
    RUN(a_fresh_database_is_what_the_migrations_make);
    RUN(durability_pragmas_read_back);
    RUN(refuses_a_database_without_wal);
    RUN(urls);
    RUN(conflict_without_savepoint_keeps_transaction);
    RUN(store_run_reads_values_in_place_and_later_uses_copy);
    RUN(prepare_rejects_unportable_sql);
    RUN(pool_acquire_times_out_busy);
    RUN(checkpointer_bounds_the_wal);
    RUN(checkpoints_pace_their_copy_while_the_wal_has_room);
    RUN(checkpointer_runs_below_the_writer);
    RUN(checkpointer_hands_over_to_restart_the_wal);
    RUN(a_reader_s_snapshot_does_not_hold_up_every_commit);
    RUN(checkpoints_keep_the_writer_cache);
    return test_summary();
}

/*
 * test_sqlite_pcache.c — the page cache the SQLite backend installs
 * (src/store/sqlite_pcache.c): a commit after b-tree splits hands no
 * truncation to SQLite's built-in cache (which would scan all of it), a
 * commit after a rolled-back growth of the file does, and the database
 * stays whole and holds exactly what was committed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "base/rand.h"
#include "store/sqlite_pcache.h"
#include "store/store.h"
#include "test.h"

#define DIR_SIZE_MAX 1024
#define PATH_SIZE_MAX (DIR_SIZE_MAX + 64)
#define P_ROUNDS 60
#define P_ROWS_PER_ROUND 400

static char dir[DIR_SIZE_MAX];

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *message = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &message);
    if (rc != SQLITE_OK)
        TEST_FAIL_("%s: %s", sql, message != NULL ? message : "?");
}

static int64_t query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    ASSERT_EQ_INT(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_step(st), SQLITE_ROW);
    int64_t value = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return value;
}

/* Inserts count rows with random 16-byte keys (an index that splits all
 * over, as idempotency keys and user ids do) and a 100-byte value. */
static void insert_random(sqlite3 *db, struct qb_rand *rand, int count)
{
    sqlite3_stmt *st = NULL;
    ASSERT_EQ_INT(sqlite3_prepare_v2(db, "INSERT INTO t (k, v) VALUES (?1, zeroblob(100))", -1,
                                     &st, NULL),
                  SQLITE_OK);
    for (int i = 0; i < count; i++) {
        unsigned char key[16];
        rand_fill(rand, key, sizeof key);
        ASSERT_EQ_INT(sqlite3_bind_blob(st, 1, key, sizeof key, SQLITE_TRANSIENT), SQLITE_OK);
        ASSERT_EQ_INT(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
}

TEST(installed_by_the_first_store_open)
{
    /* The backend installs the cache before SQLite initializes: a
     * commit through a store already counts as a truncation decided here. */
    test_tmpdir(dir, sizeof dir);
    char url[PATH_SIZE_MAX];
    snprintf(url, sizeof url, "%s/first.db", dir);
    uint64_t forwarded0, skipped0, forwarded1, skipped1;
    sqlite_pcache_stats(&forwarded0, &skipped0);
    char err[256];
    struct store *store = NULL;
    ASSERT_EQ_INT(store_open(url, STORE_MODE_WRITE, &store, err, sizeof err), QB_OK);
    store_close(store);
    sqlite_pcache_stats(&forwarded1, &skipped1);
    ASSERT(forwarded1 + skipped1 > forwarded0 + skipped0);
    test_rmtree(dir);
}

TEST(splits_hand_over_no_truncation_and_rollbacks_do)
{
    test_tmpdir(dir, sizeof dir);
    char path[PATH_SIZE_MAX];
    snprintf(path, sizeof path, "%s/splits.db", dir);
    sqlite3 *db = NULL;
    ASSERT_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    exec_ok(db, "PRAGMA journal_mode=WAL; PRAGMA cache_size=-65536;"
                "CREATE TABLE t (id INTEGER PRIMARY KEY, k BLOB NOT NULL UNIQUE, v BLOB);");
    struct qb_rand rand;
    rand_seeded_init(&rand, test_seed());

    /* Phase 1: commits of random inserts. Each makes splits whose page
     * swaps park a page at the lock byte's page for a moment; none of
     * them leaves a page past the end of the file. */
    uint64_t forwarded0, skipped0, forwarded1, skipped1;
    sqlite_pcache_stats(&forwarded0, &skipped0);
    int64_t rows = 0;
    for (int round = 0; round < P_ROUNDS; round++) {
        exec_ok(db, "BEGIN");
        insert_random(db, &rand, P_ROWS_PER_ROUND);
        exec_ok(db, "COMMIT");
        rows += P_ROWS_PER_ROUND;
    }
    sqlite_pcache_stats(&forwarded1, &skipped1);
    ASSERT(skipped1 - skipped0 >= P_ROUNDS);
    ASSERT_EQ_INT(forwarded1 - forwarded0, 0);
    ASSERT(query_int(db, "PRAGMA page_count") > 500); /* splits did happen */

    /* Phase 2: a savepoint grows the file and is rolled back: the pages
     * it added are past the end at commit, and must be dropped. */
    int64_t pages_before = query_int(db, "PRAGMA page_count");
    exec_ok(db, "BEGIN; SAVEPOINT grow;");
    insert_random(db, &rand, 2000);
    ASSERT(query_int(db, "PRAGMA page_count") > pages_before);
    exec_ok(db, "ROLLBACK TO grow; RELEASE grow;");
    insert_random(db, &rand, 10);
    exec_ok(db, "COMMIT");
    rows += 10;
    uint64_t forwarded2, skipped2;
    sqlite_pcache_stats(&forwarded2, &skipped2);
    ASSERT(forwarded2 - forwarded1 >= 1);

    /* Growing again reuses those page numbers; everything committed, and
     * nothing else, is there, and the file is whole. */
    for (int round = 0; round < 5; round++) {
        exec_ok(db, "BEGIN");
        insert_random(db, &rand, P_ROWS_PER_ROUND);
        exec_ok(db, "COMMIT");
        rows += P_ROWS_PER_ROUND;
    }
    ASSERT_EQ_INT(query_int(db, "SELECT count(*) FROM t"), rows);
    ASSERT_EQ_INT(query_int(db, "SELECT count(*) FROM t INDEXED BY sqlite_autoindex_t_1 WHERE k > x''"),
                  rows);
    sqlite3_stmt *st = NULL;
    ASSERT_EQ_INT(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_step(st), SQLITE_ROW);
    ASSERT_EQ_STR((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(db);
    test_rmtree(dir);
}

int main(void)
{
    RUN(installed_by_the_first_store_open);
    RUN(splits_hand_over_no_truncation_and_rollbacks_do);
    return test_summary();
}

/*
 * schema_at.h — a database as an older Qianbao left it, for the tests of a
 * migration: the first `version` migrations applied and PRAGMA user_version
 * set to it, then the test's own rows. Opening it with store_open runs the
 * migrations after it.
 */
#ifndef QB_TESTS_UNIT_SCHEMA_AT_H
#define QB_TESTS_UNIT_SCHEMA_AT_H

#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "store/schema.h"
#include "store/store.h"
#include "test.h"

static inline void test_db_at_version(const char *path, size_t version, const char *rows_sql)
{
    ASSERT(version < store_sqlite_migration_count);
    sqlite3 *db = NULL;
    ASSERT_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    for (size_t i = 0; i < version; i++)
        ASSERT_EQ_INT(sqlite3_exec(db, store_sqlite_migrations[i], NULL, NULL, NULL), SQLITE_OK);
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version=%zu", version);
    ASSERT_EQ_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_exec(db, rows_sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* A migration's test: a database at `version` (the migration under test is
 * store_sqlite_migrations[version], and contains `marker`, so that a
 * renumbering fails here rather than testing another one), holding the
 * test's rows, in a fresh temporary directory, then opened by this Qianbao,
 * which runs the migrations after it. test_old_db_close removes it all. */
struct test_old_db {
    char dir[512];
    char path[600];
    struct store *store;
};

static inline void test_old_db_open(struct test_old_db *db, size_t version, const char *marker,
                                    const char *rows_sql)
{
    ASSERT(store_sqlite_migration_count > version);
    ASSERT(strstr(store_sqlite_migrations[version], marker) != NULL);
    test_tmpdir(db->dir, sizeof db->dir);
    snprintf(db->path, sizeof db->path, "%s/old.db", db->dir);
    test_db_at_version(db->path, version, rows_sql);
    char message[256] = "";
    db->store = NULL;
    if (store_open(db->path, STORE_MODE_WRITE, &db->store, message, sizeof message) != QB_OK)
        TEST_FAIL_("store_open after migration %zu: %s", version, message);
}

static inline void test_old_db_close(struct test_old_db *db)
{
    store_close(db->store);
    db->store = NULL;
    test_rmtree(db->dir);
}

#endif

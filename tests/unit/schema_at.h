/*
 * schema_at.h — a database as an older Qianbao left it, for the tests of a
 * migration: the first `version` migrations applied and PRAGMA user_version
 * set to it, then the test's own rows. Opening it with store_open runs the
 * migrations after it.
 */
#ifndef QB_TESTS_UNIT_SCHEMA_AT_H
#define QB_TESTS_UNIT_SCHEMA_AT_H

#include <stdio.h>

#include <sqlite3.h>

#include "store/schema.h"
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

#endif

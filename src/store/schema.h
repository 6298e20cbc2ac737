/*
 * schema.h — the versioned migrations of each backend.
 *
 * Owns: the table definitions. Migration N takes a database from schema
 * version N-1 to N; store_open applies the missing ones in order, all in one
 * transaction (a database is at its old version or the newest, never in
 * between), and records the version (SQLite: PRAGMA user_version).
 * A database newer than the newest migration is refused.
 *
 * To add a migration: 1) append one string to each backend's array (never
 * edit a published one); 2) write the same tables for every backend;
 * 3) the store contract tests run against all backends.
 */
#ifndef QB_STORE_SCHEMA_H
#define QB_STORE_SCHEMA_H

#include <stddef.h>

extern const char *const store_sqlite_migrations[];
extern const size_t store_sqlite_migration_count;

#endif

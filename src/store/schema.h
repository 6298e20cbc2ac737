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
 * 3) the store contract tests run against all backends. The fresh schema
 * follows by itself (a build step).
 */
#ifndef QB_STORE_SCHEMA_H
#define QB_STORE_SCHEMA_H

#include <stddef.h>

extern const char *const store_sqlite_migrations[];
extern const size_t store_sqlite_migration_count;

/* What the migrations make of an empty database, as statements that make it
 * at once: written at build time by qb_schema_fresh (src/cmd/schema_fresh.c)
 * from SQLite's own record after running them all, never by hand. store_open
 * runs these on an empty file, the migrations on any other. */
extern const char *const store_sqlite_fresh_schema[]; /* one statement each */
extern const size_t store_sqlite_fresh_statement_count;
extern const size_t store_sqlite_fresh_version; /* == store_sqlite_migration_count */

#endif

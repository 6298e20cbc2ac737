/*
 * schema_sqlite.c — migrations for the SQLite backend.
 *
 * Design notes for the ledger tables (docs/decisions/0002-ledger-design.md):
 * entries is append-only and keyed by its INTEGER PRIMARY KEY alone (the
 * rowid), so appending is the fastest write SQLite has; postings are a
 * fixed-width binary column read and written only by src/ledger/. The
 * accounts' balance columns are a checkpoint that the ledger flushes lazily;
 * meta.replay_from says where replay must begin for them to be current.
 */
#include "store/schema.h"

const char *const store_sqlite_migrations[] = {
    /* 1: the ledger */
    "CREATE TABLE meta ("
    "  key TEXT PRIMARY KEY,"
    "  value INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "INSERT INTO meta(key, value) VALUES ('replay_from', 1);"
    "CREATE TABLE accounts ("
    "  id INTEGER PRIMARY KEY,"
    "  owner TEXT NOT NULL,"
    "  currency TEXT NOT NULL,"
    "  kind INTEGER NOT NULL,"
    "  flags INTEGER NOT NULL,"
    "  floor_minor INTEGER NOT NULL,"
    "  created_at_ms INTEGER NOT NULL,"
    "  balance_minor INTEGER NOT NULL DEFAULT 0,"
    "  held_minor INTEGER NOT NULL DEFAULT 0,"
    "  last_entry_id INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE UNIQUE INDEX accounts_owner ON accounts(owner, currency, kind);"
    "CREATE TABLE entries ("
    "  id INTEGER PRIMARY KEY,"
    "  created_at_ms INTEGER NOT NULL,"
    "  kind INTEGER NOT NULL,"
    "  code INTEGER NOT NULL,"
    "  ref_entry_id INTEGER NOT NULL,"
    "  expires_at_ms INTEGER NOT NULL,"
    "  ref TEXT NOT NULL,"
    "  postings BLOB NOT NULL,"
    "  hash BLOB NOT NULL"
    ");"
    "CREATE TABLE holds ("
    "  id INTEGER PRIMARY KEY,"
    "  debit_account_id INTEGER NOT NULL,"
    "  credit_account_id INTEGER NOT NULL,"
    "  amount_minor INTEGER NOT NULL,"
    "  expires_at_ms INTEGER NOT NULL"
    ");"
    "CREATE TABLE idempotency ("
    "  principal TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  request_hash BLOB NOT NULL,"
    "  result INTEGER NOT NULL,"
    "  response BLOB NOT NULL,"
    "  created_at_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (principal, key)"
    ") WITHOUT ROWID;",
};

const size_t store_sqlite_migration_count =
    sizeof(store_sqlite_migrations) / sizeof(store_sqlite_migrations[0]);

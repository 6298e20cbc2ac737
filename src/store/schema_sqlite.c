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

    /* 2: identity, sessions, SMS codes and the SMS outbox (src/identity,
     * src/sms). Secrets are never stored in clear: login passwords as
     * Argon2id strings, payment passwords and SMS codes as keyed hashes,
     * session tokens as SHA-256, the id number and the outbox's message
     * text sealed with a key kept outside the database. seq numbers the
     * rows of a listed table in insertion order: lists order and page by it,
     * since two rows may share a created_at millisecond. */
    "CREATE TABLE users ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  phone TEXT NOT NULL UNIQUE,"
    "  display_name TEXT NOT NULL,"
    "  password_hash TEXT NOT NULL,"
    "  payment_password_hash BLOB,"
    "  payment_password_failures INTEGER NOT NULL DEFAULT 0,"
    "  payment_password_locked_until_ms INTEGER NOT NULL DEFAULT 0,"
    "  kyc_level INTEGER NOT NULL DEFAULT 1,"
    "  real_name_sealed BLOB,"
    "  id_number_sealed BLOB,"
    "  id_number_last4 TEXT,"
    "  status INTEGER NOT NULL DEFAULT 1,"
    "  frozen_by INTEGER NOT NULL DEFAULT 0,"
    "  account_id INTEGER NOT NULL,"
    "  created_at_ms INTEGER NOT NULL"
    ");"
    "CREATE TABLE sessions ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  token_hash BLOB NOT NULL UNIQUE,"
    "  user_id TEXT NOT NULL REFERENCES users(id),"
    "  device_name TEXT NOT NULL,"
    "  created_at_ms INTEGER NOT NULL,"
    "  last_seen_at_ms INTEGER NOT NULL,"
    "  expires_at_ms INTEGER NOT NULL,"
    "  revoked_at_ms INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX sessions_user ON sessions(user_id, seq);"
    "CREATE TABLE sms_codes ("
    "  id INTEGER PRIMARY KEY,"
    "  phone TEXT NOT NULL,"
    "  purpose INTEGER NOT NULL,"
    "  target TEXT NOT NULL,"
    "  code_hash BLOB NOT NULL,"
    "  created_at_ms INTEGER NOT NULL,"
    "  expires_at_ms INTEGER NOT NULL,"
    "  failures INTEGER NOT NULL DEFAULT 0,"
    "  used INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX sms_codes_phone ON sms_codes(phone, purpose, created_at_ms);"
    "CREATE TABLE sms_outbox ("
    "  id INTEGER PRIMARY KEY,"
    "  phone TEXT NOT NULL,"
    "  purpose INTEGER NOT NULL,"
    "  code_sealed BLOB NOT NULL,"
    "  created_at_ms INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_at_ms INTEGER NOT NULL,"
    "  delivered_at_ms INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX sms_outbox_phone ON sms_outbox(phone, created_at_ms);"
    "CREATE INDEX sms_outbox_pending ON sms_outbox(delivered_at_ms, next_attempt_at_ms);"
    "CREATE TABLE security_events ("
    "  id INTEGER PRIMARY KEY,"
    "  user_id TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  detail TEXT NOT NULL,"
    "  created_at_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX security_events_user ON security_events(user_id, created_at_ms);",
};

const size_t store_sqlite_migration_count =
    sizeof(store_sqlite_migrations) / sizeof(store_sqlite_migrations[0]);

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
    "  login_failures INTEGER NOT NULL DEFAULT 0,"
    "  login_locked_until_ms INTEGER NOT NULL DEFAULT 0,"
    "  kyc_level INTEGER NOT NULL DEFAULT 1,"
    "  real_name_sealed BLOB,"
    "  id_number_sealed BLOB,"
    "  id_number_last4 TEXT,"
    "  id_number_hash BLOB,"
    "  status INTEGER NOT NULL DEFAULT 1,"
    "  frozen_by INTEGER NOT NULL DEFAULT 0,"
    "  account_id INTEGER NOT NULL,"
    "  created_at_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX users_id_number ON users(id_number_hash);"
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

    /* 3: money in and out (src/wallet, src/bank). A card number is sealed
     * and fingerprinted with a keyed hash (to refuse binding one card twice
     * without decrypting every card); only its last four digits are kept in
     * clear. A payment is one top-up, withdrawal or transfer; its ledger
     * entries carry its id as their ref. spending holds what the limits
     * read and write inside the paying command, one row per user. */
    "CREATE TABLE cards ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  user_id TEXT NOT NULL,"
    "  number_sealed BLOB NOT NULL,"
    "  number_hash BLOB NOT NULL,"
    "  holder_name_sealed BLOB NOT NULL,"
    "  phone TEXT NOT NULL,"
    "  bank TEXT NOT NULL,"
    "  card_type TEXT NOT NULL,"
    "  last4 TEXT NOT NULL,"
    "  created_at_ms INTEGER NOT NULL,"
    "  removed_at_ms INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX cards_user ON cards(user_id, seq);"
    "CREATE INDEX cards_number ON cards(number_hash);"
    "CREATE TABLE payments ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  kind INTEGER NOT NULL,"
    "  user_id TEXT NOT NULL,"
    "  counterparty_id TEXT NOT NULL DEFAULT '',"
    "  card_id TEXT NOT NULL DEFAULT '',"
    "  currency TEXT NOT NULL,"
    "  amount_minor INTEGER NOT NULL,"
    "  fee_minor INTEGER NOT NULL DEFAULT 0,"
    "  memo TEXT NOT NULL DEFAULT '',"
    "  status INTEGER NOT NULL,"
    "  failure_code TEXT NOT NULL DEFAULT '',"
    "  hold_id INTEGER NOT NULL DEFAULT 0,"
    "  entry_id INTEGER NOT NULL DEFAULT 0,"
    "  bank_ref TEXT NOT NULL DEFAULT '',"
    "  created_at_ms INTEGER NOT NULL,"
    "  updated_at_ms INTEGER NOT NULL,"
    "  next_check_at_ms INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX payments_pending ON payments(next_check_at_ms) WHERE status = 1;"
    "CREATE TABLE spending ("
    "  user_id TEXT PRIMARY KEY,"
    "  day_start_ms INTEGER NOT NULL DEFAULT 0,"
    "  day_used_minor INTEGER NOT NULL DEFAULT 0,"
    "  year INTEGER NOT NULL DEFAULT 0,"
    "  year_used_minor INTEGER NOT NULL DEFAULT 0,"
    "  lifetime_used_minor INTEGER NOT NULL DEFAULT 0,"
    "  user_daily_limit_minor INTEGER NOT NULL DEFAULT 0,"
    "  password_free_limit_minor INTEGER NOT NULL DEFAULT 0"
    ") WITHOUT ROWID;",

    /* 4: red packets (src/wallet/redpacket.h). The money sits in the
     * escrow account between sending and claiming; these rows say whose it
     * is. The seed of the fair split is sealed (it would let a reader of
     * the database predict every share) and only its commitment is in
     * clear. A claim row per user and packet: the UNIQUE constraints back
     * the claim command's own checks (one claim per user, one per
     * position). refund_after_ms is when the expiry worker next tries
     * the refund: expires_at_ms, later if the sender's account refused. */
    "CREATE TABLE red_packets ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  sender_id TEXT NOT NULL,"
    "  type INTEGER NOT NULL,"
    "  currency TEXT NOT NULL,"
    "  total_minor INTEGER NOT NULL,"
    "  count INTEGER NOT NULL,"
    "  greeting TEXT NOT NULL DEFAULT '',"
    "  seed_sealed BLOB NOT NULL,"
    "  commitment BLOB NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  claimed_count INTEGER NOT NULL DEFAULT 0,"
    "  claimed_minor INTEGER NOT NULL DEFAULT 0,"
    "  refunded_minor INTEGER NOT NULL DEFAULT 0,"
    "  entry_id INTEGER NOT NULL,"
    "  refund_entry_id INTEGER NOT NULL DEFAULT 0,"
    "  created_at_ms INTEGER NOT NULL,"
    "  expires_at_ms INTEGER NOT NULL,"
    "  refund_after_ms INTEGER NOT NULL,"
    "  finished_at_ms INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX red_packets_due ON red_packets(refund_after_ms) WHERE status = 1;"
    "CREATE TABLE red_packet_claims ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  packet_id TEXT NOT NULL,"
    "  user_id TEXT NOT NULL,"
    "  position INTEGER NOT NULL,"
    "  amount_minor INTEGER NOT NULL,"
    "  entry_id INTEGER NOT NULL,"
    "  created_at_ms INTEGER NOT NULL,"
    "  UNIQUE (packet_id, user_id),"
    "  UNIQUE (packet_id, position)"
    ");",

    /* 5: merchants and their orders (src/merchant). A merchant keeps its
     * public key (never its private key), the serial of the certificate
     * Qianbao issued for it, and its API v3 key sealed with the key kept
     * outside the database (the key encrypts what Qianbao sends it, so it
     * must be recoverable; it is never shown again). An order is unique per
     * (mchid, out_trade_no); request_hash fingerprints the body that made it
     * so that a retry can be told from a different order under the same
     * number; pay_token is the secret part of its code_url and prepay_id. */
    "CREATE TABLE merchants ("
    "  seq INTEGER PRIMARY KEY,"
    "  mchid TEXT NOT NULL UNIQUE,"
    "  appid TEXT NOT NULL UNIQUE,"
    "  name TEXT NOT NULL,"
    "  owner_user_id TEXT NOT NULL DEFAULT '',"
    "  status INTEGER NOT NULL DEFAULT 1,"
    "  public_key_pem TEXT NOT NULL,"
    "  serial_no TEXT NOT NULL,"
    "  apiv3_key_sealed BLOB NOT NULL,"
    "  fee_ppm INTEGER NOT NULL,"
    "  account_id INTEGER NOT NULL,"
    "  created_at_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX merchants_owner ON merchants(owner_user_id, seq);"
    "CREATE TABLE orders ("
    "  seq INTEGER PRIMARY KEY,"
    "  transaction_id TEXT NOT NULL UNIQUE,"
    "  mchid TEXT NOT NULL,"
    "  out_trade_no TEXT NOT NULL,"
    "  appid TEXT NOT NULL,"
    "  trade_type INTEGER NOT NULL,"
    "  request_hash BLOB NOT NULL,"
    "  description TEXT NOT NULL,"
    "  attach TEXT NOT NULL DEFAULT '',"
    "  notify_url TEXT NOT NULL,"
    "  currency TEXT NOT NULL,"
    "  total_minor INTEGER NOT NULL,"
    "  fee_minor INTEGER NOT NULL DEFAULT 0,"
    "  payer_openid TEXT NOT NULL DEFAULT '',"
    "  payer_user_id TEXT NOT NULL DEFAULT '',"
    "  payment_id TEXT NOT NULL DEFAULT '',"
    "  state INTEGER NOT NULL,"
    "  pay_token TEXT NOT NULL UNIQUE,"
    "  entry_id INTEGER NOT NULL DEFAULT 0,"
    "  created_at_ms INTEGER NOT NULL,"
    "  expires_at_ms INTEGER NOT NULL,"
    "  success_at_ms INTEGER NOT NULL DEFAULT 0,"
    "  closed_at_ms INTEGER NOT NULL DEFAULT 0,"
    "  updated_at_ms INTEGER NOT NULL,"
    "  UNIQUE (mchid, out_trade_no)"
    ");",

    /* 6: refunds of merchant orders and the merchant notification outbox
     * (src/merchant/refund.h, notify.h). A refund is unique per (mchid,
     * out_refund_no); request_hash tells a retry from a different refund
     * under the same number. A notification is written in the same
     * transaction as the payment or refund it tells of and delivered by a
     * worker afterwards: next_attempt_at_ms is the retry ladder's schedule,
     * kept here so that it survives a restart; every attempt leaves a row
     * in notification_attempts. resource is the plaintext JSON the worker
     * encrypts under the merchant's API v3 key at each attempt. */
    "CREATE TABLE refunds ("
    "  seq INTEGER PRIMARY KEY,"
    "  refund_id TEXT NOT NULL UNIQUE,"
    "  mchid TEXT NOT NULL,"
    "  out_refund_no TEXT NOT NULL,"
    "  transaction_id TEXT NOT NULL,"
    "  out_trade_no TEXT NOT NULL,"
    "  request_hash BLOB NOT NULL,"
    "  reason TEXT NOT NULL DEFAULT '',"
    "  notify_url TEXT NOT NULL DEFAULT '',"
    "  currency TEXT NOT NULL,"
    "  total_minor INTEGER NOT NULL,"
    "  refund_minor INTEGER NOT NULL,"
    "  fee_refund_minor INTEGER NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  payment_id TEXT NOT NULL,"
    "  entry_id INTEGER NOT NULL,"
    "  created_at_ms INTEGER NOT NULL,"
    "  success_at_ms INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE (mchid, out_refund_no)"
    ");"
    "CREATE INDEX refunds_order ON refunds(transaction_id);"
    "CREATE TABLE notifications ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  mchid TEXT NOT NULL,"
    "  event_type TEXT NOT NULL,"
    "  original_type TEXT NOT NULL,"
    "  object_id TEXT NOT NULL,"
    "  summary TEXT NOT NULL,"
    "  notify_url TEXT NOT NULL,"
    "  resource TEXT NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  attempt_count INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_at_ms INTEGER NOT NULL,"
    "  delivered_at_ms INTEGER NOT NULL DEFAULT 0,"
    "  created_at_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX notifications_due ON notifications(next_attempt_at_ms) WHERE status = 1;"
    "CREATE INDEX notifications_merchant ON notifications(mchid, seq);"
    "CREATE TABLE notification_attempts ("
    "  seq INTEGER PRIMARY KEY,"
    "  notification_id TEXT NOT NULL,"
    "  attempt INTEGER NOT NULL,"
    "  at_ms INTEGER NOT NULL,"
    "  http_status INTEGER NOT NULL,"
    "  error TEXT NOT NULL DEFAULT '',"
    "  duration_ms INTEGER NOT NULL,"
    "  UNIQUE (notification_id, attempt)"
    ");",
    /* 7: payment codes (src/merchant/paycode.h, docs/paycode.md). A device
     * holds a random slot and its seed sealed with the key kept outside the
     * database; wrong_count and locked_until_ms are the slot's guess limit;
     * issue_step and issue_count the counters the server handed out for
     * online codes. paycode_used remembers every accepted (device, step,
     * counter) so that a code pays at most once; paycode_settings the
     * user's password-free amount and count for codes, and today's count.
     * orders_userpaying finds a payer's orders waiting for confirmation,
     * orders_due those whose confirmation time has passed (the worker). */
    "CREATE TABLE paycode_devices ("
    "  id TEXT PRIMARY KEY,"
    "  user_id TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  kind INTEGER NOT NULL,"
    "  slot INTEGER NOT NULL,"
    "  seed_sealed BLOB NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  wrong_count INTEGER NOT NULL DEFAULT 0,"
    "  locked_until_ms INTEGER NOT NULL DEFAULT 0,"
    "  issue_step INTEGER NOT NULL DEFAULT 0,"
    "  issue_count INTEGER NOT NULL DEFAULT 0,"
    "  created_at_ms INTEGER NOT NULL,"
    "  revoked_at_ms INTEGER NOT NULL DEFAULT 0,"
    "  last_used_at_ms INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX paycode_devices_slot ON paycode_devices(slot, status);"
    "CREATE INDEX paycode_devices_user ON paycode_devices(user_id, created_at_ms);"
    "CREATE TABLE paycode_used ("
    "  device_id TEXT NOT NULL,"
    "  step INTEGER NOT NULL,"
    "  counter INTEGER NOT NULL,"
    "  transaction_id TEXT NOT NULL,"
    "  used_at_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (device_id, step, counter)"
    ");"
    "CREATE TABLE paycode_settings ("
    "  user_id TEXT PRIMARY KEY,"
    "  free_limit_minor INTEGER NOT NULL,"
    "  free_daily_count INTEGER NOT NULL,"
    "  day_start_ms INTEGER NOT NULL DEFAULT 0,"
    "  day_count INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX orders_userpaying ON orders(payer_user_id, state, expires_at_ms);"
    "CREATE INDEX orders_due ON orders(state, expires_at_ms);",
    /* 8: a merchant's orders and refunds by time, for its daily trade bill
     * (paid orders and refunds by success_at_ms) and its analytics (orders
     * by created_at_ms, paid ones by success_at_ms), so neither scans other
     * merchants'. */
    ("CREATE INDEX orders_paid ON orders(mchid, success_at_ms) WHERE success_at_ms > 0;"
     "CREATE INDEX orders_created ON orders(mchid, created_at_ms);"
     "CREATE INDEX refunds_success ON refunds(mchid, success_at_ms) WHERE success_at_ms > 0;"),
    /* 9: a merchant's apps (src/merchant/merchant.h): every appid it may
     * create orders under, MERCHANT_APPS_MAX at most. An appid is one
     * merchant's for ever. merchants.appid stays the first (default) one;
     * the merchants made before this migration bring theirs along. */
    "CREATE TABLE merchant_apps ("
    "  appid TEXT PRIMARY KEY,"
    "  mchid TEXT NOT NULL REFERENCES merchants(mchid),"
    "  created_at_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX merchant_apps_mchid ON merchant_apps(mchid);"
    "INSERT INTO merchant_apps (appid, mchid, created_at_ms)"
    "  SELECT appid, mchid, created_at_ms FROM merchants ORDER BY seq;",
    /* 10: idempotency records in the order they are made (src/ledger/idem.c).
     * Keyed by (principal, key), clients' keys in no order, each new record
     * dirtied one or two random pages of a B-tree; appended, a commit writes
     * a page per few dozen. The writer finds a record through an index in
     * memory, rebuilt at start from (seq, fingerprint) through the covering
     * index idempotency_fingerprints, so a start does not read the answers.
     * The fingerprint is the first 8 bytes of SHA-256(principal NUL key),
     * which SQL cannot compute here: the ledger moves the old table's rows
     * at its first start after this migration. */
    "CREATE TABLE idempotency_records ("
    "  seq INTEGER PRIMARY KEY,"
    "  fingerprint INTEGER NOT NULL,"
    "  principal TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  request_hash BLOB NOT NULL,"
    "  result INTEGER NOT NULL,"
    "  response BLOB NOT NULL,"
    "  created_at_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX idempotency_fingerprints ON idempotency_records(seq, fingerprint);",
    /* 11: what a user account has spent (struct ledger_spent), kept by the
     * ledger with its balance: checkpointed in these columns, rebuilt from
     * the journal after them. The sums were the spending table's, where
     * each payment rewrote a random row; they come from there, current as
     * of the newest entry, which meta.spent_counted_to records so that the
     * next start does not count the entries after an older checkpoint a
     * second time. The spending table keeps the user's own settings. */
    "ALTER TABLE accounts ADD COLUMN spent_day_start_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE accounts ADD COLUMN spent_day_minor INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE accounts ADD COLUMN spent_year INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE accounts ADD COLUMN spent_year_minor INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE accounts ADD COLUMN spent_lifetime_minor INTEGER NOT NULL DEFAULT 0;"
    "UPDATE accounts SET (spent_day_start_ms, spent_day_minor, spent_year, spent_year_minor,"
    "    spent_lifetime_minor) = (SELECT s.day_start_ms, s.day_used_minor, s.year,"
    "    s.year_used_minor, s.lifetime_used_minor FROM spending s JOIN users u ON u.id = s.user_id"
    "    WHERE u.account_id = accounts.id)"
    "  WHERE id IN (SELECT u.account_id FROM users u JOIN spending s ON s.user_id = u.id);"
    "INSERT INTO meta (key, value) VALUES ('spent_counted_to',"
    "  (SELECT coalesce(max(id), 0) FROM entries));",

    /* 12: a packet's claims kept together, keyed by (packet_id, position),
     * and the packet's claimed sums no longer stored (src/wallet/redpacket.c).
     * A claim used to write three random pages: the packet's row (its sums)
     * and an entry in each of two unique indexes, (packet_id, user_id) and
     * (packet_id, position). Clustered by packet, a claim writes the one page
     * that holds its packet's claims; the claim command reads that page
     * anyway for the packet's sums and the claimer's earlier claim, so one
     * claim per user is checked there, under the ledger's one writer, and by
     * the verifier's walk of the claims (redpacket_check) rather than by an
     * index that cost a page per claim. */
    "CREATE TABLE red_packet_claims_by_packet ("
    "  packet_id TEXT NOT NULL,"
    "  position INTEGER NOT NULL,"
    "  id TEXT NOT NULL UNIQUE,"
    "  user_id TEXT NOT NULL,"
    "  amount_minor INTEGER NOT NULL,"
    "  entry_id INTEGER NOT NULL,"
    "  created_at_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (packet_id, position)"
    ") WITHOUT ROWID;"
    "INSERT INTO red_packet_claims_by_packet (packet_id, position, id, user_id, amount_minor,"
    "    entry_id, created_at_ms)"
    "  SELECT packet_id, position, id, user_id, amount_minor, entry_id, created_at_ms"
    "  FROM red_packet_claims;"
    "DROP TABLE red_packet_claims;"
    "ALTER TABLE red_packet_claims_by_packet RENAME TO red_packet_claims;"
    "ALTER TABLE red_packets DROP COLUMN claimed_count;"
    "ALTER TABLE red_packets DROP COLUMN claimed_minor;",

    /* 13: when each session was last seen, in a table of its own keyed by
     * the session's seq (src/identity/session.c). A touch rewrote the
     * session's row, about thirty to a page in random order, so the batch of
     * touches the HTTP layer submits each second dirtied one page per
     * session touched: a few thousand pages in one commit when many
     * sessions fall due together (after a restart, or at a busy hour), a
     * stall of tens of milliseconds for every payment queued behind it. Two
     * columns make about three hundred sessions a page; a second's touches
     * dirty a few hundred pages at most. */
    "CREATE TABLE session_seen ("
    "  seq INTEGER PRIMARY KEY,"
    "  last_seen_at_ms INTEGER NOT NULL"
    ");"
    "INSERT INTO session_seen (seq, last_seen_at_ms) SELECT seq, last_seen_at_ms FROM sessions;"
    "ALTER TABLE sessions DROP COLUMN last_seen_at_ms;",

    /* 14: payments keyed by their id alone. The table had a rowid (seq,
     * read by nothing) beside the unique index on id, so every payment grew
     * two B-trees and a commit wrote the right edge of both: 6.1 pages for
     * about twenty payments, 5.3 in one tree. (Not half: the interior pages
     * of a WITHOUT ROWID tree hold whole rows, about 200 bytes here, so its
     * right edge is deeper.) Ids are time-ordered (id_new_ordered), so new
     * rows still go at the end. */
    "CREATE TABLE payments_by_id ("
    "  id TEXT PRIMARY KEY,"
    "  kind INTEGER NOT NULL,"
    "  user_id TEXT NOT NULL,"
    "  counterparty_id TEXT NOT NULL DEFAULT '',"
    "  card_id TEXT NOT NULL DEFAULT '',"
    "  currency TEXT NOT NULL,"
    "  amount_minor INTEGER NOT NULL,"
    "  fee_minor INTEGER NOT NULL DEFAULT 0,"
    "  memo TEXT NOT NULL DEFAULT '',"
    "  status INTEGER NOT NULL,"
    "  failure_code TEXT NOT NULL DEFAULT '',"
    "  hold_id INTEGER NOT NULL DEFAULT 0,"
    "  entry_id INTEGER NOT NULL DEFAULT 0,"
    "  bank_ref TEXT NOT NULL DEFAULT '',"
    "  created_at_ms INTEGER NOT NULL,"
    "  updated_at_ms INTEGER NOT NULL,"
    "  next_check_at_ms INTEGER NOT NULL DEFAULT 0"
    ") WITHOUT ROWID;"
    "INSERT INTO payments_by_id (id, kind, user_id, counterparty_id, card_id, currency,"
    "    amount_minor, fee_minor, memo, status, failure_code, hold_id, entry_id, bank_ref,"
    "    created_at_ms, updated_at_ms, next_check_at_ms)"
    "  SELECT id, kind, user_id, counterparty_id, card_id, currency, amount_minor, fee_minor,"
    "    memo, status, failure_code, hold_id, entry_id, bank_ref, created_at_ms, updated_at_ms,"
    "    next_check_at_ms FROM payments ORDER BY id;"
    "DROP TABLE payments;"
    "ALTER TABLE payments_by_id RENAME TO payments;"
    "CREATE INDEX payments_pending ON payments(next_check_at_ms) WHERE status = 1;",

    /* 15: payments keyed by a number their id carries (src/wallet/wallet.c).
     * Keyed by the id text, a commit wrote the five pages of the tree's
     * right edge (its interior pages hold whole rows); keyed by an integer,
     * whose interior cells are eight bytes, the edge is two or three pages.
     * A new payment's seq is its time in milliseconds shifted left by 15,
     * or one more than the last seq when that is larger, and its id carries
     * the seq in its first 63 bits (id_new_sequenced), so a lookup reads
     * the seq out of the id. The payments made before this migration have
     * ids of 80 random bits: they are numbered 1.. in id order, far below
     * any new seq, and found by id through an index of theirs alone. */
    "CREATE TABLE payments_by_seq ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL,"
    "  kind INTEGER NOT NULL,"
    "  user_id TEXT NOT NULL,"
    "  counterparty_id TEXT NOT NULL DEFAULT '',"
    "  card_id TEXT NOT NULL DEFAULT '',"
    "  currency TEXT NOT NULL,"
    "  amount_minor INTEGER NOT NULL,"
    "  fee_minor INTEGER NOT NULL DEFAULT 0,"
    "  memo TEXT NOT NULL DEFAULT '',"
    "  status INTEGER NOT NULL,"
    "  failure_code TEXT NOT NULL DEFAULT '',"
    "  hold_id INTEGER NOT NULL DEFAULT 0,"
    "  entry_id INTEGER NOT NULL DEFAULT 0,"
    "  bank_ref TEXT NOT NULL DEFAULT '',"
    "  created_at_ms INTEGER NOT NULL,"
    "  updated_at_ms INTEGER NOT NULL,"
    "  next_check_at_ms INTEGER NOT NULL DEFAULT 0"
    ");"
    "INSERT INTO payments_by_seq (id, kind, user_id, counterparty_id, card_id, currency,"
    "    amount_minor, fee_minor, memo, status, failure_code, hold_id, entry_id, bank_ref,"
    "    created_at_ms, updated_at_ms, next_check_at_ms)"
    "  SELECT id, kind, user_id, counterparty_id, card_id, currency, amount_minor, fee_minor,"
    "    memo, status, failure_code, hold_id, entry_id, bank_ref, created_at_ms, updated_at_ms,"
    "    next_check_at_ms FROM payments ORDER BY id;"
    "DROP TABLE payments;"
    "ALTER TABLE payments_by_seq RENAME TO payments;"
    "CREATE UNIQUE INDEX payments_made_before_seq ON payments(id) WHERE seq < 1099511627776;"
    "CREATE INDEX payments_pending ON payments(next_check_at_ms) WHERE status = 1;",
    /* 16: wrong login passwords for phones nobody registered, counted and
     * locked as a user's are (src/identity/cmd.c), or the lock would tell
     * which phones are registered. Keyed by an HMAC of the phone under a
     * subkey of the pepper; a row goes a day after its last wrong password,
     * when it no longer counts (and a user's count starts afresh then too:
     * login_failed_at_ms). */
    "ALTER TABLE users ADD COLUMN login_failed_at_ms INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE login_guesses ("
    "  phone_key BLOB PRIMARY KEY,"
    "  failures INTEGER NOT NULL,"
    "  locked_until_ms INTEGER NOT NULL,"
    "  failed_at_ms INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX login_guesses_age ON login_guesses(failed_at_ms);",
    /* 17: payments without the payment password are counted per day
     * (src/wallet/limits.h): the UTC+8 day of the last one and how many
     * that day, so a held phone cannot pay small amounts without end. */
    "ALTER TABLE spending ADD COLUMN free_day_start_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE spending ADD COLUMN free_day_count INTEGER NOT NULL DEFAULT 0;",
    /* 18: a KYC level 1 wallet's lifetime limit counts its withdrawals to
     * its own cards too (src/wallet/limits.h): what each user withdrew,
     * processing or done, from their own balance (a merchant's withdrawal
     * names the merchant as counterparty). */
    "ALTER TABLE spending ADD COLUMN withdrawn_minor INTEGER NOT NULL DEFAULT 0;"
    "INSERT INTO spending (user_id, withdrawn_minor)"
    "  SELECT user_id, SUM(amount_minor) FROM payments"
    "  WHERE kind = 2 AND status IN (1, 2) AND counterparty_id = '' GROUP BY user_id"
    "  ON CONFLICT (user_id) DO UPDATE SET withdrawn_minor = excluded.withdrawn_minor;",
    /* 19: a merchant's withdrawal goes to its owner's card, so it counts
     * against the owner's lifetime limit as the owner's own withdrawals do:
     * the count is made again over every withdrawal, processing or done. */
    "INSERT INTO spending (user_id, withdrawn_minor)"
    "  SELECT user_id, SUM(amount_minor) FROM payments"
    "  WHERE kind = 2 AND status IN (1, 2) GROUP BY user_id"
    "  ON CONFLICT (user_id) DO UPDATE SET withdrawn_minor = excluded.withdrawn_minor;",
    /* 20: the trade bill's reversals of paid payment-code orders, by the
     * day they happened (src/merchant/bill.c): few among the orders. */
    "CREATE INDEX orders_reversed ON orders(mchid, closed_at_ms)"
    "  WHERE state = 7 AND success_at_ms > 0;",
    /* 21: devices a user logged in from (src/identity/cmd.c): each holds a
     * key of its own, given out once, whose SHA-256 is kept; a login with
     * the password from a device without a live key needs an SMS code too.
     * A session names its device; revoking it from another session, or a
     * freeze, ends the device's trust. */
    "CREATE TABLE login_devices ("
    "  seq INTEGER PRIMARY KEY,"
    "  user_id TEXT NOT NULL REFERENCES users(id),"
    "  key_hash BLOB NOT NULL UNIQUE,"
    "  name TEXT NOT NULL,"
    "  created_at_ms INTEGER NOT NULL,"
    "  revoked_at_ms INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX login_devices_user ON login_devices(user_id) WHERE revoked_at_ms = 0;"
    "ALTER TABLE sessions ADD COLUMN device_seq INTEGER NOT NULL DEFAULT 0;",
    /* 22: a device that holds a live key of the account counts its wrong
     * login passwords apart (src/identity/cmd.c): a stranger's guesses lock
     * the account's password login, not its owner's on their own device. */
    "ALTER TABLE login_devices ADD COLUMN login_failures INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE login_devices ADD COLUMN login_locked_until_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE login_devices ADD COLUMN login_failed_at_ms INTEGER NOT NULL DEFAULT 0;",
    /* 23: wrong payment codes a merchant submitted in its current window
     * (src/merchant/paycode.c): past a few, its codepay stops for the rest
     * of the window, so that one merchant cannot guess across every user's
     * slots. */
    "CREATE TABLE paycode_merchant_guesses ("
    "  mchid TEXT PRIMARY KEY,"
    "  wrong_count INTEGER NOT NULL,"
    "  window_start_ms INTEGER NOT NULL"
    ") WITHOUT ROWID;",
    /* 24: an operator may suspend a merchant (src/merchant/merchant.c,
     * status 2): it takes no money until resumed. When, and the
     * operator's reason, are kept while it lasts; 0 and '' otherwise. */
    "ALTER TABLE merchants ADD COLUMN suspended_at_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE merchants ADD COLUMN suspend_reason TEXT NOT NULL DEFAULT '';",
    /* 25: named operators (src/identity/operator.c): each person who runs
     * the admin API holds a token of their own, kept as SHA-256 only, so
     * that the audit trail names them and one can be cut off alone. A
     * revoked row stays: its name is never given out again. */
    "CREATE TABLE operators ("
    "  seq INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  token_hash BLOB NOT NULL UNIQUE,"
    "  created_at_ms INTEGER NOT NULL,"
    "  revoked_at_ms INTEGER NOT NULL DEFAULT 0"
    ");",
    /* 26: an operator's token can be replaced (src/identity/operator.c):
     * when the one in use was given out, so that a rotation policy can be
     * checked against the list. */
    "ALTER TABLE operators ADD COLUMN token_issued_at_ms INTEGER NOT NULL DEFAULT 0;"
    "UPDATE operators SET token_issued_at_ms = created_at_ms;",
    /* 27: the openids given out (src/merchant/merchant.c): one row for
     * each openid a user was shown or paid under in an app, so that a
     * JSAPI order naming an openid nobody has is refused when it is made.
     * An openid is a one-way hash: without this table, only the payment
     * could tell. Openids of payments made before are recorded here. */
    "CREATE TABLE openids ("
    "  appid TEXT NOT NULL,"
    "  openid TEXT NOT NULL,"
    "  user_id TEXT NOT NULL,"
    "  created_at_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (appid, openid)"
    ") WITHOUT ROWID;"
    "INSERT INTO openids (appid, openid, user_id, created_at_ms)"
    "  SELECT appid, payer_openid, min(payer_user_id), min(success_at_ms) FROM orders"
    "  WHERE payer_openid <> '' AND payer_user_id <> '' GROUP BY appid, payer_openid;",
    /* 28: the withdrawals from an account other than a user's balance (a
     * merchant's settlement account, counterparty_id "merchant:<mchid>")
     * by the account and time (src/wallet/wallet.c), for what they held at
     * a day's end: a user's own withdrawals, with no counterparty, stay
     * out of it. */
    "CREATE INDEX payments_account_withdrawals ON payments(counterparty_id, created_at_ms)"
    "  WHERE kind = 2 AND counterparty_id <> '';",
    /* 29: a user may close their wallet (src/identity/cmd.c, status 3).
     * The phone is freed for a new registration: a closed row's phone
     * column holds "closed:<id>" (unique, and no look-up by phone finds
     * it), and the number it had is kept in closed_phone for the record,
     * where an operator's search by phone finds it too. Closing asks
     * whether the user has red packets still taking claims, whose leftover
     * would be refunded to the closed wallet: the active packets by
     * sender, few at any time. */
    "ALTER TABLE users ADD COLUMN closed_at_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE users ADD COLUMN closed_phone TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX users_closed_phone ON users(closed_phone) WHERE status = 3;"
    "CREATE INDEX red_packets_sender_active ON red_packets(sender_id) WHERE status = 1;",
    /* 30: a transfer its payee sent back (src/wallet/transfer.c): one row
     * per returned transfer naming its return, so that a transfer goes
     * back once (the key), and reading it finds its return. */
    "CREATE TABLE transfer_returns ("
    "  transfer_id TEXT PRIMARY KEY,"
    "  return_id TEXT NOT NULL UNIQUE,"
    "  created_at_ms INTEGER NOT NULL"
    ") WITHOUT ROWID;",
    /* 31: a merchant its owner closed (src/merchant/merchant.c, status 3):
     * when, for the record. */
    "ALTER TABLE merchants ADD COLUMN closed_at_ms INTEGER NOT NULL DEFAULT 0;",
    /* 32: a transfer its payer chose to have arrive later (延时到账,
     * src/wallet/transfer.c): when it arrives, kept after it did. The
     * worker finds it PROCESSING by next_check_at_ms, as a withdrawal; the
     * operator's check reads every one (those with a hold) against its
     * hold, by payments_delayed. */
    "ALTER TABLE payments ADD COLUMN arrives_at_ms INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX payments_delayed ON payments(seq) WHERE kind = 3 AND hold_id <> 0;",
    /* 33: when a user's transfers arrive unless a transfer says
     * (src/wallet/limits.c; enum wallet_arrival: 0 instant, 1 in 2 hours,
     * 2 in 24), set with their limits. */
    "ALTER TABLE spending ADD COLUMN transfer_arrival INTEGER NOT NULL DEFAULT 0;",
    /* 34: when its owner last replaced a merchant's API v3 key and its API
     * certificate (src/merchant/merchant.c, merchant_keys_cmd); 0: never. */
    "ALTER TABLE merchants ADD COLUMN apiv3_key_reset_at_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE merchants ADD COLUMN certificate_replaced_at_ms INTEGER NOT NULL DEFAULT 0;",
    /* 35: a user's notices (src/wallet/notice.c): what became of their
     * money after they were answered, written in the command that did it;
     * read newest first by user, and how far each user has read them. */
    "CREATE TABLE notices ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL,"
    "  user_id TEXT NOT NULL,"
    "  type INTEGER NOT NULL,"
    "  ref TEXT NOT NULL,"
    "  currency TEXT NOT NULL,"
    "  amount_minor INTEGER NOT NULL,"
    "  failure_code TEXT NOT NULL,"
    "  created_at_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX notices_user ON notices(user_id, seq);"
    "CREATE TABLE notice_reads ("
    "  user_id TEXT PRIMARY KEY,"
    "  read_seq INTEGER NOT NULL"
    ") WITHOUT ROWID;",
    /* 36: merchants paying users (src/merchant/payout.c, 商家转账): one row
     * per payout, keyed by its user's payment id (its transfer_bill_no);
     * found by the merchant's number, by the worker when its window ends,
     * by its user while it waits, and by the merchant and the time for
     * what it held at a day's end. */
    "CREATE TABLE payouts ("
    "  payment_id TEXT PRIMARY KEY,"
    "  seq INTEGER NOT NULL,"
    "  mchid TEXT NOT NULL,"
    "  out_bill_no TEXT NOT NULL,"
    "  request_hash BLOB NOT NULL,"
    "  appid TEXT NOT NULL,"
    "  openid TEXT NOT NULL,"
    "  user_id TEXT NOT NULL,"
    "  scene_id TEXT NOT NULL,"
    "  perception TEXT NOT NULL,"
    "  currency TEXT NOT NULL,"
    "  amount_minor INTEGER NOT NULL,"
    "  remark TEXT NOT NULL,"
    "  notify_url TEXT NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  fail_reason TEXT NOT NULL,"
    "  hold_id INTEGER NOT NULL,"
    "  entry_id INTEGER NOT NULL,"
    "  created_at_ms INTEGER NOT NULL,"
    "  updated_at_ms INTEGER NOT NULL,"
    "  expires_at_ms INTEGER NOT NULL,"
    "  UNIQUE (mchid, out_bill_no)"
    ") WITHOUT ROWID;"
    "CREATE INDEX payouts_due ON payouts(expires_at_ms) WHERE state = 1;"
    "CREATE INDEX payouts_user ON payouts(user_id, seq) WHERE state = 1;"
    "CREATE INDEX payouts_merchant ON payouts(mchid, created_at_ms);",
    /* 37: an operator reads a merchant's payouts newest first, all of them
     * or only the ones waiting (GET /admin/merchants/{mchid}/payouts): the
     * merchant's index is by seq, the pages' key, and the waiting ones have
     * their own, few among many. A day's end still finds its merchant's
     * rows through the first. */
    "DROP INDEX payouts_merchant;"
    "CREATE INDEX payouts_merchant ON payouts(mchid, seq);"
    "CREATE INDEX payouts_merchant_waiting ON payouts(mchid, seq) WHERE state = 1;",
    /* 38: group collections (src/wallet/collection.c, 群收款): one row per
     * collection, keyed by the seq its id carries, found by its asker's
     * list; one row per payment, keyed by collection and payer (one each),
     * read in the order paid. */
    "CREATE TABLE collections ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  creator_id TEXT NOT NULL,"
    "  title TEXT NOT NULL,"
    "  currency TEXT NOT NULL,"
    "  amount_minor INTEGER NOT NULL,"
    "  count INTEGER NOT NULL,"
    "  paid_count INTEGER NOT NULL,"
    "  paid_minor INTEGER NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  created_at_ms INTEGER NOT NULL,"
    "  expires_at_ms INTEGER NOT NULL,"
    "  closed_at_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX collections_creator ON collections(creator_id, seq);"
    "CREATE TABLE collection_payments ("
    "  collection_id TEXT NOT NULL,"
    "  payer_id TEXT NOT NULL,"
    "  payment_id TEXT NOT NULL UNIQUE,"
    "  amount_minor INTEGER NOT NULL,"
    "  position INTEGER NOT NULL,"
    "  paid_at_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (collection_id, payer_id),"
    "  UNIQUE (collection_id, position)"
    ") WITHOUT ROWID;",
    /* 39: an operator reconciles a day with the bank (GET /admin/payments
     * ?date=): the top-ups and withdrawals made that day, by the seq their
     * id carries, found among the transfers that outnumber them. */
    "CREATE INDEX payments_bank ON payments(seq) WHERE kind IN (1, 2);",
    /* 40: a merchant's owner reads its payments newest first, and waits
     * for the next (GET /v1/merchants/me/payments, …/changes): its paid
     * orders by the ledger entry of their payment, which orders them as
     * the money arrived and never changes. */
    "CREATE INDEX orders_paid_entry ON orders(mchid, entry_id) WHERE entry_id > 0;",
    /* 41: an SMS message names its code, so that the worker sends it only
     * while that code works: not once a newer one replaced it, nor once it
     * was used (0: a message from before, sent as it was). */
    "ALTER TABLE sms_outbox ADD COLUMN code_id INTEGER NOT NULL DEFAULT 0;",
    /* 42: wrong payment codes count against whoever controls the merchant
     * (src/merchant/paycode.c): its owner, over all their merchants and
     * closed ones too ('user:<id>'), since opening one takes only a
     * session; a merchant an operator onboarded for nobody on its own
     * ('merchant:<mchid>'). An owner's merchants' windows become one, with
     * all their wrong codes in the latest: it may stop them a little early,
     * never late. */
    "CREATE TABLE paycode_guesses ("
    "  guesser TEXT PRIMARY KEY,"
    "  wrong_count INTEGER NOT NULL,"
    "  window_start_ms INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "INSERT INTO paycode_guesses (guesser, wrong_count, window_start_ms)"
    "  SELECT CASE m.owner_user_id WHEN '' THEN 'merchant:' || g.mchid"
    "  ELSE 'user:' || m.owner_user_id END,"
    "  sum(g.wrong_count), max(g.window_start_ms)"
    "  FROM paycode_merchant_guesses g JOIN merchants m ON m.mchid = g.mchid"
    "  GROUP BY 1;"
    "DROP TABLE paycode_merchant_guesses;",
    /* 43: each payer's count of payment-code orders that came to wait for
     * their confirmation or left waiting (src/merchant/order.c), the part
     * of GET /v1/me/changes's cursor that tells an app to read its waiting
     * payments again: the latest expiry among them, which it replaces, did
     * not change when one left while a later one still waited. No row: 0. */
    "CREATE TABLE paycode_pending_changes ("
    "  user_id TEXT PRIMARY KEY,"
    "  seq INTEGER NOT NULL"
    ") WITHOUT ROWID;",
    /* 44: a group collection's payment its asker sent back (POST
     * /v1/transfers/{id}/return, src/wallet/collection.c): its row stays,
     * marked with when, and no longer counts, and its payer may pay again,
     * a row of its own. Rows are keyed by their position, and a payer has
     * one row among those not sent back (the partial index). */
    "CREATE TABLE collection_payments_by_position ("
    "  collection_id TEXT NOT NULL,"
    "  position INTEGER NOT NULL,"
    "  payer_id TEXT NOT NULL,"
    "  payment_id TEXT NOT NULL UNIQUE,"
    "  amount_minor INTEGER NOT NULL,"
    "  paid_at_ms INTEGER NOT NULL,"
    "  returned_at_ms INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (collection_id, position)"
    ") WITHOUT ROWID;"
    "INSERT INTO collection_payments_by_position (collection_id, position, payer_id, payment_id,"
    "    amount_minor, paid_at_ms)"
    "  SELECT collection_id, position, payer_id, payment_id, amount_minor, paid_at_ms"
    "  FROM collection_payments;"
    "DROP TABLE collection_payments;"
    "ALTER TABLE collection_payments_by_position RENAME TO collection_payments;"
    "CREATE UNIQUE INDEX collection_payments_payer ON collection_payments(collection_id, payer_id)"
    "  WHERE returned_at_ms = 0;",
    /* 45: a merchant's API certificate replaced with an overlap (POST
     * /v1/merchants/me/certificate with keep_old_hours, src/merchant/merchant.c):
     * the key it replaced still signs /v3 requests naming its serial until
     * previous_valid_until_ms, so that a merchant's servers move to the new
     * key one by one. '' and 0: none (a replacement without an overlap
     * clears them, as fits a leak). */
    "ALTER TABLE merchants ADD COLUMN previous_public_key_pem TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE merchants ADD COLUMN previous_serial_no TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE merchants ADD COLUMN previous_valid_until_ms INTEGER NOT NULL DEFAULT 0;",
    /* 46: the operators' audit trail (src/domain/audit.c): one row for
     * each operator's command the ledger ran, written in its transaction:
     * who (actor: "admin" or "admin:NAME"), what and to whom, the reason
     * given, how it ended ("ok" or the error code) and whether it changed
     * anything, and the request's id for the log lines. Read newest first,
     * all of them or one target's or one operator's. */
    "CREATE TABLE operator_actions ("
    "  seq INTEGER PRIMARY KEY,"
    "  at_ms INTEGER NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  target TEXT NOT NULL,"
    "  detail TEXT NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  result TEXT NOT NULL,"
    "  changed INTEGER NOT NULL,"
    "  request_id TEXT NOT NULL"
    ");"
    "CREATE INDEX operator_actions_target ON operator_actions(target, seq);"
    "CREATE INDEX operator_actions_actor ON operator_actions(actor, seq);",
    /* 47: an SMS message says what its code authorises: for bind_card the
     * card's last four digits and the masked phone of the wallet that
     * asked, sealed as the code is (empty: nothing beyond the purpose, as
     * every message before). */
    "ALTER TABLE sms_outbox ADD COLUMN detail_sealed BLOB NOT NULL DEFAULT x'';",
    /* 48: an account's row tied to the chain key (ledger_account_mac): its
     * owner, kind, currency and floor, which nothing in the journal names
     * (NULL until the first start with the key writes it). */
    "ALTER TABLE accounts ADD COLUMN mac INTEGER;",
    /* 49: the operators' audit trail sealed (src/domain/audit.c): each
     * row's seal chained to the row before under the chain key
     * (ledger_txn_seal); empty for the rows an earlier version wrote,
     * until the first start with this one seals them. */
    "ALTER TABLE operator_actions ADD COLUMN mac BLOB NOT NULL DEFAULT x'';",
    /* 50: a merchant notification's row sealed (merchant_notify_mac): what
     * the worker encrypts, signs and sends, and where; empty for the rows
     * an earlier version wrote, until the first start with this one seals
     * those still to be sent. */
    "ALTER TABLE notifications ADD COLUMN mac BLOB NOT NULL DEFAULT x'';",
    /* 51: a top-up or withdrawal found by the reference its bank knows it
     * by, for a line of the bank's statement of any day (a withdrawal the
     * bank took back weeks later): GET /admin/payments?bank_ref=. */
    "CREATE INDEX payments_bank_ref ON payments(bank_ref) WHERE bank_ref <> '';",
    /* 52: the payouts due in the order the worker reads them, after where
     * it got to (domain_due_ids: due time, then seq), with no sort; the
     * other tables the workers read this way have seq as their rowid, which
     * their due indexes end in already. */
    "DROP INDEX payouts_due;"
    "CREATE INDEX payouts_due ON payouts(expires_at_ms, seq) WHERE state = 1;",
    /* 53: the users who ever had a session, which a login from a device
     * new to the account asks about (src/identity/cmd.c: device_find), so
     * that sessions long ended can be deleted without an account looking
     * as if it never had one; a device's sessions, to find its last one
     * (sessions_prune); a payment code's uses by age, to delete the old
     * ones (src/merchant/paycode.c). */
    "CREATE TABLE session_users (user_id TEXT PRIMARY KEY) WITHOUT ROWID;"
    "INSERT INTO session_users (user_id) SELECT DISTINCT user_id FROM sessions;"
    "CREATE INDEX sessions_device ON sessions(device_seq, seq) WHERE device_seq <> 0;"
    "CREATE INDEX paycode_used_at ON paycode_used(used_at_ms);",
    /* 54: SMS messages given up (SMS_ATTEMPTS_MAX attempts) out of the
     * delivery worker's read, as it now leaves them (src/sms/sms_int.h):
     * an earlier version left each at its last attempt's time, where every
     * pass of the worker walked past it again, for ever. */
    "UPDATE sms_outbox SET next_attempt_at_ms = 9223372036854775807"
    " WHERE delivered_at_ms = 0 AND attempts >= 10;",
    /* 55: a card's and a merchant's row tied to the chain key
     * (src/domain/rowtag.h): where a withdrawal goes and who may act for
     * a merchant; empty for the rows an earlier version wrote, until the
     * first start with this one tags them. */
    "ALTER TABLE cards ADD COLUMN tag BLOB NOT NULL DEFAULT x'';"
    "ALTER TABLE merchants ADD COLUMN tag BLOB NOT NULL DEFAULT x'';",
    /* 56: the part of a withdrawal over the free allowance, on which its
     * fee was charged (src/wallet/limits.h), by its payment's seq, only for
     * those with one; and each user's sum of those parts over their
     * withdrawals processing or done: what they withdrew less that sum is
     * what the allowance covered, so that a withdrawal that fails gives
     * back only what it used, not a later one's part that paid. Withdrawals
     * an earlier version made have none and count whole, as they did. A
     * table of its own, not a column of payments: every transfer writes a
     * payments row, and an older database's rows read as they are. */
    "CREATE TABLE withdrawals_over (seq INTEGER PRIMARY KEY, over_minor INTEGER NOT NULL);"
    "ALTER TABLE spending ADD COLUMN withdrawn_over_minor INTEGER NOT NULL DEFAULT 0;",
};

const size_t store_sqlite_migration_count =
    sizeof(store_sqlite_migrations) / sizeof(store_sqlite_migrations[0]);

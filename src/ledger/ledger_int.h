/*
 * ledger_int.h — the ledger's private shared definitions.
 *
 * Only the ledger's own .c files include this. It holds the canonical entry encoding
 * (shared by the writer, the readers and the verifier, so that all three
 * agree byte for byte on what was hashed) and the SQL the ledger speaks.
 */
#ifndef QB_LEDGER_LEDGER_INT_H
#define QB_LEDGER_LEDGER_INT_H

#include "ledger/ledger.h"

/* For sums that must not overflow while checking overflow. */
__extension__ typedef __int128 ledger_int128;

/* One posting in the postings column: account id, currency numeric, amount,
 * held delta, balance after, previous entry — little-endian, fixed width. */
#define LEDGER_POSTING_WIRE_SIZE (8 + 2 + 8 + 8 + 8 + 8)
#define LEDGER_POSTINGS_WIRE_SIZE_MAX (LEDGER_POSTINGS_MAX * LEDGER_POSTING_WIRE_SIZE)

/* Encodes entry's postings into out (at least LEDGER_POSTINGS_WIRE_SIZE_MAX
 * bytes); returns the size written. */
size_t ledger_postings_encode(const struct ledger_entry *entry, unsigned char *out);
/* Decodes size bytes of postings into entry. false when malformed. */
bool ledger_postings_decode(struct ledger_entry *entry, const unsigned char *data, size_t size);

/* The hash chain (docs/ledger.md): an entry from keyed_from on is hashed
 * HMAC-SHA-256(chain key, prev_hash || canonical encoding), one before it
 * (a journal begun by a version without the key) SHA-256(prev_hash ||
 * canonical encoding). The canonical encoding is "QBE1", id,
 * created_at_ms, kind (u8), code (u16), ref_entry_id, expires_at_ms, ref
 * length (u8), ref bytes, posting count (u8) and the encoded postings,
 * integers little-endian. docs/ledger.md spells it out so that an auditor
 * given the key can recompute it with any tool. Keying the first keyed
 * entry seals every entry before it too, since its MAC covers their hash. */
struct ledger_chain {
    struct crypto_hmac_sha256_state mac; /* keyed once, copied for each entry */
    int64_t keyed_from;                  /* INT64_MAX: not keyed (yet) */
};
/* Keys chain (key: 32 bytes; NULL: 32 zero bytes), not keyed from any entry. */
void ledger_chain_init(struct ledger_chain *chain, const uint8_t *key);
/* The check value that ties keyed_from to the key: the first 63 bits of
 * HMAC(key, "QBK1" || keyed_from as int64 LE), as meta.chain_key_check
 * keeps it. It tells nothing of the key. */
int64_t ledger_chain_check(const struct ledger_chain *chain, int64_t keyed_from);
/* Reads meta.chain_keyed_from and chain_key_check through s into chain:
 * QB_OK; QB_E_NOT_FOUND when the journal is not keyed (chain left as it
 * was); QB_E_CONFLICT when the check is not the key's; QB_E_STORAGE. */
QB_MUST_USE enum qb_error ledger_chain_load(struct ledger_chain *chain, struct store *s);

/* What ties an account's row to the chain key: the first 63 bits of
 * HMAC(key, "QBA1" || id (int64 LE) || kind (u8) || floor_minor (int64 LE)
 * || currency code (3 bytes) || length of owner (u8) || owner), as
 * accounts.mac keeps it. The row's parts written once, at creation: whose
 * account it is, of what kind, in what currency, how low it may go. */
int64_t ledger_account_mac(const struct ledger_chain *chain, int64_t id, const char *owner,
                           const char *currency, int64_t kind, int64_t floor_minor);

/* A record sealed outside the journal (ledger_txn_seal, ledger_seal):
 * HMAC(key, "QBS1" || seq (int64 LE) || prev || record) into out. */
void ledger_chain_seal(const struct ledger_chain *chain, int64_t seq,
                       const uint8_t prev[CRYPTO_SHA256_SIZE], const void *record, size_t size,
                       uint8_t out[CRYPTO_SHA256_SIZE]);

void ledger_entry_hash(const struct ledger_chain *chain, const struct ledger_entry *entry,
                       const uint8_t prev_hash[CRYPTO_SHA256_SIZE],
                       uint8_t out[CRYPTO_SHA256_SIZE]);

/* SELECT list and decoder for a row of the entries table, in this order:
 * id, created_at_ms, kind, code, ref_entry_id, expires_at_ms, ref, postings,
 * hash. */
#define LEDGER_ENTRY_COLUMN_COUNT 9
#define LEDGER_ENTRY_COLUMNS \
    "id, created_at_ms, kind, code, ref_entry_id, expires_at_ms, ref, postings, hash"
/* Reads the current row of stmt into out. QB_E_INTERNAL when malformed. */
QB_MUST_USE enum qb_error ledger_entry_from_row(struct store_stmt *stmt, struct ledger_entry *out);

/* Checks the parts of an entry that need no other state: kind, counts,
 * distinct accounts, amounts summing to zero per currency, the per-kind
 * shape of held deltas. Writes the reason into why. */
bool ledger_entry_is_well_formed(const struct ledger_entry *entry, char *why, size_t why_size);

/* The writer's index of idempotency records (idem.c): a key's fingerprint
 * -> the seq of its row in idempotency_records. */
struct ledger_idem_slot {
    int64_t fingerprint;
    int64_t seq; /* 0: empty */
};
struct ledger_idem_index {
    struct ledger_idem_slot *slots;
    size_t capacity; /* a power of two, or 0 */
    size_t count;    /* records in both tables, expired ones included */
    size_t used;     /* slots of this table taken (by expired records too): its fill */
    /* While it is rebuilt: the table before, whose slots below moved_to
     * are in slots already; the rest move a few with each put (idem.c). */
    struct ledger_idem_slot *old_slots;
    size_t old_capacity;
    size_t moved_to;
    /* Records below seq floor have expired (their rows are deleted): no
     * lookup answers them and no rebuild moves them. expired counts those
     * still in a table. */
    int64_t floor;
    size_t expired;
};
/* The first 8 bytes of SHA-256(principal || NUL || key), as stored. */
int64_t ledger_idem_fingerprint(const char *principal, const char *key);
void ledger_idem_index_put(struct ledger_idem_index *ix, int64_t fingerprint, int64_t seq);
/* The records with this fingerprint (almost always none or one), one per
 * call: start with *cursor = 0; answers 0 after the last. No put between
 * the calls. */
int64_t ledger_idem_index_next(const struct ledger_idem_index *ix, int64_t fingerprint,
                               size_t *cursor);
/* Expires the records below seq floor, of which `records` (those whose
 * rows were just deleted) are in the index. floor never goes down. */
void ledger_idem_index_expire(struct ledger_idem_index *ix, int64_t floor, size_t records);
void ledger_idem_index_clear(struct ledger_idem_index *ix);

/* Whether entry e gives spending back by the rule of options: its code
 * gives back (spending_giveback_code), it names an entry (ref_entry_id) and
 * it is a TRANSFER or a release (VOID, EXPIRE). The caller then reads the
 * entry it names for ledger_spent_count. */
bool ledger_spent_gives_back(const struct ledger_options *options, const struct ledger_entry *e);

/* Counts posting po of entry e to an account of kind in sp, by the rule of
 * options: what leaves the account (a TRANSFER entry's debit, or what a
 * HOLD entry reserves: a capture counts nothing) by an entry whose code
 * counts as spending, in the day and year of e's time; nothing when
 * options or its spending_code is NULL, for other codes and for accounts
 * other than users. When e gives back (ledger_spent_gives_back), `named` is
 * the entry e names, and what e credits or releases to the account comes
 * off the sums as struct ledger_spent says. The writer, its replay and the
 * verifier count alike. False when a sum would overflow, or a give-back
 * would return more than `named` spent from the account or than the sums
 * hold. */
bool ledger_spent_count(const struct ledger_options *options, enum ledger_account_kind kind,
                        const struct ledger_entry *e, const struct ledger_posting *po,
                        const struct ledger_entry *named, struct ledger_spent *sp);

#endif

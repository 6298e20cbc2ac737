/*
 * entry.c — journal entries: the canonical encoding, the hash chain and its
 * key, reads.
 *
 * The writer (ledger.c), the readers (history, entry look-ups) and the
 * verifier (verify.c) all go through the functions here, so there is exactly
 * one definition of what an entry's bytes are and what its hash covers.
 */
#include <stdio.h>
#include <string.h>

#include "ledger/ledger_int.h"

size_t ledger_postings_encode(const struct ledger_entry *entry, unsigned char *out)
{
    QB_ASSERT(entry->posting_count <= LEDGER_POSTINGS_MAX);
    unsigned char *p = out;
    for (size_t i = 0; i < entry->posting_count; i++) {
        const struct ledger_posting *po = &entry->postings[i];
        buf_write_u64le(p, (uint64_t)po->account_id);
        p[8] = (unsigned char)(po->currency_numeric & 0xff);
        p[9] = (unsigned char)(po->currency_numeric >> 8);
        buf_write_u64le(p + 10, (uint64_t)po->amount_minor);
        buf_write_u64le(p + 18, (uint64_t)po->held_delta_minor);
        buf_write_u64le(p + 26, (uint64_t)po->balance_after_minor);
        buf_write_u64le(p + 34, (uint64_t)po->prev_entry_id);
        p += LEDGER_POSTING_WIRE_SIZE;
    }
    return (size_t)(p - out);
}

bool ledger_postings_decode(struct ledger_entry *entry, const unsigned char *data, size_t size)
{
    if (size % LEDGER_POSTING_WIRE_SIZE != 0 || size / LEDGER_POSTING_WIRE_SIZE > LEDGER_POSTINGS_MAX)
        return false;
    entry->posting_count = (uint8_t)(size / LEDGER_POSTING_WIRE_SIZE);
    for (size_t i = 0; i < entry->posting_count; i++) {
        const unsigned char *p = data + i * LEDGER_POSTING_WIRE_SIZE;
        struct ledger_posting *po = &entry->postings[i];
        po->account_id = (int64_t)buf_read_u64le(p);
        po->currency_numeric = (uint16_t)(p[8] | p[9] << 8);
        po->amount_minor = (int64_t)buf_read_u64le(p + 10);
        po->held_delta_minor = (int64_t)buf_read_u64le(p + 18);
        po->balance_after_minor = (int64_t)buf_read_u64le(p + 26);
        po->prev_entry_id = (int64_t)buf_read_u64le(p + 34);
    }
    return true;
}

void ledger_chain_init(struct ledger_chain *chain, const uint8_t *key)
{
    static const uint8_t zero_key[32];
    crypto_hmac_sha256_begin(&chain->mac, key != NULL ? key : zero_key, sizeof zero_key);
    chain->keyed_from = INT64_MAX;
}

int64_t ledger_chain_check(const struct ledger_chain *chain, int64_t keyed_from)
{
    unsigned char text[4 + 8];
    memcpy(text, "QBK1", 4);
    buf_write_u64le(text + 4, (uint64_t)keyed_from);
    struct crypto_hmac_sha256_state st = chain->mac;
    uint8_t mac[CRYPTO_SHA256_SIZE];
    crypto_hmac_sha256_update(&st, text, sizeof text);
    crypto_hmac_sha256_end(&st, mac);
    return (int64_t)(buf_read_u64le(mac) >> 1);
}

int64_t ledger_account_mac(const struct ledger_chain *chain, int64_t id, const char *owner,
                           const char *currency, int64_t kind, int64_t floor_minor)
{
    unsigned char text[4 + 8 + 1 + 8 + 3 + 1 + LEDGER_OWNER_SIZE_MAX];
    size_t owner_size = strnlen(owner, LEDGER_OWNER_SIZE_MAX - 1);
    unsigned char *p = text;
    memcpy(p, "QBA1", 4);
    p += 4;
    buf_write_u64le(p, (uint64_t)id);
    p += 8;
    *p++ = (unsigned char)kind;
    buf_write_u64le(p, (uint64_t)floor_minor);
    p += 8;
    memcpy(p, currency, 3);
    p += 3;
    *p++ = (unsigned char)owner_size;
    memcpy(p, owner, owner_size);
    p += owner_size;
    struct crypto_hmac_sha256_state st = chain->mac;
    uint8_t mac[CRYPTO_SHA256_SIZE];
    crypto_hmac_sha256_update(&st, text, (size_t)(p - text));
    crypto_hmac_sha256_end(&st, mac);
    return (int64_t)(buf_read_u64le(mac) >> 1);
}

void ledger_chain_seal(const struct ledger_chain *chain, int64_t seq,
                       const uint8_t prev[CRYPTO_SHA256_SIZE], const void *record, size_t size,
                       uint8_t out[CRYPTO_SHA256_SIZE])
{
    unsigned char head[4 + 8];
    memcpy(head, "QBS1", 4);
    buf_write_u64le(head + 4, (uint64_t)seq);
    struct crypto_hmac_sha256_state st = chain->mac;
    crypto_hmac_sha256_update(&st, head, sizeof head);
    crypto_hmac_sha256_update(&st, prev, CRYPTO_SHA256_SIZE);
    crypto_hmac_sha256_update(&st, record, size);
    crypto_hmac_sha256_end(&st, out);
}

void ledger_seal(const uint8_t *chain_key, int64_t seq, const uint8_t prev[CRYPTO_SHA256_SIZE],
                 const void *record, size_t size, uint8_t mac[CRYPTO_SHA256_SIZE])
{
    QB_ASSERT(seq > 0 && (record != NULL || size == 0));
    struct ledger_chain chain;
    ledger_chain_init(&chain, chain_key);
    ledger_chain_seal(&chain, seq, prev, record, size, mac);
}

enum qb_error ledger_chain_load(struct ledger_chain *chain, struct store *s)
{
    struct store_stmt *st = NULL;
    int64_t keyed_from = 0, check = 0;
    int found = 0;
    if (store_prepare(s,
                      "SELECT key, value FROM meta WHERE key IN ('chain_keyed_from', "
                      "'chain_key_check')",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    int rc;
    while ((rc = store_step(st)) == STORE_STEP_ROW) {
        const char *key = store_column_text(st, 0);
        if (strcmp(key, "chain_keyed_from") == 0)
            keyed_from = store_column_int64(st, 1);
        else
            check = store_column_int64(st, 1);
        found++;
    }
    store_finalize(st);
    if (rc != STORE_STEP_DONE)
        return QB_E_STORAGE;
    if (found == 0)
        return QB_E_NOT_FOUND;
    /* One row without the other, or a check of another key: either way not
     * the key's doing. */
    if (found != 2 || keyed_from < 1 || keyed_from == INT64_MAX ||
        check != ledger_chain_check(chain, keyed_from))
        return QB_E_CONFLICT;
    chain->keyed_from = keyed_from;
    return QB_OK;
}

void ledger_entry_hash(const struct ledger_chain *chain, const struct ledger_entry *entry,
                       const uint8_t prev_hash[CRYPTO_SHA256_SIZE], uint8_t out[CRYPTO_SHA256_SIZE])
{
    /* Fixed header, then ref, then postings: one contiguous buffer so the
     * hash is one pass. */
    unsigned char wire[4 + 8 + 8 + 1 + 2 + 8 + 8 + 1 + LEDGER_REF_SIZE_MAX + 1 +
                       LEDGER_POSTINGS_WIRE_SIZE_MAX];
    unsigned char *p = wire;
    size_t ref_size = strlen(entry->ref);
    QB_ASSERT(ref_size < LEDGER_REF_SIZE_MAX);

    memcpy(p, "QBE1", 4);
    p += 4;
    buf_write_u64le(p, (uint64_t)entry->id);
    p += 8;
    buf_write_u64le(p, (uint64_t)entry->created_at_ms);
    p += 8;
    *p++ = (unsigned char)entry->kind;
    *p++ = (unsigned char)(entry->code & 0xff);
    *p++ = (unsigned char)(entry->code >> 8);
    buf_write_u64le(p, (uint64_t)entry->ref_entry_id);
    p += 8;
    buf_write_u64le(p, (uint64_t)entry->expires_at_ms);
    p += 8;
    *p++ = (unsigned char)ref_size;
    memcpy(p, entry->ref, ref_size);
    p += ref_size;
    *p++ = entry->posting_count;
    p += ledger_postings_encode(entry, p);

    if (entry->id >= chain->keyed_from) {
        struct crypto_hmac_sha256_state st = chain->mac;
        crypto_hmac_sha256_update(&st, prev_hash, CRYPTO_SHA256_SIZE);
        crypto_hmac_sha256_update(&st, wire, (size_t)(p - wire));
        crypto_hmac_sha256_end(&st, out);
        return;
    }
    struct crypto_sha256_state st;
    crypto_sha256_begin(&st);
    crypto_sha256_update(&st, prev_hash, CRYPTO_SHA256_SIZE);
    crypto_sha256_update(&st, wire, (size_t)(p - wire));
    crypto_sha256_end(&st, out);
}

enum qb_error ledger_entry_from_columns(struct store_stmt *stmt, int first,
                                        struct ledger_entry *out)
{
    QB_ASSERT(stmt != NULL && first >= 0 && out != NULL);
    memset(out, 0, sizeof *out);
    out->id = store_column_int64(stmt, first + 0);
    out->created_at_ms = store_column_int64(stmt, first + 1);
    int64_t kind = store_column_int64(stmt, first + 2);
    int64_t code = store_column_int64(stmt, first + 3);
    out->ref_entry_id = store_column_int64(stmt, first + 4);
    out->expires_at_ms = store_column_int64(stmt, first + 5);
    if (kind < LEDGER_ENTRY_TRANSFER || kind > LEDGER_ENTRY_EXPIRE || code < 0 || code > UINT16_MAX)
        return QB_E_INTERNAL;
    out->kind = (enum ledger_entry_kind)kind;
    out->code = (uint16_t)code;
    const char *ref = store_column_text(stmt, first + 6);
    size_t ref_size = store_column_size(stmt, first + 6);
    if (ref_size >= LEDGER_REF_SIZE_MAX || memchr(ref, '\0', ref_size) != NULL)
        return QB_E_INTERNAL;
    memcpy(out->ref, ref, ref_size);
    out->ref[ref_size] = '\0';
    const void *postings = store_column_blob(stmt, first + 7);
    size_t postings_size = store_column_size(stmt, first + 7);
    if (!ledger_postings_decode(out, postings, postings_size))
        return QB_E_INTERNAL;
    if (store_column_size(stmt, first + 8) != CRYPTO_SHA256_SIZE)
        return QB_E_INTERNAL;
    memcpy(out->hash, store_column_blob(stmt, first + 8), CRYPTO_SHA256_SIZE);
    return QB_OK;
}

enum qb_error ledger_entry_from_row(struct store_stmt *stmt, struct ledger_entry *out)
{
    return ledger_entry_from_columns(stmt, 0, out);
}

bool ledger_entry_is_well_formed(const struct ledger_entry *entry, char *why, size_t why_size)
{
#define BAD(...)                                  \
    do {                                          \
        snprintf(why, why_size, __VA_ARGS__);     \
        return false;                             \
    } while (0)
    if (entry->posting_count < 2)
        BAD("entry %lld has %u postings", (long long)entry->id, entry->posting_count);
    for (size_t i = 0; i < entry->posting_count; i++)
        for (size_t j = i + 1; j < entry->posting_count; j++)
            if (entry->postings[i].account_id == entry->postings[j].account_id)
                BAD("entry %lld posts to account %lld twice", (long long)entry->id,
                    (long long)entry->postings[i].account_id);

    /* Amounts sum to zero per currency. The sum is computed in __int128 so
     * that a corrupted row cannot overflow the check itself. */
    for (size_t i = 0; i < entry->posting_count; i++) {
        ledger_int128 sum = 0;
        uint16_t cur = entry->postings[i].currency_numeric;
        for (size_t j = 0; j < entry->posting_count; j++)
            if (entry->postings[j].currency_numeric == cur)
                sum += entry->postings[j].amount_minor;
        if (sum != 0)
            BAD("entry %lld does not sum to zero in currency %u", (long long)entry->id, cur);
    }

    const struct ledger_posting *d = &entry->postings[0], *c = &entry->postings[1];
    switch (entry->kind) {
    case LEDGER_ENTRY_TRANSFER:
        for (size_t i = 0; i < entry->posting_count; i++)
            if (entry->postings[i].amount_minor == 0 || entry->postings[i].held_delta_minor != 0)
                BAD("transfer %lld has a zero amount or a held change", (long long)entry->id);
        /* It may name an earlier entry whose spending it gives back. */
        if (entry->ref_entry_id < 0 || entry->ref_entry_id >= entry->id)
            BAD("transfer %lld refers to entry %lld", (long long)entry->id,
                (long long)entry->ref_entry_id);
        break;
    case LEDGER_ENTRY_HOLD:
        if (entry->posting_count != 2 || d->amount_minor != 0 || c->amount_minor != 0 ||
            d->held_delta_minor <= 0 || c->held_delta_minor != 0 || entry->ref_entry_id != 0)
            BAD("hold %lld is malformed", (long long)entry->id);
        break;
    case LEDGER_ENTRY_CAPTURE:
        if (entry->posting_count != 2 || d->amount_minor >= 0 || c->amount_minor <= 0 ||
            d->held_delta_minor >= 0 || c->held_delta_minor != 0 ||
            -d->amount_minor > -d->held_delta_minor || entry->ref_entry_id <= 0)
            BAD("capture %lld is malformed", (long long)entry->id);
        break;
    case LEDGER_ENTRY_VOID:
    case LEDGER_ENTRY_EXPIRE:
        if (entry->posting_count != 2 || d->amount_minor != 0 || c->amount_minor != 0 ||
            d->held_delta_minor >= 0 || c->held_delta_minor != 0 || entry->ref_entry_id <= 0)
            BAD("release %lld is malformed", (long long)entry->id);
        break;
    default:
        BAD("entry %lld has unknown kind %d", (long long)entry->id, (int)entry->kind);
    }
    return true;
#undef BAD
}

const struct ledger_posting *ledger_entry_posting(const struct ledger_entry *entry,
                                                  int64_t account_id)
{
    for (size_t i = 0; i < entry->posting_count; i++)
        if (entry->postings[i].account_id == account_id)
            return &entry->postings[i];
    return NULL;
}

bool ledger_entry_moves(const struct ledger_entry *entry, const struct ledger_leg *legs,
                        size_t leg_count)
{
    QB_ASSERT(entry != NULL && (legs != NULL || leg_count == 0));
    if (entry->posting_count != leg_count)
        return false;
    /* One posting per leg, each on its leg's account: with as many postings
     * as legs, and the legs' accounts distinct, none is left over. */
    for (size_t i = 0; i < leg_count; i++) {
        for (size_t j = 0; j < i; j++)
            if (legs[j].account_id == legs[i].account_id)
                return false;
        const struct ledger_posting *p = ledger_entry_posting(entry, legs[i].account_id);
        if (p == NULL || p->amount_minor != legs[i].amount_minor || p->held_delta_minor != 0)
            return false;
    }
    return true;
}

/* Reads entry `id` with a prepared "SELECT ... WHERE id = $1" statement. */
static enum qb_error entry_read_with(struct store_stmt *stmt, int64_t id, struct ledger_entry *out)
{
    enum qb_error err = store_bind_int64(stmt, 1, id);
    if (err != QB_OK)
        return err;
    int rc = store_step(stmt);
    if (rc == STORE_STEP_ROW)
        err = ledger_entry_from_row(stmt, out);
    else if (rc == STORE_STEP_DONE)
        err = QB_E_NOT_FOUND;
    else
        err = (enum qb_error)-rc;
    store_reset(stmt);
    return err;
}

enum qb_error ledger_entry_read(struct store *reader, int64_t entry_id, struct ledger_entry *out)
{
    struct store_stmt *stmt;
    enum qb_error err =
        store_prepare(reader, "SELECT " LEDGER_ENTRY_COLUMNS " FROM entries WHERE id = $1", &stmt);
    if (err != QB_OK)
        return err;
    err = entry_read_with(stmt, entry_id, out);
    store_finalize(stmt);
    return err;
}

enum qb_error ledger_hold_read(struct store *reader, int64_t hold_id, int64_t end_id,
                               struct ledger_entry *hold, struct ledger_entry *end, bool *open)
{
    memset(end, 0, sizeof *end);
    *open = false;
    enum qb_error err = ledger_entry_read(reader, hold_id, hold);
    if (err == QB_OK && end_id != 0)
        err = ledger_entry_read(reader, end_id, end);
    const struct store_param held[1] = {STORE_INT(hold_id)};
    if (err == QB_OK &&
        store_exists(reader, "SELECT 1 FROM holds WHERE id = $1", held, 1, open) != QB_OK)
        err = QB_E_STORAGE;
    return err;
}

enum qb_error ledger_entries_count(struct store *reader, uint16_t code, enum ledger_entry_kind kind,
                                   int64_t *count)
{
    const struct store_param terms[2] = {STORE_INT(code), STORE_INT(kind)};
    return store_int64(reader, "SELECT count(*) FROM entries WHERE code = $1 AND kind = $2", terms,
                       2, count) == QB_OK
               ? QB_OK
               : QB_E_STORAGE;
}

enum qb_error ledger_history(struct ledger *ledger, struct store *reader, int64_t account_id,
                             int64_t cursor, size_t limit, struct ledger_entry *entries,
                             size_t *count, int64_t *next_cursor)
{
    *count = 0;
    *next_cursor = 0;
    if (cursor < 0)
        return QB_E_PARAM;
    struct ledger_account_view view;
    enum qb_error err = ledger_account_view(ledger, account_id, &view);
    if (err != QB_OK)
        return err;
    /* A cursor past the account's newest committed entry was never handed
     * out for this account. */
    if (cursor > view.last_entry_id)
        return QB_E_PARAM;
    if (cursor == 0)
        cursor = view.last_entry_id;
    if (cursor == 0 || limit == 0) {
        *next_cursor = cursor;
        return QB_OK;
    }
    return ledger_history_read(reader, account_id, cursor, limit, entries, count, next_cursor);
}

enum qb_error ledger_history_read(struct store *reader, int64_t account_id, int64_t cursor,
                                  size_t limit, struct ledger_entry *entries, size_t *count,
                                  int64_t *next_cursor)
{
    *count = 0;
    *next_cursor = 0;
    if (cursor <= 0)
        return QB_E_PARAM;
    if (limit == 0) {
        *next_cursor = cursor;
        return QB_OK;
    }

    struct store_stmt *stmt;
    enum qb_error err =
        store_prepare(reader, "SELECT " LEDGER_ENTRY_COLUMNS " FROM entries WHERE id = $1", &stmt);
    if (err != QB_OK)
        return err;
    /* Walk back along the account's chain: each posting names the previous
     * entry of the same account. */
    while (cursor != 0 && *count < limit) {
        struct ledger_entry *e = &entries[*count];
        err = entry_read_with(stmt, cursor, e);
        if (err != QB_OK) {
            /* A cursor that is not an entry of this account is a bad cursor;
             * a broken chain inside the journal is corruption. */
            if (err == QB_E_NOT_FOUND && *count == 0)
                err = QB_E_PARAM;
            else if (err == QB_E_NOT_FOUND)
                err = QB_E_INTERNAL;
            goto out;
        }
        const struct ledger_posting *po = ledger_entry_posting(e, account_id);
        if (po == NULL) {
            err = *count == 0 ? QB_E_PARAM : QB_E_INTERNAL;
            goto out;
        }
        QB_ASSERT(po->prev_entry_id < e->id);
        cursor = po->prev_entry_id;
        (*count)++;
    }
    *next_cursor = cursor;
out:
    store_finalize(stmt);
    return err;
}

bool ledger_spent_gives_back(const struct ledger_options *options, const struct ledger_entry *e)
{
    return options != NULL && options->spending_code != NULL &&
           options->spending_giveback_code != NULL && e->ref_entry_id > 0 &&
           (e->kind == LEDGER_ENTRY_TRANSFER || e->kind == LEDGER_ENTRY_VOID ||
            e->kind == LEDGER_ENTRY_EXPIRE) &&
           options->spending_giveback_code(e->code);
}

/* Takes what give-back e returns to the account of po off sp: no more than
 * `named` (the entry e names) spent from that account, off the lifetime's
 * sum, and off the day's and the year's only while sp's are still those of
 * the day and year `named` was counted in. A later day's or year's sum
 * never counted it: taking it off there would let that day pay more than
 * its limit. */
static bool S_spent_give_back(const struct ledger_options *options, const struct ledger_entry *e,
                              const struct ledger_posting *po, const struct ledger_entry *named,
                              struct ledger_spent *sp)
{
    int64_t amount = e->kind == LEDGER_ENTRY_TRANSFER ? po->amount_minor : -po->held_delta_minor;
    if (amount <= 0)
        return true;
    if (named == NULL || named->id != e->ref_entry_id || named->id >= e->id ||
        !options->spending_code(named->code))
        return false;
    const struct ledger_posting *out = ledger_entry_posting(named, po->account_id);
    int64_t spent = out == NULL                            ? 0
                    : named->kind == LEDGER_ENTRY_TRANSFER ? -out->amount_minor
                    : named->kind == LEDGER_ENTRY_HOLD     ? out->held_delta_minor
                                                           : 0;
    if (amount > spent)
        return false;
    int64_t day_start_ms = 0, year = 0;
    options->spending_period(named->created_at_ms, &day_start_ms, &year);
    bool day = sp->day_start_ms == day_start_ms, in_year = sp->year == year;
    if (sp->lifetime_minor < amount || (day && sp->day_minor < amount) ||
        (in_year && sp->year_minor < amount))
        return false;
    sp->lifetime_minor -= amount;
    if (day)
        sp->day_minor -= amount;
    if (in_year)
        sp->year_minor -= amount;
    return true;
}

bool ledger_spent_count(const struct ledger_options *options, enum ledger_account_kind kind,
                        const struct ledger_entry *e, const struct ledger_posting *po,
                        const struct ledger_entry *named, struct ledger_spent *sp)
{
    if (kind == LEDGER_ACCOUNT_USER && ledger_spent_gives_back(options, e))
        return S_spent_give_back(options, e, po, named, sp);
    /* What leaves the account by this entry: a transfer's debit, or what a
     * hold reserves. A capture of a hold counts nothing: its hold counted
     * already. */
    int64_t amount = e->kind == LEDGER_ENTRY_TRANSFER ? -po->amount_minor
                     : e->kind == LEDGER_ENTRY_HOLD   ? po->held_delta_minor
                                                      : 0;
    if (options == NULL || options->spending_code == NULL || amount <= 0 ||
        kind != LEDGER_ACCOUNT_USER || !options->spending_code(e->code))
        return true;
    int64_t day_start_ms = 0, year = 0;
    options->spending_period(e->created_at_ms, &day_start_ms, &year);
    if (sp->day_start_ms != day_start_ms)
        sp->day_start_ms = day_start_ms, sp->day_minor = 0;
    if (sp->year != year)
        sp->year = year, sp->year_minor = 0;
    return !__builtin_add_overflow(sp->day_minor, amount, &sp->day_minor) &&
           !__builtin_add_overflow(sp->year_minor, amount, &sp->year_minor) &&
           !__builtin_add_overflow(sp->lifetime_minor, amount, &sp->lifetime_minor);
}

/*
 * rowtag.c — rows tied to the chain key (rowtag.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "domain/audit.h"
#include "domain/domain.h"
#include "domain/rowtag.h"

/* The migration that gave cards and merchants their tag column. */
#define S_TAGGED_SCHEMA 55

/* Rows tagged a statement at a time at the first start; a row's key's room. */
#define S_BATCH 64
#define S_KEY_SIZE_MAX 64

/* Room for a statement built from a table's description. */
#define S_SQL_SIZE 512

static void S_put(struct crypto_hmac_sha256_state *st, const void *data, size_t size)
{
    unsigned char length[4];
    QB_ASSERT(size <= UINT32_MAX);
    length[0] = (unsigned char)(size & 0xff);
    length[1] = (unsigned char)((size >> 8) & 0xff);
    length[2] = (unsigned char)((size >> 16) & 0xff);
    length[3] = (unsigned char)((size >> 24) & 0xff);
    crypto_hmac_sha256_update(st, length, sizeof length);
    crypto_hmac_sha256_update(st, data, size);
}

void domain_row_tag_fields(const uint8_t *chain_key, const struct domain_tagged *t,
                           const struct domain_tag_field *fields, uint8_t out[CRYPTO_SHA256_SIZE])
{
    static const uint8_t zero_key[DOMAIN_KEY_SIZE];
    QB_ASSERT(t != NULL && fields != NULL);
    struct crypto_hmac_sha256_state mac;
    crypto_hmac_sha256_begin(&mac, chain_key != NULL ? chain_key : zero_key, DOMAIN_KEY_SIZE);
    S_put(&mac, "QBT1", 4);
    S_put(&mac, t->label, strlen(t->label));
    for (size_t i = 0; t->kinds[i] != '\0'; i++) {
        if (t->kinds[i] == 'i') {
            unsigned char value[8];
            buf_write_u64le(value, (uint64_t)fields[i].integer);
            S_put(&mac, value, sizeof value);
        } else {
            QB_ASSERT(t->kinds[i] == 't' || t->kinds[i] == 'b');
            QB_ASSERT(fields[i].data != NULL || fields[i].size == 0);
            S_put(&mac, fields[i].data != NULL ? fields[i].data : "", fields[i].size);
        }
    }
    crypto_hmac_sha256_end(&mac, out);
}

/* The fields of the row st stands on, its tied columns first on. */
static void S_fields_of(const struct domain_tagged *t, struct store_stmt *st, int first,
                        struct domain_tag_field fields[DOMAIN_TAG_FIELDS_MAX])
{
    size_t count = strlen(t->kinds);
    QB_ASSERT(first >= 0 && count <= DOMAIN_TAG_FIELDS_MAX);
    for (size_t i = 0; i < count; i++) {
        int column = first + (int)i;
        fields[i] = (struct domain_tag_field){0};
        if (t->kinds[i] == 'i') {
            fields[i].integer = store_column_int64(st, column);
        } else if (t->kinds[i] == 't') {
            fields[i].data = store_column_text(st, column);
            fields[i].size = fields[i].data != NULL ? store_column_size(st, column) : 0;
        } else {
            fields[i].data = store_column_blob(st, column);
            fields[i].size = store_column_size(st, column);
        }
    }
}

void domain_row_tag(const uint8_t *chain_key, const struct domain_tagged *t, struct store_stmt *st,
                    int first, uint8_t out[CRYPTO_SHA256_SIZE])
{
    QB_ASSERT(t != NULL && st != NULL);
    struct domain_tag_field fields[DOMAIN_TAG_FIELDS_MAX];
    S_fields_of(t, st, first, fields);
    domain_row_tag_fields(chain_key, t, fields, out);
}

/* Whether the tag column (after the tied ones) holds a tag, and whether it
 * is the row's. */
static bool S_holds(const uint8_t *chain_key, const struct domain_tagged *t, struct store_stmt *st,
                    int first, bool *tagged)
{
    int column = first + (int)strlen(t->kinds);
    const void *tag = store_column_blob(st, column);
    size_t size = store_column_size(st, column);
    *tagged = size > 0;
    if (size != CRYPTO_SHA256_SIZE)
        return false;
    uint8_t want[CRYPTO_SHA256_SIZE];
    domain_row_tag(chain_key, t, st, first, want);
    return crypto_equal(tag, want, sizeof want);
}

bool domain_row_tag_holds(const uint8_t *chain_key, const struct domain_tagged *t,
                          struct store_stmt *st, int first)
{
    bool tagged = false;
    if (S_holds(chain_key, t, st, first, &tagged))
        return true;
    const char *key = store_column_text(st, first);
    log_event(LOG_ERROR, "domain.row_tag_broken",
              "table=%s key=%s tag=%s note=\"the row is not as written: not acted on\"", t->table,
              key != NULL ? key : "", tagged ? "wrong" : "none");
    return false;
}

/* The key's column: the first of the list. */
static int S_key_column_size(const struct domain_tagged *t)
{
    size_t size = strcspn(t->columns, ",");
    QB_ASSERT(size > 0 && size < 64);
    return (int)size;
}

/* Sets the tag of t's row named key. */
static enum qb_error S_tag_put(struct store *writer, const struct domain_tagged *t, const char *key,
                               const uint8_t tag[CRYPTO_SHA256_SIZE])
{
    char sql[S_SQL_SIZE];
    int size = snprintf(sql, sizeof sql, "UPDATE %s SET tag = $2 WHERE %.*s = $1", t->table,
                        S_key_column_size(t), t->columns);
    QB_ASSERT(size > 0 && (size_t)size < sizeof sql);
    const struct store_param params[] = {STORE_TEXT(key), STORE_BLOB(tag, CRYPTO_SHA256_SIZE)};
    return store_run(writer, sql, params, QB_ARRAY_COUNT(params));
}

enum qb_error domain_row_tag_write(struct store *writer, const uint8_t *chain_key,
                                   const struct domain_tagged *t,
                                   const struct domain_tag_field *fields)
{
    QB_ASSERT(writer != NULL && t != NULL && fields != NULL);
    QB_ASSERT(t->kinds[0] == 't' && fields[0].data != NULL);
    char key[S_KEY_SIZE_MAX];
    QB_ASSERT(fields[0].size < sizeof key);
    memcpy(key, fields[0].data, fields[0].size);
    key[fields[0].size] = '\0';
    uint8_t tag[CRYPTO_SHA256_SIZE];
    domain_row_tag_fields(chain_key, t, fields, tag);
    return S_tag_put(writer, t, key, tag);
}

/* Tags t's row named key as it stands (an earlier version's): read back,
 * since nothing else says what it held. */
static enum qb_error S_tag_as_found(struct store *writer, const uint8_t *chain_key,
                                    const struct domain_tagged *t, const char *key)
{
    char sql[S_SQL_SIZE];
    int size = snprintf(sql, sizeof sql, "SELECT %s FROM %s WHERE %.*s = $1", t->columns, t->table,
                        S_key_column_size(t), t->columns);
    QB_ASSERT(size > 0 && (size_t)size < sizeof sql);
    struct store_stmt *st = NULL;
    enum qb_error err = store_prepare(writer, sql, &st);
    if (err == QB_OK)
        err = store_bind_text(st, 1, key, strlen(key));
    uint8_t tag[CRYPTO_SHA256_SIZE];
    if (err == QB_OK) {
        int rc = store_step(st);
        if (rc == STORE_STEP_ROW)
            domain_row_tag(chain_key, t, st, 0, tag);
        else
            err = rc == STORE_STEP_DONE ? QB_E_NOT_FOUND : QB_E_STORAGE;
    }
    store_finalize(st);
    return err == QB_OK ? S_tag_put(writer, t, key, tag) : err;
}

/* --- tagging an earlier version's rows ---------------------------------------------- */

struct S_open_cmd {
    struct ledger_cmd cmd;
    const uint8_t *chain_key;
    const struct domain_tagged *const *tables;
    size_t count;
    int64_t tagged;
    int64_t tagged_before; /* the trail's row of an earlier tagging, or 0 */
    enum qb_error outcome; /* QB_E_CONFLICT: tagged before, and not again */
    struct domain_audit audit;
    char keys[S_BATCH][S_KEY_SIZE_MAX]; /* a batch's rows */
};

/* The seq of the operators' audit trail's row of a tagging of rows as
 * found, or 0 when the trail has none. Found by its text: the caller
 * checks the trail's seals (sealed under the chain key, its newest row
 * kept in DATA_DIR/chain-head), so that an edited or missing row is found
 * out; a trail cut at its end with chain-head removed is not (rowtag.h). */
static enum qb_error S_tagged_before(struct store *store, int64_t *seq)
{
    *seq = 0;
    struct store_stmt *st = NULL;
    enum qb_error err =
        store_prepare(store,
                      "SELECT seq FROM operator_actions WHERE actor = '" DOMAIN_AUDIT_BY_DAEMON
                      "' AND action = 'rows_tagged'"
                      " AND result = 'ok' ORDER BY seq LIMIT 1",
                      &st);
    int rc = err == QB_OK ? store_step(st) : STORE_STEP_DONE;
    if (err == QB_OK && rc == STORE_STEP_ROW)
        *seq = store_column_int64(st, 0);
    else if (err == QB_OK && rc != STORE_STEP_DONE)
        err = QB_E_STORAGE;
    store_finalize(st);
    return err;
}

/* The keys of t's rows with no tag, after after (in key order), at most
 * S_BATCH of them, into keys. */
static enum qb_error S_untagged(struct store *store, const struct domain_tagged *t,
                                const char *after, char keys[S_BATCH][S_KEY_SIZE_MAX],
                                size_t *count)
{
    *count = 0;
    char sql[S_SQL_SIZE];
    int key_size = S_key_column_size(t);
    int size = snprintf(sql, sizeof sql,
                        "SELECT %.*s FROM %s WHERE length(tag) = 0 AND %.*s > $1"
                        " ORDER BY %.*s LIMIT %d",
                        key_size, t->columns, t->table, key_size, t->columns, key_size, t->columns,
                        S_BATCH);
    QB_ASSERT(size > 0 && (size_t)size < sizeof sql);
    struct store_stmt *st = NULL;
    enum qb_error err = store_prepare(store, sql, &st);
    if (err == QB_OK)
        err = store_bind_text(st, 1, after, strlen(after));
    int rc = STORE_STEP_DONE;
    while (err == QB_OK && (rc = store_step(st)) == STORE_STEP_ROW) {
        const char *key = store_column_text(st, 0);
        if (key == NULL || store_column_size(st, 0) >= S_KEY_SIZE_MAX) {
            err = QB_E_INTERNAL;
            break;
        }
        snprintf(keys[(*count)++], S_KEY_SIZE_MAX, "%s", key);
    }
    if (err == QB_OK && rc != STORE_STEP_DONE)
        err = QB_E_STORAGE;
    store_finalize(st);
    return err;
}

static enum qb_error S_open_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct S_open_cmd *c = (struct S_open_cmd *)cmd;
    struct store *store = ledger_txn_store(txn);
    /* A database whose rows were tagged before, its schema now older than
     * the tags: the tag columns were taken off by hand, to have edited rows
     * tagged as found. Refused, and the attempt is on the trail. */
    enum qb_error err = S_tagged_before(store, &c->tagged_before);
    if (err != QB_OK)
        return err;
    /* The row is found by its text: the trail's seals must hold, all of
     * them, or a row of it edited or taken out could hide a tagging. */
    int64_t rows = 0;
    char problem[160] = "";
    err = domain_audit_check(store, c->chain_key, &rows, problem, sizeof problem);
    if (err == QB_E_INTERNAL) {
        log_event(LOG_ERROR, "domain.rows_tagging_refused", "why=\"the audit trail: %s\"", problem);
        c->outcome = QB_E_CONFLICT;
        snprintf(c->audit.detail, sizeof c->audit.detail, "trail_broken");
        return QB_OK;
    }
    if (err != QB_OK)
        return err;
    if (c->tagged_before > 0) {
        c->outcome = QB_E_CONFLICT;
        snprintf(c->audit.detail, sizeof c->audit.detail, "earlier_row=%" PRId64, c->tagged_before);
        return QB_OK;
    }
    for (size_t i = 0; err == QB_OK && i < c->count; i++) {
        const struct domain_tagged *t = c->tables[i];
        char after[S_KEY_SIZE_MAX] = "";
        size_t count = S_BATCH;
        while (err == QB_OK && count == S_BATCH) {
            err = S_untagged(store, t, after, c->keys, &count);
            for (size_t k = 0; err == QB_OK && k < count; k++) {
                err = S_tag_as_found(store, c->chain_key, t, c->keys[k]);
                c->tagged++;
            }
            if (err == QB_OK && count > 0)
                snprintf(after, sizeof after, "%s", c->keys[count - 1]);
        }
    }
    snprintf(c->audit.detail, sizeof c->audit.detail, "rows=%" PRId64, c->tagged);
    return err;
}

enum qb_error domain_row_tags_open(struct ledger *ledger, const uint8_t *chain_key,
                                   int64_t version_found, const struct domain_tagged *const *tables,
                                   size_t count, int64_t *tagged)
{
    QB_ASSERT(ledger != NULL && tables != NULL && tagged != NULL);
    *tagged = 0;
    /* Only the start that gives the tables their tag column: at any other,
     * a row without a tag is one whose tag was taken off. */
    if (version_found < 0 || version_found >= S_TAGGED_SCHEMA)
        return QB_OK;
    struct S_open_cmd *c = calloc(1, sizeof *c);
    if (c == NULL)
        return QB_E_INTERNAL;
    c->chain_key = chain_key;
    c->tables = tables;
    c->count = count;
    ledger_cmd_init(&c->cmd, S_open_run, NULL);
    /* On the trail: that this database's rows were tagged as found, which
     * no later start does again (S_tagged_before). */
    struct domain_audit *a = &c->audit;
    snprintf(a->by, sizeof a->by, "%s", DOMAIN_AUDIT_BY_DAEMON);
    snprintf(a->action, sizeof a->action, "rows_tagged");
    snprintf(a->target, sizeof a->target, "cards.merchants");
    snprintf(a->reason, sizeof a->reason,
             "the rows of schema %" PRId64 ", tied to the chain key as found", version_found);
    a->outcome = &c->outcome;
    domain_audit_attach(a, &c->cmd);
    enum qb_error err = ledger_execute(ledger, &c->cmd);
    if (err == QB_OK)
        err = c->cmd.result;
    if (err == QB_OK)
        err = c->outcome;
    ledger_cmd_release(&c->cmd);
    *tagged = err == QB_OK ? c->tagged : 0;
    free(c);
    return err;
}

/* --- the operator's check ------------------------------------------------------------ */

enum qb_error domain_row_tags_check(struct store *reader, const uint8_t *chain_key,
                                    const struct domain_tagged *t, int64_t *rows, char *problem,
                                    size_t problem_size)
{
    QB_ASSERT(reader != NULL && t != NULL && rows != NULL && problem != NULL);
    *rows = 0;
    /* A database an earlier version left, checked before the first start
     * with this one: its rows have no tags to check yet. */
    int64_t version = store_schema_version(reader);
    if (version < S_TAGGED_SCHEMA) {
        /* Unless the trail says its rows were tagged: then the columns were
         * taken off by hand (the trail came with migration 46). */
        int64_t seq = 0;
        enum qb_error err = S_tagged_before(reader, &seq);
        if (err == QB_E_STORAGE && version < 46)
            err = QB_OK; /* no trail at all yet */
        if (err == QB_OK && seq > 0) {
            snprintf(problem, problem_size,
                     "the schema is at version %" PRId64 ", older than the %s' tag column, but "
                     "the operators' audit trail says the rows were tagged (row %" PRId64
                     "): the column was taken off by hand",
                     version, t->table, seq);
            err = QB_E_INTERNAL;
        }
        return err;
    }
    /* One tagging as found, the upgrade's (or a new database's): a second
     * is a database whose trail was cut back to have edited rows tagged. */
    int64_t taggings = 0;
    enum qb_error err =
        store_int64(reader,
                    "SELECT count(*) FROM operator_actions WHERE actor = '" DOMAIN_AUDIT_BY_DAEMON
                    "' AND action = 'rows_tagged'"
                    " AND result = 'ok'",
                    NULL, 0, &taggings);
    if (err != QB_OK)
        return err;
    if (taggings > 1) {
        snprintf(problem, problem_size,
                 "the operators' audit trail records %" PRId64 " taggings of rows as found, "
                 "where an upgrade makes one: rows were tagged again after the trail was cut",
                 taggings);
        return QB_E_INTERNAL;
    }
    char sql[S_SQL_SIZE];
    int size = snprintf(sql, sizeof sql, "SELECT %s, tag FROM %s", t->columns, t->table);
    QB_ASSERT(size > 0 && (size_t)size < sizeof sql);
    struct store_stmt *st = NULL;
    err = store_prepare(reader, sql, &st);
    int rc = STORE_STEP_DONE;
    while (err == QB_OK && (rc = store_step(st)) == STORE_STEP_ROW) {
        bool tagged = false;
        if (!S_holds(chain_key, t, st, 0, &tagged)) {
            const char *key = store_column_text(st, 0);
            snprintf(problem, problem_size, "%s %s is not as written (%s): %s", t->label,
                     key != NULL ? key : "", t->columns,
                     tagged ? "its tag does not hold" : "it has no tag");
            err = QB_E_INTERNAL;
            break;
        }
        (*rows)++;
    }
    if (err == QB_OK && rc != STORE_STEP_DONE)
        err = QB_E_STORAGE;
    store_finalize(st);
    if (err != QB_OK)
        *rows = 0; /* as the other checks count a check that failed */
    return err;
}

/*
 * audit.c — the operators' audit trail (audit.h): the record function the
 * ledger runs after an operator's command, and the list read back.
 *
 * The row is written through the command's own store, so it is part of the
 * command's savepoint: rolled back with it, committed with it. The texts
 * were bounded and cleaned by the routes that took them (a reason is clean
 * text, HTTP_FIELD_STRING); each is checked for its NUL here again before
 * SQL reads it, as any command checks its fixed arrays.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "domain/audit.h"

#define TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)

/* The migration that gave each row its seal (operator_actions.mac). */
#define S_SEALED_SCHEMA 49

/* The columns of a row, in struct domain_audit_row's order, and its seal. */
#define S_COLUMNS                                                                                  \
    "seq, at_ms, actor, action, target, detail, reason, result, changed, request_id, mac"

static unsigned char *S_put_text(unsigned char *p, const char *text, size_t size_max)
{
    size_t size = strnlen(text, size_max);
    p[0] = (unsigned char)(size & 0xff);
    p[1] = (unsigned char)(size >> 8);
    memcpy(p + 2, text, size);
    return p + 2 + size;
}

size_t domain_audit_encode(const struct domain_audit_row *row, unsigned char *out)
{
    unsigned char *p = out;
    buf_write_u64le(p, (uint64_t)row->at_ms);
    p += 8;
    p = S_put_text(p, row->by, sizeof row->by);
    p = S_put_text(p, row->action, sizeof row->action);
    p = S_put_text(p, row->target, sizeof row->target);
    p = S_put_text(p, row->detail, sizeof row->detail);
    p = S_put_text(p, row->reason, sizeof row->reason);
    p = S_put_text(p, row->result, sizeof row->result);
    p = S_put_text(p, row->request_id, sizeof row->request_id);
    *p++ = row->changed ? 1 : 0;
    QB_ASSERT((size_t)(p - out) <= DOMAIN_AUDIT_ENCODED_SIZE_MAX);
    return (size_t)(p - out);
}

/* The trail's newest row: *seq (0: none) and its seal; *sealed false when
 * it has none. */
static enum qb_error S_newest(struct store *s, int64_t *seq, uint8_t mac[CRYPTO_SHA256_SIZE],
                              bool *sealed)
{
    *seq = 0;
    *sealed = false;
    memset(mac, 0, CRYPTO_SHA256_SIZE);
    struct store_stmt *st = NULL;
    if (store_prepare(s, "SELECT seq, mac FROM operator_actions ORDER BY seq DESC LIMIT 1", &st) !=
        QB_OK)
        return QB_E_STORAGE;
    int rc = store_step(st);
    if (rc == STORE_STEP_ROW) {
        *seq = store_column_int64(st, 0);
        *sealed = store_column_size(st, 1) == CRYPTO_SHA256_SIZE;
        if (*sealed)
            memcpy(mac, store_column_blob(st, 1), CRYPTO_SHA256_SIZE);
    }
    store_finalize(st);
    return rc == STORE_STEP_ROW || rc == STORE_STEP_DONE ? QB_OK : QB_E_STORAGE;
}

/* Who seals: the ledger inside a command (txn), which publishes the
 * newest seal once durable; or the key alone, offline (the repair). */
struct S_sealer {
    struct ledger_txn *txn;
    const uint8_t *key;
};

static void S_seal(const struct S_sealer *sealer, const struct domain_audit_row *row,
                   const uint8_t prev[CRYPTO_SHA256_SIZE], uint8_t mac[CRYPTO_SHA256_SIZE])
{
    unsigned char encoded[DOMAIN_AUDIT_ENCODED_SIZE_MAX];
    size_t size = domain_audit_encode(row, encoded);
    if (sealer->txn != NULL)
        ledger_txn_seal(sealer->txn, row->seq, prev, encoded, size, mac);
    else
        ledger_seal(sealer->key, row->seq, prev, encoded, size, mac);
}

/* Writes row (its seq the newest's + 1) sealed after prev; mac its seal. */
static enum qb_error S_append(struct store *s, const struct S_sealer *sealer,
                              const struct domain_audit_row *row,
                              const uint8_t prev[CRYPTO_SHA256_SIZE],
                              uint8_t mac[CRYPTO_SHA256_SIZE])
{
    S_seal(sealer, row, prev, mac);
    const struct store_param p[] = {
        STORE_INT(row->seq),
        STORE_INT(row->at_ms),
        STORE_TEXT(row->by),
        STORE_TEXT(row->action),
        STORE_TEXT(row->target),
        STORE_TEXT(row->detail),
        STORE_TEXT(row->reason),
        STORE_TEXT(row->result),
        STORE_INT(row->changed ? 1 : 0),
        STORE_TEXT(row->request_id),
        STORE_BLOB(mac, CRYPTO_SHA256_SIZE),
    };
    enum qb_error err = store_run(s,
                                  "INSERT INTO operator_actions (" S_COLUMNS ")"
                                  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                                  p, QB_ARRAY_COUNT(p));
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
}

static enum qb_error S_record(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    const struct domain_audit *a = cmd->record_arg;
    QB_ASSERT(a != NULL && a->outcome != NULL);
    QB_ASSERT(TERMINATED(a->by) && TERMINATED(a->action) && TERMINATED(a->target) &&
              TERMINATED(a->detail) && TERMINATED(a->reason) && TERMINATED(a->request_id));
    QB_ASSERT(a->by[0] != '\0' && a->action[0] != '\0');
    enum qb_error outcome = *a->outcome;
    struct domain_audit_row row = {
        .at_ms = ledger_txn_now_ms(txn),
        /* What the command says it changed, a refusal of part of it too
         * (a payment recorded paid whose return could not be posted);
         * without a say, whether it did what was asked. */
        .changed = a->changed != NULL ? *a->changed : outcome == QB_OK,
    };
    memcpy(row.by, a->by, sizeof row.by);
    memcpy(row.action, a->action, sizeof row.action);
    if (outcome == QB_OK || !a->target_made)
        memcpy(row.target, a->target, sizeof row.target);
    if (outcome == QB_OK || !a->detail_made)
        memcpy(row.detail, a->detail, sizeof row.detail);
    memcpy(row.reason, a->reason, sizeof row.reason);
    snprintf(row.result, sizeof row.result, "%s",
             outcome == QB_OK ? "ok" : error_api_code(outcome));
    memcpy(row.request_id, a->request_id, sizeof row.request_id);

    struct store *s = ledger_txn_store(txn);
    uint8_t prev[CRYPTO_SHA256_SIZE];
    bool sealed = false;
    if (S_newest(s, &row.seq, prev, &sealed) != QB_OK)
        return QB_E_STORAGE;
    if (row.seq < 0 || (row.seq > 0 && !sealed)) {
        /* domain_audit_open sealed the trail at start: its newest row
         * lost its seal since (or is none the daemon writes). No row
         * goes after it until an operator has looked. */
        log_event(LOG_ERROR, "audit.trail_unsealed",
                  "seq=%" PRId64 " note=\"the newest row of the operators' audit trail has no "
                  "seal: the database was altered; run qianbaod --verify\"",
                  row.seq);
        return QB_E_STORAGE;
    }
    row.seq++;
    const struct S_sealer sealer = {.txn = txn};
    uint8_t mac[CRYPTO_SHA256_SIZE];
    return S_append(s, &sealer, &row, prev, mac);
}

bool domain_audit_target_is_valid(const char *text)
{
    size_t size = strnlen(text, DOMAIN_AUDIT_TARGET_SIZE_MAX);
    return size > 0 && size < DOMAIN_AUDIT_TARGET_SIZE_MAX &&
           strspn(text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
               size;
}

void domain_audit_attach(struct domain_audit *audit, struct ledger_cmd *cmd)
{
    QB_ASSERT(audit != NULL && audit->outcome != NULL && cmd != NULL);
    QB_ASSERT(cmd->record == NULL); /* one record per command */
    cmd->record = S_record;
    cmd->record_arg = audit;
}

/* Copies column i into dst, false when it does not fit (a row this code
 * did not write). */
static bool S_text(struct store_stmt *st, int i, char *dst, size_t dst_size)
{
    const char *text = store_column_text(st, i);
    size_t size = text != NULL ? strlen(text) : 0;
    if (size >= dst_size)
        return false;
    memcpy(dst, text != NULL ? text : "", size + 1);
    return true;
}

static enum qb_error S_row(struct store_stmt *st, struct domain_audit_row *out)
{
    memset(out, 0, sizeof *out);
    out->seq = store_column_int64(st, 0);
    if (out->seq <= 0)
        return QB_E_STORAGE; /* rows are numbered from 1 */
    out->at_ms = store_column_int64(st, 1);
    out->changed = store_column_int64(st, 8) != 0;
    bool ok = S_text(st, 2, out->by, sizeof out->by) &&
              S_text(st, 3, out->action, sizeof out->action) &&
              S_text(st, 4, out->target, sizeof out->target) &&
              S_text(st, 5, out->detail, sizeof out->detail) &&
              S_text(st, 6, out->reason, sizeof out->reason) &&
              S_text(st, 7, out->result, sizeof out->result) &&
              S_text(st, 9, out->request_id, sizeof out->request_id);
    return ok ? QB_OK : QB_E_STORAGE;
}

enum qb_error domain_audit_list(struct store *reader, const struct domain_audit_filter *filter,
                                int64_t before, struct domain_audit_row *out, size_t max,
                                size_t *count)
{
    QB_ASSERT(reader != NULL && filter != NULL && out != NULL && max > 0 && before >= 0);
    *count = 0;
    const char *by = filter->by != NULL ? filter->by : "";
    const char *action = filter->action != NULL ? filter->action : "";
    const char *target = filter->target != NULL ? filter->target : "";
    struct store_stmt *st = NULL;
    if (store_prepare(reader,
                      "SELECT " S_COLUMNS " FROM operator_actions"
                      " WHERE ($1 = 0 OR seq < $1) AND ($2 = '' OR actor = $2)"
                      " AND ($3 = '' OR action = $3) AND ($4 = '' OR target = $4)"
                      " AND at_ms >= $5 AND ($6 = 0 OR at_ms < $6)"
                      " ORDER BY seq DESC LIMIT $7",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_int64(st, 1, before);
    if (err == QB_OK)
        err = store_bind_text(st, 2, by, strlen(by));
    if (err == QB_OK)
        err = store_bind_text(st, 3, action, strlen(action));
    if (err == QB_OK)
        err = store_bind_text(st, 4, target, strlen(target));
    if (err == QB_OK)
        err = store_bind_int64(st, 5, filter->from_ms);
    if (err == QB_OK)
        err = store_bind_int64(st, 6, filter->to_ms);
    if (err == QB_OK)
        err = store_bind_int64(st, 7, (int64_t)max);
    int rc = STORE_STEP_DONE;
    while (err == QB_OK && *count < max && (rc = store_step(st)) == STORE_STEP_ROW)
        if ((err = S_row(st, &out[*count])) == QB_OK)
            (*count)++;
    if (err == QB_OK && rc != STORE_STEP_DONE && rc != STORE_STEP_ROW)
        err = QB_E_STORAGE;
    store_finalize(st);
    return err;
}

/* --- the seal ----------------------------------------------------------- */

/* Rows sealed by one statement's pass at a time: the trail is read in
 * pages, so that no row is written under a statement still reading it. */
#define S_SEAL_PAGE 256

struct S_open {
    int64_t seq;
    uint8_t mac[CRYPTO_SHA256_SIZE];
    int64_t sealed; /* rows an earlier version kept, sealed now */
};

/* Reads up to max rows after seq `after` into rows, their seals into
 * stored (has[i]: one of the right size); *count how many. */
static enum qb_error S_page(struct store *s, int64_t after, struct domain_audit_row *rows,
                            uint8_t (*stored)[CRYPTO_SHA256_SIZE], bool *has, size_t max,
                            size_t *count)
{
    *count = 0;
    struct store_stmt *st = NULL;
    if (store_prepare(s,
                      "SELECT " S_COLUMNS " FROM operator_actions WHERE seq > $1"
                      " ORDER BY seq LIMIT $2",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_int64(st, 1, after);
    if (err == QB_OK)
        err = store_bind_int64(st, 2, (int64_t)max);
    int rc = STORE_STEP_DONE;
    while (err == QB_OK && *count < max && (rc = store_step(st)) == STORE_STEP_ROW) {
        if ((err = S_row(st, &rows[*count])) != QB_OK)
            break;
        has[*count] = store_column_size(st, 10) == CRYPTO_SHA256_SIZE;
        if (has[*count])
            memcpy(stored[*count], store_column_blob(st, 10), CRYPTO_SHA256_SIZE);
        (*count)++;
    }
    if (err == QB_OK && rc != STORE_STEP_DONE && rc != STORE_STEP_ROW)
        err = QB_E_STORAGE;
    store_finalize(st);
    return err;
}

/* Seals every row as it stands, from the first, in order: *sealed the
 * rows, *first_changed the first whose stored seal was another (0: none),
 * *last_seq and last the newest row's. */
static enum qb_error S_seal_all(struct store *s, const struct S_sealer *sealer, int64_t *sealed,
                                int64_t *first_changed, int64_t *last_seq,
                                uint8_t last[CRYPTO_SHA256_SIZE])
{
    *sealed = 0;
    *first_changed = 0;
    *last_seq = 0;
    memset(last, 0, CRYPTO_SHA256_SIZE);
    struct domain_audit_row *rows = calloc(S_SEAL_PAGE, sizeof *rows);
    uint8_t(*stored)[CRYPTO_SHA256_SIZE] = calloc(S_SEAL_PAGE, sizeof *stored);
    bool *has = calloc(S_SEAL_PAGE, sizeof *has);
    enum qb_error err = rows != NULL && stored != NULL && has != NULL ? QB_OK : QB_E_STORAGE;
    uint8_t prev[CRYPTO_SHA256_SIZE] = {0};
    size_t count = S_SEAL_PAGE;
    while (err == QB_OK && count == S_SEAL_PAGE) {
        if ((err = S_page(s, *last_seq, rows, stored, has, S_SEAL_PAGE, &count)) != QB_OK)
            break;
        for (size_t i = 0; i < count && err == QB_OK; i++) {
            S_seal(sealer, &rows[i], prev, prev);
            if (!has[i] || !crypto_equal(prev, stored[i], CRYPTO_SHA256_SIZE)) {
                if (*first_changed == 0)
                    *first_changed = rows[i].seq;
                const struct store_param p[] = {STORE_BLOB(prev, sizeof prev),
                                                STORE_INT(rows[i].seq)};
                err = store_run(s, "UPDATE operator_actions SET mac = $1 WHERE seq = $2", p,
                                QB_ARRAY_COUNT(p));
            }
            *last_seq = rows[i].seq;
            (*sealed)++;
        }
    }
    free(rows);
    free(stored);
    free(has);
    if (err != QB_OK)
        return QB_E_STORAGE;
    memcpy(last, prev, sizeof prev);
    return QB_OK;
}

static enum qb_error S_open_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct S_open *o = cmd->ctx;
    struct store *s = ledger_txn_store(txn);
    bool sealed = false;
    if (S_newest(s, &o->seq, o->mac, &sealed) != QB_OK)
        return QB_E_STORAGE;
    if (o->seq == 0 || sealed)
        return QB_OK;
    struct store_stmt *st = NULL;
    if (store_prepare(s, "SELECT count(*) FROM operator_actions WHERE length(mac) > 0", &st) !=
            QB_OK ||
        store_step(st) != STORE_STEP_ROW) {
        store_finalize(st);
        return QB_E_STORAGE;
    }
    int64_t with_seal = store_column_int64(st, 0);
    store_finalize(st);
    if (with_seal > 0)
        return QB_E_INTERNAL; /* the newest row lost its seal */
    /* An earlier version's trail: sealed as it stands, from its first row. */
    const struct S_sealer sealer = {.txn = txn};
    int64_t first_changed = 0;
    return S_seal_all(s, &sealer, &o->sealed, &first_changed, &o->seq, o->mac);
}

enum qb_error domain_audit_open(struct ledger *ledger, int64_t *seq,
                                uint8_t mac[CRYPTO_SHA256_SIZE])
{
    struct S_open o = {0};
    struct ledger_cmd cmd;
    ledger_cmd_init(&cmd, S_open_run, &o);
    enum qb_error err = ledger_execute(ledger, &cmd);
    if (err == QB_OK)
        err = cmd.result;
    ledger_cmd_release(&cmd);
    *seq = err == QB_OK ? o.seq : 0;
    memcpy(mac, o.mac, CRYPTO_SHA256_SIZE);
    if (err == QB_OK && o.sealed > 0)
        log_event(LOG_INFO, "audit.sealed",
                  "rows=%" PRId64 " note=\"the operators' audit trail "
                  "an earlier version kept, sealed as found\"",
                  o.sealed);
    return err;
}

enum qb_error domain_audit_reseal(struct store *writer, const uint8_t *chain_key, int64_t now_ms,
                                  const char *why, struct domain_audit_reseal_report *out)
{
    QB_ASSERT(writer != NULL && why != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    if (store_begin(writer) != QB_OK)
        return QB_E_STORAGE;
    const struct S_sealer sealer = {.key = chain_key};
    uint8_t prev[CRYPTO_SHA256_SIZE];
    enum qb_error err =
        S_seal_all(writer, &sealer, &out->rows, &out->first_changed, &out->seq, prev);
    if (err == QB_OK) {
        /* The repair on the trail itself, sealed after what it sealed. */
        struct domain_audit_row row = {.seq = out->seq + 1, .at_ms = now_ms, .changed = true};
        snprintf(row.by, sizeof row.by, "%s", DOMAIN_AUDIT_BY_DAEMON);
        snprintf(row.action, sizeof row.action, "audit_resealed");
        snprintf(row.detail, sizeof row.detail, "from_row=%" PRId64, out->first_changed);
        snprintf(row.reason, sizeof row.reason, "%s", why);
        snprintf(row.result, sizeof row.result, "ok");
        err = S_append(writer, &sealer, &row, prev, out->mac);
        out->seq = row.seq;
    }
    if (err == QB_OK)
        err = store_commit(writer) == QB_OK ? QB_OK : QB_E_STORAGE;
    if (err != QB_OK) {
        if (store_rollback(writer) != QB_OK)
            err = QB_E_STORAGE;
        memset(out, 0, sizeof *out);
    }
    return err;
}

enum qb_error domain_audit_check(struct store *reader, const uint8_t *chain_key, int64_t *rows,
                                 char *problem, size_t problem_size)
{
    QB_ASSERT(reader != NULL && rows != NULL && problem != NULL && problem_size > 0);
    *rows = 0;
    /* A database an earlier version left, checked before the first start
     * with this one: its trail has no seals to check yet. */
    if (store_schema_version(reader) < S_SEALED_SCHEMA)
        return QB_OK;
    struct store_stmt *st = NULL;
    if (store_prepare(reader, "SELECT " S_COLUMNS " FROM operator_actions ORDER BY seq", &st) !=
        QB_OK)
        return QB_E_STORAGE;
    uint8_t prev[CRYPTO_SHA256_SIZE] = {0};
    bool first = true, unsealed_trail = false;
    enum qb_error err = QB_OK;
    int rc;
    while (err == QB_OK && (rc = store_step(st)) == STORE_STEP_ROW) {
        struct domain_audit_row row;
        bool has_seal = store_column_size(st, 10) == CRYPTO_SHA256_SIZE;
        if (first)
            unsealed_trail = !has_seal && store_column_size(st, 10) == 0;
        first = false;
        if (S_row(st, &row) != QB_OK) {
            snprintf(problem, problem_size,
                     "operator_actions row %" PRId64 " is not one the daemon writes", row.seq);
            err = QB_E_INTERNAL;
            break;
        }
        if (unsealed_trail) {
            if (store_column_size(st, 10) != 0) {
                snprintf(problem, problem_size,
                         "operator_actions row %" PRId64 " is sealed, but the rows before it "
                         "are not: the audit trail was altered",
                         row.seq);
                err = QB_E_INTERNAL;
            }
            continue;
        }
        unsigned char encoded[DOMAIN_AUDIT_ENCODED_SIZE_MAX];
        size_t size = domain_audit_encode(&row, encoded);
        uint8_t mac[CRYPTO_SHA256_SIZE];
        ledger_seal(chain_key, row.seq, prev, encoded, size, mac);
        if (!has_seal || !crypto_equal(mac, store_column_blob(st, 10), CRYPTO_SHA256_SIZE)) {
            snprintf(problem, problem_size,
                     "operator_actions row %" PRId64 " %s: the audit trail was altered (a row "
                     "changed, removed or put in) by a writer without the chain key",
                     row.seq, has_seal ? "does not match its seal" : "has no seal");
            err = QB_E_INTERNAL;
            break;
        }
        memcpy(prev, mac, sizeof prev);
        (*rows)++;
    }
    if (err == QB_OK && rc != STORE_STEP_DONE)
        err = QB_E_STORAGE;
    store_finalize(st);
    return err;
}

enum qb_error domain_audit_head_check(struct store *s, int64_t seq,
                                      const uint8_t mac[CRYPTO_SHA256_SIZE], int64_t *last_seq)
{
    uint8_t newest[CRYPTO_SHA256_SIZE];
    bool sealed = false;
    if (S_newest(s, last_seq, newest, &sealed) != QB_OK)
        return QB_E_STORAGE;
    if (seq == 0)
        return QB_OK;
    if (*last_seq < seq)
        return QB_E_NOT_FOUND;
    struct store_stmt *st = NULL;
    if (store_prepare(s, "SELECT mac FROM operator_actions WHERE seq = $1", &st) != QB_OK ||
        store_bind_int64(st, 1, seq) != QB_OK) {
        store_finalize(st);
        return QB_E_STORAGE;
    }
    int rc = store_step(st);
    bool same = rc == STORE_STEP_ROW && store_column_size(st, 0) == CRYPTO_SHA256_SIZE &&
                crypto_equal(store_column_blob(st, 0), mac, CRYPTO_SHA256_SIZE);
    store_finalize(st);
    if (rc != STORE_STEP_ROW && rc != STORE_STEP_DONE)
        return QB_E_STORAGE;
    return same ? QB_OK : QB_E_CONFLICT;
}

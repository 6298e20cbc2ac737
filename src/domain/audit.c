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
#include <string.h>

#include "domain/audit.h"

#define TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)

static enum qb_error S_record(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    const struct domain_audit *a = cmd->record_arg;
    QB_ASSERT(a != NULL && a->outcome != NULL);
    QB_ASSERT(TERMINATED(a->by) && TERMINATED(a->action) && TERMINATED(a->target) &&
              TERMINATED(a->detail) && TERMINATED(a->reason) && TERMINATED(a->request_id));
    QB_ASSERT(a->by[0] != '\0' && a->action[0] != '\0');
    enum qb_error outcome = *a->outcome;
    bool changed = outcome == QB_OK && (a->changed == NULL || *a->changed);
    const struct store_param p[] = {
        STORE_INT(ledger_txn_now_ms(txn)),
        STORE_TEXT(a->by),
        STORE_TEXT(a->action),
        STORE_TEXT(a->target),
        STORE_TEXT(a->detail),
        STORE_TEXT(a->reason),
        STORE_TEXT(outcome == QB_OK ? "ok" : error_api_code(outcome)),
        STORE_INT(changed ? 1 : 0),
        STORE_TEXT(a->request_id),
    };
    enum qb_error err = store_run(ledger_txn_store(txn),
                                  "INSERT INTO operator_actions (at_ms, actor, action, target,"
                                  " detail, reason, result, changed, request_id)"
                                  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                                  p, QB_ARRAY_COUNT(p));
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
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
                      "SELECT seq, at_ms, actor, action, target, detail, reason, result, changed,"
                      " request_id FROM operator_actions"
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

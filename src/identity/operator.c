/*
 * operator.c — named operators (operator.h): their tokens, their lookup
 * on each admin request, and the commands that add them, replace their
 * tokens and revoke them.
 *
 * The lookup is a read of one row by the token's hash on every request,
 * with no cache: a revocation's answer is sent once its commit is durable,
 * and the next request's read sees it, so a revoked token stops working on
 * the very next request. Operators are few and admin requests rare; the
 * read costs what a session's first lookup does.
 */
#include <string.h>

#include "identity/operator.h"

#define S_COLUMNS "seq, name, created_at_ms, token_issued_at_ms, revoked_at_ms"

bool identity_operator_name_is_valid(const char *name)
{
    if (name == NULL || !(name[0] >= 'a' && name[0] <= 'z'))
        return false;
    size_t size = strnlen(name, IDENTITY_OPERATOR_NAME_SIZE_MAX);
    return size < IDENTITY_OPERATOR_NAME_SIZE_MAX &&
           strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789._-") == size;
}

static enum qb_error S_row(struct store_stmt *st, struct identity_operator *out)
{
    memset(out, 0, sizeof *out);
    out->seq = store_column_int64(st, 0);
    const char *name = store_column_text(st, 1);
    if (name == NULL || strlen(name) >= sizeof out->name)
        return QB_E_STORAGE;
    memcpy(out->name, name, strlen(name) + 1);
    out->created_at_ms = store_column_int64(st, 2);
    out->token_issued_at_ms = store_column_int64(st, 3);
    out->revoked_at_ms = store_column_int64(st, 4);
    return QB_OK;
}

/* The one row whose column `key` is the text or blob bound, or
 * QB_E_NOT_FOUND. */
static enum qb_error S_get(struct store *store, const char *sql, const void *key, size_t key_size,
                           bool blob, struct identity_operator *out)
{
    memset(out, 0, sizeof *out);
    struct store_stmt *st = NULL;
    if (store_prepare(store, sql, &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err =
        blob ? store_bind_blob(st, 1, key, key_size) : store_bind_text(st, 1, key, key_size);
    if (err == QB_OK) {
        int rc = store_step(st);
        if (rc == STORE_STEP_ROW)
            err = S_row(st, out);
        else
            err = rc == STORE_STEP_DONE ? QB_E_NOT_FOUND : QB_E_STORAGE;
    }
    store_finalize(st);
    return err;
}

static enum qb_error S_get_by_name(struct store *store, const char *name,
                                   struct identity_operator *out)
{
    return S_get(store, "SELECT " S_COLUMNS " FROM operators WHERE name = $1", name, strlen(name),
                 false, out);
}

enum qb_error identity_operator_authenticate(struct store *reader, const char *token,
                                             struct identity_operator *out)
{
    QB_ASSERT(reader != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    uint8_t hash[CRYPTO_SHA256_SIZE];
    if (!identity_secret_hash(token, hash))
        return QB_E_UNAUTHORIZED;
    enum qb_error err = S_get(reader, "SELECT " S_COLUMNS " FROM operators WHERE token_hash = $1",
                              hash, sizeof hash, true, out);
    if (err == QB_OK && out->revoked_at_ms != 0)
        err = QB_E_UNAUTHORIZED;
    if (err != QB_OK)
        memset(out, 0, sizeof *out);
    return err == QB_E_NOT_FOUND ? QB_E_UNAUTHORIZED : err;
}

enum qb_error identity_operators_list(struct store *reader, int64_t before,
                                      struct identity_operator *out, size_t max, size_t *count)
{
    QB_ASSERT(reader != NULL && out != NULL && max > 0 && before >= 0);
    *count = 0;
    struct store_stmt *st = NULL;
    if (store_prepare(reader,
                      "SELECT " S_COLUMNS " FROM operators WHERE $1 = 0 OR seq < $1"
                      " ORDER BY seq DESC LIMIT $2",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_int64(st, 1, before);
    if (err == QB_OK)
        err = store_bind_int64(st, 2, (int64_t)max);
    int rc = STORE_STEP_DONE;
    while (err == QB_OK && *count < max && (rc = store_step(st)) == STORE_STEP_ROW)
        if ((err = S_row(st, &out[*count])) == QB_OK)
            (*count)++;
    if (err == QB_OK && rc != STORE_STEP_DONE && rc != STORE_STEP_ROW)
        err = QB_E_STORAGE;
    store_finalize(st);
    return err;
}

/* --- the commands ------------------------------------------------------------------ */

/* A new token for c, in c->token, and the SHA-256 that is kept of it. */
static void S_token_new(struct identity_operator_cmd *c, uint8_t hash[CRYPTO_SHA256_SIZE])
{
    uint8_t raw[32];
    rand_fill(c->env->rand, raw, sizeof raw);
    crypto_hex(raw, sizeof raw, c->token);
    crypto_sha256(raw, sizeof raw, hash);
    crypto_wipe(raw, sizeof raw);
}

/* Runs sql, which writes c's row with $1 name, $2 token hash and $3 now,
 * with a new token, and reads the row back; QB_OK, or a failure that left
 * no token in c. */
static enum qb_error S_write_token(struct ledger_txn *txn, struct identity_operator_cmd *c,
                                   const char *sql)
{
    struct store *store = ledger_txn_store(txn);
    uint8_t hash[CRYPTO_SHA256_SIZE];
    S_token_new(c, hash);
    int64_t now_ms = ledger_txn_now_ms(txn);
    const struct store_param params[] = {
        STORE_TEXT(c->name),
        STORE_BLOB(hash, sizeof hash),
        STORE_INT(now_ms),
    };
    enum qb_error err = store_run(store, sql, params, QB_ARRAY_COUNT(params));
    if (err == QB_OK)
        err = S_get_by_name(store, c->name, &c->operator);
    if (err != QB_OK) {
        crypto_wipe(c->token, sizeof c->token);
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : QB_E_STORAGE;
    }
    QB_ASSERT(c->operator.token_issued_at_ms == now_ms && c->operator.revoked_at_ms == 0);
    c->changed = true;
    c->outcome = QB_OK;
    return QB_OK;
}

static enum qb_error S_create(struct ledger_txn *txn, struct identity_operator_cmd *c)
{
    enum qb_error err = S_get_by_name(ledger_txn_store(txn), c->name, &c->operator);
    if (err == QB_OK) { /* taken, revoked or not: a name names one person */
        memset(&c->operator, 0, sizeof c->operator);
        c->outcome = QB_E_CONFLICT;
        return QB_OK;
    }
    if (err != QB_E_NOT_FOUND)
        return err;
    return S_write_token(txn, c,
                         "INSERT INTO operators (name, token_hash, created_at_ms, "
                         "token_issued_at_ms) VALUES ($1, $2, $3, $3)");
}

static enum qb_error S_rotate(struct ledger_txn *txn, struct identity_operator_cmd *c)
{
    enum qb_error err = S_get_by_name(ledger_txn_store(txn), c->name, &c->operator);
    if (err == QB_E_NOT_FOUND || (err == QB_OK && c->operator.revoked_at_ms != 0)) {
        c->outcome = err == QB_OK ? QB_E_CONFLICT : err;
        return QB_OK;
    }
    if (err != QB_OK)
        return err;
    return S_write_token(txn, c,
                         "UPDATE operators SET token_hash = $2, token_issued_at_ms = $3"
                         " WHERE name = $1");
}

static enum qb_error S_revoke(struct ledger_txn *txn, struct identity_operator_cmd *c)
{
    struct store *store = ledger_txn_store(txn);
    enum qb_error err = S_get_by_name(store, c->name, &c->operator);
    if (err == QB_E_NOT_FOUND) {
        c->outcome = err;
        return QB_OK;
    }
    if (err != QB_OK)
        return err;
    /* Again is the same answer: the first revocation's time stays. */
    if (c->operator.revoked_at_ms != 0) {
        c->outcome = QB_OK;
        return QB_OK;
    }
    const struct store_param params[] = {STORE_TEXT(c->name), STORE_INT(ledger_txn_now_ms(txn))};
    err = store_run(store, "UPDATE operators SET revoked_at_ms = $2 WHERE name = $1", params,
                    QB_ARRAY_COUNT(params));
    if (err == QB_OK)
        err = S_get_by_name(store, c->name, &c->operator);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : QB_E_STORAGE;
    QB_ASSERT(c->operator.revoked_at_ms != 0);
    c->changed = true;
    c->outcome = QB_OK;
    return QB_OK;
}

static enum qb_error S_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct identity_operator_cmd *c = (struct identity_operator_cmd *)cmd;
    QB_ASSERT(identity_operator_name_is_valid(c->name));
    c->outcome = QB_E_INTERNAL;
    c->changed = false;
    switch (c->op) {
    case IDENTITY_OPERATOR_CREATE:
        return S_create(txn, c);
    case IDENTITY_OPERATOR_ROTATE:
        return S_rotate(txn, c);
    case IDENTITY_OPERATOR_REVOKE:
        return S_revoke(txn, c);
    }
    QB_UNREACHABLE();
}

void identity_operator_cmd_init(struct identity_operator_cmd *c, const struct domain_env *env,
                                enum identity_operator_op op)
{
    QB_ASSERT(c != NULL && env != NULL);
    QB_ASSERT(op == IDENTITY_OPERATOR_CREATE || op == IDENTITY_OPERATOR_ROTATE ||
              op == IDENTITY_OPERATOR_REVOKE);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_run, NULL);
    c->env = env;
    c->op = op;
    c->outcome = QB_E_INTERNAL;
}

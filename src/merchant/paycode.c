/*
 * paycode.c — devices, online codes, codepay and reversal (paycode.h).
 *
 * Every write is a ledger command, so the checks of a code and the record
 * of its use are one step on the writer thread: two tills submitting one
 * code at once are two commands in sequence, and the second finds the
 * first's row in paycode_used. A refused code still commits what it
 * counted (the slot's wrong-code count, the code's use): the command
 * answers its refusal through `outcome` and the stored response with QB_OK
 * to the ledger (domain.h).
 */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "identity/identity.h"
#include "merchant/paycode.h"
#include "wallet/limits.h"
#include "wallet/notice.h"

#define S_DEVICE_COLUMNS                                                                           \
    "id, user_id, name, kind, slot, seed_sealed, status, wrong_count, locked_until_ms,"           \
    " issue_step, issue_count, created_at_ms, revoked_at_ms, last_used_at_ms"
#define S_ACTIVE 1
#define S_REVOKED 2
#define S_SLOT_QUARANTINE_MS (24LL * 60 * 60 * 1000)
/* A user's additions are counted over as long as a revoked slot stays out
 * of the pool, so that the slots one user keeps out of it at any time are
 * bounded: the devices active a day before (paycode_devices_max and the
 * server-held one) and those added since (paycode_device_adds_max). */
#define S_DEVICE_ADDS_WINDOW_MS S_SLOT_QUARANTINE_MS
#define S_SLOT_DRAWS_MAX 32
#define S_SEALED_SIZE (PAYCODE_SEED_SIZE + DOMAIN_SEAL_OVERHEAD)
#define S_PENDING_MAX 20 /* payments a user's pending list shows, oldest first */
/* How long paycode_used keeps a code's use: far past the three steps in
 * which the code could come again, whatever the clocks did meanwhile. */
#define S_USED_KEPT_MS (24LL * 60 * 60 * 1000)

struct S_device {
    char id[ID_TEXT_SIZE_MAX];
    char user_id[ID_TEXT_SIZE_MAX];
    char name[MERCHANT_DEVICE_NAME_SIZE_MAX];
    int kind;
    uint32_t slot;
    uint8_t seed_sealed[S_SEALED_SIZE];
    int status;
    int64_t wrong_count;
    int64_t locked_until_ms;
    int64_t issue_step;
    int64_t issue_count;
    int64_t created_at_ms;
    int64_t revoked_at_ms;
    int64_t last_used_at_ms;
};

static enum qb_error S_device_row(struct store_stmt *st, struct S_device *d)
{
    memset(d, 0, sizeof *d);
    store_column_text_copy(st, 0, d->id, sizeof d->id);
    store_column_text_copy(st, 1, d->user_id, sizeof d->user_id);
    store_column_text_copy(st, 2, d->name, sizeof d->name);
    d->kind = (int)store_column_int64(st, 3);
    int64_t slot = store_column_int64(st, 4);
    if (store_column_size(st, 5) != S_SEALED_SIZE || slot < 0 || slot > PAYCODE_SLOT_MAX)
        return QB_E_INTERNAL;
    d->slot = (uint32_t)slot;
    memcpy(d->seed_sealed, store_column_blob(st, 5), S_SEALED_SIZE);
    d->status = (int)store_column_int64(st, 6);
    d->wrong_count = store_column_int64(st, 7);
    d->locked_until_ms = store_column_int64(st, 8);
    d->issue_step = store_column_int64(st, 9);
    d->issue_count = store_column_int64(st, 10);
    d->created_at_ms = store_column_int64(st, 11);
    d->revoked_at_ms = store_column_int64(st, 12);
    d->last_used_at_ms = store_column_int64(st, 13);
    return QB_OK;
}

/* One device by sql ($1 text, $2 int when has_int); NOT_FOUND when none. */
static enum qb_error S_device_read(struct store *store, const char *sql, const char *text,
                                   bool has_int, int64_t value, struct S_device *out)
{
    struct store_stmt *st = NULL;
    if (store_prepare(store, sql, &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = QB_OK;
    int index = 1;
    if (text != NULL)
        err = store_bind_text(st, index++, text, strlen(text));
    if (err == QB_OK && has_int)
        err = store_bind_int64(st, index, value);
    if (err == QB_OK) {
        int rc = store_step(st);
        if (rc == STORE_STEP_ROW)
            err = S_device_row(st, out);
        else
            err = rc == STORE_STEP_DONE ? QB_E_NOT_FOUND : QB_E_STORAGE;
    } else {
        err = QB_E_STORAGE;
    }
    store_finalize(st);
    return err;
}

static enum qb_error S_device_update(struct ledger_txn *txn, const struct S_device *d)
{
    const struct store_param p[] = {
        STORE_TEXT(d->id),          STORE_INT(d->status),        STORE_INT(d->wrong_count),
        STORE_INT(d->locked_until_ms), STORE_INT(d->issue_step), STORE_INT(d->issue_count),
        STORE_INT(d->revoked_at_ms), STORE_INT(d->last_used_at_ms),
    };
    enum qb_error err = store_run(ledger_txn_store(txn),
                                  "UPDATE paycode_devices SET status = $2, wrong_count = $3,"
                                  " locked_until_ms = $4, issue_step = $5, issue_count = $6,"
                                  " revoked_at_ms = $7, last_used_at_ms = $8 WHERE id = $1",
                                  p, QB_ARRAY_COUNT(p));
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
}

/* Counts rows of sql with $1 text and $2 int. */
static enum qb_error S_count(struct store *store, const char *sql, const char *text, int64_t value,
                             int64_t *count)
{
    struct store_stmt *st = NULL;
    if (store_prepare(store, sql, &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = QB_OK;
    int index = 1;
    if (text != NULL)
        err = store_bind_text(st, index++, text, strlen(text));
    if (err == QB_OK)
        err = store_bind_int64(st, index, value);
    if (err == QB_OK && store_step(st) == STORE_STEP_ROW)
        *count = store_column_int64(st, 0);
    else
        err = QB_E_STORAGE;
    store_finalize(st);
    return err;
}

static json_t *S_time(int64_t at_ms) { return domain_time_json(at_ms); }

/* --- devices ------------------------------------------------------------------------ */

enum qb_error merchant_devices_list(struct store *reader, const char *user_id, json_t **out)
{
    QB_ASSERT(reader != NULL && user_id != NULL && out != NULL);
    *out = NULL;
    struct store_stmt *st = NULL;
    if (store_prepare(reader,
                      "SELECT " S_DEVICE_COLUMNS " FROM paycode_devices WHERE user_id = $1"
                      " ORDER BY created_at_ms DESC, id LIMIT 100",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    json_t *items = json_array();
    enum qb_error err = items != NULL ? QB_OK : QB_E_INTERNAL;
    if (err == QB_OK && store_bind_text(st, 1, user_id, strlen(user_id)) != QB_OK)
        err = QB_E_STORAGE;
    int rc = STORE_STEP_DONE;
    while (err == QB_OK && (rc = store_step(st)) == STORE_STEP_ROW) {
        struct S_device d;
        err = S_device_row(st, &d);
        if (err != QB_OK)
            break;
        char slot[8];
        snprintf(slot, sizeof slot, "%07u", (unsigned)d.slot);
        json_t *item = json_pack(
            "{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o}", "id", d.id, "name", d.name, "kind",
            d.kind == MERCHANT_DEVICE_SERVER ? "server" : "device", "slot", slot, "status",
            d.status == S_ACTIVE ? "active" : "revoked", "created_at", S_time(d.created_at_ms),
            "revoked_at", S_time(d.revoked_at_ms), "last_used_at", S_time(d.last_used_at_ms));
        if (item == NULL || json_array_append_new(items, item) != 0)
            err = QB_E_INTERNAL;
    }
    if (err == QB_OK && rc != STORE_STEP_DONE)
        err = QB_E_STORAGE;
    store_finalize(st);
    if (err != QB_OK) {
        json_decref(items);
        return err;
    }
    *out = items;
    return QB_OK;
}

/* Whether user_id may add a device at now_ms: QB_OK, or RATE_LIMITED when
 * settings.paycode_device_adds_max devices of theirs, of either kind, were
 * added in the S_DEVICE_ADDS_WINDOW_MS before, with *until_ms the time the
 * oldest of those leaves the window; QB_E_STORAGE. It counts the devices'
 * own rows, which are never deleted, in the command's transaction: the
 * count is as durable as the slots it protects, and no restart resets it. */
static enum qb_error S_device_adds_check(struct store *store, const struct domain_env *env,
                                         const char *user_id, int64_t now_ms, int64_t *until_ms)
{
    QB_ASSERT(env->settings.paycode_device_adds_max >= 1);
    *until_ms = 0;
    /* The window holds max additions exactly while the max-th newest is in it. */
    struct store_stmt *st = NULL;
    if (store_prepare(store,
                      "SELECT created_at_ms FROM paycode_devices WHERE user_id = $1"
                      " AND created_at_ms > $2 ORDER BY created_at_ms DESC LIMIT 1 OFFSET $3",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, user_id, strlen(user_id));
    if (err == QB_OK)
        err = store_bind_int64(st, 2, now_ms - S_DEVICE_ADDS_WINDOW_MS);
    if (err == QB_OK)
        err = store_bind_int64(st, 3, env->settings.paycode_device_adds_max - 1);
    if (err == QB_OK) {
        int rc = store_step(st);
        if (rc == STORE_STEP_ROW) {
            *until_ms = store_column_int64(st, 0) + S_DEVICE_ADDS_WINDOW_MS;
            err = QB_E_RATE_LIMITED;
        } else if (rc != STORE_STEP_DONE) {
            err = QB_E_STORAGE;
        }
    } else {
        err = QB_E_STORAGE;
    }
    store_finalize(st);
    QB_ASSERT(err != QB_E_RATE_LIMITED || *until_ms > now_ms);
    return err;
}

/* Inserts a new active device of user_id: a random slot that no active
 * device holds and none revoked in the last day, and a fresh seed (into
 * seed), sealed. Every device, whoever asks for it, is added here, so that
 * the day's count of additions cannot be passed by: RATE_LIMITED (with
 * *until_ms, S_device_adds_check) when it is spent; BUSY when no free slot
 * was drawn. */
static enum qb_error S_device_insert(struct ledger_txn *txn, const struct domain_env *env,
                                     const char *user_id, const char *name, int kind,
                                     struct S_device *d, uint8_t seed[PAYCODE_SEED_SIZE],
                                     int64_t *until_ms)
{
    struct store *store = ledger_txn_store(txn);
    int64_t now_ms = ledger_txn_now_ms(txn);
    memset(d, 0, sizeof *d);
    enum qb_error spent = S_device_adds_check(store, env, user_id, now_ms, until_ms);
    if (spent != QB_OK)
        return spent;
    bool found = false;
    for (int i = 0; i < S_SLOT_DRAWS_MAX && !found; i++) {
        uint32_t slot = (uint32_t)rand_below(env->rand, (uint64_t)PAYCODE_SLOT_MAX + 1);
        int64_t taken = 0;
        struct store_stmt *st = NULL;
        if (store_prepare(store,
                          "SELECT COUNT(*) FROM paycode_devices WHERE slot = $1"
                          " AND (status = 1 OR revoked_at_ms > $2)",
                          &st) != QB_OK)
            return QB_E_STORAGE;
        enum qb_error err = store_bind_int64(st, 1, slot);
        if (err == QB_OK)
            err = store_bind_int64(st, 2, now_ms - S_SLOT_QUARANTINE_MS);
        if (err == QB_OK && store_step(st) == STORE_STEP_ROW)
            taken = store_column_int64(st, 0);
        else
            err = QB_E_STORAGE;
        store_finalize(st);
        if (err != QB_OK)
            return err;
        if (taken == 0) {
            d->slot = slot;
            found = true;
        }
    }
    if (!found)
        return QB_E_BUSY;
    id_new(env->rand, "dev", d->id, sizeof d->id);
    snprintf(d->user_id, sizeof d->user_id, "%s", user_id);
    snprintf(d->name, sizeof d->name, "%s", name);
    d->kind = kind;
    d->status = S_ACTIVE;
    d->created_at_ms = now_ms;
    rand_fill(env->rand, seed, PAYCODE_SEED_SIZE);
    domain_seal(env, seed, PAYCODE_SEED_SIZE, d->seed_sealed);
    const struct store_param p[] = {
        STORE_TEXT(d->id),   STORE_TEXT(d->user_id), STORE_TEXT(d->name),
        STORE_INT(d->kind),  STORE_INT(d->slot),     STORE_BLOB(d->seed_sealed, S_SEALED_SIZE),
        STORE_INT(d->status), STORE_INT(d->created_at_ms),
    };
    enum qb_error err = store_run(store,
                                  "INSERT INTO paycode_devices (id, user_id, name, kind, slot,"
                                  " seed_sealed, status, created_at_ms)"
                                  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                                  p, QB_ARRAY_COUNT(p));
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
}

static enum qb_error S_device_add_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct merchant_device_add_cmd *c = (struct merchant_device_add_cmd *)cmd;
    const struct domain_env *env = c->env;
    c->outcome = QB_E_INTERNAL;
    c->password_try = (struct identity_password_try){0, 0};
    c->locked_until_ms = 0;
    if (memchr(c->user_id, '\0', sizeof c->user_id) == NULL ||
        memchr(c->name, '\0', sizeof c->name) == NULL ||
        memchr(c->payment_password, '\0', sizeof c->payment_password) == NULL) {
        c->outcome = QB_E_PARAM;
        return QB_OK;
    }

    /* Step 1: the payment password; a refusal keeps its count. */
    bool missing;
    enum qb_error err = identity_txn_payment_password_gate(
        txn, env, c->user_id, c->payment_password, true, &c->outcome, &missing, &c->password_try);
    if (err != QB_OK || c->outcome != QB_OK)
        return err;

    /* Step 2: room for one more device. */
    int64_t active = 0;
    err = S_count(ledger_txn_store(txn),
                  "SELECT COUNT(*) FROM paycode_devices WHERE user_id = $1 AND status = $2"
                  " AND kind = 1",
                  c->user_id, S_ACTIVE, &active);
    if (err != QB_OK)
        return err;
    if (active >= env->settings.paycode_devices_max) {
        c->outcome = QB_E_CONFLICT;
        return QB_OK;
    }

    /* Step 3: the device, within the day's additions, and the event. */
    struct S_device d;
    err = S_device_insert(txn, env, c->user_id, c->name, MERCHANT_DEVICE_USER, &d, c->seed,
                          &c->locked_until_ms);
    if (err == QB_E_BUSY || err == QB_E_RATE_LIMITED) {
        c->outcome = err;
        return QB_OK;
    }
    if (err != QB_OK)
        return err;
    char detail[160];
    snprintf(detail, sizeof detail, "device=%s name=%s", d.id, d.name);
    err = identity_txn_security_event(txn, c->user_id, "paycode_device_added", detail);
    if (err != QB_OK)
        return err;
    snprintf(c->device_id, sizeof c->device_id, "%s", d.id);
    c->slot = d.slot;
    c->created_at_ms = d.created_at_ms;
    c->outcome = QB_OK;
    return QB_OK;
}

void merchant_device_add_cmd_init(struct merchant_device_add_cmd *c, const struct domain_env *env)
{
    QB_ASSERT(c != NULL && env != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_device_add_run, NULL);
    c->env = env;
    c->outcome = QB_E_INTERNAL;
}

static enum qb_error S_device_revoke_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct merchant_device_revoke_cmd *c = (struct merchant_device_revoke_cmd *)cmd;
    c->outcome = QB_E_INTERNAL;
    if (memchr(c->user_id, '\0', sizeof c->user_id) == NULL ||
        memchr(c->device_id, '\0', sizeof c->device_id) == NULL) {
        c->outcome = QB_E_NOT_FOUND;
        return QB_OK;
    }
    struct S_device d;
    enum qb_error err = S_device_read(ledger_txn_store(txn),
                                      "SELECT " S_DEVICE_COLUMNS
                                      " FROM paycode_devices WHERE id = $1",
                                      c->device_id, false, 0, &d);
    if (err == QB_E_NOT_FOUND || (err == QB_OK && strcmp(d.user_id, c->user_id) != 0)) {
        c->outcome = QB_E_NOT_FOUND;
        return QB_OK;
    }
    if (err != QB_OK)
        return err;
    if (d.status == S_ACTIVE) {
        d.status = S_REVOKED;
        d.revoked_at_ms = ledger_txn_now_ms(txn);
        err = S_device_update(txn, &d);
        if (err != QB_OK)
            return err;
        char detail[96];
        snprintf(detail, sizeof detail, "device=%s", d.id);
        err = identity_txn_security_event(txn, c->user_id, "paycode_device_revoked", detail);
        if (err != QB_OK)
            return err;
    }
    c->outcome = QB_OK;
    return QB_OK;
}

enum qb_error merchant_txn_user_frozen(struct ledger_txn *txn, const struct domain_env *env,
                                       const char *user_id)
{
    QB_ASSERT(txn != NULL && env != NULL && user_id != NULL);
    int64_t now_ms = ledger_txn_now_ms(txn);
    /* Each revocation in the account's history, as one by hand leaves it. */
    const struct store_param e[] = {STORE_TEXT(user_id), STORE_INT(now_ms), STORE_INT(S_ACTIVE)};
    enum qb_error err =
        store_run(ledger_txn_store(txn),
                  "INSERT INTO security_events (user_id, kind, detail, created_at_ms)"
                  " SELECT user_id, 'paycode_device_revoked', 'device=' || id, $2"
                  " FROM paycode_devices WHERE user_id = $1 AND status = $3",
                  e, QB_ARRAY_COUNT(e));
    const struct store_param p[] = {STORE_TEXT(user_id), STORE_INT(now_ms), STORE_INT(S_ACTIVE),
                                    STORE_INT(S_REVOKED)};
    if (err == QB_OK)
        err = store_run(ledger_txn_store(txn),
                        "UPDATE paycode_devices SET status = $4, revoked_at_ms = $2"
                        " WHERE user_id = $1 AND status = $3",
                        p, QB_ARRAY_COUNT(p));
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
}

void merchant_device_revoke_cmd_init(struct merchant_device_revoke_cmd *c,
                                     const struct domain_env *env)
{
    QB_ASSERT(c != NULL && env != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_device_revoke_run, NULL);
    c->env = env;
    c->outcome = QB_E_INTERNAL;
}

/* --- online codes ----------------------------------------------------------------- */

/* The server hands out counters once per step: the server-held device from
 * 0 upwards; a user's device from 9 downwards, so that the codes the device
 * makes itself (from 0 upwards, docs/paycode.md §2) collide with the
 * server's only after ten codes in one minute. */
static enum qb_error S_issue_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct merchant_code_issue_cmd *c = (struct merchant_code_issue_cmd *)cmd;
    const struct domain_env *env = c->env;
    c->outcome = QB_E_INTERNAL;
    c->device_adds_spent = false;
    c->locked_until_ms = 0;
    if (memchr(c->user_id, '\0', sizeof c->user_id) == NULL ||
        memchr(c->device_id, '\0', sizeof c->device_id) == NULL) {
        c->outcome = QB_E_NOT_FOUND;
        return QB_OK;
    }
    /* A code pays without asking for the password (up to the password-free
     * amount), so only a wallet that has one gets codes, as a wallet
     * without one pays nothing at all; and a frozen one gets none. */
    struct identity_user user;
    enum qb_error err = identity_txn_user_get(txn, env, c->user_id, &user);
    if (err == QB_OK && !user.payment_password_set)
        err = QB_E_PASSWORD_NOT_SET;
    else if (err == QB_OK && user.status == IDENTITY_FROZEN)
        err = QB_E_ACCOUNT_FROZEN;
    if (err == QB_E_NOT_FOUND || err == QB_E_PASSWORD_NOT_SET || err == QB_E_ACCOUNT_FROZEN) {
        c->outcome = err;
        return QB_OK;
    }
    if (err != QB_OK)
        return err;
    int64_t now_ms = ledger_txn_now_ms(txn);
    /* With the payment password locked every code waits for the payer,
     * who cannot confirm: a code would only keep a till waiting. */
    if (identity_payment_password_locked(&user, now_ms)) {
        c->outcome = QB_E_PASSWORD_LOCKED;
        c->locked_until_ms = user.payment_password_locked_until_ms;
        return QB_OK;
    }
    struct store *store = ledger_txn_store(txn);
    struct S_device d;
    uint8_t seed[PAYCODE_SEED_SIZE];
    if (c->device_id[0] != '\0') {
        err = S_device_read(store,
                            "SELECT " S_DEVICE_COLUMNS " FROM paycode_devices WHERE id = $1"
                            " AND status = $2",
                            c->device_id, true, S_ACTIVE, &d);
        if (err == QB_E_NOT_FOUND || (err == QB_OK && strcmp(d.user_id, c->user_id) != 0)) {
            c->outcome = QB_E_NOT_FOUND;
            return QB_OK;
        }
        if (err != QB_OK)
            return err;
    } else {
        err = S_device_read(store,
                            "SELECT " S_DEVICE_COLUMNS " FROM paycode_devices WHERE user_id = $1"
                            " AND status = $2 AND kind = 2 ORDER BY created_at_ms DESC LIMIT 1",
                            c->user_id, true, S_ACTIVE, &d);
        if (err == QB_E_NOT_FOUND) {
            /* Revoking it and asking again makes another: an addition like
             * any other, within the same day's count. */
            err = S_device_insert(txn, env, c->user_id, "online", MERCHANT_DEVICE_SERVER, &d, seed,
                                  &c->locked_until_ms);
            crypto_wipe(seed, sizeof seed);
            if (err == QB_E_BUSY || err == QB_E_RATE_LIMITED) {
                c->device_adds_spent = err == QB_E_RATE_LIMITED;
                c->outcome = err;
                return QB_OK;
            }
            /* A device appears in the user's list: the history says when. */
            char detail[160];
            snprintf(detail, sizeof detail, "device=%s name=%s", d.id, d.name);
            if (err == QB_OK)
                err = identity_txn_security_event(txn, c->user_id, "paycode_device_added", detail);
        }
        if (err != QB_OK)
            return err;
    }
    /* Every code of a locked slot is refused at the till (§6.1): the user
     * is told, not handed codes that cannot pay. */
    if (d.locked_until_ms > now_ms) {
        c->outcome = QB_E_PAYMENT_CODE_LOCKED;
        c->locked_until_ms = d.locked_until_ms;
        return QB_OK;
    }
    int64_t step = paycode_step(now_ms);
    if (d.issue_step != step) {
        d.issue_step = step;
        d.issue_count = 0;
    }
    if (d.issue_count > PAYCODE_COUNTER_MAX) {
        c->outcome = QB_E_RATE_LIMITED;
        return QB_OK;
    }
    uint8_t counter = (uint8_t)(d.kind == MERCHANT_DEVICE_SERVER
                                    ? d.issue_count
                                    : PAYCODE_COUNTER_MAX - d.issue_count);
    d.issue_count++;
    if (!domain_unseal(env, d.seed_sealed, S_SEALED_SIZE, seed))
        return QB_E_INTERNAL;
    paycode_format(seed, step, d.slot, counter, c->code);
    crypto_wipe(seed, sizeof seed);
    err = S_device_update(txn, &d);
    if (err != QB_OK)
        return err;
    snprintf(c->device_id, sizeof c->device_id, "%s", d.id);
    c->expires_at_ms = (step + 2) * PAYCODE_STEP_MS;
    c->outcome = QB_OK;
    return QB_OK;
}

void merchant_code_issue_cmd_init(struct merchant_code_issue_cmd *c, const struct domain_env *env)
{
    QB_ASSERT(c != NULL && env != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_issue_run, NULL);
    c->env = env;
    c->outcome = QB_E_INTERNAL;
}

/* --- settings ----------------------------------------------------------------------- */

enum qb_error merchant_code_settings_get(struct store *store, const struct domain_settings *settings,
                                         const char *user_id, struct merchant_code_settings *out)
{
    QB_ASSERT(store != NULL && settings != NULL && user_id != NULL && out != NULL);
    out->free_limit_minor = settings->paycode_free_max_minor;
    out->free_daily_count = settings->paycode_free_daily_max;
    out->day_start_ms = 0;
    out->day_count = 0;
    struct store_stmt *st = NULL;
    if (store_prepare(store,
                      "SELECT free_limit_minor, free_daily_count, day_start_ms, day_count"
                      " FROM paycode_settings WHERE user_id = $1",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = store_bind_text(st, 1, user_id, strlen(user_id));
    if (err == QB_OK) {
        int rc = store_step(st);
        if (rc == STORE_STEP_ROW) {
            out->free_limit_minor = store_column_int64(st, 0);
            out->free_daily_count = store_column_int64(st, 1);
            out->day_start_ms = store_column_int64(st, 2);
            out->day_count = store_column_int64(st, 3);
        } else if (rc != STORE_STEP_DONE) {
            err = QB_E_STORAGE;
        }
    }
    store_finalize(st);
    /* An operator may have lowered the maximum since the user chose. */
    if (out->free_limit_minor > settings->paycode_free_max_minor)
        out->free_limit_minor = settings->paycode_free_max_minor;
    if (out->free_daily_count > settings->paycode_free_daily_max)
        out->free_daily_count = settings->paycode_free_daily_max;
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
}

static enum qb_error S_settings_write(struct ledger_txn *txn, const char *user_id,
                                      const struct merchant_code_settings *s)
{
    const struct store_param p[] = {STORE_TEXT(user_id), STORE_INT(s->free_limit_minor),
                                    STORE_INT(s->free_daily_count), STORE_INT(s->day_start_ms),
                                    STORE_INT(s->day_count)};
    enum qb_error err = store_run(
        ledger_txn_store(txn),
        "INSERT INTO paycode_settings (user_id, free_limit_minor, free_daily_count, day_start_ms,"
        " day_count) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id) DO UPDATE SET"
        " free_limit_minor = excluded.free_limit_minor,"
        " free_daily_count = excluded.free_daily_count, day_start_ms = excluded.day_start_ms,"
        " day_count = excluded.day_count",
        p, QB_ARRAY_COUNT(p));
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
}

static enum qb_error S_settings_set_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct merchant_code_settings_set_cmd *c = (struct merchant_code_settings_set_cmd *)cmd;
    const struct domain_settings *settings = &c->env->settings;
    c->outcome = QB_E_INTERNAL;
    c->password_needed = false;
    c->password_try = (struct identity_password_try){0, 0};
    if (memchr(c->user_id, '\0', sizeof c->user_id) == NULL ||
        memchr(c->payment_password, '\0', sizeof c->payment_password) == NULL ||
        c->free_limit_minor < -1 || c->free_limit_minor > settings->paycode_free_max_minor ||
        c->free_daily_count < -1 || c->free_daily_count > settings->paycode_free_daily_max) {
        c->outcome = QB_E_PARAM;
        return QB_OK;
    }
    enum qb_error err =
        merchant_code_settings_get(ledger_txn_store(txn), settings, c->user_id, &c->settings);
    if (err != QB_OK)
        return err;
    /* Raising either lets more money out without the password, so it takes
     * the password; lowering does not, even while it is locked. */
    bool raises = c->free_limit_minor > c->settings.free_limit_minor ||
                  c->free_daily_count > c->settings.free_daily_count;
    err = identity_txn_payment_password_gate(txn, c->env, c->user_id, c->payment_password, raises,
                                             &c->outcome, &c->password_needed, &c->password_try);
    if (err != QB_OK || c->outcome != QB_OK)
        return err;
    if (c->free_limit_minor >= 0)
        c->settings.free_limit_minor = c->free_limit_minor;
    if (c->free_daily_count >= 0)
        c->settings.free_daily_count = c->free_daily_count;
    err = S_settings_write(txn, c->user_id, &c->settings);
    if (err != QB_OK)
        return err;
    c->outcome = QB_OK;
    return QB_OK;
}

void merchant_code_settings_set_cmd_init(struct merchant_code_settings_set_cmd *c,
                                         const struct domain_env *env)
{
    QB_ASSERT(c != NULL && env != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_settings_set_run, NULL);
    c->env = env;
    c->outcome = QB_E_INTERNAL;
    c->free_limit_minor = -1;
    c->free_daily_count = -1;
}

/* --- codepay ------------------------------------------------------------------------ */

static enum qb_error S_codepay_refuse(struct merchant_codepay_cmd *c, enum qb_error err,
                                      const char *message)
{
    c->outcome = err;
    return domain_response_error(&c->cmd, err, message, NULL);
}

/* The wrong codes of whoever controls a merchant, in their current window:
 * whose they are (the guesser), when the window began (0: none yet) and
 * how many. The guesser is the merchant's owner, "user:<id>", whose
 * merchants all share one count, closed ones too: opening a merchant
 * takes only a session, so a count per merchant would give one person as
 * many as they open. A merchant an operator onboarded for nobody is
 * "merchant:<mchid>". */
struct S_guesses {
    char guesser[16 + ID_TEXT_SIZE_MAX];
    int64_t window_start_ms;
    int64_t wrong_count;
};

static enum qb_error S_guesses_load(struct store *store, const struct merchant *m,
                                    struct S_guesses *g)
{
    memset(g, 0, sizeof *g);
    int size = m->owner_user_id[0] != '\0'
                   ? snprintf(g->guesser, sizeof g->guesser, "user:%s", m->owner_user_id)
                   : snprintf(g->guesser, sizeof g->guesser, "merchant:%s", m->mchid);
    QB_ASSERT(size > 0 && (size_t)size < sizeof g->guesser);
    struct store_stmt *st = NULL;
    enum qb_error err = store_prepare(store,
                                      "SELECT window_start_ms, wrong_count FROM"
                                      " paycode_guesses WHERE guesser = $1",
                                      &st);
    if (err == QB_OK)
        err = store_bind_text(st, 1, g->guesser, strlen(g->guesser));
    int rc = err == QB_OK ? store_step(st) : STORE_STEP_DONE;
    if (rc == STORE_STEP_ROW) {
        g->window_start_ms = store_column_int64(st, 0);
        g->wrong_count = store_column_int64(st, 1);
    } else if (rc != STORE_STEP_DONE) {
        err = QB_E_STORAGE;
    }
    store_finalize(st);
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
}

/* One more wrong code from the merchant, counted against its guesser in
 * their window or a new one, and the refusal AUTH_CODE_INVALID (message NULL: the table's words,
 * which say nothing of whether the slot is anyone's). */
static enum qb_error S_codepay_wrong(struct ledger_txn *txn, struct merchant_codepay_cmd *c,
                                     struct S_guesses *g, const char *message)
{
    const struct domain_settings *settings = &c->env->settings;
    int64_t now_ms = ledger_txn_now_ms(txn);
    if (g->window_start_ms == 0 ||
        now_ms - g->window_start_ms >= settings->paycode_merchant_window_ms) {
        g->window_start_ms = now_ms;
        g->wrong_count = 0;
    }
    g->wrong_count++;
    const struct store_param p[] = {STORE_TEXT(g->guesser), STORE_INT(g->wrong_count),
                                    STORE_INT(g->window_start_ms)};
    enum qb_error err = store_run(ledger_txn_store(txn),
                                  "INSERT INTO paycode_guesses (guesser, wrong_count,"
                                  " window_start_ms) VALUES ($1, $2, $3) ON CONFLICT (guesser)"
                                  " DO UPDATE SET wrong_count = excluded.wrong_count,"
                                  " window_start_ms = excluded.window_start_ms",
                                  p, QB_ARRAY_COUNT(p));
    if (err != QB_OK)
        return QB_E_STORAGE;
    if (g->wrong_count == settings->paycode_merchant_wrong_max)
        log_event(LOG_WARN, "paycode.merchant_guessing",
                  "mchid=%s guesser=%s wrong=%lld window_s=%lld", c->order.mchid, g->guesser,
                  (long long)g->wrong_count,
                  (long long)(settings->paycode_merchant_window_ms / 1000));
    return S_codepay_refuse(c, QB_E_AUTH_CODE_INVALID, message);
}

/* A limit of the payer's refused the sale: the merchant is told so, not which
 * limit (the payer's own settings and KYC level are none of its business). */
static enum qb_error S_codepay_limit_refuse(struct merchant_codepay_cmd *c, enum qb_error err)
{
    return S_codepay_refuse(c, err,
                            err == QB_E_LIMIT_EXCEEDED
                                ? "超出用户支付限额 (a limit of the payer's refuses this payment)"
                                : NULL);
}

/* The order of a used code whose payment was refused: written PAYERROR, so
 * that the merchant's query shows what happened. */
static enum qb_error S_order_failed(struct ledger_txn *txn, struct merchant_order *o)
{
    o->state = MERCHANT_PAYERROR;
    o->closed_at_ms = o->updated_at_ms = ledger_txn_now_ms(txn);
    return merchant_txn_order_insert(txn, o) == QB_OK ? QB_OK : QB_E_STORAGE;
}

static enum qb_error S_codepay_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct merchant_codepay_cmd *c = (struct merchant_codepay_cmd *)cmd;
    const struct domain_env *env = c->env;
    struct store *store = ledger_txn_store(txn);
    struct merchant_order *o = &c->order;
    c->outcome = QB_E_INTERNAL;
    QB_ASSERT(merchant_out_trade_no_is_valid(o->out_trade_no) && o->total_minor > 0);
    if (memchr(c->auth_code, '\0', sizeof c->auth_code) == NULL)
        return S_codepay_refuse(c, QB_E_AUTH_CODE_INVALID, NULL);
    int64_t now_ms = ledger_txn_now_ms(txn);

    /* Step 1: the number is free (a retry of the same request is answered
     * by the idempotency record before this runs). */
    struct merchant_order earlier;
    enum qb_error err = merchant_txn_order_by_number(txn, o->mchid, o->out_trade_no, &earlier);
    if (err == QB_OK)
        return S_codepay_refuse(c, QB_E_INVALID_REQUEST, "201 商户订单号重复");
    if (err != QB_E_ORDER_NOT_EXIST)
        return err;

    /* Step 2: the merchant can take money, before a code is spent. */
    struct merchant m;
    err = merchant_get(env, store, o->mchid, &m);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err;
    struct ledger_account_view merchant_account;
    if (ledger_txn_account_get(txn, m.account_id, &merchant_account) != QB_OK)
        return QB_E_INTERNAL;
    if (m.status == MERCHANT_SUSPENDED || m.status == MERCHANT_STATUS_CLOSED)
        return S_codepay_refuse(c, QB_E_NO_AUTH,
                                m.status == MERCHANT_STATUS_CLOSED ? MERCHANT_CLOSED_MESSAGE_V3
                                                                   : MERCHANT_SUSPENDED_MESSAGE_V3);
    if (m.status != MERCHANT_ACTIVE ||
        (merchant_account.flags & (LEDGER_ACCOUNT_CREDIT_FROZEN | LEDGER_ACCOUNT_CLOSED)) != 0)
        return S_codepay_refuse(c, QB_E_PAYEE_UNAVAILABLE, NULL);

    /* Step 3: the code's shape and its device (docs/paycode.md §6). */
    struct paycode code;
    if (!paycode_parse(c->auth_code, strlen(c->auth_code), &code))
        return S_codepay_refuse(c, QB_E_AUTH_CODE_INVALID,
                                "101 付款码无效,请重新扫码 (not a Qianbao payment code)");
    /* A merchant that sent too many wrong codes lately is guessing, or its
     * tills are broken: no code is looked at for the rest of the window
     * (§6.1), or it could try every user's slots. The count is its
     * owner's, over all their merchants (S_guesses). */
    struct S_guesses g;
    err = S_guesses_load(store, &m, &g);
    if (err != QB_OK)
        return err;
    if (g.window_start_ms != 0 &&
        now_ms - g.window_start_ms < env->settings.paycode_merchant_window_ms &&
        g.wrong_count >= env->settings.paycode_merchant_wrong_max) {
        /* It holds until the window ends: a till's retry of the sale then
         * is made, not answered this (nothing is written here). */
        ledger_txn_answer_passes(txn);
        c->guesses_until_ms = g.window_start_ms + env->settings.paycode_merchant_window_ms;
        char until[48], message[160];
        snprintf(
            message, sizeof message,
            "too many wrong payment codes from this merchant%s; codepay is refused%s",
            m.owner_user_id[0] != '\0' ? " or another of its owner's" : "",
            identity_lock_end_text(g.window_start_ms + env->settings.paycode_merchant_window_ms,
                                   until, sizeof until));
        return S_codepay_refuse(c, QB_E_RATE_LIMITED, message);
    }
    struct S_device d;
    err = S_device_read(store,
                        "SELECT " S_DEVICE_COLUMNS " FROM paycode_devices WHERE slot = $1"
                        " AND status = 1",
                        NULL, true, code.slot, &d);
    if (err == QB_E_NOT_FOUND)
        return S_codepay_wrong(txn, c, &g, NULL);
    if (err != QB_OK)
        return err;
    /* A locked slot answers as a slot nobody holds: the answer must not
     * tell a guesser which slots are someone's. */
    if (d.locked_until_ms > now_ms)
        return S_codepay_wrong(txn, c, &g, NULL);

    /* Step 4: the token; a wrong one counts against the slot. */
    uint8_t seed[PAYCODE_SEED_SIZE];
    if (!domain_unseal(env, d.seed_sealed, S_SEALED_SIZE, seed))
        return QB_E_INTERNAL;
    int64_t step = 0;
    bool valid = paycode_verify(seed, &code, paycode_step(now_ms), &step);
    /* A real code some minutes old (a screenshot, a slow queue) is no
     * guess: the till is told it expired, and nothing counts it. Steps
     * 2 to 13 minutes back, three at a time. */
    bool expired = false;
    for (int64_t back = 3; !valid && !expired && back <= 12; back += 3)
        expired = paycode_step(now_ms) - back >= 1 &&
                  paycode_verify(seed, &code, paycode_step(now_ms) - back, NULL);
    crypto_wipe(seed, sizeof seed);
    if (expired)
        return S_codepay_refuse(
            c, QB_E_AUTH_CODE_INVALID,
            "101 付款码已过期,请刷新后再试 (the code expired: the payer shows a "
            "fresh one)");
    if (!valid) {
        d.wrong_count++;
        if (d.wrong_count >= c->env->settings.paycode_wrong_max) {
            d.wrong_count = 0;
            d.locked_until_ms = now_ms + env->settings.paycode_lock_ms;
            /* A lockout like a payment password's: the security centre
             * counts it (identity's no_recent_lockouts). */
            char detail[96];
            snprintf(detail, sizeof detail, "paycode device=%s", d.id);
            err = identity_txn_security_event(txn, d.user_id, "lockout", detail);
            if (err != QB_OK)
                return err;
        }
        err = S_device_update(txn, &d);
        if (err != QB_OK)
            return err;
        return S_codepay_wrong(txn, c, &g, NULL);
    }

    /* Step 5: once only. */
    int64_t used = 0;
    struct store_stmt *st = NULL;
    if (store_prepare(store,
                      "SELECT COUNT(*) FROM paycode_used WHERE device_id = $1 AND step = $2"
                      " AND counter = $3",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    err = store_bind_text(st, 1, d.id, strlen(d.id));
    if (err == QB_OK)
        err = store_bind_int64(st, 2, step);
    if (err == QB_OK)
        err = store_bind_int64(st, 3, code.counter);
    if (err == QB_OK && store_step(st) == STORE_STEP_ROW)
        used = store_column_int64(st, 0);
    else
        err = QB_E_STORAGE;
    store_finalize(st);
    if (err != QB_OK)
        return err;
    if (used != 0)
        return S_codepay_refuse(c, QB_E_AUTH_CODE_INVALID, "101 每个二维码仅限使用一次,请刷新再试");

    /* Step 6: the order, and the code's use, kept whatever follows. The
     * order is written once, in the state this command leaves it (PAYERROR,
     * USERPAYING or SUCCESS): only one left USERPAYING came to wait for
     * its payer, which their waiting payments count (order.c). */
    struct identity_user payer;
    err = identity_txn_user_get(txn, env, d.user_id, &payer);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : QB_E_STORAGE;
    char openid[MERCHANT_OPENID_SIZE];
    merchant_openid(env, o->appid, payer.id, openid);
    snprintf(o->payer_openid, sizeof o->payer_openid, "%s", openid);
    snprintf(o->payer_user_id, sizeof o->payer_user_id, "%s", payer.id);
    o->trade_type = MERCHANT_TRADE_MICROPAY;
    o->state = MERCHANT_USERPAYING;
    merchant_order_ids_new(env, now_ms, o);
    o->created_at_ms = o->updated_at_ms = now_ms;
    o->expires_at_ms = now_ms + env->settings.paycode_confirm_ms;
    const struct store_param up[] = {STORE_TEXT(d.id), STORE_INT(step), STORE_INT(code.counter),
                                     STORE_TEXT(o->transaction_id), STORE_INT(now_ms)};
    if (store_run(store,
                  "INSERT INTO paycode_used (device_id, step, counter, transaction_id, used_at_ms)"
                  " VALUES ($1, $2, $3, $4, $5)",
                  up, QB_ARRAY_COUNT(up)) != QB_OK)
        return QB_E_STORAGE;
    /* A use matters while its code could come again, three steps: a few
     * of the oldest go with each new one once a day old, so that the table
     * holds about a day of payments by code, not every one ever made. */
    const struct store_param old[] = {STORE_INT(now_ms - S_USED_KEPT_MS)};
    if (store_run(store,
                  "DELETE FROM paycode_used WHERE (device_id, step, counter) IN"
                  " (SELECT device_id, step, counter FROM paycode_used WHERE used_at_ms < $1"
                  " ORDER BY used_at_ms LIMIT 8)",
                  old, QB_ARRAY_COUNT(old)) != QB_OK)
        return QB_E_STORAGE;
    d.wrong_count = 0;
    d.last_used_at_ms = now_ms;
    err = S_device_update(txn, &d);
    if (err != QB_OK)
        return err;

    /* Step 7: the payer. */
    struct ledger_account_view payer_account;
    if (ledger_txn_account_get(txn, payer.account_id, &payer_account) != QB_OK)
        return QB_E_INTERNAL;
    if (payer.status == IDENTITY_FROZEN ||
        (payer_account.flags & (LEDGER_ACCOUNT_DEBIT_FROZEN | LEDGER_ACCOUNT_CLOSED)) != 0) {
        err = S_order_failed(txn, o);
        return err != QB_OK ? err : S_codepay_refuse(c, QB_E_ACCOUNT_FROZEN, NULL);
    }

    /* A payment no limit lets through is refused now, not after the
     * cashier waited for a password that could not help (the limits are
     * checked again when it is paid). */
    const char *limit_refused = NULL;
    err = wallet_txn_limits_check(txn, env, &payer, o->total_minor, &limit_refused, NULL);
    if (err == QB_E_LIMIT_EXCEEDED || err == QB_E_OVERFLOW) {
        enum qb_error failed = S_order_failed(txn, o);
        if (failed != QB_OK)
            return failed;
        return S_codepay_limit_refuse(c, err);
    }
    if (err != QB_OK)
        return err;

    /* Step 8: password-free, or waiting for the payer. */
    struct merchant_code_settings cs;
    err = merchant_code_settings_get(store, &env->settings, payer.id, &cs);
    if (err != QB_OK)
        return err;
    int64_t today = domain_day_start_ms(now_ms);
    if (cs.day_start_ms != today) {
        cs.day_start_ms = today;
        cs.day_count = 0;
    }
    /* A locked payment password suspends paying without it; and a code
     * shares the day's password-free payments with transfers and orders. */
    struct wallet_spending spending;
    err = wallet_txn_spending_get(txn, &payer, &spending);
    if (err != QB_OK)
        return err;
    if (o->total_minor > cs.free_limit_minor || cs.day_count >= cs.free_daily_count ||
        wallet_password_free_used_today(&spending, now_ms) >=
            env->settings.password_free_daily_max ||
        identity_payment_password_locked(&payer, now_ms)) {
        if (merchant_txn_order_insert(txn, o) != QB_OK)
            return QB_E_STORAGE;
        /* WeChat's SDKs read a 2xx answer's trade_state, this one's too;
         * code and message say the same for a till that reads those. */
        json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:s}", "trade_state", "USERPAYING", "code",
                                 "USERPAYING", "message", "需要用户输入支付密码", "out_trade_no",
                                 o->out_trade_no, "transaction_id", o->transaction_id);
        if (body == NULL)
            return QB_E_INTERNAL;
        err = domain_response_set(&c->cmd, 202, body);
        json_decref(body);
        if (err != QB_OK)
            return err;
        c->outcome = QB_OK;
        return QB_OK;
    }
    const char *refused_limit = NULL;
    enum qb_error outcome = QB_E_INTERNAL;
    err =
        merchant_txn_order_settle(txn, env, o, &m, &payer, openid, true, &outcome, &refused_limit);
    if (err != QB_OK)
        return err;
    if (outcome != QB_OK) {
        err = S_order_failed(txn, o);
        if (err != QB_OK)
            return err;
        if (outcome == QB_E_LIMIT_EXCEEDED || outcome == QB_E_OVERFLOW)
            return S_codepay_limit_refuse(c, outcome);
        return S_codepay_refuse(c, outcome == QB_E_INSUFFICIENT_BALANCE ? QB_E_NOT_ENOUGH : outcome,
                                outcome == QB_E_INSUFFICIENT_BALANCE
                                    ? "用户余额不足 (the payer's balance is too low)"
                                    : NULL);
    }
    cs.day_count++;
    err = S_settings_write(txn, payer.id, &cs);
    if (err == QB_OK)
        err = wallet_txn_password_free_count(txn, payer.id);
    if (err != QB_OK)
        return err;
    json_t *body = merchant_order_json(o, now_ms);
    if (body == NULL)
        return QB_E_INTERNAL;
    err = domain_response_set(&c->cmd, 200, body);
    json_decref(body);
    if (err != QB_OK)
        return err;
    c->outcome = QB_OK;
    return QB_OK;
}

void merchant_codepay_cmd_init(struct merchant_codepay_cmd *c, const struct domain_env *env)
{
    QB_ASSERT(c != NULL && env != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_codepay_run, NULL);
    c->env = env;
    c->outcome = QB_E_INTERNAL;
}

/* --- reverse ------------------------------------------------------------------------- */

void merchant_codepay_principal(const char *mchid, char out[MERCHANT_CODEPAY_PRINCIPAL_SIZE])
{
    int n = snprintf(out, MERCHANT_CODEPAY_PRINCIPAL_SIZE, "mch:%s", mchid);
    QB_ASSERT(n > 0 && n < MERCHANT_CODEPAY_PRINCIPAL_SIZE);
}

enum qb_error merchant_txn_codepay_refuse(struct ledger_txn *txn, const char *mchid,
                                          const char *out_trade_no, enum qb_error answer)
{
    char principal[MERCHANT_CODEPAY_PRINCIPAL_SIZE];
    merchant_codepay_principal(mchid, principal);
    bool kept;
    return domain_txn_answer_set_error(txn, principal, out_trade_no, answer, NULL, &kept);
}

static enum qb_error S_reverse_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct merchant_reverse_cmd *c = (struct merchant_reverse_cmd *)cmd;
    const struct domain_env *env = c->env;
    struct merchant_order *o = &c->order;
    c->outcome = QB_E_INTERNAL;
    int64_t now_ms = ledger_txn_now_ms(txn);
    enum qb_error err = merchant_txn_order_by_number(txn, c->mchid, c->out_trade_no, o);
    if (err == QB_E_ORDER_NOT_EXIST) {
        /* A till that timed out may reverse a sale whose codepay has not
         * arrived yet (still in a queue or a proxy): the number is closed
         * to it, so that it cannot take the money of a sale the cashier
         * took as cancelled. */
        err = merchant_txn_codepay_refuse(txn, c->mchid, c->out_trade_no, QB_E_ORDER_REVERSED);
        if (err != QB_OK)
            return err;
        c->outcome = QB_E_ORDER_NOT_EXIST;
        return QB_OK;
    }
    if (err != QB_OK)
        return err;
    enum merchant_trade_state state = merchant_order_state_at(o, now_ms);
    if (o->trade_type != MERCHANT_TRADE_MICROPAY || state == MERCHANT_REFUND) {
        c->outcome = QB_E_INVALID_REQUEST;
        return QB_OK;
    }
    if (state != MERCHANT_REVOKED && now_ms - o->created_at_ms > MERCHANT_REVERSE_WINDOW_MS) {
        /* Older sales are refunded, under the refund's rules. */
        c->outcome = QB_E_INVALID_REQUEST;
        c->too_old = true;
        return QB_OK;
    }
    if (state == MERCHANT_SUCCESS) {
        /* The money back in one entry: merchant and fee income to the payer. */
        struct merchant m;
        struct identity_user payer;
        err = merchant_get(env, ledger_txn_store(txn), o->mchid, &m);
        if (err != QB_OK)
            return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : err;
        err = identity_user_get(ledger_txn_store(txn), o->payer_user_id, &payer);
        if (err != QB_OK)
            return err == QB_E_NOT_FOUND ? QB_E_INTERNAL : QB_E_STORAGE;
        QB_ASSERT(o->fee_minor >= 0 && o->fee_minor <= o->total_minor);
        struct ledger_leg legs[3];
        size_t leg_count =
            merchant_order_reversal_legs(payer.account_id, m.account_id, env->accounts.fee_income,
                                         o->total_minor, o->fee_minor, legs);
        int64_t entry_id = 0;
        err = ledger_txn_post(txn, WALLET_CODE_ORDER_REVERSAL, o->payment_id, legs, leg_count,
                              &entry_id);
        if (err == QB_E_INSUFFICIENT_BALANCE || err == QB_E_ACCOUNT_FROZEN) {
            /* Refused before anything was written: the merchant's balance
             * cannot give the money back, or an account is frozen. */
            c->outcome = err == QB_E_INSUFFICIENT_BALANCE ? QB_E_NOT_ENOUGH : err;
            return QB_OK;
        }
        if (err != QB_OK)
            return err;
        /* The money came back without the payer: the notice a refund of
         * the whole order gives, about the payment it returns (which the
         * bills' line of the reversal names too). */
        err = wallet_txn_notice_add(txn, env->rand, payer.id, WALLET_NOTICE_ORDER_REFUNDED,
                                    o->payment_id, o->currency, o->total_minor, "");
        if (err != QB_OK)
            return err;
    }
    if (o->state != MERCHANT_REVOKED) {
        o->state = MERCHANT_REVOKED;
        o->closed_at_ms = o->updated_at_ms = now_ms;
        if (merchant_txn_order_update(txn, o) != QB_OK)
            return QB_E_STORAGE;
    }
    /* Also when it was REVOKED already: a reversal after the confirmation
     * time ran out leaves no retry answered USERPAYING either. */
    err = merchant_txn_codepay_refuse(txn, c->mchid, o->out_trade_no, QB_E_ORDER_REVERSED);
    if (err != QB_OK)
        return err;
    c->outcome = QB_OK;
    return QB_OK;
}

void merchant_reverse_cmd_init(struct merchant_reverse_cmd *c, const struct domain_env *env)
{
    QB_ASSERT(c != NULL && env != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_reverse_run, NULL);
    c->env = env;
    c->outcome = QB_E_INTERNAL;
}

/* --- revoking what nobody confirmed ------------------------------------------------- */

static enum qb_error S_userpaying_revoke_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct merchant_userpaying_revoke_cmd *c = (struct merchant_userpaying_revoke_cmd *)cmd;
    c->outcome = QB_E_INTERNAL;
    struct merchant_order o;
    enum qb_error err = merchant_txn_order_by_transaction_id(txn, c->transaction_id, &o);
    if (err == QB_E_ORDER_NOT_EXIST) {
        c->outcome = QB_E_CONFLICT;
        return QB_OK;
    }
    if (err != QB_OK)
        return err;
    int64_t now_ms = ledger_txn_now_ms(txn);
    if (o.state != MERCHANT_USERPAYING || merchant_order_state_at(&o, now_ms) != MERCHANT_REVOKED) {
        c->outcome = QB_E_CONFLICT;
        return QB_OK;
    }
    o.state = MERCHANT_REVOKED;
    o.closed_at_ms = o.updated_at_ms = now_ms;
    if (merchant_txn_order_update(txn, &o) != QB_OK)
        return QB_E_STORAGE;
    c->outcome = QB_OK;
    return QB_OK;
}

void merchant_userpaying_revoke_cmd_init(struct merchant_userpaying_revoke_cmd *c,
                                         const struct domain_env *env, const char *transaction_id)
{
    QB_ASSERT(c != NULL && env != NULL && transaction_id != NULL);
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, S_userpaying_revoke_run, NULL);
    c->env = env;
    snprintf(c->transaction_id, sizeof c->transaction_id, "%s", transaction_id);
    c->outcome = QB_E_INTERNAL;
}

/* --- pending payments ---------------------------------------------------------------- */

enum qb_error merchant_pending_changes(struct store *reader, const char *user_id, int64_t *count)
{
    QB_ASSERT(reader != NULL && user_id != NULL && count != NULL);
    const struct store_param params[] = {STORE_TEXT(user_id)};
    enum qb_error err =
        store_int64(reader, "SELECT seq FROM paycode_pending_changes WHERE user_id = $1", params,
                    QB_ARRAY_COUNT(params), count);
    if (err == QB_E_NOT_FOUND) {
        *count = 0;
        return QB_OK;
    }
    QB_ASSERT(err != QB_OK || *count > 0);
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
}

enum qb_error merchant_pending_list(struct store *reader, const char *user_id, int64_t now_ms,
                                    json_t **out)
{
    QB_ASSERT(reader != NULL && user_id != NULL && out != NULL);
    *out = NULL;
    struct store_stmt *st = NULL;
    if (store_prepare(reader,
                      "SELECT o.pay_token, o.mchid, m.name, o.description, o.total_minor,"
                      " o.currency, o.out_trade_no, o.created_at_ms, o.expires_at_ms"
                      " FROM orders o JOIN merchants m ON m.mchid = o.mchid"
                      " WHERE o.payer_user_id = $1 AND o.state = 5 AND o.expires_at_ms > $2"
                      " ORDER BY o.created_at_ms LIMIT $3",
                      &st) != QB_OK)
        return QB_E_STORAGE;
    json_t *items = json_array();
    enum qb_error err = items != NULL ? QB_OK : QB_E_INTERNAL;
    if (err == QB_OK && (store_bind_text(st, 1, user_id, strlen(user_id)) != QB_OK ||
                         store_bind_int64(st, 2, now_ms) != QB_OK ||
                         store_bind_int64(st, 3, S_PENDING_MAX) != QB_OK))
        err = QB_E_STORAGE;
    int rc = STORE_STEP_DONE;
    while (err == QB_OK && (rc = store_step(st)) == STORE_STEP_ROW) {
        json_t *item = json_pack(
            "{s:s?, s:{s:s?, s:s?}, s:s?, s:I, s:s?, s:s?, s:o, s:o}", "id",
            store_column_text(st, 0), "merchant", "mchid", store_column_text(st, 1), "name",
            store_column_text(st, 2), "description", store_column_text(st, 3), "amount",
            (json_int_t)store_column_int64(st, 4), "currency", store_column_text(st, 5),
            "out_trade_no", store_column_text(st, 6), "created_at",
            S_time(store_column_int64(st, 7)), "expires_at", S_time(store_column_int64(st, 8)));
        if (item == NULL || json_array_append_new(items, item) != 0)
            err = QB_E_INTERNAL;
    }
    if (err == QB_OK && rc != STORE_STEP_DONE)
        err = QB_E_STORAGE;
    store_finalize(st);
    if (err != QB_OK) {
        json_decref(items);
        return err;
    }
    *out = items;
    return QB_OK;
}

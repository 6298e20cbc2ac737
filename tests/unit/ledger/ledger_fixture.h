/*
 * ledger_fixture.h — a ledger on a fresh database, and scripted commands.
 *
 * Shared by the ledger's test programs. Header-only (static inline) because
 * CMake builds every tests/unit/ledger/test_*.c as its own program.
 *
 * A fixture is a temporary directory holding qianbao.db, a write connection
 * owned by the ledger, a read connection for history and entries, and a
 * manual clock so that hold expiry is driven by the test, never by sleeping.
 * Fixtures are heap-allocated and deliberately leaked when a test fails
 * half-way (the harness longjmps out): the ledger's writer thread may still
 * read the clock, which must therefore outlive the failed test.
 *
 * A command is a script: up to FX_OPS_MAX operations run in order by one
 * run function on the writer thread. The first failing operation ends the
 * command with its error (everything it did is rolled back by the ledger),
 * unless the operation is marked ignore_error, in which case its error is
 * recorded and the script goes on, as a domain command that falls back to
 * another way of paying would. Every operation writes a line to the
 * command's response, so idempotent replays can be compared byte for byte.
 */
#ifndef QB_TESTS_LEDGER_FIXTURE_H
#define QB_TESTS_LEDGER_FIXTURE_H

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "base/money.h"
#include "ledger/ledger.h"
#include "store/store.h"
#include "test.h"

#define FX_OPS_MAX 4
#define FX_START_MS INT64_C(1790000000000) /* an even instant in 2026 */
#define FX_CODE_TRANSFER 1

enum fx_op_kind {
    FX_OP_CREATE = 1,
    FX_OP_SET_FLAGS,
    FX_OP_POST,
    FX_OP_HOLD,
    FX_OP_CAPTURE,
    FX_OP_VOID,
    FX_OP_GET,           /* ledger_txn_account_get and, for comparison, the committed view */
    FX_OP_FAIL,          /* ends the command with `fail_with` */
    FX_OP_IDEM_REPLACE,  /* ledger_txn_idem_answer_set(principal, key, ref); out_id: found */
    FX_OP_OWNER_CHANGED, /* ledger_txn_owner_changed(ref) */
};

struct fx_op {
    enum fx_op_kind kind;
    bool ignore_error;
    /* CREATE */
    struct ledger_account_spec spec;
    /* SET_FLAGS, GET */
    int64_t account_id;
    uint32_t flags;
    /* POST */
    struct ledger_leg legs[LEDGER_POSTINGS_MAX + 1];
    size_t leg_count;
    /* HOLD */
    int64_t debit_id;
    int64_t credit_id;
    int64_t expires_at_ms;
    /* HOLD, CAPTURE */
    int64_t amount_minor;
    /* CAPTURE, VOID */
    int64_t hold_id;
    /* POST, HOLD, CAPTURE, VOID */
    uint16_t code;
    const char *ref;
    /* POST: the entry whose spending it gives back (ledger_txn_post_back);
     * 0: none (ledger_txn_post) */
    int64_t spent_entry_id;
    /* FAIL */
    enum qb_error fail_with;
    /* IDEM_REPLACE: the request's principal and key; ref is the new answer */
    const char *principal;
    const char *key;

    /* Results, written on the writer thread. */
    enum qb_error result;
    int64_t out_id;                         /* account, entry or hold id */
    struct ledger_account_view working;     /* GET: ledger_txn_account_get */
    struct ledger_account_view committed;   /* GET: ledger_account_view */
    enum qb_error committed_result;
    int64_t now_ms;                         /* ledger_txn_now_ms when the op ran */
};

struct fx_batch;

struct fx_script {
    struct fx_op ops[FX_OPS_MAX];
    size_t op_count;
    struct ledger *ledger; /* set by the fixture, for committed views */
    int run_count;         /* times the ledger called run */
    struct fx_batch *batch;
    char key_buf[32]; /* an idempotency key that lives as long as the script */
    struct ledger_cmd cmd;
};

/* Completion counting for commands handed to ledger_submit. */
struct fx_batch {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    size_t pending;
    size_t done_count;
};

struct fx {
    char dir[512];
    char db_path[640];
    struct qb_clock clock;
    struct ledger_options options;
    struct store *writer;
    struct store *reader;
    struct ledger *ledger;
    const struct currency *cny;
    const struct currency *usd;
    int64_t sys_id; /* a CNY system account with no floor, for funding */
    int64_t close_at_ms; /* fx_verify's close (0: none) */
};

/* --- the run function ---------------------------------------------------- */

static inline enum qb_error fx_op_run(struct ledger_txn *txn, struct fx_script *script,
                                      struct fx_op *op)
{
    op->now_ms = ledger_txn_now_ms(txn);
    op->out_id = 0;
    switch (op->kind) {
    case FX_OP_CREATE:
        return ledger_txn_account_create(txn, &op->spec, &op->out_id);
    case FX_OP_SET_FLAGS:
        return ledger_txn_account_set_flags(txn, op->account_id, op->flags);
    case FX_OP_POST:
        if (op->spent_entry_id != 0)
            return ledger_txn_post_back(txn, op->code, op->ref, op->legs, op->leg_count,
                                        op->spent_entry_id, &op->out_id);
        return ledger_txn_post(txn, op->code, op->ref, op->legs, op->leg_count, &op->out_id);
    case FX_OP_HOLD:
        return ledger_txn_hold(txn, op->code, op->ref, op->debit_id, op->credit_id,
                               op->amount_minor, op->expires_at_ms, &op->out_id);
    case FX_OP_CAPTURE:
        return ledger_txn_capture(txn, op->hold_id, op->amount_minor, op->code, op->ref,
                                  &op->out_id);
    case FX_OP_VOID:
        return ledger_txn_void(txn, op->hold_id, op->code, op->ref, &op->out_id);
    case FX_OP_GET:
        op->committed_result = ledger_account_view(script->ledger, op->account_id, &op->committed);
        return ledger_txn_account_get(txn, op->account_id, &op->working);
    case FX_OP_FAIL:
        return op->fail_with;
    case FX_OP_OWNER_CHANGED:
        ledger_txn_owner_changed(txn, op->ref);
        return QB_OK;
    case FX_OP_IDEM_REPLACE: {
        bool found = false;
        enum qb_error err = ledger_txn_idem_answer_set(txn, op->principal, op->key, op->ref,
                                                       strlen(op->ref), &found);
        op->out_id = found;
        return err;
    }
    }
    return QB_E_INTERNAL;
}

static inline enum qb_error fx_script_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct fx_script *script = cmd->ctx;
    script->run_count++;
    enum qb_error rc = QB_OK;
    for (size_t i = 0; i < script->op_count; i++) {
        struct fx_op *op = &script->ops[i];
        op->result = fx_op_run(txn, script, op);
        if (buf_printf(&cmd->response, "op=%d result=%s id=%" PRId64 "\n", (int)op->kind,
                       error_name(op->result), op->result == QB_OK ? op->out_id : 0) != QB_OK)
            return QB_E_INTERNAL;
        if (op->result != QB_OK && !op->ignore_error) {
            rc = op->result;
            break;
        }
    }
    return rc;
}

static inline void fx_script_done(struct ledger_cmd *cmd)
{
    struct fx_script *script = cmd->ctx;
    struct fx_batch *batch = script->batch;
    pthread_mutex_lock(&batch->mutex);
    batch->pending--;
    batch->done_count++;
    pthread_cond_broadcast(&batch->cond);
    pthread_mutex_unlock(&batch->mutex);
}

/* Resets script to no operations, ready for fx_script_add. */
static inline void fx_script_init(struct fx_script *script)
{
    memset(script, 0, sizeof *script);
}

static inline struct fx_op *fx_script_add(struct fx_script *script, enum fx_op_kind kind)
{
    if (script->op_count >= FX_OPS_MAX)
        TEST_FAIL_("fx_script_add: more than %d operations", FX_OPS_MAX);
    struct fx_op *op = &script->ops[script->op_count++];
    memset(op, 0, sizeof *op);
    op->kind = kind;
    op->code = FX_CODE_TRANSFER;
    op->result = QB_E_INTERNAL; /* until it ran */
    return op;
}

static inline struct fx_op *fx_script_post2(struct fx_script *script, int64_t from_id,
                                            int64_t to_id, int64_t amount_minor)
{
    struct fx_op *op = fx_script_add(script, FX_OP_POST);
    op->legs[0] = (struct ledger_leg){from_id, -amount_minor};
    op->legs[1] = (struct ledger_leg){to_id, amount_minor};
    op->leg_count = 2;
    return op;
}

/* Sets the command's idempotency: request_hash is SHA-256 of body. */
static inline void fx_script_idem(struct fx_script *script, const char *principal, const char *key,
                                  const char *body)
{
    script->cmd.idem_principal = principal;
    script->cmd.idem_key = key;
    crypto_sha256(body, strlen(body), script->cmd.request_hash);
}

/* Prepares script->cmd (keeping idempotency fields set before) for submission. */
static inline void fx_script_prepare(struct fx *fx, struct fx_script *script)
{
    const char *principal = script->cmd.idem_principal;
    const char *key = script->cmd.idem_key;
    uint8_t hash[CRYPTO_SHA256_SIZE], legacy[CRYPTO_SHA256_SIZE];
    bool has_legacy = script->cmd.has_legacy_hash;
    memcpy(hash, script->cmd.request_hash, sizeof hash);
    memcpy(legacy, script->cmd.legacy_request_hash, sizeof legacy);
    ledger_cmd_init(&script->cmd, fx_script_run, script);
    script->cmd.idem_principal = principal;
    script->cmd.idem_key = key;
    memcpy(script->cmd.request_hash, hash, sizeof hash);
    script->cmd.has_legacy_hash = has_legacy;
    memcpy(script->cmd.legacy_request_hash, legacy, sizeof legacy);
    script->ledger = fx->ledger;
    script->run_count = 0;
}

/* Runs script through ledger_execute; the answer is the command's result.
 * The caller releases script->cmd (fx_script_release) when done with the
 * response. */
static inline enum qb_error fx_exec(struct fx *fx, struct fx_script *script)
{
    fx_script_prepare(fx, script);
    enum qb_error rc = ledger_execute(fx->ledger, &script->cmd);
    if (rc != QB_OK)
        return rc;
    return script->cmd.result;
}

static inline void fx_script_release(struct fx_script *script)
{
    ledger_cmd_release(&script->cmd);
}

/* --- batches through ledger_submit --------------------------------------- */

static inline void fx_batch_init(struct fx_batch *batch)
{
    memset(batch, 0, sizeof *batch);
    pthread_mutex_init(&batch->mutex, NULL);
    pthread_cond_init(&batch->cond, NULL);
}

static inline void fx_batch_destroy(struct fx_batch *batch)
{
    pthread_mutex_destroy(&batch->mutex);
    pthread_cond_destroy(&batch->cond);
}

/* Submits script with a done callback counted by batch. */
static inline enum qb_error fx_submit(struct fx *fx, struct fx_batch *batch,
                                      struct fx_script *script)
{
    fx_script_prepare(fx, script);
    script->batch = batch;
    script->cmd.done = fx_script_done;
    pthread_mutex_lock(&batch->mutex);
    batch->pending++;
    pthread_mutex_unlock(&batch->mutex);
    enum qb_error rc = ledger_submit(fx->ledger, &script->cmd);
    if (rc != QB_OK) {
        pthread_mutex_lock(&batch->mutex);
        batch->pending--;
        pthread_mutex_unlock(&batch->mutex);
    }
    return rc;
}

/* Waits until every command submitted through batch has completed. */
static inline void fx_batch_wait(struct fx_batch *batch)
{
    pthread_mutex_lock(&batch->mutex);
    while (batch->pending > 0)
        pthread_cond_wait(&batch->cond, &batch->mutex);
    pthread_mutex_unlock(&batch->mutex);
}

/* --- lifetime -------------------------------------------------------------- */

/* Opens the write connection, the ledger on it, and a read connection. */
static inline enum qb_error fx_start_rc(struct fx *fx)
{
    char err[256];
    enum qb_error rc = store_open(fx->db_path, STORE_MODE_WRITE, &fx->writer, err, sizeof err);
    if (rc != QB_OK)
        TEST_FAIL_("store_open(write) \"%s\": %s: %s", fx->db_path, error_name(rc), err);
    rc = ledger_open(fx->writer, &fx->options, &fx->ledger);
    if (rc != QB_OK) {
        store_close(fx->writer);
        fx->writer = NULL;
        fx->ledger = NULL;
        return rc;
    }
    rc = store_open(fx->db_path, STORE_MODE_READ, &fx->reader, err, sizeof err);
    if (rc != QB_OK)
        TEST_FAIL_("store_open(read) \"%s\": %s: %s", fx->db_path, error_name(rc), err);
    return QB_OK;
}

static inline void fx_start(struct fx *fx)
{
    enum qb_error rc = fx_start_rc(fx);
    if (rc != QB_OK)
        TEST_FAIL_("ledger_open: %s", error_name(rc));
}

/* Closes the ledger and both connections; the database file stays. */
static inline void fx_stop(struct fx *fx)
{
    if (fx->ledger != NULL)
        ledger_close(fx->ledger);
    fx->ledger = NULL;
    store_close(fx->writer);
    fx->writer = NULL;
    store_close(fx->reader);
    fx->reader = NULL;
}

static inline void fx_restart(struct fx *fx)
{
    fx_stop(fx);
    fx_start(fx);
}

static inline int64_t fx_create(struct fx *fx, const char *owner, const struct currency *currency,
                                enum ledger_account_kind kind, uint32_t flags, int64_t floor_minor);

/* A fresh fixture: a new directory, a started ledger, and one CNY system
 * account (fx->sys_id) to fund others from. */
static inline struct fx *fx_new(void)
{
    struct fx *fx = calloc(1, sizeof *fx);
    if (fx == NULL)
        TEST_FAIL_("out of memory");
    test_tmpdir(fx->dir, sizeof fx->dir);
    snprintf(fx->db_path, sizeof fx->db_path, "%s/qianbao.db", fx->dir);
    clock_manual_init(&fx->clock, FX_START_MS);
    fx->options.clock = &fx->clock;
    fx->cny = currency_find("CNY");
    fx->usd = currency_find("USD");
    if (fx->cny == NULL || fx->usd == NULL)
        TEST_FAIL_("currency_find: CNY or USD missing");
    fx_start(fx);
    fx->sys_id = fx_create(fx, "system:bank_clearing", fx->cny, LEDGER_ACCOUNT_SYSTEM, 0,
                           LEDGER_FLOOR_NONE);
    return fx;
}

/* Stops the ledger, removes the directory and frees the fixture. Only reached
 * by tests that pass: a failed test leaks its fixture on purpose. */
static inline void fx_free(struct fx *fx)
{
    fx_stop(fx);
    test_rmtree(fx->dir);
    free(fx);
}

/* --- one-line commands ------------------------------------------------------ */

static inline enum qb_error fx_create_rc(struct fx *fx, const struct ledger_account_spec *spec,
                                         int64_t *account_id)
{
    struct fx_script s;
    fx_script_init(&s);
    struct fx_op *op = fx_script_add(&s, FX_OP_CREATE);
    op->spec = *spec;
    enum qb_error rc = fx_exec(fx, &s);
    fx_script_release(&s);
    if (account_id != NULL)
        *account_id = rc == QB_OK ? op->out_id : 0;
    return rc;
}

static inline int64_t fx_create(struct fx *fx, const char *owner, const struct currency *currency,
                                enum ledger_account_kind kind, uint32_t flags, int64_t floor_minor)
{
    struct ledger_account_spec spec = {owner, currency, kind, flags, floor_minor};
    int64_t id = 0;
    enum qb_error rc = fx_create_rc(fx, &spec, &id);
    if (rc != QB_OK)
        TEST_FAIL_("creating account \"%s\": %s", owner, error_name(rc));
    if (id <= 0)
        TEST_FAIL_("creating account \"%s\": id %" PRId64, owner, id);
    return id;
}

/* A CNY user account with floor 0. */
static inline int64_t fx_user(struct fx *fx, const char *owner)
{
    return fx_create(fx, owner, fx->cny, LEDGER_ACCOUNT_USER, 0, 0);
}

static inline enum qb_error fx_set_flags(struct fx *fx, int64_t account_id, uint32_t flags)
{
    struct fx_script s;
    fx_script_init(&s);
    struct fx_op *op = fx_script_add(&s, FX_OP_SET_FLAGS);
    op->account_id = account_id;
    op->flags = flags;
    enum qb_error rc = fx_exec(fx, &s);
    fx_script_release(&s);
    return rc;
}

/* Posts the legs as one entry; *entry_id (may be NULL) gets its id. */
static inline enum qb_error fx_post(struct fx *fx, const struct ledger_leg *legs, size_t leg_count,
                                    const char *ref, int64_t *entry_id)
{
    struct fx_script s;
    fx_script_init(&s);
    struct fx_op *op = fx_script_add(&s, FX_OP_POST);
    if (leg_count > QB_ARRAY_COUNT(op->legs))
        TEST_FAIL_("fx_post: %zu legs", leg_count);
    memcpy(op->legs, legs, leg_count * sizeof *legs);
    op->leg_count = leg_count;
    op->ref = ref;
    enum qb_error rc = fx_exec(fx, &s);
    fx_script_release(&s);
    if (entry_id != NULL)
        *entry_id = rc == QB_OK ? op->out_id : 0;
    return rc;
}

static inline enum qb_error fx_transfer(struct fx *fx, int64_t from_id, int64_t to_id,
                                        int64_t amount_minor, int64_t *entry_id)
{
    struct ledger_leg legs[2] = {{from_id, -amount_minor}, {to_id, amount_minor}};
    return fx_post(fx, legs, 2, NULL, entry_id);
}

/* Moves amount from the fixture's system account to account_id; must work. */
static inline int64_t fx_fund(struct fx *fx, int64_t account_id, int64_t amount_minor)
{
    int64_t entry_id = 0;
    enum qb_error rc = fx_transfer(fx, fx->sys_id, account_id, amount_minor, &entry_id);
    if (rc != QB_OK)
        TEST_FAIL_("funding account %" PRId64 " with %" PRId64 ": %s", account_id, amount_minor,
                   error_name(rc));
    return entry_id;
}

static inline enum qb_error fx_hold(struct fx *fx, int64_t debit_id, int64_t credit_id,
                                    int64_t amount_minor, int64_t expires_at_ms, int64_t *hold_id)
{
    struct fx_script s;
    fx_script_init(&s);
    struct fx_op *op = fx_script_add(&s, FX_OP_HOLD);
    op->debit_id = debit_id;
    op->credit_id = credit_id;
    op->amount_minor = amount_minor;
    op->expires_at_ms = expires_at_ms;
    op->ref = "hold";
    enum qb_error rc = fx_exec(fx, &s);
    fx_script_release(&s);
    if (hold_id != NULL)
        *hold_id = rc == QB_OK ? op->out_id : 0;
    return rc;
}

static inline enum qb_error fx_capture(struct fx *fx, int64_t hold_id, int64_t amount_minor,
                                       int64_t *entry_id)
{
    struct fx_script s;
    fx_script_init(&s);
    struct fx_op *op = fx_script_add(&s, FX_OP_CAPTURE);
    op->hold_id = hold_id;
    op->amount_minor = amount_minor;
    op->ref = "capture";
    enum qb_error rc = fx_exec(fx, &s);
    fx_script_release(&s);
    if (entry_id != NULL)
        *entry_id = rc == QB_OK ? op->out_id : 0;
    return rc;
}

static inline enum qb_error fx_void(struct fx *fx, int64_t hold_id, int64_t *entry_id)
{
    struct fx_script s;
    fx_script_init(&s);
    struct fx_op *op = fx_script_add(&s, FX_OP_VOID);
    op->hold_id = hold_id;
    op->ref = "void";
    enum qb_error rc = fx_exec(fx, &s);
    fx_script_release(&s);
    if (entry_id != NULL)
        *entry_id = rc == QB_OK ? op->out_id : 0;
    return rc;
}

/* A command that does nothing: lets the writer run a batch (and expire due
 * holds before it). */
static inline void fx_nudge(struct fx *fx)
{
    struct fx_script s;
    fx_script_init(&s);
    enum qb_error rc = fx_exec(fx, &s);
    fx_script_release(&s);
    if (rc != QB_OK)
        TEST_FAIL_("an empty command failed: %s", error_name(rc));
}

/* The committed view of an account; must exist. */
static inline struct ledger_account_view fx_view(struct fx *fx, int64_t account_id)
{
    struct ledger_account_view v;
    memset(&v, 0, sizeof v);
    enum qb_error rc = ledger_account_view(fx->ledger, account_id, &v);
    if (rc != QB_OK)
        TEST_FAIL_("ledger_account_view(%" PRId64 "): %s", account_id, error_name(rc));
    if (v.available_minor != v.balance_minor - v.held_minor)
        TEST_FAIL_("account %" PRId64 ": available %" PRId64 " != balance %" PRId64
                   " - held %" PRId64,
                   account_id, v.available_minor, v.balance_minor, v.held_minor);
    return v;
}

static inline int64_t fx_balance(struct fx *fx, int64_t account_id)
{
    return fx_view(fx, account_id).balance_minor;
}

/* Runs ledger_verify on a fresh read connection (the fixture may be stopped). */
static inline enum qb_error fx_verify(struct fx *fx, struct ledger_verify_report *report)
{
    char err[256];
    struct store *reader = NULL;
    enum qb_error rc = store_open(fx->db_path, STORE_MODE_READ, &reader, err, sizeof err);
    if (rc != QB_OK)
        TEST_FAIL_("store_open(read) for verify: %s: %s", error_name(rc), err);
    memset(report, 0, sizeof *report);
    rc = ledger_verify(reader, &fx->options, fx->close_at_ms, report, NULL, NULL);
    store_close(reader);
    return rc;
}

static inline void fx_verify_ok(struct fx *fx)
{
    struct ledger_verify_report report;
    enum qb_error rc = fx_verify(fx, &report);
    if (rc != QB_OK || report.problem[0] != '\0')
        TEST_FAIL_("ledger_verify: %s: \"%s\"", error_name(rc), report.problem);
}

#endif

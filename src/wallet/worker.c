/*
 * worker.c — resolves top-ups and withdrawals the bank has not answered,
 * and makes delayed transfers arrive (transfer.h: wallet_arrival).
 *
 * One thread. Every WALLET_WORKER_POLL_MS a pass reads up to
 * WALLET_WORKER_BATCH_MAX delayed transfers (again while a batch comes
 * full, up to WALLET_WORKER_TRANSFER_BATCHES), then as many top-ups and
 * withdrawals, `WHERE status = PROCESSING AND next_check_at_ms <= now` (the
 * partial index payments_pending holds only PROCESSING rows, so the scan
 * costs what is pending, not the table), with a read connection borrowed
 * for the read alone: none is held across the bank's network round trips.
 * Then for each transfer its arrival (wallet_transfer_arrive_cmd), which
 * needs no bank; for each of the others: query the bank
 * (wallet_bank_call), and submit a wallet_finish_cmd with the answer, which
 * applies it only if the payment is still PROCESSING. A PENDING or absent
 * answer moves next_check_at_ms on by settings.withdrawal_check_ms, so an
 * unreachable bank is asked at that pace, not in a loop.
 *
 * Nothing here is kept in memory between passes: after a restart the
 * payments table says everything, which is how pending payments survive one.
 * Time comes from env->clock, like the ledger's.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "wallet/topup.h"
#include "wallet/transfer.h"

#define WALLET_WORKER_BATCH_MAX 32
#define WALLET_WORKER_TRANSFER_BATCHES 8 /* of delayed transfers in one pass, at most */
#define WALLET_WORKER_ACQUIRE_WAIT_MS 5000

struct wallet_worker {
    const struct domain_env *env;
    struct store_pool *pool;
    struct domain_worker *loop;
};

/* The ids of up to WALLET_WORKER_BATCH_MAX due payments, oldest check
 * first: delayed transfers (transfers) or the bank's top-ups and
 * withdrawals. */
static enum qb_error worker_due(struct store_pool *pool, int64_t now_ms, bool transfers,
                                char ids[][ID_TEXT_SIZE_MAX], size_t *count)
{
    *count = 0;
    struct store *reader;
    enum qb_error err = store_pool_acquire(pool, WALLET_WORKER_ACQUIRE_WAIT_MS, &reader);
    if (err != QB_OK)
        return err;
    struct store_stmt *st = NULL;
    err = store_prepare(reader,
                        transfers ? "SELECT id FROM payments WHERE status = 1"
                                    " AND next_check_at_ms <= $1 AND kind = 3"
                                    " ORDER BY next_check_at_ms LIMIT $2"
                                  : "SELECT id FROM payments WHERE status = 1"
                                    " AND next_check_at_ms <= $1 AND kind IN (1, 2)"
                                    " ORDER BY next_check_at_ms LIMIT $2",
                        &st);
    if (err == QB_OK)
        err = store_bind_int64(st, 1, now_ms);
    if (err == QB_OK)
        err = store_bind_int64(st, 2, WALLET_WORKER_BATCH_MAX);
    int rc = STORE_STEP_DONE;
    while (err == QB_OK && *count < WALLET_WORKER_BATCH_MAX &&
           (rc = store_step(st)) == STORE_STEP_ROW) {
        const char *id = store_column_text(st, 0);
        size_t size = id != NULL ? store_column_size(st, 0) : 0;
        if (size == 0 || size >= ID_TEXT_SIZE_MAX)
            continue; /* not an id this module wrote */
        memcpy(ids[*count], id, size);
        ids[*count][size] = '\0';
        (*count)++;
    }
    if (err == QB_OK && rc < 0)
        err = QB_E_STORAGE;
    store_finalize(st);
    store_pool_release(pool, reader);
    QB_ASSERT(*count <= WALLET_WORKER_BATCH_MAX);
    return err;
}

/* Submits c and releases it. False when the ledger refused it (shutting
 * down, busy, storage): the pass ends. */
static bool worker_submit(const struct domain_env *env, struct ledger_cmd *cmd, const char *id)
{
    enum qb_error err = ledger_execute(env->ledger, cmd);
    if (err == QB_OK)
        err = cmd->result;
    ledger_cmd_release(cmd);
    if (err != QB_OK) {
        log_event(LOG_WARN, "wallet.worker.finish_failed", "payment_id=%s error=%s", id,
                  error_name(err));
        return false;
    }
    return true;
}

/* Asks the bank about one payment and submits what it said, or makes a
 * delayed transfer arrive. False as worker_submit's. */
static bool worker_resolve(const struct domain_env *env, struct store_pool *pool, const char *id)
{
    struct store *reader;
    if (store_pool_acquire(pool, WALLET_WORKER_ACQUIRE_WAIT_MS, &reader) != QB_OK)
        return false;
    struct wallet_payment p;
    enum qb_error err = wallet_payment_get(reader, id, NULL, &p);
    if (err != QB_OK || p.status != WALLET_PROCESSING) {
        store_pool_release(pool, reader);
        return true; /* resolved meanwhile, or unreadable: nothing to ask */
    }
    store_pool_release(pool, reader);
    if (p.kind == WALLET_TRANSFER) {
        struct wallet_transfer_arrive_cmd c;
        wallet_transfer_arrive_cmd_init(&c, env, id);
        return worker_submit(env, &c.cmd, id);
    }
    struct wallet_bank_answer answer;
    wallet_bank_call(env, pool, &p, true, &answer);
    struct wallet_finish_cmd c;
    wallet_finish_cmd_init(&c, env, id, &answer);
    return worker_submit(env, &c.cmd, id);
}

/* Resolves one batch of due payments (transfers: delayed transfers; else
 * the bank's): *count is how many were due. False when the pass must end
 * (stopping, or the ledger refused a command). */
static bool worker_batch(const struct domain_env *env, struct store_pool *pool,
                         const atomic_bool *stopping, bool transfers, char ids[][ID_TEXT_SIZE_MAX],
                         size_t *count, size_t *resolved, enum qb_error *err)
{
    *err = worker_due(pool, clock_now_ms(env->clock), transfers, ids, count);
    for (size_t i = 0; *err == QB_OK && i < *count; i++) {
        if ((stopping != NULL && atomic_load(stopping)) || !worker_resolve(env, pool, ids[i]))
            return false;
        (*resolved)++;
    }
    return *err == QB_OK;
}

static enum qb_error worker_pass(const struct domain_env *env, struct store_pool *pool,
                                 const atomic_bool *stopping, size_t *resolved)
{
    *resolved = 0;
    char (*ids)[ID_TEXT_SIZE_MAX] = calloc(WALLET_WORKER_BATCH_MAX, ID_TEXT_SIZE_MAX);
    if (ids == NULL)
        return QB_E_INTERNAL;
    /* Delayed transfers first, each a command of the ledger's alone: a
     * bank that does not answer (BANK_CALL_TIMEOUT_MS a call) must not
     * hold back money that is due to arrive. Batch after batch while they
     * come full, up to WALLET_WORKER_TRANSFER_BATCHES: the transfers sent
     * in a busy hour arrive in the same hour a day later. */
    enum qb_error err = QB_OK;
    size_t count = WALLET_WORKER_BATCH_MAX;
    bool go_on = true;
    for (int b = 0; go_on && count == WALLET_WORKER_BATCH_MAX && b < WALLET_WORKER_TRANSFER_BATCHES;
         b++)
        go_on = worker_batch(env, pool, stopping, true, ids, &count, resolved, &err);
    if (go_on)
        (void)worker_batch(env, pool, stopping, false, ids, &count, resolved, &err);
    free(ids);
    return err;
}

enum qb_error wallet_worker_pass(const struct domain_env *env, struct store_pool *pool,
                                 size_t *resolved)
{
    QB_ASSERT(env != NULL && pool != NULL && resolved != NULL);
    return worker_pass(env, pool, NULL, resolved);
}

static enum qb_error worker_main(void *arg, const atomic_bool *stopping)
{
    struct wallet_worker *w = arg;
    size_t resolved = 0;
    return worker_pass(w->env, w->pool, stopping, &resolved);
}

enum qb_error wallet_worker_start(const struct domain_env *env, struct store_pool *pool,
                                  struct wallet_worker **out)
{
    QB_ASSERT(out != NULL);
    *out = NULL;
    if (env == NULL || env->ledger == NULL || env->clock == NULL || pool == NULL)
        return QB_E_PARAM;
    struct wallet_worker *w = calloc(1, sizeof *w);
    if (w == NULL)
        return QB_E_INTERNAL;
    w->env = env;
    w->pool = pool;
    enum qb_error err = domain_worker_start("wallet", WALLET_WORKER_POLL_MS, worker_main, w, &w->loop);
    if (err != QB_OK) {
        free(w);
        return err;
    }
    *out = w;
    return QB_OK;
}

void wallet_worker_stop(struct wallet_worker *w)
{
    if (w == NULL)
        return;
    domain_worker_stop(w->loop);
    free(w);
}

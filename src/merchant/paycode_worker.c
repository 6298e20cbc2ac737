/*
 * paycode_worker.c — writes REVOKED into payment-code orders nobody
 * confirmed in time (paycode.h), and closes the payouts to users nobody
 * confirmed in time (payout.h: merchant_payouts_close_due, the same way).
 *
 * One thread. Every MERCHANT_PAYCODE_WORKER_POLL_MS a pass reads up to
 * S_BATCH_MAX transaction ids `WHERE state = USERPAYING AND expires_at_ms
 * <= now` (index orders_due) with a read connection borrowed for that read
 * alone, then submits one merchant_userpaying_revoke_cmd per order and
 * waits for it. The worker decides nothing: the command re-reads the order
 * on the writer thread and revokes only one still USERPAYING and due, so a
 * confirmation that won the race, a second worker or a repeated pass
 * changes nothing. A pass whose batch of orders, or of payouts, came full
 * says it has more, and the loop runs the next at once (domain_worker_start),
 * reading on after that batch (domain_due_ids' cursor): a burst of orders
 * or payouts falling due together is taken up at the ledger's pace, not
 * one batch per MERCHANT_PAYCODE_WORKER_POLL_MS, and a batch of rows whose
 * commands keep failing holds back none due after them. Nothing but the
 * cursors lives in memory between passes.
 */
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "merchant/paycode.h"
#include "merchant/payout.h"

#define S_BATCH_MAX 64

/* Where the worker has got to in each kind of due row (domain_due_ids). */
struct S_due {
    struct domain_due_cursor orders, payouts;
};

struct merchant_paycode_worker {
    const struct domain_env *env;
    struct store_pool *pool;
    struct domain_worker *loop;
    struct S_due due; /* the loop's thread's alone */
};

/* Revokes up to S_BATCH_MAX due orders, then closes up to a batch of
 * overdue payouts, each after its cursor in *due. *more: either batch came
 * full, so more may be due at once (a revoke that ran leaves the order
 * REVOKED, or finds it confirmed or reversed meanwhile; one that fails on
 * its own is passed over until the cursor starts over). */
static enum qb_error S_pass(const struct domain_env *env, struct store_pool *pool,
                            const atomic_bool *stopping, struct S_due *due, size_t *revoked,
                            bool *more)
{
    *revoked = 0;
    *more = false;
    char (*ids)[MERCHANT_TRANSACTION_ID_SIZE] = calloc(S_BATCH_MAX, MERCHANT_TRANSACTION_ID_SIZE);
    if (ids == NULL)
        return QB_E_INTERNAL;
    size_t count = 0;
    enum qb_error err = domain_due_ids(pool,
                                       "SELECT transaction_id, expires_at_ms, seq FROM orders"
                                       " WHERE state = 5 AND expires_at_ms <= $1"
                                       " AND (expires_at_ms, seq) > ($3, $4)"
                                       " ORDER BY expires_at_ms, seq LIMIT $2",
                                       clock_now_ms(env->clock), &due->orders, ids[0],
                                       MERCHANT_TRANSACTION_ID_SIZE, S_BATCH_MAX, &count);
    bool ended = false;
    for (size_t i = 0; err == QB_OK && !ended && i < count; i++) {
        if (stopping != NULL && atomic_load(stopping)) {
            ended = true;
            break;
        }
        struct merchant_userpaying_revoke_cmd c;
        merchant_userpaying_revoke_cmd_init(&c, env, ids[i]);
        enum qb_error rc = ledger_execute(env->ledger, &c.cmd);
        if (rc == QB_OK)
            rc = c.cmd.result;
        enum qb_error outcome = c.outcome;
        ledger_cmd_release(&c.cmd);
        if (rc != QB_OK) {
            char row[MERCHANT_TRANSACTION_ID_SIZE + 32];
            snprintf(row, sizeof row, "transaction_id=%s", ids[i]);
            ended = domain_worker_pass_ends(rc, "paycode.worker.revoke_failed", row);
            continue;
        }
        if (outcome == QB_OK) {
            (*revoked)++;
            log_event(LOG_INFO, "paycode.order_revoked", "transaction_id=%s reason=unconfirmed",
                      ids[i]);
        }
    }
    if (ended) /* the rest of the batch was not tried */
        due->orders = DOMAIN_DUE_START;
    bool orders_more = err == QB_OK && !ended && due->orders.full;
    free(ids);
    size_t closed = 0;
    bool payouts_more = false;
    enum qb_error payouts =
        merchant_payouts_close_due(env, pool, stopping, &due->payouts, &closed, &payouts_more);
    *more = orders_more || payouts_more;
    return err != QB_OK ? err : payouts;
}

enum qb_error merchant_paycode_worker_pass(const struct domain_env *env, struct store_pool *pool,
                                           size_t *revoked)
{
    QB_ASSERT(env != NULL && pool != NULL && revoked != NULL);
    bool more = false;
    struct S_due due = {DOMAIN_DUE_START, DOMAIN_DUE_START};
    return S_pass(env, pool, NULL, &due, revoked, &more);
}

static enum qb_error S_main(void *arg, const atomic_bool *stopping, bool *more)
{
    struct merchant_paycode_worker *w = arg;
    size_t revoked = 0;
    return S_pass(w->env, w->pool, stopping, &w->due, &revoked, more);
}

enum qb_error merchant_paycode_worker_start(const struct domain_env *env, struct store_pool *pool,
                                            struct merchant_paycode_worker **out)
{
    QB_ASSERT(out != NULL);
    *out = NULL;
    if (env == NULL || env->ledger == NULL || env->clock == NULL || pool == NULL)
        return QB_E_PARAM;
    struct merchant_paycode_worker *w = calloc(1, sizeof *w);
    if (w == NULL)
        return QB_E_INTERNAL;
    w->env = env;
    w->pool = pool;
    w->due = (struct S_due){DOMAIN_DUE_START, DOMAIN_DUE_START};
    enum qb_error err =
        domain_worker_start("paycode", domain_worker_poll_ms(env, MERCHANT_PAYCODE_WORKER_POLL_MS),
                            S_main, w, &w->loop);
    if (err != QB_OK) {
        free(w);
        return err;
    }
    *out = w;
    return QB_OK;
}

void merchant_paycode_worker_stop(struct merchant_paycode_worker *w)
{
    if (w == NULL)
        return;
    domain_worker_stop(w->loop);
    free(w);
}

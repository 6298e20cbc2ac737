/*
 * worker.c — resolves top-ups and withdrawals the bank has not answered,
 * and makes delayed transfers arrive (transfer.h: wallet_arrival).
 *
 * One thread. Every WALLET_WORKER_POLL_MS a pass reads up to
 * WALLET_WORKER_ARRIVALS_MAX delayed transfers (again while a batch comes
 * full, up to WALLET_WORKER_TRANSFER_BATCHES), then up to
 * WALLET_WORKER_BATCH_MAX top-ups and withdrawals,
 * `WHERE status = PROCESSING AND next_check_at_ms <= now` (the
 * partial index payments_pending holds only PROCESSING rows, so the scan
 * costs what is pending, not the table), with a read connection borrowed
 * for the read alone: none is held across the bank's network round trips.
 * Then for each transfer its arrival (wallet_transfer_arrive_cmd), which
 * needs no bank: a batch's arrivals are submitted together
 * (ledger_execute_all), so they share the ledger's durable commits rather
 * than wait for one each; for each of the others, in turn: query the bank
 * (wallet_bank_call), and submit a wallet_finish_cmd with the answer, which
 * applies it only if the payment is still PROCESSING. A PENDING or absent
 * answer moves next_check_at_ms on by an eighth of the payment's age, at
 * least settings.withdrawal_check_ms (or the grace) and at most
 * WALLET_BANK_CHECK_MAX_MS (wallet_bank_next_check_ms), so an unreachable
 * or slow bank is asked ever more rarely, never in a loop. A pass whose
 * last batch of transfers, or whose batch of the bank's, came full says it
 * has more, and the loop runs the next at once (domain_worker_start),
 * reading on after that batch (domain_due_ids' cursor): a backlog after a
 * restart or a busy hour drains at the rate the ledger and the bank allow,
 * not one pass per WALLET_WORKER_POLL_MS, and a batch of payments whose
 * commands keep failing holds back none due after them.
 *
 * Nothing but the cursors is kept in memory between passes: after a
 * restart the payments table says everything, which is how pending
 * payments survive one.
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

#define WALLET_WORKER_BATCH_MAX 32       /* the bank's payments a batch: a call each */
#define WALLET_WORKER_ARRIVALS_MAX 256   /* delayed transfers a batch: submitted together */
#define WALLET_WORKER_TRANSFER_BATCHES 8 /* of delayed transfers in one pass, at most */
#define WALLET_WORKER_ACQUIRE_WAIT_MS 5000

/* Where the worker has got to in each kind of due payment (domain_due_ids). */
struct worker_due {
    struct domain_due_cursor transfers, bank;
};

struct wallet_worker {
    const struct domain_env *env;
    struct store_pool *pool;
    struct domain_worker *loop;
    struct worker_due due; /* the loop's thread's alone */
};

/* The ledger's answer err to cmd of payment id: whether the pass may go on
 * (domain_worker_pass_ends; *ran: whether the command ran). Releases cmd. */
static bool worker_done(struct ledger_cmd *cmd, enum qb_error err, const char *id, bool *ran)
{
    ledger_cmd_release(cmd);
    *ran = err == QB_OK;
    if (err == QB_OK)
        return true;
    char row[ID_TEXT_SIZE_MAX + 16];
    snprintf(row, sizeof row, "payment_id=%s", id);
    return !domain_worker_pass_ends(err, "wallet.worker.finish_failed", row);
}

/* Makes the count due transfers of ids arrive, every command submitted at
 * once: each one checks the transfer itself (one cancelled meanwhile is
 * left alone). False when the pass must end (worker_done). */
static bool worker_arrive(const struct domain_env *env, char ids[][ID_TEXT_SIZE_MAX], size_t count,
                          size_t *resolved)
{
    struct wallet_transfer_arrive_cmd *c = calloc(count, sizeof *c);
    struct ledger_cmd **cmds = calloc(count, sizeof *cmds);
    bool ok = c != NULL && cmds != NULL;
    for (size_t i = 0; ok && i < count; i++) {
        wallet_transfer_arrive_cmd_init(&c[i], env, ids[i]);
        cmds[i] = &c[i].cmd;
    }
    if (ok) {
        /* A refused submit is in the result of each command it left out. */
        ok = ledger_execute_all(env->ledger, cmds, count) == QB_OK;
        for (size_t i = 0; i < count; i++) {
            bool ran = false;
            if (!worker_done(cmds[i], cmds[i]->result, ids[i], &ran))
                ok = false;
            *resolved += ran;
        }
    }
    free(cmds);
    free(c);
    return ok;
}

/* Asks the bank about one top-up or withdrawal and submits what it said.
 * False as worker_done's. *taken: the payment was taken up (resolved, or
 * put off to its next check); else it could not be read, or its command
 * failed, and it is still due as it was. */
static bool worker_resolve(const struct domain_env *env, struct store_pool *pool, const char *id,
                           bool *taken)
{
    *taken = false;
    struct store *reader;
    if (store_pool_acquire(pool, WALLET_WORKER_ACQUIRE_WAIT_MS, &reader) != QB_OK)
        return false;
    struct wallet_payment p;
    enum qb_error err = wallet_payment_get(reader, id, NULL, &p);
    if (err != QB_OK || p.status != WALLET_PROCESSING) {
        store_pool_release(pool, reader);
        *taken = err == QB_OK;
        return true; /* resolved meanwhile, or unreadable: nothing to ask */
    }
    store_pool_release(pool, reader);
    struct wallet_bank_answer answer;
    wallet_bank_call(env, pool, &p, true, &answer);
    struct wallet_finish_cmd c;
    wallet_finish_cmd_init(&c, env, id, &answer);
    c.by_worker = true;
    err = ledger_execute(env->ledger, &c.cmd);
    return worker_done(&c.cmd, err, id, taken);
}

/* Resolves one batch of due payments after *due (transfers: delayed
 * transfers; else the bank's). False when the pass must end (stopping, or
 * the ledger refused a command): *due then starts over, since the rest of
 * the batch was not tried. */
static bool worker_batch(const struct domain_env *env, struct store_pool *pool,
                         const atomic_bool *stopping, bool transfers, char ids[][ID_TEXT_SIZE_MAX],
                         struct domain_due_cursor *due, size_t *resolved, enum qb_error *err)
{
    size_t max = transfers ? WALLET_WORKER_ARRIVALS_MAX : WALLET_WORKER_BATCH_MAX;
    size_t count = 0;
    /* Due payments, the oldest check first. */
    *err = domain_due_ids(pool,
                          transfers ? "SELECT id, next_check_at_ms, seq FROM payments"
                                      " WHERE status = 1 AND next_check_at_ms <= $1 AND kind = 3"
                                      " AND (next_check_at_ms, seq) > ($3, $4)"
                                      " ORDER BY next_check_at_ms, seq LIMIT $2"
                                    : "SELECT id, next_check_at_ms, seq FROM payments"
                                      " WHERE status = 1 AND next_check_at_ms <= $1"
                                      " AND kind IN (1, 2) AND (next_check_at_ms, seq) > ($3, $4)"
                                      " ORDER BY next_check_at_ms, seq LIMIT $2",
                          clock_now_ms(env->clock), due, ids[0], ID_TEXT_SIZE_MAX, max, &count);
    if (*err != QB_OK)
        return false;
    QB_ASSERT(count <= max);
    bool go_on = stopping == NULL || !atomic_load(stopping);
    if (go_on && transfers && count > 0)
        go_on = worker_arrive(env, ids, count, resolved);
    for (size_t i = 0; go_on && !transfers && i < count; i++) {
        bool taken = false;
        go_on = (stopping == NULL || !atomic_load(stopping)) &&
                worker_resolve(env, pool, ids[i], &taken);
        *resolved += taken;
    }
    if (!go_on)
        *due = DOMAIN_DUE_START;
    return go_on;
}

/* One pass, on from *due: *more when its last batch of transfers or its
 * batch of the bank's payments came full, so that the loop runs the next
 * at once. */
static enum qb_error worker_pass(const struct domain_env *env, struct store_pool *pool,
                                 const atomic_bool *stopping, struct worker_due *due,
                                 size_t *resolved, bool *more)
{
    *resolved = 0;
    *more = false;
    char(*ids)[ID_TEXT_SIZE_MAX] = calloc(WALLET_WORKER_ARRIVALS_MAX, ID_TEXT_SIZE_MAX);
    if (ids == NULL)
        return QB_E_INTERNAL;
    /* Delayed transfers first, the ledger's commands alone: a bank that
     * does not answer (BANK_CALL_TIMEOUT_MS a call) must not hold back
     * money that is due to arrive. Batch after batch while they come full,
     * up to WALLET_WORKER_TRANSFER_BATCHES for each batch of the bank's:
     * the transfers sent in a busy hour arrive in the same hour a day
     * later, however slowly the bank answers. */
    enum qb_error err = QB_OK;
    bool go_on = true;
    for (int b = 0; go_on && (b == 0 || due->transfers.full) && b < WALLET_WORKER_TRANSFER_BATCHES;
         b++)
        go_on = worker_batch(env, pool, stopping, true, ids, &due->transfers, resolved, &err);
    if (go_on)
        go_on = worker_batch(env, pool, stopping, false, ids, &due->bank, resolved, &err);
    *more = err == QB_OK && go_on && (due->transfers.full || due->bank.full);
    free(ids);
    return err;
}

enum qb_error wallet_worker_pass(const struct domain_env *env, struct store_pool *pool,
                                 size_t *resolved)
{
    QB_ASSERT(env != NULL && pool != NULL && resolved != NULL);
    bool more = false;
    struct worker_due due = {DOMAIN_DUE_START, DOMAIN_DUE_START};
    return worker_pass(env, pool, NULL, &due, resolved, &more);
}

static enum qb_error worker_main(void *arg, const atomic_bool *stopping, bool *more)
{
    struct wallet_worker *w = arg;
    size_t resolved = 0;
    return worker_pass(w->env, w->pool, stopping, &w->due, &resolved, more);
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
    w->due = (struct worker_due){DOMAIN_DUE_START, DOMAIN_DUE_START};
    enum qb_error err = domain_worker_start(
        "wallet", domain_worker_poll_ms(env, WALLET_WORKER_POLL_MS), worker_main, w, &w->loop);
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

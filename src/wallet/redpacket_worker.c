/*
 * redpacket_worker.c — returns the unclaimed money of expired red packets.
 *
 * One thread. Every REDPACKET_WORKER_POLL_MS a pass reads up to
 * S_BATCH_MAX ids `WHERE status = ACTIVE AND refund_after_ms <= now` (the
 * partial index red_packets_due holds only ACTIVE rows: a pass costs what
 * is due, not the table) with a read connection borrowed for that read
 * alone, then submits one redpacket_expire_cmd per packet and waits for it.
 * A pass that read a full batch says it has more, and the loop runs the
 * next at once (domain_worker_start), reading on after that batch
 * (domain_due_ids' cursor): a burst of packets expiring in the same second
 * comes back at the rate the ledger refunds, not one batch per poll, and a
 * batch of packets whose refunds keep failing holds back none due later.
 *
 * The worker decides nothing: the command re-reads the packet on the
 * writer thread and refunds only an ACTIVE packet that is due, setting it
 * EXPIRED in the same transaction. A packet the worker read as due but
 * whose last share was claimed meanwhile is FINISHED by then and answers
 * CONFLICT; a second worker, a restart between read and refund, or a
 * repeated pass cannot refund twice. Nothing but the cursor lives in
 * memory between passes, so packets that expired while the daemon was stopped are found by
 * the first pass after it starts. Time comes from env->clock, like the
 * ledger's.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/crash.h"
#include "base/log.h"
#include "wallet/redpacket.h"

#define S_BATCH_MAX 64

struct redpacket_worker {
    const struct domain_env *env;
    struct store_pool *pool;
    struct domain_worker *loop;
    struct domain_due_cursor due; /* the loop's thread's alone */
};

/* Refunds one packet. False when the pass ends (domain_worker_pass_ends)
 * and the next one tries again. */
static bool S_refund(const struct domain_env *env, const char *id, size_t *refunded)
{
    struct redpacket_expire_cmd c;
    redpacket_expire_cmd_init(&c, env, id);
    enum qb_error err = ledger_execute(env->ledger, &c.cmd);
    if (err == QB_OK)
        err = c.cmd.result;
    ledger_cmd_release(&c.cmd);
    if (err != QB_OK) {
        char row[ID_TEXT_SIZE_MAX + 16];
        snprintf(row, sizeof row, "packet_id=%s", id);
        return !domain_worker_pass_ends(err, "redpacket.worker.refund_failed", row);
    }
    if (c.outcome == QB_OK) {
        QB_CRASH_POINT("redpacket.refund_committed");
        (*refunded)++;
        log_event(LOG_INFO, "redpacket.refunded", "packet_id=%s amount=%lld", id,
                  (long long)c.packet.refunded_minor);
    } else if (c.outcome == QB_E_ACCOUNT_FROZEN) {
        log_event(LOG_WARN, "redpacket.refund_deferred", "packet_id=%s reason=account_frozen", id);
    }
    return true;
}

/* Refunds up to S_BATCH_MAX due packets after *due (domain_due_ids).
 * *more: it read a full batch, so more may be due at once (a packet taken
 * up leaves the due ones: refunded, FINISHED meanwhile, or, its sender's
 * account barred, due again only after REDPACKET_RETRY_MS; one whose
 * refund fails on its own is passed over until the cursor starts over). */
static enum qb_error S_pass(const struct domain_env *env, struct store_pool *pool,
                            const atomic_bool *stopping, struct domain_due_cursor *due,
                            size_t *refunded, bool *more)
{
    *refunded = 0;
    *more = false;
    char (*ids)[ID_TEXT_SIZE_MAX] = calloc(S_BATCH_MAX, ID_TEXT_SIZE_MAX);
    if (ids == NULL)
        return QB_E_INTERNAL;
    size_t count = 0;
    enum qb_error err = domain_due_ids(pool,
                                       "SELECT id, refund_after_ms, seq FROM red_packets"
                                       " WHERE status = 1 AND refund_after_ms <= $1"
                                       " AND (refund_after_ms, seq) > ($3, $4)"
                                       " ORDER BY refund_after_ms, seq LIMIT $2",
                                       clock_now_ms(env->clock), due, ids[0], ID_TEXT_SIZE_MAX,
                                       S_BATCH_MAX, &count);
    bool ended = false;
    for (size_t i = 0; err == QB_OK && !ended && i < count; i++)
        ended = (stopping != NULL && atomic_load(stopping)) || !S_refund(env, ids[i], refunded);
    if (ended) /* the rest of the batch was not tried */
        *due = DOMAIN_DUE_START;
    *more = err == QB_OK && !ended && due->full;
    free(ids);
    return err;
}

enum qb_error redpacket_worker_pass(const struct domain_env *env, struct store_pool *pool,
                                    size_t *refunded)
{
    QB_ASSERT(env != NULL && pool != NULL && refunded != NULL);
    bool more = false;
    struct domain_due_cursor due = DOMAIN_DUE_START;
    return S_pass(env, pool, NULL, &due, refunded, &more);
}

static enum qb_error S_main(void *arg, const atomic_bool *stopping, bool *more)
{
    struct redpacket_worker *w = arg;
    size_t refunded = 0;
    return S_pass(w->env, w->pool, stopping, &w->due, &refunded, more);
}

enum qb_error redpacket_worker_start(const struct domain_env *env, struct store_pool *pool,
                                     struct redpacket_worker **out)
{
    QB_ASSERT(out != NULL);
    *out = NULL;
    if (env == NULL || env->ledger == NULL || env->clock == NULL || pool == NULL ||
        env->accounts.red_packet_escrow <= 0)
        return QB_E_PARAM;
    struct redpacket_worker *w = calloc(1, sizeof *w);
    if (w == NULL)
        return QB_E_INTERNAL;
    w->env = env;
    w->pool = pool;
    w->due = DOMAIN_DUE_START;
    enum qb_error err = domain_worker_start(
        "redpacket", domain_worker_poll_ms(env, REDPACKET_WORKER_POLL_MS), S_main, w, &w->loop);
    if (err != QB_OK) {
        free(w);
        return err;
    }
    *out = w;
    return QB_OK;
}

void redpacket_worker_stop(struct redpacket_worker *w)
{
    if (w == NULL)
        return;
    domain_worker_stop(w->loop);
    free(w);
}

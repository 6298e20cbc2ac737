/*
 * pool.h — a fixed pool of read connections.
 *
 * Owns: the read connections that HTTP threads and background workers use
 * for queries (history pages, idempotency look-ups, admin views). Reads never
 * go through the ledger executor's write connection. A pool has a fixed
 * size; acquire waits at most wait_ms for a free connection and answers
 * QB_E_BUSY after that, so a burst of reads cannot pile up without bound.
 */
#ifndef QB_STORE_POOL_H
#define QB_STORE_POOL_H

#include "store/store.h"

struct store_pool;

QB_MUST_USE enum qb_error store_pool_open(const char *url, int size, struct store_pool **out,
                                          char *err, size_t err_size);
void store_pool_close(struct store_pool *pool);
QB_MUST_USE enum qb_error store_pool_acquire(struct store_pool *pool, int64_t wait_ms,
                                             struct store **out);
void store_pool_release(struct store_pool *pool, struct store *store);
/* Opens one more read connection to the pool's database, outside the pool,
 * for a long read (a whole-ledger check) that must not hold a pooled
 * connection for minutes. The caller closes it with store_pool_close_extra
 * before it acts on what it read. */
QB_MUST_USE enum qb_error store_pool_open_extra(struct store_pool *pool, struct store **out,
                                                char *err, size_t err_size);
void store_pool_close_extra(struct store_pool *pool, struct store *store);
/* From now on, release (and close_extra) wait until every commit of the
 * writer that the borrower could have seen is durable (store.h). Set before
 * the pool is used; the horizon must outlive the pool. */
void store_pool_horizon_set(struct store_pool *pool, struct store_horizon *horizon);

#endif

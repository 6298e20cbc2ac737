/*
 * pool.c — a fixed pool of read connections.
 *
 * All connections are opened up front, so a pool that opened can always
 * serve its size in parallel and never opens files on the request path. The
 * free connections are a stack under one mutex; acquire waits on a condition
 * variable (on the monotonic clock, so a wall-clock jump cannot stretch the
 * wait) and gives up with QB_E_BUSY after wait_ms. Release rolls back any
 * transaction the borrower left open, so each acquire starts clean, and,
 * when the pool was given the writer's horizon, waits until every commit
 * the borrower could have seen is durable: borrowers read, release, and only
 * then act on what they read (answer, call a bank, notify a merchant).
 */
#include "store/pool.h"
#include "base/thread.h"
#include "store/fault_vfs.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STORE_POOL_SIZE_MAX 256

struct store_pool {
    char *url;
    pthread_mutex_t mutex;
    pthread_cond_t free_cond;
    int size;
    int free_count;
    struct store **all;       /* [size], for close and ownership checks */
    struct store **free_list; /* [free_count] usable now */
    struct store_horizon *horizon; /* NULL: the writer syncs inside its commits */
};

static void store_pool_free(struct store_pool *pool, int opened_count)
{
    for (int i = 0; i < opened_count; i++)
        store_close(pool->all[i]);
    free(pool->all);
    free(pool->free_list);
    free(pool->url);
    free(pool);
}

/* Opens size read connections to url; fails as a whole if any fails. */
enum qb_error store_pool_open(const char *url, int size, struct store_pool **out, char *err,
                              size_t err_size)
{
    QB_ASSERT(out != NULL);
    *out = NULL;
    if (size < 1 || size > STORE_POOL_SIZE_MAX) {
        if (err != NULL && err_size > 0)
            snprintf(err, err_size, "store pool: size %d is outside 1..%d", size,
                     STORE_POOL_SIZE_MAX);
        return QB_E_PARAM;
    }
    struct store_pool *pool = calloc(1, sizeof *pool);
    if (pool == NULL)
        return QB_E_STORAGE;
    pool->all = calloc((size_t)size, sizeof pool->all[0]);
    pool->free_list = calloc((size_t)size, sizeof pool->free_list[0]);
    pool->url = strdup(url);
    if (pool->all == NULL || pool->free_list == NULL || pool->url == NULL) {
        store_pool_free(pool, 0);
        return QB_E_STORAGE;
    }
    for (int i = 0; i < size; i++) {
        enum qb_error rc = store_open(url, STORE_MODE_READ, &pool->all[i], err, err_size);
        if (rc != QB_OK) {
            store_pool_free(pool, i);
            return rc;
        }
        pool->free_list[i] = pool->all[i];
    }
    pool->size = size;
    pool->free_count = size;

    pthread_mutex_init(&pool->mutex, NULL);
    thread_cond_init(&pool->free_cond);
    *out = pool;
    return QB_OK;
}

/* Closes every connection; all must have been released. */
void store_pool_close(struct store_pool *pool)
{
    if (pool == NULL)
        return;
    pthread_mutex_lock(&pool->mutex);
    QB_ASSERT(pool->free_count == pool->size); /* a connection is still borrowed */
    pthread_mutex_unlock(&pool->mutex);
    pthread_cond_destroy(&pool->free_cond);
    pthread_mutex_destroy(&pool->mutex);
    store_pool_free(pool, pool->size);
}

/* Lends a connection to the calling thread, waiting at most wait_ms (0: not
 * at all) for one to come back; QB_E_BUSY when none did. */
enum qb_error store_pool_acquire(struct store_pool *pool, int64_t wait_ms, struct store **out)
{
    QB_ASSERT(pool != NULL && out != NULL);
    QB_ASSERT(wait_ms >= 0);
    *out = NULL;
#ifdef QB_TEST_HOOKS
    if (store_fault_take(STORE_FAULT_POOL))
        return QB_E_BUSY; /* a test's armed fault (fault_vfs.h) */
#endif

    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += (time_t)(wait_ms / 1000);
    deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }

    pthread_mutex_lock(&pool->mutex);
    while (pool->free_count == 0) {
        int rc = pthread_cond_timedwait(&pool->free_cond, &pool->mutex, &deadline);
        if (rc == ETIMEDOUT && pool->free_count == 0) {
            pthread_mutex_unlock(&pool->mutex);
            return QB_E_BUSY;
        }
    }
    QB_ASSERT(pool->free_count > 0 && pool->free_count <= pool->size);
    *out = pool->free_list[--pool->free_count];
    pthread_mutex_unlock(&pool->mutex);
    return QB_OK;
}

/* Takes a connection back. A transaction left open is rolled back here, so
 * its snapshot does not pin the WAL and the next borrower starts clean. */
void store_pool_release(struct store_pool *pool, struct store *store)
{
    QB_ASSERT(pool != NULL && store != NULL);
    /* A read transaction's rollback cannot lose data; if it fails the
     * connection's next begin reports the trouble to its next borrower. */
    (void)!store_rollback(store);
    if (pool->horizon != NULL)
        store_horizon_wait(pool->horizon);

    pthread_mutex_lock(&pool->mutex);
    bool owned = false;
    for (int i = 0; i < pool->size; i++)
        owned = owned || pool->all[i] == store;
    QB_ASSERT(owned);                         /* not from this pool */
    QB_ASSERT(pool->free_count < pool->size); /* released twice */
    pool->free_list[pool->free_count++] = store;
    pthread_cond_signal(&pool->free_cond);
    pthread_mutex_unlock(&pool->mutex);
}

enum qb_error store_pool_open_extra(struct store_pool *pool, struct store **out, char *err,
                                    size_t err_size)
{
    return store_open(pool->url, STORE_MODE_READ, out, err, err_size);
}

void store_pool_close_extra(struct store_pool *pool, struct store *store)
{
    (void)!store_rollback(store);
    if (pool->horizon != NULL)
        store_horizon_wait(pool->horizon);
    store_close(store);
}

void store_pool_horizon_set(struct store_pool *pool, struct store_horizon *horizon)
{
    pool->horizon = horizon;
}

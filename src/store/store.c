/*
 * store.c — backend dispatch for the storage interface.
 *
 * The only code here that knows more than one backend is the table below:
 * store_open asks each backend in turn whether it accepts the URL and opens
 * the first that does. Everything after open goes through the connection's
 * own ops pointer, so callers never branch on the backend.
 *
 * To add a backend: 1) write src/store/store_<name>.c defining
 * store_<name>_ops with every member set (stats may be NULL); 2) declare it in store.h and add it
 * to the table below, before any backend whose accepts() would also match;
 * 3) give it migrations in schema_<name>.c; 4) add it to the backend list of
 * tests/store/test_store_contract.c so the contract suite runs against it.
 */
#include "store/store.h"

#include <stdio.h>
#include <string.h>

static const struct store_ops *const store_backends[] = {
    &store_sqlite_ops,
};

static void store_err_set(char *err, size_t err_size, const char *msg)
{
    if (err != NULL && err_size > 0)
        snprintf(err, err_size, "%s", msg);
}

/* Opens url with the first backend that accepts it; see store.h. The
 * backend's open writes its own reason into err when it refuses. */
enum qb_error store_open(const char *url, enum store_mode mode, struct store **out, char *err,
                         size_t err_size)
{
    QB_ASSERT(out != NULL);
    QB_ASSERT(mode == STORE_MODE_WRITE || mode == STORE_MODE_READ ||
              mode == STORE_MODE_READ_OFFLINE);
    *out = NULL;
    store_err_set(err, err_size, "");
    if (url == NULL || url[0] == '\0') {
        store_err_set(err, err_size, "store: no database url given");
        return QB_E_PARAM;
    }

    for (size_t i = 0; i < QB_ARRAY_COUNT(store_backends); i++) {
        const struct store_ops *ops = store_backends[i];
        if (!ops->accepts(url))
            continue;
        struct store *store = NULL;
        enum qb_error rc = ops->open(url, mode, &store);
        if (rc != QB_OK) {
            /* A backend that fails to open may still hand back a
             * half-made connection so that its reason can be read. */
            if (store != NULL) {
                store_err_set(err, err_size, store->ops->last_error(store));
                store->ops->close(store);
            } else {
                store_err_set(err, err_size, "store: cannot open the database");
            }
            return rc;
        }
        QB_ASSERT(store != NULL && store->ops == ops);
        *out = store;
        return QB_OK;
    }
    store_err_set(err, err_size, "store: no storage backend accepts this database url");
    return QB_E_PARAM;
}

void store_close(struct store *store)
{
    if (store == NULL)
        return;
    store->ops->close(store);
}

/* Steps a statement that returns no rows and resets it in every case, so a
 * failed write never leaves a statement mid-way into the next transaction. */
void store_stats_get(struct store *store, struct store_stats *out)
{
    QB_ASSERT(store != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    if (store->ops->stats != NULL)
        store->ops->stats(store, out);
}

enum qb_error store_step_done(struct store_stmt *stmt)
{
    QB_ASSERT(stmt != NULL);
    int rc = store_step(stmt);
    store_reset(stmt);
    if (rc == STORE_STEP_DONE)
        return QB_OK;
    if (rc == STORE_STEP_ROW)
        return QB_E_INTERNAL; /* the caller ran a query as if it were a write */
    QB_ASSERT(rc < 0 && -rc < QB_ERROR_COUNT);
    return (enum qb_error)-rc;
}

enum qb_error store_bind_params(struct store_stmt *stmt, const struct store_param *params,
                                size_t count)
{
    enum qb_error err = QB_OK;
    for (size_t i = 0; i < count && err == QB_OK; i++) {
        int index = (int)i + 1;
        switch (params[i].kind) {
        case STORE_PARAM_TEXT:
            err = store_bind_text(stmt, index, params[i].data, params[i].size);
            break;
        case STORE_PARAM_INT:
            err = store_bind_int64(stmt, index, params[i].value);
            break;
        case STORE_PARAM_BLOB:
            err = store_bind_blob(stmt, index, params[i].data, params[i].size);
            break;
        }
    }
    return err;
}

enum qb_error store_run(struct store *store, const char *sql, const struct store_param *params,
                        size_t count)
{
    struct store_stmt *st = NULL;
    if (store_prepare(store, sql, &st) != QB_OK)
        return QB_E_STORAGE;
    st->borrowed = true; /* params live until store_finalize below */
    enum qb_error err = store_bind_params(st, params, count);
    if (err == QB_OK)
        err = store_step_done(st);
    store_finalize(st);
    return err == QB_OK ? QB_OK : QB_E_STORAGE;
}

enum qb_error store_exists(struct store *store, const char *sql, const struct store_param *params,
                           size_t count, bool *found)
{
    QB_ASSERT(found != NULL);
    *found = false;
    struct store_stmt *st = NULL;
    if (store_prepare(store, sql, &st) != QB_OK)
        return QB_E_STORAGE;
    st->borrowed = true;
    int rc = store_bind_params(st, params, count) == QB_OK ? store_step(st) : -(int)QB_E_STORAGE;
    store_finalize(st);
    if (rc != STORE_STEP_ROW && rc != STORE_STEP_DONE)
        return QB_E_STORAGE;
    *found = rc == STORE_STEP_ROW;
    return QB_OK;
}

enum qb_error store_int64(struct store *store, const char *sql, const struct store_param *params,
                          size_t count, int64_t *out)
{
    QB_ASSERT(out != NULL);
    *out = 0;
    struct store_stmt *st = NULL;
    if (store_prepare(store, sql, &st) != QB_OK)
        return QB_E_STORAGE;
    st->borrowed = true;
    int rc = store_bind_params(st, params, count) == QB_OK ? store_step(st) : -(int)QB_E_STORAGE;
    if (rc == STORE_STEP_ROW)
        *out = store_column_int64(st, 0);
    store_finalize(st);
    return rc == STORE_STEP_ROW ? QB_OK : rc == STORE_STEP_DONE ? QB_E_NOT_FOUND : QB_E_STORAGE;
}

void store_column_text_copy(struct store_stmt *stmt, int i, char *dst, size_t dst_size)
{
    QB_ASSERT(dst != NULL && dst_size > 0);
    const char *text = store_column_text(stmt, i);
    size_t size = text != NULL ? store_column_size(stmt, i) : 0;
    if (size >= dst_size)
        size = dst_size - 1;
    if (size > 0)
        memcpy(dst, text, size);
    dst[size] = '\0';
}

void store_horizon_init(struct store_horizon *h)
{
    atomic_init(&h->committed, 0);
    atomic_init(&h->durable, 0);
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->advanced, NULL);
}

void store_horizon_destroy(struct store_horizon *h)
{
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->advanced);
}

uint64_t store_horizon_begin(struct store_horizon *h)
{
    return atomic_fetch_add_explicit(&h->committed, 1, memory_order_seq_cst) + 1;
}

void store_horizon_advance(struct store_horizon *h, uint64_t durable)
{
    QB_ASSERT(durable <= atomic_load_explicit(&h->committed, memory_order_seq_cst));
    pthread_mutex_lock(&h->lock);
    if (durable > atomic_load_explicit(&h->durable, memory_order_relaxed))
        atomic_store_explicit(&h->durable, durable, memory_order_release);
    pthread_cond_broadcast(&h->advanced);
    pthread_mutex_unlock(&h->lock);
}

void store_horizon_wait(struct store_horizon *h)
{
    uint64_t seen = atomic_load_explicit(&h->committed, memory_order_seq_cst);
    if (atomic_load_explicit(&h->durable, memory_order_acquire) >= seen)
        return;
    pthread_mutex_lock(&h->lock);
    while (atomic_load_explicit(&h->durable, memory_order_acquire) < seen)
        pthread_cond_wait(&h->advanced, &h->lock);
    pthread_mutex_unlock(&h->lock);
}

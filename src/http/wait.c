/*
 * wait.c — requests that wait for news of a wallet or a shop (a long poll).
 *
 * A request that has nothing to answer yet registers under a key (the
 * ledger's key of its owner, ledger_owner_key) and parks its connection
 * until the ledger tells of a durable batch that changed that owner
 * (ledger_watch_fn), or until its deadline, or until the server stops;
 * then its resume function runs on its HTTP thread like any other. The
 * registration comes before the caller reads the state it compares, and
 * the ledger tells only after a batch is durable and visible to readers,
 * so news can never fall between the read and the park (two fences: the
 * waiter's after its registration, before its read of the state; the
 * ledger's after its publication of the state, before it looks at
 * `waiting`).
 *
 * The waiters are in shards of lists under their own mutexes. The ledger's
 * publishing thread takes a shard's mutex for a key only when the shard
 * has waiters, and resumes each waiter of the key from under it (the lock
 * order is shard, then HTTP thread). Whoever takes a waiter out of its list
 * first (news, the deadline on the HTTP thread, the server stopping) is the
 * one that resumes it: `fired` says which. A waiter whose client left is
 * taken out by its HTTP thread (conn.c's S_conn_left), which closes the
 * connection instead of resuming it when it comes first.
 *
 * Threads: http_watch_fire on the ledger's publishing thread; the rest on
 * the request's HTTP thread, but http_watch_close (the daemon's stop).
 */
#include <pthread.h>
#include <stdatomic.h>

#include "http/internal.h"

static struct http_watch_shard *S_shard(struct http_watch *watch, uint64_t key)
{
    return &watch->shards[key % HTTP_WATCH_SHARDS];
}

static void S_unlink(struct http_watch_shard *shard, struct http_waiter *w)
{
    w->prev->next = w->next;
    w->next->prev = w->prev;
    w->prev = w->next = w;
    atomic_fetch_sub_explicit(&shard->count, 1, memory_order_relaxed);
}

void http_watch_init(struct http_watch *watch)
{
    for (size_t i = 0; i < HTTP_WATCH_SHARDS; i++) {
        struct http_watch_shard *shard = &watch->shards[i];
        pthread_mutex_init(&shard->mutex, NULL);
        shard->head.prev = shard->head.next = &shard->head;
        atomic_init(&shard->count, 0);
        shard->closed = false;
    }
    atomic_init(&watch->waiting, 0);
}

void http_watch_release(struct http_watch *watch)
{
    for (size_t i = 0; i < HTTP_WATCH_SHARDS; i++) {
        QB_ASSERT(watch->shards[i].head.next == &watch->shards[i].head);
        pthread_mutex_destroy(&watch->shards[i].mutex);
    }
}

enum qb_error http_request_watch(struct http_request *req, uint64_t key)
{
    struct http_watch *watch = &req->server->watch;
    struct http_waiter *w = &req->waiter;
    struct http_watch_shard *shard = S_shard(watch, key);
    enum qb_error err = QB_OK;
    pthread_mutex_lock(&shard->mutex);
    if (shard->closed) {
        err = QB_E_SHUTTING_DOWN;
    } else {
        int same = 0;
        for (struct http_waiter *o = shard->head.next; o != &shard->head; o = o->next)
            same += o->key == key;
        if (same >= HTTP_WAITS_PER_KEY_MAX) {
            err = QB_E_RATE_LIMITED;
        } else {
            w->key = key;
            w->req = req;
            w->fired = false;
            w->prev = shard->head.prev;
            w->next = &shard->head;
            shard->head.prev->next = w;
            shard->head.prev = w;
            atomic_fetch_add_explicit(&shard->count, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&watch->waiting, 1, memory_order_relaxed);
        }
    }
    pthread_mutex_unlock(&shard->mutex);
    /* Pairs with the ledger's (ledger_watch_set): either the caller's read
     * that follows sees the ledger's news, or the ledger sees this waiter. */
    atomic_thread_fence(memory_order_seq_cst);
    return err;
}

bool http_request_unwatch(struct http_request *req)
{
    struct http_watch *watch = &req->server->watch;
    struct http_waiter *w = &req->waiter;
    struct http_watch_shard *shard = S_shard(watch, w->key);
    pthread_mutex_lock(&shard->mutex);
    bool mine = !w->fired;
    if (mine) {
        w->fired = true;
        S_unlink(shard, w);
        atomic_fetch_sub_explicit(&watch->waiting, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&shard->mutex);
    return mine;
}

void http_request_park(struct http_request *req, int64_t due_ms, http_resume_fn resume)
{
    QB_ASSERT(resume != NULL && !req->replied);
    req->submitted = true;
    req->resumed = false;
    req->cmd = NULL;
    req->resume = resume;
    http_conn_park(req->conn, due_ms);
}

/* Resumes every waiter of the shard for which take(key) holds (shard's
 * mutex held). */
static void S_fire_locked(struct http_watch *watch, struct http_watch_shard *shard, bool all,
                          uint64_t key)
{
    for (struct http_waiter *w = shard->head.next, *next; w != &shard->head; w = next) {
        next = w->next;
        if (!all && w->key != key)
            continue;
        w->fired = true;
        S_unlink(shard, w);
        atomic_fetch_sub_explicit(&watch->waiting, 1, memory_order_relaxed);
        http_conn_resume(w->req);
    }
}

void http_watch_fire(void *arg, const uint64_t *keys, size_t count)
{
    struct http_watch *watch = arg; /* the ledger saw waiters (ledger_watch_set) */
    for (size_t i = 0; i < count; i++) {
        struct http_watch_shard *shard = S_shard(watch, keys[i]);
        if (atomic_load_explicit(&shard->count, memory_order_relaxed) == 0)
            continue;
        pthread_mutex_lock(&shard->mutex);
        S_fire_locked(watch, shard, false, keys[i]);
        pthread_mutex_unlock(&shard->mutex);
    }
}

void http_watch_close(struct http_watch *watch)
{
    for (size_t i = 0; i < HTTP_WATCH_SHARDS; i++) {
        struct http_watch_shard *shard = &watch->shards[i];
        pthread_mutex_lock(&shard->mutex);
        shard->closed = true;
        S_fire_locked(watch, shard, true, 0);
        pthread_mutex_unlock(&shard->mutex);
    }
}

int64_t http_watch_waiting(struct http_watch *watch)
{
    return atomic_load_explicit(&watch->waiting, memory_order_relaxed);
}

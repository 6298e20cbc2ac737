/*
 * ledger.c — the ledger's state and its executor.
 *
 * One writer thread owns all mutable ledger state: the accounts' working
 * balances, the open holds, the head of the hash chain. It takes commands
 * from a bounded queue in batches and, per batch:
 *
 *   1. begins one transaction and releases holds past their deadline;
 *   2. runs each command: checks its idempotency record, calls its run
 *      function, and on failure undoes exactly what that command did (the
 *      in-memory undo log back to the command's mark, and the command's
 *      savepoint if it wrote any rows);
 *   3. appends the batch's journal entries, flushes a few accounts'
 *      checkpoints and the replay mark, and commits once;
 *   4. captures the touched accounts' new state and hands the batch to the
 *      syncing thread, then goes on with the next batch.
 *
 * Durability. The write connection commits without waiting for the disk
 * (store_defer_sync), and the syncing thread makes commits durable: it takes
 * every batch committed since its last round, syncs the WAL once (one fsync
 * for all of them), advances the store's horizon, publishes the batches'
 * accounts to readers and only then calls their done callbacks. So the
 * writer executes batch N+1 while batch N waits for the disk, and nothing
 * is acknowledged before it is durable. When nothing is queued and the
 * syncer is idle the writer does the same itself (pending_inline). A commit is visible to read
 * connections before its sync: they wait on the horizon before acting
 * (store_pool_release). A failed sync stops the daemon: the batches are
 * visible already, so they can no longer be answered as failed, and a sync
 * retried after a failure proves nothing (the kernel may have dropped the
 * pages). A restart recovers what the disk kept; the clients, unanswered,
 * retry with their idempotency keys. docs/decisions/0004.
 *
 * If the commit fails nothing is acknowledged: every command of the batch
 * fails with QB_E_STORAGE and the writer waits for the batches before it to
 * complete, moves the horizon past the failed commit (readers have nothing
 * of it to wait for), then reloads its state from the database, as a
 * restart would.
 *
 * Journal entries are buffered in memory during the batch and written just
 * before commit; a command that fails simply drops its buffered entries, so
 * a command that only posts costs no savepoint at all. Savepoints are
 * opened lazily, the first time a command reaches for ledger_txn_store()
 * (a transfer does, for its payment row) or creates an account, a hold or
 * changes flags. A savepoint costs two statements and a copy of each page
 * changed under it, kept in memory (store_sqlite.c): without one, the
 * transfer benchmark's writer spent about 0.3 us a transfer less, which
 * did not pay for a second way to write rows.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/thread.h"
#include "ledger/ledger_int.h"

/* Journal rows per multi-row insert statement. */
#define LEDGER_INSERT_ROWS 32
/* Expired idempotency records are deleted IDEM_EXPIRE_CHUNK at least at a
 * time (idem_expire_due), and at most that many plus twice the records
 * made since the last chunk, a chunk at most every IDEM_EXPIRE_PAUSE_MS:
 * deleting keeps ahead of making, and a backlog (the first start with a
 * retention) is spread thin over the batches instead of weighing on each. */
#define IDEM_EXPIRE_CHUNK 256
#define IDEM_EXPIRE_PAUSE_MS 5

/* --- accounts -------------------------------------------------------------- */

#define ACCOUNT_CHUNK_SHIFT 12
#define ACCOUNT_CHUNK_SIZE (1 << ACCOUNT_CHUNK_SHIFT)
#define ACCOUNT_CHUNK_COUNT_MAX (1 << 16) /* 268 million accounts */

struct account {
    /* Fixed at creation. */
    int64_t id;
    const struct currency *currency;
    enum ledger_account_kind kind;
    int64_t floor_minor;
    uint64_t owner_key; /* ledger_owner_key of its owner: what a watcher is told */

    /* Working state: the writer thread only. */
    uint32_t flags;
    int64_t balance_minor;
    int64_t held_minor;
    int64_t last_entry_id;
    struct ledger_spent spent;
    uint64_t touched_batch;  /* batch number that last changed it */
    uint64_t flushed_batch;  /* batch number that last checkpointed it */
    int64_t dirty_since;     /* first entry not in its checkpoint; 0 when clean */
    struct account *dirty_next;
    bool in_dirty_list;

    /* Committed state for readers, behind a sequence lock. */
    _Atomic uint32_t seq;
    _Atomic uint32_t c_flags;
    _Atomic int64_t c_balance_minor;
    _Atomic int64_t c_held_minor;
    _Atomic int64_t c_last_entry_id;
    _Atomic int64_t c_spent[5]; /* struct ledger_spent, in its order */
};

/* --- holds --------------------------------------------------------------- */

struct hold {
    int64_t id; /* 0: empty slot */
    int64_t debit_account_id;
    int64_t credit_account_id;
    int64_t amount_minor;
    int64_t expires_at_ms;
};

/* Open addressing with linear probing and backward-shift deletion. */
struct hold_map {
    struct hold *slots;
    size_t capacity; /* power of two */
    size_t count;
};

struct expiry {
    int64_t at_ms;
    int64_t hold_id;
};

/* A min-heap of hold deadlines. Entries go stale when a hold resolves
 * earlier; they are skipped when popped. */
struct expiry_heap {
    struct expiry *items;
    size_t count;
    size_t capacity;
};

/* --- undo log -------------------------------------------------------------- */

enum undo_kind { UNDO_ACCOUNT, UNDO_ACCOUNT_CREATE, UNDO_HOLD_ADD, UNDO_HOLD_REMOVE };

/* An account's changing state at one moment: what undo restores, and what a
 * committed batch left, published once durable. */
struct account_state {
    struct account *account;
    uint32_t flags;
    int64_t balance_minor;
    int64_t held_minor;
    int64_t last_entry_id;
    struct ledger_spent spent;
};

struct undo {
    enum undo_kind kind;
    union {
        struct account_state acct;
        struct hold hold;
    } u;
};

/* --- batches waiting for their sync ---------------------------------------- */

/* A committed batch waiting for the sync that makes it durable. */
struct pending {
    uint64_t commit;      /* its number on the horizon */
    int64_t committed_ns; /* when its COMMIT began */
    struct ledger_cmd *cmds;
    struct account_state *accounts;
    size_t account_count;
    size_t account_capacity;
    int64_t account_total; /* accounts readers may see once it is durable */
    /* ledger_txn_owner_changed's keys, of the commands that committed */
    uint64_t *keys;
    size_t key_count;
    size_t key_capacity;
    /* The journal's newest entry once it is durable (ledger_durable_head). */
    int64_t head_entry_id;
    uint8_t head_hash[CRYPTO_SHA256_SIZE];
    /* The batch's newest ledger_txn_seal (ledger_durable_seal); 0: none. */
    int64_t seal_seq;
    uint8_t seal_mac[CRYPTO_SHA256_SIZE];
};

/* Batches committed and not yet complete, at most. The syncer takes all of
 * them in one round, so more than two are rare. */
#define LEDGER_PENDING_MAX 8

/* --- the ledger ------------------------------------------------------------ */

struct ledger_txn {
    struct ledger *ledger;
    int64_t now_ms;
    bool savepoint_open;  /* the current command has an open savepoint */
    bool storage_failed;  /* a statement failed: the whole batch must fail */
    bool answer_passes;   /* the current command's answer is not kept under its key */
    /* ledger_txn_after_batch: what runs when the batch has ended. */
    struct {
        void (*fn)(void *arg);
        void *arg;
    } after[LEDGER_AFTER_BATCH_MAX];
    size_t after_count;
    /* A record the current command kept (ledger_txn_idem_answer_set), put
     * in the index once the command has committed: a command rolled back
     * takes its row with it, and the index names only rows that exist. */
    int64_t idem_put_fingerprint, idem_put_seq; /* seq 0: none */
};

struct ledger {
    struct store *store;
    struct qb_clock *clock;
    size_t queue_max;
    size_t batch_max;
    size_t flush_per_batch; /* 0: as the replay lag needs (flush_budget) */
    int64_t replay_lag_max;
    struct ledger_options spending; /* its spending_code and spending_period only */
    int64_t spent_counted_to; /* entries up to this one are in the checkpoints' sums */

    /* Accounts: chunks never move, so readers may index them while the
     * writer appends. committed_count bounds what readers may look at. */
    struct account **chunks;
    int64_t account_count;            /* writer: working count */
    int64_t captured_count;           /* writer: accounts handed to the syncer */
    _Atomic int64_t committed_count;  /* readers: published by the syncer */

    struct hold_map holds;
    struct expiry_heap expiries;

    /* Idempotency records: the index in memory (idem.c) and the seq the
     * next record gets. */
    struct ledger_idem_index idem;
    int64_t idem_next_seq;
    int64_t idem_retention_ms; /* 0: kept forever */
    int64_t idem_expire_at_ms; /* when to look for expired records next */
    int64_t idem_chunk_next_seq; /* idem_next_seq when the last chunk went */

    /* The chain: next id and the hash of the newest entry (working). */
    int64_t next_entry_id;
    struct ledger_chain chain; /* the hash chain's key and where it begins */
    uint8_t head_hash[CRYPTO_SHA256_SIZE];

    /* This batch. */
    uint64_t batch_number;
    int64_t batch_first_entry_id;
    struct ledger_entry *entries;  /* buffered, written before commit */
    size_t entry_count;
    size_t entry_capacity;
    struct undo *undo;
    size_t undo_count;
    size_t undo_capacity;
    uint64_t *keys; /* ledger_txn_owner_changed, this batch */
    size_t key_count;
    size_t key_capacity;
    int64_t seal_seq; /* the newest ledger_txn_seal of this batch; 0: none */
    uint8_t seal_mac[CRYPTO_SHA256_SIZE];
    struct ledger_txn txn;

    /* The watcher (ledger_watch_set), told each durable batch's owners
     * in watch_keys by the one thread that publishes it. */
    _Atomic(ledger_watch_fn) watch_fn;
    void *_Atomic watch_arg;
    const _Atomic int64_t *_Atomic watch_waiting;
    uint64_t *watch_keys;
    size_t watch_key_capacity;

    /* Accounts whose checkpoint row is behind, oldest first. */
    struct account *dirty_head;
    struct account *dirty_tail;
    size_t dirty_count;
    int64_t replay_from;  /* as stored in meta */

    /* Prepared statements of the write connection. */
    struct store_stmt *st_insert_entry;
    struct store_stmt *st_insert_entries; /* LEDGER_INSERT_ROWS rows */
    unsigned char wire[LEDGER_INSERT_ROWS][LEDGER_POSTINGS_WIRE_SIZE_MAX]; /* their postings */
    struct store_stmt *st_insert_account;
    struct store_stmt *st_update_flags;
    struct store_stmt *st_flush_account;
    struct store_stmt *st_insert_hold;
    struct store_stmt *st_delete_hold;
    struct store_stmt *st_set_meta;
    struct store_stmt *st_idem_get;
    struct store_stmt *st_idem_put;
    struct store_stmt *st_idem_oldest;
    struct store_stmt *st_idem_delete;
    struct store_stmt *st_entry_kind;

    bool broken; /* state could not be reloaded after a failed commit */
#ifdef QB_TEST_HOOKS
    /* QIANBAO_TEST_BREAK=balance_check: a deliberately broken ledger that
     * lets debits cross the floor, so that the bank test can prove it
     * catches a ledger that overdraws (tests/api/test_bank.c). Compiled
     * only into the dev and asan builds (CMakePresets.json), never release. */
    bool test_break_balance_check;
#endif

    /* The queue. */
    pthread_mutex_t lock;
    pthread_cond_t nonempty;
    struct ledger_cmd *queue_head;
    struct ledger_cmd *queue_tail;
    size_t queue_depth;
    bool stopping;
    bool stopped; /* ledger_stop ran: its caller's only */
    pthread_t thread;

    /* The syncer. pending[head % MAX .. tail % MAX) are committed batches
     * the syncer completes in order; the writer fills pending[tail % MAX]
     * and then advances tail, both under sync_lock. */
    struct store_horizon *horizon;
    struct store_horizon own_horizon; /* when the options gave none */
    pthread_mutex_t sync_lock;
    pthread_cond_t sync_work; /* writer -> syncer */
    pthread_cond_t sync_room; /* syncer -> writer */
    struct pending pending[LEDGER_PENDING_MAX];
    uint64_t pending_head;
    uint64_t pending_synced; /* head <= synced <= tail: synced, not yet complete */
    uint64_t pending_tail;
    bool sync_stopping;
    bool syncer_started;
    pthread_t syncer;

    /* Statistics (relaxed atomics). */
    _Atomic uint64_t stat_commands;
    _Atomic uint64_t stat_commands_failed;
    _Atomic uint64_t stat_account_checkpoints;
    _Atomic uint64_t stat_batches;
    _Atomic uint64_t stat_entries;
    _Atomic uint64_t stat_commit_failures;
    _Atomic int64_t stat_commit_failed_at_ns; /* monotonic; 0: none since open */
    /* The writer's: when ledger.batch_failed was last logged, and the
     * failed batches since then not logged (at most a line a second: a
     * full disk fails every batch, hundreds a second). */
    int64_t batch_failed_logged_ns;
    int64_t batch_failed_unlogged;
    _Atomic int64_t stat_commit_ok_at_ns;
    /* ledger_durable_head: the newest durable entry, behind its own lock
     * (published by whoever completes a batch, read by any thread). */
    pthread_mutex_t head_lock;
    int64_t durable_head_id;
    uint8_t durable_head_hash[CRYPTO_SHA256_SIZE];
    int64_t durable_seal_seq; /* ledger_durable_seal, under head_lock too */
    uint8_t durable_seal_mac[CRYPTO_SHA256_SIZE];
    /* ledger_settled_ms: whether a batch runs (from before its first
     * command reads the clock until its commit has returned), and the
     * time the last finished batch stopped taking commands. */
    _Atomic bool batch_running;
    _Atomic int64_t settled_ms;
    /* ledger_now_ms: txn.now_ms as the writer last set it, for readers */
    _Atomic int64_t time_ms;
    bool clock_behind; /* the writer's: the clock is behind the newest entry (logged) */
    _Atomic uint64_t stat_commit_us_buckets[LEDGER_LATENCY_BUCKETS];
    _Atomic uint64_t stat_command_us_buckets[LEDGER_LATENCY_BUCKETS];
    _Atomic uint64_t stat_command_us_sum;
    _Atomic uint64_t stat_commit_us_sum;
    _Atomic uint64_t stat_commit_us_max;
    _Atomic uint64_t stat_sync_us_buckets[LEDGER_LATENCY_BUCKETS];
    _Atomic uint64_t stat_sync_us_sum;
    _Atomic uint64_t stat_batch_buckets[LEDGER_LATENCY_BUCKETS];
    _Atomic uint64_t stat_batch_sum;
    _Atomic int64_t stat_replay_lag;
    _Atomic uint64_t stat_idem_expired;
    _Atomic int64_t stat_idem_records;
};

static void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count, size);
    QB_ASSERT(p != NULL);
    return p;
}

/* Grows a writer-owned array to hold one more item. Memory exhaustion is
 * not a condition a wallet can carry on from. */
static void *grow(void *items, size_t *capacity, size_t count, size_t item_size)
{
    if (count < *capacity)
        return items;
    size_t cap = *capacity ? *capacity * 2 : 64;
    void *p = realloc(items, cap * item_size);
    QB_ASSERT(p != NULL);
    *capacity = cap;
    return p;
}

static struct account *account_at(struct ledger *ledger, int64_t id)
{
    QB_ASSERT(id >= 1);
    uint64_t index = (uint64_t)(id - 1);
    return &ledger->chunks[index >> ACCOUNT_CHUNK_SHIFT][index & (ACCOUNT_CHUNK_SIZE - 1)];
}

/* The working account, or NULL when id is not an account. */
static struct account *account_get(struct ledger *ledger, int64_t id)
{
    if (id < 1 || id > ledger->account_count)
        return NULL;
    return account_at(ledger, id);
}

static struct account *account_append(struct ledger *ledger)
{
    int64_t id = ledger->account_count + 1;
    uint64_t index = (uint64_t)(id - 1);
    uint64_t chunk = index >> ACCOUNT_CHUNK_SHIFT;
    QB_ASSERT(chunk < ACCOUNT_CHUNK_COUNT_MAX);
    if (ledger->chunks[chunk] == NULL)
        ledger->chunks[chunk] = xcalloc(ACCOUNT_CHUNK_SIZE, sizeof(struct account));
    struct account *a = account_at(ledger, id);
    /* The slot may hold an account whose creation was rolled back, or a
     * published one being reloaded after a failed commit. Readers may be
     * reading a published account right now: its committed fields behind
     * the sequence lock, and its identity (id, currency, kind, floor)
     * without one, because that never changes. So only the working fields
     * are reset here; the identity of a slot is written only before it is
     * published (account_identity_set), the committed fields only through
     * account_publish. */
    if (id > atomic_load_explicit(&ledger->committed_count, memory_order_relaxed)) {
        a->id = id;
        a->currency = NULL;
        a->kind = LEDGER_ACCOUNT_USER;
        a->floor_minor = 0;
    }
    QB_ASSERT(a->id == id);
    a->flags = 0;
    a->balance_minor = 0;
    a->held_minor = 0;
    a->last_entry_id = 0;
    a->spent = (struct ledger_spent){0};
    a->touched_batch = 0;
    a->flushed_batch = 0;
    a->dirty_since = 0;
    a->dirty_next = NULL;
    a->in_dirty_list = false;
    ledger->account_count = id;
    return a;
}

/* Sets the identity of a slot account_append returned: written when the
 * slot was never published; for a published one (a reload) it must be
 * what readers already see. False when a reloaded row disagrees. */
static bool account_identity_set(struct ledger *ledger, struct account *a,
                                 const struct currency *currency, enum ledger_account_kind kind,
                                 int64_t floor_minor, const char *owner)
{
    uint64_t owner_key = ledger_owner_key(owner);
    if (a->id > atomic_load_explicit(&ledger->committed_count, memory_order_relaxed)) {
        a->currency = currency;
        a->kind = kind;
        a->floor_minor = floor_minor;
        a->owner_key = owner_key;
        return true;
    }
    return a->currency == currency && a->kind == kind && a->floor_minor == floor_minor &&
           a->owner_key == owner_key;
}

static struct account_state account_capture(struct account *a)
{
    return (struct account_state){.account = a,
                              .flags = a->flags,
                              .balance_minor = a->balance_minor,
                              .held_minor = a->held_minor,
                              .last_entry_id = a->last_entry_id,
                              .spent = a->spent};
}

/* Makes a captured state visible to readers. One thread at a time: the
 * syncer, or the writer while the syncer has nothing (state_load). */
static void account_publish(const struct account_state *p)
{
    struct account *a = p->account;
    uint32_t seq = atomic_load_explicit(&a->seq, memory_order_relaxed);
    atomic_store_explicit(&a->seq, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&a->c_flags, p->flags, memory_order_relaxed);
    atomic_store_explicit(&a->c_balance_minor, p->balance_minor, memory_order_relaxed);
    atomic_store_explicit(&a->c_held_minor, p->held_minor, memory_order_relaxed);
    atomic_store_explicit(&a->c_last_entry_id, p->last_entry_id, memory_order_relaxed);
    const int64_t spent[5] = {p->spent.day_start_ms, p->spent.day_minor, p->spent.year,
                              p->spent.year_minor, p->spent.lifetime_minor};
    for (int i = 0; i < 5; i++)
        atomic_store_explicit(&a->c_spent[i], spent[i], memory_order_relaxed);
    atomic_store_explicit(&a->seq, seq + 2, memory_order_release);
}

enum qb_error ledger_account_view(struct ledger *ledger, int64_t account_id,
                                  struct ledger_account_view *out)
{
    if (account_id < 1 ||
        account_id > atomic_load_explicit(&ledger->committed_count, memory_order_acquire))
        return QB_E_NOT_FOUND;
    struct account *a = account_at(ledger, account_id);
    for (;;) {
        uint32_t s1 = atomic_load_explicit(&a->seq, memory_order_acquire);
        if (s1 & 1)
            continue;
        out->flags = atomic_load_explicit(&a->c_flags, memory_order_relaxed);
        out->balance_minor = atomic_load_explicit(&a->c_balance_minor, memory_order_relaxed);
        out->held_minor = atomic_load_explicit(&a->c_held_minor, memory_order_relaxed);
        out->last_entry_id = atomic_load_explicit(&a->c_last_entry_id, memory_order_relaxed);
        int64_t spent[5];
        for (int i = 0; i < 5; i++)
            spent[i] = atomic_load_explicit(&a->c_spent[i], memory_order_relaxed);
        out->spent = (struct ledger_spent){spent[0], spent[1], spent[2], spent[3], spent[4]};
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&a->seq, memory_order_relaxed) == s1)
            break;
    }
    out->id = a->id;
    out->currency = a->currency;
    out->kind = a->kind;
    out->floor_minor = a->floor_minor;
    out->available_minor = out->balance_minor - out->held_minor;
    return QB_OK;
}

static void view_from_working(const struct account *a, struct ledger_account_view *out)
{
    out->id = a->id;
    out->currency = a->currency;
    out->kind = a->kind;
    out->flags = a->flags;
    out->floor_minor = a->floor_minor;
    out->balance_minor = a->balance_minor;
    out->held_minor = a->held_minor;
    out->available_minor = a->balance_minor - a->held_minor;
    out->last_entry_id = a->last_entry_id;
    out->spent = a->spent;
}

/* --- holds --------------------------------------------------------------- */

static size_t hold_slot(const struct hold_map *m, int64_t id)
{
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 20) & (m->capacity - 1);
}

static struct hold *hold_find(struct hold_map *m, int64_t id)
{
    if (m->capacity == 0)
        return NULL;
    for (size_t i = hold_slot(m, id);; i = (i + 1) & (m->capacity - 1)) {
        if (m->slots[i].id == id)
            return &m->slots[i];
        if (m->slots[i].id == 0)
            return NULL;
    }
}

static void hold_put(struct hold_map *m, const struct hold *h)
{
    QB_ASSERT(h->id > 0);
    if ((m->count + 1) * 4 > m->capacity * 3) {
        struct hold_map bigger = {.capacity = m->capacity ? m->capacity * 2 : 1024};
        bigger.slots = xcalloc(bigger.capacity, sizeof(struct hold));
        for (size_t i = 0; i < m->capacity; i++)
            if (m->slots[i].id != 0)
                hold_put(&bigger, &m->slots[i]);
        free(m->slots);
        *m = bigger;
    }
    size_t i = hold_slot(m, h->id);
    while (m->slots[i].id != 0) {
        QB_ASSERT(m->slots[i].id != h->id);
        i = (i + 1) & (m->capacity - 1);
    }
    m->slots[i] = *h;
    m->count++;
}

static void hold_remove(struct hold_map *m, int64_t id)
{
    struct hold *slot = hold_find(m, id);
    QB_ASSERT(slot != NULL);
    size_t i = (size_t)(slot - m->slots);
    /* Backward-shift deletion keeps probe chains intact without tombstones. */
    for (size_t j = (i + 1) & (m->capacity - 1); m->slots[j].id != 0; j = (j + 1) & (m->capacity - 1)) {
        size_t home = hold_slot(m, m->slots[j].id);
        bool movable = (j > i) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].id = 0;
    m->count--;
}

static void expiry_push(struct expiry_heap *h, int64_t at_ms, int64_t hold_id)
{
    h->items = grow(h->items, &h->capacity, h->count, sizeof(struct expiry));
    size_t i = h->count++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->items[parent].at_ms <= at_ms)
            break;
        h->items[i] = h->items[parent];
        i = parent;
    }
    h->items[i] = (struct expiry){at_ms, hold_id};
}

static void expiry_pop(struct expiry_heap *h)
{
    QB_ASSERT(h->count > 0);
    struct expiry last = h->items[--h->count];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->count)
            break;
        if (child + 1 < h->count && h->items[child + 1].at_ms < h->items[child].at_ms)
            child++;
        if (h->items[child].at_ms >= last.at_ms)
            break;
        h->items[i] = h->items[child];
        i = child;
    }
    if (h->count > 0)
        h->items[i] = last;
}

/* --- undo -------------------------------------------------------------- */

static struct undo *undo_push(struct ledger *ledger, enum undo_kind kind)
{
    ledger->undo = grow(ledger->undo, &ledger->undo_capacity, ledger->undo_count, sizeof(struct undo));
    struct undo *u = &ledger->undo[ledger->undo_count++];
    u->kind = kind;
    return u;
}

/* Records an account's state before the writer changes it. */
static void undo_account(struct ledger *ledger, struct account *a)
{
    struct undo *u = undo_push(ledger, UNDO_ACCOUNT);
    u->u.acct = account_capture(a);
    a->touched_batch = ledger->batch_number;
}

/* A position to roll back to: everything a command did after it. */
struct mark {
    size_t undo_count;
    size_t key_count;
    size_t entry_count;
    int64_t next_entry_id;
    uint8_t head_hash[CRYPTO_SHA256_SIZE];
    int64_t seal_seq;
    uint8_t seal_mac[CRYPTO_SHA256_SIZE];
};

static void mark_take(struct ledger *ledger, struct mark *m)
{
    m->undo_count = ledger->undo_count;
    m->key_count = ledger->key_count;
    m->entry_count = ledger->entry_count;
    m->next_entry_id = ledger->next_entry_id;
    memcpy(m->head_hash, ledger->head_hash, CRYPTO_SHA256_SIZE);
    m->seal_seq = ledger->seal_seq;
    memcpy(m->seal_mac, ledger->seal_mac, CRYPTO_SHA256_SIZE);
}

static void mark_rollback(struct ledger *ledger, const struct mark *m)
{
    ledger->key_count = m->key_count;
    while (ledger->undo_count > m->undo_count) {
        struct undo *u = &ledger->undo[--ledger->undo_count];
        switch (u->kind) {
        case UNDO_ACCOUNT: {
            struct account *a = u->u.acct.account;
            a->flags = u->u.acct.flags;
            a->balance_minor = u->u.acct.balance_minor;
            a->held_minor = u->u.acct.held_minor;
            a->last_entry_id = u->u.acct.last_entry_id;
            a->spent = u->u.acct.spent;
            break;
        }
        case UNDO_ACCOUNT_CREATE:
            QB_ASSERT(ledger->account_count > 0);
            ledger->account_count--;
            break;
        case UNDO_HOLD_ADD:
            hold_remove(&ledger->holds, u->u.hold.id);
            break;
        case UNDO_HOLD_REMOVE:
            hold_put(&ledger->holds, &u->u.hold);
            break;
        }
    }
    ledger->entry_count = m->entry_count;
    ledger->next_entry_id = m->next_entry_id;
    memcpy(ledger->head_hash, m->head_hash, CRYPTO_SHA256_SIZE);
    ledger->seal_seq = m->seal_seq;
    memcpy(ledger->seal_mac, m->seal_mac, CRYPTO_SHA256_SIZE);
}

/* --- statements ------------------------------------------------------------ */

static enum qb_error stmt_done(struct ledger_txn *txn, struct store_stmt *stmt)
{
    enum qb_error err = store_step_done(stmt);
    if (err != QB_OK && err != QB_E_CONFLICT)
        txn->storage_failed = true;
    return err;
}

static enum qb_error bind_all_ok(struct ledger_txn *txn, enum qb_error err)
{
    if (err != QB_OK)
        txn->storage_failed = true;
    return err;
}

/* Binds values[i] to $(i+1) of stmt for each of count integers and runs it
 * to completion: the shape of most of the ledger's own writes. */
static enum qb_error stmt_run_ints(struct ledger_txn *txn, struct store_stmt *stmt,
                                   const int64_t *values, int count)
{
    for (int i = 0; i < count; i++)
        if (bind_all_ok(txn, store_bind_int64(stmt, i + 1, values[i])) != QB_OK)
            return QB_E_STORAGE;
    return stmt_done(txn, stmt);
}

/* Opens the current command's savepoint before its first row write. */
static enum qb_error txn_begin_writes(struct ledger_txn *txn)
{
    if (txn->savepoint_open)
        return QB_OK;
    enum qb_error err = store_savepoint(txn->ledger->store);
    if (err != QB_OK) {
        txn->storage_failed = true;
        return err;
    }
    txn->savepoint_open = true;
    return QB_OK;
}

struct store *ledger_txn_store(struct ledger_txn *txn)
{
    /* A failure here surfaces on the command's first statement as well;
     * storage_failed makes sure the batch fails. */
    (void)txn_begin_writes(txn);
    return txn->ledger->store;
}

int64_t ledger_txn_now_ms(struct ledger_txn *txn) { return txn->now_ms; }

void ledger_txn_answer_passes(struct ledger_txn *txn) { txn->answer_passes = true; }

int64_t ledger_now_ms(struct ledger *ledger)
{
    int64_t now_ms = clock_now_ms(ledger->clock);
    int64_t time_ms = atomic_load_explicit(&ledger->time_ms, memory_order_relaxed);
    return now_ms > time_ms ? now_ms : time_ms;
}

int64_t ledger_settled_ms(struct ledger *ledger)
{
    /* The ledger's time first: a batch that starts after the flag is read
     * below stamps its commands with its time then, no earlier than
     * now_ms (which is the newest entry's while the clock is behind it:
     * readers judge deadlines by the time commands are judged by). */
    int64_t now_ms = ledger_now_ms(ledger);
    if (!atomic_load(&ledger->batch_running))
        return now_ms;
    int64_t settled = atomic_load(&ledger->settled_ms);
    return settled < now_ms ? settled : now_ms;
}

uint64_t ledger_owner_key(const char *owner)
{
    /* FNV-1a: a key shared by two owners only wakes a watcher for nothing. */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *c = (const unsigned char *)owner; *c != '\0'; c++)
        h = (h ^ *c) * 0x100000001b3ULL;
    return h;
}

void ledger_watch_set(struct ledger *ledger, ledger_watch_fn fn, void *arg,
                      const _Atomic int64_t *waiting)
{
    QB_ASSERT(fn == NULL || waiting != NULL);
    atomic_store_explicit(&ledger->watch_waiting, waiting, memory_order_relaxed);
    atomic_store_explicit(&ledger->watch_arg, arg, memory_order_relaxed);
    atomic_store_explicit(&ledger->watch_fn, fn, memory_order_release);
}

void ledger_txn_owner_changed(struct ledger_txn *txn, const char *owner)
{
    struct ledger *ledger = txn->ledger;
    if (ledger->key_count == ledger->key_capacity)
        ledger->keys =
            grow(ledger->keys, &ledger->key_capacity, ledger->key_count, sizeof *ledger->keys);
    ledger->keys[ledger->key_count++] = ledger_owner_key(owner);
}

void ledger_txn_after_batch(struct ledger_txn *txn, void (*fn)(void *arg), void *arg)
{
    QB_ASSERT(txn != NULL && fn != NULL);
    for (size_t i = 0; i < txn->after_count; i++)
        if (txn->after[i].fn == fn && txn->after[i].arg == arg)
            return;
    QB_ASSERT(txn->after_count < LEDGER_AFTER_BATCH_MAX);
    txn->after[txn->after_count].fn = fn;
    txn->after[txn->after_count].arg = arg;
    txn->after_count++;
}

/* --- posting ------------------------------------------------------------ */

/* Whether the test-only broken build is in force (always false without
 * QB_TEST_HOOKS): the floor assertion below must then let the overdraft
 * through too, or the daemon would abort instead of showing it. */
static bool S_test_break_balance_check(const struct ledger *ledger)
{
#ifdef QB_TEST_HOOKS
    return ledger->test_break_balance_check;
#else
    (void)ledger;
    return false;
#endif
}

/* Appends an entry to the batch buffer: assigns its id, time and hash, and
 * links each posting to its account's previous entry. The caller has
 * validated everything and set each posting's amounts; this applies them to
 * the working balances. named is the entry a give-back names
 * (giveback_prepare), else NULL. Cannot fail. */
static struct ledger_entry *entry_append(struct ledger *ledger, enum ledger_entry_kind kind,
                                         uint16_t code, const char *ref, int64_t ref_entry_id,
                                         const struct ledger_entry *named, int64_t expires_at_ms,
                                         const struct ledger_posting *postings, size_t count)
{
    ledger->entries = grow(ledger->entries, &ledger->entry_capacity, ledger->entry_count,
                           sizeof(struct ledger_entry));
    struct ledger_entry *e = &ledger->entries[ledger->entry_count++];
    e->id = ledger->next_entry_id++;
    e->created_at_ms = ledger->txn.now_ms;
    e->kind = kind;
    e->code = code;
    e->ref_entry_id = ref_entry_id;
    e->expires_at_ms = expires_at_ms;
    size_t ref_size = ref ? strlen(ref) : 0;
    memcpy(e->ref, ref ? ref : "", ref_size);
    e->ref[ref_size] = '\0';
    e->posting_count = (uint8_t)count;
    for (size_t i = 0; i < count; i++) {
        struct ledger_posting *po = &e->postings[i];
        *po = postings[i];
        struct account *a = account_at(ledger, po->account_id);
        undo_account(ledger, a);
        po->currency_numeric = a->currency->numeric;
        po->prev_entry_id = a->last_entry_id;
        /* Validated by the caller; asserted again because this is where
         * the balance actually changes. */
        QB_ASSERT(!__builtin_add_overflow(a->balance_minor, po->amount_minor, &a->balance_minor));
        QB_ASSERT(!__builtin_add_overflow(a->held_minor, po->held_delta_minor, &a->held_minor));
        QB_ASSERT(a->held_minor >= 0);
        QB_ASSERT(a->floor_minor == LEDGER_FLOOR_NONE ||
                  (po->amount_minor >= 0 && po->held_delta_minor <= 0) ||
                  a->balance_minor - a->held_minor >= a->floor_minor ||
                  S_test_break_balance_check(ledger));
        po->balance_after_minor = a->balance_minor;
        a->last_entry_id = e->id;
        /* The domain checked its limits against these sums with checked
         * arithmetic before posting; a give-back was tried on a copy
         * (giveback_prepare). */
        QB_ASSERT(ledger_spent_count(&ledger->spending, a->kind, e, po, named, &a->spent));
    }
    char why[128];
    QB_ASSERT(ledger_entry_is_well_formed(e, why, sizeof why));
    ledger_entry_hash(&ledger->chain, e, ledger->head_hash, e->hash);
    memcpy(ledger->head_hash, e->hash, CRYPTO_SHA256_SIZE);
    return e;
}

static enum qb_error check_ref(const char *ref)
{
    if (ref != NULL && strlen(ref) >= LEDGER_REF_SIZE_MAX)
        return QB_E_PARAM;
    return QB_OK;
}

/* Entry id as this command sees it: in this batch's buffer or in the
 * database. QB_E_NOT_FOUND, QB_E_STORAGE. */
static enum qb_error entry_read_in_txn(struct ledger_txn *txn, int64_t id, struct ledger_entry *out)
{
    struct ledger *ledger = txn->ledger;
    if (id <= 0 || id >= ledger->next_entry_id)
        return QB_E_NOT_FOUND;
    if (id >= ledger->batch_first_entry_id) {
        *out = ledger->entries[id - ledger->batch_first_entry_id];
        return QB_OK;
    }
    enum qb_error err = ledger_entry_read(ledger->store, id, out);
    if (err == QB_OK || err == QB_E_NOT_FOUND)
        return err;
    txn->storage_failed = true;
    return QB_E_STORAGE;
}

/* Before an entry of kind and code naming ref_entry_id posts `postings`:
 * when it gives spending back (ledger_spent_gives_back), reads the entry it
 * names into *named and tries the give-back on copies of the sums, so that
 * entry_append's cannot fail. *gives_back says whether it does. QB_E_PARAM
 * when it would give back what the named entry did not spend or the sums
 * no longer hold. */
static enum qb_error giveback_prepare(struct ledger_txn *txn, enum ledger_entry_kind kind,
                                      uint16_t code, int64_t ref_entry_id,
                                      const struct ledger_posting *postings, size_t count,
                                      struct ledger_entry *named, bool *gives_back)
{
    struct ledger *ledger = txn->ledger;
    struct ledger_entry probe = {.id = ledger->next_entry_id,
                                 .created_at_ms = txn->now_ms,
                                 .kind = kind,
                                 .code = code,
                                 .ref_entry_id = ref_entry_id};
    *gives_back = ledger_spent_gives_back(&ledger->spending, &probe);
    if (!*gives_back)
        return QB_OK;
    enum qb_error err = entry_read_in_txn(txn, ref_entry_id, named);
    if (err != QB_OK)
        return err == QB_E_NOT_FOUND ? QB_E_PARAM : err;
    for (size_t i = 0; i < count; i++) {
        const struct account *a = account_at(ledger, postings[i].account_id);
        struct ledger_spent sp = a->spent;
        if (!ledger_spent_count(&ledger->spending, a->kind, &probe, &postings[i], named, &sp))
            return QB_E_PARAM;
    }
    return QB_OK;
}

/* Whether account a may take a debit that leaves it at balance - held =
 * available_after. */
static enum qb_error check_debit(const struct ledger *ledger, const struct account *a,
                                 int64_t available_after)
{
    if (a->flags & (LEDGER_ACCOUNT_DEBIT_FROZEN | LEDGER_ACCOUNT_CLOSED))
        return QB_E_ACCOUNT_FROZEN;
#ifdef QB_TEST_HOOKS
    if (ledger->test_break_balance_check)
        return QB_OK;
#else
    (void)ledger;
#endif
    if (a->floor_minor != LEDGER_FLOOR_NONE && available_after < a->floor_minor)
        return QB_E_INSUFFICIENT_BALANCE;
    return QB_OK;
}

static enum qb_error check_credit(const struct account *a)
{
    if (a->flags & (LEDGER_ACCOUNT_CREDIT_FROZEN | LEDGER_ACCOUNT_CLOSED))
        return QB_E_ACCOUNT_FROZEN;
    return QB_OK;
}

/* ledger_txn_post, the entry naming ref_entry_id (0: none). */
static enum qb_error post(struct ledger_txn *txn, uint16_t code, const char *ref,
                          int64_t ref_entry_id, const struct ledger_leg *legs, size_t leg_count,
                          int64_t *entry_id)
{
    struct ledger *ledger = txn->ledger;
    if (leg_count < 2 || leg_count > LEDGER_POSTINGS_MAX || check_ref(ref) != QB_OK ||
        ref_entry_id < 0 || ref_entry_id >= ledger->next_entry_id)
        return QB_E_PARAM;

    /* Validate every leg before touching anything: existence, distinctness,
     * non-zero amounts, zero sum per currency. */
    struct ledger_posting postings[LEDGER_POSTINGS_MAX];
    struct account *accounts[LEDGER_POSTINGS_MAX];
    for (size_t i = 0; i < leg_count; i++) {
        if (legs[i].amount_minor == 0 || legs[i].amount_minor == INT64_MIN)
            return QB_E_PARAM;
        accounts[i] = account_get(ledger, legs[i].account_id);
        if (accounts[i] == NULL)
            return QB_E_NOT_FOUND;
        for (size_t j = 0; j < i; j++)
            if (legs[j].account_id == legs[i].account_id)
                return QB_E_PARAM;
    }
    for (size_t i = 0; i < leg_count; i++) {
        ledger_int128 sum = 0;
        for (size_t j = 0; j < leg_count; j++)
            if (accounts[j]->currency == accounts[i]->currency)
                sum += legs[j].amount_minor;
        if (sum != 0)
            return QB_E_PARAM;
    }
    /* Then balances: frozen flags, floors, overflow. */
    for (size_t i = 0; i < leg_count; i++) {
        struct account *a = accounts[i];
        int64_t balance_after;
        if (__builtin_add_overflow(a->balance_minor, legs[i].amount_minor, &balance_after))
            return QB_E_OVERFLOW;
        enum qb_error err;
        if (legs[i].amount_minor < 0) {
            int64_t available_after;
            if (__builtin_sub_overflow(balance_after, a->held_minor, &available_after))
                return QB_E_OVERFLOW;
            err = check_debit(ledger, a, available_after);
        } else {
            err = check_credit(a);
        }
        if (err != QB_OK)
            return err;
        postings[i] = (struct ledger_posting){.account_id = legs[i].account_id,
                                              .amount_minor = legs[i].amount_minor};
    }
    struct ledger_entry named;
    bool gives_back = false;
    if (ref_entry_id > 0) {
        enum qb_error err = giveback_prepare(txn, LEDGER_ENTRY_TRANSFER, code, ref_entry_id,
                                             postings, leg_count, &named, &gives_back);
        if (err != QB_OK)
            return err;
    }
    struct ledger_entry *e = entry_append(ledger, LEDGER_ENTRY_TRANSFER, code, ref, ref_entry_id,
                                          gives_back ? &named : NULL, 0, postings, leg_count);
    if (entry_id)
        *entry_id = e->id;
    return QB_OK;
}

enum qb_error ledger_txn_post(struct ledger_txn *txn, uint16_t code, const char *ref,
                              const struct ledger_leg *legs, size_t leg_count, int64_t *entry_id)
{
    return post(txn, code, ref, 0, legs, leg_count, entry_id);
}

enum qb_error ledger_txn_post_back(struct ledger_txn *txn, uint16_t code, const char *ref,
                                   const struct ledger_leg *legs, size_t leg_count,
                                   int64_t spent_entry_id, int64_t *entry_id)
{
    if (spent_entry_id <= 0)
        return QB_E_PARAM;
    return post(txn, code, ref, spent_entry_id, legs, leg_count, entry_id);
}

enum qb_error ledger_txn_hold(struct ledger_txn *txn, uint16_t code, const char *ref,
                              int64_t debit_account_id, int64_t credit_account_id,
                              int64_t amount_minor, int64_t expires_at_ms, int64_t *hold_id)
{
    struct ledger *ledger = txn->ledger;
    if (amount_minor <= 0 || expires_at_ms < 0 || debit_account_id == credit_account_id ||
        check_ref(ref) != QB_OK)
        return QB_E_PARAM;
    struct account *d = account_get(ledger, debit_account_id);
    struct account *c = account_get(ledger, credit_account_id);
    if (d == NULL || c == NULL)
        return QB_E_NOT_FOUND;
    if (d->currency != c->currency)
        return QB_E_PARAM;
    int64_t held_after, available_after;
    if (__builtin_add_overflow(d->held_minor, amount_minor, &held_after) ||
        __builtin_sub_overflow(d->balance_minor, held_after, &available_after))
        return QB_E_OVERFLOW;
    enum qb_error err = check_debit(ledger, d, available_after);
    if (err == QB_OK)
        err = check_credit(c);
    if (err != QB_OK)
        return err;

    err = txn_begin_writes(txn);
    if (err != QB_OK)
        return err;
    struct ledger_posting postings[2] = {
        {.account_id = debit_account_id, .held_delta_minor = amount_minor},
        {.account_id = credit_account_id},
    };
    struct ledger_entry *e =
        entry_append(ledger, LEDGER_ENTRY_HOLD, code, ref, 0, NULL, expires_at_ms, postings, 2);
    struct hold h = {.id = e->id,
                     .debit_account_id = debit_account_id,
                     .credit_account_id = credit_account_id,
                     .amount_minor = amount_minor,
                     .expires_at_ms = expires_at_ms};
    err = stmt_run_ints(txn, ledger->st_insert_hold,
                        (const int64_t[]){h.id, h.debit_account_id, h.credit_account_id,
                                          h.amount_minor, h.expires_at_ms},
                        5);
    if (err != QB_OK) {
        txn->storage_failed = true;
        return QB_E_STORAGE;
    }
    hold_put(&ledger->holds, &h);
    undo_push(ledger, UNDO_HOLD_ADD)->u.hold = h;
    if (expires_at_ms > 0)
        expiry_push(&ledger->expiries, expires_at_ms, h.id);
    *hold_id = h.id;
    return QB_OK;
}

/* Resolves an open hold: captures amount_minor of it (kind CAPTURE) or
 * releases it (VOID, EXPIRE). */
static enum qb_error hold_resolve(struct ledger_txn *txn, int64_t hold_id, enum ledger_entry_kind kind,
                                  int64_t amount_minor, uint16_t code, const char *ref,
                                  int64_t *entry_id)
{
    struct ledger *ledger = txn->ledger;
    if (check_ref(ref) != QB_OK)
        return QB_E_PARAM;
    if (hold_id <= 0 || hold_id >= ledger->next_entry_id)
        return QB_E_NOT_FOUND;
    struct hold *found = hold_find(&ledger->holds, hold_id);
    if (found == NULL) {
        /* Resolved holds leave the map. Whether the id was a hold at all
         * is in its entry: in this batch's buffer, or in the database. */
        int64_t found_kind = 0;
        if (hold_id >= ledger->batch_first_entry_id) {
            found_kind = ledger->entries[hold_id - ledger->batch_first_entry_id].kind;
        } else {
            struct store_stmt *st = ledger->st_entry_kind;
            if (bind_all_ok(txn, store_bind_int64(st, 1, hold_id)) != QB_OK)
                return QB_E_STORAGE;
            int rc = store_step(st);
            if (rc == STORE_STEP_ROW)
                found_kind = store_column_int64(st, 0);
            else if (rc != STORE_STEP_DONE)
                txn->storage_failed = true;
            store_reset(st);
            if (txn->storage_failed)
                return QB_E_STORAGE;
        }
        return found_kind == LEDGER_ENTRY_HOLD ? QB_E_HOLD_RESOLVED : QB_E_NOT_FOUND;
    }
    struct hold h = *found;
    if (kind != LEDGER_ENTRY_EXPIRE && h.expires_at_ms > 0 && txn->now_ms >= h.expires_at_ms)
        return QB_E_HOLD_RESOLVED;
    struct account *d = account_at(ledger, h.debit_account_id);
    struct account *c = account_at(ledger, h.credit_account_id);
    if (kind == LEDGER_ENTRY_CAPTURE) {
        if (amount_minor <= 0 || amount_minor > h.amount_minor)
            return QB_E_PARAM;
        int64_t unused;
        if (__builtin_add_overflow(c->balance_minor, amount_minor, &unused))
            return QB_E_OVERFLOW;
        enum qb_error err = check_credit(c);
        if (err != QB_OK)
            return err;
    } else {
        amount_minor = 0;
    }
    struct ledger_posting postings[2] = {
        {.account_id = h.debit_account_id,
         .amount_minor = -amount_minor,
         .held_delta_minor = -h.amount_minor},
        {.account_id = h.credit_account_id, .amount_minor = amount_minor},
    };
    struct ledger_entry named;
    bool gives_back = false;
    enum qb_error err = giveback_prepare(txn, kind, code, h.id, postings, 2, &named, &gives_back);
    if (err != QB_OK)
        return err;

    err = txn_begin_writes(txn);
    if (err != QB_OK)
        return err;
    err = stmt_run_ints(txn, ledger->st_delete_hold, (const int64_t[]){h.id}, 1);
    if (err != QB_OK) {
        txn->storage_failed = true;
        return QB_E_STORAGE;
    }
    struct ledger_entry *e =
        entry_append(ledger, kind, code, ref, h.id, gives_back ? &named : NULL, 0, postings, 2);
    hold_remove(&ledger->holds, h.id);
    undo_push(ledger, UNDO_HOLD_REMOVE)->u.hold = h;
    if (entry_id)
        *entry_id = e->id;
    QB_ASSERT(d->held_minor >= 0);
    return QB_OK;
}

enum qb_error ledger_txn_capture(struct ledger_txn *txn, int64_t hold_id, int64_t amount_minor,
                                 uint16_t code, const char *ref, int64_t *entry_id)
{
    return hold_resolve(txn, hold_id, LEDGER_ENTRY_CAPTURE, amount_minor, code, ref, entry_id);
}

enum qb_error ledger_txn_void(struct ledger_txn *txn, int64_t hold_id, uint16_t code,
                              const char *ref, int64_t *entry_id)
{
    return hold_resolve(txn, hold_id, LEDGER_ENTRY_VOID, 0, code, ref, entry_id);
}

/* --- accounts in a command --------------------------------------------------- */

enum qb_error ledger_txn_account_create(struct ledger_txn *txn, const struct ledger_account_spec *spec,
                                        int64_t *account_id)
{
    struct ledger *ledger = txn->ledger;
    if (spec == NULL || spec->owner == NULL || spec->owner[0] == '\0' ||
        strlen(spec->owner) >= LEDGER_OWNER_SIZE_MAX || spec->currency == NULL ||
        spec->kind < LEDGER_ACCOUNT_USER || spec->kind > LEDGER_ACCOUNT_CREDIT ||
        (spec->flags & ~(uint32_t)(LEDGER_ACCOUNT_DEBIT_FROZEN | LEDGER_ACCOUNT_CREDIT_FROZEN |
                                   LEDGER_ACCOUNT_CLOSED)) != 0 ||
        !ledger_account_floor_allowed(spec->kind, spec->floor_minor))
        return QB_E_PARAM;
    if ((uint64_t)ledger->account_count >= (uint64_t)ACCOUNT_CHUNK_COUNT_MAX * ACCOUNT_CHUNK_SIZE)
        return QB_E_LIMIT_EXCEEDED;

    enum qb_error err = txn_begin_writes(txn);
    if (err != QB_OK)
        return err;
    int64_t id = ledger->account_count + 1;
    struct store_stmt *st = ledger->st_insert_account;
    err = bind_all_ok(txn, store_bind_int64(st, 1, id));
    if (err == QB_OK) err = bind_all_ok(txn, store_bind_text(st, 2, spec->owner, strlen(spec->owner)));
    if (err == QB_OK) err = bind_all_ok(txn, store_bind_text(st, 3, spec->currency->code, 3));
    if (err == QB_OK) err = bind_all_ok(txn, store_bind_int64(st, 4, spec->kind));
    if (err == QB_OK) err = bind_all_ok(txn, store_bind_int64(st, 5, spec->flags));
    if (err == QB_OK) err = bind_all_ok(txn, store_bind_int64(st, 6, spec->floor_minor));
    if (err == QB_OK) err = bind_all_ok(txn, store_bind_int64(st, 7, txn->now_ms));
    if (err == QB_OK)
        err = bind_all_ok(txn, store_bind_int64(st, 8,
                                                ledger_account_mac(&ledger->chain, id, spec->owner,
                                                                   spec->currency->code, spec->kind,
                                                                   spec->floor_minor)));
    if (err == QB_OK) err = stmt_done(txn, st);
    if (err != QB_OK)
        return err == QB_E_CONFLICT ? QB_E_CONFLICT : QB_E_STORAGE;

    struct account *a = account_append(ledger);
    bool fresh =
        account_identity_set(ledger, a, spec->currency, spec->kind, spec->floor_minor, spec->owner);
    QB_ASSERT(fresh); /* a new id is past every published one */
    a->flags = spec->flags;
    a->touched_batch = ledger->batch_number;
    undo_push(ledger, UNDO_ACCOUNT_CREATE);
    *account_id = id;
    return QB_OK;
}

enum qb_error ledger_txn_account_set_flags(struct ledger_txn *txn, int64_t account_id, uint32_t flags)
{
    struct ledger *ledger = txn->ledger;
    struct account *a = account_get(ledger, account_id);
    if (a == NULL)
        return QB_E_NOT_FOUND;
    if ((flags & ~(uint32_t)(LEDGER_ACCOUNT_DEBIT_FROZEN | LEDGER_ACCOUNT_CREDIT_FROZEN |
                             LEDGER_ACCOUNT_CLOSED)) != 0)
        return QB_E_PARAM;
    /* Closed is for good, and only an empty account closes. */
    bool was_closed = (a->flags & LEDGER_ACCOUNT_CLOSED) != 0;
    bool closes = (flags & LEDGER_ACCOUNT_CLOSED) != 0;
    if ((was_closed && !closes) ||
        (closes && !was_closed && (a->balance_minor != 0 || a->held_minor != 0)))
        return QB_E_CONFLICT;
    enum qb_error err = txn_begin_writes(txn);
    if (err != QB_OK)
        return err;
    err = stmt_run_ints(txn, ledger->st_update_flags, (const int64_t[]){account_id, flags}, 2);
    if (err != QB_OK)
        return QB_E_STORAGE;
    undo_account(ledger, a);
    a->flags = flags;
    return QB_OK;
}

bool ledger_txn_counts_spending(const struct ledger_txn *txn)
{
    return txn->ledger->spending.spending_code != NULL;
}

enum qb_error ledger_txn_account_get(struct ledger_txn *txn, int64_t account_id,
                                     struct ledger_account_view *out)
{
    struct account *a = account_get(txn->ledger, account_id);
    if (a == NULL)
        return QB_E_NOT_FOUND;
    view_from_working(a, out);
#ifdef QB_TEST_HOOKS
    /* The broken build drops every balance check, the domain's too: a
     * command that checks available_minor before posting (transfers do, so
     * that a refusal writes nothing) sees room for any amount. */
    if (txn->ledger->test_break_balance_check && a->floor_minor != LEDGER_FLOOR_NONE)
        out->available_minor = INT64_MAX / 4;
#endif
    return QB_OK;
}

/* --- idempotency ------------------------------------------------------------ */

static bool result_is_final(enum qb_error err)
{
    /* Transient failures are not remembered: a retry may succeed. */
    return err != QB_E_BUSY && err != QB_E_STORAGE && err != QB_E_INTERNAL &&
           err != QB_E_SHUTTING_DOWN;
}

/* Reads record seq into cmd when it is the record of cmd's principal and
 * key (*found), as the answer to replay or as a mismatch. */
static enum qb_error idem_read(struct ledger_txn *txn, struct ledger_cmd *cmd, const char *principal,
                               int64_t seq, bool *found)
{
    struct store_stmt *st = txn->ledger->st_idem_get;
    enum qb_error err = bind_all_ok(txn, store_bind_int64(st, 1, seq));
    if (err != QB_OK)
        return err;
    int rc = store_step(st);
    if (rc == STORE_STEP_ROW) {
        if (strcmp(store_column_text(st, 0), principal) == 0 &&
            strcmp(store_column_text(st, 1), cmd->idem_key) == 0) {
            *found = true;
            /* A record without a request hash answers every request
             * under its key (ledger_txn_idem_answer_set). */
            const void *hash = store_column_blob(st, 2);
            size_t hash_size = store_column_size(st, 2);
            bool same = hash_size == CRYPTO_SHA256_SIZE &&
                        (crypto_equal(hash, cmd->request_hash, CRYPTO_SHA256_SIZE) ||
                         (cmd->has_legacy_hash &&
                          crypto_equal(hash, cmd->legacy_request_hash, CRYPTO_SHA256_SIZE)));
            if (hash_size != 0 && !same) {
                cmd->result = QB_E_IDEMPOTENCY_MISMATCH;
            } else {
                int64_t result = store_column_int64(st, 3);
                cmd->result = (result >= 0 && result < QB_ERROR_COUNT) ? (enum qb_error)result
                                                                       : QB_E_INTERNAL;
                buf_reset(&cmd->response);
                size_t size = store_column_size(st, 4);
                if (size > 0 && buf_append(&cmd->response, store_column_blob(st, 4), size) != QB_OK)
                    cmd->result = QB_E_INTERNAL;
                cmd->replayed = true;
            }
        }
    } else {
        /* The index names only rows that exist. */
        txn->storage_failed = true;
        err = rc == STORE_STEP_DONE ? QB_E_INTERNAL : (enum qb_error)-rc;
    }
    store_reset(st);
    return err;
}

/* Looks the command's key up. QB_OK with *found false: run it. */
static enum qb_error idem_lookup(struct ledger_txn *txn, struct ledger_cmd *cmd, bool *found)
{
    const char *principal = cmd->idem_principal ? cmd->idem_principal : "";
    const int64_t fingerprint = cmd->idem_fingerprint;
    *found = false;
    size_t cursor = 0;
    for (int64_t seq; !*found && (seq = ledger_idem_index_next(&txn->ledger->idem, fingerprint,
                                                               &cursor)) != 0;) {
        enum qb_error err = idem_read(txn, cmd, principal, seq, found);
        if (err != QB_OK)
            return err;
    }
    return QB_OK;
}

/* Keeps a record of (principal, key): the request's hash (hash_size 0: none,
 * it answers any request under the key), its result and its answer, and
 * puts it in the index (or, inside a command, leaves that to command_run). */
static enum qb_error idem_insert(struct ledger_txn *txn, const char *principal, const char *key,
                                 int64_t fingerprint, const void *hash, size_t hash_size,
                                 enum qb_error result, const void *response, size_t response_size,
                                 bool in_command)
{
    struct ledger *ledger = txn->ledger;
    struct store_stmt *st = ledger->st_idem_put;
    const int64_t seq = ledger->idem_next_seq;
    if (in_command && txn_begin_writes(txn) != QB_OK)
        return QB_E_STORAGE;
    enum qb_error err = bind_all_ok(txn, store_bind_int64(st, 1, seq));
    if (err == QB_OK) err = bind_all_ok(txn, store_bind_int64(st, 2, fingerprint));
    if (err == QB_OK) err = bind_all_ok(txn, store_bind_text(st, 3, principal, strlen(principal)));
    if (err == QB_OK)
        err = bind_all_ok(txn, store_bind_text(st, 4, key, strlen(key)));
    if (err == QB_OK)
        err = bind_all_ok(txn, store_bind_blob(st, 5, hash_size > 0 ? hash : "", hash_size));
    if (err == QB_OK)
        err = bind_all_ok(txn, store_bind_int64(st, 6, result));
    if (err == QB_OK)
        err = bind_all_ok(txn,
                          store_bind_blob(st, 7, response != NULL ? response : "", response_size));
    if (err == QB_OK) err = bind_all_ok(txn, store_bind_int64(st, 8, txn->now_ms));
    if (err == QB_OK) err = stmt_done(txn, st);
    if (err != QB_OK) {
        txn->storage_failed = true;
        return err;
    }
    /* In the index at once, so a retry later in this batch finds it; a
     * batch that fails to commit rebuilds the index from the database. */
    ledger->idem_next_seq++;
    if (in_command) {
        QB_ASSERT(txn->idem_put_seq == 0); /* one a command */
        txn->idem_put_fingerprint = fingerprint;
        txn->idem_put_seq = seq;
    } else {
        ledger_idem_index_put(&ledger->idem, fingerprint, seq);
    }
    return QB_OK;
}

static enum qb_error idem_record(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    return idem_insert(txn, cmd->idem_principal ? cmd->idem_principal : "", cmd->idem_key,
                       cmd->idem_fingerprint, cmd->request_hash, CRYPTO_SHA256_SIZE, cmd->result,
                       cmd->response.data, cmd->response.size, false);
}

enum qb_error ledger_txn_idem_answer_set(struct ledger_txn *txn, const char *principal,
                                         const char *key, const void *response,
                                         size_t response_size, bool *found)
{
    QB_ASSERT(txn != NULL && principal != NULL && key != NULL && found != NULL);
    QB_ASSERT(response != NULL || response_size == 0);
    *found = false;
    struct ledger *ledger = txn->ledger;
    struct store_stmt *get = ledger->st_idem_get;
    const int64_t fingerprint = ledger_idem_fingerprint(principal, key);
    size_t cursor = 0;
    int64_t seq = 0;
    while (!*found && (seq = ledger_idem_index_next(&ledger->idem, fingerprint, &cursor)) != 0) {
        enum qb_error err = bind_all_ok(txn, store_bind_int64(get, 1, seq));
        if (err != QB_OK)
            return err;
        int rc = store_step(get);
        if (rc == STORE_STEP_ROW)
            *found = strcmp(store_column_text(get, 0), principal) == 0 &&
                     strcmp(store_column_text(get, 1), key) == 0;
        store_reset(get);
        if (rc != STORE_STEP_ROW) {
            /* The index names only rows that exist. */
            txn->storage_failed = true;
            return QB_E_STORAGE;
        }
    }
    if (!*found)
        return idem_insert(txn, principal, key, fingerprint, NULL, 0, QB_OK, response,
                           response_size, true);
    struct store *store = ledger_txn_store(txn);
    const struct store_param p[] = {STORE_BLOB(response_size > 0 ? response : "", response_size),
                                    STORE_INT(seq)};
    enum qb_error err = store_run(
        store, "UPDATE idempotency_records SET response = $1 WHERE seq = $2", p, QB_ARRAY_COUNT(p));
    if (err != QB_OK) {
        txn->storage_failed = true;
        return QB_E_STORAGE;
    }
    return QB_OK;
}

/* Deletes the records older than the retention, oldest first (by seq, the
 * order they were made in), IDEM_EXPIRE_CHUNK of them at least and at most
 * that many plus twice the records made since the last chunk, and raises
 * the index's floor past them. A record whose time has not come stops the
 * walk even if a later one is older (the clock stepped back): a record is
 * kept at least the retention, never less.
 *
 * Only whole chunks: deleting the few records that fall due between two
 * batches made each batch rebalance the two B-trees' oldest leaves with
 * their neighbours: with records falling due at 12,000 a second, 0.67 more
 * pages written a transfer, against 0.31 in chunks (0.16 once freed pages
 * were no longer zeroed: docs/performance.md). Until a chunk is due, the
 * writer looks again when it will be: at the latest time among the first
 * IDEM_EXPIRE_CHUNK records.
 *
 * Runs inside the batch's transaction: if it fails, the batch does, and the
 * index is rebuilt from what the database kept. */
static void idem_expire_due(struct ledger *ledger)
{
    struct ledger_txn *txn = &ledger->txn;
    if (ledger->idem_retention_ms <= 0 || txn->now_ms < ledger->idem_expire_at_ms ||
        txn->storage_failed)
        return;
    QB_ASSERT(ledger->idem_next_seq >= ledger->idem_chunk_next_seq);
    const size_t budget =
        IDEM_EXPIRE_CHUNK + 2 * (size_t)(ledger->idem_next_seq - ledger->idem_chunk_next_seq);
    const int64_t retention = ledger->idem_retention_ms;
    const int64_t cutoff = txn->now_ms - retention;
    struct store_stmt *st = ledger->st_idem_oldest;
    int64_t floor = ledger->idem.floor;
    int64_t chunk_due_at = INT64_MIN; /* the latest time among the first chunk's */
    size_t read = 0, due = 0;
    if (bind_all_ok(txn, store_bind_int64(st, 1, floor)) != QB_OK ||
        bind_all_ok(txn, store_bind_int64(st, 2, (int64_t)budget)) != QB_OK)
        return;
    int rc;
    while ((rc = store_step(st)) == STORE_STEP_ROW) {
        int64_t seq = store_column_int64(st, 0), created_at_ms = store_column_int64(st, 1);
        if (read < IDEM_EXPIRE_CHUNK && created_at_ms > chunk_due_at)
            chunk_due_at = created_at_ms;
        if (due == read && created_at_ms <= cutoff) {
            due++;
            floor = seq + 1;
        }
        read++;
        if (due < read && read >= IDEM_EXPIRE_CHUNK)
            break; /* a record not yet due, and the first chunk's times known */
    }
    store_reset(st);
    if (rc != STORE_STEP_ROW && rc != STORE_STEP_DONE) {
        txn->storage_failed = true;
        return;
    }
    if (due < IDEM_EXPIRE_CHUNK) {
        /* Not a chunk yet: look again once the first chunk is all due, or,
         * with fewer records than a chunk, after a retention. */
        ledger->idem_expire_at_ms =
            read < IDEM_EXPIRE_CHUNK ? txn->now_ms + retention : chunk_due_at + retention;
        return;
    }
    if (stmt_run_ints(txn, ledger->st_idem_delete, (const int64_t[]){floor}, 1) != QB_OK) {
        txn->storage_failed = true;
        return;
    }
    ledger_idem_index_expire(&ledger->idem, floor, due);
    atomic_fetch_add_explicit(&ledger->stat_idem_expired, due, memory_order_relaxed);
    ledger->idem_chunk_next_seq = ledger->idem_next_seq;
    /* What is left, a batch a little later. */
    ledger->idem_expire_at_ms = txn->now_ms + IDEM_EXPIRE_PAUSE_MS;
}

/* --- one command -------------------------------------------------------------- */

static void command_run(struct ledger *ledger, struct ledger_cmd *cmd)
{
    struct ledger_txn *txn = &ledger->txn;
    cmd->replayed = false;
    buf_reset(&cmd->response);
    /* Each command at the time it runs: a batch takes in commands for as
     * long as the syncer writes the one before, and one that arrived after
     * a deadline (a red packet's expiry, a day's end) must not be judged
     * and stamped by the time the batch began. Never backwards. */
    int64_t now_ms = clock_now_ms(ledger->clock);
    if (now_ms > txn->now_ms) {
        txn->now_ms = now_ms;
        atomic_store_explicit(&ledger->time_ms, now_ms, memory_order_relaxed);
    }

    if (cmd->idem_key != NULL) {
        size_t key_size = strlen(cmd->idem_key);
        if (key_size == 0 || key_size >= LEDGER_IDEM_KEY_SIZE_MAX) {
            cmd->result = QB_E_PARAM;
            return;
        }
        bool found;
        if (idem_lookup(txn, cmd, &found) != QB_OK) {
            cmd->result = QB_E_STORAGE;
            return;
        }
        if (found)
            return;
    }

    struct mark mark;
    mark_take(ledger, &mark);
    txn->savepoint_open = false;
    txn->idem_put_seq = 0;
    txn->answer_passes = false;
    if (cmd->log_request_id != NULL)
        log_set_request_id(cmd->log_request_id);
    enum qb_error result = cmd->run(txn, cmd);
    if (result == QB_OK && cmd->record != NULL && !txn->storage_failed)
        result = cmd->record(txn, cmd);
    if (cmd->log_request_id != NULL)
        log_set_request_id(NULL);
    if (txn->storage_failed)
        result = QB_E_STORAGE;
    if (result == QB_OK) {
        if (txn->savepoint_open && store_release(ledger->store) != QB_OK)
            txn->storage_failed = true, result = QB_E_STORAGE;
    } else {
        mark_rollback(ledger, &mark);
        buf_reset(&cmd->response);
        if (txn->savepoint_open && store_rollback_to(ledger->store) != QB_OK)
            txn->storage_failed = true;
    }
    txn->savepoint_open = false;
    cmd->result = result;
    if (result == QB_OK && txn->idem_put_seq != 0)
        ledger_idem_index_put(&ledger->idem, txn->idem_put_fingerprint, txn->idem_put_seq);
    txn->idem_put_seq = 0;

    if (cmd->idem_key != NULL && result_is_final(result) && !txn->answer_passes &&
        !txn->storage_failed)
        (void)idem_record(txn, cmd);
}

/* Releases every hold whose deadline has passed, each as its own EXPIRE
 * entry. Runs at the start of a batch, inside its transaction. */
static void holds_expire_due(struct ledger *ledger)
{
    struct ledger_txn *txn = &ledger->txn;
    struct expiry_heap *heap = &ledger->expiries;
    size_t expired_count = 0;
    while (heap->count > 0 && heap->items[0].at_ms <= txn->now_ms && expired_count < 4096 &&
           !txn->storage_failed) {
        struct expiry top = heap->items[0];
        expiry_pop(heap);
        struct hold *h = hold_find(&ledger->holds, top.hold_id);
        if (h == NULL || h->expires_at_ms != top.at_ms)
            continue; /* resolved before its deadline */
        struct mark mark;
        mark_take(ledger, &mark);
        txn->savepoint_open = false;
        enum qb_error err = hold_resolve(txn, top.hold_id, LEDGER_ENTRY_EXPIRE, 0, 0, NULL, NULL);
        if (err == QB_OK && txn->savepoint_open && store_release(ledger->store) != QB_OK)
            txn->storage_failed = true;
        if (err != QB_OK || txn->storage_failed) {
            mark_rollback(ledger, &mark);
            /* Keep the deadline so the next batch tries again. */
            expiry_push(heap, top.at_ms, top.hold_id);
            break;
        }
        txn->savepoint_open = false;
        expired_count++;
    }
}

/* --- the batch ---------------------------------------------------------------- */

/* Binds entry e as row `row` (0-based) of a multi-row insert. The postings
 * are encoded into wire, which must stay alive until the statement ran. */
static enum qb_error entry_bind(struct store_stmt *st, int row, const struct ledger_entry *e,
                                unsigned char *wire)
{
    size_t wire_size = ledger_postings_encode(e, wire);
    int p = row * LEDGER_ENTRY_COLUMN_COUNT;
    enum qb_error err = store_bind_int64(st, p + 1, e->id);
    if (err == QB_OK) err = store_bind_int64(st, p + 2, e->created_at_ms);
    if (err == QB_OK) err = store_bind_int64(st, p + 3, e->kind);
    if (err == QB_OK) err = store_bind_int64(st, p + 4, e->code);
    if (err == QB_OK) err = store_bind_int64(st, p + 5, e->ref_entry_id);
    if (err == QB_OK) err = store_bind_int64(st, p + 6, e->expires_at_ms);
    if (err == QB_OK) err = store_bind_text(st, p + 7, e->ref, strlen(e->ref));
    if (err == QB_OK) err = store_bind_blob(st, p + 8, wire, wire_size);
    if (err == QB_OK) err = store_bind_blob(st, p + 9, e->hash, CRYPTO_SHA256_SIZE);
    return err;
}

/* Appends the batch's entries: LEDGER_INSERT_ROWS rows per statement while
 * that many remain (one statement execution instead of many), then one at
 * a time. */
static enum qb_error entries_write(struct ledger *ledger)
{
    struct ledger_txn *txn = &ledger->txn;
    unsigned char (*wire)[LEDGER_POSTINGS_WIRE_SIZE_MAX] = ledger->wire;
    size_t i = 0;
    while (i < ledger->entry_count) {
        bool many = ledger->entry_count - i >= LEDGER_INSERT_ROWS;
        struct store_stmt *st = many ? ledger->st_insert_entries : ledger->st_insert_entry;
        int rows = many ? LEDGER_INSERT_ROWS : 1;
        for (int r = 0; r < rows; r++)
            if (bind_all_ok(txn, entry_bind(st, r, &ledger->entries[i + (size_t)r], wire[r])) != QB_OK)
                return QB_E_STORAGE;
        if (stmt_done(txn, st) != QB_OK)
            return QB_E_STORAGE;
        i += (size_t)rows;
    }
    return QB_OK;
}

static enum qb_error meta_set(struct ledger *ledger, const char *key, int64_t value)
{
    struct ledger_txn *txn = &ledger->txn;
    struct store_stmt *st = ledger->st_set_meta;
    enum qb_error err = bind_all_ok(txn, store_bind_text(st, 1, key, strlen(key)));
    if (err == QB_OK) err = bind_all_ok(txn, store_bind_int64(st, 2, value));
    if (err == QB_OK) err = stmt_done(txn, st);
    return err;
}

static enum qb_error account_flush(struct ledger *ledger, struct account *a)
{
    return stmt_run_ints(&ledger->txn, ledger->st_flush_account,
                         (const int64_t[]){a->id, a->balance_minor, a->held_minor,
                                           a->last_entry_id, a->spent.day_start_ms,
                                           a->spent.day_minor, a->spent.year,
                                           a->spent.year_minor, a->spent.lifetime_minor},
                         9);
}

/* How many of the oldest dirty accounts this batch checkpoints. Flushing
 * an account dirties a whole database page, many times the bytes of an
 * entry, so accounts are flushed no faster than the replay a restart would
 * need asks: each dirty account about once per replay_lag_max / 2 entries,
 * however often it changed, which is dirty_count / (replay_lag_max / 2)
 * flushes per entry, oldest first, and holds the replay near half its
 * bound. A fixed share of every batch flushed the same accounts far more
 * often when batches are small (eight accounts for a batch of eight
 * transfers: half the pages a commit wrote at half load). Past
 * replay_lag_max, twice the batch's entries more, which overtakes the rate
 * at which accounts get dirty. */
static size_t flush_budget(const struct ledger *ledger)
{
    size_t entries = ledger->entry_count;
    size_t budget = ledger->flush_per_batch;
    if (budget == 0) {
        size_t target = (size_t)(ledger->replay_lag_max / 2 > 0 ? ledger->replay_lag_max / 2 : 1);
        budget = (ledger->dirty_count * entries + target - 1) / target;
    }
    int64_t lag = ledger->dirty_head ? ledger->next_entry_id - ledger->dirty_head->dirty_since : 0;
    if (lag > ledger->replay_lag_max)
        budget += 2 * entries;
    return budget;
}

/* Checkpoints up to `budget` of the oldest dirty accounts (SIZE_MAX: all of
 * them) and stores where replay must begin. The accounts leave the dirty
 * list here; if the commit then fails, the state is reloaded anyway. */
static enum qb_error checkpoint_flush(struct ledger *ledger, size_t budget)
{
    for (size_t n = 0; ledger->dirty_head != NULL && n < budget; n++) {
        struct account *a = ledger->dirty_head;
        enum qb_error err = account_flush(ledger, a);
        if (err != QB_OK)
            return QB_E_STORAGE;
        atomic_fetch_add_explicit(&ledger->stat_account_checkpoints, 1, memory_order_relaxed);
        ledger->dirty_head = a->dirty_next;
        if (ledger->dirty_head == NULL)
            ledger->dirty_tail = NULL;
        ledger->dirty_count--;
        a->dirty_next = NULL;
        a->in_dirty_list = false;
        a->dirty_since = 0;
        a->flushed_batch = ledger->batch_number;
    }
    /* Accounts changed in this batch and not flushed will join the list
     * with dirty_since at this batch's first entry. */
    int64_t replay_from = ledger->dirty_head ? ledger->dirty_head->dirty_since : ledger->next_entry_id;
    for (size_t i = 0; i < ledger->undo_count && replay_from > ledger->batch_first_entry_id; i++) {
        const struct undo *u = &ledger->undo[i];
        if (u->kind == UNDO_ACCOUNT && u->u.acct.account->flushed_batch != ledger->batch_number)
            replay_from = ledger->batch_first_entry_id;
    }
    if (replay_from != ledger->replay_from) {
        enum qb_error err = meta_set(ledger, "replay_from", replay_from);
        if (err != QB_OK)
            return QB_E_STORAGE;
        ledger->replay_from = replay_from;
    }
    return QB_OK;
}

static void capture_push(struct pending *p, struct account *a)
{
    if (p->account_count == p->account_capacity)
        p->accounts = grow(p->accounts, &p->account_capacity, p->account_count, sizeof *p->accounts);
    p->accounts[p->account_count++] = account_capture(a);
}

/* After the commit: keep the batch's accounts as it left them, for the
 * syncer to publish, and put the changed ones on the dirty list. */
static void batch_capture(struct ledger *ledger, struct pending *p)
{
    p->account_count = 0;
    for (size_t i = 0; i < ledger->undo_count; i++) {
        const struct undo *u = &ledger->undo[i];
        if (u->kind != UNDO_ACCOUNT)
            continue;
        struct account *a = u->u.acct.account;
        if (a->touched_batch != ledger->batch_number)
            continue; /* captured already in this loop */
        a->touched_batch = 0;
        capture_push(p, a);
        if (!a->in_dirty_list && a->flushed_batch != ledger->batch_number) {
            a->in_dirty_list = true;
            ledger->dirty_count++;
            a->dirty_since = ledger->batch_first_entry_id;
            a->dirty_next = NULL;
            if (ledger->dirty_tail)
                ledger->dirty_tail->dirty_next = a;
            else
                ledger->dirty_head = a;
            ledger->dirty_tail = a;
        }
    }
    /* New accounts: their rows were inserted in this batch. */
    for (int64_t id = ledger->captured_count + 1; id <= ledger->account_count; id++)
        capture_push(p, account_at(ledger, id));
    ledger->captured_count = ledger->account_count;
    p->account_total = ledger->account_count;
    p->key_count = 0;
    while (ledger->key_count > p->key_capacity)
        p->keys = grow(p->keys, &p->key_capacity, p->key_capacity, sizeof *p->keys);
    if (ledger->key_count > 0)
        memcpy(p->keys, ledger->keys, ledger->key_count * sizeof *p->keys);
    p->key_count = ledger->key_count;
}

static int bucket_of(uint64_t value, int shift)
{
    int b = 0;
    while (b < LEDGER_LATENCY_BUCKETS - 1 && value > ((uint64_t)1 << (b + shift)))
        b++;
    return b;
}

bool ledger_stats_failing(const struct ledger_stats *stats, int64_t now_ns)
{
    return stats->commit_failed_at_ns > stats->commit_ok_at_ns &&
           now_ns - stats->commit_failed_at_ns < LEDGER_FAILING_NS;
}

int64_t ledger_latency_bucket_us(int i)
{
    QB_ASSERT(i >= 0 && i < LEDGER_LATENCY_BUCKETS);
    if (i == LEDGER_LATENCY_BUCKETS - 1)
        return INT64_MAX;
    return (int64_t)1 << (i + 4); /* 16 us, 32 us, ... ~262 ms */
}

int ledger_latency_bucket(uint64_t us) { return bucket_of(us, 4); }

static enum qb_error state_load(struct ledger *ledger);

/* Records a latency in a histogram of buckets (relaxed atomics). */
static void latency_add(_Atomic uint64_t *buckets, _Atomic uint64_t *sum, uint64_t us)
{
    atomic_fetch_add_explicit(&buckets[ledger_latency_bucket(us)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(sum, us, memory_order_relaxed);
}

/* Calls every done callback of a list. Done callbacks may free or resubmit
 * their command, so next is read first. */
static void commands_complete(struct ledger *ledger, struct ledger_cmd *cmds)
{
    int64_t completed_ns = clock_monotonic_ns();
    for (struct ledger_cmd *cmd = cmds, *next; cmd != NULL; cmd = next) {
        next = cmd->next;
        cmd->next = NULL;
        uint64_t command_us =
            completed_ns > cmd->submitted_ns ? (uint64_t)(completed_ns - cmd->submitted_ns) / 1000 : 0;
        latency_add(ledger->stat_command_us_buckets, &ledger->stat_command_us_sum, command_us);
        atomic_fetch_add_explicit(&ledger->stat_commands, 1, memory_order_relaxed);
        if (cmd->result != QB_OK)
            atomic_fetch_add_explicit(&ledger->stat_commands_failed, 1, memory_order_relaxed);
        cmd->done(cmd);
    }
}

/* Takes up to max queued commands (lock held); their count into *count. */
static struct ledger_cmd *queue_take_locked(struct ledger *ledger, size_t max, size_t *count)
{
    struct ledger_cmd *first = ledger->queue_head, *last = NULL;
    size_t n = 0;
    for (struct ledger_cmd *c = first; c != NULL && n < max; c = c->next) {
        last = c;
        n++;
    }
    *count = n;
    if (last == NULL)
        return NULL;
    ledger->queue_head = last->next;
    if (ledger->queue_head == NULL)
        ledger->queue_tail = NULL;
    last->next = NULL;
    ledger->queue_depth -= n;
    return first;
}

/* --- the syncer ---------------------------------------------------------------- */

/* A slot for the batch about to commit, waiting while the syncer is
 * LEDGER_PENDING_MAX batches behind. */
static struct pending *pending_claim(struct ledger *ledger)
{
    pthread_mutex_lock(&ledger->sync_lock);
    while (ledger->pending_tail - ledger->pending_head == LEDGER_PENDING_MAX)
        pthread_cond_wait(&ledger->sync_room, &ledger->sync_lock);
    struct pending *p = &ledger->pending[ledger->pending_tail % LEDGER_PENDING_MAX];
    pthread_mutex_unlock(&ledger->sync_lock);
    return p;
}

static void pending_push(struct ledger *ledger)
{
    pthread_mutex_lock(&ledger->sync_lock);
    ledger->pending_tail++;
    pthread_cond_signal(&ledger->sync_work);
    pthread_mutex_unlock(&ledger->sync_lock);
}

/* True while the syncer has batches to sync: the disk is busy. */
static bool syncer_busy(struct ledger *ledger)
{
    pthread_mutex_lock(&ledger->sync_lock);
    bool busy = ledger->pending_synced != ledger->pending_tail;
    pthread_mutex_unlock(&ledger->sync_lock);
    return busy;
}

/* Waits until the syncer has completed every committed batch. */
static void pending_drain(struct ledger *ledger)
{
    pthread_mutex_lock(&ledger->sync_lock);
    while (ledger->pending_head != ledger->pending_tail)
        pthread_cond_wait(&ledger->sync_room, &ledger->sync_lock);
    pthread_mutex_unlock(&ledger->sync_lock);
}

/* Stops the process: commits that readers may have seen, and that are
 * about to be acknowledged, are not known to be on disk, and never will be
 * by trying again. A restart recovers what the disk kept. */
_Noreturn static void sync_failed(uint64_t commit)
{
    log_event(LOG_ERROR, "ledger.sync_failed",
              "commit=%llu action=stop reason=\"the WAL could not be synced; commits after the "
              "last durable one are unacknowledged and will be what the disk kept at restart\"",
              (unsigned long long)commit);
    fflush(NULL);
    _exit(EXIT_FAILURE);
}

/* Makes every commit up to `last` durable, or stops the process. */
static void sync_through(struct ledger *ledger, uint64_t last)
{
    int64_t started_ns = clock_monotonic_ns();
    if (store_sync(ledger->store) != QB_OK)
        sync_failed(last);
    int64_t took_ns = clock_monotonic_ns() - started_ns;
    latency_add(ledger->stat_sync_us_buckets, &ledger->stat_sync_us_sum,
                took_ns > 0 ? (uint64_t)took_ns / 1000 : 0);
    store_horizon_advance(ledger->horizon, last);
}

/* Tells the watcher, if any, whose accounts the durable batch p changed
 * and whom its commands named (ledger_txn_owner_changed). */
static void pending_watch(struct ledger *ledger, const struct pending *p)
{
    ledger_watch_fn fn = atomic_load_explicit(&ledger->watch_fn, memory_order_acquire);
    if (fn == NULL)
        return;
    /* The batch is published: see ledger_watch_set. */
    atomic_thread_fence(memory_order_seq_cst);
    const _Atomic int64_t *waiting =
        atomic_load_explicit(&ledger->watch_waiting, memory_order_relaxed);
    if (atomic_load_explicit(waiting, memory_order_relaxed) == 0)
        return;
    size_t count = p->account_count + p->key_count;
    while (count > ledger->watch_key_capacity)
        ledger->watch_keys = grow(ledger->watch_keys, &ledger->watch_key_capacity,
                                  ledger->watch_key_capacity, sizeof *ledger->watch_keys);
    for (size_t k = 0; k < p->account_count; k++)
        ledger->watch_keys[k] = p->accounts[k].account->owner_key;
    if (p->key_count > 0)
        memcpy(ledger->watch_keys + p->account_count, p->keys, p->key_count * sizeof *p->keys);
    fn(atomic_load_explicit(&ledger->watch_arg, memory_order_relaxed), ledger->watch_keys, count);
}

/* A synced batch: its accounts published, its commands completed. One
 * thread at a time publishes (see pending_inline). */
static void durable_head_set(struct ledger *ledger, int64_t entry_id,
                             const uint8_t hash[CRYPTO_SHA256_SIZE], int64_t seal_seq,
                             const uint8_t seal_mac[CRYPTO_SHA256_SIZE])
{
    pthread_mutex_lock(&ledger->head_lock);
    if (entry_id > ledger->durable_head_id) {
        ledger->durable_head_id = entry_id;
        memcpy(ledger->durable_head_hash, hash, CRYPTO_SHA256_SIZE);
    }
    if (seal_seq > ledger->durable_seal_seq && seal_mac != NULL) {
        ledger->durable_seal_seq = seal_seq;
        memcpy(ledger->durable_seal_mac, seal_mac, CRYPTO_SHA256_SIZE);
    }
    pthread_mutex_unlock(&ledger->head_lock);
}

void ledger_durable_seal(struct ledger *ledger, int64_t *seq, uint8_t mac[CRYPTO_SHA256_SIZE])
{
    pthread_mutex_lock(&ledger->head_lock);
    *seq = ledger->durable_seal_seq;
    memcpy(mac, ledger->durable_seal_mac, CRYPTO_SHA256_SIZE);
    pthread_mutex_unlock(&ledger->head_lock);
}

void ledger_txn_seal(struct ledger_txn *txn, int64_t seq, const uint8_t prev[CRYPTO_SHA256_SIZE],
                     const void *record, size_t size, uint8_t mac[CRYPTO_SHA256_SIZE])
{
    struct ledger *ledger = txn->ledger;
    QB_ASSERT(seq > 0 && (record != NULL || size == 0));
    /* One chain: its records are sealed in order, each after the last. */
    QB_ASSERT(seq > ledger->seal_seq);
    ledger_chain_seal(&ledger->chain, seq, prev, record, size, mac);
    ledger->seal_seq = seq;
    memcpy(ledger->seal_mac, mac, CRYPTO_SHA256_SIZE);
}

void ledger_durable_head(struct ledger *ledger, int64_t *entry_id, uint8_t hash[CRYPTO_SHA256_SIZE])
{
    pthread_mutex_lock(&ledger->head_lock);
    *entry_id = ledger->durable_head_id;
    memcpy(hash, ledger->durable_head_hash, CRYPTO_SHA256_SIZE);
    pthread_mutex_unlock(&ledger->head_lock);
}

enum qb_error ledger_head_check(struct store *s, int64_t entry_id,
                                const uint8_t hash[CRYPTO_SHA256_SIZE], int64_t *last_entry_id)
{
    *last_entry_id = 0;
    struct store_stmt *st = NULL;
    if (store_prepare(s, "SELECT coalesce(max(id), 0) FROM entries", &st) != QB_OK ||
        store_step(st) != STORE_STEP_ROW) {
        store_finalize(st);
        return QB_E_STORAGE;
    }
    *last_entry_id = store_column_int64(st, 0);
    store_finalize(st);
    if (entry_id == 0)
        return QB_OK;
    if (*last_entry_id < entry_id)
        return QB_E_NOT_FOUND;
    st = NULL;
    if (store_prepare(s, "SELECT hash FROM entries WHERE id = $1", &st) != QB_OK ||
        store_bind_int64(st, 1, entry_id) != QB_OK) {
        store_finalize(st);
        return QB_E_STORAGE;
    }
    int rc = store_step(st);
    bool same = rc == STORE_STEP_ROW && store_column_size(st, 0) == CRYPTO_SHA256_SIZE &&
                crypto_equal(store_column_blob(st, 0), hash, CRYPTO_SHA256_SIZE);
    store_finalize(st);
    if (rc != STORE_STEP_ROW && rc != STORE_STEP_DONE)
        return QB_E_STORAGE;
    return same ? QB_OK : QB_E_CONFLICT;
}

static void pending_complete(struct ledger *ledger, struct pending *p, int64_t synced_ns)
{
    for (size_t k = 0; k < p->account_count; k++)
        account_publish(&p->accounts[k]);
    atomic_store_explicit(&ledger->committed_count, p->account_total, memory_order_release);
    uint64_t commit_us =
        synced_ns > p->committed_ns ? (uint64_t)(synced_ns - p->committed_ns) / 1000 : 0;
    latency_add(ledger->stat_commit_us_buckets, &ledger->stat_commit_us_sum, commit_us);
    if (commit_us > atomic_load_explicit(&ledger->stat_commit_us_max, memory_order_relaxed))
        atomic_store_explicit(&ledger->stat_commit_us_max, commit_us, memory_order_relaxed);
    /* Durable: the head first, so that a command's submitter who asks for
     * it once answered finds its own entries and seals in it. */
    durable_head_set(ledger, p->head_entry_id, p->head_hash, p->seal_seq, p->seal_mac);
    commands_complete(ledger, p->cmds);
    p->cmds = NULL;
    pending_watch(ledger, p);
}

/* True when the writer should sync the batch it just committed itself:
 * nothing is queued for it to run meanwhile, so handing the batch over
 * would only add a thread's wake-up to every command's wait (at 16
 * submitters in process, transfers/s halved), and the syncer is idle, so
 * nothing it publishes can interleave with the writer's. */
static bool pending_inline(struct ledger *ledger)
{
    pthread_mutex_lock(&ledger->lock);
    bool queued = ledger->queue_head != NULL;
    pthread_mutex_unlock(&ledger->lock);
    if (queued)
        return false;
    pthread_mutex_lock(&ledger->sync_lock);
    bool idle = ledger->pending_head == ledger->pending_tail;
    pthread_mutex_unlock(&ledger->sync_lock);
    return idle;
}

static void *syncer_main(void *arg)
{
    struct ledger *ledger = arg;
    for (;;) {
        pthread_mutex_lock(&ledger->sync_lock);
        while (ledger->pending_head == ledger->pending_tail && !ledger->sync_stopping)
            pthread_cond_wait(&ledger->sync_work, &ledger->sync_lock);
        uint64_t head = ledger->pending_head, tail = ledger->pending_tail;
        pthread_mutex_unlock(&ledger->sync_lock);
        if (head == tail)
            break; /* stopping, and nothing left */

        /* One sync covers every batch committed before it began. */
        sync_through(ledger, ledger->pending[(tail - 1) % LEDGER_PENDING_MAX].commit);
        int64_t synced_ns = clock_monotonic_ns();
        /* The disk is free: a writer holding its batch open commits now,
         * while these batches are published and completed. */
        pthread_mutex_lock(&ledger->sync_lock);
        ledger->pending_synced = tail;
        pthread_mutex_unlock(&ledger->sync_lock);
        pthread_mutex_lock(&ledger->lock);
        pthread_cond_signal(&ledger->nonempty);
        pthread_mutex_unlock(&ledger->lock);

        for (uint64_t i = head; i < tail; i++)
            pending_complete(ledger, &ledger->pending[i % LEDGER_PENDING_MAX], synced_ns);
        pthread_mutex_lock(&ledger->sync_lock);
        ledger->pending_head = tail;
        pthread_cond_broadcast(&ledger->sync_room);
        pthread_mutex_unlock(&ledger->sync_lock);
    }
    return NULL;
}

/* Runs one batch of commands (possibly none: expiries and checkpoints
 * still advance), commits it and hands it to the syncer; or, when it
 * fails, completes its commands with QB_E_STORAGE. */
static void batch_run(struct ledger *ledger, struct ledger_cmd *batch, size_t batch_size)
{
    struct ledger_txn *txn = &ledger->txn;
    ledger->batch_number++;
    ledger->batch_first_entry_id = ledger->next_entry_id;
    ledger->entry_count = 0;
    ledger->undo_count = 0;
    ledger->key_count = 0;
    ledger->seal_seq = 0;
    atomic_store(&ledger->batch_running, true); /* before any command reads the clock */
    /* The ledger's time never goes back, across batches as within one
     * (command_run): readers walk the journal newest first and stop at the
     * first entry older than they asked for, so one stamped before the
     * entry ahead of it (the clock set back) would hide lines. While the
     * clock is behind, entries keep the newest time; the log says so once. */
    int64_t clock_ms = clock_now_ms(ledger->clock);
    if (clock_ms >= txn->now_ms) {
        txn->now_ms = clock_ms;
        atomic_store_explicit(&ledger->time_ms, clock_ms, memory_order_relaxed);
        ledger->clock_behind = false;
    } else if (!ledger->clock_behind) {
        ledger->clock_behind = true;
        log_event(LOG_WARN, "ledger.clock_behind",
                  "behind_ms=%" PRId64 " note=\"entries keep the newest time until it passes\"",
                  txn->now_ms - clock_ms);
    }
    int64_t closed_ms = txn->now_ms; /* the ledger's time, as ledger_settled_ms reads it */
    txn->storage_failed = false;
    txn->savepoint_open = false;
    txn->after_count = 0;

    enum qb_error err = QB_OK;
    uint64_t commit = 0;
    int64_t commit_ns = 0;
    if (ledger->broken && state_load(ledger) != QB_OK)
        err = QB_E_STORAGE;
    if (err == QB_OK && store_begin(ledger->store) != QB_OK)
        err = QB_E_STORAGE;

    if (err == QB_OK) {
        holds_expire_due(ledger);
        idem_expire_due(ledger);
        struct ledger_cmd *last = NULL;
        for (struct ledger_cmd *cmd = batch; cmd != NULL && !txn->storage_failed; cmd = cmd->next) {
            command_run(ledger, cmd);
            last = cmd;
        }
        /* Group commit: while the syncer still waits for the disk, this
         * batch's sync could not start anyway, and every commit writes
         * each page it changed. So the batch takes in what arrives
         * meanwhile and commits once the syncer is free: one batch
         * waiting for the disk, one filling. Committing each batch at
         * once made them a third as large, and the pages they wrote cost
         * more than the overlap saved (docs/performance.md). */
        while (batch != NULL && !txn->storage_failed && batch_size < ledger->batch_max) {
            size_t n = 0;
            struct ledger_cmd *more = NULL;
            pthread_mutex_lock(&ledger->lock);
            while (!ledger->stopping && syncer_busy(ledger) &&
                   (more = queue_take_locked(ledger, ledger->batch_max - batch_size, &n)) == NULL)
                pthread_cond_wait(&ledger->nonempty, &ledger->lock);
            pthread_mutex_unlock(&ledger->lock);
            if (more == NULL)
                break;
            last->next = more;
            batch_size += n;
            for (struct ledger_cmd *cmd = more; cmd != NULL && !txn->storage_failed; cmd = cmd->next) {
                command_run(ledger, cmd);
                last = cmd;
            }
        }
        closed_ms = ledger_now_ms(ledger); /* no command of this batch runs later */
        if (!txn->storage_failed && entries_write(ledger) == QB_OK &&
            checkpoint_flush(ledger, flush_budget(ledger)) == QB_OK && !txn->storage_failed) {
            commit_ns = clock_monotonic_ns();
            commit = store_horizon_begin(ledger->horizon);
            err = store_commit(ledger->store) == QB_OK ? QB_OK : QB_E_STORAGE;
        } else {
            err = QB_E_STORAGE;
        }
        if (err != QB_OK && store_rollback(ledger->store) != QB_OK)
            log_event(LOG_ERROR, "ledger.rollback_failed", "error=\"%s\"",
                      store_last_error(ledger->store));
    }

    struct pending *p = NULL;
    if (err == QB_OK) {
        p = pending_claim(ledger);
        p->commit = commit;
        p->committed_ns = commit_ns;
        p->head_entry_id = ledger->next_entry_id - 1;
        memcpy(p->head_hash, ledger->head_hash, CRYPTO_SHA256_SIZE);
        p->seal_seq = ledger->seal_seq;
        memcpy(p->seal_mac, ledger->seal_mac, CRYPTO_SHA256_SIZE);
        atomic_store_explicit(&ledger->stat_commit_ok_at_ns, commit_ns, memory_order_relaxed);
        p->cmds = batch;
        batch_capture(ledger, p);
        atomic_fetch_add_explicit(&ledger->stat_entries, ledger->entry_count, memory_order_relaxed);
    } else {
        /* Nothing of this batch is acknowledged. The in-memory state may
         * hold changes the database does not: rebuild it from the
         * database, as a restart would, once the batches before it are
         * complete. */
        atomic_fetch_add_explicit(&ledger->stat_commit_failures, 1, memory_order_relaxed);
        int64_t failed_ns = clock_monotonic_ns();
        atomic_store_explicit(&ledger->stat_commit_failed_at_ns, failed_ns, memory_order_relaxed);
        if (ledger->batch_failed_logged_ns == 0 ||
            failed_ns - ledger->batch_failed_logged_ns >= 1000000000LL) {
            log_event(LOG_ERROR, "ledger.batch_failed",
                      "commands=%zu error=\"%s\" failed_batches_unlogged=%lld", batch_size,
                      store_last_error(ledger->store), (long long)ledger->batch_failed_unlogged);
            ledger->batch_failed_logged_ns = failed_ns;
            ledger->batch_failed_unlogged = 0;
        } else {
            ledger->batch_failed_unlogged++;
        }
        ledger->broken = true;
        /* A failed commit left nothing for readers to wait for: once the
         * batches before it are durable, the horizon passes it, before the
         * reload. Every read connection's release waits on the horizon,
         * and a reload takes a while on a big ledger: with a full disk
         * failing every batch, reads and /healthz would wait for one
         * reload after another. */
        pending_drain(ledger);
        if (commit != 0)
            store_horizon_advance(ledger->horizon, commit);
        if (state_load(ledger) == QB_OK)
            ledger->broken = false;
        for (struct ledger_cmd *cmd = batch; cmd != NULL; cmd = cmd->next) {
            cmd->result = QB_E_STORAGE;
            cmd->replayed = false;
            buf_reset(&cmd->response);
        }
    }
    /* Every command that ran before closed_ms is committed (visible to a
     * snapshot taken from now on) or failed: ledger_settled_ms. */
    atomic_store(&ledger->settled_ms, closed_ms);
    atomic_store(&ledger->batch_running, false);
    ledger->undo_count = 0;
    ledger->entry_count = 0;
    int64_t lag = ledger->next_entry_id - ledger->replay_from;
    atomic_store_explicit(&ledger->stat_replay_lag, lag, memory_order_relaxed);
    atomic_store_explicit(&ledger->stat_idem_records,
                          (int64_t)(ledger->idem.count - ledger->idem.expired),
                          memory_order_relaxed);
    if (batch_size > 0) {
        atomic_fetch_add_explicit(&ledger->stat_batches, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&ledger->stat_batch_buckets[bucket_of(batch_size, 0)], 1,
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(&ledger->stat_batch_sum, batch_size, memory_order_relaxed);
    }

    for (size_t i = 0; i < txn->after_count; i++)
        txn->after[i].fn(txn->after[i].arg);
    txn->after_count = 0;

    if (p != NULL && pending_inline(ledger)) {
        /* The slot stays outside [head, tail): the syncer never sees it. */
        sync_through(ledger, p->commit);
        pending_complete(ledger, p, clock_monotonic_ns());
    } else if (p != NULL) {
        pending_push(ledger);
    } else {
        commands_complete(ledger, batch);
    }
}

/* --- loading ------------------------------------------------------------------- */

static void state_clear(struct ledger *ledger)
{
    free(ledger->holds.slots);
    ledger->holds = (struct hold_map){0};
    ledger->expiries.count = 0;
    ledger->dirty_head = ledger->dirty_tail = NULL;
    ledger->dirty_count = 0;
    ledger->account_count = 0;
    ledger_idem_index_clear(&ledger->idem);
    ledger->idem_next_seq = 1;
    ledger->idem_chunk_next_seq = 1;
    ledger->idem_expire_at_ms = 0;
}

static enum qb_error load_fail(struct ledger *ledger, struct store_stmt *stmt, enum qb_error err,
                               const char *what)
{
    log_event(LOG_ERROR, "ledger.load_failed", "what=\"%s\" error=\"%s\"", what,
              store_last_error(ledger->store));
    store_finalize(stmt);
    return err;
}

struct named_entry {
    int64_t entry_id;
    int64_t account_id; /* whose checkpoint names it; 0: an open hold's HOLD entry */
};

static int named_entry_cmp(const void *a, const void *b)
{
    int64_t x = ((const struct named_entry *)a)->entry_id;
    int64_t y = ((const struct named_entry *)b)->entry_id;
    return (x > y) - (x < y);
}

/* Whether the entry e a loaded row names agrees with it: a checkpoint's
 * must post to its account with the balance it holds, an open hold's must
 * be the HOLD that made it, with its accounts, amount and deadline. */
static bool named_entry_agrees(struct ledger *ledger, const struct named_entry *named,
                               const struct ledger_entry *e)
{
    if (named->account_id != 0) {
        const struct account *a = account_at(ledger, named->account_id);
        const struct ledger_posting *po = ledger_entry_posting(e, named->account_id);
        return po != NULL && po->balance_after_minor == a->balance_minor;
    }
    const struct hold *h = hold_find(&ledger->holds, named->entry_id);
    QB_ASSERT(h != NULL); /* named from the map */
    return e->kind == LEDGER_ENTRY_HOLD && e->posting_count == 2 &&
           e->postings[0].account_id == h->debit_account_id &&
           e->postings[1].account_id == h->credit_account_id &&
           e->postings[0].held_delta_minor == h->amount_minor &&
           e->expires_at_ms == h->expires_at_ms;
}

/* Checks the loaded checkpoints and open holds against the entries they
 * name. A checkpoint's entry must post to its account with the balance it
 * holds (an account never posted to is empty); an open hold's must be its
 * HOLD. The replay skips every entry up to a checkpoint, and balances
 * moved between two checkpoints still sum to zero: without this a
 * checkpoint naming an entry of other accounts, or with money moved into
 * it, would be loaded as it stands and could be paid out before the next
 * verify, and a hold's row changed (its deadline) would be obeyed. One
 * read of an entry per account ever posted to and per open hold: in the
 * order of the journal, so that each of its pages is read once rather than
 * sought for every row, and in one transaction, so that SQLite does not
 * take and check its locks again for each. */
static enum qb_error named_entries_check(struct ledger *ledger)
{
    size_t named_max = (size_t)ledger->account_count + ledger->holds.count + 1;
    struct named_entry *named = xcalloc(named_max, sizeof(struct named_entry));
    size_t named_count = 0;
    for (int64_t id = 1; id <= ledger->account_count; id++) {
        const struct account *a = account_at(ledger, id);
        if (a->last_entry_id == 0 && (a->balance_minor != 0 || a->held_minor != 0)) {
            free(named);
            return load_fail(ledger, NULL, QB_E_INTERNAL, "checkpoint without an entry not empty");
        }
        if (a->last_entry_id != 0)
            named[named_count++] = (struct named_entry){a->last_entry_id, id};
    }
    for (size_t i = 0; i < ledger->holds.capacity; i++)
        if (ledger->holds.slots[i].id != 0)
            named[named_count++] = (struct named_entry){ledger->holds.slots[i].id, 0};
    QB_ASSERT(named_count < named_max);
    qsort(named, named_count, sizeof *named, named_entry_cmp);
    struct store_stmt *stmt = NULL;
    enum qb_error err = QB_OK;
    const char *what = NULL;
    if (store_begin(ledger->store) != QB_OK ||
        store_prepare(ledger->store, "SELECT " LEDGER_ENTRY_COLUMNS " FROM entries WHERE id = $1",
                      &stmt) != QB_OK) {
        err = QB_E_STORAGE;
        what = "prepare named entries";
    }
    struct ledger_entry e = {.id = 0};
    for (size_t i = 0; i < named_count && err == QB_OK; i++) {
        if (named[i].entry_id != e.id) {
            int rc = STORE_STEP_DONE;
            if (store_bind_int64(stmt, 1, named[i].entry_id) != QB_OK ||
                ((rc = store_step(stmt)) != STORE_STEP_ROW && rc != STORE_STEP_DONE)) {
                err = QB_E_STORAGE;
                what = "read named entries";
                break;
            }
            if (rc == STORE_STEP_DONE || ledger_entry_from_row(stmt, &e) != QB_OK ||
                e.id != named[i].entry_id) {
                err = QB_E_INTERNAL;
                what = named[i].account_id != 0 ? "checkpoint names no entry of the journal"
                                                : "hold row names no entry of the journal";
                break;
            }
            store_reset(stmt);
        }
        if (!named_entry_agrees(ledger, &named[i], &e)) {
            err = QB_E_INTERNAL;
            what = named[i].account_id != 0 ? "checkpoint disagrees with its entry"
                                            : "hold row disagrees with its entry";
        }
    }
    free(named);
    if (err != QB_OK)
        err = load_fail(ledger, stmt, err, what);
    else
        store_finalize(stmt);
    /* It wrote nothing: a failure to end it is the storage's. */
    if (store_rollback(ledger->store) != QB_OK && err == QB_OK)
        err = load_fail(ledger, NULL, QB_E_STORAGE, "end of named entries");
    return err;
}

/* Rebuilds the writer's state from the database: accounts from their
 * checkpoint rows, open holds, then the journal from meta.replay_from on.
 * Runs at open and after a failed commit. */
static enum qb_error state_load(struct ledger *ledger)
{
    struct store *s = ledger->store;
    struct store_stmt *stmt = NULL;
    int rc;
    /* The syncer publishes and reads what batches captured: nothing may be
     * pending while the state is rebuilt. */
    pending_drain(ledger);
    state_clear(ledger);

    /* Accounts. Ids are dense from 1: the ledger assigns them. */
    if (store_prepare(s,
                      "SELECT id, currency, kind, flags, floor_minor, balance_minor, "
                      "held_minor, last_entry_id, spent_day_start_ms, spent_day_minor, "
                      "spent_year, spent_year_minor, spent_lifetime_minor, owner, mac "
                      "FROM accounts ORDER BY id",
                      &stmt) != QB_OK)
        return load_fail(ledger, stmt, QB_E_STORAGE, "prepare accounts");
    while ((rc = store_step(stmt)) == STORE_STEP_ROW) {
        struct account *a = account_append(ledger);
        int64_t kind = store_column_int64(stmt, 2);
        const struct currency *currency = currency_find(store_column_text(stmt, 1));
        if (store_column_int64(stmt, 0) != a->id || currency == NULL ||
            kind < LEDGER_ACCOUNT_USER || kind > LEDGER_ACCOUNT_CREDIT)
            return load_fail(ledger, stmt, QB_E_INTERNAL, "account row malformed");
        const char *owner = store_column_text(stmt, 13);
        if (owner == NULL)
            return load_fail(ledger, stmt, QB_E_INTERNAL, "account row malformed");
        /* Whose account it is, and the rest written once: nothing in the
         * journal names them, the key ties them to the row. */
        if (store_column_is_null(stmt, 14) ||
            store_column_int64(stmt, 14) != ledger_account_mac(&ledger->chain, a->id, owner,
                                                               currency->code, kind,
                                                               store_column_int64(stmt, 4)))
            return load_fail(ledger, stmt, QB_E_INTERNAL,
                             "account row not the chain key's (owner, kind, currency or floor)");
        /* Outside the hash chain like the checkpoint: a floor lowered by
         * hand would let the account overdraw. */
        if (!ledger_account_floor_allowed((enum ledger_account_kind)kind,
                                          store_column_int64(stmt, 4)))
            return load_fail(ledger, stmt, QB_E_INTERNAL, "account floor its kind does not allow");
        if (!account_identity_set(ledger, a, currency, (enum ledger_account_kind)kind,
                                  store_column_int64(stmt, 4), owner))
            return load_fail(ledger, stmt, QB_E_INTERNAL, "account row changed under a reader");
        a->flags = (uint32_t)store_column_int64(stmt, 3);
        a->balance_minor = store_column_int64(stmt, 5);
        a->held_minor = store_column_int64(stmt, 6);
        a->last_entry_id = store_column_int64(stmt, 7);
        a->spent = (struct ledger_spent){store_column_int64(stmt, 8), store_column_int64(stmt, 9),
                                         store_column_int64(stmt, 10), store_column_int64(stmt, 11),
                                         store_column_int64(stmt, 12)};
    }
    if (rc != STORE_STEP_DONE)
        return load_fail(ledger, stmt, QB_E_STORAGE, "read accounts");
    store_finalize(stmt);
    stmt = NULL;

    /* Open holds. */
    if (store_prepare(s, "SELECT id, debit_account_id, credit_account_id, amount_minor, "
                         "expires_at_ms FROM holds", &stmt) != QB_OK)
        return load_fail(ledger, stmt, QB_E_STORAGE, "prepare holds");
    while ((rc = store_step(stmt)) == STORE_STEP_ROW) {
        struct hold h = {.id = store_column_int64(stmt, 0),
                         .debit_account_id = store_column_int64(stmt, 1),
                         .credit_account_id = store_column_int64(stmt, 2),
                         .amount_minor = store_column_int64(stmt, 3),
                         .expires_at_ms = store_column_int64(stmt, 4)};
        if (h.id <= 0 || account_get(ledger, h.debit_account_id) == NULL ||
            account_get(ledger, h.credit_account_id) == NULL || h.amount_minor <= 0 ||
            hold_find(&ledger->holds, h.id) != NULL)
            return load_fail(ledger, stmt, QB_E_INTERNAL, "hold row malformed");
        hold_put(&ledger->holds, &h);
        if (h.expires_at_ms > 0)
            expiry_push(&ledger->expiries, h.expires_at_ms, h.id);
    }
    if (rc != STORE_STEP_DONE)
        return load_fail(ledger, stmt, QB_E_STORAGE, "read holds");
    store_finalize(stmt);
    stmt = NULL;

    enum qb_error checked = named_entries_check(ledger);
    if (checked != QB_OK)
        return checked;

    /* Idempotency records: the index from their fingerprints. */
    if (store_prepare(s, "SELECT seq, fingerprint FROM idempotency_records "
                         "INDEXED BY idempotency_fingerprints ORDER BY seq", &stmt) != QB_OK)
        return load_fail(ledger, stmt, QB_E_STORAGE, "prepare idempotency records");
    while ((rc = store_step(stmt)) == STORE_STEP_ROW) {
        int64_t seq = store_column_int64(stmt, 0);
        if (seq < ledger->idem_next_seq)
            return load_fail(ledger, stmt, QB_E_INTERNAL, "idempotency record malformed");
        ledger_idem_index_put(&ledger->idem, store_column_int64(stmt, 1), seq);
        ledger->idem_next_seq = seq + 1;
    }
    if (rc != STORE_STEP_DONE)
        return load_fail(ledger, stmt, QB_E_STORAGE, "read idempotency records");
    store_finalize(stmt);
    stmt = NULL;
    atomic_store_explicit(&ledger->stat_idem_records, (int64_t)ledger->idem.count,
                          memory_order_relaxed);
    ledger->idem_chunk_next_seq = ledger->idem_next_seq;

    /* Where replay starts, and the hash just before it. */
    if (store_prepare(s, "SELECT value FROM meta WHERE key = 'replay_from'", &stmt) != QB_OK ||
        store_step(stmt) != STORE_STEP_ROW)
        return load_fail(ledger, stmt, QB_E_STORAGE, "read replay_from");
    int64_t replay_from = store_column_int64(stmt, 0);
    store_finalize(stmt);
    stmt = NULL;
    /* Entries the spending sums of the checkpoints already hold whatever
     * their accounts' last_entry_id (schema version 11 brought them in). */
    if (store_prepare(s, "SELECT value FROM meta WHERE key = 'spent_counted_to'", &stmt) != QB_OK ||
        store_step(stmt) != STORE_STEP_ROW)
        return load_fail(ledger, stmt, QB_E_STORAGE, "read spent_counted_to");
    ledger->spent_counted_to = store_column_int64(stmt, 0);
    store_finalize(stmt);
    stmt = NULL;
    if (replay_from < 1)
        return load_fail(ledger, NULL, QB_E_INTERNAL, "replay_from out of range");
    /* The entry just before the replay is re-hashed too, so that the newest
     * entry is always checked at start even when nothing is replayed. The
     * whole chain is ledger_verify's job (qianbaod --verify), which reads
     * every entry and would make a restart grow with the journal. */
    memset(ledger->head_hash, 0, CRYPTO_SHA256_SIZE);
    if (replay_from > 1) {
        struct ledger_entry before = {.id = 0};
        uint8_t prev_hash[CRYPTO_SHA256_SIZE] = {0};
        if (store_prepare(s, "SELECT " LEDGER_ENTRY_COLUMNS " FROM entries WHERE id >= $1 "
                             "AND id < $2 ORDER BY id", &stmt) != QB_OK ||
            store_bind_int64(stmt, 1, replay_from - 2) != QB_OK ||
            store_bind_int64(stmt, 2, replay_from) != QB_OK)
            return load_fail(ledger, stmt, QB_E_STORAGE, "prepare entry before replay_from");
        while ((rc = store_step(stmt)) == STORE_STEP_ROW) {
            if (ledger_entry_from_row(stmt, &before) != QB_OK)
                return load_fail(ledger, stmt, QB_E_INTERNAL, "journal row malformed");
            if (before.id == replay_from - 2)
                memcpy(prev_hash, before.hash, CRYPTO_SHA256_SIZE);
        }
        if (rc != STORE_STEP_DONE || before.id != replay_from - 1)
            return load_fail(ledger, stmt, QB_E_INTERNAL, "entry before replay_from missing");
        uint8_t hash[CRYPTO_SHA256_SIZE];
        ledger_entry_hash(&ledger->chain, &before, prev_hash, hash);
        if (!crypto_equal(hash, before.hash, CRYPTO_SHA256_SIZE))
            return load_fail(ledger, stmt, QB_E_INTERNAL, "hash chain broken before replay_from");
        memcpy(ledger->head_hash, before.hash, CRYPTO_SHA256_SIZE);
        store_finalize(stmt);
        stmt = NULL;
    }

    /* Replay: each entry must continue the chain; each posting applies to
     * its account only when newer than the account's checkpoint, and then
     * must continue that account's own chain exactly. */
    if (store_prepare(s, "SELECT " LEDGER_ENTRY_COLUMNS " FROM entries WHERE id >= $1 ORDER BY id",
                      &stmt) != QB_OK ||
        store_bind_int64(stmt, 1, replay_from) != QB_OK)
        return load_fail(ledger, stmt, QB_E_STORAGE, "prepare replay");
    int64_t expect_id = replay_from;
    struct ledger_entry e;
    char why[160];
    while ((rc = store_step(stmt)) == STORE_STEP_ROW) {
        if (ledger_entry_from_row(stmt, &e) != QB_OK || e.id != expect_id)
            return load_fail(ledger, stmt, QB_E_INTERNAL, "journal row malformed or missing");
        uint8_t hash[CRYPTO_SHA256_SIZE];
        ledger_entry_hash(&ledger->chain, &e, ledger->head_hash, hash);
        if (!crypto_equal(hash, e.hash, CRYPTO_SHA256_SIZE))
            return load_fail(ledger, stmt, QB_E_INTERNAL, "hash chain broken");
        if (!ledger_entry_is_well_formed(&e, why, sizeof why))
            return load_fail(ledger, stmt, QB_E_INTERNAL, why);
        /* A give-back's sums are those of the entry it names. */
        struct ledger_entry named;
        bool gives_back = ledger_spent_gives_back(&ledger->spending, &e);
        if (gives_back && ledger_entry_read(s, e.ref_entry_id, &named) != QB_OK)
            return load_fail(ledger, stmt, QB_E_INTERNAL, "the entry a give-back names is missing");
        for (size_t i = 0; i < e.posting_count; i++) {
            const struct ledger_posting *po = &e.postings[i];
            struct account *a = account_get(ledger, po->account_id);
            if (a == NULL || a->currency->numeric != po->currency_numeric)
                return load_fail(ledger, stmt, QB_E_INTERNAL, "posting to unknown account");
            if (e.id <= a->last_entry_id)
                continue;
            if (po->prev_entry_id != a->last_entry_id ||
                __builtin_add_overflow(a->balance_minor, po->amount_minor, &a->balance_minor) ||
                a->balance_minor != po->balance_after_minor ||
                __builtin_add_overflow(a->held_minor, po->held_delta_minor, &a->held_minor))
                return load_fail(ledger, stmt, QB_E_INTERNAL, "account chain broken in replay");
            if (e.id > ledger->spent_counted_to &&
                !ledger_spent_count(&ledger->spending, a->kind, &e, po, gives_back ? &named : NULL,
                                    &a->spent))
                return load_fail(ledger, stmt, QB_E_INTERNAL,
                                 "spending sum overflows, or gives back more, in replay");
            a->last_entry_id = e.id;
            if (!a->in_dirty_list) {
                /* Its checkpoint is behind: flush it again in due course. */
                a->in_dirty_list = true;
                ledger->dirty_count++;
                a->dirty_since = e.id;
                if (ledger->dirty_tail)
                    ledger->dirty_tail->dirty_next = a;
                else
                    ledger->dirty_head = a;
                ledger->dirty_tail = a;
            }
        }
        memcpy(ledger->head_hash, e.hash, CRYPTO_SHA256_SIZE);
        expect_id++;
    }
    if (rc != STORE_STEP_DONE)
        return load_fail(ledger, stmt, QB_E_STORAGE, "read journal");
    store_finalize(stmt);
    stmt = NULL;
    ledger->next_entry_id = expect_id;
    ledger->replay_from = replay_from;

    /* The ledger's time starts no earlier than the newest entry's: a clock
     * set back while the daemon was down must not stamp entries before it
     * (batch_run). */
    if (store_prepare(s, "SELECT created_at_ms FROM entries ORDER BY id DESC LIMIT 1", &stmt) !=
        QB_OK)
        return load_fail(ledger, stmt, QB_E_STORAGE, "prepare newest entry");
    rc = store_step(stmt);
    if (rc == STORE_STEP_ROW && store_column_int64(stmt, 0) > ledger->txn.now_ms)
        ledger->txn.now_ms = store_column_int64(stmt, 0);
    else if (rc != STORE_STEP_ROW && rc != STORE_STEP_DONE)
        return load_fail(ledger, stmt, QB_E_STORAGE, "read newest entry");
    atomic_store_explicit(&ledger->time_ms, ledger->txn.now_ms, memory_order_relaxed);
    store_finalize(stmt);
    stmt = NULL;

    /* Double entry: every entry sums to zero in each currency, so all the
     * balances of a currency do. A checkpoint raised by hand (and not
     * touched by the replay, which checks each posting) shows here before
     * anyone can pay it out. */
    struct {
        uint16_t numeric;
        int64_t sum;
    } sums[CURRENCY_COUNT_MAX];
    size_t sum_count = 0;
    for (int64_t id = 1; id <= ledger->account_count; id++) {
        const struct account *a = account_at(ledger, id);
        size_t i = 0;
        while (i < sum_count && sums[i].numeric != a->currency->numeric)
            i++;
        if (i == sum_count) {
            if (sum_count == QB_ARRAY_COUNT(sums))
                return load_fail(ledger, NULL, QB_E_INTERNAL, "more currencies than expected");
            sums[sum_count].numeric = a->currency->numeric;
            sums[sum_count++].sum = 0;
        }
        if (__builtin_add_overflow(sums[i].sum, a->balance_minor, &sums[i].sum))
            return load_fail(ledger, NULL, QB_E_INTERNAL, "balances overflow");
    }
    for (size_t i = 0; i < sum_count; i++)
        if (sums[i].sum != 0)
            return load_fail(ledger, NULL, QB_E_INTERNAL, "balances do not sum to zero");

    /* The open holds must account for exactly the held amounts. */
    for (int64_t id = 1; id <= ledger->account_count; id++) {
        struct account *a = account_at(ledger, id);
        if (a->last_entry_id >= ledger->next_entry_id)
            return load_fail(ledger, NULL, QB_E_INTERNAL, "checkpoint ahead of the journal");
        a->touched_batch = a->flushed_batch = 0;
        a->dirty_next = a->in_dirty_list ? a->dirty_next : NULL;
    }
    int64_t *held = xcalloc((size_t)ledger->account_count + 1, sizeof(int64_t));
    for (size_t i = 0; i < ledger->holds.capacity; i++) {
        const struct hold *h = &ledger->holds.slots[i];
        if (h->id != 0)
            held[h->debit_account_id] += h->amount_minor;
    }
    bool held_ok = true;
    for (int64_t id = 1; id <= ledger->account_count; id++)
        held_ok = held_ok && held[id] == account_at(ledger, id)->held_minor;
    free(held);
    if (!held_ok)
        return load_fail(ledger, NULL, QB_E_INTERNAL, "held amounts disagree with open holds");

    for (int64_t id = 1; id <= ledger->account_count; id++) {
        struct account_state p = account_capture(account_at(ledger, id));
        account_publish(&p);
    }
    ledger->captured_count = ledger->account_count;
    atomic_store_explicit(&ledger->committed_count, ledger->account_count, memory_order_release);
    atomic_store_explicit(&ledger->stat_replay_lag, ledger->next_entry_id - ledger->replay_from,
                          memory_order_relaxed);
    return QB_OK;
}

/* --- the writer thread and the queue ----------------------------------------- */

/* Completes what is pending and stops the syncer. */
static void syncer_stop(struct ledger *ledger)
{
    if (!ledger->syncer_started)
        return;
    pthread_mutex_lock(&ledger->sync_lock);
    ledger->sync_stopping = true;
    pthread_cond_signal(&ledger->sync_work);
    pthread_mutex_unlock(&ledger->sync_lock);
    pthread_join(ledger->syncer, NULL);
    ledger->syncer_started = false;
}

static void *writer_main(void *arg)
{
    struct ledger *ledger = arg;
    for (;;) {
        pthread_mutex_lock(&ledger->lock);
        if (ledger->queue_head == NULL && !ledger->stopping) {
            /* Wake up now and then to release holds whose deadline passed. */
            struct timespec until = thread_deadline(50);
            pthread_cond_timedwait(&ledger->nonempty, &ledger->lock, &until);
        }
        size_t batch_size;
        struct ledger_cmd *batch = queue_take_locked(ledger, ledger->batch_max, &batch_size);
        bool stop = ledger->stopping && batch == NULL;
        pthread_mutex_unlock(&ledger->lock);
        if (stop)
            break;

        bool expiry_due = ledger->expiries.count > 0 &&
                          ledger->expiries.items[0].at_ms <= clock_now_ms(ledger->clock);
        if (batch != NULL || expiry_due || ledger->broken)
            batch_run(ledger, batch, batch_size);
    }
    return NULL;
}

void ledger_cmd_init(struct ledger_cmd *cmd, ledger_cmd_run_fn run, void *ctx)
{
    memset(cmd, 0, sizeof *cmd);
    cmd->run = run;
    cmd->ctx = ctx;
    buf_init(&cmd->response, LEDGER_RESPONSE_SIZE_MAX);
}

void ledger_cmd_release(struct ledger_cmd *cmd) { buf_release(&cmd->response); }

enum qb_error ledger_submit(struct ledger *ledger, struct ledger_cmd *cmd)
{
    QB_ASSERT(cmd->run != NULL && cmd->done != NULL);
    cmd->next = NULL;
    cmd->submitted_ns = clock_monotonic_ns();
    /* Here, on the submitter's thread, not on the writer, which is the
     * one that everything waits for: the idempotency key's fingerprint,
     * and the answer's room, so that the writer allocates nothing for most
     * answers (growing one as it was written cost the writer about 4 % of
     * its time in realloc). */
    if (cmd->idem_key != NULL)
        cmd->idem_fingerprint = ledger_idem_fingerprint(
            cmd->idem_principal != NULL ? cmd->idem_principal : "", cmd->idem_key);
    if (buf_reserve(&cmd->response, LEDGER_RESPONSE_RESERVE) != QB_OK)
        return QB_E_BUSY; /* no memory: refused like a full queue */
    pthread_mutex_lock(&ledger->lock);
    enum qb_error err = QB_OK;
    if (ledger->stopping)
        err = QB_E_SHUTTING_DOWN;
    else if (ledger->queue_depth >= ledger->queue_max)
        err = QB_E_BUSY;
    if (err == QB_OK) {
        if (ledger->queue_tail)
            ledger->queue_tail->next = cmd;
        else
            ledger->queue_head = cmd;
        ledger->queue_tail = cmd;
        ledger->queue_depth++;
        if (ledger->queue_depth == 1)
            pthread_cond_signal(&ledger->nonempty);
    }
    pthread_mutex_unlock(&ledger->lock);
    return err;
}

struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    size_t pending; /* commands submitted and not done yet */
};

static void waiter_done(struct ledger_cmd *cmd)
{
    struct waiter *w = cmd->waiter;
    pthread_mutex_lock(&w->lock);
    QB_ASSERT(w->pending > 0);
    if (--w->pending == 0)
        pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

enum qb_error ledger_execute_all(struct ledger *ledger, struct ledger_cmd *const *cmds,
                                 size_t count)
{
    struct waiter w = {.pending = 0};
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    enum qb_error first_err = QB_OK;
    for (size_t i = 0; i < count; i++) {
        struct ledger_cmd *cmd = cmds[i];
        if (first_err != QB_OK) {
            cmd->result = first_err; /* not submitted */
            continue;
        }
        cmd->done = waiter_done;
        cmd->waiter = &w;
        pthread_mutex_lock(&w.lock);
        w.pending++;
        pthread_mutex_unlock(&w.lock);
        enum qb_error err = ledger_submit(ledger, cmd);
        if (err != QB_OK) {
            pthread_mutex_lock(&w.lock);
            w.pending--;
            pthread_mutex_unlock(&w.lock);
            cmd->result = err;
            first_err = err;
        }
    }
    pthread_mutex_lock(&w.lock);
    while (w.pending > 0)
        pthread_cond_wait(&w.cond, &w.lock);
    pthread_mutex_unlock(&w.lock);
    for (size_t i = 0; i < count; i++) {
        cmds[i]->done = NULL;
        cmds[i]->waiter = NULL;
    }
    pthread_mutex_destroy(&w.lock);
    pthread_cond_destroy(&w.cond);
    return first_err;
}

enum qb_error ledger_execute(struct ledger *ledger, struct ledger_cmd *cmd)
{
    enum qb_error err = ledger_execute_all(ledger, &cmd, 1);
    return err != QB_OK ? err : cmd->result;
}

/* --- lifetime ------------------------------------------------------------------ */

static const struct {
    size_t offset;
    const char *sql;
} ledger_statements[] = {
    {offsetof(struct ledger, st_insert_entry),
     "INSERT INTO entries (" LEDGER_ENTRY_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"},
    {offsetof(struct ledger, st_insert_account),
     "INSERT INTO accounts (id, owner, currency, kind, flags, floor_minor, created_at_ms, mac) "
     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"},
    {offsetof(struct ledger, st_update_flags), "UPDATE accounts SET flags = $2 WHERE id = $1"},
    {offsetof(struct ledger, st_flush_account),
     "UPDATE accounts SET balance_minor = $2, held_minor = $3, last_entry_id = $4, "
     "spent_day_start_ms = $5, spent_day_minor = $6, spent_year = $7, spent_year_minor = $8, "
     "spent_lifetime_minor = $9 WHERE id = $1"},
    {offsetof(struct ledger, st_insert_hold),
     "INSERT INTO holds (id, debit_account_id, credit_account_id, amount_minor, expires_at_ms) "
     "VALUES ($1, $2, $3, $4, $5)"},
    {offsetof(struct ledger, st_delete_hold), "DELETE FROM holds WHERE id = $1"},
    {offsetof(struct ledger, st_entry_kind), "SELECT kind FROM entries WHERE id = $1"},
    {offsetof(struct ledger, st_set_meta), "UPDATE meta SET value = $2 WHERE key = $1"},
    {offsetof(struct ledger, st_idem_get),
     "SELECT principal, key, request_hash, result, response FROM idempotency_records "
     "WHERE seq = $1"},
    {offsetof(struct ledger, st_idem_put),
     "INSERT INTO idempotency_records (seq, fingerprint, principal, key, request_hash, result, "
     "response, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"},
    {offsetof(struct ledger, st_idem_oldest),
     "SELECT seq, created_at_ms FROM idempotency_records WHERE seq >= $1 ORDER BY seq LIMIT $2"},
    {offsetof(struct ledger, st_idem_delete), "DELETE FROM idempotency_records WHERE seq < $1"},
};

static void statements_finalize(struct ledger *ledger)
{
    store_finalize(ledger->st_insert_entries);
    ledger->st_insert_entries = NULL;
    for (size_t i = 0; i < QB_ARRAY_COUNT(ledger_statements); i++) {
        struct store_stmt **slot = (struct store_stmt **)((char *)ledger + ledger_statements[i].offset);
        store_finalize(*slot);
        *slot = NULL;
    }
}

static void ledger_free(struct ledger *ledger)
{
    statements_finalize(ledger);
    for (size_t i = 0; i < ACCOUNT_CHUNK_COUNT_MAX; i++)
        free(ledger->chunks[i]);
    free(ledger->chunks);
    free(ledger->holds.slots);
    ledger_idem_index_clear(&ledger->idem);
    free(ledger->expiries.items);
    free(ledger->entries);
    free(ledger->undo);
    free(ledger->keys);
    free(ledger->watch_keys);
    for (size_t i = 0; i < LEDGER_PENDING_MAX; i++) {
        free(ledger->pending[i].accounts);
        free(ledger->pending[i].keys);
    }
    pthread_mutex_destroy(&ledger->lock);
    pthread_cond_destroy(&ledger->nonempty);
    pthread_mutex_destroy(&ledger->sync_lock);
    pthread_mutex_destroy(&ledger->head_lock);
    pthread_cond_destroy(&ledger->sync_work);
    pthread_cond_destroy(&ledger->sync_room);
    if (ledger->horizon == &ledger->own_horizon)
        store_horizon_destroy(&ledger->own_horizon);
    crypto_wipe(&ledger->chain, sizeof ledger->chain);
    free(ledger);
}

/* Moves the records of the table idempotency records were kept in before
 * schema version 10 into idempotency_records, oldest first, in one
 * transaction; nothing to do once it is empty. */
static enum qb_error idem_import_old(struct ledger *ledger)
{
    struct store *s = ledger->store;
    struct store_stmt *old = NULL, *put = NULL;
    if (store_prepare(s, "SELECT principal, key, request_hash, result, response, created_at_ms "
                         "FROM idempotency ORDER BY created_at_ms", &old) != QB_OK)
        return load_fail(ledger, old, QB_E_STORAGE, "prepare old idempotency records");
    int rc = store_step(old);
    if (rc == STORE_STEP_DONE) {
        store_finalize(old);
        return QB_OK;
    }
    store_reset(old);
    if (store_begin(s) != QB_OK)
        return load_fail(ledger, old, QB_E_STORAGE, "begin moving idempotency records");
    int64_t seq = 0;
    enum qb_error err = store_prepare(s, "SELECT coalesce(max(seq), 0) FROM idempotency_records",
                                      &put);
    if (err == QB_OK && store_step(put) == STORE_STEP_ROW)
        seq = store_column_int64(put, 0);
    else
        err = QB_E_STORAGE;
    store_finalize(put);
    put = NULL;
    if (err == QB_OK)
        err = store_prepare(s, "INSERT INTO idempotency_records (seq, fingerprint, principal, key, "
                               "request_hash, result, response, created_at_ms) "
                               "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", &put);
    int64_t moved = 0;
    while (err == QB_OK && (rc = store_step(old)) == STORE_STEP_ROW) {
        const char *principal = store_column_text(old, 0);
        const char *key = store_column_text(old, 1);
        seq++;
        err = store_bind_int64(put, 1, seq);
        if (err == QB_OK) err = store_bind_int64(put, 2, ledger_idem_fingerprint(principal, key));
        if (err == QB_OK) err = store_bind_text(put, 3, principal, strlen(principal));
        if (err == QB_OK) err = store_bind_text(put, 4, key, strlen(key));
        if (err == QB_OK)
            err = store_bind_blob(put, 5, store_column_blob(old, 2), store_column_size(old, 2));
        if (err == QB_OK) err = store_bind_int64(put, 6, store_column_int64(old, 3));
        if (err == QB_OK)
            err = store_bind_blob(put, 7, store_column_size(old, 4) ? store_column_blob(old, 4) : "",
                                  store_column_size(old, 4));
        if (err == QB_OK) err = store_bind_int64(put, 8, store_column_int64(old, 5));
        if (err == QB_OK) err = store_step_done(put);
        moved++;
    }
    if (err == QB_OK && rc != STORE_STEP_DONE)
        err = QB_E_STORAGE;
    store_finalize(put);
    store_finalize(old);
    if (err == QB_OK)
        err = store_exec(s, "DELETE FROM idempotency");
    if (err == QB_OK)
        err = store_commit(s);
    if (err != QB_OK) {
        if (store_rollback(s) != QB_OK)
            log_event(LOG_ERROR, "ledger.rollback_failed", "error=\"%s\"", store_last_error(s));
        return load_fail(ledger, NULL, QB_E_STORAGE, "move idempotency records");
    }
    log_event(LOG_INFO, "ledger.idempotency_moved", "records=%lld", (long long)moved);
    return QB_OK;
}

/* Writes every account's mac (ledger_account_mac), inside the transaction
 * that keys the chain. */
static enum qb_error chain_accounts_key(struct ledger *ledger)
{
    struct store *s = ledger->store;
    struct store_stmt *read = NULL, *write = NULL;
    enum qb_error err = store_prepare(s,
                                      "SELECT id, owner, currency, kind, floor_minor FROM "
                                      "accounts ORDER BY id",
                                      &read);
    if (err == QB_OK)
        err = store_prepare(s, "UPDATE accounts SET mac = $2 WHERE id = $1", &write);
    int rc = STORE_STEP_DONE;
    while (err == QB_OK && (rc = store_step(read)) == STORE_STEP_ROW) {
        int64_t id = store_column_int64(read, 0);
        const char *owner = store_column_text(read, 1);
        const char *currency = store_column_text(read, 2);
        if (owner == NULL || currency == NULL || store_column_size(read, 2) != 3) {
            err = QB_E_INTERNAL;
            break;
        }
        err = store_bind_int64(write, 1, id);
        if (err == QB_OK)
            err = store_bind_int64(write, 2,
                                   ledger_account_mac(&ledger->chain, id, owner, currency,
                                                      store_column_int64(read, 3),
                                                      store_column_int64(read, 4)));
        if (err == QB_OK)
            err = store_step_done(write);
        store_reset(write);
    }
    if (err == QB_OK && rc != STORE_STEP_DONE)
        err = QB_E_STORAGE;
    store_finalize(write);
    store_finalize(read);
    return err;
}

/* Keys the chain (struct ledger_chain): with the journal keyed, checks the
 * key against it; otherwise, when the key may begin the chain, keys it from
 * the next entry, durably before the first is written under it. */
static enum qb_error chain_open(struct ledger *ledger, const struct ledger_options *options)
{
    const uint8_t *key = options != NULL ? options->chain_key : NULL;
    bool may_begin = key == NULL || options->chain_key_new;
    ledger_chain_init(&ledger->chain, key);
    enum qb_error err = ledger_chain_load(&ledger->chain, ledger->store);
    if (err == QB_OK)
        return QB_OK;
    if (err == QB_E_CONFLICT)
        return load_fail(ledger, NULL, QB_E_CONFLICT,
                         "the chain key is not the one the journal was keyed with");
    if (err != QB_E_NOT_FOUND)
        return load_fail(ledger, NULL, QB_E_STORAGE, "read the chain key's check");
    if (!may_begin)
        return load_fail(ledger, NULL, QB_E_CONFLICT,
                         "the journal is not keyed, but its chain key was made before");
    struct store *s = ledger->store;
    struct store_stmt *st = NULL;
    int64_t keyed_from = 0;
    err = store_begin(s);
    if (err == QB_OK)
        err = store_prepare(s, "SELECT coalesce(max(id), 0) + 1 FROM entries", &st);
    if (err == QB_OK && store_step(st) == STORE_STEP_ROW)
        keyed_from = store_column_int64(st, 0);
    else
        err = QB_E_STORAGE;
    store_finalize(st);
    st = NULL;
    if (err == QB_OK)
        err = store_prepare(s,
                            "INSERT INTO meta (key, value) VALUES ('chain_keyed_from', $1), "
                            "('chain_key_check', $2)",
                            &st);
    if (err == QB_OK)
        err = store_bind_int64(st, 1, keyed_from);
    if (err == QB_OK)
        err = store_bind_int64(st, 2, ledger_chain_check(&ledger->chain, keyed_from));
    if (err == QB_OK)
        err = store_step_done(st);
    store_finalize(st);
    /* The accounts as they are, tied to the key like the entries before
     * the first keyed one. */
    if (err == QB_OK)
        err = chain_accounts_key(ledger);
    if (err == QB_OK)
        err = store_commit(s);
    if (err != QB_OK) {
        if (store_rollback(s) != QB_OK)
            log_event(LOG_ERROR, "ledger.rollback_failed", "error=\"%s\"", store_last_error(s));
        return load_fail(ledger, NULL, QB_E_STORAGE, "key the chain");
    }
    ledger->chain.keyed_from = keyed_from;
    log_event(LOG_INFO, "ledger.chain_keyed", "from_entry=%lld", (long long)keyed_from);
    return QB_OK;
}

enum qb_error ledger_chain_keyed_from(struct store *s, int64_t *out)
{
    *out = 0;
    struct store_stmt *st = NULL;
    if (store_prepare(s, "SELECT value FROM meta WHERE key = 'chain_keyed_from'", &st) != QB_OK)
        return QB_E_STORAGE;
    int rc = store_step(st);
    if (rc == STORE_STEP_ROW)
        *out = store_column_int64(st, 0);
    store_finalize(st);
    return rc == STORE_STEP_ROW || rc == STORE_STEP_DONE ? QB_OK : QB_E_STORAGE;
}

enum qb_error ledger_open(struct store *writer, const struct ledger_options *options,
                          struct ledger **out)
{
    struct ledger *ledger = xcalloc(1, sizeof *ledger);
    ledger->store = writer;
    ledger->clock = options && options->clock ? options->clock : clock_system();
    ledger->queue_max = options && options->queue_max ? options->queue_max : 65536;
    ledger->batch_max = options && options->batch_max ? options->batch_max : 8192;
    ledger->flush_per_batch = options ? options->flush_per_batch : 0;
    ledger->idem_retention_ms = options ? options->idempotency_retention_ms : 0;
    QB_ASSERT(ledger->idem_retention_ms >= 0);
    ledger->replay_lag_max =
        options && options->replay_lag_max ? options->replay_lag_max : 2000000;
    ledger->spending.spending_code = options ? options->spending_code : NULL;
    ledger->spending.spending_period = options ? options->spending_period : NULL;
    ledger->spending.spending_giveback_code = options ? options->spending_giveback_code : NULL;
    QB_ASSERT((ledger->spending.spending_code == NULL) ==
              (ledger->spending.spending_period == NULL));
    ledger->chunks = xcalloc(ACCOUNT_CHUNK_COUNT_MAX, sizeof(struct account *));
    ledger->txn.ledger = ledger;
#ifdef QB_TEST_HOOKS
    const char *test_break = getenv("QIANBAO_TEST_BREAK");
    ledger->test_break_balance_check = test_break != NULL && strcmp(test_break, "balance_check") == 0;
    if (ledger->test_break_balance_check)
        log_event(LOG_WARN, "ledger.test_break", "what=balance_check build=test_hooks");
#endif
    pthread_mutex_init(&ledger->lock, NULL);
    thread_cond_init(&ledger->nonempty);
    pthread_mutex_init(&ledger->sync_lock, NULL);
    pthread_mutex_init(&ledger->head_lock, NULL);
    pthread_cond_init(&ledger->sync_work, NULL);
    pthread_cond_init(&ledger->sync_room, NULL);
    ledger->horizon = options && options->horizon ? options->horizon : &ledger->own_horizon;
    if (ledger->horizon == &ledger->own_horizon)
        store_horizon_init(&ledger->own_horizon);

    enum qb_error err = QB_OK;
    for (size_t i = 0; i < QB_ARRAY_COUNT(ledger_statements) && err == QB_OK; i++) {
        struct store_stmt **slot = (struct store_stmt **)((char *)ledger + ledger_statements[i].offset);
        err = store_prepare(writer, ledger_statements[i].sql, slot);
    }
    if (err == QB_OK) {
        struct buf sql;
        buf_init(&sql, 64 * 1024);
        err = buf_append_str(&sql, "INSERT INTO entries (" LEDGER_ENTRY_COLUMNS ") VALUES ");
        for (int r = 0; r < LEDGER_INSERT_ROWS && err == QB_OK; r++) {
            int p = r * LEDGER_ENTRY_COLUMN_COUNT;
            err = buf_printf(&sql, "%s($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d)",
                             r ? ", " : "", p + 1, p + 2, p + 3, p + 4, p + 5, p + 6, p + 7,
                             p + 8, p + 9);
        }
        if (err == QB_OK)
            err = store_prepare(writer, sql.data, &ledger->st_insert_entries);
        buf_release(&sql);
    }
    if (err != QB_OK) {
        log_event(LOG_ERROR, "ledger.open_failed", "error=\"%s\"", store_last_error(writer));
        ledger_free(ledger);
        return QB_E_STORAGE;
    }
    err = chain_open(ledger, options);
    if (err == QB_OK)
        err = idem_import_old(ledger);
    if (err == QB_OK)
        err = state_load(ledger);
    if (err == QB_OK && store_defer_sync(writer, true) != QB_OK) {
        log_event(LOG_ERROR, "ledger.open_failed", "error=\"%s\"", store_last_error(writer));
        err = QB_E_STORAGE;
    }
    /* What it read may be a commit the process before never synced (it
     * died between the two, the WAL's tail still in the page cache): made
     * durable before anything is told of it. */
    if (err == QB_OK && store_sync(writer) != QB_OK) {
        log_event(LOG_ERROR, "ledger.open_failed", "error=\"%s\"", store_last_error(writer));
        err = QB_E_STORAGE;
    }
    if (err != QB_OK) {
        ledger_free(ledger);
        return err;
    }
    /* Everything it read is durable: the head a start is checked against. */
    durable_head_set(ledger, ledger->next_entry_id - 1, ledger->head_hash, 0, NULL);
    log_event(LOG_INFO, "ledger.open", "accounts=%lld entries=%lld replayed_from=%lld holds=%zu",
              (long long)ledger->account_count, (long long)(ledger->next_entry_id - 1),
              (long long)ledger->replay_from, ledger->holds.count);
    if (pthread_create(&ledger->syncer, NULL, syncer_main, ledger) != 0) {
        ledger_free(ledger);
        return QB_E_INTERNAL;
    }
    ledger->syncer_started = true;
    thread_name(ledger->syncer, "qb-syncer");
    if (!thread_start(&ledger->thread, options && options->pin_writer ? options->writer_cpu : -1,
                      writer_main, ledger)) {
        log_event(LOG_ERROR, "ledger.open_failed", "error=\"the writer thread did not start\"");
        syncer_stop(ledger);
        ledger_free(ledger);
        return QB_E_INTERNAL;
    }
    thread_name(ledger->thread, "qb-ledger");
    *out = ledger;
    return QB_OK;
}

void ledger_close(struct ledger *ledger)
{
    if (ledger == NULL)
        return;
    ledger_stop(ledger);
    ledger_free(ledger);
}

void ledger_stop(struct ledger *ledger)
{
    if (ledger->stopped)
        return;
    ledger->stopped = true;
    pthread_mutex_lock(&ledger->lock);
    ledger->stopping = true;
    pthread_cond_signal(&ledger->nonempty);
    pthread_mutex_unlock(&ledger->lock);
    pthread_join(ledger->thread, NULL);
    syncer_stop(ledger);

    /* Checkpoint every account so the next start replays nothing. A
     * failure only means a longer replay next time. */
    if (!ledger->broken && ledger->dirty_head != NULL && store_begin(ledger->store) == QB_OK) {
        ledger->batch_number++;
        ledger->batch_first_entry_id = ledger->next_entry_id;
        ledger->undo_count = 0;
        ledger->txn.storage_failed = false;
        enum qb_error err = checkpoint_flush(ledger, SIZE_MAX);
        uint64_t commit = store_horizon_begin(ledger->horizon);
        if (err == QB_OK)
            err = store_commit(ledger->store);
        if (err == QB_OK && store_sync(ledger->store) != QB_OK)
            sync_failed(commit);
        store_horizon_advance(ledger->horizon, commit);
        if (err == QB_OK)
            log_event(LOG_INFO, "ledger.close", "checkpoint=complete next_entry=%lld",
                      (long long)ledger->next_entry_id);
        else if (store_rollback(ledger->store) != QB_OK)
            log_event(LOG_WARN, "ledger.close_rollback_failed", "error=\"%s\"",
                      store_last_error(ledger->store));
    }
    /* The connection goes back with commits that wait for the disk. */
    if (store_defer_sync(ledger->store, false) != QB_OK)
        log_event(LOG_WARN, "ledger.close_sync_mode", "error=\"%s\"",
                  store_last_error(ledger->store));
}

void ledger_stats_get(struct ledger *ledger, struct ledger_stats *out)
{
    memset(out, 0, sizeof *out);
    out->commands_total = atomic_load_explicit(&ledger->stat_commands, memory_order_relaxed);
    out->commands_failed_total = atomic_load_explicit(&ledger->stat_commands_failed, memory_order_relaxed);
    out->account_checkpoints_total =
        atomic_load_explicit(&ledger->stat_account_checkpoints, memory_order_relaxed);
    out->batches_total = atomic_load_explicit(&ledger->stat_batches, memory_order_relaxed);
    out->entries_total = atomic_load_explicit(&ledger->stat_entries, memory_order_relaxed);
    out->commit_failures_total = atomic_load_explicit(&ledger->stat_commit_failures, memory_order_relaxed);
    out->commit_failed_at_ns =
        atomic_load_explicit(&ledger->stat_commit_failed_at_ns, memory_order_relaxed);
    out->commit_ok_at_ns =
        atomic_load_explicit(&ledger->stat_commit_ok_at_ns, memory_order_relaxed);
    for (int i = 0; i < LEDGER_LATENCY_BUCKETS; i++) {
        out->commit_latency_us_buckets[i] =
            atomic_load_explicit(&ledger->stat_commit_us_buckets[i], memory_order_relaxed);
        out->command_latency_us_buckets[i] =
            atomic_load_explicit(&ledger->stat_command_us_buckets[i], memory_order_relaxed);
        out->sync_latency_us_buckets[i] =
            atomic_load_explicit(&ledger->stat_sync_us_buckets[i], memory_order_relaxed);
        out->batch_size_buckets[i] = atomic_load_explicit(&ledger->stat_batch_buckets[i], memory_order_relaxed);
    }
    out->commit_latency_us_sum = atomic_load_explicit(&ledger->stat_commit_us_sum, memory_order_relaxed);
    out->command_latency_us_sum = atomic_load_explicit(&ledger->stat_command_us_sum, memory_order_relaxed);
    out->commit_latency_us_max = atomic_load_explicit(&ledger->stat_commit_us_max, memory_order_relaxed);
    out->sync_latency_us_sum =
        atomic_load_explicit(&ledger->stat_sync_us_sum, memory_order_relaxed);
    out->batch_size_sum = atomic_load_explicit(&ledger->stat_batch_sum, memory_order_relaxed);
    out->replay_lag_entries = atomic_load_explicit(&ledger->stat_replay_lag, memory_order_relaxed);
    out->idempotency_records =
        atomic_load_explicit(&ledger->stat_idem_records, memory_order_relaxed);
    out->idempotency_expired_total =
        atomic_load_explicit(&ledger->stat_idem_expired, memory_order_relaxed);
    store_stats_get(ledger->store, &out->store);
    pthread_mutex_lock(&ledger->lock);
    out->queue_depth = ledger->queue_depth;
    pthread_mutex_unlock(&ledger->lock);
}

enum qb_error ledger_account_find(struct store *reader, const char *owner,
                                  const struct currency *currency, enum ledger_account_kind kind,
                                  int64_t *account_id)
{
    if (owner == NULL || currency == NULL)
        return QB_E_PARAM;
    struct store_stmt *stmt;
    enum qb_error err = store_prepare(
        reader, "SELECT id FROM accounts WHERE owner = $1 AND currency = $2 AND kind = $3", &stmt);
    if (err != QB_OK)
        return err;
    err = store_bind_text(stmt, 1, owner, strlen(owner));
    if (err == QB_OK) err = store_bind_text(stmt, 2, currency->code, 3);
    if (err == QB_OK) err = store_bind_int64(stmt, 3, kind);
    if (err == QB_OK) {
        int rc = store_step(stmt);
        if (rc == STORE_STEP_ROW)
            *account_id = store_column_int64(stmt, 0);
        else
            err = rc == STORE_STEP_DONE ? QB_E_NOT_FOUND : (enum qb_error)-rc;
    }
    store_finalize(stmt);
    return err;
}

/*
 * test_ledger_faults.c — what the executor does when storage fails.
 *
 * The store is an ops table, so a test can wrap the real SQLite connection
 * in one that fails chosen calls (here: a commit, a savepoint, a batch's
 * begin) and forwards everything else. The promise under test: when the
 * batch's transaction cannot be made durable, no command of it is
 * acknowledged, nothing of it is applied, and the ledger carries on from
 * what the database holds.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/crypto.h"
#include "base/log.h"
#include "ledger/ledger.h"
#include "store/store.h"
#include "test.h"

/* --- a store that fails on request ---------------------------------------- */

struct faulty {
    struct store base; /* first: the ledger sees a struct store */
    struct store *inner;
    struct store_ops ops;
    _Atomic int fail_commits;    /* the next N commits fail (after rolling back) */
    _Atomic int fail_begins;     /* the next N begins fail */
    _Atomic int fail_savepoints; /* the next N savepoints fail */
    _Atomic int fail_syncs;      /* the next N syncs fail */
    _Atomic uint64_t commits;    /* commits that returned QB_OK */
    _Atomic uint64_t synced;     /* commits the last returned sync covered */
    _Atomic int sync_hold_ms;    /* each sync waits this long first */
    _Atomic int reload_hold_ms;  /* the next reload of the accounts waits this long first */
    _Atomic bool reload_holding; /* ... and is waiting now */
};

static struct faulty *faulty_of(struct store *s) { return (struct faulty *)s; }

static bool take(_Atomic int *counter)
{
    int n = atomic_load(counter);
    while (n > 0)
        if (atomic_compare_exchange_weak(counter, &n, n - 1))
            return true;
    return false;
}

static enum qb_error f_begin(struct store *s)
{
    struct faulty *f = faulty_of(s);
    return take(&f->fail_begins) ? QB_E_STORAGE : store_begin(f->inner);
}
static enum qb_error f_commit(struct store *s)
{
    struct faulty *f = faulty_of(s);
    if (take(&f->fail_commits)) {
        /* An fsync that failed before the commit frame was durable: the
         * database keeps nothing of the transaction. */
        if (store_rollback(f->inner) != QB_OK)
            abort();
        return QB_E_STORAGE;
    }
    enum qb_error err = store_commit(f->inner);
    if (err == QB_OK)
        atomic_fetch_add(&f->commits, 1);
    return err;
}
static enum qb_error f_defer_sync(struct store *s, bool defer)
{
    return store_defer_sync(faulty_of(s)->inner, defer);
}
/* Counts what each sync covers: the commits that had returned when it
 * began. */
static enum qb_error f_sync(struct store *s)
{
    struct faulty *f = faulty_of(s);
    if (take(&f->fail_syncs))
        return QB_E_STORAGE;
    uint64_t covered = atomic_load(&f->commits);
    int hold_ms = atomic_load(&f->sync_hold_ms);
    if (hold_ms > 0)
        nanosleep(&(struct timespec){.tv_nsec = (long)hold_ms * 1000000L}, NULL);
    enum qb_error err = store_sync(f->inner);
    if (err == QB_OK && covered > atomic_load(&f->synced))
        atomic_store(&f->synced, covered);
    return err;
}
static enum qb_error f_rollback(struct store *s) { return store_rollback(faulty_of(s)->inner); }
static enum qb_error f_savepoint(struct store *s)
{
    struct faulty *f = faulty_of(s);
    return take(&f->fail_savepoints) ? QB_E_STORAGE : store_savepoint(f->inner);
}
static enum qb_error f_release(struct store *s) { return store_release(faulty_of(s)->inner); }
static enum qb_error f_rollback_to(struct store *s) { return store_rollback_to(faulty_of(s)->inner); }
/* Holds the next reload of the ledger's state (its first statement reads
 * every account) when reload_hold_ms says so: a big ledger's. */
static enum qb_error f_prepare(struct store *s, const char *sql, struct store_stmt **out)
{
    struct faulty *f = faulty_of(s);
    int hold_ms = strstr(sql, "FROM accounts ORDER BY id") != NULL
                      ? atomic_exchange(&f->reload_hold_ms, 0)
                      : 0;
    if (hold_ms > 0) {
        atomic_store(&f->reload_holding, true);
        nanosleep(&(struct timespec){.tv_nsec = (long)hold_ms * 1000000L}, NULL);
        atomic_store(&f->reload_holding, false);
    }
    return store_prepare(f->inner, sql, out);
}
static enum qb_error f_exec(struct store *s, const char *sql) { return store_exec(faulty_of(s)->inner, sql); }
static int64_t f_schema_version(struct store *s) { return store_schema_version(faulty_of(s)->inner); }
static const char *f_last_error(struct store *s) { return store_last_error(faulty_of(s)->inner); }
static void f_stats(struct store *s, struct store_stats *out)
{
    store_stats_get(faulty_of(s)->inner, out);
}

static struct faulty *faulty_wrap(struct store *inner)
{
    struct faulty *f = calloc(1, sizeof *f);
    f->inner = inner;
    f->ops = *inner->ops; /* statement ops keep working on the inner statements */
    f->ops.name = "faulty";
    f->ops.begin = f_begin;
    f->ops.commit = f_commit;
    f->ops.rollback = f_rollback;
    f->ops.savepoint = f_savepoint;
    f->ops.release = f_release;
    f->ops.rollback_to = f_rollback_to;
    f->ops.prepare = f_prepare;
    f->ops.exec = f_exec;
    f->ops.schema_version = f_schema_version;
    f->ops.last_error = f_last_error;
    f->ops.defer_sync = f_defer_sync;
    f->ops.sync = f_sync;
    f->ops.stats = f_stats;
    f->base.ops = &f->ops;
    return f;
}

/* --- commands ------------------------------------------------------------- */

struct op {
    struct ledger_cmd cmd;
    int kind; /* 1 create, 2 transfer, 3 hold */
    const char *owner;
    int64_t from_id, to_id, amount_minor;
    int64_t out_id;
    /* Filled when the test watches syncs (struct faulty). */
    struct faulty *watch;
    uint64_t batch_commit;    /* the commit its batch will be */
    uint64_t synced_at_run;   /* commits the syncs had covered when it ran */
    uint64_t synced_at_done;  /* ... when it was completed */
    _Atomic int *completed;
    /* Submitted by this one as it runs, so that a command is always queued
     * when its batch commits. */
    struct op *chain_next;
    struct ledger *ledger;
    enum qb_error chain_err;
};

static enum qb_error op_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct op *op = (struct op *)cmd;
    if (op->watch != NULL) {
        op->batch_commit = atomic_load(&op->watch->commits) + 1;
        op->synced_at_run = atomic_load(&op->watch->synced);
    }
    if (op->chain_next != NULL)
        op->chain_err = ledger_submit(op->ledger, &op->chain_next->cmd);
    if (op->kind == 1) {
        struct ledger_account_spec spec = {.owner = op->owner, .currency = currency_find("CNY"),
                                           .kind = LEDGER_ACCOUNT_SYSTEM,
                                           .floor_minor = LEDGER_FLOOR_NONE};
        if (strncmp(op->owner, "user:", 5) == 0) {
            spec.kind = LEDGER_ACCOUNT_USER;
            spec.floor_minor = 0;
        }
        return ledger_txn_account_create(txn, &spec, &op->out_id);
    }
    if (op->kind == 3)
        return ledger_txn_hold(txn, 1, "hold", op->from_id, op->to_id, op->amount_minor, 0,
                               &op->out_id);
    struct ledger_leg legs[2] = {{op->from_id, -op->amount_minor}, {op->to_id, op->amount_minor}};
    return ledger_txn_post(txn, 1, "t", legs, 2, &op->out_id);
}

static enum qb_error run_op(struct ledger *ledger, int kind, const char *owner, int64_t from_id,
                            int64_t to_id, int64_t amount_minor, int64_t *out_id)
{
    struct op op = {.kind = kind, .owner = owner, .from_id = from_id, .to_id = to_id,
                    .amount_minor = amount_minor};
    ledger_cmd_init(&op.cmd, op_run, NULL);
    enum qb_error err = ledger_execute(ledger, &op.cmd);
    ledger_cmd_release(&op.cmd);
    if (out_id)
        *out_id = op.out_id;
    return err;
}

struct world {
    char dir[256];
    char db[300];
    struct store *inner;
    struct faulty *store;
    struct store_horizon horizon;
    struct ledger *ledger;
    int64_t bank, alice, bob;
};

static void world_open(struct world *w)
{
    char err[256];
    ASSERT_EQ_INT(store_open(w->db, STORE_MODE_WRITE, &w->inner, err, sizeof err), QB_OK);
    w->store = faulty_wrap(w->inner);
    store_horizon_init(&w->horizon);
    struct ledger_options options = {.horizon = &w->horizon};
    ASSERT_EQ_INT(ledger_open(&w->store->base, &options, &w->ledger), QB_OK);
}

static void world_close(struct world *w)
{
    ledger_close(w->ledger);
    store_close(w->inner);
    free(w->store);
    store_horizon_destroy(&w->horizon);
}

static void world_new(struct world *w)
{
    memset(w, 0, sizeof *w);
    test_tmpdir(w->dir, sizeof w->dir);
    snprintf(w->db, sizeof w->db, "%s/qianbao.db", w->dir);
    world_open(w);
    ASSERT_EQ_INT(run_op(w->ledger, 1, "system:bank", 0, 0, 0, &w->bank), QB_OK);
    ASSERT_EQ_INT(run_op(w->ledger, 1, "user:alice", 0, 0, 0, &w->alice), QB_OK);
    ASSERT_EQ_INT(run_op(w->ledger, 1, "user:bob", 0, 0, 0, &w->bob), QB_OK);
    ASSERT_EQ_INT(run_op(w->ledger, 2, NULL, w->bank, w->alice, 10000, NULL), QB_OK);
}

static int64_t balance(struct world *w, int64_t id)
{
    struct ledger_account_view v;
    ASSERT_EQ_INT(ledger_account_view(w->ledger, id, &v), QB_OK);
    return v.balance_minor;
}

static void verify_ok(struct world *w)
{
    struct store *reader;
    char err[256];
    ASSERT_EQ_INT(store_open(w->db, STORE_MODE_READ, &reader, err, sizeof err), QB_OK);
    struct ledger_verify_report report;
    enum qb_error rc = ledger_verify(reader, NULL, 0, &report, NULL, NULL);
    if (rc != QB_OK)
        fprintf(stderr, "  verify: %s\n", report.problem);
    store_close(reader);
    ASSERT_EQ_INT(rc, QB_OK);
}

/* --- tests ------------------------------------------------------------------ */

TEST(failed_commit_acknowledges_nothing_and_the_ledger_carries_on)
{
    /* A commit that fails must answer every command of its batch with
     * STORAGE_UNAVAILABLE, leave no trace in memory or on disk, and the
     * next batch must work from what the database really holds. */
    struct world w;
    world_new(&w);
    atomic_store(&w.store->fail_commits, 1);
    int64_t entry_id = 0;
    ASSERT_EQ_INT(run_op(w.ledger, 2, NULL, w.alice, w.bob, 2500, &entry_id), QB_E_STORAGE);
    ASSERT_EQ_INT(balance(&w, w.alice), 10000);
    ASSERT_EQ_INT(balance(&w, w.bob), 0);
    struct ledger_stats st;
    ledger_stats_get(w.ledger, &st);
    ASSERT_EQ_INT(st.commit_failures_total, 1);
    /* Failing, for a health check, until a commit succeeds or a while passes untried. */
    int64_t now_ns = clock_monotonic_ns();
    ASSERT(ledger_stats_failing(&st, now_ns));
    ASSERT(!ledger_stats_failing(&st, st.commit_failed_at_ns + LEDGER_FAILING_NS));

    /* The entry id the failed batch used is used again: no gap in the chain. */
    int64_t next_id = 0;
    ASSERT_EQ_INT(run_op(w.ledger, 2, NULL, w.alice, w.bob, 700, &next_id), QB_OK);
    ASSERT_EQ_INT(next_id, entry_id);
    ledger_stats_get(w.ledger, &st);
    ASSERT(!ledger_stats_failing(&st, clock_monotonic_ns()));
    ASSERT_EQ_INT(balance(&w, w.alice), 9300);
    ASSERT_EQ_INT(balance(&w, w.bob), 700);
    world_close(&w);
    verify_ok(&w);
    test_rmtree(w.dir);
}

TEST(failing_commits_are_logged_at_most_once_a_second)
{
    /* A full disk fails every batch, hundreds a second: one error line a
     * second, counting the ones it did not log, says as much as thousands
     * and leaves the log readable (6,004 lines in 20 s were seen). */
    struct world w;
    world_new(&w);
    FILE *log = tmpfile(); /* the log writes to a descriptor */
    ASSERT(log != NULL);
    log_init(log, LOG_WARN);
    atomic_store(&w.store->fail_commits, 20);
    int64_t started_ns = clock_monotonic_ns();
    for (int i = 0; i < 20; i++)
        ASSERT_EQ_INT(run_op(w.ledger, 2, NULL, w.alice, w.bob, 100, NULL), QB_E_STORAGE);
    int64_t elapsed_s = (clock_monotonic_ns() - started_ns) / 1000000000LL;
    log_init(stderr, LOG_WARN);
    static char text[64 * 1024];
    rewind(log);
    size_t text_size = fread(text, 1, sizeof text - 1, log);
    text[text_size] = '\0';
    fclose(log);
    int lines = 0;
    for (const char *at = strstr(text, "event=ledger.batch_failed "); at != NULL;
         at = strstr(at + 1, "event=ledger.batch_failed "))
        lines++;
    /* A line for the first, then one a second at most (the run takes well
     * under one second here, seconds under valgrind). */
    if (lines < 1 || lines > 1 + elapsed_s)
        TEST_FAIL_("%d batch_failed lines in %lld s", lines, (long long)elapsed_s);
    ASSERT(strstr(text, "failed_batches_unlogged=0") != NULL);
    ASSERT_EQ_INT(run_op(w.ledger, 2, NULL, w.alice, w.bob, 100, NULL), QB_OK);
    world_close(&w);
    verify_ok(&w);
    test_rmtree(w.dir);
}

TEST(failed_commit_forgets_accounts_and_holds_of_its_batch)
{
    /* An account or hold created in a failed batch must not survive in the
     * writer's memory: its id is handed out again and the held amount is
     * released, exactly as after a restart. */
    struct world w;
    world_new(&w);
    atomic_store(&w.store->fail_commits, 1);
    int64_t carol = 0;
    ASSERT_EQ_INT(run_op(w.ledger, 1, "user:carol", 0, 0, 0, &carol), QB_E_STORAGE);
    struct ledger_account_view v;
    ASSERT_EQ_INT(ledger_account_view(w.ledger, carol, &v), QB_E_NOT_FOUND);
    int64_t carol_again = 0;
    ASSERT_EQ_INT(run_op(w.ledger, 1, "user:carol", 0, 0, 0, &carol_again), QB_OK);
    ASSERT_EQ_INT(carol_again, carol);

    atomic_store(&w.store->fail_commits, 1);
    ASSERT_EQ_INT(run_op(w.ledger, 3, NULL, w.alice, w.bob, 4000, NULL), QB_E_STORAGE);
    ASSERT_EQ_INT(ledger_account_view(w.ledger, w.alice, &v), QB_OK);
    ASSERT_EQ_INT(v.held_minor, 0);
    ASSERT_EQ_INT(v.available_minor, 10000);
    /* The whole balance can be held again: nothing of the lost hold remains. */
    ASSERT_EQ_INT(run_op(w.ledger, 3, NULL, w.alice, w.bob, 10000, NULL), QB_OK);
    world_close(&w);
    verify_ok(&w);
    test_rmtree(w.dir);
}

TEST(failed_begin_fails_the_batch_then_recovers)
{
    /* A batch whose transaction cannot even begin (disk gone) answers
     * STORAGE_UNAVAILABLE and changes nothing; the next one works. */
    struct world w;
    world_new(&w);
    atomic_store(&w.store->fail_begins, 1);
    ASSERT_EQ_INT(run_op(w.ledger, 2, NULL, w.alice, w.bob, 100, NULL), QB_E_STORAGE);
    ASSERT_EQ_INT(balance(&w, w.alice), 10000);
    ASSERT_EQ_INT(run_op(w.ledger, 2, NULL, w.alice, w.bob, 100, NULL), QB_OK);
    ASSERT_EQ_INT(balance(&w, w.bob), 100);
    world_close(&w);
    verify_ok(&w);
    test_rmtree(w.dir);
}

TEST(failed_savepoint_fails_the_batch_not_just_the_command)
{
    /* A savepoint that cannot be opened is a storage failure, not a
     * refusal: the whole batch fails rather than committing a command
     * whose writes could not be isolated. */
    struct world w;
    world_new(&w);
    atomic_store(&w.store->fail_savepoints, 1);
    /* Account creation writes a row, so it opens a savepoint. */
    ASSERT_EQ_INT(run_op(w.ledger, 1, "user:dave", 0, 0, 0, NULL), QB_E_STORAGE);
    ASSERT_EQ_INT(run_op(w.ledger, 1, "user:dave", 0, 0, 0, NULL), QB_OK);
    world_close(&w);
    verify_ok(&w);
    test_rmtree(w.dir);
}

TEST(restart_after_failures_sees_only_what_was_acknowledged)
{
    /* After a run with failed commits mixed in, a restart must rebuild
     * exactly the acknowledged state. */
    struct world w;
    world_new(&w);
    int64_t acked = 0;
    for (int i = 0; i < 40; i++) {
        if (i % 7 == 3)
            atomic_store(&w.store->fail_commits, 1);
        if (run_op(w.ledger, 2, NULL, w.alice, w.bob, 10, NULL) == QB_OK)
            acked += 10;
    }
    ASSERT_EQ_INT(balance(&w, w.bob), acked);
    ASSERT(acked < 400);
    world_close(&w);
    world_open(&w);
    ASSERT_EQ_INT(balance(&w, w.bob), acked);
    ASSERT_EQ_INT(balance(&w, w.alice), 10000 - acked);
    world_close(&w);
    verify_ok(&w);
    test_rmtree(w.dir);
}

TEST(an_open_makes_what_it_read_durable_first)
{
    /* A process that died between a commit and its sync leaves the WAL's tail in the page
     * cache: the next open reads it, and must not hand it on (to readers, to a head written
     * outside the database) as durable before a sync has made it so. An open whose sync fails
     * opens nothing. */
    struct world w;
    world_new(&w);
    ASSERT_EQ_INT(run_op(w.ledger, 2, NULL, w.alice, w.bob, 10, NULL), QB_OK);
    world_close(&w);
    char err[256];
    ASSERT_EQ_INT(store_open(w.db, STORE_MODE_WRITE, &w.inner, err, sizeof err), QB_OK);
    w.store = faulty_wrap(w.inner);
    store_horizon_init(&w.horizon);
    struct ledger_options options = {.horizon = &w.horizon};
    atomic_store(&w.store->fail_syncs, 1);
    ASSERT_EQ_INT(ledger_open(&w.store->base, &options, &w.ledger), QB_E_STORAGE);
    ASSERT_EQ_INT(atomic_load(&w.store->fail_syncs), 0);
    ASSERT_EQ_INT(ledger_open(&w.store->base, &options, &w.ledger), QB_OK);
    ASSERT_EQ_INT(balance(&w, w.bob), 10);
    world_close(&w);
    verify_ok(&w);
    test_rmtree(w.dir);
}

static void watched_done(struct ledger_cmd *cmd)
{
    struct op *op = (struct op *)cmd;
    op->synced_at_done = atomic_load(&op->watch->synced);
    atomic_fetch_add(op->completed, 1);
}

struct horizon_watch {
    struct world *w;
    _Atomic bool stop;
    int waits;
    int early; /* waits that returned before a sync covered what they saw */
};

/* A reader's view: commits that had returned before the wait must all be
 * covered by a sync when the wait returns. */
static void *horizon_watch_main(void *arg)
{
    struct horizon_watch *hw = arg;
    while (!atomic_load(&hw->stop)) {
        uint64_t seen = atomic_load(&hw->w->store->commits);
        store_horizon_wait(&hw->w->horizon);
        if (atomic_load(&hw->w->store->synced) < seen)
            hw->early++;
        hw->waits++;
        nanosleep(&(struct timespec){.tv_nsec = 200 * 1000}, NULL);
    }
    return NULL;
}

TEST(commands_complete_only_once_a_sync_covers_their_batch)
{
    /* The writer commits without waiting for the disk; the syncer syncs
     * and only then completes, or, when nothing is queued, the writer
     * syncs itself. With every sync held 20 ms, commands must (a) never be
     * completed before a sync that began after their batch's commit
     * returned, on either path; (b) when commands keep coming, be run in
     * a batch while an earlier one waits for its sync (else the writer
     * waited); and (c) no reader may get past the horizon before the
     * commits it could see are synced.
     *
     * First a chain: each command submits the next as it runs, so a
     * command is queued whenever a batch commits and the sync is handed
     * over, however the threads are scheduled (valgrind runs one at a
     * time). Then one at a time, each waited for: nothing is queued, and
     * the writer syncs itself. */
    struct world w;
    world_new(&w);
    atomic_store(&w.store->sync_hold_ms, 20);
    struct horizon_watch hw = {.w = &w};
    pthread_t watcher;
    ASSERT_EQ_INT(pthread_create(&watcher, NULL, horizon_watch_main, &hw), 0);

    enum { CHAINED = 1500, N = 1520 };
    static struct op ops[N];
    _Atomic int completed = 0;
    for (int i = 0; i < N; i++) {
        ops[i] = (struct op){.kind = 2, .from_id = w.alice, .to_id = w.bob, .amount_minor = 1,
                             .watch = w.store, .completed = &completed, .ledger = w.ledger,
                             .chain_next = i + 1 < CHAINED ? &ops[i + 1] : NULL};
        ledger_cmd_init(&ops[i].cmd, op_run, NULL);
        ops[i].cmd.done = watched_done;
    }
    ASSERT_EQ_INT(ledger_submit(w.ledger, &ops[0].cmd), QB_OK);
    while (atomic_load(&completed) < CHAINED)
        nanosleep(&(struct timespec){.tv_nsec = 1000 * 1000}, NULL);
    for (int i = CHAINED; i < N; i++) {
        ASSERT_EQ_INT(ledger_submit(w.ledger, &ops[i].cmd), QB_OK);
        while (atomic_load(&completed) < i + 1)
            nanosleep(&(struct timespec){.tv_nsec = 200 * 1000}, NULL);
    }
    atomic_store(&hw.stop, true);
    pthread_join(watcher, NULL);

    uint64_t ahead_max = 0;
    for (int i = 0; i < N; i++) {
        ASSERT_EQ_INT(ops[i].cmd.result, QB_OK);
        ASSERT_EQ_INT(ops[i].chain_err, QB_OK);
        if (ops[i].synced_at_done < ops[i].batch_commit)
            TEST_FAIL_("command %d completed with commits up to %llu synced, its batch is %llu",
                       i, (unsigned long long)ops[i].synced_at_done,
                       (unsigned long long)ops[i].batch_commit);
        uint64_t ahead = ops[i].batch_commit - ops[i].synced_at_run;
        if (i < CHAINED)
            ahead_max = ahead > ahead_max ? ahead : ahead_max;
        else
            ASSERT_EQ_INT(ahead, 1); /* every batch before it was synced */
        ledger_cmd_release(&ops[i].cmd);
    }
    ASSERT(ahead_max >= 2);
    ASSERT(hw.waits > 0);
    ASSERT_EQ_INT(hw.early, 0);
    ASSERT_EQ_INT(balance(&w, w.bob), N);
    world_close(&w);
    verify_ok(&w);
    test_rmtree(w.dir);
}

static void counted_done(struct ledger_cmd *cmd)
{
    atomic_fetch_add(((struct op *)cmd)->completed, 1);
}

TEST(a_failed_commit_does_not_hold_readers_for_the_reload)
{
    /* After a failed commit the writer rebuilds its state from the
     * database, which takes a while on a big ledger. The failed commit
     * left nothing for readers to wait for: a reader's wait on the horizon
     * (every read connection's release, /healthz's included) must return
     * at once, not when the reload is done. With a full disk every batch
     * fails and reloads, and the daemon could answer nothing. */
    struct world w;
    world_new(&w);
    atomic_store(&w.store->reload_hold_ms, 600);
    atomic_store(&w.store->fail_commits, 1);
    _Atomic int completed = 0;
    struct op op = {.kind = 2,
                    .from_id = w.alice,
                    .to_id = w.bob,
                    .amount_minor = 100,
                    .completed = &completed};
    ledger_cmd_init(&op.cmd, op_run, NULL);
    op.cmd.done = counted_done;
    ASSERT_EQ_INT(ledger_submit(w.ledger, &op.cmd), QB_OK);
    while (!atomic_load(&w.store->reload_holding) && atomic_load(&completed) == 0)
        nanosleep(&(struct timespec){.tv_nsec = 200 * 1000}, NULL);
    ASSERT(atomic_load(&w.store->reload_holding)); /* the reload is under way */

    int64_t started_ns = clock_monotonic_ns();
    store_horizon_wait(&w.horizon);
    int64_t waited_ms = (clock_monotonic_ns() - started_ns) / 1000000;
    if (waited_ms >= 200)
        TEST_FAIL_("a reader waited %lld ms for the reload after a failed commit",
                   (long long)waited_ms);

    while (atomic_load(&completed) == 0)
        nanosleep(&(struct timespec){.tv_nsec = 1000 * 1000}, NULL);
    ASSERT_EQ_INT(op.cmd.result, QB_E_STORAGE);
    ledger_cmd_release(&op.cmd);
    ASSERT_EQ_INT(balance(&w, w.alice), 10000);
    ASSERT_EQ_INT(run_op(w.ledger, 2, NULL, w.alice, w.bob, 100, NULL), QB_OK);
    ASSERT_EQ_INT(balance(&w, w.bob), 100);
    world_close(&w);
    verify_ok(&w);
    test_rmtree(w.dir);
}

int main(void)
{
    if (!crypto_init())
        return 1;
    log_init(stderr, LOG_WARN);
    RUN(failed_commit_acknowledges_nothing_and_the_ledger_carries_on);
    RUN(failing_commits_are_logged_at_most_once_a_second);
    RUN(failed_commit_forgets_accounts_and_holds_of_its_batch);
    RUN(failed_begin_fails_the_batch_then_recovers);
    RUN(failed_savepoint_fails_the_batch_not_just_the_command);
    RUN(restart_after_failures_sees_only_what_was_acknowledged);
    RUN(an_open_makes_what_it_read_durable_first);
    RUN(commands_complete_only_once_a_sync_covers_their_batch);
    RUN(a_failed_commit_does_not_hold_readers_for_the_reload);
    return test_summary();
}

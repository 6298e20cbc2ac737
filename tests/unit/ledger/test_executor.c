/*
 * test_executor.c — the ledger's executor under concurrency.
 *
 * These tests drive the queue, the writer thread and group commit from many
 * submitting threads at once, and then judge the outcome only by what is
 * durably stored: every command answered QB_OK must have exactly its entry
 * in the journal, every refused one must have left nothing, balances must
 * equal what the answers imply, and ledger_verify must pass. Commands record
 * what their run function did (the entry id it got) in their own struct, so
 * each answer can be checked against the database one by one.
 *
 * To make the queue observable the tests block the writer thread on purpose:
 * a "gate" command's run function waits on a condition variable until the
 * test opens it. That breaks the run function's contract (it must not
 * block), which is exactly what lets the tests fill the queue, build one
 * known batch, or catch ledger_close half-way, deterministically. A watchdog
 * opens a forgotten gate after GATE_WATCHDOG_MS, so that an executor that
 * wrongly blocks a submitter makes the test fail instead of hang.
 *
 * Self-contained: CMake builds each tests/unit/ledger/test_*.c as its own
 * program. Worker threads never call ASSERT (the harness longjmps on the
 * main thread); they record, and the main thread judges. A failing test
 * leaks its ledger and its commands on purpose: the writer thread may still
 * hold them.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/crypto.h"
#include "base/money.h"
#include "base/rand.h"
#include "ledger/ledger.h"
#include "store/store.h"
#include "test.h"

#define USER_COUNT 32
#define FUND_MINOR INT64_C(10000) /* each user's starting balance */
#define CODE_TRANSFER 7
#define CODE_FUNDING 1
#define THREAD_COUNT 16
#define COMMANDS_PER_THREAD 2000
#define UNKNOWN_ACCOUNT_ID INT64_C(1000000)
#define WAIT_MS_MAX 120000 /* for completions; a hang is a failure */
#define GATE_WATCHDOG_MS 5000
#define HISTORY_PAGE_MAX 64
#define REF_SIZE 32

/* --- the books: a ledger with funded users -------------------------------- */

struct books {
    char dir[512];
    char db_path[640];
    struct ledger_options options;
    struct store *writer;
    struct store *reader;
    struct ledger *ledger;
    const struct currency *cny;
    int64_t bank_id;
    int64_t user_ids[USER_COUNT];
    int64_t funding_count; /* entries made by books_new */
};

struct create_ctx {
    struct ledger_account_spec spec;
    int64_t account_id;
};

static enum qb_error create_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct create_ctx *ctx = cmd->ctx;
    return ledger_txn_account_create(txn, &ctx->spec, &ctx->account_id);
}

static int64_t books_create(struct books *b, const char *owner, enum ledger_account_kind kind,
                            int64_t floor_minor)
{
    struct create_ctx ctx = {.spec = {owner, b->cny, kind, 0, floor_minor}, .account_id = 0};
    struct ledger_cmd cmd;
    ledger_cmd_init(&cmd, create_run, &ctx);
    enum qb_error rc = ledger_execute(b->ledger, &cmd);
    ledger_cmd_release(&cmd);
    if (rc != QB_OK || ctx.account_id <= 0)
        TEST_FAIL_("creating account \"%s\": %s", owner, error_name(rc));
    return ctx.account_id;
}

/* One transfer command: debit -> credit, optionally failing after it posted. */
enum op_kind {
    OP_TRANSFER = 0,    /* between two users: QB_OK or insufficient balance */
    OP_OVERDRAFT,       /* more than any user can ever hold: always refused */
    OP_UNKNOWN_ACCOUNT, /* credits an account that does not exist */
    OP_POST_THEN_FAIL,  /* posts, then returns QB_E_CONFLICT: rolled back */
    OP_KIND_COUNT
};

struct tally {
    _Atomic size_t completed;
};

struct op {
    struct ledger_cmd cmd;
    enum op_kind kind;
    int64_t debit_id;
    int64_t credit_id;
    int64_t amount_minor;
    uint16_t code;
    char ref[REF_SIZE];
    struct tally *tally; /* for ledger_submit; NULL with ledger_execute */

    /* Written on the writer thread. */
    _Atomic int run_count;
    _Atomic int done_count;
    int64_t entry_id; /* what ledger_txn_post gave the run function */

    /* The answer. */
    enum qb_error submit_result;
    enum qb_error result;
};

static enum qb_error op_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct op *op = cmd->ctx;
    atomic_fetch_add(&op->run_count, 1);
    struct ledger_leg legs[2] = {{op->debit_id, -op->amount_minor},
                                 {op->credit_id, op->amount_minor}};
    int64_t entry_id = 0;
    enum qb_error rc = ledger_txn_post(txn, op->code, op->ref, legs, 2, &entry_id);
    if (rc != QB_OK)
        return rc;
    op->entry_id = entry_id;
    if (buf_printf(&cmd->response, "entry=%" PRId64, entry_id) != QB_OK)
        return QB_E_INTERNAL;
    return op->kind == OP_POST_THEN_FAIL ? QB_E_CONFLICT : QB_OK;
}

static void op_done(struct ledger_cmd *cmd)
{
    struct op *op = cmd->ctx;
    op->result = cmd->result;
    atomic_fetch_add(&op->done_count, 1);
    if (op->tally != NULL)
        atomic_fetch_add(&op->tally->completed, 1);
}

static void op_prepare(struct op *op, enum op_kind kind, int64_t debit_id, int64_t credit_id,
                       int64_t amount_minor, const char *ref)
{
    memset(op, 0, sizeof *op);
    ledger_cmd_init(&op->cmd, op_run, op);
    op->kind = kind;
    op->debit_id = debit_id;
    op->credit_id = credit_id;
    op->amount_minor = amount_minor;
    op->code = CODE_TRANSFER;
    snprintf(op->ref, sizeof op->ref, "%s", ref);
    op->result = QB_E_INTERNAL; /* until answered */
    op->submit_result = QB_E_INTERNAL;
}

/* Submits op with op_done as its callback, counted in tally (may be NULL). */
static enum qb_error op_submit(struct ledger *ledger, struct op *op, struct tally *tally)
{
    op->tally = tally;
    op->cmd.done = op_done;
    op->submit_result = ledger_submit(ledger, &op->cmd);
    return op->submit_result;
}

/* Runs op through ledger_execute; the answer lands in op->result. */
static enum qb_error op_execute(struct ledger *ledger, struct op *op)
{
    op->submit_result = QB_OK;
    op->result = ledger_execute(ledger, &op->cmd);
    return op->result;
}

/* A fresh directory, a started ledger, a bank account without floor and
 * USER_COUNT users funded with FUND_MINOR each. */
static struct books *books_new(const struct ledger_options *options)
{
    struct books *b = calloc(1, sizeof *b);
    ASSERT(b != NULL);
    test_tmpdir(b->dir, sizeof b->dir);
    snprintf(b->db_path, sizeof b->db_path, "%s/qianbao.db", b->dir);
    if (options != NULL)
        b->options = *options;
    b->cny = currency_find("CNY");
    ASSERT(b->cny != NULL);
    char err[256] = "";
    enum qb_error rc = store_open(b->db_path, STORE_MODE_WRITE, &b->writer, err, sizeof err);
    if (rc != QB_OK)
        TEST_FAIL_("store_open(write) \"%s\": %s: %s", b->db_path, error_name(rc), err);
    ASSERT_EQ_INT(ledger_open(b->writer, &b->options, &b->ledger), QB_OK);
    rc = store_open(b->db_path, STORE_MODE_READ, &b->reader, err, sizeof err);
    if (rc != QB_OK)
        TEST_FAIL_("store_open(read) \"%s\": %s: %s", b->db_path, error_name(rc), err);

    b->bank_id = books_create(b, "system:bank_clearing", LEDGER_ACCOUNT_SYSTEM, LEDGER_FLOOR_NONE);
    for (int i = 0; i < USER_COUNT; i++) {
        char owner[32];
        snprintf(owner, sizeof owner, "user:u_%02d", i);
        b->user_ids[i] = books_create(b, owner, LEDGER_ACCOUNT_USER, 0);
        char ref[REF_SIZE];
        snprintf(ref, sizeof ref, "fund-%02d", i);
        struct op fund;
        op_prepare(&fund, OP_TRANSFER, b->bank_id, b->user_ids[i], FUND_MINOR, ref);
        fund.code = CODE_FUNDING;
        rc = op_execute(b->ledger, &fund);
        ledger_cmd_release(&fund.cmd);
        if (rc != QB_OK)
            TEST_FAIL_("funding user %d: %s", i, error_name(rc));
        b->funding_count++;
    }
    return b;
}

/* Closes everything and removes the directory; reached only on success. */
static void books_free(struct books *b)
{
    if (b->ledger != NULL)
        ledger_close(b->ledger);
    store_close(b->writer);
    store_close(b->reader);
    test_rmtree(b->dir);
    free(b);
}

static int64_t books_balance(struct books *b, int64_t account_id)
{
    struct ledger_account_view v;
    enum qb_error rc = ledger_account_view(b->ledger, account_id, &v);
    if (rc != QB_OK)
        TEST_FAIL_("ledger_account_view(%" PRId64 "): %s", account_id, error_name(rc));
    return v.balance_minor;
}

/* One integer answered by a query on the read connection. */
static int64_t query_int64(struct store *reader, const char *sql)
{
    struct store_stmt *stmt = NULL;
    enum qb_error rc = store_prepare(reader, sql, &stmt);
    if (rc != QB_OK)
        TEST_FAIL_("prepare \"%s\": %s: %s", sql, error_name(rc), store_last_error(reader));
    int step = store_step(stmt);
    int64_t value = step == STORE_STEP_ROW ? store_column_int64(stmt, 0) : -1;
    store_finalize(stmt);
    if (step != STORE_STEP_ROW)
        TEST_FAIL_("\"%s\" answered no row (%d)", sql, step);
    return value;
}

static int64_t entry_count(struct books *b)
{
    return query_int64(b->reader, "SELECT COUNT(*) FROM entries");
}

static void verify_ok(const char *db_path, int64_t entries_expected)
{
    char err[256] = "";
    struct store *reader = NULL;
    enum qb_error rc = store_open(db_path, STORE_MODE_READ, &reader, err, sizeof err);
    if (rc != QB_OK)
        TEST_FAIL_("store_open(read) for verify: %s: %s", error_name(rc), err);
    struct ledger_verify_report report;
    rc = ledger_verify(reader, NULL, 0, &report, NULL, NULL);
    store_close(reader);
    if (rc != QB_OK || report.problem[0] != '\0')
        TEST_FAIL_("ledger_verify: %s: \"%s\"", error_name(rc), report.problem);
    ASSERT_EQ_INT(report.entries_checked, entries_expected);
}

/* Checks that the entry op's run function got is stored as op asked. */
static void check_entry_of(struct books *b, const struct op *op)
{
    struct ledger_entry e;
    enum qb_error rc = ledger_entry_read(b->reader, op->entry_id, &e);
    if (rc != QB_OK)
        TEST_FAIL_("acknowledged \"%s\": entry %" PRId64 " not readable: %s", op->ref, op->entry_id,
                   error_name(rc));
    if (strcmp(e.ref, op->ref) != 0)
        TEST_FAIL_("entry %" PRId64 ": ref \"%s\", acknowledged \"%s\"", e.id, e.ref, op->ref);
    ASSERT_EQ_INT(e.id, op->entry_id);
    ASSERT_EQ_INT(e.kind, LEDGER_ENTRY_TRANSFER);
    ASSERT_EQ_INT(e.code, op->code);
    ASSERT_EQ_INT(e.posting_count, 2);
    const struct ledger_posting *debit = ledger_entry_posting(&e, op->debit_id);
    const struct ledger_posting *credit = ledger_entry_posting(&e, op->credit_id);
    ASSERT(debit != NULL && credit != NULL);
    ASSERT_EQ_INT(debit->amount_minor, -op->amount_minor);
    ASSERT_EQ_INT(credit->amount_minor, op->amount_minor);
    ASSERT_EQ_INT(debit->currency_numeric, b->cny->numeric);
    char expect[64];
    snprintf(expect, sizeof expect, "entry=%" PRId64, op->entry_id);
    ASSERT_EQ_INT(op->cmd.response.size, strlen(expect));
    ASSERT(memcmp(op->cmd.response.data, expect, op->cmd.response.size) == 0);
}

/* The result each kind may answer. */
static bool op_result_allowed(const struct op *op)
{
    switch (op->kind) {
    case OP_TRANSFER:
        return op->result == QB_OK || op->result == QB_E_INSUFFICIENT_BALANCE;
    case OP_OVERDRAFT:
        return op->result == QB_E_INSUFFICIENT_BALANCE;
    case OP_UNKNOWN_ACCOUNT:
        return op->result == QB_E_NOT_FOUND;
    case OP_POST_THEN_FAIL:
        return op->result == QB_E_CONFLICT || op->result == QB_E_INSUFFICIENT_BALANCE;
    case OP_KIND_COUNT:
        break;
    }
    return false;
}

/* Judges a finished run of ops against the books: answers, entries, the
 * entry count, per-account balances recomputed from the answers, each user's
 * history, and ledger_verify. `submitted`: the ops went through ledger_submit
 * with op_done (ledger_execute uses its own callback). */
static void books_check(struct books *b, struct op *ops, size_t op_count, bool submitted)
{
    int64_t expected[USER_COUNT];
    size_t history_expected[USER_COUNT];
    for (int i = 0; i < USER_COUNT; i++) {
        expected[i] = FUND_MINOR;
        history_expected[i] = 1; /* its funding entry */
    }
    int64_t first_entry_id = b->funding_count + 1;
    int64_t last_entry_id = b->funding_count + (int64_t)op_count;
    bool *seen = calloc(op_count + 1, sizeof *seen);
    ASSERT(seen != NULL);
    size_t ok_count = 0;
    size_t by_result[QB_ERROR_COUNT] = {0};

    for (size_t i = 0; i < op_count; i++) {
        struct op *op = &ops[i];
        if (submitted && atomic_load(&op->done_count) != 1)
            TEST_FAIL_("op %zu \"%s\": done called %d times", i, op->ref,
                       atomic_load(&op->done_count));
        if (atomic_load(&op->run_count) != 1)
            TEST_FAIL_("op %zu \"%s\": run called %d times", i, op->ref,
                       atomic_load(&op->run_count));
        if (!op_result_allowed(op))
            TEST_FAIL_("op %zu \"%s\" (kind %d, %" PRId64 " from %" PRId64 " to %" PRId64
                       "): answered %s",
                       i, op->ref, (int)op->kind, op->amount_minor, op->debit_id, op->credit_id,
                       error_name(op->result));
        ASSERT(!op->cmd.replayed);
        by_result[op->result]++;
        if (op->result != QB_OK)
            continue;
        ok_count++;
        if (op->entry_id < first_entry_id || op->entry_id > last_entry_id)
            TEST_FAIL_("op \"%s\": entry id %" PRId64 " outside %" PRId64 "..%" PRId64, op->ref,
                       op->entry_id, first_entry_id, last_entry_id);
        size_t slot = (size_t)(op->entry_id - first_entry_id);
        if (seen[slot])
            TEST_FAIL_("entry %" PRId64 " acknowledged twice", op->entry_id);
        seen[slot] = true;
        check_entry_of(b, op);
        for (int u = 0; u < USER_COUNT; u++) {
            if (b->user_ids[u] == op->debit_id) {
                expected[u] -= op->amount_minor;
                history_expected[u]++;
            }
            if (b->user_ids[u] == op->credit_id) {
                expected[u] += op->amount_minor;
                history_expected[u]++;
            }
        }
    }
    free(seen);
    fprintf(stderr, "  %zu commands: %zu ok, %zu insufficient, %zu not found, %zu conflict\n",
            op_count, ok_count, by_result[QB_E_INSUFFICIENT_BALANCE], by_result[QB_E_NOT_FOUND],
            by_result[QB_E_CONFLICT]);
    /* The mix really happened: some of each outcome. */
    ASSERT(ok_count > 0);
    ASSERT(by_result[QB_E_INSUFFICIENT_BALANCE] > 0);
    ASSERT(by_result[QB_E_NOT_FOUND] > 0);
    ASSERT(by_result[QB_E_CONFLICT] > 0);

    /* Refused commands left nothing: the journal is exactly the funding
     * plus one entry per success, with dense ids. */
    ASSERT_EQ_INT(entry_count(b), b->funding_count + (int64_t)ok_count);
    ASSERT_EQ_INT(query_int64(b->reader, "SELECT COALESCE(MAX(id), 0) FROM entries"),
                  b->funding_count + (int64_t)ok_count);

    /* Balances are what the answers say, and money is conserved. */
    int64_t user_sum = 0;
    for (int u = 0; u < USER_COUNT; u++) {
        int64_t balance = books_balance(b, b->user_ids[u]);
        if (balance != expected[u])
            TEST_FAIL_("user %d: balance %" PRId64 ", the answers imply %" PRId64, u, balance,
                       expected[u]);
        ASSERT(balance >= 0);
        user_sum += balance;
    }
    ASSERT_EQ_INT(user_sum, USER_COUNT * FUND_MINOR);
    ASSERT_EQ_INT(books_balance(b, b->bank_id), -USER_COUNT * FUND_MINOR);

    /* Each user's history walks back through exactly its entries. */
    struct ledger_entry *page = calloc(HISTORY_PAGE_MAX, sizeof *page);
    ASSERT(page != NULL);
    for (int u = 0; u < USER_COUNT; u++) {
        size_t total = 0;
        int64_t cursor = 0, previous_id = INT64_MAX, balance_after = 0;
        bool first = true;
        do {
            size_t count = 0;
            int64_t next = 0;
            enum qb_error rc = ledger_history(b->ledger, b->reader, b->user_ids[u], cursor,
                                              HISTORY_PAGE_MAX, page, &count, &next);
            if (rc != QB_OK)
                TEST_FAIL_("ledger_history(user %d, cursor %" PRId64 "): %s", u, cursor,
                           error_name(rc));
            for (size_t k = 0; k < count; k++) {
                const struct ledger_posting *po = ledger_entry_posting(&page[k], b->user_ids[u]);
                ASSERT(po != NULL);
                ASSERT(page[k].id < previous_id);
                ASSERT(po->balance_after_minor >= 0);
                if (first)
                    balance_after = po->balance_after_minor;
                first = false;
                previous_id = page[k].id;
            }
            total += count;
            ASSERT(count > 0 || next == 0);
            cursor = next;
        } while (cursor != 0);
        ASSERT_EQ_INT(total, history_expected[u]);
        ASSERT_EQ_INT(balance_after, expected[u]);
    }
    free(page);

    verify_ok(b->db_path, b->funding_count + (int64_t)ok_count);
}

/* --- many submitters -------------------------------------------------------- */

struct worker {
    struct books *books;
    struct op *ops;
    size_t op_count;
    struct tally *tally; /* NULL: ledger_execute; else ledger_submit */
    pthread_barrier_t *start;
};

/* Fills ops with a random mix of kinds from rng. */
static void ops_generate(struct books *b, struct op *ops, size_t op_count, int thread_index,
                         struct qb_rand *rng)
{
    for (size_t i = 0; i < op_count; i++) {
        enum op_kind kind = OP_TRANSFER;
        uint64_t dice = rand_below(rng, 10);
        if (dice == 0)
            kind = OP_OVERDRAFT;
        else if (dice == 1)
            kind = OP_UNKNOWN_ACCOUNT;
        else if (dice == 2)
            kind = OP_POST_THEN_FAIL;
        size_t from = (size_t)rand_below(rng, USER_COUNT);
        size_t to = (from + 1 + (size_t)rand_below(rng, USER_COUNT - 1)) % USER_COUNT;
        int64_t amount = 1 + (int64_t)rand_below(rng, 3000);
        int64_t debit_id = b->user_ids[from], credit_id = b->user_ids[to];
        if (kind == OP_OVERDRAFT)
            amount = USER_COUNT * FUND_MINOR + 1;
        if (kind == OP_UNKNOWN_ACCOUNT)
            credit_id = UNKNOWN_ACCOUNT_ID;
        char ref[REF_SIZE];
        snprintf(ref, sizeof ref, "t%02d-%05zu", thread_index, i);
        op_prepare(&ops[i], kind, debit_id, credit_id, amount, ref);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    pthread_barrier_wait(w->start);
    for (size_t i = 0; i < w->op_count; i++) {
        if (w->tally == NULL)
            (void)op_execute(w->books->ledger, &w->ops[i]);
        else
            (void)op_submit(w->books->ledger, &w->ops[i], w->tally);
    }
    return NULL;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits until tally counts `expected` completions; fails after WAIT_MS_MAX. */
static void tally_wait(struct tally *tally, size_t expected)
{
    int64_t start_ns = clock_monotonic_ns();
    while (atomic_load(&tally->completed) < expected) {
        if ((clock_monotonic_ns() - start_ns) / 1000000 > WAIT_MS_MAX)
            TEST_FAIL_("only %zu of %zu commands completed after %d ms",
                       atomic_load(&tally->completed), expected, WAIT_MS_MAX);
        sleep_ms(1);
    }
    ASSERT_EQ_INT(atomic_load(&tally->completed), expected);
}

/* Runs THREAD_COUNT x COMMANDS_PER_THREAD random ops on fresh books, through
 * ledger_execute or (use_submit) ledger_submit, and judges the result. */
static void run_many_submitters(bool use_submit)
{
    uint64_t seed = test_seed();
    struct books *b = books_new(NULL);
    size_t op_count = (size_t)THREAD_COUNT * COMMANDS_PER_THREAD;
    struct op *ops = calloc(op_count, sizeof *ops);
    ASSERT(ops != NULL);
    struct worker workers[THREAD_COUNT];
    pthread_t threads[THREAD_COUNT];
    struct tally tally = {0};
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREAD_COUNT + 1);
    for (int t = 0; t < THREAD_COUNT; t++) {
        struct qb_rand rng;
        rand_seeded_init(&rng, seed + (uint64_t)t);
        workers[t] = (struct worker){b, &ops[(size_t)t * COMMANDS_PER_THREAD], COMMANDS_PER_THREAD,
                                     use_submit ? &tally : NULL, &start};
        ops_generate(b, workers[t].ops, COMMANDS_PER_THREAD, t, &rng);
    }
    struct ledger_stats before, after;
    ledger_stats_get(b->ledger, &before);
    int64_t start_ns = clock_monotonic_ns();
    for (int t = 0; t < THREAD_COUNT; t++)
        ASSERT_EQ_INT(pthread_create(&threads[t], NULL, worker_main, &workers[t]), 0);
    pthread_barrier_wait(&start);
    for (int t = 0; t < THREAD_COUNT; t++)
        pthread_join(threads[t], NULL);
    pthread_barrier_destroy(&start);
    for (size_t i = 0; i < op_count && use_submit; i++)
        if (ops[i].submit_result != QB_OK)
            TEST_FAIL_("ledger_submit of op %zu: %s", i, error_name(ops[i].submit_result));
    if (use_submit)
        tally_wait(&tally, op_count);
    int64_t elapsed_ms = (clock_monotonic_ns() - start_ns) / 1000000;
    ledger_stats_get(b->ledger, &after);
    fprintf(stderr, "  %zu commands in %" PRId64 " ms, %" PRIu64 " batches\n", op_count, elapsed_ms,
            after.batches_total - before.batches_total);

    ASSERT_EQ_INT(after.commands_total - before.commands_total, op_count);
    ASSERT_EQ_INT(after.queue_depth, 0);
    books_check(b, ops, op_count, use_submit);
    ASSERT_EQ_INT(after.commands_failed_total - before.commands_failed_total,
                  op_count - (size_t)(entry_count(b) - b->funding_count));
    /* Every committed batch was made durable by a sync, which may cover
     * several: the metrics' sync histogram counts each sync once. */
    uint64_t commits = 0, syncs = 0;
    for (int i = 0; i < LEDGER_LATENCY_BUCKETS; i++) {
        commits += after.commit_latency_us_buckets[i] - before.commit_latency_us_buckets[i];
        syncs += after.sync_latency_us_buckets[i] - before.sync_latency_us_buckets[i];
    }
    fprintf(stderr, "  %" PRIu64 " commits made durable by %" PRIu64 " syncs\n", commits, syncs);
    ASSERT(syncs >= 1 && syncs <= commits);
    ASSERT(after.sync_latency_us_sum >= before.sync_latency_us_sum);
    for (size_t i = 0; i < op_count; i++)
        ledger_cmd_release(&ops[i].cmd);
    free(ops);
    books_free(b);
}

TEST(execute_from_many_threads_commits_exactly_the_acknowledged)
{
    /* 16 threads x 2,000 ledger_execute calls mixing transfers that succeed
     * and ones that must be refused leave exactly one stored entry per QB_OK
     * and nothing else, because group commit must never acknowledge what it
     * did not store nor store what it refused. */
    run_many_submitters(false);
}

TEST(submit_from_many_threads_completes_each_command_once)
{
    /* The same load through ledger_submit, with done callbacks counted by
     * atomics, completes every command exactly once with the same stored
     * outcome, because HTTP threads rely on the callback and never wait. */
    run_many_submitters(true);
}

TEST(concurrent_submitters_share_commits)
{
    /* With 16 threads waiting in ledger_execute there must be fewer batches
     * than commands, because group commit (one fsync for many payments) is
     * the executor's reason to exist. */
    uint64_t seed = test_seed();
    struct books *b = books_new(NULL);
    enum { PER_THREAD = 250 };
    size_t op_count = (size_t)THREAD_COUNT * PER_THREAD;
    struct op *ops = calloc(op_count, sizeof *ops);
    ASSERT(ops != NULL);
    struct worker workers[THREAD_COUNT];
    pthread_t threads[THREAD_COUNT];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREAD_COUNT + 1);
    for (int t = 0; t < THREAD_COUNT; t++) {
        struct qb_rand rng;
        rand_seeded_init(&rng, seed + (uint64_t)t);
        workers[t] = (struct worker){b, &ops[(size_t)t * PER_THREAD], PER_THREAD, NULL, &start};
        ops_generate(b, workers[t].ops, PER_THREAD, t, &rng);
    }
    struct ledger_stats before, after;
    ledger_stats_get(b->ledger, &before);
    for (int t = 0; t < THREAD_COUNT; t++)
        ASSERT_EQ_INT(pthread_create(&threads[t], NULL, worker_main, &workers[t]), 0);
    pthread_barrier_wait(&start);
    for (int t = 0; t < THREAD_COUNT; t++)
        pthread_join(threads[t], NULL);
    pthread_barrier_destroy(&start);
    ledger_stats_get(b->ledger, &after);

    uint64_t commands = after.commands_total - before.commands_total;
    uint64_t batches = after.batches_total - before.batches_total;
    fprintf(stderr, "  %" PRIu64 " commands in %" PRIu64 " batches\n", commands, batches);
    ASSERT_EQ_INT(commands, op_count);
    ASSERT(batches > 0);
    ASSERT(batches < commands);
    ASSERT_EQ_INT(after.batch_size_sum - before.batch_size_sum, commands);
    /* Some batch held more than one command: buckets past the first. */
    uint64_t bucket_total = 0, multi = 0;
    for (int i = 0; i < LEDGER_LATENCY_BUCKETS; i++) {
        bucket_total += after.batch_size_buckets[i];
        if (i > 0)
            multi += after.batch_size_buckets[i] - before.batch_size_buckets[i];
    }
    ASSERT_EQ_INT(bucket_total, after.batches_total);
    ASSERT(multi > 0);
    books_check(b, ops, op_count, false);
    for (size_t i = 0; i < op_count; i++)
        ledger_cmd_release(&ops[i].cmd);
    free(ops);
    books_free(b);
}

/* --- the gate: a command that holds the writer thread --------------------- */

struct gate {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    bool entered; /* the writer is inside the gate's run function */
    bool open;
    bool finished; /* the test is done with the gate: the watchdog may leave */
    bool watchdog_fired;
    pthread_t watchdog;
    struct ledger_cmd cmd;
    _Atomic int done_count;
};

static enum qb_error gate_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    (void)txn;
    struct gate *g = cmd->ctx;
    pthread_mutex_lock(&g->mutex);
    g->entered = true;
    pthread_cond_broadcast(&g->cond);
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->mutex);
    pthread_mutex_unlock(&g->mutex);
    return QB_OK;
}

static void gate_done(struct ledger_cmd *cmd)
{
    struct gate *g = cmd->ctx;
    atomic_fetch_add(&g->done_count, 1);
}

static void gate_open(struct gate *g)
{
    pthread_mutex_lock(&g->mutex);
    g->open = true;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->mutex);
}

/* Opens the gate if the test has not finished with it in GATE_WATCHDOG_MS:
 * a submitter blocked by mistake then returns (late) and the test fails on
 * its timing instead of hanging forever. */
static void *gate_watchdog_main(void *arg)
{
    struct gate *g = arg;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += GATE_WATCHDOG_MS / 1000;
    pthread_mutex_lock(&g->mutex);
    while (!g->finished) {
        if (pthread_cond_timedwait(&g->cond, &g->mutex, &until) != 0) {
            g->watchdog_fired = !g->open;
            g->open = true;
            pthread_cond_broadcast(&g->cond);
            break;
        }
    }
    pthread_mutex_unlock(&g->mutex);
    return NULL;
}

/* Submits the gate and waits until the writer thread is inside it, so that
 * the queue is empty and everything submitted next waits behind it. */
static void gate_close_writer(struct gate *g, struct ledger *ledger)
{
    memset(g, 0, sizeof *g);
    pthread_mutex_init(&g->mutex, NULL);
    pthread_cond_init(&g->cond, NULL);
    ledger_cmd_init(&g->cmd, gate_run, g);
    g->cmd.done = gate_done;
    ASSERT_EQ_INT(pthread_create(&g->watchdog, NULL, gate_watchdog_main, g), 0);
    ASSERT_EQ_INT(ledger_submit(ledger, &g->cmd), QB_OK);
    pthread_mutex_lock(&g->mutex);
    while (!g->entered)
        pthread_cond_wait(&g->cond, &g->mutex);
    pthread_mutex_unlock(&g->mutex);
}

/* Ends the watchdog; the gate must be open (or the writer stays stuck). */
static void gate_finish(struct gate *g)
{
    pthread_mutex_lock(&g->mutex);
    g->finished = true;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->mutex);
    pthread_join(g->watchdog, NULL);
    ASSERT(!g->watchdog_fired);
}

/* Waits until every op in ops[0..count) has completed. */
static void ops_wait(struct op *ops, size_t count)
{
    int64_t start_ns = clock_monotonic_ns();
    for (size_t i = 0; i < count; i++) {
        while (atomic_load(&ops[i].done_count) == 0) {
            if ((clock_monotonic_ns() - start_ns) / 1000000 > WAIT_MS_MAX)
                TEST_FAIL_("op %zu \"%s\" never completed", i, ops[i].ref);
            sleep_ms(1);
        }
    }
}

TEST(full_queue_answers_busy_at_once)
{
    /* With the writer held and queue_max 4, four submissions queue and the
     * rest answer QB_E_BUSY at once and never run, because a submitter (an
     * HTTP thread) must never block on a full queue. */
    struct ledger_options options = {.queue_max = 4};
    struct books *b = books_new(&options);
    int64_t entries_before = entry_count(b);
    enum { ACCEPTED = 4, REFUSED = 6 };
    struct op *ops = calloc(ACCEPTED + REFUSED, sizeof *ops);
    ASSERT(ops != NULL);
    for (int i = 0; i < ACCEPTED + REFUSED; i++) {
        char ref[REF_SIZE];
        snprintf(ref, sizeof ref, "q-%d", i);
        op_prepare(&ops[i], OP_TRANSFER, b->user_ids[0], b->user_ids[1], 10 + i, ref);
    }
    struct gate *g = calloc(1, sizeof *g);
    ASSERT(g != NULL);
    gate_close_writer(g, b->ledger);

    enum qb_error answers[ACCEPTED + REFUSED];
    int64_t slowest_ns = 0;
    for (int i = 0; i < ACCEPTED + REFUSED; i++) {
        int64_t t0 = clock_monotonic_ns();
        answers[i] = op_submit(b->ledger, &ops[i], NULL);
        int64_t took = clock_monotonic_ns() - t0;
        slowest_ns = took > slowest_ns ? took : slowest_ns;
    }
    struct ledger_stats stats;
    ledger_stats_get(b->ledger, &stats);
    gate_open(g);
    gate_finish(g);

    fprintf(stderr, "  slowest submit: %" PRId64 " us\n", slowest_ns / 1000);
    for (int i = 0; i < ACCEPTED; i++)
        ASSERT_EQ_INT(answers[i], QB_OK);
    for (int i = ACCEPTED; i < ACCEPTED + REFUSED; i++)
        ASSERT_EQ_INT(answers[i], QB_E_BUSY);
    ASSERT_EQ_INT(stats.queue_depth, ACCEPTED);
    ASSERT(slowest_ns < INT64_C(500) * 1000000); /* "at once": far below the watchdog */

    ops_wait(ops, ACCEPTED);
    ASSERT_EQ_INT(atomic_load(&g->done_count), 1);
    for (int i = 0; i < ACCEPTED; i++) {
        ASSERT_EQ_INT(ops[i].result, QB_OK);
        ASSERT_EQ_INT(atomic_load(&ops[i].done_count), 1);
        check_entry_of(b, &ops[i]);
    }
    /* Refused: never run, never completed, nothing written. */
    sleep_ms(20);
    for (int i = ACCEPTED; i < ACCEPTED + REFUSED; i++) {
        ASSERT_EQ_INT(atomic_load(&ops[i].run_count), 0);
        ASSERT_EQ_INT(atomic_load(&ops[i].done_count), 0);
    }
    ASSERT_EQ_INT(entry_count(b), entries_before + ACCEPTED);

    /* The queue recovers: the same command object, resubmitted, goes through. */
    struct op again;
    op_prepare(&again, OP_TRANSFER, b->user_ids[0], b->user_ids[1], 5, "q-again");
    ASSERT_EQ_INT(op_execute(b->ledger, &again), QB_OK);
    check_entry_of(b, &again);
    ASSERT_EQ_INT(books_balance(b, b->user_ids[0]), FUND_MINOR - (10 + 11 + 12 + 13) - 5);
    verify_ok(b->db_path, entries_before + ACCEPTED + 1);

    ledger_cmd_release(&again.cmd);
    for (int i = 0; i < ACCEPTED + REFUSED; i++)
        ledger_cmd_release(&ops[i].cmd);
    ledger_cmd_release(&g->cmd);
    books_free(b);
    free(ops);
    free(g);
}

/* A command that reads the batch's time, and may move the clock on first. */
struct clocked {
    struct ledger_cmd cmd;
    struct qb_clock *clock;
    int64_t advance_ms;
    int64_t now_ms; /* out: ledger_txn_now_ms as it ran */
    _Atomic int done_count;
};

static enum qb_error clocked_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct clocked *c = cmd->ctx;
    if (c->advance_ms > 0)
        clock_manual_advance(c->clock, c->advance_ms);
    c->now_ms = ledger_txn_now_ms(txn);
    return QB_OK;
}

static void clocked_done(struct ledger_cmd *cmd)
{
    struct clocked *c = cmd->ctx;
    atomic_fetch_add(&c->done_count, 1);
}

TEST(a_command_runs_at_the_time_it_runs_not_when_its_batch_began)
{
    /* A batch takes in commands for as long as the syncer writes the one
     * before (a disk's stall, at worst): each must see the time it runs at,
     * or a claim arriving after a red packet's expiry would be taken under
     * the batch's older time, and stamped before it. Three commands queued
     * behind the held writer run in one batch; the first moves the clock
     * on, and the others see the new time. */
    struct qb_clock clock;
    clock_manual_init(&clock, INT64_C(1767225600000));
    struct ledger_options options = {.clock = &clock};
    struct books *b = books_new(&options);
    struct gate *g = calloc(1, sizeof *g);
    ASSERT(g != NULL);
    gate_close_writer(g, b->ledger);
    struct clocked c[3];
    for (int i = 0; i < 3; i++) {
        memset(&c[i], 0, sizeof c[i]);
        ledger_cmd_init(&c[i].cmd, clocked_run, &c[i]);
        c[i].cmd.done = clocked_done;
        c[i].clock = &clock;
        c[i].advance_ms = i == 0 ? 5000 : 0;
    }
    for (int i = 0; i < 3; i++)
        ASSERT_EQ_INT(ledger_submit(b->ledger, &c[i].cmd), QB_OK);
    int64_t start_ms = clock_now_ms(&clock);
    gate_open(g);
    gate_finish(g);
    int64_t start_ns = clock_monotonic_ns();
    for (int i = 0; i < 3; i++)
        while (atomic_load(&c[i].done_count) == 0) {
            ASSERT((clock_monotonic_ns() - start_ns) / 1000000 < WAIT_MS_MAX);
            sleep_ms(1);
        }
    ASSERT_EQ_INT(c[0].now_ms, start_ms);
    ASSERT_EQ_INT(c[1].now_ms, start_ms + 5000);
    ASSERT_EQ_INT(c[2].now_ms, start_ms + 5000);
    while (atomic_load(&g->done_count) == 0) {
        ASSERT((clock_monotonic_ns() - start_ns) / 1000000 < WAIT_MS_MAX);
        sleep_ms(1);
    }
    for (int i = 0; i < 3; i++)
        ledger_cmd_release(&c[i].cmd);
    ledger_cmd_release(&g->cmd);
    free(g);
    books_free(b);
}

TEST(settled_time_waits_for_the_batch_that_runs)
{
    /* ledger_settled_ms: with no batch running, now; while one runs, the
     * time the one before it stopped taking commands, however far the
     * clock goes meanwhile, since a command of the running batch may have
     * run before the reader's deadline and not be committed yet; once it
     * is, now again. */
    struct qb_clock clock;
    clock_manual_init(&clock, INT64_C(1767225600000));
    struct ledger_options options = {.clock = &clock};
    struct books *b = books_new(&options);
    int64_t start_ms = clock_now_ms(&clock);
    ASSERT_EQ_INT(ledger_settled_ms(b->ledger), start_ms);
    struct gate *g = calloc(1, sizeof *g);
    ASSERT(g != NULL);
    gate_close_writer(g, b->ledger); /* the writer is inside a batch, in the gate */
    clock_manual_advance(&clock, 5000);
    ASSERT_EQ_INT(ledger_settled_ms(b->ledger), start_ms);
    gate_open(g);
    gate_finish(g);
    int64_t start_ns = clock_monotonic_ns();
    while (ledger_settled_ms(b->ledger) != start_ms + 5000) {
        ASSERT((clock_monotonic_ns() - start_ns) / 1000000 < WAIT_MS_MAX);
        sleep_ms(1);
    }
    /* Settled comes before the answers: the gate's is given after it. */
    while (atomic_load(&g->done_count) == 0) {
        ASSERT((clock_monotonic_ns() - start_ns) / 1000000 < WAIT_MS_MAX);
        sleep_ms(1);
    }
    ledger_cmd_release(&g->cmd);
    free(g);
    books_free(b);
}

TEST(execute_all_shares_commits_and_answers_each)
{
    /* Commands submitted together (ledger_execute_all, as the wallet's
     * worker makes a batch of delayed transfers arrive) share batches, and
     * each gets its own answer: one that fails is rolled back alone. Once
     * the ledger stops, none is taken, and each says so. */
    struct books *b = books_new(NULL);
    int64_t entries_before = entry_count(b);
    enum { COUNT = 200 };
    struct op *ops = calloc(COUNT, sizeof *ops);
    struct ledger_cmd **cmds = calloc(COUNT, sizeof *cmds);
    ASSERT(ops != NULL && cmds != NULL);
    for (int i = 0; i < COUNT; i++) {
        char ref[REF_SIZE];
        snprintf(ref, sizeof ref, "all-%d", i);
        op_prepare(&ops[i], i % 7 == 3 ? OP_POST_THEN_FAIL : OP_TRANSFER, b->user_ids[0],
                   b->user_ids[1], 1, ref);
        cmds[i] = &ops[i].cmd;
    }
    struct ledger_stats before, after;
    ledger_stats_get(b->ledger, &before);
    ASSERT_EQ_INT(ledger_execute_all(b->ledger, cmds, COUNT), QB_OK);
    ledger_stats_get(b->ledger, &after);
    int64_t posted = 0;
    for (int i = 0; i < COUNT; i++) {
        enum qb_error expected = ops[i].kind == OP_POST_THEN_FAIL ? QB_E_CONFLICT : QB_OK;
        ASSERT_EQ_INT(ops[i].cmd.result, expected);
        ASSERT_EQ_INT(atomic_load(&ops[i].run_count), 1);
        posted += expected == QB_OK;
    }
    uint64_t batches = after.batches_total - before.batches_total;
    fprintf(stderr, "  %d commands in %" PRIu64 " batches\n", COUNT, batches);
    ASSERT(batches > 0 && batches < COUNT);
    ASSERT_EQ_INT(entry_count(b), entries_before + posted);
    ASSERT_EQ_INT(books_balance(b, b->user_ids[1]), FUND_MINOR + posted);

    ledger_stop(b->ledger);
    for (int i = 0; i < 3; i++) {
        ledger_cmd_release(&ops[i].cmd);
        op_prepare(&ops[i], OP_TRANSFER, b->user_ids[0], b->user_ids[1], 1, "after-stop");
    }
    ASSERT_EQ_INT(ledger_execute_all(b->ledger, cmds, 3), QB_E_SHUTTING_DOWN);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ_INT(ops[i].cmd.result, QB_E_SHUTTING_DOWN);
        ASSERT_EQ_INT(atomic_load(&ops[i].run_count), 0);
    }
    for (int i = 0; i < COUNT; i++)
        ledger_cmd_release(&ops[i].cmd);
    books_free(b);
    free(cmds);
    free(ops);
}

struct closer {
    struct ledger *ledger;
    _Atomic bool returned;
};

static void *closer_main(void *arg)
{
    struct closer *c = arg;
    ledger_close(c->ledger);
    atomic_store(&c->returned, true);
    return NULL;
}

TEST(close_refuses_new_commands_and_drains_the_queue)
{
    /* Once ledger_close has begun, ledger_submit answers QB_E_SHUTTING_DOWN
     * while every command queued before still completes durably, because a
     * daemon stopping must answer everything it accepted. */

    /* The writer is held in a gate throughout, so ledger_close cannot get
     * past its join and free the ledger while the test still submits. */
    struct books *b = books_new(NULL);
    int64_t entries_before = entry_count(b);
    enum { QUEUED = 3, PROBE_MAX = 2000 };
    struct op *queued = calloc(QUEUED, sizeof *queued);
    struct op *probes = calloc(PROBE_MAX, sizeof *probes);
    struct gate *g = calloc(1, sizeof *g);
    struct closer *closer = calloc(1, sizeof *closer);
    ASSERT(queued != NULL && probes != NULL && g != NULL && closer != NULL);
    for (int i = 0; i < QUEUED; i++) {
        char ref[REF_SIZE];
        snprintf(ref, sizeof ref, "queued-%d", i);
        op_prepare(&queued[i], OP_TRANSFER, b->user_ids[2], b->user_ids[3], 100, ref);
    }
    for (int i = 0; i < PROBE_MAX; i++) {
        char ref[REF_SIZE];
        snprintf(ref, sizeof ref, "probe-%d", i);
        op_prepare(&probes[i], OP_TRANSFER, b->user_ids[4], b->user_ids[5], 1, ref);
    }

    gate_close_writer(g, b->ledger);
    enum qb_error queued_answers[QUEUED];
    for (int i = 0; i < QUEUED; i++)
        queued_answers[i] = op_submit(b->ledger, &queued[i], NULL);

    /* Close on another thread; it blocks in the join until the gate opens.
     * Probe until a submission is refused: before close sets its flag they
     * are queued like any other. */
    closer->ledger = b->ledger;
    pthread_t closer_thread;
    ASSERT_EQ_INT(pthread_create(&closer_thread, NULL, closer_main, closer), 0);
    int probe_count = 0, refused_index = -1;
    while (probe_count < PROBE_MAX) {
        enum qb_error rc = op_submit(b->ledger, &probes[probe_count], NULL);
        probe_count++;
        if (rc != QB_OK) {
            refused_index = probe_count - 1;
            break;
        }
        sleep_ms(1);
    }
    /* The ledger is still alive (its writer is in the gate): submitting
     * again must keep answering QB_E_SHUTTING_DOWN. */
    struct op *late = calloc(1, sizeof *late);
    ASSERT(late != NULL);
    op_prepare(late, OP_TRANSFER, b->user_ids[4], b->user_ids[5], 1, "late");
    enum qb_error late_answer = refused_index >= 0 ? op_submit(b->ledger, late, NULL) : QB_OK;
    bool closed_early = atomic_load(&closer->returned);
    gate_open(g);
    pthread_join(closer_thread, NULL);
    b->ledger = NULL; /* freed by ledger_close */
    gate_finish(g);

    fprintf(stderr, "  %d probes queued before close refused one\n", refused_index);
    ASSERT(!closed_early);
    if (refused_index < 0)
        TEST_FAIL_("%d submissions after ledger_close began were all accepted", PROBE_MAX);
    ASSERT_EQ_INT(probes[refused_index].submit_result, QB_E_SHUTTING_DOWN);
    ASSERT_EQ_INT(late_answer, QB_E_SHUTTING_DOWN);
    ASSERT_EQ_INT(atomic_load(&g->done_count), 1);

    /* Everything accepted was run, completed once, and is stored. */
    int64_t accepted = 0;
    for (int i = 0; i < QUEUED; i++) {
        ASSERT_EQ_INT(queued_answers[i], QB_OK);
        ASSERT_EQ_INT(atomic_load(&queued[i].done_count), 1);
        ASSERT_EQ_INT(queued[i].result, QB_OK);
        check_entry_of(b, &queued[i]);
        accepted++;
    }
    for (int i = 0; i < refused_index; i++) {
        ASSERT_EQ_INT(atomic_load(&probes[i].done_count), 1);
        ASSERT_EQ_INT(probes[i].result, QB_OK);
        check_entry_of(b, &probes[i]);
        accepted++;
    }
    ASSERT_EQ_INT(atomic_load(&probes[refused_index].run_count), 0);
    ASSERT_EQ_INT(atomic_load(&probes[refused_index].done_count), 0);
    ASSERT_EQ_INT(atomic_load(&late->run_count), 0);
    ASSERT_EQ_INT(atomic_load(&late->done_count), 0);
    ASSERT_EQ_INT(entry_count(b), entries_before + accepted);

    /* Close flushed every checkpoint: a restart would replay nothing. */
    int64_t max_id = query_int64(b->reader, "SELECT MAX(id) FROM entries");
    ASSERT_EQ_INT(query_int64(b->reader, "SELECT value FROM meta WHERE key = 'replay_from'"),
                  max_id + 1);
    verify_ok(b->db_path, entries_before + accepted);

    ledger_cmd_release(&late->cmd);
    free(late);
    for (int i = 0; i < QUEUED; i++)
        ledger_cmd_release(&queued[i].cmd);
    for (int i = 0; i < PROBE_MAX; i++)
        ledger_cmd_release(&probes[i].cmd);
    ledger_cmd_release(&g->cmd);
    books_free(b);
    free(queued);
    free(probes);
    free(g);
    free(closer);
}

/* --- a failing command in a batch --------------------------------------------- */

/* A scripted command for the batch test: optionally creates an account,
 * posts a transfer (to that account when credit_id is 0), then answers
 * `answer`. */
struct scripted {
    struct ledger_cmd cmd;
    const char *create_owner; /* NULL: no account */
    int64_t debit_id;
    int64_t credit_id; /* 0: the account just created */
    int64_t amount_minor;
    const char *ref;
    enum qb_error answer;

    int64_t created_id;
    int64_t entry_id;
    _Atomic int done_count;
};

static enum qb_error scripted_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct scripted *s = cmd->ctx;
    if (s->create_owner != NULL) {
        struct ledger_account_spec spec = {s->create_owner, currency_find("CNY"),
                                           LEDGER_ACCOUNT_USER, 0, 0};
        enum qb_error rc = ledger_txn_account_create(txn, &spec, &s->created_id);
        if (rc != QB_OK)
            return rc;
    }
    struct ledger_leg legs[2] = {{s->debit_id, -s->amount_minor},
                                 {s->credit_id ? s->credit_id : s->created_id, s->amount_minor}};
    enum qb_error rc = ledger_txn_post(txn, CODE_TRANSFER, s->ref, legs, 2, &s->entry_id);
    if (rc != QB_OK)
        return rc;
    if (buf_printf(&cmd->response, "entry=%" PRId64, s->entry_id) != QB_OK)
        return QB_E_INTERNAL;
    return s->answer;
}

static void scripted_done(struct ledger_cmd *cmd)
{
    struct scripted *s = cmd->ctx;
    atomic_fetch_add(&s->done_count, 1);
}

static void entry_expect(struct books *b, int64_t entry_id, const char *ref, int64_t debit_id,
                         int64_t credit_id, int64_t amount_minor)
{
    struct ledger_entry e;
    enum qb_error rc = ledger_entry_read(b->reader, entry_id, &e);
    if (rc != QB_OK)
        TEST_FAIL_("entry %" PRId64 " (\"%s\"): %s", entry_id, ref, error_name(rc));
    ASSERT_EQ_STR(e.ref, ref);
    const struct ledger_posting *debit = ledger_entry_posting(&e, debit_id);
    const struct ledger_posting *credit = ledger_entry_posting(&e, credit_id);
    ASSERT(debit != NULL && credit != NULL);
    ASSERT_EQ_INT(e.posting_count, 2);
    ASSERT_EQ_INT(debit->amount_minor, -amount_minor);
    ASSERT_EQ_INT(credit->amount_minor, amount_minor);
}

TEST(failing_command_rolls_back_alone_in_its_batch)
{
    /* In one batch of seven, the commands that post (one after creating an
     * account) and then answer an error leave nothing while their neighbours
     * commit, because one failing payment must not take a batch with it. */
    struct books *b = books_new(NULL);
    int64_t entries_before = entry_count(b);
    int64_t *u = b->user_ids;
    const struct scripted script[] = {
        {.debit_id = u[0], .credit_id = u[1], .amount_minor = 100, .ref = "a", .answer = QB_OK},
        {.debit_id = u[0],
         .credit_id = u[2],
         .amount_minor = 200,
         .ref = "b",
         .answer = QB_E_CONFLICT},
        {.debit_id = u[1], .credit_id = u[2], .amount_minor = 50, .ref = "c", .answer = QB_OK},
        {.create_owner = "user:ghost",
         .debit_id = u[0],
         .amount_minor = 300,
         .ref = "d",
         .answer = QB_E_LIMIT_EXCEEDED},
        {.create_owner = "user:late",
         .debit_id = u[2],
         .amount_minor = 25,
         .ref = "e",
         .answer = QB_OK},
        {.debit_id = u[3],
         .credit_id = u[4],
         .amount_minor = FUND_MINOR + 1,
         .ref = "f",
         .answer = QB_OK},
        {.debit_id = u[0], .credit_id = u[3], .amount_minor = 10, .ref = "g", .answer = QB_OK},
    };
    enum { S_COUNT = sizeof script / sizeof script[0] };
    /* On the heap: a failing test leaks commands the writer may still hold. */
    struct scripted *s = calloc(S_COUNT, sizeof *s);
    ASSERT(s != NULL);
    const enum qb_error expected[S_COUNT] = {
        QB_OK, QB_E_CONFLICT, QB_OK, QB_E_LIMIT_EXCEEDED, QB_OK, QB_E_INSUFFICIENT_BALANCE, QB_OK};
    for (int i = 0; i < S_COUNT; i++) {
        s[i].create_owner = script[i].create_owner;
        s[i].debit_id = script[i].debit_id;
        s[i].credit_id = script[i].credit_id;
        s[i].amount_minor = script[i].amount_minor;
        s[i].ref = script[i].ref;
        s[i].answer = script[i].answer;
        ledger_cmd_init(&s[i].cmd, scripted_run, &s[i]);
        s[i].cmd.done = scripted_done;
    }

    struct gate *g = calloc(1, sizeof *g);
    ASSERT(g != NULL);
    gate_close_writer(g, b->ledger);
    struct ledger_stats before, after;
    ledger_stats_get(b->ledger, &before);
    enum qb_error answers[S_COUNT];
    for (int i = 0; i < S_COUNT; i++)
        answers[i] = ledger_submit(b->ledger, &s[i].cmd);
    gate_open(g);
    gate_finish(g);
    for (int i = 0; i < S_COUNT; i++)
        ASSERT_EQ_INT(answers[i], QB_OK);
    int64_t start_ns = clock_monotonic_ns();
    for (int i = 0; i < S_COUNT; i++)
        while (atomic_load(&s[i].done_count) == 0) {
            if ((clock_monotonic_ns() - start_ns) / 1000000 > WAIT_MS_MAX)
                TEST_FAIL_("command \"%s\" never completed", s[i].ref);
            sleep_ms(1);
        }
    ledger_stats_get(b->ledger, &after);

    /* One batch for the gate, one for the seven. */
    ASSERT_EQ_INT(after.batches_total - before.batches_total, 2);
    for (int i = 0; i < S_COUNT; i++) {
        if (s[i].cmd.result != expected[i])
            TEST_FAIL_("command \"%s\": %s, expected %s", s[i].ref, error_name(s[i].cmd.result),
                       error_name(expected[i]));
        ASSERT_EQ_INT(atomic_load(&s[i].done_count), 1);
    }

    /* The failed commands' entry ids were given back and reused. */
    ASSERT_EQ_INT(s[0].entry_id, entries_before + 1);
    ASSERT_EQ_INT(s[1].entry_id, entries_before + 2);
    ASSERT_EQ_INT(s[2].entry_id, entries_before + 2);
    ASSERT_EQ_INT(s[3].entry_id, entries_before + 3);
    ASSERT_EQ_INT(s[4].entry_id, entries_before + 3);
    ASSERT_EQ_INT(s[6].entry_id, entries_before + 4);
    entry_expect(b, s[0].entry_id, "a", u[0], u[1], 100);
    entry_expect(b, s[2].entry_id, "c", u[1], u[2], 50);
    entry_expect(b, s[4].entry_id, "e", u[2], s[4].created_id, 25);
    entry_expect(b, s[6].entry_id, "g", u[0], u[3], 10);
    ASSERT_EQ_INT(entry_count(b), entries_before + 4);
    ASSERT_EQ_INT(
        query_int64(b->reader, "SELECT COUNT(*) FROM entries WHERE ref IN ('b', 'd', 'f')"), 0);

    /* The ghost account is gone, in memory and in the database; its id went
     * to the next account created. */
    ASSERT(s[3].created_id > 0);
    ASSERT_EQ_INT(s[4].created_id, s[3].created_id);
    int64_t found = 0;
    ASSERT_EQ_INT(ledger_account_find(b->reader, "user:ghost", b->cny, LEDGER_ACCOUNT_USER, &found),
                  QB_E_NOT_FOUND);
    ASSERT_EQ_INT(ledger_account_find(b->reader, "user:late", b->cny, LEDGER_ACCOUNT_USER, &found),
                  QB_OK);
    ASSERT_EQ_INT(found, s[4].created_id);
    ASSERT_EQ_INT(query_int64(b->reader, "SELECT COUNT(*) FROM accounts"), USER_COUNT + 2);

    ASSERT_EQ_INT(books_balance(b, u[0]), FUND_MINOR - 100 - 10);
    ASSERT_EQ_INT(books_balance(b, u[1]), FUND_MINOR + 100 - 50);
    ASSERT_EQ_INT(books_balance(b, u[2]), FUND_MINOR + 50 - 25);
    ASSERT_EQ_INT(books_balance(b, u[3]), FUND_MINOR + 10);
    ASSERT_EQ_INT(books_balance(b, u[4]), FUND_MINOR);
    ASSERT_EQ_INT(books_balance(b, s[4].created_id), 25);
    verify_ok(b->db_path, entries_before + 4);

    for (int i = 0; i < S_COUNT; i++)
        ledger_cmd_release(&s[i].cmd);
    ledger_cmd_release(&g->cmd);
    books_free(b);
    free(s);
    free(g);
}

/* --- idempotency under concurrency ----------------------------------------- */

#define IDEM_TOTAL 1000

struct idem_shared {
    struct books *books;
    _Atomic int run_count;
    pthread_barrier_t start;
    const char *body;
};

struct idem_cmd {
    struct ledger_cmd cmd;
    struct idem_shared *shared;
    enum qb_error answer;
};

static enum qb_error idem_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct idem_cmd *c = cmd->ctx;
    struct books *b = c->shared->books;
    atomic_fetch_add(&c->shared->run_count, 1);
    struct ledger_leg legs[2] = {{b->user_ids[0], -100}, {b->user_ids[1], 100}};
    int64_t entry_id = 0;
    enum qb_error rc = ledger_txn_post(txn, CODE_TRANSFER, "idem-pay", legs, 2, &entry_id);
    if (rc != QB_OK)
        return rc;
    struct ledger_account_view v;
    rc = ledger_txn_account_get(txn, b->user_ids[0], &v);
    if (rc != QB_OK)
        return rc;
    if (buf_printf(&cmd->response, "{\"entry\":%" PRId64 ",\"balance\":%" PRId64 "}", entry_id,
                   v.balance_minor) != QB_OK)
        return QB_E_INTERNAL;
    return QB_OK;
}

static void idem_cmd_init(struct idem_cmd *c, struct idem_shared *shared, const char *principal,
                          const char *key, const char *body)
{
    memset(c, 0, sizeof *c);
    ledger_cmd_init(&c->cmd, idem_run, c);
    c->shared = shared;
    c->cmd.idem_principal = principal;
    c->cmd.idem_key = key;
    crypto_sha256(body, strlen(body), c->cmd.request_hash);
    c->answer = QB_E_INTERNAL;
}

struct idem_worker {
    struct idem_shared *shared;
    struct idem_cmd *cmds;
    size_t count;
};

static void *idem_worker_main(void *arg)
{
    struct idem_worker *w = arg;
    pthread_barrier_wait(&w->shared->start);
    for (size_t i = 0; i < w->count; i++)
        w->cmds[i].answer = ledger_execute(w->shared->books->ledger, &w->cmds[i].cmd);
    return NULL;
}

TEST(same_idempotency_key_from_many_threads_runs_once)
{
    /* 1,000 submissions of one (principal, key, request_hash) from 16
     * threads make one entry and byte-identical answers, because a client
     * retrying a payment from many connections must pay once. */
    struct books *b = books_new(NULL);
    int64_t entries_before = entry_count(b);
    struct idem_shared *shared = calloc(1, sizeof *shared);
    struct idem_cmd *cmds = calloc(IDEM_TOTAL, sizeof *cmds);
    ASSERT(shared != NULL && cmds != NULL);
    shared->books = b;
    const char *body = "{\"to\":\"u_01\",\"amount\":\"1.00\"}";
    for (int i = 0; i < IDEM_TOTAL; i++)
        idem_cmd_init(&cmds[i], shared, "user:u_00", "pay-0001", body);
    pthread_barrier_init(&shared->start, NULL, THREAD_COUNT + 1);
    struct idem_worker workers[THREAD_COUNT];
    pthread_t threads[THREAD_COUNT];
    size_t next = 0;
    for (int t = 0; t < THREAD_COUNT; t++) {
        size_t count = IDEM_TOTAL / THREAD_COUNT + ((size_t)t < IDEM_TOTAL % THREAD_COUNT ? 1 : 0);
        workers[t] = (struct idem_worker){shared, &cmds[next], count};
        next += count;
        ASSERT_EQ_INT(pthread_create(&threads[t], NULL, idem_worker_main, &workers[t]), 0);
    }
    ASSERT_EQ_INT(next, IDEM_TOTAL);
    pthread_barrier_wait(&shared->start);
    for (int t = 0; t < THREAD_COUNT; t++)
        pthread_join(threads[t], NULL);
    pthread_barrier_destroy(&shared->start);

    ASSERT_EQ_INT(atomic_load(&shared->run_count), 1);
    int fresh = 0;
    const struct buf *first = &cmds[0].cmd.response;
    ASSERT(first->size > 0);
    for (int i = 0; i < IDEM_TOTAL; i++) {
        if (cmds[i].answer != QB_OK)
            TEST_FAIL_("submission %d answered %s", i, error_name(cmds[i].answer));
        ASSERT_EQ_INT(cmds[i].cmd.result, QB_OK);
        const struct buf *r = &cmds[i].cmd.response;
        if (r->size != first->size || memcmp(r->data, first->data, r->size) != 0)
            TEST_FAIL_("submission %d answered \"%.*s\", the first \"%.*s\"", i, (int)r->size,
                       r->data ? r->data : "", (int)first->size, first->data);
        fresh += cmds[i].cmd.replayed ? 0 : 1;
    }
    ASSERT_EQ_INT(fresh, 1);
    ASSERT_EQ_INT(entry_count(b), entries_before + 1);
    char expect[96];
    snprintf(expect, sizeof expect, "{\"entry\":%" PRId64 ",\"balance\":%" PRId64 "}",
             entries_before + 1, FUND_MINOR - 100);
    ASSERT_EQ_INT(first->size, strlen(expect));
    ASSERT(memcmp(first->data, expect, first->size) == 0);
    ASSERT_EQ_INT(books_balance(b, b->user_ids[0]), FUND_MINOR - 100);
    ASSERT_EQ_INT(books_balance(b, b->user_ids[1]), FUND_MINOR + 100);

    /* The same key with another body: a mismatch, nothing runs. */
    struct idem_cmd other;
    idem_cmd_init(&other, shared, "user:u_00", "pay-0001", "{\"to\":\"u_01\",\"amount\":\"2.00\"}");
    ASSERT_EQ_INT(ledger_execute(b->ledger, &other.cmd), QB_E_IDEMPOTENCY_MISMATCH);
    ASSERT_EQ_INT(atomic_load(&shared->run_count), 1);
    ASSERT_EQ_INT(entry_count(b), entries_before + 1);

    /* Keys belong to a principal: another principal's identical key runs. */
    struct idem_cmd elsewhere;
    idem_cmd_init(&elsewhere, shared, "user:u_05", "pay-0001", body);
    ASSERT_EQ_INT(ledger_execute(b->ledger, &elsewhere.cmd), QB_OK);
    ASSERT(!elsewhere.cmd.replayed);
    ASSERT_EQ_INT(atomic_load(&shared->run_count), 2);
    ASSERT_EQ_INT(entry_count(b), entries_before + 2);
    verify_ok(b->db_path, entries_before + 2);

    ledger_cmd_release(&other.cmd);
    ledger_cmd_release(&elsewhere.cmd);
    for (int i = 0; i < IDEM_TOTAL; i++)
        ledger_cmd_release(&cmds[i].cmd);
    free(cmds);
    free(shared);
    books_free(b);
}

/* Records the answer's room as the writer finds it, then writes an answer
 * of LEDGER_RESPONSE_RESERVE bytes. */
struct answer_ctx {
    size_t capacity_at_run;
    bool moved; /* the answer's memory was reallocated while written */
};

static enum qb_error answer_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    (void)txn;
    struct answer_ctx *ctx = cmd->ctx;
    ctx->capacity_at_run = cmd->response.capacity;
    const char *data = cmd->response.data;
    for (size_t i = 0; i < LEDGER_RESPONSE_RESERVE / 8; i++)
        if (buf_append(&cmd->response, "01234567", 8) != QB_OK)
            return QB_E_INTERNAL;
    ctx->moved = cmd->response.data != data;
    return QB_OK;
}

TEST(the_writer_finds_room_for_the_answer)
{
    // The submitting thread makes the answer's room, so the writer, which every command waits
    // for, writes an answer of up to LEDGER_RESPONSE_RESERVE bytes without allocating.
    struct books *b = books_new(NULL);
    struct answer_ctx ctx = {0};
    struct ledger_cmd cmd;
    ledger_cmd_init(&cmd, answer_run, &ctx);
    ASSERT_EQ_INT(ledger_execute(b->ledger, &cmd), QB_OK);
    ASSERT_EQ_INT(cmd.result, QB_OK);
    ASSERT(ctx.capacity_at_run > LEDGER_RESPONSE_RESERVE);
    ASSERT(!ctx.moved);
    ASSERT_EQ_INT(cmd.response.size, LEDGER_RESPONSE_RESERVE);
    ledger_cmd_release(&cmd);
    books_free(b);
}

int main(void)
{
    if (!crypto_init()) {
        fprintf(stderr, "crypto_init failed\n");
        return 1;
    }
    RUN(execute_from_many_threads_commits_exactly_the_acknowledged);
    RUN(submit_from_many_threads_completes_each_command_once);
    RUN(concurrent_submitters_share_commits);
    RUN(full_queue_answers_busy_at_once);
    RUN(a_command_runs_at_the_time_it_runs_not_when_its_batch_began);
    RUN(settled_time_waits_for_the_batch_that_runs);
    RUN(execute_all_shares_commits_and_answers_each);
    RUN(close_refuses_new_commands_and_drains_the_queue);
    RUN(failing_command_rolls_back_alone_in_its_batch);
    RUN(same_idempotency_key_from_many_threads_runs_once);
    RUN(the_writer_finds_room_for_the_answer);
    return test_summary();
}

/*
 * test_ledger_crash.c — acknowledged payments survive SIGKILL.
 *
 * The ledger promises that a command answered QB_OK is durably committed,
 * and that a restart rebuilds exactly the committed state (checkpoints plus
 * the journal after meta.replay_from). This program checks both the only way
 * that means anything: by killing a real writer process.
 *
 * Each round forks a writer child that opens the ledger on the same data
 * directory and posts transfers from several threads through
 * ledger_execute; after every QB_OK it writes one line to a pipe: the entry
 * id the run function got, both accounts, the amount and the ref. The
 * parent reads the pipe and, after a random delay, kills the child with
 * SIGKILL. A verifier child then opens the ledger (replaying whatever the
 * crash left) and checks that every acknowledged entry is stored as
 * acknowledged, that the replayed balances equal a recomputation from the
 * journal, that money is conserved, and that ledger_verify passes. The
 * verifier exits without ledger_close on purpose, so the next round starts
 * from the crashed state, not from a tidy checkpoint. A last round lets the
 * writer close cleanly and checks that the next start replays nothing.
 *
 * Children never run harness cases: each sets test_jump so that an ASSERT
 * in it ends the child with status 1 (its message on stderr), and the
 * parent asserts on the status. Pipe lines are shorter than PIPE_BUF and
 * written with one write(2), so a kill never leaves half a line. The parent
 * has no threads and no open connection whenever it forks.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/crypto.h"
#include "base/log.h"
#include "base/money.h"
#include "base/rand.h"
#include "ledger/ledger.h"
#include "store/store.h"
#include "test.h"

#define CRASH_ROUND_COUNT 20
#define USER_COUNT 16
#define FUND_MINOR INT64_C(100000)
#define AMOUNT_MINOR_MAX 60000 /* some transfers overdraw */
#define WRITER_THREAD_COUNT 4
#define CLEAN_COMMANDS_PER_THREAD 150
#define DELAY_MS_MIN 20
#define DELAY_MS_MAX 300
#define CHILD_ALARM_S 60 /* an orphaned child ends itself */
#define CLEAN_EXIT_MS_MAX 60000
#define CODE_TRANSFER 7
#define CODE_FUNDING 1
#define REF_SIZE 32
#define LINE_SIZE_MAX 160 /* < PIPE_BUF: one write is atomic */
#define PIPE_BUF_SIZE 65536

/* --- the data directory ------------------------------------------------------ */

struct setup {
    char dir[512];
    char db_path[640];
    const struct currency *cny;
    int64_t bank_id;
    int64_t user_ids[USER_COUNT];
    int64_t funding_count;
};

/* One transfer, possibly failing on purpose after it posted. */
struct xfer {
    struct ledger_cmd cmd;
    int64_t debit_id;
    int64_t credit_id;
    int64_t amount_minor;
    uint16_t code;
    bool fail_after_post;
    char ref[REF_SIZE];
    int64_t entry_id;
};

static enum qb_error xfer_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct xfer *x = cmd->ctx;
    struct ledger_leg legs[2] = {{x->debit_id, -x->amount_minor}, {x->credit_id, x->amount_minor}};
    enum qb_error rc = ledger_txn_post(txn, x->code, x->ref, legs, 2, &x->entry_id);
    if (rc != QB_OK)
        return rc;
    return x->fail_after_post ? QB_E_CONFLICT : QB_OK;
}

struct create_ctx {
    struct ledger_account_spec spec;
    int64_t account_id;
};

static enum qb_error create_run(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct create_ctx *ctx = cmd->ctx;
    return ledger_txn_account_create(txn, &ctx->spec, &ctx->account_id);
}

static int64_t setup_create(struct ledger *ledger, const struct currency *cny, const char *owner,
                            enum ledger_account_kind kind, int64_t floor_minor)
{
    struct create_ctx ctx = {.spec = {owner, cny, kind, 0, floor_minor}, .account_id = 0};
    struct ledger_cmd cmd;
    ledger_cmd_init(&cmd, create_run, &ctx);
    enum qb_error rc = ledger_execute(ledger, &cmd);
    ledger_cmd_release(&cmd);
    if (rc != QB_OK || ctx.account_id <= 0)
        TEST_FAIL_("creating account \"%s\": %s", owner, error_name(rc));
    return ctx.account_id;
}

/* A fresh data directory with a bank account and USER_COUNT funded users,
 * made in this process and closed again (no thread, no connection left). */
static struct setup *setup_new(void)
{
    struct setup *s = calloc(1, sizeof *s);
    ASSERT(s != NULL);
    test_tmpdir(s->dir, sizeof s->dir);
    snprintf(s->db_path, sizeof s->db_path, "%s/qianbao.db", s->dir);
    s->cny = currency_find("CNY");
    ASSERT(s->cny != NULL);
    char err[256] = "";
    struct store *writer = NULL;
    struct ledger *ledger = NULL;
    enum qb_error rc = store_open(s->db_path, STORE_MODE_WRITE, &writer, err, sizeof err);
    if (rc != QB_OK)
        TEST_FAIL_("store_open(write) \"%s\": %s: %s", s->db_path, error_name(rc), err);
    ASSERT_EQ_INT(ledger_open(writer, NULL, &ledger), QB_OK);
    s->bank_id = setup_create(ledger, s->cny, "system:bank_clearing", LEDGER_ACCOUNT_SYSTEM,
                              LEDGER_FLOOR_NONE);
    for (int i = 0; i < USER_COUNT; i++) {
        char owner[32];
        snprintf(owner, sizeof owner, "user:u_%02d", i);
        s->user_ids[i] = setup_create(ledger, s->cny, owner, LEDGER_ACCOUNT_USER, 0);
        struct xfer fund = {.debit_id = s->bank_id,
                            .credit_id = s->user_ids[i],
                            .amount_minor = FUND_MINOR,
                            .code = CODE_FUNDING};
        snprintf(fund.ref, sizeof fund.ref, "fund-%02d", i);
        ledger_cmd_init(&fund.cmd, xfer_run, &fund);
        rc = ledger_execute(ledger, &fund.cmd);
        ledger_cmd_release(&fund.cmd);
        if (rc != QB_OK)
            TEST_FAIL_("funding user %d: %s", i, error_name(rc));
        s->funding_count++;
    }
    ledger_close(ledger);
    store_close(writer);
    return s;
}

/* --- children ------------------------------------------------------------------ */

/* Forks a child that runs fn(arg) with the harness pointed at itself: an
 * ASSERT failing in fn ends the child with status 1, success with 0. */
static pid_t child_start(void (*fn)(void *arg), void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    alarm(CHILD_ALARM_S);
    if (setjmp(test_jump) != 0)
        _exit(1);
    fn(arg);
    _exit(0);
}

/* Waits for a child started with child_start; fails unless it exited 0. */
static void child_wait_ok(pid_t pid, const char *what)
{
    ASSERT(pid > 0);
    int status = 0;
    ASSERT_EQ_INT(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        TEST_FAIL_("%s: killed by signal %d", what, WTERMSIG(status));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        TEST_FAIL_("%s: exit status %d (its reason is printed above)", what,
                   WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

enum writer_mode {
    WRITER_CRASH,   /* writes until killed */
    WRITER_CLEAN,   /* writes a fixed number, then ledger_close and exit */
    WRITER_ABANDON, /* writes a fixed number, then exits without ledger_close */
};

struct writer_args {
    const struct setup *setup;
    enum writer_mode mode;
    int round;
    int fd; /* the pipe's write end */
    size_t flush_per_batch;
    uint64_t seed;
};

struct writer_thread {
    const struct writer_args *args;
    struct ledger *ledger;
    int thread_index;
};

/* One line to the parent, with one write(2). */
static bool line_send(int fd, const char *line)
{
    size_t size = strlen(line);
    return write(fd, line, size) == (ssize_t)size;
}

static void *writer_thread_main(void *arg)
{
    struct writer_thread *wt = arg;
    const struct writer_args *a = wt->args;
    const struct setup *s = a->setup;
    struct qb_rand rng;
    rand_seeded_init(&rng, a->seed ^ ((uint64_t)a->round << 32) ^ (uint64_t)wt->thread_index);
    char line[LINE_SIZE_MAX];
    for (uint32_t n = 0; a->mode == WRITER_CRASH || n < CLEAN_COMMANDS_PER_THREAD; n++) {
        size_t from = (size_t)rand_below(&rng, USER_COUNT);
        size_t to = (from + 1 + (size_t)rand_below(&rng, USER_COUNT - 1)) % USER_COUNT;
        struct xfer x = {.debit_id = s->user_ids[from],
                         .credit_id = s->user_ids[to],
                         .amount_minor = 1 + (int64_t)rand_below(&rng, AMOUNT_MINOR_MAX),
                         .code = CODE_TRANSFER,
                         .fail_after_post = rand_below(&rng, 10) == 0};
        snprintf(x.ref, sizeof x.ref, "r%02d-t%d-%06" PRIu32, a->round, wt->thread_index, n);
        ledger_cmd_init(&x.cmd, xfer_run, &x);
        enum qb_error rc = ledger_execute(wt->ledger, &x.cmd);
        ledger_cmd_release(&x.cmd);
        if (rc == QB_OK) {
            snprintf(line, sizeof line, "A %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " %s\n",
                     x.entry_id, x.debit_id, x.credit_id, x.amount_minor, x.ref);
        } else if (rc == QB_E_INSUFFICIENT_BALANCE || (rc == QB_E_CONFLICT && x.fail_after_post)) {
            continue;
        } else {
            snprintf(line, sizeof line, "E \"%s\" answered %s\n", x.ref, error_name(rc));
        }
        if (!line_send(a->fd, line) || line[0] == 'E')
            break;
    }
    return NULL;
}

/* The writer child: opens the ledger and runs the threads. Its exit status
 * (when not killed) says how it ended; problems also go down the pipe. */
static int writer_child_main(const struct writer_args *a)
{
    signal(SIGPIPE, SIG_IGN);
    alarm(CHILD_ALARM_S);
    char err[256] = "", line[LINE_SIZE_MAX];
    struct store *writer = NULL;
    struct ledger *ledger = NULL;
    struct ledger_options options = {.flush_per_batch = a->flush_per_batch};
    enum qb_error rc = store_open(a->setup->db_path, STORE_MODE_WRITE, &writer, err, sizeof err);
    if (rc == QB_OK && (rc = ledger_open(writer, &options, &ledger)) != QB_OK)
        snprintf(err, sizeof err, "ledger_open");
    if (rc != QB_OK) {
        snprintf(line, sizeof line, "E opening: %s: %.100s\n", error_name(rc), err);
        (void)line_send(a->fd, line);
        return 2;
    }
    struct writer_thread threads[WRITER_THREAD_COUNT];
    pthread_t ids[WRITER_THREAD_COUNT];
    for (int t = 0; t < WRITER_THREAD_COUNT; t++) {
        threads[t] = (struct writer_thread){a, ledger, t};
        if (pthread_create(&ids[t], NULL, writer_thread_main, &threads[t]) != 0) {
            (void)line_send(a->fd, "E pthread_create\n");
            return 2;
        }
    }
    for (int t = 0; t < WRITER_THREAD_COUNT; t++)
        pthread_join(ids[t], NULL);
    if (a->mode == WRITER_CRASH)
        return 3; /* a crash writer only stops on an error it reported */
    if (a->mode == WRITER_CLEAN) {
        ledger_close(ledger);
        store_close(writer);
    }
    return 0;
}

/* --- the parent's side of the pipe ---------------------------------------------- */

struct ack {
    int64_t entry_id;
    int64_t debit_id;
    int64_t credit_id;
    int64_t amount_minor;
    char ref[REF_SIZE];
};

struct ack_list {
    struct ack *items;
    size_t count;
    size_t capacity;
};

struct pipe_reader {
    int fd;
    char data[PIPE_BUF_SIZE];
    size_t used;
    bool eof;
    size_t acked;              /* acks read this round */
    char error[LINE_SIZE_MAX]; /* the first "E" line, "" when none */
};

static bool parse_int64(const char **p, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(*p, &end, 10);
    if (end == *p || errno != 0 || *end != ' ')
        return false;
    *out = (int64_t)v;
    *p = end + 1;
    return true;
}

/* Parses one line (without its newline) into acks. */
static void line_take(struct pipe_reader *r, struct ack_list *acks, const char *line)
{
    if (line[0] == 'E') {
        if (r->error[0] == '\0')
            snprintf(r->error, sizeof r->error, "%.*s", (int)sizeof r->error - 1, line);
        return;
    }
    struct ack ack;
    memset(&ack, 0, sizeof ack);
    const char *p = line + 2;
    if (line[0] != 'A' || line[1] != ' ' || !parse_int64(&p, &ack.entry_id) ||
        !parse_int64(&p, &ack.debit_id) || !parse_int64(&p, &ack.credit_id) ||
        !parse_int64(&p, &ack.amount_minor) || strlen(p) == 0 || strlen(p) >= sizeof ack.ref)
        TEST_FAIL_("malformed line from the writer: \"%s\"", line);
    memcpy(ack.ref, p, strlen(p) + 1);
    if (acks->count == acks->capacity) {
        size_t capacity = acks->capacity ? acks->capacity * 2 : 1024;
        struct ack *items = realloc(acks->items, capacity * sizeof *items);
        ASSERT(items != NULL);
        acks->items = items;
        acks->capacity = capacity;
    }
    acks->items[acks->count++] = ack;
    r->acked++;
}

/* Reads what the pipe has, waiting at most timeout_ms (-1: until data or
 * EOF), and takes every complete line. */
static void pipe_pump(struct pipe_reader *r, struct ack_list *acks, int timeout_ms)
{
    struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
    int ready = poll(&pfd, 1, timeout_ms);
    if (ready < 0 && errno == EINTR)
        return;
    ASSERT(ready >= 0);
    if (ready == 0)
        return;
    ASSERT(r->used < sizeof r->data);
    ssize_t n = read(r->fd, r->data + r->used, sizeof r->data - r->used);
    if (n < 0 && errno == EINTR)
        return;
    ASSERT(n >= 0);
    if (n == 0) {
        r->eof = true;
        if (r->used != 0)
            TEST_FAIL_("the pipe ended inside a line: \"%.*s\"", (int)r->used, r->data);
        return;
    }
    r->used += (size_t)n;
    char *start = r->data;
    char *newline;
    while ((newline = memchr(start, '\n', r->used - (size_t)(start - r->data))) != NULL) {
        *newline = '\0';
        line_take(r, acks, start);
        start = newline + 1;
    }
    size_t rest = r->used - (size_t)(start - r->data);
    memmove(r->data, start, rest);
    r->used = rest;
}

struct round_result {
    size_t acked;
    int64_t delay_ms;
};

/* Runs one writer child to its end: killed after delay_ms (WRITER_CRASH),
 * or exited by itself (the other modes). Acks are appended to acks. */
static struct round_result round_run(const struct setup *s, struct ack_list *acks, int round,
                                     enum writer_mode mode, int64_t delay_ms,
                                     size_t flush_per_batch, uint64_t seed)
{
    int fds[2];
    ASSERT_EQ_INT(pipe(fds), 0);
    struct writer_args args = {s, mode, round, fds[1], flush_per_batch, seed};
    fflush(NULL);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        _exit(writer_child_main(&args));
    }
    close(fds[1]);
    struct pipe_reader *r = calloc(1, sizeof *r);
    ASSERT(r != NULL);
    r->fd = fds[0];

    int64_t start_ns = clock_monotonic_ns();
    int64_t limit_ms = mode == WRITER_CRASH ? delay_ms : CLEAN_EXIT_MS_MAX;
    bool killed = false;
    while (!r->eof) {
        int64_t elapsed_ms = (clock_monotonic_ns() - start_ns) / 1000000;
        if (!killed && elapsed_ms >= limit_ms) {
            ASSERT_EQ_INT(kill(pid, SIGKILL), 0);
            killed = true;
        }
        pipe_pump(r, acks, killed ? -1 : (int)(limit_ms - elapsed_ms));
    }
    close(fds[0]);
    int status = 0;
    ASSERT_EQ_INT(waitpid(pid, &status, 0), pid);
    if (r->error[0] != '\0')
        TEST_FAIL_("round %d: the writer reported: %s", round, r->error);
    if (mode == WRITER_CRASH) {
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
            TEST_FAIL_("round %d: the writer ended before the kill (status 0x%x)", round, status);
    } else if (killed || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        TEST_FAIL_("round %d: the writer did not exit cleanly (status 0x%x%s)", round, status,
                   killed ? ", killed after the time limit" : "");
    }
    struct round_result result = {r->acked, delay_ms};
    free(r);
    return result;
}

/* --- the verifier ---------------------------------------------------------------- */

struct verify_args {
    const struct setup *setup;
    const struct ack_list *acks;
    int round;
    bool expect_nothing_to_replay;
};

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

/* Runs in a child: opens the ledger the crash left, checks it, and exits
 * without ledger_close so the next round inherits the crashed state. */
static void verify_child_main(void *arg)
{
    const struct verify_args *v = arg;
    const struct setup *s = v->setup;
    char err[256] = "";
    struct store *reader = NULL, *writer = NULL;
    struct ledger *ledger = NULL;
    enum qb_error rc = store_open(s->db_path, STORE_MODE_READ, &reader, err, sizeof err);
    if (rc != QB_OK)
        TEST_FAIL_("store_open(read): %s: %s", error_name(rc), err);

    /* Before the ledger touches anything: what a restart has to replay. */
    int64_t max_id = query_int64(reader, "SELECT COALESCE(MAX(id), 0) FROM entries");
    int64_t replay_from = query_int64(reader, "SELECT value FROM meta WHERE key = 'replay_from'");
    ASSERT_EQ_INT(query_int64(reader, "SELECT COUNT(*) FROM entries"), max_id);
    ASSERT(replay_from >= 1 && replay_from <= max_id + 1);
    if (v->expect_nothing_to_replay && replay_from != max_id + 1)
        TEST_FAIL_("after a clean close replay_from is %" PRId64 ", not max(id)+1 = %" PRId64,
                   replay_from, max_id + 1);

    rc = store_open(s->db_path, STORE_MODE_WRITE, &writer, err, sizeof err);
    if (rc != QB_OK)
        TEST_FAIL_("store_open(write): %s: %s", error_name(rc), err);
    rc = ledger_open(writer, NULL, &ledger);
    if (rc != QB_OK)
        TEST_FAIL_("ledger_open after the crash: %s", error_name(rc));

    /* Every acknowledged entry, as acknowledged. */
    for (size_t i = 0; i < v->acks->count; i++) {
        const struct ack *a = &v->acks->items[i];
        struct ledger_entry e;
        rc = ledger_entry_read(reader, a->entry_id, &e);
        if (rc != QB_OK)
            TEST_FAIL_("acknowledged entry %" PRId64 " (\"%s\") is gone: %s", a->entry_id, a->ref,
                       error_name(rc));
        if (strcmp(e.ref, a->ref) != 0)
            TEST_FAIL_("entry %" PRId64 " has ref \"%s\", acknowledged as \"%s\"", a->entry_id,
                       e.ref, a->ref);
        const struct ledger_posting *debit = ledger_entry_posting(&e, a->debit_id);
        const struct ledger_posting *credit = ledger_entry_posting(&e, a->credit_id);
        if (e.kind != LEDGER_ENTRY_TRANSFER || e.code != CODE_TRANSFER || e.posting_count != 2 ||
            debit == NULL || credit == NULL || debit->amount_minor != -a->amount_minor ||
            credit->amount_minor != a->amount_minor)
            TEST_FAIL_("entry %" PRId64 " (\"%s\") differs from its acknowledgement", a->entry_id,
                       a->ref);
    }

    /* The replayed balances equal the journal, summed from scratch. */
    int64_t account_count = query_int64(reader, "SELECT COUNT(*) FROM accounts");
    ASSERT_EQ_INT(account_count, USER_COUNT + 1);
    int64_t balances[USER_COUNT + 2] = {0}, last_ids[USER_COUNT + 2] = {0};
    for (int64_t id = 1; id <= max_id; id++) {
        struct ledger_entry e;
        rc = ledger_entry_read(reader, id, &e);
        if (rc != QB_OK)
            TEST_FAIL_("entry %" PRId64 " of %" PRId64 ": %s", id, max_id, error_name(rc));
        for (size_t k = 0; k < e.posting_count; k++) {
            int64_t account_id = e.postings[k].account_id;
            ASSERT(account_id >= 1 && account_id <= account_count);
            balances[account_id] += e.postings[k].amount_minor;
            last_ids[account_id] = id;
        }
    }
    int64_t total = 0, users_total = 0;
    for (int64_t id = 1; id <= account_count; id++) {
        struct ledger_account_view view;
        ASSERT_EQ_INT(ledger_account_view(ledger, id, &view), QB_OK);
        if (view.balance_minor != balances[id] || view.last_entry_id != last_ids[id])
            TEST_FAIL_("account %" PRId64 " replayed to balance %" PRId64 " (last entry %" PRId64
                       "), the journal says %" PRId64 " (last entry %" PRId64 ")",
                       id, view.balance_minor, view.last_entry_id, balances[id], last_ids[id]);
        ASSERT_EQ_INT(view.held_minor, 0);
        total += view.balance_minor;
        if (id != s->bank_id) {
            ASSERT(view.balance_minor >= 0);
            users_total += view.balance_minor;
        }
    }
    ASSERT_EQ_INT(total, 0);
    ASSERT_EQ_INT(users_total, USER_COUNT * FUND_MINOR);

    struct ledger_verify_report report;
    rc = ledger_verify(reader, NULL, 0, &report, NULL, NULL);
    if (rc != QB_OK || report.problem[0] != '\0')
        TEST_FAIL_("ledger_verify: %s: \"%s\"", error_name(rc), report.problem);
    ASSERT_EQ_INT(report.entries_checked, max_id);
    ASSERT_EQ_INT(report.accounts_checked, account_count);
    fprintf(stderr, "  round %2d: %6" PRId64 " entries, restart replayed %" PRId64 "\n", v->round,
            max_id, max_id + 1 - replay_from);
    /* No ledger_close: the next round must start from the crashed state. */
}

static void verify_round(const struct setup *s, const struct ack_list *acks, int round,
                         bool expect_nothing_to_replay)
{
    struct verify_args args = {s, acks, round, expect_nothing_to_replay};
    child_wait_ok(child_start(verify_child_main, &args), "the verifier");
}

/* --- the tests --------------------------------------------------------------------- */

TEST(sigkill_never_loses_an_acknowledged_entry)
{
    /* After each of twenty SIGKILLs of a busy writer on one database every
     * acknowledged entry is stored as acknowledged and replay rebuilds the
     * journal's balances, because QB_OK promises a durable payment. */
    uint64_t seed = test_seed();
    struct qb_rand rng;
    rand_seeded_init(&rng, seed);
    struct setup *s = setup_new();
    struct ack_list acks = {0};
    static const size_t flush_choices[] = {1, 2, 512};
    int64_t start_ns = clock_monotonic_ns();
    for (int round = 0; round < CRASH_ROUND_COUNT; round++) {
        int64_t delay_ms =
            DELAY_MS_MIN + (int64_t)rand_below(&rng, DELAY_MS_MAX - DELAY_MS_MIN + 1);
        size_t flush = flush_choices[rand_below(&rng, QB_ARRAY_COUNT(flush_choices))];
        struct round_result r = round_run(s, &acks, round, WRITER_CRASH, delay_ms, flush, seed);
        fprintf(stderr,
                "  round %2d: killed after %3" PRId64 " ms (flush_per_batch %zu), %zu acked\n",
                round, r.delay_ms, flush, r.acked);
        verify_round(s, &acks, round, false);
    }
    struct round_result r = round_run(s, &acks, CRASH_ROUND_COUNT, WRITER_CLEAN, 0, 1, seed);
    fprintf(stderr, "  round %2d: clean close, %zu acked\n", CRASH_ROUND_COUNT, r.acked);
    ASSERT(r.acked > 0);
    verify_round(s, &acks, CRASH_ROUND_COUNT, true);

    /* Entry ids are never acknowledged twice, not even across crashes. */
    int64_t max_id = s->funding_count;
    for (size_t i = 0; i < acks.count; i++)
        max_id = acks.items[i].entry_id > max_id ? acks.items[i].entry_id : max_id;
    bool *seen = calloc((size_t)max_id + 1, sizeof *seen);
    ASSERT(seen != NULL);
    for (size_t i = 0; i < acks.count; i++) {
        if (seen[acks.items[i].entry_id])
            TEST_FAIL_("entry %" PRId64 " acknowledged twice", acks.items[i].entry_id);
        seen[acks.items[i].entry_id] = true;
    }
    free(seen);
    fprintf(stderr, "  %zu acknowledged entries checked in %" PRId64 " ms\n", acks.count,
            (clock_monotonic_ns() - start_ns) / 1000000);
    ASSERT(acks.count > 0);
    free(acks.items);
    test_rmtree(s->dir);
    free(s);
}

struct lag_args {
    const struct setup *setup;
};

static void lag_child_main(void *arg)
{
    const struct lag_args *a = arg;
    char err[256] = "";
    struct store *reader = NULL, *writer = NULL;
    struct ledger *ledger = NULL;
    enum qb_error rc = store_open(a->setup->db_path, STORE_MODE_READ, &reader, err, sizeof err);
    if (rc != QB_OK)
        TEST_FAIL_("store_open(read): %s: %s", error_name(rc), err);
    int64_t max_id = query_int64(reader, "SELECT MAX(id) FROM entries");
    int64_t replay_from = query_int64(reader, "SELECT value FROM meta WHERE key = 'replay_from'");
    int64_t lag = max_id + 1 - replay_from;
    if (lag <= 0)
        TEST_FAIL_("the abandoned writer left no replay lag (replay_from %" PRId64
                   ", max id %" PRId64 "): the test needs one",
                   replay_from, max_id);
    rc = store_open(a->setup->db_path, STORE_MODE_WRITE, &writer, err, sizeof err);
    if (rc != QB_OK)
        TEST_FAIL_("store_open(write): %s: %s", error_name(rc), err);
    ASSERT_EQ_INT(ledger_open(writer, NULL, &ledger), QB_OK);
    struct ledger_stats stats;
    ledger_stats_get(ledger, &stats);
    fprintf(stderr,
            "  journal ends at %" PRId64 ", replay_from %" PRId64 ": lag %" PRId64
            ", stats say %" PRId64 "\n",
            max_id, replay_from, lag, stats.replay_lag_entries);
    ASSERT_EQ_INT(stats.replay_lag_entries, lag);
}

TEST(restart_reports_its_replay_lag)
{
    /* Right after a restart over checkpoints left behind, replay_lag_entries
     * equals max(id) + 1 - replay_from, because an operator watching it after
     * a crash must not be told all is flushed when it is not. */
    uint64_t seed = test_seed();
    struct setup *s = setup_new();
    struct ack_list acks = {0};
    /* flush_per_batch 1 keeps most accounts' checkpoints behind; on a busy
     * machine a round may commit too little to leave any, so rounds are
     * added until one does. */
    int64_t lag = 0;
    for (int attempt = 0; attempt < 10 && lag <= 0; attempt++) {
        struct round_result r = round_run(s, &acks, attempt, WRITER_ABANDON, 0, 1, seed + (uint64_t)attempt);
        ASSERT(r.acked > 0);
        char err[256] = "";
        struct store *reader = NULL;
        ASSERT_EQ_INT(store_open(s->db_path, STORE_MODE_READ, &reader, err, sizeof err), QB_OK);
        lag = query_int64(reader, "SELECT MAX(id) FROM entries") + 1 -
              query_int64(reader, "SELECT value FROM meta WHERE key = 'replay_from'");
        store_close(reader);
    }
    struct lag_args args = {s};
    child_wait_ok(child_start(lag_child_main, &args), "the restarted ledger");
    free(acks.items);
    test_rmtree(s->dir);
    free(s);
}

int main(void)
{
    if (!crypto_init()) {
        fprintf(stderr, "crypto_init failed\n");
        return 1;
    }
    log_init(stderr, LOG_WARN);
    RUN(sigkill_never_loses_an_acknowledged_entry);
    RUN(restart_reports_its_replay_lag);
    return test_summary();
}

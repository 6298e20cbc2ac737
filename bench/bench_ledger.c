/*
 * bench_ledger.c — the in-process ledger benchmark.
 *
 *   build/release/bench_ledger [--dir DIR] [--entries N] [--accounts N] [--seconds S]
 *
 * Measures, on a fresh SQLite database in DIR (WAL, synchronous=FULL):
 *   1. the machine's fsync latency (4 KiB write + fdatasync), for context,
 *      and the hash chain's cost per entry, plain SHA-256 against the
 *      HMAC-SHA-256 under the chain key that every entry now gets;
 *   2. durable transfers per second through the executor with 1, 16, 256 and 4096
 *      concurrent submitters, and the latency each transfer saw from
 *      submission to acknowledgement (after its batch's durable commit),
 *      plus the commit (fsync) latency histogram of the ledger itself;
 *   3. then fills the journal to N entries (default 10 million) and measures
 *      a 20-entry history page (newest first) on random accounts;
 *   4. restart time: ledger_open after a clean close, and after a writer
 *      that stopped without closing (a crash: replay from the checkpoint).
 *
 * A "submitter" is one command in flight: when its transfer is
 * acknowledged it immediately submits the next, as an HTTP connection with
 * keep-alive does. Results are printed as a table; docs/performance.md
 * records them with the machine and date.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/crypto.h"
#include "base/log.h"
#include "base/rand.h"
#include "disk_probe.h"
#include "ledger/ledger.h"
#include "ledger/ledger_int.h"

static int64_t now_ns(void) { return clock_monotonic_ns(); }

/* The writer hashes every entry it appends (ledger_entry_hash): the time of
 * one, for a two-posting transfer, plain and under the chain key. */
static void chain_hash_measure(void)
{
    struct ledger_entry e;
    memset(&e, 0, sizeof e);
    e.created_at_ms = 1764900000000;
    e.kind = LEDGER_ENTRY_TRANSFER;
    e.code = 1;
    snprintf(e.ref, sizeof e.ref, "p_0123456789abcdef0123");
    e.posting_count = 2;
    for (int i = 0; i < 2; i++) {
        e.postings[i].account_id = 5 + i;
        e.postings[i].currency_numeric = 156;
        e.postings[i].amount_minor = i == 0 ? -100 : 100;
    }
    static const uint8_t key[32] = {1};
    struct ledger_chain chain;
    ledger_chain_init(&chain, key);
    uint8_t prev[CRYPTO_SHA256_SIZE] = {0};
    const int64_t count = 1000000;
    for (int keyed = 0; keyed <= 1; keyed++) {
        chain.keyed_from = keyed ? 1 : INT64_MAX;
        int64_t start = now_ns();
        for (int64_t i = 0; i < count; i++) {
            e.id = i + 1;
            ledger_entry_hash(&chain, &e, prev, prev);
        }
        printf("chain hash per entry (%s): %.0f ns\n", keyed ? "HMAC-SHA-256, keyed" : "SHA-256",
               (double)(now_ns() - start) / (double)count);
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t percentile(int64_t *sorted, size_t count, int per_mille)
{
    if (count == 0)
        return 0;
    size_t i = (count * (size_t)per_mille) / 1000;
    if (i >= count)
        i = count - 1;
    return sorted[i];
}

static void die(const char *what, enum qb_error err)
{
    fprintf(stderr, "bench_ledger: %s failed: %s\n", what, error_api_code(err));
    exit(1);
}

/* --- set-up commands ---------------------------------------------------- */

struct setup {
    int64_t accounts;
    int64_t first_id;
    int64_t funding_id;
};

static enum qb_error run_create_accounts(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct setup *s = cmd->ctx;
    const struct currency *cny = currency_find("CNY");
    char owner[64];
    struct ledger_account_spec spec = {.owner = "system:bench_funding", .currency = cny,
                                       .kind = LEDGER_ACCOUNT_SYSTEM,
                                       .floor_minor = LEDGER_FLOOR_NONE};
    enum qb_error err = ledger_txn_account_create(txn, &spec, &s->funding_id);
    for (int64_t i = 0; err == QB_OK && i < s->accounts; i++) {
        snprintf(owner, sizeof owner, "user:bench%08" PRId64, i);
        struct ledger_account_spec u = {.owner = owner, .currency = cny,
                                        .kind = LEDGER_ACCOUNT_USER, .floor_minor = 0};
        int64_t id;
        err = ledger_txn_account_create(txn, &u, &id);
        if (i == 0)
            s->first_id = id;
    }
    return err;
}

struct fund {
    struct setup *setup;
    int64_t from_index;
    int64_t to_index;
};

static enum qb_error run_fund(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct fund *f = cmd->ctx;
    for (int64_t i = f->from_index; i < f->to_index; i++) {
        struct ledger_leg legs[2] = {{f->setup->funding_id, -100000000},
                                     {f->setup->first_id + i, 100000000}};
        enum qb_error err = ledger_txn_post(txn, 1, "fund", legs, 2, NULL);
        if (err != QB_OK)
            return err;
    }
    return QB_OK;
}

/* --- the load ------------------------------------------------------------ */

struct driver;

struct submitter {
    struct ledger_cmd cmd;
    struct driver *driver;
    int64_t source_id;
    int64_t target_id;
    int64_t submitted_ns;
};

struct driver {
    struct ledger *ledger;
    struct setup *setup;
    struct qb_rand rand; /* used on the writer thread only, in done */
    _Atomic bool stop;
    _Atomic int64_t in_flight;
    _Atomic int64_t ok_count;
    _Atomic int64_t refused_count;
    int64_t *latencies_ns; /* written on the writer thread only */
    size_t latency_count;
    size_t latency_capacity;
};

static enum qb_error run_transfer(struct ledger_txn *txn, struct ledger_cmd *cmd)
{
    struct submitter *s = cmd->ctx;
    struct ledger_leg legs[2] = {{s->source_id, -(int64_t)1 - (s->source_id & 63)},
                                 {s->target_id, 1 + (s->source_id & 63)}};
    return ledger_txn_post(txn, 1, NULL, legs, 2, NULL);
}

static void pick_pair(struct driver *d, struct submitter *s)
{
    uint64_t n = (uint64_t)d->setup->accounts;
    uint64_t a = rand_below(&d->rand, n), b = rand_below(&d->rand, n - 1);
    if (b >= a)
        b++;
    s->source_id = d->setup->first_id + (int64_t)a;
    s->target_id = d->setup->first_id + (int64_t)b;
}

static void submit(struct submitter *s);

static void transfer_done(struct ledger_cmd *cmd)
{
    struct submitter *s = cmd->ctx;
    struct driver *d = s->driver;
    if (cmd->result == QB_OK)
        atomic_fetch_add_explicit(&d->ok_count, 1, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&d->refused_count, 1, memory_order_relaxed);
    if (d->latency_count < d->latency_capacity)
        d->latencies_ns[d->latency_count++] = now_ns() - s->submitted_ns;
    if (atomic_load_explicit(&d->stop, memory_order_relaxed)) {
        atomic_fetch_sub_explicit(&d->in_flight, 1, memory_order_release);
        return;
    }
    pick_pair(d, s);
    submit(s);
}

static void submit(struct submitter *s)
{
    s->submitted_ns = now_ns();
    enum qb_error err = ledger_submit(s->driver->ledger, &s->cmd);
    if (err != QB_OK)
        die("ledger_submit", err);
}

struct phase_result {
    double seconds;
    int64_t ok;
    int64_t refused;
    int64_t p50_us, p99_us, max_us;
};

/* Runs `concurrency` submitters for `seconds` (or until `entries_target`
 * transfers are acknowledged, when non-zero). */
static struct phase_result phase_run(struct ledger *ledger, struct setup *setup, int concurrency,
                                     double seconds, int64_t entries_target, uint64_t seed,
                                     bool keep_latencies)
{
    struct driver d = {.ledger = ledger, .setup = setup};
    rand_seeded_init(&d.rand, seed);
    d.latency_capacity = keep_latencies ? 20000000 : 0;
    d.latencies_ns = keep_latencies ? malloc(d.latency_capacity * sizeof(int64_t)) : NULL;
    struct submitter *subs = calloc((size_t)concurrency, sizeof *subs);
    int64_t t0 = now_ns();
    atomic_store(&d.in_flight, concurrency);
    for (int i = 0; i < concurrency; i++) {
        subs[i].driver = &d;
        ledger_cmd_init(&subs[i].cmd, run_transfer, &subs[i]);
        subs[i].cmd.done = transfer_done;
        /* The writer thread also picks pairs from d.rand; before the first
         * submission nobody else uses it. */
        pick_pair(&d, &subs[i]);
    }
    for (int i = 0; i < concurrency; i++)
        submit(&subs[i]);
    for (;;) {
        usleep(20000);
        double elapsed = (double)(now_ns() - t0) / 1e9;
        int64_t done = atomic_load(&d.ok_count) + atomic_load(&d.refused_count);
        if ((entries_target == 0 && elapsed >= seconds) || (entries_target > 0 && done >= entries_target))
            break;
    }
    atomic_store(&d.stop, true);
    while (atomic_load_explicit(&d.in_flight, memory_order_acquire) > 0)
        usleep(1000);
    struct phase_result r = {.seconds = (double)(now_ns() - t0) / 1e9,
                             .ok = atomic_load(&d.ok_count),
                             .refused = atomic_load(&d.refused_count)};
    if (keep_latencies && d.latency_count > 0) {
        qsort(d.latencies_ns, d.latency_count, sizeof(int64_t), cmp_i64);
        r.p50_us = percentile(d.latencies_ns, d.latency_count, 500) / 1000;
        r.p99_us = percentile(d.latencies_ns, d.latency_count, 990) / 1000;
        r.max_us = d.latencies_ns[d.latency_count - 1] / 1000;
    }
    for (int i = 0; i < concurrency; i++)
        ledger_cmd_release(&subs[i].cmd);
    free(subs);
    free(d.latencies_ns);
    return r;
}

/* --- fsync ----------------------------------------------------------------- */

static void fsync_measure(const char *dir)
{
    const struct disk_probe probe = {
        .write_size = 4096, .pause_us = 0, .seconds = 60, .syncs_max = 200};
    struct disk_probe_result r;
    disk_probe_run(dir, &probe, &r);
    disk_probe_print("fsync (4 KiB write + fdatasync)", &probe, &r);
}

/* --- helpers ------------------------------------------------------------- */

static struct store *open_writer(const char *db)
{
    struct store *store;
    char err[256];
    enum qb_error e = store_open(db, STORE_MODE_WRITE, &store, err, sizeof err);
    if (e != QB_OK) {
        fprintf(stderr, "bench_ledger: %s\n", err);
        exit(1);
    }
    return store;
}

static struct ledger *open_ledger(struct store *store, double *seconds)
{
    struct ledger *ledger;
    int64_t t0 = now_ns();
    enum qb_error e = ledger_open(store, NULL, &ledger);
    if (e != QB_OK)
        die("ledger_open", e);
    if (seconds)
        *seconds = (double)(now_ns() - t0) / 1e9;
    return ledger;
}

static void commit_latency_print(struct ledger *ledger)
{
    struct ledger_stats st;
    ledger_stats_get(ledger, &st);
    uint64_t total = 0;
    for (int i = 0; i < LEDGER_LATENCY_BUCKETS; i++)
        total += st.commit_latency_us_buckets[i];
    uint64_t seen = 0;
    int64_t p50 = -1, p99 = -1;
    for (int i = 0; i < LEDGER_LATENCY_BUCKETS; i++) {
        seen += st.commit_latency_us_buckets[i];
        int64_t bound = ledger_latency_bucket_us(i);
        if (p50 < 0 && seen * 2 >= total)
            p50 = bound;
        if (p99 < 0 && seen * 100 >= total * 99)
            p99 = bound;
    }
    printf("ledger commits: %" PRIu64 " batches, mean batch %.1f commands, mean commit %.0f us, "
           "p50 <= %" PRId64 " us, p99 <= %" PRId64 " us (histogram bounds), max %" PRIu64 " us\n",
           st.batches_total, st.batches_total ? (double)st.batch_size_sum / (double)st.batches_total : 0.0,
           total ? (double)st.commit_latency_us_sum / (double)total : 0.0, p50, p99,
           st.commit_latency_us_max);
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    int64_t entries_target = 10000000;
    int64_t accounts = 100000;
    double seconds = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--entries") == 0 && i + 1 < argc)
            entries_target = strtoll(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--accounts") == 0 && i + 1 < argc)
            accounts = strtoll(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = strtod(argv[++i], NULL);
        else {
            fprintf(stderr, "usage: bench_ledger [--dir DIR] [--entries N] [--accounts N] [--seconds S]\n");
            return 2;
        }
    }
    if (!crypto_init())
        return 1;
    log_init(stderr, LOG_WARN);
    char dir_buf[4096];
    if (dir == NULL) {
        snprintf(dir_buf, sizeof dir_buf, "/var/tmp/qianbao-bench-XXXXXX");
        if (mkdtemp(dir_buf) == NULL) {
            perror("mkdtemp");
            return 1;
        }
        dir = dir_buf;
    } else if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        perror(dir);
        return 1;
    }
    char db[4096];
    if (snprintf(db, sizeof db, "%s/bench.db", dir) >= (int)sizeof db)
        return 2;
    unlink(db);
    printf("qianbao ledger benchmark: dir %s, %" PRId64 " accounts, journal to %" PRId64 " entries\n",
           dir, accounts, entries_target);
    fsync_measure(dir);
    chain_hash_measure();

    struct store *store = open_writer(db);
    struct ledger *ledger = open_ledger(store, NULL);
    struct setup setup = {.accounts = accounts};
    struct ledger_cmd cmd;
    ledger_cmd_init(&cmd, run_create_accounts, &setup);
    enum qb_error e = ledger_execute(ledger, &cmd);
    if (e != QB_OK)
        die("create accounts", e);
    for (int64_t i = 0; i < accounts; i += 10000) {
        struct fund f = {&setup, i, i + 10000 < accounts ? i + 10000 : accounts};
        ledger_cmd_init(&cmd, run_fund, &f);
        e = ledger_execute(ledger, &cmd);
        if (e != QB_OK)
            die("fund accounts", e);
    }
    ledger_cmd_release(&cmd);

    printf("\n%-12s %14s %10s %10s %10s %10s\n", "submitters", "transfers/s", "p50 us", "p99 us",
           "max us", "refused");
    int concurrencies[] = {1, 16, 256, 4096};
    for (size_t i = 0; i < QB_ARRAY_COUNT(concurrencies); i++) {
        struct phase_result r = phase_run(ledger, &setup, concurrencies[i], seconds, 0, 42 + i, true);
        printf("%-12d %14.0f %10" PRId64 " %10" PRId64 " %10" PRId64 " %10" PRId64 "\n",
               concurrencies[i], (double)r.ok / r.seconds, r.p50_us, r.p99_us, r.max_us, r.refused);
        fflush(stdout);
    }
    commit_latency_print(ledger);

    /* Fill the journal to the target size. */
    struct ledger_stats st;
    ledger_stats_get(ledger, &st);
    struct ledger_account_view v;
    if (ledger_account_view(ledger, setup.first_id, &v) != QB_OK)
        die("view", QB_E_INTERNAL);
    struct store *reader;
    char errbuf[256];
    if (store_open(db, STORE_MODE_READ, &reader, errbuf, sizeof errbuf) != QB_OK) {
        fprintf(stderr, "%s\n", errbuf);
        return 1;
    }
    struct store_stmt *stmt;
    int64_t have = 0;
    if (store_prepare(reader, "SELECT max(id) FROM entries", &stmt) == QB_OK &&
        store_step(stmt) == STORE_STEP_ROW)
        have = store_column_int64(stmt, 0);
    store_finalize(stmt);
    if (have < entries_target) {
        int64_t t0 = now_ns();
        struct phase_result r =
            phase_run(ledger, &setup, 4096, 0, entries_target - have, 7, false);
        printf("\nfilled the journal to %" PRId64 " entries in %.1f s (%.0f transfers/s)\n",
               have + r.ok, (double)(now_ns() - t0) / 1e9, (double)r.ok / r.seconds);
    }

    /* History pages. */
    {
        struct qb_rand rnd;
        rand_seeded_init(&rnd, 99);
        enum { SAMPLES = 20000 };
        int64_t *lat = malloc(SAMPLES * sizeof(int64_t));
        struct ledger_entry *page = malloc(20 * sizeof(struct ledger_entry));
        size_t got_total = 0;
        for (int i = 0; i < SAMPLES; i++) {
            int64_t id = setup.first_id + (int64_t)rand_below(&rnd, (uint64_t)accounts);
            size_t count;
            int64_t next;
            int64_t t0 = now_ns();
            e = ledger_history(ledger, reader, id, 0, 20, page, &count, &next);
            lat[i] = now_ns() - t0;
            if (e != QB_OK)
                die("ledger_history", e);
            got_total += count;
        }
        qsort(lat, SAMPLES, sizeof(int64_t), cmp_i64);
        printf("history page (20 entries, newest first, random account): p50 %.1f us, p99 %.1f us, "
               "max %.1f us (mean %.1f entries per page)\n",
               (double)percentile(lat, SAMPLES, 500) / 1e3, (double)percentile(lat, SAMPLES, 990) / 1e3,
               (double)lat[SAMPLES - 1] / 1e3, (double)got_total / SAMPLES);
        free(lat);
        free(page);
    }
    store_close(reader);

    /* Restart after a clean close. */
    ledger_close(ledger);
    store_close(store);
    double open_s;
    store = open_writer(db);
    ledger = open_ledger(store, &open_s);
    ledger_stats_get(ledger, &st);
    printf("restart after a clean close: %.2f s\n", open_s);

    /* Restart after a crash: a child writes for a while and is killed. */
    fflush(stdout);
    ledger_close(ledger);
    store_close(store);
    pid_t pid = fork();
    if (pid == 0) {
        struct store *cs = open_writer(db);
        struct ledger *cl = open_ledger(cs, NULL);
        phase_run(cl, &setup, 256, 4, 0, 11, false);
        kill(getpid(), SIGKILL);
    }
    int status;
    waitpid(pid, &status, 0);
    store = open_writer(db);
    ledger = open_ledger(store, &open_s);
    ledger_stats_get(ledger, &st);
    printf("restart after SIGKILL during load: %.2f s\n", open_s);
    ledger_close(ledger);
    store_close(store);
    return 0;
}

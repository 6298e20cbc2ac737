/*
 * test_crash.c — crash safety over HTTP: a daemon killed with SIGKILL in the
 * middle of a burst of transfers must, once restarted on the same data
 * directory, hold every transfer it acknowledged exactly once, nothing it
 * refused, answer every retry the way a client relying on Idempotency-Key
 * needs, and still deliver every payment and refund notification at least
 * once.
 *
 * Eight users are registered, raised to KYC level 3 and funded over HTTP
 * (sandbox card and top-up). Then 20 rounds (QB_CRASH_ROUNDS for the
 * longer mode, scripts/crash-long; the sanitizer presets run 8): eight clients (a thread and a
 * keep-alive connection each) send transfers with distinct keys — most of
 * them valid, some refused by design (more than all the money there is; to
 * oneself) — and at a random moment the daemon gets SIGKILL. Each request
 * ends one of three ways: 201 (acknowledged), 4xx (refused) or no answer
 * (unknown: it may or may not have committed). The daemon is restarted on
 * the same directory, and then, with no load:
 *   - every transfer acknowledged this round, sent again with its key and
 *     body, answers 201 with the bytes of its first answer and
 *     Idempotent-Replayed: true, and GET /v1/transfers/{id} answers 200 with
 *     its amount;
 *   - every refused transfer, sent again, is not a 201;
 *   - every unknown transfer, sent again, answers 201 (it committed before
 *     the kill, or it runs now) or a 4xx (it was refused now); a second
 *     retry answers the same bytes. The first retry resolves it, so the
 *     model of the balances becomes exact again;
 *   - each balance equals its opening balance plus what the committed
 *     transfers (acknowledged, or resolved to 201) brought in minus what they
 *     took out: nothing refused moved money, nothing moved twice;
 *   - the database, read read-only with the sqlite3 CLI, holds exactly the
 *     committed transfers: the payments rows of kind transfer and the ledger
 *     entries with the transfer code written since the previous round's
 *     check are one each per transfer committed this round (payer, payee,
 *     amount and ref matching), and no other.
 * At the end the whole table is checked once more in aggregate (per payer:
 * how many transfers and how much, and the number of transfer entries), the
 * daemon stops and `qianbaod --verify` checks the ledger.
 *
 * The bookkeeping is linear in the number of transfers, so that the longer
 * mode's 1,000 rounds cost 50 times 20: a round's transfers are kept only
 * until that round is checked, the model's balances and per-payer tallies
 * are running sums, and each round reads from the database only the rows
 * past the previous round's highest row number.
 *
 * Three more clients send, beside the transfers, merchant order payments,
 * refunds of orders paid in earlier rounds (in one refund or in two or three
 * parts, adding up to the total or less; now and then one refused for a
 * wrong total or for a fen more than is left), and red packets with every user's claim (now and then a packet
 * refused by design: fewer fen than shares, or over the maximum total);
 * each is retried, read back and taken into the model of the users' and the
 * merchant's balances the same way (see "the other kinds" below, and
 * docs/reliability.md).
 *
 * The merchant's notify_url is a receiver in this process that stays up
 * across the kills; it checks each notification's signature, decrypts it,
 * and answers 200, or now and then 500 or nothing, so that the worker
 * retries (its ladder shrunk through QIANBAO_TEST_NOTIFY_LADDER_DIVISOR).
 * After each restart every payment and refund committed in the round must
 * have had its notification (TRANSACTION.SUCCESS, REFUND.SUCCESS) answered
 * 2xx within 20 s, every delivery of one event must carry one notification
 * id, and nothing that is not committed may be notified (see
 * "notifications" below).
 *
 * No answer of any kind may be a 5xx. The seed is printed (QB_TEST_SEED
 * replays the choice of kill moments, payers, payees and amounts).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "api/lib/api.h"
#include "api/lib/client.h"
#include "api/lib/daemon.h"
#include "api/lib/receiver.h"
#include "api/lib/suite.h"
#include "api/refund_helpers.h"
#include "test.h"

#define C_USERS 8
#define C_CLIENTS 8
#define C_ROUNDS_DEFAULT 20
#define C_ROUNDS_MAX 100000
#define C_KILL_AFTER_MIN_MS 150
#define C_KILL_AFTER_MAX_MS 1200
#define C_OPENING_MINOR 1000000 /* ¥10,000 each: small transfers never drain anyone */
#define C_AMOUNT_MAX_MINOR 1000
/* A long run pays less each time: KYC level 3 allows ¥200,000 out per user
 * per year (limit_kyc3_yearly_minor, not a flag), and about 500 transfers
 * per user per round at 1,000 fen at most would reach it by round 80. At
 * C_AMOUNT_BUDGET_MINOR / rounds fen at most, 1,000 rounds take a user to
 * about ¥100,000. */
#define C_AMOUNT_BUDGET_MINOR 40000
#define C_XFERS_MAX 200000 /* in one round */

static char C_root[512];
/* Limits as high as they go: this test is about crashes, not caps. Orders
 * notify the receiver on the loopback (see "notifications" below), which
 * --allow-private-notify lets the worker reach. */
static const char *const C_no_caps[] = {"--limit-daily",       "1000000000000",
                                        "--limit-per-payment", "1000000000000",
                                        "--allow-private-notify", NULL};

struct user {
    struct api_user u;
    int64_t opening_minor;
};

enum xfer_state {
    X_SENDING,   /* reserved, no outcome yet */
    X_ACKED,     /* 201 before the kill */
    X_REFUSED,   /* 4xx before the kill */
    X_UNKNOWN,   /* no answer: the kill took it */
    X_COMMITTED, /* unknown, then its retry answered 201 */
    X_DROPPED,   /* unknown, then its retry answered a 4xx */
};

struct xfer {
    char key[64];
    char body[192];
    int payer;
    int payee;
    int64_t amount_minor;
    bool must_refuse;
    int round;
    enum xfer_state state;
    long status;
    char id[64];
    char *answer; /* the first answer's body (malloc'd), for byte comparison */
    size_t answer_size;
};

static struct user C_users[C_USERS];
static int64_t C_amount_max_minor = C_AMOUNT_MAX_MINOR;
static struct xfer *C_xfers; /* this round's */
static atomic_size_t C_xfer_count;

/* The model: what the committed transfers of all checked rounds add up to. */
static int64_t C_expected_minor[C_USERS];
static long long C_payer_count[C_USERS];
static int64_t C_payer_sum_minor[C_USERS];
static long long C_committed_count;
/* The highest payments.entry_id and entries.id the previous round's check saw. */
static long long C_payment_entry_seen;
static long long C_entry_id_seen;

/* What the clients saw that no correct daemon answers; the first problem. */
static atomic_long C_bad;
static pthread_mutex_t C_lock = PTHREAD_MUTEX_INITIALIZER;
static char C_first_problem[512];

static void C_problem(const char *fmt, const char *a, long b, const char *c)
{
    atomic_fetch_add(&C_bad, 1);
    pthread_mutex_lock(&C_lock);
    if (C_first_problem[0] == '\0')
        snprintf(C_first_problem, sizeof C_first_problem, fmt, a, b, c);
    pthread_mutex_unlock(&C_lock);
}

static int64_t C_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t C_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int64_t C_between(uint64_t *state, int64_t low, int64_t high)
{
    return low + (int64_t)(C_rand(state) % (uint64_t)(high - low + 1));
}

static char *C_copy(const struct client_response *res, size_t *size)
{
    *size = res->body.size;
    char *copy = malloc(res->body.size + 1);
    QB_ASSERT(copy != NULL);
    if (res->body.size > 0)
        memcpy(copy, res->body.data, res->body.size);
    copy[res->body.size] = '\0';
    return copy;
}

static bool C_same_bytes(const struct client_response *res, const char *answer, size_t size)
{
    return res->body.size == size && (size == 0 || memcmp(res->body.data, answer, size) == 0);
}

/* --- the load ----------------------------------------------------------------- */

struct round_load;

struct crash_client {
    pthread_t thread;
    uint64_t rng;
    int index;
    struct round_load *load;
};

struct round_load {
    const char *base_url;
    int round;
    atomic_bool killed;
    struct crash_client clients[C_CLIENTS];
};

/* One transfer: reserve its slot, send it, record how it ended. False when
 * the client should stop (no answer: the daemon is gone). */
static bool C_send_one(struct round_load *load, struct client *client, uint64_t *rng, int index,
                       long serial)
{
    size_t slot = atomic_fetch_add(&C_xfer_count, 1);
    if (slot >= C_XFERS_MAX) {
        atomic_fetch_sub(&C_xfer_count, 1);
        return false;
    }
    struct xfer *x = &C_xfers[slot];
    memset(x, 0, sizeof *x);
    x->round = load->round;
    x->payer = (int)C_between(rng, 0, C_USERS - 1);
    x->payee = (int)C_between(rng, 0, C_USERS - 2);
    if (x->payee >= x->payer)
        x->payee++;
    int r = (int)(C_rand(rng) % 100);
    x->amount_minor = C_between(rng, 1, C_amount_max_minor);
    if (r < 5) {
        /* More than all the money there is: refused whatever happened before. */
        x->amount_minor = 10 * (int64_t)C_USERS * C_OPENING_MINOR;
        x->must_refuse = true;
    } else if (r < 10) {
        x->payee = x->payer;
        x->must_refuse = true;
    }
    snprintf(x->key, sizeof x->key, "crash-%d-%d-%ld-%llu", load->round, index, serial,
             (unsigned long long)(C_rand(rng) % 1000000000ull));
    snprintf(x->body, sizeof x->body,
             "{\"to\":\"%s\",\"amount\":%lld,\"memo\":\"crash %d-%d-%ld\","
             "\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             C_users[x->payee].u.id, (long long)x->amount_minor, load->round, index, serial);

    struct client_response res;
    long status = api_call_idem(client, "POST", "/v1/transfers", C_users[x->payer].u.token, x->key,
                                x->body, &res);
    x->status = status;
    bool go_on = true;
    if (status == 0) {
        x->state = X_UNKNOWN;
        if (!atomic_load(&load->killed))
            C_problem("transfer %s: no answer while the daemon ran (%ld) %s", x->key, 0,
                      res.error);
        go_on = false;
    } else if (status == 201 && !x->must_refuse) {
        snprintf(x->id, sizeof x->id, "%s", api_json_str(&res, "id"));
        if (x->id[0] == '\0' || api_json_int(&res, "amount", -1) != x->amount_minor)
            C_problem("transfer %s: a 201 without its id or amount: %ld %s", x->key, status,
                      res.body.data ? (const char *)res.body.data : "");
        x->answer = C_copy(&res, &x->answer_size);
        x->state = X_ACKED;
    } else if (status >= 400 && status < 500) {
        x->state = X_REFUSED;
        if (!x->must_refuse)
            C_problem("transfer %s: a valid transfer refused: %ld %s", x->key, status,
                      res.body.data ? (const char *)res.body.data : "");
    } else {
        x->state = X_REFUSED;
        C_problem("transfer %s: unexpected answer %ld %s", x->key, status,
                  res.body.data ? (const char *)res.body.data : "");
    }
    client_response_release(&res);
    return go_on;
}

static void *C_client_main(void *arg)
{
    struct crash_client *me = arg;
    struct round_load *load = me->load;
    struct client client;
    client_init(&client, load->base_url);
    for (long serial = 0; !atomic_load(&load->killed); serial++)
        if (!C_send_one(load, &client, &me->rng, me->index, serial))
            break;
    client_release(&client);
    return NULL;
}

/* --- checks after a restart ------------------------------------------------- */

struct row {
    char id[64];
    char payer[64];
    char payee[64];
    long long amount_minor;
    long long seq; /* payments.entry_id or entries.id */
};

struct rows {
    struct row *items;
    size_t count;
    size_t count_max;
};

static void C_payment_line(char *line, void *arg)
{
    struct rows *rows = arg;
    if (rows->count >= rows->count_max)
        return;
    struct row *r = &rows->items[rows->count++];
    if (sscanf(line, "%lld %63s %63s %63s %lld", &r->seq, r->id, r->payer, r->payee,
               &r->amount_minor) != 5)
        r->id[0] = '\0';
}

static void C_ref_line(char *line, void *arg)
{
    struct rows *rows = arg;
    if (rows->count >= rows->count_max)
        return;
    struct row *r = &rows->items[rows->count++];
    if (sscanf(line, "%lld %63s", &r->seq, r->id) != 2)
        r->id[0] = '\0';
}

/* One number, the whole output of a query. */
static void C_number_line(char *line, void *arg)
{
    long long *value = arg;
    *value = strtoll(line, NULL, 10);
}

static int C_row_cmp(const void *a, const void *b)
{
    return strcmp(((const struct row *)a)->id, ((const struct row *)b)->id);
}

static bool C_committed(const struct xfer *x)
{
    return x->state == X_ACKED || x->state == X_COMMITTED;
}

/* This round's committed transfers, sorted by id, as rows. */
static struct row *C_committed_rows(size_t *count)
{
    size_t n = atomic_load(&C_xfer_count);
    struct row *rows = calloc(n + 1, sizeof *rows);
    QB_ASSERT(rows != NULL);
    *count = 0;
    for (size_t i = 0; i < n; i++) {
        const struct xfer *x = &C_xfers[i];
        if (!C_committed(x))
            continue;
        struct row *r = &rows[(*count)++];
        snprintf(r->id, sizeof r->id, "%s", x->id);
        snprintf(r->payer, sizeof r->payer, "%s", C_users[x->payer].u.id);
        snprintf(r->payee, sizeof r->payee, "%s", C_users[x->payee].u.id);
        r->amount_minor = x->amount_minor;
    }
    qsort(rows, *count, sizeof *rows, C_row_cmp);
    return rows;
}

/* The rows written since the previous round's check hold exactly this
 * round's committed transfers, once each. */
static void C_journal_check(const char *data_dir, int round)
{
    char db[TEST_DAEMON_PATH_SIZE_MAX + 16];
    snprintf(db, sizeof db, "%s/qianbao.db", data_dir);
    size_t want_count = 0;
    struct row *want = C_committed_rows(&want_count);
    struct rows got = {.count_max = want_count + 1000};
    got.items = calloc(got.count_max, sizeof *got.items);
    ASSERT(got.items != NULL);

    /* Payments: kind 3 is a transfer (enum wallet_payment_kind, stored). */
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT entry_id, id, user_id, counterparty_id, amount_minor FROM payments "
             "WHERE entry_id > %lld AND kind = 3",
             C_payment_entry_seen);
    ASSERT(test_sqlite(db, false, sql, C_payment_line, &got));
    long long seq_max = C_payment_entry_seen;
    for (size_t i = 0; i < got.count; i++)
        seq_max = got.items[i].seq > seq_max ? got.items[i].seq : seq_max;
    qsort(got.items, got.count, sizeof *got.items, C_row_cmp);
    if (got.count != want_count) {
        for (size_t i = 0, shown = 0; i < want_count && shown < 5; i++)
            if (bsearch(&want[i], got.items, got.count, sizeof *got.items, C_row_cmp) == NULL) {
                fprintf(stderr, "  committed, not in the database: %s\n", want[i].id);
                shown++;
            }
        TEST_FAIL_("round %d: %zu transfer payments in the database, %zu committed", round,
                   got.count, want_count);
    }
    for (size_t i = 0; i < want_count; i++)
        if (strcmp(got.items[i].id, want[i].id) != 0 ||
            strcmp(got.items[i].payer, want[i].payer) != 0 ||
            strcmp(got.items[i].payee, want[i].payee) != 0 ||
            got.items[i].amount_minor != want[i].amount_minor)
            TEST_FAIL_("round %d: payment %s in the database, committed %s (or they differ)",
                       round, got.items[i].id, want[i].id);

    /* Entries: code 20 is a transfer (WALLET_CODE_TRANSFER), ref the payment id. */
    got.count = 0;
    snprintf(sql, sizeof sql, "SELECT id, ref FROM entries WHERE id > %lld AND code = 20",
             C_entry_id_seen);
    ASSERT(test_sqlite(db, false, sql, C_ref_line, &got));
    long long entry_id_max = C_entry_id_seen;
    for (size_t i = 0; i < got.count; i++)
        entry_id_max = got.items[i].seq > entry_id_max ? got.items[i].seq : entry_id_max;
    qsort(got.items, got.count, sizeof *got.items, C_row_cmp);
    if (got.count != want_count)
        TEST_FAIL_("round %d: %zu transfer entries in the database, %zu committed", round,
                   got.count, want_count);
    for (size_t i = 0; i < want_count; i++)
        if (strcmp(got.items[i].id, want[i].id) != 0)
            TEST_FAIL_("round %d: entry for %s, committed %s", round, got.items[i].id, want[i].id);
    free(got.items);
    free(want);
    /* Other writers (top-ups, the session flush) also move the row numbers:
     * what is past the highest transfer row seen is read again next round,
     * and only transfer rows are selected. */
    C_payment_entry_seen = seq_max;
    C_entry_id_seen = entry_id_max;
}

/* The whole database against the running tallies: per payer, how many
 * transfers and how much; and as many transfer entries as transfers. This is
 * what catches a row of an earlier round that went missing, since each round
 * reads only what is new. */
struct tally {
    char payer[64];
    long long count;
    long long sum_minor;
};
struct tallies {
    struct tally items[C_USERS + 1];
    size_t count;
};

static void C_tally_line(char *line, void *arg)
{
    struct tallies *t = arg;
    if (t->count >= C_USERS + 1)
        return;
    struct tally *row = &t->items[t->count++];
    if (sscanf(line, "%63s %lld %lld", row->payer, &row->count, &row->sum_minor) != 3)
        row->payer[0] = '\0';
}

static void C_totals_check(const char *data_dir)
{
    char db[TEST_DAEMON_PATH_SIZE_MAX + 16];
    snprintf(db, sizeof db, "%s/qianbao.db", data_dir);
    struct tallies t = {.count = 0};
    ASSERT(test_sqlite(db, false,
                       "SELECT user_id, count(*), sum(amount_minor) FROM payments WHERE kind = 3 "
                       "GROUP BY user_id",
                       C_tally_line, &t));
    long long rows = 0;
    for (size_t i = 0; i < t.count; i++) {
        int user = -1;
        for (int u = 0; u < C_USERS; u++)
            if (strcmp(t.items[i].payer, C_users[u].u.id) == 0)
                user = u;
        if (user < 0)
            TEST_FAIL_("transfers from %s, who is none of the test's users", t.items[i].payer);
        if (t.items[i].count != C_payer_count[user] ||
            t.items[i].sum_minor != C_payer_sum_minor[user])
            TEST_FAIL_("payer %s: %lld transfers of %lld in the database, %lld of %lld committed",
                       t.items[i].payer, t.items[i].count, t.items[i].sum_minor,
                       C_payer_count[user], (long long)C_payer_sum_minor[user]);
        rows += t.items[i].count;
    }
    if (rows != C_committed_count)
        TEST_FAIL_("%lld transfer payments in the database, %lld committed", rows,
                   C_committed_count);
    long long entries = -1;
    ASSERT(test_sqlite(db, false, "SELECT count(*) FROM entries WHERE code = 20", C_number_line,
                       &entries));
    if (entries != C_committed_count)
        TEST_FAIL_("%lld transfer entries in the database, %lld committed", entries,
                   C_committed_count);
}

/* Retries of this round's transfers, which also resolves the unknown ones. */
static void C_retry_round(struct client *c, int round, size_t from, size_t to, int *resolved_201,
                          int *resolved_4xx, int *acked)
{
    for (size_t i = from; i < to; i++) {
        struct xfer *x = &C_xfers[i];
        QB_ASSERT(x->round == round);
        const char *token = C_users[x->payer].u.token;
        struct client_response res;
        long status = api_call_idem(c, "POST", "/v1/transfers", token, x->key, x->body, &res);
        const char *text = res.body.data ? (const char *)res.body.data : "";
        switch (x->state) {
        case X_ACKED:
            (*acked)++;
            if (status != 201 || !C_same_bytes(&res, x->answer, x->answer_size))
                TEST_FAIL_("round %d: retry of acknowledged %s (%s): %ld %s, first answer %s",
                           round, x->key, x->id, status, text, x->answer);
            if (strcmp(api_header(&res, "Idempotent-Replayed"), "true") != 0)
                TEST_FAIL_("round %d: retry of acknowledged %s not marked Idempotent-Replayed",
                           round, x->key);
            break;
        case X_REFUSED:
            if (status == 201 || status >= 500)
                TEST_FAIL_("round %d: retry of refused %s: %ld %s", round, x->key, status, text);
            break;
        case X_UNKNOWN:
            if (status == 201 && !x->must_refuse) {
                snprintf(x->id, sizeof x->id, "%s", api_json_str(&res, "id"));
                if (x->id[0] == '\0' || api_json_int(&res, "amount", -1) != x->amount_minor)
                    TEST_FAIL_("round %d: retry of unknown %s: %s", round, x->key, text);
                x->state = X_COMMITTED;
                (*resolved_201)++;
            } else if (status >= 400 && status < 500) {
                x->state = X_DROPPED;
                (*resolved_4xx)++;
            } else {
                TEST_FAIL_("round %d: retry of unknown %s: %ld %s", round, x->key, status, text);
            }
            x->status = status;
            x->answer = C_copy(&res, &x->answer_size);
            break;
        default:
            TEST_FAIL_("round %d: transfer %s left in state %d", round, x->key, (int)x->state);
        }
        client_response_release(&res);

        if (x->state == X_COMMITTED || x->state == X_DROPPED) {
            /* Its answer is now stored: a second retry answers the same bytes. */
            long again = api_call_idem(c, "POST", "/v1/transfers", token, x->key, x->body, &res);
            if (again != x->status || !C_same_bytes(&res, x->answer, x->answer_size))
                TEST_FAIL_("round %d: second retry of %s: %ld %s, first retry %ld %s", round,
                           x->key, again, res.body.data ? (const char *)res.body.data : "",
                           x->status, x->answer);
            client_response_release(&res);
        }
        if (x->state == X_ACKED) {
            char path[128];
            snprintf(path, sizeof path, "/v1/transfers/%s", x->id);
            long got = api_call(c, "GET", path, token, NULL, &res);
            if (got != 200 || api_json_int(&res, "amount", -1) != x->amount_minor)
                TEST_FAIL_("round %d: GET %s: %ld %s", round, path, got,
                           res.body.data ? (const char *)res.body.data : "");
            client_response_release(&res);
        }
    }
}

/* Adds this round's committed transfers to the model, then checks each
 * balance against it: the opening balances plus every committed transfer. */
static void C_balance_check(struct client *c, int round)
{
    size_t n = atomic_load(&C_xfer_count);
    for (size_t i = 0; i < n; i++) {
        const struct xfer *x = &C_xfers[i];
        if (C_committed(x)) {
            C_expected_minor[x->payer] -= x->amount_minor;
            C_expected_minor[x->payee] += x->amount_minor;
            C_payer_count[x->payer]++;
            C_payer_sum_minor[x->payer] += x->amount_minor;
            C_committed_count++;
        }
    }
    for (int i = 0; i < C_USERS; i++) {
        long long got = th_balance(c, &C_users[i].u);
        if (got != C_expected_minor[i])
            TEST_FAIL_("round %d: balance of %s is %lld, the committed transfers say %lld", round,
                       C_users[i].u.id, got, (long long)C_expected_minor[i]);
    }
}

/* Forgets this round's transfers once they are checked. */
static void C_round_forget(void)
{
    size_t n = atomic_load(&C_xfer_count);
    for (size_t i = 0; i < n; i++) {
        free(C_xfers[i].answer);
        C_xfers[i].answer = NULL;
    }
    atomic_store(&C_xfer_count, 0);
}

/* --- the other kinds: order payments, refunds, red packets ------------------ */

/* Three more clients run beside the transfer clients, one per kind:
 *   - the payer creates a native order of the merchant (signed /v3) and has
 *     a random user pay it (POST /v1/me/order-payments, keyed); now and then
 *     it pays an order it saw paid again under a new key, which must be
 *     refused (ORDERPAID);
 *   - the refunder refunds orders whose payment an earlier round's check
 *     found committed (out_refund_no is the key): in one refund or in two
 *     or three, adding up to the total or less; now and then first with
 *     a wrong amount.total, and now and then at the end with one fen more
 *     than is left, both of which must be refused;
 *   - the packeteer sends an equal red packet of M_SHARES shares (keyed) from
 *     a random user and, once acknowledged, has every user claim it (a claim
 *     has no key: a user claims a packet once, and a retry answers the first
 *     claim); now and then it claims a packet that does not exist, or sends
 *     one refused by design: a lucky packet with fewer fen than shares, or an
 *     equal one over the daemon's maximum total.
 * Orders, with their refunds, live in a pool for the whole run (about 200
 * bytes each); everything else is kept only until its round is checked. */

#define M_OPS_MAX 100000    /* in one round */
#define M_ORDERS_MAX 400000 /* in the whole run */
#define M_SHARES C_USERS
#define M_FEE_PPM 6000
#define M_PACKET_TOTAL_MAX_MINOR 20000 /* the daemon's --red-packet-max by default */

enum op_kind { K_PAY, K_REFUND, K_SEND, K_CLAIM, K_KINDS };
static const char *const M_kind_name[K_KINDS] = {"payment", "refund", "packet", "claim"};

/* A refund of an order: slot i is the order's refund number i, its
 * out_refund_no "RF<order>x<i>", so that a notification names its slot. */
#define M_REFUND_SLOTS 5 /* a wrong total, three parts, one over what is left */

struct refund_slot {
    int64_t amount_minor;
    bool must_refuse;
    bool wrong_total;        /* refused for its amount.total, not its amount */
    bool committed;          /* set by a round's check */
    bool notified;           /* a REFUND.SUCCESS of it was answered 2xx */
    uint64_t notify_id_hash; /* its notification's id, hashed; 0: none seen */
};

struct order {
    char out_trade_no[40]; /* "CM<index>x…": a notification names its order */
    int payer;
    int64_t total_minor;
    int64_t fee_minor;
    int64_t refunded_minor;  /* what its committed refunds add up to */
    bool paid;               /* its payment is committed (set by a round's check) */
    bool refund_taken;       /* the refunder has used it */
    bool notified;           /* a TRANSACTION.SUCCESS of it was answered 2xx */
    uint64_t notify_id_hash; /* that notification's id, hashed; 0: none seen */
    int refund_count;        /* slots used */
    struct refund_slot refunds[M_REFUND_SLOTS];
};

struct op {
    enum op_kind kind;
    int user;  /* who pays, sends or claims; the order's payer for a refund */
    long order; /* K_PAY, K_REFUND: index in M_orders */
    int slot;   /* K_REFUND: index in the order's refunds */
    char key[64];
    char path[96];
    char body[400];
    int64_t amount_minor; /* what moves: the order total, the packet total, the share */
    bool must_refuse;
    enum xfer_state state;
    long status;
    char id[64]; /* payment id, refund_id, packet id, claim id */
    char *answer;
    size_t answer_size;
};

static struct mh_merchant M_merchant;
static char M_notify_url[64]; /* the receiver's */
static struct user M_owner;
static struct order *M_orders;
static atomic_long M_order_count;
static long M_refund_cursor;   /* the next order the refunder looks at */
static long M_refundable_end;  /* orders below this one were checked */
static struct op *M_ops;       /* this round's */
static atomic_size_t M_op_count;
static int64_t M_merchant_expected_minor;
static long long M_committed[K_KINDS];
static long long M_totals[K_KINDS][X_DROPPED + 1];

/* Committed payments and refunds whose notification no 2xx answer of the
 * receiver has taken yet: raised by a round's check, lowered as they come. */
static long long N_pending;

/* What the refunds of order adding up to refunded_minor return of its fee:
 * fee × refunded / total, rounded half up (the daemon's rule). */
static int64_t M_fee_share(const struct order *order, int64_t refunded_minor)
{
    QB_ASSERT(order->total_minor > 0 && refunded_minor >= 0);
    return (2 * order->fee_minor * refunded_minor + order->total_minor) /
           (2 * order->total_minor);
}

static struct op *M_op_new(enum op_kind kind, int round)
{
    size_t slot = atomic_fetch_add(&M_op_count, 1);
    if (slot >= M_OPS_MAX) {
        atomic_fetch_sub(&M_op_count, 1);
        return NULL;
    }
    struct op *o = &M_ops[slot];
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->order = -1;
    (void)round;
    return o;
}

static long M_send(struct client *client, const struct op *o, struct client_response *res)
{
    if (o->kind == K_REFUND)
        return mh_call(client, &M_merchant, "POST", o->path, o->body, res);
    const char *key = o->kind == K_CLAIM ? NULL : o->key;
    return api_call_idem(client, "POST", o->path, C_users[o->user].u.token, key, o->body, res);
}

/* The id an acknowledged answer names, and whether its amount is the one sent. */
static bool M_answer_id(const struct op *o, const struct client_response *res, char id[64])
{
    json_t *j = api_json(res);
    const char *name = o->kind == K_REFUND ? "refund_id" : "id";
    const char *value = json_string_value(json_object_get(j, name));
    snprintf(id, 64, "%s", value != NULL ? value : "");
    json_int_t amount = -1;
    if (o->kind == K_REFUND)
        amount = json_integer_value(json_object_get(json_object_get(j, "amount"), "refund"));
    else if (o->kind == K_SEND)
        amount = json_integer_value(json_object_get(j, "total_amount"));
    else
        amount = json_integer_value(json_object_get(j, "amount"));
    json_decref(j);
    return id[0] != '\0' && amount == o->amount_minor;
}

static long M_ok_status(const struct op *o)
{
    return o->kind == K_REFUND ? 200 : 201;
}

/* Sends o under load and records how it ended; false when the client should
 * stop (no answer: the daemon is gone). */
static bool M_run(struct round_load *load, struct client *client, struct op *o)
{
    struct client_response res;
    long status = M_send(client, o, &res);
    o->status = status;
    const char *text = res.body.data ? (const char *)res.body.data : "";
    bool go_on = true;
    if (status == 0) {
        o->state = X_UNKNOWN;
        if (!atomic_load(&load->killed))
            C_problem("%s: no answer while the daemon ran (%ld) %s", o->key, 0, res.error);
        go_on = false;
    } else if (status == M_ok_status(o) && !o->must_refuse) {
        if (!M_answer_id(o, &res, o->id))
            C_problem("%s: acknowledged without its id or amount: %ld %s", o->key, status, text);
        o->answer = C_copy(&res, &o->answer_size);
        o->state = X_ACKED;
    } else if (status >= 400 && status < 500) {
        o->state = X_REFUSED;
        if (!o->must_refuse)
            C_problem("%s: a valid request refused: %ld %s", o->key, status, text);
    } else {
        o->state = X_REFUSED;
        C_problem("%s: unexpected answer %ld %s", o->key, status, text);
    }
    client_response_release(&res);
    return go_on;
}

static void M_sleep_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void M_payer_loop(struct round_load *load, struct client *client, uint64_t *rng)
{
    char last_paid[sizeof ((struct op *)0)->body] = ""; /* the pay body of the last order this client saw paid */
    for (long serial = 0; !atomic_load(&load->killed); serial++) {
        bool again = last_paid[0] != '\0' && C_rand(rng) % 100 < 5;
        struct op *o = M_op_new(K_PAY, load->round);
        if (o == NULL)
            return;
        o->user = (int)C_between(rng, 0, C_USERS - 1);
        snprintf(o->key, sizeof o->key, "pay-%d-%ld-%llu", load->round, serial,
                 (unsigned long long)(C_rand(rng) % 1000000000ull));
        if (again) {
            o->must_refuse = true;
            snprintf(o->body, sizeof o->body, "%s", last_paid);
        } else {
            long index = atomic_load(&M_order_count);
            if (index >= M_ORDERS_MAX)
                return; /* o never sent (no path): the checks pass over it */
            struct order *order = &M_orders[index];
            memset(order, 0, sizeof *order);
            snprintf(order->out_trade_no, sizeof order->out_trade_no, "CM%dx%u", (int)index,
                     (unsigned)(C_rand(rng) % 1000000u));
            order->payer = o->user;
            order->total_minor = C_between(rng, 1, C_amount_max_minor);
            order->fee_minor = (order->total_minor * M_FEE_PPM + 500000) / 1000000;
            char body[512];
            snprintf(body, sizeof body,
                     "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"牛肉面\","
                     "\"out_trade_no\":\"%s\",\"notify_url\":\"%s\","
                     "\"amount\":{\"total\":%lld,\"currency\":\"CNY\"}}",
                     M_merchant.appid, M_merchant.mchid, order->out_trade_no, M_notify_url,
                     (long long)order->total_minor);
            struct client_response res;
            long status = mh_call(client, &M_merchant, "POST", "/v3/pay/transactions/native",
                                  body, &res);
            if (status != 200) {
                if (status != 0 || !atomic_load(&load->killed))
                    C_problem("order %s: %ld %s", order->out_trade_no, status,
                              res.body.data ? (const char *)res.body.data : "");
                client_response_release(&res);
                return; /* o never sent (no path): the checks pass over it */
            }
            snprintf(o->body, sizeof o->body,
                     "{\"code_url\":\"%s\",\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
                     api_json_str(&res, "code_url"));
            client_response_release(&res);
            o->order = index;
            o->amount_minor = order->total_minor;
            atomic_store(&M_order_count, index + 1);
        }
        snprintf(o->path, sizeof o->path, "/v1/me/order-payments");
        if (!M_run(load, client, o))
            return;
        if (o->state == X_ACKED && !o->must_refuse)
            snprintf(last_paid, sizeof last_paid, "%s", o->body);
    }
}

/* The refunds the refunder sends for one order, in order: amounts and
 * whether each must be refused. */
static int M_refund_plan(uint64_t *rng, const struct order *order,
                         struct refund_slot plan[M_REFUND_SLOTS])
{
    int count = 0;
    int64_t total = order->total_minor;
    if (C_rand(rng) % 100 < 5) /* a wrong amount.total: refused */
        plan[count++] = (struct refund_slot){
            .amount_minor = total, .must_refuse = true, .wrong_total = true};
    int parts = C_rand(rng) % 100 < 50 ? 1 : (int)C_between(rng, 2, 3);
    if (parts > total)
        parts = (int)total;
    int64_t target = C_rand(rng) % 2 == 0 ? total : C_between(rng, parts, total);
    int64_t sum = 0;
    for (int j = 0; j < parts; j++) {
        int64_t amount = j == parts - 1 ? target - sum
                                        : C_between(rng, 1, target - sum - (parts - 1 - j));
        plan[count++] = (struct refund_slot){.amount_minor = amount};
        sum += amount;
    }
    QB_ASSERT(sum == target && target <= total);
    if (C_rand(rng) % 100 < 20) /* one fen more than is left: refused */
        plan[count++] = (struct refund_slot){.amount_minor = total - sum + 1, .must_refuse = true};
    QB_ASSERT(count <= M_REFUND_SLOTS);
    return count;
}

static void M_refunder_loop(struct round_load *load, struct client *client, uint64_t *rng)
{
    while (!atomic_load(&load->killed)) {
        while (M_refund_cursor < M_refundable_end &&
               (!M_orders[M_refund_cursor].paid || M_orders[M_refund_cursor].refund_taken))
            M_refund_cursor++;
        if (M_refund_cursor >= M_refundable_end) {
            M_sleep_ms(5);
            continue;
        }
        struct order *order = &M_orders[M_refund_cursor];
        order->refund_taken = true;
        struct refund_slot plan[M_REFUND_SLOTS];
        int count = M_refund_plan(rng, order, plan);
        /* One after the other: a part is sent once the one before it was
         * answered, so the committed parts are those first sent. */
        for (int k = 0; k < count && !atomic_load(&load->killed); k++) {
            struct op *o = M_op_new(K_REFUND, load->round);
            if (o == NULL)
                return;
            o->order = M_refund_cursor;
            o->slot = order->refund_count++;
            order->refunds[o->slot] = plan[k];
            o->user = order->payer;
            o->amount_minor = plan[k].amount_minor;
            o->must_refuse = plan[k].must_refuse;
            snprintf(o->path, sizeof o->path, "/v3/refund/domestic/refunds");
            snprintf(o->key, sizeof o->key, "RF%ldx%d", o->order, o->slot);
            snprintf(o->body, sizeof o->body,
                     "{\"out_trade_no\":\"%s\",\"out_refund_no\":\"%s\",\"reason\":\"商品已售完\","
                     "\"amount\":{\"refund\":%lld,\"total\":%lld,\"currency\":\"CNY\"}}",
                     order->out_trade_no, o->key, (long long)o->amount_minor,
                     (long long)order->total_minor + (plan[k].wrong_total ? 1 : 0));
            if (!M_run(load, client, o))
                return;
        }
    }
}

static void M_packet_loop(struct round_load *load, struct client *client, uint64_t *rng)
{
    for (long serial = 0; !atomic_load(&load->killed); serial++) {
        struct op *send = M_op_new(K_SEND, load->round);
        if (send == NULL)
            return;
        send->user = (int)C_between(rng, 0, C_USERS - 1);
        int64_t share_max = C_amount_max_minor / M_SHARES > 1 ? C_amount_max_minor / M_SHARES : 1;
        int64_t share = C_between(rng, 1, share_max);
        send->amount_minor = share * M_SHARES;
        snprintf(send->path, sizeof send->path, "/v1/red-packets");
        snprintf(send->key, sizeof send->key, "rp-%d-%ld-%llu", load->round, serial,
                 (unsigned long long)(C_rand(rng) % 1000000000ull));
        int r = (int)(C_rand(rng) % 100);
        if (r < 4) {
            /* Fewer fen than shares: refused (BAD_AMOUNT) before any money moves. */
            send->must_refuse = true;
            snprintf(send->body, sizeof send->body,
                     "{\"type\":\"lucky\",\"total_amount\":%lld,\"count\":%d,"
                     "\"greeting\":\"crash %d-%ld\",\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
                     (long long)C_between(rng, 1, M_SHARES - 1), M_SHARES, load->round, serial);
        } else if (r < 8) {
            /* Over the daemon's maximum total: refused (LIMIT_EXCEEDED). */
            send->must_refuse = true;
            snprintf(send->body, sizeof send->body,
                     "{\"type\":\"equal\",\"amount_per_share\":%lld,\"count\":%d,"
                     "\"greeting\":\"crash %d-%ld\",\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
                     (long long)(M_PACKET_TOTAL_MAX_MINOR / M_SHARES + 1), M_SHARES, load->round,
                     serial);
        } else {
            snprintf(send->body, sizeof send->body,
                     "{\"type\":\"equal\",\"amount_per_share\":%lld,\"count\":%d,"
                     "\"greeting\":\"crash %d-%ld\",\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
                     (long long)share, M_SHARES, load->round, serial);
        }
        if (!M_run(load, client, send))
            return;
        if (send->state != X_ACKED)
            continue;
        char packet_id[64];
        snprintf(packet_id, sizeof packet_id, "%s", send->id);
        int first = (int)C_between(rng, 0, C_USERS - 1);
        for (int k = 0; k < C_USERS && !atomic_load(&load->killed); k++) {
            struct op *o = M_op_new(K_CLAIM, load->round);
            if (o == NULL)
                return;
            o->user = (first + k) % C_USERS;
            o->amount_minor = share;
            o->must_refuse = C_rand(rng) % 100 < 3;
            /* A packet that does not exist: 404, nothing moves. */
            snprintf(o->path, sizeof o->path, "/v1/red-packets/%s/claims",
                     o->must_refuse ? "rp_0000000000000000000000000a" : packet_id);
            snprintf(o->key, sizeof o->key, "claim-%d-%ld-%d", load->round, serial, k);
            snprintf(o->body, sizeof o->body, "{}");
            if (!M_run(load, client, o))
                return;
        }
    }
}

struct mix_client {
    pthread_t thread;
    enum op_kind kind;
    uint64_t rng;
    struct round_load *load;
};

static void *M_client_main(void *arg)
{
    struct mix_client *me = arg;
    struct client client;
    client_init(&client, me->load->base_url);
    if (me->kind == K_PAY)
        M_payer_loop(me->load, &client, &me->rng);
    else if (me->kind == K_REFUND)
        M_refunder_loop(me->load, &client, &me->rng);
    else
        M_packet_loop(me->load, &client, &me->rng);
    client_release(&client);
    return NULL;
}

/* After the restart: a retry of each op, which resolves the unknown ones;
 * the acknowledged ones queried; the model's balances brought up to date. */
static void M_retry_round(struct client *c, int round)
{
    size_t n = atomic_load(&M_op_count);
    for (size_t i = 0; i < n; i++) {
        struct op *o = &M_ops[i];
        if (o->path[0] == '\0')
            continue; /* never sent */
        M_totals[o->kind][o->state]++;
        struct client_response res;
        long status = M_send(c, o, &res);
        const char *text = res.body.data ? (const char *)res.body.data : "";
        long ok = M_ok_status(o);
        /* A claim's retry answers 200: the first claim again. */
        long replay_ok = o->kind == K_CLAIM ? 200 : ok;
        char id[64];
        switch (o->state) {
        case X_ACKED:
            if (status != replay_ok || !M_answer_id(o, &res, id) || strcmp(id, o->id) != 0)
                TEST_FAIL_("round %d: retry of acknowledged %s %s (%s): %ld %s, first answer %s",
                           round, M_kind_name[o->kind], o->key, o->id, status, text, o->answer);
            if (o->kind != K_CLAIM && !C_same_bytes(&res, o->answer, o->answer_size))
                TEST_FAIL_("round %d: retry of acknowledged %s %s: %s, first answer %s", round,
                           M_kind_name[o->kind], o->key, text, o->answer);
            break;
        case X_REFUSED:
            if (status == ok || status == replay_ok || status >= 500)
                TEST_FAIL_("round %d: retry of refused %s %s: %ld %s", round,
                           M_kind_name[o->kind], o->key, status, text);
            break;
        case X_UNKNOWN:
            if ((status == ok || status == replay_ok) && !o->must_refuse) {
                if (!M_answer_id(o, &res, o->id))
                    TEST_FAIL_("round %d: retry of unknown %s %s: %s", round,
                               M_kind_name[o->kind], o->key, text);
                o->state = X_COMMITTED;
            } else if (status >= 400 && status < 500 && o->must_refuse) {
                /* A valid one has nothing to be refused for: it committed
                 * before the kill, or its retry runs it now. */
                o->state = X_DROPPED;
            } else {
                TEST_FAIL_("round %d: retry of unknown %s %s: %ld %s", round,
                           M_kind_name[o->kind], o->key, status, text);
            }
            break;
        default:
            TEST_FAIL_("round %d: %s %s left in state %d", round, M_kind_name[o->kind], o->key,
                       (int)o->state);
        }
        client_response_release(&res);
        if (o->state == X_COMMITTED || o->state == X_DROPPED) {
            M_totals[o->kind][o->state]++;
            /* Resolved: a second retry answers the same. */
            long again = M_send(c, o, &res);
            bool same = o->state == X_DROPPED ? again >= 400 && again < 500
                                              : again == replay_ok && M_answer_id(o, &res, id) &&
                                                    strcmp(id, o->id) == 0;
            if (!same)
                TEST_FAIL_("round %d: second retry of %s %s: %ld %s", round,
                           M_kind_name[o->kind], o->key, again,
                           res.body.data ? (const char *)res.body.data : "");
            client_response_release(&res);
        }
        if (o->state != X_ACKED && o->state != X_COMMITTED)
            continue;

        /* Committed: it is there, once, and the model moves. */
        char path[256];
        long got = 0;
        bool there = false;
        if (o->kind == K_PAY) {
            struct order *order = &M_orders[o->order];
            snprintf(path, sizeof path, "/v3/pay/transactions/out-trade-no/%s?mchid=%s",
                     order->out_trade_no, M_merchant.mchid);
            got = mh_call(c, &M_merchant, "GET", path, NULL, &res);
            json_t *j = api_json(&res);
            const char *state = json_string_value(json_object_get(j, "trade_state"));
            there = got == 200 && state != NULL && strcmp(state, "SUCCESS") == 0 &&
                    json_integer_value(json_object_get(json_object_get(j, "amount"), "total")) ==
                        order->total_minor;
            json_decref(j);
            order->paid = true;
            N_pending++; /* its TRANSACTION.SUCCESS is due */
            C_expected_minor[o->user] -= order->total_minor;
            M_merchant_expected_minor += order->total_minor - order->fee_minor;
        } else if (o->kind == K_REFUND) {
            struct order *order = &M_orders[o->order];
            snprintf(path, sizeof path, "/v3/refund/domestic/refunds/%s", o->key);
            got = mh_call(c, &M_merchant, "GET", path, NULL, &res);
            there = got == 200 && strcmp(api_json_str(&res, "refund_id"), o->id) == 0 &&
                    strcmp(api_json_str(&res, "status"), "SUCCESS") == 0;
            /* The fee comes back in proportion: what the refunds so far
             * return of it, rounded half up, less what the earlier ones
             * returned (the parts commit in the order they were sent). */
            int64_t refunded = order->refunded_minor + o->amount_minor;
            QB_ASSERT(refunded <= order->total_minor);
            int64_t fee_share =
                M_fee_share(order, refunded) - M_fee_share(order, order->refunded_minor);
            order->refunded_minor = refunded;
            order->refunds[o->slot].committed = true;
            N_pending++; /* its REFUND.SUCCESS is due */
            C_expected_minor[order->payer] += o->amount_minor;
            M_merchant_expected_minor -= o->amount_minor - fee_share;
        } else {
            const char *packet =
                o->kind == K_SEND ? o->id : o->path + strlen("/v1/red-packets/");
            snprintf(path, sizeof path, "/v1/red-packets/%.*s", (int)strcspn(packet, "/"),
                     packet);
            got = api_call(c, "GET", path, C_users[o->user].u.token, NULL, &res);
            there = got == 200 &&
                    (o->kind == K_SEND
                         ? api_json_int(&res, "total_amount", -1) == o->amount_minor
                         : api_json_int(&res, "my_claim", -1) == o->amount_minor);
            C_expected_minor[o->user] += o->kind == K_SEND ? -o->amount_minor : o->amount_minor;
        }
        if (!there)
            TEST_FAIL_("round %d: committed %s %s: GET %s: %ld %s", round, M_kind_name[o->kind],
                       o->key, path, got, res.body.data ? (const char *)res.body.data : "");
        client_response_release(&res);
        M_committed[o->kind]++;
    }
    M_refundable_end = atomic_load(&M_order_count);
}

/* The merchant's balance, read by its owner. */
static long long M_merchant_balance(struct client *c)
{
    struct client_response res;
    long long available = -1;
    if (api_call(c, "GET", "/v1/merchants/me", M_owner.u.token, NULL, &res) == 200) {
        json_t *j = api_json(&res);
        json_t *first = json_array_get(json_object_get(j, "balances"), 0);
        if (json_is_integer(json_object_get(first, "available")))
            available = json_integer_value(json_object_get(first, "available"));
        json_decref(j);
    }
    client_response_release(&res);
    return available;
}

static void M_round_forget(void)
{
    size_t n = atomic_load(&M_op_count);
    for (size_t i = 0; i < n; i++) {
        free(M_ops[i].answer);
        M_ops[i].answer = NULL;
    }
    atomic_store(&M_op_count, 0);
}

/* The whole database against the counts of committed ones: one ledger entry
 * per payment, refund, packet and claim, and one row in each table. */
static void M_totals_check(const char *data_dir)
{
    char db[TEST_DAEMON_PATH_SIZE_MAX + 16];
    snprintf(db, sizeof db, "%s/qianbao.db", data_dir);
    static const struct {
        enum op_kind kind;
        const char *sql;
    } counts[] = {
        {K_PAY, "SELECT count(*) FROM entries WHERE code = 30"},
        {K_PAY, "SELECT count(*) FROM orders WHERE payment_id != ''"},
        {K_REFUND, "SELECT count(*) FROM entries WHERE code = 31"},
        {K_REFUND, "SELECT count(*) FROM refunds"},
        {K_SEND, "SELECT count(*) FROM entries WHERE code = 40"},
        {K_SEND, "SELECT count(*) FROM red_packets"},
        {K_CLAIM, "SELECT count(*) FROM entries WHERE code = 41"},
        {K_CLAIM, "SELECT count(*) FROM red_packet_claims"},
    };
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        long long value = -1;
        ASSERT(test_sqlite(db, false, counts[i].sql, C_number_line, &value));
        if (value != M_committed[counts[i].kind])
            TEST_FAIL_("%s: %lld, %lld %ss committed", counts[i].sql, value,
                       M_committed[counts[i].kind], M_kind_name[counts[i].kind]);
    }
}

/* --- notifications ---------------------------------------------------------------- */

/* The merchant's notify_url is a receiver in this process (tests/api/lib/
 * receiver.h), up for the whole run, across every kill. It opens each
 * notification as a merchant's SDK does — the platform's signature checked,
 * the resource decrypted with the API v3 key — and answers 200, except that
 * one in twenty is answered 500 and one in twenty gets no answer at all (the
 * connection closed), at most twice for one notification id, so that the
 * worker's retries (the ladder shrunk N_LADDER_DIVISOR times) are part of
 * every round. It only logs what it heard; the main thread judges it after
 * each restart, once every operation of the round is resolved (N_check):
 *   - a notification names a payment or a refund of the test's merchant that
 *     is committed (nothing refused, nothing never sent, is notified), with
 *     the amount committed;
 *   - one event, one notification id: a second delivery (at least once: the
 *     daemon may die between the merchant's 200 and its record of it, or a
 *     500 was answered) carries the id of the first;
 *   - within N_WAIT_MS every payment and refund committed this round has had
 *     its notification answered 2xx at least once.
 * The log is emptied at each check; what stays for the whole run is the
 * notification id (hashed) and a flag in each order's record. */

#define N_LADDER_DIVISOR "1000" /* 15 s → 15 ms, 3 min → 180 ms */
#define N_WAIT_MS 20000
#define N_HEARD_MAX 16384 /* notifications between two checks */
#define N_FAILED_RING 256 /* the ids failed most recently, with how often */

struct heard {
    uint64_t id_hash;
    char id[40];
    bool refund; /* REFUND.SUCCESS, else TRANSACTION.SUCCESS */
    long order;  /* index in M_orders, from out_trade_no or out_refund_no */
    int slot;    /* a refund's index in the order's refunds */
    char out_trade_no[40];
    int64_t amount_minor; /* amount.total, amount.refund */
    int status;           /* what the receiver answered: 200, 500, 0 (closed) */
};

static struct {
    struct receiver http;
    pthread_mutex_t lock;
    struct heard *heard; /* since the last check */
    struct heard *spare; /* the main thread's, while it reads */
    size_t count;
    uint64_t rng;
    uint64_t failed[N_FAILED_RING];
    int failed_times[N_FAILED_RING];
    size_t failed_next;
    atomic_long bad;
    char first_problem[512];
} N;

/* Tallies of the whole run (main thread). */
static long long N_notified;        /* events whose notification was answered 2xx */
static long long N_again;           /* 2xx answers to an event already notified */
static long long N_failed;          /* answered 500 or closed */
static int64_t N_wait_max_ms;       /* the longest wait of a check */

static void N_problem(const char *fmt, const char *a, const char *b)
{
    atomic_fetch_add(&N.bad, 1);
    pthread_mutex_lock(&N.lock);
    if (N.first_problem[0] == '\0')
        snprintf(N.first_problem, sizeof N.first_problem, fmt, a, b);
    pthread_mutex_unlock(&N.lock);
}

/* FNV-1a, never 0 (0 is "none seen"). */
static uint64_t N_hash(const char *text)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    return h != 0 ? h : 1;
}

/* Opens one notification into h: the signature, the envelope, the
 * resource. False (a problem recorded) when it is not one of ours. */
static bool N_open(const struct receiver_request *request, struct heard *h)
{
    char ts[32], nonce[80], sig[MH_SIGNATURE_SIZE];
    if (!receiver_header(request, "Wechatpay-Timestamp", ts, sizeof ts) ||
        !receiver_header(request, "Wechatpay-Nonce", nonce, sizeof nonce) ||
        !receiver_header(request, "Wechatpay-Signature", sig, sizeof sig)) {
        N_problem("a notification without its Wechatpay headers: %s%s", request->headers, "");
        return false;
    }
    size_t size = strlen(ts) + strlen(nonce) + request->body_size + 8;
    char *message = malloc(size);
    QB_ASSERT(message != NULL);
    int n = snprintf(message, size, "%s\n%s\n%s\n", ts, nonce, request->body);
    bool signed_ok = n > 0 && mh_verify(M_merchant.platform_key, message, (size_t)n, sig);
    free(message);
    if (!signed_ok) {
        N_problem("a notification whose signature does not verify: %s%s", request->body, "");
        return false;
    }
    json_error_t error;
    json_t *envelope = json_loadb(request->body, request->body_size, 0, &error);
    const char *id = json_string_value(json_object_get(envelope, "id"));
    const char *event = json_string_value(json_object_get(envelope, "event_type"));
    json_t *plain = rh_resource_open(M_merchant.apiv3_key, json_object_get(envelope, "resource"));
    bool ok = false;
    if (id == NULL || strlen(id) != 36 || event == NULL || plain == NULL) {
        N_problem("a notification that does not open: %s%s", request->body, "");
        goto out;
    }
    snprintf(h->id, sizeof h->id, "%s", id);
    h->id_hash = N_hash(id);
    h->refund = strcmp(event, "REFUND.SUCCESS") == 0;
    const char *trade_no = json_string_value(json_object_get(plain, "out_trade_no"));
    const char *state = json_string_value(
        json_object_get(plain, h->refund ? "refund_status" : "trade_state"));
    json_t *amount = json_object_get(json_object_get(plain, "amount"), h->refund ? "refund" : "total");
    const char *mchid = json_string_value(json_object_get(plain, "mchid"));
    if ((!h->refund && strcmp(event, "TRANSACTION.SUCCESS") != 0) || trade_no == NULL ||
        state == NULL || strcmp(state, "SUCCESS") != 0 || !json_is_integer(amount) ||
        (mchid != NULL && strcmp(mchid, M_merchant.mchid) != 0)) {
        N_problem("a notification of %s that is no success of ours (%s)", event,
                  trade_no != NULL ? trade_no : "no out_trade_no");
        goto out;
    }
    snprintf(h->out_trade_no, sizeof h->out_trade_no, "%s", trade_no);
    h->amount_minor = json_integer_value(amount);
    /* The order's index leads its out_trade_no, a refund's slot ends its
     * out_refund_no; N_take compares the whole names. */
    int used = 0;
    if (h->refund) {
        const char *refund_no = json_string_value(json_object_get(plain, "out_refund_no"));
        if (refund_no == NULL || sscanf(refund_no, "RF%ldx%d%n", &h->order, &h->slot, &used) != 2 ||
            refund_no[used] != '\0') {
            N_problem("a refund notification of no refund of ours: %s%s",
                      refund_no != NULL ? refund_no : "(none)", "");
            goto out;
        }
    } else if (sscanf(trade_no, "CM%ldx%n", &h->order, &used) != 1 || used == 0) {
        N_problem("a payment notification of no order of ours: %s%s", trade_no, "");
        goto out;
    }
    ok = true;
out:
    json_decref(plain);
    json_decref(envelope);
    return ok;
}

/* The receiver's handler: logs the notification and answers. */
static int N_handle(void *arg, const struct receiver_request *request)
{
    (void)arg;
    struct heard h;
    memset(&h, 0, sizeof h);
    if (!N_open(request, &h))
        return 400;
    pthread_mutex_lock(&N.lock);
    int status = 200;
    uint64_t r = C_rand(&N.rng) % 100;
    if (r < 10) {
        size_t at = N_FAILED_RING;
        for (size_t i = 0; i < N_FAILED_RING; i++)
            if (N.failed[i] == h.id_hash)
                at = i;
        if (at == N_FAILED_RING) {
            at = N.failed_next;
            N.failed_next = (N.failed_next + 1) % N_FAILED_RING;
            N.failed[at] = h.id_hash;
            N.failed_times[at] = 0;
        }
        if (N.failed_times[at] < 2) {
            N.failed_times[at]++;
            status = r < 5 ? 500 : 0;
        }
    }
    h.status = status;
    bool full = N.count >= N_HEARD_MAX;
    if (!full)
        N.heard[N.count++] = h;
    pthread_mutex_unlock(&N.lock);
    if (full)
        N_problem("more than %s notifications between two checks (%s)", "N_HEARD_MAX", h.id);
    return status;
}

static void N_start(uint64_t seed)
{
    pthread_mutex_init(&N.lock, NULL);
    N.heard = calloc(N_HEARD_MAX, sizeof *N.heard);
    N.spare = calloc(N_HEARD_MAX, sizeof *N.spare);
    QB_ASSERT(N.heard != NULL && N.spare != NULL);
    N.rng = seed ^ 0xA0761D6478BD642Full;
    if (!receiver_start(&N.http, 0, N_handle, NULL)) {
        free(N.heard);
        free(N.spare);
        N.heard = NULL;
        TEST_FAIL_("the receiver cannot listen on the loopback");
    }
    snprintf(M_notify_url, sizeof M_notify_url, "http://127.0.0.1:%d/wxpay/notify", N.http.port);
}

/* Stops the receiver once, whether the test ended or failed. */
static void N_stop(void)
{
    if (N.heard == NULL)
        return;
    receiver_stop(&N.http);
    free(N.heard);
    free(N.spare);
    N.heard = NULL;
    pthread_mutex_destroy(&N.lock);
}

/* One notification heard, judged now that every operation is resolved. */
static void N_take(const struct heard *h, int round)
{
    long orders = atomic_load(&M_order_count);
    if (h->order < 0 || h->order >= orders ||
        strcmp(M_orders[h->order].out_trade_no, h->out_trade_no) != 0)
        TEST_FAIL_("round %d: notification %s names order %s, which the test never made", round,
                   h->id, h->out_trade_no);
    struct order *order = &M_orders[h->order];
    bool committed = order->paid;
    int64_t amount_minor = order->total_minor;
    bool *notified = &order->notified;
    uint64_t *id_hash = &order->notify_id_hash;
    const char *what = "payment of";
    if (h->refund) {
        if (h->slot < 0 || h->slot >= order->refund_count)
            TEST_FAIL_("round %d: notification %s names refund RF%ldx%d, which was never sent",
                       round, h->id, h->order, h->slot);
        struct refund_slot *slot = &order->refunds[h->slot];
        committed = slot->committed;
        amount_minor = slot->amount_minor;
        notified = &slot->notified;
        id_hash = &slot->notify_id_hash;
        what = "refund of";
    }
    if (!committed)
        TEST_FAIL_("round %d: notification %s of a %s %s, which is not committed%s", round, h->id,
                   what, h->out_trade_no, h->refund ? " (a refund refused or never made)" : "");
    if (h->amount_minor != amount_minor)
        TEST_FAIL_("round %d: notification %s of a %s %s says %lld fen, %lld committed", round,
                   h->id, what, h->out_trade_no, (long long)h->amount_minor,
                   (long long)amount_minor);
    if (*id_hash == 0)
        *id_hash = h->id_hash;
    else if (*id_hash != h->id_hash)
        TEST_FAIL_("round %d: a second notification id (%s) for the %s %s", round, h->id, what,
                   h->out_trade_no);
    if (h->status < 200 || h->status > 299) {
        N_failed++;
    } else if (*notified) {
        N_again++;
    } else {
        *notified = true;
        N_notified++;
        N_pending--;
        QB_ASSERT(N_pending >= 0);
    }
}

/* After a restart, with no load and this round's operations resolved: takes
 * what the receiver heard until every committed payment and refund has had
 * its notification, N_WAIT_MS at most. */
static void N_check(int round)
{
    int64_t started_ms = C_now_ms();
    for (;;) {
        pthread_mutex_lock(&N.lock);
        struct heard *heard = N.heard;
        size_t count = N.count;
        N.heard = N.spare;
        N.count = 0;
        N.spare = heard;
        pthread_mutex_unlock(&N.lock);
        for (size_t i = 0; i < count; i++)
            N_take(&heard[i], round);
        if (atomic_load(&N.bad) != 0) {
            char problem[sizeof N.first_problem];
            pthread_mutex_lock(&N.lock);
            snprintf(problem, sizeof problem, "%s", N.first_problem);
            pthread_mutex_unlock(&N.lock);
            TEST_FAIL_("round %d: the receiver: %s", round, problem);
        }
        if (N_pending == 0 || C_now_ms() - started_ms > N_WAIT_MS)
            break;
        usleep(10 * 1000);
    }
    int64_t waited_ms = C_now_ms() - started_ms;
    N_wait_max_ms = waited_ms > N_wait_max_ms ? waited_ms : N_wait_max_ms;
    if (N_pending == 0)
        return;
    /* Only this round's can be missing: the earlier checks saw theirs. */
    size_t n = atomic_load(&M_op_count);
    for (size_t i = 0, shown = 0; i < n && shown < 5; i++) {
        const struct op *o = &M_ops[i];
        if (o->path[0] == '\0' || (o->kind != K_PAY && o->kind != K_REFUND) || o->order < 0)
            continue;
        const struct order *order = &M_orders[o->order];
        bool missing = o->kind == K_PAY ? order->paid && !order->notified
                                        : order->refunds[o->slot].committed &&
                                              !order->refunds[o->slot].notified;
        if (missing) {
            fprintf(stderr, "  never notified: %s %s (%s)\n", M_kind_name[o->kind], o->key,
                    order->out_trade_no);
            shown++;
        }
    }
    TEST_FAIL_("round %d: %lld committed payments and refunds not notified within %d ms", round,
               N_pending, N_WAIT_MS);
}

/* QB_CRASH_ROUNDS, or C_ROUNDS_DEFAULT; 0 for a value that is not a
 * decimal in 1..C_ROUNDS_MAX. */
static int C_rounds(void)
{
    const char *text = getenv("QB_CRASH_ROUNDS");
    if (text == NULL || text[0] == '\0')
        return C_ROUNDS_DEFAULT;
    long long value = 0;
    for (const char *p = text; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || value > C_ROUNDS_MAX)
            return 0;
        value = value * 10 + (*p - '0');
    }
    return value >= 1 && value <= C_ROUNDS_MAX ? (int)value : 0;
}

/* --- the test ---------------------------------------------------------------- */

/* The operator's ledger check over HTTP on the restarted daemon (what
 * `qianbao admin verify` does): the whole journal recomputed, every
 * checkpoint compared; it must end "ok". */
static void C_ledger_check(struct client *c, const char *admin, int round)
{
    struct client_response res;
    ASSERT_EQ_INT(api_call(c, "POST", "/admin/ledger/verification", admin, NULL, &res), 202);
    client_response_release(&res);
    for (int waited_ms = 0; waited_ms < 60000; waited_ms += 10) {
        ASSERT_EQ_INT(api_call(c, "GET", "/admin/ledger/verification", admin, NULL, &res), 200);
        json_t *state = api_json(&res);
        client_response_release(&res);
        ASSERT(state != NULL);
        const char *status = json_string_value(json_object_get(state, "status"));
        ASSERT(status != NULL);
        if (strcmp(status, "running") != 0) {
            if (strcmp(status, "ok") != 0)
                TEST_FAIL_("round %d: the ledger check ended %s: %s", round, status,
                           json_string_value(json_object_get(state, "problem")));
            json_decref(state);
            return;
        }
        json_decref(state);
        usleep(10 * 1000);
    }
    TEST_FAIL_("round %d: the ledger check did not end within 60 s", round);
}

static void C_user_open(struct client *c, const char *admin, struct user *u)
{
    API_MUST(th_user_new(c, admin, &u->u));
    /* Level 3 stands on a verified name, the one th_fund's card is in. */
    API_MUST(api_user_verify(c, &u->u, "张三"));
    char path[160];
    snprintf(path, sizeof path, "/admin/users/%.63s/kyc-level", u->u.id);
    struct client_response res;
    ASSERT_EQ_INT(api_call(c, "PUT", path, admin, "{\"kyc_level\":3}", &res), 200);
    client_response_release(&res);
    ASSERT(th_fund(c, admin, &u->u, C_OPENING_MINOR));
    u->opening_minor = C_OPENING_MINOR;
    C_expected_minor[u - C_users] = C_OPENING_MINOR;
}

TEST(sigkill_under_load_loses_nothing_and_doubles_nothing)
{
    // Twenty crashes at random moments of a burst: after each restart, what was acknowledged is
    // there once, what was refused is not, and retries resolve whatever the crash left unknown.
    int rounds = C_rounds();
    if (rounds == 0)
        TEST_FAIL_("QB_CRASH_ROUNDS must be a number of rounds in 1..%d", C_ROUNDS_MAX);
    uint64_t seed = test_seed();
    int64_t budget_max_minor = C_AMOUNT_BUDGET_MINOR / rounds;
    if (budget_max_minor < C_amount_max_minor)
        C_amount_max_minor = budget_max_minor > 2 ? budget_max_minor : 2;
    fprintf(stderr, "  %d rounds, transfers of 1 to %lld fen\n", rounds,
            (long long)C_amount_max_minor);
    uint64_t main_rng = seed ^ 0x5DEECE66Dull;
    static char admin[API_TOKEN_SIZE_MAX];
    struct test_daemon d;
    ASSERT(api_daemon_start(&d, C_root, "crash", C_no_caps, admin));
    struct client c;
    client_init(&c, d.base_url);
    for (int i = 0; i < C_USERS; i++)
        C_user_open(&c, admin, &C_users[i]);
    API_MUST(th_user_new(&c, admin, &M_owner.u));
    ASSERT(rh_onboard_owned(&c, admin, M_owner.u.id, &M_merchant));
    client_release(&c);
    N_start(seed);

    int64_t started_ms = C_now_ms();
    long long totals[6] = {0};
    int resolved_201 = 0, resolved_4xx = 0, acked = 0;
    for (int round = 0; round < rounds; round++) {
        static struct round_load load;
        memset(&load, 0, sizeof load);
        load.base_url = d.base_url;
        load.round = round;
        size_t first = atomic_load(&C_xfer_count);
        QB_ASSERT(first == 0);
        for (int i = 0; i < C_CLIENTS; i++) {
            load.clients[i].rng = seed + (uint64_t)round * 1000003u + (uint64_t)i * 7919u;
            load.clients[i].index = i;
            load.clients[i].load = &load;
            ASSERT(pthread_create(&load.clients[i].thread, NULL, C_client_main,
                                  &load.clients[i]) == 0);
        }
        static struct mix_client mix[3];
        for (int i = 0; i < 3; i++) {
            mix[i].kind = i == 0 ? K_PAY : i == 1 ? K_REFUND : K_SEND;
            mix[i].rng = seed + (uint64_t)round * 1000003u + (uint64_t)(C_CLIENTS + i) * 7919u;
            mix[i].load = &load;
            ASSERT(pthread_create(&mix[i].thread, NULL, M_client_main, &mix[i]) == 0);
        }
        int64_t wait_ms = C_between(&main_rng, C_KILL_AFTER_MIN_MS, C_KILL_AFTER_MAX_MS);
        struct timespec ts = {(time_t)(wait_ms / 1000), (long)(wait_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        atomic_store(&load.killed, true);
        test_daemon_kill(&d);
        for (int i = 0; i < C_CLIENTS; i++)
            pthread_join(load.clients[i].thread, NULL);
        for (int i = 0; i < 3; i++)
            pthread_join(mix[i].thread, NULL);
        size_t last = atomic_load(&C_xfer_count);
        if (atomic_load(&C_bad) != 0)
            TEST_FAIL_("round %d: %ld wrong answers under load; first: %s", round,
                       atomic_load(&C_bad), C_first_problem);
        ASSERT(last < C_XFERS_MAX);
        for (size_t i = first; i < last; i++)
            totals[C_xfers[i].state]++;

        ASSERT(api_daemon_start(&d, C_root, "crash", C_no_caps, admin));
        client_init(&c, d.base_url);
        C_retry_round(&c, round, first, last, &resolved_201, &resolved_4xx, &acked);
        M_retry_round(&c, round);
        C_balance_check(&c, round);
        long long merchant = M_merchant_balance(&c);
        if (merchant != M_merchant_expected_minor)
            TEST_FAIL_("round %d: the merchant's balance is %lld, its committed payments and "
                       "refunds say %lld",
                       round, merchant, (long long)M_merchant_expected_minor);
        C_ledger_check(&c, admin, round);
        client_release(&c);
        C_journal_check(d.data_dir, round);
        N_check(round);
        C_round_forget();
        M_round_forget();
        if (rounds > C_ROUNDS_DEFAULT && (round + 1) % 50 == 0)
            fprintf(stderr, "  round %d: %lld ms, %lld acknowledged so far\n", round + 1,
                    (long long)(C_now_ms() - started_ms), totals[X_ACKED]);
    }
    fprintf(stderr,
            "  %d rounds in %lld ms: %lld acknowledged, %lld refused, %lld unknown at the kill "
            "(%d committed, %d refused on retry)\n",
            rounds, (long long)(C_now_ms() - started_ms), totals[X_ACKED], totals[X_REFUSED],
            totals[X_UNKNOWN], resolved_201, resolved_4xx);
    for (int k = 0; k < K_KINDS; k++)
        fprintf(stderr,
                "  %ss: %lld acknowledged, %lld refused, %lld unknown at the kill "
                "(%lld committed, %lld refused on retry); %lld committed in all\n",
                M_kind_name[k], M_totals[k][X_ACKED], M_totals[k][X_REFUSED],
                M_totals[k][X_UNKNOWN], M_totals[k][X_COMMITTED], M_totals[k][X_DROPPED],
                M_committed[k]);
    fprintf(stderr,
            "  notifications: %lld payments and refunds notified, %lld answered 500 or not at "
            "all and sent again, %lld delivered again after a 200; the longest wait after a "
            "restart %lld ms\n",
            N_notified, N_failed, N_again, (long long)N_wait_max_ms);
    C_totals_check(d.data_dir);
    M_totals_check(d.data_dir);
    if (N_notified != M_committed[K_PAY] + M_committed[K_REFUND])
        TEST_FAIL_("%lld notified, %lld payments and refunds committed", N_notified,
                   M_committed[K_PAY] + M_committed[K_REFUND]);
    if (N_failed == 0)
        TEST_FAIL_("the receiver never failed a delivery in %d rounds: no retry was seen", rounds);
    for (int k = 0; k < K_KINDS; k++)
        if (M_totals[k][X_ACKED] == 0)
            TEST_FAIL_("no %s was acknowledged in %d rounds", M_kind_name[k], rounds);
    ASSERT_EQ_INT((long long)acked, totals[X_ACKED]);
    ASSERT(totals[X_ACKED] > 100);
    ASSERT(totals[X_UNKNOWN] > 0);

    ASSERT_EQ_INT(test_daemon_stop(&d), 0);
    N_stop();
    char out[600];
    snprintf(out, sizeof out, "%s/verify.out", C_root);
    const char *args[] = {"--data-dir", d.data_dir, "--verify", NULL};
    int status = test_daemon_run(args, out, 60000);
    if (status != 0) {
        static char text[64 * 1024];
        if (test_file_read(out, text, sizeof text))
            fprintf(stderr, "%s", text);
        TEST_FAIL_("qianbaod --verify: exit status %d", status);
    }
}

int main(void)
{
    /* The notification worker's retry ladder, shrunk (test builds only). */
    setenv("QIANBAO_TEST_NOTIFY_LADDER_DIVISOR", N_LADDER_DIVISOR, 1);
    /* The case starts, kills and stops its own daemons. */
    struct api_suite suite;
    api_suite_begin(&suite, C_root, sizeof C_root);
    C_xfers = calloc(C_XFERS_MAX, sizeof *C_xfers);
    QB_ASSERT(C_xfers != NULL);
    M_ops = calloc(M_OPS_MAX, sizeof *M_ops);
    M_orders = calloc(M_ORDERS_MAX, sizeof *M_orders);
    QB_ASSERT(M_ops != NULL && M_orders != NULL);
    RUN(sigkill_under_load_loses_nothing_and_doubles_nothing);
    N_stop(); /* still running when the test failed: it reads M_merchant */
    C_round_forget();
    M_round_forget();
    free(C_xfers);
    free(M_ops);
    free(M_orders);
    mh_release(&M_merchant);
    return api_suite_end(&suite);
}

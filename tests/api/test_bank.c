/*
 * test_bank.c — the bank test: concurrent transfers must never create,
 * lose or overdraw money, and must be journalled exactly once.
 *
 * Sixteen clients (one thread and one keep-alive connection each) make
 * random transfers for a fixed time, first among 8 users (hot accounts:
 * most transfers contend), then among 10,000. About a third of what they send
 * is refused by design: overdrafts (amounts up to twice the mean balance),
 * transfers to oneself or to nobody, zero and negative amounts, a missing
 * Idempotency-Key, malformed JSON. One acknowledged transfer in eight is
 * sent again with the same key and body.
 *
 * What is checked, and how far each check reaches:
 *   - no answer is a 5xx, and every request gets an answer;
 *   - a replay answers the same status and the same bytes;
 *   - after every transfer its payer reads its own balance (GET
 *     /v1/me/balances, concurrently with the other clients' writes): never
 *     negative. This is the check that runs under load;
 *   - the sum of all balances equals the money put in. Reading 8 or 10,000
 *     balances one request at a time is not a snapshot while transfers go on,
 *     so the sum is checked only at quiescent points: every few seconds all
 *     clients pause (no request in flight), every balance is read, and the
 *     sum must be exact and each balance non-negative; and at the end;
 *   - at the end each balance equals its opening balance plus what the
 *     acknowledged transfers brought in minus what they took out (so no
 *     refused transfer moved money and none moved twice);
 *   - every acknowledged transfer is in the journal exactly once, and
 *     nothing else is: after the daemon stopped, its database is read
 *     read-only (sqlite3 CLI) — the payments rows of kind transfer and the
 *     ledger entries with the transfer code — and must be exactly the
 *     acknowledged ids (payer, payee and amount matching); then `qianbaod
 *     --verify` checks the whole ledger.
 *
 * Set-up. The 8 users are registered, given a payment password, raised to
 * KYC level 3 (so that the limits do not refuse most transfers) and funded
 * by top-ups from a sandbox card, all over HTTP. The 10,000 are seeded
 * before their daemon starts by bench_seed (the identity module's own
 * commands, a settled top-up each: see bench/bench_seed.c), because
 * registering them over HTTP does not fit the test's minute.
 *
 * Each of the two runs lasts 22 s (QB_BANK_SECONDS, 1..3600, sets
 * another length: the sanitizer presets run 8 s each, where a bad access or
 * a race shows in any second, and the dev preset the whole minute).
 *
 * The checker is checked: a daemon built with QB_TEST_HOOKS and started with
 * QIANBAO_TEST_BREAK=balance_check lets overdrafts through, and the same
 * run against it must report a violation. In a build without the hooks (the
 * release preset) that part says so and checks nothing.
 */
#include <pthread.h>
#include <spawn.h>
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
#include "api/lib/suite.h"
#include "test.h"

extern char **environ;

#define S_CLIENTS 16
#define S_PAYMENT_PASSWORD "258147"
#define S_SMALL_OPENING_MINOR 100000 /* ¥1,000 each for the 8 */
#define S_LARGE_COUNT 10000
#define S_LARGE_OPENING_MINOR 10000  /* ¥100 each for the 10,000 */
#define S_ACKS_MAX 200000            /* per client */
#define S_PAUSE_EVERY_MS 4000
#define S_CARD "9999000000000012"    /* the sandbox card that succeeds */

static char S_root[512];
/* The daily and per-payment caps as high as they go, and the look-ups of
 * payees by phone too: this test is about the ledger's rules, and limits
 * refusing most transfers would leave few to check (test_limits_race.c
 * tests the caps, test_transfers.c the look-ups). */
static const char *const S_no_caps[] = {"--limit-daily",
                                        "1000000000000",
                                        "--limit-per-payment",
                                        "1000000000000",
                                        "--payee-lookups-per-hour",
                                        "1000000",
                                        "--payee-lookups-per-day",
                                        "1000000",
                                        NULL};

struct account {
    char id[API_ID_SIZE_MAX];
    char token[API_TOKEN_SIZE_MAX];
    char phone[API_PHONE_SIZE];
    int64_t opening_minor;
};

struct ack {
    char id[64];
    int payer;
    int payee;
    int64_t amount_minor;
};

struct run;

struct bank_client {
    pthread_t thread;
    struct run *run;
    int index;
    uint64_t rng;
    struct ack *acks;
    size_t ack_count;
};

/* One run of the clients against one daemon. */
struct run {
    const char *base_url;
    struct account *accounts;
    int account_count;
    int64_t total_minor;
    int64_t deadline_ms;
    atomic_bool pause;
    pthread_barrier_t arrive;
    pthread_barrier_t resume;
    struct bank_client clients[S_CLIENTS];

    /* What the checker found; the first problem's text. */
    atomic_long negative_balances;
    atomic_long sum_mismatches;
    atomic_long server_errors;
    atomic_long no_answers;
    atomic_long replay_mismatches;
    atomic_long refused_wrongly; /* a 2xx to what must be refused, or a non-4xx refusal */
    atomic_long acknowledged;
    atomic_long refused;
    atomic_long balance_reads;
    pthread_mutex_t lock;
    char first_problem[512];
};

static int64_t S_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t S_rand(uint64_t *state)
{
    /* splitmix64: good enough to pick accounts and amounts. */
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int64_t S_between(uint64_t *state, int64_t low, int64_t high)
{
    return low + (int64_t)(S_rand(state) % (uint64_t)(high - low + 1));
}

static void S_problem(struct run *run, atomic_long *counter, const char *fmt, const char *a,
                      long b, const char *c)
{
    atomic_fetch_add(counter, 1);
    pthread_mutex_lock(&run->lock);
    if (run->first_problem[0] == '\0')
        snprintf(run->first_problem, sizeof run->first_problem, fmt, a, b, c);
    pthread_mutex_unlock(&run->lock);
}

/* The account's available CNY balance by GET /v1/me/balances; false when
 * there was no good answer (counted). */
static bool S_balance_read(struct run *run, struct client *client, const struct account *a,
                           int64_t *available)
{
    struct client_response res;
    long status = api_call(client, "GET", "/v1/me/balances", a->token, NULL, &res);
    bool ok = false;
    json_t *body = status == 200 ? api_json(&res) : NULL;
    json_t *first = json_array_get(json_object_get(body, "balances"), 0);
    json_t *value = json_object_get(first, "available");
    if (json_is_integer(value)) {
        *available = json_integer_value(value);
        ok = true;
    }
    json_decref(body);
    if (status == 0)
        S_problem(run, &run->no_answers, "balance read of %s: no answer (%ld) %s", a->id, 0, "");
    else if (status >= 500)
        S_problem(run, &run->server_errors, "balance read of %s: %ld %s", a->id, status,
                  res.body.data ? (const char *)res.body.data : "");
    else if (!ok)
        S_problem(run, &run->refused_wrongly, "balance read of %s: %ld %s", a->id, status,
                  res.body.data ? (const char *)res.body.data : "");
    client_response_release(&res);
    atomic_fetch_add(&run->balance_reads, 1);
    if (ok && *available < 0)
        S_problem(run, &run->negative_balances, "balance of %s is negative: %ld%s", a->id,
                  (long)*available, "");
    return ok;
}

enum op_kind {
    OP_VALID,     /* should succeed (may meet INSUFFICIENT_BALANCE when drained) */
    OP_OVERDRAFT, /* up to twice the mean balance: refused when above the payer's */
    OP_SELF,
    OP_NOBODY,
    OP_BAD_AMOUNT,
    OP_NO_KEY,
    OP_BAD_JSON,
};

static enum op_kind S_op_pick(uint64_t *rng)
{
    int r = (int)(S_rand(rng) % 100);
    return r < 66 ? OP_VALID : r < 82 ? OP_OVERDRAFT : r < 86 ? OP_SELF : r < 90 ? OP_NOBODY
         : r < 94 ? OP_BAD_AMOUNT : r < 97 ? OP_NO_KEY : OP_BAD_JSON;
}

/* One request and its checks. */
static void S_op(struct bank_client *bc, struct client *client, long serial)
{
    struct run *run = bc->run;
    enum op_kind kind = S_op_pick(&bc->rng);
    int payer = (int)S_between(&bc->rng, 0, run->account_count - 1);
    int payee = (int)S_between(&bc->rng, 0, run->account_count - 2);
    if (payee >= payer)
        payee++;
    int64_t mean = run->total_minor / run->account_count;
    int64_t amount = kind == OP_OVERDRAFT ? S_between(&bc->rng, mean / 2, 2 * mean)
                                          : S_between(&bc->rng, 1, mean / 100 > 0 ? mean / 100 : 1);
    const struct account *from = &run->accounts[payer];
    const char *to = run->accounts[payee].id;
    if (S_rand(&bc->rng) % 10 == 0)
        to = run->accounts[payee].phone;
    char body[512];
    switch (kind) {
    case OP_SELF:
        to = from->id;
        break;
    case OP_NOBODY:
        to = "u_0000000000000000000000000a";
        break;
    case OP_BAD_AMOUNT:
        amount = -S_between(&bc->rng, 0, 1000);
        break;
    default:
        break;
    }
    if (kind == OP_BAD_JSON)
        snprintf(body, sizeof body, "{\"to\":\"%s\",\"amount\":\"%lld\",\"payment_password\":\"%s\"",
                 to, (long long)amount, S_PAYMENT_PASSWORD);
    else
        snprintf(body, sizeof body,
                 "{\"to\":\"%s\",\"amount\":%lld,\"memo\":\"bank %d-%ld\",\"payment_password\":\"%s\"}",
                 to, (long long)amount, bc->index, serial, S_PAYMENT_PASSWORD);
    char key[64];
    snprintf(key, sizeof key, "bank-%d-%ld-%llu", bc->index, serial,
             (unsigned long long)(S_rand(&bc->rng) % 1000000));

    struct client_response res;
    long status = api_call_idem(client, "POST", "/v1/transfers", from->token,
                                kind == OP_NO_KEY ? NULL : key, body, &res);
    const char *text = res.body.data ? (const char *)res.body.data : "";
    bool must_refuse = kind != OP_VALID && kind != OP_OVERDRAFT;
    if (status == 0) {
        S_problem(run, &run->no_answers, "transfer %s: no answer (%ld) %s", key, 0, res.error);
    } else if (status >= 500) {
        S_problem(run, &run->server_errors, "transfer %s: %ld %s", key, status, text);
    } else if (status == 201 && !must_refuse) {
        json_t *j = api_json(&res);
        const char *id = json_string_value(json_object_get(j, "id"));
        if (id == NULL || bc->ack_count >= S_ACKS_MAX) {
            S_problem(run, &run->refused_wrongly, "transfer %s: 201 without an id: %ld %s", key,
                      status, text);
        } else {
            struct ack *a = &bc->acks[bc->ack_count++];
            snprintf(a->id, sizeof a->id, "%s", id);
            a->payer = payer;
            a->payee = payee;
            a->amount_minor = amount;
            atomic_fetch_add(&run->acknowledged, 1);
        }
        json_decref(j);
        /* Sometimes the client did not hear the answer and asks again. */
        if (S_rand(&bc->rng) % 8 == 0) {
            struct client_response again;
            long status2 = api_call_idem(client, "POST", "/v1/transfers", from->token, key, body,
                                         &again);
            if (status2 != status || again.body.size != res.body.size ||
                memcmp(again.body.data, res.body.data, res.body.size) != 0)
                S_problem(run, &run->replay_mismatches, "replay of %s: %ld %s", key, status2,
                          again.body.data ? (const char *)again.body.data : "");
            client_response_release(&again);
        }
    } else if (status >= 400 && status < 500) {
        atomic_fetch_add(&run->refused, 1);
    } else {
        S_problem(run, &run->refused_wrongly, "transfer %s: must be refused, got %ld %s", key,
                  status, text);
    }
    client_response_release(&res);

    int64_t available;
    (void)S_balance_read(run, client, from, &available);
}

static void *S_client_main(void *arg)
{
    struct bank_client *bc = arg;
    struct run *run = bc->run;
    struct client client;
    client_init(&client, run->base_url);
    for (long serial = 0;; serial++) {
        if (atomic_load(&run->pause)) {
            pthread_barrier_wait(&run->arrive);
            pthread_barrier_wait(&run->resume);
            continue;
        }
        if (S_now_ms() >= run->deadline_ms)
            break;
        S_op(bc, &client, serial);
    }
    client_release(&client);
    return NULL;
}

/* Reads every balance while nothing is in flight: the sum must be the money
 * put in and none may be negative. Fills balances when not NULL. */
static void S_quiescent_check(struct run *run, struct client *client, int64_t *balances)
{
    int64_t sum = 0;
    for (int i = 0; i < run->account_count; i++) {
        int64_t available = 0;
        if (S_balance_read(run, client, &run->accounts[i], &available))
            sum += available;
        if (balances != NULL)
            balances[i] = available;
    }
    if (sum != run->total_minor) {
        char detail[64];
        snprintf(detail, sizeof detail, "%lld", (long long)run->total_minor);
        S_problem(run, &run->sum_mismatches, "%s: balances sum to %ld, not %s", "quiescent read",
                  (long)sum, detail);
    }
}

static int S_ack_cmp(const void *a, const void *b)
{
    return strcmp(((const struct ack *)a)->id, ((const struct ack *)b)->id);
}

/* Runs the clients for seconds, pausing for a quiescent check every
 * S_PAUSE_EVERY_MS, then checks once more at the end; the acknowledged
 * transfers of all clients go to *acks (sorted by id, the caller frees). */
static void S_run(struct run *run, int seconds, struct ack **acks, size_t *ack_count)
{
    struct client client;
    client_init(&client, run->base_url);
    pthread_mutex_init(&run->lock, NULL);
    pthread_barrier_init(&run->arrive, NULL, S_CLIENTS + 1);
    pthread_barrier_init(&run->resume, NULL, S_CLIENTS + 1);
    run->deadline_ms = S_now_ms() + seconds * 1000;
    uint64_t seed = test_seed();
    for (int i = 0; i < S_CLIENTS; i++) {
        struct bank_client *bc = &run->clients[i];
        bc->run = run;
        bc->index = i;
        bc->rng = seed + (uint64_t)i * 7919;
        bc->acks = calloc(S_ACKS_MAX, sizeof *bc->acks);
        ASSERT(bc->acks != NULL);
        pthread_create(&bc->thread, NULL, S_client_main, bc);
    }
    for (;;) {
        int64_t now = S_now_ms();
        if (now + S_PAUSE_EVERY_MS + 2000 > run->deadline_ms)
            break;
        struct timespec ts = {S_PAUSE_EVERY_MS / 1000, 0};
        nanosleep(&ts, NULL);
        atomic_store(&run->pause, true);
        pthread_barrier_wait(&run->arrive);
        atomic_store(&run->pause, false);
        S_quiescent_check(run, &client, NULL);
        pthread_barrier_wait(&run->resume);
    }
    size_t total = 0;
    for (int i = 0; i < S_CLIENTS; i++) {
        pthread_join(run->clients[i].thread, NULL);
        total += run->clients[i].ack_count;
    }
    *acks = calloc(total + 1, sizeof **acks);
    ASSERT(*acks != NULL);
    *ack_count = 0;
    for (int i = 0; i < S_CLIENTS; i++) {
        memcpy(*acks + *ack_count, run->clients[i].acks,
               run->clients[i].ack_count * sizeof **acks);
        *ack_count += run->clients[i].ack_count;
        free(run->clients[i].acks);
    }
    qsort(*acks, *ack_count, sizeof **acks, S_ack_cmp);

    /* The end: a last quiescent read, and each balance against the model. */
    int64_t *balances = calloc((size_t)run->account_count, sizeof *balances);
    int64_t *expected = calloc((size_t)run->account_count, sizeof *expected);
    ASSERT(balances != NULL && expected != NULL);
    S_quiescent_check(run, &client, balances);
    for (int i = 0; i < run->account_count; i++)
        expected[i] = run->accounts[i].opening_minor;
    for (size_t i = 0; i < *ack_count; i++) {
        expected[(*acks)[i].payer] -= (*acks)[i].amount_minor;
        expected[(*acks)[i].payee] += (*acks)[i].amount_minor;
    }
    for (int i = 0; i < run->account_count; i++)
        if (balances[i] != expected[i])
            S_problem(run, &run->sum_mismatches, "%s: balance %ld, the acknowledged transfers say %s",
                      run->accounts[i].id, (long)balances[i], "otherwise");
    free(balances);
    free(expected);
    pthread_barrier_destroy(&run->arrive);
    pthread_barrier_destroy(&run->resume);
    client_release(&client);
    fprintf(stderr,
            "  %d accounts, %d s: %ld acknowledged, %ld refused, %ld balance reads; "
            "negative %ld, sum/model mismatches %ld, 5xx %ld, unanswered %ld, replay mismatches "
            "%ld, wrong answers %ld\n",
            run->account_count, seconds, atomic_load(&run->acknowledged),
            atomic_load(&run->refused), atomic_load(&run->balance_reads),
            atomic_load(&run->negative_balances), atomic_load(&run->sum_mismatches),
            atomic_load(&run->server_errors), atomic_load(&run->no_answers),
            atomic_load(&run->replay_mismatches), atomic_load(&run->refused_wrongly));
    if (run->first_problem[0] != '\0')
        fprintf(stderr, "  first problem: %s\n", run->first_problem);
}

static long S_violations(const struct run *run)
{
    return atomic_load(&run->negative_balances) + atomic_load(&run->sum_mismatches) +
           atomic_load(&run->server_errors) + atomic_load(&run->no_answers) +
           atomic_load(&run->replay_mismatches) + atomic_load(&run->refused_wrongly);
}

/* --- the journal, read from the stopped daemon's database ------------------- */

struct rows {
    struct ack *items; /* payer/payee as indexes, -1 when the user is not ours */
    size_t count;
    size_t count_max;
    const struct run *run;
};

static int S_account_index(const struct run *run, const char *user_id)
{
    for (int i = 0; i < run->account_count; i++)
        if (strcmp(run->accounts[i].id, user_id) == 0)
            return i;
    return -1;
}

static void S_payment_line(char *line, void *arg)
{
    struct rows *rows = arg;
    if (rows->count >= rows->count_max)
        return;
    struct ack *a = &rows->items[rows->count++];
    char payer[64] = "", payee[64] = "";
    long long amount = 0;
    if (sscanf(line, "%63s %63s %63s %lld", a->id, payer, payee, &amount) != 4)
        a->id[0] = '\0';
    a->payer = S_account_index(rows->run, payer);
    a->payee = S_account_index(rows->run, payee);
    a->amount_minor = amount;
}

static void S_ref_line(char *line, void *arg)
{
    struct rows *rows = arg;
    if (rows->count < rows->count_max)
        snprintf(rows->items[rows->count++].id, sizeof rows->items[0].id, "%s", line);
}

/* Every acknowledged transfer exactly once among the transfer payments
 * (matching payer, payee, amount) and the transfer entries, and nothing
 * else in either. */
static void S_journal_check(const struct run *run, const char *data_dir, const struct ack *acks,
                            size_t ack_count)
{
    char db[600];
    snprintf(db, sizeof db, "%s/qianbao.db", data_dir);
    struct rows rows = {.count_max = ack_count + 1000, .run = run};
    rows.items = calloc(rows.count_max, sizeof *rows.items);
    ASSERT(rows.items != NULL);

    /* Payments: kind 3 is a transfer (enum wallet_payment_kind, stored). */
    ASSERT(test_sqlite(db, false,
                       "SELECT id, user_id, counterparty_id, amount_minor FROM payments "
                       "WHERE kind = 3 ORDER BY id",
                       S_payment_line, &rows));
    qsort(rows.items, rows.count, sizeof *rows.items, S_ack_cmp);
    ASSERT_EQ_INT(rows.count, ack_count);
    for (size_t i = 0; i < ack_count; i++) {
        if (strcmp(rows.items[i].id, acks[i].id) != 0 || rows.items[i].payer != acks[i].payer ||
            rows.items[i].payee != acks[i].payee ||
            rows.items[i].amount_minor != acks[i].amount_minor)
            TEST_FAIL_("payment %s in the journal does not match acknowledged %s", rows.items[i].id,
                       acks[i].id);
    }

    /* Entries: code 20 is a transfer (WALLET_CODE_TRANSFER), ref the payment id. */
    rows.count = 0;
    ASSERT(test_sqlite(db, false, "SELECT ref FROM entries WHERE code = 20", S_ref_line, &rows));
    qsort(rows.items, rows.count, sizeof *rows.items, S_ack_cmp);
    ASSERT_EQ_INT(rows.count, ack_count);
    for (size_t i = 0; i < ack_count; i++)
        if (strcmp(rows.items[i].id, acks[i].id) != 0)
            TEST_FAIL_("entry for %s, acknowledged %s", rows.items[i].id, acks[i].id);
    free(rows.items);
}

/* --- set-up ----------------------------------------------------------------------- */

/* Registers, sets the payment password, KYC 3, binds the sandbox card and
 * tops up opening_minor, all over HTTP. */
static void S_account_open(struct client *c, const char *admin, struct account *a,
                           int64_t opening_minor)
{
    struct api_user u;
    API_MUST(api_user_new(c, admin, &u));
    API_MUST(api_payment_password_set(c, admin, &u, S_PAYMENT_PASSWORD));
    snprintf(a->id, sizeof a->id, "%s", u.id);
    snprintf(a->token, sizeof a->token, "%s", u.token);
    snprintf(a->phone, sizeof a->phone, "%s", u.phone);
    a->opening_minor = opening_minor;

    struct client_response res;
    char path[160], body[512];
    API_MUST(api_user_verify(c, &u, "Bank Test")); /* level 3 stands on a verified name */
    snprintf(path, sizeof path, "/admin/users/%s/kyc-level", u.id);
    ASSERT_EQ_INT(api_call(c, "PUT", path, admin, "{\"kyc_level\":3}", &res), 200);
    client_response_release(&res);

    char code[API_SMS_CODE_SIZE];
    ASSERT_EQ_INT(api_sms_request_as(c, u.token, u.phone, "bind_card", "9999000000000012"), 202);
    API_MUST(api_sms_code_read(c, admin, u.phone, "bind_card", code));
    snprintf(body, sizeof body,
             "{\"card_number\":\"%s\",\"holder_name\":\"Bank Test\",\"phone\":\"%s\","
             "\"sms_code\":\"%s\"}",
             S_CARD, u.phone, code);
    ASSERT_EQ_INT(api_call(c, "POST", "/v1/me/cards", u.token, body, &res), 201);
    char card_id[64];
    snprintf(card_id, sizeof card_id, "%s", api_json_str(&res, "id"));
    client_response_release(&res);

    char key[96];
    snprintf(key, sizeof key, "open-%s", u.id);
    snprintf(body, sizeof body, "{\"card_id\":\"%s\",\"amount\":%lld,\"payment_password\":\"%s\"}",
             card_id, (long long)opening_minor, S_PAYMENT_PASSWORD);
    long status = api_call_idem(c, "POST", "/v1/me/topups", u.token, key, body, &res);
    if (status != 201 || strcmp(api_json_str(&res, "status"), "SUCCESS") != 0)
        TEST_FAIL_("top-up: %ld %s", status, res.body.data ? (const char *)res.body.data : "");
    client_response_release(&res);
}

/* Whether the daemon's log, of any length (each request has its line),
 * says its ledger was broken on purpose. */
static bool S_daemon_has_test_break(const struct test_daemon *d)
{
    FILE *f = fopen(d->log_path, "r");
    if (f == NULL)
        return false;
    char *line = NULL;
    size_t size = 0;
    bool found = false;
    while (!found && getline(&line, &size, f) >= 0)
        found = strstr(line, "event=ledger.test_break") != NULL;
    free(line);
    fclose(f);
    return found;
}

/* Eight users over HTTP, on a daemon started with QIANBAO_TEST_BREAK=break
 * when break_what is not NULL. */
static void S_small_run(const char *name, const char *break_what, int seconds, struct run *run,
                        struct test_daemon *d, struct ack **acks, size_t *ack_count)
{
    static char admin[API_TOKEN_SIZE_MAX];
    if (break_what != NULL)
        setenv("QIANBAO_TEST_BREAK", break_what, 1);
    bool started = api_daemon_start(d, S_root, name, S_no_caps, admin);
    unsetenv("QIANBAO_TEST_BREAK");
    ASSERT(started);
    static struct account accounts[8];
    struct client c;
    client_init(&c, d->base_url);
    for (int i = 0; i < 8; i++)
        S_account_open(&c, admin, &accounts[i], S_SMALL_OPENING_MINOR);
    client_release(&c);
    memset(run, 0, sizeof *run);
    run->base_url = d->base_url;
    run->accounts = accounts;
    run->account_count = 8;
    run->total_minor = 8 * S_SMALL_OPENING_MINOR;
    S_run(run, seconds, acks, ack_count);
}

static void S_stop_and_verify(struct test_daemon *d, bool expect_ok)
{
    ASSERT_EQ_INT(test_daemon_stop(d), 0);
    char out[600];
    snprintf(out, sizeof out, "%s/verify.out", S_root);
    const char *args[] = {"--data-dir", d->data_dir, "--verify", NULL};
    int status = test_daemon_run(args, out, 60000);
    if (expect_ok)
        ASSERT_EQ_INT(status, 0);
}

/* QB_BANK_SECONDS, or 22; 0 for a value that is not a decimal in 1..3600. */
static int S_run_seconds(void)
{
    const char *text = getenv("QB_BANK_SECONDS");
    if (text == NULL || text[0] == '\0')
        return 22;
    int value = 0;
    for (const char *p = text; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || value > 3600)
            return 0;
        value = value * 10 + (*p - '0');
    }
    return value >= 1 && value <= 3600 ? value : 0;
}

/* --- the tests ------------------------------------------------------------------- */

TEST(eight_hot_accounts)
{
    // Sixteen clients on eight accounts: nearly every transfer contends with another on the same
    // payer or payee, the case where a check-then-act race would overdraw or lose money.
    static struct run run;
    struct test_daemon d;
    struct ack *acks = NULL;
    size_t ack_count = 0;
    int seconds = S_run_seconds();
    if (seconds == 0)
        TEST_FAIL_("QB_BANK_SECONDS must be a number of seconds in 1..3600");
    S_small_run("small", NULL, seconds, &run, &d, &acks, &ack_count);
    ASSERT(ack_count > 100);
    ASSERT_EQ_INT(S_violations(&run), 0);
    S_stop_and_verify(&d, true);
    S_journal_check(&run, d.data_dir, acks, ack_count);
    free(acks);
}

/* Runs bench_seed into dir: count users with opening_minor each. */
static bool S_seed(const char *dir, const char *users_path, int count, int64_t opening_minor)
{
    const char *build = getenv("QB_BUILD_DIR");
    char binary[600], count_text[32], opening_text[32];
    snprintf(binary, sizeof binary, "%s/bench_seed", build != NULL ? build : ".");
    snprintf(count_text, sizeof count_text, "%d", count);
    snprintf(opening_text, sizeof opening_text, "%lld", (long long)opening_minor);
    char *argv[] = {binary, "--data-dir", (char *)dir, "--users", count_text, "--balance",
                    opening_text, "--payment-password", S_PAYMENT_PASSWORD, "--out",
                    (char *)users_path, NULL};
    pid_t pid;
    int status = 0;
    return posix_spawn(&pid, binary, NULL, NULL, argv, environ) == 0 &&
           waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST(ten_thousand_accounts)
{
    // The same among 10,000 accounts: little contention, many accounts, long histories of the
    // hot-path kind a real wallet sees.
    char dir[600], users_path[600];
    snprintf(dir, sizeof dir, "%s/large", S_root);
    snprintf(users_path, sizeof users_path, "%s/large-users.txt", S_root);
    ASSERT(S_seed(dir, users_path, S_LARGE_COUNT, S_LARGE_OPENING_MINOR));
    static struct account accounts[S_LARGE_COUNT];
    FILE *f = fopen(users_path, "r");
    ASSERT(f != NULL);
    int count = 0;
    while (count < S_LARGE_COUNT &&
           fscanf(f, "%63s %79s %11s", accounts[count].id, accounts[count].token,
                  accounts[count].phone) == 3)
        accounts[count++].opening_minor = S_LARGE_OPENING_MINOR;
    fclose(f);
    ASSERT_EQ_INT(count, S_LARGE_COUNT);

    static char admin[API_TOKEN_SIZE_MAX];
    struct test_daemon d;
    ASSERT(api_daemon_start(&d, S_root, "large", S_no_caps, admin));
    static struct run run;
    memset(&run, 0, sizeof run);
    run.base_url = d.base_url;
    run.accounts = accounts;
    run.account_count = S_LARGE_COUNT;
    run.total_minor = (int64_t)S_LARGE_COUNT * S_LARGE_OPENING_MINOR;
    struct ack *acks = NULL;
    size_t ack_count = 0;
    int seconds = S_run_seconds();
    if (seconds == 0)
        TEST_FAIL_("QB_BANK_SECONDS must be a number of seconds in 1..3600");
    S_run(&run, seconds, &acks, &ack_count);
    ASSERT(ack_count > 100);
    ASSERT_EQ_INT(S_violations(&run), 0);
    S_stop_and_verify(&d, true);
    S_journal_check(&run, d.data_dir, acks, ack_count);
    free(acks);
}

TEST(the_checker_catches_a_ledger_that_overdraws)
{
    // A checker that passes a broken ledger proves nothing: against a daemon whose balance check
    // is switched off, the same run must report a negative balance or a sum that does not add up.
    static struct run run;
    struct test_daemon d;
    struct ack *acks = NULL;
    size_t ack_count = 0;
    S_small_run("broken", "balance_check", 6, &run, &d, &acks, &ack_count);
    bool broken = S_daemon_has_test_break(&d);
    free(acks);
    test_daemon_kill(&d);
    /* Run only in builds with QB_TEST_HOOKS (main): a daemon that did not
     * break its ledger would check nothing. */
    if (!broken)
        TEST_FAIL_("the daemon did not log ledger.test_break: its balance check was not off");
    long caught = atomic_load(&run.negative_balances) + atomic_load(&run.sum_mismatches);
    if (caught == 0)
        TEST_FAIL_("the broken ledger passed the bank test's checks: the checker is broken");
}

int main(void)
{
    /* Each case starts and stops its own daemons. */
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    RUN(eight_hot_accounts);
    RUN(ten_thousand_accounts);
#ifdef QB_TEST_HOOKS
    RUN(the_checker_catches_a_ledger_that_overdraws);
#else
    fprintf(stderr, "skip the_checker_catches_a_ledger_that_overdraws: no QB_TEST_HOOKS in this "
                    "build, so no ledger can be broken\n");
#endif
    return api_suite_end(&suite);
}

/*
 * test_storage_faults.c — what clients see when the disk fails.
 *
 * qianbaod (a test build) runs over the failing VFS of
 * src/store/fault_vfs.h: QIANBAO_TEST_FAULT names the kind of call that
 * fails (write, sync, open; full: a write finds the disk full) and each SIGUSR1 arms one failure of the next
 * such call. For writes and syncs, each money-moving route is called right
 * after arming: the request must fail cleanly (503 STORAGE_UNAVAILABLE,
 * never another 5xx), move nothing and store no answer under its
 * Idempotency-Key, so that the same request retried once the fault has
 * passed is applied exactly once. The fault may instead hit another
 * writer (the session-touch flush, a checkpoint): then the request
 * succeeds, and the round is tried again with a new key, up to S_TRIES
 * times. For opens, the operator's ledger check (which opens a connection
 * of its own) must end in "error" STORAGE_UNAVAILABLE and pass next time.
 * After each daemon, the ledger check passes.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "api/transfer_helpers.h"

#define S_TRIES 10
#define S_WAIT_MS 5000
#define S_LOG_SIZE_MAX (4 * 1024 * 1024)

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];
static char S_log[S_LOG_SIZE_MAX];

static void S_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Lines of the daemon's log that contain event. */
static int S_log_count(const char *event)
{
    if (!test_file_read(S_daemon.log_path, S_log, sizeof S_log))
        return -1;
    int count = 0;
    for (const char *p = S_log; (p = strstr(p, event)) != NULL; p++)
        count++;
    return count;
}

/* Waits until the log has more than `before` lines with event. */
static bool S_log_wait(const char *event, int before)
{
    for (int waited = 0; waited < S_WAIT_MS; waited += 5) {
        if (S_log_count(event) > before)
            return true;
        S_sleep_ms(5);
    }
    return false;
}

/* Arms one failure and waits until the daemon says it is armed. */
static bool S_arm(void)
{
    int before = S_log_count("test.fault_armed");
    return before >= 0 && kill(S_daemon.pid, SIGUSR1) == 0 &&
           S_log_wait("test.fault_armed", before);
}

static bool S_start(const char *kind)
{
    setenv("QIANBAO_TEST_FAULT", kind, 1);
    bool ok = api_daemon_start(&S_daemon, S_root, kind, NULL, S_admin);
    unsetenv("QIANBAO_TEST_FAULT");
    if (ok)
        client_init(&S_client, S_daemon.base_url);
    return ok;
}

static void S_stop(void)
{
    client_release(&S_client);
    ASSERT_EQ_INT(test_daemon_stop(&S_daemon), 0);
}

/* Runs the operator's ledger check to its end; its final state. */
static json_t *S_ledger_check(void)
{
    struct client_response res;
    long status = api_call(&S_client, "POST", "/admin/ledger/verification", S_admin, NULL, &res);
    client_response_release(&res);
    if (status != 202)
        return NULL;
    for (int waited = 0; waited < S_WAIT_MS * 4; waited += 20) {
        if (api_call(&S_client, "GET", "/admin/ledger/verification", S_admin, NULL, &res) != 200) {
            client_response_release(&res);
            return NULL;
        }
        json_t *state = api_json(&res);
        client_response_release(&res);
        const char *s = json_string_value(json_object_get(state, "status"));
        if (s != NULL && strcmp(s, "running") != 0)
            return state;
        json_decref(state);
        S_sleep_ms(20);
    }
    return NULL;
}

static void S_ledger_check_passes(void)
{
    json_t *state = S_ledger_check();
    ASSERT(state != NULL);
    ASSERT_EQ_STR(json_string_value(json_object_get(state, "status")), "ok");
    json_decref(state);
}

/* One money-moving request, made with key, moving `moves` fen out of u's
 * balance when applied (0: check only that it moved something). */
struct route {
    const char *name;
    const char *path;
    char body[512];
    long created; /* the status when applied */
    long long moves;
};

/* Calls route under faults until one call failed cleanly; then retries it
 * and checks it is applied once. */
static void S_route_under_fault(const struct route *r, const struct api_user *u)
{
    const char *body = r->body;
    bool failed_cleanly = false;
    for (int attempt = 0; attempt < S_TRIES && !failed_cleanly; attempt++) {
        char key[64];
        snprintf(key, sizeof key, "%s-%d-%ld", r->name, attempt, (long)getpid());
        long long before = th_balance(&S_client, u);
        ASSERT(before >= 0);
        int injected = S_log_count("test.fault_injected");
        ASSERT(S_arm());
        struct client_response res;
        long status = api_call_idem(&S_client, "POST", r->path, u->token, key, body, &res);
        if (status == r->created) {
            /* The fault hit another writer, or has not been used yet: let
             * it be used before the next try, and carry on. */
            client_response_release(&res);
            ASSERT(S_log_wait("test.fault_injected", injected));
            continue;
        }
        if (status != 503 || strcmp(api_error_code(&res), "STORAGE_UNAVAILABLE") != 0)
            TEST_FAIL_("%s under a fault: %ld %.*s", r->name, status, (int)res.body.size,
                       res.body.data);
        client_response_release(&res);
        failed_cleanly = true;
        fprintf(stderr, "  %s: failed cleanly on try %d\n", r->name, attempt + 1);
        /* Nothing moved. */
        ASSERT_EQ_INT(th_balance(&S_client, u), before);
        /* The same request again, the fault passed: applied, once. */
        status = api_call_idem(&S_client, "POST", r->path, u->token, key, body, &res);
        if (status != r->created)
            TEST_FAIL_("%s retried after the fault: %ld %.*s", r->name, status,
                       (int)res.body.size, res.body.data);
        const char *replayed = api_header(&res, "Idempotent-Replayed");
        ASSERT(replayed == NULL || strcmp(replayed, "true") != 0);
        client_response_release(&res);
        long long after = th_balance(&S_client, u);
        if (r->moves > 0)
            ASSERT_EQ_INT(after, before - r->moves);
        else
            ASSERT(after < before);
        /* And a third time: the stored answer, nothing more. */
        status = api_call_idem(&S_client, "POST", r->path, u->token, key, body, &res);
        ASSERT_EQ_INT(status, r->created);
        client_response_release(&res);
        ASSERT_EQ_INT(th_balance(&S_client, u), after);
    }
    if (!failed_cleanly)
        TEST_FAIL_("%s: in %d tries the fault never hit the request", r->name, S_TRIES);
}

/* Binds a card to u (and funds u from it); its id into card_id. */
static void S_user_with_card(struct api_user *u, char *card_id, size_t card_id_size)
{
    API_MUST(th_user_new(&S_client, S_admin, u));
    API_MUST(th_fund(&S_client, S_admin, u, 100000));
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/cards", u->token, NULL, &res), 200);
    json_t *cards = api_json(&res);
    client_response_release(&res);
    snprintf(card_id, card_id_size, "%s",
             json_string_value(json_object_get(json_array_get(json_object_get(cards, "items"), 0),
                                               "id")));
    json_decref(cards);
    ASSERT(card_id[0] != '\0');
}

static void S_money_routes_under(const char *kind)
{
    ASSERT(S_start(kind));
    struct api_user a, b;
    char card_id[API_ID_SIZE_MAX];
    S_user_with_card(&a, card_id, sizeof card_id);
    API_MUST(th_user_new(&S_client, S_admin, &b));
    struct route routes[] = {
        {"transfer", "/v1/transfers", "", 201, 700},
        {"red-packet", "/v1/red-packets", "", 201, 300},
        {"withdrawal", "/v1/me/withdrawals", "", 201, 0},
    };
    snprintf(routes[0].body, sizeof routes[0].body,
             "{\"to\":\"%s\",\"amount\":700,\"payment_password\":\"" TH_PAY_PASSWORD "\"}", b.id);
    snprintf(routes[1].body, sizeof routes[1].body,
             "{\"type\":\"equal\",\"amount_per_share\":100,\"count\":3,"
             "\"payment_password\":\"" TH_PAY_PASSWORD "\"}");
    snprintf(routes[2].body, sizeof routes[2].body,
             "{\"card_id\":\"%s\",\"amount\":2000,\"payment_password\":\"" TH_PAY_PASSWORD
             "\"}",
             card_id);
    for (size_t i = 0; i < QB_ARRAY_COUNT(routes); i++)
        S_route_under_fault(&routes[i], &a);
    S_ledger_check_passes();
    S_stop();
}

TEST(a_failed_write_fails_the_request_cleanly)
{
    S_money_routes_under("write");
}

TEST(a_failed_sync_fails_the_request_cleanly)
{
    S_money_routes_under("sync");
}

TEST(a_full_disk_fails_the_request_cleanly)
{
    S_money_routes_under("full");
}

TEST(a_failed_open_ends_the_ledger_check_in_error_and_the_next_passes)
{
    ASSERT(S_start("open"));
    ASSERT(S_arm());
    json_t *state = S_ledger_check();
    ASSERT(state != NULL);
    ASSERT_EQ_STR(json_string_value(json_object_get(state, "status")), "error");
    ASSERT_EQ_STR(json_string_value(json_object_get(state, "code")), "STORAGE_UNAVAILABLE");
    json_decref(state);
    S_ledger_check_passes();
    S_stop();
}

int main(void)
{
    test_tmpdir(S_root, sizeof S_root);

    RUN(a_failed_write_fails_the_request_cleanly);
    RUN(a_failed_sync_fails_the_request_cleanly);
    RUN(a_full_disk_fails_the_request_cleanly);
    RUN(a_failed_open_ends_the_ledger_check_in_error_and_the_next_passes);

    if (S_daemon.pid != 0)
        test_daemon_kill(&S_daemon);
    test_rmtree(S_root);
    return test_summary() != 0 ? 1 : 0;
}

/*
 * test_storage_faults.c — what clients see when the disk fails.
 *
 * qianbaod (a test build) runs over the failing VFS of
 * src/store/fault_vfs.h: QIANBAO_TEST_FAULT names the kind of call that
 * fails (write, sync, open; full: a write finds the disk full) and each
 * SIGUSR1 arms one failure of the next such call. For writes and a full
 * disk, each money-moving route (a transfer, a red packet sent and
 * claimed, a withdrawal, a top-up, an order payment, a refund, a codepay)
 * is called right after arming: the request must fail cleanly (503 STORAGE_UNAVAILABLE,
 * never another 5xx), move nothing and store no answer under its
 * Idempotency-Key, so that the same request retried once the fault has
 * passed is applied exactly once. The fault may instead hit another
 * writer (the session-touch flush, a checkpoint): then the request
 * succeeds, and the round is tried again with a new key, up to S_TRIES
 * times. A failed sync comes after the batch is committed and visible, so
 * it cannot be answered as a failure: the daemon must stop without
 * answering (exit status 1, "ledger.sync_failed" in its log), and after a
 * restart the same request is applied exactly once, whether the disk kept
 * the batch (an idempotent replay) or not. For opens, the operator's ledger
 * check (which opens a connection of its own) must end in "error"
 * STORAGE_UNAVAILABLE and pass next time. For the read pool (pool: the
 * next borrowing of a read connection finds none), a top-up retried with
 * its key must not say Idempotent-Replayed on the 503 its unreadable
 * payment answers. After each daemon, the ledger check passes.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "api/lib/suite.h"
#include "api/merchant_helpers.h"
#include "api/transfer_helpers.h"
#include "base/paycode.h"

#define S_TRIES 10
#define S_WAIT_MS 5000
#define S_WORKER_WAIT_MS 12000 /* a bank payment's first check: 6 s after creation, then a poll */
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
    /* A case that failed half-way left its daemon running: the suite only
     * stops the one S_daemon names, which this start is about to replace. */
    if (S_daemon.pid > 0)
        test_daemon_kill(&S_daemon);
    client_release(&S_client);
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

/* One money-moving route under faults. prepare (may be NULL) makes, with no
 * fault armed, what try `attempt` needs (an order, a paid order, a packet,
 * a payment code) into made[attempt]; send makes the request of that try,
 * the same request each time it is called for the same attempt. What it
 * moves is seen in the payer's balance. */
struct route {
    const char *name;
    long created;       /* the status when applied */
    long created_again; /* when sent again after that (0: created) */
    long long moves;    /* fen out of the payer's balance when applied (negative: in); 0:
                         * only that it went down */
    const struct api_user *payer;
    void (*prepare)(struct route *r, int attempt);
    long (*send)(struct route *r, int attempt, struct client_response *res);
    /* What prepare and send need. */
    const char *path;
    char body[512];
    const struct api_user *other; /* a second user: the payee, or a packet's sender */
    struct mh_merchant *merchant;
    char made[S_TRIES][160];
    uint8_t seed[PAYCODE_SEED_SIZE];
    uint32_t slot;
};

static void S_key(const struct route *r, const char *what, int attempt, char *key, size_t size)
{
    snprintf(key, size, "%s%s-%d-%ld", r->name, what, attempt, (long)getpid());
}

/* path and body as they are, by the payer, with a key per attempt. */
static long S_send_posted(struct route *r, int attempt, struct client_response *res)
{
    char key[96];
    S_key(r, "", attempt, key, sizeof key);
    return api_call_idem(&S_client, "POST", r->path, r->payer->token, key, r->body, res);
}

/* A native order of 400; its code_url in made[attempt]. */
static void S_prepare_order(struct route *r, int attempt)
{
    char body[512], number[96];
    S_key(r, "", attempt, number, sizeof number);
    snprintf(body, sizeof body,
             "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"noodles\","
             "\"out_trade_no\":\"%s\",\"notify_url\":\"https://example.com/n\","
             "\"amount\":{\"total\":400}}",
             r->merchant->appid, r->merchant->mchid, number);
    struct client_response res;
    ASSERT_EQ_INT(mh_call(&S_client, r->merchant, "POST", "/v3/pay/transactions/native", body,
                          &res),
                  200);
    snprintf(r->made[attempt], sizeof r->made[attempt], "%s", api_json_str(&res, "code_url"));
    client_response_release(&res);
}

static long S_send_order_payment(struct route *r, int attempt, struct client_response *res)
{
    char body[400], key[96];
    snprintf(body, sizeof body,
             "{\"code_url\":\"%s\",\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             r->made[attempt]);
    S_key(r, "", attempt, key, sizeof key);
    return api_call_idem(&S_client, "POST", "/v1/me/order-payments", r->payer->token, key, body,
                         res);
}

/* An order of 400 the payer has paid. */
static void S_prepare_paid_order(struct route *r, int attempt)
{
    S_prepare_order(r, attempt);
    struct client_response res;
    ASSERT_EQ_INT(S_send_order_payment(r, attempt, &res), 201);
    client_response_release(&res);
}

/* The merchant refunds 150 of the paid order. */
static long S_send_refund(struct route *r, int attempt, struct client_response *res)
{
    char body[400], number[96];
    S_key(r, "", attempt, number, sizeof number);
    snprintf(body, sizeof body,
             "{\"out_trade_no\":\"%s\",\"out_refund_no\":\"%s\","
             "\"amount\":{\"refund\":150,\"total\":400,\"currency\":\"CNY\"}}",
             number, number);
    return mh_call(&S_client, r->merchant, "POST", "/v3/refund/domestic/refunds", body, res);
}

/* The other user sends an equal packet of 2 × 2.50; its claims path in
 * made[attempt]. */
static void S_prepare_packet(struct route *r, int attempt)
{
    char key[96];
    S_key(r, "-packet", attempt, key, sizeof key);
    struct client_response res;
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/red-packets", r->other->token, key,
                                "{\"type\":\"equal\",\"amount_per_share\":250,\"count\":2,"
                                "\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
                                &res),
                  201);
    snprintf(r->made[attempt], sizeof r->made[attempt], "/v1/red-packets/%s/claims",
             api_json_str(&res, "id"));
    client_response_release(&res);
}

/* The payer claims (no key: a user claims a packet once). */
static long S_send_claim(struct route *r, int attempt, struct client_response *res)
{
    return api_call(&S_client, "POST", r->made[attempt], r->payer->token, NULL, res);
}

/* A fresh payment code of the payer's device. */
static void S_prepare_code(struct route *r, int attempt)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    char code[PAYCODE_TEXT_SIZE];
    paycode_format(r->seed, paycode_step((int64_t)now.tv_sec * 1000), r->slot, (uint8_t)attempt,
                   code);
    snprintf(r->made[attempt], sizeof r->made[attempt], "%s", code);
}

/* The merchant takes 500 with it. */
static long S_send_codepay(struct route *r, int attempt, struct client_response *res)
{
    char body[512], number[96];
    S_key(r, "", attempt, number, sizeof number);
    snprintf(body, sizeof body,
             "{\"appid\":\"%s\",\"mchid\":\"%s\",\"description\":\"tea\","
             "\"out_trade_no\":\"%s\",\"amount\":{\"total\":500},"
             "\"payer\":{\"auth_code\":\"%s\"}}",
             r->merchant->appid, r->merchant->mchid, number, r->made[attempt]);
    return mh_call(&S_client, r->merchant, "POST", "/v3/pay/transactions/codepay", body, res);
}

/* A failed sync: the request is unanswered and the daemon stops; after a
 * restart the request is applied once, whatever the disk kept. True when
 * the fault hit this request (false: it hit another writer's sync, and the
 * request was applied). */
static bool S_route_under_failed_sync(struct route *r, int attempt, long long before,
                                      long status, struct client_response *res)
{
    long again = r->created_again != 0 ? r->created_again : r->created;
    if (status == r->created)
        return false;
    if (status != 0)
        TEST_FAIL_("%s under a failed sync answered %ld %.*s", r->name, status,
                   (int)res->body.size, res->body.data);
    client_response_release(res);
    ASSERT_EQ_INT(test_daemon_stop(&S_daemon), 1);
    ASSERT(S_log_count("ledger.sync_failed") >= 1);
    fprintf(stderr, "  %s: the daemon stopped on try %d\n", r->name, attempt + 1);
    ASSERT(S_start("sync"));
    /* Applied once: by the retry, or replayed from what the disk kept. */
    status = r->send(r, attempt, res);
    if (status != r->created && status != again)
        TEST_FAIL_("%s retried after the restart: %ld %.*s", r->name, status,
                   (int)res->body.size, res->body.data);
    client_response_release(res);
    /* A top-up the stop caught before its bank call is resolved by the
     * wallet worker after the restart (PROCESSING until then). */
    long long after = th_balance(&S_client, r->payer);
    for (int waited = 0; r->moves != 0 && after != before - r->moves && waited < S_WORKER_WAIT_MS;
         waited += 20) {
        S_sleep_ms(20);
        after = th_balance(&S_client, r->payer);
    }
    if (r->moves != 0)
        ASSERT_EQ_INT(after, before - r->moves);
    else
        ASSERT(after < before);
    status = r->send(r, attempt, res);
    ASSERT_EQ_INT(status, again);
    client_response_release(res);
    ASSERT_EQ_INT(th_balance(&S_client, r->payer), after);
    return true;
}

/* Calls route under faults until one call failed cleanly; then retries it
 * and checks it is applied once, and a third time that nothing more moves. */
static void S_route_under_fault(struct route *r, bool sync)
{
    bool failed_cleanly = false;
    long again = r->created_again != 0 ? r->created_again : r->created;
    for (int attempt = 0; attempt < S_TRIES && !failed_cleanly; attempt++) {
        if (r->prepare != NULL)
            r->prepare(r, attempt);
        long long before = th_balance(&S_client, r->payer);
        ASSERT(before >= 0);
        int injected = S_log_count("test.fault_injected");
        ASSERT(S_arm());
        struct client_response res;
        long status = r->send(r, attempt, &res);
        if (sync) {
            failed_cleanly = S_route_under_failed_sync(r, attempt, before, status, &res);
            if (!failed_cleanly) {
                client_response_release(&res);
                ASSERT(S_log_wait("test.fault_injected", injected));
            }
            continue;
        }
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
        ASSERT_EQ_INT(th_balance(&S_client, r->payer), before);
        /* The same request again, the fault passed: applied, once. */
        status = r->send(r, attempt, &res);
        if (status != r->created)
            TEST_FAIL_("%s retried after the fault: %ld %.*s", r->name, status,
                       (int)res.body.size, res.body.data);
        const char *replayed = api_header(&res, "Idempotent-Replayed");
        ASSERT(replayed == NULL || strcmp(replayed, "true") != 0);
        client_response_release(&res);
        long long after = th_balance(&S_client, r->payer);
        if (r->moves != 0)
            ASSERT_EQ_INT(after, before - r->moves);
        else
            ASSERT(after < before);
        /* And a third time: the first answer, nothing more. */
        status = r->send(r, attempt, &res);
        ASSERT_EQ_INT(status, again);
        client_response_release(&res);
        ASSERT_EQ_INT(th_balance(&S_client, r->payer), after);
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

/* A payment-code device of u: its seed and slot into r. */
static void S_device(const struct api_user *u, struct route *r)
{
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/v1/me/devices", u->token,
                           "{\"name\":\"phone\",\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
                           &res),
                  201);
    const char *hex = api_json_str(&res, "seed");
    ASSERT(hex != NULL && strlen(hex) == 2 * PAYCODE_SEED_SIZE);
    for (size_t i = 0; i < PAYCODE_SEED_SIZE; i++) {
        unsigned v;
        ASSERT(sscanf(hex + 2 * i, "%2x", &v) == 1);
        r->seed[i] = (uint8_t)v;
    }
    r->slot = (uint32_t)strtoul(api_json_str(&res, "slot"), NULL, 10);
    client_response_release(&res);
}

static void S_money_routes_under(const char *kind, bool sync)
{
    ASSERT(S_start(kind));
    struct api_user a, b;
    char card_id[API_ID_SIZE_MAX], card_b[API_ID_SIZE_MAX];
    S_user_with_card(&a, card_id, sizeof card_id);
    S_user_with_card(&b, card_b, sizeof card_b); /* b sends the packets a claims */
    struct mh_merchant m;
    API_MUST(mh_onboard(&S_client, S_admin, -1, &m));
    static struct route routes[] = {
        {.name = "transfer", .created = 201, .moves = 700, .send = S_send_posted,
         .path = "/v1/transfers"},
        {.name = "red-packet", .created = 201, .moves = 300, .send = S_send_posted,
         .path = "/v1/red-packets",
         .body = "{\"type\":\"equal\",\"amount_per_share\":100,\"count\":3,"
                 "\"payment_password\":\"" TH_PAY_PASSWORD "\"}"},
        {.name = "withdrawal", .created = 201, .moves = 0, .send = S_send_posted,
         .path = "/v1/me/withdrawals"},
        {.name = "topup", .created = 201, .moves = -1500, .send = S_send_posted,
         .path = "/v1/me/topups"},
        {.name = "order-payment", .created = 201, .moves = 400, .prepare = S_prepare_order,
         .send = S_send_order_payment},
        {.name = "refund", .created = 200, .moves = -150, .prepare = S_prepare_paid_order,
         .send = S_send_refund},
        {.name = "claim", .created = 201, .created_again = 200, .moves = -250,
         .prepare = S_prepare_packet, .send = S_send_claim},
        {.name = "codepay", .created = 200, .moves = 500, .prepare = S_prepare_code,
         .send = S_send_codepay},
    };
    for (size_t i = 0; i < QB_ARRAY_COUNT(routes); i++) {
        struct route *r = &routes[i];
        memset(r->made, 0, sizeof r->made);
        r->payer = &a;
        r->other = &b;
        r->merchant = &m;
    }
    snprintf(routes[0].body, sizeof routes[0].body,
             "{\"to\":\"%s\",\"amount\":700,\"payment_password\":\"" TH_PAY_PASSWORD "\"}", b.id);
    snprintf(routes[2].body, sizeof routes[2].body,
             "{\"card_id\":\"%s\",\"amount\":2000,\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             card_id);
    snprintf(routes[3].body, sizeof routes[3].body,
             "{\"card_id\":\"%s\",\"amount\":1500,\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             card_id);
    S_device(&a, &routes[7]);
    for (size_t i = 0; i < QB_ARRAY_COUNT(routes); i++)
        S_route_under_fault(&routes[i], sync);
    mh_release(&m);
    S_ledger_check_passes();
    S_stop();
}

TEST(a_failed_write_fails_the_request_cleanly)
{
    S_money_routes_under("write", false);
}

TEST(a_failed_sync_stops_the_daemon_and_the_retry_applies_once)
{
    S_money_routes_under("sync", true);
}

TEST(a_full_disk_fails_the_request_cleanly)
{
    S_money_routes_under("full", false);
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

TEST(a_retry_whose_payment_cannot_be_read_is_no_replay)
{
    /* A top-up retried with its key is answered with its payment as it is
     * now, read afresh. When that read cannot be made (every read
     * connection taken: the pool kind, armed), the answer is 503 and it
     * is no replayed answer, so it must not say Idempotent-Replayed: a
     * client trusting the header would take the failure for the payment's
     * fate. The fault may go to a worker's read instead: then the retry is
     * a replay, and the round is tried again. */
    ASSERT(S_start("pool"));
    struct api_user a;
    char card_id[API_ID_SIZE_MAX];
    S_user_with_card(&a, card_id, sizeof card_id);
    char body[256], key[64];
    snprintf(body, sizeof body,
             "{\"card_id\":\"%s\",\"amount\":1200,\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
             card_id);
    snprintf(key, sizeof key, "replay-read-%ld", (long)getpid());
    struct client_response res;
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/me/topups", a.token, key, body, &res), 201);
    ASSERT_EQ_STR(api_header(&res, "Idempotent-Replayed"), "");
    client_response_release(&res);
    long long after_first = th_balance(&S_client, &a);
    int failed = 0, armed = 0;
    for (int i = 0; i < S_TRIES && failed == 0; i++) {
        ASSERT(S_arm());
        armed++;
        long status = api_call_idem(&S_client, "POST", "/v1/me/topups", a.token, key, body, &res);
        if (status == 503) {
            failed++;
            if (strcmp(api_header(&res, "Idempotent-Replayed"), "") != 0)
                TEST_FAIL_("a 503 says Idempotent-Replayed: %s", res.body.data);
        } else {
            ASSERT_EQ_INT(status, 201);
            ASSERT_EQ_STR(api_header(&res, "Idempotent-Replayed"), "true");
        }
        client_response_release(&res);
    }
    ASSERT(failed == 1);
    /* Every armed fault spent (the workers read every 200 ms), then the
     * retry is a replay again, and the money moved once. */
    for (int waited = 0; S_log_count("test.fault_injected") < armed && waited < S_WAIT_MS;
         waited += 20)
        S_sleep_ms(20);
    ASSERT(S_log_count("test.fault_injected") >= armed);
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/me/topups", a.token, key, body, &res), 201);
    ASSERT_EQ_STR(api_header(&res, "Idempotent-Replayed"), "true");
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &a), after_first);
    S_ledger_check_passes();
    S_stop();
}

int main(void)
{
    /* The cases start and stop the daemon themselves; the suite stops one a
     * failed case left running. */
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    api_suite_watch(&suite, &S_daemon, "main", &S_client);

    RUN(a_failed_write_fails_the_request_cleanly);
    RUN(a_failed_sync_stops_the_daemon_and_the_retry_applies_once);
    RUN(a_full_disk_fails_the_request_cleanly);
    RUN(a_failed_open_ends_the_ledger_check_in_error_and_the_next_passes);
    RUN(a_retry_whose_payment_cannot_be_read_is_no_replay);

    return api_suite_end(&suite);
}

/*
 * test_crash_points.c — the daemon dies at the worst moments, on purpose.
 *
 * A test build stops dead (SIGKILL to itself) at the crash point named by
 * QIANBAO_TEST_CRASH (src/base/crash.h). Each case starts the daemon with
 * one point armed, drives it there, sees it die, restarts it on the same
 * data directory without the point, and checks what a client relying on
 * the contract needs:
 *
 *   transfer.in_command          inside the transaction: nothing was
 *                                committed, so the retry with the same key
 *                                runs it now, once;
 *   transfer.before_reply        committed but never answered: the retry
 *                                answers the stored result (Idempotent-
 *                                Replayed) and moves nothing more;
 *   redpacket.refund_in_command  an expired packet's refund dies inside its
 *                                transaction: after the restart the worker
 *                                refunds it, once;
 *   redpacket.refund_committed   the refund committed and the worker died
 *                                before going on: it is not refunded again.
 *
 * Each case ends with the operator's ledger check.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "api/lib/suite.h"
#include "api/transfer_helpers.h"

#define S_WAIT_MS 15000

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];
static const char *const S_short_expiry[] = {"--red-packet-expiry-s", "2", NULL};

static void S_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Starts the daemon of data directory name, with crash point `point`
 * armed (NULL: none). */
static bool S_start(const char *name, const char *point)
{
    if (point != NULL)
        setenv("QIANBAO_TEST_CRASH", point, 1);
    bool ok = api_daemon_start(&S_daemon, S_root, name, S_short_expiry, S_admin);
    unsetenv("QIANBAO_TEST_CRASH");
    if (ok)
        client_init(&S_client, S_daemon.base_url);
    return ok;
}

/* Waits until the daemon has died of SIGKILL, and forgets it. */
static bool S_died(void)
{
    for (int waited = 0; waited < S_WAIT_MS; waited += 10) {
        int status = 0;
        pid_t got = waitpid(S_daemon.pid, &status, WNOHANG);
        if (got == S_daemon.pid) {
            S_daemon.pid = 0;
            client_release(&S_client);
            return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
        }
        S_sleep_ms(10);
    }
    return false;
}

static bool S_log_has(const char *text)
{
    static char log[1 << 20];
    return test_file_read(S_daemon.log_path, log, sizeof log) && strstr(log, text) != NULL;
}

static void S_ledger_check_passes(void)
{
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "POST", "/admin/ledger/verification", S_admin, NULL, &res),
                  202);
    client_response_release(&res);
    for (int waited = 0; waited < S_WAIT_MS; waited += 20) {
        ASSERT_EQ_INT(api_call(&S_client, "GET", "/admin/ledger/verification", S_admin, NULL, &res),
                      200);
        json_t *state = api_json(&res);
        client_response_release(&res);
        const char *status = json_string_value(json_object_get(state, "status"));
        bool running = status != NULL && strcmp(status, "running") == 0;
        if (!running)
            ASSERT_EQ_STR(status, "ok");
        json_decref(state);
        if (!running)
            return;
        S_sleep_ms(20);
    }
    TEST_FAIL_("the ledger check did not end");
}

static void S_stop(void)
{
    S_ledger_check_passes();
    client_release(&S_client);
    ASSERT_EQ_INT(test_daemon_stop(&S_daemon), 0);
}

/* The lines of u's bills of type, as JSON (the caller frees). */
static json_t *S_bills(const struct api_user *u, const char *type)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/me/transactions?type=%s", type);
    struct client_response res;
    json_t *body = NULL;
    if (api_call(&S_client, "GET", path, u->token, NULL, &res) == 200)
        body = api_json(&res);
    client_response_release(&res);
    return body;
}

/* A transfer dies at point; after the restart its retry must answer
 * replayed (it was committed) or not. */
static void S_transfer_case(const char *point, bool committed)
{
    ASSERT(S_start(point, point));
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(th_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 10000));
    char body[256];
    snprintf(body, sizeof body,
             "{\"to\":\"%s\",\"amount\":2500,\"payment_password\":\"" TH_PAY_PASSWORD "\"}", b.id);
    struct client_response res;
    long status = api_call_idem(&S_client, "POST", "/v1/transfers", a.token, "crash-1", body, &res);
    client_response_release(&res);
    ASSERT_EQ_INT(status, 0); /* no answer: the daemon died */
    ASSERT(S_died());
    ASSERT(S_log_has("test.crash_point name="));

    ASSERT(S_start(point, NULL));
    ASSERT_EQ_INT(th_balance(&S_client, &a), committed ? 7500 : 10000);
    status = api_call_idem(&S_client, "POST", "/v1/transfers", a.token, "crash-1", body, &res);
    ASSERT_EQ_INT(status, 201);
    const char *replayed = api_header(&res, "Idempotent-Replayed");
    ASSERT_EQ_INT(replayed != NULL && strcmp(replayed, "true") == 0, committed);
    client_response_release(&res);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 7500);
    ASSERT_EQ_INT(th_balance(&S_client, &b), 2500);
    json_t *lines = S_bills(&a, "transfer");
    ASSERT(lines != NULL);
    ASSERT_EQ_INT(json_array_size(json_object_get(lines, "items")), 1);
    json_decref(lines);
    S_stop();
}

TEST(a_transfer_killed_inside_its_transaction_runs_once_on_retry)
{
    S_transfer_case("transfer.in_command", false);
}

TEST(a_transfer_killed_between_commit_and_reply_answers_its_result_on_retry)
{
    S_transfer_case("transfer.before_reply", true);
}

/* A red packet of 3 × 1.00 with one share claimed expires while point is
 * armed; after the restart the other 2.00 is back with the sender, once. */
static void S_refund_case(const char *point)
{
    ASSERT(S_start(point, point));
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 10000));
    struct client_response res;
    ASSERT_EQ_INT(api_call_idem(&S_client, "POST", "/v1/red-packets", a.token, "crash-packet",
                                "{\"type\":\"equal\",\"amount_per_share\":100,\"count\":3,"
                                "\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
                                &res),
                  201);
    char path[128];
    snprintf(path, sizeof path, "/v1/red-packets/%s", api_json_str(&res, "id"));
    client_response_release(&res);
    char claim[160];
    snprintf(claim, sizeof claim, "%s/claims", path);
    ASSERT_EQ_INT(api_call(&S_client, "POST", claim, b.token, NULL, &res), 201);
    client_response_release(&res);
    /* Expiry after 2 s; the worker then refunds, and dies at the point. */
    ASSERT(S_died());
    ASSERT(S_log_has("test.crash_point name="));

    ASSERT(S_start(point, NULL));
    long long refunded = -1;
    for (int waited = 0; waited < S_WAIT_MS && refunded <= 0; waited += 50) {
        ASSERT_EQ_INT(api_call(&S_client, "GET", path, a.token, NULL, &res), 200);
        refunded = api_json_int(&res, "refunded_amount", -1);
        client_response_release(&res);
        if (refunded <= 0)
            S_sleep_ms(50);
    }
    ASSERT_EQ_INT(refunded, 200);
    /* Give a second refund every chance to happen, then count. */
    S_sleep_ms(1500);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 10000 - 100);
    json_t *lines = S_bills(&a, "red_packet_refund");
    ASSERT(lines != NULL);
    ASSERT_EQ_INT(json_array_size(json_object_get(lines, "items")), 1);
    json_decref(lines);
    S_stop();
}

TEST(a_refund_killed_inside_its_transaction_is_made_once_after_restart)
{
    S_refund_case("redpacket.refund_in_command");
}

TEST(a_refund_killed_after_its_commit_is_not_made_again)
{
    S_refund_case("redpacket.refund_committed");
}

int main(void)
{
    /* The cases start and stop the daemon themselves; the suite stops one a
     * failed case left running. */
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    api_suite_watch(&suite, &S_daemon, "main", &S_client);

    RUN(a_transfer_killed_inside_its_transaction_runs_once_on_retry);
    RUN(a_transfer_killed_between_commit_and_reply_answers_its_result_on_retry);
    RUN(a_refund_killed_inside_its_transaction_is_made_once_after_restart);
    RUN(a_refund_killed_after_its_commit_is_not_made_again);

    return api_suite_end(&suite);
}

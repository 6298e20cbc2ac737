/*
 * test_limits_race.c — parallel payments at the edge of the daily cap.
 *
 * A limit read on one thread and charged on another lets a burst of
 * payments pass it together. The daemon runs with --limit-daily 10000
 * (¥100); one payer with ¥500 fires 64 transfers of ¥3 at once, each with
 * its own key. Exactly 33 may pass (¥99); every other one must be 403
 * LIMIT_EXCEEDED naming "daily", and the payee must hold exactly ¥99.
 * A second burst from a user whose own daily limit is ¥20 checks the
 * user's limit the same way.
 *
 * The payer is funded through the public top-up route.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/lib/suite.h"
#include "api/transfer_helpers.h"

#define S_BURST 64
#define S_DAILY_MINOR 10000
#define S_AMOUNT_MINOR 300

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];
static struct th_call S_calls[S_BURST];
static char S_keys[S_BURST][32];

/* Fires S_BURST transfers of amount from payer to payee at once; answers
 * how many succeeded and checks every other one is LIMIT_EXCEEDED by
 * limit_name. */
static int S_burst(const struct api_user *payer, const struct api_user *payee,
                   const char *key_prefix, const char *limit_name)
{
    static char body[256];
    snprintf(body, sizeof body, "{\"to\":\"%s\",\"amount\":%d,\"payment_password\":\"%s\"}",
             payee->phone, S_AMOUNT_MINOR, TH_PAY_PASSWORD);
    memset(S_calls, 0, sizeof S_calls);
    for (int i = 0; i < S_BURST; i++) {
        snprintf(S_keys[i], sizeof S_keys[i], "%s-%d", key_prefix, i);
        S_calls[i] = (struct th_call){
            .path = "/v1/transfers", .token = payer->token, .key = S_keys[i], .body = body};
    }
    th_burst_run(S_daemon.base_url, S_calls, S_BURST, S_BURST);
    int passed = 0;
    for (int i = 0; i < S_BURST; i++) {
        if (S_calls[i].status == 201) {
            passed++;
            continue;
        }
        if (S_calls[i].status != 403 || strcmp(S_calls[i].code, "LIMIT_EXCEEDED") != 0 ||
            strcmp(S_calls[i].limit, limit_name) != 0)
            TEST_FAIL_("call %d: %ld %s", i, S_calls[i].status, S_calls[i].answer);
    }
    return passed;
}

TEST(parallel_payments_never_pass_the_daily_cap)
{
    // 64 payments of ¥3 against a ¥100 cap, all at once: 33 pass and not one more.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 50000));
    int passed = S_burst(&a, &b, "cap", "daily");
    ASSERT_EQ_INT(passed, S_DAILY_MINOR / S_AMOUNT_MINOR);
    ASSERT_EQ_INT(th_balance(&S_client, &b), passed * S_AMOUNT_MINOR);
    ASSERT_EQ_INT(th_balance(&S_client, &a), 50000 - passed * S_AMOUNT_MINOR);

    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "GET", "/v1/me/limits", a.token, NULL, &res), 200);
    json_t *body = api_json(&res);
    client_response_release(&res);
    json_t *daily = json_array_get(json_object_get(body, "limits"), 1);
    ASSERT_EQ_STR(json_string_value(json_object_get(daily, "name")), "daily");
    ASSERT_EQ_INT(json_integer_value(json_object_get(daily, "amount")), S_DAILY_MINOR);
    ASSERT_EQ_INT(json_integer_value(json_object_get(daily, "used")), passed * S_AMOUNT_MINOR);
    json_decref(body);
}

TEST(parallel_payments_never_pass_the_users_own_limit)
{
    // The user's own daily limit (¥20) is enforced in the same command: 6 of 64 pass.
    struct api_user a, b;
    API_MUST(th_user_new(&S_client, S_admin, &a));
    API_MUST(api_user_new(&S_client, S_admin, &b));
    API_MUST(th_fund(&S_client, S_admin, &a, 50000));
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "PUT", "/v1/me/limits", a.token,
                           "{\"daily_limit\":2000,\"payment_password\":\"" TH_PAY_PASSWORD "\"}",
                           &res),
                  200);
    client_response_release(&res);
    int passed = S_burst(&a, &b, "own", "user_daily");
    ASSERT_EQ_INT(passed, 2000 / S_AMOUNT_MINOR);
    ASSERT_EQ_INT(th_balance(&S_client, &b), passed * S_AMOUNT_MINOR);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    const char *const args[] = {
        "--limit-daily", "10000", "--payee-lookups-per-hour", "1000000", "--payee-lookups-per-day",
        "1000000",       NULL};
    if (!api_suite_daemon(&suite, &S_daemon, "race", args, S_admin, &S_client))
        return api_suite_end(&suite);

    RUN(parallel_payments_never_pass_the_daily_cap);
    RUN(parallel_payments_never_pass_the_users_own_limit);

    return api_suite_end(&suite);
}

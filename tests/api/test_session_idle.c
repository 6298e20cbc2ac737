/*
 * test_session_idle.c — the idle timeout of a session, over HTTP, in real time.
 *
 * The idle timeout ends sessions nobody uses; it must never end one that is
 * in use. The shortest setting, --session-idle-s 60, is the only one a test
 * can wait for, so this program runs for about a minute: a session used
 * every 12 s must live past the 60 s mark, and one left alone since login
 * must end by 66 s (last use is recorded at most every idle / 10 = 6 s, so
 * a session ends between idle and idle + 6 s after its last use). (Idle and absolute expiry at
 * other settings are unit-test matters, with a manual clock.) Before it, ten seconds of a burst of
 * 600 sessions, whose uses must all be recorded.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "api/lib/api.h"
#include "api/lib/client.h"
#include "api/lib/daemon.h"
#include "api/lib/suite.h"
#include "test.h"

#define S_IDLE_S 60
#define S_USE_EVERY_S 12
#define S_TOUCH_S 6

static char S_root[512];
static struct test_daemon S_daemon;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];

static long long S_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void S_sleep_until_ms(long long at_ms)
{
    for (long long now = S_now_ms(); now < at_ms; now = S_now_ms()) {
        long long left = at_ms - now;
        struct timespec ts = {(time_t)(left / 1000), (long)(left % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static long S_me_status(const char *token)
{
    struct client_response res;
    long status = api_call(&S_client, "GET", "/v1/me", token, NULL, &res);
    if (status == 0)
        fprintf(stderr, "  GET /v1/me: no answer: %s\n", res.error);
    client_response_release(&res);
    return status;
}

TEST(a_session_in_use_outlives_the_idle_timeout)
{
    // The idle timeout must measure time since the last use, not since login: a session used
    // every 12 s stays valid past 60 s, while one unused since login is refused after 60 s.
    struct api_user u;
    API_MUST(api_user_new(&S_client, S_admin, &u));
    char idle[API_TOKEN_SIZE_MAX];
    API_MUST(api_login_new_device(&S_client, S_admin, &u, "left alone", idle));
    long long start_ms = S_now_ms();

    long long last_use_ms = start_ms;
    for (int i = 1; i * S_USE_EVERY_S < S_IDLE_S; i++) {
        S_sleep_until_ms(start_ms + (long long)i * S_USE_EVERY_S * 1000);
        long status = S_me_status(u.token);
        if (status != 200)
            TEST_FAIL_("the active session answered %ld after %lld s", status,
                       (S_now_ms() - start_ms) / 1000);
        last_use_ms = S_now_ms();
    }
    /* Past the idle time since login, but well within it since the last use. */
    S_sleep_until_ms(start_ms + (S_IDLE_S + 1) * 1000LL);
    long active = S_me_status(u.token);
    long long since_login_s = (S_now_ms() - start_ms) / 1000;
    long long since_use_s = (S_now_ms() - last_use_ms) / 1000;
    if (active != 200)
        TEST_FAIL_("a session used %lld s ago (%lld s after login, idle timeout %d s) answered %ld",
                   since_use_s, since_login_s, S_IDLE_S, active);
    /* Past idle + touch since login: the session nobody used has ended. */
    S_sleep_until_ms(start_ms + (S_IDLE_S + S_TOUCH_S + 1) * 1000LL);
    ASSERT_EQ_INT(S_me_status(idle), 401);

    /* The active session's login is now over a minute old (--session-recent-s 60): it may not
     * end another session, which would forget that device (a thief holding a phone that stays
     * logged in must not shut its owner out of the others); a fresh login may, and ending
     * itself is always allowed. */
    API_MUST(api_session_id_current(&S_client, &u));
    struct api_user fresh = u;
    API_MUST(api_login_new_device(&S_client, S_admin, &u, "fresh", fresh.token));
    API_MUST(api_session_id_current(&S_client, &fresh));
    char path[128];
    snprintf(path, sizeof path, "/v1/me/sessions/%s", fresh.session_id);
    struct client_response res;
    ASSERT_EQ_INT(api_call(&S_client, "DELETE", path, u.token, NULL, &res), 403);
    ASSERT_EQ_STR(api_json_str(&res, "code"), "RECENT_LOGIN_REQUIRED");
    ASSERT(strstr(api_json_str(&res, "message"), "within 1 minute of logging in") != NULL);
    client_response_release(&res);
    ASSERT_EQ_INT(S_me_status(fresh.token), 200);
    snprintf(path, sizeof path, "/v1/me/sessions/%s", u.session_id);
    ASSERT_EQ_INT(api_call(&S_client, "DELETE", path, fresh.token, NULL, &res), 204);
    client_response_release(&res);
    ASSERT_EQ_INT(S_me_status(u.token), 401);
    snprintf(path, sizeof path, "/v1/me/sessions/%s", fresh.session_id);
    ASSERT_EQ_INT(api_call(&S_client, "DELETE", path, fresh.token, NULL, &res), 204);
    client_response_release(&res);
    ASSERT_EQ_INT(S_me_status(fresh.token), 401);
}

#define S_BURST_SESSIONS 600

/* Walks the caller's sessions page by page: how many there are, and how
 * many were seen after they were made. */
static void S_sessions_seen(const char *token, int *count, int *seen_later)
{
    *count = *seen_later = 0;
    char path[256] = "/v1/me/sessions?limit=100";
    for (int page = 0; page < 100; page++) {
        struct client_response res;
        ASSERT_EQ_INT(api_call(&S_client, "GET", path, token, NULL, &res), 200);
        json_t *body = api_json(&res);
        client_response_release(&res);
        ASSERT(body != NULL);
        size_t i;
        json_t *item;
        json_array_foreach(json_object_get(body, "items"), i, item)
        {
            const char *created = json_string_value(json_object_get(item, "created_at"));
            const char *seen = json_string_value(json_object_get(item, "last_seen_at"));
            ASSERT(created != NULL && seen != NULL);
            (*count)++;
            *seen_later += strcmp(seen, created) != 0;
        }
        const char *next = json_string_value(json_object_get(body, "next_cursor"));
        if (next == NULL) {
            json_decref(body);
            return;
        }
        snprintf(path, sizeof path, "/v1/me/sessions?limit=100&cursor=%s", next);
        json_decref(body);
    }
    TEST_FAIL_("more than 100 pages of sessions");
}

TEST(a_burst_of_sessions_is_recorded_whole)
{
    // Uses are recorded by commands of at most 256 sessions: one goes as soon as it is full, the
    // rest once a second. 600 sessions used within a second or two fill at least one command
    // wherever the second's boundary falls; every use must reach the database (read back after
    // a restart, from the session list), and the daemon must go on answering.
    struct api_user u;
    API_MUST(api_user_new(&S_client, S_admin, &u));
    static char tokens[S_BURST_SESSIONS][API_TOKEN_SIZE_MAX];
    for (int i = 0; i < S_BURST_SESSIONS; i++)
        API_MUST(api_login(&S_client, &u, "test", tokens[i]));
    /* A use is recorded once the last one is S_TOUCH_S old. */
    S_sleep_until_ms(S_now_ms() + (S_TOUCH_S + 1) * 1000LL);
    long long burst_ms = S_now_ms();
    for (int i = 0; i < S_BURST_SESSIONS; i++)
        ASSERT_EQ_INT(S_me_status(tokens[i]), 200);
    burst_ms = S_now_ms() - burst_ms;
    if (burst_ms > 1000)
        fprintf(stderr, "  the burst took %lld ms: a command may not have filled\n", burst_ms);
    S_sleep_until_ms(S_now_ms() + 1500);

    ASSERT_EQ_INT(test_daemon_stop(&S_daemon), 0);
    client_release(&S_client);
    const char *args[] = {"--session-idle-s", "60", "--session-recent-s", "60", NULL};
    API_MUST(api_daemon_start(&S_daemon, S_root, "idle", args, S_admin));
    client_init(&S_client, S_daemon.base_url);
    int count = 0, seen_later = 0;
    S_sessions_seen(tokens[0], &count, &seen_later);
    ASSERT_EQ_INT(count, S_BURST_SESSIONS + 1); /* and the one api_user_new opened */
    ASSERT(seen_later >= S_BURST_SESSIONS);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    const char *args[] = {"--session-idle-s", "60", "--session-recent-s", "60", NULL};
    if (!api_suite_daemon(&suite, &S_daemon, "idle", args, S_admin, &S_client))
        return api_suite_end(&suite);

    RUN(a_burst_of_sessions_is_recorded_whole);
    RUN(a_session_in_use_outlives_the_idle_timeout);

    return api_suite_end(&suite);
}

/*
 * test_logging.c — what the daemon's log tells an operator, over HTTP.
 *
 * The log is an interface: operators grep it to learn who changed what.
 * These cases read the daemon's log file back after real requests and
 * check the exact fields of the audit lines an operator's change leaves.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/lib/api.h"
#include "api/lib/client.h"
#include "api/lib/daemon.h"
#include "api/lib/suite.h"
#include "test.h"

#define S_LOG_SIZE_MAX (1 << 20)
#define S_LINE_SIZE_MAX 4096

static char S_root[512];
static struct test_daemon S_main;
static struct client S_client;
static char S_admin[API_TOKEN_SIZE_MAX];
/* --log-level warn: what an operator who quiets the log still gets. */
static struct test_daemon S_quiet;
static struct client S_quiet_client;
static char S_quiet_admin[API_TOKEN_SIZE_MAX];
static char S_log[S_LOG_SIZE_MAX];

/* Copies into line the first line of daemon's log holding every one of
 * needles (NULL-terminated), waiting up to two seconds for it to be
 * written. False when none came. */
static bool S_log_line(const struct test_daemon *daemon, const char *const *needles, char *line,
                       size_t line_size)
{
    for (int attempt = 0; attempt < 200; attempt++) {
        if (test_file_read(daemon->log_path, S_log, sizeof S_log)) {
            for (const char *start = S_log; *start != '\0';) {
                const char *end = strchr(start, '\n');
                size_t size = end != NULL ? (size_t)(end - start) : strlen(start);
                if (size < line_size) {
                    memcpy(line, start, size);
                    line[size] = '\0';
                    bool all = true;
                    for (size_t i = 0; all && needles[i] != NULL; i++)
                        all = strstr(line, needles[i]) != NULL;
                    if (all)
                        return true;
                }
                start += size + (end != NULL);
            }
        }
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    line[0] = '\0';
    return false;
}

/* The audit line of the request that answered res. */
static bool S_audit_line(const struct test_daemon *daemon, const struct client_response *res,
                         const char *event, char *line, size_t line_size)
{
    char req[128];
    char ev[96];
    snprintf(req, sizeof req, "req=%s ", api_header(res, "X-Request-Id"));
    snprintf(ev, sizeof ev, "event=%s ", event);
    const char *needles[] = {req, ev, NULL};
    return S_log_line(daemon, needles, line, line_size);
}

/* An operator's request to path with body; its answer's status must be
 * want, and line receives the audit line event it left. */
static void S_admin_change(const struct test_daemon *daemon, struct client *client,
                           const char *admin, const char *method, const char *path,
                           const char *body, long want, const char *event, char *line)
{
    struct client_response res;
    long status = api_call(client, method, path, admin, body, &res);
    if (status != want)
        TEST_FAIL_("%s %s answered %ld, not %ld", method, path, status, want);
    bool found = S_audit_line(daemon, &res, event, line, S_LINE_SIZE_MAX);
    client_response_release(&res);
    if (!found)
        TEST_FAIL_("%s %s left no %s line", method, path, event);
}

TEST(user_changes_name_a_kyc_level_only_when_setting_one)
{
    // An operator reading the audit trail must not be told a user's KYC level is 0 when it is
    // not: only the kyc_level action names a level (the one asked for); a freeze names none.
    struct api_user u;
    API_MUST(api_user_new(&S_client, S_admin, &u));
    API_MUST(api_user_verify(&S_client, &u, "张三")); /* level 2 */
    char path[128];
    char line[S_LINE_SIZE_MAX];
    char want[256];

    snprintf(path, sizeof path, "/admin/users/%s/kyc-level", u.id);
    S_admin_change(&S_main, &S_client, S_admin, "PUT", path, "{\"kyc_level\":3}", 200,
                   "admin.user_changed", line);
    snprintf(want, sizeof want,
             "event=admin.user_changed action=kyc_level user_id=%s kyc_level=3 result=ok", u.id);
    ASSERT(strstr(line, want) != NULL);

    snprintf(path, sizeof path, "/admin/users/%s/freeze", u.id);
    S_admin_change(&S_main, &S_client, S_admin, "POST", path, NULL, 200, "admin.user_changed",
                   line);
    snprintf(want, sizeof want, "event=admin.user_changed action=freeze user_id=%s result=ok",
             u.id);
    ASSERT(strstr(line, want) != NULL);
    ASSERT(strstr(line, "kyc_level") == NULL);

    snprintf(path, sizeof path, "/admin/users/%s/unfreeze", u.id);
    S_admin_change(&S_main, &S_client, S_admin, "POST", path, NULL, 200, "admin.user_changed",
                   line);
    snprintf(want, sizeof want, "event=admin.user_changed action=unfreeze user_id=%s result=ok",
             u.id);
    ASSERT(strstr(line, want) != NULL);
    ASSERT(strstr(line, "kyc_level") == NULL);
}

TEST(operator_changes_are_logged_at_any_level)
{
    // An operator who runs the daemon with --log-level warn must still find every change made
    // through the admin API in the log: the audit trail cannot depend on verbosity.
    struct api_user u;
    API_MUST(api_user_new(&S_quiet_client, S_quiet_admin, &u));
    char path[128];
    char line[S_LINE_SIZE_MAX];
    char want[256];

    snprintf(path, sizeof path, "/admin/users/%s/freeze", u.id);
    S_admin_change(&S_quiet, &S_quiet_client, S_quiet_admin, "POST", path, NULL, 200,
                   "admin.user_changed", line);
    ASSERT(strstr(line, "level=audit ") != NULL);
    snprintf(want, sizeof want, "event=admin.user_changed action=freeze user_id=%s result=ok",
             u.id);
    ASSERT(strstr(line, want) != NULL);

    snprintf(path, sizeof path, "/admin/users/%s/unfreeze", u.id);
    S_admin_change(&S_quiet, &S_quiet_client, S_quiet_admin, "POST", path, NULL, 200,
                   "admin.user_changed", line);
    ASSERT(strstr(line, "level=audit ") != NULL);

    snprintf(path, sizeof path, "/admin/users/%s/kyc-level", u.id);
    S_admin_change(&S_quiet, &S_quiet_client, S_quiet_admin, "PUT", path, "{\"kyc_level\":1}", 409,
                   "admin.user_changed", line);
    ASSERT(strstr(line, "level=audit ") != NULL);
    ASSERT(strstr(line, "action=kyc_level") != NULL && strstr(line, "result=CONFLICT") != NULL);

    S_admin_change(&S_quiet, &S_quiet_client, S_quiet_admin, "POST", "/admin/merchants",
                   "{\"name\":\"Audit Shop\"}", 201, "merchant.created", line);
    ASSERT(strstr(line, "level=audit ") != NULL);
    const char *mchid = strstr(line, "mchid=");
    ASSERT(mchid != NULL);
    char mchid_value[64];
    ASSERT(sscanf(mchid, "mchid=%63s", mchid_value) == 1);
    snprintf(path, sizeof path, "/admin/merchants/%s/apps", mchid_value);
    S_admin_change(&S_quiet, &S_quiet_client, S_quiet_admin, "POST", path, NULL, 201,
                   "merchant.app_added", line);
    ASSERT(strstr(line, "level=audit ") != NULL);

    S_admin_change(&S_quiet, &S_quiet_client, S_quiet_admin, "POST", "/admin/ledger/verification",
                   NULL, 202, "ledger.verify_started", line);
    ASSERT(strstr(line, "level=audit ") != NULL);

    /* The level did filter: no access line, nothing at info. */
    ASSERT(test_file_read(S_quiet.log_path, S_log, sizeof S_log));
    ASSERT(strstr(S_log, "event=http.request") == NULL);
    ASSERT(strstr(S_log, "level=info") == NULL);
}

int main(void)
{
    struct api_suite suite;
    api_suite_begin(&suite, S_root, sizeof S_root);
    if (!api_suite_daemon(&suite, &S_main, "main", NULL, S_admin, &S_client))
        return api_suite_end(&suite);
    const char *quiet_args[] = {"--log-level", "warn", NULL};
    if (!api_suite_daemon(&suite, &S_quiet, "quiet", quiet_args, S_quiet_admin, &S_quiet_client))
        return api_suite_end(&suite);
    RUN(user_changes_name_a_kyc_level_only_when_setting_one);
    RUN(operator_changes_are_logged_at_any_level);
    return api_suite_end(&suite);
}

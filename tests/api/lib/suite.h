/*
 * suite.h — the life of an API test program around its RUN list.
 *
 * Every API test program does the same around its cases: a temporary
 * directory, one or more qianbaod started in it, a client each, then the
 * cases; at the end the clients released, the daemons stopped with their
 * exit checked, and the directory removed when all passed or kept (with the
 * daemons' logs) when anything failed. The suite does that one way for all:
 *
 *   static char S_root[512];
 *   static struct test_daemon S_daemon;
 *   static struct client S_client;
 *   static char S_admin[API_TOKEN_SIZE_MAX];
 *
 *   int main(void)
 *   {
 *       struct api_suite suite;
 *       api_suite_begin(&suite, S_root, sizeof S_root);
 *       const char *args[] = {"--session-idle-s", "60", NULL};
 *       if (!api_suite_daemon(&suite, &S_daemon, "idle", args, S_admin, &S_client))
 *           return api_suite_end(&suite);
 *       RUN(a_session_in_use_outlives_the_idle_timeout);
 *       return api_suite_end(&suite);
 *   }
 *
 * What counts as a failure, besides a failed case, and is printed as a
 * "FAIL" line like one: a daemon that does not start (with api_error()), a
 * setup step that does not succeed (api_suite_step), a daemon that does not
 * exit 0 on SIGTERM at the end (with its status; test_daemon_stop shows its
 * log), and a ledger that does not verify (api_suite_verify_ledger). The
 * last line printed is always test_summary()'s "N passed, N failed".
 *
 * The suite holds pointers to the test's own daemon and client variables,
 * so a case may restart a daemon or start a new client in them: the end
 * stops whatever process the variable holds then. A variable whose process
 * a case ended (pid 0) is left alone: that case checked the exit itself.
 */
#ifndef QB_TESTS_API_SUITE_H
#define QB_TESTS_API_SUITE_H

#include <stdbool.h>
#include <stddef.h>

#include "api/lib/api.h"
#include "api/lib/client.h"
#include "api/lib/daemon.h"

#define API_SUITE_DAEMONS_MAX 4
#define API_SUITE_NAME_SIZE_MAX 64
#define API_SUITE_LOG_TAIL_SIZE 4000 /* of each daemon's log, shown on failure */

struct api_suite_daemon {
    struct test_daemon *daemon;
    struct client *client; /* NULL: none */
    char name[API_SUITE_NAME_SIZE_MAX];
    bool stopped_uncleanly; /* its log was shown when it stopped */
};

struct api_suite {
    char *root; /* the test's own buffer, filled by api_suite_begin */
    struct api_suite_daemon daemons[API_SUITE_DAEMONS_MAX];
    size_t daemon_count;
    bool stopped;
};

/* Makes a fresh temporary directory into root (test_tmpdir). */
void api_suite_begin(struct api_suite *suite, char *root, size_t root_size);

/* Starts a qianbaod on ROOT/NAME with extra_args (api_daemon_start: log
 * ROOT/NAME.log, admin token into admin_token), points client (NULL: none)
 * at it, and has the suite stop both at the end. A daemon that does not
 * start is a failure ("FAIL qianbaod_starts (NAME): <api_error()>"); false
 * then, and the cases should not run. */
bool api_suite_daemon(struct api_suite *suite, struct test_daemon *daemon, const char *name,
                      const char *const *extra_args, char *admin_token, struct client *client);

/* Has the suite release client (NULL: none) and stop daemon at the end, for
 * a daemon the test starts itself (in main or in its cases); name is what
 * the failure lines call it. */
void api_suite_watch(struct api_suite *suite, struct test_daemon *daemon, const char *name,
                     struct client *client);

/* A setup step before the cases (onboarding a merchant, funding a user):
 * when ok is false, "FAIL <what>: <api_error()>" (the reason the last api
 * helper gave, if any) counts as a failure. Answers ok, for a chain of &&
 * before the RUN list. */
bool api_suite_step(bool ok, const char *what);

/* Releases the clients and stops every daemon still running (SIGTERM); an
 * exit other than 0 is "FAIL daemon_stops_cleanly (NAME: STATUS)". Once:
 * api_suite_end calls it when the test did not. For checks that need the
 * daemons stopped before the end (api_suite_verify_ledger). */
void api_suite_stop(struct api_suite *suite);

/* After api_suite_stop: runs qianbaod --verify on daemon's data directory
 * (output in DATA_DIR-verify.log); anything but exit 0 is "FAIL
 * ledger_verifies (NAME: STATUS)". */
void api_suite_verify_ledger(struct api_suite *suite, const struct test_daemon *daemon);

/* api_suite_stop, then: when everything passed, removes the directory; when
 * anything failed, keeps it, prints its path, each daemon's log path and the
 * log's last API_SUITE_LOG_TAIL_SIZE bytes. Answers test_summary(). */
int api_suite_end(struct api_suite *suite);

#endif

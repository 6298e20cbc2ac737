/*
 * suite.c — the helpers of suite.h, on daemon.c, api.c and test.h.
 */
#include "api/lib/suite.h"

#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "test.h"

void api_suite_begin(struct api_suite *suite, char *root, size_t root_size)
{
    memset(suite, 0, sizeof *suite);
    test_tmpdir(root, root_size);
    suite->root = root;
}

void api_suite_watch(struct api_suite *suite, struct test_daemon *daemon, const char *name,
                     struct client *client)
{
    QB_ASSERT(suite->daemon_count < API_SUITE_DAEMONS_MAX);
    struct api_suite_daemon *entry = &suite->daemons[suite->daemon_count++];
    entry->daemon = daemon;
    entry->client = client;
    snprintf(entry->name, sizeof entry->name, "%s", name);
}

bool api_suite_daemon(struct api_suite *suite, struct test_daemon *daemon, const char *name,
                      const char *const *extra_args, char *admin_token, struct client *client)
{
    if (!api_daemon_start(daemon, suite->root, name, extra_args, admin_token)) {
        fprintf(stderr, "FAIL qianbaod_starts (%s): %s\n", name, api_error());
        test_failed_count++;
        return false;
    }
    if (client != NULL)
        client_init(client, daemon->base_url);
    api_suite_watch(suite, daemon, name, client);
    return true;
}

bool api_suite_step(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "FAIL %s%s%s\n", what, api_error()[0] != '\0' ? ": " : "", api_error());
        test_failed_count++;
    }
    return ok;
}

void api_suite_stop(struct api_suite *suite)
{
    if (suite->stopped)
        return;
    suite->stopped = true;
    for (size_t i = 0; i < suite->daemon_count; i++) {
        struct api_suite_daemon *entry = &suite->daemons[i];
        if (entry->client != NULL)
            client_release(entry->client);
        if (entry->daemon->pid == 0)
            continue; /* a case ended it and checked how */
        int status = test_daemon_stop(entry->daemon);
        if (status != 0) {
            fprintf(stderr, "FAIL daemon_stops_cleanly (%s: %d)\n", entry->name, status);
            test_failed_count++;
            entry->stopped_uncleanly = true;
        }
    }
}

void api_suite_verify_ledger(struct api_suite *suite, const struct test_daemon *daemon)
{
    const char *name = daemon->data_dir;
    for (size_t i = 0; i < suite->daemon_count; i++)
        if (suite->daemons[i].daemon == daemon)
            name = suite->daemons[i].name;
    char output[TEST_DAEMON_PATH_SIZE_MAX + 16];
    snprintf(output, sizeof output, "%s-verify.log", daemon->data_dir);
    const char *args[] = {"--data-dir", daemon->data_dir, "--verify", NULL};
    int status = test_daemon_run(args, output, 30000);
    if (status != 0) {
        fprintf(stderr, "FAIL ledger_verifies (%s: %d); its output in %s\n", name, status, output);
        test_failed_count++;
    }
}

/* The last API_SUITE_LOG_TAIL_SIZE bytes of the log at path, to stderr. */
static void S_log_tail_show(const char *name, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return;
    static char tail[API_SUITE_LOG_TAIL_SIZE + 1];
    size_t size = 0;
    if (fseek(f, 0, SEEK_END) == 0) {
        long end = ftell(f);
        long from = end > API_SUITE_LOG_TAIL_SIZE ? end - API_SUITE_LOG_TAIL_SIZE : 0;
        if (end >= 0 && fseek(f, from, SEEK_SET) == 0)
            size = fread(tail, 1, API_SUITE_LOG_TAIL_SIZE, f);
    }
    fclose(f);
    tail[size] = '\0';
    const char *start = tail;
    const char *newline = size == API_SUITE_LOG_TAIL_SIZE ? strchr(tail, '\n') : NULL;
    if (newline != NULL) /* from the first whole line */
        start = newline + 1;
    fprintf(stderr, "--- the last lines of %s's log ---\n%s--- end of %s's log ---\n", name, start,
            name);
}

int api_suite_end(struct api_suite *suite)
{
    api_suite_stop(suite);
    if (test_failed_count == 0) {
        test_rmtree(suite->root);
        return test_summary();
    }
    for (size_t i = 0; i < suite->daemon_count; i++) {
        const struct api_suite_daemon *entry = &suite->daemons[i];
        if (entry->daemon->log_path[0] == '\0')
            continue;                  /* never started */
        if (!entry->stopped_uncleanly) /* else test_daemon_stop showed it */
            S_log_tail_show(entry->name, entry->daemon->log_path);
        fprintf(stderr, "daemon log of %s kept in %s\n", entry->name, entry->daemon->log_path);
    }
    fprintf(stderr, "test directory kept in %s\n", suite->root);
    return test_summary();
}

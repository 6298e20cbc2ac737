/*
 * crash.c — the crash points of crash.h.
 */
#include "base/crash.h"

#ifdef QB_TEST_HOOKS

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"

static const char *S_name;
static char S_slow_name[64];
static long S_slow_ms;
static pthread_once_t S_once = PTHREAD_ONCE_INIT;

static void S_read_environment(void)
{
    const char *name = getenv("QIANBAO_TEST_CRASH");
    S_name = name != NULL && name[0] != '\0' ? name : NULL;
    /* NAME:MS */
    const char *slow = getenv("QIANBAO_TEST_SLOW");
    const char *colon = slow != NULL ? strchr(slow, ':') : NULL;
    if (colon != NULL && colon > slow && (size_t)(colon - slow) < sizeof S_slow_name) {
        char *end = NULL;
        long ms = strtol(colon + 1, &end, 10);
        if (end != colon + 1 && *end == '\0' && ms > 0 && ms <= 60000) {
            memcpy(S_slow_name, slow, (size_t)(colon - slow));
            S_slow_ms = ms;
        }
    }
}

void qb_slow_point(const char *name)
{
    pthread_once(&S_once, S_read_environment);
    if (S_slow_ms == 0 || strcmp(S_slow_name, name) != 0)
        return;
    log_event(LOG_INFO, "test.slow_point", "name=%s ms=%ld", name, S_slow_ms);
    struct timespec ts = {S_slow_ms / 1000, (S_slow_ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

void qb_crash_point(const char *name)
{
    pthread_once(&S_once, S_read_environment);
    if (S_name == NULL || strcmp(S_name, name) != 0)
        return;
    log_event(LOG_WARN, "test.crash_point", "name=%s", name);
    kill(getpid(), SIGKILL);
    pause(); /* SIGKILL cannot be caught: never returns */
}

#else
/* Release builds: nothing (ISO C wants one declaration per file). */
typedef int qb_crash_points_not_built;
#endif

/*
 * crash.c — the crash points of crash.h.
 */
#include "base/crash.h"

#ifdef QB_TEST_HOOKS

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"

static const char *S_name;
static pthread_once_t S_once = PTHREAD_ONCE_INIT;

static void S_read_environment(void)
{
    const char *name = getenv("QIANBAO_TEST_CRASH");
    S_name = name != NULL && name[0] != '\0' ? name : NULL;
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

/*
 * test_thread.c — the timed waits of the daemon's threads.
 *
 * A wait made with thread_cond_init and thread_deadline runs on the
 * monotonic clock: a system clock set back does not stretch it. Here: the
 * deadline is on the clock the condition waits by, so the wait ends when
 * it should, neither at once nor never.
 */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "base/clock.h"
#include "base/thread.h"
#include "test.h"

TEST(a_timed_wait_ends_at_its_deadline)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond;
    thread_cond_init(&cond);
    pthread_mutex_lock(&lock);
    int64_t started_ns = clock_monotonic_ns();
    struct timespec until = thread_deadline(120);
    int rc = 0;
    while (rc == 0) /* a spurious wake-up waits again, to the same deadline */
        rc = pthread_cond_timedwait(&cond, &lock, &until);
    int64_t waited_ms = (clock_monotonic_ns() - started_ns) / 1000000;
    pthread_mutex_unlock(&lock);
    pthread_cond_destroy(&cond);
    ASSERT_EQ_INT(rc, ETIMEDOUT);
    ASSERT(waited_ms >= 119);
    ASSERT(waited_ms < 5000);
}

TEST(deadlines_carry_their_milliseconds_into_seconds)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    struct timespec at = thread_deadline(1999);
    int64_t ms = ((int64_t)at.tv_sec - now.tv_sec) * 1000 + (at.tv_nsec - now.tv_nsec) / 1000000;
    ASSERT(at.tv_nsec >= 0 && at.tv_nsec < 1000000000L);
    ASSERT(ms >= 1998 && ms <= 2100);
}

int main(void)
{
    RUN(a_timed_wait_ends_at_its_deadline);
    RUN(deadlines_carry_their_milliseconds_into_seconds);
    return test_summary();
}

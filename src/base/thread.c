#define _GNU_SOURCE /* pthread_setname_np, sched_getaffinity */
/*
 * thread.c — names for the daemon's threads, and the CPUs they may use
 * (thread.h).
 */
#include "base/thread.h"

#include <sched.h>
#include <stdarg.h>
#include <stdio.h>

#include "base/assert.h"

void thread_name(pthread_t thread, const char *fmt, ...)
{
    char name[16]; /* the kernel's TASK_COMM_LEN, its NUL included */
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    (void)pthread_setname_np(thread, name);
}

bool thread_start(pthread_t *thread, int cpu, void *(*main)(void *), void *arg)
{
    if (cpu < 0)
        return pthread_create(thread, NULL, main, arg) == 0;
    if (!thread_cpu_allowed(cpu))
        return false;
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return false;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET((size_t)cpu, &set);
    bool started = pthread_attr_setaffinity_np(&attr, sizeof set, &set) == 0 &&
                   pthread_create(thread, &attr, main, arg) == 0;
    pthread_attr_destroy(&attr);
    return started;
}

bool thread_cpu_allowed(int cpu)
{
    cpu_set_t set;
    return cpu >= 0 && cpu < CPU_SETSIZE && sched_getaffinity(0, sizeof set, &set) == 0 &&
           CPU_ISSET((size_t)cpu, &set);
}

void thread_cpus_allowed_text(char *out, size_t out_size)
{
    QB_ASSERT(out != NULL && out_size > 0);
    out[0] = '\0';
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return;
    size_t used = 0;
    for (size_t cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &set))
            continue;
        size_t last = cpu;
        while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, &set))
            last++;
        int n = last == cpu ? snprintf(out + used, out_size - used, "%s%zu", used ? "," : "", cpu)
                            : snprintf(out + used, out_size - used, "%s%zu-%zu", used ? "," : "",
                                       cpu, last);
        if (n < 0 || (size_t)n >= out_size - used) {
            out[used] = '\0'; /* what fits, whole ranges only */
            return;
        }
        used += (size_t)n;
        cpu = last;
    }
}

void thread_cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    QB_ASSERT(pthread_condattr_init(&attr) == 0);
    QB_ASSERT(pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0);
    QB_ASSERT(pthread_cond_init(cond, &attr) == 0);
    pthread_condattr_destroy(&attr);
}

struct timespec thread_deadline(int64_t ms)
{
    QB_ASSERT(ms >= 0);
    struct timespec at;
    QB_ASSERT(clock_gettime(CLOCK_MONOTONIC, &at) == 0);
    at.tv_sec += (time_t)(ms / 1000);
    at.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (at.tv_nsec >= 1000000000L) {
        at.tv_sec++;
        at.tv_nsec -= 1000000000L;
    }
    return at;
}

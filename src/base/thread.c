#define _GNU_SOURCE /* pthread_setname_np */
/*
 * thread.c — names for the daemon's threads (thread.h).
 */
#include "base/thread.h"

#include <stdarg.h>
#include <stdio.h>

void thread_name(pthread_t thread, const char *fmt, ...)
{
    char name[16]; /* the kernel's TASK_COMM_LEN, its NUL included */
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    (void)pthread_setname_np(thread, name);
}

/*
 * thread.h — names for the daemon's threads.
 *
 * Every thread Qianbao starts carries a name beginning "qb-" (qb-ledger,
 * qb-syncer, qb-http-0, ...), so that top -H, ps -L, perf and gdb tell an
 * operator which part of the daemon is busy or stuck. docs/operations.md
 * lists them.
 */
#ifndef QB_BASE_THREAD_H
#define QB_BASE_THREAD_H

#include <pthread.h>

/* Names the thread, printf-style; the kernel keeps the first 15 bytes.
 * Naming is a help, never a need: a failure is ignored. */
void thread_name(pthread_t thread, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

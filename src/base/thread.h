/*
 * thread.h — names for the daemon's threads, and the CPUs they may use.
 *
 * Every thread Qianbao starts carries a name beginning "qb-" (qb-ledger,
 * qb-syncer, qb-http-0, ...), so that top -H, ps -L, perf and gdb tell an
 * operator which part of the daemon is busy or stuck. docs/operations.md
 * lists them. And the timed waits they make: on the monotonic clock, so
 * that a system clock set back does not stretch one by as much.
 */
#ifndef QB_BASE_THREAD_H
#define QB_BASE_THREAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Names the thread, printf-style; the kernel keeps the first 15 bytes.
 * Naming is a help, never a need: a failure is ignored. */
void thread_name(pthread_t thread, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* pthread_create with default attributes, and with cpu >= 0 the thread
 * runs on that CPU only, from its first instruction. False when it did not
 * start (a cpu the process may not use is refused so). */
bool thread_start(pthread_t *thread, int cpu, void *(*main)(void *), void *arg);

/* Whether this process may run on cpu: its affinity, as taskset or a
 * container's cpuset left it. */
bool thread_cpu_allowed(int cpu);
/* Those CPUs as a list ("0-1", "0,2-3"), for a message; "" when unknown. */
void thread_cpus_allowed_text(char *out, size_t out_size);

/* pthread_cond_init for a condition whose timed waits end at a deadline of
 * thread_deadline (CLOCK_MONOTONIC). */
void thread_cond_init(pthread_cond_t *cond);
/* The deadline ms milliseconds from now, for pthread_cond_timedwait on a
 * condition of thread_cond_init. */
struct timespec thread_deadline(int64_t ms);

#endif

/*
 * crash.h — test builds only (QB_TEST_HOOKS): named places where the
 * daemon can be made to die as if the power went out, to test that
 * nothing acknowledged is lost and nothing is done twice when it dies at
 * the worst moment (tests/api/test_crash_points.c).
 *
 *   QB_CRASH_POINT("transfer.before_reply");
 *
 * With QIANBAO_TEST_CRASH=NAME in the environment, the first thread to
 * reach the point of that name logs test.crash_point and sends itself
 * SIGKILL: no handler, no flush, no clean-up runs. Without the variable,
 * or in release builds (where the macro is empty), nothing happens.
 * The points: transfer.in_command (inside the ledger transaction, before
 * commit), transfer.before_reply (committed, not answered),
 * redpacket.refund_in_command, redpacket.refund_committed,
 * notify.after_delivery (a merchant answered 2xx, the attempt not recorded),
 * fingerprints.between_batches (a batch of stored request fingerprints
 * keyed and committed, more to key).
 *
 *   QB_SLOW_POINT("statement");
 *
 * With QIANBAO_TEST_SLOW=NAME:MS, each thread reaching the point of that
 * name sleeps MS milliseconds there (at most a minute): slow work made
 * slow on purpose, to test that it holds nothing else up. The points:
 * statement (a wallet's statement, on the report thread).
 */
#ifndef QB_BASE_CRASH_H
#define QB_BASE_CRASH_H

#ifdef QB_TEST_HOOKS
void qb_crash_point(const char *name);
void qb_slow_point(const char *name);
#define QB_CRASH_POINT(name) qb_crash_point(name)
#define QB_SLOW_POINT(name) qb_slow_point(name)
#else
#define QB_CRASH_POINT(name) ((void)0)
#define QB_SLOW_POINT(name) ((void)0)
#endif

#endif

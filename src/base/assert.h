/*
 * assert.h — assertions that stay on in every build.
 *
 * Owns: QB_ASSERT, the only assertion macro in Qianbao. It is never compiled
 * out (release builds included): a wallet that carries on after its books
 * stopped balancing is worse than one that stops. Use it for programmer errors
 * and ledger invariants only; input from clients, files or the database is
 * validated and answered with an error value, never asserted.
 */
#ifndef QB_BASE_ASSERT_H
#define QB_BASE_ASSERT_H

_Noreturn void qb_assert_fail(const char *expr, const char *file, int line, const char *func);

#define QB_ASSERT(expr) \
    ((expr) ? (void)0 : qb_assert_fail(#expr, __FILE__, __LINE__, __func__))

/* Marks a branch that the code handles but that no known input should reach. */
#define QB_UNREACHABLE() qb_assert_fail("unreachable", __FILE__, __LINE__, __func__)

#define QB_ARRAY_COUNT(a) (sizeof(a) / sizeof((a)[0]))

#define QB_MUST_USE __attribute__((warn_unused_result))

#endif

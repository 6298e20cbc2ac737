/*
 * assert.c — the one place an assertion failure ends the program.
 *
 * The report is built in a stack buffer and written with one write(2) so it
 * survives a corrupted heap or a broken stdio, then abort() leaves a core for
 * the post-mortem. Nothing here allocates or takes a lock.
 */
#include "base/assert.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

_Noreturn void qb_assert_fail(const char *expr, const char *file, int line, const char *func)
{
    char text[1024];
    int n = snprintf(text, sizeof text, "assertion failed: %s (%s:%d in %s)\n", expr, file, line,
                     func);
    if (n > 0) {
        size_t len = (size_t)n < sizeof text ? (size_t)n : sizeof text - 1;
        ssize_t written = write(STDERR_FILENO, text, len);
        (void)written; /* nothing better to do: we are about to abort */
    }
    abort();
}

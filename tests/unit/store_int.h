/*
 * store_int.h — the one integer a query answers (a count, a sum), read
 * through the store as the code under test reads it; for tests.
 */
#ifndef QB_TESTS_UNIT_STORE_INT_H
#define QB_TESTS_UNIT_STORE_INT_H

#include <stdint.h>

#include "store/store.h"
#include "test.h"

static inline int64_t test_store_int(struct store *store, const char *sql)
{
    struct store_stmt *st = NULL;
    ASSERT_EQ_INT(store_prepare(store, sql, &st), QB_OK);
    ASSERT_EQ_INT(store_step(st), STORE_STEP_ROW);
    int64_t n = store_column_int64(st, 0);
    store_finalize(st);
    return n;
}

#endif

/*
 * test.h — the tiny test harness of Qianbao's C tests.
 *
 * Each test program defines its cases with TEST(name) and lists them in
 * main() with RUN(name). An ASSERT_* failure prints the expression and both
 * sides, then ends the case (the program goes on to the next case and exits
 * 1 at the end). The last line a program prints is "N passed, N failed".
 *
 *   TEST(money_parses_fen) {
 *       // "12.34" CNY is 1234 fen: the most common amount shape.
 *       int64_t v;
 *       ASSERT_EQ_INT(money_parse("12.34", 5, cny, &v), QB_OK);
 *       ASSERT_EQ_INT(v, 1234);
 *   }
 *   int main(void) { RUN(money_parses_fen); return test_summary(); }
 */
#ifndef QB_TESTS_TEST_H
#define QB_TESTS_TEST_H

#include <inttypes.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

extern int test_passed_count;
extern int test_failed_count;
extern jmp_buf test_jump;
extern const char *test_current_name;

#define TEST(name) static void test_##name(void)

#define RUN(name)                                                    \
    do {                                                             \
        test_current_name = #name;                                   \
        if (setjmp(test_jump) == 0) {                                \
            test_##name();                                           \
            test_passed_count++;                                     \
            fprintf(stderr, "ok   %s\n", #name);                     \
        } else {                                                     \
            test_failed_count++;                                     \
            fprintf(stderr, "FAIL %s\n", #name);                     \
        }                                                            \
    } while (0)

#define TEST_FAIL_(...)                                              \
    do {                                                             \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);            \
        fprintf(stderr, __VA_ARGS__);                                \
        fprintf(stderr, "\n");                                       \
        longjmp(test_jump, 1);                                       \
    } while (0)

#define ASSERT(expr)                                                 \
    do {                                                             \
        if (!(expr))                                                 \
            TEST_FAIL_("assertion failed: %s", #expr);               \
    } while (0)

#define ASSERT_EQ_INT(a, b)                                                              \
    do {                                                                                 \
        intmax_t a_ = (intmax_t)(a), b_ = (intmax_t)(b);                                 \
        if (a_ != b_)                                                                    \
            TEST_FAIL_("%s == %s: %jd != %jd", #a, #b, a_, b_);                          \
    } while (0)

#define ASSERT_NE_INT(a, b)                                                              \
    do {                                                                                 \
        intmax_t a_ = (intmax_t)(a), b_ = (intmax_t)(b);                                 \
        if (a_ == b_)                                                                    \
            TEST_FAIL_("%s != %s: both %jd", #a, #b, a_);                                \
    } while (0)

#define ASSERT_EQ_STR(a, b)                                                              \
    do {                                                                                 \
        const char *a_ = (a), *b_ = (b);                                                 \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                             \
            TEST_FAIL_("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)",         \
                       b_ ? b_ : "(null)");                                              \
    } while (0)

/* Prints "N passed, N failed" and answers the exit status. */
int test_summary(void);

/* A fresh empty directory under $TMPDIR (or /tmp) for this test; the path
 * is written into buf. Aborts the program when it cannot be made. */
void test_tmpdir(char *buf, size_t buf_size);
/* Removes a directory tree made by test_tmpdir. */
void test_rmtree(const char *path);

/* The test's seed: $QB_TEST_SEED when set, else from the clock; printed so a
 * failure can be replayed with QB_TEST_SEED=<seed>. */
uint64_t test_seed(void);

#endif

/*
 * test_assert.c — QB_ASSERT stays on and stops the program loudly.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/assert.h"
#include "test.h"

static volatile int counter;

/* Runs QB_ASSERT(value != 0) in a child; returns its wait status. The child's
 * stderr goes to pipe_fd so the report can be checked. */
static int assert_in_child(int value, int pipe_fd)
{
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        dup2(pipe_fd, STDERR_FILENO);
        QB_ASSERT(value != 0);
        _exit(7);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid)
        abort();
    return status;
}

TEST(failed_assert_aborts_with_report)
{
    // Even in a release build (NDEBUG is set in RelWithDebInfo) a false
    // assertion aborts and names the expression, file and function.
    int fds[2];
    ASSERT_EQ_INT(pipe(fds), 0);
    int status = assert_in_child(0, fds[1]);
    close(fds[1]);
    char report[1024];
    ssize_t n = read(fds[0], report, sizeof report - 1);
    close(fds[0]);
    ASSERT(WIFSIGNALED(status));
    ASSERT_EQ_INT(WTERMSIG(status), SIGABRT);
    ASSERT(n > 0);
    report[n] = '\0';
    ASSERT(strstr(report, "assertion failed: value != 0") != NULL);
    ASSERT(strstr(report, "test_assert.c") != NULL);
    ASSERT(strstr(report, "assert_in_child") != NULL);
}

TEST(true_assert_continues)
{
    // A true assertion has no effect beyond evaluating its expression once.
    int fds[2];
    ASSERT_EQ_INT(pipe(fds), 0);
    int status = assert_in_child(1, fds[1]);
    close(fds[0]);
    close(fds[1]);
    ASSERT(WIFEXITED(status));
    ASSERT_EQ_INT(WEXITSTATUS(status), 7);
    counter = 0;
    QB_ASSERT(++counter == 1);
    ASSERT_EQ_INT(counter, 1);
}

TEST(array_count)
{
    // QB_ARRAY_COUNT counts elements, not bytes.
    int64_t values[5];
    char text[3];
    ASSERT_EQ_INT(QB_ARRAY_COUNT(values), 5);
    ASSERT_EQ_INT(QB_ARRAY_COUNT(text), 3);
    (void)values;
    (void)text;
}

int main(void)
{
    RUN(failed_assert_aborts_with_report);
    RUN(true_assert_continues);
    RUN(array_count);
    return test_summary();
}

/*
 * daemon.c — fork and exec qianbaod, wait for it to listen, stop it.
 *
 * Every wait here is a poll with a deadline, so a daemon that hangs fails
 * the test instead of hanging the suite.
 */
#include "api/lib/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S_ARGS_MAX 32

extern char **environ;
#define S_POLL_MS 10

const char *test_daemon_binary(void)
{
    static char path[TEST_DAEMON_PATH_SIZE_MAX];
    const char *dir = getenv("QB_BUILD_DIR");
    snprintf(path, sizeof path, "%s/qianbaod", dir != NULL && dir[0] != '\0' ? dir : ".");
    return path;
}

static void S_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

bool test_file_read(const char *path, char *buf, size_t buf_size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return false;
    size_t size = fread(buf, 1, buf_size - 1, f);
    buf[size] = '\0';
    /* A file cut to the buffer would pass every "not in the log" check on
     * what it left out. */
    bool whole = size < buf_size - 1 || fgetc(f) == EOF;
    fclose(f);
    if (!whole)
        fprintf(stderr, "  %s is larger than the %zu bytes read\n", path, buf_size - 1);
    return whole;
}

bool test_daemon_admin_token(const struct test_daemon *daemon, char *buf, size_t buf_size)
{
    char path[TEST_DAEMON_PATH_SIZE_MAX + 32];
    snprintf(path, sizeof path, "%s/admin-token", daemon->data_dir);
    if (!test_file_read(path, buf, buf_size))
        return false;
    buf[strcspn(buf, "\r\n")] = '\0';
    return buf[0] != '\0';
}

/* Forks and execs the binary with argv[1..] = args, output to output_path. */
static pid_t S_spawn(const char *const *args, const char *output_path)
{
    const char *argv[S_ARGS_MAX + 2];
    size_t argc = 0;
    argv[argc++] = test_daemon_binary();
    for (size_t i = 0; args != NULL && args[i] != NULL && argc < S_ARGS_MAX; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;

    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int out = open(output_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out < 0 || in < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
        _exit(126);
    execv(argv[0], (char *const *)argv);
    _exit(127);
}

/* Waits for pid until timeout_ms; the exit status, -1 for a signal, -2
 * while it still runs. */
static int S_wait(pid_t pid, int timeout_ms)
{
    for (int waited_ms = 0;; waited_ms += S_POLL_MS) {
        int status;
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid) {
            if (WIFSIGNALED(status))
                fprintf(stderr, "qianbaod (pid %ld) died of signal %d\n", (long)pid,
                        WTERMSIG(status));
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        if (done < 0 && errno != EINTR)
            return -1;
        if (waited_ms >= timeout_ms)
            return -2;
        S_sleep_ms(S_POLL_MS);
    }
}

bool test_daemon_start(struct test_daemon *daemon, const char *data_dir, const char *log_path,
                       const char *const *extra_args)
{
    memset(daemon, 0, sizeof *daemon);
    snprintf(daemon->data_dir, sizeof daemon->data_dir, "%s", data_dir);
    snprintf(daemon->log_path, sizeof daemon->log_path, "%s", log_path);
    char address_path[TEST_DAEMON_PATH_SIZE_MAX + 32];
    snprintf(address_path, sizeof address_path, "%s/listen-address", data_dir);
    unlink(address_path);

    const char *args[S_ARGS_MAX + 1];
    size_t argc = 0;
    args[argc++] = "--data-dir";
    args[argc++] = data_dir;
    args[argc++] = "--listen";
    args[argc++] = "127.0.0.1:0";
    for (size_t i = 0; extra_args != NULL && extra_args[i] != NULL && argc < S_ARGS_MAX; i++)
        args[argc++] = extra_args[i];
    args[argc] = NULL;
    daemon->pid = S_spawn(args, log_path);
    if (daemon->pid < 0) {
        fprintf(stderr, "test_daemon_start: fork: %s\n", strerror(errno));
        daemon->pid = 0;
        return false;
    }

    for (int waited_ms = 0; waited_ms < TEST_DAEMON_START_TIMEOUT_MS; waited_ms += S_POLL_MS) {
        int status = S_wait(daemon->pid, 0);
        if (status != -2) {
            fprintf(stderr,
                    "test_daemon_start: qianbaod exited with %d before listening (log: %s)\n",
                    status, log_path);
            daemon->pid = 0;
            return false;
        }
        char address[sizeof daemon->address];
        if (test_file_read(address_path, address, sizeof address) &&
            strchr(address, '\n') != NULL) {
            address[strcspn(address, "\n")] = '\0';
            snprintf(daemon->address, sizeof daemon->address, "%s", address);
            snprintf(daemon->base_url, sizeof daemon->base_url, "http://%s", address);
            return true;
        }
        S_sleep_ms(S_POLL_MS);
    }
    fprintf(stderr, "test_daemon_start: qianbaod did not listen within %d ms (log: %s)\n",
            TEST_DAEMON_START_TIMEOUT_MS, log_path);
    test_daemon_kill(daemon);
    return false;
}

/* What a dying qianbaod writes first: a failed QB_ASSERT, SQLite's own
 * abort, a sanitizer's report. */
static const char *const S_fatal_marks[] = {
    "assertion failed: ",
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "WARNING: ThreadSanitizer",
    "ThreadSanitizer:",
    "runtime error: ",
};

#define S_LOG_TAIL_SIZE 4000
#define S_LOG_SHOWN_SIZE_MAX (64 * 1024)

/* Why a daemon did not stop cleanly is in its log: shows its end, from the
 * first fatal mark on when there is one (a sanitizer's report with its
 * stacks is longer than the tail), at most S_LOG_SHOWN_SIZE_MAX bytes. */
static void S_log_show(const char *log_path, int status)
{
    static char log[1 << 22];
    if (!test_file_read(log_path, log, sizeof log))
        return;
    size_t size = strlen(log);
    size_t from = size > S_LOG_TAIL_SIZE ? size - S_LOG_TAIL_SIZE : 0;
    for (size_t i = 0; i < sizeof S_fatal_marks / sizeof S_fatal_marks[0]; i++) {
        const char *mark = strstr(log, S_fatal_marks[i]);
        if (mark == NULL)
            continue;
        size_t at = (size_t)(mark - log);
        while (at > 0 && log[at - 1] != '\n') /* from the start of its line */
            at--;
        if (at < from)
            from = at;
    }
    if (size - from > S_LOG_SHOWN_SIZE_MAX)
        from = size - S_LOG_SHOWN_SIZE_MAX;
    fprintf(stderr, "test_daemon_stop: qianbaod ended with %d (%s); its log from %s:\n%s\n",
            status, status == -1 ? "a signal" : "an exit status",
            from + S_LOG_TAIL_SIZE < size ? "the first sign of trouble" : "its last lines",
            log + from);
}

int test_daemon_stop(struct test_daemon *daemon)
{
    if (daemon->pid <= 0)
        return -1;
    kill(daemon->pid, SIGTERM);
    int status = S_wait(daemon->pid, TEST_DAEMON_STOP_TIMEOUT_MS);
    if (status == -2) {
        fprintf(stderr, "test_daemon_stop: qianbaod ignored SIGTERM for %d ms; killing it\n",
                TEST_DAEMON_STOP_TIMEOUT_MS);
        test_daemon_kill(daemon);
        return -1;
    }
    daemon->pid = 0;
    if (status != 0)
        S_log_show(daemon->log_path, status);
    return status;
}

void test_daemon_kill(struct test_daemon *daemon)
{
    if (daemon->pid <= 0)
        return;
    kill(daemon->pid, SIGKILL);
    int status;
    while (waitpid(daemon->pid, &status, 0) < 0 && errno == EINTR)
        ;
    daemon->pid = 0;
}

int test_daemon_run(const char *const *args, const char *output_path, int timeout_ms)
{
    pid_t pid = S_spawn(args, output_path);
    if (pid < 0)
        return -1;
    int status = S_wait(pid, timeout_ms);
    if (status == -2) {
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return -1;
    }
    return status;
}

bool test_sqlite(const char *db, bool writable, const char *sql, void (*line_fn)(char *, void *),
                 void *arg)
{
    int fds[2];
    if (pipe(fds) != 0)
        return false;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    posix_spawn_file_actions_addclose(&actions, fds[1]);
    // The daemon's writer may hold the database for a moment: wait for it, as the daemon's own
    // connections do, rather than fail on the first SQLITE_BUSY.
    char *argv[] = {"sqlite3",    writable ? "-bail" : "-readonly",
                    "-cmd",       ".timeout 10000",
                    "-separator", " ",
                    (char *)db,   (char *)sql,
                    NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, "sqlite3", &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return false;
    }
    FILE *f = fdopen(fds[0], "r");
    char line[1024];
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (line_fn != NULL)
            line_fn(line, arg);
    }
    if (f != NULL)
        fclose(f);
    else
        close(fds[0]);
    int status = 0;
    return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
           f != NULL;
}

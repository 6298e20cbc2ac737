/*
 * daemon.h — start and stop a real qianbaod for black-box API tests.
 *
 * The binary is $QB_BUILD_DIR/qianbaod (ctest sets QB_BUILD_DIR). A daemon
 * listens on 127.0.0.1:0 — the kernel picks a free port, so tests never race
 * for one — and reports the bound address in DATA_DIR/listen-address, which
 * test_daemon_start waits for. Its stderr (the log) goes to a file the test
 * can read after the fact.
 */
#ifndef QB_TESTS_API_DAEMON_H
#define QB_TESTS_API_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define TEST_DAEMON_PATH_SIZE_MAX 1024
#define TEST_DAEMON_START_TIMEOUT_MS 20000
#define TEST_DAEMON_STOP_TIMEOUT_MS 20000

struct test_daemon {
    pid_t pid; /* 0 when not running */
    char data_dir[TEST_DAEMON_PATH_SIZE_MAX];
    char log_path[TEST_DAEMON_PATH_SIZE_MAX]; /* the daemon's stderr */
    char address[64];                         /* "127.0.0.1:PORT" */
    char base_url[96];                        /* "http://127.0.0.1:PORT" */
};

/* The qianbaod binary: $QB_BUILD_DIR/qianbaod, or ./qianbaod. */
const char *test_daemon_binary(void);

/* Starts qianbaod --data-dir data_dir --listen 127.0.0.1:0 plus extra_args
 * (NULL-terminated, may be NULL), logging to log_path (appended to), and
 * waits until it listens. False (with the reason on stderr) when it exited or
 * did not listen in time; the process is then gone. */
bool test_daemon_start(struct test_daemon *daemon, const char *data_dir, const char *log_path,
                       const char *const *extra_args);

/* Sends SIGTERM and waits. Returns the exit status, or -1 when the daemon
 * died of a signal or had to be killed after TEST_DAEMON_STOP_TIMEOUT_MS. */
int test_daemon_stop(struct test_daemon *daemon);
/* SIGKILL and reap: for the crash tests and cleanup after a failed test. */
void test_daemon_kill(struct test_daemon *daemon);

/* Runs qianbaod with args (NULL-terminated) to completion, its stdout and
 * stderr appended to output_path; returns the exit status, or -1 when it
 * died of a signal or ran past timeout_ms. */
int test_daemon_run(const char *const *args, const char *output_path, int timeout_ms);

/* Runs the sqlite3 CLI on the database file db with sql (read-only unless
 * writable), fields separated by one space; each output line, without its
 * newline, to line_fn (may be NULL). False when sqlite3 cannot run or fails. */
bool test_sqlite(const char *db, bool writable, const char *sql, void (*line_fn)(char *, void *),
                 void *arg);

/* Reads a whole small file into buf (NUL-terminated); false when it cannot. */
bool test_file_read(const char *path, char *buf, size_t buf_size);

/* The operator's bearer token: DATA_DIR/admin-token without its newline,
 * into buf. False when the file cannot be read or holds no token. */
bool test_daemon_admin_token(const struct test_daemon *daemon, char *buf, size_t buf_size);

#endif

/*
 * test_sqlite_shim.c — the forwarding VFS of sqlite_shim.h, as the store's
 * writer uses it: a commit's WAL frames, headers and pages, reach the disk
 * in a few writes of whole frames, a failed one fails the commit, and
 * nothing SQLite wrote is lost or reordered on the way.
 *
 * Beneath the store's own shim, this program registers a counting shim as
 * SQLite's default VFS before any store opens (the store's shim wraps the
 * default of the moment it first opens), and counts the writes that reach
 * the WAL by what they hold, and those that reach a savepoint's journal;
 * it can also fail the next writes to a WAL.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/sqlite_shim.h"
#include "store/store.h"
#include "test.h"
#include "unit/store_int.h"

#define S_PAGE_SIZE 4096
#define S_WAL_HEADER_SIZE 32
#define S_FRAME_HEADER_SIZE 24
#define S_FRAME_SIZE (S_FRAME_HEADER_SIZE + S_PAGE_SIZE)

static struct sqlite_shim S_counter;
static _Atomic long S_wal_headers;       /* 24-byte writes: a frame's header alone */
static _Atomic long S_wal_frame_writes;  /* whole frames (after the WAL's header, if first) */
static _Atomic long S_wal_frames;        /* the frames those writes held */
static _Atomic long S_wal_other;         /* anything else: part of a frame */
static _Atomic long S_subjournal_writes; /* to a savepoint's journal, once it is a file */
static _Atomic int S_wal_failures;       /* the next this many writes to a WAL fail */

static int S_count_write(sqlite3_file *f, const void *buf, int amount, sqlite3_int64 offset)
{
    if ((((struct sqlite_shim_file *)f)->open_flags & SQLITE_OPEN_WAL) != 0) {
        int failures = atomic_load(&S_wal_failures);
        while (failures > 0)
            if (atomic_compare_exchange_weak(&S_wal_failures, &failures, failures - 1))
                return SQLITE_IOERR_WRITE;
        sqlite3_int64 start = offset, size = amount;
        if (start == 0 && size >= S_WAL_HEADER_SIZE) {
            start += S_WAL_HEADER_SIZE;
            size -= S_WAL_HEADER_SIZE;
        }
        if (amount == S_FRAME_HEADER_SIZE) {
            atomic_fetch_add(&S_wal_headers, 1);
        } else if (size > 0 && (start - S_WAL_HEADER_SIZE) % S_FRAME_SIZE == 0 &&
                   size % S_FRAME_SIZE == 0) {
            atomic_fetch_add(&S_wal_frame_writes, 1);
            atomic_fetch_add(&S_wal_frames, (long)(size / S_FRAME_SIZE));
        } else if (size > 0) {
            atomic_fetch_add(&S_wal_other, 1);
        }
    }
    if ((((struct sqlite_shim_file *)f)->open_flags & SQLITE_OPEN_SUBJOURNAL) != 0)
        atomic_fetch_add(&S_subjournal_writes, 1);
    return sqlite_shim_write(f, buf, amount, offset);
}

static char dir[1024];
static char db_path[1100];

static struct store *open_write(void)
{
    char err[256];
    struct store *store = NULL;
    if (store_open(db_path, STORE_MODE_WRITE, &store, err, sizeof err) != QB_OK)
        TEST_FAIL_("store_open(%s): %s", db_path, err);
    return store;
}

/* A write store on a new database in a new directory. */
static struct store *open_fresh(void)
{
    test_tmpdir(dir, sizeof dir);
    snprintf(db_path, sizeof db_path, "%s/wallet.db", dir);
    return open_write();
}

/* Copies a file with plain reads and writes, none through SQLite. */
static void file_copy(const char *from, const char *to)
{
    int in = open(from, O_RDONLY);
    ASSERT(in >= 0);
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT(out >= 0);
    char buf[65536];
    for (ssize_t n; (n = read(in, buf, sizeof buf)) > 0;)
        ASSERT_EQ_INT(write(out, buf, (size_t)n), n);
    close(in);
    close(out);
}

/* Copies the database and its WAL into dir/name, past SQLite: what the disk
 * holds at that moment. */
static void files_copy(const char *name)
{
    char copy_dir[1100], from[1200], to[1200];
    snprintf(copy_dir, sizeof copy_dir, "%s/%s", dir, name);
    ASSERT_EQ_INT(mkdir(copy_dir, 0700), 0);
    snprintf(to, sizeof to, "%s/wallet.db", copy_dir);
    file_copy(db_path, to);
    snprintf(from, sizeof from, "%s-wal", db_path);
    snprintf(to, sizeof to, "%s/wallet.db-wal", copy_dir);
    file_copy(from, to);
}

/* 500 rows of 200 bytes with keys from *k, in one transaction. */
static enum qb_error put_rows(struct store *store, int64_t *k)
{
    struct store_stmt *put = NULL;
    ASSERT_EQ_INT(store_prepare(store, "INSERT INTO t (k, v) VALUES ($1, $2)", &put), QB_OK);
    char value[200];
    memset(value, 'q', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    ASSERT_EQ_INT(store_begin(store), QB_OK);
    for (int n = 0; n < 500; n++, (*k)++) {
        ASSERT_EQ_INT(store_bind_int64(put, 1, *k), QB_OK);
        ASSERT_EQ_INT(store_bind_text(put, 2, value, strlen(value)), QB_OK);
        ASSERT_EQ_INT(store_step_done(put), QB_OK);
    }
    store_finalize(put);
    enum qb_error err = store_commit(store);
    if (err != QB_OK)
        ASSERT_EQ_INT(store_rollback(store), QB_OK);
    return err;
}

/* 20,000 rows in commits of 500 with the commit's sync deferred (as the
 * ledger's writer commits) or inside it (as every other write does): the
 * WAL's writes are whole frames, many a write, and the files copied right
 * after the last commit hold every row. */
static void gathered_commits(bool defer_sync)
{
    struct store *store = open_fresh();
    ASSERT_EQ_INT(store_defer_sync(store, defer_sync), QB_OK);
    ASSERT_EQ_INT(store_exec(store, "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)"),
                  QB_OK);
    long headers = atomic_load(&S_wal_headers), other = atomic_load(&S_wal_other);
    long writes = atomic_load(&S_wal_frame_writes), frames = atomic_load(&S_wal_frames);
    for (int64_t k = 0; k < 20000;)
        ASSERT_EQ_INT(put_rows(store, &k), QB_OK);
    files_copy("copy");
    writes = atomic_load(&S_wal_frame_writes) - writes;
    frames = atomic_load(&S_wal_frames) - frames;
    fprintf(stderr,
            "  sync %s: WAL writes: %ld of %ld frames, %ld headers alone, %ld parts of frames\n",
            defer_sync ? "deferred" : "in the commit", writes, frames,
            atomic_load(&S_wal_headers) - headers, atomic_load(&S_wal_other) - other);
    ASSERT(frames > 1000); /* 4 MB of rows, 4 KiB pages */
    ASSERT(writes * 10 < frames);
    ASSERT_EQ_INT(atomic_load(&S_wal_headers) - headers, 0);
    ASSERT_EQ_INT(atomic_load(&S_wal_other) - other, 0);
    store_close(store);

    snprintf(db_path, sizeof db_path, "%s/copy/wallet.db", dir);
    store = open_write();
    ASSERT_EQ_INT(test_store_int(store, "SELECT COUNT(*) FROM t"), 20000);
    ASSERT_EQ_INT(test_store_int(store, "SELECT SUM(length(v)) FROM t"), 20000 * 199);
    store_close(store);
    test_rmtree(dir);
}

TEST(the_writer_writes_a_commit_s_wal_frames_together)
{
    // SQLite writes each frame's 24-byte header and its page with two calls; the store's shim
    // gathers a commit's frames and writes them with one call (or a few: SQLite's unix VFS takes
    // at most 128 KiB a call). Every write that reaches the WAL must hold whole frames, many of
    // them, and what was committed must be on disk when the commit returns: the files copied past
    // SQLite then, and recovered from those frames, hold every row.
    gathered_commits(true);
    gathered_commits(false);
}

TEST(a_failed_write_of_gathered_frames_fails_their_commit)
{
    // The frames a commit gathered are written before it returns, so a disk that refuses them
    // fails that commit, which rolls back, and the store goes on. Were they written only when
    // the commit is published (the WAL index's barrier, which cannot report a failure), the
    // process would stop there instead.
    struct store *store = open_fresh();
    ASSERT_EQ_INT(store_defer_sync(store, true), QB_OK);
    ASSERT_EQ_INT(store_exec(store, "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)"),
                  QB_OK);
    int64_t k = 0;
    ASSERT_EQ_INT(put_rows(store, &k), QB_OK);
    atomic_store(&S_wal_failures, 1);
    ASSERT_EQ_INT(put_rows(store, &k), QB_E_STORAGE);
    ASSERT_EQ_INT(atomic_load(&S_wal_failures), 0);
    ASSERT_EQ_INT(test_store_int(store, "SELECT COUNT(*) FROM t"), 500);
    ASSERT_EQ_INT(put_rows(store, &k), QB_OK);
    ASSERT_EQ_INT(test_store_int(store, "SELECT COUNT(*) FROM t"), 1000);
    files_copy("copy");
    store_close(store);

    snprintf(db_path, sizeof db_path, "%s/copy/wallet.db", dir);
    store = open_write();
    ASSERT_EQ_INT(test_store_int(store, "SELECT COUNT(*) FROM t"), 1000);
    ASSERT_EQ_INT(test_store_int(store, "SELECT MIN(k) FROM t WHERE k >= 500"), 1000);
    store_close(store);
    test_rmtree(dir);
}

TEST(a_header_sqlite_rewrites_alone_is_written_before_its_commit)
{
    // When a transaction writes a page it already spilled to the WAL, SQLite rewrites the page in
    // place and then the headers of the frames after it (their checksums), each header alone. The
    // last one is held when SQLite goes on to publish the commit: it must be on disk by the time
    // the commit returns, or a crash then would lose the commit (recovery stops at the first bad
    // checksum).
    struct store *store = open_fresh();
    /* A cache of 20 pages: a transaction of hundreds spills to the WAL
     * before it commits, and then writes some spilled pages again. */
    ASSERT_EQ_INT(store_exec(store, "PRAGMA cache_size=20"), QB_OK);
    /* As the ledger's writer commits: no sync inside the commit, which
     * would write what is held as a side effect. */
    ASSERT_EQ_INT(store_defer_sync(store, true), QB_OK);
    ASSERT_EQ_INT(store_exec(store, "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)"),
                  QB_OK);
    long headers = atomic_load(&S_wal_headers);
    ASSERT_EQ_INT(store_begin(store), QB_OK);
    ASSERT_EQ_INT(store_exec(store, "WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n"
                                    " WHERE k < 5000) INSERT INTO t SELECT k, printf('%0300d', k)"
                                    " FROM n"),
                  QB_OK);
    ASSERT_EQ_INT(store_exec(store, "UPDATE t SET v = printf('%0300d', k + 1) WHERE k % 7 = 0"),
                  QB_OK);
    ASSERT_EQ_INT(store_commit(store), QB_OK);
    /* What the disk holds the moment the commit returns, copied past
     * SQLite: its recovery checks every frame's checksum, and the commit's
     * frame comes last. */
    files_copy("copy");
    fprintf(stderr, "  headers rewritten alone: %ld\n", atomic_load(&S_wal_headers) - headers);
    /* The spill happened, or this test proves nothing. */
    ASSERT(atomic_load(&S_wal_headers) - headers > 0);
    store_close(store);

    snprintf(db_path, sizeof db_path, "%s/copy/wallet.db", dir);
    store = open_write();
    ASSERT_EQ_INT(test_store_int(store, "SELECT COUNT(*) FROM t"), 5000);
    ASSERT_EQ_INT(test_store_int(store, "SELECT COUNT(*) FROM t WHERE v = printf('%0300d', k + 1)"),
                  714);
    store_close(store);
    test_rmtree(dir);
}

TEST(a_savepoint_keeps_its_journal_in_memory)
{
    // Inside a savepoint SQLite copies each page before its first change into a sub-journal, to
    // roll back to. Past SQLite's default of 64 KiB that journal becomes a temporary file, one
    // write a page, and stays a file until the transaction ends: after one command of 17 pages
    // (sixteen session touches) every later command's savepoint in the batch wrote its pages
    // with pwrite(2). The writer's connection keeps it in memory (temp_store).
    struct store *store = open_fresh();
    ASSERT_EQ_INT(store_exec(store, "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)"),
                  QB_OK);
    ASSERT_EQ_INT(store_exec(store, "WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n"
                                    " WHERE k < 2000) INSERT INTO t SELECT k, printf('%0300d', 0)"
                                    " FROM n"),
                  QB_OK);
    long before = atomic_load(&S_subjournal_writes);
    ASSERT_EQ_INT(store_begin(store), QB_OK);
    /* Each savepoint changes one row of every page, about 160 pages, 640 KiB
     * of journal; the third is rolled back. */
    for (int round = 1; round <= 4; round++) {
        ASSERT_EQ_INT(store_savepoint(store), QB_OK);
        char sql[128];
        snprintf(sql, sizeof sql, "UPDATE t SET v = printf('%%0300d', %d) WHERE k %% 12 = 0",
                 round);
        ASSERT_EQ_INT(store_exec(store, sql), QB_OK);
        ASSERT_EQ_INT(round == 3 ? store_rollback_to(store) : store_release(store), QB_OK);
    }
    ASSERT_EQ_INT(store_commit(store), QB_OK);
    fprintf(stderr, "  savepoint journal writes: %ld\n",
            atomic_load(&S_subjournal_writes) - before);
    ASSERT_EQ_INT(atomic_load(&S_subjournal_writes) - before, 0);
    ASSERT_EQ_INT(test_store_int(store, "SELECT COUNT(*) FROM t WHERE v = printf('%0300d', 4)"),
                  2000 / 12);
    ASSERT_EQ_INT(test_store_int(store, "SELECT COUNT(*) FROM t WHERE v = printf('%0300d', 0)"),
                  2000 - 2000 / 12);
    store_close(store);
    test_rmtree(dir);
}

/* Writes a frame's header that ends no commit: the gathering shim holds it. */
static void *S_hold_a_header(void *file)
{
    unsigned char header[S_FRAME_HEADER_SIZE] = {0};
    sqlite3_file *f = file;
    int rc = f->pMethods->xWrite(f, header, (int)sizeof header, S_WAL_HEADER_SIZE);
    return (void *)(intptr_t)rc;
}

TEST(a_close_that_would_lose_another_thread_s_bytes_stops_the_process)
{
    // The bytes a gathering shim holds are the writing thread's until its commit's last page.
    // Closing the file from another thread meanwhile would lose them (and free the buffer that
    // thread writes into): the close must stop the process, in every build, rather than go on
    // with a WAL that misses frames.
    static struct sqlite_shim gather;
    ASSERT(sqlite_shim_init(&gather, "qianbao-test-gather", sizeof(struct sqlite_shim_file)));
    gather.gather_wal_writes = true;
    test_tmpdir(dir, sizeof dir);
    /* SQLite's unix VFS gives a WAL its database's permissions: one must be there. */
    char path[1100];
    snprintf(path, sizeof path, "%s/held.db", dir);
    int db_fd = open(path, O_WRONLY | O_CREAT, 0600);
    ASSERT(db_fd >= 0);
    close(db_fd);
    snprintf(path, sizeof path, "%s/held.db-wal", dir);
    sqlite3_file *file = calloc(1, (size_t)gather.vfs.szOsFile);
    ASSERT(file != NULL);
    int out_flags = 0;
    ASSERT_EQ_INT(gather.vfs.xOpen(&gather.vfs, path, file,
                                   SQLITE_OPEN_WAL | SQLITE_OPEN_CREATE | SQLITE_OPEN_READWRITE,
                                   &out_flags),
                  SQLITE_OK);
    pthread_t writer;
    void *rc = NULL;
    ASSERT_EQ_INT(pthread_create(&writer, NULL, S_hold_a_header, file), 0);
    ASSERT_EQ_INT(pthread_join(writer, &rc), 0);
    ASSERT_EQ_INT((int)(intptr_t)rc, SQLITE_OK);
    ASSERT_EQ_INT((int)((struct sqlite_shim_file *)file)->held_size, S_FRAME_HEADER_SIZE);

    int fds[2];
    ASSERT_EQ_INT(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        file->pMethods->xClose(file);
        _exit(0);
    }
    close(fds[1]);
    int status = 0;
    ASSERT_EQ_INT(waitpid(pid, &status, 0), pid);
    char report[1024];
    ssize_t n = read(fds[0], report, sizeof report - 1);
    close(fds[0]);
    report[n > 0 ? n : 0] = '\0';
    ASSERT(WIFSIGNALED(status));
    ASSERT(strstr(report, "held_size == 0") != NULL);

    /* Here the bytes are the test's to drop, and the file closes. */
    ((struct sqlite_shim_file *)file)->held_size = 0;
    ASSERT_EQ_INT(file->pMethods->xClose(file), SQLITE_OK);
    free(file);
    test_rmtree(dir);
}

int main(void)
{
    if (!sqlite_shim_init(&S_counter, "qianbao-test-counter", sizeof(struct sqlite_shim_file))) {
        fprintf(stderr, "no default VFS to count writes under\n");
        return 1;
    }
    S_counter.methods.xWrite = S_count_write;
    if (sqlite3_vfs_register(&S_counter.vfs, 1) != SQLITE_OK) {
        fprintf(stderr, "cannot register the counting VFS\n");
        return 1;
    }
    RUN(the_writer_writes_a_commit_s_wal_frames_together);
    RUN(a_failed_write_of_gathered_frames_fails_their_commit);
    RUN(a_header_sqlite_rewrites_alone_is_written_before_its_commit);
    RUN(a_savepoint_keeps_its_journal_in_memory);
    RUN(a_close_that_would_lose_another_thread_s_bytes_stops_the_process);
    return test_summary();
}

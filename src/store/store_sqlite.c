/*
 * store_sqlite.c — the SQLite backend of the storage interface.
 *
 * One struct sqlite_store per connection, opened NOMUTEX: a connection
 * belongs to one thread at a time (store.h), so SQLite's own mutexes would
 * only cost time.
 *
 * Durability. A wallet acknowledges a payment only after its commit is on
 * disk, so the write connection runs in WAL mode with synchronous=FULL (the
 * WAL is fsync'd at every commit) and open reads both settings back and
 * refuses the database when either did not take. The ledger then switches
 * its connection to synchronous=NORMAL (sqlite_defer_sync) and syncs the WAL
 * on a thread of its own (sqlite_sync), acknowledging only after that.
 * Migrations run at open, one transaction each, and the version lives in
 * PRAGMA user_version.
 *
 * Checkpoints. SQLite's auto-checkpoint runs inside the committing
 * connection, i.e. it would stall the ledger executor for a full copy of the
 * WAL into the database plus an fsync. It is therefore off on the writer;
 * instead a wal_hook on the writer watches the WAL size after each commit
 * and, above STORE_SQLITE_WAL_PAGES_CHECKPOINT, wakes a checkpointer thread
 * that owns its own connection and runs PASSIVE checkpoints, which never
 * block the writer. The WAL is reused from its start only by a writer that
 * begins a transaction when every frame has been copied back; under
 * sustained load the writer keeps appending, so that moment seldom comes by
 * itself. So once a round has left fewer than STORE_SQLITE_HANDOVER_PAGES
 * frames uncopied, the writer pauses in its wal_hook (after its commit,
 * holding no lock) until the checkpointer has copied the rest, and its next
 * transaction restarts the WAL: a wait of a few milliseconds once a WAL.
 * Past STORE_SQLITE_WAL_PAGES_MAX (a checkpointer slower than the writer)
 * the writer waits the same way at every commit. A reader's snapshot can
 * keep the copy from finishing (an operator's ledger check on a live
 * daemon reads for minutes): then the writer waits once, and no more until
 * a round has copied every frame again, since waiting cannot help; at 20 ms
 * a commit, waiting at each one held payments up for as long as the read
 * lasted, and the WAL grows meanwhile instead. Those pauses are the only
 * times the writer waits for a checkpoint, each bounded by the frames
 * written since the last PASSIVE round. The WAL file keeps its blocks when
 * the writer restarts it (journal_size_limit is twice
 * STORE_SQLITE_WAL_PAGES_MAX, so only a WAL grown past that by a stuck
 * checkpoint is trimmed): a restarted
 * WAL then overwrites blocks the file already has, and fdatasync writes
 * data only. When the limit was the checkpoint threshold, every cycle
 * trimmed the file and grew it again, each append past its end made the
 * commit's fdatasync write the file's size as well (a journal commit), and
 * under the transfer benchmark at half load 41 to 59 commits in 15 s took
 * more than 4 ms, against 1 to 25 with the blocks kept
 * (qianbao_ledger_commit_duration_seconds; docs/performance.md).
 *
 * A checkpoint's copy is paced: while the WAL has room it writes the
 * database file at STORE_SQLITE_CHECKPOINT_BYTES_PER_S, starting the
 * write-back of every STORE_SQLITE_WRITEBACK_BYTES, so that the disk takes
 * it in small pieces among the writer's WAL syncs instead of one burst
 * (sqlite_copy_paced).
 *
 * The checkpointer never restarts or truncates the WAL itself: a WAL reset
 * by another connection changes the WAL header under the writer, and SQLite
 * then discards the writer's whole page cache (256 MiB of hot B-tree pages,
 * read back one pread at a time). Measured under the HTTP transfer
 * benchmark, those resets were several a second (docs/performance.md).
 *
 * Parameters. Statements are written with $1, $2, ... (store.h). SQLite
 * treats "$1" as a named parameter and numbers parameters by first
 * appearance; prepare maps each "$N" to SQLite's index so that bind index N
 * always binds $N, as in PostgreSQL, whatever order the SQL mentions them in.
 *
 * Staleness. Whether a transaction is open is asked of SQLite
 * (sqlite3_get_autocommit), never remembered: SQLite rolls a transaction back
 * by itself after some errors (full disk, I/O error, busy commit), and a
 * cached flag would then lie. The savepoint depth is the one counter kept,
 * and it is reset whenever SQLite reports no transaction.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "base/log.h"
#include "base/thread.h"
#include "store/schema.h"
#include "store/sqlite_pcache.h"
#include "store/sqlite_shim.h"
#include "store/store.h"

#define STORE_SQLITE_BUSY_TIMEOUT_MS 5000
/* The checkpointer thread's name and nice value (sqlite_checkpointer_main). */
#define STORE_SQLITE_CHECKPOINTER_NAME "qb-checkpointer"
#define STORE_SQLITE_CHECKPOINTER_NICE 10
/* The WAL size, in pages, above which the checkpointer is woken (128 MiB
 * of 4 KiB pages). A checkpoint copies each page once however often the
 * WAL holds it, so a longer WAL copies fewer pages per payment (account
 * rows, index leaves); and each copy's fsync is a burst of writes that the
 * writer's next fdatasync waits behind. From 8,000 and 16,000 below to
 * 32,000 and 64,000: the transfer benchmark went from 33,100 to 35,900
 * transfers/s over 30 s, half-load p90 from 1.1-1.2 to 0.9-1.0 ms
 * (docs/performance.md). */
#define STORE_SQLITE_WAL_PAGES_CHECKPOINT 32000
/* Negative: KiB, as PRAGMA cache_size reads it (256 MiB). */
#define STORE_SQLITE_WRITER_CACHE_KIB "-262144"
/* How much of the database file a read connection maps (1 GiB). */
#define STORE_SQLITE_READER_MMAP_BYTES "1073741824"
/* The WAL size, in pages, above which the writer waits for a checkpoint. */
#define STORE_SQLITE_WAL_PAGES_MAX 64000
/* PASSIVE rounds the checkpointer tries while the writer waits. */
#define STORE_SQLITE_CHECKPOINT_ATTEMPTS 20
/* How long the writer waits for that checkpoint before carrying on. */
#define STORE_SQLITE_WAL_WAIT_MS 2000
/* When a round leaves fewer frames than this uncopied, the checkpointer
 * asks the writer to wait for the rest once, so that the WAL restarts
 * (sqlite_wal_hook). */
#define STORE_SQLITE_HANDOVER_PAGES 256
/* How fast a checkpoint writes the database file while the WAL is below
 * halfway from the checkpointer's threshold to the writer's (80 MiB/s);
 * above it, or when the writer waits, as fast as it can
 * (sqlite_copy_paced). */
#define STORE_SQLITE_CHECKPOINT_BYTES_PER_S (80LL * 1024 * 1024)
/* A checkpoint starts the write-back of what it copied every this many
 * bytes (256 KiB). */
#define STORE_SQLITE_WRITEBACK_BYTES (256 * 1024)
/* A paced copy sleeps only when at least this far ahead of its pace. */
#define STORE_SQLITE_PACE_PAUSE_MIN_NS 500000
/* The VFS the writer's and the checkpointer's connections open through:
 * a shim (sqlite_shim.h) that writes a commit's WAL frames with one call
 * and paces checkpoints (sqlite_copy_paced). */
#define STORE_SQLITE_VFS "qianbao"
#define STORE_SQLITE_SAVEPOINT_DEPTH_MAX 64
/* Savepoint depths whose statements are kept prepared; deeper ones are
 * parsed each time. */
#define STORE_SQLITE_CONTROL_DEPTH 4
#define STORE_SQLITE_PATH_SIZE_MAX 4096
#define STORE_SQLITE_ERROR_SIZE_MAX 512

struct sqlite_checkpointer;
struct sqlite_stmt;

/* Prepared statements kept per connection, keyed by their SQL: a domain
 * command prepares and finalizes its statements on every run, and parsing
 * the same SQL again was the largest cost of the single writer. A cached
 * statement is handed out to one user at a time; while it is out, the same
 * SQL gets a statement of its own, finalized as before. */
#define STORE_SQLITE_CACHE_SIZE 96
struct sqlite_cached {
    uint64_t hash;
    char *sql;
    const char *caller_sql; /* the pointer it was first asked for with */
    struct sqlite_stmt *st;
    bool in_use;
};

struct sqlite_store {
    struct store base; /* first: store.h converts between the two */
    sqlite3 *db;
    enum store_mode mode;
    int savepoint_depth;
    struct sqlite_checkpointer *checkpointer; /* write mode only */
    char path[STORE_SQLITE_PATH_SIZE_MAX];
    char error[STORE_SQLITE_ERROR_SIZE_MAX];
    struct sqlite_cached cache[STORE_SQLITE_CACHE_SIZE];
    size_t cache_count;
    /* Transaction control, prepared once (sqlite_control): the writer runs
     * them for every batch and savepoint. [depth - 1] for savepoints. */
    sqlite3_stmt *st_begin, *st_commit;
    sqlite3_stmt *st_savepoint[STORE_SQLITE_CONTROL_DEPTH], *st_release[STORE_SQLITE_CONTROL_DEPTH];
    /* The WAL file, once defer_sync has run: sqlite_sync syncs it from
     * another thread, through the VFS (so the test VFS can fail it). */
    sqlite3_file *wal_file;
    /* Threads inside a call that touches the database. A connection is
     * opened without SQLite's mutex: two threads on it at once corrupt
     * what it reads and writes, so that is an assertion, not a race. */
    atomic_int inside;
};

static void sqlite_enter(struct sqlite_store *s)
{
    int before = atomic_fetch_add(&s->inside, 1);
    QB_ASSERT(before == 0); /* another thread is using this connection */
}

static void sqlite_leave(struct sqlite_store *s) { atomic_fetch_sub(&s->inside, 1); }

struct sqlite_stmt {
    struct store_stmt base; /* first, as above */
    struct sqlite_store *store;
    struct sqlite_cached *cached; /* its cache slot, or NULL when it is not cached */
    sqlite3_stmt *stmt;
    int param_count;
    int param_index[]; /* [N] = SQLite's index of "$N"; [0] unused */
};

/* The thread that checkpoints for one write connection. All fields below
 * the mutex are guarded by it; db is used only by the thread once started. */
struct sqlite_checkpointer {
    sqlite3 *db;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mutex;
    pthread_cond_t work_cond; /* writer -> checkpointer */
    pthread_cond_t done_cond; /* checkpointer -> writer */
    bool checkpoint_wanted;
    bool drain_wanted;
    bool stopping;
    uint64_t drain_count; /* complete copies the writer waited for */
    /* The checkpointer has copied all but a few frames of this WAL and
     * waits for the writer to let it copy the rest (sqlite_wal_hook);
     * handover_restarts is wal_restarts when it last asked: it asks once a
     * WAL, and a request from before a restart is stale. */
    bool handover_wanted;
    uint64_t handover_restarts;
    /* The last complete copy the writer waited for could not finish: a
     * reader's snapshot holds frames back (or the copy failed). Until a
     * round copies everything again, the writer waits no more, since
     * waiting cannot help; the WAL grows meanwhile. */
    bool held_back;
    /* The WAL sizes, in pages, that wake the checkpointer and make the
     * writer wait: fixed at open (S_wal_pages). */
    int wake_pages;
    int wait_pages;
    /* Written by the writer's wal_hook after each commit; read by the
     * checkpointer without the mutex. */
    _Atomic int wal_pages;
    /* Counted for sqlite_stats, read by any thread: how often the WAL went
     * back to its start (a commit found it shorter than the one before),
     * the rounds run and the bytes they copied, and the commits after which
     * the writer waited for a checkpoint, with the time it waited. */
    _Atomic uint64_t wal_restarts;
    _Atomic uint64_t rounds;
    _Atomic uint64_t copied_bytes;
    _Atomic uint64_t waits;
    _Atomic uint64_t wait_us;
    _Atomic bool closing; /* a paced copy under way finishes at full speed */
    /* Used only by the checkpointer's thread: the pace of the current
     * round (sqlite_copy_paced), and the database file, read-only, through
     * which it starts the write-back of its copy. */
    int db_fd;
    bool copy_hurried; /* the writer waits for this round */
    bool copy_caught_up; /* the last round copied every frame it saw */
    int64_t copy_started_ns;
    int64_t copy_bytes;
    int64_t copy_unstarted_bytes;
};

/* STORE_SQLITE_WAL_PAGES_CHECKPOINT and _MAX, or what a test set: the
 * store's tests reach smaller limits with less data. */
static struct {
    int wake;
    int wait;
} S_wal_pages = {STORE_SQLITE_WAL_PAGES_CHECKPOINT, STORE_SQLITE_WAL_PAGES_MAX};

/* STORE_SQLITE_CHECKPOINT_BYTES_PER_S, or what a test set. */
static struct {
    _Atomic int64_t bytes_per_s;
} S_pace = {STORE_SQLITE_CHECKPOINT_BYTES_PER_S};

void store_sqlite_checkpoint_pace_set(int64_t bytes_per_s)
{
    QB_ASSERT(bytes_per_s >= 0);
    atomic_store(&S_pace.bytes_per_s,
                 bytes_per_s > 0 ? bytes_per_s : STORE_SQLITE_CHECKPOINT_BYTES_PER_S);
}

void store_sqlite_wal_pages_set(int wake_pages, int wait_pages)
{
    QB_ASSERT(wake_pages > 0 && wake_pages <= wait_pages);
    S_wal_pages.wake = wake_pages;
    S_wal_pages.wait = wait_pages;
}

static struct sqlite_store *sqlite_store_of(struct store *store)
{
    QB_ASSERT(store != NULL && store->ops == &store_sqlite_ops);
    return (struct sqlite_store *)store;
}

static struct sqlite_stmt *sqlite_stmt_of(struct store_stmt *stmt)
{
    QB_ASSERT(stmt != NULL && stmt->ops == &store_sqlite_ops);
    return (struct sqlite_stmt *)stmt;
}

/* Maps an SQLite result code (primary or extended) to the store's errors. */
static enum qb_error sqlite_error_map(int rc)
{
    QB_ASSERT(rc != SQLITE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE);
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        return QB_E_CONFLICT;
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return QB_E_BUSY;
    default:
        return QB_E_STORAGE;
    }
}

/* Records why something failed: the step that failed and SQLite's text,
 * which names tables and columns but never bound values. */
static enum qb_error sqlite_fail(struct sqlite_store *s, int rc, const char *what)
{
    const char *msg = s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
    snprintf(s->error, sizeof s->error, "sqlite: %s: %s", what, msg);
    return sqlite_error_map(rc);
}

/* Records a failure the backend itself detected. */
static enum qb_error sqlite_refuse(struct sqlite_store *s, enum qb_error err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum qb_error sqlite_refuse(struct sqlite_store *s, enum qb_error err, const char *fmt, ...)
{
    QB_ASSERT(err != QB_OK);
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(s->error, sizeof s->error, "sqlite: ");
    QB_ASSERT(n > 0 && (size_t)n < sizeof s->error);
    vsnprintf(s->error + n, sizeof s->error - (size_t)n, fmt, ap);
    va_end(ap);
    return err;
}

/* Runs SQL without parameters or results, recording SQLite's message. */
static enum qb_error sqlite_exec_sql(struct sqlite_store *s, const char *sql, const char *what)
{
    char *msg = NULL;
    sqlite_enter(s);
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
    sqlite_leave(s);
    if (rc == SQLITE_OK)
        return QB_OK;
    rc = sqlite3_extended_errcode(s->db);
    snprintf(s->error, sizeof s->error, "sqlite: %s: %s", what,
             msg != NULL ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return sqlite_error_map(rc == SQLITE_OK ? SQLITE_ERROR : rc);
}

/* Runs sql, a transaction control statement, from *slot, preparing it
 * there the first time: as sqlite_exec_sql, without parsing it again. */
static enum qb_error sqlite_control(struct sqlite_store *s, sqlite3_stmt **slot, const char *sql,
                                    const char *what)
{
    sqlite_enter(s);
    int rc = *slot != NULL ? SQLITE_OK : sqlite3_prepare_v2(s->db, sql, -1, slot, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(*slot);
        rc = sqlite3_reset(*slot);
    }
    sqlite_leave(s);
    if (rc == SQLITE_OK)
        return QB_OK;
    rc = sqlite3_extended_errcode(s->db);
    snprintf(s->error, sizeof s->error, "sqlite: %s: %s", what, sqlite3_errmsg(s->db));
    return sqlite_error_map(rc == SQLITE_OK ? SQLITE_ERROR : rc);
}

/* Runs a pragma (or any one-row query) and copies the first column of its
 * first row into out as text; "" when it answers no row. */
static enum qb_error sqlite_query_text(struct sqlite_store *s, const char *sql, char *out,
                                       size_t out_size)
{
    QB_ASSERT(out_size > 0);
    out[0] = '\0';
    sqlite3_stmt *stmt = NULL;
    sqlite_enter(s);
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL);
    enum qb_error err = QB_OK;
    if (rc != SQLITE_OK) {
        err = sqlite_fail(s, rc, sql);
    } else {
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW) {
            const unsigned char *text = sqlite3_column_text(stmt, 0);
            snprintf(out, out_size, "%s", text != NULL ? (const char *)text : "");
        } else if (rc != SQLITE_DONE) {
            err = sqlite_fail(s, rc, sql);
        }
        sqlite3_finalize(stmt);
    }
    sqlite_leave(s);
    return err;
}

static enum qb_error sqlite_query_int64(struct sqlite_store *s, const char *sql, int64_t *out)
{
    char text[32];
    enum qb_error err = sqlite_query_text(s, sql, text, sizeof text);
    if (err != QB_OK)
        return err;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (text[0] == '\0' || *end != '\0' || errno != 0)
        return sqlite_refuse(s, QB_E_STORAGE, "'%s' answered '%s', not a number", sql, text);
    *out = (int64_t)v;
    return QB_OK;
}

/* ---- urls ------------------------------------------------------------ */

static bool sqlite_accepts(const char *url)
{
    if (url == NULL || url[0] == '\0')
        return false;
    if (strncmp(url, "file:", 5) == 0)
        return true;
    /* Any other scheme ("postgres://", "postgresql://") belongs elsewhere. */
    return strstr(url, "://") == NULL;
}

/* Extracts the file path from a plain path, "file:PATH" or "file:///PATH".
 * SQLite's URI parameters are not passed on: "?nolock=1" and friends could
 * silently undo the durability that open checks. */
enum qb_error store_url_file(const char *url, char *out, size_t out_size, const char **why)
{
    const char *path = url;
    *why = NULL;
    if (strncmp(url, "file:", 5) == 0) {
        path = url + 5;
        if (strncmp(path, "//", 2) == 0) {
            if (path[2] != '/')
                *why = "only local 'file:///PATH' urls are supported";
            path += 2;
        }
        if (*why == NULL && strpbrk(path, "?#") != NULL)
            *why = "'file:' urls take no query parameters";
    } else if (strstr(url, "://") != NULL) {
        *why = "a url of another scheme than file: names no SQLite file";
    }
    if (*why == NULL && path[0] == '\0')
        *why = "the database url names no file";
    if (*why == NULL && snprintf(out, out_size, "%s", path) >= (int)out_size)
        *why = "the database path is too long";
    return *why == NULL ? QB_OK : QB_E_PARAM;
}

static enum qb_error sqlite_url_path(struct sqlite_store *s, const char *url)
{
    const char *why;
    if (store_url_file(url, s->path, sizeof s->path, &why) != QB_OK)
        return sqlite_refuse(s, QB_E_PARAM, "%s", why);
    return QB_OK;
}

/* ---- the checkpointer ------------------------------------------------ */

/* A checkpoint copies thousands of pages into the database file. Copied as
 * fast as memory allows (40-50 ms for 5,000 pages), they filled the disk's
 * queue, and every WAL sync of the writer meanwhile waited behind them:
 * under the transfer benchmark at half load, syncs of 5 to 40 ms in the
 * 100 ms after each checkpoint began, and a p99 of 12-16 ms. So the
 * checkpointer's writes to the database file go through a shim
 * (STORE_SQLITE_VFS) that paces them at
 * STORE_SQLITE_CHECKPOINT_BYTES_PER_S and starts their write-back every
 * STORE_SQLITE_WRITEBACK_BYTES (sync_file_range, which does not wait), as
 * PostgreSQL's checkpointer spreads its writes and flushes them
 * (checkpoint_completion_target, checkpoint_flush_after): each WAL sync then
 * waits behind at most a few hundred KiB, and the checkpoint's own fsync
 * finds little left. A slow copy only lets the WAL grow; once it is past
 * halfway to where the writer would wait for it, or when the writer waits,
 * the copy runs at full speed. */
static struct sqlite_shim S_shim;
static pthread_once_t S_shim_once = PTHREAD_ONCE_INIT;
static bool S_shim_ok;
/* The checkpointer whose round runs on this thread, or NULL: only its
 * copies are paced, whichever connection the shim serves. */
static _Thread_local struct sqlite_checkpointer *S_copying;
static _Atomic long S_writebacks;
static _Atomic long S_pauses;

long store_sqlite_writebacks(void) { return atomic_load(&S_writebacks); }
long store_sqlite_checkpoint_pauses(void) { return atomic_load(&S_pauses); }

static int64_t S_now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
}

/* After bytes were copied into the database file: starts their write-back
 * every STORE_SQLITE_WRITEBACK_BYTES, and sleeps while the copy is ahead of
 * its pace and the WAL has room. */
static void sqlite_copy_paced(struct sqlite_checkpointer *ck, int bytes)
{
    QB_ASSERT(bytes >= 0);
    ck->copy_bytes += bytes;
    ck->copy_unstarted_bytes += bytes;
    if (ck->copy_unstarted_bytes >= STORE_SQLITE_WRITEBACK_BYTES && ck->db_fd >= 0) {
        ck->copy_unstarted_bytes = 0;
        if (sync_file_range(ck->db_fd, 0, 0, SYNC_FILE_RANGE_WRITE) == 0)
            atomic_fetch_add(&S_writebacks, 1);
    }
    int half_way = ck->wake_pages + (ck->wait_pages - ck->wake_pages) / 2;
    if (ck->copy_hurried ||
        atomic_load_explicit(&ck->wal_pages, memory_order_relaxed) >= half_way ||
        atomic_load(&ck->closing))
        return;
    int64_t due_ns =
        ck->copy_started_ns + ck->copy_bytes * 1000000000LL / atomic_load(&S_pace.bytes_per_s);
    int64_t ahead_ns = due_ns - S_now_ns();
    if (ahead_ns >= STORE_SQLITE_PACE_PAUSE_MIN_NS) {
        struct timespec pause = {(time_t)(ahead_ns / 1000000000LL),
                                 (long)(ahead_ns % 1000000000LL)};
        nanosleep(&pause, NULL);
        atomic_fetch_add(&S_pauses, 1);
    }
}

static int S_shim_write(sqlite3_file *f, const void *buf, int amount, sqlite3_int64 offset)
{
    int rc = sqlite_shim_write(f, buf, amount, offset);
    if (rc == SQLITE_OK && S_copying != NULL &&
        (((struct sqlite_shim_file *)f)->open_flags & SQLITE_OPEN_MAIN_DB) != 0)
        sqlite_copy_paced(S_copying, amount);
    return rc;
}

/* Registers STORE_SQLITE_VFS over whatever VFS is the default by now (in
 * test builds, perhaps the failing one of fault_vfs.h). Without it,
 * connections open through the default: checkpoints then copy in one burst
 * each, and every frame takes two writes. */
static void S_shim_register(void)
{
    S_shim_ok = sqlite_shim_init(&S_shim, STORE_SQLITE_VFS, sizeof(struct sqlite_shim_file));
    if (S_shim_ok) {
        S_shim.methods.xWrite = S_shim_write;
        S_shim.gather_wal_writes = true;
        S_shim_ok = sqlite3_vfs_register(&S_shim.vfs, 0) == SQLITE_OK;
    }
    if (!S_shim_ok)
        log_event(LOG_WARN, "store.vfs_not_registered", "vfs=%s", STORE_SQLITE_VFS);
}

static const char *S_shim_name(void)
{
    pthread_once(&S_shim_once, S_shim_register);
    return S_shim_ok ? STORE_SQLITE_VFS : NULL;
}

/* One round of checkpointing: PASSIVE copies what it can without waiting
 * for anyone. When the writer is waiting for the copy to complete
 * (complete), a frame still needed by an older reader keeps the copy short;
 * readers are short, so the round tries again a few times, a millisecond
 * apart, before giving up until the next commit. Returns how many frames
 * the writer had committed that the round did not copy, or -1 when it
 * failed. */
static int sqlite_checkpointer_round(struct sqlite_checkpointer *ck, bool complete)
{
    atomic_fetch_add_explicit(&ck->rounds, 1, memory_order_relaxed);
    ck->copy_caught_up = false;
    for (int attempt = 0; attempt < STORE_SQLITE_CHECKPOINT_ATTEMPTS; attempt++) {
        int log_pages = 0;
        int checkpointed_pages = 0;
        ck->copy_hurried = complete;
        ck->copy_started_ns = S_now_ns();
        ck->copy_bytes = 0;
        S_copying = ck;
        int rc = sqlite3_wal_checkpoint_v2(ck->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_pages,
                                           &checkpointed_pages);
        S_copying = NULL;
        atomic_fetch_add_explicit(&ck->copied_bytes, (uint64_t)ck->copy_bytes,
                                  memory_order_relaxed);
        /* Failures are not fatal here: the WAL keeps every committed frame,
         * and the next commit above the threshold wakes us again. */
        if (rc != SQLITE_OK)
            return -1;
        ck->copy_caught_up = log_pages == checkpointed_pages;
        if (!complete || ck->copy_caught_up)
            return atomic_load_explicit(&ck->wal_pages, memory_order_relaxed) - checkpointed_pages;
        struct timespec pause = {0, 1000000L};
        nanosleep(&pause, NULL);
    }
    return -1;
}

static void *sqlite_checkpointer_main(void *arg)
{
    struct sqlite_checkpointer *ck = arg;
    /* Named for top -H and the tests. Its copies run in bursts of tens of
     * milliseconds of CPU; at the default priority each burst took a core
     * from the ledger's writer, whose commits then waited for a CPU. Under
     * the transfer benchmark at half load, commits over 4 ms fell from 12 to
     * 21 in 15 s to 3 to 5 (docs/performance.md). On Linux a thread's nice
     * value is its own; raising it needs no privilege. The nice value is
     * set before the name, so that whoever sees the name sees the nice
     * value too (the tests find the thread by its name). */
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), STORE_SQLITE_CHECKPOINTER_NICE);
    thread_name(pthread_self(), "%s", STORE_SQLITE_CHECKPOINTER_NAME);
    pthread_mutex_lock(&ck->mutex);
    while (!ck->stopping) {
        if (!ck->drain_wanted && (ck->handover_wanted || !ck->checkpoint_wanted)) {
            pthread_cond_wait(&ck->work_cond, &ck->mutex);
            continue;
        }
        bool drain = ck->drain_wanted;
        ck->checkpoint_wanted = false;
        pthread_mutex_unlock(&ck->mutex);

        int left = sqlite_checkpointer_round(ck, drain);

        pthread_mutex_lock(&ck->mutex);
        if (drain) {
            ck->drain_wanted = false;
            ck->handover_wanted = false;
            ck->held_back = !ck->copy_caught_up;
            ck->drain_count++;
            pthread_cond_broadcast(&ck->done_cond);
            continue;
        }
        if (ck->copy_caught_up)
            ck->held_back = false;
        if (left >= 0 && left < STORE_SQLITE_HANDOVER_PAGES) {
            /* Once a WAL: a reader's snapshot can keep a restart from
             * happening, and then the rounds go on as before. */
            uint64_t restarts = atomic_load(&ck->wal_restarts);
            if (restarts != ck->handover_restarts) {
                ck->handover_wanted = true;
                ck->handover_restarts = restarts;
            }
        }
    }
    pthread_mutex_unlock(&ck->mutex);
    return NULL;
}

/* Called by SQLite on the writer's thread after each commit, with no lock
 * held; pages is the WAL's size in frames. Wakes the checkpointer above the
 * soft threshold; above the hard one (unless a reader holds the copy back:
 * held_back), or when the checkpointer has caught up but for a few frames
 * (handover_wanted), waits for it to copy the rest of the WAL, and the
 * writer's next transaction restarts it.
 *
 * Why the handover: the WAL restarts only when a transaction of the writer
 * begins with every frame copied back. A checkpointer that only chases the
 * writer's commits seldom finds that moment, so under load it ran about a
 * hundred rounds a second, each copying a few dozen pages and syncing both
 * files, and copied the pages most often written (account rows, index
 * leaves) again at each round: under the transfer benchmark at full load,
 * 0.38-0.44 pages copied a transfer. With the handover a WAL takes a few
 * rounds, about half the pages are copied, and the checkpointer's CPU a
 * transfer went from 3.8-4.5 us to 1.9-2.3 us, for one wait of 2-5 ms a
 * WAL, about every three seconds (docs/performance.md). */
static int sqlite_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    (void)db;
    (void)name;
    struct sqlite_checkpointer *ck = arg;
    int before = atomic_exchange_explicit(&ck->wal_pages, pages, memory_order_relaxed);
    if (pages < before)
        atomic_fetch_add(&ck->wal_restarts, 1);
    if (pages < ck->wake_pages)
        return SQLITE_OK;

    pthread_mutex_lock(&ck->mutex);
    ck->checkpoint_wanted = true;
    /* A handover asked for before the WAL restarted by itself is stale. */
    bool handover = ck->handover_wanted && ck->handover_restarts == atomic_load(&ck->wal_restarts);
    ck->handover_wanted = false;
    if ((pages < ck->wait_pages || ck->held_back) && !handover) {
        pthread_cond_signal(&ck->work_cond);
        pthread_mutex_unlock(&ck->mutex);
        return SQLITE_OK;
    }
    ck->drain_wanted = true;
    uint64_t served = ck->drain_count;
    pthread_cond_signal(&ck->work_cond);

    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    const int64_t waited_from_ns = deadline.tv_sec * 1000000000LL + deadline.tv_nsec;
    deadline.tv_sec += STORE_SQLITE_WAL_WAIT_MS / 1000;
    deadline.tv_nsec += (long)(STORE_SQLITE_WAL_WAIT_MS % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    while (ck->drain_count == served && !ck->stopping) {
        if (pthread_cond_timedwait(&ck->done_cond, &ck->mutex, &deadline) == ETIMEDOUT)
            break; /* a stuck checkpoint must not stop payments; try next commit */
    }
    pthread_mutex_unlock(&ck->mutex);
    atomic_fetch_add_explicit(&ck->waits, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&ck->wait_us, (uint64_t)((S_now_ns() - waited_from_ns) / 1000),
                              memory_order_relaxed);
    return SQLITE_OK;
}

static void sqlite_checkpointer_free(struct sqlite_checkpointer *ck)
{
    if (ck == NULL)
        return;
    if (ck->thread_started) {
        atomic_store(&ck->closing, true);
        pthread_mutex_lock(&ck->mutex);
        ck->stopping = true;
        pthread_cond_broadcast(&ck->work_cond);
        pthread_cond_broadcast(&ck->done_cond);
        pthread_mutex_unlock(&ck->mutex);
        int rc = pthread_join(ck->thread, NULL);
        QB_ASSERT(rc == 0);
        pthread_cond_destroy(&ck->work_cond);
        pthread_cond_destroy(&ck->done_cond);
        pthread_mutex_destroy(&ck->mutex);
    }
    if (ck->db != NULL)
        sqlite3_close(ck->db);
    if (ck->db_fd >= 0)
        close(ck->db_fd);
    free(ck);
}

/* Opens the checkpointer's connection and starts its thread; on success
 * installs the wal_hook on the writer. Called after migrations, so the
 * database is known to be in WAL mode. */
static enum qb_error sqlite_checkpointer_start(struct sqlite_store *s)
{
    QB_ASSERT(s->mode == STORE_MODE_WRITE && s->checkpointer == NULL);
    struct sqlite_checkpointer *ck = calloc(1, sizeof *ck);
    if (ck == NULL)
        return sqlite_refuse(s, QB_E_STORAGE, "out of memory for the checkpointer");
    s->checkpointer = ck;
    ck->db_fd = -1;
    ck->wake_pages = S_wal_pages.wake;
    ck->wait_pages = S_wal_pages.wait;
    ck->handover_restarts = UINT64_MAX;

    /* Without the file to start write-back through, checkpoints still
     * work, in one burst each. */
    ck->db_fd = open(s->path, O_RDONLY | O_CLOEXEC);
    if (ck->db_fd < 0)
        log_event(LOG_WARN, "store.checkpoint_unspread", "error=\"%s\"", strerror(errno));
    int rc = sqlite3_open_v2(s->path, &ck->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                             S_shim_name());
    if (rc != SQLITE_OK) {
        snprintf(s->error, sizeof s->error, "sqlite: checkpointer open: %s",
                 ck->db != NULL ? sqlite3_errmsg(ck->db) : sqlite3_errstr(rc));
        return sqlite_error_map(rc);
    }
    /* A checkpoint copies into the database file and then lets the WAL be
     * reused: it must fsync first, which synchronous=FULL guarantees. */
    char *msg = NULL;
    rc = sqlite3_exec(ck->db, "PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=0;", NULL, NULL,
                      &msg);
    if (rc != SQLITE_OK) {
        snprintf(s->error, sizeof s->error, "sqlite: checkpointer pragmas: %s",
                 msg != NULL ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return sqlite_error_map(rc);
    }

    pthread_mutex_init(&ck->mutex, NULL);
    pthread_cond_init(&ck->work_cond, NULL);
    thread_cond_init(&ck->done_cond);
    if (pthread_create(&ck->thread, NULL, sqlite_checkpointer_main, ck) != 0) {
        pthread_cond_destroy(&ck->work_cond);
        pthread_cond_destroy(&ck->done_cond);
        pthread_mutex_destroy(&ck->mutex);
        return sqlite_refuse(s, QB_E_STORAGE, "cannot start the checkpointer thread");
    }
    ck->thread_started = true;
    sqlite3_wal_hook(s->db, sqlite_wal_hook, ck);
    return QB_OK;
}

/* ---- open, migrate, close -------------------------------------------- */

/* Sets a pragma and reads it back; refuses when SQLite kept another value
 * (compile options, a read-only file system, an in-memory database). */
static enum qb_error sqlite_pragma_ensure(struct sqlite_store *s, const char *name,
                                          const char *value, const char *expected)
{
    char sql[128];
    char got[64];
    snprintf(sql, sizeof sql, "PRAGMA %s=%s", name, value);
    enum qb_error err = sqlite_exec_sql(s, sql, sql);
    if (err != QB_OK)
        return err;
    snprintf(sql, sizeof sql, "PRAGMA %s", name);
    err = sqlite_query_text(s, sql, got, sizeof got);
    if (err != QB_OK)
        return err;
    if (strcmp(got, expected) != 0)
        return sqlite_refuse(s, QB_E_STORAGE,
                             "refusing the database: PRAGMA %s is '%s', not '%s'", name, got,
                             expected);
    return QB_OK;
}

/* Applies the missing migrations, all in one transaction: a database is
 * either at its old version or at the newest, never in between, and a
 * fresh one costs one commit (one fsync) rather than one per migration.
 * An empty file gets the fresh schema (schema.h) instead, the same result
 * made at once.
 * The version is read inside the transaction so two processes opening one
 * file cannot both apply the same migration. */
static enum qb_error sqlite_migrate(struct sqlite_store *s)
{
    const int64_t newest = (int64_t)store_sqlite_migration_count;
    enum qb_error err = sqlite_exec_sql(s, "BEGIN IMMEDIATE", "migration begin");
    if (err != QB_OK)
        return err;
    int64_t version = 0;
    err = sqlite_query_int64(s, "PRAGMA user_version", &version);
    if (err == QB_OK && version > newest)
        err = sqlite_refuse(s, QB_E_STORAGE,
                            "refusing the database: schema version %lld is newer than the "
                            "newest this program knows (%lld)",
                            (long long)version, (long long)newest);
    if (err == QB_OK && version < 0)
        err = sqlite_refuse(s, QB_E_STORAGE, "refusing the database: schema version %lld",
                            (long long)version);
    int64_t objects = 0;
    if (err == QB_OK && version == 0)
        err = sqlite_query_int64(s, "SELECT count(*) FROM sqlite_schema", &objects);
    /* Tables with no version of ours: another program's file (--db
     * pointed at the wrong one), never made a wallet behind its back. */
    if (err == QB_OK && version == 0 && objects > 0)
        err = sqlite_refuse(s, QB_E_STORAGE,
                            "refusing the database: it holds %lld tables and indexes but no "
                            "schema version: not a Qianbao database (another program's file?)",
                            (long long)objects);
    if (err == QB_OK && version == 0 && objects == 0) {
        /* An empty file: what the migrations would make, at once. */
        QB_ASSERT(store_sqlite_fresh_version == store_sqlite_migration_count);
        for (size_t i = 0; err == QB_OK && i < store_sqlite_fresh_statement_count; i++)
            err = sqlite_exec_sql(s, store_sqlite_fresh_schema[i], "fresh schema");
    } else {
        for (int64_t v = version; err == QB_OK && v < newest; v++)
            err = sqlite_exec_sql(s, store_sqlite_migrations[v], "migration");
    }
    if (err == QB_OK && version < newest) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version=%lld", (long long)newest);
        err = sqlite_exec_sql(s, sql, "migration version");
    }
    if (err == QB_OK)
        err = sqlite_exec_sql(s, "COMMIT", "migration commit");
    if (err != QB_OK && !sqlite3_get_autocommit(s->db))
        (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return err;
}

static enum qb_error sqlite_open_write(struct sqlite_store *s)
{
    int rc = sqlite3_open_v2(s->path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             S_shim_name());
    if (rc != SQLITE_OK)
        return sqlite_fail(s, rc, "open");
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, STORE_SQLITE_BUSY_TIMEOUT_MS);

    enum qb_error err = sqlite_pragma_ensure(s, "journal_mode", "WAL", "wal");
    if (err == QB_OK)
        err = sqlite_pragma_ensure(s, "synchronous", "FULL", "2");
    if (err == QB_OK)
        err = sqlite_pragma_ensure(s, "foreign_keys", "ON", "1");
    if (err == QB_OK)
        err = sqlite_pragma_ensure(s, "wal_autocheckpoint", "0", "0");
    /* Deleted rows are still overwritten, but a page a delete frees is no
     * longer zeroed and written for it (Debian builds SQLite with secure
     * deletion on): deleting expired idempotency records, the writer's
     * steady deletes, wrote about 0.3 pages a record that way and 0.16 without
     * (docs/performance.md). Nothing secret is kept in clear to linger in a
     * freed page: card numbers are sealed, codes and tokens hashed. */
    if (err == QB_OK)
        err = sqlite_pragma_ensure(s, "secure_delete", "FAST", "2");
    if (err != QB_OK)
        return err;
    /* The single writer touches the accounts table and the newest journal
     * pages on every batch; a large page cache keeps them out of pread(2),
     * which measured as the writer's largest cost with the default 2 MiB. */
    rc = sqlite3_exec(s->db, "PRAGMA cache_size=" STORE_SQLITE_WRITER_CACHE_KIB ";", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sqlite_fail(s, rc, "cache_size");

    /* Keep the WAL file's blocks when SQLite restarts it (see the top of
     * this file), trimming only what a stuck checkpoint let grow. */
    int64_t page_size = 0;
    err = sqlite_query_int64(s, "PRAGMA page_size", &page_size);
    if (err != QB_OK)
        return err;
    char value[32];
    snprintf(value, sizeof value, "%lld",
             (long long)(page_size * 2 * S_wal_pages.wait));
    err = sqlite_pragma_ensure(s, "journal_size_limit", value, value);
    if (err != QB_OK)
        return err;

    err = sqlite_migrate(s);
    if (err != QB_OK)
        return err;
    /* Before a savepoint's first change to a page SQLite copies the page
     * into the sub-journal, to roll back to. Past 64 KiB that journal turns
     * into a temporary file, a pwrite(2) a page, and stays one until the
     * transaction ends: after one command of 17 pages (sixteen session
     * touches) every later command of the batch with a savepoint (every
     * transfer, for its payment row) wrote its pages to disk. Kept in
     * memory, a released savepoint's journal is simply dropped. Set after
     * the migrations, whose statements over whole tables (and their sorts,
     * which temp_store keeps in memory too) may need more than memory
     * should hold; a command's journal holds the few pages it changes. */
    err = sqlite_pragma_ensure(s, "temp_store", "MEMORY", "2");
    if (err != QB_OK)
        return err;
    return sqlite_checkpointer_start(s);
}

/* Whether the database has a write-ahead log with anything in it; true
 * also when that cannot be told. */
static bool sqlite_wal_has_frames(const struct sqlite_store *s)
{
    char wal[STORE_SQLITE_PATH_SIZE_MAX + 8];
    struct stat st;
    if (snprintf(wal, sizeof wal, "%s-wal", s->path) >= (int)sizeof wal)
        return true;
    if (stat(wal, &st) != 0)
        return errno != ENOENT;
    return st.st_size > 0;
}

/* The URI "file:PATH?immutable=1" into out, PATH's '%', '?' and '#'
 * escaped as SQLite's URI parsing asks; false when out is too small. */
static bool sqlite_uri_immutable(const char *path, char *out, size_t out_size)
{
    static const char hex[] = "0123456789abcdef";
    /* "file://" before an absolute path: an empty authority. */
    int n = snprintf(out, out_size, "%s", path[0] == '/' ? "file://" : "file:");
    QB_ASSERT(n > 0 && (size_t)n < out_size);
    size_t used = (size_t)n;
    for (const char *p = path; *p != '\0'; p++) {
        bool escape = *p == '%' || *p == '?' || *p == '#';
        if (used + (escape ? 3 : 1) >= out_size)
            return false;
        if (escape) {
            out[used++] = '%';
            out[used++] = hex[(unsigned char)*p >> 4];
            out[used++] = hex[(unsigned char)*p & 15];
        } else {
            out[used++] = *p;
        }
    }
    out[used] = '\0';
    return snprintf(out + used, out_size - used, "?immutable=1") < (int)(out_size - used);
}

/* Read connections. STORE_MODE_READ_OFFLINE, of a database nobody writes
 * meanwhile: without a write-ahead log to read, the database file alone
 * holds every commit, and it is opened immutable, so that SQLite takes no
 * locks and makes no -wal or -shm beside it (a backup on read-only media
 * can be read, a writable copy is left as it was). With one, immutable
 * would not read the log (missing the commits not yet copied back, and
 * taking a checkpoint's half-done copy for the truth), so the database is
 * opened read-only as in STORE_MODE_READ, which reads the log through its
 * -shm index: made when it is missing and the directory lets it, refused
 * otherwise. */
static enum qb_error sqlite_open_read(struct sqlite_store *s)
{
    bool immutable = s->mode == STORE_MODE_READ_OFFLINE && !sqlite_wal_has_frames(s);
    int rc;
    if (immutable) {
        char uri[3 * STORE_SQLITE_PATH_SIZE_MAX + 32];
        if (!sqlite_uri_immutable(s->path, uri, sizeof uri))
            return sqlite_refuse(s, QB_E_PARAM, "the database path is too long");
        rc = sqlite3_open_v2(uri, &s->db,
                             SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI, NULL);
    } else {
        rc = sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    }
    if (rc != SQLITE_OK)
        return sqlite_fail(s, rc, "open");
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, STORE_SQLITE_BUSY_TIMEOUT_MS);

    enum qb_error err = sqlite_pragma_ensure(s, "query_only", "1", "1");
    if (err != QB_OK)
        return err;
    /* A reader's page cache is discarded whenever the writer has committed
     * since the reader's last transaction, i.e. before nearly every request
     * under load; every page would then be read again with a pread. Mapped,
     * the database file's pages are read in place (pages still in the WAL
     * are read from it as before). Nothing ever shrinks the database file
     * (no VACUUM), so a mapped page cannot vanish under a reader. */
    rc = sqlite3_exec(s->db, "PRAGMA mmap_size=" STORE_SQLITE_READER_MMAP_BYTES, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sqlite_fail(s, rc, "mmap_size");
    /* Outside WAL a reader would block the writer; the write store switches
     * the file to WAL, so it must have been opened first. An immutable
     * database has no writer to block (and reads as "delete"). */
    char mode[16];
    err = sqlite_query_text(s, "PRAGMA journal_mode", mode, sizeof mode);
    if (err != QB_OK && s->mode == STORE_MODE_READ_OFFLINE &&
        (sqlite3_extended_errcode(s->db) & 0xff) == SQLITE_CANTOPEN)
        return sqlite_refuse(s, err,
                             "cannot read the write-ahead log \"%s-wal\": it needs its index "
                             "\"%s-shm\", which is missing and cannot be made here (a read-only "
                             "directory?); check a copy of the directory on writable storage",
                             s->path, s->path);
    if (err != QB_OK)
        return err;
    if (!immutable && strcmp(mode, "wal") != 0)
        return sqlite_refuse(s, QB_E_STORAGE,
                             "refusing the database: journal_mode is '%s', not 'wal' (open the "
                             "write store first)",
                             mode);
    int64_t version = 0;
    err = sqlite_query_int64(s, "PRAGMA user_version", &version);
    if (err != QB_OK)
        return err;
    if (version > (int64_t)store_sqlite_migration_count)
        return sqlite_refuse(s, QB_E_STORAGE,
                             "refusing the database: schema version %lld is newer than the newest "
                             "this program knows (%lld)",
                             (long long)version, (long long)store_sqlite_migration_count);
    return QB_OK;
}

static void sqlite_close(struct store *store)
{
    if (store == NULL)
        return;
    struct sqlite_store *s = sqlite_store_of(store);
    /* The checkpointer goes first: it must not checkpoint a file whose
     * writer is closing, and its hook must not outlive it. */
    if (s->db != NULL)
        sqlite3_wal_hook(s->db, NULL, NULL);
    sqlite_checkpointer_free(s->checkpointer);
    s->checkpointer = NULL;
    for (size_t i = 0; i < s->cache_count; i++) {
        /* A statement still out at close is a leak in the caller. */
        QB_ASSERT(!s->cache[i].in_use);
        sqlite3_finalize(s->cache[i].st->stmt);
        free(s->cache[i].st);
        free(s->cache[i].sql);
    }
    s->cache_count = 0;
    sqlite3_finalize(s->st_begin);
    sqlite3_finalize(s->st_commit);
    for (size_t i = 0; i < STORE_SQLITE_CONTROL_DEPTH; i++) {
        sqlite3_finalize(s->st_savepoint[i]);
        sqlite3_finalize(s->st_release[i]);
    }
    if (s->db != NULL) {
        /* An unfinalized statement is a leak in the caller: fail loudly. */
        int rc = sqlite3_close(s->db);
        QB_ASSERT(rc == SQLITE_OK);
    }
    free(s);
}

/* Library-wide settings, made once before the first connection. Memory
 * statistics take a global mutex on every allocation SQLite makes, which
 * the single writer paid on every row; Qianbao never reads them. */
/* SQLite's own error log: recovered WAL frames, corruption it noticed,
 * I/O errors with their system errno. Rare, and what an operator needs.
 * Constraint failures are answers Qianbao asks for (a duplicate is how an
 * existing row is found) and statements re-prepared after a schema change
 * are routine: neither is logged. */
static void sqlite_log(void *arg, int code, const char *message)
{
    (void)arg;
    if ((code & 0xff) == SQLITE_CONSTRAINT || (code & 0xff) == SQLITE_SCHEMA)
        return;
    log_event(LOG_WARN, "store.sqlite_log", "code=%d message=\"%s\"", code,
              message != NULL ? message : "");
}

static void sqlite_configure_once(void)
{
    if (!sqlite_pcache_install())
        log_event(LOG_WARN, "store.sqlite_config", "setting=pcache result=ignored");
    if (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK)
        log_event(LOG_WARN, "store.sqlite_config", "setting=memstatus result=ignored");
    if (sqlite3_config(SQLITE_CONFIG_LOG, sqlite_log, NULL) != SQLITE_OK)
        log_event(LOG_WARN, "store.sqlite_config", "setting=log result=ignored");
}

/* Opens a connection. On failure *out may still hold a connection that only
 * answers last_error and close, so that store_open can report the reason
 * (the ops table has no error buffer of its own). */
static enum qb_error sqlite_open(const char *url, enum store_mode mode, struct store **out)
{
    QB_ASSERT(url != NULL && out != NULL);
    QB_ASSERT(mode == STORE_MODE_WRITE || mode == STORE_MODE_READ ||
              mode == STORE_MODE_READ_OFFLINE);
    *out = NULL;
    struct sqlite_store *s = calloc(1, sizeof *s);
    if (s == NULL)
        return QB_E_STORAGE;
    s->base.ops = &store_sqlite_ops;
    s->mode = mode;
    *out = &s->base;

    static pthread_once_t configured = PTHREAD_ONCE_INIT;
    pthread_once(&configured, sqlite_configure_once);
    if (!sqlite3_threadsafe())
        return sqlite_refuse(s, QB_E_STORAGE, "the SQLite library was built without threads");
    enum qb_error err = sqlite_url_path(s, url);
    if (err != QB_OK)
        return err;
    err = mode == STORE_MODE_WRITE ? sqlite_open_write(s) : sqlite_open_read(s);
    /* No migration makes a trigger or a view. One in the file was put
     * there by hand, and a trigger runs inside the daemon's own writes,
     * where it could change what a command writes as it writes it: the
     * daemon's start and the operator's check refuse such a file (a pool's
     * readers, opened beside a running writer, leave it to them). */
    char foreign[160] = "";
    if (err == QB_OK && mode != STORE_MODE_READ)
        err = sqlite_query_text(s,
                                "SELECT type || ' \"' || name || '\"' FROM sqlite_schema"
                                " WHERE type IN ('trigger', 'view') ORDER BY name LIMIT 1",
                                foreign, sizeof foreign);
    if (err == QB_OK && foreign[0] != '\0')
        err = sqlite_refuse(s, QB_E_STORAGE,
                            "refusing the database: it holds the %s, which no Qianbao migration "
                            "makes (someone with write access to the file put it there): keep a "
                            "copy of the file for the investigation, then drop it",
                            foreign);
    if (err != QB_OK)
        return err;
    s->error[0] = '\0';
    return QB_OK;
}

/* ---- transactions ---------------------------------------------------- */

/* True when a transaction is open; forgets savepoints SQLite dropped when it
 * rolled a transaction back by itself. */
static bool sqlite_in_transaction(struct sqlite_store *s)
{
    if (sqlite3_get_autocommit(s->db)) {
        s->savepoint_depth = 0;
        return false;
    }
    return true;
}

/* Resets every statement left mid-way, so none keeps a read snapshot or a
 * half-read row across the end of a transaction. */
static void sqlite_reset_busy(struct sqlite_store *s)
{
    for (sqlite3_stmt *st = sqlite3_next_stmt(s->db, NULL); st != NULL;
         st = sqlite3_next_stmt(s->db, st)) {
        if (sqlite3_stmt_busy(st))
            sqlite3_reset(st);
    }
}

/* Write connections take the write lock at once (BEGIN IMMEDIATE), so a
 * transaction never fails half-way for want of it; read connections begin a
 * deferred transaction, which pins one snapshot for all their queries. */
static enum qb_error sqlite_begin(struct store *store)
{
    struct sqlite_store *s = sqlite_store_of(store);
    if (sqlite_in_transaction(s))
        return sqlite_refuse(s, QB_E_INTERNAL, "begin: a transaction is already open");
    return sqlite_control(s, &s->st_begin,
                          s->mode == STORE_MODE_WRITE ? "BEGIN IMMEDIATE" : "BEGIN", "begin");
}

static enum qb_error sqlite_commit(struct store *store)
{
    struct sqlite_store *s = sqlite_store_of(store);
    if (!sqlite_in_transaction(s))
        return sqlite_refuse(s, QB_E_STORAGE, "commit: no transaction is open (it was rolled "
                                              "back after an error)");
    uint64_t written = sqlite_shim_commits_written();
    enum qb_error err = sqlite_control(s, &s->st_commit, "COMMIT", "commit");
    if (err != QB_OK && sqlite_shim_commits_written() != written) {
        /* It failed after its last frame was in the WAL (growing the WAL
         * index, with the disk full): not visible now, but a restart's
         * recovery finds it whole. Neither "done" nor "failed" is true, so
         * nobody is told either: stop, as a failed sync does, and the
         * restart has what the disk kept (store.h, store_commit). */
        log_event(LOG_ERROR, "store.commit_unknown",
                  "action=stop error=\"%s\" reason=\"the commit failed after it reached the WAL: "
                  "a restart recovers it or not\"",
                  sqlite3_errmsg(s->db));
        fflush(NULL);
        _exit(EXIT_FAILURE);
    }
    (void)sqlite_in_transaction(s);
    if (err == QB_OK)
        s->savepoint_depth = 0;
    return err;
}

/* Rolls the open transaction back; answers QB_OK when there is none (SQLite
 * may already have rolled it back after an error), so error paths can
 * always call it. */
static enum qb_error sqlite_rollback(struct store *store)
{
    struct sqlite_store *s = sqlite_store_of(store);
    sqlite_reset_busy(s);
    if (!sqlite_in_transaction(s))
        return QB_OK;
    enum qb_error err = sqlite_exec_sql(s, "ROLLBACK", "rollback");
    (void)sqlite_in_transaction(s);
    return err;
}

/* Opens savepoint s<depth+1> inside the open transaction. */
static enum qb_error sqlite_savepoint(struct store *store)
{
    struct sqlite_store *s = sqlite_store_of(store);
    if (!sqlite_in_transaction(s))
        return sqlite_refuse(s, QB_E_STORAGE, "savepoint: no transaction is open");
    if (s->savepoint_depth >= STORE_SQLITE_SAVEPOINT_DEPTH_MAX)
        return sqlite_refuse(s, QB_E_INTERNAL, "savepoint: more than %d nested savepoints",
                             STORE_SQLITE_SAVEPOINT_DEPTH_MAX);
    char sql[32];
    int depth = s->savepoint_depth + 1;
    snprintf(sql, sizeof sql, "SAVEPOINT s%d", depth);
    enum qb_error err = depth <= STORE_SQLITE_CONTROL_DEPTH
                            ? sqlite_control(s, &s->st_savepoint[depth - 1], sql, "savepoint")
                            : sqlite_exec_sql(s, sql, "savepoint");
    if (err == QB_OK)
        s->savepoint_depth++;
    return err;
}

/* Keeps the work done since the innermost savepoint (it becomes part of the
 * enclosing savepoint or transaction) and removes that savepoint. */
static enum qb_error sqlite_release(struct store *store)
{
    struct sqlite_store *s = sqlite_store_of(store);
    if (!sqlite_in_transaction(s))
        return sqlite_refuse(s, QB_E_STORAGE, "release: no transaction is open");
    QB_ASSERT(s->savepoint_depth > 0); /* release without a savepoint */
    char sql[32];
    int depth = s->savepoint_depth;
    snprintf(sql, sizeof sql, "RELEASE s%d", depth);
    enum qb_error err = depth <= STORE_SQLITE_CONTROL_DEPTH
                            ? sqlite_control(s, &s->st_release[depth - 1], sql, "release")
                            : sqlite_exec_sql(s, sql, "release");
    if (err == QB_OK)
        s->savepoint_depth--;
    return err;
}

/* Undoes everything done since the innermost savepoint and removes that
 * savepoint; the transaction and any outer savepoints stay open. */
static enum qb_error sqlite_rollback_to(struct store *store)
{
    struct sqlite_store *s = sqlite_store_of(store);
    if (!sqlite_in_transaction(s))
        return sqlite_refuse(s, QB_E_STORAGE, "rollback_to: no transaction is open");
    QB_ASSERT(s->savepoint_depth > 0); /* rollback_to without a savepoint */
    char sql[64];
    snprintf(sql, sizeof sql, "ROLLBACK TO s%d; RELEASE s%d", s->savepoint_depth,
             s->savepoint_depth);
    enum qb_error err = sqlite_exec_sql(s, sql, "rollback_to");
    if (err == QB_OK)
        s->savepoint_depth--;
    return err;
}

/* ---- statements ------------------------------------------------------ */

/* Parses "$N" (1 <= N <= count, no leading zero); 0 for anything else. */
static int sqlite_param_number(const char *name, int count)
{
    if (name == NULL || name[0] != '$' || name[1] < '1' || name[1] > '9')
        return 0;
    int n = 0;
    for (const char *p = name + 1; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        n = n * 10 + (*p - '0');
        if (n > count)
            return 0;
    }
    return n;
}

/* Prepares one statement; the SQL must hold exactly one, and its parameters
 * must be $1..$N with none missing, as PostgreSQL requires. */
static uint64_t sqlite_sql_hash(const char *sql)
{
    uint64_t hash = 14695981039346656037ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)sql; *p != '\0'; p++)
        hash = (hash ^ *p) * 1099511628211ULL;
    return hash;
}

static enum qb_error sqlite_prepare_new(struct sqlite_store *s, const char *sql,
                                        struct sqlite_stmt **out);

static enum qb_error sqlite_prepare(struct store *store, const char *sql, struct store_stmt **out)
{
    struct sqlite_store *s = sqlite_store_of(store);
    QB_ASSERT(sql != NULL && out != NULL);
    *out = NULL;
    /* Most SQL is a string literal, asked for at the same address each
     * time: found by its address (the text still compared, since a buffer
     * may hold other SQL at the same address later) without hashing it. */
    for (size_t i = 0; i < s->cache_count; i++) {
        struct sqlite_cached *c = &s->cache[i];
        if (c->caller_sql == sql && !c->in_use && strcmp(c->sql, sql) == 0) {
            c->in_use = true;
            *out = &c->st->base;
            return QB_OK;
        }
    }
    uint64_t hash = sqlite_sql_hash(sql);
    bool known = false;
    for (size_t i = 0; i < s->cache_count; i++) {
        struct sqlite_cached *c = &s->cache[i];
        if (c->hash != hash || strcmp(c->sql, sql) != 0)
            continue;
        known = true;
        if (!c->in_use) {
            c->in_use = true;
            *out = &c->st->base;
            return QB_OK;
        }
    }
    struct sqlite_stmt *st = NULL;
    enum qb_error err = sqlite_prepare_new(s, sql, &st);
    if (err != QB_OK)
        return err;
    if (!known && s->cache_count < STORE_SQLITE_CACHE_SIZE) {
        char *copy = strdup(sql);
        if (copy != NULL) {
            struct sqlite_cached *c = &s->cache[s->cache_count++];
            *c = (struct sqlite_cached){hash, copy, sql, st, true};
            st->cached = c;
        }
    }
    *out = &st->base;
    return QB_OK;
}

static enum qb_error sqlite_prepare_new(struct sqlite_store *s, const char *sql,
                                        struct sqlite_stmt **out)
{
    sqlite3_stmt *stmt = NULL;
    const char *tail = NULL;
    int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
    if (rc != SQLITE_OK)
        return sqlite_fail(s, rc, "prepare");
    if (stmt == NULL)
        return sqlite_refuse(s, QB_E_INTERNAL, "prepare: the SQL holds no statement");
    while (tail != NULL && (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == '\r' ||
                            *tail == ';'))
        tail++;
    if (tail != NULL && *tail != '\0') {
        sqlite3_finalize(stmt);
        return sqlite_refuse(s, QB_E_INTERNAL, "prepare: the SQL holds more than one statement");
    }

    int count = sqlite3_bind_parameter_count(stmt);
    size_t index_size = (size_t)(count + 1) * sizeof(int);
    struct sqlite_stmt *st = calloc(1, sizeof *st + index_size);
    if (st == NULL) {
        sqlite3_finalize(stmt);
        return sqlite_refuse(s, QB_E_STORAGE, "prepare: out of memory");
    }
    /* Each SQLite parameter is a distinct name; when every name is some $N
     * with N <= count, the names are exactly $1..$count. */
    for (int i = 1; i <= count; i++) {
        int n = sqlite_param_number(sqlite3_bind_parameter_name(stmt, i), count);
        if (n == 0 || st->param_index[n] != 0) {
            sqlite3_finalize(stmt);
            free(st);
            return sqlite_refuse(s, QB_E_INTERNAL,
                                 "prepare: parameters must be $1..$%d, each used", count);
        }
        st->param_index[n] = i;
    }
    st->base.ops = &store_sqlite_ops;
    st->store = s;
    st->stmt = stmt;
    st->param_count = count;
    *out = st;
    return QB_OK;
}

static void sqlite_finalize(struct store_stmt *stmt)
{
    struct sqlite_stmt *st = sqlite_stmt_of(stmt);
    if (st->cached != NULL) {
        QB_ASSERT(st->cached->in_use);
        sqlite3_reset(st->stmt);
        sqlite3_clear_bindings(st->stmt);
        st->base.borrowed = false;
        st->cached->in_use = false;
        return;
    }
    sqlite3_finalize(st->stmt);
    free(st);
}

/* Resets a statement for its next run and clears its bindings: a value
 * bound for one request never leaks into the next, and a missing bind reads
 * as NULL instead of as stale data. */
static void sqlite_reset(struct store_stmt *stmt)
{
    struct sqlite_stmt *st = sqlite_stmt_of(stmt);
    sqlite3_reset(st->stmt);
    sqlite3_clear_bindings(st->stmt);
}

static int sqlite_param(struct sqlite_stmt *st, int index)
{
    QB_ASSERT(index >= 1 && index <= st->param_count); /* no such $N in the SQL */
    return st->param_index[index];
}

static enum qb_error sqlite_bind_result(struct sqlite_stmt *st, int rc)
{
    if (rc == SQLITE_OK)
        return QB_OK;
    return sqlite_fail(st->store, rc, "bind");
}

static enum qb_error sqlite_bind_int64(struct store_stmt *stmt, int index, int64_t value)
{
    struct sqlite_stmt *st = sqlite_stmt_of(stmt);
    return sqlite_bind_result(st, sqlite3_bind_int64(st->stmt, sqlite_param(st, index), value));
}

static sqlite3_destructor_type sqlite_bind_copy(const struct sqlite_stmt *st)
{
    return st->base.borrowed ? SQLITE_STATIC : SQLITE_TRANSIENT;
}

/* Text and blobs are copied (SQLITE_TRANSIENT): the caller's buffer may be
 * gone before the statement steps; unless the statement is borrowed
 * (store_run), when SQLite reads them in place (SQLITE_STATIC) and the
 * bindings are cleared before the caller's buffers go. An empty value is
 * bound as an empty value, never as NULL (SQLite binds NULL for a NULL
 * pointer). */
static enum qb_error sqlite_bind_text(struct store_stmt *stmt, int index, const char *text,
                                      size_t size)
{
    struct sqlite_stmt *st = sqlite_stmt_of(stmt);
    QB_ASSERT(text != NULL || size == 0);
    return sqlite_bind_result(st, sqlite3_bind_text64(st->stmt, sqlite_param(st, index),
                                                      size == 0 ? "" : text, size,
                                                      sqlite_bind_copy(st), SQLITE_UTF8));
}

static enum qb_error sqlite_bind_blob(struct store_stmt *stmt, int index, const void *data,
                                      size_t size)
{
    struct sqlite_stmt *st = sqlite_stmt_of(stmt);
    QB_ASSERT(data != NULL || size == 0);
    int param = sqlite_param(st, index);
    if (size == 0)
        return sqlite_bind_result(st, sqlite3_bind_zeroblob(st->stmt, param, 0));
    return sqlite_bind_result(
        st, sqlite3_bind_blob64(st->stmt, param, data, size, sqlite_bind_copy(st)));
}

static enum qb_error sqlite_bind_null(struct store_stmt *stmt, int index)
{
    struct sqlite_stmt *st = sqlite_stmt_of(stmt);
    return sqlite_bind_result(st, sqlite3_bind_null(st->stmt, sqlite_param(st, index)));
}

/* Steps once. A failed step is reset at once so that the statement holds
 * no lock or snapshot while the caller decides what to do. */
static int sqlite_step(struct store_stmt *stmt)
{
    struct sqlite_stmt *st = sqlite_stmt_of(stmt);
    sqlite_enter(st->store);
    int rc = sqlite3_step(st->stmt);
    sqlite_leave(st->store);
    if (rc == SQLITE_ROW)
        return STORE_STEP_ROW;
    if (rc == SQLITE_DONE)
        return STORE_STEP_DONE;
    enum qb_error err = sqlite_fail(st->store, rc, "step");
    sqlite3_reset(st->stmt);
    (void)sqlite_in_transaction(st->store);
    QB_ASSERT(err != QB_OK);
    return -(int)err;
}

static void sqlite_column_check(struct sqlite_stmt *st, int index)
{
    QB_ASSERT(index >= 0 && index < sqlite3_column_count(st->stmt)); /* no such column */
}

static int64_t sqlite_column_int64(struct store_stmt *stmt, int index)
{
    struct sqlite_stmt *st = sqlite_stmt_of(stmt);
    sqlite_column_check(st, index);
    return sqlite3_column_int64(st->stmt, index);
}

static const char *sqlite_column_text(struct store_stmt *stmt, int index)
{
    struct sqlite_stmt *st = sqlite_stmt_of(stmt);
    sqlite_column_check(st, index);
    const unsigned char *text = sqlite3_column_text(st->stmt, index);
    return text != NULL ? (const char *)text : "";
}

/* Never NULL, so that memcpy(dst, blob, 0) is defined for empty blobs. */
static const void *sqlite_column_blob(struct store_stmt *stmt, int index)
{
    static const unsigned char empty[1];
    struct sqlite_stmt *st = sqlite_stmt_of(stmt);
    sqlite_column_check(st, index);
    const void *blob = sqlite3_column_blob(st->stmt, index);
    return blob != NULL ? blob : empty;
}

/* Bytes of the value as last read by column_text or column_blob (call one
 * of them first, as with sqlite3_column_bytes). */
static size_t sqlite_column_size(struct store_stmt *stmt, int index)
{
    struct sqlite_stmt *st = sqlite_stmt_of(stmt);
    sqlite_column_check(st, index);
    int size = sqlite3_column_bytes(st->stmt, index);
    QB_ASSERT(size >= 0);
    return (size_t)size;
}

static bool sqlite_column_is_null(struct store_stmt *stmt, int index)
{
    struct sqlite_stmt *st = sqlite_stmt_of(stmt);
    sqlite_column_check(st, index);
    return sqlite3_column_type(st->stmt, index) == SQLITE_NULL;
}

/* ---- the rest -------------------------------------------------------- */

static enum qb_error sqlite_exec(struct store *store, const char *sql)
{
    struct sqlite_store *s = sqlite_store_of(store);
    QB_ASSERT(sql != NULL);
    enum qb_error err = sqlite_exec_sql(s, sql, "exec");
    if (err != QB_OK)
        (void)sqlite_in_transaction(s);
    return err;
}

/* synchronous=NORMAL in WAL mode: COMMIT appends its frames and returns;
 * only the WAL header after a restart is still synced by SQLite (so a crash
 * can never mix an old WAL's frames with a new one's). Recovery keeps the
 * longest prefix of frames whose checksums hold, so a crash loses a suffix
 * of commits, never one in the middle: the ones no sqlite_sync covered.
 * The checkpointer's own connection stays FULL: it syncs the WAL before it
 * copies any frame into the database file. */
static enum qb_error sqlite_defer_sync(struct store *store, bool defer)
{
    struct sqlite_store *s = sqlite_store_of(store);
    if (s->mode != STORE_MODE_WRITE || sqlite_in_transaction(s))
        return sqlite_refuse(s, QB_E_INTERNAL, "defer_sync: a write connection outside a "
                                               "transaction only");
    if (!defer)
        return sqlite_pragma_ensure(s, "synchronous", "FULL", "2");
    enum qb_error err = sqlite_pragma_ensure(s, "synchronous", "NORMAL", "1");
    if (err != QB_OK)
        return err;
    sqlite3_file *wal = NULL;
    int rc = sqlite3_file_control(s->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal);
    if (rc != SQLITE_OK || wal == NULL || wal->pMethods == NULL)
        return sqlite_refuse(s, QB_E_STORAGE, "defer_sync: the WAL file is not open");
    s->wal_file = wal;
    return QB_OK;
}

/* Not sqlite_enter: this runs beside the owner's calls on purpose. The WAL
 * file object lives as long as the connection, and a sync only flushes what
 * the kernel holds for the file; the owner may be appending meanwhile. */
static enum qb_error sqlite_sync(struct store *store)
{
    struct sqlite_store *s = sqlite_store_of(store);
    QB_ASSERT(s->wal_file != NULL); /* defer_sync first */
    int rc = s->wal_file->pMethods->xSync(s->wal_file, SQLITE_SYNC_NORMAL);
    return rc == SQLITE_OK ? QB_OK : QB_E_STORAGE;
}

/* Read from the database on every call: the writer may migrate while a
 * reader is open, and a remembered number would go stale. -1 on failure. */
static int64_t sqlite_schema_version(struct store *store)
{
    struct sqlite_store *s = sqlite_store_of(store);
    int64_t version = -1;
    if (sqlite_query_int64(s, "PRAGMA user_version", &version) != QB_OK)
        return -1;
    return version;
}

static const char *sqlite_last_error(struct store *store)
{
    return sqlite_store_of(store)->error;
}

static void sqlite_stats(struct store *store, struct store_stats *out)
{
    const struct sqlite_checkpointer *ck = sqlite_store_of(store)->checkpointer;
    if (ck == NULL)
        return; /* a read connection */
    out->wal_frames = atomic_load_explicit(&ck->wal_pages, memory_order_relaxed);
    out->wal_restarts_total = atomic_load_explicit(&ck->wal_restarts, memory_order_relaxed);
    out->checkpoint_rounds_total = atomic_load_explicit(&ck->rounds, memory_order_relaxed);
    out->checkpoint_bytes_total = atomic_load_explicit(&ck->copied_bytes, memory_order_relaxed);
    out->checkpoint_waits_total = atomic_load_explicit(&ck->waits, memory_order_relaxed);
    out->checkpoint_wait_us_total = atomic_load_explicit(&ck->wait_us, memory_order_relaxed);
}

/* PRAGMA integrity_check: every page, cell, freelist entry and index row.
 * Its first rows (at most eight, joined with "; ") say what is wrong. */
static enum qb_error sqlite_check_structure(struct store *store, char *problem, size_t problem_size)
{
    struct sqlite_store *s = sqlite_store_of(store);
    sqlite3_stmt *st = NULL;
    QB_ASSERT(problem_size > 0);
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA integrity_check(8)", -1, &st, NULL);
    size_t used = 0;
    bool sound = false;
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        const char *row = (const char *)sqlite3_column_text(st, 0);
        if (row != NULL && strcmp(row, "ok") == 0) {
            sound = true;
            continue;
        }
        /* A row may hold several findings, a line each, under a header
         * naming the schema ("*** in database main ***"): one line of
         * findings, each after "; ", so that a report of them stays one
         * line (qianbaod --verify's verdict is its last). */
        const char *line = row != NULL ? row : "";
        do {
            size_t size = strcspn(line, "\n");
            bool header = size > 8 && strncmp(line, "*** ", 4) == 0 &&
                          strncmp(line + size - 4, " ***", 4) == 0;
            if (!header && size > 0) {
                int wrote = snprintf(problem + used, problem_size - used, "%s%.*s",
                                     used > 0 ? "; " : "", (int)size, line);
                if (wrote > 0)
                    used = used + (size_t)wrote < problem_size ? used + (size_t)wrote
                                                               : problem_size - 1;
            }
            line += size;
        } while (*line++ == '\n');
    }
    if (rc != SQLITE_DONE) {
        /* A file too damaged to walk is damaged too: say what SQLite said. */
        snprintf(problem, problem_size, "%s", sqlite3_errmsg(s->db));
        sqlite3_finalize(st);
        int primary = rc & 0xff;
        return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB ? QB_E_INTERNAL : QB_E_STORAGE;
    }
    sqlite3_finalize(st);
    return sound && used == 0 ? QB_OK : QB_E_INTERNAL;
}

const struct store_ops store_sqlite_ops = {
    .name = "sqlite",
    .accepts = sqlite_accepts,
    .open = sqlite_open,
    .close = sqlite_close,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .savepoint = sqlite_savepoint,
    .release = sqlite_release,
    .rollback_to = sqlite_rollback_to,
    .prepare = sqlite_prepare,
    .finalize = sqlite_finalize,
    .reset = sqlite_reset,
    .bind_int64 = sqlite_bind_int64,
    .bind_text = sqlite_bind_text,
    .bind_blob = sqlite_bind_blob,
    .bind_null = sqlite_bind_null,
    .step = sqlite_step,
    .column_int64 = sqlite_column_int64,
    .column_text = sqlite_column_text,
    .column_blob = sqlite_column_blob,
    .column_size = sqlite_column_size,
    .column_is_null = sqlite_column_is_null,
    .exec = sqlite_exec,
    .schema_version = sqlite_schema_version,
    .last_error = sqlite_last_error,
    .defer_sync = sqlite_defer_sync,
    .sync = sqlite_sync,
    .stats = sqlite_stats,
    .check_structure = sqlite_check_structure,
};

/*
 * store.h — the storage interface: one ops table, one file per backend.
 *
 * Owns: connections to the database and the statement API every module
 * above uses to read and write rows. Modelled on curl's vtls: a
 * struct store_ops of function pointers, one implementation per backend
 * (store_sqlite.c today; store_postgres.c later), chosen by URL at open.
 *
 * SQL dialect: statements are written once, in the subset SQLite and
 * PostgreSQL share, with positional parameters $1, $2, ...: $N binds index N
 * wherever and however often it appears, as in PostgreSQL (the SQLite
 * backend maps each $N to SQLite's own index at prepare; it refuses "?",
 * ":name", gaps in the numbering and more than one statement). Table
 * definitions differ per backend and live in each backend's migration list;
 * queries do not.
 *
 * A failing statement inside a transaction: SQLite keeps the transaction
 * usable, PostgreSQL aborts it. Portable code therefore runs any statement
 * that may fail (a UNIQUE insert) inside a savepoint and rolls back to it
 * (the ledger executor gives every command its own savepoint when it writes).
 *
 * Transactions: a write connection runs one transaction at a time, with
 * nested savepoints (store_savepoint / store_release / store_rollback_to) so
 * the ledger executor can roll back one command of a batch alone. Commit is
 * durable when it returns QB_OK: the backend refuses to open a database whose
 * settings would make it otherwise (SQLite: WAL + synchronous=FULL). The one
 * exception is asked for by name: after store_defer_sync, commit returns once
 * the transaction is written and visible, and it is durable only when a later
 * store_sync has returned. The ledger executor does that, so that its writer
 * runs the next batch while another thread waits for the disk; it then owns
 * the rule that nothing is acknowledged, and nothing a reader saw is acted
 * on, before the sync (struct store_horizon).
 *
 * Threads: a connection belongs to one thread at a time. The daemon opens one
 * write connection (owned by the ledger executor) and a pool of read
 * connections (store_pool) for everyone else.
 *
 * Must never: log or return bound values (they may be secrets); keep a
 * statement across a failed transaction without resetting it.
 */
#ifndef QB_STORE_STORE_H
#define QB_STORE_STORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"

struct store;
struct store_stmt;

enum store_mode {
    STORE_MODE_WRITE,    /* creates and migrates the database; one per process */
    STORE_MODE_READ,     /* read-only; sees only committed data */
    /* Read-only, of a database no process writes while it is open (a
     * backup, a stopped daemon's: the caller makes sure, by a lock of its
     * own): needs no write access to the database's directory and makes no
     * file beside it, where the backend can do without (SQLite: when there
     * is no write-ahead log to read; see sqlite_open_read). */
    STORE_MODE_READ_OFFLINE,
};

/* What store_step answers besides errors. */
enum store_step {
    STORE_STEP_ROW = 1,  /* a row is ready for the column accessors */
    STORE_STEP_DONE = 2, /* no (more) rows; the statement ran to completion */
};

/* Backend-specific failures are reported as:
 *   QB_E_CONFLICT  a UNIQUE or PRIMARY KEY constraint refused the write
 *   QB_E_BUSY      the database is locked by another process
 *   QB_E_STORAGE   I/O error, full disk, corruption, lost connection
 * and the backend's own text is kept for store_last_error (never shown to
 * clients, never containing bound values). */

/* What a write connection's write-ahead log and its checkpoints did since
 * the connection opened, for /metrics. Any thread may read them while the
 * connection is open. SQLite: the WAL's frames, its restarts from the
 * start, the checkpointer's rounds and the bytes they copied into the
 * database file, and the writer's waits for a checkpoint. */
struct store_stats {
    int64_t wal_frames; /* now, as of the last commit */
    uint64_t wal_restarts_total;
    uint64_t checkpoint_rounds_total;
    uint64_t checkpoint_bytes_total;
    uint64_t checkpoint_waits_total; /* commits after which the writer waited */
    uint64_t checkpoint_wait_us_total;
};

struct store_ops {
    const char *name; /* "sqlite", "postgres" */
    /* True when this backend handles url ("file:..." / a path; "postgres://"). */
    bool (*accepts)(const char *url);
    enum qb_error (*open)(const char *url, enum store_mode mode, struct store **out);
    void (*close)(struct store *store);

    enum qb_error (*begin)(struct store *store);
    enum qb_error (*commit)(struct store *store);
    enum qb_error (*rollback)(struct store *store);
    enum qb_error (*savepoint)(struct store *store);
    enum qb_error (*release)(struct store *store);
    enum qb_error (*rollback_to)(struct store *store);

    enum qb_error (*prepare)(struct store *store, const char *sql, struct store_stmt **out);
    void (*finalize)(struct store_stmt *stmt);
    void (*reset)(struct store_stmt *stmt);
    enum qb_error (*bind_int64)(struct store_stmt *stmt, int index, int64_t value);
    enum qb_error (*bind_text)(struct store_stmt *stmt, int index, const char *text, size_t size);
    enum qb_error (*bind_blob)(struct store_stmt *stmt, int index, const void *data, size_t size);
    enum qb_error (*bind_null)(struct store_stmt *stmt, int index);
    /* QB_OK is never answered: STORE_STEP_ROW, STORE_STEP_DONE, or an error
     * (negated enum qb_error), see store_step. */
    int (*step)(struct store_stmt *stmt);
    int64_t (*column_int64)(struct store_stmt *stmt, int index);
    const char *(*column_text)(struct store_stmt *stmt, int index);
    const void *(*column_blob)(struct store_stmt *stmt, int index);
    size_t (*column_size)(struct store_stmt *stmt, int index);
    bool (*column_is_null)(struct store_stmt *stmt, int index);

    /* Runs one or more statements without parameters (DDL, pragmas). */
    enum qb_error (*exec)(struct store *store, const char *sql);
    /* Write connections, outside a transaction: from now on commit does
     * not wait for the disk (SQLite: synchronous=NORMAL, read back), or,
     * with defer false, does again. */
    enum qb_error (*defer_sync)(struct store *store, bool defer);
    /* After defer_sync: makes every commit that has returned durable. The
     * one call that may run on another thread while the connection's owner
     * uses it. A failure means those commits may be lost: see ledger.c. */
    enum qb_error (*sync)(struct store *store);
    /* The schema version after migrations, for /healthz and tests. */
    int64_t (*schema_version)(struct store *store);
    const char *(*last_error)(struct store *store);
    /* What a write connection's log and checkpoints did (struct
     * store_stats); NULL when the backend keeps no such figures. */
    void (*stats)(struct store *store, struct store_stats *out);
    /* Checks the database's own structures, every page and index of every
     * table (SQLite: PRAGMA integrity_check), outside a transaction: QB_OK
     * when sound; QB_E_INTERNAL with the first problems found in problem;
     * QB_E_STORAGE when the check could not run. NULL when the backend has
     * no such check. */
    enum qb_error (*check_structure)(struct store *store, char *problem, size_t problem_size);
};

/* A connection: the backend's ops plus its private state. Backends embed
 * this as the first member of their own struct. */
struct store {
    const struct store_ops *ops;
};

struct store_stmt {
    const struct store_ops *ops;
    /* Set by store_run for its one run: bind_text and bind_blob may keep
     * the caller's pointers instead of copying the bytes, which outlive the
     * run. Cleared by finalize; every other use copies. */
    bool borrowed;
};

/* Opens url with the first backend that accepts it. A plain path or
 * "file:PATH" is SQLite. In STORE_MODE_WRITE the database is created if
 * missing and migrated to the newest schema version. Refuses (QB_E_STORAGE
 * with a message in err) a database whose durability settings are unsafe
 * or whose schema is newer than this program knows. */
QB_MUST_USE enum qb_error store_open(const char *url, enum store_mode mode, struct store **out,
                                     char *err, size_t err_size);
void store_close(struct store *store);
/* The file a url names for the SQLite backend, by the rules store_open
 * follows: a plain path, "file:PATH" or "file:///PATH", without a query;
 * any other "scheme://" url names none. QB_OK with the path in out, else
 * QB_E_PARAM with *why. (The daemon locks that file, and refuses a url no
 * backend opens before it makes anything.) */
QB_MUST_USE enum qb_error store_url_file(const char *url, char *out, size_t out_size,
                                         const char **why);

/* The statement API. Indexes of bind_* are 1-based ($1 is 1); indexes of
 * column_* are 0-based, as in SQLite and libpq. column_text answers "" for
 * NULL; pointers from column_text/column_blob live until the next step,
 * reset or finalize. store_reset also clears every binding, so a value never
 * carries over to the next use (an unbound parameter reads as NULL).
 * store_rollback answers QB_OK when no transaction is open. A failed
 * store_commit did not happen, and nothing of it is ever found; one whose
 * outcome cannot be known (it failed after it reached the disk, where a
 * restart's recovery may find it) stops the process instead of answering:
 * no caller could tell anyone "done" or "failed", and the restart has
 * whatever the disk kept, as after a failed sync. */
static inline QB_MUST_USE enum qb_error store_begin(struct store *s) { return s->ops->begin(s); }
static inline QB_MUST_USE enum qb_error store_commit(struct store *s) { return s->ops->commit(s); }
static inline QB_MUST_USE enum qb_error store_rollback(struct store *s) { return s->ops->rollback(s); }
static inline QB_MUST_USE enum qb_error store_savepoint(struct store *s) { return s->ops->savepoint(s); }
static inline QB_MUST_USE enum qb_error store_release(struct store *s) { return s->ops->release(s); }
static inline QB_MUST_USE enum qb_error store_rollback_to(struct store *s) { return s->ops->rollback_to(s); }
static inline QB_MUST_USE enum qb_error store_exec(struct store *s, const char *sql) { return s->ops->exec(s, sql); }
static inline QB_MUST_USE enum qb_error store_prepare(struct store *s, const char *sql, struct store_stmt **out)
{
    return s->ops->prepare(s, sql, out);
}
static inline void store_finalize(struct store_stmt *st) { if (st) st->ops->finalize(st); }
static inline void store_reset(struct store_stmt *st) { st->ops->reset(st); }
static inline QB_MUST_USE enum qb_error store_bind_int64(struct store_stmt *st, int i, int64_t v)
{
    return st->ops->bind_int64(st, i, v);
}
static inline QB_MUST_USE enum qb_error store_bind_text(struct store_stmt *st, int i, const char *t, size_t n)
{
    return st->ops->bind_text(st, i, t, n);
}
static inline QB_MUST_USE enum qb_error store_bind_blob(struct store_stmt *st, int i, const void *d, size_t n)
{
    return st->ops->bind_blob(st, i, d, n);
}
static inline QB_MUST_USE enum qb_error store_bind_null(struct store_stmt *st, int i) { return st->ops->bind_null(st, i); }
/* STORE_STEP_ROW, STORE_STEP_DONE, or -(enum qb_error) on failure. */
static inline QB_MUST_USE int store_step(struct store_stmt *st) { return st->ops->step(st); }
static inline int64_t store_column_int64(struct store_stmt *st, int i) { return st->ops->column_int64(st, i); }
static inline const char *store_column_text(struct store_stmt *st, int i) { return st->ops->column_text(st, i); }
static inline const void *store_column_blob(struct store_stmt *st, int i) { return st->ops->column_blob(st, i); }
static inline size_t store_column_size(struct store_stmt *st, int i) { return st->ops->column_size(st, i); }
static inline bool store_column_is_null(struct store_stmt *st, int i) { return st->ops->column_is_null(st, i); }
static inline int64_t store_schema_version(struct store *s) { return s->ops->schema_version(s); }
static inline const char *store_last_error(struct store *s) { return s->ops->last_error(s); }
/* Zeros where the backend keeps no figures. */
void store_stats_get(struct store *s, struct store_stats *out);
static inline QB_MUST_USE enum qb_error store_defer_sync(struct store *s, bool defer)
{
    return s->ops->defer_sync(s, defer);
}
static inline QB_MUST_USE enum qb_error store_sync(struct store *s) { return s->ops->sync(s); }
static inline QB_MUST_USE enum qb_error store_check_structure(struct store *s, char *problem,
                                                              size_t problem_size)
{
    if (problem_size > 0)
        problem[0] = '\0';
    return s->ops->check_structure != NULL ? s->ops->check_structure(s, problem, problem_size)
                                           : QB_OK;
}

/* How far the commits of a write connection in defer_sync mode are durable.
 * A commit is visible to read connections as soon as it returns, before its
 * sync, so whoever reads must not act on what it read (answer a client, call
 * a bank, notify a merchant) before the commits it could have seen are
 * durable: store_horizon_wait, which store_pool_release runs for every read
 * connection of a pool given the horizon. The writer calls
 * store_horizon_begin before each COMMIT (so a reader's snapshot never holds
 * a commit the counter does not count yet) and store_horizon_advance once a
 * sync has covered commits up to a number, or once a failed commit is known
 * to have left nothing. */
struct store_horizon {
    _Atomic uint64_t committed; /* commits begun */
    _Atomic uint64_t durable;   /* every commit up to this number is on disk */
    pthread_mutex_t lock;
    pthread_cond_t advanced;
};

void store_horizon_init(struct store_horizon *h);
void store_horizon_destroy(struct store_horizon *h);
/* The number of the commit about to run. */
uint64_t store_horizon_begin(struct store_horizon *h);
void store_horizon_advance(struct store_horizon *h, uint64_t durable);
/* Waits until every commit begun before this call is durable. */
void store_horizon_wait(struct store_horizon *h);

/* Runs a statement that returns no rows to completion and resets it:
 * QB_OK, or the error of the failing step (QB_E_INTERNAL when it returned
 * a row). */
QB_MUST_USE enum qb_error store_step_done(struct store_stmt *stmt);

/* Copies column i's text into dst (dst_size > 0) with its NUL, cut at
 * dst_size - 1 bytes; "" for NULL. For columns whose writers never store
 * more than dst holds. */
void store_column_text_copy(struct store_stmt *stmt, int i, char *dst, size_t dst_size);

/* Parameters given as a list: {STORE_TEXT(s), STORE_INT(v), STORE_BLOB(d, n)},
 * bound to $1, $2 ... in order. Text and blobs are borrowed until the step. */
enum store_param_kind { STORE_PARAM_TEXT = 1, STORE_PARAM_INT, STORE_PARAM_BLOB };
struct store_param {
    enum store_param_kind kind;
    const void *data;
    size_t size;
    int64_t value;
};
#define STORE_TEXT(s) ((struct store_param){STORE_PARAM_TEXT, (s), strlen(s), 0})
#define STORE_INT(v) ((struct store_param){STORE_PARAM_INT, NULL, 0, (v)})
#define STORE_BLOB(d, n) ((struct store_param){STORE_PARAM_BLOB, (d), (n), 0})

QB_MUST_USE enum qb_error store_bind_params(struct store_stmt *stmt, const struct store_param *params,
                                            size_t count);
/* Prepares sql, binds params, runs it to completion (no rows) and finalizes
 * it: QB_OK, or QB_E_STORAGE. For writes off the hot path; hot statements
 * stay prepared. */
QB_MUST_USE enum qb_error store_run(struct store *store, const char *sql,
                                    const struct store_param *params, size_t count);

/* Prepares sql, binds params and steps it once: *found whether it returned
 * a row. QB_OK, or QB_E_STORAGE. For "SELECT 1 ... LIMIT 1" questions. */
QB_MUST_USE enum qb_error store_exists(struct store *store, const char *sql,
                                       const struct store_param *params, size_t count, bool *found);
/* Prepares sql, binds params and steps it once: the first column of its
 * first row into *out. QB_OK, QB_E_NOT_FOUND when no row came (*out 0), or
 * QB_E_STORAGE. For "SELECT count(*) ..." and one-number questions. */
QB_MUST_USE enum qb_error store_int64(struct store *store, const char *sql,
                                      const struct store_param *params, size_t count, int64_t *out);

/* The backends, for tests that want one by name. */
extern const struct store_ops store_sqlite_ops;

/* The WAL sizes, in pages, at which SQLite write connections opened from
 * now on wake their checkpointer and wait for it (store_sqlite.c). The
 * store's tests set small ones, to reach them with little data; nothing
 * else calls it. */
void store_sqlite_wal_pages_set(int wake_pages, int wait_pages);
/* How fast SQLite checkpoints from now on write the database file while
 * the WAL has room, 0 for the default (store_sqlite.c); for the store's
 * tests. */
void store_sqlite_checkpoint_pace_set(int64_t bytes_per_s);
/* How many times, in this process, a checkpoint's write-back was started
 * while it copied, and a checkpoint paused to keep its pace
 * (store_sqlite.c); for the store's tests. */
long store_sqlite_writebacks(void);
long store_sqlite_checkpoint_pauses(void);

#endif

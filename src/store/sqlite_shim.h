/*
 * sqlite_shim.h — a SQLite VFS over another one that forwards every call,
 * for the few places that must see or change what SQLite asks of the disk:
 * the writer's WAL frames gathered into one write a commit
 * (gather_wal_writes),
 * the checkpointer's paced copy (store_sqlite.c) and, in test builds, the
 * failing disk (fault_vfs.c). A shim overrides the calls it cares about
 * and forwards the rest.
 *
 * Each file opened through a shim is the shim's own struct, which begins
 * with struct sqlite_shim_file, followed in the same allocation by the real
 * VFS's file. To make one:
 *   1) a static struct sqlite_shim, set up with sqlite_shim_init (the size
 *      of the shim's own file struct, at least sizeof(struct
 *      sqlite_shim_file));
 *   2) override shim.methods.xWrite, .xSync, ... or shim.vfs.xOpen (which
 *      then call sqlite_shim_write, _sync or _open), and set
 *      gather_wal_writes if wanted;
 *   3) sqlite3_vfs_register(&shim.vfs, make_default), and open connections
 *      with its name unless it is the default.
 */
#ifndef QB_STORE_SQLITE_SHIM_H
#define QB_STORE_SQLITE_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

struct sqlite_shim {
    sqlite3_vfs vfs;            /* pAppData points back here */
    sqlite3_io_methods methods; /* of every file the shim opens */
    sqlite3_vfs *real;
    size_t own_file_size; /* the shim's file struct, the real file follows */
    /* Write a commit's WAL frames, headers and pages, with one call
     * instead of two a frame (sqlite_shim.c says how): set before the
     * first open. */
    bool gather_wal_writes;
};

struct sqlite_shim_file {
    sqlite3_file base; /* first: SQLite sees a sqlite3_file */
    sqlite3_file *real;
    int open_flags; /* as xOpen got them: SQLITE_OPEN_MAIN_DB, _WAL, ... */
    /* A WAL file of a shim that gathers its writes: what the writing
     * thread holds, held_size bytes from held_offset (the buffer made at
     * its first write); whether the last of them is a frame's header, and
     * a commit's last frame's header, whose page then writes it all; the
     * size of the last page that followed a header. */
    bool gather;
    bool header_held;
    bool commit_header_held;
    size_t page_size;
    unsigned char *held;
    size_t held_size;
    sqlite3_int64 held_offset;
};

/* Fills shim with forwarders to SQLite's default VFS under name (kept, not
 * copied). False when there is no default VFS or it is older than version
 * 2 (no xCurrentTimeInt64); the shim must not be registered then. */
bool sqlite_shim_init(struct sqlite_shim *shim, const char *name, size_t own_file_size);

/* The forwarding xOpen, xWrite and xSync, for a shim whose own does
 * something first. */
int sqlite_shim_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                     int *out_flags);
int sqlite_shim_write(sqlite3_file *file, const void *buf, int amount, sqlite3_int64 offset);
int sqlite_shim_sync(sqlite3_file *file, int flags);
int sqlite_shim_shm_map(sqlite3_file *file, int page, int page_size, int extend,
                        void volatile **out);

/* How many commits' last WAL frames the calling thread has written through
 * a shim that gathers WAL writes. A COMMIT that fails after this moved
 * failed after the commit was in the WAL: a restart's recovery may find
 * it whole, so its outcome is not known (store.h, store_commit). */
uint64_t sqlite_shim_commits_written(void);

#endif

/*
 * sqlite_shim.c — the forwarding VFS of sqlite_shim.h.
 */
#include "store/sqlite_shim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/log.h"

#define S_REAL(f) (((struct sqlite_shim_file *)(f))->real)

static sqlite3_vfs *S_real_vfs(sqlite3_vfs *vfs)
{
    return ((struct sqlite_shim *)vfs->pAppData)->real;
}

/* SQLite writes a WAL frame as two calls, its 24-byte header then its
 * page, and a commit's frames one after the other. A shim with
 * gather_wal_writes holds what a thread writes to a WAL file for as long
 * as each write continues the one before (in the file's buffer, up to
 * S_HELD_SIZE_MAX bytes: SQLite's unix VFS writes no more than 128 KiB
 * less one byte a call, it masks the size) and writes it all with one
 * call: once the page of a commit's last frame is in (its header names
 * the database's size), so that a failed write fails the commit as it
 * would have without the shim; when a write lands anywhere else or the
 * buffer is full; and before any other call. Held bytes are the calling
 * thread's (S_holder): any other call that thread makes, on any file of
 * the shim, writes them first, so nothing is ever read, synced or made
 * visible (the WAL index's barrier) before them; another thread, as the
 * ledger's syncer syncing commits already written, is not concerned by
 * frames still being written. A file is closed by the thread that wrote
 * it, or once that thread has ended, having written a whole commit; a
 * close that finds bytes another thread holds stops the process. */
#define S_FRAME_HEADER_SIZE 24
#define S_HELD_SIZE_MAX 0x1ffff
static _Thread_local struct sqlite_shim_file *S_holder;
static _Thread_local uint64_t S_commits_written;

uint64_t sqlite_shim_commits_written(void) { return S_commits_written; }

/* Writes what this thread holds, if anything. */
static int S_release(void)
{
    struct sqlite_shim_file *f = S_holder;
    if (f == NULL)
        return SQLITE_OK;
    S_holder = NULL;
    int amount = (int)f->held_size;
    f->held_size = 0;
    return f->real->pMethods->xWrite(f->real, f->held, amount, f->held_offset);
}

#define S_RELEASE_OR_RETURN()                                                                      \
    do {                                                                                           \
        int release_rc = S_release();                                                              \
        if (release_rc != SQLITE_OK)                                                               \
            return release_rc;                                                                     \
    } while (0)

static int S_close(sqlite3_file *f)
{
    int rc = S_release();
    struct sqlite_shim_file *sf = (struct sqlite_shim_file *)f;
    /* What is still held is another thread's, or was left by one that
     * ended in the middle of a commit: closing would lose those bytes, and
     * free the buffer a live holder writes into. */
    QB_ASSERT(sf->held_size == 0);
    sqlite3_free(sf->held);
    sf->held = NULL;
    int close_rc = S_REAL(f)->pMethods->xClose(S_REAL(f));
    return rc != SQLITE_OK ? rc : close_rc;
}
static int S_read(sqlite3_file *f, void *buf, int amount, sqlite3_int64 offset)
{
    S_RELEASE_OR_RETURN();
    return S_REAL(f)->pMethods->xRead(S_REAL(f), buf, amount, offset);
}

/* A frame's header whose database size (bytes 4 to 7) is not zero: the
 * header of a commit's last frame. */
static bool S_commit_header(const void *buf, int amount)
{
    const unsigned char *b = buf;
    return amount == S_FRAME_HEADER_SIZE && (b[4] | b[5] | b[6] | b[7]) != 0;
}

int sqlite_shim_write(sqlite3_file *file, const void *buf, int amount, sqlite3_int64 offset)
{
    struct sqlite_shim_file *f = (struct sqlite_shim_file *)file;
    if (!f->gather || amount <= 0 || amount > S_HELD_SIZE_MAX) {
        S_RELEASE_OR_RETURN();
        return f->real->pMethods->xWrite(f->real, buf, amount, offset);
    }
    /* Only the thread that holds a file's bytes writes to it. */
    QB_ASSERT(f->held_size == 0 || S_holder == f);
    /* A frame's header keeps room for its page: frames are written whole. */
    size_t room = (size_t)amount + (amount == S_FRAME_HEADER_SIZE ? f->page_size : 0);
    bool continues = S_holder == f && offset == f->held_offset + (sqlite3_int64)f->held_size &&
                     f->held_size + room <= S_HELD_SIZE_MAX;
    if (!continues) {
        S_RELEASE_OR_RETURN();
        if (f->held == NULL && (f->held = sqlite3_malloc(S_HELD_SIZE_MAX)) == NULL)
            return f->real->pMethods->xWrite(f->real, buf, amount, offset);
        f->held_offset = offset;
        S_holder = f;
    }
    memcpy(f->held + f->held_size, buf, (size_t)amount);
    f->held_size += (size_t)amount;
    bool header = amount == S_FRAME_HEADER_SIZE;
    if (!header && f->header_held)
        f->page_size = (size_t)amount;
    bool commit_page = f->commit_header_held && !header;
    f->header_held = header;
    f->commit_header_held = S_commit_header(buf, amount);
    if (!commit_page)
        return SQLITE_OK;
    int rc = S_release();
    if (rc == SQLITE_OK)
        S_commits_written++;
    return rc;
}
static int S_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    S_RELEASE_OR_RETURN();
    return S_REAL(f)->pMethods->xTruncate(S_REAL(f), size);
}
int sqlite_shim_sync(sqlite3_file *f, int flags)
{
    S_RELEASE_OR_RETURN();
    return S_REAL(f)->pMethods->xSync(S_REAL(f), flags);
}
static int S_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    S_RELEASE_OR_RETURN();
    return S_REAL(f)->pMethods->xFileSize(S_REAL(f), size);
}
static int S_lock(sqlite3_file *f, int level)
{
    S_RELEASE_OR_RETURN();
    return S_REAL(f)->pMethods->xLock(S_REAL(f), level);
}
static int S_unlock(sqlite3_file *f, int level)
{
    S_RELEASE_OR_RETURN();
    return S_REAL(f)->pMethods->xUnlock(S_REAL(f), level);
}
static int S_check_reserved_lock(sqlite3_file *f, int *out)
{
    S_RELEASE_OR_RETURN();
    return S_REAL(f)->pMethods->xCheckReservedLock(S_REAL(f), out);
}
static int S_file_control(sqlite3_file *f, int op, void *arg)
{
    S_RELEASE_OR_RETURN();
    return S_REAL(f)->pMethods->xFileControl(S_REAL(f), op, arg);
}
static int S_sector_size(sqlite3_file *f) { return S_REAL(f)->pMethods->xSectorSize(S_REAL(f)); }
static int S_device_characteristics(sqlite3_file *f)
{
    return S_REAL(f)->pMethods->xDeviceCharacteristics(S_REAL(f));
}
int sqlite_shim_shm_map(sqlite3_file *f, int page, int page_size, int extend, void volatile **out)
{
    S_RELEASE_OR_RETURN();
    return S_REAL(f)->pMethods->xShmMap(S_REAL(f), page, page_size, extend, out);
}
static int S_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    S_RELEASE_OR_RETURN();
    return S_REAL(f)->pMethods->xShmLock(S_REAL(f), offset, n, flags);
}
/* The WAL index's header is written twice around this barrier; a frame
 * must be in the WAL before a commit that includes it is visible. A
 * commit's frames were written with its last page; only the last of the
 * headers SQLite rewrites alone (walRewriteChecksums, after a page was
 * written twice in one transaction) is still held here. */
static void S_shm_barrier(sqlite3_file *f)
{
    if (S_release() != SQLITE_OK) {
        /* The barrier cannot fail, and the commit it precedes would be
         * visible without the frame's header: stop, as a failed sync
         * does, and let a restart recover what the disk kept. */
        log_event(LOG_ERROR, "store.wal_frame_write_failed", "action=stop");
        fflush(NULL);
        _exit(EXIT_FAILURE);
    }
    S_REAL(f)->pMethods->xShmBarrier(S_REAL(f));
}
static int S_shm_unmap(sqlite3_file *f, int delete_flag)
{
    S_RELEASE_OR_RETURN();
    return S_REAL(f)->pMethods->xShmUnmap(S_REAL(f), delete_flag);
}
static int S_fetch(sqlite3_file *f, sqlite3_int64 offset, int amount, void **out)
{
    S_RELEASE_OR_RETURN();
    return S_REAL(f)->pMethods->xFetch(S_REAL(f), offset, amount, out);
}
static int S_unfetch(sqlite3_file *f, sqlite3_int64 offset, void *p)
{
    return S_REAL(f)->pMethods->xUnfetch(S_REAL(f), offset, p);
}

int sqlite_shim_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                     int *out_flags)
{
    struct sqlite_shim *shim = vfs->pAppData;
    struct sqlite_shim_file *f = (struct sqlite_shim_file *)file;
    memset(f, 0, shim->own_file_size);
    f->real = (sqlite3_file *)((char *)file + shim->own_file_size);
    f->open_flags = flags;
    S_RELEASE_OR_RETURN();
    f->gather = shim->gather_wal_writes && (flags & SQLITE_OPEN_WAL) != 0;
    int rc = shim->real->xOpen(shim->real, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK)
        return rc;
    /* The real file's methods decide which of ours exist: a version 1 file
     * (no shared memory) must not look like it has any. */
    f->base.pMethods = f->real->pMethods != NULL ? &shim->methods : NULL;
    return SQLITE_OK;
}

static int S_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    return S_real_vfs(vfs)->xDelete(S_real_vfs(vfs), name, sync_dir);
}
static int S_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    return S_real_vfs(vfs)->xAccess(S_real_vfs(vfs), name, flags, out);
}
static int S_full_pathname(sqlite3_vfs *vfs, const char *name, int size, char *out)
{
    return S_real_vfs(vfs)->xFullPathname(S_real_vfs(vfs), name, size, out);
}
static int S_randomness(sqlite3_vfs *vfs, int size, char *out)
{
    return S_real_vfs(vfs)->xRandomness(S_real_vfs(vfs), size, out);
}
static int S_sleep(sqlite3_vfs *vfs, int us)
{
    return S_real_vfs(vfs)->xSleep(S_real_vfs(vfs), us);
}
static int S_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    return S_real_vfs(vfs)->xCurrentTimeInt64(S_real_vfs(vfs), out);
}
static int S_get_last_error(sqlite3_vfs *vfs, int size, char *out)
{
    return S_real_vfs(vfs)->xGetLastError(S_real_vfs(vfs), size, out);
}

bool sqlite_shim_init(struct sqlite_shim *shim, const char *name, size_t own_file_size)
{
    QB_ASSERT(own_file_size >= sizeof(struct sqlite_shim_file));
    sqlite3_vfs *real = sqlite3_vfs_find(NULL);
    if (real == NULL || real->iVersion < 2)
        return false;
    /* The real file follows ours, aligned as malloc would align it. */
    own_file_size = (own_file_size + 15) & ~(size_t)15;
    *shim = (struct sqlite_shim){
        .real = real,
        .own_file_size = own_file_size,
        .methods =
            {
                .iVersion = 3,
                .xClose = S_close,
                .xRead = S_read,
                .xWrite = sqlite_shim_write,
                .xTruncate = S_truncate,
                .xSync = sqlite_shim_sync,
                .xFileSize = S_file_size,
                .xLock = S_lock,
                .xUnlock = S_unlock,
                .xCheckReservedLock = S_check_reserved_lock,
                .xFileControl = S_file_control,
                .xSectorSize = S_sector_size,
                .xDeviceCharacteristics = S_device_characteristics,
                .xShmMap = sqlite_shim_shm_map,
                .xShmLock = S_shm_lock,
                .xShmBarrier = S_shm_barrier,
                .xShmUnmap = S_shm_unmap,
                .xFetch = S_fetch,
                .xUnfetch = S_unfetch,
            },
        .vfs =
            {
                .iVersion = 2,
                .szOsFile = (int)own_file_size + real->szOsFile,
                .mxPathname = real->mxPathname,
                .zName = name,
                .pAppData = shim,
                .xOpen = sqlite_shim_open,
                .xDelete = S_delete,
                .xAccess = S_access,
                .xFullPathname = S_full_pathname,
                .xRandomness = S_randomness,
                .xSleep = S_sleep,
                .xCurrentTimeInt64 = S_current_time_int64,
                .xGetLastError = S_get_last_error,
            },
    };
    return true;
}

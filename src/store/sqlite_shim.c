/*
 * sqlite_shim.c — the forwarding VFS of sqlite_shim.h.
 */
#include "store/sqlite_shim.h"

#include <string.h>

#include "base/assert.h"

#define S_REAL(f) sqlite_shim_real(f)

static sqlite3_vfs *S_real_vfs(sqlite3_vfs *vfs)
{
    return ((struct sqlite_shim *)vfs->pAppData)->real;
}

static int S_close(sqlite3_file *f) { return S_REAL(f)->pMethods->xClose(S_REAL(f)); }
static int S_read(sqlite3_file *f, void *buf, int amount, sqlite3_int64 offset)
{
    return S_REAL(f)->pMethods->xRead(S_REAL(f), buf, amount, offset);
}
static int S_write(sqlite3_file *f, const void *buf, int amount, sqlite3_int64 offset)
{
    return S_REAL(f)->pMethods->xWrite(S_REAL(f), buf, amount, offset);
}
static int S_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return S_REAL(f)->pMethods->xTruncate(S_REAL(f), size);
}
static int S_sync(sqlite3_file *f, int flags) { return S_REAL(f)->pMethods->xSync(S_REAL(f), flags); }
static int S_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return S_REAL(f)->pMethods->xFileSize(S_REAL(f), size);
}
static int S_lock(sqlite3_file *f, int level) { return S_REAL(f)->pMethods->xLock(S_REAL(f), level); }
static int S_unlock(sqlite3_file *f, int level)
{
    return S_REAL(f)->pMethods->xUnlock(S_REAL(f), level);
}
static int S_check_reserved_lock(sqlite3_file *f, int *out)
{
    return S_REAL(f)->pMethods->xCheckReservedLock(S_REAL(f), out);
}
static int S_file_control(sqlite3_file *f, int op, void *arg)
{
    return S_REAL(f)->pMethods->xFileControl(S_REAL(f), op, arg);
}
static int S_sector_size(sqlite3_file *f) { return S_REAL(f)->pMethods->xSectorSize(S_REAL(f)); }
static int S_device_characteristics(sqlite3_file *f)
{
    return S_REAL(f)->pMethods->xDeviceCharacteristics(S_REAL(f));
}
static int S_shm_map(sqlite3_file *f, int page, int page_size, int extend, void volatile **out)
{
    return S_REAL(f)->pMethods->xShmMap(S_REAL(f), page, page_size, extend, out);
}
static int S_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return S_REAL(f)->pMethods->xShmLock(S_REAL(f), offset, n, flags);
}
static void S_shm_barrier(sqlite3_file *f) { S_REAL(f)->pMethods->xShmBarrier(S_REAL(f)); }
static int S_shm_unmap(sqlite3_file *f, int delete_flag)
{
    return S_REAL(f)->pMethods->xShmUnmap(S_REAL(f), delete_flag);
}
static int S_fetch(sqlite3_file *f, sqlite3_int64 offset, int amount, void **out)
{
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
static int S_sleep(sqlite3_vfs *vfs, int us) { return S_real_vfs(vfs)->xSleep(S_real_vfs(vfs), us); }
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
                .xWrite = S_write,
                .xTruncate = S_truncate,
                .xSync = S_sync,
                .xFileSize = S_file_size,
                .xLock = S_lock,
                .xUnlock = S_unlock,
                .xCheckReservedLock = S_check_reserved_lock,
                .xFileControl = S_file_control,
                .xSectorSize = S_sector_size,
                .xDeviceCharacteristics = S_device_characteristics,
                .xShmMap = S_shm_map,
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

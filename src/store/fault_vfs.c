/*
 * fault_vfs.c — the failing VFS of fault_vfs.h. Each file opened through it
 * is the real file's sqlite3_file followed by ours; our io methods forward
 * to the real ones and consult the armed count on xWrite and xSync; xOpen
 * consults it before opening. Journal, WAL and database files alike: the
 * caller does not choose which file fails, as a disk does not.
 */
#include "store/fault_vfs.h"

#ifdef QB_TEST_HOOKS

#include <stdatomic.h>
#include <string.h>

#include <sqlite3.h>

#include "base/log.h"

struct fault_file {
    sqlite3_file base; /* first: SQLite sees a sqlite3_file */
    sqlite3_file *real; /* points just after this struct */
};

static sqlite3_vfs *S_real_vfs;
static sqlite3_vfs S_vfs;
static sqlite3_io_methods S_methods;
static enum store_fault_kind S_kind;
static _Atomic int S_armed;
static _Atomic long S_injected;

/* True (and one armed failure used) when a call of kind must fail now. */
static bool S_fail(enum store_fault_kind kind)
{
    if (kind != S_kind)
        return false;
    int n = atomic_load(&S_armed);
    while (n > 0) {
        if (atomic_compare_exchange_weak(&S_armed, &n, n - 1)) {
            atomic_fetch_add(&S_injected, 1);
            log_event(LOG_WARN, "test.fault_injected", "kind=%s",
                      kind == STORE_FAULT_WRITE  ? "write"
                      : kind == STORE_FAULT_FULL ? "full"
                      : kind == STORE_FAULT_SYNC ? "sync"
                                                 : "open");
            return true;
        }
    }
    return false;
}

static sqlite3_file *S_real(sqlite3_file *f) { return ((struct fault_file *)f)->real; }

static int S_close(sqlite3_file *f) { return S_real(f)->pMethods->xClose(S_real(f)); }
static int S_read(sqlite3_file *f, void *buf, int amount, sqlite3_int64 offset)
{
    return S_real(f)->pMethods->xRead(S_real(f), buf, amount, offset);
}
static int S_write(sqlite3_file *f, const void *buf, int amount, sqlite3_int64 offset)
{
    if (S_fail(STORE_FAULT_WRITE))
        return SQLITE_IOERR_WRITE;
    if (S_fail(STORE_FAULT_FULL))
        return SQLITE_FULL;
    return S_real(f)->pMethods->xWrite(S_real(f), buf, amount, offset);
}
static int S_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return S_real(f)->pMethods->xTruncate(S_real(f), size);
}
static int S_sync(sqlite3_file *f, int flags)
{
    if (S_fail(STORE_FAULT_SYNC))
        return SQLITE_IOERR_FSYNC;
    return S_real(f)->pMethods->xSync(S_real(f), flags);
}
static int S_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return S_real(f)->pMethods->xFileSize(S_real(f), size);
}
static int S_lock(sqlite3_file *f, int level) { return S_real(f)->pMethods->xLock(S_real(f), level); }
static int S_unlock(sqlite3_file *f, int level)
{
    return S_real(f)->pMethods->xUnlock(S_real(f), level);
}
static int S_check_reserved_lock(sqlite3_file *f, int *out)
{
    return S_real(f)->pMethods->xCheckReservedLock(S_real(f), out);
}
static int S_file_control(sqlite3_file *f, int op, void *arg)
{
    return S_real(f)->pMethods->xFileControl(S_real(f), op, arg);
}
static int S_sector_size(sqlite3_file *f) { return S_real(f)->pMethods->xSectorSize(S_real(f)); }
static int S_device_characteristics(sqlite3_file *f)
{
    return S_real(f)->pMethods->xDeviceCharacteristics(S_real(f));
}
static int S_shm_map(sqlite3_file *f, int page, int page_size, int extend, void volatile **out)
{
    return S_real(f)->pMethods->xShmMap(S_real(f), page, page_size, extend, out);
}
static int S_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return S_real(f)->pMethods->xShmLock(S_real(f), offset, n, flags);
}
static void S_shm_barrier(sqlite3_file *f) { S_real(f)->pMethods->xShmBarrier(S_real(f)); }
static int S_shm_unmap(sqlite3_file *f, int delete_flag)
{
    return S_real(f)->pMethods->xShmUnmap(S_real(f), delete_flag);
}
static int S_fetch(sqlite3_file *f, sqlite3_int64 offset, int amount, void **out)
{
    return S_real(f)->pMethods->xFetch(S_real(f), offset, amount, out);
}
static int S_unfetch(sqlite3_file *f, sqlite3_int64 offset, void *p)
{
    return S_real(f)->pMethods->xUnfetch(S_real(f), offset, p);
}

static int S_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                  int *out_flags)
{
    (void)vfs;
    struct fault_file *f = (struct fault_file *)file;
    f->base.pMethods = NULL;
    if (S_fail(STORE_FAULT_OPEN))
        return SQLITE_CANTOPEN;
    f->real = (sqlite3_file *)(f + 1);
    int rc = S_real_vfs->xOpen(S_real_vfs, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK)
        return rc;
    /* The real file's methods decide which of ours exist: a version 1 file
     * (no shared memory) must not look like it has any. */
    f->base.pMethods = f->real->pMethods != NULL ? &S_methods : NULL;
    return SQLITE_OK;
}

static int S_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    (void)vfs;
    return S_real_vfs->xDelete(S_real_vfs, name, sync_dir);
}
static int S_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs;
    return S_real_vfs->xAccess(S_real_vfs, name, flags, out);
}
static int S_full_pathname(sqlite3_vfs *vfs, const char *name, int size, char *out)
{
    (void)vfs;
    return S_real_vfs->xFullPathname(S_real_vfs, name, size, out);
}
static int S_randomness(sqlite3_vfs *vfs, int size, char *out)
{
    (void)vfs;
    return S_real_vfs->xRandomness(S_real_vfs, size, out);
}
static int S_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return S_real_vfs->xSleep(S_real_vfs, us);
}
static int S_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    return S_real_vfs->xCurrentTimeInt64(S_real_vfs, out);
}
static int S_get_last_error(sqlite3_vfs *vfs, int size, char *out)
{
    (void)vfs;
    return S_real_vfs->xGetLastError(S_real_vfs, size, out);
}

bool store_fault_kind_parse(const char *text, enum store_fault_kind *out)
{
    if (strcmp(text, "write") == 0)
        *out = STORE_FAULT_WRITE;
    else if (strcmp(text, "sync") == 0)
        *out = STORE_FAULT_SYNC;
    else if (strcmp(text, "open") == 0)
        *out = STORE_FAULT_OPEN;
    else if (strcmp(text, "full") == 0)
        *out = STORE_FAULT_FULL;
    else
        return false;
    return true;
}

bool store_fault_install(enum store_fault_kind kind)
{
    S_real_vfs = sqlite3_vfs_find(NULL);
    if (S_real_vfs == NULL || S_real_vfs->iVersion < 2)
        return false;
    S_kind = kind;
    S_methods = (sqlite3_io_methods){
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
    };
    S_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(struct fault_file) + S_real_vfs->szOsFile,
        .mxPathname = S_real_vfs->mxPathname,
        .zName = "qianbao-faults",
        .xOpen = S_open,
        .xDelete = S_delete,
        .xAccess = S_access,
        .xFullPathname = S_full_pathname,
        .xRandomness = S_randomness,
        .xSleep = S_sleep,
        .xCurrentTimeInt64 = S_current_time_int64,
        .xGetLastError = S_get_last_error,
    };
    return sqlite3_vfs_register(&S_vfs, 1) == SQLITE_OK;
}

void store_fault_arm(int count) { atomic_fetch_add(&S_armed, count); }

long store_fault_injected(void) { return atomic_load(&S_injected); }

#else
/* Release builds: nothing (ISO C wants one declaration per file). */
typedef int store_fault_vfs_not_built;
#endif

/*
 * fault_vfs.c — the failing VFS of fault_vfs.h: a shim (sqlite_shim.h) that
 * consults the armed count on xWrite and xSync, on xShmMap growing the
 * WAL index, and on xOpen before opening; the pool asks store_fault_take. Journal, WAL and database
 * files alike: the caller does not choose which file fails, as a disk does not.
 */
#include "store/fault_vfs.h"

#ifdef QB_TEST_HOOKS

#include <stdatomic.h>
#include <string.h>

#include <sqlite3.h>

#include "base/log.h"
#include "store/sqlite_shim.h"

static struct sqlite_shim S_shim;
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
                      : kind == STORE_FAULT_SHM  ? "shm"
                      : kind == STORE_FAULT_POOL ? "pool"
                                                 : "open");
            return true;
        }
    }
    return false;
}

static int S_write(sqlite3_file *f, const void *buf, int amount, sqlite3_int64 offset)
{
    if (S_fail(STORE_FAULT_WRITE))
        return SQLITE_IOERR_WRITE;
    if (S_fail(STORE_FAULT_FULL))
        return SQLITE_FULL;
    return sqlite_shim_write(f, buf, amount, offset);
}

static int S_sync(sqlite3_file *f, int flags)
{
    if (S_fail(STORE_FAULT_SYNC))
        return SQLITE_IOERR_FSYNC;
    return sqlite_shim_sync(f, flags);
}

/* Only a new region: the first is mapped when a connection opens. */
static int S_shm_map(sqlite3_file *f, int page, int page_size, int extend, void volatile **out)
{
    if (extend && page >= 1 && S_fail(STORE_FAULT_SHM))
        return SQLITE_IOERR_SHMMAP;
    return sqlite_shim_shm_map(f, page, page_size, extend, out);
}

static int S_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                  int *out_flags)
{
    if (S_fail(STORE_FAULT_OPEN)) {
        file->pMethods = NULL;
        return SQLITE_CANTOPEN;
    }
    return sqlite_shim_open(vfs, name, file, flags, out_flags);
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
    else if (strcmp(text, "shm") == 0)
        *out = STORE_FAULT_SHM;
    else if (strcmp(text, "pool") == 0)
        *out = STORE_FAULT_POOL;
    else
        return false;
    return true;
}

bool store_fault_install(enum store_fault_kind kind)
{
    if (!sqlite_shim_init(&S_shim, "qianbao-faults", sizeof(struct sqlite_shim_file)))
        return false;
    S_kind = kind;
    S_shim.methods.xWrite = S_write;
    S_shim.methods.xSync = S_sync;
    S_shim.methods.xShmMap = S_shm_map;
    S_shim.vfs.xOpen = S_open;
    return sqlite3_vfs_register(&S_shim.vfs, 1) == SQLITE_OK;
}

void store_fault_arm(int count) { atomic_fetch_add(&S_armed, count); }

bool store_fault_take(enum store_fault_kind kind) { return S_fail(kind); }

long store_fault_injected(void) { return atomic_load(&S_injected); }

#else
/* Release builds: nothing (ISO C wants one declaration per file). */
typedef int store_fault_vfs_not_built;
#endif

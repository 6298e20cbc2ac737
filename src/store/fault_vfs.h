/*
 * fault_vfs.h — test builds only (QB_TEST_HOOKS): storage that fails on
 * request, to check what Qianbao does when the disk does.
 *
 * A SQLite VFS over the default one ("unix") that forwards every call,
 * except that once armed it fails the next N calls of one kind: a write
 * (SQLITE_IOERR_WRITE), a sync (SQLITE_IOERR_FSYNC), an open
 * (SQLITE_CANTOPEN), a write into a full disk (SQLITE_FULL) or a new region
 * of the WAL index (SQLITE_IOERR_SHMMAP, which a commit meets after its
 * frames are written). One kind is not SQLite's: borrowing a read
 * connection from the pool (pool.c), which then answers QB_E_BUSY as when
 * every connection stays taken past the wait. qianbaod installs it when QIANBAO_TEST_FAULT names
 * the kind, and arms one failure per SIGUSR1 (tests/api/test_storage_faults.c). Release builds
 * compile none of it.
 */
#ifndef QB_STORE_FAULT_VFS_H
#define QB_STORE_FAULT_VFS_H

#include <stdbool.h>

#ifdef QB_TEST_HOOKS

enum store_fault_kind {
    STORE_FAULT_WRITE,
    STORE_FAULT_SYNC,
    STORE_FAULT_OPEN,
    STORE_FAULT_FULL,
    STORE_FAULT_SHM,  /* growing the WAL index (xShmMap of a new region): SQLITE_IOERR_SHMMAP,
                         which a commit meets after its frames are in the WAL */
    STORE_FAULT_POOL, /* store_pool_acquire: QB_E_BUSY, every read connection taken */
};

/* Parses "write", "sync", "open", "full", "shm" or "pool". */
bool store_fault_kind_parse(const char *text, enum store_fault_kind *out);
/* Registers the VFS as SQLite's default; before any connection opens.
 * False when SQLite refuses. */
bool store_fault_install(enum store_fault_kind kind);
/* The next count calls of the installed kind fail (added to any armed). */
void store_fault_arm(int count);
/* True, one armed failure used, when a call of kind must fail now (for the
 * kinds SQLite does not call: the pool's). */
bool store_fault_take(enum store_fault_kind kind);
/* Failures injected so far. */
long store_fault_injected(void);

#endif
#endif

/*
 * sqlite_pcache.h — the page cache Qianbao installs in SQLite: SQLite's
 * built-in cache with truncation at commit kept from scanning the whole
 * cache (sqlite_pcache.c says why and how).
 */
#ifndef QB_STORE_SQLITE_PCACHE_H
#define QB_STORE_SQLITE_PCACHE_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

/* Installs the cache (SQLITE_CONFIG_PCACHE2). Only before SQLite is
 * initialized (the first connection opens); false when it is too late or
 * SQLite refuses, and the built-in cache stays. */
bool sqlite_pcache_install(void);

/* Truncations handed to the built-in cache and those known to have
 * nothing to drop, since the process started (all connections). */
void sqlite_pcache_stats(uint64_t *forwarded, uint64_t *skipped);

#endif

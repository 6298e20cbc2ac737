/*
 * sqlite_pcache.c — SQLite's own page cache, with truncation kept cheap
 * (sqlite_pcache.h).
 *
 * Every method forwards to the page cache SQLite was built with. Only
 * xTruncate is decided here: at the end of every write transaction the
 * pager asks the cache to drop the pages past the end of the database
 * (xTruncate with the database's size + 1), and the built-in cache compares
 * that limit with the largest key it was ever given. When the two are far
 * apart it scans its whole hash table: one visit per cached page. The
 * b-tree's balance routine parks a page at a temporary key — the page of the
 * lock byte, PENDING_BYTE / page size + 1, page 262,145 with 4 KiB pages —
 * while it swaps two pages into ascending order, so after any such split the
 * largest key ever seen is that page. Under the transfer benchmark that was
 * about a hundred full scans of the writer's 256 MiB cache a second, each
 * about a millisecond, all of them finding nothing to drop (measured with
 * uprobes on the scan; docs/performance.md).
 *
 * So this cache keeps, per connection, the largest key a page was given
 * other than that temporary key (xFetch that returned a page, xRekey), and
 * whether a page sits at the temporary key now. A page's key comes only from
 * those two calls, so when both say nothing can be at or past the limit,
 * the truncation has nothing to drop and is not forwarded; otherwise it is,
 * and the built-in cache drops what it must. Dropping too little would let
 * the pager read a stale page back after the database grows again, so every
 * doubt forwards.
 */
#include "store/sqlite_pcache.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "base/assert.h"

/* SQLite's default PENDING_BYTE: the first byte of the second gigabyte. */
#define PCACHE_PENDING_BYTE 0x40000000u

struct pcache {
    sqlite3_pcache *inner;
    unsigned temp_key;  /* the lock byte's page: the balance's temporary key */
    unsigned max_key;   /* the largest key given to a page, temp_key aside */
    bool temp_in_use;   /* a page may be at temp_key now */
};

static sqlite3_pcache_methods2 pcache_inner;
static _Atomic uint64_t pcache_truncations_forwarded;
static _Atomic uint64_t pcache_truncations_skipped;

static int pcache_init(void *arg)
{
    (void)arg;
    return pcache_inner.xInit(pcache_inner.pArg);
}

static void pcache_shutdown(void *arg)
{
    (void)arg;
    if (pcache_inner.xShutdown != NULL)
        pcache_inner.xShutdown(pcache_inner.pArg);
}

static sqlite3_pcache *pcache_create(int page_size, int extra_size, int purgeable)
{
    if (page_size <= 0)
        return NULL;
    struct pcache *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->inner = pcache_inner.xCreate(page_size, extra_size, purgeable);
    if (c->inner == NULL) {
        free(c);
        return NULL;
    }
    c->temp_key = PCACHE_PENDING_BYTE / (unsigned)page_size + 1;
    return (sqlite3_pcache *)c;
}

static void pcache_cachesize(sqlite3_pcache *p, int pages)
{
    pcache_inner.xCachesize(((struct pcache *)p)->inner, pages);
}

static int pcache_pagecount(sqlite3_pcache *p)
{
    return pcache_inner.xPagecount(((struct pcache *)p)->inner);
}

static sqlite3_pcache_page *pcache_fetch(sqlite3_pcache *p, unsigned key, int create)
{
    struct pcache *c = (struct pcache *)p;
    sqlite3_pcache_page *page = pcache_inner.xFetch(c->inner, key, create);
    if (page != NULL) {
        if (key == c->temp_key)
            c->temp_in_use = true;
        else if (key > c->max_key)
            c->max_key = key;
    }
    return page;
}

static void pcache_unpin(sqlite3_pcache *p, sqlite3_pcache_page *page, int discard)
{
    pcache_inner.xUnpin(((struct pcache *)p)->inner, page, discard);
}

static void pcache_rekey(sqlite3_pcache *p, sqlite3_pcache_page *page, unsigned old_key,
                         unsigned new_key)
{
    struct pcache *c = (struct pcache *)p;
    pcache_inner.xRekey(c->inner, page, old_key, new_key);
    if (new_key == c->temp_key) {
        c->temp_in_use = true;
        return;
    }
    if (new_key > c->max_key)
        c->max_key = new_key;
    /* Moving a page to a key first drops whatever was there, so one page
     * at most is at the temporary key, and this was it. */
    if (old_key == c->temp_key)
        c->temp_in_use = false;
}

static void pcache_truncate(sqlite3_pcache *p, unsigned limit)
{
    struct pcache *c = (struct pcache *)p;
    bool needed = c->max_key >= limit || (c->temp_in_use && c->temp_key >= limit);
    if (!needed) {
        atomic_fetch_add_explicit(&pcache_truncations_skipped, 1, memory_order_relaxed);
        return;
    }
    atomic_fetch_add_explicit(&pcache_truncations_forwarded, 1, memory_order_relaxed);
    pcache_inner.xTruncate(c->inner, limit);
    if (limit > 0 && c->max_key >= limit)
        c->max_key = limit - 1;
    if (c->temp_key >= limit)
        c->temp_in_use = false;
}

static void pcache_destroy(sqlite3_pcache *p)
{
    struct pcache *c = (struct pcache *)p;
    pcache_inner.xDestroy(c->inner);
    free(c);
}

static void pcache_shrink(sqlite3_pcache *p)
{
    if (pcache_inner.xShrink != NULL)
        pcache_inner.xShrink(((struct pcache *)p)->inner);
}

bool sqlite_pcache_install(void)
{
    if (sqlite3_config(SQLITE_CONFIG_GETPCACHE2, &pcache_inner) != SQLITE_OK ||
        pcache_inner.xCreate == NULL || pcache_inner.xInit == NULL)
        return false;
    static const sqlite3_pcache_methods2 methods = {
        .iVersion = 1,
        .pArg = NULL,
        .xInit = pcache_init,
        .xShutdown = pcache_shutdown,
        .xCreate = pcache_create,
        .xCachesize = pcache_cachesize,
        .xPagecount = pcache_pagecount,
        .xFetch = pcache_fetch,
        .xUnpin = pcache_unpin,
        .xRekey = pcache_rekey,
        .xTruncate = pcache_truncate,
        .xDestroy = pcache_destroy,
        .xShrink = pcache_shrink,
    };
    return sqlite3_config(SQLITE_CONFIG_PCACHE2, &methods) == SQLITE_OK;
}

void sqlite_pcache_stats(uint64_t *forwarded, uint64_t *skipped)
{
    QB_ASSERT(forwarded != NULL && skipped != NULL);
    *forwarded = atomic_load_explicit(&pcache_truncations_forwarded, memory_order_relaxed);
    *skipped = atomic_load_explicit(&pcache_truncations_skipped, memory_order_relaxed);
}

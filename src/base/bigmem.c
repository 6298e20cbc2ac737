/*
 * bigmem.c — large zeroed tables from anonymous private mappings.
 */
#include "base/bigmem.h"

#include <stdint.h>
#include <sys/mman.h>

#include "base/assert.h"

void *bigmem_alloc(size_t count, size_t size)
{
    if (count == 0 || size == 0 || count > SIZE_MAX / size)
        return NULL;
    void *table =
        mmap(NULL, count * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (table == MAP_FAILED)
        return NULL;
    /* Advice only: a kernel without it still gives a working table. */
    (void)madvise(table, count * size, MADV_DONTDUMP);
    return table;
}

void bigmem_zero(void *table, size_t count, size_t size)
{
    QB_ASSERT(table != NULL);
    /* A private anonymous mapping reads as zero pages after DONTNEED. */
    int rc = madvise(table, count * size, MADV_DONTNEED);
    QB_ASSERT(rc == 0);
}

void bigmem_free(void *table, size_t count, size_t size)
{
    if (table == NULL)
        return;
    int rc = munmap(table, count * size);
    QB_ASSERT(rc == 0);
}

/*
 * bigmem.h — large zeroed tables, straight from the kernel.
 *
 * Owns: the memory of the daemon's fixed-size tables (the session and user
 * caches, the /v3 nonces: tens of megabytes each, sized for a busy
 * server and mostly empty on a quiet one). They are mapped, not
 * allocated: the kernel hands out zero pages that cost nothing until
 * first written, so an idle table takes no memory, and nothing (the C
 * library, a sanitizer's allocator) writes every byte of it up front.
 *
 * Going back to zero (bigmem_zero) and freeing (bigmem_free) give the
 * pages back to the kernel, which zeroes them before any other use: what
 * a table held (token hashes, payment-password hashes) is not left in the
 * process, and need not be wiped first. The tables are also left out of
 * core dumps (MADV_DONTDUMP), which would otherwise copy those hashes to
 * disk.
 *
 * The memory is not the heap's: AddressSanitizer and valgrind check no
 * bounds inside it, so its users index it only through their own bounded
 * arithmetic (a bucket modulo the count).
 */
#ifndef QB_BASE_BIGMEM_H
#define QB_BASE_BIGMEM_H

#include <stddef.h>

/* count * size zeroed bytes, page aligned; NULL if the product overflows,
 * is 0, or the kernel refuses. */
void *bigmem_alloc(size_t count, size_t size);
/* Every byte of the table (as allocated) back to zero. */
void bigmem_zero(void *table, size_t count, size_t size);
/* Frees a table of bigmem_alloc (NULL is allowed). */
void bigmem_free(void *table, size_t count, size_t size);

#endif

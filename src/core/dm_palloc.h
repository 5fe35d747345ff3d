/*
 * doorman: memory pools.
 */
#ifndef DM_PALLOC_H
#define DM_PALLOC_H

#include <dm_palloc_t.h>

/*
 * Creates a pool whose blocks are `size` bytes (header included; at least
 * DM_POOL_MIN_SIZE). Returns NULL (and logs to `log`, which may be NULL)
 * when memory is exhausted.
 */
dm_pool_t *dm_pool_create(size_t size, dm_log_t *log);

/*
 * Runs every cleanup handler, newest first, then frees the large
 * allocations and every block. The pool must not be used afterwards.
 */
void dm_pool_destroy(dm_pool_t *pool);

/*
 * Frees the large allocations and empties the blocks so that the pool can
 * serve a new object of the same kind without a new malloc. Cleanup
 * handlers are NOT run: call this only on a pool that registered none
 * since its last reset.
 */
void dm_pool_reset(dm_pool_t *pool);

/*
 * Runs the cleanup handlers (newest first) and resets the pool, keeping
 * its blocks: the pool of a connection slot serves the next connection
 * without a malloc.
 */
void dm_pool_recycle(dm_pool_t *pool);

/* Aligned allocation; NULL on failure. */
void *dm_palloc(dm_pool_t *pool, size_t size);
/* Unaligned allocation, for strings; NULL on failure. */
void *dm_pnalloc(dm_pool_t *pool, size_t size);
/* Aligned, zero-filled allocation; NULL on failure. */
void *dm_pcalloc(dm_pool_t *pool, size_t size);

/*
 * Frees a large allocation before the pool dies. Returns DM_OK, or
 * DM_DECLINED when p is not a large allocation of this pool (small ones
 * live until the pool is destroyed or reset).
 */
dm_int_t dm_pfree(dm_pool_t *pool, void *p);

/*
 * Registers a cleanup handler; `size` bytes of zeroed data are allocated
 * from the pool for it when size > 0 (set handler and, if needed, data on
 * the returned object). Returns NULL on allocation failure.
 */
dm_pool_cleanup_t *dm_pool_cleanup_add(dm_pool_t *p, size_t size);

/*
 * Runs the cleanup handlers now (newest first) and forgets them, keeping
 * the memory: what a request holds (a limit_conn count, a timer) ends
 * with its response, while its structures stay readable until the pool
 * is recycled.
 */
void dm_pool_run_cleanups(dm_pool_t *pool);

#endif /* DM_PALLOC_H */

/*
 * doorman: buffers and buffer chains.
 */
#ifndef DM_BUF_H
#define DM_BUF_H

#include <dm_buf_t.h>

/* Bytes of data in a buffer. */
#define dm_buf_size(b) ((size_t) ((b)->last - (b)->pos))

/*
 * Creates a writable buffer of `size` bytes in pool p. Returns NULL on
 * allocation failure.
 */
dm_buf_t *dm_buf_create(dm_pool_t *p, size_t size);

/*
 * Allocates a chain link in pool p (from the pool's own free links when
 * the caller keeps them, otherwise new). Returns NULL on failure.
 */
dm_chain_t *dm_chain_alloc(dm_pool_t *p);

/*
 * Returns the length of data in a chain (sum of dm_buf_size).
 */
size_t dm_chain_size(const dm_chain_t *cl);

/*
 * Initializes a cache that hands out buffers of `size` bytes from pool p.
 */
void dm_buf_cache_init(dm_buf_cache_t *bc, dm_pool_t *p, size_t size);

/*
 * Takes a link with an empty buffer of the cache's size: a recycled one
 * when available, else a new one. Returns NULL on allocation failure.
 */
dm_chain_t *dm_buf_cache_get(dm_buf_cache_t *bc);

/*
 * Moves the fully consumed links at the head of *busy to the cache's free
 * list (their buffers emptied), stopping at the first link that still has
 * data; *busy is advanced past what was recycled.
 */
void dm_buf_cache_recycle(dm_buf_cache_t *bc, dm_chain_t **busy);

/*
 * Marks `size` bytes of the chain as sent: advances pos through the
 * buffers and returns the first link that still has data (or NULL).
 */
dm_chain_t *dm_chain_consume(dm_chain_t *cl, size_t size);

#endif /* DM_BUF_H */

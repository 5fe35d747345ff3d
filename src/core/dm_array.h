/*
 * doorman: growable arrays in a pool.
 *
 * Growing copies the elements into a doubled allocation from the same pool
 * (the old storage is reclaimed with the pool), so pointers into an array
 * are valid only until the next push. Arrays are for configuration-time
 * lists and bounded per-request lists, never for unbounded growth.
 */
#ifndef DM_ARRAY_H
#define DM_ARRAY_H

#include <dm_array_t.h>

/*
 * Creates an array of n elements of `size` bytes in pool p. Returns NULL on
 * allocation failure.
 */
dm_array_t *dm_array_create(dm_pool_t *p, dm_uint_t n, size_t size);

/*
 * Initializes an array embedded in another object. Returns DM_OK or
 * DM_ERROR.
 */
dm_int_t dm_array_init(dm_array_t *a, dm_pool_t *p, dm_uint_t n, size_t size);

/*
 * Appends one (uninitialized) element and returns it, or NULL on
 * allocation failure.
 */
void *dm_array_push(dm_array_t *a);

/*
 * Appends n contiguous (uninitialized) elements and returns the first, or
 * NULL on allocation failure.
 */
void *dm_array_push_n(dm_array_t *a, dm_uint_t n);

#endif /* DM_ARRAY_H */

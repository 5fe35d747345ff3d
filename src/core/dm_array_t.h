/*
 * doorman: growable arrays in a pool, types.
 */
#ifndef DM_ARRAY_T_H
#define DM_ARRAY_T_H

typedef struct {
    void *elts;       /* the elements, contiguous */
    dm_uint_t nelts;  /* elements in use */
    size_t size;      /* bytes per element */
    dm_uint_t nalloc; /* elements allocated */
    dm_pool_t *pool;  /* where the storage comes from */
} dm_array_t;

#endif /* DM_ARRAY_T_H */

/*
 * doorman: growable arrays in a pool.
 */
#include <dm_core.h>

dm_array_t *
dm_array_create(dm_pool_t *p, dm_uint_t n, size_t size)
{
    dm_array_t *a;

    a = dm_palloc(p, sizeof(dm_array_t));
    if (a == NULL || dm_array_init(a, p, n, size) != DM_OK) {
        return NULL;
    }
    return a;
}

dm_int_t
dm_array_init(dm_array_t *a, dm_pool_t *p, dm_uint_t n, size_t size)
{
    if (n == 0) {
        n = 1;
    }
    a->nelts = 0;
    a->size = size;
    a->nalloc = n;
    a->pool = p;
    a->elts = dm_palloc(p, n * size);
    return a->elts ? DM_OK : DM_ERROR;
}

void *
dm_array_push(dm_array_t *a)
{
    return dm_array_push_n(a, 1);
}

void *
dm_array_push_n(dm_array_t *a, dm_uint_t n)
{
    dm_uint_t cap;
    void *nw;
    u_char *elt;

    if (a->nelts + n > a->nalloc) {
        cap = 2 * dm_max(a->nalloc, n);
        nw = dm_palloc(a->pool, cap * a->size);
        if (nw == NULL) {
            return NULL;
        }
        memcpy(nw, a->elts, a->nelts * a->size);
        a->elts = nw;
        a->nalloc = cap;
    }
    elt = (u_char *) a->elts + a->size * a->nelts;
    a->nelts += n;
    return elt;
}

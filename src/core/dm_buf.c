/*
 * doorman: buffers and buffer chains.
 */
#include <dm_core.h>

dm_buf_t *
dm_buf_create(dm_pool_t *p, size_t size)
{
    dm_buf_t *b;

    b = dm_pcalloc(p, sizeof(dm_buf_t));
    if (b == NULL) {
        return NULL;
    }
    b->start = dm_palloc(p, size);
    if (b->start == NULL) {
        return NULL;
    }
    b->pos = b->start;
    b->last = b->start;
    b->end = b->start + size;
    b->temporary = 1;
    return b;
}

dm_chain_t *
dm_chain_alloc(dm_pool_t *p)
{
    dm_chain_t *cl;

    cl = dm_palloc(p, sizeof(dm_chain_t));
    if (cl) {
        cl->buf = NULL;
        cl->next = NULL;
    }
    return cl;
}

size_t
dm_chain_size(const dm_chain_t *cl)
{
    size_t n = 0;

    for (; cl; cl = cl->next) {
        n += dm_buf_size(cl->buf);
    }
    return n;
}

void
dm_buf_cache_init(dm_buf_cache_t *bc, dm_pool_t *p, size_t size)
{
    bc->free = NULL;
    bc->pool = p;
    bc->size = size;
}

dm_chain_t *
dm_buf_cache_get(dm_buf_cache_t *bc)
{
    dm_chain_t *cl = bc->free;

    if (cl) {
        bc->free = cl->next;
        cl->next = NULL;
        cl->buf->pos = cl->buf->start;
        cl->buf->last = cl->buf->start;
        cl->buf->flush = 0;
        cl->buf->last_buf = 0;
        return cl;
    }
    cl = dm_chain_alloc(bc->pool);
    if (cl == NULL) {
        return NULL;
    }
    cl->buf = dm_buf_create(bc->pool, bc->size);
    if (cl->buf == NULL) {
        return NULL;
    }
    cl->buf->recycled = 1;
    cl->buf->tag = bc;
    return cl;
}

void
dm_buf_cache_recycle(dm_buf_cache_t *bc, dm_chain_t **busy)
{
    dm_chain_t *cl;

    while ((cl = *busy) != NULL) {
        if (dm_buf_size(cl->buf) != 0 || cl->buf->tag != bc) {
            break;
        }
        *busy = cl->next;
        cl->buf->pos = cl->buf->start;
        cl->buf->last = cl->buf->start;
        cl->next = bc->free;
        bc->free = cl;
    }
}

dm_chain_t *
dm_chain_consume(dm_chain_t *cl, size_t size)
{
    size_t n;

    for (; cl; cl = cl->next) {
        n = dm_buf_size(cl->buf);
        if (size < n) {
            cl->buf->pos += size;
            return cl;
        }
        cl->buf->pos = cl->buf->last;
        size -= n;
        if (size == 0 && cl->next && dm_buf_size(cl->next->buf)) {
            return cl->next;
        }
    }
    return NULL;
}

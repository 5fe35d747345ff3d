/*
 * doorman: memory pools.
 *
 * The shape is nginx's: blocks with a bump pointer, a "failed" counter that
 * retires a block from the search once it has been too full five times (so
 * a pool with many blocks does not walk them all on each allocation), and
 * large allocations kept on a list so they can be returned early.
 */
#include <dm_core.h>

static void *dm_palloc_small(dm_pool_t *pool, size_t size, int align);
static void *dm_palloc_block(dm_pool_t *pool, size_t size);
static void *dm_palloc_large(dm_pool_t *pool, size_t size);

dm_pool_t *
dm_pool_create(size_t size, dm_log_t *log)
{
    dm_pool_t *p;

    if (size < DM_POOL_MIN_SIZE) {
        size = DM_POOL_MIN_SIZE;
    }
    if (posix_memalign((void **) &p, DM_POOL_ALIGNMENT, size) != 0) {
        if (log) {
            dm_log_error(DM_LOG_EMERG, log, ENOMEM,
                         "posix_memalign(%zu) failed", size);
        }
        return NULL;
    }

    p->d.last = (u_char *) p + sizeof(dm_pool_t);
    p->d.end = (u_char *) p + size;
    p->d.next = NULL;
    p->d.failed = 0;

    size -= sizeof(dm_pool_t);
    p->max = (size < DM_POOL_MAX_SMALL) ? size : DM_POOL_MAX_SMALL;
    p->current = &p->d;
    p->large = NULL;
    p->cleanup = NULL;
    p->log = log;
    return p;
}

void
dm_pool_destroy(dm_pool_t *pool)
{
    dm_pool_cleanup_t *c;
    dm_pool_large_t *l;
    dm_pool_block_t *b, *n;

    /* Newest first: later objects may depend on earlier ones. */
    for (c = pool->cleanup; c; c = c->next) {
        if (c->handler) {
            c->handler(c->data);
        }
    }
    for (l = pool->large; l; l = l->next) {
        free(l->alloc);
    }
    /* The first block is the pool itself; free it last. */
    for (b = pool->d.next; b; b = n) {
        n = b->next;
        free(b);
    }
    free(pool);
}

void
dm_pool_reset(dm_pool_t *pool)
{
    dm_pool_large_t *l;
    dm_pool_block_t *b;

    for (l = pool->large; l; l = l->next) {
        free(l->alloc);
    }
    pool->d.last = (u_char *) pool + sizeof(dm_pool_t);
    pool->d.failed = 0;
    for (b = pool->d.next; b; b = b->next) {
        b->last = (u_char *) b + sizeof(dm_pool_block_t);
        b->failed = 0;
    }
    pool->current = &pool->d;
    pool->large = NULL;
    pool->cleanup = NULL;
}

void
dm_pool_run_cleanups(dm_pool_t *pool)
{
    dm_pool_cleanup_t *c;

    for (c = pool->cleanup; c; c = c->next) {
        if (c->handler) {
            c->handler(c->data);
        }
    }
    pool->cleanup = NULL;
}

void
dm_pool_recycle(dm_pool_t *pool)
{
    dm_pool_run_cleanups(pool);
    dm_pool_reset(pool);
}

void *
dm_palloc(dm_pool_t *pool, size_t size)
{
    if (size <= pool->max) {
        return dm_palloc_small(pool, size, 1);
    }
    return dm_palloc_large(pool, size);
}

void *
dm_pnalloc(dm_pool_t *pool, size_t size)
{
    if (size <= pool->max) {
        return dm_palloc_small(pool, size, 0);
    }
    return dm_palloc_large(pool, size);
}

void *
dm_pcalloc(dm_pool_t *pool, size_t size)
{
    void *p = dm_palloc(pool, size);

    if (p) {
        memset(p, 0, size);
    }
    return p;
}

static void *
dm_palloc_small(dm_pool_t *pool, size_t size, int align)
{
    dm_pool_block_t *b;
    u_char *m;

    for (b = pool->current; b; b = b->next) {
        m = b->last;
        if (align) {
            m = dm_align_ptr(m, sizeof(void *));
        }
        if ((size_t) (b->end - m) >= size) {
            b->last = m + size;
            return m;
        }
    }
    return dm_palloc_block(pool, size);
}

static void *
dm_palloc_block(dm_pool_t *pool, size_t size)
{
    size_t psize = (size_t) (pool->d.end - (u_char *) pool);
    dm_pool_block_t *b, *nb;
    u_char *m;

    if (posix_memalign((void **) &m, DM_POOL_ALIGNMENT, psize) != 0) {
        if (pool->log) {
            dm_log_error(DM_LOG_ERR, pool->log, ENOMEM,
                         "posix_memalign(%zu) failed", psize);
        }
        return NULL;
    }
    nb = (dm_pool_block_t *) m;
    nb->end = m + psize;
    nb->next = NULL;
    nb->failed = 0;

    m += sizeof(dm_pool_block_t);
    m = dm_align_ptr(m, sizeof(void *));
    nb->last = m + size;

    /*
     * Every block that could not serve this request failed once more; a
     * block that failed often is nearly full, so the search starts past it.
     */
    for (b = pool->current; b->next; b = b->next) {
        if (b->failed++ > 4) {
            pool->current = b->next;
        }
    }
    b->next = nb;
    return m;
}

static void *
dm_palloc_large(dm_pool_t *pool, size_t size)
{
    dm_pool_large_t *l;
    dm_uint_t n = 0;
    void *p;

    p = malloc(size);
    if (p == NULL) {
        if (pool->log) {
            dm_log_error(DM_LOG_ERR, pool->log, ENOMEM, "malloc(%zu) failed",
                         size);
        }
        return NULL;
    }

    /* Reuse a header freed by dm_pfree, looking at a few only. */
    for (l = pool->large; l && n < 3; l = l->next, n++) {
        if (l->alloc == NULL) {
            l->alloc = p;
            return p;
        }
    }

    l = dm_palloc_small(pool, sizeof(dm_pool_large_t), 1);
    if (l == NULL) {
        free(p);
        return NULL;
    }
    l->alloc = p;
    l->next = pool->large;
    pool->large = l;
    return p;
}

dm_int_t
dm_pfree(dm_pool_t *pool, void *p)
{
    dm_pool_large_t *l;

    for (l = pool->large; l; l = l->next) {
        if (p == l->alloc) {
            free(l->alloc);
            l->alloc = NULL;
            return DM_OK;
        }
    }
    return DM_DECLINED;
}

dm_pool_cleanup_t *
dm_pool_cleanup_add(dm_pool_t *p, size_t size)
{
    dm_pool_cleanup_t *c;

    c = dm_palloc(p, sizeof(dm_pool_cleanup_t));
    if (c == NULL) {
        return NULL;
    }
    c->data = NULL;
    if (size) {
        c->data = dm_pcalloc(p, size);
        if (c->data == NULL) {
            return NULL;
        }
    }
    c->handler = NULL;
    c->next = p->cleanup;
    p->cleanup = c;
    return c;
}

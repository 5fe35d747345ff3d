/*
 * doorman: memory pools, types.
 *
 * A pool belongs to one object with one lifetime (the configuration, a
 * connection, a request) and is freed in one call. Small allocations are
 * carved from blocks; large ones are malloc'ed and listed so that they can
 * be freed early or with the pool. Cleanup handlers release what memory
 * cannot: descriptors, timers, references.
 */
#ifndef DM_PALLOC_T_H
#define DM_PALLOC_T_H

/* Allocations above this (or above the block size) are "large". */
#define DM_POOL_MAX_SMALL 4095
#define DM_POOL_ALIGNMENT 16
#define DM_POOL_DEFAULT   16384
#define DM_POOL_MIN_SIZE  256

typedef void (*dm_pool_cleanup_pt)(void *data);

typedef struct dm_pool_cleanup_s dm_pool_cleanup_t;

struct dm_pool_cleanup_s {
    dm_pool_cleanup_pt handler; /* called by dm_pool_destroy, newest first */
    void *data;                 /* argument given to handler */
    dm_pool_cleanup_t *next;    /* the cleanup registered before this one */
};

typedef struct dm_pool_large_s dm_pool_large_t;

struct dm_pool_large_s {
    dm_pool_large_t *next; /* next large allocation */
    void *alloc;           /* the malloc'ed memory, NULL once freed */
};

typedef struct dm_pool_block_s dm_pool_block_t;

struct dm_pool_block_s {
    u_char *last;          /* first free byte of this block */
    u_char *end;           /* one past the block */
    dm_pool_block_t *next; /* next block of the pool */
    dm_uint_t failed;      /* times an allocation did not fit here */
};

struct dm_pool_s {
    dm_pool_block_t d;          /* the first block's header (lives inline) */
    size_t max;                 /* largest allocation served from blocks */
    dm_pool_block_t *current;   /* first block worth trying */
    dm_pool_large_t *large;     /* large allocations, newest first */
    dm_pool_cleanup_t *cleanup; /* cleanup handlers, newest first */
    dm_log_t *log;              /* where allocation failures are reported */
};

#endif /* DM_PALLOC_T_H */

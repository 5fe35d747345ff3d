/*
 * doorman: buffers and buffer chains, types.
 *
 * A buffer describes bytes in memory (pos..last inside start..end); a chain
 * links buffers so that data can be queued and sent with one writev
 * without being copied together. Chain links are recycled through a free
 * list in the pool of their owner.
 */
#ifndef DM_BUF_T_H
#define DM_BUF_T_H

typedef struct dm_buf_s dm_buf_t;
typedef struct dm_chain_s dm_chain_t;

struct dm_buf_s {
    u_char *pos;          /* first byte not yet consumed */
    u_char *last;         /* one past the last byte of data */
    u_char *start;        /* start of the memory */
    u_char *end;          /* one past the memory */
    dm_buf_t *shadow;     /* the buffer this one describes part of, or NULL */
    void *tag;            /* the module that owns the memory (for recycling) */
    unsigned temporary:1; /* memory may be written (ours) */
    unsigned memory:1;    /* read-only memory (a literal, configuration) */
    unsigned recycled:1;  /* returned to the owner's free list when sent */
    unsigned flush:1;     /* send everything queued up to here now */
    unsigned last_buf:1;  /* the last buffer of the stream */
};

struct dm_chain_s {
    dm_buf_t *buf;    /* the buffer */
    dm_chain_t *next; /* next link, NULL at the end */
};

/* A free list of chain links with their buffers, owned by one object. */
typedef struct {
    dm_chain_t *free; /* links whose buffers can be reused */
    dm_pool_t *pool;  /* where new links and buffers come from */
    size_t size;      /* size of the buffers this list hands out */
} dm_buf_cache_t;

#endif /* DM_BUF_T_H */

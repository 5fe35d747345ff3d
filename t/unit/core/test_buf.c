/*
 * doorman: unit tests for buffers and chains (src/core/dm_buf.c).
 *
 * Covered: dm_buf_create (sizes, empty and writable, flags, large sizes
 * from the pool's large list), dm_chain_alloc, dm_chain_size,
 * dm_chain_consume (partial first buffer, exact end of a buffer, across
 * three buffers, empty buffers in the middle and at the end, zero bytes,
 * everything and more than everything), and the buffer cache: new links
 * first, then recycled ones holding the same memory, emptied and with
 * their flags cleared; dm_buf_cache_recycle stopping at the first link
 * with data and never taking a link of another cache (tag).
 */
#include <dm_core.h>

#include <setjmp.h>
#include <cmocka.h>

static dm_pool_t *pool;

static int
setup(void **state)
{
    pool = dm_pool_create(1024, dm_log_init());
    return pool ? 0 : -1;
}

static int
teardown(void **state)
{
    dm_pool_destroy(pool);
    pool = NULL;
    return 0;
}

/* A link with a buffer of `cap` bytes holding `len` bytes of data. */
static dm_chain_t *
link_of(size_t cap, size_t len)
{
    dm_chain_t *cl = dm_chain_alloc(pool);

    assert_non_null(cl);
    assert_null(cl->buf);
    assert_null(cl->next);
    cl->buf = dm_buf_create(pool, cap);
    assert_non_null(cl->buf);
    memset(cl->buf->start, 'x', len);
    cl->buf->last += len;
    return cl;
}

/* Links l[0] .. l[n - 1] into one chain and returns its head. */
static dm_chain_t *
chain_of(dm_chain_t **l, int n)
{
    int i;

    for (i = 0; i + 1 < n; i++) {
        l[i]->next = l[i + 1];
    }
    l[n - 1]->next = NULL;
    return l[0];
}

static void
test_buf_create(void **state)
{
    dm_buf_t *b, *z, *big;

    b = dm_buf_create(pool, 100);
    assert_non_null(b);
    assert_int_equal(b->end - b->start, 100);
    assert_ptr_equal(b->pos, b->start);
    assert_ptr_equal(b->last, b->start);
    assert_int_equal(dm_buf_size(b), 0);
    assert_true(b->temporary);
    assert_false(b->memory);
    assert_false(b->recycled);
    assert_false(b->flush);
    assert_false(b->last_buf);
    assert_null(b->shadow);
    assert_null(b->tag);
    memset(b->start, 'a', 100); /* writable to the end (valgrind) */

    z = dm_buf_create(pool, 0);
    assert_non_null(z);
    assert_ptr_equal(z->end, z->start);
    assert_int_equal(dm_buf_size(z), 0);

    /* bigger than the pool's blocks: a large allocation */
    big = dm_buf_create(pool, 10000);
    assert_non_null(big);
    assert_int_equal(big->end - big->start, 10000);
    assert_ptr_equal(pool->large->alloc, big->start);
    memset(big->start, 'b', 10000);
    big->last = big->end;
    assert_int_equal(dm_buf_size(big), 10000);
}

static void
test_chain_size(void **state)
{
    dm_chain_t *l[4];

    assert_int_equal(dm_chain_size(NULL), 0);
    l[0] = link_of(16, 5);
    l[1] = link_of(16, 0);
    l[2] = link_of(16, 7);
    l[3] = link_of(16, 16);
    assert_int_equal(dm_chain_size(chain_of(l, 1)), 5);
    assert_int_equal(dm_chain_size(chain_of(l, 4)), 28);
    /* counts from pos, not from start */
    l[2]->buf->pos += 3;
    assert_int_equal(dm_chain_size(l[0]), 25);
}

static void
test_consume_partial_first(void **state)
{
    dm_chain_t *l[2], *cl;

    l[0] = link_of(16, 10);
    l[1] = link_of(16, 10);
    cl = dm_chain_consume(chain_of(l, 2), 4);
    assert_ptr_equal(cl, l[0]);
    assert_ptr_equal(l[0]->buf->pos, l[0]->buf->start + 4);
    assert_ptr_equal(l[1]->buf->pos, l[1]->buf->start);
    assert_int_equal(dm_chain_size(cl), 16);

    /* zero bytes: nothing moves */
    assert_ptr_equal(dm_chain_consume(cl, 0), l[0]);
    assert_int_equal(dm_chain_size(cl), 16);
}

static void
test_consume_exact_end(void **state)
{
    dm_chain_t *l[3], *cl;

    l[0] = link_of(16, 10);
    l[1] = link_of(16, 6);
    l[2] = link_of(16, 8);
    cl = dm_chain_consume(chain_of(l, 3), 10);
    assert_ptr_equal(cl, l[1]);
    assert_ptr_equal(l[0]->buf->pos, l[0]->buf->last);
    assert_ptr_equal(l[1]->buf->pos, l[1]->buf->start);

    cl = dm_chain_consume(cl, 6);
    assert_ptr_equal(cl, l[2]);
    assert_int_equal(dm_buf_size(l[1]->buf), 0);
    assert_int_equal(dm_chain_size(cl), 8);
}

static void
test_consume_across_three(void **state)
{
    dm_chain_t *l[4], *cl;

    l[0] = link_of(16, 5);
    l[1] = link_of(16, 5);
    l[2] = link_of(16, 5);
    l[3] = link_of(16, 5);
    /* all of the first two, 3 of the third */
    cl = dm_chain_consume(chain_of(l, 4), 13);
    assert_ptr_equal(cl, l[2]);
    assert_int_equal(dm_buf_size(l[0]->buf), 0);
    assert_int_equal(dm_buf_size(l[1]->buf), 0);
    assert_int_equal(dm_buf_size(l[2]->buf), 2);
    assert_ptr_equal(l[2]->buf->pos, l[2]->buf->start + 3);
    assert_int_equal(dm_buf_size(l[3]->buf), 5);
    assert_int_equal(dm_chain_size(l[0]), 7);
}

static void
test_consume_empty_middle(void **state)
{
    dm_chain_t *l[5], *cl;

    l[0] = link_of(16, 4);
    l[1] = link_of(16, 0);
    l[2] = link_of(16, 0);
    l[3] = link_of(16, 4);
    l[4] = link_of(16, 0);
    /* the end of l[0]: the next link with data is l[3] */
    cl = dm_chain_consume(chain_of(l, 5), 4);
    assert_ptr_equal(cl, l[3]);
    assert_int_equal(dm_chain_size(cl), 4);

    /* through the empty ones into l[3] */
    l[0]->buf->pos = l[0]->buf->start;
    cl = dm_chain_consume(l[0], 6);
    assert_ptr_equal(cl, l[3]);
    assert_ptr_equal(l[3]->buf->pos, l[3]->buf->start + 2);

    /* the rest: only an empty link is left, so NULL */
    assert_null(dm_chain_consume(cl, 2));
    assert_int_equal(dm_chain_size(l[0]), 0);

    /* zero bytes from an empty head: the first link with data */
    l[3]->buf->pos = l[3]->buf->start;
    assert_ptr_equal(dm_chain_consume(l[1], 0), l[3]);
}

static void
test_consume_everything(void **state)
{
    dm_chain_t *l[3];

    l[0] = link_of(16, 3);
    l[1] = link_of(16, 3);
    l[2] = link_of(16, 3);
    assert_null(dm_chain_consume(chain_of(l, 3), 9));
    assert_int_equal(dm_chain_size(l[0]), 0);
    assert_ptr_equal(l[2]->buf->pos, l[2]->buf->last);

    /* more than the chain holds: everything, and NULL */
    l[0]->buf->pos = l[0]->buf->start;
    l[1]->buf->pos = l[1]->buf->start;
    l[2]->buf->pos = l[2]->buf->start;
    assert_null(dm_chain_consume(l[0], 100));
    assert_int_equal(dm_chain_size(l[0]), 0);

    assert_null(dm_chain_consume(NULL, 5));
}

static void
test_cache_get_and_recycle(void **state)
{
    dm_buf_cache_t bc;
    dm_chain_t *a, *b, *c, *busy;
    u_char *a_mem, *b_mem;

    dm_buf_cache_init(&bc, pool, 64);
    assert_null(bc.free);

    a = dm_buf_cache_get(&bc);
    b = dm_buf_cache_get(&bc);
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    assert_ptr_not_equal(a->buf->start, b->buf->start);
    assert_int_equal(a->buf->end - a->buf->start, 64);
    assert_int_equal(dm_buf_size(a->buf), 0);
    assert_true(a->buf->recycled);
    assert_ptr_equal(a->buf->tag, &bc);
    assert_null(a->next);
    a_mem = a->buf->start;
    b_mem = b->buf->start;

    /* used: data written, flags set, then all of it sent */
    memcpy(a->buf->last, "hello", 5);
    a->buf->last += 5;
    a->buf->flush = 1;
    memcpy(b->buf->last, "world!", 6);
    b->buf->last += 6;
    b->buf->last_buf = 1;
    a->next = b;
    busy = a;
    assert_null(dm_chain_consume(busy, 11));

    dm_buf_cache_recycle(&bc, &busy);
    assert_null(busy);
    assert_non_null(bc.free);

    /* handed out again (newest first), same memory, emptied and clean */
    c = dm_buf_cache_get(&bc);
    assert_ptr_equal(c, b);
    assert_ptr_equal(c->buf->start, b_mem);
    assert_ptr_equal(c->buf->pos, c->buf->start);
    assert_ptr_equal(c->buf->last, c->buf->start);
    assert_false(c->buf->last_buf);
    assert_null(c->next);

    c = dm_buf_cache_get(&bc);
    assert_ptr_equal(c, a);
    assert_ptr_equal(c->buf->start, a_mem);
    assert_false(c->buf->flush);
    assert_int_equal(dm_buf_size(c->buf), 0);
    assert_null(bc.free);

    /* the free list is empty again: a new link */
    c = dm_buf_cache_get(&bc);
    assert_non_null(c);
    assert_ptr_not_equal(c, a);
    assert_ptr_not_equal(c, b);
    assert_ptr_not_equal(c->buf->start, a_mem);
    assert_ptr_not_equal(c->buf->start, b_mem);
}

static void
test_cache_recycle_stops_at_data(void **state)
{
    dm_buf_cache_t bc;
    dm_chain_t *l[3], *busy;

    dm_buf_cache_init(&bc, pool, 32);
    l[0] = dm_buf_cache_get(&bc);
    l[1] = dm_buf_cache_get(&bc);
    l[2] = dm_buf_cache_get(&bc);
    busy = chain_of(l, 3);
    /* l[0] sent, l[1] still holds 3 bytes, l[2] empty */
    l[1]->buf->last += 3;

    dm_buf_cache_recycle(&bc, &busy);
    assert_ptr_equal(busy, l[1]);
    assert_ptr_equal(l[1]->next, l[2]); /* the rest untouched */
    assert_int_equal(dm_buf_size(l[1]->buf), 3);
    assert_ptr_equal(bc.free, l[0]);
    assert_null(l[0]->next);

    /* once l[1] is sent, both l[1] and l[2] go */
    assert_null(dm_chain_consume(busy, 3));
    dm_buf_cache_recycle(&bc, &busy);
    assert_null(busy);
    assert_ptr_equal(bc.free, l[2]);
    assert_ptr_equal(l[2]->next, l[1]);
    assert_ptr_equal(l[1]->next, l[0]);
    assert_ptr_equal(l[1]->buf->last, l[1]->buf->start);

    /* an empty busy list is fine */
    dm_buf_cache_recycle(&bc, &busy);
    assert_null(busy);
    assert_ptr_equal(bc.free, l[2]);
}

static void
test_cache_recycle_other_tag(void **state)
{
    dm_buf_cache_t bc1, bc2;
    dm_chain_t *a, *x, *c, *lit, *busy;

    dm_buf_cache_init(&bc1, pool, 32);
    dm_buf_cache_init(&bc2, pool, 32);
    a = dm_buf_cache_get(&bc1);
    x = dm_buf_cache_get(&bc2);
    c = dm_buf_cache_get(&bc1);

    /*
     * All three are sent, x belongs to another cache: bc1 takes a, never
     * x, and (as implemented) stops there, leaving x at the head of busy
     * for its owner.
     */
    a->next = x;
    x->next = c;
    busy = a;
    dm_buf_cache_recycle(&bc1, &busy);
    assert_ptr_equal(bc1.free, a);
    assert_null(a->next);
    assert_ptr_equal(busy, x);
    assert_null(bc2.free);

    /* its owner takes it, then bc1 gets c */
    dm_buf_cache_recycle(&bc2, &busy);
    assert_ptr_equal(bc2.free, x);
    assert_ptr_equal(busy, c);
    dm_buf_cache_recycle(&bc1, &busy);
    assert_null(busy);
    assert_ptr_equal(bc1.free, c);
    assert_ptr_equal(c->next, a);

    /* a buffer of no cache (a literal, tag NULL) is never taken */
    lit = link_of(8, 0);
    busy = lit;
    dm_buf_cache_recycle(&bc1, &busy);
    assert_ptr_equal(busy, lit);
    assert_ptr_equal(bc1.free, c);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_buf_create),
        T(test_chain_size),
        T(test_consume_partial_first),
        T(test_consume_exact_end),
        T(test_consume_across_three),
        T(test_consume_empty_middle),
        T(test_consume_everything),
        T(test_cache_get_and_recycle),
        T(test_cache_recycle_stops_at_data),
        T(test_cache_recycle_other_tag),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

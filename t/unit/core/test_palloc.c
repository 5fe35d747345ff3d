/*
 * doorman: unit tests for memory pools (src/core/dm_palloc.c).
 *
 * Covered: many small allocations spread over several blocks (no overlap,
 * every pointer inside a block of the pool), alignment of dm_palloc and
 * dm_pcalloc, dm_pnalloc packing bytes without alignment, dm_pcalloc
 * zeroing reused memory, the small/large boundary at pool->max, large
 * allocations on the large list and dm_pfree (DM_OK for a large pointer,
 * DM_DECLINED for a small or already freed one, header reuse), cleanup
 * handlers run newest-first exactly once by dm_pool_destroy, dm_pool_recycle
 * (cleanups run, blocks kept and reused from the start) and dm_pool_reset
 * (cleanups dropped, not run). Leaks are checked by running the binary
 * under valgrind.
 */
#include <dm_core.h>

#include <setjmp.h>
#include <cmocka.h>

#define POOL_SIZE 1024
#define CLEAN_MAX 16

/* Order in which cleanup handlers ran: the ids they were given. */
static int clean_order[CLEAN_MAX];
static int nclean;

static void
record_cleanup(void *data)
{
    assert_true(nclean < CLEAN_MAX);
    clean_order[nclean++] = *(int *) data;
}

static dm_pool_t *
new_pool(void)
{
    dm_pool_t *pool = dm_pool_create(POOL_SIZE, dm_log_init());

    assert_non_null(pool);
    nclean = 0;
    return pool;
}

/* Number of blocks of the pool, the first (inline) one included. */
static int
count_blocks(dm_pool_t *pool)
{
    dm_pool_block_t *b;
    int n = 0;

    for (b = &pool->d; b; b = b->next) {
        n++;
    }
    return n;
}

/* 1 when [p, p + size) lies inside one of the pool's blocks. */
static int
in_some_block(dm_pool_t *pool, u_char *p, size_t size)
{
    dm_pool_block_t *b;

    for (b = &pool->d; b; b = b->next) {
        if (p >= (u_char *) b && p + size <= b->end) {
            return 1;
        }
    }
    return 0;
}

/* Registers a cleanup that records `id` when it runs. */
static void
add_cleanup(dm_pool_t *pool, int id)
{
    dm_pool_cleanup_t *c = dm_pool_cleanup_add(pool, sizeof(int));

    assert_non_null(c);
    assert_non_null(c->data);
    assert_int_equal(*(int *) c->data, 0); /* zeroed data */
    *(int *) c->data = id;
    c->handler = record_cleanup;
}

static void
test_create_sizes(void **state)
{
    dm_pool_t *pool = new_pool();
    dm_pool_t *tiny;

    assert_int_equal(pool->d.end - (u_char *) pool, POOL_SIZE);
    assert_int_equal(pool->max, POOL_SIZE - sizeof(dm_pool_t));
    assert_ptr_equal(pool->current, &pool->d);
    assert_null(pool->large);
    assert_null(pool->cleanup);
    dm_pool_destroy(pool);

    /* below the minimum: raised to DM_POOL_MIN_SIZE */
    tiny = dm_pool_create(10, NULL);
    assert_non_null(tiny);
    assert_int_equal(tiny->d.end - (u_char *) tiny, DM_POOL_MIN_SIZE);
    dm_pool_destroy(tiny);

    /* big blocks: small allocations capped at DM_POOL_MAX_SMALL */
    tiny = dm_pool_create(DM_POOL_DEFAULT, NULL);
    assert_non_null(tiny);
    assert_int_equal(tiny->max, DM_POOL_MAX_SMALL);
    dm_pool_destroy(tiny);
}

static void
test_many_small(void **state)
{
    dm_pool_t *pool = new_pool();
    u_char *p[300];
    size_t i, j;

    for (i = 0; i < dm_nelems(p); i++) {
        p[i] = dm_pnalloc(pool, 100);
        assert_non_null(p[i]);
        assert_true(in_some_block(pool, p[i], 100));
        memset(p[i], (int) (i & 0xff), 100);
    }
    /* 30,000 bytes in 1 KiB blocks: many blocks, no large allocation */
    assert_true(count_blocks(pool) >= 30000 / POOL_SIZE);
    assert_null(pool->large);
    /* nginx's "failed" counter: the search skips blocks that are full */
    assert_ptr_not_equal(pool->current, &pool->d);

    /* no two allocations overlap: every byte still holds its pattern */
    for (i = 0; i < dm_nelems(p); i++) {
        for (j = 0; j < 100; j++) {
            assert_int_equal(p[i][j], i & 0xff);
        }
    }
    dm_pool_destroy(pool);
}

static void
test_alignment(void **state)
{
    dm_pool_t *pool = new_pool();
    size_t i;
    u_char *p;

    for (i = 0; i < 200; i++) {
        /* misalign the bump pointer, then ask for aligned memory */
        assert_non_null(dm_pnalloc(pool, i % 7 + 1));
        p = dm_palloc(pool, i % 13 + 1);
        assert_non_null(p);
        assert_int_equal((uintptr_t) p % sizeof(void *), 0);
        p = dm_pcalloc(pool, i % 5 + 1);
        assert_non_null(p);
        assert_int_equal((uintptr_t) p % sizeof(void *), 0);
    }
    assert_true(count_blocks(pool) > 1); /* fresh blocks were checked too */
    dm_pool_destroy(pool);
}

static void
test_pnalloc_unaligned(void **state)
{
    dm_pool_t *pool = new_pool();
    u_char *a, *b, *c;

    a = dm_pnalloc(pool, 1);
    b = dm_pnalloc(pool, 3);
    c = dm_pnalloc(pool, 1);
    assert_non_null(a);
    /* packed byte after byte, no padding */
    assert_ptr_equal(b, a + 1);
    assert_ptr_equal(c, b + 3);
    /* the next aligned allocation skips the padding */
    a = dm_palloc(pool, 1);
    assert_ptr_equal(a, dm_align_ptr(c + 1, sizeof(void *)));
    dm_pool_destroy(pool);
}

static void
test_pcalloc_zeroes(void **state)
{
    dm_pool_t *pool = new_pool();
    u_char *dirty, *clean, *large;
    size_t i;

    /* dirty the memory, reset, and get the same memory back zeroed */
    dirty = dm_palloc(pool, 200);
    assert_non_null(dirty);
    memset(dirty, 0xAA, 200);
    dm_pool_reset(pool);
    clean = dm_pcalloc(pool, 200);
    assert_ptr_equal(clean, dirty);
    for (i = 0; i < 200; i++) {
        assert_int_equal(clean[i], 0);
    }
    /* large ones are zeroed too */
    large = dm_pcalloc(pool, 3 * POOL_SIZE);
    assert_non_null(large);
    for (i = 0; i < 3 * POOL_SIZE; i++) {
        assert_int_equal(large[i], 0);
    }
    dm_pool_destroy(pool);
}

static void
test_large(void **state)
{
    dm_pool_t *pool = new_pool();
    u_char *small, *edge, *big, *big2, *big3;
    dm_pool_large_t *hdr;

    /* exactly max is still small */
    edge = dm_palloc(pool, pool->max);
    assert_non_null(edge);
    assert_null(pool->large);
    assert_true(in_some_block(pool, edge, pool->max));

    small = dm_palloc(pool, 16);
    big = dm_palloc(pool, pool->max + 1);
    assert_non_null(big);
    assert_non_null(pool->large);
    assert_ptr_equal(pool->large->alloc, big);
    assert_false(in_some_block(pool, big, 1));
    memset(big, 0x55, pool->max + 1); /* valgrind: the whole size is ours */

    big2 = dm_pnalloc(pool, 5000);
    assert_non_null(big2);
    assert_ptr_equal(pool->large->alloc, big2); /* newest first */
    assert_ptr_equal(pool->large->next->alloc, big);

    /* a small pointer, an unknown one: declined, nothing freed */
    assert_int_equal(dm_pfree(pool, small), DM_DECLINED);
    assert_int_equal(dm_pfree(pool, edge), DM_DECLINED);
    assert_int_equal(dm_pfree(pool, big + 1), DM_DECLINED);
    assert_ptr_equal(pool->large->next->alloc, big);

    /* the large one: freed, its header emptied */
    hdr = pool->large->next;
    assert_int_equal(dm_pfree(pool, big), DM_OK);
    assert_null(hdr->alloc);
    /* twice: declined (no double free) */
    assert_int_equal(dm_pfree(pool, big), DM_DECLINED);

    /* the next large allocation reuses the emptied header */
    big3 = dm_palloc(pool, 2000);
    assert_non_null(big3);
    assert_ptr_equal(hdr->alloc, big3);
    assert_ptr_equal(pool->large->next, hdr);
    assert_null(hdr->next);

    /* big2 and big3 are left to dm_pool_destroy (valgrind checks) */
    dm_pool_destroy(pool);
}

static void
test_cleanup_destroy_order(void **state)
{
    dm_pool_t *pool = new_pool();
    dm_pool_cleanup_t *c;
    int i;

    for (i = 0; i < 3; i++) {
        add_cleanup(pool, i);
    }
    /* one without handler (size 0: no data) is skipped */
    c = dm_pool_cleanup_add(pool, 0);
    assert_non_null(c);
    assert_null(c->data);
    assert_null(c->handler);
    for (i = 3; i < 6; i++) {
        add_cleanup(pool, i);
    }
    /* a large allocation between them changes nothing */
    assert_non_null(dm_palloc(pool, 4 * POOL_SIZE));
    assert_int_equal(nclean, 0);

    dm_pool_destroy(pool);
    assert_int_equal(nclean, 6);
    for (i = 0; i < 6; i++) {
        assert_int_equal(clean_order[i], 5 - i);
    }
}

static void
test_recycle(void **state)
{
    dm_pool_t *pool = new_pool();
    dm_pool_block_t *blocks[64];
    dm_pool_block_t *b;
    u_char *first, *again;
    int i, n;

    first = dm_palloc(pool, 16);
    assert_non_null(first);
    add_cleanup(pool, 1);
    add_cleanup(pool, 2);
    for (i = 0; i < 40; i++) {
        assert_non_null(dm_palloc(pool, 200));
    }
    assert_non_null(dm_palloc(pool, 3 * POOL_SIZE)); /* freed by recycle */
    add_cleanup(pool, 3);
    n = 0;
    for (b = &pool->d; b; b = b->next) {
        assert_true(n < 64);
        blocks[n++] = b;
    }
    assert_true(n > 2);

    dm_pool_recycle(pool);
    assert_int_equal(nclean, 3);
    assert_int_equal(clean_order[0], 3);
    assert_int_equal(clean_order[1], 2);
    assert_int_equal(clean_order[2], 1);
    assert_null(pool->cleanup);
    assert_null(pool->large);
    assert_ptr_equal(pool->current, &pool->d);

    /* allocations start over in the first block */
    again = dm_palloc(pool, 16);
    assert_ptr_equal(again, first);

    /* the same load fits in the kept blocks: no block is added */
    for (i = 0; i < 40; i++) {
        assert_non_null(dm_palloc(pool, 200));
    }
    assert_int_equal(count_blocks(pool), n);
    i = 0;
    for (b = &pool->d; b; b = b->next) {
        assert_ptr_equal(b, blocks[i++]);
    }

    /* a second recycle does not run the old handlers again */
    add_cleanup(pool, 4);
    dm_pool_recycle(pool);
    assert_int_equal(nclean, 4);
    assert_int_equal(clean_order[3], 4);

    dm_pool_destroy(pool);
    assert_int_equal(nclean, 4); /* nothing left to run */
}

static void
test_reset_skips_cleanups(void **state)
{
    dm_pool_t *pool = new_pool();
    u_char *first;

    first = dm_palloc(pool, 32);
    add_cleanup(pool, 7);
    assert_non_null(dm_palloc(pool, 2 * POOL_SIZE));

    dm_pool_reset(pool);
    assert_int_equal(nclean, 0);
    assert_null(pool->cleanup);
    assert_null(pool->large);
    assert_ptr_equal(dm_palloc(pool, 32), first);

    /* the dropped handler does not run at destroy either */
    dm_pool_destroy(pool);
    assert_int_equal(nclean, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_sizes),
        cmocka_unit_test(test_many_small),
        cmocka_unit_test(test_alignment),
        cmocka_unit_test(test_pnalloc_unaligned),
        cmocka_unit_test(test_pcalloc_zeroes),
        cmocka_unit_test(test_large),
        cmocka_unit_test(test_cleanup_destroy_order),
        cmocka_unit_test(test_recycle),
        cmocka_unit_test(test_reset_skips_cleanups),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * doorman: unit tests for the phase engine (src/core/dm_phase.c).
 *
 * An engine of 4 phases plus a LOG phase, with handlers that record their
 * id into a trace and return a scripted code. Covered: handlers
 * registered out of order run in phase order then registration order;
 * DM_DECLINED goes to the next handler of the phase, DM_OK to the next
 * phase; DM_AGAIN stops with the index on that handler and a second
 * dm_phase_run resumes there; DM_DONE stops; DM_ERROR and unexpected
 * codes give DM_ERROR; empty phases are skipped; LOG handlers run only in
 * dm_phase_run_log (all of them, whatever they return), wherever the LOG
 * phase sits; an engine with no handlers; dm_phase_init and dm_phase_add
 * argument checks.
 */
#include <dm_core.h>

#include <setjmp.h>
#include <cmocka.h>

#define NH    10 /* handlers h0 .. h9 */
#define P_LOG 4

/* What the handlers share: their scripted codes and the trace. */
typedef struct {
    dm_int_t rc[NH];    /* code each handler returns */
    int again_once[NH]; /* 1: return DM_AGAIN on the first call */
    int calls[NH];      /* times each handler ran */
    int trace[4 * NH];  /* handler ids in the order they ran */
    int ntrace;
} ctx_t;

static dm_pool_t *pool;
static dm_phase_engine_t pe;
static ctx_t ctx;

static dm_int_t
step(void *obj, int id)
{
    ctx_t *c = obj;
    int n;

    assert_ptr_equal(c, &ctx);
    assert_true(c->ntrace < 4 * NH);
    c->trace[c->ntrace++] = id;
    n = c->calls[id]++;
    if (c->again_once[id] && n == 0) {
        return DM_AGAIN;
    }
    return c->rc[id];
}

#define H(n)                                                                   \
    static dm_int_t h##n(void *obj)                                            \
    {                                                                          \
        return step(obj, n);                                                   \
    }
H(0)
H(1)
H(2)
H(3)
H(4)
H(5)
H(6)
H(7)
H(8)
H(9)

static dm_phase_handler_pt hs[NH] = {h0, h1, h2, h3, h4, h5, h6, h7, h8, h9};

static int
setup(void **state)
{
    int i;

    pool = dm_pool_create(1024, dm_log_init());
    if (pool == NULL) {
        return -1;
    }
    memset(&ctx, 0, sizeof(ctx));
    for (i = 0; i < NH; i++) {
        ctx.rc[i] = DM_DECLINED;
    }
    return dm_phase_init(&pe, pool, 5, P_LOG) == DM_OK ? 0 : -1;
}

static int
teardown(void **state)
{
    dm_pool_destroy(pool);
    pool = NULL;
    return 0;
}

static void
add(dm_uint_t phase, int id)
{
    assert_int_equal(dm_phase_add(&pe, phase, hs[id]), DM_OK);
}

/* Checks the trace against ids[0 .. n - 1], then clears it. */
static void
expect_trace(const int *ids, int n)
{
    int i;

    assert_int_equal(ctx.ntrace, n);
    for (i = 0; i < n; i++) {
        assert_int_equal(ctx.trace[i], ids[i]);
    }
    ctx.ntrace = 0;
}

#define EXPECT(...)                                                            \
    do {                                                                       \
        const int ids_[] = {__VA_ARGS__};                                      \
        expect_trace(ids_, (int) dm_nelems(ids_));                             \
    } while (0)

static void
run_expect(dm_int_t rc, dm_uint_t *index)
{
    assert_int_equal(dm_phase_run(&pe, index, &ctx), rc);
}

static void
test_order(void **state)
{
    dm_uint_t index = 0;

    /* out of order across phases; LOG in between */
    add(2, 0);
    add(0, 1);
    add(P_LOG, 6);
    add(3, 2);
    add(0, 3);
    add(2, 4);
    add(1, 5);
    add(P_LOG, 7);
    assert_int_equal(dm_phase_flatten(&pe, pool), DM_OK);
    assert_int_equal(pe.nhandlers, 6);
    assert_int_equal(pe.nlog, 2);

    /* all DECLINED: every handler, phase order then registration order */
    run_expect(DM_OK, &index);
    EXPECT(1, 3, 5, 0, 4, 2);
    assert_int_equal(index, pe.nhandlers);

    /* all OK: the first handler of each phase only */
    ctx.rc[1] = ctx.rc[5] = ctx.rc[0] = ctx.rc[2] = DM_OK;
    index = 0;
    run_expect(DM_OK, &index);
    EXPECT(1, 5, 0, 2);

    dm_phase_run_log(&pe, &ctx);
    EXPECT(6, 7);
}

static void
test_declined_and_ok(void **state)
{
    dm_uint_t index = 0;

    add(0, 0); /* DECLINED */
    add(0, 1); /* OK: skips 2 */
    add(0, 2);
    add(1, 3); /* DECLINED */
    add(1, 4); /* DECLINED */
    add(2, 5); /* OK: skips 6 */
    add(2, 6);
    add(3, 7);
    ctx.rc[1] = DM_OK;
    ctx.rc[5] = DM_OK;
    assert_int_equal(dm_phase_flatten(&pe, pool), DM_OK);
    run_expect(DM_OK, &index);
    EXPECT(0, 1, 3, 4, 5, 7);
    assert_int_equal(ctx.calls[2] + ctx.calls[6], 0);
}

static void
test_again_resume(void **state)
{
    dm_uint_t index = 0;

    add(0, 0); /* OK */
    add(1, 1); /* DECLINED */
    add(1, 2); /* AGAIN, then OK */
    add(1, 3); /* skipped by 2's OK */
    add(2, 4);
    ctx.rc[0] = DM_OK;
    ctx.rc[2] = DM_OK;
    ctx.again_once[2] = 1;
    assert_int_equal(dm_phase_flatten(&pe, pool), DM_OK);

    run_expect(DM_AGAIN, &index);
    EXPECT(0, 1, 2);
    assert_int_equal(index, 2);
    assert_ptr_equal(pe.handlers[index].handler, h2);

    /* resumes at handler 2 itself: 1 is not run again */
    run_expect(DM_OK, &index);
    EXPECT(2, 4);
    assert_int_equal(index, pe.nhandlers);

    /* AGAIN on the very last handler: the index stays on it */
    ctx.again_once[4] = 1;
    ctx.calls[4] = 0;
    index = 0;
    run_expect(DM_AGAIN, &index);
    EXPECT(0, 1, 2, 4);
    assert_int_equal(index, 4);
    run_expect(DM_OK, &index);
    EXPECT(4);
}

static void
test_done(void **state)
{
    dm_uint_t index = 0;

    add(0, 0);
    add(1, 1); /* DECLINED */
    add(1, 2); /* DONE */
    add(1, 3);
    add(3, 4);
    ctx.rc[2] = DM_DONE;
    assert_int_equal(dm_phase_flatten(&pe, pool), DM_OK);
    run_expect(DM_DONE, &index);
    EXPECT(0, 1, 2);
    assert_int_equal(index, 2);
    assert_int_equal(ctx.calls[3] + ctx.calls[4], 0);
}

static void
test_error(void **state)
{
    static const dm_int_t bad[] = {DM_ERROR, 42, DM_BUSY, DM_ABORT};
    dm_uint_t index, i;

    add(0, 0);
    add(1, 1);
    add(2, 2);
    add(P_LOG, 3);
    assert_int_equal(dm_phase_flatten(&pe, pool), DM_OK);

    for (i = 0; i < dm_nelems(bad); i++) {
        ctx.rc[1] = bad[i];
        index = 0;
        run_expect(DM_ERROR, &index);
        EXPECT(0, 1);
        assert_int_equal(index, 1);
    }
}

static void
test_empty_phases(void **state)
{
    dm_uint_t index = 0;

    /* phases 0 and 2 are empty */
    add(1, 0);
    add(3, 1);
    add(3, 2);
    ctx.rc[0] = DM_OK;
    assert_int_equal(dm_phase_flatten(&pe, pool), DM_OK);
    assert_int_equal(pe.nhandlers, 3);
    assert_int_equal(pe.handlers[0].next, 1);
    assert_int_equal(pe.handlers[1].next, 3);
    assert_int_equal(pe.handlers[2].next, 3);
    run_expect(DM_OK, &index);
    EXPECT(0, 1, 2);

    ctx.rc[1] = DM_OK;
    index = 0;
    run_expect(DM_OK, &index);
    EXPECT(0, 1);
    assert_int_equal(index, 3);
}

static void
test_log_phase(void **state)
{
    dm_uint_t index = 0;

    add(P_LOG, 0); /* ERROR: the others still run */
    add(0, 1);
    add(P_LOG, 2); /* DONE */
    add(P_LOG, 3); /* AGAIN */
    add(3, 4);
    ctx.rc[0] = DM_ERROR;
    ctx.rc[2] = DM_DONE;
    ctx.rc[3] = DM_AGAIN;
    assert_int_equal(dm_phase_flatten(&pe, pool), DM_OK);
    assert_int_equal(pe.nhandlers, 2);
    assert_int_equal(pe.nlog, 3);

    run_expect(DM_OK, &index);
    EXPECT(1, 4);
    dm_phase_run_log(&pe, &ctx);
    EXPECT(0, 2, 3);
}

static void
test_log_phase_in_middle(void **state)
{
    dm_uint_t index = 0;

    /* LOG as phase 1 of 5: phases 0, 2, 3, 4 are walked around it */
    assert_int_equal(dm_phase_init(&pe, pool, 5, 1), DM_OK);
    add(4, 0);
    add(1, 1);
    add(0, 2);
    add(2, 3);
    ctx.rc[2] = DM_OK;
    assert_int_equal(dm_phase_flatten(&pe, pool), DM_OK);
    assert_int_equal(pe.nhandlers, 3);
    run_expect(DM_OK, &index);
    EXPECT(2, 3, 0);
    dm_phase_run_log(&pe, &ctx);
    EXPECT(1);
}

static void
test_no_handlers(void **state)
{
    dm_uint_t index = 0;

    assert_int_equal(dm_phase_flatten(&pe, pool), DM_OK);
    assert_int_equal(pe.nhandlers, 0);
    assert_int_equal(pe.nlog, 0);
    run_expect(DM_OK, &index);
    assert_int_equal(index, 0);
    dm_phase_run_log(&pe, &ctx);
    assert_int_equal(ctx.ntrace, 0);
}

static void
test_init_checks(void **state)
{
    dm_phase_engine_t e;

    assert_int_equal(dm_phase_init(&e, pool, DM_PHASE_MAX + 1, 0), DM_ERROR);
    assert_int_equal(dm_phase_init(&e, pool, 5, 5), DM_ERROR);
    assert_int_equal(dm_phase_init(&e, pool, 5, 6), DM_ERROR);
    assert_int_equal(dm_phase_init(&e, pool, 0, 0), DM_ERROR);
    assert_int_equal(dm_phase_init(&e, pool, DM_PHASE_MAX, DM_PHASE_MAX - 1),
                     DM_OK);
    assert_int_equal(e.nphases, DM_PHASE_MAX);
    assert_int_equal(e.log_phase, DM_PHASE_MAX - 1);

    /* a phase the engine does not have */
    assert_int_equal(dm_phase_add(&pe, 5, h0), DM_ERROR);
    assert_int_equal(dm_phase_add(&pe, DM_PHASE_MAX, h0), DM_ERROR);
    assert_int_equal(dm_phase_add(&pe, P_LOG, h0), DM_OK);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_order),        T(test_declined_and_ok),
        T(test_again_resume), T(test_done),
        T(test_error),        T(test_empty_phases),
        T(test_log_phase),    T(test_log_phase_in_middle),
        T(test_no_handlers),  T(test_init_checks),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

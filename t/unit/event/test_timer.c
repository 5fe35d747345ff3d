/*
 * doorman: unit tests for the event timers (src/event/dm_event_timer.c).
 *
 * The clock is fake: the tests set dm_current_msec (the cached monotonic
 * clock) themselves and never call dm_time_update. Covered: expiry order
 * and "only when due" for 1,000 pseudo-random timers stepped through ms by
 * ms, dm_event_timer_find (distance to the nearest, 0 when due, INFINITE
 * when none), lazy re-arming (a move below DM_EVENT_TIMER_LAZY_DELAY keeps
 * the old key, a larger one moves the timer), deletion from the middle of
 * the heap, expiry in one turn (timers due at the same instant, and timers
 * armed with 0 by a handler during the expiry), heap growth past the init
 * hint, ev->timedout / ev->timer_set on expiry, and
 * dm_event_timer_no_timers_left with cancelable timers.
 */
#include <dm_core.h>
#include <dm_event.h>

#include <setjmp.h>
#include <cmocka.h>

#define NEV   10000
#define START 1000000 /* the fake clock's first reading */

static dm_event_t evs[NEV];
static dm_msec_t want[NEV]; /* key each event was armed with */
static int nfired[NEV];     /* times each handler ran */
static int order[2 * NEV];  /* event indexes in firing order */
static int norder;
static unsigned rnd_state;

static unsigned
rnd(void)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (rnd_state >> 8) & 0xffffff;
}

/* The handler of every test event: checks the flags and records. */
static void
record(dm_event_t *ev)
{
    int i = (int) (ev - evs);

    assert_true(ev->timedout);
    assert_false(ev->timer_set);
    assert_true(norder < 2 * NEV);
    order[norder++] = i;
    nfired[i]++;
}

static int
setup(void **state)
{
    int i;

    memset(evs, 0, sizeof(evs));
    memset(nfired, 0, sizeof(nfired));
    norder = 0;
    rnd_state = 12345;
    dm_current_msec = START;
    for (i = 0; i < NEV; i++) {
        evs[i].handler = record;
        evs[i].log = dm_log_init();
        evs[i].data = &evs[i];
    }
    return dm_event_timer_init(64, dm_log_init()) == DM_OK ? 0 : -1;
}

static int
teardown(void **state)
{
    dm_event_timer_done();
    return 0;
}

static void
arm(int i, dm_msec_t timer)
{
    assert_int_equal(dm_event_timer_add(&evs[i], timer), DM_OK);
    assert_true(evs[i].timer_set);
    want[i] = dm_current_msec + timer;
}

/*
 * Advances the clock one ms at a time up to `until`, expiring at each
 * step; checks that each timer fires at exactly its key (so only when due,
 * and in key order), and that find() agrees before each step.
 */
static void
step_until(dm_msec_t until)
{
    dm_msec_t prev = 0;
    int k, first;

    while (dm_current_msec < until) {
        dm_current_msec++;
        first = norder;
        dm_event_timer_expire();
        for (k = first; k < norder; k++) {
            assert_int_equal(want[order[k]], dm_current_msec);
            assert_true(want[order[k]] >= prev);
            prev = want[order[k]];
        }
        /* nothing due is left behind */
        assert_int_not_equal(dm_event_timer_find(), 0);
    }
}

static void
test_ordering(void **state)
{
    int i;

    for (i = 0; i < 1000; i++) {
        arm(i, rnd() % 5000);
    }
    assert_int_equal(dm_event_timer_count(), 1000);
    /* timer 0 ms: due at once */
    dm_event_timer_expire();
    for (i = 0; i < norder; i++) {
        assert_int_equal(want[order[i]], START);
    }
    step_until(START + 5000);
    assert_int_equal(norder, 1000);
    for (i = 0; i < 1000; i++) {
        assert_int_equal(nfired[i], 1);
    }
    for (i = 1; i < norder; i++) {
        assert_true(want[order[i - 1]] <= want[order[i]]);
    }
    assert_int_equal(dm_event_timer_count(), 0);
}

static void
test_find(void **state)
{
    assert_int_equal(dm_event_timer_find(), DM_EVENT_TIMER_INFINITE);
    arm(0, 100);
    arm(1, 250);
    assert_int_equal(dm_event_timer_find(), 100);
    dm_current_msec += 40;
    assert_int_equal(dm_event_timer_find(), 60);
    dm_current_msec += 60; /* exactly due */
    assert_int_equal(dm_event_timer_find(), 0);
    dm_current_msec += 20; /* overdue */
    assert_int_equal(dm_event_timer_find(), 0);
    dm_event_timer_expire();
    assert_int_equal(nfired[0], 1);
    assert_int_equal(nfired[1], 0);
    assert_int_equal(dm_event_timer_find(), 130);
    dm_event_timer_del(&evs[1]);
    assert_int_equal(dm_event_timer_find(), DM_EVENT_TIMER_INFINITE);
}

static void
test_lazy_rearm(void **state)
{
    dm_uint_t idx;

    arm(0, 1000);
    idx = evs[0].timer_index;

    /* later by less than the delay: the old key stays */
    assert_int_equal(dm_event_timer_add(&evs[0], 1000 + 299), DM_OK);
    assert_int_equal(evs[0].timer_key, START + 1000);
    assert_int_equal(evs[0].timer_index, idx);
    assert_int_equal(dm_event_timer_count(), 1);

    /* later by the delay: it moves */
    assert_int_equal(dm_event_timer_add(&evs[0], 1000 + 300), DM_OK);
    assert_int_equal(evs[0].timer_key, START + 1300);
    assert_int_equal(dm_event_timer_count(), 1);

    /* earlier by less: stays; earlier by more: moves */
    assert_int_equal(dm_event_timer_add(&evs[0], 1001), DM_OK);
    assert_int_equal(evs[0].timer_key, START + 1300);
    assert_int_equal(dm_event_timer_add(&evs[0], 500), DM_OK);
    assert_int_equal(evs[0].timer_key, START + 500);
    assert_int_equal(dm_event_timer_find(), 500);
    assert_int_equal(dm_event_timer_count(), 1);

    /*
     * The idle-timeout pattern: the clock moves on, the timer is pushed by
     * less than the delay, so it fires at its old key, i.e. up to the
     * delay EARLY (the header's comment says "late").
     */
    dm_current_msec += 100;
    assert_int_equal(dm_event_timer_add(&evs[0], 500), DM_OK);
    assert_int_equal(evs[0].timer_key, START + 500);
    dm_current_msec = START + 499;
    dm_event_timer_expire();
    assert_int_equal(nfired[0], 0);
    dm_current_msec = START + 500;
    dm_event_timer_expire();
    assert_int_equal(nfired[0], 1);
}

static void
test_lazy_move_keeps_heap(void **state)
{
    int i;

    /* 20 timers; move the nearest ones past the others */
    for (i = 0; i < 20; i++) {
        arm(i, 1000 + 10 * i);
    }
    for (i = 0; i < 5; i++) {
        arm(i, 5000 + i); /* moves by > delay: really re-inserted */
        assert_int_equal(evs[i].timer_key, START + 5000 + i);
    }
    assert_int_equal(dm_event_timer_count(), 20);
    assert_int_equal(dm_event_timer_find(), 1050);
    step_until(START + 5010);
    assert_int_equal(norder, 20);
    for (i = 0; i < 15; i++) {
        assert_int_equal(order[i], i + 5);
    }
    for (i = 15; i < 20; i++) {
        assert_int_equal(order[i], i - 15);
    }
}

static void
test_delete_middle(void **state)
{
    int i;

    for (i = 0; i < 1000; i++) {
        arm(i, 1 + rnd() % 3000);
    }
    for (i = 0; i < 1000; i += 3) {
        dm_event_timer_del(&evs[i]);
        assert_false(evs[i].timer_set);
    }
    assert_int_equal(dm_event_timer_count(), 1000 - 334);
    /* deleting again, or an event never armed, changes nothing */
    dm_event_timer_del(&evs[0]);
    dm_event_timer_del(&evs[5000]);
    assert_int_equal(dm_event_timer_count(), 1000 - 334);

    step_until(START + 3001);
    assert_int_equal(norder, 1000 - 334);
    for (i = 0; i < 1000; i++) {
        assert_int_equal(nfired[i], i % 3 == 0 ? 0 : 1);
    }
    assert_int_equal(dm_event_timer_count(), 0);
}

/* Re-arms itself with 0 on its first run. */
static void
rearm_zero_once(dm_event_t *ev)
{
    record(ev);
    if (nfired[ev - evs] == 1) {
        ev->timedout = 0;
        assert_int_equal(dm_event_timer_add(ev, 0), DM_OK);
    }
}

/* Arms event 99 with 0 (an already reached instant). */
static void
arm_other_zero(dm_event_t *ev)
{
    record(ev);
    evs[99].timedout = 0;
    assert_int_equal(dm_event_timer_add(&evs[99], 0), DM_OK);
}

static void
test_expire_one_turn(void **state)
{
    int i;

    for (i = 0; i < 50; i++) {
        arm(i, 200); /* all due at the same instant */
    }
    arm(50, 201); /* one ms later: not in this turn */
    /*
     * Handlers that arm a timer with 0 while timers expire: the expiry
     * loop keeps going while the root is due, so those fire in the same
     * dm_event_timer_expire call (a handler must not re-arm with 0
     * unconditionally, or that call never returns).
     */
    evs[10].handler = rearm_zero_once;
    evs[20].handler = arm_other_zero;

    dm_current_msec = START + 200;
    dm_event_timer_expire();
    assert_int_equal(norder, 52);
    for (i = 0; i < 50; i++) {
        assert_int_equal(nfired[i], i == 10 ? 2 : 1);
    }
    assert_int_equal(nfired[99], 1);
    assert_int_equal(nfired[50], 0);
    assert_int_equal(dm_event_timer_count(), 1);
    assert_int_equal(dm_event_timer_find(), 1);
}

static void
test_flags(void **state)
{
    arm(0, 10);
    arm(1, 20);
    assert_false(evs[0].timedout);
    dm_current_msec += 10;
    dm_event_timer_expire(); /* record() checks the flags inside */
    assert_int_equal(nfired[0], 1);
    assert_true(evs[0].timedout);
    assert_false(evs[0].timer_set);
    assert_false(evs[1].timedout);
    assert_true(evs[1].timer_set);
    /* a deleted timer is not "timed out" */
    dm_event_timer_del(&evs[1]);
    assert_false(evs[1].timedout);
    assert_false(evs[1].timer_set);
}

static void
test_growth(void **state)
{
    int i;

    assert_int_equal(dm_event_timer_init(4, dm_log_init()), DM_OK);
    for (i = 0; i < NEV; i++) {
        arm(i, 1 + rnd() % 20000);
    }
    assert_int_equal(dm_event_timer_count(), NEV);
    step_until(START + 20001);
    assert_int_equal(norder, NEV);
    for (i = 0; i < NEV; i++) {
        assert_int_equal(nfired[i], 1);
    }
    assert_int_equal(dm_event_timer_count(), 0);
}

static void
test_no_timers_left(void **state)
{
    assert_int_equal(dm_event_timer_no_timers_left(), 1);
    evs[0].cancelable = 1;
    evs[1].cancelable = 1;
    arm(0, 100);
    arm(1, 5000);
    assert_int_equal(dm_event_timer_no_timers_left(), 1);
    arm(2, 50000); /* not cancelable: deepest in the heap */
    assert_int_equal(dm_event_timer_no_timers_left(), 0);
    dm_event_timer_del(&evs[2]);
    assert_int_equal(dm_event_timer_no_timers_left(), 1);
    arm(3, 1);
    assert_int_equal(dm_event_timer_no_timers_left(), 0);
    dm_current_msec += 1;
    dm_event_timer_expire();
    assert_int_equal(nfired[3], 1);
    assert_int_equal(dm_event_timer_no_timers_left(), 1);
    assert_int_equal(dm_event_timer_count(), 2);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_ordering),       T(test_find),
        T(test_lazy_rearm),     T(test_lazy_move_keeps_heap),
        T(test_delete_middle),  T(test_expire_one_turn),
        T(test_flags),          T(test_growth),
        T(test_no_timers_left),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

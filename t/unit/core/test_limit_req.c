/*
 * doorman: unit tests for request rate limiting (src/core/dm_limit_req.c).
 *
 * Real zones (memfd), explicit clocks. Covered: the leaky bucket
 * arithmetic (a fresh key, decay, the burst boundary, the delay with and
 * without delay= and nodelay, rates per minute, no overflow); lookups that
 * count and refuse (a refused request is not counted), the two-step
 * lookup/account of several limits; the capacity of a zone as documented
 * in dm_limit_req.h; LRU eviction in a zone capped at exactly 100 keys
 * (the 101st key drops the least recently used one, not a recently used
 * one) and at the natural capacity of a 32k zone; 1,000 keys through a
 * 100-key table leaving exactly the last 100; the state kept by a second
 * cycle (reload) and shared with another process; limit_req's parameters.
 */
#include <dm_core.h>
#include <dm_shm.h>
#include <dm_limit_req.h>

#include <sys/mman.h>
#include <sys/wait.h>
#include <setjmp.h>
#include <signal.h>
#include <cmocka.h>

#define KB 1024

static dm_log_file_t log_file;
static dm_log_t test_log = {DM_LOG_INFO, &log_file, NULL, NULL, NULL, NULL};

/* The cap the next zone init applies (0: the zone's natural capacity),
   and the free pages the zone had before the table was made. */
static dm_uint_t cap_keys;
static dm_uint_t free_before;

static dm_int_t
t_init(dm_shm_zone_t *z, int fresh)
{
    dm_shm_stats_t st;

    dm_shm_stats(z, &st);
    free_before = st.free_pages;
    return dm_limit_req_init_table(z, fresh, cap_keys);
}

static void
log_reset(void)
{
    if (log_file.fd <= 0) {
        log_file.fd = memfd_create("testlog", MFD_CLOEXEC);
        assert_true(log_file.fd > 2);
        fcntl(log_file.fd, F_SETFL, O_APPEND);
    }
    assert_int_equal(ftruncate(log_file.fd, 0), 0);
}

static int
log_has(const char *s)
{
    static char buf[65536];
    ssize_t n = pread(log_file.fd, buf, sizeof(buf) - 1, 0);

    assert_true(n >= 0);
    buf[n] = '\0';
    return strstr(buf, s) != NULL;
}

/* A cycle with one limit_req zone mapped (taking over old's, if any). */
static dm_cycle_t *
zone_cycle(const char *name, size_t size, dm_uint_t cap, dm_cycle_t *old,
           dm_limit_req_zone_t *lz, uint64_t rate)
{
    dm_pool_t *pool = dm_pool_create(DM_POOL_DEFAULT, &test_log);
    dm_str_t n = {strlen(name), (u_char *) name};
    dm_cycle_t *c;
    dm_conf_t cf;

    assert_non_null(pool);
    c = dm_pcalloc(pool, sizeof(dm_cycle_t));
    assert_non_null(c);
    c->pool = pool;
    c->log = &test_log;
    memset(&cf, 0, sizeof(cf));
    cf.cycle = c;
    cf.pool = pool;
    cf.log = &test_log;
    memset(lz, 0, sizeof(*lz));
    lz->zone = dm_shm_zone_add(&cf, &n, size, 1, &cap_keys);
    assert_non_null(lz->zone);
    lz->zone->init = t_init;
    lz->name = n;
    lz->rate = rate;
    cap_keys = cap;
    assert_int_equal(dm_shm_zones_init(c, old), DM_OK);
    return c;
}

static void
free_cycle(dm_cycle_t *c, dm_cycle_t *next)
{
    dm_shm_zones_release(c, next);
    dm_pool_destroy(c->pool);
}

/* Looks key "k<i>" up (counted) with burst 0. */
static dm_int_t
hit(dm_limit_req_zone_t *lz, unsigned i, dm_msec_t now)
{
    char buf[32];
    dm_str_t key;
    uint64_t excess;

    key.len = (size_t) snprintf(buf, sizeof(buf), "k%u", i);
    key.data = (u_char *) buf;
    return dm_limit_req_lookup(lz, dm_limit_req_hash(&key), 0, 1, now, &excess);
}

/* --- the arithmetic ----------------------------------------------------- */

static void
test_bucket(void **state)
{
    /* 1r/s = 1000 milli-requests per second */
    assert_int_equal(dm_limit_req_excess(0, 1000, 0), 1000);
    assert_int_equal(dm_limit_req_excess(1000, 1000, 0), 2000);
    /* half a second drains half a request */
    assert_int_equal(dm_limit_req_excess(1000, 1000, 500), 1500);
    /* exactly one period: back to 1000 - 1000 + 1000 */
    assert_int_equal(dm_limit_req_excess(1000, 1000, 1000), 1000);
    /* drained below zero: the bucket is empty, then this request */
    assert_int_equal(dm_limit_req_excess(500, 1000, 5000), 0);
    assert_int_equal(dm_limit_req_excess(0, 1000, 1000), 0);
    assert_int_equal(dm_limit_req_excess(0, 1000, 999), 1);
    /* 100r/s: 10 ms per request */
    assert_int_equal(dm_limit_req_excess(0, 100000, 9), 100);
    assert_int_equal(dm_limit_req_excess(0, 100000, 10), 0);
    /* 1r/m is 16 milli-requests per second, as nginx rounds it */
    assert_int_equal(dm_limit_req_excess(0, 16, 30000), 520);
    assert_int_equal(dm_limit_req_excess(0, 16, 62500), 0);
    /* no overflow with huge gaps or rates */
    assert_int_equal(dm_limit_req_excess(5000, 1000000000000ULL, 1), 0);
    assert_int_equal(dm_limit_req_excess(5000, 16, (dm_msec_t) -1), 0);
    assert_int_equal(dm_limit_req_excess(UINT32_MAX, 1, (dm_msec_t) -2), 0);

    /* delays: (excess - delay) * 1000 / rate */
    assert_int_equal(dm_limit_req_delay(0, 0, 1000), 0);
    assert_int_equal(dm_limit_req_delay(1000, 0, 1000), 1000);
    assert_int_equal(dm_limit_req_delay(2500, 0, 1000), 2500);
    assert_int_equal(dm_limit_req_delay(1000, 0, 100000), 10);
    /* delay=2: two requests over the rate go at once, the third waits */
    assert_int_equal(dm_limit_req_delay(2000, 2000, 1000), 0);
    assert_int_equal(dm_limit_req_delay(3000, 2000, 1000), 1000);
    assert_int_equal(dm_limit_req_delay(5000, DM_LIMIT_REQ_NODELAY, 1), 0);
    /* 1r/m: one request over waits a minute and a half-second */
    assert_int_equal(dm_limit_req_delay(1000, 0, 16), 62500);
}

static void
test_lookup(void **state)
{
    dm_limit_req_zone_t lz;
    dm_cycle_t *c = zone_cycle("lk", 64 * KB, 0, NULL, &lz, 1000);
    dm_str_t a = dm_string("a"), b = dm_string("b");
    uint64_t ha = dm_limit_req_hash(&a), hb = dm_limit_req_hash(&b), x;
    dm_msec_t t = 1000000;
    int i;

    assert_true(ha != hb);
    /* a fresh key passes with excess 0 */
    assert_int_equal(dm_limit_req_lookup(&lz, ha, 0, 1, t, &x), DM_OK);
    assert_int_equal(x, 0);
    /* burst 0: the next one within the second is refused ... */
    assert_int_equal(dm_limit_req_lookup(&lz, ha, 0, 1, t + 500, &x), DM_BUSY);
    assert_int_equal(x, 500);
    /* ... and not counted: a second after the first, it passes */
    assert_int_equal(dm_limit_req_lookup(&lz, ha, 0, 1, t + 1000, &x), DM_OK);
    assert_int_equal(x, 0);

    /* burst=5: six at once pass (excess 0 ... 5.000), the seventh not */
    for (i = 0; i < 6; i++) {
        assert_int_equal(dm_limit_req_lookup(&lz, hb, 5000, 1, t, &x), DM_OK);
        assert_int_equal(x, (uint64_t) i * 1000);
    }
    assert_int_equal(dm_limit_req_lookup(&lz, hb, 5000, 1, t, &x), DM_BUSY);
    assert_int_equal(x, 6000);
    assert_int_equal(dm_limit_req_lookup(&lz, hb, 5000, 1, t + 999, &x),
                     DM_BUSY);
    assert_int_equal(x, 5001);
    /* a second later one more fits; delayed by 5 s without delay= */
    assert_int_equal(dm_limit_req_lookup(&lz, hb, 5000, 1, t + 1000, &x),
                     DM_OK);
    assert_int_equal(x, 5000);
    assert_int_equal(dm_limit_req_delay(x, 0, lz.rate), 5000);
    assert_int_equal(dm_limit_req_delay(x, 3000, lz.rate), 2000);
    /* the clock of another process a little behind: no decay, no harm */
    assert_int_equal(dm_limit_req_lookup(&lz, hb, 6000, 1, t + 990, &x), DM_OK);
    assert_int_equal(x, 6000);

    free_cycle(c, NULL);
}

static void
test_two_step(void **state)
{
    dm_limit_req_zone_t lz;
    dm_cycle_t *c = zone_cycle("ts", 64 * KB, 0, NULL, &lz, 1000);
    dm_str_t a = dm_string("a"), n = dm_string("new");
    uint64_t ha = dm_limit_req_hash(&a), hn = dm_limit_req_hash(&n), x;
    dm_msec_t t = 5000000;

    /* looked up without counting: nothing is stored */
    assert_int_equal(dm_limit_req_lookup(&lz, ha, 0, 1, t, &x), DM_OK);
    assert_int_equal(dm_limit_req_lookup(&lz, ha, 5000, 0, t, &x), DM_OK);
    assert_int_equal(x, 1000);
    assert_int_equal(dm_limit_req_lookup(&lz, ha, 5000, 0, t, &x), DM_OK);
    assert_int_equal(x, 1000);
    /* counted once all limits passed */
    dm_limit_req_account(&lz, ha, t, &x);
    assert_int_equal(x, 1000);
    assert_int_equal(dm_limit_req_lookup(&lz, ha, 5000, 0, t, &x), DM_OK);
    assert_int_equal(x, 2000);

    /* a new key looked up without counting stays at 0 (as nginx) */
    assert_int_equal(dm_limit_req_lookup(&lz, hn, 0, 0, t, &x), DM_OK);
    assert_int_equal(x, 0);
    assert_int_equal(dm_limit_req_lookup(&lz, hn, 0, 0, t, &x), DM_OK);
    dm_limit_req_account(&lz, hn, t, &x);
    assert_int_equal(x, 0);
    assert_int_equal(dm_limit_req_lookup(&lz, hn, 0, 1, t, &x), DM_BUSY);
    assert_int_equal(x, 1000);

    free_cycle(c, NULL);
}

/* --- capacity and eviction ---------------------------------------------- */

static void
test_evict_100(void **state)
{
    dm_limit_req_zone_t lz;
    dm_limit_req_stats_t st;
    dm_cycle_t *c;
    dm_msec_t t = 7000000;
    unsigned i;

    log_reset();
    c = zone_cycle("hundred", 32 * KB, 100, NULL, &lz, 16);
    assert_true(log_has("limit_req zone \"hundred\": 100 keys"));
    dm_limit_req_stats(&lz, &st);
    assert_int_equal(st.capacity, 100);
    assert_int_equal(st.used, 0);

    /* 100 keys, rate 1r/m: each one passes once, then is refused */
    for (i = 1; i <= 100; i++) {
        assert_int_equal(hit(&lz, i, t), DM_OK);
    }
    /* key 1, the oldest, is used again (refused: still made recent) */
    assert_int_equal(hit(&lz, 1, t + 1), DM_BUSY);
    dm_limit_req_stats(&lz, &st);
    assert_int_equal(st.used, 100);
    assert_int_equal(st.evicted, 0);

    /* the 101st key takes the place of key 2, the least recently used */
    assert_int_equal(hit(&lz, 101, t + 2), DM_OK);
    dm_limit_req_stats(&lz, &st);
    assert_int_equal(st.used, 100);
    assert_int_equal(st.evicted, 1);
    /* key 1 and key 3 ... 100 are still limited */
    assert_int_equal(hit(&lz, 1, t + 3), DM_BUSY);
    for (i = 3; i <= 101; i++) {
        assert_int_equal(hit(&lz, i, t + 3), DM_BUSY);
    }
    dm_limit_req_stats(&lz, &st);
    assert_int_equal(st.evicted, 1);
    /* key 2 was forgotten: it passes again (and key 1 is now the LRU,
       since 3 ... 101 were used after it) */
    assert_int_equal(hit(&lz, 2, t + 4), DM_OK);
    assert_int_equal(hit(&lz, 1, t + 5), DM_OK);
    assert_int_equal(hit(&lz, 101, t + 5), DM_BUSY);

    free_cycle(c, NULL);
}

static void
test_turnover(void **state)
{
    dm_limit_req_zone_t lz;
    dm_limit_req_stats_t st;
    dm_cycle_t *c = zone_cycle("turn", 32 * KB, 100, NULL, &lz, 16);
    dm_msec_t t = 9000000;
    unsigned i;

    /* 1,000 keys through 100 entries: chains and the LRU stay sound */
    for (i = 0; i < 1000; i++) {
        assert_int_equal(hit(&lz, i, t), DM_OK);
    }
    dm_limit_req_stats(&lz, &st);
    assert_int_equal(st.evicted, 900);
    /* exactly the last 100 are there (oldest first, so none is evicted
       by this check) */
    for (i = 900; i < 1000; i++) {
        assert_int_equal(hit(&lz, i, t + 1), DM_BUSY);
    }
    dm_limit_req_stats(&lz, &st);
    assert_int_equal(st.evicted, 900);
    assert_int_equal(hit(&lz, 899, t + 2), DM_OK);
    dm_limit_req_stats(&lz, &st);
    assert_int_equal(st.evicted, 901);

    free_cycle(c, NULL);
}

static void
test_capacity(void **state)
{
    dm_limit_req_zone_t lz;
    dm_limit_req_stats_t st;
    dm_cycle_t *c;
    dm_msec_t t = 11000000;
    unsigned i;
    char line[64];

    log_reset();
    c = zone_cycle("nat", 32 * KB, 0, NULL, &lz, 16);
    dm_limit_req_stats(&lz, &st);
    /* as dm_limit_req.h says: (free pages * 4096 - 72) / 44 */
    assert_int_equal(st.capacity,
                     (free_before * (dm_uint_t) DM_SHM_PAGE_SIZE - 72)
                         / DM_LIMIT_REQ_KEY_COST);
    assert_true(st.capacity >= 600);
    snprintf(line, sizeof(line), "limit_req zone \"nat\": %u keys",
             (unsigned) st.capacity);
    assert_true(log_has(line));

    /* every one fits, the next one evicts the least recently used */
    for (i = 0; i < st.capacity; i++) {
        assert_int_equal(hit(&lz, i, t), DM_OK);
    }
    assert_int_equal(hit(&lz, 0, t + 1), DM_BUSY);
    assert_int_equal(hit(&lz, (unsigned) st.capacity, t + 1), DM_OK);
    dm_limit_req_stats(&lz, &st);
    assert_int_equal(st.evicted, 1);
    assert_int_equal(hit(&lz, 0, t + 1), DM_BUSY);
    assert_int_equal(hit(&lz, 1, t + 1), DM_OK); /* was evicted */

    free_cycle(c, NULL);
}

/* --- reload and processes ----------------------------------------------- */

static void
test_reload_and_fork(void **state)
{
    dm_limit_req_zone_t lz, lz2;
    dm_cycle_t *c1, *c2;
    dm_msec_t t = 13000000;
    pid_t pid;
    int status, i;

    c1 = zone_cycle("keep", 64 * KB, 0, NULL, &lz, 1000);
    assert_int_equal(hit(&lz, 7, t), DM_OK);

    /* a reload with the same name and size keeps the state */
    log_reset();
    c2 = zone_cycle("keep", 64 * KB, 0, c1, &lz2, 1000);
    assert_ptr_equal(lz2.zone->addr, lz.zone->addr);
    assert_true(log_has("(kept)"));
    free_cycle(c1, c2);
    assert_int_equal(hit(&lz2, 7, t + 10), DM_BUSY);

    /* another process counts into the same table */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(hit(&lz2, 8, t) == DM_OK ? 0 : 1);
    }
    for (i = 0; i < 500 && waitpid(pid, &status, WNOHANG) != pid; i++) {
        usleep(10000);
    }
    if (i == 500) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fail_msg("the child did not exit");
    }
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(hit(&lz2, 8, t + 10), DM_BUSY);

    free_cycle(c2, NULL);
}

/* --- limit_req's parameters --------------------------------------------- */

static dm_int_t
parse(dm_limit_req_t *l, const char *a1, const char *a2, const char *a3)
{
    const char *args[] = {"limit_req", a1, a2, a3};
    dm_pool_t *pool = dm_pool_create(DM_POOL_DEFAULT, &test_log);
    dm_array_t *arr = dm_array_create(pool, 4, sizeof(dm_str_t));
    dm_str_t *s;
    dm_conf_t cf;
    dm_int_t rc;
    unsigned i;

    assert_non_null(arr);
    for (i = 0; i < 4 && args[i]; i++) {
        s = dm_array_push(arr);
        s->data = (u_char *) dm_pstrdup(
            pool, &(dm_str_t){strlen(args[i]), (u_char *) args[i]});
        s->len = strlen(args[i]);
    }
    memset(&cf, 0, sizeof(cf));
    cf.pool = pool;
    cf.log = &test_log;
    cf.args = arr;
    rc = dm_limit_req_parse(&cf, l);
    dm_pool_destroy(pool);
    return rc;
}

static void
test_parse(void **state)
{
    dm_limit_req_t l;

    log_reset();
    assert_int_equal(parse(&l, "zone=one", NULL, NULL), DM_OK);
    assert_int_equal(l.zone_name.len, 3);
    assert_int_equal(l.burst, 0);
    assert_int_equal(l.delay, 0);
    assert_int_equal(parse(&l, "zone=one:10m", "burst=5", "nodelay"), DM_OK);
    assert_int_equal(l.zone_name.len, 3);
    assert_int_equal(l.burst, 5000);
    assert_int_equal(l.delay, DM_LIMIT_REQ_NODELAY);
    assert_int_equal(parse(&l, "burst=20", "delay=8", "zone=x"), DM_OK);
    assert_int_equal(l.burst, 20000);
    assert_int_equal(l.delay, 8000);

    assert_int_equal(parse(&l, "burst=5", NULL, NULL), DM_ERROR);
    assert_true(log_has("must have the \"zone\" parameter"));
    assert_int_equal(parse(&l, "zone=a", "burst=0", NULL), DM_ERROR);
    assert_true(log_has("invalid burst value \"burst=0\""));
    assert_int_equal(parse(&l, "zone=a", "delay=x", NULL), DM_ERROR);
    assert_true(log_has("invalid delay value"));
    assert_int_equal(parse(&l, "zone=a", "fast", NULL), DM_ERROR);
    assert_true(log_has("invalid parameter \"fast\""));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket),
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_two_step),
        cmocka_unit_test(test_evict_100),
        cmocka_unit_test(test_turnover),
        cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_reload_and_fork),
        cmocka_unit_test(test_parse),
    };

    log_reset();
    return cmocka_run_group_tests(tests, NULL, NULL);
}

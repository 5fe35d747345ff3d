/*
 * doorman: unit tests for the upstream layer (src/upstream/): eligibility,
 * the balancers, passive failure accounting and slow start.
 *
 * No socket and no shared zone: each test builds its group here, as the
 * configuration would (peers named like server lines, primaries first),
 * and gives it process-local state (dm_upstream_state_local). Two worker
 * slots are simulated by switching dm_shm_row between picks; the clock is
 * fake (dm_current_msec, set by hand). Hash keys are constant complex
 * values, which dm_complex_eval returns without reading the environment.
 *
 * Covered: smooth WRR 5/1/1 (the nginx sequence a a b a c a a, never five
 * in a row, exactly 5000/1000/1000 over 7,000 picks, also with two worker
 * slots taking turns); least_conn over counts written in two slots
 * (count/weight summed over the slots, ties round robin, following the
 * connections it opens); hash and hash consistent against vectors from an
 * independent implementation of nginx's algorithms (chash_vectors.py, and
 * the ring's size and ends), retries, empty keys, the ring built twice,
 * two peers of one name (their points kept once);
 * the consistent ring moving at most about 1/N of 100,000 keys when one of
 * N = 10 servers goes (rebuilt without it, or marked down: the same keys,
 * all from that server) or comes (all to it); random and random two
 * (weights, and two choices favouring the idle peer); backups only when
 * every primary is out (down, failed, max_conns), for every balancer;
 * slow_start ramping the weight and the WRR shares (and a recovery time
 * a little ahead of this worker's clock); max_conns over both slots;
 * passive failures on the fake clock (max_fails within fail_timeout, out
 * for fail_timeout, spread failures, a success resetting the count,
 * max_fails=0, a success during the outage not ending it, recovery
 * setting `recovered`); drain (config and runtime) skipped for new
 * sessions, kept for a bound one; "already tried" for every balancer;
 * each reason dm_upstream_eligible gives.
 */
#include <dm_core.h>
#include <dm_upstream.h>

#include <setjmp.h>
#include <cmocka.h>

#define T0 1000000 /* the fake clock's start (ms): far from 0 */
#define K  DM_UPSTREAM_COUNTERS

static dm_pool_t *pool;
static dm_log_t qlog;         /* the default log, errors only */
static dm_variable_env_t env; /* never read: hash keys are constants */

static int
setup(void **state)
{
    qlog = *dm_log_init();
    qlog.level = DM_LOG_ERR;
    pool = dm_pool_create(16384, &qlog);
    if (pool == NULL) {
        return -1;
    }
    memset(&env, 0, sizeof(env));
    env.pool = pool;
    dm_current_msec = T0;
    dm_shm_row = 0;
    return 0;
}

static int
teardown(void **state)
{
    dm_pool_destroy(pool);
    return 0;
}

/* --- building groups ------------------------------------------------------ */

static void
peer_name(dm_upstream_peer_t *p, const char *name)
{
    size_t len = strlen(name);
    u_char *s = dm_pnalloc(pool, len + 1);

    assert_non_null(s);
    memcpy(s, name, len + 1);
    p->name.len = len;
    p->name.data = s;
    p->id = p->name;
    p->addr_text = p->name;
}

/*
 * n peers "10.0.0.1:80" ... with the configuration's defaults (weight 1,
 * max_fails 1, fail_timeout 10s), the last nbackup of them backups. The
 * test adjusts them, then calls group_ready().
 */
static dm_upstream_group_t *
group_new(dm_uint_t balancer, dm_uint_t n, dm_uint_t nbackup)
{
    dm_upstream_group_t *g = dm_pcalloc(pool, sizeof(*g));
    char name[32];
    dm_uint_t i;

    assert_non_null(g);
    g->name.len = 4;
    g->name.data = (u_char *) "test";
    g->peers = dm_pcalloc(pool, n * sizeof(dm_upstream_peer_t));
    assert_non_null(g->peers);
    for (i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "10.0.0.%lu:80", (unsigned long) i + 1);
        peer_name(&g->peers[i], name);
        g->peers[i].weight = 1;
        g->peers[i].max_fails = 1;
        g->peers[i].fail_timeout = 10000;
        g->peers[i].index = i;
        g->peers[i].backup = i >= n - nbackup;
    }
    g->npeers = n;
    g->nprimary = n - nbackup;
    g->balancer = balancer;
    return g;
}

/* Weights summed, state made, ring built: as at the end of loading. */
static void
group_ready(dm_upstream_group_t *g)
{
    dm_uint_t i;

    g->total_weight = 0;
    for (i = 0; i < g->nprimary; i++) {
        g->total_weight += g->peers[i].weight;
    }
    assert_int_equal(dm_upstream_state_local(pool, g), DM_OK);
    if (g->balancer == DM_UPSTREAM_CHASH) {
        assert_int_equal(dm_upstream_chash_init(pool, g), DM_OK);
    }
}

static void
set_key(dm_upstream_group_t *g, const char *key, size_t len)
{
    memset(&g->hash_key, 0, sizeof(g->hash_key));
    g->hash_key.constant = 1;
    g->hash_key.source.len = len;
    g->hash_key.source.data = (u_char *) key;
}

static void
pick_start(dm_upstream_pick_t *pick, dm_upstream_group_t *g)
{
    dm_upstream_pick_init(pick, g, &env, &qlog);
}

/* One session: a fresh pick, one selection; the peer's index or -1. */
static int
pick_one(dm_upstream_group_t *g)
{
    dm_upstream_pick_t pick;
    dm_upstream_peer_t *p;

    pick_start(&pick, g);
    p = dm_upstream_select(&pick);
    return p ? (int) p->index : -1;
}

/* ACTIVE of peer i in a worker slot. */
static void
active_add(dm_upstream_group_t *g, dm_uint_t row, dm_uint_t i, int64_t d)
{
    dm_shm_counter_add(g->counters, row,
                       (uint32_t) (i * K + DM_UPSTREAM_C_ACTIVE), d);
}

static uint64_t
counter(dm_upstream_group_t *g, dm_uint_t i, dm_uint_t which)
{
    return dm_shm_counter_sum(g->counters, (uint32_t) (i * K + which));
}

static uint64_t
counter_row(dm_upstream_group_t *g, dm_uint_t row, dm_uint_t i, dm_uint_t which)
{
    return g->counters->v[row * g->counters->stride + i * K + which];
}

/* A session bound to peer i selects it (it must be eligible). */
static void
pick_bound(dm_upstream_pick_t *pick, dm_upstream_group_t *g, dm_uint_t i)
{
    pick_start(pick, g);
    pick->bound = &g->peers[i];
    assert_ptr_equal(dm_upstream_select(pick), &g->peers[i]);
}

/* An attempt on peer i fails (passive failure), at the current time. */
static void
peer_fail(dm_upstream_group_t *g, dm_uint_t i)
{
    dm_upstream_pick_t pick;

    pick_bound(&pick, g, i);
    dm_upstream_failed(&pick);
}

/* An attempt on peer i succeeds (it must be eligible). */
static void
peer_succeed(dm_upstream_group_t *g, dm_uint_t i)
{
    dm_upstream_pick_t pick;

    pick_bound(&pick, g, i);
    dm_upstream_succeeded(&pick);
}

static int
eligible(dm_upstream_group_t *g, dm_uint_t i, int bound, const char **why)
{
    dm_upstream_pick_t pick;
    const char *w = NULL;
    int ok;

    pick_start(&pick, g);
    ok = dm_upstream_eligible(&pick, &g->peers[i], bound, &w);
    if (why) {
        *why = ok ? NULL : w;
    }
    return ok;
}

/* --- smooth weighted round robin ----------------------------------------- */

static void
wrr_511(int two_workers)
{
    static const int nginx[7] = {0, 0, 1, 0, 2, 0, 0}; /* a a b a c a a */
    dm_upstream_group_t *g = group_new(DM_UPSTREAM_RR, 3, 0);
    int n[3] = {0, 0, 0}, i, p, prev = -1, run = 0, maxrun = 0;

    g->peers[0].weight = 5;
    group_ready(g);

    for (i = 0; i < 7000; i++) {
        if (two_workers) {
            dm_shm_row = (dm_uint_t) (i & 1);
        }
        p = pick_one(g);
        assert_in_range(p, 0, 2);
        if (i < 14) {
            assert_int_equal(p, nginx[i % 7]);
        }
        n[p]++;
        run = p == prev ? run + 1 : 1;
        prev = p;
        if (p == 0 && run > maxrun) {
            maxrun = run;
        }
    }
    assert_int_equal(n[0], 5000);
    assert_int_equal(n[1], 1000);
    assert_int_equal(n[2], 1000);
    /* a a b a c a a | a a b ...: four in a row at most, never five */
    assert_int_equal(maxrun, 4);

    assert_int_equal(counter(g, 0, DM_UPSTREAM_C_SELECTED), 5000);
    assert_int_equal(counter(g, 1, DM_UPSTREAM_C_SELECTED), 1000);
    assert_int_equal(counter(g, 2, DM_UPSTREAM_C_SELECTED), 1000);
    if (two_workers) {
        /* each slot counted its own half */
        assert_int_equal(counter_row(g, 0, 0, DM_UPSTREAM_C_SELECTED)
                             + counter_row(g, 0, 1, DM_UPSTREAM_C_SELECTED)
                             + counter_row(g, 0, 2, DM_UPSTREAM_C_SELECTED),
                         3500);
        assert_int_equal(counter_row(g, 1, 0, DM_UPSTREAM_C_SELECTED)
                             + counter_row(g, 1, 1, DM_UPSTREAM_C_SELECTED)
                             + counter_row(g, 1, 2, DM_UPSTREAM_C_SELECTED),
                         3500);
    }
}

static void
test_wrr_511(void **state)
{
    wrr_511(0);
}

static void
test_wrr_511_two_workers(void **state)
{
    wrr_511(1);
}

/* Any weights: each window of sum(weights) picks gives each its weight. */
static void
test_wrr_exact_windows(void **state)
{
    static const dm_uint_t w[5] = {3, 7, 1, 4, 2};
    dm_upstream_group_t *g = group_new(DM_UPSTREAM_RR, 5, 0);
    int n[5], i, round;

    for (i = 0; i < 5; i++) {
        g->peers[i].weight = w[i];
    }
    group_ready(g);
    for (round = 0; round < 20; round++) {
        memset(n, 0, sizeof(n));
        for (i = 0; i < 17; i++) {
            dm_shm_row = (dm_uint_t) (i % 3);
            n[pick_one(g)]++;
        }
        for (i = 0; i < 5; i++) {
            assert_int_equal(n[i], (int) w[i]);
        }
    }
}

/* --- least_conn ----------------------------------------------------------- */

static void
test_least_conn_two_slots(void **state)
{
    dm_upstream_group_t *g = group_new(DM_UPSTREAM_LEAST_CONN, 3, 0);
    int i;

    g->peers[2].weight = 2;
    group_ready(g);

    /*
     * slot 0: a 0, b 4, c 4; slot 1: a 6, b 0, c 0. Either slot alone
     * would choose a (slot 0) or b (slot 1); summed a 6/1, b 4/1, c 4/2:
     * c, the lowest count for its weight.
     */
    active_add(g, 0, 1, 4);
    active_add(g, 0, 2, 4);
    active_add(g, 1, 0, 6);
    for (i = 0; i < 20; i++) {
        dm_shm_row = (dm_uint_t) (i & 1);
        assert_int_equal(pick_one(g), 2);
    }

    /* slot 1 opens 6 more to c: 10/2 = 5 > b's 4 < a's 6 */
    active_add(g, 1, 2, 6);
    assert_int_equal(pick_one(g), 1);

    /* slot 0 closes 3 of b's and slot 1 opens 2: b 3, a 6, c 5: b */
    active_add(g, 0, 1, -3);
    active_add(g, 1, 1, 2);
    assert_int_equal(dm_upstream_active(g, &g->peers[1]), 3);
    assert_int_equal(pick_one(g), 1);

    /* a's slot 1 connections go: a 0 */
    active_add(g, 1, 0, -6);
    assert_int_equal(pick_one(g), 0);
}

static void
test_least_conn_ties_round_robin(void **state)
{
    dm_upstream_group_t *g = group_new(DM_UPSTREAM_LEAST_CONN, 4, 0);
    int i;

    group_ready(g);
    /* a, b, c at 2 (one in each slot), d at 3: a, b, c take turns */
    for (i = 0; i < 3; i++) {
        active_add(g, 0, (dm_uint_t) i, 1);
        active_add(g, 1, (dm_uint_t) i, 1);
    }
    active_add(g, 1, 3, 3);
    for (i = 0; i < 30; i++) {
        assert_int_equal(pick_one(g), i % 3);
    }

    /* a tie at 1 connection per unit of weight between a (1 of weight 1)
       and b (2 of weight 2): smooth round robin by weight, b a b */
    g = group_new(DM_UPSTREAM_LEAST_CONN, 3, 0);
    g->peers[1].weight = 2;
    group_ready(g);
    active_add(g, 0, 0, 1);
    active_add(g, 1, 1, 2);
    active_add(g, 0, 2, 2);
    for (i = 0; i < 30; i++) {
        assert_int_equal(pick_one(g), i % 3 == 1 ? 0 : 1);
    }
}

/* Each pick opens a connection (alternately from each slot) and keeps it:
   the counts stay level, by weight. */
static void
test_least_conn_follows_connections(void **state)
{
    dm_upstream_group_t *g = group_new(DM_UPSTREAM_LEAST_CONN, 3, 0);
    dm_upstream_pick_t pick;
    uint64_t a, b, c;
    int i;

    g->peers[2].weight = 2;
    group_ready(g);
    for (i = 0; i < 400; i++) {
        dm_shm_row = (dm_uint_t) (i & 1);
        pick_start(&pick, g);
        assert_non_null(dm_upstream_select(&pick));
        dm_upstream_connected(&pick);
        dm_upstream_connected(&pick); /* counted once */
        a = dm_upstream_active(g, &g->peers[0]);
        b = dm_upstream_active(g, &g->peers[1]);
        c = dm_upstream_active(g, &g->peers[2]);
        assert_true(a + b + c == (uint64_t) i + 1);
        /* never more than one connection above the level */
        assert_true(a <= b + 1 && b <= a + 1);
        assert_true(c <= 2 * dm_min(a, b) + 2);
        assert_true(c + 2 >= 2 * dm_max(a, b));
    }
    assert_int_equal(a, 100);
    assert_int_equal(b, 100);
    assert_int_equal(c, 200);
    assert_int_equal(counter_row(g, 0, 0, DM_UPSTREAM_C_ACTIVE)
                         + counter_row(g, 1, 0, DM_UPSTREAM_C_ACTIVE),
                     100);
    assert_true(counter_row(g, 0, 2, DM_UPSTREAM_C_ACTIVE) > 0);
    assert_true(counter_row(g, 1, 2, DM_UPSTREAM_C_ACTIVE) > 0);

    /* closing: done() takes the connection back, once */
    dm_upstream_done(&pick, 100);
    dm_upstream_done(&pick, 0);
    assert_int_equal(a + b + c - 1, dm_upstream_active(g, &g->peers[0])
                                        + dm_upstream_active(g, &g->peers[1])
                                        + dm_upstream_active(g, &g->peers[2]));
    assert_int_equal(counter(g, pick.peer->index, DM_UPSTREAM_C_BYTES), 100);
}

/* --- hash and hash consistent: nginx's placement ------------------------- */

typedef struct {
    const char *key;
    size_t len;
    int server; /* where nginx puts the key */
    int next;   /* the next attempt, the first one tried (or down) */
} vector_t;

/*
 * Servers, in this order: 10.0.0.1:80 weight=1, [2001:db8::2] weight=1,
 * backend.local weight=2, unix:/run/app.sock weight=1, [::1]:9000
 * weight=3 (one of each form of name nginx splits into HOST and PORT).
 *
 * hash KEY consistent (nginx ngx_http_upstream_init_chash,
 * find_chash_point, get_chash_peer): per server, base = crc32 of HOST
 * "\0" PORT, the name as written split at the last ':' followed by digits
 * only ("unix:" names: HOST is the path, no PORT; no such ':': no PORT);
 * weight * 160 points, each crc32(HOST "\0" PORT PREV) with PREV the
 * server's previous point as 4 bytes little-endian (0 at first); all
 * points sorted, equal hashes kept once; a key goes to the first point >=
 * crc32(KEY), wrapping to the first point; an unusable server: the next
 * point. The last keys are forged (4 bytes appended) so that crc32(KEY)
 * equals a point whose successor is on another server (>= versus >), one
 * more, the last point, one past it (wrapping) and 0.
 *
 * hash KEY (nginx ngx_http_upstream_get_hash_peer): h +=
 * (crc32([REHASH] KEY) >> 16) & 0x7fff, REHASH the decimal attempt number
 * (none at first); h % total weight, walking the servers by weight; a
 * tried or down server: the next attempt, h and REHASH carried on.
 *
 * Computed with t/unit/upstream/chash_vectors.py (Python's zlib.crc32, no
 * doorman code); its output is pasted below.
 */
static const char *vector_servers[5] = {"10.0.0.1:80", "[2001:db8::2]",
                                        "backend.local", "unix:/run/app.sock",
                                        "[::1]:9000"};
static const dm_uint_t vector_weights[5] = {1, 1, 2, 1, 3};

/* generated by t/unit/upstream/chash_vectors.py: 1280 points, first
   0x00393daa, last 0xfff8114a */
static const vector_t chash_vectors[] = {
    {"a", 1, 2, 4},                         /* crc32 0xe8b7be43 */
    {"/", 1, 3, 4},                         /* crc32 0x79d3d2d4 */
    {"/index.html", 11, 0, 4},              /* crc32 0xea224b42 */
    {"/static/app.js", 14, 1, 4},           /* crc32 0xa618fe0d */
    {"user:1", 6, 3, 2},                    /* crc32 0x7ba5c282 */
    {"user:2", 6, 4, 2},                    /* crc32 0xe2ac9338 */
    {"user:42", 7, 0, 3},                   /* crc32 0x646f0d86 */
    {"192.168.1.10", 12, 0, 2},             /* crc32 0x0f87d6b7 */
    {"10.1.2.3", 8, 3, 4},                  /* crc32 0xf6145d61 */
    {"2001:db8::1", 11, 4, 1},              /* crc32 0x00b4af0e */
    {"session=0123456789abcdef", 24, 2, 4}, /* crc32 0xef4d9007 */
    {"GET /api/v1/items?id=7", 22, 2, 4},   /* crc32 0xebc7a725 */
    {"example.com", 11, 2, 4},              /* crc32 0xb6fa4eb9 */
    {"www.example.org", 15, 3, 4},          /* crc32 0x38753edd */
    {"The quick brown fox jumps over the lazy dog", 43, 2,
     4},                            /* crc32 0x414fa339 */
    {"exact-\x11\x8bxS", 10, 4, 3}, /* crc32 0x8083a39b */
    {"after-y\x85\xedO", 10, 3, 2}, /* crc32 0x8083a39c */
    {"last-eQ\x0c"
     "E",
     9, 0, 4},                          /* crc32 0xfff8114a */
    {"wrap-\xdc\xbb/\xb0", 9, 0, 4},    /* crc32 0xfff8114b */
    {"zero-\xfc\x95\xae\xe4", 9, 0, 4}, /* crc32 0x00000000 */
};

static const vector_t hash_vectors[] = {
    {"a", 1, 4, 0},
    {"/", 1, 2, 0},
    {"/index.html", 11, 2, 4},
    {"/static/app.js", 14, 0, 3},
    {"user:1", 6, 4, 3},
    {"user:2", 6, 3, 2},
    {"user:42", 7, 4, 1},
    {"192.168.1.10", 12, 4, 0},
    {"10.1.2.3", 8, 3, 1},
    {"2001:db8::1", 11, 3, 4},
    {"session=0123456789abcdef", 24, 4, 2},
    {"GET /api/v1/items?id=7", 22, 4, 1},
    {"example.com", 11, 2, 4},
    {"www.example.org", 15, 4, 2},
    {"The quick brown fox jumps over the lazy dog", 43, 4, 1},
};

static dm_upstream_group_t *
vector_group(dm_uint_t balancer)
{
    dm_upstream_group_t *g = group_new(balancer, 5, 0);
    dm_uint_t i;

    for (i = 0; i < 5; i++) {
        peer_name(&g->peers[i], vector_servers[i]);
        g->peers[i].weight = vector_weights[i];
    }
    group_ready(g);
    return g;
}

static void
check_vectors(dm_upstream_group_t *g, const vector_t *v, size_t n)
{
    dm_upstream_pick_t pick;
    dm_upstream_peer_t *p;
    size_t i;

    for (i = 0; i < n; i++) {
        set_key(g, v[i].key, v[i].len);

        /* the first attempt, then the next one of the same session */
        pick_start(&pick, g);
        p = dm_upstream_select(&pick);
        assert_non_null(p);
        if ((int) p->index != v[i].server) {
            fail_msg("key %zu \"%s\": server %d, nginx %d", i, v[i].key,
                     (int) p->index, v[i].server);
        }
        p = dm_upstream_select(&pick);
        assert_non_null(p);
        if ((int) p->index != v[i].next) {
            fail_msg("key %zu \"%s\" retried: server %d, nginx %d", i, v[i].key,
                     (int) p->index, v[i].next);
        }

        /* a server marked down: the same next attempt (the ring walks
           on; hash rehashes with the state carried on, as a retry) */
        g->peers[v[i].server].down = 1;
        assert_int_equal(pick_one(g), v[i].next);
        g->peers[v[i].server].down = 0;
    }
}

static void
test_chash_nginx_vectors(void **state)
{
    dm_upstream_group_t *g = vector_group(DM_UPSTREAM_CHASH);

    /* the ring: 160 points per unit of weight, no collision */
    assert_int_equal(g->npoints, 8 * 160);
    assert_int_equal(g->points[0].hash, 0x00393daa);
    assert_int_equal(g->points[g->npoints - 1].hash, 0xfff8114a);
    check_vectors(g, chash_vectors,
                  sizeof(chash_vectors) / sizeof(chash_vectors[0]));
}

static void
test_hash_nginx_vectors(void **state)
{
    dm_upstream_group_t *g = vector_group(DM_UPSTREAM_HASH);

    check_vectors(g, hash_vectors,
                  sizeof(hash_vectors) / sizeof(hash_vectors[0]));
}

/* Building the ring again gives the same ring (not one twice as long). */
static void
test_chash_init_again(void **state)
{
    dm_upstream_group_t *g = vector_group(DM_UPSTREAM_CHASH);
    dm_upstream_point_t *first = g->points;
    dm_uint_t i;

    assert_int_equal(dm_upstream_chash_init(pool, g), DM_OK);
    assert_ptr_not_equal(g->points, first);
    assert_int_equal(g->npoints, 8 * 160);
    for (i = 0; i < 8 * 160; i++) {
        assert_int_equal(g->points[i].hash, first[i].hash);
        assert_int_equal(g->points[i].peer, first[i].peer);
    }
}

/*
 * A server line whose name has two addresses gives two peers with the
 * same name: their points are the same, kept once (as nginx, whose ring
 * has one set of points per name).
 */
static void
test_chash_same_name(void **state)
{
    dm_upstream_group_t *g = group_new(DM_UPSTREAM_CHASH, 3, 0);
    char key[16];
    int i, p, len;

    peer_name(&g->peers[0], "app.example:80");
    peer_name(&g->peers[1], "app.example:80");
    g->peers[1].addr_text.data = (u_char *) "10.0.0.2:80";
    g->peers[1].addr_text.len = 11;
    group_ready(g);
    assert_int_equal(g->npoints, 2 * 160);
    for (i = 0; i < 1000; i++) {
        len = snprintf(key, sizeof(key), "key%d", i);
        set_key(g, key, (size_t) len);
        p = pick_one(g);
        assert_in_range(p, 0, 2);
    }
}

/* An empty key is not hashed: round robin, as nginx (by weight). */
static void
test_hash_empty_key(void **state)
{
    dm_uint_t balancers[2] = {DM_UPSTREAM_HASH, DM_UPSTREAM_CHASH}, b;
    dm_upstream_group_t *g;
    dm_upstream_pick_t pick;
    int n[5], i, k;

    for (b = 0; b < 2; b++) {
        g = vector_group(balancers[b]);
        set_key(g, "", 0);
        for (k = 0; k < 2; k++) {
            memset(n, 0, sizeof(n));
            for (i = 0; i < 80; i++) {
                dm_upstream_pick_init(&pick, g, k ? NULL : &env, &qlog);
                n[dm_upstream_select(&pick)->index]++;
            }
            for (i = 0; i < 5; i++) {
                assert_int_equal(n[i], 10 * (int) vector_weights[i]);
            }
        }
    }
}

/* 10.0.0.1:80 ... 10.0.0.N:80 without server `skip` (0: none). */
static dm_upstream_group_t *
ring_group(dm_uint_t n, dm_uint_t skip)
{
    dm_upstream_group_t *g = group_new(DM_UPSTREAM_CHASH, n, 0);
    dm_uint_t i, k = 0;
    char name[32];

    for (i = 1; i <= n + (skip ? 1 : 0); i++) {
        if (i == skip) {
            continue;
        }
        snprintf(name, sizeof(name), "10.0.0.%lu:80", (unsigned long) i);
        peer_name(&g->peers[k++], name);
    }
    group_ready(g);
    return g;
}

#define NKEYS 100000

/* Each key's server, as the number in its name (10.0.0.X:80 -> X). */
static void
ring_map(dm_upstream_group_t *g, u_char *out)
{
    dm_upstream_peer_t *p;
    dm_upstream_pick_t pick;
    char key[32];
    int i, len;

    for (i = 0; i < NKEYS; i++) {
        len = snprintf(key, sizeof(key), "key-%d", i);
        set_key(g, key, (size_t) len);
        pick_start(&pick, g);
        p = dm_upstream_select(&pick);
        assert_non_null(p);
        out[i] = (u_char) atoi((char *) p->name.data + 7);
    }
}

static void
test_chash_remap(void **state)
{
    static u_char ten[NKEYS], nine[NKEYS], down[NKEYS], eleven[NKEYS];
    dm_upstream_group_t *g;
    int i, moved, share[12];

    g = ring_group(10, 0);
    ring_map(g, ten);
    memset(share, 0, sizeof(share));
    for (i = 0; i < NKEYS; i++) {
        share[ten[i]]++;
    }
    for (i = 1; i <= 10; i++) {
        /* 160 points each: every server near a tenth */
        assert_in_range(share[i], NKEYS / 20, NKEYS / 10 * 3 / 2);
    }

    /* server 4 marked down: only its keys move, spread over the others */
    g->peers[3].down = 1;
    ring_map(g, down);
    g->peers[3].down = 0;

    /* server 4 removed from the configuration: the same */
    ring_map(ring_group(9, 4), nine);
    moved = 0;
    memset(share, 0, sizeof(share));
    for (i = 0; i < NKEYS; i++) {
        assert_int_equal(nine[i], down[i]);
        if (nine[i] != ten[i]) {
            assert_int_equal(ten[i], 4);
            moved++;
            share[nine[i]]++;
        } else {
            assert_int_not_equal(ten[i], 4);
        }
    }
    assert_int_equal(moved, share[1] + share[2] + share[3] + share[5] + share[6]
                                + share[7] + share[8] + share[9] + share[10]);
    assert_true(moved > 0 && moved < NKEYS * 3 / 2 / 10);
    for (i = 1; i <= 10; i++) {
        /* no single server takes them all */
        assert_true(share[i] < moved / 2);
    }

    /* server 11 added: only keys to it move */
    ring_map(ring_group(11, 0), eleven);
    moved = 0;
    for (i = 0; i < NKEYS; i++) {
        if (eleven[i] != ten[i]) {
            assert_int_equal(eleven[i], 11);
            moved++;
        }
    }
    assert_true(moved > 0 && moved < NKEYS * 3 / 2 / 11);
}

/* --- random --------------------------------------------------------------- */

static void
test_random_two_favours_idle(void **state)
{
    dm_upstream_group_t *g;
    int i, n0;

    /* random two least_conn: peer 1 has 50 connections, over two slots */
    g = group_new(DM_UPSTREAM_RANDOM_TWO, 2, 0);
    g->two_least_conn = 1;
    group_ready(g);
    active_add(g, 0, 1, 25);
    active_add(g, 1, 1, 25);
    for (i = 0, n0 = 0; i < 10000; i++) {
        n0 += pick_one(g) == 0;
    }
    assert_true(n0 > 7000);

    /* loaded the other way round: the other way round */
    active_add(g, 0, 0, 100);
    for (i = 0, n0 = 0; i < 10000; i++) {
        n0 += pick_one(g) == 0;
    }
    assert_true(n0 < 3000);

    /* plain random ignores the load: about half */
    g = group_new(DM_UPSTREAM_RANDOM, 2, 0);
    group_ready(g);
    active_add(g, 0, 1, 50);
    for (i = 0, n0 = 0; i < 10000; i++) {
        n0 += pick_one(g) == 0;
    }
    assert_in_range(n0, 4500, 5500);
}

static void
test_random_weights(void **state)
{
    dm_upstream_group_t *g = group_new(DM_UPSTREAM_RANDOM, 3, 0);
    int n[3] = {0, 0, 0}, i;

    g->peers[0].weight = 6;
    g->peers[1].weight = 3;
    g->peers[2].down = 1;
    group_ready(g);
    for (i = 0; i < 9000; i++) {
        n[pick_one(g)]++;
    }
    assert_int_equal(n[2], 0);
    assert_in_range(n[0], 5600, 6400);
}

/* --- backups -------------------------------------------------------------- */

static void
test_backup(void **state)
{
    static const dm_uint_t balancers[] = {
        DM_UPSTREAM_RR,         DM_UPSTREAM_LEAST_CONN, DM_UPSTREAM_RANDOM,
        DM_UPSTREAM_RANDOM_TWO, DM_UPSTREAM_HASH,       DM_UPSTREAM_CHASH};
    dm_upstream_group_t *g;
    char key[16];
    int i, p, len;
    dm_uint_t b;

    for (b = 0; b < sizeof(balancers) / sizeof(balancers[0]); b++) {
        dm_current_msec = T0;
        /* a, b, c primaries; d, e backups */
        g = group_new(balancers[b], 5, 2);
        g->peers[1].max_conns = 1;
        group_ready(g);

        /* every primary up: never a backup */
        for (i = 0; i < 100; i++) {
            len = snprintf(key, sizeof(key), "k%d", i);
            set_key(g, key, (size_t) len);
            assert_in_range(pick_one(g), 0, 2);
        }

        /* a down, b full, c failed: only backups */
        g->peers[0].down = 1;
        active_add(g, 1, 1, 1);
        peer_fail(g, 2);
        for (i = 0; i < 100; i++) {
            len = snprintf(key, sizeof(key), "k%d", i);
            set_key(g, key, (size_t) len);
            assert_in_range(pick_one(g), 3, 4);
        }
        /* ... but a backup that is out is out too */
        g->peers[3].down = 1;
        assert_int_equal(pick_one(g), 4);
        g->peers[4].down = 1;
        assert_int_equal(pick_one(g), -1);
        g->peers[3].down = 0;
        g->peers[4].down = 0;

        /* c's fail_timeout is over: back to c only */
        dm_current_msec = T0 + 10000;
        for (i = 0; i < 20; i++) {
            len = snprintf(key, sizeof(key), "k%d", i);
            set_key(g, key, (size_t) len);
            assert_int_equal(pick_one(g), 2);
        }
        /* b's connection closes: b and c, no backup */
        active_add(g, 1, 1, -1);
        for (i = 0; i < 20; i++) {
            len = snprintf(key, sizeof(key), "k%d", i);
            set_key(g, key, (size_t) len);
            p = pick_one(g);
            assert_in_range(p, 1, 2);
        }
    }
}

/* --- slow_start ----------------------------------------------------------- */

/* n picks in a row: how many went to each of 2 peers. */
static void
shares(dm_upstream_group_t *g, int n, int *out)
{
    int i;

    out[0] = out[1] = 0;
    for (i = 0; i < n; i++) {
        out[pick_one(g)]++;
    }
}

static void
test_slow_start(void **state)
{
    dm_upstream_group_t *g = group_new(DM_UPSTREAM_RR, 2, 0);
    dm_upstream_peer_t *b = &g->peers[1];
    int n[2];

    g->peers[0].weight = 10;
    b->weight = 10;
    b->slow_start = 10000;
    group_ready(g);

    /* never down: the full weight */
    assert_int_equal(dm_upstream_weight(b), 10);

    /* out from T0 - 10s to T0 (max_fails=1) */
    dm_current_msec = T0 - 10000;
    peer_fail(g, 1);
    assert_int_equal(eligible(g, 1, 0, NULL), 0);
    assert_int_equal(b->state->recovered, 0);

    /* back at T0: the first success starts the ramp */
    dm_current_msec = T0;
    peer_succeed(g, 1);
    assert_int_equal(b->state->recovered, T0);
    assert_int_equal(b->state->down_until, 0);
    assert_int_equal(dm_upstream_weight(b), 1);
    shares(g, 1100, n);
    assert_int_equal(n[0], 1000);
    assert_int_equal(n[1], 100);

    dm_current_msec = T0 + 1;
    assert_int_equal(dm_upstream_weight(b), 1);
    dm_current_msec = T0 + 2500;
    assert_int_equal(dm_upstream_weight(b), 2);
    dm_current_msec = T0 + 5000;
    assert_int_equal(dm_upstream_weight(b), 5);
    shares(g, 1500, n);
    assert_int_equal(n[0], 1000);
    assert_int_equal(n[1], 500);

    dm_current_msec = T0 + 9999;
    assert_int_equal(dm_upstream_weight(b), 9);
    dm_current_msec = T0 + 10000;
    assert_int_equal(dm_upstream_weight(b), 10);
    shares(g, 1000, n);
    assert_int_equal(n[0], 500);
    assert_int_equal(n[1], 500);
    dm_current_msec = T0 + 1000000;
    assert_int_equal(dm_upstream_weight(b), 10);

    /* the peer without slow_start never ramps */
    assert_int_equal(dm_upstream_weight(&g->peers[0]), 10);
}

/* Another worker recorded the recovery with a clock 5 ms ahead of this
   one's: the weight is 1, not a wrapped-around huge number. */
static void
test_slow_start_clock_behind(void **state)
{
    dm_upstream_group_t *g = group_new(DM_UPSTREAM_RR, 2, 0);
    dm_upstream_peer_t *b = &g->peers[1];
    int n[2];

    b->weight = 10;
    b->slow_start = 10000;
    group_ready(g);
    b->state->recovered = T0 + 5;
    assert_int_equal(dm_upstream_weight(b), 1);
    shares(g, 200, n);
    assert_int_equal(n[0], 100);
    assert_int_equal(n[1], 100);
}

/* --- max_conns ------------------------------------------------------------ */

static void
test_max_conns(void **state)
{
    dm_upstream_group_t *g = group_new(DM_UPSTREAM_RR, 2, 0);
    dm_upstream_pick_t p1, p2, p3;
    const char *why;
    int i;

    g->peers[0].max_conns = 2;
    group_ready(g);

    /* a connection to a from each slot (b takes its turns between) */
    dm_shm_row = 0;
    pick_start(&p1, g);
    assert_int_equal(dm_upstream_select(&p1)->index, 0);
    dm_upstream_connected(&p1);
    assert_int_equal(pick_one(g), 1);
    dm_shm_row = 1;
    pick_start(&p2, g);
    assert_int_equal(dm_upstream_select(&p2)->index, 0);
    dm_upstream_connected(&p2);
    assert_int_equal(dm_upstream_active(g, &g->peers[0]), 2);

    /* a is full: skipped, even for a session bound to it */
    assert_int_equal(eligible(g, 0, 0, &why), 0);
    assert_string_equal(why, "max_conns reached");
    assert_int_equal(eligible(g, 0, 1, &why), 0);
    for (i = 0; i < 10; i++) {
        dm_shm_row = (dm_uint_t) (i & 1);
        assert_int_equal(pick_one(g), 1);
    }
    pick_start(&p3, g);
    p3.bound = &g->peers[0];
    assert_int_equal(dm_upstream_select(&p3)->index, 1);

    /* slot 0's connection closes: a takes one more */
    dm_shm_row = 0;
    dm_upstream_done(&p1, 0);
    assert_int_equal(dm_upstream_active(g, &g->peers[0]), 1);
    assert_int_equal(eligible(g, 0, 0, NULL), 1);

    /* b has no limit */
    active_add(g, 0, 1, 1000);
    assert_int_equal(eligible(g, 1, 0, NULL), 1);
}

/* --- passive failures ----------------------------------------------------- */

static void
test_passive_failures(void **state)
{
    dm_upstream_group_t *g = group_new(DM_UPSTREAM_RR, 2, 0);
    dm_upstream_peer_t *a = &g->peers[0];
    const char *why;
    int i;

    a->max_fails = 3;
    a->fail_timeout = 10000;
    group_ready(g);

    /* two failures: still in */
    peer_fail(g, 0);
    dm_current_msec = T0 + 1000;
    dm_shm_row = 1;
    peer_fail(g, 0);
    assert_int_equal(eligible(g, 0, 0, NULL), 1);
    assert_int_equal(counter(g, 0, DM_UPSTREAM_C_FAILED), 2);

    /* the third within 10 s of the first (from the other slot): out */
    dm_current_msec = T0 + 10000;
    dm_shm_row = 0;
    peer_fail(g, 0);
    assert_int_equal(eligible(g, 0, 0, &why), 0);
    assert_string_equal(why, "failed recently (max_fails)");
    assert_int_equal(a->state->down_until, T0 + 20000);
    for (i = 0; i < 10; i++) {
        assert_int_equal(pick_one(g), 1);
    }

    /* a success of an attempt started before does not end the outage */
    dm_current_msec = T0 + 15000;
    {
        dm_upstream_pick_t pick;

        pick_start(&pick, g);
        pick.peer = a;
        dm_upstream_succeeded(&pick);
    }
    assert_int_equal(eligible(g, 0, 0, NULL), 0);

    dm_current_msec = T0 + 19999;
    assert_int_equal(eligible(g, 0, 0, NULL), 0);
    /* fail_timeout later: in again; the first success sets `recovered` */
    dm_current_msec = T0 + 20000;
    assert_int_equal(eligible(g, 0, 0, NULL), 1);
    dm_current_msec = T0 + 21000;
    peer_succeed(g, 0);
    assert_int_equal(a->state->recovered, T0 + 21000);
    assert_int_equal(a->state->down_until, 0);

    /* failures more than fail_timeout apart never take it out */
    for (i = 0; i < 10; i++) {
        dm_current_msec = T0 + 100000 + (dm_msec_t) i * 10001;
        peer_fail(g, 0);
        assert_int_equal(eligible(g, 0, 0, NULL), 1);
    }

    /* a success in between starts the count again */
    dm_current_msec = T0 + 300000;
    peer_fail(g, 0);
    peer_fail(g, 0);
    peer_succeed(g, 0);
    peer_fail(g, 0);
    peer_fail(g, 0);
    assert_int_equal(eligible(g, 0, 0, NULL), 1);
    peer_fail(g, 0);
    assert_int_equal(eligible(g, 0, 0, NULL), 0);

    /* max_fails=0: never out */
    dm_current_msec = T0 + 400000;
    g->peers[1].max_fails = 0;
    for (i = 0; i < 20; i++) {
        peer_fail(g, 1);
    }
    assert_int_equal(eligible(g, 1, 0, NULL), 1);
    assert_int_equal(counter(g, 1, DM_UPSTREAM_C_FAILED), 20);
}

/* --- drain ---------------------------------------------------------------- */

static void
test_drain(void **state)
{
    dm_upstream_group_t *g = group_new(DM_UPSTREAM_RR, 3, 0);
    dm_upstream_pick_t pick;
    const char *why;
    int i;

    g->peers[1].drain = 1; /* in the configuration */
    group_ready(g);
    g->peers[2].state->drain = 1; /* at run time */

    for (i = 0; i < 30; i++) {
        assert_int_equal(pick_one(g), 0);
    }
    assert_int_equal(eligible(g, 1, 0, &why), 0);
    assert_string_equal(why, "draining");
    assert_int_equal(eligible(g, 2, 0, &why), 0);
    assert_string_equal(why, "draining");
    assert_int_equal(eligible(g, 1, 1, NULL), 1);
    assert_int_equal(eligible(g, 2, 1, NULL), 1);

    /* a session bound to a draining peer keeps it, retries elsewhere */
    pick_start(&pick, g);
    pick.bound = &g->peers[1];
    assert_ptr_equal(dm_upstream_select(&pick), &g->peers[1]);
    assert_ptr_equal(dm_upstream_select(&pick), &g->peers[0]);
    assert_null(dm_upstream_select(&pick));
    pick_start(&pick, g);
    pick.bound = &g->peers[2];
    assert_ptr_equal(dm_upstream_select(&pick), &g->peers[2]);

    /* ... unless it is out for another reason */
    g->peers[1].down = 1;
    pick_start(&pick, g);
    pick.bound = &g->peers[1];
    assert_ptr_equal(dm_upstream_select(&pick), &g->peers[0]);

    /* the runtime override lifted: new sessions again */
    g->peers[2].state->drain = 0;
    for (i = 0; i < 30; i++) {
        assert_int_equal(pick_one(g), i % 2 ? 2 : 0);
    }
}

/* --- already tried -------------------------------------------------------- */

static void
test_already_tried(void **state)
{
    static const dm_uint_t balancers[] = {
        DM_UPSTREAM_RR,         DM_UPSTREAM_LEAST_CONN, DM_UPSTREAM_RANDOM,
        DM_UPSTREAM_RANDOM_TWO, DM_UPSTREAM_HASH,       DM_UPSTREAM_CHASH};
    dm_upstream_group_t *g;
    dm_upstream_pick_t pick;
    dm_upstream_peer_t *p1, *p2, *p3;
    char key[16];
    dm_uint_t b;
    int i, len;

    for (b = 0; b < sizeof(balancers) / sizeof(balancers[0]); b++) {
        g = group_new(balancers[b], 3, 0);
        g->peers[1].weight = 5;
        group_ready(g);
        for (i = 0; i < 300; i++) {
            len = snprintf(key, sizeof(key), "key%d", i);
            set_key(g, key, (size_t) len);
            pick_start(&pick, g);
            if (i % 3 == 0) {
                pick.bound = &g->peers[i % 9 / 3];
            }
            p1 = dm_upstream_select(&pick);
            p2 = dm_upstream_select(&pick);
            p3 = dm_upstream_select(&pick);
            assert_non_null(p1);
            assert_non_null(p2);
            assert_non_null(p3);
            assert_ptr_not_equal(p1, p2);
            assert_ptr_not_equal(p1, p3);
            assert_ptr_not_equal(p2, p3);
            assert_null(dm_upstream_select(&pick));
            assert_int_equal(pick.tries, 3);
            if (pick.bound) {
                assert_ptr_equal(p1, pick.bound);
            }
        }
    }
}

/* --- each reason ---------------------------------------------------------- */

static void
test_eligible_reasons(void **state)
{
    static const char *want[7] = {"already tried",
                                  "marked down",
                                  "health check failing",
                                  "failed recently (max_fails)",
                                  "draining",
                                  "max_conns reached",
                                  NULL};
    dm_upstream_group_t *g = group_new(DM_UPSTREAM_RR, 7, 0);
    dm_upstream_pick_t pick;
    const char *why;
    dm_uint_t i;

    g->peers[1].down = 1;
    g->peers[5].max_conns = 3;
    group_ready(g);
    g->peers[2].state->health_down = 1;
    peer_fail(g, 3);
    g->peers[4].state->drain = 1;
    active_add(g, 0, 5, 2);
    active_add(g, 1, 5, 1);

    pick_start(&pick, g);
    pick.bound = &g->peers[0];
    assert_ptr_equal(dm_upstream_select(&pick), &g->peers[0]);

    for (i = 0; i < 7; i++) {
        why = NULL;
        if (want[i]) {
            assert_int_equal(dm_upstream_eligible(&pick, &g->peers[i], 0, &why),
                             0);
            assert_string_equal(why, want[i]);
        } else {
            assert_int_equal(dm_upstream_eligible(&pick, &g->peers[i], 0, &why),
                             1);
        }
    }
    /* what is left for this session: peer 6 only, then nothing */
    assert_ptr_equal(dm_upstream_select(&pick), &g->peers[6]);
    assert_null(dm_upstream_select(&pick));
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_wrr_511),
        T(test_wrr_511_two_workers),
        T(test_wrr_exact_windows),
        T(test_least_conn_two_slots),
        T(test_least_conn_ties_round_robin),
        T(test_least_conn_follows_connections),
        T(test_chash_nginx_vectors),
        T(test_hash_nginx_vectors),
        T(test_chash_init_again),
        T(test_chash_same_name),
        T(test_hash_empty_key),
        T(test_chash_remap),
        T(test_random_two_favours_idle),
        T(test_random_weights),
        T(test_backup),
        T(test_slow_start),
        T(test_slow_start_clock_behind),
        T(test_max_conns),
        T(test_passive_failures),
        T(test_drain),
        T(test_already_tried),
        T(test_eligible_reasons),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * doorman: choosing a peer, and the passive health accounting.
 *
 * The per-peer eligibility check is the one place that says whether a
 * peer may take a new connection (DESIGN.md section 5); every balancer
 * works over the peers it admits, so adding a balancer never re-implements
 * health, drain, max_conns or "already tried".
 */
#include <dm_core.h>
#include <dm_upstream.h>
#include <dm_stats.h>

#define dm_upstream_tried(pick, i)                                             \
    ((pick)->tried[(i) >> 6] & ((uint64_t) 1 << ((i) &63)))

void
dm_upstream_pick_init(dm_upstream_pick_t *pick, dm_upstream_group_t *g,
                      dm_variable_env_t *env, dm_log_t *log)
{
    memset(pick, 0, sizeof(*pick));
    pick->group = g;
    pick->env = env;
    pick->log = log;
}

uint64_t
dm_upstream_active(dm_upstream_group_t *g, dm_upstream_peer_t *peer)
{
    return dm_shm_counter_sum(
        g->counters,
        (uint32_t) (peer->index * DM_UPSTREAM_COUNTERS + DM_UPSTREAM_C_ACTIVE));
}

int
dm_upstream_eligible(dm_upstream_pick_t *pick, dm_upstream_peer_t *peer,
                     int bound, const char **why)
{
    dm_upstream_peer_state_t *st = peer->state;

    if (dm_upstream_tried(pick, peer->index)) {
        *why = "already tried";
        return 0;
    }
    if (peer->down) {
        *why = "marked down";
        return 0;
    }
    if (peer->resolve && !dm_upstream_peer_refresh(peer)) {
        *why = "not resolved";
        return 0;
    }
    /* active and passive checks combine: eligible only when neither
       says down; a stale helper's results are ignored */
    if (!pick->ignore_health
        && __atomic_load_n(&st->health_down, __ATOMIC_RELAXED)
        && dm_stats_helper_alive()) {
        *why = "health check failing";
        return 0;
    }
    if (__atomic_load_n(&st->down_until, __ATOMIC_RELAXED) > dm_current_msec) {
        *why = "failed recently (max_fails)";
        return 0;
    }
    if ((peer->drain || __atomic_load_n(&st->drain, __ATOMIC_RELAXED))
        && !bound) {
        *why = "draining";
        return 0;
    }
    if (peer->max_conns
        && dm_upstream_active(pick->group, peer) >= peer->max_conns) {
        *why = "max_conns reached";
        return 0;
    }
    return 1;
}

dm_uint_t
dm_upstream_weight(dm_upstream_peer_t *peer)
{
    uint64_t since, rec;

    if (peer->slow_start == 0) {
        return peer->weight;
    }
    rec = __atomic_load_n(&peer->state->recovered, __ATOMIC_RELAXED);
    if (rec == 0 || dm_current_msec >= rec + peer->slow_start) {
        return peer->weight;
    }
    /* from 1 to the full weight over slow_start, linearly; another
       worker's clock may be a little ahead of this one's (rec > now) */
    since = dm_current_msec > rec ? dm_current_msec - rec : 0;
    return dm_max((dm_uint_t) 1,
                  (dm_uint_t) (peer->weight * since / peer->slow_start));
}

static dm_upstream_peer_t *
dm_upstream_balance(dm_upstream_pick_t *pick, dm_uint_t from, dm_uint_t to)
{
    switch (pick->group->balancer) {
    case DM_UPSTREAM_LEAST_CONN:
        return dm_upstream_least_conn_select(pick, from, to);
    case DM_UPSTREAM_HASH:
        return dm_upstream_hash_select(pick, from, to);
    case DM_UPSTREAM_CHASH:
        return dm_upstream_chash_select(pick, from, to);
    case DM_UPSTREAM_RANDOM:
    case DM_UPSTREAM_RANDOM_TWO:
        return dm_upstream_random_select(pick, from, to);
    default:
        return dm_upstream_rr_select(pick, from, to);
    }
}

#ifdef DM_DEBUG
/* One debug line per peer that was not eligible, with the reason. */
static void
dm_upstream_debug_skipped(dm_upstream_pick_t *pick, dm_upstream_peer_t *chosen)
{
    dm_upstream_group_t *g = pick->group;
    const char *why;
    dm_uint_t i;

    for (i = 0; i < g->npeers; i++) {
        if (&g->peers[i] != chosen
            && !dm_upstream_eligible(pick, &g->peers[i],
                                     &g->peers[i] == pick->bound, &why)) {
            dm_log_debug(pick->log, 0, "upstream \"%.*s\": skipped %.*s: %s",
                         DM_STR_ARG(g->name), DM_STR_ARG(g->peers[i].addr_text),
                         why);
        }
    }
}
#endif

/* Whether every server not marked down fails its active checks now. */
static int
dm_upstream_all_health_down(dm_upstream_group_t *g)
{
    dm_uint_t i;

    if (!dm_stats_helper_alive()) {
        return 0;
    }
    for (i = 0; i < g->npeers; i++) {
        if (!g->peers[i].down
            && !__atomic_load_n(&g->peers[i].state->health_down,
                                __ATOMIC_RELAXED)) {
            return 0;
        }
    }
    return 1;
}

dm_upstream_peer_t *
dm_upstream_select(dm_upstream_pick_t *pick)
{
    dm_upstream_group_t *g = pick->group;
    dm_upstream_peer_t *peer = NULL;
    const char *why = NULL, *how = "balancer";

    if (pick->bound) {
        if (dm_upstream_eligible(pick, pick->bound, 1, &why)) {
            peer = pick->bound;
            how = "bound";
        } else {
            dm_log_debug(pick->log, 0,
                         "upstream \"%.*s\": bound peer %.*s "
                         "skipped: %s",
                         DM_STR_ARG(g->name),
                         DM_STR_ARG(pick->bound->addr_text), why);
        }
    }
    if (peer == NULL) {
        peer = dm_upstream_balance(pick, 0, g->nprimary);
    }
    if (peer == NULL && g->npeers > g->nprimary) {
        peer = dm_upstream_balance(pick, g->nprimary, g->npeers);
        how = "backup";
    }
    if (peer == NULL && g->health_try_all && !pick->ignore_health
        && dm_upstream_all_health_down(g)) {
        /* all_down=try_all: with every server failing its checks, the
           checks are ignored for this selection (passive ones still
           count) */
        pick->ignore_health = 1;
        peer = dm_upstream_balance(pick, 0, g->nprimary);
        if (peer == NULL && g->npeers > g->nprimary) {
            peer = dm_upstream_balance(pick, g->nprimary, g->npeers);
        }
        how = "all_down=try_all";
    }
    if (peer == NULL) {
        dm_log_debug(pick->log, 0,
                     "upstream \"%.*s\": no eligible peer after %lu tries",
                     DM_STR_ARG(g->name), (unsigned long) pick->tries);
        return NULL;
    }

    pick->tried[peer->index >> 6] |= (uint64_t) 1 << (peer->index & 63);
    pick->tries++;
    pick->peer = peer;
    dm_shm_counter_add(g->counters, dm_shm_row,
                       (uint32_t) (peer->index * DM_UPSTREAM_COUNTERS
                                   + DM_UPSTREAM_C_SELECTED),
                       1);
    (void) how;
#ifdef DM_DEBUG
    if (pick->log->level >= DM_LOG_DEBUG) {
        dm_upstream_debug_skipped(pick, peer);
    }
#endif
    dm_log_debug(pick->log, 0, "upstream \"%.*s\": %s chose %.*s (try %lu)",
                 DM_STR_ARG(g->name), how, DM_STR_ARG(peer->addr_text),
                 (unsigned long) pick->tries);
    return peer;
}

static void
dm_upstream_count(dm_upstream_pick_t *pick, dm_uint_t which, int64_t d)
{
    dm_shm_counter_add(
        pick->group->counters, dm_shm_row,
        (uint32_t) (pick->peer->index * DM_UPSTREAM_COUNTERS + which), d);
}

void
dm_upstream_connected(dm_upstream_pick_t *pick)
{
    if (pick->peer && !pick->connected) {
        pick->connected = 1;
        dm_upstream_count(pick, DM_UPSTREAM_C_ACTIVE, 1);
    }
}

void
dm_upstream_done(dm_upstream_pick_t *pick, uint64_t bytes)
{
    if (pick->peer == NULL) {
        return;
    }
    if (pick->connected) {
        pick->connected = 0;
        dm_upstream_count(pick, DM_UPSTREAM_C_ACTIVE, -1);
    }
    if (bytes) {
        dm_upstream_count(pick, DM_UPSTREAM_C_BYTES, (int64_t) bytes);
    }
}

void
dm_upstream_failed(dm_upstream_pick_t *pick)
{
    dm_upstream_peer_t *peer = pick->peer;
    dm_upstream_peer_state_t *st;
    uint64_t start;
    uint32_t fails;

    if (peer == NULL) {
        return;
    }
    dm_upstream_done(pick, 0);
    dm_upstream_count(pick, DM_UPSTREAM_C_FAILED, 1);
    /* a lone server is never taken out (as nginx): with nowhere else to
       go, an outage would only turn its recovery into errors */
    if (peer->max_fails == 0 || pick->group->npeers == 1) {
        return;
    }
    st = peer->state;

    /*
     * The window: failures count while they fall within fail_timeout of
     * the first one. Races between workers lose at most a count, never
     * take a healthy peer out: the worst case is one failure too few.
     */
    start = __atomic_load_n(&st->fail_start, __ATOMIC_RELAXED);
    if (start == 0 || dm_current_msec - start > peer->fail_timeout) {
        __atomic_store_n(&st->fail_start, dm_current_msec, __ATOMIC_RELAXED);
        __atomic_store_n(&st->fails, 0, __ATOMIC_RELAXED);
    }
    fails = __atomic_add_fetch(&st->fails, 1, __ATOMIC_RELAXED);
    if (fails >= peer->max_fails) {
        __atomic_store_n(&st->down_until, dm_current_msec + peer->fail_timeout,
                         __ATOMIC_RELAXED);
        __atomic_store_n(&st->fails, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&st->fail_start, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&st->recovered, 0, __ATOMIC_RELAXED);
        dm_log_error(DM_LOG_WARN, pick->log, 0,
                     "upstream \"%.*s\": server %.*s is out for %llums "
                     "(%u failures)",
                     DM_STR_ARG(pick->group->name), DM_STR_ARG(peer->addr_text),
                     (unsigned long long) peer->fail_timeout, fails);
    }
}

void
dm_upstream_succeeded(dm_upstream_pick_t *pick)
{
    dm_upstream_peer_t *peer = pick->peer;
    dm_upstream_peer_state_t *st;
    uint64_t until;

    if (peer == NULL) {
        return;
    }
    st = peer->state;
    until = __atomic_load_n(&st->down_until, __ATOMIC_RELAXED);
    if (until && until <= dm_current_msec) {
        /* back after an outage: ramp up from now (slow_start) */
        __atomic_store_n(&st->down_until, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&st->recovered, dm_current_msec, __ATOMIC_RELAXED);
    }
    if (__atomic_load_n(&st->fails, __ATOMIC_RELAXED)) {
        __atomic_store_n(&st->fails, 0, __ATOMIC_RELAXED);
    }
}

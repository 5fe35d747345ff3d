/*
 * doorman: least_conn: the peer with the fewest active connections for
 * its weight, counted over every worker (each process's row of the
 * shared counters, summed); ties go round robin.
 */
#include <dm_core.h>
#include <dm_upstream.h>

dm_upstream_peer_t *
dm_upstream_least_conn_select(dm_upstream_pick_t *pick, dm_uint_t from,
                              dm_uint_t to)
{
    dm_upstream_group_t *g = pick->group;
    dm_upstream_peer_t *best = NULL, *p;
    uint64_t active[DM_UPSTREAM_MAX_PEERS];
    uint64_t ba = 0, bw = 1;
    int64_t total = 0, w;
    dm_uint_t i, bi;
    const char *why;
    int eligible[DM_UPSTREAM_MAX_PEERS];

    /* the lowest active/weight ratio, compared by cross-multiplying */
    for (i = from; i < to; i++) {
        p = &g->peers[i];
        eligible[i] = dm_upstream_eligible(pick, p, 0, &why);
        if (!eligible[i]) {
            continue;
        }
        active[i] = dm_upstream_active(g, p);
        w = (int64_t) dm_upstream_weight(p);
        if (best == NULL || active[i] * bw < ba * (uint64_t) w) {
            best = p;
            ba = active[i];
            bw = (uint64_t) w;
        }
    }
    if (best == NULL) {
        return NULL;
    }

    /* among the peers at that ratio, smooth round robin */
    bi = best->index;
    best = NULL;
    dm_shm_lock(&g->state->lock);
    for (i = from; i < to; i++) {
        p = &g->peers[i];
        if (!eligible[i]) {
            continue;
        }
        w = (int64_t) dm_upstream_weight(p);
        if (active[i] * bw != ba * (uint64_t) w) {
            continue;
        }
        g->weights[i] += w;
        total += w;
        if (best == NULL || g->weights[i] > g->weights[best->index]) {
            best = p;
        }
    }
    if (best == NULL) {
        best = &g->peers[bi];
    } else {
        g->weights[best->index] -= total;
    }
    dm_shm_unlock(&g->state->lock);
    return best;
}

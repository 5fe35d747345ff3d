/*
 * doorman: smooth weighted round robin (the default balancer).
 *
 * Each pick adds every eligible peer's weight to its current weight and
 * takes the peer with the largest, which then loses the total: weights
 * 5/1/1 give a a b a c a a, never five in a row. The current weights are
 * in the shared zone under the group's lock, so the split is exact over
 * any number of workers.
 */
#include <dm_core.h>
#include <dm_upstream.h>

dm_upstream_peer_t *
dm_upstream_rr_select(dm_upstream_pick_t *pick, dm_uint_t from, dm_uint_t to)
{
    dm_upstream_group_t *g = pick->group;
    dm_upstream_peer_t *best = NULL;
    int64_t total = 0, w;
    dm_uint_t i;
    const char *why;

    dm_shm_lock(&g->state->lock);
    for (i = from; i < to; i++) {
        if (!dm_upstream_eligible(pick, &g->peers[i], 0, &why)) {
            continue;
        }
        w = (int64_t) dm_upstream_weight(&g->peers[i]);
        g->weights[i] += w;
        total += w;
        if (best == NULL || g->weights[i] > g->weights[best->index]) {
            best = &g->peers[i];
        }
    }
    if (best) {
        g->weights[best->index] -= total;
    }
    dm_shm_unlock(&g->state->lock);
    return best;
}

/*
 * doorman: random [two [least_conn]]: a weighted random peer, or the less
 * loaded of two weighted random peers (the power of two choices).
 */
#include <dm_core.h>
#include <dm_upstream.h>
#include <sys/random.h>

static uint64_t dm_upstream_random_state;

/* xorshift64*, seeded once per process from the kernel */
static uint64_t
dm_upstream_random_next(void)
{
    uint64_t x = dm_upstream_random_state;

    if (x == 0) {
        if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != sizeof(x) || x == 0) {
            x = (uint64_t) getpid() * 0x9e3779b97f4a7c15ULL
                ^ (uint64_t) dm_current_msec;
        }
        x |= 1;
    }
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    dm_upstream_random_state = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* One weighted random eligible peer other than `skip`, or NULL. */
static dm_upstream_peer_t *
dm_upstream_random_one(dm_upstream_pick_t *pick, dm_uint_t from, dm_uint_t to,
                       dm_upstream_peer_t *skip)
{
    dm_upstream_group_t *g = pick->group;
    uint64_t total = 0, r;
    dm_uint_t i;
    const char *why;

    for (i = from; i < to; i++) {
        if (&g->peers[i] != skip
            && dm_upstream_eligible(pick, &g->peers[i], 0, &why)) {
            total += dm_upstream_weight(&g->peers[i]);
        }
    }
    if (total == 0) {
        return NULL;
    }
    r = dm_upstream_random_next() % total;
    for (i = from; i < to; i++) {
        if (&g->peers[i] == skip
            || !dm_upstream_eligible(pick, &g->peers[i], 0, &why)) {
            continue;
        }
        if (r < dm_upstream_weight(&g->peers[i])) {
            return &g->peers[i];
        }
        r -= dm_upstream_weight(&g->peers[i]);
    }
    return NULL;
}

dm_upstream_peer_t *
dm_upstream_random_select(dm_upstream_pick_t *pick, dm_uint_t from,
                          dm_uint_t to)
{
    dm_upstream_group_t *g = pick->group;
    dm_upstream_peer_t *a, *b;
    uint64_t la, lb;

    a = dm_upstream_random_one(pick, from, to, NULL);
    if (a == NULL || g->balancer != DM_UPSTREAM_RANDOM_TWO) {
        return a;
    }
    b = dm_upstream_random_one(pick, from, to, a);
    if (b == NULL) {
        return a;
    }
    /* fewer connections for the weight wins */
    la = dm_upstream_active(g, a) * dm_upstream_weight(b);
    lb = dm_upstream_active(g, b) * dm_upstream_weight(a);
    return lb < la ? b : a;
}

/*
 * doorman: hash KEY and hash KEY consistent, placing keys exactly where
 * nginx places them, so a migration from nginx moves no user.
 *
 * hash: ((crc32([REHASH] KEY) >> 16) & 0x7fff) + PREV_HASH modulo the
 * total weight, walking the peers by weight; an ineligible peer rehashes,
 * twenty times at most, then round robin takes over (as nginx). An empty
 * key goes round robin in both (as nginx since 1.21).
 * consistent: a ketama ring of 160 points per unit of weight per server,
 * each point crc32(HOST \0 PORT PREV_HASH); a key goes to the first point
 * at or after crc32(KEY), walking on past ineligible peers.
 */
#include <dm_core.h>
#include <dm_crc32.h>
#include <dm_upstream.h>

#define DM_UPSTREAM_HASH_TRIES 20

static dm_int_t
dm_upstream_hash_key(dm_upstream_pick_t *pick, dm_str_t *key)
{
    if (pick->env == NULL) {
        key->len = 0;
        key->data = (u_char *) "";
        return DM_OK;
    }
    return dm_complex_eval(pick->env, &pick->group->hash_key, key);
}

dm_upstream_peer_t *
dm_upstream_hash_select(dm_upstream_pick_t *pick, dm_uint_t from, dm_uint_t to)
{
    dm_upstream_group_t *g = pick->group;
    dm_upstream_peer_t *peer;
    dm_uint_t tries, i;
    uint32_t hash, w;
    u_char buf[24];
    dm_str_t key;
    const char *why;
    int n;

    /* an empty key: round robin (as nginx) */
    if (g->total_weight == 0 || dm_upstream_hash_key(pick, &key) != DM_OK
        || key.len == 0) {
        return dm_upstream_rr_select(pick, from, to);
    }
    for (tries = 0; tries < DM_UPSTREAM_HASH_TRIES; tries++) {
        dm_crc32_init(hash);
        if (pick->rehash > 0) {
            n = snprintf((char *) buf, sizeof(buf), "%lu",
                         (unsigned long) pick->rehash);
            dm_crc32_update(&hash, buf, (size_t) n);
        }
        dm_crc32_update(&hash, key.data, key.len);
        dm_crc32_final(hash);
        hash = (hash >> 16) & 0x7fff;
        pick->hash += hash;
        pick->rehash++;

        w = pick->hash % (uint32_t) g->total_weight;
        for (i = 0; i < g->nprimary && w >= g->peers[i].weight; i++) {
            w -= (uint32_t) g->peers[i].weight;
        }
        peer = &g->peers[i];
        if (i >= from && i < to && dm_upstream_eligible(pick, peer, 0, &why)) {
            return peer;
        }
    }
    return dm_upstream_rr_select(pick, from, to);
}

static int
dm_upstream_point_cmp(const void *a, const void *b)
{
    const dm_upstream_point_t *x = a, *y = b;

    return x->hash < y->hash ? -1 : x->hash > y->hash ? 1 : 0;
}

dm_int_t
dm_upstream_chash_init(dm_pool_t *pool, dm_upstream_group_t *g)
{
    dm_uint_t i, j, n = 0, npoints;
    const u_char *host, *port;
    size_t host_len, port_len;
    uint32_t base, hash;
    union {
        uint32_t value;
        u_char byte[4];
    } prev;
    dm_str_t *server;

    for (i = 0; i < g->nprimary; i++) {
        n += g->peers[i].weight * 160;
    }
    g->points = dm_palloc(pool, (n ? n : 1) * sizeof(dm_upstream_point_t));
    if (g->points == NULL) {
        return DM_ERROR;
    }
    g->npoints = 0;

    for (i = 0; i < g->nprimary; i++) {
        server = &g->peers[i].name;
        /* HOST and PORT as written on the server line */
        if (server->len >= 5
            && strncasecmp((const char *) server->data, "unix:", 5) == 0) {
            host = server->data + 5;
            host_len = server->len - 5;
            port = NULL;
            port_len = 0;
        } else {
            host = server->data;
            host_len = server->len;
            port = NULL;
            port_len = 0;
            for (j = 0; j < server->len; j++) {
                u_char c = server->data[server->len - j - 1];

                if (c == ':') {
                    host_len = server->len - j - 1;
                    port = server->data + server->len - j;
                    port_len = j;
                    break;
                }
                if (c < '0' || c > '9') {
                    break;
                }
            }
        }

        dm_crc32_init(base);
        dm_crc32_update(&base, host, host_len);
        dm_crc32_update(&base, (const u_char *) "", 1);
        dm_crc32_update(&base, port ? port : (const u_char *) "", port_len);

        prev.value = 0;
        npoints = g->peers[i].weight * 160;
        for (j = 0; j < npoints; j++) {
            hash = base;
            dm_crc32_update(&hash, prev.byte, 4);
            dm_crc32_final(hash);
            g->points[g->npoints].hash = hash;
            g->points[g->npoints].peer = i;
            g->npoints++;
            prev.value = hash;
        }
    }

    qsort(g->points, g->npoints, sizeof(dm_upstream_point_t),
          dm_upstream_point_cmp);
    /* equal hashes: the first one stays (as nginx) */
    for (i = 0, j = 1; j < g->npoints; j++) {
        if (g->points[i].hash != g->points[j].hash) {
            g->points[++i] = g->points[j];
        }
    }
    if (g->npoints) {
        g->npoints = i + 1;
    }
    return DM_OK;
}

dm_upstream_peer_t *
dm_upstream_chash_select(dm_upstream_pick_t *pick, dm_uint_t from, dm_uint_t to)
{
    dm_upstream_group_t *g = pick->group;
    dm_uint_t lo, hi, mid, k, tries;
    dm_upstream_peer_t *peer;
    dm_str_t key;
    const char *why;
    uint32_t hash;

    if (g->npoints == 0 || dm_upstream_hash_key(pick, &key) != DM_OK
        || key.len == 0) {
        return dm_upstream_rr_select(pick, from, to);
    }
    if (!pick->hashed) {
        pick->hash = dm_crc32(key.data, key.len);
        pick->hashed = 1;
    }
    hash = pick->hash;

    /* the first point with a hash >= the key's */
    lo = 0;
    hi = g->npoints;
    while (lo < hi) {
        mid = (lo + hi) / 2;
        if (g->points[mid].hash < hash) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    for (tries = 0; tries < DM_UPSTREAM_HASH_TRIES * 8; tries++) {
        k = (lo + tries) % g->npoints;
        peer = &g->peers[g->points[k].peer];
        if (peer->index >= from && peer->index < to
            && dm_upstream_eligible(pick, peer, 0, &why)) {
            return peer;
        }
    }
    return dm_upstream_rr_select(pick, from, to);
}

/*
 * doorman: connection counting per key in a shared zone.
 *
 * An open-addressing table of (key hash, count) in the zone, linear
 * probing, entries removed (backward shift) when their count falls to
 * zero, all under the zone lock: a few instructions per connection.
 * Keys are kept as 64-bit hashes, never as text: collisions are
 * negligible, the memory per key is 16 bytes.
 */
#include <dm_core.h>
#include <dm_limit_conn.h>

#define DM_LIMIT_CONN_VERSION 1

typedef struct {
    uint64_t hash; /* 0: free */
    uint64_t count;
} dm_limit_conn_entry_t;

typedef struct {
    uint64_t capacity; /* entries, a power of two */
    uint64_t used;
    uint64_t entries; /* offset of the table */
} dm_limit_conn_root_t;

static dm_int_t
dm_limit_conn_init_zone(dm_shm_zone_t *zone, int fresh)
{
    dm_limit_conn_root_t *root = fresh ? NULL : dm_shm_root(zone);
    dm_limit_conn_entry_t *t;
    uint64_t cap = 1;

    if (root == NULL) {
        root = dm_shm_calloc(zone, sizeof(*root));
        if (root == NULL) {
            return DM_ERROR;
        }
        /* the largest power of two that fits in half the zone */
        while (cap * 2 * sizeof(dm_limit_conn_entry_t) <= zone->size / 2) {
            cap *= 2;
        }
        t = dm_shm_calloc(zone, cap * sizeof(dm_limit_conn_entry_t));
        if (t == NULL) {
            return DM_ERROR;
        }
        root->capacity = cap;
        root->entries = dm_shm_offset(zone, t);
        dm_shm_root_set(zone, root);
    }
    zone->data = root;
    return DM_OK;
}

dm_limit_conn_zone_t *
dm_limit_conn_zone_add(dm_conf_t *cf, dm_variable_registry_t *reg,
                       const dm_str_t *key, const dm_str_t *spec, void *tag)
{
    dm_limit_conn_zone_t *lz;
    dm_str_t name;
    u_char *colon;
    int64_t size;

    if (spec->len <= 5 || memcmp(spec->data, "zone=", 5) != 0
        || (colon = memchr(spec->data, ':', spec->len)) == NULL) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "invalid zone \"%.*s\", it must be zone=NAME:SIZE",
                          DM_STR_ARG(*spec));
        return NULL;
    }
    name.data = spec->data + 5;
    name.len = (size_t) (colon - name.data);
    size =
        dm_parse_size(colon + 1, (size_t) (spec->data + spec->len - colon - 1));
    if (name.len == 0 || size < 32768) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "invalid zone \"%.*s\", the size must be at least "
                          "32k",
                          DM_STR_ARG(*spec));
        return NULL;
    }
    lz = dm_pcalloc(cf->pool, sizeof(*lz));
    if (lz == NULL || dm_complex_compile(cf, reg, key, &lz->key) != DM_OK) {
        return NULL;
    }
    lz->name = name;
    lz->zone =
        dm_shm_zone_add(cf, &name, (size_t) size, DM_LIMIT_CONN_VERSION, tag);
    if (lz->zone == NULL) {
        return NULL;
    }
    lz->zone->init = dm_limit_conn_init_zone;
    return lz;
}

uint64_t
dm_limit_conn_hash(const dm_str_t *key)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t i;

    for (i = 0; i < key->len; i++) {
        h ^= key->data[i];
        h *= 0x100000001b3ULL;
    }
    return h ? h : 1;
}

dm_int_t
dm_limit_conn_acquire(dm_limit_conn_zone_t *lz, uint64_t hash, dm_uint_t limit)
{
    dm_shm_zone_t *zone = lz->zone;
    dm_limit_conn_root_t *root = zone->data;
    dm_limit_conn_entry_t *t = dm_shm_ptr(zone, root->entries);
    uint64_t mask = root->capacity - 1, i = hash & mask;
    dm_int_t rc = DM_OK;

    dm_shm_zone_lock(zone);
    while (t[i].hash && t[i].hash != hash) {
        i = (i + 1) & mask;
    }
    if (t[i].hash == 0) {
        /* keep probe chains short: never more than 3/4 full */
        if ((root->used + 1) * 4 > root->capacity * 3) {
            rc = DM_ERROR;
            goto done;
        }
        t[i].hash = hash;
        t[i].count = 0;
        root->used++;
    }
    if (t[i].count >= limit) {
        rc = DM_BUSY;
        goto done;
    }
    t[i].count++;
done:
    dm_shm_zone_unlock(zone);
    return rc;
}

void
dm_limit_conn_release(dm_limit_conn_zone_t *lz, uint64_t hash)
{
    dm_shm_zone_t *zone = lz->zone;
    dm_limit_conn_root_t *root = zone->data;
    dm_limit_conn_entry_t *t = dm_shm_ptr(zone, root->entries);
    uint64_t mask = root->capacity - 1, i = hash & mask, j, k;

    dm_shm_zone_lock(zone);
    while (t[i].hash && t[i].hash != hash) {
        i = (i + 1) & mask;
    }
    if (t[i].hash == 0 || t[i].count == 0) {
        goto done;
    }
    if (--t[i].count) {
        goto done;
    }
    /* remove, shifting back the entries of the chain that follows */
    t[i].hash = 0;
    root->used--;
    for (j = (i + 1) & mask; t[j].hash; j = (j + 1) & mask) {
        k = t[j].hash & mask;
        /* can t[j] move into the hole at i? only if its home is not in
           (i, j] (cyclically) */
        if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
            t[i] = t[j];
            t[j].hash = 0;
            i = j;
        }
    }
done:
    dm_shm_zone_unlock(zone);
}

char *
dm_limit_conn_zone_directive(dm_conf_t *cf, dm_variable_registry_t *reg,
                             dm_array_t *zones, void *tag)
{
    dm_str_t *value = cf->args->elts;
    dm_limit_conn_zone_t **slot, *lz, **z = zones->elts;
    dm_uint_t i;

    lz = dm_limit_conn_zone_add(cf, reg, &value[1], &value[2], tag);
    if (lz == NULL) {
        return DM_CONF_ERROR;
    }
    for (i = 0; i < zones->nelts; i++) {
        if (z[i]->name.len == lz->name.len
            && memcmp(z[i]->name.data, lz->name.data, lz->name.len) == 0) {
            return "is duplicate: the zone is defined already";
        }
    }
    slot = dm_array_push(zones);
    if (slot == NULL) {
        return DM_CONF_ERROR;
    }
    *slot = lz;
    return DM_CONF_OK;
}

char *
dm_limit_conn_directive(dm_conf_t *cf, dm_array_t *zones, dm_array_t **limits)
{
    dm_limit_conn_zone_t **z = zones->elts;
    dm_str_t *value = cf->args->elts;
    dm_limit_conn_t *l;
    dm_uint_t i, k;
    int64_t n;

    for (i = 0; i < zones->nelts; i++) {
        if (z[i]->name.len == value[1].len
            && memcmp(z[i]->name.data, value[1].data, value[1].len) == 0) {
            break;
        }
    }
    if (i == zones->nelts) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "unknown limit_conn_zone \"%s\" (define it before "
                          "its use)",
                          value[1].data);
        return DM_CONF_ERROR;
    }
    n = dm_parse_int(value[2].data, value[2].len);
    if (n < 1 || n > 65535) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "invalid number of connections \"%s\"",
                          value[2].data);
        return DM_CONF_ERROR;
    }
    if (*limits == DM_CONF_UNSET_PTR || *limits == NULL) {
        *limits = dm_array_create(cf->pool, 2, sizeof(dm_limit_conn_t));
        if (*limits == NULL) {
            return DM_CONF_ERROR;
        }
    }
    l = (*limits)->elts;
    for (k = 0; k < (*limits)->nelts; k++) {
        if (l[k].zone == z[i]) {
            return "is duplicate";
        }
    }
    l = dm_array_push(*limits);
    if (l == NULL) {
        return DM_CONF_ERROR;
    }
    l->zone = z[i];
    l->limit = (dm_uint_t) n;
    return DM_CONF_OK;
}

/*
 * doorman: request rate limiting per key in a shared zone.
 *
 * The state of a key is nginx's: the excess over the rate in
 * milli-requests and when it was last counted. A request brings
 * excess = max(prev - rate * elapsed_ms / 1000 + 1000, 0); over the burst
 * it is refused (and not counted), otherwise the new excess is stored and
 * a caller may delay the request by (excess - delay) * 1000 / rate ms.
 * A new key starts with excess 0.
 *
 * The table is one allocation made when the zone is created, sized from
 * the zone: entries of 40 bytes and one bucket head (4 bytes) per entry,
 * chains of entry indexes, and a doubly linked LRU list through the
 * entries. A key is kept as a 64-bit hash (FNV-1a), never as text: the
 * memory per key is fixed and small (1m holds 23,457 keys where nginx
 * holds about 16,000 short ones), at the price of two keys sharing
 * a state when their hashes collide, which is negligible. The bucket of a
 * hash is picked with a random multiplier drawn when the zone is made, so
 * that clients choosing keys cannot pile them into one chain. When every
 * entry is in use, a new key takes the entry of the least recently used
 * one (nginx frees its oldest nodes too); a lookup, even a refused one,
 * makes a key the most recently used. Everything happens under the zone
 * lock, a few dozen instructions per request. Links are entry indexes,
 * never pointers, so the zone survives a reload or a binary upgrade.
 */
#include <dm_core.h>
#include <dm_shm.h>
#include <dm_limit_req.h>

#include <sys/random.h>

/* Bump it whenever the entry or the root below change. */
#define DM_LIMIT_REQ_VERSION 1

/* "LIMITREQ": the root of a sound table. */
#define DM_LIMIT_REQ_MAGIC 0x51455254494d494cULL

/* The entry's excess is not counted yet (lookup without account). */
#define DM_LIMIT_REQ_PENDING 0x1

/* No entry: links are entry index + 1. */
#define DM_LIMIT_REQ_NONE 0

typedef struct {
    uint64_t hash;   /* the key's hash */
    uint64_t excess; /* milli-requests over the rate, when last counted */
    uint64_t last;   /* dm_current_msec of that */
    uint32_t prev;   /* LRU: the next more recently used entry, + 1 */
    uint32_t next;   /* LRU: the next less recently used entry, + 1 */
    uint32_t chain;  /* the next entry of the same bucket, + 1 */
    uint32_t flags;  /* DM_LIMIT_REQ_PENDING */
} dm_limit_req_entry_t;

typedef struct {
    uint64_t magic;    /* DM_LIMIT_REQ_MAGIC */
    uint64_t seed;     /* odd multiplier choosing buckets */
    uint64_t capacity; /* entries (and buckets) */
    uint64_t top;      /* entries ever used: [0, top) are in the table */
    uint64_t evicted;  /* keys dropped to make room */
    uint32_t head;     /* most recently used entry, + 1 */
    uint32_t tail;     /* least recently used entry, + 1 */
    uint64_t buckets;  /* offset of uint32_t[capacity] */
    uint64_t entries;  /* offset of dm_limit_req_entry_t[capacity] */
} dm_limit_req_root_t;

/* The root and the alignment pad of the buckets: DM_LIMIT_REQ_KEY_COST
   bytes per key come on top. */
#define DM_LIMIT_REQ_OVERHEAD (sizeof(dm_limit_req_root_t) + 8)

/* The zone's table as this process sees it. */
typedef struct {
    dm_limit_req_root_t *root;
    uint32_t *buckets;
    dm_limit_req_entry_t *e;
} dm_limit_req_table_t;

static dm_int_t dm_limit_req_init_zone(dm_shm_zone_t *zone, int fresh);

/* --- configuration ------------------------------------------------------ */

static dm_int_t
dm_limit_req_parse_rate(dm_conf_t *cf, const dm_str_t *v, uint64_t *rate)
{
    size_t len = v->len - 5;
    const u_char *p = v->data + 5;
    uint64_t scale = 0;
    int64_t n = -1;

    if (len > 3 && memcmp(p + len - 3, "r/s", 3) == 0) {
        scale = 1;
    } else if (len > 3 && memcmp(p + len - 3, "r/m", 3) == 0) {
        scale = 60;
    }
    if (scale) {
        n = dm_parse_int(p, len - 3);
    }
    /* bounded so that rate * elapsed never overflows in practice and a
       rate below 1r/m (16 milli-requests/s) cannot round to 0 */
    if (n < 1 || n > 1000000000) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "invalid rate \"%.*s\", it must be Nr/s or Nr/m",
                          DM_STR_ARG(*v));
        return DM_ERROR;
    }
    *rate = (uint64_t) n * 1000 / scale;
    return DM_OK;
}

dm_limit_req_zone_t *
dm_limit_req_zone_add(dm_conf_t *cf, dm_variable_registry_t *reg)
{
    dm_str_t *value = cf->args->elts, name = dm_null_string;
    dm_limit_req_zone_t *lz;
    u_char *colon;
    int64_t size = -1;
    dm_uint_t i;

    lz = dm_pcalloc(cf->pool, sizeof(*lz));
    if (lz == NULL) {
        return NULL;
    }
    for (i = 2; i < cf->args->nelts; i++) {
        if (value[i].len > 5 && memcmp(value[i].data, "zone=", 5) == 0) {
            colon = memchr(value[i].data, ':', value[i].len);
            if (colon) {
                name.data = value[i].data + 5;
                name.len = (size_t) (colon - name.data);
                size = dm_parse_size(
                    colon + 1,
                    (size_t) (value[i].data + value[i].len - colon - 1));
            }
            if (colon == NULL || name.len == 0 || size < 32768) {
                dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                                  "invalid zone \"%.*s\", it must be "
                                  "zone=NAME:SIZE with a size of 32k or more",
                                  DM_STR_ARG(value[i]));
                return NULL;
            }
            continue;
        }
        if (value[i].len > 5 && memcmp(value[i].data, "rate=", 5) == 0) {
            if (dm_limit_req_parse_rate(cf, &value[i], &lz->rate) != DM_OK) {
                return NULL;
            }
            continue;
        }
        dm_conf_log_error(DM_LOG_EMERG, cf, 0, "invalid parameter \"%.*s\"",
                          DM_STR_ARG(value[i]));
        return NULL;
    }
    if (name.len == 0) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "\"limit_req_zone\" must have the \"zone\" "
                          "parameter");
        return NULL;
    }
    if (lz->rate == 0) {
        lz->rate = 1000; /* nginx's default: 1r/s */
    }
    if (dm_complex_compile(cf, reg, &value[1], &lz->key) != DM_OK) {
        return NULL;
    }
    lz->name = name;
    /* the tag is this file's: a reload finds the same zone again */
    lz->zone = dm_shm_zone_add(cf, &name, (size_t) size, DM_LIMIT_REQ_VERSION,
                               (void *) &dm_limit_req_init_zone);
    if (lz->zone == NULL) {
        return NULL;
    }
    lz->zone->init = dm_limit_req_init_zone;
    return lz;
}

/* N of "prefix=N" (1 to 1,000,000), or -1 (logged). */
static int64_t
dm_limit_req_parse_count(dm_conf_t *cf, const dm_str_t *v, size_t skip)
{
    int64_t n = dm_parse_int(v->data + skip, v->len - skip);

    if (n < 1 || n > 1000000) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0, "invalid %.*s value \"%.*s\"",
                          (int) skip - 1, v->data, DM_STR_ARG(*v));
        return -1;
    }
    return n;
}

dm_int_t
dm_limit_req_parse(dm_conf_t *cf, dm_limit_req_t *l)
{
    dm_str_t *value = cf->args->elts;
    u_char *colon;
    int64_t n;
    dm_uint_t i;

    memset(l, 0, sizeof(*l));
    for (i = 1; i < cf->args->nelts; i++) {
        if (value[i].len > 5 && memcmp(value[i].data, "zone=", 5) == 0) {
            l->zone_name.data = value[i].data + 5;
            l->zone_name.len = value[i].len - 5;
            /* nginx accepts zone=NAME:SIZE here too; the size is the
               limit_req_zone's business */
            colon = memchr(l->zone_name.data, ':', l->zone_name.len);
            if (colon) {
                l->zone_name.len = (size_t) (colon - l->zone_name.data);
            }
            continue;
        }
        if (value[i].len > 6 && memcmp(value[i].data, "burst=", 6) == 0) {
            if ((n = dm_limit_req_parse_count(cf, &value[i], 6)) < 0) {
                return DM_ERROR;
            }
            l->burst = (uint64_t) n * 1000;
            continue;
        }
        if (value[i].len > 6 && memcmp(value[i].data, "delay=", 6) == 0) {
            if ((n = dm_limit_req_parse_count(cf, &value[i], 6)) < 0) {
                return DM_ERROR;
            }
            l->delay = (uint64_t) n * 1000;
            continue;
        }
        if (value[i].len == 7 && memcmp(value[i].data, "nodelay", 7) == 0) {
            l->delay = DM_LIMIT_REQ_NODELAY;
            continue;
        }
        dm_conf_log_error(DM_LOG_EMERG, cf, 0, "invalid parameter \"%.*s\"",
                          DM_STR_ARG(value[i]));
        return DM_ERROR;
    }
    if (l->zone_name.len == 0) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "\"limit_req\" must have the \"zone\" parameter");
        return DM_ERROR;
    }
    if (cf->file) {
        l->file = cf->file->name;
        l->line = cf->file->dir_line;
    }
    return DM_OK;
}

/* --- the table ---------------------------------------------------------- */

dm_int_t
dm_limit_req_init_table(dm_shm_zone_t *zone, int fresh, dm_uint_t max_keys)
{
    dm_limit_req_root_t *root = fresh ? NULL : dm_shm_root(zone);
    dm_shm_stats_t st;
    uint64_t cap, seed = 0;
    size_t bytes;

    if (root && root->magic == DM_LIMIT_REQ_MAGIC) {
        zone->data = root;
        dm_log_error(DM_LOG_NOTICE, zone->log, 0,
                     "limit_req zone \"%s\": %llu keys, %llu in use (kept)",
                     zone->name.data, (unsigned long long) root->capacity,
                     (unsigned long long) root->top);
        return DM_OK;
    }
    /*
     * One allocation, root + buckets + entries, taking whole pages: the
     * capacity follows from the free pages of the fresh zone.
     */
    dm_shm_stats(zone, &st);
    cap = st.free_pages * (uint64_t) DM_SHM_PAGE_SIZE;
    cap = cap > DM_LIMIT_REQ_OVERHEAD
              ? (cap - DM_LIMIT_REQ_OVERHEAD) / DM_LIMIT_REQ_KEY_COST
              : 0;
    if (cap > UINT32_MAX - 1) {
        cap = UINT32_MAX - 1; /* links are 32-bit */
    }
    if (max_keys && cap > max_keys) {
        cap = max_keys;
    }
    bytes = sizeof(dm_limit_req_root_t) + dm_align(cap * sizeof(uint32_t), 8)
            + cap * sizeof(dm_limit_req_entry_t);
    root = (cap && st.free_pages) ? dm_shm_calloc(zone, bytes) : NULL;
    if (root == NULL) {
        dm_log_error(DM_LOG_EMERG, zone->log, 0,
                     "limit_req zone \"%s\" is too small", zone->name.data);
        return DM_ERROR;
    }
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed)) {
        seed = (uint64_t) getpid() * 0x9e3779b97f4a7c15ULL ^ dm_current_msec;
    }
    root->seed = seed | 1;
    root->capacity = cap;
    root->buckets = dm_shm_offset(zone, root + 1);
    /* entries after the buckets, 8-byte aligned */
    root->entries = dm_align(root->buckets + cap * sizeof(uint32_t), 8);
    root->magic = DM_LIMIT_REQ_MAGIC;
    dm_shm_root_set(zone, root);
    zone->data = root;
    dm_log_error(DM_LOG_NOTICE, zone->log, 0,
                 "limit_req zone \"%s\": %llu keys", zone->name.data,
                 (unsigned long long) cap);
    return DM_OK;
}

static dm_int_t
dm_limit_req_init_zone(dm_shm_zone_t *zone, int fresh)
{
    return dm_limit_req_init_table(zone, fresh, 0);
}

static void
dm_limit_req_table(dm_shm_zone_t *zone, dm_limit_req_table_t *t)
{
    t->root = zone->data;
    t->buckets = dm_shm_ptr(zone, t->root->buckets);
    t->e = dm_shm_ptr(zone, t->root->entries);
}

/* The bucket of a hash: multiply-shift with the zone's seed, then the
   high 32 bits scaled to the bucket count (no division). */
static uint32_t
dm_limit_req_bucket(const dm_limit_req_root_t *root, uint64_t hash)
{
    uint64_t h = (hash * root->seed) >> 32;

    return (uint32_t) ((h * root->capacity) >> 32);
}

static void
dm_limit_req_lru_unlink(dm_limit_req_table_t *t, uint32_t i)
{
    dm_limit_req_entry_t *e = &t->e[i];

    if (e->prev) {
        t->e[e->prev - 1].next = e->next;
    } else {
        t->root->head = e->next;
    }
    if (e->next) {
        t->e[e->next - 1].prev = e->prev;
    } else {
        t->root->tail = e->prev;
    }
}

static void
dm_limit_req_lru_push(dm_limit_req_table_t *t, uint32_t i)
{
    dm_limit_req_entry_t *e = &t->e[i];

    e->prev = DM_LIMIT_REQ_NONE;
    e->next = t->root->head;
    if (t->root->head) {
        t->e[t->root->head - 1].prev = i + 1;
    } else {
        t->root->tail = i + 1;
    }
    t->root->head = i + 1;
}

/* The entry of hash, or -1. */
static int64_t
dm_limit_req_find(dm_limit_req_table_t *t, uint64_t hash)
{
    uint32_t i = t->buckets[dm_limit_req_bucket(t->root, hash)];

    while (i != DM_LIMIT_REQ_NONE) {
        if (t->e[i - 1].hash == hash) {
            return i - 1;
        }
        i = t->e[i - 1].chain;
    }
    return -1;
}

/* Takes entry i out of its bucket's chain. */
static void
dm_limit_req_unchain(dm_limit_req_table_t *t, uint32_t i)
{
    uint32_t *p = &t->buckets[dm_limit_req_bucket(t->root, t->e[i].hash)];

    while (*p != DM_LIMIT_REQ_NONE && *p != i + 1) {
        p = &t->e[*p - 1].chain;
    }
    if (*p == i + 1) {
        *p = t->e[i].chain;
    }
}

/*
 * A new entry for hash, the most recently used: a never used one, or the
 * least recently used key's.
 */
static uint32_t
dm_limit_req_insert(dm_limit_req_table_t *t, uint64_t hash)
{
    dm_limit_req_root_t *root = t->root;
    uint32_t i, *b;

    if (root->top < root->capacity) {
        i = (uint32_t) root->top++;
    } else {
        i = root->tail - 1;
        dm_limit_req_lru_unlink(t, i);
        dm_limit_req_unchain(t, i);
        root->evicted++;
    }
    b = &t->buckets[dm_limit_req_bucket(root, hash)];
    t->e[i].hash = hash;
    t->e[i].excess = 0;
    t->e[i].flags = 0;
    t->e[i].chain = *b;
    *b = i + 1;
    dm_limit_req_lru_push(t, i);
    return i;
}

uint64_t
dm_limit_req_hash(const dm_str_t *key)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t i;

    for (i = 0; i < key->len; i++) {
        h ^= key->data[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t
dm_limit_req_excess(uint64_t prev, uint64_t rate, dm_msec_t ms)
{
    uint64_t decay;

    /* past this, the bucket is empty whatever it held (no overflow) */
    if (ms > (prev + 1000) / rate * 1000 + 1000) {
        return 0;
    }
    decay = rate * ms / 1000;
    return decay >= prev + 1000 ? 0 : prev + 1000 - decay;
}

dm_msec_t
dm_limit_req_delay(uint64_t excess, uint64_t delay, uint64_t rate)
{
    if (excess <= delay) {
        return 0;
    }
    return (dm_msec_t) ((excess - delay) * 1000 / rate);
}

/*
 * Milliseconds since the entry was counted, as nginx counts them: a clock
 * of another process slightly behind ours gives 0, a jump back of more
 * than a minute counts as 1 ms. A pending entry (looked up, not counted)
 * is as old as can be: its excess decays to 0.
 */
static dm_msec_t
dm_limit_req_elapsed(const dm_limit_req_entry_t *e, dm_msec_t now)
{
    int64_t ms;

    if (e->flags & DM_LIMIT_REQ_PENDING) {
        return (dm_msec_t) -1;
    }
    ms = (int64_t) (now - e->last);
    if (ms < -60000) {
        return 1;
    }
    return ms < 0 ? 0 : (dm_msec_t) ms;
}

/* Stores the excess of one more request in entry i. */
static uint64_t
dm_limit_req_count(dm_limit_req_zone_t *lz, dm_limit_req_entry_t *e,
                   dm_msec_t now)
{
    dm_msec_t ms = dm_limit_req_elapsed(e, now);

    e->excess = dm_limit_req_excess(e->excess, lz->rate, ms);
    if (ms) {
        /* as nginx: within the same millisecond the clock stays, so that
           no decay is lost to rounding */
        e->last = now;
    }
    e->flags &= ~DM_LIMIT_REQ_PENDING;
    return e->excess;
}

dm_int_t
dm_limit_req_lookup(dm_limit_req_zone_t *lz, uint64_t hash, uint64_t burst,
                    int account, dm_msec_t now, uint64_t *excess)
{
    dm_limit_req_table_t t;
    dm_limit_req_entry_t *e;
    dm_int_t rc = DM_OK;
    uint64_t x;
    int64_t i;

    dm_limit_req_table(lz->zone, &t);
    dm_shm_zone_lock(lz->zone);
    i = dm_limit_req_find(&t, hash);
    if (i < 0) {
        /* a new key: excess 0, the first request always passes */
        e = &t.e[dm_limit_req_insert(&t, hash)];
        e->last = now;
        if (!account) {
            e->flags = DM_LIMIT_REQ_PENDING;
        }
        *excess = 0;
        goto done;
    }
    e = &t.e[i];
    dm_limit_req_lru_unlink(&t, (uint32_t) i);
    dm_limit_req_lru_push(&t, (uint32_t) i);
    x = dm_limit_req_excess(e->excess, lz->rate, dm_limit_req_elapsed(e, now));
    *excess = x;
    if (x > burst) {
        rc = DM_BUSY;
    } else if (account) {
        (void) dm_limit_req_count(lz, e, now);
    }
done:
    dm_shm_zone_unlock(lz->zone);
    return rc;
}

void
dm_limit_req_account(dm_limit_req_zone_t *lz, uint64_t hash, dm_msec_t now,
                     uint64_t *excess)
{
    dm_limit_req_table_t t;
    int64_t i;

    dm_limit_req_table(lz->zone, &t);
    dm_shm_zone_lock(lz->zone);
    i = dm_limit_req_find(&t, hash);
    if (i < 0) {
        /* evicted since the lookup (the table turned over): start again */
        i = dm_limit_req_insert(&t, hash);
        t.e[i].last = now;
        *excess = 0;
    } else {
        *excess = dm_limit_req_count(lz, &t.e[i], now);
    }
    dm_shm_zone_unlock(lz->zone);
}

void
dm_limit_req_stats(dm_limit_req_zone_t *lz, dm_limit_req_stats_t *st)
{
    dm_limit_req_root_t *root = lz->zone->data;

    dm_shm_zone_lock(lz->zone);
    st->capacity = (dm_uint_t) root->capacity;
    st->used = (dm_uint_t) root->top;
    st->evicted = (dm_uint_t) root->evicted;
    dm_shm_zone_unlock(lz->zone);
}

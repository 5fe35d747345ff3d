/*
 * doorman: maps: building and lookup.
 *
 * Keys are checked for duplicates as they are added (nginx reports the
 * line of the second one), so the builder keeps every key in one growing
 * open-addressing table, kinds mixed and told apart by a kind tag mixed
 * into the hash. The built map copies the exact keys into a table sized
 * once for them, and the wildcards into two sorted arrays: a lookup
 * tries each dot of the string as a wildcard boundary, longest first, with
 * a binary search each time, so the longest wildcard wins as in nginx.
 */
#include <dm_core.h>
#include <dm_map.h>

#define DM_MAP_FNV_BASIS 2166136261u
#define DM_MAP_FNV_PRIME 16777619u

/* The builder's first table; the built table is never smaller than 4. */
#define DM_MAP_BUILD_BUCKETS 64
#define DM_MAP_MIN_BUCKETS   4

static u_char
dm_map_lower(u_char c)
{
    return (c >= 'A' && c <= 'Z') ? (u_char) (c | 0x20) : c;
}

uint32_t
dm_map_hash(dm_uint_t kind, const u_char *data, size_t len)
{
    uint32_t h = DM_MAP_FNV_BASIS;

    h = (h ^ (uint32_t) kind) * DM_MAP_FNV_PRIME;
    while (len--) {
        h = (h ^ dm_map_lower(*data++)) * DM_MAP_FNV_PRIME;
    }
    return h;
}

/* 1 when the stored (lowercased) key equals data, ignoring data's case. */
static int
dm_map_key_eq(const dm_map_key_t *k, dm_uint_t kind, const u_char *data,
              size_t len)
{
    size_t i;

    if (k->kind != kind || k->len != len) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (k->data[i] != dm_map_lower(data[i])) {
            return 0;
        }
    }
    return 1;
}

/*
 * The bucket of (kind, data) in a table: the key's own, or the free one
 * where it would go. Tables are at most half full, so the probe ends.
 */
static dm_map_key_t *
dm_map_bucket(dm_map_key_t *buckets, dm_uint_t mask, uint32_t hash,
              dm_uint_t kind, const u_char *data, size_t len)
{
    dm_uint_t i = hash & mask;
    dm_map_key_t *k;

    for (;;) {
        k = &buckets[i];
        if (k->data == NULL
            || (k->hash == hash && dm_map_key_eq(k, kind, data, len))) {
            return k;
        }
        i = (i + 1) & mask;
    }
}

dm_int_t
dm_map_builder_init(dm_map_builder_t *b, dm_pool_t *pool, dm_pool_t *temp_pool)
{
    memset(b, 0, sizeof(*b));
    b->pool = pool;
    b->temp_pool = temp_pool;
    b->mask = DM_MAP_BUILD_BUCKETS - 1;
    b->buckets =
        dm_pcalloc(temp_pool, DM_MAP_BUILD_BUCKETS * sizeof(dm_map_key_t));
    if (b->buckets == NULL) {
        return DM_ERROR;
    }
    return dm_array_init(&b->regex, temp_pool, 4, sizeof(dm_map_regex_t));
}

/* Doubles the builder's table, keeping it at most half full. */
static dm_int_t
dm_map_grow(dm_map_builder_t *b)
{
    dm_uint_t n = (b->mask + 1) * 2, i;
    dm_map_key_t *nb, *k;

    nb = dm_pcalloc(b->temp_pool, n * sizeof(dm_map_key_t));
    if (nb == NULL) {
        return DM_ERROR;
    }
    for (i = 0; i <= b->mask; i++) {
        k = &b->buckets[i];
        if (k->data) {
            *dm_map_bucket(nb, n - 1, k->hash, k->kind, k->data, k->len) = *k;
        }
    }
    /* a large table goes back to the system at once; a small one stays
       in the temporary pool until the configuration is loaded */
    (void) dm_pfree(b->temp_pool, b->buckets);
    b->buckets = nb;
    b->mask = n - 1;
    return DM_OK;
}

static int
dm_map_exists(dm_map_builder_t *b, dm_uint_t kind, const u_char *data,
              size_t len)
{
    uint32_t hash = dm_map_hash(kind, data, len);

    return dm_map_bucket(b->buckets, b->mask, hash, kind, data, len)->data
           != NULL;
}

static dm_int_t
dm_map_insert(dm_map_builder_t *b, dm_uint_t kind, const u_char *data,
              size_t len, dm_uint_t value)
{
    dm_uint_t total = b->nkeys[0] + b->nkeys[1] + b->nkeys[2];
    uint32_t hash = dm_map_hash(kind, data, len);
    dm_map_key_t *k;

    if ((total + 1) * 2 > b->mask + 1 && dm_map_grow(b) != DM_OK) {
        return DM_ERROR;
    }
    k = dm_map_bucket(b->buckets, b->mask, hash, kind, data, len);
    if (k->data) {
        return DM_BUSY;
    }
    /* the bytes live with the map; one spare byte keeps "" non-NULL */
    k->data = dm_pnalloc(b->pool, len + 1);
    if (k->data == NULL) {
        return DM_ERROR;
    }
    dm_strlow(k->data, data, len);
    k->data[len] = '\0';
    k->len = len;
    k->hash = hash;
    k->kind = (uint32_t) kind;
    k->value = value;
    b->nkeys[kind]++;
    return DM_OK;
}

dm_int_t
dm_map_add(dm_map_builder_t *b, const dm_str_t *key, dm_uint_t value)
{
    const u_char *p = key->data;
    size_t len = key->len, i, stars = 0;

    if (!b->hostnames) {
        return dm_map_insert(b, DM_MAP_EXACT, p, len, value);
    }

    /* nginx's rules for host names and wildcards */
    for (i = 0; i < len; i++) {
        if (p[i] == '*') {
            stars++;
        }
        if (p[i] == '\0' || (p[i] == '.' && i + 1 < len && p[i + 1] == '.')) {
            return DM_DECLINED;
        }
    }
    if (stars > 1) {
        return DM_DECLINED;
    }

    if (len > 1 && p[0] == '.') {
        /* ".example.com": the names under it, and example.com itself as
           an exact key (so an exact example.com conflicts with it) */
        if (stars) {
            return DM_DECLINED;
        }
        if (dm_map_exists(b, DM_MAP_HEAD, p, len)
            || dm_map_exists(b, DM_MAP_EXACT, p + 1, len - 1)) {
            return DM_BUSY;
        }
        if (dm_map_insert(b, DM_MAP_EXACT, p + 1, len - 1, value) != DM_OK) {
            return DM_ERROR;
        }
        return dm_map_insert(b, DM_MAP_HEAD, p, len, value);
    }
    if (len > 2 && p[0] == '*' && p[1] == '.') {
        /* stored as ".example.com": it conflicts with ".example.com" */
        return dm_map_insert(b, DM_MAP_HEAD, p + 1, len - 1, value);
    }
    if (len > 2 && p[len - 2] == '.' && p[len - 1] == '*') {
        return dm_map_insert(b, DM_MAP_TAIL, p, len - 1, value);
    }
    if (stars) {
        return DM_DECLINED;
    }
    return dm_map_insert(b, DM_MAP_EXACT, p, len, value);
}

dm_int_t
dm_map_add_regex(dm_map_builder_t *b, const dm_regex_t *re, dm_uint_t value)
{
    dm_map_regex_t *r = dm_array_push(&b->regex);

    if (r == NULL) {
        return DM_ERROR;
    }
    r->regex = re;
    r->value = value;
    return DM_OK;
}

/* Byte order of lowercased keys, a prefix before its extensions. */
static int
dm_map_key_cmp(const void *a, const void *b)
{
    const dm_map_key_t *x = a, *y = b;
    int c = memcmp(x->data, y->data, dm_min(x->len, y->len));

    if (c) {
        return c;
    }
    return x->len < y->len ? -1 : x->len > y->len;
}

dm_int_t
dm_map_build(dm_map_builder_t *b, dm_map_t *map)
{
    dm_uint_t n, i, nhead = 0, ntail = 0;
    dm_map_key_t *k;

    memset(map, 0, sizeof(*map));
    map->hostnames = b->hostnames;

    if (b->nkeys[DM_MAP_EXACT]) {
        /* the smallest power of two that is at most half full */
        n = DM_MAP_MIN_BUCKETS;
        while (n < 2 * b->nkeys[DM_MAP_EXACT]) {
            n *= 2;
        }
        map->buckets = dm_pcalloc(b->pool, n * sizeof(dm_map_key_t));
        if (map->buckets == NULL) {
            return DM_ERROR;
        }
        map->mask = n - 1;
    }
    if (b->nkeys[DM_MAP_HEAD]) {
        map->head =
            dm_palloc(b->pool, b->nkeys[DM_MAP_HEAD] * sizeof(dm_map_key_t));
        if (map->head == NULL) {
            return DM_ERROR;
        }
    }
    if (b->nkeys[DM_MAP_TAIL]) {
        map->tail =
            dm_palloc(b->pool, b->nkeys[DM_MAP_TAIL] * sizeof(dm_map_key_t));
        if (map->tail == NULL) {
            return DM_ERROR;
        }
    }

    for (i = 0; i <= b->mask; i++) {
        k = &b->buckets[i];
        if (k->data == NULL) {
            continue;
        }
        switch (k->kind) {
        case DM_MAP_EXACT:
            *dm_map_bucket(map->buckets, map->mask, k->hash, k->kind, k->data,
                           k->len) = *k;
            break;
        case DM_MAP_HEAD:
            map->head[nhead++] = *k;
            break;
        default:
            map->tail[ntail++] = *k;
            break;
        }
    }
    if (nhead) {
        qsort(map->head, nhead, sizeof(dm_map_key_t), dm_map_key_cmp);
    }
    if (ntail) {
        qsort(map->tail, ntail, sizeof(dm_map_key_t), dm_map_key_cmp);
    }
    map->nhead = nhead;
    map->ntail = ntail;

    if (b->regex.nelts) {
        map->regex =
            dm_palloc(b->pool, b->regex.nelts * sizeof(dm_map_regex_t));
        if (map->regex == NULL) {
            return DM_ERROR;
        }
        memcpy(map->regex, b->regex.elts,
               b->regex.nelts * sizeof(dm_map_regex_t));
        map->nregex = b->regex.nelts;
    }
    return DM_OK;
}

/* Compares a string (any case) with a sorted key, as dm_map_key_cmp. */
static int
dm_map_cmp(const u_char *s, size_t len, const dm_map_key_t *k)
{
    size_t n = dm_min(len, k->len), i;
    u_char c;

    for (i = 0; i < n; i++) {
        c = dm_map_lower(s[i]);
        if (c != k->data[i]) {
            return c < k->data[i] ? -1 : 1;
        }
    }
    return len < k->len ? -1 : len > k->len;
}

static const dm_map_key_t *
dm_map_search(const dm_map_key_t *keys, dm_uint_t n, const u_char *s,
              size_t len)
{
    dm_uint_t lo = 0, hi = n, mid;
    int c;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        c = dm_map_cmp(s, len, &keys[mid]);
        if (c == 0) {
            return &keys[mid];
        }
        if (c < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return NULL;
}

dm_int_t
dm_map_find(const dm_map_t *map, const u_char *data, size_t len,
            dm_map_match_t *m, dm_log_t *log)
{
    const dm_map_key_t *k;
    dm_int_t rc;
    size_t i;

    m->regex = NULL;
    m->npairs = 0;
    if (map->hostnames && len && data[len - 1] == '.') {
        len--;
    }

    if (map->buckets) {
        k = dm_map_bucket(map->buckets, map->mask,
                          dm_map_hash(DM_MAP_EXACT, data, len), DM_MAP_EXACT,
                          data, len);
        if (k->data) {
            return (dm_int_t) k->value;
        }
    }

    /* the longest suffix first: the leftmost dot with a label before it */
    for (i = 1; map->nhead && i < len; i++) {
        if (data[i] == '.') {
            k = dm_map_search(map->head, map->nhead, data + i, len - i);
            if (k) {
                return (dm_int_t) k->value;
            }
        }
    }
    /* the longest prefix first: the rightmost dot with a label after it;
       i is the length of the prefix, its dot included */
    for (i = len ? len - 1 : 0; map->ntail && i > 1; i--) {
        if (data[i - 1] == '.') {
            k = dm_map_search(map->tail, map->ntail, data, i);
            if (k) {
                return (dm_int_t) k->value;
            }
        }
    }

    if (len == 0) {
        return DM_DECLINED;
    }
    for (i = 0; i < map->nregex; i++) {
        rc = dm_regex_exec(map->regex[i].regex, data, len, m->ovector, log);
        if (rc == 0) {
            continue;
        }
        if (rc == DM_ERROR) {
            return DM_ERROR;
        }
        m->regex = map->regex[i].regex;
        m->npairs = (dm_uint_t) rc;
        return (dm_int_t) map->regex[i].value;
    }
    return DM_DECLINED;
}

/*
 * doorman: TLS session resumption on the server side: the shared session
 * cache and the session ticket keys.
 *
 * Resumption must work whichever worker the client reaches next, after a
 * reload and after a binary upgrade. Both mechanisms therefore keep their
 * state in shared memory zones, which survive both (dm_shm.h):
 *
 *   the session cache   `ssl_session_cache shared:NAME:SIZE`: serialized
 *                       sessions (i2d_SSL_SESSION, at most
 *                       DM_SSL_SESSION_MAX_DER bytes) keyed by their
 *                       session id, in a hash table of offsets with a
 *                       list from the newest to the oldest entry. An entry
 *                       expires after ssl_session_timeout; expired entries
 *                       go when met, a few of the oldest on every insert,
 *                       and when the zone is full the oldest make room.
 *                       OpenSSL's own cache is off (NO_INTERNAL): the
 *                       zone is the only one, as nginx's "shared".
 *
 *   the ticket keys     from ssl_session_ticket_key files (80 bytes:
 *                       name, HMAC secret, AES-256 key; or nginx's older
 *                       48 bytes, AES-128), the first encrypting, every one
 *                       decrypting; or, without files, the key ring of
 *                       the implicit zone "doorman_ssl_tickets" that every
 *                       server of the configuration uses: one encrypting
 *                       key and up to three older ones, rotated by the
 *                       first process that finds the encrypting key older
 *                       than the longest ssl_session_timeout (60 s at
 *                       least). A key thus decrypts for three rotations
 *                       after it stopped encrypting, longer than any
 *                       ticket it sealed may live.
 *
 * Inside a zone everything is an offset, never a pointer, and every
 * access holds the zone lock (which also guards the allocator). The
 * callbacks copy what they need to the stack under the lock and do the
 * crypto and the (de)serialization outside it. Key material is never
 * logged.
 *
 * The callbacks find their server through SSL_CTX ex_data of the SSL's
 * context. OpenSSL looks sessions and tickets up before the SNI callback
 * switches the context, so lookups use the listener's default server,
 * while new sessions and tickets are made after the switch, with the
 * server SNI chose: servers that should resume each other's sessions must
 * share the cache zone and ticket keys (as they do when the directives are
 * written at the http or stream level).
 */
#include <dm_core.h>
#include <dm_shm.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <dm_ssl.h>

/* Bump them whenever the structures of the zones below change. */
#define DM_SSL_CACHE_VERSION 1
#define DM_SSL_RING_VERSION  1

/* "SSLCACHE" and "SSLTKEYS": the roots of sound zones. */
#define DM_SSL_CACHE_MAGIC 0x45484341434c5353ULL
#define DM_SSL_RING_MAGIC  0x5359454b544c5353ULL

/* Largest serialized session kept: a usual one is 100 to 300 bytes, a
   client certificate chain may make it a few kilobytes. */
#define DM_SSL_SESSION_MAX_DER 4096

/* Bytes of zone per bucket: about one entry per bucket on average. */
#define DM_SSL_CACHE_BUCKET_BYTES 512

/* Expired entries dropped from the old end on every insert. */
#define DM_SSL_CACHE_EXPIRE_BATCH 3

/* Oldest entries dropped, at most, to make room for one new entry. */
#define DM_SSL_CACHE_EVICT_MAX 128

/* Keys of the ring: the encrypting one and the older decrypting ones. */
#define DM_SSL_RING_KEYS 4

/* Shortest rotation period of the ring, in seconds. */
#define DM_SSL_RING_MIN_PERIOD 60

/* Ticket key file sizes nginx accepts: 16 + 32 + 32, and 16 + 16 + 16. */
#define DM_SSL_TICKET_KEY_LONG  80
#define DM_SSL_TICKET_KEY_SHORT 48

/*
 * A ticket key with its format and age: in the ring (shared memory, no
 * pointer inside) and for the keys read from files.
 */
typedef struct {
    dm_ssl_ticket_key_t k; /* name, HMAC secret, AES key */
    uint32_t size;         /* DM_SSL_TICKET_KEY_LONG or _SHORT */
    uint32_t spare;        /* alignment; 0 */
    int64_t created;       /* wall-clock seconds */
} dm_ssl_tkey_t;

/* The ring, the root of the zone "doorman_ssl_tickets". */
typedef struct {
    uint64_t magic;                       /* DM_SSL_RING_MAGIC */
    uint32_t nkeys;                       /* 1 to DM_SSL_RING_KEYS */
    uint32_t rotations;                   /* since the ring was made */
    dm_ssl_tkey_t keys[DM_SSL_RING_KEYS]; /* [0] encrypts, newest first */
} dm_ssl_ring_t;

/* The session cache, the root of a shared:NAME:SIZE zone. */
typedef struct {
    uint64_t magic;    /* DM_SSL_CACHE_MAGIC */
    uint64_t seed;     /* odd multiplier choosing buckets */
    uint64_t nbuckets; /* below 2^32 */
    uint64_t buckets;  /* offset of uint64_t[nbuckets]: chains' first entry */
    uint64_t newest;   /* offset of the newest entry, or 0 */
    uint64_t oldest;   /* offset of the oldest entry, or 0 */
    uint64_t count;    /* entries */
    uint64_t stored;   /* sessions stored since the zone was made */
    uint64_t hits;     /* lookups that found a live session */
    uint64_t misses;   /* lookups that did not */
    uint64_t expired;  /* entries dropped as expired */
    uint64_t evicted;  /* live entries dropped to make room */
} dm_ssl_cache_t;

/* A cached session: the entry and its serialized form, one allocation. */
typedef struct {
    uint64_t chain;  /* the next entry of the same bucket, or 0 */
    uint64_t newer;  /* the next newer entry, or 0 */
    uint64_t older;  /* the next older entry, or 0 */
    uint64_t hash;   /* of the session id */
    int64_t expire;  /* wall-clock seconds */
    uint32_t len;    /* bytes of der */
    uint32_t id_len; /* bytes of id, 1 to 32 */
    u_char id[SSL_MAX_SSL_SESSION_ID_LENGTH];
    u_char der[]; /* i2d_SSL_SESSION */
} dm_ssl_cache_entry_t;

/* A cache zone as this process sees it. */
typedef struct {
    dm_shm_zone_t *zone;
    dm_ssl_cache_t *root;
    uint64_t *buckets;
} dm_ssl_cache_view_t;

/* The ring of one configuration: its zone and rotation period. */
typedef struct {
    dm_cycle_t *cycle;   /* the configuration's */
    dm_shm_zone_t *zone; /* "doorman_ssl_tickets" */
    int64_t period;      /* seconds: the longest session timeout, >= 60 */
} dm_ssl_ring_conf_t;

/* What the callbacks of one context need (SSL_CTX ex_data). */
typedef struct {
    dm_ssl_srv_conf_t *conf;
    dm_shm_zone_t *cache;     /* the shared cache, or NULL */
    dm_ssl_ring_conf_t *ring; /* the key ring, or NULL */
    dm_ssl_tkey_t *keys;      /* from the files, [0] encrypts, or NULL */
    dm_uint_t nkeys;
} dm_ssl_session_ctx_t;

/* The zones' owners (dm_shm_zone_add tags: the same across cycles). */
static char dm_ssl_session_cache_tag;
static char dm_ssl_ticket_ring_tag;

static const dm_str_t dm_ssl_ring_name = dm_string("doorman_ssl_tickets");

/* SSL_CTX ex_data index of dm_ssl_session_ctx_t, made once. */
static int dm_ssl_session_index = -1;

/* The ring of the configuration being read (cleared with its pool). */
static dm_ssl_ring_conf_t *dm_ssl_ring_current;

static dm_int_t dm_ssl_cache_init(dm_shm_zone_t *zone, int fresh);
static dm_int_t dm_ssl_ring_init(dm_shm_zone_t *zone, int fresh);

/* --- ssl_session_cache -------------------------------------------------- */

char *
dm_ssl_set_session_cache(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_ssl_srv_conf_t *sscf = conf;
    dm_str_t *value = cf->args->elts, v = value[1], name;
    dm_shm_zone_t *zone;
    u_char *colon;
    int64_t size;

    if (sscf->session_cache != DM_CONF_UNSET) {
        return "is duplicate";
    }
    if (dm_str_eq(&v, "off")) {
        sscf->session_cache = DM_SSL_CACHE_OFF;
        return DM_CONF_OK;
    }
    if (dm_str_eq(&v, "none")) {
        sscf->session_cache = DM_SSL_CACHE_NONE;
        return DM_CONF_OK;
    }
    if (v.len >= 7 && memcmp(v.data, "builtin", 7) == 0) {
        /* a cache per worker: the next connection of the client mostly
           reaches another worker, so it would hardly ever resume */
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "the \"builtin\" session cache is not supported "
                          "(each worker would have its own), use "
                          "\"shared:NAME:SIZE\"");
        return DM_CONF_ERROR;
    }
    colon = NULL;
    if (v.len > 7 && memcmp(v.data, "shared:", 7) == 0) {
        name.data = v.data + 7;
        /* a zone name has no ':' (dm_shm_zone_add checks the rest) */
        colon = memchr(name.data, ':', v.len - 7);
    }
    if (colon == NULL || colon == v.data + 7 || colon == v.data + v.len - 1) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "invalid session cache \"%.*s\", it must be "
                          "\"off\", \"none\" or \"shared:NAME:SIZE\"",
                          DM_STR_ARG(v));
        return DM_CONF_ERROR;
    }
    name.len = (size_t) (colon - name.data);
    if (name.len == dm_ssl_ring_name.len
        && memcmp(name.data, dm_ssl_ring_name.data, name.len) == 0) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "the zone name \"%.*s\" is reserved for the "
                          "session ticket keys",
                          DM_STR_ARG(name));
        return DM_CONF_ERROR;
    }
    size = dm_parse_size(colon + 1, (size_t) (v.data + v.len - colon - 1));
    if (size < 0) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "invalid session cache size in \"%.*s\"",
                          DM_STR_ARG(v));
        return DM_CONF_ERROR;
    }
    if (size < DM_SHM_MIN_SIZE) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "session cache \"%.*s\" is too small, its size "
                          "must be at least %dk",
                          DM_STR_ARG(v), DM_SHM_MIN_SIZE / 1024);
        return DM_CONF_ERROR;
    }
    zone = dm_shm_zone_add(cf, &name, (size_t) size, DM_SSL_CACHE_VERSION,
                           &dm_ssl_session_cache_tag);
    if (zone == NULL) {
        return DM_CONF_ERROR;
    }
    zone->init = dm_ssl_cache_init;
    sscf->cache_zone = zone;
    sscf->session_cache = DM_SSL_CACHE_SHARED;
    return DM_CONF_OK;
}

/* --- the session cache: the table --------------------------------------- */

static dm_int_t
dm_ssl_cache_init(dm_shm_zone_t *zone, int fresh)
{
    dm_ssl_cache_t *root = zone->data;
    dm_shm_stats_t st;
    uint64_t nb, seed = 0;

    if (!fresh && root && root->magic == DM_SSL_CACHE_MAGIC) {
        /* reload or binary upgrade: the sessions stay resumable */
        dm_log_error(DM_LOG_NOTICE, zone->log, 0,
                     "ssl session cache \"%s\": %llu sessions kept",
                     zone->name.data, (unsigned long long) root->count);
        return DM_OK;
    }
    dm_shm_stats(zone, &st);
    nb =
        st.free_pages * (uint64_t) DM_SHM_PAGE_SIZE / DM_SSL_CACHE_BUCKET_BYTES;
    nb = dm_max(nb, 16);
    nb = dm_min(nb, (uint64_t) UINT32_MAX);
    root = dm_shm_calloc(zone, sizeof(dm_ssl_cache_t) + nb * sizeof(uint64_t));
    if (root == NULL) {
        dm_log_error(DM_LOG_EMERG, zone->log, 0,
                     "ssl session cache \"%s\" is too small", zone->name.data);
        return DM_ERROR;
    }
    if (RAND_bytes((u_char *) &seed, sizeof(seed)) != 1) {
        seed = (uint64_t) getpid() * 0x9e3779b97f4a7c15ULL ^ (uint64_t) time(0);
    }
    root->seed = seed | 1;
    root->nbuckets = nb;
    root->buckets = dm_shm_offset(zone, root + 1);
    root->magic = DM_SSL_CACHE_MAGIC;
    dm_shm_root_set(zone, root);
    zone->data = root;
    return DM_OK;
}

static void
dm_ssl_cache_view(dm_shm_zone_t *zone, dm_ssl_cache_view_t *v)
{
    v->zone = zone;
    v->root = zone->data;
    v->buckets = dm_shm_ptr(zone, v->root->buckets);
}

/* FNV-1a of a session id; the zone's seed then picks the bucket. */
static uint64_t
dm_ssl_cache_hash(const u_char *id, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= id[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static uint64_t *
dm_ssl_cache_bucket(dm_ssl_cache_view_t *v, uint64_t hash)
{
    uint64_t h = (hash * v->root->seed) >> 32;

    return &v->buckets[(h * v->root->nbuckets) >> 32];
}

static dm_ssl_cache_entry_t *
dm_ssl_cache_entry(dm_ssl_cache_view_t *v, uint64_t off)
{
    return dm_shm_ptr(v->zone, off);
}

/* The entry of a session id, or NULL. Under the lock. */
static dm_ssl_cache_entry_t *
dm_ssl_cache_find(dm_ssl_cache_view_t *v, const u_char *id, size_t len,
                  uint64_t hash)
{
    dm_ssl_cache_entry_t *e;
    uint64_t off = *dm_ssl_cache_bucket(v, hash);

    while (off) {
        e = dm_ssl_cache_entry(v, off);
        if (e->hash == hash && e->id_len == len
            && memcmp(e->id, id, len) == 0) {
            return e;
        }
        off = e->chain;
    }
    return NULL;
}

/* Takes an entry out of its chain and of the age list, and frees it. */
static void
dm_ssl_cache_drop(dm_ssl_cache_view_t *v, dm_ssl_cache_entry_t *e)
{
    dm_ssl_cache_t *root = v->root;
    uint64_t off = dm_shm_offset(v->zone, e), *p;

    p = dm_ssl_cache_bucket(v, e->hash);
    while (*p && *p != off) {
        p = &dm_ssl_cache_entry(v, *p)->chain;
    }
    if (*p == off) {
        *p = e->chain;
    }
    if (e->newer) {
        dm_ssl_cache_entry(v, e->newer)->older = e->older;
    } else {
        root->newest = e->older;
    }
    if (e->older) {
        dm_ssl_cache_entry(v, e->older)->newer = e->newer;
    } else {
        root->oldest = e->newer;
    }
    root->count--;
    /* the secrets a session holds do not outlive it in the zone */
    OPENSSL_cleanse(e->der, e->len);
    dm_shm_free_locked(v->zone, e);
}

/* Drops up to n expired entries from the old end. Under the lock. */
static void
dm_ssl_cache_expire(dm_ssl_cache_view_t *v, int64_t now, dm_uint_t n)
{
    dm_ssl_cache_entry_t *e;

    while (n-- && v->root->oldest) {
        e = dm_ssl_cache_entry(v, v->root->oldest);
        if (e->expire > now) {
            return;
        }
        dm_ssl_cache_drop(v, e);
        v->root->expired++;
    }
}

/*
 * Stores a serialized session under its id, replacing an entry of the same
 * id. When the zone is full the oldest entries make room (a bounded
 * number). Returns DM_OK, or DM_DECLINED when it could not be stored: the
 * handshake goes on all the same, the session just will not resume.
 */
static dm_int_t
dm_ssl_cache_store(dm_ssl_cache_view_t *v, const u_char *id, size_t id_len,
                   const u_char *der, size_t len, int64_t now, int64_t expire)
{
    dm_ssl_cache_t *root = v->root;
    dm_ssl_cache_entry_t *e;
    uint64_t hash = dm_ssl_cache_hash(id, id_len), *b, off;
    dm_uint_t evicted = 0;

    if (id_len == 0 || id_len > SSL_MAX_SSL_SESSION_ID_LENGTH
        || len > DM_SSL_SESSION_MAX_DER) {
        return DM_DECLINED;
    }
    dm_shm_zone_lock(v->zone);
    dm_ssl_cache_expire(v, now, DM_SSL_CACHE_EXPIRE_BATCH);
    e = dm_ssl_cache_find(v, id, id_len, hash);
    if (e) {
        dm_ssl_cache_drop(v, e);
    }
    for (;;) {
        e = dm_shm_alloc_locked(v->zone, sizeof(*e) + len);
        if (e) {
            break;
        }
        /* full: the oldest go first, whether expired or not (nginx does
           the same); bounded, so that the lock is never held long */
        if (root->oldest == 0 || evicted++ == DM_SSL_CACHE_EVICT_MAX) {
            dm_shm_zone_unlock(v->zone);
            return DM_DECLINED;
        }
        e = dm_ssl_cache_entry(v, root->oldest);
        if (e->expire > now) {
            root->evicted++;
        } else {
            root->expired++;
        }
        dm_ssl_cache_drop(v, e);
    }
    e->hash = hash;
    e->expire = expire;
    e->len = (uint32_t) len;
    e->id_len = (uint32_t) id_len;
    memcpy(e->id, id, id_len);
    memcpy(e->der, der, len);

    off = dm_shm_offset(v->zone, e);
    b = dm_ssl_cache_bucket(v, hash);
    e->chain = *b;
    *b = off;
    e->newer = 0;
    e->older = root->newest;
    if (root->newest) {
        dm_ssl_cache_entry(v, root->newest)->newer = off;
    } else {
        root->oldest = off;
    }
    root->newest = off;
    root->count++;
    root->stored++;
    dm_shm_zone_unlock(v->zone);
    return DM_OK;
}

/*
 * Copies the serialized session of an id into buf (DM_SSL_SESSION_MAX_DER
 * bytes) and its length into *len. An expired entry met is dropped.
 * Returns DM_OK, or DM_DECLINED when there is none.
 */
static dm_int_t
dm_ssl_cache_fetch(dm_ssl_cache_view_t *v, const u_char *id, size_t id_len,
                   int64_t now, u_char *buf, size_t *len)
{
    dm_ssl_cache_entry_t *e;
    uint64_t hash = dm_ssl_cache_hash(id, id_len);
    dm_int_t rc = DM_DECLINED;

    if (id_len == 0 || id_len > SSL_MAX_SSL_SESSION_ID_LENGTH) {
        return DM_DECLINED;
    }
    dm_shm_zone_lock(v->zone);
    e = dm_ssl_cache_find(v, id, id_len, hash);
    if (e && e->expire <= now) {
        dm_ssl_cache_drop(v, e);
        v->root->expired++;
        e = NULL;
    }
    if (e && e->len <= DM_SSL_SESSION_MAX_DER) {
        memcpy(buf, e->der, e->len);
        *len = e->len;
        v->root->hits++;
        rc = DM_OK;
    } else {
        v->root->misses++;
    }
    dm_shm_zone_unlock(v->zone);
    return rc;
}

/* Drops the entry of an id, if any. */
static void
dm_ssl_cache_remove(dm_ssl_cache_view_t *v, const u_char *id, size_t id_len)
{
    dm_ssl_cache_entry_t *e;
    uint64_t hash = dm_ssl_cache_hash(id, id_len);

    if (id_len == 0 || id_len > SSL_MAX_SSL_SESSION_ID_LENGTH) {
        return;
    }
    dm_shm_zone_lock(v->zone);
    e = dm_ssl_cache_find(v, id, id_len, hash);
    if (e) {
        dm_ssl_cache_drop(v, e);
    }
    dm_shm_zone_unlock(v->zone);
}

/* --- the session cache: OpenSSL's callbacks ----------------------------- */

static dm_ssl_session_ctx_t *
dm_ssl_session_ctx(SSL_CTX *ctx)
{
    return ctx && dm_ssl_session_index != -1
               ? SSL_CTX_get_ex_data(ctx, dm_ssl_session_index)
               : NULL;
}

/*
 * A new session: stored in the zone of the server the connection is with.
 * Returns 0: OpenSSL keeps its reference (we keep a copy).
 */
static int
dm_ssl_cache_new_cb(SSL *ssl, SSL_SESSION *sess)
{
    dm_ssl_session_ctx_t *sc = dm_ssl_session_ctx(SSL_get_SSL_CTX(ssl));
    u_char der[DM_SSL_SESSION_MAX_DER], *p;
    const unsigned char *id;
    dm_ssl_cache_view_t v;
    unsigned int id_len;
    int64_t now;
    int n;

    if (sc == NULL || sc->cache == NULL || sc->cache->data == NULL) {
        return 0;
    }
    /* TLS 1.3 with stateless tickets: OpenSSL reports every session made,
       under a dummy id nobody will ever ask for (nginx skips them too) */
    if (SSL_version(ssl) == TLS1_3_VERSION
        && !(SSL_get_options(ssl) & SSL_OP_NO_TICKET)) {
        return 0;
    }
    id = SSL_SESSION_get_id(sess, &id_len);
    n = i2d_SSL_SESSION(sess, NULL);
    if (id_len == 0 || n <= 0 || n > DM_SSL_SESSION_MAX_DER) {
        /* too large to keep (a long client chain): no resumption by id */
        return 0;
    }
    p = der;
    if (i2d_SSL_SESSION(sess, &p) != n) {
        OPENSSL_cleanse(der, sizeof(der));
        return 0;
    }
    now = (int64_t) dm_time_sec;
    dm_ssl_cache_view(sc->cache, &v);
    (void) dm_ssl_cache_store(&v, id, id_len, der, (size_t) n, now,
                              now + (int64_t) SSL_SESSION_get_timeout(sess));
    OPENSSL_cleanse(der, (size_t) n);
    return 0;
}

/*
 * A client offers a session id: a new session from the zone, which
 * OpenSSL owns (*copy = 0), or NULL. OpenSSL checks its age and its
 * session id context itself.
 */
static SSL_SESSION *
dm_ssl_cache_get_cb(SSL *ssl, const unsigned char *id, int id_len, int *copy)
{
    dm_ssl_session_ctx_t *sc = dm_ssl_session_ctx(SSL_get_SSL_CTX(ssl));
    u_char der[DM_SSL_SESSION_MAX_DER];
    const u_char *p = der;
    dm_ssl_cache_view_t v;
    SSL_SESSION *sess;
    size_t len;

    *copy = 0;
    if (sc == NULL || sc->cache == NULL || sc->cache->data == NULL
        || id_len <= 0) {
        return NULL;
    }
    dm_ssl_cache_view(sc->cache, &v);
    if (dm_ssl_cache_fetch(&v, id, (size_t) id_len, (int64_t) dm_time_sec, der,
                           &len)
        != DM_OK) {
        return NULL;
    }
    sess = d2i_SSL_SESSION(NULL, &p, (long) len);
    OPENSSL_cleanse(der, len);
    return sess;
}

/* OpenSSL gives a session up (expired, or a failed handshake). */
static void
dm_ssl_cache_remove_cb(SSL_CTX *ctx, SSL_SESSION *sess)
{
    dm_ssl_session_ctx_t *sc = dm_ssl_session_ctx(ctx);
    const unsigned char *id;
    dm_ssl_cache_view_t v;
    unsigned int id_len;

    if (sc == NULL || sc->cache == NULL || sc->cache->data == NULL) {
        return;
    }
    id = SSL_SESSION_get_id(sess, &id_len);
    dm_ssl_cache_view(sc->cache, &v);
    dm_ssl_cache_remove(&v, id, id_len);
}

/* --- ticket keys: the ring ---------------------------------------------- */

/* A fresh random key of the long format. DM_OK or DM_ERROR. */
static dm_int_t
dm_ssl_tkey_random(dm_ssl_tkey_t *k, int64_t now)
{
    memset(k, 0, sizeof(*k));
    if (RAND_bytes((u_char *) &k->k, sizeof(k->k)) != 1) {
        return DM_ERROR;
    }
    k->size = DM_SSL_TICKET_KEY_LONG;
    k->created = now;
    return DM_OK;
}

static dm_int_t
dm_ssl_ring_init(dm_shm_zone_t *zone, int fresh)
{
    dm_ssl_ring_t *ring = zone->data;

    if (!fresh && ring && ring->magic == DM_SSL_RING_MAGIC && ring->nkeys >= 1
        && ring->nkeys <= DM_SSL_RING_KEYS) {
        /* reload or binary upgrade: tickets already out stay valid */
        return DM_OK;
    }
    ring = dm_shm_calloc(zone, sizeof(dm_ssl_ring_t));
    if (ring == NULL) {
        dm_log_error(DM_LOG_EMERG, zone->log, 0,
                     "cannot allocate the session ticket keys in \"%s\"",
                     zone->name.data);
        return DM_ERROR;
    }
    if (dm_ssl_tkey_random(&ring->keys[0], (int64_t) time(NULL)) != DM_OK) {
        dm_ssl_error(DM_LOG_EMERG, zone->log, 0,
                     "RAND_bytes() failed for a session ticket key");
        return DM_ERROR;
    }
    ring->nkeys = 1;
    ring->magic = DM_SSL_RING_MAGIC;
    dm_shm_root_set(zone, ring);
    zone->data = ring;
    return DM_OK;
}

static void
dm_ssl_ring_conf_cleanup(void *data)
{
    if (dm_ssl_ring_current == data) {
        dm_ssl_ring_current = NULL;
    }
}

/*
 * The ring of the configuration being read, declared with its zone the
 * first time a server needs it; period (seconds) raises its rotation
 * period. NULL after dm_conf_log_error (or on allocation failure).
 */
static dm_ssl_ring_conf_t *
dm_ssl_ring_get(dm_conf_t *cf, int64_t period)
{
    dm_ssl_ring_conf_t *rc = dm_ssl_ring_current;
    dm_pool_cleanup_t *cln;
    dm_shm_zone_t *zone;

    if (rc == NULL || rc->cycle != cf->cycle) {
        /* the same name, size and tag give the same zone every time, and
           the same zone again in the next cycle: the ring is kept */
        zone = dm_shm_zone_add(cf, &dm_ssl_ring_name, DM_SHM_MIN_SIZE,
                               DM_SSL_RING_VERSION, &dm_ssl_ticket_ring_tag);
        if (zone == NULL) {
            return NULL;
        }
        zone->init = dm_ssl_ring_init;
        rc = dm_pcalloc(cf->cycle->pool, sizeof(*rc));
        cln = rc ? dm_pool_cleanup_add(cf->cycle->pool, 0) : NULL;
        if (cln == NULL) {
            return NULL;
        }
        /* forgotten with the cycle, so that a later one never sees it */
        cln->handler = dm_ssl_ring_conf_cleanup;
        cln->data = rc;
        rc->cycle = cf->cycle;
        rc->zone = zone;
        rc->period = DM_SSL_RING_MIN_PERIOD;
        dm_ssl_ring_current = rc;
    }
    rc->period = dm_max(rc->period, period);
    return rc;
}

/* Whether the encrypting key is due for rotation (a clock stepped far
   back counts as due too: the key's age is unknown). */
static int
dm_ssl_ring_due(const dm_ssl_tkey_t *k, int64_t now, int64_t period)
{
    int64_t age = now - k->created;

    return age >= period || age < -period;
}

/*
 * Copies the encrypting key of the ring to *out, rotating the ring first
 * when the key is due: the first process to see it puts a new key in
 * front, and the oldest goes when the ring is full.
 */
static void
dm_ssl_ring_encrypt_key(dm_ssl_ring_conf_t *rc, dm_ssl_tkey_t *out)
{
    dm_ssl_ring_t *ring = rc->zone->data;
    int64_t now = (int64_t) dm_time_sec;
    dm_ssl_tkey_t fresh;
    int due;

    dm_shm_zone_lock(rc->zone);
    due = dm_ssl_ring_due(&ring->keys[0], now, rc->period);
    if (!due) {
        *out = ring->keys[0];
    }
    dm_shm_zone_unlock(rc->zone);
    if (!due) {
        return;
    }
    /* the new key is drawn outside the lock; another process may have
       rotated meanwhile, then its key is taken and ours dropped */
    due = dm_ssl_tkey_random(&fresh, now) == DM_OK;
    dm_shm_zone_lock(rc->zone);
    if (due && dm_ssl_ring_due(&ring->keys[0], now, rc->period)) {
        memmove(&ring->keys[1], &ring->keys[0],
                (DM_SSL_RING_KEYS - 1) * sizeof(dm_ssl_tkey_t));
        ring->keys[0] = fresh;
        if (ring->nkeys < DM_SSL_RING_KEYS) {
            ring->nkeys++;
        }
        ring->rotations++;
    }
    *out = ring->keys[0];
    dm_shm_zone_unlock(rc->zone);
    OPENSSL_cleanse(&fresh, sizeof(fresh));
}

/* The ring's key named `name` copied to *out: its index, or -1. */
static dm_int_t
dm_ssl_ring_decrypt_key(dm_ssl_ring_conf_t *rc, const u_char *name,
                        dm_ssl_tkey_t *out)
{
    dm_ssl_ring_t *ring = rc->zone->data;
    dm_int_t found = -1;
    uint32_t i;

    dm_shm_zone_lock(rc->zone);
    for (i = 0; i < ring->nkeys && i < DM_SSL_RING_KEYS; i++) {
        if (memcmp(ring->keys[i].k.name, name, 16) == 0) {
            *out = ring->keys[i];
            found = (dm_int_t) i;
            break;
        }
    }
    dm_shm_zone_unlock(rc->zone);
    return found;
}

/* --- ticket keys: files ------------------------------------------------- */

static void
dm_ssl_tkeys_cleanup(void *data)
{
    dm_ssl_session_ctx_t *sc = data;

    if (sc->keys) {
        OPENSSL_cleanse(sc->keys, sc->nkeys * sizeof(dm_ssl_tkey_t));
    }
}

/* Reads one key file into *k. DM_OK, or DM_ERROR after logging (the
   file's name and size, never its bytes). */
static dm_int_t
dm_ssl_tkey_read(dm_conf_t *cf, const dm_str_t *file, dm_ssl_tkey_t *k)
{
    u_char buf[DM_SSL_TICKET_KEY_LONG];
    dm_str_t path = *file;
    struct stat st;
    ssize_t n;
    int fd;

    if (dm_conf_full_name(cf->cycle, &path, 1) != DM_OK) {
        return DM_ERROR;
    }
    fd = open((const char *) path.data, O_RDONLY | O_CLOEXEC);
    if (fd == -1 || fstat(fd, &st) == -1) {
        dm_conf_log_error(DM_LOG_EMERG, cf, errno,
                          "cannot read the session ticket key \"%s\"",
                          (const char *) path.data);
        if (fd != -1) {
            close(fd);
        }
        return DM_ERROR;
    }
    if (st.st_size != DM_SSL_TICKET_KEY_LONG
        && st.st_size != DM_SSL_TICKET_KEY_SHORT) {
        close(fd);
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "session ticket key \"%s\" is %lld bytes, it must "
                          "be %d or %d bytes",
                          (const char *) path.data, (long long) st.st_size,
                          DM_SSL_TICKET_KEY_LONG, DM_SSL_TICKET_KEY_SHORT);
        return DM_ERROR;
    }
    n = read(fd, buf, (size_t) st.st_size);
    close(fd);
    if (n != st.st_size) {
        OPENSSL_cleanse(buf, sizeof(buf));
        dm_conf_log_error(DM_LOG_EMERG, cf, n == -1 ? errno : 0,
                          "cannot read the session ticket key \"%s\"",
                          (const char *) path.data);
        return DM_ERROR;
    }
    memset(k, 0, sizeof(*k));
    k->size = (uint32_t) n;
    memcpy(k->k.name, buf, 16);
    if (n == DM_SSL_TICKET_KEY_LONG) {
        memcpy(k->k.hmac, buf + 16, 32);
        memcpy(k->k.aes, buf + 48, 32);
    } else {
        /* nginx's 48-byte format: 16-byte HMAC secret, AES-128 */
        memcpy(k->k.hmac, buf + 16, 16);
        memcpy(k->k.aes, buf + 32, 16);
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    return DM_OK;
}

static dm_int_t
dm_ssl_tkeys_load(dm_conf_t *cf, dm_ssl_session_ctx_t *sc)
{
    dm_ssl_srv_conf_t *conf = sc->conf;
    dm_str_t *files = conf->ticket_key_files->elts;
    dm_pool_cleanup_t *cln;
    dm_uint_t i, n = conf->ticket_key_files->nelts;

    sc->keys = dm_pcalloc(cf->pool, n * sizeof(dm_ssl_tkey_t));
    cln = dm_pool_cleanup_add(cf->pool, 0);
    if (sc->keys == NULL || cln == NULL) {
        return DM_ERROR;
    }
    sc->nkeys = n;
    /* the pool's memory is wiped of the keys when it goes */
    cln->handler = dm_ssl_tkeys_cleanup;
    cln->data = sc;
    for (i = 0; i < n; i++) {
        if (dm_ssl_tkey_read(cf, &files[i], &sc->keys[i]) != DM_OK) {
            return DM_ERROR;
        }
    }
    return DM_OK;
}

/* --- ticket keys: OpenSSL's callback ------------------------------------ */

/* Sets the cipher and the MAC of a ticket with key k. 1, or -1. */
static int
dm_ssl_ticket_init(const dm_ssl_tkey_t *k, u_char *iv, EVP_CIPHER_CTX *ectx,
                   EVP_MAC_CTX *hctx, int enc)
{
    const EVP_CIPHER *cipher;
    OSSL_PARAM params[3];
    size_t hmac_len;

    if (k->size == DM_SSL_TICKET_KEY_SHORT) {
        cipher = EVP_aes_128_cbc();
        hmac_len = 16;
    } else {
        cipher = EVP_aes_256_cbc();
        hmac_len = 32;
    }
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
                                                  (void *) k->k.hmac, hmac_len);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) "SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    if (EVP_MAC_CTX_set_params(hctx, params) != 1) {
        return -1;
    }
    if (enc) {
        return EVP_EncryptInit_ex(ectx, cipher, NULL, k->k.aes, iv) == 1 ? 1
                                                                         : -1;
    }
    return EVP_DecryptInit_ex(ectx, cipher, NULL, k->k.aes, iv) == 1 ? 1 : -1;
}

/*
 * OpenSSL's ticket callback. Encrypting (enc = 1): the first key of the
 * files or the ring's encrypting key names the ticket, with a random IV.
 * Decrypting: the key of that name, if any is known (0: a full
 * handshake); 2 when it is not the encrypting one, so that the client gets
 * a ticket under the current key.
 */
static int
dm_ssl_ticket_cb(SSL *ssl, unsigned char *name, unsigned char *iv,
                 EVP_CIPHER_CTX *ectx, EVP_MAC_CTX *hctx, int enc)
{
    dm_ssl_session_ctx_t *sc = dm_ssl_session_ctx(SSL_get_SSL_CTX(ssl));
    dm_ssl_tkey_t k;
    dm_int_t i = -1;
    dm_uint_t j;
    int rc;

    if (sc == NULL || (sc->keys == NULL && sc->ring == NULL)
        || (sc->ring && sc->ring->zone->data == NULL)) {
        return 0; /* no ticket, or a full handshake */
    }
    if (enc) {
        if (sc->keys) {
            k = sc->keys[0];
        } else {
            dm_ssl_ring_encrypt_key(sc->ring, &k);
        }
        if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1) {
            OPENSSL_cleanse(&k, sizeof(k));
            return -1;
        }
        memcpy(name, k.k.name, 16);
        rc = dm_ssl_ticket_init(&k, iv, ectx, hctx, 1);
        OPENSSL_cleanse(&k, sizeof(k));
        return rc;
    }
    if (sc->keys) {
        for (j = 0; j < sc->nkeys; j++) {
            if (memcmp(sc->keys[j].k.name, name, 16) == 0) {
                k = sc->keys[j];
                i = (dm_int_t) j;
                break;
            }
        }
    } else {
        i = dm_ssl_ring_decrypt_key(sc->ring, name, &k);
    }
    if (i < 0) {
        /* a ticket of another node, or of a key rotated out */
        return 0;
    }
    rc = dm_ssl_ticket_init(&k, iv, ectx, hctx, 0);
    OPENSSL_cleanse(&k, sizeof(k));
    if (rc != 1) {
        return rc;
    }
    return i == 0 ? 1 : 2;
}

/* --- setup -------------------------------------------------------------- */

/*
 * The session id context: SHA-256 of what makes the server's policy (its
 * certificate files and client verification), so that every worker, the
 * next configuration and the next binary accept its sessions, and a
 * server with another policy does not.
 */
static dm_int_t
dm_ssl_session_id_context(dm_conf_t *cf, dm_ssl_srv_conf_t *conf)
{
    u_char md[EVP_MAX_MD_SIZE], num[64];
    dm_str_t *s;
    EVP_MD_CTX *mctx;
    unsigned int mdlen = 0;
    dm_uint_t i;
    int ok, n;

    mctx = EVP_MD_CTX_new();
    ok = mctx && EVP_DigestInit_ex(mctx, EVP_sha256(), NULL) == 1;
    ok = ok && EVP_DigestUpdate(mctx, "doorman session 1", 18) == 1;
    if (conf->certificates && conf->certificates != DM_CONF_UNSET_PTR) {
        s = conf->certificates->elts;
        for (i = 0; ok && i < conf->certificates->nelts; i++) {
            /* with the NUL: "ab" "c" differs from "a" "bc" */
            ok = EVP_DigestUpdate(mctx, s[i].data, s[i].len) == 1
                 && EVP_DigestUpdate(mctx, "", 1) == 1;
        }
    }
    n = snprintf((char *) num, sizeof(num), "|%lu|%ld|",
                 (unsigned long) conf->verify, (long) conf->verify_depth);
    ok = ok && EVP_DigestUpdate(mctx, num, (size_t) n) == 1;
    ok = ok
         && EVP_DigestUpdate(mctx, conf->client_certificate.data,
                             conf->client_certificate.len)
                == 1;
    ok = ok && EVP_DigestFinal_ex(mctx, md, &mdlen) == 1;
    EVP_MD_CTX_free(mctx);
    conf->sid_ctx_len = dm_min(mdlen, sizeof(conf->sid_ctx));
    memcpy(conf->sid_ctx, md, conf->sid_ctx_len);
    if (!ok
        || SSL_CTX_set_session_id_context(conf->ctx, conf->sid_ctx,
                                          (unsigned) conf->sid_ctx_len)
               != 1) {
        dm_ssl_conf_error(cf, "%scannot set the session id context", "");
        return DM_ERROR;
    }
    return DM_OK;
}

dm_int_t
dm_ssl_session_setup(dm_conf_t *cf, dm_ssl_srv_conf_t *conf)
{
    SSL_CTX *ctx = conf->ctx;
    dm_ssl_session_ctx_t *sc;
    int64_t timeout;
    int tickets;

    if (dm_ssl_session_index == -1) {
        dm_ssl_session_index =
            SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
        if (dm_ssl_session_index == -1) {
            dm_ssl_conf_error(cf, "%sSSL_CTX_get_ex_new_index() failed", "");
            return DM_ERROR;
        }
    }
    sc = dm_pcalloc(cf->pool, sizeof(*sc));
    if (sc == NULL) {
        return DM_ERROR;
    }
    sc->conf = conf;
    if (dm_ssl_session_id_context(cf, conf) != DM_OK) {
        return DM_ERROR;
    }

    timeout = (int64_t) (conf->session_timeout / 1000);
    timeout = dm_max(timeout, 1);
    (void) SSL_CTX_set_timeout(ctx, (long) timeout);
    /* no 0-RTT: early data can be replayed */
    (void) SSL_CTX_set_max_early_data(ctx, 0);

    switch (conf->session_cache) {
    case DM_SSL_CACHE_OFF:
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        break;
    case DM_SSL_CACHE_SHARED:
        if (conf->cache_zone == NULL) {
            dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                              "the shared session cache has no zone");
            return DM_ERROR;
        }
        /* OpenSSL's cache (per process) off, ours in the zone instead;
           NO_AUTO_CLEAR: nothing for OpenSSL to flush */
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER
                                                | SSL_SESS_CACHE_NO_AUTO_CLEAR
                                                | SSL_SESS_CACHE_NO_INTERNAL);
        SSL_CTX_sess_set_new_cb(ctx, dm_ssl_cache_new_cb);
        SSL_CTX_sess_set_get_cb(ctx, dm_ssl_cache_get_cb);
        SSL_CTX_sess_set_remove_cb(ctx, dm_ssl_cache_remove_cb);
        sc->cache = conf->cache_zone;
        break;
    default:
        /* "none": session ids are handed out, nothing is stored */
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER
                                                | SSL_SESS_CACHE_NO_INTERNAL);
        break;
    }

    tickets = conf->session_tickets ? 1 : 0;
    if (!tickets) {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    } else if (conf->ticket_key_files
               && conf->ticket_key_files != DM_CONF_UNSET_PTR
               && conf->ticket_key_files->nelts) {
        if (dm_ssl_tkeys_load(cf, sc) != DM_OK) {
            return DM_ERROR;
        }
    } else {
        sc->ring = dm_ssl_ring_get(cf, timeout);
        if (sc->ring == NULL) {
            return DM_ERROR;
        }
    }
    if (tickets
        && SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, dm_ssl_ticket_cb) != 1) {
        dm_ssl_conf_error(cf, "%scannot set the session ticket callback", "");
        return DM_ERROR;
    }
    /* one ticket per handshake is enough for a client that resumes one
       connection at a time; none when nothing could resume it (TLS 1.3
       without tickets hands out session ids only the cache can resume) */
    (void) SSL_CTX_set_num_tickets(
        ctx, (tickets || conf->session_cache == DM_SSL_CACHE_SHARED) ? 1 : 0);

    if (SSL_CTX_set_ex_data(ctx, dm_ssl_session_index, sc) != 1) {
        dm_ssl_conf_error(cf, "%sSSL_CTX_set_ex_data() failed", "");
        return DM_ERROR;
    }
    return DM_OK;
}

/*
 * doorman: request rate limiting per key in a shared zone (limit_req),
 * engine-neutral: nginx's leaky bucket, counted in milli-requests, with
 * one table for every worker. Include <dm_shm.h> first.
 */
#ifndef DM_LIMIT_REQ_H
#define DM_LIMIT_REQ_H

/* delay= when nodelay is given: no request within the burst waits. */
#define DM_LIMIT_REQ_NODELAY ((uint64_t) -1)

/*
 * Bytes one key costs in a zone: its entry (40) and its bucket head (4).
 * A zone holds (free pages * 4096 - 72) / 44 keys, where the free pages
 * are the zone's pages less the allocator's own (about 1.4%, and a few
 * pages for the header): 32k hold 650 keys, 1m 23,457, 10m 235,052. The
 * count is logged at notice level when the zone is set up.
 */
#define DM_LIMIT_REQ_KEY_COST 44

/* A limit_req_zone: its key, its rate and the table in its zone. */
typedef struct {
    dm_complex_value_t key; /* what is limited ($binary_remote_addr ...) */
    dm_shm_zone_t *zone;    /* the table lives at its root */
    dm_str_t name;          /* the zone's name */
    uint64_t rate;          /* milli-requests per second: 1r/s is 1000,
                               1r/m is 16 (as nginx, rounded down) */
} dm_limit_req_zone_t;

/* One limit_req line. */
typedef struct {
    dm_limit_req_zone_t *zone; /* NULL until the zone is found by name */
    dm_str_t zone_name;        /* zone=NAME as written */
    uint64_t burst;            /* burst=N, in milli-requests (N * 1000) */
    uint64_t delay;            /* delay=N in milli-requests: the excess
                                  served at once; DM_LIMIT_REQ_NODELAY */
    dm_str_t file;             /* where the line is, for late errors */
    dm_uint_t line;
} dm_limit_req_t;

/* What a zone's table holds (dm_limit_req_stats). */
typedef struct {
    dm_uint_t capacity; /* keys the table holds at most */
    dm_uint_t used;     /* keys in it now */
    dm_uint_t evicted;  /* keys dropped to make room since it was made */
} dm_limit_req_stats_t;

/*
 * Declares the zone of `limit_req_zone KEY zone=NAME:SIZE rate=R` from
 * cf->args (R is Nr/s or Nr/m; the size at least 32k). The key is
 * compiled against `reg`. Returns the zone, or NULL (logged).
 */
dm_limit_req_zone_t *dm_limit_req_zone_add(dm_conf_t *cf,
                                           dm_variable_registry_t *reg);

/*
 * Parses `limit_req zone=NAME [burst=N] [nodelay | delay=N]` from
 * cf->args into *l (l->zone stays NULL: the caller finds the zone by
 * l->zone_name, which may be declared later in the file). Returns DM_OK,
 * or DM_ERROR (logged).
 */
dm_int_t dm_limit_req_parse(dm_conf_t *cf, dm_limit_req_t *l);

/*
 * A zone's initializer (dm_shm_init_pt) with a cap on the keys (0: as
 * many as fit; tests use a small cap). A fresh zone gets its table; a
 * zone taken over keeps it. Logs the capacity at notice level. Returns
 * DM_OK or DM_ERROR.
 */
dm_int_t dm_limit_req_init_table(dm_shm_zone_t *zone, int fresh,
                                 dm_uint_t max_keys);

/*
 * The 64-bit hash the table keeps instead of the key (FNV-1a): two keys
 * with the same hash share one bucket state. Buckets are chosen from it
 * with a per-zone random multiplier, so clients cannot aim at one chain.
 */
uint64_t dm_limit_req_hash(const dm_str_t *key);

/*
 * The leaky bucket: the excess (milli-requests) after one more request,
 * given the stored excess `prev` and `ms` milliseconds since it was
 * stored: max(prev - rate * ms / 1000 + 1000, 0).
 */
uint64_t dm_limit_req_excess(uint64_t prev, uint64_t rate, dm_msec_t ms);

/*
 * How long a request with `excess` waits: 0 when excess <= delay, else
 * (excess - delay) * 1000 / rate milliseconds.
 */
dm_msec_t dm_limit_req_delay(uint64_t excess, uint64_t delay, uint64_t rate);

/*
 * Looks `hash` up at time `now` (dm_current_msec), making it the most
 * recently used key; a new key takes a free entry or the least recently
 * used key's. *excess gets the excess this request would bring. Returns
 * DM_BUSY when it is over `burst` (nothing stored), else DM_OK: with
 * `account` the excess is stored; without, the caller stores it later
 * with dm_limit_req_account once every other limit has passed (several
 * limit_req lines: only a request that passes them all is counted).
 */
dm_int_t dm_limit_req_lookup(dm_limit_req_zone_t *lz, uint64_t hash,
                             uint64_t burst, int account, dm_msec_t now,
                             uint64_t *excess);

/*
 * Counts the request that dm_limit_req_lookup(account = 0) let through:
 * stores and returns in *excess the excess at `now` (a key evicted in
 * between starts again).
 */
void dm_limit_req_account(dm_limit_req_zone_t *lz, uint64_t hash, dm_msec_t now,
                          uint64_t *excess);

/* Fills *st from the zone's table (under the zone lock). */
void dm_limit_req_stats(dm_limit_req_zone_t *lz, dm_limit_req_stats_t *st);

#endif /* DM_LIMIT_REQ_H */

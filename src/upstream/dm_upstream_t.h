/*
 * doorman: the upstream layer, types (both engines, DESIGN.md section 5).
 *
 * A group (upstream NAME { }) holds peers (one per address of each server
 * line). What all workers must agree on lives in the shared zone
 * "doorman_upstream": each peer's health record (passive failures, down,
 * drain, recovery time), keyed by (engine, group, peer identity) so that
 * a reload or a binary upgrade keeps it; and per group, the smooth
 * weighted round-robin cursor and the per-process connection counts.
 */
#ifndef DM_UPSTREAM_T_H
#define DM_UPSTREAM_T_H

/* Most peers in one group (a bitmap of tried peers covers them all). */
#define DM_UPSTREAM_MAX_PEERS 1024

/* Per-peer counters, in the group's counters area (peer * K + which). */
#define DM_UPSTREAM_C_ACTIVE   0 /* connections open now (per process) */
#define DM_UPSTREAM_C_SELECTED 1 /* times chosen */
#define DM_UPSTREAM_C_FAILED   2 /* failed attempts */
#define DM_UPSTREAM_C_BYTES    3 /* bytes moved, both ways */
#define DM_UPSTREAM_COUNTERS   4

/* Balancers. */
#define DM_UPSTREAM_RR         0 /* smooth weighted round robin */
#define DM_UPSTREAM_LEAST_CONN 1
#define DM_UPSTREAM_HASH       2 /* hash KEY */
#define DM_UPSTREAM_CHASH      3 /* hash KEY consistent (ketama ring) */
#define DM_UPSTREAM_RANDOM     4 /* random */
#define DM_UPSTREAM_RANDOM_TWO 5 /* random two [least_conn] */

/* A peer's health record, in the shared zone. Fields change under no
   lock: each is one aligned word written with relaxed atomics. */
typedef struct {
    uint64_t key;         /* hash of (engine, group, identity) */
    uint32_t refs;        /* configurations using it (master only) */
    uint32_t fails;       /* passive failures in the current window */
    uint64_t fail_start;  /* monotonic ms when the window began */
    uint64_t down_until;  /* passive: out until then (monotonic ms) */
    uint64_t recovered;   /* when it last came back (slow_start) */
    uint32_t health_down; /* set by active health checks */
    uint32_t drain;       /* runtime drain override (1 = draining) */
    uint64_t next;        /* offset of the next record in its bucket */
    /* active health checks (written by the helper only) */
    uint32_t hc_flags;  /* DM_UPSTREAM_HC_* */
    uint32_t hc_ok;     /* consecutive successful probes */
    uint32_t hc_bad;    /* consecutive failed probes */
    uint32_t hc_pad;    /* keeps the words below aligned */
    uint64_t hc_last;   /* monotonic ms when the last probe started */
    uint64_t hc_probes; /* probes made (metrics) */
    uint64_t hc_failed; /* probes that failed (metrics) */
    uint64_t hc_downs;  /* UP -> DOWN transitions (metrics) */
    uint64_t hc_ups;    /* DOWN -> UP transitions (metrics) */
    /* server NAME resolve: the address of this slot, written by the
       helper (a sequence count, odd while it writes), 0 bytes: empty */
    uint32_t dyn_seq;
    uint32_t dyn_len;
    uint8_t dyn_addr[32];
} dm_upstream_peer_state_t;

/* Addresses one `server NAME resolve` line may take (a peer slot each). */
#define DM_UPSTREAM_RESOLVE_SLOTS 8

/* hc_flags: the record was set up by a health check (initial= applied) */
#define DM_UPSTREAM_HC_INIT 0x01

/* A group's shared state. */
typedef struct {
    uint64_t key; /* hash of (engine, group, peer set) */
    uint32_t refs;
    uint32_t npeers;
    dm_shm_lock_t lock; /* guards the round-robin weights */
    uint64_t counters;  /* offset of its dm_shm_counters_t */
    uint64_t weights;   /* offset of npeers int64 current weights */
    uint64_t next;      /* next group record in its bucket */
} dm_upstream_group_state_t;

typedef struct dm_upstream_group_s dm_upstream_group_t;

/* One peer (an address of a server line), configuration time. */
typedef struct {
    dm_str_t name;             /* the server line's address as written */
    dm_str_t id;               /* stable identity: route= or the name */
    struct sockaddr *sockaddr; /* resolved at load */
    socklen_t socklen;
    dm_str_t addr_text;              /* "10.0.0.1:80", for logs and variables */
    dm_uint_t weight;                /* weight= (1) */
    dm_uint_t max_fails;             /* max_fails= (1; 0 disables) */
    dm_msec_t fail_timeout;          /* fail_timeout= (10s) */
    dm_uint_t max_conns;             /* max_conns= (0: no limit) */
    dm_msec_t slow_start;            /* slow_start= (0) */
    dm_uint_t index;                 /* position in the group */
    dm_upstream_peer_state_t *state; /* its shared record */
    unsigned backup:1;               /* used only when no primary is eligible */
    unsigned down:1;                 /* marked down in the configuration */
    unsigned drain:1;                /* drain: keeps bound sessions, no new */
    unsigned srv:1;                  /* resolve service=: host is the SRV
                                        name, ports come from its records */
    unsigned resolve:1;              /* one slot of a `resolve` server:
                                        its address comes from the zone */
    dm_str_t host;                   /* resolve: the name to query */
    dm_str_t service;                /* resolve service=NAME */
    in_port_t port;                  /* resolve: the port of its addresses */
} dm_upstream_peer_t;

/* A point of the consistent-hash ring. */
typedef struct {
    uint32_t hash;
    dm_uint_t peer;
} dm_upstream_point_t;

struct dm_upstream_group_s {
    dm_str_t name;             /* the upstream's name */
    dm_uint_t engine;          /* DM_MODULE_STREAM or DM_MODULE_HTTP */
    dm_upstream_peer_t *peers; /* primaries first, then backups */
    dm_uint_t npeers;
    dm_uint_t nprimary;          /* peers[0 .. nprimary-1] are primaries */
    dm_uint_t total_weight;      /* of the primaries */
    dm_uint_t balancer;          /* DM_UPSTREAM_* */
    dm_complex_value_t hash_key; /* hash KEY */
    dm_upstream_point_t *points; /* consistent ring, sorted */
    dm_uint_t npoints;
    unsigned two_least_conn:1;        /* random two least_conn */
    unsigned health_try_all:1;        /* health_check all_down=try_all */
    dm_upstream_group_state_t *state; /* shared state */
    dm_shm_counters_t *counters;      /* its counters area */
    int64_t *weights;                 /* shared smooth-WRR current weights */
    dm_str_t file;                    /* where the block is */
    dm_uint_t line;
};

/*
 * One selection: which group, which peers were tried, the result. Lives
 * in the session or request (one per proxied session).
 */
typedef struct {
    dm_upstream_group_t *group;
    dm_variable_env_t *env; /* for the hash key */
    dm_log_t *log;
    uint64_t tried[DM_UPSTREAM_MAX_PEERS / 64]; /* bitmap */
    dm_upstream_peer_t *peer;                   /* the current choice */
    dm_upstream_peer_t *bound; /* a peer the session is bound to */
    dm_uint_t tries;           /* attempts so far */
    uint32_t hash;             /* hash state (rehash for hash KEY) */
    dm_uint_t rehash;
    unsigned hashed:1;        /* the key was hashed */
    unsigned ignore_health:1; /* all_down=try_all: every peer was down */
    unsigned connected:1;     /* counted in ACTIVE for peer */
} dm_upstream_pick_t;

#endif /* DM_UPSTREAM_T_H */

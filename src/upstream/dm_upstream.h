/*
 * doorman: the upstream layer: groups, peers, balancers and shared peer
 * state, one implementation for both engines.
 */
#ifndef DM_UPSTREAM_H
#define DM_UPSTREAM_H

#include <dm_shm.h>
#include <dm_upstream_t.h>
#include <dm_upstream_conf.h>

/*
 * Starts a selection for a session or request: nothing tried yet, no
 * peer. env is used to evaluate a hash key.
 */
void dm_upstream_pick_init(dm_upstream_pick_t *pick, dm_upstream_group_t *g,
                           dm_variable_env_t *env, dm_log_t *log);

/*
 * Chooses the next peer (DESIGN.md section 5): a bound peer if it is
 * eligible (a draining one included), else the balancer over the
 * eligible primaries, else over the eligible backups. The chosen peer is
 * marked tried and counted as selected; a debug line says why. Returns
 * the peer, or NULL when no peer is eligible (every one down, full or
 * tried).
 */
dm_upstream_peer_t *dm_upstream_select(dm_upstream_pick_t *pick);

/*
 * Whether `peer` may take a new connection now, and if not why (a short
 * static string for logs). `bound`: the session is bound to this peer (a
 * draining peer keeps its bound sessions).
 */
int dm_upstream_eligible(dm_upstream_pick_t *pick, dm_upstream_peer_t *peer,
                         int bound, const char **why);

/*
 * Accounting for the current choice: connected (ACTIVE +1 in this
 * process's row), done (ACTIVE -1, bytes added), failed (a passive
 * failure: max_fails within fail_timeout takes the peer out for
 * fail_timeout, seen by every worker at once), succeeded (a success
 * after the peer came back starts its slow start).
 */
void dm_upstream_connected(dm_upstream_pick_t *pick);
void dm_upstream_done(dm_upstream_pick_t *pick, uint64_t bytes);
void dm_upstream_failed(dm_upstream_pick_t *pick);
void dm_upstream_succeeded(dm_upstream_pick_t *pick);

/*
 * A `server NAME resolve` slot: copies its address from the zone into
 * the peer (sockaddr, socklen, addr_text) when it changed. Returns 1
 * when the slot holds an address, 0 when it is empty (not eligible).
 */
int dm_upstream_peer_refresh(dm_upstream_peer_t *peer);

/*
 * The helper process: follows the `resolve` names of an engine's
 * upstreams (dm_upstream_resolve.c). Returns DM_OK or DM_ERROR.
 */
dm_int_t dm_upstream_resolve_start(dm_cycle_t *cycle,
                                   dm_upstream_main_conf_t *umcf);

/* The effective weight of a peer now (slow_start ramps it). */
dm_uint_t dm_upstream_weight(dm_upstream_peer_t *peer);

/* Active connections of a peer, summed over every process. */
uint64_t dm_upstream_active(dm_upstream_group_t *g, dm_upstream_peer_t *peer);

/* The balancers (each in its own file), over the eligible peers of
   [from, to) of the group. Return NULL when none is eligible. */
dm_upstream_peer_t *dm_upstream_rr_select(dm_upstream_pick_t *pick,
                                          dm_uint_t from, dm_uint_t to);
dm_upstream_peer_t *dm_upstream_least_conn_select(dm_upstream_pick_t *pick,
                                                  dm_uint_t from, dm_uint_t to);
dm_upstream_peer_t *dm_upstream_hash_select(dm_upstream_pick_t *pick,
                                            dm_uint_t from, dm_uint_t to);
dm_upstream_peer_t *dm_upstream_chash_select(dm_upstream_pick_t *pick,
                                             dm_uint_t from, dm_uint_t to);
dm_upstream_peer_t *dm_upstream_random_select(dm_upstream_pick_t *pick,
                                              dm_uint_t from, dm_uint_t to);

/*
 * Builds the consistent-hash ring of a group exactly as nginx does (160
 * points per unit of weight from crc32(HOST \0 PORT PREV_HASH)), so keys
 * land on the same servers as with nginx. Returns DM_OK or DM_ERROR.
 */
dm_int_t dm_upstream_chash_init(dm_pool_t *pool, dm_upstream_group_t *g);

/*
 * The shared state: declares the zone (configuration time), binds every
 * group of a cycle to its records (master, after the zones are mapped;
 * records are shared with the previous generation by key), releases them
 * when the cycle is freed.
 */
dm_int_t dm_upstream_state_declare(dm_conf_t *cf);
dm_int_t dm_upstream_state_bind(dm_cycle_t *cycle, dm_upstream_group_t *g);

/* Test hook: a process-local state for groups without a zone. */
dm_int_t dm_upstream_state_local(dm_pool_t *pool, dm_upstream_group_t *g);

#endif /* DM_UPSTREAM_H */

/*
 * doorman: listening sockets.
 */
#ifndef DM_LISTENING_H
#define DM_LISTENING_H

#include <dm_listening_t.h>

/* backlog= default, as nginx on Linux. */
#define DM_LISTENING_BACKLOG 511

/*
 * Adds a listening socket for `addr` to the cycle (not opened yet), with
 * defaults for every option. Returns it, or NULL on allocation failure.
 */
dm_listening_t *dm_listening_add(dm_cycle_t *cycle, const dm_inet_addr_t *addr,
                                 int type);

/*
 * Opens, configures, binds and (for TCP) listens on every socket of the
 * cycle that is not open yet. A port held by another process fails with
 * "bind() to ADDR failed (98: Address already in use)". Returns DM_OK or
 * DM_ERROR (sockets opened by this call are closed again).
 */
dm_int_t dm_listening_open_all(dm_cycle_t *cycle);

/* Closes every open socket of the cycle. */
void dm_listening_close_all(dm_cycle_t *cycle);

/*
 * Expands every address of the cycle to `nslots` slot sockets (copies of
 * the engine's entry with worker = 0 .. nslots-1, SO_REUSEPORT on). Unix
 * sockets cannot be split: they stay one socket every worker accepts on.
 * Returns DM_OK or DM_ERROR.
 */
dm_int_t dm_listening_set_slots(dm_cycle_t *cycle, dm_uint_t nslots);

/* The number of slots of the cycle's groups (0 without sockets). */
dm_uint_t dm_listening_slots(dm_cycle_t *cycle);

/*
 * Takes over, for every entry of `cycle`, the open socket of `old` with
 * the same address, type and slot (or, with old == NULL, one passed by the
 * previous binary, see dm_listening_import). The socket object stays the
 * same: its queue and its place in the SO_REUSEPORT group are kept.
 */
void dm_listening_inherit(dm_cycle_t *cycle, dm_cycle_t *old);

/*
 * The reload committed: `cycle` now owns the sockets it inherited, and
 * `old` will close only those nobody took over.
 */
void dm_listening_commit(dm_cycle_t *cycle);

/*
 * Steers new connections of every group to the first `nworkers` slots
 * with a reuseport BPF program (hash of the client port modulo nworkers),
 * so slots beyond the worker count get no new connections while their
 * queues drain. Failure is logged and harmless (every slot is still
 * served, see dm_event_accept_start).
 */
void dm_listening_steer(dm_cycle_t *cycle, dm_uint_t nworkers);

/*
 * Binary upgrade: writes "FD:SLOT:TYPE:ADDRESS;..." for every socket into
 * buf and clears their close-on-exec flag. Returns the length, or -1 when
 * buf is too small.
 */
ssize_t dm_listening_export(dm_cycle_t *cycle, char *buf, size_t len);

/* Sets close-on-exec again on every socket (after the exec was started). */
void dm_listening_cloexec(dm_cycle_t *cycle);

/*
 * In a new binary: takes the list exported by the old one (strictly
 * parsed; each fd is checked to be a socket bound to that address).
 * Returns DM_OK or DM_ERROR.
 */
dm_int_t dm_listening_import(const char *list, dm_log_t *log);

/*
 * In a child: closes the sockets it will not accept on (worker `slot` of
 * `nworkers` keeps the slots s with s % nworkers == slot and the unix
 * sockets; the helper, slot DM_LISTENING_ANY_SLOT, keeps none), so each
 * worker holds exactly its own slots' sockets.
 */
void dm_listening_keep_slot(dm_cycle_t *cycle, dm_uint_t slot,
                            dm_uint_t nworkers);

/* Closes imported sockets that no entry took over. */
void dm_listening_import_done(void);

#endif /* DM_LISTENING_H */

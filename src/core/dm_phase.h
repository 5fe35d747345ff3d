/*
 * doorman: the phase pipeline (DESIGN.md section 5).
 *
 * Modules register handlers per phase from their postconfiguration hooks;
 * the engine flattens them once into one array, and a session or request
 * walks it with an index, so resuming after DM_AGAIN is a call with the
 * same index.
 */
#ifndef DM_PHASE_H
#define DM_PHASE_H

#include <dm_phase_t.h>

/*
 * Prepares an engine with `nphases` phases, `log_phase` being the one run
 * at finalization. Returns DM_OK or DM_ERROR.
 */
dm_int_t dm_phase_init(dm_phase_engine_t *pe, dm_pool_t *pool,
                       dm_uint_t nphases, dm_uint_t log_phase);

/*
 * Registers a handler in a phase; handlers of a phase run in registration
 * order. Returns DM_OK or DM_ERROR.
 */
dm_int_t dm_phase_add(dm_phase_engine_t *pe, dm_uint_t phase,
                      dm_phase_handler_pt handler);

/*
 * Builds the flat array from the registrations. Returns DM_OK or
 * DM_ERROR.
 */
dm_int_t dm_phase_flatten(dm_phase_engine_t *pe, dm_pool_t *pool);

/*
 * Runs handlers from *index on. Returns DM_OK when every phase is done,
 * or the DM_AGAIN, DM_DONE or DM_ERROR of the handler that stopped the
 * walk; *index then points at that handler (for DM_AGAIN, calling again
 * resumes there).
 */
dm_int_t dm_phase_run(const dm_phase_engine_t *pe, dm_uint_t *index, void *obj);

/*
 * The index of the first handler of `phase` or of a later phase (the
 * number of handlers when none): where a walk restarts at that phase.
 */
dm_uint_t dm_phase_first(const dm_phase_engine_t *pe, dm_uint_t phase);

/* Runs every LOG-phase handler (results ignored: logging cannot fail a
   session that is already over). */
void dm_phase_run_log(const dm_phase_engine_t *pe, void *obj);

#endif /* DM_PHASE_H */

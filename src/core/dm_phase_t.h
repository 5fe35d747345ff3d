/*
 * doorman: the phase pipeline, types (shared by both engines).
 */
#ifndef DM_PHASE_T_H
#define DM_PHASE_T_H

/* Most phases an engine may define. */
#define DM_PHASE_MAX 16

/*
 * A phase handler gets the session or request it works on. It returns
 * DM_OK (this phase is done: go to the next phase), DM_DECLINED (not mine:
 * next handler of this phase), DM_AGAIN (waiting for an event: run me
 * again when it comes), DM_DONE (the session was finished or handed
 * over), DM_PHASE_JUMP (it set the walk's index itself: go on from
 * there) or DM_ERROR (finalize with an error).
 */
#define DM_PHASE_JUMP -16
typedef dm_int_t (*dm_phase_handler_pt)(void *obj);

/* One handler in the flattened array. */
typedef struct {
    dm_phase_handler_pt handler; /* the module's handler */
    dm_uint_t phase;             /* its phase */
    dm_uint_t next;              /* index of the next phase's first handler */
} dm_phase_handler_t;

/* An engine's pipeline: registration arrays, then the flat array. */
typedef struct {
    dm_uint_t nphases;                   /* phases of the engine */
    dm_uint_t log_phase;                 /* run at finalization, not in order */
    dm_array_t registered[DM_PHASE_MAX]; /* dm_phase_handler_pt per phase */
    dm_phase_handler_t *handlers; /* flat, in phase order, LOG excluded */
    dm_uint_t nhandlers;
    dm_phase_handler_pt *log; /* the LOG phase's handlers */
    dm_uint_t nlog;
} dm_phase_engine_t;

#endif /* DM_PHASE_T_H */

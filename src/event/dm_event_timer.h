/*
 * doorman: event timers.
 *
 * A 4-ary min-heap of events keyed by expiry on the cached monotonic
 * clock: the nearest timer is at the root, insertion and removal are
 * O(log n) with shallow trees (four children per node keeps the heap about
 * half as deep as a binary one and the children of a node in one or two
 * cache lines).
 */
#ifndef DM_EVENT_TIMER_H
#define DM_EVENT_TIMER_H

/* Returned by dm_event_timer_find when no timer is armed. */
#define DM_EVENT_TIMER_INFINITE ((dm_msec_t) -1)

/*
 * A timer moved by less than this is left where it is (lazy re-arming):
 * an idle timeout pushed forward on every read costs nothing, at the price
 * of firing up to this much late.
 */
#define DM_EVENT_TIMER_LAZY_DELAY 300

/*
 * Prepares the heap for `hint` timers (it grows past that if needed).
 * Returns DM_OK or DM_ERROR.
 */
dm_int_t dm_event_timer_init(dm_uint_t hint, dm_log_t *log);

/* Frees the heap (at process exit, for leak checkers). */
void dm_event_timer_done(void);

/*
 * Arms ev to fire `timer` ms from now. An armed timer that would move by
 * less than DM_EVENT_TIMER_LAZY_DELAY is left as it is. Returns DM_OK, or
 * DM_ERROR when the heap cannot grow (the caller should fail the
 * connection).
 */
dm_int_t dm_event_timer_add(dm_event_t *ev, dm_msec_t timer);

/* Disarms ev's timer; harmless when none is set. */
void dm_event_timer_del(dm_event_t *ev);

/*
 * Milliseconds until the nearest timer (0 if one is due), or
 * DM_EVENT_TIMER_INFINITE when none is armed.
 */
dm_msec_t dm_event_timer_find(void);

/*
 * Runs the handler of every timer due at dm_current_msec, with
 * ev->timedout set, in expiry order.
 */
void dm_event_timer_expire(void);

/*
 * Returns 1 when only cancelable timers remain (a worker that is shutting
 * down may exit), 0 otherwise.
 */
int dm_event_timer_no_timers_left(void);

/* Number of armed timers. */
dm_uint_t dm_event_timer_count(void);

#endif /* DM_EVENT_TIMER_H */

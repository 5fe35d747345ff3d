/*
 * doorman: posted events: work queued to run later in the same turn.
 *
 * Handlers post instead of recursing (an accept loop that reached its cap,
 * a connection whose peer became ready while we were busy), so that one
 * busy socket cannot monopolize a turn.
 */
#include <dm_core.h>
#include <dm_event.h>

dm_queue_t dm_event_posted;
dm_queue_t dm_event_posted_accept;

void
dm_event_post(dm_event_t *ev, dm_queue_t *q)
{
    if (ev->posted) {
        return;
    }
    ev->posted = 1;
    dm_queue_insert_tail(q, &ev->queue);
}

void
dm_event_posted_del(dm_event_t *ev)
{
    if (!ev->posted) {
        return;
    }
    ev->posted = 0;
    dm_queue_remove(&ev->queue);
}

void
dm_event_posted_run(dm_queue_t *q)
{
    dm_event_t *ev;
    dm_queue_t *link;

    while (!dm_queue_empty(q)) {
        link = dm_queue_head(q);
        ev = dm_queue_data(link, dm_event_t, queue);
        dm_event_posted_del(ev);
        ev->handler(ev);
    }
}

void
dm_event_empty_handler(dm_event_t *ev)
{
}

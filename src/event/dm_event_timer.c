/*
 * doorman: event timers (4-ary min-heap).
 */
#include <dm_core.h>
#include <dm_event.h>

typedef struct {
    dm_msec_t key;  /* copy of ev->timer_key: compared without a deref */
    dm_event_t *ev; /* the event */
} dm_event_timer_slot_t;

static dm_event_timer_slot_t *dm_event_timer_heap;
static dm_uint_t dm_event_timer_n;
static dm_uint_t dm_event_timer_cap;
static dm_log_t *dm_event_timer_log;

#define DM_HEAP_PARENT(i) (((i) -1) >> 2)
#define DM_HEAP_CHILD(i)  (((i) << 2) + 1)

static void
dm_event_timer_place(dm_uint_t i, dm_event_timer_slot_t s)
{
    dm_event_timer_heap[i] = s;
    s.ev->timer_index = i;
}

static void
dm_event_timer_up(dm_uint_t i)
{
    dm_event_timer_slot_t s = dm_event_timer_heap[i];

    while (i > 0) {
        dm_uint_t p = DM_HEAP_PARENT(i);

        if (dm_event_timer_heap[p].key <= s.key) {
            break;
        }
        dm_event_timer_place(i, dm_event_timer_heap[p]);
        i = p;
    }
    dm_event_timer_place(i, s);
}

static void
dm_event_timer_down(dm_uint_t i)
{
    dm_event_timer_slot_t s = dm_event_timer_heap[i];
    dm_uint_t c, k, best;

    for (;;) {
        c = DM_HEAP_CHILD(i);
        if (c >= dm_event_timer_n) {
            break;
        }
        best = c;
        for (k = c + 1; k < c + 4 && k < dm_event_timer_n; k++) {
            if (dm_event_timer_heap[k].key < dm_event_timer_heap[best].key) {
                best = k;
            }
        }
        if (dm_event_timer_heap[best].key >= s.key) {
            break;
        }
        dm_event_timer_place(i, dm_event_timer_heap[best]);
        i = best;
    }
    dm_event_timer_place(i, s);
}

dm_int_t
dm_event_timer_init(dm_uint_t hint, dm_log_t *log)
{
    dm_event_timer_log = log;
    dm_event_timer_n = 0;
    dm_event_timer_cap = hint ? hint : 64;
    free(dm_event_timer_heap);
    dm_event_timer_heap =
        malloc(dm_event_timer_cap * sizeof(dm_event_timer_slot_t));
    if (dm_event_timer_heap == NULL) {
        dm_log_error(DM_LOG_EMERG, log, ENOMEM, "timer heap allocation failed");
        return DM_ERROR;
    }
    return DM_OK;
}

void
dm_event_timer_done(void)
{
    free(dm_event_timer_heap);
    dm_event_timer_heap = NULL;
    dm_event_timer_n = 0;
    dm_event_timer_cap = 0;
}

dm_int_t
dm_event_timer_add(dm_event_t *ev, dm_msec_t timer)
{
    dm_msec_t key = dm_current_msec + timer;
    dm_event_timer_slot_t s;

    if (ev->timer_set) {
        dm_msec_t diff =
            key > ev->timer_key ? key - ev->timer_key : ev->timer_key - key;

        if (diff < DM_EVENT_TIMER_LAZY_DELAY) {
            return DM_OK;
        }
        dm_event_timer_del(ev);
    }

    if (dm_event_timer_n == dm_event_timer_cap) {
        /*
         * Sized at start for two timers per connection; growing means a
         * module arms more than that. A realloc here is rare and bounded
         * by the connection limit.
         */
        dm_event_timer_slot_t *h;
        dm_uint_t cap = dm_event_timer_cap * 2;

        h = realloc(dm_event_timer_heap, cap * sizeof(dm_event_timer_slot_t));
        if (h == NULL) {
            dm_log_error(DM_LOG_ALERT, ev->log, ENOMEM,
                         "timer heap cannot grow to %lu", (unsigned long) cap);
            return DM_ERROR;
        }
        dm_event_timer_heap = h;
        dm_event_timer_cap = cap;
    }

    ev->timer_key = key;
    ev->timer_set = 1;
    s.key = key;
    s.ev = ev;
    dm_event_timer_heap[dm_event_timer_n] = s;
    ev->timer_index = dm_event_timer_n++;
    dm_event_timer_up(ev->timer_index);
    return DM_OK;
}

void
dm_event_timer_del(dm_event_t *ev)
{
    dm_uint_t i = ev->timer_index;

    if (!ev->timer_set) {
        return;
    }
    ev->timer_set = 0;
    dm_event_timer_n--;
    if (i == dm_event_timer_n) {
        return;
    }
    /* move the last slot into the hole and restore the heap order */
    dm_event_timer_place(i, dm_event_timer_heap[dm_event_timer_n]);
    if (i > 0
        && dm_event_timer_heap[i].key
               < dm_event_timer_heap[DM_HEAP_PARENT(i)].key) {
        dm_event_timer_up(i);
    } else {
        dm_event_timer_down(i);
    }
}

dm_msec_t
dm_event_timer_find(void)
{
    dm_msec_t key;

    if (dm_event_timer_n == 0) {
        return DM_EVENT_TIMER_INFINITE;
    }
    key = dm_event_timer_heap[0].key;
    return key > dm_current_msec ? key - dm_current_msec : 0;
}

void
dm_event_timer_expire(void)
{
    dm_event_t *ev;

    while (dm_event_timer_n && dm_event_timer_heap[0].key <= dm_current_msec) {
        ev = dm_event_timer_heap[0].ev;
        dm_event_timer_del(ev);
        ev->timedout = 1;
        ev->handler(ev);
    }
}

int
dm_event_timer_no_timers_left(void)
{
    dm_uint_t i;

    for (i = 0; i < dm_event_timer_n; i++) {
        if (!dm_event_timer_heap[i].ev->cancelable) {
            return 0;
        }
    }
    return 1;
}

dm_uint_t
dm_event_timer_count(void)
{
    return dm_event_timer_n;
}

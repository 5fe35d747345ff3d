/*
 * doorman: intrusive doubly linked queues (posted events, reusable
 * connections, free lists that need removal from the middle).
 *
 * A queue head is a sentinel node; an element embeds a node. All
 * operations are O(1) and allocate nothing.
 */
#ifndef DM_QUEUE_H
#define DM_QUEUE_H

typedef struct dm_queue_s dm_queue_t;

struct dm_queue_s {
    dm_queue_t *prev;
    dm_queue_t *next;
};

#define dm_queue_init(q)                                                       \
    (q)->prev = q;                                                             \
    (q)->next = q
#define dm_queue_empty(h)    ((h) == (h)->prev)
#define dm_queue_head(h)     (h)->next
#define dm_queue_last(h)     (h)->prev
#define dm_queue_sentinel(h) (h)
#define dm_queue_next(q)     (q)->next

/* Inserts x right after h (at the head). */
#define dm_queue_insert_head(h, x)                                             \
    (x)->next = (h)->next;                                                     \
    (x)->next->prev = x;                                                       \
    (x)->prev = h;                                                             \
    (h)->next = x

/* Inserts x before h (at the tail). */
#define dm_queue_insert_tail(h, x)                                             \
    (x)->prev = (h)->prev;                                                     \
    (x)->prev->next = x;                                                       \
    (x)->next = h;                                                             \
    (h)->prev = x

/* Unlinks x; x's links are left pointing at itself. */
#define dm_queue_remove(x)                                                     \
    (x)->next->prev = (x)->prev;                                               \
    (x)->prev->next = (x)->next;                                               \
    (x)->prev = x;                                                             \
    (x)->next = x

/* The structure of `type` whose member `link` is q. */
#define dm_queue_data(q, type, link)                                           \
    ((type *) ((u_char *) (q) -offsetof(type, link)))

#endif /* DM_QUEUE_H */

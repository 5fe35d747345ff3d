/*
 * doorman: the channel between the master and each child: a SOCK_SEQPACKET
 * socketpair carrying fixed-size messages, so a message is never split and
 * a closed end is seen as EOF by the other.
 */
#ifndef DM_CHANNEL_H
#define DM_CHANNEL_H

/* Master to child. */
#define DM_CHANNEL_QUIT      1 /* retire gracefully */
#define DM_CHANNEL_TERMINATE 2 /* exit now */
#define DM_CHANNEL_REOPEN    3 /* reopen log files */
/* Child to master. */
#define DM_CHANNEL_READY 16 /* initialized and accepting */

typedef struct {
    uint32_t command;    /* DM_CHANNEL_* */
    uint32_t generation; /* of the sender or the addressee */
    int32_t pid;         /* of the sender */
    int32_t slot;        /* the worker slot, -1 for the helper */
} dm_channel_msg_t;

/*
 * Opens a socketpair: fds[0] for the master, fds[1] for the child, both
 * non-blocking and close-on-exec. Returns DM_OK or DM_ERROR (logged).
 */
dm_int_t dm_channel_open(int fds[2], dm_log_t *log);

/*
 * Sends one message without blocking. Returns DM_OK, DM_AGAIN when the
 * peer's queue is full, or DM_ERROR.
 */
dm_int_t dm_channel_send(int fd, const dm_channel_msg_t *msg, dm_log_t *log);

/*
 * Receives one message. Returns DM_OK, DM_AGAIN when none is pending,
 * DM_DONE when the other end is closed, or DM_ERROR.
 */
dm_int_t dm_channel_recv(int fd, dm_channel_msg_t *msg, dm_log_t *log);

#endif /* DM_CHANNEL_H */

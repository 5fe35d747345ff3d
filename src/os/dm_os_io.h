/*
 * doorman: plain socket I/O, the default hooks of a connection.
 */
#ifndef DM_OS_IO_H
#define DM_OS_IO_H

/* Most iovecs gathered into one writev. */
#define DM_OS_IOVS 64

/* The dm_recv_pt, dm_send_pt and dm_send_chain_pt of plain sockets. */
ssize_t dm_os_recv(dm_connection_t *c, u_char *buf, size_t size);
ssize_t dm_os_send(dm_connection_t *c, const u_char *buf, size_t size);
dm_chain_t *dm_os_send_chain(dm_connection_t *c, dm_chain_t *in, off_t limit);

#endif /* DM_OS_IO_H */

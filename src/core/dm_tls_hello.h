/*
 * doorman: the TLS ClientHello parser (ssl_preread).
 *
 * A pure parser: no I/O, no allocation. It reads the stream of TLS
 * records a client sends first, as it grows, and says when the
 * ClientHello in it is complete, what it is missing, or why it is not
 * one. Everything is checked against its enclosing length.
 */
#ifndef DM_TLS_HELLO_H
#define DM_TLS_HELLO_H

#include <dm_tls_hello_t.h>

/*
 * Prepares h for a new stream: zeroed, with `limit` the most bytes of the
 * stream the caller can hold (0: no limit).
 */
void dm_tls_hello_init(dm_tls_hello_t *h, size_t limit);

/*
 * Reads the stream data[0 .. len) (the same bytes at each call, with more
 * appended; only the bytes new since the last call are looked at, so a
 * hello that arrives byte by byte costs linear time). Returns
 *
 *   DM_OK        the hello is complete and valid: the results are set and
 *                h->length says where it ends in the stream (bytes after
 *                it, such as early data, are not looked at);
 *   DM_AGAIN     more bytes are needed;
 *   DM_DECLINED  the hello is split over several records and must be
 *                joined: set h->scratch to h->need bytes (kept as long as
 *                the results are used) and call again with the same data;
 *   DM_ERROR     not TLS, malformed, or over the limit: h->error says why.
 *
 * Records must be handshake records (type 22) of version 0x0300 to
 * 0x0304 and 1 to 16384 bytes; the first message must be a ClientHello
 * and is checked field by field: legacy version 3.x, session id of at
 * most 32 bytes, cipher suites of even length, compression methods, and
 * an extensions block that ends the message exactly, each extension
 * within it. server_name (one host_name of 1 to 255 bytes, no control
 * byte; kept in lower case), ALPN (names of 1 to 255 bytes) and
 * supported_versions are read; each of them twice is an error.
 * DM_OK and DM_ERROR are final: later calls return the same.
 */
dm_int_t dm_tls_hello_parse(dm_tls_hello_t *h, const u_char *data, size_t len);

/*
 * The protocol the client offers at best, as $ssl_preread_protocol and
 * nginx name it: "TLSv1.3" when supported_versions offers 0x0304, else
 * from the legacy version ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2"); NULL
 * for another version. Call after DM_OK.
 */
const char *dm_tls_hello_protocol(const dm_tls_hello_t *h);

/*
 * Writes the ALPN names offered, separated by commas (h2,http/1.1), to
 * out, which has room for h->alpn_len bytes. Returns the length written
 * (0 when no ALPN was offered). Call after DM_OK.
 */
size_t dm_tls_hello_alpn_text(const dm_tls_hello_t *h, u_char *out);

#endif /* DM_TLS_HELLO_H */

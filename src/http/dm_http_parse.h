/*
 * doorman: the HTTP/1.1 parser (requests, responses, chunked bodies).
 *
 * What is refused, with which status, and what is accepted is DESIGN.md
 * section 7; the choices it leaves open are made here:
 *
 *  - bare LF line ends in a head are accepted when limits->bare_lf is set
 *    (doorman's default: the head is regenerated before it is forwarded,
 *    so no other parser ever reads them); never in chunked framing, which
 *    may be relayed as it came;
 *  - one empty line (CRLF, or LF with bare_lf) before the request line is
 *    skipped; a second is a 400;
 *  - the version must read HTTP/DIGIT.DIGIT (else 400); HTTP/1.0 and 1.1
 *    are served, any other well-formed version is 505 (as nginx answers
 *    HTTP/2.0; the HTTP/2 preface "PRI * HTTP/2.0" is one);
 *  - one SP between the parts of the request line, no other whitespace;
 *  - the target: origin-form ("/..."), absolute-form ("scheme://authority
 *    [path][?query]", any scheme; userinfo ("user@") is a 400, RFC 9110
 *    section 4.2.4), asterisk-form ("*", OPTIONS only), authority-form
 *    (CONNECT only; the engine answers CONNECT with 405, as nginx); any
 *    byte but SP, CTL and DEL; a fragment ("#...") is cut from path and
 *    args;
 *  - a valid Host (and authority) is a reg-name of unreserved, sub-delims
 *    and '%' characters (underscores included) but ',' (a Host that reads
 *    as a list), not starting with '.' and without "..", or an IPv6
 *    literal "[hex:...]"; then an optional ":port" of at most 5 digits,
 *    not above 65535 (may be empty, RFC 3986); one trailing dot is
 *    dropped from host_name; the Host field is checked even when an
 *    absolute-form authority overrides it; no Host in HTTP/1.0 is fine;
 *  - Transfer-Encoding: doorman implements chunked only (as nginx): any
 *    other coding before a last chunked is 501; a coding with parameters
 *    or an empty list element is malformed (400);
 *  - Content-Length: 1*DIGIT, or a comma list of equal values; repeated
 *    fields must hold equal values (numerically: 3 = 003);
 *  - Connection naming Host, Content-Length or Transfer-Encoding is a 400
 *    (DESIGN.md section 6, http_proxy);
 *  - Expect: 100-continue sets expect_continue (HTTP/1.1 only, RFC 9110
 *    section 10.1.1); other expectations are ignored, as nginx does;
 *  - Upgrade counts only with "upgrade" listed in Connection, in
 *    HTTP/1.1 (RFC 9110 section 7.8).
 */
#ifndef DM_HTTP_PARSE_H
#define DM_HTTP_PARSE_H

#include <dm_http_parse_t.h>

/* Results besides a length. */
#define DM_HTTP_PARSE_AGAIN -2 /* a complete head needs more bytes */
#define DM_HTTP_PARSE_ERROR -1 /* refused: see err */

/* Bounds of the chunked decoder (whole body, all chunks together). */
#define DM_HTTP_CHUNKED_MAX_EXT     4096 /* chunk-extension bytes */
#define DM_HTTP_CHUNKED_MAX_TRAILER 8192 /* trailer section bytes */

/*
 * Parses a request head in buf[0, len). Returns the head's length
 * (including the empty line, and the empty line skipped before the
 * request line) when complete, DM_HTTP_PARSE_AGAIN when more bytes are
 * needed, or DM_HTTP_PARSE_ERROR with err filled. Every check is made at
 * the byte where it can first be decided, so an error is reported as
 * soon as the bytes that prove it are in (a limit already exceeded is an
 * error even when the head is incomplete), and the verdict on a prefix is
 * either AGAIN or the verdict on the whole. On success req holds the
 * method, target (split into path and args), version, headers, and the
 * framing decided by the rules of DESIGN.md section 7 (Host,
 * Content-Length, Transfer-Encoding, Connection, Expect, Upgrade).
 *
 * Statuses: 400 malformed or ambiguous; 414 request line over
 * limits->max_line; 431 head over max_head, or more fields than
 * max_headers or than the headers array holds; 501 a transfer coding
 * other than chunked; 505 a well-formed version other than 1.0 and 1.1.
 * A Content-Length over client_max_body_size (413) is the caller's check.
 * req->headers must point at req->nheaders entries; everything else in
 * req is set. Nothing is allocated, nothing in buf is changed.
 */
ssize_t dm_http_parse_request(const u_char *buf, size_t len,
                              const dm_http_parse_limits_t *limits,
                              dm_http_request_head_t *req,
                              dm_http_parse_error_t *err);

/*
 * Parses a response head; framing per RFC 9112 section 6.3 given the
 * request method (HEAD: head_request is 1) and status (1xx, 204, 304 have
 * no body): no_body, else chunked, else content_length, else
 * close_delimited (keep_alive is then 0). The status line is "HTTP/1.x
 * NNN reason" (the reason may be empty, its SP too). Refused, status 502
 * (a response that could desync the pool): another version, a status
 * below 100, the head rules of requests (field names, control bytes,
 * obs-fold, bare CR), both Content-Length and Transfer-Encoding,
 * malformed or differing Content-Length, any Transfer-Encoding but
 * chunked (doorman implements no other coding, as nginx), and a head over
 * the limits (max_line bounds the status line). Repeated fields
 * (Set-Cookie) are kept as they come.
 */
ssize_t dm_http_parse_response(const u_char *buf, size_t len,
                               const dm_http_parse_limits_t *limits,
                               int head_request, dm_http_response_head_t *resp,
                               dm_http_parse_error_t *err);

/* Starts a chunked decoder. */
void dm_http_chunked_init(dm_http_chunked_t *ch);

/*
 * Decodes chunked framing from buf[0, len), the bytes that follow those
 * already consumed. On return *consumed bytes of input were used; when
 * data was found, *data and *data_len point at the chunk data inside buf
 * (the caller forwards it; *data_len is 0 otherwise). Returns
 *
 *   DM_OK     a piece of chunk data (*data_len > 0) ends the consumed
 *             bytes: forward it, call again with the rest;
 *   DM_AGAIN  all input consumed (framing only), more needed;
 *   DM_DONE   the last chunk and trailers are complete: *consumed ends
 *             at its final CRLF (what follows is the next message);
 *   DM_ERROR  malformed: err says why (400; 413 when the body would
 *             exceed max_body, 0 = no limit, decided as soon as a chunk
 *             size says so). For a response, any error is a 502.
 *
 * Strict (RFC 9112 section 7.1): CRLF line ends only, 1*HEXDIG sizes (any
 * case, leading zeros, below 2^63), extensions ";name[=token|"quoted"]"
 * with BWS only before ';' and around '=' (DM_HTTP_CHUNKED_MAX_EXT bytes
 * in all), exactly CRLF after data, trailer fields as header fields
 * (validated, then dropped; DM_HTTP_CHUNKED_MAX_TRAILER bytes). DM_DONE
 * and DM_ERROR are final: later calls return them again, consuming
 * nothing.
 */
dm_int_t dm_http_chunked_parse(dm_http_chunked_t *ch, const u_char *buf,
                               size_t len, uint64_t max_body, size_t *consumed,
                               const u_char **data, size_t *data_len,
                               dm_http_parse_error_t *err);

/* Case-insensitive comparison of a header name with a literal: 1 when
   equal, 0 otherwise. */
int dm_http_header_is(const dm_http_header_t *h, const char *name);


/*
 * The rest is shared by the parser's files (dm_http_parse*.c) and its
 * tests; other callers use the functions above.
 */

/*
 * Character classes (dm_http_parse_class[byte]):
 *   TCHAR   a token character (RFC 9110 section 5.6.2);
 *   FIELD   a field-value byte: VCHAR, obs-text, SP, HTAB;
 *   PATH    a target byte that needs no attention: VCHAR and obs-text but
 *           '%', '.', '/', '?', '#';
 *   HOST    a reg-name byte (RFC 3986) but '.' (checked apart) and ','
 *           (a Host that reads as a list): unreserved, sub-delims, '%';
 *   HEX, DIGIT, USCORE ('_').
 */
#define DM_HTTP_C_TCHAR  0x01
#define DM_HTTP_C_FIELD  0x02
#define DM_HTTP_C_PATH   0x04
#define DM_HTTP_C_HOST   0x08
#define DM_HTTP_C_HEX    0x10
#define DM_HTTP_C_USCORE 0x20
#define DM_HTTP_C_DIGIT  0x40

extern const u_char dm_http_parse_class[256];

/*
 * Reads the field line or the empty line at *pp, with end the scan limit.
 * Returns DM_OK (h holds the field, its id, underscore, and hop for the
 * hop-by-hop names (those named in Connection are marked later, by
 * dm_http_parse_mark_hop); *pp is after the line), DM_DONE (the empty
 * line; *pp after it), DM_AGAIN (end came first; *pp unchanged) or
 * DM_ERROR (*reason says why: obs-fold, whitespace before the colon, a
 * byte that is no tchar in the name, a control byte in the value, bare
 * CR, bare LF without bare_lf).
 */
dm_int_t dm_http_parse_field(const u_char **pp, const u_char *end,
                             unsigned bare_lf, dm_http_header_t *h,
                             const char **reason);

/*
 * Folds a field into fr when it is a framing field (Content-Length,
 * Transfer-Encoding, Connection, Upgrade, Expect; by h->id; Host is the
 * request parser's). Returns NULL, or why the field alone makes the head
 * invalid: a malformed or differing Content-Length (content_length_bad
 * is then set), Connection naming Host, Content-Length or
 * Transfer-Encoding (conn_framing); the caller decides what applies.
 * Transfer-Encoding is judged when the head is complete, from fr.
 */
const char *dm_http_parse_framing(dm_http_parse_framing_t *fr,
                                  const dm_http_header_t *h);

/*
 * The value of a Content-Length field: 1*DIGIT, or a comma list (OWS
 * around the commas) of equal values. Returns it, or -1 when malformed
 * or above INT64_MAX.
 */
int64_t dm_http_parse_content_length(const u_char *p, size_t n);

/*
 * Checks a Host value or an authority (see the top of this file). Returns
 * the length of its host part (no port, no trailing dot), or -1 when it
 * is invalid.
 */
ssize_t dm_http_parse_host(const u_char *p, size_t n);

/*
 * Marks hop-by-hop every header named in a Connection field of
 * headers[0, n) (called when fr->conn_names is set).
 */
void dm_http_parse_mark_hop(dm_http_header_t *headers, size_t n);

#endif /* DM_HTTP_PARSE_H */

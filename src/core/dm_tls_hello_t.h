/*
 * doorman: the TLS ClientHello parser (ssl_preread), types.
 */
#ifndef DM_TLS_HELLO_T_H
#define DM_TLS_HELLO_T_H

/* The longest SNI host name kept (a DNS name is at most 255 octets). */
#define DM_TLS_HELLO_MAX_NAME 255

/* The largest TLS record payload allowed (RFC 8446 section 5.1). */
#define DM_TLS_HELLO_MAX_RECORD 16384

/*
 * The state of one ClientHello being read and, once it is complete, what
 * it says. dm_tls_hello_init() zeroes it; the caller then owns `scratch`
 * (set after DM_DECLINED) and reads the results after DM_OK.
 */
typedef struct {
    /* set by the caller */
    size_t limit;        /* most bytes of the record stream the caller can
                         hold (0: no limit): a larger hello is an error
                         as soon as its length is known */
    u_char *scratch;     /* where a hello split over records is joined */
    size_t scratch_size; /* its size (at least `need`) */

    /* results, valid after DM_OK */
    u_char server_name[DM_TLS_HELLO_MAX_NAME]; /* SNI host_name, in lower
                                                  case, not terminated */
    size_t server_name_len;                    /* 0: no server name was sent */
    const u_char *alpn;      /* ALPN protocol_name_list: names, each with a
                               one-byte length (in the caller's bytes or
                               scratch), NULL when none was sent */
    size_t alpn_len;         /* its length */
    unsigned legacy_version; /* ClientHello.legacy_version (0x0303 ...) */
    size_t length;           /* bytes of the stream up to the hello's end */
    unsigned tls13:1;        /* supported_versions offers 0x0304 */

    /* what went wrong or what is wanted */
    const char *error; /* DM_ERROR: why, as text for the log */
    size_t need;       /* DM_DECLINED: scratch bytes needed */
    size_t size;       /* the handshake message's size, once known */

    /* reading state */
    size_t pos;            /* next byte of the stream to look at */
    size_t rec_left;       /* payload bytes of the current record not read */
    size_t body_len;       /* the message body's length (known: hdr_have 4) */
    size_t body_have;      /* body bytes seen so far */
    size_t body_off;       /* where the body starts in the caller's bytes,
                            when it lies in one record */
    unsigned nrecords;     /* records started */
    unsigned hdr_have;     /* bytes of the 4-byte message header seen */
    u_char hdr[4];         /* the message header (it may be split) */
    unsigned in_scratch:1; /* the body is copied into scratch */
    unsigned done:1;       /* parsed: DM_OK from now on */
} dm_tls_hello_t;

#endif /* DM_TLS_HELLO_T_H */

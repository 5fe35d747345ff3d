/*
 * doorman: libFuzzer target for the ClientHello parser (ssl_preread,
 * src/core/dm_tls_hello.c).
 *
 *   make fuzz FUZZ=tls_hello FUZZ_SECONDS=600
 *
 * Each input is the byte stream a client sends first. It is parsed twice:
 * whole, and again as it would arrive in pieces (the piece size and a
 * limit come from the input's last byte), and both must agree: same
 * return code, same error, same results. Scratch memory is allocated at
 * exactly the size asked for, so AddressSanitizer catches a write past
 * it; the results are checked to lie where they must.
 */
#include <dm_core.h>
#include <dm_tls_hello.h>

#include <assert.h>

/* Parses data[0 .. len), `step` bytes more at a time. */
static dm_int_t
fz_parse(dm_tls_hello_t *h, const u_char *data, size_t len, size_t step,
         size_t limit, u_char **scratch)
{
    size_t have = 0;
    dm_int_t rc;

    dm_tls_hello_init(h, limit);
    for (;;) {
        have = dm_min(len, have + step);
        rc = dm_tls_hello_parse(h, data, have);
        if (rc == DM_DECLINED) {
            assert(*scratch == NULL && h->need > 0);
            *scratch = malloc(h->need);
            if (*scratch == NULL) {
                return DM_ERROR;
            }
            h->scratch = *scratch;
            h->scratch_size = h->need;
            rc = dm_tls_hello_parse(h, data, have);
            assert(rc != DM_DECLINED);
        }
        if (rc != DM_AGAIN || have == len) {
            return rc;
        }
    }
}

static void
fz_check(const dm_tls_hello_t *h, dm_int_t rc, size_t len)
{
    u_char *text;
    size_t n;

    if (rc == DM_ERROR) {
        assert(h->error != NULL);
        return;
    }
    if (rc != DM_OK) {
        return;
    }
    assert(h->error == NULL);
    assert(h->length <= len && h->server_name_len <= DM_TLS_HELLO_MAX_NAME);
    for (n = 0; n < h->server_name_len; n++) {
        assert(h->server_name[n] >= 0x20 && h->server_name[n] != 0x7f);
        assert(h->server_name[n] < 'A' || h->server_name[n] > 'Z');
    }
    if (h->alpn) {
        text = malloc(h->alpn_len);
        if (text) {
            n = dm_tls_hello_alpn_text(h, text);
            assert(n + 1 == h->alpn_len);
            free(text);
        }
    }
    (void) dm_tls_hello_protocol(h);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dm_tls_hello_t whole, parts;
    u_char *s1 = NULL, *s2 = NULL;
    size_t step, limit;
    dm_int_t rc1, rc2;
    u_char ctl;

    if (size == 0) {
        return 0;
    }
    ctl = data[size - 1];
    step = (size_t) (ctl & 0x0f) + 1;
    limit = (ctl & 0x80) ? size / 2 + 64 : 0;

    rc1 = fz_parse(&whole, data, size, size, limit, &s1);
    rc2 = fz_parse(&parts, data, size, step, limit, &s2);
    fz_check(&whole, rc1, size);
    fz_check(&parts, rc2, size);

    assert(rc1 == rc2);
    if (rc1 == DM_ERROR) {
        assert(whole.error == parts.error);
    }
    if (rc1 == DM_OK) {
        assert(whole.length == parts.length);
        assert(whole.server_name_len == parts.server_name_len);
        assert(
            memcmp(whole.server_name, parts.server_name, whole.server_name_len)
            == 0);
        assert(whole.alpn_len == parts.alpn_len);
        assert(whole.alpn_len == 0
               || memcmp(whole.alpn, parts.alpn, whole.alpn_len) == 0);
        assert(whole.tls13 == parts.tls13);
        assert(whole.legacy_version == parts.legacy_version);
    }
    free(s1);
    free(s2);
    return 0;
}

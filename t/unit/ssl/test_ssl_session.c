/*
 * doorman: unit tests for TLS session resumption
 * (src/ssl/dm_ssl_session.c, included here for its static functions).
 *
 * Real zones (memfd), explicit clocks. Covered: the shared session cache
 * (store, fetch, replace, remove; expiry when met and on insert; a full
 * zone evicting its oldest entries, never refusing a session that fits;
 * sessions too large refused; the table kept by the next cycle, as on a
 * reload); the ticket key ring (one key when fresh, kept by the next
 * cycle, rotation once the encrypting key is older than the period, old
 * keys decrypting for three rotations then gone); ticket key files (80
 * and 48 bytes, any other size refused with the file's name and size);
 * the ticket cipher and MAC set up by either key format round-trip.
 */
#include <dm_core.h>
#include <dm_shm.h>
#include <dm_ssl_session.c>

#include <openssl/hmac.h>
#include <sys/mman.h>
#include <setjmp.h>
#include <cmocka.h>

#define KB 1024

static dm_log_file_t log_file;
static dm_log_t test_log = {DM_LOG_INFO, &log_file, NULL, NULL, NULL, NULL};

static void
log_reset(void)
{
    if (log_file.fd <= 0) {
        log_file.fd = memfd_create("testlog", MFD_CLOEXEC);
        assert_true(log_file.fd > 2);
        fcntl(log_file.fd, F_SETFL, O_APPEND);
    }
    assert_int_equal(ftruncate(log_file.fd, 0), 0);
}

static int
log_has(const char *s)
{
    static char buf[65536];
    ssize_t n = pread(log_file.fd, buf, sizeof(buf) - 1, 0);

    assert_true(n >= 0);
    buf[n] = '\0';
    return strstr(buf, s) != NULL;
}

static dm_cycle_t *
new_cycle(dm_conf_t *cf)
{
    dm_pool_t *pool = dm_pool_create(DM_POOL_DEFAULT, &test_log);
    dm_cycle_t *c;

    assert_non_null(pool);
    c = dm_pcalloc(pool, sizeof(dm_cycle_t));
    assert_non_null(c);
    c->pool = pool;
    c->log = &test_log;
    memset(cf, 0, sizeof(*cf));
    cf->cycle = c;
    cf->pool = pool;
    cf->log = &test_log;
    return c;
}

/* A cycle with one session cache zone mapped (taking over old's). */
static dm_cycle_t *
cache_cycle(size_t size, dm_cycle_t *old, dm_shm_zone_t **zone)
{
    dm_str_t name = dm_string("sess");
    dm_conf_t cf;
    dm_cycle_t *c = new_cycle(&cf);

    *zone = dm_shm_zone_add(&cf, &name, size, DM_SSL_CACHE_VERSION,
                            &dm_ssl_session_cache_tag);
    assert_non_null(*zone);
    (*zone)->init = dm_ssl_cache_init;
    assert_int_equal(dm_shm_zones_init(c, old), DM_OK);
    return c;
}

/* A cycle with the ticket ring mapped; *rc is its ring. */
static dm_cycle_t *
ring_cycle(dm_cycle_t *old, dm_ssl_ring_conf_t **rc)
{
    dm_conf_t cf;
    dm_cycle_t *c = new_cycle(&cf);

    *rc = dm_ssl_ring_get(&cf, 10);
    assert_non_null(*rc);
    /* a server asking again gets the same ring, the longest period */
    assert_ptr_equal(dm_ssl_ring_get(&cf, 300), *rc);
    assert_int_equal((*rc)->period, 300);
    assert_int_equal(dm_shm_zones_init(c, old), DM_OK);
    return c;
}

static void
free_cycle(dm_cycle_t *c, dm_cycle_t *next)
{
    dm_shm_zones_release(c, next);
    dm_pool_destroy(c->pool);
}

/* A 32-byte session id made from n. */
static void
make_id(u_char *id, unsigned n)
{
    unsigned i;

    for (i = 0; i < 32; i++) {
        id[i] = (u_char) (n * 31 + i * 7 + (n >> 8));
    }
    memcpy(id, &n, sizeof(n));
}

/* --- the session cache -------------------------------------------------- */

static void
test_cache_basic(void **state)
{
    dm_shm_zone_t *zone;
    dm_cycle_t *c = cache_cycle(64 * KB, NULL, &zone);
    dm_ssl_cache_view_t v;
    u_char a[32], b[32], buf[DM_SSL_SESSION_MAX_DER];
    size_t len = 0;

    dm_ssl_cache_view(zone, &v);
    make_id(a, 1);
    make_id(b, 2);
    assert_int_equal(dm_ssl_cache_fetch(&v, a, 32, 100, buf, &len),
                     DM_DECLINED);
    assert_int_equal(
        dm_ssl_cache_store(&v, a, 32, (u_char *) "first", 5, 100, 200), DM_OK);
    assert_int_equal(dm_ssl_cache_fetch(&v, a, 32, 100, buf, &len), DM_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "first", 5);
    /* another id, a shorter id, a prefix: not found */
    assert_int_equal(dm_ssl_cache_fetch(&v, b, 32, 100, buf, &len),
                     DM_DECLINED);
    assert_int_equal(dm_ssl_cache_fetch(&v, a, 16, 100, buf, &len),
                     DM_DECLINED);
    /* the same id again replaces the entry */
    assert_int_equal(
        dm_ssl_cache_store(&v, a, 32, (u_char *) "second!", 7, 100, 200),
        DM_OK);
    assert_int_equal(v.root->count, 1);
    assert_int_equal(dm_ssl_cache_fetch(&v, a, 32, 150, buf, &len), DM_OK);
    assert_int_equal(len, 7);
    assert_memory_equal(buf, "second!", 7);
    /* short ids (TLS allows 1 to 32 bytes) */
    assert_int_equal(dm_ssl_cache_store(&v, b, 1, (u_char *) "x", 1, 100, 200),
                     DM_OK);
    assert_int_equal(dm_ssl_cache_fetch(&v, b, 1, 100, buf, &len), DM_OK);
    assert_int_equal(v.root->count, 2);
    /* removed */
    dm_ssl_cache_remove(&v, a, 32);
    assert_int_equal(dm_ssl_cache_fetch(&v, a, 32, 100, buf, &len),
                     DM_DECLINED);
    assert_int_equal(v.root->count, 1);
    dm_ssl_cache_remove(&v, a, 32); /* harmless */
    /* refused: empty or too long ids, sessions too large */
    assert_int_equal(dm_ssl_cache_store(&v, a, 0, buf, 1, 100, 200),
                     DM_DECLINED);
    assert_int_equal(dm_ssl_cache_store(&v, a, 33, buf, 1, 100, 200),
                     DM_DECLINED);
    assert_int_equal(dm_ssl_cache_store(&v, a, 32, buf,
                                        DM_SSL_SESSION_MAX_DER + 1, 100, 200),
                     DM_DECLINED);
    free_cycle(c, NULL);
}

static void
test_cache_expire(void **state)
{
    dm_shm_zone_t *zone;
    dm_cycle_t *c = cache_cycle(64 * KB, NULL, &zone);
    dm_ssl_cache_view_t v;
    u_char id[32], buf[DM_SSL_SESSION_MAX_DER];
    size_t len;
    unsigned i;

    dm_ssl_cache_view(zone, &v);
    make_id(id, 1);
    assert_int_equal(dm_ssl_cache_store(&v, id, 32, buf, 100, 1000, 1010),
                     DM_OK);
    assert_int_equal(dm_ssl_cache_fetch(&v, id, 32, 1009, buf, &len), DM_OK);
    /* met once expired: dropped */
    assert_int_equal(dm_ssl_cache_fetch(&v, id, 32, 1010, buf, &len),
                     DM_DECLINED);
    assert_int_equal(v.root->count, 0);
    assert_int_equal(v.root->expired, 1);

    /* five that expire at 2000, then one stored at 2000: the three
       oldest go with the insert, the two others with the next */
    for (i = 0; i < 5; i++) {
        make_id(id, 10 + i);
        assert_int_equal(dm_ssl_cache_store(&v, id, 32, buf, 50, 1500, 2000),
                         DM_OK);
    }
    assert_int_equal(v.root->count, 5);
    make_id(id, 20);
    assert_int_equal(dm_ssl_cache_store(&v, id, 32, buf, 50, 2000, 3000),
                     DM_OK);
    assert_int_equal(v.root->count, 3);
    make_id(id, 10);
    assert_int_equal(dm_ssl_cache_fetch(&v, id, 32, 1999, buf, &len),
                     DM_DECLINED);
    make_id(id, 13);
    assert_int_equal(dm_ssl_cache_fetch(&v, id, 32, 1999, buf, &len), DM_OK);
    make_id(id, 21);
    assert_int_equal(dm_ssl_cache_store(&v, id, 32, buf, 50, 2000, 3000),
                     DM_OK);
    assert_int_equal(v.root->count, 2);
    free_cycle(c, NULL);
}

static void
test_cache_full(void **state)
{
    dm_shm_zone_t *zone;
    dm_cycle_t *c = cache_cycle(DM_SHM_MIN_SIZE, NULL, &zone);
    dm_ssl_cache_view_t v;
    u_char id[32], der[DM_SSL_SESSION_MAX_DER], buf[DM_SSL_SESSION_MAX_DER];
    size_t len;
    unsigned i, n = 2000;

    dm_ssl_cache_view(zone, &v);
    /* sessions of 200 to 1200 bytes: several size classes compete */
    for (i = 0; i < n; i++) {
        make_id(id, i);
        memset(der, (int) (i & 0xff), sizeof(der));
        assert_int_equal(dm_ssl_cache_store(&v, id, 32, der,
                                            200 + (i % 5) * 250, 1000, 1000000),
                         DM_OK);
    }
    assert_true(v.root->count > 10);
    assert_true(v.root->count < n);
    assert_int_equal(v.root->stored, n);
    assert_int_equal(v.root->evicted, n - v.root->count);
    /* the newest are there, intact; the oldest went */
    for (i = n - 5; i < n; i++) {
        make_id(id, i);
        assert_int_equal(dm_ssl_cache_fetch(&v, id, 32, 2000, buf, &len),
                         DM_OK);
        assert_int_equal(len, 200 + (i % 5) * 250);
        assert_int_equal(buf[0], i & 0xff);
        assert_int_equal(buf[len - 1], i & 0xff);
    }
    make_id(id, 0);
    assert_int_equal(dm_ssl_cache_fetch(&v, id, 32, 2000, buf, &len),
                     DM_DECLINED);
    /* the largest session still finds room */
    make_id(id, n);
    assert_int_equal(dm_ssl_cache_store(&v, id, 32, der, DM_SSL_SESSION_MAX_DER,
                                        1000, 1000000),
                     DM_OK);
    assert_int_equal(dm_ssl_cache_fetch(&v, id, 32, 2000, buf, &len), DM_OK);
    assert_int_equal(len, DM_SSL_SESSION_MAX_DER);
    free_cycle(c, NULL);
}

static void
test_cache_kept(void **state)
{
    dm_shm_zone_t *z1, *z2;
    dm_cycle_t *c1 = cache_cycle(64 * KB, NULL, &z1), *c2;
    dm_ssl_cache_view_t v;
    u_char id[32], buf[DM_SSL_SESSION_MAX_DER];
    size_t len;

    dm_ssl_cache_view(z1, &v);
    make_id(id, 7);
    assert_int_equal(
        dm_ssl_cache_store(&v, id, 32, (u_char *) "kept", 4, 100, 1000), DM_OK);
    log_reset();
    c2 = cache_cycle(64 * KB, c1, &z2);
    assert_true(log_has("ssl session cache \"sess\": 1 sessions kept"));
    free_cycle(c1, c2);
    dm_ssl_cache_view(z2, &v);
    assert_int_equal(dm_ssl_cache_fetch(&v, id, 32, 200, buf, &len), DM_OK);
    assert_memory_equal(buf, "kept", 4);
    free_cycle(c2, NULL);
}

/* --- the ticket key ring ------------------------------------------------ */

static void
test_ring(void **state)
{
    dm_ssl_ring_conf_t *rc, *rc2;
    dm_cycle_t *c = ring_cycle(NULL, &rc), *c2;
    dm_ssl_ring_t *ring = rc->zone->data;
    dm_ssl_tkey_t k, first, d;
    unsigned i;

    dm_time_update();
    assert_int_equal(ring->nkeys, 1);
    assert_int_equal(ring->keys[0].size, DM_SSL_TICKET_KEY_LONG);
    dm_ssl_ring_encrypt_key(rc, &first);
    assert_memory_equal(first.k.name, ring->keys[0].k.name, 16);
    assert_int_equal(ring->nkeys, 1);
    assert_int_equal(dm_ssl_ring_decrypt_key(rc, first.k.name, &d), 0);
    assert_memory_equal(&d, &first, sizeof(d));

    /* the next cycle (a reload) keeps the ring */
    c2 = ring_cycle(c, &rc2);
    free_cycle(c, c2);
    rc = rc2;
    ring = rc->zone->data;
    assert_int_equal(ring->nkeys, 1);
    assert_memory_equal(ring->keys[0].k.name, first.k.name, 16);

    /* older than the period: the first encrypt rotates */
    ring->keys[0].created -= rc->period;
    dm_ssl_ring_encrypt_key(rc, &k);
    assert_int_equal(ring->nkeys, 2);
    assert_int_equal(ring->rotations, 1);
    assert_memory_not_equal(k.k.name, first.k.name, 16);
    assert_memory_equal(k.k.name, ring->keys[0].k.name, 16);
    assert_int_equal(dm_ssl_ring_decrypt_key(rc, first.k.name, &d), 1);
    assert_memory_equal(d.k.aes, first.k.aes, 32);
    /* not again before another period */
    dm_ssl_ring_encrypt_key(rc, &k);
    assert_int_equal(ring->rotations, 1);

    /* two more rotations: the first key is the last one kept, three
       periods after it stopped encrypting; the next rotation drops it */
    for (i = 0; i < 2; i++) {
        ring->keys[0].created -= rc->period;
        dm_ssl_ring_encrypt_key(rc, &k);
    }
    assert_int_equal(ring->nkeys, DM_SSL_RING_KEYS);
    assert_int_equal(dm_ssl_ring_decrypt_key(rc, first.k.name, &d), 3);
    ring->keys[0].created -= rc->period;
    dm_ssl_ring_encrypt_key(rc, &k);
    assert_int_equal(ring->nkeys, DM_SSL_RING_KEYS);
    assert_int_equal(dm_ssl_ring_decrypt_key(rc, first.k.name, &d), -1);

    /* a clock stepped far back rotates too */
    ring->keys[0].created += 10 * rc->period;
    dm_ssl_ring_encrypt_key(rc, &k);
    assert_int_equal(ring->rotations, 5);
    free_cycle(c2, NULL);
    /* the configuration is gone: the next one makes its own */
    assert_null(dm_ssl_ring_current);
}

/* --- ticket key files --------------------------------------------------- */

static void
write_key(const char *path, size_t n)
{
    u_char b[100];
    size_t i;
    int fd;

    for (i = 0; i < n; i++) {
        b[i] = (u_char) i;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, b, n), (ssize_t) n);
    close(fd);
}

static void
test_key_files(void **state)
{
    char path[] = "/tmp/dm-test-tkey-XXXXXX";
    dm_str_t file;
    dm_ssl_tkey_t k;
    dm_conf_t cf;
    dm_cycle_t *c = new_cycle(&cf);
    int fd = mkstemp(path);
    u_char z[16] = {0};

    assert_true(fd >= 0);
    close(fd);
    file.data = (u_char *) path;
    file.len = strlen(path);

    write_key(path, 80);
    assert_int_equal(dm_ssl_tkey_read(&cf, &file, &k), DM_OK);
    assert_int_equal(k.size, 80);
    assert_int_equal(k.k.name[0], 0);
    assert_int_equal(k.k.name[15], 15);
    assert_int_equal(k.k.hmac[0], 16);
    assert_int_equal(k.k.hmac[31], 47);
    assert_int_equal(k.k.aes[0], 48);
    assert_int_equal(k.k.aes[31], 79);

    /* nginx's 48 bytes: 16-byte secrets */
    write_key(path, 48);
    assert_int_equal(dm_ssl_tkey_read(&cf, &file, &k), DM_OK);
    assert_int_equal(k.size, 48);
    assert_int_equal(k.k.hmac[0], 16);
    assert_int_equal(k.k.hmac[15], 31);
    assert_memory_equal(k.k.hmac + 16, z, 16);
    assert_int_equal(k.k.aes[0], 32);
    assert_int_equal(k.k.aes[15], 47);
    assert_memory_equal(k.k.aes + 16, z, 16);

    /* any other size: the file and its size, never its bytes */
    write_key(path, 79);
    log_reset();
    assert_int_equal(dm_ssl_tkey_read(&cf, &file, &k), DM_ERROR);
    assert_true(log_has("is 79 bytes, it must be 80 or 48 bytes"));
    assert_true(log_has(path));
    unlink(path);
    log_reset();
    assert_int_equal(dm_ssl_tkey_read(&cf, &file, &k), DM_ERROR);
    assert_true(log_has("cannot read the session ticket key"));
    dm_pool_destroy(c->pool);
}

/* Encrypts then decrypts 40 bytes through dm_ssl_ticket_init with k,
   checking the MAC is keyed by k's HMAC secret. */
static void
round_trip(const dm_ssl_tkey_t *k, int key_len)
{
    u_char iv[EVP_MAX_IV_LENGTH], in[40], out[80], back[80];
    u_char mac1[EVP_MAX_MD_SIZE], mac2[EVP_MAX_MD_SIZE];
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *h1 = EVP_MAC_CTX_new(mac), *h2 = EVP_MAC_CTX_new(mac);
    EVP_CIPHER_CTX *e = EVP_CIPHER_CTX_new(), *d = EVP_CIPHER_CTX_new();
    size_t l1, l2;
    int n, m, f;

    assert_non_null(h1);
    assert_non_null(h2);
    memset(in, 'x', sizeof(in));
    memset(iv, 7, sizeof(iv));
    assert_int_equal(dm_ssl_ticket_init(k, iv, e, h1, 1), 1);
    assert_int_equal(EVP_CIPHER_CTX_get_key_length(e), key_len);
    assert_int_equal(EVP_EncryptUpdate(e, out, &n, in, sizeof(in)), 1);
    assert_int_equal(EVP_EncryptFinal_ex(e, out + n, &f), 1);
    n += f;
    assert_int_equal(dm_ssl_ticket_init(k, iv, d, h2, 0), 1);
    assert_int_equal(EVP_DecryptUpdate(d, back, &m, out, n), 1);
    assert_int_equal(EVP_DecryptFinal_ex(d, back + m, &f), 1);
    assert_int_equal(m + f, sizeof(in));
    assert_memory_equal(back, in, sizeof(in));

    /* the MAC is HMAC-SHA256 with the key's secret */
    assert_int_equal(EVP_MAC_init(h1, NULL, 0, NULL), 1);
    assert_int_equal(EVP_MAC_update(h1, out, (size_t) n), 1);
    assert_int_equal(EVP_MAC_final(h1, mac1, &l1, sizeof(mac1)), 1);
    assert_int_equal(l1, 32);
    assert_non_null(HMAC(EVP_sha256(), k->k.hmac,
                         k->size == DM_SSL_TICKET_KEY_SHORT ? 16 : 32, out,
                         (size_t) n, mac2, NULL));
    l2 = 32;
    assert_memory_equal(mac1, mac2, l2);

    EVP_CIPHER_CTX_free(e);
    EVP_CIPHER_CTX_free(d);
    EVP_MAC_CTX_free(h1);
    EVP_MAC_CTX_free(h2);
    EVP_MAC_free(mac);
}

static void
test_ticket_crypto(void **state)
{
    dm_ssl_tkey_t k;

    assert_int_equal(dm_ssl_tkey_random(&k, 1), DM_OK);
    round_trip(&k, 32);
    k.size = DM_SSL_TICKET_KEY_SHORT;
    round_trip(&k, 16);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_basic),
        cmocka_unit_test(test_cache_expire),
        cmocka_unit_test(test_cache_full),
        cmocka_unit_test(test_cache_kept),
        cmocka_unit_test(test_ring),
        cmocka_unit_test(test_key_files),
        cmocka_unit_test(test_ticket_crypto),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

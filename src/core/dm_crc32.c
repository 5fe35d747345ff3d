/*
 * doorman: CRC-32, table-driven, the table built on first use.
 */
#include <dm_core.h>
#include <dm_crc32.h>

static uint32_t dm_crc32_table[256];
static int dm_crc32_ready;

static void
dm_crc32_make_table(void)
{
    uint32_t c;
    int n, k;

    for (n = 0; n < 256; n++) {
        c = (uint32_t) n;
        for (k = 0; k < 8; k++) {
            c = (c & 1) ? 0xedb88320 ^ (c >> 1) : c >> 1;
        }
        dm_crc32_table[n] = c;
    }
    dm_crc32_ready = 1;
}

void
dm_crc32_update(uint32_t *crc, const u_char *p, size_t len)
{
    uint32_t c = *crc;

    if (!dm_crc32_ready) {
        dm_crc32_make_table();
    }
    while (len--) {
        c = dm_crc32_table[(c ^ *p++) & 0xff] ^ (c >> 8);
    }
    *crc = c;
}

uint32_t
dm_crc32(const u_char *p, size_t len)
{
    uint32_t c;

    dm_crc32_init(c);
    dm_crc32_update(&c, p, len);
    dm_crc32_final(c);
    return c;
}

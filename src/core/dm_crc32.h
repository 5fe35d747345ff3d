/*
 * doorman: CRC-32 (IEEE 802.3, as zlib and nginx compute it), for hashes
 * that must place keys exactly where nginx places them.
 */
#ifndef DM_CRC32_H
#define DM_CRC32_H

#define dm_crc32_init(c)  ((c) = 0xffffffff)
#define dm_crc32_final(c) ((c) ^= 0xffffffff)

/* Feeds len bytes into a running CRC started with dm_crc32_init. */
void dm_crc32_update(uint32_t *crc, const u_char *p, size_t len);

/* The CRC-32 of a buffer. */
uint32_t dm_crc32(const u_char *p, size_t len);

#endif /* DM_CRC32_H */

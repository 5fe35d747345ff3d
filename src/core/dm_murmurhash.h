/*
 * doorman: MurmurHash2, 32 bits (Austin Appleby's public algorithm).
 */
#ifndef DM_MURMURHASH_H
#define DM_MURMURHASH_H

/*
 * MurmurHash2 of (data, len) with seed 0, the 4-byte blocks read
 * little-endian whatever the host: the same value as nginx's
 * ngx_murmur_hash2(), so that split_clients puts a key in the bucket
 * nginx puts it in. Allocates nothing; len 0 hashes to 0.
 */
uint32_t dm_murmurhash2(const u_char *data, size_t len);

#endif /* DM_MURMURHASH_H */

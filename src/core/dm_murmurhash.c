/*
 * doorman: MurmurHash2, 32 bits, seed 0.
 *
 * The public algorithm of Austin Appleby: every 4-byte block is mixed
 * into the state by multiplication with a constant and a shift, the 1 to
 * 3 bytes left over are folded in, and a final avalanche spreads the last
 * bits. Used where doorman must agree with nginx on a hash
 * (split_clients).
 */
#include <dm_core.h>
#include <dm_murmurhash.h>

/* The multiplier and shift of the algorithm. */
#define DM_MURMUR_M 0x5bd1e995u
#define DM_MURMUR_R 24

uint32_t
dm_murmurhash2(const u_char *data, size_t len)
{
    uint32_t h, k;

    /* seed 0: the state starts as the length (truncated, as nginx) */
    h = (uint32_t) len;

    while (len >= 4) {
        /* bytes, not a uint32_t load: no alignment or byte order issue */
        k = (uint32_t) data[0];
        k |= (uint32_t) data[1] << 8;
        k |= (uint32_t) data[2] << 16;
        k |= (uint32_t) data[3] << 24;

        k *= DM_MURMUR_M;
        k ^= k >> DM_MURMUR_R;
        k *= DM_MURMUR_M;

        h *= DM_MURMUR_M;
        h ^= k;

        data += 4;
        len -= 4;
    }

    /* the tail: each case falls through to the smaller ones */
    switch (len) {
    case 3:
        h ^= (uint32_t) data[2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t) data[1] << 8;
        /* fall through */
    case 1:
        h ^= (uint32_t) data[0];
        h *= DM_MURMUR_M;
    }

    h ^= h >> 13;
    h *= DM_MURMUR_M;
    h ^= h >> 15;

    return h;
}

/*
 * hash.c - the hashes and checksums that are part of the file format: the
 * name hash (seeded per store) and the value checksums of snapshots, in
 * one lane and four lanes wide.
 *
 * Changing anything here changes stored indexes and snapshots.  Pure
 * functions of their input: no store, no error reporting.
 */
#include "internal.h"

static inline uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t fmix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static uint64_t hash_bytes(uint64_t h, const uint8_t *p, size_t n)
{
    const uint64_t k = 0x9E3779B97F4A7C15ull;
    h ^= (uint64_t)n * k;
    while (n >= 8) {
        h = (h ^ (rd64(p) * 0xbf58476d1ce4e5b9ull));
        h = ((h << 31) | (h >> 33)) * k;
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t t = 0;
        memcpy(&t, p, n);
        h ^= t * 0x94d049bb133111ebull;
        h = ((h << 27) | (h >> 37)) * k;
    }
    return h;
}

uint64_t brain__checksum(uint64_t seed, const void *p, size_t n)
{
    return fmix(hash_bytes(seed, (const uint8_t *)p, n));
}

/* The same mixing over four independent lanes, 32 bytes a round: the
 * lanes' multiplies overlap, so a value checksums at memory speed rather
 * than at one multiply chain's (about 2x faster here).  For snapshots, where
 * every byte of every value is hashed on save and on load.  In pieces:
 * init with the total length, rounds over multiples of 32 bytes, final
 * over the last n % 32; brain__checksum_wide does the three at once. */
void brain__wide_init(struct brain__wide *w, uint64_t seed, uint64_t total)
{
    w->seed = seed;
    w->v[0] = seed ^ total * 0x9E3779B97F4A7C15ull;
    w->v[1] = seed + 0x243F6A8885A308D3ull;
    w->v[2] = seed - 0x13198A2E03707344ull;
    w->v[3] = ~seed ^ 0xA4093822299F31D0ull;
}

void brain__wide_rounds(struct brain__wide *w, const void *data, size_t n)
{
    const uint64_t k = 0x9E3779B97F4A7C15ull, m = 0xbf58476d1ce4e5b9ull;
    const uint8_t *p = data;
    uint64_t v0 = w->v[0], v1 = w->v[1], v2 = w->v[2], v3 = w->v[3];
    for (; n >= 32; p += 32, n -= 32) {
        uint64_t h0 = v0 ^ (rd64(p) * m), h1 = v1 ^ (rd64(p + 8) * m);
        uint64_t h2 = v2 ^ (rd64(p + 16) * m), h3 = v3 ^ (rd64(p + 24) * m);
        v0 = ((h0 << 31) | (h0 >> 33)) * k;
        v1 = ((h1 << 31) | (h1 >> 33)) * k;
        v2 = ((h2 << 31) | (h2 >> 33)) * k;
        v3 = ((h3 << 31) | (h3 >> 33)) * k;
    }
    w->v[0] = v0, w->v[1] = v1, w->v[2] = v2, w->v[3] = v3;
}

uint64_t brain__wide_final(const struct brain__wide *w, const void *tail, size_t n)
{
    uint64_t h = hash_bytes(w->seed, (const uint8_t *)w->v, sizeof w->v);
    return fmix(hash_bytes(h, tail, n));
}

uint64_t brain__checksum_wide(uint64_t seed, const void *data, size_t n)
{
    if (n < 256)
        return brain__checksum(seed, data, n);
    struct brain__wide w;
    size_t body = n & ~(size_t)31;
    brain__wide_init(&w, seed, n);
    brain__wide_rounds(&w, data, body);
    return brain__wide_final(&w, (const uint8_t *)data + body, n - body);
}

uint64_t brain__key_hash(uint64_t seed, const char *ns, size_t nslen, const char *name,
                 size_t namelen)
{
    uint64_t h = hash_bytes(seed, (const uint8_t *)ns, nslen);
    h = hash_bytes(h ^ 0xA5A5A5A5A5A5A5A5ull, (const uint8_t *)name, namelen);
    h = fmix(h);
    return h ? h : 1;
}

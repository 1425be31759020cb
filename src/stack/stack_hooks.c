/* Clock and random source behind lwIP's sys_now() and LWIP_RAND() (stack_hooks.h). The
 * generator is splitmix64: tiny, seedable and identical everywhere, so a seed replays. */
#include "stack_hooks.h"

#include <stdio.h>
#include <stdlib.h>

#include "lwip/init.h"
#include "lwip/ip_addr.h"
#include "lwip/sys.h"

#include <string.h>

static uint32_t g_now_ms;
static uint64_t g_rand_state = 0x6375766572740001ull; /* any fixed start: "culvert" */
static uint64_t g_isn_key[2] = {0x6973, 0x6e6b}; /* replaced by culvert_stack_seed() */

void culvert_stack_set_now_ms(uint32_t now_ms) { g_now_ms = now_ms; }
uint32_t culvert_stack_now_ms(void) { return g_now_ms; }

u32_t sys_now(void) { return g_now_ms; }

static uint64_t splitmix64(uint64_t* state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void culvert_stack_seed(uint64_t seed) {
    /* The ISN key comes from its own stream of the seed, so drawing it does not shift the
     * LWIP_RAND() sequence (ports, MLD delays) that a seed is known to give. */
    uint64_t key_state = seed ^ 0x49534e2d6b657921ull; /* "ISN-key!" */
    g_isn_key[0] = splitmix64(&key_state);
    g_isn_key[1] = splitmix64(&key_state);
    g_rand_state = seed;
}

static int g_in_lwip_init;

uint32_t culvert_stack_rand(void) {
    uint64_t z = (g_rand_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    uint32_t r = (uint32_t)((z ^ (z >> 31)) >> 32);
    /* lwIP 2.1.3's tcp_init() maps this draw into [0xc000, 0xffff] as the last ephemeral
     * port; tcp_new_port() increments before it wraps, so a start at 0xffff hands out port
     * 0: the first connect fails with ERR_BUF and later ones count up from port 1. Found
     * by the simulator (culvert sim --seed 148 --scenario stream). */
    if (g_in_lwip_init && (r & 0x3fffu) == 0x3fffu) r ^= 1u;
    return r;
}

void culvert_lwip_init(void) {
    static int done; /* lwIP's globals exist once per process (or dlmopen namespace) */
    if (done) return;
    done = 1;
    g_in_lwip_init = 1;
    lwip_init();
    g_in_lwip_init = 0;
}

/* SipHash-2-4 (Aumasson and Bernstein), written from the paper's description. */
#define CULVERT_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define CULVERT_SIPROUND                                                                   \
    do {                                                                                   \
        v0 += v1; v1 = CULVERT_ROTL(v1, 13); v1 ^= v0; v0 = CULVERT_ROTL(v0, 32);           \
        v2 += v3; v3 = CULVERT_ROTL(v3, 16); v3 ^= v2;                                     \
        v0 += v3; v3 = CULVERT_ROTL(v3, 21); v3 ^= v0;                                     \
        v2 += v1; v1 = CULVERT_ROTL(v1, 17); v1 ^= v2; v2 = CULVERT_ROTL(v2, 32);           \
    } while (0)

static uint64_t siphash24(const uint64_t key[2], const uint8_t* in, size_t len) {
    uint64_t v0 = 0x736f6d6570736575ull ^ key[0];
    uint64_t v1 = 0x646f72616e646f6dull ^ key[1];
    uint64_t v2 = 0x6c7967656e657261ull ^ key[0];
    uint64_t v3 = 0x7465646279746573ull ^ key[1];
    const size_t whole = len - len % 8;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = 0;
        for (int b = 0; b < 8; ++b) m |= (uint64_t)in[i + b] << (8 * b);
        v3 ^= m;
        CULVERT_SIPROUND;
        CULVERT_SIPROUND;
        v0 ^= m;
    }
    uint64_t last = (uint64_t)(len & 0xff) << 56;
    for (size_t b = 0; b < len % 8; ++b) last |= (uint64_t)in[whole + b] << (8 * b);
    v3 ^= last;
    CULVERT_SIPROUND;
    CULVERT_SIPROUND;
    v0 ^= last;
    v2 ^= 0xff;
    for (int r = 0; r < 4; ++r) CULVERT_SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* Appends the bytes that identify an address: only the ones in use (the rest of an IPv4
 * ip_addr_t's union is whatever was there before). */
static size_t put_address(uint8_t* out, const ip_addr_t* a) {
    if (IP_IS_V6(a)) {
        out[0] = 6;
        memcpy(out + 1, ip_2_ip6(a)->addr, 16);
        return 17;
    }
    out[0] = 4;
    memcpy(out + 1, &ip_2_ip4(a)->addr, 4);
    return 5;
}

uint32_t culvert_stack_tcp_isn(const void* local_ip, uint16_t local_port, const void* remote_ip,
                               uint16_t remote_port) {
    uint8_t buf[2 * 17 + 4];
    size_t n = put_address(buf, (const ip_addr_t*)local_ip);
    n += put_address(buf + n, (const ip_addr_t*)remote_ip);
    buf[n++] = (uint8_t)(local_port >> 8);
    buf[n++] = (uint8_t)local_port;
    buf[n++] = (uint8_t)(remote_port >> 8);
    buf[n++] = (uint8_t)remote_port;
    return (uint32_t)siphash24(g_isn_key, buf, n) + g_now_ms * 250u;
}

void culvert_lwip_assert(const char* msg, const char* file, int line) {
    fprintf(stderr, "culvert: lwIP assertion failed: %s at %s:%d\n", msg, file, line);
    fflush(stderr);
    abort();
}

/* Clock and random source behind lwIP's sys_now() and LWIP_RAND() (stack_hooks.h). The
 * generator is splitmix64: tiny, seedable and identical everywhere, so a seed replays. */
#include "stack_hooks.h"

#include <stdio.h>
#include <stdlib.h>

#include "lwip/sys.h"

static uint32_t g_now_ms;
static uint64_t g_rand_state = 0x6375766572740001ull; /* any fixed start: "culvert" */

void culvert_stack_set_now_ms(uint32_t now_ms) { g_now_ms = now_ms; }
uint32_t culvert_stack_now_ms(void) { return g_now_ms; }

u32_t sys_now(void) { return g_now_ms; }

void culvert_stack_seed(uint64_t seed) { g_rand_state = seed; }

uint32_t culvert_stack_rand(void) {
    uint64_t z = (g_rand_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

void culvert_lwip_assert(const char* msg, const char* file, int line) {
    fprintf(stderr, "culvert: lwIP assertion failed: %s at %s:%d\n", msg, file, line);
    fflush(stderr);
    abort();
}

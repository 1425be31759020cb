/* The only way time and randomness enter lwIP (and culvert's stack code): a clock set by
 * the stack loop and a seeded generator. One copy per lwIP instance, so the simulator's
 * dlmopen'd instances each have their own. C linkage: lwIP is C. */
#ifndef CULVERT_STACK_HOOKS_H
#define CULVERT_STACK_HOOKS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Milliseconds of the stack's clock; what lwIP's sys_now() returns. */
void culvert_stack_set_now_ms(uint32_t now_ms);
uint32_t culvert_stack_now_ms(void);

/* Seeds the generator behind LWIP_RAND() (ISNs, ephemeral ports, ...). */
void culvert_stack_seed(uint64_t seed);
uint32_t culvert_stack_rand(void);

/* lwip_init() once per process (later calls do nothing), with the draws it takes kept clear
 * of an lwIP 2.1.3 port bug (stack_hooks.c). Every lwip_init() of ours goes through here. */
void culvert_lwip_init(void);

/* The initial sequence number of a TCP connection (lwIP's LWIP_HOOK_TCP_ISN): SipHash of
 * the addresses and ports under a key drawn from the seed, plus the clock in 4 us units
 * (RFC 6528 section 3). The addresses are lwIP ip_addr_t pointers. */
uint32_t culvert_stack_tcp_isn(const void* local_ip, uint16_t local_port, const void* remote_ip,
                               uint16_t remote_port);

/* lwIP's LWIP_PLATFORM_ASSERT: a programmer error in lwIP or in our use of it. */
void culvert_lwip_assert(const char* msg, const char* file, int line);

#ifdef __cplusplus
}
#endif

#endif

// lwIP side of the integration tests' driver loop (see lwip_test_driver.hpp).
#include "stack_hooks.h"
#include "lwip/init.h"
#include "lwip/memp.h"
#include "lwip/stats.h"
#include "lwip/timeouts.h"

#include "tests/integration/lwip_test_driver.hpp"

namespace culvert::testing {

void lwip_init_once() {
    culvert_lwip_init();
}

void lwip_advance_to(uint32_t now_ms) {
    culvert_stack_set_now_ms(now_ms);
    sys_check_timeouts();
}

LwipCounters lwip_counters() {
    LwipCounters c;
    c.link_recv = lwip_stats.link.recv;
    // lwIP counts every ICMP it sends in icmp.xmit; the tests send no errors its way.
    c.icmp_xmit = lwip_stats.icmp.xmit;
    c.icmp6_xmit = lwip_stats.icmp6.xmit;
    c.pool_pbufs_used = lwip_stats.memp[MEMP_PBUF_POOL]->used;
    return c;
}

}  // namespace culvert::testing

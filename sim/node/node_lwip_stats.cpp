// lwIP's own counters for the simulator's accounting (drops by protocol, every memory pool).
// lwIP headers first and alone (ENVIRONMENT.md: glibc's <netinet/tcp.h> redefines TCP_MSS).
#include "lwip/memp.h"
#include "lwip/stats.h"

#include "sim/node/node_lwip_stats.hpp"

namespace culvert::sim {

namespace {

const char* const kPoolNames[] = {
#define LWIP_MEMPOOL(name, num, size, desc) #name,
#include "lwip/priv/memp_std.h"
};
static_assert(sizeof kPoolNames / sizeof kPoolNames[0] == MEMP_MAX);

nlohmann::json proto(const stats_proto& p) {
    return {{"xmit", p.xmit},       {"recv", p.recv},     {"drop", p.drop},
            {"chkerr", p.chkerr},   {"lenerr", p.lenerr}, {"memerr", p.memerr},
            {"proterr", p.proterr}, {"err", p.err}};
}

}  // namespace

nlohmann::json lwip_stats_json() {
    nlohmann::json j;
    j["link"] = proto(lwip_stats.link);
    j["etharp"] = proto(lwip_stats.etharp);
    j["ip"] = proto(lwip_stats.ip);
    j["ip_frag"] = proto(lwip_stats.ip_frag);
    j["icmp"] = proto(lwip_stats.icmp);
    j["udp"] = proto(lwip_stats.udp);
    j["tcp"] = proto(lwip_stats.tcp);
    j["ip6"] = proto(lwip_stats.ip6);
    j["ip6_frag"] = proto(lwip_stats.ip6_frag);
    j["icmp6"] = proto(lwip_stats.icmp6);
    j["nd6"] = proto(lwip_stats.nd6);
    j["heap_bytes"] = lwip_stats.mem.used;
    j["heap_max_bytes"] = lwip_stats.mem.max;
    nlohmann::json pools;
    for (int i = 0; i < MEMP_MAX; ++i) pools[kPoolNames[i]] = lwip_stats.memp[i]->used;
    j["pools"] = pools;
    return j;
}

void lwip_resources(culvert_sim_node_resources& out) {
    out = culvert_sim_node_resources{};
    out.tcp_pcbs = lwip_stats.memp[MEMP_TCP_PCB]->used;
    out.tcp_listen_pcbs = lwip_stats.memp[MEMP_TCP_PCB_LISTEN]->used;
    out.udp_pcbs = lwip_stats.memp[MEMP_UDP_PCB]->used;
    out.pbuf_pool = lwip_stats.memp[MEMP_PBUF_POOL]->used;
    for (int i = 0; i < MEMP_MAX; ++i) out.pool_items += lwip_stats.memp[i]->used;
    out.heap_bytes = lwip_stats.mem.used;
}

}  // namespace culvert::sim

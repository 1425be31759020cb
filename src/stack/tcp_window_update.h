/* Works around lwIP 2.1.3 sending beyond its peer's window (docs/lwip-tcp-stall.md):
 * lwIP ignores the window of a segment whose sequence number is below the last one that
 * updated the window even when that segment acknowledges new data, and then measures the old
 * window from the new snd_una. Included by lwipopts.h (LWIP_HOOK_TCP_INPACKET_PCB), so it
 * names lwIP's types only by forward declaration. */
#ifndef CULVERT_TCP_WINDOW_UPDATE_H
#define CULVERT_TCP_WINDOW_UPDATE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct tcp_pcb;
struct tcp_hdr;

/* lwIP's LWIP_HOOK_TCP_INPACKET_PCB, before tcp_process() sees a segment (header fields in
 * host order; pcb may be a listening pcb). Lets a segment that acknowledges new data update
 * the send window whatever its sequence number, as Linux does (tcp_may_update_window).
 * Returns ERR_OK (0): the segment is never dropped here. */
int8_t culvert_tcp_inpacket(struct tcp_pcb* pcb, const struct tcp_hdr* hdr);

/* How many segments the hook let update the window (this lwIP instance). */
uint64_t culvert_tcp_window_updates_on_ack(void);

#ifdef __cplusplus
}
#endif

#endif

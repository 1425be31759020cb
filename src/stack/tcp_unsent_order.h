/* Works around an lwIP 2.1.3 bug that stalls a TCP connection forever: a retransmission
 * timeout that follows a fast retransmit leaves the send queue out of sequence order
 * (docs/lwip-tcp-stall.md). We never patch lwIP; the stack loop repairs the queue. */
#ifndef CULVERT_TCP_UNSENT_ORDER_H
#define CULVERT_TCP_UNSENT_ORDER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct tcp_pcb;

/* Puts pcb->unsent back in sequence order if it is not, frees the segments at its head that
 * the peer has already acknowledged, and lets the pcb send. Returns 1 if it changed
 * anything, else 0. Must not be called from inside lwIP (an lwIP callback or tcp_input). */
int culvert_tcp_repair_unsent_order(struct tcp_pcb* pcb);

/* The stack loop calls this after every sys_check_timeouts(): if lwIP's slow TCP timer (the
 * only place a retransmission timeout can reorder a queue) ran since the last call, repairs
 * every active pcb. Returns how many pcbs it repaired. */
uint32_t culvert_tcp_repair_after_timers(void);

#ifdef __cplusplus
}
#endif

#endif

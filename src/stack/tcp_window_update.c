/* The send-window update rule of tcp_window_update.h. */
#include "tcp_window_update.h"

#include "lwip/tcp.h"
#include "lwip/prot/tcp.h"
#include "lwip/priv/tcp_priv.h"

static uint64_t g_updates_on_ack;

uint64_t culvert_tcp_window_updates_on_ack(void) {
    return g_updates_on_ack;
}

int8_t culvert_tcp_inpacket(struct tcp_pcb* pcb, const struct tcp_hdr* hdr) {
    /* Listening pcbs are a shorter struct; before ESTABLISHED lwIP sets the window itself. */
    if (pcb->state < ESTABLISHED || pcb->state == TIME_WAIT) return ERR_OK;
    const u16_t flags = TCPH_FLAGS(hdr);
    if ((flags & TCP_ACK) == 0 || (flags & (TCP_RST | TCP_SYN)) != 0) return ERR_OK;
    /* tcp_receive() updates the window only if SND.WL1 < SEG.SEQ (or equal with a newer
     * ACK), RFC 793's rule. A Linux peer in loss recovery resends old sequence numbers below
     * the SND.WL1 of its pure ACKs (which carry its snd_nxt), each with a newer ACK and a
     * smaller window: lwIP takes the ACK but keeps the stale window, so lastack + snd_wnd
     * runs past every right edge the peer offered. Linux 6.17+ drops segments beyond its
     * window together with their ACKs; once our snd_nxt is past its edge, none of our ACKs
     * count and both sides wait forever. An ACK for new data is newer than anything seen,
     * so its window is too (Linux: tcp_may_update_window). Moving SND.WL1 just below this
     * segment makes tcp_receive() take its window. */
    if (TCP_SEQ_BETWEEN(hdr->ackno, pcb->lastack + 1, pcb->snd_nxt) &&
        TCP_SEQ_LT(hdr->seqno, pcb->snd_wl1)) {
        pcb->snd_wl1 = hdr->seqno - 1;
        ++g_updates_on_ack;
    }
    return ERR_OK;
}

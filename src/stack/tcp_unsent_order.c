/* Repairs lwIP 2.1.3 send queues that a retransmission timeout left out of sequence order
 * (tcp_unsent_order.h; the bug and its evidence: docs/lwip-tcp-stall.md). */
#include "tcp_unsent_order.h"

#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/priv/tcp_priv.h"

static u32_t seqno_of(const struct tcp_seg* seg) {
    return lwip_ntohl(seg->tcphdr->seqno);
}

static int in_order(const struct tcp_seg* seg) {
    for (; seg != NULL && seg->next != NULL; seg = seg->next) {
        if (TCP_SEQ_LT(seqno_of(seg->next), seqno_of(seg))) return 0;
    }
    return 1;
}

/* Stable insertion sort by sequence number. The queues lwIP leaves behind are two sorted
 * runs (the old unacked queue, then the old unsent queue holding the fast-retransmitted
 * segment), so each out-of-place segment lands near the head: linear in practice. */
static struct tcp_seg* sorted_by_seqno(struct tcp_seg* list) {
    struct tcp_seg* sorted = NULL;
    struct tcp_seg* tail = NULL;
    while (list != NULL) {
        struct tcp_seg* seg = list;
        list = list->next;
        seg->next = NULL;
        if (tail == NULL) {
            sorted = tail = seg;
        } else if (!TCP_SEQ_LT(seqno_of(seg), seqno_of(tail))) {
            tail->next = seg;
            tail = seg;
        } else {
            /* seg sorts before tail, so this walk stops inside the list. */
            struct tcp_seg** at = &sorted;
            while (!TCP_SEQ_LT(seqno_of(seg), seqno_of(*at))) at = &(*at)->next;
            seg->next = *at;
            *at = seg;
        }
    }
    return sorted;
}

static struct tcp_seg* last_of(struct tcp_seg* seg) {
    while (seg != NULL && seg->next != NULL) seg = seg->next;
    return seg;
}

/* Frees what the peer has acknowledged from the head of the (sorted) unsent queue, with the
 * bookkeeping of lwIP's own tcp_free_acked_segments(); returns the payload bytes freed. A
 * fully acknowledged head segment would otherwise block tcp_output() for good: its
 * `seqno - lastack + len` wraps around and never fits any window. lwIP frees such segments
 * only when a later ACK advances lastack, which may never come once nothing can be sent. */
static u32_t free_acked_head(struct tcp_pcb* pcb) {
    u32_t freed = 0;
    while (pcb->unsent != NULL &&
           TCP_SEQ_LEQ(seqno_of(pcb->unsent) + TCP_TCPLEN(pcb->unsent), pcb->lastack)) {
        struct tcp_seg* seg = pcb->unsent;
        const u16_t clen = pbuf_clen(seg->p);
        LWIP_ASSERT("snd_queuelen covers the freed segment", pcb->snd_queuelen >= clen);
        pcb->unsent = seg->next;
        pcb->snd_queuelen = (u16_t)(pcb->snd_queuelen - clen);
        freed += seg->len;
        tcp_seg_free(seg);
    }
    pcb->snd_buf = (tcpwnd_size_t)(pcb->snd_buf + freed);
    return freed;
}

static int is_active(const struct tcp_pcb* pcb) {
    const struct tcp_pcb* p;
    for (p = tcp_active_pcbs; p != NULL; p = p->next) {
        if (p == pcb) return 1;
    }
    return 0;
}

int culvert_tcp_repair_unsent_order(struct tcp_pcb* pcb) {
    if (pcb == NULL || pcb->state == LISTEN || in_order(pcb->unsent)) return 0;
    const struct tcp_seg* last_before = last_of(pcb->unsent);
    pcb->unsent = sorted_by_seqno(pcb->unsent);
#if TCP_OVERSIZE
    /* unsent_oversize describes the spare room of the last unsent segment: if another
     * segment is last now, claim none (tcp_write then starts a new segment). */
    if (last_of(pcb->unsent) != last_before) pcb->unsent_oversize = 0;
#endif
    u32_t freed = free_acked_head(pcb);
#if TCP_OVERSIZE
    if (pcb->unsent == NULL) pcb->unsent_oversize = 0;
#endif
    /* Tell the application about the room, as lwIP does for acknowledged data. The
     * callback may close or abort this pcb (or others): tcp_active_pcbs_changed says so. */
    const u8_t changed_before = tcp_active_pcbs_changed;
    tcp_active_pcbs_changed = 0;
    while (freed > 0 && !tcp_active_pcbs_changed) {
        const u16_t chunk = (u16_t)LWIP_MIN(freed, 0xffffu);
        err_t err = ERR_OK;
        freed -= chunk;
        TCP_EVENT_SENT(pcb, chunk, err);
        if (err == ERR_ABRT) break;
    }
    const int pcb_alive = !tcp_active_pcbs_changed || is_active(pcb);
    tcp_active_pcbs_changed = (u8_t)(tcp_active_pcbs_changed | changed_before);
    if (pcb_alive) tcp_output(pcb);
    return 1;
}

static u32_t g_last_tcp_ticks;

uint32_t culvert_tcp_repair_after_timers(void) {
    if (tcp_ticks == g_last_tcp_ticks) return 0;
    g_last_tcp_ticks = tcp_ticks;
    uint32_t repaired = 0;
    struct tcp_pcb* pcb;
restart:
    for (pcb = tcp_active_pcbs; pcb != NULL; pcb = pcb->next) {
        if (in_order(pcb->unsent)) continue;
        tcp_active_pcbs_changed = 0;
        repaired += (uint32_t)culvert_tcp_repair_unsent_order(pcb);
        /* A callback may have closed or aborted pcbs: walk the list again (as tcp_slowtmr
         * does); every pcb repaired so far is in order now and skipped. */
        if (tcp_active_pcbs_changed) goto restart;
    }
    return repaired;
}

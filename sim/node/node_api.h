/* The C ABI of one simulated culvert instance (a "node"): culvertd's Stack on an in-memory
 * packet backend plus the real client library, all in one link-map namespace (dlmopen) so
 * that every node has its own lwIP globals and its own Client::instance(). The simulator
 * talks to a node only through this table: frames cross as bytes, time comes in as a number.
 * Plain C types only; nothing here throws or keeps a pointer it was given. */
#ifndef CULVERT_SIM_NODE_API_H
#define CULVERT_SIM_NODE_API_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CULVERT_SIM_NODE_ABI_VERSION 1u

struct culvert_sim_node_config {
    uint64_t seed;           /* lwIP's random source (ISNs, ports) */
    const char* socket_path; /* culvertd's control socket for this node */
    uint8_t mac[6];
    uint8_t ipv4[4];
    uint8_t ipv4_prefix_len;
    uint8_t has_ipv6;
    uint8_t ipv6[16];
    uint16_t mtu;             /* IP MTU of the node's only interface */
    uint64_t segment_bytes;   /* shared segment per client */
    uint32_t tx_queue_frames; /* frames the backend holds before tx_burst pushes back */
};

/* What a node's lwIP holds right now (cheap; the full picture is status_json). */
struct culvert_sim_node_resources {
    uint64_t tcp_pcbs; /* every state but LISTEN, TIME_WAIT included */
    uint64_t tcp_listen_pcbs;
    uint64_t udp_pcbs;
    uint64_t pbuf_pool;  /* received-frame buffers */
    uint64_t pool_items; /* every lwIP memory pool item in use */
    uint64_t heap_bytes; /* lwIP's heap (PBUF_RAM pbufs and friends) */
};

/* Where a blocking client call would sleep it calls this instead; it must make progress and
 * return non-zero, or return 0 when nothing can change any more (the call fails ETIMEDOUT). */
typedef int (*culvert_sim_idle_hook)(void* arg);

/* Every client call returns >= 0 on success and -errno on failure (never sets errno). */
struct culvert_sim_node_api {
    uint32_t abi_version;

    /* --- the stack (culvertd) --- */
    /* Creates the Stack and its interface. 0, or -1 with a message in err. Once per node. */
    int (*create)(const struct culvert_sim_node_config* config, char* err, size_t err_bytes);
    /* Sets the clock and runs what is ready; returns the next lwIP timer (ms, UINT64_MAX: none). */
    uint64_t (*step)(uint64_t now_ms);
    /* Non-zero while step() has work waiting (requests, notifications, received frames). */
    int (*pending)(void);
    /* A frame arriving from the wire (copied). 0, or -ENOBUFS when the rx queue is full. */
    int (*push_frame)(const void* frame, size_t len);
    /* The oldest frame the stack sent, copied into buf; its length, or 0 when none. */
    size_t (*pop_frame)(void* buf, size_t buf_bytes);
    /* culvertd's status JSON plus lwIP and backend counters; the full length (may exceed
     * buf_bytes, then call again with a larger buffer). */
    size_t (*status_json)(char* buf, size_t buf_bytes);
    void (*resources)(struct culvert_sim_node_resources* out);
    /* Destroys the Stack (sessions, sockets, interface). */
    void (*destroy)(void);

    /* --- the client library (what the preload calls), one client process per node --- */
    void (*set_idle_hook)(culvert_sim_idle_hook hook, void* arg);
    int (*socket)(int domain, int type, int protocol);
    int (*bind)(int fd, const struct sockaddr* addr, socklen_t len);
    int (*listen)(int fd, int backlog);
    int (*accept4)(int fd, struct sockaddr* addr, socklen_t* len, int flags);
    int (*connect)(int fd, const struct sockaddr* addr, socklen_t len);
    int (*shutdown)(int fd, int how);
    int (*close)(int fd);
    ssize_t (*sendmsg)(int fd, const struct msghdr* msg, int flags);
    ssize_t (*recvmsg)(int fd, struct msghdr* msg, int flags);
    int (*getsockopt)(int fd, int level, int name, void* value, socklen_t* len);
    int (*setsockopt)(int fd, int level, int name, const void* value, socklen_t len);
    int (*getsockname)(int fd, struct sockaddr* addr, socklen_t* len);
    int (*getpeername)(int fd, struct sockaddr* addr, socklen_t* len);
    int (*fcntl)(int fd, int cmd, long arg);
    int (*ioctl)(int fd, unsigned long request, void* arg);
    /* The client process dies: its control connection goes away (culvertd releases all its
     * sockets as the kernel would at exit) and its socket fds are closed. */
    void (*kill_client)(void);
};

/* The node's table (one per namespace). */
const struct culvert_sim_node_api* culvert_sim_node_get_api(void);

#ifdef __cplusplus
}
#endif

#endif

// A socket that lives in culvertd: the server half of one channel plus an lwIP pcb. The
// stack owns sockets by id; a socket outlives its client's close while it still drains
// (TCP data in flight), like a Linux socket orphaned by close(2).
#pragma once

#include "channels/protocol.hpp"

#include <cstdint>
#include <expected>
#include <memory>
#include <span>

namespace culvert::server {

class Session;
class Stack;

using Errno = int;

// The three fds of one socket (channels/protocol.hpp SocketFdIndex): the app-visible end
// of the readiness socketpair (handed to the client, then closed here), its peer end
// (kept by both sides) and the client->server eventfd.
struct ChannelFds {
    int app = -1;
    int peer = -1;
    int notify = -1;
    static std::expected<ChannelFds, Errno> make();
    void close_app();
    void close_all();
};

class Socket {
public:
    virtual ~Socket() = default;

    uint64_t token() const { return token_; }
    uint32_t id() const { return id_; }
    Session* session() const { return session_; }

    // The client wrote into or read from the channel (its eventfd fired).
    virtual void on_notify() = 0;
    // End-of-iteration work (batched ring copies).
    virtual void flush() {}

    virtual std::expected<void, Errno> bind(const channels::WireAddr& addr) = 0;
    virtual std::expected<void, Errno> listen(int backlog) = 0;
    virtual std::expected<void, Errno> connect(const channels::WireAddr& addr) = 0;
    virtual std::expected<void, Errno> shutdown(int how) = 0;
    virtual std::expected<channels::WireAddr, Errno> name(bool peer) const = 0;
    virtual std::expected<uint32_t, Errno> getsockopt(int level, int name, std::span<uint8_t> out) = 0;
    virtual std::expected<void, Errno> setsockopt(int level, int name, std::span<const uint8_t> value) = 0;
    // Client released the socket (close or death). Returns true when the socket may be
    // destroyed now; false when it lingers (orphan) and will ask the stack to reap it.
    virtual bool release() = 0;
    // Where the channel lives; the fds to hand to the client (app fd closed after).
    virtual channels::ChannelInfo channel_info() const = 0;
    ChannelFds& fds() { return fds_; }
    void detach_session() { session_ = nullptr; }
    // Has the client side been released?
    bool released() const { return released_; }

protected:
    Socket(Stack& stack, Session* session, uint32_t id, uint64_t token)
        : stack_(stack), session_(session), id_(id), token_(token) {}
    Stack& stack_;
    Session* session_;  // null once the session is gone (orphan)
    uint32_t id_;
    uint64_t token_;
    bool released_ = false;
    ChannelFds fds_;

    friend class Session;
};

}  // namespace culvert::server

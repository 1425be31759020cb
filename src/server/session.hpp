// One connected client process: its control socket, its shared segment and its sockets.
// Every request is validated here before it reaches a socket; a malformed request gets an
// error reply (or, if it is not even a request, the client is dropped) and no other client
// is affected.
#pragma once

#include "channels/protocol.hpp"
#include "server/client_memory.hpp"
#include "server/socket.hpp"

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

namespace culvert::server {

class Stack;

class Session {
public:
    Session(Stack& stack, int control_fd, uint64_t token);
    ~Session();

    int control_fd() const { return control_fd_; }
    pid_t pid() const { return pid_; }
    channels::CopyMode copy_mode() const { return copy_mode_; }
    const ClientMemoryPtr& memory() const { return memory_; }

    // Reads and answers every pending request. Returns false when the client must go
    // (hung up, or sent something that is not a request).
    bool on_readable();

    // Adds a socket created by the server itself (an accepted connection).
    uint32_t adopt(std::unique_ptr<Socket> socket);
    uint32_t next_socket_id() { return next_socket_id_++; }
    Stack& stack() { return stack_; }
    size_t socket_count() const { return sockets_.size(); }

    // Takes a socket out of the session (it is being handed over or closed).
    std::unique_ptr<Socket> take(uint32_t id);

private:
    struct Outgoing {
        channels::Reply reply{};
        int fds[channels::kMaxFdsPerMessage] = {-1, -1, -1, -1};
        int fd_count = 0;
        std::span<const uint8_t> payload;
    };
    void handle(const channels::Request& req, std::span<const uint8_t> payload, Outgoing& out);
    void handle_hello(const channels::Request& req, Outgoing& out);
    void handle_socket(const channels::Request& req, Outgoing& out);
    void handle_accept(const channels::Request& req, Outgoing& out);
    void handle_close(const channels::Request& req, Outgoing& out);
    bool send_reply(Outgoing& out);
    Socket* find(uint32_t id);

    Stack& stack_;
    int control_fd_;
    uint64_t token_;
    pid_t pid_ = 0;
    uid_t uid_ = 0;
    bool hello_done_ = false;
    channels::CopyMode copy_mode_ = channels::CopyMode::process_vm;
    ClientMemoryPtr memory_;
    uint32_t next_socket_id_ = 1;
    std::unordered_map<uint32_t, std::unique_ptr<Socket>> sockets_;
    std::vector<uint8_t> rx_buf_;
    Socket* pending_app_close_ = nullptr;  // its app fd went out with the last reply
};

}  // namespace culvert::server

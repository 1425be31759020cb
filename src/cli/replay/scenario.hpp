// The application culvert's side runs during a replay (and, with `culvert replay --live`,
// while a corpus is recorded: the same code both times, so the bytes and the order of
// socket calls match). Apps are non-blocking state machines over the real client library:
// poll() makes one step and says whether it got anywhere.
//
//   none                       only the stack (ARP, ND, ICMP echo)
//   tcp-echo:PORT              listen on PORT (IPv4 and IPv6), echo each connection, close on EOF
//   http:PORT                  answer each "GET /N" with N bytes (default 1000) and
//                              "Connection: close"; close when the peer has closed
//   udp-echo:PORT              send each datagram back to where it came from
//   tcp-send:HOST:PORT[,bytes=N][,at=MS]   connect, send N bytes (default 65536), shut down
//                              writing, read until EOF, close; HOST is a.b.c.d or [v6]
#pragma once

#include "client/client.hpp"

#include <poll.h>

#include <array>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace culvert::replay {

struct Endpoint {
    bool v6 = false;
    std::array<uint8_t, 16> address{};  // IPv4 in the first 4 bytes
    uint16_t port = 0;
};

class App {
  public:
    virtual ~App() = default;
    virtual std::string describe() const = 0;
    // Creates its sockets (listen, or connect: non-blocking).
    virtual std::expected<void, std::string> start(client::Client& c) = 0;
    // Makes at most one socket call that changes something (accept, send, recv, close)
    // and says whether it did: the replay runs the stack between two calls, as culvertd
    // usually handles each call of a live program before the next one arrives.
    virtual bool poll(client::Client& c) = 0;
    // A client app that has finished its work (servers never finish).
    virtual bool finished() const { return false; }
    // A failure that ends the run ("connect: Connection refused").
    virtual std::optional<std::string> failure() const { return std::nullopt; }
    // The fds to wait on in live mode, with the events that would let poll() progress.
    virtual void wait_set(std::vector<pollfd>& out) const = 0;
    // Client apps: who they connect to, and when they start (nullopt: derive it from the
    // recorded answer, docs/replay.md).
    virtual std::optional<Endpoint> target() const { return std::nullopt; }
    std::optional<uint64_t> start_ms;
};

std::expected<std::unique_ptr<App>, std::string> make_app(std::string_view spec);

// The deterministic bytes apps send: byte i of a stream is "abc...xyz"[i % 26].
uint8_t pattern_byte(uint64_t i);

}  // namespace culvert::replay

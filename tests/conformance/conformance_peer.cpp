// The kernel-side peer of the socket-API conformance test (socket_api_test.cpp): fixed
// behaviours on fixed ports, so the test under culvert and the test on the kernel meet the
// same remote end. Listens dual-stack on :: ; one thread per connection.
//
//   TCP 7101 echo             read and write back until EOF, then close
//   TCP 7102 sink             never read; close when the client hangs up or after 5 s
//   TCP 7103 greeting + FIN   send kGreetingBytes of pattern, shut down writing, drain, close
//   TCP 7104 count            read until EOF, answer the byte count in decimal, close
//   TCP 7105 connect back     read "PORT\n", connect to the client's address:PORT, send
//                             "hello-from-peer", shut down writing, drain, close
//   TCP 7106 two parts        send 100 bytes, wait 300 ms, send 100 more, drain, close
//   UDP 7101 echo
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "conformance_common.hpp"

namespace {

using namespace culvert::conformance;

void send_all(int fd, const void* data, size_t n) {
    const auto* p = static_cast<const char*>(data);
    while (n > 0) {
        const ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return;
        p += k;
        n -= static_cast<size_t>(k);
    }
}

size_t drain(int fd) {
    char buf[65536];
    size_t total = 0;
    for (;;) {
        const ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return total;
        total += static_cast<size_t>(n);
    }
}

void serve(int port, int fd) {
    switch (port) {
        case kEchoPort: {
            char buf[65536];
            for (;;) {
                const ssize_t n = recv(fd, buf, sizeof buf, 0);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) break;
                send_all(fd, buf, static_cast<size_t>(n));
            }
            break;
        }
        case kSinkPort: {
            // Never read: wait for the client's FIN or reset (POLLRDHUP shows it even with
            // unread data queued), at most 5 s. The client's close cannot send a FIN while
            // its data waits for our window, so it lingers (kernel and culvert alike) until
            // our close with unread data resets it.
            pollfd p{fd, POLLRDHUP, 0};
            poll(&p, 1, 5000);
            break;
        }
        case kGreetingPort: {
            std::vector<char> g(kGreetingBytes);
            for (size_t i = 0; i < g.size(); ++i) g[i] = greeting_byte(i);
            send_all(fd, g.data(), g.size());
            shutdown(fd, SHUT_WR);
            drain(fd);
            break;
        }
        case kCountPort: {
            const std::string n = std::to_string(drain(fd));
            send_all(fd, n.data(), n.size());
            break;
        }
        case kConnectBackPort: {
            char line[32] = {};
            size_t got = 0;
            while (got < sizeof line - 1) {
                const ssize_t n = recv(fd, line + got, 1, 0);
                if (n <= 0 || line[got] == '\n') break;
                ++got;
            }
            sockaddr_storage peer{};
            socklen_t len = sizeof peer;
            getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len);
            const uint16_t back = static_cast<uint16_t>(std::atoi(line));
            if (peer.ss_family == AF_INET6) reinterpret_cast<sockaddr_in6*>(&peer)->sin6_port = htons(back);
            else reinterpret_cast<sockaddr_in*>(&peer)->sin_port = htons(back);
            const int c = socket(peer.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (connect(c, reinterpret_cast<sockaddr*>(&peer), len) == 0) {
                send_all(c, kHelloFromPeer, std::strlen(kHelloFromPeer));
                shutdown(c, SHUT_WR);
                drain(c);
            }
            close(c);
            drain(fd);
            break;
        }
        case kTwoPartsPort: {
            char part[100];
            std::memset(part, 'a', sizeof part);
            send_all(fd, part, sizeof part);
            std::this_thread::sleep_for(std::chrono::milliseconds(300));
            std::memset(part, 'b', sizeof part);
            send_all(fd, part, sizeof part);
            drain(fd);
            break;
        }
        default: break;
    }
    close(fd);
}

int listen_tcp(int port) {
    const int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(static_cast<uint16_t>(port));
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 64) != 0) {
        std::perror("conformance_peer: listen");
        std::exit(1);
    }
    return fd;
}

void udp_echo() {
    const int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(kEchoPort);
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        std::perror("conformance_peer: udp bind");
        std::exit(1);
    }
    char buf[65536];
    for (;;) {
        sockaddr_storage from{};
        socklen_t len = sizeof from;
        const ssize_t n = recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n >= 0) sendto(fd, buf, static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), len);
    }
}

}  // namespace

int main(int argc, char** argv) {
    const int ports[] = {kEchoPort, kSinkPort, kGreetingPort, kCountPort, kConnectBackPort, kTwoPartsPort};
    std::vector<int> listeners;
    for (int port : ports) listeners.push_back(listen_tcp(port));
    std::thread(udp_echo).detach();
    // Ready: the test starts only when every port listens.
    if (argc > 1) {
        if (FILE* f = std::fopen(argv[1], "w")) {
            std::fputs("ready\n", f);
            std::fclose(f);
        }
    }
    std::vector<pollfd> pfds;
    for (int fd : listeners) pfds.push_back({fd, POLLIN, 0});
    for (;;) {
        if (poll(pfds.data(), pfds.size(), -1) < 0 && errno != EINTR) return 1;
        for (size_t i = 0; i < pfds.size(); ++i) {
            if (!(pfds[i].revents & POLLIN)) continue;
            const int c = accept4(pfds[i].fd, nullptr, nullptr, SOCK_CLOEXEC);
            if (c >= 0) std::thread(serve, ports[i], c).detach();
        }
    }
}

// Test peer for the socket-service integration tests (svc_cases.sh): plain BSD-socket code
// that runs either on the kernel or, unmodified, under the culvert preload. Every stream it
// sends is a deterministic pattern of its offset, so the receiver checks every byte.
//
//   svc_tool echo-server PORT [CONNECTIONS]         echo each connection (one thread each)
//   svc_tool echo-client HOST PORT BYTES            a sender and a receiver thread on ONE socket
//   svc_tool lockstep-client HOST PORT BYTES        one thread: write a chunk, read it back
//   svc_tool threads HOST PORT UDP_PORT SOCKETS BYTES   one socket per thread, TCP and UDP
//   svc_tool slow-reader PORT BYTES GO_FILE         accept, read nothing until GO_FILE exists
//   svc_tool bp-sender HOST PORT BYTES STATE_FILE   non-blocking sender that must get stuck
//   svc_tool try-socket                             socket() twice; prints the errno names
// Exit 0 on success; 1 with a message on stderr when something is wrong.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "svc_tool: %s\n", what.c_str());
    std::fflush(stderr);
    std::_Exit(1);
}
[[noreturn]] void die_errno(const std::string& what) { die(what + ": " + std::strerror(errno)); }

uint64_t mix(uint64_t x) {  // splitmix64 finaliser
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// Byte `offset` of stream `seed`: every position differs, so a lost, doubled or reordered
// chunk shows at once.
uint8_t pattern_at(uint64_t seed, uint64_t offset) {
    return static_cast<uint8_t>(mix(seed ^ (offset >> 3)) >> ((offset & 7) * 8));
}
void fill_pattern(uint64_t seed, uint64_t offset, uint8_t* out, size_t n) {
    for (size_t i = 0; i < n; ++i) out[i] = pattern_at(seed, offset + i);
}
// Index of the first byte that differs from the pattern, or n.
size_t check_pattern(uint64_t seed, uint64_t offset, const uint8_t* in, size_t n) {
    for (size_t i = 0; i < n; ++i)
        if (in[i] != pattern_at(seed, offset + i)) return i;
    return n;
}

struct Fnv {
    uint64_t h = 0xcbf29ce484222325ull;
    void add(const uint8_t* p, size_t n) {
        for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
    }
};

sockaddr_storage resolve(const char* host, const char* port, socklen_t& len, int type = SOCK_STREAM) {
    addrinfo hints{};
    hints.ai_socktype = type;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    if (getaddrinfo(host, port, &hints, &res) != 0 || !res) die(std::string("bad address ") + host);
    sockaddr_storage ss{};
    std::memcpy(&ss, res->ai_addr, res->ai_addrlen);
    len = res->ai_addrlen;
    freeaddrinfo(res);
    return ss;
}

int connect_to(const char* host, const char* port) {
    socklen_t len;
    sockaddr_storage ss = resolve(host, port, len);
    for (int attempt = 0;; ++attempt) {
        const int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) die_errno("socket");
        if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) return fd;
        // The server may still be starting (it runs in another process).
        if (errno != ECONNREFUSED || attempt >= 50) die_errno(std::string("connect ") + host + " " + port);
        close(fd);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

int listen_on(const char* port) {
    const int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);  // dual-stack, as Linux
    if (fd < 0) die_errno("socket");
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(static_cast<uint16_t>(std::atoi(port)));
    a.sin6_addr = in6addr_any;
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die_errno("bind");
    if (listen(fd, 64) != 0) die_errno("listen");
    return fd;
}

void write_all(int fd, const uint8_t* p, size_t n) {
    while (n > 0) {
        const ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) die_errno("write");
        p += k;
        n -= static_cast<size_t>(k);
    }
}

void write_file(const char* path, const std::string& text) {
    FILE* f = std::fopen(path, "w");
    if (!f) die_errno(std::string("open ") + path);
    std::fputs(text.c_str(), f);
    std::fclose(f);
}

// ---- echo -------------------------------------------------------------------------------

// A connection that fails (a killed peer resets it) ends alone: the server keeps serving
// its other connections.
void echo_connection(int fd) {
    std::vector<uint8_t> buf(256 * 1024);
    for (;;) {
        const ssize_t n = read(fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        for (ssize_t off = 0; off < n;) {
            const ssize_t k = send(fd, buf.data() + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) {
                close(fd);
                return;
            }
            off += k;
        }
    }
    shutdown(fd, SHUT_WR);
    close(fd);
}

int echo_server(const char* port, int connections) {
    const int lfd = listen_on(port);
    std::vector<std::thread> workers;
    for (int i = 0; connections <= 0 || i < connections; ++i) {
        const int fd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) die_errno("accept");
        workers.emplace_back(echo_connection, fd);
    }
    for (auto& t : workers) t.join();
    close(lfd);
    return 0;
}

// Sends `bytes` of the pattern in varied chunk sizes and calls (write, send, writev), then
// half-closes; a second thread reads the echo on the same socket and checks each byte.
int echo_client(const char* host, const char* port, uint64_t bytes) {
    const int fd = connect_to(host, port);
    const uint64_t seed = mix(static_cast<uint64_t>(getpid()));
    std::thread sender([&] {
        std::vector<uint8_t> buf(200 * 1024);
        uint64_t sent = 0, round = 0;
        while (sent < bytes) {
            size_t n = 1 + mix(seed + round) % buf.size();
            if (n > bytes - sent) n = static_cast<size_t>(bytes - sent);
            fill_pattern(seed, sent, buf.data(), n);
            ssize_t k;
            switch (round++ % 3) {
                case 0: k = write(fd, buf.data(), n); break;
                case 1: k = send(fd, buf.data(), n, MSG_NOSIGNAL); break;
                default: {
                    const size_t half = n / 2;
                    iovec iov[2] = {{buf.data(), half}, {buf.data() + half, n - half}};
                    k = writev(fd, iov, 2);
                }
            }
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) die_errno("send");
            sent += static_cast<uint64_t>(k);
        }
        if (shutdown(fd, SHUT_WR) != 0) die_errno("shutdown");
    });
    std::vector<uint8_t> buf(256 * 1024);
    uint64_t got = 0;
    for (;;) {
        const ssize_t n = recv(fd, buf.data(), buf.size(), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) die_errno("recv");
        if (n == 0) break;
        const size_t bad = check_pattern(seed, got, buf.data(), static_cast<size_t>(n));
        if (bad != static_cast<size_t>(n))
            die("echo differs at byte " + std::to_string(got + bad) + " of " + std::to_string(bytes));
        got += static_cast<uint64_t>(n);
    }
    sender.join();
    close(fd);
    if (got != bytes) die("echo ended after " + std::to_string(got) + " of " + std::to_string(bytes) + " bytes");
    std::printf("echo-client OK %llu bytes\n", static_cast<unsigned long long>(bytes));
    return 0;
}

// ---- threads ----------------------------------------------------------------------------

// Writes a chunk, reads it back, checks it; at most 64 KiB in flight. False on a mismatch.
bool lockstep(const char* host, const char* port, uint64_t seed, uint64_t bytes) {
    const int fd = connect_to(host, port);
    std::vector<uint8_t> out(64 * 1024), in(64 * 1024);
    uint64_t done = 0;
    bool ok = true;
    while (done < bytes) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(bytes - done, 1 + mix(seed + done) % out.size()));
        fill_pattern(seed, done, out.data(), n);
        write_all(fd, out.data(), n);
        size_t got = 0;
        while (got < n) {
            const ssize_t k = recv(fd, in.data() + got, n - got, 0);
            if (k <= 0) die_errno("lockstep recv");
            got += static_cast<size_t>(k);
        }
        if (check_pattern(seed, done, in.data(), n) != n) ok = false;
        done += n;
    }
    close(fd);
    return ok;
}

// One TCP socket per thread, each in lock-step (write a chunk, read it back), plus UDP
// sockets: different sockets used from different threads at the same time.
int threads_test(const char* host, const char* port, const char* udp_port, int sockets, uint64_t bytes) {
    std::atomic<int> failures{0}, tcp_failures{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < sockets; ++t) {
        ts.emplace_back([&, t] {
            if (!lockstep(host, port, mix(static_cast<uint64_t>(t) + 77), bytes)) tcp_failures++;
        });
    }
    for (int t = 0; t < sockets; ++t) {
        ts.emplace_back([&, t] {
            socklen_t len;
            sockaddr_storage to = resolve(host, udp_port, len, SOCK_DGRAM);
            const int fd = socket(to.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            if (fd < 0) die_errno("udp socket");
            timeval tv{0, 300000};
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            const uint64_t seed = mix(static_cast<uint64_t>(t) + 991);
            uint8_t out[1400], in[2048];
            for (int i = 0; i < 200; ++i) {
                const size_t n = 1 + mix(seed + i) % sizeof out;
                fill_pattern(seed, static_cast<uint64_t>(i) << 16, out, n);
                bool ok = false;
                for (int attempt = 0; attempt < 5 && !ok; ++attempt) {  // UDP may drop
                    if (sendto(fd, out, n, 0, reinterpret_cast<sockaddr*>(&to), len) != static_cast<ssize_t>(n))
                        die_errno("udp sendto");
                    for (;;) {
                        const ssize_t k = recv(fd, in, sizeof in, 0);
                        if (k < 0) break;  // timeout: send again
                        if (static_cast<size_t>(k) == n && std::memcmp(in, out, n) == 0) {
                            ok = true;
                            break;
                        }
                        // An echo of an earlier resend: keep reading.
                    }
                }
                if (!ok) {
                    std::fprintf(stderr, "svc_tool: udp thread %d: no intact echo for datagram %d (%zu bytes)\n", t, i, n);
                    failures++;
                }
            }
            close(fd);
        });
    }
    for (auto& t : ts) t.join();
    if (failures || tcp_failures)
        die(std::to_string(tcp_failures.load()) + " TCP sockets and " + std::to_string(failures.load()) +
            " UDP datagrams failed");
    std::printf("threads OK %d tcp + %d udp sockets\n", sockets, sockets);
    return 0;
}

// ---- back-pressure ----------------------------------------------------------------------

constexpr uint64_t kBpSeed = 0xb00c;

int slow_reader(const char* port, uint64_t bytes, const char* go_file) {
    const int lfd = listen_on(port);
    const int fd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) die_errno("accept");
    close(lfd);
    // Read nothing until the test says so: the sender must get stuck meanwhile.
    for (int i = 0; access(go_file, F_OK) != 0; ++i) {
        if (i > 600) die("GO file never appeared");
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::vector<uint8_t> buf(16 * 1024);
    uint64_t got = 0;
    Fnv h;
    for (;;) {
        const ssize_t n = read(fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) die_errno("read");
        if (n == 0) break;
        const size_t bad = check_pattern(kBpSeed, got, buf.data(), static_cast<size_t>(n));
        if (bad != static_cast<size_t>(n)) die("byte " + std::to_string(got + bad) + " differs");
        h.add(buf.data(), static_cast<size_t>(n));
        got += static_cast<uint64_t>(n);
        if ((got / buf.size()) % 64 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // slow
    }
    close(fd);
    if (got != bytes) die("got " + std::to_string(got) + " of " + std::to_string(bytes) + " bytes");
    std::printf("reader %llu bytes fnv %016llx\n", static_cast<unsigned long long>(got),
                static_cast<unsigned long long>(h.h));
    return 0;
}

int bp_sender(const char* host, const char* port, uint64_t bytes, const char* state_file) {
    const int fd = connect_to(host, port);
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) die_errno("fcntl");
    std::vector<uint8_t> buf(64 * 1024);
    uint64_t sent = 0, eagain = 0, stalls = 0, sent_at_stall = 0;
    Fnv h;
    while (sent < bytes) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(bytes - sent, buf.size()));
        fill_pattern(kBpSeed, sent, buf.data(), n);
        const ssize_t k = send(fd, buf.data(), n, MSG_NOSIGNAL);
        if (k > 0) {
            h.add(buf.data(), static_cast<size_t>(k));
            sent += static_cast<uint64_t>(k);
            continue;
        }
        if (k < 0 && errno != EAGAIN) die_errno("send");
        ++eagain;
        pollfd p{fd, POLLOUT, 0};
        const int r = poll(&p, 1, 300);
        if (r < 0) die_errno("poll");
        if (r == 0) {
            // Not writable for 300 ms: the reader's back-pressure reached us.
            if (stalls++ == 0) {
                sent_at_stall = sent;
                write_file(state_file, "blocked " + std::to_string(sent) + "\n");
            }
        }
    }
    shutdown(fd, SHUT_WR);
    pollfd p{fd, POLLIN, 0};
    poll(&p, 1, 30000);  // the reader closes after reading everything
    close(fd);
    if (stalls == 0) die("the sender never blocked (" + std::to_string(eagain) + " EAGAINs)");
    std::printf("sender %llu bytes fnv %016llx blocked_after %llu stalls %llu\n",
                static_cast<unsigned long long>(sent), static_cast<unsigned long long>(h.h),
                static_cast<unsigned long long>(sent_at_stall), static_cast<unsigned long long>(stalls));
    return 0;
}

// ---- culvertd not running ---------------------------------------------------------------

int try_socket() {
    for (int i = 0; i < 2; ++i) {
        const int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd >= 0) {
            std::printf("socket succeeded\n");
            close(fd);
        } else {
            std::printf("socket %s\n", errno == ECONNREFUSED ? "ECONNREFUSED" : strerrorname_np(errno));
        }
    }
    // Other domains still reach the kernel.
    int sv[2];
    std::printf("socketpair %s\n", socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0 ? "ok" : "failed");
    return 0;
}

uint64_t to_u64(const char* s) { return std::strtoull(s, nullptr, 10); }

}  // namespace

int main(int argc, char** argv) {
    setvbuf(stdout, nullptr, _IOLBF, 0);
    const std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "echo-server" && argc >= 3) return echo_server(argv[2], argc > 3 ? std::atoi(argv[3]) : 0);
    if (cmd == "echo-client" && argc == 5) return echo_client(argv[2], argv[3], to_u64(argv[4]));
    if (cmd == "lockstep-client" && argc == 5) {
        if (!lockstep(argv[2], argv[3], 5, to_u64(argv[4]))) die("lockstep echo differs");
        std::printf("lockstep-client OK %s bytes\n", argv[4]);
        return 0;
    }
    if (cmd == "threads" && argc == 7)
        return threads_test(argv[2], argv[3], argv[4], std::atoi(argv[5]), to_u64(argv[6]));
    if (cmd == "slow-reader" && argc == 5) return slow_reader(argv[2], to_u64(argv[3]), argv[4]);
    if (cmd == "bp-sender" && argc == 6) return bp_sender(argv[2], argv[3], to_u64(argv[4]), argv[5]);
    if (cmd == "try-socket") return try_socket();
    die("usage: see the top of tests/integration/svc_tool.cpp");
}

// Forked peers, shared control memory, fds and clocks for the channel benchmarks.
#include "bench_support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <new>

namespace culvert::bench {

namespace {

bool g_failed = false;
int64_t g_fixed_iterations = 0;
int g_ready_fd = -1;  // in a child: the write end of its ready pipe

// Reads exactly len bytes from fd within timeout_ms; "" or what went wrong.
std::string read_exactly(int fd, void* buf, size_t len, int timeout_ms) {
    char* p = static_cast<char*>(buf);
    size_t got = 0;
    const uint64_t deadline_ns = now_ns() + static_cast<uint64_t>(timeout_ms) * 1'000'000u;
    while (got < len) {
        const uint64_t now = now_ns();
        if (now >= deadline_ns) return format("no answer from the peer within %d ms", timeout_ms);
        pollfd pfd{fd, POLLIN, 0};
        const int ready = ::poll(&pfd, 1, static_cast<int>((deadline_ns - now) / 1'000'000u) + 1);
        if (ready < 0 && errno != EINTR) return format("poll: %s", std::strerror(errno));
        if (ready <= 0) continue;
        const ssize_t n = ::read(fd, p + got, len - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return "the peer exited early";
        got += static_cast<size_t>(n);
    }
    return "";
}

double timeval_s(const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
}

}  // namespace

uint64_t now_ns() {
    timespec t{};
    ::clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<uint64_t>(t.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(t.tv_nsec);
}

double thread_cpu_s() {
    timespec t{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

double seconds_between(uint64_t start_ns, uint64_t end_ns) {
    return end_ns > start_ns ? static_cast<double>(end_ns - start_ns) * 1e-9 : 0.0;
}

Fd& Fd::operator=(Fd&& other) noexcept {
    if (this != &other) {
        reset();
        fd_ = other.release();
    }
    return *this;
}

void Fd::reset() {
    if (fd_ >= 0) {
        track_fd(fd_, FdKind::none);  // the number will be reused for something else
        ::close(fd_);
    }
    fd_ = -1;
}

std::expected<Fd, std::string> make_eventfd() {
    const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) return std::unexpected(format("eventfd: %s", std::strerror(errno)));
    return Fd(fd);
}

std::expected<SharedControl, std::string> SharedControl::create() {
    void* p =
        ::mmap(nullptr, sizeof(Control), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return std::unexpected(format("mmap: %s", std::strerror(errno)));
    return SharedControl(::new (p) Control{});
}

SharedControl::~SharedControl() {
    if (control_ != nullptr) ::munmap(control_, sizeof(Control));
}

std::expected<Peer, std::string> Peer::start(const std::function<std::string(PeerReport&)>& body) {
    int report_fds[2];
    int ready_fds[2];
    if (::pipe2(report_fds, O_CLOEXEC) != 0) {
        return std::unexpected(format("pipe: %s", std::strerror(errno)));
    }
    Fd report_read(report_fds[0]);
    Fd report_write(report_fds[1]);
    if (::pipe2(ready_fds, O_CLOEXEC) != 0) {
        return std::unexpected(format("pipe: %s", std::strerror(errno)));
    }
    Fd ready_read(ready_fds[0]);
    Fd ready_write(ready_fds[1]);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) return std::unexpected(format("fork: %s", std::strerror(errno)));
    if (pid == 0) {
        // The child: never return into the benchmark library, never flush inherited stdio.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(3);
        g_ready_fd = ready_write.get();
        reset_syscall_counts();
        PeerReport report{};
        const std::string error = body(report);
        report.syscalls = syscall_counts();
        std::snprintf(report.error, sizeof report.error, "%s", error.c_str());
        const char* p = reinterpret_cast<const char*>(&report);
        size_t left = sizeof report;
        while (left > 0) {
            const ssize_t n = ::write(report_write.get(), p, left);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) ::_exit(4);
            p += n;
            left -= static_cast<size_t>(n);
        }
        ::_exit(0);
    }
    return Peer(pid, std::move(report_read), std::move(ready_read));
}

void peer_ready() {
    const char byte = 'r';
    if (g_ready_fd >= 0) {
        while (::write(g_ready_fd, &byte, 1) < 0 && errno == EINTR) {
        }
    }
}

std::expected<void, std::string> Peer::wait_ready(int timeout_ms) {
    char byte = 0;
    if (auto error = read_exactly(ready_.get(), &byte, 1, timeout_ms); !error.empty()) {
        return std::unexpected(error);
    }
    return {};
}

Peer::Peer(Peer&& other) noexcept
    : pid_(other.pid_),
      report_(std::move(other.report_)),
      ready_(std::move(other.ready_)),
      cpu_s_(other.cpu_s_) {
    other.pid_ = -1;
}

Peer::~Peer() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
}

std::expected<PeerReport, std::string> Peer::finish(int timeout_ms) {
    PeerReport report{};
    const std::string error = read_exactly(report_.get(), &report, sizeof report, timeout_ms);
    if (!error.empty()) ::kill(pid_, SIGKILL);
    int status = 0;
    rusage usage{};
    while (::wait4(pid_, &status, 0, &usage) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    cpu_s_ = timeval_s(usage.ru_utime) + timeval_s(usage.ru_stime);
    if (!error.empty()) return std::unexpected(error);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return std::unexpected(format("peer ended abnormally (status 0x%x)", status));
    }
    report.error[sizeof report.error - 1] = '\0';
    if (report.error[0] != '\0') return std::unexpected(std::string("peer: ") + report.error);
    return report;
}

WriterClock::WriterClock() {
    reset_syscall_counts();
    start_cpu_s = thread_cpu_s();
    start_ns = now_ns();
}

std::optional<Transfer> finish_transfer(benchmark::State& state, const WriterClock& writer,
                                        Peer& peer) {
    Transfer t{};
    t.writer_cpu_s = thread_cpu_s() - writer.start_cpu_s;
    t.writer_calls = syscall_counts();
    auto report = peer.finish(kWaitMs);
    if (!report) {
        fail(state, report.error());
        return std::nullopt;
    }
    t.report = *report;
    t.reader_cpu_s = peer.cpu_s();
    t.secs = seconds_between(writer.start_ns, report->done_ns);
    if (t.secs <= 0) {
        fail(state, "the peer finished before the writer started");
        return std::nullopt;
    }
    state.SetIterationTime(t.secs);
    return t;
}

void set_cost_counters(benchmark::State& state, const Transfer& t, double msgs) {
    const SyscallCounts& w = t.writer_calls;
    const SyscallCounts& r = t.report.syscalls;
    if (msgs <= 0) return;
    uint64_t polls = 0;
    for (size_t k = 0; k < SyscallCounts::kKinds; ++k) {
        polls += w.n[k][static_cast<size_t>(Call::poll)] + r.n[k][static_cast<size_t>(Call::poll)];
    }
    state.counters["efd/msg"] =
        static_cast<double>(w.of(FdKind::eventfd) + r.of(FdKind::eventfd)) / msgs;
    state.counters["polls/msg"] = static_cast<double>(polls) / msgs;
    state.counters["sys/msg"] = static_cast<double>(w.total() + r.total()) / msgs;
    state.counters["cpu_us/msg"] = (t.writer_cpu_s + t.reader_cpu_s) * 1e6 / msgs;
    state.counters["w_cpu"] = t.writer_cpu_s / t.secs;
    state.counters["r_cpu"] = t.reader_cpu_s / t.secs;
}

std::expected<std::pair<Fd, Fd>, std::string> tcp_loopback_pair(int buf_bytes) {
    Fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    Fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!listener || !client) return std::unexpected(format("socket: %s", std::strerror(errno)));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (buf_bytes > 0 &&
        (::setsockopt(client.get(), SOL_SOCKET, SO_SNDBUF, &buf_bytes, sizeof buf_bytes) != 0 ||
         ::setsockopt(listener.get(), SOL_SOCKET, SO_RCVBUF, &buf_bytes, sizeof buf_bytes) != 0)) {
        return std::unexpected(format("setsockopt: %s", std::strerror(errno)));
    }
    if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener.get(), 1) != 0 ||
        ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
        ::connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        return std::unexpected(format("loopback TCP setup: %s", std::strerror(errno)));
    }
    Fd accepted(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!accepted) return std::unexpected(format("accept: %s", std::strerror(errno)));
    return std::pair<Fd, Fd>{std::move(client), std::move(accepted)};
}

benchmark::internal::Benchmark* finish_registration(benchmark::internal::Benchmark* b) {
    b->UseManualTime();
    if (g_fixed_iterations > 0) b->Iterations(g_fixed_iterations);
    return b;
}

void set_fixed_iterations(int64_t iterations) {
    g_fixed_iterations = iterations;
}

void fail(benchmark::State& state, const std::string& message) {
    g_failed = true;
    state.SkipWithError(message.c_str());
}

bool any_failure() {
    return g_failed;
}

std::string format(const char* fmt, ...) {
    char buf[512];
    va_list args;
    va_start(args, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, args);
    va_end(args);
    return buf;
}

}  // namespace culvert::bench

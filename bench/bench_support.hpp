// What every two-process channel benchmark needs: a forked peer that reports back over a pipe,
// a small block of shared anonymous memory for parent-to-child flags, fds, clocks, CPU time,
// and one failure path that marks the run failed (channels_bench then exits non-zero).
#pragma once

#include "syscall_count.hpp"

#include <benchmark/benchmark.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <utility>

namespace culvert::bench {

// Any single wait longer than this is a bug (a lost wakeup): it ends the run with an error.
inline constexpr int kWaitMs = 5000;

uint64_t now_ns();      // CLOCK_MONOTONIC: one clock for both processes
double thread_cpu_s();  // CPU time of the calling thread (a syscall: keep it off hot paths)
double seconds_between(uint64_t start_ns, uint64_t end_ns);

// Owns one fd.
class Fd {
  public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd&& other) noexcept : fd_(other.release()) {}
    Fd& operator=(Fd&& other) noexcept;
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }
    int get() const { return fd_; }
    int release() {
        const int fd = fd_;
        fd_ = -1;
        return fd;
    }
    void reset();
    explicit operator bool() const { return fd_ >= 0; }

  private:
    int fd_ = -1;
};

std::expected<Fd, std::string> make_eventfd();  // non-blocking, counter 0

// Shared anonymous memory mapped before fork: the parent tells the child to stop or how much
// it sent, without a syscall on either side's data path.
struct Control {
    std::atomic<uint64_t> stop;
    std::atomic<uint64_t> sent;  // units the parent sent (UDP: to tell drops from slowness)
};

class SharedControl {
  public:
    static std::expected<SharedControl, std::string> create();
    SharedControl(SharedControl&& other) noexcept : control_(other.control_) {
        other.control_ = nullptr;
    }
    SharedControl& operator=(SharedControl&&) = delete;
    ~SharedControl();
    Control* operator->() const { return control_; }

  private:
    explicit SharedControl(Control* control) : control_(control) {}
    Control* control_ = nullptr;
};

// What the child sends back when its part is done.
struct PeerReport {
    char error[200];         // empty: fine
    uint64_t done_ns;        // when the child consumed the last unit (CLOCK_MONOTONIC)
    uint64_t units;          // bytes or datagrams the child consumed
    uint64_t extra;          // benchmark-specific (e.g. sequence gaps)
    SyscallCounts syscalls;  // the child's counted syscalls
};

// A forked child running one side of a benchmark. The child dies with the parent
// (PR_SET_PDEATHSIG), and a Peer that is destroyed unfinished kills and reaps its child.
class Peer {
  public:
    // body(report) runs in the child with fresh syscall counters; it returns "" or an error.
    // It calls peer_ready() once it is set up and about to wait for work.
    static std::expected<Peer, std::string> start(
        const std::function<std::string(PeerReport&)>& body);
    // Parent: waits until the child called peer_ready(), so that the timed part starts with
    // both processes running (a child that the scheduler starts late is not measured).
    std::expected<void, std::string> wait_ready(int timeout_ms);
    Peer(Peer&& other) noexcept;
    Peer& operator=(Peer&&) = delete;
    Peer(const Peer&) = delete;
    ~Peer();

    pid_t pid() const { return pid_; }
    // Waits up to timeout_ms for the report, then reaps the child. The child's error, a
    // timeout or an abnormal exit is an error.
    std::expected<PeerReport, std::string> finish(int timeout_ms);
    double cpu_s() const { return cpu_s_; }  // user+system CPU of the child (after finish)

  private:
    Peer(pid_t pid, Fd report, Fd ready)
        : pid_(pid), report_(std::move(report)), ready_(std::move(ready)) {}
    pid_t pid_ = -1;
    Fd report_;
    Fd ready_;
    double cpu_s_ = 0;
};

// Started right before the writer's loop: resets the syscall counters, notes the time and the
// writer's CPU time.
struct WriterClock {
    WriterClock();
    uint64_t start_ns;
    double start_cpu_s;
};

// One finished run: the peer's report, wall time from the writer's start to the peer's last
// unit, both sides' CPU time and counted syscalls.
struct Transfer {
    PeerReport report;
    double secs;
    double writer_cpu_s;
    double reader_cpu_s;
    SyscallCounts writer_calls;
};

// After the writer's loop: waits for the peer, sets the benchmark's manual time to Transfer::secs.
// On failure it marks the run failed and returns nullopt.
std::optional<Transfer> finish_transfer(benchmark::State& state, const WriterClock& writer,
                                        Peer& peer);
// efd/msg (eventfd read+write+poll, both processes), polls/msg, sys/msg (every counted call:
// eventfd, socket, process_vm_writev), cpu_us/msg (both processes' CPU, robust to a busy
// machine), w_cpu and r_cpu (CPU seconds per wall second: < 1 means waiting or preempted).
void set_cost_counters(benchmark::State& state, const Transfer& t, double msgs);

// A connected loopback TCP pair {client, accepted}, blocking. buf_bytes > 0 sets the client's
// SO_SNDBUF and the accepted socket's SO_RCVBUF (before the handshake, so the window fits).
std::expected<std::pair<Fd, Fd>, std::string> tcp_loopback_pair(int buf_bytes = 0);

// Registration (channels_bench.cpp calls these once its own flags are parsed). Every benchmark
// here uses manual time: from the writer's start to the reader's last unit.
void register_stream_benchmarks();     // stream_bench.cpp
void register_dgram_benchmarks();      // dgram_bench.cpp
void register_readiness_benchmarks();  // readiness_bench.cpp
// UseManualTime, and a fixed iteration count if channels_bench was given --iterations=N.
benchmark::internal::Benchmark* finish_registration(benchmark::internal::Benchmark* b);
void set_fixed_iterations(int64_t iterations);  // 0: Google Benchmark chooses

// Child: tells the parent that it is ready (see Peer::wait_ready).
void peer_ready();

// Marks the benchmark failed (channels_bench exits 1 at the end) and skips it.
void fail(benchmark::State& state, const std::string& message);
bool any_failure();

// Formats like printf into a std::string (error messages).
std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace culvert::bench

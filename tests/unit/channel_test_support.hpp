// Helpers for the channel unit and stress tests: a printed, reproducible seed; owned fds;
// running two sides of a channel in two threads or in two processes (fork + a second mapping
// of the same memfd at a different address), with a timeout so a hang becomes a failure.
#pragma once

#include "channels/segment.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <utility>

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

namespace culvert::channels::test {

// The seed of a randomized test: CULVERT_SEED if set, else fresh. Always printed first, with
// the command line that replays it.
inline uint64_t test_seed() {
    uint64_t seed = 0;
    if (const char* env = std::getenv("CULVERT_SEED"); env != nullptr && *env != '\0') {
        seed = std::strtoull(env, nullptr, 0);
    } else {
        std::random_device rd;
        seed = (uint64_t{rd()} << 32) ^ rd();
    }
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::printf("seed=%llu (reproduce: CULVERT_SEED=%llu <test binary> --gtest_filter=%s.%s)\n",
                static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed),
                info != nullptr ? info->test_suite_name() : "*",
                info != nullptr ? info->name() : "*");
    std::fflush(stdout);
    return seed;
}

// splitmix64: a tiny, well-mixed generator for patterns and choices.
inline uint64_t mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

class Rng {
  public:
    explicit Rng(uint64_t seed) : state_(seed) {}
    uint64_t next() { return mix64(state_++); }
    // Uniform-ish in [lo, hi].
    uint64_t range(uint64_t lo, uint64_t hi) { return lo + next() % (hi - lo + 1); }
    bool chance(unsigned percent) { return next() % 100 < percent; }

  private:
    uint64_t state_;
};

// Byte number `pos` of the stream identified by `seed`: content that shows loss, duplication,
// reordering and corruption.
inline std::byte stream_byte(uint64_t seed, uint64_t pos) {
    return static_cast<std::byte>(mix64(seed ^ (pos >> 3) * 0x100000001B3ull) >> ((pos & 7) * 8));
}

class Fd {
  public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Fd& operator=(Fd&& other) noexcept {
        if (this != &other) {
            reset();
            fd_ = std::exchange(other.fd_, -1);
        }
        return *this;
    }
    ~Fd() { reset(); }
    int get() const { return fd_; }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

  private:
    int fd_ = -1;
};

inline Fd make_eventfd() {
    const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    EXPECT_GE(fd, 0) << std::strerror(errno);
    return Fd(fd);
}

inline int64_t now_ms() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

// One side of a two-sided test: returns "" on success or what went wrong. It receives its
// own Segment: in the two-process variant the child maps the memfd again (another address).
using Side = std::function<std::string(const Segment&)>;

struct TwoSided {
    std::string a;  // the parent / main thread
    std::string b;  // the child / second thread
};

inline TwoSided run_in_two_threads(const Segment& segment, const Side& a, const Side& b) {
    TwoSided out;
    std::thread other([&] { out.b = b(segment); });
    out.a = a(segment);
    other.join();
    return out;
}

// Side b runs in a forked child that attaches to the memfd itself. The child's message comes
// back through the last kReportBytes of the segment (keep them free). The child is killed if
// it outlives timeout_ms.
inline constexpr size_t kReportBytes = 512;

inline TwoSided run_in_two_processes(const Segment& segment, const Side& a, const Side& b,
                                     int timeout_ms = 9000) {
    TwoSided out;
    const uint64_t report_offset = segment.size() - kReportBytes;
    std::memset(segment.base() + report_offset, 0, kReportBytes);
    std::fflush(nullptr);
    const pid_t child = ::fork();
    if (child < 0) {
        out.a = std::string("fork: ") + std::strerror(errno);
        return out;
    }
    if (child == 0) {
        std::string message;
        auto own = Segment::attach(::dup(segment.fd()));
        if (!own) {
            message = std::string("child attach: ") + std::strerror(own.error());
        } else {
            message = b(*own);  // *own is a second mapping, at another address than segment's
        }
        auto* report = reinterpret_cast<char*>(segment.base() + report_offset);
        std::snprintf(report, kReportBytes, "%s", message.c_str());
        std::fflush(nullptr);
        ::_exit(message.empty() ? 0 : 1);
    }
    out.a = a(segment);
    const int64_t deadline = now_ms() + timeout_ms;
    int status = 0;
    for (;;) {
        const pid_t done = ::waitpid(child, &status, WNOHANG);
        if (done == child) break;
        if (done < 0 && errno != EINTR) {
            out.b = std::string("waitpid: ") + std::strerror(errno);
            return out;
        }
        if (now_ms() > deadline) {
            ::kill(child, SIGKILL);
            ::waitpid(child, &status, 0);
            out.b = "child timed out (killed)";
            return out;
        }
        ::usleep(2000);
    }
    const auto* report = reinterpret_cast<const char*>(segment.base() + report_offset);
    if (WIFSIGNALED(status)) {
        out.b = "child killed by signal " + std::to_string(WTERMSIG(status));
    } else if (WEXITSTATUS(status) != 0) {
        out.b =
            std::string("child failed: ") + std::string(report, ::strnlen(report, kReportBytes));
    }
    return out;
}

}  // namespace culvert::channels::test

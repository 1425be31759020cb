// channels_bench main: runs the channel benchmarks of issues 2 and 3, then prints one table of
// medians and ratios against the kernel; `--check` asserts what must hold on any machine.
// Exit status: 0, 1 (a benchmark failed or a check did not hold), 2 (bad arguments).
#include "bench_support.hpp"

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace cb = culvert::bench;

namespace {

using Counters = std::map<std::string, double>;

// Console output as usual, plus one row per benchmark (its median with repetitions, else its
// only run) kept for the summary.
class SummaryReporter : public benchmark::ConsoleReporter {
  public:
    explicit SummaryReporter(OutputOptions options) : ConsoleReporter(options) {}

    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        for (const Run& run : runs) {
            if (run.error_occurred) continue;
            const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
            const bool single = run.run_type == Run::RT_Iteration && run.repetitions <= 1;
            if (!median && !single) continue;
            std::string key = run.run_name.function_name;
            if (!run.run_name.args.empty()) key += "/" + run.run_name.args;
            Counters& row = rows_[key];
            for (const auto& [name, counter] : run.counters) row[name] = counter.value;
            row["repetitions"] = static_cast<double>(run.repetitions);
        }
    }

    void Finalize() override {
        ConsoleReporter::Finalize();
        std::ostream& out = GetOutputStream();
        out << summary();
        out.flush();
    }

    const std::map<std::string, Counters>& rows() const { return rows_; }

  private:
    double get(const std::string& key, const char* counter) const {
        auto row = rows_.find(key);
        if (row == rows_.end()) return -1;
        auto c = row->second.find(counter);
        return c == row->second.end() ? -1 : c->second;
    }

    static std::string num(double v, const char* fmt = "%.3g") {
        if (v < 0) return "-";
        char buf[32];
        std::snprintf(buf, sizeof buf, fmt, v);
        return buf;
    }

    static std::string ratio(double a, double b) {
        if (a < 0 || b <= 0) return "-";
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.2fx", a / b);
        return buf;
    }

    std::string summary() const {
        std::string s;
        char line[512];
        auto add = [&](const char* fmt, auto... args) {
            std::snprintf(line, sizeof line, fmt, args...);
            s += line;
        };
        add("\n== Summary (medians; ratios within this run; the machine is shared and noisy) ==\n");
        add("\nStreams, MB/s (writer and reader in two processes; ByteRing = 128 KiB ring):\n");
        add("%-6s %9s %8s %8s %9s %9s %8s %9s %21s\n", "write", "ByteRing", "unix", "tcp",
            "ring/tcp", "ring/unix", "efd/msg", "polls/msg", "cpu_us/msg ring|tcp");
        for (const char* size : {"64", "1024", "16384", "65536"}) {
            const std::string ring = std::string("ByteRing/128KiB/") + size;
            const std::string tcp = std::string("TcpLoopback/") + size;
            const double r = get(ring, "MB/s");
            const double u = get(std::string("UnixStream/") + size, "MB/s");
            const double t = get(tcp, "MB/s");
            if (r < 0 && u < 0 && t < 0) continue;
            add("%-6s %9s %8s %8s %9s %9s %8s %9s %10s|%-10s\n", size, num(r, "%.0f").c_str(),
                num(u, "%.0f").c_str(), num(t, "%.0f").c_str(), ratio(r, t).c_str(),
                ratio(r, u).c_str(), num(get(ring, "efd/msg"), "%.4f").c_str(),
                num(get(ring, "polls/msg"), "%.4f").c_str(),
                num(get(ring, "cpu_us/msg"), "%.3f").c_str(),
                num(get(tcp, "cpu_us/msg"), "%.3f").c_str());
        }
        add("Variants (what limits it):\n");
        for (const char* key : {"ByteRing/128KiB_seed_block/1024",
                                "ByteRing/128KiB_seed_block/65536", "ByteRing/1MiB/65536"}) {
            if (get(key, "MB/s") < 0) continue;
            add("  %-34s %8s MB/s  efd/msg %-8s full/msg %-8s w_cpu %s\n", key,
                num(get(key, "MB/s"), "%.0f").c_str(), num(get(key, "efd/msg"), "%.4f").c_str(),
                num(get(key, "full/msg"), "%.3f").c_str(), num(get(key, "w_cpu"), "%.2f").c_str());
        }
        add("\nDatagrams, 64 B, client -> server, million delivered per second:\n");
        add("%-22s %9s %9s %8s %8s %8s %11s %7s %7s\n", "", "Mmsg/s", "vs UDP", "drop%", "efd/msg",
            "sys/msg", "cpu_us/msg", "w_cpu", "r_cpu");
        const double udp = get("UdpLoopback", "Mmsg/s");
        for (const char* key : {"DgramRing/process_vm", "DgramRing/segment", "UdpLoopback"}) {
            const double m = get(key, "Mmsg/s");
            if (m < 0) continue;
            add("%-22s %9s %9s %8s %8s %8s %11s %7s %7s\n", key, num(m, "%.3f").c_str(),
                ratio(m, udp).c_str(), num(get(key, "drop%"), "%.1f").c_str(),
                num(get(key, "efd/msg"), "%.4f").c_str(), num(get(key, "sys/msg"), "%.3f").c_str(),
                num(get(key, "cpu_us/msg"), "%.3f").c_str(), num(get(key, "w_cpu"), "%.2f").c_str(),
                num(get(key, "r_cpu"), "%.2f").c_str());
        }
        add("\nLevel-triggered writer, full send ring, slow reader (1 KiB writes, reader 64 "
            "KiB/ms):\n");
        add("%-26s %10s %7s %7s %10s %10s %12s %10s %7s\n", "", "cpu/wait_s", "w_cpu", "wait%",
            "w_sys/msg", "r_sys/msg", "spurious/msg", "futile/msg", "MB/s");
        for (const char* key :
             {"LtWriterRing/eventfd_block", "LtWriterRing/socketpair", "LtWriterKernelTcp"}) {
            if (get(key, "MB/s") < 0) continue;
            add("%-26s %10s %7s %7s %10s %10s %12s %10s %7s\n", key,
                num(get(key, "cpu/wait_s"), "%.3f").c_str(), num(get(key, "w_cpu"), "%.3f").c_str(),
                num(get(key, "wait%"), "%.0f").c_str(), num(get(key, "w_sys/msg"), "%.3f").c_str(),
                num(get(key, "r_sys/msg"), "%.3f").c_str(),
                num(get(key, "spurious/msg"), "%.3f").c_str(),
                num(get(key, "futile/msg"), "%.3f").c_str(), num(get(key, "MB/s"), "%.1f").c_str());
        }
        add("\nTargets (issue 2):\n");
        add("  ByteRing >= 10x loopback TCP at 64 KiB writes: %s\n",
            verdict(get("ByteRing/128KiB/65536", "MB/s"), get("TcpLoopback/65536", "MB/s"))
                .c_str());
        add("  DgramRing >= 10x loopback UDP: %s with process_vm_writev, %s through the segment\n",
            verdict(get("DgramRing/process_vm", "Mmsg/s"), udp).c_str(),
            verdict(get("DgramRing/segment", "Mmsg/s"), udp).c_str());
        add("  eventfd syscalls per message < 0.01 (notify-on-idle rows): %s\n",
            efd_verdict().c_str());
        return s;
    }

    static std::string verdict(double ours, double kernel) {
        if (ours < 0 || kernel <= 0) return "not run";
        return std::string(ours >= 10 * kernel ? "met" : "NOT met") + " (" + ratio(ours, kernel) +
               ")";
    }

    std::string efd_verdict() const {
        std::string worst_key;
        double worst = -1;
        for (const auto& [key, row] : rows_) {
            if (key.rfind("ByteRing/128KiB/", 0) != 0 && key.rfind("DgramRing/", 0) != 0) continue;
            auto c = row.find("efd/msg");
            if (c != row.end() && c->second > worst) {
                worst = c->second;
                worst_key = key;
            }
        }
        if (worst < 0) return "not run";
        return std::string(worst < 0.01 ? "met" : "NOT met") + " (worst " + num(worst, "%.4f") +
               " at " + worst_key + ")";
    }

    std::map<std::string, Counters> rows_;
};

// --check: what must hold whatever the machine's speed (a smoke test runs it with tiny runs).
int check(const std::map<std::string, Counters>& rows) {
    int failures = 0;
    auto expect = [&](bool ok, const std::string& what) {
        if (!ok) {
            std::fprintf(stderr, "CHECK FAILED: %s\n", what.c_str());
            ++failures;
        }
    };
    auto value = [&](const std::string& key, const char* counter) {
        auto row = rows.find(key);
        if (row == rows.end()) return -1.0;
        auto c = row->second.find(counter);
        return c == row->second.end() ? -1.0 : c->second;
    };
    for (const char* size : {"64", "1024", "16384", "65536"}) {
        expect(value(std::string("ByteRing/128KiB/") + size, "MB/s") > 0,
               std::string("ByteRing/128KiB/") + size + " ran");
        for (const char* kernel : {"UnixStream/", "TcpLoopback/"}) {
            // Every kernel write is a syscall: this proves that the counting wrappers count.
            expect(value(kernel + std::string(size), "sys/msg") >= 1.0,
                   kernel + std::string(size) + " counts >= 1 syscall per message");
        }
    }
    expect(value("DgramRing/process_vm", "sys/msg") >= 1.0,
           "DgramRing/process_vm counts one process_vm_writev per datagram");
    expect(value("DgramRing/segment", "Mmsg/s") > 0, "DgramRing/segment ran");
    expect(value("UdpLoopback", "sys/msg") >= 1.0, "UdpLoopback counts >= 1 syscall per datagram");
    // The seed's weakness, and our fix: a blocked eventfd reports POLLIN, a socketpair does not.
    expect(value("LtWriterRing/eventfd_block", "spurious/msg") > 0,
           "the seed's blocked eventfd wakes a level-triggered writer with POLLIN");
    expect(value("LtWriterRing/socketpair", "spurious/msg") == 0,
           "the socketpair never reports POLLIN without data");
    expect(value("LtWriterKernelTcp", "spurious/msg") == 0,
           "Linux TCP never reports POLLIN without data");
    return failures;
}

}  // namespace

int main(int argc, char** argv) {
    // Our own flags: --check (assertions after the run), --iterations=N (fixed iteration
    // count: short deterministic smoke runs, and strace cross-checks of the syscall counts).
    bool run_checks = false;
    std::vector<char*> args;
    for (int i = 0; i < argc; ++i) {
        if (std::strcmp(argv[i], "--check") == 0) {
            run_checks = true;
        } else if (std::strncmp(argv[i], "--iterations=", 13) == 0) {
            const long long n = std::atoll(argv[i] + 13);
            if (n <= 0) {
                std::fprintf(stderr, "channels_bench: --iterations needs a positive count\n");
                return 2;
            }
            cb::set_fixed_iterations(n);
        } else {
            args.push_back(argv[i]);
        }
    }
    cb::register_stream_benchmarks();
    cb::register_dgram_benchmarks();
    cb::register_readiness_benchmarks();
    int count = static_cast<int>(args.size());
    benchmark::Initialize(&count, args.data());
    if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 2;
    SummaryReporter reporter(::isatty(STDOUT_FILENO) ? benchmark::ConsoleReporter::OO_ColorTabular
                                                     : benchmark::ConsoleReporter::OO_Tabular);
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    int status = cb::any_failure() ? 1 : 0;
    if (cb::any_failure()) std::fprintf(stderr, "channels_bench: a benchmark failed (see above)\n");
    if (run_checks && check(reporter.rows()) != 0) status = 1;
    return status;
}

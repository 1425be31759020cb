// DPDK's EAL, initialised once per process from culvertd's configuration, with failures
// turned into one message that names the cause (hugepages, arguments, lcores, memory).
#include "backends/dpdk/dpdk_backend.hpp"
#include "backends/dpdk/dpdk_log_capture.hpp"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_log.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <vector>

namespace culvert::backends {
namespace dpdk_detail {

LogCapture::LogCapture() {
    previous_ = rte_log_get_stream();
    stream_ = open_memstream(&buffer_, &size_);
    if (stream_ != nullptr) rte_openlog_stream(stream_);
}

LogCapture::~LogCapture() {
    if (!done_) replay();
    std::free(buffer_);
}

std::string LogCapture::finish() {
    if (done_) return {};
    done_ = true;
    // NULL restores DPDK's default stream; an explicit previous stream is put back as it was.
    rte_openlog_stream(previous_ == stderr ? nullptr : previous_);
    if (stream_ == nullptr) return {};
    std::fclose(stream_);  // flushes into buffer_/size_
    stream_ = nullptr;
    return {buffer_ != nullptr ? buffer_ : "", size_};
}

void LogCapture::replay() {
    const std::string text = finish();
    if (!text.empty()) {
        std::fwrite(text.data(), 1, text.size(), stderr);
        std::fflush(stderr);
    }
}

std::string dpdk_reason(const std::string& log_text, size_t max_lines) {
    std::vector<std::string> lines;
    std::istringstream in(log_text);
    for (std::string line; std::getline(in, line);) {
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back())))
            line.pop_back();
        if (!line.empty()) lines.push_back(line);
    }
    static constexpr const char* kWords[] = {"fail",
                                             "error",
                                             "cannot",
                                             "can't",
                                             "invalid",
                                             "unable",
                                             "no such",
                                             "not ",
                                             "unknown",
                                             "unavailable",
                                             "refused",
                                             "fatal",
                                             "missing",
                                             "wrong",
                                             "bad ",
                                             "unrecognized",
                                             "requires an argument"};
    const auto alarming = [](std::string line) {
        std::transform(line.begin(), line.end(), line.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        return std::any_of(std::begin(kWords), std::end(kWords),
                           [&](const char* w) { return line.find(w) != std::string::npos; });
    };
    // Said on every success with --no-shconf (no multi-process channel): not a reason.
    static constexpr const char* kHarmless[] = {"Failed to register mp action callback",
                                                "Multi-process socket", "FATAL: "};
    const auto harmless = [](const std::string& line) {
        return std::any_of(std::begin(kHarmless), std::end(kHarmless),
                           [&](const char* h) { return line.find(h) != std::string::npos; });
    };
    std::vector<std::string> picked;
    for (const auto& l : lines)
        if (alarming(l) && !harmless(l)) picked.push_back(l);
    if (picked.empty()) picked = lines;
    // Repeated lines ("Cannot get hugepage information." is logged twice) count once.
    picked.erase(std::unique(picked.begin(), picked.end()), picked.end());
    if (picked.size() > max_lines)
        picked.erase(picked.begin(), picked.end() - static_cast<long>(max_lines));
    std::string out;
    for (const auto& l : picked) {
        if (!out.empty()) out += "; ";
        out += l;
    }
    return out;
}

}  // namespace dpdk_detail

namespace {

std::mutex g_eal_mutex;
std::optional<std::vector<std::string>> g_eal_args;  // set once rte_eal_init succeeded
// rte_eal_init keeps pointers into argv (e.g. for --file-prefix), and getopt permutes the
// pointer array: both live until the process ends.
std::vector<std::string> g_argv_strings;
std::vector<char*> g_argv;

std::string joined(std::span<const std::string> args) {
    std::string out;
    for (const auto& a : args) {
        if (!out.empty()) out += ' ';
        out += a;
    }
    return out;
}

bool has_arg(std::span<const std::string> args, std::string_view name) {
    return std::any_of(args.begin(), args.end(), [&](const std::string& a) {
        return a == name ||
               (a.size() > name.size() && a.starts_with(name) && a[name.size()] == '=');
    });
}

// HugePages_Total from /proc/meminfo (the default size's pool), or -1 if unreadable.
long hugepages_total() {
    std::ifstream in("/proc/meminfo");
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with("HugePages_Total:"))
            return std::strtol(line.c_str() + 16, nullptr, 10);
    }
    return -1;
}

BackendError eal_error(int err, std::span<const std::string> args, const std::string& log) {
    std::string why;
    const std::string said = dpdk_detail::dpdk_reason(log);
    if (err == EACCES && !has_arg(args, "--no-huge")) {
        const long pages = hugepages_total();
        if (pages == 0) {
            why =
                "no hugepages are reserved on this machine and the EAL arguments lack --no-huge: "
                "reserve hugepages (echo 1024 > /sys/kernel/mm/hugepages/hugepages-2048kB/"
                "nr_hugepages; see docs/dpdk.md) or add --no-huge -m 256 for virtual devices";
        } else {
            why = "cannot use the hugepages (" + std::to_string(pages) +
                  " reserved): is hugetlbfs mounted (mount -t hugetlbfs nodev /dev/hugepages) and "
                  "are they free? Or add --no-huge -m 256 for virtual devices";
        }
    } else if (err == EINVAL) {
        why = "invalid EAL arguments '" + joined(args) + "'";
    } else if (err == ENOMEM) {
        why = "the EAL cannot reserve its memory (raise hugepages or lower -m)";
    } else if (err == ENOTSUP) {
        why = "the EAL cannot detect or use the requested lcores";
    } else if (err == EALREADY) {
        why = "the EAL was already initialised in this process by someone else";
    } else if (err == ENODEV) {
        why = "the EAL cannot scan or probe a bus or device named in its arguments";
    } else {
        why = "rte_eal_init failed: " + std::string(std::strerror(err));
    }
    if (!said.empty()) why += " (DPDK: " + said + ")";
    return BackendError{err, "DPDK EAL initialisation failed: " + why};
}

}  // namespace

std::expected<void, BackendError> dpdk_eal_init(std::span<const std::string> args) {
    std::lock_guard lock(g_eal_mutex);
    const std::vector<std::string> wanted(args.begin(), args.end());
    if (g_eal_args) {
        if (*g_eal_args == wanted) return {};
        return std::unexpected(BackendError{
            EALREADY, "DPDK EAL is already initialised in this process with '" +
                          joined(*g_eal_args) + "'; it cannot be initialised again with '" +
                          joined(args) + "' (DPDK allows one EAL per process)"});
    }
    if (has_arg(args, "--in-memory") && has_arg(args, "--no-huge"))
        return std::unexpected(BackendError{
            EINVAL,
            "DPDK EAL arguments combine --in-memory with --no-huge, which DPDK refuses; "
            "use --no-huge --no-shconf for virtual devices"});

    g_argv_strings.clear();
    g_argv_strings.reserve(args.size() + 1);
    g_argv_strings.push_back("culvertd");
    for (const auto& a : args) g_argv_strings.push_back(a);
    g_argv.clear();
    for (auto& s : g_argv_strings) g_argv.push_back(s.data());
    g_argv.push_back(nullptr);

    // The EAL prints its whole usage text to stdout on a bad argument, and some failures
    // (getopt's complaint, "EAL: FATAL: ...") straight to stderr. Keep both out of our
    // output while it runs: the error below quotes what matters, and on success what was
    // written to stderr is shown after all.
    std::fflush(stdout);
    std::fflush(stderr);
    const int saved_stdout = ::dup(STDOUT_FILENO);
    const int saved_stderr = ::dup(STDERR_FILENO);
    const int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    const int errors = ::memfd_create("culvert-eal-stderr", MFD_CLOEXEC);
    const bool redirect = saved_stdout >= 0 && saved_stderr >= 0 && devnull >= 0 && errors >= 0;
    if (redirect) {
        ::dup2(devnull, STDOUT_FILENO);
        ::dup2(errors, STDERR_FILENO);
    }
    std::string log;
    int rc, err;
    {
        dpdk_detail::LogCapture capture;
        rc = rte_eal_init(static_cast<int>(g_argv.size() - 1), g_argv.data());
        err = rte_errno;
        log = capture.finish();
    }
    std::fflush(stdout);
    std::fflush(stderr);
    std::string direct;
    if (redirect) {
        ::dup2(saved_stdout, STDOUT_FILENO);
        ::dup2(saved_stderr, STDERR_FILENO);
        char chunk[4096];
        ::lseek(errors, 0, SEEK_SET);
        for (ssize_t n; (n = ::read(errors, chunk, sizeof chunk)) > 0;)
            direct.append(chunk, static_cast<size_t>(n));
    }
    for (int fd : {saved_stdout, saved_stderr, devnull, errors})
        if (fd >= 0) ::close(fd);
    if (rc < 0) return std::unexpected(eal_error(err, args, direct + log));
    const std::string shown = direct + log;
    if (!shown.empty()) {
        std::fwrite(shown.data(), 1, shown.size(), stderr);
        std::fflush(stderr);
    }
    g_eal_args = wanted;
    return {};
}

bool dpdk_eal_initialised() {
    std::lock_guard lock(g_eal_mutex);
    return g_eal_args.has_value();
}

void dpdk_eal_cleanup() {
    std::lock_guard lock(g_eal_mutex);
    if (!g_eal_args) return;
    rte_eal_cleanup();
    // DPDK does not support a second rte_eal_init in one process, even after cleanup.
}

}  // namespace culvert::backends

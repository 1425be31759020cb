// Captures what DPDK logs while one call runs (EAL init, a vdev probe), so that a failure can
// be reported as one message that quotes DPDK's own reason. Internal to backends/dpdk.
#pragma once

#include <cstdio>
#include <string>

namespace culvert::backends::dpdk_detail {

class LogCapture {
  public:
    // Points DPDK's log stream at a buffer until finish() (or destruction, which replays).
    LogCapture();
    ~LogCapture();
    LogCapture(const LogCapture&) = delete;
    LogCapture& operator=(const LogCapture&) = delete;

    // Restores DPDK's previous log stream and returns everything captured.
    std::string finish();
    // Restores the stream and writes the captured text to stderr (the call succeeded:
    // DPDK's messages are shown as they would have been).
    void replay();

  private:
    FILE* previous_ = nullptr;
    FILE* stream_ = nullptr;
    char* buffer_ = nullptr;
    size_t size_ = 0;
    bool done_ = false;
};

// The last `max_lines` lines of DPDK's log that say something went wrong, joined with
// "; " (lines with "fail", "error", "cannot", "invalid", "unable", "no " ...), or the last
// non-empty lines when none does. Empty when nothing was logged.
std::string dpdk_reason(const std::string& log_text, size_t max_lines = 2);

}  // namespace culvert::backends::dpdk_detail

// The run's trace: one line per event with its virtual time, and a hash of every byte of
// it (FNV-1a, 64 bits). Same seed, same lines, same hash: that is the determinism check.
// Lines are kept or echoed only on request; the hash is always computed.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace culvert::sim {

class Trace {
  public:
    void keep_lines(bool keep) { keep_ = keep; }
    void echo_to(std::FILE* file) { echo_ = file; }

    // One event at virtual time t_ns ("12.000345678 <text>\n").
    void add(uint64_t t_ns, std::string_view text);

    uint64_t hash() const { return hash_; }
    uint64_t events() const { return events_; }
    const std::string& lines() const { return lines_; }
    // The last lines kept for a failure report (always kept, a few dozen).
    std::string tail() const;

  private:
    void mix(std::string_view bytes);
    uint64_t hash_ = 0xcbf29ce484222325ull;
    uint64_t events_ = 0;
    bool keep_ = false;
    std::FILE* echo_ = nullptr;
    std::string lines_;
    static constexpr size_t kTail = 40;
    std::string ring_[kTail];
    size_t ring_next_ = 0;
};

}  // namespace culvert::sim

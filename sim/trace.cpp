// Trace (trace.hpp).
#include "sim/trace.hpp"

namespace culvert::sim {

void Trace::mix(std::string_view bytes) {
    for (char c : bytes) {
        hash_ ^= static_cast<uint8_t>(c);
        hash_ *= 0x100000001b3ull;
    }
}

void Trace::add(uint64_t t_ns, std::string_view text) {
    char stamp[32];
    const int n = std::snprintf(stamp, sizeof stamp, "%llu.%09llu ",
                                static_cast<unsigned long long>(t_ns / 1'000'000'000),
                                static_cast<unsigned long long>(t_ns % 1'000'000'000));
    std::string line;
    line.reserve(static_cast<size_t>(n) + text.size() + 1);
    line.append(stamp, static_cast<size_t>(n));
    line.append(text);
    line.push_back('\n');
    mix(line);
    ++events_;
    if (keep_) lines_ += line;
    if (echo_) std::fwrite(line.data(), 1, line.size(), echo_);
    ring_[ring_next_++ % kTail] = std::move(line);
}

std::string Trace::tail() const {
    std::string out;
    const size_t count = ring_next_ < kTail ? ring_next_ : kTail;
    for (size_t i = ring_next_ - count; i < ring_next_; ++i) out += ring_[i % kTail];
    return out;
}

}  // namespace culvert::sim

// The simulator's only source of randomness: xoshiro256** seeded through splitmix64. One
// run seed derives every stream (each link, each process) so that a seed replays exactly.
// Header-only and dependency-free so that any in-process driver can reuse it.
#pragma once

#include <cstdint>

namespace culvert::sim {

class Rng {
  public:
    explicit Rng(uint64_t seed = 0) { reseed(seed); }

    void reseed(uint64_t seed) {
        uint64_t x = seed;
        for (auto& s : s_) s = splitmix64(x);
    }

    // An independent stream for `purpose` (a link, a process): same seed, same streams.
    Rng derive(uint64_t purpose) const {
        uint64_t x = s_[0] ^ (purpose * 0x9e3779b97f4a7c15ull) ^ 0x5ee0d5ee0d5ee0d5ull;
        return Rng(splitmix64(x) ^ s_[3]);
    }

    uint64_t next() {
        const uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    // Uniform in [0, n); n == 0 gives 0. (Lemire's multiply-shift; the tiny bias is fine here.)
    uint64_t below(uint64_t n) {
        return n == 0 ? 0
                      : static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
    }
    // Uniform in [lo, hi].
    uint64_t range(uint64_t lo, uint64_t hi) { return hi <= lo ? lo : lo + below(hi - lo + 1); }
    // True with probability p (p <= 0: never, p >= 1: always; no draw in either case).
    bool chance(double p) {
        if (p <= 0) return false;
        if (p >= 1) return true;
        return static_cast<double>(next() >> 11) * 0x1.0p-53 < p;
    }
    // A size spread over orders of magnitude: log-uniform in [lo, hi].
    uint64_t log_range(uint64_t lo, uint64_t hi);

    static uint64_t splitmix64(uint64_t& x) {
        uint64_t z = (x += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }

  private:
    static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    uint64_t s_[4];
};

inline uint64_t Rng::log_range(uint64_t lo, uint64_t hi) {
    if (hi <= lo) return lo;
    if (lo == 0) {
        if (chance(0.05)) return 0;
        lo = 1;
    }
    // Pick a power-of-two band, then a value inside it.
    int lo_bit = 63 - __builtin_clzll(lo), hi_bit = 63 - __builtin_clzll(hi);
    const int bit =
        static_cast<int>(range(static_cast<uint64_t>(lo_bit), static_cast<uint64_t>(hi_bit)));
    const uint64_t band_lo = bit == lo_bit ? lo : (1ull << bit);
    const uint64_t band_hi = bit == hi_bit ? hi : ((1ull << (bit + 1)) - 1);
    return range(band_lo, band_hi);
}

}  // namespace culvert::sim

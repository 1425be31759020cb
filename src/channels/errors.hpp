// Error values of the shared-memory channel primitives: what a ring, queue or segment
// reports when the other side wrote something we refuse to act on, or an operation can't go on.
#pragma once

#include <cstdint>

namespace culvert::channels {

enum class ChannelError : uint8_t {
    corrupt_index,   // an index read from shared memory is outside its valid range
    corrupt_length,  // a length read from shared memory is impossible
    out_of_bounds,   // an offset/count does not fit in the segment (or is misaligned)
    bad_magic,       // the segment header is not ours
    bad_version,     // the segment header is ours but another layout version
    full,            // no room
    empty,           // nothing to take
    closed,          // the other side is gone / shut down
    timeout,         // waited and nothing happened
    system,          // a system call failed (the errno is reported elsewhere)
};

// Static, never-null, human-readable name ("corrupt_index", ...).
const char* to_string(ChannelError error);

}  // namespace culvert::channels

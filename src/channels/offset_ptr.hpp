// A pointer that lives in shared memory: an offset from the segment's base, because the two
// processes map the segment at different addresses. Resolving checks bounds and alignment,
// since the other side may have written any value into it.
#pragma once

#include "channels/read_once.hpp"
#include "channels/segment.hpp"

#include <cstdint>
#include <expected>
#include <type_traits>

namespace culvert::channels {

template <class T>
struct OffsetPtr {
    uint64_t offset;

    // `count` Ts starting at the stored offset, or out_of_bounds. The offset is read exactly
    // once, so a concurrent rewrite cannot slip between the check and the use.
    std::expected<T*, ChannelError> resolve(const Segment& segment, size_t count = 1) const {
        return segment.at<T>(read_once(offset), count);
    }

    // Our own pointer into `segment` (programmer error if it points elsewhere).
    static OffsetPtr to(const Segment& segment, const T* p) {
        return OffsetPtr{segment.offset_of(p)};
    }
};

static_assert(sizeof(OffsetPtr<std::byte>) == 8 && alignof(OffsetPtr<std::byte>) == 8);
static_assert(std::is_trivially_copyable_v<OffsetPtr<std::byte>>);
static_assert(std::is_standard_layout_v<OffsetPtr<std::byte>>);

}  // namespace culvert::channels

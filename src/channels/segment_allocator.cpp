// First-fit allocation with coalescing over a server-private map of free ranges.
#include "channels/segment_allocator.hpp"

#include "channels/assert.hpp"

#include <algorithm>
#include <iterator>

namespace culvert::channels {

SegmentAllocator::SegmentAllocator(size_t size_bytes, size_t reserved_prefix_bytes)
    : size_bytes_(size_bytes), reserved_bytes_(std::min(reserved_prefix_bytes, size_bytes)) {
    if (size_bytes_ > reserved_bytes_)
        free_.emplace(reserved_bytes_, size_bytes_ - reserved_bytes_);
}

std::optional<uint64_t> SegmentAllocator::allocate(size_t bytes, size_t align) {
    CULVERT_CHANNELS_ASSERT(align != 0 && (align & (align - 1)) == 0);
    if (bytes == 0) return std::nullopt;
    for (auto it = free_.begin(); it != free_.end(); ++it) {
        const uint64_t start = it->first;
        const uint64_t length = it->second;
        const uint64_t aligned = (start + align - 1) & ~static_cast<uint64_t>(align - 1);
        const uint64_t padding = aligned - start;
        if (padding > length || bytes > length - padding) continue;
        const uint64_t tail = length - padding - bytes;
        // Split: the alignment padding stays a free block where it was, the tail becomes one.
        if (padding == 0) {
            free_.erase(it);
        } else {
            it->second = padding;
        }
        if (tail != 0) free_.emplace(aligned + bytes, tail);
        used_.emplace(aligned, bytes);
        in_use_bytes_ += bytes;
        return aligned;
    }
    return std::nullopt;
}

void SegmentAllocator::free(uint64_t offset) {
    const auto used = used_.find(offset);
    CULVERT_CHANNELS_ASSERT(used != used_.end());
    uint64_t start = offset;
    uint64_t length = used->second;
    in_use_bytes_ -= length;
    used_.erase(used);

    auto next = free_.lower_bound(start);
    if (next != free_.end() && next->first == start + length) {  // merge with the follower
        length += next->second;
        next = free_.erase(next);
    }
    if (next != free_.begin()) {  // merge with the predecessor
        auto prev = std::prev(next);
        if (prev->first + prev->second == start) {
            prev->second += length;
            return;
        }
    }
    free_.emplace_hint(next, start, length);
}

size_t SegmentAllocator::largest_free_block() const {
    uint64_t largest = 0;
    for (const auto& [offset, length] : free_) largest = std::max(largest, length);
    return largest;
}

}  // namespace culvert::channels

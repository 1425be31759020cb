// Server-PRIVATE bookkeeping of a segment's free space: which byte ranges of a client's
// segment hold channels and rings. Its metadata lives in the server's heap, never in the
// segment, so a client cannot corrupt it. Control path only (socket creation/close).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>

namespace culvert::channels {

class SegmentAllocator {
  public:
    // Manages [reserved_prefix_bytes, size_bytes); the prefix (segment header) is never handed out.
    SegmentAllocator(size_t size_bytes, size_t reserved_prefix_bytes);

    // First fit in address order: the lowest offset aligned to `align` (a power of two) with
    // `bytes` free after it. nullopt when no free block fits or bytes == 0.
    std::optional<uint64_t> allocate(size_t bytes, size_t align = 64);

    // Returns a block; its size is remembered privately. Merges it with free neighbours.
    // Freeing an offset that allocate() did not return (or twice) is a programmer error.
    void free(uint64_t offset);

    size_t bytes_in_use() const { return in_use_bytes_; }
    size_t bytes_free() const { return size_bytes_ - reserved_bytes_ - in_use_bytes_; }
    size_t largest_free_block() const;
    size_t free_block_count() const { return free_.size(); }

  private:
    size_t size_bytes_;
    size_t reserved_bytes_;
    size_t in_use_bytes_ = 0;
    std::map<uint64_t, uint64_t> free_;  // offset -> length, disjoint, never adjacent
    std::map<uint64_t, uint64_t> used_;  // offset -> length
};

}  // namespace culvert::channels

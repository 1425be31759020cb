// One client's shared segment and the server-private allocator of its space. Shared by the
// client's session and its sockets: an orphaned socket keeps the memory alive until it
// has finished draining, even after the client is gone.
#pragma once

#include "channels/segment.hpp"
#include "channels/segment_allocator.hpp"

#include <cstdint>
#include <memory>
#include <optional>

namespace culvert::server {

struct ClientMemory {
    channels::Segment segment;
    channels::SegmentAllocator allocator;

    ClientMemory(channels::Segment seg)
        : segment(std::move(seg)), allocator(segment.size(), 64) {}

    template <class T>
    T* place(uint64_t offset) {
        auto p = segment.at<T>(offset);
        return p ? *p : nullptr;
    }
};

using ClientMemoryPtr = std::shared_ptr<ClientMemory>;

// Allocations of one socket in a client's segment, all released together.
class SegmentAllocations {
public:
    SegmentAllocations() = default;
    explicit SegmentAllocations(ClientMemoryPtr mem) : mem_(std::move(mem)) {}
    SegmentAllocations(const SegmentAllocations&) = delete;
    SegmentAllocations& operator=(const SegmentAllocations&) = delete;
    ~SegmentAllocations() { release(); }

    std::optional<uint64_t> allocate(size_t bytes) {
        if (count_ == kMax) return std::nullopt;
        auto off = mem_->allocator.allocate(bytes, 64);
        if (off) offsets_[count_++] = *off;
        return off;
    }
    // Frees one allocation made here (a ring being replaced).
    void free(uint64_t offset) {
        for (size_t i = 0; i < count_; ++i) {
            if (offsets_[i] != offset) continue;
            mem_->allocator.free(offset);
            offsets_[i] = offsets_[--count_];
            return;
        }
    }
    void release() {
        for (size_t i = 0; i < count_; ++i) mem_->allocator.free(offsets_[i]);
        count_ = 0;
    }
    ClientMemory& memory() const { return *mem_; }
    const ClientMemoryPtr& memory_ptr() const { return mem_; }

private:
    static constexpr size_t kMax = 4 + 64;  // channel, two rings, segment-mode slots
    ClientMemoryPtr mem_;
    uint64_t offsets_[kMax] = {};
    size_t count_ = 0;
};

}  // namespace culvert::server

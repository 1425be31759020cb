// The first bytes of every client segment: magic, layout version and size, so that a client
// linked against another layout fails with bad_magic/bad_version instead of misreading rings.
#pragma once

#include "channels/errors.hpp"
#include "channels/segment.hpp"

#include <cstddef>
#include <cstdint>
#include <expected>

namespace culvert::channels {

inline constexpr uint64_t kSegmentMagic = 0x314745534c56'4c43;  // "CLVLSEG1" little-endian
// Bump whenever any struct placed in a segment changes size, offsets or meaning.
inline constexpr uint32_t kSegmentLayoutVersion = 1;

struct SegmentHeader {  // in shared memory, at offset 0, written once by the server
    uint64_t magic;
    uint32_t layout_version;
    uint32_t header_bytes;   // sizeof(SegmentHeader) as the server saw it
    uint64_t segment_bytes;  // the size the server created
    uint64_t reserved[5];    // zero; room to grow without moving what follows
};
static_assert(sizeof(SegmentHeader) == 64);
static_assert(offsetof(SegmentHeader, magic) == 0);
static_assert(offsetof(SegmentHeader, layout_version) == 8);
static_assert(offsetof(SegmentHeader, header_bytes) == 12);
static_assert(offsetof(SegmentHeader, segment_bytes) == 16);

// Server: write the header at offset 0 (the segment must be at least 64 bytes).
std::expected<SegmentHeader*, ChannelError> write_segment_header(const Segment& segment);

// Client: check the header (magic, version, recorded sizes against the real mapping).
std::expected<const SegmentHeader*, ChannelError> check_segment_header(const Segment& segment);

}  // namespace culvert::channels

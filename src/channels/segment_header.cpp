// Writing and checking the segment header.
#include "channels/segment_header.hpp"

#include "channels/read_once.hpp"

namespace culvert::channels {

std::expected<SegmentHeader*, ChannelError> write_segment_header(const Segment& segment) {
    auto header = segment.emplace<SegmentHeader>(0);
    if (!header) return header;
    (*header)->magic = kSegmentMagic;
    (*header)->layout_version = kSegmentLayoutVersion;
    (*header)->header_bytes = sizeof(SegmentHeader);
    (*header)->segment_bytes = segment.size();
    return header;
}

std::expected<const SegmentHeader*, ChannelError> check_segment_header(const Segment& segment) {
    auto header = segment.at<const SegmentHeader>(0);
    if (!header) return std::unexpected(header.error());
    const SegmentHeader copy = read_once(**header);
    if (copy.magic != kSegmentMagic) return std::unexpected(ChannelError::bad_magic);
    if (copy.layout_version != kSegmentLayoutVersion) {
        return std::unexpected(ChannelError::bad_version);
    }
    if (copy.header_bytes != sizeof(SegmentHeader) || copy.segment_bytes != segment.size()) {
        return std::unexpected(ChannelError::corrupt_length);
    }
    return *header;
}

}  // namespace culvert::channels

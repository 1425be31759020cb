// Segment: create/attach across fork (two mappings of one sealed memfd see each other's
// writes), the seals, bounds-checked views, the header; SegmentAllocator: first fit,
// alignment, coalescing, out-of-space, and bytes_in_use back to 0.
#include "channels/offset_ptr.hpp"
#include "channels/segment.hpp"
#include "channels/segment_allocator.hpp"
#include "channels/segment_header.hpp"

#include "channel_test_support.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <vector>

namespace cc = culvert::channels;
namespace ct = culvert::channels::test;

TEST(Segment, CreateSealsTheMemfdAndMapsItZeroed) {
    auto segment = cc::Segment::create("culvert-test", 64 * 1024);
    ASSERT_TRUE(segment.has_value()) << std::strerror(segment.error());
    EXPECT_EQ(segment->size(), 64u * 1024);
    ASSERT_NE(segment->base(), nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(segment->base()) % 4096, 0u);
    const int seals = ::fcntl(segment->fd(), F_GET_SEALS);
    EXPECT_EQ(seals, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
    EXPECT_NE(::ftruncate(segment->fd(), 4096), 0);  // cannot shrink under a reader
    EXPECT_NE(::ftruncate(segment->fd(), 1 << 20), 0);
    EXPECT_NE(::fcntl(segment->fd(), F_ADD_SEALS, F_SEAL_WRITE), 0);  // sealing is sealed
    EXPECT_TRUE(std::all_of(segment->base(), segment->base() + segment->size(),
                            [](std::byte b) { return b == std::byte{0}; }));
    EXPECT_EQ(::fcntl(segment->fd(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
}

TEST(Segment, CreateRefusesEmpty) {
    auto segment = cc::Segment::create("culvert-test", 0);
    ASSERT_FALSE(segment.has_value());
    EXPECT_EQ(segment.error(), EINVAL);
}

TEST(Segment, AttachAcrossForkSharesMemoryAtAnotherAddress) {
    auto segment = cc::Segment::create("culvert-test", 16 * 4096);
    ASSERT_TRUE(segment.has_value());
    auto* flag = segment->emplace<std::atomic<uint64_t>>(4096).value();
    const auto pattern_at = [](size_t i) { return static_cast<std::byte>(i * 7 + 3); };
    const ct::Side parent = [&](const cc::Segment& s) -> std::string {
        // Wait for the child to write the pattern and raise the flag (2 s at most).
        const int64_t deadline = ct::now_ms() + 2000;
        while (flag->load(std::memory_order_acquire) != 1) {
            if (ct::now_ms() > deadline) return "child never raised the flag";
            ::usleep(100);
        }
        auto bytes = s.bytes(8192, 1000).value();
        for (size_t i = 0; i < bytes.size(); ++i) {
            if (bytes[i] != pattern_at(i)) return "pattern mismatch at " + std::to_string(i);
        }
        flag->store(2, std::memory_order_release);
        return "";
    };
    const ct::Side child = [&](const cc::Segment& own) -> std::string {
        if (own.size() != segment->size()) return "attached size differs";
        if (own.base() == segment->base()) return "expected a second mapping";
        const int seals = ::fcntl(own.fd(), F_GET_SEALS);
        if ((seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW)) {
            return "seals missing in the child";
        }
        auto bytes = own.bytes(8192, 1000).value();
        for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = pattern_at(i);
        auto* own_flag = own.at<std::atomic<uint64_t>>(4096).value();
        own_flag->store(1, std::memory_order_release);
        const int64_t deadline = ct::now_ms() + 2000;
        while (own_flag->load(std::memory_order_acquire) != 2) {
            if (ct::now_ms() > deadline) return "parent never acknowledged";
            ::usleep(100);
        }
        return "";
    };
    const auto result = ct::run_in_two_processes(*segment, parent, child);
    EXPECT_EQ(result.a, "");
    EXPECT_EQ(result.b, "");
}

TEST(Segment, AttachTakesOwnershipAndChecksSize) {
    auto segment = cc::Segment::create("culvert-test", 8192);
    ASSERT_TRUE(segment.has_value());
    const int fd = ::dup(segment->fd());
    {
        auto attached = cc::Segment::attach(fd);
        ASSERT_TRUE(attached.has_value()) << std::strerror(attached.error());
        EXPECT_EQ(attached->size(), 8192u);
        EXPECT_EQ(attached->fd(), fd);
        cc::Segment moved = std::move(*attached);
        EXPECT_EQ(moved.fd(), fd);
        EXPECT_EQ(attached->fd(), -1);
    }
    EXPECT_EQ(::fcntl(fd, F_GETFD), -1);  // closed with the attached segment
    EXPECT_EQ(errno, EBADF);
    auto bad = cc::Segment::attach(-1);
    ASSERT_FALSE(bad.has_value());
    EXPECT_EQ(bad.error(), EBADF);
}

TEST(Segment, AttachRefusesUnsealedOrHalfSealedMemfd) {
    for (unsigned seals : {0u, unsigned{F_SEAL_SHRINK}, unsigned{F_SEAL_GROW}}) {
        const int fd = ::memfd_create("culvert-unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::ftruncate(fd, 4096), 0);
        if (seals != 0) {
            ASSERT_EQ(::fcntl(fd, F_ADD_SEALS, seals), 0);
        }
        auto attached = cc::Segment::attach(fd);
        ASSERT_FALSE(attached.has_value()) << "seals " << seals;
        EXPECT_EQ(attached.error(), EPERM);
        EXPECT_EQ(::fcntl(fd, F_GETFD), -1);  // ownership taken even on failure
    }
    // A memfd created without MFD_ALLOW_SEALING carries F_SEAL_SEAL only.
    const int fd = ::memfd_create("culvert-unsealable", MFD_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 4096), 0);
    auto attached = cc::Segment::attach(fd);
    ASSERT_FALSE(attached.has_value());
    EXPECT_EQ(attached.error(), EPERM);
}

TEST(Segment, AttachRefusesEmptySealedMemfd) {
    const int fd = ::memfd_create("culvert-empty", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
    auto attached = cc::Segment::attach(fd);
    ASSERT_FALSE(attached.has_value());
    EXPECT_EQ(attached.error(), EINVAL);
}

TEST(Segment, ViewsAreBoundsAndAlignmentChecked) {
    auto segment = cc::Segment::create("culvert-test", 4096).value();
    EXPECT_EQ(segment.at<uint64_t>(0).value(), reinterpret_cast<uint64_t*>(segment.base()));
    EXPECT_TRUE(segment.at<uint64_t>(4088).has_value());
    EXPECT_TRUE(segment.at<uint64_t>(0, 512).has_value());
    EXPECT_TRUE(segment.at<uint64_t>(4096, 0).has_value());  // an empty view at the end
    EXPECT_EQ(segment.at<uint64_t>(4096).error(), cc::ChannelError::out_of_bounds);
    EXPECT_EQ(segment.at<uint64_t>(0, 513).error(), cc::ChannelError::out_of_bounds);
    EXPECT_EQ(segment.at<uint64_t>(4, 1).error(), cc::ChannelError::out_of_bounds);  // misaligned
    EXPECT_EQ(segment.at<uint64_t>(4097, 0).error(), cc::ChannelError::out_of_bounds);
    EXPECT_EQ(segment.bytes(4000, 96).value().size(), 96u);
    EXPECT_EQ(segment.bytes(4000, 97).error(), cc::ChannelError::out_of_bounds);
    EXPECT_EQ(segment.offset_of(segment.base() + 123), 123u);
    auto ptr = cc::OffsetPtr<uint32_t>::to(segment, segment.at<uint32_t>(64).value());
    EXPECT_EQ(ptr.offset, 64u);
    EXPECT_EQ(ptr.resolve(segment, 4).value(), segment.at<uint32_t>(64).value());
    EXPECT_FALSE(cc::Segment().at<uint32_t>(0).has_value());  // an empty Segment has no bytes
}

TEST(Segment, HeaderRoundTripsAndRejectsOthers) {
    auto segment = cc::Segment::create("culvert-test", 4096).value();
    EXPECT_EQ(cc::check_segment_header(segment).error(), cc::ChannelError::bad_magic);
    ASSERT_TRUE(cc::write_segment_header(segment).has_value());
    auto header = cc::check_segment_header(segment);
    ASSERT_TRUE(header.has_value());
    EXPECT_EQ((*header)->segment_bytes, 4096u);
    auto* writable = segment.at<cc::SegmentHeader>(0).value();
    writable->layout_version = cc::kSegmentLayoutVersion + 1;
    EXPECT_EQ(cc::check_segment_header(segment).error(), cc::ChannelError::bad_version);
    writable->layout_version = cc::kSegmentLayoutVersion;
    writable->segment_bytes = 1 << 30;  // claims more than is mapped
    EXPECT_EQ(cc::check_segment_header(segment).error(), cc::ChannelError::corrupt_length);
}

// -------------------------------------------------------------------------------------------
// SegmentAllocator

TEST(SegmentAllocator, FirstFitHonoursPrefixAndAlignment) {
    cc::SegmentAllocator allocator(4096, 64);
    EXPECT_EQ(allocator.allocate(100).value(), 64u);      // right after the reserved prefix
    EXPECT_EQ(allocator.allocate(10, 64).value(), 192u);  // 164 rounded up to 64
    EXPECT_EQ(allocator.allocate(8, 8).value(), 168u);    // first fit: the alignment gap
    EXPECT_EQ(allocator.allocate(1, 1).value(), 164u);    // what is left before 168
    EXPECT_EQ(allocator.allocate(1024, 1024).value(), 1024u);
    EXPECT_EQ(allocator.bytes_in_use(), 100u + 10 + 8 + 1 + 1024);
    EXPECT_FALSE(allocator.allocate(0).has_value());
}

TEST(SegmentAllocator, ReportsOutOfSpace) {
    cc::SegmentAllocator allocator(1024, 0);
    EXPECT_FALSE(allocator.allocate(1025, 1).has_value());
    const auto all = allocator.allocate(1024, 1);
    ASSERT_TRUE(all.has_value());
    EXPECT_EQ(*all, 0u);
    EXPECT_FALSE(allocator.allocate(1, 1).has_value());
    allocator.free(*all);
    EXPECT_EQ(allocator.allocate(1024, 1).value(), 0u);
    // A prefix that covers everything leaves nothing to hand out.
    cc::SegmentAllocator none(64, 100);
    EXPECT_FALSE(none.allocate(1, 1).has_value());
}

TEST(SegmentAllocator, CoalescesNeighboursInAnyOrder) {
    for (int order = 0; order < 6; ++order) {
        cc::SegmentAllocator allocator(3 * 256, 0);
        std::vector<uint64_t> blocks;
        for (int i = 0; i < 3; ++i) blocks.push_back(allocator.allocate(256).value());
        EXPECT_FALSE(allocator.allocate(1).has_value());
        std::vector<int> idx{0, 1, 2};
        for (int k = 0; k < order; ++k) std::next_permutation(idx.begin(), idx.end());
        for (int i : idx) allocator.free(blocks[static_cast<size_t>(i)]);
        EXPECT_EQ(allocator.bytes_in_use(), 0u);
        EXPECT_EQ(allocator.free_block_count(), 1u) << "order " << order;
        EXPECT_EQ(allocator.largest_free_block(), 3u * 256);
        EXPECT_EQ(allocator.allocate(3 * 256).value(), 0u);  // one block again
    }
}

TEST(SegmentAllocator, RandomChurnReturnsToZero) {
    const uint64_t seed = ct::test_seed();
    ct::Rng rng(seed);
    cc::SegmentAllocator allocator(1 << 20, 4096);
    struct Block {
        uint64_t offset;
        size_t bytes;
    };
    std::vector<Block> live;
    for (int i = 0; i < 5000; ++i) {
        if (live.empty() || rng.chance(55)) {
            const size_t bytes = rng.range(1, 20000);
            const size_t align = size_t{1} << rng.range(0, 12);
            auto offset = allocator.allocate(bytes, align);
            if (!offset) continue;
            ASSERT_EQ(*offset % align, 0u);
            ASSERT_GE(*offset, 4096u);
            ASSERT_LE(*offset + bytes, 1u << 20);
            for (const Block& b : live) {  // never overlaps a live block
                ASSERT_TRUE(*offset + bytes <= b.offset || b.offset + b.bytes <= *offset);
            }
            live.push_back({*offset, bytes});
        } else {
            const size_t k = rng.range(0, live.size() - 1);
            allocator.free(live[k].offset);
            live.erase(live.begin() + static_cast<std::ptrdiff_t>(k));
        }
        size_t expected = 0;
        for (const Block& b : live) expected += b.bytes;
        ASSERT_EQ(allocator.bytes_in_use(), expected);
    }
    for (const Block& b : live) allocator.free(b.offset);
    EXPECT_EQ(allocator.bytes_in_use(), 0u);
    EXPECT_EQ(allocator.free_block_count(), 1u);
    EXPECT_EQ(allocator.largest_free_block(), (1u << 20) - 4096);
}

TEST(SegmentAllocatorDeathTest, FreeingAForeignOffsetIsAProgrammerError) {
    cc::SegmentAllocator allocator(4096, 0);
    EXPECT_DEATH(allocator.free(12), "assertion failed");
}

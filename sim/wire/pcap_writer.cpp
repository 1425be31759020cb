// PcapWriter (pcap_writer.hpp): the libpcap file format, nanosecond variant (magic a1b23c4d).
#include "sim/wire/pcap_writer.hpp"

#include <cerrno>
#include <cstring>

namespace culvert::sim {

namespace {

struct FileHeader {
    uint32_t magic = 0xa1b23c4d;  // nanosecond-resolution timestamps
    uint16_t version_major = 2;
    uint16_t version_minor = 4;
    int32_t thiszone = 0;
    uint32_t sigfigs = 0;
    uint32_t snaplen = 65535;
    uint32_t linktype = 1;  // LINKTYPE_ETHERNET
};
static_assert(sizeof(FileHeader) == 24);

struct RecordHeader {
    uint32_t ts_sec;
    uint32_t ts_nsec;
    uint32_t incl_len;
    uint32_t orig_len;
};
static_assert(sizeof(RecordHeader) == 16);

}  // namespace

std::expected<PcapWriter, std::string> PcapWriter::open(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return std::unexpected("cannot create " + path + ": " + std::strerror(errno));
    const FileHeader h;
    if (std::fwrite(&h, sizeof h, 1, f) != 1) {
        std::fclose(f);
        return std::unexpected("cannot write " + path);
    }
    return PcapWriter(f);
}

PcapWriter& PcapWriter::operator=(PcapWriter&& other) noexcept {
    if (this != &other) {
        close();
        file_ = other.file_;
        failed_ = other.failed_;
        other.file_ = nullptr;
    }
    return *this;
}

PcapWriter::~PcapWriter() {
    close();
}

void PcapWriter::write(uint64_t time_ns, std::span<const std::byte> frame) {
    if (!file_) return;
    const RecordHeader r{static_cast<uint32_t>(time_ns / 1'000'000'000),
                         static_cast<uint32_t>(time_ns % 1'000'000'000),
                         static_cast<uint32_t>(frame.size()), static_cast<uint32_t>(frame.size())};
    if (std::fwrite(&r, sizeof r, 1, file_) != 1 ||
        std::fwrite(frame.data(), 1, frame.size(), file_) != frame.size())
        failed_ = true;
}

bool PcapWriter::close() {
    if (!file_) return !failed_;
    if (std::fclose(file_) != 0) failed_ = true;
    file_ = nullptr;
    return !failed_;
}

}  // namespace culvert::sim

// pcap files through libpcap (pcap_file.hpp). libpcap parses the containers (pcap and
// pcapng, both byte orders, nanosecond variants); this file checks what replay needs on
// top: Ethernet link type, whole frames, sane lengths, ordered timestamps.
#include "backends/pcap/pcap_file.hpp"

#include <pcap/pcap.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace culvert::backends {

std::string PcapError::describe() const {
    if (frame == 0) return file + ": " + message;
    return file + ": frame " + std::to_string(frame) + ": " + message;
}

namespace {

std::string link_name(int dlt) {
    const char* name = pcap_datalink_val_to_name(dlt);
    const char* text = pcap_datalink_val_to_description(dlt);
    std::string out = name ? name : "unknown";
    if (text) out += std::string(" (") + text + ")";
    return out + ", DLT " + std::to_string(dlt);
}

// Reads every frame from an open libpcap handle; takes ownership of `p`.
std::expected<std::vector<PcapFrame>, PcapError> read_all(pcap_t* p, std::string_view name,
                                                          const PcapReadLimits& limits) {
    struct Closer {
        pcap_t* p;
        ~Closer() { pcap_close(p); }
    } closer{p};
    const auto fail = [&](uint64_t frame, std::string message) {
        return std::unexpected(PcapError{std::string(name), frame, std::move(message)});
    };
    const int dlt = pcap_datalink(p);
    if (dlt != DLT_EN10MB)
        return fail(0, "link type " + link_name(dlt) +
                           " is not Ethernet; culvert replays Ethernet frames (capture on an "
                           "Ethernet or TAP interface, not 'any' or a tunnel)");
    std::vector<PcapFrame> frames;
    uint64_t previous_us = 0;
    for (uint64_t number = 1;; ++number) {
        pcap_pkthdr* hdr = nullptr;
        const u_char* data = nullptr;
        const int r = pcap_next_ex(p, &hdr, &data);
        if (r == PCAP_ERROR_BREAK) break;  // -2: end of file
        if (r != 1) return fail(number, std::string("cannot read: ") + pcap_geterr(p));
        if (frames.size() >= limits.max_frames)
            return fail(number, "more than " + std::to_string(limits.max_frames) +
                                    " frames; split the capture");
        if (hdr->caplen < hdr->len)
            return fail(number, "only " + std::to_string(hdr->caplen) + " of its " +
                                    std::to_string(hdr->len) +
                                    " bytes were captured (snapshot length too small; capture "
                                    "with -s 0)");
        if (hdr->caplen < limits.min_frame_bytes)
            return fail(number, std::to_string(hdr->caplen) +
                                    " bytes is too short for an Ethernet frame (at least " +
                                    std::to_string(limits.min_frame_bytes) + ")");
        if (hdr->caplen > limits.max_frame_bytes)
            return fail(number, std::to_string(hdr->caplen) +
                                    " bytes is longer than the longest frame allowed (" +
                                    std::to_string(limits.max_frame_bytes) +
                                    " bytes: MTU + 18)");
        if (hdr->ts.tv_sec < 0 || hdr->ts.tv_usec < 0 || hdr->ts.tv_usec >= 1000000)
            return fail(number, "timestamp " + std::to_string(hdr->ts.tv_sec) + "." +
                                    std::to_string(hdr->ts.tv_usec) + " is not a valid time");
        const uint64_t ts_us = static_cast<uint64_t>(hdr->ts.tv_sec) * 1000000u +
                               static_cast<uint64_t>(hdr->ts.tv_usec);
        if (limits.require_ordered_timestamps && ts_us < previous_us)
            return fail(number, "its timestamp is " + std::to_string(previous_us - ts_us) +
                                    " us before the previous frame's; replay needs frames in "
                                    "time order");
        previous_us = ts_us;
        PcapFrame f;
        f.ts_us = ts_us;
        const auto* bytes = reinterpret_cast<const std::byte*>(data);
        f.bytes.assign(bytes, bytes + hdr->caplen);
        frames.push_back(std::move(f));
    }
    return frames;
}

}  // namespace

std::expected<std::vector<PcapFrame>, PcapError> read_pcap_file(const std::string& path,
                                                                const PcapReadLimits& limits) {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return std::unexpected(PcapError{path, 0, std::strerror(errno)});
    char err[PCAP_ERRBUF_SIZE] = {};
    // On success pcap_close() closes f; on failure it is still ours.
    pcap_t* p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_MICRO, err);
    if (!p) {
        std::fclose(f);
        return std::unexpected(PcapError{path, 0, std::string("not a readable capture: ") + err});
    }
    return read_all(p, path, limits);
}

std::expected<std::vector<PcapFrame>, PcapError> read_pcap_bytes(std::span<const std::byte> data,
                                                                 std::string_view name,
                                                                 const PcapReadLimits& limits) {
    if (data.empty())
        return std::unexpected(PcapError{std::string(name), 0, "the file is empty"});
    // fmemopen only reads through the pointer in "rb" mode.
    FILE* f = fmemopen(const_cast<std::byte*>(data.data()), data.size(), "rb");
    if (!f) return std::unexpected(PcapError{std::string(name), 0, std::strerror(errno)});
    char err[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_MICRO, err);
    if (!p) {
        std::fclose(f);
        return std::unexpected(
            PcapError{std::string(name), 0, std::string("not a readable capture: ") + err});
    }
    return read_all(p, name, limits);
}

// ---- writer ----

struct PcapWriter::Handles {
    pcap_t* dead = nullptr;
    pcap_dumper_t* dumper = nullptr;
    ~Handles() {
        if (dumper) pcap_dump_close(dumper);
        if (dead) pcap_close(dead);
    }
};

PcapWriter::PcapWriter(std::unique_ptr<Handles> h, std::string path)
    : h_(std::move(h)), path_(std::move(path)) {}
PcapWriter::PcapWriter(PcapWriter&&) noexcept = default;
PcapWriter& PcapWriter::operator=(PcapWriter&&) noexcept = default;
PcapWriter::~PcapWriter() = default;

// The snapshot length written in the header: larger than any frame we write (jumbo
// frames included) and the value tcpdump uses by default.
constexpr int kSnapLenBytes = 262144;

std::expected<PcapWriter, std::string> PcapWriter::open(const std::string& path) {
    auto h = std::make_unique<Handles>();
    h->dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, kSnapLenBytes,
                                                   PCAP_TSTAMP_PRECISION_MICRO);
    if (!h->dead) return std::unexpected("libpcap cannot make a writer (out of memory?)");
    h->dumper = pcap_dump_open(h->dead, path.c_str());
    if (!h->dumper) return std::unexpected(path + ": " + pcap_geterr(h->dead));
    return PcapWriter(std::move(h), path);
}

void PcapWriter::write(uint64_t ts_us, std::span<const std::byte> frame) {
    pcap_pkthdr hdr{};
    hdr.ts.tv_sec = static_cast<time_t>(ts_us / 1000000u);
    hdr.ts.tv_usec = static_cast<suseconds_t>(ts_us % 1000000u);
    hdr.caplen = hdr.len = static_cast<bpf_u_int32>(frame.size());
    pcap_dump(reinterpret_cast<u_char*>(h_->dumper), &hdr,
              reinterpret_cast<const u_char*>(frame.data()));
    ++frames_;
}

bool PcapWriter::flush() {
    if (pcap_dump_flush(h_->dumper) != 0 || std::ferror(pcap_dump_file(h_->dumper)))
        failed_ = true;
    return !failed_;
}

// ---- BPF ----

struct BpfFilter::Program {
    bpf_program prog{};
    ~Program() { pcap_freecode(&prog); }
};

BpfFilter::BpfFilter(std::unique_ptr<Program> p, std::string expression)
    : p_(std::move(p)), expression_(std::move(expression)) {}
BpfFilter::BpfFilter(BpfFilter&&) noexcept = default;
BpfFilter& BpfFilter::operator=(BpfFilter&&) noexcept = default;
BpfFilter::~BpfFilter() = default;

std::expected<BpfFilter, std::string> BpfFilter::compile(const std::string& expression) {
    pcap_t* dead = pcap_open_dead(DLT_EN10MB, kSnapLenBytes);
    if (!dead) return std::unexpected("libpcap cannot compile filters (out of memory?)");
    auto p = std::make_unique<Program>();
    const int r = pcap_compile(dead, &p->prog, expression.c_str(), 1, PCAP_NETMASK_UNKNOWN);
    std::string error = r == 0 ? "" : pcap_geterr(dead);
    pcap_close(dead);
    if (r != 0) return std::unexpected("filter \"" + expression + "\": " + error);
    return BpfFilter(std::move(p), expression);
}

bool BpfFilter::matches(std::span<const std::byte> frame) const {
    pcap_pkthdr hdr{};
    hdr.caplen = hdr.len = static_cast<bpf_u_int32>(frame.size());
    return pcap_offline_filter(&p_->prog, &hdr, reinterpret_cast<const u_char*>(frame.data())) != 0;
}

uint64_t capture_time_base_us(uint64_t earliest_ts_us) {
    if (earliest_ts_us < kStackClockCaptureLimitUs) return 0;
    return earliest_ts_us / 1000000u * 1000000u;
}

}  // namespace culvert::backends

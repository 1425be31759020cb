// The scheduler (world.hpp). One step at virtual time `now`:
//   1. frames due by now go into their nodes;
//   2. every node steps (culvertd handles requests, notifications, frames, lwIP timers) and
//      what it sent goes onto the wire (and into the pcap file);
//   3. the oracles look at every watched socket (readiness must already reflect the rings);
//   4. every process that can run is resumed until it yields again;
//   5. if a process did something or a node has work waiting, step again at `now`;
//      otherwise jump to the earliest of: next frame arrival, next lwIP timer, next process
//      wake-up.
#include "sim/world.hpp"

#include "sim/fiber.hpp"
#include "sim/process.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstring>

namespace culvert::sim {

namespace {

constexpr uint64_t kMaxStepsPerInstant = 200'000;  // more means a livelock
constexpr size_t kFrameBufferBytes = 65536;

std::string time_str(uint64_t ns) {
    char b[32];
    std::snprintf(b, sizeof b, "%" PRIu64 ".%09" PRIu64, ns / 1'000'000'000, ns % 1'000'000'000);
    return b;
}

}  // namespace

const char* verdict_name(Verdict v) {
    switch (v) {
        case Verdict::pass:
            return "pass";
        case Verdict::correctness:
            return "correctness failure";
        case Verdict::liveness:
            return "liveness failure";
        case Verdict::crash:
            return "crash";
        case Verdict::setup:
            return "setup failure";
    }
    return "?";
}

NodeAddress node_address(int index) {
    NodeAddress a;
    const auto n = static_cast<uint8_t>(index + 1);
    a.mac = {0x02, 0x63, 0x76, 0x00, 0x00, n};
    const uint8_t v4[4] = {10, 0, 0, n};
    std::memcpy(a.ipv4, v4, 4);
    a.ipv6[0] = 0xfd;
    a.ipv6[15] = n;
    return a;
}

World::World(const WorldConfig& config, std::vector<const culvert_sim_node_api*> apis)
    : config_(config),
      apis_(std::move(apis)),
      timer_ns_(apis_.size(), 0),
      node_busy_(apis_.size(), 1),
      delivered_(apis_.size(), 0),
      frame_buf_(kFrameBufferBytes) {
    wire_ = std::make_unique<Wire>(nodes(), Rng(config_.seed).derive(0x3151e).next(), config_.mtu);
    for (int i = 0; i < nodes(); ++i) wire_->set_mac(i, node_address(i).mac);
    wire_->set_observer([this](const WireEvent& e) { on_wire(e); });
    trace_.keep_lines(config_.keep_trace);
    trace_.echo_to(config_.echo_trace);
}

World::~World() {
    // Processes first (their fibers may be parked inside a node's client call: the stacks
    // are dropped without unwinding, which is all a dead process gets).
    processes_.clear();
    if (started_)
        for (auto* api : apis_) api->destroy();
}

bool World::start() {
    if (config_.nodes != nodes()) {
        fail(Verdict::setup, "world config wants " + std::to_string(config_.nodes) +
                                 " nodes, got " + std::to_string(nodes()));
        return false;
    }
    if (!config_.pcap_path.empty()) {
        auto p = PcapWriter::open(config_.pcap_path);
        if (!p) {
            fail(Verdict::setup, p.error());
            return false;
        }
        pcap_.emplace(std::move(*p));
    }
    Rng seeds(config_.seed);
    for (int i = 0; i < nodes(); ++i) {
        const NodeAddress a = node_address(i);
        const std::string path = config_.socket_dir + "/node" + std::to_string(i) + ".sock";
        culvert_sim_node_config c{};
        c.seed = seeds.derive(0x70de00u + static_cast<uint64_t>(i)).next();
        c.socket_path = path.c_str();
        std::memcpy(c.mac, a.mac.data(), 6);
        std::memcpy(c.ipv4, a.ipv4, 4);
        c.ipv4_prefix_len = 24;
        c.has_ipv6 = config_.ipv6 ? 1 : 0;
        std::memcpy(c.ipv6, a.ipv6, 16);
        c.mtu = config_.mtu;
        c.segment_bytes = config_.segment_bytes;
        char err[512] = {};
        if (apis_[static_cast<size_t>(i)]->create(&c, err, sizeof err) != 0) {
            fail(Verdict::setup, "node " + std::to_string(i) + ": " + err);
            return false;
        }
        apis_[static_cast<size_t>(i)]->set_idle_hook(&World::idle_hook, this);
    }
    started_ = true;
    trace_.add(now_ns_, "world seed=" + std::to_string(config_.seed) + " nodes=" +
                            std::to_string(nodes()) + " mtu=" + std::to_string(config_.mtu));
    return true;
}

Process& World::spawn(int node, std::string name, std::function<void(Process&)> body) {
    for (auto& p : processes_)
        if (p->node() == node && p->state() != Process::State::finished)
            fail(Verdict::setup, "node " + std::to_string(node) + " already runs a process");
    const uint64_t seed = Rng(config_.seed).derive(0x9c0000u + processes_.size()).next();
    processes_.push_back(
        std::make_unique<Process>(*this, node, std::move(name), std::move(body), seed));
    return *processes_.back();
}

int World::idle_hook(void* arg) {
    auto* world = static_cast<World*>(arg);
    Process* p = world->running_;
    if (!p || Fiber::current() == nullptr) {
        // A node's client would block outside any process (e.g. from an oracle): a bug here.
        world->fail(Verdict::crash, "simulator bug: a client call would block outside a process");
        return 0;
    }
    p->parked_in_client();
    return world->aborting() ? 0 : 1;
}

void World::fail(Verdict verdict, std::string message) {
    if (failure_) return;
    trace_.add(now_ns_, std::string("FAIL ") + verdict_name(verdict) + ": " + message);
    failure_ = Failure{verdict, std::move(message)};
}

nlohmann::json World::status(int node) {
    std::string buf(8192, '\0');
    size_t n = api(node).status_json(buf.data(), buf.size());
    if (n + 1 > buf.size()) {
        buf.assign(n + 1, '\0');
        n = api(node).status_json(buf.data(), buf.size());
    }
    buf.resize(n);
    return nlohmann::json::parse(buf);
}

void World::on_wire(const WireEvent& e) {
    if (config_.trace_wire) {
        std::string line = "wire " + std::to_string(e.src) + ">" +
                           (e.dst < 0 ? std::string("?") : std::to_string(e.dst)) + " #" +
                           std::to_string(e.frame_id) + " " + describe(*e.info) + " " +
                           fate_name(e.fate);
        if (e.fate == Fate::delivered) line += "@" + time_str(e.arrive_ns);
        if (e.duplicate) line += " dup";
        if (e.reordered) line += " reordered";
        if (e.corrupt_bit >= 0) line += " corrupt-bit=" + std::to_string(e.corrupt_bit);
        trace_.add(now_ns_, line);
    }
    for (auto& o : wire_observers_) o(e);
}

bool World::step() {
    ++steps_;
    const uint64_t now_ms = now_ns_ / 1'000'000;
    std::fill(delivered_.begin(), delivered_.end(), 0);
    wire_->deliver_due(now_ns_, [&](int dst, std::span<const std::byte> bytes) {
        apis_[static_cast<size_t>(dst)]->push_frame(bytes.data(), bytes.size());
        delivered_[static_cast<size_t>(dst)] = 1;
    });
    for (int i = 0; i < nodes(); ++i) {
        const size_t k = static_cast<size_t>(i);
        const auto* api = apis_[k];
        // A node with no frame, no due timer and no process activity since its last step
        // has nothing to do (its requests and notifications come only from its process).
        if (!delivered_[k] && !node_busy_[k] && timer_ns_[k] > now_ns_) continue;
        ++epoch_;
        const uint64_t next_ms = api->step(now_ms);
        timer_ns_[k] = next_ms == UINT64_MAX ? UINT64_MAX : next_ms * 1'000'000;
        node_busy_[k] = 0;
        for (;;) {
            const size_t n = api->pop_frame(frame_buf_.data(), frame_buf_.size());
            if (n == 0) break;
            node_busy_[k] = 1;
            const std::span<const std::byte> frame(frame_buf_.data(), n);
            if (pcap_) pcap_->write(now_ns_, frame);
            wire_->send(i, frame, now_ns_);
        }
    }
    if (config_.check_readiness)
        for (auto& p : processes_) p->check_watched();
    for (auto& check : step_checks_) check();
    if (failure_) return false;
    bool active = false;
    for (auto& p : processes_) {
        if (p->state() == Process::State::finished || !p->runnable_now()) continue;
        running_ = p.get();
        p->resume();
        running_ = nullptr;
        const size_t k = static_cast<size_t>(p->node());
        if (p->progress()) {
            active = true;
            ++epoch_;
            node_busy_[k] = 1;
        } else if (apis_[k]->pending()) {
            // Back in the same wait, but on the way it may have written a ring and notified
            // culvertd: then its node must step before time moves.
            active = true;
            node_busy_[k] = 1;
        }
        if (failure_) return false;
    }
    return active;
}

uint64_t World::next_event_ns() const {
    uint64_t next = wire_->next_arrival_ns();
    for (uint64_t t : timer_ns_) next = std::min(next, t);
    for (const auto& p : processes_) {
        const auto s = p->state();
        if (s == Process::State::sleeping || s == Process::State::waiting_poll ||
            s == Process::State::waiting_cond)
            next = std::min(next, p->wake_ns());
    }
    return next;
}

std::string World::waiting_report() const {
    std::string r;
    for (const auto& p : processes_)
        if (p->state() != Process::State::finished) r += "\n  " + p->describe_wait();
    return r;
}

bool World::run() {
    return loop(config_.deadline_ns, true, {});
}

bool World::run_until(uint64_t until_ns, const std::function<bool()>& done) {
    return loop(until_ns, false, done);
}

bool World::loop(uint64_t until_ns, bool until_processes_end, const std::function<bool()>& done) {
    uint64_t same_instant = 0;
    while (!failure_) {
        if (until_processes_end &&
            std::all_of(processes_.begin(), processes_.end(),
                        [](const auto& p) { return p->state() == Process::State::finished; }))
            return true;
        const bool active = step();
        if (failure_) break;
        if (done && done()) return true;
        uint64_t next = active ? now_ns_ : next_event_ns();
        if (next <= now_ns_) {
            if (++same_instant > kMaxStepsPerInstant) {
                fail(Verdict::liveness, "livelock: " + std::to_string(kMaxStepsPerInstant) +
                                            " steps without time passing" + waiting_report());
                break;
            }
            continue;
        }
        same_instant = 0;
        if (next >= until_ns) {
            now_ns_ = until_ns;
            if (until_processes_end) {
                // What every stack holds goes into the trace: the first thing to look at.
                for (int i = 0; i < nodes(); ++i)
                    trace_.add(now_ns_,
                               "node " + std::to_string(i) + " status " + status(i).dump());
                fail(Verdict::liveness, "deadline " + time_str(until_ns) +
                                            " s reached; still waiting:" + waiting_report());
                break;
            }
            step();
            return !failure_;
        }
        now_ns_ = next;
    }
    return false;
}

}  // namespace culvert::sim

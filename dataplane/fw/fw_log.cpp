// Firewall log rings: rate-limited per-worker producer, control-thread formatting.
#include "dataplane/fw/fw_log.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace espgw::fw {

LogRing::LogRing(uint32_t worker, uint32_t per_second, uint64_t tsc_hz)
    : rate_(per_second), hz_(tsc_hz ? tsc_hz : 1), tokens_(uint64_t{per_second} * (tsc_hz ? tsc_hz : 1)) {
    const std::string name = fmt::format("espgw_fwlog_{}", worker);
    ring_ = rte_ring_create_elem(name.c_str(), sizeof(LogRecord), kRingSize, SOCKET_ID_ANY,
                                 RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (!ring_) throw std::runtime_error("firewall: cannot create the log ring " + name);
}

LogRing::~LogRing() { rte_ring_free(ring_); }

void LogRing::log(const LogRecord& r, uint64_t now_tsc) noexcept {
    // Token bucket: refill by elapsed time, at most one second's worth (= the burst).
    const uint64_t cap = uint64_t{rate_} * hz_;
    const uint64_t elapsed = now_tsc - last_tsc_;
    last_tsc_ = now_tsc;
    tokens_ = elapsed >= hz_ ? cap : (tokens_ + elapsed * rate_ > cap ? cap : tokens_ + elapsed * rate_);
    if (tokens_ < hz_ || rte_ring_sp_enqueue_elem(ring_, const_cast<LogRecord*>(&r), sizeof(LogRecord)) != 0) {
        __atomic_store_n(&suppressed_, suppressed_ + 1, __ATOMIC_RELAXED);
        return;
    }
    tokens_ -= hz_;
    __atomic_store_n(&logged_, logged_ + 1, __ATOMIC_RELAXED);
}

unsigned LogRing::drain(LogRecord* out, unsigned n) noexcept {
    return rte_ring_sc_dequeue_burst_elem(ring_, out, sizeof(LogRecord), n, nullptr);
}

namespace {
std::string addr(uint32_t a) { return fmt::format("{}.{}.{}.{}", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255); }

std::string tags(uint32_t bits, const std::vector<std::string>& names) {
    std::string o;
    for (uint32_t b = 0; b < 32; ++b)
        if (bits & (1u << b)) {
            if (!o.empty()) o += ',';
            o += b < names.size() ? names[b] : fmt::format("#{}", b);
        }
    return o.empty() ? "-" : o;
}
}  // namespace

std::string format_log(const LogRecord& r, const RuleSet* set, const std::vector<std::string>& group_names,
                       const std::vector<std::string>& conn_names, uint32_t worker) {
    std::string rule = r.rule < 0 ? std::string("default") : fmt::format("rule {}", r.rule);
    if (r.rule >= 0) {
        if (set && static_cast<size_t>(r.rule) < set->rules.size()) {
            std::string c;
            for (char ch : set->rules[static_cast<size_t>(r.rule)].comment)
                c += (ch >= 0x20 && ch < 0x7f && ch != '"') ? ch : '?';  // one line, printable
            if (!c.empty()) rule += fmt::format(" \"{}\"", c);
        } else {
            rule += " (replaced set)";
        }
    }
    std::string proto;
    std::string ends;
    switch (r.proto) {
    case 6: proto = "tcp"; break;
    case 17: proto = "udp"; break;
    case 1: proto = "icmp"; break;
    default: proto = fmt::format("proto {}", r.proto);
    }
    if (r.proto == 6 || r.proto == 17)
        ends = fmt::format("{}:{} -> {}:{}", addr(r.src), r.src_port, addr(r.dst), r.dst_port);
    else if (r.proto == 1)
        ends = fmt::format("{} -> {} type {} code {}", addr(r.src), addr(r.dst), r.src_port, r.dst_port);
    else
        ends = fmt::format("{} -> {}", addr(r.src), addr(r.dst));
    return fmt::format("fw: {} {} {} {} groups {} connection {} worker {}", rule, action_name(r.action), proto, ends,
                       tags(r.groups, group_names), tags(r.conn, conn_names), worker);
}

}  // namespace espgw::fw

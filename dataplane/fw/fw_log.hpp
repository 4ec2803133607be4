#pragma once
// Firewall rule logging (`log = true`): each worker writes a small fixed record per
// logged packet into its own single-producer/single-consumer rte_ring (records copied
// into the ring: no allocation, no syscall on the packet path), rate-limited by a
// per-worker token bucket; what the bucket or a full ring refuses is counted as
// suppressed. The control thread drains the rings and prints one line per record
// (format_log) plus one line per batch of suppressed records.

#include <rte_ring.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/fw/rules.hpp"

namespace espgw::fw {

/// One logged packet. Addresses/ports host order (ICMP: type/code in the ports).
struct LogRecord {
    uint64_t tsc = 0;
    uint32_t src = 0, dst = 0;
    uint32_t groups = 0, conn = 0;  ///< the SA's tag bits
    int32_t rule = -1;              ///< index in rule set `gen`
    uint32_t gen = 0;               ///< Compiled::seq() of the set that matched
    uint16_t src_port = 0, dst_port = 0;
    uint8_t proto = 0;
    Action action = Action::allow;
    uint8_t pad[2] = {};
};
static_assert(sizeof(LogRecord) == 40 && sizeof(LogRecord) % 4 == 0);

class LogRing {
public:
    static constexpr uint32_t kRingSize = 1024;

    /// Worker `worker`'s ring: at most `per_second` records a second (bursts of as many)
    /// at TSC rate `tsc_hz`. Main lcore. Throws std::runtime_error when the ring cannot
    /// be created.
    LogRing(uint32_t worker, uint32_t per_second, uint64_t tsc_hz);
    ~LogRing();
    LogRing(const LogRing&) = delete;
    LogRing& operator=(const LogRing&) = delete;

    /// Queues `r` unless the rate limit or a full ring refuses it (counted). The worker.
    void log(const LogRecord& r, uint64_t now_tsc) noexcept;
    /// Takes up to `n` records. The control thread (single consumer).
    unsigned drain(LogRecord* out, unsigned n) noexcept;

    uint64_t logged() const noexcept { return __atomic_load_n(&logged_, __ATOMIC_RELAXED); }
    uint64_t suppressed() const noexcept { return __atomic_load_n(&suppressed_, __ATOMIC_RELAXED); }
    uint32_t per_second() const noexcept { return rate_; }

private:
    rte_ring* ring_ = nullptr;
    uint32_t rate_;
    uint64_t hz_;
    uint64_t tokens_;        ///< in units of 1/hz_ records (one record costs hz_)
    uint64_t last_tsc_ = 0;
    uint64_t logged_ = 0, suppressed_ = 0;  ///< single writer (the worker), relaxed
};

/// One log line (without the "espgw-dp: " prefix and newline):
///   fw: rule 1 "reject TCP 5004" reject tcp 10.20.0.1:40312 -> 203.0.113.5:5004 groups staff,vpn-users connection rw worker 0
/// `set`: the live rule set when its seq() is r.gen (for the comment), else nullptr
/// ("rule 1 (replaced set)"); tag names by bit from the tables' registry. Pure.
std::string format_log(const LogRecord& r, const RuleSet* set, const std::vector<std::string>& group_names,
                       const std::vector<std::string>& conn_names, uint32_t worker);

}  // namespace espgw::fw

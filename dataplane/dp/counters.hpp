#pragma once
// Per-worker counters: per port, per drop reason (the dataplane's own reasons and the
// ESP transform's), per worker loop. Each block is written by one worker only and read
// by the stats thread: writes and reads are relaxed atomic 64-bit accesses (plain
// moves on x86-64), so readers never see a torn value and no fence is needed — a
// counter is a monotonic hint, not a synchronisation point.

#include <cstdint>
#include <string_view>

#include "dataplane/esp/drop_reason.hpp"

namespace espgw::dp {

inline constexpr uint32_t kMaxPorts = 8;
inline constexpr uint32_t kMaxWorkers = 64;

// X(name, "description"): why the dataplane (outside the ESP transform) dropped a packet.
#define ESPGW_DP_DROP_REASONS(X)                                                   \
    X(none, "not dropped")                                                         \
    X(bad_ether, "runt frame or unknown ethertype")                                \
    X(bad_ip, "IP header malformed (ESP transform's classify refused it)")         \
    X(not_for_us, "L2 destination is neither us nor broadcast/multicast")          \
    X(local_unhandled, "addressed to us but no local service (not ICMP/IKE/ESP)")  \
    X(ttl_exceeded, "TTL / hop limit would reach 0")                               \
    X(no_route, "no route to the destination")                                     \
    X(no_neighbor, "next hop did not answer ARP/ND in time or pending queue full") \
    X(no_sa, "inbound SPI unknown or outbound SA missing")                         \
    X(sa_expired, "SA reached its hard lifetime")                                  \
    X(policy_discard, "SPD said discard (RFC 4301 §4.4.1)")                        \
    X(policy_mismatch, "decrypted packet outside the SA's selectors (RFC 4301 §5.2)") \
    X(cleartext_from_outside, "cleartext on the outside port that policy does not bypass") \
    X(esp_from_inside, "ESP arriving on an inside port")                           \
    X(frag_needed, "DF packet too big for the outside MTU (ICMP sent)")            \
    X(frag_failed, "could not fragment (no mbufs) ")                               \
    X(reassembly, "outer fragment held or dropped by reassembly")                  \
    X(punt_full, "punt ring to the control process full")                          \
    X(nat_keepalive, "NAT-T keepalive (RFC 3948 §2.3), consumed")                  \
    X(tx_full, "TX queue full")                                                    \
    X(no_mbuf, "mbuf pool empty (ICMP/ARP reply not sent)")                        \
    X(too_big_for_port, "frame exceeds the egress port MTU")                      \
    X(handoff_full, "SA owner worker's hand-off ring full")

enum class DpDrop : uint8_t {
#define ESPGW_X(name, desc) name,
    ESPGW_DP_DROP_REASONS(ESPGW_X)
#undef ESPGW_X
};

inline constexpr uint32_t kDpDropCount = 0
#define ESPGW_X(name, desc) +1
    ESPGW_DP_DROP_REASONS(ESPGW_X)
#undef ESPGW_X
    ;

/// Short name of a dataplane drop reason ("no_route"). Any thread.
std::string_view dp_drop_name(DpDrop r) noexcept;

/// Relaxed single-writer increment (see the file comment).
inline void cnt_add(uint64_t& c, uint64_t n = 1) noexcept {
    __atomic_store_n(&c, __atomic_load_n(&c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}
/// Relaxed read from any thread.
inline uint64_t cnt_read(const uint64_t& c) noexcept { return __atomic_load_n(&c, __ATOMIC_RELAXED); }

struct alignas(64) PortCounters {
    uint64_t rx_packets = 0, rx_bytes = 0;
    uint64_t tx_packets = 0, tx_bytes = 0;
    uint64_t tx_dropped = 0;
};

/// What happened to packets, by path.
struct alignas(64) PathCounters {
    uint64_t inbound_packets = 0, inbound_bytes = 0;    ///< decrypted OK
    uint64_t outbound_packets = 0, outbound_bytes = 0;  ///< encrypted OK
    uint64_t bypass_packets = 0;
    uint64_t local_packets = 0;   ///< ARP/ND/ICMP answered
    uint64_t punted = 0;          ///< IKE to the control process
    uint64_t injected = 0;        ///< IKE from the control process
    uint64_t icmp_sent = 0;       ///< errors we generated (frag needed, ...)
    uint64_t fragments_made = 0;  ///< inner fragments before encryption
    uint64_t reassembled = 0;     ///< outer ESP packets rebuilt from fragments
    uint64_t handed_off = 0;      ///< packets passed to the SA's owner worker
};

/// Loop counters: show how busy a worker is and how the idle back-off behaves.
struct alignas(64) LoopCounters {
    uint64_t iterations = 0;
    uint64_t busy_polls = 0;  ///< iterations that received something
    uint64_t sleeps = 0;
    uint64_t sleep_ns = 0;
};

/// Everything one worker counts. One writer: that worker.
struct alignas(64) WorkerCounters {
    PortCounters port[kMaxPorts];
    PathCounters path;
    LoopCounters loop;
    alignas(64) uint64_t dp_drop[kDpDropCount] = {};
    alignas(64) uint64_t esp_drop[esp::kDropReasonCount] = {};
};

}  // namespace espgw::dp

#pragma once
// Masquerade (source NAT of tunnel clients to the gateway's public address, RFC 3022
// NAPT) for one worker: rules, port slicing between workers, and the per-packet
// translate calls on top of the worker's SessionTable. Pure code (no EAL).
//
// Threading: one WorkerNat per worker, used only by it. Return traffic must reach the
// worker that owns its public port: return_owner() says which (a pure function of the
// packet, the port range and the worker count), the dataplane hands it over.

#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/nat/session_table.hpp"
#include "dataplane/nat/translate.hpp"

namespace espgw::nat {

/// [[masquerade]]: traffic from `src` leaving by port `out_port` gets source address
/// `pub_addr` (host order; 0 = the port's first IPv4 address, resolved at start).
struct MasqRule {
    uint32_t src_net = 0;   ///< host order, masked
    uint8_t src_len = 0;
    uint32_t out_port = 0;  ///< index into the dataplane's ports
    std::string out_port_name;
    uint32_t pub_addr = 0;

    bool matches(uint32_t src) const noexcept {
        const uint32_t mask = src_len == 0 ? 0 : ~uint32_t{0} << (32 - src_len);
        return (src & mask) == src_net;
    }
};

/// [nat] + [[masquerade]].
struct NatConfig {
    std::vector<MasqRule> rules;
    Timeouts timeouts;
    uint32_t max_sessions = 1u << 20;  ///< all workers together, split evenly
    uint16_t port_lo = 1024;           ///< public ports/ICMP identifiers handed out
    uint16_t port_hi = 65535;
    uint32_t expire_budget = 256;      ///< sessions examined per worker poll
    uint16_t reserved_udp_port = 4500; ///< never allocated (the dataplane's NAT-T port)
    uint16_t tcp_mss = 1360;           ///< clamp SYN MSS to this (0 = off): fits ESP tunnel overhead

    bool enabled() const noexcept { return !rules.empty(); }
};

/// Worker owning public port/identifier `port` (contiguous slices of port_lo..port_hi),
/// or -1 when the port is outside the range. Any thread, pure.
int32_t port_owner(uint16_t port, uint16_t port_lo, uint16_t port_hi, uint32_t workers) noexcept;

/// This worker's slice [*lo, *hi] of port_lo..port_hi. Pure.
void port_slice(uint32_t worker, uint32_t workers, uint16_t port_lo, uint16_t port_hi, uint16_t* lo,
                uint16_t* hi) noexcept;

/// Worker owning the NAT session a packet arriving from outside (to a public address)
/// belongs to, or -1 when it cannot be a NAT return packet. Pure.
int32_t return_owner(const L4Info& li, uint16_t port_lo, uint16_t port_hi, uint32_t workers) noexcept;

/// Per-worker NAT counters. Single writer (the worker); readers use relaxed loads.
struct alignas(64) NatCounters {
    uint64_t out_packets = 0, out_bytes = 0;  ///< translated inside → outside
    uint64_t in_packets = 0, in_bytes = 0;    ///< translated outside → inside
    uint64_t created = 0, expired = 0;
    uint64_t icmp_errors = 0;                 ///< ICMP errors with a translated quote
    uint64_t table_full = 0, ports_exhausted = 0;
    uint64_t unsupported = 0;                 ///< not TCP/UDP/ICMP echo/error, or malformed
    uint64_t fragments = 0;                   ///< fragments (not translated: dropped)
    uint64_t no_session = 0;                  ///< ICMP error from inside without a session
    uint64_t flushed = 0;                     ///< removed by an operator's flush
};

enum class NatVerdict : uint8_t {
    translated,
    no_session,       ///< return direction: not ours (caller continues as before)
    drop_table_full,
    drop_ports_exhausted,
    drop_unsupported,
    drop_fragment,
};

class WorkerNat {
public:
    /// Control path, before the worker starts. Throws std::bad_alloc.
    WorkerNat(const NatConfig& cfg, uint32_t worker, uint32_t workers, uint32_t now_s);

    /// Inside → outside: translates the IPv4 packet at `ip` (`len` bytes) for rule
    /// `rule` to `pub_addr` (host order), creating the session when new. Counts.
    NatVerdict translate_out(uint8_t* ip, uint32_t len, uint16_t rule, uint32_t pub_addr, uint32_t now_s) noexcept;

    /// Outside → inside: translates back when the packet belongs to one of this
    /// worker's sessions; no_session otherwise (the packet is unchanged). Counts.
    NatVerdict translate_in(uint8_t* ip, uint32_t len, uint32_t now_s) noexcept;

    /// Reclaims expired sessions (bounded work). Once per poll.
    void tick(uint32_t now_s) noexcept {
        const uint32_t n = table_.expire(now_s, cfg_.expire_budget);
        if (n) __atomic_store_n(&counters.expired, counters.expired + n, __ATOMIC_RELAXED);
    }

    /// Drops sessions for an operator's flush, `budget` at a time (counted as
    /// flushed); true once none is left. Owning worker.
    bool flush(uint32_t budget) noexcept {
        const uint32_t before = table_.size();
        const bool done = table_.flush_some(budget);
        __atomic_store_n(&counters.flushed, counters.flushed + (before - table_.size()), __ATOMIC_RELAXED);
        return done;
    }

    SessionTable& table() noexcept { return table_; }
    const NatConfig& config() const noexcept { return cfg_; }
    const SessionTable& table() const noexcept { return table_; }
    NatCounters counters;

private:
    uint32_t timeout_of(const Session& s) const noexcept;
    void track_tcp(Session& s, uint8_t flags, bool outbound) noexcept;

    NatConfig cfg_;
    SessionTable table_;
};

}  // namespace espgw::nat

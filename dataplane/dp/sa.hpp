#pragma once
// The worker's door to the shared SA and SPD tables (dataplane/tables): SPI → inbound
// SA, SPD first match → action + outbound SA, per-SA mutable state of the SAs this
// worker owns, and the RCU quiescent report. A thin per-worker adapter over the tables
// reader API; no table lives here. Owning worker only, lock-free, no allocation.

#include <cstdint>
#include <memory>
#include <string>

#include "dataplane/esp/esp.hpp"
#include "dataplane/tables/layout.hpp"
#include "dataplane/tables/route.hpp"

namespace espgw::tables {
class Tables;
}

namespace espgw::dp {

struct Dataplane;

/// What the SPD says about a cleartext packet (RFC 4301 §4.4.1).
enum class SpdAction : uint8_t { protect, bypass, discard, no_match };

/// An SA as one burst sees it. Valid until the worker's next quiescent().
/// `expired`: the SA passed its hard lifetime (RFC 4301 §4.4.2.1); the caller drops
/// with sa_expired.
struct InboundRef {
    const esp::InboundSa* sa = nullptr;
    esp::InboundState* st = nullptr;
    uint32_t id = 0;  ///< table id, for counters
    uint32_t owner = 0;  ///< worker that owns the mutable state (hand off when not us)
    bool expired = false;
    uint32_t slot = 0;   ///< tables slot (lifetime charging)
};
struct OutboundRef {
    const esp::OutboundSa* sa = nullptr;
    esp::OutboundState* st = nullptr;
    uint32_t id = 0;
    uint32_t owner = 0;
    bool expired = false;
    uint32_t slot = 0;
};

/// Packet selectors for the SPD (addresses network order, ports host order).
struct Selectors {
    uint8_t family = 4;
    const uint8_t* src = nullptr;
    const uint8_t* dst = nullptr;
    uint8_t proto = 0;
    uint16_t src_port = 0;
    uint16_t dst_port = 0;
};

/// Selectors of the packet (ports for TCP/UDP only). Inline: every packet, both ways.
inline void selectors_of(const uint8_t* ip, const esp::Classification& cls, Selectors& s) noexcept {
    s.family = cls.ip_version;
    s.src = cls.ip_version == 4 ? ip + 12 : ip + 8;
    s.dst = cls.ip_version == 4 ? ip + 16 : ip + 24;
    s.proto = cls.l4_proto;
    s.src_port = s.dst_port = 0;
    // RFC 4301 §7: a non-initial fragment carries no ports (OPAQUE selectors).
    bool later_frag = cls.ip_version == 4 && (net::load_be16(ip + 6) & net::kIpv4OffsetMask) != 0;
    if (!later_frag && (s.proto == net::kProtoTcp || s.proto == net::kProtoUdp) && cls.ip_len >= cls.l4_off + 4u) {
        s.src_port = net::load_be16(ip + cls.l4_off);
        s.dst_port = net::load_be16(ip + cls.l4_off + 2);
    }
}

class SaReader {
public:
    /// Registers worker `index` as a reader of the tables. Main lcore, before launch.
    SaReader(Dataplane& dp, uint32_t worker_index);
    ~SaReader();
    SaReader(const SaReader&) = delete;
    SaReader& operator=(const SaReader&) = delete;

    /// Inbound SA for `spi` (host order). False when unknown or hard-expired.
    bool inbound(uint32_t spi, InboundRef& out) noexcept;
    /// Burst form: spi[0..n) (n <= 64) with one bulk hash lookup (its bucket reads
    /// overlap instead of missing the cache one packet after another), and a prefetch
    /// of every hit's SA record and state, so the per-packet loop that follows finds
    /// them in cache with many SAs. Bit i of the result: out[i] filled. Worker thread.
    uint64_t inbound_burst(const uint32_t* spi, uint32_t n, InboundRef* out) noexcept;
    /// First matching SPD entry; for protect, the outbound SA in `sa`. One packet
    /// through spd_burst() (its flow cache included).
    SpdAction spd(const Selectors& s, OutboundRef& sa) noexcept;
    /// Burst form of spd(): s[0..n) (any n) into act[0..n) and sa[0..n); sa == nullptr:
    /// the verdicts only (no SA resolved or prefetched: the inbound policy check). IPv4
    /// keys go through this worker's SPD flow cache (dataplane/dp/spd_cache.hpp:
    /// verdicts of one classifier generation); the misses take one rte_acl classify
    /// per 64 keys instead of one per packet.
    void spd_burst(const Selectors* s, uint32_t n, SpdAction* act, OutboundRef* sa) noexcept;
    /// Longest-prefix route (shared route table); nullptr when none. Valid until
    /// quiescent().
    const tables::RouteHop* route(uint8_t family, const uint8_t* dst) const noexcept;
    /// Checks an SA's lifetime against the packet/byte totals its transform has counted
    /// so far (call once per run of one SA's packets); raises the soft/hard expiry
    /// events the tables define.
    void charge_inbound(const InboundRef& r) noexcept;
    void charge_outbound(const OutboundRef& r) noexcept;
    /// Counts a drop in the SA's per-SA counters. Owner worker of the SA only.
    void count_drop(const InboundRef& r, tables::SaDrop d) noexcept;
    void count_drop(const OutboundRef& r, tables::SaDrop d) noexcept;
    /// The inbound SA's firewall tags: user groups (low 32 bits) and IKE connection
    /// (high 32 bits), as tables::SaMeta holds them.
    uint64_t fw_tags(const InboundRef& r) const noexcept;
    /// The outbound SA's tags (the same tunnel's, set by the same writer call pair).
    uint64_t fw_tags(const OutboundRef& r) const noexcept;
    /// RCU quiescent state: no reference from before this call is used after it.
    void quiescent() noexcept;
    /// Leaves the RCU reader set (a stopping worker must not hold writers up).
    void offline() noexcept;
    /// Rejoins the reader set after offline() (a worker waking from an RX-interrupt wait).
    void online() noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// The per-SA drop reason of an ESP transform refusal. Pure; any thread.
constexpr tables::SaDrop sa_drop_of(esp::DropReason r) noexcept {
    switch (r) {
    case esp::DropReason::icv_mismatch:
    case esp::DropReason::crypto_error: return tables::SaDrop::icv;
    case esp::DropReason::replay_old:
    case esp::DropReason::replay_duplicate:
    case esp::DropReason::seq_zero: return tables::SaDrop::replay;
    case esp::DropReason::seq_overflow: return tables::SaDrop::seq_overflow;
    case esp::DropReason::bad_alignment:
    case esp::DropReason::bad_pad_length:
    case esp::DropReason::bad_padding:
    case esp::DropReason::bad_next_header:
    case esp::DropReason::tfc_dummy:
    case esp::DropReason::inner_family_mismatch:
    case esp::DropReason::inner_truncated:
    case esp::DropReason::ecn_ce_not_ect:
    case esp::DropReason::truncated: return tables::SaDrop::malformed;
    default: return tables::SaDrop::other;
    }
}

struct PolicyConfig;
/// A [[policy]] (config or espctl) as a shared-table SPD entry. Pure; any thread.
tables::Policy to_table_policy(const PolicyConfig& p);

/// Name of espgw-dp's table set (memzones "espgw.*"); espgw-ike attaches to it as a
/// DPDK secondary of the same --file-prefix (tables::Tables::attach(kTablesName)).
inline constexpr const char* kTablesName = "espgw";
/// Largest SA id (config [[sa]].id and the control plane's ids).
inline constexpr uint32_t kMaxSaId = (1u << 17) - 1;

/// Process-wide: creates the shared tables and installs the static SAs and policies
/// of the config through the writer API. Main lcore, after EAL init. Throws
/// std::runtime_error naming the SA/policy on a refused install.
struct SaBinding {
    explicit SaBinding(Dataplane& dp);
    ~SaBinding();
    /// JSON array of the installed SAs with their counters (no key material).
    /// Stats thread; reads counters relaxed.
    std::string stats_json() const;
    /// The shared tables, for the control socket's writer calls (writer.hpp rules:
    /// main lcore, never a worker).
    tables::Tables& tables() const noexcept;
    /// Main lcore, periodically: republishes the SPD classifier after writers changed
    /// it (tables::spd_refresh) and frees retired classifiers.
    void control_tick();
    struct Impl;
    std::unique_ptr<Impl> impl;
};

}  // namespace espgw::dp

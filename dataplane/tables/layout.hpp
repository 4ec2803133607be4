#pragma once
// The records of the shared tables as they lie in DPDK memzones. Standard layout,
// no pointers and no process-local addresses: a DPDK secondary process (espgw-ike)
// reads and writes the very same bytes as the primary (espgw-dp). Every cross-record
// reference is an index. Not an API: use writer.hpp / reader.hpp.

#include <rte_spinlock.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "dataplane/esp/sa.hpp"

namespace espgw::tables {

inline constexpr uint32_t kNoSlot = UINT32_MAX;
inline constexpr uint32_t kAnyOwner = UINT32_MAX;
inline constexpr uint32_t kMaxWorkers = 64;  ///< RCU reader ids 0..63
inline constexpr uint64_t kMagic = 0x6573706777746231ull;  // "espgwtb1"
inline constexpr uint32_t kLayoutVersion = 6;  // 4: firewall tags per SA and the tag registry; 5: outbound SAs carry them too; 6: sessions carry GHASH powers (gcm_native)

enum class Direction : uint8_t { in = 0, out = 1 };

/// Sizes fixed at create(). All memory is reserved up front.
struct Limits {
    uint32_t max_sas = 1u << 16;       ///< SA slots per direction
    uint32_t max_ids = 1u << 17;       ///< SA ids are 0..max_ids-1 (both directions)
    uint32_t max_policies = 4096;      ///< SPD entries
    uint32_t workers = 1;              ///< reader threads (RCU ids 0..workers-1), <= kMaxWorkers
    uint32_t event_ring_size = 4096;   ///< power of two
    uint32_t max_routes = 1024;        ///< route records (IPv4 + IPv6 together)
    /// Route lookup structure the primary builds: false = rte_fib/rte_fib6 RIB tree
    /// (small, O(prefix length) lookups), true = DIR24_8 / TRIE (fast, ~32 MiB per
    /// family per published copy).
    bool fast_routes = false;
    uint8_t reserved_[3] = {};
};

/// The per-SA ownership rule (VPP-style): the SA's mutable state (sequence number,
/// replay window, counters, lifetime flags) is written by exactly one worker, its
/// owner, chosen at install: the writer's explicit choice, else sa_id % workers. A
/// worker that receives a packet of an SA it does not own hands the packet off to the
/// owner's ring (dataplane/dp) instead of touching the state. Pure; any thread.
constexpr uint32_t default_owner(uint32_t sa_id, uint32_t workers) noexcept { return workers ? sa_id % workers : 0; }

/// RFC 4301 §4.4.2.1 SA lifetimes in bytes and packets; 0 = no limit.
struct Lifetime {
    uint64_t soft_bytes = 0, hard_bytes = 0;
    uint64_t soft_packets = 0, hard_packets = 0;
};

/// Install-time facts about an SA: written once before publication, immutable after.
struct SaMeta {
    uint32_t id = 0;       ///< control-plane SA id
    uint32_t spi = 0;      ///< host order (copy of sa.spi for lock-free readers)
    uint32_t owner = 0;    ///< worker index that writes the per-SA state
    Direction dir = Direction::in;
    uint8_t reserved_[3] = {};
    Lifetime life;
    /// Firewall tags of the tunnel, on both of its SAs (from_tunnel rules read the
    /// inbound SA's, to_tunnel rules the outbound SA's): bits of the user's groups and
    /// of the IKE connection in the tag registry (Header::tags); 0 = none. Layout 5: an
    /// espgw-ike of layout 4 left outbound tags 0, so the versions must match.
    uint32_t fw_groups = 0;
    uint32_t fw_conn = 0;
};

/// Names behind the firewall tag bits (dataplane/fw: source_group / connection rules),
/// shared by espgw-dp (rule sets) and espgw-ike (SAs of users in groups). Append-only
/// while the tables live: a name keeps its bit, so SAs installed earlier stay right.
/// Written under the writer lock; `count` is stored release after the name.
inline constexpr uint32_t kMaxTags = 32;     ///< per kind
inline constexpr uint32_t kTagNameLen = 32;  ///< including the terminating NUL
struct TagRegistry {
    char names[2][kMaxTags][kTagNameLen] = {};  ///< [0]: groups, [1]: connections
    std::atomic<uint32_t> count[2] = {};
};

/// Slot lifecycle, stored release by the writer, loaded acquire by readers: the acquire
/// load is the happens-before edge from "writer filled the slot" (also visible to
/// ThreadSanitizer, which does not see inside the uninstrumented rte_hash).
enum SlotPhase : uint32_t { kSlotFree = 0, kSlotLive = 1, kSlotRetired = 2 };

/// Immutable part of an inbound SA slot.
struct alignas(64) InSlot {
    esp::InboundSa sa;
    SaMeta meta;
    std::atomic<uint32_t> phase{kSlotFree};
};

/// Immutable part of an outbound SA slot.
struct alignas(64) OutSlot {
    esp::OutboundSa sa;
    SaMeta meta;
    std::atomic<uint32_t> phase{kSlotFree};
};

/// Lifetime flags of one SA; only the owning worker writes them (relaxed: readers take
/// them as a hint — a packet racing the hard-expiry mark is still within one burst).
enum LifeFlags : uint32_t {
    kLifeSoftSent = 1u << 0,   ///< soft event pushed
    kLifeDead = 1u << 1,       ///< hard lifetime reached: readers drop (sa_expired)
    kLifeHardSent = 1u << 2,   ///< hard event pushed
};

// X(name, "description"): why a packet that already matched an SA was dropped; one
// counter per reason in that SA's owner state (VPP-style per-SA error counters).
#define ESPGW_SA_DROP_REASONS(X)                                                            \
    X(icv, "integrity check failed or crypto error (RFC 4303 §3.4.4)")                     \
    X(replay, "sequence number outside / already in the window, or 0 (RFC 4303 §3.4.3)")   \
    X(ts_mismatch, "decrypted packet outside the SA's selectors (RFC 4301 §5.2)")          \
    X(hard_expired, "SA past its hard lifetime (RFC 4301 §4.4.2.1)")                       \
    X(malformed, "bad padding, pad length, next header or inner packet (RFC 4303 §2.4)")   \
    X(seq_overflow, "outbound sequence space exhausted (RFC 4303 §3.3.3)")                 \
    X(other, "any other transform refusal (headroom, size, encapsulation)")

enum class SaDrop : uint8_t {
#define ESPGW_X(name, desc) name,
    ESPGW_SA_DROP_REASONS(ESPGW_X)
#undef ESPGW_X
};
inline constexpr uint32_t kSaDropCount = 0
#define ESPGW_X(name, desc) +1
    ESPGW_SA_DROP_REASONS(ESPGW_X)
#undef ESPGW_X
    ;

/// Short name of a per-SA drop reason ("icv"). Any thread.
constexpr const char* sa_drop_name(SaDrop d) noexcept {
    switch (d) {
#define ESPGW_X(name, desc) \
    case SaDrop::name:      \
        return #name;
        ESPGW_SA_DROP_REASONS(ESPGW_X)
#undef ESPGW_X
    }
    return "unknown";
}

/// Per-SA drop counters: written by the owner worker only (relaxed single-writer
/// increments, like the worker counters), read relaxed by anyone (a snapshot).
struct SaDropCounters {
    uint64_t n[kSaDropCount] = {};
};

/// Mutable per-SA state: one writer, the owning worker. Separate array from the
/// immutable slots so owner writes never dirty lines that every reader loads.
struct alignas(64) InState {
    esp::InboundState st;
    std::atomic<uint32_t> life{0};  ///< LifeFlags
    SaDropCounters drops;           ///< owner-written, zeroed at build
};
struct alignas(64) OutState {
    esp::OutboundState st;
    std::atomic<uint32_t> life{0};
    SaDropCounters drops;
};

/// SA id → slot, with the direction in the top bit (kIdOut) so that an SPD entry
/// naming an inbound id can never index the outbound array. Stored release by the
/// writer; outbound readers load it acquire (the SPD names outbound SAs by id).
inline constexpr uint32_t kIdOut = 1u << 31;
struct IdEntry {
    std::atomic<uint32_t> ref{kNoSlot};  ///< kNoSlot, or slot | (out ? kIdOut : 0)
};

enum class PolicyAction : uint8_t { protect = 0, bypass = 1, discard = 2 };

/// One SPD entry (RFC 4301 §4.4.1). Addresses network order, ports host order.
/// First match by priority (lower wins); equal priorities match in install order.
struct Policy {
    uint32_t priority = 100;
    uint8_t family = 4;          ///< 4 or 6
    uint8_t src_len = 0;         ///< prefix lengths in bits
    uint8_t dst_len = 0;
    uint8_t proto = 0;           ///< 0 = any
    uint8_t src[16] = {};
    uint8_t dst[16] = {};
    uint16_t src_port_lo = 0, src_port_hi = 65535;
    uint16_t dst_port_lo = 0, dst_port_hi = 65535;
    PolicyAction action = PolicyAction::bypass;
    uint8_t reserved_[3] = {};
    uint32_t sa_id = 0;          ///< protect: outbound SA id
};

/// One route (network order prefix and gateway). `port` is the dataplane's egress
/// port index; a route without gateway (`via == 0`) is directly connected.
struct Route {
    uint8_t family = 4;      ///< 4 or 6
    uint8_t len = 0;         ///< prefix length in bits
    uint16_t port = 0;       ///< egress port index (dataplane's numbering)
    uint8_t via = 0;         ///< 1: next hop is `gateway`; 0: destination is on-link
    uint8_t reserved_[3] = {};
    uint8_t prefix[16] = {}; ///< host bits are cleared at install
    uint8_t gateway[16] = {};
};

/// A route slot in shared memory; changed only under the writer lock.
struct RouteRecord {
    Route r;
    uint32_t in_use = 0;
    uint32_t reserved_ = 0;
};

/// A policy slot in shared memory; changed only under the writer lock.
struct PolicyRecord {
    Policy p;
    uint32_t in_use = 0;
    uint32_t reserved_ = 0;
    uint64_t order = 0;  ///< install sequence: tie-break among equal priorities
};

enum class EventKind : uint8_t { soft_expired = 1, hard_expired = 2 };

/// An expiry event on the event ring (multi-producer: workers; single consumer: the
/// control process). 16 bytes.
struct Event {
    uint32_t sa_id = 0;
    uint32_t spi = 0;        ///< host order
    EventKind kind = EventKind::soft_expired;
    Direction dir = Direction::in;
    uint8_t reserved_[6] = {};
};
static_assert(sizeof(Event) == 16);

/// A slot (or rte_hash key position) waiting for an RCU grace period.
struct Pending {
    uint64_t token = 0;      ///< rte_rcu_qsbr_start() value at retirement
    uint32_t slot = kNoSlot;
    Direction dir = Direction::in;
    uint8_t reserved_[3] = {};
    int32_t hash_pos = -1;   ///< inbound: key position to free, or -1
    uint32_t reserved2_ = 0;
};

/// The header memzone. Writer fields are changed only under `writer_lock`.
struct alignas(64) Header {
    uint64_t magic = 0;
    uint32_t version = 0;
    uint32_t reserved_ = 0;
    Limits limits;
    uint32_t hash_seed = 0;
    // --- writer state (under writer_lock) ---
    rte_spinlock_t writer_lock;
    uint32_t in_free_top = 0;     ///< free-list stack depth (in_free[0..top))
    uint32_t out_free_top = 0;
    uint64_t pending_head = 0;    ///< FIFO of Pending, indices mod pending_cap
    uint64_t pending_tail = 0;
    uint32_t pending_cap = 0;
    uint32_t nb_policies = 0;
    uint64_t policy_order = 0;
    uint32_t nb_in = 0, nb_out = 0;  ///< live SAs
    /// Bumped (release) after every SPD change; the primary's control thread rebuilds
    /// its classifier when it differs from the one it built.
    alignas(64) std::atomic<uint64_t> spd_generation{0};
    /// Same for the route records (Header::nb_routes under the writer lock).
    std::atomic<uint64_t> route_generation{0};
    uint32_t nb_routes = 0;
    TagRegistry tags;
};

static_assert(std::is_standard_layout_v<InSlot> && std::is_standard_layout_v<OutSlot>);
static_assert(std::is_standard_layout_v<InState> && std::is_standard_layout_v<OutState>);
static_assert(std::is_standard_layout_v<Header> && std::is_standard_layout_v<PolicyRecord> &&
              std::is_standard_layout_v<RouteRecord>);
static_assert(std::atomic<uint32_t>::is_always_lock_free && std::atomic<uint64_t>::is_always_lock_free,
              "shared-memory atomics must be address-free");

}  // namespace espgw::tables

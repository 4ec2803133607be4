#pragma once
// One worker's NAT sessions (connection tracking): a fixed-capacity session array,
// two open-addressing indexes (inside 5-tuple → session, public 5-tuple → session),
// a slice of the public port space, and a timing wheel for expiry. Pure code (no
// EAL). Owned and used by ONE worker: no atomics, no locks; nothing allocates after
// construction.
//
// Memory per session: sizeof(Session) (40 bytes) + two index slots per index at a
// load of <= 0.5 (2 × 2 × 8 bytes) + 4 bytes of free list = 76 bytes; 1,000,000
// sessions ≈ 76 MB (kBytesPerSession). Plus a fixed 512 KiB per worker for the
// per-inside-address counts (talkers.hpp).

#include <cstdint>
#include <memory>

#include "dataplane/nat/talkers.hpp"

namespace espgw::nat {

/// Per-protocol idle timeouts, seconds (RFC 5382 §5 / RFC 4787 REQ-5 minimums:
/// established TCP >= 2 h 4 min, UDP >= 2 min; transitory TCP 4 min).
struct Timeouts {
    uint32_t tcp_syn_s = 120;           ///< SYN seen, no answer yet
    uint32_t tcp_established_s = 7440;  ///< RFC 5382 REQ-5
    uint32_t tcp_closing_s = 240;       ///< FIN seen (2 MSL, RFC 5382 §5)
    uint32_t tcp_closed_s = 10;         ///< RST seen
    uint32_t udp_s = 300;               ///< RFC 4787 REQ-5
    uint32_t icmp_s = 60;               ///< RFC 5508 REQ-1
};

enum class TcpState : uint8_t { none, syn, established, closing, closed };

/// A flow as the table keys it: protocol, one address/port pair of ours (inside or
/// public) and the remote pair. Addresses and ports host order.
struct FlowKey {
    uint8_t proto = 0;
    uint32_t addr = 0;
    uint16_t port = 0;
    uint32_t remote = 0;
    uint16_t remote_port = 0;
};

/// One translation. Addresses/ports host order.
struct Session {
    uint32_t in_addr = 0, remote_addr = 0, pub_addr = 0;
    uint16_t in_port = 0, remote_port = 0, pub_port = 0;
    uint8_t proto = 0;
    TcpState tcp = TcpState::none;
    uint16_t rule = 0;          ///< masquerade rule index
    uint16_t talker = TalkerTable::kNone;  ///< slot of in_addr in the talker table
    uint32_t expire_s = 0;      ///< idle deadline
    uint32_t wheel_s = 0;       ///< the tick whose wheel slot holds this session
    uint32_t next = 0, prev = 0;  ///< wheel list links (session id + 1; 0 = none)
};
static_assert(sizeof(Session) == 40);

inline constexpr uint32_t kBytesPerSession = sizeof(Session) + 2 * 2 * 8 + 4;

/// Why create() failed.
enum class CreateError : uint8_t { none, table_full, ports_exhausted };

class SessionTable {
public:
    static constexpr uint32_t kWheelSlots = 1024;  ///< one-second ticks, power of 2
    static constexpr uint32_t kPortTries = 256;    ///< probes before ports_exhausted

    /// `capacity` sessions (>= 1), public ports/identifiers port_lo..port_hi (this
    /// worker's slice), wheel starting at `now_s`; UDP port `reserved_udp` (the
    /// NAT-T port, whose traffic the dataplane treats as ESP/IKE) is never handed
    /// out. Throws std::bad_alloc.
    SessionTable(uint32_t capacity, uint16_t port_lo, uint16_t port_hi, uint32_t now_s, uint16_t reserved_udp = 0);

    /// Session id for the inside key (addr = inside address) or -1.
    int64_t find_inside(const FlowKey& k) const noexcept;
    /// Session id for the public key (addr = public address) or -1.
    int64_t find_public(const FlowKey& k) const noexcept;

    /// New session for inside key `k`, translated to `pub_addr` and a free public port
    /// of this slice (a different one per remote endpoint may repeat: "address and port
    /// dependent mapping", RFC 4787 §4.1). Returns the id, or -1 with *err set.
    int64_t create(const FlowKey& k, uint32_t pub_addr, uint16_t rule, uint32_t expire_s,
                   CreateError* err) noexcept;

    Session& at(uint32_t id) noexcept { return s_[id]; }
    const Session& at(uint32_t id) const noexcept { return s_[id]; }

    /// Sets the session's idle deadline. Pushing it later is O(1) (the wheel re-files
    /// lazily); pulling it earlier (FIN/RST) re-files now.
    void set_expire(uint32_t id, uint32_t expire_s) noexcept;

    /// Advances the wheel to `now_s`, freeing sessions whose deadline passed, touching
    /// at most `budget` sessions (the rest waits for the next call: no stop-the-world
    /// scan). Returns how many expired.
    uint32_t expire(uint32_t now_s, uint32_t budget) noexcept;

    /// Frees one session.
    void remove(uint32_t id) noexcept;

    /// Frees up to `budget` sessions of any age (an operator's flush, spread over
    /// polls). Returns true once the table is empty.
    bool flush_some(uint32_t budget) noexcept;

    /// Counts a translated packet of session `id` for its inside address (top talkers).
    void count_packet(uint32_t id) noexcept { talkers_.packet(s_[id].talker); }
    /// Per-inside-address sessions/packets. Readable from any thread (snapshot()).
    const TalkerTable& talkers() const noexcept { return talkers_; }

    /// Live sessions. Any thread (relaxed read of a single-writer value).
    uint32_t size() const noexcept { return __atomic_load_n(&used_, __ATOMIC_RELAXED); }
    uint32_t capacity() const noexcept { return cap_; }
    uint16_t port_lo() const noexcept { return port_lo_; }
    uint16_t port_hi() const noexcept { return port_hi_; }

private:
    struct Slot {
        uint32_t tag = 0;  ///< low 32 bits of the key hash; home = tag & mask
        uint32_t id = 0;   ///< session id + 1; 0 = empty
    };
    static uint32_t hash(uint8_t proto, uint32_t a, uint16_t ap, uint32_t r, uint16_t rp) noexcept;
    int64_t find(const Slot* idx, bool pub, const FlowKey& k) const noexcept;
    void insert(Slot* idx, uint32_t tag, uint32_t id) noexcept;
    void erase(Slot* idx, uint32_t tag, uint32_t id) noexcept;
    void link(uint32_t id, uint32_t tick) noexcept;
    void unlink(uint32_t id) noexcept;

    uint32_t cap_;
    uint32_t mask_;  ///< index size - 1
    uint16_t port_lo_, port_hi_;
    uint16_t reserved_udp_;
    uint32_t used_ = 0;
    uint32_t nfree_ = 0;
    uint32_t now_s_;      ///< next wheel tick to process
    uint32_t cursor_ = 0; ///< id + 1 to continue from inside slot now_s_ (0: from head)
    std::unique_ptr<Session[]> s_;
    std::unique_ptr<uint32_t[]> free_;
    std::unique_ptr<Slot[]> in_idx_, pub_idx_;
    std::unique_ptr<uint32_t[]> wheel_;  ///< head id + 1 per slot
    TalkerTable talkers_;
};

}  // namespace espgw::nat

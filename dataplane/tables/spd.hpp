#pragma once
// The SPD classifier (RFC 4301 §4.4.1): first match by priority over the policy
// records in shared memory.
//
// Who builds what: rte_acl contexts (and this classifier) are process-local objects
// with pointers, so they never live in shared memory. A writer — possibly a
// secondary process — only edits the PolicyRecord array and bumps
// Header::spd_generation. The primary's control thread (espgw-dp's main lcore) calls
// spd_refresh() periodically: when the generation moved it copies the records under
// the writer lock, builds a new immutable Classifier OFF the hot path, publishes it
// with one release store, and frees the previous one only after an RCU grace period
// (every worker passed a quiescent state). Readers load the pointer (acquire) and use
// it until their next quiescent state.
//
// Current implementation: a priority-sorted immutable array scanned linearly with
// precomputed masks (correct first match; O(policies) per packet). The publication
// scheme is the one an rte_acl context will use.

#include <cstdint>
#include <memory>
#include <vector>

#include "dataplane/tables/tables.hpp"

namespace espgw::tables {

/// Result of an SPD lookup. `sa_id` is meaningful for protect.
struct SpdMatch {
    enum Kind : uint8_t { protect, bypass, discard, no_match } kind = no_match;
    uint32_t sa_id = 0;
};

/// Packet selectors: addresses network order (4 or 16 bytes), ports host order.
struct SpdKey {
    uint8_t family = 4;
    uint8_t proto = 0;
    uint16_t src_port = 0;
    uint16_t dst_port = 0;
    const uint8_t* src = nullptr;
    const uint8_t* dst = nullptr;
};

/// An immutable, process-local classifier built from one SPD generation.
class Classifier {
public:
    /// Builds from `policies` (any order; sorted here by priority, then install
    /// order). Control path; allocates; throws std::bad_alloc only.
    explicit Classifier(std::vector<PolicyRecord> policies);

    /// First matching policy. Any reader thread, lock-free, no allocation.
    SpdMatch match(const SpdKey& k) const noexcept {
        for (const Entry& e : entries_) {
            if (e.family != k.family) continue;
            if (e.proto != 0 && e.proto != k.proto) continue;
            if (k.src_port < e.sport_lo || k.src_port > e.sport_hi) continue;
            if (k.dst_port < e.dport_lo || k.dst_port > e.dport_hi) continue;
            if (!prefix_ok(e.src, e.src_mask, k.src, e.words)) continue;
            if (!prefix_ok(e.dst, e.dst_mask, k.dst, e.words)) continue;
            return SpdMatch{e.kind, e.sa_id};
        }
        return SpdMatch{};
    }

    uint64_t generation() const noexcept { return generation_; }
    size_t size() const noexcept { return entries_.size(); }

private:
    friend bool spd_refresh(Tables&);
    struct Entry {
        uint32_t src[4], src_mask[4], dst[4], dst_mask[4];  // network order words
        uint8_t family, proto, words;
        SpdMatch::Kind kind;
        uint16_t sport_lo, sport_hi, dport_lo, dport_hi;
        uint32_t sa_id;
    };
    static bool prefix_ok(const uint32_t* net, const uint32_t* mask, const uint8_t* a, uint8_t words) noexcept {
        for (uint8_t i = 0; i < words; ++i) {
            uint32_t w;
            __builtin_memcpy(&w, a + 4 * i, 4);
            if ((w & mask[i]) != net[i]) return false;
        }
        return true;
    }
    std::vector<Entry> entries_;
    uint64_t generation_ = 0;
};

/// Process-local SPD bookkeeping of a Tables handle.
struct Tables::Local {
    uint64_t built_generation = UINT64_MAX;
    struct Retired {
        uint64_t token;
        std::unique_ptr<const Classifier> c;
    };
    std::vector<Retired> retired;
    std::unique_ptr<const Classifier> current;
};

/// Rebuilds and republishes the classifier when the SPD generation moved, and frees
/// classifiers whose grace period has passed. Primary's control thread only (one
/// thread); never blocks on workers; takes the writer lock briefly to copy the
/// policies. Returns true when a new classifier was published. Throws std::bad_alloc.
bool spd_refresh(Tables& t);

/// Frees every classifier now. Only when no reader can run (shutdown).
void spd_release_all(Tables& t) noexcept;

}  // namespace espgw::tables

#pragma once
// The SPD classifier (RFC 4301 §4.4.1): first match by priority over the policy
// records in shared memory, compiled into rte_acl tries (one per address family).
//
// Who builds what: an rte_acl context holds process-local pointers (its classify
// function table, its trie memory registered in this process), so it never lives in
// shared memory and is never shared between processes. A writer — possibly a DPDK
// secondary process such as espgw-ike — only edits the PolicyRecord array and bumps
// Header::spd_generation (writer.hpp). The primary's control thread calls refresh()
// (publish.hpp) periodically: when the generation moved it copies the records under
// the writer lock, builds a new immutable Classifier OFF the hot path, publishes it
// with one release store of a process-local pointer, and frees the previous one only
// after an rte_rcu_qsbr grace period (every worker passed a quiescent state). Readers
// load the pointer (acquire) once per lookup and use it until their next quiescent().

#include <rte_acl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/tables/layout.hpp"

namespace espgw::tables {

/// Result of an SPD lookup. `sa_id` is meaningful for protect.
struct SpdMatch {
    enum Kind : uint8_t { protect, bypass, discard, no_match } kind = no_match;
    uint32_t sa_id = 0;
};

/// Packet selectors: addresses network order (4 or 16 bytes), ports host order
/// (0 for protocols without ports; RFC 4301 §7: non-initial fragments are OPAQUE).
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
    /// Most keys one classify() call takes (bigger bursts are split by the caller).
    static constexpr uint32_t kBurst = 64;

    /// Compiles `policies` (any order: ranked here by priority, then install order)
    /// into rte_acl contexts named "<name>.a4.<seq>" / "<name>.a6.<seq>" (`seq` makes
    /// names unique while an old classifier awaits its grace period). Control path;
    /// allocates. Throws std::runtime_error when rte_acl refuses (memory), naming it.
    Classifier(const std::string& name, uint32_t seq, std::vector<PolicyRecord> policies, uint64_t generation);
    ~Classifier();
    Classifier(const Classifier&) = delete;
    Classifier& operator=(const Classifier&) = delete;

    /// First matching policy of each of `n` <= kBurst keys into out[0..n). Any reader
    /// thread of this process, lock-free, no allocation (two rte_acl_classify calls).
    void classify(const SpdKey* keys, SpdMatch* out, uint32_t n) const noexcept;

    uint64_t generation() const noexcept { return generation_; }
    size_t size() const noexcept { return actions_.size(); }

private:
    rte_acl_ctx* v4_ = nullptr;  ///< null when there is no IPv4 entry
    rte_acl_ctx* v6_ = nullptr;
    std::vector<SpdMatch> actions_;  ///< by rank; rte_acl userdata = rank + 1
    uint64_t generation_ = 0;
};

}  // namespace espgw::tables

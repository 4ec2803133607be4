#pragma once
// A firewall rule set compiled into an rte_acl trie (first match = highest rte_acl
// priority = lowest rule index), immutable once built, with per-worker per-rule hit
// counters. Built on the control thread (allocates, may take milliseconds); used by
// workers through Firewall (firewall.hpp) under RCU.

#include <rte_acl.h>

#include <cstdint>
#include <memory>
#include <string>

#include "dataplane/fw/rules.hpp"

namespace espgw::fw {

/// Hits of one rule at one worker. Single writer (that worker), relaxed accesses.
struct RuleHits {
    uint64_t packets = 0;
    uint64_t bytes = 0;
    uint64_t last_hit = 0;  ///< caller's clock (the dataplane: TSC) at the last hit; 0 = never
};

class Compiled {
public:
    static constexpr uint32_t kBurst = 64;  ///< most keys per classify() call

    /// Validates and compiles `rs` for `workers` workers into a context named
    /// "fw<seq>" (unique while an old set awaits its grace period). `max_acl_bytes`
    /// bounds the trie (0 = rte_acl's default). On refusal returns nullptr and sets
    /// *why (validation message or rte_acl's error). Control thread; EAL initialised.
    static std::unique_ptr<Compiled> build(const RuleSet& rs, uint32_t workers, uint32_t seq, size_t max_acl_bytes,
                                           std::string* why);
    ~Compiled();
    Compiled(const Compiled&) = delete;
    Compiled& operator=(const Compiled&) = delete;

    /// First matching rule index of each key (-1: default policy). n <= kBurst. Any
    /// thread, lock-free, no allocation.
    void classify(const FwKey* keys, int32_t* out, uint32_t n) const noexcept;

    /// Action for a classify() result.
    Action action_of(int32_t idx) const noexcept {
        return idx == kDefaultToTunnel ? rs_.default_to_tunnel
               : idx < 0              ? rs_.default_action
                                      : rs_.rules[static_cast<uint32_t>(idx)].action;
    }

    /// Counts a hit of `idx` (-1 / kDefaultToTunnel: a default policy) at `worker`.
    /// That worker only.
    void count(uint32_t worker, int32_t idx, uint32_t bytes, uint64_t now) const noexcept {
        RuleHits& h = hits_[worker * stride_ + static_cast<uint32_t>(idx + 2)];
        __atomic_store_n(&h.packets, h.packets + 1, __ATOMIC_RELAXED);
        __atomic_store_n(&h.bytes, h.bytes + bytes, __ATOMIC_RELAXED);
        __atomic_store_n(&h.last_hit, now, __ATOMIC_RELAXED);
    }

    /// Sum over workers of the hits of `idx` (-1, kDefaultToTunnel: defaults); last_hit is the maximum.
    /// Any thread (relaxed reads).
    RuleHits hits(int32_t idx) const noexcept;

    const RuleSet& rules() const noexcept { return rs_; }
    uint32_t seq() const noexcept { return seq_; }

private:
    Compiled() = default;
    rte_acl_ctx* ctx_ = nullptr;  ///< null when no rule is enabled
    RuleSet rs_;
    uint32_t seq_ = 0;
    uint32_t workers_ = 0;
    uint32_t stride_ = 0;  ///< RuleHits per worker, padded to whole cache lines
    std::unique_ptr<RuleHits[]> hits_;
};

}  // namespace espgw::fw

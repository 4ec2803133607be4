#pragma once
// The live firewall of espgw-dp: one published Compiled rule set, replaced atomically
// (RCU, as the SPD in dataplane/tables/spd.hpp): the control thread compiles a new
// set OFF the hot path, publishes it with one release store, waits for an
// rte_rcu_qsbr grace period (every online worker passed quiescent()), then frees the
// old one. A set that fails to compile is refused with the reason; the old one stays.

#include <rte_rcu_qsbr.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "dataplane/fw/classifier.hpp"

namespace espgw::fw {

class Firewall {
public:
    /// For `workers` worker threads (ids 0..workers-1, each registered but offline
    /// until it calls online()). Control thread, EAL initialised. Throws
    /// std::runtime_error when the QSBR variable cannot be allocated.
    Firewall(uint32_t workers, size_t max_acl_bytes = 0);
    ~Firewall();
    Firewall(const Firewall&) = delete;
    Firewall& operator=(const Firewall&) = delete;

    /// Compiles and publishes `rs`; blocks for one grace period before freeing the
    /// old set. False (nothing changed) with *why set when refused. Control thread only.
    bool install(const RuleSet& rs, std::string* why);

    /// The published set (acquire), or nullptr before the first install (= allow).
    /// A worker may use it until its next quiescent(); the control thread any time.
    const Compiled* current() const noexcept { return cur_.load(std::memory_order_acquire); }

    /// Worker `id` joins / leaves the grace-period accounting. That worker.
    void online(uint32_t id) noexcept;
    void offline(uint32_t id) noexcept;
    /// Worker `id` holds no reference to a rule set any more. Once per poll.
    void quiescent(uint32_t id) noexcept { rte_rcu_qsbr_quiescent(qsbr_, id); }

    /// Number of installs that took effect (the first included).
    uint32_t generation() const noexcept { return seq_; }

private:
    uint32_t workers_;
    size_t max_acl_bytes_;
    uint32_t seq_ = 0;
    rte_rcu_qsbr* qsbr_ = nullptr;
    // release on publish pairs with the workers' acquire in current(): they see a
    // fully built set.
    std::atomic<const Compiled*> cur_{nullptr};
};

}  // namespace espgw::fw

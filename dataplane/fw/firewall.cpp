// Firewall: RCU publication of compiled rule sets.
#include "dataplane/fw/firewall.hpp"

#include <rte_malloc.h>

#include <stdexcept>

namespace espgw::fw {

Firewall::Firewall(uint32_t workers, size_t max_acl_bytes)
    : workers_(workers == 0 ? 1 : workers), max_acl_bytes_(max_acl_bytes) {
    const size_t sz = rte_rcu_qsbr_get_memsize(workers_);
    qsbr_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc("espgw_fw_qsbr", sz, RTE_CACHE_LINE_SIZE));
    if (qsbr_ == nullptr || rte_rcu_qsbr_init(qsbr_, workers_) != 0)
        throw std::runtime_error("firewall: cannot allocate the RCU QSBR variable");
    for (uint32_t i = 0; i < workers_; ++i) rte_rcu_qsbr_thread_register(qsbr_, i);
}

Firewall::~Firewall() {
    delete cur_.exchange(nullptr, std::memory_order_acq_rel);
    rte_free(qsbr_);
}

void Firewall::online(uint32_t id) noexcept { rte_rcu_qsbr_thread_online(qsbr_, id); }
void Firewall::offline(uint32_t id) noexcept { rte_rcu_qsbr_thread_offline(qsbr_, id); }

bool Firewall::install(const RuleSet& rs, std::string* why) {
    std::unique_ptr<Compiled> next = Compiled::build(rs, workers_, seq_ + 1, max_acl_bytes_, why);
    if (!next) return false;
    ++seq_;
    const Compiled* old = cur_.exchange(next.release(), std::memory_order_acq_rel);
    if (old) {
        // Grace period: every online worker reported a quiescent state after the swap.
        rte_rcu_qsbr_synchronize(qsbr_, RTE_QSBR_THRID_INVALID);
        delete old;
    }
    return true;
}

}  // namespace espgw::fw

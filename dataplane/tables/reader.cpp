// Reader registration with the tables' RCU.
#include "dataplane/tables/reader.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace espgw::tables {

Reader::Reader(Tables& t, uint32_t worker) : t_(t), worker_(worker) {
    if (worker >= t.hdr->limits.workers)
        throw std::runtime_error(fmt::format("tables: reader {} >= workers {}", worker, t.hdr->limits.workers));
    if (rte_rcu_qsbr_thread_register(t.rcu, worker) != 0)
        throw std::runtime_error(fmt::format("tables: reader {}: RCU register failed", worker));
    rte_rcu_qsbr_thread_online(t.rcu, worker);
}

Reader::~Reader() {
    rte_rcu_qsbr_thread_offline(t_.rcu, worker_);
    rte_rcu_qsbr_thread_unregister(t_.rcu, worker_);
}

}  // namespace espgw::tables

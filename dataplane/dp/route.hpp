#pragma once
// Routing of espgw-dp. The routes live in the shared tables (dataplane/tables: route
// records in shared memory, compiled by the primary into rte_fib/rte_fib6 and
// published under RCU), so the control process can add routes (e.g. for a virtual IP
// pool) while workers forward. This file installs the start-up routes — the connected
// prefix of every port address and the [[route]] entries — and defines how a worker
// turns a route into the neighbour to resolve.

#include <cstdint>

#include "dataplane/dp/config.hpp"
#include "dataplane/tables/route.hpp"

namespace espgw::tables {
class Tables;
}

namespace espgw::dp {

using NextHop = tables::RouteHop;

/// Adds connected and configured routes through the tables' writer API. Main lcore,
/// before the first tables::refresh(). Throws std::runtime_error naming the route.
void install_routes(const Config& cfg, tables::Tables& t);

/// The neighbour address to ARP/ND for: the gateway, or the destination itself.
inline const uint8_t* neighbor_addr(const NextHop& nh, const uint8_t* dst) noexcept {
    return nh.via ? nh.gateway : dst;
}

}  // namespace espgw::dp

#pragma once
// Which virtual IPv4 address a remote-access peer gets, and which local subnets its
// CHILD_SA covers (RFC 7296 §2.19, §3.15). The one place that decides it, for every
// way a peer authenticates: PSK/certificate peers and EAP users alike. Control thread.

#include "control/ike/address_pool.hpp"
#include "control/ike/config.hpp"
#include "control/ike/ike_sa.hpp"

#include <optional>
#include <string>
#include <vector>

namespace espgw::ike {

/// The address for the peer of `sa` (whose connection is chosen), in order:
/// 1. the user's static address from the authority (user database static_ip, RADIUS
///    Framed-IP-Address: sa.user_ip, set by the EAP exchange), with or without a pool;
/// 2. the connection pool's [static] entry for the EAP user name, else the IKE identity;
/// 3. a lease from the connection's pool (`pools`), kept per user name or else per IKE
///    identity (reused on reconnect).
/// `source` receives "user", "static" or "pool" for the log line. nullopt when the
/// connection has no pool or the pool is exhausted.
std::optional<uint32_t> choose_virtual_ip(const IkeSa& sa, const IkeConfig& config,
                                          std::map<std::string, AddressPool>& pools, std::string& source);

/// The local traffic selectors the CHILD_SA of `sa` may cover: the connection's
/// local_ts, narrowed to the pool's split_include subnets when the peer has a virtual
/// IP from a pool that lists them (split tunnel). Empty when they do not intersect.
std::vector<TrafficSelector> local_ts_for(const IkeSa& sa, const IkeConfig& config);

}  // namespace espgw::ike

#pragma once
// Which virtual IPv4 and IPv6 addresses a remote-access peer gets, and which local
// subnets its CHILD_SA covers (RFC 7296 §2.19, §3.15). The one place that decides it,
// for every way a peer authenticates: PSK/certificate peers and EAP users alike.
// Control thread.

#include <optional>
#include <string>
#include <vector>

#include "control/ike/address_pool.hpp"
#include "control/ike/config.hpp"
#include "control/ike/ike_sa.hpp"

namespace espgw::ike {

/// Where a chosen virtual address came from, for the log line and the CP reply.
struct VipOrigin {
    std::string source;  // "user", "static" or "pool"; empty: no pool of the family admits the peer
    std::string pool;    // the pool whose CP attributes (DNS, NBNS, split) go with it; empty: none
};

/// Issue 6: whether a pool hands addresses to a user with `groups`: a pool without
/// groups admits everybody, one with groups only users in at least one of them.
bool pool_admits(const PoolConfig& pool, const std::vector<std::string>& groups);

/// The connection's pools of `family` (4 or 6) that admit the peer's groups, in the
/// connection's order.
std::vector<const PoolConfig*> admitted_pools(const IkeSa& sa, const IkeConfig& config,
                                              uint8_t family);

/// The `family` (4 or 6) address for the peer of `sa` (whose connection is chosen), in
/// order:
/// 1. IPv4 only: the user's static address from the authority (user database
///    static_ip, RADIUS Framed-IP-Address: sa.user_ip, set by the EAP exchange), with
///    or without a pool;
/// 2. a [static] entry for the EAP user name, else the IKE identity, in the admitted
///    pools (admitted_pools: the connection's pools of that family whose groups match
///    the user's), in order;
/// 3. a lease from the first admitted pool (`pools`), kept per user name or else per
///    IKE identity (reused on reconnect).
/// An IPv4 address is in the low 32 bits. `origin` says which rule and pool gave it.
/// nullopt when no pool of the family admits the peer or that pool is exhausted.
std::optional<PoolAddr> choose_virtual_ip(const IkeSa& sa, const IkeConfig& config,
                                          std::map<std::string, AddressPool>& pools, uint8_t family,
                                          VipOrigin& origin);

/// The local traffic selectors the CHILD_SA of `sa` may cover: the connection's
/// local_ts, its IPv4 part narrowed to the pool's split_include subnets when the peer
/// has a virtual IPv4 address from a pool that lists them (split tunnel). Empty when
/// nothing is left.
std::vector<TrafficSelector> local_ts_for(const IkeSa& sa, const IkeConfig& config);
/// What the peer's side (TSi) of a CHILD_SA of `sa` may be narrowed to (§2.9): exactly
/// its virtual IP(s) when it has any, else the connection's remote_ts; empty = whatever
/// the peer proposed.
std::vector<TrafficSelector> remote_ts_for(const IkeSa& sa);

/// The selectors for the peer's own side with virtual addresses (§2.9: exactly its
/// virtual IPv4 and IPv6 address); empty when it has none.
std::vector<TrafficSelector> virtual_ip_ts(const IkeSa& sa);

}  // namespace espgw::ike

#include "control/ike/virtual_ip.hpp"

#include <algorithm>

#include "control/ike/traffic_selector.hpp"

namespace espgw::ike {

bool pool_admits(const PoolConfig& pool, const std::vector<std::string>& groups) {
    if (pool.groups.empty()) return true;
    return std::any_of(pool.groups.begin(), pool.groups.end(), [&](const std::string& g) {
        return std::find(groups.begin(), groups.end(), g) != groups.end();
    });
}

std::vector<const PoolConfig*> admitted_pools(const IkeSa& sa, const IkeConfig& config,
                                              uint8_t family) {
    std::vector<const PoolConfig*> out;
    if (!sa.conn) return out;
    for (const std::string& name : sa.conn->pools) {
        const auto it = config.pools.find(name);
        if (it != config.pools.end() && it->second.family == family &&
            pool_admits(it->second, sa.groups))
            out.push_back(&it->second);
    }
    return out;
}

std::optional<PoolAddr> choose_virtual_ip(const IkeSa& sa, const IkeConfig& config,
                                          std::map<std::string, AddressPool>& pools, uint8_t family,
                                          VipOrigin& origin) {
    origin = {};
    const std::vector<const PoolConfig*> admitted = admitted_pools(sa, config, family);
    if (family == 4 && sa.user_ip) {
        // Issue 6: the user's static address overrides the pool; it lies outside every pool.
        origin = {"user", admitted.empty() ? std::string() : admitted.front()->name};
        return *sa.user_ip;
    }
    if (admitted.empty()) return std::nullopt;
    const std::string id = sa.peer_id.to_string();
    for (const PoolConfig* pc : admitted)
        for (const std::string* key : {&sa.user, &id}) {
            if (key->empty()) continue;
            if (auto it = pc->static_ips.find(*key); it != pc->static_ips.end()) {
                origin = {"static", pc->name};
                return it->second;
            }
        }
    origin = {"pool", admitted.front()->name};
    const auto pool = pools.find(admitted.front()->name);
    if (pool == pools.end()) return std::nullopt;
    // Leases follow the user when EAP named one (the IKE identity may be an address).
    return pool->second.acquire(sa.user.empty() ? id : sa.user);
}

std::vector<TrafficSelector> remote_ts_for(const IkeSa& sa) {
    if (sa.virtual_ip || sa.virtual_ip6) return virtual_ip_ts(sa);
    return sa.conn ? sa.conn->remote_ts : std::vector<TrafficSelector>{};
}

std::vector<TrafficSelector> local_ts_for(const IkeSa& sa, const IkeConfig& config) {
    if (!sa.conn) return {};
    if (!sa.virtual_ip || sa.vip_pool.empty()) return sa.conn->local_ts;
    const auto it = config.pools.find(sa.vip_pool);
    if (it == config.pools.end() || it->second.split_include.empty()) return sa.conn->local_ts;
    std::vector<TrafficSelector> split;
    for (const auto& [net, mask] : it->second.split_include) {
        TrafficSelector ts;
        const uint32_t last = net | ~mask;
        ts.start_addr = {static_cast<uint8_t>(net >> 24), static_cast<uint8_t>(net >> 16),
                         static_cast<uint8_t>(net >> 8), static_cast<uint8_t>(net)};
        ts.end_addr = {static_cast<uint8_t>(last >> 24), static_cast<uint8_t>(last >> 16),
                       static_cast<uint8_t>(last >> 8), static_cast<uint8_t>(last)};
        split.push_back(std::move(ts));
    }
    // §2.9 narrowing applied to our own policy: the split subnets within local_ts (the
    // IPv4 ones; INTERNAL_IP4_SUBNET says nothing about IPv6).
    std::vector<TrafficSelector> out = narrow(split, sa.conn->local_ts);
    for (const TrafficSelector& ts : sa.conn->local_ts)
        if (ts.ts_type == TS_IPV6_ADDR_RANGE) out.push_back(ts);
    return out;
}

std::vector<TrafficSelector> virtual_ip_ts(const IkeSa& sa) {
    std::vector<TrafficSelector> out;
    if (sa.virtual_ip) {
        const uint32_t v = *sa.virtual_ip;
        const uint8_t a[4] = {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
                              static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
        out.push_back(ts_host(a));
    }
    if (sa.virtual_ip6) out.push_back(ts_host(*sa.virtual_ip6));
    return out;
}

}  // namespace espgw::ike

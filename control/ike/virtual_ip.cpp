#include "control/ike/virtual_ip.hpp"

#include "control/ike/traffic_selector.hpp"

namespace espgw::ike {

std::optional<uint32_t> choose_virtual_ip(const IkeSa& sa, const IkeConfig& config,
                                          std::map<std::string, AddressPool>& pools, std::string& source) {
    if (sa.user_ip) {
        // Issue 6: the user's static address overrides the pool; it lies outside every pool.
        source = "user";
        return sa.user_ip;
    }
    if (!sa.conn || sa.conn->pool.empty()) return std::nullopt;
    const auto cfg = config.pools.find(sa.conn->pool);
    const auto pool = pools.find(sa.conn->pool);
    if (cfg == config.pools.end() || pool == pools.end()) return std::nullopt;
    const std::string id = sa.peer_id.to_string();
    for (const std::string* key : {&sa.user, &id}) {
        if (key->empty()) continue;
        if (auto it = cfg->second.static_ips.find(*key); it != cfg->second.static_ips.end()) {
            source = "static";
            return it->second;
        }
    }
    source = "pool";
    // Leases follow the user when EAP named one (the IKE identity may be an address).
    return pool->second.acquire(sa.user.empty() ? id : sa.user);
}
std::vector<TrafficSelector> local_ts_for(const IkeSa& sa, const IkeConfig& config) {
    if (!sa.conn) return {};
    if (!sa.virtual_ip || sa.conn->pool.empty()) return sa.conn->local_ts;
    const auto it = config.pools.find(sa.conn->pool);
    if (it == config.pools.end() || it->second.split_include.empty()) return sa.conn->local_ts;
    std::vector<TrafficSelector> split;
    for (const auto& [net, mask] : it->second.split_include) {
        TrafficSelector ts;
        const uint32_t last = net | ~mask;
        ts.start_addr = {static_cast<uint8_t>(net >> 24), static_cast<uint8_t>(net >> 16), static_cast<uint8_t>(net >> 8),
                         static_cast<uint8_t>(net)};
        ts.end_addr = {static_cast<uint8_t>(last >> 24), static_cast<uint8_t>(last >> 16),
                       static_cast<uint8_t>(last >> 8), static_cast<uint8_t>(last)};
        split.push_back(std::move(ts));
    }
    // §2.9 narrowing applied to our own policy: the split subnets within local_ts.
    return narrow(split, sa.conn->local_ts);
}

}  // namespace espgw::ike

// Firewall rule model: validation and the linear first-match reference.
#include "dataplane/fw/rules.hpp"

#include <fmt/format.h>

#include <initializer_list>

namespace espgw::fw {

namespace {
constexpr uint8_t kTcp = 6, kUdp = 17, kIcmp = 1;

inline bool in_prefix(uint32_t a, uint32_t net, uint8_t len) noexcept {
    const uint32_t mask = len == 0 ? 0 : ~uint32_t{0} << (32 - len);
    return (a & mask) == (net & mask);
}
}  // namespace

std::optional<std::string> validate(const RuleSet& rs) {
    for (size_t i = 0; i < rs.rules.size(); ++i) {
        const Rule& r = rs.rules[i];
        if (r.src_len > 32 || r.dst_len > 32) return fmt::format("rule[{}]: prefix length beyond 32", i);
        if (r.src_port_lo > r.src_port_hi || r.dst_port_lo > r.dst_port_hi)
            return fmt::format("rule[{}]: port range low above high", i);
        const bool ports = r.src_port_lo != 0 || r.src_port_hi != 65535 || r.dst_port_lo != 0 || r.dst_port_hi != 65535;
        if (ports && r.proto != kTcp && r.proto != kUdp) return fmt::format("rule[{}]: ports need protocol tcp or udp", i);
        if (r.icmp_type >= 0 && r.proto != kIcmp) return fmt::format("rule[{}]: icmp_type needs protocol icmp", i);
        if (r.icmp_type > 255) return fmt::format("rule[{}]: icmp_type above 255", i);
        for (const auto* names : {&r.groups, &r.connections})
            for (const std::string& n : *names)
                if (n.empty() || n.size() > 31)
                    return fmt::format("rule[{}]: group/connection names are 1..31 characters", i);
        for (const std::string& n : r.users)
            if (n.empty() || n.size() > kMaxUserIdentity)
                return fmt::format("rule[{}]: user '{}': identities are 1..{} characters (tag 'user:<identity>', 31 at most)",
                                   i, n, kMaxUserIdentity);
    }
    return std::nullopt;
}

int32_t linear_match(const RuleSet& rs, const FwKey& k) noexcept {
    for (size_t i = 0; i < rs.rules.size(); ++i) {
        const Rule& r = rs.rules[i];
        if (!r.enabled || r.direction != k.dir) continue;
        if (r.proto != 0 && r.proto != k.proto) continue;
        if (!in_prefix(k.src, r.src_net, r.src_len) || !in_prefix(k.dst, r.dst_net, r.dst_len)) continue;
        if (r.icmp_type >= 0 && k.src_port != r.icmp_type) continue;
        if (k.src_port < r.src_port_lo || k.src_port > r.src_port_hi) continue;
        if (k.dst_port < r.dst_port_lo || k.dst_port > r.dst_port_hi) continue;
        if (r.group_mask && !(k.groups & r.group_mask)) continue;
        if (r.conn_mask && !(k.conn & r.conn_mask)) continue;
        return static_cast<int32_t>(i);
    }
    return k.dir == Direction::to_tunnel ? kDefaultToTunnel : -1;
}

const char* action_name(Action a) noexcept {
    switch (a) {
    case Action::allow: return "allow";
    case Action::drop: return "drop";
    default: return "reject";
    }
}

}  // namespace espgw::fw

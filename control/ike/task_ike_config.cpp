// Configuration payload, responder side (RFC 7296 §2.19, §3.15):
//   HDR, SK { IDi, AUTH, CP(CFG_REQUEST), SAi2, TSi, TSr }  -->
//                  <--  HDR, SK { IDr, AUTH, CP(CFG_REPLY), SAr2, TSi, TSr }
// INTERNAL_IP4_ADDRESS and INTERNAL_IP6_ADDRESS, each when requested, are chosen by
// choose_virtual_ip (virtual_ip.hpp): the user's static address, a pool's [static]
// entry, or a lease per identity from the first of the connection's pools of that
// family whose groups admit the user. That pool adds DNS (INTERNAL_IP4/IP6_DNS), NBNS,
// the DNS domain (RFC 8598) and split-tunnel subnets (INTERNAL_IP4_SUBNET, §3.15.2).
#include <fmt/ranges.h>

#include <algorithm>

#include "control/ike/cp_attributes.hpp"
#include "control/ike/log.hpp"
#include "control/ike/tasks.hpp"
#include "control/ike/virtual_ip.hpp"

namespace espgw::ike {

namespace {

constexpr uint16_t INTERNAL_DNS_DOMAIN = 25;  // RFC 8598 §4
// §3.15.1: INTERNAL_IP6_ADDRESS carries a prefix length. The client's address is a
// host of its own behind the tunnel, not a member of an on-link subnet.
constexpr uint8_t kIp6PrefixLen = 128;

class IkeConfigTask final : public Task {
  public:
    explicit IkeConfigTask(TaskContext& ctx) : ctx_(ctx) {}
    std::string_view name() const noexcept override { return "ike_config"; }

    TaskStatus process_r(IkeSa& sa, Exchange& ex) override {
        const auto* cp = ex.request->get<CpPayload>(PayloadType::CP);
        if (!cp || cp->cfg_type != CFG_REQUEST) return TaskStatus::SUCCESS;
        bool want4 = false, want6 = false;
        for (const auto& a : cp->attrs) {
            if (a.type == INTERNAL_IP4_ADDRESS) want4 = true;
            if (a.type == INTERNAL_IP6_ADDRESS) want6 = true;
        }
        if (want4) {
            VipOrigin o;
            const auto a = choose_virtual_ip(sa, ctx_.config, ctx_.pools, 4, o);
            if (a) sa.virtual_ip = static_cast<uint32_t>(*a);
            sa.vip_pool = o.pool;
            log_choice(sa, 4, a, o);
        }
        if (want6) {
            VipOrigin o;
            const auto a = choose_virtual_ip(sa, ctx_.config, ctx_.pools, 6, o);
            if (a) sa.virtual_ip6 = ip6_from_pool(*a);
            sa.vip6_pool = o.pool;
            log_choice(sa, 6, a, o);
        }
        return TaskStatus::SUCCESS;
    }

    TaskStatus build_r(IkeSa& sa, Exchange& ex) override {
        if (!sa.virtual_ip && !sa.virtual_ip6) return TaskStatus::SUCCESS;
        CpPayload reply;
        reply.cfg_type = CFG_REPLY;
        if (sa.virtual_ip) reply.attrs.push_back({INTERNAL_IP4_ADDRESS, cp_ip4(*sa.virtual_ip)});
        if (sa.virtual_ip6)
            reply.attrs.push_back(
                {INTERNAL_IP6_ADDRESS, cp_ip6_address(*sa.virtual_ip6, kIp6PrefixLen)});
        std::vector<std::string> domains;
        for (const std::string* name : {&sa.vip_pool, &sa.vip6_pool}) {
            const auto p = ctx_.config.pools.find(*name);
            if (name->empty() || p == ctx_.config.pools.end()) continue;
            const PoolConfig& pc = p->second;
            for (uint32_t d : pc.dns4) reply.attrs.push_back({INTERNAL_IP4_DNS, cp_ip4(d)});
            for (const Ip6& d : pc.dns6) reply.attrs.push_back({INTERNAL_IP6_DNS, cp_ip6(d)});
            for (uint32_t n : pc.nbns4) reply.attrs.push_back({INTERNAL_IP4_NBNS, cp_ip4(n)});
            for (const auto& d : pc.dns_domains)
                if (std::find(domains.begin(), domains.end(), d) == domains.end())
                    domains.push_back(d);
            for (const auto& [net, mask] : pc.split_include) {
                // §3.15.1: INTERNAL_IP4_SUBNET is address || netmask.
                Bytes v = cp_ip4(net);
                const Bytes m = cp_ip4(mask);
                v.insert(v.end(), m.begin(), m.end());
                reply.attrs.push_back({INTERNAL_IP4_SUBNET, std::move(v)});
            }
            if (sa.vip6_pool == sa.vip_pool)
                break;  // one pool for both families: its attributes once
        }
        for (const auto& d : domains)
            reply.attrs.push_back({INTERNAL_DNS_DOMAIN, Bytes(d.begin(), d.end())});
        ex.response.push_back({PayloadType::CP, false, std::move(reply)});
        return TaskStatus::SUCCESS;
    }

  private:
    void log_choice(const IkeSa& sa, uint8_t family, const std::optional<PoolAddr>& a,
                    const VipOrigin& o) const {
        const std::string text = a ? AddressPool::pool_addr_to_string(*a, family) : std::string();
        if (o.source == "user") {
            log_info("{}: static virtual IP {} of user {}", sa.who(), text, sa.user);
        } else if (o.source == "static") {
            log_info("{}: static virtual IP {} assigned ([pools.{}.static])", sa.who(), text,
                     o.pool);
        } else if (a) {
            log_info("{}: virtual IP {} assigned from pool {}", sa.who(), text, o.pool);
        } else if (!o.source.empty()) {
            // §3.15.4: no address: the CHILD_SA cannot be created; the IKE SA stands.
            log_warn("{}: pool {} exhausted", sa.who(), o.pool);
        } else if (sa.conn && !sa.conn->pools.empty()) {
            log_info("{}: no IPv{} pool of connection {} for groups [{}]", sa.who(), family,
                     sa.conn->name, fmt::join(sa.groups, ","));
        }
    }

    TaskContext& ctx_;
};

}  // namespace

std::unique_ptr<Task> make_ike_config(TaskContext& ctx) {
    return std::make_unique<IkeConfigTask>(ctx);
}

}  // namespace espgw::ike

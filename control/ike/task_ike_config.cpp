// Configuration payload, responder side (RFC 7296 §2.19, §3.15):
//   HDR, SK { IDi, AUTH, CP(CFG_REQUEST), SAi2, TSi, TSr }  -->
//                  <--  HDR, SK { IDr, AUTH, CP(CFG_REPLY), SAr2, TSi, TSr }
// INTERNAL_IP4_ADDRESS is chosen by choose_virtual_ip (virtual_ip.hpp): the user's
// static address, the pool's [static] entry, or a lease per identity from the pool. The
// pool adds DNS, NBNS, the DNS domain (RFC 8598) and split-tunnel subnets
// (INTERNAL_IP4_SUBNET, §3.15.2).
#include "control/ike/log.hpp"
#include "control/ike/tasks.hpp"
#include "control/ike/virtual_ip.hpp"

namespace espgw::ike {

namespace {

constexpr uint16_t INTERNAL_DNS_DOMAIN = 25;  // RFC 8598 §4

Bytes be32(uint32_t v) {
    return {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8),
            static_cast<uint8_t>(v)};
}

class IkeConfigTask final : public Task {
public:
    explicit IkeConfigTask(TaskContext& ctx) : ctx_(ctx) {}
    std::string_view name() const noexcept override { return "ike_config"; }

    TaskStatus process_r(IkeSa& sa, Exchange& ex) override {
        const auto* cp = ex.request->get<CpPayload>(PayloadType::CP);
        if (!cp || cp->cfg_type != CFG_REQUEST) return TaskStatus::SUCCESS;
        for (const auto& a : cp->attrs) {
            if (a.type == INTERNAL_IP4_ADDRESS) want_ip4_ = true;
            if (a.type == INTERNAL_IP4_DNS) want_dns4_ = true;
        }
        if (!want_ip4_) return TaskStatus::SUCCESS;
        std::string source;
        sa.virtual_ip = choose_virtual_ip(sa, ctx_.config, ctx_.pools, source);
        if (source == "user") {
            log_info("{}: static virtual IP {} of user {}", sa.who(), ipv4_to_string(*sa.virtual_ip), sa.user);
        } else if (source == "static") {
            log_info("{}: static virtual IP {} assigned ([pools.{}.static])", sa.who(), ipv4_to_string(*sa.virtual_ip),
                     sa.conn->pool);
        } else if (sa.virtual_ip) {
            log_info("{}: virtual IP {} assigned from pool {}", sa.who(), ipv4_to_string(*sa.virtual_ip), sa.conn->pool);
        } else if (!source.empty()) {
            // §3.15.4: no address: the CHILD_SA cannot be created; the IKE SA stands.
            log_warn("{}: pool {} exhausted", sa.who(), sa.conn->pool);
        }
        return TaskStatus::SUCCESS;
    }

    TaskStatus build_r(IkeSa& sa, Exchange& ex) override {
        if (!sa.virtual_ip) return TaskStatus::SUCCESS;
        CpPayload reply;
        reply.cfg_type = CFG_REPLY;
        reply.attrs.push_back({INTERNAL_IP4_ADDRESS, be32(*sa.virtual_ip)});
        if (auto p = ctx_.config.pools.find(sa.conn->pool); p != ctx_.config.pools.end()) {
            const PoolConfig& pc = p->second;
            for (uint32_t d : pc.dns4) reply.attrs.push_back({INTERNAL_IP4_DNS, be32(d)});
            for (uint32_t n : pc.nbns4) reply.attrs.push_back({INTERNAL_IP4_NBNS, be32(n)});
            for (const auto& d : pc.dns_domains) reply.attrs.push_back({INTERNAL_DNS_DOMAIN, Bytes(d.begin(), d.end())});
            for (const auto& [net, mask] : pc.split_include) {
                // §3.15.1: INTERNAL_IP4_SUBNET is address || netmask.
                Bytes v = be32(net);
                const Bytes m = be32(mask);
                v.insert(v.end(), m.begin(), m.end());
                reply.attrs.push_back({INTERNAL_IP4_SUBNET, std::move(v)});
            }
        }
        ex.response.push_back({PayloadType::CP, false, std::move(reply)});
        return TaskStatus::SUCCESS;
    }

private:
    TaskContext& ctx_;
    bool want_ip4_ = false;
    bool want_dns4_ = false;
};

}  // namespace

std::unique_ptr<Task> make_ike_config(TaskContext& ctx) { return std::make_unique<IkeConfigTask>(ctx); }

}  // namespace espgw::ike

// Configuration payload, responder side (RFC 7296 §2.19, §3.15):
//   HDR, SK { IDi, AUTH, CP(CFG_REQUEST), SAi2, TSi, TSr }  -->
//                  <--  HDR, SK { IDr, AUTH, CP(CFG_REPLY), SAr2, TSi, TSr }
// INTERNAL_IP4_ADDRESS comes from the connection's pool, leased per identity (the EAP
// user name when there is one), or is the authenticated user's static address.
#include "control/ike/log.hpp"
#include "control/ike/tasks.hpp"

namespace espgw::ike {

namespace {

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
        if (sa.user_ip) {
            // Issue 6: the user's static address (UserDb static_ip, RADIUS
            // Framed-IP-Address) overrides the pool; it lies outside every pool.
            sa.virtual_ip = sa.user_ip;
            log_info("{}: static virtual IP {} of user {}", sa.who(), ipv4_to_string(*sa.virtual_ip), sa.user);
            return TaskStatus::SUCCESS;
        }
        if (sa.conn->pool.empty()) return TaskStatus::SUCCESS;
        auto& pool = ctx_.pools.at(sa.conn->pool);
        // Leases follow the user when EAP named one (the IKE identity may be an address).
        sa.virtual_ip = pool.acquire(sa.user.empty() ? sa.peer_id.to_string() : sa.user);
        if (!sa.virtual_ip) {
            // §3.15.4: no address: the CHILD_SA cannot be created; the IKE SA stands.
            log_warn("{}: pool {} exhausted", sa.who(), pool.name());
            return TaskStatus::SUCCESS;
        }
        log_info("{}: virtual IP {} assigned from pool {}", sa.who(), ipv4_to_string(*sa.virtual_ip), pool.name());
        return TaskStatus::SUCCESS;
    }

    TaskStatus build_r(IkeSa& sa, Exchange& ex) override {
        if (!sa.virtual_ip) return TaskStatus::SUCCESS;
        CpPayload reply;
        reply.cfg_type = CFG_REPLY;
        reply.attrs.push_back({INTERNAL_IP4_ADDRESS, be32(*sa.virtual_ip)});
        if (auto p = ctx_.config.pools.find(sa.conn->pool); p != ctx_.config.pools.end())
            for (uint32_t d : p->second.dns4) reply.attrs.push_back({INTERNAL_IP4_DNS, be32(d)});
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

// The first CHILD_SA, created inside IKE_AUTH, responder side (RFC 7296 §1.2, §2.9, §2.17):
//   HDR, SK { ..., [N(USE_TRANSPORT_MODE),] SAi2, TSi, TSr }  -->
//                    <--  HDR, SK { ..., [N(USE_TRANSPORT_MODE),] SAr2, TSi, TSr }
// Transport mode (§1.3.1, §2.23.1) when the peer asks and the connection allows it
// (child_mode.hpp); otherwise the answer carries no notify and the CHILD_SA is a tunnel.
// A CHILD_SA failure does not fail the IKE SA (§1.2): the response then carries the
// error notify (NO_PROPOSAL_CHOSEN, TS_UNACCEPTABLE, ...) in place of SAr2/TSi/TSr.
#include "control/ike/child_mode.hpp"
#include "control/ike/log.hpp"
#include "control/ike/proposal.hpp"
#include "control/ike/tasks.hpp"
#include "control/ike/traffic_selector.hpp"
#include "control/ike/virtual_ip.hpp"

#include <openssl/rand.h>

#include <stdexcept>

namespace espgw::ike {

namespace {

class ChildCreate final : public Task {
public:
    explicit ChildCreate(TaskContext& ctx) : ctx_(ctx) {}
    std::string_view name() const noexcept override { return "child_create"; }

    TaskStatus process_r(IkeSa& sa, Exchange& ex) override {
        const Message& m = *ex.request;
        const auto* sai = m.get<SaPayload>(PayloadType::SA);
        const auto* tsi = m.get<TsPayload>(PayloadType::TSi);
        const auto* tsr = m.get<TsPayload>(PayloadType::TSr);
        if (!sai || !tsi || !tsr) return child_error(sa, NotifyType::INVALID_SYNTAX, "missing SAi2/TSi/TSr");
        // §1.2: the CHILD_SA of IKE_AUTH uses the IKE SA's DH; PFS groups in our ESP
        // proposals apply to CREATE_CHILD_SA only.
        std::vector<Algorithms> ours = sa.conn->esp_proposals;
        for (auto& a : ours) a.dh = DhGroup::NONE;
        const auto sel = select_proposal(ours, *sai, ProtocolId::ESP);
        if (!sel) return child_error(sa, NotifyType::NO_PROPOSAL_CHOSEN, "no acceptable ESP proposal");
        const auto* cp = m.get<CpPayload>(PayloadType::CP);
        bool asked = false;  // for an address of either family
        if (cp && cp->cfg_type == CFG_REQUEST)
            for (const auto& a : cp->attrs) asked |= a.type == INTERNAL_IP4_ADDRESS || a.type == INTERNAL_IP6_ADDRESS;
        if (asked && !sa.conn->pools.empty() && !sa.virtual_ip && !sa.virtual_ip6)
            return child_error(sa, NotifyType::INTERNAL_ADDRESS_FAILURE, "no virtual IP available");
        // §2.9: narrow the initiator's selectors to what the policy allows. With virtual
        // IPs the initiator's side is exactly those addresses (IPv4 and/or IPv6).
        const std::vector<TrafficSelector> allowed_remote = remote_ts_for(sa);
        const std::vector<TrafficSelector> allowed_local = local_ts_for(sa, ctx_.config);
        mode_ = responder_mode(sa, has_use_transport_mode(m), tsi->selectors, tsr->selectors,
                               allowed_remote.empty() ? nullptr : &allowed_remote,
                               allowed_local,  // split tunnel: the pool's subnets
                               ts_remote_, ts_local_);
        if (ts_remote_.empty() || ts_local_.empty())
            return child_error(sa, NotifyType::TS_UNACCEPTABLE,
                               ts_unacceptable_reason(tsi->selectors, tsr->selectors, allowed_remote, allowed_local));
        sel_ = *sel;
        do {
            if (RAND_bytes(reinterpret_cast<uint8_t*>(&spi_in_), sizeof spi_in_) != 1)
                throw std::runtime_error("RAND_bytes");
        } while (spi_in_ < 256);  // RFC 4303 §2.1: 1..255 are reserved
        spi_out_ = static_cast<uint32_t>(sel->peer_spi[0]) << 24 | static_cast<uint32_t>(sel->peer_spi[1]) << 16 |
                   static_cast<uint32_t>(sel->peer_spi[2]) << 8 | sel->peer_spi[3];
        ok_ = true;
        return TaskStatus::SUCCESS;
    }

    TaskStatus build_r(IkeSa& sa, Exchange& ex) override {
        if (!ok_) {
            ex.response.push_back(make_notify(error_));
            return TaskStatus::SUCCESS;
        }
        // §2.17: KEYMAT = prf+(SK_d, Ni | Nr) for the CHILD_SA created with IKE_AUTH.
        const Prf prf(sa.ike_alg.prf);
        const ChildSaKeys keys = derive_child_sa_keys(prf, sa.keys.sk_d.bytes(), sel_.alg, sa.ni, sa.nr);
        ChildSaInfo info;
        info.connection = sa.conn->name;
        info.peer_identity = sa.peer_id.to_string();
        info.local = sa.local;
        info.remote = sa.remote;
        info.udp_encap = sa.nat();
        info.mode = mode_;
        info.initiator = sa.initiator;
        info.spi_in = spi_in_;
        info.spi_out = spi_out_;
        info.alg = sel_.alg;
        info.ts_local = ts_local_;
        info.ts_remote = ts_remote_;
        info.virtual_ip = sa.virtual_ip;
        info.virtual_ip6 = sa.virtual_ip6;
        info.groups = sa.groups;
        if (!ctx_.sink.install(info, keys)) {
            log_warn("{}: dataplane refused CHILD_SA {:08x}/{:08x}", sa.who(), spi_in_, spi_out_);
            ex.response.push_back(make_notify(NotifyType::TEMPORARY_FAILURE));
            return TaskStatus::SUCCESS;
        }
        sa.children.push_back(ChildSa{info});
        arm_child_timers(sa.children.back(), ctx_.config, ctx_.now);
        log_info("{}: CHILD_SA installed, {} mode, SPIs {:08x}_i {:08x}_o, {}", sa.who(), mode_name(mode_), spi_in_,
                 spi_out_, to_string(sel_.alg));
        if (mode_ == ChildMode::transport) ex.response.push_back(use_transport_mode_notify());
        ex.response.push_back({PayloadType::SA, false, make_reply_sa(sel_, ProtocolId::ESP, be32_bytes(spi_in_))});
        ex.response.push_back({PayloadType::TSi, false, TsPayload{ts_remote_}});
        ex.response.push_back({PayloadType::TSr, false, TsPayload{ts_local_}});
        return TaskStatus::SUCCESS;
    }

private:
    TaskStatus child_error(IkeSa& sa, NotifyType n, std::string_view why) {
        error_ = n;
        log_info("{}: CHILD_SA not created: {}", sa.who(), why);
        return TaskStatus::SUCCESS;
    }

    TaskContext& ctx_;
    bool ok_ = false;
    NotifyType error_ = NotifyType::NO_PROPOSAL_CHOSEN;
    Selection sel_;
    uint32_t spi_in_ = 0, spi_out_ = 0;
    ChildMode mode_ = ChildMode::tunnel;
    std::vector<TrafficSelector> ts_local_, ts_remote_;
};

}  // namespace

std::unique_ptr<Task> make_child_create(TaskContext& ctx) { return std::make_unique<ChildCreate>(ctx); }

}  // namespace espgw::ike

// IKE_AUTH with pre-shared keys and the first CHILD_SA, initiator side
// (RFC 7296 §1.2, §2.15, §2.17):
//   HDR, SK { IDi, [IDr,] AUTH, [N(USE_TRANSPORT_MODE),] SAi2, TSi, TSr }  -->
//                          <--  HDR, SK { IDr, AUTH, [N(USE_TRANSPORT_MODE),] SAr2, TSi, TSr }
// A CHILD_SA error in the response (NO_PROPOSAL_CHOSEN, TS_UNACCEPTABLE, ...) leaves
// the IKE SA up without a CHILD_SA (§1.2); an AUTH failure ends the IKE SA. A
// connection with mode = "transport" asks for transport mode with the IKE addresses as
// selectors (§1.3.1); a response in the other mode is not installed and we delete the
// CHILD_SA the responder made (child_mode.hpp).
#include "control/ike/child_mode.hpp"
#include "control/ike/log.hpp"
#include "control/ike/proposal.hpp"
#include "control/ike/tasks.hpp"
#include "control/ike/traffic_selector.hpp"

#include <openssl/rand.h>

#include <stdexcept>

namespace espgw::ike {

namespace {

class IkeAuthI final : public Task {
public:
    explicit IkeAuthI(TaskContext& ctx) : ctx_(ctx) {}
    std::string_view name() const noexcept override { return "ike_auth_i"; }
    ExchangeType exchange_type() const noexcept override { return ExchangeType::IKE_AUTH; }
    TaskStatus process_r(IkeSa&, Exchange&) override { return TaskStatus::FAILED; }
    TaskStatus build_r(IkeSa&, Exchange&) override { return TaskStatus::FAILED; }

    TaskStatus build_i(IkeSa& sa, Exchange& ex) override {
        if (!sa.conn) return TaskStatus::FAILED;
        const ConnectionConfig& c = *sa.conn;
        const Prf prf(sa.ike_alg.prf);
        // §2.15: we sign our IKE_SA_INIT request, Nr and prf(SK_pi, IDi').
        Bytes auth = psk_auth(prf, c.psk->bytes(), sa.init_request, sa.nr, sa.keys.sk_pi.bytes(),
                              c.local_id.payload_body());
        ex.response.push_back({PayloadType::IDi, false, c.local_id.to_payload()});
        if (!c.remote_id.any && !c.remote_id.data.empty())
            ex.response.push_back({PayloadType::IDr, false, c.remote_id.to_payload()});
        ex.response.push_back({PayloadType::AUTH, false, AuthPayload{AuthMethod::SHARED_KEY_MIC, std::move(auth)}});
        do {
            if (RAND_bytes(reinterpret_cast<uint8_t*>(&spi_in_), sizeof spi_in_) != 1)
                throw std::runtime_error("RAND_bytes");
        } while (spi_in_ < 256);  // RFC 4303 §2.1: 1..255 are reserved
        // §1.2: the first CHILD_SA uses the IKE SA's keys: no DH in SAi2.
        offered_ = c.esp_proposals;
        for (auto& a : offered_) a.dh = DhGroup::NONE;
        SaPayload sai;
        uint8_t number = 1;
        for (const Algorithms& a : offered_) {
            SaPayload one = make_reply_sa(Selection{a, number++, {}}, ProtocolId::ESP, be32_bytes(spi_in_));
            sai.proposals.push_back(std::move(one.proposals.front()));
        }
        if (c.mode == ChildMode::transport) {
            // §1.3.1: the notify goes with the SA payload it applies to.
            ex.response.push_back(use_transport_mode_notify());
            ex.response.push_back({PayloadType::SA, false, std::move(sai)});
            ex.response.push_back({PayloadType::TSi, false, TsPayload{transport_ts_local(sa)}});
            ex.response.push_back({PayloadType::TSr, false, TsPayload{transport_ts_remote(sa)}});
            return TaskStatus::SUCCESS;
        }
        ex.response.push_back({PayloadType::SA, false, std::move(sai)});
        std::vector<TrafficSelector> tsr = c.remote_ts;
        if (tsr.empty()) tsr.push_back(ts_from_cidr("0.0.0.0/0"));
        ex.response.push_back({PayloadType::TSi, false, TsPayload{c.local_ts}});
        ex.response.push_back({PayloadType::TSr, false, TsPayload{tsr}});
        return TaskStatus::SUCCESS;
    }

    TaskStatus process_i(IkeSa& sa, Exchange& ex) override {
        const Message& m = *ex.request;
        const auto* idr = m.get<IdPayload>(PayloadType::IDr);
        const auto* auth = m.get<AuthPayload>(PayloadType::AUTH);
        if (!idr || !auth) {
            const NotifyPayload* n = nullptr;
            for (const auto& p : m.payloads)
                if ((n = std::get_if<NotifyPayload>(&p.body))) break;
            log_warn("{}: IKE_AUTH failed: responder answered {}", sa.who(),
                     n ? fmt::format("notify {}", static_cast<uint16_t>(n->type)) : std::string("without IDr/AUTH"));
            ex.delete_ike_sa = true;
            return TaskStatus::FAILED;
        }
        const ConnectionConfig& c = *sa.conn;
        sa.peer_id = Identity::from_payload(*idr);
        const Prf prf(sa.ike_alg.prf);
        // §2.15: the responder signs its IKE_SA_INIT response, Ni and prf(SK_pr, IDr').
        const Bytes expect =
            psk_auth(prf, c.psk->bytes(), sa.init_response, sa.ni, sa.keys.sk_pr.bytes(), sa.peer_id.payload_body());
        if (!c.remote_id.matches(sa.peer_id) || auth->method != AuthMethod::SHARED_KEY_MIC ||
            expect.size() != auth->data.size() || !crypto::ct_equal(expect.data(), auth->data.data(), expect.size())) {
            log_warn("{}: IKE_AUTH failed: responder's identity or PSK AUTH does not match connection {}", sa.who(),
                     c.name);
            ex.delete_ike_sa = true;
            return TaskStatus::FAILED;
        }
        sa.state = IkeSaState::ESTABLISHED;
        log_info("{}: IKE SA established as initiator, connection {}, {} SPIs {:016x}_i {:016x}_r{}", sa.who(), c.name,
                 to_string(sa.ike_alg), sa.spi_i, sa.spi_r, sa.nat() ? ", NAT-T" : "");
        install_child(sa, m, ex);
        return TaskStatus::SUCCESS;
    }

private:
    void install_child(IkeSa& sa, const Message& m, Exchange& ex) {
        for (const auto& p : m.payloads) {
            const auto* n = std::get_if<NotifyPayload>(&p.body);
            if (n && static_cast<uint16_t>(n->type) < 16384) {
                log_warn("{}: CHILD_SA refused by responder: notify {}", sa.who(), static_cast<uint16_t>(n->type));
                return;
            }
        }
        const auto* sar = m.get<SaPayload>(PayloadType::SA);
        const auto* tsi = m.get<TsPayload>(PayloadType::TSi);
        const auto* tsr = m.get<TsPayload>(PayloadType::TSr);
        std::optional<Selection> sel;
        if (sar && sar->proposals.size() == 1) sel = select_proposal(offered_, *sar, ProtocolId::ESP);
        if (!sel || sel->peer_spi.size() != 4 || !tsi || !tsr || tsi->selectors.empty() || tsr->selectors.empty()) {
            log_warn("{}: IKE_AUTH response without an acceptable SAr2/TSi/TSr: no CHILD_SA", sa.who());
            return;
        }
        const uint32_t spi_out = from_be32(sel->peer_spi);
        // §1.3.1: the responder made the CHILD_SA in the mode its answer names; one we
        // did not ask for is deleted, never used in the other mode.
        const ChildMode mode = sa.conn->mode;
        std::vector<TrafficSelector> resp_tsi = tsi->selectors, resp_tsr = tsr->selectors;
        if (const std::string why = check_response_mode(sa, mode, has_use_transport_mode(m), resp_tsi, resp_tsr);
            !why.empty()) {
            log_warn("{}: CHILD_SA {:08x}_i {:08x}_o refused: {}; deleting it", sa.who(), spi_in_, spi_out, why);
            ++ex.child_mode_mismatch;
            ex.follow_up.push_back(make_delete_uninstalled(ctx_, spi_in_));
            return;
        }
        // §2.9: the responder may only narrow what we proposed.
        const auto ts_local = narrow(resp_tsi, sa.conn->local_ts);
        std::vector<TrafficSelector> allowed_remote = sa.conn->remote_ts;
        if (allowed_remote.empty()) allowed_remote.push_back(ts_from_cidr("0.0.0.0/0"));
        const auto ts_remote = narrow(resp_tsr, allowed_remote);
        if (ts_local.empty() || ts_remote.empty()) {
            log_warn("{}: responder's traffic selectors are outside ours: no CHILD_SA", sa.who());
            return;
        }
        // §2.17: KEYMAT = prf+(SK_d, Ni | Nr); the first keys are ours to send with.
        const Prf prf(sa.ike_alg.prf);
        const ChildSaKeys keys = derive_child_sa_keys(prf, sa.keys.sk_d.bytes(), sel->alg, sa.ni, sa.nr);
        ChildSaInfo info;
        info.connection = sa.conn->name;
        info.peer_identity = sa.peer_id.to_string();
        info.local = sa.local;
        info.remote = sa.remote;
        info.udp_encap = sa.nat();
        info.mode = mode;
        info.initiator = true;
        info.spi_in = spi_in_;
        info.spi_out = spi_out;
        info.alg = sel->alg;
        info.ts_local = ts_local;
        info.ts_remote = ts_remote;
        if (!ctx_.sink.install(info, keys)) {
            log_warn("{}: dataplane refused CHILD_SA {:08x}/{:08x}", sa.who(), spi_in_, spi_out);
            return;
        }
        sa.children.push_back(ChildSa{info});
        arm_child_timers(sa.children.back(), ctx_.config, ctx_.now);
        log_info("{}: CHILD_SA installed as initiator, {} mode, SPIs {:08x}_i {:08x}_o", sa.who(), mode_name(mode),
                 spi_in_, spi_out);
    }

    TaskContext& ctx_;
    uint32_t spi_in_ = 0;
    std::vector<Algorithms> offered_;
};

}  // namespace

std::unique_ptr<Task> make_ike_auth_i(TaskContext& ctx) { return std::make_unique<IkeAuthI>(ctx); }

}  // namespace espgw::ike

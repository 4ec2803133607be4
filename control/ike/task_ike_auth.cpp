// IKE_AUTH with pre-shared keys, responder side (RFC 7296 §1.2, §2.15):
//   HDR, SK { IDi, [IDr,] AUTH, [CP(CFG_REQUEST),] SAi2, TSi, TSr }  -->
//                          <--  HDR, SK { IDr, AUTH, [CP(CFG_REPLY),] SAr2, TSi, TSr }
#include "control/ike/log.hpp"
#include "control/ike/tasks.hpp"

namespace espgw::ike {

namespace {

class IkeAuth final : public Task {
public:
    explicit IkeAuth(TaskContext& ctx) : ctx_(ctx) {}
    std::string_view name() const noexcept override { return "ike_auth"; }

    TaskStatus process_r(IkeSa& sa, Exchange& ex) override {
        const Message& m = *ex.request;
        const auto* idi = m.get<IdPayload>(PayloadType::IDi);
        const auto* idr = m.get<IdPayload>(PayloadType::IDr);
        const auto* auth = m.get<AuthPayload>(PayloadType::AUTH);
        if (!idi || !auth) {
            // EAP (no AUTH) is not supported yet.
            ex.error = NotifyType::AUTHENTICATION_FAILED;
            log_info("{}: IKE_AUTH without IDi/AUTH refused", sa.who());
            return TaskStatus::FAILED;
        }
        sa.peer_id = Identity::from_payload(*idi);
        const Identity want_local = idr ? Identity::from_payload(*idr) : Identity{};
        const Prf prf(sa.ike_alg.prf);
        for (const auto& c : ctx_.config.connections) {
            if (!c.remote_id.matches(sa.peer_id)) continue;
            if (idr && !(c.local_id.type == want_local.type && c.local_id.data == want_local.data)) continue;
            if (auth->method != AuthMethod::SHARED_KEY_MIC) continue;
            // §2.15: the initiator signs its IKE_SA_INIT request, Nr and prf(SK_pi, IDi').
            const Bytes expect = psk_auth(prf, c.psk->bytes(), sa.init_request, sa.nr, sa.keys.sk_pi.bytes(),
                                          sa.peer_id.payload_body());
            if (expect.size() == auth->data.size() &&
                crypto::ct_equal(expect.data(), auth->data.data(), expect.size())) {
                sa.conn = &c;
                break;
            }
        }
        if (!sa.conn) {
            ex.error = NotifyType::AUTHENTICATION_FAILED;
            log_info("{}: authentication failed (no connection with a matching identity and PSK)", sa.who());
            return TaskStatus::FAILED;
        }
        log_info("{}: authenticated with PSK, connection {}", sa.who(), sa.conn->name);
        return TaskStatus::SUCCESS;
    }

    TaskStatus build_r(IkeSa& sa, Exchange& ex) override {
        const Identity& me = sa.conn->local_id;
        const Prf prf(sa.ike_alg.prf);
        // §2.15: the responder signs its IKE_SA_INIT response, Ni and prf(SK_pr, IDr').
        Bytes auth = psk_auth(prf, sa.conn->psk->bytes(), sa.init_response, sa.ni, sa.keys.sk_pr.bytes(),
                              me.payload_body());
        ex.response.push_back({PayloadType::IDr, false, me.to_payload()});
        ex.response.push_back({PayloadType::AUTH, false, AuthPayload{AuthMethod::SHARED_KEY_MIC, std::move(auth)}});
        sa.state = IkeSaState::ESTABLISHED;
        log_info("{}: IKE SA established as responder, {} SPIs {:016x}_i {:016x}_r{}", sa.who(),
                 to_string(sa.ike_alg), sa.spi_i, sa.spi_r, sa.nat() ? ", NAT-T" : "");
        return TaskStatus::SUCCESS;
    }

private:
    TaskContext& ctx_;
};

}  // namespace

std::unique_ptr<Task> make_ike_auth(TaskContext& ctx) { return std::make_unique<IkeAuth>(ctx); }

}  // namespace espgw::ike

// IKE_SA_INIT, responder side (RFC 7296 §1.2, §2.6, §2.7):
//   HDR, SAi1, KEi, Ni  -->
//                       <--  HDR, SAr1, KEr, Nr
#include "control/ike/log.hpp"
#include "control/ike/proposal.hpp"
#include "control/ike/tasks.hpp"

#include <openssl/rand.h>

#include <algorithm>

#include <stdexcept>

namespace espgw::ike {

namespace {

constexpr size_t NONCE_BYTES = 32;  // §2.10: at least half the PRF key size, >= 16

class IkeInit final : public Task {
public:
    explicit IkeInit(TaskContext& ctx) : ctx_(ctx) {}
    std::string_view name() const noexcept override { return "ike_init"; }

    TaskStatus process_r(IkeSa& sa, Exchange& ex) override {
        const Message& m = *ex.request;
        const auto* sai = m.get<SaPayload>(PayloadType::SA);
        const auto* ke = m.get<KePayload>(PayloadType::KE);
        const auto* ni = m.get<NoncePayload>(PayloadType::NONCE);
        if (!sai || !ke || !ni) return fail(ex, NotifyType::INVALID_SYNTAX, "missing SA, KE or Ni");
        // §2.10: nonces are 16..256 bytes.
        if (ni->data.size() < 16 || ni->data.size() > 256) return fail(ex, NotifyType::INVALID_SYNTAX, "bad nonce size");
        // Proposals of all connections in configured order: the connection itself is
        // only known in IKE_AUTH (identities), as with strongSwan's ike_cfg.
        std::vector<Algorithms> ours;
        for (const auto& c : ctx_.config.connections)
            for (const auto& a : c.ike_proposals)
                if (std::find(ours.begin(), ours.end(), a) == ours.end()) ours.push_back(a);
        const auto sel = select_proposal(ours, *sai, ProtocolId::IKE);
        if (!sel) {
            bool insecure = false;
            const std::string offer = describe_offer(*sai, ProtocolId::IKE, &insecure);
            return fail(ex, NotifyType::NO_PROPOSAL_CHOSEN,
                        fmt::format("no acceptable IKE proposal from {}: offered {}{}", to_string(sa.remote), offer,
                                    insecure && !ctx_.config.legacy_algorithms
                                        ? " (insecure algorithms are refused: [ike] legacy_algorithms is off)"
                                        : ""));
        }
        if (const std::string weak = legacy_parts(sel->alg); !weak.empty())
            log_warn("peer {}: IKE SA negotiates legacy algorithms {} ({}), allowed by [ike] legacy_algorithms",
                     to_string(sa.remote), to_string(sel->alg), weak);
        if (static_cast<uint16_t>(sel->alg.dh) != ke->group) {
            // §1.2/§2.7: ask for the group of the selected proposal.
            const uint16_t g = static_cast<uint16_t>(sel->alg.dh);
            ex.error_data = {static_cast<uint8_t>(g >> 8), static_cast<uint8_t>(g)};
            return fail(ex, NotifyType::INVALID_KE_PAYLOAD, fmt::format("KE group {} != selected {}", ke->group, g));
        }
        sa.ike_alg = sel->alg;
        number_ = sel->number;
        // RFC 7383 §2.3: the initiator announces fragmentation; we take it unless it is off.
        sa.frag.peer_supported = ctx_.config.fragmentation.mode != FragmentationMode::NO &&
                                 m.find_notify(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED) != nullptr;
        sa.ni = ni->data;
        sa.nr.resize(NONCE_BYTES);
        if (RAND_bytes(sa.nr.data(), static_cast<int>(sa.nr.size())) != 1) throw std::runtime_error("RAND_bytes");
        sa.dh = DhKey::generate(sel->alg.dh);
        auto shared = sa.dh->shared_secret(ke->data);
        if (!shared) return fail(ex, NotifyType::INVALID_SYNTAX, "invalid KE public value");
        sa.keys = derive_ike_sa_keys(sa.ike_alg, sa.ni, sa.nr, shared->bytes(), sa.spi_i, sa.spi_r);
        return TaskStatus::SUCCESS;
    }

    TaskStatus build_r(IkeSa& sa, Exchange& ex) override {
        Selection s{sa.ike_alg, number_, {}};
        ex.response.push_back({PayloadType::SA, false, make_reply_sa(s, ProtocolId::IKE, {})});
        ex.response.push_back(
            {PayloadType::KE, false, KePayload{static_cast<uint16_t>(sa.ike_alg.dh), sa.dh->public_value()}});
        ex.response.push_back({PayloadType::NONCE, false, NoncePayload{sa.nr}});
        // RFC 7383 §2.3: answered only when the initiator announced it.
        if (sa.frag.peer_supported) ex.response.push_back(make_notify(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED));
        // RFC 4739 §3: the responder announces it in IKE_SA_INIT (the initiator answers
        // in its first IKE_AUTH) when a connection asks for a certificate then EAP.
        if (std::any_of(ctx_.config.connections.begin(), ctx_.config.connections.end(),
                        [](const ConnectionConfig& c) { return c.multiple_auth; }))
            ex.response.push_back(make_notify(NotifyType::MULTIPLE_AUTH_SUPPORTED));
        if (ctx_.config.trust && ctx_.config.trust->ca_count() > 0) {
            // §3.7: the CAs we trust (encoding 4, X.509 certificate - signature: SHA-1
            // hashes of their public keys), so the peer sends a chain we can verify.
            Bytes certreq{4};
            const Bytes hashes = ctx_.config.trust->certreq_hashes();
            certreq.insert(certreq.end(), hashes.begin(), hashes.end());
            ex.response.push_back({PayloadType::CERTREQ, false, RawPayload{std::move(certreq)}});
            // RFC 7427 §4: we verify digital signatures (AUTH method 14) with SHA2-256,
            // SHA2-384 and SHA2-512.
            ex.response.push_back(make_notify(NotifyType::SIGNATURE_HASH_ALGORITHMS, Bytes{0, 2, 0, 3, 0, 4}));
        }
        return TaskStatus::SUCCESS;
    }

private:
    TaskStatus fail(Exchange& ex, NotifyType n, std::string_view why) {
        ex.error = n;
        log_info("IKE_SA_INIT refused: {}", why);
        return TaskStatus::FAILED;
    }
    TaskContext& ctx_;
    uint8_t number_ = 1;
};

}  // namespace

std::unique_ptr<Task> make_ike_init(TaskContext& ctx) { return std::make_unique<IkeInit>(ctx); }

}  // namespace espgw::ike

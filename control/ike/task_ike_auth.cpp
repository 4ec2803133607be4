// IKE_AUTH with pre-shared keys or certificates, responder side (RFC 7296 §1.2, §2.15):
//   HDR, SK { IDi, [CERT+,] [CERTREQ,] [IDr,] AUTH, [CP(CFG_REQUEST),] SAi2, TSi, TSr }  -->
//                  <--  HDR, SK { IDr, [CERT,] AUTH, [CP(CFG_REPLY),] SAr2, TSi, TSr }
// Certificates (§3.6 encoding 4, X.509 signature): the peer's chain is verified against
// [pki] (CA store, CRLs), IDi must be named by the certificate (RFC 4945 §3.1), the
// connection's remote_id may be a DN mask; AUTH is a signature (RFC 7427 or classic).
// Without AUTH the peer asks for EAP (§2.16): we answer IDr, CERT, AUTH and the EAP rounds
// of task_ike_eap.cpp follow; with EAP-only (RFC 5998, connection eap_only, EAP-TLS) just IDr.
#include "control/ike/auth_sig.hpp"
#include "control/ike/eap_factory.hpp"
#include "control/ike/log.hpp"
#include "control/ike/pki.hpp"
#include "control/ike/tasks.hpp"

#include <openssl/x509.h>

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
        if (!idi) {
            ex.error = NotifyType::AUTHENTICATION_FAILED;
            log_info("{}: IKE_AUTH without IDi refused", sa.who());
            return TaskStatus::FAILED;
        }
        sa.peer_id = Identity::from_payload(*idi);
        const Identity want_local = idr ? Identity::from_payload(*idr) : Identity{};
        // §2.16: no AUTH means the initiator wants to authenticate with EAP.
        if (!auth) return process_eap(sa, ex, m, idr, want_local);
        if (auth->method != AuthMethod::SHARED_KEY_MIC) return process_pubkey(sa, ex, m, *auth, idr, want_local);
        const Prf prf(sa.ike_alg.prf);
        for (const auto& c : ctx_.config.connections) {
            if (!c.remote_id.matches(sa.peer_id)) continue;
            if (idr && !(c.local_id.type == want_local.type && c.local_id.data == want_local.data)) continue;
            if (auth->method != AuthMethod::SHARED_KEY_MIC || !c.psk) continue;
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
        if (sa.eap && sa.eap->eap_only) {
            // RFC 5998 §2: EAP-only: <-- HDR, SK { IDr, EAP(Request) }; the mutual method
            // authenticates us and our MSK AUTH in the last exchange signs this IDr.
            ex.response.push_back({PayloadType::IDr, false, me.to_payload()});
            sa.eap->idr_body = me.payload_body();
            return TaskStatus::SUCCESS;
        }
        if (sa.conn->local_cred) {
            // §3.6: our end-entity certificate; AUTH per RFC 7427 over the §2.15 octets.
            const LocalCredential& cred = *sa.conn->local_cred;
            Bytes cert{4};  // encoding 4: X.509 Certificate - Signature
            const Bytes der = x509_to_der(cred.cert.get());
            cert.insert(cert.end(), der.begin(), der.end());
            const Bytes octets = signed_octets(sa.ike_alg.prf, sa.init_response, sa.ni, sa.keys.sk_pr.bytes(),
                                               me.payload_body());
            AuthPayload auth = sign_auth(cred.key.get(), octets);
            if (auth.data.empty()) {
                ex.error = NotifyType::AUTHENTICATION_FAILED;
                log_info("{}: signing our AUTH failed", sa.who());
                return TaskStatus::FAILED;
            }
            ex.response.push_back({PayloadType::IDr, false, me.to_payload()});
            ex.response.push_back({PayloadType::CERT, false, RawPayload{std::move(cert)}});
            ex.response.push_back({PayloadType::AUTH, false, std::move(auth)});
            if (sa.eap) {
                // The EAP rounds follow (task_ike_eap.cpp); it signs this IDr once more.
                sa.eap->idr_body = me.payload_body();
                return TaskStatus::SUCCESS;
            }
            sa.state = IkeSaState::ESTABLISHED;
            log_info("{}: IKE SA established as responder (certificate), {} SPIs {:016x}_i {:016x}_r{}", sa.who(),
                     to_string(sa.ike_alg), sa.spi_i, sa.spi_r, sa.nat() ? ", NAT-T" : "");
            return TaskStatus::SUCCESS;
        }
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
    // IKE_AUTH { IDi, [IDr,] SAi2, TSi, TSr, [CP] } without AUTH (§2.16): a connection
    // with remote_auth "eap-*" whose remote_id accepts IDi; we answer with our
    // certificate and AUTH, and the EAP rounds (IkeEap) follow.
    TaskStatus process_eap(IkeSa& sa, Exchange& ex, const Message& m, const IdPayload* idr,
                           const Identity& want_local) {
        const ConnectionConfig* chosen = nullptr;
        for (const auto& c : ctx_.config.connections) {
            if (!is_eap_auth(c.remote_auth) || c.multiple_auth || !c.local_cred || !c.remote_id.matches(sa.peer_id))
                continue;
            if (idr && !(c.local_id.type == want_local.type && c.local_id.data == want_local.data)) continue;
            chosen = &c;
            break;
        }
        if (!chosen) {
            ex.error = NotifyType::AUTHENTICATION_FAILED;
            log_info("{}: IKE_AUTH without AUTH (EAP) refused: no EAP connection accepts this identity", sa.who());
            return TaskStatus::FAILED;
        }
        auto session = std::make_unique<EapSession>();
        std::string why;
        session->server = make_eap_server(ctx_, *chosen, sa, session->method, why);
        if (!session->server) {
            ex.error = NotifyType::AUTHENTICATION_FAILED;
            log_warn("{}: connection {}: {} unavailable: {}", sa.who(), chosen->name, chosen->remote_auth, why);
            return TaskStatus::FAILED;
        }
        // SAi2, TSi, TSr and CP are answered after EAP, in the final exchange.
        session->first_request = m;
        session->idi_body = sa.peer_id.payload_body();
        // RFC 5998 §2: the initiator offers EAP-only with N(EAP_ONLY_AUTHENTICATION); we
        // take it when the connection allows it and its method is mutual (§4).
        const bool offered = m.find_notify(NotifyType::EAP_ONLY_AUTHENTICATION) != nullptr;
        session->eap_only = offered && chosen->eap_only && is_mutual_eap(chosen->remote_auth);
        sa.conn = chosen;
        sa.eap = std::move(session);
        log_info("{}: connection {}, authenticating the user with {}{}", sa.who(), chosen->name, sa.eap->method,
                 sa.eap->eap_only ? " (EAP-only, RFC 5998: no CERT/AUTH from us)" : "");
        return TaskStatus::SUCCESS;
    }

    TaskStatus refuse(IkeSa& sa, Exchange& ex, std::string_view reason, const std::string& detail) {
        ex.error = NotifyType::AUTHENTICATION_FAILED;
        log_info("{}: certificate authentication of '{}' refused: {}{}{}", sa.who(), sa.peer_id.to_string(), reason,
                 detail.empty() ? "" : ": ", detail);
        return TaskStatus::FAILED;
    }

    TaskStatus process_pubkey(IkeSa& sa, Exchange& ex, const Message& m, const AuthPayload& auth,
                              const IdPayload* idr, const Identity& want_local) {
        const TrustStore* trust = ctx_.config.trust.get();
        if (!trust) return refuse(sa, ex, to_string(CertRefusal::UNTRUSTED_CA), "no [pki] CA store configured");
        // §3.6: the first CERT carries the peer's end-entity certificate, later ones its chain.
        X509Ptr leaf;
        std::vector<X509Ptr> chain;
        for (const auto& p : m.payloads) {
            if (p.type != PayloadType::CERT) continue;
            const auto* raw = std::get_if<RawPayload>(&p.body);
            if (!raw || raw->body.size() < 2 || raw->body[0] != 4) continue;  // only X.509 signature certs
            X509Ptr c = x509_from_der(std::span(raw->body).subspan(1));
            if (!c) return refuse(sa, ex, to_string(CertRefusal::MALFORMED), "CERT payload does not parse");
            if (!leaf) leaf = std::move(c);
            else chain.push_back(std::move(c));
        }
        if (!leaf) return refuse(sa, ex, to_string(CertRefusal::UNTRUSTED_CA), "no certificate received");
        std::string subject = dn_to_string(X509_get_subject_name(leaf.get()));
        std::string detail;
        const CertRefusal r = trust->verify(leaf.get(), chain, detail);
        if (r != CertRefusal::NONE) return refuse(sa, ex, to_string(r), "\"" + subject + "\": " + detail);
        if (!cert_matches_identity(leaf.get(), sa.peer_id))
            return refuse(sa, ex, to_string(CertRefusal::IDENTITY_MISMATCH),
                          "IDi is not named by certificate \"" + subject + "\"");
        unsigned char* der = nullptr;
        const int n = i2d_X509_NAME(X509_get_subject_name(leaf.get()), &der);
        const Bytes subject_der = n > 0 ? Bytes(der, der + n) : Bytes{};
        OPENSSL_free(der);
        // RFC 4739: ANOTHER_AUTH_FOLLOWS asks for a connection whose certificate round is
        // followed by EAP (multiple_auth); EAP connections are never satisfied by the
        // certificate alone.
        const bool another = m.find_notify(NotifyType::ANOTHER_AUTH_FOLLOWS) != nullptr;
        const ConnectionConfig* chosen = nullptr;
        for (const auto& c : ctx_.config.connections) {
            if (!c.local_cred || another != c.multiple_auth) continue;
            if (is_eap_auth(c.remote_auth) && !c.multiple_auth) continue;
            if (idr && !(c.local_id.type == want_local.type && c.local_id.data == want_local.data)) continue;
            const bool ok = !c.remote_dn_mask.empty() ? dn_mask_matches(c.remote_dn_mask, subject_der)
                                                      : c.remote_id.matches(sa.peer_id);
            if (ok) {
                chosen = &c;
                break;
            }
        }
        if (!chosen)
            return refuse(sa, ex, to_string(CertRefusal::IDENTITY_MISMATCH),
                          "no pubkey connection accepts \"" + subject + "\"");
        EVP_PKEY* pub = X509_get0_pubkey(leaf.get());
        const Bytes octets = signed_octets(sa.ike_alg.prf, sa.init_request, sa.nr, sa.keys.sk_pi.bytes(),
                                           sa.peer_id.payload_body());
        std::string why;
        if (!pub || !verify_auth(pub, auth, octets, why))
            return refuse(sa, ex, to_string(CertRefusal::BAD_SIGNATURE), why);
        sa.conn = chosen;
        log_info("{}: authenticated with certificate \"{}\" (AUTH method {}), connection {}", sa.who(), subject,
                 static_cast<int>(auth.method), chosen->name);
        if (chosen->multiple_auth) {
            // RFC 4739 §3: the user's EAP round follows, opened by a request with its IDi.
            auto session = std::make_unique<EapSession>();
            std::string why;
            session->server = make_eap_server(ctx_, *chosen, sa, session->method, why);
            if (!session->server) {
                ex.error = NotifyType::AUTHENTICATION_FAILED;
                log_warn("{}: connection {}: {} unavailable: {}", sa.who(), chosen->name, chosen->remote_auth, why);
                return TaskStatus::FAILED;
            }
            session->first_request = m;
            session->await_second_id = true;
            sa.eap = std::move(session);
        }
        return TaskStatus::SUCCESS;
    }

    TaskContext& ctx_;
};

}  // namespace

std::unique_ptr<Task> make_ike_auth(TaskContext& ctx) { return std::make_unique<IkeAuth>(ctx); }

}  // namespace espgw::ike

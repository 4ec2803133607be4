#include "control/ike/task_ike_eap.hpp"

#include "control/ike/address_pool.hpp"
#include "control/ike/crypto_keys.hpp"
#include "control/ike/crypto_prf.hpp"
#include "control/ike/eap_mschapv2.hpp"
#include "control/ike/eap_packet.hpp"
#include "control/ike/log.hpp"

#include <fmt/ranges.h>

namespace espgw::ike {

namespace {

/// The key of the §2.16 AUTH: the MSK, or SK_pi/SK_pr for a method without one.
std::span<const uint8_t> auth_key(const IkeSa& sa, bool initiator_side) {
    if (!sa.eap->msk.empty()) return sa.eap->msk.bytes();
    return initiator_side ? sa.keys.sk_pi.bytes() : sa.keys.sk_pr.bytes();
}

/// An identity we look users up by and write to the log: 1..253 bytes, no control
/// characters (a peer must not forge log lines).
bool usable_identity(std::string_view id) noexcept {
    if (id.empty() || id.size() > 253) return false;
    for (unsigned char c : id)
        if (c < 0x20 || c == 0x7f) return false;
    return true;
}

}  // namespace

void IkeEap::log_failure(IkeSa& sa, const std::string& why) {
    if (sa.eap->failure_logged) return;
    sa.eap->failure_logged = true;
    const std::string user = sa.eap->identity.empty() ? "-" : sa.eap->identity;
    log_info("{}: {} authentication of user {} failed: {}", sa.who(), sa.eap->method, user, why);
}

TaskStatus IkeEap::fail(IkeSa& sa, Exchange& ex, const std::string& why) {
    ex.error = NotifyType::AUTHENTICATION_FAILED;
    log_failure(sa, why);
    return TaskStatus::FAILED;
}

TaskStatus IkeEap::process_r(IkeSa& sa, Exchange& ex) {
    EapSession& e = *sa.eap;
    if (e.succeeded) {
        // §2.16: after EAP-Success the initiator proves the MSK:
        //   AUTH = prf(prf(MSK, "Key Pad for IKEv2"), <InitiatorSignedOctets>)
        const auto* auth = ex.request->get<AuthPayload>(PayloadType::AUTH);
        if (!auth || auth->method != AuthMethod::SHARED_KEY_MIC)
            return fail(sa, ex, "final IKE_AUTH request without a shared-key AUTH");
        const Prf prf(sa.ike_alg.prf);
        const Bytes expect = psk_auth(prf, auth_key(sa, true), sa.init_request, sa.nr, sa.keys.sk_pi.bytes(), e.idi_body);
        if (expect.size() != auth->data.size() || !crypto::ct_equal(expect.data(), auth->data.data(), expect.size()))
            return fail(sa, ex, "AUTH payload keyed with the EAP MSK does not verify");
        final_ = true;
        return TaskStatus::SUCCESS;
    }
    if (e.await_second_id) {
        // RFC 4739 §3: HDR, SK { IDi } --> opens the EAP round after the certificate;
        // the peer's final AUTH signs this second IDi.
        const auto* idi = ex.request->get<IdPayload>(PayloadType::IDi);
        if (!idi || ex.request->get<AuthPayload>(PayloadType::AUTH))
            return fail(sa, ex, "second authentication round must carry IDi and no AUTH (RFC 4739)");
        const Identity second = Identity::from_payload(*idi);
        e.idi_body = second.payload_body();
        e.await_second_id = false;
        return start_server(sa, ex, second);
    }
    const Bytes* eap = find_eap_payload(*ex.request);
    if (!e.started) return start_server(sa, ex, sa.peer_id);
    if (!eap) return fail(sa, ex, "IKE_AUTH request without an EAP payload");
    if (e.identity_round) {
        EapPacket p;
        const EapError pe = parse_eap(*eap, p);
        if (pe != EapError::OK) return fail(sa, ex, std::string("malformed EAP-Identity response: ") + std::string(espgw::ike::name(pe)));
        if (p.code != EapCode::RESPONSE || p.identifier != e.identity_id || p.type != EapType::IDENTITY)
            return fail(sa, ex, "expected an EAP-Identity response");
        std::string id(p.data.begin(), p.data.end());
        if (!usable_identity(id)) return fail(sa, ex, "unusable EAP identity (empty, too long or control characters)");
        e.identity = std::move(id);
        e.identity_round = false;
        return apply(sa, ex, e.server->start(e.identity));
    }
    return apply(sa, ex, e.server->process(*eap));
}

TaskStatus IkeEap::start_server(IkeSa& sa, Exchange& ex, const Identity& idi) {
    EapSession& e = *sa.eap;
    e.started = true;
    // RFC 3748 §5.1: ask for the identity when the IKE identity names no user (an
    // address, a DN, a key ID) or the connection wants the EAP identity anyway.
    const bool named = idi.type == IdType::FQDN || idi.type == IdType::RFC822_ADDR;
    if (!named || sa.conn->eap_identity_ask) {
        e.identity_round = true;
        e.identity_id = random_eap_identifier();
        out_eap_ = encode_eap({EapCode::REQUEST, e.identity_id, EapType::IDENTITY, {}});
        return TaskStatus::SUCCESS;
    }
    const std::string id(idi.data.begin(), idi.data.end());
    if (!usable_identity(id)) return fail(sa, ex, "unusable IKE identity as EAP identity (control characters)");
    e.identity = id;
    return apply(sa, ex, e.server->start(e.identity));
}

TaskStatus IkeEap::apply(IkeSa& sa, Exchange& ex, EapStep step) {
    EapSession& e = *sa.eap;
    switch (step.kind) {
        case EapStep::Kind::PENDING:
            pending_ = true;
            return TaskStatus::SUCCESS;
        case EapStep::Kind::CONTINUE:
            // A failing conversation (MSCHAPv2 Failure Request, TLS alert): the reason is
            // logged now, since a peer may never answer this last Request.
            if (!step.reason.empty()) log_failure(sa, step.reason);
            out_eap_ = std::move(step.eap);
            return TaskStatus::SUCCESS;
        case EapStep::Kind::FAILURE:
            // The EAP-Failure travels with N(AUTHENTICATION_FAILED) (IkeManager::fail_ike_auth).
            e.failure_eap = std::move(step.eap);
            return fail(sa, ex, step.reason.empty() ? std::string("EAP failure") : step.reason);
        case EapStep::Kind::SUCCESS:
            break;
    }
    // EAP-Success: the user is known; its AUTH follows in the next request.
    e.succeeded = true;
    e.msk = std::move(step.msk);
    sa.user = step.user.empty() ? e.identity : step.user;
    sa.auth_method = e.method;
    sa.groups = std::move(step.groups);
    sa.user_ip = step.framed_ip;
    out_eap_ = std::move(step.eap);
    return TaskStatus::SUCCESS;
}

TaskStatus IkeEap::resume(IkeSa& sa, Exchange& ex, EapStep step) {
    sa.eap->pending = false;
    return apply(sa, ex, std::move(step));
}

TaskStatus IkeEap::build_r(IkeSa& sa, Exchange& ex) {
    if (!final_) {
        ex.response.push_back(make_eap_payload(std::move(out_eap_)));
        return TaskStatus::SUCCESS;
    }
    // §2.16: AUTH = prf(prf(MSK, "Key Pad for IKEv2"), <ResponderSignedOctets>), over
    // the IDr we sent in the first response.
    const Prf prf(sa.ike_alg.prf);
    Bytes auth = psk_auth(prf, auth_key(sa, false), sa.init_response, sa.ni, sa.keys.sk_pr.bytes(), sa.eap->idr_body);
    ex.response.insert(ex.response.begin(),
                       Payload{PayloadType::AUTH, false, AuthPayload{AuthMethod::SHARED_KEY_MIC, std::move(auth)}});
    sa.state = IkeSaState::ESTABLISHED;
    log_info("user {} authenticated with {} from peer {} (IKE id {}), virtual IP {}{}", sa.user, sa.auth_method,
             to_string(sa.remote), sa.peer_id.to_string(), sa.virtual_ip ? ipv4_to_string(*sa.virtual_ip) : std::string("none"),
             sa.groups.empty() ? std::string() : ", groups " + fmt::format("{}", fmt::join(sa.groups, ",")));
    log_info("{}: IKE SA established as responder ({}{}), {} SPIs {:016x}_i {:016x}_r{}", sa.who(),
             sa.eap->eap_only ? "EAP-only " : "certificate + ", sa.auth_method, to_string(sa.ike_alg), sa.spi_i, sa.spi_r, sa.nat() ? ", NAT-T" : "");
    return TaskStatus::SUCCESS;
}

}  // namespace espgw::ike

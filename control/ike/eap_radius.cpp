#include "control/ike/eap_radius.hpp"

#include "control/ike/log.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace espgw::ike {

namespace {

EapStep failure(uint8_t eap_id, std::string reason) {
    EapStep s;
    s.kind = EapStep::Kind::FAILURE;
    s.eap = {static_cast<uint8_t>(EapCode::FAILURE), eap_id, 0, 4};
    s.reason = std::move(reason);
    return s;
}

// Server-supplied text for logs: printable ASCII only, bounded.
std::string printable(std::span<const uint8_t> v) {
    std::string s;
    for (uint8_t c : v) {
        if (s.size() >= 128) break;
        s += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
    }
    return s;
}

bool is_text(std::span<const uint8_t> v) {
    if (v.empty()) return false;
    for (uint8_t c : v)
        if (c < 0x20 || c >= 0x7f) return false;
    return true;
}

}  // namespace

EapRadiusServer::EapRadiusServer(EapRadiusParams params) : p_(std::move(params)) {}

EapRadiusServer::~EapRadiusServer() { abort(); }

void EapRadiusServer::add_nas_attributes(radius::Packet& p, const EapRadiusParams& params, const std::string& user) {
    using namespace radius;
    p.add_string(attr::USER_NAME, user);
    if (!params.nas_identifier.empty()) p.add_string(attr::NAS_IDENTIFIER, params.nas_identifier);
    if (params.local.addr_host) p.add_u32(attr::NAS_IP_ADDRESS, params.local.addr_host);
    p.add_u32(attr::NAS_PORT_TYPE, kNasPortTypeVirtual);
    p.add_u32(attr::SERVICE_TYPE, kServiceTypeFramed);
    // As strongSwan's eap-radius: our and the peer's IKE endpoints in "%#H" notation.
    p.add_string(attr::CALLED_STATION_ID, to_string(params.local));
    p.add_string(attr::CALLING_STATION_ID, to_string(params.remote));
}

EapStep EapRadiusServer::start(const std::string& identity) {
    identity_ = identity;
    // RFC 3579 §2.1: the NAS starts with the peer's EAP-Response/Identity; IKEv2 already
    // carries the identity (IDi), so we build it (Identifier 0) rather than ask for it.
    Bytes eap = {static_cast<uint8_t>(EapCode::RESPONSE), 0, 0, 0, static_cast<uint8_t>(EapType::IDENTITY)};
    eap.insert(eap.end(), identity.begin(), identity.end());
    eap[2] = static_cast<uint8_t>(eap.size() >> 8);
    eap[3] = static_cast<uint8_t>(eap.size());
    return submit(eap);
}

EapStep EapRadiusServer::process(std::span<const uint8_t> eap) {
    if (finished_) return failure(last_eap_id_, "EAP after the end of the conversation");
    if (outstanding_) {
        EapStep s;
        s.kind = EapStep::Kind::PENDING;  // a retransmitted Response while RADIUS thinks
        return s;
    }
    if (eap.size() < 4 || eap[0] != static_cast<uint8_t>(EapCode::RESPONSE)) {
        finished_ = true;
        return failure(last_eap_id_, "malformed EAP response");
    }
    return submit(eap);
}

EapStep EapRadiusServer::submit(std::span<const uint8_t> eap) {
    using namespace radius;
    Packet req;
    add_nas_attributes(req, p_, identity_);
    req.add_u32(attr::FRAMED_MTU, p_.framed_mtu);
    req.add_eap(eap);
    // RFC 2865 §5.24: the State of an Access-Challenge goes back unchanged.
    if (!state_.empty()) req.add(attr::STATE, state_);
    if (eap.size() >= 2) last_eap_id_ = eap[1];
    outstanding_ = p_.client->send(std::move(req), false, radius::Clock::now());
    EapStep s;
    s.kind = EapStep::Kind::PENDING;
    return s;
}

EapStep EapRadiusServer::poll() {
    EapStep s;
    s.kind = EapStep::Kind::PENDING;
    if (!outstanding_) return s;
    p_.client->poll(radius::Clock::now());
    auto r = p_.client->take(*outstanding_);
    if (!r) return s;
    outstanding_.reset();
    return on_reply(*r);
}

EapStep EapRadiusServer::on_reply(const radius::Result& r) {
    using namespace radius;
    if (r.status == Result::Status::TIMEOUT) {
        finished_ = true;
        return failure(last_eap_id_, "RADIUS timeout");
    }
    const Packet& rep = r.reply;
    Bytes eap = rep.eap();
    switch (rep.code) {
        case Code::ACCESS_CHALLENGE: {
            // RFC 3579 §2.6.1: the Challenge's EAP-Message is a Request for the peer.
            if (eap.size() < 4 || eap[0] != static_cast<uint8_t>(EapCode::REQUEST)) {
                finished_ = true;
                return failure(last_eap_id_, "RADIUS challenge without an EAP request");
            }
            const auto* st = rep.find(attr::STATE);
            state_ = st ? st->value : Bytes{};
            EapStep s;
            s.kind = EapStep::Kind::CONTINUE;
            s.eap = std::move(eap);
            return s;
        }
        case Code::ACCESS_ACCEPT: {
            finished_ = true;
            EapStep s;
            s.kind = EapStep::Kind::SUCCESS;
            s.eap = eap.size() >= 4 ? std::move(eap) : Bytes{static_cast<uint8_t>(EapCode::SUCCESS), last_eap_id_, 0, 4};
            // As strongSwan's eap-radius: MSK = MS-MPPE-Recv-Key | MS-MPPE-Send-Key (RFC
            // 2548 §2.4.2/2.4.3; 32 bytes each for methods deriving a 64-byte MSK).
            auto recv = vendor_attr(rep, kVendorMicrosoft, kMsMppeRecvKey);
            auto send = vendor_attr(rep, kVendorMicrosoft, kMsMppeSendKey);
            if (recv && send && r.secret) {
                auto rk = decrypt_mppe_key(*recv, r.secret->bytes(), r.request_auth);
                auto sk = decrypt_mppe_key(*send, r.secret->bytes(), r.request_auth);
                if (!rk || !sk) return failure(last_eap_id_, "RADIUS accept with malformed MS-MPPE keys");
                // RFC 3748 §7.10: the MSK is at least 64 bytes. Methods with 16-byte MPPE keys
                // (MSCHAPv2) get zero padding, as the peer's own MSK has (draft-kamath-pppext-
                // eap-mschapv2 §2.4); HMAC PRFs zero-pad their key anyway.
                crypto::SecretBytes msk(std::max<size_t>(64, rk->size() + sk->size()));
                auto out = msk.mutable_bytes();
                std::copy(rk->bytes().begin(), rk->bytes().end(), out.begin());
                std::copy(sk->bytes().begin(), sk->bytes().end(), out.begin() + static_cast<ptrdiff_t>(rk->size()));
                s.msk = std::move(msk);
            }
            const auto* un = rep.find(attr::USER_NAME);
            s.user = (un && is_text(un->value)) ? std::string(un->value.begin(), un->value.end()) : identity_;
            if (const auto* fip = rep.find(attr::FRAMED_IP_ADDRESS); fip && fip->value.size() == 4) {
                const uint32_t ip = static_cast<uint32_t>(fip->value[0]) << 24 | static_cast<uint32_t>(fip->value[1]) << 16 |
                                    static_cast<uint32_t>(fip->value[2]) << 8 | fip->value[3];
                // RFC 2865 §5.8: 255.255.255.254 = NAS picks (our pool), .255 = the user picks.
                if (ip != 0xFFFFFFFEu && ip != 0xFFFFFFFFu && ip != 0) s.framed_ip = ip;
            }
            for (uint8_t t : {attr::CLASS, attr::FILTER_ID})
                for (const auto* a : rep.all(t))
                    if (is_text(a->value)) s.groups.emplace_back(a->value.begin(), a->value.end());
            if (p_.on_accept) {
                std::vector<Bytes> classes;
                for (const auto* a : rep.all(attr::CLASS)) classes.push_back(a->value);
                p_.on_accept(s.user, std::move(classes));
            }
            return s;
        }
        case Code::ACCESS_REJECT: {
            finished_ = true;
            std::string reason = "RADIUS reject";
            if (const auto* m = rep.find(attr::REPLY_MESSAGE)) reason += ": " + printable(m->value);
            EapStep s = failure(last_eap_id_, std::move(reason));
            if (eap.size() >= 4 && eap[0] == static_cast<uint8_t>(EapCode::FAILURE)) s.eap = std::move(eap);
            return s;
        }
        default:
            finished_ = true;
            return failure(last_eap_id_, "unexpected RADIUS reply");
    }
}

void EapRadiusServer::abort() {
    if (outstanding_ && p_.client) p_.client->cancel(*outstanding_);
    outstanding_.reset();
    finished_ = true;
}

}  // namespace espgw::ike

#include "control/ike/eap_packet.hpp"

namespace espgw::ike {

std::string_view name(EapError e) noexcept {
    switch (e) {
        case EapError::OK: return "ok";
        case EapError::TRUNCATED: return "truncated EAP packet";
        case EapError::LENGTH_MISMATCH: return "EAP length mismatch";
        case EapError::BAD_CODE: return "unknown EAP code";
        case EapError::SUCCESS_WITH_DATA: return "EAP Success/Failure with data";
    }
    return "?";
}

EapError parse_eap(std::span<const uint8_t> in, EapPacket& out) {
    if (in.size() < 4) return EapError::TRUNCATED;
    const size_t len = static_cast<size_t>(in[2]) << 8 | in[3];
    // RFC 3748 §4.1: octets past Length are padding a lower layer may add; IKE adds
    // none, so anything but an exact match is malformed.
    if (len != in.size()) return EapError::LENGTH_MISMATCH;
    if (in[0] < 1 || in[0] > 4) return EapError::BAD_CODE;
    out.code = static_cast<EapCode>(in[0]);
    out.identifier = in[1];
    out.data.clear();
    if (out.code == EapCode::SUCCESS || out.code == EapCode::FAILURE) {
        if (len != 4) return EapError::SUCCESS_WITH_DATA;
        return EapError::OK;
    }
    if (len < 5) return EapError::TRUNCATED;
    out.type = static_cast<EapType>(in[4]);
    out.data.assign(in.begin() + 5, in.end());
    return EapError::OK;
}

Bytes encode_eap(const EapPacket& p) {
    const bool typed = p.code == EapCode::REQUEST || p.code == EapCode::RESPONSE;
    const size_t len = typed ? 5 + p.data.size() : 4;
    Bytes out;
    out.reserve(len);
    out.push_back(static_cast<uint8_t>(p.code));
    out.push_back(p.identifier);
    out.push_back(static_cast<uint8_t>(len >> 8));
    out.push_back(static_cast<uint8_t>(len));
    if (typed) {
        out.push_back(static_cast<uint8_t>(p.type));
        out.insert(out.end(), p.data.begin(), p.data.end());
    }
    return out;
}

Payload make_eap_payload(Bytes eap) { return {PayloadType::EAP, false, RawPayload{std::move(eap)}}; }

const Bytes* find_eap_payload(const Message& m) noexcept {
    const auto* raw = m.get<RawPayload>(PayloadType::EAP);
    return raw ? &raw->body : nullptr;
}

}  // namespace espgw::ike

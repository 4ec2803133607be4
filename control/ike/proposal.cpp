#include "control/ike/proposal.hpp"

#include <stdexcept>
#include <string>

namespace espgw::ike {

namespace {
std::vector<std::string_view> split(std::string_view s) {
    std::vector<std::string_view> out;
    while (!s.empty()) {
        const size_t d = s.find('-');
        out.push_back(s.substr(0, d));
        if (d == std::string_view::npos) break;
        s.remove_prefix(d + 1);
    }
    return out;
}

bool hash_token(std::string_view t, uint16_t& integ, uint16_t& prf) {
    if (t == "sha256") { integ = AUTH_HMAC_SHA2_256_128; prf = PRF_HMAC_SHA2_256; return true; }
    if (t == "sha384") { integ = AUTH_HMAC_SHA2_384_192; prf = PRF_HMAC_SHA2_384; return true; }
    if (t == "sha512") { integ = AUTH_HMAC_SHA2_512_256; prf = PRF_HMAC_SHA2_512; return true; }
    if (t == "sha1" || t == "sha") { integ = AUTH_HMAC_SHA1_96; prf = PRF_HMAC_SHA1; return true; }
    return false;
}
}  // namespace

Algorithms parse_proposal(std::string_view text, ProtocolId proto) {
    Algorithms a;
    uint16_t implied_prf = 0;
    for (std::string_view t : split(text)) {
        uint16_t integ = 0, prf = 0;
        if (t == "aes128gcm16" || t == "aes128gcm") { a.encr = ENCR_AES_GCM_16; a.encr_key_bits = 128; }
        else if (t == "aes192gcm16" || t == "aes192gcm") { a.encr = ENCR_AES_GCM_16; a.encr_key_bits = 192; }
        else if (t == "aes256gcm16" || t == "aes256gcm") { a.encr = ENCR_AES_GCM_16; a.encr_key_bits = 256; }
        else if (t == "aes128" || t == "aes") { a.encr = ENCR_AES_CBC; a.encr_key_bits = 128; }
        else if (t == "aes192") { a.encr = ENCR_AES_CBC; a.encr_key_bits = 192; }
        else if (t == "aes256") { a.encr = ENCR_AES_CBC; a.encr_key_bits = 256; }
        else if (hash_token(t, integ, prf)) { a.integ = integ; implied_prf = prf; }
        else if (t.starts_with("prf") && hash_token(t.substr(3), integ, prf)) a.prf = prf;
        else if (t == "3des") { a.encr = ENCR_3DES; a.encr_key_bits = 192; }
        else if (t == "modp1024") a.dh = DhGroup::MODP_1024;
        else if (t == "modp1536") a.dh = DhGroup::MODP_1536;
        else if (t == "des" || t == "md5" || t == "prfmd5" || t == "modp768" || t == "null" || t == "aesxcbc")
            throw std::invalid_argument("insecure algorithm '" + std::string(t) + "' is not supported");
        else if (t == "modp2048") a.dh = DhGroup::MODP_2048;
        else if (t == "modp3072") a.dh = DhGroup::MODP_3072;
        else if (t == "ecp256") a.dh = DhGroup::ECP_256;
        else if (t == "ecp384") a.dh = DhGroup::ECP_384;
        else if (t == "ecp521") a.dh = DhGroup::ECP_521;
        else if (t == "curve25519" || t == "x25519") a.dh = DhGroup::CURVE25519;
        else if (t == "esn") a.esn = true;
        else if (t == "noesn") a.esn = false;
        else throw std::invalid_argument("unknown proposal token '" + std::string(t) + "'");
    }
    if (a.encr == 0) throw std::invalid_argument("proposal '" + std::string(text) + "' has no encryption algorithm");
    if (!a.aead() && a.integ == AUTH_NONE)
        throw std::invalid_argument("proposal '" + std::string(text) + "' needs an integrity algorithm");
    if (a.aead() && a.integ != AUTH_NONE)
        throw std::invalid_argument("proposal '" + std::string(text) + "': AEAD takes no integrity algorithm");
    if (proto == ProtocolId::IKE) {
        if (a.prf == 0) a.prf = implied_prf;
        if (a.prf == 0) throw std::invalid_argument("IKE proposal '" + std::string(text) + "' needs a PRF");
        if (a.dh == DhGroup::NONE) throw std::invalid_argument("IKE proposal '" + std::string(text) + "' needs a DH group");
        if (a.esn) throw std::invalid_argument("IKE proposal '" + std::string(text) + "': esn is for ESP");
    } else if (a.prf != 0) {
        throw std::invalid_argument("ESP proposal '" + std::string(text) + "' takes no PRF");
    } else if (a.encr == ENCR_3DES) {
        throw std::invalid_argument("ESP proposal '" + std::string(text) + "': 3DES is not supported by espgw-dp");
    }
    return a;
}

bool proposal_matches(const Algorithms& ours, const Proposal& peer) {
    bool encr = false, integ = false, prf = false, dh = false, esn = false;
    bool peer_has_integ = false, peer_has_dh = false, peer_has_esn = false, peer_has_prf = false;
    for (const Transform& t : peer.transforms) {
        switch (t.type) {
            case TransformType::ENCR:
                // §3.3.5: AES requires the Key Length attribute; 3DES has a fixed key
                // length and must not carry one.
                if (t.id != ours.encr) break;
                if (ours.encr == ENCR_3DES ? !t.key_len_bits
                                           : t.key_len_bits && *t.key_len_bits == ours.encr_key_bits)
                    encr = true;
                break;
            case TransformType::INTEG:
                peer_has_integ = true;
                if (t.id == ours.integ) integ = true;
                break;
            case TransformType::PRF:
                peer_has_prf = true;
                if (t.id == ours.prf) prf = true;
                break;
            case TransformType::DH:
                peer_has_dh = true;
                if (t.id == static_cast<uint16_t>(ours.dh)) dh = true;
                break;
            case TransformType::ESN:
                peer_has_esn = true;
                if (t.id == (ours.esn ? ESN_ON : ESN_NONE)) esn = true;
                break;
        }
    }
    if (!encr) return false;
    if (ours.integ == AUTH_NONE) integ = integ || !peer_has_integ;
    if (ours.prf == 0) prf = !peer_has_prf;
    if (ours.dh == DhGroup::NONE) dh = dh || !peer_has_dh;
    if (!ours.esn) esn = esn || !peer_has_esn;
    return integ && prf && dh && esn;
}

std::optional<Selection> select_proposal(const std::vector<Algorithms>& ours, const SaPayload& peer,
                                         ProtocolId proto) noexcept {
    for (const Algorithms& a : ours) {
        for (const Proposal& p : peer.proposals) {
            if (p.protocol != proto) continue;
            // §3.3.1: IKE SA proposals in IKE_SA_INIT carry no SPI; ESP SPIs are 4 bytes.
            if (proto == ProtocolId::ESP && p.spi.size() != 4) continue;
            if (proposal_matches(a, p)) {
                try {
                    return Selection{a, p.number, p.spi};
                } catch (...) {
                    return std::nullopt;
                }
            }
        }
    }
    return std::nullopt;
}

namespace {
std::string transform_name(const Transform& t, bool& insecure) {
    switch (t.type) {
        case TransformType::ENCR:
            switch (t.id) {
                case 2: insecure = true; return "DES";
                case ENCR_3DES: insecure = true; return "3DES";
                case ENCR_AES_CBC: return "AES_CBC-" + std::to_string(t.key_len_bits.value_or(0));
                case ENCR_AES_GCM_16: return "AES_GCM_16-" + std::to_string(t.key_len_bits.value_or(0));
                default: return "ENCR_" + std::to_string(t.id);
            }
        case TransformType::PRF:
            switch (t.id) {
                case 1: insecure = true; return "PRF_HMAC_MD5";
                case PRF_HMAC_SHA1: return "PRF_HMAC_SHA1";
                case PRF_HMAC_SHA2_256: return "PRF_HMAC_SHA2_256";
                case PRF_HMAC_SHA2_384: return "PRF_HMAC_SHA2_384";
                case PRF_HMAC_SHA2_512: return "PRF_HMAC_SHA2_512";
                default: return "PRF_" + std::to_string(t.id);
            }
        case TransformType::INTEG:
            switch (t.id) {
                case 1: insecure = true; return "HMAC_MD5_96";
                case AUTH_HMAC_SHA1_96: return "HMAC_SHA1_96";
                case AUTH_HMAC_SHA2_256_128: return "HMAC_SHA2_256_128";
                case AUTH_HMAC_SHA2_384_192: return "HMAC_SHA2_384_192";
                case AUTH_HMAC_SHA2_512_256: return "HMAC_SHA2_512_256";
                default: return "INTEG_" + std::to_string(t.id);
            }
        case TransformType::DH:
            if (t.id != 0 && t.id < 14) insecure = true;
            switch (t.id) {
                case 2: return "MODP_1024";
                case 5: return "MODP_1536";
                case 14: return "MODP_2048";
                case 15: return "MODP_3072";
                case 19: return "ECP_256";
                case 20: return "ECP_384";
                case 21: return "ECP_521";
                case 31: return "CURVE_25519";
                default: return "DH_" + std::to_string(t.id);
            }
        case TransformType::ESN: return t.id ? "ESN" : "NO_ESN";
    }
    return "?";
}
}  // namespace

std::string describe_offer(const SaPayload& peer, ProtocolId proto, bool* insecure) {
    std::string out;
    bool weak = false;
    for (const Proposal& p : peer.proposals) {
        if (p.protocol != proto) continue;
        if (!out.empty()) out += ", ";
        std::string one;
        for (const Transform& t : p.transforms) {
            if (!one.empty()) one += "/";
            one += transform_name(t, weak);
        }
        out += one;
        if (out.size() > 600) {  // a hostile peer may send hundreds: the log line stays bounded
            out += ", ...";
            break;
        }
    }
    if (insecure) *insecure = weak;
    return out.empty() ? "nothing" : out;
}

SaPayload make_reply_sa(const Selection& s, ProtocolId proto, Bytes our_spi) {
    Proposal p;
    p.number = s.number;
    p.protocol = proto;
    p.spi = std::move(our_spi);
    p.transforms.push_back({TransformType::ENCR, s.alg.encr,
                            s.alg.encr == ENCR_3DES ? std::optional<uint16_t>{} : std::optional<uint16_t>{s.alg.encr_key_bits}});
    if (s.alg.prf) p.transforms.push_back({TransformType::PRF, s.alg.prf, std::nullopt});
    if (s.alg.integ != AUTH_NONE) p.transforms.push_back({TransformType::INTEG, s.alg.integ, std::nullopt});
    if (s.alg.dh != DhGroup::NONE)
        p.transforms.push_back({TransformType::DH, static_cast<uint16_t>(s.alg.dh), std::nullopt});
    if (proto == ProtocolId::ESP)
        p.transforms.push_back({TransformType::ESN, s.alg.esn ? ESN_ON : ESN_NONE, std::nullopt});
    SaPayload sa;
    sa.proposals.push_back(std::move(p));
    return sa;
}

}  // namespace espgw::ike

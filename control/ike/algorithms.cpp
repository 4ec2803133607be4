#include "control/ike/algorithms.hpp"

namespace espgw::ike {

size_t encr_key_bytes(const Algorithms& a) noexcept {
    return a.encr_key_bits / 8u + (a.aead() ? 4u : 0u);
}

size_t integ_key_bytes(uint16_t integ) noexcept {
    switch (integ) {
        case AUTH_HMAC_SHA1_96: return 20;
        case AUTH_HMAC_SHA2_256_128: return 32;
        case AUTH_HMAC_SHA2_384_192: return 48;
        case AUTH_HMAC_SHA2_512_256: return 64;
        default: return 0;
    }
}

size_t icv_bytes(const Algorithms& a) noexcept {
    if (a.aead()) return 16;
    switch (a.integ) {
        case AUTH_HMAC_SHA1_96: return 12;
        case AUTH_HMAC_SHA2_256_128: return 16;
        case AUTH_HMAC_SHA2_384_192: return 24;
        case AUTH_HMAC_SHA2_512_256: return 32;
        default: return 0;
    }
}

size_t prf_bytes(uint16_t prf) noexcept {
    switch (prf) {
        case PRF_HMAC_SHA1: return 20;
        case PRF_HMAC_SHA2_256: return 32;
        case PRF_HMAC_SHA2_384: return 48;
        case PRF_HMAC_SHA2_512: return 64;
        default: return 0;
    }
}

std::string to_string(const Algorithms& a) {
    std::string s;
    if (a.encr == ENCR_AES_GCM_16)
        s = "aes" + std::to_string(a.encr_key_bits) + "gcm16";
    else if (a.encr == ENCR_AES_CBC)
        s = "aes" + std::to_string(a.encr_key_bits);
    else if (a.encr == ENCR_3DES)
        s = "3des";
    else
        s = "encr" + std::to_string(a.encr);
    switch (a.integ) {
        case AUTH_HMAC_SHA1_96: s += "-sha1"; break;
        case AUTH_HMAC_SHA2_256_128: s += "-sha256"; break;
        case AUTH_HMAC_SHA2_384_192: s += "-sha384"; break;
        case AUTH_HMAC_SHA2_512_256: s += "-sha512"; break;
        default: break;
    }
    switch (a.prf) {
        case PRF_HMAC_SHA1: s += "-prfsha1"; break;
        case PRF_HMAC_SHA2_256: s += "-prfsha256"; break;
        case PRF_HMAC_SHA2_384: s += "-prfsha384"; break;
        case PRF_HMAC_SHA2_512: s += "-prfsha512"; break;
        default: break;
    }
    switch (a.dh) {
        case DhGroup::MODP_1024: s += "-modp1024"; break;
        case DhGroup::MODP_1536: s += "-modp1536"; break;
        case DhGroup::MODP_2048: s += "-modp2048"; break;
        case DhGroup::MODP_3072: s += "-modp3072"; break;
        case DhGroup::ECP_256: s += "-ecp256"; break;
        case DhGroup::ECP_384: s += "-ecp384"; break;
        case DhGroup::ECP_521: s += "-ecp521"; break;
        case DhGroup::CURVE25519: s += "-curve25519"; break;
        default: break;
    }
    if (a.esn) s += "-esn";
    return s;
}

std::string legacy_parts(const Algorithms& a) {
    std::string s;
    auto add = [&](const char* what) {
        if (!s.empty()) s += ", ";
        s += what;
    };
    if (a.encr == ENCR_3DES) add("3DES");
    if (a.dh == DhGroup::MODP_1024) add("MODP_1024 (DH group 2)");
    if (a.dh == DhGroup::MODP_1536) add("MODP_1536 (DH group 5)");
    return s;
}

}  // namespace espgw::ike

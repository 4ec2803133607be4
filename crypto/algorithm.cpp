#include "crypto/algorithm.hpp"

#include <array>

namespace espgw::crypto {

std::optional<SuiteInfo> suite_info(Suite s) noexcept {
    const bool has_integ = s.integ != Integ::none;
    uint8_t auth_key = 0, icv = 0;
    switch (s.integ) {
        case Integ::none: break;
        case Integ::hmac_sha1_96: auth_key = 20, icv = 12; break;      // RFC 2404
        case Integ::hmac_sha256_128: auth_key = 32, icv = 16; break;   // RFC 4868 §2.1
        case Integ::hmac_sha512_256: auth_key = 64, icv = 32; break;   // RFC 4868 §2.1
        default: return std::nullopt;
    }
    switch (s.cipher) {
        case Cipher::null:
            if (!has_integ) return std::nullopt;  // RFC 4303 §3.2.2: not both NULL
            return SuiteInfo{0, 0, auth_key, 0, 4, icv, false, false};
        case Cipher::aes_cbc_128:
        case Cipher::aes_cbc_256:
            if (!has_integ) return std::nullopt;  // encryption without integrity: refused
            return SuiteInfo{static_cast<uint8_t>(s.cipher == Cipher::aes_cbc_128 ? 16 : 32), 0,
                             auth_key, 16, 16, icv, false, true};
        case Cipher::aes_gcm_128:
        case Cipher::aes_gcm_256:
            if (has_integ) return std::nullopt;
            return SuiteInfo{static_cast<uint8_t>(s.cipher == Cipher::aes_gcm_128 ? 16 : 32), 4, 0, 8,
                             4, 16, true, true};
        case Cipher::chacha20_poly1305:
            if (has_integ) return std::nullopt;
            return SuiteInfo{32, 4, 0, 8, 4, 16, true, true};
        case Cipher::aes_gmac_128:
        case Cipher::aes_gmac_256:
            if (has_integ) return std::nullopt;
            return SuiteInfo{static_cast<uint8_t>(s.cipher == Cipher::aes_gmac_128 ? 16 : 32), 4, 0, 8,
                             4, 16, true, false};
    }
    return std::nullopt;
}

namespace {
struct CipherName {
    Cipher c;
    std::string_view name;
};
// strongSwan proposal keywords; the first name of each cipher is the canonical one.
constexpr std::array kCipherNames{
    CipherName{Cipher::null, "null"},
    CipherName{Cipher::aes_cbc_128, "aes128"},
    CipherName{Cipher::aes_cbc_256, "aes256"},
    CipherName{Cipher::aes_gcm_128, "aes128gcm16"},
    CipherName{Cipher::aes_gcm_256, "aes256gcm16"},
    CipherName{Cipher::chacha20_poly1305, "chacha20poly1305"},
    CipherName{Cipher::aes_gmac_128, "aes128gmac"},
    CipherName{Cipher::aes_gmac_256, "aes256gmac"},
    CipherName{Cipher::aes_cbc_128, "aes128cbc"},
    CipherName{Cipher::aes_cbc_256, "aes256cbc"},
    CipherName{Cipher::aes_gcm_128, "aes128gcm"},
    CipherName{Cipher::aes_gcm_256, "aes256gcm"},
};
struct IntegName {
    Integ i;
    std::string_view name;
};
constexpr std::array kIntegNames{
    IntegName{Integ::none, "none"},
    IntegName{Integ::hmac_sha1_96, "sha1"},
    IntegName{Integ::hmac_sha256_128, "sha256"},
    IntegName{Integ::hmac_sha512_256, "sha512"},
    IntegName{Integ::hmac_sha1_96, "sha1_96"},
    IntegName{Integ::hmac_sha256_128, "sha256_128"},
    IntegName{Integ::hmac_sha512_256, "sha512_256"},
};
}  // namespace

std::string_view cipher_name(Cipher c) noexcept {
    for (const auto& n : kCipherNames)
        if (n.c == c) return n.name;
    return "unknown";
}

std::string_view integ_name(Integ i) noexcept {
    for (const auto& n : kIntegNames)
        if (n.i == i) return n.name;
    return "unknown";
}

std::optional<Cipher> parse_cipher(std::string_view name) noexcept {
    for (const auto& n : kCipherNames)
        if (n.name == name) return n.c;
    return std::nullopt;
}

std::optional<Integ> parse_integ(std::string_view name) noexcept {
    for (const auto& n : kIntegNames)
        if (n.name == name) return n.i;
    return std::nullopt;
}

}  // namespace espgw::crypto

#include "control/ike/ms_crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>

namespace espgw::ike {

namespace {

struct MdCtxFree { void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); } };
struct CipherCtxFree { void operator()(EVP_CIPHER_CTX* c) const noexcept { EVP_CIPHER_CTX_free(c); } };

// The private library context with only the legacy provider, and the two algorithms
// fetched from it once. Built on first use (C++ guarantees one thread builds it); a
// failure is remembered and reported on every call rather than retried.
class LegacyCtx {
public:
    LegacyCtx() {
        ctx_ = OSSL_LIB_CTX_new();
        if (ctx_ == nullptr) {
            error_ = "cannot create an OpenSSL library context";
            return;
        }
        prov_ = OSSL_PROVIDER_load(ctx_, "legacy");
        if (prov_ == nullptr) {
            const char* dir = std::getenv("OPENSSL_MODULES");
            error_ = std::string("OpenSSL legacy provider (legacy.so) not found in ") +
                     (dir != nullptr ? dir : OpenSSL_version(OPENSSL_MODULES_DIR)) +
                     ": MS-CHAPv2 needs its MD4 and DES (set OPENSSL_MODULES or install the provider)";
            ERR_clear_error();
            return;
        }
        md4_ = EVP_MD_fetch(ctx_, "MD4", nullptr);
        des_ = EVP_CIPHER_fetch(ctx_, "DES-ECB", nullptr);
        if (md4_ == nullptr || des_ == nullptr) {
            error_ = "OpenSSL legacy provider loaded but MD4 or DES-ECB is unavailable";
            ERR_clear_error();
        }
    }
    ~LegacyCtx() {
        EVP_MD_free(md4_);
        EVP_CIPHER_free(des_);
        if (prov_ != nullptr) OSSL_PROVIDER_unload(prov_);
        OSSL_LIB_CTX_free(ctx_);
    }
    LegacyCtx(const LegacyCtx&) = delete;
    LegacyCtx& operator=(const LegacyCtx&) = delete;

    const EVP_MD* md4() const {
        check();
        return md4_;
    }
    const EVP_CIPHER* des() const {
        check();
        return des_;
    }
    void check() const {
        if (!error_.empty()) throw std::runtime_error(error_);
    }

private:
    OSSL_LIB_CTX* ctx_ = nullptr;
    OSSL_PROVIDER* prov_ = nullptr;
    EVP_MD* md4_ = nullptr;
    EVP_CIPHER* des_ = nullptr;
    std::string error_;
};

const LegacyCtx& legacy() {
    static const LegacyCtx ctx;
    return ctx;
}

void md4_into(std::span<const uint8_t> data, uint8_t out[16]) {
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> c(EVP_MD_CTX_new());
    unsigned int len = 0;
    if (!c || EVP_DigestInit_ex(c.get(), legacy().md4(), nullptr) != 1 ||
        EVP_DigestUpdate(c.get(), data.data(), data.size()) != 1 ||
        EVP_DigestFinal_ex(c.get(), out, &len) != 1 || len != 16) {
        ERR_clear_error();
        throw std::runtime_error("MD4 failed");
    }
}

}  // namespace

void ms_crypto_init() { legacy().check(); }

std::string utf8_to_utf16le(std::string_view s) {
    std::string out;
    out.reserve(s.size() * 2);
    auto put = [&out](uint32_t u) {
        out.push_back(static_cast<char>(u & 0xff));
        out.push_back(static_cast<char>(u >> 8));
    };
    size_t i = 0;
    while (i < s.size()) {
        const auto b0 = static_cast<uint8_t>(s[i]);
        size_t n;
        uint32_t cp;
        uint32_t min;
        if (b0 < 0x80) {
            n = 1, cp = b0, min = 0;
        } else if ((b0 & 0xe0) == 0xc0) {
            n = 2, cp = b0 & 0x1f, min = 0x80;
        } else if ((b0 & 0xf0) == 0xe0) {
            n = 3, cp = b0 & 0x0f, min = 0x800;
        } else if ((b0 & 0xf8) == 0xf0) {
            n = 4, cp = b0 & 0x07, min = 0x10000;
        } else {
            crypto::secure_wipe(out.data(), out.size());
            throw std::invalid_argument("malformed UTF-8 (bad lead byte at offset " + std::to_string(i) + ")");
        }
        if (i + n > s.size()) {
            crypto::secure_wipe(out.data(), out.size());
            throw std::invalid_argument("malformed UTF-8 (truncated sequence at offset " + std::to_string(i) + ")");
        }
        for (size_t k = 1; k < n; ++k) {
            const auto b = static_cast<uint8_t>(s[i + k]);
            if ((b & 0xc0) != 0x80) {
                crypto::secure_wipe(out.data(), out.size());
                throw std::invalid_argument("malformed UTF-8 (bad continuation at offset " + std::to_string(i + k) + ")");
            }
            cp = cp << 6 | (b & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            crypto::secure_wipe(out.data(), out.size());
            throw std::invalid_argument("malformed UTF-8 (overlong, surrogate or out-of-range code point at offset " +
                                        std::to_string(i) + ")");
        }
        if (cp >= 0x10000) {
            cp -= 0x10000;
            put(0xd800 | (cp >> 10));
            put(0xdc00 | (cp & 0x3ff));
        } else {
            put(cp);
        }
        i += n;
    }
    return out;
}

std::array<uint8_t, 16> md4(std::span<const uint8_t> data) {
    std::array<uint8_t, 16> out{};
    md4_into(data, out.data());
    return out;
}

crypto::SecretBytes nt_password_hash(std::string_view utf8_password) {
    std::string u16 = utf8_to_utf16le(utf8_password);
    crypto::SecretBytes out(16);
    try {
        md4_into({reinterpret_cast<const uint8_t*>(u16.data()), u16.size()}, out.mutable_bytes().data());
    } catch (...) {
        crypto::secure_wipe(u16.data(), u16.size());
        throw;
    }
    crypto::secure_wipe(u16.data(), u16.size());
    return out;
}

void des_encrypt_block(const uint8_t key7[7], const uint8_t in[8], uint8_t out[8]) {
    // RFC 2759 §8.6 / MS-CHAP's DES key: bit string k0..k55 cut into eight 7-bit groups,
    // each the high bits of a key byte whose low bit is the odd parity.
    const EVP_CIPHER* des = legacy().des();
    uint8_t key8[8];
    uint64_t bits = 0;
    for (int i = 0; i < 7; ++i) bits = bits << 8 | key7[i];
    for (int i = 0; i < 8; ++i) {
        auto b = static_cast<uint8_t>(((bits >> (49 - 7 * i)) & 0x7f) << 1);
        b |= (__builtin_popcount(b) & 1) == 0 ? 1 : 0;
        key8[i] = b;
    }
    std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> c(EVP_CIPHER_CTX_new());
    int len = 0;
    int fin = 0;
    const bool ok = c && EVP_EncryptInit_ex2(c.get(), des, key8, nullptr, nullptr) == 1 &&
                    EVP_CIPHER_CTX_set_padding(c.get(), 0) == 1 &&
                    EVP_EncryptUpdate(c.get(), out, &len, in, 8) == 1 &&
                    EVP_EncryptFinal_ex(c.get(), out + len, &fin) == 1 && len + fin == 8;
    crypto::secure_wipe(key8, sizeof key8);
    bits = 0;
    if (!ok) {
        ERR_clear_error();
        throw std::runtime_error("DES encryption failed");
    }
}

}  // namespace espgw::ike

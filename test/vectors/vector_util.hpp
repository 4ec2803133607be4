#pragma once
// Helpers shared by the vector tests: hex literals, sessions, running one op through
// an engine, and OpenSSL reference primitives called directly (not through OsslEngine).

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/engine_mb.hpp"
#include "crypto/engine_openssl.hpp"
#include "crypto/op.hpp"
#include "crypto/session.hpp"

namespace espgw::test {

using Bytes = std::vector<uint8_t>;

/// Hex string to bytes; spaces are ignored. Throws on malformed input (test bug).
inline Bytes hex(std::string_view h) {
    Bytes out;
    int hi = -1;
    for (char c : h) {
        if (c == ' ' || c == '\n') continue;
        int v;
        if (c >= '0' && c <= '9') v = c - '0';
        else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
        else throw std::invalid_argument("bad hex in test vector");
        if (hi < 0) {
            hi = v;
        } else {
            out.push_back(static_cast<uint8_t>(hi << 4 | v));
            hi = -1;
        }
    }
    if (hi >= 0) throw std::invalid_argument("odd hex in test vector");
    return out;
}

inline Bytes ascii(std::string_view s) { return Bytes(s.begin(), s.end()); }

inline Bytes cat(Bytes a, const Bytes& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

/// Builds a session or fails the test with session_init's reason.
inline void make_session(crypto::Session& s, crypto::Suite suite, const Bytes& keymat,
                         const Bytes& auth_key) {
    std::string err;
    if (!crypto::session_init(s, suite, keymat, auth_key, &err))
        throw std::runtime_error("session_init: " + err);
}

/// Runs one op through `e`; returns its status.
template <class Engine>
crypto::OpStatus run_one(Engine& e, crypto::Op& op, bool enc) {
    const uint32_t ok = enc ? e.encrypt({&op, 1}) : e.decrypt({&op, 1});
    if ((ok == 1) != (op.status == crypto::OpStatus::ok)) throw std::logic_error("engine count/status disagree");
    return op.status;
}

/// Reference HMAC (OpenSSL's one-shot HMAC), full length.
inline Bytes ref_hmac(const EVP_MD* md, const Bytes& key, const uint8_t* msg, size_t len) {
    uint8_t out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (HMAC(md, key.data(), static_cast<int>(key.size()), msg, len, out, &n) == nullptr)
        throw std::runtime_error("HMAC failed");
    return Bytes(out, out + n);
}

/// Reference single-block AES-ECB encryption (16- or 32-byte key).
inline Bytes ref_aes_ecb_block(const Bytes& key, const uint8_t in[16]) {
    EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
    const EVP_CIPHER* ecb = key.size() == 16 ? EVP_aes_128_ecb() : EVP_aes_256_ecb();
    uint8_t out[32];
    int n = 0;
    const bool ok = EVP_EncryptInit_ex(c, ecb, nullptr, key.data(), nullptr) == 1 &&
                    EVP_CIPHER_CTX_set_padding(c, 0) == 1 && EVP_EncryptUpdate(c, out, &n, in, 16) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!ok || n != 16) throw std::runtime_error("AES-ECB failed");
    return Bytes(out, out + 16);
}

/// Reference AES-GCM tag over `aad` with empty plaintext (= GMAC, RFC 4543 §3).
inline Bytes ref_gmac(const Bytes& key, const uint8_t nonce[12], const Bytes& aad) {
    EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
    const EVP_CIPHER* gcm = key.size() == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
    uint8_t tag[16], fin[16];
    int n = 0;
    bool ok = EVP_EncryptInit_ex(c, gcm, nullptr, key.data(), nonce) == 1;
    if (ok && !aad.empty()) ok = EVP_EncryptUpdate(c, nullptr, &n, aad.data(), static_cast<int>(aad.size())) == 1;
    ok = ok && EVP_EncryptFinal_ex(c, fin, &n) == 1 && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!ok) throw std::runtime_error("GMAC failed");
    return Bytes(tag, tag + 16);
}

}  // namespace espgw::test

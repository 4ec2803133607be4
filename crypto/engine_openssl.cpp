#include "crypto/engine_openssl.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cstring>
#include <stdexcept>
#include <string>

#include "crypto/cbc_iv.hpp"
#include "crypto/secret.hpp"

namespace espgw::crypto {

namespace {

// Every EVP object is fetched once per engine: OpenSSL 3 otherwise does an implicit
// fetch (a locked method-store lookup) on each EVP_CipherInit_ex with a legacy
// EVP_aes_*() pointer.
enum CipherSlot : int {
    kGcm128, kGcm256, kChacha, kCbc128, kCbc256, kEcb128, kEcb256, kNumCiphers
};
constexpr const char* kCipherNames[kNumCiphers] = {
    "AES-128-GCM", "AES-256-GCM", "ChaCha20-Poly1305", "AES-128-CBC",
    "AES-256-CBC", "AES-128-ECB", "AES-256-ECB",
};
enum MacSlot : int { kSha1, kSha256, kSha512, kNumMacs };
constexpr const char* kDigestNames[kNumMacs] = {"SHA1", "SHA256", "SHA512"};

// The engine's state; OsslEngine::Ctx (private) is this type.
struct OsslCtx {
    EVP_CIPHER* ciphers[kNumCiphers] = {};
    EVP_CIPHER_CTX* cipher = nullptr;
    const EVP_CIPHER* loaded = nullptr;  ///< cipher the context was last initialised with
    EVP_MAC* hmac = nullptr;
    EVP_MAC_CTX* macs[kNumMacs] = {};    ///< one per digest, the digest set once

    OsslCtx() = default;
    OsslCtx(const OsslCtx&) = delete;
    OsslCtx& operator=(const OsslCtx&) = delete;
    ~OsslCtx() {
        for (auto* m : macs) EVP_MAC_CTX_free(m);
        EVP_MAC_free(hmac);
        EVP_CIPHER_CTX_free(cipher);
        for (auto* c : ciphers) EVP_CIPHER_free(c);
    }
};

}  // namespace

struct OsslEngine::Ctx : OsslCtx {};

OsslEngine::OsslEngine() : ctx_(new Ctx) {
    auto fail = [this](const char* what) {
        delete ctx_;
        ctx_ = nullptr;
        throw std::runtime_error(std::string("OpenSSL: ") + what);
    };
    for (int i = 0; i < kNumCiphers; ++i) {
        ctx_->ciphers[i] = EVP_CIPHER_fetch(nullptr, kCipherNames[i], nullptr);
        if (ctx_->ciphers[i] == nullptr) fail("cipher not available");
    }
    ctx_->cipher = EVP_CIPHER_CTX_new();
    if (ctx_->cipher == nullptr) fail("EVP_CIPHER_CTX_new failed");
    ctx_->hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (ctx_->hmac == nullptr) fail("HMAC not available");
    for (int i = 0; i < kNumMacs; ++i) {
        ctx_->macs[i] = EVP_MAC_CTX_new(ctx_->hmac);
        if (ctx_->macs[i] == nullptr) fail("EVP_MAC_CTX_new failed");
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(kDigestNames[i]), 0),
            OSSL_PARAM_construct_end()};
        if (EVP_MAC_CTX_set_params(ctx_->macs[i], params) != 1) fail("HMAC digest not available");
    }
}

OsslEngine::~OsslEngine() { delete ctx_; }

namespace {

EVP_CIPHER* cipher_for(const OsslCtx& c, Cipher cipher) {
    switch (cipher) {
        case Cipher::aes_gcm_128:
        case Cipher::aes_gmac_128: return c.ciphers[kGcm128];
        case Cipher::aes_gcm_256:
        case Cipher::aes_gmac_256: return c.ciphers[kGcm256];
        case Cipher::chacha20_poly1305: return c.ciphers[kChacha];
        case Cipher::aes_cbc_128: return c.ciphers[kCbc128];
        case Cipher::aes_cbc_256: return c.ciphers[kCbc256];
        default: return nullptr;
    }
}

EVP_MAC_CTX* mac_for(const OsslCtx& c, Integ i) {
    switch (i) {
        case Integ::hmac_sha1_96: return c.macs[kSha1];
        case Integ::hmac_sha256_128: return c.macs[kSha256];
        case Integ::hmac_sha512_256: return c.macs[kSha512];
        default: return nullptr;
    }
}

// (Re)initialises the context for `cipher`, keeping the provider context when the
// previous op used the same algorithm (only key, IV and direction change).
bool cipher_init(OsslCtx& c, const EVP_CIPHER* cipher, const uint8_t* key, const uint8_t* iv,
                 int enc) {
    const EVP_CIPHER* type = cipher == c.loaded ? nullptr : cipher;
    if (EVP_CipherInit_ex(c.cipher, type, nullptr, key, iv, enc) != 1) {
        c.loaded = nullptr;
        return false;
    }
    c.loaded = cipher;
    return true;
}

// RFC 4106 §4 / RFC 4543 §3.1 / RFC 7634 §2: nonce = salt (4) || IV (8); 12 bytes is
// the default nonce length of all three EVP ciphers.
bool aead(OsslCtx& c, const Op& op, bool enc, uint8_t tag[16]) {
    const Session& s = *op.session;
    uint8_t nonce[12];
    std::memcpy(nonce, s.salt, 4);
    std::memcpy(nonce + 4, op.iv, 8);
    int n = 0;
    if (!cipher_init(c, cipher_for(c, s.suite.cipher), s.enc_key, nonce, enc)) return false;
    if (op.aad_len != 0 && EVP_CipherUpdate(c.cipher, nullptr, &n, op.aad, static_cast<int>(op.aad_len)) != 1)
        return false;
    if (op.data_len != 0 &&
        EVP_CipherUpdate(c.cipher, op.data, &n, op.data, static_cast<int>(op.data_len)) != 1)
        return false;
    if (!enc && EVP_CIPHER_CTX_ctrl(c.cipher, EVP_CTRL_AEAD_SET_TAG, 16, tag) != 1) return false;
    uint8_t fin[16];
    if (EVP_CipherFinal_ex(c.cipher, fin, &n) != 1) return false;  // decrypt: tag mismatch
    if (enc && EVP_CIPHER_CTX_ctrl(c.cipher, EVP_CTRL_AEAD_GET_TAG, 16, tag) != 1) return false;
    return true;
}

// RFC 3602: AES-CBC over whole blocks, no padding (ESP pads itself, RFC 4303 §2.4).
bool cbc(OsslCtx& c, const Op& op, bool enc) {
    const Session& s = *op.session;
    if (op.data_len == 0) return true;
    int n = 0;
    if (!cipher_init(c, cipher_for(c, s.suite.cipher), s.enc_key, op.iv, enc)) return false;
    EVP_CIPHER_CTX_set_padding(c.cipher, 0);
    if (EVP_CipherUpdate(c.cipher, op.data, &n, op.data, static_cast<int>(op.data_len)) != 1) return false;
    uint8_t fin[32];
    return EVP_CipherFinal_ex(c.cipher, fin, &n) == 1;
}

// The reference CBC IV (cbc_iv.hpp): AES-ECB of the seed block with the raw key.
bool cbc_iv(OsslCtx& c, const Op& op) {
    const Session& s = *op.session;
    const EVP_CIPHER* ecb = c.ciphers[s.suite.cipher == Cipher::aes_cbc_128 ? kEcb128 : kEcb256];
    uint8_t block[16];
    cbc_iv_block(op.iv_seed, block);
    int n = 0;
    if (!cipher_init(c, ecb, s.enc_key, nullptr, 1)) return false;
    EVP_CIPHER_CTX_set_padding(c.cipher, 0);
    return EVP_EncryptUpdate(c.cipher, op.iv, &n, block, 16) == 1 && n == 16;
}

// RFC 2104 HMAC over op.auth, full length into `out` (truncated by the caller).
bool hmac(OsslCtx& c, const Op& op, uint8_t out[64]) {
    const Session& s = *op.session;
    EVP_MAC_CTX* m = mac_for(c, s.suite.integ);
    size_t len = 0;
    return m != nullptr && EVP_MAC_init(m, s.auth_key, s.info.auth_key_bytes, nullptr) == 1 &&
           EVP_MAC_update(m, op.auth, op.auth_len) == 1 && EVP_MAC_final(m, out, &len, 64) == 1;
}

bool lengths_ok(const Op& op) {
    const SuiteInfo& i = op.session->info;
    if (i.aead) {
        if (!i.encrypts && op.data_len != 0) return false;  // GMAC: nothing is enciphered
        return (op.data_len == 0 || op.data != nullptr) && op.iv != nullptr && op.icv != nullptr;
    }
    if (op.auth == nullptr || op.icv == nullptr) return false;
    // RFC 3602 §3: whole blocks, at least one (ESP's pad length and next header); the
    // ciphertext lies inside the hashed region, as MbEngine requires (same contract).
    if (i.encrypts && (op.data_len == 0 || op.data_len % 16 != 0 || op.iv == nullptr || op.data < op.auth ||
                       op.data + op.data_len > op.auth + op.auth_len))
        return false;
    return true;
}

}  // namespace

uint32_t OsslEngine::encrypt(std::span<Op> ops) noexcept {
    uint32_t ok = 0;
    for (Op& op : ops) {
        const Session& s = *op.session;
        bool good = lengths_ok(op);
        if (good && s.info.aead) {
            uint8_t tag[16];
            good = aead(*ctx_, op, true, tag);
            if (good) std::memcpy(op.icv, tag, 16);
        } else if (good) {
            if (s.info.encrypts) good = cbc_iv(*ctx_, op) && cbc(*ctx_, op, true);
            uint8_t mac[64];
            // The ICV may overlap the end of the authenticated region (the ESN slot):
            // hash first, write after.
            if (good) good = hmac(*ctx_, op, mac);
            if (good) std::memcpy(op.icv, mac, s.info.icv_bytes);
        }
        op.status = good ? OpStatus::ok : OpStatus::error;
        ok += good;
    }
    return ok;
}

uint32_t OsslEngine::decrypt(std::span<Op> ops) noexcept {
    uint32_t ok = 0;
    for (Op& op : ops) {
        const Session& s = *op.session;
        if (!lengths_ok(op)) {
            op.status = OpStatus::error;
            continue;
        }
        if (s.info.aead) {
            uint8_t tag[16];
            std::memcpy(tag, op.icv, 16);
            op.status = aead(*ctx_, op, false, tag) ? OpStatus::ok : OpStatus::auth_failed;
        } else {
            uint8_t mac[64];
            // RFC 4303 §3.4.4: verify the ICV before decrypting.
            if (!hmac(*ctx_, op, mac)) {
                op.status = OpStatus::error;
            } else if (!ct_equal(mac, op.icv, s.info.icv_bytes)) {
                op.status = OpStatus::auth_failed;
            } else {
                op.status = (!s.info.encrypts || cbc(*ctx_, op, false)) ? OpStatus::ok : OpStatus::error;
            }
            secure_wipe(mac, sizeof mac);
        }
        ok += op.status == OpStatus::ok;
    }
    return ok;
}

}  // namespace espgw::crypto

#include "crypto/engine_openssl.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstring>
#include <stdexcept>

#include "crypto/cbc_iv.hpp"
#include "crypto/secret.hpp"

namespace espgw::crypto {

struct OsslEngine::Ctx {
    EVP_CIPHER_CTX* cipher = nullptr;
};

OsslEngine::OsslEngine() : ctx_(new Ctx) {
    ctx_->cipher = EVP_CIPHER_CTX_new();
    if (ctx_->cipher == nullptr) {
        delete ctx_;
        throw std::runtime_error("OpenSSL: EVP_CIPHER_CTX_new failed");
    }
}

OsslEngine::~OsslEngine() {
    EVP_CIPHER_CTX_free(ctx_->cipher);
    delete ctx_;
}

namespace {

const EVP_CIPHER* aead_cipher(Cipher c) {
    switch (c) {
        case Cipher::aes_gcm_128:
        case Cipher::aes_gmac_128: return EVP_aes_128_gcm();
        case Cipher::aes_gcm_256:
        case Cipher::aes_gmac_256: return EVP_aes_256_gcm();
        case Cipher::chacha20_poly1305: return EVP_chacha20_poly1305();
        default: return nullptr;
    }
}

const EVP_MD* hmac_md(Integ i) {
    switch (i) {
        case Integ::hmac_sha1_96: return EVP_sha1();
        case Integ::hmac_sha256_128: return EVP_sha256();
        case Integ::hmac_sha512_256: return EVP_sha512();
        default: return nullptr;
    }
}

// RFC 4106 §4 / RFC 7634 §2: nonce = salt (4) || IV (8).
void make_nonce(const Session& s, const uint8_t* iv, uint8_t nonce[12]) {
    std::memcpy(nonce, s.salt, 4);
    std::memcpy(nonce + 4, iv, 8);
}

bool aead(EVP_CIPHER_CTX* c, const Op& op, bool enc, uint8_t tag[16]) {
    const Session& s = *op.session;
    uint8_t nonce[12];
    make_nonce(s, op.iv, nonce);
    int n = 0;
    if (EVP_CipherInit_ex(c, aead_cipher(s.suite.cipher), nullptr, nullptr, nullptr, enc) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, 12, nullptr) != 1 ||
        EVP_CipherInit_ex(c, nullptr, nullptr, s.enc_key, nonce, enc) != 1)
        return false;
    if (op.aad_len != 0 && EVP_CipherUpdate(c, nullptr, &n, op.aad, static_cast<int>(op.aad_len)) != 1)
        return false;
    if (op.data_len != 0 &&
        EVP_CipherUpdate(c, op.data, &n, op.data, static_cast<int>(op.data_len)) != 1)
        return false;
    if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, tag) != 1) return false;
    uint8_t fin[16];
    if (EVP_CipherFinal_ex(c, fin, &n) != 1) return false;  // decrypt: tag mismatch
    if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, tag) != 1) return false;
    return true;
}

bool cbc(EVP_CIPHER_CTX* c, const Op& op, bool enc) {
    const Session& s = *op.session;
    if (op.data_len == 0) return true;
    const EVP_CIPHER* cipher = s.suite.cipher == Cipher::aes_cbc_128 ? EVP_aes_128_cbc() : EVP_aes_256_cbc();
    int n = 0;
    if (EVP_CipherInit_ex(c, cipher, nullptr, s.enc_key, op.iv, enc) != 1) return false;
    EVP_CIPHER_CTX_set_padding(c, 0);
    if (EVP_CipherUpdate(c, op.data, &n, op.data, static_cast<int>(op.data_len)) != 1) return false;
    uint8_t fin[32];
    return EVP_CipherFinal_ex(c, fin, &n) == 1;
}

// The reference CBC IV: AES-ECB of the seed block with the raw key.
bool cbc_iv(EVP_CIPHER_CTX* c, const Op& op) {
    const Session& s = *op.session;
    const EVP_CIPHER* ecb = s.suite.cipher == Cipher::aes_cbc_128 ? EVP_aes_128_ecb() : EVP_aes_256_ecb();
    uint8_t block[16];
    cbc_iv_block(op.iv_seed, block);
    int n = 0;
    if (EVP_EncryptInit_ex(c, ecb, nullptr, s.enc_key, nullptr) != 1) return false;
    EVP_CIPHER_CTX_set_padding(c, 0);
    return EVP_EncryptUpdate(c, op.iv, &n, block, 16) == 1 && n == 16;
}

bool hmac(const Op& op, uint8_t out[64]) {
    const Session& s = *op.session;
    unsigned int len = 0;
    return HMAC(hmac_md(s.suite.integ), s.auth_key, s.info.auth_key_bytes, op.auth, op.auth_len, out,
                &len) != nullptr;
}

bool lengths_ok(const Op& op) {
    const SuiteInfo& i = op.session->info;
    if (!i.aead && i.encrypts && op.data_len % 16 != 0) return false;
    if (!i.aead && op.auth == nullptr) return false;
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
            good = aead(ctx_->cipher, op, true, tag);
            if (good) std::memcpy(op.icv, tag, 16);
        } else if (good) {
            if (s.info.encrypts) good = cbc_iv(ctx_->cipher, op) && cbc(ctx_->cipher, op, true);
            uint8_t mac[64];
            // The ICV may overlap the end of the authenticated region (the ESN slot):
            // hash first, write after.
            if (good) good = hmac(op, mac);
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
            op.status = aead(ctx_->cipher, op, false, tag) ? OpStatus::ok : OpStatus::auth_failed;
        } else {
            uint8_t mac[64];
            // RFC 4303 §3.4.4: verify the ICV before decrypting.
            if (!hmac(op, mac)) {
                op.status = OpStatus::error;
            } else if (!ct_equal(mac, op.icv, s.info.icv_bytes)) {
                op.status = OpStatus::auth_failed;
            } else {
                op.status = (!s.info.encrypts || cbc(ctx_->cipher, op, false)) ? OpStatus::ok : OpStatus::error;
            }
        }
        ok += op.status == OpStatus::ok;
    }
    return ok;
}

}  // namespace espgw::crypto

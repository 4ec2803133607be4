#include "control/ike/sk_payload.hpp"

#include "control/ike/wire.hpp"
#include "crypto/secret.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <memory>
#include <algorithm>
#include <stdexcept>

namespace espgw::ike {

namespace {

struct CipherCtxFree { void operator()(EVP_CIPHER_CTX* c) const noexcept { EVP_CIPHER_CTX_free(c); } };
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

constexpr size_t GCM_IV = 8;    // RFC 5282 §3.1: 8-byte explicit IV
constexpr size_t GCM_SALT = 4;  // RFC 5282 §7.1

/// CBC block size = IV size (§3.14): 16 for AES, 8 for 3DES (legacy).
size_t cbc_block(const Algorithms& a) { return a.encr == ENCR_3DES ? 8 : 16; }

const EVP_CIPHER* cipher_for(const Algorithms& a) {
    if (a.encr == ENCR_AES_GCM_16) {
        switch (a.encr_key_bits) {
            case 128: return EVP_aes_128_gcm();
            case 192: return EVP_aes_192_gcm();
            case 256: return EVP_aes_256_gcm();
        }
    } else if (a.encr == ENCR_AES_CBC) {
        switch (a.encr_key_bits) {
            case 128: return EVP_aes_128_cbc();
            case 192: return EVP_aes_192_cbc();
            case 256: return EVP_aes_256_cbc();
        }
    } else if (a.encr == ENCR_3DES) {
        return EVP_des_ede3_cbc();
    }
    return nullptr;
}

const EVP_MD* md_for_integ(uint16_t integ) {
    switch (integ) {
        case AUTH_HMAC_SHA1_96: return EVP_sha1();
        case AUTH_HMAC_SHA2_256_128: return EVP_sha256();
        case AUTH_HMAC_SHA2_384_192: return EVP_sha384();
        case AUTH_HMAC_SHA2_512_256: return EVP_sha512();
        default: return nullptr;
    }
}

size_t iv_len(const Algorithms& a) { return a.aead() ? GCM_IV : cbc_block(a); }

// AES-GCM over `in` with aad; encrypt writes tag, decrypt checks it. Returns false on
// tag mismatch or libcrypto failure.
bool gcm(bool enc, const Algorithms& a, std::span<const uint8_t> key_salt, std::span<const uint8_t> iv8,
         std::span<const uint8_t> aad, std::span<const uint8_t> in, uint8_t* out, uint8_t* tag) {
    const size_t klen = a.encr_key_bits / 8u;
    uint8_t nonce[12];
    std::copy_n(key_salt.begin() + static_cast<ptrdiff_t>(klen), GCM_SALT, nonce);
    std::copy_n(iv8.begin(), GCM_IV, nonce + GCM_SALT);
    CipherCtx c(EVP_CIPHER_CTX_new());
    int len = 0;
    if (!c || EVP_CipherInit_ex(c.get(), cipher_for(a), nullptr, key_salt.data(), nonce, enc ? 1 : 0) != 1)
        return false;
    if (EVP_CipherUpdate(c.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) return false;
    if (!in.empty() && EVP_CipherUpdate(c.get(), out, &len, in.data(), static_cast<int>(in.size())) != 1)
        return false;
    if (!enc && EVP_CIPHER_CTX_ctrl(c.get(), EVP_CTRL_GCM_SET_TAG, 16, tag) != 1) return false;
    if (EVP_CipherFinal_ex(c.get(), out + in.size(), &len) != 1) return false;
    if (enc && EVP_CIPHER_CTX_ctrl(c.get(), EVP_CTRL_GCM_GET_TAG, 16, tag) != 1) return false;
    return true;
}

bool cbc(bool enc, const Algorithms& a, std::span<const uint8_t> key, std::span<const uint8_t> iv,
         std::span<const uint8_t> in, uint8_t* out) {
    CipherCtx c(EVP_CIPHER_CTX_new());
    int len = 0, fin = 0;
    if (!c || EVP_CipherInit_ex(c.get(), cipher_for(a), nullptr, key.data(), iv.data(), enc ? 1 : 0) != 1)
        return false;
    EVP_CIPHER_CTX_set_padding(c.get(), 0);
    if (EVP_CipherUpdate(c.get(), out, &len, in.data(), static_cast<int>(in.size())) != 1) return false;
    return EVP_CipherFinal_ex(c.get(), out + len, &fin) == 1;
}

void hmac(const Algorithms& a, std::span<const uint8_t> key, std::span<const uint8_t> data, uint8_t* out) {
    uint8_t full[64];
    unsigned int len = 0;
    if (HMAC(md_for_integ(a.integ), key.data(), static_cast<int>(key.size()), data.data(), data.size(), full,
             &len) == nullptr)
        throw std::runtime_error("HMAC failed");
    std::copy_n(full, icv_bytes(a), out);
}

}  // namespace

std::string_view name(SkError e) noexcept {
    switch (e) {
        case SkError::OK: return "ok";
        case SkError::TOO_SHORT: return "sk_too_short";
        case SkError::BAD_BLOCK_SIZE: return "sk_bad_block_size";
        case SkError::ICV_MISMATCH: return "sk_icv_mismatch";
        case SkError::BAD_PADDING: return "sk_bad_padding";
        case SkError::UNSUPPORTED: return "sk_unsupported";
    }
    return "unknown";
}

size_t sealed_len(const Algorithms& alg, size_t plain_len) {
    // §3.14: plaintext | padding | pad length. CBC needs a whole number of blocks;
    // GCM needs no padding (RFC 5282 §3), so the pad length byte is 0.
    size_t pad = 0;
    if (!alg.aead()) pad = (cbc_block(alg) - (plain_len + 1) % cbc_block(alg)) % cbc_block(alg);
    return iv_len(alg) + plain_len + pad + 1 + icv_bytes(alg);
}

void seal_body(const Algorithms& alg, const SkKeys& keys, std::span<const uint8_t> plain_in, Bytes& out) {
    if (cipher_for(alg) == nullptr || (!alg.aead() && md_for_integ(alg.integ) == nullptr))
        throw std::runtime_error("unsupported IKE encryption algorithm");
    Bytes plain(plain_in.begin(), plain_in.end());
    size_t pad = 0;
    if (!alg.aead()) pad = (cbc_block(alg) - (plain.size() + 1) % cbc_block(alg)) % cbc_block(alg);
    plain.insert(plain.end(), pad, 0);
    plain.push_back(static_cast<uint8_t>(pad));

    const size_t ivl = iv_len(alg), icv = icv_bytes(alg);
    const size_t aad_len = out.size();
    out.resize(aad_len + ivl + plain.size() + icv);
    uint8_t* iv = out.data() + aad_len;
    // §3.14: the IV must be unpredictable for CBC; for GCM it must be unique per key —
    // random 64 bits per message is what RFC 5282 §3.1 allows for low message rates.
    if (RAND_bytes(iv, static_cast<int>(ivl)) != 1) throw std::runtime_error("RAND_bytes failed");
    uint8_t* ct = iv + ivl;
    uint8_t* icv_at = ct + plain.size();
    bool ok;
    if (alg.aead()) {
        // RFC 5282 §5.1: AAD = IKE header through the encrypted payload's header (before the IV).
        ok = gcm(true, alg, keys.encr, std::span<const uint8_t>(iv, ivl),
                 std::span<const uint8_t>(out.data(), aad_len), plain, ct, icv_at);
    } else {
        ok = cbc(true, alg, keys.encr, std::span<const uint8_t>(iv, ivl), plain, ct);
        // §3.14: the ICV covers the message from the IKE header through the ciphertext.
        if (ok) hmac(alg, keys.integ, std::span<const uint8_t>(out.data(), out.size() - icv), icv_at);
    }
    crypto::secure_wipe(plain.data(), plain.size());
    if (!ok) throw std::runtime_error("IKE SK encryption failed");
}

Bytes encrypt_message(Header header, const std::vector<Payload>& inner, const Algorithms& alg,
                      const SkKeys& keys) {
    if (cipher_for(alg) == nullptr || (!alg.aead() && md_for_integ(alg.integ) == nullptr))
        throw std::runtime_error("unsupported IKE encryption algorithm");
    PayloadType first;
    Bytes plain = encode_payload_chain(inner, first);
    const size_t sk_len = GENERIC_HEADER_LEN + sealed_len(alg, plain.size());
    Bytes out(IKE_HEADER_LEN + GENERIC_HEADER_LEN);
    out.reserve(IKE_HEADER_LEN + sk_len);
    header.next_payload = PayloadType::SK;
    header.length = static_cast<uint32_t>(IKE_HEADER_LEN + sk_len);
    encode_header(header, out);
    out[IKE_HEADER_LEN] = static_cast<uint8_t>(first);
    out[IKE_HEADER_LEN + 1] = 0;
    out[IKE_HEADER_LEN + 2] = static_cast<uint8_t>(sk_len >> 8);
    out[IKE_HEADER_LEN + 3] = static_cast<uint8_t>(sk_len);
    try {
        seal_body(alg, keys, plain, out);
    } catch (...) {
        crypto::secure_wipe(plain.data(), plain.size());
        throw;
    }
    crypto::secure_wipe(plain.data(), plain.size());
    return out;
}

SkError open_body(std::span<const uint8_t> message, size_t body_offset, const Algorithms& alg, const SkKeys& keys,
                  Bytes& plain) {
    plain.clear();
    if (cipher_for(alg) == nullptr || (!alg.aead() && md_for_integ(alg.integ) == nullptr))
        return SkError::UNSUPPORTED;
    if (body_offset > message.size()) return SkError::TOO_SHORT;
    const std::span<const uint8_t> body = message.subspan(body_offset);
    const size_t ivl = iv_len(alg), icv = icv_bytes(alg);
    if (body.size() < ivl + icv + 1) return SkError::TOO_SHORT;
    const size_t ct_len = body.size() - ivl - icv;
    if (!alg.aead() && (ct_len == 0 || ct_len % cbc_block(alg) != 0)) return SkError::BAD_BLOCK_SIZE;
    const std::span<const uint8_t> iv(body.data(), ivl);
    const std::span<const uint8_t> ct(body.data() + ivl, ct_len);
    uint8_t tag[32];
    std::copy_n(body.data() + ivl + ct_len, icv, tag);
    plain.resize(ct_len + 16);
    if (alg.aead()) {
        if (!gcm(false, alg, keys.encr, iv, message.first(body_offset), ct, plain.data(), tag)) {
            crypto::secure_wipe(plain.data(), plain.size());
            plain.clear();
            return SkError::ICV_MISMATCH;
        }
    } else {
        // Encrypt-then-MAC: verify over header..ciphertext in constant time first.
        uint8_t want[32];
        hmac(alg, keys.integ, message.first(message.size() - icv), want);
        if (!crypto::ct_equal(want, tag, icv) || !cbc(false, alg, keys.encr, iv, ct, plain.data())) {
            plain.clear();
            return SkError::ICV_MISMATCH;
        }
    }
    plain.resize(ct_len);
    const size_t pad = plain.back();
    if (pad + 1 > plain.size()) {
        crypto::secure_wipe(plain.data(), plain.size());
        plain.clear();
        return SkError::BAD_PADDING;
    }
    plain.resize(plain.size() - pad - 1);
    return SkError::OK;
}

SkError decrypt_message(std::span<const uint8_t> message, const SkPayload& sk, const Algorithms& alg,
                        const SkKeys& keys, std::vector<Payload>& inner, ParseError& parse_err) {
    parse_err = ParseError::OK;
    // The SK payload is the last one (§3.14): its body runs to the end of the message.
    const size_t body_offset = sk.offset + GENERIC_HEADER_LEN;
    if (body_offset + sk.body.size() != message.size()) return SkError::TOO_SHORT;
    Bytes plain;
    const SkError e = open_body(message, body_offset, alg, keys, plain);
    if (e != SkError::OK) return e;
    parse_err = parse_payload_chain(sk.first_inner, plain, inner);
    crypto::secure_wipe(plain.data(), plain.size());
    return SkError::OK;
}

}  // namespace espgw::ike

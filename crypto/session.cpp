#include "crypto/session.hpp"

#include <cstring>
#include <memory>

#include "crypto/secret.hpp"

namespace espgw::crypto {

namespace {

// Key expansion needs a manager; SA installs happen on control threads, so each such
// thread keeps one for its lifetime.
IMB_MGR* control_mgr() {
    struct Deleter {
        void operator()(IMB_MGR* m) const { free_mb_mgr(m); }
    };
    thread_local std::unique_ptr<IMB_MGR, Deleter> mgr = [] {
        IMB_MGR* m = alloc_mb_mgr(0);
        if (m != nullptr) init_mb_mgr_auto(m, nullptr);
        detail::note_gcm_layout(m);
        return std::unique_ptr<IMB_MGR, Deleter>(m);
    }();
    return mgr.get();
}

// HMAC (RFC 2104) inner/outer states: one compression of key ^ ipad / key ^ opad,
// in the form intel-ipsec-mb's HMAC jobs take (the *_ONE_BLOCK functions).
void hmac_precompute(IMB_MGR* mgr, Integ integ, std::span<const uint8_t> key, Session& s) {
    const size_t block = integ == Integ::hmac_sha512_256 ? 128 : 64;
    alignas(16) uint8_t pad[128];
    for (int which = 0; which < 2; ++which) {
        const uint8_t x = which == 0 ? 0x36 : 0x5c;
        std::memset(pad, x, block);
        for (size_t i = 0; i < key.size(); ++i) pad[i] = static_cast<uint8_t>(key[i] ^ x);
        uint8_t* out = which == 0 ? s.hmac_ipad : s.hmac_opad;
        switch (integ) {
            case Integ::hmac_sha1_96: IMB_SHA1_ONE_BLOCK(mgr, pad, out); break;
            case Integ::hmac_sha256_128: IMB_SHA256_ONE_BLOCK(mgr, pad, out); break;
            case Integ::hmac_sha512_256: IMB_SHA512_ONE_BLOCK(mgr, pad, out); break;
            case Integ::none: break;
        }
    }
    secure_wipe(pad, sizeof pad);
}

}  // namespace

bool session_init(Session& out, Suite suite, std::span<const uint8_t> enc_keymat,
                  std::span<const uint8_t> auth_key, std::string* err) {
    session_wipe(out);
    auto fail = [&](const char* why) {
        session_wipe(out);
        if (err != nullptr) *err = why;
        return false;
    };
    const auto info = suite_info(suite);
    if (!info) return fail("invalid cipher/integrity combination");
    if (enc_keymat.size() != size_t{info->enc_key_bytes} + info->salt_bytes)
        return fail("encryption key has the wrong length for the cipher (key plus 4-byte salt for AEAD)");
    if (auth_key.size() != info->auth_key_bytes)
        return fail("integrity key has the wrong length for the algorithm");
    IMB_MGR* mgr = control_mgr();
    if (mgr == nullptr) return fail("intel-ipsec-mb manager allocation failed");

    out.suite = suite;
    out.info = *info;
    if (!enc_keymat.empty()) {  // NULL encryption has none (and data() may be null)
        std::memcpy(out.enc_key, enc_keymat.data(), info->enc_key_bytes);
        std::memcpy(out.salt, enc_keymat.data() + info->enc_key_bytes, info->salt_bytes);
    }
    if (!auth_key.empty()) std::memcpy(out.auth_key, auth_key.data(), auth_key.size());

    switch (suite.cipher) {
        case Cipher::aes_gcm_128:
        case Cipher::aes_gmac_128: IMB_AES128_GCM_PRE(mgr, out.enc_key, &out.mb.gcm); break;
        case Cipher::aes_gcm_256:
        case Cipher::aes_gmac_256: IMB_AES256_GCM_PRE(mgr, out.enc_key, &out.mb.gcm); break;
        case Cipher::aes_cbc_128: IMB_AES_KEYEXP_128(mgr, out.enc_key, out.mb.aes.enc, out.mb.aes.dec); break;
        case Cipher::aes_cbc_256: IMB_AES_KEYEXP_256(mgr, out.enc_key, out.mb.aes.enc, out.mb.aes.dec); break;
        case Cipher::chacha20_poly1305:
        case Cipher::null: break;
    }
    if (info->aead && suite.cipher != Cipher::chacha20_poly1305 && gcm_native::available())
        gcm_native::init(out.mb.gcm.expanded_keys, gcm_native::rounds_for(info->enc_key_bytes), out.gcm_h);
    hmac_precompute(mgr, suite.integ, auth_key, out);
    return true;
}

void session_wipe(Session& s) noexcept { secure_wipe(&s, sizeof s); }

}  // namespace espgw::crypto

// crypto/gcm_native (short AES-GCM on VAES + VPCLMULQDQ) against OpenSSL's EVP
// AES-GCM, independently: every payload length 0..128 with every AAD length 0..16
// (ESP uses 8 and 12), both key sizes, both directions, nothing written past the
// payload; batches of 1..4 packets under different keys; then MbEngine on both sides
// of its native limit giving the same bytes as with the limit at 0.

#include <catch2/catch.hpp>

#include <openssl/evp.h>

#include <cstring>
#include <random>
#include <vector>

#include "crypto/engine_mb.hpp"
#include "crypto/gcm_native.hpp"
#include "crypto/session.hpp"
#include "test/vectors/vector_util.hpp"

using namespace espgw;
using namespace espgw::crypto;
using espgw::test::Bytes;

namespace {

// OpenSSL reference: AES-GCM encrypt (or decrypt) with a 12-byte nonce; returns the tag
// computed over the ciphertext.
Bytes ossl_gcm(const Bytes& key, const uint8_t nonce[12], const Bytes& aad, Bytes& data, bool enc) {
    EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
    const EVP_CIPHER* alg = key.size() == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
    REQUIRE(EVP_CipherInit_ex(c, alg, nullptr, key.data(), nonce, enc ? 1 : 0) == 1);
    int n = 0;
    if (!aad.empty()) REQUIRE(EVP_CipherUpdate(c, nullptr, &n, aad.data(), static_cast<int>(aad.size())) == 1);
    Bytes out(data.size() + 16);
    int outl = 0;
    if (!data.empty())
        REQUIRE(EVP_CipherUpdate(c, out.data(), &outl, data.data(), static_cast<int>(data.size())) == 1);
    Bytes tag(16);
    if (enc) {
        REQUIRE(EVP_CipherFinal_ex(c, out.data() + outl, &n) == 1);
        REQUIRE(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag.data()) == 1);
    }
    EVP_CIPHER_CTX_free(c);
    if (!data.empty()) std::memcpy(data.data(), out.data(), data.size());
    return tag;
}

struct Keyed {
    Session s;
    Bytes key;
    uint32_t rounds;
};

void keyed(Keyed& k, bool k128, std::mt19937& rng) {
    k.key.resize(k128 ? 16 : 32);
    for (auto& b : k.key) b = static_cast<uint8_t>(rng());
    Bytes keymat = k.key;
    for (int i = 0; i < 4; ++i) keymat.push_back(static_cast<uint8_t>(rng()));
    test::make_session(k.s, {k128 ? Cipher::aes_gcm_128 : Cipher::aes_gcm_256, Integ::none}, keymat, {});
    k.rounds = k128 ? 10 : 14;
}

// gcm_native runs only on CPUs with VAES/VPCLMULQDQ/AVX-512; elsewhere MbEngine never
// calls it and its own tests say so.
bool native_here() {
    if (gcm_native::available()) return true;
    WARN("this CPU has no VAES/VPCLMULQDQ/AVX-512: gcm_native is not used here");
    return false;
}

}  // namespace

TEST_CASE("gcm_native equals OpenSSL AES-GCM at every payload length 0..128 and AAD length 0..16",
          "[gcm][native]") {
    if (!native_here()) return;
    std::mt19937 rng(20261123);
    for (bool k128 : {true, false}) {
        auto k = std::make_unique<Keyed>();
        keyed(*k, k128, rng);
        for (size_t i = 0; i < 17 * (gcm_native::kMaxData + 1); ++i) {  // every (len, aad_len)
            const size_t len = i % (gcm_native::kMaxData + 1), aad_len = i / (gcm_native::kMaxData + 1) % 17;
            Bytes aad(aad_len), pt(len);
            for (auto& b : aad) b = static_cast<uint8_t>(rng());
            for (auto& b : pt) b = static_cast<uint8_t>(rng());
            uint8_t nonce[12];
            for (auto& b : nonce) b = static_cast<uint8_t>(rng());
            INFO("AES-" << (k128 ? 128 : 256) << " len " << len << " aad " << aad_len);

            Bytes ref = pt;
            const Bytes ref_tag = ossl_gcm(k->key, nonce, aad, ref, true);
            // Guard bytes after the payload: nothing past len is written.
            Bytes buf = pt;
            buf.resize(len + 64, 0xa5);
            uint8_t tag[16];
            const auto g = gcm_native::batch_groups(static_cast<uint32_t>(len));
            gcm_native::Job job{k->s.mb.gcm.expanded_keys, &k->s.gcm_h, nonce, nonce + 4, aad.data(),
                                static_cast<uint32_t>(aad_len), static_cast<uint32_t>(len), buf.data(), tag};
            gcm_native::crypt_batch(&job, 1, k->rounds, true, g);
            REQUIRE(Bytes(buf.begin(), buf.begin() + static_cast<long>(len)) == ref);
            for (size_t j = len; j < len + 64; ++j) REQUIRE(buf[j] == 0xa5);
            REQUIRE(Bytes(tag, tag + 16) == ref_tag);

            // Decrypt restores the plaintext and gives the same tag (of the ciphertext).
            uint8_t tag2[16];
            job.tag = tag2;
            gcm_native::crypt_batch(&job, 1, k->rounds, false, g);
            REQUIRE(Bytes(buf.begin(), buf.begin() + static_cast<long>(len)) == pt);
            REQUIRE(Bytes(tag2, tag2 + 16) == ref_tag);
        }
    }
}

TEST_CASE("MbEngine gives the same bytes with and without gcm_native, and fails a flipped bit either way",
          "[gcm][native]") {
    std::mt19937 rng(7);
    auto k = std::make_unique<Keyed>();
    keyed(*k, true, rng);
    MbEngine native, plain;
    plain.set_native_gcm_max(0);
    REQUIRE(plain.native_gcm_max() == 0);
    if (gcm_native::available()) REQUIRE(native.native_gcm_max() == MbEngine::kNativeGcmMaxBytes);
    // Around the limit: both engines, ESP-shaped ops (8-byte AAD = SPI || seq).
    for (uint32_t len = 0; len <= MbEngine::kNativeGcmMaxBytes + 40; len += 4) {
        INFO("data_len " << len);
        Bytes pkt(16 + len + 16);
        for (auto& b : pkt) b = static_cast<uint8_t>(rng());
        Bytes a = pkt, b = pkt;
        auto bind = [&](Bytes& p) {
            Op op{};
            op.session = &k->s;
            op.aad = p.data();
            op.aad_len = 8;
            op.iv = p.data() + 8;
            op.data = p.data() + 16;
            op.data_len = len;
            op.icv = p.data() + 16 + len;
            return op;
        };
        Op oa = bind(a), ob = bind(b);
        REQUIRE(native.encrypt({&oa, 1}) == 1);
        REQUIRE(plain.encrypt({&ob, 1}) == 1);
        REQUIRE(a == b);
        Bytes flipped = a;
        flipped[rng() % flipped.size()] ^= 0x10;
        Op da = bind(a), df = bind(flipped);
        REQUIRE(plain.decrypt({&da, 1}) == 1);
        REQUIRE(Bytes(a.begin() + 16, a.begin() + 16 + len) == Bytes(pkt.begin() + 16, pkt.begin() + 16 + len));
        REQUIRE(native.decrypt({&df, 1}) == 0);
        REQUIRE(df.status == OpStatus::auth_failed);
    }
}

TEST_CASE("gcm_native batches of 1..4 packets under different keys equal OpenSSL, both directions",
          "[gcm][native]") {
    if (!native_here()) return;
    std::mt19937 rng(4);
    for (bool k128 : {true, false}) {
        std::vector<std::unique_ptr<Keyed>> keys;
        for (int i = 0; i < 3; ++i) {
            keys.push_back(std::make_unique<Keyed>());
            keyed(*keys.back(), k128, rng);
        }
        for (int round = 0; round < 400; ++round) {
            const uint32_t n = 1 + round % gcm_native::kMaxBatch;
            struct Pkt {
                Bytes salt_iv, aad, pt, buf, ref, ref_tag;
                uint8_t tag[16];
                const Keyed* k;
            } pk[gcm_native::kMaxBatch];
            gcm_native::Job jobs[gcm_native::kMaxBatch];
            const uint32_t groups = 1 + round / 2 % 2;  // one or two 4-block groups
            for (uint32_t i = 0; i < n; ++i) {
                Pkt& p = pk[i];
                p.k = keys[rng() % keys.size()].get();
                p.salt_iv.resize(12);
                for (auto& b : p.salt_iv) b = static_cast<uint8_t>(rng());
                std::memcpy(p.salt_iv.data(), p.k->s.salt, 4);  // the session's salt
                p.aad.resize(rng() % (gcm_native::kMaxAad + 1));
                p.pt.resize(groups == 1 ? rng() % 65 : 65 + rng() % (gcm_native::kMaxData - 64));
                for (auto& b : p.aad) b = static_cast<uint8_t>(rng());
                for (auto& b : p.pt) b = static_cast<uint8_t>(rng());
                p.ref = p.pt;
                p.ref_tag = ossl_gcm(p.k->key, p.salt_iv.data(), p.aad, p.ref, true);
                p.buf = p.pt;
                p.buf.resize(p.pt.size() + 64, 0x5a);
                jobs[i] = {p.k->s.mb.gcm.expanded_keys, &p.k->s.gcm_h, p.k->s.salt, p.salt_iv.data() + 4, p.aad.data(),
                           static_cast<uint32_t>(p.aad.size()), static_cast<uint32_t>(p.pt.size()), p.buf.data(), p.tag};
            }
            gcm_native::crypt_batch(jobs, n, k128 ? 10 : 14, true, groups);
            for (uint32_t i = 0; i < n; ++i) {
                Pkt& p = pk[i];
                INFO("round " << round << " packet " << i << " len " << p.pt.size() << " aad " << p.aad.size());
                REQUIRE(Bytes(p.buf.begin(), p.buf.begin() + static_cast<long>(p.pt.size())) == p.ref);
                for (size_t j = p.pt.size(); j < p.buf.size(); ++j) REQUIRE(p.buf[j] == 0x5a);
                REQUIRE(Bytes(p.tag, p.tag + 16) == p.ref_tag);
            }
            gcm_native::crypt_batch(jobs, n, k128 ? 10 : 14, false, groups);
            for (uint32_t i = 0; i < n; ++i) {
                Pkt& p = pk[i];
                REQUIRE(Bytes(p.buf.begin(), p.buf.begin() + static_cast<long>(p.pt.size())) == p.pt);
                REQUIRE(Bytes(p.tag, p.tag + 16) == p.ref_tag);
            }
        }
    }
}

TEST_CASE("MbEngine bursts mixing key sizes, short and long GCM payloads match intel-ipsec-mb alone",
          "[gcm][native]") {
    std::mt19937 rng(11);
    std::vector<std::unique_ptr<Keyed>> keys;
    for (bool k128 : {true, false, true}) {
        keys.push_back(std::make_unique<Keyed>());
        keyed(*keys.back(), k128, rng);
    }
    MbEngine native, plain;
    plain.set_native_gcm_max(0);
    constexpr uint32_t kOps = 37;
    std::vector<Bytes> a(kOps), b(kOps), orig(kOps);
    std::vector<Op> oa(kOps), ob(kOps);
    std::vector<uint32_t> len(kOps);
    std::vector<const Keyed*> kk(kOps);
    auto bind = [&](Bytes& p, uint32_t i) {
        Op op{};
        op.session = &kk[i]->s;
        op.aad = p.data();
        op.aad_len = i % 5 == 0 ? 12 : 8;  // ESN: SPI || seq_hi || seq_lo
        op.iv = p.data() + 12;
        op.data = p.data() + 20;
        op.data_len = len[i];
        op.icv = p.data() + 20 + len[i];
        return op;
    };
    for (int round = 0; round < 50; ++round) {
        for (uint32_t i = 0; i < kOps; ++i) {
            kk[i] = keys[rng() % keys.size()].get();
            len[i] = rng() % 3 == 0 ? 64 + rng() % 400 : rng() % 129;
            orig[i].resize(20 + len[i] + 16);
            for (auto& x : orig[i]) x = static_cast<uint8_t>(rng());
            a[i] = b[i] = orig[i];
            oa[i] = bind(a[i], i);
            ob[i] = bind(b[i], i);
        }
        REQUIRE(native.encrypt(oa) == kOps);
        REQUIRE(plain.encrypt(ob) == kOps);
        for (uint32_t i = 0; i < kOps; ++i) REQUIRE(a[i] == b[i]);
        // Decrypt with one packet in three corrupted: exactly those fail.
        uint32_t bad = 0;
        for (uint32_t i = 0; i < kOps; ++i) {
            if (i % 3 == 1) {  // a byte of the AAD, IV, payload or ICV (bytes aad_len..11 are none)
                const uint32_t gap = 12 - oa[i].aad_len;
                uint32_t pos = static_cast<uint32_t>(rng() % (a[i].size() - gap));
                if (pos >= oa[i].aad_len) pos += gap;
                a[i][pos] ^= 0x01;
                ++bad;
            }
            oa[i] = bind(a[i], i);
        }
        REQUIRE(native.decrypt(oa) == kOps - bad);
        for (uint32_t i = 0; i < kOps; ++i) {
            INFO("op " << i << " len " << len[i]);
            REQUIRE(oa[i].status == (i % 3 == 1 ? OpStatus::auth_failed : OpStatus::ok));
            if (i % 3 != 1) REQUIRE(Bytes(a[i].begin() + 20, a[i].end() - 16) == Bytes(orig[i].begin() + 20, orig[i].end() - 16));
        }
    }
}

// The data-path engine (intel-ipsec-mb) against the reference (OpenSSL) on random
// ESP-shaped bursts of every suite: same bytes out of encryption, each decrypts the
// other's output, and one flipped bit anywhere under the ICV fails both.

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "test/vectors/vector_util.hpp"

using namespace espgw;
using namespace espgw::crypto;
using espgw::test::Bytes;

namespace {

const Suite kSuites[] = {
    {Cipher::aes_gcm_128, Integ::none},          {Cipher::aes_gcm_256, Integ::none},
    {Cipher::chacha20_poly1305, Integ::none},    {Cipher::aes_gmac_128, Integ::none},
    {Cipher::aes_gmac_256, Integ::none},         {Cipher::aes_cbc_128, Integ::hmac_sha1_96},
    {Cipher::aes_cbc_128, Integ::hmac_sha256_128}, {Cipher::aes_cbc_128, Integ::hmac_sha512_256},
    {Cipher::aes_cbc_256, Integ::hmac_sha1_96},  {Cipher::aes_cbc_256, Integ::hmac_sha256_128},
    {Cipher::aes_cbc_256, Integ::hmac_sha512_256}, {Cipher::null, Integ::hmac_sha256_128},
};
constexpr size_t kNumSuites = std::size(kSuites);

std::string suite_str(Suite s) {
    return std::string(cipher_name(s.cipher)) + "/" + std::string(integ_name(s.integ));
}

// One synthetic packet: buf = header (8, or 12 with ESN for AEAD AAD) || IV || data ||
// ICV slot. HMAC suites with ESN authenticate 4 extra bytes (seq_hi) placed in the ICV
// slot, as RFC 4303 §3.3.2.1 has the ESP transform do; the ICV then overwrites them.
struct Pkt {
    const Session* s = nullptr;
    uint32_t hdr_len = 8, iv_len = 0, data_len = 0, icv_len = 0;
    bool esn = false;
    uint8_t seq_hi[4]{};
    uint64_t seed = 0;
    Bytes buf;
    Bytes icv_rx;  // HMAC decrypt: the received ICV, moved out of the packet

    bool hmac() const { return !s->info.aead; }
    bool gmac() const { return s->info.aead && !s->info.encrypts; }
    uint8_t* slot() { return buf.data() + hdr_len + iv_len + data_len; }
    uint32_t auth_len() const { return hdr_len + iv_len + data_len + (esn ? 4u : 0u); }

    // The op for this packet; `rx` = decrypt layout (HMAC ICV taken out of the packet).
    Op bind(bool rx) {
        Op op{};
        op.session = s;
        op.iv = iv_len ? buf.data() + hdr_len : nullptr;
        op.iv_seed = seed;
        op.data = data_len ? buf.data() + hdr_len + iv_len : nullptr;
        op.data_len = data_len;
        op.icv = slot();
        if (hmac()) {
            op.auth = buf.data();
            op.auth_len = auth_len();
            if (rx) op.icv = icv_rx.data();
        } else if (gmac()) {
            // RFC 4543 §3.3: SPI, sequence number, IV and payload are all AAD.
            op.aad = buf.data();
            op.aad_len = hdr_len + iv_len + data_len;
            op.data = nullptr;
            op.data_len = 0;
        } else {
            op.aad = buf.data();
            op.aad_len = hdr_len;
        }
        return op;
    }

    // Turns a sent packet into a received one: the ICV moves aside and the seq_hi
    // bytes go back where the receiver puts them.
    void to_rx() {
        if (!hmac()) return;
        icv_rx.assign(slot(), slot() + icv_len);
        if (esn) std::memcpy(slot(), seq_hi, 4);
    }

    // Flips bit `bit` of the bytes the ICV covers (or of the ICV itself).
    void flip(size_t bit) {
        const size_t byte = bit / 8;
        const auto mask = static_cast<uint8_t>(1u << (bit % 8));
        if (hmac()) {
            if (byte < auth_len()) buf[byte] ^= mask;
            else icv_rx[byte - auth_len()] ^= mask;
        } else {
            buf[byte] ^= mask;  // AEAD/GMAC: header (AAD), IV (nonce), data and tag
        }
    }
    size_t covered_bits() const { return 8 * (hmac() ? auth_len() + icv_len : buf.size()); }
};

std::string describe(uint64_t seed, size_t burst, size_t i, const Pkt& p) {
    std::ostringstream o;
    o << "seed " << seed << " burst " << burst << " op " << i << ": " << suite_str(p.s->suite)
      << " data_len " << p.data_len << " hdr_len " << p.hdr_len << " esn " << p.esn;
    return o.str();
}

template <class Engine>
uint32_t run(Engine& e, std::vector<Pkt>& pkts, bool rx, bool enc, std::vector<OpStatus>* st = nullptr) {
    std::vector<Op> ops;
    ops.reserve(pkts.size());
    for (auto& p : pkts) ops.push_back(p.bind(rx));
    const uint32_t ok = enc ? e.encrypt(ops) : e.decrypt(ops);
    if (st != nullptr) {
        st->clear();
        for (const auto& op : ops) st->push_back(op.status);
    }
    return ok;
}

}  // namespace

TEST_CASE("intel-ipsec-mb and OpenSSL agree byte for byte on random bursts of every suite",
          "[cross]") {
    uint64_t seed = 0x65737067772d7631ULL;  // fixed so a failure reproduces
    if (const char* env = std::getenv("ESPGW_VECTORS_SEED")) seed = std::strtoull(env, nullptr, 0);
    std::printf("cross-engine seed %llu (set ESPGW_VECTORS_SEED to change)\n",
                static_cast<unsigned long long>(seed));
    std::mt19937_64 rng(seed);
    auto uni = [&](uint64_t lo, uint64_t hi) { return std::uniform_int_distribution<uint64_t>(lo, hi)(rng); };
    auto rand_bytes = [&](size_t n) {
        Bytes b(n);
        for (auto& x : b) x = static_cast<uint8_t>(rng());
        return b;
    };

    MbEngine mb;
    OsslEngine ossl;
    std::printf("intel-ipsec-mb code path: %.*s\n", static_cast<int>(mb.arch_name().size()),
                mb.arch_name().data());

    const auto t0 = std::chrono::steady_clock::now();
    constexpr size_t kMaxCases = 12000;
    constexpr auto kTimeCap = std::chrono::seconds(4);
    size_t cases = 0, flipped = 0, bursts = 0;
    size_t per_suite[kNumSuites]{};
    std::vector<Session> sessions(kNumSuites);

    while (cases < kMaxCases && std::chrono::steady_clock::now() - t0 < kTimeCap) {
        // Fresh random keys for every suite each burst.
        for (size_t k = 0; k < kNumSuites; ++k) {
            const auto info = suite_info(kSuites[k]);
            REQUIRE(info);
            test::make_session(sessions[k], kSuites[k], rand_bytes(info->enc_key_bytes + info->salt_bytes),
                               rand_bytes(info->auth_key_bytes));
        }
        const size_t n = uni(1, bursts % 8 == 0 ? 200 : 24);  // sometimes past one 128-op chunk
        std::vector<Pkt> plain(n);
        std::vector<size_t> suite_of(n);
        for (size_t i = 0; i < n; ++i) {
            Pkt& p = plain[i];
            suite_of[i] = uni(0, kNumSuites - 1);
            p.s = &sessions[suite_of[i]];
            const SuiteInfo& info = p.s->info;
            p.esn = uni(0, 1) == 1;
            p.hdr_len = (info.aead && p.esn) ? 12 : 8;  // RFC 4106 §5: SPI || seq_hi || seq
            p.iv_len = info.iv_bytes;
            p.icv_len = info.icv_bytes;
            const uint64_t max = uni(0, 1) ? 128 : 9000;
            p.data_len = static_cast<uint32_t>(uni(0, max));
            if (info.block_bytes == 16) p.data_len = static_cast<uint32_t>(std::max<uint64_t>(16, p.data_len / 16 * 16));
            p.seed = rng();
            for (auto& b : p.seq_hi) b = static_cast<uint8_t>(rng());
            p.buf = rand_bytes(p.hdr_len + p.iv_len + p.data_len + p.icv_len);
            if (p.hmac() && p.esn) std::memcpy(p.slot(), p.seq_hi, 4);
        }

        // Encrypt with each engine: every byte of the packets must agree.
        std::vector<Pkt> a = plain, b = plain;
        REQUIRE(run(mb, a, false, true) == n);
        REQUIRE(run(ossl, b, false, true) == n);
        for (size_t i = 0; i < n; ++i) {
            if (a[i].buf != b[i].buf) FAIL("encrypt output differs: " << describe(seed, bursts, i, plain[i]));
            const uint32_t off = a[i].hdr_len + a[i].iv_len;
            const bool clear = !a[i].s->info.encrypts;
            const bool same = std::equal(a[i].buf.begin() + off, a[i].buf.begin() + off + a[i].data_len,
                                         plain[i].buf.begin() + off);
            if (clear != same && a[i].data_len >= 16)
                FAIL("payload " << (clear ? "changed" : "left clear") << ": " << describe(seed, bursts, i, plain[i]));
        }

        // Each engine decrypts what the other sent.
        for (auto& p : a) p.to_rx();
        std::vector<Pkt> sent = a;
        std::vector<Pkt> by_ossl = sent, by_mb = sent;
        REQUIRE(run(ossl, by_ossl, true, false) == n);
        REQUIRE(run(mb, by_mb, true, false) == n);
        for (size_t i = 0; i < n; ++i) {
            const uint32_t off = plain[i].hdr_len + plain[i].iv_len;
            const auto pb = plain[i].buf.begin() + off;
            if (!std::equal(pb, pb + plain[i].data_len, by_ossl[i].buf.begin() + off))
                FAIL("OpenSSL decrypt of intel-ipsec-mb output differs: " << describe(seed, bursts, i, plain[i]));
            if (!std::equal(pb, pb + plain[i].data_len, by_mb[i].buf.begin() + off))
                FAIL("intel-ipsec-mb decrypt differs: " << describe(seed, bursts, i, plain[i]));
        }

        // One flipped bit under the ICV of about half the packets: those fail on both
        // engines, the others in the same burst still pass.
        std::vector<Pkt> tampered = sent;
        std::vector<bool> flip(n);
        size_t n_flip = 0;
        for (size_t i = 0; i < n; ++i) {
            flip[i] = uni(0, 1) == 1;
            if (flip[i]) {
                tampered[i].flip(uni(0, tampered[i].covered_bits() - 1));
                ++n_flip;
            }
        }
        std::vector<Pkt> t_mb = tampered, t_ossl = tampered;
        std::vector<OpStatus> st_mb, st_ossl;
        REQUIRE(run(mb, t_mb, true, false, &st_mb) == n - n_flip);
        REQUIRE(run(ossl, t_ossl, true, false, &st_ossl) == n - n_flip);
        for (size_t i = 0; i < n; ++i) {
            const OpStatus want = flip[i] ? OpStatus::auth_failed : OpStatus::ok;
            if (st_mb[i] != want || st_ossl[i] != want)
                FAIL("tamper status (mb " << int(st_mb[i]) << ", openssl " << int(st_ossl[i]) << ", want "
                                          << int(want) << "): " << describe(seed, bursts, i, plain[i]));
        }

        for (size_t i = 0; i < n; ++i) ++per_suite[suite_of[i]];
        cases += n;
        flipped += n_flip;
        ++bursts;
    }

    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("cross-engine: %zu cases in %zu bursts (%zu tampered) in %.2f s\n", cases, bursts, flipped, secs);
    for (size_t k = 0; k < kNumSuites; ++k) {
        std::printf("  %-24s %zu\n", suite_str(kSuites[k]).c_str(), per_suite[k]);
        CHECK(per_suite[k] >= 20);  // every suite was exercised
    }
}

// Micro-benchmark of the ESP transform on one core, beside raw intel-ipsec-mb on the
// same buffers (the crypto ceiling) in the same run. Per suite and size it reports
// ns/packet and Gbit/s (inner bytes) of:
//   transform: outbound_prepare + MbEngine::encrypt + outbound_finish (encrypt), or
//              inbound_prepare + MbEngine::decrypt + inbound_finish (decrypt, replay on);
//   ceiling:   the same cipher+ICV over the same payload bytes through intel-ipsec-mb
//              directly (GCM: direct API; CBC+HMAC and ChaCha20-Poly1305: job API in
//              bursts), no ESP work at all.
// Decrypt restores each ciphertext before processing it (in-place decryption destroys
// it); the ceiling does the same copy, so the ratio stays fair.
//
// The engine sends AES-GCM payloads up to its native limit through crypto/gcm_native
// (--native-max BYTES lowers it, 0 = intel-ipsec-mb only); --size also takes a number
// of bytes, for comparing the two at any size.
//
//   esp_micro [--quick] [--json FILE] [--trials N] [--suite NAME] [--size NAME|BYTES]
//             [--native-max BYTES]

#include <intel-ipsec-mb.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <fmt/os.h>

#include "crypto/engine_mb.hpp"
#include "dataplane/esp/esp.hpp"

namespace {

using namespace espgw;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kBurst = 32;
constexpr uint32_t kHeadroom = 128;
constexpr uint32_t kBufBytes = 2048 + kHeadroom;

struct SuiteCase {
    const char* name;
    crypto::Suite suite;
};

const SuiteCase kSuites[] = {
    {"aes-gcm-128", {crypto::Cipher::aes_gcm_128, crypto::Integ::none}},
    {"aes-gcm-256", {crypto::Cipher::aes_gcm_256, crypto::Integ::none}},
    {"chacha20-poly1305", {crypto::Cipher::chacha20_poly1305, crypto::Integ::none}},
    {"aes-cbc-128+sha256", {crypto::Cipher::aes_cbc_128, crypto::Integ::hmac_sha256_128}},
    {"aes-cbc-128+sha1", {crypto::Cipher::aes_cbc_128, crypto::Integ::hmac_sha1_96}},
};

struct SizeCase {
    const char* name;
    std::vector<uint32_t> sizes;  // inner packet sizes, cycled over a burst
};

std::vector<SizeCase> size_cases() {
    // IMIX 7:4:1 of 64/576/1500 (the classic simple IMIX).
    std::vector<uint32_t> imix;
    for (int i = 0; i < 7; ++i) imix.push_back(64);
    for (int i = 0; i < 4; ++i) imix.push_back(576);
    imix.push_back(1500);
    return {{"64", {64}}, {"512", {512}}, {"1420", {1420}}, {"imix", imix}};
}

void write_inner_ipv4(uint8_t* p, uint32_t len) {
    std::memset(p, 0, 20);
    p[0] = 0x45;
    net::store_be16(p + 2, static_cast<uint16_t>(len));
    p[8] = 64;
    p[9] = net::kProtoUdp;
    net::store_be32(p + 12, 0x0a000001);
    net::store_be32(p + 16, 0x0a010001);
}

struct Keys {
    std::vector<uint8_t> enc, auth;
};

Keys keys_for(crypto::Suite s) {
    auto info = *crypto::suite_info(s);
    Keys k;
    k.enc.resize(info.enc_key_bytes + info.salt_bytes);
    k.auth.resize(info.auth_key_bytes);
    for (size_t i = 0; i < k.enc.size(); ++i) k.enc[i] = static_cast<uint8_t>(0x11 * i + 3);
    for (size_t i = 0; i < k.auth.size(); ++i) k.auth[i] = static_cast<uint8_t>(0x27 * i + 5);
    return k;
}

esp::SaConfig sa_config(crypto::Suite s) {
    esp::SaConfig c;
    c.spi = 0x1000;
    c.suite = s;
    c.mode = esp::Mode::tunnel;
    c.tunnel_src = net::IpAddr::v4(0xc0000201);
    c.tunnel_dst = net::IpAddr::v4(0xc0000202);
    return c;
}

struct Result {
    double transform_ns = 0, ceiling_ns = 0;
    double avg_inner_bytes = 0;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// ---- the crypto ceiling: raw intel-ipsec-mb on payload-sized buffers ----

struct Ceiling {
    IMB_MGR* mgr;
    const crypto::Session& s;
    std::vector<uint8_t*>& bufs;
    std::vector<uint32_t>& lens;  // ESP payload bytes (inner + pad + trailer)
    uint8_t aad[8] = {0, 0, 0x10, 0, 0, 0, 0, 1};
    uint8_t iv[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 0, 0, 1};
    uint8_t tags[kBurst][32];

    void gcm(uint32_t i, bool enc) {
        auto* b = bufs[i];
        struct gcm_context_data ctx;
        const bool k128 = s.suite.cipher == crypto::Cipher::aes_gcm_128;
        if (enc) {
            if (k128)
                IMB_AES128_GCM_ENC(mgr, &s.mb.gcm, &ctx, b, b, lens[i], iv, aad, 8, tags[i], 16);
            else
                IMB_AES256_GCM_ENC(mgr, &s.mb.gcm, &ctx, b, b, lens[i], iv, aad, 8, tags[i], 16);
        } else {
            if (k128)
                IMB_AES128_GCM_DEC(mgr, &s.mb.gcm, &ctx, b, b, lens[i], iv, aad, 8, tags[i], 16);
            else
                IMB_AES256_GCM_DEC(mgr, &s.mb.gcm, &ctx, b, b, lens[i], iv, aad, 8, tags[i], 16);
        }
    }

    void fill_job(IMB_JOB* job, uint32_t i, bool enc) {
        auto* b = bufs[i];
        const auto c = s.suite.cipher;
        job->src = b;
        job->dst = b;
        job->cipher_start_src_offset_in_bytes = 0;
        job->msg_len_to_cipher_in_bytes = lens[i];
        job->hash_start_src_offset_in_bytes = 0;
        job->msg_len_to_hash_in_bytes = lens[i];
        job->auth_tag_output = tags[i];
        job->user_data = nullptr;
        job->cipher_direction = enc ? IMB_DIR_ENCRYPT : IMB_DIR_DECRYPT;
        if (c == crypto::Cipher::chacha20_poly1305) {
            job->cipher_mode = IMB_CIPHER_CHACHA20_POLY1305;
            job->hash_alg = IMB_AUTH_CHACHA20_POLY1305;
            job->chain_order = enc ? IMB_ORDER_CIPHER_HASH : IMB_ORDER_HASH_CIPHER;
            job->enc_keys = s.enc_key;
            job->dec_keys = s.enc_key;
            job->key_len_in_bytes = 32;
            job->iv = iv;
            job->iv_len_in_bytes = 12;
            job->u.CHACHA20_POLY1305.aad = aad;
            job->u.CHACHA20_POLY1305.aad_len_in_bytes = 8;
            job->auth_tag_output_len_in_bytes = 16;
        } else {
            job->cipher_mode = IMB_CIPHER_CBC;
            job->chain_order = enc ? IMB_ORDER_CIPHER_HASH : IMB_ORDER_HASH_CIPHER;
            job->enc_keys = s.mb.aes.enc;
            job->dec_keys = s.mb.aes.dec;
            job->key_len_in_bytes = c == crypto::Cipher::aes_cbc_128 ? 16 : 32;
            job->iv = iv;
            job->iv_len_in_bytes = 16;
            job->u.HMAC._hashed_auth_key_xor_ipad = s.hmac_ipad;
            job->u.HMAC._hashed_auth_key_xor_opad = s.hmac_opad;
            switch (s.suite.integ) {
                case crypto::Integ::hmac_sha1_96:
                    job->hash_alg = IMB_AUTH_HMAC_SHA_1;
                    job->auth_tag_output_len_in_bytes = 12;
                    break;
                case crypto::Integ::hmac_sha256_128:
                    job->hash_alg = IMB_AUTH_HMAC_SHA_256;
                    job->auth_tag_output_len_in_bytes = 16;
                    break;
                default:
                    job->hash_alg = IMB_AUTH_HMAC_SHA_512;
                    job->auth_tag_output_len_in_bytes = 32;
                    break;
            }
        }
    }

    void burst(uint32_t n, bool enc) {
        const auto c = s.suite.cipher;
        if (c == crypto::Cipher::aes_gcm_128 || c == crypto::Cipher::aes_gcm_256) {
            for (uint32_t i = 0; i < n; ++i) gcm(i, enc);
            return;
        }
        for (uint32_t i = 0; i < n; ++i) {
            IMB_JOB* job = IMB_GET_NEXT_JOB(mgr);
            fill_job(job, i, enc);
            IMB_SUBMIT_JOB_NOCHECK(mgr);
        }
        while (IMB_FLUSH_JOB(mgr) != nullptr) {
        }
    }
};

// One (suite, size, direction) measurement.
Result measure(crypto::MbEngine& eng, const SuiteCase& sc, const SizeCase& zc, bool encrypt,
               int trials, double seconds_per_trial) {
    const auto keys = keys_for(sc.suite);
    const auto cfg = sa_config(sc.suite);
    std::string err;
    auto osa = std::make_unique<esp::OutboundSa>();
    auto isa = std::make_unique<esp::InboundSa>();
    if (!esp::outbound_sa_init(*osa, cfg, keys.enc, keys.auth, &err) ||
        !esp::inbound_sa_init(*isa, cfg, keys.enc, keys.auth, &err)) {
        fmt::print(stderr, "SA init failed for {}: {}\n", sc.name, err);
        std::exit(1);
    }
    esp::OutboundState ost;
    esp::outbound_state_init(ost, *osa);
    auto ist = std::make_unique<esp::InboundState>();
    esp::inbound_state_init(*ist, *isa);

    // Buffers: kBurst working packets; for decrypt, a ring of pre-encrypted originals.
    constexpr uint32_t kRing = 256;
    std::vector<uint8_t> mem(static_cast<size_t>(kBurst + kRing) * kBufBytes);
    auto buf = [&](uint32_t i) { return mem.data() + static_cast<size_t>(i) * kBufBytes; };
    std::vector<uint32_t> inner(kBurst);
    double avg = 0;
    for (uint32_t i = 0; i < kBurst; ++i) {
        inner[i] = zc.sizes[i % zc.sizes.size()];
        avg += inner[i];
    }
    avg /= kBurst;

    crypto::Op ops[kBurst];
    esp::PacketScratch scratch[kBurst];
    esp::PacketBuf pkts[kBurst];

    // Pre-encrypt the ring for the decrypt runs.
    struct Enc {
        uint32_t off, len;
    };
    std::vector<Enc> ring(kRing);
    for (uint32_t r = 0; r < kRing; ++r) {
        uint8_t* b = buf(kBurst + r);
        const uint32_t n = inner[r % kBurst];
        write_inner_ipv4(b + kHeadroom, n);
        for (uint32_t j = 20; j < n; ++j) b[kHeadroom + j] = static_cast<uint8_t>(j);
        esp::PacketBuf p{b + kHeadroom, n, kHeadroom, kBufBytes - kHeadroom - n};
        if (esp::outbound_prepare(*osa, ost, p, ops[0], scratch[0]) != esp::DropReason::none ||
            eng.encrypt({ops, 1}) != 1 ||
            esp::outbound_finish(*osa, p, ops[0].status, scratch[0]) != esp::DropReason::none) {
            fmt::print(stderr, "pre-encrypt failed\n");
            std::exit(1);
        }
        ring[r] = {static_cast<uint32_t>(p.data - b), p.len};
    }
    outbound_state_init(ost, *osa);

    // Payload length the ceiling processes: what the transform encrypts per packet.
    const auto info = *crypto::suite_info(sc.suite);
    std::vector<uint8_t*> cbufs(kBurst);
    std::vector<uint32_t> clens(kBurst);
    for (uint32_t i = 0; i < kBurst; ++i) {
        const uint32_t raw = inner[i] + 2;
        clens[i] = (raw + info.block_bytes - 1) / info.block_bytes * info.block_bytes;
        cbufs[i] = buf(i) + kHeadroom;
    }
    Ceiling ceil{eng.mgr(), osa->session, cbufs, clens};

    uint32_t ring_pos = 0;
    auto transform_burst = [&]() {
        if (encrypt) {
            for (uint32_t i = 0; i < kBurst; ++i) {
                uint8_t* b = buf(i);
                write_inner_ipv4(b + kHeadroom, inner[i]);
                pkts[i] = {b + kHeadroom, inner[i], kHeadroom, kBufBytes - kHeadroom - inner[i]};
                esp::outbound_prepare(*osa, ost, pkts[i], ops[i], scratch[i]);
            }
            eng.encrypt({ops, kBurst});
            for (uint32_t i = 0; i < kBurst; ++i)
                esp::outbound_finish(*osa, pkts[i], ops[i].status, scratch[i]);
            if (ost.seq > 0xf0000000u) outbound_state_init(ost, *osa);
        } else {
            if (ring_pos + kBurst > kRing) {
                ring_pos = 0;
                esp::inbound_state_init(*ist, *isa);  // the ring replays the same seqs
            }
            for (uint32_t i = 0; i < kBurst; ++i) {
                const Enc& e = ring[ring_pos + i];
                uint8_t* b = buf(i);
                std::memcpy(b + e.off, buf(kBurst + ring_pos + i) + e.off, e.len);
                pkts[i] = {b + e.off, e.len, e.off, kBufBytes - e.off - e.len};
                esp::Classification cls;
                esp::classify(pkts[i].data, pkts[i].len, cls);
                esp::inbound_prepare(*isa, *ist, pkts[i], cls, ops[i], scratch[i]);
            }
            eng.decrypt({ops, kBurst});
            for (uint32_t i = 0; i < kBurst; ++i)
                esp::inbound_finish(*isa, *ist, pkts[i], ops[i].status, scratch[i]);
            ring_pos += kBurst;
        }
    };
    auto ceiling_burst = [&]() {
        if (!encrypt) {
            for (uint32_t i = 0; i < kBurst; ++i) {
                const Enc& e = ring[(ring_pos + i) % kRing];
                std::memcpy(cbufs[i], buf(kBurst + (ring_pos + i) % kRing) + e.off, clens[i]);
            }
            ring_pos = (ring_pos + kBurst) % kRing;
        }
        ceil.burst(kBurst, encrypt);
    };

    // One timed trial: ns per packet.
    auto run = [&](auto&& fn) {
        uint64_t bursts = 0;
        const auto start = Clock::now();
        const auto stop = start + std::chrono::duration<double>(seconds_per_trial);
        auto now = start;
        do {
            for (int k = 0; k < 64; ++k) fn();
            bursts += 64;
            now = Clock::now();
        } while (now < stop);
        return std::chrono::duration<double, std::nano>(now - start).count() /
               static_cast<double>(bursts * kBurst);
    };
    // Sanity: one burst must succeed end to end before timing.
    transform_burst();
    for (uint32_t i = 0; i < kBurst; ++i) {
        if (ops[i].status != crypto::OpStatus::ok) {
            fmt::print(stderr, "{} {} {}: op {} failed\n", sc.name, zc.name,
                       encrypt ? "encrypt" : "decrypt", i);
            std::exit(1);
        }
    }
    Result r;
    r.avg_inner_bytes = avg;
    // Interleave so clock drift hits both sides alike.
    std::vector<double> tr, ce;
    for (int t = 0; t < trials; ++t) {
        tr.push_back(run(transform_burst));
        ce.push_back(run(ceiling_burst));
    }
    r.transform_ns = median(tr);
    r.ceiling_ns = median(ce);
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    bool quick = false;
    std::string json_path, only_suite, only_size;
    int trials = 5;
    long native_max = -1;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--quick") quick = true;
        else if (a == "--json" && i + 1 < argc) json_path = argv[++i];
        else if (a == "--trials" && i + 1 < argc) trials = std::stoi(argv[++i]);
        else if (a == "--suite" && i + 1 < argc) only_suite = argv[++i];
        else if (a == "--size" && i + 1 < argc) only_size = argv[++i];
        else if (a == "--native-max" && i + 1 < argc) native_max = std::stol(argv[++i]);
        else {
            fmt::print(stderr, "usage: esp_micro [--quick] [--json FILE] [--trials N] [--suite NAME] "
                               "[--size 64|512|1420|imix|BYTES] [--native-max BYTES]\n");
            return 2;
        }
    }
    const double secs = quick ? 0.02 : 0.2;
    if (quick) trials = 1;

    crypto::MbEngine eng;
    if (native_max >= 0) eng.set_native_gcm_max(static_cast<uint32_t>(native_max));
    fmt::print("ESP transform vs raw intel-ipsec-mb {} ({}), one core, burst {}, median of {}; "
               "GCM through gcm_native up to {} bytes\n\n",
               IMB_VERSION_STR, eng.arch_name(), kBurst, trials, eng.native_gcm_max());
    auto sizes = size_cases();
    if (!only_size.empty() && only_size.find_first_not_of("0123456789") == std::string::npos) {
        const auto n = static_cast<uint32_t>(std::stoul(only_size));
        if (n < 28 || n > 2000) {
            fmt::print(stderr, "esp_micro: --size BYTES must be 28..2000 (an inner IPv4 packet)\n");
            return 2;
        }
        sizes = {{only_size.c_str(), {n}}};
    }
    fmt::print("| suite | size | dir | transform ns/pkt | Gbit/s | ceiling ns/pkt | Gbit/s | transform/ceiling |\n");
    fmt::print("|---|---|---|---|---|---|---|---|\n");
    std::string json = "[";
    bool first = true;
    for (const auto& sc : kSuites) {
        if (!only_suite.empty() && only_suite != sc.name) continue;
        for (const auto& zc : sizes) {
            if (!only_size.empty() && only_size != zc.name) continue;
            for (bool enc : {true, false}) {
                const Result r = measure(eng, sc, zc, enc, trials, secs);
                const double gb_t = r.avg_inner_bytes * 8 / r.transform_ns;
                const double gb_c = r.avg_inner_bytes * 8 / r.ceiling_ns;
                const double ratio = r.ceiling_ns / r.transform_ns;
                fmt::print("| {} | {} | {} | {:.1f} | {:.2f} | {:.1f} | {:.2f} | {:.0f}% |\n", sc.name,
                           zc.name, enc ? "encrypt" : "decrypt", r.transform_ns, gb_t, r.ceiling_ns,
                           gb_c, ratio * 100);
                std::fflush(stdout);
                json += fmt::format(
                    "{}{{\"suite\":\"{}\",\"size\":\"{}\",\"dir\":\"{}\",\"transform_ns\":{:.2f},"
                    "\"ceiling_ns\":{:.2f},\"transform_gbps\":{:.3f},\"ceiling_gbps\":{:.3f},"
                    "\"ratio\":{:.4f}}}",
                    first ? "" : ",", sc.name, zc.name, enc ? "encrypt" : "decrypt", r.transform_ns,
                    r.ceiling_ns, gb_t, gb_c, ratio);
                first = false;
            }
        }
    }
    json += "]\n";
    if (!json_path.empty()) {
        auto f = fmt::output_file(json_path);
        f.print("{}", json);
    }
    return 0;
}

// libFuzzer target: the inbound ESP path (classify, SPI/length checks, replay check,
// decrypt, ICV, replay advance, padding/next-header checks, decap) on arbitrary bytes.
//
// Byte 0 picks the SA (suite, mode, ESN, UDP encapsulation) and the input kind:
//   bit 7 clear: the rest is an outer packet as it arrives from the wire;
//   bit 7 set:   the rest becomes the *plaintext* ESP payload of a packet that carries
//                a valid ICV (built by the outbound transform, then its payload
//                overwritten before encryption), so the checks that run after the ICV
//                (padding, pad length, next header, inner headers, transport rebuild)
//                see arbitrary content too.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "crypto/engine_mb.hpp"
#include "dataplane/esp/esp.hpp"

namespace {

using namespace espgw;

constexpr crypto::Suite kSuites[8] = {
    {crypto::Cipher::aes_gcm_128, crypto::Integ::none},
    {crypto::Cipher::aes_gcm_256, crypto::Integ::none},
    {crypto::Cipher::chacha20_poly1305, crypto::Integ::none},
    {crypto::Cipher::aes_gmac_128, crypto::Integ::none},
    {crypto::Cipher::aes_cbc_128, crypto::Integ::hmac_sha1_96},
    {crypto::Cipher::aes_cbc_256, crypto::Integ::hmac_sha256_128},
    {crypto::Cipher::aes_cbc_128, crypto::Integ::hmac_sha512_256},
    {crypto::Cipher::null, crypto::Integ::hmac_sha256_128},
};

struct Sas {
    esp::OutboundSa out;
    esp::InboundSa in;
};

// 64 SA pairs, built once: index = byte0 & 0x3f.
Sas* sas_for(uint8_t sel) {
    static std::unique_ptr<Sas[]> all = [] {
        auto a = std::make_unique<Sas[]>(64);
        for (unsigned i = 0; i < 64; ++i) {
            esp::SaConfig c;
            c.spi = 0x01020304;
            c.suite = kSuites[i & 7];
            c.mode = (i & 8) ? esp::Mode::transport : esp::Mode::tunnel;
            c.esn = (i & 16) != 0;
            c.udp_encap = (i & 32) != 0;
            c.tunnel_src = net::IpAddr::v4(0xc0000201);
            c.tunnel_dst = net::IpAddr::v4(0xc0000202);
            c.initial_seq = c.esn ? 0xfffffff0ull : 0;
            const auto info = *crypto::suite_info(c.suite);
            uint8_t enc[36], auth[64];
            for (unsigned k = 0; k < sizeof enc; ++k) enc[k] = static_cast<uint8_t>(k * 7 + i);
            for (unsigned k = 0; k < sizeof auth; ++k) auth[k] = static_cast<uint8_t>(k * 3 + i);
            std::string err;
            if (!esp::outbound_sa_init(a[i].out, c, {enc, size_t(info.enc_key_bytes) + info.salt_bytes},
                                       {auth, info.auth_key_bytes}, &err) ||
                !esp::inbound_sa_init(a[i].in, c, {enc, size_t(info.enc_key_bytes) + info.salt_bytes},
                                      {auth, info.auth_key_bytes}, &err))
                __builtin_trap();
        }
        return a;
    }();
    return &all[sel & 0x3f];
}

crypto::MbEngine& engine() {
    static crypto::MbEngine e;
    return e;
}

constexpr uint32_t kHeadroom = 128;
constexpr uint32_t kMax = 9000;

void run_inbound(Sas& sa, uint8_t* buf, esp::PacketBuf pkt) {
    esp::Classification cls;
    if (esp::classify(pkt.data, pkt.len, cls) != esp::DropReason::none) return;
    if (cls.kind != esp::PacketKind::esp && cls.kind != esp::PacketKind::esp_in_udp) return;
    auto st = std::make_unique<esp::InboundState>();
    esp::inbound_state_init(*st, sa.in);
    crypto::Op op{};
    esp::PacketScratch scratch{};
    if (esp::inbound_prepare(sa.in, *st, pkt, cls, op, scratch) != esp::DropReason::none) return;
    engine().decrypt({&op, 1});
    const auto r = esp::inbound_finish(sa.in, *st, pkt, op.status, scratch);
    if (r == esp::DropReason::none) {
        // The result must lie inside the buffer.
        if (pkt.data < buf || pkt.data + pkt.len > buf + kHeadroom + kMax + 256) __builtin_trap();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1 || size > kMax) return 0;
    const uint8_t sel = data[0];
    Sas& sa = *sas_for(sel);
    // Exactly-sized heap buffer so ASan catches any read past headroom/len/tailroom.
    const size_t body = size - 1;
    if (!(sel & 0x80)) {
        auto buf = std::make_unique<uint8_t[]>(body + 1);
        std::memcpy(buf.get(), data + 1, body);
        run_inbound(sa, buf.get(), esp::PacketBuf{buf.get(), static_cast<uint32_t>(body), 0, 0});
        return 0;
    }
    // Valid-ICV mode. Build an ESP packet around a plain inner IPv4 packet of the
    // payload's size, then overwrite its plaintext with the fuzz bytes before encryption.
    const auto info = sa.out.session.info;
    if (!info.encrypts && sa.out.session.suite.cipher != crypto::Cipher::null) return 0;  // GMAC
    const uint32_t inner_len = static_cast<uint32_t>(body < 40 ? 40 : body);
    const size_t cap = kHeadroom + inner_len + 256;
    auto buf = std::make_unique<uint8_t[]>(cap);
    uint8_t* p = buf.get() + kHeadroom;
    std::memset(p, 0, inner_len);
    p[0] = 0x45;
    p[2] = static_cast<uint8_t>(inner_len >> 8);
    p[3] = static_cast<uint8_t>(inner_len);
    p[8] = 64;
    p[9] = 17;
    esp::PacketBuf pkt{p, inner_len, kHeadroom, static_cast<uint32_t>(cap - kHeadroom - inner_len)};
    esp::OutboundState ost;
    esp::outbound_state_init(ost, sa.out);
    crypto::Op op{};
    esp::PacketScratch scratch{};
    if (esp::outbound_prepare(sa.out, ost, pkt, op, scratch) != esp::DropReason::none) return 0;
    if (op.data && op.data_len) {
        const size_t n = op.data_len < body ? op.data_len : body;
        std::memcpy(op.data, data + 1, n);
    }
    engine().encrypt({&op, 1});
    if (esp::outbound_finish(sa.out, pkt, op.status, scratch) != esp::DropReason::none) return 0;
    run_inbound(sa, buf.get(), pkt);
    return 0;
}

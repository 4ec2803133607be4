// SA install: validate an SaConfig, expand keys, precompute the header template.
// Control path only.
#include "dataplane/esp/sa.hpp"
#include "dataplane/net/checksum.hpp"

#include "crypto/secret.hpp"

#include <cstring>

namespace espgw::esp {
namespace {

bool fail(std::string* err, const char* why) {
    if (err) *err = why;
    return false;
}

// Checks shared by both directions; fills the common fields.
template <typename Sa>
bool common_init(Sa& out, const SaConfig& cfg, std::span<const uint8_t> enc_keymat,
                 std::span<const uint8_t> auth_key, std::string* err) {
    std::memset(static_cast<void*>(&out), 0, sizeof out);
    // RFC 4303 §2.1: SPI 0 is reserved for local use, 1..255 by IANA.
    if (cfg.spi < 256) return fail(err, "SPI must be >= 256 (RFC 4303 §2.1)");
    if (!crypto::session_init(out.session, cfg.suite, enc_keymat, auth_key, err)) return false;
    const crypto::SuiteInfo& info = out.session.info;
    out.spi = cfg.spi;
    out.mode = cfg.mode;
    out.iv_bytes = info.iv_bytes;
    out.block_bytes = info.block_bytes;
    out.icv_bytes = info.icv_bytes;
    out.initial_seq = cfg.initial_seq;
    uint8_t f = 0;
    if (cfg.esn) f |= kSaEsn;
    if (cfg.udp_encap) f |= kSaUdpEncap;
    if (cfg.mode == Mode::tunnel) f |= kSaTunnel;
    if (cfg.copy_dscp) f |= kSaCopyDscp;
    const bool gmac = cfg.suite.cipher == crypto::Cipher::aes_gmac_128 ||
                      cfg.suite.cipher == crypto::Cipher::aes_gmac_256;
    if (gmac) f |= kSaGmac;
    else if (!info.aead) f |= kSaHmac;
    out.flags = f;
    if (!cfg.esn && cfg.initial_seq > 0xffffffffu)
        return fail(err, "initial_seq above 2^32-1 without ESN");
    return true;
}

}  // namespace

bool outbound_sa_init(OutboundSa& out, const SaConfig& cfg, std::span<const uint8_t> enc_keymat,
                      std::span<const uint8_t> auth_key, std::string* err) {
    if (!common_init(out, cfg, enc_keymat, auth_key, err)) {
        sa_wipe(out);
        return false;
    }
    out.df = cfg.df;
    out.ttl = cfg.ttl;
    out.udp_src_port = cfg.udp_src_port;
    out.udp_dst_port = cfg.udp_dst_port;
    const bool udp = cfg.udp_encap;
    if (udp && (cfg.udp_src_port == 0 || cfg.udp_dst_port == 0)) {
        sa_wipe(out);
        return fail(err, "UDP encapsulation needs non-zero ports");
    }
    const uint8_t proto = udp ? net::kProtoUdp : net::kProtoEsp;
    uint8_t* t = out.hdr_template;
    uint32_t l3 = 0;
    if (cfg.mode == Mode::tunnel) {
        const uint8_t fam = cfg.tunnel_src.family;
        if ((fam != 4 && fam != 6) || cfg.tunnel_dst.family != fam) {
            sa_wipe(out);
            return fail(err, "tunnel mode needs tunnel_src and tunnel_dst of one family");
        }
        if (cfg.ttl == 0) {
            sa_wipe(out);
            return fail(err, "outer TTL must be > 0");
        }
        if (fam == 4) {
            t[0] = 0x45;
            t[8] = cfg.ttl;
            t[9] = proto;
            std::memcpy(t + 12, cfg.tunnel_src.bytes, 4);
            std::memcpy(t + 16, cfg.tunnel_dst.bytes, 4);
            out.hdr_csum_partial = net::csum_partial(t, 20, 0);
            l3 = 20;
        } else {
            t[0] = 0x60;
            t[6] = proto;
            t[7] = cfg.ttl;
            std::memcpy(t + 8, cfg.tunnel_src.bytes, 16);
            std::memcpy(t + 24, cfg.tunnel_dst.bytes, 16);
            out.flags |= kSaOuterV6;
            l3 = 40;
        }
    }
    if (udp) {
        net::store_be16(t + l3, cfg.udp_src_port);
        net::store_be16(t + l3 + 2, cfg.udp_dst_port);
    }
    out.outer_hdr_bytes = static_cast<uint8_t>(l3 + (udp ? 8 : 0));
    return true;
}

bool inbound_sa_init(InboundSa& out, const SaConfig& cfg, std::span<const uint8_t> enc_keymat,
                     std::span<const uint8_t> auth_key, std::string* err) {
    if (cfg.replay_window != 0 &&
        (cfg.replay_window < kReplayWindowMin || cfg.replay_window > kReplayWindowMax))
        return fail(err, "replay window must be 0 or 64..4096");
    // RFC 4303 Appendix A: the high half of an ESN is inferred from the window.
    if (cfg.esn && cfg.replay_window == 0) return fail(err, "ESN needs an anti-replay window");
    if (!common_init(out, cfg, enc_keymat, auth_key, err)) {
        sa_wipe(out);
        return false;
    }
    out.replay_window = cfg.replay_window;
    return true;
}

void outbound_state_init(OutboundState& st, const OutboundSa& sa) noexcept {
    st = OutboundState{};
    st.seq = sa.initial_seq;
}

void inbound_state_init(InboundState& st, const InboundSa& sa) noexcept {
    st.window.reset(sa.replay_window, sa.initial_seq);
    st.packets = 0;
    st.bytes = 0;
}

void sa_wipe(OutboundSa& sa) noexcept {
    crypto::session_wipe(sa.session);
    crypto::secure_wipe(&sa, sizeof sa);
}

void sa_wipe(InboundSa& sa) noexcept {
    crypto::session_wipe(sa.session);
    crypto::secure_wipe(&sa, sizeof sa);
}

}  // namespace espgw::esp

// esp_reflector: a test tool that puts espgw's ESP transform (dataplane/esp) on a real
// interface, so that independent ESP implementations (scapy, the Linux kernel's XFRM)
// can exchange packets with it. Not part of the product: simple, bounded, one packet
// at a time, logs every packet.
//
// It opens an AF_PACKET socket (SOCK_DGRAM: it sees and sends L3 packets) on one
// interface and, for every IPv4/IPv6 packet received there (never its own outgoing
// ones), depending on --mode:
//   reflect  ESP / ESP-in-UDP for the inbound SA -> inbound_prepare -> engine.decrypt
//            -> inbound_finish -> the inner packet, unchanged, -> outbound_prepare ->
//            engine.encrypt -> outbound_finish -> sent back to the sender's MAC.
//   echo     as reflect, but an inner ICMP/ICMPv6 echo request becomes the echo reply
//            (addresses swapped, type changed, checksum updated per RFC 1624), so a
//            kernel `ping` through its XFRM SA gets answers. Other inner packets drop.
//   encrypt  plaintext IP packets (no ESP, no IKE) -> outbound SA -> sent back.
// One log line per packet ("pkt N ..."); drops name their DropReason. On SIGTERM /
// SIGINT (or after --max-packets) it prints one "counters ..." line and exits 0.
//
// SA specs (--in / --out) are comma-separated key=value lists:
//   spi=0x1001 cipher=aes128gcm16 [integ=sha256] keymat=HEX [authkey=HEX]
//   mode=tunnel|transport esn=0|1 udp=0|1 [sport=4500 dport=4500]
//   [src=ADDR dst=ADDR] (outbound tunnel endpoints) [seq=N] [window=N]
// Key material is never printed; the argv copies of it are wiped after parsing.

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <memory>
#include <sstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/program_options.hpp>
#include <fmt/core.h>

#include "crypto/engine_mb.hpp"
#include "crypto/engine_openssl.hpp"
#include "crypto/secret.hpp"
#include "dataplane/esp/classify.hpp"
#include "dataplane/esp/drop_reason.hpp"
#include "dataplane/esp/esp.hpp"
#include "dataplane/esp/sa.hpp"
#include "dataplane/net/checksum.hpp"
#include "dataplane/net/ip.hpp"

namespace espgw::interop {
namespace {

volatile sig_atomic_t g_stop = 0;

extern "C" void on_signal(int) { g_stop = 1; }

enum class RunMode { reflect, echo, encrypt };

/// One parsed SA spec: the config plus its keys (move-only, wiped on destruction).
struct SaSpec {
    esp::SaConfig cfg;
    crypto::SecretBytes keymat;
    crypto::SecretBytes authkey;
};

uint64_t parse_u64(std::string_view key, std::string_view v) {
    int base = 10;
    if (v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
        v.remove_prefix(2);
        base = 16;
    }
    uint64_t out = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out, base);
    if (ec != std::errc() || p != v.data() + v.size())
        throw std::invalid_argument(fmt::format("bad number for {}", key));
    return out;
}

bool parse_bool(std::string_view key, std::string_view v) {
    if (v == "1" || v == "yes" || v == "true" || v == "on") return true;
    if (v == "0" || v == "no" || v == "false" || v == "off") return false;
    throw std::invalid_argument(fmt::format("bad boolean for {}", key));
}

net::IpAddr parse_addr(std::string_view key, std::string_view v) {
    auto a = net::IpAddr::parse(v);
    if (!a) throw std::invalid_argument(fmt::format("bad address for {}", key));
    return *a;
}

/// Parses "k=v,k=v,...". Throws std::invalid_argument naming the key (never a key value).
SaSpec parse_sa_spec(std::string_view spec) {
    SaSpec s;
    bool have_cipher = false;
    while (!spec.empty()) {
        const size_t comma = spec.find(',');
        std::string_view item = spec.substr(0, comma);
        spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
        if (item.empty()) continue;
        const size_t eq = item.find('=');
        if (eq == std::string_view::npos)
            throw std::invalid_argument(fmt::format("SA spec item without '=': {}", item));
        const std::string_view k = item.substr(0, eq);
        const std::string_view v = item.substr(eq + 1);
        if (k == "spi") {
            s.cfg.spi = static_cast<uint32_t>(parse_u64(k, v));
        } else if (k == "cipher") {
            auto c = crypto::parse_cipher(v);
            if (!c) throw std::invalid_argument(fmt::format("unknown cipher '{}'", v));
            s.cfg.suite.cipher = *c;
            have_cipher = true;
        } else if (k == "integ") {
            auto i = crypto::parse_integ(v);
            if (!i) throw std::invalid_argument(fmt::format("unknown integ '{}'", v));
            s.cfg.suite.integ = *i;
        } else if (k == "keymat") {
            s.keymat = crypto::SecretBytes::from_hex(v);
        } else if (k == "authkey") {
            s.authkey = crypto::SecretBytes::from_hex(v);
        } else if (k == "mode") {
            if (v == "tunnel") s.cfg.mode = esp::Mode::tunnel;
            else if (v == "transport") s.cfg.mode = esp::Mode::transport;
            else throw std::invalid_argument("mode must be tunnel or transport");
        } else if (k == "esn") {
            s.cfg.esn = parse_bool(k, v);
        } else if (k == "udp") {
            s.cfg.udp_encap = parse_bool(k, v);
        } else if (k == "sport") {
            s.cfg.udp_src_port = static_cast<uint16_t>(parse_u64(k, v));
        } else if (k == "dport") {
            s.cfg.udp_dst_port = static_cast<uint16_t>(parse_u64(k, v));
        } else if (k == "src") {
            s.cfg.tunnel_src = parse_addr(k, v);
        } else if (k == "dst") {
            s.cfg.tunnel_dst = parse_addr(k, v);
        } else if (k == "seq") {
            s.cfg.initial_seq = parse_u64(k, v);
        } else if (k == "window") {
            s.cfg.replay_window = static_cast<uint32_t>(parse_u64(k, v));
        } else {
            throw std::invalid_argument(fmt::format("unknown SA spec key '{}'", k));
        }
    }
    if (s.cfg.spi == 0) throw std::invalid_argument("SA spec needs spi=");
    if (!have_cipher) throw std::invalid_argument("SA spec needs cipher=");
    return s;
}

/// Overwrites a string's bytes (the argv and Boost copies of key material).
void wipe(std::string& s) noexcept {
    crypto::secure_wipe(s.data(), s.size());
    s.clear();
}

struct Counters {
    uint64_t rx = 0;         ///< IPv4/IPv6 packets received (not our own)
    uint64_t ignored = 0;    ///< not for this mode (other traffic, IKE, keepalives)
    uint64_t esp = 0;        ///< ESP / ESP-in-UDP packets seen (reflect/echo)
    uint64_t decrypted = 0;  ///< inbound_finish ok
    uint64_t encrypted = 0;  ///< outbound_finish ok
    uint64_t tx = 0;         ///< sent
    uint64_t tx_errors = 0;
    uint64_t not_echo = 0;   ///< echo mode: inner packet was no echo request
    std::array<uint64_t, esp::kDropReasonCount> drops{};
};

/// Echo mode: turns the inner ICMPv4/ICMPv6 echo request at `p` into its reply in
/// place. Swapping source and destination leaves the IPv4 header checksum and the
/// pseudo-header sum unchanged; only the type word changes (RFC 1624 update).
bool make_echo_reply(uint8_t* p, uint32_t len) noexcept {
    if (len < 1) return false;
    const uint8_t version = p[0] >> 4;
    if (version == 4) {
        const uint32_t ihl = (p[0] & 0x0fu) * 4u;
        if (ihl < 20 || len < ihl + 8 || p[9] != net::kProtoIcmp) return false;
        if (net::load_be16(p + 6) & (net::kIpv4FlagMf | net::kIpv4OffsetMask)) return false;
        uint8_t* icmp = p + ihl;
        if (icmp[0] != 8) return false;  // RFC 792 echo request
        const uint16_t old_word = net::load_be16(icmp);
        icmp[0] = 0;                     // echo reply
        net::store_be16(icmp + 2, net::csum_update16(net::load_be16(icmp + 2), old_word,
                                                    net::load_be16(icmp)));
        uint8_t tmp[4];
        std::memcpy(tmp, p + 12, 4);
        std::memcpy(p + 12, p + 16, 4);
        std::memcpy(p + 16, tmp, 4);
        return true;
    }
    if (version == 6) {
        if (len < 48 || p[6] != net::kProtoIcmpv6) return false;
        uint8_t* icmp = p + 40;
        if (icmp[0] != 128) return false;  // RFC 4443 §4.1 echo request
        const uint16_t old_word = net::load_be16(icmp);
        icmp[0] = 129;                     // §4.2 echo reply
        net::store_be16(icmp + 2, net::csum_update16(net::load_be16(icmp + 2), old_word,
                                                    net::load_be16(icmp)));
        uint8_t tmp[16];
        std::memcpy(tmp, p + 8, 16);
        std::memcpy(p + 8, p + 24, 16);
        std::memcpy(p + 24, tmp, 16);
        return true;
    }
    return false;
}

std::string_view kind_name(esp::PacketKind k) {
    switch (k) {
        case esp::PacketKind::other: return "other";
        case esp::PacketKind::esp: return "esp";
        case esp::PacketKind::esp_in_udp: return "esp_in_udp";
        case esp::PacketKind::ike: return "ike";
        case esp::PacketKind::ike_nat_t: return "ike_nat_t";
        case esp::PacketKind::nat_keepalive: return "nat_keepalive";
    }
    return "unknown";
}

struct Reflector {
    RunMode mode = RunMode::reflect;
    uint16_t nat_t_port = net::kPortNatT;
    uint64_t max_packets = 0;
    int fd = -1;
    int ifindex = 0;
    bool have_in = false;
    std::unique_ptr<esp::InboundSa> in_sa;
    std::unique_ptr<esp::InboundState> in_st;
    std::unique_ptr<esp::OutboundSa> out_sa;
    std::unique_ptr<esp::OutboundState> out_st;
    Counters c;

    // Packet buffer: the transform may grow the packet at both ends.
    static constexpr uint32_t kHeadroom = 256;
    static constexpr uint32_t kMaxPkt = 65535;
    static constexpr uint32_t kTailroom = 256;
    alignas(64) uint8_t buf[kHeadroom + kMaxPkt + kTailroom];

    void drop(uint64_t n, esp::DropReason r, std::string_view stage) {
        c.drops[static_cast<size_t>(r)]++;
        fmt::print("pkt {} drop={} stage={}\n", n, esp::drop_reason_name(r), stage);
    }

    void send(uint64_t n, const esp::PacketBuf& pkt, const sockaddr_ll& peer, uint64_t seq) {
        sockaddr_ll to{};
        to.sll_family = AF_PACKET;
        to.sll_ifindex = ifindex;
        to.sll_protocol = htons((pkt.data[0] >> 4) == 6 ? ETH_P_IPV6 : ETH_P_IP);
        to.sll_halen = peer.sll_halen;
        std::memcpy(to.sll_addr, peer.sll_addr, sizeof(to.sll_addr));
        const ssize_t w = sendto(fd, pkt.data, pkt.len, 0, reinterpret_cast<const sockaddr*>(&to),
                                 sizeof(to));
        if (w != static_cast<ssize_t>(pkt.len)) {
            c.tx_errors++;
            fmt::print("pkt {} tx_error={}\n", n, std::strerror(errno));
            return;
        }
        c.tx++;
        fmt::print("pkt {} tx len={} spi=0x{:08x} seq={}\n", n, pkt.len, out_sa->spi, seq);
    }

    template <class Engine>
    bool encrypt_and_send(Engine& eng, uint64_t n, esp::PacketBuf& pkt, const sockaddr_ll& peer) {
        crypto::Op op{};
        esp::PacketScratch scratch{};
        esp::DropReason r = esp::outbound_prepare(*out_sa, *out_st, pkt, op, scratch);
        if (r != esp::DropReason::none) {
            drop(n, r, "outbound_prepare");
            return false;
        }
        eng.encrypt(std::span<crypto::Op>(&op, 1));
        r = esp::outbound_finish(*out_sa, pkt, op.status, scratch);
        if (r != esp::DropReason::none) {
            drop(n, r, "outbound_finish");
            return false;
        }
        c.encrypted++;
        send(n, pkt, peer, scratch.seq);
        return true;
    }

    template <class Engine>
    void handle(Engine& eng, uint64_t n, uint32_t len, const sockaddr_ll& peer) {
        esp::PacketBuf pkt{buf + kHeadroom, len, kHeadroom,
                           static_cast<uint32_t>(sizeof(buf)) - kHeadroom - len};
        esp::Classification cls{};
        esp::DropReason r = esp::classify(pkt.data, pkt.len, cls, nat_t_port);
        if (r != esp::DropReason::none) {
            // Malformed: in encrypt mode it is not ours to judge; count as a drop anyway.
            drop(n, r, "classify");
            return;
        }
        const bool is_esp = cls.kind == esp::PacketKind::esp || cls.kind == esp::PacketKind::esp_in_udp;
        fmt::print("pkt {} rx len={} kind={}", n, len, kind_name(cls.kind));
        if (is_esp) fmt::print(" spi=0x{:08x}", cls.spi);
        fmt::print("\n");

        if (mode == RunMode::encrypt) {
            if (cls.kind != esp::PacketKind::other) {
                c.ignored++;
                return;
            }
            encrypt_and_send(eng, n, pkt, peer);
            return;
        }
        if (!is_esp) {
            c.ignored++;
            return;
        }
        c.esp++;
        crypto::Op op{};
        esp::PacketScratch scratch{};
        r = esp::inbound_prepare(*in_sa, *in_st, pkt, cls, op, scratch);
        if (r != esp::DropReason::none) {
            drop(n, r, "inbound_prepare");
            return;
        }
        eng.decrypt(std::span<crypto::Op>(&op, 1));
        r = esp::inbound_finish(*in_sa, *in_st, pkt, op.status, scratch);
        if (r != esp::DropReason::none) {
            drop(n, r, "inbound_finish");
            return;
        }
        c.decrypted++;
        fmt::print("pkt {} decrypted seq={} inner_len={}\n", n, scratch.seq, pkt.len);
        if (mode == RunMode::echo && !make_echo_reply(pkt.data, pkt.len)) {
            c.not_echo++;
            fmt::print("pkt {} not_echo\n", n);
            return;
        }
        encrypt_and_send(eng, n, pkt, peer);
    }

    template <class Engine>
    int run(Engine& eng) {
        uint64_t n = 0;
        while (!g_stop && (max_packets == 0 || n < max_packets)) {
            pollfd pfd{fd, POLLIN, 0};
            const int pr = poll(&pfd, 1, 200);
            if (pr < 0) {
                if (errno == EINTR) continue;
                fmt::print(stderr, "esp_reflector: poll: {}\n", std::strerror(errno));
                return 1;
            }
            if (pr == 0) continue;
            sockaddr_ll from{};
            socklen_t fromlen = sizeof(from);
            const ssize_t got = recvfrom(fd, buf + kHeadroom, kMaxPkt, MSG_TRUNC,
                                         reinterpret_cast<sockaddr*>(&from), &fromlen);
            if (got < 0) {
                if (errno == EINTR || errno == EAGAIN) continue;
                fmt::print(stderr, "esp_reflector: recvfrom: {}\n", std::strerror(errno));
                return 1;
            }
            if (from.sll_pkttype == PACKET_OUTGOING) continue;  // our own transmissions
            const uint16_t proto = ntohs(from.sll_protocol);
            if (proto != ETH_P_IP && proto != ETH_P_IPV6) continue;
            ++n;
            c.rx++;
            if (got > static_cast<ssize_t>(kMaxPkt)) {
                drop(n, esp::DropReason::too_big, "rx");
                continue;
            }
            handle(eng, n, static_cast<uint32_t>(got), from);
            std::fflush(stdout);
        }
        return 0;
    }

    void print_counters() const {
        std::string line = fmt::format(
            "counters rx={} ignored={} esp={} decrypted={} encrypted={} tx={} tx_errors={} "
            "not_echo={}",
            c.rx, c.ignored, c.esp, c.decrypted, c.encrypted, c.tx, c.tx_errors, c.not_echo);
        uint64_t total = 0;
        for (uint32_t i = 1; i < esp::kDropReasonCount; ++i) total += c.drops[i];
        line += fmt::format(" drops={}", total);
        for (uint32_t i = 1; i < esp::kDropReasonCount; ++i)
            if (c.drops[i])
                line += fmt::format(" drop_{}={}", esp::drop_reason_name(static_cast<esp::DropReason>(i)),
                                    c.drops[i]);
        if (in_st) line += fmt::format(" in_top={}", in_st->window.top);
        if (out_st) line += fmt::format(" out_seq={}", out_st->seq);
        fmt::print("{}\n", line);
        std::fflush(stdout);
    }
};

int open_socket(const std::string& iface, int* ifindex) {
    const unsigned idx = if_nametoindex(iface.c_str());
    if (idx == 0) throw std::runtime_error(fmt::format("no interface '{}'", iface));
    // Protocol 0 at creation: nothing is queued until bind() names the interface.
    const int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(fmt::format("socket(AF_PACKET): {}", std::strerror(errno)));
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = static_cast<int>(idx);
    if (bind(fd, reinterpret_cast<const sockaddr*>(&sll), sizeof(sll)) != 0) {
        const int e = errno;
        close(fd);
        throw std::runtime_error(fmt::format("bind({}): {}", iface, std::strerror(e)));
    }
    *ifindex = static_cast<int>(idx);
    return fd;
}

int main_impl(int argc, char** argv) {
    namespace po = boost::program_options;
    std::string iface, mode_s = "reflect", engine_s = "mb", in_spec, out_spec;
    uint64_t max_packets = 0;
    uint16_t nat_t_port = net::kPortNatT;
    po::options_description desc(
        "esp_reflector: espgw's ESP transform on an interface (test tool)\nOptions");
    desc.add_options()
        ("help,h", "this help")
        ("iface,i", po::value(&iface)->required(), "interface to receive on and send from")
        ("mode,m", po::value(&mode_s), "reflect | echo | encrypt (default reflect)")
        ("engine,e", po::value(&engine_s), "mb (intel-ipsec-mb, default) | openssl")
        ("in", po::value(&in_spec), "inbound SA spec (reflect/echo)")
        ("out", po::value(&out_spec)->required(), "outbound SA spec")
        ("nat-t-port", po::value(&nat_t_port), "local ESP-in-UDP port (default 4500)")
        ("max-packets", po::value(&max_packets), "exit after this many received packets (0 = never)");
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, desc), vm);
    // The SA specs hold keys: wipe argv so they do not linger in /proc/PID/cmdline.
    for (int i = 1; i < argc; ++i) crypto::secure_wipe(argv[i], std::strlen(argv[i]));
    if (vm.count("help")) {
        fmt::print("{}", (std::ostringstream() << desc).str());
        return 0;
    }
    po::notify(vm);

    auto r = std::make_unique<Reflector>();
    if (mode_s == "reflect") r->mode = RunMode::reflect;
    else if (mode_s == "echo") r->mode = RunMode::echo;
    else if (mode_s == "encrypt") r->mode = RunMode::encrypt;
    else throw std::invalid_argument("--mode must be reflect, echo or encrypt");
    if (engine_s != "mb" && engine_s != "openssl")
        throw std::invalid_argument("--engine must be mb or openssl");
    r->max_packets = max_packets;
    r->nat_t_port = nat_t_port;

    std::string err;
    {
        SaSpec out = parse_sa_spec(out_spec);
        wipe(out_spec);
        r->out_sa = std::make_unique<esp::OutboundSa>();
        r->out_st = std::make_unique<esp::OutboundState>();
        if (!esp::outbound_sa_init(*r->out_sa, out.cfg, out.keymat.bytes(), out.authkey.bytes(), &err))
            throw std::invalid_argument("outbound SA: " + err);
        esp::outbound_state_init(*r->out_st, *r->out_sa);
    }
    if (r->mode != RunMode::encrypt) {
        if (in_spec.empty()) throw std::invalid_argument("--in is required for reflect/echo");
        SaSpec in = parse_sa_spec(in_spec);
        wipe(in_spec);
        r->in_sa = std::make_unique<esp::InboundSa>();
        r->in_st = std::make_unique<esp::InboundState>();
        if (!esp::inbound_sa_init(*r->in_sa, in.cfg, in.keymat.bytes(), in.authkey.bytes(), &err))
            throw std::invalid_argument("inbound SA: " + err);
        esp::inbound_state_init(*r->in_st, *r->in_sa);
    }

    struct sigaction sa {};
    sa.sa_handler = on_signal;  // no SA_RESTART: poll() returns EINTR
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);

    r->fd = open_socket(iface, &r->ifindex);
    int rc;
    auto ready = [&](std::string_view engine_desc) {
        fmt::print("ready iface={} mode={} engine={} out_spi=0x{:08x}", iface, mode_s, engine_desc,
                   r->out_sa->spi);
        if (r->in_sa) fmt::print(" in_spi=0x{:08x}", r->in_sa->spi);
        fmt::print("\n");
        std::fflush(stdout);
    };
    if (engine_s == "openssl") {
        crypto::OsslEngine eng;
        ready("openssl");
        rc = r->run(eng);
    } else {
        crypto::MbEngine eng;
        ready(fmt::format("mb/{}", eng.arch_name()));
        rc = r->run(eng);
    }
    r->print_counters();
    close(r->fd);
    if (r->in_sa) esp::sa_wipe(*r->in_sa);
    esp::sa_wipe(*r->out_sa);
    return rc;
}

}  // namespace
}  // namespace espgw::interop

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    try {
        return espgw::interop::main_impl(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "esp_reflector: %s\n", e.what());
        return 2;
    }
}

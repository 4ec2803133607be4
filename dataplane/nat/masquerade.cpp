// Masquerade: per-worker NAPT on the session table.
#include "dataplane/nat/masquerade.hpp"

#include "dataplane/net/ip.hpp"

namespace espgw::nat {

namespace {
constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpAck = 0x10;

uint32_t slice_of(uint32_t span, uint32_t workers) noexcept { return (span + workers - 1) / workers; }

/// Single-writer counter increment, relaxed: other threads only read it (stats).
inline void bump(uint64_t& c, uint64_t n = 1) noexcept {
    __atomic_store_n(&c, __atomic_load_n(&c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}
}  // namespace

int32_t port_owner(uint16_t port, uint16_t port_lo, uint16_t port_hi, uint32_t workers) noexcept {
    if (port < port_lo || port > port_hi || workers == 0) return -1;
    const uint32_t span = uint32_t{port_hi} - port_lo + 1;
    return static_cast<int32_t>((port - port_lo) / slice_of(span, workers));
}

void port_slice(uint32_t worker, uint32_t workers, uint16_t port_lo, uint16_t port_hi, uint16_t* lo,
                uint16_t* hi) noexcept {
    const uint32_t span = uint32_t{port_hi} - port_lo + 1;
    const uint32_t sz = slice_of(span, workers);
    uint32_t l = port_lo + worker * sz;
    uint32_t h = l + sz - 1;
    if (h > port_hi) h = port_hi;
    if (l > port_hi) l = h = port_hi;  // more workers than ports: an empty-ish slice
    *lo = static_cast<uint16_t>(l);
    *hi = static_cast<uint16_t>(h);
}

int32_t return_owner(const L4Info& li, uint16_t port_lo, uint16_t port_hi, uint32_t workers) noexcept {
    switch (li.kind) {
    case L4Kind::tcp:
    case L4Kind::udp:
    case L4Kind::icmp_echo:
        return port_owner(li.dst_port, port_lo, port_hi, workers);
    case L4Kind::icmp_error:
        // The quoted packet left us: its source port is the public one.
        return port_owner(li.emb_src_port, port_lo, port_hi, workers);
    default:
        return -1;
    }
}

WorkerNat::WorkerNat(const NatConfig& cfg, uint32_t worker, uint32_t workers, uint32_t now_s)
    : cfg_(cfg),
      table_(workers ? (cfg.max_sessions + workers - 1) / workers : cfg.max_sessions,
             [&] { uint16_t lo, hi; port_slice(worker, workers, cfg.port_lo, cfg.port_hi, &lo, &hi); return lo; }(),
             [&] { uint16_t lo, hi; port_slice(worker, workers, cfg.port_lo, cfg.port_hi, &lo, &hi); return hi; }(),
             now_s, cfg.reserved_udp_port) {}

uint32_t WorkerNat::timeout_of(const Session& s) const noexcept {
    const Timeouts& t = cfg_.timeouts;
    switch (s.proto) {
    case net::kProtoTcp:
        switch (s.tcp) {
        case TcpState::established: return t.tcp_established_s;
        case TcpState::closing: return t.tcp_closing_s;
        case TcpState::closed: return t.tcp_closed_s;
        default: return t.tcp_syn_s;
        }
    case net::kProtoUdp: return t.udp_s;
    default: return t.icmp_s;
    }
}

void WorkerNat::track_tcp(Session& s, uint8_t flags, bool outbound) noexcept {
    // RFC 5382 §5: an established binding lives long, transitory ones (handshake,
    // closing) short; RST closes at once (we keep a few seconds for retransmits).
    if (flags & kTcpRst) {
        s.tcp = TcpState::closed;
    } else if (flags & kTcpFin) {
        if (s.tcp != TcpState::closed) s.tcp = TcpState::closing;
    } else if (s.tcp == TcpState::none) {
        s.tcp = TcpState::syn;
    } else if (s.tcp == TcpState::syn && !outbound && (flags & kTcpAck)) {
        s.tcp = TcpState::established;  // the remote side answered the handshake
    } else if (s.tcp == TcpState::closed && (flags & kTcpSyn) && outbound) {
        s.tcp = TcpState::syn;  // port reuse after RST
    }
}

NatVerdict WorkerNat::translate_out(uint8_t* ip, uint32_t len, uint16_t rule, uint32_t pub_addr,
                                    uint32_t now_s) noexcept {
    const L4Info li = parse_l4(ip, len);
    switch (li.kind) {
    case L4Kind::tcp:
    case L4Kind::udp:
    case L4Kind::icmp_echo: {
        if (li.kind == L4Kind::icmp_echo && ip[li.l4_off] != kIcmpEcho) {
            bump(counters.unsupported);  // echo replies from inside: no inbound mappings
            return NatVerdict::drop_unsupported;
        }
        const uint16_t rport = li.kind == L4Kind::icmp_echo ? 0 : li.dst_port;
        FlowKey k{li.proto, li.src, li.src_port, li.dst, rport};
        int64_t id = table_.find_inside(k);
        if (id < 0) {
            CreateError err;
            id = table_.create(k, pub_addr, rule, now_s + cfg_.timeouts.tcp_syn_s, &err);
            if (id < 0) [[unlikely]] {
                if (err == CreateError::table_full) {
                    bump(counters.table_full);
                    return NatVerdict::drop_table_full;
                }
                bump(counters.ports_exhausted);
                return NatVerdict::drop_ports_exhausted;
            }
            bump(counters.created);
        }
        Session& s = table_.at(static_cast<uint32_t>(id));
        if (li.kind == L4Kind::tcp) track_tcp(s, li.tcp_flags, true);
        table_.set_expire(static_cast<uint32_t>(id), now_s + timeout_of(s));
        table_.count_packet(static_cast<uint32_t>(id));
        if (cfg_.tcp_mss) clamp_tcp_mss(ip, li, cfg_.tcp_mss);
        rewrite_src(ip, li, s.pub_addr, s.pub_port);
        break;
    }
    case L4Kind::icmp_error: {
        // RFC 5508 §4.2: an inside host's error about a packet it received from a
        // remote through us: the quote is (remote → inside); find that session.
        const uint16_t rport = li.emb_proto == net::kProtoIcmp ? 0 : li.emb_src_port;
        FlowKey k{li.emb_proto, li.emb_dst, li.emb_dst_port, li.emb_src, rport};
        const int64_t id = table_.find_inside(k);
        if (id < 0) {
            bump(counters.no_session);
            return NatVerdict::drop_unsupported;
        }
        const Session& s = table_.at(static_cast<uint32_t>(id));
        rewrite_icmp_error_out(ip, li, s.pub_addr, s.pub_port);
        bump(counters.icmp_errors);
        break;
    }
    case L4Kind::fragment:
        bump(counters.fragments);
        return NatVerdict::drop_fragment;
    default:
        bump(counters.unsupported);
        return NatVerdict::drop_unsupported;
    }
    bump(counters.out_packets);
    bump(counters.out_bytes, len);
    return NatVerdict::translated;
}

NatVerdict WorkerNat::translate_in(uint8_t* ip, uint32_t len, uint32_t now_s) noexcept {
    const L4Info li = parse_l4(ip, len);
    switch (li.kind) {
    case L4Kind::tcp:
    case L4Kind::udp:
    case L4Kind::icmp_echo: {
        if (li.kind == L4Kind::icmp_echo && ip[li.l4_off] != kIcmpEchoReply) return NatVerdict::no_session;
        const uint16_t rport = li.kind == L4Kind::icmp_echo ? 0 : li.src_port;
        const int64_t id = table_.find_public({li.proto, li.dst, li.dst_port, li.src, rport});
        if (id < 0) return NatVerdict::no_session;
        Session& s = table_.at(static_cast<uint32_t>(id));
        if (li.kind == L4Kind::tcp) track_tcp(s, li.tcp_flags, false);
        table_.set_expire(static_cast<uint32_t>(id), now_s + timeout_of(s));
        table_.count_packet(static_cast<uint32_t>(id));
        if (cfg_.tcp_mss) clamp_tcp_mss(ip, li, cfg_.tcp_mss);
        rewrite_dst(ip, li, s.in_addr, s.in_port);
        break;
    }
    case L4Kind::icmp_error: {
        // RFC 5508 §4.2: the quote is our translated packet (public → remote).
        const uint16_t rport = li.emb_proto == net::kProtoIcmp ? 0 : li.emb_dst_port;
        const int64_t id = table_.find_public({li.emb_proto, li.emb_src, li.emb_src_port, li.emb_dst, rport});
        if (id < 0 || li.dst != table_.at(static_cast<uint32_t>(id)).pub_addr) return NatVerdict::no_session;
        const Session& s = table_.at(static_cast<uint32_t>(id));
        rewrite_icmp_error_in(ip, li, s.in_addr, s.in_port);
        bump(counters.icmp_errors);
        break;
    }
    default:
        return NatVerdict::no_session;
    }
    bump(counters.in_packets);
    bump(counters.in_bytes, len);
    return NatVerdict::translated;
}

}  // namespace espgw::nat

// TablesSaSink: negotiated CHILD_SAs → espgw-dp's shared tables (see the header).
#include "control/ike/sa_sink_tables.hpp"

#include <cstring>
#include <optional>

#include "control/ike/log.hpp"
#include "control/ike/traffic_selector.hpp"
#include "dataplane/fw/rules.hpp"
#include "dataplane/tables/writer.hpp"

namespace espgw::ike {

namespace {

constexpr uint32_t kPolicyPriority = 50;  // before a config's catch-all bypass/discard

std::optional<crypto::Suite> suite_of(const Algorithms& a) {
    if (a.encr == ENCR_AES_GCM_16 && a.integ == AUTH_NONE) {
        if (a.encr_key_bits == 128) return crypto::Suite{crypto::Cipher::aes_gcm_128, crypto::Integ::none};
        if (a.encr_key_bits == 256) return crypto::Suite{crypto::Cipher::aes_gcm_256, crypto::Integ::none};
        return std::nullopt;
    }
    if (a.encr == ENCR_AES_CBC) {
        crypto::Suite s;
        if (a.encr_key_bits == 128) s.cipher = crypto::Cipher::aes_cbc_128;
        else if (a.encr_key_bits == 256) s.cipher = crypto::Cipher::aes_cbc_256;
        else return std::nullopt;
        if (a.integ == AUTH_HMAC_SHA1_96) s.integ = crypto::Integ::hmac_sha1_96;
        else if (a.integ == AUTH_HMAC_SHA2_256_128) s.integ = crypto::Integ::hmac_sha256_128;
        else if (a.integ == AUTH_HMAC_SHA2_512_256) s.integ = crypto::Integ::hmac_sha512_256;
        else return std::nullopt;
        return s;
    }
    return std::nullopt;
}

using U128 = unsigned __int128;

/// Splits the address range [lo, hi] of a `bits`-bit family (32 or 128; host-order
/// numbers) into CIDR prefixes, at most 64 of them.
std::vector<std::pair<U128, uint8_t>> range_prefixes(U128 lo, U128 hi, unsigned bits) {
    std::vector<std::pair<U128, uint8_t>> out;
    // The size of a block of prefix length `len`, minus one (2^128 does not fit).
    auto span = [bits](unsigned len) { return len == 0 && bits == 128 ? ~U128{0} : (U128{1} << (bits - len)) - 1; };
    U128 cur = lo;
    for (;;) {
        if (out.size() >= 64) break;
        unsigned len = bits;
        // Grow the block while it stays aligned and inside the range.
        while (len > 0) {
            const U128 s = span(len - 1);
            if ((cur & s) != 0 || s > hi - cur) break;
            --len;
        }
        out.emplace_back(cur, static_cast<uint8_t>(len));
        const U128 last = cur + span(len);
        if (last >= hi) break;
        cur = last + 1;
    }
    return out;
}

U128 from_bytes(const Bytes& b) {
    U128 v = 0;
    for (uint8_t x : b) v = v << 8 | x;
    return v;
}

void put_bytes(uint8_t* p, U128 v, size_t n) {
    for (size_t i = n; i-- > 0; v >>= 8) p[i] = static_cast<uint8_t>(v);
}

void put_be32(uint8_t* p, uint32_t v) { put_bytes(p, v, 4); }

esp::SaConfig sa_config(const ChildSaInfo& info, const crypto::Suite& suite, bool inbound, uint32_t spi) {
    esp::SaConfig c;
    c.spi = spi;
    c.suite = suite;
    c.esn = info.alg.esn;
    c.udp_encap = info.udp_encap;
    // Transport mode (RFC 4303 §3.1.1): the packet's own IP header (our IKE address to
    // the peer's, what the selectors say) stays outside; no tunnel endpoints. ESP-in-UDP
    // keeps the same ports as in tunnel mode (RFC 3948 §2.1).
    const bool tunnel = info.mode == ChildMode::tunnel;
    c.mode = tunnel ? esp::Mode::tunnel : esp::Mode::transport;
    if (inbound) {
        if (tunnel) {
            c.tunnel_src = net::IpAddr::v4(info.remote.addr_host);
            c.tunnel_dst = net::IpAddr::v4(info.local.addr_host);
        }
        c.udp_src_port = info.remote.port;
        c.udp_dst_port = info.local.port;
    } else {
        if (tunnel) {
            c.tunnel_src = net::IpAddr::v4(info.local.addr_host);
            c.tunnel_dst = net::IpAddr::v4(info.remote.addr_host);
        }
        c.udp_src_port = info.local.port;
        c.udp_dst_port = info.remote.port;
        c.initial_seq = info.initial_seq_out;
    }
    return c;
}

const char* why(const tables::WriteResult& r) { return r.error.empty() ? "refused" : r.error.c_str(); }

/// The tunnel's firewall tags, put on both of its SAs: espgw-dp's from_tunnel rules read
/// the inbound SA's, its to_tunnel rules the outbound SA's. The user's groups and the
/// connection (source_group / destination_group / connection rules); a name without a
/// free bit matches no such rule (warned once, for the inbound SA). The user's identity
/// is the group "user:<identity>" (source_user / destination_user rules), added only
/// when a rule set registered that name: users cost no tag bit otherwise. An SA
/// installed before such a rule was loaded gets the tag at its next rekey.
void set_fw_tags(tables::Tables& t, const ChildSaInfo& info, tables::SaParams& p) {
    std::vector<std::string> groups = info.groups;
    const std::string user_tag = fw::kUserTagPrefix + info.peer_identity;
    for (const std::string& n : tables::tag_names(t, 0))
        if (n == user_tag) groups.push_back(user_tag);
    std::vector<std::string> unplaced;
    p.fw_groups = tables::tag_mask(t, 0, groups, &unplaced);
    p.fw_conn = tables::tag_mask(t, 1, {info.connection}, &unplaced);
    if (p.dir == tables::Direction::in)
        for (const std::string& n : unplaced)
            log_warn("{}: CHILD_SA {:08x}: no firewall tag bit left for '{}' (32 groups / 32 connections)",
                     info.connection, info.spi_in, n);
}

}  // namespace

TablesSaSink::~TablesSaSink() = default;

bool TablesSaSink::alloc_id(uint32_t& id) {
    const uint32_t max_ids = t_.limits().max_ids;
    for (uint32_t tries = 0; tries < max_ids - kIdBase; ++tries) {
        uint32_t cand = next_id_++;
        if (next_id_ >= max_ids) next_id_ = kIdBase;
        bool used = false;
        for (const auto& [spi, p] : pairs_)
            if (p.in_id == cand || p.out->out_id == cand) used = true;
        if (used) continue;
        tables::SaCounters c;
        if (tables::query_counters(t_, cand, c)) continue;  // live SA of an earlier espgw-ike
        id = cand;
        return true;
    }
    return false;
}

bool TablesSaSink::install_in(const ChildSaInfo& info, const ChildSaKeys& keys, uint32_t& in_id) {
    const auto suite = suite_of(info.alg);
    if (!suite) {
        log_warn("{}: CHILD_SA {:08x}: ESP {} is not supported by the dataplane", info.connection, info.spi_in,
                 to_string(info.alg));
        return false;
    }
    if (!alloc_id(in_id)) {
        log_warn("{}: no free SA id for CHILD_SA {:08x}", info.connection, info.spi_in);
        return false;
    }
    // Inbound carries initiator→responder traffic when we are the responder.
    const crypto::SecretBytes& enc = info.initiator ? keys.encr_r : keys.encr_i;
    const crypto::SecretBytes& integ = info.initiator ? keys.integ_r : keys.integ_i;
    tables::SaParams p;
    p.id = in_id;
    p.dir = tables::Direction::in;
    p.cfg = sa_config(info, *suite, true, info.spi_in);
    set_fw_tags(t_, info, p);
    p.enc_keymat = enc.bytes();
    p.auth_key = integ.bytes();
    const tables::WriteResult r = tables::install_sa(t_, p);
    if (!r.ok()) {
        log_warn("{}: dataplane refused inbound SA {:08x}: {}", info.connection, info.spi_in, why(r));
        return false;
    }
    return true;
}

bool TablesSaSink::install(const ChildSaInfo& info, const ChildSaKeys& keys) {
    uint32_t in_id = 0, out_id = 0;
    if (!install_in(info, keys, in_id)) return false;
    const auto suite = suite_of(info.alg);
    if (!alloc_id(out_id)) {
        tables::delete_sa(t_, in_id);
        return false;
    }
    const crypto::SecretBytes& enc = info.initiator ? keys.encr_i : keys.encr_r;
    const crypto::SecretBytes& integ = info.initiator ? keys.integ_i : keys.integ_r;
    tables::SaParams p;
    p.id = out_id;
    p.dir = tables::Direction::out;
    p.cfg = sa_config(info, *suite, false, info.spi_out);
    set_fw_tags(t_, info, p);
    p.enc_keymat = enc.bytes();
    p.auth_key = integ.bytes();
    tables::WriteResult r = tables::install_sa(t_, p);
    if (!r.ok()) {
        log_warn("{}: dataplane refused outbound SA {:08x}: {}", info.connection, info.spi_out, why(r));
        tables::delete_sa(t_, in_id);
        return false;
    }
    auto out = std::make_shared<Outbound>();
    out->out_id = out_id;
    out->spi_out = info.spi_out;
    // Remote-access peers without a remote TS: their virtual IPs.
    std::vector<TrafficSelector> remote = info.ts_remote;
    if (remote.empty() && info.virtual_ip) {
        uint8_t a[4];
        put_be32(a, *info.virtual_ip);
        remote.push_back(ts_host(a));
    }
    if (remote.empty() && info.virtual_ip6) remote.push_back(ts_host(*info.virtual_ip6));
    bool ok = true;
    for (const TrafficSelector& l : info.ts_local) {
        for (const TrafficSelector& rt : remote) {
            // One policy family per pair of selectors: IPv4 with IPv4, IPv6 with IPv6
            // (an IPv6 inner packet goes into the same IPv4 tunnel, RFC 4301 §5.1).
            if (l.ts_type != rt.ts_type) continue;
            const bool v6 = l.ts_type == TS_IPV6_ADDR_RANGE;
            const size_t alen = v6 ? 16 : 4;
            if (l.start_addr.size() != alen || l.end_addr.size() != alen || rt.start_addr.size() != alen ||
                rt.end_addr.size() != alen) {
                log_warn("{}: malformed traffic selector not installed", info.connection);
                continue;
            }
            const unsigned bits = v6 ? 128 : 32;
            const uint8_t proto = l.ip_proto ? l.ip_proto : rt.ip_proto;
            for (auto [lp, ll] : range_prefixes(from_bytes(l.start_addr), from_bytes(l.end_addr), bits))
                for (auto [rp, rl] : range_prefixes(from_bytes(rt.start_addr), from_bytes(rt.end_addr), bits)) {
                    tables::Policy pol;
                    pol.priority = kPolicyPriority;
                    pol.family = v6 ? 6 : 4;
                    put_bytes(pol.src, lp, alen);
                    pol.src_len = ll;
                    put_bytes(pol.dst, rp, alen);
                    pol.dst_len = rl;
                    pol.proto = proto;
                    pol.src_port_lo = l.start_port;
                    pol.src_port_hi = l.end_port;
                    pol.dst_port_lo = rt.start_port;
                    pol.dst_port_hi = rt.end_port;
                    pol.action = tables::PolicyAction::protect;
                    pol.sa_id = out_id;
                    uint32_t pid = 0;
                    r = tables::install_policy(t_, pol, &pid);
                    if (!r.ok()) {
                        log_warn("{}: dataplane refused a policy: {}", info.connection, why(r));
                        ok = false;
                        break;
                    }
                    out->policy_ids.push_back(pid);
                }
        }
    }
    if (!ok || out->policy_ids.empty()) {
        if (out->policy_ids.empty()) log_warn("{}: no traffic selector could be installed", info.connection);
        for (uint32_t pid : out->policy_ids) tables::delete_policy(t_, pid);
        tables::delete_sa(t_, out_id);
        tables::delete_sa(t_, in_id);
        return false;
    }
    pairs_[info.spi_in] = Pair{in_id, info.spi_out, out};
    log_info("{}: dataplane: CHILD_SA in {:08x} (id {}) out {:08x} (id {}), {} mode{}, {} policies", info.connection,
             info.spi_in, in_id, info.spi_out, out_id, mode_name(info.mode), info.udp_encap ? ", UDP-encapsulated" : "",
             out->policy_ids.size());
    return true;
}

bool TablesSaSink::rekey(uint32_t old_spi_in, uint32_t old_spi_out, const ChildSaInfo& info,
                         const ChildSaKeys& keys) {
    auto it = pairs_.find(old_spi_in);
    if (it == pairs_.end()) {
        log_warn("{}: rekey of unknown CHILD_SA {:08x}/{:08x}: installing the new one", info.connection, old_spi_in,
                 old_spi_out);
        return install(info, keys);
    }
    uint32_t in_id = 0;
    if (!install_in(info, keys, in_id)) return false;  // make: inbound first
    const crypto::SecretBytes& enc = info.initiator ? keys.encr_i : keys.encr_r;
    const crypto::SecretBytes& integ = info.initiator ? keys.integ_i : keys.integ_r;
    pairs_[info.spi_in] = Pair{in_id, info.spi_out, it->second.out};
    successor_[old_spi_in] = info.spi_in;
    if (info.defer_out) {
        pending_.insert_or_assign(info.spi_in, PendingSwitch{old_spi_in, info, crypto::SecretBytes(enc.bytes()),
                                                             crypto::SecretBytes(integ.bytes())});
        log_info("{}: dataplane: rekeyed CHILD_SA {:08x} -> in {:08x} (id {}); out {:08x} once {:08x} is deleted",
                 info.connection, old_spi_in, info.spi_in, in_id, info.spi_out, old_spi_in);
        return true;
    }
    if (!switch_outbound(info.spi_in, info, enc.bytes(), integ.bytes())) {  // then break: switch outbound
        pairs_.erase(info.spi_in);
        successor_.erase(old_spi_in);
        tables::delete_sa(t_, in_id);
        return false;
    }
    log_info("{}: dataplane: rekeyed CHILD_SA {:08x} -> in {:08x} (id {}) out {:08x} (id {}, switched)",
             info.connection, old_spi_in, info.spi_in, in_id, info.spi_out, it->second.out->out_id);
    return true;
}

bool TablesSaSink::switch_outbound(uint32_t new_spi_in, const ChildSaInfo& info, std::span<const uint8_t> enc,
                                   std::span<const uint8_t> integ) {
    const std::shared_ptr<Outbound> out = pairs_.at(new_spi_in).out;
    const auto suite = suite_of(info.alg);
    tables::SaParams p;
    p.id = out->out_id;
    p.dir = tables::Direction::out;
    p.cfg = sa_config(info, *suite, false, info.spi_out);
    set_fw_tags(t_, info, p);
    p.enc_keymat = enc;
    p.auth_key = integ;
    // replace_sa starts fresh counters: keep the old ones for accounting when a live
    // pair (not a half-switched one) owned the slot.
    bool had = false;
    for (const auto& [s, pr] : pairs_) had |= s != new_spi_in && pr.out == out && pr.spi_out == out->spi_out;
    tables::SaCounters before;
    had = had && tables::query_counters(t_, out->out_id, before);
    const tables::WriteResult r = tables::replace_sa(t_, p);
    if (!r.ok()) {
        log_warn("{}: dataplane refused the rekeyed outbound SA {:08x}: {}", info.connection, info.spi_out, why(r));
        return false;
    }
    out->spi_out = info.spi_out;
    if (had) {
        carried_[new_spi_in].out_bytes += before.bytes;
        carried_[new_spi_in].out_packets += before.packets;
    }
    return true;
}

void TablesSaSink::remove(uint32_t spi_in, uint32_t spi_out) {
    // A rekey we responded to sends on its new SA now that the old pair goes; a new
    // pair that goes first (a lost rekey collision) never switches.
    for (auto pit = pending_.begin(); pit != pending_.end();) {
        if (pit->second.old_spi_in == spi_in && pairs_.count(pit->first)) {
            const PendingSwitch& ps = pit->second;
            if (switch_outbound(pit->first, ps.info, ps.enc.bytes(), ps.integ.bytes()))
                log_info("{}: dataplane: outbound switched to {:08x} (id {})", ps.info.connection, ps.info.spi_out,
                         pairs_.at(pit->first).out->out_id);
            pit = pending_.erase(pit);
        } else if (pit->first == spi_in || pit->second.old_spi_in == spi_in) {
            pit = pending_.erase(pit);
        } else {
            ++pit;
        }
    }
    auto it = pairs_.find(spi_in);
    if (it == pairs_.end()) return;
    // A replaced pair's traffic (and what it carried) moves to the pair that replaced it.
    if (auto s = successor_.find(spi_in); s != successor_.end()) {
        if (pairs_.count(s->second)) carried_[s->second] += usage(spi_in, spi_out);
        successor_.erase(s);
    }
    std::erase_if(successor_, [&](const auto& e) { return e.second == spi_in; });
    carried_.erase(spi_in);
    const Pair pair = it->second;
    pairs_.erase(it);
    tables::delete_sa(t_, pair.in_id);
    // The outbound SA and policies go with the pair that currently owns them (after a
    // rekey the old pair only takes its inbound SA along).
    bool shared = false;
    for (const auto& [s, p] : pairs_) shared |= p.out == pair.out;
    if (!shared) {
        for (uint32_t pid : pair.out->policy_ids) tables::delete_policy(t_, pid);
        tables::delete_sa(t_, pair.out->out_id);
    }
    log_info("dataplane: removed CHILD_SA in {:08x} out {:08x}{}", spi_in, spi_out,
             shared ? " (outbound kept: it carries the rekeyed SA)" : "");
}

void TablesSaSink::remove_all() {
    while (!pairs_.empty()) remove(pairs_.begin()->first, pairs_.begin()->second.spi_out);
}

SaUsage TablesSaSink::usage(uint32_t spi_in, uint32_t spi_out) {
    (void)spi_out;
    SaUsage u;
    auto it = pairs_.find(spi_in);
    if (it == pairs_.end()) return u;
    tables::SaCounters c;
    if (tables::query_counters(t_, it->second.in_id, c)) u.in_bytes = c.bytes, u.in_packets = c.packets;
    // The outbound SA is shared with the pair that rekeyed it: count it once, for the
    // pair whose SPI it carries now.
    if (it->second.spi_out == it->second.out->spi_out && tables::query_counters(t_, it->second.out->out_id, c))
        u.out_bytes = c.bytes, u.out_packets = c.packets;
    if (auto cr = carried_.find(spi_in); cr != carried_.end()) u += cr->second;
    return u;
}

size_t TablesSaSink::poll_events() {
    tables::Event ev[32];
    size_t reported = 0;
    for (;;) {
        const size_t n = tables::poll_events(t_, ev);
        for (size_t i = 0; i < n; ++i) {
            const bool hard = ev[i].kind == tables::EventKind::hard_expired;
            // The pair an SA id belongs to: its inbound id, or the newest pair on an outbound id.
            std::optional<uint32_t> spi_in;
            for (const auto& [s, p] : pairs_) {
                if (ev[i].dir == tables::Direction::in && p.in_id == ev[i].sa_id) spi_in = s;
                if (ev[i].dir == tables::Direction::out && p.out->out_id == ev[i].sa_id && p.spi_out == p.out->spi_out)
                    spi_in = s;
            }
            if (!spi_in) continue;  // a static SA or one already removed
            log_info("dataplane: SA id {} ({:08x}) reached its {} lifetime", ev[i].sa_id, ev[i].spi,
                     hard ? "hard" : "soft");
            if (listener_) listener_->on_child_expired(*spi_in, hard);
            ++reported;
        }
        if (n < std::size(ev)) return reported;
    }
}

}  // namespace espgw::ike

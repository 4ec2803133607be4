// Masquerade + firewall glue for the espgw-dp workers.
#include "dataplane/nat/nat_path.hpp"

#include <rte_mbuf.h>
#include <rte_ring.h>

#include <fmt/format.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "dataplane/dp/dataplane.hpp"
#include "dataplane/dp/outbound.hpp"
#include "dataplane/dp/output.hpp"
#include "dataplane/dp/sa.hpp"
#include "dataplane/dp/worker.hpp"
#include "dataplane/fw/firewall.hpp"
#include "dataplane/fw/fw_config.hpp"
#include "dataplane/fw/fw_log.hpp"
#include "dataplane/fw/reject.hpp"
#include "dataplane/nat/masquerade.hpp"
#include "dataplane/tables/writer.hpp"

namespace espgw::nat {

namespace {

constexpr uint32_t kRingSize = 4096;
constexpr uint32_t kDrainBurst = 64;
constexpr size_t kTopTalkers = 10;  ///< show nat: inside addresses with the most sessions

/// Firewall and hand-off counters of one worker (single writer, relaxed).
struct alignas(64) PathCounters {
    uint64_t fw_dropped = 0, fw_rejected = 0, rejects_sent = 0;
    uint64_t handed_off = 0, handoff_full = 0;
    uint64_t return_no_session = 0;  ///< handed over, but no session at the owner
};

inline void bump(uint64_t& c) noexcept { __atomic_store_n(&c, __atomic_load_n(&c, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED); }
inline uint64_t rd(const uint64_t& c) noexcept { return __atomic_load_n(&c, __ATOMIC_RELAXED); }

struct WorkerState {
    std::optional<WorkerNat> nat;
    // Flush requests: the control thread bumps flush_req (relaxed: a request, no data
    // to publish); the worker flushes until empty, then records it in flush_done.
    uint32_t flush_req = 0;
    uint32_t flush_done = 0;
    rte_ring* ring = nullptr;  ///< return packets for this worker's ports (MP enqueue, SC dequeue)
    std::unique_ptr<fw::LogRing> log;  ///< `log = true` records for the control thread
    PathCounters c;
    ~WorkerState() {
        if (ring) {
            void* m;
            while (rte_ring_dequeue(ring, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
            rte_ring_free(ring);
        }
    }
};

struct Plane {
    uint32_t workers = 0;
    uint32_t alive = 0;
    NatConfig nat;
    std::unique_ptr<fw::Firewall> fw;
    std::vector<std::unique_ptr<WorkerState>> ws;
    // Set (before the install that needs it) once a rule set names groups or
    // connections; never cleared, so a worker holding such a set always has tags.
    std::atomic<bool> fw_tags{false};
    // Set before an install whose set has to_tunnel rules, updated after each install:
    // the outbound path calls to_tunnel_burst() only while set.
    std::atomic<bool> fw_out{false};
    uint64_t log_suppressed_told = 0;  ///< control thread: suppressed records already reported
};

/// Resolves the rule set's group/connection names to the tables' tag bits (registering
/// new names) and flags the plane when tags are needed (rules naming them, or `log`
/// rules, whose lines show them). nullopt or the reason.
std::optional<std::string> prepare_rules(Plane& p, const dp::Dataplane& dp, fw::RuleSet& rs) {
    bool any = false, logs = false;
    for (const fw::Rule& r : rs.rules) {
        any |= !r.groups.empty() || !r.connections.empty() || !r.users.empty();
        logs |= r.log;
    }
    if (logs && dp.sa) p.fw_tags.store(true, std::memory_order_relaxed);  // log lines name the tunnel's tags
    if (!any) return std::nullopt;
    if (!dp.sa) return std::string("rules name groups/connections but the SA tables are not up");
    tables::Tables& t = dp.sa->tables();
    auto bad = fw::resolve_tags(rs, [&](fw::TagKind k, const std::string& n) {
        return tables::tag_bit(t, static_cast<uint32_t>(k), n);
    });
    if (!bad) p.fw_tags.store(true, std::memory_order_relaxed);
    return bad;
}

// Set on the main lcore before the workers launch, cleared after they stopped;
// workers only read it (the launch is the happens-before edge).
Plane* g_plane = nullptr;
std::unique_ptr<Plane> g_owner;

inline uint32_t now_s(const dp::Worker& w) noexcept { return static_cast<uint32_t>(w.now_tsc / (w.tsc_hz ? w.tsc_hz : 1)); }

fw::FwKey fw_key(const uint8_t* ip, const L4Info& li) noexcept {
    fw::FwKey k;
    k.proto = ip[9];
    k.src = net::load_be32(ip + 12);
    k.dst = net::load_be32(ip + 16);
    if (li.kind == L4Kind::tcp || li.kind == L4Kind::udp) {
        k.src_port = li.src_port;
        k.dst_port = li.dst_port;
    } else if (k.proto == net::kProtoIcmp && li.kind != L4Kind::fragment && li.kind != L4Kind::malformed) {
        k.src_port = ip[li.l4_off];       // type
        k.dst_port = ip[li.l4_off + 1];   // code
    }
    return k;
}

/// Sends the reject answer for `m` back into the tunnel (outbound SPD + encrypt).
/// Answers a rejected packet (TCP RST / ICMP unreachable, fw/reject.hpp) to its sender:
/// from_tunnel: back into the tunnel it came from (the SPD picks the SA, RFC 4301 §5.1);
/// to_tunnel: by the routing table (the sender is not in a tunnel).
void send_reject(dp::Worker& w, const uint8_t* ip, uint32_t len, fw::Direction dir) noexcept {
    rte_mbuf* r = rte_pktmbuf_alloc(w.dp.pool);
    if (!r) return;
    auto* out = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(r, fw::kRejectMaxBytes));
    const uint32_t n = out ? fw::build_reject(ip, len, out) : 0;
    if (n == 0) {
        rte_pktmbuf_free(r);
        return;
    }
    rte_pktmbuf_trim(r, static_cast<uint16_t>(fw::kRejectMaxBytes - n));
    if (dir == fw::Direction::to_tunnel) {
        bump(g_plane->ws[w.index]->c.rejects_sent);
        dp::output_ip(w, r);
        return;
    }
    esp::Classification cls;
    if (esp::classify(out, n, cls, w.dp.cfg.dataplane.nat_t_port) != esp::DropReason::none) {
        rte_pktmbuf_free(r);
        return;
    }
    bump(g_plane->ws[w.index]->c.rejects_sent);
    dp::outbound_burst(w, w.dp.outside_port, &r, &cls, 1);
}

std::string prefix_str(uint32_t net, uint8_t len) {
    return fmt::format("{}.{}.{}.{}/{}", net >> 24, (net >> 16) & 255, (net >> 8) & 255, net & 255, len);
}
std::string addr_str(uint32_t a) { return fmt::format("{}.{}.{}.{}", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255); }

}  // namespace

void worker_init(dp::Worker& w) {
    const dp::Config& cfg = w.dp.cfg;
    if (!g_plane) {
        auto p = std::make_unique<Plane>();
        p->workers = cfg.dataplane.workers;
        p->nat = cfg.nat;
        p->ws.resize(p->workers);
        if (cfg.firewall.enabled) {
            p->fw = std::make_unique<fw::Firewall>(p->workers, cfg.firewall.max_acl_bytes);
            std::string why;
            fw::RuleSet set = cfg.firewall.set;
            if (auto bad = prepare_rules(*p, w.dp, set)) throw std::runtime_error("firewall refused: " + *bad);
            if (!p->fw->install(set, &why)) throw std::runtime_error("firewall refused: " + why);
            p->fw_out.store(set.has_to_tunnel(), std::memory_order_relaxed);
        }
        g_owner = std::move(p);
        g_plane = g_owner.get();
    }
    Plane& p = *g_plane;
    if (w.index >= p.workers) throw std::runtime_error("nat: worker index beyond [dataplane].workers");
    auto s = std::make_unique<WorkerState>();
    const uint32_t now = static_cast<uint32_t>(rte_rdtsc() / (w.tsc_hz ? w.tsc_hz : 1));
    if (p.nat.enabled()) {
        s->nat.emplace(p.nat, w.index, p.workers, now);
        const std::string name = fmt::format("enf_nat_ret_{}", w.index);
        s->ring = rte_ring_create(name.c_str(), kRingSize, SOCKET_ID_ANY, RING_F_SC_DEQ);
        if (!s->ring) throw std::runtime_error(fmt::format("cannot create {}", name));
    }
    if (p.fw) {
        s->log = std::make_unique<fw::LogRing>(w.index, cfg.firewall.log_rate, rte_get_tsc_hz());
        p.fw->online(w.index);  // reports quiescent from its first poll on
    }
    p.ws[w.index] = std::move(s);
    ++p.alive;
}

void worker_fini(dp::Worker& w) noexcept {
    if (!g_plane || w.index >= g_plane->workers || !g_plane->ws[w.index]) return;
    if (g_plane->fw) g_plane->fw->offline(w.index);
    g_plane->ws[w.index].reset();
    if (--g_plane->alive == 0) {
        g_plane = nullptr;
        g_owner.reset();
    }
}

bool firewall_uses_tags() noexcept {
    const Plane* p = g_plane;
    return p && p->fw_tags.load(std::memory_order_relaxed);
}

namespace {

/// Queues the log line of a `log = true` rule's hit (rate-limited per worker).
void fw_log(dp::Worker& w, WorkerState& s, const fw::Compiled* c, const fw::FwKey& k, int32_t idx,
            fw::Action a) noexcept {
    fw::LogRecord r;
    r.tsc = w.now_tsc;
    r.src = k.src;
    r.dst = k.dst;
    r.groups = k.groups;  // the tunnel's tags: the inbound SA's (from_tunnel) or the outbound SA's (to_tunnel)
    r.conn = k.conn;
    r.rule = idx;
    r.gen = c->seq();
    r.src_port = k.src_port;
    r.dst_port = k.dst_port;
    r.proto = k.proto;
    r.action = a;
    s.log->log(r, w.now_tsc);
}

/// The firewall's verdict on one packet (counted, logged); false: consumed (dropped,
/// or rejected with the answer sent).
bool fw_verdict(dp::Worker& w, WorkerState& s, const fw::Compiled* c, const fw::FwKey& k, int32_t idx, rte_mbuf* m,
                uint8_t* ip, uint32_t len) noexcept {
    c->count(w.index, idx, len, w.now_tsc);
    const fw::Action a = c->action_of(idx);
    if (idx >= 0 && c->rules().rules[static_cast<uint32_t>(idx)].log) [[unlikely]]
        fw_log(w, s, c, k, idx, a);
    if (a == fw::Action::allow) [[likely]]
        return true;
    if (a == fw::Action::reject) {
        bump(s.c.fw_rejected);
        send_reject(w, ip, len, k.dir);
    } else {
        bump(s.c.fw_dropped);
    }
    rte_pktmbuf_free(m);
    return false;
}

/// Masquerade of one allowed packet; false: consumed (dropped, counted by WorkerNat).
bool masquerade(dp::Worker& w, Plane& p, WorkerState& s, rte_mbuf* m, uint8_t* ip, uint32_t len,
                const L4Info& li) noexcept {
    if (!s.nat) return true;
    const std::vector<MasqRule>& rules = p.nat.rules;
    for (size_t i = 0; i < rules.size(); ++i) {
        if (!rules[i].matches(li.src)) continue;
        const tables::RouteHop* nh = w.sa->route(4, ip + 16);
        if (!nh || nh->port != rules[i].out_port) continue;
        const NatVerdict v = s.nat->translate_out(ip, len, static_cast<uint16_t>(i), rules[i].pub_addr, now_s(w));
        if (v != NatVerdict::translated) [[unlikely]] {
            rte_pktmbuf_free(m);  // counted by WorkerNat (table_full, ports_exhausted, ...)
            return false;
        }
        return true;
    }
    return true;
}

}  // namespace

void from_tunnel_burst(dp::Worker& w, rte_mbuf* const* m, const uint64_t* tags, uint32_t n, bool* keep) noexcept {
    Plane* p = g_plane;
    if (!p || (!p->fw && !p->nat.enabled())) {
        for (uint32_t i = 0; i < n; ++i) keep[i] = true;
        return;
    }
    WorkerState& s = *p->ws[w.index];
    const fw::Compiled* c = p->fw ? p->fw->current() : nullptr;
    constexpr uint32_t kB = fw::Compiled::kBurst;
    for (uint32_t b = 0; b < n; b += kB) {
        const uint32_t nb = n - b < kB ? n - b : kB;
        L4Info li[kB];
        fw::FwKey k[kB];
        int32_t idx[kB];
        bool v4[kB];
        uint32_t nk = 0;
        for (uint32_t i = 0; i < nb; ++i) {
            uint8_t* ip = rte_pktmbuf_mtod(m[b + i], uint8_t*);
            keep[b + i] = true;
            v4[i] = (ip[0] >> 4) == 4;
            if (!v4[i]) continue;  // IPv6: neither filtered nor masqueraded yet
            li[i] = parse_l4(ip, m[b + i]->data_len);
            if (!c) continue;
            k[nk] = fw_key(ip, li[i]);
            k[nk].groups = static_cast<uint32_t>(tags[b + i]);
            k[nk].conn = static_cast<uint32_t>(tags[b + i] >> 32);
            ++nk;
        }
        if (nk) c->classify(k, idx, nk);
        uint32_t kk = 0;
        for (uint32_t i = 0; i < nb; ++i) {
            if (!v4[i]) continue;
            rte_mbuf* x = m[b + i];
            uint8_t* ip = rte_pktmbuf_mtod(x, uint8_t*);
            const uint32_t len = x->data_len;
            if (c && !fw_verdict(w, s, c, k[kk], idx[kk], x, ip, len)) {
                ++kk;
                keep[b + i] = false;
                continue;
            }
            if (c) ++kk;
            keep[b + i] = masquerade(w, *p, s, x, ip, len, li[i]);
        }
    }
}

bool firewall_to_tunnel() noexcept {
    const Plane* p = g_plane;
    return p && p->fw_out.load(std::memory_order_relaxed);
}

void to_tunnel_burst(dp::Worker& w, rte_mbuf* const* m, const uint64_t* tags, uint32_t n, bool* keep) noexcept {
    for (uint32_t i = 0; i < n; ++i) keep[i] = true;
    Plane* p = g_plane;
    const fw::Compiled* c = p && p->fw ? p->fw->current() : nullptr;
    if (!c) return;
    WorkerState& s = *p->ws[w.index];
    constexpr uint32_t kB = fw::Compiled::kBurst;
    for (uint32_t b = 0; b < n; b += kB) {
        const uint32_t nb = n - b < kB ? n - b : kB;
        fw::FwKey k[kB];
        int32_t idx[kB];
        uint32_t at[kB];  // key j is m[b + at[j]]
        uint32_t nk = 0;
        for (uint32_t i = 0; i < nb; ++i) {
            const uint8_t* ip = rte_pktmbuf_mtod(m[b + i], const uint8_t*);
            if ((ip[0] >> 4) != 4) continue;  // IPv6: not filtered yet
            k[nk] = fw_key(ip, parse_l4(ip, m[b + i]->data_len));
            k[nk].dir = fw::Direction::to_tunnel;
            k[nk].groups = static_cast<uint32_t>(tags[b + i]);
            k[nk].conn = static_cast<uint32_t>(tags[b + i] >> 32);
            at[nk++] = i;
        }
        if (nk == 0) continue;
        c->classify(k, idx, nk);
        for (uint32_t j = 0; j < nk; ++j) {
            rte_mbuf* x = m[b + at[j]];
            keep[b + at[j]] = fw_verdict(w, s, c, k[j], idx[j], x, rte_pktmbuf_mtod(x, uint8_t*), x->data_len);
        }
    }
}

ReturnVerdict to_public(dp::Worker& w, uint16_t port, rte_mbuf* m, esp::Classification& cls) noexcept {
    (void)port;
    Plane* p = g_plane;
    if (!p || !p->nat.enabled() || cls.ip_version != 4 || cls.kind != esp::PacketKind::other) return ReturnVerdict::not_nat;
    uint8_t* ip = rte_pktmbuf_mtod(m, uint8_t*);
    const L4Info li = parse_l4(ip, cls.ip_len);
    if (li.kind == L4Kind::icmp_echo && ip[li.l4_off] != kIcmpEchoReply) return ReturnVerdict::not_nat;  // pings to us
    const int32_t owner = return_owner(li, p->nat.port_lo, p->nat.port_hi, p->workers);
    if (owner < 0) return ReturnVerdict::not_nat;
    WorkerState& s = *p->ws[w.index];
    if (static_cast<uint32_t>(owner) != w.index) {
        // Port → worker is a pure function: the owner's table has the session.
        if (rte_ring_mp_enqueue(p->ws[static_cast<uint32_t>(owner)]->ring, m) != 0) [[unlikely]] {
            bump(s.c.handoff_full);
            rte_pktmbuf_free(m);
        } else {
            bump(s.c.handed_off);
        }
        return ReturnVerdict::consumed;
    }
    if (s.nat->translate_in(ip, cls.ip_len, now_s(w)) != NatVerdict::translated) return ReturnVerdict::not_nat;
    if (m->data_len > cls.ip_len) rte_pktmbuf_trim(m, static_cast<uint16_t>(m->data_len - cls.ip_len));
    if (esp::classify(ip, cls.ip_len, cls, w.dp.cfg.dataplane.nat_t_port) != esp::DropReason::none) [[unlikely]] {
        rte_pktmbuf_free(m);
        return ReturnVerdict::consumed;
    }
    return ReturnVerdict::translated;
}

void gateway_icmp_error(dp::Worker& w, uint8_t* ip, uint32_t len) noexcept {
    Plane* p = g_plane;
    if (!p || !p->nat.enabled()) return;
    WorkerState& s = *p->ws[w.index];
    if (parse_l4(ip, len).kind != L4Kind::icmp_error) return;
    // The quote is (remote → inside): exactly an inside host's error, as translate_out handles it.
    (void)s.nat->translate_out(ip, len, 0, 0, now_s(w));
}

void worker_poll(dp::Worker& w) noexcept {
    Plane* p = g_plane;
    if (!p) return;
    WorkerState& s = *p->ws[w.index];
    if (s.nat) {
        rte_mbuf* pkts[kDrainBurst];
        const unsigned n = rte_ring_sc_dequeue_burst(s.ring, reinterpret_cast<void**>(pkts), kDrainBurst, nullptr);
        if (n) {
            rte_mbuf* out[kDrainBurst];
            esp::Classification cls[kDrainBurst];
            uint32_t k = 0;
            const uint16_t nat_t = w.dp.cfg.dataplane.nat_t_port;
            for (unsigned i = 0; i < n; ++i) {
                rte_mbuf* m = pkts[i];
                uint8_t* ip = rte_pktmbuf_mtod(m, uint8_t*);
                esp::Classification c;
                if (esp::classify(ip, m->data_len, c, nat_t) != esp::DropReason::none ||
                    s.nat->translate_in(ip, c.ip_len, now_s(w)) != NatVerdict::translated) {
                    bump(s.c.return_no_session);
                    rte_pktmbuf_free(m);
                    continue;
                }
                if (m->data_len > c.ip_len) rte_pktmbuf_trim(m, static_cast<uint16_t>(m->data_len - c.ip_len));
                if (esp::classify(ip, c.ip_len, cls[k], nat_t) != esp::DropReason::none) {
                    rte_pktmbuf_free(m);
                    continue;
                }
                out[k++] = m;
            }
            if (k) dp::outbound_burst(w, w.dp.outside_port, out, cls, k);
        }
        s.nat->tick(now_s(w));
        const uint32_t req = __atomic_load_n(&s.flush_req, __ATOMIC_RELAXED);
        if (req != s.flush_done && s.nat->flush(4096)) __atomic_store_n(&s.flush_done, req, __ATOMIC_RELAXED);
    }
    if (p->fw) p->fw->quiescent(w.index);
}

void control_tick(const dp::Dataplane& dp) {
    Plane* p = g_plane;
    if (!p || !p->fw) return;
    const fw::Compiled* c = p->fw->current();  // control thread: the only one that frees sets
    fw::LogRecord recs[64];
    std::vector<std::string> groups, conns;
    bool names = false;
    uint64_t suppressed = 0;
    uint32_t rate = 0;
    for (uint32_t i = 0; i < p->workers; ++i) {
        WorkerState* s = p->ws[i].get();
        if (!s || !s->log) continue;
        suppressed += s->log->suppressed();
        rate = s->log->per_second();
        // At most 4 rings' worth per tick: the control socket stays responsive.
        for (int round = 0; round < 4; ++round) {
            const unsigned n = s->log->drain(recs, 64);
            if (n && !names && dp.sa) {
                groups = tables::tag_names(dp.sa->tables(), 0);
                conns = tables::tag_names(dp.sa->tables(), 1);
                names = true;
            }
            for (unsigned k = 0; k < n; ++k) {
                const fw::RuleSet* set = c && c->seq() == recs[k].gen ? &c->rules() : nullptr;
                fmt::print(stderr, "espgw-dp: {}\n", fw::format_log(recs[k], set, groups, conns, i));
            }
            if (n < 64) break;
        }
    }
    if (suppressed > p->log_suppressed_told) {
        fmt::print(stderr, "espgw-dp: fw: {} log lines suppressed (rate limit {}/s per worker)\n",
                   suppressed - p->log_suppressed_told, rate);
        p->log_suppressed_told = suppressed;
    }
}

std::string nat_json(const dp::Dataplane& dp) {
    (void)dp;
    Plane* p = g_plane;
    if (!p || !p->nat.enabled()) return "{\"enabled\":false}";
    std::string ws = "[";
    NatCounters t;
    uint64_t sessions = 0, capacity = 0, handed = 0, hfull = 0, nosess = 0, untracked = 0;
    std::vector<std::vector<TalkerTable::Entry>> talkers;
    for (uint32_t i = 0; i < p->workers; ++i) {
        const WorkerState* s = p->ws[i].get();
        if (!s || !s->nat) continue;
        const NatCounters& c = s->nat->counters;
        const uint64_t sz = s->nat->table().size();
        sessions += sz;
        capacity += s->nat->table().capacity();
        t.out_packets += rd(c.out_packets);
        t.out_bytes += rd(c.out_bytes);
        t.in_packets += rd(c.in_packets);
        t.in_bytes += rd(c.in_bytes);
        t.created += rd(c.created);
        t.expired += rd(c.expired);
        t.icmp_errors += rd(c.icmp_errors);
        t.table_full += rd(c.table_full);
        t.ports_exhausted += rd(c.ports_exhausted);
        t.unsupported += rd(c.unsupported);
        t.fragments += rd(c.fragments);
        t.no_session += rd(c.no_session);
        t.flushed += rd(c.flushed);
        handed += rd(s->c.handed_off);
        hfull += rd(s->c.handoff_full);
        nosess += rd(s->c.return_no_session);
        talkers.push_back(s->nat->table().talkers().snapshot());
        untracked += s->nat->table().talkers().untracked();
        ws += fmt::format("{}{{\"worker\":{},\"sessions\":{},\"ports\":\"{}-{}\",\"created\":{},\"out_packets\":{},\"in_packets\":{},\"handed_off\":{}}}",
                          ws.size() > 1 ? "," : "", i, sz, s->nat->table().port_lo(), s->nat->table().port_hi(),
                          rd(c.created), rd(c.out_packets), rd(c.in_packets), rd(s->c.handed_off));
    }
    ws += "]";
    std::string rules = "[";
    for (size_t i = 0; i < p->nat.rules.size(); ++i) {
        const MasqRule& r = p->nat.rules[i];
        rules += fmt::format("{}{{\"source\":\"{}\",\"port\":\"{}\",\"address\":\"{}\"}}", i ? "," : "",
                             prefix_str(r.src_net, r.src_len), r.out_port_name, addr_str(r.pub_addr));
    }
    rules += "]";
    std::string top = "[";
    for (const TalkerTable::Entry& e : top_talkers(talkers, kTopTalkers))
        top += fmt::format("{}{{\"address\":\"{}\",\"sessions\":{},\"packets\":{}}}", top.size() > 1 ? "," : "",
                           addr_str(e.addr), e.sessions, e.packets);
    top += "]";
    return fmt::format(
        "{{\"enabled\":true,\"sessions\":{},\"capacity\":{},\"bytes_per_session\":{},\"out_packets\":{},\"out_bytes\":{},"
        "\"in_packets\":{},\"in_bytes\":{},\"created\":{},\"expired\":{},\"icmp_errors\":{},\"table_full\":{},"
        "\"ports_exhausted\":{},\"unsupported\":{},\"fragments\":{},\"no_session\":{},\"handed_off\":{},"
        "\"handoff_full\":{},\"return_no_session\":{},\"flushed\":{},\"rules\":{},\"workers\":{},\"top_talkers\":{},"
        "\"talkers_untracked\":{}}}",
        sessions, capacity, kBytesPerSession, t.out_packets, t.out_bytes, t.in_packets, t.in_bytes, t.created,
        t.expired, t.icmp_errors, t.table_full, t.ports_exhausted, t.unsupported, t.fragments, t.no_session, handed,
        hfull, nosess, t.flushed, rules, ws, top, untracked);
}

std::string rules_json(const dp::Dataplane& dp) {
    Plane* p = g_plane;
    if (!p || !p->fw) return "{\"enabled\":false}";
    const fw::Compiled* c = p->fw->current();  // control thread: the only one that frees sets
    uint64_t dropped = 0, rejected = 0, sent = 0, logged = 0, suppressed = 0;
    for (uint32_t i = 0; i < p->workers; ++i)
        if (const WorkerState* s = p->ws[i].get()) {
            dropped += rd(s->c.fw_dropped);
            rejected += rd(s->c.fw_rejected);
            sent += rd(s->c.rejects_sent);
            if (s->log) {
                logged += s->log->logged();
                suppressed += s->log->suppressed();
            }
        }
    const uint64_t now = rte_rdtsc();
    const uint64_t hz = rte_get_tsc_hz();
    auto ago = [&](uint64_t t) { return t == 0 ? std::string("null") : fmt::format("{:.3f}", double(now - t) / double(hz)); };
    std::string rs = "[";
    const fw::RuleSet& set = c->rules();
    for (size_t i = 0; i < set.rules.size(); ++i) {
        const fw::Rule& r = set.rules[i];
        const fw::RuleHits h = c->hits(static_cast<int32_t>(i));
        // A to_tunnel rule's groups/users are the receiving tunnel's (config keys destination_*).
        const bool to = r.direction == fw::Direction::to_tunnel;
        const std::vector<std::string> none;
        std::string comment;
        for (char ch : r.comment) comment += (ch == '"' || ch == '\\') ? ' ' : ch;
        // Names were validated as [A-Za-z0-9._@-]: safe in JSON strings.
        auto list = [](const std::vector<std::string>& v) {
            std::string o = "[";
            for (size_t k = 0; k < v.size(); ++k) o += fmt::format("{}\"{}\"", k ? "," : "", v[k]);
            return o + "]";
        };
        rs += fmt::format(
            "{}{{\"index\":{},\"source\":\"{}\",\"destination\":\"{}\",\"protocol\":{},\"source_ports\":\"{}-{}\","
            "\"ports\":\"{}-{}\",\"icmp_type\":{},\"action\":\"{}\",\"log\":{},\"enabled\":{},\"comment\":\"{}\","
            "\"source_group\":{},\"connection\":{},\"source_user\":{},\"destination_group\":{},\"destination_user\":{},"
            "\"source_pool\":\"{}\",\"direction\":\"{}\",\"packets\":{},"
            "\"bytes\":{},\"last_hit_s_ago\":{}}}",
            i ? "," : "", i, prefix_str(r.src_net, r.src_len), prefix_str(r.dst_net, r.dst_len), r.proto, r.src_port_lo,
            r.src_port_hi, r.dst_port_lo, r.dst_port_hi, r.icmp_type, fw::action_name(r.action), r.log, r.enabled,
            comment, list(to ? none : r.groups), list(r.connections), list(to ? none : r.users),
            list(to ? r.groups : none), list(to ? r.users : none), r.pool, to ? "to_tunnel" : "from_tunnel", h.packets,
            h.bytes, ago(h.last_hit));
    }
    rs += "]";
    const fw::RuleHits d = c->hits(-1);
    const fw::RuleHits dt = c->hits(fw::kDefaultToTunnel);
    (void)dp;
    return fmt::format(
        "{{\"enabled\":true,\"generation\":{},\"default\":\"{}\",\"default_packets\":{},\"default_bytes\":{},"
        "\"default_to_tunnel\":\"{}\",\"default_to_tunnel_packets\":{},"
        "\"dropped\":{},\"rejected\":{},\"rejects_sent\":{},\"log_lines\":{},\"log_suppressed\":{},\"rules\":{}}}",
        p->fw->generation(), fw::action_name(set.default_action), d.packets, d.bytes,
        fw::action_name(set.default_to_tunnel), dt.packets, dropped, rejected, sent, logged,
        suppressed, rs);
}

std::string rules_load(const dp::Dataplane& dp, const std::string& path) {
    Plane* p = g_plane;
    if (!p || !p->fw) return "{\"error\":\"no [firewall] configured at start\"}";
    std::ifstream in(path);
    if (!in) return fmt::format("{{\"error\":\"{}: cannot be read\"}}", path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string why;
    try {
        fw::FirewallConfig fc = fw::parse_firewall_text(ss.str());
        if (auto bad = prepare_rules(*p, dp, fc.set)) throw std::runtime_error(*bad);
        const bool out = fc.set.has_to_tunnel();
        if (out) p->fw_out.store(true, std::memory_order_relaxed);
        const bool ok = p->fw->install(fc.set, &why);
        p->fw_out.store(ok ? out : p->fw->current()->rules().has_to_tunnel(), std::memory_order_relaxed);
        if (ok)
            return fmt::format("{{\"ok\":true,\"generation\":{},\"rules\":{}}}", p->fw->generation(), fc.set.rules.size());
    } catch (const std::exception& e) {
        why = e.what();
    }
    for (char& ch : why)
        if (ch == '"' || ch == '\\') ch = '\'';
    return fmt::format("{{\"error\":\"{}\"}}", why);
}

std::string natfw_answer(const dp::Dataplane& dp, const std::vector<std::string>& words) {
    size_t at = !words.empty() && words[0] == "show" ? 1 : 0;
    if (words.size() == at + 1 && words[at] == "nat") return nat_json(dp);
    if (words.size() == at + 1 && words[at] == "rules") return rules_json(dp);
    if (at == 0 && words.size() == 2 && words[0] == "nat" && words[1] == "flush") {
        Plane* p = g_plane;
        if (!p || !p->nat.enabled()) return "{\"error\":\"no [[masquerade]] configured\"}";
        uint64_t sessions = 0;
        for (uint32_t i = 0; i < p->workers; ++i)
            if (WorkerState* s = p->ws[i].get(); s && s->nat) {
                sessions += s->nat->table().size();
                __atomic_store_n(&s->flush_req, __atomic_load_n(&s->flush_req, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
            }
        return fmt::format("{{\"ok\":true,\"flushing\":{}}}", sessions);
    }
    if (at == 0 && words.size() == 3 && words[0] == "rules" && words[1] == "load") return rules_load(dp, words[2]);
    return {};
}

}  // namespace espgw::nat

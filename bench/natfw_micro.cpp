// Micro-benchmark of the firewall + masquerade stage of espgw-dp's decrypt path
// (nat_path.cpp from_tunnel: one rte_acl classify per packet, count, then
// WorkerNat::translate_out), on one core, against the same loop without them.
//
// Per packet every variant restores a 64-byte inner IPv4/UDP packet of flow f (a
// template plus the flow's addresses/ports: cache-resident, as a just-decrypted packet
// is) and parses its L4 header; then
//   base:      nothing else (the pipeline without firewall and masquerade)
//   fw R:      the firewall key, rte_acl classify of 1 key (as from_tunnel does), the
//              per-rule counter; R rules, the packet's allow rule last (worst case:
//              R - 1 drop rules on other destinations/ports before it)
//   nat S:     translate_out against a table already holding S sessions (every packet
//              hits an existing session: flows picked in a random order over all S)
//   fw R + nat S: both.
//   fw R (bursts of 32): the firewall with 32 keys per classify call, for comparison
//              (base cost of a 32-packet loop included, as in the others).
// ns/packet is the median of trials; "added" subtracts base. The dataplane's whole
// decrypt pipeline cost per packet comes from the macro bench (bench/run), so
//   Mpps with natfw ≈ 1e3 / (1e3 / pipeline_Mpps + added_ns).
//
//   natfw_micro [--quick] [--json FILE] [--trials N]

#include <rte_eal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <fmt/os.h>

#include "dataplane/fw/classifier.hpp"
#include "dataplane/nat/masquerade.hpp"
#include "dataplane/net/ip.hpp"

namespace {

using namespace espgw;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kPub = 0xC6336401;  // 198.51.100.1
constexpr uint32_t kLen = 64;

struct Flow {
    uint32_t src, dst;
    uint16_t sport, dport;
};

// Flow f: 4096 clients 10.20.x.y, client port 1024 + f/4096, 256 remote hosts × 64
// ports (enough remote endpoints that 1 M sessions do not exhaust public ports).
Flow flow(uint32_t f) {
    return {0x0A140000u | (f & 0xFFF), 0xCB007100u | ((f * 7) & 0xFF), static_cast<uint16_t>(1024 + (f >> 12)),
            static_cast<uint16_t>(5000 + ((f >> 8) & 63))};
}

void build_template(uint8_t* p) {
    std::memset(p, 0, kLen);
    p[0] = 0x45;
    p[2] = 0;
    p[3] = kLen;
    p[8] = 64;
    p[9] = net::kProtoUdp;
    p[24] = 0;
    p[25] = kLen - 20;  // UDP length
    for (uint32_t i = 28; i < kLen; ++i) p[i] = static_cast<uint8_t>(i);
}

inline void make_packet(uint8_t* p, const uint8_t* tmpl, const Flow& fl) {
    std::memcpy(p, tmpl, kLen);
    net::store_be32(p + 12, fl.src);
    net::store_be32(p + 16, fl.dst);
    p[20] = static_cast<uint8_t>(fl.sport >> 8);
    p[21] = static_cast<uint8_t>(fl.sport);
    p[22] = static_cast<uint8_t>(fl.dport >> 8);
    p[23] = static_cast<uint8_t>(fl.dport);
}

fw::RuleSet rules(uint32_t n) {
    fw::RuleSet rs;
    std::mt19937 rng(7);
    for (uint32_t i = 0; i + 1 < n; ++i) {
        fw::Rule r;
        r.dst_net = 0xC6120000u | (i & 0xFFFF);  // 198.18.x.y: never a packet's destination
        r.dst_len = static_cast<uint8_t>(24 + rng() % 9);
        r.dst_net &= r.dst_len == 0 ? 0 : ~uint32_t{0} << (32 - r.dst_len);
        r.src_net = 0x0A140000u;
        r.src_len = static_cast<uint8_t>(rng() % 2 ? 16 : 0);
        r.proto = rng() % 2 ? net::kProtoUdp : net::kProtoTcp;
        r.dst_port_lo = static_cast<uint16_t>(rng() % 60000);
        r.dst_port_hi = static_cast<uint16_t>(r.dst_port_lo + rng() % 100);
        r.action = fw::Action::drop;
        rs.rules.push_back(r);
    }
    fw::Rule allow;
    allow.src_net = 0x0A140000u;
    allow.src_len = 16;
    allow.action = fw::Action::allow;
    rs.rules.push_back(allow);
    rs.default_action = fw::Action::drop;
    return rs;
}

struct Result {
    std::string name;
    double ns = 0, min_ns = 0, max_ns = 0;
};

}  // namespace

int main(int argc, char** argv) {
    bool quick = false;
    std::string json;
    int trials = 5;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--quick") quick = true, trials = 2;
        else if (a == "--json" && i + 1 < argc) json = argv[++i];
        else if (a == "--trials" && i + 1 < argc) trials = std::max(1, std::atoi(argv[++i]));
        else {
            std::fprintf(stderr, "usage: natfw_micro [--quick] [--json FILE] [--trials N]\n");
            return 2;
        }
    }
    const char* eal[] = {"natfw_micro", "--no-pci", "--no-huge", "-m", "512", "--file-prefix", "natfw_micro",
                         "--log-level=3", "-l", "0"};
    if (rte_eal_init(static_cast<int>(std::size(eal)), const_cast<char**>(eal)) < 0) {
        std::fprintf(stderr, "natfw_micro: rte_eal_init failed\n");
        return 1;
    }
    const uint64_t packets = quick ? 2'000'000 : 8'000'000;
    const std::vector<uint32_t> rule_counts = {1, 100, 10000};
    const std::vector<uint32_t> session_counts = quick ? std::vector<uint32_t>{10000, 100000}
                                                       : std::vector<uint32_t>{10000, 1000000};
    alignas(64) uint8_t tmpl[kLen];
    alignas(64) uint8_t pkt[kLen];
    build_template(tmpl);

    std::vector<std::unique_ptr<fw::Compiled>> fws;
    for (uint32_t n : rule_counts) {
        std::string why;
        auto t0 = Clock::now();
        fws.push_back(fw::Compiled::build(rules(n), 1, n, 0, &why));
        if (!fws.back()) {
            std::fprintf(stderr, "natfw_micro: %u rules refused: %s\n", n, why.c_str());
            return 1;
        }
        fmt::print(stderr, "natfw_micro: {} rules compiled in {:.1f} ms\n", n,
                   std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    std::vector<std::unique_ptr<nat::WorkerNat>> nats;
    std::vector<std::vector<uint32_t>> orders;
    for (uint32_t s : session_counts) {
        nat::NatConfig cfg;
        cfg.max_sessions = s;
        cfg.rules.resize(1);
        cfg.timeouts.udp_s = 1u << 30;
        auto w = std::make_unique<nat::WorkerNat>(cfg, 0, 1, 1000);
        for (uint32_t f = 0; f < s; ++f) {
            make_packet(pkt, tmpl, flow(f));
            if (w->translate_out(pkt, kLen, 0, kPub, 1000) != nat::NatVerdict::translated) {
                std::fprintf(stderr, "natfw_micro: session %u of %u not created\n", f, s);
                return 1;
            }
        }
        std::vector<uint32_t> order(std::min<uint64_t>(packets, std::max<uint32_t>(s, 1u << 20)));
        std::mt19937 rng(s);
        for (auto& o : order) o = rng() % s;
        orders.push_back(std::move(order));
        nats.push_back(std::move(w));
    }

    // One variant: fw index (-1 none), nat index (-1 none, flows over 10,000).
    uint64_t sink = 0;
    auto run = [&](int fi, int ni) {
        const fw::Compiled* c = fi < 0 ? nullptr : fws[static_cast<size_t>(fi)].get();
        nat::WorkerNat* w = ni < 0 ? nullptr : nats[static_cast<size_t>(ni)].get();
        const std::vector<uint32_t>& order = orders[ni < 0 ? 0 : static_cast<size_t>(ni)];
        std::vector<double> ns;
        for (int t = 0; t < trials; ++t) {
            const auto t0 = Clock::now();
            size_t oi = 0;
            for (uint64_t i = 0; i < packets; ++i) {
                make_packet(pkt, tmpl, flow(order[oi]));
                oi = oi + 1 == order.size() ? 0 : oi + 1;
                const nat::L4Info li = nat::parse_l4(pkt, kLen);
                sink += li.src_port;
                if (c) {
                    fw::FwKey k;
                    k.proto = pkt[9];
                    k.src = li.src;
                    k.dst = li.dst;
                    k.src_port = li.src_port;
                    k.dst_port = li.dst_port;
                    int32_t idx;
                    c->classify(&k, &idx, 1);
                    c->count(0, idx, kLen, i);
                    if (c->action_of(idx) != fw::Action::allow) {
                        std::fprintf(stderr, "natfw_micro: packet not allowed\n");
                        std::exit(1);
                    }
                }
                if (w && w->translate_out(pkt, kLen, 0, kPub, 1000) != nat::NatVerdict::translated) {
                    std::fprintf(stderr, "natfw_micro: packet not translated\n");
                    std::exit(1);
                }
                sink += pkt[21];
            }
            ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / double(packets));
        }
        std::sort(ns.begin(), ns.end());
        Result r;
        r.ns = ns[ns.size() / 2];
        r.min_ns = ns.front();
        r.max_ns = ns.back();
        return r;
    };

    // The firewall on bursts: 32 keys per rte_acl_classify call (what a batched
    // from_tunnel would do; the dataplane classifies one key per call today).
    alignas(64) uint8_t bpkt[32][kLen];
    auto run_burst = [&](int fi) {
        const fw::Compiled* c = fws[static_cast<size_t>(fi)].get();
        const std::vector<uint32_t>& order = orders[0];
        std::vector<double> ns;
        for (int t = 0; t < trials; ++t) {
            const auto t0 = Clock::now();
            size_t oi = 0;
            for (uint64_t i = 0; i < packets; i += 32) {
                fw::FwKey k[32];
                int32_t idx[32];
                for (uint32_t j = 0; j < 32; ++j) {
                    make_packet(bpkt[j], tmpl, flow(order[oi]));
                    oi = oi + 1 == order.size() ? 0 : oi + 1;
                    const nat::L4Info li = nat::parse_l4(bpkt[j], kLen);
                    k[j].proto = bpkt[j][9];
                    k[j].src = li.src;
                    k[j].dst = li.dst;
                    k[j].src_port = li.src_port;
                    k[j].dst_port = li.dst_port;
                }
                c->classify(k, idx, 32);
                for (uint32_t j = 0; j < 32; ++j) {
                    c->count(0, idx[j], kLen, i);
                    if (c->action_of(idx[j]) != fw::Action::allow) {
                        std::fprintf(stderr, "natfw_micro: packet not allowed\n");
                        std::exit(1);
                    }
                    sink += bpkt[j][21];
                }
            }
            ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / double(packets));
        }
        std::sort(ns.begin(), ns.end());
        Result r;
        r.ns = ns[ns.size() / 2];
        r.min_ns = ns.front();
        r.max_ns = ns.back();
        return r;
    };

    std::vector<Result> res;
    auto add = [&](std::string name, int fi, int ni) {
        Result r = run(fi, ni);
        r.name = std::move(name);
        fmt::print(stderr, "natfw_micro: {:<28} {:7.1f} ns/packet [{:.1f}-{:.1f}]\n", r.name, r.ns, r.min_ns, r.max_ns);
        res.push_back(r);
    };
    add("base", -1, -1);
    for (size_t i = 0; i < rule_counts.size(); ++i) add(fmt::format("fw {}", rule_counts[i]), static_cast<int>(i), -1);
    for (size_t i = 0; i < rule_counts.size(); ++i) {
        Result r = run_burst(static_cast<int>(i));
        r.name = fmt::format("fw {} (bursts of 32)", rule_counts[i]);
        fmt::print(stderr, "natfw_micro: {:<28} {:7.1f} ns/packet [{:.1f}-{:.1f}]\n", r.name, r.ns, r.min_ns, r.max_ns);
        res.push_back(r);
    }
    for (size_t j = 0; j < session_counts.size(); ++j) add(fmt::format("nat {}", session_counts[j]), -1, static_cast<int>(j));
    for (size_t i = 0; i < rule_counts.size(); ++i)
        for (size_t j = 0; j < session_counts.size(); ++j)
            add(fmt::format("fw {} + nat {}", rule_counts[i], session_counts[j]), static_cast<int>(i),
                static_cast<int>(j));
    add("base (again)", -1, -1);

    const double base = (res.front().ns + res.back().ns) / 2;
    fmt::print("| variant | ns/packet (median [min-max]) | added ns/packet | Mpps/core of this stage alone |\n");
    fmt::print("|---|---|---|---|\n");
    for (const Result& r : res)
        fmt::print("| {} | {:.1f} [{:.1f}-{:.1f}] | {:.1f} | {:.2f} |\n", r.name, r.ns, r.min_ns, r.max_ns, r.ns - base,
                   1e3 / r.ns);
    if (!json.empty()) {
        auto f = fmt::output_file(json);
        f.print("{{\"packets_per_trial\":{},\"trials\":{},\"base_ns\":{:.2f},\"variants\":[", packets, trials, base);
        for (size_t i = 0; i < res.size(); ++i)
            f.print("{}{{\"name\":\"{}\",\"ns\":{:.2f},\"min_ns\":{:.2f},\"max_ns\":{:.2f},\"added_ns\":{:.2f}}}",
                    i ? "," : "", res[i].name, res[i].ns, res[i].min_ns, res[i].max_ns, res[i].ns - base);
        f.print("],\"sink\":{}}}\n", sink & 1);
    }
    std::fflush(stdout);
    fws.clear();  // rte_acl contexts go before the EAL
    rte_eal_cleanup();
    return 0;
}

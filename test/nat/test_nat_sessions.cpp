// NAT sessions: mapping, return traffic, timeouts, exhaustion, port slices.
#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <set>

#include "dataplane/nat/masquerade.hpp"
#include "test/nat/nat_packets.hpp"

using namespace espgw;
using namespace espgw::nat;
using namespace espgw::nat::test;

namespace {
constexpr uint32_t kClient = 0x0A140001;
constexpr uint32_t kPub = 0xC6336401;
constexpr uint32_t kRemote = 0xCB007105;

uint16_t out_port(WorkerNat& nat, Bytes p, uint32_t now) {
    REQUIRE(nat.translate_out(p.data(), static_cast<uint32_t>(p.size()), 0, kPub, now) == NatVerdict::translated);
    REQUIRE(net::load_be32(&p[12]) == kPub);
    return parse_l4(p.data(), static_cast<uint32_t>(p.size())).src_port;
}
bool back_ok(WorkerNat& nat, Bytes p, uint32_t now) {
    return nat.translate_in(p.data(), static_cast<uint32_t>(p.size()), now) == NatVerdict::translated;
}
}  // namespace

TEST_CASE("sessions: a flow keeps its mapping and return traffic is translated back", "[nat][sessions]") {
    WorkerNat nat(NatConfig{}, 0, 1, 100);
    const uint16_t p1 = out_port(nat, udp(kClient, kRemote, 5000, 53), 100);
    CHECK(out_port(nat, udp(kClient, kRemote, 5000, 53), 101) == p1);
    Bytes back = udp(kRemote, kPub, 53, p1);
    REQUIRE(nat.translate_in(back.data(), static_cast<uint32_t>(back.size()), 102) == NatVerdict::translated);
    CHECK(net::load_be32(&back[16]) == kClient);
    CHECK(net::load_be16(&back[22]) == 5000);
    CHECK(l4_ok(back));
    // A packet from another remote port to the same public port is not let in.
    CHECK_FALSE(back_ok(nat, udp(kRemote, kPub, 54, p1), 102));
    CHECK_FALSE(back_ok(nat, udp(kRemote + 1, kPub, 53, p1), 102));
    CHECK(nat.counters.created == 1);
}

TEST_CASE("sessions: a million sessions fit, distinct flows get distinct public tuples", "[nat][sessions][capacity]") {
    NatConfig cfg;
    cfg.max_sessions = 1'000'000;
    WorkerNat nat(cfg, 0, 1, 0);
    std::set<std::tuple<uint32_t, uint16_t, uint32_t>> seen;  // (remote, pub port, proto) must be unique
    for (uint32_t i = 0; i < 1'000'000; ++i) {
        const uint32_t remote = kRemote + (i % 61);
        Bytes p = udp(kClient + (i / 60000), remote, static_cast<uint16_t>(1024 + i % 60000), 443, 0);
        REQUIRE(nat.translate_out(p.data(), static_cast<uint32_t>(p.size()), 0, kPub, 0) == NatVerdict::translated);
        if (i % 97 == 0) REQUIRE(seen.insert({remote, net::load_be16(&p[20]), 17}).second);
    }
    CHECK(nat.table().size() == 1'000'000);
    Bytes p = udp(kClient, kRemote + 100, 1, 1, 0);
    CHECK(nat.translate_out(p.data(), static_cast<uint32_t>(p.size()), 0, kPub, 0) == NatVerdict::drop_table_full);
    CHECK(nat.counters.table_full == 1);
    INFO("bytes per session " << kBytesPerSession);
    CHECK(kBytesPerSession <= 80);
}

TEST_CASE("sessions: exhausted ports drop new flows with a counter, old flows keep working", "[nat][sessions][exhaustion]") {
    NatConfig cfg;
    cfg.port_lo = 2000;
    cfg.port_hi = 2009;  // 10 public ports
    WorkerNat nat(cfg, 0, 1, 0);
    std::vector<uint16_t> ports;
    for (uint16_t i = 0; i < 10; ++i) ports.push_back(out_port(nat, udp(kClient, kRemote, static_cast<uint16_t>(3000 + i), 53), 0));
    Bytes p = udp(kClient, kRemote, 4000, 53);
    CHECK(nat.translate_out(p.data(), static_cast<uint32_t>(p.size()), 0, kPub, 0) == NatVerdict::drop_ports_exhausted);
    CHECK(nat.counters.ports_exhausted == 1);
    // Same ports towards another remote endpoint are free again (address and port dependent mapping).
    out_port(nat, udp(kClient, kRemote, 4000, 54), 0);
    for (uint16_t i = 0; i < 10; ++i) CHECK(back_ok(nat, udp(kRemote, kPub, 53, ports[i]), 1));
}

TEST_CASE("sessions: per-protocol timeouts, TCP following SYN, FIN and RST", "[nat][sessions][timeouts]") {
    NatConfig cfg;
    cfg.timeouts = {.tcp_syn_s = 20, .tcp_established_s = 3000, .tcp_closing_s = 40, .tcp_closed_s = 5, .udp_s = 30, .icmp_s = 10};
    WorkerNat nat(cfg, 0, 1, 0);
    const uint16_t pu = out_port(nat, udp(kClient, kRemote, 1111, 53), 0);
    const uint16_t pi = out_port(nat, icmp_echo(kClient, kRemote, kIcmpEcho, 77), 0);
    const uint16_t ps = out_port(nat, tcp(kClient, kRemote, 2222, 80, 0x02), 0);  // SYN, never answered
    const uint16_t pt = out_port(nat, tcp(kClient, kRemote, 3333, 80, 0x02), 0);
    REQUIRE(back_ok(nat, tcp(kRemote, kPub, 80, pt, 0x12), 1));  // SYN+ACK: established
    out_port(nat, tcp(kClient, kRemote, 3333, 80, 0x10), 1);
    const uint16_t pr = out_port(nat, tcp(kClient, kRemote, 4444, 80, 0x02), 0);
    REQUIRE(back_ok(nat, tcp(kRemote, kPub, 80, pr, 0x12), 1));
    REQUIRE(back_ok(nat, tcp(kRemote, kPub, 80, pr, 0x04), 2));  // RST: 5 s left
    const uint16_t pf = out_port(nat, tcp(kClient, kRemote, 5555, 80, 0x02), 0);
    REQUIRE(back_ok(nat, tcp(kRemote, kPub, 80, pf, 0x12), 1));
    out_port(nat, tcp(kClient, kRemote, 5555, 80, 0x11), 2);  // FIN: 40 s left
    CHECK(nat.table().size() == 6);

    auto alive = [&](uint32_t now) {
        for (uint32_t t = 0; t <= now; ++t) nat.tick(t);
        return nat.table().size();
    };
    CHECK(alive(6) == 6);     // nothing yet (RST session deadline 7)
    CHECK(alive(8) == 5);     // RST gone
    CHECK_FALSE(back_ok(nat, tcp(kRemote, kPub, 80, pr, 0x10), 8));
    CHECK(alive(11) == 4);    // ICMP (10 s)
    CHECK_FALSE(back_ok(nat, icmp_echo(kRemote, kPub, kIcmpEchoReply, pi), 11));
    CHECK(alive(21) == 3);    // SYN-only TCP (20 s)
    CHECK_FALSE(back_ok(nat, tcp(kRemote, kPub, 80, ps, 0x12), 21));
    REQUIRE(back_ok(nat, udp(kRemote, kPub, 53, pu), 25));  // refreshes UDP to 55
    CHECK(alive(43) == 2);    // FIN (2 + 40)
    CHECK(alive(54) == 2);
    CHECK(alive(56) == 1);    // UDP refreshed by return traffic
    CHECK(alive(2999) == 1);
    CHECK(back_ok(nat, tcp(kRemote, kPub, 80, pt, 0x10), 2999));  // established, refreshed
    CHECK(alive(2999 + 3001) == 0);
    CHECK(nat.counters.expired == 6);
}

TEST_CASE("sessions: expiry touches a bounded number of sessions per call", "[nat][sessions][timeouts]") {
    NatConfig cfg;
    cfg.timeouts.udp_s = 5;
    cfg.expire_budget = 100;
    WorkerNat nat(cfg, 0, 1, 0);
    for (uint16_t i = 0; i < 1000; ++i) out_port(nat, udp(kClient, kRemote, static_cast<uint16_t>(1024 + i), 53), 0);
    for (uint32_t t = 0; t <= 5; ++t) nat.tick(t);
    CHECK(nat.table().size() == 1000 - 100);  // the budget, not a full scan
    for (int i = 0; i < 9; ++i) nat.tick(6);
    CHECK(nat.table().size() == 0);
}

TEST_CASE("sessions: random churn keeps both indexes consistent", "[nat][sessions]") {
    NatConfig cfg;
    cfg.max_sessions = 5000;
    cfg.timeouts.udp_s = 3;
    WorkerNat nat(cfg, 0, 1, 0);
    std::mt19937 rng(3);
    std::map<std::pair<uint16_t, uint32_t>, std::pair<uint16_t, uint32_t>> live;  // (inport,remote) → (pubport, last seen)
    for (uint32_t now = 0; now < 200; ++now) {
        nat.tick(now);
        for (int i = 0; i < 200; ++i) {
            const uint16_t ip = static_cast<uint16_t>(1024 + rng() % 3000);
            const uint32_t rem = kRemote + rng() % 5;
            Bytes p = udp(kClient, rem, ip, 53, 0);
            if (nat.translate_out(p.data(), static_cast<uint32_t>(p.size()), 0, kPub, now) != NatVerdict::translated) continue;
            live[{ip, rem}] = {net::load_be16(&p[20]), now};
        }
        for (auto it = live.begin(); it != live.end();) {
            if (now - it->second.second >= 3) {
                it = live.erase(it);
                continue;
            }
            Bytes b = udp(it->first.second, kPub, 53, it->second.first, 0);
            REQUIRE(nat.translate_in(b.data(), static_cast<uint32_t>(b.size()), now) == NatVerdict::translated);
            REQUIRE(net::load_be16(&b[22]) == it->first.first);
            it->second.second = now;
            ++it;
        }
    }
    CHECK(nat.counters.ports_exhausted == 0);
}

TEST_CASE("sessions: port slices partition the range and the owner function agrees", "[nat][slices]") {
    for (uint32_t workers : {1u, 2u, 3u, 7u, 64u}) {
        uint16_t prev_hi = 1023;
        for (uint32_t w = 0; w < workers; ++w) {
            uint16_t lo, hi;
            port_slice(w, workers, 1024, 65535, &lo, &hi);
            CHECK(lo == prev_hi + 1);
            CHECK(port_owner(lo, 1024, 65535, workers) == static_cast<int32_t>(w));
            CHECK(port_owner(hi, 1024, 65535, workers) == static_cast<int32_t>(w));
            prev_hi = hi;
        }
        CHECK(prev_hi == 65535);
        CHECK(port_owner(80, 1024, 65535, workers) == -1);
    }
}

TEST_CASE("sessions: a flush empties the table in bounded steps and counts", "[nat][sessions][flush]") {
    WorkerNat nat(NatConfig{}, 0, 1, 0);
    for (uint16_t i = 0; i < 1000; ++i) out_port(nat, udp(kClient, kRemote, static_cast<uint16_t>(1024 + i), 53), i % 7);
    CHECK_FALSE(nat.flush(300));
    CHECK(nat.table().size() == 700);
    while (!nat.flush(300)) {
    }
    CHECK(nat.table().size() == 0);
    CHECK(nat.counters.flushed == 1000);
    // The table works again afterwards (indexes and wheel consistent).
    const uint16_t p = out_port(nat, udp(kClient, kRemote, 5000, 53), 10);
    CHECK(back_ok(nat, udp(kRemote, kPub, 53, p), 10));
}

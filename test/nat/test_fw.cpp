// Firewall: the rte_acl-compiled rule set against the linear first-match reference,
// refusal of bad sets, counters, and RCU swaps under a reading worker.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <rte_eal.h>

#include <atomic>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include "dataplane/fw/firewall.hpp"
#include "dataplane/fw/fw_log.hpp"

using namespace espgw::fw;

namespace {

Rule random_rule(std::mt19937& rng) {
    Rule r;
    static const uint32_t nets[] = {0x0A140000, 0x0A140100, 0xCB007100, 0xC0A80000};
    r.src_net = nets[rng() % 4] | (rng() % 4);
    r.src_len = static_cast<uint8_t>(rng() % 5 == 0 ? 0 : 16 + rng() % 17);
    r.dst_net = nets[rng() % 4] | (rng() % 4);
    r.dst_len = static_cast<uint8_t>(rng() % 4 == 0 ? 0 : 16 + rng() % 17);
    static const uint8_t protos[] = {0, 1, 6, 17};
    r.proto = protos[rng() % 4];
    if ((r.proto == 6 || r.proto == 17) && rng() % 2) {
        r.dst_port_lo = static_cast<uint16_t>(rng() % 100);
        r.dst_port_hi = static_cast<uint16_t>(r.dst_port_lo + rng() % 20);
        if (rng() % 3 == 0) {
            r.src_port_lo = static_cast<uint16_t>(rng() % 100);
            r.src_port_hi = static_cast<uint16_t>(r.src_port_lo + rng() % 50);
        }
    }
    if (r.proto == 1 && rng() % 2) r.icmp_type = static_cast<int16_t>(rng() % 4 == 0 ? 0 : 8);
    r.action = static_cast<Action>(rng() % 3);
    r.enabled = rng() % 8 != 0;
    return r;
}

FwKey random_key(std::mt19937& rng) {
    static const uint32_t nets[] = {0x0A140000, 0x0A140100, 0xCB007100, 0xC0A80000, 0x08080800};
    FwKey k;
    static const uint8_t protos[] = {1, 6, 17, 47};
    k.proto = protos[rng() % 4];
    k.src = nets[rng() % 5] | (rng() % 8);
    k.dst = nets[rng() % 5] | (rng() % 8);
    if (k.proto == 1) {
        k.src_port = static_cast<uint16_t>(rng() % 2 ? 8 : rng() % 12);
        k.dst_port = 0;
    } else if (k.proto != 47) {
        k.src_port = static_cast<uint16_t>(rng() % 130);
        k.dst_port = static_cast<uint16_t>(rng() % 130);
    }
    return k;
}

// Rules that also name user groups g0..g5 and connections c0..c3 (bit = the number).
Rule random_tagged_rule(std::mt19937& rng) {
    Rule r = random_rule(rng);
    if (rng() % 2)
        for (int g = 0; g < 6; ++g)
            if (rng() % 4 == 0) r.groups.push_back("g" + std::to_string(g));
    if (rng() % 3 == 0)
        for (int c = 0; c < 4; ++c)
            if (rng() % 3 == 0) r.connections.push_back("c" + std::to_string(c));
    return r;
}

}  // namespace

TEST_CASE("fw: rules naming user groups and connections match the SA's tags (compiled == linear)", "[fw][tags]") {
    std::mt19937 rng(23);
    auto bit_of = [](TagKind, const std::string& n) { return std::stoi(n.substr(1)); };
    for (int round = 0; round < 20; ++round) {
        RuleSet rs;
        const int n = 1 + static_cast<int>(rng() % 60);
        for (int i = 0; i < n; ++i) rs.rules.push_back(random_tagged_rule(rng));
        rs.default_action = static_cast<Action>(rng() % 3);
        std::string why;
        // Unresolved names are refused at compile time.
        bool named = false;
        for (const Rule& r : rs.rules) named |= !r.groups.empty() || !r.connections.empty();
        if (named) CHECK_FALSE(Compiled::build(rs, 1, static_cast<uint32_t>(300 + round), 0, &why));
        REQUIRE_FALSE(resolve_tags(rs, bit_of));
        auto c = Compiled::build(rs, 1, static_cast<uint32_t>(200 + round), 0, &why);
        REQUIRE(c);
        FwKey keys[Compiled::kBurst];
        int32_t got[Compiled::kBurst];
        for (int b = 0; b < 30; ++b) {
            for (auto& k : keys) {
                k = random_key(rng);
                k.groups = rng() % 4 == 0 ? 0 : static_cast<uint32_t>(rng() % 64);
                k.conn = rng() % 5 == 0 ? 0 : 1u << (rng() % 4);
            }
            c->classify(keys, got, Compiled::kBurst);
            for (uint32_t i = 0; i < Compiled::kBurst; ++i) {
                INFO("round " << round << " key " << i);
                REQUIRE(got[i] == linear_match(rs, keys[i]));
            }
        }
    }
    // Group "sales" may reach 10.10.0.5, "engineering" 10.10.0.6; both from one pool.
    RuleSet rs;
    Rule sales;
    sales.groups = {"g1"};
    sales.dst_net = 0x0A0A0005;
    sales.dst_len = 32;
    Rule eng;
    eng.groups = {"g2"};
    eng.dst_net = 0x0A0A0006;
    eng.dst_len = 32;
    rs.rules = {sales, eng};
    rs.default_action = Action::drop;
    REQUIRE_FALSE(resolve_tags(rs, bit_of));
    std::string why;
    auto c = Compiled::build(rs, 1, 400, 0, &why);
    REQUIRE(c);
    auto verdict = [&](uint32_t groups, uint32_t dst) {
        FwKey k;
        k.proto = 6;
        k.src = 0x0A630001;
        k.dst = dst;
        k.groups = groups;
        int32_t idx;
        c->classify(&k, &idx, 1);
        return c->action_of(idx);
    };
    CHECK(verdict(1u << 1, 0x0A0A0005) == Action::allow);
    CHECK(verdict(1u << 1, 0x0A0A0006) == Action::drop);
    CHECK(verdict(1u << 2, 0x0A0A0006) == Action::allow);
    CHECK(verdict(1u << 2, 0x0A0A0005) == Action::drop);
    CHECK(verdict((1u << 1) | (1u << 2), 0x0A0A0006) == Action::allow);  // a user in both groups
    CHECK(verdict(0, 0x0A0A0005) == Action::drop);                        // no group: default
    // A registry without room refuses the rule set, naming the rule.
    RuleSet full = rs;
    auto none = [](TagKind, const std::string&) { return -1; };
    const auto bad = resolve_tags(full, none);
    REQUIRE(bad);
    CHECK(bad->find("rule[0]: group 'g1'") != std::string::npos);
}

TEST_CASE("fw: compiled first match equals the linear reference on random rules and packets", "[fw]") {
    std::mt19937 rng(11);
    for (int round = 0; round < 30; ++round) {
        RuleSet rs;
        const int n = round == 0 ? 0 : 1 + static_cast<int>(rng() % (round < 20 ? 40 : 400));
        for (int i = 0; i < n; ++i) rs.rules.push_back(random_rule(rng));
        rs.default_action = static_cast<Action>(rng() % 3);
        std::string why;
        auto c = Compiled::build(rs, 1, static_cast<uint32_t>(100 + round), 0, &why);
        REQUIRE(c);
        FwKey keys[Compiled::kBurst];
        int32_t got[Compiled::kBurst];
        for (int b = 0; b < 40; ++b) {
            for (auto& k : keys) k = random_key(rng);
            c->classify(keys, got, Compiled::kBurst);
            for (uint32_t i = 0; i < Compiled::kBurst; ++i) {
                INFO("round " << round << " key " << i);
                REQUIRE(got[i] == linear_match(rs, keys[i]));
            }
        }
    }
}

TEST_CASE("fw: a specific drop above a general allow blocks exactly what it names; swapping changes it", "[fw]") {
    Rule drop53;
    drop53.proto = 17;
    drop53.dst_port_lo = drop53.dst_port_hi = 53;
    drop53.action = Action::drop;
    Rule allow_all;
    RuleSet rs{{drop53, allow_all}, Action::drop};
    std::string why;
    auto c = Compiled::build(rs, 1, 1, 0, &why);
    REQUIRE(c);
    FwKey k[3] = {{17, 0x0A140001, 0x08080808, 4000, 53}, {17, 0x0A140001, 0x08080808, 4000, 54},
                  {6, 0x0A140001, 0x08080808, 4000, 53}};
    int32_t r[3];
    c->classify(k, r, 3);
    CHECK(r[0] == 0);
    CHECK(r[1] == 1);
    CHECK(r[2] == 1);
    RuleSet swapped{{allow_all, drop53}, Action::drop};
    auto s = Compiled::build(swapped, 1, 2, 0, &why);
    REQUIRE(s);
    s->classify(k, r, 3);
    CHECK(r[0] == 0);
    CHECK(s->action_of(r[0]) == Action::allow);
    // Disabled rules do not match; the default policy applies.
    swapped.rules[0].enabled = false;
    swapped.rules[1].enabled = false;
    auto d = Compiled::build(swapped, 1, 3, 0, &why);
    d->classify(k, r, 1);
    CHECK(r[0] == -1);
    CHECK(d->action_of(-1) == Action::drop);
}

TEST_CASE("fw: a rule set that fails to compile is refused with the reason and the old one stays", "[fw][swap]") {
    Firewall fw(1);
    Rule a;
    a.proto = 6;
    a.dst_port_lo = a.dst_port_hi = 22;
    a.action = Action::reject;
    std::string why;
    REQUIRE(fw.install({{a}, Action::allow}, &why));
    const Compiled* before = fw.current();
    Rule bad;
    bad.proto = 1;
    bad.dst_port_lo = 10;  // ports on ICMP
    CHECK_FALSE(fw.install({{a, bad}, Action::allow}, &why));
    CHECK(why == "rule[1]: ports need protocol tcp or udp");
    CHECK(fw.current() == before);
    Rule lohi;
    lohi.proto = 17;
    lohi.dst_port_lo = 9;
    lohi.dst_port_hi = 8;
    CHECK_FALSE(fw.install({{lohi}, Action::allow}, &why));
    CHECK(why.find("low above high") != std::string::npos);
    // rte_acl itself refuses: a trie bigger than the configured bound.
    Firewall tiny(1, 1024);
    std::mt19937 rng(5);
    RuleSet big;
    for (int i = 0; i < 300; ++i) big.rules.push_back(random_rule(rng));
    for (auto& r : big.rules) r.enabled = true;
    CHECK_FALSE(tiny.install(big, &why));
    INFO(why);
    CHECK(why.find("rte_acl build") != std::string::npos);
    CHECK(tiny.current() == nullptr);
    CHECK(fw.current()->rules().rules.size() == 1);
}

TEST_CASE("fw: per-rule counters sum packets and bytes over workers and keep the last hit", "[fw][counters]") {
    Rule a;
    a.proto = 17;
    std::string why;
    auto c = Compiled::build({{a}, Action::drop}, 3, 7, 0, &why);
    REQUIRE(c);
    c->count(0, 0, 100, 5);
    c->count(2, 0, 50, 9);
    c->count(1, -1, 60, 3);
    CHECK(c->hits(0).packets == 2);
    CHECK(c->hits(0).bytes == 150);
    CHECK(c->hits(0).last_hit == 9);
    CHECK(c->hits(-1).packets == 1);
}

TEST_CASE("fw: swaps under a reading worker never expose a freed or half-built set", "[fw][swap]") {
    Firewall fw(2);
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> seen{0};
    std::string why;
    Rule r;
    r.proto = 6;
    REQUIRE(fw.install({{r}, Action::allow}, &why));
    std::thread worker([&] {
        fw.online(1);
        FwKey k{6, 1, 2, 3, 4};
        int32_t out;
        while (!stop.load(std::memory_order_relaxed)) {
            const Compiled* c = fw.current();
            c->classify(&k, &out, 1);
            if (out != 0) std::abort();  // every published set has the TCP rule first
            c->count(1, out, 1, 1);
            seen.fetch_add(1, std::memory_order_relaxed);
            fw.quiescent(1);
        }
        fw.offline(1);
    });
    for (int i = 0; i < 100; ++i) {
        Rule extra;
        extra.proto = 17;
        extra.dst_port_lo = static_cast<uint16_t>(i);
        extra.dst_port_hi = static_cast<uint16_t>(i);
        REQUIRE(fw.install({{r, extra}, Action::drop}, &why));
    }
    stop = true;
    worker.join();
    CHECK(fw.generation() == 101);
    CHECK(seen.load() > 0);
}

int main(int argc, char** argv) {
    const char* eal[] = {"test_fw", "--no-pci", "--no-huge", "-m", "128", "--file-prefix", "enf_fw", "--log-level=3"};
    if (rte_eal_init(static_cast<int>(std::size(eal)), const_cast<char**>(eal)) < 0) {
        std::fprintf(stderr, "rte_eal_init failed\n");
        return 2;
    }
    const int rc = Catch::Session().run(argc, argv);
    rte_eal_cleanup();
    return rc;
}

TEST_CASE("fw: source_user is the group \"user:<identity>\" (OR with source_group); bad identities refused", "[fw][tags]") {
    // Registry: group bits in order of first use, as tables::tag_bit.
    std::vector<std::string> reg;
    auto bit_of = [&](TagKind k, const std::string& n) {
        REQUIRE(k == TagKind::group);
        for (size_t i = 0; i < reg.size(); ++i)
            if (reg[i] == n) return static_cast<int>(i);
        reg.push_back(n);
        return static_cast<int>(reg.size() - 1);
    };
    RuleSet rs;
    Rule alice;
    alice.users = {"alice@example.com"};
    alice.groups = {"admins"};
    alice.dst_net = 0x0A0A0005;
    alice.dst_len = 32;
    rs.rules = {alice};
    rs.default_action = Action::drop;
    std::string why;
    CHECK_FALSE(Compiled::build(rs, 1, 500, 0, &why));  // unresolved
    REQUIRE_FALSE(resolve_tags(rs, bit_of));
    CHECK(reg == std::vector<std::string>{"admins", "user:alice@example.com"});
    CHECK(rs.rules[0].group_mask == 3u);
    auto c = Compiled::build(rs, 1, 501, 0, &why);
    REQUIRE(c);
    auto verdict = [&](uint32_t groups) {
        FwKey k;
        k.proto = 17;
        k.src = 0x0A140001;
        k.dst = 0x0A0A0005;
        k.groups = groups;
        int32_t idx;
        c->classify(&k, &idx, 1);
        CHECK(idx == linear_match(rs, k));
        return c->action_of(idx);
    };
    CHECK(verdict(1u << 1) == Action::allow);         // alice
    CHECK(verdict(1u << 0) == Action::allow);         // an admin
    CHECK(verdict(1u << 2) == Action::drop);          // bob
    CHECK(verdict(0) == Action::drop);
    // Identities longer than 26 characters cannot be tag names.
    RuleSet longer = rs;
    longer.rules[0].users = {std::string(27, 'a')};
    const auto bad = validate(longer);
    REQUIRE(bad);
    CHECK(bad->find("rule[0]: user '") == 0);
    CHECK(bad->find("1..26 characters") != std::string::npos);
    // No bit left: the message names the user.
    RuleSet full = rs;
    const auto nobit = resolve_tags(full, [](TagKind, const std::string& n) { return n == "admins" ? 0 : -1; });
    REQUIRE(nobit);
    CHECK(nobit->find("rule[0]: user 'alice@example.com': no tag bit left") == 0);
}

TEST_CASE("fw: log ring rate-limits per worker, counts what it refuses; lines name rule, flow, tags", "[fw][log]") {
    const uint64_t hz = 1000000;  // a 1 MHz "TSC" for the test
    LogRing ring(7, 10, hz);
    LogRecord r;
    r.src = 0x0A140001;
    r.dst = 0xCB007105;
    r.src_port = 40000;
    r.dst_port = 5004;
    r.proto = 6;
    r.rule = 1;
    r.gen = 3;
    r.action = Action::reject;
    r.groups = 0b101;
    r.conn = 0b10;
    uint64_t now = 5 * hz;
    for (int i = 0; i < 100; ++i) ring.log(r, now);  // one instant: the burst (10) only
    CHECK(ring.logged() == 10);
    CHECK(ring.suppressed() == 90);
    now += hz / 2;  // half a second: 5 more
    for (int i = 0; i < 100; ++i) ring.log(r, now);
    CHECK(ring.logged() == 15);
    now += 10 * hz;  // a long pause refills to the burst, not beyond
    for (int i = 0; i < 100; ++i) ring.log(r, now);
    CHECK(ring.logged() == 25);
    LogRecord out[64];
    CHECK(ring.drain(out, 64) == 25);
    CHECK(ring.drain(out, 64) == 0);
    // A full ring (consumer stalled) counts as suppressed too.
    LogRing fast(8, 100000, hz);
    for (uint32_t i = 0; i < LogRing::kRingSize + 50; ++i) fast.log(r, 100 * hz + i * hz);
    CHECK(fast.logged() == LogRing::kRingSize - 1);
    CHECK(fast.suppressed() == 51);

    RuleSet set;
    set.rules.resize(2);
    set.rules[1].comment = "reject TCP \"5004\"\n";
    const std::vector<std::string> groups = {"staff", "vpn-users", "user:alice@example.com"};
    const std::vector<std::string> conns = {"other", "rw"};
    CHECK(format_log(out[0], &set, groups, conns, 0) ==
          "fw: rule 1 \"reject TCP ?5004??\" reject tcp 10.20.0.1:40000 -> 203.0.113.5:5004 groups "
          "staff,user:alice@example.com connection rw worker 0");
    CHECK(format_log(out[0], nullptr, groups, conns, 1) ==
          "fw: rule 1 (replaced set) reject tcp 10.20.0.1:40000 -> 203.0.113.5:5004 groups "
          "staff,user:alice@example.com connection rw worker 1");
    LogRecord icmp = r;
    icmp.proto = 1;
    icmp.src_port = 8;
    icmp.dst_port = 0;
    icmp.groups = icmp.conn = 0;
    icmp.action = Action::allow;
    CHECK(format_log(icmp, nullptr, {}, {}, 0) ==
          "fw: rule 1 (replaced set) allow icmp 10.20.0.1 -> 203.0.113.5 type 8 code 0 groups - connection - worker 0");
}

TEST_CASE("fw: to_tunnel rules apply only to traffic into tunnels, with their own default (compiled == linear)",
          "[fw][direction]") {
    std::mt19937 rng(41);
    auto bit_of = [](TagKind, const std::string& n) { return std::stoi(n.substr(1)); };
    for (int round = 0; round < 20; ++round) {
        RuleSet rs;
        const int n = 1 + static_cast<int>(rng() % 60);
        for (int i = 0; i < n; ++i) {
            // Both directions name tags: the tunnel's (inbound SA from, outbound SA to).
            Rule r = random_tagged_rule(rng);
            if (rng() % 2) r.direction = Direction::to_tunnel;
            rs.rules.push_back(r);
        }
        rs.default_action = static_cast<Action>(rng() % 3);
        rs.default_to_tunnel = static_cast<Action>(rng() % 3);
        REQUIRE_FALSE(resolve_tags(rs, bit_of));
        std::string why;
        auto c = Compiled::build(rs, 1, static_cast<uint32_t>(600 + round), 0, &why);
        REQUIRE(c);
        FwKey keys[Compiled::kBurst];
        int32_t got[Compiled::kBurst];
        for (int b = 0; b < 30; ++b) {
            for (auto& k : keys) {
                k = random_key(rng);
                k.dir = rng() % 2 ? Direction::to_tunnel : Direction::from_tunnel;
                k.groups = rng() % 4 == 0 ? 0 : static_cast<uint32_t>(rng() % 64);
                k.conn = rng() % 5 == 0 ? 0 : 1u << (rng() % 4);
            }
            c->classify(keys, got, Compiled::kBurst);
            for (uint32_t i = 0; i < Compiled::kBurst; ++i) {
                INFO("round " << round << " key " << i);
                REQUIRE(got[i] == linear_match(rs, keys[i]));
                if (got[i] >= 0) REQUIRE(rs.rules[static_cast<size_t>(got[i])].direction == keys[i].dir);
                if (got[i] == kDefaultToTunnel) REQUIRE(c->action_of(got[i]) == rs.default_to_tunnel);
                if (got[i] == -1) REQUIRE(c->action_of(got[i]) == rs.default_action);
            }
        }
    }
    // A drop rule into tunnels leaves the same packet leaving a tunnel alone.
    RuleSet rs;
    Rule r;
    r.direction = Direction::to_tunnel;
    r.proto = 17;
    r.src_port_lo = r.src_port_hi = 5003;
    r.action = Action::drop;
    rs.rules = {r};
    rs.default_to_tunnel = Action::reject;
    CHECK(rs.has_to_tunnel());
    std::string why;
    auto c = Compiled::build(rs, 2, 700, 0, &why);
    REQUIRE(c);
    FwKey k;
    k.proto = 17;
    k.src_port = 5003;
    k.dst_port = 40000;
    int32_t idx;
    c->classify(&k, &idx, 1);
    CHECK(idx == -1);
    CHECK(c->action_of(idx) == Action::allow);
    k.dir = Direction::to_tunnel;
    c->classify(&k, &idx, 1);
    CHECK(idx == 0);
    k.src_port = 5004;
    c->classify(&k, &idx, 1);
    CHECK(idx == kDefaultToTunnel);
    CHECK(c->action_of(idx) == Action::reject);
    c->count(1, kDefaultToTunnel, 70, 4);
    c->count(0, -1, 30, 5);
    CHECK(c->hits(kDefaultToTunnel).packets == 1);
    CHECK(c->hits(kDefaultToTunnel).bytes == 70);
    CHECK(c->hits(-1).packets == 1);
    CHECK(c->hits(0).packets == 0);
    RuleSet none;
    CHECK_FALSE(none.has_to_tunnel());
}

TEST_CASE("fw: to_tunnel rules naming the receiving tunnel's group or connection match the outbound SA's tags",
          "[fw][direction][tags]") {
    // "Users in group staff (g1) may receive TCP 22 from the LAN 10.10.0.0/24; everything
    // else to them is dropped"; tunnels of connection c2 receive no DNS.
    auto bit_of = [](TagKind, const std::string& n) { return std::stoi(n.substr(1)); };
    RuleSet rs;
    Rule ssh;
    ssh.direction = Direction::to_tunnel;
    ssh.groups = {"g1"};
    ssh.src_net = 0x0A0A0000;
    ssh.src_len = 24;
    ssh.proto = 6;
    ssh.dst_port_lo = ssh.dst_port_hi = 22;
    Rule rest;
    rest.direction = Direction::to_tunnel;
    rest.groups = {"g1"};
    rest.action = Action::drop;
    Rule dns;
    dns.direction = Direction::to_tunnel;
    dns.connections = {"c2"};
    dns.proto = 17;
    dns.dst_port_lo = dns.dst_port_hi = 53;
    dns.action = Action::drop;
    rs.rules = {ssh, rest, dns};
    REQUIRE_FALSE(validate(rs));
    REQUIRE_FALSE(resolve_tags(rs, bit_of));
    std::string why;
    auto c = Compiled::build(rs, 1, 800, 0, &why);
    REQUIRE(c);
    auto match = [&](Direction dir, uint32_t groups, uint32_t conn, uint32_t src, uint8_t proto, uint16_t dport) {
        FwKey k;
        k.dir = dir;
        k.groups = groups;
        k.conn = conn;
        k.src = src;
        k.dst = 0x0A140007;  // the user's virtual IP
        k.proto = proto;
        k.src_port = 40000;
        k.dst_port = dport;
        int32_t idx;
        c->classify(&k, &idx, 1);
        CHECK(idx == linear_match(rs, k));
        return idx;
    };
    const auto to = Direction::to_tunnel;
    CHECK(match(to, 1u << 1, 0, 0x0A0A0002, 6, 22) == 0);                  // staff, SSH from the LAN
    CHECK(match(to, 1u << 1 | 1u << 4, 1u << 0, 0x0A0A0002, 6, 22) == 0);  // staff among other groups
    CHECK(match(to, 1u << 1, 0, 0x0A1E0005, 6, 22) == 1);                  // SSH from elsewhere: dropped
    CHECK(match(to, 1u << 1, 0, 0x0A0A0002, 6, 80) == 1);                  // other services: dropped
    CHECK(match(to, 1u << 1, 1u << 2, 0x0A0A0002, 17, 53) == 1);           // first match: the staff drop
    CHECK(match(to, 1u << 3, 0, 0x0A0A0002, 6, 80) == kDefaultToTunnel);   // not staff: default
    CHECK(match(to, 0, 1u << 2, 0x0A0A0002, 17, 53) == 2);                 // connection c2: no DNS
    CHECK(match(to, 0, 1u << 1, 0x0A0A0002, 17, 53) == kDefaultToTunnel);  // another connection
    // The same tags on a packet leaving a tunnel: to_tunnel rules do not apply.
    CHECK(match(Direction::from_tunnel, 1u << 1, 1u << 2, 0x0A0A0002, 6, 80) == -1);
    CHECK(c->action_of(1) == Action::drop);
    CHECK(c->action_of(kDefaultToTunnel) == Action::allow);
}

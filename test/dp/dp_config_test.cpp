// espgw-dp configuration parser: valid files load into the right values, every kind
// of mistake is refused with the key path and the problem.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "dataplane/dp/config.hpp"
#include "dataplane/fw/fw_config.hpp"

using namespace espgw;
using namespace espgw::dp;

namespace {

const std::string kPorts = R"(
[[port]]
name = "out"
role = "outside"
device = "net_af_packet0,iface=veth0"
addresses = ["192.0.2.1/24", "2001:db8::1/64"]
mtu = 1500

[[port]]
name = "in"
role = "inside"
device = "net_af_packet1,iface=veth1"
addresses = ["10.1.0.1/24"]
)";

const std::string kSa = R"(
[[sa]]
id = 1
spi = 0x1001
direction = "out"
suite = "aes128gcm16"
keymat = "0x000102030405060708090a0b0c0d0e0f10111213"
tunnel_src = "192.0.2.1"
tunnel_dst = "192.0.2.2"
)";

std::string error_of(const std::string& text) {
    try {
        parse_config(text);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "(accepted)";
}

}  // namespace

TEST_CASE("a complete config parses into the documented values") {
    Config c = parse_config(R"(
[dataplane]
workers = 1
burst = 64
idle_backoff = false
)" + kPorts + kSa + R"(
[[sa]]
id = 2
spi = 0x2002
direction = "in"
suite = "aes128-sha256"
keymat = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
udp_encap = true
esn = true
tunnel_src = "192.0.2.2"
tunnel_dst = "192.0.2.1"
replay_window = 128

[[route]]
prefix = "10.2.0.0/16"
via = "10.1.0.254"
port = "in"

[[neighbor]]
address = "10.1.0.254"
mac = "02:00:00:00:00:fe"
port = "in"

[[policy]]
priority = 20
dst = "10.99.0.0/16"
action = "discard"

[[policy]]
priority = 10
src = "10.1.0.0/24"
dst = "10.99.0.0/16"
proto = "udp"
dst_port = "1000-2000"
action = "protect"
sa = 1
)");
    CHECK(c.dataplane.burst == 64);
    CHECK_FALSE(c.dataplane.idle_backoff);
    REQUIRE(c.ports.size() == 2);
    CHECK(c.ports[0].role == PortRole::outside);
    CHECK_FALSE(c.ports[0].is_pci);
    REQUIRE(c.ports[0].addresses.size() == 2);
    CHECK(c.ports[0].addresses[1].addr.family == 6);
    CHECK(c.ports[0].addresses[1].len == 64);
    CHECK(c.ports[1].mtu == 1500);
    REQUIRE(c.sas.size() == 2);
    CHECK(c.sas[0].sa.spi == 0x1001);
    CHECK(c.sas[0].sa.suite.cipher == crypto::Cipher::aes_gcm_128);
    CHECK(c.sas[0].enc_keymat.size() == 20);
    CHECK(c.sas[0].auth_key.empty());
    CHECK(c.sas[1].sa.suite.integ == crypto::Integ::hmac_sha256_128);
    CHECK(c.sas[1].enc_keymat.size() == 16);
    CHECK(c.sas[1].auth_key.size() == 32);
    CHECK(c.sas[1].sa.esn);
    CHECK(c.sas[1].sa.udp_encap);
    CHECK(c.sas[1].sa.replay_window == 128);
    REQUIRE(c.routes.size() == 1);
    CHECK(c.routes[0].port == 1);
    REQUIRE(c.routes[0].via);
    REQUIRE(c.neighbors.size() == 1);
    CHECK(c.neighbors[0].mac[5] == 0xfe);
    REQUIRE(c.policies.size() == 2);
    CHECK(c.policies[0].priority == 10);  // sorted: first match by priority
    CHECK(c.policies[0].action == PolicyAction::protect);
    CHECK(c.policies[0].sa_index == 0);
    CHECK(c.policies[0].proto == 17);
    CHECK(c.policies[0].dst_port_lo == 1000);
    CHECK(c.policies[0].dst_port_hi == 2000);
    CHECK(c.policies[1].src.len == 0);
    CHECK(c.policies[1].src.addr.family == 4);
}

TEST_CASE("an out-of-range MTU is refused naming the port index and the range") {
    std::string t = kPorts;
    t.replace(t.find("mtu = 1500"), 10, "mtu = 99999");
    CHECK(error_of(t) == "port[0].mtu: 99999 is out of range 576..9216");
    std::string t2 = kPorts + "mtu = 100\n";
    CHECK(error_of(t2) == "port[1].mtu: 100 is out of range 576..9216");
}

TEST_CASE("unknown keys are refused (typos do not silently fall back to defaults)") {
    CHECK(error_of("[dataplane]\nbrust = 3\n" + kPorts) == "dataplane.brust: unknown key");
    CHECK(error_of(kPorts + "mut = 1400\n") == "port[1].mut: unknown key");
}

TEST_CASE("wrong value types name the expected type") {
    CHECK(error_of("[dataplane]\nburst = \"32\"\n" + kPorts) ==
          "dataplane.burst: expected an integer, got a string");
    CHECK(error_of("[dataplane]\nidle_backoff = 1\n" + kPorts) ==
          "dataplane.idle_backoff: expected true or false, got an integer");
}

TEST_CASE("TOML syntax errors carry the line") {
    std::string e = error_of("[dataplane\nburst = 1\n");
    CHECK(e.rfind("line 1:", 0) == 0);
}

TEST_CASE("ports: required keys, roles, devices, addresses, names") {
    CHECK(error_of("") == "port: at least one [[port]] is required");
    CHECK(error_of("[[port]]\nname = \"a\"\nrole = \"outside\"\n") == "port[0].device: missing (required)");
    CHECK(error_of("[[port]]\nname = \"a\"\nrole = \"edge\"\ndevice = \"net_null0\"\n") ==
          "port[0].role: \"edge\" is not one of outside, inside");
    CHECK(error_of("[[port]]\nname = \"a\"\nrole = \"outside\"\ndevice = \"eth0\"\n") ==
          "port[0].device: \"eth0\" is neither a PCI address nor a net_* vdev");
    CHECK(error_of("[[port]]\nname = \"a\"\nrole = \"outside\"\ndevice = \"net_null0\"\naddresses = [\"10.0.0.1/33\"]\n") ==
          "port[0].addresses[0]: \"10.0.0.1/33\" is not an address/prefix-length");
    CHECK(error_of("[[port]]\nname = \"a\"\nrole = \"inside\"\ndevice = \"net_null0\"\n") ==
          "port: no port has role = \"outside\"");
    CHECK(error_of(kPorts + "[[port]]\nname = \"in\"\nrole = \"inside\"\ndevice = \"net_null0\"\n") ==
          "port[2].name: \"in\" is used by another port");
    Config c = parse_config("[[port]]\nname = \"a\"\nrole = \"outside\"\ndevice = \"0000:03:00.0\"\n");
    CHECK(c.ports[0].is_pci);
}

TEST_CASE("routes and neighbours must name an existing port and a matching family") {
    CHECK(error_of(kPorts + "[[route]]\nprefix = \"10.0.0.0/8\"\nport = \"lan\"\n") ==
          "route[0].port: no [[port]] is named \"lan\"");
    CHECK(error_of(kPorts + "[[route]]\nprefix = \"10.0.0.0/8\"\nvia = \"fe80::1\"\nport = \"in\"\n") ==
          "route[0].via: address family differs from the prefix's");
    CHECK(error_of(kPorts + "[[neighbor]]\naddress = \"10.1.0.9\"\nmac = \"02:00:00\"\nport = \"in\"\n") ==
          "neighbor[0].mac: \"02:00:00\" is not a MAC address");
}

TEST_CASE("SAs: suite names, key lengths, SPI range, replay window, duplicates") {
    std::string bad_suite = kSa;
    bad_suite.replace(bad_suite.find("aes128gcm16"), 11, "aes128gcm8");
    CHECK(error_of(kPorts + bad_suite).rfind("sa[0].suite: \"aes128gcm8\" is not one of aes128gcm16,", 0) == 0);

    std::string short_key = kSa;
    short_key.replace(short_key.find("10111213"), 8, "1011");
    CHECK(error_of(kPorts + short_key) ==
          "sa[0].keymat: 18 bytes, suite aes128gcm16 needs 20 (20 cipher incl. 4-byte salt + 0 integrity)");

    std::string bad_hex = kSa;
    bad_hex.replace(bad_hex.find("0x0001"), 6, "0x00zz");
    CHECK(error_of(kPorts + bad_hex) == "sa[0].keymat: not a hex string (digits 0-9a-f, optional 0x prefix)");

    std::string low_spi = kSa;
    low_spi.replace(low_spi.find("0x1001"), 6, "255");
    CHECK(error_of(kPorts + low_spi) == "sa[0].spi: 255 is out of range 256..4294967295");

    CHECK(error_of(kPorts + kSa + "replay_window = 32\n") == "sa[0].replay_window: 32 must be 0 (off) or 64..4096");
    CHECK(error_of(kPorts + kSa + kSa) == "sa[1].id: 1 is used by another [[sa]]");

    std::string no_dst = kSa;
    no_dst.erase(no_dst.find("tunnel_dst"));
    CHECK(error_of(kPorts + no_dst) == "sa[0].tunnel_dst: missing (required)");
}

TEST_CASE("policies: protect needs an existing outbound SA, ports need tcp/udp") {
    CHECK(error_of(kPorts + kSa + "[[policy]]\ndst = \"10.9.0.0/16\"\naction = \"protect\"\nsa = 7\n") ==
          "policy[0].sa: no [[sa]] has id 7");
    CHECK(error_of(kPorts + kSa + "[[policy]]\ndst = \"10.9.0.0/16\"\naction = \"protect\"\n") ==
          "policy[0].sa: missing (required)");
    CHECK(error_of(kPorts + "[[policy]]\ndst = \"10.9.0.0/16\"\ndst_port = 80\naction = \"bypass\"\n") ==
          "policy[0].proto: ports need proto = \"tcp\" or \"udp\"");
    CHECK(error_of(kPorts + "[[policy]]\nsrc = \"10.0.0.0/8\"\ndst = \"::/0\"\naction = \"bypass\"\n") ==
          "policy[0].dst: address family differs from src's");
    CHECK(error_of(kPorts + "[[policy]]\ndst = \"10.0.0.0/8\"\naction = \"drop\"\n") ==
          "policy[0].action: \"drop\" is not one of protect, bypass, discard");
}

TEST_CASE("prefix containment follows the prefix length") {
    auto p = parse_prefix("10.1.128.0/17");
    REQUIRE(p);
    CHECK(p->contains(*net::IpAddr::parse("10.1.200.3")));
    CHECK_FALSE(p->contains(*net::IpAddr::parse("10.1.100.3")));
    CHECK_FALSE(p->contains(*net::IpAddr::parse("::1")));
    auto any = parse_prefix("0.0.0.0/0");
    CHECK(any->contains(*net::IpAddr::parse("8.8.8.8")));
}

TEST_CASE("the shipped example configs parse") {
    for (const char* f : {"config/espgw-dp.example.toml"}) {
        INFO(f);
        std::string path = std::string(ESPGW_SOURCE_ROOT) + "/" + f;
        CHECK_NOTHROW(load_config(path));
    }
}

TEST_CASE("table capacities: max_sas/max_policies/max_routes ranges and defaults, refused naming the key") {
    Config c = parse_config(kPorts);
    CHECK(c.dataplane.max_sas == 4096);
    CHECK(c.dataplane.max_policies == 1024);
    CHECK(c.dataplane.max_routes == 1024);
    CHECK(c.dataplane.control_group == "root");
    Config big = parse_config("[dataplane]\nmax_sas = 100000\nmax_policies = 200000\nmax_routes = 4096\n"
                              "control_group = \"espgw\"\n" + kPorts);
    CHECK(big.dataplane.max_sas == 100000);
    CHECK(big.dataplane.max_policies == 200000);
    CHECK(big.dataplane.max_routes == 4096);
    CHECK(big.dataplane.control_group == "espgw");
    CHECK(error_of("[dataplane]\nmax_sas = 15\n" + kPorts) == "dataplane.max_sas: 15 is out of range 16..1048576");
    CHECK(error_of("[dataplane]\nmax_sas = 2000000\n" + kPorts) ==
          "dataplane.max_sas: 2000000 is out of range 16..1048576");
    CHECK(error_of("[dataplane]\nmax_policies = 0\n" + kPorts) ==
          "dataplane.max_policies: 0 is out of range 16..1048576");
    CHECK(error_of("[dataplane]\nmax_routes = 8\n" + kPorts) == "dataplane.max_routes: 8 is out of range 16..1048576");
    CHECK(error_of("[dataplane]\ncontrol_group = \"a b\"\n" + kPorts) == "dataplane.control_group: expected a group name");
}

TEST_CASE("spd_cache_entries: default 262144, a power of two in 1024..16777216") {
    CHECK(parse_config(kPorts).dataplane.spd_cache_entries == 262144);
    CHECK(parse_config("[dataplane]\nspd_cache_entries = 1024\n" + kPorts).dataplane.spd_cache_entries == 1024);
    CHECK(error_of("[dataplane]\nspd_cache_entries = 3000\n" + kPorts) ==
          "dataplane.spd_cache_entries: 3000 is not a power of two");
    CHECK(error_of("[dataplane]\nspd_cache_entries = 512\n" + kPorts) ==
          "dataplane.spd_cache_entries: 512 is out of range 1024..16777216");
}

TEST_CASE("static entries beyond the configured capacity are refused naming the capacity key") {
    std::string sas;
    for (int i = 1; i <= 17; ++i)
        sas += "[[sa]]\nid = " + std::to_string(i) + "\nspi = " + std::to_string(0x1000 + i) +
               "\ndirection = \"in\"\nsuite = \"aes128gcm16\"\nkeymat = \"000102030405060708090a0b0c0d0e0f10111213\"\n"
               "tunnel_src = \"192.0.2.2\"\ntunnel_dst = \"192.0.2.1\"\n";
    CHECK(error_of("[dataplane]\nmax_sas = 16\n" + kPorts + sas) ==
          "dataplane.max_sas: 16 is smaller than the 17 static SAs of one direction");
    std::string routes;
    for (int i = 0; i < 15; ++i)
        routes += "[[route]]\nprefix = \"10.9." + std::to_string(i) + ".0/24\"\nport = \"in\"\n";
    CHECK(error_of("[dataplane]\nmax_routes = 16\n" + kPorts + routes) ==
          "dataplane.max_routes: 16 is smaller than the 18 static and connected routes");
}

TEST_CASE("espctl sa add: one [[sa]] from key=value arguments, same keys and errors as the file, never the key") {
    const std::string key = "000102030405060708090a0b0c0d0e0f10111213";
    DataplaneConfig d;
    std::string t = key_values_to_toml({"id=7", "spi=0x2001", "direction=in", "suite=aes128gcm16", "keymat=" + key,
                                        "tunnel_src=192.0.2.2", "tunnel_dst=192.0.2.1", "esn=true", "hard_packets=6"},
                                       "sa");
    SaEntry e = parse_sa_entry(t, d);
    CHECK(e.id == 7);
    CHECK(e.sa.spi == 0x2001);
    CHECK(e.direction == SaDirection::in);
    CHECK(e.sa.esn);
    CHECK(e.hard_packets == 6);
    CHECK(e.enc_keymat.size() == 20);
    CHECK(e.enc_keymat[19] == 0x13);

    auto err = [&](std::vector<std::string> args) {
        try {
            parse_sa_entry(key_values_to_toml(args, "sa"), d);
        } catch (const ConfigError& ex) {
            return std::string(ex.what());
        }
        return std::string("(accepted)");
    };
    const std::vector<std::string> base = {"id=7", "spi=0x2001", "direction=in", "suite=aes128gcm16",
                                           "tunnel_src=192.0.2.2", "tunnel_dst=192.0.2.1"};
    auto with = [&](std::vector<std::string> extra) {
        auto v = base;
        v.insert(v.end(), extra.begin(), extra.end());
        return v;
    };
    std::string m = err(with({"keymat=" + key.substr(2)}));
    CHECK(m == "sa.keymat: 19 bytes, suite aes128gcm16 needs 20 (20 cipher incl. 4-byte salt + 0 integrity)");
    CHECK(m.find(key.substr(2, 16)) == std::string::npos);
    CHECK(err(with({"keymat=" + key, "colour=blue"})) == "sa.colour: unknown key");
    CHECK(err(base) == "sa.keymat: missing (required)");
    CHECK(err(with({"keymat=" + key, "spi=5"})) == "sa.spi: given twice");
    m = err(with({key}));
    CHECK(m == "sa: argument 7 is not key=value");
    m = err(with({"keymat=" + key + "\"x"}));
    CHECK(m == "sa.keymat: value holds a quote, backslash or control character");
    CHECK(err(with({"keymat=zz" + key.substr(2)})) == "sa.keymat: not a hex string (digits 0-9a-f, optional 0x prefix)");
    // A keymat that looks like a hex integer stays a string (keys are never TOML numbers).
    CHECK(err(with({"keymat=0x" + key})) == "(accepted)");
    CHECK(err({"id=7", "spi=0x2001", "direction=in", "suite=rot13", "keymat=" + key})
              .starts_with("sa.suite: \"rot13\" is not one of"));
}

TEST_CASE("espctl policy add / route add: one entry from key=value arguments") {
    PolicyConfig p = parse_policy_entry(key_values_to_toml(
        {"priority=10", "src=10.1.0.0/24", "dst=10.2.0.0/24", "proto=tcp", "dst_port=80-90", "action=protect", "sa=99"},
        "policy"));
    CHECK(p.priority == 10);
    CHECK(p.proto == 6);
    CHECK(p.dst_port_lo == 80);
    CHECK(p.dst_port_hi == 90);
    CHECK(p.action == PolicyAction::protect);
    CHECK(p.sa_id == 99);  // the SA need not exist yet (the tables allow it)
    try {
        parse_policy_entry(key_values_to_toml({"action=protect"}, "policy"));
        FAIL("accepted");
    } catch (const ConfigError& e) {
        CHECK(std::string(e.what()) == "policy.sa: missing (required)");
    }
    Config c = parse_config(kPorts);
    RouteConfig r = parse_route_entry(key_values_to_toml({"prefix=10.9.0.0/16", "port=in", "via=10.1.0.2"}, "route"), c);
    CHECK(r.port == 1);
    CHECK(r.prefix.len == 16);
    REQUIRE(r.via);
    try {
        parse_route_entry(key_values_to_toml({"prefix=10.9.0.0/16", "port=nowhere"}, "route"), c);
        FAIL("accepted");
    } catch (const ConfigError& e) {
        CHECK(std::string(e.what()) == "route.port: no [[port]] is named \"nowhere\"");
    }
}

TEST_CASE("firewall: source_pool takes a declared [[firewall.pool]] CIDR, source_user an identity (26 chars)") {
    const auto fc = fw::parse_firewall_text(R"(
[firewall]
[[firewall.pool]]
name = "rw"
cidr = "10.20.0.0/24"
[[firewall.rule]]
source_pool = "rw"
source_user = ["alice@example.com", "bob"]
source_group = "staff"
)");
    REQUIRE(fc.set.rules.size() == 1);
    const fw::Rule& r = fc.set.rules[0];
    CHECK(r.src_net == 0x0A140000);
    CHECK(r.src_len == 24);
    CHECK(r.pool == "rw");
    CHECK(r.users == std::vector<std::string>{"alice@example.com", "bob"});
    CHECK(r.groups == std::vector<std::string>{"staff"});
    auto fw_error = [](const std::string& text) -> std::string {
        try {
            fw::parse_firewall_text(text);
        } catch (const ConfigError& e) {
            return e.what();
        }
        return "(accepted)";
    };
    const std::string undeclared = fw_error("[firewall]\n[[firewall.rule]]\nsource_pool = \"rw\"\n");
    CHECK(undeclared.rfind("firewall.rule[0].source_pool: pool 'rw' is not declared", 0) == 0);
    CHECK(fw_error("[firewall]\n[[firewall.pool]]\nname = \"rw\"\ncidr = \"10.0.0.0/8\"\n[[firewall.rule]]\n"
                   "source = \"10.0.0.0/8\"\nsource_pool = \"rw\"\n") ==
          "firewall.rule[0].source_pool: give source or source_pool, not both");
    CHECK(fw_error("[firewall]\n[[firewall.pool]]\nname = \"rw\"\n") ==
          "firewall.pool[0].cidr: missing (the pool's network, as in espgw-ike's [pools])");
    CHECK(fw_error("[firewall]\n[[firewall.pool]]\nname = \"rw\"\ncidr = \"10.0.0.0/33\"\n")
              .rfind("firewall.pool[0].cidr: ", 0) == 0);
    // 27 characters: "user:" + 27 would exceed the 31-character tag names.
    const std::string e = fw_error("[firewall]\n[[firewall.rule]]\nsource_user = \"a234567890123456789012345@x\"\n");
    CHECK(e.rfind("firewall.rule[0].source_user: expected an identity of 1..26", 0) == 0);
    CHECK(e.find("user:<identity>") != std::string::npos);
    CHECK(fw_error("[firewall]\n[[firewall.rule]]\nsource_user = \"a23456789012345678901234@x\"\n") == "(accepted)");
    CHECK(fw_error("[firewall]\n[[firewall.rule]]\nsource_user = \"CN=alice, O=x\"\n")
              .rfind("firewall.rule[0].source_user: expected an identity", 0) == 0);
}

TEST_CASE("firewall: direction from_tunnel (default) or to_tunnel, default_to_tunnel") {
    const auto fc = fw::parse_firewall_text(
        "[firewall]\ndefault_to_tunnel = \"drop\"\n[[firewall.rule]]\nprotocol = \"udp\"\nsource_ports = 5003\n"
        "direction = \"to_tunnel\"\n[[firewall.rule]]\nprotocol = \"icmp\"\n");
    REQUIRE(fc.set.rules.size() == 2);
    CHECK(fc.set.rules[0].direction == fw::Direction::to_tunnel);
    CHECK(fc.set.rules[1].direction == fw::Direction::from_tunnel);
    CHECK(fc.set.default_to_tunnel == fw::Action::drop);
    CHECK(fc.set.default_action == fw::Action::allow);
    auto fw_error = [](const std::string& text) -> std::string {
        try {
            fw::parse_firewall_text(text);
        } catch (const ConfigError& e) {
            return e.what();
        }
        return "(accepted)";
    };
    CHECK(fw_error("[firewall]\n[[firewall.rule]]\ndirection = \"inbound\"\n") ==
          "firewall.rule[0].direction: \"inbound\" is not one of from_tunnel, to_tunnel");
    // to_tunnel rules name the receiving tunnel's user (destination_*), from_tunnel rules the sender's (source_*).
    CHECK(fw_error("[firewall]\n[[firewall.rule]]\ndirection = \"to_tunnel\"\nsource_group = \"staff\"\n") ==
          "firewall.rule[0].source_group: to_tunnel rules name the receiving tunnel's user: use destination_group");
    CHECK(fw_error("[firewall]\n[[firewall.rule]]\ndirection = \"to_tunnel\"\nsource_user = \"a@b\"\n") ==
          "firewall.rule[0].source_user: to_tunnel rules name the receiving tunnel's user: use destination_user");
    CHECK(fw_error("[firewall]\n[[firewall.rule]]\ndestination_group = \"staff\"\n") ==
          "firewall.rule[0].destination_group: destination_group needs direction = \"to_tunnel\" (from_tunnel rules: "
          "source_group)");
    const auto to = fw::parse_firewall_text(
        "[firewall]\n[[firewall.rule]]\ndirection = \"to_tunnel\"\ndestination_group = [\"staff\", \"ops\"]\n"
        "destination_user = \"alice@example.com\"\nconnection = \"rw\"\naction = \"drop\"\n");
    REQUIRE(to.set.rules.size() == 1);
    CHECK(to.set.rules[0].groups == std::vector<std::string>{"staff", "ops"});
    CHECK(to.set.rules[0].users == std::vector<std::string>{"alice@example.com"});
    CHECK(to.set.rules[0].connections == std::vector<std::string>{"rw"});
    CHECK_FALSE(fw::validate(to.set));
}

TEST_CASE("firewall: automatic rules allow a connection's tunnels after the explicit rules, before the default") {
    const auto fc = fw::parse_firewall_text(
        "[firewall]\ndefault = \"drop\"\nautomatic = [\"rw\", \"branch\"]\n[[firewall.rule]]\nprotocol = \"udp\"\n"
        "ports = 5003\naction = \"drop\"\n");
    REQUIRE(fc.set.rules.size() == 3);
    CHECK(fc.set.rules[0].action == fw::Action::drop);  // explicit rules come first
    CHECK(fc.set.rules[1].connections == std::vector<std::string>{"rw"});
    CHECK(fc.set.rules[1].action == fw::Action::allow);
    CHECK(fc.set.rules[1].comment == "automatic: traffic selectors of connection rw");
    CHECK(fc.set.rules[2].connections == std::vector<std::string>{"branch"});
    CHECK(fc.set.default_action == fw::Action::drop);
    // Without any [[firewall.rule]] too.
    CHECK(fw::parse_firewall_text("[firewall]\nautomatic = \"rw\"\n").set.rules.size() == 1);
    // Traffic into tunnels filtered: the connection's tunnels are allowed in both directions.
    const auto both = fw::parse_firewall_text("[firewall]\ndefault_to_tunnel = \"drop\"\nautomatic = \"rw\"\n");
    REQUIRE(both.set.rules.size() == 2);
    CHECK(both.set.rules[0].direction == fw::Direction::from_tunnel);
    CHECK(both.set.rules[1].direction == fw::Direction::to_tunnel);
    CHECK(both.set.rules[1].connections == std::vector<std::string>{"rw"});
    CHECK(both.set.rules[1].action == fw::Action::allow);
    try {
        fw::parse_firewall_text("[firewall]\nautomatic = [\"no spaces\"]\n");
        FAIL("accepted a bad name");
    } catch (const ConfigError& e) {
        CHECK(std::string(e.what()).rfind("firewall.automatic[0]: expected a name", 0) == 0);
    }
}

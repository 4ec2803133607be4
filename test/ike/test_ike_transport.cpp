// Transport mode (RFC 7296 §1.3.1, §2.23.1) between two IkeManagers in one process:
// negotiated in IKE_AUTH with host-to-host selectors, declined by a tunnel-only
// responder (and then deleted by our initiator, counted), kept by CHILD_SA rekeys from
// either end, selectors substituted behind a NAT; the config key; the pure helpers.
#include "pair.hpp"

#include "control/ike/child_mode.hpp"

#include <chrono>
#include <string>

using namespace espgw::ike;
using namespace ike_test;

namespace {

const std::string kProps = R"(["aes256gcm16-prfsha256-ecp256"])";

// One end of the host-to-host connection: A (10.77.0.1) initiates towards B, B waits.
std::string conf_end(bool a, const std::string& mode, const std::string& extra) {
    return std::string("[ike]\nlisten = \"") + (a ? "10.77.0.1" : "10.77.0.2") + "\"\n" + extra + R"(
[[connections]]
name = "host"
local_id = ")" + (a ? "a" : "b") + R"(.example.com"
remote_id = ")" + (a ? "b" : "a") + R"(.example.com"
)" + (a ? "remote_addr = \"10.77.0.2\"\n" : "") + R"(psk = "transport-mode-psk-0123"
ike_proposals = )" + kProps + R"(
esp_proposals = ["aes128gcm16"]
mode = ")" + mode + R"("
)";
}

std::string conf_a(const std::string& mode, const std::string& extra = "") { return conf_end(true, mode, extra); }
std::string conf_b(const std::string& mode, const std::string& extra = "") { return conf_end(false, mode, extra); }

void check_host_pair(const ChildSaInfo& i, const char* local, const char* remote) {
    REQUIRE(i.ts_local.size() == 1);
    REQUIRE(i.ts_remote.size() == 1);
    CHECK(to_string(i.ts_local[0]) == std::string(local) + ".." + local);
    CHECK(to_string(i.ts_remote[0]) == std::string(remote) + ".." + remote);
}

/// Runs both managers' timers to `t` and delivers what they sent.
void advance(Pair& p, std::chrono::steady_clock::time_point t) {
    p.a.tick(t);
    p.b.tick(t);
    p.pump();
}

}  // namespace

TEST_CASE("transport: both ends agree in IKE_AUTH; host-to-host selectors; the sinks see transport",
          "[ike][transport]") {
    Pair p(conf_a("transport"), conf_b("transport"));
    REQUIRE(p.a.initiate("host"));
    p.pump();
    REQUIRE(p.sink_a.installs.size() == 1);
    REQUIRE(p.sink_b.installs.size() == 1);
    const ChildSaInfo& ia = p.sink_a.installs[0];
    const ChildSaInfo& ib = p.sink_b.installs[0];
    CHECK(ia.mode == ChildMode::transport);
    CHECK(ib.mode == ChildMode::transport);
    CHECK(ia.spi_in == ib.spi_out);
    CHECK(ia.spi_out == ib.spi_in);
    CHECK(p.sink_a.keys_hex[0] == p.sink_b.keys_hex[0]);
    check_host_pair(ia, "10.77.0.1", "10.77.0.2");
    check_host_pair(ib, "10.77.0.2", "10.77.0.1");
    CHECK_FALSE(ia.udp_encap);
    CHECK(p.a.counters().child_mode_mismatch == 0);
    // The IKE SAs keep the mode with the pair (the CLI lists it).
    CHECK(p.a.find(p.a.spis().at(0))->children.at(0).info.mode == ChildMode::transport);
    CHECK(p.b.find(p.b.spis().at(0))->children.at(0).info.mode == ChildMode::transport);
}

TEST_CASE("transport: the initiator's IKE_AUTH carries N(USE_TRANSPORT_MODE) only when configured",
          "[ike][transport]") {
    // The responder's decision shows whether the notify was there: a transport responder
    // answers transport only when asked.
    for (const char* mode : {"tunnel", "transport"}) {
        Pair p(conf_a(mode), conf_b("transport"));
        REQUIRE(p.a.initiate("host"));
        p.pump();
        REQUIRE(p.sink_b.installs.size() == 1);
        const bool asked = std::string(mode) == "transport";
        CHECK(p.sink_b.installs[0].mode == (asked ? ChildMode::transport : ChildMode::tunnel));
        REQUIRE(p.sink_a.installs.size() == 1);
        CHECK(p.sink_a.installs[0].mode == p.sink_b.installs[0].mode);
    }
}

TEST_CASE("transport: a tunnel-only responder answers tunnel; our transport initiator deletes that CHILD_SA",
          "[ike][transport]") {
    Pair p(conf_a("transport"), conf_b("tunnel"));
    REQUIRE(p.a.initiate("host"));
    p.pump();
    // B declined by leaving the notify out: its pair is a tunnel.
    REQUIRE(p.sink_b.installs.size() == 1);
    CHECK(p.sink_b.installs[0].mode == ChildMode::tunnel);
    // A never installs it, counts it, and deletes B's pair (§1.3.1: MUST delete).
    CHECK(p.sink_a.installs.empty());
    CHECK(p.a.counters().child_mode_mismatch == 1);
    REQUIRE(p.sink_b.removed.size() == 1);
    CHECK(p.sink_b.removed[0].first == p.sink_b.installs[0].spi_in);
    // The IKE SA stays up without a CHILD_SA (§1.2) on both ends.
    REQUIRE(p.a.ike_sa_count() == 1);
    CHECK(p.a.find(p.a.spis().at(0))->state == IkeSaState::ESTABLISHED);
    CHECK(p.a.find(p.a.spis().at(0))->children.empty());
    CHECK(p.b.find(p.b.spis().at(0))->children.empty());
}

TEST_CASE("transport: a transport responder accepts a tunnel request as a tunnel", "[ike][transport]") {
    // strongSwan's responder does the same: without the notify the CHILD_SA is a tunnel.
    Pair p(conf_a("tunnel"), conf_b("transport"));
    REQUIRE(p.a.initiate("host"));
    p.pump();
    REQUIRE(p.sink_a.installs.size() == 1);
    REQUIRE(p.sink_b.installs.size() == 1);
    CHECK(p.sink_a.installs[0].mode == ChildMode::tunnel);
    CHECK(p.sink_b.installs[0].mode == ChildMode::tunnel);
    CHECK(p.a.counters().child_mode_mismatch == 0);
}

TEST_CASE("transport: behind a NAT the responder substitutes the addresses the IKE packets carried (§2.23.1)",
          "[ike][transport]") {
    Pair p(conf_a("transport"), conf_b("transport"));
    p.nat = true;  // B sees A as 198.51.100.9
    REQUIRE(p.a.initiate("host"));
    p.pump();
    REQUIRE(p.sink_a.installs.size() == 1);
    REQUIRE(p.sink_b.installs.size() == 1);
    const ChildSaInfo& ia = p.sink_a.installs[0];
    const ChildSaInfo& ib = p.sink_b.installs[0];
    CHECK(ia.mode == ChildMode::transport);
    CHECK(ib.mode == ChildMode::transport);
    CHECK(ia.udp_encap);
    CHECK(ib.udp_encap);
    // A proposed its own 10.77.0.1; B's policy is for the NAT's address, A's for its own.
    check_host_pair(ib, "10.77.0.2", "198.51.100.9");
    check_host_pair(ia, "10.77.0.1", "10.77.0.2");
    CHECK(ib.remote.addr_host == 0xc6336409);
}

TEST_CASE("transport: CHILD_SA rekeys from either end keep transport mode", "[ike][transport][rekey]") {
    for (const bool a_rekeys : {true, false}) {
        const std::string timers = "rekey_time = 100\nlife_time = 200\n";
        Pair p(conf_a("transport", a_rekeys ? timers : ""), conf_b("transport", a_rekeys ? "" : timers));
        auto t = std::chrono::steady_clock::now();
        advance(p, t);
        REQUIRE(p.a.initiate("host"));
        p.pump();
        REQUIRE(p.sink_a.installs.size() == 1);
        const uint32_t old_in_a = p.sink_a.installs[0].spi_in;
        t += std::chrono::seconds(101);
        advance(p, t);
        INFO((a_rekeys ? "A (IKE initiator) rekeys" : "B (IKE responder) rekeys"));
        REQUIRE(p.sink_a.installs.size() == 2);
        REQUIRE(p.sink_b.installs.size() == 2);
        CHECK(p.sink_a.rekeyed_from.size() == 1);
        CHECK(p.sink_b.rekeyed_from.size() == 1);
        for (const auto* s : {&p.sink_a, &p.sink_b}) CHECK(s->installs[1].mode == ChildMode::transport);
        CHECK(p.sink_a.installs[1].spi_in == p.sink_b.installs[1].spi_out);
        CHECK(p.sink_a.keys_hex[1] == p.sink_b.keys_hex[1]);
        check_host_pair(p.sink_a.installs[1], "10.77.0.1", "10.77.0.2");
        check_host_pair(p.sink_b.installs[1], "10.77.0.2", "10.77.0.1");
        // The old pair is gone on both ends; the new one is the only CHILD_SA.
        CHECK(p.sink_a.removed.size() == 1);
        CHECK(p.sink_a.removed.at(0).first == old_in_a);
        CHECK(p.sink_b.removed.size() == 1);
        const IkeSa* sa = p.a.find(p.a.spis().at(0));
        REQUIRE(sa->children.size() == 1);
        CHECK(sa->children[0].info.mode == ChildMode::transport);
        CHECK(p.a.counters().child_rekeys + p.b.counters().child_rekeys == 2);
    }
}

TEST_CASE("transport: a rekey answered in tunnel mode is deleted and the old transport pair stays",
          "[ike][transport][rekey]") {
    Pair p(conf_a("transport", "rekey_time = 100\nlife_time = 200\n"), conf_b("transport"));
    auto t = std::chrono::steady_clock::now();
    advance(p, t);
    REQUIRE(p.a.initiate("host"));
    p.pump();
    REQUIRE(p.sink_a.installs.size() == 1);
    // B's operator turns the connection to tunnel (its IKE SA reads the same config).
    p.cfg_b.connections.at(0).mode = ChildMode::tunnel;
    t += std::chrono::seconds(101);
    advance(p, t);
    CHECK(p.a.counters().child_mode_mismatch == 1);
    CHECK(p.sink_a.installs.size() == 1);     // never installed
    REQUIRE(p.sink_b.installs.size() == 2);   // B made it, in tunnel mode ...
    CHECK(p.sink_b.installs[1].mode == ChildMode::tunnel);
    REQUIRE(p.sink_b.removed.size() == 1);    // ... and removed it on A's Delete
    CHECK(p.sink_b.removed[0].first == p.sink_b.installs[1].spi_in);
    CHECK(p.sink_a.removed.empty());          // the old transport pair stays
    const IkeSa* sa = p.a.find(p.a.spis().at(0));
    REQUIRE(sa->children.size() == 1);
    CHECK(sa->children[0].info.mode == ChildMode::transport);
    CHECK_FALSE(sa->children[0].replaced);
    // B's old pair is live again (not waiting for a Delete that never comes): once B's
    // connection is transport again, A's retry (10 s later) rekeys it in transport mode.
    const IkeSa* sb = p.b.find(p.b.spis().at(0));
    REQUIRE(sb->children.size() == 1);
    CHECK_FALSE(sb->children[0].replaced);
    p.cfg_b.connections.at(0).mode = ChildMode::transport;
    t += std::chrono::seconds(11);
    advance(p, t);
    REQUIRE(p.sink_a.installs.size() == 2);
    CHECK(p.sink_a.installs[1].mode == ChildMode::transport);
    CHECK(p.sink_b.installs.at(2).mode == ChildMode::transport);
    CHECK(p.a.counters().child_mode_mismatch == 1);
    CHECK(p.a.find(p.a.spis().at(0))->children.size() == 1);
}

TEST_CASE("config: mode is tunnel or transport, per connection", "[ike][transport][config]") {
    CHECK(parse_config(conf_b("tunnel")).connections.at(0).mode == ChildMode::tunnel);
    CHECK(parse_config(conf_b("transport")).connections.at(0).mode == ChildMode::transport);
    std::string no_key = conf_b("tunnel");
    no_key.erase(no_key.find("mode = "));
    CHECK(parse_config(no_key).connections.at(0).mode == ChildMode::tunnel);
    auto error_of = [](const std::string& text) {
        try {
            parse_config(text);
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("accepted");
    };
    CHECK(error_of(conf_b("beet")) == "connections[0].mode: expected \"tunnel\" or \"transport\"");
    std::string number = conf_b("tunnel");
    number.replace(number.find("mode = \"tunnel\""), 15, "mode = 4");
    CHECK(error_of(number) == "connections[0].mode: expected \"tunnel\" or \"transport\"");
    const std::string pool = "[pools.rw]\ncidr = \"10.99.0.0/24\"\n";
    std::string with_pool = conf_b("transport", "") + "pool = \"rw\"\n" + pool;
    CHECK(error_of(with_pool).starts_with("connections[0].mode: \"transport\" cannot hand out virtual IPs"));
}

TEST_CASE("transport helpers: host selectors, §2.23.1 substitution, responder's decision", "[ike][transport]") {
    const uint32_t a = 0x0a4d0001, b = 0x0a4d0002, nat = 0xc6336409;
    CHECK(ts_is_host({ts_host4(a)}, a));
    CHECK_FALSE(ts_is_host({ts_host4(a)}, b));
    CHECK_FALSE(ts_is_host({}, a));
    CHECK_FALSE(ts_is_host({ts_from_cidr("10.77.0.0/24")}, a));
    CHECK_FALSE(ts_is_host({ts_host4(a), ts_from_cidr("10.77.0.0/24")}, a));
    TrafficSelector tcp = ts_host4(a);
    tcp.ip_proto = 6;
    tcp.start_port = tcp.end_port = 1701;
    auto s = ts_nat_substitute({tcp, ts_host4(b), ts_from_cidr("10.0.0.0/8")}, nat);
    REQUIRE(s.size() == 1);  // only selectors of the first host are substituted
    CHECK(ts_is_host(s, nat));
    CHECK(s[0].ip_proto == 6);
    CHECK(s[0].start_port == 1701);

    const IkeConfig cfg = parse_config(conf_b("transport"));
    IkeSa sa;
    sa.conn = &cfg.connections.at(0);
    sa.local = {b, 4500};
    sa.remote = {nat, 4500};
    std::vector<TrafficSelector> rem, loc;
    const std::vector<TrafficSelector> any = {ts_from_cidr("0.0.0.0/0")};
    // Not behind a NAT: the private address does not match the IKE address: tunnel.
    CHECK(responder_mode(sa, true, {ts_host4(a)}, {ts_host4(b)}, nullptr, any, rem, loc) == ChildMode::tunnel);
    CHECK(ts_is_host(rem, a));
    sa.nat_remote = true;
    CHECK(responder_mode(sa, true, {ts_host4(a)}, {ts_host4(b)}, nullptr, any, rem, loc) == ChildMode::transport);
    CHECK(ts_is_host(rem, nat));
    CHECK(ts_is_host(loc, b));
    // Subnets are not host-to-host: tunnel, narrowed from what was received.
    CHECK(responder_mode(sa, true, {ts_from_cidr("10.77.0.0/24")}, {ts_host4(b)}, nullptr, any, rem, loc) ==
          ChildMode::tunnel);
    CHECK(to_string(rem.at(0)) == "10.77.0.0..10.77.0.255");
    // Not asked: tunnel.
    CHECK(responder_mode(sa, false, {ts_host4(a)}, {ts_host4(b)}, nullptr, any, rem, loc) == ChildMode::tunnel);
    // The initiator's check of a response.
    std::vector<TrafficSelector> l = {ts_host4(b)}, r = {ts_host4(a)};
    CHECK(check_response_mode(sa, ChildMode::transport, false, l, r).find("tunnel mode") != std::string::npos);
    CHECK(check_response_mode(sa, ChildMode::tunnel, true, l, r).find("USE_TRANSPORT_MODE") != std::string::npos);
    CHECK(check_response_mode(sa, ChildMode::tunnel, false, l, r).empty());
    l = {ts_host4(b)};
    r = {ts_host4(a)};  // the peer's selector names its private address; nat_remote substitutes
    CHECK(check_response_mode(sa, ChildMode::transport, true, l, r).empty());
    CHECK(ts_is_host(r, nat));
    l = {ts_from_cidr("10.77.0.0/24")};
    CHECK_FALSE(check_response_mode(sa, ChildMode::transport, true, l, r).empty());
}

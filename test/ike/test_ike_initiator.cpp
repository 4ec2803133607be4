// IkeManager as INITIATOR (site-to-site, PSK) against IkeManager as responder, both in
// this process, wired back to back through capturing transports: IKE_SA_INIT +
// IKE_AUTH, the CHILD_SA's keys agree on both ends, INVALID_KE_PAYLOAD and COOKIE
// retries, a wrong PSK refused, a dropped response retransmitted, NAT-T switch,
// start_action restart.
#include "pair.hpp"

#include <string>

using namespace espgw::ike;
using namespace ike_test;

namespace {

std::string initiator_conf(const std::string& ike_props, const std::string& psk = "site-to-site-psk-0123",
                           const std::string& extra = "") {
    return R"([ike]
listen = "10.77.0.1"
)" + extra + R"(
[[connections]]
name = "s2s"
local_id = "a.example.com"
remote_id = "b.example.com"
remote_addr = "10.77.0.2"
start_action = "start"
psk = ")" + psk + R"("
ike_proposals = )" + ike_props + R"(
esp_proposals = ["aes128gcm16", "aes128-sha256"]
local_ts = ["10.1.0.0/24"]
remote_ts = ["10.2.0.0/24"]
)";
}

std::string responder_conf(const std::string& ike_props, const std::string& extra = "") {
    return R"([ike]
listen = "10.77.0.2"
)" + extra + R"(
[[connections]]
name = "s2s"
local_id = "b.example.com"
remote_id = "a.example.com"
psk = "site-to-site-psk-0123"
ike_proposals = )" + ike_props + R"(
esp_proposals = ["aes128-sha256", "aes128gcm16"]
local_ts = ["10.2.0.0/16"]
remote_ts = ["10.1.0.0/24"]
)";
}

const std::string kProps = R"(["aes256gcm16-prfsha256-ecp256", "aes128-sha256-modp2048"])";

void check_established(Pair& p) {
    REQUIRE(p.sink_a.installs.size() == 1);
    REQUIRE(p.sink_b.installs.size() == 1);
    const ChildSaInfo& ia = p.sink_a.installs[0];
    const ChildSaInfo& ib = p.sink_b.installs[0];
    CHECK(ia.initiator);
    CHECK_FALSE(ib.initiator);
    CHECK(ia.spi_in == ib.spi_out);
    CHECK(ia.spi_out == ib.spi_in);
    // KEYMAT order is initiator→responder first on both ends: the same bytes mean the
    // initiator's outbound keys are the responder's inbound ones and vice versa.
    CHECK(p.sink_a.keys_hex[0] == p.sink_b.keys_hex[0]);
    CHECK(ia.alg == ib.alg);
    CHECK(to_string(ia.ts_local.at(0)) == "10.1.0.0..10.1.0.255");
    CHECK(to_string(ia.ts_remote.at(0)) == "10.2.0.0..10.2.0.255");
    CHECK(to_string(ib.ts_local.at(0)) == "10.2.0.0..10.2.0.255");
    REQUIRE(p.a.ike_sa_count() == 1);
    REQUIRE(p.b.ike_sa_count() == 1);
    const IkeSa* sa = p.a.find(p.a.spis().at(0));
    REQUIRE(sa);
    CHECK(sa->initiator);
    CHECK(sa->state == IkeSaState::ESTABLISHED);
    CHECK(p.b.find(p.b.spis().at(0))->state == IkeSaState::ESTABLISHED);
}

}  // namespace

TEST_CASE("initiator establishes IKE SA and CHILD_SA with PSK; both sinks see the same KEYMAT", "[ike][initiator]") {
    Pair p(initiator_conf(kProps), responder_conf(kProps));
    REQUIRE(p.a.initiate("s2s"));
    p.pump();
    check_established(p);
    CHECK(p.sink_a.installs[0].alg == parse_proposal("aes128-sha256", ProtocolId::ESP));  // responder's order decides
    CHECK_FALSE(p.sink_a.installs[0].udp_encap);
    CHECK(p.tx_a.sent.size() == 2);  // IKE_SA_INIT, IKE_AUTH: no retries
    // The established SA carries our later requests too: a Delete of the IKE SA.
    REQUIRE(p.a.delete_ike_sa(p.a.spis().at(0)));
    p.pump();
    CHECK(p.a.ike_sa_count() == 0);
    CHECK(p.b.ike_sa_count() == 0);
    CHECK_FALSE(p.a.initiate("nope"));
}

TEST_CASE("initiator retries IKE_SA_INIT with the group INVALID_KE_PAYLOAD asks for", "[ike][initiator]") {
    // We propose ecp256 first; the responder only accepts modp2048.
    Pair p(initiator_conf(kProps), responder_conf(R"(["aes128-sha256-modp2048"])"));
    REQUIRE(p.a.initiate("s2s"));
    p.pump();
    check_established(p);
    REQUIRE(p.tx_a.sent.size() == 3);
    Message first, second;
    REQUIRE(parse_message(p.tx_a.sent[0].msg, first) == ParseError::OK);
    REQUIRE(parse_message(p.tx_a.sent[1].msg, second) == ParseError::OK);
    CHECK(first.get<KePayload>(PayloadType::KE)->group == 19);
    CHECK(second.get<KePayload>(PayloadType::KE)->group == 14);
    CHECK(p.a.find(p.a.spis().at(0))->ike_alg.dh == DhGroup::MODP_2048);
}

TEST_CASE("initiator answers a COOKIE demand by repeating IKE_SA_INIT with the cookie first", "[ike][initiator]") {
    Pair p(initiator_conf(kProps), responder_conf(kProps, "cookie_threshold = 0\n"));
    REQUIRE(p.a.initiate("s2s"));
    p.pump();
    check_established(p);
    CHECK(p.b.counters().cookies_sent == 1);
    CHECK(p.b.counters().cookies_accepted == 1);
    Message second;
    REQUIRE(parse_message(p.tx_a.sent.at(1).msg, second) == ParseError::OK);
    REQUIRE(!second.payloads.empty());
    const auto* n = std::get_if<NotifyPayload>(&second.payloads[0].body);
    REQUIRE(n);
    CHECK(n->type == NotifyType::COOKIE);
}

TEST_CASE("initiator with a wrong PSK is refused and keeps no SA on either end", "[ike][initiator]") {
    Pair p(initiator_conf(kProps, "wrong-psk-wrong-psk"), responder_conf(kProps));
    REQUIRE(p.a.initiate("s2s"));
    p.pump();
    CHECK(p.sink_a.installs.empty());
    CHECK(p.sink_b.installs.empty());
    CHECK(p.a.ike_sa_count() == 0);
    CHECK(p.b.ike_sa_count() == 0);
}

TEST_CASE("initiator refuses a responder whose AUTH uses another PSK", "[ike][initiator]") {
    std::string rc = responder_conf(kProps);
    rc.replace(rc.find("site-to-site-psk-0123"), 21, "other-psk-other-psk01");
    Pair p(initiator_conf(kProps), rc);
    REQUIRE(p.a.initiate("s2s"));
    p.pump();
    CHECK(p.sink_a.installs.empty());  // the responder refuses our AUTH first
    CHECK(p.a.ike_sa_count() == 0);
}

TEST_CASE("initiator retransmits IKE_SA_INIT and IKE_AUTH when a response is dropped", "[ike][initiator]") {
    Pair p(initiator_conf(kProps), responder_conf(kProps));
    int dropped_init = 0, dropped_auth = 0;
    p.drop = [&](const CaptureTransport::Sent& s, bool from_a) {
        Header h;
        if (from_a || parse_header(s.msg, h) != ParseError::OK) return false;
        if (h.exchange == ExchangeType::IKE_SA_INIT && dropped_init == 0) return ++dropped_init == 1;
        if (h.exchange == ExchangeType::IKE_AUTH && dropped_auth == 0) return ++dropped_auth == 1;
        return false;
    };
    auto t = std::chrono::steady_clock::now();
    p.a.tick(t);
    p.b.tick(t);
    REQUIRE(p.a.initiate("s2s"));
    p.pump();
    CHECK(p.sink_a.installs.empty());
    t += std::chrono::seconds(5);  // retransmit_timeout 4 s
    p.a.tick(t);
    p.pump();
    CHECK(p.sink_a.installs.empty());
    CHECK(p.sink_b.installs.size() == 1);  // the responder's answer to IKE_AUTH was lost
    t += std::chrono::seconds(5);
    p.a.tick(t);
    p.pump();
    check_established(p);
    CHECK(p.a.counters().retransmits_sent == 2);
    CHECK(p.b.counters().retransmits_answered == 2);
}

TEST_CASE("initiator behind a NAT moves IKE_AUTH and the CHILD_SA to port 4500", "[ike][initiator]") {
    Pair p(initiator_conf(kProps), responder_conf(kProps));
    p.nat = true;
    REQUIRE(p.a.initiate("s2s"));
    p.pump();
    check_established(p);
    CHECK(p.sink_a.installs[0].udp_encap);
    CHECK(p.sink_b.installs[0].udp_encap);
    CHECK(p.tx_a.sent.at(1).local.port == 4500);
    CHECK(p.tx_a.sent.at(1).remote.port == 4500);
    CHECK(p.sink_a.installs[0].remote.port == 4500);
}

TEST_CASE("start_action start initiates again after the peer went dead", "[ike][initiator]") {
    Pair p(initiator_conf(kProps, "site-to-site-psk-0123", "dpd_delay = 10\nretransmit_tries = 1\n"), responder_conf(kProps));
    auto t = std::chrono::steady_clock::now();
    p.a.tick(t);
    REQUIRE(p.a.initiate("s2s"));
    p.pump();
    check_established(p);
    p.drop = [](const CaptureTransport::Sent&, bool) { return true; };  // the path breaks
    for (int i = 0; i < 12; ++i) {
        t += std::chrono::seconds(5);
        p.a.tick(t);
        p.pump();
    }
    CHECK(p.a.counters().peers_dead >= 1);
    p.drop = [](const CaptureTransport::Sent&, bool) { return false; };
    for (int i = 0; i < 3; ++i) {
        t += std::chrono::seconds(5);
        p.a.tick(t);
        p.pump();
    }
    CHECK(p.sink_a.installs.size() >= 2);  // a new CHILD_SA after the restart
    REQUIRE(p.a.ike_sa_count() >= 1);
    bool established = false;
    for (uint64_t spi : p.a.spis()) established = established || p.a.find(spi)->state == IkeSaState::ESTABLISHED;
    CHECK(established);
}

TEST_CASE("config: remote_addr and start_action are parsed and checked", "[ike][initiator][config]") {
    const IkeConfig c = parse_config(initiator_conf(kProps));
    REQUIRE(c.connections.at(0).remote_addr);
    CHECK(*c.connections[0].remote_addr == 0x0a4d0002);
    CHECK(c.connections[0].start);
    CHECK_FALSE(parse_config(responder_conf(kProps)).connections.at(0).remote_addr);
    std::string bad = initiator_conf(kProps);
    bad.replace(bad.find("\"start\""), 7, "\"always\"");
    CHECK_THROWS_WITH(parse_config(bad), Catch::Contains("start_action"));
    bad = initiator_conf(kProps);
    bad.replace(bad.find("10.77.0.2"), 9, "not-an-ip");
    CHECK_THROWS_WITH(parse_config(bad), Catch::Contains("remote_addr"));
}

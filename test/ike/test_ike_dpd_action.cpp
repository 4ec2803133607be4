// dpd_action (issue 4): a site-to-site connection we initiate whose peer stops answering
// is cleared, and with "restart" initiated again (also without start_action "start");
// with "clear" it stays down (also with start_action "start"). Two IkeManagers back to
// back; the path between them breaks and comes back.
#include "peer.hpp"

#include <fmt/format.h>

#include <functional>
#include <string>

using namespace espgw::ike;
using namespace ike_test;

namespace {

std::string side(bool initiator, const std::string& extra) {
    return fmt::format(R"([ike]
listen = "{}"
dpd_delay = 10
retransmit_tries = 1
[[connections]]
name = "s2s"
local_id = "{}"
remote_id = "{}"
{}
psk = "site-to-site-psk-0123"
ike_proposals = ["aes256gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
local_ts = ["{}"]
remote_ts = ["{}"]
)",
                       initiator ? "10.77.0.1" : "10.77.0.2", initiator ? "a.example.com" : "b.example.com",
                       initiator ? "b.example.com" : "a.example.com", initiator ? extra : "",
                       initiator ? "10.1.0.0/24" : "10.2.0.0/24", initiator ? "10.2.0.0/24" : "10.1.0.0/24");
}

struct Pair {
    IkeConfig cfg_a, cfg_b;
    CaptureTransport tx_a, tx_b;
    RecordingSink sink_a, sink_b;
    IkeManager a, b;
    size_t seen_a = 0, seen_b = 0;
    bool broken = false;

    explicit Pair(const std::string& extra)
        : cfg_a(parse_config(side(true, "remote_addr = \"10.77.0.2\"\n" + extra))), cfg_b(parse_config(side(false, ""))),
          a(cfg_a, tx_a, sink_a), b(cfg_b, tx_b, sink_b) {}

    void pump() {
        for (int round = 0; round < 50; ++round) {
            bool any = false;
            while (seen_a < tx_a.sent.size()) {
                const auto s = tx_a.sent[seen_a++];
                any = true;
                if (!broken) b.on_message(s.remote, s.local, s.msg);
            }
            while (seen_b < tx_b.sent.size()) {
                const auto s = tx_b.sent[seen_b++];
                any = true;
                if (!broken) a.on_message(s.remote, s.local, s.msg);
            }
            if (!any) return;
        }
    }

    // Establishes, breaks the path until A declares B dead, heals it, and lets 15 s pass.
    void run_outage() {
        auto t = std::chrono::steady_clock::now();
        a.tick(t);
        b.tick(t);
        REQUIRE(a.initiate("s2s"));
        pump();
        REQUIRE(sink_a.installs.size() == 1);
        broken = true;
        for (int i = 0; i < 12 && a.counters().peers_dead == 0; ++i) {
            t += std::chrono::seconds(5);
            a.tick(t);
            pump();
        }
        REQUIRE(a.counters().peers_dead == 1);
        broken = false;
        for (int i = 0; i < 3; ++i) {
            t += std::chrono::seconds(5);
            a.tick(t);
            b.tick(t);
            pump();
        }
    }

    bool a_established() const {
        for (uint64_t spi : a.spis())
            if (a.find(spi)->state == IkeSaState::ESTABLISHED) return true;
        return false;
    }
};

}  // namespace

TEST_CASE("dpd_action restart initiates a dead peer's connection again", "[ike][dpd]") {
    SECTION("explicit restart without start_action") {
        Pair p("dpd_action = \"restart\"");
        CHECK(p.cfg_a.connections[0].dpd_restart);
        p.run_outage();
        CHECK(p.sink_a.installs.size() == 2);  // a new CHILD_SA after the restart
        CHECK(p.a_established());
    }
    SECTION("default with start_action start") {
        Pair p("start_action = \"start\"");
        CHECK(p.cfg_a.connections[0].dpd_restart);
        p.run_outage();
        CHECK(p.sink_a.installs.size() == 2);
        CHECK(p.a_established());
    }
}

TEST_CASE("dpd_action clear leaves a dead peer's connection down", "[ike][dpd]") {
    SECTION("default without start_action") {
        Pair p("");
        CHECK_FALSE(p.cfg_a.connections[0].dpd_restart);
        p.run_outage();
        CHECK(p.sink_a.installs.size() == 1);
        CHECK(p.a.ike_sa_count() == 0);
        CHECK(p.sink_a.removed.size() == 1);  // the CHILD_SA left the dataplane
    }
    SECTION("explicit clear overrides start_action start") {
        Pair p("start_action = \"start\"\ndpd_action = \"clear\"");
        p.run_outage();
        CHECK(p.sink_a.installs.size() == 1);
        CHECK(p.a.ike_sa_count() == 0);
    }
}

TEST_CASE("config: dpd_action is checked", "[ike][dpd][config]") {
    CHECK_THROWS_WITH(parse_config(side(true, "remote_addr = \"10.77.0.2\"\ndpd_action = \"hold\"")),
                      Catch::Contains("connections[0].dpd_action"));
    CHECK_THROWS_WITH(parse_config(side(true, "dpd_action = \"restart\"")),
                      Catch::Contains("needs remote_addr"));
    CHECK_FALSE(parse_config(side(true, "")).connections[0].dpd_restart);
}

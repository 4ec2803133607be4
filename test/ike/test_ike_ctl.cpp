// espgw-ike's CLI commands (control/ike/control_commands.hpp) and the lease file
// (control/ike/lease_store.hpp), in process: command parsing, JSON answers, Delete
// from the CLI, reload refused/applied, leases surviving a restart.
#include "control/ike/control_commands.hpp"
#include "control/ike/lease_store.hpp"
#include "peer.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include <fmt/format.h>

using namespace espgw::ike;
using namespace ike_test;

namespace {

std::string tmp_path(const char* tag) {
    return "/tmp/eikx-test-" + std::to_string(getpid()) + "-" + tag;
}
void write_file(const std::string& p, const std::string& text) { std::ofstream(p) << text; }

/// A manager with one established road warrior (virtual IP from pool rw).
struct Fixture {
    std::string path = tmp_path("conf");
    IkeConfig cfg;
    CaptureTransport tx;
    RecordingSink sink;
    std::unique_ptr<IkeManager> mgr;
    std::unique_ptr<IkeControl> ctl;
    Fixture() {
        write_file(path, kConfig);
        cfg = load_config(path);
        mgr = std::make_unique<IkeManager>(cfg, tx, sink);
        ctl = std::make_unique<IkeControl>(cfg, *mgr, path);
    }
    ~Fixture() { unlink(path.c_str()); }
    void connect() {
        Initiator ini{*mgr, tx, parse_proposal("aes256gcm16-prfsha256-ecp256", ProtocolId::IKE)};
        ini.sa_init(ini.ike.dh, true);
        mgr->on_message(GW4500, RW4500, ini.auth_request("exchange-test-psk-0123", parse_proposal("aes128gcm16", ProtocolId::ESP), 0xc0ffee01));
        REQUIRE(mgr->ike_sa_count() == 1);
        REQUIRE(sink.installs.size() == 1);
    }
};

}  // namespace

TEST_CASE("CLI: unknown and malformed commands get a JSON error with a code", "[ike][ctl]") {
    Fixture f;
    CHECK(f.ctl->answer("bogus") == R"({"error":"unknown command \"bogus\"","code":"unknown_command"})");
    CHECK(f.ctl->answer("") .find("\"code\":\"bad_request\"") != std::string::npos);
    CHECK(f.ctl->answer("ike sa delete").find("\"code\":\"bad_request\"") != std::string::npos);
    CHECK(f.ctl->answer("ike sa delete zz!").find("\"code\":\"bad_request\"") != std::string::npos);
    CHECK(f.ctl->answer("ike sa delete 0xdead").find("\"code\":\"refused\"") != std::string::npos);
    CHECK(f.ctl->answer("conn down nosuch").find("\"code\":\"refused\"") != std::string::npos);
}

TEST_CASE("CLI: conn list names the configured connection, never the PSK", "[ike][ctl]") {
    Fixture f;
    const std::string a = f.ctl->answer("conn list");
    CHECK(a.starts_with("[{\"name\":\"rw\""));
    CHECK(a.find("\"remote_id\":\"rw@example.com\"") != std::string::npos);
    CHECK(a.find("\"auth\":\"psk\"") != std::string::npos);
    CHECK(a.find("\"pool\":\"rw\"") != std::string::npos);
    CHECK(a.find("exchange-test-psk") == std::string::npos);
}

TEST_CASE("CLI: ike sa list shows peer, identity, virtual IP and CHILD_SA SPIs with counters; sa delete sends Delete",
          "[ike][ctl]") {
    Fixture f;
    CHECK(f.ctl->answer("ike sa list") == "[]");
    f.connect();
    f.ctl->set_counters([](uint32_t spi, bool in) -> std::optional<ChildCounters> {
        if (in) return ChildCounters{7, 700};
        (void)spi;
        return std::nullopt;
    });
    const std::string a = f.ctl->answer("ike sa list");
    INFO(a);
    CHECK(a.find("\"identity\":\"rw@example.com\"") != std::string::npos);
    CHECK(a.find("\"state\":\"established\"") != std::string::npos);
    CHECK(a.find("\"virtual_ip\":\"10.99.0.1\"") != std::string::npos);
    CHECK(a.find("\"spi_out\":\"c0ffee01\"") != std::string::npos);
    CHECK(a.find("\"in\":{\"packets\":7,\"bytes\":700}") != std::string::npos);
    CHECK(a.find("\"out\":null") != std::string::npos);
    CHECK(a.find("\"peer\":\"10.77.0.2[4500]\"") != std::string::npos);
    const std::string pools = f.ctl->answer("pool list");
    CHECK(pools == R"([{"pool":"rw","identity":"rw@example.com","address":"10.99.0.1","online":true}])");
    const std::string users = f.ctl->answer("show users");
    CHECK(users.find("\"identity\":\"rw@example.com\",\"connection\":\"rw\",\"virtual_ip\":\"10.99.0.1\","
                     "\"outer\":\"10.77.0.2[4500]\",\"nat\":true") != std::string::npos);
    const std::string counters = f.ctl->answer("show ike counters");
    CHECK(counters.find("\"ike_sas\":1") != std::string::npos);

    const size_t sent = f.tx.sent.size();
    const std::string spi = fmt::format("{:016x}", f.mgr->spis().at(0));
    CHECK(f.ctl->answer("ike sa delete " + spi) == R"({"ok":true,"deleted":1})");
    CHECK(f.tx.sent.size() == sent + 1);  // the INFORMATIONAL Delete went out
}

TEST_CASE("CLI: conn down and delete by peer address queue a Delete of the IKE SA", "[ike][ctl]") {
    Fixture f;
    f.connect();
    CHECK(f.ctl->answer("ike sa delete 10.77.0.9") .find("refused") != std::string::npos);
    const size_t sent = f.tx.sent.size();
    CHECK(f.ctl->answer("conn down rw") == R"({"ok":true,"deleted":1})");
    CHECK(f.tx.sent.size() == sent + 1);
}

TEST_CASE("CLI: reload refuses a broken file and changes nothing; a valid one applies, old IKE SAs keep theirs",
          "[ike][ctl]") {
    Fixture f;
    f.connect();
    const ConnectionConfig* old_conn = f.mgr->find(f.mgr->spis().at(0))->conn;
    write_file(f.path, std::string(kConfig) + "\n[[connections]]\nname = \"broken\"\n");
    const std::string refused = f.ctl->answer("reload");
    INFO(refused);
    CHECK(refused.find("\"code\":\"refused\"") != std::string::npos);
    CHECK(refused.find("connections[1]") != std::string::npos);
    CHECK(f.cfg.connections.size() == 1);

    std::string good = kConfig;
    good.replace(good.find("name = \"rw\""), 11, "name = \"rw2\"");
    write_file(f.path, good);
    CHECK(f.ctl->answer("reload") == R"({"ok":true,"connections":1})");
    CHECK(f.cfg.connections.at(0).name == "rw2");
    // The existing IKE SA still points at its (retired, still alive) connection.
    CHECK(f.mgr->find(f.mgr->spis().at(0))->conn == old_conn);
    CHECK(old_conn->name == "rw");
    CHECK(f.ctl->answer("conn list").find("\"name\":\"rw2\"") != std::string::npos);
}

TEST_CASE("CLI: reload refuses moving a pool that has leases", "[ike][ctl]") {
    Fixture f;
    f.connect();
    std::string moved = kConfig;
    moved.replace(moved.find("10.99.0.0/24"), 12, "10.98.0.0/24");
    write_file(f.path, moved);
    const std::string a = f.ctl->answer("reload");
    CHECK(a.find("pool rw") != std::string::npos);
    CHECK(f.mgr->pools().at("rw").first() == 0x0a630001);
}

TEST_CASE("lease file: written atomically, restored so the same identity gets the same address", "[ike][ctl]") {
    const std::string path = tmp_path("leases");
    std::map<std::string, AddressPool> pools;
    pools.emplace("rw", AddressPool("rw", "10.99.0.0/24"));
    REQUIRE(pools.at("rw").acquire("a@example.com") == 0x0a630001u);
    REQUIRE(pools.at("rw").acquire("b@example.com") == 0x0a630002u);
    pools.at("rw").release("a@example.com");
    std::string err;
    REQUIRE(save_leases(path, pools, &err));
    CHECK(access((path + ".tmp").c_str(), F_OK) != 0);  // renamed over, no temporary left
    struct stat st {};
    REQUIRE(stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);

    std::map<std::string, AddressPool> fresh;
    fresh.emplace("rw", AddressPool("rw", "10.99.0.0/24"));
    size_t skipped = 9;
    const auto leases = load_leases(path, &skipped);
    CHECK(skipped == 0);
    CHECK(restore_leases(leases, fresh) == 1);
    CHECK(fresh.at("rw").acquire("b@example.com") == 0x0a630002u);  // same address after the restart
    CHECK(fresh.at("rw").acquire("c@example.com") == 0x0a630001u);  // .2 is not handed to another

    // A crash before the rename leaves the old file: a stale temporary is ignored.
    write_file(path + ".tmp", "garbage");
    CHECK(load_leases(path).size() == 1);
    // Malformed lines and leases outside the pool are skipped.
    write_file(path, "rw\tx@example.com\t10.99.0.7\nnonsense\nrw\ty@example.com\t10.1.1.1\nzz\tz\t10.99.0.8\n");
    std::map<std::string, AddressPool> other;
    other.emplace("rw", AddressPool("rw", "10.99.0.0/24"));
    const auto l2 = load_leases(path, &skipped);
    CHECK(skipped == 1);
    CHECK(restore_leases(l2, other) == 1);
    CHECK(other.at("rw").leases().at("x@example.com") == 0x0a630007u);
    unlink(path.c_str());
    unlink((path + ".tmp").c_str());
}

TEST_CASE("lease file: a missing file is an empty list; an unwritable path is an error, not a crash", "[ike][ctl]") {
    CHECK(load_leases("/nonexistent/eikx/leases").empty());
    std::map<std::string, AddressPool> pools;
    std::string err;
    CHECK_FALSE(save_leases("/nonexistent/eikx/leases", pools, &err));
    CHECK(err.find("/nonexistent/eikx/leases.tmp") != std::string::npos);
}

TEST_CASE("CLI: reload refuses a bad CHILD_SA mode and keeps the running config; ike sa list shows the mode",
          "[ike][ctl][transport]") {
    Fixture f;
    f.connect();
    CHECK(f.ctl->answer("ike sa list").find("\"mode\":\"tunnel\"") != std::string::npos);
    for (const char* mode : {"mode = \"beet\"", "mode = \"transport\""}) {  // transport: the pool needs a tunnel
        write_file(f.path, std::string(kConfig) + mode + "\n");
        const std::string refused = f.ctl->answer("reload");
        INFO(refused);
        CHECK(refused.find("\"code\":\"refused\"") != std::string::npos);
        CHECK(refused.find("connections[0].mode") != std::string::npos);
        CHECK(f.cfg.connections.at(0).mode == ChildMode::tunnel);
        CHECK(f.cfg.connections.at(0).name == "rw");
    }
    CHECK(f.ctl->answer("show ike counters").find("\"child_mode_mismatch\":0") != std::string::npos);
}

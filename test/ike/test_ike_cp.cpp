// Configuration payload extensions (issue 4): per pool nbns (INTERNAL_IP4_NBNS),
// dns_domain (INTERNAL_DNS_DOMAIN, RFC 8598), split_include (INTERNAL_IP4_SUBNET and
// the CHILD_SA's local TS narrowed to them), static per-identity addresses that
// override the pool and must lie outside it; the config errors name the key.
#include "control/ike/virtual_ip.hpp"
#include "peer.hpp"

using namespace espgw::ike;
using namespace ike_test;

namespace {

std::string cp_config(const std::string& pool_extra, const std::string& local_ts = "[\"10.0.0.0/8\", \"192.168.0.0/16\"]") {
    return R"([ike]
listen = "10.77.0.1"
[pools.rw]
cidr = "10.99.0.0/24"
dns = ["10.99.0.53"]
)" + pool_extra + R"(
[[connections]]
name = "rw"
local_id = "gw.example.com"
remote_id = "rw@example.com"
psk = "exchange-test-psk-0123"
ike_proposals = ["aes256gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
local_ts = )" + local_ts + R"(
pool = "rw"
)";
}

const char* kExtras = R"(nbns = ["10.99.0.54", "10.99.0.55"]
dns_domain = ["corp.example", "lab.example"]
split_include = ["10.1.0.0/16", "172.16.0.0/12", "192.168.7.0/24"]
)";

struct Result {
    std::vector<CpAttribute> attrs;
    std::vector<TrafficSelector> tsr;
    const IkeSa* sa = nullptr;
};

Result run(const IkeConfig& cfg, CaptureTransport& tx, RecordingSink& sink, IkeManager& mgr) {
    Initiator ini{mgr, tx, parse_proposal("aes256gcm16-prfsha256-ecp256", ProtocolId::IKE)};
    REQUIRE(ini.sa_init(ini.ike.dh, false).get<KePayload>(PayloadType::KE));
    mgr.on_message(GW500, RW500,
                   ini.auth_request("exchange-test-psk-0123", parse_proposal("aes128gcm16", ProtocolId::ESP), 0xc0ffee01));
    const auto inner = ini.decrypt(tx.sent.back().msg);
    Result r;
    const auto* cp = find<CpPayload>(inner, PayloadType::CP);
    REQUIRE(cp);
    r.attrs = cp->attrs;
    const auto* tsr = find<TsPayload>(inner, PayloadType::TSr);
    REQUIRE(tsr);
    r.tsr = tsr->selectors;
    r.sa = mgr.find(mgr.spis().at(0));
    (void)cfg;
    (void)sink;
    return r;
}

std::vector<Bytes> values(const std::vector<CpAttribute>& attrs, uint16_t type) {
    std::vector<Bytes> out;
    for (const auto& a : attrs)
        if (a.type == type) out.push_back(a.value);
    return out;
}

}  // namespace

TEST_CASE("CP: NBNS, DNS domain and split subnets are sent; the local TS is narrowed to the split", "[ike][cp]") {
    const IkeConfig cfg = parse_config(cp_config(kExtras));
    CaptureTransport tx;
    RecordingSink sink;
    IkeManager mgr(cfg, tx, sink);
    const Result r = run(cfg, tx, sink, mgr);
    CHECK(values(r.attrs, INTERNAL_IP4_ADDRESS) == std::vector<Bytes>{{10, 99, 0, 1}});
    CHECK(values(r.attrs, INTERNAL_IP4_DNS) == std::vector<Bytes>{{10, 99, 0, 53}});
    CHECK(values(r.attrs, INTERNAL_IP4_NBNS) == std::vector<Bytes>{{10, 99, 0, 54}, {10, 99, 0, 55}});
    CHECK(values(r.attrs, 25) == std::vector<Bytes>{str("corp.example"), str("lab.example")});
    CHECK(values(r.attrs, INTERNAL_IP4_SUBNET) ==
          std::vector<Bytes>{{10, 1, 0, 0, 255, 255, 0, 0}, {172, 16, 0, 0, 255, 240, 0, 0}, {192, 168, 7, 0, 255, 255, 255, 0}});
    // local_ts 10/8 + 192.168/16 ∩ split: 10.1/16 and 192.168.7/24 (172.16/12 lies outside local_ts).
    REQUIRE(r.tsr.size() == 2);
    CHECK(to_string(r.tsr[0]) == "10.1.0.0..10.1.255.255");
    CHECK(to_string(r.tsr[1]) == "192.168.7.0..192.168.7.255");
    REQUIRE(sink.installs.size() == 1);
    CHECK(sink.installs[0].ts_local == r.tsr);
}

TEST_CASE("CP: without split_include the whole local_ts stays", "[ike][cp]") {
    const IkeConfig cfg = parse_config(cp_config(""));
    CaptureTransport tx;
    RecordingSink sink;
    IkeManager mgr(cfg, tx, sink);
    const Result r = run(cfg, tx, sink, mgr);
    CHECK(values(r.attrs, INTERNAL_IP4_SUBNET).empty());
    CHECK(values(r.attrs, INTERNAL_IP4_NBNS).empty());
    REQUIRE(r.tsr.size() == 2);
    CHECK(to_string(r.tsr[0]) == "10.0.0.0..10.255.255.255");
}

TEST_CASE("CP: a static address for the identity overrides the pool", "[ike][cp]") {
    const IkeConfig cfg = parse_config(cp_config("[pools.rw.static]\n\"rw@example.com\" = \"10.99.1.5\"\n"
                                                 "\"other@example.com\" = \"10.99.1.6\"\n"));
    CaptureTransport tx;
    RecordingSink sink;
    IkeManager mgr(cfg, tx, sink);
    const Result r = run(cfg, tx, sink, mgr);
    CHECK(values(r.attrs, INTERNAL_IP4_ADDRESS) == std::vector<Bytes>{{10, 99, 1, 5}});
    REQUIRE(r.sa);
    CHECK(r.sa->virtual_ip == 0x0a630105u);
    CHECK(mgr.pools().at("rw").leased() == 0);  // nothing taken from the pool
    REQUIRE(sink.installs.size() == 1);
    CHECK(sink.installs[0].virtual_ip == 0x0a630105u);
}

TEST_CASE("CP: choose_virtual_ip order: user's static address, pool [static], pool lease", "[ike][cp]") {
    const IkeConfig cfg = parse_config(cp_config("[pools.rw.static]\n\"alice\" = \"10.99.1.5\"\n"
                                                 "\"rw@example.com\" = \"10.99.1.6\"\n"));
    std::map<std::string, AddressPool> pools;
    pools.emplace("rw", AddressPool("rw", "10.99.0.0/24"));
    IkeSa sa;
    sa.conn = &cfg.connections.at(0);
    sa.peer_id = Identity::parse("rw@example.com");
    VipOrigin o;
    CHECK(choose_virtual_ip(sa, cfg, pools, 4, o) == 0x0a630106u);  // by IKE identity
    CHECK(o.source == "static");
    sa.user = "alice";
    CHECK(choose_virtual_ip(sa, cfg, pools, 4, o) == 0x0a630105u);  // the EAP user name first
    sa.user_ip = 0x0a630909u;  // user database / RADIUS Framed-IP-Address wins
    CHECK(choose_virtual_ip(sa, cfg, pools, 4, o) == 0x0a630909u);
    CHECK(o.source == "user");
    sa.user_ip.reset();
    sa.user = "bob";
    sa.peer_id = Identity::parse("bob@example.com");
    CHECK(choose_virtual_ip(sa, cfg, pools, 4, o) == 0x0a630001u);
    CHECK(o.source == "pool");
    CHECK(pools.at("rw").leases().count("bob") == 1);
}

TEST_CASE("CP: pool option errors name the key", "[ike][cp][config]") {
    auto bad = [](const std::string& extra) { return parse_config(cp_config(extra)); };
    CHECK_THROWS_WITH(bad("nbns = [\"x\"]"), Catch::Contains("pools.rw.nbns"));
    CHECK_THROWS_WITH(bad("dns_domain = \"bad domain\""), Catch::Contains("pools.rw.dns_domain"));
    CHECK_THROWS_WITH(bad("split_include = [\"10.1.0.0\"]"), Catch::Contains("pools.rw.split_include[0]"));
    CHECK_THROWS_WITH(bad("split_include = [\"10.1.0.1/16\"]"), Catch::Contains("host bits"));
    CHECK_THROWS_WITH(bad("split_include = [\"10.1.0.0/33\"]"), Catch::Contains("pools.rw.split_include[0]"));
    CHECK_THROWS_WITH(bad("[pools.rw.static]\n\"alice@example.com\" = \"10.99.0.7\"\n"),
                      Catch::Contains("pools.rw.static.\"alice@example.com\"") && Catch::Contains("inside the pool"));
    CHECK_THROWS_WITH(bad("[pools.rw.static]\n\"alice@example.com\" = \"not-an-ip\"\n"),
                      Catch::Contains("pools.rw.static.\"alice@example.com\""));
    CHECK_THROWS_WITH(bad("[pools.rw.static]\n\"a\" = \"10.99.1.1\"\n\"b\" = \"10.99.1.1\"\n"),
                      Catch::Contains("already the static address"));
    const IkeConfig ok = parse_config(cp_config(kExtras));
    CHECK(ok.pools.at("rw").dns_domains.size() == 2);
    CHECK(ok.pools.at("rw").split_include.size() == 3);
    CHECK(parse_config(cp_config("dns_domain = \"one.example\"")).pools.at("rw").dns_domains.size() == 1);
}

TEST_CASE("CP: a pool given as a range hands out exactly that range", "[ike][cp][pool]") {
    AddressPool p("r", "10.99.0.10-10.99.0.12");
    CHECK(p.first() == 0x0A63000A);
    CHECK(p.last() == 0x0A63000C);
    CHECK(p.acquire("a") == 0x0A63000Au);
    CHECK(p.acquire("b") == 0x0A63000Bu);
    CHECK(p.acquire("c") == 0x0A63000Cu);
    CHECK_FALSE(p.acquire("d"));      // exhausted: the range's end is its end
    CHECK(p.acquire("a") == 0x0A63000Au);  // a lease is kept per identity
    p.release("b");
    CHECK(p.acquire("d") == 0x0A63000Bu);
    CHECK_THROWS_WITH(AddressPool("r", "10.99.0.12-10.99.0.10"), Catch::Contains("empty"));
    CHECK_THROWS_WITH(AddressPool("r", "10.99.0.1-x"), Catch::Contains("bad IPv4 range"));
    CHECK_THROWS_WITH(AddressPool("r", "10.0.0.0/4"), Catch::Contains("shorter than /8"));
    // In the configuration, and a static address must lie outside the range.
    const char* cfg = R"(
[pools.rw]
cidr = "10.99.0.10-10.99.0.99"
[pools.rw.static]
"alice@example.com" = "10.99.0.5"
[[connections]]
name = "rw"
local_id = "gw.example.com"
psk = "0123456789abcdef"
ike_proposals = ["aes256gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
pool = "rw"
)";
    CHECK_NOTHROW(parse_config(cfg));
    std::string inside = cfg;
    inside.replace(inside.find("10.99.0.5\""), 9, "10.99.0.50");
    CHECK_THROWS_WITH(parse_config(inside), Catch::Contains("pools.rw.static"));
}

// IPv6 virtual IPs and per-group pools (issues 4 and 6): IPv6 pool arithmetic, the
// INTERNAL_IP6_ADDRESS wire form, an IKE_AUTH asking for both families (CP reply, TS
// narrowed to both virtual addresses), the group -> pool choice, config errors, and the
// lease file with IPv6 leases.
#include <unistd.h>

#include <cstdio>

#include "control/ike/cp_attributes.hpp"
#include "control/ike/lease_store.hpp"
#include "control/ike/virtual_ip.hpp"
#include "peer.hpp"

using namespace espgw::ike;
using namespace ike_test;

namespace {

Ip6 ip6(const char* text) {
    const auto a = parse_pool_addr(text);
    REQUIRE(a);
    REQUIRE(a->first == 6);
    return ip6_from_pool(a->second);
}

PoolAddr p6(const char* text) {
    return pool_from_ip6(ip6(text));
}

std::string vip6_config(const std::string& pools_extra = "",
                        const std::string& conn_pools = R"(["rw", "rw6"])") {
    return R"([ike]
listen = "10.77.0.1"
[pools.rw]
cidr = "10.99.0.0/24"
dns = ["10.99.0.53", "fd00:78::53"]
[pools.rw6]
cidr = "fd00:99::/112"
dns = ["fd00:78::54"]
)" + pools_extra +
           R"(
[[connections]]
name = "rw"
local_id = "gw.example.com"
remote_id = "rw@example.com"
psk = "exchange-test-psk-0123"
ike_proposals = ["aes256gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
local_ts = ["10.78.0.0/24", "fd00:78::/64"]
pool = )" + conn_pools +
           "\n";
}

std::vector<Bytes> values(const std::vector<CpAttribute>& attrs, uint16_t type) {
    std::vector<Bytes> out;
    for (const auto& a : attrs)
        if (a.type == type) out.push_back(a.value);
    return out;
}

// IKE_AUTH { IDi, IDr, AUTH, CP(CFG_REQUEST: `cp`), SAi2, TSi(0/0, ::/0), TSr(0/0, ::/0) } -->
std::vector<Payload> auth_exchange(IkeManager& mgr, CaptureTransport& tx,
                                   std::vector<CpAttribute> cp) {
    Initiator ini{mgr, tx, parse_proposal("aes256gcm16-prfsha256-ecp256", ProtocolId::IKE)};
    REQUIRE(ini.sa_init(ini.ike.dh, false).get<KePayload>(PayloadType::KE));
    const Identity idi = Identity::parse("rw@example.com");
    const Bytes auth = psk_auth(Prf(ini.ike.prf), str("exchange-test-psk-0123"), ini.init_req,
                                ini.nr, ini.keys.sk_pi.bytes(), idi.payload_body());
    const Algorithms esp = parse_proposal("aes128gcm16", ProtocolId::ESP);
    Proposal p;
    p.protocol = ProtocolId::ESP;
    p.spi = {0xc0, 0xff, 0xee, 0x06};
    p.transforms.push_back({TransformType::ENCR, esp.encr, esp.encr_key_bits});
    p.transforms.push_back({TransformType::ESN, ESN_NONE, std::nullopt});
    const std::vector<TrafficSelector> any = {ts_from_cidr("0.0.0.0/0"), ts_from_cidr("::/0")};
    mgr.on_message(
        GW500, RW500,
        ini.encrypt(ExchangeType::IKE_AUTH, 1,
                    {{PayloadType::IDi, false, idi.to_payload()},
                     {PayloadType::IDr, false, Identity::parse("gw.example.com").to_payload()},
                     {PayloadType::AUTH, false, AuthPayload{AuthMethod::SHARED_KEY_MIC, auth}},
                     {PayloadType::CP, false, CpPayload{CFG_REQUEST, std::move(cp)}},
                     {PayloadType::SA, false, SaPayload{{p}}},
                     {PayloadType::TSi, false, TsPayload{any}},
                     {PayloadType::TSr, false, TsPayload{any}}}));
    return ini.decrypt(tx.sent.back().msg);
}

}  // namespace

TEST_CASE("vip6: an IPv6 pool hands out ::1 up to the last address, per identity",
          "[ike][cp][pool][vip6]") {
    AddressPool p("rw6", "fd00:99::/126");
    CHECK(p.family() == 6);
    CHECK(p.first() == p6("fd00:99::1"));
    CHECK(p.last() == p6("fd00:99::3"));  // no broadcast in IPv6: the last address is used
    CHECK(p.acquire("a") == p6("fd00:99::1"));
    CHECK(p.acquire("b") == p6("fd00:99::2"));
    CHECK(p.acquire("c") == p6("fd00:99::3"));
    CHECK_FALSE(p.acquire("d"));
    CHECK(p.acquire("b") == p6("fd00:99::2"));  // kept per identity
    p.release("a");
    CHECK(p.acquire("d") == p6("fd00:99::1"));
    CHECK(p.to_string(*p.acquire("d")) == "fd00:99::1");
    // Host bits of the CIDR are ignored; a /64 is a valid (huge) pool.
    AddressPool big("big", "2001:db8:1:2:ffff::7/64");
    CHECK(big.first() == p6("2001:db8:1:2::1"));
    CHECK(big.last() == p6("2001:db8:1:2:ffff:ffff:ffff:ffff"));
    CHECK(big.acquire("x") == p6("2001:db8:1:2::1"));
    CHECK(big.restore("y", p6("2001:db8:1:2::2")));
    CHECK(big.acquire("z") == p6("2001:db8:1:2::3"));      // first fit skips the restored lease
    CHECK_FALSE(big.restore("w", p6("2001:db8:1:3::1")));  // outside the pool
    // Ranges, and the bounds.
    AddressPool r("r6", "fd00:99::10-fd00:99::11");
    CHECK(r.acquire("a") == p6("fd00:99::10"));
    CHECK(r.acquire("b") == p6("fd00:99::11"));
    CHECK_FALSE(r.acquire("c"));
    CHECK_THROWS_WITH(AddressPool("x", "fd00::/63"), Catch::Contains("shorter than /64"));
    CHECK_THROWS_WITH(AddressPool("x", "fd00::/127"), Catch::Contains("longer than /126"));
    CHECK_THROWS_WITH(AddressPool("x", "fd00::10-10.0.0.1"), Catch::Contains("bad IPv6 range"));
    CHECK_THROWS_WITH(AddressPool("x", "fd00::20-fd00::10"), Catch::Contains("empty"));
    CHECK_THROWS_WITH(AddressPool("x", "fd00::1-fd00::1:0:0"), Catch::Contains("larger than"));
    CHECK_THROWS_WITH(AddressPool("x", "fd00::zz/112"), Catch::Contains("bad IPv6 CIDR"));
    // IPv4 unchanged: network and broadcast left out.
    AddressPool v4("rw", "10.99.0.0/30");
    CHECK(v4.family() == 4);
    CHECK(v4.first() == 0x0a630001u);
    CHECK(v4.last() == 0x0a630002u);
}

TEST_CASE("vip6: INTERNAL_IP6_ADDRESS is the address and a prefix length (RFC 7296 3.15.1)",
          "[ike][cp][vip6]") {
    const Ip6 a = ip6("fd00:99::7");
    const Bytes v = cp_ip6_address(a, 128);
    REQUIRE(v.size() == 17);
    CHECK(v[0] == 0xfd);
    CHECK(v[15] == 7);
    CHECK(v[16] == 128);
    const auto back = parse_cp_ip6_address(v);
    REQUIRE(back);
    CHECK(back->first == a);
    CHECK(back->second == 128);
    CHECK_FALSE(parse_cp_ip6_address(Bytes(16, 0)));  // the prefix length is missing
    Bytes bad = v;
    bad[16] = 129;
    CHECK_FALSE(parse_cp_ip6_address(bad));
    CHECK(cp_ip6(a) == Bytes(a.begin(), a.end()));
    // Through the message codec: a CP with both address attributes survives encode/parse.
    Header h;
    h.exchange = ExchangeType::IKE_AUTH;
    const Bytes wire =
        encode_message(h, {{PayloadType::CP, false,
                            CpPayload{CFG_REPLY,
                                      {{INTERNAL_IP4_ADDRESS, cp_ip4(0x0a630001)},
                                       {INTERNAL_IP6_ADDRESS, v},
                                       {INTERNAL_IP6_DNS, cp_ip6(ip6("fd00:78::53"))}}}}});
    Message m;
    REQUIRE(parse_message(wire, m) == ParseError::OK);
    const auto* cp = m.get<CpPayload>(PayloadType::CP);
    REQUIRE(cp);
    CHECK(values(cp->attrs, INTERNAL_IP6_ADDRESS) == std::vector<Bytes>{v});
    CHECK(values(cp->attrs, INTERNAL_IP6_DNS).size() == 1);
}

TEST_CASE("vip6: IKE_AUTH asking for both families gets both addresses, DNS and TS of both",
          "[ike][cp][vip6]") {
    const IkeConfig cfg = parse_config(vip6_config());
    CaptureTransport tx;
    RecordingSink sink;
    IkeManager mgr(cfg, tx, sink);
    const auto inner = auth_exchange(mgr, tx,
                                     {{INTERNAL_IP4_ADDRESS, {}},
                                      {INTERNAL_IP6_ADDRESS, {}},
                                      {INTERNAL_IP4_DNS, {}},
                                      {INTERNAL_IP6_DNS, {}}});
    const auto* cp = find<CpPayload>(inner, PayloadType::CP);
    REQUIRE(cp);
    CHECK(cp->cfg_type == CFG_REPLY);
    CHECK(values(cp->attrs, INTERNAL_IP4_ADDRESS) == std::vector<Bytes>{{10, 99, 0, 1}});
    CHECK(values(cp->attrs, INTERNAL_IP6_ADDRESS) ==
          std::vector<Bytes>{cp_ip6_address(ip6("fd00:99::1"), 128)});
    CHECK(values(cp->attrs, INTERNAL_IP4_DNS) == std::vector<Bytes>{{10, 99, 0, 53}});
    // Each pool's IPv6 DNS servers: rw lists one, rw6 another.
    CHECK(values(cp->attrs, INTERNAL_IP6_DNS) ==
          std::vector<Bytes>{cp_ip6(ip6("fd00:78::53")), cp_ip6(ip6("fd00:78::54"))});
    // §2.9: TSi narrowed to the two virtual addresses, TSr to the two local subnets.
    const auto* tsi = find<TsPayload>(inner, PayloadType::TSi);
    const auto* tsr = find<TsPayload>(inner, PayloadType::TSr);
    REQUIRE(tsi);
    REQUIRE(tsr);
    REQUIRE(tsi->selectors.size() == 2);
    CHECK(to_string(tsi->selectors[0]) == "10.99.0.1..10.99.0.1");
    CHECK(to_string(tsi->selectors[1]) == "fd00:99::1..fd00:99::1");
    REQUIRE(tsr->selectors.size() == 2);
    CHECK(to_string(tsr->selectors[1]) == "fd00:78::..fd00:78::ffff:ffff:ffff:ffff");
    REQUIRE(sink.installs.size() == 1);
    CHECK(sink.installs[0].virtual_ip == 0x0a630001u);
    REQUIRE(sink.installs[0].virtual_ip6);
    CHECK(ipv6_to_string(*sink.installs[0].virtual_ip6) == "fd00:99::1");
    CHECK(sink.installs[0].ts_remote.size() == 2);
    const IkeSa* sa = mgr.find(mgr.spis().at(0));
    REQUIRE(sa);
    CHECK(sa->vip_pool == "rw");
    CHECK(sa->vip6_pool == "rw6");
    CHECK(mgr.pools().at("rw6").leases().at("rw@example.com") == p6("fd00:99::1"));
}

TEST_CASE("vip6: an IPv6-only request gets only the IPv6 address; TSi narrowed to it",
          "[ike][cp][vip6]") {
    const IkeConfig cfg = parse_config(vip6_config());
    CaptureTransport tx;
    RecordingSink sink;
    IkeManager mgr(cfg, tx, sink);
    const auto inner = auth_exchange(mgr, tx, {{INTERNAL_IP6_ADDRESS, {}}});
    const auto* cp = find<CpPayload>(inner, PayloadType::CP);
    REQUIRE(cp);
    CHECK(values(cp->attrs, INTERNAL_IP4_ADDRESS).empty());
    CHECK(values(cp->attrs, INTERNAL_IP6_ADDRESS).size() == 1);
    const auto* tsi = find<TsPayload>(inner, PayloadType::TSi);
    REQUIRE(tsi);
    REQUIRE(tsi->selectors.size() == 1);
    CHECK(tsi->selectors[0].ts_type == TS_IPV6_ADDR_RANGE);
    CHECK(mgr.pools().at("rw").leased() == 0);
}

TEST_CASE("vip6: a connection without an IPv6 pool answers IPv4 only", "[ike][cp][vip6]") {
    const IkeConfig cfg = parse_config(vip6_config("", "\"rw\""));
    CaptureTransport tx;
    RecordingSink sink;
    IkeManager mgr(cfg, tx, sink);
    const auto inner =
        auth_exchange(mgr, tx, {{INTERNAL_IP4_ADDRESS, {}}, {INTERNAL_IP6_ADDRESS, {}}});
    const auto* cp = find<CpPayload>(inner, PayloadType::CP);
    REQUIRE(cp);
    CHECK(values(cp->attrs, INTERNAL_IP4_ADDRESS).size() == 1);
    CHECK(values(cp->attrs, INTERNAL_IP6_ADDRESS).empty());
    const auto* tsi = find<TsPayload>(inner, PayloadType::TSi);
    REQUIRE(tsi);
    REQUIRE(tsi->selectors.size() == 1);  // the IPv6 ::/0 proposal is narrowed away
    CHECK(tsi->selectors[0].ts_type == TS_IPV4_ADDR_RANGE);
}

TEST_CASE("vip6: TS narrowing of IPv6 selectors (RFC 7296 2.9)", "[ike][ts][vip6]") {
    const auto out = narrow({ts_from_cidr("::/0"), ts_from_cidr("10.0.0.0/8")},
                            {ts_from_cidr("fd00:78::/64"), ts_from_cidr("fd00:78:0:0:8000::/65")});
    REQUIRE(out.size() == 2);
    CHECK(to_string(out[0]) == "fd00:78::..fd00:78::ffff:ffff:ffff:ffff");
    CHECK(to_string(out[1]) == "fd00:78:0:0:8000::..fd00:78::ffff:ffff:ffff:ffff");
    // A host inside a proposed range; nothing between different families.
    CHECK(narrow({ts_from_cidr("fd00:99::/112")}, {ts_host(ip6("fd00:99::5"))}).size() == 1);
    CHECK(narrow({ts_from_cidr("fd00:99::/112")}, {ts_host(ip6("fd00:98::5"))}).empty());
    CHECK(narrow({ts_from_cidr("0.0.0.0/0")}, {ts_from_cidr("::/0")}).empty());
}

TEST_CASE("vip6: the user's groups choose the pool; [static] and user addresses keep their order",
          "[ike][cp][groups]") {
    const IkeConfig cfg = parse_config(vip6_config(R"(
[pools.staff]
cidr = "10.98.0.0/24"
groups = ["staff", "admins"]
[pools.staff.static]
"carol" = "10.98.1.9"
[pools.staff6]
cidr = "fd00:98::/112"
groups = ["staff"]
)",
                                                   R"(["staff", "staff6", "rw", "rw6"])"));
    std::map<std::string, AddressPool> pools;
    for (const auto& [name, p] : cfg.pools) pools.emplace(name, AddressPool(name, p.cidr));
    CHECK(pool_admits(cfg.pools.at("rw"), {}));
    CHECK_FALSE(pool_admits(cfg.pools.at("staff"), {"guests"}));
    CHECK(pool_admits(cfg.pools.at("staff"), {"guests", "admins"}));
    IkeSa sa;
    sa.conn = &cfg.connections.at(0);
    sa.peer_id = Identity::parse("rw@example.com");
    VipOrigin o;
    // No groups: the pools without groups.
    sa.user = "alice";
    CHECK(choose_virtual_ip(sa, cfg, pools, 4, o) == 0x0a630001u);
    CHECK(o.source == "pool");
    CHECK(o.pool == "rw");
    CHECK(choose_virtual_ip(sa, cfg, pools, 6, o) == p6("fd00:99::1"));
    CHECK(o.pool == "rw6");
    // A staff user: the staff pools, listed first.
    sa.user = "bob";
    sa.groups = {"staff"};
    CHECK(choose_virtual_ip(sa, cfg, pools, 4, o) == 0x0a620001u);
    CHECK(o.pool == "staff");
    CHECK(choose_virtual_ip(sa, cfg, pools, 6, o) == p6("fd00:98::1"));
    CHECK(o.pool == "staff6");
    // An admin: staff for IPv4, but staff6 admits only "staff": rw6.
    sa.user = "dave";
    sa.groups = {"admins"};
    CHECK(choose_virtual_ip(sa, cfg, pools, 4, o) == 0x0a620002u);
    CHECK(choose_virtual_ip(sa, cfg, pools, 6, o) == p6("fd00:99::2"));
    CHECK(o.pool == "rw6");
    // [static] of an admitted pool first; the user's own address (user DB / RADIUS) before all.
    sa.user = "carol";
    sa.groups = {"staff"};
    CHECK(choose_virtual_ip(sa, cfg, pools, 4, o) == 0x0a620109u);
    CHECK(o.source == "static");
    CHECK(o.pool == "staff");
    sa.groups = {};  // carol outside staff: her [static] entry there does not apply
    CHECK(choose_virtual_ip(sa, cfg, pools, 4, o) == 0x0a630002u);
    sa.user_ip = 0x0a630909u;
    CHECK(choose_virtual_ip(sa, cfg, pools, 4, o) == 0x0a630909u);
    CHECK(o.source == "user");
    CHECK(choose_virtual_ip(sa, cfg, pools, 6, o) == p6("fd00:99::3"));  // IPv6 still from a pool
    // A connection whose only pools need a group the user lacks: no address, no source.
    IkeConfig restricted = cfg;
    restricted.connections.at(0).pools = {"staff6"};
    IkeSa guest;
    guest.conn = &restricted.connections.at(0);
    guest.peer_id = Identity::parse("guest@example.com");
    guest.groups = {"guests"};
    CHECK_FALSE(choose_virtual_ip(guest, restricted, pools, 6, o));
    CHECK(o.source.empty());
    CHECK_FALSE(choose_virtual_ip(guest, restricted, pools, 4, o));
}

TEST_CASE("vip6: pool and connection errors name the key", "[ike][cp][config][vip6]") {
    auto bad = [](const std::string& extra, const std::string& conn = R"(["rw", "rw6"])") {
        return parse_config(vip6_config(extra, conn));
    };
    CHECK_NOTHROW(bad(""));
    CHECK_THROWS_WITH(bad("", R"(["rw", "nope"])"), Catch::Contains("connections[0].pool[1]") &&
                                                        Catch::Contains("no pool named 'nope'"));
    CHECK_THROWS_WITH(bad("", R"(["rw", "rw"])"), Catch::Contains("listed twice"));
    CHECK_THROWS_WITH(bad("split_include = [\"10.1.0.0/16\"]"),
                      Catch::Contains("pools.rw6.split_include"));
    CHECK_THROWS_WITH(bad("[pools.rw6.static]\n\"a\" = \"10.99.1.1\"\n"),
                      Catch::Contains("pools.rw6.static.\"a\""));
    CHECK_THROWS_WITH(bad("[pools.rw6.static]\n\"a\" = \"fd00:99::5\"\n"),
                      Catch::Contains("inside the pool"));
    CHECK_NOTHROW(bad("[pools.rw6.static]\n\"a\" = \"fd00:98::5\"\n"));
    CHECK_THROWS_WITH(bad("groups = [\"\"]"), Catch::Contains("pools.rw6.groups"));
    std::string bad_dns = vip6_config();
    bad_dns.replace(bad_dns.find("\"fd00:78::54\""), 13, "\"nope\"");
    CHECK_THROWS_WITH(parse_config(bad_dns), Catch::Contains("pools.rw6.dns"));
    const IkeConfig ok = parse_config(vip6_config("groups = \"staff\""));
    CHECK(ok.pools.at("rw6").family == 6);
    CHECK(ok.pools.at("rw6").groups == std::vector<std::string>{"staff"});
    CHECK(ok.connections.at(0).pools == std::vector<std::string>{"rw", "rw6"});
    std::string both = vip6_config();
    both.replace(both.find("pool = "), 7, "pools = ");
    CHECK(parse_config(both).connections.at(0).pools.size() == 2);
}

TEST_CASE("vip6: IPv6 leases go through the lease file", "[ike][lease][vip6]") {
    char path[] = "/tmp/espgw-vip6-leases-XXXXXX";
    const int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    std::map<std::string, AddressPool> pools;
    pools.emplace("rw", AddressPool("rw", "10.99.0.0/24"));
    pools.emplace("rw6", AddressPool("rw6", "fd00:99::/112"));
    REQUIRE(pools.at("rw").acquire("a@example.com"));
    REQUIRE(pools.at("rw6").acquire("a@example.com"));
    REQUIRE(pools.at("rw6").acquire("b@example.com") == p6("fd00:99::2"));
    std::string err;
    REQUIRE(save_leases(path, pools, &err));
    size_t skipped = 9;
    const auto leases = load_leases(path, &skipped);
    CHECK(skipped == 0);
    REQUIRE(leases.size() == 3);
    std::map<std::string, AddressPool> fresh;
    fresh.emplace("rw", AddressPool("rw", "10.99.0.0/24"));
    fresh.emplace("rw6", AddressPool("rw6", "fd00:99::/112"));
    CHECK(restore_leases(leases, fresh) == 3);
    CHECK(fresh.at("rw6").acquire("b@example.com") == p6("fd00:99::2"));
    CHECK(fresh.at("rw6").acquire("c@example.com") == p6("fd00:99::3"));
    // An IPv6 lease is never put into an IPv4 pool of the same name after a config change.
    std::map<std::string, AddressPool> changed;
    changed.emplace("rw6", AddressPool("rw6", "10.98.0.0/24"));
    CHECK(restore_leases(leases, changed) == 0);
    std::remove(path);
}

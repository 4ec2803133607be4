// RADIUS codec and client (control/radius): RFC 2865 §7.1 example, Message-Authenticator
// (RFC 3579 §3.2), MS-MPPE key decryption (RFC 2548 §2.4.2), EAP-Message splitting,
// malformed and forged replies, and the client's retransmission/failover/timeout over
// loopback UDP against a scripted server. Expected values were computed independently
// with Python's hashlib/hmac.
#include "control/ike/config.hpp"
#include "control/ike/eap_radius.hpp"
#include "control/ike/radius_accounting.hpp"
#include "control/radius/client.hpp"
#include "control/radius/packet.hpp"
#include "test/ike/hex.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <thread>

using namespace espgw::radius;
using ike_test::hex;
using ike_test::unhex;

namespace {

std::span<const uint8_t> sv(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }
const std::string kSecret = "xyzzy5461";

// A scripted RADIUS server on 127.0.0.1: a bound UDP socket the test reads and answers.
struct FakeServer {
    int fd = -1;
    uint16_t port = 0;
    FakeServer() {
        fd = ::socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
        socklen_t l = sizeof a;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &l);
        port = ntohs(a.sin_port);
        timeval tv{0, 200000};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    ~FakeServer() { ::close(fd); }
    // Next request (or empty after 200 ms), with the sender's address in `from`.
    std::vector<uint8_t> recv(sockaddr_in& from) {
        uint8_t b[4096];
        socklen_t l = sizeof from;
        ssize_t n = ::recvfrom(fd, b, sizeof b, 0, reinterpret_cast<sockaddr*>(&from), &l);
        return n > 0 ? std::vector<uint8_t>(b, b + n) : std::vector<uint8_t>{};
    }
    void send(const std::vector<uint8_t>& d, const sockaddr_in& to) {
        ::sendto(fd, d.data(), d.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
    }
};

std::shared_ptr<const espgw::crypto::SecretBytes> secret_ptr(const std::string& s) {
    return std::make_shared<const espgw::crypto::SecretBytes>(sv(s));
}

}  // namespace

TEST_CASE("radius: RFC 2865 7.1 Access-Accept verifies against its request", "[radius]") {
    const auto req = unhex("010000380f403f9473978057bd83d5cb98f4227a01066e656d6f02120dbe708d93d413ce3196e43f782a0aee0406c0a80110050600000003");
    const auto rep = unhex("0200002686fe220e7624ba2a1005f6bf9b55e0b20606000000010f06000000000e06c0a80103");
    const auto rq = parse(req);
    REQUIRE(rq);
    CHECK(rq->code == Code::ACCESS_REQUEST);
    CHECK(rq->find(attr::USER_NAME)->value == std::vector<uint8_t>{'n', 'e', 'm', 'o'});
    DecodeError err;
    auto p = decode_reply(rep, rq->authenticator, sv(kSecret), &err);
    REQUIRE(p);
    CHECK(err == DecodeError::NONE);
    CHECK(p->code == Code::ACCESS_ACCEPT);
    CHECK(p->find(attr::SERVICE_TYPE)->value == std::vector<uint8_t>{0, 0, 0, 1});
    // A wrong secret, or one flipped bit, fails the Response Authenticator.
    CHECK_FALSE(decode_reply(rep, rq->authenticator, sv(std::string("xyzzy5462")), &err));
    CHECK(err == DecodeError::BAD_AUTHENTICATOR);
    auto bad = rep;
    bad[37] ^= 1;
    CHECK_FALSE(decode_reply(bad, rq->authenticator, sv(kSecret), &err));
    CHECK(err == DecodeError::BAD_AUTHENTICATOR);
}

TEST_CASE("radius: Access-Request carries an HMAC-MD5 Message-Authenticator", "[radius]") {
    Packet p;
    p.id = 7;
    for (int i = 0; i < 16; ++i) p.authenticator[i] = static_cast<uint8_t>(i);
    p.add_string(attr::USER_NAME, "bob");
    const auto wire = encode_access_request(p, sv(kSecret));
    CHECK(hex(wire) == "0107002b000102030405060708090a0b0c0d0e0f0105626f625012e53cea2431682544d909c4c32ae6d827");
}

TEST_CASE("radius: Accounting-Request Message-Authenticator and Request Authenticator", "[radius]") {
    Packet p;
    p.code = Code::ACCOUNTING_REQUEST;
    p.id = 9;
    p.add_u32(attr::ACCT_STATUS_TYPE, kAcctStart);
    p.add_string(attr::ACCT_SESSION_ID, "s1");
    // HMAC-MD5 with a zero Authenticator field, then MD5(packet | secret) (hashlib/hmac).
    CHECK(hex(encode_accounting_request(p, sv(kSecret))) ==
          "04090030b651991d2c2ba132507416bd5d6805f02806000000012c047331501231e8b7715683273aa8319039baf7fc57");
}

TEST_CASE("radius: reply Message-Authenticator required with EAP-Message and checked", "[radius]") {
    Authenticator ra{};
    ra.fill(0x5a);
    Packet r;
    r.code = Code::ACCESS_CHALLENGE;
    r.id = 3;
    r.add_eap(std::vector<uint8_t>{1, 9, 0, 6, 4, 0});
    r.add(attr::STATE, std::vector<uint8_t>{1, 2, 3});
    r.add(attr::PROXY_STATE, std::vector<uint8_t>{9});
    DecodeError err;
    auto good = encode_reply(r, ra, sv(kSecret), true);
    auto p = decode_reply(good, ra, sv(kSecret), &err);
    REQUIRE(p);
    CHECK(p->find(attr::PROXY_STATE) == nullptr);  // ignored (stripped)
    CHECK(p->eap() == std::vector<uint8_t>{1, 9, 0, 6, 4, 0});

    auto none = encode_reply(r, ra, sv(kSecret), false);
    CHECK_FALSE(decode_reply(none, ra, sv(kSecret), &err));
    CHECK(err == DecodeError::BAD_MESSAGE_AUTH);

    // A reply with a forged Message-Authenticator but a correct Response Authenticator
    // (an attacker who knows the secret would do both; this proves the MAC is checked).
    Packet f = r;
    f.attrs.insert(f.attrs.begin(), Attribute{attr::MESSAGE_AUTHENTICATOR, std::vector<uint8_t>(16, 0xee)});
    auto forged = encode_reply(f, ra, sv(kSecret), false);
    // Recompute only the Response Authenticator over the forged packet.
    const std::span<const uint8_t> parts[] = {std::span<const uint8_t>(forged).first(4), ra,
                                              std::span<const uint8_t>(forged).subspan(20), sv(kSecret)};
    auto a = md5(parts);
    std::copy(a.begin(), a.end(), forged.begin() + 4);
    CHECK_FALSE(decode_reply(forged, ra, sv(kSecret), &err));
    CHECK(err == DecodeError::BAD_MESSAGE_AUTH);
}

TEST_CASE("radius: malformed replies are refused, never read past the end", "[radius]") {
    Authenticator ra{};
    Packet r;
    r.code = Code::ACCESS_ACCEPT;
    r.add_string(attr::CLASS, "staff");
    const auto good = encode_reply(r, ra, sv(kSecret), false);
    DecodeError err;
    REQUIRE(decode_reply(good, ra, sv(kSecret), &err));
    // Truncated below the Length field.
    CHECK_FALSE(decode_reply(std::span(good).first(good.size() - 1), ra, sv(kSecret), &err));
    CHECK(err == DecodeError::MALFORMED);
    // Shorter than a header.
    CHECK_FALSE(decode_reply(std::span(good).first(10), ra, sv(kSecret), &err));
    // Attribute length 1 and attribute overrunning the packet.
    auto b1 = good;
    b1[21] = 1;
    CHECK_FALSE(parse(b1));
    auto b2 = good;
    b2[21] = 60;
    CHECK_FALSE(parse(b2));
    // Length field below 20 and above 4096.
    auto b3 = good;
    b3[2] = 0, b3[3] = 19;
    CHECK_FALSE(parse(b3));
    auto b4 = good;
    b4[2] = 0x10, b4[3] = 1;
    CHECK_FALSE(parse(b4));
    // Extra bytes past Length are ignored (RFC 2865 §3).
    auto longer = good;
    longer.push_back(0xff);
    CHECK(decode_reply(longer, ra, sv(kSecret), &err));
    // Malformed VSA: vendor_attr refuses rather than overruns.
    Packet v;
    v.add(attr::VENDOR_SPECIFIC, std::vector<uint8_t>{0, 0, 1, 0x37, 17, 40, 1, 2});
    CHECK_FALSE(vendor_attr(v, kVendorMicrosoft, kMsMppeRecvKey));
}

TEST_CASE("radius: MS-MPPE key decryption (RFC 2548 2.4.2)", "[radius]") {
    Authenticator ra{};
    for (int i = 0; i < 16; ++i) ra[i] = static_cast<uint8_t>(i);
    std::vector<uint8_t> key;
    for (int i = 0x40; i < 0x60; ++i) key.push_back(static_cast<uint8_t>(i));
    // Salt 0x9234; computed with hashlib.md5 (Secret + RequestAuth + Salt chain).
    const auto value = unhex(
        "923422ed70c4cba3eca694594d4df7c1037dec0aef74fde2e3ec81cfe8bd26d8510d3e8cdbdf147933dc11aae58c3f863d16");
    CHECK(encrypt_mppe_key(key, sv(kSecret), ra, 0x1234) == value);
    auto k = decrypt_mppe_key(value, sv(kSecret), ra);
    REQUIRE(k);
    CHECK(std::vector<uint8_t>(k->bytes().begin(), k->bytes().end()) == key);
    // Salt without its high bit, a ragged length, a wrong request authenticator.
    auto nosalt = value;
    nosalt[0] &= 0x7f;
    CHECK_FALSE(decrypt_mppe_key(nosalt, sv(kSecret), ra));
    CHECK_FALSE(decrypt_mppe_key(std::span(value).first(value.size() - 1), sv(kSecret), ra));
    ra[0] ^= 1;
    auto wrong = decrypt_mppe_key(value, sv(kSecret), ra);
    CHECK((!wrong || std::vector<uint8_t>(wrong->bytes().begin(), wrong->bytes().end()) != key));
}

TEST_CASE("radius: EAP-Message split at 253 bytes and joined in order", "[radius]") {
    std::vector<uint8_t> eap(600);
    for (size_t i = 0; i < eap.size(); ++i) eap[i] = static_cast<uint8_t>(i * 7);
    Packet p;
    p.add_eap(eap);
    REQUIRE(p.all(attr::EAP_MESSAGE).size() == 3);
    CHECK(p.all(attr::EAP_MESSAGE)[0]->value.size() == 253);
    CHECK(p.all(attr::EAP_MESSAGE)[2]->value.size() == 94);
    auto wire = encode_access_request(p, sv(kSecret));
    auto back = parse(wire);
    REQUIRE(back);
    CHECK(back->eap() == eap);
}

TEST_CASE("radius client: retransmits, fails over to the second server, drops forged replies", "[radius]") {
    FakeServer dead, live;
    ClientConfig cfg;
    cfg.servers.push_back({"127.0.0.1", dead.port, dead.port, secret_ptr(kSecret)});
    cfg.servers.push_back({"127.0.0.1", live.port, live.port, secret_ptr("other-secret")});
    cfg.timeout_s = 0.6;
    cfg.retries = 2;
    Client c(cfg);
    Packet p;
    p.add_string(attr::USER_NAME, "alice");
    auto now = Clock::now();
    const auto h = c.send(p, false, now);
    // The dead server sees the request 3 times (1 + 2 retries) with the same id and authenticator.
    std::vector<std::vector<uint8_t>> seen;
    sockaddr_in from{};
    const auto t0 = Clock::now();
    while (Clock::now() - t0 < std::chrono::milliseconds(900)) {
        c.poll(Clock::now());
        timeval tv{0, 20000};
        ::setsockopt(dead.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        auto d = dead.recv(from);
        if (!d.empty()) seen.push_back(d);
    }
    REQUIRE(seen.size() == 3);
    CHECK(seen[0] == seen[2]);
    c.poll(Clock::now());
    CHECK(c.counters().failovers == 1);
    // The live server gets it signed with its own secret.
    auto req = live.recv(from);
    REQUIRE(!req.empty());
    auto rq = parse(req);
    REQUIRE(rq);
    Packet rep;
    rep.code = Code::ACCESS_ACCEPT;
    rep.id = rq->id;
    rep.add_string(attr::CLASS, "staff");
    // First a reply signed with the wrong secret, then garbage, then the good one.
    live.send(encode_reply(rep, rq->authenticator, sv(kSecret), true), from);
    live.send(std::vector<uint8_t>{2, rq->id, 0, 30, 1, 2, 3}, from);
    live.send(encode_reply(rep, rq->authenticator, sv(std::string("other-secret")), true), from);
    std::optional<Result> r;
    for (int i = 0; i < 50 && !r; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        c.poll(Clock::now());
        r = c.take(h);
    }
    REQUIRE(r);
    CHECK(r->status == Result::Status::REPLY);
    CHECK(r->reply.find(attr::CLASS));
    CHECK(c.counters().dropped_bad_auth == 1);
    CHECK(c.counters().dropped_malformed == 1);
    CHECK(c.outstanding() == 0);
}

TEST_CASE("radius client: every server silent ends in TIMEOUT; EapRadiusServer says RADIUS timeout", "[radius]") {
    FakeServer a;
    ClientConfig cfg;
    cfg.servers.push_back({"127.0.0.1", a.port, a.port, secret_ptr(kSecret)});
    cfg.timeout_s = 0.3;
    cfg.retries = 0;
    auto client = std::make_shared<Client>(cfg);
    espgw::ike::EapRadiusParams prm;
    prm.client = client;
    prm.nas_identifier = "gw1";
    prm.local = {0x0a000001, 500};
    prm.remote = {0x0a000002, 4500};
    espgw::ike::EapRadiusServer srv(prm);
    auto s = srv.start("alice");
    CHECK(s.kind == espgw::ike::EapStep::Kind::PENDING);
    sockaddr_in from{};
    auto req = a.recv(from);
    REQUIRE(!req.empty());
    auto rq = parse(req);
    REQUIRE(rq);
    // The relay's Access-Request: identity as EAP-Response/Identity and the NAS attributes.
    CHECK(rq->eap() == std::vector<uint8_t>{2, 0, 0, 10, 1, 'a', 'l', 'i', 'c', 'e'});
    CHECK(rq->find(attr::NAS_IDENTIFIER)->value == std::vector<uint8_t>{'g', 'w', '1'});
    const auto* cs = rq->find(attr::CALLING_STATION_ID);
    REQUIRE(cs);
    CHECK(std::string(cs->value.begin(), cs->value.end()) == "10.0.0.2[4500]");
    CHECK(rq->find(attr::MESSAGE_AUTHENTICATOR));
    const auto t0 = Clock::now();
    while (s.kind == espgw::ike::EapStep::Kind::PENDING && Clock::now() - t0 < std::chrono::seconds(2)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        s = srv.poll();
    }
    CHECK(s.kind == espgw::ike::EapStep::Kind::FAILURE);
    CHECK(s.reason == "RADIUS timeout");
    CHECK(client->counters().timeouts == 1);
}

TEST_CASE("EapRadiusServer: challenge then accept yields MSK = Recv-Key | Send-Key, Framed-IP, groups", "[radius]") {
    FakeServer a;
    ClientConfig cfg;
    cfg.servers.push_back({"127.0.0.1", a.port, a.port, secret_ptr(kSecret)});
    cfg.timeout_s = 2;
    auto client = std::make_shared<Client>(cfg);
    espgw::ike::EapRadiusParams prm;
    prm.client = client;
    std::string accepted_user;
    std::vector<Bytes> accepted_classes;
    prm.on_accept = [&](const std::string& u, std::vector<Bytes> c) {
        accepted_user = u;
        accepted_classes = std::move(c);
    };
    espgw::ike::EapRadiusServer srv(prm);
    using K = espgw::ike::EapStep::Kind;
    auto wait = [&](espgw::ike::EapStep s) {
        for (int i = 0; i < 100 && s.kind == K::PENDING; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
            s = srv.poll();
        }
        return s;
    };
    srv.start("bob");
    sockaddr_in from{};
    auto rq = parse(a.recv(from));
    REQUIRE(rq);
    Packet ch;
    ch.code = Code::ACCESS_CHALLENGE;
    ch.id = rq->id;
    ch.add_eap(std::vector<uint8_t>{1, 5, 0, 6, 6, 'O'});
    ch.add(attr::STATE, std::vector<uint8_t>{0xab, 0xcd});
    a.send(encode_reply(ch, rq->authenticator, sv(kSecret), true), from);
    auto s = wait(espgw::ike::EapStep{K::PENDING});
    REQUIRE(s.kind == K::CONTINUE);
    CHECK(s.eap == std::vector<uint8_t>{1, 5, 0, 6, 6, 'O'});

    CHECK(srv.process(std::vector<uint8_t>{2, 5, 0, 7, 6, '1', '2'}).kind == K::PENDING);
    rq = parse(a.recv(from));
    REQUIRE(rq);
    CHECK(rq->find(attr::STATE)->value == std::vector<uint8_t>{0xab, 0xcd});  // echoed
    CHECK(rq->eap() == std::vector<uint8_t>{2, 5, 0, 7, 6, '1', '2'});
    std::vector<uint8_t> recv_key(32, 0x11), send_key(32, 0x22);
    auto vsa = [&](uint8_t type, const std::vector<uint8_t>& k, uint16_t salt) {
        auto enc = encrypt_mppe_key(k, sv(kSecret), rq->authenticator, salt);
        std::vector<uint8_t> v = {0, 0, 1, 0x37, type, static_cast<uint8_t>(enc.size() + 2)};
        v.insert(v.end(), enc.begin(), enc.end());
        return v;
    };
    Packet acc;
    acc.code = Code::ACCESS_ACCEPT;
    acc.id = rq->id;
    acc.add_eap(std::vector<uint8_t>{3, 5, 0, 4});
    acc.add(attr::VENDOR_SPECIFIC, vsa(kMsMppeSendKey, send_key, 0x8001));
    acc.add(attr::VENDOR_SPECIFIC, vsa(kMsMppeRecvKey, recv_key, 0x8002));
    acc.add(attr::FRAMED_IP_ADDRESS, std::vector<uint8_t>{10, 3, 0, 77});
    acc.add_string(attr::CLASS, "engineering");
    acc.add_string(attr::FILTER_ID, "vpn-staff");
    a.send(encode_reply(acc, rq->authenticator, sv(kSecret), true), from);
    s = wait(espgw::ike::EapStep{K::PENDING});
    REQUIRE(s.kind == K::SUCCESS);
    CHECK(s.eap == std::vector<uint8_t>{3, 5, 0, 4});
    std::vector<uint8_t> msk = recv_key;
    msk.insert(msk.end(), send_key.begin(), send_key.end());
    CHECK(std::vector<uint8_t>(s.msk.bytes().begin(), s.msk.bytes().end()) == msk);
    CHECK(s.framed_ip == 0x0a03004du);
    CHECK(s.groups == std::vector<std::string>{"engineering", "vpn-staff"});
    CHECK(s.user == "bob");
    // The Class values go to accounting, to be echoed unmodified.
    CHECK(accepted_user == "bob");
    CHECK(accepted_classes == std::vector<Bytes>{Bytes{'e', 'n', 'g', 'i', 'n', 'e', 'e', 'r', 'i', 'n', 'g'}});
}

TEST_CASE("EapRadiusServer: Access-Reject fails with the Reply-Message", "[radius]") {
    FakeServer a;
    ClientConfig cfg;
    cfg.servers.push_back({"127.0.0.1", a.port, a.port, secret_ptr(kSecret)});
    auto client = std::make_shared<Client>(cfg);
    espgw::ike::EapRadiusParams prm;
    prm.client = client;
    espgw::ike::EapRadiusServer srv(prm);
    srv.start("mallory");
    sockaddr_in from{};
    auto rq = parse(a.recv(from));
    REQUIRE(rq);
    Packet rej;
    rej.code = Code::ACCESS_REJECT;
    rej.id = rq->id;
    rej.add_eap(std::vector<uint8_t>{4, 0, 0, 4});
    rej.add_string(attr::REPLY_MESSAGE, "account locked");
    a.send(encode_reply(rej, rq->authenticator, sv(kSecret), true), from);
    espgw::ike::EapStep s{espgw::ike::EapStep::Kind::PENDING};
    for (int i = 0; i < 100 && s.kind == espgw::ike::EapStep::Kind::PENDING; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        s = srv.poll();
    }
    CHECK(s.kind == espgw::ike::EapStep::Kind::FAILURE);
    CHECK(s.reason == "RADIUS reject: account locked");
    CHECK(s.eap == std::vector<uint8_t>{4, 0, 0, 4});
}

TEST_CASE("[radius] configuration: servers, defaults, errors name the key and never the secret", "[radius][config]") {
    const std::string base = R"(
[[connections]]
name = "rw"
local_id = "gw.example.com"
psk = "0123456789abcdef"
ike_proposals = ["aes256gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
nas_identifier = "gw-rw"
)";
    const std::string radius = R"(
[radius]
servers = [ { address = "10.0.0.5", secret = "s3cr3t-value-xyz" },
            { address = "10.0.0.6", port = 11812, acct_port = 11813, secret = "another-secret" } ]
timeout_s = 20
retries = 3
interim_s = 300
)";
    const auto c = espgw::ike::parse_config(base + radius);
    REQUIRE(c.radius);
    REQUIRE(c.radius->client.servers.size() == 2);
    CHECK(c.radius->client.servers[0].port == 1812);
    CHECK(c.radius->client.servers[0].acct_port == 1813);
    CHECK(c.radius->client.servers[1].acct_port == 11813);
    CHECK(c.radius->client.timeout_s == 20);
    CHECK(c.radius->client.retries == 3);
    CHECK(c.radius->interim_s == 300);
    CHECK(c.radius->accounting);
    CHECK(c.radius->nas_identifier == "espgw");
    CHECK(c.connections[0].nas_identifier == "gw-rw");
    CHECK_FALSE(espgw::ike::parse_config(base).radius);
    // Defaults: 15 s timeout (MFA push approvals), 2 retries.
    const auto d = espgw::ike::parse_config(base + "[radius]\nservers = [ { address = \"10.0.0.5\", secret = \"x\" } ]\n");
    CHECK(d.radius->client.timeout_s == 15);
    CHECK(d.radius->client.retries == 2);

    auto bad = [&](const std::string& from, const std::string& to) {
        std::string t = base + radius;
        t.replace(t.find(from), from.size(), to);
        try {
            espgw::ike::parse_config(t);
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK_THAT(bad("10.0.0.6", "not-an-ip"), Catch::Contains("radius.servers[1].address"));
    CHECK_THAT(bad("port = 11812", "port = 70000"), Catch::Contains("radius.servers[1].port"));
    CHECK_THAT(bad("secret = \"another-secret\"", "secret = \"\""), Catch::Contains("radius.servers[1].secret"));
    CHECK_THAT(bad("timeout_s = 20", "timeout_s = 0"), Catch::Contains("radius.timeout_s"));
    CHECK_THAT(bad("retries = 3", "retries = -1"), Catch::Contains("radius.retries"));
    CHECK_THAT(bad("interim_s = 300", "interim_s = \"x\""), Catch::Contains("radius.interim_s"));
    CHECK_THAT(bad("retries = 3", "retries = 3\nsecrets = 1"), Catch::Contains("radius.secrets: unknown key"));
    const std::string e = bad("port = 11812", "prot = 11812");
    CHECK_THAT(e, Catch::Contains("radius.servers[1].prot"));
    CHECK(e.find("another-secret") == std::string::npos);
    CHECK_THAT(bad("nas_identifier = \"gw-rw\"", "nas_identifier = \"\""),
               Catch::Contains("connections[0].nas_identifier"));
}

TEST_CASE("radius client: 300 requests share 256 identifiers, the rest wait, all are answered", "[radius]") {
    FakeServer a;
    ClientConfig cfg;
    cfg.servers.push_back({"127.0.0.1", a.port, a.port, secret_ptr(kSecret)});
    cfg.timeout_s = 5;
    Client c(cfg);
    // 256 datagrams at once on loopback: room in both receive buffers (root: FORCE).
    const int big = 4 << 20;
    for (int fd : {a.fd, c.fd()})
        if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) != 0)
            ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    std::vector<Client::Handle> hs;
    const auto now = Clock::now();
    for (int i = 0; i < 300; ++i) {
        Packet p;
        p.add_string(attr::USER_NAME, "u" + std::to_string(i));
        hs.push_back(c.send(p, false, now));
    }
    // Answer everything the server sees; identifiers of outstanding requests never repeat.
    std::set<uint8_t> outstanding;
    size_t answered = 0, max_outstanding = 0;
    const auto t0 = Clock::now();
    while (answered < 300 && Clock::now() - t0 < std::chrono::seconds(4)) {
        sockaddr_in from{};
        timeval tv{0, 20000};
        ::setsockopt(a.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        std::vector<std::vector<uint8_t>> batch;
        for (auto d = a.recv(from); !d.empty(); d = a.recv(from)) batch.push_back(d);
        for (const auto& d : batch) {
            auto rq = parse(d);
            REQUIRE(rq);
            CHECK(outstanding.insert(rq->id).second);
        }
        max_outstanding = std::max(max_outstanding, outstanding.size());
        for (const auto& d : batch) {
            auto rq = parse(d);
            Packet rep;
            rep.code = Code::ACCESS_REJECT;
            rep.id = rq->id;
            a.send(encode_reply(rep, rq->authenticator, sv(kSecret), false), from);
            outstanding.erase(rq->id);
            ++answered;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        c.poll(Clock::now());
    }
    size_t replies = 0;
    for (int i = 0; i < 50 && replies < hs.size(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        c.poll(Clock::now());
        for (auto h : hs)
            if (auto r = c.take(h)) replies += r->status == Result::Status::REPLY;
    }
    CHECK(replies == 300);
    CHECK(c.outstanding() == 0);
    CHECK(answered == 300);
    CHECK(max_outstanding == 256);
    CHECK(c.counters().replies == 300);
    CHECK(c.counters().retransmits == 0);
}

namespace {

// RFC 2866 §3: Request Authenticator = MD5(Code+Identifier+Length+16 zero octets+Attributes+Secret).
bool accounting_signed_with(const std::vector<uint8_t>& d, const std::string& secret) {
    if (d.size() < 20) return false;
    std::vector<uint8_t> z(d);
    std::fill(z.begin() + 4, z.begin() + 20, 0);
    const std::span<const uint8_t> parts[] = {z, sv(secret)};
    const auto h = md5(parts);
    return std::equal(h.begin(), h.end(), d.begin() + 4);
}

}  // namespace

TEST_CASE("radius accounting: Accounting-On/Off; reconfigure moves a request in flight to the new server and secret",
          "[radius]") {
    FakeServer a, b;
    ClientConfig cfg;
    cfg.servers.push_back({"127.0.0.1", a.port, a.port, secret_ptr("secret-a")});
    cfg.timeout_s = 5;
    cfg.retries = 0;
    auto c = std::make_shared<Client>(cfg);
    espgw::ike::RadiusAccounting acct(c, 0);
    acct.nas_on("gw-test", 0xC0000201, Clock::now());
    sockaddr_in from{};
    const auto on = a.recv(from);
    REQUIRE(!on.empty());
    CHECK(accounting_signed_with(on, "secret-a"));
    const auto p = parse(on);
    REQUIRE(p);
    CHECK(p->code == Code::ACCOUNTING_REQUEST);
    REQUIRE(p->find(attr::ACCT_STATUS_TYPE));
    CHECK(p->find(attr::ACCT_STATUS_TYPE)->value == Bytes{0, 0, 0, 7});  // RFC 2866 §5.1 Accounting-On
    REQUIRE(p->find(attr::NAS_IP_ADDRESS));
    CHECK(p->find(attr::NAS_IP_ADDRESS)->value == Bytes{192, 0, 2, 1});
    REQUIRE(p->find(attr::NAS_IDENTIFIER));
    CHECK(p->find(attr::NAS_IDENTIFIER)->value == Bytes{'g', 'w', '-', 't', 'e', 's', 't'});
    CHECK(p->find(attr::ACCT_SESSION_ID));
    CHECK_FALSE(p->find(attr::USER_NAME));

    // Unanswered by a: the reload's new server b gets it, signed with b's secret.
    ClientConfig next;
    next.servers.push_back({"127.0.0.1", b.port, b.port, secret_ptr("secret-b")});
    next.timeout_s = 5;
    next.retries = 0;
    ClientConfig bad;
    CHECK_THROWS_AS(c->reconfigure(bad, Clock::now()), std::invalid_argument);  // nothing changes
    c->reconfigure(next, Clock::now());
    auto moved = b.recv(from);
    REQUIRE(!moved.empty());
    CHECK(accounting_signed_with(moved, "secret-b"));
    CHECK(parse(moved)->find(attr::ACCT_STATUS_TYPE)->value == Bytes{0, 0, 0, 7});
    Packet rep;
    rep.code = Code::ACCOUNTING_RESPONSE;
    rep.id = moved[1];
    Authenticator ra{};
    std::copy(moved.begin() + 4, moved.begin() + 20, ra.begin());
    b.send(encode_reply(rep, ra, sv(std::string("secret-b")), false), from);
    for (int i = 0; i < 50 && acct.in_flight(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        acct.collect(Clock::now());
    }
    CHECK(acct.in_flight() == 0);
    CHECK(acct.counters().answered == 1);
    CHECK(acct.counters().ons == 1);

    acct.nas_off("gw-test", 0, Clock::now());
    const auto off = b.recv(from);
    REQUIRE(!off.empty());
    CHECK(accounting_signed_with(off, "secret-b"));
    const auto q = parse(off);
    REQUIRE(q);
    CHECK(q->find(attr::ACCT_STATUS_TYPE)->value == Bytes{0, 0, 0, 8});         // Accounting-Off
    CHECK(q->find(attr::ACCT_TERMINATE_CAUSE)->value == Bytes{0, 0, 0, 7});     // Admin-Reboot
    CHECK_FALSE(q->find(attr::NAS_IP_ADDRESS));
    CHECK(acct.counters().offs == 1);
    CHECK(a.recv(from).empty());  // nothing more went to the old server
}

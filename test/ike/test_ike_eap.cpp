// IKEv2 EAP (issue 6): MS-CHAPv2 computations against RFC 2759 §9.2 and RFC 3079 §3.5.3,
// the EAP packet codec, the EAP-MSCHAPv2 / EAP-GTC servers against the user database,
// and in-process IKE_AUTH exchanges with EAP (RFC 7296 §2.16) including the MSK AUTH,
// retransmissions and an asynchronous (PENDING) server.
#include "control/ike/auth_sig.hpp"
#include "control/ike/eap_mschapv2.hpp"
#include "control/ike/eap_packet.hpp"
#include "control/ike/ms_crypto.hpp"
#include "control/ike/mschapv2.hpp"
#include "control/ike/user_db.hpp"
#include "peer.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace espgw::ike;
using ike_test::hex;
using ike_test::unhex;

namespace {

mschapv2::Challenge16 c16(std::string_view h) {
    mschapv2::Challenge16 c{};
    const auto b = unhex(h);
    std::copy(b.begin(), b.end(), c.begin());
    return c;
}

// RFC 2759 §9.2
const auto kAuthChallenge = c16("5b5d7c7d7b3f2f3e3c2c602132262628");
const auto kPeerChallenge = c16("21402324255e262a28295f2b3a337c7e");

struct TmpDir {
    std::string dir;
    TmpDir() {
        char tmpl[] = "/tmp/h1-eap-test-XXXXXX";
        dir = mkdtemp(tmpl);
    }
    ~TmpDir() { std::filesystem::remove_all(dir); }
    std::string file(const std::string& n) const { return dir + "/" + n; }
};

/// A user database with alice (pool), bob (static IP, groups) and carol (disabled).
struct Users {
    TmpDir t;
    UserDb db;
    Users() {
        db = UserDb::load(t.file("users.toml"), t.file("users.key"));
        db.set_pbkdf2_iterations(1000);
        User a;
        a.name = "alice";
        a.email = "alice@example.com";
        a.groups = {"staff"};
        db.upsert(a, "clientPass");
        User b;
        b.name = "bob";
        b.static_ip = 0x0a620007;  // 10.98.0.7
        b.groups = {"ops", "admins"};
        db.upsert(b, "bob-password");
        User c;
        c.name = "carol";
        c.enabled = false;
        db.upsert(c, "carol-password");
    }
};

/// The peer side of EAP-MSCHAPv2 built from the RFC 2759 functions: answers a Challenge
/// request with `password` and checks the Success request's authenticator response.
struct MsPeer {
    std::string user, password;
    mschapv2::Challenge16 peer_challenge = kPeerChallenge;
    mschapv2::Challenge16 auth_challenge{};
    mschapv2::NtResponse nt{};

    Bytes respond_challenge(const Bytes& request) {
        EapPacket p;
        REQUIRE(parse_eap(request, p) == EapError::OK);
        REQUIRE(p.code == EapCode::REQUEST);
        REQUIRE(p.type == EapType::MSCHAPV2);
        REQUIRE(p.data.size() >= 21);
        REQUIRE(p.data[0] == 1);   // Challenge
        REQUIRE(p.data[4] == 16);  // Value-Size
        std::copy_n(p.data.begin() + 5, 16, auth_challenge.begin());
        const auto hash = nt_password_hash(password);
        nt = mschapv2::nt_response(auth_challenge, peer_challenge, user, hash.bytes());
        Bytes d{2, p.data[1], 0, 0, 49};
        d.insert(d.end(), peer_challenge.begin(), peer_challenge.end());
        d.insert(d.end(), 8, 0);
        d.insert(d.end(), nt.begin(), nt.end());
        d.push_back(0);
        d.insert(d.end(), user.begin(), user.end());
        d[2] = static_cast<uint8_t>(d.size() >> 8);
        d[3] = static_cast<uint8_t>(d.size());
        return encode_eap({EapCode::RESPONSE, p.identifier, EapType::MSCHAPV2, d});
    }

    Bytes respond_success(const Bytes& request) {
        EapPacket p;
        REQUIRE(parse_eap(request, p) == EapError::OK);
        REQUIRE(p.type == EapType::MSCHAPV2);
        REQUIRE(p.data[0] == 3);
        const std::string msg(p.data.begin() + 4, p.data.end());
        const auto hash = nt_password_hash(password);
        CHECK(msg.rfind(mschapv2::authenticator_response(hash.bytes(), nt, peer_challenge, auth_challenge, user), 0) == 0);
        return encode_eap({EapCode::RESPONSE, p.identifier, EapType::MSCHAPV2, {3}});
    }

    espgw::crypto::SecretBytes msk() const { return mschapv2::msk(nt_password_hash(password).bytes(), nt); }
};

}  // namespace

TEST_CASE("MS-CHAPv2 responses match RFC 2759 §9.2", "[ike][eap][mschap]") {
    REQUIRE_NOTHROW(ms_crypto_init());
    CHECK(hex(mschapv2::challenge_hash(kPeerChallenge, kAuthChallenge, "User")) == "d02e4386bce91226");
    const auto hash = nt_password_hash("clientPass");
    const auto nt = mschapv2::nt_response(kAuthChallenge, kPeerChallenge, "User", hash.bytes());
    CHECK(hex(nt) == "82309ecd8d708b5ea08faa3981cd83544233114a3d85d6df");
    CHECK(mschapv2::authenticator_response(hash.bytes(), nt, kPeerChallenge, kAuthChallenge, "User") ==
          "S=407A5589115FD0D6209F510FE9C04566932CDA56");
    CHECK(mschapv2::strip_domain("EXAMPLE\\User") == "User");
    CHECK(mschapv2::strip_domain("User") == "User");
}

TEST_CASE("MPPE keys and the EAP-MSCHAPv2 MSK match RFC 3079 §3.5.3", "[ike][eap][mschap]") {
    const auto hash = nt_password_hash("clientPass");
    const auto nt = mschapv2::nt_response(kAuthChallenge, kPeerChallenge, "User", hash.bytes());
    const auto hh = md4(hash.bytes());
    const auto mk = mschapv2::master_key(hh, nt);
    CHECK(hex(mk) == "fdece3717a8c838cb388e527ae3cdd31");
    // SendStartKey128 is the server's send key (Magic3) = the client's receive key.
    CHECK(hex(mschapv2::asymmetric_start_key(mk, true, true)) == "8b7cdc149b993a1ba118cb153f56dccb");
    CHECK(mschapv2::asymmetric_start_key(mk, false, false) == mschapv2::asymmetric_start_key(mk, true, true));
    CHECK(mschapv2::asymmetric_start_key(mk, false, true) == mschapv2::asymmetric_start_key(mk, true, false));
    // MSK = MasterReceiveKey | MasterSendKey | 32 zeros, as strongSwan and RADIUS' MS-MPPE keys.
    const auto msk = mschapv2::msk(hash.bytes(), nt);
    REQUIRE(msk.size() == 64);
    CHECK(hex(msk.bytes().first(16)) == "d5f0e9521e3ea9589645e86051c82226");
    CHECK(hex(msk.bytes().subspan(16, 16)) == "8b7cdc149b993a1ba118cb153f56dccb");
    CHECK(hex(msk.bytes().subspan(32)) == std::string(64, '0'));
}

TEST_CASE("EAP packets round-trip through the codec", "[ike][eap][codec]") {
    const EapPacket req{EapCode::REQUEST, 7, EapType::MSCHAPV2, {1, 2, 3}};
    const Bytes wire = encode_eap(req);
    CHECK(hex(wire) == "010700081a010203");
    EapPacket back;
    REQUIRE(parse_eap(wire, back) == EapError::OK);
    CHECK(back.code == EapCode::REQUEST);
    CHECK(back.identifier == 7);
    CHECK(back.type == EapType::MSCHAPV2);
    CHECK(back.data == Bytes{1, 2, 3});
    CHECK(hex(encode_eap({EapCode::SUCCESS, 9, EapType::IDENTITY, {1}})) == "03090004");
    REQUIRE(parse_eap(unhex("04090004"), back) == EapError::OK);
    CHECK(back.code == EapCode::FAILURE);
    REQUIRE(parse_eap(unhex("0201000501"), back) == EapError::OK);  // Response/Identity, empty
    CHECK(back.type == EapType::IDENTITY);
    CHECK(back.data.empty());
    // Inside an IKE message: the EAP payload (type 48) survives the IKE codec.
    Header h;
    h.exchange = ExchangeType::IKE_AUTH;
    const Bytes msg = encode_message(h, {make_eap_payload(wire)});
    Message m;
    REQUIRE(parse_message(msg, m) == ParseError::OK);
    REQUIRE(find_eap_payload(m));
    CHECK(*find_eap_payload(m) == wire);
}

TEST_CASE("malformed EAP packets are named, never read past their end", "[ike][eap][codec]") {
    EapPacket p;
    CHECK(parse_eap({}, p) == EapError::TRUNCATED);
    CHECK(parse_eap(unhex("010100"), p) == EapError::TRUNCATED);
    CHECK(parse_eap(unhex("01010004"), p) == EapError::TRUNCATED);          // Request without a Type
    CHECK(parse_eap(unhex("0101000918"), p) == EapError::LENGTH_MISMATCH);  // claims more than sent
    CHECK(parse_eap(unhex("010100051801"), p) == EapError::LENGTH_MISMATCH);  // trailing bytes
    CHECK(parse_eap(unhex("0101ffff"), p) == EapError::LENGTH_MISMATCH);
    CHECK(parse_eap(unhex("0501000501"), p) == EapError::BAD_CODE);
    CHECK(parse_eap(unhex("0001000501"), p) == EapError::BAD_CODE);
    CHECK(parse_eap(unhex("0301000500"), p) == EapError::SUCCESS_WITH_DATA);
    CHECK(name(EapError::LENGTH_MISMATCH) == "EAP length mismatch");
}

TEST_CASE("EAP-MSCHAPv2 server authenticates a user and derives the peer's MSK", "[ike][eap][mschap]") {
    Users u;
    auto srv = make_eap_mschapv2(u.db);
    MsPeer peer{"alice", "clientPass"};
    EapStep s = srv->start("alice");
    REQUIRE(s.kind == EapStep::Kind::CONTINUE);
    s = srv->process(peer.respond_challenge(s.eap));
    REQUIRE(s.kind == EapStep::Kind::CONTINUE);
    s = srv->process(peer.respond_success(s.eap));
    REQUIRE(s.kind == EapStep::Kind::SUCCESS);
    EapPacket p;
    REQUIRE(parse_eap(s.eap, p) == EapError::OK);
    CHECK(p.code == EapCode::SUCCESS);
    CHECK(s.user == "alice");
    CHECK(s.groups == std::vector<std::string>{"staff"});
    CHECK_FALSE(s.framed_ip);
    CHECK(hex(s.msk.bytes()) == hex(peer.msk().bytes()));

    // The e-mail is an identity too; a domain prefix in the MS-CHAPv2 Name is stripped.
    auto srv2 = make_eap_mschapv2(u.db);
    MsPeer bob{"bob", "bob-password"};
    s = srv2->start("bob");
    Bytes resp = bob.respond_challenge(s.eap);
    s = srv2->process(resp);
    REQUIRE(s.kind == EapStep::Kind::CONTINUE);
    s = srv2->process(bob.respond_success(s.eap));
    REQUIRE(s.kind == EapStep::Kind::SUCCESS);
    CHECK(s.framed_ip == 0x0a620007u);
    CHECK(s.groups == std::vector<std::string>{"ops", "admins"});
}

TEST_CASE("EAP-MSCHAPv2 refuses bad passwords, unknown and disabled users, garbage", "[ike][eap][mschap]") {
    Users u;
    std::string failure_message;  // the MS-CHAPv2 Failure Request's text
    const auto run = [&](const std::string& id, const std::string& name, const std::string& pw) {
        auto srv = make_eap_mschapv2(u.db);
        MsPeer peer{name, pw};
        EapStep s = srv->start(id);
        REQUIRE(s.kind == EapStep::Kind::CONTINUE);
        s = srv->process(peer.respond_challenge(s.eap));
        EapPacket p;
        failure_message.clear();
        if (s.kind == EapStep::Kind::CONTINUE && !s.reason.empty()) {
            // <-- Failure Request { OpCode 4, MS-CHAPv2-ID, MS-Length, "E=... R=0 C=... V=3 M=..." }
            REQUIRE(parse_eap(s.eap, p) == EapError::OK);
            REQUIRE(p.type == EapType::MSCHAPV2);
            REQUIRE(p.data.size() > 4);
            CHECK(p.data[0] == 4);
            CHECK((static_cast<size_t>(p.data[2]) << 8 | p.data[3]) == p.data.size());
            failure_message.assign(p.data.begin() + 4, p.data.end());
            const std::string why = s.reason;
            // --> Failure Response { OpCode 4 }   <-- EAP-Failure
            s = srv->process(encode_eap({EapCode::RESPONSE, p.identifier, EapType::MSCHAPV2, {4}}));
            CHECK(s.reason == why);
        }
        if (s.kind == EapStep::Kind::FAILURE) {
            REQUIRE(parse_eap(s.eap, p) == EapError::OK);
            CHECK(p.code == EapCode::FAILURE);
        }
        return s;
    };
    const auto failure_is = [&](const std::string& code) {
        // RFC 2759 §6: "E=eeeeeeeeee R=r C=cccccccccccccccccccccccccccccccc V=vvvvvvvvvv M=<msg>"
        const size_t c = 2 + code.size() + 7;  // the challenge's offset
        return failure_message.rfind("E=" + code + " R=0 C=", 0) == 0 && failure_message.find(" V=3 M=") == c + 32 &&
               failure_message.find_first_not_of("0123456789ABCDEF", c) == c + 32;
    };
    auto s = run("alice", "alice", "wrong-password");
    CHECK(s.kind == EapStep::Kind::FAILURE);
    CHECK(s.reason == "bad password");
    CHECK(s.reason.find("wrong") == std::string::npos);
    CHECK(failure_is("691"));
    s = run("dave", "dave", "whatever");
    CHECK(s.kind == EapStep::Kind::FAILURE);
    CHECK(s.reason == "unknown user");
    CHECK(failure_is("691"));  // the same answer as a bad password: no user enumeration
    s = run("carol", "carol", "carol-password");
    CHECK(s.kind == EapStep::Kind::FAILURE);
    CHECK(s.reason == "user disabled");
    CHECK(failure_is("647"));
    s = run("alice@EXAMPLE.com", "alice", "clientPass");  // e-mail identity (case-insensitive)
    CHECK(s.kind == EapStep::Kind::CONTINUE);

    for (const char* bad : {"", "02", "0201ffff1a", "0200000a1a0200000000", "0100000501"}) {
        auto srv = make_eap_mschapv2(u.db);
        const EapStep first = srv->start("alice");
        EapPacket req;
        REQUIRE(parse_eap(first.eap, req) == EapError::OK);
        Bytes b = unhex(bad);
        if (b.size() >= 2) b[1] = req.identifier;
        CHECK(srv->process(b).kind == EapStep::Kind::FAILURE);
    }
    // A Nak, and a truncated MS-CHAPv2 Response of the right identifier.
    auto srv = make_eap_mschapv2(u.db);
    EapPacket req;
    REQUIRE(parse_eap(srv->start("alice").eap, req) == EapError::OK);
    auto s1 = srv->process(encode_eap({EapCode::RESPONSE, req.identifier, EapType::NAK, {6}}));
    CHECK(s1.kind == EapStep::Kind::FAILURE);
    CHECK(s1.reason.find("Nak") != std::string::npos);
    srv = make_eap_mschapv2(u.db);
    REQUIRE(parse_eap(srv->start("alice").eap, req) == EapError::OK);
    s1 = srv->process(encode_eap({EapCode::RESPONSE, req.identifier, EapType::MSCHAPV2, {2, req.identifier, 0, 9, 49}}));
    CHECK(s1.kind == EapStep::Kind::FAILURE);
}

TEST_CASE("EAP-GTC checks the password against the PBKDF2 hash, without an MSK", "[ike][eap]") {
    Users u;
    const auto run = [&](const std::string& id, const std::string& pw) {
        auto srv = make_eap_gtc(u.db);
        EapPacket req;
        REQUIRE(parse_eap(srv->start(id).eap, req) == EapError::OK);
        CHECK(req.type == EapType::GTC);
        return srv->process(encode_eap({EapCode::RESPONSE, req.identifier, EapType::GTC, Bytes(pw.begin(), pw.end())}));
    };
    auto s = run("bob", "bob-password");
    CHECK(s.kind == EapStep::Kind::SUCCESS);
    CHECK(s.msk.empty());
    CHECK(s.framed_ip == 0x0a620007u);
    CHECK(run("bob", "nope").reason == "bad password");
    CHECK(run("carol", "carol-password").reason == "user disabled");
}

namespace {

using namespace ike_test;

/// Gateway certificate made at test time with strongSwan's `pki`.
struct GwPki {
    std::string dir;
    GwPki() {
        dir = (std::filesystem::temp_directory_path() / ("h1_eap_pki_" + std::to_string(::getpid()))).string();
        std::filesystem::create_directories(dir);
        const auto run = [&](const std::string& cmd) {
            REQUIRE(std::system(("cd " + dir + " && " + cmd + " 2>/dev/null").c_str()) == 0);
        };
        run("pki --gen --type ecdsa --size 256 --outform pem > ca.key");
        run("pki --self --ca --in ca.key --type ecdsa --dn 'C=DE, O=Example, CN=Example CA' --outform pem > ca.pem");
        run("pki --gen --type ecdsa --size 256 --outform pem > gw.key");
        run("pki --issue --cacert ca.pem --cakey ca.key --type priv --in gw.key --dn 'C=DE, O=Example, "
            "CN=gw.example.com' --san gw.example.com --outform pem > gw.pem");
        run("pki --gen --type ecdsa --size 256 --outform pem > rw.key");
        run("pki --issue --cacert ca.pem --cakey ca.key --type priv --in rw.key --dn 'C=DE, O=Example, "
            "CN=rw.example.com' --san rw.example.com --outform pem > rw.pem");
    }
    ~GwPki() { std::filesystem::remove_all(dir); }
};

const GwPki& gw_pki() {
    static GwPki p;
    return p;
}

IkeConfig eap_config(const std::string& remote_auth = "eap-mschapv2", const std::string& eap_identity = "ike",
                     bool multiple_auth = false) {
    const std::string d = gw_pki().dir;
    return parse_config(R"(
[ike]
listen = "10.77.0.1"
[pki]
cacerts = [")" + d + R"(/ca.pem"]
[pools.rw]
cidr = "10.99.0.0/24"
[[connections]]
name = "rw-eap"
auth = "pubkey"
local_id = "gw.example.com"
local_cert = ")" + d + R"(/gw.pem"
local_key = ")" + d + R"(/gw.key"
remote_auth = ")" + remote_auth + R"("
eap_identity = ")" + eap_identity + R"("
multiple_auth = )" + (multiple_auth ? "true" : "false") + R"(
ike_proposals = ["aes256gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
local_ts = ["10.78.0.0/24"]
pool = "rw"
)");
}

/// IKE_AUTH #1 without AUTH: { IDi, IDr, CP(CFG_REQUEST), SAi2, TSi, TSr }.
std::vector<Payload> first_auth_request(const Identity& idi) {
    Proposal p;
    p.protocol = ProtocolId::ESP;
    p.spi = {0xc0, 0xff, 0xee, 0x02};
    p.transforms.push_back({TransformType::ENCR, ENCR_AES_GCM_16, 128});
    p.transforms.push_back({TransformType::ESN, ESN_NONE, std::nullopt});
    return {{PayloadType::IDi, false, idi.to_payload()},
            {PayloadType::IDr, false, Identity::parse("gw.example.com").to_payload()},
            {PayloadType::CP, false, CpPayload{CFG_REQUEST, {{INTERNAL_IP4_ADDRESS, {}}}}},
            {PayloadType::SA, false, SaPayload{{p}}},
            {PayloadType::TSi, false, TsPayload{{ts_from_cidr("0.0.0.0/0")}}},
            {PayloadType::TSr, false, TsPayload{{ts_from_cidr("0.0.0.0/0")}}}};
}

const Bytes& eap_of(const std::vector<Payload>& ps) {
    const auto* raw = find<RawPayload>(ps, PayloadType::EAP);
    REQUIRE(raw);
    return raw->body;
}

struct EapRig {
    Users users;
    IkeConfig cfg;
    CaptureTransport tx;
    RecordingSink sink;
    IkeManager mgr;
    Initiator ini;
    explicit EapRig(IkeConfig c)
        : cfg(std::move(c)), mgr(cfg, tx, sink),
          ini{mgr, tx, parse_proposal("aes256gcm16-prfsha256-ecp256", ProtocolId::IKE)} {
        mgr.set_users(&users.db);
        ini.next_id = 1;
        ini.sa_init(ini.ike.dh, /*fake_nat=*/true);
    }
    Bytes initiator_auth(std::span<const uint8_t> key, const Identity& idi) const {
        return psk_auth(Prf(ini.ike.prf), key, ini.init_req, ini.nr, ini.keys.sk_pi.bytes(), idi.payload_body());
    }
};

}  // namespace

TEST_CASE("IKE_AUTH with EAP-MSCHAPv2: certificate, EAP rounds, MSK AUTH, then CP and CHILD_SA", "[ike][eap][exchange]") {
    EapRig r(eap_config());
    const Identity idi = Identity::parse("bob");
    // IKE_AUTH { IDi, IDr, CP, SAi2, TSi, TSr } --> <-- { IDr, CERT, AUTH, EAP(Request) }
    auto resp = r.ini.exchange(ExchangeType::IKE_AUTH, first_auth_request(idi));
    const auto* idr = find<IdPayload>(resp, PayloadType::IDr);
    const auto* auth = find<AuthPayload>(resp, PayloadType::AUTH);
    REQUIRE(idr);
    REQUIRE(auth);
    const Bytes idr_body = Identity::from_payload(*idr).payload_body();
    CHECK(auth->method == AuthMethod::DIGITAL_SIGNATURE);
    CHECK(find<RawPayload>(resp, PayloadType::CERT));
    CHECK_FALSE(find<SaPayload>(resp, PayloadType::SA));  // the CHILD_SA waits for the final exchange
    CHECK(r.sink.installs.empty());
    const Bytes challenge_resp_wire = r.tx.sent.back().msg;

    MsPeer peer{"bob", "bob-password"};
    const Bytes eap2 = peer.respond_challenge(eap_of(resp));
    const Bytes req2 = r.ini.encrypt(ExchangeType::IKE_AUTH, 2, {make_eap_payload(eap2)});
    r.mgr.on_message(GW4500, RW4500, req2);
    resp = r.ini.decrypt(r.tx.sent.back().msg);
    const Bytes resp2_wire = r.tx.sent.back().msg;
    // §2.1: the retransmitted request gets the same response; the old one is not re-run.
    r.mgr.on_message(GW4500, RW4500, req2);
    CHECK(r.tx.sent.back().msg == resp2_wire);
    CHECK(r.mgr.counters().retransmits_answered == 1);
    r.ini.next_id = 3;
    resp = r.ini.exchange(ExchangeType::IKE_AUTH, {make_eap_payload(peer.respond_success(eap_of(resp)))});
    EapPacket ok;
    REQUIRE(parse_eap(eap_of(resp), ok) == EapError::OK);
    CHECK(ok.code == EapCode::SUCCESS);
    CHECK(r.mgr.find(r.ini.spi_r)->state == IkeSaState::INIT_DONE);

    // IKE_AUTH { AUTH(MSK) } --> <-- { AUTH(MSK), CP(CFG_REPLY), SAr2, TSi, TSr }
    const auto msk = peer.msk();
    resp = r.ini.exchange(ExchangeType::IKE_AUTH,
                          {{PayloadType::AUTH, false, AuthPayload{AuthMethod::SHARED_KEY_MIC, r.initiator_auth(msk.bytes(), idi)}}});
    const auto* gw_auth = find<AuthPayload>(resp, PayloadType::AUTH);
    REQUIRE(gw_auth);
    CHECK(hex(gw_auth->data) == hex(psk_auth(Prf(r.ini.ike.prf), msk.bytes(), r.ini.init_resp, r.ini.ni,
                                             r.ini.keys.sk_pr.bytes(), idr_body)));
    const auto* cp = find<CpPayload>(resp, PayloadType::CP);
    REQUIRE(cp);
    CHECK(cp->attrs.at(0).value == Bytes{10, 98, 0, 7});  // bob's static IP, not the pool
    REQUIRE(find<SaPayload>(resp, PayloadType::SA));
    REQUIRE(r.sink.installs.size() == 1);
    CHECK(r.sink.installs[0].spi_out == 0xc0ffee02);
    CHECK(r.sink.installs[0].virtual_ip == 0x0a620007u);
    const IkeSa* sa = r.mgr.find(r.ini.spi_r);
    REQUIRE(sa);
    CHECK(sa->state == IkeSaState::ESTABLISHED);
    CHECK(sa->user == "bob");
    CHECK(sa->auth_method == "EAP-MSCHAPv2");
    CHECK(sa->groups == std::vector<std::string>{"ops", "admins"});
    CHECK_FALSE(sa->eap);
    CHECK(r.mgr.counters().eap_successes == 1);
    (void)challenge_resp_wire;
}

TEST_CASE("IKE_AUTH with EAP: an address IDi gets an EAP-Identity round and a pool address", "[ike][eap][exchange]") {
    EapRig r(eap_config());
    const Identity idi = Identity::parse("10.77.0.2");
    auto resp = r.ini.exchange(ExchangeType::IKE_AUTH, first_auth_request(idi));
    EapPacket req;
    REQUIRE(parse_eap(eap_of(resp), req) == EapError::OK);
    REQUIRE(req.code == EapCode::REQUEST);
    REQUIRE(req.type == EapType::IDENTITY);
    resp = r.ini.exchange(ExchangeType::IKE_AUTH,
                          {make_eap_payload(encode_eap({EapCode::RESPONSE, req.identifier, EapType::IDENTITY, str("alice")}))});
    MsPeer peer{"alice", "clientPass"};
    resp = r.ini.exchange(ExchangeType::IKE_AUTH, {make_eap_payload(peer.respond_challenge(eap_of(resp)))});
    resp = r.ini.exchange(ExchangeType::IKE_AUTH, {make_eap_payload(peer.respond_success(eap_of(resp)))});
    resp = r.ini.exchange(ExchangeType::IKE_AUTH, {{PayloadType::AUTH, false,
                                                    AuthPayload{AuthMethod::SHARED_KEY_MIC, r.initiator_auth(peer.msk().bytes(), idi)}}});
    const auto* cp = find<CpPayload>(resp, PayloadType::CP);
    REQUIRE(cp);
    CHECK(cp->attrs.at(0).value == Bytes{10, 99, 0, 1});
    CHECK(r.mgr.find(r.ini.spi_r)->user == "alice");
    // The lease belongs to the user, not to the address it came from.
    CHECK(r.mgr.pools().at("rw").acquire("alice") == 0x0a630001u);
}

TEST_CASE("IKE_AUTH with EAP refusals: bad password, wrong MSK AUTH, missing EAP payload", "[ike][eap][exchange]") {
    SECTION("bad password: Failure Request, the peer's ACK, EAP-Failure with AUTHENTICATION_FAILED") {
        EapRig r(eap_config());
        auto resp = r.ini.exchange(ExchangeType::IKE_AUTH, first_auth_request(Identity::parse("alice")));
        MsPeer peer{"alice", "not-the-password"};
        resp = r.ini.exchange(ExchangeType::IKE_AUTH, {make_eap_payload(peer.respond_challenge(eap_of(resp)))});
        EapPacket p;
        REQUIRE(parse_eap(eap_of(resp), p) == EapError::OK);
        REQUIRE(p.type == EapType::MSCHAPV2);
        CHECK(p.data.at(0) == 4);  // Failure Request
        CHECK(r.mgr.counters().eap_failures == 1);  // counted (and logged) once, now
        resp = r.ini.exchange(ExchangeType::IKE_AUTH,
                              {make_eap_payload(encode_eap({EapCode::RESPONSE, p.identifier, EapType::MSCHAPV2, {4}}))});
        CHECK(find_notify(resp, NotifyType::AUTHENTICATION_FAILED));
        EapPacket f;
        REQUIRE(parse_eap(eap_of(resp), f) == EapError::OK);
        CHECK(f.code == EapCode::FAILURE);
        CHECK(r.mgr.ike_sa_count() == 0);
        CHECK(r.mgr.counters().eap_failures == 1);
    }
    SECTION("bad password: a peer that gives up with INFORMATIONAL AUTHENTICATION_FAILED ends the IKE SA") {
        EapRig r(eap_config());
        auto resp = r.ini.exchange(ExchangeType::IKE_AUTH, first_auth_request(Identity::parse("alice")));
        MsPeer peer{"alice", "not-the-password"};
        resp = r.ini.exchange(ExchangeType::IKE_AUTH, {make_eap_payload(peer.respond_challenge(eap_of(resp)))});
        REQUIRE(r.mgr.ike_sa_count() == 1);
        r.ini.exchange(ExchangeType::INFORMATIONAL, {make_notify(NotifyType::AUTHENTICATION_FAILED)});
        CHECK(r.mgr.ike_sa_count() == 0);
        CHECK(r.mgr.counters().eap_failures == 1);
    }
    SECTION("an AUTH not keyed with the MSK is refused") {
        EapRig r(eap_config());
        const Identity idi = Identity::parse("alice");
        auto resp = r.ini.exchange(ExchangeType::IKE_AUTH, first_auth_request(idi));
        MsPeer peer{"alice", "clientPass"};
        resp = r.ini.exchange(ExchangeType::IKE_AUTH, {make_eap_payload(peer.respond_challenge(eap_of(resp)))});
        resp = r.ini.exchange(ExchangeType::IKE_AUTH, {make_eap_payload(peer.respond_success(eap_of(resp)))});
        resp = r.ini.exchange(ExchangeType::IKE_AUTH, {{PayloadType::AUTH, false,
                                                        AuthPayload{AuthMethod::SHARED_KEY_MIC,
                                                                    r.initiator_auth(r.ini.keys.sk_pi.bytes(), idi)}}});
        CHECK(find_notify(resp, NotifyType::AUTHENTICATION_FAILED));
        CHECK(r.sink.installs.empty());
        CHECK(r.mgr.ike_sa_count() == 0);
    }
    SECTION("a later round without an EAP payload, or with garbage in it") {
        for (const bool garbage : {false, true}) {
            EapRig r(eap_config());
            r.ini.exchange(ExchangeType::IKE_AUTH, first_auth_request(Identity::parse("alice")));
            std::vector<Payload> p;
            if (garbage) p.push_back(make_eap_payload({2, 1, 0, 200, 26}));
            const auto resp = r.ini.exchange(ExchangeType::IKE_AUTH, p);
            CHECK(find_notify(resp, NotifyType::AUTHENTICATION_FAILED));
            CHECK(r.mgr.ike_sa_count() == 0);
        }
    }
    SECTION("an EAP identity with control characters is refused before any lookup or log") {
        EapRig r(eap_config("eap-mschapv2", "ask"));
        auto resp = r.ini.exchange(ExchangeType::IKE_AUTH, first_auth_request(Identity::parse("alice")));
        EapPacket req;
        REQUIRE(parse_eap(eap_of(resp), req) == EapError::OK);
        REQUIRE(req.type == EapType::IDENTITY);  // eap_identity = "ask"
        resp = r.ini.exchange(ExchangeType::IKE_AUTH, {make_eap_payload(encode_eap(
                                                           {EapCode::RESPONSE, req.identifier, EapType::IDENTITY, str("al\nice")}))});
        CHECK(find_notify(resp, NotifyType::AUTHENTICATION_FAILED));
    }
    SECTION("no user database: the EAP connection refuses") {
        EapRig r(eap_config());
        r.mgr.set_users(nullptr);
        const auto resp = r.ini.exchange(ExchangeType::IKE_AUTH, first_auth_request(Identity::parse("alice")));
        CHECK(find_notify(resp, NotifyType::AUTHENTICATION_FAILED));
    }
}

namespace {

/// An asynchronous EAP server (like the RADIUS relay): every step is PENDING until
/// the test releases it; then a one-round GTC-like conversation with a fixed MSK.
struct AsyncServer final : EapServer {
    bool* release;
    int* aborted;
    std::optional<EapStep> next;
    AsyncServer(bool* r, int* a) : release(r), aborted(a) {}
    EapStep start(const std::string&) override {
        EapStep s;
        s.kind = EapStep::Kind::CONTINUE;
        s.eap = encode_eap({EapCode::REQUEST, 5, EapType::GTC, str("OTP: ")});
        next = std::move(s);
        return pending();
    }
    EapStep process(std::span<const uint8_t>) override {
        EapStep s;
        s.kind = EapStep::Kind::SUCCESS;
        s.eap = encode_eap({EapCode::SUCCESS, 5, EapType::IDENTITY, {}});
        s.msk = espgw::crypto::SecretBytes(Bytes(64, 0x5a));
        s.user = "otp-user";
        s.framed_ip = 0x0a620009;
        s.groups = {"mfa"};
        next = std::move(s);
        return pending();
    }
    EapStep poll() override {
        if (!*release) return pending();
        *release = false;
        EapStep s = std::move(*next);
        next.reset();
        return s;
    }
    void abort() override { ++*aborted; }
    static EapStep pending() {
        EapStep s;
        s.kind = EapStep::Kind::PENDING;
        return s;
    }
};

}  // namespace

TEST_CASE("a PENDING EAP server is polled from tick; retransmissions wait silently", "[ike][eap][exchange]") {
    EapRig r(eap_config("eap-radius"));
    bool release = false;
    int aborted = 0;
    r.mgr.set_eap_override([&](const ConnectionConfig&) { return std::make_unique<AsyncServer>(&release, &aborted); });
    const Identity idi = Identity::parse("otp-user");
    const Bytes req1 = r.ini.encrypt(ExchangeType::IKE_AUTH, 1, first_auth_request(idi));
    const size_t before = r.tx.sent.size();
    r.mgr.on_message(GW4500, RW4500, req1);
    CHECK(r.tx.sent.size() == before);  // no answer yet
    auto t = Clock::now();
    r.mgr.tick(t += std::chrono::milliseconds(200));
    CHECK(r.tx.sent.size() == before);
    r.mgr.on_message(GW4500, RW4500, req1);  // retransmission while pending: dropped
    CHECK(r.tx.sent.size() == before);
    CHECK(r.mgr.counters().eap_pending_dropped == 1);
    release = true;
    r.mgr.tick(t += std::chrono::milliseconds(200));
    REQUIRE(r.tx.sent.size() == before + 1);
    auto resp = r.ini.decrypt(r.tx.sent.back().msg);
    // The IDr/CERT/AUTH built before the wait travel with the late EAP Request.
    CHECK(find<IdPayload>(resp, PayloadType::IDr));
    CHECK(find<AuthPayload>(resp, PayloadType::AUTH));
    EapPacket p;
    REQUIRE(parse_eap(eap_of(resp), p) == EapError::OK);
    CHECK(p.type == EapType::GTC);
    // Now the retransmission is answered from the stored response.
    r.mgr.on_message(GW4500, RW4500, req1);
    CHECK(r.tx.sent.back().msg == r.tx.sent[r.tx.sent.size() - 2].msg);

    r.ini.next_id = 2;
    r.mgr.on_message(GW4500, RW4500, r.ini.encrypt(ExchangeType::IKE_AUTH, 2,
                                                   {make_eap_payload(encode_eap({EapCode::RESPONSE, 5, EapType::GTC, str("123456")}))}));
    const size_t n = r.tx.sent.size();
    release = true;
    r.mgr.tick(t += std::chrono::milliseconds(200));
    REQUIRE(r.tx.sent.size() == n + 1);
    resp = r.ini.decrypt(r.tx.sent.back().msg);
    REQUIRE(parse_eap(eap_of(resp), p) == EapError::OK);
    CHECK(p.code == EapCode::SUCCESS);
    r.ini.next_id = 3;
    const Bytes msk(64, 0x5a);
    resp = r.ini.exchange(ExchangeType::IKE_AUTH,
                          {{PayloadType::AUTH, false, AuthPayload{AuthMethod::SHARED_KEY_MIC, r.initiator_auth(msk, idi)}}});
    REQUIRE(find<CpPayload>(resp, PayloadType::CP));
    CHECK(find<CpPayload>(resp, PayloadType::CP)->attrs.at(0).value == Bytes{10, 98, 0, 9});
    CHECK(r.mgr.find(r.ini.spi_r)->groups == std::vector<std::string>{"mfa"});
    CHECK(aborted == 0);

    // An IKE SA that goes away mid-conversation aborts its server's request.
    EapRig r2(eap_config("eap-radius"));
    r2.mgr.set_eap_override([&](const ConnectionConfig&) { return std::make_unique<AsyncServer>(&release, &aborted); });
    r2.mgr.on_message(GW4500, RW4500, r2.ini.encrypt(ExchangeType::IKE_AUTH, 1, first_auth_request(idi)));
    REQUIRE(r2.mgr.ike_sa_count() == 1);
    r2.mgr.delete_ike_sa(r2.ini.spi_r);
    CHECK(aborted == 1);
}

TEST_CASE("config: remote_auth and eap_identity are checked", "[ike][eap][config]") {
    const IkeConfig c = eap_config("eap-gtc", "ask");
    CHECK(c.connections.at(0).remote_auth == "eap-gtc");
    CHECK(c.connections.at(0).eap_identity_ask);
    CHECK_THROWS_WITH(eap_config("eap-md6"), Catch::Contains("remote_auth"));
    CHECK_THROWS_WITH(eap_config("eap-mschapv2", "sometimes"), Catch::Contains("eap_identity"));
    CHECK_THROWS_WITH(parse_config(std::string(kConfig) + "remote_auth = \"eap-mschapv2\"\n"),
                      Catch::Contains("EAP needs auth = \"pubkey\""));
    CHECK_THROWS_WITH(parse_config(std::string(kConfig) + "multiple_auth = true\n"), Catch::Contains("needs remote_auth"));
    CHECK_FALSE(c.connections.at(0).multiple_auth);
}

TEST_CASE("RFC 4739: certificate round with ANOTHER_AUTH_FOLLOWS, then IDi and EAP-MSCHAPv2", "[ike][eap][exchange]") {
    const auto cred = LocalCredential::load(gw_pki().dir + "/rw.pem", gw_pki().dir + "/rw.key");
    // HDR, SK { IDi, CERT, AUTH(signature), [N(ANOTHER_AUTH_FOLLOWS)], CP, SAi2, TSi, TSr } -->
    const auto cert_round = [&](EapRig& r, bool another) {
        const Identity idi = Identity::parse("rw.example.com");
        std::vector<Payload> p = first_auth_request(idi);
        Bytes cert{4};
        const Bytes der = x509_to_der(cred->cert.get());
        cert.insert(cert.end(), der.begin(), der.end());
        const Bytes octets = signed_octets(r.ini.ike.prf, r.ini.init_req, r.ini.nr, r.ini.keys.sk_pi.bytes(),
                                           idi.payload_body());
        p.insert(p.begin() + 1, {PayloadType::CERT, false, RawPayload{cert}});
        p.insert(p.begin() + 3, {PayloadType::AUTH, false, sign_auth(cred->key.get(), octets)});
        if (another) p.push_back(make_notify(NotifyType::ANOTHER_AUTH_FOLLOWS));
        return r.ini.exchange(ExchangeType::IKE_AUTH, p);
    };

    SECTION("both rounds") {
        EapRig r(eap_config("eap-mschapv2", "ike", true));
        // IKE_SA_INIT announced MULTIPLE_AUTH_SUPPORTED (§3).
        Message init;
        REQUIRE(parse_message(r.ini.init_resp, init) == ParseError::OK);
        CHECK(init.find_notify(NotifyType::MULTIPLE_AUTH_SUPPORTED));
        // <-- { IDr, CERT, AUTH }: no EAP, no CHILD_SA yet.
        auto resp = cert_round(r, true);
        CHECK(find<AuthPayload>(resp, PayloadType::AUTH));
        CHECK_FALSE(find<RawPayload>(resp, PayloadType::EAP));
        CHECK_FALSE(find<SaPayload>(resp, PayloadType::SA));
        const Bytes idr_body = Identity::from_payload(*find<IdPayload>(resp, PayloadType::IDr)).payload_body();
        // HDR, SK { IDi } --> <-- EAP(Request): the second IDi names the user.
        const Identity user_id = Identity::parse("alice");
        resp = r.ini.exchange(ExchangeType::IKE_AUTH, {{PayloadType::IDi, false, user_id.to_payload()}});
        MsPeer peer{"alice", "clientPass"};
        resp = r.ini.exchange(ExchangeType::IKE_AUTH, {make_eap_payload(peer.respond_challenge(eap_of(resp)))});
        resp = r.ini.exchange(ExchangeType::IKE_AUTH, {make_eap_payload(peer.respond_success(eap_of(resp)))});
        const auto msk = peer.msk();
        // The final AUTH signs the second IDi.
        resp = r.ini.exchange(ExchangeType::IKE_AUTH, {{PayloadType::AUTH, false,
                                                        AuthPayload{AuthMethod::SHARED_KEY_MIC, r.initiator_auth(msk.bytes(), user_id)}}});
        const auto* gw_auth = find<AuthPayload>(resp, PayloadType::AUTH);
        REQUIRE(gw_auth);
        CHECK(hex(gw_auth->data) == hex(psk_auth(Prf(r.ini.ike.prf), msk.bytes(), r.ini.init_resp, r.ini.ni,
                                                 r.ini.keys.sk_pr.bytes(), idr_body)));
        REQUIRE(find<CpPayload>(resp, PayloadType::CP));
        REQUIRE(r.sink.installs.size() == 1);
        const IkeSa* sa = r.mgr.find(r.ini.spi_r);
        REQUIRE(sa);
        CHECK(sa->state == IkeSaState::ESTABLISHED);
        CHECK(sa->user == "alice");
        CHECK(sa->peer_id.to_string() == "rw.example.com");
    }
    SECTION("the certificate alone does not satisfy a multiple_auth connection") {
        EapRig r(eap_config("eap-mschapv2", "ike", true));
        CHECK(find_notify(cert_round(r, false), NotifyType::AUTHENTICATION_FAILED));
        CHECK(r.sink.installs.empty());
    }
    SECTION("ANOTHER_AUTH_FOLLOWS without a multiple_auth connection is refused") {
        EapRig r(eap_config());
        Message init;
        REQUIRE(parse_message(r.ini.init_resp, init) == ParseError::OK);
        CHECK_FALSE(init.find_notify(NotifyType::MULTIPLE_AUTH_SUPPORTED));
        CHECK(find_notify(cert_round(r, true), NotifyType::AUTHENTICATION_FAILED));
    }
    SECTION("the second round must name the user and carry no AUTH") {
        EapRig r(eap_config("eap-mschapv2", "ike", true));
        cert_round(r, true);
        const auto resp = r.ini.exchange(ExchangeType::IKE_AUTH, {make_eap_payload({2, 1, 0, 5, 1})});
        CHECK(find_notify(resp, NotifyType::AUTHENTICATION_FAILED));
        CHECK(r.mgr.ike_sa_count() == 0);
    }
    SECTION("EAP alone does not satisfy a multiple_auth connection") {
        EapRig r(eap_config("eap-mschapv2", "ike", true));
        const auto resp = r.ini.exchange(ExchangeType::IKE_AUTH, first_auth_request(Identity::parse("alice")));
        CHECK(find_notify(resp, NotifyType::AUTHENTICATION_FAILED));
    }
}

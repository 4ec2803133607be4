// EAP-TLS (RFC 5216, RFC 9190) against an OpenSSL TLS client in this process, both ends
// behind memory BIOs and the EAP-TLS framing: fragmentation with ACKs both ways, the MSK
// both sides derive (TLS 1.2 PRF label and TLS 1.3 exporter), refused certificates
// (untrusted CA, identity mismatch) with their TLS alert, oversize and malformed
// fragments, the user database's say; then IKE_AUTH with EAP-TLS through IkeManager,
// with and without RFC 5998 EAP-only authentication.
#include "control/ike/eap_packet.hpp"
#include "control/ike/eap_tls.hpp"
#include "control/ike/eap_tls_framing.hpp"
#include "control/ike/user_db.hpp"
#include "peer.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <cstdlib>
#include <filesystem>

using namespace espgw::ike;
using namespace ike_test;
namespace et = espgw::ike::eaptls;

namespace {

/// A CA with the gateway's and alice's certificates, and a second CA nobody trusts
/// with its own "alice", made with strongSwan's `pki`.
struct TlsPki {
    std::string dir;
    TlsPki() {
        dir = (std::filesystem::temp_directory_path() / ("eaptls_pki_" + std::to_string(::getpid()))).string();
        std::filesystem::create_directories(dir);
        const auto run = [&](const std::string& cmd) {
            REQUIRE(std::system(("cd " + dir + " && " + cmd + " 2>/dev/null").c_str()) == 0);
        };
        run("pki --gen --type ecdsa --size 256 --outform pem > ca.key");
        run("pki --self --ca --in ca.key --type ecdsa --dn 'C=DE, O=Example, CN=Example CA' --outform pem > ca.pem");
        run("pki --gen --type ecdsa --size 256 --outform pem > gw.key");
        run("pki --issue --cacert ca.pem --cakey ca.key --type priv --in gw.key --dn 'C=DE, O=Example, "
            "CN=gw.example.com' --san gw.example.com --flag serverAuth --outform pem > gw.pem");
        run("pki --gen --type ecdsa --size 256 --outform pem > alice.key");
        run("pki --issue --cacert ca.pem --cakey ca.key --type priv --in alice.key --dn 'C=DE, O=Example, "
            "CN=alice' --san alice@example.com --flag clientAuth --outform pem > alice.pem");
        run("pki --gen --type ecdsa --size 256 --outform pem > evil-ca.key");
        run("pki --self --ca --in evil-ca.key --type ecdsa --dn 'C=DE, O=Evil, CN=Evil CA' --outform pem > evil-ca.pem");
        run("pki --issue --cacert evil-ca.pem --cakey evil-ca.key --type priv --in alice.key --dn 'C=DE, O=Example, "
            "CN=alice' --san alice@example.com --flag clientAuth --outform pem > alice-evil.pem");
    }
    ~TlsPki() { std::filesystem::remove_all(dir); }
    std::string file(const std::string& n) const { return dir + "/" + n; }
};

const TlsPki& tls_pki() {
    static TlsPki p;
    return p;
}

/// The user database: alice (groups, static IP) and carol (disabled).
struct TlsUsers {
    std::string dir;
    UserDb db;
    TlsUsers() {
        dir = (std::filesystem::temp_directory_path() / ("eaptls_users_" + std::to_string(::getpid()))).string();
        std::filesystem::create_directories(dir);
        db = UserDb::load(dir + "/users.toml", dir + "/users.key");
        db.set_pbkdf2_iterations(1000);
        User a;
        a.name = "alice";
        a.email = "alice@example.com";
        a.groups = {"staff"};
        a.static_ip = 0x0a620011;
        db.upsert(a, "unused-password");
        User c;
        c.name = "carol";
        c.enabled = false;
        db.upsert(c, "carol-password");
    }
    ~TlsUsers() { std::filesystem::remove_all(dir); }
};

EapTlsOptions server_options(const UserDb* users = nullptr, uint16_t version_max = TLS1_3_VERSION,
                             size_t fragment = 1024) {
    EapTlsOptions o;
    o.cred = LocalCredential::load(tls_pki().file("gw.pem"), tls_pki().file("gw.key"));
    o.trust = TrustStore::load({tls_pki().file("ca.pem")}, {}, false);
    o.users = users;
    o.version_max = version_max;
    o.fragment_bytes = fragment;
    return o;
}

/// The peer: OpenSSL's TLS client behind memory BIOs speaking EAP-TLS framing, as a
/// road warrior's EAP-TLS method would (RFC 5216 §2.1; RFC 9190 §2.5 for 1.3).
struct TlsPeer {
    SSL_CTX* ctx = nullptr;
    SSL* ssl = nullptr;
    BIO* rbio = nullptr;
    BIO* wbio = nullptr;
    et::Reassembler in{1 << 20};
    et::Fragmenter out;
    bool done = false;
    bool success_indication = false;  // TLS 1.3: the server's 0x00
    int fragments_acked = 0;

    TlsPeer(const std::string& cert, const std::string& key, uint16_t version_max = TLS1_3_VERSION,
            size_t fragment = 1024)
        : out(fragment) {
        ctx = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        SSL_CTX_set_max_proto_version(ctx, version_max);
        REQUIRE(SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) == 1);
        REQUIRE(SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) == 1);
        REQUIRE(SSL_CTX_load_verify_locations(ctx, tls_pki().file("ca.pem").c_str(), nullptr) == 1);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
        ssl = SSL_new(ctx);
        rbio = BIO_new(BIO_s_mem());
        wbio = BIO_new(BIO_s_mem());
        SSL_set_bio(ssl, rbio, wbio);
        SSL_set_connect_state(ssl);
    }
    ~TlsPeer() {
        SSL_free(ssl);
        SSL_CTX_free(ctx);
    }

    Bytes take() {
        char* p = nullptr;
        const long n = BIO_get_mem_data(wbio, &p);
        Bytes b;
        if (n > 0) b.assign(p, p + n);
        (void)BIO_reset(wbio);
        return b;
    }
    static Bytes response(uint8_t id, Bytes type_data) {
        return encode_eap({EapCode::RESPONSE, id, EapType::TLS, std::move(type_data)});
    }

    /// Answers one Request.
    Bytes respond(const Bytes& request) {
        EapPacket p;
        REQUIRE(parse_eap(request, p) == EapError::OK);
        REQUIRE(p.code == EapCode::REQUEST);
        REQUIRE(p.type == EapType::TLS);
        REQUIRE_FALSE(p.data.empty());
        if (out.pending()) {
            REQUIRE(et::is_ack(p.data));
            ++fragments_acked;
            return response(p.identifier, out.next());
        }
        if (p.data[0] & et::FLAG_START) {
            ERR_clear_error();
            (void)SSL_do_handshake(ssl);  // ClientHello
            out.load(take());
            return response(p.identifier, out.next());
        }
        et::FrameError fe{};
        const auto r = in.add(p.data, fe);
        REQUIRE(r != et::Reassembler::Result::ERROR);
        if (r == et::Reassembler::Result::MORE) return response(p.identifier, {0});
        BIO_write(rbio, in.message().data(), static_cast<int>(in.message().size()));
        in.reset();
        if (!done) done = SSL_do_handshake(ssl) == 1;
        if (done) {
            uint8_t b[16];
            const int n = SSL_read(ssl, b, sizeof(b));
            if (n == 1 && b[0] == 0) success_indication = true;
        }
        Bytes flight = take();
        if (flight.empty()) return response(p.identifier, {0});  // ACK
        out.load(std::move(flight));
        return response(p.identifier, out.next());
    }

    Bytes msk() const {
        Bytes km(128);
        const bool t13 = SSL_version(ssl) == TLS1_3_VERSION;
        const uint8_t code = 13;
        const char* label = t13 ? "EXPORTER_EAP_TLS_Key_Material" : "client EAP encryption";
        REQUIRE(SSL_export_keying_material(ssl, km.data(), km.size(), label, std::strlen(label), t13 ? &code : nullptr,
                                           t13 ? 1 : 0, t13 ? 1 : 0) == 1);
        km.resize(64);
        return km;
    }
};

/// Runs the conversation to its end; returns the last step.
EapStep converse(EapServer& srv, TlsPeer& peer, const std::string& identity, int* rounds = nullptr,
                 std::string* failing_reason = nullptr) {
    EapStep s = srv.start(identity);
    int n = 0;
    while (s.kind == EapStep::Kind::CONTINUE && n < 100) {
        if (!s.reason.empty() && failing_reason) *failing_reason = s.reason;
        Bytes resp;
        EapPacket p;
        REQUIRE(parse_eap(s.eap, p) == EapError::OK);
        if (!s.reason.empty()) resp = TlsPeer::response(p.identifier, {0});  // ACK the alert
        else resp = peer.respond(s.eap);
        s = srv.process(resp);
        ++n;
    }
    if (rounds) *rounds = n;
    return s;
}

}  // namespace

TEST_CASE("EAP-TLS framing: fragments carry L and M, reassembly checks every length", "[ike][eap][tls]") {
    Bytes msg(2500);
    for (size_t i = 0; i < msg.size(); ++i) msg[i] = static_cast<uint8_t>(i * 7);
    et::Fragmenter f(1000);
    f.load(msg);
    et::Reassembler r(64 * 1024);
    et::FrameError fe{};
    std::vector<Bytes> frags;
    while (f.pending()) frags.push_back(f.next());
    REQUIRE(frags.size() == 3);
    CHECK(frags[0][0] == (et::FLAG_LENGTH | et::FLAG_MORE));
    CHECK(frags[0].size() == 1000);
    CHECK(hex(std::span(frags[0]).subspan(1, 4)) == "000009c4");  // 2500
    CHECK(frags[1][0] == et::FLAG_MORE);
    CHECK(frags[2][0] == 0);
    CHECK(r.add(frags[0], fe) == et::Reassembler::Result::MORE);
    CHECK(r.add(frags[1], fe) == et::Reassembler::Result::MORE);
    REQUIRE(r.add(frags[2], fe) == et::Reassembler::Result::DONE);
    CHECK(r.message() == msg);
    // A message that fits goes whole, without L; an empty one is a bare ACK.
    f.load(Bytes(10, 1));
    CHECK(f.next().size() == 11);
    CHECK_FALSE(f.pending());
    CHECK(et::is_ack(f.next()));
    CHECK(et::is_ack(Bytes{0}));
    CHECK_FALSE(et::is_ack(Bytes{0, 0}));

    const auto err = [](std::vector<Bytes> parts, size_t max = 4096) {
        et::Reassembler x(max);
        et::FrameError e{};
        for (const auto& p : parts)
            if (x.add(p, e) == et::Reassembler::Result::ERROR) return e;
        return et::FrameError::OK;
    };
    CHECK(err({Bytes{}}) == et::FrameError::TRUNCATED);
    CHECK(err({Bytes{0x80, 0, 0}}) == et::FrameError::TRUNCATED);
    CHECK(err({Bytes{0xc0, 0x00, 0x10, 0x00, 0x00, 1}}) == et::FrameError::OVERSIZE);  // announces 1 MiB
    CHECK(err({Bytes{0x40, 1, 2}}) == et::FrameError::NO_LENGTH);
    CHECK(err({Bytes{0xc0, 0, 0, 0, 2}}) == et::FrameError::EMPTY_FRAGMENT);
    CHECK(err({Bytes{0xc0, 0, 0, 0, 2, 1}, Bytes{0, 2, 3}}) == et::FrameError::LENGTH_MISMATCH);  // too much
    CHECK(err({Bytes{0xc0, 0, 0, 0, 3, 1}, Bytes{0, 2}}) == et::FrameError::LENGTH_MISMATCH);     // too little
    CHECK(err({Bytes{0xc0, 0, 0, 0, 3, 1}, Bytes{0x80, 0, 0, 0, 4, 2}}) == et::FrameError::LENGTH_MISMATCH);
    // Without L, fragments still may not outgrow the limit.
    Bytes big(3000, 9);
    big[0] = 0xc0;
    big[1] = 0;
    big[2] = 0;
    big[3] = 0x0f;
    big[4] = 0xa0;  // 4000: allowed
    Bytes more(2000, 9);
    more[0] = 0x40;
    CHECK(err({big, more}, 8192) == et::FrameError::LENGTH_MISMATCH);  // more than announced
    CHECK(err({big, more}) == et::FrameError::OVERSIZE);                // more than the limit
    CHECK(err({Bytes(5000, 0)}, 4096) == et::FrameError::OVERSIZE);
    CHECK(name(et::FrameError::OVERSIZE) == "TLS message larger than the limit");
}

TEST_CASE("EAP-TLS 1.2 with fragments both ways: both sides derive the same MSK", "[ike][eap][tls]") {
    TlsUsers users;
    const EapTlsCounters before = eap_tls_counters();
    auto srv = make_eap_tls(server_options(&users.db, TLS1_2_VERSION, 200));
    TlsPeer peer(tls_pki().file("alice.pem"), tls_pki().file("alice.key"), TLS1_2_VERSION, 150);
    int rounds = 0;
    EapStep s = converse(*srv, peer, "alice@example.com", &rounds);
    REQUIRE(s.kind == EapStep::Kind::SUCCESS);
    CHECK(SSL_version(peer.ssl) == TLS1_2_VERSION);
    EapPacket p;
    REQUIRE(parse_eap(s.eap, p) == EapError::OK);
    CHECK(p.code == EapCode::SUCCESS);
    REQUIRE(s.msk.size() == 64);
    CHECK(hex(s.msk.bytes()) == hex(peer.msk()));
    CHECK(s.user == "alice");  // the e-mail identity found the user record
    CHECK(s.groups == std::vector<std::string>{"staff"});
    CHECK(s.framed_ip == 0x0a620011u);
    const EapTlsCounters& after = eap_tls_counters();
    CHECK(after.succeeded == before.succeeded + 1);
    CHECK(after.tls12 == before.tls12 + 1);
    CHECK(after.fragments_sent > before.fragments_sent);          // our certificate flight
    CHECK(after.fragments_received > before.fragments_received);  // the peer's
    CHECK(peer.fragments_acked > 0);
    CHECK(rounds > 8);
}

TEST_CASE("EAP-TLS 1.3 (RFC 9190): exporter MSK and the protected success indication", "[ike][eap][tls]") {
    auto srv = make_eap_tls(server_options());
    TlsPeer peer(tls_pki().file("alice.pem"), tls_pki().file("alice.key"));
    const uint64_t t13 = eap_tls_counters().tls13;
    EapStep s = converse(*srv, peer, "alice@example.com");
    REQUIRE(s.kind == EapStep::Kind::SUCCESS);
    CHECK(SSL_version(peer.ssl) == TLS1_3_VERSION);
    CHECK(peer.success_indication);
    CHECK(hex(s.msk.bytes()) == hex(peer.msk()));
    CHECK(s.user == "alice@example.com");  // no user database: the identity itself
    CHECK(s.groups.empty());
    CHECK(eap_tls_counters().tls13 == t13 + 1);
    // eap_tls_version_max = "1.2" caps a 1.3 client.
    auto capped = make_eap_tls(server_options(nullptr, TLS1_2_VERSION));
    TlsPeer peer2(tls_pki().file("alice.pem"), tls_pki().file("alice.key"));
    s = converse(*capped, peer2, "alice@example.com");
    REQUIRE(s.kind == EapStep::Kind::SUCCESS);
    CHECK(SSL_version(peer2.ssl) == TLS1_2_VERSION);
    CHECK(hex(s.msk.bytes()) == hex(peer2.msk()));
}

TEST_CASE("EAP-TLS refuses untrusted, mismatching and disabled users with a reason", "[ike][eap][tls]") {
    TlsUsers users;
    for (const uint16_t v : {uint16_t(TLS1_2_VERSION), uint16_t(TLS1_3_VERSION)}) {
        SECTION("a certificate from an untrusted CA, TLS " + std::to_string(v & 0xff)) {
            const uint64_t refused = eap_tls_counters().cert_refused;
            auto srv = make_eap_tls(server_options(&users.db, v));
            TlsPeer peer(tls_pki().file("alice-evil.pem"), tls_pki().file("alice.key"), v);
            std::string failing;
            EapStep s = converse(*srv, peer, "alice@example.com", nullptr, &failing);
            CHECK(s.kind == EapStep::Kind::FAILURE);
            CHECK(failing.find("untrusted CA") != std::string::npos);  // logged with the alert Request
            CHECK(s.reason == failing);
            CHECK(s.reason.find("O=Example, CN=alice") != std::string::npos);
            CHECK(eap_tls_counters().cert_refused == refused + 1);
            EapPacket p;
            REQUIRE(parse_eap(s.eap, p) == EapError::OK);
            CHECK(p.code == EapCode::FAILURE);
        }
    }
    SECTION("a good certificate that does not name the EAP identity") {
        auto srv = make_eap_tls(server_options(&users.db));
        TlsPeer peer(tls_pki().file("alice.pem"), tls_pki().file("alice.key"));
        EapStep s = converse(*srv, peer, "bob@example.com");
        CHECK(s.kind == EapStep::Kind::FAILURE);
        CHECK(s.reason.find("identity mismatch") != std::string::npos);
        CHECK(s.reason.find("bob@example.com") != std::string::npos);
    }
    SECTION("the subject CN names the user too; a disabled user is refused") {
        auto srv = make_eap_tls(server_options(&users.db));
        TlsPeer peer(tls_pki().file("alice.pem"), tls_pki().file("alice.key"));
        EapStep s = converse(*srv, peer, "alice");
        REQUIRE(s.kind == EapStep::Kind::SUCCESS);
        CHECK(s.user == "alice");
        REQUIRE(users.db.set_enabled("alice", false));
        auto srv2 = make_eap_tls(server_options(&users.db));
        TlsPeer peer2(tls_pki().file("alice.pem"), tls_pki().file("alice.key"));
        s = converse(*srv2, peer2, "alice");
        CHECK(s.kind == EapStep::Kind::FAILURE);
        CHECK(s.reason == "user disabled");
    }
    SECTION("no client certificate at all") {
        auto srv = make_eap_tls(server_options());
        TlsPeer peer(tls_pki().file("alice.pem"), tls_pki().file("alice.key"));
        SSL_certs_clear(peer.ssl);
        EapStep s = converse(*srv, peer, "alice@example.com");
        CHECK(s.kind == EapStep::Kind::FAILURE);
        CHECK(s.reason.find("TLS handshake failed") != std::string::npos);
    }
}

TEST_CASE("EAP-TLS refuses oversize and malformed input with a counter", "[ike][eap][tls]") {
    const auto first = [](EapServer& srv) {
        EapPacket req;
        REQUIRE(parse_eap(srv.start("alice@example.com").eap, req) == EapError::OK);
        CHECK(req.data == Bytes{et::FLAG_START});
        return req.identifier;
    };
    {
        auto srv = make_eap_tls(server_options());
        const uint8_t id = first(*srv);
        const uint64_t over = eap_tls_counters().oversize;
        // L announces 16 MiB.
        EapStep s = srv->process(TlsPeer::response(id, {0xc0, 0x01, 0x00, 0x00, 0x00, 0x16, 0x03, 0x01}));
        CHECK(s.kind == EapStep::Kind::FAILURE);
        CHECK(s.reason.find("larger than the limit") != std::string::npos);
        CHECK(eap_tls_counters().oversize == over + 1);
    }
    {
        // Fragments that keep coming past 64 KiB without announcing it.
        auto srv = make_eap_tls(server_options());
        uint8_t id = first(*srv);
        Bytes frag(1001, 0x16);
        frag[0] = 0xc0;
        frag[1] = 0;
        frag[2] = 0;
        frag[3] = 0xff;
        frag[4] = 0xff;  // 65535: within the limit ...
        EapStep s = srv->process(TlsPeer::response(id, frag));
        frag.erase(frag.begin() + 1, frag.begin() + 5);
        frag[0] = 0x40;
        int n = 0;
        while (s.kind == EapStep::Kind::CONTINUE && n++ < 200) {
            EapPacket req;
            REQUIRE(parse_eap(s.eap, req) == EapError::OK);
            CHECK(et::is_ack(req.data));
            s = srv->process(TlsPeer::response(req.identifier, frag));
        }
        CHECK(s.kind == EapStep::Kind::FAILURE);  // ... but more bytes than announced, or too many rounds
        CHECK(n < 70);
    }
    {
        auto srv = make_eap_tls(server_options());
        const uint8_t id = first(*srv);
        CHECK(srv->process(TlsPeer::response(id, {})).kind == EapStep::Kind::FAILURE);  // no flags octet
        auto srv2 = make_eap_tls(server_options());
        const uint8_t id2 = first(*srv2);
        CHECK(srv2->process(TlsPeer::response(static_cast<uint8_t>(id2 + 1), {0})).kind == EapStep::Kind::FAILURE);
        auto srv3 = make_eap_tls(server_options());
        const uint8_t id3 = first(*srv3);
        // Not TLS at all: the record layer refuses it.
        EapStep s = srv3->process(TlsPeer::response(id3, {0, 'G', 'E', 'T', ' ', '/'}));
        while (s.kind == EapStep::Kind::CONTINUE) {
            EapPacket req;
            REQUIRE(parse_eap(s.eap, req) == EapError::OK);
            s = srv3->process(TlsPeer::response(req.identifier, {0}));
        }
        CHECK(s.kind == EapStep::Kind::FAILURE);
        auto srv4 = make_eap_tls(server_options());
        const uint8_t id4 = first(*srv4);
        CHECK(srv4->process(encode_eap({EapCode::RESPONSE, id4, EapType::NAK, {26}})).reason.find("Nak") !=
              std::string::npos);
    }
}

namespace {

IkeConfig tls_config(bool eap_only) {
    const std::string d = tls_pki().dir;
    return parse_config(R"(
[ike]
listen = "10.77.0.1"
[pki]
cacerts = [")" + d + R"(/ca.pem"]
[pools.rw]
cidr = "10.99.0.0/24"
[[connections]]
name = "rw-tls"
auth = "pubkey"
local_id = "gw.example.com"
local_cert = ")" + d + R"(/gw.pem"
local_key = ")" + d + R"(/gw.key"
remote_auth = "eap-tls"
eap_only = )" + (eap_only ? "true" : "false") + R"(
ike_proposals = ["aes256gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
local_ts = ["10.78.0.0/24"]
pool = "rw"
)");
}

std::vector<Payload> first_request(const Identity& idi, bool offer_eap_only) {
    Proposal p;
    p.protocol = ProtocolId::ESP;
    p.spi = {0xc0, 0xff, 0xee, 0x03};
    p.transforms.push_back({TransformType::ENCR, ENCR_AES_GCM_16, 128});
    p.transforms.push_back({TransformType::ESN, ESN_NONE, std::nullopt});
    std::vector<Payload> v{{PayloadType::IDi, false, idi.to_payload()},
                           {PayloadType::CP, false, CpPayload{CFG_REQUEST, {{INTERNAL_IP4_ADDRESS, {}}}}},
                           {PayloadType::SA, false, SaPayload{{p}}},
                           {PayloadType::TSi, false, TsPayload{{ts_from_cidr("0.0.0.0/0")}}},
                           {PayloadType::TSr, false, TsPayload{{ts_from_cidr("0.0.0.0/0")}}}};
    if (offer_eap_only) v.push_back(make_notify(NotifyType::EAP_ONLY_AUTHENTICATION));
    return v;
}

}  // namespace

TEST_CASE("IKE_AUTH with EAP-TLS, and RFC 5998 EAP-only without our CERT/AUTH", "[ike][eap][tls][exchange]") {
    for (const auto& [conn_eap_only, offer, expect_only] :
         std::vector<std::tuple<bool, bool, bool>>{{true, true, true}, {true, false, false}, {false, true, false}}) {
        CAPTURE(conn_eap_only, offer);
        IkeConfig cfg = tls_config(conn_eap_only);
        CaptureTransport tx;
        RecordingSink sink;
        IkeManager mgr(cfg, tx, sink);
        Initiator ini{mgr, tx, parse_proposal("aes256gcm16-prfsha256-ecp256", ProtocolId::IKE)};
        ini.next_id = 1;
        ini.sa_init(ini.ike.dh, true);
        const Identity idi = Identity::parse("alice@example.com");
        auto resp = ini.exchange(ExchangeType::IKE_AUTH, first_request(idi, offer));
        const auto* idr = find<IdPayload>(resp, PayloadType::IDr);
        REQUIRE(idr);
        CHECK((find<AuthPayload>(resp, PayloadType::AUTH) == nullptr) == expect_only);
        CHECK((find<RawPayload>(resp, PayloadType::CERT) == nullptr) == expect_only);
        const Bytes idr_body = Identity::from_payload(*idr).payload_body();
        TlsPeer peer(tls_pki().file("alice.pem"), tls_pki().file("alice.key"));
        int n = 0;
        for (;;) {
            const auto* raw = find<RawPayload>(resp, PayloadType::EAP);
            REQUIRE(raw);
            EapPacket p;
            REQUIRE(parse_eap(raw->body, p) == EapError::OK);
            if (p.code == EapCode::SUCCESS) break;
            REQUIRE(++n < 40);
            resp = ini.exchange(ExchangeType::IKE_AUTH, {make_eap_payload(peer.respond(raw->body))});
        }
        const Bytes msk = peer.msk();
        const Bytes auth = psk_auth(Prf(ini.ike.prf), msk, ini.init_req, ini.nr, ini.keys.sk_pi.bytes(), idi.payload_body());
        resp = ini.exchange(ExchangeType::IKE_AUTH, {{PayloadType::AUTH, false, AuthPayload{AuthMethod::SHARED_KEY_MIC, auth}}});
        const auto* gw_auth = find<AuthPayload>(resp, PayloadType::AUTH);
        REQUIRE(gw_auth);
        CHECK(hex(gw_auth->data) ==
              hex(psk_auth(Prf(ini.ike.prf), msk, ini.init_resp, ini.ni, ini.keys.sk_pr.bytes(), idr_body)));
        REQUIRE(find<CpPayload>(resp, PayloadType::CP));
        REQUIRE(sink.installs.size() == 1);
        const IkeSa* sa = mgr.find(ini.spi_r);
        REQUIRE(sa);
        CHECK(sa->state == IkeSaState::ESTABLISHED);
        CHECK(sa->user == "alice@example.com");
        CHECK(sa->auth_method == "EAP-TLS");
        // §2.21.2: an initiator that refuses our authentication after all tells us with
        // INFORMATIONAL { N(AUTHENTICATION_FAILED) }: the IKE SA and its CHILD_SA go.
        ini.exchange(ExchangeType::INFORMATIONAL, {make_notify(NotifyType::AUTHENTICATION_FAILED)});
        CHECK(mgr.ike_sa_count() == 0);
        CHECK(sink.removed.size() == 1);
    }
}

TEST_CASE("config: eap-tls, eap_only and eap_tls_version_max are checked", "[ike][eap][tls][config]") {
    const IkeConfig c = tls_config(true);
    CHECK(c.connections.at(0).remote_auth == "eap-tls");
    CHECK(c.connections.at(0).eap_only);
    CHECK(c.connections.at(0).eap_tls_version_max == TLS1_3_VERSION);
    const std::string d = tls_pki().dir;
    const auto with = [&](const std::string& auth, const std::string& extra) {
        return parse_config("[pki]\ncacerts = [\"" + d + "/ca.pem\"]\n[[connections]]\nname = \"x\"\nauth = \"pubkey\"\n"
                            "local_id = \"gw.example.com\"\nlocal_cert = \"" + d + "/gw.pem\"\nlocal_key = \"" + d +
                            "/gw.key\"\nike_proposals = [\"aes256gcm16-prfsha256-ecp256\"]\nesp_proposals = [\"aes128gcm16\"]\n"
                            "remote_auth = \"" + auth + "\"\n" + extra);
    };
    CHECK(with("eap-tls", "eap_tls_version_max = \"1.2\"\n").connections.at(0).eap_tls_version_max == TLS1_2_VERSION);
    CHECK_THROWS_WITH(with("eap-tls", "eap_tls_version_max = \"1.1\"\n"), Catch::Contains("eap_tls_version_max"));
    CHECK_THROWS_WITH(with("eap-mschapv2", "eap_only = true\n"), Catch::Contains("mutual"));
    CHECK_THROWS_WITH(with("eap-mschapv2", "eap_tls_version_max = \"1.2\"\n"), Catch::Contains("needs remote_auth"));
}

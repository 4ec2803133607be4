// IkeManager as responder, driven by a minimal initiator built from the codec and key
// schedule in this test: IKE_SA_INIT + IKE_AUTH with PSK, CP virtual IP, TS narrowing,
// NAT detection, keys handed to the SaSink equal the initiator's KEYMAT, retransmit
// replay, delete; and the refusals (wrong PSK, KE group, no proposal, garbage).
#include "control/ike/crypto_dh.hpp"
#include "control/ike/ike_manager.hpp"
#include "control/ike/proposal.hpp"
#include "control/ike/sk_payload.hpp"
#include "control/ike/tasks.hpp"
#include "control/ike/traffic_selector.hpp"
#include "hex.hpp"

#include <catch2/catch.hpp>

#include <cstring>

using namespace espgw::ike;
using ike_test::hex;

namespace {

const char* kConfig = R"(
[ike]
listen = "10.77.0.1"
[pools.rw]
cidr = "10.99.0.0/24"
dns = ["10.99.0.53"]
[[connections]]
name = "rw"
local_id = "gw.example.com"
remote_id = "rw@example.com"
psk = "exchange-test-psk-0123"
ike_proposals = ["aes256gcm16-prfsha256-ecp256", "aes128-sha256-modp2048"]
esp_proposals = ["aes128gcm16", "aes128-sha256"]
local_ts = ["10.78.0.0/24"]
pool = "rw"
)";

struct CaptureTransport final : Transport {
    struct Sent { Endpoint local, remote; Bytes msg; };
    std::vector<Sent> sent;
    void send(const Endpoint& l, const Endpoint& r, std::span<const uint8_t> m) override {
        sent.push_back({l, r, Bytes(m.begin(), m.end())});
    }
    std::vector<std::pair<Endpoint, Endpoint>> keepalives;
    void send_nat_keepalive(const Endpoint& l, const Endpoint& r) override { keepalives.emplace_back(l, r); }
};

struct RecordingSink final : SaSink {
    std::vector<ChildSaInfo> installs;
    std::vector<std::string> keys_hex;  // test only: proves both ends derived the same KEYMAT
    std::vector<std::pair<uint32_t, uint32_t>> removed;
    bool install(const ChildSaInfo& i, const ChildSaKeys& k) override {
        installs.push_back(i);
        keys_hex.push_back(hex(k.encr_i.bytes()) + hex(k.integ_i.bytes()) + hex(k.encr_r.bytes()) +
                           hex(k.integ_r.bytes()));
        return true;
    }
    void remove(uint32_t in, uint32_t out) override { removed.emplace_back(in, out); }
};

const Endpoint GW500{0x0a4d0001, 500}, GW4500{0x0a4d0001, 4500};
const Endpoint RW500{0x0a4d0002, 500}, RW4500{0x0a4d0002, 4500};

Bytes str(const char* s) { return Bytes(s, s + std::strlen(s)); }

struct Initiator {
    IkeManager& mgr;
    CaptureTransport& tx;
    Algorithms ike;
    uint64_t spi_i = 0x1122334455667788ull, spi_r = 0;
    Bytes ni = Bytes(32, 0x42), nr, init_req, init_resp;
    std::optional<DhKey> dh;
    IkeSaKeys keys;

    Proposal ike_proposal(uint16_t group) const {
        Proposal p;
        p.protocol = ProtocolId::IKE;
        p.transforms.push_back({TransformType::ENCR, ike.encr, ike.encr_key_bits});
        p.transforms.push_back({TransformType::PRF, ike.prf, std::nullopt});
        if (ike.integ) p.transforms.push_back({TransformType::INTEG, ike.integ, std::nullopt});
        p.transforms.push_back({TransformType::DH, group, std::nullopt});
        return p;
    }

    // HDR, SAi1, KEi, Ni, N(NATD_S), N(NATD_D) -->; returns the parsed response.
    Message sa_init(DhGroup ke_group, bool fake_nat) {
        dh = DhKey::generate(ke_group);
        Header h;
        h.spi_i = spi_i;
        h.flags = FLAG_INITIATOR;
        Endpoint src = fake_nat ? Endpoint{0x01020304, 1} : RW500;
        init_req = encode_message(
            h, {{PayloadType::SA, false, SaPayload{{ike_proposal(static_cast<uint16_t>(ike.dh))}}},
                {PayloadType::KE, false, KePayload{static_cast<uint16_t>(ke_group), dh->public_value()}},
                {PayloadType::NONCE, false, NoncePayload{ni}},
                make_notify(NotifyType::NAT_DETECTION_SOURCE_IP, natd_hash(spi_i, 0, src)),
                make_notify(NotifyType::NAT_DETECTION_DESTINATION_IP, natd_hash(spi_i, 0, GW500))});
        const size_t before = tx.sent.size();
        mgr.on_message(GW500, RW500, init_req);
        REQUIRE(tx.sent.size() == before + 1);
        init_resp = tx.sent.back().msg;
        Message m;
        REQUIRE(parse_message(init_resp, m) == ParseError::OK);
        if (const auto* ke = m.get<KePayload>(PayloadType::KE)) {
            spi_r = m.header.spi_r;
            nr = m.get<NoncePayload>(PayloadType::NONCE)->data;
            auto shared = dh->shared_secret(ke->data);
            REQUIRE(shared);
            keys = derive_ike_sa_keys(ike, ni, nr, shared->bytes(), spi_i, spi_r);
        }
        return m;
    }

    Bytes encrypt(ExchangeType ex, uint32_t msg_id, const std::vector<Payload>& p) const {
        Header h;
        h.spi_i = spi_i;
        h.spi_r = spi_r;
        h.exchange = ex;
        h.flags = FLAG_INITIATOR;
        h.message_id = msg_id;
        return encrypt_message(h, p, ike, SkKeys{keys.sk_ei.bytes(), keys.sk_ai.bytes()});
    }

    std::vector<Payload> decrypt(const Bytes& wire) const {
        Message m;
        REQUIRE(parse_message(wire, m) == ParseError::OK);
        REQUIRE(m.header.is_response());
        std::vector<Payload> inner;
        ParseError pe;
        REQUIRE(decrypt_message(wire, *m.get<SkPayload>(PayloadType::SK), ike,
                                SkKeys{keys.sk_er.bytes(), keys.sk_ar.bytes()}, inner, pe) == SkError::OK);
        REQUIRE(pe == ParseError::OK);
        return inner;
    }

    Bytes auth_request(const char* psk, const Algorithms& esp, uint32_t esp_spi) const {
        const Identity idi = Identity::parse("rw@example.com");
        const Bytes auth = psk_auth(Prf(ike.prf), str(psk), init_req, nr, keys.sk_pi.bytes(), idi.payload_body());
        Proposal p;
        p.protocol = ProtocolId::ESP;
        p.spi = {static_cast<uint8_t>(esp_spi >> 24), static_cast<uint8_t>(esp_spi >> 16),
                 static_cast<uint8_t>(esp_spi >> 8), static_cast<uint8_t>(esp_spi)};
        p.transforms.push_back({TransformType::ENCR, esp.encr, esp.encr_key_bits});
        if (esp.integ) p.transforms.push_back({TransformType::INTEG, esp.integ, std::nullopt});
        p.transforms.push_back({TransformType::ESN, ESN_NONE, std::nullopt});
        // IKE_AUTH { IDi, IDr, AUTH, CP(CFG_REQUEST), SAi2, TSi, TSr } -->
        return encrypt(ExchangeType::IKE_AUTH, 1,
                       {{PayloadType::IDi, false, idi.to_payload()},
                        {PayloadType::IDr, false, Identity::parse("gw.example.com").to_payload()},
                        {PayloadType::AUTH, false, AuthPayload{AuthMethod::SHARED_KEY_MIC, auth}},
                        {PayloadType::CP, false, CpPayload{CFG_REQUEST, {{INTERNAL_IP4_ADDRESS, {}}, {INTERNAL_IP4_DNS, {}}}}},
                        {PayloadType::SA, false, SaPayload{{p}}},
                        {PayloadType::TSi, false, TsPayload{{ts_from_cidr("0.0.0.0/0")}}},
                        {PayloadType::TSr, false, TsPayload{{ts_from_cidr("0.0.0.0/0")}}}});
    }
};

template <class T>
const T* find(const std::vector<Payload>& ps, PayloadType t) {
    for (const auto& p : ps)
        if (p.type == t) return std::get_if<T>(&p.body);
    return nullptr;
}
const NotifyPayload* find_notify(const std::vector<Payload>& ps, NotifyType n) {
    for (const auto& p : ps)
        if (const auto* x = std::get_if<NotifyPayload>(&p.body); x && x->type == n) return x;
    return nullptr;
}

}  // namespace

TEST_CASE("responder completes IKE_SA_INIT and IKE_AUTH with PSK, CP and narrowed TS", "[ike][exchange]") {
    const IkeConfig cfg = parse_config(kConfig);
    for (const char* prop : {"aes256gcm16-prfsha256-ecp256", "aes128-sha256-modp2048"}) {
        INFO(prop);
        CaptureTransport tx;
        RecordingSink sink;
        IkeManager mgr(cfg, tx, sink);
        Initiator ini{mgr, tx, parse_proposal(prop, ProtocolId::IKE)};
        const Message r1 = ini.sa_init(ini.ike.dh, /*fake_nat=*/true);
        REQUIRE(r1.get<KePayload>(PayloadType::KE));
        CHECK(r1.header.spi_r != 0);
        // NATD in the response uses both SPIs (§2.23).
        REQUIRE(r1.find_notify(NotifyType::NAT_DETECTION_SOURCE_IP));
        CHECK(r1.find_notify(NotifyType::NAT_DETECTION_SOURCE_IP)->data == natd_hash(ini.spi_i, ini.spi_r, GW500));
        CHECK(r1.find_notify(NotifyType::NAT_DETECTION_DESTINATION_IP)->data == natd_hash(ini.spi_i, ini.spi_r, RW500));

        const Algorithms esp = parse_proposal(prop[3] == '2' ? "aes128gcm16" : "aes128-sha256", ProtocolId::ESP);
        const Bytes auth_req = ini.auth_request("exchange-test-psk-0123", esp, 0xc0ffee01);
        mgr.on_message(GW4500, RW4500, auth_req);
        REQUIRE(tx.sent.size() == 2);
        CHECK(tx.sent.back().local == GW4500);  // answered on the NAT-T port it came in on
        const auto inner = ini.decrypt(tx.sent.back().msg);
        // <-- IKE_AUTH { IDr, AUTH, CP(CFG_REPLY), SAr2, TSi, TSr }
        const auto* idr = find<IdPayload>(inner, PayloadType::IDr);
        const auto* auth = find<AuthPayload>(inner, PayloadType::AUTH);
        REQUIRE(idr);
        REQUIRE(auth);
        const Bytes want_auth = psk_auth(Prf(ini.ike.prf), str("exchange-test-psk-0123"), ini.init_resp, ini.ni,
                                         ini.keys.sk_pr.bytes(), Identity::from_payload(*idr).payload_body());
        CHECK(hex(auth->data) == hex(want_auth));
        const auto* cp = find<CpPayload>(inner, PayloadType::CP);
        REQUIRE(cp);
        CHECK(cp->cfg_type == CFG_REPLY);
        REQUIRE(cp->attrs.size() == 2);
        CHECK(cp->attrs[0].value == Bytes{10, 99, 0, 1});
        CHECK(cp->attrs[1].value == Bytes{10, 99, 0, 53});
        const auto* tsi = find<TsPayload>(inner, PayloadType::TSi);
        const auto* tsr = find<TsPayload>(inner, PayloadType::TSr);
        REQUIRE(tsi);
        REQUIRE(tsr);
        CHECK(to_string(tsi->selectors.at(0)) == "10.99.0.1..10.99.0.1");
        CHECK(to_string(tsr->selectors.at(0)) == "10.78.0.0..10.78.0.255");
        const auto* sar = find<SaPayload>(inner, PayloadType::SA);
        REQUIRE(sar);
        REQUIRE(sar->proposals.at(0).spi.size() == 4);

        REQUIRE(sink.installs.size() == 1);
        const ChildSaInfo& ci = sink.installs[0];
        CHECK(ci.spi_out == 0xc0ffee01);
        const Bytes& s = sar->proposals[0].spi;
        CHECK(ci.spi_in == (uint32_t{s[0]} << 24 | uint32_t{s[1]} << 16 | uint32_t{s[2]} << 8 | s[3]));
        CHECK(ci.udp_encap);  // the initiator's source hash did not match: peer behind NAT
        CHECK(ci.remote == RW4500);
        CHECK(ci.alg == esp);
        const ChildSaKeys k = derive_child_sa_keys(Prf(ini.ike.prf), ini.keys.sk_d.bytes(), esp, ini.ni, ini.nr);
        CHECK(sink.keys_hex[0] == hex(k.encr_i.bytes()) + hex(k.integ_i.bytes()) + hex(k.encr_r.bytes()) +
                                      hex(k.integ_r.bytes()));

        // §2.1: a retransmitted request gets the very same response, nothing re-runs.
        mgr.on_message(GW4500, RW4500, auth_req);
        REQUIRE(tx.sent.size() == 3);
        CHECK(tx.sent[2].msg == tx.sent[1].msg);
        CHECK(sink.installs.size() == 1);
        CHECK(mgr.counters().retransmits_answered == 1);

        // INFORMATIONAL { D(IKE) } --> ends the IKE SA and removes its CHILD_SA.
        mgr.on_message(GW4500, RW4500,
                       ini.encrypt(ExchangeType::INFORMATIONAL, 2, {{PayloadType::DELETE, false, DeletePayload{ProtocolId::IKE, 0, {}}}}));
        REQUIRE(tx.sent.size() == 4);
        CHECK(ini.decrypt(tx.sent.back().msg).empty());
        CHECK(mgr.ike_sa_count() == 0);
        REQUIRE(sink.removed.size() == 1);
        CHECK(sink.removed[0].second == 0xc0ffee01);
    }
}

TEST_CASE("no NAT is detected when the hashes match", "[ike][exchange]") {
    const IkeConfig cfg = parse_config(kConfig);
    CaptureTransport tx;
    RecordingSink sink;
    IkeManager mgr(cfg, tx, sink);
    Initiator ini{mgr, tx, parse_proposal("aes256gcm16-prfsha256-ecp256", ProtocolId::IKE)};
    ini.sa_init(DhGroup::ECP_256, false);
    mgr.on_message(GW500, RW500, ini.auth_request("exchange-test-psk-0123", parse_proposal("aes128gcm16", ProtocolId::ESP), 0x1000));
    REQUIRE(sink.installs.size() == 1);
    CHECK_FALSE(sink.installs[0].udp_encap);
}

TEST_CASE("a wrong PSK gets AUTHENTICATION_FAILED and leaves no state", "[ike][exchange]") {
    const IkeConfig cfg = parse_config(kConfig);
    CaptureTransport tx;
    RecordingSink sink;
    IkeManager mgr(cfg, tx, sink);
    Initiator ini{mgr, tx, parse_proposal("aes256gcm16-prfsha256-ecp256", ProtocolId::IKE)};
    ini.sa_init(DhGroup::ECP_256, true);
    mgr.on_message(GW4500, RW4500, ini.auth_request("not-the-right-psk!!", parse_proposal("aes128gcm16", ProtocolId::ESP), 0x1000));
    const auto inner = ini.decrypt(tx.sent.back().msg);
    CHECK(find_notify(inner, NotifyType::AUTHENTICATION_FAILED));
    CHECK(sink.installs.empty());
    CHECK(mgr.ike_sa_count() == 0);
}

TEST_CASE("IKE_SA_INIT refusals: INVALID_KE_PAYLOAD names the group, NO_PROPOSAL_CHOSEN", "[ike][exchange]") {
    const IkeConfig cfg = parse_config(kConfig);
    CaptureTransport tx;
    RecordingSink sink;
    IkeManager mgr(cfg, tx, sink);
    Initiator ini{mgr, tx, parse_proposal("aes256gcm16-prfsha256-ecp256", ProtocolId::IKE)};
    const Message r = ini.sa_init(DhGroup::CURVE25519, true);  // proposes ECP-256, sends a Curve25519 KE
    const auto* n = r.find_notify(NotifyType::INVALID_KE_PAYLOAD);
    REQUIRE(n);
    CHECK(n->data == Bytes{0, 19});
    CHECK(r.header.spi_r == 0);
    CHECK(mgr.ike_sa_count() == 0);

    Initiator other{mgr, tx, parse_proposal("aes192gcm16-prfsha512-ecp384", ProtocolId::IKE)};
    const Message r2 = other.sa_init(DhGroup::ECP_384, true);
    CHECK(r2.find_notify(NotifyType::NO_PROPOSAL_CHOSEN));
    CHECK(mgr.ike_sa_count() == 0);
}

TEST_CASE("garbage, unknown SPIs and forged SK payloads are counted and dropped", "[ike][exchange]") {
    const IkeConfig cfg = parse_config(kConfig);
    CaptureTransport tx;
    RecordingSink sink;
    IkeManager mgr(cfg, tx, sink);
    mgr.on_message(GW500, RW500, Bytes(10, 0xff));
    CHECK(mgr.counters().parse_errors == 1);
    Initiator ini{mgr, tx, parse_proposal("aes256gcm16-prfsha256-ecp256", ProtocolId::IKE)};
    ini.sa_init(DhGroup::ECP_256, true);
    Bytes forged = ini.auth_request("exchange-test-psk-0123", parse_proposal("aes128gcm16", ProtocolId::ESP), 0x1000);
    forged[forged.size() - 1] ^= 1;
    const size_t sent = tx.sent.size();
    mgr.on_message(GW4500, RW4500, forged);
    CHECK(mgr.counters().icv_failures == 1);
    CHECK(tx.sent.size() == sent);  // §2.21.2: no answer to a message failing integrity
    Bytes unknown = forged;
    unknown[8] ^= 0xff;  // SPIr nobody owns
    mgr.on_message(GW4500, RW4500, unknown);
    CHECK(mgr.counters().unknown_spi == 1);
}

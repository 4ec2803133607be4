// IkeManager as responder, driven by a minimal initiator built from the codec and key
// schedule in this test: IKE_SA_INIT + IKE_AUTH with PSK, CP virtual IP, TS narrowing,
// NAT detection, keys handed to the SaSink equal the initiator's KEYMAT, retransmit
// replay, delete; and the refusals (wrong PSK, KE group, no proposal, garbage).
#include "peer.hpp"

using namespace espgw::ike;
using namespace ike_test;


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
